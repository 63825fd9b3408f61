// spattn's WebGPU runtime: the host code that generated modules embed
// (backends/wgsl/templates/host.ts) with a spec made in process, block lists from the
// compiler's exact interval classification on the CPU (`lists: "cpu"`, the default) or from
// the pattern's mask generators on the device (`lists: "gpu"`), and the data-dependent arrays
// from the CPU (backends/inputs.ts).
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import type { PatternIR } from "../../compiler/ir.js";
import { dynArrays, kernelInputs } from "../../backends/inputs.js";
import { patternSpec } from "../../backends/wgsl/spec.js";
import { canUseSubgroups, checkSize, keysPerTile, runAttention, SpattnWebGpuError, type DynArrays } from "../../backends/wgsl/templates/host.js";

export interface WebGpuRunResult {
  /** [1, H, N, DV] */
  out: Float32Array;
  /** [1, H, N]; -Infinity for a row with no allowed key. */
  lse: Float32Array;
}

export interface WebGpuRunOptions {
  /** Where the block lists are computed (default "cpu"). */
  lists?: "cpu" | "gpu";
  /** The shader's subgroup variant (default: where the device allows it). */
  subgroups?: boolean;
  /** K and V staged in f16 (needs the device's `shader-f16`; default off). */
  f16?: boolean;
  /** The most key tiles one workgroup runs (default: the host code's choice). */
  splitTiles?: number;
}

/** The data-dependent arrays of the pattern for these inputs, by field name. */
export function dynByName(ir: PatternIR, heads: number, n: number, q?: Tensor4, k?: Tensor4): DynArrays {
  return Object.fromEntries(dynArrays(ir, { seqLen: n, heads, q, k }).map((x) => [x.name, x.data]));
}

function f32(t: Tensor4): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}

/** Attention under the pattern: q is [1, H, N, D], k [1, H_kv, N, D], v [1, H_kv, N, DV]; f32
 *  throughout. */
export async function runWebGpu(device: GPUDevice, ir: PatternIR, q: Tensor4, k: Tensor4, v: Tensor4, opts: WebGpuRunOptions = {}): Promise<WebGpuRunResult> {
  const [, heads, n, d] = q.shape;
  const kvHeads = k.shape[1];
  const dv = v.shape[3];
  if (k.shape[3] !== d) throw new SpattnWebGpuError(`Q and K need one head dimension, got ${d} and ${k.shape[3]}`);
  if (v.shape[1] !== kvHeads) throw new SpattnWebGpuError(`K and V need the same number of heads, got ${kvHeads} and ${v.shape[1]}`);
  const spec = patternSpec(ir, d, dv);
  checkSize(spec, heads, n, Math.max(d, dv)); // before the CPU's lists: WGSL's i32 must hold the sizes
  const dyn = n > 0 ? dynByName(ir, heads, n, q, k) : {};
  const subgroups = opts.subgroups ?? canUseSubgroups(device);
  const f16 = opts.f16 ?? false;
  const bk = keysPerTile(device, spec, subgroups, f16);
  const tiles = opts.lists === "gpu" || n === 0 ? undefined : kernelInputs(ir, { seqLen: n, heads, q, k, blockQ: spec.queryTile, blockK: bk, permute: false }).tiles;
  return runAttention(device, spec, f32(q), f32(k), f32(v), { heads, kvHeads, n }, { dyn, tiles, bk, subgroups, f16, splitTiles: opts.splitTiles });
}
