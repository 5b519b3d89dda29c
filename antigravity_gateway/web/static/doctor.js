// Doctor: the checks of `agw doctor` (GET /api/doctor), each with what was found and the fix.

import { get } from "./api.js";
import { badge, busy, h, icon, tableEl } from "./dom.js";

const RESULT = {
  ok: { mark: "✓", label: "OK", kind: "ok" },
  warn: { mark: "!", label: "Warning", kind: "warn" },
  fail: { mark: "✗", label: "Failed", kind: "danger" },
};

function summary(data) {
  const failed = data.checks.filter((c) => c.status === "fail").length;
  const warned = data.checks.filter((c) => c.status === "warn").length;
  if (failed) return h("div", { class: "notice error", role: "status" }, `${failed} check(s) failed: the fix is next to each.`);
  if (warned) return h("div", { class: "notice warn", role: "status" }, `Everything works; ${warned} warning(s).`);
  return h("div", { class: "notice ok", role: "status" }, `All ${data.checks.length} checks passed.`);
}

export async function render(root) {
  const again = h("button", { type: "button" }, icon("refresh"), "Run again");
  const head = h("div", { class: "page-head" }, h("h1", {}, "Doctor"), h("div", { class: "actions" }, again));
  const intro = h(
    "p",
    { class: "muted" },
    "What ",
    h("code", {}, "agw doctor"),
    " checks: this machine, the port, who can reach the gateway, the OAuth clients, each account " +
      "(token refresh, email, project, a one-token countTokens, quota), the clock and the client version. " +
      "It asks Google, so it takes a few seconds.",
  );
  const body = h("div", { class: "stack" }, h("p", { class: "empty" }, "Running the checks…"));
  root.append(head, intro, body);

  async function load() {
    const data = await get("/api/doctor");
    const rows = data.checks.map((c) => {
      const result = RESULT[c.status] || { mark: "?", label: c.status, kind: "" };
      return h(
        "tr",
        { class: c.status === "fail" ? "error-row" : null, dataset: { status: c.status } },
        h("td", {}, badge(`${result.mark} ${result.label}`, result.kind)),
        h("th", { scope: "row" }, c.name),
        h("td", {}, c.detail),
        h("td", {}, c.status !== "ok" && c.fix ? c.fix : h("span", { class: "muted" }, "—")),
      );
    });
    body.replaceChildren(
      summary(data),
      h("section", { class: "card", "aria-label": "Checks" }, tableEl(["Result", "Check", "Found", "Fix"], rows, { class: "doctor" })),
    );
  }

  again.addEventListener("click", () => busy(again, load));
  await load();
}
