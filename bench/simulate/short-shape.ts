// Predicted against measured for the sm_90a kernel's 64-row CTAs (bench v12): every case the
// launch runs in that shape among those v12 timed, through `simulate` with the h100 model. The
// model's three short-shape costs were fitted to these cases (devices/h100.json).
//
//   npx tsx bench/simulate/short-shape.ts   (writes bench/results/simulator/short_shape.{json,md})
import { readFileSync, writeFileSync } from "node:fs";
import { loadDevice } from "../../backends/simulator/device.js";
import { randomBlocks } from "./heldout-cases.js";
import { loadBench, median, round, simulateCase } from "./measured.js";

// The launch's default shape against forced 128-row CTAs, two rounds (`ours` is the attention alone).
const SHAPES = "bench/results/cuda/v12/verify/shapes_ab.txt";
// The benchmark run: block top-k at its default 4 blocks.
const BENCH = "bench/results/cuda/v12/bench/cuda_bench.json";
const OUT = "bench/results/simulator";

/** Medians over rounds of `label`'s times per case, from an A/B log's lines. */
function abTimes(path: string, label: string): Map<string, number> {
  const times = new Map<string, number[]>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^round \d+ (\S+): (\S+)\s+ours\s+([\d.]+) ms/.exec(line);
    if (m && m[1] === label) times.set(m[2], [...(times.get(m[2]) ?? []), Number(m[3])]);
  }
  return new Map([...times].map(([k, v]) => [k, median(v)]));
}

const random = (pct: number, n: number) => ({ example: "bigbird", set: randomBlocks(n, pct), n });
const CASES: { tag: string; example: string; set: Record<string, string>; n: number }[] = [
  { tag: "random2.5pct_n8192", ...random(2.5, 8192) },
  { tag: "random5pct_n8192", ...random(5, 8192) },
  { tag: "random10pct_n8192", ...random(10, 8192) },
  { tag: "swa256_n8192", example: "sliding_window", set: { window: "256" }, n: 8192 },
  { tag: "block_topk_dyn_n8192", example: "block_topk", set: {}, n: 8192 },
  { tag: "block_topk_dyn_n65536", example: "block_topk", set: {}, n: 65536 },
  { tag: "block_topk_dyn_k8_n65536", example: "block_topk", set: { topk: "8" }, n: 65536 },
  { tag: "block_topk_dyn_k16_n65536", example: "block_topk", set: { topk: "16" }, n: 65536 },
];

const ab = abTimes(SHAPES, "default");
const bench = loadBench(BENCH).byCase;
const device = loadDevice("h100");
const rows = CASES.map((c) => {
  const measured = ab.get(c.tag) ?? bench.get(c.tag)?.ours_ms;
  if (measured === undefined) throw new Error(`no measurement for ${c.tag} in ${SHAPES} or ${BENCH}`);
  const l = simulateCase(device, { ...c, heads: 16 });
  return { case: c.tag, ctaRows: l.schedule.ctaRows, measuredMs: round(measured), predictedMs: round(l.timeMs.sparse), relError: round((l.timeMs.sparse - measured) / measured) };
});
const errs = rows.map((r) => Math.abs(r.relError));
const summary = { device: device.name, measured: [SHAPES, BENCH], medianAbsRelError: round(median(errs)), maxAbsRelError: round(Math.max(...errs)), rows };
writeFileSync(`${OUT}/short_shape.json`, JSON.stringify(summary, null, 1) + "\n");
const md = [
  "# Simulator against the sm_90a kernel's 64-row CTAs (H100)",
  "",
  "`npx tsx bench/simulate/short-shape.ts`: `simulate` with the h100 model (16 heads, D = 128) on the cases bench v12 timed that the",
  `launch runs in 64-row CTAs, against \`${SHAPES}\` (the launch's default shape, median of two rounds) and \`${BENCH}\``,
  "(block top-k with 4 blocks kept). Attention alone, index building excluded. The model's three short-shape costs were fitted",
  "to these cases: this is a fit, not a check.",
  "",
  "| case | CTA rows | measured ms | predicted ms | error |",
  "| --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.case} | ${r.ctaRows} | ${r.measuredMs} | ${r.predictedMs} | ${(r.relError * 100).toFixed(1)}% |`),
  "",
  `Median absolute error ${(summary.medianAbsRelError * 100).toFixed(1)}%, largest ${(summary.maxAbsRelError * 100).toFixed(1)}%.`,
  "",
];
writeFileSync(`${OUT}/short_shape.md`, md.join("\n"));
console.log(md.join("\n"));
