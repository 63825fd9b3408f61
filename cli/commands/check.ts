// spattn check FILE: every diagnostic of the file, exit 1 on any error.
import { checkSource } from "../../compiler/compile.js";
import { formatDiagnostics } from "../../compiler/diagnostics.js";
import { readSource } from "../io.js";

export function runCheck(file: string): number {
  const source = readSource(file);
  const diags = checkSource(source, file);
  if (diags.length > 0) process.stderr.write(formatDiagnostics(diags, source) + "\n");
  const errors = diags.filter((d) => d.severity === "error").length;
  if (errors > 0) {
    process.stderr.write(`${errors} error${errors === 1 ? "" : "s"}\n`);
    return 1;
  }
  process.stdout.write(`${file}: ok\n`);
  return 0;
}
