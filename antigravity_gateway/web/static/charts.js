// Inline SVG bar charts (no chart library). Colours come from CSS classes s1..s4.

import { fmtCompact, fmtNum, h, s } from "./dom.js";

/** Fill the missing buckets of a sparse series (bucket = epoch seconds at the start of the bucket). */
export function fillBuckets(series, width, count, end = Date.now() / 1000) {
  const byBucket = new Map(series.map((row) => [Number(row.bucket), row]));
  const last = Math.floor(end / width) * width;
  const out = [];
  for (let i = count - 1; i >= 0; i -= 1) {
    const bucket = last - i * width;
    out.push(byBucket.get(bucket) || { bucket });
  }
  return out;
}

/** The top of the axis: four gridline steps of a whole, round size (counts are never fractional). */
export function niceMax(value) {
  if (value <= 4) return 4;
  const quarter = value / 4;
  const pow = 10 ** Math.floor(Math.log10(quarter));
  for (const step of [1, 2, 2.5, 5, 10]) {
    const tick = step * pow;
    if (tick >= quarter && Number.isInteger(tick)) return 4 * tick;
  }
  return 40 * pow;
}

/**
 * barChart(rows, {series: [{key, label, cls}], label: bucket => text, overlay: true, title, height})
 * overlay: bars of every series drawn on top of each other from zero (for subsets: errors ⊂ requests);
 * otherwise bars of a bucket are grouped side by side.
 */
export function barChart(rows, opts) {
  const { series, label, overlay = false, title = "chart", height = 190, every = 1, width = 720 } = opts;
  const W = width;
  const H = height;
  const left = 44;
  const bottom = 22;
  const top = 8;
  const plotW = W - left - 6;
  const plotH = H - top - bottom;
  const max = niceMax(Math.max(0, ...rows.flatMap((r) => series.map((sr) => Number(r[sr.key] || 0)))));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  for (let i = 0; i <= 4; i += 1) {
    const y = top + plotH - (plotH * i) / 4;
    svg.append(s("line", { class: i === 0 ? "axis" : "grid", x1: left, x2: W - 6, y1: y, y2: y }));
    svg.append(s("text", { x: left - 6, y: y + 3, "text-anchor": "end", text: fmtCompact((max * i) / 4) }));
  }
  const slot = plotW / Math.max(rows.length, 1);
  const groupW = Math.max(2, slot * 0.72);
  rows.forEach((row, i) => {
    const x0 = left + i * slot + (slot - groupW) / 2;
    const tip = [label(row.bucket, true), ...series.map((sr) => `${sr.label}: ${fmtNum(row[sr.key] || 0)}`)].join("\n");
    const g = s("g", {}, s("title", { text: tip }));
    series.forEach((sr, j) => {
      const v = Number(row[sr.key] || 0);
      if (!v) return;
      const bh = Math.max(1, (plotH * v) / max);
      const bw = overlay ? groupW : groupW / series.length;
      const x = overlay ? x0 : x0 + j * bw;
      g.append(s("rect", { class: sr.cls, x, y: top + plotH - bh, width: Math.max(1, bw - (overlay ? 0 : 1)), height: bh, rx: 1.5 }));
    });
    // an invisible full-height target so the tooltip works on empty buckets too
    g.append(s("rect", { x: left + i * slot, y: top, width: slot, height: plotH, fill: "transparent" }));
    svg.append(g);
    if (i % every === 0) {
      svg.append(s("text", { x: x0 + groupW / 2, y: H - 6, "text-anchor": "middle", text: label(row.bucket, false) }));
    }
  });
  const legend = h(
    "div",
    { class: "legend" },
    series.map((sr) => h("span", {}, h("i", { class: sr.cls, "aria-hidden": "true" }), sr.label)),
  );
  return h("figure", { class: "chart-figure", style: { margin: "0" } }, svg, legend);
}

const hourFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const dayHourFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

export function hourLabel(bucket, long) {
  const d = new Date(bucket * 1000);
  return long ? dayHourFmt.format(d) : hourFmt.format(d);
}

export function dayLabel(bucket) {
  return dayFmt.format(new Date(bucket * 1000));
}
