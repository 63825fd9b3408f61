// Diagnostics carry a file position and render as `FILE:LINE:COL: error: message`,
// followed by the source line and a caret under the offending span.
import type { Loc } from "../grammar/ast.js";

export type Severity = "error" | "warning";

export interface Diagnostic {
  severity: Severity;
  message: string;
  fileName: string;
  loc: Loc;
}

/** Thrown by API calls that cannot go on; carries every diagnostic found so far. */
export class SpattnError extends Error {
  constructor(
    readonly diagnostics: Diagnostic[],
    readonly source?: string,
  ) {
    super(diagnostics.map((d) => `${d.fileName}:${d.loc.line}:${d.loc.col}: ${d.severity}: ${d.message}`).join("\n"));
    this.name = "SpattnError";
  }
}

/** Where a problem has no better place (for example a bad `--set` value), point at the file start. */
export const NO_LOC: Loc = { line: 1, col: 1, offset: 0, end: 0 };

export function formatDiagnostic(d: Diagnostic, source: string | undefined): string {
  const head = `${d.fileName}:${d.loc.line}:${d.loc.col}: ${d.severity}: ${d.message}`;
  if (source === undefined) return head;
  // Lines end as the lexer counts them: \r\n, \n or a lone \r.
  const lines = source.split(/\r\n|\r|\n/);
  const text = lines[d.loc.line - 1];
  if (text === undefined) return head;
  const start = Math.max(0, d.loc.col - 1);
  const sameLineEnd = d.loc.offset + (text.length - start);
  const width = Math.max(1, Math.min(d.loc.end, sameLineEnd) - d.loc.offset);
  const gutter = String(d.loc.line).padStart(4) + " | ";
  return `${head}\n${gutter}${text}\n${" ".repeat(gutter.length + start)}^${"~".repeat(Math.max(0, width - 1))}`;
}

export function formatDiagnostics(diags: Diagnostic[], source: string | undefined): string {
  return diags.map((d) => formatDiagnostic(d, source)).join("\n");
}

/** A collector passed through a phase, so that one run reports every problem it can. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];
  constructor(readonly fileName: string) {}
  error(loc: Loc, message: string): void {
    this.items.push({ severity: "error", message, fileName: this.fileName, loc });
  }
  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === "error");
  }
}
