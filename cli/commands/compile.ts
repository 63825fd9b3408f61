// spattn compile FILE --target ts|cuda|wgsl|ir --out DIR: generated code, written atomically.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { compile } from "../../compiler/compile.js";
import { emitCuda } from "../../backends/cuda/emit.js";
import { emitWgslAttention } from "../../backends/wgsl/attention.js";
import { emitWgslMask } from "../../backends/wgsl/mask.js";
import { emitWgslHost } from "../../backends/wgsl/spec.js";
import { UsageError, readSource, writeOutput } from "../io.js";

export interface CompileCommandOptions {
  pattern?: string;
  target: string;
  set?: Record<string, string>;
  out: string;
  /** wgsl: head dimension of Q and K, and width of V and O (default: the head dimension). */
  headDim?: number;
  valueDim?: number;
}

const TARGETS = ["ts", "cuda", "wgsl", "ir"];

export async function runCompile(file: string, o: CompileCommandOptions): Promise<void> {
  if (!TARGETS.includes(o.target)) throw new UsageError(`unknown target '${o.target}' (targets: ${TARGETS.join(", ")})`);
  if (o.target !== "wgsl" && (o.headDim !== undefined || o.valueDim !== undefined)) throw new UsageError("--head-dim and --value-dim apply to --target wgsl only");
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
  if (o.target === "wgsl") {
    // The host module embeds the attention shaders for 32, 16 and 8 keys per tile (it picks
    // by the device's workgroup storage); the .wgsl files are the 16-key one (it fits the
    // 32 KiB of workgroup storage most devices offer at D = 128) and the mask generators, for
    // reading and for other hosts.
    const stem = safeFileName(ir.name);
    const d = o.headDim ?? 64;
    const dv = o.valueDim ?? d;
    writeOutput(join(o.out, `${stem}.webgpu.ts`), emitWgslHost(ir, { sourceName: file, d, dv }));
    writeOutput(join(o.out, `${stem}.attention.wgsl`), emitWgslAttention(ir, { d, dv, bk: 16 }));
    writeOutput(join(o.out, `${stem}.mask.wgsl`), emitWgslMask(ir));
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
