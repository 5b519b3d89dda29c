// Usage: requests and tokens per hour or day (inline SVG), totals by model and by account.

import { get, query } from "./api.js";
import { barChart, dayLabel, fillBuckets, hourLabel } from "./charts.js";
import { fmtAgo, fmtCompact, fmtFull, fmtNum, h } from "./dom.js";

const RANGES = [
  { id: "24h", label: "Last 24 hours, by hour", period: "hour", hours: 24, width: 3600, count: 24, every: 3 },
  { id: "48h", label: "Last 48 hours, by hour", period: "hour", hours: 48, width: 3600, count: 48, every: 6 },
  { id: "7d", label: "Last 7 days, by day", period: "day", hours: 168, width: 86400, count: 7, every: 1 },
  { id: "30d", label: "Last 30 days, by day", period: "day", hours: 720, width: 86400, count: 30, every: 5 },
];

// The admin API groups requests that have no model (model lists, errors before routing) or no
// account under this key: shown as such in the tables, not counted as a model or an account.
const NONE = "(none)";

function counted(n, one, many) {
  return `${fmtNum(n)} ${Number(n) === 1 ? one : many}`;
}

function stat(label, value, sub) {
  return h("div", { class: "card stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

function breakdown(title, keyLabel, rows, noneLabel, { lastUse = false } = {}) {
  const total = rows.reduce((a, r) => a + r.requests, 0) || 1;
  const id = `usage-${keyLabel.toLowerCase().replace(/\W+/g, "-")}`;
  const columns = [keyLabel, "Requests", "Errors", "Input", "Output", "Cached", "Share", ...(lastUse ? ["Last use"] : [])];
  return h(
    "section",
    { class: "card", "aria-labelledby": id },
    h("h2", { id }, title),
    rows.length
      ? h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { scope: "col", class: i ? "num" : "" }, c)))),
            h(
              "tbody",
              {},
              rows.map((r) =>
                h(
                  "tr",
                  {},
                  h("td", {}, r.key === NONE ? h("span", { class: "sub" }, noneLabel) : r.key),
                  h("td", { class: "num" }, fmtNum(r.requests)),
                  h("td", { class: "num" }, fmtNum(r.errors)),
                  h("td", { class: "num" }, fmtNum(r.input_tokens)),
                  h("td", { class: "num" }, fmtNum(r.output_tokens)),
                  h("td", { class: "num" }, fmtNum(r.cached_tokens)),
                  h("td", { class: "num" }, `${Math.round((100 * r.requests) / total)}%`),
                  lastUse ? h("td", { class: "num nowrap", title: r.last_ts ? fmtFull(r.last_ts) : "" }, fmtAgo(r.last_ts)) : null,
                ),
              ),
            ),
          ),
        )
      : h("p", { class: "empty" }, "No requests in this period."),
  );
}

export async function render(root, ctx) {
  const select = h("select", { "aria-label": "Period" }, RANGES.map((r) => h("option", { value: r.id }, r.label)));
  const initial = RANGES.find((r) => r.id === ctx.params.get("range")) || RANGES[0];
  select.value = initial.id;
  const body = h("div", { class: "stack" });
  root.append(h("div", { class: "page-head" }, h("h1", {}, "Usage"), h("div", { class: "actions" }, select)), body);

  async function load() {
    const range = RANGES.find((r) => r.id === select.value) || RANGES[0];
    const data = await get(`/api/stats${query({ period: range.period, hours: range.hours })}`);
    const rows = fillBuckets(data.series || [], range.width, range.count);
    const sum = (k) => (data.series || []).reduce((a, r) => a + Number(r[k] || 0), 0);
    const label = range.period === "hour" ? hourLabel : dayLabel;
    const requests = sum("requests");
    body.replaceChildren(
      h(
        "section",
        { class: "stats", "aria-label": "Totals" },
        stat("Requests", fmtNum(requests), counted(sum("errors"), "error", "errors")),
        stat("Input tokens", fmtCompact(sum("input_tokens")), `${fmtCompact(sum("cached_tokens"))} of them cached`),
        stat("Output tokens", fmtCompact(sum("output_tokens"))),
        stat(
          "Models used",
          fmtNum((data.by_model || []).filter((r) => r.key !== NONE).length),
          counted((data.by_account || []).filter((r) => r.key !== NONE).length, "account", "accounts"),
        ),
      ),
      h(
        "div",
        { class: "grid-2" },
        h(
          "section",
          { class: "card", "aria-labelledby": "usage-req" },
          h("h2", { id: "usage-req" }, "Requests"),
          barChart(rows, {
            title: `Requests per ${range.period}: ${requests} in total`,
            series: [{ key: "requests", label: "Requests", cls: "s1" }, { key: "errors", label: "Errors", cls: "s2" }],
            overlay: true, label, every: range.every, width: 480, height: 200,
          }),
        ),
        h(
          "section",
          { class: "card", "aria-labelledby": "usage-tok" },
          h("h2", { id: "usage-tok" }, "Tokens"),
          barChart(rows, {
            title: `Tokens per ${range.period}`,
            series: [
              { key: "input_tokens", label: "Input", cls: "s1" },
              { key: "output_tokens", label: "Output", cls: "s3" },
              { key: "cached_tokens", label: "Cached", cls: "s4" },
            ],
            label, every: range.every, width: 480, height: 200,
          }),
        ),
      ),
      breakdown("By model", "Model", data.by_model || [], "no model (model lists, refused requests)"),
      breakdown("By account", "Account", data.by_account || [], "no account (model lists, refused requests)"),
      breakdown("By key", "Key", data.by_key || [], "the gateway's own key, or no key", { lastUse: true }),
    );
  }

  select.addEventListener("change", () => load().catch(() => {}));
  await load();
  ctx.every(30000, () => load().catch(() => {}));
}
