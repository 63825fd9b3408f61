// Property tests: for random patterns, sizes and block shapes, the analytic classifier and
// the box-driven dense mask agree exactly with brute force over the point evaluator.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { buildBlockMask, buildDenseMask, headContexts } from "../../compiler/blockmask/build.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import { blocksTable, bruteBlocks } from "../helpers.js";

const small = fc.integer({ min: 0, max: 40 });
const modulus = fc.integer({ min: 1, max: 9 });

/** Random atoms over q, k and head, written in the DSL. */
const atom: fc.Arbitrary<string> = fc.oneof(
  fc.constant("causal"),
  small.map((c) => `q - k < ${c}`),
  small.map((c) => `k - q <= ${c}`),
  small.map((c) => `abs(q - k) <= ${c}`),
  small.map((c) => `q < ${c}`),
  small.map((c) => `k >= ${c}`),
  fc.tuple(modulus, fc.nat()).map(([m, r]) => `(q - k) % ${m} == ${r % m}`),
  fc.tuple(modulus, fc.nat()).map(([m, r]) => `k % ${m} == ${r % m}`),
  fc.tuple(modulus, fc.nat()).map(([m, r]) => `q % ${m} != ${r % m}`),
  fc.tuple(modulus, fc.nat()).map(([m, r]) => `(q + k) % ${m} == ${r % m}`),
  modulus.map((m) => `q / ${m} == k / ${m}`),
  fc.array(fc.integer({ min: 0, max: 30 }), { minLength: 1, maxLength: 4 }).map((l) => `document(q, [${l.join(", ")}]) == document(k, [${l.join(", ")}])`),
  small.map((c) => `2 * q - k < ${c}`),
  small.map((c) => `min(q, k) < ${c}`),
  small.map((c) => `max(q, k) >= ${c}`),
  small.map((c) => `clamp(q - k, 0, ${c}) == ${c}`),
  fc.constant("head % 2 == 0"),
  small.map((c) => `q * k < ${c * 20}`),
  fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 2 })).map(([kern, dil]) => `neighborhood(${kern}, dilation: ${dil})`),
  fc.tuple(small, small).map(([a, b]) => `${a} <= q - k < ${a + b}`),
);

const maskSource: fc.Arbitrary<string> = fc.letrec<{ m: string }>((tie) => ({
  m: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    atom,
    fc.tuple(tie("m"), tie("m")).map(([a, b]) => `(${a} and ${b})`),
    fc.tuple(tie("m"), tie("m")).map(([a, b]) => `(${a} or ${b})`),
    fc.tuple(tie("m"), tie("m")).map(([a, b]) => `(${a} except ${b})`),
    tie("m").map((a) => `not (${a})`),
  ),
})).m;

function check(src: string, n: number, bq: number, bk: number, heads: number): void {
  const ir = compile(`pattern p() { mask ${src} }`);
  const bm = buildBlockMask(ir, { seqLen: n, heads, blockQ: bq, blockK: bk });
  const dense = buildDenseMask(ir, { seqLen: n, heads });
  headContexts(ir, { seqLen: n, heads }).forEach((ctx, h) => {
    const m = maskEval(ir.mask, ctx);
    expect(blocksTable(bm.perHead[h], bm.numQBlocks, bm.numKBlocks), `${src} n=${n} ${bq}x${bk} head ${h}`).toEqual(bruteBlocks(n, bq, bk, m.point));
    for (let q = 0; q < n; q++) {
      for (let k = 0; k < n; k++) {
        if (dense.data[(h * n + q) * n + k] !== (m.point(q, k) ? 1 : 0)) {
          throw new Error(`dense mask differs at head ${h} (${q}, ${k}) for ${src}, n=${n}`);
        }
      }
    }
  });
}

describe("analytic block classification", () => {
  it("agrees with brute force on random patterns and sizes", () => {
    fc.assert(
      fc.property(maskSource, fc.integer({ min: 0, max: 90 }), fc.integer({ min: 1, max: 33 }), fc.integer({ min: 1, max: 33 }), fc.integer({ min: 1, max: 2 }), (src, n, bq, bk, heads) => {
        // A 1D neighbourhood needs at least kernel * dilation tokens.
        fc.pre(!/neighborhood/.test(src) || n >= 10);
        check(src, n, bq, bk, heads);
      }),
      { seed: 20261124, numRuns: 400 },
    );
  });

  it("agrees with brute force on NATTEN layouts", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 2 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 40 }),
        (kernel, extra, dilation, causalRows, block) => {
          const h = kernel * dilation + extra;
          const w = kernel * dilation + extra + 1;
          const src = `pattern p() { layout(y: ${h}, x: ${w}) mask neighborhood(${kernel}, dilation: ${dilation}, causal: [${causalRows ? 1 : 0}, 0]) }`;
          const ir = compile(src);
          const n = h * w;
          const bm = buildBlockMask(ir, { seqLen: n, blockQ: block });
          const m = maskEval(ir.mask, headContexts(ir, { seqLen: n })[0]);
          expect(blocksTable(bm.perHead[0], bm.numQBlocks, bm.numKBlocks)).toEqual(bruteBlocks(n, block, block, m.point));
        },
      ),
      { seed: 7, numRuns: 60 },
    );
  });

  it("handles the edge sizes: n = 0, 1, blocks larger than n", () => {
    for (const n of [0, 1, 2, 5]) for (const b of [1, 3, 64]) check("causal and q - k < 2", n, b, b, 1);
  });
});
