// GPU index builders for block selections: mean pooling, block scores and the choice (top-k,
// or top-p by cumulative softmax mass) on the device (templates/select_builder.cuh), writing
// the same kept-block arrays (and so the same block lists) as the CPU reference. Exactness:
// pooling and scores are float64 with the CPU's summation order and no fused multiply-adds
// (__dadd_rn / __dmul_rn), ties go to the lower key block, and top-p's exponentials are exp64,
// generated from the CPU's (exp64.ts), so equal inputs give identical choices. Top-k choices
// of at most CHOOSE_IN_REGISTERS blocks score on tensor cores with error bounds and score in
// float64 only where the bounds do not decide (the "filtered" path: same choices, a fraction
// of the float64 work).
// Routing (spherical k-means) is built on the GPU the same way (templates/route_builder.cuh),
// and so are vertical-slash steps (vslash-builder.ts).
import type { PatternIR, Selection } from "../../compiler/ir.js";
import { CudaConstants, cudaMask } from "./spell.js";
import { dbl } from "./exp64.js";

/** Counts up to this choose with per-lane lists in registers; larger ones in rounds. */
export const CHOOSE_IN_REGISTERS = 32;

/** Whether the filtered top-k builder makes the means' bf16 splits and norms inside the pooling
 *  (select_builder.cuh, pool_and_filter): where a mean's d / 4 lanes are a power of two within a
 *  warp and the splits need no padding (d = 32, 64, 128), else in a pass of their own. */
export function filterInPool(d: number): boolean {
  const lanes = d / 4;
  return d % 32 === 0 && lanes <= 32 && (lanes & (lanes - 1)) === 0;
}

/** Selections the GPU builds: all (top-k pooled or seeded, top-p pooled). */
export function gpuSelections(ir: PatternIR): Selection[] {
  return ir.selections;
}

/** Whether the generated code needs exp64: the selection builders' template (its top-p
 *  choice) and vertical-slash steps use it. */
export function needsExp64(ir: PatternIR): boolean {
  return ir.verticalSlashes.length > 0 || gpuSelections(ir).length > 0;
}

export function indexBuilderCode(ir: PatternIR, prefix: string, consts: CudaConstants): string[] {
  const out: string[] = [];
  for (const sel of gpuSelections(ir)) {
    const i = sel.id;
    const rule = sel.rule;
    const mass = rule.kind === "topp";
    const count = rule.kind === "topk" ? rule.count : 0;
    out.push(
      `// ---- index builder for selection ${i}: ${mass ? `top-p ${rule.mass}` : `top-${count}`} of ${sel.qblock} x ${sel.kblock} blocks`,
      "namespace pattern {",
      ...(["among", "always"] as const).flatMap((clause) => [
        `__device__ __forceinline__ bool sel${i}_${clause}(pint qb, pint kb, int head, pint n, const Dyn& dyn) {`,
        `  const pint q = qb * ${sel.qblock}, k = kb * ${sel.kblock};`,
        "  (void)q; (void)k; (void)head; (void)n; (void)dyn;",
        `  return ${cudaMask(sel[clause], ir, consts)};`,
        "}",
      ]),
      "}  // namespace pattern",
      "",
    );
    if (sel.seed === undefined && !mass && count <= CHOOSE_IN_REGISTERS) {
      out.push(...filteredBuilder(sel, count, prefix), ...typedEntries(prefix, i));
      continue;
    }
    out.push(
      ...(sel.seed === undefined
        ? [
            `/** Scores of the pairs the choice reads (${mass ? "always-kept blocks and candidates" : "candidates"}), on 64 x 64 tiles of block pairs. */`,
            `__global__ void __launch_bounds__(spattn::SCORE_THREADS, 1) ${prefix}_sel${i}_scores(const double* qp, const double* kp, double* scores, int n, int d, pattern::Dyn dyn) {`,
            `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock}, h = blockIdx.z;`,
            mass
              ? `  spattn::score_tile(qp, kp, scores, nqb, nkb, d, [&](int qb, int kb) { return pattern::sel${i}_always(qb, kb, h, n, dyn) || pattern::sel${i}_among(qb, kb, h, n, dyn); });`
              : `  spattn::score_tile(qp, kp, scores, nqb, nkb, d, [&](int qb, int kb) { return !pattern::sel${i}_always(qb, kb, h, n, dyn) && pattern::sel${i}_among(qb, kb, h, n, dyn); });`,
            "}",
            "",
          ]
        : []),
      `/** The choice: a warp per (query block, head) row${mass ? ", by cumulative mass" : count > CHOOSE_IN_REGISTERS ? ", in rounds (the count is too large for lists in registers)" : ""}. */`,
      mass
        ? `__global__ void ${prefix}_sel${i}_select(double* scores, int* order, unsigned char* kept, int n, double scale, pattern::Dyn dyn) {`
        : `__global__ void ${prefix}_sel${i}_select(const double* scores, unsigned char* kept, int n, pattern::Dyn dyn) {`,
      `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  const int qb = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, h = blockIdx.y;",
      "  if (qb >= nqb) return;",
      mass
        ? "  double* s = scores + ((long long)h * nqb + qb) * nkb;"
        : sel.seed === undefined
        ? "  const double* s = scores + ((long long)h * nqb + qb) * nkb;\n  auto score = [&](int kb) { return s[kb]; };"
        : `  (void)scores;\n  const unsigned base = spattn::mix32(spattn::mix32(spattn::mix32(${sel.seed}u) ^ (unsigned)h) ^ (unsigned)qb);\n  auto score = [&](int kb) { return (double)spattn::mix32(base ^ (unsigned)kb); };`,
      `  auto always = [&](int kb) { return pattern::sel${i}_always(qb, kb, h, n, dyn); };`,
      `  auto among = [&](int kb) { return pattern::sel${i}_among(qb, kb, h, n, dyn); };`,
      "  unsigned char* row = kept + ((long long)h * nqb + qb) * nkb;",
      mass
        ? `  spattn::choose_row_mass(row, s, order + ((long long)h * nqb + qb) * nkb, nkb, ${dbl(rule.mass)}, scale, always, among);`
        : count > CHOOSE_IN_REGISTERS
        ? `  spattn::choose_row_rounds(row, nkb, ${count}, always, among, score);`
        : `  spattn::choose_row<${count}>(row, nkb, always, among, score);`,
      "}",
      "",
      `/* Builds selection ${i}'s kept blocks on the device: kept is [heads][ceil(n/${sel.qblock})][ceil(n/${sel.kblock})]`,
      " * bytes; dyn holds the kept arrays of earlier selections; workspace has",
      ` * ${prefix}_sel${i}_workspace(heads, n, d) bytes. q and k: [1, heads, n, d] device arrays. */`,
      `extern "C" size_t ${prefix}_sel${i}_workspace(int heads, int n, int d) {`,
      `  const size_t nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      `  return sizeof(double) * (size_t)heads * ((nqb + nkb) * d + nqb * nkb)${mass ? " + sizeof(int) * (size_t)heads * nqb * nkb;  // + the candidates' order" : ";"}`,
      "}",
      "",
      "template <typename T>",
      `static int ${prefix}_sel${i}_build_typed(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream) {`,
      `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  double* qp = static_cast<double*>(workspace);",
      "  double* kp = qp + (size_t)heads * nqb * d;",
      "  double* scores = kp + (size_t)heads * nkb * d;",
      ...(sel.seed === undefined
        ? [
            `  spattn::launch_mean_pool<T>({static_cast<const T*>(q), static_cast<const T*>(k), qp, kp, ${sel.qblock}, ${sel.kblock}}, heads, n, d, stream);`,
            `  ${prefix}_sel${i}_scores<<<dim3((nkb + spattn::SCORE_TILE - 1) / spattn::SCORE_TILE, (nqb + spattn::SCORE_TILE - 1) / spattn::SCORE_TILE, heads), spattn::SCORE_THREADS, 0, stream>>>(qp, kp, scores, n, d, *dyn);`,
          ]
        : ["  (void)q; (void)k;"]),
      mass
        ? `  const double scale = 1.0 / sqrt((double)(d > 1 ? d : 1));  // the CPU's: host IEEE arithmetic\n  ${prefix}_sel${i}_select<<<dim3((nqb + 3) / 4, heads), 128, 0, stream>>>(scores, reinterpret_cast<int*>(scores + (size_t)heads * nqb * nkb), kept, n, scale, *dyn);`
        : `  ${prefix}_sel${i}_select<<<dim3((nqb + 3) / 4, heads), 128, 0, stream>>>(scores, kept, n, *dyn);`,
      "  return (int)cudaGetLastError();",
      "}",
      "",
      ...typedEntries(prefix, i),
    );
  }
  return out;
}

/** The C ABI's build functions of selection i, one per input type. */
function typedEntries(prefix: string, i: number): string[] {
  return [
    ["bf16", "__nv_bfloat16"],
    ["fp16", "__half"],
  ].flatMap(([name, type]) => [
    `extern "C" int ${prefix}_sel${i}_build_${name}(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream) {`,
    `  return ${prefix}_sel${i}_build_typed<${type}>(q, k, heads, n, d, dyn, kept, workspace, stream);`,
    "}",
  ]).concat([""]);
}

/** A pooled top-k selection of at most CHOOSE_IN_REGISTERS blocks: tensor-core scores with
 *  error bounds, float64 scores only where the bounds do not decide (choose_row_filtered), in
 *  the workspace spattn::filter_workspace lays out. */
function filteredBuilder(sel: Selection, count: number, prefix: string): string[] {
  const i = sel.id;
  const blocks = `const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock}`;
  return [
    "/** Tensor-core scores of the pairs the choice reads (candidates), on 64 x 64 tiles of block pairs, rows padded to 4. */",
    `__global__ void __launch_bounds__(spattn::MMA_SCORE_THREADS) ${prefix}_sel${i}_scores(const __nv_bfloat16* qs, const __nv_bfloat16* ks, float* scores, int n, int d, pattern::Dyn dyn) {`,
    `  ${blocks}, h = blockIdx.z;`,
    `  spattn::score_tile_mma(qs, ks, scores, nqb, nkb, (nkb + 3) & ~3, d, [&](int qb, int kb) { return !pattern::sel${i}_always(qb, kb, h, n, dyn) && pattern::sel${i}_among(qb, kb, h, n, dyn); });`,
    "}",
    "",
    "/** The choice: a warp per (query block, head) row, from the tensor-core scores and their bounds. */",
    `__global__ void ${prefix}_sel${i}_select(spattn::FilterWorkspace w, unsigned char* kept, int n, int d, pattern::Dyn dyn) {`,
    `  ${blocks}, nkb4 = (nkb + 3) & ~3;`,
    "  const int qb = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, h = blockIdx.y;",
    "  if (qb >= nqb) return;",
    "  const double* qv = w.qp + ((long long)h * nqb + qb) * d;",
    "  const double* kh = w.kp + (long long)h * nkb * d;",
    "  const float qscale = spattn::filter_scale(w.qnorm[(long long)h * nqb + qb], d);",
    "  auto exact = [&](int kb) { return spattn::exact_score(qv, kh + (long long)kb * d, d); };",
    `  auto always = [&](int kb) { return pattern::sel${i}_always(qb, kb, h, n, dyn); };`,
    `  auto among = [&](int kb) { return pattern::sel${i}_among(qb, kb, h, n, dyn); };`,
    `  spattn::choose_row_filtered<${count}>(kept + ((long long)h * nqb + qb) * nkb, nkb, w.scores + ((long long)h * nqb + qb) * nkb4,`,
    "                                    w.knorm + (long long)h * nkb4, qscale, always, among, exact);",
    "}",
    "",
    `/* Builds selection ${i}'s kept blocks on the device: kept is [heads][ceil(n/${sel.qblock})][ceil(n/${sel.kblock})]`,
    " * bytes; dyn holds the kept arrays of earlier selections; workspace has",
    ` * ${prefix}_sel${i}_workspace(heads, n, d) bytes on 16 bytes (cudaMalloc's are). q and k: [1, heads, n, d] device arrays. */`,
    `extern "C" size_t ${prefix}_sel${i}_workspace(int heads, int n, int d) {`,
    `  ${blocks};`,
    "  return spattn::filter_workspace(nullptr, heads, nqb, nkb, d, nullptr);  // means, their bf16 splits, norms, scores",
    "}",
    "",
    "template <typename T>",
    `static int ${prefix}_sel${i}_build_typed(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream) {`,
    `  ${blocks};`,
    "  if (reinterpret_cast<uintptr_t>(workspace) % 16 != 0) return (int)cudaErrorInvalidValue;  // the choice's 16-byte loads",
    "  spattn::FilterWorkspace w;",
    "  spattn::filter_workspace(workspace, heads, nqb, nkb, d, &w);",
    `  spattn::pool_and_filter<T>(static_cast<const T*>(q), static_cast<const T*>(k), ${sel.qblock}, ${sel.kblock}, w, heads, n, d, stream);`,
    `  ${prefix}_sel${i}_scores<<<dim3((nkb + spattn::SCORE_TILE - 1) / spattn::SCORE_TILE, (nqb + spattn::SCORE_TILE - 1) / spattn::SCORE_TILE, heads), spattn::MMA_SCORE_THREADS, 0, stream>>>(w.qsplit, w.ksplit, w.scores, n, d, *dyn);`,
    `  ${prefix}_sel${i}_select<<<dim3((nqb + spattn::FILTER_WARPS - 1) / spattn::FILTER_WARPS, heads), 32 * spattn::FILTER_WARPS, 0, stream>>>(w, kept, n, d, *dyn);`,
    "  return (int)cudaGetLastError();",
    "}",
    "",
  ];
}

/** The routing builders' C ABI: workspace size and a build per input type. */
export function routeBuilderCode(ir: PatternIR, prefix: string): string[] {
  return ir.routes.flatMap((r) => {
    const i = r.id;
    const typed = (name: string, type: string) => [
      `extern "C" int ${prefix}_route${i}_build_${name}(const void* q, const void* k, int heads, int n, int d, int* route_q, int* route_k, void* workspace, cudaStream_t stream) {`,
      `  return ${prefix}_route${i}_build_typed<${type}>(q, k, heads, n, d, route_q, route_k, workspace, stream);`,
      "}",
    ];
    return [
      `// ---- index builder for route ${i}: ${r.clusters} clusters, ${r.iterations} iterations`,
      `extern "C" size_t ${prefix}_route${i}_workspace(int heads, int n, int d) {`,
      `  return (size_t)heads * (sizeof(double) * (2 * (size_t)n * d + (size_t)${r.clusters} * d) + sizeof(int) * 2 * (size_t)n);`,
      "}",
      "",
      "template <typename T>",
      `static int ${prefix}_route${i}_build_typed(const void* q, const void* k, int heads, int n, int d, int* route_q, int* route_k, void* workspace, cudaStream_t stream) {`,
      "  if (!q || !k || !route_q || !route_k || !workspace || heads <= 0 || heads > 65535 || n <= 0 || d <= 0 || d > 1024) return (int)cudaErrorInvalidValue;",
      "  double* x = static_cast<double*>(workspace);",
      "  double* cent = x + (size_t)heads * 2 * n * d;",
      `  int* assign = reinterpret_cast<int*>(cent + (size_t)heads * ${r.clusters} * d);`,
      "  const dim3 rows((2 * n + 127) / 128, heads);",
      "  spattn::route_normalize<T><<<rows, 128, 0, stream>>>(static_cast<const T*>(q), static_cast<const T*>(k), x, n, d);",
      `  spattn::route_init<<<dim3(${r.clusters}, heads), d, 0, stream>>>(x, cent, n, d, ${r.clusters});`,
      `  for (int it = 0; it < ${r.iterations}; ++it) {`,
      `    spattn::route_assign<<<rows, 128, 0, stream>>>(x, cent, assign, n, d, ${r.clusters});`,
      `    spattn::route_update<<<dim3(${r.clusters}, heads), d, d * sizeof(double), stream>>>(x, assign, cent, n, d, ${r.clusters});`,
      "  }",
      `  spattn::route_assign<<<rows, 128, 0, stream>>>(x, cent, assign, n, d, ${r.clusters});`,
      "  spattn::route_split<<<dim3((n + 127) / 128, heads), 128, 0, stream>>>(assign, route_q, route_k, n);",
      "  return (int)cudaGetLastError();",
      "}",
      "",
      ...typed("bf16", "__nv_bfloat16"),
      ...typed("fp16", "__half"),
      "",
    ];
  });
}

export function indexBuilderPrototypes(ir: PatternIR, prefix: string): string[] {
  return gpuSelections(ir).flatMap((sel) => [
    `/* GPU index builder of selection ${sel.id} ('${sel.name.replace(/[^A-Za-z0-9_]/g, "_")}'): kept blocks as the CPU reference computes them. */\n` +
      `size_t ${prefix}_sel${sel.id}_workspace(int heads, int n, int d);`,
    `int ${prefix}_sel${sel.id}_build_bf16(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream);`,
    `int ${prefix}_sel${sel.id}_build_fp16(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream);`,
  ]).concat(
    ir.routes.flatMap((r) => [
      `/* GPU index builder of route ${r.id} (spherical k-means, ${r.clusters} clusters): route_q and route_k [heads][n] as the CPU computes\n` +
        ` * them; q and k [1, heads, n, d] device arrays; workspace has ${prefix}_route${r.id}_workspace(heads, n, d) bytes. */\n` +
        `size_t ${prefix}_route${r.id}_workspace(int heads, int n, int d);`,
      `int ${prefix}_route${r.id}_build_bf16(const void* q, const void* k, int heads, int n, int d, int* route_q, int* route_k, void* workspace, cudaStream_t stream);`,
      `int ${prefix}_route${r.id}_build_fp16(const void* q, const void* k, int heads, int n, int d, int* route_q, int* route_k, void* workspace, cudaStream_t stream);`,
    ]),
  );
}
