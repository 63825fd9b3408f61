// spattn block-mask runtime: the exact semantics of every mask operation, in one file with no
// imports. The compiler calls it directly, and the TypeScript backend copies this file verbatim
// (less its `export` keywords) into every generated mask module, so both run the same code.
//
// Three layers:
// 1. concrete integer helpers (floor division, documents, NATTEN window starts);
// 2. an abstract domain that evaluates a mask over a box of (q, k) pairs and answers
//    false / true / partial, exactly, or "unknown" when it cannot prove which;
// 3. the block classifier (boxes -> empty / partial / full blocks, falling back to rows and
//    single elements when the domain says "unknown", so the result is always exact),
//    and the data-dependent steps: block pooling, top-k / top-p selection, k-means routing.

// ---------------------------------------------------------------- 1. concrete integer helpers

export function fdiv(a: number, b: number): number {
  return Math.floor(a / b);
}

export function fmod(a: number, b: number): number {
  const r = a % b;
  return r < 0 ? r + b : r;
}

/** Document index of position x, for cumulative document ends (sorted, non-decreasing). */
export function segmentOf(ends: readonly number[], x: number): number {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ends[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * NATTEN's neighbourhood on one axis of `length` coordinates. Dilation d splits the axis
 * into d sub-grids of equal residue (i mod d); on its sub-grid a coordinate i has index
 * i' = floor(i / d) among L' = ceil((length - i mod d) / d) members, and its window holds
 * `kernel` consecutive members starting at clamp(i' - floor(kernel / 2), 0, L' - kernel):
 * shifted at the borders so that every coordinate sees exactly `kernel` keys. Causal
 * windows end at i' and start at max(i' - kernel + 1, 0). Returns the first coordinate of
 * the window (in axis coordinates: residue + start' * d).
 */
export function natStart(i: number, length: number, kernel: number, dilation: number, causal: boolean): number {
  const r = i % dilation;
  const ip = (i - r) / dilation;
  if (causal) return r + Math.max(ip - kernel + 1, 0) * dilation;
  const sub = Math.ceil((length - r) / dilation);
  const start = Math.min(Math.max(ip - Math.floor(kernel / 2), 0), sub - kernel);
  return r + start * dilation;
}

// ---------------------------------------------------------------- 2. the abstract domain

/** A box of (q, k) pairs: rows q0..q1 and columns k0..k1, inclusive. */
export interface Box {
  q0: number;
  q1: number;
  k0: number;
  k1: number;
}

/**
 * The values an integer expression takes over a box. `lo`/`hi` bound them; `tight` says both
 * bounds are attained; `dense` says every integer between them is attained. `dep` records
 * which of q (1) and k (2) the expression reads. When `lin` is set the value is exactly
 * a*q + b*k + c, which keeps ranges exact through sums (q - k over a box is exact).
 */
export interface IV {
  lo: number;
  hi: number;
  tight: boolean;
  dense: boolean;
  dep: number;
  lin: boolean;
  a: number;
  b: number;
  c: number;
}

export const DEP_Q = 1;
export const DEP_K = 2;

export function ivLin(a: number, b: number, c: number, box: Box): IV {
  const qa = a >= 0 ? a * box.q0 : a * box.q1;
  const qz = a >= 0 ? a * box.q1 : a * box.q0;
  const ka = b >= 0 ? b * box.k0 : b * box.k1;
  const kz = b >= 0 ? b * box.k1 : b * box.k0;
  const lo = qa + ka + c;
  const hi = qz + kz + c;
  // Unit steps in every varying variable reach every integer between the bounds (q - k over
  // a box is dense); other steps are not claimed dense, which only costs refinement.
  const qVaries = box.q1 > box.q0 && a !== 0;
  const kVaries = box.k1 > box.k0 && b !== 0;
  const dense = lo === hi || ((!qVaries || Math.abs(a) === 1) && (!kVaries || Math.abs(b) === 1));
  return { lo, hi, tight: true, dense, dep: (a !== 0 ? DEP_Q : 0) | (b !== 0 ? DEP_K : 0), lin: true, a, b, c };
}

export function ivConst(c: number): IV {
  return { lo: c, hi: c, tight: true, dense: true, dep: 0, lin: true, a: 0, b: 0, c };
}

export function ivQ(box: Box): IV {
  return ivLin(1, 0, 0, box);
}

export function ivK(box: Box): IV {
  return ivLin(0, 1, 0, box);
}

function ivOf(lo: number, hi: number, tight: boolean, dense: boolean, dep: number): IV {
  if (lo === hi) return { lo, hi, tight: true, dense: true, dep, lin: false, a: 0, b: 0, c: lo };
  return { lo, hi, tight, dense, dep, lin: false, a: 0, b: 0, c: 0 };
}

/** Operands that read different variables, or one of which is constant over the box, vary
 *  independently: the extremes of their sum are attained together. */
function independent(x: IV, y: IV): boolean {
  return (x.dep & y.dep) === 0 || x.lo === x.hi || y.lo === y.hi;
}

export function ivAdd(x: IV, y: IV, box: Box): IV {
  if (x.lin && y.lin) return ivLin(x.a + y.a, x.b + y.b, x.c + y.c, box);
  const ind = independent(x, y);
  return ivOf(x.lo + y.lo, x.hi + y.hi, ind && x.tight && y.tight, ind && x.dense && y.dense, x.dep | y.dep);
}

export function ivNeg(x: IV, box: Box): IV {
  if (x.lin) return ivLin(-x.a, -x.b, -x.c, box);
  return ivOf(-x.hi, -x.lo, x.tight, x.dense, x.dep);
}

export function ivSub(x: IV, y: IV, box: Box): IV {
  return ivAdd(x, ivNeg(y, box), box);
}

export function ivMul(x: IV, y: IV, box: Box): IV {
  if (x.lin && y.lin && x.dep === 0) return ivLin(x.c * y.a, x.c * y.b, x.c * y.c, box);
  if (x.lin && y.lin && y.dep === 0) return ivLin(y.c * x.a, y.c * x.b, y.c * x.c, box);
  const ps = [x.lo * y.lo, x.lo * y.hi, x.hi * y.lo, x.hi * y.hi];
  const lo = Math.min(...ps);
  const hi = Math.max(...ps);
  if (y.dep === 0 && y.lo === y.hi) return ivOf(lo, hi, x.tight, x.dense && Math.abs(y.lo) <= 1, x.dep);
  if (x.dep === 0 && x.lo === x.hi) return ivOf(lo, hi, y.tight, y.dense && Math.abs(x.lo) <= 1, y.dep);
  return ivOf(lo, hi, false, false, x.dep | y.dep);
}

export function ivDiv(x: IV, m: number): IV {
  return ivOf(fdiv(x.lo, m), fdiv(x.hi, m), x.tight, x.dense, x.dep);
}

export function ivMod(x: IV, m: number): IV {
  if (fdiv(x.lo, m) === fdiv(x.hi, m)) return ivOf(fmod(x.lo, m), fmod(x.hi, m), x.tight, x.dense, x.dep);
  if (!x.dense) return ivOf(0, m - 1, false, false, x.dep);
  if (x.hi - x.lo + 1 >= m) return ivOf(0, m - 1, true, true, x.dep);
  // One wrap: values are [lo mod m, m-1] and [0, hi mod m]; 0 and m-1 are attained.
  return ivOf(0, m - 1, true, fmod(x.hi, m) + 1 >= fmod(x.lo, m), x.dep);
}

export function ivAbs(x: IV, box: Box): IV {
  if (x.lo >= 0) return x;
  if (x.hi <= 0) return ivNeg(x, box);
  return ivOf(0, Math.max(-x.lo, x.hi), x.dense, x.dense, x.dep);
}

export function ivMin(x: IV, y: IV): IV {
  const ind = independent(x, y);
  return ivOf(Math.min(x.lo, y.lo), Math.min(x.hi, y.hi), ind && x.tight && y.tight, ind && x.dense && y.dense, x.dep | y.dep);
}

export function ivMax(x: IV, y: IV): IV {
  const ind = independent(x, y);
  return ivOf(Math.max(x.lo, y.lo), Math.max(x.hi, y.hi), ind && x.tight && y.tight, ind && x.dense && y.dense, x.dep | y.dep);
}

/** Whether every document of cumulative `ends` holds a position (ids then step by one). */
export function noEmptyDocument(ends: readonly number[]): boolean {
  if (ends.length > 0 && ends[0] === 0) return false;
  for (let i = 1; i < ends.length; i++) if (ends[i] === ends[i - 1]) return false;
  return true;
}

export function ivSegment(ends: readonly number[], x: IV): IV {
  // Monotone; dense when no document is empty.
  return ivOf(segmentOf(ends, x.lo), segmentOf(ends, x.hi), x.tight, x.dense && noEmptyDocument(ends), x.dep);
}

/** Ranges wider than this are bounded loosely instead of enumerated. */
const ENUMERATE_LIMIT = 4096;

export function ivNatStart(x: IV, length: number, kernel: number, dilation: number, causal: boolean): IV {
  if (x.lo === x.hi) return ivOf(natStart(x.lo, length, kernel, dilation, causal), natStart(x.lo, length, kernel, dilation, causal), true, true, x.dep);
  if (dilation === 1) {
    // Monotone with steps of 0 or 1: dense wherever its argument is.
    return ivOf(natStart(x.lo, length, kernel, 1, causal), natStart(x.hi, length, kernel, 1, causal), x.tight, x.dense, x.dep);
  }
  if (x.dense && x.hi - x.lo < ENUMERATE_LIMIT) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = x.lo; i <= x.hi; i++) {
      const s = natStart(i, length, kernel, dilation, causal);
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    return ivOf(lo, hi, true, false, x.dep);
  }
  return ivOf(Math.min(0, x.lo), Math.max(length - 1, x.hi), false, false, x.dep);
}

// Three-valued truth over a box, packed with its dependencies: value | dep << 2.
export const F = 0; // no pair of the box is allowed
export const T = 1; // every pair is allowed
export const P = 2; // some are and some are not (proven)
export const U = 3; // not proven either way: refine

export function tri(v: number, dep: number): number {
  return v === F || v === T ? v : v | (dep << 2);
}

/** x < 0, x <= 0, x == 0, x != 0 over the box, for x = left - right. */
export function ivCmp(op: string, x: IV): number {
  const vary = x.tight ? P : U;
  switch (op) {
    case "<":
      return x.hi < 0 ? T : x.lo >= 0 ? F : tri(vary, x.dep);
    case "<=":
      return x.hi <= 0 ? T : x.lo > 0 ? F : tri(vary, x.dep);
    case "==":
    case "!=": {
      let v: number;
      if (x.lo === 0 && x.hi === 0) v = T;
      else if (x.lo > 0 || x.hi < 0) v = F;
      else if (x.dense || (x.tight && (x.lo === 0 || x.hi === 0))) v = P;
      else v = U;
      if (op === "!=") v = v === T ? F : v === F ? T : v;
      return tri(v, x.dep);
    }
  }
  throw new Error(`unknown comparison ${op}`);
}

export function triNot(x: number): number {
  const v = x & 3;
  return v === T ? F : v === F ? T : x;
}

/**
 * Conjunction (isAnd) or disjunction. The result is exact when at most one operand is
 * undecided, or when the undecided ones are proven partial and read disjoint variables
 * (a condition on q alone and one on k alone: their product is partial too).
 */
export function triJoin(xs: number[], isAnd: boolean): number {
  const absorb = isAnd ? F : T;
  const neutral = isAnd ? T : F;
  let undecided = 0;
  let only = 0;
  let deps = 0;
  let disjoint = true;
  for (const x of xs) {
    const v = x & 3;
    if (v === absorb) return absorb;
    if (v === neutral) continue;
    undecided++;
    only = x;
    const d = x >> 2;
    if (v === U || d === 0 || (deps & d) !== 0) disjoint = false;
    deps |= d;
  }
  if (undecided === 0) return neutral;
  if (undecided === 1) return only;
  return disjoint ? tri(P, deps) : tri(U, deps);
}

// ---------------------------------------------------------------- 3. blocks

/** Per head, compressed rows: the key blocks of query block i are idx[ptr[i] .. ptr[i+1]). */
export interface BlockRows {
  ptr: Int32Array;
  idx: Int32Array;
}

export interface HeadBlocks {
  partial: BlockRows;
  full: BlockRows;
}

class RowBuilder {
  ptr: Int32Array;
  idx: Int32Array = new Int32Array(64);
  len = 0;
  constructor(rows: number) {
    this.ptr = new Int32Array(rows + 1);
  }
  push(v: number): void {
    if (this.len === this.idx.length) {
      const next = new Int32Array(this.idx.length * 2);
      next.set(this.idx);
      this.idx = next;
    }
    this.idx[this.len++] = v;
  }
  endRow(i: number): void {
    this.ptr[i + 1] = this.len;
  }
  done(): BlockRows {
    return { ptr: this.ptr, idx: this.idx.slice(0, this.len) };
  }
}

/** What the classifier needs of a pattern, for one head. */
export interface MaskEval {
  /** Three-valued truth over a box (see `tri`). */
  box(b: Box): number;
  /** Exact truth at one pair. */
  point(q: number, k: number): boolean;
}

const BLOCK_EMPTY = 0;
const BLOCK_FULL = 1;
const BLOCK_PARTIAL = 2;

/** Exact status of one block the domain could not decide: by rows, then by elements. */
function refineBlock(m: MaskEval, q0: number, q1: number, k0: number, k1: number): number {
  let anyTrue = false;
  let anyFalse = false;
  const row: Box = { q0, q1: q0, k0, k1 };
  for (let q = q0; q <= q1; q++) {
    row.q0 = q;
    row.q1 = q;
    const v = m.box(row) & 3;
    if (v === T) anyTrue = true;
    else if (v === F) anyFalse = true;
    else if (v === P) return BLOCK_PARTIAL;
    else {
      for (let k = k0; k <= k1; k++) {
        if (m.point(q, k)) anyTrue = true;
        else anyFalse = true;
        if (anyTrue && anyFalse) return BLOCK_PARTIAL;
      }
    }
    if (anyTrue && anyFalse) return BLOCK_PARTIAL;
  }
  return anyTrue ? BLOCK_FULL : BLOCK_EMPTY;
}

/**
 * Classifies every (query block, key block) of an n x n mask into empty, partial and full,
 * exactly. Per query block it bisects the key-block range: a box the domain proves empty or
 * full is settled whole, so positional patterns cost about (boundaries x log blocks) box
 * evaluations instead of n^2 element tests.
 */
export function classifyBlocks(m: MaskEval, n: number, bq: number, bk: number): HeadBlocks {
  const nqb = Math.ceil(n / bq);
  const nkb = Math.ceil(n / bk);
  const partial = new RowBuilder(nqb);
  const full = new RowBuilder(nqb);
  const box: Box = { q0: 0, q1: 0, k0: 0, k1: 0 };
  const visit = (q0: number, q1: number, lo: number, hi: number): void => {
    box.q0 = q0;
    box.q1 = q1;
    box.k0 = lo * bk;
    box.k1 = Math.min(n, (hi + 1) * bk) - 1;
    const v = m.box(box) & 3;
    if (v === F) return;
    if (v === T) {
      for (let j = lo; j <= hi; j++) full.push(j);
      return;
    }
    if (lo === hi) {
      const s = v === P ? BLOCK_PARTIAL : refineBlock(m, q0, q1, box.k0, box.k1);
      if (s === BLOCK_PARTIAL) partial.push(lo);
      else if (s === BLOCK_FULL) full.push(lo);
      return;
    }
    const mid = (lo + hi) >> 1;
    visit(q0, q1, lo, mid);
    visit(q0, q1, mid + 1, hi);
  };
  for (let i = 0; i < nqb; i++) {
    if (nkb > 0) visit(i * bq, Math.min(n, (i + 1) * bq) - 1, 0, nkb - 1);
    partial.endRow(i);
    full.endRow(i);
  }
  return { partial: partial.done(), full: full.done() };
}

/** Dense boolean rows of one head, row-major n x n, by the same exact evaluation. */
export function denseMask(m: MaskEval, n: number, out: Uint8Array, offset = 0): void {
  const row: Box = { q0: 0, q1: 0, k0: 0, k1: n - 1 };
  const fill = (q: number, k0: number, k1: number): void => {
    row.q0 = q;
    row.q1 = q;
    row.k0 = k0;
    row.k1 = k1;
    const v = m.box(row) & 3;
    if (v === F) return;
    const base = offset + q * n;
    if (v === T) {
      out.fill(1, base + k0, base + k1 + 1);
      return;
    }
    if (k1 - k0 < 32) {
      for (let k = k0; k <= k1; k++) if (m.point(q, k)) out[base + k] = 1;
      return;
    }
    const mid = (k0 + k1) >> 1;
    fill(q, k0, mid);
    fill(q, mid + 1, k1);
  };
  for (let q = 0; q < n; q++) if (n > 0) fill(q, 0, n - 1);
}

// ---------------------------------------------------------------- data-dependent steps

/** Mean of each block of `block` rows of an [n, d] matrix starting at `offset`; float64. */
export function meanPool(x: ArrayLike<number>, offset: number, n: number, d: number, block: number): Float64Array {
  const nb = Math.ceil(n / block);
  const out = new Float64Array(nb * d);
  for (let b = 0; b < nb; b++) {
    const r0 = b * block;
    const r1 = Math.min(n, r0 + block);
    for (let r = r0; r < r1; r++) {
      const src = offset + r * d;
      for (let c = 0; c < d; c++) out[b * d + c] += x[src + c];
    }
    const count = r1 - r0;
    for (let c = 0; c < d; c++) out[b * d + c] /= count;
  }
  return out;
}

export type Keep = { kind: "topk"; count: number } | { kind: "topp"; mass: number };

// e^x from + - * / alone, so that the GPU index builders (backends/cuda/templates/
// vslash_builder.cuh, the same operations in the same order, each rounded on its own) compute
// the same bits as the CPU: Math.exp differs between engines, CUDA's exp between versions.
// Cody-Waite reduction x = k ln2 + r (ln2 split in two, k * LN2_HI exact), a degree-13
// Taylor polynomial of e^r for |r| <= 0.347 (truncation below 1e-17), then 2^k in two
// exact-or-once-rounded steps through the exponent bits. Within 2 ulp of e^x (tested).
export const EXP64 = {
  ln2Hi: 6.93147180369123816490e-1,
  ln2Lo: 1.90821492927058770002e-10,
  invLn2: 1.44269504088896338700,
  /** Above: +Infinity; below: 0. */
  overflow: 709.782712893384,
  underflow: -745.1332191019412,
  /** Horner's coefficients: 1/13!, 1/12!, ..., 1/1!, 1/0!. */
  taylor: [1 / 6227020800, 1 / 479001600, 1 / 39916800, 1 / 3628800, 1 / 362880, 1 / 40320, 1 / 5040, 1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1, 1],
};
const pow2View = new DataView(new ArrayBuffer(8));

/** 2^e for -1022 <= e <= 1023, from its bits. */
function pow2(e: number): number {
  pow2View.setUint32(0, (e + 1023) << 20);
  pow2View.setUint32(4, 0);
  return pow2View.getFloat64(0);
}

export function exp64(x: number): number {
  if (x !== x) return x;
  if (x > EXP64.overflow) return Infinity;
  if (x < EXP64.underflow) return 0;
  const k = Math.floor(x * EXP64.invLn2 + 0.5);
  const r = x - k * EXP64.ln2Hi - k * EXP64.ln2Lo;
  const t = EXP64.taylor;
  let p = t[0];
  for (let i = 1; i < t.length; i++) p = p * r + t[i];
  const k1 = Math.floor(k / 2);
  return p * pow2(k1) * pow2(k - k1);
}

/** Block scores of one query block: scores[kb] for every key block. */
export type BlockScorer = (qb: number, scores: Float64Array) => void;

/** score(qb, kb) = mean(Q block) . mean(K block), from pooled rows, in float64. */
export function pooledScorer(qPool: Float64Array, kPool: Float64Array, nkb: number, d: number): BlockScorer {
  return (i, out) => {
    for (let j = 0; j < nkb; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += qPool[i * d + c] * kPool[j * d + c];
      out[j] = s;
    }
  };
}

/** A 32-bit integer mixer (the finaliser of a common hash); exact in every language. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Seeded random scores (BigBird's random blocks): mix32(mix32(mix32(mix32(seed) ^ head) ^ qb) ^ kb). */
export function randomScorer(seed: number, head: number, nkb: number): BlockScorer {
  const base = mix32(mix32(seed) ^ head);
  return (i, out) => {
    const row = mix32(base ^ i);
    for (let j = 0; j < nkb; j++) out[j] = mix32(row ^ j);
  };
}

/**
 * One selection for one head: kept[qb * nkb + kb] = 1 for kept blocks. `always` blocks are
 * kept first; candidates follow by descending score (ties to the lower kb) until `topk`
 * blocks are kept in all, or until the kept blocks hold `mass` of the softmax (with `scale`)
 * over always and candidate blocks.
 */
export function selectBlocks(
  scorer: BlockScorer,
  nqb: number,
  nkb: number,
  scale: number,
  keep: Keep,
  among: (qb: number, kb: number) => boolean,
  always: (qb: number, kb: number) => boolean,
): Uint8Array {
  const kept = new Uint8Array(nqb * nkb);
  const score = new Float64Array(nkb);
  const cand: number[] = [];
  for (let i = 0; i < nqb; i++) {
    cand.length = 0;
    let keptCount = 0;
    let maxScore = -Infinity;
    scorer(i, score);
    for (let j = 0; j < nkb; j++) {
      if (always(i, j)) {
        kept[i * nkb + j] = 1;
        keptCount++;
      } else if (among(i, j)) cand.push(j);
      else continue;
      if (score[j] > maxScore) maxScore = score[j];
    }
    cand.sort((a, b) => score[b] - score[a] || a - b);
    if (keep.kind === "topk") {
      for (let t = 0; t < cand.length && keptCount < keep.count; t++, keptCount++) kept[i * nkb + cand[t]] = 1;
      continue;
    }
    let have = 0;
    for (let j = 0; j < nkb; j++) {
      if (kept[i * nkb + j]) have += exp64((score[j] - maxScore) * scale);
    }
    let total = have;
    for (const j of cand) total += exp64((score[j] - maxScore) * scale);
    for (let t = 0; t < cand.length && have < keep.mass * total; t++) {
      kept[i * nkb + cand[t]] = 1;
      have += exp64((score[cand[t]] - maxScore) * scale);
    }
  }
  return kept;
}

function normalizeRows(x: ArrayLike<number>, offset: number, rows: number, d: number, out: Float64Array, outRow: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += x[offset + r * d + c] * x[offset + r * d + c];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < d; c++) out[(outRow + r) * d + c] = x[offset + r * d + c] * inv;
  }
}

/**
 * Spherical k-means over X = [normalised Q rows; normalised K rows] of one head. Centroids
 * start as the normalised keys at floor(m * n / clusters); each iteration assigns every row
 * to the centroid of largest dot product (ties to the lower cluster), then moves each
 * non-empty cluster's centroid to the normalised mean of its rows (a zero mean keeps the old
 * centroid). After the iterations rows are assigned once more. Returns [query, key] clusters.
 */
export function routeClusters(q: ArrayLike<number>, k: ArrayLike<number>, offset: number, n: number, d: number, clusters: number, iterations: number): [Int32Array, Int32Array] {
  const x = new Float64Array(2 * n * d);
  normalizeRows(q, offset, n, d, x, 0);
  normalizeRows(k, offset, n, d, x, n);
  const cent = new Float64Array(clusters * d);
  for (let m = 0; m < clusters; m++) {
    const r = Math.floor((m * n) / clusters);
    for (let c = 0; c < d; c++) cent[m * d + c] = x[(n + r) * d + c];
  }
  const assign = new Int32Array(2 * n);
  const assignAll = (): void => {
    for (let r = 0; r < 2 * n; r++) {
      let best = 0;
      let bestDot = -Infinity;
      for (let m = 0; m < clusters; m++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += x[r * d + c] * cent[m * d + c];
        if (s > bestDot) {
          bestDot = s;
          best = m;
        }
      }
      assign[r] = best;
    }
  };
  for (let it = 0; it < iterations; it++) {
    assignAll();
    const sum = new Float64Array(clusters * d);
    const count = new Int32Array(clusters);
    for (let r = 0; r < 2 * n; r++) {
      const m = assign[r];
      count[m]++;
      for (let c = 0; c < d; c++) sum[m * d + c] += x[r * d + c];
    }
    for (let m = 0; m < clusters; m++) {
      if (count[m] === 0) continue;
      let s = 0;
      for (let c = 0; c < d; c++) s += sum[m * d + c] * sum[m * d + c];
      if (s === 0) continue;
      const inv = 1 / Math.sqrt(s);
      for (let c = 0; c < d; c++) cent[m * d + c] = sum[m * d + c] * inv;
    }
  }
  assignAll();
  return [assign.slice(0, n), assign.slice(n)];
}

/** Per-cluster prefix counts, so that a box asks "which clusters occur here" in O(clusters). */
export interface ClusterIndex {
  clusters: number;
  q: Int32Array;
  k: Int32Array;
  qPrefix: Int32Array;
  kPrefix: Int32Array;
  n: number;
}

export function clusterIndex(q: Int32Array, k: Int32Array, clusters: number): ClusterIndex {
  const n = q.length;
  const prefix = (a: Int32Array): Int32Array => {
    const p = new Int32Array(clusters * (n + 1));
    for (let m = 0; m < clusters; m++) {
      let acc = 0;
      for (let i = 0; i < n; i++) {
        if (a[i] === m) acc++;
        p[m * (n + 1) + i + 1] = acc;
      }
    }
    return p;
  };
  return { clusters, q, k, qPrefix: prefix(q), kPrefix: prefix(k), n };
}

/** sameCluster over a box: true when one cluster holds every row and column, false when
 *  row and column clusters are disjoint, partial otherwise (both cases then occur). */
export function clusterBox(ci: ClusterIndex, b: Box): number {
  const n1 = ci.n + 1;
  const rows = b.q1 - b.q0 + 1;
  const cols = b.k1 - b.k0 + 1;
  let common = false;
  for (let m = 0; m < ci.clusters; m++) {
    const inQ = ci.qPrefix[m * n1 + b.q1 + 1] - ci.qPrefix[m * n1 + b.q0];
    const inK = ci.kPrefix[m * n1 + b.k1 + 1] - ci.kPrefix[m * n1 + b.k0];
    if (inQ === rows && inK === cols) return T;
    if (inQ > 0 && inK > 0) common = true;
  }
  return common ? tri(P, DEP_Q | DEP_K) : F;
}

/** Kept blocks of a selection, with 2D prefix sums so that a box is decided in O(1). */
export interface SelectionIndex {
  qblock: number;
  kblock: number;
  nqb: number;
  nkb: number;
  kept: Uint8Array;
  prefix: Int32Array;
}

export function selectionIndex(kept: Uint8Array, nqb: number, nkb: number, qblock: number, kblock: number): SelectionIndex {
  const w = nkb + 1;
  const prefix = new Int32Array((nqb + 1) * w);
  for (let i = 0; i < nqb; i++) {
    let row = 0;
    for (let j = 0; j < nkb; j++) {
      row += kept[i * nkb + j];
      prefix[(i + 1) * w + j + 1] = prefix[i * w + j + 1] + row;
    }
  }
  return { qblock, kblock, nqb, nkb, kept, prefix };
}

export function selectedPoint(s: SelectionIndex, q: number, k: number): boolean {
  return s.kept[Math.floor(q / s.qblock) * s.nkb + Math.floor(k / s.kblock)] === 1;
}

export function selectedBox(s: SelectionIndex, b: Box): number {
  const i0 = Math.floor(b.q0 / s.qblock);
  const i1 = Math.floor(b.q1 / s.qblock);
  const j0 = Math.floor(b.k0 / s.kblock);
  const j1 = Math.floor(b.k1 / s.kblock);
  const w = s.nkb + 1;
  const sum = s.prefix[(i1 + 1) * w + j1 + 1] - s.prefix[i0 * w + j1 + 1] - s.prefix[(i1 + 1) * w + j0] + s.prefix[i0 * w + j0];
  if (sum === 0) return F;
  if (sum === (i1 - i0 + 1) * (j1 - j0 + 1)) return T;
  return tri(P, DEP_Q | DEP_K);
}

/** Kept columns and diagonal offsets of a vertical-slash step, with prefix counts. */
export interface VerticalSlashIndex {
  cols: Uint8Array;
  colPrefix: Int32Array;
  diags: Uint8Array;
  diagPrefix: Int32Array;
}

function prefixCounts(a: Uint8Array): Int32Array {
  const p = new Int32Array(a.length + 1);
  for (let i = 0; i < a.length; i++) p[i + 1] = p[i] + a[i];
  return p;
}

/** The best `count` indices in total, `forced` ones first (ties to the lower index). */
function keepBest(score: Float64Array, forced: number, count: number): Uint8Array {
  const kept = new Uint8Array(score.length);
  let have = 0;
  for (let i = 0; i < Math.min(forced, score.length); i++, have++) kept[i] = 1;
  const rest: number[] = [];
  for (let i = forced; i < score.length; i++) rest.push(i);
  rest.sort((a, b) => score[b] - score[a] || a - b);
  for (let t = 0; t < rest.length && have < count; t++, have++) kept[rest[t]] = 1;
  return kept;
}

/** MInference's vertical-slash estimate for one head (see VerticalSlash in compiler/ir.ts). */
export function verticalSlash(q: ArrayLike<number>, k: ArrayLike<number>, offset: number, n: number, d: number, spec: VerticalSlashSpec): VerticalSlashIndex {
  const colScore = new Float64Array(n);
  const diagScore = new Float64Array(n);
  const p = new Float64Array(n);
  const scale = 1 / Math.sqrt(d);
  for (let i = Math.max(0, n - spec.last); i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += q[offset + i * d + c] * k[offset + j * d + c];
      p[j] = s * scale;
      if (p[j] > max) max = p[j];
    }
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += p[j] = exp64(p[j] - max);
    for (let j = 0; j <= i; j++) {
      colScore[j] += p[j] / sum;
      diagScore[i - j] += p[j] / sum;
    }
  }
  const cols = keepBest(colScore, spec.first, spec.verticals);
  const diags = keepBest(diagScore, spec.recent, spec.slashes);
  return { cols, colPrefix: prefixCounts(cols), diags, diagPrefix: prefixCounts(diags) };
}

export function verticalSlashPoint(v: VerticalSlashIndex, q: number, k: number): boolean {
  return v.cols[k] === 1 || (q >= k && v.diags[q - k] === 1);
}

/** Columns decide by k alone and diagonals by q - k alone: each part is exact over a box. */
export function verticalSlashBox(v: VerticalSlashIndex, b: Box): number {
  const cols = v.colPrefix[b.k1 + 1] - v.colPrefix[b.k0];
  const colTri = cols === 0 ? F : cols === b.k1 - b.k0 + 1 ? T : tri(P, DEP_K);
  const lo = b.q0 - b.k1;
  const hi = b.q1 - b.k0;
  let diagTri: number;
  if (hi < 0) diagTri = F;
  else {
    const kept = v.diagPrefix[hi + 1] - v.diagPrefix[Math.max(lo, 0)];
    diagTri = kept === 0 ? F : lo >= 0 && kept === hi - lo + 1 ? T : tri(P, DEP_Q | DEP_K);
  }
  return triJoin([colTri, diagTri], false);
}

// ---------------------------------------------------------------- one head's inputs

/** Everything a mask reads besides positions, for one head and sequence length. */
export interface Ctx {
  head: number;
  n: number;
  selections: SelectionIndex[];
  routes: ClusterIndex[];
  vslash: VerticalSlashIndex[];
}

export interface SelectionSpec {
  qblock: number;
  kblock: number;
  keep: Keep;
  /** Seeded random scores instead of pooled Q.K (data-free selections). */
  seed?: number;
  /** Clause predicates on block indices; they may read selections made before this one. */
  among: (qb: number, kb: number) => boolean;
  always: (qb: number, kb: number) => boolean;
}

export interface RouteSpec {
  clusters: number;
  iterations: number;
}

export interface VerticalSlashSpec {
  verticals: number;
  slashes: number;
  last: number;
  first: number;
  recent: number;
}

/**
 * Runs the selection and routing steps of one head in order, filling ctx.selections and
 * ctx.routes. q and k hold [heads, n, d] rows (this head's start at head * n * d); they may be
 * absent when every selection is seeded and there is no routing.
 */
export function instantiateHead(
  ctx: Ctx,
  q: ArrayLike<number> | undefined,
  k: ArrayLike<number> | undefined,
  d: number,
  selections: SelectionSpec[],
  routes: RouteSpec[],
  verticalSlashes: VerticalSlashSpec[] = [],
): void {
  const n = ctx.n;
  const offset = ctx.head * n * d;
  const data = (): [ArrayLike<number>, ArrayLike<number>] => {
    if (!q || !k) throw new Error("this pattern is data-dependent: Q and K are needed");
    return [q, k];
  };
  for (const sel of selections) {
    const nqb = Math.ceil(n / sel.qblock);
    const nkb = Math.ceil(n / sel.kblock);
    let scorer: BlockScorer;
    if (sel.seed !== undefined) scorer = randomScorer(sel.seed, ctx.head, nkb);
    else {
      const [qd, kd] = data();
      scorer = pooledScorer(meanPool(qd, offset, n, d, sel.qblock), meanPool(kd, offset, n, d, sel.kblock), nkb, d);
    }
    const kept = selectBlocks(scorer, nqb, nkb, 1 / Math.sqrt(Math.max(d, 1)), sel.keep, sel.among, sel.always);
    ctx.selections.push(selectionIndex(kept, nqb, nkb, sel.qblock, sel.kblock));
  }
  for (const r of routes) {
    const [qd, kd] = data();
    const [qc, kc] = routeClusters(qd, kd, offset, n, d, r.clusters, r.iterations);
    ctx.routes.push(clusterIndex(qc, kc, r.clusters));
  }
  for (const vs of verticalSlashes) {
    const [qd, kd] = data();
    ctx.vslash.push(verticalSlash(qd, kd, offset, n, d, vs));
  }
}
