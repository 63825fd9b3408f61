// spattn: attention under the pattern nsa (f32, D = 64, DV = 64, 16 x 16 tiles).
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
  scale_log2: f32,
  dyn_sel0_kept: i32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> Qb: array<f32>;
@group(0) @binding(2) var<storage, read> Kb: array<f32>;
@group(0) @binding(3) var<storage, read> Vb: array<f32>;
@group(0) @binding(4) var<storage, read_write> Ob: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSEb: array<f32>;
@group(0) @binding(6) var<storage, read> lists: array<i32>;
@group(0) @binding(7) var<storage, read> dyn: array<i32>;

const D = 64i;
const BQ = 16i;
const BK = 16i;
const T = 4i;
const DV = 64i;
const DT = 16i;
const DTV = 16i;
const NEG_BIG = -3.0e38; // a masked score: exp2 of it, less any finite maximum, is 0

alias kv_t = f32; // the staged K and V
var<workgroup> ks: array<kv_t, 1024>;
var<workgroup> vs: array<kv_t, 1024>;
var<workgroup> part: array<f32, 1024>;
var<workgroup> np_wg: i32;
var<workgroup> total_wg: i32;

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
  return ((k <= q) && (sel0_tile || ((q - k) < 512i)));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {
  let n = P.n;
  let qt = i32(wid.x);
  let head = i32(wid.y);
  let lid = i32(lidx);
  let r = lid / T;
  let slice = lid % T;
  let q = qt * BQ + r;
  let kvh = head / (P.heads / P.kv_heads);
  let list = select(head, 0i, P.tile_heads == 1i) * P.num_q_tiles + qt;
  if (lid == 0i) {
    np_wg = lists[P.kv_num_off + list];
    total_wg = np_wg + lists[P.full_num_off + list];
  }
  let np = workgroupUniformLoad(&np_wg);
  let total = workgroupUniformLoad(&total_wg);
  var qv: array<f32, DT>;
  var acc: array<f32, DTV>;
  for (var x = 0i; x < DT; x++) {
    let col = slice * DT + x;
    qv[x] = select(0.0, Qb[select(0i, (head * n + q) * D + col, q < n && col < D)], q < n && col < D);
  }
  for (var x = 0i; x < DTV; x++) { acc[x] = 0.0; }
  var m_i = NEG_BIG;
  var l_i = 0.0;
  var sc: array<f32, BK>;
  for (var e = 0i; e < total; e++) {
    let partial = e < np;
    var kt: i32;
    if (partial) { kt = lists[P.kv_idx_off + list * P.stride + e]; } else { kt = lists[P.full_idx_off + list * P.stride + e - np]; }
    let k0 = kt * BK;
    let sel0_tile = partial && q < n && (dyn[u32(P.dyn_sel0_kept + (head * ((n + 63i) / 64i) + q / 64i) * ((n + 63i) / 64i) + k0 / 64i)] != 0i);
    workgroupBarrier(); // the previous tile's readers are done
    for (var i = lid; i < BK * D; i += 64i) {
      let key = k0 + i / D;
      ks[i] = kv_t(select(0.0, Kb[select(0i, (kvh * n + key) * D + i % D, key < n)], key < n));
    }
    for (var i = lid; i < BK * DV; i += 64i) {
      let key = k0 + i / DV;
      vs[i] = kv_t(select(0.0, Vb[select(0i, (kvh * n + key) * DV + i % DV, key < n)], key < n));
    }
    workgroupBarrier();
    for (var j = 0i; j < BK; j++) {
      var s = 0.0;
      for (var x = 0i; x < DT; x++) {
        let col = slice * DT + x;
        if (col < D) { s += qv[x] * f32(ks[j * D + col]); }
      }
      part[(r * T + slice) * BK + j] = s;
    }
    workgroupBarrier();
    var mx = m_i;
    for (var j = 0i; j < BK; j++) {
      var s = 0.0;
      for (var t = 0i; t < T; t++) { s += part[(r * T + t) * BK + j]; }
      let key = k0 + j;
      var ok = key < n && q < n;
      if (ok && partial) { ok = spattn_allowed(q, key, head, n, sel0_tile); }
      sc[j] = select(NEG_BIG, s * P.scale_log2, ok);
      mx = max(mx, sc[j]);
    }
    if (mx > NEG_BIG) { // some key of the row is allowed so far
      let alpha = exp2(m_i - mx);
      var lsum = 0.0;
      for (var x = 0i; x < DTV; x++) { acc[x] *= alpha; }
      for (var j = 0i; j < BK; j++) {
        let p = select(0.0, exp2(sc[j] - mx), sc[j] > NEG_BIG);
        lsum += p;
        for (var x = 0i; x < DTV; x++) {
          let col = slice * DTV + x;
          if (col < DV) { acc[x] += p * f32(vs[j * DV + col]); }
        }
      }
      l_i = l_i * alpha + lsum;
      m_i = mx;
    }
  }
  if (q < n) {
    let inv = select(0.0, 1.0 / l_i, l_i > 0.0);
    for (var x = 0i; x < DTV; x++) {
      let col = slice * DTV + x;
      if (col < DV) { Ob[(head * n + q) * DV + col] = acc[x] * inv; }
    }
    if (slice == 0i) {
      let neg_inf_bits = 0xff800000u; // a let: a constant infinity would be a shader-creation error
      LSEb[head * n + q] = select(bitcast<f32>(neg_inf_bits), (m_i + log2(l_i)) * 0.6931471805599453, l_i > 0.0);
    }
  }
}
