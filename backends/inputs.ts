// What a generated kernel takes besides Q, K and V, laid out on the host and shared by the
// CUDA and WGSL backends: block lists of its tiles (FlexAttention's layout: partial and full
// key tiles per query tile; in kernel order, with the token map, where a permutation pays) and
// the arrays of the data-dependent steps, in the order of `dynFieldNames`.
import { buildBlockMask, headContexts, type Tensor4 } from "../compiler/blockmask/build.js";
import { buildKernelBlockMask } from "../compiler/blockmask/kernel-order.js";
import type { HeadBlocks } from "../compiler/blockmask/lib.js";
import { dependsOnHead, isDynamic, type PatternIR } from "../compiler/ir.js";

/** The data-dependent arrays of a pattern, in the order every backend lays them out. */
export function dynFieldNames(ir: PatternIR): string[] {
  return [
    ...ir.selections.map((_, i) => `sel${i}_kept`),
    ...ir.routes.flatMap((_, i) => [`route${i}_q`, `route${i}_k`]),
    ...ir.verticalSlashes.flatMap((_, i) => [`vs${i}_cols`, `vs${i}_diags`]),
  ];
}

/** FlexAttention-layout lists, padded to `stride` indices per row. */
export interface KernelTiles {
  kvNum: Int32Array;
  kvIdx: Int32Array;
  fullNum: Int32Array;
  fullIdx: Int32Array;
  stride: number;
  /** 1 when every head shares the lists. */
  tileHeads: number;
  numQTiles: number;
}

export interface KernelInputs {
  tiles: KernelTiles;
  /** Kernel position -> token, when the kernel runs in a permuted order. */
  map?: Int32Array;
  /** The data-dependent arrays, per query head concatenated, in `dynFieldNames` order. */
  dyn: { name: string; data: Uint8Array | Int32Array }[];
}

export function packTiles(perHead: HeadBlocks[], numQTiles: number): KernelTiles {
  let stride = 1;
  for (const hb of perHead) for (const rows of [hb.partial, hb.full]) for (let i = 0; i < numQTiles; i++) stride = Math.max(stride, rows.ptr[i + 1] - rows.ptr[i]);
  const pack = (which: "partial" | "full") => {
    const num = new Int32Array(perHead.length * numQTiles);
    const idx = new Int32Array(perHead.length * numQTiles * stride);
    perHead.forEach((hb, h) => {
      const rows = hb[which];
      for (let i = 0; i < numQTiles; i++) {
        num[h * numQTiles + i] = rows.ptr[i + 1] - rows.ptr[i];
        idx.set(rows.idx.subarray(rows.ptr[i], rows.ptr[i + 1]), (h * numQTiles + i) * stride);
      }
    });
    return { num, idx };
  };
  const p = pack("partial");
  const f = pack("full");
  return { kvNum: p.num, kvIdx: p.idx, fullNum: f.num, fullIdx: f.idx, stride, tileHeads: perHead.length, numQTiles };
}

function concat<A extends Uint8Array | Int32Array>(parts: A[], make: (length: number) => A): A {
  const out = make(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface KernelInputOptions {
  seqLen: number;
  heads: number;
  q?: Tensor4;
  k?: Tensor4;
  /** The kernel's tile: query rows and keys. */
  blockQ: number;
  blockK: number;
  /** Use the kernel order that pays (default), or sequence order. */
  permute?: boolean;
}

/** The data-dependent arrays of a pattern for one size (none for a positional pattern). */
export function dynArrays(ir: PatternIR, o: { seqLen: number; heads: number; q?: Tensor4; k?: Tensor4 }): KernelInputs["dyn"] {
  const needsContexts = isDynamic(ir) || ir.selections.length > 0;
  const ctxs = needsContexts ? headContexts(ir, { seqLen: o.seqLen, heads: o.heads, q: o.q, k: o.k }) : [];
  return dynFieldNames(ir).map((name) => {
    const m = /^(sel|route|vs)(\d+)_(\w+)$/.exec(name)!;
    const i = Number(m[2]);
    if (m[1] === "sel") return { name, data: concat(ctxs.map((c) => c.selections[i].kept), (l) => new Uint8Array(l)) };
    if (m[1] === "route") return { name, data: concat(ctxs.map((c) => c.routes[i][m[3] as "q" | "k"]), (l) => new Int32Array(l)) };
    return { name, data: concat(ctxs.map((c) => c.vslash[i][m[3] as "cols" | "diags"]), (l) => new Uint8Array(l)) };
  });
}

export function kernelInputs(ir: PatternIR, o: KernelInputOptions): KernelInputs {
  const tileHeads = dependsOnHead(ir) ? o.heads : 1;
  const inst = { seqLen: o.seqLen, heads: tileHeads, q: o.q, k: o.k, blockQ: o.blockQ, blockK: o.blockK };
  const km = o.permute === false ? { blocks: buildBlockMask(ir, inst), map: undefined } : buildKernelBlockMask(ir, inst);
  return { tiles: packTiles(km.blocks.perHead, km.blocks.numQBlocks), ...(km.map ? { map: km.map } : {}), dyn: dynArrays(ir, o) };
}
