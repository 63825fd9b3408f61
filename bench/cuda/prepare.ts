// Prepares a GPU run (the GPU machine has no Node): generated .cu/.h files, block lists for
// the kernel's tiles, dense masks and inputs for the numerics checks, and the data-dependent
// arrays of dynamic patterns, all under bench/cuda/cases/ (carried with the run).
//
//   npx tsx bench/cuda/prepare.ts && (device) bash bench/cuda/gpu_run.sh
//   npx tsx bench/cuda/prepare.ts --heldout   (the simulator's held-out cases: bench/simulate/)
//   npx tsx bench/cuda/prepare.ts --shapes    (short lists, for the sm_90a kernel's CTA shapes)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { compile } from "../../compiler/compile.js";
import { buildDenseMask, type Tensor4 } from "../../compiler/blockmask/build.js";
import { isDynamic, type PatternIR } from "../../compiler/ir.js";
import { emitCuda, CUDA_TILE } from "../../backends/cuda/emit.js";
import { dynFieldNames } from "../../backends/inputs.js";
import { encodeNpy } from "../../runtime/npy.js";
import { roundToBf16 } from "../../runtime/reference.js";
import { cudaInputs, type CudaTiles } from "../../backends/cuda/inputs.js";
import { randn, rng } from "../../runtime/random.js";
import { HELDOUT_CASES, randomBlocks } from "../simulate/heldout-cases.js";
import { loadDevice } from "../../backends/simulator/device.js";
import { simulate } from "../../backends/simulator/simulate.js";
import { gpuSelections } from "../../backends/cuda/index-builders.js";
import { headContexts } from "../../compiler/blockmask/build.js";
import { exp64 } from "../../compiler/blockmask/lib.js";

// --heldout: only the simulator's held-out timing cases, into their own folder; --shapes: only
// timing cases of short lists (shapeCases).
const HELDOUT = process.argv.includes("--heldout");
const SHAPES = process.argv.includes("--shapes");
const OUT = HELDOUT ? "bench/cuda/cases_heldout" : SHAPES ? "bench/cuda/cases_shapes" : "bench/cuda/cases";
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

/** Gzipped .npy (numpy reads it through gzip.open): masks and block lists shrink a lot. */
function save(name: string, dtype: "<i4" | "|u1" | "<f4" | "<f8" | "|b1", shape: number[], data: ArrayLike<number>): void {
  writeFileSync(join(OUT, `${name}.gz`), gzipSync(encodeNpy({ dtype, shape, data }), { level: 6 }));
}

/** [2, heads, nqt, 1 + stride] int32: per row the count, then the indices (partial, then full). */
function saveTiles(name: string, t: CudaTiles): void {
  const w = 1 + t.stride;
  const rows = t.tileHeads * t.numQTiles;
  const data = new Int32Array(2 * rows * w);
  [[t.kvNum, t.kvIdx], [t.fullNum, t.fullIdx]].forEach(([num, idx], kind) => {
    for (let r = 0; r < rows; r++) {
      data[(kind * rows + r) * w] = num[r];
      data.set(idx.subarray(r * t.stride, r * t.stride + num[r]), (kind * rows + r) * w + 1);
    }
  });
  save(name, "<i4", [2, t.tileHeads, t.numQTiles, w], data);
}

function load(example: string, set: Record<string, string> = {}): PatternIR {
  return compile(readFileSync(`examples/${example}.spattn`, "utf8"), { fileName: `examples/${example}.spattn`, pattern: example, set });
}

interface Manifest {
  checks: object[];
  timings: object[];
}
const manifest: Manifest = { checks: [], timings: [] };
const emitted = new Set<string>();

/** One kernel per distinct IR: parameters are baked into the code (a window of N differs per N). */
function emit(id: string, ir: PatternIR): string {
  const out = emitCuda(ir, { sourceName: id });
  const stem = `${id}_${createHash("sha1").update(JSON.stringify(ir)).digest("hex").slice(0, 8)}`;
  if (!emitted.has(stem)) {
    writeFileSync(join(OUT, `${stem}.cu`), out.cu.replace(`#include "${out.stem}.h"`, `#include "${stem}.h"`));
    writeFileSync(join(OUT, `${stem}.h`), out.header);
    emitted.add(stem);
  }
  return stem;
}

function prefixOf(ir: PatternIR): string {
  return `spattn_${ir.name.replace(/[^A-Za-z0-9_]/g, "_")}`;
}

/** Changes a case's random Q and K ([heads][n][d], in place) before anything is computed. */
type Reshape = (q: Float32Array, k: Float32Array, n: number, d: number) => void;

/** Numerics case: small n, dense mask, inputs, tiles and dynamic arrays. */
function check(id: string, example: string, set: Record<string, string>, n: number, heads: number, d: number, permute = true, reshape?: Reshape): void {
  const ir = load(example, set);
  const stem = emit(id, ir);
  const tag = `${id}_n${n}_h${heads}_d${d}`;
  const q = randn(heads * n * d, 1 + n);
  const k = randn(heads * n * d, 2 + n);
  reshape?.(q, k, n, d);
  const v = randn(heads * n * d, 3 + n);
  const shape = [1, heads, n, d];
  const qt: Tensor4 = { shape, data: q };
  const kt: Tensor4 = { shape, data: k };
  const opts = { seqLen: n, heads, q: qt, k: kt };
  // Positional patterns get fresh random inputs on the GPU; dynamic ones need these.
  if (isDynamic(ir)) {
    save(`${tag}.q.npy`, "<f4", shape, q);
    save(`${tag}.k.npy`, "<f4", shape, k);
    save(`${tag}.v.npy`, "<f4", shape, v);
  }
  save(`${tag}.mask.npy`, "|b1", [heads, n, n], buildDenseMask(ir, opts).data);
  const inputs = cudaInputs(ir, { ...opts, permute });
  saveTiles(`${tag}.tiles.npy`, inputs.tiles);
  if (inputs.map) save(`${tag}.map.npy`, "<i4", [inputs.map.length], inputs.map);
  const map = inputs.map !== undefined;
  for (const { name, data } of inputs.dyn) save(`${tag}.${name}.npy`, data instanceof Int32Array ? "<i4" : "|u1", [data.length], data);
  const dyn = inputs.dyn.map((x) => x.name);
  // What the GPU index builders must reproduce: the CPU's results on bf16-rounded Q and K
  // (kept blocks of top-k selections, clusters of routes), from one set of head contexts.
  const builders = d === 64 ? gpuSelections(ir).map((s) => ({ id: s.id, qblock: s.qblock, kblock: s.kblock })) : [];
  const routeBuilders = d === 64 ? ir.routes.map((r) => ({ id: r.id })) : [];
  const vsBuilders = d === 64 ? ir.verticalSlashes.map((v) => ({ id: v.id })) : [];
  if (builders.length || routeBuilders.length || vsBuilders.length) {
    const ctxs = headContexts(ir, { ...opts, q: { shape, data: roundToBf16(q) }, k: { shape, data: roundToBf16(k) } });
    for (const b of builders) {
      const size = ctxs[0].selections[b.id].kept.length;
      const all = new Uint8Array(heads * size);
      ctxs.forEach((c, h) => all.set(c.selections[b.id].kept, h * size));
      save(`${tag}.sel${b.id}_kept_bf16.npy`, "|u1", [all.length], all);
    }
    for (const r of routeBuilders) {
      for (const side of ["q", "k"] as const) {
        const all = new Int32Array(heads * n);
        ctxs.forEach((c, h) => all.set(c.routes[r.id][side], h * n));
        save(`${tag}.route${r.id}_${side}_bf16.npy`, "<i4", [all.length], all);
      }
    }
    for (const v of vsBuilders) {
      for (const part of ["cols", "diags"] as const) {
        const all = new Uint8Array(heads * n);
        ctxs.forEach((c, h) => all.set(c.vslash[v.id][part], h * n));
        save(`${tag}.vs${v.id}_${part}_bf16.npy`, "|u1", [all.length], all);
      }
    }
  }
  manifest.checks.push({ id, tag, stem, prefix: prefixOf(ir), n, heads, d, dyn, inputs: isDynamic(ir), map, builders, routeBuilders, vsBuilders });
}

/** Timing case: large n, tiles only (positional or seeded patterns). */
function timing(id: string, example: string, set: Record<string, string>, n: number, heads: number, flex: string, pairs: number): void {
  const ir = load(example, set);
  const stem = emit(id, ir);
  const tag = `${id}_n${n}`;
  const t0 = performance.now();
  const inputs = cudaInputs(ir, { seqLen: n, heads });
  const ms = performance.now() - t0;
  saveTiles(`${tag}.tiles.npy`, inputs.tiles);
  if (inputs.map) save(`${tag}.map.npy`, "<i4", [inputs.map.length], inputs.map);
  const map = inputs.map !== undefined;
  manifest.timings.push({ tag, stem, prefix: prefixOf(ir), n, heads, d: 128, flex, pairs, map, blockMaskMs: Number(ms.toFixed(1)) });
}

/** The numerics checks, the CUDA issue's benchmark and exp64's bits: what gpu_run.sh runs. */
function standardCases(): void {
  // ---- numerics: every example, n not a multiple of the tile, both head dims
  const checks: [string, string, Record<string, string>, number, number][] = [
    ["causal", "causal", {}, 1000, 2],
    ["sliding_window", "sliding_window", { window: "200" }, 1000, 2],
    ["streaming", "streaming", { window: "150" }, 1000, 2],
    ["dilated", "dilated", { window: "300", dilation: "3" }, 1000, 2],
    ["strided", "strided", { stride: "64" }, 1000, 2],
    ["document", "document", {}, 1000, 2],
    // More ends than the predicate compares inline: a device table, searched (backends/cuda/spell.ts).
    ["documents20", "document", { lengths: `[${Array.from({ length: 20 }, (_, i) => 30 + ((i * 17) % 40)).join(", ")}]` }, 1000, 2],
    ["longformer", "longformer", {}, 1000, 2],
    ["prefix_lm", "prefix_lm", {}, 1000, 2],
    ["neighborhood2d", "neighborhood2d", {}, 1024, 2],
    ["video3d", "video3d", {}, 2048, 2],
    ["mixed_heads", "mixed_heads", {}, 1000, 4],
    ["s2_attention", "s2_attention", {}, 1000, 8],
    ["bigbird", "bigbird", {}, 1000, 2],
    ["block_topk", "block_topk", {}, 1000, 2],
    ["hierarchical_topk", "hierarchical_topk", {}, 1000, 2],
    ["moba", "moba", {}, 1000, 2],
    ["nsa", "nsa", { window: "128", selected: "4" }, 1000, 2],
    // The GPU choice's two ways: per-lane lists several deep (256 key blocks, top 24), and rounds
    // (a count above CHOOSE_IN_REGISTERS).
    ["block_topk_deep", "block_topk", { block: "8", topk: "24" }, 2048, 1],
    ["cumulative_mass", "cumulative_mass", { block: "32", mass: "0.7" }, 1000, 2],
    ["block_topk_rounds", "block_topk", { block: "16", topk: "40" }, 1000, 2],
    ["routing", "routing", {}, 1000, 2],
    ["minference", "minference", { verticals: "100", slashes: "200" }, 1000, 2],
  ];
  for (const [id, ex, set, n, h] of checks) {
    for (const d of [64, 128]) if (d === 64 || !isDynamic(load(ex, set))) check(id, ex, set, n, h, d);
    // A second size: a multiple of the tile where the first is not (layouts keep their size).
    if (n % CUDA_TILE.blockQ !== 0) check(id, ex, set, 1536, h, 64);
  }
  // The dilated pattern in sequence order too (the residue-gathered order is the default).
  for (const d of [64, 128]) check("dilated_seq", "dilated", { window: "300", dilation: "3" }, 1000, 2, d, false);
  // n = 1 and a fully masked row (document tokens past the last document see only themselves).
  check("causal", "causal", {}, 1, 1, 64);
  check("empty_rows", "sliding_window", { window: "0" }, 300, 1, 64);
  // Block scores the GPU's float32 filter cannot decide: exact ties, all-zero rows, tiny means.
  check("block_topk_ties", "block_topk", {}, 1000, 2, 64, true, awkwardScores(64));

  // ---- timings: the benchmark of the CUDA issue (bf16, H = 16, D = 128)
  for (const n of [8192, 32768, 65536]) {
    timing("causal", "causal", {}, n, 16, "causal", (n * (n + 1)) / 2);
    timing("swa1024", "sliding_window", { window: "1024" }, n, 16, "swa1024_causal", 1024 * n - (1024 * 1023) / 2);
    timing("sink64_swa1024", "streaming", { sinks: "64", window: "1024" }, n, 16, "sink64_swa1024", -1);
    timing("dilated4", "dilated", { window: String(n), dilation: "4" }, n, 16, "dilated4_causal", -1);
    timing("random10pct", "bigbird", randomBlocks(n, 10), n, 16, "topk10pct", -1);
  }
  dynamicBlockTopk(65536);
  timing("natten2d_k13", "neighborhood2d", { height: "256", width: "256", kernel: "13" }, 65536, 16, "natten2d_k13", 65536 * 169);

  // exp64 on the device must give the CPU's bits: random arguments over its whole range, the
  // softmax's range [-50, 0] densely, and the edges.
  {
    const r = rng(64);
    const xs: number[] = [0, -0, 1, -1, 709.7, 709.79, -708, -709, -720, -745, -745.2, -746, 1e-300, -1e-300, Math.LN2, -Math.LN2, 0.5 * Math.LN2];
    for (let i = 0; i < 100000; i++) xs.push(-750 + 1460 * r());
    for (let i = 0; i < 100000; i++) xs.push(-50 * r());
    save("exp64_x.npy", "<f8", [xs.length], xs);
    save("exp64_y.npy", "<f8", [xs.length], xs.map(exp64));
  }
}

/**
 * Inputs whose block scores defeat the GPU choice's float32 filter (choose_row_filtered), for
 * blocks of `block` rows in every head: key blocks 3 and up repeat blocks 0-2 row for row
 * (equal means: ties, broken by the lower block), query block 5 is zero (every score 0),
 * key block 7 and query block 9 are scaled by 2^-70 (means too small for float32 products:
 * scored in float64 only).
 */
function awkwardScores(block: number): Reshape {
  return (q, k, n, d) => {
    const heads = q.length / (n * d);
    const rows = (h: number, b: number) => [h * n * d + b * block * d, h * n * d + Math.min(n, (b + 1) * block) * d];
    for (let h = 0; h < heads; h++) {
      for (let b = 3; b * block < n; b++) {
        const [to, end] = rows(h, b);
        const from = rows(h, b % 3)[0];
        k.copyWithin(to, from, from + (end - to));
      }
      const scale = (x: Float32Array, b: number, by: number) => {
        const [lo, hi] = rows(h, b);
        for (let i = lo; i < hi; i++) x[i] *= by;
      };
      scale(q, 5, 0);
      scale(k, 7, 2 ** -70);
      scale(q, 9, 2 ** -70);
    }
  };
}

/**
 * The dynamic block top-k example: the GPU builds the kept blocks (timed on its own), the
 * harness derives the tile lists of `kept and causal` from them.
 */
function dynamicBlockTopk(n: number, topk?: number): void {
  const set: Record<string, string> = topk === undefined ? {} : { topk: String(topk) };
  const ir = load("block_topk", set);
  const tag = `block_topk_dyn${topk === undefined ? "" : `_k${topk}`}_n${n}`;
  manifest.timings.push({ tag, stem: emit("block_topk", ir), prefix: prefixOf(ir), n, heads: 16, d: 128, flex: "dynamic_block_topk", pairs: -1, map: false, blockMaskMs: 0, dynamic: { block: 64, builders: gpuSelections(ir).map((s) => s.id), fields: dynFieldNames(ir) } });
}

/**
 * Short lists, where a CTA's fixed costs weigh most: the sm_90a kernel's two CTA shapes (64 and
 * 128 rows) are timed on these (SPATTN_SM90_ROWS) to choose between them by the lists' length.
 */
function shapeCases(): void {
  for (const n of [8192, 32768]) {
    for (const pct of [2.5, 5, 10, 20]) {
      timing(`random${pct}pct`, "bigbird", randomBlocks(n, pct), n, 16, "topk10pct", -1);
    }
  }
  for (const n of [8192, 65536]) timing("swa256", "sliding_window", { window: "256" }, n, 16, "none", 256 * n - (256 * 255) / 2);
  dynamicBlockTopk(8192);
  dynamicBlockTopk(65536, 8);
  dynamicBlockTopk(65536, 16);
}

/**
 * Timing cases no simulator parameter was fitted to (bench/simulate/heldout-cases.ts):
 * spattn's kernel and SDPA's dense attention are timed on them, and bench/simulate/heldout.ts
 * compares the simulator's predictions with those times.
 */
function heldoutCases(): void {
  const device = loadDevice("h100");
  for (const c of HELDOUT_CASES) {
    // Allowed pairs per head (for the harness's effective TFLOP/s), as the simulator counts them.
    const ir = load(c.example, c.set);
    const l = simulate([{ ir, file: c.example, seqLens: [c.n] }], { device, heads: c.heads }).patterns[0].lengths[0];
    timing(c.tag.replace(/_n\d+$/, ""), c.example, c.set, c.n, c.heads, "none", Math.round(l.tokenDensity * c.n * c.n));
  }
}

if (HELDOUT) heldoutCases();
else if (SHAPES) shapeCases();
else standardCases();

writeFileSync(join(OUT, "manifest.json"), JSON.stringify(manifest, null, 1));
console.log(`${manifest.checks.length} checks, ${manifest.timings.length} timings, ${emitted.size} kernels in ${OUT}`);
