// The WGSL index builders (backends/wgsl/select.ts, route.ts, vslash.ts) on SwiftShader: the kept
// blocks of every example's selections (top-k and top-p, seeded or pooled), the clusters of its
// routing and the columns and diagonals of its vertical-slash steps, bit-identical to the CPU's,
// at N a multiple of the block or not, with every score tied; and attention with the arrays
// built on the device equals attention with the CPU's.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Tensor4 } from "../../compiler/blockmask/build.js";
import { compile } from "../../compiler/compile.js";
import { patternSpec } from "../../backends/wgsl/spec.js";
import { runAttention, runIndexBuilders, runMaskGenerators } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice, type DeviceInfo } from "../../runtime/webgpu/device.js";
import { dynByName } from "../../runtime/webgpu/run.js";
import { examplePattern, randomTensor } from "../helpers.js";

const same = (a: ArrayBufferView, b: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Every key block a copy of the first: every pooled score of a query block ties. */
function repeatedBlocks(t: Tensor4, block: number): Tensor4 {
  const [, h, n, d] = t.shape;
  const data = Float32Array.from(t.data);
  for (let x = 0; x < h; x++) for (let r = block; r < n; r++) for (let c = 0; c < d; c++) data[(x * n + r) * d + c] = data[(x * n + (r % block)) * d + c];
  return { shape: t.shape, data };
}

describe("WGSL index builders", () => {
  let info: DeviceInfo;
  beforeAll(async () => {
    info = await requestDevice();
  }, 60_000);
  afterAll(() => info && releaseDevice(info));

  // MInference's counts made small enough that the ranking, not the forced prefix, decides.
  const SET: Record<string, Record<string, number>> = { "minference.spattn": { verticals: 40, slashes: 150, last: 32 } };
  for (const file of ["block_topk.spattn", "hierarchical_topk.spattn", "moba.spattn", "nsa.spattn", "bigbird.spattn", "cumulative_mass.spattn", "routing.spattn", "minference.spattn"]) {
    it(`${file}: kept blocks, clusters or columns and diagonals identical to the CPU's`, async () => {
      const ir = examplePattern(file, SET[file] ?? {});
      for (const [n, d, ties] of [[300, 16, false], [1000, 64, false], [640, 32, true]] as const) {
        const heads = 2;
        const q = randomTensor(heads, n, d, 1);
        const k0 = randomTensor(heads, n, d, 2);
        const k = ties ? repeatedBlocks(k0, ir.selections[0]?.kblock ?? 16) : k0;
        const cpu = dynByName(ir, heads, n, q, k);
        const gpu = await runIndexBuilders(info.device, patternSpec(ir, d), q.data as Float32Array, k.data as Float32Array, { heads, n, d });
        for (const f of Object.keys(cpu)) expect(same(gpu[f], cpu[f]), `${file} N=${n} D=${d}${ties ? " ties" : ""} ${f}`).toBe(true);
      }
    }, 120_000);
  }

  it("asks for the arrays where it cannot build them: mask generators alone, and grouped K heads", async () => {
    const ir = examplePattern("block_topk.spattn");
    const spec = patternSpec(ir, 16);
    const x = randomTensor(2, 100, 16, 1).data as Float32Array;
    const kv = randomTensor(1, 100, 16, 2).data as Float32Array;
    await expect(runMaskGenerators(info.device, spec, { n: 100, heads: 2, blockQ: 16, blockK: 16 })).rejects.toThrow(/reads data-dependent arrays \(sel0_kept\): pass them/);
    await expect(runAttention(info.device, spec, x, kv, kv, { heads: 2, kvHeads: 1, n: 100 })).rejects.toThrow(/one K head per query head \(2\), got 1/);
  });

  it("attention builds the arrays on the device when none are passed, equal to the CPU's", async () => {
    const ir = compile("pattern p() {\n  let s = topk(3, block: 32, among: kb < qb, always: kb == qb)\n  mask s and causal\n}");
    const heads = 2;
    const n = 200;
    const [q, k, v] = [1, 2, 3].map((s) => randomTensor(heads, n, 16, s));
    const spec = patternSpec(ir, 16);
    const shape = { heads, kvHeads: heads, n };
    const onDevice = await runAttention(info.device, spec, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, shape);
    const fromCpu = await runAttention(info.device, spec, q.data as Float32Array, k.data as Float32Array, v.data as Float32Array, shape, { dyn: dynByName(ir, heads, n, q, k) });
    expect(same(onDevice.out, fromCpu.out)).toBe(true);
  });
});
