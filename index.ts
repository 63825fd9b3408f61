// The programmatic API: `import { parse, compile, mask } from "spattn"`.
import { parseSource, type ParseResult } from "./grammar/parse.js";
import { compile, checkSource, type CompileOptions } from "./compiler/compile.js";
import { buildBlockMask, buildDenseMask, type InstanceOptions, type Tensor4 } from "./compiler/blockmask/build.js";
import { toBsrJson, type BsrJson } from "./backends/mask/bsr.js";
import type { PatternIR } from "./compiler/ir.js";

/** Text to AST, with syntax diagnostics (never throws on bad input). */
export function parse(source: string, fileName = "<input>"): ParseResult {
  return parseSource(source, fileName);
}

export { compile, checkSource as check };

export interface MaskOptions extends Omit<InstanceOptions, "fileName"> {
  /** "bsr" (default): FlexAttention BlockMask fields; "dense": [heads, n, n] booleans. */
  format?: "bsr" | "dense";
  /** Block size for "bsr" (default: the pattern's tile hint, else 128). */
  block?: number;
  blockK?: number;
}

export interface DenseMask {
  heads: number;
  seqLen: number;
  /** 1 where query q of head h may attend key k, at (h * n + q) * n + k. */
  data: Uint8Array;
}

/** A pattern's mask for one sequence length; the pattern is IR or source (with options). */
export function mask(pattern: PatternIR | string, options: MaskOptions & { format: "dense" } & CompileOptions): DenseMask;
export function mask(pattern: PatternIR | string, options: MaskOptions & CompileOptions): BsrJson;
export function mask(pattern: PatternIR | string, options: MaskOptions & CompileOptions): BsrJson | DenseMask {
  const ir = typeof pattern === "string" ? compile(pattern, options) : pattern;
  const inst = { seqLen: options.seqLen, heads: options.heads, q: options.q, k: options.k, fileName: options.fileName };
  if (options.format === "dense") return buildDenseMask(ir, inst);
  const blockQ = options.block ?? ir.tile.q ?? 128;
  return toBsrJson(buildBlockMask(ir, { ...inst, blockQ, blockK: options.blockK ?? options.block ?? ir.tile.k ?? blockQ }));
}

export { buildBlockMask, buildDenseMask, toBsrJson };
export { emitTypeScript } from "./backends/ts/emit.js";
export { referenceAttention, type AttentionInputs, type AttentionResult, type MaskRows } from "./runtime/reference.js";
export { maskRows } from "./compiler/blockmask/build.js";
export { decodeNpy, encodeNpy, readNpy, writeNpyAtomic, NpyError, type NpyArray, type NpyDtype } from "./runtime/npy.js";
export { SpattnError, formatDiagnostics, type Diagnostic } from "./compiler/diagnostics.js";
export type { PatternIR, MaskExpr, IntExpr, Selection, Route, KeepRule, LayoutAxis } from "./compiler/ir.js";
export type { BsrJson, Tensor4, CompileOptions, ParseResult };
export type { BlockMask } from "./compiler/blockmask/build.js";
export { simulate, type SimulateSettings, type PatternInput } from "./backends/simulator/simulate.js";
export { loadDevice, parseDevice, deviceNames, type DeviceModel, type KernelModel } from "./backends/simulator/device.js";
export { renderHtml } from "./backends/simulator/report/html.js";
export { renderMarkdown } from "./backends/simulator/report/markdown.js";
export { renderTerminal } from "./backends/simulator/report/terminal.js";
export type { SimulationReport, PatternReport, LengthReport, HeadReport } from "./backends/simulator/schema.js";
