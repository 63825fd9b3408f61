// The CUDA runtime: kernel libraries built by nvcc and cached by content, loaded through the
// native addon. Without a GPU (CI) the call must fail with the library's own "no CUDA device"
// message, whether the lists come from the CPU or the device; with one (the GPU machine) it
// must match the float64 reference (bench/cuda/node_run.sh runs the CLI there).
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { maskRows } from "../../compiler/blockmask/build.js";
import { CudaRuntimeError, kernelLibrary, runCuda, type ListSource } from "../../runtime/cuda/run.js";
import { referenceAttention, roundToBf16 } from "../../runtime/reference.js";
import { main } from "../../cli/main.js";
import { randomTensor, tempDirs } from "../helpers.js";
import { encodeNpy } from "../../runtime/npy.js";

const freshDir = tempDirs("spattn-cuda-rt-");
const hasGpu = existsSync("/dev/nvidia0");

describe("cuda runtime", () => {
  process.env.SPATTN_CACHE = freshDir();

  it("builds a kernel library once and reuses it by content", () => {
    const ir = compile("pattern p(w = 16) { mask causal and q - k < w }");
    const a = kernelLibrary(ir);
    const mtime = statSync(a).mtimeMs;
    expect(kernelLibrary(ir)).toBe(a);
    expect(statSync(a).mtimeMs).toBe(mtime);
    expect(kernelLibrary(compile("pattern p(w = 17) { mask causal and q - k < w }"))).not.toBe(a);
  }, 120_000);
});

describe("cuda runtime runs", () => {
  // Lists from the CPU (a dilation, gathered; a window; block top-k's float32 choices) and from
  // the device (the window through P_mask_tiles; block top-k after the GPU index builders, whose
  // choices are made on Q and K rounded to bf16, and so are the reference's then).
  const runs: [string, ListSource][] = [
    ["pattern p() { mask causal and (q - k) % 3 == 0 }", "cpu"],
    ["pattern p() { mask causal and q - k < 50 }", "cpu"],
    ["pattern p() { mask causal and q - k < 50 }", "device"],
    ["pattern p() { let s = topk(3, block: 32, among: kb < qb, always: kb == qb)\n mask s and causal }", "cpu"],
    ["pattern p() { let s = topk(3, block: 32, among: kb < qb, always: kb == qb)\n mask s and causal }", "device"],
  ];
  it.each(runs)(hasGpu ? "matches the float64 reference on the GPU: %s (lists: %s)" : "fails with the library's no-device message without a GPU: %s (lists: %s)", (src, lists) => {
    process.env.SPATTN_CACHE ??= freshDir();
    const ir = compile(src);
    const n = 200;
    const [q, k, v] = [1, 2, 3].map((s) => randomTensor(2, n, 64, s));
    if (!hasGpu) {
      expect(() => runCuda(ir, q, k, v, "bf16", lists)).toThrow(CudaRuntimeError);
      expect(() => runCuda(ir, q, k, v, "bf16", lists)).toThrow(/no CUDA device/);
      return;
    }
    const { out } = runCuda(ir, q, k, v, "bf16", lists);
    const [qs, ks] = lists === "device" ? [roundToBf16(q.data), roundToBf16(k.data)].map((data) => ({ ...q, data })) : [q, k];
    const rows = maskRows(ir, { seqLen: n, heads: 2, q: qs, k: ks });
    const ref = referenceAttention({ q: q.data, k: k.data, v: v.data, heads: 2, seqLen: n, headDim: 64 }, rows.row).out;
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num += (out[i] - ref[i]) ** 2;
      den += ref[i] ** 2;
    }
    expect(Math.sqrt(num / den)).toBeLessThan(1e-2);
  }, 240_000);
});

/** Runs `spattn run examples/causal.spattn` with random Q, K and V of n tokens and 64
 *  dimensions written to a fresh folder; returns the exit code, what went to stderr and the
 *  output's path. */
async function runCli(n: number, ...args: string[]): Promise<{ code: number; errors: string; out: string }> {
  const dir = freshDir();
  const paths: string[] = [];
  for (const [name, seed] of [["q", 1], ["k", 2], ["v", 3]] as const) {
    const t = randomTensor(1, n, 64, seed);
    writeFileSync(join(dir, `${name}.npy`), encodeNpy({ dtype: "<f4", shape: t.shape, data: t.data }));
    paths.push(`--${name}`, join(dir, `${name}.npy`));
  }
  const errors: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const out = join(dir, "o.npy");
    const code = await main(["run", "examples/causal.spattn", ...paths, "--out", out, ...args]);
    return { code, errors: errors.join(""), out };
  } finally {
    process.stderr.write = write;
  }
}

describe("cuda runtime CLI", () => {
  it("spattn run --backend cuda reports what is missing, with exit 1", async () => {
    const { code, errors } = await runCli(64, "--backend", "cuda");
    if (hasGpu) expect(code).toBe(0);
    else {
      expect(code).toBe(1);
      expect(errors).toMatch(/^spattn: error: CUDA backend: no CUDA device/);
    }
  }, 120_000);

  it("spattn run --lists takes cpu or device, and only with --backend cuda (exit 1)", async () => {
    const bad = await runCli(16, "--backend", "cuda", "--lists", "gpu");
    expect(bad.code).toBe(1);
    expect(bad.errors).toMatch(/--lists must be cpu or device, got 'gpu'/);
    const elsewhere = await runCli(16, "--lists", "device");
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.errors).toMatch(/--lists device is for --backend cuda/);
    expect(existsSync(elsewhere.out)).toBe(false);
  });
});
