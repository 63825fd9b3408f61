// Runs a pattern's WGSL attention shader on a WebGPU device: block lists and data-dependent
// arrays from the CPU (backends/inputs.ts), pipelines cached per device by their WGSL (Dawn
// does not cache identical pipelines), shader compile errors reported with the line they name.
import { largestMagnitude } from "../../compiler/blockmask/evaluate.js";
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import type { PatternIR } from "../../compiler/ir.js";
import { kernelInputs } from "../../backends/inputs.js";
import { emitWgslAttention, WGSL_BQ, wgslParamFields, wgslWorkgroupBytes } from "../../backends/wgsl/attention.js";
import { WebGpuRuntimeError } from "./device.js";

export interface WebGpuRunResult {
  /** [1, H, N, D] */
  out: Float32Array;
  /** [1, H, N]; -Infinity for a row with no allowed key. */
  lse: Float32Array;
  /** The shader that ran (for reports and debugging). */
  wgsl: string;
}

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();
const layouts = new WeakMap<GPUDevice, GPUBindGroupLayout>();

/** The bindings every attention shader declares (explicit: "auto" would drop the unused ones,
 *  and a positional pattern never reads `dyn`). */
function attentionLayout(device: GPUDevice): GPUBindGroupLayout {
  let l = layouts.get(device);
  if (!l) {
    const kinds: GPUBufferBindingType[] = ["uniform", "read-only-storage", "read-only-storage", "read-only-storage", "storage", "storage", "read-only-storage", "read-only-storage"];
    l = device.createBindGroupLayout({ entries: kinds.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
    layouts.set(device, l);
  }
  return l;
}

/** The compute pipeline of `code`, compiled once per device; compile errors name their line. */
export function pipelineFor(device: GPUDevice, code: string): Promise<GPUComputePipeline> {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  let p = cache.get(code);
  if (!p) {
    p = (async () => {
      const module = device.createShaderModule({ code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === "error");
      if (errors.length) {
        const src = code.split("\n");
        const text = errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}\n  ${src[m.lineNum - 1] ?? ""}`).join("\n");
        throw new WebGpuRuntimeError(`the generated WGSL does not compile:\n${text}`);
      }
      const layout = device.createPipelineLayout({ bindGroupLayouts: [attentionLayout(device)] });
      return device.createComputePipelineAsync({ layout, compute: { module, entryPoint: "main" } });
    })();
    cache.set(code, p);
    p.catch(() => cache!.delete(code));
  }
  return p;
}

/** Keys per staged tile: the largest of 16, 8, 4 whose workgroup storage the device allows. */
export function keysPerTile(device: GPUDevice, d: number, dv = d): number {
  for (const bk of [16, 8, 4]) if (wgslWorkgroupBytes({ d, dv, bk }) <= device.limits.maxComputeWorkgroupStorageSize) return bk;
  throw new WebGpuRuntimeError(`head dimensions ${d} and ${dv} need ${wgslWorkgroupBytes({ d, dv, bk: 4 })} bytes of workgroup storage; the device allows ${device.limits.maxComputeWorkgroupStorageSize}`);
}

function f32(t: Tensor4): Float32Array {
  return t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
}

function storage(device: GPUDevice, data: ArrayBufferView, usage: number): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buf = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST });
  if (data.byteLength) device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

/** Attention under the pattern: q is [1, H, N, D], k [1, H_kv, N, D], v [1, H_kv, N, DV]; f32
 *  throughout. */
export async function runWebGpu(device: GPUDevice, ir: PatternIR, q: Tensor4, k: Tensor4, v: Tensor4): Promise<WebGpuRunResult> {
  const [, heads, n, d] = q.shape;
  const kvHeads = k.shape[1];
  const dv = v.shape[3];
  if (k.shape[3] !== d) throw new WebGpuRuntimeError(`Q and K need one head dimension, got ${d} and ${k.shape[3]}`);
  if (heads % kvHeads !== 0 || v.shape[1] !== kvHeads) throw new WebGpuRuntimeError(`query heads (${heads}) must be a multiple of the K/V heads (${kvHeads} and ${v.shape[1]})`);
  // WGSL has 32-bit integers only: the predicate's arithmetic and the buffer indices must fit.
  const worst = largestMagnitude(ir.mask, { head: heads - 1, n, selections: [], routes: [], vslash: [] });
  if (worst >= 2 ** 31 || heads * n * Math.max(d, dv) >= 2 ** 31) throw new WebGpuRuntimeError(`N = ${n} with ${heads} heads of ${d} leaves the 32-bit integers WGSL has (the pattern's arithmetic reaches ${worst})`);
  const bk = keysPerTile(device, d, dv);
  const wgsl = emitWgslAttention(ir, { d, dv, bk });
  const out = new Float32Array(heads * n * dv);
  const lse = new Float32Array(heads * n);
  if (n === 0) return { out, lse, wgsl };
  const inputs = kernelInputs(ir, { seqLen: n, heads, q, k, blockQ: WGSL_BQ, blockK: bk, permute: false });
  const t = inputs.tiles;
  if (t.numQTiles > device.limits.maxComputeWorkgroupsPerDimension) throw new WebGpuRuntimeError(`N = ${n} needs ${t.numQTiles} workgroups along x; the device allows ${device.limits.maxComputeWorkgroupsPerDimension}`);

  // The four lists in one buffer; each data-dependent array as i32 words in another.
  const lists = new Int32Array(t.kvNum.length + t.kvIdx.length + t.fullNum.length + t.fullIdx.length);
  const offsets: Record<string, number> = {};
  let at = 0;
  for (const [name, arr] of [["kv_num_off", t.kvNum], ["kv_idx_off", t.kvIdx], ["full_num_off", t.fullNum], ["full_idx_off", t.fullIdx]] as const) {
    offsets[name] = at;
    lists.set(arr, at);
    at += arr.length;
  }
  const dynWords = new Int32Array(Math.max(1, inputs.dyn.reduce((s, x) => s + x.data.length, 0)));
  at = 0;
  for (const x of inputs.dyn) {
    offsets[`dyn_${x.name}`] = at;
    dynWords.set(x.data, at);
    at += x.data.length;
  }
  const fields = wgslParamFields(ir);
  const params = new ArrayBuffer(Math.ceil(fields.length / 4) * 16);
  const ints = new Int32Array(params);
  const values: Record<string, number> = { n, heads, kv_heads: kvHeads, num_q_tiles: t.numQTiles, stride: t.stride, tile_heads: t.tileHeads, ...offsets };
  fields.forEach((f, i) => {
    if (f === "scale_log2") new Float32Array(params)[i] = Math.LOG2E / Math.sqrt(d);
    else ints[i] = values[f];
  });

  const pipeline = await pipelineFor(device, wgsl);
  const S = GPUBufferUsage.STORAGE;
  const bufs = [
    storage(device, new Uint8Array(params), GPUBufferUsage.UNIFORM),
    storage(device, f32(q), S),
    storage(device, f32(k), S),
    storage(device, f32(v), S),
    storage(device, new Float32Array(out.length), S | GPUBufferUsage.COPY_SRC),
    storage(device, new Float32Array(lse.length), S | GPUBufferUsage.COPY_SRC),
    storage(device, lists, S),
    storage(device, dynWords, S),
  ];
  device.pushErrorScope("validation");
  try {
    const group = device.createBindGroup({ layout: attentionLayout(device), entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const readO = device.createBuffer({ size: bufs[4].size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const readL = device.createBuffer({ size: bufs[5].size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    bufs.push(readO, readL);
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    pass.dispatchWorkgroups(t.numQTiles, heads, 1);
    pass.end();
    enc.copyBufferToBuffer(bufs[4], 0, readO, 0, bufs[4].size);
    enc.copyBufferToBuffer(bufs[5], 0, readL, 0, bufs[5].size);
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new WebGpuRuntimeError(`WebGPU refused the launch: ${err.message}`);
    await Promise.all([readO.mapAsync(GPUMapMode.READ), readL.mapAsync(GPUMapMode.READ)]);
    out.set(new Float32Array(readO.getMappedRange(), 0, out.length));
    lse.set(new Float32Array(readL.getMappedRange(), 0, lse.length));
    return { out, lse, wgsl };
  } finally {
    for (const b of bufs) b.destroy();
  }
}
