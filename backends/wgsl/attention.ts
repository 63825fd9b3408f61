// The WGSL block-sparse attention shader (f32): one workgroup per (query tile, head), BQ query
// rows with T threads each (a thread owns D / T columns of its row's Q and DV / T of its O; V's
// width DV may differ from D), the listed key tiles of BK keys staged in workgroup memory one
// at a time. Per key tile the T threads of a row sum their partial dot products (through
// workgroup memory, or with subgroup shuffles where the device has subgroups of at least T
// invocations), then each of them runs the same online softmax on the row's BK scores (log2
// domain) and updates its O slice.
// Partial tiles evaluate the pattern's predicate; full tiles only mask keys past n. A row with
// no allowed key gets O = 0 and lse = -inf, like the CPU reference.
//
// Control flow that holds a barrier must be uniform in WGSL: the list's counts reach every
// thread through workgroupUniformLoad, and rows past n still take part (they write nothing).
import type { PatternIR } from "../../compiler/ir.js";
import { dynFieldNames } from "../inputs.js";
import { commentText } from "../names.js";
import { keptRead, tileConstantSelections, wgslParamStruct, wgslPredicate } from "./spell.js";

/** Query rows per workgroup and threads per row. */
export const WGSL_BQ = 16;
export const WGSL_THREADS_PER_ROW = 4;

export interface WgslAttentionOptions {
  /** Head dimension of Q and K. */
  d: number;
  /** Width of V and O rows (default d). */
  dv?: number;
  /** Keys per staged tile: 16, or 8 where the device's workgroup storage is small. */
  bk: number;
  /** Sum a row's partial dot products with subgroup shuffles instead of workgroup memory and a
   *  barrier. Needs the `subgroups` feature and subgroups of at least 4 invocations (the 4
   *  threads of a row are 4 consecutive invocations, so they share one). */
  subgroups?: boolean;
  /** Stage K and V in f16 (the `shader-f16` feature): half the workgroup storage, so 16 keys a
   *  tile at D = 128 within WebGPU's default 16 KiB, at the cost of rounding K and V to f16
   *  (products and sums stay f32). The f32 shader is the same text with `kv_t` an f32 alias. */
  f16?: boolean;
}

/** Bytes of workgroup storage the shader declares. */
export function wgslWorkgroupBytes(o: WgslAttentionOptions): number {
  return (o.f16 ? 2 : 4) * o.bk * (o.d + (o.dv ?? o.d)) + 4 * (o.subgroups ? 0 : WGSL_BQ * WGSL_THREADS_PER_ROW * o.bk) + 8;
}

/** Field names of the parameter block, in order (all 4-byte scalars). */
export function wgslParamFields(ir: PatternIR): string[] {
  const fixed = ["n", "heads", "kv_heads", "num_q_tiles", "stride", "tile_heads", "kv_num_off", "kv_idx_off", "full_num_off", "full_idx_off", "scale_log2"];
  return [...fixed, ...dynFieldNames(ir).map((f) => `dyn_${f}`)];
}

export function emitWgslAttention(ir: PatternIR, o: WgslAttentionOptions): string {
  const { d, bk } = o;
  const dv = o.dv ?? d;
  for (const x of [d, dv]) if (!Number.isInteger(x) || x < 1) throw new RangeError(`head dimensions must be positive integers, got ${d} and ${dv}`);
  const T = WGSL_THREADS_PER_ROW;
  const dt = Math.ceil(d / T);
  const dtv = Math.ceil(dv / T);
  // Kept blocks that cover whole key tiles: read once per partial tile and row (q < n: rows
  // past n have no kept row), not once per pair.
  const hoisted = tileConstantSelections(ir, bk);
  const lines = [
    ...(o.f16 ? ["enable f16;"] : []),
    ...(o.subgroups ? ["enable subgroups;"] : []),
    `// spattn: attention under the pattern ${commentText(ir.name)} (f32, D = ${d}, DV = ${dv}, ${WGSL_BQ} x ${bk} tiles${o.subgroups ? ", subgroup sums" : ""}${o.f16 ? ", K and V staged in f16" : ""}).`,
    ...wgslParamStruct(wgslParamFields(ir), ["scale_log2"]),
    "@group(0) @binding(0) var<uniform> P: Params;",
    "@group(0) @binding(1) var<storage, read> Qb: array<f32>;",
    "@group(0) @binding(2) var<storage, read> Kb: array<f32>;",
    "@group(0) @binding(3) var<storage, read> Vb: array<f32>;",
    "@group(0) @binding(4) var<storage, read_write> Ob: array<f32>;",
    "@group(0) @binding(5) var<storage, read_write> LSEb: array<f32>;",
    "@group(0) @binding(6) var<storage, read> lists: array<i32>;",
    "@group(0) @binding(7) var<storage, read> dyn: array<i32>;",
    "",
    `const D = ${d}i;`,
    `const BQ = ${WGSL_BQ}i;`,
    `const BK = ${bk}i;`,
    `const T = ${T}i;`,
    `const DV = ${dv}i;`,
    `const DT = ${dt}i;`,
    `const DTV = ${dtv}i;`,
    "const NEG_BIG = -3.0e38; // a masked score: exp2 of it, less any finite maximum, is 0",
    "",
    `alias kv_t = ${o.f16 ? "f16" : "f32"}; // the staged K and V`,
    `var<workgroup> ks: array<kv_t, ${bk * d}>;`,
    `var<workgroup> vs: array<kv_t, ${bk * dv}>;`,
    ...(o.subgroups ? [] : [`var<workgroup> part: array<f32, ${WGSL_BQ * T * bk}>;`]),
    "var<workgroup> np_wg: i32;",
    "var<workgroup> total_wg: i32;",
    "",
    ...wgslPredicate(ir, hoisted),
    "",
    `@compute @workgroup_size(${WGSL_BQ * T})`,
    "fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {",
    "  let n = P.n;",
    "  let qt = i32(wid.x);",
    "  let head = i32(wid.y);",
    "  let lid = i32(lidx);",
    "  let r = lid / T;",
    "  let slice = lid % T;",
    "  let q = qt * BQ + r;",
    "  let kvh = head / (P.heads / P.kv_heads);",
    "  let list = select(head, 0i, P.tile_heads == 1i) * P.num_q_tiles + qt;",
    "  if (lid == 0i) {",
    "    np_wg = lists[P.kv_num_off + list];",
    "    total_wg = np_wg + lists[P.full_num_off + list];",
    "  }",
    "  let np = workgroupUniformLoad(&np_wg);",
    "  let total = workgroupUniformLoad(&total_wg);",
    "  var qv: array<f32, DT>;",
    "  var acc: array<f32, DTV>;",
    "  for (var x = 0i; x < DT; x++) {",
    "    let col = slice * DT + x;",
    "    qv[x] = select(0.0, Qb[select(0i, (head * n + q) * D + col, q < n && col < D)], q < n && col < D);",
    "  }",
    "  for (var x = 0i; x < DTV; x++) { acc[x] = 0.0; }",
    "  var m_i = NEG_BIG;",
    "  var l_i = 0.0;",
    "  var sc: array<f32, BK>;",
    "  for (var e = 0i; e < total; e++) {",
    "    let partial = e < np;",
    "    var kt: i32;",
    "    if (partial) { kt = lists[P.kv_idx_off + list * P.stride + e]; } else { kt = lists[P.full_idx_off + list * P.stride + e - np]; }",
    "    let k0 = kt * BK;",
    ...hoisted.map((i) => `    let sel${i}_tile = partial && q < n && ${keptRead(ir, i, "k0")};`),
    "    workgroupBarrier(); // the previous tile's readers are done",
    `    for (var i = lid; i < BK * D; i += ${WGSL_BQ * T}i) {`,
    "      let key = k0 + i / D;",
    "      ks[i] = kv_t(select(0.0, Kb[select(0i, (kvh * n + key) * D + i % D, key < n)], key < n));",
    "    }",
    `    for (var i = lid; i < BK * DV; i += ${WGSL_BQ * T}i) {`,
    "      let key = k0 + i / DV;",
    "      vs[i] = kv_t(select(0.0, Vb[select(0i, (kvh * n + key) * DV + i % DV, key < n)], key < n));",
    "    }",
    "    workgroupBarrier();",
    "    for (var j = 0i; j < BK; j++) {",
    "      var s = 0.0;",
    "      for (var x = 0i; x < DT; x++) {",
    "        let col = slice * DT + x;",
    "        if (col < D) { s += qv[x] * f32(ks[j * D + col]); }",
    "      }",
    ...(o.subgroups
      ? ["      s += subgroupShuffleXor(s, 1u); // the row's 4 threads: lanes 4r .. 4r + 3", "      s += subgroupShuffleXor(s, 2u);", "      sc[j] = s;"]
      : ["      part[(r * T + slice) * BK + j] = s;"]),
    "    }",
    ...(o.subgroups ? [] : ["    workgroupBarrier();"]),
    "    var mx = m_i;",
    "    for (var j = 0i; j < BK; j++) {",
    ...(o.subgroups
      ? ["      let s = sc[j];"]
      : ["      var s = 0.0;", "      for (var t = 0i; t < T; t++) { s += part[(r * T + t) * BK + j]; }"]),
    "      let key = k0 + j;",
    "      var ok = key < n && q < n;",
    `      if (ok && partial) { ok = spattn_allowed(q, key, head, n${hoisted.map((i) => `, sel${i}_tile`).join("")}); }`,
    "      sc[j] = select(NEG_BIG, s * P.scale_log2, ok);",
    "      mx = max(mx, sc[j]);",
    "    }",
    "    if (mx > NEG_BIG) { // some key of the row is allowed so far",
    "      let alpha = exp2(m_i - mx);",
    "      var lsum = 0.0;",
    "      for (var x = 0i; x < DTV; x++) { acc[x] *= alpha; }",
    "      for (var j = 0i; j < BK; j++) {",
    "        let p = select(0.0, exp2(sc[j] - mx), sc[j] > NEG_BIG);",
    "        lsum += p;",
    "        for (var x = 0i; x < DTV; x++) {",
    "          let col = slice * DTV + x;",
    "          if (col < DV) { acc[x] += p * f32(vs[j * DV + col]); }",
    "        }",
    "      }",
    "      l_i = l_i * alpha + lsum;",
    "      m_i = mx;",
    "    }",
    "  }",
    "  if (q < n) {",
    "    let inv = select(0.0, 1.0 / l_i, l_i > 0.0);",
    "    for (var x = 0i; x < DTV; x++) {",
    "      let col = slice * DTV + x;",
    "      if (col < DV) { Ob[(head * n + q) * DV + col] = acc[x] * inv; }",
    "    }",
    "    if (slice == 0i) {",
    "      let neg_inf_bits = 0xff800000u; // a let: a constant infinity would be a shader-creation error",
    "      LSEb[head * n + q] = select(bitcast<f32>(neg_inf_bits), (m_i + log2(l_i)) * 0.6931471805599453, l_i > 0.0);",
    "    }",
    "  }",
    "}",
    "",
  ];
  return lines.join("\n");
}
