// What the WebGPU benchmarks check their outputs with: random inputs, and attention in float64
// on sampled rows (a benchmark's sizes are too large for the whole reference).
import { rng } from "../../test/random.js";

/** Uniform values in [-1, 1), from a seed. */
export function random(len: number, seed: number): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(len);
  for (let i = 0; i < len; i++) a[i] = r() * 2 - 1;
  return a;
}

/** Where row r of head h starts in a tensor of `heads` heads of n rows of d values: spattn's
 *  [heads][n][d] by default; ONNX Runtime's [n][heads][d] with `interleaved`. */
export function rowAt(n: number, heads: number, d: number, interleaved = false): (h: number, r: number) => number {
  return interleaved ? (h, r) => (r * heads + h) * d : (h, r) => (h * n + r) * d;
}

/** The largest relative error of O over sampled rows of the first and last head, against
 *  attention in float64 under `allowed` (Q, K, V and O all laid out as `at` says). */
export function sampledError(o: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, n: number, heads: number, d: number, allowed: (q: number, k: number) => boolean, at = rowAt(n, heads, d)): number {
  const rows = [0, 1, 31, 32, n >> 1, n - 33, n - 2, n - 1].filter((r) => r >= 0 && r < n);
  let worst = 0;
  const s = new Float64Array(n);
  for (const h of new Set([0, heads - 1])) {
    for (const r of rows) {
      let mx = -Infinity;
      for (let j = 0; j < n; j++) {
        if (!allowed(r, j)) {
          s[j] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[at(h, r) + c] * k[at(h, j) + c];
        s[j] = dot / Math.sqrt(d);
        mx = Math.max(mx, s[j]);
      }
      let sum = 0;
      const acc = new Float64Array(d);
      for (let j = 0; j < n; j++) {
        if (s[j] === -Infinity) continue;
        const p = Math.exp(s[j] - mx);
        sum += p;
        for (let c = 0; c < d; c++) acc[c] += p * v[at(h, j) + c];
      }
      let num = 0;
      let den = 0;
      for (let c = 0; c < d; c++) {
        const want = sum > 0 ? acc[c] / sum : 0;
        num = Math.max(num, Math.abs(o[at(h, r) + c] - want));
        den = Math.max(den, Math.abs(want));
      }
      worst = Math.max(worst, num / Math.max(den, 1e-30));
    }
  }
  return worst;
}
