// The cost model: how long a FlashAttention-style tile-skipping kernel (spattn's CUDA kernel:
// one CTA per query tile and head, one CTA per SM, or on the sm_90a kernel one per 64-row half,
// two per SM) takes on a device model, and the roofline times of the sparse and the dense
// problem. Everything here is arithmetic on tile counts; nothing looks at tokens.
import type { DeviceModel } from "./device.js";
import type { RowWork } from "./counts.js";

/** The attention problem being modelled (bf16 or fp16 inputs: 2 bytes an element). */
export interface Problem {
  seqLen: number;
  heads: number;
  /** Heads of K and V (GQA); equal to `heads` without grouping. */
  kvHeads: number;
  dim: number;
  dimV: number;
  blockQ: number;
  blockK: number;
  bytesPerElement: number;
}

/** FLOPs of one full tile: S = Q K^T and O += P V. */
export function tileFlops(p: Problem): number {
  return 2 * p.blockQ * p.blockK * (p.dim + p.dimV);
}

/** Microseconds one SM spends on one full tile in the kernel's inner loop. */
export function tileUs(d: DeviceModel, p: Problem): number {
  const perSm = (d.matmulTflops * 1e12 * d.kernel.mainloopEfficiency) / d.sms;
  return (tileFlops(p) / perSm) * 1e6;
}

export interface Schedule {
  ms: number;
  /** Query rows per CTA: the tile's (one CTA per SM), or half of it (two per SM; ctaShape). */
  ctaRows: number;
  ctas: number;
  /** CTAs over the CTAs the SMs hold at once: 7.76 waves leave the last one 76% full. */
  waves: number;
  /** Busy CTA-slot time over (makespan x slots), launch excluded: wave quantization and imbalance. */
  smUtilization: number;
  /** The slowest CTA's time over the mean CTA time. */
  loadImbalance: number;
  slowestCtaUs: number;
}

/** A binary min-heap of SM free times (the hardware hands each CTA to the first free SM). */
class FreeTimes {
  private h: Float64Array;
  constructor(size: number) {
    this.h = new Float64Array(size);
  }
  /** Takes the earliest free time, replaces it by `t + work`, returns the new time. */
  assign(work: number): number {
    const h = this.h;
    const t = h[0] + work;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let v = t;
      if (l < h.length && h[l] < v) {
        m = l;
        v = h[l];
      }
      if (r < h.length && h[r] < v) m = r;
      if (m === i) break;
      h[i] = h[m];
      i = m;
    }
    h[i] = t;
    return t;
  }
}

/** List entries one step of the inner loop runs side by side. */
function entriesPerStep(d: DeviceModel, p: Problem): number {
  return Math.max(1, Math.floor(d.kernel.stepKeys / p.blockK));
}

/** Which of the kernel's code paths a pattern takes. */
export interface KernelPath {
  /** Tiles in a permuted token order, gathered through a token map. */
  mapped: boolean;
  /** The predicate reads data-dependent indices (a selection from Q and K, routing). */
  dataPredicate: boolean;
  /** A block selection finer than the tiles makes partial tiles (compiler/ir.ts, selectionSplitsTiles). */
  selectionSplitsTiles: boolean;
  /** The tiles are the CUDA kernel's (128 x 64), the lists its 64-row shape reads. */
  kernelTiles: boolean;
}

export const PLAIN_PATH: KernelPath = { mapped: false, dataPredicate: false, selectionSplitsTiles: false, kernelTiles: true };

/** The sm_90a kernel's CTA shapes: "long", a CTA per query tile; "short", one per half, two per SM. */
export type CtaShape = "long" | "short";

/** The generated launcher's rule (sm90::short_shape, backends/cuda/templates/attention_sm90.cuh). */
export const SHORT_MAX_ENTRIES = 8;
export const SHORT_MAX_WAVES = 8;

/**
 * The shape the launch picks: short where the device has it, in sequence order on the kernel's
 * tiles, when a selection splits the tiles, or when every list is short (the lists' stride:
 * the most entries of one kind in a row) and the long CTAs fill few waves.
 */
export function ctaShape(d: DeviceModel, work: RowWork[], path: KernelPath): CtaShape {
  if (!d.kernel.shortShape || path.mapped || !path.kernelTiles) return "long";
  if (path.selectionSplitsTiles) return "short";
  let stride = 0;
  let rows = 0;
  for (const w of work) {
    rows += w.full.length;
    for (let i = 0; i < w.full.length; i++) stride = Math.max(stride, w.full[i], w.partial[i]);
  }
  return stride <= SHORT_MAX_ENTRIES && rows <= SHORT_MAX_WAVES * d.sms ? "short" : "long";
}

/** Microseconds of one CTA's loop: steps of paired entries, partial ones (listed first) weighted. */
export function ctaLoopUs(d: DeviceModel, p: Problem, full: number, partial: number, path: KernelPath): number {
  const per = entriesPerStep(d, p);
  const unit = tileUs(d, p) * (path.mapped ? d.kernel.mappedTileCost : 1);
  const partialCost = path.dataPredicate ? d.kernel.dataPartialTileCost : d.kernel.partialTileCost;
  return (Math.ceil((full + partial) / per) * per + partial * (partialCost - 1)) * unit;
}

/** Microseconds of a 64-row CTA's loop on its slot: one entry per step, partial ones weighted. */
export function shortLoopUs(d: DeviceModel, p: Problem, full: number, partial: number, path: KernelPath): number {
  const s = d.kernel.shortShape!;
  const partialCost = path.dataPredicate ? s.dataPartialTileCost : d.kernel.partialTileCost;
  return (full + partial * partialCost) * s.entryCost * tileUs(d, p);
}

/**
 * The kernel's time: CTAs in launch order (query tiles fastest, then heads), each on the CTA
 * slot that frees first (one per SM, or two for the short shape, whose two halves of a tile run
 * the tile's list each); a CTA costs the fixed overhead plus its loop. `work[h]` holds head h's
 * tiles per query tile. `shape` defaults to the launch's choice. `halves[h]`, where a selection
 * splits the tiles, holds head h's tiles per 64-row half: the short shape's CTAs then run only
 * the entries their own rows need (the kernel skips the others: attention_sm90.cuh, SKIP).
 */
export function scheduleKernel(d: DeviceModel, p: Problem, work: RowWork[], path: KernelPath = PLAIN_PATH, shape = ctaShape(d, work, path), halves?: RowWork[]): Schedule {
  const k = d.kernel;
  const short = shape === "short" ? k.shortShape : undefined;
  if (shape === "short" && !short) throw new Error(`device model ${d.name} has no short CTA shape`);
  const slots = short ? 2 * d.sms : d.sms;
  const free = new FreeTimes(slots);
  let end = 0;
  let busy = 0;
  let slowest = 0;
  let ctas = 0;
  const run = (t: number): void => {
    end = Math.max(end, free.assign(t));
    busy += t;
    ctas++;
    slowest = Math.max(slowest, t);
  };
  if (short && halves && path.selectionSplitsTiles) {
    for (const w of halves) {
      for (let i = 0; i < w.full.length; i++) run(short.ctaOverheadUs + (w.full[i] + w.partial[i]) * short.keptEntryCost * short.entryCost * tileUs(d, p));
    }
  } else {
    for (const w of work) {
      for (let i = 0; i < w.full.length; i++) {
        const t = short ? short.ctaOverheadUs + shortLoopUs(d, p, w.full[i], w.partial[i], path) : k.ctaOverheadUs + ctaLoopUs(d, p, w.full[i], w.partial[i], path);
        for (let half = 0; half < (short ? 2 : 1); half++) run(t);
      }
    }
  }
  return summarize(d, short ? p.blockQ / 2 : p.blockQ, slots, ctas, end, busy, slowest);
}

function summarize(d: DeviceModel, ctaRows: number, slots: number, ctas: number, end: number, busy: number, slowest: number): Schedule {
  return {
    ms: (end + d.kernel.launchUs) / 1000,
    ctaRows,
    ctas,
    waves: ctas / slots,
    smUtilization: end > 0 ? busy / (end * slots) : 1,
    loadImbalance: ctas > 0 && busy > 0 ? slowest / (busy / ctas) : 1,
    slowestCtaUs: slowest,
  };
}

/** Dense attention (every tile full) under the same model: identical CTAs, whole waves. */
export function scheduleDense(d: DeviceModel, p: Problem): Schedule {
  const nqb = Math.ceil(p.seqLen / p.blockQ);
  const nkb = Math.ceil(p.seqLen / p.blockK);
  const ctas = nqb * p.heads;
  const t = d.kernel.ctaOverheadUs + ctaLoopUs(d, p, nkb, 0, PLAIN_PATH);
  return summarize(d, p.blockQ, d.sms, ctas, ctas > 0 ? Math.ceil(ctas / d.sms) * t : 0, ctas * t, t);
}

/** HBM bytes with ideal reuse: Q, K and V read once, O and the log-sum-exp written once. */
export function attentionBytes(p: Problem, keyFraction = 1, listEntries = 0): number {
  const e = p.bytesPerElement;
  const q = p.heads * p.seqLen * p.dim * e;
  const kv = p.kvHeads * p.seqLen * (p.dim + p.dimV) * e * keyFraction;
  const o = p.heads * p.seqLen * (p.dimV * e + 4);
  return q + kv + o + 4 * listEntries;
}

export function rooflineMs(d: DeviceModel, flops: number, bytes: number): number {
  return Math.max(flops / (d.matmulTflops * 1e12), bytes / (d.bandwidthTBs * 1e12)) * 1e3;
}

/** What an index builder does, in FP64, FP32 and tensor-core (bf16) operations and DRAM bytes. */
export interface BuilderWork {
  what: string;
  fp64Flops: number;
  fp32Flops: number;
  tensorFlops: number;
  bytes: number;
}

export function builderMs(d: DeviceModel, w: BuilderWork[]): number {
  let ms = 0;
  for (const b of w) ms += (b.fp64Flops / (d.fp64Tflops * 1e12) + b.fp32Flops / (d.fp32Tflops * 1e12) + b.tensorFlops / (d.matmulTflops * 1e12) + b.bytes / (d.bandwidthTBs * 1e12)) * 1e3;
  return ms;
}
