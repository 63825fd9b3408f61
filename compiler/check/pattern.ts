// Checks a pattern declaration: parameters (defaults, types, overrides), statements, and the
// one `mask` that gives the pattern its meaning. Produces the PatternIR backends consume.
import type * as A from "../../grammar/ast.js";
import { DiagnosticBag, type Diagnostic } from "../diagnostics.js";
import type { PatternIR, Value } from "../ir.js";
import { constInt } from "./builtins.js";
import { bindArgs } from "./args.js";
import { checkExpr, err, INT_LIMIT } from "./expr.js";
import { Scope, valueToC, type PatternState } from "./scope.js";
import { maskExprOf, typeName, type CValue } from "./values.js";

export type Overrides = Record<string, string | Value>;

const TYPES = ["int", "float", "bool"];

/** Parses a `--set name=value` text as the parameter's type, with the literals' limits. */
export function parseOverride(text: string, type: string): CValue | string {
  const v = parseOverrideText(text, type);
  if (typeof v === "string") return v;
  const ints = v.t === "int" ? [v.v] : v.t === "list" ? v.v : [];
  const big = ints.find((x) => Math.abs(x) >= INT_LIMIT);
  if (big !== undefined) return `integer ${big} is too large (limit ${INT_LIMIT - 1})`;
  return v;
}

function parseOverrideText(text: string, type: string): CValue | string {
  const t = text.trim();
  if (type === "int[]") {
    const inner = t.replace(/^\[/, "").replace(/\]$/, "").trim();
    const items = inner === "" ? [] : inner.split(",").map((x) => x.trim());
    if (items.some((x) => !/^-?\d+$/.test(x))) return `expected a list of integers like [1, 2, 3], got '${text}'`;
    return { t: "list", v: items.map(Number) };
  }
  if (type === "bool") {
    if (t === "true" || t === "false") return { t: "bool", v: t === "true" };
    return `expected true or false, got '${text}'`;
  }
  if (type === "int") {
    if (!/^-?\d+$/.test(t)) return `expected an integer, got '${text}'`;
    return { t: "int", v: Number(t) };
  }
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return `expected a number, got '${text}'`;
  return { t: "float", v: Number(t) };
}

function typeOfValue(v: CValue): string | undefined {
  switch (v.t) {
    case "int": return "int";
    case "float": return "float";
    case "bool": return "bool";
    case "list": return "int[]";
    default: return undefined;
  }
}

function conforms(v: CValue, type: string): CValue | undefined {
  const actual = typeOfValue(v);
  if (actual === type) return v;
  if (type === "float" && v.t === "int") return { t: "float", v: v.v };
  return undefined;
}

/** Binds every parameter of `decl` in a new scope: given values, else defaults. */
function bindParams(state: PatternState, decl: A.PatternDecl, given: Map<string, CValue>, givenLoc: A.Loc): Scope | undefined {
  const scope = new Scope(state, decl);
  let ok = true;
  const seen = new Set<string>();
  for (const p of decl.params) {
    if (seen.has(p.name)) {
      state.diags.error(p.loc, `parameter '${p.name}' is declared twice`);
      ok = false;
      continue;
    }
    seen.add(p.name);
    let declared: string | undefined;
    if (p.type) {
      declared = p.type.name + (p.type.list ? "[]" : "");
      if (!TYPES.includes(p.type.name) || (p.type.list && p.type.name !== "int")) {
        state.diags.error(p.type.loc, `unknown type '${declared}' (types: int, float, bool, int[])`);
        ok = false;
        continue;
      }
    }
    let v = given.get(p.name);
    if (v === undefined) {
      if (!p.default) {
        state.diags.error(p.loc, `parameter '${p.name}' has no default: give it a value (--set ${p.name}=...)`);
        ok = false;
        continue;
      }
      v = checkExpr(scope, p.default);
      if (v.t === "error") {
        ok = false;
        continue;
      }
    }
    const type = declared ?? typeOfValue(v);
    const fitted = type ? conforms(v, type) : undefined;
    if (!type || !fitted) {
      state.diags.error(given.has(p.name) ? givenLoc : p.default?.loc ?? p.loc, `parameter '${p.name}' ${type ? `is ${type}` : "must be a constant"}, but got ${typeName(v)}`);
      ok = false;
      continue;
    }
    scope.define(p.name, fitted);
  }
  return ok ? scope : undefined;
}

function bodyStatements(scope: Scope, decl: A.PatternDecl, topLevel: boolean): CValue | undefined {
  const state = scope.state;
  let mask: CValue | undefined;
  let maskLoc: A.Loc | undefined;
  for (const st of decl.body) {
    switch (st.kind) {
      case "let": {
        if (scope.has(st.name)) {
          err(scope, st.nameLoc, `'${st.name}' is already defined in this pattern`);
          break;
        }
        const v = checkExpr(scope, st.value);
        if (v.t === "selection") state.selections[v.id].name = st.name;
        scope.define(st.name, v);
        break;
      }
      case "layout": {
        const axes: { name: string; size: number }[] = [];
        for (const a of st.args) {
          if (!a.name) {
            err(scope, a.loc, "a layout axis needs a name: layout(y: 32, x: 32)");
            continue;
          }
          if (axes.some((x) => x.name === a.name)) {
            err(scope, a.nameLoc ?? a.loc, `axis '${a.name}' is declared twice`);
            continue;
          }
          const size = constInt(scope, a.value, `the size of axis '${a.name}'`, 1);
          if (size !== undefined) axes.push({ name: a.name, size });
        }
        if (axes.length !== st.args.length) break;
        if (state.layout) {
          const same = state.layout.length === axes.length && state.layout.every((x, i) => x.name === axes[i].name && x.size === axes[i].size);
          if (!same) err(scope, st.loc, topLevel ? "a pattern has at most one layout" : `pattern '${decl.name}' declares a layout different from its caller's`);
          break;
        }
        state.layout = axes;
        state.layoutLoc = st.loc;
        break;
      }
      case "heads": {
        const h = constInt(scope, st.value, "the head count", 1);
        if (h !== undefined && topLevel) state.heads = h;
        break;
      }
      case "tile": {
        const args = bindArgs(scope, { kind: "call", callee: "tile", calleeLoc: st.loc, args: st.args, loc: st.loc }, [{ name: "q" }, { name: "k" }], "tile");
        if (!args) break;
        const q = constInt(scope, args.get("q"), "the query tile", 1);
        const k = constInt(scope, args.get("k"), "the key tile", 1);
        if (topLevel) state.tile = { ...(q !== undefined ? { q } : {}), ...(k !== undefined ? { k } : {}) };
        break;
      }
      case "mask": {
        if (mask !== undefined || maskLoc) {
          err(scope, st.loc, `pattern '${decl.name}' already has a mask (line ${maskLoc!.line}); combine conditions with and/or`);
          break;
        }
        maskLoc = st.loc;
        const v = checkExpr(scope, st.value);
        if (v.t === "error") break;
        if (!maskExprOf(v)) {
          err(scope, st.value.loc, `a mask must be a condition, not ${typeName(v)}`);
          break;
        }
        mask = v;
        break;
      }
    }
  }
  if (!maskLoc) err(scope, decl.nameLoc, `pattern '${decl.name}' has no mask statement`);
  return mask;
}

/** Expands a called pattern inside its caller's state; returns its mask. */
export function checkPatternBody(state: PatternState, decl: A.PatternDecl, given: Map<string, CValue>): CValue | undefined {
  state.expanding.push(decl.name);
  try {
    const scope = bindParams(state, decl, given, decl.loc);
    return scope ? bodyStatements(scope, decl, false) : undefined;
  } finally {
    state.expanding.pop();
  }
}

function toValue(v: CValue): Value {
  if (v.t === "int" || v.t === "float") return v.v;
  if (v.t === "bool") return v.v;
  if (v.t === "list") return v.v;
  throw new Error("internal: non-constant parameter");
}

export interface CheckResult {
  ir?: PatternIR;
  diagnostics: Diagnostic[];
}

/** Checks one pattern with parameter overrides; `ir` is present when there is no error. */
export function checkPattern(file: A.SourceFile, decl: A.PatternDecl, overrides: Overrides = {}): CheckResult {
  const diags = new DiagnosticBag(file.fileName);
  const state: PatternState = { file, diags, selections: [], routes: [], verticalSlashes: [], tile: {}, expanding: [decl.name] };
  const given = new Map<string, CValue>();
  for (const [name, raw] of Object.entries(overrides)) {
    const param = decl.params.find((p) => p.name === name);
    if (!param) {
      diags.error(decl.nameLoc, `pattern '${decl.name}' has no parameter '${name}' (it has: ${decl.params.map((p) => p.name).join(", ") || "none"})`);
      continue;
    }
    if (typeof raw !== "string") {
      given.set(name, valueToC(raw));
      continue;
    }
    const type = param.type ? param.type.name + (param.type.list ? "[]" : "") : inferType(param);
    const parsed = parseOverride(raw, type);
    if (typeof parsed === "string") diags.error(param.loc, `bad value for '${name}': ${parsed}`);
    else given.set(name, parsed);
  }
  const scope = diags.hasErrors ? undefined : bindParams(state, decl, given, decl.nameLoc);
  const mask = scope ? bodyStatements(scope, decl, true) : undefined;
  if (diags.hasErrors || !scope || !mask) return { diagnostics: diags.items };
  const params: Record<string, Value> = {};
  for (const p of decl.params) params[p.name] = toValue(scope.lookup(p.name)!);
  const ir: PatternIR = {
    name: decl.name,
    params,
    ...(state.heads !== undefined ? { heads: state.heads } : {}),
    ...(state.layout ? { layout: state.layout } : {}),
    tile: state.tile,
    mask: maskExprOf(mask)!,
    selections: state.selections,
    routes: state.routes,
    verticalSlashes: state.verticalSlashes,
  };
  return { ir, diagnostics: diags.items };
}

/** A parameter without a written type takes its default's type (an int if it looks like one). */
function inferType(p: A.Param): string {
  const d = p.default;
  if (!d) return "int";
  if (d.kind === "float") return "float";
  if (d.kind === "bool") return "bool";
  if (d.kind === "list") return "int[]";
  return "int";
}

