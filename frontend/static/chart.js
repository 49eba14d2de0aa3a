// A response-time chart drawn in SVG: latency of each check over time,
// failed checks marked in red along the bottom.

import { latency, when } from "./format.js";

const ns = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const e = document.createElementNS(ns, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

/** Draws checks (newest first, as the API returns them) into container. */
export function drawChart(container, checks) {
  container.replaceChildren();
  if (checks.length === 0) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No checks yet.";
    container.appendChild(p);
    return;
  }
  const points = [...checks].reverse();
  const width = 640, height = 200, left = 48, right = 8, top = 10, bottom = 24;
  const maxMs = Math.max(1, ...points.filter((c) => c.up).map((c) => c.latency_ms));
  const x = (i) => left + (points.length === 1 ? 0 : (i / (points.length - 1)) * (width - left - right));
  const y = (ms) => top + (1 - ms / maxMs) * (height - top - bottom);

  const svg = el("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `Response times of the last ${points.length} checks; slowest ${latency(maxMs)}`,
  });
  el("line", { x1: left, y1: y(0), x2: width - right, y2: y(0), class: "axis" }, svg);
  el("line", { x1: left, y1: y(maxMs), x2: width - right, y2: y(maxMs), class: "grid" }, svg);
  el("text", { x: left - 6, y: y(maxMs) + 4, class: "label", "text-anchor": "end" }, svg).textContent = latency(maxMs);
  el("text", { x: left - 6, y: y(0) + 4, class: "label", "text-anchor": "end" }, svg).textContent = "0";
  el("text", { x: left, y: height - 6, class: "label" }, svg).textContent = when(new Date(points[0].checked_at));
  el("text", { x: width - right, y: height - 6, class: "label", "text-anchor": "end" }, svg).textContent =
    when(new Date(points[points.length - 1].checked_at));

  const line = points.map((c, i) => (c.up ? `${x(i)},${y(c.latency_ms)}` : null)).filter(Boolean);
  if (line.length > 1) el("polyline", { points: line.join(" "), class: "line" }, svg);
  points.forEach((c, i) => {
    const dot = c.up
      ? el("circle", { cx: x(i), cy: y(c.latency_ms), r: 2.5, class: "dot up" }, svg)
      : el("circle", { cx: x(i), cy: y(0), r: 4, class: "dot down" }, svg);
    el("title", {}, dot).textContent = describe(c);
  });
  container.appendChild(svg);
}

/** One check, for a tooltip. */
export function describe(c) {
  const parts = [when(new Date(c.checked_at)), c.up ? "up" : "down"];
  if (c.status_code) parts.push(`HTTP ${c.status_code}`);
  if (c.reason && !(c.status_code && c.reason === `HTTP ${c.status_code}`)) parts.push(c.reason);
  parts.push(latency(c.latency_ms));
  return parts.join(" · ");
}
