// Sparse against dense WGSL attention for every example, with the speedup the tile density
// allows (the bound: all tiles / visited tiles). Runs on whatever adapter Dawn finds: a GPU
// where there is one, else SwiftShader, where it only proves the plumbing (a CPU emulating a
// GPU: its times say little about a GPU's).
//
//   npx tsx bench/webgpu/bench.ts [--n 512] [--heads 2] [--d 64] [--reps 3] [--out bench/results/webgpu]
//     [--only moba,nsa]   (examples whose names hold one of these; for A/B runs)
//     [--f16]             (K and V staged in f16, sparse and dense alike; needs shader-f16)
//     [--call-ms 200]     (each timed call runs as many passes back to back as fill this
//                          much GPU time: a GPU's clock climbs only under sustained work)
//     [--repeat 1]        (passes per call at least; on a device without timestamps, exactly)
//     [--warm-ms 1000]    (the first, untimed call fills this much, to bring the clock up)
//     [--split-tiles T]   (the most key tiles a workgroup runs, longer lists split; default:
//                          the host code's choice; a large T never splits)
//
// Times are medians of `reps` calls of the host code's runAttention after the warm-up
// (bench/webgpu/timing.ts says why): the attention pass on the GPU by timestamp queries where
// the device has them, a call's time being the mean of its later half of passes (else the
// call's wall time: uploads, dispatch, read-back, over its passes). Block lists and
// data-dependent arrays are made once beforehand, on the CPU. Dense is the same shader under
// `mask true` (all tiles full).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildDenseMask } from "../../compiler/blockmask/build.js";
import { compile } from "../../compiler/compile.js";
import type { PatternIR, Value } from "../../compiler/ir.js";
import { dependsOnHead } from "../../compiler/ir.js";
import { kernelInputs } from "../../backends/inputs.js";
import { patternSpec } from "../../backends/wgsl/spec.js";
import { canUseSubgroups, keysPerTile, runAttention, type Tiles } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice } from "../../runtime/webgpu/device.js";
import { dynByName } from "../../runtime/webgpu/run.js";
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import { random } from "./check.js";
import { ClockLog, type ClockRange, clockText } from "./clock.js";
import { timePasses } from "./timing.js";

const randomTensor = (heads: number, n: number, d: number, seed: number): Tensor4 => ({ shape: [1, heads, n, d], data: random(heads * n * d, seed) });

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "512" },
    heads: { type: "string", default: "2" },
    d: { type: "string", default: "64" },
    reps: { type: "string", default: "3" },
    out: { type: "string", default: "bench/results/webgpu" },
    only: { type: "string", default: "" },
    f16: { type: "boolean", default: false },
    repeat: { type: "string", default: "1" },
    "call-ms": { type: "string", default: "200" },
    "warm-ms": { type: "string", default: "1000" },
    "split-tiles": { type: "string", default: "" },
  },
});
const N = Number(args.n);
const HEADS = Number(args.heads);
const D = Number(args.d);
const REPS = Number(args.reps);
const F16 = args.f16!;
const REPEAT = Number(args.repeat);
const WARM_MS = Number(args["warm-ms"]);
const CALL_MS = Number(args["call-ms"]);
const SPLIT = args["split-tiles"] ? Number(args["split-tiles"]) : undefined;

/** Grids of the layout examples near N tokens. */
function layoutSizes(file: string): Record<string, Value> {
  // At least 8 a side: the examples' kernels are 7 wide.
  const side = Math.max(8, Math.round(Math.sqrt(N)));
  const side3 = Math.max(8, Math.round(Math.sqrt(N / 4)));
  if (file === "neighborhood2d.spattn") return { height: side, width: side };
  if (file === "video3d.spattn") return { frames: 4, height: side3, width: side3 };
  return {};
}

function mainPattern(file: string): PatternIR {
  const src = readFileSync(join("examples", file), "utf8");
  const names = [...src.matchAll(/^pattern (\w+)/gm)].map((m) => m[1]);
  return compile(src, { fileName: file, pattern: names[names.length - 1], set: layoutSizes(file) });
}

/** Milliseconds with three significant-ish digits: a GPU's times are fractions of one, SwiftShader's hundreds. */
const fmt = (ms: number) => ms.toFixed(ms < 10 ? 3 : 1);

const info = await requestDevice();
const device = info.device;
const subgroups = canUseSubgroups(device);
const timed = device.features.has("timestamp-query");
const clock =
  (timed ? `GPU time of the attention pass (timestamp queries), the mean of the later half of a call's passes, each call at least ${REPEAT} passes back to back and as many as fill ${CALL_MS} ms` : `wall time per call (uploads, dispatch, read-back) over its ${REPEAT} passes`) +
  `, after a call of ${WARM_MS} ms of warm-up`;
console.log(`adapter: ${info.adapter}; features: ${info.features.join(", ")}; subgroups: ${subgroups}; K and V in ${F16 ? "f16" : "f32"}; N about ${N}, H = ${HEADS}, D = ${D}, median of ${REPS}; ${clock}`);

const clocks = new ClockLog();

/** Q, K and V of `heads` heads of n rows (seeds 1, 2, 3), made once per size for every example. */
const inputs = new Map<string, Tensor4[]>();
function inputsFor(n: number, heads: number): Tensor4[] {
  const key = `${n}/${heads}`;
  if (!inputs.has(key)) inputs.set(key, [1, 2, 3].map((s) => randomTensor(heads, n, D, s)));
  return inputs.get(key)!;
}

async function time(ir: PatternIR, n: number, heads: number): Promise<{ ms: number; repeat: number; tiles: Tiles; bk: number; clock?: ClockRange }> {
  const spec = patternSpec(ir, D);
  const [q, k, v] = inputsFor(n, heads);
  const bk = keysPerTile(device, spec, subgroups, F16);
  const tiles = kernelInputs(ir, { seqLen: n, heads, q, k, blockQ: spec.queryTile, blockK: bk, permute: false }).tiles;
  const dyn = dynByName(ir, heads, n, q, k);
  const call = (repeat: number) => runAttention(device, spec, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, { heads, kvHeads: heads, n }, { tiles, dyn, bk, subgroups, timed, f16: F16, repeat, splitTiles: SPLIT });
  const window = { t0: 0, t1: 0 };
  const { ms, repeat } = await timePasses(call, REPS, timed ? { callMs: CALL_MS, warmMs: WARM_MS, minRepeat: REPEAT } : { minRepeat: REPEAT, maxRepeat: REPEAT, warmMs: 0 }, window);
  return { ms, repeat, tiles, bk, clock: clocks.during(window.t0, window.t1) };
}

const dense = new Map<string, number>();
/** One example's result, as printed and written to the JSON file. */
interface Row {
  pattern: string;
  n: number;
  heads: number;
  tokenDensity: number;
  tileDensity: number;
  sparseMs: number;
  /** Passes per timed call of the sparse pattern (bench/webgpu/timing.ts). */
  passesPerCall: number;
  denseMs: number;
  speedup: number;
  bound: number;
  ofBound: number;
  tflops: number;
  /** The SM clock while the sparse pass was timed, where nvidia-smi reports it. */
  smClockMHz?: ClockRange;
}
const results: Row[] = [];
const only = args.only ? args.only.split(",") : [];
for (const file of readdirSync("examples").filter((f) => f.endsWith(".spattn") && (!only.length || only.some((o) => f.includes(o)))).sort()) {
  const ir = mainPattern(file);
  const n = ir.layout ? ir.layout.reduce((a, x) => a * x.size, 1) : N;
  const heads = ir.heads ?? HEADS;
  const key = `${n}/${heads}`;
  if (!dense.has(key)) dense.set(key, (await time(compile("pattern dense() { mask true }"), n, heads)).ms);
  const { ms, repeat, tiles, bk, clock } = await time(ir, n, heads);
  const [q, k] = inputsFor(n, heads);
  // The compiler's dense mask (exact, by boxes: fast for positional patterns; H x N^2 bytes).
  const mask = buildDenseMask(ir, { seqLen: n, heads: dependsOnHead(ir) ? heads : 1, q, k });
  let allowed = 0;
  for (let i = 0; i < mask.data.length; i++) allowed += mask.data[i];
  const tokenDensity = allowed / mask.heads / (n * n);
  let visited = 0;
  for (let i = 0; i < tiles.kvNum.length; i++) visited += tiles.kvNum[i] + tiles.fullNum[i];
  const allTiles = tiles.tileHeads * tiles.numQTiles * Math.ceil(n / bk);
  const tileDensity = visited / allTiles;
  const speedup = dense.get(key)! / ms;
  // Effective rate: only the allowed (q, k) pairs count, 2 FLOPs each for Q.K and for P.V per dimension.
  const tflops = (4 * (allowed / mask.heads) * heads * D) / (ms * 1e-3) / 1e12;
  const result: Row = { pattern: file.replace(/\.spattn$/, ""), n, heads, tokenDensity, tileDensity, sparseMs: ms, passesPerCall: repeat, denseMs: dense.get(key)!, speedup, bound: 1 / tileDensity, ofBound: speedup * tileDensity, tflops, ...(clock ? { smClockMHz: clock } : {}) };
  results.push(result);
  console.log(
    `${result.pattern.padEnd(18)} N=${n} tokens ${(100 * tokenDensity).toFixed(1).padStart(5)}%  tiles ${(100 * tileDensity).toFixed(1).padStart(5)}%  ` +
      `sparse ${fmt(ms).padStart(8)} ms (${repeat} a call)  dense ${fmt(dense.get(key)!).padStart(8)} ms  x${speedup.toFixed(2).padStart(6)} of bound x${(1 / tileDensity).toFixed(2).padStart(6)} (${(100 * result.ofBound).toFixed(0)}%)  ${tflops.toPrecision(3)} TFLOP/s${clockText(clock)}`,
  );
}
releaseDevice(info);
clocks.stop();

const slug = (info.adapter.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "").toLowerCase() || "adapter") + (F16 ? "_f16" : "");
mkdirSync(args.out!, { recursive: true });
const meta = { adapter: info.adapter, subgroups, f16: F16, clock, n: N, heads: HEADS, d: D, reps: REPS, date: new Date().toISOString(), command: `npx tsx bench/webgpu/bench.ts --n ${N} --heads ${HEADS} --d ${D} --reps ${REPS}${args.only ? ` --only ${args.only}` : ""}${F16 ? " --f16" : ""}${REPEAT > 1 ? ` --repeat ${REPEAT}` : ""}${CALL_MS !== 200 ? ` --call-ms ${CALL_MS}` : ""}${WARM_MS !== 1000 ? ` --warm-ms ${WARM_MS}` : ""}${SPLIT ? ` --split-tiles ${SPLIT}` : ""}` };
writeFileSync(join(args.out!, `${slug}.json`), JSON.stringify({ ...meta, rows: results }, null, 2) + "\n");
const withClock = results.some((r) => r.smClockMHz);
const md = [
  `# WGSL attention, sparse against dense: ${info.adapter}`,
  "",
  `${meta.command} (${meta.date}); subgroups ${subgroups}; K and V in ${F16 ? "f16" : "f32"}. Times: median of ${REPS} calls, ${clock}. Effective TFLOP/s counts the allowed pairs only.`,
  "",
  `| pattern | N | token density | tile density | sparse ms | dense ms | speedup | bound | of bound | effective TFLOP/s |${withClock ? " SM clock, MHz |" : ""}`,
  `| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |${withClock ? " --- |" : ""}`,
  ...results.map((r) => `| ${r.pattern} | ${r.n} | ${(100 * (r.tokenDensity as number)).toFixed(1)}% | ${(100 * (r.tileDensity as number)).toFixed(1)}% | ${fmt(r.sparseMs as number)} | ${fmt(r.denseMs as number)} | ${(r.speedup as number).toFixed(2)} | ${(r.bound as number).toFixed(2)} | ${(100 * (r.ofBound as number)).toFixed(0)}% | ${(r.tflops as number).toPrecision(3)} |${withClock ? ` ${r.smClockMHz ? `${r.smClockMHz.min}-${r.smClockMHz.max}` : ""} |` : ""}`),
  "",
];
writeFileSync(join(args.out!, `${slug}.md`), md.join("\n"));
