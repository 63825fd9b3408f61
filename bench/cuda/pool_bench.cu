// Mean pooling of the block top-k index builder (templates/select_builder.cuh), timed in
// variants on the benchmark's shape (bf16, H = 16, N = 65536, D = 128, blocks of 64 rows): Q and
// K pooled as the builder pools them, each variant's float64 means compared bit for bit with
// the first's. Medians of CUDA-event timings of 30 calls after 5 warm-up calls.
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
  const spattn::PoolSides<bf16> qk{q, k, qp, kp, block, block}, qonly{q, q, qp, qp, block, block}, konly{k, k, kp, kp, block, block};
  struct Variant {
    const char* name;
    std::function<void()> run;
  };
  // <T, VEC, MIN_CTAS (the register bound), UNROLL>
  const std::vector<Variant> variants = {
      {"builder's launch_mean_pool", [&] { spattn::launch_mean_pool(qk, heads, n, d, 0); }},
      {"Q, then K; 1 CTA/SM bound, unroll 4 (v13)", [&] { spattn::mean_pool<bf16, 8, 1, 4><<<one, 256>>>(qonly, n, d); spattn::mean_pool<bf16, 8, 1, 4><<<one, 256>>>(konly, n, d); }},
      {"Q, then K; 4 CTAs/SM bound, unroll 4", [&] { spattn::mean_pool<bf16, 8, 4, 4><<<one, 256>>>(qonly, n, d); spattn::mean_pool<bf16, 8, 4, 4><<<one, 256>>>(konly, n, d); }},
      {"one launch; 1 CTA/SM bound, unroll 4", [&] { spattn::mean_pool<bf16, 8, 1, 4><<<both, 256>>>(qk, n, d); }},
      {"one launch; 4 CTAs/SM bound, unroll 4", [&] { spattn::mean_pool<bf16, 8, 4, 4><<<both, 256>>>(qk, n, d); }},
      {"one launch; 4 CTAs/SM bound, unroll 8", [&] { spattn::mean_pool<bf16, 8, 4, 8><<<both, 256>>>(qk, n, d); }},
      {"one launch; 3 CTAs/SM bound, unroll 8", [&] { spattn::mean_pool<bf16, 8, 3, 8><<<both, 256>>>(qk, n, d); }},
  };
  const size_t means = (size_t)heads * nb * d;
  std::vector<double> want(2 * means), got(2 * means);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  const double bytes = 2.0 * count * sizeof(bf16);
  for (size_t v = 0; v < variants.size(); ++v) {
    cudaMemset(qp, 0xff, means * sizeof(double));
    cudaMemset(kp, 0xff, means * sizeof(double));
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
    cudaMemcpy(got.data(), qp, means * sizeof(double), cudaMemcpyDeviceToHost);
    cudaMemcpy(got.data() + means, kp, means * sizeof(double), cudaMemcpyDeviceToHost);
    if (v == 0) want = got;
    const bool same = std::memcmp(want.data(), got.data(), want.size() * sizeof(double)) == 0;
    const cudaError_t err = cudaGetLastError();
    std::printf("%-46s median %.4f ms (min %.4f)  %.2f TB/s  means %s  %s\n", variants[v].name, ms[ms.size() / 2], ms[0],
                bytes / (ms[ms.size() / 2] * 1e-3) / 1e12, same ? "identical" : "DIFFER", err == cudaSuccess ? "" : cudaGetErrorString(err));
  }
  return 0;
}
