// Accounts: states with reasons, cooldowns, per-model quota with live reset countdowns, 5-hour/weekly
// windows; enable/disable/remove/refresh/edit; add by Google login, refresh token or import; export.

import { ApiError, del, get, patch, post } from "./api.js";
import {
  badge, bar, busy, confirmDialog, copyText, countdown, field, fmtAgo, fmtFull, fmtTime, h, icon, modal,
  nextId, pct, toast,
} from "./dom.js";

export const STATUS = {
  enabled: { label: "Enabled", kind: "ok" },
  disabled: { label: "Disabled", kind: "" },
  invalid_grant: { label: "Sign-in expired", kind: "danger" },
  validation_required: { label: "Verification required", kind: "warn" },
  forbidden: { label: "Forbidden", kind: "danger" },
};

const MODES = {
  balance: "Balance",
  "cache-first": "Cache first",
  performance: "Performance",
  fixed: "Fixed account",
};
export const modeLabel = (mode) => MODES[mode] || mode;

function family(id) {
  const m = id.toLowerCase();
  if (m.includes("claude")) return "Claude";
  if (m.includes("image")) return "Image";
  if (m.includes("gemini") && m.includes("flash")) return "Gemini Flash";
  if (m.includes("gemini")) return "Gemini Pro";
  return "Other";
}
const FAMILY_ORDER = ["Gemini Pro", "Gemini Flash", "Claude", "Image", "Other"];

/** Models with quota data, grouped by family: the lowest remaining fraction of each family. */
export function quotaGroups(models) {
  const groups = new Map();
  for (const m of models) {
    if (m.remaining === null || m.remaining === undefined) continue;
    const name = family(m.id);
    const g = groups.get(name) || { name, remaining: 1, count: 0 };
    g.remaining = Math.min(g.remaining, m.remaining);
    g.count += 1;
    groups.set(name, g);
  }
  return FAMILY_ORDER.filter((n) => groups.has(n)).map((n) => groups.get(n));
}

function quotaItem(label, remaining, resetTime, ariaLabel) {
  return h(
    "div",
    { class: "quota" },
    h("div", { class: "quota-top" }, h("span", { class: "quota-name", title: label }, label), h("span", { class: "quota-pct" }, pct(remaining))),
    bar(remaining, ariaLabel),
    h(
      "div",
      { class: "quota-reset" },
      remaining !== null && remaining !== undefined && remaining >= 0.9995
        ? "full"
        : resetTime
          ? ["resets ", countdown(resetTime, "in ", "now")]
          : "\u00a0",
    ),
  );
}

function quotaSection(acc) {
  const q = acc.quota || { models: [], buckets: [] };
  const known = [];
  const unknown = [];
  for (const m of q.models || []) {
    if ((m.remaining === null || m.remaining === undefined) && !m.reset_time) unknown.push(m);
    else known.push(m);
  }
  known.sort((a, b) => FAMILY_ORDER.indexOf(family(a.id)) - FAMILY_ORDER.indexOf(family(b.id)) || a.id.localeCompare(b.id));
  const title = h("h3", {}, "Quota by model ", q.fetched_at ? h("span", { class: "muted", title: fmtFull(q.fetched_at) }, `· fetched ${fmtAgo(q.fetched_at)}`) : null);
  const parts = [title];
  if (!known.length) parts.push(h("p", { class: "muted small" }, q.fetched_at ? "Google reported no per-model quota." : "Not fetched yet: use “Refresh quota”."));
  else parts.push(h("div", { class: "quota-grid" }, known.map((m) => quotaItem(m.display_name || m.id, m.remaining, m.reset_time, `${m.display_name || m.id} quota left for ${acc.email}`))));
  if (unknown.length) parts.push(h("p", { class: "muted small" }, `No quota data for: ${unknown.map((m) => m.id).join(", ")}`));
  const section = [h("div", { class: "account-section" }, parts)];
  if ((q.buckets || []).length) {
    section.push(
      h(
        "div",
        { class: "account-section" },
        h("h3", {}, "Usage windows (5-hour and weekly)"),
        h(
          "div",
          { class: "quota-grid" },
          q.buckets.map((b) => {
            const label = [b.group, b.display_name || b.id, b.window ? `(${b.window})` : ""].filter(Boolean).join(" ");
            return quotaItem(label, b.remaining, b.reset_time, `${label} left for ${acc.email}`);
          }),
        ),
      ),
    );
  }
  return section;
}

// Only plain https links from Google become a "Verify" link (the server filters too): never
// javascript:, data: or http: in an href.
function safeLink(url) {
  if (typeof url !== "string" || !/^https:\/\/[^\s\\<>"']+$/i.test(url)) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" && parsed.hostname && !parsed.username && !parsed.password ? url : null;
  } catch {
    return null;
  }
}

function statusBlock(acc) {
  const lines = [];
  const verifyUrl = safeLink(acc.validation_url);
  if (acc.status !== "enabled" && (acc.status_reason || verifyUrl || acc.status_until)) {
    const kind = acc.status === "disabled" ? "" : acc.status === "validation_required" ? "warn" : "error";
    lines.push(
      h(
        "div",
        { class: ["notice", kind], role: "note" },
        acc.status_reason ? h("span", {}, acc.status_reason, " ") : null,
        acc.status_until ? h("span", { class: "muted" }, "Retry ", countdown(acc.status_until, "in ", "now"), ". ") : null,
        verifyUrl
          ? h("a", { href: verifyUrl, target: "_blank", rel: "noopener noreferrer" }, "Verify", icon("external", 12))
          : null,
        acc.status === "invalid_grant" ? h("span", {}, " Sign in again to restore it.") : null,
      ),
    );
  }
  if (acc.cooldowns && acc.cooldowns.length) {
    lines.push(
      h(
        "div",
        { class: "account-section" },
        h("h3", {}, "Cooling down"),
        h(
          "ul",
          { class: "cooldowns" },
          acc.cooldowns.map((c) =>
            h(
              "li",
              {},
              badge(c.model === "*" ? "all models" : c.model, "warn"),
              " until ",
              h("span", { title: fmtFull(c.until) }, fmtTime(c.until)),
              " (",
              countdown(c.until, "", "over"),
              ")",
              c.reason ? h("span", { class: "muted" }, ` · ${c.reason}`) : null,
              c.message ? h("span", { class: "muted small" }, ` — ${c.message}`) : null,
            ),
          ),
        ),
      ),
    );
  }
  return lines;
}

export async function render(root, ctx) {
  let accounts = [];
  let filter = "";
  let show = "all";
  const list = h("div", { class: "accounts", "aria-live": "polite", "aria-busy": "true" });
  const countEl = h("span", { class: "muted" });
  const search = h("input", { type: "search", placeholder: "Filter by email or label", "aria-label": "Filter accounts" });
  const showSelect = h(
    "select",
    { "aria-label": "Show" },
    h("option", { value: "all" }, "All accounts"),
    h("option", { value: "usable" }, "Usable"),
    h("option", { value: "attention" }, "Needs attention"),
  );
  search.addEventListener("input", () => { filter = search.value.trim().toLowerCase(); draw(); });
  showSelect.addEventListener("change", () => { show = showSelect.value; draw(); });

  const addButton = h("button", { class: "primary", type: "button", onclick: () => openAddDialog() }, icon("plus"), "Add account");
  const refreshAll = h("button", { type: "button" }, icon("refresh"), "Refresh all quotas");
  refreshAll.addEventListener("click", () =>
    busy(refreshAll, async () => {
      accounts = await post("/api/accounts/quota");
      draw();
      toast("Quota refreshed for every account");
    }),
  );
  const exportButton = h("button", { type: "button", onclick: exportAccounts }, icon("download"), "Export");

  const banner = h("div", { hidden: true });
  const proxiesEl = h("section", { class: "card proxies", "aria-label": "Upstream proxies", hidden: true });
  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Accounts"), h("div", { class: "actions" }, addButton, refreshAll, exportButton)),
    banner,
    proxiesEl,
    h("div", { class: "toolbar" }, search, showSelect, countEl),
    list,
  );

  function drawProxies(view) {
    const rows = view.proxies || [];
    proxiesEl.hidden = !rows.length;
    if (!rows.length) return;
    const check = h("button", { type: "button", class: "small" }, icon("refresh", 14), "Check now");
    check.addEventListener("click", () => busy(check, async () => drawProxies(await post("/api/proxies/check"))));
    proxiesEl.replaceChildren(
      h("div", { class: "card-head" }, h("h2", {}, "Upstream proxies"), check),
      h(
        "div",
        { class: "table-wrap" },
        h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ["Proxy", "State", "Requests", "Failures", "Last error", "Accounts"].map((t) => h("th", { scope: "col" }, t)))),
        h(
          "tbody",
          {},
          rows.map((p) =>
            h(
              "tr",
              { dataset: { proxy: p.proxy } },
              h("td", { class: "mono" }, p.proxy, p.pool ? h("span", { class: "muted small" }, " (pool)") : null),
              h("td", {}, p.healthy ? badge("Healthy", "ok") : badge("Failing", "danger")),
              h("td", {}, String(p.requests)),
              h("td", {}, String(p.failures)),
              h("td", { class: "muted small" }, p.last_error || "-"),
              h("td", {}, (p.accounts || []).join(", ") || "-"),
            ),
          ),
        ),
        ),
      ),
    );
  }

  const added = ctx.params.get("added");
  if (added) {
    banner.hidden = false;
    banner.append(h("div", { class: "notice ok", role: "status" }, `Added ${added}. `, window.name === "agw-google-login" ? "This tab closes by itself." : ""));
    if (window.name === "agw-google-login") setTimeout(() => window.close(), 1500);
  }

  function visible(acc) {
    if (filter && !`${acc.email} ${acc.label || ""}`.toLowerCase().includes(filter)) return false;
    if (show === "usable") return acc.status === "enabled" && !(acc.cooldowns || []).some((c) => c.model === "*");
    if (show === "attention") return acc.status !== "enabled" && acc.status !== "disabled";
    return true;
  }

  function replace(updated) {
    accounts = accounts.map((a) => (a.id === updated.id ? updated : a));
    draw();
  }

  function card(acc) {
    const info = STATUS[acc.status] || { label: acc.status, kind: "" };
    const emailId = nextId("acc");
    const actions = h("div", { class: "account-actions" });
    const refresh = h("button", { type: "button", class: "small" }, icon("refresh", 14), "Refresh quota");
    refresh.addEventListener("click", () => busy(refresh, async () => replace(await post(`/api/accounts/${acc.id}/quota`))));
    const toggle = h("button", { type: "button", class: "small" }, acc.status === "disabled" ? "Enable" : "Disable");
    toggle.addEventListener("click", () =>
      busy(toggle, async () => {
        replace(await post(`/api/accounts/${acc.id}/${acc.status === "disabled" ? "enable" : "disable"}`));
      }),
    );
    const edit = h("button", { type: "button", class: "small", onclick: () => openEditDialog(acc) }, "Edit");
    const remove = h("button", { type: "button", class: "small danger" }, "Remove");
    remove.addEventListener("click", async () => {
      const ok = await confirmDialog(`Remove ${acc.email}?`, "The gateway forgets this account and its refresh token. You can add it again later by signing in.", { confirm: "Remove", danger: true });
      if (!ok) return;
      await busy(remove, async () => {
        await del(`/api/accounts/${acc.id}`);
        accounts = accounts.filter((a) => a.id !== acc.id);
        draw();
        toast(`Removed ${acc.email}`);
      });
    });
    if (acc.status === "invalid_grant") {
      actions.append(h("button", { type: "button", class: "small primary", onclick: () => openAddDialog(acc.email) }, "Sign in again"));
    }
    actions.append(refresh, toggle, edit, remove);
    const meta = [
      acc.tier_name || acc.tier_id ? h("span", {}, "Tier: ", h("strong", {}, acc.tier_name || acc.tier_id)) : null,
      h("span", {}, `Priority ${acc.priority}`),
      h("span", { title: acc.last_used_at ? fmtFull(acc.last_used_at) : "" }, `Last used ${fmtAgo(acc.last_used_at)}`),
      acc.in_flight ? h("span", {}, `${acc.in_flight} in flight`) : null,
      acc.project_id ? h("span", { class: "mono" }, acc.project_id) : null,
      acc.client && acc.client !== "-" ? h("span", { title: "OAuth client profile" }, `Client ${acc.client}`) : null,
      acc.proxy
        ? h("span", { class: "mono", title: acc.proxy_url ? "The account's own proxy" : "From upstream_proxies or upstream_proxy" }, `Proxy ${acc.proxy}`)
        : null,
    ];
    return h(
      "article",
      { class: "card account", "aria-labelledby": emailId, dataset: { accountId: acc.id } },
      h(
        "div",
        { class: "account-head" },
        h("h2", { id: emailId }, acc.email),
        acc.label ? badge(acc.label, "info") : null,
        badge(info.label, info.kind, true),
        actions,
      ),
      h("div", { class: "account-meta" }, meta),
      statusBlock(acc),
      quotaSection(acc),
    );
  }

  function draw() {
    const shown = accounts.filter(visible);
    countEl.textContent = accounts.length ? `${shown.length} of ${accounts.length} account${accounts.length === 1 ? "" : "s"}` : "";
    list.setAttribute("aria-busy", "false");
    if (!accounts.length) {
      list.replaceChildren(
        h("div", { class: "card empty" }, h("p", {}, "No accounts yet."), h("button", { class: "primary", type: "button", onclick: () => openAddDialog() }, icon("plus"), "Add your first account")),
      );
      return;
    }
    list.replaceChildren(...(shown.length ? shown.map(card) : [h("p", { class: "empty" }, "No account matches the filter.")]));
  }

  async function load() {
    accounts = await get("/api/accounts");
    draw();
    drawProxies(await get("/api/proxies"));
  }

  // --- dialogs ---------------------------------------------------------------------------------

  function openEditDialog(acc) {
    const m = modal(`Edit ${acc.email}`);
    const label = h("input", { type: "text", value: acc.label || "", maxlength: 100 });
    const priority = h("input", { type: "number", value: String(acc.priority ?? 0), step: 1 });
    const proxy = h("input", { type: "text", value: acc.proxy_url || "", placeholder: "socks5h://user:password@host:1080", autocomplete: "off", spellcheck: "false" });
    const form = h(
      "form",
      { class: "form-grid", id: nextId("form") },
      field("Label", label),
      field("Priority", priority, "Higher numbers are chosen first; 0 is the default."),
      field("Proxy", proxy, "This account's own upstream proxy, a URL of scheme http, https, socks5 or socks5h. Empty: the proxy pool or the global proxy. The password is shown as ***; leave it so to keep it."),
    );
    const save = h("button", { class: "primary", type: "submit", form: form.id }, "Save");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(save, async () => {
        replace(await patch(`/api/accounts/${acc.id}`, { label: label.value.trim(), priority: Number(priority.value || 0), proxy_url: proxy.value.trim() }));
        m.close();
        toast("Saved");
      });
    });
    m.body.append(form);
    m.foot.append(h("button", { type: "button", onclick: m.close }, "Cancel"), save);
    label.focus();
  }

  async function exportAccounts() {
    const ok = await confirmDialog(
      "Export accounts",
      [
        h("p", {}, "The file contains the refresh tokens of every account: whoever has it can use these Google accounts."),
        h("p", {}, "Keep it private and delete it when you no longer need it."),
      ],
      { confirm: "Download" },
    );
    if (!ok) return;
    await busy(exportButton, async () => {
      const data = await get("/api/accounts/export");
      const blob = new Blob([JSON.stringify(data, null, 2) + "\n"], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: "antigravity-accounts.json" });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      toast(`Exported ${data.length} account${data.length === 1 ? "" : "s"}`);
    });
  }

  function openAddDialog(hint = "") {
    const knownIds = new Set(accounts.map((a) => a.id));
    let poll = null;
    let done = false;
    const stopPoll = () => { if (poll) clearInterval(poll); poll = null; };
    const onMessage = (event) => {
      if (event.data && event.data.type === "account-added") finish(event.data.email);
    };
    if (ctx.channel) ctx.channel.addEventListener("message", onMessage);
    const m = modal("Add account", {
      onclose: () => {
        stopPoll();
        if (ctx.channel) ctx.channel.removeEventListener("message", onMessage);
      },
    });

    async function finish(email) {
      if (done) return;
      done = true;
      stopPoll();
      await load().catch(() => {});
      toast(email ? `Added ${email}` : "Account added");
      m.close();
    }

    // tabs
    const tabs = [
      { id: "google", label: "Google login", panel: googlePanel() },
      { id: "token", label: "Refresh token", panel: tokenPanel() },
      { id: "import", label: "Import", panel: importPanel() },
    ];
    const tablist = h("div", { class: "tabs", role: "tablist", "aria-label": "How to add" });
    for (const t of tabs) {
      t.tabId = nextId("tab");
      t.panelEl = h("div", { class: "tabpanel", role: "tabpanel", id: nextId("panel"), "aria-labelledby": t.tabId }, t.panel);
      t.button = h("button", { type: "button", role: "tab", id: t.tabId, "aria-controls": t.panelEl.id }, t.label);
      t.button.addEventListener("click", () => select(t));
      t.button.addEventListener("keydown", (e) => {
        const i = tabs.indexOf(t);
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
          const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
          select(next);
          next.button.focus();
        }
      });
      tablist.append(t.button);
    }
    function select(tab) {
      for (const t of tabs) {
        const on = t === tab;
        t.button.setAttribute("aria-selected", String(on));
        t.button.tabIndex = on ? 0 : -1;
        t.panelEl.hidden = !on;
      }
    }
    m.body.append(tablist, ...tabs.map((t) => t.panelEl));
    m.foot.append(h("button", { type: "button", onclick: m.close }, "Close"));
    select(tabs[0]);
    tabs[0].button.focus();

    function clientSelect() {
      // The OAuth client profile: the default one unless another is chosen (filled in when known).
      const select = h("select", {}, h("option", { value: "" }, "Default"));
      get("/api/oauth/clients").then((data) => {
        select.replaceChildren(
          ...data.clients.map((c) => h("option", { value: c.name === data.default ? "" : c.name }, c.name === data.default ? `${c.name} (default)` : c.name)),
        );
      }).catch(() => { /* keep the default */ });
      return select;
    }

    function googlePanel() {
      const hintInput = h("input", { type: "email", value: hint, placeholder: "name@gmail.com", autocomplete: "off" });
      const client = clientSelect();
      const start = h("button", { type: "button", class: "primary" }, "Sign in with Google");
      const waiting = h("div", { hidden: true, class: "notice", role: "status" });
      const linkBox = h("div", { class: "link-box" });
      const linkArea = h(
        "div",
        { hidden: true, class: "field" },
        h("span", { class: "muted small" }, "Sign-in link (to open on another device or browser profile):"),
        linkBox,
        h("div", { class: "row" },
          h("button", { type: "button", class: "small", onclick: () => copyText(linkBox.textContent, "Link copied") }, icon("copy", 14), "Copy link"),
          h("button", { type: "button", class: "small", onclick: () => openLogin(linkBox.textContent) }, icon("external", 14), "Open again")),
      );
      const pasted = h("textarea", { rows: 3, spellcheck: "false", autocomplete: "off", placeholder: "The full address of the page Google sent you to, or just the code" });
      const complete = h("button", { type: "button" }, "Add from pasted address");
      const pasteError = h("p", { class: "error-text", role: "alert" });
      let flowState = "";
      start.addEventListener("click", () => {
        // Open the tab now, inside the click, so a popup blocker lets it through; navigate it once the URL is known.
        const win = window.open("", "agw-google-login");
        if (win) {
          try { win.opener = null; } catch { /* ignore */ }
        }
        busy(start, async () => {
          try {
            const flow = await post("/api/oauth/start", { redirect: "loopback", login_hint: hintInput.value.trim() || undefined, client: client.value || undefined });
            flowState = flow.state;
            linkBox.textContent = flow.url;
            linkArea.hidden = false;
            waiting.hidden = false;
            waiting.replaceChildren(
              h("span", { class: "spinner", "aria-hidden": "true" }), " ",
              "Finish the sign-in in the new tab. This dialog closes when the account is added.",
            );
            if (win) win.location.href = flow.url;
            else waiting.append(h("p", {}, "The browser blocked the new tab: open the link below yourself."));
            stopPoll();
            poll = setInterval(async () => {
              try {
                const now = await get("/api/accounts");
                const fresh = now.find((a) => !knownIds.has(a.id));
                if (fresh) finish(fresh.email);
              } catch { /* keep waiting */ }
            }, 2000);
          } catch (err) {
            if (win) win.close();
            throw err;
          }
        });
      });
      complete.addEventListener("click", () => {
        pasteError.textContent = "";
        if (!pasted.value.trim()) {
          pasteError.textContent = "Paste the address (or the code) first.";
          return;
        }
        busy(complete, async () => {
          try {
            const acc = await post("/api/oauth/complete", { state: flowState || undefined, response: pasted.value.trim() });
            finish(acc.email);
          } catch (err) {
            pasteError.textContent = err.message;
          }
        });
      });
      return [
        h("p", {}, "Sign in with the Google account in a new tab. Google sends the browser back to this gateway, which adds the account."),
        field("Account email (optional)", hintInput, "Preselects the account on Google's page."),
        field("OAuth client", client, "Whose application the gateway signs in as; requests then look like that application's."),
        h("div", { class: "row" }, start),
        waiting,
        linkArea,
        h("hr", { style: { border: "none", "border-top": "1px solid var(--border)", width: "100%" } }),
        h("h3", {}, "Gateway on another machine?"),
        h("p", { class: "muted small" }, "If the tab ends on a page that does not load (the gateway is not reachable from this browser as addressed), copy that page’s address from the address bar and paste it here."),
        field("Redirected address or code", pasted),
        pasteError,
        h("div", { class: "row" }, complete),
      ];
    }

    function tokenPanel() {
      const token = h("input", { type: "password", autocomplete: "off", spellcheck: "false", placeholder: "1//0g…" });
      const label = h("input", { type: "text", maxlength: 100 });
      const client = clientSelect();
      const error = h("p", { class: "error-text", role: "alert" });
      const form = h("form", { class: "tabpanel", id: nextId("form") });
      const submit = h("button", { type: "submit", class: "primary" }, "Add account");
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        error.textContent = "";
        if (!token.value.trim()) {
          error.textContent = "Paste a refresh token first.";
          return;
        }
        busy(submit, async () => {
          try {
            const acc = await post("/api/accounts", { refresh_token: token.value.trim(), label: label.value.trim() || undefined, client: client.value || undefined });
            knownIds.add(acc.id);
            finish(acc.email);
          } catch (err) {
            error.textContent = err.message;
          }
        });
      });
      form.append(
        h("p", {}, "The gateway checks the token with Google (it must have been issued by one of the known OAuth clients, built in or configured), finds the account’s project and fetches its quota."),
        field("Refresh token", token),
        field("Label (optional)", label),
        field("OAuth client to try first", client, "The other known clients follow."),
        error,
        h("div", { class: "row" }, submit),
      );
      return form;
    }

    function importPanel() {
      const text = h("textarea", { rows: 7, spellcheck: "false", autocomplete: "off", placeholder: "1//0g…\n1//0h…\n\nor  [{\"email\": \"…\", \"refresh_token\": \"1//…\"}]" });
      const file = h("input", { type: "file", accept: ".json,.txt,text/plain,application/json" });
      file.addEventListener("change", async () => {
        if (file.files && file.files[0]) text.value = await file.files[0].text();
      });
      const submit = h("button", { type: "button", class: "primary" }, "Import");
      const results = h("div", { "aria-live": "polite" });
      submit.addEventListener("click", () => {
        results.replaceChildren();
        if (!text.value.trim()) {
          results.append(h("p", { class: "error-text", role: "alert" }, "Paste refresh tokens or choose a file first."));
          return;
        }
        busy(submit, async () => {
          try {
            const data = await post("/api/accounts/import", { text: text.value });
            const ok = data.results.filter((r) => r.ok).length;
            results.append(
              h("p", { role: "status" }, `${ok} of ${data.results.length} imported.`),
              h(
                "div",
                { class: "table-wrap" },
                h(
                  "table",
                  {},
                  h("thead", {}, h("tr", {}, ["Line", "Result", "Account", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
                  h(
                    "tbody",
                    {},
                    data.results.map((r) =>
                      h(
                        "tr",
                        {},
                        h("td", { class: "num" }, String(r.line)),
                        h("td", {}, r.ok ? badge(r.updated ? "Updated" : "Added", "ok") : r.action === "skipped" ? badge("Skipped", "info") : badge("Failed", "danger")),
                        h("td", {}, r.email || "–"),
                        h("td", { class: "small" }, r.reason || r.error || ""),
                      ),
                    ),
                  ),
                ),
              ),
            );
            if (ok) await load();
          } catch (err) {
            results.append(h("p", { class: "error-text", role: "alert" }, err.message));
          }
        });
      });
      return [
        h("p", {}, "Refresh tokens one per line, or a JSON array of {email, refresh_token} (as exported). Accounts already known are updated."),
        field("Refresh tokens or JSON", text),
        field("Or load a file", file),
        h("div", { class: "row" }, submit),
        results,
      ];
    }
  }

  if (ctx.channel) {
    const onMessage = (event) => {
      if (event.data && event.data.type === "account-added" && !document.querySelector("dialog[open]")) load().catch(() => {});
    };
    ctx.channel.addEventListener("message", onMessage);
    ctx.onCleanup(() => ctx.channel.removeEventListener("message", onMessage));
  }

  try {
    await load();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) throw err;
    list.replaceChildren(h("div", { class: "notice error", role: "alert" }, `Could not load the accounts: ${err.message}`));
  }
  ctx.every(20000, () => {
    if (!document.querySelector("dialog[open]")) load().catch(() => {});
  });
}
