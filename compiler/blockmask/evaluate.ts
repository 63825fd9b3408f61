// Turns the IR of one head into closures over the block-mask runtime (`lib.ts`): an exact
// point evaluator and the three-valued box evaluator the classifier bisects with.
import type { IntExpr, MaskExpr } from "../ir.js";
import * as L from "./lib.js";

/** Everything a mask reads besides positions: fixed per head and sequence length. */
export type EvalContext = L.Ctx;

/** Block indices of a selection clause; unused (0) outside clauses. */
export interface Point {
  q: number;
  k: number;
  qb: number;
  kb: number;
}

type IntFn = (p: Point) => number;
type IntBoxFn = (b: L.Box) => L.IV;

export function intPoint(e: IntExpr, ctx: EvalContext): IntFn {
  switch (e.op) {
    case "const": {
      const v = e.value;
      return () => v;
    }
    case "var":
      switch (e.name) {
        case "q": return (p) => p.q;
        case "k": return (p) => p.k;
        case "qb": return (p) => p.qb;
        case "kb": return (p) => p.kb;
        case "head": { const h = ctx.head; return () => h; }
        case "n": { const n = ctx.n; return () => n; }
      }
      break;
    case "add": case "sub": case "mul": case "min": case "max": {
      const a = intPoint(e.a, ctx);
      const b = intPoint(e.b, ctx);
      switch (e.op) {
        case "add": return (p) => a(p) + b(p);
        case "sub": return (p) => a(p) - b(p);
        case "mul": return (p) => a(p) * b(p);
        case "min": return (p) => Math.min(a(p), b(p));
        case "max": return (p) => Math.max(a(p), b(p));
      }
      break;
    }
    case "div": { const a = intPoint(e.a, ctx); const m = e.b; return (p) => L.fdiv(a(p), m); }
    case "mod": { const a = intPoint(e.a, ctx); const m = e.b; return (p) => L.fmod(a(p), m); }
    case "neg": { const a = intPoint(e.a, ctx); return (p) => -a(p); }
    case "abs": { const a = intPoint(e.a, ctx); return (p) => Math.abs(a(p)); }
    case "segment": { const a = intPoint(e.a, ctx); const ends = e.ends; return (p) => L.segmentOf(ends, a(p)); }
    case "natStart": {
      const a = intPoint(e.a, ctx);
      const { kernel, dilation, causal } = e;
      const length = e.length < 0 ? ctx.n : e.length;
      return (p) => L.natStart(a(p), length, kernel, dilation, causal);
    }
  }
  throw new Error(`internal: unknown int node ${(e as IntExpr).op}`);
}

function intBox(e: IntExpr, ctx: EvalContext): IntBoxFn {
  switch (e.op) {
    case "const": { const c = L.ivConst(e.value); return () => c; }
    case "var":
      switch (e.name) {
        case "q": return (b) => L.ivQ(b);
        case "k": return (b) => L.ivK(b);
        case "head": { const c = L.ivConst(ctx.head); return () => c; }
        case "n": { const c = L.ivConst(ctx.n); return () => c; }
        case "qb": case "kb": throw new Error("internal: block indices outside a selection clause");
      }
      break;
    case "add": case "sub": case "mul": case "min": case "max": {
      const a = intBox(e.a, ctx);
      const c = intBox(e.b, ctx);
      switch (e.op) {
        case "add": return (b) => L.ivAdd(a(b), c(b), b);
        case "sub": return (b) => L.ivSub(a(b), c(b), b);
        case "mul": return (b) => L.ivMul(a(b), c(b), b);
        case "min": return (b) => L.ivMin(a(b), c(b));
        case "max": return (b) => L.ivMax(a(b), c(b));
      }
      break;
    }
    case "div": { const a = intBox(e.a, ctx); const m = e.b; return (b) => L.ivDiv(a(b), m); }
    case "mod": { const a = intBox(e.a, ctx); const m = e.b; return (b) => L.ivMod(a(b), m); }
    case "neg": { const a = intBox(e.a, ctx); return (b) => L.ivNeg(a(b), b); }
    case "abs": { const a = intBox(e.a, ctx); return (b) => L.ivAbs(a(b), b); }
    case "segment": { const a = intBox(e.a, ctx); const ends = e.ends; return (b) => L.ivSegment(ends, a(b)); }
    case "natStart": {
      const a = intBox(e.a, ctx);
      const { kernel, dilation, causal } = e;
      const length = e.length < 0 ? ctx.n : e.length;
      return (b) => L.ivNatStart(a(b), length, kernel, dilation, causal);
    }
  }
  throw new Error(`internal: unknown int node ${(e as IntExpr).op}`);
}

/** Children of an integer node, for walks over every sub-expression. */
function intChildren(e: IntExpr): IntExpr[] {
  switch (e.op) {
    case "const": case "var": return [];
    case "add": case "sub": case "mul": case "min": case "max": return [e.a, e.b];
    default: return [e.a];
  }
}

/**
 * The largest magnitude any integer sub-expression of the mask can take over the whole
 * n x n square (a sound bound from the box domain). Backends compute in float64 or int32/64;
 * callers reject patterns whose arithmetic leaves the exact range.
 */
export function largestMagnitude(m: MaskExpr, ctx: EvalContext): number {
  const box: L.Box = { q0: 0, q1: Math.max(0, ctx.n - 1), k0: 0, k1: Math.max(0, ctx.n - 1) };
  let worst = 0;
  const visitInt = (e: IntExpr): void => {
    const v = intBox(e, ctx)(box);
    worst = Math.max(worst, Math.abs(v.lo), Math.abs(v.hi));
    intChildren(e).forEach(visitInt);
  };
  const visit = (x: MaskExpr): void => {
    switch (x.op) {
      case "cmp": visitInt(x.a); visitInt(x.b); visitInt({ op: "sub", a: x.a, b: x.b }); break;
      case "and": case "or": x.args.forEach(visit); break;
      case "not": visit(x.a); break;
      case "byHead": x.cases.forEach((c) => visit(c.body)); visit(x.otherwise); break;
    }
  };
  visit(m);
  return worst;
}

/** The case of a `byHead` node that applies to this head. */
export function headCase(m: Extract<MaskExpr, { op: "byHead" }>, head: number): MaskExpr {
  return m.cases.find((c) => c.heads.includes(head))?.body ?? m.otherwise;
}

export function maskPoint(m: MaskExpr, ctx: EvalContext): (p: Point) => boolean {
  switch (m.op) {
    case "bool": { const v = m.value; return () => v; }
    case "cmp": {
      const a = intPoint(m.a, ctx);
      const b = intPoint(m.b, ctx);
      switch (m.cmp) {
        case "<": return (p) => a(p) < b(p);
        case "<=": return (p) => a(p) <= b(p);
        case "==": return (p) => a(p) === b(p);
        case "!=": return (p) => a(p) !== b(p);
      }
      break;
    }
    case "and": { const xs = m.args.map((x) => maskPoint(x, ctx)); return (p) => xs.every((f) => f(p)); }
    case "or": { const xs = m.args.map((x) => maskPoint(x, ctx)); return (p) => xs.some((f) => f(p)); }
    case "not": { const a = maskPoint(m.a, ctx); return (p) => !a(p); }
    case "byHead": return maskPoint(headCase(m, ctx.head), ctx);
    // Looked up at call time: a clause is compiled before its head's selections are made.
    case "selected": { const id = m.selection; return (p) => L.selectedPoint(ctx.selections[id], p.q, p.k); }
    case "sameCluster": { const id = m.route; return (p) => ctx.routes[id].q[p.q] === ctx.routes[id].k[p.k]; }
    case "verticalSlash": { const id = m.vs; return (p) => L.verticalSlashPoint(ctx.vslash[id], p.q, p.k); }
  }
  throw new Error(`internal: unknown mask node ${(m as MaskExpr).op}`);
}

export function maskBox(m: MaskExpr, ctx: EvalContext): (b: L.Box) => number {
  switch (m.op) {
    case "bool": { const v = m.value ? L.T : L.F; return () => v; }
    case "cmp": {
      // Compare through the difference, so that q - k < w sees q - k as one exact range.
      const d = intBox({ op: "sub", a: m.a, b: m.b }, ctx);
      const op = m.cmp;
      return (b) => L.ivCmp(op, d(b));
    }
    case "and": case "or": {
      const xs = m.args.map((x) => maskBox(x, ctx));
      const isAnd = m.op === "and";
      return (b) => L.triJoin(xs.map((f) => f(b)), isAnd);
    }
    case "not": { const a = maskBox(m.a, ctx); return (b) => L.triNot(a(b)); }
    case "byHead": return maskBox(headCase(m, ctx.head), ctx);
    case "selected": { const id = m.selection; return (b) => L.selectedBox(ctx.selections[id], b); }
    case "sameCluster": { const id = m.route; return (b) => L.clusterBox(ctx.routes[id], b); }
    case "verticalSlash": { const id = m.vs; return (b) => L.verticalSlashBox(ctx.vslash[id], b); }
  }
  throw new Error(`internal: unknown mask node ${(m as MaskExpr).op}`);
}

export function maskEval(m: MaskExpr, ctx: EvalContext): L.MaskEval {
  const point = maskPoint(m, ctx);
  const p: Point = { q: 0, k: 0, qb: 0, kb: 0 };
  return {
    box: maskBox(m, ctx),
    point: (q, k) => {
      p.q = q;
      p.k = k;
      return point(p);
    },
  };
}
