// GPU index builders for top-k block selections: mean pooling, block scores and the top-k
// choice on the device, writing the same kept-block arrays (and so the same block lists) as
// the CPU reference. Exactness: pooling and scores are float64 with the CPU's summation order
// and no fused multiply-adds (__dadd_rn / __dmul_rn), and ties go to the lower key block, so
// equal inputs give identical choices. Routing (spherical k-means) is built on the GPU the same
// way (templates/route_builder.cuh). (topp selections and vertical-slash are still computed on
// the CPU; the kernels read the same layout.)
import type { PatternIR, Selection } from "../../compiler/ir.js";
import { CudaConstants, cudaMask } from "./spell.js";

/** Selections the GPU builds: top-k ones (pooled or seeded). */
export function gpuSelections(ir: PatternIR): Selection[] {
  return ir.selections.filter((s) => s.rule.kind === "topk");
}

export function indexBuilderCode(ir: PatternIR, prefix: string, consts: CudaConstants): string[] {
  const out: string[] = [];
  for (const sel of gpuSelections(ir)) {
    const i = sel.id;
    const count = sel.rule.kind === "topk" ? sel.rule.count : 0;
    out.push(
      `// ---- index builder for selection ${i}: top-${count} of ${sel.qblock} x ${sel.kblock} blocks`,
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
      "/** Scores: a thread computes one key block against SCORE_QT query blocks, so each key mean it",
      " *  loads serves SCORE_QT products; every score is still summed over d in the CPU's order. */",
      "template <typename T>",
      `__global__ void ${prefix}_sel${i}_scores(const double* qp, const double* kp, double* scores, int n, int d) {`,
      `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  const int kb = blockIdx.x * blockDim.x + threadIdx.x, qb0 = blockIdx.y * SPATTN_SCORE_QT, h = blockIdx.z;",
      "  if (kb >= nkb) return;",
      "  double acc[SPATTN_SCORE_QT];",
      "#pragma unroll",
      "  for (int t = 0; t < SPATTN_SCORE_QT; ++t) acc[t] = 0.0;",
      sel.seed !== undefined
        ? `  (void)qp; (void)kp; (void)d;\n#pragma unroll\n  for (int t = 0; t < SPATTN_SCORE_QT; ++t) acc[t] = (double)spattn::mix32(spattn::mix32(spattn::mix32(spattn::mix32(${sel.seed}u) ^ (unsigned)h) ^ (unsigned)(qb0 + t)) ^ (unsigned)kb);`
        : "  const double* qv = qp + ((long long)h * nqb + qb0) * d;\n  const double* kv = kp + (long long)h * d * nkb + kb;  // [d][nkb]: neighbours read neighbours\n  for (int c = 0; c < d; ++c) {\n    const double x = kv[(long long)c * nkb];\n#pragma unroll\n    for (int t = 0; t < SPATTN_SCORE_QT; ++t) if (qb0 + t < nqb) acc[t] = __dadd_rn(acc[t], __dmul_rn(qv[(long long)t * d + c], x));\n  }",
      "#pragma unroll",
      "  for (int t = 0; t < SPATTN_SCORE_QT; ++t) if (qb0 + t < nqb) scores[((long long)h * nqb + qb0 + t) * nkb + kb] = acc[t];",
      "}",
      "",
      "/** A warp per (query block, head): lanes stride over key blocks (coalesced); each of the",
      " *  top-k rounds takes the best remaining candidate by a warp reduction (ties: lower kb). */",
      "template <typename T>",
      `__global__ void ${prefix}_sel${i}_select(const double* scores, unsigned char* kept, int n, pattern::Dyn dyn) {`,
      `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  const int lane = threadIdx.x % 32;",
      "  const int qb = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, h = blockIdx.y;",
      "  if (qb >= nqb) return;",
      "  const double* s = scores + ((long long)h * nqb + qb) * nkb;",
      "  unsigned char* row = kept + ((long long)h * nqb + qb) * nkb;",
      "  int mine = 0;",
      "  for (int kb = lane; kb < nkb; kb += 32) {",
      `    if (pattern::sel${i}_always(qb, kb, h, n, dyn)) { row[kb] = 1; ++mine; }`,
      `    else row[kb] = pattern::sel${i}_among(qb, kb, h, n, dyn) ? 2 : 0;  // 2: candidate`,
      "  }",
      "  int have = mine;",
      "  for (int off = 16; off > 0; off >>= 1) have += __shfl_xor_sync(0xffffffff, have, off);",
      `  for (; have < ${count}; ++have) {`,
      "    double best_s = 0.0;",
      "    int best = -1;",
      "    for (int kb = lane; kb < nkb; kb += 32) {",
      "      if (row[kb] == 2 && (best < 0 || s[kb] > best_s)) { best = kb; best_s = s[kb]; }",
      "    }",
      "    for (int off = 16; off > 0; off >>= 1) {",
      "      const int ob = __shfl_xor_sync(0xffffffff, best, off);",
      "      const double os = __shfl_xor_sync(0xffffffff, best_s, off);",
      "      if (ob >= 0 && (best < 0 || os > best_s || (os == best_s && ob < best))) { best = ob; best_s = os; }",
      "    }",
      "    if (best < 0) break;",
      "    if (lane == 0) row[best] = 1;",
      "    __syncwarp();",
      "  }",
      "  __syncwarp();",
      "  for (int kb = lane; kb < nkb; kb += 32) if (row[kb] == 2) row[kb] = 0;",
      "}",
      "",
      `/* Builds selection ${i}'s kept blocks on the device: kept is [heads][ceil(n/${sel.qblock})][ceil(n/${sel.kblock})]`,
      " * bytes; dyn holds the kept arrays of earlier selections; workspace has",
      ` * ${prefix}_sel${i}_workspace(heads, n, d) bytes. q and k: [1, heads, n, d] device arrays. */`,
      `extern "C" size_t ${prefix}_sel${i}_workspace(int heads, int n, int d) {`,
      `  const size_t nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  return sizeof(double) * (size_t)heads * ((nqb + nkb) * d + nqb * nkb);",
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
            `  spattn::mean_pool<T><<<dim3(nqb, heads), d, 0, stream>>>(static_cast<const T*>(q), qp, n, d, ${sel.qblock}, false);`,
            `  spattn::mean_pool<T><<<dim3(nkb, heads), d, 0, stream>>>(static_cast<const T*>(k), kp, n, d, ${sel.kblock}, true);`,
          ]
        : ["  (void)q; (void)k;"]),
      `  ${prefix}_sel${i}_scores<T><<<dim3((nkb + 127) / 128, (nqb + SPATTN_SCORE_QT - 1) / SPATTN_SCORE_QT, heads), 128, 0, stream>>>(qp, kp, scores, n, d);`,
      `  ${prefix}_sel${i}_select<T><<<dim3((nqb + 3) / 4, heads), 128, 0, stream>>>(scores, kept, n, *dyn);`,
      "  return (int)cudaGetLastError();",
      "}",
      "",
      `extern "C" int ${prefix}_sel${i}_build_bf16(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream) {`,
      `  return ${prefix}_sel${i}_build_typed<__nv_bfloat16>(q, k, heads, n, d, dyn, kept, workspace, stream);`,
      "}",
      `extern "C" int ${prefix}_sel${i}_build_fp16(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream) {`,
      `  return ${prefix}_sel${i}_build_typed<__half>(q, k, heads, n, d, dyn, kept, workspace, stream);`,
      "}",
      "",
    );
  }
  return out;
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
