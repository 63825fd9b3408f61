// GPU index builders of top-k block selections: mean pooling, block scores and the choice,
// reproducing selectBlocks in compiler/blockmask/lib.ts bit for bit. Pooling and exact scores
// are float64 with the CPU's summation order and every product and sum rounded on its own
// (__dmul_rn / __dadd_rn: no fused multiply-adds); the choice keeps the always-kept blocks,
// then candidates by descending score, ties to the lower key block. Top-k choices of at most
// CHOOSE_IN_REGISTERS blocks score every pair on tensor cores first (score_tile_mma), with a
// bound on each score's error, and compute float64 scores only where the bounds do not
// decide the kept blocks (a filter that cannot change the result: choose_row_filtered). The
// generated code supplies the selection's predicates. Embedded verbatim into generated files
// with top-k selections.

namespace spattn {

template <typename T> __device__ __forceinline__ float to_float(unsigned short bits);
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(unsigned short bits) { return __bfloat162float(__ushort_as_bfloat16(bits)); }
template <> __device__ __forceinline__ float to_float<__half>(unsigned short bits) { return __half2float(__ushort_as_half(bits)); }

/** Loads VEC consecutive elements as float64 (VEC = 8: one 16-byte load; 4: one 8-byte load). */
template <typename T, int VEC>
__device__ __forceinline__ void load_row(const T* src, double (&v)[VEC]) {
  if constexpr (VEC == 8) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(src));
    const unsigned w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = (double)to_float<T>((unsigned short)(w[i / 2] >> (16 * (i % 2))));
  } else if constexpr (VEC == 4) {
    const uint2 raw = __ldg(reinterpret_cast<const uint2*>(src));
    const unsigned w[2] = {raw.x, raw.y};
#pragma unroll
    for (int i = 0; i < 4; ++i) v[i] = (double)to_float<T>((unsigned short)(w[i / 2] >> (16 * (i % 2))));
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) v[i] = (double)(float)src[i];
  }
}

/** The filter's norm of a mean vector from the sum of its squares and its largest magnitude
 *  (filter_means): +infinity where its largest element is outside [2^-50, 2^50] (its products
 *  could leave float32's normal range: its scores are not trusted), 0 for an all-zero vector
 *  (its scores are exactly 0). */
__device__ __forceinline__ float filter_norm(double sum, double big) {
  const bool usable = big >= 0x1p-50 && big <= 0x1p50 && sum <= 0x1p110;  // false for NaN
  return big == 0.0 && sum == 0.0 ? 0.f : usable ? (float)sqrt(sum) : INFINITY;
}

/** x rounded to float32 and split into two bf16 parts, hi = bf16(x) and lo = bf16(x - hi)
 *  (x - hi is exact in float32): what the tensor-core scores read. */
__device__ __forceinline__ void split_bf16(double x, __nv_bfloat16& hi, __nv_bfloat16& lo) {
  const float f = (float)x;
  hi = __float2bfloat16_rn(f);
  lo = __float2bfloat16_rn(f - __bfloat162float(hi));
}

/** The mean of one block b of `block` rows of head h's [n, d] matrix, VEC columns from
 *  lane * VEC: the rows summed in order (the CPU's order), UNROLL loads in flight. With `split`,
 *  also filter_means' work on the means as they are made: their bf16 splits (rows of 2 * d) and,
 *  from the group's `per` lanes (consecutive, aligned within the warp), their norm. */
template <typename T, int VEC, int UNROLL>
__device__ __forceinline__ void pool_block(const T* __restrict__ x, double* __restrict__ out, int n, int d, int block, int b, int h, int lane,
                                           __nv_bfloat16* split, float* norm, int pitch, int per) {
  const int nb = (n + block - 1) / block;
  const int r0 = b * block, r1 = min(n, r0 + block);
  const T* src = x + ((long long)h * n + r0) * d + lane * VEC;
  double acc[VEC];
#pragma unroll
  for (int i = 0; i < VEC; ++i) acc[i] = 0.0;
#pragma unroll UNROLL
  for (int r = r0; r < r1; ++r, src += d) {
    double v[VEC];
    load_row<T, VEC>(src, v);
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[i] = __dadd_rn(acc[i], v[i]);
  }
  const double count = (double)(r1 - r0);
  double* dst = out + ((long long)h * nb + b) * d + lane * VEC;
#pragma unroll
  for (int i = 0; i < VEC; ++i) acc[i] = dst[i] = __ddiv_rn(acc[i], count);
  if constexpr (VEC == 8 || VEC == 4) {
    if (split == nullptr) return;
    __nv_bfloat16 hi[VEC], lo[VEC];
    double sum = 0.0, big = 0.0;
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      split_bf16(acc[i], hi[i], lo[i]);
      sum = fma(acc[i], acc[i], sum);
      big = fmax(big, fabs(acc[i]));  // fmax drops NaN: the sum keeps it
    }
    // Each part's VEC values packed in pairs, stored 16 (or 8) bytes at once.
    unsigned wh[VEC / 2], wl[VEC / 2];
#pragma unroll
    for (int j = 0; j < VEC / 2; ++j) {
      wh[j] = __bfloat16_as_ushort(hi[2 * j]) | (unsigned)__bfloat16_as_ushort(hi[2 * j + 1]) << 16;
      wl[j] = __bfloat16_as_ushort(lo[2 * j]) | (unsigned)__bfloat16_as_ushort(lo[2 * j + 1]) << 16;
    }
    __nv_bfloat16* row = split + ((long long)h * nb + b) * 2 * d + lane * VEC;
    if constexpr (VEC == 8) {
      *reinterpret_cast<uint4*>(row) = make_uint4(wh[0], wh[1], wh[2], wh[3]);
      *reinterpret_cast<uint4*>(row + d) = make_uint4(wl[0], wl[1], wl[2], wl[3]);
    } else {
      *reinterpret_cast<uint2*>(row) = make_uint2(wh[0], wh[1]);
      *reinterpret_cast<uint2*>(row + d) = make_uint2(wl[0], wl[1]);
    }
    const unsigned group = per == 32 ? 0xffffffffu : ((1u << per) - 1u) << ((threadIdx.x % 32) & ~(per - 1));
    for (int off = per / 2; off > 0; off >>= 1) {
      sum += __shfl_xor_sync(group, sum, off);
      big = fmax(big, __shfl_xor_sync(group, big, off));
    }
    if (lane == 0) norm[(long long)h * pitch + b] = filter_norm(sum, big);
  }
}

/** What a selection pools, side 0 and side 1 (Q by blocks of qblock rows, K by blocks of
 *  kblock): each [heads, n, d], means written [heads][blocks][d]. */
template <typename T>
struct PoolSides {
  const T* x0;
  const T* x1;
  double* out0;
  double* out1;
  int block0, block1;
  // Optional (split0 null: not made): the filter's bf16 splits of each side's means and their
  // norms, a head's norms pitch0 / pitch1 apart (pool_and_filter sets them).
  __nv_bfloat16* split0 = nullptr;
  __nv_bfloat16* split1 = nullptr;
  float* norm0 = nullptr;
  float* norm1 = nullptr;
  int pitch0 = 0, pitch1 = 0;
};

/** Means of blocks of rows of each head of both sides, in one launch (one tail instead of
 *  two): d / VEC threads per block of rows, each summing VEC columns (pool_block), blockDim.x
 *  / (d / VEC) blocks of rows per CTA; grid (CTAs, heads, sides). Three CTAs of 256 threads
 *  per SM (at most 85 registers) with eight rows' loads in flight measured best of the shapes
 *  tried with 16-byte loads (bench/cuda/pool_bench.cu on the H200: 3.4 TB/s against v13's 3.1). */
template <typename T, int VEC, int MIN_CTAS = 3, int UNROLL = 8>
__global__ void __launch_bounds__(256, MIN_CTAS) mean_pool(PoolSides<T> p, int n, int d) {
  const bool one = blockIdx.z == 1;
  const int block = one ? p.block1 : p.block0;
  const int per = d / VEC, slots = blockDim.x / per;
  const int lane = threadIdx.x % per, slot = threadIdx.x / per;
  const int nb = (n + block - 1) / block, b = blockIdx.x * slots + slot;
  if (slot >= slots || b >= nb) return;  // the whole group of `per` lanes (the same b)
  pool_block<T, VEC, UNROLL>(one ? p.x1 : p.x0, one ? p.out1 : p.out0, n, d, block, b, blockIdx.y, lane, one ? p.split1 : p.split0,
                             one ? p.norm1 : p.norm0, one ? p.pitch1 : p.pitch0, per);
}

/** Columns a pooling lane loads at once: 8-byte loads. They measured 3% faster than 16-byte
 *  ones at the benchmark's shape (bench/cuda/pool_bench.cu on the H200, 0.153 against 0.158 ms
 *  for Q and K; bench v19), perhaps from the finer work items (twice the lanes a mean, half the
 *  columns a lane: a shorter last wave) rather than the loads themselves; and with D = 128 a
 *  mean's lanes are one warp, so pool_and_filter can reduce its norm there. */
enum { POOL_VEC = 4 };  // (an enum: a constexpr variable would warn where nothing pools)

/** Whether mean_pool takes POOL_VEC-element loads for these sides: rows of whole pieces. */
template <typename T>
bool pool_vectorised(const PoolSides<T>& p, int d) {
  const uintptr_t bytes = POOL_VEC * sizeof(T);
  return d % POOL_VEC == 0 && d / POOL_VEC <= 256 && reinterpret_cast<uintptr_t>(p.x0) % bytes == 0 && reinterpret_cast<uintptr_t>(p.x1) % bytes == 0;
}

/** Launches mean_pool over both sides, with POOL_VEC-element loads where rows allow them; the
 *  grid covers the side with more blocks (the other's extra CTAs return at once). Splits and
 *  norms (p.split0) only with those loads. */
template <typename T>
void launch_mean_pool(const PoolSides<T>& p, int heads, int n, int d, cudaStream_t stream) {
  const int block = min(p.block0, p.block1), nb = (n + block - 1) / block;
  const bool vec = pool_vectorised(p, d);
  const int per = vec ? d / POOL_VEC : d, slots = per <= 256 ? 256 / per : 1;
  const dim3 grid((nb + slots - 1) / slots, heads, 2);
  if (vec) {
    mean_pool<T, POOL_VEC><<<grid, slots * per, 0, stream>>>(p, n, d);
  } else {
    mean_pool<T, 1><<<grid, slots * per, 0, stream>>>(p, n, d);
  }
}

/** Pairs of (query block, key block) per score tile side, and threads per float64 tile. */
enum { SCORE_TILE = 64, SCORE_THREADS = 256 };

/** Block scores of one 64 x 64 tile of (query block, key block) pairs of head h:
 *  scores[h][qb][kb] = mean(Q block) . mean(K block), summed over d in order (the CPU's
 *  bits). 256 threads, each 4 x 4 pairs (query blocks ty + 16a, key blocks tx + 16b); the
 *  means are staged in shared memory 16 dimensions at a time (rows padded to 65: the
 *  transposing stores hit distinct banks).
 *  `wanted(qb, kb)`: whether the choice reads the pair's score; a tile without one is skipped
 *  (half the grid for causal selections). Grid: (key tiles, query tiles, heads). */
template <typename Wanted>
__device__ __forceinline__ void score_tile(const double* __restrict__ qp, const double* __restrict__ kp, double* scores,
                                           int nqb, int nkb, int d, Wanted wanted) {
  constexpr int DC = 16;
  __shared__ double qs[DC][SCORE_TILE + 1], ks[DC][SCORE_TILE + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16, h = blockIdx.z;
  const int qb0 = blockIdx.y * SCORE_TILE, kb0 = blockIdx.x * SCORE_TILE;
  bool live = false;
#pragma unroll
  for (int a = 0; a < 4; ++a) {
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      const int qb = qb0 + ty + 16 * a, kb = kb0 + tx + 16 * b;
      live |= qb < nqb && kb < nkb && wanted(qb, kb);
    }
  }
  if (!__syncthreads_or(live)) return;
  double acc[4][4];
#pragma unroll
  for (int a = 0; a < 4; ++a) {
#pragma unroll
    for (int b = 0; b < 4; ++b) acc[a][b] = 0.0;
  }
  const double* qh = qp + ((long long)h * nqb + qb0) * d;
  const double* kh = kp + ((long long)h * nkb + kb0) * d;
  for (int c0 = 0; c0 < d; c0 += DC) {
    // Coalesced: consecutive threads read consecutive dimensions of one block's mean.
    for (int e = threadIdx.x; e < SCORE_TILE * DC; e += SCORE_THREADS) {
      const int i = e / DC, c = e % DC;
      const bool in_d = c0 + c < d;
      qs[c][i] = in_d && qb0 + i < nqb ? qh[(long long)i * d + c0 + c] : 0.0;
      ks[c][i] = in_d && kb0 + i < nkb ? kh[(long long)i * d + c0 + c] : 0.0;
    }
    __syncthreads();
    const int steps = min(DC, d - c0);
#pragma unroll 4
    for (int c = 0; c < steps; ++c) {
      double qv[4], kv[4];
#pragma unroll
      for (int a = 0; a < 4; ++a) qv[a] = qs[c][ty + 16 * a];
#pragma unroll
      for (int b = 0; b < 4; ++b) kv[b] = ks[c][tx + 16 * b];
#pragma unroll
      for (int a = 0; a < 4; ++a) {
#pragma unroll
        for (int b = 0; b < 4; ++b) acc[a][b] = __dadd_rn(acc[a][b], __dmul_rn(qv[a], kv[b]));
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int a = 0; a < 4; ++a) {
#pragma unroll
    for (int b = 0; b < 4; ++b) {
      const int qb = qb0 + ty + 16 * a, kb = kb0 + tx + 16 * b;
      if (qb < nqb && kb < nkb) scores[((long long)h * nqb + qb) * nkb + kb] = acc[a][b];
    }
  }
}

/** The filtered top-k builder's arrays in its workspace: float64 means (query blocks, then key
 *  blocks, back to back), their bf16 splits (the same order), their norms, and the float32
 *  scores. A vector's split is two rows of d32 = d rounded up to 32 bf16 values, the high
 *  parts then the low parts, zero past d (score_tile_mma reads 32 dimensions at a time). Score
 *  rows and each head's key norms are padded to nkb4 = nkb rounded up to 4, and the splits,
 *  norms and scores start on 16 bytes, so that their readers load 16 bytes at a time. */
struct FilterWorkspace {
  double* qp;
  double* kp;
  __nv_bfloat16* qsplit;  // [heads][nqb][2][d32]
  __nv_bfloat16* ksplit;  // [heads][nkb][2][d32]
  float* qnorm;           // [heads][nqb]
  float* knorm;           // [heads][nkb4]
  float* scores;          // [heads][nqb][nkb4]
};

/** d rounded up to the 32 dimensions score_tile_mma takes at a time. */
__host__ __device__ __forceinline__ int split_width(int d) { return (d + 31) & ~31; }

/** Lays out the workspace from `base` (nullptr: sizes only) and returns its size in bytes. */
inline size_t filter_workspace(void* base, int heads, int nqb, int nkb, int d, FilterWorkspace* w) {
  const size_t nkb4 = ((size_t)nkb + 3) & ~(size_t)3, vectors = (size_t)heads * ((size_t)nqb + nkb);
  const auto up16 = [](size_t b) { return (b + 15) & ~(size_t)15; };
  const size_t split_row = 2 * (size_t)split_width(d);
  const size_t atsplit = up16(sizeof(double) * vectors * d), atq = atsplit + sizeof(__nv_bfloat16) * vectors * split_row;
  const size_t atk = up16(atq + sizeof(float) * heads * nqb), ats = atk + sizeof(float) * heads * nkb4;
  const size_t total = ats + sizeof(float) * heads * nqb * nkb4;
  if (base != nullptr) {
    char* b = static_cast<char*>(base);
    w->qp = reinterpret_cast<double*>(b);
    w->kp = w->qp + (size_t)heads * nqb * d;
    w->qsplit = reinterpret_cast<__nv_bfloat16*>(b + atsplit);
    w->ksplit = w->qsplit + (size_t)heads * nqb * split_row;
    w->qnorm = reinterpret_cast<float*>(b + atq);
    w->knorm = reinterpret_cast<float*>(b + atk);
    w->scores = reinterpret_cast<float*>(b + ats);
  }
  return total;
}

/** What the filter reads of the pooled means (w.qp then w.kp, heads * (nqb + nkb) vectors of
 *  d elements), a warp per vector: the vector rounded to float32 and split into two bf16
 *  parts, hi = bf16(x) and lo = bf16(x - hi) (x - hi is exact in float32), and its Euclidean
 *  norm, which bounds the scores' error (filter_scale). A vector whose largest element is
 *  outside [2^-50, 2^50] gets a norm of +infinity (its products could leave float32's normal
 *  range: its scores are not trusted); an all-zero vector gets 0 (its scores are exactly 0). */
__global__ void filter_means(FilterWorkspace w, int heads, int nqb, int nkb, int d) {
  const int v = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32), lane = threadIdx.x % 32;
  if (v >= heads * (nqb + nkb)) return;  // v is the same on every lane of a warp
  const int d32 = split_width(d);
  const double* x = w.qp + (long long)v * d;
  __nv_bfloat16* hi = w.qsplit + (long long)v * 2 * d32;  // ksplit follows qsplit
  double sum = 0.0, big = 0.0;
  for (int c = lane; c < d32; c += 32) {
    const double e = c < d ? x[c] : 0.0;
    split_bf16(e, hi[c], hi[d32 + c]);
    sum = fma(e, e, sum);
    big = fmax(big, fabs(e));  // fmax drops NaN: the sum keeps it
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    sum += __shfl_xor_sync(0xffffffff, sum, off);
    big = fmax(big, __shfl_xor_sync(0xffffffff, big, off));
  }
  const int kv = v - heads * nqb, nkb4 = (nkb + 3) & ~3;  // key vector kv: head kv / nkb
  if (lane == 0) *(kv < 0 ? w.qnorm + v : w.knorm + (long long)(kv / nkb) * nkb4 + kv % nkb) = filter_norm(sum, big);
}

/** Launches filter_means over every pooled mean. */
inline void launch_filter_means(const FilterWorkspace& w, int heads, int nqb, int nkb, int d, cudaStream_t stream) {
  const int count = heads * (nqb + nkb);
  filter_means<<<(count + 7) / 8, 256, 0, stream>>>(w, heads, nqb, nkb, d);
}

/** Pools Q and K into w's means and makes the filter's splits and norms: in the pooling itself
 *  where its lanes of a mean are a power of two within a warp and the splits need no padding
 *  (d = 32, 64 or 128: one pass less over the means, and one launch; 0.179 -> 0.161 ms at the
 *  benchmark's shape, pool_bench, bench v19), else by filter_means after it. */
template <typename T>
void pool_and_filter(const T* q, const T* k, int qblock, int kblock, const FilterWorkspace& w, int heads, int n, int d, cudaStream_t stream) {
  PoolSides<T> p{q, k, w.qp, w.kp, qblock, kblock};
  const int nqb = (n + qblock - 1) / qblock, nkb = (n + kblock - 1) / kblock, per = d / POOL_VEC;
  const bool fused = pool_vectorised(p, d) && per <= 32 && (per & (per - 1)) == 0 && split_width(d) == d;
  if (fused) {
    p.split0 = w.qsplit, p.split1 = w.ksplit;
    p.norm0 = w.qnorm, p.norm1 = w.knorm;
    p.pitch0 = nqb, p.pitch1 = (nkb + 3) & ~3;
  }
  launch_mean_pool(p, heads, n, d, stream);
  if (!fused) launch_filter_means(w, heads, nqb, nkb, d, stream);
}

/** Threads of a tensor-core score tile: four warps, each 32 x 32 of the tile's 64 x 64 pairs. */
enum { MMA_SCORE_THREADS = 128 };

/** Scores of one 64 x 64 tile of (query block, key block) pairs of head h, for the filter, on
 *  tensor cores: q . k ~ hi_q . hi_k + (hi_q . lo_k + lo_q . hi_k) from the bf16 splits
 *  (filter_means), the first product and the two small ones summed in separate float32
 *  accumulators (so the small ones' rounding is relative to their own size), added at the end,
 *  into rows of `stride` scores. The error against the float64 score is bounded at
 *  filter_scale.
 *  Warp (wm, wn) takes query blocks 32 wm + [0, 32) and key blocks 32 wn + [0, 32): two m16
 *  by four n8 tiles of mma.sync.m16n8k16. A dot product may take the dimensions in any order
 *  as long as both sides agree, so a thread loads 16 bytes (dimensions 8 t .. 8 t + 7 of each
 *  32, t = lane % 4) of each of its rows straight from global memory, and these fill its
 *  fragment registers of two k16 steps: for A rows g and g + 8 and for B column g (g = lane /
 *  4), step s takes words 2 s and 2 s + 1 of the 16 bytes as its k = 2t and k = 2t + 8 pairs.
 *  `wanted(qb, kb)`: as score_tile. Grid: (key tiles, query tiles, heads). */
template <typename Wanted>
__device__ __forceinline__ void score_tile_mma(const __nv_bfloat16* __restrict__ qs, const __nv_bfloat16* __restrict__ ks, float* scores,
                                               int nqb, int nkb, int stride, int d, Wanted wanted) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4, h = blockIdx.z;
  const int q0 = blockIdx.y * SCORE_TILE + 32 * (warp / 2), k0 = blockIdx.x * SCORE_TILE + 32 * (warp % 2);
  bool live = false;  // a thread checks the pairs it writes
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int qb = q0 + 8 * i + g, kb = k0 + 8 * j + 2 * t;
      live |= qb < nqb && kb < nkb && wanted(qb, kb);
      live |= qb < nqb && kb + 1 < nkb && wanted(qb, kb + 1);
    }
  }
  if (!__syncthreads_or(live)) return;
  const int d32 = split_width(d), row = 2 * d32;
  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  // Row pointers (nullptr: past the end, loads zeros): A rows 16 i + g + 8 r, B columns 8 j + g.
  const __nv_bfloat16* arow[2][2];
  const __nv_bfloat16* brow[4];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int qb = q0 + 16 * i + g + 8 * r;
      arow[i][r] = qb < nqb ? qs + ((long long)h * nqb + qb) * row + 8 * t : nullptr;
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const int kb = k0 + 8 * j + g;
    brow[j] = kb < nkb ? ks + ((long long)h * nkb + kb) * row + 8 * t : nullptr;
  }
  const auto load = [&](const __nv_bfloat16* p, int c) { return p ? __ldg(reinterpret_cast<const uint4*>(p + c)) : zero; };
  float big[2][4][4] = {}, small[2][4][4] = {};
  for (int c0 = 0; c0 < d32; c0 += 32) {
    uint4 ahi[2][2], alo[2][2], bhi[4], blo[4];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        ahi[i][r] = load(arow[i][r], c0);
        alo[i][r] = load(arow[i][r], c0 + d32);
      }
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      bhi[j] = load(brow[j], c0);
      blo[j] = load(brow[j], c0 + d32);
    }
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      const auto word = [&](const uint4& v, int w) { return w == 0 ? (s ? v.z : v.x) : (s ? v.w : v.y); };
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const uint32_t ah[4] = {word(ahi[i][0], 0), word(ahi[i][1], 0), word(ahi[i][0], 1), word(ahi[i][1], 1)};
        const uint32_t al[4] = {word(alo[i][0], 0), word(alo[i][1], 0), word(alo[i][0], 1), word(alo[i][1], 1)};
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const uint32_t bh[2] = {word(bhi[j], 0), word(bhi[j], 1)}, bl[2] = {word(blo[j], 0), word(blo[j], 1)};
          mma16816<__nv_bfloat16>(big[i][j], ah, bh);
          mma16816<__nv_bfloat16>(small[i][j], ah, bl);
          mma16816<__nv_bfloat16>(small[i][j], al, bh);
        }
      }
    }
  }
  // Accumulator registers 0, 1: row g, columns 2t, 2t + 1; registers 2, 3: row g + 8.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int qb = q0 + 16 * i + g + 8 * r;
      if (qb >= nqb) continue;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const int kb = k0 + 8 * j + 2 * t;  // even, stride a multiple of 4: kb + 1 is in the row
        if (kb >= nkb) continue;
        const float2 v = make_float2(big[i][j][2 * r] + small[i][j][2 * r], big[i][j][2 * r + 1] + small[i][j][2 * r + 1]);
        *reinterpret_cast<float2*>(scores + ((long long)h * nqb + qb) * stride + kb) = v;
      }
    }
  }
}

/** Whether candidate (s, kb) ranks before (t, kt) in the choice: higher score, then lower
 *  block; kt < 0 is "none" and ranks last. */
__device__ __forceinline__ bool ranks_before(double s, int kb, double t, int kt) {
  return kb >= 0 && (kt < 0 || s > t || (s == t && kb < kt));
}

/** The sum over the warp: every lane gets it. */
__device__ __forceinline__ int warp_sum(int x) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) x += __shfl_xor_sync(0xffffffff, x, off);
  return x;
}

/** The best (score, block) over the warp, by ranks_before: every lane gets it. */
__device__ __forceinline__ void warp_best(double& best_s, int& best) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    const double os = __shfl_xor_sync(0xffffffff, best_s, off);
    const int ob = __shfl_xor_sync(0xffffffff, best, off);
    if (ranks_before(os, ob, best_s, best)) {
      best_s = os;
      best = ob;
    }
  }
}

/** Keeps (s, kb) in a lane's list of the COUNT best by ranks_before, sorted best first (the
 *  list's empty places have block -1). */
template <int COUNT>
__device__ __forceinline__ void keep_best(double (&bs)[COUNT], int (&bk)[COUNT], double s, int kb) {
  if (!ranks_before(s, kb, bs[COUNT - 1], bk[COUNT - 1])) return;
  bs[COUNT - 1] = s;
  bk[COUNT - 1] = kb;
#pragma unroll
  for (int i = COUNT - 1; i > 0; --i) {  // bubble up from the end
    if (ranks_before(bs[i], bk[i], bs[i - 1], bk[i - 1])) {
      const double ts = bs[i];
      const int tk = bk[i];
      bs[i] = bs[i - 1];
      bk[i] = bk[i - 1];
      bs[i - 1] = ts;
      bk[i - 1] = tk;
    }
  }
}

/** Drops the head of a lane's list. */
template <int COUNT>
__device__ __forceinline__ void pop_best(double (&bs)[COUNT], int (&bk)[COUNT]) {
#pragma unroll
  for (int i = 0; i + 1 < COUNT; ++i) {
    bs[i] = bs[i + 1];
    bk[i] = bk[i + 1];
  }
  bk[COUNT - 1] = -1;
}

/** The choice of one (query block, head) row of nkb key blocks by one warp: `row[kb]` = 1 for
 *  kept blocks, 0 otherwise. Always-kept blocks first; then candidates by rank until COUNT
 *  blocks are kept. Lane l owns key blocks l, l + 32, ...: one pass marks the always-kept
 *  blocks and keeps the lane's best COUNT candidates in registers, sorted; then each round a
 *  warp reduction takes the best head of the lanes' lists, whose lane pops it and marks it.
 *  A lane writes only its own blocks, so the row needs no synchronisation. */
template <int COUNT, typename Always, typename Among, typename Score>
__device__ __forceinline__ void choose_row(unsigned char* row, int nkb, Always always, Among among, Score score) {
  const int lane = threadIdx.x % 32;
  double bs[COUNT];
  int bk[COUNT];
#pragma unroll
  for (int i = 0; i < COUNT; ++i) {
    bs[i] = 0.0;
    bk[i] = -1;
  }
  int have = 0;
  for (int kb = lane; kb < nkb; kb += 32) {
    const bool keep = always(kb);
    have += keep;
    row[kb] = keep;
    if (!keep && among(kb)) keep_best(bs, bk, score(kb), kb);
  }
  have = warp_sum(have);
  for (; have < COUNT; ++have) {
    double best_s = bs[0];
    int best = bk[0];
    warp_best(best_s, best);
    if (best < 0) break;
    if (bk[0] == best) {  // this lane's head won: keep it, pop the list
      row[best] = 1;
      pop_best(bs, bk);
    }
  }
}

/** qscale of a query block's row: a pair's score from score_tile_mma is within e = qscale *
 *  |k| of its float64 score (the CPU's), qscale = (d + 64) 2^-19 |q|. Where e comes from, as
 *  multiples of |q| |k| (each sum over d below is at most |q| |k|, by Cauchy-Schwarz):
 *  - the splits: x rounded to float32 (2^-24), then to hi + lo (2^-16 of x32: hi is within
 *    2^-8 of x32, lo within 2^-8 of x32 - hi), so the products of the parts differ from the
 *    exact product by at most 2.01 x 2^-16 |q_i||k_i|, and the dropped lo_q lo_k by 1.01 x
 *    2^-16: 3.02 x 2^-16 in all, 48.3 x 2^-20;
 *  - the tensor cores' sums. NVIDIA does not specify them; measurements (Fasi, Higham,
 *    Mikaitis and Pranesh, "Numerical behavior of NVIDIA tensor cores", 2021) found the
 *    products exact and each instruction's terms aligned to the largest one with truncation,
 *    an error of a few units in the last place of the largest term. Taken here as at most 18
 *    x 2^-23 (the sum of its 16 products' and its accumulator's magnitudes) per instruction,
 *    the hi chain's d / 16 instructions give 18 x 2^-23 (1 + 1.01 d / 16) x 1.01, and the lo
 *    chain 2^-7 of that; 8 times this model is (18.5 + 1.17 d) 2^-20;
 *  - products under 2^-126 flushed to zero: 3 d 2^-126, at most 0.05 d 2^-20 (a trusted
 *    vector's largest element is at least 2^-50, so |q| |k| >= 2^-100); parts under 2^-126
 *    flushed as inputs: |q_i| < 2^-126 <= 2^-76 |q|, so at most 3 d 2^-76;
 *  - the float64 score's own roundings, the final float32 addition, the float32 norms, and
 *    the float32 arithmetic of the bounds: under 2^-20.
 *  Total under (68 + 1.3 d) 2^-20, within (2 d + 128) 2^-20. Untrusted norms (+infinity:
 *  filter_means) give e = +infinity or NaN and so bounds that are infinite or NaN; the choice
 *  reads a NaN lower bound as -infinity and a NaN upper bound as +infinity (its comparisons
 *  are written so), which is the interval (-inf, +inf). */
__device__ __forceinline__ float filter_scale(float qnorm, int d) { return __fmul_rn((float)(d + 64) * 0x1p-19f, qnorm); }

/** Bounds of a pair's float64 score from its tensor-core score `approx`: approx -/+ qscale *
 *  knorm (filter_scale). */
__device__ __forceinline__ float low_bound(float approx, float qscale, float knorm) {
  return __fsub_rn(approx, __fmul_rn(qscale, knorm));
}
__device__ __forceinline__ float high_bound(float approx, float qscale, float knorm) {
  return __fadd_rn(approx, __fmul_rn(qscale, knorm));
}

/** Keeps x in a lane's COUNT best values, sorted descending (-inf: empty); NaN is never kept. */
template <int COUNT>
__device__ __forceinline__ void keep_high(float (&v)[COUNT], float x) {
  if (!(x > v[COUNT - 1])) return;
  v[COUNT - 1] = x;
#pragma unroll
  for (int i = COUNT - 1; i > 0; --i) {
    if (v[i] > v[i - 1]) {
      const float t = v[i];
      v[i] = v[i - 1];
      v[i - 1] = t;
    }
  }
}

/** The float64 score as the CPU computes it: products and sums in order over d, each rounded;
 *  loads eight at a time ahead of the sums. */
__device__ __forceinline__ double exact_score(const double* __restrict__ qv, const double* __restrict__ kv, int d) {
  double s = 0.0;
  int c = 0;
#pragma unroll 2
  for (; c + 8 <= d; c += 8) {
    double q8[8], k8[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      q8[i] = qv[c + i];
      k8[i] = kv[c + i];
    }
#pragma unroll
    for (int i = 0; i < 8; ++i) s = __dadd_rn(s, __dmul_rn(q8[i], k8[i]));
  }
  for (; c < d; ++c) s = __dadd_rn(s, __dmul_rn(qv[c], kv[c]));
  return s;
}

/** Warps per CTA of the filtered choice (its shared lists), and 128-block spans of a row
 *  whose scores a lane loads before using any. */
enum { FILTER_WARPS = 4, FILTER_BATCH = 2 };

/** 16 bytes of a float row: four consecutive values. */
__device__ __forceinline__ float4 load4(const float* p) { return __ldg(reinterpret_cast<const float4*>(p)); }

/** The top-COUNT choice of one row by one warp from approximate scores `s` (padded rows:
 *  16-byte loads) and their bounds (low_bound, high_bound with the key norms `kn`), giving
 *  exactly what choose_row gives on the float64 scores. L, the need-th best lower bound (need =
 *  COUNT - always-kept), is reached by need candidates, so a candidate whose upper bound is
 *  below L ranks after all of them and cannot be kept. The others, the candidates in reach,
 *  are gathered 32 at a time into a shared list. When there are at most need of them (the
 *  usual case: no near ties), they are the kept blocks and no score is needed; otherwise they
 *  are scored in float64 by `exact`, a lane each, and chosen by rank (ranks_before), whenever
 *  the list passes 32 and at the end. Lane l reads and marks
 *  blocks 4l to 4l + 3 of each 128: one 16-byte load of scores and one of norms per four
 *  blocks (a lane per block was instruction bound: bench/NOTES.md, v15); then the winners. */
template <int COUNT, int BATCH = FILTER_BATCH, typename Always, typename Among, typename Exact>
__device__ __forceinline__ void choose_row_filtered(unsigned char* row, int nkb, const float* __restrict__ s, const float* __restrict__ kn,
                                                    float qscale, Always always, Among among, Exact exact) {
  __shared__ int lists[FILTER_WARPS][64];
  __shared__ double exacts[FILTER_WARPS][64];
  int* list = lists[threadIdx.x / 32];
  const int lane = threadIdx.x % 32;
  const bool packed = nkb % 4 == 0 && reinterpret_cast<uintptr_t>(row) % 4 == 0;  // the row's bytes go out four at a time
  float4 sv[BATCH], nv[BATCH];
  const auto fetch = [&](int base) {  // the batch's loads first, then their uses
#pragma unroll
    for (int j = 0; j < BATCH; ++j) {
      const int kb0 = base + 128 * j + 4 * lane;
      sv[j] = kb0 < nkb ? load4(s + kb0) : make_float4(0.f, 0.f, 0.f, 0.f);
      nv[j] = kb0 < nkb ? load4(kn + kb0) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  };
  float lows[COUNT];
#pragma unroll
  for (int i = 0; i < COUNT; ++i) lows[i] = -INFINITY;
  int have = 0;
  for (int base = 0; base < nkb; base += 128 * BATCH) {
    fetch(base);
#pragma unroll
    for (int j = 0; j < BATCH; ++j) {
      const int kb0 = base + 128 * j + 4 * lane;
      const float sa[4] = {sv[j].x, sv[j].y, sv[j].z, sv[j].w}, na[4] = {nv[j].x, nv[j].y, nv[j].z, nv[j].w};
      unsigned marks = 0;  // byte e: 1 where block kb0 + e is always kept
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int kb = kb0 + e;
        const bool keep = kb < nkb && always(kb);
        marks |= (unsigned)keep << (8 * e);
        have += keep;
        if (kb < nkb && !keep && among(kb)) keep_high(lows, low_bound(sa[e], qscale, na[e]));
      }
      if (packed && kb0 < nkb) {
        *reinterpret_cast<unsigned*>(row + kb0) = marks;
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          if (kb0 + e < nkb) row[kb0 + e] = (unsigned char)(marks >> (8 * e));
        }
      }
    }
  }
  const int need = COUNT - warp_sum(have);
  if (need <= 0) return;
  // The need-th best lower bound over the warp; -inf when fewer candidates have finite ones
  // (then every candidate is in reach).
  float L = -INFINITY;
  for (int t = 0; t < need; ++t) {
    L = lows[0];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) L = fmaxf(L, __shfl_xor_sync(0xffffffff, L, off));
    if (L == -INFINITY) break;
    const unsigned holders = __ballot_sync(0xffffffff, lows[0] == L);
    if (lane == __ffs(holders) - 1) {  // one holder pops it
#pragma unroll
      for (int i = 0; i + 1 < COUNT; ++i) lows[i] = lows[i + 1];
      lows[COUNT - 1] = -INFINITY;
    }
  }
  // The candidates in reach, and the float64 scores of the first `done` of them, which are
  // then the best `need` (or fewer) of all scored so far: an entry that is not among the best
  // `need` of a subset of the candidates is not among the best `need` of all of them. In shared
  // memory rather than a sorted list a lane, whose 3 COUNT registers cost COUNT = 16 half its
  // occupancy (bench/NOTES.md, v18). Scores are finite (means of finite inputs), so ranks_before
  // orders the entries totally and exactly need of them rank below need.
  double* scores = exacts[threadIdx.x / 32];
  int pending = 0, done = 0;  // entries of `list` (at most 64), and how many are scored
  const unsigned below = (1u << lane) - 1;
  const auto settle = [&]() {  // scores list[done .. pending), keeps the best `need` in list[0 ..)
    __syncwarp();
    for (int i = done + lane; i < pending; i += 32) scores[i] = exact(list[i]);
    __syncwarp();
    if (pending > need) {
      bool keep[2];
      int kb[2] = {-1, -1};
      double ks[2] = {0.0, 0.0};
#pragma unroll
      for (int r = 0; r < 2; ++r) {  // entry lane + 32 r: its rank by ranks_before
        const int i = lane + 32 * r;
        int rank = 0;
        if (i < pending) {
          kb[r] = list[i];
          ks[r] = scores[i];
          for (int j = 0; j < pending; ++j) rank += ranks_before(scores[j], list[j], ks[r], kb[r]);
        }
        keep[r] = i < pending && rank < need;
      }
      __syncwarp();
      int kept = 0;
#pragma unroll
      for (int r = 0; r < 2; ++r) {  // compacted in list order, at most need of them
        const unsigned m = __ballot_sync(0xffffffff, keep[r]);
        const int at = kept + __popc(m & below);
        if (keep[r] && at < need) {
          list[at] = kb[r];
          scores[at] = ks[r];
        }
        kept += __popc(m);
      }
      pending = min(kept, need);
      __syncwarp();
    }
    done = pending;
  };
  for (int base = 0; base < nkb; base += 128 * BATCH) {
    fetch(base);
#pragma unroll
    for (int j = 0; j < BATCH; ++j) {
      const int kb0 = base + 128 * j + 4 * lane;
      const float sa[4] = {sv[j].x, sv[j].y, sv[j].z, sv[j].w}, na[4] = {nv[j].x, nv[j].y, nv[j].z, nv[j].w};
      unsigned reach = 0;  // bit e: block kb0 + e is a candidate in reach of L
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int kb = kb0 + e;
        const bool in = kb < nkb && !always(kb) && among(kb) && !(high_bound(sa[e], qscale, na[e]) < L);
        reach |= (unsigned)in << e;
      }
      if (!__any_sync(0xffffffff, reach != 0)) continue;  // the usual case: nothing in reach
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool in = (reach >> e) & 1;
        const unsigned m = __ballot_sync(0xffffffff, in);
        if (in) list[pending + __popc(m & below)] = kb0 + e;
        pending += __popc(m);
        if (pending > 32) settle();  // at most 64 after the next ballot (need <= 32)
      }
    }
  }
  // The usual case: the bounds decided, no float64 score (a settle leaves exactly need entries,
  // so more than need remain whenever one ran and more came).
  if (pending > need) settle();
  __syncwarp();
  for (int i = lane; i < pending; i += 32) row[list[i]] = 1;
}

/** The same choice for large COUNT (lists would not fit in registers): COUNT rounds, each a
 *  scan of the row for the best remaining candidate and a warp reduction. Candidates are
 *  marked 2 in the row while choosing. */
template <typename Always, typename Among, typename Score>
__device__ __forceinline__ void choose_row_rounds(unsigned char* row, int nkb, int count, Always always, Among among, Score score) {
  const int lane = threadIdx.x % 32;
  int have = 0;
  for (int kb = lane; kb < nkb; kb += 32) {
    const bool keep = always(kb);
    have += keep;
    row[kb] = keep ? 1 : among(kb) ? 2 : 0;
  }
  have = warp_sum(have);
  for (; have < count; ++have) {
    double best_s = 0.0;
    int best = -1;
    for (int kb = lane; kb < nkb; kb += 32) {
      if (row[kb] == 2) {
        const double s = score(kb);
        if (ranks_before(s, kb, best_s, best)) {
          best = kb;
          best_s = s;
        }
      }
    }
    warp_best(best_s, best);
    if (best < 0) break;
    if (best % 32 == lane) row[best] = 1;  // the owning lane: rows stay per-lane
  }
  for (int kb = lane; kb < nkb; kb += 32) {
    if (row[kb] == 2) row[kb] = 0;
  }
}

/** The top-p choice of one row by one warp (selectBlocks' `mass` rule): always-kept blocks,
 *  then candidates by rank (descending score, ties to the lower block) until the kept blocks
 *  hold `mass` of the softmax, with `scale`, over always-kept and candidate blocks. The sums
 *  run in the CPU's order: the always-kept blocks by index, then the candidates by rank; so a
 *  warp ranks every candidate (counting those that rank before it: quadratic in the key
 *  blocks of a row), writes the order to `order`, replaces each score by its exponential in
 *  place, and lane 0 sums in order. `row` marks candidates 2 while choosing. */
template <typename Always, typename Among>
__device__ __forceinline__ void choose_row_mass(unsigned char* row, double* s, int* order, int nkb, double mass, double scale,
                                                Always always, Among among) {
  const int lane = threadIdx.x % 32;
  double mx = -INFINITY;
  for (int kb = lane; kb < nkb; kb += 32) {
    const unsigned char c = always(kb) ? 1 : among(kb) ? 2 : 0;
    row[kb] = c;
    if (c) mx = fmax(mx, s[kb]);
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) mx = fmax(mx, __shfl_xor_sync(0xffffffff, mx, off));
  __syncwarp();
  for (int kb = lane; kb < nkb; kb += 32) {
    if (row[kb] != 2) continue;
    int rank = 0;
    for (int j = 0; j < nkb; ++j) rank += row[j] == 2 && ranks_before(s[j], j, s[kb], kb);
    order[rank] = kb;
  }
  int cands = 0;
  for (int kb = lane; kb < nkb; kb += 32) cands += row[kb] == 2;
  cands = warp_sum(cands);
  __syncwarp();
  for (int kb = lane; kb < nkb; kb += 32) {
    if (row[kb]) s[kb] = exp64(__dmul_rn(__dsub_rn(s[kb], mx), scale));
  }
  __syncwarp();
  if (lane == 0) {
    double have = 0.0;
    for (int kb = 0; kb < nkb; ++kb) {
      if (row[kb] == 1) have = __dadd_rn(have, s[kb]);
    }
    double total = have;
    for (int t = 0; t < cands; ++t) total = __dadd_rn(total, s[order[t]]);
    for (int t = 0; t < cands && have < __dmul_rn(mass, total); ++t) {
      row[order[t]] = 1;
      have = __dadd_rn(have, s[order[t]]);
    }
  }
  __syncwarp();
  for (int kb = lane; kb < nkb; kb += 32) {
    if (row[kb] == 2) row[kb] = 0;
  }
}

}  // namespace spattn
