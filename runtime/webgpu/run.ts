// Runs a pattern's WGSL attention shader on a WebGPU device. The block lists come from the
// compiler's exact interval classification on the CPU (`lists: "cpu"`, the default) or from
// the pattern's mask-generator shaders on the device (`lists: "gpu"`); the data-dependent
// arrays from the CPU (backends/inputs.ts).
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import { dependsOnHead, type PatternIR } from "../../compiler/ir.js";
import { dynArrays, kernelInputs, type KernelTiles } from "../../backends/inputs.js";
import { emitWgslAttention, WGSL_BQ, wgslParamFields, wgslWorkgroupBytes } from "../../backends/wgsl/attention.js";
import { WebGpuRuntimeError } from "./device.js";
import { bufferLayout, checkIntegerRange, dispatch, packDyn, paramBlock, pipelineFor, upload, validated } from "./gpu.js";
import { gpuBlockLists } from "./mask.js";

export interface WebGpuRunResult {
  /** [1, H, N, DV] */
  out: Float32Array;
  /** [1, H, N]; -Infinity for a row with no allowed key. */
  lse: Float32Array;
  /** The shader that ran (for reports and debugging). */
  wgsl: string;
}

export interface WebGpuRunOptions {
  /** Where the block lists are computed (default "cpu"). */
  lists?: "cpu" | "gpu";
}

/** The attention shader's bindings: params, Q, K, V, O, lse, lists, dyn. */
export function attentionLayout(device: GPUDevice): GPUBindGroupLayout {
  const r: GPUBufferBindingType = "read-only-storage";
  return bufferLayout(device, ["uniform", r, r, r, "storage", "storage", r, r]);
}

/** Keys per staged tile: the largest of 16, 8, 4 whose workgroup storage the device allows. */
export function keysPerTile(device: GPUDevice, d: number, dv = d): number {
  for (const bk of [16, 8, 4]) if (wgslWorkgroupBytes({ d, dv, bk }) <= device.limits.maxComputeWorkgroupStorageSize) return bk;
  throw new WebGpuRuntimeError(`head dimensions ${d} and ${dv} need ${wgslWorkgroupBytes({ d, dv, bk: 4 })} bytes of workgroup storage; the device allows ${device.limits.maxComputeWorkgroupStorageSize}`);
}

function f32(t: Tensor4): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}

/** The four lists in one i32 array, with each one's offset. */
function packLists(t: KernelTiles): { data: Int32Array; offsets: Record<string, number> } {
  const parts = [["kv_num_off", t.kvNum], ["kv_idx_off", t.kvIdx], ["full_num_off", t.fullNum], ["full_idx_off", t.fullIdx]] as const;
  const data = new Int32Array(parts.reduce((s, [, a]) => s + a.length, 0));
  const offsets: Record<string, number> = {};
  let at = 0;
  for (const [name, arr] of parts) {
    offsets[name] = at;
    data.set(arr, at);
    at += arr.length;
  }
  return { data, offsets };
}

/** Attention under the pattern: q is [1, H, N, D], k [1, H_kv, N, D], v [1, H_kv, N, DV]; f32
 *  throughout. */
export async function runWebGpu(device: GPUDevice, ir: PatternIR, q: Tensor4, k: Tensor4, v: Tensor4, opts: WebGpuRunOptions = {}): Promise<WebGpuRunResult> {
  const [, heads, n, d] = q.shape;
  const kvHeads = k.shape[1];
  const dv = v.shape[3];
  if (k.shape[3] !== d) throw new WebGpuRuntimeError(`Q and K need one head dimension, got ${d} and ${k.shape[3]}`);
  if (heads % kvHeads !== 0 || v.shape[1] !== kvHeads) throw new WebGpuRuntimeError(`query heads (${heads}) must be a multiple of the K/V heads (${kvHeads} and ${v.shape[1]})`);
  checkIntegerRange(ir, heads, n, Math.max(d, dv));
  const bk = keysPerTile(device, d, dv);
  const wgsl = emitWgslAttention(ir, { d, dv, bk });
  const out = new Float32Array(heads * n * dv);
  const lse = new Float32Array(heads * n);
  if (n === 0) return { out, lse, wgsl };
  const dyn = dynArrays(ir, { seqLen: n, heads, q, k });
  const tiles =
    opts.lists === "gpu"
      ? await gpuBlockLists(device, ir, { seqLen: n, heads: dependsOnHead(ir) ? heads : 1, blockQ: WGSL_BQ, blockK: bk, dyn })
      : kernelInputs(ir, { seqLen: n, heads, q, k, blockQ: WGSL_BQ, blockK: bk, permute: false }).tiles;
  if (tiles.numQTiles > device.limits.maxComputeWorkgroupsPerDimension) throw new WebGpuRuntimeError(`N = ${n} needs ${tiles.numQTiles} workgroups along x; the device allows ${device.limits.maxComputeWorkgroupsPerDimension}`);

  const lists = packLists(tiles);
  const words = packDyn(dyn);
  const values = { n, heads, kv_heads: kvHeads, num_q_tiles: tiles.numQTiles, stride: tiles.stride, tile_heads: tiles.tileHeads, scale_log2: Math.LOG2E / Math.sqrt(d), ...lists.offsets, ...words.offsets };
  const layout = attentionLayout(device);
  const pipeline = await pipelineFor(device, wgsl, layout);
  const S = GPUBufferUsage.STORAGE;
  const bufs = [
    upload(device, paramBlock(wgslParamFields(ir), values, ["scale_log2"]), GPUBufferUsage.UNIFORM),
    upload(device, f32(q), S),
    upload(device, f32(k), S),
    upload(device, f32(v), S),
    upload(device, new Float32Array(out.length), S | GPUBufferUsage.COPY_SRC),
    upload(device, new Float32Array(lse.length), S | GPUBufferUsage.COPY_SRC),
    upload(device, lists.data, S),
    upload(device, words.data, S),
  ];
  try {
    const [o, l] = await validated(device, "the attention launch", () => {
      const group = device.createBindGroup({ layout, entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      return dispatch(device, [{ pipeline, group, workgroups: [tiles.numQTiles, heads, 1] }], [bufs[4], bufs[5]]);
    });
    out.set(new Float32Array(o, 0, out.length));
    lse.set(new Float32Array(l, 0, lse.length));
    return { out, lse, wgsl };
  } finally {
    for (const b of bufs) b.destroy();
  }
}
