// How the CUDA backend spells the IR: the pattern predicate as one device function over
// 64-bit integers. Dynamic leaves read device arrays of the pattern's Dyn struct.
import type { IntExpr, MaskExpr, PatternIR } from "../../compiler/ir.js";
import { ConstantDecls } from "../constants.js";

/**
 * Document ends up to this many are compared inline (immediates, no memory). A warp's
 * threads search for different positions, so a table in __constant__ memory, whose cache
 * serialises different addresses, cost about 8 us per partial 128 x 64 tile on the H100
 * (packed documents: bench/results/simulator/heldout/trace_fit.txt).
 */
export const INLINE_ENDS = 16;

/**
 * The document of position `at` (a C expression of integer type `type`): the number of ends
 * <= at (the ends are increasing), compared inline up to INLINE_ENDS ends, else searched in a
 * device table. The predicate and the box domain (box-domain.ts) both spell lookups so.
 */
export function segmentLookup(ends: number[], type: string, at: string, consts: CudaConstants): string {
  if (ends.length <= INLINE_ENDS) return `spattn::segment_count<${type}>(${at}${ends.map((v) => `, ${v}LL`).join("")})`;
  return `spattn::segment_of<${type}>(${consts.table(ends)}, ${ends.length}, ${at})`;
}

/** Longer lists of document ends become device tables, read through the L1 cache. */
export class CudaConstants extends ConstantDecls {
  table(values: number[]): string {
    return this.intern(values.join(","), (i) => {
      const name = `spattn_ends${i}`;
      // A table is never empty in C: a zero-document list still needs one (unused) entry.
      // Device code reads the __device__ copy, host code (the exported predicate) the other.
      const init = `{${values.length ? values.map((v) => `${v}LL`).join(", ") : "0LL"}}`;
      const size = Math.max(1, values.length);
      return {
        decls: [`__device__ const long long ${name}_d[${size}] = ${init};`, `__attribute__((unused)) static const long long ${name}_h[${size}] = ${init};`],
        ref: `SPATTN_TABLE(${name})`,
      };
    });
  }
}

/** Literals are typed as the predicate's integer type `pint` (int or long long). */
function lit(v: number): string {
  return `(pint)${v < 0 ? `(${v})` : v}`;
}

export function cudaInt(e: IntExpr, c: CudaConstants): string {
  switch (e.op) {
    case "const": return lit(e.value);
    case "var":
      if (e.name === "head") return "(pint)head";
      // qb and kb only occur in selection clauses, whose functions declare them.
      return `(pint)${e.name}`;
    case "add": return `(${cudaInt(e.a, c)} + ${cudaInt(e.b, c)})`;
    case "sub": return `(${cudaInt(e.a, c)} - ${cudaInt(e.b, c)})`;
    case "mul": return `(${cudaInt(e.a, c)} * ${cudaInt(e.b, c)})`;
    case "min": return `spattn::min_i<pint>(${cudaInt(e.a, c)}, ${cudaInt(e.b, c)})`;
    case "max": return `spattn::max_i<pint>(${cudaInt(e.a, c)}, ${cudaInt(e.b, c)})`;
    case "div": return `spattn::floor_div<pint>(${cudaInt(e.a, c)}, ${lit(e.b)})`;
    case "mod": return `spattn::floor_mod<pint>(${cudaInt(e.a, c)}, ${lit(e.b)})`;
    case "neg": return `(-${cudaInt(e.a, c)})`;
    case "abs": return `spattn::abs_i<pint>(${cudaInt(e.a, c)})`;
    case "segment": return segmentLookup(e.ends, "pint", cudaInt(e.a, c), c);
    case "natStart": return `spattn::nat_start<pint>(${cudaInt(e.a, c)}, ${e.length < 0 ? "(pint)n" : lit(e.length)}, ${lit(e.kernel)}, ${lit(e.dilation)}, ${e.causal})`;
  }
}

const CMP: Record<string, string> = { "<": "<", "<=": "<=", "==": "==", "!=": "!=" };

/** Whether an integer expression is straight-line arithmetic (a long document table is searched). */
function straightInt(e: IntExpr): boolean {
  switch (e.op) {
    case "const": case "var": return true;
    case "segment": return e.ends.length <= INLINE_ENDS && straightInt(e.a);
    case "neg": case "abs": case "div": case "mod": case "natStart": return straightInt(e.a);
    default: return straightInt(e.a) && straightInt(e.b);
  }
}

/** Whether a mask is straight-line arithmetic: no device-array reads and no searches. Such a
 *  conjunction is spelled `&` (and a disjunction `|`): every operand is evaluated, with no
 *  branch per element (divisors are nonzero constants, so evaluating is always safe). With
 *  `&&`, nvcc branches around each operand, and a partial tile runs the predicate for each of
 *  a thread's 32 scores: on NATTEN's all-partial tiles the branches cost more than the
 *  comparisons. Reads and searches keep `&&` / `||`, which skip them where they can. */
function straightMask(m: MaskExpr): boolean {
  switch (m.op) {
    case "bool": return true;
    case "cmp": return straightInt(m.a) && straightInt(m.b);
    case "and": case "or": return m.args.every(straightMask);
    case "not": return straightMask(m.a);
    case "byHead": return m.cases.every((x) => straightMask(x.body)) && straightMask(m.otherwise);
    default: return false;
  }
}

export function cudaMask(m: MaskExpr, ir: PatternIR, c: CudaConstants): string {
  switch (m.op) {
    case "bool": return m.value ? "true" : "false";
    case "cmp": return `(${cudaInt(m.a, c)} ${CMP[m.cmp]} ${cudaInt(m.b, c)})`;
    case "and": return `(${m.args.map((a) => cudaMask(a, ir, c)).join(straightMask(m) ? " & " : " && ")})`;
    case "or": return `(${m.args.map((a) => cudaMask(a, ir, c)).join(straightMask(m) ? " | " : " || ")})`;
    case "not": return `(!${cudaMask(m.a, ir, c)})`;
    case "byHead":
      return `(${m.cases.map((x) => `(${x.heads.map((h) => `head == ${h}`).join(" || ")}) ? ${cudaMask(x.body, ir, c)} : `).join("")}${cudaMask(m.otherwise, ir, c)})`;
    case "selected": {
      const s = ir.selections[m.selection];
      // kept[head][q / qblock][k / kblock], with ceil(n / block) blocks per side.
      const nqb = `((long long)n + ${s.qblock - 1}) / ${s.qblock}`;
      const nkb = `((long long)n + ${s.kblock - 1}) / ${s.kblock}`;
      return `(dyn.sel${m.selection}_kept[((long long)head * (${nqb}) + (long long)q / ${s.qblock}) * (${nkb}) + (long long)k / ${s.kblock}] != 0)`;
    }
    case "sameCluster":
      return `(dyn.route${m.route}_q[(long long)head * n + q] == dyn.route${m.route}_k[(long long)head * n + k])`;
    case "verticalSlash":
      return `(dyn.vs${m.vs}_cols[(long long)head * n + k] != 0 || (q >= k && dyn.vs${m.vs}_diags[(long long)head * n + (q - k)] != 0))`;
  }
}
