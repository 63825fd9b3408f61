// Device models: data files (backends/simulator/devices/*.json), not code. Each number has its
// source noted in the file's `sources`; the H100 entry is what was measured on the lent GPU.
// A user may pass a path to a file of the same shape instead of a name.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { NO_LOC, SpattnError } from "../../compiler/diagnostics.js";
import { packageFile } from "../../compiler/package-root.js";

/** How the modelled kernel (spattn's FlashAttention-style CUDA kernel) spends an SM's time. */
export interface KernelModel {
  /** Sustained fraction of `matmulTflops` in the inner loop (QK^T, softmax, PV of full tiles). */
  mainloopEfficiency: number;
  /** Fixed cost of one CTA (one query tile of one head): first copies, epilogue, dispatch. */
  ctaOverheadUs: number;
  /** A partial tile (predicate evaluated per element) costs this many full tiles. */
  partialTileCost: number;
  /** The same where the predicate reads data-dependent indices (selections, routing). */
  dataPartialTileCost: number;
  /** Once per kernel: launch latency and the first wave's ramp. */
  launchUs: number;
  /** Keys a step of the inner loop covers: list entries narrower than this are paired up. */
  stepKeys: number;
  /** A tile in a permuted token order (gathered through a token map) costs this many. */
  mappedTileCost: number;
  /** The kernel's second CTA shape, where the device has it (the sm_90a kernel): 64 query rows,
   *  two CTAs per SM, one 64-key list entry per step. Absent: 128-row CTAs only. */
  shortShape?: ShortShapeModel;
}

/** Costs of a 64-row CTA on one of an SM's two slots (cost.ts, ctaShape says when it runs). */
export interface ShortShapeModel {
  /** Fixed cost of one CTA, partly hidden behind the other slot's loop. */
  ctaOverheadUs: number;
  /** A full entry (64 rows x 64 keys) costs this many full 128 x 64 tiles of SM time. */
  entryCost: number;
  /** A partial entry whose predicate reads data-dependent indices costs this many full entries. */
  dataPartialTileCost: number;
  /** Where a selection splits the tiles, a CTA runs only its own rows' entries (its kept blocks,
   *  gathered from anywhere in K and V); each, full or partial, costs this many full entries. */
  keptEntryCost: number;
}

export interface DeviceModel {
  name: string;
  description: string;
  sms: number;
  /** Sustained dense bf16 matrix product, TFLOP/s (fp32 accumulation). */
  matmulTflops: number;
  /** Sustained DRAM bandwidth, TB/s. */
  bandwidthTBs: number;
  /** FP64 without tensor cores (the exact index builders), TFLOP/s. */
  fp64Tflops: number;
  /** FP32 without tensor cores (the top-k builders' float32 scores), TFLOP/s. */
  fp32Tflops: number;
  sharedMemoryKiB: number;
  kernel: KernelModel;
  /** Where each number comes from, keyed by field (`kernel.x` for the kernel's). */
  sources: Record<string, string>;
}

const NUMBERS = ["sms", "matmulTflops", "bandwidthTBs", "fp64Tflops", "fp32Tflops", "sharedMemoryKiB"] as const;
const KERNEL_NUMBERS = ["mainloopEfficiency", "ctaOverheadUs", "partialTileCost", "dataPartialTileCost", "launchUs", "stepKeys", "mappedTileCost"] as const;
const SHORT_NUMBERS = ["ctaOverheadUs", "entryCost", "dataPartialTileCost", "keptEntryCost"] as const;

function devicesDir(): string {
  return packageFile("backends/simulator/devices");
}

/** Names of the bundled device models. */
export function deviceNames(): string[] {
  return readdirSync(devicesDir())
    .filter((f) => f.endsWith(".json"))
    .map((f) => basename(f, ".json"))
    .sort();
}

function fail(file: string, message: string, source?: string, offset?: number): never {
  let loc = NO_LOC;
  if (source !== undefined && offset !== undefined) {
    const before = source.slice(0, offset).split(/\r\n|\r|\n/);
    loc = { line: before.length, col: before[before.length - 1].length + 1, offset, end: offset + 1 };
  }
  throw new SpattnError([{ severity: "error", fileName: file, loc, message }], source);
}

/** A bundled model by name (`h100`), or a model file by path (anything ending in .json). */
export function loadDevice(nameOrPath: string): DeviceModel {
  const isPath = nameOrPath.endsWith(".json") || nameOrPath.includes("/");
  const file = isPath ? nameOrPath : join(devicesDir(), `${nameOrPath}.json`);
  if (!existsSync(file)) {
    if (isPath) fail(file, "no such device model file");
    fail("--device", `unknown device '${nameOrPath}' (known: ${deviceNames().join(", ")}; or pass a .json model file)`);
  }
  return parseDevice(readFileSync(file, "utf8"), file);
}

/** Parses and validates a device model; errors name the file and, for syntax, the position. */
export function parseDevice(text: string, file: string): DeviceModel {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message);
    fail(file, `not valid JSON: ${(e as Error).message}`, text, at ? Number(at[1]) : undefined);
  }
  const obj = raw as Record<string, unknown>;
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) fail(file, "a device model is a JSON object");
  const where = (key: string): number | undefined => {
    const i = text.indexOf(`"${key}"`);
    return i >= 0 ? i : undefined;
  };
  const positive = (o: Record<string, unknown>, key: string, label: string): number => {
    const v = o[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(file, `'${label}' must be a positive number, got ${JSON.stringify(v)}`, text, where(key));
    return v;
  };
  const text_ = (key: string): string => {
    const v = obj[key];
    if (typeof v !== "string" || v.length === 0) fail(file, `'${key}' must be a non-empty string`, text, where(key));
    return v;
  };
  const kernel = obj.kernel as Record<string, unknown>;
  if (!kernel || typeof kernel !== "object") fail(file, "'kernel' must be an object with " + KERNEL_NUMBERS.join(", "), text, where("kernel"));
  const sources = obj.sources as Record<string, unknown>;
  if (!sources || typeof sources !== "object") fail(file, "'sources' must say where each number comes from", text, where("sources"));
  const model: DeviceModel = {
    name: text_("name"),
    description: text_("description"),
    sms: positive(obj, "sms", "sms"),
    matmulTflops: positive(obj, "matmulTflops", "matmulTflops"),
    bandwidthTBs: positive(obj, "bandwidthTBs", "bandwidthTBs"),
    fp64Tflops: positive(obj, "fp64Tflops", "fp64Tflops"),
    fp32Tflops: positive(obj, "fp32Tflops", "fp32Tflops"),
    sharedMemoryKiB: positive(obj, "sharedMemoryKiB", "sharedMemoryKiB"),
    kernel: {
      mainloopEfficiency: positive(kernel, "mainloopEfficiency", "kernel.mainloopEfficiency"),
      ctaOverheadUs: positive(kernel, "ctaOverheadUs", "kernel.ctaOverheadUs"),
      partialTileCost: positive(kernel, "partialTileCost", "kernel.partialTileCost"),
      dataPartialTileCost: positive(kernel, "dataPartialTileCost", "kernel.dataPartialTileCost"),
      launchUs: positive(kernel, "launchUs", "kernel.launchUs"),
      stepKeys: positive(kernel, "stepKeys", "kernel.stepKeys"),
      mappedTileCost: positive(kernel, "mappedTileCost", "kernel.mappedTileCost"),
    },
    sources: {},
  };
  const short = kernel.shortShape as Record<string, unknown> | undefined;
  if (short !== undefined) {
    if (!short || typeof short !== "object" || Array.isArray(short)) fail(file, "'kernel.shortShape' must be an object with " + SHORT_NUMBERS.join(", "), text, where("shortShape"));
    model.kernel.shortShape = {
      ctaOverheadUs: positive(short, "ctaOverheadUs", "kernel.shortShape.ctaOverheadUs"),
      entryCost: positive(short, "entryCost", "kernel.shortShape.entryCost"),
      dataPartialTileCost: positive(short, "dataPartialTileCost", "kernel.shortShape.dataPartialTileCost"),
      keptEntryCost: positive(short, "keptEntryCost", "kernel.shortShape.keptEntryCost"),
    };
  }
  if (!Number.isInteger(model.sms)) fail(file, `'sms' must be an integer, got ${model.sms}`, text, where("sms"));
  if (model.kernel.mainloopEfficiency > 1) fail(file, `'kernel.mainloopEfficiency' is a fraction of matmulTflops (at most 1), got ${model.kernel.mainloopEfficiency}`, text, where("mainloopEfficiency"));
  const shortKeys = model.kernel.shortShape ? SHORT_NUMBERS.map((k) => `kernel.shortShape.${k}`) : [];
  for (const key of [...NUMBERS, ...KERNEL_NUMBERS.map((k) => `kernel.${k}`), ...shortKeys]) {
    const s = sources[key];
    if (typeof s !== "string" || s.length === 0) fail(file, `'sources' has no entry for '${key}': say where the number comes from`, text, where("sources"));
    model.sources[key] = s;
  }
  return model;
}
