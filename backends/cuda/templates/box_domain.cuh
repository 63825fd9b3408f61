// The pattern over a box of (q, k) pairs, on the device: the compiler's three-valued domain
// (compiler/blockmask/lib.ts, ivCmp, triJoin, selectedBox) for the parts of a mask that are
// cheap to decide there. A box's truth is F (no pair allowed), T (every pair allowed), P (some
// and some not, proven) or U (not proven), packed with the variables it depends on as
// value | dep << 2, exactly as the compiler packs it. Comparisons of expressions linear in q
// and k, kept blocks of selections, constants and the connectives are decided; every other
// leaf is U, which costs its callers an element-by-element look, never a wrong answer.
// pattern::box_class (generated) combines these; the GPU mask generator classifies tiles with
// it, and the sm_90a kernel's 64-row CTAs skip the list entries their rows leave empty.
//
// Embedded verbatim into every generated .cu file, before the pattern.

namespace spattn {
namespace box {

// Enumerations rather than constants: nvcc warns of constants a file never reads.
enum Truth { F = 0, T = 1, P = 2, U = 3 };
enum Dep { DEP_Q = 1, DEP_K = 2 };
/** Comparison codes of lin_cmp: left - right against 0. */
enum Cmp { LT = 0, LE = 1, EQ = 2, NE = 3 };

SPATTN_HD int tri(int v, int dep) { return v == F || v == T ? v : v | (dep << 2); }

/** a q + b k + c (op) 0 over rows q0..q1 and keys k0..k1: both extremes of a linear form are
 *  attained at corners of the box (so F, T and, for < and <=, P are exact), and with unit
 *  steps in every varying variable every integer between them is attained (then == is P). */
SPATTN_HD int lin_cmp(int op, long long a, long long b, long long c, long long q0, long long q1, long long k0, long long k1) {
  const long long lo = (a >= 0 ? a * q0 : a * q1) + (b >= 0 ? b * k0 : b * k1) + c;
  const long long hi = (a >= 0 ? a * q1 : a * q0) + (b >= 0 ? b * k1 : b * k0) + c;
  const int dep = (a != 0 ? DEP_Q : 0) | (b != 0 ? DEP_K : 0);
  const bool q_varies = q1 > q0 && a != 0, k_varies = k1 > k0 && b != 0;
  const bool dense = lo == hi || ((!q_varies || a == 1 || a == -1) && (!k_varies || b == 1 || b == -1));
  if (op == LT) return hi < 0 ? T : lo >= 0 ? F : tri(P, dep);
  if (op == LE) return hi <= 0 ? T : lo > 0 ? F : tri(P, dep);
  int v = lo == 0 && hi == 0 ? T : (lo > 0 || hi < 0) ? F : (dense || lo == 0 || hi == 0) ? P : U;
  if (op == NE) v = v == T ? F : v == F ? T : v;
  return tri(v, dep);
}

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

/** The kept blocks of a selection ([nqb][nkb] bytes of one head) over the box: F when none of
 *  the blocks it touches is kept, T when all are, else P. Boxes touching more than 64 blocks
 *  are left U (a box of the kernels' tiles touches one to four). */
SPATTN_HD int selected(const unsigned char* kept, long long nkb, int qblock, int kblock, int q0, int q1, int k0, int k1) {
  const int i0 = q0 / qblock, i1 = q1 / qblock, j0 = k0 / kblock, j1 = k1 / kblock;
  const long long cells = (long long)(i1 - i0 + 1) * (j1 - j0 + 1);
  if (cells > 64) return tri(U, DEP_Q | DEP_K);
  long long count = 0;
  for (int i = i0; i <= i1; ++i) {
    for (int j = j0; j <= j1; ++j) count += kept[(long long)i * nkb + j] != 0;
  }
  return count == 0 ? F : count == cells ? T : tri(P, DEP_Q | DEP_K);
}

}  // namespace box
}  // namespace spattn
