// Keys: per-user API keys with their models, limits, expiry and today's usage; new keys and rotations
// show the secret once, with a copy button; edit, revoke, remove.

import { del, get, patch, post } from "./api.js";
import { badge, busy, confirmDialog, copyText, field, fmtAgo, fmtCompact, fmtFull, fmtNum, h, icon, modal, nextId, toast } from "./dom.js";

const STATES = {
  active: { label: "Active", kind: "ok" },
  expired: { label: "Expired", kind: "warn" },
  revoked: { label: "Revoked", kind: "danger" },
};

const FIELDS = [
  { id: "models", label: "Models", placeholder: "gemini-*, claude-sonnet-*", hint: "Globs, comma-separated; empty for every model. The model asked for and the model it is served as must both match." },
  { id: "rpm", label: "Requests per minute", type: "number", hint: "A sliding 60-second window; empty or 0 for no limit." },
  { id: "tokens_per_day", label: "Tokens per day", type: "number", hint: "Input plus output tokens per UTC day; empty or 0 for no limit." },
  { id: "concurrency", label: "Requests at once", type: "number", hint: "Requests in progress at the same time; empty or 0 for no limit." },
  { id: "expires", label: "Expires", placeholder: "30d, 12h, 2026-12-31 or never", hint: "A duration from now, a date (the end of that day, UTC), or never." },
  { id: "ips", label: "Allowed addresses", placeholder: "10.0.0.0/8, 192.168.1.7", hint: "CIDR networks, comma-separated; empty for any address." },
  { id: "note", label: "Note", placeholder: "Who it is for", hint: "" },
];

function limitText(key) {
  const parts = [];
  if (key.rpm) parts.push(`${fmtNum(key.rpm)}/min`);
  if (key.tokens_per_day) parts.push(`${fmtCompact(key.tokens_per_day)} tokens/day`);
  if (key.concurrency) parts.push(`${fmtNum(key.concurrency)} at once`);
  return parts.length ? parts.join(" · ") : "none";
}

function isoMinute(epoch) {
  return new Date(epoch * 1000).toISOString().slice(0, 16) + "Z";
}

/** The form of a new key, or of an existing one (then only changed values are sent). */
function keyForm(key) {
  const inputs = {};
  const controls = FIELDS.map((f) => {
    const input = h("input", { type: f.type || "text", name: f.id, placeholder: f.placeholder || "", autocomplete: "off", spellcheck: "false", min: f.type === "number" ? 0 : undefined });
    if (key) {
      const value = f.id === "models" || f.id === "ips" ? key[f.id].join(", ") : f.id === "expires" ? (key.expires_at ? isoMinute(key.expires_at) : "never") : key[f.id] ?? "";
      input.value = String(value);
    }
    input.dataset.initial = input.value;
    inputs[f.id] = input;
    return field(f.label, input, f.hint || undefined);
  });
  const values = () => {
    const out = {};
    for (const f of FIELDS) {
      const input = inputs[f.id];
      if (key && input.value === input.dataset.initial) continue;
      const text = input.value.trim();
      out[f.id] = f.type === "number" ? (text ? Number(text) : 0) : text;
    }
    return out;
  };
  return { controls, values, inputs };
}

/** The secret, once: a read-only field, a copy button and the warning. */
function showSecret(m, title, key, secret) {
  const input = h("input", { type: "text", readonly: true, value: secret, class: "mono", "aria-label": `API key ${key.name}`, spellcheck: "false" });
  input.addEventListener("focus", () => input.select());
  m.body.replaceChildren(
    h("p", {}, title),
    h("div", { class: "row" }, input, h("button", { type: "button", class: "primary", onclick: () => copyText(secret, "API key copied") }, icon("copy", 14), "Copy")),
    h("div", { class: "notice", role: "note" }, "This is the only time the key is shown. The gateway keeps only its hash: if it is lost, rotate the key."),
    h("p", { class: "muted small" }, "Clients send it like the gateway's own key: Authorization: Bearer, x-api-key, x-goog-api-key or ?key=."),
  );
  input.style.flex = "1";
  m.foot.replaceChildren(h("button", { type: "button", onclick: m.close }, "Done"));
  input.focus();
}

export async function render(root, ctx) {
  const body = h("div", { class: "stack" });
  const addButton = h("button", { type: "button", class: "primary", onclick: () => openAddDialog() }, icon("plus", 14), "New key");
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Keys"), h("div", { class: "actions" }, addButton)),
    h(
      "p",
      { class: "muted" },
      "Keys for the people and tools that share this pool: each with its models, limits, expiry and addresses, and its usage. ",
      "The gateway's own key (Settings) stays unlimited. While a key exists, clients need a key also on this machine.",
    ),
    body,
  );
  let keys = [];

  async function load() {
    keys = await get("/api/keys");
    draw();
  }

  function draw() {
    if (!keys.length) {
      body.replaceChildren(h("section", { class: "card" }, h("p", { class: "empty" }, "No keys yet. “New key” makes one.")));
      return;
    }
    const rows = keys.map((key) => {
      const state = STATES[key.state] || { label: key.state, kind: "" };
      const today = key.today || {};
      const actions = [];
      if (key.state !== "revoked") {
        actions.push(h("button", { type: "button", class: "small", "aria-label": `Edit ${key.name}`, onclick: () => openEditDialog(key) }, "Edit"));
        actions.push(h("button", { type: "button", class: "small", "aria-label": `Rotate ${key.name}`, onclick: (e) => rotate(key, e.currentTarget) }, "Rotate"));
        actions.push(h("button", { type: "button", class: "small danger", "aria-label": `Revoke ${key.name}`, onclick: (e) => revoke(key, e.currentTarget) }, "Revoke"));
      } else {
        actions.push(h("button", { type: "button", class: "small danger", "aria-label": `Remove ${key.name}`, onclick: (e) => remove(key, e.currentTarget) }, "Remove"));
      }
      return h(
        "tr",
        { dataset: { key: key.name } },
        h("td", {}, h("strong", {}, key.name), key.note ? h("span", { class: "sub" }, key.note) : null),
        h("td", { class: "mono nowrap" }, `${key.prefix}…`),
        h("td", {}, badge(state.label, state.kind, true)),
        h("td", {}, key.models.length ? key.models.join(", ") : h("span", { class: "muted" }, "all"), key.ips.length ? h("span", { class: "sub" }, `from ${key.ips.join(", ")}`) : null),
        h("td", {}, limitText(key)),
        h("td", { class: "nowrap", title: key.expires_at ? fmtFull(key.expires_at) : "" }, key.expires_at ? fmtFull(key.expires_at) : h("span", { class: "muted" }, "never")),
        h("td", { class: "num", "data-col": "requests" }, fmtNum(today.requests || 0), today.refused ? h("span", { class: "sub" }, `${fmtNum(today.refused)} refused`) : null),
        h("td", { class: "num", "data-col": "tokens" }, fmtCompact((today.input_tokens || 0) + (today.output_tokens || 0))),
        h("td", { class: "num", "data-col": "errors" }, fmtNum(today.errors || 0)),
        h("td", { class: "nowrap", "data-col": "last-used", title: key.last_used_at ? fmtFull(key.last_used_at) : "" }, fmtAgo(key.last_used_at), key.in_flight ? h("span", { class: "sub" }, `${key.in_flight} in progress`) : null),
        h("td", {}, h("div", { class: "row" }, actions)),
      );
    });
    const head = ["Name", "Key", "State", "Models", "Limits", "Expires", "Requests today", "Tokens today", "Errors today", "Last used", ""].map((c, i) =>
      h("th", { scope: "col", class: i >= 6 && i <= 8 ? "num" : "" }, c),
    );
    body.replaceChildren(
      h(
        "section",
        { class: "card", "aria-labelledby": "keys-title" },
        h("h2", { id: "keys-title", class: "sr-only" }, "API keys"),
        h("div", { class: "table-wrap" }, h("table", { "aria-label": "API keys" }, h("thead", {}, h("tr", {}, head)), h("tbody", {}, rows))),
        h("p", { class: "muted small" }, "Today is the UTC day: tokens per day start again at 00:00 UTC."),
      ),
    );
  }

  function openAddDialog() {
    const m = modal("New key");
    const name = h("input", { type: "text", name: "name", required: true, maxlength: 64, pattern: "[A-Za-z0-9][A-Za-z0-9._@-]*", autocomplete: "off", spellcheck: "false" });
    const form = keyForm(null);
    const formEl = h("form", { class: "form-grid", id: nextId("form") }, field("Name", name, "Letters, digits, . _ @ -: it shows in logs and usage."), form.controls);
    const create = h("button", { class: "primary", type: "submit", form: formEl.id }, "Create key");
    formEl.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(create, async () => {
        const answer = await post("/api/keys", { name: name.value.trim(), ...form.values() });
        showSecret(m, `The key ${answer.key.name} is ready:`, answer.key, answer.secret);
        await load();
      });
    });
    m.body.append(formEl);
    m.foot.append(h("button", { type: "button", onclick: m.close }, "Cancel"), create);
    name.focus();
  }

  function openEditDialog(key) {
    const m = modal(`Edit ${key.name}`);
    const form = keyForm(key);
    const formEl = h("form", { class: "form-grid", id: nextId("form") }, form.controls);
    const save = h("button", { class: "primary", type: "submit", form: formEl.id }, "Save");
    formEl.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(save, async () => {
        const changes = form.values();
        if (Object.keys(changes).length) await patch(`/api/keys/${encodeURIComponent(key.name)}`, changes);
        m.close();
        toast("Saved");
        await load();
      });
    });
    m.body.append(formEl);
    m.foot.append(h("button", { type: "button", onclick: m.close }, "Cancel"), save);
  }

  async function rotate(key, button) {
    const ok = await confirmDialog(`Rotate ${key.name}`, "A new secret replaces the current one, which stops working at once. Limits and usage stay.", { confirm: "Rotate" });
    if (!ok) return;
    await busy(button, async () => {
      const answer = await post(`/api/keys/${encodeURIComponent(key.name)}/rotate`);
      const m = modal(`New secret for ${key.name}`);
      showSecret(m, `The new secret of ${key.name}:`, answer.key, answer.secret);
      await load();
    });
  }

  async function revoke(key, button) {
    const ok = await confirmDialog(`Revoke ${key.name}`, "Its requests are refused from now on. It stays listed with its usage; this cannot be undone.", { confirm: "Revoke", danger: true });
    if (!ok) return;
    await busy(button, async () => {
      await post(`/api/keys/${encodeURIComponent(key.name)}/revoke`);
      toast(`Revoked ${key.name}`);
      await load();
    });
  }

  async function remove(key, button) {
    const ok = await confirmDialog(`Remove ${key.name}`, "The key and its daily totals are forgotten (the request log keeps its name); the name can be used again.", { confirm: "Remove", danger: true });
    if (!ok) return;
    await busy(button, async () => {
      await del(`/api/keys/${encodeURIComponent(key.name)}`);
      toast(`Removed ${key.name}`);
      await load();
    });
  }

  await load();
  ctx.every(10000, () => {
    if (!document.querySelector("dialog[open]")) load().catch(() => {});
  });
}
