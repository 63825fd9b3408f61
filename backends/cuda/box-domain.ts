// How the CUDA backend spells the pattern over a box of (q, k) pairs: pattern::box_class, the
// compiler's three-valued domain (compiler/blockmask/evaluate.ts, maskBox and intBox) node for
// node, on the helpers of templates/box_domain.cuh, which mirror compiler/blockmask/lib.ts.
// Routes and vertical-slash steps are "unknown" on the device; callers settle unknown boxes
// element by element (the mask generator) or by running the predicate (the attention kernels).
import type { IntExpr, MaskExpr, PatternIR } from "../../compiler/ir.js";
import { INLINE_ENDS, type CudaConstants } from "./spell.js";

const CMP_CODE: Record<string, string> = { "<": "LT", "<=": "LE", "==": "EQ", "!=": "NE" };
const UNKNOWN = "spattn::box::tri(spattn::box::U, spattn::box::DEP_Q | spattn::box::DEP_K)";

/** The document of bound `at` (a C expression) of an Iv, as the predicate finds it. */
function segmentOf(ends: number[], at: string, consts: CudaConstants): string {
  if (ends.length <= INLINE_ENDS) return `spattn::segment_count<long long>(${at}${ends.map((v) => `, ${v}LL`).join("")})`;
  return `spattn::segment_of<long long>(${consts.table(ends)}, ${ends.length}, ${at})`;
}

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
      // Monotone; dense when no document is empty (ids then step by one).
      const noEmpty = !(e.ends.length > 0 && e.ends[0] === 0) && e.ends.every((v, i) => i === 0 || v !== e.ends[i - 1]);
      const x = boxInt(e.a, consts);
      return `[&](const spattn::box::Iv& x) { return spattn::box::iv_segment(x, ${segmentOf(e.ends, "x.lo", consts)}, ${segmentOf(e.ends, "x.hi", consts)}, ${noEmpty}); }(${x})`;
    }
    case "natStart":
      return `spattn::box::iv_nat_start(${boxInt(e.a, consts)}, ${e.length < 0 ? "n" : `${e.length}LL`}, ${e.kernel}, ${e.dilation}, ${e.causal})`;
  }
}

function boxMask(m: MaskExpr, ir: PatternIR, consts: CudaConstants): string {
  switch (m.op) {
    case "bool": return m.value ? "spattn::box::T" : "spattn::box::F";
    // Through the difference, as the compiler does: q - k < w sees q - k as one exact range.
    case "cmp": return `spattn::box::iv_cmp(spattn::box::${CMP_CODE[m.cmp]}, ${boxInt({ op: "sub", a: m.a, b: m.b }, consts)})`;
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
      return `spattn::box::selected(dyn.sel${m.selection}_kept + head * ${nqb} * ${nkb}, ${nkb}, ${s.qblock}, ${s.kblock}, b)`;
    }
    case "sameCluster": case "verticalSlash": return UNKNOWN;
  }
}

/** pattern::box_class: the mask over rows q0..q1 and keys k0..k1 (inside [0, n)) of a head. */
export function boxClassFunction(ir: PatternIR, consts: CudaConstants): string[] {
  return [
    "/** The predicate over the box of rows q0..q1 and keys k0..k1 (0 <= q0 <= q1 < n, likewise k) of",
    " *  head `head`: spattn::box's packed three-valued truth (value & 3 is F, T, P or U). */",
    "__host__ __device__ __forceinline__ int box_class(int q0, int q1, int k0, int k1, int head_, int n_, const Dyn& dyn) {",
    "  const spattn::box::Box b = {q0, q1, k0, k1};",
    "  const long long n = n_, head = head_;",
    "  (void)dyn; (void)head; (void)n; (void)b;",
    `  return ${boxMask(ir.mask, ir, consts)};`,
    "}",
  ];
}
