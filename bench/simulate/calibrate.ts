// Predicted against measured: every case of the CUDA benchmark (bench/cuda/prepare.ts, measured
// in bench/results/cuda/v12/bench/cuda_bench.json on the lent H100) through `simulate` with the
// h100 model and the CUDA kernel's tiles. The measured speedup is SDPA's dense time over
// spattn's kernel time (index building included for the dynamic case), in the same run.
//
//   npx tsx bench/simulate/calibrate.ts   (writes bench/results/simulator/calibration.{json,md})
import { mkdirSync, writeFileSync } from "node:fs";
import { loadDevice } from "../../backends/simulator/device.js";
import { randomBlocks } from "./heldout-cases.js";
import { loadBench, median, round, simulateCase } from "./measured.js";

const MEASURED = "bench/results/cuda/v12/bench/cuda_bench.json";
const OUT = "bench/results/simulator";

const bench = loadBench(MEASURED);
const byCase = bench.byCase;

/** The benchmark's cases: example, parameters (as prepare.ts sets them) per sequence length. */
function cases(): { tag: string; example: string; set: Record<string, string>; n: number }[] {
  const out = [];
  for (const n of [8192, 32768, 65536]) {
    out.push({ tag: `causal_n${n}`, example: "causal", set: {}, n });
    out.push({ tag: `swa1024_n${n}`, example: "sliding_window", set: { window: "1024" }, n });
    out.push({ tag: `sink64_swa1024_n${n}`, example: "streaming", set: { sinks: "64", window: "1024" }, n });
    out.push({ tag: `dilated4_n${n}`, example: "dilated", set: { window: String(n), dilation: "4" }, n });
    out.push({ tag: `random10pct_n${n}`, example: "bigbird", set: randomBlocks(n, 10), n });
  }
  out.push({ tag: "block_topk_dyn_n65536", example: "block_topk", set: {}, n: 65536 });
  out.push({ tag: "natten2d_k13_n65536", example: "neighborhood2d", set: { height: "256", width: "256", kernel: "13" }, n: 65536 });
  return out;
}

/** Cases a device-model parameter was fitted to (see the sources in devices/h100.json). */
// (partialTileCost and mappedTileCost to bench v9's times of these cases; the short shape's costs
// to bench v12's, see short-shape.ts.)
const FITTED: Record<string, string> = {
  natten2d_k13_n65536: "kernel.partialTileCost",
  block_topk_dyn_n65536: "kernel.shortShape.*",
  random10pct_n8192: "kernel.shortShape.*",
  dilated4_n65536: "kernel.mappedTileCost",
};

const device = loadDevice("h100");
const rows = [];
for (const c of cases()) {
  const t0 = performance.now();
  const l = simulateCase(device, { ...c, heads: 16 });
  const simMs = performance.now() - t0;
  const m = byCase.get(c.tag);
  const dense = byCase.get(`sdpa_dense_n${c.n}`)?.ms;
  if (!m?.ours_ms || !dense) throw new Error(`no measurement for ${c.tag} in ${MEASURED}`);
  const oursMs = m.ours_ms + (m.index_build_ms ?? 0);
  const measured = dense / oursMs;
  const predicted = l.speedupEstimate;
  rows.push({
    case: c.tag,
    measuredMs: round(oursMs),
    predictedMs: round(l.timeMs.sparse + l.timeMs.indexBuild),
    measuredDenseMs: round(dense),
    predictedDenseMs: round(l.timeMs.dense),
    measuredSpeedup: round(measured),
    predictedSpeedup: round(predicted),
    speedupBound: round(l.speedupBound),
    relError: round((predicted - measured) / measured),
    fittedParameter: FITTED[c.tag] ?? null,
    tilesExact: l.tilesExact,
    simulateMs: Math.round(simMs),
  });
}
const errs = rows.map((r) => Math.abs(r.relError)).sort((a, b) => a - b);
const heldOut = rows.filter((r) => !r.fittedParameter).map((r) => Math.abs(r.relError));
mkdirSync(OUT, { recursive: true });
const summary = { device: device.name, measured: MEASURED, gpu: bench.gpu, medianAbsRelError: round(median(errs)), medianAbsRelErrorHeldOut: round(median(heldOut)), maxAbsRelError: round(errs[errs.length - 1]), rows };
writeFileSync(`${OUT}/calibration.json`, JSON.stringify(summary, null, 1) + "\n");
const md = [
  `# Simulator against the CUDA benchmark (${bench.gpu})`,
  "",
  "`npx tsx bench/simulate/calibrate.ts`: `simulate` with the h100 model, 16 heads, D = 128, tiles 128 x 64 (the CUDA kernel's),",
  `against \`${MEASURED}\`. Speedups are over dense attention: SDPA's dense time over spattn's kernel (plus index building), measured in one run.`,
  "",
  "| case | measured ms | predicted ms | measured speedup | predicted speedup | error | bound | fitted here |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.case} | ${r.measuredMs} | ${r.predictedMs} | ${r.measuredSpeedup} | ${r.predictedSpeedup} | ${(r.relError * 100).toFixed(1)}% | ${r.speedupBound} | ${r.fittedParameter ?? ""} |`),
  "",
  `Median absolute error of the speedup: ${(median(errs) * 100).toFixed(1)}% over all ${rows.length} cases, ${(median(heldOut) * 100).toFixed(1)}% over the ${heldOut.length} that no parameter was fitted to (largest ${(errs[errs.length - 1] * 100).toFixed(1)}%).`,
  "",
];
writeFileSync(`${OUT}/calibration.md`, md.join("\n"));
process.stdout.write(md.join("\n"));
