// GPU mask generators: the pattern's predicate evaluated on the device, exact by construction
// (the same predicate the attention kernel inlines, or the box domain where it proves a tile's class).
//   mask_dense:    [heads][n][n] bytes, 1 where query q may attend key k;
//   mask_classes:  [heads][ceil(n/bq)][ceil(n/bk)] bytes, 0 empty, 1 partial, 2 full tiles:
//                  32 tiles at a time, or a tile (or its two halves) at a time, where the
//                  pattern's box domain decides them (box_domain.cuh), else a row at a time,
//                  else element by element (classify_row);
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

/** The classes of the key tiles of one query tile (rows q0..q1 of head h), the warp together,
 *  in order. Each lane takes the box of a chunk of 32 key tiles (a selection's kept blocks over
 *  it are counted by words). A chunk that box proves empty, or full unless WALK_FULL, goes to
 *  chunk(first, count, cls) on its lane alone. The other chunks are walked in order, a tile a
 *  lane: tile(kb, cls) on every lane at once (kb >= nkb past the end, class 0), the tiles
 *  tile_class leaves undecided settled by the warp (refine_tile). For a selection of a few
 *  blocks a row this is a box a lane for the row and one a tile near a kept block, where a box
 *  a tile would take one for each of the row's tiles. */
template <bool WALK_FULL, class Chunk, class Tile>
__device__ __forceinline__ void classify_row(int q0, int q1, int h, int n, int bk, int nkb, const pattern::Dyn& dyn, int lane, Chunk chunk,
                                             Tile tile) {
  for (int base = 0; base < nkb; base += 32 * 32) {
    const int c0 = base + lane * 32, count = max(0, min(32, nkb - c0));
    const int cv = count > 0 ? pattern::box_class<MASK_MAX_CELLS>(q0, q1, c0 * bk, min(n, (c0 + count) * bk) - 1, h, n, dyn) & 3 : (int)box::F;
    const bool settled = cv == box::F || (!WALK_FULL && cv == box::T);
    if (settled && count > 0) chunk(c0, count, cv == box::T ? 2 : 0);
    const unsigned whole = __ballot_sync(0xffffffffu, cv == box::T);
    for (unsigned todo = __ballot_sync(0xffffffffu, !settled); todo; todo &= todo - 1) {
      const int src = __ffs(todo) - 1, first = base + src * 32, kb = first + lane, k0 = kb * bk;
      int cls = kb >= nkb ? 0 : (whole >> src & 1) ? 2 : tile_class(q0, q1, k0, min(n - k0, bk) + k0 - 1, h, n, dyn);
      for (unsigned open = __ballot_sync(0xffffffffu, cls == 3); open; open &= open - 1) {
        const int u = __ffs(open) - 1, u0 = (first + u) * bk;
        const int settled_cls = refine_tile(q0, q1, u0, min(n - u0, bk) + u0 - 1, h, n, dyn, lane);
        if (lane == u) cls = settled_cls;
      }
      tile(kb, cls);
    }
  }
}

/** p[0 .. count) = v, by 16-byte stores where aligned. */
__device__ __forceinline__ void fill_bytes(unsigned char* p, int count, int v) {
  const unsigned w = 0x01010101u * (unsigned)v;
  int j = 0;
  for (; j < count && ((unsigned long long)(p + j) & 15u); ++j) p[j] = (unsigned char)v;
  for (; j + 16 <= count; j += 16) *reinterpret_cast<uint4*>(p + j) = make_uint4(w, w, w, w);
  for (; j < count; ++j) p[j] = (unsigned char)v;
}

/** Tile classes, a warp per (head, query tile) = row h * nqb + qb, grid-stride (classify_row):
 *  chunks settled whole are filled by their lane; tiles past n are clipped to it. */
__global__ void mask_classes(unsigned char* classes, int n, int bq, int bk, int nqb, int nkb, long long rows, pattern::Dyn dyn) {
  const int lane = threadIdx.x % 32;
  const long long warps = (long long)gridDim.x * blockDim.x / 32;
  for (long long row = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32; row < rows; row += warps) {
    const int qb = (int)(row % nqb), h = (int)(row / nqb);
    const int q0 = qb * bq, q1 = min(n - q0, bq) + q0 - 1;
    unsigned char* c = classes + row * nkb;
    classify_row<false>(q0, q1, h, n, bk, nkb, dyn, lane, [&](int first, int count, int cls) { fill_bytes(c + first, count, cls); },
                        [&](int kb, int cls) {
                          if (kb < nkb) c[kb] = (unsigned char)cls;
                        });
  }
}

/** mask_lists' lists straight from the pattern, without the classes: a warp per (head, query
 *  tile), grid-stride (classify_row, full chunks walked so that the lists stay in order); a
 *  ballot gives each listed tile its place, so the indices come out sorted. Only the entries are
 *  written: kv_idx and full_idx past kv_num and full_num keep what they held. */
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
    classify_row<true>(q0, q1, h, n, bk, nkb, dyn, lane, [](int, int, int) {}, [&](int kb, int cls) {
      const unsigned part = __ballot_sync(0xffffffffu, cls == 1), full = __ballot_sync(0xffffffffu, cls == 2);
      if (cls == 1) pi[np + __popc(part & below)] = kb;
      if (cls == 2) fi[nf + __popc(full & below)] = kb;
      np += __popc(part);
      nf += __popc(full);
    });
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
