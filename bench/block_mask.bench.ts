// Block-mask construction speed for positional patterns: the analytic classifier on one core.
// Target (issue 2): a sliding window over N = 1,048,576 tokens with 128-token blocks "well
// under a second". Writes bench/results/block_mask.{json,md}; medians of several runs.
//
//   npx tsx bench/block_mask.bench.ts [--runs 5]
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { compile } from "../compiler/compile.js";
import { buildBlockMask } from "../compiler/blockmask/build.js";

const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

interface Case {
  example: string;
  set?: Record<string, string>;
  seqLen: number;
  block: number;
}

const N = 1 << 20;
const cases: Case[] = [
  { example: "sliding_window", set: { window: "1024" }, seqLen: N, block: 128 },
  { example: "sliding_window", seqLen: N, block: 128 },
  { example: "streaming", seqLen: N, block: 128 },
  { example: "longformer", seqLen: N, block: 128 },
  { example: "dilated", seqLen: N, block: 128 },
  { example: "document", set: { lengths: "[300000, 200000, 548576]" }, seqLen: N, block: 128 },
  { example: "neighborhood2d", set: { height: "1024", width: "1024", kernel: "13" }, seqLen: N, block: 128 },
  { example: "causal", seqLen: 1 << 16, block: 128 },
  { example: "strided", seqLen: 1 << 16, block: 128 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const rows = cases.map((c) => {
  const ir = compile(readFileSync(`examples/${c.example}.spattn`, "utf8"), { set: c.set });
  const times: number[] = [];
  let partial = 0;
  let full = 0;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const bm = buildBlockMask(ir, { seqLen: c.seqLen, blockQ: c.block });
    times.push(performance.now() - t0);
    partial = bm.perHead[0].partial.idx.length;
    full = bm.perHead[0].full.idx.length;
  }
  const nb = Math.ceil(c.seqLen / c.block);
  const row = {
    pattern: c.example,
    params: ir.params,
    seqLen: c.seqLen,
    block: c.block,
    medianMs: Number(median(times).toFixed(1)),
    runsMs: times.map((t) => Number(t.toFixed(1))),
    partialBlocks: partial,
    fullBlocks: full,
    tileDensity: Number(((partial + full) / (nb * nb)).toExponential(3)),
  };
  console.log(`${c.example.padEnd(16)} N=${String(c.seqLen).padEnd(8)} median ${row.medianMs.toFixed(1).padStart(8)} ms  partial ${partial}  full ${full}`);
  return row;
});

const meta = { date: new Date().toISOString().slice(0, 10), node: process.version, cpu: cpus()[0]?.model ?? "unknown", runs: RUNS, command: "npx tsx bench/block_mask.bench.ts" };
writeFileSync("bench/results/block_mask.json", JSON.stringify({ meta, rows }, null, 2) + "\n");
const md = [
  `# Block-mask construction (one core, ${meta.cpu}, Node ${meta.node}, ${meta.date})`,
  "",
  `\`${meta.command}\`: median of ${RUNS} runs, exact classification into partial and full blocks.`,
  "",
  "| pattern | params | N | block | median ms | partial | full |",
  "| --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.pattern} | ${Object.entries(r.params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ")} | ${r.seqLen} | ${r.block} | ${r.medianMs} | ${r.partialBlocks} | ${r.fullBlocks} |`),
  "",
];
writeFileSync("bench/results/block_mask.md", md.join("\n"));
