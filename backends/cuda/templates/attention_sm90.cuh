// The sm_90a (Hopper) forward kernel: the same block lists, predicate and results as
// attention_fwd, on the warpgroup tensor-core instructions (wgmma).
//
// Structure (FlashAttention-3's): three warpgroups.
// Warpgroup 0 is the producer: it copies the Q tile and then the listed K/V tiles into a ring
// of STAGES shared-memory stages and publishes each stage on its `full` mbarrier. Warpgroups 1
// and 2 are consumers of 64 query rows each: per step, S = Q K^T by wgmma with their Q rows
// held in registers (loaded once) and K in shared memory, the predicate and online softmax on
// the accumulators, then O += P V by wgmma with P straight from registers; each releases the
// stage on its `empty` mbarrier. setmaxnreg moves registers from the producer to the
// consumers. The two consumers take turns issuing their products (named barriers), so one's
// softmax overlaps the other's matrix products, and the producer runs up to STAGES steps ahead.
//
// Two ways to feed it (Config below):
//   - sequence order (no token map): one thread issues TMA copies (cp.async.bulk.tensor, 3D
//     maps over [batch * heads][n][D], so rows past a head's end read as zeros). The producer
//     then needs almost no registers, which pays for steps of 128 keys: two entries of the block
//     lists side by side (any two: each half is its own 64-row copy), S on m64n128 products.
//     Per step the softmax's fixed costs (row maxima across the quad, rescaling O, barriers)
//     are paid once for 128 keys instead of 64.
//   - through a token map (dilation, 2D patches), or where a TMA map cannot be made: the
//     producer warpgroup gathers rows with cp.async, 64 keys per step.
//
// Shared-memory tiles are [rows][D] split into column blocks of 64 elements (128 bytes per
// row) with the 128-byte swizzle that wgmma's descriptors name (and that TMA writes): 16-byte
// chunk c of row r sits at chunk c ^ (r % 8). K and V share the layout; V is read N-major
// (transposed) by wgmma.
//
// Embedded verbatim into every generated .cu file, after attention_kernel.cuh and the wgmma
// wrappers. Compiled to a trap on other targets; the launcher picks it only where the device
// is sm_90 and the binary holds sm_90a code for it.

#ifdef SPATTN_TRACE
// A timeline of the last launch, for bench tooling only (built with -DSPATTN_TRACE; gpu_check.py
// with SPATTN_TRACE=1 saves it): per CTA 16 words, pairs (globaltimer, clock64) for marks 0-6
// (0 entry, 1 a consumer's first stage arrived, 2/3 consumers' loops done, 4/5 their epilogues
// done, 6 the producer's last copy issued), word 15 the SM.
__device__ unsigned long long spattn_trace_buf[1 << 20];
extern "C" int spattn_trace_copy(void* dst, size_t bytes) { return (int)cudaMemcpyFromSymbol(dst, spattn_trace_buf, bytes); }
#define SPATTN_MARK(slot)                                                                                      \
  do {                                                                                                         \
    unsigned long long g_;                                                                                     \
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g_));                                                     \
    const long long cta_ = blockIdx.x + (long long)gridDim.x * (blockIdx.y + (long long)gridDim.y * blockIdx.z); \
    if (cta_ < (1 << 16)) spattn_trace_buf[cta_ * 16 + 2 * (slot)] = g_, spattn_trace_buf[cta_ * 16 + 2 * (slot) + 1] = clock64(); \
  } while (0)
#else
#define SPATTN_MARK(slot) ((void)0)
#endif

namespace spattn {
namespace sm90 {

constexpr int BQ = 128;  // query rows per entry of the block lists (and per CTA of the long shape)
constexpr int BK = 64;   // keys per entry of the block lists


/** How a kernel is shaped and fed. CONS consumer warpgroups of 64 query rows each:
 *    - 2 (the long shape): a CTA per 128-row tile of the lists, one per SM;
 *    - 1 (the short shape, TMA only): a CTA per 64-row half, two per SM. The two CTAs run
 *      independently, so one's start and end (its first copies, its epilogue: about 26% of a
 *      6-step CTA, bench v10) and its softmax overlap the other's products (short_shape says
 *      when that pays).
 *  TMA: list entries per step (PAIR), keys per step (KT), the ring's depth (at D = 128 three
 *  stages: a stage holds K and V until its P V is done, so with two the next step's copies could
 *  start only then; the long shape's stages of 128 keys take 192 KB, the short shape's two CTAs
 *  share the SM's 228 KB in stages of 64 keys), and the register split, which must fit the SM's
 *  65,536 registers: 128 x 24 + 256 x 240 with TMA, 128 x 80 + 256 x 200 with cp.async (whose
 *  address arithmetic spills below 80), twice 128 x 24 + 128 x 232 for the short shape. */
template <int D, bool TMA, int CONS = 2>
struct Config {
  static_assert(CONS == 2 || (CONS == 1 && TMA), "the short shape is fed by TMA");
  static constexpr int THREADS = 128 * (1 + CONS);
  static constexpr int ROWS = 64 * CONS;  // query rows per CTA
  static constexpr int CTAS_PER_SM = CONS == 1 ? 2 : 1;
  static constexpr int PAIR = TMA && CONS == 2 ? 2 : 1;
  static constexpr int KT = BK * PAIR;
  static constexpr int STAGES = TMA && D == 128 ? 3 : 4;
  static constexpr int PRODUCER_REGS = TMA ? 24 : 80;
  static constexpr int CONSUMER_REGS = CONS == 1 ? 232 : TMA ? 240 : 200;
};

/** TMA maps of Q, K and V, each [batch * heads][n][D] (K and V with kv_heads), boxes of 64
 *  columns (one swizzled column block) by 128 (Q) or 64 (K, V) rows. Zeroed and unused where
 *  the kernel gathers with cp.async. */
struct Maps {
  CUtensorMap q, k, v;
};

/** Byte offset of 16-byte chunk c of row r in a swizzled [ROWS][D] tile of 16-bit elements. */
template <int ROWS>
__device__ __forceinline__ uint32_t chunk_offset(int r, int c) {
  return (uint32_t)((c >> 3) * ROWS * 128 + r * 128 + (((c & 7) ^ (r & 7)) << 4));
}

/** Shared-memory layout of one CTA: tiles in bytes from a 1024-aligned base, then barriers. */
template <int D, int KT, int STAGES, int ROWS, bool MAPPED>
struct Layout {
  static constexpr uint32_t Q = 0;
  static constexpr uint32_t QBYTES = ROWS * D * 2;
  static constexpr uint32_t TILE = KT * D * 2;  // one step's K or V
  static constexpr uint32_t K0 = QBYTES;
  static constexpr uint32_t V0 = K0 + STAGES * TILE;
  // [STAGES][KT] key tokens, read when MAPPED. The long shape keeps the room in sequence order
  // too: without it, the same code timed up to 4% slower on a window with row masks (bench v12).
  static constexpr uint32_t TOK = V0 + STAGES * TILE;
  static constexpr uint32_t TILES = TOK + (MAPPED || ROWS == BQ ? STAGES * KT * 4 : 0);
  static constexpr uint32_t BARS = 2 * STAGES * 8;  // full[STAGES], empty[STAGES]
  /** What a launch asks for: the tiles, the barriers after them, 1024 bytes for the alignment;
   *  TIGHT: the tiles and 1024 bytes, from which both the alignment and the barriers come (see
   *  barriers_at; two short CTAs with three stages then fill the SM exactly). */
  template <bool TIGHT>
  static constexpr uint32_t ALLOC = TILES + (TIGHT ? 0 : BARS) + 1024;
  static_assert(BARS <= 512, "the barriers fit before the aligned base or after the tiles");
};

/** Where the barriers go: after the tiles; in a TIGHT allocation, before the aligned base when
 *  the alignment left them room (else the rest of the 1024 spare bytes is at least 1024 - BARS).
 *  The long shape keeps the constant offset: a select here made it 1-6% slower (bench v12). */
template <typename L, bool TIGHT>
__device__ __forceinline__ uint32_t barriers_at(uint32_t raw, uint32_t base) {
  if constexpr (TIGHT) return base - raw >= L::BARS ? raw : base + L::TILES;
  return base + L::TILES;
}

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}

__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}

/** Arrives and announces `bytes` still to come from TMA copies into this phase. */
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}

/** Waits until the phase of the given parity has completed (acquire). */
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred ready;\nspin:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 ready, [%0], %1;\n"
      "@!ready bra spin;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}

/** One TMA box of a 3D map (column, row, matrix) into shared memory; counted on `bar`. Boxes
 *  past the map's bounds are filled with zeros (and their bytes still counted). */
__device__ __forceinline__ void tma_load(uint32_t dst, const CUtensorMap* map, int col, int row, int mat, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(col), "r"(row), "r"(mat), "r"(bar)
      : "memory");
}

/** Orders this thread's completed cp.async writes before the tensor cores' reads. */
__device__ __forceinline__ void fence_async_shared() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }

/** Ties accumulator registers to this point, so the compiler moves no use across a wait. */
template <int N>
__device__ __forceinline__ void pin(float (&r)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(r[i])::"memory");
}

/** A shared-memory matrix descriptor with the 128-byte swizzle (leading and stride byte offsets). */
__device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | ((uint64_t)((lbo & 0x3FFFF) >> 4) << 16) |
         ((uint64_t)((sbo & 0x3FFFF) >> 4) << 32) | (1ull << 62);
}

/** Mma<T>: rsk for S (N = the step's keys, B = K), rs for O (N = D, B = V transposed); the
 *  accumulator array's length (N / 2) picks the instruction. */
template <typename T> struct Mma;
#define SPATTN_WG_MMA(T, name)                                                                                                                      \
  template <> struct Mma<T> {                                                                                                                       \
    static __device__ __forceinline__ void rsk(float (&d)[32], const uint32_t (&a)[4], uint64_t b, int acc) { wg::rsk_##name##_n64(d, a, b, acc); }  \
    static __device__ __forceinline__ void rsk(float (&d)[64], const uint32_t (&a)[4], uint64_t b, int acc) { wg::rsk_##name##_n128(d, a, b, acc); } \
    static __device__ __forceinline__ void rs(float (&d)[32], const uint32_t (&a)[4], uint64_t b, int acc) { wg::rs_##name##_n64(d, a, b, acc); }    \
    static __device__ __forceinline__ void rs(float (&d)[64], const uint32_t (&a)[4], uint64_t b, int acc) { wg::rs_##name##_n128(d, a, b, acc); }   \
  };
SPATTN_WG_MMA(__nv_bfloat16, bf16)
SPATTN_WG_MMA(__half, f16)
#undef SPATTN_WG_MMA

/** Producer: copies rows [row0, row0 + ROWS) of a [n][D] matrix (through the token map when
 *  MAPPED; zeros for padding) into a swizzled tile; records the tokens when `tok` is given. */
template <int D, int ROWS, bool MAPPED, typename T>
__device__ __forceinline__ void produce(uint32_t dst, int* tok, const T* src, int row0, const Params& p, int tid) {
  constexpr int CHUNKS = D / 8;
#pragma unroll
  for (int i = tid; i < ROWS * CHUNKS; i += 128) {
    const int r = i / CHUNKS, c = i % CHUNKS;
    const int token = token_of<MAPPED>(p, row0 + r);
    if (tok && c == 0) tok[r] = token;
    const T* g = src + (long long)(token >= 0 ? token : 0) * D + c * 8;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst + chunk_offset<ROWS>(r, c)), "l"(g),
                 "r"(token >= 0 ? 16 : 0)
                 : "memory");
  }
}
#endif

/** The epilogue of consumer warpgroup c (query rows 64c to 64c + 63 of the ROWS-row tile at q0): O
 *  normalised and staged in the warpgroup's rows of the Q tile (free: Q went to registers at
 *  the start, each warp reading only its own rows), then written row by row with 16-byte
 *  stores, and the lse by the quad leaders. Stores straight from the fragments put 4-byte
 *  pieces of 8 rows in each instruction and stalled on the store queue (ncu: about 7% of a
 *  sliding window's consumer time). A row with no allowed key gets O = 0 and lse = -inf. */
template <typename T, int D, int ROWS, bool MAPPED>
__device__ __forceinline__ void store_tile(const Params& p, unsigned char* tile, int b, int h, int q0, int c, int tid,
                                           const int (&qtok)[2], const float (&o)[D / 2], const float (&l_i)[2], const float (&m_i)[2]) {
  const int warp = tid / 32, lane = tid % 32, group = lane >> 2, tq = lane & 3;
  // Named barriers 1 and 2 (immediate ids: a register id would reserve all 16) order the
  // warpgroup: its reads of its Q rows (ldmatrix, long done) before they are overwritten, then
  // the staged rows before they are read back.
  auto warpgroup_sync = [c]() {
    if (c == 0) asm volatile("bar.sync 1, 128;\n" ::: "memory");
    else asm volatile("bar.sync 2, 128;\n" ::: "memory");
  };
  warpgroup_sync();
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float inv = finish_row(p, b, h, qtok[r], l_i[r], m_i[r], tq);
    const int row = 64 * c + 16 * warp + group + 8 * r;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
      *reinterpret_cast<uint32_t*>(tile + chunk_offset<ROWS>(row, j) + 4 * tq) = Pack<T>::two(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
    }
  }
  warpgroup_sync();
  T* out = static_cast<T*>(p.o) + (long long)(b * p.heads + h) * p.n * D;
  constexpr int CHUNKS = D / 8;
#pragma unroll
  for (int i = tid; i < 64 * CHUNKS; i += 128) {
    const int row = 64 * c + i / CHUNKS, cc = i % CHUNKS;
    const int token = token_of<MAPPED>(p, q0 + row);
    if (token >= 0) *reinterpret_cast<uint4*>(out + (long long)token * D + cc * 8) = *reinterpret_cast<const uint4*>(tile + chunk_offset<ROWS>(row, cc));
  }
}

// `maps` is the kernel's __grid_constant__ parameter itself (TMA reads the maps where they are).
template <typename T, int D, bool MAPPED, bool TMA, int CONS, int HC>
__device__ __forceinline__ void attention_body(const Params& p, const pattern::Dyn& dyn, const Maps& maps) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  static_assert(D == 64 || D == 128, "the sm_90a kernel takes D 64 or 128");
  static_assert(!(MAPPED && TMA), "TMA copies rows in sequence order only");
  using C = Config<D, TMA, CONS>;
  constexpr int PAIR = C::PAIR, KT = C::KT, STAGES = C::STAGES, ROWS = C::ROWS;
  using L = Layout<D, KT, STAGES, ROWS, MAPPED>;
  extern __shared__ __align__(1024) unsigned char smem_raw[];
  // wgmma's 128-byte swizzle repeats every 1024 bytes: align the base to that.
  const uint32_t raw = (uint32_t)__cvta_generic_to_shared(smem_raw);
  const uint32_t base = (raw + 1023u) & ~1023u;
  unsigned char* smem = smem_raw + (base - raw);
  int* ktok = reinterpret_cast<int*>(smem + L::TOK);
  const uint32_t full_bar = barriers_at<L, CONS == 1>(raw, base), empty_bar = full_bar + STAGES * 8;

  // The CTA's rows: q0 .. q0 + ROWS - 1, rows `half` * 64 onwards of its list's 128-row tile qt.
  const int h = blockIdx.y, b = blockIdx.z;
  const int qt = blockIdx.x / (BQ / ROWS), half = CONS == 1 ? blockIdx.x & 1 : 0;
  const int kvh = h / (p.heads / p.kv_heads);
  const int n = p.n;
  const int q0 = blockIdx.x * ROWS;
  const int list = (p.tiles.heads == 1 ? 0 : h) * p.num_q_tiles + qt;
  const int np = p.tiles.kv_num[list];
  const int total = np + p.tiles.full_num[list];
  const int steps = (total + PAIR - 1) / PAIR;  // without SKIP (below), step t runs entries PAIR t on
  const int* pidx = p.tiles.kv_idx + (long long)list * p.tiles.stride;
  const int* fidx = p.tiles.full_idx + (long long)list * p.tiles.stride;
  // Entry e of the CTA's list (partial tiles first, then full ones): its key tile.
  auto entry = [&](int e) { return e < np ? pidx[e] : fidx[e - np]; };
  // A 64-row CTA of a pattern whose partial tiles come from the data (block top-k: its two
  // 64-row query blocks keep different key blocks) runs only the entries of its 128-row tile's
  // list that its own rows need: the pattern over the box of its rows and the entry's keys
  // (pattern::box_class) skips the entries it proves empty for these rows, and runs those it
  // proves full without the predicate. Elsewhere every entry runs, partial ones by the predicate.
  // The producer and the consumers each walk the list this way, so they agree on every step.
  constexpr bool SKIP = CONS == 1 && pattern::DATA_PARTIAL_TILES;
  // What entry e needs of this CTA: 0 nothing (skipped), 1 no predicate, 2 the predicate.
  auto entry_needs = [&](int e) -> int {
    if (e >= np) return 1;
    if constexpr (SKIP) {
      const int k0 = pidx[e] * BK;
      if (k0 >= n) return 0;
      const int v = pattern::box_class(q0, min(q0 + ROWS, n) - 1, k0, min(k0 + BK, n) - 1, h, n, dyn) & 3;
      return v == box::F ? 0 : v == box::T ? 1 : 2;
    }
    return 2;
  };
  // The first entry at or after e that the CTA runs (total when none is left), and its needs.
  auto seek = [&](int e, int& needs) {
    needs = e < total ? entry_needs(e) : 0;
    if constexpr (SKIP) {
      while (e < total && needs == 0) needs = ++e < total ? entry_needs(e) : 0;
    }
    return e;
  };
  const int wg_id = threadIdx.x / 128;
  const int tid = threadIdx.x % 128;
#ifdef SPATTN_TRACE
  if (threadIdx.x == 0) {
    SPATTN_MARK(0);
    unsigned sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    spattn_trace_buf[(blockIdx.x + (long long)gridDim.x * (blockIdx.y + (long long)gridDim.y * blockIdx.z)) * 16 + 15] = sm;
  }
#endif

  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(full_bar + 8 * s, TMA ? 1 : 128);
      mbar_init(empty_bar + 8 * s, 128 * CONS);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (wg_id == 0) {
    // ---------------------------------------------------------------- producer
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(C::PRODUCER_REGS) : "memory");
    if (TMA) {
      // One thread issues every copy. Stage s of step t receives both halves of K and of V
      // (and, at step 0, Q); a half past the list's end is copied from row n, out of bounds,
      // so it arrives as zeros and the byte count is the same for every step.
      if (tid == 0 && total > 0) {
        asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&maps.k)) : "memory");
        asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&maps.v)) : "memory");
        const int qmat = b * p.heads + h, kvmat = b * p.kv_heads + kvh;
        // Step t runs entries e0 .. e0 + PAIR - 1: with SKIP found by seek, else PAIR t (so the
        // loop stays a counted one, which nvcc unrolls, and fits the producer's 24 registers).
        int needs, e0 = SKIP ? seek(0, needs) : 0;
        for (int t = 0; SKIP ? e0 < total : t < steps; ++t) {
          if constexpr (!SKIP) e0 = t * PAIR;
          const int s = t % STAGES;
          mbar_wait(empty_bar + 8 * s, ((t / STAGES) & 1) ^ 1);
          const uint32_t bar = full_bar + 8 * s;
          mbar_expect_tx(bar, (t == 0 ? L::QBYTES : 0) + 2 * L::TILE);
          if (t == 0) {
#pragma unroll
            for (int cb = 0; cb < D / 64; ++cb) tma_load(base + L::Q + cb * ROWS * 128, &maps.q, cb * 64, q0, qmat, bar);
          }
#pragma unroll
          for (int hh = 0; hh < PAIR; ++hh) {
            const int e = e0 + hh;
            const int row = e < total ? entry(e) * BK : n;
#pragma unroll
            for (int cb = 0; cb < D / 64; ++cb) {
              const uint32_t at = s * L::TILE + cb * KT * 128 + hh * BK * 128;
              tma_load(base + L::K0 + at, &maps.k, cb * 64, row, kvmat, bar);
              tma_load(base + L::V0 + at, &maps.v, cb * 64, row, kvmat, bar);
            }
          }
          if constexpr (SKIP) e0 = seek(e0 + PAIR, needs);
        }
        SPATTN_MARK(6);
      }
      return;
    }
    const T* Q = static_cast<const T*>(p.q) + (long long)(b * p.heads + h) * n * D;
    const T* K = static_cast<const T*>(p.k) + (long long)(b * p.kv_heads + kvh) * n * D;
    const T* V = static_cast<const T*>(p.v) + (long long)(b * p.kv_heads + kvh) * n * D;
    // PAIR is 1 and every entry runs (SKIP needs TMA): step t is entry t.
    if (total > 0) produce<D, ROWS, MAPPED>(base + L::Q, nullptr, Q, q0, p, tid);
    for (int t = 0; t < steps; ++t) {
      const int s = t % STAGES;
      mbar_wait(empty_bar + 8 * s, ((t / STAGES) & 1) ^ 1);
      const int k0 = entry(t) * BK;
      produce<D, BK, MAPPED>(base + L::K0 + s * L::TILE, MAPPED ? ktok + s * KT : nullptr, K, k0, p, tid);
      produce<D, BK, MAPPED>(base + L::V0 + s * L::TILE, nullptr, V, k0, p, tid);
      asm volatile("cp.async.commit_group;\n" ::: "memory");
      if (t > 0) {
        asm volatile("cp.async.wait_group 1;\n" ::: "memory");
        fence_async_shared();
        mbar_arrive(full_bar + 8 * ((t - 1) % STAGES));
      }
    }
    if (total > 0) {
      asm volatile("cp.async.wait_group 0;\n" ::: "memory");
      fence_async_shared();
      mbar_arrive(full_bar + 8 * ((steps - 1) % STAGES));
    }
    return;
  }

  // ------------------------------------------------------------------ consumers
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(C::CONSUMER_REGS) : "memory");
  const int c = wg_id - 1;  // 64 rows each
  const int warp = tid / 32, lane = tid % 32, group = lane >> 2, tq = lane & 3;
  const int rowA = 64 * c + 16 * warp + group;  // this thread's rows in the CTA's tile: rowA, rowA + 8
  const int listRow = 64 * half + rowA;         // and in the list's 128-row tile
  int qtok[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int pos = q0 + rowA + 8 * r;
    qtok[r] = token_of<MAPPED>(p, pos);
  }

  float o[D / 2];
#pragma unroll
  for (int i = 0; i < D / 2; ++i) o[i] = 0.f;
  float m_i[2] = {-INFINITY, -INFINITY}, l_i[2] = {0.f, 0.f};

  // S = Q K^T of the stage's keys: 64 rows x KT, D / 16 steps of k16 (issued, not awaited);
  // Q from registers (loaded once per CTA), K from shared memory.
  uint32_t qf[D / 16][4];
  auto issue_qk = [&](int s, float (&sc)[KT / 2]) {
    wgmma_fence();
#pragma unroll
    for (int kc = 0; kc < D / 16; ++kc) {
      const uint32_t within = (kc & 3) * 32;  // k16 step inside the 128-byte row
      const uint64_t db = desc(base + L::K0 + s * L::TILE + (kc >> 2) * KT * 128 + within, 16, 1024);
      Mma<T>::rsk(sc, qf[kc], db, kc > 0);
    }
    wgmma_commit();
  };
  // O += P V: P as A fragments (rows rowA / rowA + 8, 16 keys per step), V read N-major.
  auto issue_pv = [&](int s, const uint32_t (&pa)[KT / 16][4]) {
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < KT / 16; ++kk) {
      const uint64_t db = desc(base + L::V0 + s * L::TILE + kk * 16 * 128, KT * 128, 1024);
      Mma<T>::rs(o, pa[kk], db, 1);
    }
    wgmma_commit();
  };
  // The predicate on partial tiles (and keys past the end, and a missing second half), then
  // the online softmax in the log2 domain: sc becomes P (unnormalised), alpha the factor that
  // rescales O to the new maxima. Column j * 8 + 2 tq + (e & 1) of sc[4 j + e] is key
  // (j % 8) * 8 + 2 tq + (e & 1) of half j / 8 (list entry PAIR t + j / 8).
  // A partial tile's row masks, when the launch has them (tiles.bits): this thread's two rows,
  // shifted so that bit j * 8 + (e & 1) is its column j * 8 + 2 tq + (e & 1). Loaded one step
  // ahead, so the loads overlap a whole step's work.
  const unsigned long long* bits = p.tiles.bits;
  auto row_bits = [&](int e0, unsigned long long (&rb)[PAIR][2]) {
#pragma unroll
    for (int hh = 0; hh < PAIR; ++hh) {
      const int e = e0 + hh;
      if (bits && e < np) {
        const unsigned long long* tb = bits + ((long long)list * p.tiles.stride + e) * BQ;
        rb[hh][0] = __ldg(tb + listRow) >> (2 * tq);
        rb[hh][1] = __ldg(tb + listRow + 8) >> (2 * tq);
      }
    }
  };
  // e0: the step's first entry; needs0: what it needs (entry_needs; SKIP has one entry a step).
  auto softmax = [&](int e0, int needs0, int s, float (&sc)[KT / 2], float (&alpha)[2], const unsigned long long (&rb)[PAIR][2]) {
#pragma unroll
    for (int hh = 0; hh < PAIR; ++hh) {
      const int e = e0 + hh;
      const bool present = e < total, partial = SKIP ? needs0 == 2 : e < np;
      const int k0 = present ? entry(e) * BK : 0;
      if (partial && bits) {
#pragma unroll
        for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
          for (int x = 0; x < 4; ++x) {
            if (!((rb[hh][x >> 1] >> (j * 8 + (x & 1))) & 1ull)) sc[4 * (hh * BK / 8 + j) + x] = -INFINITY;
          }
        }
      } else if (partial || !present || k0 + BK > p.rows) {
        const int* kt = ktok + s * KT + hh * BK;
#pragma unroll
        for (int j = 0; j < BK / 8; ++j) {
#pragma unroll
          for (int x = 0; x < 4; ++x) {
            const int kc = j * 8 + 2 * tq + (x & 1);
            const int qq = qtok[x >> 1];
            const int kk = MAPPED ? kt[kc] : (present && k0 + kc < n ? k0 + kc : -1);
            if (!tile_allows<HC>(qq, kk, partial, h, n, dyn)) sc[4 * (hh * BK / 8 + j) + x] = -INFINITY;
          }
        }
      }
    }
    // Row maxima of the raw scores and row sums in CH independent chains per row: one chain
    // of 32 dependent operations per row would be latency-bound with two consumer warps per
    // scheduler. The scale goes into the exponent's FMA (max commutes with a positive scale).
    constexpr int CH = 4;
    float mx[2][CH], ls[2][CH];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
#pragma unroll
      for (int ch = 0; ch < CH; ++ch) mx[r][ch] = -INFINITY, ls[r][ch] = 0.f;
    }
#pragma unroll
    for (int i = 0; i < KT / 2; ++i) mx[(i >> 1) & 1][(i >> 2) % CH] = fmaxf(mx[(i >> 1) & 1][(i >> 2) % CH], sc[i]);
    float base_[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float m = mx[r][0];
#pragma unroll
      for (int ch = 1; ch < CH; ++ch) m = fmaxf(m, mx[r][ch]);
      m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, 1));
      m = fmaxf(m, __shfl_xor_sync(0xffffffff, m, 2));
      m = fmaxf(m_i[r], m * p.scale_log2);
      // A row that has seen no allowed key keeps max -inf; exponents then use 0, giving 0.
      base_[r] = m == -INFINITY ? 0.f : m;
      alpha[r] = exp2_approx(m_i[r] - base_[r]);
      m_i[r] = m;
    }
#pragma unroll
    for (int i = 0; i < KT / 2; ++i) {
      sc[i] = exp2_approx(fmaf(sc[i], p.scale_log2, -base_[(i >> 1) & 1]));
      ls[(i >> 1) & 1][(i >> 2) % CH] += sc[i];
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = ls[r][0];
#pragma unroll
      for (int ch = 1; ch < CH; ++ch) sum += ls[r][ch];
      l_i[r] = l_i[r] * alpha[r] + sum;
    }
  };
  auto pack = [&](const float (&sc)[KT / 2], uint32_t (&pa)[KT / 16][4]) {
#pragma unroll
    for (int kk = 0; kk < KT / 16; ++kk) {
#pragma unroll
      for (int x = 0; x < 4; ++x) pa[kk][x] = Pack<T>::two(sc[8 * kk + 2 * x], sc[8 * kk + 2 * x + 1]);
    }
  };

  // The long shape's two consumers take turns issuing their products (FlashAttention-3's
  // inter-warpgroup ping-pong), so that one's softmax runs while the other's products do,
  // rather than both reaching their softmax together and leaving the tensor cores idle.
  // Named barriers 3 (consumer 0's turn) and 4 (consumer 1's): the side whose turn it is syncs
  // (128 threads), the other arrives (128). Each consumer issues steps + 1 times; consumer 1
  // arrives once first, to let consumer 0 begin, and not after its last issue, so that every
  // barrier's arrivals match its syncs.
  constexpr bool PINGPONG = CONS == 2;
  auto my_turn = [c]() {
    if constexpr (PINGPONG) {
      if (c == 0) asm volatile("bar.sync 3, 256;\n" ::: "memory");
      else asm volatile("bar.sync 4, 256;\n" ::: "memory");
    }
  };
  auto their_turn = [c]() {
    if constexpr (PINGPONG) {
      if (c == 0) asm volatile("bar.arrive 4, 256;\n" ::: "memory");
      else asm volatile("bar.arrive 3, 256;\n" ::: "memory");
    }
  };

  // Software pipeline: while the tensor cores compute O += P V of step t - 1, S of step t is
  // issued before it and its softmax runs as soon as S is done (FlashAttention-3's overlap
  // within a warpgroup). A stage is released once both of its products are complete.
  // Step t runs entries e_cur .. e_cur + PAIR - 1 and e_next is the next step's first: with
  // SKIP found by seek, else PAIR t and PAIR (t + 1), written so (a cursor cost the long shape
  // up to 6% on causal N = 8192, bench v17).
  int needs_cur = 0, needs_next = 0;
  int e_cur = SKIP ? seek(0, needs_cur) : 0;
  if (SKIP ? e_cur < total : steps > 0) {
    float sc[KT / 2], alpha[2];
    uint32_t pa[KT / 16][4];
    if (c == 1) their_turn();
    mbar_wait(full_bar, 0);
    if (threadIdx.x == 128) SPATTN_MARK(1);
    // This warp's 16 rows of Q as A fragments (the Q tile arrived with the first step).
#pragma unroll
    for (int kc = 0; kc < D / 16; ++kc) ldmatrix_x4(qf[kc], smem + L::Q + chunk_offset<ROWS>(64 * c + 16 * warp + lane % 16, 2 * kc + lane / 16));
    unsigned long long rb[PAIR][2], rb_next[PAIR][2];
#pragma unroll
    for (int hh = 0; hh < PAIR; ++hh) rb[hh][0] = rb[hh][1] = rb_next[hh][0] = rb_next[hh][1] = ~0ull;
    int e_next = SKIP ? seek(e_cur + PAIR, needs_next) : PAIR;
    row_bits(e_cur, rb);
    row_bits(e_next, rb_next);
    my_turn();
    issue_qk(0, sc);
    their_turn();
    wgmma_wait<0>();
    pin(sc);
    softmax(e_cur, needs_cur, 0, sc, alpha, rb);
    pack(sc, pa);
    int t = 1;
    for (; SKIP ? e_next < total : t < steps; ++t) {
      if constexpr (SKIP) {
        e_cur = e_next;
        needs_cur = needs_next;
        e_next = seek(e_cur + PAIR, needs_next);
      } else {
        e_cur = t * PAIR;
        e_next = (t + 1) * PAIR;
      }
      const int s = t % STAGES, prev = (t - 1) % STAGES;
      mbar_wait(full_bar + 8 * s, (t / STAGES) & 1);
#pragma unroll
      for (int hh = 0; hh < PAIR; ++hh) {
        rb[hh][0] = rb_next[hh][0];
        rb[hh][1] = rb_next[hh][1];
      }
      row_bits(e_next, rb_next);
      my_turn();
      issue_qk(s, sc);
      issue_pv(prev, pa);
      their_turn();
      wgmma_wait<1>();  // S of step t (the older group) is done; P V of step t - 1 may run on
      pin(sc);
      softmax(e_cur, needs_cur, s, sc, alpha, rb);
      wgmma_wait<0>();
      pin(o);
      mbar_arrive(empty_bar + 8 * prev);
#pragma unroll
      for (int i = 0; i < D / 2; ++i) o[i] *= alpha[(i >> 1) & 1];
      pack(sc, pa);
    }
    const int last = (t - 1) % STAGES;
    my_turn();
    issue_pv(last, pa);
    if (c == 0) their_turn();
    wgmma_wait<0>();
    pin(o);
    mbar_arrive(empty_bar + 8 * last);
  }
  if (threadIdx.x == 128) SPATTN_MARK(2);
  if (threadIdx.x == 256) SPATTN_MARK(3);

  store_tile<T, D, ROWS, MAPPED>(p, smem + L::Q, b, h, q0, c, tid, qtok, o, l_i, m_i);
  if (threadIdx.x == 128) SPATTN_MARK(4);
  if (threadIdx.x == 256) SPATTN_MARK(5);
#elif defined(__CUDA_ARCH__)
  __trap();  // built for another target: the launcher never picks this kernel there
#endif
}

/** The body for group `hc`: each group's code tests no head per element (pattern::head_case). */
template <typename T, int D, bool MAPPED, bool TMA, int CONS, int HC = 0>
__device__ __forceinline__ void attention_cases(const Params& p, const pattern::Dyn& dyn, const Maps& maps, int hc) {
  if constexpr (HC + 1 < pattern::HEAD_CASES) {
    if (hc != HC) {
      attention_cases<T, D, MAPPED, TMA, CONS, HC + 1>(p, dyn, maps, hc);
      return;
    }
  }
  attention_body<T, D, MAPPED, TMA, CONS, HC>(p, dyn, maps);
}

template <typename T, int D, bool MAPPED, bool TMA, int CONS = 2>
__global__ void __launch_bounds__(Config<D, TMA, CONS>::THREADS, Config<D, TMA, CONS>::CTAS_PER_SM)
    attention_fwd(Params p, pattern::Dyn dyn, const __grid_constant__ Maps maps) {
  attention_cases<T, D, MAPPED, TMA, CONS>(p, dyn, maps, pattern::head_case(blockIdx.y));
}

// ---------------------------------------------------------------- host side
/** The element type of a TMA map. */
template <typename T> struct TmaType;
template <> struct TmaType<__nv_bfloat16> { static constexpr CUtensorMapDataType value = CU_TENSOR_MAP_DATA_TYPE_BFLOAT16; };
template <> struct TmaType<__half> { static constexpr CUtensorMapDataType value = CU_TENSOR_MAP_DATA_TYPE_FLOAT16; };

typedef decltype(&cuTensorMapEncodeTiled) EncodeTiled;

/** The driver's cuTensorMapEncodeTiled, looked up once through the runtime (so the library
 *  needs no link to libcuda), or NULL where the driver has none. */
inline EncodeTiled encode_tiled() {
  static const EncodeTiled fn = []() -> EncodeTiled {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
    return reinterpret_cast<EncodeTiled>(f);
  }();
  return fn;
}

/** A 3D map of `mats` contiguous [n][d] matrices, boxes of 64 columns x `rows` rows with the
 *  128-byte swizzle; false where the driver refuses one (a pointer not 16-byte aligned, say). */
template <typename T>
inline bool encode_map(CUtensorMap* map, const void* ptr, int d, int n, int mats, int rows) {
  const EncodeTiled fn = encode_tiled();
  if (!fn) return false;
  const cuuint64_t dims[3] = {(cuuint64_t)d, (cuuint64_t)n, (cuuint64_t)mats};
  const cuuint64_t strides[2] = {(cuuint64_t)d * sizeof(T), (cuuint64_t)n * d * sizeof(T)};
  const cuuint32_t box[3] = {64, (cuuint32_t)rows, 1};
  const cuuint32_t unit[3] = {1, 1, 1};
  return fn(map, TmaType<T>::value, 3, const_cast<void*>(ptr), dims, strides, box, unit, CU_TENSOR_MAP_INTERLEAVE_NONE,
            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}

/** The maps of one launch: Q over batch * heads matrices (boxes of a CTA's `qrows`), K and V
 *  over batch * kv_heads. */
template <typename T, int D>
inline bool encode_maps(Maps* m, const void* q, const void* k, const void* v, int batch, int heads, int kv_heads, int n, int qrows) {
  return encode_map<T>(&m->q, q, D, n, batch * heads, qrows) && encode_map<T>(&m->k, k, D, n, batch * kv_heads, BK) &&
         encode_map<T>(&m->v, v, D, n, batch * kv_heads, BK);
}

/** Launches one variant of the kernel over `grid` (x: CTAs of Config::ROWS rows) with the shared
 *  memory its configuration needs. */
template <typename T, int D, bool MAPPED, bool TMA, int CONS = 2>
inline cudaError_t launch(const Params& p, const pattern::Dyn& dyn, const Maps& maps, dim3 grid, cudaStream_t stream) {
  using C = Config<D, TMA, CONS>;
  constexpr uint32_t smem = Layout<D, C::KT, C::STAGES, C::ROWS, MAPPED>::template ALLOC<CONS == 1>;
  // Each CTA also takes 1 KB the system reserves, of the SM's 228 KB.
  static_assert(C::CTAS_PER_SM * (smem + 1024) <= 228 * 1024, "CTAs per SM must fit");
  const auto kernel = attention_fwd<T, D, MAPPED, TMA, CONS>;
  const cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (e != cudaSuccess) return e;
  kernel<<<grid, C::THREADS, smem, stream>>>(p, dyn, maps);
  return cudaGetLastError();
}

/** The current device's SM count, cached per device (0 where it cannot be read). */
inline int sm_count() {
  static int cached[16];
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return (void)cudaGetLastError(), 0;
  if (dev < 16 && cached[dev]) return cached[dev];
  int sms = 0;
  if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) return (void)cudaGetLastError(), 0;
  if (dev < 16) cached[dev] = sms;
  return sms;
}

/** Whether a launch in sequence order runs the short shape (CONS = 1), as measured on the H100
 *  (bench/NOTES.md, v12; D = 128) and, with the long shape's ping-pong, on the H200 (v14):
 *    - always where partial tiles come from the data (pattern::DATA_PARTIAL_TILES): their
 *      softmax, after a predicate that reads the kept blocks, is long, and two independent CTAs
 *      overlap it with products where the long shape's two consumers, tied to one ring, wait
 *      together (block top-k 16-19% faster at N = 8192 and 65536, 4 to 16 blocks kept);
 *    - else where the lists are short (the stride bounds every list: at most 8 entries, 4 steps
 *      of the long shape) and the long shape's CTAs are at most 8 waves: one CTA's fixed costs
 *      then weigh most (random blocks of 2.5% and 5% at N = 8192: 7-9% faster), while with more
 *      waves or longer lists the long shape's 128-key steps win (random blocks at N = 32768:
 *      4-20% slower short). At 12 entries (10% random blocks at N = 8192) the short shape was
 *      4% faster than the long one before ping-pong, and 9% slower after it (0.129 against
 *      0.118 ms).
 *  SPATTN_SM90_ROWS=64 or =128 forces one shape (for A/B runs). */
inline bool short_shape(int stride, long long long_ctas) {
  const char* force = getenv("SPATTN_SM90_ROWS");
  if (force && strcmp(force, "64") == 0) return true;
  if (force && strcmp(force, "128") == 0) return false;
  if (pattern::DATA_PARTIAL_TILES) return true;
  constexpr int SHORT_ENTRIES = 8, SHORT_WAVES = 8;
  return stride <= SHORT_ENTRIES && long_ctas <= (long long)SHORT_WAVES * sm_count();
}

}  // namespace sm90
}  // namespace spattn

namespace spattn {
/** Which forward kernel runs: 90 (the wgmma kernel `hopper`) where the current device is
 *  compute capability 9.0 and this binary holds sm_90a code for it, else 80. The environment
 *  variable SPATTN_CUDA_KERNEL=sm80 forces the portable kernel; =sm90 demands the Hopper one
 *  and fails with cudaErrorNoKernelImageForDevice where it cannot run. The answer is cached per
 *  kernel and device. */
inline cudaError_t pick_kernel(const void* hopper, int* choice) {
  const char* force = getenv("SPATTN_CUDA_KERNEL");
  *choice = 80;
  if (force && strcmp(force, "sm80") == 0) return cudaSuccess;
  int dev = 0;
  cudaError_t e = cudaGetDevice(&dev);
  if (e != cudaSuccess) return e;
  static const void* seen[8];
  static int answer[8][16];  // 0: not asked yet, 80 or 90
  int slot = 0;
  while (slot < 8 && seen[slot] && seen[slot] != hopper) ++slot;
  int* cached = slot < 8 && dev < 16 ? &answer[slot][dev] : nullptr;
  if (cached && *cached) {
    *choice = *cached;
  } else {
    int major = 0, minor = 0;
    e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
    if (e != cudaSuccess) return e;
    if (major == 9 && minor == 0) {
      cudaFuncAttributes a;
      if (cudaFuncGetAttributes(&a, hopper) == cudaSuccess) {
        if (a.binaryVersion == 90 && a.ptxVersion >= 90) *choice = 90;
      } else {
        (void)cudaGetLastError();  // no image for this device: not an error of the caller's
      }
    }
    if (cached) {
      seen[slot] = hopper;
      *cached = *choice;
    }
  }
  if (force && strcmp(force, "sm90") == 0 && *choice != 90) return cudaErrorNoKernelImageForDevice;
  return cudaSuccess;
}
}  // namespace spattn
