// spattn: attention under the pattern moba (f32, D = 64, DV = 64, 32 x 16 tiles).
struct Params {
  n: i32,
  heads: i32,
  kv_heads: i32,
  num_q_tiles: i32,
  stride: i32,
  tile_heads: i32,
  kv_num_off: i32,
  kv_idx_off: i32,
  full_num_off: i32,
  full_idx_off: i32,
  split_off: i32,
  items_off: i32,
  num_items: i32,
  extra_rows: i32,
  combine_off: i32,
  num_combine: i32,
  scale_log2: f32,
  dyn_sel0_kept: i32,
  pad18: i32,
  pad19: i32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Qb: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> Kb: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> Vb: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Ob: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSEb: array<f32>;
@group(0) @binding(6) var<storage, read> lists: array<i32>;
@group(0) @binding(7) var<storage, read> dyn: array<i32>;
@group(0) @binding(8) var<storage, read_write> parts: array<f32>; // per slot: O [BQ][DV], then lse [BQ]

const D = 64i;
const DV = 64i;
const BQ = 32i;
const BK = 16i;
const RA = 4i; // rows per thread
const TY = 8i; // row groups
const TX = 8i; // threads across keys and columns
const NEG_BIG = -3.0e38; // a masked score: exp2 of it, less any finite maximum, is 0
const PART = 2080i; // words of a slot of parts

alias kv_t = f32; // the staged K and V
var<workgroup> qs: array<vec4<f32>, 512>; // Q^T: [dimension][row group], a vec4 of 4 rows
var<workgroup> kvs: array<kv_t, 1088>; // K^T [dimension][key] (rows of BK + 1), then V [key][column]
var<workgroup> ps: array<vec4<f32>, 128>; // P^T: [key][row group]
var<workgroup> rowv: array<vec4<f32>, 8>; // per row: the rescaling factor, at the end 1 / l
var<workgroup> span_wg: vec4<i32>; // the list's partial tiles, then the first and end entry and the slot to run

// Floor division and modulo by a positive constant (WGSL's / and % truncate toward zero).
fn spattn_fdiv(a: i32, b: i32) -> i32 {
  let t = a / b;
  return select(t, t - 1i, (a % b) != 0i && a < 0i);
}
fn spattn_fmod(a: i32, b: i32) -> i32 {
  let r = a % b;
  return select(r, r + b, r < 0i);
}
// NATTEN's window start on one axis (compiler/blockmask/lib.ts natStart).
fn spattn_nat_start(i: i32, length: i32, kernel: i32, dilation: i32, causal: bool) -> i32 {
  let r = i % dilation;
  let ip = (i - r) / dilation;
  if (causal) { return r + max(ip - kernel + 1i, 0i) * dilation; }
  let sub = (length - r + dilation - 1i) / dilation;
  let start = min(max(ip - kernel / 2i, 0i), sub - kernel);
  return r + start * dilation;
}

fn spattn_allowed(q: i32, k: i32, head: i32, n: i32, sel0_tile: bool) -> bool {
  return (sel0_tile && (k <= q));
}

// Key tile e of the query tile's lists: the np partial ones, then the full ones.
fn spattn_tile(list: i32, np: i32, e: i32) -> i32 {
  if (e < np) { return lists[P.kv_idx_off + list * P.stride + e]; }
  return lists[P.full_idx_off + list * P.stride + e - np];
}

// Whether selection 0 kept the key tile starting at k0 for query q (its blocks hold whole
// tiles), read on partial tiles for rows before n only.
fn spattn_sel0_row(partial: bool, q: i32, k0: i32, head: i32, n: i32) -> bool {
  return partial && q < n && (dyn[u32(P.dyn_sel0_kept + (head * ((n + 0i) / 1i) + q / 1i) * ((n + 63i) / 64i) + k0 / 64i)] != 0i);
}

// Workgroup rows from extra_rows on: query tile x of head y - extra_rows, its list's first part
// (all of it where the list is not split). Rows before: the work items of the other parts.
// The body is spelled twice, so that in the first branch the driver sees the tile and head
// come from the workgroup id (uniform); called as one function from both, dense attention
// ran 1.24 times slower on an H200.
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {
  let lid = i32(lidx);
  let y = i32(wid.y) - P.extra_rows;
  if (y >= 0i) {
    let qt = i32(wid.x);
    let head = y;
    let it = -1i; // the first part of the list
    let n = P.n;
    let ty = lid / TX;
    let tx = lid % TX;
    let q0 = qt * BQ + ty * RA; // this thread's first row
    let sr = lid % BQ; // the row whose softmax this thread runs (threads past BQ repeat it and write nothing)
    let j0 = 0i;
    let kvh = head / (P.heads / P.kv_heads);
    let list = select(head, 0i, P.tile_heads == 1i) * P.num_q_tiles + qt;
    if (lid == 0i) {
      let np = lists[P.kv_num_off + list];
      var span = vec4<i32>(np, 0i, np + lists[P.full_num_off + list], -1i);
      if (it >= 0i) {
        span = vec4<i32>(np, lists[it + 2i], lists[it + 3i], lists[it + 4i]);
      } else if (P.num_combine > 0i) {
        let at = P.split_off + 2i * (head * P.num_q_tiles + qt);
        span = vec4<i32>(np, 0i, lists[at], lists[at + 1i]);
      }
      span_wg = span;
    }
    // Q^T, once, through registers: every load issued before the first store.
    {
      var qr0: vec4<f32>;
      var qr1: vec4<f32>;
      var qr2: vec4<f32>;
      var qr3: vec4<f32>;
      var qr4: vec4<f32>;
      var qr5: vec4<f32>;
      var qr6: vec4<f32>;
      var qr7: vec4<f32>;
      qr0 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, qt * BQ + (lid + 0i) / 16i < n)], qt * BQ + (lid + 0i) / 16i < n);
      qr1 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, qt * BQ + (lid + 64i) / 16i < n)], qt * BQ + (lid + 64i) / 16i < n);
      qr2 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, qt * BQ + (lid + 128i) / 16i < n)], qt * BQ + (lid + 128i) / 16i < n);
      qr3 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, qt * BQ + (lid + 192i) / 16i < n)], qt * BQ + (lid + 192i) / 16i < n);
      qr4 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 256i) / 16i) * 16i + (lid + 256i) % 16i, qt * BQ + (lid + 256i) / 16i < n)], qt * BQ + (lid + 256i) / 16i < n);
      qr5 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 320i) / 16i) * 16i + (lid + 320i) % 16i, qt * BQ + (lid + 320i) / 16i < n)], qt * BQ + (lid + 320i) / 16i < n);
      qr6 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 384i) / 16i) * 16i + (lid + 384i) % 16i, qt * BQ + (lid + 384i) / 16i < n)], qt * BQ + (lid + 384i) / 16i < n);
      qr7 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 448i) / 16i) * 16i + (lid + 448i) % 16i, qt * BQ + (lid + 448i) / 16i < n)], qt * BQ + (lid + 448i) / 16i < n);
      qs[(((lid + 0i) % 16i) * 4i + 0i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[0];
      qs[(((lid + 0i) % 16i) * 4i + 1i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[1];
      qs[(((lid + 0i) % 16i) * 4i + 2i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[2];
      qs[(((lid + 0i) % 16i) * 4i + 3i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[3];
      qs[(((lid + 64i) % 16i) * 4i + 0i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[0];
      qs[(((lid + 64i) % 16i) * 4i + 1i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[1];
      qs[(((lid + 64i) % 16i) * 4i + 2i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[2];
      qs[(((lid + 64i) % 16i) * 4i + 3i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[3];
      qs[(((lid + 128i) % 16i) * 4i + 0i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[0];
      qs[(((lid + 128i) % 16i) * 4i + 1i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[1];
      qs[(((lid + 128i) % 16i) * 4i + 2i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[2];
      qs[(((lid + 128i) % 16i) * 4i + 3i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[3];
      qs[(((lid + 192i) % 16i) * 4i + 0i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[0];
      qs[(((lid + 192i) % 16i) * 4i + 1i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[1];
      qs[(((lid + 192i) % 16i) * 4i + 2i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[2];
      qs[(((lid + 192i) % 16i) * 4i + 3i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[3];
      qs[(((lid + 256i) % 16i) * 4i + 0i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[0];
      qs[(((lid + 256i) % 16i) * 4i + 1i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[1];
      qs[(((lid + 256i) % 16i) * 4i + 2i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[2];
      qs[(((lid + 256i) % 16i) * 4i + 3i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[3];
      qs[(((lid + 320i) % 16i) * 4i + 0i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[0];
      qs[(((lid + 320i) % 16i) * 4i + 1i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[1];
      qs[(((lid + 320i) % 16i) * 4i + 2i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[2];
      qs[(((lid + 320i) % 16i) * 4i + 3i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[3];
      qs[(((lid + 384i) % 16i) * 4i + 0i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[0];
      qs[(((lid + 384i) % 16i) * 4i + 1i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[1];
      qs[(((lid + 384i) % 16i) * 4i + 2i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[2];
      qs[(((lid + 384i) % 16i) * 4i + 3i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[3];
      qs[(((lid + 448i) % 16i) * 4i + 0i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[0];
      qs[(((lid + 448i) % 16i) * 4i + 1i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[1];
      qs[(((lid + 448i) % 16i) * 4i + 2i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[2];
      qs[(((lid + 448i) % 16i) * 4i + 3i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[3];
    }
    let span = workgroupUniformLoad(&span_wg);
    let np = span.x;
    let first = span.y; // entries first .. total - 1 of the list
    let total = span.z;
    let slot = span.w; // -1: O and lse; else a slot of parts
    var o0 = vec4<f32>(0.0);
    var o1 = vec4<f32>(0.0);
    var o2 = vec4<f32>(0.0);
    var o3 = vec4<f32>(0.0);
    var o4 = vec4<f32>(0.0);
    var o5 = vec4<f32>(0.0);
    var o6 = vec4<f32>(0.0);
    var o7 = vec4<f32>(0.0);
    var m_i = NEG_BIG; // the softmax state of row sr
    var l_i = 0.0;
    // The tiles' K and V pass through registers: K of tile e + 1 is loaded while tile e's P V
    // runs, V of tile e while its scores do.
    var kr0: vec4<f32>;
    var kr1: vec4<f32>;
    var kr2: vec4<f32>;
    var kr3: vec4<f32>;
    var vr0: vec4<f32>;
    var vr1: vec4<f32>;
    var vr2: vec4<f32>;
    var vr3: vec4<f32>;
    var kt = 0i;
    if (total > first) {
      kt = spattn_tile(list, np, first);
      let k0 = kt * BK;
      kr0 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, k0 + (lid + 0i) / 16i < n)], k0 + (lid + 0i) / 16i < n);
      kr1 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, k0 + (lid + 64i) / 16i < n)], k0 + (lid + 64i) / 16i < n);
      kr2 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, k0 + (lid + 128i) / 16i < n)], k0 + (lid + 128i) / 16i < n);
      kr3 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, k0 + (lid + 192i) / 16i < n)], k0 + (lid + 192i) / 16i < n);
    }
    for (var e = first; e < total; e++) {
      let partial = e < np;
      let k0 = kt * BK;
      let sel0_rows = (u32(spattn_sel0_row(partial, q0 + 0i, k0, head, n)) << 0u) | (u32(spattn_sel0_row(partial, q0 + 1i, k0, head, n)) << 1u) | (u32(spattn_sel0_row(partial, q0 + 2i, k0, head, n)) << 2u) | (u32(spattn_sel0_row(partial, q0 + 3i, k0, head, n)) << 3u); // bit a: row q0 + a
      workgroupBarrier(); // the previous tile's readers of kvs, ps and rowv are done
      kvs[(((lid + 0i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[0]);
      kvs[(((lid + 0i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[1]);
      kvs[(((lid + 0i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[2]);
      kvs[(((lid + 0i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[3]);
      kvs[(((lid + 64i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[0]);
      kvs[(((lid + 64i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[1]);
      kvs[(((lid + 64i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[2]);
      kvs[(((lid + 64i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[3]);
      kvs[(((lid + 128i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[0]);
      kvs[(((lid + 128i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[1]);
      kvs[(((lid + 128i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[2]);
      kvs[(((lid + 128i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[3]);
      kvs[(((lid + 192i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[0]);
      kvs[(((lid + 192i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[1]);
      kvs[(((lid + 192i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[2]);
      kvs[(((lid + 192i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[3]);
      vr0 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, k0 + (lid + 0i) / 16i < n)], k0 + (lid + 0i) / 16i < n);
      vr1 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, k0 + (lid + 64i) / 16i < n)], k0 + (lid + 64i) / 16i < n);
      vr2 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, k0 + (lid + 128i) / 16i < n)], k0 + (lid + 128i) / 16i < n);
      vr3 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, k0 + (lid + 192i) / 16i < n)], k0 + (lid + 192i) / 16i < n);
      workgroupBarrier();
      // S = Q K^T over the tile: 4 rows x KT keys, as KT vec4s over the rows.
      var s0 = vec4<f32>(0.0);
      var s1 = vec4<f32>(0.0);
      for (var c = 0i; c < D; c++) {
        let qv = qs[c * TY + ty];
        s0 += qv * f32(kvs[c * (BK + 1i) + tx + 0i]);
        s1 += qv * f32(kvs[c * (BK + 1i) + tx + 8i]);
      }
      // Scaled, into P (transposed: a vec4 of the 4 rows per key).
      ps[(tx + 0i) * TY + ty] = s0 * P.scale_log2;
      ps[(tx + 8i) * TY + ty] = s1 * P.scale_log2;
      // Masked where the tile is partial or crosses n: one call of the predicate in a loop over
      // the thread's pairs (unrolled, every pair's copy of the predicate made shaders slow to build).
      if (partial || k0 + BK > n || qt * BQ + BQ > n) {
        for (var x = 0i; x < 8i; x++) {
          let a = x % RA;
          let at = (tx + TX * (x / RA)) * TY + ty;
          let key = k0 + tx + TX * (x / RA);
          var ok = key < n && q0 + a < n;
          if (ok && partial) { ok = spattn_allowed(q0 + a, key, head, n, ((sel0_rows >> u32(a)) & 1u) == 1u); }
          if (!ok) { ps[at][a] = NEG_BIG; }
        }
      }
      workgroupBarrier(); // K read, P written
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 0i] = kv_t(vr0[0]);
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 1i] = kv_t(vr0[1]);
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 2i] = kv_t(vr0[2]);
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 3i] = kv_t(vr0[3]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 0i] = kv_t(vr1[0]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 1i] = kv_t(vr1[1]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 2i] = kv_t(vr1[2]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 3i] = kv_t(vr1[3]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 0i] = kv_t(vr2[0]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 1i] = kv_t(vr2[1]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 2i] = kv_t(vr2[2]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 3i] = kv_t(vr2[3]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 0i] = kv_t(vr3[0]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 1i] = kv_t(vr3[1]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 2i] = kv_t(vr3[2]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 3i] = kv_t(vr3[3]);
      if (lid < BQ) {
        // The online softmax of row sr over its tile's keys.
        var mx = NEG_BIG;
        for (var j = j0; j < j0 + 16i; j++) { mx = max(mx, ps[j * TY + sr / RA][sr % RA]); }
        let m_new = max(m_i, mx);
        let alpha = exp2(m_i - m_new); // 1 while nothing is allowed (both NEG_BIG); 0 after a jump from NEG_BIG
        var lsum = 0.0;
        for (var j = j0; j < j0 + 16i; j++) {
          let s = ps[j * TY + sr / RA][sr % RA];
          let p = select(0.0, exp2(s - m_new), s > NEG_BIG);
          ps[j * TY + sr / RA][sr % RA] = p;
          lsum += p;
        }
        l_i = l_i * alpha + lsum;
        m_i = m_new;
        rowv[sr / RA][sr % RA] = alpha;
      }
      if (e + 1i < total) {
        kt = spattn_tile(list, np, e + 1i);
        let k0 = kt * BK;
        kr0 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, k0 + (lid + 0i) / 16i < n)], k0 + (lid + 0i) / 16i < n);
        kr1 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, k0 + (lid + 64i) / 16i < n)], k0 + (lid + 64i) / 16i < n);
        kr2 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, k0 + (lid + 128i) / 16i < n)], k0 + (lid + 128i) / 16i < n);
        kr3 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, k0 + (lid + 192i) / 16i < n)], k0 + (lid + 192i) / 16i < n);
      }
      workgroupBarrier(); // V staged, P and the factors ready
      // O = O * alpha + P V: 4 rows x CV columns, as CV vec4s over the rows.
      let alpha4 = rowv[ty];
      o0 *= alpha4;
      o1 *= alpha4;
      o2 *= alpha4;
      o3 *= alpha4;
      o4 *= alpha4;
      o5 *= alpha4;
      o6 *= alpha4;
      o7 *= alpha4;
      for (var j = 0i; j < BK; j++) {
        let p = ps[j * TY + ty];
        o0 += p * f32(kvs[j * DV + tx + 0i]);
        o1 += p * f32(kvs[j * DV + tx + 8i]);
        o2 += p * f32(kvs[j * DV + tx + 16i]);
        o3 += p * f32(kvs[j * DV + tx + 24i]);
        o4 += p * f32(kvs[j * DV + tx + 32i]);
        o5 += p * f32(kvs[j * DV + tx + 40i]);
        o6 += p * f32(kvs[j * DV + tx + 48i]);
        o7 += p * f32(kvs[j * DV + tx + 56i]);
      }
    }
    workgroupBarrier(); // the last tile's readers of rowv are done
    let sq = qt * BQ + sr;
    if (lid < BQ) {
      rowv[sr / RA][sr % RA] = select(0.0, 1.0 / l_i, l_i > 0.0);
      let lse = (m_i + log2(l_i)) * 0.6931471805599453; // where l_i > 0
      // A part with no allowed key gets NEG_BIG, not -inf: the combine computes with it.
      if (slot >= 0i) { parts[slot * PART + BQ * DV + sr] = select(NEG_BIG, lse, l_i > 0.0); }
      else if (sq < n) {
        let neg_inf_bits = 0xff800000u; // a let: a constant infinity would be a shader-creation error
        LSEb[head * n + sq] = select(bitcast<f32>(neg_inf_bits), lse, l_i > 0.0);
      }
    }
    workgroupBarrier();
    let inv = rowv[ty];
    if (slot >= 0i) {
      let at0 = slot * PART + (ty * RA + 0i) * DV + tx;
      parts[at0 + 0i] = o0[0] * inv[0];
      parts[at0 + 8i] = o1[0] * inv[0];
      parts[at0 + 16i] = o2[0] * inv[0];
      parts[at0 + 24i] = o3[0] * inv[0];
      parts[at0 + 32i] = o4[0] * inv[0];
      parts[at0 + 40i] = o5[0] * inv[0];
      parts[at0 + 48i] = o6[0] * inv[0];
      parts[at0 + 56i] = o7[0] * inv[0];
      let at1 = slot * PART + (ty * RA + 1i) * DV + tx;
      parts[at1 + 0i] = o0[1] * inv[1];
      parts[at1 + 8i] = o1[1] * inv[1];
      parts[at1 + 16i] = o2[1] * inv[1];
      parts[at1 + 24i] = o3[1] * inv[1];
      parts[at1 + 32i] = o4[1] * inv[1];
      parts[at1 + 40i] = o5[1] * inv[1];
      parts[at1 + 48i] = o6[1] * inv[1];
      parts[at1 + 56i] = o7[1] * inv[1];
      let at2 = slot * PART + (ty * RA + 2i) * DV + tx;
      parts[at2 + 0i] = o0[2] * inv[2];
      parts[at2 + 8i] = o1[2] * inv[2];
      parts[at2 + 16i] = o2[2] * inv[2];
      parts[at2 + 24i] = o3[2] * inv[2];
      parts[at2 + 32i] = o4[2] * inv[2];
      parts[at2 + 40i] = o5[2] * inv[2];
      parts[at2 + 48i] = o6[2] * inv[2];
      parts[at2 + 56i] = o7[2] * inv[2];
      let at3 = slot * PART + (ty * RA + 3i) * DV + tx;
      parts[at3 + 0i] = o0[3] * inv[3];
      parts[at3 + 8i] = o1[3] * inv[3];
      parts[at3 + 16i] = o2[3] * inv[3];
      parts[at3 + 24i] = o3[3] * inv[3];
      parts[at3 + 32i] = o4[3] * inv[3];
      parts[at3 + 40i] = o5[3] * inv[3];
      parts[at3 + 48i] = o6[3] * inv[3];
      parts[at3 + 56i] = o7[3] * inv[3];
      return;
    }
    if (q0 + 0i < n) {
      let at = (head * n + q0 + 0i) * DV + tx;
      Ob[at + 0i] = o0[0] * inv[0];
      Ob[at + 8i] = o1[0] * inv[0];
      Ob[at + 16i] = o2[0] * inv[0];
      Ob[at + 24i] = o3[0] * inv[0];
      Ob[at + 32i] = o4[0] * inv[0];
      Ob[at + 40i] = o5[0] * inv[0];
      Ob[at + 48i] = o6[0] * inv[0];
      Ob[at + 56i] = o7[0] * inv[0];
    }
    if (q0 + 1i < n) {
      let at = (head * n + q0 + 1i) * DV + tx;
      Ob[at + 0i] = o0[1] * inv[1];
      Ob[at + 8i] = o1[1] * inv[1];
      Ob[at + 16i] = o2[1] * inv[1];
      Ob[at + 24i] = o3[1] * inv[1];
      Ob[at + 32i] = o4[1] * inv[1];
      Ob[at + 40i] = o5[1] * inv[1];
      Ob[at + 48i] = o6[1] * inv[1];
      Ob[at + 56i] = o7[1] * inv[1];
    }
    if (q0 + 2i < n) {
      let at = (head * n + q0 + 2i) * DV + tx;
      Ob[at + 0i] = o0[2] * inv[2];
      Ob[at + 8i] = o1[2] * inv[2];
      Ob[at + 16i] = o2[2] * inv[2];
      Ob[at + 24i] = o3[2] * inv[2];
      Ob[at + 32i] = o4[2] * inv[2];
      Ob[at + 40i] = o5[2] * inv[2];
      Ob[at + 48i] = o6[2] * inv[2];
      Ob[at + 56i] = o7[2] * inv[2];
    }
    if (q0 + 3i < n) {
      let at = (head * n + q0 + 3i) * DV + tx;
      Ob[at + 0i] = o0[3] * inv[3];
      Ob[at + 8i] = o1[3] * inv[3];
      Ob[at + 16i] = o2[3] * inv[3];
      Ob[at + 24i] = o3[3] * inv[3];
      Ob[at + 32i] = o4[3] * inv[3];
      Ob[at + 40i] = o5[3] * inv[3];
      Ob[at + 48i] = o6[3] * inv[3];
      Ob[at + 56i] = o7[3] * inv[3];
    }
  } else {
    let item = i32(wid.y) * P.num_q_tiles + i32(wid.x);
    if (item >= P.num_items) { return; }
    let it = P.items_off + 5i * item; // the part this work item names
    let qt = lists[it];
    let head = lists[it + 1i];
    let n = P.n;
    let ty = lid / TX;
    let tx = lid % TX;
    let q0 = qt * BQ + ty * RA; // this thread's first row
    let sr = lid % BQ; // the row whose softmax this thread runs (threads past BQ repeat it and write nothing)
    let j0 = 0i;
    let kvh = head / (P.heads / P.kv_heads);
    let list = select(head, 0i, P.tile_heads == 1i) * P.num_q_tiles + qt;
    if (lid == 0i) {
      let np = lists[P.kv_num_off + list];
      var span = vec4<i32>(np, 0i, np + lists[P.full_num_off + list], -1i);
      if (it >= 0i) {
        span = vec4<i32>(np, lists[it + 2i], lists[it + 3i], lists[it + 4i]);
      } else if (P.num_combine > 0i) {
        let at = P.split_off + 2i * (head * P.num_q_tiles + qt);
        span = vec4<i32>(np, 0i, lists[at], lists[at + 1i]);
      }
      span_wg = span;
    }
    // Q^T, once, through registers: every load issued before the first store.
    {
      var qr0: vec4<f32>;
      var qr1: vec4<f32>;
      var qr2: vec4<f32>;
      var qr3: vec4<f32>;
      var qr4: vec4<f32>;
      var qr5: vec4<f32>;
      var qr6: vec4<f32>;
      var qr7: vec4<f32>;
      qr0 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, qt * BQ + (lid + 0i) / 16i < n)], qt * BQ + (lid + 0i) / 16i < n);
      qr1 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, qt * BQ + (lid + 64i) / 16i < n)], qt * BQ + (lid + 64i) / 16i < n);
      qr2 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, qt * BQ + (lid + 128i) / 16i < n)], qt * BQ + (lid + 128i) / 16i < n);
      qr3 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, qt * BQ + (lid + 192i) / 16i < n)], qt * BQ + (lid + 192i) / 16i < n);
      qr4 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 256i) / 16i) * 16i + (lid + 256i) % 16i, qt * BQ + (lid + 256i) / 16i < n)], qt * BQ + (lid + 256i) / 16i < n);
      qr5 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 320i) / 16i) * 16i + (lid + 320i) % 16i, qt * BQ + (lid + 320i) / 16i < n)], qt * BQ + (lid + 320i) / 16i < n);
      qr6 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 384i) / 16i) * 16i + (lid + 384i) % 16i, qt * BQ + (lid + 384i) / 16i < n)], qt * BQ + (lid + 384i) / 16i < n);
      qr7 = select(vec4<f32>(0.0), Qb[select(0i, (head * n + qt * BQ + (lid + 448i) / 16i) * 16i + (lid + 448i) % 16i, qt * BQ + (lid + 448i) / 16i < n)], qt * BQ + (lid + 448i) / 16i < n);
      qs[(((lid + 0i) % 16i) * 4i + 0i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[0];
      qs[(((lid + 0i) % 16i) * 4i + 1i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[1];
      qs[(((lid + 0i) % 16i) * 4i + 2i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[2];
      qs[(((lid + 0i) % 16i) * 4i + 3i) * TY + ((lid + 0i) / 16i) / RA][((lid + 0i) / 16i) % RA] = qr0[3];
      qs[(((lid + 64i) % 16i) * 4i + 0i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[0];
      qs[(((lid + 64i) % 16i) * 4i + 1i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[1];
      qs[(((lid + 64i) % 16i) * 4i + 2i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[2];
      qs[(((lid + 64i) % 16i) * 4i + 3i) * TY + ((lid + 64i) / 16i) / RA][((lid + 64i) / 16i) % RA] = qr1[3];
      qs[(((lid + 128i) % 16i) * 4i + 0i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[0];
      qs[(((lid + 128i) % 16i) * 4i + 1i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[1];
      qs[(((lid + 128i) % 16i) * 4i + 2i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[2];
      qs[(((lid + 128i) % 16i) * 4i + 3i) * TY + ((lid + 128i) / 16i) / RA][((lid + 128i) / 16i) % RA] = qr2[3];
      qs[(((lid + 192i) % 16i) * 4i + 0i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[0];
      qs[(((lid + 192i) % 16i) * 4i + 1i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[1];
      qs[(((lid + 192i) % 16i) * 4i + 2i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[2];
      qs[(((lid + 192i) % 16i) * 4i + 3i) * TY + ((lid + 192i) / 16i) / RA][((lid + 192i) / 16i) % RA] = qr3[3];
      qs[(((lid + 256i) % 16i) * 4i + 0i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[0];
      qs[(((lid + 256i) % 16i) * 4i + 1i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[1];
      qs[(((lid + 256i) % 16i) * 4i + 2i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[2];
      qs[(((lid + 256i) % 16i) * 4i + 3i) * TY + ((lid + 256i) / 16i) / RA][((lid + 256i) / 16i) % RA] = qr4[3];
      qs[(((lid + 320i) % 16i) * 4i + 0i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[0];
      qs[(((lid + 320i) % 16i) * 4i + 1i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[1];
      qs[(((lid + 320i) % 16i) * 4i + 2i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[2];
      qs[(((lid + 320i) % 16i) * 4i + 3i) * TY + ((lid + 320i) / 16i) / RA][((lid + 320i) / 16i) % RA] = qr5[3];
      qs[(((lid + 384i) % 16i) * 4i + 0i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[0];
      qs[(((lid + 384i) % 16i) * 4i + 1i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[1];
      qs[(((lid + 384i) % 16i) * 4i + 2i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[2];
      qs[(((lid + 384i) % 16i) * 4i + 3i) * TY + ((lid + 384i) / 16i) / RA][((lid + 384i) / 16i) % RA] = qr6[3];
      qs[(((lid + 448i) % 16i) * 4i + 0i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[0];
      qs[(((lid + 448i) % 16i) * 4i + 1i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[1];
      qs[(((lid + 448i) % 16i) * 4i + 2i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[2];
      qs[(((lid + 448i) % 16i) * 4i + 3i) * TY + ((lid + 448i) / 16i) / RA][((lid + 448i) / 16i) % RA] = qr7[3];
    }
    let span = workgroupUniformLoad(&span_wg);
    let np = span.x;
    let first = span.y; // entries first .. total - 1 of the list
    let total = span.z;
    let slot = span.w; // -1: O and lse; else a slot of parts
    var o0 = vec4<f32>(0.0);
    var o1 = vec4<f32>(0.0);
    var o2 = vec4<f32>(0.0);
    var o3 = vec4<f32>(0.0);
    var o4 = vec4<f32>(0.0);
    var o5 = vec4<f32>(0.0);
    var o6 = vec4<f32>(0.0);
    var o7 = vec4<f32>(0.0);
    var m_i = NEG_BIG; // the softmax state of row sr
    var l_i = 0.0;
    // The tiles' K and V pass through registers: K of tile e + 1 is loaded while tile e's P V
    // runs, V of tile e while its scores do.
    var kr0: vec4<f32>;
    var kr1: vec4<f32>;
    var kr2: vec4<f32>;
    var kr3: vec4<f32>;
    var vr0: vec4<f32>;
    var vr1: vec4<f32>;
    var vr2: vec4<f32>;
    var vr3: vec4<f32>;
    var kt = 0i;
    if (total > first) {
      kt = spattn_tile(list, np, first);
      let k0 = kt * BK;
      kr0 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, k0 + (lid + 0i) / 16i < n)], k0 + (lid + 0i) / 16i < n);
      kr1 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, k0 + (lid + 64i) / 16i < n)], k0 + (lid + 64i) / 16i < n);
      kr2 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, k0 + (lid + 128i) / 16i < n)], k0 + (lid + 128i) / 16i < n);
      kr3 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, k0 + (lid + 192i) / 16i < n)], k0 + (lid + 192i) / 16i < n);
    }
    for (var e = first; e < total; e++) {
      let partial = e < np;
      let k0 = kt * BK;
      let sel0_rows = (u32(spattn_sel0_row(partial, q0 + 0i, k0, head, n)) << 0u) | (u32(spattn_sel0_row(partial, q0 + 1i, k0, head, n)) << 1u) | (u32(spattn_sel0_row(partial, q0 + 2i, k0, head, n)) << 2u) | (u32(spattn_sel0_row(partial, q0 + 3i, k0, head, n)) << 3u); // bit a: row q0 + a
      workgroupBarrier(); // the previous tile's readers of kvs, ps and rowv are done
      kvs[(((lid + 0i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[0]);
      kvs[(((lid + 0i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[1]);
      kvs[(((lid + 0i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[2]);
      kvs[(((lid + 0i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 0i) / 16i] = kv_t(kr0[3]);
      kvs[(((lid + 64i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[0]);
      kvs[(((lid + 64i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[1]);
      kvs[(((lid + 64i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[2]);
      kvs[(((lid + 64i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 64i) / 16i] = kv_t(kr1[3]);
      kvs[(((lid + 128i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[0]);
      kvs[(((lid + 128i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[1]);
      kvs[(((lid + 128i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[2]);
      kvs[(((lid + 128i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 128i) / 16i] = kv_t(kr2[3]);
      kvs[(((lid + 192i) % 16i) * 4i + 0i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[0]);
      kvs[(((lid + 192i) % 16i) * 4i + 1i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[1]);
      kvs[(((lid + 192i) % 16i) * 4i + 2i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[2]);
      kvs[(((lid + 192i) % 16i) * 4i + 3i) * (BK + 1i) + (lid + 192i) / 16i] = kv_t(kr3[3]);
      vr0 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, k0 + (lid + 0i) / 16i < n)], k0 + (lid + 0i) / 16i < n);
      vr1 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, k0 + (lid + 64i) / 16i < n)], k0 + (lid + 64i) / 16i < n);
      vr2 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, k0 + (lid + 128i) / 16i < n)], k0 + (lid + 128i) / 16i < n);
      vr3 = select(vec4<f32>(0.0), Vb[select(0i, (kvh * n + k0 + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, k0 + (lid + 192i) / 16i < n)], k0 + (lid + 192i) / 16i < n);
      workgroupBarrier();
      // S = Q K^T over the tile: 4 rows x KT keys, as KT vec4s over the rows.
      var s0 = vec4<f32>(0.0);
      var s1 = vec4<f32>(0.0);
      for (var c = 0i; c < D; c++) {
        let qv = qs[c * TY + ty];
        s0 += qv * f32(kvs[c * (BK + 1i) + tx + 0i]);
        s1 += qv * f32(kvs[c * (BK + 1i) + tx + 8i]);
      }
      // Scaled, into P (transposed: a vec4 of the 4 rows per key).
      ps[(tx + 0i) * TY + ty] = s0 * P.scale_log2;
      ps[(tx + 8i) * TY + ty] = s1 * P.scale_log2;
      // Masked where the tile is partial or crosses n: one call of the predicate in a loop over
      // the thread's pairs (unrolled, every pair's copy of the predicate made shaders slow to build).
      if (partial || k0 + BK > n || qt * BQ + BQ > n) {
        for (var x = 0i; x < 8i; x++) {
          let a = x % RA;
          let at = (tx + TX * (x / RA)) * TY + ty;
          let key = k0 + tx + TX * (x / RA);
          var ok = key < n && q0 + a < n;
          if (ok && partial) { ok = spattn_allowed(q0 + a, key, head, n, ((sel0_rows >> u32(a)) & 1u) == 1u); }
          if (!ok) { ps[at][a] = NEG_BIG; }
        }
      }
      workgroupBarrier(); // K read, P written
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 0i] = kv_t(vr0[0]);
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 1i] = kv_t(vr0[1]);
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 2i] = kv_t(vr0[2]);
      kvs[(lid + 0i) / 16i * DV + ((lid + 0i) % 16i) * 4i + 3i] = kv_t(vr0[3]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 0i] = kv_t(vr1[0]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 1i] = kv_t(vr1[1]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 2i] = kv_t(vr1[2]);
      kvs[(lid + 64i) / 16i * DV + ((lid + 64i) % 16i) * 4i + 3i] = kv_t(vr1[3]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 0i] = kv_t(vr2[0]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 1i] = kv_t(vr2[1]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 2i] = kv_t(vr2[2]);
      kvs[(lid + 128i) / 16i * DV + ((lid + 128i) % 16i) * 4i + 3i] = kv_t(vr2[3]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 0i] = kv_t(vr3[0]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 1i] = kv_t(vr3[1]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 2i] = kv_t(vr3[2]);
      kvs[(lid + 192i) / 16i * DV + ((lid + 192i) % 16i) * 4i + 3i] = kv_t(vr3[3]);
      if (lid < BQ) {
        // The online softmax of row sr over its tile's keys.
        var mx = NEG_BIG;
        for (var j = j0; j < j0 + 16i; j++) { mx = max(mx, ps[j * TY + sr / RA][sr % RA]); }
        let m_new = max(m_i, mx);
        let alpha = exp2(m_i - m_new); // 1 while nothing is allowed (both NEG_BIG); 0 after a jump from NEG_BIG
        var lsum = 0.0;
        for (var j = j0; j < j0 + 16i; j++) {
          let s = ps[j * TY + sr / RA][sr % RA];
          let p = select(0.0, exp2(s - m_new), s > NEG_BIG);
          ps[j * TY + sr / RA][sr % RA] = p;
          lsum += p;
        }
        l_i = l_i * alpha + lsum;
        m_i = m_new;
        rowv[sr / RA][sr % RA] = alpha;
      }
      if (e + 1i < total) {
        kt = spattn_tile(list, np, e + 1i);
        let k0 = kt * BK;
        kr0 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 0i) / 16i) * 16i + (lid + 0i) % 16i, k0 + (lid + 0i) / 16i < n)], k0 + (lid + 0i) / 16i < n);
        kr1 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 64i) / 16i) * 16i + (lid + 64i) % 16i, k0 + (lid + 64i) / 16i < n)], k0 + (lid + 64i) / 16i < n);
        kr2 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 128i) / 16i) * 16i + (lid + 128i) % 16i, k0 + (lid + 128i) / 16i < n)], k0 + (lid + 128i) / 16i < n);
        kr3 = select(vec4<f32>(0.0), Kb[select(0i, (kvh * n + k0 + (lid + 192i) / 16i) * 16i + (lid + 192i) % 16i, k0 + (lid + 192i) / 16i < n)], k0 + (lid + 192i) / 16i < n);
      }
      workgroupBarrier(); // V staged, P and the factors ready
      // O = O * alpha + P V: 4 rows x CV columns, as CV vec4s over the rows.
      let alpha4 = rowv[ty];
      o0 *= alpha4;
      o1 *= alpha4;
      o2 *= alpha4;
      o3 *= alpha4;
      o4 *= alpha4;
      o5 *= alpha4;
      o6 *= alpha4;
      o7 *= alpha4;
      for (var j = 0i; j < BK; j++) {
        let p = ps[j * TY + ty];
        o0 += p * f32(kvs[j * DV + tx + 0i]);
        o1 += p * f32(kvs[j * DV + tx + 8i]);
        o2 += p * f32(kvs[j * DV + tx + 16i]);
        o3 += p * f32(kvs[j * DV + tx + 24i]);
        o4 += p * f32(kvs[j * DV + tx + 32i]);
        o5 += p * f32(kvs[j * DV + tx + 40i]);
        o6 += p * f32(kvs[j * DV + tx + 48i]);
        o7 += p * f32(kvs[j * DV + tx + 56i]);
      }
    }
    workgroupBarrier(); // the last tile's readers of rowv are done
    let sq = qt * BQ + sr;
    if (lid < BQ) {
      rowv[sr / RA][sr % RA] = select(0.0, 1.0 / l_i, l_i > 0.0);
      let lse = (m_i + log2(l_i)) * 0.6931471805599453; // where l_i > 0
      // A part with no allowed key gets NEG_BIG, not -inf: the combine computes with it.
      if (slot >= 0i) { parts[slot * PART + BQ * DV + sr] = select(NEG_BIG, lse, l_i > 0.0); }
      else if (sq < n) {
        let neg_inf_bits = 0xff800000u; // a let: a constant infinity would be a shader-creation error
        LSEb[head * n + sq] = select(bitcast<f32>(neg_inf_bits), lse, l_i > 0.0);
      }
    }
    workgroupBarrier();
    let inv = rowv[ty];
    if (slot >= 0i) {
      let at0 = slot * PART + (ty * RA + 0i) * DV + tx;
      parts[at0 + 0i] = o0[0] * inv[0];
      parts[at0 + 8i] = o1[0] * inv[0];
      parts[at0 + 16i] = o2[0] * inv[0];
      parts[at0 + 24i] = o3[0] * inv[0];
      parts[at0 + 32i] = o4[0] * inv[0];
      parts[at0 + 40i] = o5[0] * inv[0];
      parts[at0 + 48i] = o6[0] * inv[0];
      parts[at0 + 56i] = o7[0] * inv[0];
      let at1 = slot * PART + (ty * RA + 1i) * DV + tx;
      parts[at1 + 0i] = o0[1] * inv[1];
      parts[at1 + 8i] = o1[1] * inv[1];
      parts[at1 + 16i] = o2[1] * inv[1];
      parts[at1 + 24i] = o3[1] * inv[1];
      parts[at1 + 32i] = o4[1] * inv[1];
      parts[at1 + 40i] = o5[1] * inv[1];
      parts[at1 + 48i] = o6[1] * inv[1];
      parts[at1 + 56i] = o7[1] * inv[1];
      let at2 = slot * PART + (ty * RA + 2i) * DV + tx;
      parts[at2 + 0i] = o0[2] * inv[2];
      parts[at2 + 8i] = o1[2] * inv[2];
      parts[at2 + 16i] = o2[2] * inv[2];
      parts[at2 + 24i] = o3[2] * inv[2];
      parts[at2 + 32i] = o4[2] * inv[2];
      parts[at2 + 40i] = o5[2] * inv[2];
      parts[at2 + 48i] = o6[2] * inv[2];
      parts[at2 + 56i] = o7[2] * inv[2];
      let at3 = slot * PART + (ty * RA + 3i) * DV + tx;
      parts[at3 + 0i] = o0[3] * inv[3];
      parts[at3 + 8i] = o1[3] * inv[3];
      parts[at3 + 16i] = o2[3] * inv[3];
      parts[at3 + 24i] = o3[3] * inv[3];
      parts[at3 + 32i] = o4[3] * inv[3];
      parts[at3 + 40i] = o5[3] * inv[3];
      parts[at3 + 48i] = o6[3] * inv[3];
      parts[at3 + 56i] = o7[3] * inv[3];
      return;
    }
    if (q0 + 0i < n) {
      let at = (head * n + q0 + 0i) * DV + tx;
      Ob[at + 0i] = o0[0] * inv[0];
      Ob[at + 8i] = o1[0] * inv[0];
      Ob[at + 16i] = o2[0] * inv[0];
      Ob[at + 24i] = o3[0] * inv[0];
      Ob[at + 32i] = o4[0] * inv[0];
      Ob[at + 40i] = o5[0] * inv[0];
      Ob[at + 48i] = o6[0] * inv[0];
      Ob[at + 56i] = o7[0] * inv[0];
    }
    if (q0 + 1i < n) {
      let at = (head * n + q0 + 1i) * DV + tx;
      Ob[at + 0i] = o0[1] * inv[1];
      Ob[at + 8i] = o1[1] * inv[1];
      Ob[at + 16i] = o2[1] * inv[1];
      Ob[at + 24i] = o3[1] * inv[1];
      Ob[at + 32i] = o4[1] * inv[1];
      Ob[at + 40i] = o5[1] * inv[1];
      Ob[at + 48i] = o6[1] * inv[1];
      Ob[at + 56i] = o7[1] * inv[1];
    }
    if (q0 + 2i < n) {
      let at = (head * n + q0 + 2i) * DV + tx;
      Ob[at + 0i] = o0[2] * inv[2];
      Ob[at + 8i] = o1[2] * inv[2];
      Ob[at + 16i] = o2[2] * inv[2];
      Ob[at + 24i] = o3[2] * inv[2];
      Ob[at + 32i] = o4[2] * inv[2];
      Ob[at + 40i] = o5[2] * inv[2];
      Ob[at + 48i] = o6[2] * inv[2];
      Ob[at + 56i] = o7[2] * inv[2];
    }
    if (q0 + 3i < n) {
      let at = (head * n + q0 + 3i) * DV + tx;
      Ob[at + 0i] = o0[3] * inv[3];
      Ob[at + 8i] = o1[3] * inv[3];
      Ob[at + 16i] = o2[3] * inv[3];
      Ob[at + 24i] = o3[3] * inv[3];
      Ob[at + 32i] = o4[3] * inv[3];
      Ob[at + 40i] = o5[3] * inv[3];
      Ob[at + 48i] = o6[3] * inv[3];
      Ob[at + 56i] = o7[3] * inv[3];
    }
  }
}

// The parts of a split query tile merged: each row's lse from its parts' lse, and O as their
// O weighted by exp(lse_part - lse). A row no part allows keeps O = 0 and lse = -inf.
@compute @workgroup_size(64)
fn spattn_combine(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {
  let n = P.n;
  let item = i32(wid.y) * P.num_q_tiles + i32(wid.x);
  if (item >= P.num_combine) { return; }
  let it = P.combine_off + 4i * item;
  let qt = lists[it];
  let head = lists[it + 1i];
  let s0 = lists[it + 2i];
  let count = lists[it + 3i];
  for (var i = i32(lidx); i < BQ * DV; i += 64i) {
    let r = i / DV;
    let q = qt * BQ + r;
    if (q >= n) { break; } // i grows, and with it r
    var mx = NEG_BIG;
    for (var j = 0i; j < count; j++) { mx = max(mx, parts[(s0 + j) * PART + BQ * DV + r]); }
    var sum = 0.0;
    var acc = 0.0;
    if (mx > NEG_BIG) {
      for (var j = 0i; j < count; j++) {
        let w = exp(parts[(s0 + j) * PART + BQ * DV + r] - mx);
        sum += w;
        acc += w * parts[(s0 + j) * PART + i];
      }
    }
    Ob[(head * n + q) * DV + i % DV] = select(0.0, acc / sum, sum > 0.0);
    let neg_inf_bits = 0xff800000u;
    if (i % DV == 0i) { LSEb[head * n + q] = select(bitcast<f32>(neg_inf_bits), mx + log(sum), sum > 0.0); }
  }
}
