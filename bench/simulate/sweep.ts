// How long `simulate` takes on one core: every positional example (a mask of arithmetic on
// positions, no selection step) swept over 4K..1M tokens (16 heads, the h100 model, the CUDA
// kernel's 128 x 64 tiles). Layout examples get grids of the right size. Medians of 3 runs of
// the whole sweep of one example. Seeded selections (BigBird's random blocks) are data-free
// but rank every (query block, key block) pair of every head, O((N / block)^2) time and
// memory: they sweep to 64K only, listed apart.
//
//   npx tsx bench/simulate/sweep.ts   (writes bench/results/simulator/sweep.{json,md})
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { compile } from "../../compiler/compile.js";
import { isDynamic, type PatternIR } from "../../compiler/ir.js";
import { loadDevice } from "../../backends/simulator/device.js";
import { simulate } from "../../backends/simulator/simulate.js";

const OUT = "bench/results/simulator";
const SWEEP = [4096, 16384, 65536, 262144, 1048576];
const SEEDED_SWEEP = [4096, 16384, 65536];
/** Grids per length for the layout examples (their N is the grid's size). */
const GRIDS: Record<string, (n: number) => Record<string, string>> = {
  neighborhood2d: (n) => ({ height: String(Math.sqrt(n)), width: String(Math.sqrt(n)) }),
  video3d: (n) => ({ frames: "16", height: String(Math.sqrt(n / 16)), width: String(Math.sqrt(n / 16)) }),
};

const device = loadDevice("h100");
const rows = [];
for (const f of readdirSync("examples").filter((x) => x.endsWith(".spattn")).sort()) {
  const file = `examples/${f}`;
  const src = readFileSync(file, "utf8");
  const names = [...src.matchAll(/^pattern (\w+)/gm)].map((m) => m[1]);
  const name = names[names.length - 1];
  const ir0: PatternIR = compile(src, { fileName: file, pattern: name });
  if (isDynamic(ir0)) continue;
  const seeded = ir0.selections.length > 0;
  const sweep = seeded ? SEEDED_SWEEP : SWEEP;
  const times: number[] = [];
  let last;
  for (let run = 0; run < 3; run++) {
    const t0 = performance.now();
    last = sweep.map((n) => {
      const ir = compile(src, { fileName: file, pattern: name, set: GRIDS[name]?.(n) ?? {} });
      return simulate([{ ir, file, seqLens: [n] }], { device, heads: 16 }).patterns[0].lengths[0];
    });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const top = last![last!.length - 1];
  rows.push({ pattern: name, seeded, upTo: sweep[sweep.length - 1], sweepMs: Math.round(times[1]), tileDensity: top.tileDensity, tokenDensity: top.tokenDensity, exact: top.tokenDensityExact, speedupEstimate: top.speedupEstimate });
  process.stdout.write(`${name}: ${Math.round(times[1])} ms\n`);
}
mkdirSync(OUT, { recursive: true });
const when = new Date().toISOString().slice(0, 10);
writeFileSync(`${OUT}/sweep.json`, JSON.stringify({ date: when, cpu: cpus()[0]?.model, node: process.version, sweep: SWEEP, heads: 16, rows }, null, 1) + "\n");
const md = [
  `# simulate sweep time (one core, ${cpus()[0]?.model}, Node ${process.version}, ${when})`,
  "",
  `\`npx tsx bench/simulate/sweep.ts\`: each positional example at N = ${SWEEP.join(", ")} (16 heads, h100, tiles 128 x 64), median of 3 whole sweeps.`,
  "",
  "| pattern | sweep to | sweep ms | tile density there | token density there | estimate there |",
  "| --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.pattern}${r.seeded ? " (seeded selection)" : ""} | ${r.upTo} | ${r.sweepMs} | ${(r.tileDensity * 100).toPrecision(3)}% | ${r.exact ? "" : "~"}${(r.tokenDensity * 100).toPrecision(3)}% | ${r.speedupEstimate.toPrecision(3)}x |`),
  "",
  `The ${rows.filter((r) => !r.seeded).length} positional examples together: ${(rows.filter((r) => !r.seeded).reduce((a, r) => a + r.sweepMs, 0) / 1000).toFixed(1)} s (~: token density sampled).`,
  "",
];
writeFileSync(`${OUT}/sweep.md`, md.join("\n"));
process.stdout.write(md.join("\n"));
