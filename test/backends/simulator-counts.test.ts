// The simulator's counts against brute force: for every example at random small sizes and
// tile shapes, its per-head tile counts and allowed pairs equal those of the dense mask; the
// sampled pair count is an honest estimate; the block-mask picture holds the tiles it shows.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildDenseMask, headContexts } from "../../compiler/blockmask/build.js";
import { buildKernelBlockMask } from "../../compiler/blockmask/kernel-order.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import { classifyBlocks } from "../../compiler/blockmask/lib.js";
import { isDynamic, type Value } from "../../compiler/ir.js";
import { blockMap, classifyPlanned, countPairs, listedChunks, LIST_CHUNK, plannedTileCounts, rowWork } from "../../backends/simulator/counts.js";
import { loadDevice } from "../../backends/simulator/device.js";
import { simulate } from "../../backends/simulator/simulate.js";
import { bruteBlocks, EXAMPLES, examplePattern, randomTensor } from "../helpers.js";

const device = loadDevice("h100");

/** Random small parameters: layouts get random grids; others a random length. */
function sizes(file: string): fc.Arbitrary<{ set: Record<string, Value>; n: number }> {
  if (file === "neighborhood2d.spattn") return fc.tuple(fc.integer({ min: 7, max: 14 }), fc.integer({ min: 7, max: 14 })).map(([h, w]) => ({ set: { height: h, width: w }, n: h * w }));
  if (file === "video3d.spattn") return fc.tuple(fc.integer({ min: 3, max: 4 }), fc.integer({ min: 7, max: 9 }), fc.integer({ min: 7, max: 9 })).map(([t, h, w]) => ({ set: { frames: t, height: h, width: w }, n: t * h * w }));
  return fc.integer({ min: 1, max: 160 }).map((n) => ({ set: {}, n }));
}

describe("the chunks the one-pass list builder walks", () => {
  it("are the chunks of 32 key tiles that hold a listed tile, row by row, as brute force counts them", () => {
    const cases = ["block_topk.spattn", "sliding_window.spattn", "strided.spattn"];
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.integer({ min: 40, max: 400 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 4 }), (file, n, bq, bk) => {
        const ir = examplePattern(file, file === "block_topk.spattn" ? { block: 4 } : file === "sliding_window.spattn" ? { window: 17 } : {});
        const data = isDynamic(ir) ? { q: randomTensor(1, n, 8, n + 3), k: randomTensor(1, n, 8, n + 4) } : {};
        const grid = { n, blockQ: bq, blockK: bk };
        const [ctx] = headContexts(ir, { seqLen: n, heads: 1, ...data });
        const { blocks, plan } = classifyPlanned(maskEval(ir.mask, ctx), grid, 1);
        const dense = buildDenseMask(ir, { seqLen: n, heads: 1, ...data });
        const table = bruteBlocks(n, bq, bk, (q, k) => dense.data[q * n + k] === 1);
        const want = table.reduce((a, row) => a + new Set(row.flatMap((v, j) => (v === 0 ? [] : [Math.floor(j / LIST_CHUNK)]))).size, 0);
        expect(plan.sampled).toBe(false);
        expect(listedChunks(blocks, plan), `${file} n=${n} ${bq}x${bk}`).toBe(want);
      }),
      { numRuns: 30, seed: 7 },
    );
  });

  it("price a data-dependent pattern's tile lists as part of its index building, and nothing for a positional one", () => {
    const run = (file: string) => simulate([{ ir: examplePattern(file), file, seqLens: [4096] }], { device, heads: 2 }).patterns[0].lengths[0];
    const l = run("block_topk.spattn");
    const lists = l.indexBuilders.find((b) => /tile lists/.test(b.what));
    expect(lists?.fp32Flops).toBeGreaterThan(0);
    // A box a chunk of each row (2 heads, 32 query tiles, 64 key tiles: 2 chunks), at least one walked chunk a row.
    const boxes = Number(/\((\d+) box evaluations\)/.exec(lists!.what)![1]);
    expect(boxes).toBeGreaterThanOrEqual(2 * 32 * 2 + 32 * 2 * 32);
    expect(boxes).toBeLessThanOrEqual(2 * 32 * 2 + 32 * 2 * 32 * 2);
    expect(run("sliding_window.spattn").indexBuilders).toEqual([]);
  });
});

describe("simulate counts tiles and pairs exactly", () => {
  for (const file of EXAMPLES) {
    it(`${file}: per-head tile counts and token density equal brute force`, () => {
      fc.assert(
        fc.property(sizes(file), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 3 }), ({ set, n }, bq, bk, heads) => {
          const ir = examplePattern(file, set);
          const h = ir.heads ?? heads;
          const data = isDynamic(ir) ? { q: randomTensor(h, n, 8, n + 1), k: randomTensor(h, n, 8, n + 2) } : {};
          const report = simulate([{ ir, file, seqLens: [n], ...data }], { device, heads: h, blockQ: bq, blockK: bk });
          const l = report.patterns[0].lengths[0];
          const dense = buildDenseMask(ir, { seqLen: n, heads: h, ...data });
          let allowedAll = 0;
          for (let head = 0; head < h; head++) {
            const at = (q: number, k: number): boolean => dense.data[(head * n + q) * n + k] === 1;
            const table = bruteBlocks(n, bq, bk, at).flat();
            const want = { empty: table.filter((v) => v === 0).length, partial: table.filter((v) => v === 2).length, full: table.filter((v) => v === 1).length };
            const got = l.heads[head];
            expect(got.tiles, `${file} n=${n} ${bq}x${bk} head ${head}`).toEqual(want);
            let allowed = 0;
            for (let i = head * n * n; i < (head + 1) * n * n; i++) allowed += dense.data[i];
            allowedAll += allowed;
            expect(got.tokenDensityExact).toBe(true);
            expect(got.tokenDensity * n * n).toBeCloseTo(allowed, 6);
            expect(got.tileDensity).toBeCloseTo((want.partial + want.full) / table.length, 12);
          }
          expect(l.tokenDensity * h * n * n).toBeCloseTo(allowedAll, 6);
          // The kernel's tiles are those of the kernel-order block mask.
          const km = buildKernelBlockMask(ir, { seqLen: n, heads: h, blockQ: bq, blockK: bk, ...data });
          const partial = km.blocks.perHead.reduce((a, x) => a + x.partial.idx.length, 0);
          const full = km.blocks.perHead.reduce((a, x) => a + x.full.idx.length, 0);
          expect([l.kernelTiles.partial, l.kernelTiles.full]).toEqual([partial, full]);
        }),
        { numRuns: 10, seed: 42 },
      );
    });
  }
});

describe("pair counts past the exact budget", () => {
  it("samples partial rows: the estimate is within four standard errors of the exact count", () => {
    const ir = examplePattern("neighborhood2d.spattn", { height: 48, width: 48, kernel: 7 });
    const n = 48 * 48;
    const ctx = headContexts(ir, { seqLen: n })[0];
    const m = maskEval(ir.mask, ctx);
    const blocks = classifyBlocks(m, n, 64, 64);
    const g = { n, blockQ: 64, blockK: 64 };
    const exact = countPairs(m, blocks, g);
    expect(exact.exact).toBe(true);
    expect(exact.allowed).toBe(n * 49);
    for (const seed of [1, 2, 3]) {
      const est = countPairs(m, blocks, g, { exactRows: 0, samples: 2000, seed });
      expect(est.exact).toBe(false);
      expect(est.stdErr).toBeGreaterThan(0);
      expect(Math.abs(est.allowed - exact.allowed)).toBeLessThan(4 * est.stdErr);
    }
  });

  it("reports a sampled density as such, in the report and its totals", () => {
    const ir = examplePattern("dilated.spattn", { window: 64, dilation: 3 });
    const r = simulate([{ ir, file: "dilated.spattn", seqLens: [512] }], { device, heads: 2, pairs: { exactRows: 0, samples: 500, seed: 1 } });
    const l = r.patterns[0].lengths[0];
    expect(l.tokenDensityExact).toBe(false);
    expect(l.tokenDensityStdErr).toBeGreaterThan(0);
    expect(r.assumptions.some((a) => a.includes("sampled"))).toBe(true);
  });
});

describe("row sampling past the classification budget", () => {
  const ir = examplePattern("strided.spattn", { stride: 64 });
  const n = 4096;
  const g = { n, blockQ: 128, blockK: 64 };
  const m = maskEval(ir.mask, headContexts(ir, { seqLen: n })[0]);
  const exact = classifyBlocks(m, n, 128, 64);
  const exactCounts = { partial: exact.partial.idx.length, full: exact.full.idx.length };

  it("classifies every row within the budget, exactly", () => {
    const { blocks, plan } = classifyPlanned(m, g, 16);
    expect(plan.sampled).toBe(false);
    expect(plannedTileCounts(blocks, g, plan)).toMatchObject(exactCounts);
  });

  it("past it, classifies evenly spaced rows that each stand for their run, close to the exact counts", () => {
    const { blocks, plan } = classifyPlanned(m, g, 16, { maxWork: 8_000, probes: 9 });
    expect(plan.sampled).toBe(true);
    const nqb = n / 128;
    const classified = [...plan.mult].filter((x) => x > 0).length;
    expect(classified).toBeLessThan(nqb / 2);
    expect([...plan.mult].reduce((a, b) => a + b, 0)).toBe(nqb);
    // Rows not classified have empty lists; each row's work is its representative's.
    const work = rowWork(blocks, plan);
    expect(work.partial).toHaveLength(nqb);
    for (let i = 0; i < nqb; i++) expect(work.partial[i]).toBe(blocks.partial.ptr[plan.rep[i] + 1] - blocks.partial.ptr[plan.rep[i]]);
    const counts = plannedTileCounts(blocks, g, plan);
    expect(Math.abs(counts.partial - exactCounts.partial) / exactCounts.partial).toBeLessThan(0.02);
    expect(counts.empty + counts.partial + counts.full).toBe(nqb * (n / 64));
    const pairs = countPairs(m, blocks, g, { exactRows: 1 << 30, samples: 1, seed: 1 }, plan);
    expect(pairs.exact).toBe(false);
    const truth = countPairs(m, exact, g, { exactRows: 1 << 30, samples: 1, seed: 1 });
    expect(Math.abs(pairs.allowed - truth.allowed) / truth.allowed).toBeLessThan(0.02);
  });

  it("says so in the report", () => {
    const r = simulate([{ ir, file: "strided.spattn", seqLens: [n] }], { device, heads: 1, plan: { maxWork: 8_000, probes: 9 } });
    expect(r.patterns[0].lengths[0].tilesExact).toBe(false);
    expect(r.patterns[0].lengths[0].heads[0].tilesExact).toBe(false);
    expect(r.assumptions.some((a) => a.includes("tile counts are marked as sampled"))).toBe(true);
  });
});

describe("the block-mask picture", () => {
  it("is the tile table itself when it has room, and fractions of tiles when downsampled", () => {
    const ir = examplePattern("sliding_window.spattn", { window: 100 });
    const n = 1000;
    const m = maskEval(ir.mask, headContexts(ir, { seqLen: n })[0]);
    const blocks = classifyBlocks(m, n, 50, 50);
    const table = bruteBlocks(n, 50, 50, m.point);
    const big = blockMap(blocks, { n, blockQ: 50, blockK: 50 }, 64);
    expect([big.rows, big.cols]).toEqual([20, 20]);
    expect(big.full).toEqual(table.flat().map((v) => (v === 1 ? 1 : 0)));
    expect(big.partial).toEqual(table.flat().map((v) => (v === 2 ? 1 : 0)));
    const small = blockMap(blocks, { n, blockQ: 50, blockK: 50 }, 5);
    expect([small.rows, small.cols]).toEqual([5, 5]);
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 5; c++) {
        const cells = table.slice(4 * r, 4 * r + 4).flatMap((row) => row.slice(4 * c, 4 * c + 4));
        expect(small.full[r * 5 + c]).toBeCloseTo(cells.filter((v) => v === 1).length / 16, 2);
        expect(small.partial[r * 5 + c]).toBeCloseTo(cells.filter((v) => v === 2).length / 16, 2);
      }
    }
  });
});
