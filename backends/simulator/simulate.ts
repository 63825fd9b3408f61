// `spattn simulate`: how fast could this pattern be, before anyone writes a kernel. For each
// sequence length the compiler's exact block classification (no N^2 work for positional
// patterns) gives tile counts per head, in sequence order and in the token order spattn's
// kernel would use; the cost model (cost.ts) turns them into roofline and scheduled times.
// Data-dependent patterns run their selection and routing steps on synthetic Q and K unless
// real tensors are given, and the report says which.
import { headContexts, type Tensor4 } from "../../compiler/blockmask/build.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import type { HeadBlocks } from "../../compiler/blockmask/lib.js";
import { dependsOnHead, hasIndexSteps, isDynamic, selectionSplitsTiles, type PatternIR } from "../../compiler/ir.js";
import { choosePermutation, permutedIR, permutedLength, type Permutation } from "../../compiler/passes/permute.js";
import { specializeHead } from "../../compiler/passes/specialize.js";
import { randn } from "../../runtime/random.js";
import { builderWork, listWork } from "./builders.js";
import { attentionBytes, builderMs, rooflineMs, scheduleDense, scheduleKernel, SHORT_MAX_ENTRIES, SHORT_MAX_WAVES, tileFlops, type KernelPath, type Problem } from "./cost.js";
import { blockMap, classifyPlanned, countPairs, DEFAULT_PAIR_OPTIONS, DEFAULT_PLAN_OPTIONS, listedChunks, numKBlocks, numQBlocks, plannedTileCounts, rowWork, visitedArea, type Grid, type PairCount, type PairOptions, type PlanOptions, type RowPlan, type RowWork, type TileCounts, type BlockMap } from "./counts.js";
import type { DeviceModel } from "./device.js";
import { SCHEMA_ID, type HeadReport, type LengthReport, type PatternReport, type SimulationReport, type Tiles } from "./schema.js";

/** The tiles of spattn's CUDA kernel (backends/cuda/emit.ts, CUDA_TILE): the default. */
export const DEFAULT_BLOCK = { q: 128, k: 64 } as const;
/** Head dimension of synthetic Q and K (their scores only rank blocks; 16 keeps routing cheap). */
export const SYNTHETIC_DIM = 16;
export const SYNTHETIC_SEED = 1;

export interface SimulateSettings {
  device: DeviceModel;
  /** Heads; default: the given Q's, else the pattern's `heads` statement, else 16. */
  heads?: number;
  kvHeads?: number;
  dim?: number;
  dimV?: number;
  blockQ?: number;
  blockK?: number;
  /** Largest side of the block-mask pictures (cells). */
  mapSide?: number;
  pairs?: PairOptions;
  /** When a head's exact classification would be too costly, rows are sampled (plan). */
  plan?: PlanOptions;
  /** Called after each head of each length: for progress bars. */
  onProgress?: (done: number, total: number, label: string) => void;
}

export interface PatternInput {
  ir: PatternIR;
  file: string;
  seqLens: number[];
  /** Real Q and K for a data-dependent pattern (one sequence length). */
  q?: Tensor4;
  k?: Tensor4;
}

interface Resolved {
  problem: (n: number) => Problem;
  heads: number;
  kvHeads: number;
}

function resolve(input: Pick<PatternInput, "ir" | "q">, s: SimulateSettings): Resolved {
  const heads = s.heads ?? input.q?.shape[1] ?? input.ir.heads ?? 16;
  const kvHeads = s.kvHeads ?? heads;
  const dim = s.dim ?? 128;
  return {
    heads,
    kvHeads,
    problem: (n) => ({ seqLen: n, heads, kvHeads, dim, dimV: s.dimV ?? dim, blockQ: s.blockQ ?? DEFAULT_BLOCK.q, blockK: s.blockK ?? DEFAULT_BLOCK.k, bytesPerElement: 2 }),
  };
}

/** One head's classification, in sequence order and in the kernel's order. */
interface HeadResult {
  tiles: TileCounts;
  /** False when the rows were sampled (see RowPlan). */
  tilesExact: boolean;
  pairs: PairCount;
  /** `halves`: the tiles of each 64-row half, where a selection splits the kernel's tiles;
   *  `chunks`: listedChunks, what the one-pass list builder walks (0 for positional patterns,
   *  whose lists are built ahead of time). */
  kernel: { tiles: TileCounts; work: RowWork; halves?: RowWork; area: number; keyBlocksTouched: number; chunks: number };
  blocks: HeadBlocks;
  plan: RowPlan;
}

function describePermutation(p: Permutation | undefined): string | null {
  if (!p) return null;
  if (p.kind === "residue") return `residue classes of dilation ${p.dilation} (each class a dense sub-problem, padded to ${p.classTile} tokens)`;
  return `${p.ph} x ${p.pw} patches of the ${p.sizes.join(" x ")} layout`;
}

function syntheticInputs(ir: PatternIR, heads: number, n: number): { q?: Tensor4; k?: Tensor4 } {
  if (!isDynamic(ir)) return {};
  const shape = [1, heads, n, SYNTHETIC_DIM];
  return { q: { shape, data: randn(heads * n * SYNTHETIC_DIM, SYNTHETIC_SEED) }, k: { shape, data: randn(heads * n * SYNTHETIC_DIM, SYNTHETIC_SEED + 1) } };
}

/** For each head, the first head with the same mask (itself when none before it). */
function headClasses(ir: PatternIR, heads: number): number[] {
  if (!dependsOnHead(ir)) return new Array<number>(heads).fill(0);
  // Those arrays differ per head, through the data or the seed's per-head hash.
  if (hasIndexSteps(ir)) return Array.from({ length: heads }, (_, h) => h);
  const first = new Map<string, number>();
  return Array.from({ length: heads }, (_, h) => {
    const key = JSON.stringify(specializeHead(ir.mask, h));
    if (!first.has(key)) first.set(key, h);
    return first.get(key)!;
  });
}

/** IR nodes of a mask: what one evaluation of it walks. */
function maskSize(e: unknown): number {
  if (!e || typeof e !== "object") return 0;
  let c = "op" in e ? 1 : 0;
  for (const v of Object.values(e)) c += Array.isArray(v) ? v.reduce((a: number, x: unknown) => a + maskSize(x), 0) : maskSize(v);
  return c;
}

function keyBlocksTouched(h: HeadBlocks, nkb: number): number {
  const seen = new Uint8Array(nkb);
  for (const list of [h.full.idx, h.partial.idx]) for (let e = 0; e < list.length; e++) seen[list[e]] = 1;
  let c = 0;
  for (let j = 0; j < nkb; j++) c += seen[j];
  return c;
}

function tilesOf(counts: TileCounts[]): Tiles {
  const sum = { empty: 0, partial: 0, full: 0 };
  for (const c of counts) {
    sum.empty += c.empty;
    sum.partial += c.partial;
    sum.full += c.full;
  }
  const total = sum.empty + sum.partial + sum.full;
  return { ...sum, total, density: total > 0 ? (sum.partial + sum.full) / total : 0 };
}

/** Simulates one pattern at each of its sequence lengths. */
export function simulatePattern(input: PatternInput, s: SimulateSettings, progress: { done: number; total: number }): PatternReport {
  const { ir } = input;
  const r = resolve(input, s);
  const dynamic = isDynamic(ir);
  const pairOptions = s.pairs ?? DEFAULT_PAIR_OPTIONS;
  // Heads whose masks are the same once specialised share one classification.
  const sameAs = headClasses(ir, r.heads);
  const mapLength = Math.min(...input.seqLens);
  let transform: string | null = null;
  const lengths: LengthReport[] = [];
  for (const n of input.seqLens) {
    const p = r.problem(n);
    const grid: Grid = { n, blockQ: p.blockQ, blockK: p.blockK };
    const data = input.q && input.k ? { q: input.q, k: input.k } : syntheticInputs(ir, r.heads, n);
    const opts = { seqLen: n, heads: r.heads, fileName: input.file, ...data };
    const ctxs = headContexts(ir, opts);
    const perm = choosePermutation(ir, p.blockQ, p.blockK);
    transform = describePermutation(perm);
    const nK = perm ? permutedLength(perm, n) : n;
    const kIR = perm ? permutedIR(ir, perm, n) : ir;
    const kCtxs = perm ? headContexts(kIR, { ...opts, seqLen: nK }) : ctxs;
    const kGrid: Grid = { n: nK, blockQ: p.blockQ, blockK: p.blockK };
    const results: HeadResult[] = [];
    for (let h = 0; h < r.heads; h++) {
      if (sameAs[h] < h) {
        results.push(results[sameAs[h]]);
      } else {
        const m = maskEval(ir.mask, ctxs[h]);
        const planOptions = s.plan ?? DEFAULT_PLAN_OPTIONS;
        const { blocks, plan } = classifyPlanned(m, grid, maskSize(ir.mask), planOptions);
        const k = perm ? classifyPlanned(maskEval(kIR.mask, kCtxs[h]), kGrid, maskSize(kIR.mask), planOptions) : { blocks, plan };
        const half = !perm && selectionSplitsTiles(ir, p.blockQ, p.blockK) ? classifyPlanned(m, { ...grid, blockQ: p.blockQ / 2 }, maskSize(ir.mask), planOptions) : undefined;
        results.push({
          tiles: plannedTileCounts(blocks, grid, plan),
          tilesExact: !plan.sampled && !k.plan.sampled,
          pairs: countPairs(m, blocks, grid, { ...pairOptions, seed: pairOptions.seed + h }, plan),
          kernel: { tiles: plannedTileCounts(k.blocks, kGrid, k.plan), work: rowWork(k.blocks, k.plan), halves: half && rowWork(half.blocks, half.plan), area: visitedArea(k.blocks, kGrid, k.plan), keyBlocksTouched: keyBlocksTouched(k.blocks, numKBlocks(kGrid)), chunks: dynamic ? listedChunks(k.blocks, k.plan) : 0 },
          blocks,
          plan,
        });
      }
      progress.done++;
      s.onProgress?.(progress.done, progress.total, `${ir.name} N=${n} head ${h}`);
    }
    lengths.push(lengthReport(s.device, p, ir, results, n === mapLength ? (s.mapSide ?? 48) : 0, grid, kGrid, { mapped: perm !== undefined, dataPredicate: hasIndexSteps(ir), selectionSplitsTiles: selectionSplitsTiles(ir, p.blockQ, p.blockK), kernelTiles: p.blockQ === DEFAULT_BLOCK.q && p.blockK === DEFAULT_BLOCK.k }));
  }
  return {
    file: input.file,
    pattern: ir.name,
    params: ir.params,
    heads: r.heads,
    kvHeads: r.kvHeads,
    data: !dynamic ? "positional" : input.q ? "tensors" : "synthetic",
    layoutTransform: transform,
    lengths,
  };
}

function lengthReport(d: DeviceModel, p: Problem, ir: PatternIR, results: HeadResult[], mapSide: number, grid: Grid, kGrid: Grid, path: KernelPath): LengthReport {
  const n = p.seqLen;
  const H = results.length;
  const denseTiles = numQBlocks(grid) * numKBlocks(grid);
  const kernelTiles = tilesOf(results.map((x) => x.kernel.tiles));
  const allowed = results.reduce((a, x) => a + x.pairs.allowed, 0);
  // Heads sharing one result share its sampling error: independent across distinct results only.
  const copies = new Map<HeadResult, number>();
  for (const x of results) copies.set(x, (copies.get(x) ?? 0) + 1);
  const stdErr = Math.sqrt([...copies].reduce((a, [x, c]) => a + (c * x.pairs.stdErr) ** 2, 0));
  const area = results.reduce((a, x) => a + x.kernel.area, 0);
  const entries = kernelTiles.partial + kernelTiles.full;
  const keyFraction = results.reduce((a, x) => a + x.kernel.keyBlocksTouched, 0) / (H * Math.max(1, numKBlocks(kGrid)));
  // A data-dependent pattern's tile lists are built per call too, after its index steps.
  const steps = builderWork(ir, p);
  const chunks = results.reduce((a, x) => a + x.kernel.chunks, 0);
  const builders = steps.length > 0 ? [...steps, listWork(H, numQBlocks(kGrid), numKBlocks(kGrid), chunks, entries)] : steps;
  const halves = results.every((x) => x.kernel.halves) ? results.map((x) => x.kernel.halves!) : undefined;
  const schedule = scheduleKernel(d, p, results.map((x) => x.kernel.work), path, undefined, halves);
  // 64-row CTAs that run their own entries compute half tiles.
  const sum = (a: Int32Array): number => a.reduce((x, y) => x + y, 0);
  const halfEntries = halves && schedule.ctaRows === p.blockQ / 2 ? halves.reduce((a, w) => a + sum(w.full) + sum(w.partial), 0) : undefined;
  const sparseFlops = halfEntries === undefined ? entries * tileFlops(p) : (halfEntries * tileFlops(p)) / 2;
  const flops = { sparse: sparseFlops, dense: H * denseTiles * tileFlops(p), allowed: 2 * allowed * (p.dim + p.dimV) };
  const bytes = { sparse: attentionBytes(p, keyFraction, entries + H * numQBlocks(kGrid)), dense: attentionBytes(p) };
  const denseSchedule = scheduleDense(d, p);
  const denseRoofline = rooflineMs(d, flops.dense, bytes.dense);
  const sparseRoofline = rooflineMs(d, flops.sparse, bytes.sparse);
  // A schedule cannot beat its roofline (a very sparse pattern is bound by reading Q, K, V).
  const timeMs = {
    denseRoofline,
    sparseRoofline,
    dense: Math.max(denseSchedule.ms, denseRoofline),
    sparse: Math.max(schedule.ms, sparseRoofline),
    indexBuild: builderMs(d, builders),
  };
  // Heads that share a mask share one result object: their pictures are drawn once.
  const maps = new Map<HeadResult, BlockMap>();
  const alone = new Map<HeadResult, number>();
  const headReports: HeadReport[] = results.map((x, h) => {
    const kEntries = x.kernel.tiles.partial + x.kernel.tiles.full;
    if (!alone.has(x)) alone.set(x, results.every((y) => y === x) ? timeMs.sparse : scheduleKernel(d, p, results.map(() => x.kernel.work), path, undefined, x.kernel.halves && results.map(() => x.kernel.halves!)).ms);
    const headTime = alone.get(x)!;
    const report: HeadReport = {
      head: h,
      tokenDensity: n > 0 ? x.pairs.allowed / (n * n) : 0,
      tokenDensityExact: x.pairs.exact,
      tokenDensityStdErr: n > 0 ? x.pairs.stdErr / (n * n) : 0,
      tileDensity: denseTiles > 0 ? (x.tiles.partial + x.tiles.full) / denseTiles : 0,
      tiles: x.tiles,
      tilesExact: x.tilesExact,
      speedupBound: ratio(timeMs.denseRoofline, rooflineMs(d, H * kEntries * tileFlops(p), attentionBytes(p, x.kernel.keyBlocksTouched / Math.max(1, numKBlocks(kGrid)), H * (kEntries + numQBlocks(kGrid))))),
      speedupEstimate: ratio(timeMs.dense, headTime + timeMs.indexBuild),
    };
    if (mapSide > 0) {
      if (!maps.has(x)) maps.set(x, blockMap(x.blocks, grid, mapSide, x.plan));
      report.map = maps.get(x);
    }
    return report;
  });
  return {
    seqLen: n,
    tokenDensity: n > 0 ? allowed / (H * n * n) : 0,
    tokenDensityExact: results.every((x) => x.pairs.exact),
    tokenDensityStdErr: n > 0 ? stdErr / (H * n * n) : 0,
    tileDensity: tilesOf(results.map((x) => x.tiles)).density,
    tiles: tilesOf(results.map((x) => x.tiles)),
    tilesExact: results.every((x) => x.tilesExact),
    kernelTiles,
    paddingWaste: area > 0 ? 1 - allowed / area : 0,
    flops,
    bytes,
    timeMs,
    schedule,
    denseSchedule,
    indexBuilders: builders,
    speedupBound: ratio(timeMs.denseRoofline, timeMs.sparseRoofline),
    speedupEstimate: ratio(timeMs.dense, timeMs.sparse + timeMs.indexBuild),
    heads: headReports,
  };
}

/** a / b, with a pattern that computes nothing reported as 0 speedup rather than Infinity. */
function ratio(a: number, b: number): number {
  return b > 0 ? a / b : 0;
}

/** The sentences a report rests on, from the device model and the settings. */
export function assumptions(d: DeviceModel, patterns: PatternReport[], p: Problem, pairs: PairOptions, plan: PlanOptions): string[] {
  const k = d.kernel;
  const out = [
    `Times model spattn's FlashAttention-style kernel on ${d.name} (${d.description}): one CTA per ${p.blockQ}-row query tile and head, one CTA per SM, CTAs handed in launch order to the first SM that frees; a CTA costs ${k.ctaOverheadUs} us plus ${k.mainloopEfficiency} of ${d.matmulTflops} TFLOP/s over ${d.sms} SMs per full ${p.blockQ} x ${p.blockK} tile, ${k.partialTileCost}x that per partial tile (${k.dataPartialTileCost}x where the predicate reads data-dependent indices), ${k.mappedTileCost}x per tile in a permuted token order; list entries narrower than ${k.stepKeys} keys are paired into steps; each kernel launch adds ${k.launchUs} us.`,
    ...(k.shortShape
      ? [`On ${d.name} the kernel also has 64-row CTAs, two per SM, one 64-key entry per step, each costing ${k.shortShape.entryCost}x a full ${p.blockQ} x ${p.blockK} tile of SM time (${k.shortShape.dataPartialTileCost}x that for a partial entry whose predicate reads data-dependent indices) plus ${k.shortShape.ctaOverheadUs} us a CTA. As its launch does, the model takes them where a block selection splits the ${DEFAULT_BLOCK.q} x ${DEFAULT_BLOCK.k} tiles, or where no list holds more than ${SHORT_MAX_ENTRIES} entries of a kind and the ${DEFAULT_BLOCK.q}-row CTAs would fill at most ${SHORT_MAX_WAVES} waves (schedule.ctaRows says which).`]
      : []),
    "The dense reference is the same kernel with every tile full (FlashAttention with no mask, not causal); speedups are dense time over sparse time.",
    "The bound is the roofline of the FLOPs in the non-empty tiles of the kernel's token order (partial tiles counted as full, no fixed costs, perfect balance) against the dense roofline; the estimate adds fixed costs, partial tiles, wave quantization, load imbalance and index building.",
    "DRAM bytes assume ideal reuse: Q, K and V read once (K and V only for key tiles some query tile visits), O and the log-sum-exp written once, plus the block lists.",
    `Inputs are ${p.bytesPerElement}-byte (bf16 or fp16) with D = ${p.dim}, Dv = ${p.dimV}.`,
    "Every predicate is given the same cost, fitted where tiles are gathered (NATTEN). On the lent H100, all-partial patterns in sequence order (per-head cases, a stride) ran up to 36% slower than predicted (bench/results/simulator/heldout.md).",
  ];
  // A Q tile and two stages of K and V: the least a pipelined kernel keeps in shared memory.
  const smem = (p.blockQ * p.dim + 2 * p.blockK * (p.dim + p.dimV)) * p.bytesPerElement;
  if (smem > d.sharedMemoryKiB * 1024) out.push(`Warning: a ${p.blockQ} x ${p.blockK} tile at D = ${p.dim} needs ${Math.ceil(smem / 1024)} KiB of shared memory for Q and two stages of K and V, more than ${d.name}'s ${d.sharedMemoryKiB} KiB per SM; no such kernel exists there, so its estimate is hypothetical.`);
  if (patterns.some((x) => x.layoutTransform)) out.push("Where a layout transform is named, the kernel's tiles (and the estimate) are in that token order; token and tile densities stay in sequence order, on FlexAttention's grid.");
  if (patterns.some((x) => x.data === "synthetic")) out.push(`Data-dependent steps ran on synthetic Gaussian Q and K (head dim ${SYNTHETIC_DIM}, seed ${SYNTHETIC_SEED}): a real model's selections differ; top-k keeps the same number of blocks whatever the data, top-p, routing and vertical-slash estimates do not. Index building is modelled from its FP64 operations and DRAM bytes.`);
  if (patterns.some((x) => x.lengths.some((l) => !l.tilesExact))) out.push(`Where tile counts are marked as sampled, classifying every query-block row of a head would have taken more than ${plan.maxWork} node evaluations (box evaluations times the mask's size; partial tiles all over the grid): evenly spaced rows within that budget were classified, each standing for its run of rows.`);
  if (patterns.some((x) => x.lengths.some((l) => !l.tokenDensityExact))) out.push(`Token densities marked as sampled count ${pairs.samples} random rows of partial tiles (full tiles exactly), with their standard error; below ${pairs.exactRows} partial-tile rows a head is counted exactly.`);
  return out;
}

/** Simulates every pattern; the report the renderers take. */
export function simulate(inputs: PatternInput[], s: SimulateSettings, generator = "spattn"): SimulationReport {
  const total = inputs.reduce((a, x) => a + x.seqLens.length * resolve(x, s).heads, 0);
  const progress = { done: 0, total };
  const patterns = inputs.map((x) => simulatePattern(x, s, progress));
  const p = resolve(inputs[0] ?? { ir: { heads: 1 } as PatternIR }, s).problem(0);
  const d = s.device;
  return {
    schema: SCHEMA_ID,
    generator,
    device: { name: d.name, description: d.description, sms: d.sms, matmulTflops: d.matmulTflops, bandwidthTBs: d.bandwidthTBs, fp64Tflops: d.fp64Tflops, fp32Tflops: d.fp32Tflops, kernel: d.kernel, sources: d.sources },
    settings: { dim: p.dim, dimV: p.dimV, blockQ: p.blockQ, blockK: p.blockK, bytesPerElement: p.bytesPerElement },
    assumptions: assumptions(d, patterns, p, s.pairs ?? DEFAULT_PAIR_OPTIONS, s.plan ?? DEFAULT_PLAN_OPTIONS),
    patterns,
  };
}
