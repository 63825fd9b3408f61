// The HTML report: one self-contained page (inline SVG and CSS, no script): speedup against
// sequence length (bound and estimate), density per head, a picture of the block mask per
// head, the numbers in tables, and the assumptions and device sources.
import type { HeadReport, LengthReport, PatternReport, SimulationReport } from "../schema.js";
import { ms, percent, SUMMARY_HEADER, summaryCells, tokens } from "./format.js";
import { barChart, escapeXml as esc, heatMap, lineChart, PALETTE, type Series } from "./svg.js";

const CSS = `body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}
.maps{display:flex;flex-wrap:wrap;gap:14px}.maps svg{border:1px solid #999}.maps figure{margin:0;font-size:12px;text-align:center}
.legend span{display:inline-block;margin-right:16px;font-size:12px}.legend i{display:inline-block;width:18px;height:10px;margin-right:4px;vertical-align:middle}
.note{color:#555;font-size:13px}ul{font-size:13px}`;

function table(header: string[], rows: string[][]): string {
  return `<table><tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</table>`;
}

function speedupChart(r: SimulationReport): string {
  const series: Series[] = [];
  r.patterns.forEach((p, i) => {
    const color = PALETTE[i % PALETTE.length];
    series.push({ name: `${p.pattern} estimate`, color, points: p.lengths.map((l) => [l.seqLen, l.speedupEstimate]) });
    series.push({ name: `${p.pattern} bound`, color, dashed: true, points: p.lengths.map((l) => [l.seqLen, l.speedupBound]) });
  });
  const legend = r.patterns.map((p, i) => `<span><i style="background:${PALETTE[i % PALETTE.length]}"></i>${esc(p.pattern)}</span>`).join("");
  return `<div class="legend">${legend}<span>solid: estimate, dashed: bound</span></div>${lineChart(series, { width: 720, height: 320, xLabel: "sequence length", yLabel: "speedup over dense", xTick: tokens })}`;
}

/** Heads with the same picture share one figure. */
function groupHeads(heads: HeadReport[]): { label: string; head: HeadReport }[] {
  const groups = new Map<string, { ids: number[]; head: HeadReport }>();
  for (const h of heads) {
    if (!h.map) continue;
    const key = JSON.stringify([h.map.full, h.map.partial]);
    const g = groups.get(key);
    if (g) g.ids.push(h.head);
    else groups.set(key, { ids: [h.head], head: h });
  }
  return [...groups.values()].map((g) => ({ label: g.ids.length === 1 ? `head ${g.ids[0]}` : g.ids.length === heads.length ? `all ${heads.length} heads` : `heads ${g.ids.join(", ")}`, head: g.head }));
}

function maps(l: LengthReport): string {
  const figures = groupHeads(l.heads).map(({ label, head }) => `<figure>${heatMap(head.map!, 220)}<figcaption>${esc(label)}: ${percent(head.tileDensity)} of tiles</figcaption></figure>`);
  return `<div class="legend"><span><i style="background:rgb(31,78,156)"></i>full tiles</span><span><i style="background:rgb(242,142,43)"></i>partial tiles</span><span>white: empty; query blocks down, key blocks across, ${l.heads[0]?.map?.rows ?? 0} x ${l.heads[0]?.map?.cols ?? 0} cells</span></div><div class="maps">${figures.join("")}</div>`;
}

function densityChart(l: LengthReport): string {
  const labels = l.heads.map((h) => String(h.head));
  return barChart(labels, [
    { name: "token density", color: PALETTE[0], values: l.heads.map((h) => h.tokenDensity) },
    { name: "tile density", color: PALETTE[9], values: l.heads.map((h) => h.tileDensity) },
  ], { width: Math.min(1100, 120 + 40 * labels.length), height: 200 });
}

function details(p: PatternReport): string {
  const rows = p.lengths.map((l) => [
    tokens(l.seqLen),
    ms(l.timeMs.denseRoofline),
    ms(l.timeMs.sparseRoofline),
    ms(l.timeMs.dense),
    ms(l.timeMs.sparse),
    ms(l.timeMs.indexBuild),
    `${(l.flops.sparse / 1e12).toPrecision(3)} / ${(l.flops.dense / 1e12).toPrecision(3)}`,
    `${(l.bytes.sparse / 1e9).toPrecision(3)} / ${(l.bytes.dense / 1e9).toPrecision(3)}`,
    l.schedule.waves.toFixed(2),
    percent(l.schedule.smUtilization),
    l.schedule.loadImbalance.toFixed(2),
  ]);
  return table(["N", "dense roofline ms", "sparse roofline ms", "dense est. ms", "sparse est. ms", "index build ms", "TFLOP sparse / dense", "GB sparse / dense", "waves", "SM busy", "slowest CTA / mean"], rows);
}

function patternSection(p: PatternReport, color: string): string {
  const last = p.lengths[p.lengths.length - 1];
  const pictured = p.lengths.find((l) => l.heads.some((h) => h.map));
  const params = Object.entries(p.params).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ");
  return [
    `<h2 style="color:${color}">${esc(p.pattern)}</h2>`,
    `<p class="note">${esc(p.file)}${params ? `; ${esc(params)}` : ""}; ${p.heads} heads (${p.kvHeads} for K and V); ${esc(p.data === "positional" ? "positional" : p.data === "synthetic" ? "data-dependent, on synthetic Q and K" : "data-dependent, on the given Q and K")}${p.layoutTransform ? `; kernel order: ${esc(p.layoutTransform)}` : ""}.</p>`,
    pictured ? `<h3>Block mask at N = ${tokens(pictured.seqLen)} (sequence order)</h3>${maps(pictured)}` : "",
    `<h3>Density per head at N = ${tokens(last.seqLen)}</h3><div class="legend"><span><i style="background:${PALETTE[0]}"></i>token density</span><span><i style="background:${PALETTE[9]}"></i>tile density</span></div>${densityChart(last)}`,
    `<h3>Times and work</h3>${details(p)}`,
  ].join("\n");
}

export function renderHtml(r: SimulationReport): string {
  const summary = table(SUMMARY_HEADER, r.patterns.flatMap((p) => p.lengths.map((l) => summaryCells(p, l))));
  const sources = Object.entries(r.device.sources).map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v)}</li>`).join("");
  const title = `spattn simulate: ${r.patterns.map((p) => p.pattern).join(", ")}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>
<h1>${esc(title)}</h1>
<p class="note">${esc(r.device.name)}: ${esc(r.device.description)}. D = ${r.settings.dim}, Dv = ${r.settings.dimV}, tiles ${r.settings.blockQ} x ${r.settings.blockK}. Speedups are over dense attention on the same device model; ~ marks a sampled count.</p>
<h2>Speedup against sequence length</h2>
${speedupChart(r)}
<h2>Summary</h2>
${summary}
${r.patterns.map((p, i) => patternSection(p, PALETTE[i % PALETTE.length])).join("\n")}
<h2>Assumptions</h2>
<ul>${r.assumptions.map((a) => `<li>${esc(a)}</li>`).join("")}</ul>
<h3>Device model sources</h3>
<ul>${sources}</ul>
<p class="note">${esc(r.generator)}, schema ${esc(r.schema)}.</p>
</body></html>
`;
}

