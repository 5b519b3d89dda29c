// Request log: newest first, filters, "load more" (before_id), auto-refresh, detail view.

import { get, query } from "./api.js";
import { badge, busy, checkbox, field, fmtFull, fmtMs, fmtNum, fmtTime, h, modal } from "./dom.js";

const PROTOCOLS = [["", "All protocols"], ["gemini", "Gemini"], ["openai", "OpenAI"], ["anthropic", "Anthropic"]];
const PAGE = 50;

function statusBadge(status) {
  if (!status) return badge("—", "");
  return badge(String(status), status >= 500 ? "danger" : status >= 400 ? "warn" : "ok");
}

function tokens(r) {
  return h(
    "span",
    { class: "nowrap", title: `${r.input_tokens} input, ${r.output_tokens} output, ${r.cached_tokens} cached` },
    `${fmtNum(r.input_tokens)} / ${fmtNum(r.output_tokens)}`,
    r.cached_tokens ? h("span", { class: "muted" }, ` (${fmtNum(r.cached_tokens)} cached)`) : null,
  );
}

function bodyView(text) {
  if (text === null || text === undefined || text === "") return h("p", { class: "muted" }, "Not captured (turn on body capture in Settings to keep bodies).");
  let shown = String(text);
  try {
    shown = JSON.stringify(JSON.parse(shown), null, 2);
  } catch {
    /* not JSON (a stream): show as is */
  }
  return h("pre", { class: "body", tabindex: "0" }, shown);
}

async function openDetail(id) {
  const m = modal(`Request #${id}`, { wide: true });
  m.foot.append(h("button", { type: "button", onclick: m.close }, "Close"));
  m.body.append(h("p", { class: "muted" }, "Loading…"));
  try {
    const r = await get(`/api/logs/${id}`);
    const rows = [
      ["Time", fmtFull(r.ts)],
      ["Status", statusBadge(r.status)],
      ["Protocol", r.protocol],
      ["Path", h("span", { class: "mono" }, r.path)],
      ["Model asked", r.model || "–"],
      ["Model sent upstream", r.upstream_model || "–"],
      ["Account", r.account_email || r.account_id || "–"],
      ["Key", r.key_name || "the gateway's own key, or none"],
      ["Streamed", r.stream ? "yes" : "no"],
      ["Attempts", String(r.attempts ?? "–")],
      ["Duration", fmtMs(r.duration_ms)],
      ["Time to first byte", fmtMs(r.ttfb_ms)],
      ["Input tokens", fmtNum(r.input_tokens)],
      ["Output tokens", fmtNum(r.output_tokens)],
      ["Cached tokens", fmtNum(r.cached_tokens)],
    ];
    if (r.error) rows.push(["Error", h("span", { class: "error-text" }, r.error)]);
    m.body.replaceChildren(
      h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h3", {}, "Request body"),
      bodyView(r.request_body),
      h("h3", {}, "Response body"),
      bodyView(r.response_body),
    );
  } catch (err) {
    m.body.replaceChildren(h("p", { class: "error-text", role: "alert" }, err.message));
  }
}

export async function render(root, ctx) {
  let items = [];
  let nextBefore = null;
  const accounts = await get("/api/accounts").catch(() => []);

  const model = h("input", { type: "search", placeholder: "any model", spellcheck: "false" });
  const account = h("select", {}, h("option", { value: "" }, "All accounts"), accounts.map((a) => h("option", { value: a.email }, a.email)));
  const protocol = h("select", {}, PROTOCOLS.map(([v, l]) => h("option", { value: v }, l)));
  const errors = checkbox("Errors only", false);
  const auto = checkbox("Auto-refresh", false);
  const refreshButton = h("button", { type: "button" }, "Refresh");
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const tbody = h("tbody");
  const summary = h("span", { class: "muted small", "aria-live": "polite" });

  function filters() {
    return { model: model.value.trim(), account: account.value, protocol: protocol.value, errors_only: errors.input.checked ? "true" : "" };
  }

  function row(r) {
    const open = () => openDetail(r.id);
    const model = r.upstream_model && r.upstream_model !== r.model ? [r.model || "–", h("span", { class: "sub" }, `→ ${r.upstream_model}`)] : r.model || "–";
    return h(
      "tr",
      {
        class: ["clickable", r.status >= 400 && "error-row"], tabindex: "0", dataset: { id: String(r.id) },
        "aria-label": `Request ${r.id}: ${r.model || "no model"}, status ${r.status}; open details`,
        onclick: open,
        onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } },
      },
      h("td", { class: "nowrap", title: fmtFull(r.ts) }, fmtTime(r.ts)),
      h("td", {}, statusBadge(r.status)),
      h("td", {}, r.protocol, r.stream ? h("span", { class: "sub" }, "stream") : null),
      h("td", {}, model),
      h("td", {}, r.account_email || h("span", { class: "muted" }, "–"), r.key_name ? h("span", { class: "sub" }, `key ${r.key_name}`) : null),
      h("td", { class: "num" }, tokens(r)),
      h("td", { class: "num nowrap" }, fmtMs(r.duration_ms), r.ttfb_ms !== null && r.ttfb_ms !== undefined ? h("span", { class: "sub" }, `first byte ${fmtMs(r.ttfb_ms)}`) : null),
      h("td", { class: "small" }, r.error ? h("span", { class: "error-text", title: r.error }, r.error.length > 80 ? `${r.error.slice(0, 80)}…` : r.error) : ""),
    );
  }

  function draw() {
    tbody.replaceChildren(...(items.length ? items.map(row) : [h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No requests yet."))]));
    more.hidden = !nextBefore;
    summary.textContent = items.length ? `${items.length} request${items.length === 1 ? "" : "s"} shown` : "";
  }

  async function reload() {
    const data = await get(`/api/logs${query({ limit: PAGE, ...filters() })}`);
    items = data.items;
    nextBefore = data.next_before_id;
    draw();
  }

  async function refreshNewest() {
    const data = await get(`/api/logs${query({ limit: PAGE, ...filters() })}`);
    const newestKnown = items.length ? items[0].id : 0;
    const fresh = data.items.filter((r) => r.id > newestKnown);
    if (fresh.length === data.items.length) {
      items = data.items;
      nextBefore = data.next_before_id;
    } else if (fresh.length) {
      items = [...fresh, ...items];
    } else return;
    draw();
  }

  let timer = null;
  for (const el of [account, protocol, errors.input]) el.addEventListener("change", () => reload().catch(() => {}));
  model.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => reload().catch(() => {}), 300);
  });
  refreshButton.addEventListener("click", () => busy(refreshButton, reload));
  more.addEventListener("click", () =>
    busy(more, async () => {
      const data = await get(`/api/logs${query({ limit: PAGE, before_id: nextBefore, ...filters() })}`);
      items = items.concat(data.items);
      nextBefore = data.next_before_id;
      draw();
    }),
  );
  ctx.every(3000, () => {
    if (auto.input.checked) refreshNewest().catch(() => {});
  });
  ctx.onCleanup(() => clearTimeout(timer));

  root.append(
    h("div", { class: "page-head" }, h("h1", {}, "Request log"), h("div", { class: "actions" }, auto.el, refreshButton)),
    h(
      "section",
      { class: "card", "aria-label": "Filters" },
      h("div", { class: "filters" }, field("Model", model), field("Account", account), field("Protocol", protocol), h("div", { class: "field" }, errors.el)),
    ),
    h(
      "section",
      { class: "card", "aria-label": "Requests" },
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { "aria-label": "Requests, newest first" },
          h("thead", {}, h("tr", {}, ["Time", "Status", "Protocol", "Model", "Account", "Tokens in / out", "Duration", "Error"].map((c, i) => h("th", { scope: "col", class: i === 5 || i === 6 ? "num" : "" }, c)))),
          tbody,
        ),
      ),
      h("div", { class: "row", style: { "margin-top": "10px" } }, more, summary),
    ),
  );
  await reload();
}
