// Settings: server, access (auth mode, API key, admin password), model mappings, scheduling, debug.
// Saving sends only what changed (PATCH /api/settings) and says which changes need a restart.

import { get, patch, post } from "./api.js";
import { busy, checkbox, confirmDialog, copyText, field, h, icon, nextId, toast } from "./dom.js";

const LABELS = {
  host: "Host", port: "Port", allow_lan: "LAN access", auth_mode: "Authentication", api_key: "API key",
  admin_password: "Admin password", model_mapping: "Model mappings", scheduling_mode: "Scheduling mode",
  fixed_account: "Fixed account", cache_first_max_wait: "Maximum wait", quota_protection: "Quota protection",
  debug_capture: "Body capture",
};

const AUTH_MODES = [
  ["auto", "Auto — off on 127.0.0.1, required with LAN access"],
  ["off", "Off — no API key needed"],
  ["strict", "Strict — every route needs the key"],
  ["all_except_health", "All except /healthz"],
];
const SCHED_MODES = [
  ["balance", "Balance", "Spread requests over the accounts with the most quota left; a conversation stays on its account while it is healthy."],
  ["cache-first", "Cache first", "Keep each conversation on its account (warm prompt cache), waiting up to the maximum wait for it before switching."],
  ["performance", "Performance", "The least busy account for every request; no stickiness."],
  ["fixed", "Fixed account", "Always the chosen account while it can serve; otherwise as balance."],
];

function restartTag() {
  return h("span", { class: "restart-tag" }, "· restart needed");
}

export async function render(root, ctx) {
  const [settings, accounts] = await Promise.all([get("/api/settings"), get("/api/accounts").catch(() => [])]);
  let current = settings;

  // --- server
  const host = h("input", { type: "text", value: current.host, spellcheck: "false" });
  const port = h("input", { type: "number", min: 0, max: 65535, value: String(current.port) });
  const lan = checkbox("Allow access from the local network (listen on 0.0.0.0)", current.allow_lan);
  const server = h(
    "section",
    { class: "card settings-section", "aria-labelledby": "set-server" },
    h("h2", { id: "set-server" }, "Server ", restartTag()),
    h("div", { class: "form-grid" }, field("Host", host), field("Port", port)),
    lan.el,
    h("p", { class: "muted small" }, "With LAN access on, set an admin password: the dashboard refuses to open on a network without one."),
  );

  // --- access
  const authMode = h("select", {}, AUTH_MODES.map(([v, l]) => h("option", { value: v, selected: v === current.auth_mode }, l)));
  const apiKey = h("input", { type: "password", value: current.api_key || "", readonly: true, spellcheck: "false", autocomplete: "off", class: "mono" });
  const reveal = h("button", { type: "button", "aria-pressed": "false" }, "Reveal");
  reveal.addEventListener("click", () => {
    const show = apiKey.type === "password";
    apiKey.type = show ? "text" : "password";
    reveal.textContent = show ? "Hide" : "Reveal";
    reveal.setAttribute("aria-pressed", String(show));
  });
  const copyKey = h("button", { type: "button", onclick: () => (apiKey.value ? copyText(apiKey.value, "API key copied") : toast("No API key is set", "error")) }, icon("copy", 14), "Copy");
  const regen = h("button", { type: "button" }, icon("refresh", 14), "Regenerate");
  regen.addEventListener("click", async () => {
    const message = [h("p", {}, "Clients that use the current key stop working until they get the new one.")];
    if (!current.admin_password_set && current.api_key) message.push(h("p", {}, "The dashboard password is the API key: you will sign in again with the new key."));
    const ok = await confirmDialog("Regenerate the API key?", message, { confirm: "Regenerate", danger: true });
    if (!ok) return;
    busy(regen, async () => {
      const data = await post("/api/settings/api-key");
      apiKey.value = data.api_key;
      current = { ...current, api_key: data.api_key };
      toast("A new API key was generated and saved");
    });
  });
  if (!apiKey.id) apiKey.id = nextId("f");
  const keyField = h(
    "div",
    { class: "field" },
    h("label", { for: apiKey.id }, "API key"),
    h("div", { class: "row" }, apiKey, reveal, copyKey, regen),
    h("span", { class: "hint" }, current.api_key ? "Clients send it as a Bearer token, x-api-key, x-goog-api-key or ?key=." : "No API key is set yet: Regenerate creates one."),
  );
  const adminPassword = h("input", { type: "password", autocomplete: "new-password", placeholder: current.admin_password_set ? "unchanged" : "not set" });
  const access = h(
    "section",
    { class: "card settings-section", "aria-labelledby": "set-access" },
    h("h2", { id: "set-access" }, "Access"),
    h("div", { class: "form-grid" },
      field("Authentication", authMode, "Which requests need the API key."),
      field("New admin password", adminPassword, current.admin_password_set ? "An admin password is set. Leave empty to keep it." : "Not set: the dashboard uses the API key as its password.")),
    keyField,
  );

  // --- model mappings
  const rows = h("div", { class: "mapping-rows" });
  function addRow(pattern = "", target = "") {
    const n = rows.children.length + 1;
    const p = h("input", { type: "text", value: pattern, placeholder: "gpt-4o*  or  claude-sonnet-*", "aria-label": `Pattern ${n}`, class: "mono", spellcheck: "false" });
    const t = h("input", { type: "text", value: target, placeholder: "gemini-2.5-pro", "aria-label": `Target ${n}`, class: "mono", spellcheck: "false" });
    const row = h("div", { class: "mapping-row" }, p, h("span", { "aria-hidden": "true" }, "→"), t);
    row.append(h("button", { type: "button", class: "small", "aria-label": `Remove mapping ${n}`, onclick: () => row.remove() }, "Remove"));
    rows.append(row);
    return p;
  }
  for (const [p, t] of Object.entries(current.model_mapping || {})) addRow(p, t);
  const mappings = h(
    "section",
    { class: "card settings-section", "aria-labelledby": "set-map" },
    h("h2", { id: "set-map" }, "Model mappings"),
    h("p", { class: "muted small" }, "Requests for a model matching the pattern (exact name, or * as a wildcard) are served by the target model."),
    rows,
    h("div", {}, h("button", { type: "button", class: "small", onclick: () => addRow().focus() }, icon("plus", 14), "Add mapping")),
  );
  function readMappings() {
    const out = {};
    for (const row of rows.children) {
      const [p, t] = row.querySelectorAll("input");
      if (p.value.trim() && t.value.trim()) out[p.value.trim()] = t.value.trim();
    }
    return out;
  }

  // --- scheduling
  const mode = h("select", {}, SCHED_MODES.map(([v, l]) => h("option", { value: v, selected: v === current.scheduling_mode }, l)));
  const modeHelp = h("p", { class: "muted small", "aria-live": "polite" });
  const fixed = h(
    "select",
    {},
    h("option", { value: "" }, "— choose an account —"),
    accounts.map((a) => h("option", { value: a.email, selected: current.fixed_account === a.email || current.fixed_account === a.id }, a.email)),
  );
  if (current.fixed_account && !accounts.some((a) => a.email === current.fixed_account || a.id === current.fixed_account)) {
    fixed.append(h("option", { value: current.fixed_account, selected: true }, `${current.fixed_account} (not in the pool)`));
  }
  const maxWait = h("input", { type: "number", min: 0, step: 1, value: String(current.cache_first_max_wait) });
  const protection = h("input", { type: "number", min: 0, max: 100, step: 1, value: String(current.quota_protection) });
  const fixedField = field("Fixed account", fixed);
  const waitField = field("Maximum wait for the conversation's account (seconds)", maxWait);
  function syncMode() {
    const m = SCHED_MODES.find(([v]) => v === mode.value);
    modeHelp.textContent = m ? m[2] : "";
    fixedField.hidden = mode.value !== "fixed";
    waitField.hidden = mode.value !== "cache-first";
  }
  mode.addEventListener("change", syncMode);
  syncMode();
  const scheduling = h(
    "section",
    { class: "card settings-section", "aria-labelledby": "set-sched" },
    h("h2", { id: "set-sched" }, "Scheduling"),
    h("div", { class: "form-grid" },
      field("Scheduling mode", mode),
      fixedField,
      waitField,
      field("Quota protection (%)", protection, "Keep an account out of a model’s pool below this share of quota left; 0 turns it off.")),
    modeHelp,
  );

  // --- debugging
  const debug = checkbox("Capture request and response bodies in the request log (first 64 KiB; secrets are never stored)", current.debug_capture);
  const debugging = h("section", { class: "card settings-section", "aria-labelledby": "set-debug" }, h("h2", { id: "set-debug" }, "Debugging"), debug.el);

  // --- maintenance
  const clearCd = h("button", { type: "button" }, "Clear cooldowns");
  clearCd.addEventListener("click", () => busy(clearCd, async () => { await post("/api/cooldowns/clear", {}); toast("Cooldowns cleared: every account may be tried again"); }));
  const clearBind = h("button", { type: "button" }, "Clear session bindings");
  clearBind.addEventListener("click", () => busy(clearBind, async () => { await post("/api/bindings/clear", {}); toast("Session bindings cleared"); }));
  const maintenance = h(
    "section",
    { class: "card settings-section", "aria-labelledby": "set-maint" },
    h("h2", { id: "set-maint" }, "Maintenance"),
    h("p", { class: "muted small" }, "Cooldowns keep rate-limited accounts aside until their reset; bindings keep a conversation on its account. Both survive restarts."),
    h("div", { class: "row" }, clearCd, clearBind),
  );

  // --- save
  const status = h("div", { class: "status", role: "status", "aria-live": "polite", "aria-label": "Save result" });
  const save = h("button", { class: "primary", type: "submit" }, "Save settings");
  const form = h("form", { class: "stack", "aria-label": "Settings" }, server, access, mappings, scheduling, debugging, h("div", { class: "save-bar" }, status, save));

  function changes() {
    const next = {
      host: host.value.trim(),
      port: Number(port.value),
      allow_lan: lan.input.checked,
      auth_mode: authMode.value,
      model_mapping: readMappings(),
      scheduling_mode: mode.value,
      fixed_account: fixed.value,
      cache_first_max_wait: Number(maxWait.value),
      quota_protection: Number(protection.value),
      debug_capture: debug.input.checked,
    };
    const out = {};
    for (const [k, v] of Object.entries(next)) if (JSON.stringify(v) !== JSON.stringify(current[k])) out[k] = v;
    if (adminPassword.value) out.admin_password = adminPassword.value;
    return out;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const diff = changes();
    if (!Object.keys(diff).length) {
      status.replaceChildren(h("span", { class: "muted" }, "Nothing to save."));
      return;
    }
    if (diff.scheduling_mode === "fixed" && !diff.fixed_account && !current.fixed_account) {
      status.replaceChildren(h("span", { class: "error-text" }, "Choose the fixed account first."));
      fixed.focus();
      return;
    }
    busy(save, async () => {
      try {
        const result = await patch("/api/settings", diff);
        current = result.settings;
        adminPassword.value = "";
        adminPassword.placeholder = current.admin_password_set ? "unchanged" : "not set";
        const restart = (result.restart_required || []).filter(Boolean);
        const names = Object.keys(diff).map((k) => LABELS[k] || k).join(", ");
        status.replaceChildren(
          restart.length
            ? h("span", { class: "notice warn" }, `Saved (${names}). Restart the gateway to apply: ${restart.map((k) => LABELS[k] || k).join(", ")}.`)
            : h("span", { class: "notice ok" }, `Saved (${names}). In effect now.`),
        );
        toast("Settings saved");
        if ("admin_password" in diff) toast("The admin password changed: sign in again next time with the new one");
      } catch (err) {
        status.replaceChildren(h("span", { class: "error-text", role: "alert" }, err.message));
      }
    });
  });

  root.append(h("div", { class: "page-head" }, h("h1", {}, "Settings")), form, maintenance);
  void ctx;
}
