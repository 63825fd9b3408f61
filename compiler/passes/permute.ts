// Token permutations: layouts in which a pattern's tiles are denser than in sequence order.
//
// Dilation as gather. A mask with the conjunct (q - k) mod d == 0 only relates tokens of the
// same residue class i mod d. In residue-major order (class 0's tokens, then class 1's, ...)
// the mask becomes d diagonal blocks, each the rest of the pattern on a sub-sequence of
// n / d tokens: causal dilated attention turns into d dense causal problems, with no tile
// left partial by the modulo. Each class is padded to a multiple of `classTile` so that tiles
// never straddle two classes; padding positions map to no token.
//
// Patches for layouts. On a row-major grid a tile of 128 consecutive tokens is a sliver of
// rows, so a neighbourhood touches many tiles and fills few (NATTEN's GNA tiles the grid in
// 2D instead). In patch order each key tile is a near-square patch of the last two axes
// (8 x 8 for 64 keys) and a query tile of 128 two patches side by side (8 x 16); patches run
// row-major over the grid, frame by frame for 3D layouts. Square key tiles cover a
// neighbourhood's halo with fewer tiles than strips: a 13 x 13 neighbourhood of an 8 x 16
// query patch touches 3 x 4 key patches of 8 x 8, against 6 x 3 of 4 x 16. Coordinates are
// rewritten directly (not through the token number) so that a box inside one tile keeps
// exact ranges.
//
// Kernels read a token map (position in kernel order -> token, or -1 for padding) and visit
// block lists computed on the permuted mask (permutedIR), whose coordinates are positions in
// kernel order; the pattern's own predicate still sees token positions.
import { hasIndexSteps, type IntExpr, type MaskExpr, type PatternIR } from "../ir.js";
import { mapMask, substituteMask } from "./substitute.js";

export interface ResiduePermutation {
  kind: "residue";
  dilation: number;
  /** Each class is padded to a multiple of this (the kernel's query tile). */
  classTile: number;
}

export interface PatchPermutation {
  kind: "patch";
  /** The layout's axis sizes (row-major); patches tile its last two axes. */
  sizes: number[];
  /** Patch height (rows of the second-to-last axis) and width (columns of the last). */
  ph: number;
  pw: number;
}

export type Permutation = ResiduePermutation | PatchPermutation;

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

/** The patch of one key tile: pw the smallest divisor of `tile` not below its square root. */
export function patchShape(tile: number): { ph: number; pw: number } {
  let pw = Math.ceil(Math.sqrt(tile));
  while (tile % pw !== 0) pw++;
  return { ph: tile / pw, pw };
}

/** The permutation that pays for this pattern with blockQ x blockK tiles, if any. */
export function choosePermutation(ir: PatternIR, blockQ: number, blockK: number): Permutation | undefined {
  if (hasIndexSteps(ir)) return undefined;
  const found = dilationConjunct(ir.mask);
  if (found) return { kind: "residue", dilation: found.d, classTile: blockQ };
  const sizes = ir.layout?.map((a) => a.size);
  if (!sizes || sizes.length < 2) return undefined;
  const { ph, pw } = patchShape(blockK);
  const [h, w] = sizes.slice(-2);
  // Grids the patches do not tile stay in sequence order (no padding inside a grid).
  if (ph < 2 || h % ph !== 0 || w % pw !== 0) return undefined;
  return { kind: "patch", sizes, ph, pw };
}

/** Padded length of one residue class. */
function classLength(p: ResiduePermutation, n: number): number {
  return Math.ceil(Math.ceil(n / p.dilation) / p.classTile) * p.classTile;
}

/** Positions in kernel order (padding included). */
export function permutedLength(p: Permutation, n: number): number {
  return p.kind === "residue" ? p.dilation * classLength(p, n) : n;
}

/** Patch geometry: grid height and width, patches across, patches per frame, tile size. */
function patchGeometry(p: PatchPermutation) {
  const [h, w] = p.sizes.slice(-2);
  const across = w / p.pw;
  return { h, w, across, perFrame: (h / p.ph) * across, tile: p.ph * p.pw };
}

/** Kernel position -> token, -1 for padding. */
export function tokenMap(p: Permutation, n: number): Int32Array {
  if (p.kind === "patch") {
    const g = patchGeometry(p);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const t = Math.floor(i / g.tile);
      const r = i % g.tile;
      const frame = Math.floor(t / g.perFrame);
      const inFrame = t % g.perFrame;
      const y = Math.floor(inFrame / g.across) * p.ph + Math.floor(r / p.pw);
      const x = (inFrame % g.across) * p.pw + (r % p.pw);
      out[i] = frame * g.h * g.w + y * g.w + x;
    }
    return out;
  }
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
  if (p.kind === "patch") return patchIR(ir, p, n);
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

const c = (value: number): IntExpr => ({ op: "const", value });
const add = (a: IntExpr, b: IntExpr): IntExpr => ({ op: "add", a, b });
const mul = (a: IntExpr, b: number): IntExpr => (b === 1 ? a : { op: "mul", a, b: c(b) });
const div = (a: IntExpr, b: number): IntExpr => (b === 1 ? a : { op: "div", a, b });
const mod = (a: IntExpr, b: number): IntExpr => ({ op: "mod", a, b });

/** Coordinate `axis` of the token at kernel position v, in patch order. */
function patchCoordinate(p: PatchPermutation, v: IntExpr, axis: number): IntExpr {
  const g = patchGeometry(p);
  const axes = p.sizes.length;
  const tileIdx = div(v, g.tile);
  const inTile = mod(v, g.tile);
  if (axis === axes - 1) return add(mul(mod(tileIdx, g.across), p.pw), mod(inTile, p.pw));
  const inFrame = axes > 2 ? mod(tileIdx, g.perFrame) : tileIdx;
  if (axis === axes - 2) return add(mul(div(inFrame, g.across), p.ph), div(inTile, p.pw));
  // Leading (frame) axes: the frame number, row-major over them.
  const frame = div(v, g.tile * g.perFrame);
  const stride = p.sizes.slice(axis + 1, axes - 2).reduce((a, b) => a * b, 1);
  return axis === 0 ? div(frame, stride) : mod(div(frame, stride), p.sizes[axis]);
}

/** Recognises the coordinate shapes the checker builds (compiler/check/expr.ts, coordinate). */
function coordinateOf(e: IntExpr, sizes: number[]): { v: "q" | "k"; axis: number } | undefined {
  const strides = sizes.map((_, a) => sizes.slice(a + 1).reduce((x, y) => x * y, 1));
  const varOf = (x: IntExpr, stride: number): "q" | "k" | undefined => {
    const inner = stride === 1 ? x : x.op === "div" && x.b === stride ? x.a : undefined;
    return inner?.op === "var" && (inner.name === "q" || inner.name === "k") ? inner.name : undefined;
  };
  if (e.op === "div") {
    const v = varOf(e, strides[0]);
    if (v) return { v, axis: 0 };
  }
  if (e.op === "mod") {
    for (let a = 1; a < sizes.length; a++) {
      if (e.b !== sizes[a]) continue;
      const v = varOf(e.a, strides[a]);
      if (v) return { v, axis: a };
    }
  }
  return undefined;
}

/** The mask over kernel positions in patch order: coordinates rewritten, bare positions mapped. */
function patchIR(ir: PatternIR, p: PatchPermutation, n: number): PatternIR {
  const token = (v: IntExpr): IntExpr =>
    p.sizes.reduce<IntExpr>((t, _, a) => add(t, mul(patchCoordinate(p, v, a), p.sizes.slice(a + 1).reduce((x, y) => x * y, 1))), c(0));
  const rewrite = (e: IntExpr): IntExpr => {
    const coord = coordinateOf(e, p.sizes);
    if (coord) return patchCoordinate(p, coord.v === "q" ? Q : K, coord.axis);
    switch (e.op) {
      case "const": return e;
      case "var": return e.name === "q" ? token(Q) : e.name === "k" ? token(K) : e.name === "n" ? c(n) : e;
      case "add": case "sub": case "mul": case "min": case "max": return { ...e, a: rewrite(e.a), b: rewrite(e.b) };
      case "natStart": return { ...e, a: rewrite(e.a), length: e.length < 0 ? n : e.length };
      default: return { ...e, a: rewrite(e.a) };
    }
  };
  return { ...ir, mask: mapMask(ir.mask, rewrite) };
}
