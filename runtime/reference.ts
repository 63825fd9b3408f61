// The float64 CPU reference for masked attention: the ground truth that generated kernels
// and mask generators are checked against. It favours clarity and exactness over speed, but
// stays allocation-free per row so that realistic sizes (N = 2048) run in seconds.

/** allowed(h, i, row): fill `row` (length n, Uint8Array) with 1 where query i of head h may attend key j, 0 elsewhere. */
export type MaskRows = (head: number, query: number, row: Uint8Array) => void;

export interface AttentionInputs {
  /** Queries, [1, heads, seqLen, headDim] row-major. */
  q: Float32Array | Float64Array;
  /** Keys, [1, kvHeads, seqLen, headDim] row-major. */
  k: Float32Array | Float64Array;
  /** Values, [1, kvHeads, seqLen, valueDim] row-major. */
  v: Float32Array | Float64Array;
  heads: number;
  seqLen: number;
  headDim: number;
  /** Number of K/V heads (grouped-query attention); defaults to `heads`. */
  kvHeads?: number;
  /** Width of a value row; defaults to `headDim`. */
  valueDim?: number;
}

export interface AttentionResult {
  /** [1, heads, seqLen, valueDim] row-major. */
  out: Float64Array;
  /** Log-sum-exp of the scaled scores of each row, [1, heads, seqLen]; -Infinity for a row with no allowed key. */
  lse: Float64Array;
}

function checkCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`referenceAttention: ${name} must be an integer >= ${min}, got ${value}`);
}

/**
 * Exact (float64) softmax attention under a mask:
 *   s_j = scale * q_i . k_j for allowed j, m = max s_j, p_j = exp(s_j - m),
 *   out_i = sum p_j v_j / sum p_j, lse_i = m + log(sum p_j).
 * A fully masked row gives out_i = 0 and lse_i = -Infinity. `scale` defaults to 1/sqrt(headDim).
 */
export function referenceAttention(inp: AttentionInputs, allowed: MaskRows, scale?: number): AttentionResult {
  const { heads, seqLen: n, headDim: d } = inp;
  const kvHeads = inp.kvHeads ?? heads;
  const dv = inp.valueDim ?? d;
  checkCount("heads", heads, 1);
  checkCount("kvHeads", kvHeads, 1);
  checkCount("seqLen", n, 0);
  checkCount("headDim", d, 1);
  checkCount("valueDim", dv, 1);
  if (heads % kvHeads !== 0) throw new RangeError(`referenceAttention: heads (${heads}) must be a multiple of kvHeads (${kvHeads})`);
  const lengths: [string, Float32Array | Float64Array, number][] = [
    ["q", inp.q, heads * n * d],
    ["k", inp.k, kvHeads * n * d],
    ["v", inp.v, kvHeads * n * dv],
  ];
  for (const [name, arr, want] of lengths) {
    if (arr.length !== want) throw new RangeError(`referenceAttention: ${name} has ${arr.length} elements, expected ${want}`);
  }
  const s = scale ?? 1 / Math.sqrt(d);

  // Widen the inputs once: the loops below then only ever see Float64Array, which keeps the
  // element accesses monomorphic (and fast) whatever mix of input types the caller passes.
  const q = Float64Array.from(inp.q);
  const k = Float64Array.from(inp.k);
  const v = Float64Array.from(inp.v);

  const out = new Float64Array(heads * n * dv);
  const lse = new Float64Array(heads * n);
  const group = heads / kvHeads;
  // Per-row scratch, reused for every row.
  const row = new Uint8Array(n);
  const scores = new Float64Array(n);

  for (let h = 0; h < heads; h++) {
    const kvHead = Math.floor(h / group);
    const kBase = kvHead * n * d;
    const vBase = kvHead * n * dv;
    for (let i = 0; i < n; i++) {
      // Cleared first so that a callback that only sets the allowed entries also works.
      row.fill(0);
      allowed(h, i, row);

      const qOff = (h * n + i) * d;
      let m = -Infinity;
      let any = false;
      for (let j = 0; j < n; j++) {
        if (row[j] === 0) continue;
        const kOff = kBase + j * d;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[qOff + c] * k[kOff + c];
        const sj = s * dot;
        scores[j] = sj;
        if (sj > m) m = sj;
        any = true;
      }

      const oOff = (h * n + i) * dv;
      if (!any) {
        // No key to attend: the output stays 0 (not 0/0 = NaN) and the normaliser is empty.
        lse[h * n + i] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        if (row[j] === 0) continue;
        const p = Math.exp(scores[j] - m);
        sum += p;
        const vOff = vBase + j * dv;
        for (let c = 0; c < dv; c++) out[oOff + c] += p * v[vOff + c];
      }
      for (let c = 0; c < dv; c++) out[oOff + c] /= sum;
      lse[h * n + i] = m + Math.log(sum);
    }
  }
  return { out, lse };
}

/** float32 values rounded to bf16 (to nearest, ties to even) and back: the inputs as the GPU's
 *  bf16 kernels and index builders read them, for a reference that sees the same. */
export function roundToBf16(x: ArrayLike<number>): Float32Array {
  const out = Float32Array.from(x);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    bits[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 0) & 0xffff0000;
  }
  return out;
}
