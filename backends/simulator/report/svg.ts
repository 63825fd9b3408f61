// Small inline-SVG charts for the HTML report: no chart library, no script, so a report is one
// self-contained file that renders the same in any browser (and in a screenshot test).
import type { BlockMap } from "../counts.js";

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** Distinct colours for patterns (and the two bars of the density chart). */
export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e"];
/** Heat-map colours: full tiles blue, partial tiles orange, empty white. */
export const FULL_RGB = [31, 78, 156];
export const PARTIAL_RGB = [242, 142, 43];

const num = (x: number): string => (Math.round(x * 10) / 10).toString();

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

/** log-log line chart (x: sequence length, y: speedup), ticks at powers of two and ten. */
export function lineChart(series: Series[], o: { width: number; height: number; xLabel: string; yLabel: string; xTick: (x: number) => string }): string {
  const pad = { l: 56, r: 16, t: 12, b: 40 };
  const all = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  if (all.length === 0) return `<svg width="${o.width}" height="${o.height}" role="img"><text x="10" y="20">no data</text></svg>`;
  const lx = all.map(([x]) => Math.log2(x));
  const ly = all.map(([, y]) => Math.log10(y));
  let [x0, x1] = [Math.min(...lx), Math.max(...lx)];
  let [y0, y1] = [Math.floor(Math.min(...ly, 0)), Math.ceil(Math.max(...ly))];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) y1 = y0 + 1;
  const W = o.width - pad.l - pad.r;
  const H = o.height - pad.t - pad.b;
  const px = (x: number): number => pad.l + ((Math.log2(x) - x0) / (x1 - x0)) * W;
  const py = (y: number): number => pad.t + H - ((Math.log10(y) - y0) / (y1 - y0)) * H;
  const parts: string[] = [];
  parts.push(`<rect x="${pad.l}" y="${pad.t}" width="${W}" height="${H}" fill="#fff" stroke="#ccc"/>`);
  for (let e = y0; e <= y1; e++) {
    const y = py(10 ** e);
    parts.push(`<line x1="${pad.l}" x2="${pad.l + W}" y1="${num(y)}" y2="${num(y)}" stroke="#eee"/><text x="${pad.l - 6}" y="${num(y + 4)}" text-anchor="end" font-size="11">${10 ** e}x</text>`);
  }
  const xs = [...new Set(all.map(([x]) => x))].sort((a, b) => a - b);
  for (const x of xs) parts.push(`<text x="${num(px(x))}" y="${pad.t + H + 16}" text-anchor="middle" font-size="11">${escapeXml(o.xTick(x))}</text>`);
  parts.push(`<text x="${pad.l + W / 2}" y="${o.height - 6}" text-anchor="middle" font-size="12">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text x="14" y="${pad.t + H / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${pad.t + H / 2})">${escapeXml(o.yLabel)}</text>`);
  for (const s of series) {
    const pts = s.points.filter(([x, y]) => x > 0 && y > 0);
    if (pts.length > 1) parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ""} points="${pts.map(([x, y]) => `${num(px(x))},${num(py(y))}`).join(" ")}"/>`);
    for (const [x, y] of pts) parts.push(`<circle cx="${num(px(x))}" cy="${num(py(y))}" r="4" fill="${s.dashed ? "#fff" : s.color}" stroke="${s.color}" stroke-width="2"><title>${escapeXml(`${s.name}: ${y.toPrecision(3)}x at ${o.xTick(x)}`)}</title></circle>`);
  }
  return `<svg width="${o.width}" height="${o.height}" viewBox="0 0 ${o.width} ${o.height}" role="img" font-family="sans-serif">${parts.join("")}</svg>`;
}

/** Grouped bars (one group per label), values in [0, 1] drawn on a square-root scale. */
export function barChart(labels: string[], bars: { name: string; color: string; values: number[] }[], o: { width: number; height: number }): string {
  const pad = { l: 48, r: 8, t: 10, b: 28 };
  const W = o.width - pad.l - pad.r;
  const H = o.height - pad.t - pad.b;
  const max = Math.max(1e-9, ...bars.flatMap((b) => b.values));
  const top = Math.min(1, Math.sqrt(max) * 1.05);
  const py = (v: number): number => pad.t + H - (Math.sqrt(v) / top) * H;
  const group = W / Math.max(1, labels.length);
  const bw = Math.max(1, (group * 0.8) / bars.length);
  const parts = [`<rect x="${pad.l}" y="${pad.t}" width="${W}" height="${H}" fill="#fff" stroke="#ccc"/>`];
  for (const t of [0.01, 0.1, 0.25, 0.5, 1]) {
    if (Math.sqrt(t) > top) continue;
    parts.push(`<line x1="${pad.l}" x2="${pad.l + W}" y1="${num(py(t))}" y2="${num(py(t))}" stroke="#eee"/><text x="${pad.l - 4}" y="${num(py(t) + 4)}" text-anchor="end" font-size="10">${t * 100}%</text>`);
  }
  labels.forEach((label, i) => {
    bars.forEach((b, j) => {
      const x = pad.l + i * group + group * 0.1 + j * bw;
      const y = py(b.values[i]);
      parts.push(`<rect x="${num(x)}" y="${num(y)}" width="${num(bw)}" height="${num(pad.t + H - y)}" fill="${b.color}"><title>${escapeXml(`${b.name}, ${label}: ${(b.values[i] * 100).toPrecision(3)}%`)}</title></rect>`);
    });
    if (labels.length <= 32 || i % Math.ceil(labels.length / 32) === 0) parts.push(`<text x="${num(pad.l + (i + 0.5) * group)}" y="${pad.t + H + 14}" text-anchor="middle" font-size="10">${escapeXml(label)}</text>`);
  });
  return `<svg width="${o.width}" height="${o.height}" viewBox="0 0 ${o.width} ${o.height}" role="img" font-family="sans-serif">${parts.join("")}</svg>`;
}

/** A block-mask picture: a cell's colour mixes white with blue (full) and orange (partial). */
export function heatMap(m: BlockMap, size: number): string {
  const cw = size / m.cols;
  const ch = size / m.rows;
  const parts = [`<rect width="${size}" height="${size}" fill="#fff"/>`];
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      const f = m.full[r * m.cols + c];
      const p = m.partial[r * m.cols + c];
      const v = f + p;
      if (v <= 0) continue;
      // sqrt keeps a thin diagonal (a few tiles in a cell) visible; the hue says full or partial.
      const a = Math.min(1, 0.15 + 0.85 * Math.sqrt(v));
      const mix = (i: number): number => Math.round(255 + a * (((f * FULL_RGB[i] + p * PARTIAL_RGB[i]) / v) - 255));
      parts.push(`<rect x="${num(c * cw)}" y="${num(r * ch)}" width="${num(cw + 0.05)}" height="${num(ch + 0.05)}" fill="rgb(${mix(0)},${mix(1)},${mix(2)})"/>`);
    }
  }
  return `<svg width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" shape-rendering="crispEdges">${parts.join("")}</svg>`;
}
