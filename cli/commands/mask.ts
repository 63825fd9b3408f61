// spattn mask FILE --seq N --format dense|bsr --block B --out PATH
import { compile } from "../../compiler/compile.js";
import { buildBlockMask, buildDenseMask } from "../../compiler/blockmask/build.js";
import { buildKernelBlockMask } from "../../compiler/blockmask/kernel-order.js";
import { formatBsrJson, toBsrJson } from "../../backends/mask/bsr.js";
import { UsageError, readSource, readTensor, writeNpyOutput, writeOutput } from "../io.js";

export interface MaskCommandOptions {
  pattern?: string;
  seq: number;
  heads?: number;
  set?: Record<string, string>;
  q?: string;
  k?: string;
  format: string;
  block?: number;
  blockK?: number;
  kernelOrder?: boolean;
  out: string;
}

export function runMask(file: string, o: MaskCommandOptions): void {
  const source = readSource(file);
  if (o.format !== "dense" && o.format !== "bsr") throw new UsageError(`--format must be dense or bsr, got '${o.format}'`);
  if ((o.q === undefined) !== (o.k === undefined)) throw new UsageError("--q and --k go together");
  if (o.kernelOrder && o.format !== "bsr") throw new UsageError("--kernel-order applies to --format bsr (block lists in the CUDA kernels' token order)");
  const ir = compile(source, { fileName: file, pattern: o.pattern, set: o.set });
  const inputs = {
    seqLen: o.seq,
    heads: o.heads,
    fileName: file,
    q: o.q ? readTensor(o.q, "Q") : undefined,
    k: o.k ? readTensor(o.k, "K") : undefined,
  };
  if (o.format === "dense") {
    const m = buildDenseMask(ir, inputs);
    writeNpyOutput(o.out, { dtype: "|b1", shape: [m.heads, m.seqLen, m.seqLen], data: m.data });
    return;
  }
  const block = o.block ?? ir.tile.q ?? 128;
  const opts = { ...inputs, blockQ: block, blockK: o.blockK ?? o.block ?? ir.tile.k ?? block };
  if (o.kernelOrder) {
    const km = buildKernelBlockMask(ir, opts);
    writeOutput(o.out, formatBsrJson(toBsrJson(km.blocks, km.permutation && km.map ? { permutation: km.permutation, map: km.map } : undefined)));
    return;
  }
  writeOutput(o.out, formatBsrJson(toBsrJson(buildBlockMask(ir, opts))));
}
