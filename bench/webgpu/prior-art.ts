// spattn's WGSL attention against ONNX Runtime Web's (its WebGPU execution provider, running
// com.microsoft.MultiHeadAttention), dense and causal, on the adapter Dawn finds, in one process.
// ONNX Runtime is installed apart from the project: `(cd bench/webgpu/prior-art && npm ci)`.
//
//   npx tsx bench/webgpu/prior-art.ts [--n 8192] [--heads 8] [--d 64] [--reps 5] [--repeat 10]
//     [--wasm]   (also run ONNX Runtime's model on its CPU execution provider, checked alike)
//
// Both sides are checked on sampled rows against float64 attention, and timed the same way: the
// wall time of `repeat` runs back to back (inputs and outputs left on the GPU for ONNX Runtime),
// less that of one run, over repeat - 1; the median of `reps`. spattn's pass is also given by
// its timestamps. ONNX Runtime's float32 inputs take its f32 path: no adapter here has
// `shader-f16`, which its f16 flash attention needs.
//
// Dawn for Node refuses writeBuffer from views of shared memory, and ONNX Runtime's wasm heap is
// a SharedArrayBuffer: such views are copied first (the only change to how it runs).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { create, globals } from "webgpu";
import { compile } from "../../compiler/compile.js";
import { kernelInputs } from "../../backends/inputs.js";
import { patternSpec } from "../../backends/wgsl/spec.js";
import { canUseSubgroups, keysPerTile, runAttention } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice, swiftShaderIcd } from "../../runtime/webgpu/device.js";
import { random, rowAt, sampledError } from "./check.js";
import { ClockLog, clockText } from "./clock.js";
import { singleNodeModel } from "./prior-art/onnx.js";
import { median, timePasses } from "./timing.js";

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "8192" },
    heads: { type: "string", default: "8" },
    d: { type: "string", default: "64" },
    reps: { type: "string", default: "5" },
    repeat: { type: "string", default: "10" },
    wasm: { type: "boolean", default: false },
  },
});
const [N, H, D, REPS, REPEAT] = [args.n, args.heads, args.d, args.reps, args.repeat].map(Number);

const ortFile = join(import.meta.dirname, "prior-art/node_modules/onnxruntime-web/dist/ort.webgpu.min.mjs");
if (!existsSync(ortFile)) throw new Error(`ONNX Runtime Web is not installed: run (cd bench/webgpu/prior-art && npm ci)`);
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && swiftShaderIcd()) process.env.VK_ICD_FILENAMES = swiftShaderIcd();
Object.assign(globalThis, globals);
const queueProto = (globals as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
const writeBuffer = queueProto.writeBuffer;
queueProto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: BufferSource, dataOffset?: number, size?: number) {
  const copy = ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer ? (data as Uint8Array).slice() : data;
  return writeBuffer.call(this, buffer, offset, copy, dataOffset, size);
};
Object.defineProperty(globalThis, "navigator", { value: { gpu: create([]), userAgent: "node" }, configurable: true });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ort: any = await import(pathToFileURL(ortFile).href);
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = pathToFileURL(join(import.meta.dirname, "prior-art/node_modules/onnxruntime-web/dist/")).href;

const info = await requestDevice();
const subgroups = canUseSubgroups(info.device);
console.log(`adapter: ${info.adapter}; N = ${N}, H = ${H}, D = ${D}, f32; wall time per run: ${REPEAT} runs back to back less one, median of ${REPS}; ONNX Runtime Web ${ort.env.versions?.web ?? "?"}`);

// The same values for both: spattn's layout [H][N][D], ONNX Runtime's [N][H][D].
const [q, k, v] = [1, 2, 3].map((seed) => random(H * N * D, seed));
const interleave = (t: Float32Array) => {
  const out = new Float32Array(t.length);
  for (let h = 0; h < H; h++) for (let r = 0; r < N; r++) out.set(t.subarray((h * N + r) * D, (h * N + r + 1) * D), (r * H + h) * D);
  return out;
};
const [qi, ki, vi] = [q, k, v].map(interleave);

const clocks = new ClockLog();

/** Wall ms per run: `repeat` runs less one, over repeat - 1; the median of `reps`; with the SM
 *  clock meanwhile, where nvidia-smi reports it. */
async function wallPerRun(run: (times: number) => Promise<void>): Promise<{ ms: number; clock: string }> {
  await run(REPEAT); // warm-up
  const start = performance.now();
  const ms: number[] = [];
  for (let r = 0; r < REPS; r++) {
    let t0 = performance.now();
    await run(1);
    const one = performance.now() - t0;
    t0 = performance.now();
    await run(REPEAT);
    ms.push((performance.now() - t0 - one) / (REPEAT - 1));
  }
  return { ms: median(ms), clock: clockText(clocks.during(start, performance.now())) };
}

for (const causal of [false, true]) {
  const allowed = causal ? (a: number, b: number) => b <= a : () => true;
  const name = causal ? "causal" : "dense";
  // ONNX Runtime: MultiHeadAttention, Q K V [1][N][H * D], unidirectional for causal.
  const dims = [1, N, H * D];
  const model = singleNodeModel({ op: "MultiHeadAttention", domain: "com.microsoft", inputs: ["q", "k", "v"].map((n) => ({ name: n, dims })), outputs: [{ name: "o", dims }], attrs: { num_heads: H, unidirectional: causal ? 1 : 0 } });
  const session = await ort.InferenceSession.create(model, { executionProviders: ["webgpu"], preferredOutputLocation: "gpu-buffer" });
  const device: GPUDevice = ort.env.webgpu.device;
  const feeds = Object.fromEntries(
    ([["q", qi], ["k", ki], ["v", vi]] as const).map(([n, data]) => {
      const buf = device.createBuffer({ size: data.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buf, 0, data);
      return [n, ort.Tensor.fromGpuBuffer(buf, { dataType: "float32", dims })];
    }),
  );
  const first = await session.run(feeds);
  const ortOut = (await first.o.getData()) as Float32Array;
  first.o.dispose();
  const ortErr = sampledError(ortOut, qi, ki, vi, N, H, D, allowed, rowAt(N, H, D, true));
  if (args.wasm) {
    // The same model on ONNX Runtime's CPU (wasm) execution provider: tells its operator's
    // meaning apart from its WebGPU kernels.
    const cpu = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    const got = await cpu.run(Object.fromEntries([["q", qi], ["k", ki], ["v", vi]].map(([n, t]) => [n, new ort.Tensor("float32", t, dims)])));
    console.log(`${name}: ONNX Runtime on wasm, max rel err ${sampledError(got.o.data, qi, ki, vi, N, H, D, allowed, rowAt(N, H, D, true)).toExponential(2)}`);
    await cpu.release();
  }
  const { ms: ortMs, clock: ortClock } = await wallPerRun(async (times) => {
    for (let i = 0; i < times; i++) (await session.run(feeds)).o.dispose();
    await device.queue.onSubmittedWorkDone();
  });
  await session.release();

  // spattn: the compiled pattern's shader.
  const ir = compile(causal ? "pattern causal() { mask causal }" : "pattern dense() { mask true }");
  const spec = patternSpec(ir, D);
  const bk = keysPerTile(info.device, spec, subgroups, false);
  const tiles = kernelInputs(ir, { seqLen: N, heads: H, blockQ: spec.queryTile, blockK: bk, permute: false }).tiles;
  const timed = info.device.features.has("timestamp-query");
  const call = (repeat: number) => runAttention(info.device, spec, q, k, v, { heads: H, kvHeads: H, n: N }, { tiles, bk, subgroups, timed, repeat });
  const ours = await call(1);
  const ourErr = sampledError(ours.out, q, k, v, N, H, D, allowed);
  const { ms: ourWall, clock: ourClock } = await wallPerRun(async (times) => void (await call(times)));
  const ourGpu = timed ? (await timePasses(call, REPS, { minRepeat: REPEAT })).ms : undefined;
  const flops = 4 * H * D * (causal ? (N * (N + 1)) / 2 : N * N);
  const rate = (ms: number) => (flops / (ms * 1e-3) / 1e12).toPrecision(3);
  if (!(ortErr < 1e-3)) console.log(`${name}: ONNX Runtime's output is wrong on this adapter (max relative error ${ortErr.toExponential(2)} on sampled rows): its time below compares nothing`);
  console.log(`${name.padEnd(7)} ONNX Runtime ${ortMs.toFixed(3)} ms (${rate(ortMs)} TFLOP/s, max rel err ${ortErr.toExponential(2)})${ortClock}  spattn ${ourWall.toFixed(3)} ms (${rate(ourWall)} TFLOP/s, max rel err ${ourErr.toExponential(2)})${ourClock}${ourGpu === undefined ? "" : `, by timestamps ${ourGpu.toFixed(3)} ms`}  ratio x${(ortMs / ourWall).toFixed(2)}`);
}
releaseDevice(info);
clocks.stop();
process.exit(0); // ONNX Runtime's device keeps the event loop alive
