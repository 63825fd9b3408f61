// The index builders' work for a data-dependent pattern, in FP64, FP32 and tensor-core
// operations and DRAM bytes, counted from the steps spattn's CUDA builders run
// (backends/cuda/index-builders.ts): mean pooling, block scores, selection; k-means routing;
// the vertical-slash estimate. Seeded selections (BigBird's random blocks) need no data and
// are built ahead of time, like positional block lists, so they cost nothing here.
import type { PatternIR } from "../../compiler/ir.js";
import type { BuilderWork, Problem } from "./cost.js";
import { LIST_CHUNK } from "./counts.js";
import { CHOOSE_IN_REGISTERS, filterInPool } from "../cuda/index-builders.js";

/** float64 scores a row of the filtered top-k choice computes, on average (bench v16: 0.257 on
 *  Gaussian data, block_topk at N = 65536). */
export const UNDECIDED_PAIRS_PER_ROW = 0.26;

export function builderWork(ir: PatternIR, p: Problem): BuilderWork[] {
  const { seqLen: n, heads: h, dim: d, bytesPerElement: e } = p;
  const out: BuilderWork[] = [];
  for (const s of ir.selections) {
    if (s.seed !== undefined) continue;
    const nqb = Math.ceil(n / s.qblock);
    const nkb = Math.ceil(n / s.kblock);
    const pooling: BuilderWork = { what: `${s.name}: mean pooling of Q and K`, fp64Flops: h * 2 * n * d, fp32Flops: 0, tensorFlops: 0, bytes: h * (2 * n * d * e + (nqb + nkb) * d * 8) };
    out.push(pooling);
    if (s.rule.kind === "topk" && s.rule.count <= CHOOSE_IN_REGISTERS) {
      // Scores on tensor cores (three bf16 products a pair) with error bounds; float64 again
      // only in rows whose bounds leave the kept blocks undecided: UNDECIDED_PAIRS_PER_ROW
      // pairs a row on average. The means' bf16 splits and norms come out of the pooling where
      // it can make them (filterInPool), else from a pass that reads the means again.
      const means = h * (nqb + nkb) * d;
      const split = 2 * Math.ceil(d / 32) * 32 * 2;
      const splits = { fp64Flops: 2 * means, bytes: h * (nqb + nkb) * split };
      if (filterInPool(d)) {
        pooling.what += " (with the means' bf16 splits and norms)";
        pooling.fp64Flops += splits.fp64Flops;
        pooling.bytes += splits.bytes;
      } else {
        out.push({ what: `${s.name}: bf16 splits and norms of the means`, fp64Flops: splits.fp64Flops, fp32Flops: 0, tensorFlops: 0, bytes: means * 8 + splits.bytes });
      }
      out.push({ what: `${s.name}: block scores on tensor cores (${nqb} x ${nkb} a head)`, fp64Flops: 0, fp32Flops: 0, tensorFlops: h * nqb * nkb * 3 * 2 * d, bytes: h * (nqb + nkb) * split + h * nqb * nkb * 4 });
      out.push({ what: `${s.name}: topk selection (float32 bounds, float64 where undecided)`, fp64Flops: h * nqb * UNDECIDED_PAIRS_PER_ROW * 2 * d, fp32Flops: h * nqb * nkb * 4, tensorFlops: 0, bytes: h * nqb * nkb * (2 * 4 + 1) });
      continue;
    }
    out.push({ what: `${s.name}: block scores (${nqb} x ${nkb} a head)`, fp64Flops: h * nqb * nkb * 2 * d, fp32Flops: 0, tensorFlops: 0, bytes: h * ((nqb + nkb) * d * 8 + nqb * nkb * 8) });
    out.push({ what: `${s.name}: ${s.rule.kind} selection`, fp64Flops: h * nqb * nkb * 2, fp32Flops: 0, tensorFlops: 0, bytes: h * nqb * nkb * (8 + 1) });
  }
  for (const r of ir.routes) {
    // Every iteration assigns the n queries and n keys to the nearest of `clusters` centroids
    // and recomputes the centroids from them.
    out.push({ what: `k-means routing (${r.clusters} clusters, ${r.iterations} iterations)`, fp64Flops: h * (r.iterations + 1) * 2 * n * r.clusters * 2 * d, fp32Flops: 0, tensorFlops: 0, bytes: h * (r.iterations + 1) * 2 * n * d * e });
  }
  for (const v of ir.verticalSlashes) {
    out.push({ what: `vertical-slash estimate (last ${v.last} queries)`, fp64Flops: h * v.last * n * (2 * d + 20), fp32Flops: 0, tensorFlops: 0, bytes: h * (n * d * e + v.last * d * e + 2 * n * 8) });
  }
  return out;
}

/** Operations one box evaluation of the one-pass list builder stands for, fitted to block_topk
 *  (4 of 64-token blocks kept) at N = 65536 on the H200, where mask_tiles took 0.025 ms (bench
 *  v18, first run; 1.68 M evaluations); with 8 and 16 kept it then gives 0.039 and 0.054 ms
 *  against 0.037 and 0.051 measured. The builder waits on loads more than it computes, so this
 *  is a time per evaluation expressed at the FP32 rate rather than a count of instructions. */
export const LIST_BOX_OPS = 1000;

/** The tile lists of a data-dependent pattern (mask_tiles): per row (a head's query tile) a box
 *  a chunk of LIST_CHUNK key tiles, then a box a tile of the `chunks` chunks that hold listed
 *  tiles; the entries and counts written. */
export function listWork(heads: number, nqb: number, nkb: number, chunks: number, entries: number): BuilderWork {
  const boxes = heads * nqb * Math.ceil(nkb / LIST_CHUNK) + LIST_CHUNK * chunks;
  return { what: `tile lists in one pass (${boxes} box evaluations)`, fp64Flops: 0, fp32Flops: boxes * LIST_BOX_OPS, tensorFlops: 0, bytes: 4 * (entries + 2 * heads * nqb) };
}
