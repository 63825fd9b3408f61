// Phase entry points: text -> AST (parse), AST -> checked PatternIR (check / compile).
import type { SourceFile } from "../grammar/ast.js";
import { parseSource } from "../grammar/parse.js";
import { NO_LOC, SpattnError, type Diagnostic } from "./diagnostics.js";
import { checkPattern, type Overrides } from "./check/pattern.js";
import type { PatternIR } from "./ir.js";

export type { Overrides };

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.loc.offset - b.loc.offset;
}

/** Every diagnostic of a file: syntax errors, else each pattern checked with its defaults. */
export function checkSource(source: string, fileName = "<input>"): Diagnostic[] {
  const parsed = parseSource(source, fileName);
  if (parsed.diagnostics.length > 0) return parsed.diagnostics.sort(byPosition);
  const diags: Diagnostic[] = [];
  const names = new Map<string, number>();
  for (const decl of parsed.file.patterns) {
    if (names.has(decl.name)) {
      diags.push({ severity: "error", fileName, loc: decl.nameLoc, message: `pattern '${decl.name}' is already defined on line ${names.get(decl.name)}` });
      continue;
    }
    names.set(decl.name, decl.nameLoc.line);
    // A parameter without default is not an error of the file: a user gives it a value.
    if (decl.params.some((p) => p.default === undefined)) continue;
    diags.push(...checkPattern(parsed.file, decl).diagnostics);
  }
  if (parsed.file.patterns.length === 0) diags.push({ severity: "error", fileName, loc: NO_LOC, message: "no pattern in this file (write: pattern name(...) { mask ... })" });
  return diags.sort(byPosition);
}

export interface CompileOptions {
  fileName?: string;
  /** Which pattern of the file; required when it has several. */
  pattern?: string;
  /** Parameter overrides: values, or texts as given to --set. */
  set?: Overrides;
}

/** Parses and checks one pattern; throws SpattnError with every diagnostic on failure. */
export function compile(source: string, options: CompileOptions = {}): PatternIR {
  const fileName = options.fileName ?? "<input>";
  const parsed = parseSource(source, fileName);
  if (parsed.diagnostics.length > 0) throw new SpattnError(parsed.diagnostics.sort(byPosition), source);
  const decl = pickPattern(parsed.file, options.pattern, source);
  const result = checkPattern(parsed.file, decl, options.set ?? {});
  if (!result.ir) throw new SpattnError(result.diagnostics.sort(byPosition), source);
  return result.ir;
}

function pickPattern(file: SourceFile, name: string | undefined, source: string) {
  const fail = (message: string): never => {
    throw new SpattnError([{ severity: "error", fileName: file.fileName, loc: NO_LOC, message }], source);
  };
  if (file.patterns.length === 0) return fail("no pattern in this file");
  if (name === undefined) {
    if (file.patterns.length > 1) return fail(`this file has several patterns (${file.patterns.map((p) => p.name).join(", ")}): choose one with --pattern`);
    return file.patterns[0];
  }
  return file.patterns.find((p) => p.name === name) ?? fail(`no pattern '${name}' in this file (it has: ${file.patterns.map((p) => p.name).join(", ")})`);
}
