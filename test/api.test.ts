// The programmatic API as a user imports it.
import { describe, expect, it } from "vitest";
import { check, compile, deviceNames, loadDevice, mask, parse, renderHtml, renderMarkdown, renderTerminal, simulate, SpattnError } from "../index.js";

describe("api", () => {
  const src = "pattern sw(window: int = 4) { mask causal and q - k < window }";

  it("parses, compiles and builds masks from source or IR", () => {
    expect(parse(src).diagnostics).toEqual([]);
    expect(check(src)).toEqual([]);
    const ir = compile(src, { set: { window: 2 } });
    expect(ir.params).toEqual({ window: 2 });
    const dense = mask(ir, { seqLen: 5, format: "dense" });
    expect(Array.from(dense.data.subarray(4 * 5, 5 * 5))).toEqual([0, 0, 0, 1, 1]);
    const bsr = mask(src, { seqLen: 10, block: 4, set: { window: "2" } });
    expect(bsr.kv_indices[0]).toEqual([[0], [0, 1], [1, 2]]);
    expect(bsr.full_kv_indices[0]).toEqual([[], [], []]);
  });

  it("throws SpattnError with positions for bad patterns", () => {
    try {
      compile("pattern p() {\n  mask q < zz\n}", { fileName: "x.spattn" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SpattnError);
      expect((e as SpattnError).diagnostics[0]).toMatchObject({ fileName: "x.spattn", loc: { line: 2, col: 12 } });
    }
  });

  it("simulates a pattern and renders its reports", () => {
    expect(deviceNames()).toContain("h100");
    const r = simulate([{ ir: compile(src), file: "sw.spattn", seqLens: [1024, 4096] }], { device: loadDevice("h100"), heads: 2 });
    const [short, long] = r.patterns[0].lengths;
    expect(long.tokenDensity).toBeLessThan(short.tokenDensity);
    expect(long.speedupEstimate).toBeGreaterThan(short.speedupEstimate);
    expect(renderHtml(r)).toContain("<svg");
    expect(renderMarkdown(r)).toContain("| sw | 4K |");
    expect(renderTerminal(r)).toMatch(/^pattern/);
  });
});
