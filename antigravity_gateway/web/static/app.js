// Antigravity Gateway dashboard: shell, hash router (#/overview, #/accounts?added=...), login.

import { ApiError, api, get, onUnauthorized, post } from "./api.js";
import { field, h, icon, logo } from "./dom.js";
import * as accounts from "./accounts.js";
import * as doctor from "./doctor.js";
import * as keys from "./keys.js";
import * as logs from "./logs.js";
import * as overview from "./overview.js";
import * as quickstart from "./quickstart.js";
import * as settings from "./settings.js";
import * as usage from "./usage.js";

const PAGES = [
  { id: "overview", title: "Overview", icon: "overview", module: overview },
  { id: "accounts", title: "Accounts", icon: "accounts", module: accounts },
  { id: "keys", title: "Keys", icon: "keys", module: keys },
  { id: "logs", title: "Request log", icon: "logs", module: logs },
  { id: "usage", title: "Usage", icon: "usage", module: usage },
  { id: "settings", title: "Settings", icon: "settings", module: settings },
  { id: "doctor", title: "Doctor", icon: "doctor", module: doctor },
  { id: "quickstart", title: "Quick start", icon: "quickstart", module: quickstart },
];

const root = document.getElementById("app");
const channel = "BroadcastChannel" in window ? new BroadcastChannel("agw-dashboard") : null;
let session = null;
let cleanups = [];
let shell = null;
let returnTo = "";

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs = ""] = raw.split("?");
  return { id: path || "overview", params: new URLSearchParams(qs) };
}

export function go(id, params) {
  const qs = params ? `?${new URLSearchParams(params)}` : "";
  const target = `#/${id}${qs}`;
  if (location.hash === target) route();
  else location.hash = target;
}

function runCleanups() {
  for (const fn of cleanups) {
    try {
      fn();
    } catch {
      /* a page's cleanup must not break navigation */
    }
  }
  cleanups = [];
}

function makeCtx(params) {
  return {
    params,
    session,
    go,
    channel,
    onCleanup: (fn) => cleanups.push(fn),
    /** Run fn every ms milliseconds while this page is shown and the tab is visible. */
    every: (ms, fn) => {
      const timer = setInterval(() => {
        if (!document.hidden) fn();
      }, ms);
      cleanups.push(() => clearInterval(timer));
    },
  };
}

// --- session and login -------------------------------------------------------------------------

async function loadSession() {
  session = await get("/api/session");
  return session;
}

function needsLogin() {
  return session && session.password_required && !session.authenticated;
}

function renderLogin(message) {
  runCleanups();
  shell = null;
  document.title = "Sign in · Antigravity Gateway";
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error-text", role: "alert" });
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card login-card", "aria-labelledby": "login-title" },
    h("div", { class: "brand" }, logo(30), h("span", {}, "Antigravity Gateway")),
    h("h1", { id: "login-title" }, "Sign in"),
    h("p", { class: "muted" }, "Enter the admin password of this gateway (the API key, unless an admin password is set)."),
    field("Admin password", password),
    error,
    submit,
  );
  if (message) error.textContent = message;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await api("POST", "/api/login", { password: password.value }, { quiet401: true });
      await loadSession();
      const target = returnTo && !returnTo.startsWith("#/login") ? returnTo : "#/overview";
      returnTo = "";
      if (location.hash === target) route();
      else location.hash = target;
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? "Wrong password. Try again." : err.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.replaceChildren(h("main", { class: "login-wrap" }, form));
  password.focus();
}

function renderBlocked(message) {
  runCleanups();
  shell = null;
  root.replaceChildren(
    h(
      "main",
      { class: "login-wrap" },
      h(
        "div",
        { class: "card login-card" },
        h("div", { class: "brand" }, logo(30), h("span", {}, "Antigravity Gateway")),
        h("h1", {}, "The dashboard is locked"),
        h("p", {}, message),
        h("button", { type: "button", onclick: () => boot() }, "Try again"),
      ),
    ),
  );
}

// --- shell ---------------------------------------------------------------------------------------

function buildShell() {
  const links = PAGES.map((p) => h("a", { href: `#/${p.id}`, dataset: { page: p.id } }, icon(p.icon, 18), p.title));
  const version = h("span", { class: "muted small" });
  const signOut = session.password_required
    ? h("button", { type: "button", class: "small", onclick: logout }, icon("logout", 14), "Sign out")
    : null;
  const main = h("main", { class: "main", id: "main", tabindex: "-1" });
  const el = h(
    "div",
    { class: "app" },
    h("a", { class: "skip-link", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h(
      "aside",
      { class: "sidebar" },
      h("div", { class: "brand" }, logo(26), h("span", {}, "Antigravity Gateway")),
      h("nav", { class: "nav", "aria-label": "Main" }, links),
      h("div", { class: "sidebar-foot" }, signOut, version),
    ),
    main,
  );
  root.replaceChildren(el);
  get("/api/overview").then((o) => {
    version.textContent = `v${o.version} · ${o.host}`;
    version.title = "The host this dashboard runs on: its request log and usage stats are this host's";
  }, () => {});
  return { el, main, links };
}

async function logout() {
  try {
    await post("/api/logout");
  } finally {
    await loadSession().catch(() => {});
    renderLogin();
  }
}

async function route() {
  if (!session) return;
  const { id, params } = parseHash();
  if (needsLogin()) {
    returnTo = location.hash;
    renderLogin();
    return;
  }
  const page = PAGES.find((p) => p.id === id);
  if (!page) {
    go("overview");
    return;
  }
  runCleanups();
  if (!shell) shell = buildShell();
  for (const link of shell.links) {
    if (link.dataset.page === id) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${page.title} · Antigravity Gateway`;
  const container = h("div", { class: "page", "data-page": id });
  shell.main.replaceChildren(container);
  if (id === "accounts" && params.get("added") && channel) {
    channel.postMessage({ type: "account-added", email: params.get("added") });
  }
  try {
    await page.module.render(container, makeCtx(params));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    container.append(h("div", { class: "notice error", role: "alert" }, `Could not load this page: ${err.message}`));
  }
}

async function boot() {
  root.replaceChildren(h("p", { class: "empty" }, "Loading…"));
  try {
    await loadSession();
  } catch (err) {
    renderBlocked(err.message);
    return;
  }
  if (session.lan && !session.password_required) {
    renderBlocked(
      "LAN access is on but no password is set, so the admin API refuses to work. Set AGW_ADMIN_PASSWORD " +
        "(or an API key) and restart the gateway.",
    );
    return;
  }
  route();
}

// A 401 may also be Google refusing a refresh token: ask the session before showing the login.
let checking = null;
onUnauthorized(() => {
  if (checking) return;
  checking = api("GET", "/api/session", undefined, { quiet401: true })
    .then((fresh) => {
      session = fresh;
      if (needsLogin()) {
        returnTo = location.hash;
        for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
        renderLogin("Your session has ended. Sign in again.");
      }
    })
    .catch(() => {})
    .finally(() => {
      checking = null;
    });
});
window.addEventListener("hashchange", route);
boot();
