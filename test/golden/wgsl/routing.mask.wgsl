// spattn: mask generators of the pattern routing.
struct Params {
  n: i32,
  bq: i32,
  bk: i32,
  nqt: i32,
  nkt: i32,
  words: i32,
  rows: i32,
  dyn_route0_q: i32,
  dyn_route0_k: i32,
  pad9: i32,
  pad10: i32,
  pad11: i32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> dyn: array<i32>;
@group(0) @binding(2) var<storage, read_write> dense: array<u32>;
@group(0) @binding(3) var<storage, read_write> classes: array<u32>;
@group(0) @binding(4) var<storage, read_write> lists: array<i32>;

var<workgroup> allowed_wg: atomic<u32>;
var<workgroup> inside_wg: atomic<u32>;

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

fn spattn_allowed(q: i32, k: i32, head: i32, n: i32) -> bool {
  return ((dyn[u32(P.dyn_route0_q + head * n + q)] == dyn[u32(P.dyn_route0_k + head * n + k)]) && (k <= q));
}

// One workgroup per (query, head); its threads take the row's 32-key words in turn.
@compute @workgroup_size(64)
fn mask_dense(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let n = P.n;
  let q = i32(wid.x);
  let head = i32(wid.y);
  for (var w = i32(lid); w < P.words; w += 64i) {
    var bits = 0u;
    for (var j = 0i; j < 32i; j++) {
      let k = 32i * w + j;
      if (k < n && spattn_allowed(q, k, head, n)) { bits |= 1u << u32(j); }
    }
    dense[(head * n + q) * P.words + w] = bits;
  }
}

// One workgroup per (query block, head), over every key block in turn.
@compute @workgroup_size(64)
fn mask_classes(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {
  let n = P.n;
  let i = i32(wid.x);
  let head = i32(wid.y);
  let lid = i32(lidx);
  if (lid == 0i) {
    atomicStore(&allowed_wg, 0u);
    atomicStore(&inside_wg, 0u);
  }
  workgroupBarrier();
  for (var j = 0i; j < P.nkt; j++) {
    var allowed = 0u;
    var inside = 0u;
    for (var x = lid; x < P.bq * P.bk; x += 64i) {
      let q = i * P.bq + x / P.bk;
      let k = j * P.bk + x % P.bk;
      if (q < n && k < n) {
        inside += 1u;
        if (spattn_allowed(q, k, head, n)) { allowed += 1u; }
      }
    }
    atomicAdd(&allowed_wg, allowed);
    atomicAdd(&inside_wg, inside);
    workgroupBarrier();
    if (lid == 0i) {
      let a = atomicLoad(&allowed_wg);
      let t = atomicLoad(&inside_wg);
      classes[(head * P.nqt + i) * P.nkt + j] = select(select(2u, 1u, a == t), 0u, a == 0u);
      atomicStore(&allowed_wg, 0u);
      atomicStore(&inside_wg, 0u);
    }
    workgroupBarrier();
  }
}

// One thread per (head, query block) row: kv_num, kv_idx, full_num, full_idx, one after
// the other in `lists` ([rows], [rows][nkt], [rows], [rows][nkt]).
@compute @workgroup_size(64)
fn mask_lists(@builtin(global_invocation_id) gid: vec3u) {
  let row = i32(gid.x);
  let rows = P.rows;
  if (row >= rows) { return; }
  var np = 0i;
  var nf = 0i;
  for (var j = 0i; j < P.nkt; j++) {
    let c = classes[row * P.nkt + j];
    if (c == 2u) { lists[rows + row * P.nkt + np] = j; np += 1i; }
    if (c == 1u) { lists[2i * rows + rows * P.nkt + row * P.nkt + nf] = j; nf += 1i; }
  }
  lists[row] = np;
  lists[rows + rows * P.nkt + row] = nf;
}
