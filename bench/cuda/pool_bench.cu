// Mean pooling of the block top-k index builder (templates/select_builder.cuh), timed in
// variants on the benchmark's shape (bf16, H = 16, N = 65536, D = 128, blocks of 64 rows): Q and
// K pooled as the builder pools them, each variant's float64 means compared bit for bit with
// the first's. Variants that also make the filter's splits and norms (pool_and_filter) are
// compared with filter_means' after the first variant: splits bit for bit, norms counted where
// they differ (the sum of squares is added in another order). Medians of CUDA-event timings of
// 30 calls after 5 warm-up calls.
//   (device) nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a bench/cuda/pool_bench.cu -o /tmp/pool_bench && /tmp/pool_bench
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "bench_inputs.cuh"

int main() {
  const int heads = 16, n = 65536, d = 128, block = 64, nb = n / block;
  const long long count = (long long)heads * n * d;
  bf16 *q, *k;
  double *qp, *kp;
  cudaMalloc(&q, count * sizeof(bf16));
  cudaMalloc(&k, count * sizeof(bf16));
  cudaMalloc(&qp, (size_t)heads * nb * d * sizeof(double));
  cudaMalloc(&kp, (size_t)heads * nb * d * sizeof(double));
  fill<<<1024, 256>>>(q, count, 1u);
  fill<<<1024, 256>>>(k, count, 2u);
  const int per = d / 8, slots = 256 / per;
  const dim3 one((nb + slots - 1) / slots, heads, 1), both((nb + slots - 1) / slots, heads, 2);
  const dim3 both4((nb + 256 / (d / 4) - 1) / (256 / (d / 4)), heads, 2);  // 8-byte loads: d / 4 lanes a mean
  const spattn::PoolSides<bf16> qk{q, k, qp, kp, block, block}, qonly{q, q, qp, qp, block, block}, konly{k, k, kp, kp, block, block};
  // The filter's workspace (splits and norms) and the same pooling writing them as it goes.
  spattn::FilterWorkspace w;
  void* ws = nullptr;
  cudaMalloc(&ws, spattn::filter_workspace(nullptr, heads, nb, nb, d, nullptr));
  spattn::filter_workspace(ws, heads, nb, nb, d, &w);
  spattn::PoolSides<bf16> qk_split{q, k, w.qp, w.kp, block, block};
  qk_split.split0 = w.qsplit, qk_split.split1 = w.ksplit, qk_split.norm0 = w.qnorm, qk_split.norm1 = w.knorm;
  qk_split.pitch0 = nb, qk_split.pitch1 = (nb + 3) & ~3;
  struct Variant {
    const char* name;
    std::function<void()> run;
    /** Writes the filter's workspace w (means, splits and norms) rather than qp and kp; the
     *  first such variant is the reference for splits and norms. */
    bool filter = false;
  };
  // <T, VEC, MIN_CTAS (the register bound), UNROLL>
  const std::vector<Variant> variants = {
      {"builder's launch_mean_pool", [&] { spattn::launch_mean_pool(qk, heads, n, d, 0); }},
      {"Q, then K; 1 CTA/SM bound, unroll 4 (v13)", [&] { spattn::mean_pool<bf16, 8, 1, 4><<<one, 256>>>(qonly, n, d); spattn::mean_pool<bf16, 8, 1, 4><<<one, 256>>>(konly, n, d); }},
      {"Q, then K; 4 CTAs/SM bound, unroll 4", [&] { spattn::mean_pool<bf16, 8, 4, 4><<<one, 256>>>(qonly, n, d); spattn::mean_pool<bf16, 8, 4, 4><<<one, 256>>>(konly, n, d); }},
      {"one launch; 1 CTA/SM bound, unroll 4", [&] { spattn::mean_pool<bf16, 8, 1, 4><<<both, 256>>>(qk, n, d); }},
      {"one launch; 4 CTAs/SM bound, unroll 4", [&] { spattn::mean_pool<bf16, 8, 4, 4><<<both, 256>>>(qk, n, d); }},
      {"one launch; 4 CTAs/SM bound, unroll 8", [&] { spattn::mean_pool<bf16, 8, 4, 8><<<both, 256>>>(qk, n, d); }},
      {"one launch; 3 CTAs/SM bound, unroll 8 (v18)", [&] { spattn::mean_pool<bf16, 8, 3, 8><<<both, 256>>>(qk, n, d); }},
      {"one launch; 8-byte loads, 3 CTAs/SM, unroll 8", [&] { spattn::mean_pool<bf16, 4, 3, 8><<<both4, 256>>>(qk, n, d); }},
      {"one launch; 8-byte loads, 4 CTAs/SM, unroll 8", [&] { spattn::mean_pool<bf16, 4, 4, 8><<<both4, 256>>>(qk, n, d); }},
      {"pool, then filter_means (v18's builder)", [&] { spattn::mean_pool<bf16, 8, 3, 8><<<both, 256>>>(spattn::PoolSides<bf16>{q, k, w.qp, w.kp, block, block}, n, d); spattn::launch_filter_means(w, heads, nb, nb, d, 0); }, true},
      {"splits in the pool, 16-byte loads, 3 CTAs/SM", [&] { spattn::mean_pool<bf16, 8, 3, 8><<<both, 256>>>(qk_split, n, d); }, true},
      {"pool_and_filter (the builder's)", [&] { spattn::pool_and_filter(q, k, block, block, w, heads, n, d, 0); }, true},
  };
  const size_t split_bytes = (size_t)heads * nb * 2 * d * sizeof(bf16), norms = (size_t)heads * ((nb + 3) & ~3);
  std::vector<unsigned char> want_split(2 * split_bytes), got_split(2 * split_bytes);
  std::vector<float> want_norm(2 * norms), got_norm(2 * norms);
  bool have_split = false;
  const size_t means = (size_t)heads * nb * d;
  std::vector<double> want(2 * means), got(2 * means);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  const double bytes = 2.0 * count * sizeof(bf16);
  for (size_t v = 0; v < variants.size(); ++v) {
    const bool split = variants[v].filter;
    double* vq = split ? w.qp : qp;
    double* vk = split ? w.kp : kp;
    cudaMemset(vq, 0xff, means * sizeof(double));
    cudaMemset(vk, 0xff, means * sizeof(double));
    if (split) {
      cudaMemset(w.qsplit, 0xff, 2 * split_bytes);  // ksplit follows qsplit
      cudaMemset(w.qnorm, 0xff, nb * heads * sizeof(float));
      cudaMemset(w.knorm, 0xff, norms * sizeof(float));
    }
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
    cudaMemcpy(got.data(), vq, means * sizeof(double), cudaMemcpyDeviceToHost);
    cudaMemcpy(got.data() + means, vk, means * sizeof(double), cudaMemcpyDeviceToHost);
    if (v == 0) want = got;
    const bool same = std::memcmp(want.data(), got.data(), want.size() * sizeof(double)) == 0;
    char extra[160] = "";
    if (split) {
      cudaMemcpy(got_split.data(), w.qsplit, 2 * split_bytes, cudaMemcpyDeviceToHost);
      cudaMemcpy(got_norm.data(), w.qnorm, (size_t)heads * nb * sizeof(float), cudaMemcpyDeviceToHost);
      cudaMemcpy(got_norm.data() + norms, w.knorm, norms * sizeof(float), cudaMemcpyDeviceToHost);
      if (!have_split) want_split = got_split, want_norm = got_norm, have_split = true;
      size_t differ = 0;
      for (size_t i = 0; i < (size_t)heads * nb; ++i) differ += want_norm[i] != got_norm[i];
      for (int h = 0; h < heads; ++h)
        for (int b = 0; b < nb; ++b) differ += want_norm[norms + (size_t)h * ((nb + 3) & ~3) + b] != got_norm[norms + (size_t)h * ((nb + 3) & ~3) + b];
      std::snprintf(extra, sizeof extra, "  splits %s, norms: %zu of %zu differ", want_split == got_split ? "identical" : "DIFFER", differ, (size_t)2 * heads * nb);
    }
    const cudaError_t err = cudaGetLastError();
    std::printf("%-48s median %.4f ms (min %.4f)  %.2f TB/s  means %s%s  %s\n", variants[v].name, ms[ms.size() / 2], ms[0],
                bytes / (ms[ms.size() / 2] * 1e-3) / 1e12, same ? "identical" : "DIFFER", extra, err == cudaSuccess ? "" : cudaGetErrorString(err));
  }
  return 0;
}
