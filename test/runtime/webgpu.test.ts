// The WebGPU runtime on a real WebGPU implementation: Dawn with SwiftShader's Vulkan driver on
// machines without a GPU (CI installs Debian's chromium for it). No adapter is a failure, not a
// skip. Every example, and the edge sizes, against the float64 reference.
import { beforeAll, describe, expect, it } from "vitest";
import { maskRows, type Tensor4 } from "../../compiler/blockmask/build.js";
import { compile } from "../../compiler/compile.js";
import type { PatternIR, Value } from "../../compiler/ir.js";
import { referenceAttention } from "../../runtime/reference.js";
import { requestDevice, WebGpuRuntimeError, type DeviceInfo } from "../../runtime/webgpu/device.js";
import { bufferLayout, canUseSubgroups, keysPerTile, pipelineFor, runAttention, runMaskGenerators } from "../../backends/wgsl/templates/host.js";
import { patternSpec } from "../../backends/wgsl/spec.js";
import { dynByName, runWebGpu } from "../../runtime/webgpu/run.js";
import { buildBlockMask, buildDenseMask } from "../../compiler/blockmask/build.js";
import { dependsOnHead } from "../../compiler/ir.js";
import { blocksTable } from "../helpers.js";
import { EXAMPLES, examplePattern, randomTensor } from "../helpers.js";

const examples = EXAMPLES;

/** Small grids for the layout examples, so SwiftShader runs them in CI time. */
const SMALL: Record<string, Record<string, Value>> = {
  "neighborhood2d.spattn": { height: 12, width: 11, kernel: 5 },
  "video3d.spattn": { frames: 3, height: 8, width: 9, kernel: 5 },
};

const mainPattern = (file: string) => examplePattern(file, SMALL[file] ?? {});

/** Runs on the GPU and on the float64 reference; returns the worst errors. */
async function compare(info: DeviceInfo, ir: PatternIR, heads: number, n: number, d: number, kvHeads = heads, seed = 1, subgroups?: boolean, f16 = false, splitTiles?: number) {
  const q = randomTensor(heads, n, d, seed);
  const k = randomTensor(kvHeads, n, d, seed + 1);
  const v = randomTensor(kvHeads, n, d, seed + 2);
  const got = await runWebGpu(info.device, ir, q, k, v, { subgroups, f16, splitTiles });
  const rows = maskRows(ir, { seqLen: n, heads, q: qk(q, heads), k: qk(k, heads) });
  const ref = referenceAttention({ q: q.data, k: k.data, v: v.data, heads, kvHeads, seqLen: n, headDim: d }, rows.row);
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.out.length; i++) {
    num += (got.out[i] - ref.out[i]) ** 2;
    den += ref.out[i] ** 2;
  }
  let lseErr = 0;
  let emptyRows = 0;
  let emptyWrong = 0;
  for (let r = 0; r < heads * n; r++) {
    if (ref.lse[r] === -Infinity) {
      emptyRows++;
      const zeros = got.out.subarray(r * d, (r + 1) * d).every((x) => x === 0);
      if (got.lse[r] !== -Infinity || !zeros) emptyWrong++;
    } else {
      lseErr = Math.max(lseErr, Math.abs(got.lse[r] - ref.lse[r]) / Math.max(1, Math.abs(ref.lse[r])));
    }
  }
  const nan = got.out.some((x) => Number.isNaN(x)) || got.lse.some((x) => Number.isNaN(x));
  return { rel: den > 0 ? Math.sqrt(num / den) : Math.sqrt(num), lseErr, emptyRows, emptyWrong, nan };
}

/** The dynamic steps read Q and K with one head per query head (GQA repeats K's heads). */
function qk(t: Tensor4, heads: number): Tensor4 {
  const [, h, n, d] = t.shape;
  if (h === heads) return t;
  const data = new Float32Array(heads * n * d);
  for (let i = 0; i < heads; i++) data.set(t.data.subarray((i / (heads / h)) * n * d, (i / (heads / h) + 1) * n * d), i * n * d);
  return { shape: [1, heads, n, d], data };
}

describe("webgpu runtime", () => {
  let info: DeviceInfo;
  beforeAll(async () => {
    info = await requestDevice();
  }, 60_000);

  it("has an adapter (SwiftShader without a GPU) and a device with the adapter's limits", () => {
    expect(info.adapter).toBeTruthy();
    expect(info.device.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    // SwiftShader's subgroups have 4 invocations: both shader variants run below.
    if (/SwiftShader/.test(info.adapter)) expect(canUseSubgroups(info.device)).toBe(true);
  });

  for (const file of examples) {
    it(`${file}: matches the float64 reference, with and without subgroups (and K, V in f16 where the device has it)`, async () => {
      const ir = mainPattern(file);
      const heads = ir.heads ?? 2;
      const n = ir.layout ? ir.layout.reduce((a, x) => a * x.size, 1) : 150;
      // f16 only where the adapter offers it (a GPU; not SwiftShader, whose refusal is tested below).
      const halves = info.device.features.has("shader-f16") ? [false, true] : [false];
      for (const subgroups of canUseSubgroups(info.device) ? [false, true] : [false])
        for (const f16 of halves) {
          const r = await compare(info, ir, heads, n, 16, heads, 1, subgroups, f16);
          // K and V rounded to f16 (11 significant bits) cost about 1e-3 of O; lse likewise.
          const tol = f16 ? 5e-3 : 1e-4;
          expect(r.nan).toBe(false);
          expect(r.rel, `subgroups ${subgroups} f16 ${f16}`).toBeLessThan(tol);
          expect(r.lseErr, `subgroups ${subgroups} f16 ${f16}`).toBeLessThan(tol);
          expect(r.emptyWrong).toBe(0);
        }
    }, 60_000);
  }

  for (const file of examples) {
    it(`${file}: the mask generator shaders give the compiler's dense mask, block classes and lists`, async () => {
      const ir = mainPattern(file);
      const heads = ir.heads ?? 2;
      const n = ir.layout ? ir.layout.reduce((a, x) => a * x.size, 1) : 150;
      const q = randomTensor(heads, n, 16, 1);
      const k = randomTensor(heads, n, 16, 2);
      const dyn = dynByName(ir, heads, n, q, k);
      const tileHeads = dependsOnHead(ir) ? heads : 1;
      const spec = patternSpec(ir, 16);
      for (const [bq, bk] of [[16, 16], [32, 8], [128, 128]]) {
        const got = await runMaskGenerators(info.device, spec, { n, heads: tileHeads, blockQ: bq, blockK: bk, dyn, dense: bq === 16 });
        if (got.dense) expect(Buffer.from(got.dense).equals(Buffer.from(buildDenseMask(ir, { seqLen: n, heads: tileHeads, q, k }).data))).toBe(true);
        const cpu = buildBlockMask(ir, { seqLen: n, heads: tileHeads, q, k, blockQ: bq, blockK: bk });
        const nqt = Math.ceil(n / bq);
        const nkt = Math.ceil(n / bk);
        for (let h = 0; h < tileHeads; h++) {
          const want = blocksTable(cpu.perHead[h], nqt, nkt);
          // The CPU tables number partial 2 and full 1, as the shader does.
          const table = Array.from({ length: nqt }, (_, i) => Array.from(got.classes.subarray((h * nqt + i) * nkt, (h * nqt + i + 1) * nkt)));
          expect(table, `${file} ${bq}x${bk} head ${h}`).toEqual(want);
          for (let i = 0; i < nqt; i++) {
            const t = got.tiles;
            const row = h * nqt + i;
            const partial = Array.from(t.kvIdx.subarray(row * t.stride, row * t.stride + t.kvNum[row]));
            const full = Array.from(t.fullIdx.subarray(row * t.stride, row * t.stride + t.fullNum[row]));
            const hb = cpu.perHead[h];
            expect(partial).toEqual(Array.from(hb.partial.idx.subarray(hb.partial.ptr[i], hb.partial.ptr[i + 1])));
            expect(full).toEqual(Array.from(hb.full.idx.subarray(hb.full.ptr[i], hb.full.ptr[i + 1])));
          }
        }
      }
      // Attention on the lists the device built equals attention on the CPU's.
      const v = randomTensor(heads, n, 16, 3);
      const a = await runWebGpu(info.device, ir, q, k, v);
      const b = await runWebGpu(info.device, ir, q, k, v, { lists: "gpu" });
      expect(Buffer.from(b.out.buffer).equals(Buffer.from(a.out.buffer))).toBe(true);
    }, 60_000);
  }

  it("edge sizes N = 1, 63, 64, 65, 256, 512 on the causal diagonal and a sliding window", async () => {
    for (const src of ["pattern p() { mask causal }", "pattern p(w = 40) { mask causal and q - k < w }"]) {
      const ir = compile(src);
      for (const n of [1, 63, 64, 65, 256, 512]) {
        const r = await compare(info, ir, 2, n, 32);
        expect(r.nan, `${src} N=${n}`).toBe(false);
        expect(r.rel, `${src} N=${n}`).toBeLessThan(1e-4);
        expect(r.lseErr, `${src} N=${n}`).toBeLessThan(1e-4);
      }
    }
  }, 120_000);

  it("reads a selection once per key tile where its key blocks cover whole tiles, per pair where not; both exact", async () => {
    // Partial tiles (the causal diagonal, the window's edge) where the kept value is true and where it is false.
    const src = "pattern p(block = 8) { let kept = topk(2, block: block, among: kb < qb, always: kb == qb)\n mask causal and (kept or q - k < 20) }";
    for (const block of [8, 32]) {
      const ir = compile(src, { set: { block: String(block) } });
      const bk = keysPerTile(info.device, patternSpec(ir, 16));
      const shader = patternSpec(ir, 16).attention(bk, false, false)!.wgsl;
      // Blocks of 32 keys hold whole 16-key tiles: the kept read moves out of the per-pair predicate.
      expect(shader.includes("sel0_tile: bool"), `block ${block}, ${bk} keys a tile`).toBe(block % bk === 0);
      const r = await compare(info, ir, 2, 150, 16);
      expect(r.nan).toBe(false);
      expect(r.rel, `block ${block}`).toBeLessThan(1e-4);
      expect(r.lseErr, `block ${block}`).toBeLessThan(1e-4);
    }
  }, 60_000);

  it("long lists split into parts and combined: exact for every part size, empty rows and parts included", async () => {
    // Longformer's global rows and columns, the causal diagonal, and rows (q < 40) with no key:
    // with one tile a part every list is split, some parts of a row allow nothing.
    const srcs = ["pattern p() { mask abs(q - k) <= 20 or q < 8 or k < 8 }", "pattern p() { mask causal }", "pattern p() { mask causal and q - k >= 40 }"];
    for (const src of srcs)
      for (const splitTiles of [1, 2, 5]) {
        const ir = compile(src);
        const r = await compare(info, ir, 2, 150, 16, 2, 1, undefined, false, splitTiles);
        expect(r.nan, `${src} ${splitTiles}`).toBe(false);
        expect(r.rel, `${src} ${splitTiles}`).toBeLessThan(1e-4);
        expect(r.lseErr, `${src} ${splitTiles}`).toBeLessThan(1e-4);
        expect(r.emptyWrong, `${src} ${splitTiles}`).toBe(0);
      }
  }, 120_000);

  it("fully masked rows and empty block rows give O = 0 and lse = -inf", async () => {
    // Rows q < 40 see nothing: the first query tiles have no key tile at all, and the tile
    // holding q = 40 is partly empty.
    const ir = compile("pattern p() { mask causal and q - k >= 40 }");
    const r = await compare(info, ir, 2, 100, 16);
    expect(r.emptyRows).toBe(2 * 40);
    expect(r.emptyWrong).toBe(0);
    expect(r.rel).toBeLessThan(1e-4);
  }, 60_000);

  it("head dimension 128 (fewer keys per tile where workgroup storage is small) and grouped K/V heads", async () => {
    const ir = compile("pattern p() { mask causal and (q - k) % 3 != 1 }");
    expect([32, 16, 8]).toContain(keysPerTile(info.device, patternSpec(ir, 128)));
    const r = await compare(info, ir, 4, 70, 128, 2);
    expect(r.rel).toBeLessThan(1e-4);
    expect(r.lseErr).toBeLessThan(1e-4);
  }, 60_000);

  it("times the attention pass on the GPU with timestamp queries where the device has them", async () => {
    if (!info.device.features.has("timestamp-query")) {
      await expect(runAttention(info.device, patternSpec(compile("pattern p() { mask causal }"), 16), new Float32Array(16), new Float32Array(16), new Float32Array(16), { heads: 1, kvHeads: 1, n: 1 }, { timed: true })).rejects.toThrow(/timestamp-query/);
      return;
    }
    const spec = patternSpec(compile("pattern p() { mask causal }"), 16);
    const [q, k, v] = [1, 2, 3].map((s) => randomTensor(2, 200, 16, s).data as Float32Array);
    const got = await runAttention(info.device, spec, q, k, v, { heads: 2, kvHeads: 2, n: 200 }, { timed: true });
    expect(got.gpuMs).toBeGreaterThan(0);
    expect(got.gpuMs).toBeLessThan(60_000);
    const plain = await runAttention(info.device, spec, q, k, v, { heads: 2, kvHeads: 2, n: 200 });
    expect(plain.gpuMs).toBeUndefined();
    expect(Buffer.from(plain.out.buffer).equals(Buffer.from(got.out.buffer))).toBe(true);
  }, 60_000);

  it("stages K and V in f16 only where the device has shader-f16 (then within f16's error)", async () => {
    const ir = compile("pattern p(w = 50) { mask causal and q - k < w }");
    const spec = patternSpec(ir, 32);
    const [q, k, v] = [1, 2, 3].map((s) => randomTensor(2, 120, 32, s).data as Float32Array);
    const shape = { heads: 2, kvHeads: 2, n: 120 };
    if (!info.device.features.has("shader-f16")) {
      // SwiftShader: no f16. The variant is compiled by Dawn's null backend (wgsl-target tests).
      await expect(runAttention(info.device, spec, q, k, v, shape, { f16: true })).rejects.toThrow(/shader-f16/);
      return;
    }
    const exact = await runAttention(info.device, spec, q, k, v, shape);
    const half = await runAttention(info.device, spec, q, k, v, shape, { f16: true });
    let num = 0;
    let den = 0;
    for (let i = 0; i < exact.out.length; i++) {
      num += (half.out[i] - exact.out[i]) ** 2;
      den += exact.out[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(5e-3);
  }, 60_000);

  it("a shader Dawn rejects fails with the generated source line shown", async () => {
    const bad = "@compute @workgroup_size(1)\nfn main() {\n  let x: i32 = 1.5;\n}\n";
    const none = bufferLayout(info.device, []);
    await expect(pipelineFor(info.device, bad, none)).rejects.toThrow(WebGpuRuntimeError);
    await expect(pipelineFor(info.device, bad, none)).rejects.toThrow(/line 3:\d+: .*\n\s*let x: i32 = 1\.5;/);
  });
});
