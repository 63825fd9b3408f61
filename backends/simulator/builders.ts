// The index builders' work for a data-dependent pattern, in FP64 operations and DRAM bytes,
// counted from the steps spattn's CUDA builders run (backends/cuda/index-builders.ts): mean
// pooling, block scores, selection; k-means routing; the vertical-slash estimate. Seeded
// selections (BigBird's random blocks) need no data and are built ahead of time, like
// positional block lists, so they cost nothing here.
import type { PatternIR } from "../../compiler/ir.js";
import type { BuilderWork, Problem } from "./cost.js";

export function builderWork(ir: PatternIR, p: Problem): BuilderWork[] {
  const { seqLen: n, heads: h, dim: d, bytesPerElement: e } = p;
  const out: BuilderWork[] = [];
  for (const s of ir.selections) {
    if (s.seed !== undefined) continue;
    const nqb = Math.ceil(n / s.qblock);
    const nkb = Math.ceil(n / s.kblock);
    out.push({ what: `${s.name}: mean pooling of Q and K`, fp64Flops: h * 2 * n * d, bytes: h * (2 * n * d * e + (nqb + nkb) * d * 8) });
    out.push({ what: `${s.name}: block scores (${nqb} x ${nkb} a head)`, fp64Flops: h * nqb * nkb * 2 * d, bytes: h * ((nqb + nkb) * d * 8 + nqb * nkb * 8) });
    out.push({ what: `${s.name}: ${s.rule.kind} selection`, fp64Flops: h * nqb * nkb * 2, bytes: h * nqb * nkb * (8 + 1) });
  }
  for (const r of ir.routes) {
    // Every iteration assigns the n queries and n keys to the nearest of `clusters` centroids
    // and recomputes the centroids from them.
    out.push({ what: `k-means routing (${r.clusters} clusters, ${r.iterations} iterations)`, fp64Flops: h * (r.iterations + 1) * 2 * n * r.clusters * 2 * d, bytes: h * (r.iterations + 1) * 2 * n * d * e });
  }
  for (const v of ir.verticalSlashes) {
    out.push({ what: `vertical-slash estimate (last ${v.last} queries)`, fp64Flops: h * v.last * n * (2 * d + 20), bytes: h * (n * d * e + v.last * d * e + 2 * n * 8) });
  }
  return out;
}
