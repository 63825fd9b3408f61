// The cost model on cases worked by hand, the device models' validation, and the shape of
// the numbers simulate reports (bounds over estimates, trends with N).
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SpattnError } from "../../compiler/diagnostics.js";
import { ctaLoopUs, ctaShape, PLAIN_PATH, scheduleDense, scheduleKernel, SHORT_MAX_ENTRIES, SHORT_MAX_WAVES, shortLoopUs, tileUs, type Problem } from "../../backends/simulator/cost.js";
import { deviceNames, loadDevice, parseDevice, type DeviceModel } from "../../backends/simulator/device.js";
import { simulate } from "../../backends/simulator/simulate.js";
import { examplePattern } from "../helpers.js";

const h100 = loadDevice("h100");

/** A toy device: `sms` SMs, a full 2 x 2 tile (D = 1) takes 1 us, 1 us of overhead per CTA. */
function toy(sms: number, extra: Partial<DeviceModel["kernel"]> = {}): DeviceModel {
  const flopsPerTile = 2 * 2 * 2 * 2;
  return { ...h100, sms, matmulTflops: (flopsPerTile * sms) / 1e6, kernel: { mainloopEfficiency: 1, ctaOverheadUs: 1, partialTileCost: 2, dataPartialTileCost: 3, launchUs: 0, stepKeys: 2, mappedTileCost: 1.5, ...extra } };
}
const P: Problem = { seqLen: 8, heads: 1, kvHeads: 1, dim: 1, dimV: 1, blockQ: 2, blockK: 2, bytesPerElement: 2 };
const work = (full: number[], partial: number[]) => ({ full: Int32Array.from(full), partial: Int32Array.from(partial) });

describe("the kernel schedule", () => {
  it("prices a tile from the device's sustained rate", () => {
    expect(tileUs(toy(3), P)).toBeCloseTo(1, 12);
    // H100: a 128 x 128 tile at D = 128 is the trace's 1.75 us step.
    expect(tileUs(h100, { ...P, blockQ: 128, blockK: 128, dim: 128, dimV: 128 })).toBeCloseTo(1.75, 2);
  });

  it("weights partial, data-reading and gathered tiles, and pairs narrow entries into steps", () => {
    const d = toy(1);
    expect(ctaLoopUs(d, P, 3, 0, PLAIN_PATH)).toBe(3);
    expect(ctaLoopUs(d, P, 1, 2, PLAIN_PATH)).toBe(3 + 2);
    expect(ctaLoopUs(d, P, 1, 2, { ...PLAIN_PATH, dataPredicate: true })).toBe(3 + 4);
    expect(ctaLoopUs(d, P, 2, 0, { ...PLAIN_PATH, mapped: true })).toBe(3);
    // 64-key entries in 128-key steps: 3 entries take 2 steps, as 4 entries do.
    const wide = toy(1, { stepKeys: 4 });
    expect(ctaLoopUs(wide, P, 3, 0, PLAIN_PATH)).toBe(4);
    expect(ctaLoopUs(wide, P, 4, 0, PLAIN_PATH)).toBe(4);
  });

  it("hands CTAs in launch order to the first free SM", () => {
    // Two SMs; CTA times 1 + tiles: 4, 2, 2, 2. SM0: 4; SM1: 2, 4, then SM0 (free at 4): 6.
    const s = scheduleKernel(toy(2), P, [work([3, 1, 1, 1], [0, 0, 0, 0])]);
    expect(s.ms * 1000).toBeCloseTo(6, 9);
    expect(s.ctas).toBe(4);
    expect(s.waves).toBe(2);
    expect(s.smUtilization).toBeCloseTo(10 / 12, 12);
    expect(s.slowestCtaUs).toBe(4);
    expect(s.loadImbalance).toBeCloseTo(4 / 2.5, 12);
  });

  it("runs heads after one another, query tiles fastest", () => {
    // One SM: everything in sequence, whatever the order.
    const s = scheduleKernel(toy(1), P, [work([1], [0]), work([0], [1])]);
    expect(s.ms * 1000).toBeCloseTo(2 + 3, 9);
  });

  it("runs 64-row CTAs two per SM, each half of a tile with the tile's list", () => {
    // One SM, two slots; a half costs 2 + 1.5 per full entry, 1.5 x 2 per partial one (x 3 reading data).
    const d = toy(1, { shortShape: { ctaOverheadUs: 2, entryCost: 1.5, dataPartialTileCost: 3, keptEntryCost: 2 } });
    const s = scheduleKernel(d, P, [work([2, 0], [0, 1])], PLAIN_PATH, "short");
    // Halves of row 0 (5 us each) on both slots, then row 1's (5 us each) on both: 10 us.
    expect(s.ms * 1000).toBeCloseTo(10, 9);
    expect([s.ctas, s.ctaRows, s.waves]).toEqual([4, 1, 2]);
    expect(s.smUtilization).toBeCloseTo(1, 12);
    expect(shortLoopUs(d, P, 0, 1, { ...PLAIN_PATH, dataPredicate: true })).toBeCloseTo(4.5, 12);
    expect(() => scheduleKernel(toy(1), P, [work([1], [0])], PLAIN_PATH, "short")).toThrow(/no short CTA shape/);
  });

  it("runs each 64-row half's own entries where a selection splits the tiles", () => {
    // The halves' lists (3 rows of halves here) replace the tiles': a half costs 2 + 1.5 x 2 per entry.
    const d = toy(1, { shortShape: { ctaOverheadUs: 2, entryCost: 1.5, dataPartialTileCost: 3, keptEntryCost: 2 } });
    const path = { ...PLAIN_PATH, dataPredicate: true, selectionSplitsTiles: true };
    const s = scheduleKernel(d, P, [work([2, 0], [0, 1])], path, "short", [work([1, 0, 2], [1, 0, 0])]);
    // Halves of 8, 2 and 8 us on two slots: 8 | 2 + 8 -> 10 us.
    expect(s.ms * 1000).toBeCloseTo(10, 9);
    expect([s.ctas, s.ctaRows]).toEqual([3, 1]);
    // Without a selection that splits the tiles the halves are not used.
    expect(scheduleKernel(d, P, [work([2, 0], [0, 1])], PLAIN_PATH, "short", [work([1, 0, 2], [1, 0, 0])]).ctas).toBe(4);
  });

  it("uses the generated launcher's limits for the short shape", () => {
    const launcher = readFileSync("backends/cuda/templates/attention_sm90.cuh", "utf8");
    expect(launcher).toContain(`constexpr int SHORT_ENTRIES = ${SHORT_MAX_ENTRIES}, SHORT_WAVES = ${SHORT_MAX_WAVES};`);
  });

  it("picks the CTA shape as the sm_90a launch does", () => {
    const d = toy(2, { shortShape: { ctaOverheadUs: 1, entryCost: 1, dataPartialTileCost: 1, keptEntryCost: 1 } });
    const rows = (n: number, full: number) => [work(Array(n).fill(full), Array(n).fill(0))];
    expect(SHORT_MAX_ENTRIES).toBe(8);
    expect(ctaShape(d, rows(16, 8), PLAIN_PATH)).toBe("short");  // 8 entries, 8 waves
    expect(ctaShape(d, rows(16, 9), PLAIN_PATH)).toBe("long");  // a list of 9
    expect(ctaShape(d, rows(16, 12), PLAIN_PATH)).toBe("long");  // 12: long since the consumers' turns (bench v14)
    expect(ctaShape(d, rows(17, 8), PLAIN_PATH)).toBe("long");  // more than 8 waves
    expect(ctaShape(d, rows(17, 40), { ...PLAIN_PATH, selectionSplitsTiles: true })).toBe("short");
    expect(ctaShape(d, rows(1, 1), { ...PLAIN_PATH, mapped: true })).toBe("long");  // token maps: cp.async, 128 rows
    expect(ctaShape(d, rows(1, 1), { ...PLAIN_PATH, kernelTiles: false })).toBe("long");
    expect(ctaShape(toy(2), rows(1, 1), PLAIN_PATH)).toBe("long");  // no short shape on this device
  });

  it("gives dense attention whole waves of identical CTAs, as the general schedule does", () => {
    const d = toy(3);
    const p = { ...P, heads: 2 };
    const full = work([4, 4, 4, 4], [0, 0, 0, 0]);
    expect(scheduleDense(d, p).ms).toBeCloseTo(scheduleKernel(d, p, [full, full]).ms, 12);
    expect(scheduleDense(d, p).ms * 1000).toBeCloseTo(3 * 5, 9);
  });
});

describe("device models", () => {
  it("every bundled model loads, with a source for every number", () => {
    expect(deviceNames()).toEqual(expect.arrayContaining(["a100", "h100", "h200", "rtx4090"]));
    for (const name of deviceNames()) {
      const d = loadDevice(name);
      expect(d.name).toBe(name);
      expect(Object.keys(d.sources).length).toBe(6 + 7 + (d.kernel.shortShape ? 4 : 0));
    }
    // The H100 entry is what the lent GPU measured.
    expect([h100.matmulTflops, h100.bandwidthTBs, h100.sms]).toEqual([790, 3.0, 132]);
  });

  const bad = (text: string): string => {
    try {
      parseDevice(text, "my.json");
    } catch (e) {
      expect(e).toBeInstanceOf(SpattnError);
      const d = (e as SpattnError).diagnostics[0];
      return `${d.fileName}:${d.loc.line}:${d.loc.col}: ${d.message}`;
    }
    throw new Error("accepted a bad model");
  };

  it("refuses bad files with the file, line and column", () => {
    const good = JSON.stringify({ ...h100 }, null, 2);
    expect(bad(good.replace('"sms": 132', '"sms": -4'))).toMatch(/^my\.json:4:3: 'sms' must be a positive number, got -4/);
    expect(bad(good.replace('"mainloopEfficiency": 0.8', '"mainloopEfficiency": 80'))).toMatch(/mainloopEfficiency' is a fraction/);
    expect(bad(good.replace(/"kernel\.launchUs": "[^"]*",?/, ""))).toMatch(/no entry for 'kernel.launchUs'/);
    expect(bad("{\n  \"name\": \"x\",\n  oops\n}")).toMatch(/^my\.json:3:3: not valid JSON/);
  });

  it("loads a model from a path, and names the known ones for an unknown name", () => {
    const dir = mkdtempSync(join(tmpdir(), "spattn-device-"));
    const file = join(dir, "mine.json");
    writeFileSync(file, JSON.stringify({ ...h100, name: "mine", sms: 2 }));
    expect(loadDevice(file).sms).toBe(2);
    expect(() => loadDevice("tpu")).toThrow(/unknown device 'tpu' \(known: a100, h100, h200, rtx4090/);
  });
});

describe("shared memory", () => {
  it("warns when the tile cannot fit the device's shared memory", () => {
    const warns = (device: DeviceModel, blockQ: number, dim: number): boolean =>
      simulate([{ ir: examplePattern("causal.spattn"), file: "causal.spattn", seqLens: [1024] }], { device, heads: 1, blockQ, blockK: 64, dim }).assumptions.some((a) => a.startsWith("Warning: a "));
    const rtx = loadDevice("rtx4090");
    expect(warns(rtx, 128, 128)).toBe(false); // 96 KiB of 100
    expect(warns(rtx, 128, 256)).toBe(true);
    expect(warns(h100, 128, 256)).toBe(false);
  });
});

describe("simulated speedups", () => {
  const run = (file: string, set: Record<string, number>, seqLens: number[]) => simulate([{ ir: examplePattern(file, set), file, seqLens }], { device: h100, heads: 16 }).patterns[0].lengths;

  it("causal: half the tiles, so the bound tends to 2 and the estimate stays under it", () => {
    const ls = run("causal.spattn", {}, [4096, 65536]);
    expect(ls[1].speedupBound).toBeGreaterThan(1.95);
    expect(ls[1].speedupBound).toBeLessThanOrEqual(2);
    for (const l of ls) expect(l.speedupEstimate).toBeLessThan(l.speedupBound);
    expect(ls[0].tokenDensity).toBeCloseTo((4096 + 1) / (2 * 4096), 9);
  });

  it("a sliding window gains with N, and its dense time grows as N^2", () => {
    const ls = run("sliding_window.spattn", { window: 1024 }, [8192, 32768, 65536]);
    expect(ls[0].speedupEstimate).toBeLessThan(ls[1].speedupEstimate);
    expect(ls[1].speedupEstimate).toBeLessThan(ls[2].speedupEstimate);
    const growth = ls[2].timeMs.dense / ls[1].timeMs.dense;
    expect(growth).toBeGreaterThan(3.8);
    expect(growth).toBeLessThan(4.1);
    expect(ls[2].indexBuilders).toEqual([]);
  });

  it("a data-dependent pattern pays for its index building, and says its data was synthetic", () => {
    const r = simulate([{ ir: examplePattern("block_topk.spattn"), file: "block_topk.spattn", seqLens: [8192] }], { device: h100, heads: 4 });
    const l = r.patterns[0].lengths[0];
    expect(r.patterns[0].data).toBe("synthetic");
    expect(l.timeMs.indexBuild).toBeGreaterThan(0);
    expect(l.indexBuilders.map((b) => b.what)).toEqual(expect.arrayContaining([expect.stringMatching(/mean pooling/)]));
    expect(l.speedupEstimate).toBeCloseTo(l.timeMs.dense / (l.timeMs.sparse + l.timeMs.indexBuild), 9);
    expect(r.assumptions.some((a) => a.includes("synthetic Gaussian"))).toBe(true);
  });

  it("costs top-k scores on tensor cores where the CUDA builder filters, and top-p scores in float64", () => {
    const steps = (file: string) =>
      simulate([{ ir: examplePattern(file), file, seqLens: [8192] }], { device: h100, heads: 4 }).patterns[0].lengths[0].indexBuilders;
    const topk = steps("block_topk.spattn").find((b) => /block scores/.test(b.what))!;
    const nb = 8192 / 64;
    expect(topk.tensorFlops).toBe(4 * nb * nb * 3 * 2 * 128);  // three bf16 products a pair
    expect(topk.fp32Flops + topk.fp64Flops).toBe(0);
    const topp = steps("cumulative_mass.spattn").find((b) => /block scores/.test(b.what))!;
    expect(topp.fp32Flops + topp.tensorFlops).toBe(0);
    expect(topp.fp64Flops).toBeGreaterThan(0);
  });

  it("never beats the roofline: on a device with little bandwidth, the times are the bytes'", () => {
    const slow = { ...h100, bandwidthTBs: 0.001 };
    const [l] = simulate([{ ir: examplePattern("sliding_window.spattn", { window: 64 }), file: "sliding_window.spattn", seqLens: [8192] }], { device: slow, heads: 4 }).patterns[0].lengths;
    expect(l.timeMs.sparse).toBe(l.timeMs.sparseRoofline);
    expect(l.timeMs.sparseRoofline).toBeCloseTo((l.bytes.sparse / 1e9) * 1e3, 6);
    expect(l.schedule.ms).toBeLessThan(l.timeMs.sparse);
  });

  it("dilation runs in residue-class order: fewer kernel tiles than sequence-order tiles", () => {
    const [l] = run("dilated.spattn", { window: 8192, dilation: 4 }, [8192]);
    expect(l.kernelTiles.partial + l.kernelTiles.full).toBeLessThan(l.tiles.partial + l.tiles.full);
  });

  it("per-head numbers differ where heads do (mixed heads)", () => {
    const r = simulate([{ ir: examplePattern("mixed_heads.spattn"), file: "mixed_heads.spattn", seqLens: [4096] }], { device: h100 });
    const hs = r.patterns[0].lengths[0].heads;
    expect(hs).toHaveLength(4);
    expect(hs[0].tokenDensity).toBe(hs[1].tokenDensity);
    expect(hs[0].tokenDensity).not.toBe(hs[2].tokenDensity);
    expect(hs[2].tiles).toEqual(hs[3].tiles);
  });
});
