// IEEE binary64 in WGSL (backends/wgsl/f64.ts), run on SwiftShader: every result bit-identical to
// JavaScript's doubles (round to nearest even) on random operands: f32 values widened, generic
// doubles, near-cancelling pairs, exponents far apart, zeros of both signs, f32 subnormals; add,
// subtract, multiply, divide (by an integer and in general), square root, widen and compare.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wgslF64 } from "../../backends/wgsl/f64.js";
import { bufferLayout, pipelineFor } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice, type DeviceInfo } from "../../runtime/webgpu/device.js";
import { exp64 } from "../../compiler/blockmask/lib.js";
import { rng } from "../random.js";

const N = 20000;
const OPS = ["add", "sub", "mul", "div_u32", "from_f32", "lt", "div", "sqrt"] as const;

const shader = [
  ...wgslF64(),
  "@group(0) @binding(0) var<storage, read> A: array<vec2u>;",
  "@group(0) @binding(1) var<storage, read> B: array<vec2u>;",
  "@group(0) @binding(2) var<storage, read> F: array<f32>;",
  "@group(0) @binding(3) var<storage, read> C: array<u32>;",
  "@group(0) @binding(4) var<storage, read_write> O: array<vec2u>;",
  "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {",
  "  let i = g.x;",
  `  if (i >= ${N}u) { return; }`,
  "  O[8u * i] = f64_add(A[i], B[i]);",
  "  O[8u * i + 1u] = f64_sub(A[i], B[i]);",
  "  O[8u * i + 2u] = f64_mul(A[i], B[i]);",
  "  O[8u * i + 3u] = f64_div_u32(A[i], C[i]);",
  "  O[8u * i + 4u] = f64_from_f32(F[i]);",
  "  O[8u * i + 5u] = vec2u(select(0u, 1u, f64_lt(A[i], B[i])), 0u);",
  "  if (!f64_is_zero(B[i])) { O[8u * i + 6u] = f64_div(A[i], B[i]); }",
  "  O[8u * i + 7u] = f64_sqrt(vec2u(A[i].x, A[i].y & 0x7fffffffu));",
  "}",
].join("\n");

function operands() {
  const r = rng(7);
  const a = new Float64Array(N);
  const b = new Float64Array(N);
  const f = new Float32Array(N);
  const c = new Uint32Array(N);
  const f32 = () => Math.fround((r() * 2 - 1) * 2 ** Math.floor(r() * 40 - 20));
  for (let i = 0; i < N; i++) {
    switch (i % 5) {
      case 0: a[i] = f32(); b[i] = f32(); break;
      case 1: a[i] = (r() - 0.5) * 1e6; b[i] = (r() - 0.5) * 1e6; break;
      case 2: a[i] = r() * 1000 + 1; b[i] = a[i] * (1 + (r() - 0.5) * 1e-12); break;
      case 3: a[i] = (r() - 0.5) * 2 ** Math.floor(r() * 200 - 100); b[i] = (r() - 0.5) * 2 ** Math.floor(r() * 200 - 100); break;
      default: a[i] = i % 10 === 4 ? 0 : -(r() * 3); b[i] = i % 20 === 4 ? -0 : r() * 3;
    }
    f[i] = i % 97 === 0 ? Math.fround(1e-40 * (i % 3)) : f32();
    c[i] = 1 + Math.floor(r() * 65534);
  }
  return { a, b, f, c };
}

describe("f64 in WGSL", () => {
  let info: DeviceInfo;
  beforeAll(async () => {
    info = await requestDevice();
  }, 60_000);
  afterAll(() => info && releaseDevice(info));

  it("adds, subtracts, multiplies, divides, takes square roots, widens f32 and compares as JavaScript does", async () => {
    const device = info.device;
    const { a, b, f, c } = operands();
    const layout = bufferLayout(device, ["read-only-storage", "read-only-storage", "read-only-storage", "read-only-storage", "storage"]);
    const pipeline = await pipelineFor(device, shader, layout);
    const upload = (d: ArrayBufferView) => {
      const x = device.createBuffer({ size: d.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(x, 0, d.buffer, d.byteOffset, d.byteLength);
      return x;
    };
    const out = device.createBuffer({ size: N * 8 * 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: out.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const bufs = [upload(a), upload(b), upload(f), upload(c), out];
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout, entries: bufs.map((buffer, binding) => ({ binding, resource: { buffer } })) }));
    pass.dispatchWorkgroups(Math.ceil(N / 64));
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, out.size);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const got = new Float64Array(read.getMappedRange().slice(0));
    const words = new Uint32Array(got.buffer);
    const wrong: Record<string, string[]> = {};
    for (let i = 0; i < N; i++) {
      const want = [a[i] + b[i], a[i] - b[i], a[i] * b[i], a[i] / c[i], f[i], a[i] < b[i] ? 1 : 0, b[i] === 0 ? 0 : a[i] / b[i], Math.sqrt(Math.abs(a[i]))];
      OPS.forEach((op, k) => {
        const value = k === 5 ? words[(8 * i + 5) * 2] : got[8 * i + k];
        if (!Object.is(value, want[k])) (wrong[op] ??= []).push(`#${i}: a=${a[i]} b=${b[i]} c=${c[i]} f=${f[i]} got ${value}`);
      });
    }
    for (const x of bufs) x.destroy();
    read.destroy();
    expect(Object.fromEntries(Object.entries(wrong).map(([op, w]) => [op, w.slice(0, 3)]))).toEqual({});
  }, 60_000);

  it("computes the CPU's exp64, floors and widens integers, and flags results outside its range", async () => {
    const device = info.device;
    const M = 20000;
    const code = [
      ...wgslF64(),
      "@group(0) @binding(0) var<storage, read> A: array<vec2u>;",
      "@group(0) @binding(1) var<storage, read_write> O: array<vec2u>;",
      "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {",
      `  let i = g.x; if (i >= ${M}u) { return; }`,
      "  O[3u * i] = f64_exp64(A[i]);",
      "  O[3u * i + 1u] = vec2u(bitcast<u32>(f64_floor_i32(A[i])), select(0u, 1u, f64_out_of_range));",
      "  O[3u * i + 2u] = f64_from_i32(i32(i) - 10000i);",
      "}",
    ].join("\n");
    const r = rng(3);
    // Arguments where pooled-score softmaxes live, near 0 and down to the underflow, and beyond both ends.
    const a = Float64Array.from({ length: M }, (_, i) => [-(r() * 700), (r() - 0.5) * 4, -700 - r() * 50, (r() - 0.5) * 2000][i % 4]);
    const layout = bufferLayout(device, ["read-only-storage", "storage"]);
    const pipeline = await pipelineFor(device, code, layout);
    const input = device.createBuffer({ size: a.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(input, 0, a);
    const out = device.createBuffer({ size: M * 24, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size: out.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout, entries: [input, out].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
    pass.dispatchWorkgroups(Math.ceil(M / 64));
    pass.end();
    enc.copyBufferToBuffer(out, 0, read, 0, out.size);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const bytes = read.getMappedRange().slice(0);
    const f = new Float64Array(bytes);
    const w = new Int32Array(bytes);
    const wrong: string[] = [];
    let flagged = 0;
    for (let i = 0; i < M; i++) {
      const want = exp64(a[i]);
      const flag = w[(3 * i + 1) * 2 + 1] === 1;
      flagged += flag ? 1 : 0;
      // Results a double holds only as a subnormal or an infinity must be flagged; the rest exact.
      if (((want > 0 && want < 2 ** -1022) || want === Infinity) && !flag) wrong.push(`exp64(${a[i]}) not flagged`);
      if (!flag && !Object.is(f[3 * i], want)) wrong.push(`exp64(${a[i]}) = ${f[3 * i]}, want ${want}`);
      if (w[(3 * i + 1) * 2] !== Math.floor(a[i])) wrong.push(`floor(${a[i]}) = ${w[(3 * i + 1) * 2]}`);
      if (f[3 * i + 2] !== i - 10000) wrong.push(`from_i32(${i - 10000}) = ${f[3 * i + 2]}`);
    }
    for (const x of [input, out, read]) x.destroy();
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(flagged).toBeGreaterThan(0);
    expect(flagged).toBeLessThan(M / 2);
  }, 60_000);
});
