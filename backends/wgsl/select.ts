// The WGSL index builders of a pattern's block selections: per selection, mean pooling of Q and
// K blocks, pooled scores, and the choice of kept blocks, computing what the CPU computes bit for
// bit (compiler/blockmask/lib.ts: meanPool, pooledScorer or randomScorer, selectBlocks). Pooling
// and scores run in IEEE binary64 (backends/wgsl/f64.ts) in the CPU's order of operations, and
// the choice breaks ties toward the lower key block, as the CPU's sort does.
//
// Built here: top-k selections, seeded or from pooled scores, and top-p selections (their mass
// with the CPU's exp64, in binary64; an exponential below the normal range, which needs score
// gaps of hundreds, marks the row and the host refuses the result). Routing steps are built by
// route.ts, vertical-slash steps by vslash.ts.
import type { PatternIR } from "../../compiler/ir.js";
import { dynFieldNames } from "../inputs.js";
import { commentText } from "../names.js";
import { f64Literal, wgslF64 } from "./f64.js";
import { WGSL_MASK_WORKGROUP } from "./mask.js";
import { WgslConstants, wgslHelpers, wgslMask, wgslParamStruct } from "./spell.js";

/** Threads per workgroup: the mask generators' count, which the host launches both with. */
export const WGSL_BUILDER_WORKGROUP = WGSL_MASK_WORKGROUP;

/** Field names of the builders' parameter block (all i32). */
export function wgslBuilderParamFields(ir: PatternIR): string[] {
  // scale: 1 / sqrt(max(d, 1)) as the CPU computes it, a double's two words (top-p's softmax).
  return ["n", "d", "heads", "scale_lo", "scale_hi", ...dynFieldNames(ir).map((f) => `dyn_${f}`)];
}

/** The line that makes `best` the better of best and kb: the higher score, ties to the lower
 *  key block (kb runs upward, so only a strictly higher score replaces best). */
function betterLine(seed: number | undefined): string {
  return seed === undefined
    ? "      if (best < 0i || f64_lt(scores[row + best], scores[row + kb])) { best = kb; }"
    : "      if (best < 0i || spattn_mix32(base ^ u32(best)) < spattn_mix32(base ^ u32(kb))) { best = kb; }";
}

/** Inside a loop: `best`, the best candidate not yet kept or visited (kept[row + kb] != 0), or
 *  a break when none is left. */
function bestCandidate(i: number, seed: number | undefined): string[] {
  return [
    "    var best = -1i;",
    "    for (var kb = 0i; kb < nkb; kb++) {",
    `      if (kept[row + kb] != 0u || sel${i}_always(qb, kb, h, P.n) || !sel${i}_among(qb, kb, h, P.n)) { continue; }`,
    betterLine(seed),
    "    }",
    "    if (best < 0i) { break; }",
  ];
}

function chooseHead(i: number, seed: number | undefined, what: string, QB: number, KB: number): string[] {
  return [
    `// The choice, one thread per (head, query block): ${what}`,
    `@compute @workgroup_size(${WGSL_BUILDER_WORKGROUP})`,
    `fn sel${i}_choose(@builtin(global_invocation_id) g: vec3u) {`,
    `  let nqb = (P.n + ${QB - 1}i) / ${QB}i;`,
    `  let nkb = (P.n + ${KB - 1}i) / ${KB}i;`,
    "  let id = i32(g.x);",
    "  if (id >= P.heads * nqb) { return; }",
    "  let h = id / nqb;",
    "  let qb = id % nqb;",
    "  let row = id * nkb;",
    ...(seed === undefined ? [] : [`  let base = spattn_mix32(spattn_mix32(spattn_mix32(${seed >>> 0}u) ^ u32(h)) ^ u32(qb));`]),
  ];
}

function topkChoose(i: number, count: number, seed: number | undefined, QB: number, KB: number): string[] {
  return [
    ...chooseHead(i, seed, `always-kept blocks, then the best candidates up to ${count} kept in all, ties to the lower key block.`, QB, KB),
    "  var have = 0i;",
    "  for (var kb = 0i; kb < nkb; kb++) {",
    `    let a = sel${i}_always(qb, kb, h, P.n);`,
    "    kept[row + kb] = select(0u, 1u, a);",
    "    have += select(0i, 1i, a);",
    "  }",
    `  for (; have < ${count}i; have++) {`,
    ...bestCandidate(i, seed),
    "    kept[row + best] = 1u;",
    "  }",
    "}",
  ];
}

/** Top-p, as selectBlocks does it: the softmax of the kept and candidate blocks' scores (scale
 *  1 / sqrt(d)) over the always-kept blocks in key order, then over the candidates best first;
 *  candidates are taken best first while the kept mass is below `mass` of the total. The order
 *  is found by repeated selection, twice (candidates visited in the first pass are marked 2). */
function toppChoose(i: number, mass: number, seed: number | undefined, QB: number, KB: number): string[] {
  const weight = (kb: string) =>
    seed === undefined
      ? `f64_exp64(f64_mul(f64_sub(scores[row + ${kb}], mx), scale))`
      : `f64_exp64(f64_mul(f64_sub(f64_from_u32(spattn_mix32(base ^ u32(${kb}))), mx), scale))`;
  const scoreOf = (kb: string) => (seed === undefined ? `scores[row + ${kb}]` : `f64_from_u32(spattn_mix32(base ^ u32(${kb})))`);
  return [
    ...chooseHead(i, seed, `top-p ${mass} of the softmax of the scores.`, QB, KB),
    "  let scale = vec2u(u32(P.scale_lo), u32(P.scale_hi));",
    "  var mx = vec2u(0u, 0u);",
    "  var any = false;",
    "  for (var kb = 0i; kb < nkb; kb++) {",
    `    let a = sel${i}_always(qb, kb, h, P.n);`,
    "    kept[row + kb] = select(0u, 1u, a);",
    `    if (!a && !sel${i}_among(qb, kb, h, P.n)) { continue; }`,
    `    if (!any || f64_lt(mx, ${scoreOf("kb")})) { mx = ${scoreOf("kb")}; }`,
    "    any = true;",
    "  }",
    "  if (!any) { return; }",
    "  var have = vec2u(0u, 0u);",
    "  for (var kb = 0i; kb < nkb; kb++) {",
    `    if (kept[row + kb] == 1u) { have = f64_add(have, ${weight("kb")}); }`,
    "  }",
    "  var total = have;",
    "  loop {",
    ...bestCandidate(i, seed),
    "    kept[row + best] = 2u;",
    `    total = f64_add(total, ${weight("best")});`,
    "  }",
    "  for (var kb = 0i; kb < nkb; kb++) { if (kept[row + kb] == 2u) { kept[row + kb] = 0u; } }",
    `  let wanted = ${f64Literal(mass)};`,
    "  loop {",
    "    if (!f64_lt(have, f64_mul(wanted, total))) { break; }",
    ...bestCandidate(i, seed),
    "    kept[row + best] = 1u;",
    `    have = f64_add(have, ${weight("best")});`,
    "  }",
    "  if (f64_out_of_range) { kept[row] = 0xffffffffu; } // the host refuses the row",
    "}",
  ];
}

/** The builders' module: entry points sel<i>_pool, sel<i>_scores and sel<i>_choose. */
export function emitWgslBuilders(ir: PatternIR): string {
  const c = new WgslConstants();
  const W = WGSL_BUILDER_WORKGROUP;
  const clauses: string[] = [];
  const entries: string[] = [];
  for (const sel of ir.selections) {
    const i = sel.id;
    const { qblock: QB, kblock: KB } = sel;
    const rule = sel.rule;
    const mass = rule.kind === "topp";
    for (const clause of ["among", "always"] as const) {
      clauses.push(
        `fn sel${i}_${clause}(qb: i32, kb: i32, head: i32, n: i32) -> bool {`,
        `  let q = qb * ${QB}i;`,
        `  let k = kb * ${KB}i;`,
        `  return ${wgslMask(sel[clause], ir, c)};`,
        "}",
      );
    }
    const blocks = `let nqb = (P.n + ${QB - 1}i) / ${QB}i;\n  let nkb = (P.n + ${KB - 1}i) / ${KB}i;`;
    entries.push(
      `// ---- selection ${i} (${commentText(sel.name)}): ${mass ? `top-p ${rule.mass}` : `top-${rule.count}`} of ${QB} x ${KB} blocks${sel.seed === undefined ? " by pooled scores" : `, seeded ${sel.seed}`}`,
      ...(sel.seed === undefined
        ? [
            "// Means of Q's and K's blocks, one thread per (head, block, column): rows summed in order.",
            `@compute @workgroup_size(${W})`,
            `fn sel${i}_pool(@builtin(global_invocation_id) g: vec3u) {`,
            `  ${blocks}`,
            "  let id = i32(g.x);",
            "  let per_head = (nqb + nkb) * P.d;",
            "  if (id >= P.heads * per_head) { return; }",
            "  let h = id / per_head;",
            "  let rest = id % per_head;",
            "  let is_q = rest < nqb * P.d;",
            "  let b = select(rest - nqb * P.d, rest, is_q) / P.d;",
            "  let col = rest % P.d;",
            `  let block = select(${KB}i, ${QB}i, is_q);`,
            "  let r0 = b * block;",
            "  let r1 = min(P.n, r0 + block);",
            "  var s = vec2u(0u, 0u);",
            "  for (var r = r0; r < r1; r++) {",
            "    let x = select(Kd[(h * P.n + r) * P.d + col], Qd[(h * P.n + r) * P.d + col], is_q);",
            "    s = f64_add(s, f64_from_f32(x));",
            "  }",
            "  pool[id] = f64_div_u32(s, u32(r1 - r0));",
            "}",
            `// Scores of the ${mass ? "kept and candidate blocks (always or among)" : "candidates (among, not always)"}, one thread per (head, query block, key block).`,
            `@compute @workgroup_size(${W})`,
            `fn sel${i}_scores(@builtin(global_invocation_id) g: vec3u) {`,
            `  ${blocks}`,
            "  let id = i32(g.x);",
            "  if (id >= P.heads * nqb * nkb) { return; }",
            "  let h = id / (nqb * nkb);",
            "  let qb = (id / nkb) % nqb;",
            "  let kb = id % nkb;",
            mass
              ? `  if (!sel${i}_always(qb, kb, h, P.n) && !sel${i}_among(qb, kb, h, P.n)) { return; }`
              : `  if (sel${i}_always(qb, kb, h, P.n) || !sel${i}_among(qb, kb, h, P.n)) { return; }`,
            "  let per_head = (nqb + nkb) * P.d;",
            "  let qp = h * per_head + qb * P.d;",
            "  let kp = h * per_head + nqb * P.d + kb * P.d;",
            "  var s = vec2u(0u, 0u);",
            "  for (var col = 0i; col < P.d; col++) { s = f64_add(s, f64_mul(pool[qp + col], pool[kp + col])); }",
            "  scores[id] = s;",
            "}",
          ]
        : []),
      ...(rule.kind === "topp" ? toppChoose(i, rule.mass, sel.seed, QB, KB) : topkChoose(i, rule.count, sel.seed, QB, KB)),
    );
  }
  return [
    `// spattn: index builders of the pattern ${commentText(ir.name)}.`,
    ...wgslParamStruct(wgslBuilderParamFields(ir)),
    "@group(0) @binding(0) var<uniform> P: Params;",
    "@group(0) @binding(1) var<storage, read> Qd: array<f32>;",
    "@group(0) @binding(2) var<storage, read> Kd: array<f32>;",
    "@group(0) @binding(3) var<storage, read_write> pool: array<vec2u>;",
    "@group(0) @binding(4) var<storage, read_write> scores: array<vec2u>;",
    "@group(0) @binding(5) var<storage, read_write> kept: array<u32>;",
    "@group(0) @binding(6) var<storage, read> dyn: array<i32>;",
    "",
    ...wgslF64(),
    "// The 32-bit mixer of seeded selections (mix32 in compiler/blockmask/lib.ts).",
    "fn spattn_mix32(v: u32) -> u32 {",
    "  var x = v;",
    "  x ^= x >> 16u;",
    "  x *= 0x7feb352du;",
    "  x ^= x >> 15u;",
    "  x *= 0x846ca68bu;",
    "  x ^= x >> 16u;",
    "  return x;",
    "}",
    ...wgslHelpers(c),
    ...clauses,
    "",
    ...entries,
    "",
  ].join("\n");
}
