// Small DOM and formatting helpers shared by the pages. No framework: elements are built with h().

const SVG_NS = "http://www.w3.org/2000/svg"; // an XML namespace name, never fetched

function apply(el, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "style") for (const [p, v] of Object.entries(value)) el.style.setProperty(p, v);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled") el[key] = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false || child === "") continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h("button", {class: "primary", onclick}, "Save") → HTMLElement */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  apply(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element (same calling convention as h). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.setAttribute("class", value);
    else if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

let uid = 0;
export function nextId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A label + control pair; returns the wrapper. The control gets an id so the label is tied to it. */
export function field(label, control, hint) {
  if (!control.id) control.id = nextId("f");
  const hintEl = hint ? h("span", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

export function checkbox(label, checked, attrs = {}) {
  const input = h("input", { type: "checkbox", checked, ...attrs });
  return { input, el: h("label", { class: "check" }, input, label) };
}

export function icon(name, size = 16) {
  const paths = ICONS[name] || "";
  const svg = s("svg", {
    width: size, height: size, viewBox: "0 0 24 24", fill: "none", stroke: "currentColor",
    "stroke-width": 1.8, "stroke-linecap": "round", "stroke-linejoin": "round", "aria-hidden": "true",
    focusable: "false",
  });
  for (const d of paths.split("|")) if (d) svg.append(s("path", { d }));
  return svg;
}

const ICONS = {
  overview: "M3 13h8V3H3z|M13 21h8V11h-8z|M13 3v6h8V3z|M3 21h8v-6H3z",
  accounts: "M16 21v-2a4 4 0 0 0-4-4H6a4 4 0 0 0-4 4v2|M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z|M22 21v-2a4 4 0 0 0-3-3.87|M16 3.13a4 4 0 0 1 0 7.75",
  logs: "M4 6h16|M4 12h16|M4 18h10",
  keys: "M15.5 7.5a4.5 4.5 0 1 1-4.2 6.1L4 21H3v-3l1.5-1.5H7V14h2.5l1.9-1.9a4.5 4.5 0 0 1 4.1-4.6z|M16.5 6.5h.01",
  usage: "M3 3v18h18|M7 15l4-4 3 3 5-6",
  settings: "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z|M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z",
  quickstart: "M4 17l6-6-6-6|M12 19h8",
  doctor: "M22 12h-4l-3 9L9 3l-3 9H2",
  close: "M18 6L6 18|M6 6l12 12",
  copy: "M9 9h11v11H9z|M5 15H4a1 1 0 0 1-1-1V4a1 1 0 0 1 1-1h10a1 1 0 0 1 1 1v1",
  refresh: "M21 12a9 9 0 1 1-2.64-6.36|M21 3v6h-6",
  plus: "M12 5v14|M5 12h14",
  logout: "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4|M16 17l5-5-5-5|M21 12H9",
  download: "M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4|M7 10l5 5 5-5|M12 15V3",
  external: "M18 13v6a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h6|M15 3h6v6|M10 14L21 3",
};

export function logo(size = 26) {
  return s(
    "svg",
    { width: size, height: size, viewBox: "0 0 32 32", "aria-hidden": "true", focusable: "false" },
    s("rect", { x: 1, y: 1, width: 30, height: 30, rx: 8, fill: "var(--accent)" }),
    s("path", {
      d: "M16 7l7 18h-3.6l-1.5-4h-3.8M16 7l-7 18h3.6l1.5-4h3.8",
      fill: "none", stroke: "#fff", "stroke-width": 2.2, "stroke-linejoin": "round", "stroke-linecap": "round",
    }),
    s("circle", { cx: 16, cy: 4.8, r: 1.6, fill: "#fff" }),
  );
}

// --- formatting --------------------------------------------------------------------------------

const nf = new Intl.NumberFormat("en-US");
export function fmtNum(n) {
  return n === null || n === undefined ? "–" : nf.format(Number(n));
}

export function fmtCompact(n) {
  n = Number(n || 0);
  if (Math.abs(n) < 10000) return nf.format(n);
  const units = [["B", 1e9], ["M", 1e6], ["k", 1e3]];
  for (const [u, v] of units) if (Math.abs(n) >= v) return `${(n / v).toFixed(n / v < 100 ? 1 : 0)}${u}`;
  return nf.format(n);
}

export function pct(fraction) {
  return fraction === null || fraction === undefined ? "–" : `${Math.round(fraction * 100)}%`;
}

/** "3h 12m", "45s", "2d 4h" for a number of seconds. */
export function fmtDuration(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const d = Math.floor(seconds / 86400);
  const hh = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const sec = seconds % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${m}m`;
  if (m) return `${m}m ${String(sec).padStart(2, "0")}s`;
  return `${sec}s`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 1)} s` : `${Math.round(ms)} ms`;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** Epoch seconds → local time; the date only when not today. */
export function fmtTime(epoch) {
  if (!epoch) return "–";
  const d = new Date(epoch * 1000);
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function fmtFull(epoch) {
  return epoch ? fullFmt.format(new Date(epoch * 1000)) : "–";
}

export function fmtAgo(epoch) {
  if (!epoch) return "never";
  const delta = Date.now() / 1000 - epoch;
  if (delta < 5) return "just now";
  return `${fmtDuration(delta)} ago`;
}

/** A span that the ticker keeps up to date: "resets in 3h 12m". */
export function countdown(epoch, prefix = "in ", done = "now") {
  const el = h("span", { class: "countdown", dataset: { until: String(epoch), prefix, done } });
  updateCountdown(el, Date.now() / 1000);
  return el;
}

function updateCountdown(el, now) {
  const until = Number(el.dataset.until);
  el.textContent = until > now ? `${el.dataset.prefix}${fmtDuration(until - now)}` : el.dataset.done;
  el.title = fmtFull(until);
}

setInterval(() => {
  const now = Date.now() / 1000;
  for (const el of document.querySelectorAll(".countdown")) updateCountdown(el, now);
}, 1000);

// --- feedback ----------------------------------------------------------------------------------

export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const el = h("div", { class: ["toast", kind === "error" && "error"], role: kind === "error" ? "alert" : "status" }, message);
  region.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

/** A modal <dialog>: returns {dialog, body, foot, close}. Removed from the DOM when closed. */
export function modal(title, { wide = false, onclose } = {}) {
  const titleId = nextId("dlg");
  const body = h("div", { class: "dialog-body" });
  const foot = h("div", { class: "dialog-foot" });
  const dialog = h(
    "dialog",
    { class: wide ? "wide" : "", "aria-labelledby": titleId },
    h(
      "div",
      { class: "dialog-head" },
      h("h2", { id: titleId }, title),
      h("button", { class: "icon-button", type: "button", "aria-label": "Close", onclick: () => dialog.close() }, icon("close", 18)),
    ),
    body,
    foot,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onclose) onclose();
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, body, foot, close: () => dialog.close() };
}

/** Ask for confirmation; resolves true when confirmed. */
export function confirmDialog(title, message, { confirm = "Confirm", danger = false } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    const m = modal(title, { onclose: () => resolve(answer) });
    m.body.append(...(Array.isArray(message) ? message : [h("p", {}, message)]));
    const ok = h("button", {
      class: danger ? "danger solid" : "primary", type: "button",
      onclick: () => { answer = true; m.close(); },
    }, confirm);
    m.foot.append(h("button", { type: "button", onclick: () => m.close() }, "Cancel"), ok);
    ok.focus();
  });
}

/** Copy text; falls back to a hidden textarea where the Clipboard API is unavailable (plain http on a LAN). */
export async function copyText(text, what = "Copied") {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
    } else {
      const area = h("textarea", { class: "sr-only", "aria-hidden": "true" }, text);
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    toast(`${what} to the clipboard`);
  } catch {
    toast("Could not copy: select the text and copy it by hand", "error");
  }
}

/** Run an async action with the button disabled and a spinner; errors become a toast. */
export async function busy(button, action) {
  const old = [...button.childNodes];
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.prepend(h("span", { class: "spinner", "aria-hidden": "true" }));
  try {
    return await action();
  } catch (err) {
    toast(err.message || String(err), "error");
    return undefined;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.replaceChildren(...old);
  }
}

export function badge(text, kind = "", dot = false) {
  return h("span", { class: ["badge", kind] }, dot ? h("span", { class: "dot", "aria-hidden": "true" }) : null, text);
}

/** A quota bar with role=progressbar; fraction 0..1 or null (unknown). */
export function bar(fraction, label) {
  const known = fraction !== null && fraction !== undefined;
  const value = known ? Math.max(0, Math.min(1, fraction)) : 0;
  const level = !known ? "unknown" : value < 0.2 ? "low" : value < 0.5 ? "mid" : "";
  const el = h(
    "div",
    {
      class: ["bar", level], role: "progressbar", "aria-label": label, "aria-valuemin": 0, "aria-valuemax": 100,
      "aria-valuenow": known ? Math.round(value * 100) : undefined,
      "aria-valuetext": known ? `${Math.round(value * 100)}% left` : "unknown",
    },
    h("span", { style: { width: `${known ? value * 100 : 100}%` } }),
  );
  return el;
}

export function tableEl(head, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h("thead", {}, h("tr", {}, head.map((c) => (typeof c === "string" ? h("th", { scope: "col" }, c) : c)))),
      h("tbody", {}, rows),
    ),
  );
}
