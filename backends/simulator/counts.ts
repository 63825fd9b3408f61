// What one head's block classification says about work: tile counts, the area of the tiles a
// kernel computes, and the allowed (q, k) pairs. Full tiles are counted from their sizes;
// only partial tiles are looked into, one row at a time, by bisecting the row with the
// mask's box evaluator (so a row costs about its number of boundaries times log(tile), not
// the tile's width). Past a budget of rows the partial tiles are sampled instead, and the
// count says so (with its standard error).
import { classifyBlocks, F, T, type Box, type HeadBlocks, type MaskEval } from "../../compiler/blockmask/lib.js";
import { rng } from "../../runtime/random.js";

export interface Grid {
  n: number;
  blockQ: number;
  blockK: number;
}

export interface TileCounts {
  empty: number;
  partial: number;
  full: number;
}

export interface PairCount {
  /** Allowed (q, k) pairs (an estimate when `exact` is false). */
  allowed: number;
  exact: boolean;
  /** Standard error of `allowed` (0 when exact). */
  stdErr: number;
}

export const numQBlocks = (g: Grid): number => Math.ceil(g.n / g.blockQ);
export const numKBlocks = (g: Grid): number => Math.ceil(g.n / g.blockK);
const rowsOf = (g: Grid, i: number): number => Math.min(g.n, (i + 1) * g.blockQ) - i * g.blockQ;
const colsOf = (g: Grid, j: number): number => Math.min(g.n, (j + 1) * g.blockK) - j * g.blockK;

/** Allowed keys k0..k1 of query q, by bisection on the box evaluator. */
export function countRow(m: MaskEval, q: number, k0: number, k1: number, box: Box = { q0: 0, q1: 0, k0: 0, k1: 0 }): number {
  box.q0 = q;
  box.q1 = q;
  box.k0 = k0;
  box.k1 = k1;
  const v = m.box(box) & 3;
  if (v === F) return 0;
  if (v === T) return k1 - k0 + 1;
  if (k1 - k0 < 16) {
    let c = 0;
    for (let k = k0; k <= k1; k++) if (m.point(q, k)) c++;
    return c;
  }
  const mid = (k0 + k1) >> 1;
  return countRow(m, q, k0, mid, box) + countRow(m, q, mid + 1, k1, box);
}

export interface PairOptions {
  /** Partial-tile rows counted exactly up to this many; beyond it, sampled. */
  exactRows: number;
  /** Rows sampled when over the budget. */
  samples: number;
  seed: number;
}

export const DEFAULT_PAIR_OPTIONS: PairOptions = { exactRows: 1 << 18, samples: 4096, seed: 1 };

/**
 * Which query-block rows are classified. Exactly, all of them. When that would take too many
 * box evaluations (patterns whose partial tiles fill the grid, such as a stride, cost about
 * one evaluation per tile), a stratified sample: rows split into equal runs, the middle row of
 * each run (and the last row of the grid) classified, every row counted as its run's.
 */
export interface RowPlan {
  /** Each row's representative: itself when classified. */
  rep: Int32Array;
  /** Rows each classified row stands for (0 for the others). */
  mult: Int32Array;
  sampled: boolean;
}

export function exactPlan(nqb: number): RowPlan {
  return { rep: Int32Array.from({ length: nqb }, (_, i) => i), mult: new Int32Array(nqb).fill(1), sampled: false };
}

/**
 * The work allowed per head before rows are sampled, in box evaluations times the mask's size
 * in IR nodes (an evaluation walks the whole expression), and the rows the probe tries.
 */
export interface PlanOptions {
  maxWork: number;
  probes: number;
}

/** About a fifth of a second of one core per head (a 16-node mask: 750,000 evaluations). */
export const DEFAULT_PLAN_OPTIONS: PlanOptions = { maxWork: 12_000_000, probes: 9 };

/** A mask that counts its box evaluations and is empty outside the planned rows. */
function restricted(m: MaskEval, g: Grid, classified: Uint8Array | undefined, counter: { evals: number }): MaskEval {
  return {
    point: m.point,
    box: (b) => {
      counter.evals++;
      if (classified && !classified[Math.floor(b.q0 / g.blockQ)]) return F;
      return m.box(b);
    },
  };
}

/**
 * Classifies one head: every row when a probe of a few evenly spaced rows predicts at most
 * `maxWork` (evaluations x `maskSize`), else a stratified sample of rows within that budget.
 */
export function classifyPlanned(m: MaskEval, g: Grid, maskSize: number, o: PlanOptions = DEFAULT_PLAN_OPTIONS): { blocks: HeadBlocks; plan: RowPlan } {
  const nqb = numQBlocks(g);
  const counter = { evals: 0 };
  const probe = new Uint8Array(nqb);
  const probes = Math.min(nqb, o.probes);
  for (let t = 0; t < probes; t++) probe[Math.round((t * (nqb - 1)) / Math.max(1, probes - 1))] = 1;
  if (nqb > probes) {
    classifyBlocks(restricted(m, g, probe, counter), g.n, g.blockQ, g.blockK);
    const perRow = (counter.evals - (nqb - probes)) / probes;
    const rows = Math.floor(o.maxWork / Math.max(1, maskSize) / Math.max(1, perRow));
    if (rows < nqb) {
      const runs = Math.max(probes, rows);
      const plan: RowPlan = { rep: new Int32Array(nqb), mult: new Int32Array(nqb), sampled: true };
      const classified = new Uint8Array(nqb);
      // The last row may be shorter than the others: it stands for itself.
      const body = nqb - 1;
      for (let r = 0; r < runs; r++) {
        const lo = Math.floor((r * body) / runs);
        const hi = Math.floor(((r + 1) * body) / runs);
        if (hi <= lo) continue;
        // The run's middle row: unbiased where work grows linearly along the rows (causal).
        const mid = (lo + hi) >> 1;
        classified[mid] = 1;
        plan.mult[mid] = hi - lo;
        for (let i = lo; i < hi; i++) plan.rep[i] = mid;
      }
      classified[body] = 1;
      plan.mult[body] = 1;
      plan.rep[body] = body;
      return { blocks: classifyBlocks(restricted(m, g, classified, counter), g.n, g.blockQ, g.blockK), plan };
    }
  }
  return { blocks: classifyBlocks(m, g.n, g.blockQ, g.blockK), plan: exactPlan(nqb) };
}

/** Tile counts of the whole grid: each classified row counted for the rows it stands for. */
export function plannedTileCounts(h: HeadBlocks, g: Grid, plan: RowPlan): TileCounts {
  let partial = 0;
  let full = 0;
  for (let i = 0; i < plan.mult.length; i++) {
    partial += plan.mult[i] * (h.partial.ptr[i + 1] - h.partial.ptr[i]);
    full += plan.mult[i] * (h.full.ptr[i + 1] - h.full.ptr[i]);
  }
  return { empty: numQBlocks(g) * numKBlocks(g) - partial - full, partial, full };
}

/** Pairs covered by the listed tiles of the planned rows (edge tiles are smaller). */
function plannedArea(rows: HeadBlocks["full"], g: Grid, plan: RowPlan): number {
  let area = 0;
  for (let i = 0; i < plan.mult.length; i++) {
    if (plan.mult[i] === 0) continue;
    // Lists are sorted: only the last entry can be the grid's shorter last key block.
    const count = rows.ptr[i + 1] - rows.ptr[i];
    const cols = count === 0 ? 0 : (count - 1) * g.blockK + colsOf(g, rows.idx[rows.ptr[i + 1] - 1]);
    area += plan.mult[i] * rowsOf(g, i) * cols;
  }
  return area;
}

/** Pairs inside non-empty tiles: what a tile-skipping kernel computes (before padding). */
export function visitedArea(h: HeadBlocks, g: Grid, plan: RowPlan = exactPlan(numQBlocks(g))): number {
  return plannedArea(h.full, g, plan) + plannedArea(h.partial, g, plan);
}

/** Allowed pairs of one head: full tiles by area, partial tiles row by row (or sampled). */
export function countPairs(m: MaskEval, h: HeadBlocks, g: Grid, o: PairOptions = DEFAULT_PAIR_OPTIONS, plan: RowPlan = exactPlan(numQBlocks(g))): PairCount {
  const fullPairs = plannedArea(h.full, g, plan);
  const nqb = numQBlocks(g);
  // Partial-tile rows before query block i, each counted for the rows it stands for: a
  // uniform draw over them samples the grid's partial rows uniformly.
  const before = new Float64Array(nqb + 1);
  let distinct = 0;
  for (let i = 0; i < nqb; i++) {
    const rows = rowsOf(g, i) * (h.partial.ptr[i + 1] - h.partial.ptr[i]);
    before[i + 1] = before[i] + plan.mult[i] * rows;
    if (plan.mult[i] > 0) distinct += rows;
  }
  const total = before[nqb];
  const box: Box = { q0: 0, q1: 0, k0: 0, k1: 0 };
  const tileRow = (i: number, e: number, r: number): number => {
    const j = h.partial.idx[e];
    return countRow(m, i * g.blockQ + r, j * g.blockK, j * g.blockK + colsOf(g, j) - 1, box);
  };
  if (distinct <= o.exactRows) {
    let allowed = fullPairs;
    for (let i = 0; i < nqb; i++) {
      if (plan.mult[i] === 0) continue;
      for (let e = h.partial.ptr[i]; e < h.partial.ptr[i + 1]; e++) for (let r = 0; r < rowsOf(g, i); r++) allowed += plan.mult[i] * tileRow(i, e, r);
    }
    return { allowed, exact: !plan.sampled, stdErr: 0 };
  }
  const next = rng(o.seed);
  let sum = 0;
  let sumSq = 0;
  for (let s = 0; s < o.samples; s++) {
    const u = Math.floor(next() * total);
    let lo = 0;
    let hi = nqb - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (before[mid] <= u) lo = mid;
      else hi = mid - 1;
    }
    const within = Math.floor((u - before[lo]) / plan.mult[lo]);
    const rows = rowsOf(g, lo);
    const c = tileRow(lo, h.partial.ptr[lo] + Math.floor(within / rows), within % rows);
    sum += c;
    sumSq += c * c;
  }
  const mean = sum / o.samples;
  const variance = Math.max(0, sumSq / o.samples - mean * mean) * (o.samples / Math.max(1, o.samples - 1));
  return { allowed: fullPairs + total * mean, exact: false, stdErr: (total * Math.sqrt(variance)) / Math.sqrt(o.samples) };
}

/** Tiles per query block: what each CTA of a tile-skipping kernel visits. */
export interface RowWork {
  full: Int32Array;
  partial: Int32Array;
}

/** Each row's tiles (a sampled plan gives every row its representative's). */
export function rowWork(h: HeadBlocks, plan: RowPlan = exactPlan(h.full.ptr.length - 1)): RowWork {
  const count = (p: Int32Array): Int32Array => Int32Array.from(plan.rep, (r) => p[r + 1] - p[r]);
  return { full: count(h.full.ptr), partial: count(h.partial.ptr) };
}

/** Key tiles a chunk of the GPU's one-pass list builder (backends/cuda/templates/mask_kernels.cuh,
 *  classify_row): a lane takes a chunk's box, and the chunks it cannot prove empty are walked a
 *  tile a lane. */
export const LIST_CHUNK = 32;

/** Chunks of LIST_CHUNK key tiles that hold a listed tile, summed over the rows (each row counted
 *  for the rows it stands for): about the chunks that builder walks. */
export function listedChunks(h: HeadBlocks, plan: RowPlan = exactPlan(h.full.ptr.length - 1)): number {
  let total = 0;
  const seen = new Set<number>();
  for (let i = 0; i < plan.mult.length; i++) {
    if (plan.mult[i] === 0) continue;
    seen.clear();
    for (const rows of [h.full, h.partial]) {
      for (let e = rows.ptr[i]; e < rows.ptr[i + 1]; e++) seen.add(Math.floor(rows.idx[e] / LIST_CHUNK));
    }
    total += plan.mult[i] * seen.size;
  }
  return total;
}

/** A downsampled picture of the block mask: per cell, the fractions of full and partial tiles. */
export interface BlockMap {
  rows: number;
  cols: number;
  /** Row-major, rows x cols, rounded to 1e-3. */
  full: number[];
  partial: number[];
}

/** The picture of one head; with a sampled plan every row shows its representative's tiles. */
export function blockMap(h: HeadBlocks, g: Grid, maxSide: number, plan: RowPlan = exactPlan(numQBlocks(g))): BlockMap {
  const nqb = numQBlocks(g);
  const nkb = numKBlocks(g);
  const rows = Math.max(1, Math.min(nqb, maxSide));
  const cols = Math.max(1, Math.min(nkb, maxSide));
  const full = new Float64Array(rows * cols);
  const partial = new Float64Array(rows * cols);
  const cellOfRow = (i: number): number => Math.floor((i * rows) / nqb);
  const cellOfCol = (j: number): number => Math.floor((j * cols) / nkb);
  // Tiles per cell, to turn counts into fractions.
  const tilesIn = (cell: number, cells: number, blocks: number): number => Math.ceil(((cell + 1) * blocks) / cells) - Math.ceil((cell * blocks) / cells);
  // Consecutive rows with the same representative in the same cell row are added at once:
  // a sampled plan costs its classified rows' tiles, not the whole grid's.
  const add = (list: HeadBlocks["full"], into: Float64Array): void => {
    for (let i = 0; i < nqb; ) {
      const src = plan.rep[i];
      const cell = cellOfRow(i);
      let end = i + 1;
      while (end < nqb && plan.rep[end] === src && cellOfRow(end) === cell) end++;
      for (let e = list.ptr[src]; e < list.ptr[src + 1]; e++) into[cell * cols + cellOfCol(list.idx[e])] += end - i;
      i = end;
    }
  };
  add(h.full, full);
  add(h.partial, partial);
  const round = (v: number, r: number, c: number): number => Math.round((v / (tilesIn(r, rows, nqb) * tilesIn(c, cols, nkb))) * 1000) / 1000;
  const out: BlockMap = { rows, cols, full: [], partial: [] };
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out.full.push(round(full[r * cols + c], r, c));
      out.partial.push(round(partial[r * cols + c], r, c));
    }
  }
  return out;
}
