// The state of checking one pattern: its bindings, the selections and routes it created,
// the layout, and where diagnostics go.
import type { Loc, PatternDecl, SourceFile } from "../../grammar/ast.js";
import type { DiagnosticBag } from "../diagnostics.js";
import type { LayoutAxis, Route, Selection, TileHint, Value, VerticalSlash } from "../ir.js";
import type { CValue } from "./values.js";

export interface PatternState {
  file: SourceFile;
  diags: DiagnosticBag;
  selections: Selection[];
  routes: Route[];
  verticalSlashes: VerticalSlash[];
  layout?: LayoutAxis[];
  layoutLoc?: Loc;
  heads?: number;
  tile: TileHint;
  /** Patterns being expanded, innermost last: a call back into one of them is recursion. */
  expanding: string[];
}

export class Scope {
  private readonly names = new Map<string, CValue>();
  constructor(
    readonly state: PatternState,
    readonly decl: PatternDecl,
    /** Inside a selection's `among`/`always`: qb and kb are defined there. */
    readonly inClause = false,
    private readonly parent?: Scope,
  ) {}

  lookup(name: string): CValue | undefined {
    return this.names.get(name) ?? this.parent?.lookup(name);
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  define(name: string, v: CValue): void {
    this.names.set(name, v);
  }

  clause(): Scope {
    return new Scope(this.state, this.decl, true, this);
  }
}

export function valueToC(v: Value): CValue {
  if (Array.isArray(v)) return { t: "list", v };
  if (typeof v === "boolean") return { t: "bool", v };
  return Number.isInteger(v) ? { t: "int", v } : { t: "float", v };
}
