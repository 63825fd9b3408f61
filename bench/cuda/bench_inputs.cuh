// What bench/cuda/pool_bench.cu and select_bench.cu share: the index builders' template and
// reproducible bf16 inputs made on the device (no host copy of a 268 MB tensor).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cstdint>

namespace spattn {
__device__ double exp64(double x);  // the top-p choice's (generated code defines it); unused here
}
#include "../../backends/cuda/templates/attention_fwd.cuh"  // mma16816, which the score tiles use
#include "../../backends/cuda/templates/select_builder.cuh"

using bf16 = __nv_bfloat16;

/** A 32-bit integer mixer (a common hash's finaliser). */
__device__ unsigned hash32(unsigned x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  return x ^ (x >> 16);
}

/** Roughly normal values from a hash of the index (sum of four uniforms), as bf16. */
__global__ void fill(bf16* x, long long count, unsigned seed) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < count; i += (long long)gridDim.x * blockDim.x) {
    float s = 0.f;
    for (int j = 0; j < 4; ++j) s += (float)hash32((unsigned)(i * 4 + j) ^ seed) * 0x1p-32f;
    x[i] = __float2bfloat16(s - 2.f);
  }
}
