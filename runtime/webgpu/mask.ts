// Runs a pattern's WGSL mask generators (backends/wgsl/mask.ts) on a WebGPU device: the dense
// mask, the block classes and FlexAttention's lists, from the predicate on every pair.
import type { PatternIR } from "../../compiler/ir.js";
import type { KernelTiles } from "../../backends/inputs.js";
import { emitWgslMask, WGSL_MASK_WORKGROUP, wgslMaskParamFields } from "../../backends/wgsl/mask.js";
import { WebGpuRuntimeError } from "./device.js";
import { bufferLayout, checkIntegerRange, dispatch, packDyn, paramBlock, pipelineFor, upload, validated } from "./gpu.js";

export interface GpuMaskOptions {
  seqLen: number;
  /** Heads to generate (1 where the pattern does not depend on the head). */
  heads: number;
  blockQ: number;
  blockK: number;
  /** The data-dependent arrays (backends/inputs.ts dynArrays) for all `heads`. */
  dyn: { name: string; data: Uint8Array | Int32Array }[];
}

export interface GpuMaskResult {
  /** [heads][n][n] 0/1, when asked for. */
  dense?: Uint8Array;
  /** [heads][nqt][nkt]: 0 empty, 1 full, 2 partial. */
  classes: Uint8Array;
  tiles: KernelTiles;
}

function maskLayout(device: GPUDevice): GPUBindGroupLayout {
  return bufferLayout(device, ["uniform", "read-only-storage", "storage", "storage", "storage"]);
}

/** The mask generators' outputs: the dense mask only where `dense` is set. */
export async function gpuMask(device: GPUDevice, ir: PatternIR, o: GpuMaskOptions & { dense?: boolean }): Promise<GpuMaskResult> {
  const { seqLen: n, heads, blockQ: bq, blockK: bk } = o;
  if (!(n > 0) || !(bq > 0) || !(bk > 0)) throw new WebGpuRuntimeError(`the mask generators need N and block sizes above 0, got ${n}, ${bq} and ${bk}`);
  checkIntegerRange(ir, heads, n, Math.ceil(n / 32));
  const nqt = Math.ceil(n / bq);
  const nkt = Math.ceil(n / bk);
  const words = Math.ceil(n / 32);
  const rows = heads * nqt;
  const limit = device.limits.maxComputeWorkgroupsPerDimension;
  if ((o.dense && n > limit) || nqt > limit || Math.ceil(rows / WGSL_MASK_WORKGROUP) > limit) throw new WebGpuRuntimeError(`N = ${n} needs more workgroups along x than the device allows (${limit})`);
  const code = emitWgslMask(ir);
  const layout = maskLayout(device);
  const [pDense, pClasses, pLists] = await Promise.all(["mask_dense", "mask_classes", "mask_lists"].map((e) => pipelineFor(device, code, layout, e)));
  const dyn = packDyn(o.dyn);
  const S = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
  const bufs = [
    upload(device, paramBlock(wgslMaskParamFields(ir), { n, bq, bk, nqt, nkt, words, rows, ...dyn.offsets }), GPUBufferUsage.UNIFORM),
    upload(device, dyn.data, GPUBufferUsage.STORAGE),
    device.createBuffer({ size: o.dense ? heads * n * words * 4 : 16, usage: S }),
    device.createBuffer({ size: Math.max(16, rows * nkt * 4), usage: S }),
    device.createBuffer({ size: (2 * rows + 2 * rows * nkt) * 4, usage: S }),
  ];
  try {
    const got = await validated(device, "the mask generators", () => {
      const group = device.createBindGroup({ layout, entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const passes = [
        ...(o.dense ? [{ pipeline: pDense, group, workgroups: [n, heads, 1] as [number, number, number] }] : []),
        { pipeline: pClasses, group, workgroups: [nqt, heads, 1] as [number, number, number] },
        { pipeline: pLists, group, workgroups: [Math.ceil(rows / WGSL_MASK_WORKGROUP), 1, 1] as [number, number, number] },
      ];
      return dispatch(device, passes, o.dense ? [bufs[2], bufs[3], bufs[4]] : [bufs[3], bufs[4]]);
    });
    const [denseBits, classBytes, listBytes] = o.dense ? got : [undefined, ...got];
    const classes = Uint8Array.from(new Uint32Array(classBytes!, 0, rows * nkt));
    const lists = new Int32Array(listBytes!);
    const tiles: KernelTiles = {
      kvNum: lists.slice(0, rows),
      kvIdx: lists.slice(rows, rows + rows * nkt),
      fullNum: lists.slice(rows + rows * nkt, 2 * rows + rows * nkt),
      fullIdx: lists.slice(2 * rows + rows * nkt, 2 * rows + 2 * rows * nkt),
      stride: nkt,
      tileHeads: heads,
      numQTiles: nqt,
    };
    let dense: Uint8Array | undefined;
    if (denseBits) {
      const bits = new Uint32Array(denseBits, 0, heads * n * words);
      dense = new Uint8Array(heads * n * n);
      for (let r = 0; r < heads * n; r++) for (let kk = 0; kk < n; kk++) dense[r * n + kk] = (bits[r * words + (kk >> 5)] >>> (kk & 31)) & 1;
    }
    return { ...(dense ? { dense } : {}), classes, tiles };
  } finally {
    for (const b of bufs) b.destroy();
  }
}

/** FlexAttention's lists of every head from the mask generators. */
export async function gpuBlockLists(device: GPUDevice, ir: PatternIR, o: GpuMaskOptions): Promise<KernelTiles> {
  return (await gpuMask(device, ir, o)).tiles;
}
