// Binds call arguments (positional first, then named) to a builtin's or pattern's parameters.
import type * as A from "../../grammar/ast.js";
import type { Scope } from "./scope.js";

export interface ArgSpec {
  name: string;
  required?: boolean;
}

/** Returns the AST of each bound argument by name, or undefined after reporting errors. */
export function bindArgs(s: Scope, call: Extract<A.Expr, { kind: "call" }>, specs: ArgSpec[], what: string): Map<string, A.Expr> | undefined {
  const bound = new Map<string, A.Expr>();
  let ok = true;
  let positional = 0;
  let sawNamed = false;
  for (const arg of call.args) {
    if (arg.name === undefined) {
      if (sawNamed) {
        s.state.diags.error(arg.loc, "positional arguments must come before named ones");
        ok = false;
        continue;
      }
      const spec = specs[positional++];
      if (!spec) {
        s.state.diags.error(arg.loc, `${what} takes at most ${specs.length} argument${specs.length === 1 ? "" : "s"}`);
        ok = false;
        continue;
      }
      bound.set(spec.name, arg.value);
      continue;
    }
    sawNamed = true;
    const spec = specs.find((p) => p.name === arg.name);
    if (!spec) {
      s.state.diags.error(arg.nameLoc ?? arg.loc, `${what} has no parameter '${arg.name}' (it has: ${specs.map((p) => p.name).join(", ") || "none"})`);
      ok = false;
      continue;
    }
    if (bound.has(spec.name)) {
      s.state.diags.error(arg.nameLoc ?? arg.loc, `'${arg.name}' is given twice`);
      ok = false;
      continue;
    }
    bound.set(spec.name, arg.value);
  }
  for (const spec of specs) {
    if (spec.required && !bound.has(spec.name)) {
      s.state.diags.error(call.calleeLoc, `${what} needs '${spec.name}'`);
      ok = false;
    }
  }
  return ok ? bound : undefined;
}
