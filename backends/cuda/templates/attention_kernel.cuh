// The forward kernel itself (see attention_fwd.cuh). It reads the generated pattern through
// names: pattern::Dyn (device pointers of data-dependent steps, or an empty struct),
// pattern::allowed(q, k, head, n, dyn), the pattern's predicate for one pair, and its heads'
// groups (HEAD_CASES, head_case, allowed_case<HC>: the predicate with no test of the head).
// Embedded verbatim into every generated .cu file, after the pattern. Its first helpers
// (tile_allows, finish_row) serve the sm_90a kernel too.
//
// Each warp owns MT m-tiles of 16 query rows (16 * MT consecutive rows): every K and V fragment
// it loads from shared memory then feeds MT matrix products, which is what limits this kernel
// (ldmatrix traffic). Q fragments are re-read from shared memory per key tile when MT > 1, to
// leave the registers to the accumulators.

namespace spattn {

/** Whether a score of a visited tile survives: padding (token -1) never, a full tile always, a
 *  partial tile by the pattern's predicate. Branch-free: the predicate runs on clamped tokens
 *  (padding reads nothing out of range) and padding is masked after; short-circuits would
 *  diverge per element. */
template <int HC = -1>  // the head's group of `match head` cases (pattern::head_case), -1: any head
__device__ __forceinline__ bool tile_allows(int qq, int kk, bool partial, int h, int n, const pattern::Dyn& dyn) {
  const int q = qq < 0 ? 0 : qq, k = kk < 0 ? 0 : kk;
  bool ok;
  if constexpr (HC < 0) ok = pattern::allowed(q, k, h, n, dyn);
  else ok = pattern::allowed_case<HC>(q, k, h, n, dyn);
  return (kk >= 0) & (qq >= 0) & (!partial | ok);
}

/** The end of one query row, for both kernels: `l` is the thread's share of the row sum, summed
 *  over its quad here (so every lane calls this), `m` the row's running maximum (log2 domain).
 *  The quad leader writes the row's lse (-inf for a row with no allowed key; nothing for row -1,
 *  padding). Returns the factor that normalises the row's O (0 for a row with no allowed key). */
__device__ __forceinline__ float finish_row(const Params& p, int b, int h, int row, float l, float m, int tq) {
  l += __shfl_xor_sync(0xffffffff, l, 1);
  l += __shfl_xor_sync(0xffffffff, l, 2);
  if (tq == 0 && p.lse && row >= 0) {
    p.lse[(long long)(b * p.heads + h) * p.n + row] = l > 0.f ? (m + log2f(l)) * 0.6931471805599453f : -INFINITY;
  }
  return l > 0.f ? 1.f / l : 0.f;
}

/** Writes one query row of O and its lse. `frag` holds the thread's accumulators as D / 8 groups
 *  of 4 (elements 2r and 2r + 1 of each group belong to this row); `l` and `m` as finish_row
 *  takes them. Row -1 (padding) writes nothing. */
template <typename T, int D>
__device__ __forceinline__ void store_row(const Params& p, int b, int h, int row, const float* frag, int r, float l, float m, int tq) {
  const float inv = finish_row(p, b, h, row, l, m, tq);
  if (row < 0) return;
  T* out = static_cast<T*>(p.o) + ((long long)(b * p.heads + h) * p.n + row) * D;
#pragma unroll
  for (int j = 0; j < D / 8; ++j) {
    *reinterpret_cast<uint32_t*>(out + j * 8 + 2 * tq) = Pack<T>::two(frag[4 * j + 2 * r] * inv, frag[4 * j + 2 * r + 1] * inv);
  }
}

template <typename T, int D, int NW, int MT, int BK, bool MAPPED, int HC>
__device__ __forceinline__ void attention_body(const Params& p, const pattern::Dyn& dyn) {
  constexpr int WR = 16 * MT;  // rows per warp
  constexpr int BQ = NW * WR;
  constexpr int THREADS = NW * 32;
  constexpr bool Q_IN_REGS = MT == 1;
  static_assert(D % 16 == 0 && BK % 16 == 0, "tile sizes must be multiples of 16");
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* sQ = reinterpret_cast<T*>(smem_raw);
  T* sK = sQ + BQ * D;
  T* sV = sK + 2 * BK * D;
  int* sQtok = reinterpret_cast<int*>(sV + 2 * BK * D);  // token of each query row (MAPPED)
  int* sKtok = sQtok + BQ;                                // [2][BK] token of each key row (MAPPED)

  const int qt = blockIdx.x;
  const int h = blockIdx.y;
  const int b = blockIdx.z;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int group = lane >> 2;
  const int tq = lane & 3;
  const int kvh = h / (p.heads / p.kv_heads);
  const int n = p.n;
  const T* Q = static_cast<const T*>(p.q) + (long long)(b * p.heads + h) * n * D;
  const T* K = static_cast<const T*>(p.k) + (long long)(b * p.kv_heads + kvh) * n * D;
  const T* V = static_cast<const T*>(p.v) + (long long)(b * p.kv_heads + kvh) * n * D;
  const int q0 = qt * BQ;
  const int wrow = warp * WR;  // this warp's first row in the tile

  const int list = (p.tiles.heads == 1 ? 0 : h) * p.num_q_tiles + qt;
  const int np = p.tiles.kv_num[list];
  const int nf = p.tiles.full_num[list];
  const int* pidx = p.tiles.kv_idx + (long long)list * p.tiles.stride;
  const int* fidx = p.tiles.full_idx + (long long)list * p.tiles.stride;
  const int total = np + nf;

  load_tile<T, D, BQ, THREADS, MAPPED>(sQ, sQtok, Q, q0, p);
  if (total > 0) {
    const int kb = np > 0 ? pidx[0] : fidx[0];
    load_tile<T, D, BK, THREADS, MAPPED>(sK, sKtok, K, kb * BK, p);
    load_tile<T, D, BK, THREADS, MAPPED>(sV, sKtok, V, kb * BK, p);
  }
  cp_async_commit();

  float acc_o[MT][D / 8][4];
  float m_i[MT][2];
  float l_i[MT][2];
#pragma unroll
  for (int mi = 0; mi < MT; ++mi) {
#pragma unroll
    for (int j = 0; j < D / 8; ++j) acc_o[mi][j][0] = acc_o[mi][j][1] = acc_o[mi][j][2] = acc_o[mi][j][3] = 0.f;
    m_i[mi][0] = m_i[mi][1] = -INFINITY;
    l_i[mi][0] = l_i[mi][1] = 0.f;
  }
  uint32_t qf[Q_IN_REGS ? D / 16 : 1][4];

  for (int t = 0; t < total; ++t) {
    const int buf = t & 1;
    if (t + 1 < total) {
      const int kb1 = t + 1 < np ? pidx[t + 1] : fidx[t + 1 - np];
      load_tile<T, D, BK, THREADS, MAPPED>(sK + (buf ^ 1) * BK * D, sKtok + (buf ^ 1) * BK, K, kb1 * BK, p);
      load_tile<T, D, BK, THREADS, MAPPED>(sV + (buf ^ 1) * BK * D, sKtok + (buf ^ 1) * BK, V, kb1 * BK, p);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();

    if (Q_IN_REGS && t == 0) {
#pragma unroll
      for (int kc = 0; kc < (Q_IN_REGS ? D / 16 : 0); ++kc) ldmatrix_x4(qf[kc], sQ + swz<D>(wrow + (lane % 16), kc * 2 + lane / 16));
    }

    // S = Q K^T for this warp's rows and the tile's BK keys.
    const T* ks = sK + buf * BK * D;
    float s[MT][BK / 8][4];
#pragma unroll
    for (int mi = 0; mi < MT; ++mi) {
#pragma unroll
      for (int j = 0; j < BK / 8; ++j) s[mi][j][0] = s[mi][j][1] = s[mi][j][2] = s[mi][j][3] = 0.f;
    }
#pragma unroll
    for (int kc = 0; kc < D / 16; ++kc) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
        if (Q_IN_REGS) {
#pragma unroll
          for (int x = 0; x < 4; ++x) a[mi][x] = qf[Q_IN_REGS ? kc : 0][x];
        } else {
          ldmatrix_x4(a[mi], sQ + swz<D>(wrow + mi * 16 + (lane % 16), kc * 2 + lane / 16));
        }
      }
#pragma unroll
      for (int jj = 0; jj < BK / 16; ++jj) {
        uint32_t r[4];
        ldmatrix_x4(r, ks + swz<D>(jj * 16 + (lane / 16) * 8 + (lane % 8), kc * 2 + ((lane / 8) & 1)));
#pragma unroll
        for (int mi = 0; mi < MT; ++mi) {
          mma16816<T>(s[mi][2 * jj], a[mi], r);
          mma16816<T>(s[mi][2 * jj + 1], a[mi], r + 2);
        }
      }
    }

    // Partial tiles evaluate the predicate on tokens; a tile reaching past the last position
    // drops those keys (full tiles hold no padding: the block lists were built in kernel order).
    const bool partial = t < np;
    const int k0 = (partial ? pidx[t] : fidx[t - np]) * BK;
    if (partial || k0 + BK > p.rows) {
      const int* ktok = sKtok + buf * BK;
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
#pragma unroll
        for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int qr = wrow + mi * 16 + group + (e >= 2 ? 8 : 0);
            const int kc = j * 8 + 2 * tq + (e & 1);
            const int qq = MAPPED ? sQtok[qr] : (q0 + qr < n ? q0 + qr : -1);
            const int kk = MAPPED ? ktok[kc] : (k0 + kc < n ? k0 + kc : -1);
            if (!tile_allows<HC>(qq, kk, partial, h, n, dyn)) s[mi][j][e] = -INFINITY;
          }
        }
      }
    }

    // Online softmax in the log2 domain, per m-tile and row half.
#pragma unroll
    for (int mi = 0; mi < MT; ++mi) {
      float mx[2] = {m_i[mi][0], m_i[mi][1]};
#pragma unroll
      for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[mi][j][e] *= p.scale_log2;
          mx[e >> 1] = fmaxf(mx[e >> 1], s[mi][j][e]);
        }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffff, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffff, mx[r], 2));
      }
      float base[2], alpha[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        // A row that has seen no allowed key keeps max -inf; exponents then use 0, giving 0.
        base[r] = mx[r] == -INFINITY ? 0.f : mx[r];
        alpha[r] = exp2_approx(m_i[mi][r] - base[r]);
        m_i[mi][r] = mx[r];
        l_i[mi][r] *= alpha[r];
      }
#pragma unroll
      for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          s[mi][j][e] = exp2_approx(s[mi][j][e] - base[e >> 1]);
          l_i[mi][e >> 1] += s[mi][j][e];
        }
      }
#pragma unroll
      for (int j = 0; j < D / 8; ++j) {
        acc_o[mi][j][0] *= alpha[0];
        acc_o[mi][j][1] *= alpha[0];
        acc_o[mi][j][2] *= alpha[1];
        acc_o[mi][j][3] *= alpha[1];
      }
    }

    // O += P V, with P taken straight from the S accumulators.
    const T* vs = sV + buf * BK * D;
#pragma unroll
    for (int kk = 0; kk < BK / 16; ++kk) {
      uint32_t a[MT][4];
#pragma unroll
      for (int mi = 0; mi < MT; ++mi) {
        a[mi][0] = Pack<T>::two(s[mi][2 * kk][0], s[mi][2 * kk][1]);
        a[mi][1] = Pack<T>::two(s[mi][2 * kk][2], s[mi][2 * kk][3]);
        a[mi][2] = Pack<T>::two(s[mi][2 * kk + 1][0], s[mi][2 * kk + 1][1]);
        a[mi][3] = Pack<T>::two(s[mi][2 * kk + 1][2], s[mi][2 * kk + 1][3]);
      }
#pragma unroll
      for (int nn = 0; nn < D / 16; ++nn) {
        uint32_t r[4];
        ldmatrix_x4_trans(r, vs + swz<D>(kk * 16 + (lane % 8) + ((lane / 8) & 1) * 8, nn * 2 + lane / 16));
#pragma unroll
        for (int mi = 0; mi < MT; ++mi) {
          mma16816<T>(acc_o[mi][2 * nn], a[mi], r);
          mma16816<T>(acc_o[mi][2 * nn + 1], a[mi], r + 2);
        }
      }
    }
    __syncthreads();
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mi = 0; mi < MT; ++mi) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int qr = wrow + mi * 16 + group + 8 * r;
      const int row = MAPPED ? sQtok[qr] : (q0 + qr < n ? q0 + qr : -1);
      store_row<T, D>(p, b, h, row, &acc_o[mi][0][0], r, l_i[mi][r], m_i[mi][r], tq);
    }
  }
}

/** The body for group `hc`: each group's code tests no head per element (pattern::head_case). */
template <typename T, int D, int NW, int MT, int BK, bool MAPPED, int HC = 0>
__device__ __forceinline__ void attention_cases(const Params& p, const pattern::Dyn& dyn, int hc) {
  if constexpr (HC + 1 < pattern::HEAD_CASES) {
    if (hc != HC) {
      attention_cases<T, D, NW, MT, BK, MAPPED, HC + 1>(p, dyn, hc);
      return;
    }
  }
  attention_body<T, D, NW, MT, BK, MAPPED, HC>(p, dyn);
}

template <typename T, int D, int NW, int MT, int BK, bool MAPPED>
__global__ void __launch_bounds__(NW * 32) attention_fwd(Params p, pattern::Dyn dyn) {
  attention_cases<T, D, NW, MT, BK, MAPPED>(p, dyn, pattern::head_case(blockIdx.y));
}

}  // namespace spattn
