// GPU index builder for routing (spherical k-means over normalised Q and K rows, per head),
// reproducing routeClusters in compiler/blockmask/lib.ts bit for bit: float64 throughout,
// every product and sum rounded on its own (__dmul_rn / __dadd_rn: no fused multiply-adds),
// sums in the CPU's order (over c for dot products and norms, over rows for centroid sums),
// ties to the lower cluster. Layouts per head: x [2n][d] (queries, then keys), centroids
// [clusters][d], assignments [2n]. Embedded verbatim into generated files with routes.

namespace spattn {

/** Thread per row: x = row / |row| (a zero row stays zero). */
template <typename T>
__global__ void route_normalize(const T* q, const T* k, double* x, int n, int d) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;
  if (r >= 2 * n) return;
  const T* src = (r < n ? q + ((long long)h * n + r) * d : k + ((long long)h * n + (r - n)) * d);
  double s = 0.0;
  for (int c = 0; c < d; ++c) {
    const double v = (double)(float)src[c];
    s = __dadd_rn(s, __dmul_rn(v, v));
  }
  const double inv = s > 0.0 ? __ddiv_rn(1.0, __dsqrt_rn(s)) : 0.0;
  double* out = x + ((long long)h * 2 * n + r) * d;
  for (int c = 0; c < d; ++c) out[c] = __dmul_rn((double)(float)src[c], inv);
}

/** Centroid m starts as the normalised key at floor(m * n / clusters): block (m, head), d threads. */
__global__ void route_init(const double* x, double* cent, int n, int d, int clusters) {
  const int m = blockIdx.x, h = blockIdx.y, c = threadIdx.x;
  const long long r = (long long)m * n / clusters;
  cent[((long long)h * clusters + m) * d + c] = x[((long long)h * 2 * n + n + r) * d + c];
}

/** Thread per row: the centroid of largest dot product (ties: the lower cluster). */
__global__ void route_assign(const double* x, const double* cent, int* assign, int n, int d, int clusters) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;
  if (r >= 2 * n) return;
  const double* row = x + ((long long)h * 2 * n + r) * d;
  const double* cm = cent + (long long)h * clusters * d;
  int best = 0;
  double best_dot = -INFINITY;
  for (int m = 0; m < clusters; ++m) {
    double s = 0.0;
    for (int c = 0; c < d; ++c) s = __dadd_rn(s, __dmul_rn(row[c], cm[(long long)m * d + c]));
    if (s > best_dot) {
      best_dot = s;
      best = m;
    }
  }
  assign[(long long)h * 2 * n + r] = best;
}

/** Block (m, head), thread c: the sum of cluster m's rows in row order, then the centroid
 *  moves to that sum normalised (an empty cluster or a zero sum keeps the old centroid). */
__global__ void route_update(const double* x, const int* assign, double* cent, int n, int d, int clusters) {
  extern __shared__ double sums[];  // [d]
  const int m = blockIdx.x, h = blockIdx.y, c = threadIdx.x;
  const int* a = assign + (long long)h * 2 * n;
  const double* xh = x + (long long)h * 2 * n * d;
  double s = 0.0;
  int count = 0;
  for (int r = 0; r < 2 * n; ++r) {
    if (a[r] == m) {
      s = __dadd_rn(s, xh[(long long)r * d + c]);
      ++count;
    }
  }
  sums[c] = s;
  __syncthreads();
  __shared__ double inv;
  if (c == 0) {
    double norm = 0.0;
    for (int i = 0; i < d; ++i) norm = __dadd_rn(norm, __dmul_rn(sums[i], sums[i]));
    inv = count == 0 || norm == 0.0 ? 0.0 : __ddiv_rn(1.0, __dsqrt_rn(norm));
  }
  __syncthreads();
  if (inv != 0.0) cent[((long long)h * clusters + m) * d + c] = __dmul_rn(s, inv);
}

/** The final assignments, split into the Dyn arrays route_q [heads][n] and route_k [heads][n]. */
__global__ void route_split(const int* assign, int* route_q, int* route_k, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;
  if (i >= n) return;
  route_q[(long long)h * n + i] = assign[(long long)h * 2 * n + i];
  route_k[(long long)h * n + i] = assign[(long long)h * 2 * n + n + i];
}

}  // namespace spattn
