// Token permutations: layouts in which a pattern's tiles are denser than in sequence order.
//
// Dilation as gather. A mask with the conjunct (q - k) mod d == 0 only relates tokens of the
// same residue class i mod d. In residue-major order (class 0's tokens, then class 1's, ...)
// the mask becomes d diagonal blocks, each the rest of the pattern on a sub-sequence of
// n / d tokens: causal dilated attention turns into d dense causal problems, with no tile
// left partial by the modulo. Each class is padded to a multiple of `classTile` so that tiles
// never straddle two classes; padding positions map to no token.
//
// Kernels read a token map (position in kernel order -> token, or -1 for padding) and visit
// block lists computed on the permuted mask (permutedIR), whose coordinates are positions in
// kernel order; the pattern's own predicate still sees token positions.
import type { IntExpr, MaskExpr, PatternIR } from "../ir.js";
import { substituteMask } from "./substitute.js";

export interface ResiduePermutation {
  kind: "residue";
  dilation: number;
  /** Each class is padded to a multiple of this (the kernel's query tile). */
  classTile: number;
}

export type Permutation = ResiduePermutation;

const Q: IntExpr = { op: "var", name: "q" };
const K: IntExpr = { op: "var", name: "k" };

function isDiff(e: IntExpr, a: "q" | "k", b: "q" | "k"): boolean {
  return e.op === "sub" && e.a.op === "var" && e.a.name === a && e.b.op === "var" && e.b.name === b;
}

/** The dilation of a top-level conjunct (q - k) % d == 0 (or (k - q) % d == 0), if any. */
function dilationConjunct(m: MaskExpr): { d: number; index: number } | undefined {
  const parts = m.op === "and" ? m.args : [m];
  for (let i = 0; i < parts.length; i++) {
    const c = parts[i];
    if (c.op !== "cmp" || c.cmp !== "==") continue;
    const [lhs, rhs] = c.a.op === "mod" ? [c.a, c.b] : [c.b, c.a];
    if (lhs.op !== "mod" || rhs.op !== "const" || rhs.value !== 0 || lhs.b < 2) continue;
    if (isDiff(lhs.a, "q", "k") || isDiff(lhs.a, "k", "q")) return { d: lhs.b, index: i };
  }
  return undefined;
}

/** The permutation that pays for this pattern, if any. */
export function choosePermutation(ir: PatternIR, classTile: number): Permutation | undefined {
  if (ir.selections.length || ir.routes.length || ir.verticalSlashes.length) return undefined;
  const found = dilationConjunct(ir.mask);
  return found ? { kind: "residue", dilation: found.d, classTile } : undefined;
}

/** Padded length of one residue class. */
function classLength(p: ResiduePermutation, n: number): number {
  return Math.ceil(Math.ceil(n / p.dilation) / p.classTile) * p.classTile;
}

/** Positions in kernel order (padding included). */
export function permutedLength(p: Permutation, n: number): number {
  return p.dilation * classLength(p, n);
}

/** Kernel position -> token, -1 for padding. */
export function tokenMap(p: Permutation, n: number): Int32Array {
  const m = classLength(p, n);
  const out = new Int32Array(p.dilation * m);
  for (let i = 0; i < out.length; i++) {
    const token = (i % m) * p.dilation + Math.floor(i / m);
    out[i] = token < n ? token : -1;
  }
  return out;
}

/**
 * The mask over kernel positions for sequence length n: tokens substituted for q and k,
 * the modulo conjunct replaced by "same class" (equivalent for valid tokens, and exact for
 * the box domain), and padding positions allowed nowhere.
 */
export function permutedIR(ir: PatternIR, p: Permutation, n: number): PatternIR {
  const m = classLength(p, n);
  const token = (v: IntExpr): IntExpr => ({
    op: "add",
    a: { op: "mul", a: { op: "mod", a: v, b: m }, b: { op: "const", value: p.dilation } },
    b: { op: "div", a: v, b: m },
  });
  const found = dilationConjunct(ir.mask);
  if (!found) throw new Error("internal: no dilation conjunct to permute");
  const parts = ir.mask.op === "and" ? ir.mask.args : [ir.mask];
  const rest = parts.filter((_, i) => i !== found.index).map((c) => substituteMask(c, { q: token(Q), k: token(K), n: { op: "const", value: n } }));
  const nConst: IntExpr = { op: "const", value: n };
  const sameClass: MaskExpr = { op: "cmp", cmp: "==", a: { op: "div", a: Q, b: m }, b: { op: "div", a: K, b: m } };
  const valid = (v: IntExpr): MaskExpr => ({ op: "cmp", cmp: "<", a: token(v), b: nConst });
  return { ...ir, mask: { op: "and", args: [valid(Q), valid(K), sameClass, ...rest] } };
}
