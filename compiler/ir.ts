// The checked pattern IR: what every backend consumes. Parameters are already bound to
// values, builtins (causal, layouts, neighbourhoods) are desugared into arithmetic, so a
// backend only needs to spell these few node kinds.
//
// Semantics shared by every backend:
// - integers are exact (all values stay far below 2^53); `div` is floor division and `mod`
//   the floor modulo (result in [0, b)); their right operand is a positive constant;
// - `q` and `k` are token positions, `head` the head index, `n` the sequence length;
// - `qb` and `kb` exist only inside a selection's clauses: the block indices being ranked.
//   There `q` and `k` are the first token of those blocks.

export type IntVar = "q" | "k" | "head" | "n" | "qb" | "kb";

export type IntExpr =
  | { op: "const"; value: number }
  | { op: "var"; name: IntVar }
  | { op: "add" | "sub" | "mul" | "min" | "max"; a: IntExpr; b: IntExpr }
  | { op: "div" | "mod"; a: IntExpr; b: number }
  | { op: "neg" | "abs"; a: IntExpr }
  /** Index of the document holding position `a`, given cumulative document ends. Positions
   *  past the last end belong to one trailing document, index `ends.length`. */
  | { op: "segment"; ends: number[]; a: IntExpr }
  /** NATTEN window start on one axis: the first coordinate of the neighbourhood of
   *  coordinate `a` (see `natStart` in compiler/blockmask/lib.ts for the exact rule).
   *  `length` -1 stands for the sequence length n (a neighbourhood without a layout). */
  | { op: "natStart"; a: IntExpr; length: number; kernel: number; dilation: number; causal: boolean };

export type CmpOp = "<" | "<=" | "==" | "!=";

export type MaskExpr =
  | { op: "bool"; value: boolean }
  | { op: "cmp"; cmp: CmpOp; a: IntExpr; b: IntExpr }
  | { op: "and" | "or"; args: MaskExpr[] }
  | { op: "not"; a: MaskExpr }
  /** Per-head patterns: the first case listing the head decides; no case means `otherwise`. */
  | { op: "byHead"; cases: { heads: number[]; body: MaskExpr }[]; otherwise: MaskExpr }
  /** (q, k) lies in a block kept by a dynamic selection: (q / qblock, k / kblock) is kept. */
  | { op: "selected"; selection: number }
  /** q and k were routed to the same cluster by a routing step. */
  | { op: "sameCluster"; route: number }
  /** k is a kept vertical (column) or q - k a kept slash (diagonal) of a vertical-slash step. */
  | { op: "verticalSlash"; vs: number };

/** How a selection ranks and keeps candidate blocks. */
export type KeepRule = { kind: "topk"; count: number } | { kind: "topp"; mass: number };

/**
 * A block selection. For every query block qb (of `qblock` tokens) and key block kb (of
 * `kblock` tokens) a score: by default mean(Q rows of qb) . mean(K rows of kb) in float64
 * (data-dependent); with a `seed`, the seeded hash of `randomScorer` in lib.ts (BigBird's
 * random blocks, no data needed). Blocks where `always` holds are kept; then candidates
 * (`among` holds, `always` does not) are taken by descending score, ties to the lower kb,
 * until the rule is met.
 */
export interface Selection {
  id: number;
  name: string;
  qblock: number;
  kblock: number;
  rule: KeepRule;
  seed?: number;
  among: MaskExpr;
  always: MaskExpr;
}

/** Spherical k-means routing of queries and keys (Routing Transformer), per head. */
export interface Route {
  id: number;
  clusters: number;
  iterations: number;
}

/**
 * MInference's vertical-slash estimate, per head. The last `last` queries attend causally
 * (softmax, scale 1/sqrt(D), float64); a column's score is its total probability over those
 * rows, a diagonal offset o = q - k >= 0 likewise. Columns k < `first` are always kept, then
 * the best columns until `verticals` are kept; offsets o < `recent` are always kept, then the
 * best offsets until `slashes` are kept (ties to the lower index).
 */
export interface VerticalSlash {
  id: number;
  verticals: number;
  slashes: number;
  last: number;
  first: number;
  recent: number;
}

export interface LayoutAxis {
  name: string;
  size: number;
}

export type Value = number | boolean | number[];

export interface TileHint {
  q?: number;
  k?: number;
}

export interface PatternIR {
  name: string;
  /** Bound parameter values, after defaults and overrides. */
  params: Record<string, Value>;
  /** Head count the pattern was written for (a `heads` statement), if any. */
  heads?: number;
  /** Row-major token layout; when present the sequence length must equal the product. */
  layout?: LayoutAxis[];
  tile: TileHint;
  mask: MaskExpr;
  /** Dependency order: a selection's clauses may only use selections listed before it. */
  selections: Selection[];
  routes: Route[];
  verticalSlashes: VerticalSlash[];
}

/** Does the mask read Q and K (pooled scores or routing)? */
export function isDynamic(p: PatternIR): boolean {
  return p.selections.some((s) => s.seed === undefined) || p.routes.length > 0 || p.verticalSlashes.length > 0;
}

/** Does the mask read per-head index arrays: selections (seeded or from data), routes or
 *  vertical-slash steps? */
export function hasIndexSteps(p: PatternIR): boolean {
  return p.selections.length > 0 || p.routes.length > 0 || p.verticalSlashes.length > 0;
}

/** Do a block selection's blocks split tiles of blockQ x blockK? Those tiles' rows or keys then
 *  differ in what the data kept, so the tiles are partial and their predicate reads the selection. */
export function selectionSplitsTiles(p: PatternIR, blockQ: number, blockK: number): boolean {
  return p.selections.some((s) => s.qblock % blockQ !== 0 || s.kblock % blockK !== 0);
}

/** Does the mask's value depend on the head index? (If not, one head's mask serves all.) */
export function dependsOnHead(p: PatternIR): boolean {
  if (hasIndexSteps(p)) return true;
  const seenInt = (e: IntExpr): boolean => {
    switch (e.op) {
      case "const": return false;
      case "var": return e.name === "head";
      case "add": case "sub": case "mul": case "min": case "max": return seenInt(e.a) || seenInt(e.b);
      default: return seenInt(e.a);
    }
  };
  const seen = (m: MaskExpr): boolean => {
    switch (m.op) {
      case "bool": return false;
      case "cmp": return seenInt(m.a) || seenInt(m.b);
      case "and": case "or": return m.args.some(seen);
      case "not": return seen(m.a);
      case "byHead": return true;
      default: return true;
    }
  };
  return seen(p.mask);
}
