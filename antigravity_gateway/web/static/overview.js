// Overview: accounts, quota at a glance, requests and errors over the last 24 hours.

import { get } from "./api.js";
import { barChart, fillBuckets, hourLabel } from "./charts.js";
import { badge, bar, fmtCompact, fmtNum, h, pct } from "./dom.js";
import { STATUS, modeLabel, quotaGroups } from "./accounts.js";

function stat(label, value, sub) {
  return h("div", { class: "card stat" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

export async function render(root, ctx) {
  const head = h("div", { class: "page-head" }, h("h1", {}, "Overview"));
  const body = h("div", { class: "stack" });
  root.append(head, body);

  async function load() {
    const [data, accounts] = await Promise.all([get("/api/overview"), get("/api/accounts")]);
    const a = data.accounts;
    const last = data.last_24h;
    const shared = data.store && data.store.backend === "redis";
    const where = shared ? `, host ${data.host}` : "";
    const errorRate = last.requests ? `${((100 * last.errors) / last.requests).toFixed(1)}% of requests` : "no requests yet";
    const statusChips = Object.entries(a.by_status || {}).map(([status, n]) => {
      const info = STATUS[status] || { label: status, kind: "" };
      return badge(`${info.label}: ${n}`, info.kind, true);
    });
    const stats = h(
      "section",
      { class: "stats", "aria-label": "Summary" },
      stat("Accounts usable", `${a.usable} / ${a.total}`, statusChips.length ? h("div", { class: "chips" }, statusChips) : "no accounts yet"),
      stat(`Requests (24 h${where})`, fmtNum(last.requests), `${fmtCompact(last.input_tokens)} in · ${fmtCompact(last.output_tokens)} out · ${fmtCompact(last.cached_tokens)} cached tokens`),
      stat(`Errors (24 h${where})`, fmtNum(last.errors), errorRate),
      stat("Scheduling", modeLabel(data.scheduling_mode), h("a", { href: "#/settings" }, "Change")),
    );

    const rows = fillBuckets(data.series || [], 3600, 24);
    const chart = h(
      "section",
      { class: "card", "aria-labelledby": "ov-chart" },
      h("div", { class: "card-head" }, h("h2", { id: "ov-chart" }, "Requests, last 24 hours"), h("a", { href: "#/usage", class: "small" }, "Usage details")),
      barChart(rows, {
        title: `Requests per hour over the last 24 hours: ${last.requests} requests, ${last.errors} errors`,
        series: [
          { key: "requests", label: "Requests", cls: "s1" },
          { key: "errors", label: "Errors", cls: "s2" },
        ],
        overlay: true,
        label: hourLabel,
        every: 3,
      }),
    );

    const quotaRows = accounts.map((acc) => {
      const info = STATUS[acc.status] || { label: acc.status, kind: "" };
      const groups = quotaGroups(acc.quota.models || []);
      return h(
        "tr",
        {},
        h("td", {}, h("a", { href: "#/accounts" }, acc.email), acc.label ? h("span", { class: "sub" }, acc.label) : null),
        h("td", {}, badge(info.label, info.kind, true), acc.cooldowns.length ? h("span", { class: "sub" }, `${acc.cooldowns.length} cooling down`) : null),
        h(
          "td",
          {},
          groups.length
            ? h(
                "div",
                { class: "mini-bars" },
                groups.map((g) =>
                  h(
                    "div",
                    { class: "mini", title: `${g.name}: lowest of ${g.count} model(s)` },
                    h("div", { class: "mini-label" }, h("span", {}, g.name), h("span", {}, pct(g.remaining))),
                    bar(g.remaining, `${acc.email} ${g.name} quota`),
                  ),
                ),
              )
            : h("span", { class: "muted small" }, "no quota data yet"),
        ),
      );
    });
    const quota = h(
      "section",
      { class: "card", "aria-labelledby": "ov-quota" },
      h("div", { class: "card-head" }, h("h2", { id: "ov-quota" }, "Quota at a glance"), h("a", { href: "#/accounts", class: "small" }, "All accounts")),
      accounts.length
        ? h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              {},
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Account"), h("th", { scope: "col" }, "Status"), h("th", { scope: "col" }, "Quota left by model family"))),
              h("tbody", {}, quotaRows),
            ),
          )
        : h("p", { class: "empty" }, "No accounts yet. ", h("a", { href: "#/accounts" }, "Add one"), "."),
    );
    const notices = [];
    if (data.store && !data.store.ok) {
      notices.push(
        h("div", { class: "notice error", role: "alert" },
          `The shared store (Redis at ${data.store.url}) is unreachable: ${data.store.error || "no answer"}. `,
          "This host serves from memory; token refreshes and account changes fail until it is back."),
      );
    }
    if (shared) {
      notices.push(h("p", { class: "muted small" }, `Accounts, cooldowns and settings are shared through Redis; requests and usage are this host's (${data.host}).`));
    }
    body.replaceChildren(...notices, stats, chart, quota);
  }

  await load();
  ctx.every(15000, () => load().catch(() => {}));
}
