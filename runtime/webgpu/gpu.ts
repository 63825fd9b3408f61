// Small WebGPU plumbing shared by the runtime's launches: explicit bind-group layouts (a
// pipeline's "auto" layout drops the bindings its entry point never reads), pipelines compiled
// once per device and WGSL (Dawn does not cache identical ones), compile errors reported with
// the source line they name, buffers, and read-back.
import { largestMagnitude } from "../../compiler/blockmask/evaluate.js";
import type { PatternIR } from "../../compiler/ir.js";
import { WebGpuRuntimeError } from "./device.js";

const pipelines = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();
const layouts = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();

/** A layout of buffer bindings 0, 1, ... of the given types, cached per device. */
export function bufferLayout(device: GPUDevice, kinds: GPUBufferBindingType[]): GPUBindGroupLayout {
  let cache = layouts.get(device);
  if (!cache) layouts.set(device, (cache = new Map()));
  const key = kinds.join(",");
  let l = cache.get(key);
  if (!l) {
    l = device.createBindGroupLayout({ entries: kinds.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })) });
    cache.set(key, l);
  }
  return l;
}

/** The compute pipeline of `entry` in `code`, compiled once per device; a compile error names
 *  its line and shows it. */
export function pipelineFor(device: GPUDevice, code: string, layout: GPUBindGroupLayout, entry = "main"): Promise<GPUComputePipeline> {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, (cache = new Map()));
  const key = `${entry}\n${code}`;
  let p = cache.get(key);
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
      return device.createComputePipelineAsync({ layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }), compute: { module, entryPoint: entry } });
    })();
    cache.set(key, p);
    p.catch(() => cache!.delete(key));
  }
  return p;
}

/** A buffer holding `data` (at least 16 bytes, a multiple of 16: bindings need both). */
export function upload(device: GPUDevice, data: ArrayBufferView, usage: number): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buf = device.createBuffer({ size, usage: usage | GPUBufferUsage.COPY_DST });
  if (data.byteLength) device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
  return buf;
}

/** A uniform block of i32 fields (f32 for those in `floats`), laid out as wgslParamStruct does. */
export function paramBlock(fields: string[], values: Record<string, number>, floats: string[] = []): Uint8Array {
  const bytes = new ArrayBuffer(Math.ceil(fields.length / 4) * 16);
  const ints = new Int32Array(bytes);
  const fl = new Float32Array(bytes);
  fields.forEach((f, i) => {
    const v = values[f];
    if (v === undefined) throw new Error(`internal: parameter ${f} has no value`);
    if (floats.includes(f)) fl[i] = v;
    else ints[i] = v;
  });
  return new Uint8Array(bytes);
}

/** Runs the passes (pipeline, bind group, workgroups) in order, then copies `reads` back. */
export async function dispatch(
  device: GPUDevice,
  passes: { pipeline: GPUComputePipeline; group: GPUBindGroup; workgroups: [number, number, number] }[],
  reads: GPUBuffer[],
): Promise<ArrayBuffer[]> {
  const staging = reads.map((b) => device.createBuffer({ size: b.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }));
  try {
    const enc = device.createCommandEncoder();
    for (const p of passes) {
      const pass = enc.beginComputePass();
      pass.setPipeline(p.pipeline);
      pass.setBindGroup(0, p.group);
      pass.dispatchWorkgroups(...p.workgroups);
      pass.end();
    }
    reads.forEach((b, i) => enc.copyBufferToBuffer(b, 0, staging[i], 0, b.size));
    device.queue.submit([enc.finish()]);
    await Promise.all(staging.map((b) => b.mapAsync(GPUMapMode.READ)));
    return staging.map((b) => b.getMappedRange().slice(0));
  } finally {
    for (const b of staging) b.destroy();
  }
}

/** Runs `body` in a validation error scope: a WebGPU validation error becomes an exception. */
export async function validated<R>(device: GPUDevice, what: string, body: () => Promise<R>): Promise<R> {
  device.pushErrorScope("validation");
  let result: R;
  try {
    result = await body();
  } finally {
    const err = await device.popErrorScope();
    if (err) throw new WebGpuRuntimeError(`WebGPU refused ${what}: ${err.message}`);
  }
  return result;
}

/** WGSL has 32-bit integers only: the predicate's arithmetic and the buffer indices must fit. */
export function checkIntegerRange(ir: PatternIR, heads: number, n: number, width: number): void {
  const worst = largestMagnitude(ir.mask, { head: heads - 1, n, selections: [], routes: [], vslash: [] });
  if (worst >= 2 ** 31 || heads * n * width >= 2 ** 31) throw new WebGpuRuntimeError(`N = ${n} with ${heads} heads of width ${width} leaves the 32-bit integers WGSL has (the pattern's arithmetic reaches ${worst})`);
}

/** Each data-dependent array as i32 words, one after the other, with each one's offset. */
export function packDyn(dyn: { name: string; data: Uint8Array | Int32Array }[]): { data: Int32Array; offsets: Record<string, number> } {
  const data = new Int32Array(Math.max(1, dyn.reduce((s, x) => s + x.data.length, 0)));
  const offsets: Record<string, number> = {};
  let at = 0;
  for (const x of dyn) {
    offsets[`dyn_${x.name}`] = at;
    data.set(x.data, at);
    at += x.data.length;
  }
  return { data, offsets };
}
