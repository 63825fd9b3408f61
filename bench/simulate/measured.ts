// What the comparison scripts share: a CUDA benchmark result file (bench/cuda/gpu_check.py's
// cuda_bench.json) by case, one example simulated as a case was timed, and the rounding and
// medians they report with.
import { readFileSync } from "node:fs";
import { compile } from "../../compiler/compile.js";
import type { DeviceModel } from "../../backends/simulator/device.js";
import { simulate } from "../../backends/simulator/simulate.js";
import type { LengthReport } from "../../backends/simulator/schema.js";

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

/** An example's main pattern (named as its file), with parameters, at one length (D = 128). */
export function simulateCase(device: DeviceModel, c: { example: string; set: Record<string, string>; n: number; heads: number }): LengthReport {
  const file = `examples/${c.example}.spattn`;
  const ir = compile(readFileSync(file, "utf8"), { fileName: file, pattern: c.example, set: c.set });
  return simulate([{ ir, file, seqLens: [c.n] }], { device, heads: c.heads, dim: 128 }).patterns[0].lengths[0];
}

/** Four significant digits. */
export function round(x: number): number {
  return Number(x.toPrecision(4));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
