// The block top-k index builder's score and choice kernels (templates/select_builder.cuh),
// timed in variants on the benchmark's shape (bf16, H = 16, N = 65536, D = 128, blocks of 64,
// top 4: the diagonal block and the best 3 earlier ones, as examples/block_topk.spattn). Every
// exact variant's kept blocks are compared byte for byte with v13's float64 path (score_tile,
// then choose_row). Each variant runs on what the ones before it wrote (pooling first).
// Medians of CUDA-event timings of 30 calls after 5 warm-up calls.
//   (device) nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a bench/cuda/select_bench.cu -o /tmp/select_bench && /tmp/select_bench
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "bench_inputs.cuh"

constexpr int COUNT = 4;

// The selection of examples/block_topk.spattn: the diagonal block always, earlier ones compete.
struct Always {
  int qb;
  __device__ bool operator()(int kb) const { return kb == qb; }
};
struct Among {
  int qb;
  __device__ bool operator()(int kb) const { return kb < qb; }
};
struct Wanted {
  __device__ bool operator()(int qb, int kb) const { return kb < qb; }
};

__global__ void __launch_bounds__(spattn::SCORE_THREADS, 1) scores64(const double* qp, const double* kp, double* s, int nb, int d) {
  spattn::score_tile(qp, kp, s, nb, nb, d, Wanted{});
}
__global__ void __launch_bounds__(spattn::SCORE_THREADS, spattn::SCORE_F32_CTAS) scores32(spattn::FilterWorkspace w, int nb, int d) {
  spattn::score_tile_f32(w.qp32, w.kp32, w.scores, nb, nb, (nb + 3) & ~3, d, Wanted{});
}

/** v13's choice: choose_row on float64 scores. */
__global__ void select64(const double* scores, unsigned char* kept, int nb) {
  const int qb = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, h = blockIdx.y;
  if (qb >= nb) return;
  const double* s = scores + ((long long)h * nb + qb) * nb;
  spattn::choose_row<COUNT>(kept + ((long long)h * nb + qb) * nb, nb, Always{qb}, Among{qb}, [&](int kb) { return s[kb]; });
}

/** How a variant of the choice scores its candidates in float64: as the builder (exact_score,
 *  a lane each), the same and counting them, or not at all (timing only, not exact: the
 *  float32 score instead, to show what the float64 scores cost). */
enum class Exact { Builder, Counted, Float32 };

/** The builder's choice (as index-builders.ts generates it) with BATCH spans per load round,
 *  compiled for MIN_CTAS CTAs per SM (0: unbounded, as generated), scoring as HOW says. */
template <int BATCH, int MIN_CTAS = 0, Exact HOW = Exact::Builder>
__global__ void __launch_bounds__(32 * spattn::FILTER_WARPS, MIN_CTAS)
    select_filtered(spattn::FilterWorkspace w, unsigned char* kept, int nb, int d, unsigned long long* scored = nullptr) {
  const int qb = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, h = blockIdx.y, nb4 = (nb + 3) & ~3;
  if (qb >= nb) return;
  const double* qv = w.qp + ((long long)h * nb + qb) * d;
  const double* kh = w.kp + (long long)h * nb * d;
  const float* s = w.scores + ((long long)h * nb + qb) * nb4;
  const float qscale = (2.f * d + 16.f) * 0x1p-24f * w.qnorm[(long long)h * nb + qb];
  auto exact = [&](int kb) {
    if (HOW == Exact::Counted) atomicAdd(scored, 1ull);
    return HOW == Exact::Float32 ? (double)s[kb] : spattn::exact_score(qv, kh + (long long)kb * d, d);
  };
  spattn::choose_row_filtered<COUNT, BATCH>(kept + ((long long)h * nb + qb) * nb, nb, s, w.knorm + (long long)h * nb4, qscale,
                                            Always{qb}, Among{qb}, exact);
}

int main() {
  const int heads = 16, n = 65536, d = 128, block = 64, nb = n / block;
  const long long count = (long long)heads * n * d, pairs = (long long)heads * nb * nb;
  bf16 *q, *k;
  double* s64;
  unsigned char *kept, *work;
  cudaMalloc(&q, count * sizeof(bf16));
  cudaMalloc(&k, count * sizeof(bf16));
  spattn::FilterWorkspace w;
  cudaMalloc(&work, spattn::filter_workspace(nullptr, heads, nb, nb, d, nullptr));
  spattn::filter_workspace(work, heads, nb, nb, d, &w);
  cudaMalloc(&s64, pairs * sizeof(double));
  cudaMalloc(&kept, pairs);
  fill<<<1024, 256>>>(q, count, 1u);
  fill<<<1024, 256>>>(k, count, 2u);
  const spattn::PoolSides<bf16> sides{q, k, w.qp, w.kp, block, block};

  const dim3 tiles((nb + 63) / 64, (nb + 63) / 64, heads), rows((nb + 3) / 4, heads);
  struct Variant {
    const char* name;
    bool exact;
    std::function<void()> run;
  };
  const std::vector<Variant> variants = {
      {"mean pooling, Q and K (builder)", false, [&] { spattn::launch_mean_pool(sides, heads, n, d, 0); }},
      {"float32 means and norms (builder)", false, [&] { spattn::launch_filter_means(w, heads, nb, nb, d, 0); }},
      {"v13: float64 scores", false, [&] { scores64<<<tiles, spattn::SCORE_THREADS>>>(w.qp, w.kp, s64, nb, d); }},
      {"v13: choose_row on float64 scores", true, [&] { select64<<<rows, 128>>>(s64, kept, nb); }},
      {"float32 scores (builder)", false, [&] { scores32<<<tiles, spattn::SCORE_THREADS>>>(w, nb, d); }},
      {"filtered choice, batch 2 (builder)", true, [&] { select_filtered<2><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d); }},
      {"filtered choice, batch 1", true, [&] { select_filtered<1><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d); }},
      {"filtered choice, batch 4", true, [&] { select_filtered<4><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d); }},
      {"filtered choice, 8 CTAs/SM bound", true, [&] { select_filtered<2, 8><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d); }},
      {"filtered choice, 10 CTAs/SM bound", true, [&] { select_filtered<2, 10><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d); }},
      {"float32 scores for float64 (timing only)", false, [&] { select_filtered<2, 0, Exact::Float32><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d); }},
  };
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<unsigned char> want(pairs), got(pairs);
  bool have_want = false;
  for (size_t v = 0; v < variants.size(); ++v) {
    cudaMemset(kept, 0xff, pairs);
    for (int i = 0; i < 5; ++i) variants[v].run();
    std::vector<float> ms;
    for (int i = 0; i < 30; ++i) {
      cudaEventRecord(e0);
      variants[v].run();
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float t;
      cudaEventElapsedTime(&t, e0, e1);
      ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    const char* check = "";
    if (variants[v].exact) {
      cudaMemcpy(got.data(), kept, pairs, cudaMemcpyDeviceToHost);
      if (!have_want) want = got;
      have_want = true;
      check = std::memcmp(want.data(), got.data(), pairs) == 0 ? "kept blocks identical to v13's" : "kept blocks DIFFER from v13's";
    }
    const cudaError_t err = cudaGetLastError();
    std::printf("%-40s median %.4f ms (min %.4f)  %s %s\n", variants[v].name, ms[ms.size() / 2], ms[0], check,
                err == cudaSuccess ? "" : cudaGetErrorString(err));
  }
  unsigned long long* scored;
  cudaMalloc(&scored, sizeof(unsigned long long));
  cudaMemset(scored, 0, sizeof(unsigned long long));
  select_filtered<spattn::FILTER_BATCH, 0, Exact::Counted><<<rows, 32 * spattn::FILTER_WARPS>>>(w, kept, nb, d, scored);
  unsigned long long exact_scores = 0;
  cudaMemcpy(&exact_scores, scored, sizeof(exact_scores), cudaMemcpyDeviceToHost);
  std::printf("the filtered choice scored %llu pairs in float64 (%.2f per row)\n", exact_scores, (double)exact_scores / (heads * nb));
  long long kept_count = 0;
  for (unsigned char c : want) kept_count += c;
  std::printf("%lld kept blocks in %d rows\n", kept_count, heads * nb);
  return 0;
}
