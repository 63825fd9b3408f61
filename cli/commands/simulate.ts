// spattn simulate FILE [--compare B ...] --seq 4096,16384 [--device h100] --report out.html|json|md
import { existsSync } from "node:fs";
import { extname } from "node:path";
import { compile } from "../../compiler/compile.js";
import { parseSource } from "../../grammar/parse.js";
import { loadDevice } from "../../backends/simulator/device.js";
import { simulate, type PatternInput } from "../../backends/simulator/simulate.js";
import { renderHtml } from "../../backends/simulator/report/html.js";
import { renderMarkdown } from "../../backends/simulator/report/markdown.js";
import { progressBar, renderTerminal } from "../../backends/simulator/report/terminal.js";
import type { SimulationReport } from "../../backends/simulator/schema.js";
import { UsageError, readSource, readTensor, writeOutput } from "../io.js";

export interface SimulateCommandOptions {
  pattern?: string;
  compare?: string[];
  seq?: string;
  heads?: number;
  kvHeads?: number;
  dim?: number;
  device: string;
  block?: string;
  set?: Record<string, string>;
  q?: string;
  k?: string;
  report?: string[];
  progress: boolean;
}

const SUFFIX: Record<string, number> = { "": 1, k: 1024, m: 1 << 20 };

/** "4096,16K,1M" -> [4096, 16384, 1048576]. */
export function parseSeqList(text: string): number[] {
  const out = text.split(",").map((part) => {
    const m = /^\s*(\d+)\s*([kKmM]?)\s*$/.exec(part);
    if (!m) throw new UsageError(`--seq expects lengths separated by commas (4096,16K,1M), got '${part.trim()}'`);
    const n = Number(m[1]) * SUFFIX[m[2].toLowerCase()];
    if (n < 1 || n > 2 ** 30) throw new UsageError(`--seq: ${part.trim()} is not a length between 1 and 2^30`);
    return n;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

/** "128x64" or "128" (square). */
export function parseBlock(text: string): { q: number; k: number } {
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$/.exec(text);
  const q = m ? Number(m[1]) : 0;
  const k = m?.[2] ? Number(m[2]) : q;
  if (!m || q < 1 || k < 1) throw new UsageError(`--block expects BQxBK (128x64) or one size, got '${text}'`);
  return { q, k };
}

/** FILE, or FILE:PATTERN when FILE itself does not exist. */
function splitTarget(target: string, pattern: string | undefined): { file: string; pattern?: string } {
  if (existsSync(target)) return { file: target, pattern };
  const colon = target.lastIndexOf(":");
  if (colon > 0 && existsSync(target.slice(0, colon))) return { file: target.slice(0, colon), pattern: target.slice(colon + 1) };
  return { file: target, pattern };
}

/** With --compare, each pattern takes the --set values of the parameters it declares. */
function ownSettings(source: string, file: string, pattern: string | undefined, set: Record<string, string>, used: Set<string>): Record<string, string> {
  const decls = parseSource(source, file).file.patterns;
  const decl = pattern === undefined ? (decls.length === 1 ? decls[0] : undefined) : decls.find((d) => d.name === pattern);
  if (!decl) return set; // compile() reports the missing or ambiguous pattern
  const names = new Set(decl.params.map((p) => p.name));
  const own = Object.fromEntries(Object.entries(set).filter(([name]) => names.has(name)));
  for (const name of Object.keys(own)) used.add(name);
  return own;
}

const RENDERERS: Record<string, (r: SimulationReport) => string> = {
  ".html": renderHtml,
  ".json": (r) => JSON.stringify(r, null, 2) + "\n",
  ".md": renderMarkdown,
};

export function runSimulate(file: string | undefined, o: SimulateCommandOptions): void {
  const targets = [...(file ? [file] : []), ...(o.compare ?? [])];
  if (targets.length === 0) throw new UsageError("give a pattern file (or several with --compare a.spattn b.spattn)");
  for (const path of o.report ?? []) {
    if (!RENDERERS[extname(path).toLowerCase()]) throw new UsageError(`--report ${path}: the report's kind comes from its extension: .html, .json or .md`);
  }
  if ((o.q === undefined) !== (o.k === undefined)) throw new UsageError("--q and --k go together");
  const block = o.block ? parseBlock(o.block) : undefined;
  const device = loadDevice(o.device);
  const used = new Set<string>();
  const inputs: PatternInput[] = targets.map((t) => {
    const { file: f, pattern } = splitTarget(t, o.pattern);
    const source = readSource(f);
    const ir = compile(source, { fileName: f, pattern, set: targets.length > 1 ? ownSettings(source, f, pattern, o.set ?? {}, used) : o.set });
    const layoutN = ir.layout?.reduce((a, x) => a * x.size, 1);
    if (!o.seq && layoutN === undefined) throw new UsageError(`--seq is required for ${f} (pattern '${ir.name}' has no layout to take the length from)`);
    const seqLens = o.seq ? parseSeqList(o.seq) : [layoutN!];
    const input: PatternInput = { ir, file: f, seqLens };
    if (o.q && o.k) {
      if (seqLens.length !== 1) throw new UsageError("--q and --k fix the sequence length: give one --seq (or none)");
      input.q = readTensor(o.q, "Q");
      input.k = readTensor(o.k, "K");
    }
    return input;
  });
  const unused = Object.keys(o.set ?? {}).filter((name) => targets.length > 1 && !used.has(name));
  if (unused.length > 0) throw new UsageError(`--set ${unused.join(", ")}: no compared pattern has such a parameter`);
  const showProgress = o.progress && process.stderr.isTTY === true;
  const report = simulate(inputs, {
    device,
    heads: o.heads,
    kvHeads: o.kvHeads,
    dim: o.dim,
    blockQ: block?.q,
    blockK: block?.k,
    onProgress: showProgress ? (done, total, label) => process.stderr.write(progressBar(done, total, label).padEnd(100)) : undefined,
  }, "spattn 0.1.0");
  if (showProgress) process.stderr.write("\r" + " ".repeat(100) + "\r");
  for (const path of o.report ?? []) writeOutput(path, RENDERERS[extname(path).toLowerCase()](report));
  process.stdout.write(renderTerminal(report));
}
