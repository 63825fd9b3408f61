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

/** `byHead` nodes resolved to the cases of `head` (-1: a head no case lists). */
export function resolveHeads(m: MaskExpr, head: number): MaskExpr {
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

/** Heads that share one resolved mask: the listed heads, or (`heads` empty) every other head. */
export interface HeadCase {
  heads: number[];
  mask: MaskExpr;
}

/**
 * The groups of heads a mask's `match head` cases make: for each group the mask with every
 * `byHead` resolved, so that a kernel can pick its group once instead of testing the head per
 * element. The last group is every head no case lists. A mask without `byHead` has one group.
 */
export function headCases(m: MaskExpr): HeadCase[] {
  const listed = new Set<number>();
  const visit = (x: MaskExpr): void => {
    if (x.op === "byHead") {
      for (const c of x.cases) for (const h of c.heads) listed.add(h);
      x.cases.forEach((c) => visit(c.body));
      visit(x.otherwise);
    } else if (x.op === "and" || x.op === "or") x.args.forEach(visit);
    else if (x.op === "not") visit(x.a);
  };
  visit(m);
  const others = resolveHeads(m, -1);
  const key = (x: MaskExpr): string => JSON.stringify(x);
  const groups = new Map<string, HeadCase>();
  for (const h of [...listed].sort((a, b) => a - b)) {
    const mask = resolveHeads(m, h);
    if (key(mask) === key(others)) continue;
    const g = groups.get(key(mask));
    if (g) g.heads.push(h);
    else groups.set(key(mask), { heads: [h], mask });
  }
  return [...groups.values(), { heads: [], mask: others }];
}
