// The pattern over a box of (q, k) pairs, on the device: the compiler's three-valued domain
// (compiler/blockmask/lib.ts: its IV ranges, ivCmp, triJoin, selectedBox), function for
// function. A box's truth is F (no pair allowed), T (every pair allowed), P (some and some not,
// proven) or U (not proven), packed with the variables it depends on as value | dep << 2,
// exactly as the compiler packs it. Routes and vertical-slash steps, whose compiler boxes read
// prefix sums the device does not have, are U, as are selections over boxes of more than
// box_class's MAX_CELLS blocks: U costs callers an element-by-element look, never a wrong answer.
// pattern::box_class (generated) combines these; the GPU mask generator classifies tiles with
// it, and the sm_90a kernel's 64-row CTAs skip the list entries their rows leave empty.
//
// Embedded verbatim into every generated .cu file, before the pattern.

namespace spattn {
namespace box {

// Enumerations rather than constants: nvcc warns of constants a file never reads.
enum Truth { F = 0, T = 1, P = 2, U = 3 };
enum Dep { DEP_Q = 1, DEP_K = 2 };
/** Comparison codes of iv_cmp: left - right against 0. */
enum Cmp { LT = 0, LE = 1, EQ = 2, NE = 3 };

SPATTN_HD int tri(int v, int dep) { return v == F || v == T ? v : v | (dep << 2); }

/** A box of (q, k) pairs: rows q0..q1, keys k0..k1, inclusive. */
struct Box {
  long long q0, q1, k0, k1;
};

/** The values an integer expression takes over a box (the compiler's IV): lo..hi bound them;
 *  tight: both bounds are attained; dense: every integer between them is; dep: which of q (1)
 *  and k (2) it reads; lin: it is exactly a q + b k + c. */
struct Iv {
  long long lo, hi;
  bool tight, dense;
  int dep;
  bool lin;
  long long a, b, c;
};

SPATTN_HD Iv iv_lin(long long a, long long b, long long c, const Box& x) {
  const long long lo = (a >= 0 ? a * x.q0 : a * x.q1) + (b >= 0 ? b * x.k0 : b * x.k1) + c;
  const long long hi = (a >= 0 ? a * x.q1 : a * x.q0) + (b >= 0 ? b * x.k1 : b * x.k0) + c;
  // Unit steps in every varying variable reach every integer between the bounds.
  const bool q_varies = x.q1 > x.q0 && a != 0, k_varies = x.k1 > x.k0 && b != 0;
  const bool dense = lo == hi || ((!q_varies || a == 1 || a == -1) && (!k_varies || b == 1 || b == -1));
  return {lo, hi, true, dense, (a != 0 ? DEP_Q : 0) | (b != 0 ? DEP_K : 0), true, a, b, c};
}
SPATTN_HD Iv iv_const(long long c) { return {c, c, true, true, 0, true, 0, 0, c}; }
SPATTN_HD Iv iv_of(long long lo, long long hi, bool tight, bool dense, int dep) {
  if (lo == hi) return {lo, hi, true, true, dep, false, 0, 0, lo};
  return {lo, hi, tight, dense, dep, false, 0, 0, 0};
}
/** Operands that read different variables, or one of which is constant, vary independently. */
SPATTN_HD bool independent(const Iv& x, const Iv& y) { return (x.dep & y.dep) == 0 || x.lo == x.hi || y.lo == y.hi; }

SPATTN_HD Iv iv_neg(const Iv& x, const Box& b) {
  if (x.lin) return iv_lin(-x.a, -x.b, -x.c, b);
  return iv_of(-x.hi, -x.lo, x.tight, x.dense, x.dep);
}
SPATTN_HD Iv iv_add(const Iv& x, const Iv& y, const Box& b) {
  if (x.lin && y.lin) return iv_lin(x.a + y.a, x.b + y.b, x.c + y.c, b);
  const bool ind = independent(x, y);
  return iv_of(x.lo + y.lo, x.hi + y.hi, ind && x.tight && y.tight, ind && x.dense && y.dense, x.dep | y.dep);
}
SPATTN_HD Iv iv_sub(const Iv& x, const Iv& y, const Box& b) { return iv_add(x, iv_neg(y, b), b); }
SPATTN_HD Iv iv_mul(const Iv& x, const Iv& y, const Box& b) {
  if (x.lin && y.lin && x.dep == 0) return iv_lin(x.c * y.a, x.c * y.b, x.c * y.c, b);
  if (x.lin && y.lin && y.dep == 0) return iv_lin(y.c * x.a, y.c * x.b, y.c * x.c, b);
  const long long p0 = x.lo * y.lo, p1 = x.lo * y.hi, p2 = x.hi * y.lo, p3 = x.hi * y.hi;
  const long long lo = min_i<long long>(min_i<long long>(p0, p1), min_i<long long>(p2, p3)), hi = max_i<long long>(max_i<long long>(p0, p1), max_i<long long>(p2, p3));
  if (y.dep == 0 && y.lo == y.hi) return iv_of(lo, hi, x.tight, x.dense && y.lo >= -1 && y.lo <= 1, x.dep);
  if (x.dep == 0 && x.lo == x.hi) return iv_of(lo, hi, y.tight, y.dense && x.lo >= -1 && x.lo <= 1, y.dep);
  return iv_of(lo, hi, false, false, x.dep | y.dep);
}
SPATTN_HD Iv iv_div(const Iv& x, long long m) { return iv_of(floor_div<long long>(x.lo, m), floor_div<long long>(x.hi, m), x.tight, x.dense, x.dep); }
SPATTN_HD Iv iv_mod(const Iv& x, long long m) {
  if (floor_div<long long>(x.lo, m) == floor_div<long long>(x.hi, m)) return iv_of(floor_mod<long long>(x.lo, m), floor_mod<long long>(x.hi, m), x.tight, x.dense, x.dep);
  if (!x.dense) return iv_of(0, m - 1, false, false, x.dep);
  if (x.hi - x.lo + 1 >= m) return iv_of(0, m - 1, true, true, x.dep);
  // One wrap: values are [lo mod m, m - 1] and [0, hi mod m]; 0 and m - 1 are attained.
  return iv_of(0, m - 1, true, floor_mod<long long>(x.hi, m) + 1 >= floor_mod<long long>(x.lo, m), x.dep);
}
SPATTN_HD Iv iv_abs(const Iv& x, const Box& b) {
  if (x.lo >= 0) return x;
  if (x.hi <= 0) return iv_neg(x, b);
  return iv_of(0, max_i<long long>(-x.lo, x.hi), x.dense, x.dense, x.dep);
}
SPATTN_HD Iv iv_min(const Iv& x, const Iv& y) {
  const bool ind = independent(x, y);
  return iv_of(min_i<long long>(x.lo, y.lo), min_i<long long>(x.hi, y.hi), ind && x.tight && y.tight, ind && x.dense && y.dense, x.dep | y.dep);
}
SPATTN_HD Iv iv_max(const Iv& x, const Iv& y) {
  const bool ind = independent(x, y);
  return iv_of(max_i<long long>(x.lo, y.lo), max_i<long long>(x.hi, y.hi), ind && x.tight && y.tight, ind && x.dense && y.dense, x.dep | y.dep);
}
/** The document of x, given the documents of its bounds (monotone; dense when no document is
 *  empty, a fact the code generator passes in). */
SPATTN_HD Iv iv_segment(const Iv& x, long long seg_lo, long long seg_hi, bool no_empty) {
  return iv_of(seg_lo, seg_hi, x.tight, x.dense && no_empty, x.dep);
}
/** NATTEN's window start over x (natStart in the compiler): exact for one value, monotone
 *  without dilation, enumerated over at most 4096 values, else bounded loosely. */
SPATTN_HD Iv iv_nat_start(const Iv& x, long long length, long long kernel, long long dilation, bool causal) {
  if (x.lo == x.hi) {
    const long long s = nat_start<long long>(x.lo, length, kernel, dilation, causal);
    return iv_of(s, s, true, true, x.dep);
  }
  if (dilation == 1) {
    return iv_of(nat_start<long long>(x.lo, length, kernel, 1, causal), nat_start<long long>(x.hi, length, kernel, 1, causal), x.tight, x.dense, x.dep);
  }
  if (x.dense && x.hi - x.lo < 4096) {
    long long lo = nat_start<long long>(x.lo, length, kernel, dilation, causal), hi = lo;
    for (long long i = x.lo + 1; i <= x.hi; ++i) {
      const long long s = nat_start<long long>(i, length, kernel, dilation, causal);
      lo = min_i<long long>(lo, s);
      hi = max_i<long long>(hi, s);
    }
    return iv_of(lo, hi, true, false, x.dep);
  }
  return iv_of(min_i<long long>(0, x.lo), max_i<long long>(length - 1, x.hi), false, false, x.dep);
}

/** x (op) 0 over the box, for x = left - right (ivCmp in the compiler). */
SPATTN_HD int iv_cmp(int op, const Iv& x) {
  const int vary = x.tight ? P : U;
  if (op == LT) return x.hi < 0 ? T : x.lo >= 0 ? F : tri(vary, x.dep);
  if (op == LE) return x.hi <= 0 ? T : x.lo > 0 ? F : tri(vary, x.dep);
  int v = x.lo == 0 && x.hi == 0 ? T : (x.lo > 0 || x.hi < 0) ? F : (x.dense || (x.tight && (x.lo == 0 || x.hi == 0))) ? P : U;
  if (op == NE) v = v == T ? F : v == F ? T : v;
  return tri(v, x.dep);
}

/** a q + b k + c (op) 0 over the box: a comparison the code generator folded into one linear
 *  form (both extremes of a linear form are at corners of the box). */
SPATTN_HD int lin_cmp(int op, long long a, long long b, long long c, const Box& x) { return iv_cmp(op, iv_lin(a, b, c, x)); }

SPATTN_HD int tri_not(int x) {
  const int v = x & 3;
  return v == T ? F : v == F ? T : x;
}

/** Conjunction (is_and) or disjunction of two truths. Folded over a list in any order it gives
 *  the compiler's triJoin of the list: two undecided operands make P only when both are proven
 *  partial and read disjoint variables (one q alone, the other k alone). */
SPATTN_HD int tri_join(int x, int y, bool is_and) {
  const int absorb = is_and ? F : T, neutral = is_and ? T : F;
  const int vx = x & 3, vy = y & 3, dx = x >> 2, dy = y >> 2;
  if (vx == absorb || vy == absorb) return absorb;
  if (vx == neutral) return y;
  if (vy == neutral) return x;
  const bool proven = vx == P && vy == P && dx != 0 && dy != 0 && (dx & dy) == 0;
  return tri(proven ? P : U, dx | dy);
}
SPATTN_HD int tri_and(int x, int y) { return tri_join(x, y, true); }
SPATTN_HD int tri_or(int x, int y) { return tri_join(x, y, false); }

/** Nonzero bytes of a word: a byte's high bit after adding 0x7f to its low seven bits, or its own. */
SPATTN_HD int nonzero_bytes(unsigned w) {
  const unsigned t = (((w & 0x7f7f7f7fu) + 0x7f7f7f7fu) | w) & 0x80808080u;
#ifdef __CUDA_ARCH__
  return __popc(t);
#else
  return __builtin_popcount(t);
#endif
}

/** Nonzero bytes of p[0 .. len), runs of 8 or more by aligned words. */
SPATTN_HD int count_kept(const unsigned char* p, int len) {
  int count = 0, j = 0;
  if (len >= 8) {
    for (const int head = (int)((0u - (unsigned)(unsigned long long)p) & 3u); j < head; ++j) count += p[j] != 0;
    for (; j + 4 <= len; j += 4) {
#ifdef __CUDA_ARCH__
      const unsigned w = *reinterpret_cast<const unsigned*>(p + j);
#else
      unsigned w;
      __builtin_memcpy(&w, p + j, 4);
#endif
      count += nonzero_bytes(w);
    }
  }
  for (; j < len; ++j) count += p[j] != 0;
  return count;
}

/** The kept blocks of a selection ([nqb][nkb] bytes of one head) over the box: F when none of
 *  the blocks it touches is kept, T when all are, else P. Boxes touching more than MAX_CELLS
 *  blocks are left U. The kernels' tiles touch one to four (MAX_CELLS 64, a byte at a time:
 *  the attention kernels' code stays small); the mask generator's boxes of 32 tiles 32 to 64
 *  blocks and more, counted by words (MAX_CELLS 1024). */
template <int MAX_CELLS>
SPATTN_HD int selected(const unsigned char* kept, long long nkb, int qblock, int kblock, const Box& b) {
  // Positions are below 2^30: 32-bit divisions by the (constant) block sizes.
  const int i0 = (int)b.q0 / qblock, i1 = (int)b.q1 / qblock, j0 = (int)b.k0 / kblock, j1 = (int)b.k1 / kblock;
  const long long cells = (long long)(i1 - i0 + 1) * (j1 - j0 + 1);
  if (cells > MAX_CELLS) return tri(U, DEP_Q | DEP_K);
  long long count = 0;
  for (int i = i0; i <= i1; ++i) {
    if constexpr (MAX_CELLS > 64) {
      count += count_kept(kept + (long long)i * nkb + j0, j1 - j0 + 1);
    } else {
      for (int j = j0; j <= j1; ++j) count += kept[(long long)i * nkb + j] != 0;
    }
  }
  return count == 0 ? F : count == cells ? T : tri(P, DEP_Q | DEP_K);
}

}  // namespace box
}  // namespace spattn
