// The CUDA target: per pattern a .cu file (the embedded kernel templates, the pattern's
// predicate, and plain C launch functions) and a .h header declaring that C ABI. The kernel
// takes FlexAttention-layout block lists (partial and full tiles of BLOCK_Q x BLOCK_K).
import { readFileSync } from "node:fs";
import { selectionSplitsTiles, type PatternIR } from "../../compiler/ir.js";
import { packageFile } from "../../compiler/package-root.js";
import { commentText, sanitizeIdent } from "../names.js";
import { CudaConstants, cudaMask } from "./spell.js";
import { largestMagnitude } from "../../compiler/blockmask/evaluate.js";
import { headCases } from "../../compiler/passes/specialize.js";
import { gpuSelections, indexBuilderCode, indexBuilderPrototypes, needsExp64, routeBuilderCode } from "./index-builders.js";
import { wgmmaWrappers } from "./wgmma.js";
import { boxClassFunction } from "./box-domain.js";
import { exp64Code } from "./exp64.js";
import { vslashBuilderCode, vslashBuilderPrototypes } from "./vslash-builder.js";
import { maskKernelCode, maskKernelPrototypes } from "./mask-kernels.js";
import { hostRunner } from "./host-runner.js";

/** Sequence lengths the kernels accept (int indices), and a bound for head indices. */
const MAX_N = 2 ** 30;
const MAX_HEAD = 2 ** 16;

/** The predicate's integer type: int when every sub-expression stays within 32 bits for any
 *  n up to 2^30 and any head below 2^16 (a sound bound from the box domain), else long long. */
export function predicateIntType(ir: PatternIR): "int" | "long long" {
  const worst = largestMagnitude(ir.mask, { head: MAX_HEAD - 1, n: MAX_N, selections: [], routes: [], vslash: [] });
  return worst < 2 ** 31 - 1 ? "int" : "long long";
}

/** Kernel configuration: 4 warps of 2 x 16 query rows (tiles of 128 queries), key tiles of 64. */
export const CUDA_TILE = { warps: 4, mtiles: 2, blockQ: 128, blockK: 64 } as const;
export const CUDA_HEAD_DIMS = [64, 128] as const;
export const CUDA_DTYPES = [
  { name: "bf16", type: "__nv_bfloat16" },
  { name: "fp16", type: "__half" },
] as const;

export interface CudaOutput {
  /** File name stem: <stem>.cu and <stem>.h. */
  stem: string;
  cu: string;
  header: string;
}

function template(name: string): string {
  return readFileSync(packageFile(`backends/cuda/templates/${name}`), "utf8");
}

/** The Dyn struct's fields: device arrays the data-dependent steps produce, per query head. */
function dynFields(ir: PatternIR): string[] {
  const f: string[] = [];
  ir.selections.forEach((s, i) => f.push(`  const unsigned char* sel${i}_kept;  /* [heads][ceil(n/${s.qblock})][ceil(n/${s.kblock})] kept blocks of '${commentText(s.name)}' */`));
  ir.routes.forEach((_, i) => {
    f.push(`  const int* route${i}_q;  /* [heads][n] cluster of each query */`);
    f.push(`  const int* route${i}_k;  /* [heads][n] cluster of each key */`);
  });
  ir.verticalSlashes.forEach((_, i) => {
    f.push(`  const unsigned char* vs${i}_cols;   /* [heads][n] kept key columns */`);
    f.push(`  const unsigned char* vs${i}_diags;  /* [heads][n] kept offsets q - k */`);
  });
  if (f.length === 0) f.push("  int unused;  /* positional pattern: no data-dependent inputs */");
  return f;
}

/** The prefix of a pattern's C symbols. */
export function cudaPrefix(ir: PatternIR): string {
  return `spattn_${sanitizeIdent(ir.name)}`;
}

export function emitCuda(ir: PatternIR, options: { sourceName: string }): CudaOutput {
  const id = sanitizeIdent(ir.name);
  const stem = ir.name.replace(/[^A-Za-z0-9_-]/g, "_");
  const upper = `SPATTN_${id.toUpperCase()}`;  // macro prefix: every name the header defines starts with spattn_ or SPATTN_
  const prefix = cudaPrefix(ir);
  const protos: string[] = [];
  for (const dt of CUDA_DTYPES) {
    for (const d of CUDA_HEAD_DIMS) {
      const sym = `${prefix}_fwd_${dt.name}_d${d}`;
      protos.push(
        `int ${sym}(const void* q, const void* k, const void* v, void* o, float* lse,\n` +
          `    int batch, int heads, int kv_heads, int seq_len, const int* token_map, int map_len,\n` +
          `    const spattn_tiles* tiles, const ${prefix}_dyn* dyn, cudaStream_t stream)`,
      );
    }
  }
  protos.push(`/* 1 if query q may attend key k in head \`head\` (host code; dyn holds host pointers). */\nint ${prefix}_allowed(int q, int k, int head, int seq_len, const ${prefix}_dyn* dyn)`);
  protos.push(...indexBuilderPrototypes(ir, prefix).map((p) => p.replace(/;$/, "")));
  protos.push(...vslashBuilderPrototypes(ir, prefix).map((p) => p.replace(/;$/, "")));
  protos.push(...maskKernelPrototypes(prefix));
  protos.push(
    "/* Host-memory convenience for runtimes (spattn run --backend cuda): copies float32 inputs to the\n" +
      " * device as bf16 (dtype 0) or fp16 (1), runs the kernel and copies O and lse back as float32.\n" +
      " * Returns 0, or a cudaError_t / -1 with a message in err. */\n" +
      `int ${prefix}_run_host(const spattn_run_args* args, char* err, int err_len)`,
  );
  const params = Object.entries(ir.params).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ");
  const header = [
    `/* Generated by spattn from ${commentText(options.sourceName)}, pattern ${commentText(ir.name)}. Do not edit.`,
    ` * Parameters: ${commentText(params || "none")}`,
    " *",
    " * Attention forward under the pattern: O = softmax(Q K^T / sqrt(D), masked) V, with the",
    " * log-sum-exp (natural log) of each row in lse (may be NULL). Q, O: [batch, heads, n, D];",
    " * K, V: [batch, kv_heads, n, D] (heads a multiple of kv_heads: GQA/MQA); contiguous device",
    " * memory. Rows with no allowed key give O = 0 and lse = -inf.",
    ` * tiles: block lists for tiles of ${upper}_BLOCK_Q x ${upper}_BLOCK_K, as written by`,
    ` *   spattn mask --format bsr --kernel-order --block ${CUDA_TILE.blockQ} --block-k ${CUDA_TILE.blockK} (device pointers; heads = 1 shares one list).`,
    " * token_map: NULL when that file has no token_map (tiles in sequence order), else its token_map:",
    " *   map_len positions in kernel order, each a token or -1 for padding (dilation gathered by residue class).",
    " * Returns a cudaError_t (0 on success). */",
    "#pragma once",
    "#include <cuda_runtime.h>",
    "",
    "#ifdef __cplusplus",
    'extern "C" {',
    "#endif",
    "",
    `#define ${upper}_BLOCK_Q ${CUDA_TILE.blockQ}`,
    `#define ${upper}_BLOCK_K ${CUDA_TILE.blockK}`,
    "",
    "#ifndef SPATTN_TILES_DEFINED",
    "#define SPATTN_TILES_DEFINED",
    "typedef struct spattn_run_args {",
    "  const float* q; const float* k; const float* v;  /* host, [batch, heads|kv_heads, n, head_dim] */",
    "  float* o; float* lse;                             /* host outputs; lse may be NULL */",
    "  int batch, heads, kv_heads, seq_len, head_dim, dtype;",
    "  const int* token_map; int map_len;               /* host, or NULL / 0 */",
    "  /* host block lists; kv_num NULL: built on the device (P_mask_tiles, sequence order), and the",
    "   * data-dependent arrays by the GPU index builders (dyn unused) */",
    "  const int* kv_num; const int* kv_idx; const int* full_num; const int* full_idx;",
    "  int stride, tile_heads, num_q_tiles;",
    "  const void* const* dyn; const long long* dyn_bytes; int dyn_count;  /* host arrays of the Dyn fields, in order */",
    "} spattn_run_args;",
    "",
    "typedef struct spattn_tiles {",
    "  const int* kv_num;    /* [heads][num_q_tiles] partial tiles per row */",
    "  const int* kv_idx;    /* [heads][num_q_tiles][stride] their key-tile indices */",
    "  const int* full_num;  /* [heads][num_q_tiles] full tiles per row */",
    "  const int* full_idx;  /* [heads][num_q_tiles][stride] */",
    "  int stride;",
    "  int heads;            /* 1: one list for every head */",
    "  /* Optional (NULL: the pattern's predicate decides): row masks of the partial tiles,",
    "   * [heads][num_q_tiles][stride][BLOCK_Q] 64-bit words, bit c of a row set when the row's query may",
    "   * attend key c of the tile; made once per pattern and length by <prefix>_mask_tile_bits. */",
    "  const unsigned long long* partial_bits;",
    "} spattn_tiles;",
    "#endif",
    "",
    `typedef struct ${prefix}_dyn {`,
    ...dynFields(ir),
    `} ${prefix}_dyn;`,
    "",
    ...protos.map((p) => `${p};`),
    "",
    "#ifdef __cplusplus",
    "}",
    "#endif",
    "",
  ].join("\n");

  const consts = new CudaConstants();
  const predicate = cudaMask(ir.mask, ir, consts);
  const caseFunctions = headCaseFunctions(ir, consts);
  const boxClass = boxClassFunction(ir, consts);
  const launchers = CUDA_DTYPES.flatMap((dt) =>
    CUDA_HEAD_DIMS.map(
      (d) =>
        `extern "C" int ${prefix}_fwd_${dt.name}_d${d}(const void* q, const void* k, const void* v, void* o, float* lse,\n` +
        `    int batch, int heads, int kv_heads, int seq_len, const int* token_map, int map_len, const spattn_tiles* tiles,\n` +
        `    const ${prefix}_dyn* dyn, cudaStream_t stream) {\n` +
        `  return launch<${dt.type}, ${d}>(q, k, v, o, lse, batch, heads, kv_heads, seq_len, token_map, map_len, tiles, dyn, stream);\n` +
        `}`,
    ),
  );
  const cu = [
    `// Generated by spattn from ${commentText(options.sourceName)}, pattern ${commentText(ir.name)}. Do not edit.`,
    `// Build: nvcc -O3 -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80 -Xcompiler -fPIC -shared ${stem}.cu -o lib${stem}.so`,
    `#include "${stem}.h"`,
    "",
    template("attention_fwd.cuh"),
    template("box_domain.cuh"),
    "// ---------------------------------------------------------------- the pattern",
    "namespace pattern {",
    `typedef ${prefix}_dyn Dyn;`,
    "#ifdef __CUDA_ARCH__",
    "#define SPATTN_TABLE(name) name##_d",
    "#else",
    "#define SPATTN_TABLE(name) name##_h",
    "#endif",
    ...consts.decls,
    "",
    "/** Whether partial tiles come from the data: a selection of blocks finer than the kernels'",
    ` *  ${CUDA_TILE.blockQ} x ${CUDA_TILE.blockK} tiles, whose predicate then reads the kept blocks. The sm_90a launch picks its`,
    " *  CTA shape by it (sm90::short_shape). */",
    // Measured on block top-k only (bench v12); routes and vertical-slash patterns, token-level
    // and not measured, keep the launch's other rule.
    `constexpr bool DATA_PARTIAL_TILES = ${selectionSplitsTiles(ir, CUDA_TILE.blockQ, CUDA_TILE.blockK)};`,
    "",
    `/** The predicate's integers: ${predicateIntType(ir) === "int" ? "32-bit (bounded for n <= 2^30 by the compiler)" : "64-bit"}. */`,
    `typedef ${predicateIntType(ir)} pint;`,
    "",
    "/** May query q attend key k (0 <= q, k < n) in head `head`? */",
    "__host__ __device__ __forceinline__ bool allowed(int q_, int k_, int head, int n_, const Dyn& dyn) {",
    "  const pint q = q_, k = k_, n = n_;",
    "  (void)dyn; (void)head; (void)q; (void)k; (void)n;",
    `  return ${predicate};`,
    "}",
    "",
    ...boxClass,
    "",
    ...caseFunctions,
    "}  // namespace pattern",
    "",
    template("attention_kernel.cuh"),
    template("mask_kernels.cuh"),
    wgmmaWrappers([64, 128]),
    template("attention_sm90.cuh"),
    "// ---------------------------------------------------------------- C ABI",
    "template <typename T, int D>",
    "static int launch(const void* q, const void* k, const void* v, void* o, float* lse, int batch, int heads, int kv_heads,",
    `    int n, const int* token_map, int map_len, const spattn_tiles* tiles, const ${prefix}_dyn* dyn, cudaStream_t stream) {`,
    `  constexpr int NW = ${CUDA_TILE.warps}, MT = ${CUDA_TILE.mtiles}, BK = ${CUDA_TILE.blockK}, BQ = NW * MT * 16;`,
    "  if (batch < 0 || heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || n < 0 || !tiles || !dyn) return (int)cudaErrorInvalidValue;",
    "  if (token_map && map_len < n) return (int)cudaErrorInvalidValue;",
    "  if (batch == 0 || n == 0) return 0;",
    "  spattn::Params p;",
    "  p.q = q; p.k = k; p.v = v; p.o = o; p.lse = lse;",
    "  p.batch = batch; p.heads = heads; p.kv_heads = kv_heads; p.n = n;",
    "  p.token_map = token_map; p.rows = token_map ? map_len : n;",
    "  p.num_q_tiles = (p.rows + BQ - 1) / BQ;",
    "  p.scale_log2 = 1.4426950408889634f / sqrtf((float)D);",
    "  p.tiles.kv_num = tiles->kv_num; p.tiles.kv_idx = tiles->kv_idx;",
    "  p.tiles.full_num = tiles->full_num; p.tiles.full_idx = tiles->full_idx;",
    "  p.tiles.stride = tiles->stride; p.tiles.heads = tiles->heads; p.tiles.bits = tiles->partial_bits;",
    "  const dim3 grid(p.num_q_tiles, heads, batch);",
    "  // sm_90a: the wgmma kernel, where the device is sm_90 and this binary holds its code; in",
    "  // sequence order fed by TMA where the maps can be made, else by cp.async (SPATTN_SM90_NO_TMA,",
    "  // defined when building, keeps cp.async: a switch for benchmarks).",
    "  int choice = 0;",
    "  cudaError_t e = spattn::pick_kernel((const void*)spattn::sm90::attention_fwd<T, D, true, false>, &choice);",
    "  if (e != cudaSuccess) return (int)e;",
    "  if (choice == 90) {",
    "    spattn::sm90::Maps maps;",
    "    memset(&maps, 0, sizeof maps);",
    "    if (token_map) return (int)spattn::sm90::launch<T, D, true, false>(p, *dyn, maps, grid, stream);",
    "#ifndef SPATTN_SM90_NO_TMA",
    "    // Short lists: CTAs of 64 rows, two per SM (the lists stay in 128-row tiles).",
    "    if (spattn::sm90::short_shape(p.tiles.stride, (long long)grid.x * grid.y * grid.z)) {",
    "      constexpr int ROWS = spattn::sm90::Config<D, true, 1>::ROWS;",
    "      const dim3 halves((p.rows + ROWS - 1) / ROWS, heads, batch);",
    "      if (spattn::sm90::encode_maps<T, D>(&maps, q, k, v, batch, heads, kv_heads, n, ROWS)) return (int)spattn::sm90::launch<T, D, false, true, 1>(p, *dyn, maps, halves, stream);",
    "    } else if (spattn::sm90::encode_maps<T, D>(&maps, q, k, v, batch, heads, kv_heads, n, spattn::sm90::BQ)) {",
    "      return (int)spattn::sm90::launch<T, D, false, true>(p, *dyn, maps, grid, stream);",
    "    }",
    "#endif",
    "    return (int)spattn::sm90::launch<T, D, false, false>(p, *dyn, maps, grid, stream);",
    "  }",
    "  const size_t smem = (size_t)(BQ + 4 * BK) * D * sizeof(T) + (size_t)(BQ + 2 * BK) * sizeof(int);",
    "  auto kernel = token_map ? spattn::attention_fwd<T, D, NW, MT, BK, true> : spattn::attention_fwd<T, D, NW, MT, BK, false>;",
    "  e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);",
    "  if (e != cudaSuccess) return (int)e;",
    "  kernel<<<grid, NW * 32, smem, stream>>>(p, *dyn);",
    "  return (int)cudaGetLastError();",
    "}",
    "",
    ...launchers,
    "",
    ...(needsExp64(ir) ? exp64Code() : []),
    ...(gpuSelections(ir).length ? [template("select_builder.cuh"), ...indexBuilderCode(ir, prefix, consts)] : []),
    ...(ir.routes.length ? [template("route_builder.cuh"), ...routeBuilderCode(ir, prefix)] : []),
    ...(ir.verticalSlashes.length ? [template("vslash_builder.cuh"), ...vslashBuilderCode(ir, prefix)] : []),
    ...maskKernelCode(prefix),
    ...hostRunner(ir, prefix, CUDA_TILE),
    "/* The pattern's predicate on the host (dyn holds host pointers here): for checks and tools. */",
    `extern "C" int ${prefix}_allowed(int q, int k, int head, int seq_len, const ${prefix}_dyn* dyn) {`,
    "  return pattern::allowed(q, k, head, seq_len, *dyn) ? 1 : 0;",
    "}",
    "",
  ].join("\n");
  return { stem, cu, header };
}

/**
 * The heads' groups (compiler/passes/specialize.ts, headCases) and the predicate of each, with
 * no test of the head's case left: the attention kernels pick a CTA's group once. Evaluating
 * every group's body per element, as `allowed` does, made mixed heads' kernel 18% slower on
 * the H100 (bench v11).
 */
function headCaseFunctions(ir: PatternIR, consts: CudaConstants): string[] {
  const cases = headCases(ir.mask);
  const head = "__host__ __device__ __forceinline__";
  if (cases.length === 1) {
    return [
      "/** Heads' groups of `match head` cases: this pattern has one. */",
      "constexpr int HEAD_CASES = 1;",
      `${head} int head_case(int) { return 0; }`,
      "template <int HC>",
      `${head} bool allowed_case(int q, int k, int head, int n, const Dyn& dyn) { return allowed(q, k, head, n, dyn); }`,
    ];
  }
  const test = (hs: number[]): string => hs.map((h) => `(head == ${h})`).join(" | ");
  const choose = cases.slice(0, -1).map((c, i) => `${test(c.heads)} ? ${i} : `).join("") + `${cases.length - 1}`;
  const bodies = cases.map((c, i) => `  ${i === 0 ? "if" : "else if"} constexpr (HC == ${i}) return ${cudaMask(c.mask, ir, consts)};`);
  bodies[bodies.length - 1] = `  else return ${cudaMask(cases[cases.length - 1].mask, ir, consts)};`;
  return [
    `/** Heads' groups of \`match head\` cases: ${cases.map((c) => (c.heads.length ? `heads ${c.heads.join(", ")}` : "the other heads")).join("; ")}. */`,
    `constexpr int HEAD_CASES = ${cases.length};`,
    `${head} int head_case(int head) { return ${choose}; }`,
    "",
    "/** The predicate for the heads of group HC (`allowed` with the group's cases taken). */",
    "template <int HC>",
    `${head} bool allowed_case(int q_, int k_, int head, int n_, const Dyn& dyn) {`,
    "  const pint q = q_, k = k_, n = n_;",
    "  (void)dyn; (void)head; (void)q; (void)k; (void)n;",
    ...bodies,
    "}",
  ];
}
