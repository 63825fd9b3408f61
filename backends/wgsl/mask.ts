// The WGSL mask generators of a pattern, from its predicate on the GPU (every pair evaluated,
// so they serve as an independent check of the compiler's interval classification):
//   mask_dense   - the dense mask as bits: word w of row (head, q) holds keys 32w .. 32w + 31;
//   mask_classes - per (head, query block, key block): 0 empty, 1 full, 2 partial (pairs past n
//                  do not count: a block is full when every pair inside the sequence is allowed);
//   mask_lists   - FlexAttention's lists from the classes: per (head, query block) the partial
//                  and the full key blocks in ascending order, `nkt` slots per row.
// Block sizes are parameters, so one module gives the attention shader's 16-row tiles and
// FlexAttention's 128 x 128 BlockMask alike.
import type { PatternIR } from "../../compiler/ir.js";
import { dynFieldNames } from "../inputs.js";
import { commentText } from "../names.js";
import { wgslParamStruct, wgslPredicate } from "./spell.js";

export const WGSL_MASK_WORKGROUP = 64;

/** Field names of the mask shaders' parameter block, in order (all i32). */
export function wgslMaskParamFields(ir: PatternIR): string[] {
  return ["n", "bq", "bk", "nqt", "nkt", "words", "rows", ...dynFieldNames(ir).map((f) => `dyn_${f}`)];
}

export function emitWgslMask(ir: PatternIR): string {
  const W = WGSL_MASK_WORKGROUP;
  return [
    `// spattn: mask generators of the pattern ${commentText(ir.name)}.`,
    ...wgslParamStruct(wgslMaskParamFields(ir)),
    "@group(0) @binding(0) var<uniform> P: Params;",
    "@group(0) @binding(1) var<storage, read> dyn: array<i32>;",
    "@group(0) @binding(2) var<storage, read_write> dense: array<u32>;",
    "@group(0) @binding(3) var<storage, read_write> classes: array<u32>;",
    "@group(0) @binding(4) var<storage, read_write> lists: array<i32>;",
    "",
    "var<workgroup> allowed_wg: atomic<u32>;",
    "var<workgroup> inside_wg: atomic<u32>;",
    "",
    ...wgslPredicate(ir),
    "",
    "// One workgroup per (query, head); its threads take the row's 32-key words in turn.",
    `@compute @workgroup_size(${W})`,
    "fn mask_dense(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {",
    "  let n = P.n;",
    "  let q = i32(wid.x);",
    "  let head = i32(wid.y);",
    `  for (var w = i32(lid); w < P.words; w += ${W}i) {`,
    "    var bits = 0u;",
    "    for (var j = 0i; j < 32i; j++) {",
    "      let k = 32i * w + j;",
    "      if (k < n && spattn_allowed(q, k, head, n)) { bits |= 1u << u32(j); }",
    "    }",
    "    dense[(head * n + q) * P.words + w] = bits;",
    "  }",
    "}",
    "",
    "// One workgroup per (query block, head), over every key block in turn.",
    `@compute @workgroup_size(${W})`,
    "fn mask_classes(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lidx: u32) {",
    "  let n = P.n;",
    "  let i = i32(wid.x);",
    "  let head = i32(wid.y);",
    "  let lid = i32(lidx);",
    "  if (lid == 0i) {",
    "    atomicStore(&allowed_wg, 0u);",
    "    atomicStore(&inside_wg, 0u);",
    "  }",
    "  workgroupBarrier();",
    "  for (var j = 0i; j < P.nkt; j++) {",
    "    var allowed = 0u;",
    "    var inside = 0u;",
    `    for (var x = lid; x < P.bq * P.bk; x += ${W}i) {`,
    "      let q = i * P.bq + x / P.bk;",
    "      let k = j * P.bk + x % P.bk;",
    "      if (q < n && k < n) {",
    "        inside += 1u;",
    "        if (spattn_allowed(q, k, head, n)) { allowed += 1u; }",
    "      }",
    "    }",
    "    atomicAdd(&allowed_wg, allowed);",
    "    atomicAdd(&inside_wg, inside);",
    "    workgroupBarrier();",
    "    if (lid == 0i) {",
    "      let a = atomicLoad(&allowed_wg);",
    "      let t = atomicLoad(&inside_wg);",
    "      classes[(head * P.nqt + i) * P.nkt + j] = select(select(2u, 1u, a == t), 0u, a == 0u);",
    "      atomicStore(&allowed_wg, 0u);",
    "      atomicStore(&inside_wg, 0u);",
    "    }",
    "    workgroupBarrier();",
    "  }",
    "}",
    "",
    "// One thread per (head, query block) row: kv_num, kv_idx, full_num, full_idx, one after",
    "// the other in `lists` ([rows], [rows][nkt], [rows], [rows][nkt]).",
    `@compute @workgroup_size(${W})`,
    "fn mask_lists(@builtin(global_invocation_id) gid: vec3u) {",
    "  let row = i32(gid.x);",
    "  let rows = P.rows;",
    "  if (row >= rows) { return; }",
    "  var np = 0i;",
    "  var nf = 0i;",
    "  for (var j = 0i; j < P.nkt; j++) {",
    "    let c = classes[row * P.nkt + j];",
    "    if (c == 2u) { lists[rows + row * P.nkt + np] = j; np += 1i; }",
    "    if (c == 1u) { lists[2i * rows + rows * P.nkt + row * P.nkt + nf] = j; nf += 1i; }",
    "  }",
    "  lists[row] = np;",
    "  lists[rows + rows * P.nkt + row] = nf;",
    "}",
    "",
  ].join("\n");
}
