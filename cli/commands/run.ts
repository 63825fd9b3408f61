// spattn run FILE --backend reference --q --k --v --out o.npy: attention under the mask.
import { compile } from "../../compiler/compile.js";
import { maskRows } from "../../compiler/blockmask/build.js";
import { referenceAttention } from "../../runtime/reference.js";
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
}

const PLANNED: Record<string, string> = {
  cuda: "the CUDA backend is not built yet (issue: CUDA backend); use --backend reference",
  webgpu: "the WebGPU backend is not built yet (issue: WGSL backend); use --backend reference",
};

export function runRun(file: string, o: RunCommandOptions): void {
  if (o.backend !== "reference") throw new UsageError(PLANNED[o.backend] ?? `unknown backend '${o.backend}' (backends: reference)`);
  if (o.dtype !== "float32" && o.dtype !== "float64") throw new UsageError(`--dtype must be float32 or float64, got '${o.dtype}'`);
  const source = readSource(file);
  const ir = compile(source, { fileName: file, pattern: o.pattern, set: o.set });
  const q = readTensor(o.q, "Q");
  const k = readTensor(o.k, "K");
  const v = readTensor(o.v, "V");
  const [, heads, n, d] = q.shape;
  if (k.shape[1] !== heads || k.shape[2] !== n || k.shape[3] !== d) throw new UsageError(`K has shape [${k.shape.join(", ")}], Q has [${q.shape.join(", ")}]`);
  if (v.shape[1] !== heads || v.shape[2] !== n) throw new UsageError(`V has shape [${v.shape.join(", ")}], expected [1, ${heads}, ${n}, Dv]`);
  const rows = maskRows(ir, { seqLen: n, heads, q, k, fileName: file });
  const { out } = referenceAttention({ q: q.data, k: k.data, v: v.data, heads, seqLen: n, headDim: d, valueDim: v.shape[3] }, rows.row);
  const shape = [1, heads, n, v.shape[3]];
  writeNpyOutput(o.out, o.dtype === "float64" ? { dtype: "<f8", shape, data: out } : { dtype: "<f4", shape, data: Float32Array.from(out) });
}
