// Checks one expression and computes its value: constants fold, position arithmetic becomes
// IntExpr, conditions become MaskExpr. Every problem is reported once, at its own position;
// an `error` value then flows upward silently so that one mistake gives one message.
import type * as A from "../../grammar/ast.js";
import type { IntExpr, MaskExpr } from "../ir.js";
import { checkCall } from "./builtins.js";
import type { Scope } from "./scope.js";
import { ERROR, intExprOf, maskExprOf, mkAnd, mkNot, typeName, type CValue } from "./values.js";

/** Largest integer the checker lets through: products stay exact in float64 arithmetic. */
export const INT_LIMIT = 2 ** 31;

export function checkExpr(s: Scope, e: A.Expr): CValue {
  switch (e.kind) {
    case "int":
      if (e.value >= INT_LIMIT) return err(s, e.loc, `integer ${e.value} is too large (limit ${INT_LIMIT - 1})`);
      return { t: "int", v: e.value };
    case "float":
      return { t: "float", v: e.value };
    case "bool":
      return { t: "bool", v: e.value };
    case "error":
      return ERROR;
    case "name":
      return checkName(s, e);
    case "member":
      return checkMember(s, e);
    case "call":
      return checkCall(s, e);
    case "list":
      return checkList(s, e);
    case "unary":
      return e.op === "-" ? checkNeg(s, e) : checkNot(s, e);
    case "binary":
      if (e.op === "and" || e.op === "or" || e.op === "except") return checkLogic(s, e);
      return checkArith(s, e.op, checkExpr(s, e.left), checkExpr(s, e.right), e.left.loc, e.right.loc, e.loc);
    case "compare":
      return checkCompare(s, e);
    case "match":
      return checkMatch(s, e);
  }
}

export function err(s: Scope, loc: A.Loc, message: string): CValue {
  s.state.diags.error(loc, message);
  return ERROR;
}

function checkName(s: Scope, e: Extract<A.Expr, { kind: "name" }>): CValue {
  const bound = s.lookup(e.name);
  if (bound) return bound;
  switch (e.name) {
    case "q":
    case "k":
      return { t: "pos", e: { op: "var", name: e.name }, token: e.name };
    case "head":
      return { t: "pos", e: { op: "var", name: "head" } };
    case "n":
      return { t: "pos", e: { op: "var", name: "n" } };
    case "causal":
      return { t: "mask", e: { op: "cmp", cmp: "<=", a: { op: "var", name: "k" }, b: { op: "var", name: "q" } } };
    case "qb":
    case "kb":
      if (!s.inClause) return err(s, e.loc, `'${e.name}' (a block index) exists only inside the 'among' and 'always' clauses of topk/topp`);
      return { t: "pos", e: { op: "var", name: e.name } };
  }
  const isPattern = s.state.file.patterns.some((p) => p.name === e.name);
  if (isPattern) return err(s, e.loc, `pattern '${e.name}' must be called: write ${e.name}() to use it with its defaults`);
  return err(s, e.loc, `unknown name '${e.name}'`);
}

/** `q.y`, `k.x`: a token's coordinate on an axis of the pattern's layout (row-major). */
function checkMember(s: Scope, e: Extract<A.Expr, { kind: "member" }>): CValue {
  const obj = checkExpr(s, e.object);
  if (obj.t === "error") return ERROR;
  if (obj.t !== "pos" || !obj.token) return err(s, e.loc, `only q and k have coordinates ('.${e.name}'), not ${typeName(obj)}`);
  const layout = s.state.layout;
  if (!layout) return err(s, e.loc, `'${obj.token}.${e.name}' needs a layout: declare one first, e.g. layout(y: 32, x: 32)`);
  const axis = layout.findIndex((a) => a.name === e.name);
  if (axis < 0) return err(s, e.loc, `the layout has no axis '${e.name}' (axes: ${layout.map((a) => a.name).join(", ")})`);
  return { t: "pos", e: coordinate(obj.e, layout.map((a) => a.size), axis) };
}

/** Coordinate `axis` of a row-major position over axes of the given sizes. */
export function coordinate(pos: IntExpr, sizes: number[], axis: number): IntExpr {
  const stride = sizes.slice(axis + 1).reduce((a, b) => a * b, 1);
  const scaled: IntExpr = stride === 1 ? pos : { op: "div", a: pos, b: stride };
  // The outermost axis needs no modulo: positions stop at the product of the sizes.
  return axis === 0 ? scaled : { op: "mod", a: scaled, b: sizes[axis] };
}

function checkList(s: Scope, e: Extract<A.Expr, { kind: "list" }>): CValue {
  const out: number[] = [];
  let bad = false;
  for (const item of e.items) {
    const v = checkExpr(s, item);
    if (v.t === "int") out.push(v.v);
    else if (v.t !== "error") {
      err(s, item.loc, `list items must be integer constants, not ${typeName(v)}`);
      bad = true;
    } else bad = true;
  }
  return bad ? ERROR : { t: "list", v: out };
}

function checkNeg(s: Scope, e: Extract<A.Expr, { kind: "unary" }>): CValue {
  const v = checkExpr(s, e.operand);
  switch (v.t) {
    case "int": return { t: "int", v: -v.v };
    case "float": return { t: "float", v: -v.v };
    case "pos": return { t: "pos", e: { op: "neg", a: v.e } };
    case "error": return ERROR;
    default: return err(s, e.operand.loc, `cannot negate ${typeName(v)}`);
  }
}

function asMask(s: Scope, v: CValue, loc: A.Loc, what: string): MaskExpr | undefined {
  if (v.t === "error") return undefined;
  const m = maskExprOf(v);
  if (!m) {
    err(s, loc, `${what} needs a condition (a mask or boolean), not ${typeName(v)}`);
    return undefined;
  }
  return m;
}

function fromMask(m: MaskExpr): CValue {
  return m.op === "bool" ? { t: "bool", v: m.value } : { t: "mask", e: m };
}

function checkNot(s: Scope, e: Extract<A.Expr, { kind: "unary" }>): CValue {
  const m = asMask(s, checkExpr(s, e.operand), e.operand.loc, "'not'");
  return m ? fromMask(mkNot(m)) : ERROR;
}

function checkLogic(s: Scope, e: Extract<A.Expr, { kind: "binary" }>): CValue {
  const l = asMask(s, checkExpr(s, e.left), e.left.loc, `'${e.op}'`);
  const r = asMask(s, checkExpr(s, e.right), e.right.loc, `'${e.op}'`);
  if (!l || !r) return ERROR;
  if (e.op === "except") return fromMask(mkAnd([l, mkNot(r)], true));
  return fromMask(mkAnd([l, r], e.op === "and"));
}

function numeric(v: CValue): v is { t: "int" | "float"; v: number } {
  return v.t === "int" || v.t === "float";
}

function checkArith(s: Scope, op: string, l: CValue, r: CValue, leftLoc: A.Loc, rightLoc: A.Loc, loc: A.Loc): CValue {
  if (l.t === "error" || r.t === "error") return ERROR;
  if (numeric(l) && numeric(r)) {
    const isFloat = l.t === "float" || r.t === "float";
    if ((op === "/" || op === "%") && r.v === 0) return err(s, rightLoc, "division by zero");
    if (isFloat) {
      const v = op === "+" ? l.v + r.v : op === "-" ? l.v - r.v : op === "*" ? l.v * r.v : op === "/" ? l.v / r.v : l.v - r.v * Math.floor(l.v / r.v);
      return { t: "float", v };
    }
    const v = op === "+" ? l.v + r.v : op === "-" ? l.v - r.v : op === "*" ? l.v * r.v : op === "/" ? Math.floor(l.v / r.v) : l.v - r.v * Math.floor(l.v / r.v);
    if (Math.abs(v) >= INT_LIMIT) return err(s, loc, `integer overflow: ${v} is beyond ${INT_LIMIT - 1}`);
    return { t: "int", v };
  }
  const a = intExprOf(l);
  const b = intExprOf(r);
  if (!a || !b) return err(s, !a ? leftLoc : rightLoc, `'${op}' needs integers or positions, not ${typeName(!a ? l : r)}`);
  if (op === "/" || op === "%") {
    if (r.t !== "int") return err(s, rightLoc, `the right side of '${op}' must be a constant integer (a parameter or a number), not ${typeName(r)}`);
    if (r.v <= 0) return err(s, rightLoc, `the right side of '${op}' must be positive, got ${r.v}`);
    if (r.v === 1) return op === "/" ? l : { t: "int", v: 0 };
    return { t: "pos", e: { op: op === "/" ? "div" : "mod", a, b: r.v } };
  }
  const irOp = op === "+" ? "add" : op === "-" ? "sub" : "mul";
  return { t: "pos", e: { op: irOp, a, b } };
}

function compareConst(op: A.CompareOp, a: number, b: number): boolean {
  switch (op) {
    case "<": return a < b;
    case "<=": return a <= b;
    case ">": return a > b;
    case ">=": return a >= b;
    case "==": return a === b;
    case "!=": return a !== b;
  }
}

function checkCompare(s: Scope, e: Extract<A.Expr, { kind: "compare" }>): CValue {
  const vals = e.operands.map((o) => checkExpr(s, o));
  if (vals.some((v) => v.t === "error")) return ERROR;
  const parts: MaskExpr[] = [];
  for (let i = 0; i < e.ops.length; i++) {
    const op = e.ops[i];
    const l = vals[i];
    const r = vals[i + 1];
    if (l.t === "bool" && r.t === "bool" && (op === "==" || op === "!=")) {
      parts.push({ op: "bool", value: (l.v === r.v) === (op === "==") });
      continue;
    }
    if (numeric(l) && numeric(r)) {
      parts.push({ op: "bool", value: compareConst(op, l.v, r.v) });
      continue;
    }
    const a = intExprOf(l);
    const b = intExprOf(r);
    if (!a || !b) return err(s, (!a ? e.operands[i] : e.operands[i + 1]).loc, `'${op}' compares integers or positions, not ${typeName(!a ? l : r)}`);
    // Only <, <=, ==, != reach the IR: a > b is b < a.
    if (op === ">") parts.push({ op: "cmp", cmp: "<", a: b, b: a });
    else if (op === ">=") parts.push({ op: "cmp", cmp: "<=", a: b, b: a });
    else parts.push({ op: "cmp", cmp: op, a, b });
  }
  return fromMask(mkAnd(parts, true));
}

/** `match head { 0, 1 => m1, 2..3 => m2, _ => m3 }`: per-head patterns. */
function checkMatch(s: Scope, e: Extract<A.Expr, { kind: "match" }>): CValue {
  const subj = checkExpr(s, e.subject);
  if (subj.t === "error") return ERROR;
  if (!(subj.t === "pos" && subj.e.op === "var" && subj.e.name === "head")) {
    return err(s, e.subject.loc, "match works on 'head' (per-head patterns)");
  }
  const cases: { heads: number[]; body: MaskExpr }[] = [];
  let otherwise: MaskExpr | undefined;
  const claimed = new Map<number, A.Loc>();
  let bad = false;
  for (const c of e.cases) {
    const heads: number[] = [];
    let wildcard = false;
    for (const label of c.labels) {
      if (label.from.kind === "name" && label.from.name === "_" && !label.to) {
        wildcard = true;
        continue;
      }
      const from = checkExpr(s, label.from);
      const to = label.to ? checkExpr(s, label.to) : from;
      if (from.t === "error" || to.t === "error") { bad = true; continue; }
      if (from.t !== "int" || to.t !== "int") {
        err(s, label.loc, "a head label must be a constant integer or a range a..b");
        bad = true;
        continue;
      }
      if (from.v < 0 || to.v < from.v) {
        err(s, label.loc, `bad head range ${from.v}..${to.v}`);
        bad = true;
        continue;
      }
      for (let h = from.v; h <= to.v; h++) {
        if (claimed.has(h)) {
          err(s, label.loc, `head ${h} already has a case (line ${claimed.get(h)!.line})`);
          bad = true;
        } else claimed.set(h, label.loc);
        heads.push(h);
      }
    }
    const body = asMask(s, checkExpr(s, c.body), c.body.loc, "a match case");
    if (!body) { bad = true; continue; }
    if (wildcard) {
      if (otherwise) err(s, c.loc, "only one '_' case is allowed");
      otherwise = body;
    }
    if (heads.length > 0) cases.push({ heads, body });
  }
  if (bad) return ERROR;
  // Heads no case names attend nothing, unless a '_' case says otherwise.
  return { t: "mask", e: { op: "byHead", cases, otherwise: otherwise ?? { op: "bool", value: false } } };
}
