// The simulator against cases none of its parameters was fitted to (heldout-cases.ts), timed
// on the lent H100 by `bench/cuda/prepare.ts --heldout` and, on the GPU machine,
// `SPATTN_CASES=bench/cuda/cases_heldout python3 bench/cuda/gpu_check.py --ours-only --sdpa`
// (results in bench/results/simulator/heldout/). Measured speedup: SDPA's dense time at the
// case's length and heads over spattn's kernel, in the same run.
//
//   npx tsx bench/simulate/heldout.ts   (writes bench/results/simulator/heldout.{json,md})
import { writeFileSync } from "node:fs";
import { loadDevice } from "../../backends/simulator/device.js";
import { HELDOUT_CASES } from "./heldout-cases.js";
import { loadBench, median, round, simulateCase } from "./measured.js";

const MEASURED = "bench/results/simulator/heldout/heldout_bench.json";
const OUT = "bench/results/simulator";

const bench = loadBench(MEASURED);
const byCase = bench.byCase;

const device = loadDevice("h100");
const rows = HELDOUT_CASES.map((c) => {
  const l = simulateCase(device, c);
  const ours = byCase.get(c.tag)?.ours_ms;
  const dense = byCase.get(`sdpa_dense_n${c.n}${c.heads === 16 ? "" : `_h${c.heads}`}`)?.ms;
  if (!ours || !dense) throw new Error(`no measurement for ${c.tag} in ${MEASURED}`);
  const measured = dense / ours;
  return {
    case: c.tag,
    heads: c.heads,
    measuredMs: round(ours),
    predictedMs: round(l.timeMs.sparse),
    measuredDenseMs: round(dense),
    predictedDenseMs: round(l.timeMs.dense),
    measuredSpeedup: round(measured),
    predictedSpeedup: round(l.speedupEstimate),
    relError: round((l.speedupEstimate - measured) / measured),
    speedupBound: round(l.speedupBound),
    partialShare: round(l.kernelTiles.partial / Math.max(1, l.kernelTiles.partial + l.kernelTiles.full)),
    tilesExact: l.tilesExact,
  };
});
const errs = rows.map((r) => Math.abs(r.relError));
const summary = { device: device.name, measured: MEASURED, gpu: bench.gpu, medianAbsRelError: round(median(errs)), maxAbsRelError: round(Math.max(...errs)), within15: errs.filter((e) => e <= 0.15).length, rows };
writeFileSync(`${OUT}/heldout.json`, JSON.stringify(summary, null, 1) + "\n");
const md = [
  `# Simulator on held-out cases (${bench.gpu})`,
  "",
  "`npx tsx bench/simulate/heldout.ts`: `simulate` with the h100 model (D = 128, tiles 128 x 64) on cases none of its parameters was fitted to,",
  `against \`${MEASURED}\` (spattn's kernel and SDPA's dense attention at the same length and heads, one run).`,
  "",
  "| case | heads | measured ms | predicted ms | measured speedup | predicted speedup | error | partial share of tiles |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.case} | ${r.heads} | ${r.measuredMs} | ${r.predictedMs} | ${r.measuredSpeedup} | ${r.predictedSpeedup} | ${(r.relError * 100).toFixed(1)}% | ${(r.partialShare * 100).toFixed(0)}% |`),
  "",
  `Median absolute error of the speedup: ${(median(errs) * 100).toFixed(1)}% (largest ${(Math.max(...errs) * 100).toFixed(1)}%); ${summary.within15} of ${rows.length} within 15%.`,
  "",
];
writeFileSync(`${OUT}/heldout.md`, md.join("\n"));
process.stdout.write(md.join("\n"));
