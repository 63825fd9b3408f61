// GPU mask generators: the pattern's predicate evaluated on the device, element by element,
// so their output is exact by construction (the same predicate the attention kernel inlines).
//   mask_dense:    [heads][n][n] bytes, 1 where query q may attend key k;
//   mask_classify: [heads][ceil(n/bq)][ceil(n/bk)] bytes, 0 empty, 1 partial, 2 full tiles;
//   mask_lists:    FlexAttention's BlockMask lists from those classes (kv_num / kv_idx for the
//                  partial tiles, full_num / full_idx for the full ones), sorted, padded to
//                  ceil(n/bk) indices per row: what `spattn mask --format bsr` writes;
//   mask_tile_bits: row masks of the partial tiles of the kernels' lists (optional input).
// Embedded verbatim into every generated .cu file, after the pattern.

namespace spattn {

/** Grid (key chunks, query rows from q0, heads). */
__global__ void mask_dense(unsigned char* out, int n, int q0, pattern::Dyn dyn) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x, q = q0 + blockIdx.y, h = blockIdx.z;
  if (k < n) out[((long long)h * n + q) * n + k] = pattern::allowed(q, k, h, n, dyn) ? 1 : 0;
}

/** One CTA per tile: each thread evaluates a strided share of its elements; the tile is full
 *  when every element is allowed, empty when none is (a tile past the end is clipped to n). */
__global__ void mask_classify(unsigned char* classes, int n, int bq, int bk, pattern::Dyn dyn) {
  const int kb = blockIdx.x, qb = blockIdx.y, h = blockIdx.z;
  const int q0 = qb * bq, k0 = kb * bk;
  const int rows = min(bq, n - q0), cols = min(bk, n - k0);
  int any = 0, all = 1;
  for (int i = threadIdx.x; i < rows * cols; i += blockDim.x) {
    const bool ok = pattern::allowed(q0 + i / cols, k0 + i % cols, h, n, dyn);
    any |= ok;
    all &= ok;
  }
  any = __syncthreads_or(any);
  all = __syncthreads_and(all);
  if (threadIdx.x == 0) {
    const int nqb = gridDim.y, nkb = gridDim.x;
    classes[((long long)h * nqb + qb) * nkb + kb] = all ? 2 : (any ? 1 : 0);
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
