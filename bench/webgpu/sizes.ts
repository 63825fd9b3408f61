// Dense, causal and windowed WGSL attention across sizes and head counts, each timed three ways,
// with sampled rows checked against float64 attention: a diagnosis of how the attention
// shader's time depends on N, the head count and the way it is measured.
//   - "single": the median of `reps` calls of runAttention, one pass per call and no warm-up
//     (as bench.ts timed up to its --repeat and --warm-ms options);
//   - "warm": as bench.ts times now (bench/webgpu/timing.ts): a second of passes first, then
//     the median of `reps` calls of passes back to back in one submission, as many as fill
//     --call-ms (at least `chain`), each call's time the mean of its later half;
//   - "wall": the wall time per pass of one call of `chain` passes beyond a one-pass call's (a
//     clock that does not depend on the timestamps).
//
//   npx tsx bench/webgpu/sizes.ts [--d 64] [--reps 5] [--chain 20] [--call-ms 200] [--cases dense:8192:8,causal:8192:8,window256:8192:8,every4:4096:8]
// Needs a device with `timestamp-query`. Where nvidia-smi runs, the SM clock during the "warm"
// timing follows each line (bench/webgpu/clock.ts).
import { parseArgs } from "node:util";
import { compile } from "../../compiler/compile.js";
import { kernelInputs } from "../../backends/inputs.js";
import { patternSpec } from "../../backends/wgsl/spec.js";
import { canUseSubgroups, keysPerTile, runAttention } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice } from "../../runtime/webgpu/device.js";
import { random, sampledError } from "./check.js";
import { ClockLog, clockText } from "./clock.js";
import { median, timePasses } from "./timing.js";

/** The patterns, as DSL source and as the same rule over (q, k) for the float64 check:
 *  dense, causal, windowW (causal, the last W keys) and every4 (dense but for one key in 4, so
 *  that every tile is partial and runs the predicate). */
function pattern(name: string): { src: string; allowed: (q: number, k: number) => boolean } {
  const w = /^window(\d+)$/.exec(name);
  if (w) return { src: `pattern window() { mask causal and q - k < ${w[1]} }`, allowed: (q, k) => k <= q && q - k < Number(w[1]) };
  if (name === "dense") return { src: "pattern dense() { mask true }", allowed: () => true };
  if (name === "causal") return { src: "pattern causal() { mask causal }", allowed: (q, k) => k <= q };
  if (name === "every4") return { src: "pattern every4() { mask (q - k) % 4 != 1 }", allowed: (q, k) => (((q - k) % 4) + 4) % 4 !== 1 };
  throw new Error(`unknown pattern ${name}: dense, causal, window<W> or every4`);
}

const DEFAULT_CASES = [
  "dense:8192:8", "dense:8192:4", "dense:8192:16", "dense:8191:8", "dense:8224:8", "dense:8281:8", "dense:4096:8", "dense:16384:8",
  "causal:8192:8", "causal:8281:8", "window1024:8192:8", "dense:8192:8",
].join(",");

const { values: args } = parseArgs({
  options: {
    d: { type: "string", default: "64" },
    reps: { type: "string", default: "5" },
    chain: { type: "string", default: "20" },
    "call-ms": { type: "string", default: "200" },
    cases: { type: "string", default: DEFAULT_CASES },
  },
});
const D = Number(args.d);
const REPS = Number(args.reps);
const CHAIN = Number(args.chain);
const CALL_MS = Number(args["call-ms"]);

const clocks = new ClockLog();
const info = await requestDevice();
const device = info.device;
if (!device.features.has("timestamp-query")) throw new Error(`${info.adapter} has no timestamp-query: this diagnosis times passes on the GPU`);
const subgroups = canUseSubgroups(device);
console.log(`adapter: ${info.adapter}; subgroups: ${subgroups}; D = ${D}; single: median of ${REPS} one-pass calls; warm: at least ${CHAIN} passes and ${CALL_MS} ms a call; wall: ${CHAIN} passes in one submission`);
console.log("case                 workgroups  single ms   warm ms (passes a call)  wall ms/pass  max rel err (sampled rows)");
for (const c of args.cases!.split(",")) {
  const [name, nText, hText] = c.split(":");
  const n = Number(nText);
  const heads = Number(hText);
  const pat = pattern(name);
  const ir = compile(pat.src);
  const spec = patternSpec(ir, D);
  const bk = keysPerTile(device, spec, subgroups, false);
  const [q, k, v] = [1, 2, 3].map((seed) => random(heads * n * D, seed));
  const tiles = kernelInputs(ir, { seqLen: n, heads, blockQ: spec.queryTile, blockK: bk, permute: false }).tiles;
  const call = (repeat: number) => runAttention(device, spec, q, k, v, { heads, kvHeads: heads, n }, { tiles, bk, subgroups, timed: true, repeat });
  const first = await call(1);
  const single: number[] = [];
  for (let r = 0; r < REPS; r++) single.push((await call(1)).gpuMs!);
  const window = { t0: 0, t1: 0 };
  const warm = await timePasses(call, REPS, { callMs: CALL_MS, minRepeat: CHAIN }, window);
  let t0 = performance.now();
  await call(1);
  const oneWall = performance.now() - t0;
  t0 = performance.now();
  await call(CHAIN);
  const wall = (performance.now() - t0 - oneWall) / (CHAIN - 1);
  const err = sampledError(first.out, q, k, v, n, heads, D, pat.allowed);
  console.log(`${c.padEnd(20)} ${String(tiles.numQTiles * heads).padStart(10)} ${median(single).toFixed(3).padStart(10)} ${warm.ms.toFixed(3).padStart(9)} (${String(warm.repeat).padStart(4)})${" ".repeat(10)} ${wall.toFixed(3).padStart(13)}  ${err.toExponential(2)}${clockText(clocks.during(window.t0, window.t1))}`);
}
releaseDevice(info);
clocks.stop();
