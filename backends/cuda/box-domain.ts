// How the CUDA backend spells the pattern over a box of (q, k) pairs: pattern::box_class, the
// compiler's three-valued domain (compiler/blockmask/lib.ts) for comparisons of expressions
// linear in q and k, kept blocks of selections, constants and connectives, on the helpers of
// templates/box_domain.cuh. Every other leaf is "unknown", which its callers settle element by
// element (the mask generator) or by running the predicate (the attention kernels).
import type { IntExpr, MaskExpr, PatternIR } from "../../compiler/ir.js";
import { cudaInt, type CudaConstants } from "./spell.js";

/** a q + b k + the sum of `c`: C terms that read neither q nor k (constant over a box). */
interface Linear {
  a: number;
  b: number;
  c: string[];
}

/** Coefficients beyond this leave a comparison undecided, so the domain's 64-bit products
 *  of a coefficient and a position (below 2^30) cannot overflow. */
const MAX_COEFFICIENT = 2 ** 31;

function readsPosition(e: IntExpr): boolean {
  switch (e.op) {
    case "const": return false;
    case "var": return e.name === "q" || e.name === "k";
    case "add": case "sub": case "mul": case "min": case "max": return readsPosition(e.a) || readsPosition(e.b);
    default: return readsPosition(e.a);
  }
}

function scaled(x: Linear, by: number): Linear | null {
  const a = x.a * by;
  const b = x.b * by;
  if (Math.abs(a) > MAX_COEFFICIENT || Math.abs(b) > MAX_COEFFICIENT) return null;
  return { a, b, c: x.c.map((t) => `${by}LL * ${t}`) };
}

function sum(x: Linear | null, y: Linear | null): Linear | null {
  if (!x || !y) return null;
  return { a: x.a + y.a, b: x.b + y.b, c: [...x.c, ...y.c] };
}

/** e as a linear form in q and k, or null where it is not one. */
function linear(e: IntExpr, consts: CudaConstants): Linear | null {
  if (!readsPosition(e)) return { a: 0, b: 0, c: e.op === "const" && e.value === 0 ? [] : [`(long long)${cudaInt(e, consts)}`] };
  switch (e.op) {
    case "var": return e.name === "q" ? { a: 1, b: 0, c: [] } : { a: 0, b: 1, c: [] };
    case "add": return sum(linear(e.a, consts), linear(e.b, consts));
    case "sub": { const b = linear(e.b, consts); return sum(linear(e.a, consts), b && scaled(b, -1)); }
    case "neg": { const a = linear(e.a, consts); return a && scaled(a, -1); }
    case "mul": {
      if (e.a.op === "const") { const b = linear(e.b, consts); return b && scaled(b, e.a.value); }
      if (e.b.op === "const") { const a = linear(e.a, consts); return a && scaled(a, e.b.value); }
      return null;
    }
    default: return null;
  }
}

const CMP_CODE: Record<string, string> = { "<": "LT", "<=": "LE", "==": "EQ", "!=": "NE" };
const UNKNOWN = "spattn::box::tri(spattn::box::U, spattn::box::DEP_Q | spattn::box::DEP_K)";
const BOX = "q0, q1, k0, k1";

function boxMask(m: MaskExpr, ir: PatternIR, consts: CudaConstants): string {
  switch (m.op) {
    case "bool": return m.value ? "spattn::box::T" : "spattn::box::F";
    case "cmp": {
      // Through the difference, as the compiler does: q - k < w sees q - k as one range.
      const d = linear({ op: "sub", a: m.a, b: m.b }, consts);
      if (!d) return UNKNOWN;
      return `spattn::box::lin_cmp(spattn::box::${CMP_CODE[m.cmp]}, ${d.a}LL, ${d.b}LL, ${d.c.length ? d.c.join(" + ") : "0LL"}, ${BOX})`;
    }
    case "and": case "or": {
      const fn = m.op === "and" ? "spattn::box::tri_and" : "spattn::box::tri_or";
      return m.args.map((x) => boxMask(x, ir, consts)).reduceRight((acc, x) => `${fn}(${x}, ${acc})`);
    }
    case "not": return `spattn::box::tri_not(${boxMask(m.a, ir, consts)})`;
    case "byHead":
      return `(${m.cases.map((x) => `(${x.heads.map((h) => `head == ${h}`).join(" || ")}) ? ${boxMask(x.body, ir, consts)} : `).join("")}${boxMask(m.otherwise, ir, consts)})`;
    case "selected": {
      const s = ir.selections[m.selection];
      const nqb = `(((long long)n + ${s.qblock - 1}) / ${s.qblock})`;
      const nkb = `(((long long)n + ${s.kblock - 1}) / ${s.kblock})`;
      return `spattn::box::selected(dyn.sel${m.selection}_kept + (long long)head * ${nqb} * ${nkb}, ${nkb}, ${s.qblock}, ${s.kblock}, ${BOX})`;
    }
    case "sameCluster": case "verticalSlash": return UNKNOWN;
  }
}

/** pattern::box_class: the mask over rows q0..q1 and keys k0..k1 (inside [0, n)) of a head. */
export function boxClassFunction(ir: PatternIR, consts: CudaConstants): string[] {
  return [
    "/** The predicate over the box of rows q0..q1 and keys k0..k1 (0 <= q0 <= q1 < n, likewise k) of",
    " *  head `head`: spattn::box's packed three-valued truth (value & 3 is F, T, P or U). */",
    "__host__ __device__ __forceinline__ int box_class(int q0, int q1, int k0, int k1, int head, int n_, const Dyn& dyn) {",
    "  const pint n = n_;",
    "  (void)dyn; (void)head; (void)n; (void)q0; (void)q1; (void)k0; (void)k1;",
    `  return ${boxMask(ir.mask, ir, consts)};`,
    "}",
  ];
}
