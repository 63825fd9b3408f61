// GPU index builders of top-k block selections: mean pooling, block scores and the choice,
// reproducing selectBlocks in compiler/blockmask/lib.ts bit for bit. Pooling and scores are
// float64 with the CPU's summation order and every product and sum rounded on its own
// (__dmul_rn / __dadd_rn: no fused multiply-adds); the choice keeps the always-kept blocks,
// then candidates by descending score, ties to the lower key block. The generated code
// supplies the selection's predicates. Embedded verbatim into generated files with top-k
// selections.

namespace spattn {

template <typename T> __device__ __forceinline__ float to_float(unsigned short bits);
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(unsigned short bits) { return __bfloat162float(__ushort_as_bfloat16(bits)); }
template <> __device__ __forceinline__ float to_float<__half>(unsigned short bits) { return __half2float(__ushort_as_half(bits)); }

/** Loads VEC consecutive elements as float64 (VEC = 8: one 16-byte load). */
template <typename T, int VEC>
__device__ __forceinline__ void load_row(const T* src, double (&v)[VEC]) {
  if constexpr (VEC == 8) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(src));
    const unsigned w[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] = (double)to_float<T>((unsigned short)(w[i / 2] >> (16 * (i % 2))));
  } else {
#pragma unroll
    for (int i = 0; i < VEC; ++i) v[i] = (double)(float)src[i];
  }
}

/** Means of blocks of `block` rows of each head's [n, d] matrix, written [heads][blocks][d]:
 *  d / VEC threads per block of rows, each summing VEC columns over the rows in order (the
 *  CPU's order), blockDim.x / (d / VEC) blocks of rows per CTA; grid (CTAs, heads). */
template <typename T, int VEC>
__global__ void __launch_bounds__(256, 1) mean_pool(const T* __restrict__ x, double* __restrict__ out, int n, int d, int block) {
  const int per = d / VEC, slots = blockDim.x / per;
  const int lane = threadIdx.x % per, slot = threadIdx.x / per;
  const int nb = (n + block - 1) / block, b = blockIdx.x * slots + slot, h = blockIdx.y;
  if (slot >= slots || b >= nb) return;
  const int r0 = b * block, r1 = min(n, r0 + block);
  const T* src = x + ((long long)h * n + r0) * d + lane * VEC;
  double acc[VEC];
#pragma unroll
  for (int i = 0; i < VEC; ++i) acc[i] = 0.0;
#pragma unroll 4
  for (int r = r0; r < r1; ++r, src += d) {
    double v[VEC];
    load_row<T, VEC>(src, v);
#pragma unroll
    for (int i = 0; i < VEC; ++i) acc[i] = __dadd_rn(acc[i], v[i]);
  }
  const double count = (double)(r1 - r0);
  double* dst = out + ((long long)h * nb + b) * d + lane * VEC;
#pragma unroll
  for (int i = 0; i < VEC; ++i) dst[i] = __ddiv_rn(acc[i], count);
}

/** Launches mean_pool with 16-byte loads where rows allow them. */
template <typename T>
void launch_mean_pool(const T* x, double* out, int heads, int n, int d, int block, cudaStream_t stream) {
  const int nb = (n + block - 1) / block;
  if (d % 8 == 0 && d <= 2048 && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
    const int per = d / 8, slots = 256 / per;
    mean_pool<T, 8><<<dim3((nb + slots - 1) / slots, heads), slots * per, 0, stream>>>(x, out, n, d, block);
  } else {
    const int slots = d <= 256 ? 256 / d : 1;
    mean_pool<T, 1><<<dim3((nb + slots - 1) / slots, heads), slots * d, 0, stream>>>(x, out, n, d, block);
  }
}

/** Pairs of (query block, key block) per score tile side, and threads per tile. */
enum { SCORE_TILE = 64, SCORE_THREADS = 256 };

/** Block scores of one 64 x 64 tile of (query block, key block) pairs of head h:
 *  scores[h][qb][kb] = mean(Q block) . mean(K block), summed over d in order. 256 threads,
 *  each 4 x 4 pairs (query blocks ty + 16a, key blocks tx + 16b); the means are staged in
 *  shared memory 16 dimensions at a time (rows padded to 65: the transposing stores hit
 *  distinct banks). `wanted(qb, kb)`: whether the choice reads the pair's score; a tile
 *  without one is skipped (half the grid for causal selections). Grid: (key tiles, query
 *  tiles, heads). */
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
    if (!keep && among(kb)) {
      const double s = score(kb);
      if (ranks_before(s, kb, bs[COUNT - 1], bk[COUNT - 1])) {  // insert: bubble up from the end
        bs[COUNT - 1] = s;
        bk[COUNT - 1] = kb;
#pragma unroll
        for (int i = COUNT - 1; i > 0; --i) {
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
    }
  }
  have = warp_sum(have);
  for (; have < COUNT; ++have) {
    double best_s = bs[0];
    int best = bk[0];
    warp_best(best_s, best);
    if (best < 0) break;
    if (bk[0] == best) {  // this lane's head won: keep it, pop the list
      row[best] = 1;
#pragma unroll
      for (int i = 0; i + 1 < COUNT; ++i) {
        bs[i] = bs[i + 1];
        bk[i] = bk[i + 1];
      }
      bk[COUNT - 1] = -1;
    }
  }
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
