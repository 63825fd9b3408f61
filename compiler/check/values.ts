// Values the checker computes while walking the AST. Parameters and arithmetic over them fold
// to constants; anything reading q, k or head becomes IR.
import type { IntExpr, MaskExpr } from "../ir.js";

export type CValue =
  | { t: "int"; v: number }
  | { t: "float"; v: number }
  | { t: "bool"; v: boolean }
  | { t: "list"; v: number[] }
  /** A position-dependent integer; `token` marks q and k themselves (they have coordinates). */
  | { t: "pos"; e: IntExpr; token?: "q" | "k" }
  | { t: "mask"; e: MaskExpr }
  /** A dynamic selection: a mask at token level, a parent test inside another selection. */
  | { t: "selection"; id: number }
  /** Stands for a sub-expression that already reported an error. */
  | { t: "error" };

export const ERROR: CValue = { t: "error" };

export function typeName(v: CValue): string {
  switch (v.t) {
    case "int": return "an integer";
    case "float": return "a number";
    case "bool": return "a boolean";
    case "list": return "a list";
    case "pos": return "a position expression";
    case "mask": return "a mask";
    case "selection": return "a block selection";
    case "error": return "an invalid value";
  }
}

export function intExprOf(v: CValue): IntExpr | undefined {
  if (v.t === "int") return { op: "const", value: v.v };
  if (v.t === "pos") return v.e;
  return undefined;
}

export function maskExprOf(v: CValue): MaskExpr | undefined {
  if (v.t === "bool") return { op: "bool", value: v.v };
  if (v.t === "mask") return v.e;
  if (v.t === "selection") return { op: "selected", selection: v.id };
  return undefined;
}

/** Folds constant sub-trees so that `bool` leaves do not survive inside and/or. */
export function mkAnd(args: MaskExpr[], isAnd: boolean): MaskExpr {
  const out: MaskExpr[] = [];
  for (const a of args) {
    if (a.op === "bool") {
      if (a.value !== isAnd) return { op: "bool", value: !isAnd };
      continue;
    }
    if (a.op === (isAnd ? "and" : "or")) out.push(...(a as { args: MaskExpr[] }).args);
    else out.push(a);
  }
  if (out.length === 0) return { op: "bool", value: isAnd };
  if (out.length === 1) return out[0];
  return { op: isAnd ? "and" : "or", args: out };
}

export function mkNot(a: MaskExpr): MaskExpr {
  if (a.op === "bool") return { op: "bool", value: !a.value };
  if (a.op === "not") return a.a;
  return { op: "not", a };
}
