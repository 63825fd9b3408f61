// GPU index builders for top-k block selections: mean pooling, block scores and the top-k
// choice on the device, writing the same kept-block arrays (and so the same block lists) as
// the CPU reference. Exactness: pooling and scores are float64 with the CPU's summation order
// and no fused multiply-adds (__dadd_rn / __dmul_rn), and ties go to the lower key block, so
// equal inputs give identical choices. (topp selections, routing and vertical-slash are still
// computed on the CPU; their builders read the same layout.)
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
      `__device__ __forceinline__ bool sel${i}_among(pint qb, pint kb, int head, pint n, const Dyn& dyn) {`,
      `  const pint q = qb * ${sel.qblock}, k = kb * ${sel.kblock};`,
      "  (void)q; (void)k; (void)head; (void)n; (void)dyn;",
      `  return ${cudaMask(sel.among, ir, consts)};`,
      "}",
      `__device__ __forceinline__ bool sel${i}_always(pint qb, pint kb, int head, pint n, const Dyn& dyn) {`,
      `  const pint q = qb * ${sel.qblock}, k = kb * ${sel.kblock};`,
      "  (void)q; (void)k; (void)head; (void)n; (void)dyn;",
      `  return ${cudaMask(sel.always, ir, consts)};`,
      "}",
      "}  // namespace pattern",
      "",
      "/** One thread per (head, query block, key block): the score, summed in the CPU's order. */",
      "template <typename T>",
      `__global__ void ${prefix}_sel${i}_scores(const double* qp, const double* kp, double* scores, int n, int d) {`,
      `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  const int kb = blockIdx.x * blockDim.x + threadIdx.x, qb = blockIdx.y, h = blockIdx.z;",
      "  if (kb >= nkb) return;",
      sel.seed !== undefined
        ? `  (void)qp; (void)kp; (void)d;\n  const double s = (double)spattn::mix32(spattn::mix32(spattn::mix32(spattn::mix32(${sel.seed}u) ^ (unsigned)h) ^ (unsigned)qb) ^ (unsigned)kb);`
        : "  const double* qv = qp + ((long long)h * nqb + qb) * d;\n  const double* kv = kp + (long long)h * d * nkb + kb;  // [d][nkb]: neighbours read neighbours\n  double s = 0.0;\n  for (int c = 0; c < d; ++c) s = __dadd_rn(s, __dmul_rn(qv[c], kv[(long long)c * nkb]));",
      "  scores[((long long)h * nqb + qb) * nkb + kb] = s;",
      "}",
      "",
      "/** One thread per (query block, head): always blocks, then the best candidates. */",
      "template <typename T>",
      `__global__ void ${prefix}_sel${i}_select(const double* scores, unsigned char* kept, int n, pattern::Dyn dyn) {`,
      `  const int nqb = (n + ${sel.qblock - 1}) / ${sel.qblock}, nkb = (n + ${sel.kblock - 1}) / ${sel.kblock};`,
      "  const int qb = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;",
      "  if (qb >= nqb) return;",
      "  const double* s = scores + ((long long)h * nqb + qb) * nkb;",
      "  unsigned char* row = kept + ((long long)h * nqb + qb) * nkb;",
      "  int have = 0;",
      "  for (int kb = 0; kb < nkb; ++kb) {",
      `    if (pattern::sel${i}_always(qb, kb, h, n, dyn)) { row[kb] = 1; ++have; }`,
      `    else row[kb] = pattern::sel${i}_among(qb, kb, h, n, dyn) ? 2 : 0;  // 2: candidate`,
      "  }",
      `  for (; have < ${count}; ++have) {`,
      "    int best = -1;",
      "    for (int kb = 0; kb < nkb; ++kb) if (row[kb] == 2 && (best < 0 || s[kb] > s[best])) best = kb;",
      "    if (best < 0) break;",
      "    row[best] = 1;",
      "  }",
      "  for (int kb = 0; kb < nkb; ++kb) if (row[kb] == 2) row[kb] = 0;",
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
      `  ${prefix}_sel${i}_scores<T><<<dim3((nkb + 127) / 128, nqb, heads), 128, 0, stream>>>(qp, kp, scores, n, d);`,
      `  ${prefix}_sel${i}_select<T><<<dim3((nqb + 63) / 64, heads), 64, 0, stream>>>(scores, kept, n, *dyn);`,
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

export function indexBuilderPrototypes(ir: PatternIR, prefix: string): string[] {
  return gpuSelections(ir).flatMap((sel) => [
    `/* GPU index builder of selection ${sel.id} ('${sel.name.replace(/[^A-Za-z0-9_]/g, "_")}'): kept blocks as the CPU reference computes them. */`,
    `size_t ${prefix}_sel${sel.id}_workspace(int heads, int n, int d);`,
    `int ${prefix}_sel${sel.id}_build_bf16(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream);`,
    `int ${prefix}_sel${sel.id}_build_fp16(const void* q, const void* k, int heads, int n, int d, const ${prefix}_dyn* dyn, unsigned char* kept, void* workspace, cudaStream_t stream);`,
  ]);
}
