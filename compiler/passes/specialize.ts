// A mask as one head sees it: `head` replaced by its value, `byHead` resolved to that head's
// case, and integer subexpressions without variables folded to constants. Two heads whose
// specialised masks are equal (as JSON) have the same mask, whatever the pattern wrote: the
// simulator classifies such heads once (S2-Attention's `head % shards` repeats every
// `shards` heads).
import { headCase, intPoint } from "../blockmask/evaluate.js";
import type { IntExpr, MaskExpr } from "../ir.js";
import { mapMask, substituteInt } from "./substitute.js";

function hasVar(e: IntExpr): boolean {
  switch (e.op) {
    case "const": return false;
    case "var": return true;
    case "add": case "sub": case "mul": case "min": case "max": return hasVar(e.a) || hasVar(e.b);
    // A neighbourhood over the whole sequence reads n.
    case "natStart": return e.length < 0 || hasVar(e.a);
    default: return hasVar(e.a);
  }
}

/** Folds every variable-free subexpression (bottom-up, so partly constant trees shrink too). */
export function foldInt(e: IntExpr): IntExpr {
  if (e.op === "const" || e.op === "var") return e;
  const inner: IntExpr = e.op === "add" || e.op === "sub" || e.op === "mul" || e.op === "min" || e.op === "max" ? { ...e, a: foldInt(e.a), b: foldInt(e.b) } : { ...e, a: foldInt(e.a) };
  if (hasVar(inner)) return inner;
  const value = intPoint(inner, { head: 0, n: 0, selections: [], routes: [], vslash: [] })({ q: 0, k: 0, qb: 0, kb: 0 });
  return { op: "const", value };
}

function resolveHeads(m: MaskExpr, head: number): MaskExpr {
  switch (m.op) {
    case "byHead": return resolveHeads(headCase(m, head), head);
    case "and": case "or": return { ...m, args: m.args.map((x) => resolveHeads(x, head)) };
    case "not": return { ...m, a: resolveHeads(m.a, head) };
    default: return m;
  }
}

export function specializeHead(m: MaskExpr, head: number): MaskExpr {
  return mapMask(resolveHeads(m, head), (e) => foldInt(substituteInt(e, { head: { op: "const", value: head } })));
}
