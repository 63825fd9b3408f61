// The WGSL block-sparse attention shader (f32): one workgroup of 64 threads per (query tile,
// head), register-tiled so that every value read from workgroup memory feeds several
// multiply-adds (a GPU's scalar FMA units are otherwise starved by the loads that feed them).
// Thread (ty, tx), ty = lid / 8 and tx = lid % 8, owns the 4 query rows 4 ty .. 4 ty + 3:
// - scores: keys tx + 8 b of the tile (b < BK / 8), accumulated as vec4s over those rows, from
//   Q transposed in workgroup memory (one vec4 per dimension: 4 rows) and K transposed (a row
//   of it per dimension, padded by one word so that the transposing stores spread over banks);
// - output: columns tx + 8 c of O (c < ceil(DV / 8)), again as vec4s over its rows.
// Per key tile: K is staged and the scores computed and written, masked and scaled (log2
// domain), to a P tile in workgroup memory; V is staged into the same storage while the
// online softmax runs row by row on P (one thread a row, or two that combine their halves
// with a subgroup shuffle, the subgroup variant) and leaves each row's rescaling factor; then
// every thread rescales its O and adds P V. K and V reach workgroup memory through registers,
// loaded a step ahead (V while the scores run, the next tile's K while P V runs), so that a
// workgroup waits for global memory less than once per tile.
// Partial tiles evaluate the pattern's predicate; full tiles only mask keys past n. A row with
// no allowed key gets O = 0 and lse = -inf, like the CPU reference.
// A query tile whose list is much longer than the others' is split into parts, as flash
// decoding splits keys: the tile's own workgroup runs the first part, and work items from a
// table the host makes run the others, in rows of workgroups dispatched before the heads'
// rows; each part writes its normalised O and its lse to a slot of `parts`, and the entry
// point spattn_combine merges a tile's parts by their lse into O and lse. The heads' rows take
// the query tile and head from the workgroup's id, not from memory: so the driver knows them
// uniform (loaded from a table instead, dense attention ran 1.5 times slower on an H200).
//
// Control flow that holds a barrier must be uniform in WGSL: the list's counts reach every
// thread through workgroupUniformLoad, and rows past n still take part (they write nothing).
// Loops over a thread's rows, keys and columns are unrolled here, in the generator, so that
// their accumulators are registers whatever the driver's compiler does with arrays.
import type { PatternIR } from "../../compiler/ir.js";
import { dynFieldNames } from "../inputs.js";
import { commentText } from "../names.js";
import { keptRead, tileConstantSelections, wgslParamStruct, wgslPredicate } from "./spell.js";

/** Query rows per workgroup, threads per workgroup, and the thread grid: TY groups of RA rows
 *  by TX threads across keys and columns. */
export const WGSL_BQ = 32;
const THREADS = 64;
const TX = 8;
const RA = 4;

export interface WgslAttentionOptions {
  /** Head dimension of Q and K. */
  d: number;
  /** Width of V and O rows (default d). */
  dv?: number;
  /** Keys per staged tile: 32, 16 or 8 (the host picks the largest the device's workgroup
   *  storage holds). */
  bk: number;
  /** Run each row's softmax on two threads that combine their halves with subgroup shuffles,
   *  instead of on one. Needs the `subgroups` feature and subgroups of at least 2 invocations
   *  (the two threads of a row are consecutive invocations). */
  subgroups?: boolean;
  /** Stage K and V in f16 (the `shader-f16` feature): half their workgroup storage, at the cost
   *  of rounding K and V to f16 (products and sums stay f32). The f32 shader is the same text
   *  with `kv_t` an f32 alias. */
  f16?: boolean;
}

/** Words of the storage K (transposed, rows padded by one) and then V share. */
function kvWords(o: WgslAttentionOptions): number {
  return Math.max(o.d * (o.bk + 1), o.bk * (o.dv ?? o.d));
}

/** Bytes of workgroup storage the shader declares. */
export function wgslWorkgroupBytes(o: WgslAttentionOptions): number {
  const qs = 4 * WGSL_BQ * o.d;
  const kv = (o.f16 ? 2 : 4) * kvWords(o);
  const p = 4 * WGSL_BQ * o.bk;
  return qs + kv + p + 4 * WGSL_BQ + 8;
}

/** Words, in the lists buffer, per work item (query tile, head, first and end entry of its
 *  list, slot), per combine item (query tile, head, first slot, number of parts) and per query
 *  tile of a head where some list is split (end of the first part, its slot or -1). */
export const WGSL_ITEM_WORDS = 5;
export const WGSL_COMBINE_WORDS = 4;
export const WGSL_SPLIT_WORDS = 2;

/** Field names of the parameter block, in order (all 4-byte scalars). */
export function wgslParamFields(ir: PatternIR): string[] {
  const fixed = ["n", "heads", "kv_heads", "num_q_tiles", "stride", "tile_heads", "kv_num_off", "kv_idx_off", "full_num_off", "full_idx_off", "split_off", "items_off", "num_items", "extra_rows", "combine_off", "num_combine", "scale_log2"];
  return [...fixed, ...dynFieldNames(ir).map((f) => `dyn_${f}`)];
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * Staging of one tile (`bk` rows of `width` floats: a K, V or Q tile) through registers: every
 * load of the thread is issued before any store (a GPU then waits for global memory once per
 * tile, not once per element), read as vec4s where the width allows. `store(col, row, value)`
 * spells the workgroup store of one element. Returns the register declarations, the loads (of
 * rows `first` + 0 .. bk - 1 of head `head`) and the stores.
 */
function staging(name: string, buffer: string, width: number, bk: number, store: (col: string, key: string, value: string) => string, first = "k0", head = "kvh") {
  const w = width % 4 === 0 ? 4 : 1; // floats per load
  const per = width / w; // loads per key
  const total = bk * per;
  const slots = Math.ceil(total / THREADS);
  const guarded = total % THREADS !== 0;
  const type = w === 4 ? "vec4<f32>" : "f32";
  const idx = (u: number) => `(lid + ${THREADS * u}i)`;
  const decls = range(slots).map((u) => `  var ${name}${u}: ${type};`);
  const loads = range(slots).map((u) => {
    const key = `${first} + ${idx(u)} / ${per}i`;
    const ok = `${key} < n${guarded ? ` && ${idx(u)} < ${total}i` : ""}`;
    return `${name}${u} = select(${type}(0.0), ${buffer}[select(0i, (${head} * n + ${key}) * ${per}i + ${idx(u)} % ${per}i, ${ok})], ${ok});`;
  });
  const stores = range(slots).flatMap((u) => {
    const parts = range(w).map((j) => store(`${w === 4 ? `(${idx(u)} % ${per}i) * 4i + ${j}i` : `${idx(u)} % ${per}i`}`, `${idx(u)} / ${per}i`, w === 4 ? `${name}${u}[${j}]` : `${name}${u}`));
    return guarded ? [`if (${idx(u)} < ${total}i) { ${parts.join(" ")} }`] : parts;
  });
  return { decls, loads, stores, type: w === 4 ? "array<vec4<f32>>" : "array<f32>" };
}

export function emitWgslAttention(ir: PatternIR, o: WgslAttentionOptions): string {
  const { d, bk } = o;
  const dv = o.dv ?? d;
  for (const x of [d, dv]) if (!Number.isInteger(x) || x < 1) throw new RangeError(`head dimensions must be positive integers, got ${d} and ${dv}`);
  if (!Number.isInteger(bk) || bk < TX || bk % TX !== 0) throw new RangeError(`keys per tile must be a positive multiple of ${TX}, got ${bk}`);
  const KT = bk / TX;
  const CV = Math.ceil(dv / TX);
  const ragged = dv % TX !== 0; // some threads' last column is past DV
  const ty = WGSL_BQ / RA;
  // Kept blocks that cover whole key tiles: read once per partial tile and row (rows past n
  // have no kept row), not once per pair.
  const hoisted = tileConstantSelections(ir, bk);
  // K transposed (rows of BK + 1), V as it is: both into kvs, one after the other.
  const kStage = staging("kr", "Kb", d, bk, (col, key, v) => `kvs[(${col}) * (BK + 1i) + ${key}] = kv_t(${v});`);
  const vStage = staging("vr", "Vb", dv, bk, (col, key, v) => `kvs[${key} * DV + ${col}] = kv_t(${v});`);
  // Q transposed, a vec4 of 4 rows per dimension and row group.
  const qStage = staging("qr", "Qb", d, WGSL_BQ, (col, row, v) => `qs[(${col}) * TY + (${row}) / RA][(${row}) % RA] = ${v};`, "qt * BQ", "head");
  const threadsPerRow = o.subgroups ? THREADS / WGSL_BQ : 1; // in the softmax
  const span = bk / threadsPerRow; // keys each softmax thread reads

  const scores = [
    "    // S = Q K^T over the tile: 4 rows x KT keys, as KT vec4s over the rows.",
    ...range(KT).map((b) => `    var s${b} = vec4<f32>(0.0);`),
    "    for (var c = 0i; c < D; c++) {",
    "      let qv = qs[c * TY + ty];",
    ...range(KT).map((b) => `      s${b} += qv * f32(kvs[c * (BK + 1i) + tx + ${TX * b}i]);`),
    "    }",
    "    // Scaled, into P (transposed: a vec4 of the 4 rows per key).",
    ...range(KT).map((b) => `    ps[(tx + ${TX * b}i) * TY + ty] = s${b} * P.scale_log2;`),
    "    // Masked where the tile is partial or crosses n: one call of the predicate in a loop over",
    "    // the thread's pairs (unrolled, every pair's copy of the predicate made shaders slow to build).",
    "    if (partial || k0 + BK > n || qt * BQ + BQ > n) {",
    `      for (var x = 0i; x < ${RA * KT}i; x++) {`,
    "        let a = x % RA;",
    "        let at = (tx + TX * (x / RA)) * TY + ty;",
    "        let key = k0 + tx + TX * (x / RA);",
    "        var ok = key < n && q0 + a < n;",
    `        if (ok && partial) { ok = spattn_allowed(q0 + a, key, head, n${hoisted.map((i) => `, ((sel${i}_rows >> u32(a)) & 1u) == 1u`).join("")}); }`,
    "        if (!ok) { ps[at][a] = NEG_BIG; }",
    "      }",
    "    }",
  ];

  const softmax = [
    `    // The online softmax of row sr over its ${o.subgroups ? "half of the tile's keys (the other half on the neighbouring thread)" : "tile's keys"}.`,
    "    var mx = NEG_BIG;",
    `    for (var j = j0; j < j0 + ${span}i; j++) { mx = max(mx, ps[j * TY + sr / RA][sr % RA]); }`,
    ...(o.subgroups ? ["    mx = max(mx, subgroupShuffleXor(mx, 1u));"] : []),
    "    let m_new = max(m_i, mx);",
    "    let alpha = exp2(m_i - m_new); // 1 while nothing is allowed (both NEG_BIG); 0 after a jump from NEG_BIG",
    "    var lsum = 0.0;",
    `    for (var j = j0; j < j0 + ${span}i; j++) {`,
    "      let s = ps[j * TY + sr / RA][sr % RA];",
    "      let p = select(0.0, exp2(s - m_new), s > NEG_BIG);",
    "      ps[j * TY + sr / RA][sr % RA] = p;",
    "      lsum += p;",
    "    }",
    ...(o.subgroups ? ["    lsum += subgroupShuffleXor(lsum, 1u);"] : []),
    "    l_i = l_i * alpha + lsum;",
    "    m_i = m_new;",
    o.subgroups ? "    if (half == 0i) { rowv[sr / RA][sr % RA] = alpha; }" : "    rowv[sr / RA][sr % RA] = alpha;",
  ];

  const colGuard = (c: number, body: string) => (ragged && c === CV - 1 ? `if (tx + ${TX * c}i < DV) { ${body} }` : body);
  const pv = [
    "    // O = O * alpha + P V: 4 rows x CV columns, as CV vec4s over the rows.",
    "    let alpha4 = rowv[ty];",
    ...range(CV).map((c) => `    o${c} *= alpha4;`),
    "    for (var j = 0i; j < BK; j++) {",
    "      let p = ps[j * TY + ty];",
    ...range(CV).map((c) => `      ${colGuard(c, `o${c} += p * f32(kvs[j * DV + tx + ${TX * c}i]);`)}`),
    "    }",
  ];

  // Attention of query tile qt of head `head` over the entries of its list that `it` names (a
  // work item, or -1: the first part), in the scope of main's variables lid, qt, head, it.
  const attend = [
    "  let n = P.n;",
    "  let ty = lid / TX;",
    "  let tx = lid % TX;",
    "  let q0 = qt * BQ + ty * RA; // this thread's first row",
    ...(o.subgroups
      ? ["  let sr = lid / 2i; // the row whose softmax this thread runs, with its neighbour", "  let half = lid % 2i;", `  let j0 = half * ${span}i;`]
      : ["  let sr = lid % BQ; // the row whose softmax this thread runs (threads past BQ repeat it and write nothing)", "  let j0 = 0i;"]),
    "  let kvh = head / (P.heads / P.kv_heads);",
    "  let list = select(head, 0i, P.tile_heads == 1i) * P.num_q_tiles + qt;",
    "  if (lid == 0i) {",
    "    let np = lists[P.kv_num_off + list];",
    "    var span = vec4<i32>(np, 0i, np + lists[P.full_num_off + list], -1i);",
    "    if (it >= 0i) {",
    "      span = vec4<i32>(np, lists[it + 2i], lists[it + 3i], lists[it + 4i]);",
    "    } else if (P.num_combine > 0i) {",
    `      let at = P.split_off + ${WGSL_SPLIT_WORDS}i * (head * P.num_q_tiles + qt);`,
    "      span = vec4<i32>(np, 0i, lists[at], lists[at + 1i]);",
    "    }",
    "    span_wg = span;",
    "  }",
    "  // Q^T, once, through registers: every load issued before the first store.",
    "  {",
    ...qStage.decls.map((l) => `  ${l}`),
    ...qStage.loads.map((l) => `    ${l}`),
    ...qStage.stores.map((l) => `    ${l}`),
    "  }",
    "  let span = workgroupUniformLoad(&span_wg);",
    "  let np = span.x;",
    "  let first = span.y; // entries first .. total - 1 of the list",
    "  let total = span.z;",
    "  let slot = span.w; // -1: O and lse; else a slot of parts",
    ...range(CV).map((c) => `  var o${c} = vec4<f32>(0.0);`),
    "  var m_i = NEG_BIG; // the softmax state of row sr",
    "  var l_i = 0.0;",
    "  // The tiles' K and V pass through registers: K of tile e + 1 is loaded while tile e's P V",
    "  // runs, V of tile e while its scores do.",
    ...kStage.decls,
    ...vStage.decls,
    "  var kt = 0i;",
    "  if (total > first) {",
    "    kt = spattn_tile(list, np, first);",
    "    let k0 = kt * BK;",
    ...kStage.loads.map((l) => `    ${l}`),
    "  }",
    "  for (var e = first; e < total; e++) {",
    "    let partial = e < np;",
    "    let k0 = kt * BK;",
    ...hoisted.map((i) => `    let sel${i}_rows = ${range(RA).map((a) => `(u32(spattn_sel${i}_row(partial, q0 + ${a}i, k0, head, n)) << ${a}u)`).join(" | ")}; // bit a: row q0 + a`),
    "    workgroupBarrier(); // the previous tile's readers of kvs, ps and rowv are done",
    ...kStage.stores.map((l) => `    ${l}`),
    ...vStage.loads.map((l) => `    ${l}`),
    "    workgroupBarrier();",
    ...scores,
    "    workgroupBarrier(); // K read, P written",
    ...vStage.stores.map((l) => `    ${l}`),
    ...(o.subgroups ? softmax : ["    if (lid < BQ) {", ...softmax.map((l) => `  ${l}`), "    }"]),
    "    if (e + 1i < total) {",
    "      kt = spattn_tile(list, np, e + 1i);",
    "      let k0 = kt * BK;",
    ...kStage.loads.map((l) => `      ${l}`),
    "    }",
    "    workgroupBarrier(); // V staged, P and the factors ready",
    ...pv,
    "  }",
    "  workgroupBarrier(); // the last tile's readers of rowv are done",
    `  let sq = qt * BQ + sr;`,
    `  if (${o.subgroups ? "half == 0i" : "lid < BQ"}) {`,
    "    rowv[sr / RA][sr % RA] = select(0.0, 1.0 / l_i, l_i > 0.0);",
    "    let lse = (m_i + log2(l_i)) * 0.6931471805599453; // where l_i > 0",
    "    // A part with no allowed key gets NEG_BIG, not -inf: the combine computes with it.",
    "    if (slot >= 0i) { parts[slot * PART + BQ * DV + sr] = select(NEG_BIG, lse, l_i > 0.0); }",
    "    else if (sq < n) {",
    "      let neg_inf_bits = 0xff800000u; // a let: a constant infinity would be a shader-creation error",
    "      LSEb[head * n + sq] = select(bitcast<f32>(neg_inf_bits), lse, l_i > 0.0);",
    "    }",
    "  }",
    "  workgroupBarrier();",
    "  let inv = rowv[ty];",
    "  if (slot >= 0i) {",
    ...range(RA).flatMap((a) => [
      `    let at${a} = slot * PART + (ty * RA + ${a}i) * DV + tx;`,
      ...range(CV).map((c) => `    ${colGuard(c, `parts[at${a} + ${TX * c}i] = o${c}[${a}] * inv[${a}];`)}`),
    ]),
    "    return;",
    "  }",
    ...range(RA).flatMap((a) => [
      `  if (q0 + ${a}i < n) {`,
      `    let at = (head * n + q0 + ${a}i) * DV + tx;`,
      ...range(CV).map((c) => `    ${colGuard(c, `Ob[at + ${TX * c}i] = o${c}[${a}] * inv[${a}];`)}`),
      "  }",
    ]),
  ];

  const lines = [
    ...(o.f16 ? ["enable f16;"] : []),
    ...(o.subgroups ? ["enable subgroups;"] : []),
    `// spattn: attention under the pattern ${commentText(ir.name)} (f32, D = ${d}, DV = ${dv}, ${WGSL_BQ} x ${bk} tiles${o.subgroups ? ", softmax on subgroup pairs" : ""}${o.f16 ? ", K and V staged in f16" : ""}).`,
    ...wgslParamStruct(wgslParamFields(ir), ["scale_log2"]),
    "@group(0) @binding(0) var<uniform> P: Params;",
    `@group(0) @binding(1) var<storage, read> Qb: ${qStage.type};`,
    `@group(0) @binding(2) var<storage, read> Kb: ${kStage.type};`,
    `@group(0) @binding(3) var<storage, read> Vb: ${vStage.type};`,
    "@group(0) @binding(4) var<storage, read_write> Ob: array<f32>;",
    "@group(0) @binding(5) var<storage, read_write> LSEb: array<f32>;",
    "@group(0) @binding(6) var<storage, read> lists: array<i32>;",
    "@group(0) @binding(7) var<storage, read> dyn: array<i32>;",
    "@group(0) @binding(8) var<storage, read_write> parts: array<f32>; // per slot: O [BQ][DV], then lse [BQ]",
    "",
    `const D = ${d}i;`,
    `const DV = ${dv}i;`,
    `const BQ = ${WGSL_BQ}i;`,
    `const BK = ${bk}i;`,
    `const RA = ${RA}i; // rows per thread`,
    `const TY = ${ty}i; // row groups`,
    `const TX = ${TX}i; // threads across keys and columns`,
    "const NEG_BIG = -3.0e38; // a masked score: exp2 of it, less any finite maximum, is 0",
    `const PART = ${WGSL_BQ * dv + WGSL_BQ}i; // words of a slot of parts`,
    "",
    `alias kv_t = ${o.f16 ? "f16" : "f32"}; // the staged K and V`,
    `var<workgroup> qs: array<vec4<f32>, ${d * ty}>; // Q^T: [dimension][row group], a vec4 of 4 rows`,
    `var<workgroup> kvs: array<kv_t, ${kvWords(o)}>; // K^T [dimension][key] (rows of BK + 1), then V [key][column]`,
    `var<workgroup> ps: array<vec4<f32>, ${bk * ty}>; // P^T: [key][row group]`,
    `var<workgroup> rowv: array<vec4<f32>, ${ty}>; // per row: the rescaling factor, at the end 1 / l`,
    "var<workgroup> span_wg: vec4<i32>; // the list's partial tiles, then the first and end entry and the slot to run",
    "",
    ...wgslPredicate(ir, hoisted),
    "",
    "// Key tile e of the query tile's lists: the np partial ones, then the full ones.",
    "fn spattn_tile(list: i32, np: i32, e: i32) -> i32 {",
    "  if (e < np) { return lists[P.kv_idx_off + list * P.stride + e]; }",
    "  return lists[P.full_idx_off + list * P.stride + e - np];",
    "}",
    ...hoisted.flatMap((i) => [
      "",
      `// Whether selection ${i} kept the key tile starting at k0 for query q (its blocks hold whole`,
      `// tiles), read on partial tiles for rows before n only.`,
      `fn spattn_sel${i}_row(partial: bool, q: i32, k0: i32, head: i32, n: i32) -> bool {`,
      `  return partial && q < n && ${keptRead(ir, i, "k0")};`,
      "}",
    ]),
    "",
    "// Workgroup rows from extra_rows on: query tile x of head y - extra_rows, its list's first part",
    "// (all of it where the list is not split). Rows before: the work items of the other parts.",
    "// The body is spelled twice, so that in the first branch the driver sees the tile and head",
    "// come from the workgroup id (uniform); called as one function from both, dense attention",
    "// ran 1.24 times slower on an H200.",
    `@compute @workgroup_size(${THREADS})`,
    "fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {",
    "  let lid = i32(lidx);",
    "  let y = i32(wid.y) - P.extra_rows;",
    "  if (y >= 0i) {",
    "    let qt = i32(wid.x);",
    "    let head = y;",
    "    let it = -1i; // the first part of the list",
    ...attend.map((l) => `  ${l}`),
    "  } else {",
    "    let item = i32(wid.y) * P.num_q_tiles + i32(wid.x);",
    "    if (item >= P.num_items) { return; }",
    `    let it = P.items_off + ${WGSL_ITEM_WORDS}i * item; // the part this work item names`,
    "    let qt = lists[it];",
    "    let head = lists[it + 1i];",
    ...attend.map((l) => `  ${l}`),
    "  }",
    "}",
    "",
    "// The parts of a split query tile merged: each row's lse from its parts' lse, and O as their",
    "// O weighted by exp(lse_part - lse). A row no part allows keeps O = 0 and lse = -inf.",
    `@compute @workgroup_size(${THREADS})`,
    "fn spattn_combine(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {",
    "  let n = P.n;",
    "  let item = i32(wid.y) * P.num_q_tiles + i32(wid.x);",
    "  if (item >= P.num_combine) { return; }",
    `  let it = P.combine_off + ${WGSL_COMBINE_WORDS}i * item;`,
    "  let qt = lists[it];",
    "  let head = lists[it + 1i];",
    "  let s0 = lists[it + 2i];",
    "  let count = lists[it + 3i];",
    `  for (var i = i32(lidx); i < BQ * DV; i += ${THREADS}i) {`,
    "    let r = i / DV;",
    "    let q = qt * BQ + r;",
    "    if (q >= n) { break; } // i grows, and with it r",
    "    var mx = NEG_BIG;",
    "    for (var j = 0i; j < count; j++) { mx = max(mx, parts[(s0 + j) * PART + BQ * DV + r]); }",
    "    var sum = 0.0;",
    "    var acc = 0.0;",
    "    if (mx > NEG_BIG) {",
    "      for (var j = 0i; j < count; j++) {",
    "        let w = exp(parts[(s0 + j) * PART + BQ * DV + r] - mx);",
    "        sum += w;",
    "        acc += w * parts[(s0 + j) * PART + i];",
    "      }",
    "    }",
    "    Ob[(head * n + q) * DV + i % DV] = select(0.0, acc / sum, sum > 0.0);",
    "    let neg_inf_bits = 0xff800000u;",
    "    if (i % DV == 0i) { LSEb[head * n + q] = select(bitcast<f32>(neg_inf_bits), mx + log(sum), sum > 0.0); }",
    "  }",
    "}",
    "",
  ];
  return lines.join("\n");
}
