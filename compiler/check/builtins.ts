// Builtin functions of the language and calls of other patterns. Each builtin desugars into
// the few IR nodes of compiler/ir.ts, so backends never see the builtin itself.
import type * as A from "../../grammar/ast.js";
import type { IntExpr, KeepRule, MaskExpr } from "../ir.js";
import { bindArgs } from "./args.js";
import { checkExpr, coordinate, err } from "./expr.js";
import { checkPatternBody } from "./pattern.js";
import type { Scope } from "./scope.js";
import { ERROR, intExprOf, maskExprOf, mkAnd, typeName, type CValue } from "./values.js";

type Call = Extract<A.Expr, { kind: "call" }>;

/** Pattern calls expand recursively in the checker; this bounds the depth. */
const MAX_CALL_DEPTH = 32;

export function checkCall(s: Scope, e: Call): CValue {
  switch (e.callee) {
    case "abs": return unaryInt(s, e);
    case "min": case "max": return minMax(s, e);
    case "clamp": return clamp(s, e);
    case "document": return documentOf(s, e);
    case "neighborhood": return neighborhood(s, e);
    case "topk": case "topp": case "random_blocks": return selection(s, e);
    case "same_cluster": return sameCluster(s, e);
    case "vertical_slash": return verticalSlash(s, e);
  }
  const callee = s.state.file.patterns.find((p) => p.name === e.callee);
  if (callee) return callPattern(s, e, callee);
  return err(s, e.calleeLoc, `unknown function '${e.callee}'`);
}

/** The constant integer an argument must be (block sizes, kernels, counts). */
export function constInt(s: Scope, e: A.Expr | undefined, what: string, min: number): number | undefined {
  if (!e) return undefined;
  const v = checkExpr(s, e);
  if (v.t === "error") return undefined;
  if (v.t !== "int") {
    err(s, e.loc, `${what} must be a constant integer, not ${typeName(v)}`);
    return undefined;
  }
  if (v.v < min) {
    err(s, e.loc, `${what} must be at least ${min}, got ${v.v}`);
    return undefined;
  }
  return v.v;
}

function unaryInt(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "x", required: true }], "abs");
  if (!args) return ERROR;
  const v = checkExpr(s, args.get("x")!);
  if (v.t === "int") return { t: "int", v: Math.abs(v.v) };
  if (v.t === "float") return { t: "float", v: Math.abs(v.v) };
  const x = intExprOf(v);
  if (!x) return v.t === "error" ? ERROR : err(s, e.loc, `abs needs an integer or position, not ${typeName(v)}`);
  return { t: "pos", e: { op: "abs", a: x } };
}

function minMax(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "a", required: true }, { name: "b", required: true }], e.callee);
  if (!args) return ERROR;
  return pairMinMax(s, e.callee as "min" | "max", checkExpr(s, args.get("a")!), checkExpr(s, args.get("b")!), e.loc);
}

function pairMinMax(s: Scope, op: "min" | "max", a: CValue, b: CValue, loc: A.Loc): CValue {
  if (a.t === "error" || b.t === "error") return ERROR;
  if ((a.t === "int" || a.t === "float") && (b.t === "int" || b.t === "float")) {
    const v = op === "min" ? Math.min(a.v, b.v) : Math.max(a.v, b.v);
    return a.t === "float" || b.t === "float" ? { t: "float", v } : { t: "int", v };
  }
  const x = intExprOf(a);
  const y = intExprOf(b);
  if (!x || !y) return err(s, loc, `${op} needs integers or positions, not ${typeName(!x ? a : b)}`);
  return { t: "pos", e: { op, a: x, b: y } };
}

function clamp(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "x", required: true }, { name: "lo", required: true }, { name: "hi", required: true }], "clamp");
  if (!args) return ERROR;
  const x = checkExpr(s, args.get("x")!);
  const lo = checkExpr(s, args.get("lo")!);
  const hi = checkExpr(s, args.get("hi")!);
  return pairMinMax(s, "min", pairMinMax(s, "max", x, lo, e.loc), hi, e.loc);
}

/** document(i, lengths): index of the document holding position i (packed sequences). */
function documentOf(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "i", required: true }, { name: "lengths", required: true }], "document");
  if (!args) return ERROR;
  const i = checkExpr(s, args.get("i")!);
  const lengths = checkExpr(s, args.get("lengths")!);
  if (i.t === "error" || lengths.t === "error") return ERROR;
  const x = intExprOf(i);
  if (!x) return err(s, args.get("i")!.loc, `document's first argument is a position, not ${typeName(i)}`);
  if (lengths.t !== "list") return err(s, args.get("lengths")!.loc, `document's lengths must be a list of integers, not ${typeName(lengths)}`);
  if (lengths.v.some((l) => l < 0)) return err(s, args.get("lengths")!.loc, "document lengths must not be negative");
  const ends: number[] = [];
  let acc = 0;
  for (const l of lengths.v) ends.push((acc += l));
  return { t: "pos", e: { op: "segment", ends, a: x } };
}

/** A per-axis argument: one value for every axis, or a list with one value per axis. */
function perAxis(s: Scope, e: A.Expr | undefined, axes: number, what: string, fallback: number, min: number): number[] | undefined {
  if (!e) return new Array(axes).fill(fallback);
  const v = checkExpr(s, e);
  if (v.t === "error") return undefined;
  const list = v.t === "int" ? new Array(axes).fill(v.v) : v.t === "bool" ? new Array(axes).fill(v.v ? 1 : 0) : v.t === "list" ? v.v : undefined;
  if (!list) {
    err(s, e.loc, `${what} must be a constant or a list with one value per axis, not ${typeName(v)}`);
    return undefined;
  }
  if (list.length !== axes) {
    err(s, e.loc, `${what} has ${list.length} values but the layout has ${axes} axes`);
    return undefined;
  }
  const low = list.find((x) => x < min);
  if (low !== undefined) {
    err(s, e.loc, `${what} must be at least ${min}, got ${low}`);
    return undefined;
  }
  return list;
}

/**
 * neighborhood(kernel, dilation = 1, causal = false): NATTEN neighbourhood attention over
 * the layout's axes (or over the sequence when there is no layout). A key is a neighbour
 * when, on every axis, it shares the query's residue mod dilation and lies in the query's
 * window (see natStart in compiler/blockmask/lib.ts).
 */
function neighborhood(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "kernel", required: true }, { name: "dilation" }, { name: "causal" }], "neighborhood");
  if (!args) return ERROR;
  const layout = s.state.layout;
  const sizes: (number | null)[] = layout ? layout.map((a) => a.size) : [null];
  const kernel = perAxis(s, args.get("kernel"), sizes.length, "kernel", 1, 1);
  const dilation = perAxis(s, args.get("dilation"), sizes.length, "dilation", 1, 1);
  const causal = perAxis(s, args.get("causal"), sizes.length, "causal", 0, 0);
  if (!kernel || !dilation || !causal) return ERROR;
  const parts: MaskExpr[] = [];
  for (let ax = 0; ax < sizes.length; ax++) {
    const length = sizes[ax];
    const K = kernel[ax];
    const d = dilation[ax];
    if (length !== null && Math.floor(length / d) < K) {
      return err(s, e.loc, `axis '${layout![ax].name}' of size ${length} is too short for kernel ${K} with dilation ${d} (each of the ${d} sub-grids needs ${K} members)`);
    }
    const qc: IntExpr = layout ? coordinate({ op: "var", name: "q" }, sizes as number[], ax) : { op: "var", name: "q" };
    const kc: IntExpr = layout ? coordinate({ op: "var", name: "k" }, sizes as number[], ax) : { op: "var", name: "k" };
    const start: IntExpr = { op: "natStart", a: qc, length: length ?? -1, kernel: K, dilation: d, causal: causal[ax] !== 0 };
    parts.push({ op: "cmp", cmp: "<=", a: start, b: kc });
    if (causal[ax]) parts.push({ op: "cmp", cmp: "<=", a: kc, b: qc });
    else parts.push({ op: "cmp", cmp: "<=", a: kc, b: { op: "add", a: start, b: { op: "const", value: (K - 1) * d } } });
    if (d > 1) parts.push({ op: "cmp", cmp: "==", a: { op: "mod", a: { op: "sub", a: kc, b: qc }, b: d }, b: { op: "const", value: 0 } });
  }
  return { t: "mask", e: mkAnd(parts, true) };
}

function clauseMask(s: Scope, e: A.Expr | undefined, fallback: boolean, what: string): MaskExpr | undefined {
  if (!e) return { op: "bool", value: fallback };
  const v = checkExpr(s.clause(), e);
  if (v.t === "error") return undefined;
  const m = maskExprOf(v);
  if (!m) {
    err(s, e.loc, `'${what}' must be a condition on the block indices qb and kb, not ${typeName(v)}`);
    return undefined;
  }
  return m;
}

function selectionsUsed(m: MaskExpr, out: Set<number>): Set<number> {
  switch (m.op) {
    case "selected": out.add(m.selection); break;
    case "and": case "or": m.args.forEach((a) => selectionsUsed(a, out)); break;
    case "not": selectionsUsed(m.a, out); break;
    case "byHead": m.cases.forEach((c) => selectionsUsed(c.body, out)); selectionsUsed(m.otherwise, out); break;
  }
  return out;
}

function usesRoute(m: MaskExpr): boolean {
  switch (m.op) {
    case "sameCluster": return true;
    case "and": case "or": return m.args.some(usesRoute);
    case "not": return usesRoute(m.a);
    case "byHead": return m.cases.some((c) => usesRoute(c.body)) || usesRoute(m.otherwise);
    default: return false;
  }
}

/**
 * topk(count, block | qblock + kblock, among: cond, always: cond) and topp(mass, ...):
 * data-dependent block selection from mean-pooled query and key blocks (see `Selection`).
 * random_blocks(count, ..., seed: S) ranks by a seeded hash instead (BigBird): no data.
 */
function selection(s: Scope, e: Call): CValue {
  const isTopk = e.callee !== "topp";
  const isRandom = e.callee === "random_blocks";
  const first = isTopk ? "count" : "mass";
  const specs = [{ name: first, required: true }, { name: "block" }, { name: "qblock" }, { name: "kblock" }, { name: "among" }, { name: "always" }];
  const args = bindArgs(s, e, isRandom ? [...specs, { name: "seed" }] : specs, e.callee);
  if (!args) return ERROR;
  const seed = isRandom ? (args.has("seed") ? constInt(s, args.get("seed"), "the seed", 0) : 0) : undefined;
  if (isRandom && seed === undefined) return ERROR;
  let rule: KeepRule | undefined;
  if (isTopk) {
    const count = constInt(s, args.get("count"), "the count", 0);
    if (count !== undefined) rule = { kind: "topk", count };
  } else {
    const v = checkExpr(s, args.get("mass")!);
    if (v.t === "int" || v.t === "float") {
      if (v.v > 0 && v.v <= 1) rule = { kind: "topp", mass: v.v };
      else err(s, args.get("mass")!.loc, `the mass must be in (0, 1], got ${v.v}`);
    } else if (v.t !== "error") err(s, args.get("mass")!.loc, `the mass must be a number in (0, 1], not ${typeName(v)}`);
  }
  const block = constInt(s, args.get("block"), "the block size", 1);
  const qblock = args.has("qblock") ? constInt(s, args.get("qblock"), "qblock", 1) : block;
  const kblock = args.has("kblock") ? constInt(s, args.get("kblock"), "kblock", 1) : block;
  if (!args.has("block") && (!args.has("qblock") || !args.has("kblock"))) {
    return err(s, e.calleeLoc, `${e.callee} needs a block size: block: B, or both qblock: and kblock:`);
  }
  const among = clauseMask(s, args.get("among"), true, "among");
  const always = clauseMask(s, args.get("always"), false, "always");
  if (!rule || qblock === undefined || kblock === undefined || !among || !always) return ERROR;
  for (const [m, label] of [[among, "among"], [always, "always"]] as const) {
    if (usesRoute(m)) return err(s, args.get(label)!.loc, `'${label}' cannot use same_cluster: clauses see blocks, not tokens`);
    for (const id of selectionsUsed(m, new Set())) {
      const parent = s.state.selections[id];
      if (parent.qblock % qblock !== 0 || parent.kblock % kblock !== 0) {
        return err(s, args.get(label)!.loc, `'${parent.name}' has blocks of ${parent.qblock}x${parent.kblock} tokens, which are not made of this selection's ${qblock}x${kblock} blocks`);
      }
    }
  }
  const id = s.state.selections.length;
  s.state.selections.push({ id, name: `${e.callee}${id}`, qblock, kblock, rule, ...(seed !== undefined ? { seed } : {}), among, always });
  return { t: "selection", id };
}

function sameCluster(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "clusters", required: true }, { name: "iterations" }], "same_cluster");
  if (!args) return ERROR;
  const clusters = constInt(s, args.get("clusters"), "clusters", 1);
  const iterations = args.has("iterations") ? constInt(s, args.get("iterations"), "iterations", 0) : 2;
  if (clusters === undefined || iterations === undefined) return ERROR;
  if (s.inClause) return err(s, e.loc, "same_cluster cannot be used inside a selection clause");
  const id = s.state.routes.length;
  s.state.routes.push({ id, clusters, iterations });
  return { t: "mask", e: { op: "sameCluster", route: id } };
}

/** vertical_slash(verticals, slashes, last: 64, first: 0, recent: 0): MInference's estimate. */
function verticalSlash(s: Scope, e: Call): CValue {
  const args = bindArgs(s, e, [{ name: "verticals", required: true }, { name: "slashes", required: true }, { name: "last" }, { name: "first" }, { name: "recent" }], "vertical_slash");
  if (!args) return ERROR;
  const verticals = constInt(s, args.get("verticals"), "verticals", 0);
  const slashes = constInt(s, args.get("slashes"), "slashes", 0);
  const last = args.has("last") ? constInt(s, args.get("last"), "last", 1) : 64;
  const first = args.has("first") ? constInt(s, args.get("first"), "first", 0) : 0;
  const recent = args.has("recent") ? constInt(s, args.get("recent"), "recent", 0) : 0;
  if (verticals === undefined || slashes === undefined || last === undefined || first === undefined || recent === undefined) return ERROR;
  if (s.inClause) return err(s, e.loc, "vertical_slash cannot be used inside a selection clause");
  const id = s.state.verticalSlashes.length;
  s.state.verticalSlashes.push({ id, verticals, slashes, last, first, recent });
  return { t: "mask", e: { op: "verticalSlash", vs: id } };
}

/** Another pattern of the same file, used as a mask with its parameters bound here. */
function callPattern(s: Scope, e: Call, callee: A.PatternDecl): CValue {
  if (s.state.expanding.length >= MAX_CALL_DEPTH) {
    return err(s, e.calleeLoc, `patterns call each other more than ${MAX_CALL_DEPTH} levels deep`);
  }
  if (s.state.expanding.includes(callee.name)) {
    return err(s, e.calleeLoc, `pattern '${callee.name}' calls itself (through ${[...s.state.expanding, callee.name].join(" -> ")})`);
  }
  const args = bindArgs(s, e, callee.params.map((p) => ({ name: p.name, required: p.default === undefined })), `pattern '${callee.name}'`);
  if (!args) return ERROR;
  const values = new Map<string, CValue>();
  for (const [name, expr] of args) values.set(name, checkExpr(s, expr));
  if ([...values.values()].some((v) => v.t === "error")) return ERROR;
  const mask = checkPatternBody(s.state, callee, values);
  return mask ?? ERROR;
}

