// What the CUDA ABI takes besides Q, K and V: the shared kernel inputs (backends/inputs.ts) at
// the CUDA kernels' tile. The runtime uploads these; the GPU benchmark saves them to files.
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import type { PatternIR } from "../../compiler/ir.js";
import { kernelInputs, type KernelInputs, type KernelTiles } from "../inputs.js";
import { CUDA_TILE } from "./emit.js";

export type CudaTiles = KernelTiles;
export type CudaInputs = KernelInputs;

export interface CudaInputOptions {
  seqLen: number;
  heads: number;
  q?: Tensor4;
  k?: Tensor4;
  /** Use the kernel order that pays (default), or sequence order. */
  permute?: boolean;
}

export function cudaInputs(ir: PatternIR, o: CudaInputOptions): CudaInputs {
  return kernelInputs(ir, { ...o, blockQ: CUDA_TILE.blockQ, blockK: CUDA_TILE.blockK });
}
