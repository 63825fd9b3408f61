// The CUDA runtime: builds a pattern's generated kernels into a shared library with nvcc
// (cached by the hash of the generated code) and runs the kernel through the native addon
// (runtime/cuda/addon), on block lists and data-dependent arrays from the CPU or from the
// device (ListSource). Every missing piece (nvcc, the addon, a GPU) is an error that names it.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { cudaPrefix, emitCuda } from "../../backends/cuda/emit.js";
import { cudaInputs } from "../../backends/cuda/inputs.js";
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import type { PatternIR } from "../../compiler/ir.js";
import { packageFile } from "../../compiler/package-root.js";

export class CudaRuntimeError extends Error {}

interface Addon {
  loadLibrary(path: string): number;
  runHost(handle: number, symbol: string, args: object): { code: number; message: string };
}

let addon: Addon | undefined;
const loaded = new Map<string, number>();

function loadAddon(): Addon {
  if (addon) return addon;
  const path = packageFile("runtime/cuda/addon/build/Release/spattn_cuda.node");
  if (!existsSync(path)) throw new CudaRuntimeError(`the CUDA runtime addon is not built (${path}): run npm run build:addon`);
  addon = createRequire(import.meta.url)(path) as Addon;
  return addon;
}

/** nvcc on the PATH, or in CUDA's usual place. */
export function findNvcc(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "nvcc"))) return join(dir, "nvcc");
  for (const p of ["/usr/local/cuda/bin/nvcc"]) if (existsSync(p)) return p;
  throw new CudaRuntimeError("the CUDA backend builds kernels with nvcc (CUDA 12.8 or newer), which is not on the PATH");
}

/** Builds (or finds in the cache) the kernel library of a pattern; returns its path. */
export function kernelLibrary(ir: PatternIR): string {
  const out = emitCuda(ir, { sourceName: ir.name });
  const hash = createHash("sha256").update(out.cu).update(out.header).digest("hex").slice(0, 16);
  const dir = join(process.env.SPATTN_CACHE ?? join(homedir(), ".cache", "spattn"), "cuda", hash);
  const lib = join(dir, `lib${out.stem}.so`);
  if (existsSync(lib)) return lib;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${out.stem}.h`), out.header);
  writeFileSync(join(dir, `${out.stem}.cu`), out.cu);
  const tmp = `${lib}.tmp-${process.pid}`;
  try {
    execFileSync(findNvcc(), ["-O3", "-Xcompiler", "-fPIC", "-shared", "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90a,code=sm_90a", "-gencode=arch=compute_80,code=compute_80", `${out.stem}.cu`, "-o", tmp], { cwd: dir, stdio: "pipe" });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new CudaRuntimeError(`nvcc failed on the generated kernel: ${err.stderr?.toString().trim() || err.message}`);
  }
  renameSync(tmp, lib);
  return lib;
}

/**
 * Where `runCuda` gets the block lists and data-dependent arrays.
 * - "cpu" (the default; cudaInputs): the lists of the order the kernels run the pattern in
 *   (gathered for dilation and 2D patches, with its token map), each list padded only to the
 *   longest, and a data-dependent pattern's selections and routes made on Q and K in float32,
 *   as the float64 reference makes them.
 * - "device": what a C host does per call. The GPU index builders make the data-dependent
 *   arrays, then P_mask_tiles the lists, in sequence order (a gathered pattern runs ungathered),
 *   padded to ceil(n/64) a row. The builders read Q and K as the kernel does, rounded to bf16
 *   or fp16, and rounding moves some choices (k-means routes most), so the result matches the
 *   reference computed on the rounded Q and K rather than on the float32 ones.
 */
export type ListSource = "cpu" | "device";

export interface CudaRunResult {
  out: Float32Array;
  lse: Float32Array;
}

/** Attention under the pattern on the GPU: q, k, v are [1, H, N, D] (D 64 or 128). */
export function runCuda(ir: PatternIR, q: Tensor4, k: Tensor4, v: Tensor4, dtype: "bf16" | "fp16" = "bf16", lists: ListSource = "cpu"): CudaRunResult {
  const [, heads, n, d] = q.shape;
  const kvHeads = k.shape[1];
  if (v.shape[3] !== d) throw new CudaRuntimeError(`the CUDA kernels need V's head dimension to equal Q's (${d}), got ${v.shape[3]}`);
  if (d !== 64 && d !== 128) throw new CudaRuntimeError(`the CUDA kernels take head dimensions 64 and 128, not ${d}`);
  const lib = kernelLibrary(ir);
  const a = loadAddon();
  let handle = loaded.get(lib);
  if (handle === undefined) {
    handle = a.loadLibrary(lib);
    loaded.set(lib, handle);
  }
  const f32 = (t: Tensor4) => (t.data instanceof Float32Array ? t.data : Float32Array.from(t.data));
  const out = new Float32Array(heads * n * d);
  const lse = new Float32Array(heads * n);
  const shared = { q: f32(q), k: f32(k), v: f32(v), o: out, lse, batch: 1, heads, kvHeads, seqLen: n, headDim: d, dtype: dtype === "fp16" ? 1 : 0 };
  let given: object;
  if (lists === "device") {
    given = { tokenMap: null, mapLen: 0, kvNum: null, kvIdx: null, fullNum: null, fullIdx: null, stride: 0, tileHeads: 0, numQTiles: 0, dyn: [] };
  } else {
    const { tiles, map, dyn } = cudaInputs(ir, { seqLen: n, heads, q, k });
    given = {
      tokenMap: map ?? null, mapLen: map?.length ?? 0,
      kvNum: tiles.kvNum, kvIdx: tiles.kvIdx, fullNum: tiles.fullNum, fullIdx: tiles.fullIdx,
      stride: tiles.stride, tileHeads: tiles.tileHeads, numQTiles: tiles.numQTiles, dyn: dyn.map((x) => x.data),
    };
  }
  const r = a.runHost(handle, `${cudaPrefix(ir)}_run_host`, { ...shared, ...given });
  if (r.code !== 0) throw new CudaRuntimeError(`CUDA backend: ${r.message || `error ${r.code}`}`);
  return { out, lse };
}
