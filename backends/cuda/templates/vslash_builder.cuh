// GPU index builder of vertical-slash steps (MInference's estimate), reproducing verticalSlash in
// compiler/blockmask/lib.ts bit for bit, one head at a time: scores of the last `rows` queries
// against every earlier key (float64, summed over d in order), each row's softmax (max, exp64,
// a sum in key order), column and diagonal scores (summed over the rows in order), and the best
// columns and diagonals after the forced ones (ties to the lower index) by a stable radix sort.
// Every product, sum and quotient is rounded on its own (__dmul_rn, __dadd_rn, __ddiv_rn: no
// fused multiply-adds), and exp64 is generated from the CPU's constants, operation for
// operation. Embedded verbatim into generated files with vertical-slash steps, after exp64.
#include <cub/device/device_radix_sort.cuh>

namespace spattn {

/** p[r][j] = (q_i . k_j) / sqrt(d) for row r (query i = i0 + r) and keys j <= i: grid
 *  (key blocks, rows). */
template <typename T>
__global__ void vs_scores(const T* q, const T* k, double* p, int n, int d, int i0, double scale) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y, i = i0 + r;
  if (j > i) return;
  const T* qr = q + (long long)i * d;
  const T* kr = k + (long long)j * d;
  double s = 0.0;
  for (int c = 0; c < d; ++c) s = __dadd_rn(s, __dmul_rn((double)(float)qr[c], (double)(float)kr[c]));
  p[(long long)r * n + j] = __dmul_rn(s, scale);
}

/** Row maxima: a warp per row (max is exact in any order). */
__global__ void vs_row_max(const double* p, double* mx, int n, int i0) {
  const int r = blockIdx.x, i = i0 + r, lane = threadIdx.x;
  double m = -INFINITY;
  for (int j = lane; j <= i; j += 32) m = fmax(m, p[(long long)r * n + j]);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) m = fmax(m, __shfl_xor_sync(0xffffffff, m, off));
  if (lane == 0) mx[r] = m;
}

/** p[r][j] = exp64(p[r][j] - max_r): grid (key blocks, rows). */
__global__ void vs_exp(double* p, const double* mx, int n, int i0) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x, r = blockIdx.y;
  if (j > i0 + r) return;
  double* x = p + (long long)r * n + j;
  *x = exp64(__dsub_rn(*x, mx[r]));
}

/** Row sums in key order: a thread per row. */
__global__ void vs_row_sum(const double* p, double* sum, int n, int i0, int rows) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= rows) return;
  const double* row = p + (long long)r * n;
  double s = 0.0;
  for (int j = 0; j <= i0 + r; ++j) s = __dadd_rn(s, row[j]);
  sum[r] = s;
}

/** Column x and diagonal x (offset q - k = x), each summed over the rows in order. */
__global__ void vs_col_diag(const double* p, const double* sum, double* col, double* diag, int n, int i0, int rows) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  if (x >= n) return;
  double c = 0.0, g = 0.0;
  for (int r = 0; r < rows; ++r) {
    const int i = i0 + r;
    if (x > i) continue;
    const double* row = p + (long long)r * n;
    c = __dadd_rn(c, __ddiv_rn(row[x], sum[r]));
    g = __dadd_rn(g, __ddiv_rn(row[i - x], sum[r]));
  }
  col[x] = c;
  diag[x] = g;
}

/** Sort keys of the candidates x >= forced: the score's bits inverted (scores are >= 0, so an
 *  ascending sort is by descending score), with x as the value. */
__global__ void vs_keys(const double* score, unsigned long long* keys, int* vals, int n, int forced) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n - forced) return;
  keys[t] = ~(unsigned long long)__double_as_longlong(score[forced + t]);
  vals[t] = forced + t;
}

/** kept[x] = 1 for the forced x < forced, 0 elsewhere (the choice marks its own after). */
__global__ void vs_forced(unsigned char* kept, int n, int forced) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  if (x < n) kept[x] = x < forced;
}

/** The first `take` candidates in sorted order are kept. */
__global__ void vs_take(const int* sorted, unsigned char* kept, int take) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < take) kept[sorted[t]] = 1;
}

/** y = exp64(x) elementwise (the builder's exponential, exposed for checks). */
__global__ void vs_exp64_map(const double* x, double* y, int count) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < count) y[t] = exp64(x[t]);
}

/** Work space of one head (the heads run in turn). */
struct VsSpace {
  double *p, *mx, *sum, *col, *diag;
  unsigned long long *keys, *keys_sorted;
  int *vals, *vals_sorted;
  void* sort_tmp;
  size_t sort_bytes;
};

/** Carves the work space from `base` (nullptr: measures it); returns its size in bytes. */
inline size_t vs_space(void* base, int n, int rows, VsSpace* s) {
  size_t at = 0;
  auto take = [&](size_t bytes) {
    void* out = base ? static_cast<char*>(base) + at : nullptr;
    at += (bytes + 255) & ~(size_t)255;
    return out;
  };
  s->p = static_cast<double*>(take(sizeof(double) * (size_t)rows * n));
  s->mx = static_cast<double*>(take(sizeof(double) * rows));
  s->sum = static_cast<double*>(take(sizeof(double) * rows));
  s->col = static_cast<double*>(take(sizeof(double) * n));
  s->diag = static_cast<double*>(take(sizeof(double) * n));
  s->keys = static_cast<unsigned long long*>(take(sizeof(unsigned long long) * n));
  s->keys_sorted = static_cast<unsigned long long*>(take(sizeof(unsigned long long) * n));
  s->vals = static_cast<int*>(take(sizeof(int) * n));
  s->vals_sorted = static_cast<int*>(take(sizeof(int) * n));
  s->sort_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, s->sort_bytes, s->keys, s->keys_sorted, s->vals, s->vals_sorted, n);
  s->sort_tmp = take(s->sort_bytes);
  return at;
}

/** keepBest: kept[x] = 1 for x < forced, then for the best count - forced of the rest. */
inline cudaError_t vs_keep_best(VsSpace& s, const double* score, unsigned char* kept, int n, int forced, int count, cudaStream_t stream) {
  forced = forced < n ? forced : n;
  vs_forced<<<(n + 255) / 256, 256, 0, stream>>>(kept, n, forced);
  const int rest = n - forced, take = count - forced < rest ? count - forced : rest;
  if (take <= 0) return cudaGetLastError();
  vs_keys<<<(rest + 255) / 256, 256, 0, stream>>>(score, s.keys, s.vals, n, forced);
  size_t bytes = s.sort_bytes;
  cudaError_t e = cub::DeviceRadixSort::SortPairs(s.sort_tmp, bytes, s.keys, s.keys_sorted, s.vals, s.vals_sorted, rest, 0, 64, stream);
  if (e != cudaSuccess) return e;
  vs_take<<<(take + 255) / 256, 256, 0, stream>>>(s.vals_sorted, kept, take);
  return cudaGetLastError();
}

/** One vertical-slash step for every head: cols and diags are [heads][n] bytes. */
template <typename T>
cudaError_t vs_build(const T* q, const T* k, int heads, int n, int d, unsigned char* cols, unsigned char* diags, void* workspace,
                     int last, int first, int verticals, int recent, int slashes, cudaStream_t stream) {
  const int rows = last < n ? last : n, i0 = n - rows;
  VsSpace s;
  vs_space(workspace, n, rows, &s);
  const double scale = 1.0 / sqrt((double)d);  // host IEEE division and square root, as the CPU's
  const dim3 grid((n + 127) / 128, rows);
  for (int h = 0; h < heads; ++h) {
    const T* qh = q + (long long)h * n * d;
    const T* kh = k + (long long)h * n * d;
    if (rows > 0) {
      vs_scores<T><<<grid, 128, 0, stream>>>(qh, kh, s.p, n, d, i0, scale);
      vs_row_max<<<rows, 32, 0, stream>>>(s.p, s.mx, n, i0);
      vs_exp<<<grid, 128, 0, stream>>>(s.p, s.mx, n, i0);
      vs_row_sum<<<(rows + 31) / 32, 32, 0, stream>>>(s.p, s.sum, n, i0, rows);
    }
    vs_col_diag<<<(n + 127) / 128, 128, 0, stream>>>(s.p, s.sum, s.col, s.diag, n, i0, rows);
    cudaError_t e = vs_keep_best(s, s.col, cols + (long long)h * n, n, first, verticals, stream);
    if (e == cudaSuccess) e = vs_keep_best(s, s.diag, diags + (long long)h * n, n, recent, slashes, stream);
    if (e != cudaSuccess) return e;
  }
  return cudaGetLastError();
}

}  // namespace spattn
