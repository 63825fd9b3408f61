// Turns Chevrotain's concrete syntax tree into the AST of `ast.ts`.
// After error recovery a CST node may lack children; such holes become `error` expressions
// so that later phases can skip them without crashing.
import type { CstElement, CstNode, IToken } from "chevrotain";
import type * as A from "./ast.js";

type Children = Record<string, CstElement[] | undefined>;

function isToken(e: CstElement): e is IToken {
  return (e as IToken).image !== undefined;
}

export function tokenLoc(t: IToken): A.Loc {
  return {
    line: t.startLine ?? 1,
    col: t.startColumn ?? 1,
    offset: t.startOffset,
    end: (t.endOffset ?? t.startOffset) + 1,
  };
}

function nodeLoc(n: CstNode): A.Loc {
  const l = n.location;
  if (!l || !Number.isFinite(l.startOffset)) return firstTokenLoc(n) ?? { line: 1, col: 1, offset: 0, end: 0 };
  return {
    line: Number.isFinite(l.startLine) ? (l.startLine as number) : 1,
    col: Number.isFinite(l.startColumn) ? (l.startColumn as number) : 1,
    offset: l.startOffset,
    end: Number.isFinite(l.endOffset) ? (l.endOffset as number) + 1 : l.startOffset + 1,
  };
}

function firstTokenLoc(n: CstNode): A.Loc | undefined {
  for (const list of Object.values(n.children)) {
    for (const e of list ?? []) {
      if (isToken(e)) {
        if (!e.isInsertedInRecovery) return tokenLoc(e);
      } else {
        const inner = firstTokenLoc(e);
        if (inner) return inner;
      }
    }
  }
  return undefined;
}

function nodes(c: Children, key: string): CstNode[] {
  return (c[key] ?? []).filter((e): e is CstNode => !isToken(e));
}

function tokens(c: Children, key: string): IToken[] {
  return (c[key] ?? []).filter(isToken).filter((t) => !t.isInsertedInRecovery);
}

/** All tokens of the given kinds in source order (for operator chains). */
function orderedTokens(c: Children, keys: string[]): IToken[] {
  return keys.flatMap((k) => tokens(c, k)).sort((a, b) => a.startOffset - b.startOffset);
}

function span(a: A.Loc, b: A.Loc): A.Loc {
  return { line: a.line, col: a.col, offset: a.offset, end: Math.max(a.end, b.end) };
}

export function buildFile(cst: CstNode, fileName: string, source: string): A.SourceFile {
  return { fileName, source, patterns: nodes(cst.children, "patternDecl").map(buildPattern) };
}

function buildPattern(n: CstNode): A.PatternDecl {
  const c = n.children;
  const name = tokens(c, "Identifier")[0];
  return {
    name: name?.image ?? "<missing>",
    nameLoc: name ? tokenLoc(name) : nodeLoc(n),
    params: nodes(c, "param").map(buildParam),
    body: nodes(c, "statement").flatMap(buildStatement),
    loc: nodeLoc(n),
  };
}

function buildParam(n: CstNode): A.Param {
  const c = n.children;
  const name = tokens(c, "Identifier")[0];
  const typeNode = nodes(c, "typeRef")[0];
  let type: A.TypeRef | undefined;
  if (typeNode) {
    const t = tokens(typeNode.children, "Identifier")[0];
    type = { name: t?.image ?? "<missing>", list: tokens(typeNode.children, "LBracket").length > 0, loc: nodeLoc(typeNode) };
  }
  const def = nodes(c, "expression")[0];
  return { name: name?.image ?? "<missing>", type, default: def ? buildExpr(def) : undefined, loc: name ? tokenLoc(name) : nodeLoc(n) };
}

function buildStatement(n: CstNode): A.Stmt[] {
  const c = n.children;
  const loc = nodeLoc(n);
  const letN = nodes(c, "letStmt")[0];
  if (letN) {
    const name = tokens(letN.children, "Identifier")[0];
    return [{ kind: "let", name: name?.image ?? "<missing>", nameLoc: name ? tokenLoc(name) : loc, value: exprOf(letN.children, loc), loc }];
  }
  const layoutN = nodes(c, "layoutStmt")[0];
  if (layoutN) return [{ kind: "layout", args: argsOf(layoutN.children), loc }];
  const headsN = nodes(c, "headsStmt")[0];
  if (headsN) return [{ kind: "heads", value: exprOf(headsN.children, loc), loc }];
  const tileN = nodes(c, "tileStmt")[0];
  if (tileN) return [{ kind: "tile", args: argsOf(tileN.children), loc }];
  const maskN = nodes(c, "maskStmt")[0];
  if (maskN) return [{ kind: "mask", value: exprOf(maskN.children, loc), loc }];
  return [];
}

function exprOf(c: Children, fallback: A.Loc): A.Expr {
  const e = nodes(c, "expression")[0];
  return e ? buildExpr(e) : { kind: "error", loc: fallback };
}

function argsOf(c: Children): A.Arg[] {
  const list = nodes(c, "argList")[0];
  if (!list) return [];
  return nodes(list.children, "arg").map((a) => {
    const name = tokens(a.children, "Identifier")[0];
    const value = exprOf(a.children, nodeLoc(a));
    return { name: name?.image, nameLoc: name ? tokenLoc(name) : undefined, value, loc: nodeLoc(a) };
  });
}

/** Left-associative chain: `sub (op sub)*`. */
function chain(n: CstNode, sub: string, opKeys: string[], build: (n: CstNode) => A.Expr, opName: (t: IToken) => A.BinaryOp): A.Expr {
  const parts = nodes(n.children, sub).map(build);
  if (parts.length === 0) return { kind: "error", loc: nodeLoc(n) };
  const ops = orderedTokens(n.children, opKeys);
  let acc = parts[0];
  for (let i = 1; i < parts.length; i++) {
    const op = ops[i - 1];
    acc = { kind: "binary", op: op ? opName(op) : "+", left: acc, right: parts[i], loc: span(acc.loc, parts[i].loc) };
  }
  return acc;
}

export function buildExpr(n: CstNode): A.Expr {
  return chain(n, "orExpr", ["Except"], buildOr, () => "except");
}

function buildOr(n: CstNode): A.Expr {
  return chain(n, "andExpr", ["Or"], buildAnd, () => "or");
}

function buildAnd(n: CstNode): A.Expr {
  return chain(n, "notExpr", ["And"], buildNot, () => "and");
}

function buildNot(n: CstNode): A.Expr {
  const c = n.children;
  const inner = nodes(c, "notExpr")[0];
  const notTok = tokens(c, "Not")[0];
  if (inner && notTok) return { kind: "unary", op: "not", operand: buildNot(inner), loc: nodeLoc(n) };
  const cmp = nodes(c, "comparison")[0];
  return cmp ? buildComparison(cmp) : { kind: "error", loc: nodeLoc(n) };
}

const CMP_KEYS = ["LessEq", "GreaterEq", "EqEq", "NotEq", "Less", "Greater"];

function buildComparison(n: CstNode): A.Expr {
  const operands = nodes(n.children, "additive").map(buildAdditive);
  if (operands.length === 0) return { kind: "error", loc: nodeLoc(n) };
  if (operands.length === 1) return operands[0];
  const ops = orderedTokens(n.children, CMP_KEYS).map((t) => t.image as A.CompareOp);
  if (ops.length !== operands.length - 1) return { kind: "error", loc: nodeLoc(n) };
  return { kind: "compare", ops, operands, loc: nodeLoc(n) };
}

export function buildAdditive(n: CstNode): A.Expr {
  return chain(n, "multiplicative", ["Plus", "Minus"], buildMultiplicative, (t) => t.image as A.BinaryOp);
}

function buildMultiplicative(n: CstNode): A.Expr {
  return chain(n, "unary", ["Star", "Slash", "Percent"], buildUnary, (t) => t.image as A.BinaryOp);
}

function buildUnary(n: CstNode): A.Expr {
  const c = n.children;
  const inner = nodes(c, "unary")[0];
  if (inner) return { kind: "unary", op: "-", operand: buildUnary(inner), loc: nodeLoc(n) };
  const post = nodes(c, "postfix")[0];
  return post ? buildPostfix(post) : { kind: "error", loc: nodeLoc(n) };
}

function buildPostfix(n: CstNode): A.Expr {
  const prim = nodes(n.children, "primary")[0];
  let acc: A.Expr = prim ? buildPrimary(prim) : { kind: "error", loc: nodeLoc(n) };
  for (const t of tokens(n.children, "Identifier")) {
    acc = { kind: "member", object: acc, name: t.image, loc: span(acc.loc, tokenLoc(t)) };
  }
  return acc;
}

function buildPrimary(n: CstNode): A.Expr {
  const c = n.children;
  const loc = nodeLoc(n);
  const int = tokens(c, "Integer")[0];
  if (int) return { kind: "int", value: Number(int.image), loc };
  const float = tokens(c, "Float")[0];
  if (float) return { kind: "float", value: Number(float.image), loc };
  if (tokens(c, "True")[0]) return { kind: "bool", value: true, loc };
  if (tokens(c, "False")[0]) return { kind: "bool", value: false, loc };
  const call = nodes(c, "callOrName")[0];
  if (call) return buildCallOrName(call);
  const paren = nodes(c, "parenExpr")[0];
  if (paren) return exprOf(paren.children, loc);
  const list = nodes(c, "listExpr")[0];
  if (list) return { kind: "list", items: nodes(list.children, "expression").map(buildExpr), loc };
  const match = nodes(c, "matchExpr")[0];
  if (match) return buildMatch(match);
  return { kind: "error", loc };
}

function buildCallOrName(n: CstNode): A.Expr {
  const c = n.children;
  const id = tokens(c, "Identifier")[0];
  const loc = nodeLoc(n);
  if (!id) return { kind: "error", loc };
  if ((c["LParen"] ?? []).length === 0) return { kind: "name", name: id.image, loc: tokenLoc(id) };
  return { kind: "call", callee: id.image, calleeLoc: tokenLoc(id), args: argsOf(c), loc };
}

function buildMatch(n: CstNode): A.Expr {
  const c = n.children;
  const subj = nodes(c, "additive")[0];
  const cases = nodes(c, "matchCase").map((mc): A.MatchCase => {
    const labels = nodes(mc.children, "caseLabel").map((l): A.CaseLabel => {
      const parts = nodes(l.children, "additive").map(buildAdditive);
      return { from: parts[0] ?? { kind: "error", loc: nodeLoc(l) }, to: parts[1], loc: nodeLoc(l) };
    });
    return { labels, body: exprOf(mc.children, nodeLoc(mc)), loc: nodeLoc(mc) };
  });
  return { kind: "match", subject: subj ? buildAdditive(subj) : { kind: "error", loc: nodeLoc(n) }, cases, loc: nodeLoc(n) };
}
