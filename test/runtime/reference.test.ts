// The float64 reference attention, checked against a deliberately different brute force
// (full score matrix with -Infinity for masked entries, probabilities from the log-sum-exp)
// and against properties any softmax attention must have.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { referenceAttention, type AttentionInputs, type MaskRows } from "../../runtime/reference.js";
import { rng } from "../helpers.js";


interface Case {
  heads: number;
  kvHeads: number;
  n: number;
  d: number;
  dv: number;
}

function randomInputs(c: Case, seed: number, f32 = false): AttentionInputs {
  const r = rng(seed);
  const make = (len: number): Float32Array | Float64Array => {
    const a = f32 ? new Float32Array(len) : new Float64Array(len);
    for (let i = 0; i < len; i++) a[i] = r() * 4 - 2;
    return a;
  };
  return {
    q: make(c.heads * c.n * c.d),
    k: make(c.kvHeads * c.n * c.d),
    v: make(c.kvHeads * c.n * c.dv),
    heads: c.heads,
    kvHeads: c.kvHeads,
    seqLen: c.n,
    headDim: c.d,
    valueDim: c.dv,
  };
}

/** A mask as an explicit [heads][n][n] boolean table, and as the callback the reference takes. */
type Table = boolean[][][];
function rowsOf(table: Table): MaskRows {
  return (h, i, row) => {
    for (let j = 0; j < row.length; j++) row[j] = table[h][i][j] ? 1 : 0;
  };
}
function tableOf(heads: number, n: number, pred: (h: number, i: number, j: number) => boolean): Table {
  return Array.from({ length: heads }, (_, h) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => pred(h, i, j))));
}

/**
 * Brute force, written independently of the reference: materialise the whole [n][n] score
 * matrix per head (masked entries -Infinity), take the row's log-sum-exp, and weight the
 * values by exp(score - lse).
 */
function bruteForce(inp: AttentionInputs, table: Table, scale = 1 / Math.sqrt(inp.headDim)): { out: number[][][]; lse: number[][] } {
  const { heads, seqLen: n, headDim: d } = inp;
  const kvHeads = inp.kvHeads ?? heads;
  const dv = inp.valueDim ?? d;
  const at = (a: ArrayLike<number>, width: number, h: number, i: number, c: number): number => a[(h * n + i) * width + c];
  const out: number[][][] = [];
  const lse: number[][] = [];
  for (let h = 0; h < heads; h++) {
    const g = Math.floor((h * kvHeads) / heads);
    const scores = table[h].map((maskRow, i) =>
      maskRow.map((ok, j) => {
        if (!ok) return -Infinity;
        let dot = 0;
        for (let c = 0; c < d; c++) dot += at(inp.q, d, h, i, c) * at(inp.k, d, g, j, c);
        return dot * scale;
      }),
    );
    lse.push(
      scores.map((s) => {
        const m = Math.max(...s);
        if (m === -Infinity) return -Infinity;
        return m + Math.log(s.reduce((acc, x) => acc + Math.exp(x - m), 0));
      }),
    );
    out.push(
      scores.map((s, i) =>
        Array.from({ length: dv }, (_, c) => {
          if (lse[h][i] === -Infinity) return 0;
          return s.reduce((acc, x, j) => acc + Math.exp(x - lse[h][i]) * at(inp.v, dv, g, j, c), 0);
        }),
      ),
    );
  }
  return { out, lse };
}

function expectClose(actual: number, expected: number, what: string, tol = 1e-12): void {
  if (expected === -Infinity || actual === -Infinity) {
    expect(actual, what).toBe(expected);
    return;
  }
  expect(Number.isFinite(actual), `${what} is ${actual}`).toBe(true);
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(expected)));
}

function compare(inp: AttentionInputs, table: Table, scale?: number): void {
  const got = referenceAttention(inp, rowsOf(table), scale);
  const want = bruteForce(inp, table, scale);
  const { heads, seqLen: n } = inp;
  const dv = inp.valueDim ?? inp.headDim;
  expect(got.out.length).toBe(heads * n * dv);
  expect(got.lse.length).toBe(heads * n);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      expectClose(got.lse[h * n + i], want.lse[h][i], `lse[${h},${i}]`);
      for (let c = 0; c < dv; c++) expectClose(got.out[(h * n + i) * dv + c], want.out[h][i][c], `out[${h},${i},${c}]`);
    }
  }
}

const causal = (heads: number, n: number): Table => tableOf(heads, n, (_h, i, j) => j <= i);

describe("referenceAttention against a brute force", () => {
  const cases: Case[] = [];
  for (const n of [1, 7, 33]) {
    for (const d of [4, 16]) {
      for (const heads of [1, 2, 3]) cases.push({ heads, kvHeads: heads, n, d, dv: d });
      cases.push({ heads: 3, kvHeads: 1, n, d, dv: d }); // GQA: every query head shares one K/V head
    }
  }
  cases.push({ heads: 4, kvHeads: 2, n: 9, d: 4, dv: 6 }); // groups of two, value width != key width

  for (const [idx, c] of cases.entries()) {
    const label = `H=${c.heads} KV=${c.kvHeads} N=${c.n} D=${c.d} Dv=${c.dv}`;
    it(`causal, ${label}`, () => compare(randomInputs(c, 100 + idx), causal(c.heads, c.n)));
    it(`random mask with empty rows, ${label}`, () => {
      const r = rng(900 + idx);
      // Per-head density, with every third row of head 0 masked out entirely.
      const table = tableOf(c.heads, c.n, (h, i) => (h === 0 && i % 3 === 1 ? false : r() < 0.3 + 0.2 * h));
      compare(randomInputs(c, 500 + idx), table);
    });
  }

  it("float32 inputs and an explicit scale", () => {
    const c = { heads: 2, kvHeads: 2, n: 12, d: 8, dv: 8 };
    const inp = randomInputs(c, 7, true);
    expect(inp.q).toBeInstanceOf(Float32Array);
    compare(inp, tableOf(2, 12, (h, i, j) => Math.abs(i - j) <= 2 + h), 0.7);
  });

  it("N = 0 gives empty outputs", () => {
    const { out, lse } = referenceAttention(randomInputs({ heads: 2, kvHeads: 2, n: 0, d: 4, dv: 4 }, 1), () => {});
    expect(out.length).toBe(0);
    expect(lse.length).toBe(0);
  });
});

describe("referenceAttention edge cases", () => {
  const c = { heads: 2, kvHeads: 1, n: 10, d: 16, dv: 5 };

  it("a fully masked row gives zeros and lse -Infinity, never NaN", () => {
    const inp = randomInputs(c, 3);
    const { out, lse } = referenceAttention(inp, (h, i, row) => {
      if (h === 1 || i >= 5) return; // nothing allowed
      row.fill(1, 0, i + 1);
    });
    expect(out.some(Number.isNaN)).toBe(false);
    expect(lse.some(Number.isNaN)).toBe(false);
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 10; i++) {
        const empty = h === 1 || i >= 5;
        expect(lse[h * 10 + i] === -Infinity).toBe(empty);
        if (empty) expect(Array.from(out.subarray((h * 10 + i) * 5, (h * 10 + i + 1) * 5))).toEqual([0, 0, 0, 0, 0]);
      }
    }
  });

  it("a single allowed key gives exactly that value row, and lse equals its score", () => {
    const inp = randomInputs(c, 4, true);
    const pick = (h: number, i: number): number => (i * 7 + h * 3) % 10;
    const { out, lse } = referenceAttention(inp, (h, i, row) => {
      row[pick(h, i)] = 1;
    });
    for (let h = 0; h < 2; h++) {
      for (let i = 0; i < 10; i++) {
        const j = pick(h, i);
        expect(Array.from(out.subarray((h * 10 + i) * 5, (h * 10 + i + 1) * 5))).toEqual(Array.from(inp.v.subarray(j * 5, (j + 1) * 5)));
        let dot = 0;
        for (let x = 0; x < 16; x++) dot += inp.q[(h * 10 + i) * 16 + x] * inp.k[j * 16 + x];
        expect(lse[h * 10 + i]).toBe(dot / 4);
      }
    }
  });

  it("the row buffer is cleared before each call", () => {
    // A callback that only ever sets ones must not see the previous row's entries.
    const inp = randomInputs({ heads: 1, kvHeads: 1, n: 6, d: 4, dv: 4 }, 5);
    const setOnly = referenceAttention(inp, (_h, i, row) => {
      row[i] = 1;
    });
    const explicit = referenceAttention(inp, (_h, i, row) => {
      for (let j = 0; j < row.length; j++) row[j] = j === i ? 1 : 0;
    });
    expect(setOnly).toEqual(explicit);
  });

  it("rejects inconsistent shapes", () => {
    const inp = randomInputs({ heads: 3, kvHeads: 3, n: 4, d: 4, dv: 4 }, 6);
    expect(() => referenceAttention({ ...inp, kvHeads: 2 }, () => {})).toThrow(/multiple of kvHeads/);
    expect(() => referenceAttention({ ...inp, seqLen: 5 }, () => {})).toThrow(/q has 48 elements, expected 60/);
    expect(() => referenceAttention({ ...inp, valueDim: 3 }, () => {})).toThrow(/v has 48 elements, expected 36/);
    expect(() => referenceAttention({ ...inp, headDim: 0 }, () => {})).toThrow(/headDim/);
  });

  it("handles N = 2048, D = 64, H = 4 (causal) in reasonable time", () => {
    const n = 2048;
    const inp = randomInputs({ heads: 4, kvHeads: 4, n, d: 64, dv: 64 }, 8, true);
    const start = performance.now();
    const { out, lse } = referenceAttention(inp, (_h, i, row) => row.fill(1, 0, i + 1));
    const ms = performance.now() - start;
    expect(out.every(Number.isFinite)).toBe(true);
    expect(lse.every(Number.isFinite)).toBe(true);
    // Row 0 attends only key 0.
    expect(Array.from(out.subarray(0, 64))).toEqual(Array.from(inp.v.subarray(0, 64)));
    expect(ms).toBeLessThan(15000);
  }, 30000);
});

describe("referenceAttention properties", () => {
  const shape = fc.record({
    heads: fc.integer({ min: 1, max: 3 }),
    groups: fc.constantFrom(1, 3),
    n: fc.integer({ min: 1, max: 12 }),
    d: fc.integer({ min: 1, max: 6 }),
    dv: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer(),
    density: fc.double({ min: 0, max: 1, noNaN: true }),
    shift: fc.double({ min: -50, max: 50, noNaN: true }),
  });

  it("matches the brute force on arbitrary shapes and masks", () => {
    fc.assert(
      fc.property(shape, ({ heads, groups, n, d, dv, seed }) => {
        const c = { heads: heads * groups, kvHeads: heads, n, d, dv };
        const r = rng(seed);
        compare(randomInputs(c, seed), tableOf(c.heads, n, () => r() < 0.5));
      }),
      { numRuns: 60 },
    );
  });

  it("adding a constant to every score changes lse by that constant and not the output", () => {
    // Append a column to q (all 1) and to k (all shift / scale): every score grows by `shift`.
    fc.assert(
      fc.property(shape, ({ heads, n, d, dv, seed, density, shift }) => {
        const c = { heads, kvHeads: heads, n, d, dv };
        const base = randomInputs(c, seed);
        const scale = 0.5;
        const widen = (a: ArrayLike<number>, rows: number, extra: number): Float64Array => {
          const w = new Float64Array(rows * (d + 1));
          for (let row = 0; row < rows; row++) {
            for (let x = 0; x < d; x++) w[row * (d + 1) + x] = a[row * d + x];
            w[row * (d + 1) + d] = extra;
          }
          return w;
        };
        const shifted: AttentionInputs = { ...base, headDim: d + 1, q: widen(base.q, heads * n, 1), k: widen(base.k, heads * n, shift / scale) };
        const r = rng(seed ^ 0x5eed);
        const table = tableOf(heads, n, () => r() < density);
        const a = referenceAttention(base, rowsOf(table), scale);
        const b = referenceAttention(shifted, rowsOf(table), scale);
        for (let x = 0; x < a.lse.length; x++) {
          if (a.lse[x] === -Infinity) expect(b.lse[x]).toBe(-Infinity);
          else expect(Math.abs(b.lse[x] - (a.lse[x] + shift))).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(shift)));
        }
        for (let x = 0; x < a.out.length; x++) expect(Math.abs(b.out[x] - a.out[x])).toBeLessThanOrEqual(1e-12);
      }),
      { numRuns: 60 },
    );
  });

  it("each output is a convex combination of the allowed value rows", () => {
    fc.assert(
      fc.property(shape, ({ heads, n, d, dv, seed, density }) => {
        const c = { heads, kvHeads: heads, n, d, dv };
        const inp = randomInputs(c, seed);
        const r = rng(seed + 1);
        const table = tableOf(heads, n, () => r() < density);
        const { out } = referenceAttention(inp, rowsOf(table));
        for (let h = 0; h < heads; h++) {
          for (let i = 0; i < n; i++) {
            const keys = table[h][i].flatMap((ok, j) => (ok ? [j] : []));
            for (let col = 0; col < dv; col++) {
              const got = out[(h * n + i) * dv + col];
              if (keys.length === 0) {
                expect(got).toBe(0);
                continue;
              }
              const vals = keys.map((j) => inp.v[(h * n + j) * dv + col]);
              expect(got).toBeGreaterThanOrEqual(Math.min(...vals) - 1e-12);
              expect(got).toBeLessThanOrEqual(Math.max(...vals) + 1e-12);
            }
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});
