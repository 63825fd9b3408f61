// spattn block-sparse attention forward (sm_80+): FlashAttention-2 style.
//
// One CTA computes a tile of BQ = 16 * NW query rows of one (batch, head); each of its NW warps
// owns 16 rows. The CTA walks only the key tiles its block lists name: full tiles run without
// the predicate, partial tiles evaluate the pattern's predicate per element (inlined by the
// code generator as spattn_allowed). S = Q K^T and O += P V run on tensor cores
// (mma.sync.m16n8k16, fp32 accumulation); K/V tiles are staged in shared memory by cp.async,
// double-buffered, in an XOR-swizzled layout that keeps ldmatrix free of bank conflicts.
// The softmax is online (running max and sum in fp32); O is written once, with the
// log-sum-exp (natural log) of each row. A row with no allowed key gets O = 0, lse = -inf.
//
// This file is embedded verbatim into every generated .cu file.

#include <cuda.h>  // CUtensorMap (types only: the driver is reached through the runtime)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

namespace spattn {

/** Block lists in FlexAttention's layout: per (head, query tile) the counts and the sorted
 *  indices of partial and of full key tiles. Rows of the index arrays are `stride` apart.
 *  `heads` is 1 when every head shares one list, else the number of query heads. */
struct Tiles {
  const int* kv_num;
  const int* kv_idx;
  const int* full_num;
  const int* full_idx;
  int stride;
  int heads;
  /** Optional row masks of the partial tiles ([heads][num_q_tiles][stride][128], bit c of a
   *  row: key c of the tile allowed), or NULL: the predicate decides. */
  const unsigned long long* bits;
};

struct Params {
  const void* q;
  const void* k;
  const void* v;
  void* o;
  float* lse;
  int batch;
  int heads;
  int kv_heads;
  int n;
  /** Kernel order: position -> token (-1 for padding), or NULL for sequence order. */
  const int* token_map;
  /** Positions in kernel order: the map's length, or n. Tiles cover these. */
  int rows;
  int num_q_tiles;
  float scale_log2;  // softmax scale * log2(e)
  Tiles tiles;
};

// The integer helpers run on the host too: generated files export the predicate to C callers.
#define SPATTN_HD __host__ __device__ __forceinline__

// Templates over the predicate's integer type: 32-bit where the compiler bounded the pattern's
// arithmetic (much cheaper on the GPU), else 64-bit.
template <typename I>
SPATTN_HD I floor_div(I a, I b) {
  I q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

template <typename I>
SPATTN_HD I floor_mod(I a, I b) {
  I r = a % b;
  return r < 0 ? r + b : r;
}

/** NATTEN window start on one axis (see natStart in compiler/blockmask/lib.ts). */
template <typename I>
SPATTN_HD I min_i(I a, I b) { return a < b ? a : b; }
template <typename I>
SPATTN_HD I max_i(I a, I b) { return a > b ? a : b; }
template <typename I>
SPATTN_HD I abs_i(I a) { return a < 0 ? -a : a; }

template <typename I>
SPATTN_HD I nat_start(I i, I length, I kernel, I dilation, bool causal) {
  I r = i % dilation;
  I ip = (i - r) / dilation;
  if (causal) return r + max_i<I>(ip - kernel + 1, 0) * dilation;
  I sub = (length - r + dilation - 1) / dilation;
  I start = min_i<I>(max_i<I>(ip - kernel / 2, 0), sub - kernel);
  return r + start * dilation;
}

/** Index of the document holding x, for cumulative ends (sorted). */
template <typename I>
SPATTN_HD I segment_of(const long long* ends, int count, I x) {
  int lo = 0, hi = count;
  while (lo < hi) {
    int mid = (lo + hi) >> 1;
#ifdef __CUDA_ARCH__
    const long long end = __ldg(ends + mid);  // divergent addresses: L1, not the constant cache
#else
    const long long end = ends[mid];
#endif
    if (end <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The same for a few ends given inline: how many are <= x, without a branch or a load. */
template <typename I, typename... E>
SPATTN_HD I segment_count(I x, E... ends) {
  return (I)(0 + ... + (I)((long long)ends <= (long long)x));
}

/** The 32-bit mixer of seeded selections (mix32 in compiler/blockmask/lib.ts). */
__host__ __device__ __forceinline__ unsigned mix32(unsigned x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

template <typename T> struct Pack;
template <> struct Pack<__nv_bfloat16> {
  static __device__ __forceinline__ uint32_t two(float a, float b) {
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<uint32_t*>(&h);
  }
};
template <> struct Pack<__half> {
  static __device__ __forceinline__ uint32_t two(float a, float b) {
    __half2 h = __floats2half2_rn(a, b);
    return *reinterpret_cast<uint32_t*>(&h);
  }
};

template <typename T>
__device__ __forceinline__ void mma16816(float* c, const uint32_t* a, const uint32_t* b);

template <>
__device__ __forceinline__ void mma16816<__nv_bfloat16>(float* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <>
__device__ __forceinline__ void mma16816<__half>(float* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* smem) {
  uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* smem) {
  uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

/** 16 bytes global -> shared, zero-filled when `valid` is false (rows past n). */
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(gmem), "r"(bytes));
}

/** 2^x on the special-function unit, flushing denormals (the softmax needs no more). */
__device__ __forceinline__ float exp2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }

template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

/** Element offset of (row, 16-byte chunk `c`) in a swizzled [rows][D] tile. */
template <int D>
__device__ __forceinline__ int swz(int row, int c) {
  return row * D + ((c ^ (row & 7)) << 3);
}

/** The token at kernel position `pos` (-1: padding or past the end). */
__device__ __forceinline__ int token_at(const Params& p, int pos) {
  if (pos >= p.rows) return -1;
  return p.token_map ? p.token_map[pos] : pos;
}

/** token_at for kernels specialised on the map: unmapped ones (MAPPED false) read no map. */
template <bool MAPPED>
__device__ __forceinline__ int token_of(const Params& p, int pos) {
  return MAPPED ? token_at(p, pos) : (pos < p.rows ? pos : -1);
}

/** Copies the tokens at kernel positions [row0, row0 + ROWS) of a [n][D] matrix into a
 *  swizzled shared tile (zeros for padding). With a token map (MAPPED) it records each row's
 *  token in `tok`; in sequence order the token is the position and nothing is recorded. */
template <typename T, int D, int ROWS, int THREADS, bool MAPPED>
__device__ __forceinline__ void load_tile(T* dst, int* tok, const T* src, int row0, const Params& p) {
  constexpr int CHUNKS = D / 8;
#pragma unroll
  for (int i = threadIdx.x; i < ROWS * CHUNKS; i += THREADS) {
    int r = i / CHUNKS;
    int c = i % CHUNKS;
    int token = token_of<MAPPED>(p, row0 + r);
    if (MAPPED && c == 0) tok[r] = token;
    const T* g = src + (long long)(token >= 0 ? token : 0) * D + c * 8;
    cp_async16(dst + swz<D>(r, c), g, token >= 0);
  }
}

}  // namespace spattn
