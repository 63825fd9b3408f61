// spattn run FILE --backend reference|cuda|webgpu --q --k --v --out o.npy: attention under the mask.
import { compile } from "../../compiler/compile.js";
import { maskRows } from "../../compiler/blockmask/build.js";
import { referenceAttention } from "../../runtime/reference.js";
import { runCuda } from "../../runtime/cuda/run.js";
import { releaseDevice, requestDevice } from "../../runtime/webgpu/device.js";
import { runWebGpu } from "../../runtime/webgpu/run.js";
import { UsageError, readSource, readTensor, writeNpyOutput } from "../io.js";

export interface RunCommandOptions {
  pattern?: string;
  backend: string;
  set?: Record<string, string>;
  q: string;
  k: string;
  v: string;
  out: string;
  dtype: string;
  lists?: string;
}

const BACKENDS = ["reference", "cuda", "webgpu"];

export async function runRun(file: string, o: RunCommandOptions): Promise<void> {
  if (!BACKENDS.includes(o.backend)) throw new UsageError(`unknown backend '${o.backend}' (backends: ${BACKENDS.join(", ")})`);
  if (o.dtype !== "float32" && o.dtype !== "float64" && !(o.backend === "cuda" && o.dtype === "float16")) {
    throw new UsageError(`--dtype must be float32 or float64${o.backend === "cuda" ? " (or float16: fp16 kernels instead of bf16)" : ""}, got '${o.dtype}'`);
  }
  const lists = o.lists ?? "cpu";
  if (lists !== "cpu" && lists !== "device") throw new UsageError(`--lists must be cpu or device, got '${lists}'`);
  if (lists !== "cpu" && o.backend !== "cuda") throw new UsageError(`--lists ${lists} is for --backend cuda (the ${o.backend} backend makes its own lists)`);
  const source = readSource(file);
  const ir = compile(source, { fileName: file, pattern: o.pattern, set: o.set });
  const q = readTensor(o.q, "Q");
  const k = readTensor(o.k, "K");
  const v = readTensor(o.v, "V");
  const [, heads, n, d] = q.shape;
  // K and V may have fewer heads than Q (GQA/MQA): query head h reads K/V head h / (H / Hkv).
  const kvHeads = k.shape[1];
  if (kvHeads < 1 || heads % kvHeads !== 0 || k.shape[2] !== n || k.shape[3] !== d) {
    throw new UsageError(`K has shape [${k.shape.join(", ")}] but Q has [${q.shape.join(", ")}]: K needs N = ${n}, D = ${d} and a number of heads dividing ${heads}`);
  }
  if (v.shape[1] !== kvHeads || v.shape[2] !== n) throw new UsageError(`V has shape [${v.shape.join(", ")}], expected [1, ${kvHeads}, ${n}, Dv]`);
  const shape = [1, heads, n, v.shape[3]];
  if (o.backend === "cuda") {
    // The kernels compute in bf16 (or fp16) with float32 accumulation; the output is float32.
    const { out } = runCuda(ir, q, k, v, o.dtype === "float16" ? "fp16" : "bf16", lists);
    writeNpyOutput(o.out, { dtype: "<f4", shape, data: out });
    return;
  }
  if (o.backend === "webgpu") {
    // The WGSL shader computes in float32 (V's width must equal Q's head dimension).
    if (o.dtype !== "float32") throw new UsageError(`--backend webgpu computes in float32: --dtype ${o.dtype} is not available`);
    const gpu = await requestDevice();
    try {
      const { out } = await runWebGpu(gpu.device, ir, q, k, v);
      writeNpyOutput(o.out, { dtype: "<f4", shape, data: out });
    } finally {
      releaseDevice(gpu);
    }
    return;
  }
  const rows = maskRows(ir, { seqLen: n, heads, q, k, fileName: file });
  const { out } = referenceAttention({ q: q.data, k: k.data, v: v.data, heads, kvHeads, seqLen: n, headDim: d, valueDim: v.shape[3] }, rows.row);
  writeNpyOutput(o.out, o.dtype === "float64" ? { dtype: "<f8", shape, data: out } : { dtype: "<f4", shape, data: Float32Array.from(out) });
}
