// The spattn command line: check, mask, run, compile, simulate.
import { Command, CommanderError } from "commander";
import { runCheck } from "./commands/check.js";
import { runCompile } from "./commands/compile.js";
import { runMask } from "./commands/mask.js";
import { runRun } from "./commands/run.js";
import { runSimulate } from "./commands/simulate.js";
import { collectSet, guarded, positiveInt } from "./io.js";

/** The command tree; each action stores its exit code through `done`. */
export function program(done: (code: number) => void = () => {}): Command {
  const p = new Command("spattn")
    .description("A compiler for sparse attention patterns")
    .version("0.1.0")
    .exitOverride()
    .showHelpAfterError();

  p.command("check")
    .description("check a pattern file; print FILE:LINE:COL diagnostics")
    .argument("<file>", "a .spattn file")
    .action((file: string) => guarded(() => runCheck(file)).then(done));

  p.command("mask")
    .description("write a pattern's mask: dense boolean .npy [H, N, N] or FlexAttention-style block mask JSON")
    .argument("<file>", "a .spattn file")
    .option("--pattern <name>", "pattern to use when the file has several")
    .requiredOption("--seq <n>", "sequence length N", positiveInt("--seq"))
    .option("--heads <h>", "number of heads", positiveInt("--heads"))
    .option("--set <name=value>", "override a parameter (repeatable)", collectSet)
    .option("--q <q.npy>", "queries [1, H, N, D] (data-dependent patterns)")
    .option("--k <k.npy>", "keys [1, H, N, D] (data-dependent patterns)")
    .option("--format <fmt>", "dense or bsr", "bsr")
    .option("--block <b>", "block size for bsr (default: the pattern's tile hint, else 128)", positiveInt("--block"))
    .option("--block-k <b>", "key block size for bsr when it differs from --block (CUDA kernels use 128 x 64)", positiveInt("--block-k"))
    .option("--kernel-order", "bsr in the token order the CUDA kernels use (dilation gathered by residue class), with its token_map")
    .requiredOption("--out <path>", "output file")
    .action((file: string, o) => guarded(() => runMask(file, o)).then(done));

  p.command("run")
    .description("attention under the pattern's mask")
    .argument("<file>", "a .spattn file")
    .option("--pattern <name>", "pattern to use when the file has several")
    .option("--backend <name>", "reference (float64 CPU), cuda (generated kernels, needs nvcc and a GPU) or webgpu (the WGSL shader, float32; SwiftShader without a GPU)", "reference")
    .option("--set <name=value>", "override a parameter (repeatable)", collectSet)
    .requiredOption("--q <q.npy>", "queries [1, H, N, D]")
    .requiredOption("--k <k.npy>", "keys [1, H, N, D]")
    .requiredOption("--v <v.npy>", "values [1, H, N, Dv]")
    .requiredOption("--out <o.npy>", "output [1, H, N, Dv]")
    .option("--dtype <t>", "output dtype: float32 or float64 (reference); cuda computes in bf16, or fp16 with float16", "float32")
    .option("--lists <where>", "cuda: where the block lists and data-dependent arrays are made: cpu (float32 choices, as the reference) or device (GPU index builders and list builder, sequence order, choices on bf16/fp16 Q and K)", "cpu")
    .action((file: string, o) => guarded(() => runRun(file, o)).then(done));

  p.command("compile")
    .description("generate code for a pattern: ts (standalone mask generator module), cuda (kernels + C ABI header), wgsl (WebGPU shaders + a host module) or ir (the checked IR as JSON)")
    .argument("<file>", "a .spattn file")
    .option("--pattern <name>", "pattern to use when the file has several")
    .option("--target <t>", "ts, cuda, wgsl or ir", "ts")
    .option("--head-dim <d>", "wgsl: head dimension of Q and K (default 64)", positiveInt("--head-dim"))
    .option("--value-dim <d>", "wgsl: width of V and O rows (default: the head dimension)", positiveInt("--value-dim"))
    .option("--set <name=value>", "override a parameter (repeatable)", collectSet)
    .requiredOption("--out <dir>", "output folder")
    .action((file: string, o) => guarded(() => runCompile(file, o)).then(done));

  p.command("simulate")
    .description("estimate a pattern's speedup over dense attention on a device model, before any kernel runs; write HTML, JSON or Markdown reports")
    .argument("[file]", "a .spattn file (FILE:PATTERN picks one of several)")
    .option("--pattern <name>", "pattern to use when a file has several")
    .option("--compare <files...>", "patterns side by side (FILE or FILE:PATTERN each)")
    .option("--seq <list>", "sequence lengths, comma-separated (4096,16K,1M); default: the pattern's layout size")
    .option("--heads <h>", "number of heads (default: the pattern's, else 16)", positiveInt("--heads"))
    .option("--kv-heads <h>", "heads of K and V (GQA; default: --heads)", positiveInt("--kv-heads"))
    .option("--dim <d>", "head dimension (default 128)", positiveInt("--dim"))
    .option("--device <name|file.json>", "device model: a bundled name (h100, h200, a100, rtx4090) or a JSON file", "h100")
    .option("--block <BQxBK>", "tile size (default 128x64, the CUDA kernel's)")
    .option("--set <name=value>", "override a parameter (repeatable)", collectSet)
    .option("--q <q.npy>", "real queries [1, H, N, D] for a data-dependent pattern (else synthetic)")
    .option("--k <k.npy>", "real keys [1, H, N, D]")
    .option("--report <path>", "write a report: .html, .json or .md (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
    .option("--no-progress", "no progress bar on the terminal")
    .action((file: string | undefined, o) => guarded(() => runSimulate(file, o)).then(done));
  return p;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  try {
    await program((c) => (code = c)).parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`spattn: error: ${msg}\n`);
    return 2;
  }
  return code;
}
