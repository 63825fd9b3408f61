// Substitution of variables in IR expressions: the tool passes use to move a mask into
// another coordinate system.
import type { IntExpr, IntVar, MaskExpr } from "../ir.js";

export type Bindings = Partial<Record<IntVar, IntExpr>>;

export function substituteInt(e: IntExpr, b: Bindings): IntExpr {
  switch (e.op) {
    case "const": return e;
    case "var": return b[e.name] ?? e;
    case "add": case "sub": case "mul": case "min": case "max": return { ...e, a: substituteInt(e.a, b), b: substituteInt(e.b, b) };
    // A neighbourhood over the whole sequence reads n through its length.
    case "natStart": return { ...e, a: substituteInt(e.a, b), length: e.length < 0 && b.n?.op === "const" ? b.n.value : e.length };
    default: return { ...e, a: substituteInt(e.a, b) };
  }
}

export function substituteMask(m: MaskExpr, b: Bindings): MaskExpr {
  return mapMask(m, (e) => substituteInt(e, b));
}

/** Applies `f` to every integer expression at the leaves of a mask (comparison operands). */
export function mapMask(m: MaskExpr, f: (e: IntExpr) => IntExpr): MaskExpr {
  switch (m.op) {
    case "cmp": return { ...m, a: f(m.a), b: f(m.b) };
    case "and": case "or": return { ...m, args: m.args.map((x) => mapMask(x, f)) };
    case "not": return { ...m, a: mapMask(m.a, f) };
    case "byHead": return { ...m, cases: m.cases.map((x) => ({ heads: x.heads, body: mapMask(x.body, f) })), otherwise: mapMask(m.otherwise, f) };
    default: return m;
  }
}
