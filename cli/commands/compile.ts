// spattn compile FILE --target ts|ir --out DIR: generated code, written atomically.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { compile } from "../../compiler/compile.js";
import { emitCuda } from "../../backends/cuda/emit.js";
import { UsageError, readSource, writeOutput } from "../io.js";

export interface CompileCommandOptions {
  pattern?: string;
  target: string;
  set?: Record<string, string>;
  out: string;
}

const PLANNED: Record<string, string> = {
  wgsl: "the WGSL target is not built yet (issue: WGSL backend)",
};

const TARGETS = ["ts", "cuda", "ir"];

export async function runCompile(file: string, o: CompileCommandOptions): Promise<void> {
  if (!TARGETS.includes(o.target)) throw new UsageError(PLANNED[o.target] ?? `unknown target '${o.target}' (targets: ${TARGETS.join(", ")})`);
  const source = readSource(file);
  const ir = compile(source, { fileName: file, pattern: o.pattern, set: o.set });
  mkdirSync(o.out, { recursive: true });
  if (o.target === "ir") {
    writeOutput(join(o.out, `${safeFileName(ir.name)}.ir.json`), JSON.stringify(ir, null, 2) + "\n");
    return;
  }
  if (o.target === "cuda") {
    const cu = emitCuda(ir, { sourceName: file });
    writeOutput(join(o.out, `${cu.stem}.h`), cu.header);
    writeOutput(join(o.out, `${cu.stem}.cu`), cu.cu);
    return;
  }
  // ts-morph is large: loaded only for this target (the GPU machine runs the CLI without it).
  const { emitTypeScript } = await import("../../backends/ts/emit.js");
  writeOutput(join(o.out, `${safeFileName(ir.name)}.mask.ts`), emitTypeScript(ir, { sourceName: file }));
}

/** Pattern names are identifiers already; this keeps file names safe all the same. */
function safeFileName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "_");
}
