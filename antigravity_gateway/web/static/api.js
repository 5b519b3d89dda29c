// The admin API client. The session is the HttpOnly cookie the API sets: nothing secret is kept here.

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** Subscribers are told when the API answers 401 (the session expired or the password changed). */
const unauthorized = new Set();
export function onUnauthorized(fn) {
  unauthorized.add(fn);
}

export async function api(method, path, body, { quiet401 = false } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" };
  if (method !== "GET") {
    // The gateway refuses admin writes without a JSON body type: a cross-site page cannot send one.
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body === undefined ? {} : body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "The gateway cannot be reached. Is it still running?");
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) {
    const message =
      (data && data.error && (data.error.message || data.error)) ||
      (typeof data === "string" && data) ||
      `${response.status} ${response.statusText}`;
    if (response.status === 401 && !quiet401) for (const fn of unauthorized) fn();
    throw new ApiError(response.status, String(message), data);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}
