// The cost model: how long a FlashAttention-style tile-skipping kernel (spattn's CUDA kernel:
// one CTA per query tile and head, one CTA per SM) takes on a device model, and the roofline
// times of the sparse and the dense problem. Everything here is arithmetic on tile counts;
// nothing looks at tokens.
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
  ctas: number;
  /** CTAs over SMs: 7.76 waves leave the last one 76% full. */
  waves: number;
  /** Busy SM-time over (makespan x SMs), launch excluded: wave quantization and imbalance. */
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
}

export const PLAIN_PATH: KernelPath = { mapped: false, dataPredicate: false };

/** Microseconds of one CTA's loop: steps of paired entries, partial ones (listed first) weighted. */
export function ctaLoopUs(d: DeviceModel, p: Problem, full: number, partial: number, path: KernelPath): number {
  const per = entriesPerStep(d, p);
  const unit = tileUs(d, p) * (path.mapped ? d.kernel.mappedTileCost : 1);
  const partialCost = path.dataPredicate ? d.kernel.dataPartialTileCost : d.kernel.partialTileCost;
  return (Math.ceil((full + partial) / per) * per + partial * (partialCost - 1)) * unit;
}

/**
 * The kernel's time: CTAs in launch order (query tiles fastest, then heads), each on the SM
 * that frees first; a CTA costs the fixed overhead plus its loop. `work[h]` holds head h's
 * tiles per query tile.
 */
export function scheduleKernel(d: DeviceModel, p: Problem, work: RowWork[], path: KernelPath = PLAIN_PATH): Schedule {
  const k = d.kernel;
  const sms = new FreeTimes(d.sms);
  let end = 0;
  let busy = 0;
  let slowest = 0;
  let ctas = 0;
  for (const w of work) {
    for (let i = 0; i < w.full.length; i++) {
      const t = k.ctaOverheadUs + ctaLoopUs(d, p, w.full[i], w.partial[i], path);
      end = Math.max(end, sms.assign(t));
      busy += t;
      slowest = Math.max(slowest, t);
      ctas++;
    }
  }
  return summarize(d, ctas, end, busy, slowest);
}

function summarize(d: DeviceModel, ctas: number, end: number, busy: number, slowest: number): Schedule {
  return {
    ms: (end + d.kernel.launchUs) / 1000,
    ctas,
    waves: ctas / d.sms,
    smUtilization: end > 0 ? busy / (end * d.sms) : 1,
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
  return summarize(d, ctas, ctas > 0 ? Math.ceil(ctas / d.sms) * t : 0, ctas * t, t);
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

/** What an index builder does, in FP64 operations and DRAM bytes. */
export interface BuilderWork {
  what: string;
  fp64Flops: number;
  bytes: number;
}

export function builderMs(d: DeviceModel, w: BuilderWork[]): number {
  let ms = 0;
  for (const b of w) ms += (b.fp64Flops / (d.fp64Tflops * 1e12) + b.bytes / (d.bandwidthTBs * 1e12)) * 1e3;
  return ms;
}
