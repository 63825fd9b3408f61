// IEEE binary64 in WGSL (backends/wgsl/f64.ts), run on SwiftShader: every result bit-identical to
// JavaScript's doubles (round to nearest even) on random operands: f32 values widened, generic
// doubles, near-cancelling pairs, exponents far apart, zeros of both signs, f32 subnormals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { wgslF64 } from "../../backends/wgsl/f64.js";
import { bufferLayout, pipelineFor } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice, type DeviceInfo } from "../../runtime/webgpu/device.js";
import { rng } from "../random.js";

const N = 20000;
const OPS = ["add", "sub", "mul", "div_u32", "from_f32", "lt"] as const;

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
  "  O[6u * i] = f64_add(A[i], B[i]);",
  "  O[6u * i + 1u] = f64_sub(A[i], B[i]);",
  "  O[6u * i + 2u] = f64_mul(A[i], B[i]);",
  "  O[6u * i + 3u] = f64_div_u32(A[i], C[i]);",
  "  O[6u * i + 4u] = f64_from_f32(F[i]);",
  "  O[6u * i + 5u] = vec2u(select(0u, 1u, f64_lt(A[i], B[i])), 0u);",
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

  it("adds, subtracts, multiplies, divides by an integer, widens f32 and compares as JavaScript does", async () => {
    const device = info.device;
    const { a, b, f, c } = operands();
    const layout = bufferLayout(device, ["read-only-storage", "read-only-storage", "read-only-storage", "read-only-storage", "storage"]);
    const pipeline = await pipelineFor(device, shader, layout);
    const upload = (d: ArrayBufferView) => {
      const x = device.createBuffer({ size: d.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(x, 0, d.buffer, d.byteOffset, d.byteLength);
      return x;
    };
    const out = device.createBuffer({ size: N * 6 * 8, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
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
      const want = [a[i] + b[i], a[i] - b[i], a[i] * b[i], a[i] / c[i], f[i]];
      OPS.forEach((op, k) => {
        const ok = k === 5 ? words[(6 * i + 5) * 2] === (a[i] < b[i] ? 1 : 0) : Object.is(got[6 * i + k], want[k]);
        if (!ok) (wrong[op] ??= []).push(`#${i}: a=${a[i]} b=${b[i]} c=${c[i]} f=${f[i]} got ${k === 5 ? words[(6 * i + 5) * 2] : got[6 * i + k]}`);
      });
    }
    for (const x of bufs) x.destroy();
    read.destroy();
    expect(Object.fromEntries(Object.entries(wrong).map(([op, w]) => [op, w.slice(0, 3)]))).toEqual({});
  }, 60_000);
});
