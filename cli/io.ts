// Shared CLI plumbing: reading pattern files, --set parsing, tensors from .npy, and the one
// place where errors become messages (never stack traces) and exit codes.
import { readFileSync } from "node:fs";
import { writeFileAtomic, writeNpyAtomic, type NpyInput } from "../runtime/npy.js";
import { CommanderError } from "commander";
import { formatDiagnostics, SpattnError } from "../compiler/diagnostics.js";
import type { Tensor4 } from "../compiler/blockmask/build.js";
import { NpyError, readNpy } from "../runtime/npy.js";
import { CudaRuntimeError } from "../runtime/cuda/run.js";
import { WebGpuRuntimeError } from "../runtime/webgpu/device.js";

/** File-system failures while writing an output are the user's to fix, not spattn bugs. */
function writing<T>(path: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`cannot write ${path}: ${code}${code === "ENOENT" ? " (does its folder exist?)" : ""}`);
    throw e;
  }
}

export function writeOutput(path: string, data: string | Uint8Array): void {
  writing(path, () => writeFileAtomic(path, data));
}

export function writeNpyOutput(path: string, a: NpyInput): void {
  writing(path, () => writeNpyAtomic(path, a));
}

/** An error the user can act on; printed as `spattn: error: message`. */
export class UsageError extends Error {}

export function readSource(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Collects repeated `--set name=value` options. */
export function collectSet(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new UsageError(`--set expects name=value, got '${value}'`);
  return { ...previous, [value.slice(0, eq).trim()]: value.slice(eq + 1) };
}

export function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new UsageError(`${what} must be a non-negative integer, got '${value}'`);
    return Number(value);
  };
}

/** A float32/float64 tensor of shape [1, H, N, D] from an .npy file. */
export function readTensor(path: string, name: string): Tensor4 {
  const a = readNpy(path);
  if (a.dtype !== "<f4" && a.dtype !== "<f8") throw new UsageError(`${path}: ${name} must be float32 or float64, got ${a.dtype}`);
  if (a.shape.length !== 4 || a.shape[0] !== 1) throw new UsageError(`${path}: ${name} must have shape [1, H, N, D], got [${a.shape.join(", ")}]`);
  return { shape: a.shape, data: a.data as Float32Array | Float64Array };
}

/** Runs a command body, turning every expected failure into a message and exit code 1.
 *  A body may return its own exit code (check does: 1 when the file has errors). */
export async function guarded(body: () => Promise<number | void> | number | void): Promise<number> {
  try {
    return (await body()) ?? 0;
  } catch (e) {
    if (e instanceof SpattnError) {
      process.stderr.write(formatDiagnostics(e.diagnostics, e.source) + "\n");
    } else if (e instanceof UsageError || e instanceof NpyError || e instanceof CudaRuntimeError || e instanceof WebGpuRuntimeError) {
      process.stderr.write(`spattn: error: ${e.message}\n`);
    } else if (e instanceof CommanderError) {
      throw e;
    } else {
      const msg = e instanceof Error ? e.message : String(e);
      process.stderr.write(`spattn: internal error: ${msg}\n(this is a bug in spattn; set SPATTN_DEBUG=1 for a stack trace)\n`);
      if (process.env.SPATTN_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    }
    return 1;
  }
}
