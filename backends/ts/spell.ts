// How the TypeScript backend spells IR nodes: a point evaluator (plain arithmetic) and a box
// evaluator (calls into the embedded block-mask runtime). Expressions only ever contain
// numbers and fixed identifiers: no name from the pattern file reaches them.
import type { IntExpr, MaskExpr } from "../../compiler/ir.js";
import { ConstantDecls } from "../constants.js";

/** Constant arrays (document ends) are hoisted to module constants. */
export class Hoist extends ConstantDecls {
  constant(init: string, prefix: string): string {
    return this.intern(init, (i) => ({ decls: [`const ${prefix}${i} = ${init};`], ref: `${prefix}${i}` }));
  }
}

function num(v: number): string {
  return v < 0 ? `(${v})` : String(v);
}

function lengthOf(e: Extract<IntExpr, { op: "natStart" }>): string {
  return e.length < 0 ? "ctx.n" : String(e.length);
}

export function pointInt(e: IntExpr, h: Hoist): string {
  switch (e.op) {
    case "const": return num(e.value);
    case "var": return e.name === "head" ? "ctx.head" : e.name === "n" ? "ctx.n" : e.name;
    case "add": return `(${pointInt(e.a, h)} + ${pointInt(e.b, h)})`;
    case "sub": return `(${pointInt(e.a, h)} - ${pointInt(e.b, h)})`;
    case "mul": return `(${pointInt(e.a, h)} * ${pointInt(e.b, h)})`;
    case "min": return `Math.min(${pointInt(e.a, h)}, ${pointInt(e.b, h)})`;
    case "max": return `Math.max(${pointInt(e.a, h)}, ${pointInt(e.b, h)})`;
    case "div": return `fdiv(${pointInt(e.a, h)}, ${e.b})`;
    case "mod": return `fmod(${pointInt(e.a, h)}, ${e.b})`;
    case "neg": return `(-${pointInt(e.a, h)})`;
    case "abs": return `Math.abs(${pointInt(e.a, h)})`;
    case "segment": return `segmentOf(${h.constant(JSON.stringify(e.ends), "ENDS")}, ${pointInt(e.a, h)})`;
    case "natStart": return `natStart(${pointInt(e.a, h)}, ${lengthOf(e)}, ${e.kernel}, ${e.dilation}, ${e.causal})`;
  }
}

function headTest(heads: number[]): string {
  return heads.map((x) => `ctx.head === ${x}`).join(" || ");
}

export function pointMask(m: MaskExpr, h: Hoist): string {
  switch (m.op) {
    case "bool": return String(m.value);
    case "cmp": return `(${pointInt(m.a, h)} ${m.cmp === "==" ? "===" : m.cmp === "!=" ? "!==" : m.cmp} ${pointInt(m.b, h)})`;
    case "and": return `(${m.args.map((a) => pointMask(a, h)).join(" && ")})`;
    case "or": return `(${m.args.map((a) => pointMask(a, h)).join(" || ")})`;
    case "not": return `!${pointMask(m.a, h)}`;
    case "byHead": return `(${m.cases.map((c) => `${headTest(c.heads)} ? ${pointMask(c.body, h)} : `).join("")}${pointMask(m.otherwise, h)})`;
    case "selected": return `selectedPoint(ctx.selections[${m.selection}], q, k)`;
    case "sameCluster": return `(ctx.routes[${m.route}].q[q] === ctx.routes[${m.route}].k[k])`;
    case "verticalSlash": return `verticalSlashPoint(ctx.vslash[${m.vs}], q, k)`;
  }
}

export function boxInt(e: IntExpr, h: Hoist): string {
  switch (e.op) {
    case "const": return h.constant(`ivConst(${e.value})`, "IV");
    case "var":
      if (e.name === "q") return "ivQ(b)";
      if (e.name === "k") return "ivK(b)";
      if (e.name === "head") return "ivConst(ctx.head)";
      if (e.name === "n") return "ivConst(ctx.n)";
      throw new Error("internal: block indices outside a selection clause");
    case "add": return `ivAdd(${boxInt(e.a, h)}, ${boxInt(e.b, h)}, b)`;
    case "sub": return `ivSub(${boxInt(e.a, h)}, ${boxInt(e.b, h)}, b)`;
    case "mul": return `ivMul(${boxInt(e.a, h)}, ${boxInt(e.b, h)}, b)`;
    case "min": return `ivMin(${boxInt(e.a, h)}, ${boxInt(e.b, h)})`;
    case "max": return `ivMax(${boxInt(e.a, h)}, ${boxInt(e.b, h)})`;
    case "div": return `ivDiv(${boxInt(e.a, h)}, ${e.b})`;
    case "mod": return `ivMod(${boxInt(e.a, h)}, ${e.b})`;
    case "neg": return `ivNeg(${boxInt(e.a, h)}, b)`;
    case "abs": return `ivAbs(${boxInt(e.a, h)}, b)`;
    case "segment": return `ivSegment(${h.constant(JSON.stringify(e.ends), "ENDS")}, ${boxInt(e.a, h)})`;
    case "natStart": return `ivNatStart(${boxInt(e.a, h)}, ${lengthOf(e)}, ${e.kernel}, ${e.dilation}, ${e.causal})`;
  }
}

export function boxMask(m: MaskExpr, h: Hoist): string {
  switch (m.op) {
    case "bool": return m.value ? "T" : "F";
    // Through the difference, as the compiler's own evaluator does: q - k stays exact.
    case "cmp": return `ivCmp(${JSON.stringify(m.cmp)}, ${boxInt({ op: "sub", a: m.a, b: m.b }, h)})`;
    case "and": case "or": return `triJoin([${m.args.map((a) => boxMask(a, h)).join(", ")}], ${m.op === "and"})`;
    case "not": return `triNot(${boxMask(m.a, h)})`;
    case "byHead": return `(${m.cases.map((c) => `${headTest(c.heads)} ? ${boxMask(c.body, h)} : `).join("")}${boxMask(m.otherwise, h)})`;
    case "selected": return `selectedBox(ctx.selections[${m.selection}], b)`;
    case "sameCluster": return `clusterBox(ctx.routes[${m.route}], b)`;
    case "verticalSlash": return `verticalSlashBox(ctx.vslash[${m.vs}], b)`;
  }
}
