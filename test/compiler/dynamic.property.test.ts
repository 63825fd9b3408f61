// Property tests for data-dependent patterns: random selections (topk, topp, seeded random,
// two-level hierarchies), routing and vertical-slash, on random data and sizes. The block
// classification must equal brute force over the point evaluator, and the dense mask too.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { buildBlockMask, buildDenseMask, headContexts } from "../../compiler/blockmask/build.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import { blocksTable, bruteBlocks, randomTensor } from "../helpers.js";

const blockCond: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom("kb < qb", "kb <= qb", "kb == qb", "kb == 0", "true", "kb % 2 == 0", "qb - kb < 3"),
  fc.tuple(fc.constantFrom("kb < qb", "kb <= qb", "kb == 0"), fc.constantFrom("kb % 2 == 1", "qb - kb < 2", "kb != 1")).map(([a, b]) => `(${a} and ${b})`),
);

const positional = fc.constantFrom("causal", "q - k < 20", "k < 3", "abs(q - k) <= 7", "(q - k) % 3 == 0", "true");

const selection = fc.record({
  kind: fc.constantFrom("topk", "topp", "random_blocks"),
  count: fc.integer({ min: 0, max: 4 }),
  mass: fc.constantFrom(0.3, 0.7, 0.95, 1),
  qblock: fc.constantFrom(1, 4, 8, 16),
  kblock: fc.constantFrom(4, 8, 16),
  among: blockCond,
  always: fc.oneof(fc.constant("false"), blockCond),
  seed: fc.integer({ min: 0, max: 1000 }),
});

interface Sel {
  kind: string;
  count: number;
  mass: number;
  qblock: number;
  kblock: number;
  among: string;
  always: string;
  seed: number;
}

function selSource(s: Sel, extra = ""): string {
  const first = s.kind === "topp" ? String(s.mass) : String(s.count);
  const seed = s.kind === "random_blocks" ? `, seed: ${s.seed}` : "";
  return `${s.kind}(${first}, qblock: ${s.qblock}, kblock: ${s.kblock}, among: ${s.among}${extra}, always: ${s.always}${seed})`;
}

function checkAgainstBrute(src: string, n: number, heads: number, block: number, seed: number): void {
  const ir = compile(src);
  const q = randomTensor(heads, n, 4, seed);
  const k = randomTensor(heads, n, 4, seed + 1);
  const opts = { seqLen: n, heads, q, k };
  const bm = buildBlockMask(ir, { ...opts, blockQ: block, blockK: block + 3 });
  const dense = buildDenseMask(ir, opts);
  headContexts(ir, opts).forEach((ctx, h) => {
    const m = maskEval(ir.mask, ctx);
    expect(blocksTable(bm.perHead[h], bm.numQBlocks, bm.numKBlocks), `${src} n=${n}`).toEqual(bruteBlocks(n, block, block + 3, m.point));
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (dense.data[(h * n + i) * n + j] !== (m.point(i, j) ? 1 : 0)) throw new Error(`dense differs at (${i}, ${j}) for ${src}`);
      }
    }
  });
}

describe("data-dependent block classification", () => {
  it("selections combined with positional conditions", () => {
    fc.assert(
      fc.property(selection, positional, fc.constantFrom("and", "or", "except"), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 20 }), fc.nat(1000), (s, pos, op, n, block, seed) => {
        checkAgainstBrute(`pattern p() { let s = ${selSource(s)} mask ${pos} ${op} s }`, n, 2, block, seed);
      }),
      { seed: 424242, numRuns: 150 },
    );
  });

  it("two-level hierarchies", () => {
    fc.assert(
      fc.property(selection, selection, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 70 }), fc.nat(1000), (coarse, fine, mult, n, seed) => {
        const c = { ...coarse, qblock: fine.qblock * mult, kblock: fine.kblock * mult };
        checkAgainstBrute(`pattern p() { let c = ${selSource(c)} let f = ${selSource(fine, " and c")} mask causal and f }`, n, 2, 8, seed);
      }),
      { seed: 99, numRuns: 80 },
    );
  });

  it("routing and vertical-slash", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 20 }), fc.nat(1000), (clusters, iters, n, block, seed) => {
        checkAgainstBrute(`pattern p() { mask causal and same_cluster(${clusters}, iterations: ${iters}) }`, n, 2, block, seed);
        checkAgainstBrute(`pattern p() { mask causal and vertical_slash(${clusters + 2}, ${iters + 3}, last: ${block}, first: 1, recent: ${iters}) }`, n, 2, block, seed);
        checkAgainstBrute(`pattern p() { mask same_cluster(${clusters}) or vertical_slash(3, 2) }`, n, 1, block, seed);
      }),
      { seed: 5, numRuns: 60 },
    );
  });
});
