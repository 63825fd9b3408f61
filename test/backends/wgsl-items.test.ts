// The attention pass's work items (backends/wgsl/templates/host.ts): which lists are split, into
// what parts, in what order, and the table layout the shader reads.
import { describe, expect, it } from "vitest";
import { WGSL_COMBINE_WORDS, WGSL_ITEM_WORDS, WGSL_SPLIT_WORDS } from "../../backends/wgsl/attention.js";
import { type Tiles, workItems } from "../../backends/wgsl/templates/host.js";

/** Lists of the given lengths (all full tiles), one query tile each, shared by the heads. */
function tiles(lens: number[], tileHeads = 1): Tiles {
  const stride = Math.max(1, ...lens);
  return {
    kvNum: new Int32Array(lens.length),
    kvIdx: new Int32Array(lens.length * stride),
    fullNum: Int32Array.from(lens),
    fullIdx: new Int32Array(lens.length * stride),
    stride,
    tileHeads,
    numQTiles: lens.length / tileHeads,
  };
}

const rows = (a: Int32Array, w: number) => Array.from({ length: a.length / w }, (_, i) => Array.from(a.subarray(i * w, (i + 1) * w)));

describe("attention work items", () => {
  it("match the shader's table layout", () => {
    const w = workItems(tiles([3, 100]), 1, 1, 1e9, 40);
    expect(w.items.length % WGSL_ITEM_WORDS).toBe(0);
    expect(w.combine.length % WGSL_COMBINE_WORDS).toBe(0);
    expect(w.split.length).toBe(WGSL_SPLIT_WORDS * 2);
    // Spelled again in host.ts, which has no imports.
    expect([WGSL_ITEM_WORDS, WGSL_COMBINE_WORDS, WGSL_SPLIT_WORDS]).toEqual([5, 4, 2]);
  });

  it("split lists longer than the chunk into near-equal parts: the first for the tile's workgroup, the others as work items, one combine item", () => {
    const w = workItems(tiles([3, 100, 0, 40]), 1, 1, 1e9, 40);
    // 100 entries in 3 parts (0-33, 33-66, 66-100); 40 fits one workgroup.
    expect(rows(w.split, 2)).toEqual([[3, -1], [33, 0], [0, -1], [40, -1]]);
    expect(rows(w.items, 5)).toEqual([[1, 0, 33, 66, 1], [1, 0, 66, 100, 2]]);
    expect(rows(w.combine, 4)).toEqual([[1, 0, 0, 3]]);
    expect(w.slots).toBe(3);
  });

  it("by default split only lists over four times the mean (at least 32 entries): Longformer's global rows, not causal's", () => {
    const longformer = [256, ...Array(255).fill(10)];
    const w = workItems(tiles(longformer), 2, 1, 1e9);
    expect(w.chunk).toBe(Math.max(32, Math.ceil((4 * (256 + 255 * 10)) / 256)));
    expect(rows(w.combine, 4).map((c) => [c[0], c[1], c[3]])).toEqual([[0, 0, 6], [0, 1, 6]]);
    const causal = workItems(tiles(Array.from({ length: 256 }, (_, i) => i + 1)), 8, 1, 1e9);
    expect([causal.slots, causal.split.length, causal.items.length]).toEqual([0, 0, 0]);
  });

  it("use each head's own lists where heads differ", () => {
    const w = workItems(tiles([1, 50, 2, 3], 2), 2, 1, 1e9, 30);
    // Lists [head][query tile]: head 0 has 1 and 50 entries, head 1 has 2 and 3.
    expect(rows(w.split, 2)).toEqual([[1, -1], [25, 0], [2, -1], [3, -1]]);
    expect(rows(w.items, 5)).toEqual([[1, 0, 25, 50, 1]]);
    expect(rows(w.combine, 4)).toEqual([[1, 0, 0, 2]]);
  });

  it("grow the default chunk until the parts fit the device's binding size, and refuse a given one that does not", () => {
    const lens = [1000, 1, 1, 1];
    expect(workItems(tiles(lens), 1, 100, 1e9).slots).toBe(0); // chunk 1003 (4 x the mean 250.75): no split
    const small = workItems(tiles(lens), 1, 100, 1e9, 10);
    expect(small.slots).toBe(100);
    expect(() => workItems(tiles(lens), 1, 100, 5000, 10)).toThrow(/10 tiles per work item need 10000 bytes/);
    const grown = workItems(tiles(Array(64).fill(1).concat([4096])), 1, 100, 1000);
    expect(grown.slots * 100).toBeLessThanOrEqual(1000);
    expect(grown.chunk).toBeGreaterThan(Math.max(32, Math.ceil((4 * (64 + 4096)) / 65)));
  });
});
