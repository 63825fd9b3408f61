// What the comparison scripts share: a CUDA benchmark result file (bench/cuda/gpu_check.py's
// cuda_bench.json) by case, and the rounding and medians they report with.
import { readFileSync } from "node:fs";

/** One row of gpu_check.py's results (the fields the comparisons read). */
export interface BenchRow {
  case: string;
  n?: number;
  ms?: number;
  ours_ms?: number;
  ours_bits_ms?: number;
  index_build_ms?: number;
}

export function loadBench(path: string): { gpu: string; byCase: Map<string, BenchRow> } {
  const bench = JSON.parse(readFileSync(path, "utf8")) as { gpu: string; rows: BenchRow[] };
  return { gpu: bench.gpu, byCase: new Map(bench.rows.map((r) => [r.case, r])) };
}

/** Four significant digits. */
export function round(x: number): number {
  return Number(x.toPrecision(4));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
