// How the WGSL backend spells the IR: the pattern predicate as one WGSL function over i32.
// WGSL has no 64-bit integers, so the host refuses sizes whose arithmetic could leave i32 (the
// spec's maxN, from `wgslMaxSeqLen`, in the host's checkSize). Dynamic leaves read the `dyn` storage buffer of i32 words at offsets
// the host passes in the parameters (one word per byte of the CPU's kept/cols/diags arrays).
// Expressions only ever contain numbers and fixed identifiers: no name from the pattern file
// reaches them.
import type { IntExpr, MaskExpr, PatternIR } from "../../compiler/ir.js";
import { ConstantDecls } from "../constants.js";

/** Constant arrays (document ends) become module-scope private arrays (indexable at run time),
 *  each with a binary search (wgslHelpers). */
export class WgslConstants extends ConstantDecls {
  /** The tables declared, with their true lengths (a declared array is never empty). */
  readonly tables: { name: string; length: number }[] = [];
  table(values: number[]): string {
    return this.intern(values.join(","), (i) => {
      const name = `SPATTN_ENDS${i}`;
      this.tables.push({ name, length: values.length });
      // An array of no elements is not WGSL: a zero-document list keeps one unused entry.
      const items = values.length ? values : [0];
      return { decls: [`var<private> ${name}: array<i32, ${items.length}> = array<i32, ${items.length}>(${items.map((v) => `${v}i`).join(", ")}); // ${values.length} ends`], ref: name };
    });
  }
}

function lit(v: number): string {
  return v < 0 ? `(${v}i)` : `${v}i`;
}

export function wgslInt(e: IntExpr, c: WgslConstants): string {
  switch (e.op) {
    case "const": return lit(e.value);
    case "var": return e.name;
    case "add": return `(${wgslInt(e.a, c)} + ${wgslInt(e.b, c)})`;
    case "sub": return `(${wgslInt(e.a, c)} - ${wgslInt(e.b, c)})`;
    case "mul": return `(${wgslInt(e.a, c)} * ${wgslInt(e.b, c)})`;
    case "min": return `min(${wgslInt(e.a, c)}, ${wgslInt(e.b, c)})`;
    case "max": return `max(${wgslInt(e.a, c)}, ${wgslInt(e.b, c)})`;
    case "div": return `spattn_fdiv(${wgslInt(e.a, c)}, ${lit(e.b)})`;
    case "mod": return `spattn_fmod(${wgslInt(e.a, c)}, ${lit(e.b)})`;
    case "neg": return `(-${wgslInt(e.a, c)})`;
    case "abs": return `abs(${wgslInt(e.a, c)})`;
    case "segment": {
      const name = c.table(e.ends);
      return `spattn_segment_${name}(${wgslInt(e.a, c)})`;
    }
    case "natStart": return `spattn_nat_start(${wgslInt(e.a, c)}, ${e.length < 0 ? "n" : lit(e.length)}, ${lit(e.kernel)}, ${lit(e.dilation)}, ${e.causal})`;
  }
}

/** Word `i` of dynamic array `field` (its offset in the dyn buffer is a parameter). */
function dynRead(field: string, index: string): string {
  return `dyn[u32(P.dyn_${field} + ${index})]`;
}

/**
 * `hoisted`: selections whose kept value the caller computed once per key tile (the shader's
 * `sel<i>_tile`, see tileConstantSelections); their leaves read that instead of `dyn`.
 */
export function wgslMask(m: MaskExpr, ir: PatternIR, c: WgslConstants, hoisted: readonly number[] = []): string {
  const sub = (x: MaskExpr) => wgslMask(x, ir, c, hoisted);
  switch (m.op) {
    case "bool": return m.value ? "true" : "false";
    case "cmp": return `(${wgslInt(m.a, c)} ${m.cmp} ${wgslInt(m.b, c)})`;
    case "and": return `(${m.args.map(sub).join(" && ")})`;
    case "or": return `(${m.args.map(sub).join(" || ")})`;
    case "not": return `(!${sub(m.a)})`;
    case "byHead": {
      // select() evaluates both sides, which is safe: every operand is plain arithmetic or an
      // in-bounds read. Nested from the last case outwards so the first listing wins.
      let out = sub(m.otherwise);
      for (let i = m.cases.length - 1; i >= 0; i--) {
        const test = m.cases[i].heads.map((h) => `head == ${h}i`).join(" || ");
        out = `select(${out}, ${sub(m.cases[i].body)}, ${test})`;
      }
      return `(${out})`;
    }
    case "selected":
      return hoisted.includes(m.selection) ? `sel${m.selection}_tile` : keptRead(ir, m.selection, "k");
    case "sameCluster":
      return `(${dynRead(`route${m.route}_q`, "head * n + q")} == ${dynRead(`route${m.route}_k`, "head * n + k")})`;
    case "verticalSlash":
      return `(${dynRead(`vs${m.vs}_cols`, "head * n + k")} != 0i || (q >= k && ${dynRead(`vs${m.vs}_diags`, "head * n + select(0i, q - k, q >= k)")} != 0i))`;
  }
}

/** Whether selection `i` kept the block of query q and key `k` (an identifier in scope):
 *  kept[head][q / qblock][k / kblock], with ceil(n / block) blocks per side. */
export function keptRead(ir: PatternIR, i: number, k: string): string {
  const s = ir.selections[i];
  const nqb = `((n + ${s.qblock - 1}i) / ${s.qblock}i)`;
  const nkb = `((n + ${s.kblock - 1}i) / ${s.kblock}i)`;
  return `(${dynRead(`sel${i}_kept`, `(head * ${nqb} + q / ${s.qblock}i) * ${nkb} + ${k} / ${s.kblock}i`)} != 0i)`;
}

/**
 * Selections whose kept value is the same for every key of a tile of `bk` keys (their key
 * blocks are whole tiles): a shader reads it once per tile and row instead of once per pair.
 */
export function tileConstantSelections(ir: PatternIR, bk: number): number[] {
  return ir.selections.flatMap((s, i) => (s.kblock % bk === 0 ? [i] : []));
}

/** Helper functions every predicate may call, plus a binary search per document table. */
export function wgslHelpers(c: WgslConstants): string[] {
  const out = [
    "// Floor division and modulo by a positive constant (WGSL's / and % truncate toward zero).",
    "fn spattn_fdiv(a: i32, b: i32) -> i32 {",
    "  let t = a / b;",
    "  return select(t, t - 1i, (a % b) != 0i && a < 0i);",
    "}",
    "fn spattn_fmod(a: i32, b: i32) -> i32 {",
    "  let r = a % b;",
    "  return select(r, r + b, r < 0i);",
    "}",
    "// NATTEN's window start on one axis (compiler/blockmask/lib.ts natStart).",
    "fn spattn_nat_start(i: i32, length: i32, kernel: i32, dilation: i32, causal: bool) -> i32 {",
    "  let r = i % dilation;",
    "  let ip = (i - r) / dilation;",
    "  if (causal) { return r + max(ip - kernel + 1i, 0i) * dilation; }",
    "  let sub = (length - r + dilation - 1i) / dilation;",
    "  let start = min(max(ip - kernel / 2i, 0i), sub - kernel);",
    "  return r + start * dilation;",
    "}",
  ];
  c.tables.forEach(({ name, length: len }, i) => {
    out.push(
      c.decls[i],
      `// The document holding position x: the number of ends <= x (ends ascending).`,
      `fn spattn_segment_${name}(x: i32) -> i32 {`,
      `  var lo = 0i;`,
      `  var hi = ${len}i;`,
      `  loop {`,
      `    if (lo >= hi) { break; }`,
      `    let mid = (lo + hi) / 2i;`,
      `    if (${name}[mid] <= x) { lo = mid + 1i; } else { hi = mid; }`,
      `  }`,
      `  return lo;`,
      `}`,
    );
  });
  return out;
}

/** The predicate as `spattn_allowed(q, k, head, n)` with the helpers it calls; shaders that
 *  include it declare `P` (with the `dyn_*` offsets of `dynFieldNames`) and `dyn`. Hoisted
 *  selections (wgslMask) are further parameters, `sel<i>_tile: bool`, in the order given. */
export function wgslPredicate(ir: PatternIR, hoisted: readonly number[] = []): string[] {
  const c = new WgslConstants();
  const body = wgslMask(ir.mask, ir, c, hoisted);
  const extra = hoisted.map((i) => `, sel${i}_tile: bool`).join("");
  return [...wgslHelpers(c), "", `fn spattn_allowed(q: i32, k: i32, head: i32, n: i32${extra}) -> bool {`, `  return ${body};`, "}"];
}

/** A uniform struct of 4-byte fields (f32 where listed, else i32), padded to 16 bytes. */
export function wgslParamStruct(fields: string[], floats: string[] = []): string[] {
  const padded = [...fields];
  while (padded.length % 4) padded.push(`pad${padded.length}`);
  return ["struct Params {", ...padded.map((f) => `  ${f}: ${floats.includes(f) ? "f32" : "i32"},`), "}"];
}
