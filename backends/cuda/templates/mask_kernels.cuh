// GPU mask generators: the pattern's predicate evaluated on the device, exact by construction
// (the same predicate the attention kernel inlines, or the box domain where it proves a tile's class).
//   mask_dense:    [heads][n][n] bytes, 1 where query q may attend key k;
//   mask_classify: [heads][ceil(n/bq)][ceil(n/bk)] bytes, 0 empty, 1 partial, 2 full tiles,
//                  a tile (or its two halves) at a time where the pattern's box domain decides
//                  it (box_domain.cuh), else a row at a time, else element by element;
//   mask_lists:    FlexAttention's BlockMask lists from those classes (kv_num / kv_idx for the
//                  partial tiles, full_num / full_idx for the full ones), sorted, padded to
//                  ceil(n/bk) indices per row: what `spattn mask --format bsr` writes;
//   mask_tiles:    the same lists in one pass without the classes or the padding (a dynamic
//                  pattern's per-call lists for the attention kernels);
//   mask_tile_bits: row masks of the partial tiles of the kernels' lists (optional input).
// Embedded verbatim into every generated .cu file, after the pattern.

namespace spattn {

/** The largest selection box the mask generator counts (box::selected): its boxes of 32 tiles. */
constexpr int MASK_MAX_CELLS = 1024;

/** Grid (key chunks, query rows from q0, heads). */
__global__ void mask_dense(unsigned char* out, int n, int q0, pattern::Dyn dyn) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x, q = q0 + blockIdx.y, h = blockIdx.z;
  if (k < n) out[((long long)h * n + q) * n + k] = pattern::allowed(q, k, h, n, dyn) ? 1 : 0;
}

/** The class of a box from the classes of two halves that cover it: 0 empty, 1 partial, 2 full,
 *  3 undecided (x and y are box::tri values). */
__device__ __forceinline__ int halves_class(int x, int y) {
  x &= 3, y &= 3;
  if (x == box::P || y == box::P || (x == box::T && y == box::F) || (x == box::F && y == box::T)) return 1;
  if (x == box::U || y == box::U) return 3;
  return x == box::T ? 2 : 0;
}

/** The class of the tile of rows q0..q1 and keys k0..k1: 0 empty, 1 partial, 2 full where the
 *  pattern's box domain (pattern::box_class) settles it, else the tile's two halves of rows
 *  (block top-k's diagonal tiles: the causal part and the kept blocks are both partial over the
 *  tile, but not over a query block), else 3, undecided (refine_tile). */
__device__ __forceinline__ int tile_class(int q0, int q1, int k0, int k1, int h, int n, const pattern::Dyn& dyn) {
  const int v = pattern::box_class<MASK_MAX_CELLS>(q0, q1, k0, k1, h, n, dyn) & 3;
  const int cls = v == box::F ? 0 : v == box::T ? 2 : v == box::P ? 1 : 3;
  if (cls != 3 || q1 == q0) return cls;
  const int qm = q0 + (q1 - q0) / 2;
  return halves_class(pattern::box_class<MASK_MAX_CELLS>(q0, qm, k0, k1, h, n, dyn), pattern::box_class<MASK_MAX_CELLS>(qm + 1, q1, k0, k1, h, n, dyn));
}

/** Settles a tile tile_class left undecided, as the compiler's refineBlock does; the whole warp
 *  calls it for the same tile. A lane per row takes the pattern over the row's box, and the
 *  row's elements only where that is undecided too: full when every pair is allowed, empty when
 *  none is, else partial (on every lane). */
__device__ __forceinline__ int refine_tile(int q0, int q1, int k0, int k1, int h, int n, const pattern::Dyn& dyn, int lane) {
  bool any = false, all = true;
  for (int q = q0 + lane; q <= q1; q += 32) {
    const int v = pattern::box_class<MASK_MAX_CELLS>(q, q, k0, k1, h, n, dyn) & 3;
    if (v == box::T) any = true;
    else if (v == box::F) all = false;
    else if (v == box::P) any = true, all = false;
    else {
      for (int k = k0; k <= k1; ++k) {
        const bool ok = pattern::allowed(q, k, h, n, dyn);
        any |= ok;
        all &= ok;
      }
    }
  }
  any = __any_sync(0xffffffffu, any);
  all = __all_sync(0xffffffffu, all);
  return all ? 2 : (any ? 1 : 0);
}

/** TILES consecutive key tiles a thread: their joint box first, which settles all of them at
 *  once where the pattern is empty or full over it (most tiles of a selection or a window);
 *  else each tile by tile_class, undecided ones marked 3 for mask_refine. Grid: x over key
 *  tiles, y over rows (head h, query tile qb) = h * nqb + qb, strided past the grid's 65535.
 *  Tiles past the end are clipped to n. */
template <int TILES>
__global__ void mask_classify(unsigned char* classes, int n, int bq, int bk, int nqb, int nkb, int heads, pattern::Dyn dyn) {
  const int kb0 = (blockIdx.x * blockDim.x + threadIdx.x) * TILES;
  if (kb0 >= nkb) return;
  const int kbs = min(TILES, nkb - kb0), kend = min(n, (kb0 + kbs) * bk) - 1;
  for (long long row = blockIdx.y; row < (long long)nqb * heads; row += gridDim.y) {
    const int qb = (int)(row % nqb), h = (int)(row / nqb);
    const int q0 = qb * bq, q1 = min(n - q0, bq) + q0 - 1;
    unsigned char* c = classes + row * nkb + kb0;
    const int joint = pattern::box_class<MASK_MAX_CELLS>(q0, q1, kb0 * bk, kend, h, n, dyn) & 3;
    if (joint == box::F || joint == box::T) {
      for (int x = 0; x < kbs; ++x) c[x] = joint == box::T ? 2 : 0;
      continue;
    }
#pragma unroll
    for (int x = 0; x < TILES; ++x) {
      if (x >= kbs) break;
      const int k0 = (kb0 + x) * bk;
      c[x] = (unsigned char)tile_class(q0, q1, k0, min(n - k0, bk) + k0 - 1, h, n, dyn);
    }
  }
}

/** Settles the tiles mask_classify marked 3 (refine_tile). A warp scans 32 tiles at a time
 *  (grid-stride); each marked one is settled by the whole warp. */
__global__ void mask_refine(unsigned char* classes, long long tiles, int n, int bq, int bk, int nqb, int nkb, pattern::Dyn dyn) {
  const int lane = threadIdx.x % 32;
  const long long warp = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32, warps = (long long)gridDim.x * blockDim.x / 32;
  for (long long base = warp * 32; base < tiles; base += warps * 32) {
    unsigned todo = __ballot_sync(0xffffffffu, base + lane < tiles && classes[base + lane] == 3);
    while (todo) {
      const long long t = base + __ffs(todo) - 1;
      todo &= todo - 1;
      const int kb = (int)(t % nkb), qb = (int)(t / nkb % nqb), h = (int)(t / nkb / nqb);
      const int q0 = qb * bq, k0 = kb * bk;
      const int cls = refine_tile(q0, min(n - q0, bq) + q0 - 1, k0, min(n - k0, bk) + k0 - 1, h, n, dyn, lane);
      if (lane == 0) classes[t] = (unsigned char)cls;
    }
  }
}

/** mask_lists' lists straight from the pattern, without the classes: a warp per (head, query
 *  tile), grid-stride. Each lane takes the box of a chunk of 32 key tiles; the chunks not proven
 *  empty are then walked in order, a tile a lane (tile_class, or full where its chunk is),
 *  undecided tiles settled by the warp (refine_tile), and a ballot gives each listed tile its
 *  place, so the indices come out sorted. Only the entries are written: kv_idx and full_idx past
 *  kv_num and full_num keep what they held. For a selection of a few blocks a row this takes
 *  about 2 boxes a tile row's chunk and one a tile near a kept block, where mask_classify takes
 *  one or more for each of the row's tiles. */
__global__ void mask_tiles(int n, int bq, int bk, int nqb, int nkb, long long rows, pattern::Dyn dyn, int* kv_num, int* kv_idx,
                           int* full_num, int* full_idx) {
  const int lane = threadIdx.x % 32;
  const unsigned below = (1u << lane) - 1u;
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  for (long long row = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32; row < rows; row += warps) {
    const int qb = (int)(row % nqb), h = (int)(row / nqb);
    const int q0 = qb * bq, q1 = min(n - q0, bq) + q0 - 1;
    int* pi = kv_idx + row * nkb;
    int* fi = full_idx + row * nkb;
    int np = 0, nf = 0;
    for (int base = 0; base < nkb; base += 32 * 32) {
      const int c0 = base + lane * 32;
      const int cv = c0 < nkb ? pattern::box_class<MASK_MAX_CELLS>(q0, q1, c0 * bk, (int)min((long long)n, (long long)min(c0 + 32, nkb) * bk) - 1, h, n, dyn) & 3 : (int)box::F;
      const unsigned whole = __ballot_sync(0xffffffffu, cv == box::T);
      for (unsigned todo = __ballot_sync(0xffffffffu, cv != box::F); todo; todo &= todo - 1) {
        const int first = base + (__ffs(todo) - 1) * 32, kb = first + lane, k0 = kb * bk;
        int cls = kb >= nkb ? 0 : (whole >> (__ffs(todo) - 1) & 1) ? 2 : tile_class(q0, q1, k0, min(n - k0, bk) + k0 - 1, h, n, dyn);
        for (unsigned open = __ballot_sync(0xffffffffu, cls == 3); open; open &= open - 1) {
          const int u = __ffs(open) - 1, u0 = (first + u) * bk;
          const int settled = refine_tile(q0, q1, u0, min(n - u0, bk) + u0 - 1, h, n, dyn, lane);
          if (lane == u) cls = settled;
        }
        const unsigned part = __ballot_sync(0xffffffffu, cls == 1), full = __ballot_sync(0xffffffffu, cls == 2);
        if (cls == 1) pi[np + __popc(part & below)] = kb;
        if (cls == 2) fi[nf + __popc(full & below)] = kb;
        np += __popc(part);
        nf += __popc(full);
      }
    }
    if (lane == 0) {
      kv_num[row] = np;
      full_num[row] = nf;
    }
  }
}

/** A warp per (head, query tile): lanes take 32 key tiles at a time, and a ballot gives each
 *  listed tile its place, so the indices come out sorted. */
__global__ void mask_lists(const unsigned char* classes, int rows, int nkb, int* kv_num, int* kv_idx, int* full_num,
                           int* full_idx) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const unsigned char* c = classes + (long long)row * nkb;
  int* pi = kv_idx + (long long)row * nkb;
  int* fi = full_idx + (long long)row * nkb;
  int np = 0, nf = 0;
  for (int kb0 = 0; kb0 < nkb; kb0 += 32) {
    const int kb = kb0 + lane;
    const int cls = kb < nkb ? c[kb] : 0;
    const unsigned below = (1u << lane) - 1u;
    const unsigned part = __ballot_sync(0xffffffffu, cls == 1), full = __ballot_sync(0xffffffffu, cls == 2);
    if (cls == 1) pi[np + __popc(part & below)] = kb;
    if (cls == 2) fi[nf + __popc(full & below)] = kb;
    np += __popc(part);
    nf += __popc(full);
  }
  // Padding after the listed tiles: zeros, as in the CPU's lists.
  for (int i = np + lane; i < nkb; i += 32) pi[i] = 0;
  for (int i = nf + lane; i < nkb; i += 32) fi[i] = 0;
  if (lane == 0) {
    kv_num[row] = np;
    full_num[row] = nf;
  }
}

/** Row masks of the listed partial tiles of a launch's block lists: bits[(list * stride + t) *
 *  BQ + r] has bit c set when query row r of the query tile may attend key c of its t-th
 *  partial key tile (padding never). The attention kernels then test a bit instead of running
 *  the predicate, for patterns whose predicate costs more than a load. Grid (query tiles, list
 *  heads, stride), a thread per row. */
template <int BQ, int BK, bool MAPPED>
__global__ void mask_tile_bits(Params p, pattern::Dyn dyn, unsigned long long* bits) {
  const int qt = blockIdx.x, hl = blockIdx.y, t = blockIdx.z, r = threadIdx.x;
  const int list = hl * p.num_q_tiles + qt;
  if (r >= BQ || t >= p.tiles.kv_num[list]) return;
  const int k0 = p.tiles.kv_idx[(long long)list * p.tiles.stride + t] * BK;
  const int pos = qt * BQ + r;
  const int qq = token_of<MAPPED>(p, pos);
  unsigned long long m = 0;
  for (int c = 0; c < BK; ++c) {
    const int kk = token_of<MAPPED>(p, k0 + c);
    m |= (unsigned long long)tile_allows(qq, kk, true, hl, p.n, dyn) << c;
  }
  bits[((long long)list * p.tiles.stride + t) * BQ + r] = m;
}

}  // namespace spattn
