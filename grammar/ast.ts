// The abstract syntax tree: what the user wrote, with positions, before any meaning is checked.

/** A source span. Lines and columns are 1-based; offsets are 0-based, `end` exclusive. */
export interface Loc {
  line: number;
  col: number;
  offset: number;
  end: number;
}

export type CompareOp = "<" | "<=" | ">" | ">=" | "==" | "!=";
export type BinaryOp = "+" | "-" | "*" | "/" | "%" | "and" | "or" | "except";

export type Expr =
  | { kind: "int"; value: number; loc: Loc }
  | { kind: "float"; value: number; loc: Loc }
  | { kind: "bool"; value: boolean; loc: Loc }
  | { kind: "name"; name: string; loc: Loc }
  | { kind: "member"; object: Expr; name: string; loc: Loc }
  | { kind: "call"; callee: string; calleeLoc: Loc; args: Arg[]; loc: Loc }
  | { kind: "unary"; op: "-" | "not"; operand: Expr; loc: Loc }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr; loc: Loc }
  /** `a < b <= c` keeps its chain: it means `a < b and b <= c`, with `b` written once. */
  | { kind: "compare"; ops: CompareOp[]; operands: Expr[]; loc: Loc }
  | { kind: "list"; items: Expr[]; loc: Loc }
  | { kind: "match"; subject: Expr; cases: MatchCase[]; loc: Loc }
  /** What the parser skipped while recovering from a syntax error; never checked further. */
  | { kind: "error"; loc: Loc };

export interface Arg {
  name?: string;
  nameLoc?: Loc;
  value: Expr;
  loc: Loc;
}

export interface CaseLabel {
  from: Expr;
  /** Inclusive upper end of a range label `a..b`. */
  to?: Expr;
  loc: Loc;
}

export interface MatchCase {
  labels: CaseLabel[];
  body: Expr;
  loc: Loc;
}

export type Stmt =
  | { kind: "let"; name: string; nameLoc: Loc; value: Expr; loc: Loc }
  | { kind: "layout"; args: Arg[]; loc: Loc }
  | { kind: "heads"; value: Expr; loc: Loc }
  | { kind: "tile"; args: Arg[]; loc: Loc }
  | { kind: "mask"; value: Expr; loc: Loc };

export interface TypeRef {
  name: string;
  list: boolean;
  loc: Loc;
}

export interface Param {
  name: string;
  type?: TypeRef;
  default?: Expr;
  loc: Loc;
}

export interface PatternDecl {
  name: string;
  nameLoc: Loc;
  params: Param[];
  body: Stmt[];
  loc: Loc;
}

export interface SourceFile {
  fileName: string;
  source: string;
  patterns: PatternDecl[];
}
