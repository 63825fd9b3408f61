// How the CUDA backend spells the pattern over a box of (q, k) pairs: pattern::box_class, the
// compiler's three-valued domain (compiler/blockmask/evaluate.ts, maskBox and intBox) node for
// node, on the helpers of templates/box_domain.cuh, which mirror compiler/blockmask/lib.ts;
// comparisons of linear forms are folded here first.
// Routes and vertical-slash steps are "unknown" on the device; callers settle unknown boxes
// element by element (the mask generator) or by running the predicate (the attention kernels).
import type { IntExpr, MaskExpr, PatternIR } from "../../compiler/ir.js";
import { noEmptyDocument } from "../../compiler/blockmask/lib.js";
import { cudaInt, segmentLookup, type CudaConstants } from "./spell.js";

/** a q + b k + the sum of `c`: C terms that read neither q nor k (constant over a box). */
interface Linear {
  a: number;
  b: number;
  c: string[];
}

/** Coefficients beyond this leave a comparison to the general ranges, so that the 64-bit
 *  products of a coefficient and a position (below 2^30) cannot overflow. */
const MAX_COEFFICIENT = 2 ** 31;

function readsPosition(e: IntExpr): boolean {
  switch (e.op) {
    case "const": return false;
    case "var": return e.name === "q" || e.name === "k";
    case "add": case "sub": case "mul": case "min": case "max": return readsPosition(e.a) || readsPosition(e.b);
    default: return readsPosition(e.a);
  }
}

function scaled(x: Linear | null, by: number): Linear | null {
  if (!x || Math.abs(x.a * by) > MAX_COEFFICIENT || Math.abs(x.b * by) > MAX_COEFFICIENT) return null;
  return { a: x.a * by, b: x.b * by, c: x.c.map((t) => `${by}LL * ${t}`) };
}

function sum(x: Linear | null, y: Linear | null): Linear | null {
  return x && y ? { a: x.a + y.a, b: x.b + y.b, c: [...x.c, ...y.c] } : null;
}

/**
 * e as a linear form in q and k, or null where it is not one. A comparison of a linear form
 * is decided as the compiler's ranges decide it, with the coefficients folded here, so its
 * device code is a few products and comparisons (the mask generator classifies 8.4 M tiles
 * for block top-k at N = 65536; bench v17). Parts that read neither q nor k are spelled as
 * the predicate spells them, once.
 */
function linear(e: IntExpr, consts: CudaConstants): Linear | null {
  if (!readsPosition(e)) return { a: 0, b: 0, c: e.op === "const" && e.value === 0 ? [] : [`(long long)${cudaInt(e, consts)}`] };
  switch (e.op) {
    case "var": return e.name === "q" ? { a: 1, b: 0, c: [] } : { a: 0, b: 1, c: [] };
    case "add": return sum(linear(e.a, consts), linear(e.b, consts));
    case "sub": return sum(linear(e.a, consts), scaled(linear(e.b, consts), -1));
    case "neg": return scaled(linear(e.a, consts), -1);
    case "mul":
      if (e.a.op === "const") return scaled(linear(e.b, consts), e.a.value);
      if (e.b.op === "const") return scaled(linear(e.a, consts), e.b.value);
      return null;
    default: return null;
  }
}

const CMP_CODE: Record<string, string> = { "<": "LT", "<=": "LE", "==": "EQ", "!=": "NE" };
const UNKNOWN = "spattn::box::tri(spattn::box::U, spattn::box::DEP_Q | spattn::box::DEP_K)";

/** An Iv-valued C expression: the values of e over box `b` (intBox). */
function boxInt(e: IntExpr, consts: CudaConstants): string {
  switch (e.op) {
    case "const": return `spattn::box::iv_const(${e.value}LL)`;
    case "var":
      switch (e.name) {
        case "q": return "spattn::box::iv_lin(1, 0, 0, b)";
        case "k": return "spattn::box::iv_lin(0, 1, 0, b)";
        case "head": return "spattn::box::iv_const(head)";
        case "n": return "spattn::box::iv_const(n)";
        default: throw new Error(`internal: block index '${e.name}' outside a selection clause`);
      }
    case "add": return `spattn::box::iv_add(${boxInt(e.a, consts)}, ${boxInt(e.b, consts)}, b)`;
    case "sub": return `spattn::box::iv_sub(${boxInt(e.a, consts)}, ${boxInt(e.b, consts)}, b)`;
    case "mul": return `spattn::box::iv_mul(${boxInt(e.a, consts)}, ${boxInt(e.b, consts)}, b)`;
    case "min": return `spattn::box::iv_min(${boxInt(e.a, consts)}, ${boxInt(e.b, consts)})`;
    case "max": return `spattn::box::iv_max(${boxInt(e.a, consts)}, ${boxInt(e.b, consts)})`;
    case "div": return `spattn::box::iv_div(${boxInt(e.a, consts)}, ${e.b}LL)`;
    case "mod": return `spattn::box::iv_mod(${boxInt(e.a, consts)}, ${e.b}LL)`;
    case "neg": return `spattn::box::iv_neg(${boxInt(e.a, consts)}, b)`;
    case "abs": return `spattn::box::iv_abs(${boxInt(e.a, consts)}, b)`;
    case "segment": {
      // Monotone; dense when no document is empty.
      const x = boxInt(e.a, consts);
      return `[&](const spattn::box::Iv& x) { return spattn::box::iv_segment(x, ${segmentLookup(e.ends, "long long", "x.lo", consts)}, ${segmentLookup(e.ends, "long long", "x.hi", consts)}, ${noEmptyDocument(e.ends)}); }(${x})`;
    }
    case "natStart":
      return `spattn::box::iv_nat_start(${boxInt(e.a, consts)}, ${e.length < 0 ? "n" : `${e.length}LL`}, ${e.kernel}, ${e.dilation}, ${e.causal})`;
  }
}

function boxMask(m: MaskExpr, ir: PatternIR, consts: CudaConstants): string {
  switch (m.op) {
    case "bool": return m.value ? "spattn::box::T" : "spattn::box::F";
    case "cmp": {
      // Through the difference, as the compiler does: q - k < w sees q - k as one exact range.
      const diff: IntExpr = { op: "sub", a: m.a, b: m.b };
      const op = `spattn::box::${CMP_CODE[m.cmp]}`;
      const lin = linear(diff, consts);
      if (lin) return `spattn::box::lin_cmp(${op}, ${lin.a}LL, ${lin.b}LL, ${lin.c.length ? lin.c.join(" + ") : "0LL"}, b)`;
      return `spattn::box::iv_cmp(${op}, ${boxInt(diff, consts)})`;
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
      const nqb = `((n + ${s.qblock - 1}) / ${s.qblock})`;
      const nkb = `((n + ${s.kblock - 1}) / ${s.kblock})`;
      return `spattn::box::selected<MAX_CELLS>(dyn.sel${m.selection}_kept + head * ${nqb} * ${nkb}, ${nkb}, ${s.qblock}, ${s.kblock}, b)`;
    }
    case "sameCluster": case "verticalSlash": return UNKNOWN;
  }
}

/** pattern::box_class: the mask over rows q0..q1 and keys k0..k1 (inside [0, n)) of a head. */
export function boxClassFunction(ir: PatternIR, consts: CudaConstants): string[] {
  return [
    "/** The predicate over the box of rows q0..q1 and keys k0..k1 (0 <= q0 <= q1 < n, likewise k) of",
    " *  head `head`: spattn::box's packed three-valued truth (value & 3 is F, T, P or U). Selections",
    " *  over more than MAX_CELLS blocks are U (spattn::box::selected). */",
    "template <int MAX_CELLS = 64>",
    "__host__ __device__ __forceinline__ int box_class(int q0, int q1, int k0, int k1, int head_, int n_, const Dyn& dyn) {",
    "  const spattn::box::Box b = {q0, q1, k0, k1};",
    "  const long long n = n_, head = head_;",
    "  (void)dyn; (void)head; (void)n; (void)b;",
    `  return ${boxMask(ir.mask, ir, consts)};`,
    "}",
  ];
}
