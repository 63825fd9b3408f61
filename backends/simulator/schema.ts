// The simulator's report: one value that the JSON, Markdown, HTML and terminal renderers all
// read. docs/simulate.md documents every field; its test checks the two agree.
import type { Value } from "../../compiler/ir.js";
import type { BuilderWork, Schedule } from "./cost.js";
import type { BlockMap, TileCounts } from "./counts.js";
import type { DeviceModel } from "./device.js";

export const SCHEMA_ID = "spattn.simulate/1";

export interface SimulationReport {
  schema: typeof SCHEMA_ID;
  generator: string;
  /** The device model, less what only the kernel's feasibility reads (shared memory). */
  device: Omit<DeviceModel, "sharedMemoryKiB">;
  settings: {
    dim: number;
    dimV: number;
    blockQ: number;
    blockK: number;
    bytesPerElement: number;
  };
  /** What the numbers rest on, in sentences. */
  assumptions: string[];
  patterns: PatternReport[];
}

export interface PatternReport {
  file: string;
  pattern: string;
  params: Record<string, Value>;
  heads: number;
  kvHeads: number;
  /** Where data-dependent steps got Q and K: none needed, synthetic, or the user's tensors. */
  data: "positional" | "synthetic" | "tensors";
  /** The token order the modelled kernel uses, when not sequence order. */
  layoutTransform: string | null;
  lengths: LengthReport[];
}

export type Tiles = TileCounts & { total: number; density: number };

export interface LengthReport {
  seqLen: number;
  /** Allowed pairs / N^2, the mean over heads. */
  tokenDensity: number;
  tokenDensityExact: boolean;
  tokenDensityStdErr: number;
  /** Non-empty tiles / all tiles of the N x N grid, the mean over heads. */
  tileDensity: number;
  /** Summed over heads, sequence order. */
  tiles: Tiles;
  /** False when some head's rows were sampled (too costly to classify every row). */
  tilesExact: boolean;
  /** Summed over heads, in the kernel's token order (equal to `tiles` without a transform). */
  kernelTiles: Tiles;
  /** Share of the pairs in the kernel's non-empty tiles that the mask disallows. */
  paddingWaste: number;
  flops: { sparse: number; dense: number; allowed: number };
  bytes: { sparse: number; dense: number };
  timeMs: { denseRoofline: number; sparseRoofline: number; dense: number; sparse: number; indexBuild: number };
  schedule: Schedule;
  denseSchedule: Schedule;
  indexBuilders: BuilderWork[];
  speedupBound: number;
  speedupEstimate: number;
  heads: HeadReport[];
}

export interface HeadReport {
  head: number;
  tokenDensity: number;
  tokenDensityExact: boolean;
  tokenDensityStdErr: number;
  tileDensity: number;
  tiles: TileCounts;
  tilesExact: boolean;
  /** As if every head had this head's mask. */
  speedupBound: number;
  speedupEstimate: number;
  /** The block mask, downsampled; only at the report's picture length. */
  map?: BlockMap;
}
