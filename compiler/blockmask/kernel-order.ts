// Block masks in the order kernels visit tokens: sequence order, or a permutation that makes
// the pattern's tiles denser (compiler/passes/permute.ts). Kernels take the token map along.
import { choosePermutation, permutedIR, permutedLength, tokenMap, type Permutation } from "../passes/permute.js";
import type { PatternIR } from "../ir.js";
import { buildBlockMask, type BlockMask, type BlockMaskOptions } from "./build.js";

export interface KernelBlockMask {
  blocks: BlockMask;
  /** The permutation used, if any: then blocks cover `map.length` kernel positions. */
  permutation?: Permutation;
  /** Kernel position -> token (-1 for padding), when permuted. */
  map?: Int32Array;
}

export function buildKernelBlockMask(ir: PatternIR, opts: BlockMaskOptions): KernelBlockMask {
  const perm = choosePermutation(ir, opts.blockQ, opts.blockK ?? opts.blockQ);
  if (!perm) return { blocks: buildBlockMask(ir, opts) };
  const blocks = buildBlockMask(permutedIR(ir, perm, opts.seqLen), { ...opts, seqLen: permutedLength(perm, opts.seqLen) });
  return { blocks: { ...blocks, seqLen: opts.seqLen }, permutation: perm, map: tokenMap(perm, opts.seqLen) };
}
