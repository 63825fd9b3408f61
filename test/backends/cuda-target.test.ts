// The CUDA target: golden files; every example compiles with nvcc for sm_80 and sm_90a with
// no warnings; and the predicate it inlines, run on the host, gives exactly the compiler's
// dense mask (dynamic patterns included, with their arrays as host data).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { buildDenseMask, headContexts } from "../../compiler/blockmask/build.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import * as BOX from "../../compiler/blockmask/lib.js";
import { rng } from "../random.js";
import { cudaInputs } from "../../backends/cuda/inputs.js";
import type { PatternIR } from "../../compiler/ir.js";
import { emitCuda, type CudaOutput } from "../../backends/cuda/emit.js";
import { findNvcc } from "../../runtime/cuda/run.js";
import { EXAMPLES, examplePattern, randomTensor, tempDirs } from "../helpers.js";

const run = promisify(execFile);
const GOLDEN = "test/golden/cuda";
const examples = EXAMPLES;
const freshDir = tempDirs("spattn-cuda-");

const mainPattern = (file: string) => examplePattern(file);

/** Runs the jobs two at a time (the machines have two cores). */
async function pool<T>(jobs: (() => Promise<T>)[], width = 2): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]();
    }
  }));
  return out;
}

/** A host program that prints the predicate's mask as 0/1 rows, with dyn arrays as data. */
function selftest(cu: CudaOutput, ir: PatternIR, n: number, heads: number, arrays: Map<string, { type: string; values: ArrayLike<number> }>, boxes: HeadBox[]): string {
  const prefix = `spattn_${ir.name}`;
  const decls: string[] = [];
  const fields: string[] = [];
  for (const [name, a] of arrays) {
    decls.push(`static const ${a.type} ${name}_data[] = {${Array.from(a.values).join(",")}};`);
    fields.push(`dyn.${name} = ${name}_data;`);
  }
  return [
    `#include "${cu.stem}.cu"`,
    "#include <cstdio>",
    ...decls,
    "int main() {",
    `  ${prefix}_dyn dyn = {};`,
    ...fields.map((f) => `  ${f}`),
    `  for (int h = 0; h < ${heads}; ++h) for (int q = 0; q < ${n}; ++q) {`,
    `    for (int k = 0; k < ${n}; ++k) putchar('0' + ${prefix}_allowed(q, k, h, ${n}, &dyn));`,
    "    putchar('\\n');",
    "  }",
    ...boxCheck(n, boxes),
    "  return 0;",
    "}",
  ].join("\n");
}

/** A box of one head: [head, q0, q1, k0, k1]. */
type HeadBox = [number, number, number, number, number];

/**
 * Random boxes for checking pattern::box_class, 300 a head: half of them tiles of 64 x 64 or
 * 128 x 64 (where 64-token selections line up), half anywhere.
 */
function randomBoxes(n: number, heads: number, seed: number): HeadBox[] {
  const rand = rng(seed);
  const next = (m: number) => Math.floor(rand() * m);
  const out: HeadBox[] = [];
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 300; i++) {
      if (i % 2 === 0) {
        const rows = i % 4 === 0 ? 64 : 128;
        const q0 = rows * next(Math.ceil(n / rows));
        const k0 = 64 * next(Math.ceil(n / 64));
        out.push([h, q0, Math.min(q0 + rows, n) - 1, k0, Math.min(k0 + 64, n) - 1]);
      } else {
        const q0 = next(n);
        const k0 = next(n);
        out.push([h, q0, q0 + next(n - q0), k0, k0 + next(n - k0)]);
      }
    }
  }
  return out;
}

/** Lines of a host program (dyn in scope) that print, per box, pattern::box_class's value as the
 *  kernels take it (selections over at most 64 blocks) and as the mask generator does (1024,
 *  counted by words), and whether any and whether all of the box's pairs are allowed:
 *  "box v w any all". */
function boxCheck(n: number, boxes: HeadBox[]): string[] {
  if (boxes.length === 0) return [];
  return [
    `  static const int boxes[][5] = {${boxes.map((b) => `{${b.join(",")}}`).join(",")}};`,
    "  for (const auto& x : boxes) {",
    `    const int v = pattern::box_class(x[1], x[2], x[3], x[4], x[0], ${n}, dyn);`,
    `    const int w = pattern::box_class<spattn::MASK_MAX_CELLS>(x[1], x[2], x[3], x[4], x[0], ${n}, dyn);`,
    "    bool any = false, all = true;",
    `    for (int q = x[1]; q <= x[2]; ++q) for (int k = x[3]; k <= x[4]; ++k) { const bool a = pattern::allowed(q, k, x[0], ${n}, dyn); any |= a; all &= a; }`,
    '    printf("box %d %d %d %d\\n", v, w, (int)any, (int)all);',
    "  }",
  ];
}

interface BoxReport {
  checked: number;
  /** Claims the elements deny, by either value: F with an allowed pair, T with a refused one, P without both. */
  wrong: number;
  /** Boxes decided (not U), the kernels' value. */
  decided: number;
  /** Boxes whose packed value differs from the compiler's maskBox: the kernels' value, the mask generator's. */
  unlikeCompiler: number;
  wideUnlikeCompiler: number;
}

/** The self-test's output split: the mask rows, and the box lines, checked against the box's
 *  elements and against the compiler's domain (`want`: its packed value per box). */
function splitBoxLines(stdout: string, want: number[]): { mask: string; box: BoxReport } {
  const lines = stdout.split("\n");
  const first = lines.findIndex((l) => l.startsWith("box "));
  const rows = first < 0 ? lines.filter((l) => l) : lines.slice(0, first);
  const report: BoxReport = { checked: 0, wrong: 0, decided: 0, unlikeCompiler: 0, wideUnlikeCompiler: 0 };
  (first < 0 ? [] : lines.slice(first).filter((l) => l)).forEach((l, i) => {
    const [v, w, any, all] = l.slice(4).split(" ").map(Number);
    const holds = (t: number) => t === BOX.F ? any === 0 : t === BOX.T ? all === 1 : t === BOX.P ? any === 1 && all === 0 : true;
    report.checked++;
    report.wrong += holds(v & 3) && holds(w & 3) ? 0 : 1;
    report.decided += (v & 3) === BOX.U ? 0 : 1;
    report.unlikeCompiler += v === want[i] ? 0 : 1;
    report.wideUnlikeCompiler += w === want[i] ? 0 : 1;
  });
  return { mask: rows.map((r) => `${r}\n`).join(""), box: report };
}

/** The compiler's packed box values for the same boxes. */
function compilerBoxes(ir: PatternIR, opts: Parameters<typeof headContexts>[1], boxes: HeadBox[]): number[] {
  const evals = headContexts(ir, opts).map((c) => maskEval(ir.mask, c));
  return boxes.map(([h, q0, q1, k0, k1]) => evals[h].box({ q0, q1, k0, k1 }));
}

/** Writes a generated .cu and its header into `dir`. */
function writeGenerated(dir: string, out: CudaOutput): void {
  writeFileSync(join(dir, `${out.stem}.cu`), out.cu);
  writeFileSync(join(dir, `${out.stem}.h`), out.header);
}

/** The generated .cu compiled for sm_90a with no warnings (an object: there is no GPU). */
async function compileSm90(cc: string, dir: string, out: CudaOutput): Promise<void> {
  await run(cc, ["-c", "-O1", "-gencode=arch=compute_90a,code=sm_90a", "-Werror", "all-warnings", `${out.stem}.cu`, "-o", `${out.stem}.o`], { cwd: dir });
}

/** Writes `source` as `<name>.cu`, builds it with no warnings and runs it on the host: its stdout. */
async function runHostProgram(cc: string, dir: string, name: string, source: string): Promise<string> {
  writeFileSync(join(dir, `${name}.cu`), source);
  await run(cc, ["-O1", "-gencode=arch=compute_80,code=sm_80", "-Werror", "all-warnings", `${name}.cu`, "-o", name], { cwd: dir });
  return (await run(join(dir, name), [], { maxBuffer: 1 << 26 })).stdout;
}

/** The compiler's dense mask as the self-test prints it: one 0/1 row per (head, query). */
function maskText(dense: { heads: number; seqLen: number; data: Uint8Array }): string {
  const n = dense.seqLen;
  return Array.from({ length: dense.heads * n }, (_, r) => Array.from(dense.data.subarray(r * n, (r + 1) * n)).join("")).join("\n") + "\n";
}

describe("cuda target", () => {
  const generated = new Map<string, CudaOutput>();
  for (const file of examples) generated.set(file, emitCuda(mainPattern(file), { sourceName: `examples/${file}` }));

  it("matches the golden files (UPDATE_GOLDEN=1 rewrites them)", () => {
    mkdirSync(GOLDEN, { recursive: true });
    for (const [, out] of generated) {
      for (const [ext, text] of [["cu", out.cu], ["h", out.header]] as const) {
        const path = join(GOLDEN, `${out.stem}.${ext}`);
        if (process.env.UPDATE_GOLDEN || !existsSync(path)) writeFileSync(path, text);
        expect(text, `${path} is out of date: run UPDATE_GOLDEN=1 npx vitest run test/backends`).toBe(readFileSync(path, "utf8"));
      }
    }
  });

  it("sanitises names that reach C", () => {
    const ir = compile("pattern int() { mask causal }");
    const out = emitCuda(ir, { sourceName: "x */ evil" });
    expect(out.header).toContain("spattn_p_int_fwd_bf16_d64(");
    expect(out.cu).not.toContain("x */ evil");
  });

  it("compiles every example for sm_90a with no warnings, and its host predicate equals the dense mask (built for sm_80)", async () => {
    // CI has nvcc (CUDA 13) though no GPU; a machine without it fails here, loudly.
    const cc = findNvcc();
    const dir = freshDir();
    const jobs: (() => Promise<string>)[] = [];
    const boxes = new Map<string, BoxReport>();
    for (const [file, out] of generated) {
      const ir = mainPattern(file);
      writeGenerated(dir, out);
      const n = ir.layout ? ir.layout.reduce((a, x) => a * x.size, 1) : 150;
      if (n > 1100) {
        jobs.push(async () => {
          await run(cc, ["-c", "-O1", "-gencode=arch=compute_90a,code=sm_90a", "-gencode=arch=compute_80,code=sm_80", "-Werror", "all-warnings", `${out.stem}.cu`, "-o", `${out.stem}.o`], { cwd: dir });
          return "";
        });
        continue;
      }
      const heads = ir.heads ?? 2;
      const q = randomTensor(heads, n, 8, 5);
      const k = randomTensor(heads, n, 8, 6);
      const opts = { seqLen: n, heads, q, k };
      const arrays = new Map<string, { type: string; values: ArrayLike<number> }>();
      for (const { name, data } of cudaInputs(ir, opts).dyn) arrays.set(name, { type: data instanceof Int32Array ? "int" : "unsigned char", values: data });
      const want = maskText(buildDenseMask(ir, opts));
      const tested = randomBoxes(n, heads, 7);
      const compilerSays = compilerBoxes(ir, opts, tested);
      jobs.push(async () => {
        await compileSm90(cc, dir, out);
        const stdout = await runHostProgram(cc, dir, `${out.stem}_selftest`, selftest(out, ir, n, heads, arrays, tested));
        const { mask, box } = splitBoxLines(stdout, compilerSays);
        boxes.set(file, box);
        return mask === want ? "" : `${file}: the CUDA predicate differs from the compiler's mask`;
      });
    }
    const problems = (await pool(jobs)).filter((x) => x);
    expect(problems).toEqual([]);
    // The device's domain is the compiler's, box for box, except where the compiler reads
    // prefix sums the device lacks: routes (routing), vertical-slash steps (minference), and
    // for the kernels' value selections over boxes of more than 64 blocks (moba's one-token
    // query blocks), which the mask generator's value counts; there it says U, and is still
    // never wrong.
    const partly = new Set(["routing.spattn", "minference.spattn"]);
    for (const [file, box] of boxes) {
      expect(box.wrong, `${file}: pattern::box_class claims what a box's elements deny`).toBe(0);
      expect(box.checked, file).toBeGreaterThan(0);
      if (!partly.has(file)) expect(box.wideUnlikeCompiler, `${file}: pattern::box_class<MASK_MAX_CELLS> differs from the compiler's maskBox`).toBe(0);
      else expect(box.wideUnlikeCompiler, file).toBeGreaterThan(0);
      if (!partly.has(file) && file !== "moba.spattn") expect(box.unlikeCompiler, `${file}: pattern::box_class differs from the compiler's maskBox`).toBe(0);
      else expect(box.unlikeCompiler, file).toBeGreaterThan(0);
    }
    expect(boxes.get("sliding_window.spattn")?.decided).toBe(600);
    // Masks of linear comparisons and selections only (nsa: a window or kept blocks, and
    // causal): every box decided, which is what lets the mask generator and the 64-row CTAs
    // skip work.
    for (const file of ["causal.spattn", "sliding_window.spattn", "streaming.spattn", "prefix_lm.spattn", "nsa.spattn"]) {
      expect(boxes.get(file)?.decided, file).toBe(boxes.get(file)?.checked);
    }
  }, 900_000);

  it("counts a selection's kept blocks by words over wide boxes, as the compiler does", async () => {
    // 4-token blocks at n = 150: rows of 38 blocks, so the mask generator's count reads aligned
    // words after one to three bytes, at every offset; count_kept also against a byte loop on
    // bytes that are nonzero in every way (0x01, 0x7f, 0x80, 0xfe).
    const cc = findNvcc();
    const dir = freshDir();
    const n = 150;
    const ir = compile("pattern fine() { let kept = topk(5, block: 4, among: kb < qb, always: kb == qb)\n mask kept and causal }");
    const out = emitCuda(ir, { sourceName: "fine.spattn" });
    writeGenerated(dir, out);
    await compileSm90(cc, dir, out);
    const heads = 2;
    const opts = { seqLen: n, heads, q: randomTensor(heads, n, 8, 5), k: randomTensor(heads, n, 8, 6) };
    const arrays = new Map<string, { type: string; values: ArrayLike<number> }>();
    for (const { name, data } of cudaInputs(ir, opts).dyn) arrays.set(name, { type: "unsigned char", values: data });
    const tested = randomBoxes(n, heads, 9);
    const program = selftest(out, ir, n, heads, arrays, tested).replace("int main() {", [
      "static int bytewise(const unsigned char* p, int len) { int c = 0; for (int j = 0; j < len; ++j) c += p[j] != 0; return c; }",
      "int main() {",
      "  {",
      "    static unsigned char bytes[96];",
      "    for (int i = 0; i < 96; ++i) bytes[i] = (unsigned char)((i * 37) % 5 == 0 ? 0 : (0x01 + 0x7e * (i % 2) + 0x7f * (i % 3 == 0)));",
      "    int bad = 0;",
      "    for (int a = 0; a < 8; ++a) for (int len = 0; len + a <= 96; ++len) bad += spattn::box::count_kept(bytes + a, len) != bytewise(bytes + a, len);",
      '    printf("count_kept %d\\n", bad);',
      "  }",
    ].join("\n"));
    const stdout = await runHostProgram(cc, dir, `${out.stem}_selftest`, program);
    const counted = stdout.split("\n").find((l) => l.startsWith("count_kept "));
    expect(counted).toBe("count_kept 0");
    const { mask, box } = splitBoxLines(stdout.split("\n").filter((l) => !l.startsWith("count_kept ")).join("\n"), compilerBoxes(ir, opts, tested));
    expect(mask === maskText(buildDenseMask(ir, opts)), "the CUDA predicate differs from the compiler's mask").toBe(true);
    expect([box.wrong, box.wideUnlikeCompiler]).toEqual([0, 0]);
    // The kernels' value leaves the wide boxes undecided, where the mask generator's counts them.
    expect(box.unlikeCompiler).toBeGreaterThan(0);
  }, 300_000);

  it("spells document lookups inline for a few ends and as a device table for many, both equal to the compiler's mask", async () => {
    const cc = findNvcc();
    const dir = freshDir();
    const n = 150;
    const cases = [
      { ends: 5, lengths: [20, 7, 33, 1, 40] },
      { ends: 20, lengths: Array.from({ length: 20 }, (_, i) => 3 + ((i * 5) % 9)) },
    ];
    for (const { ends, lengths } of cases) {
      const ir = compile(`pattern docs${ends}() { mask causal and document(q, [${lengths.join(", ")}]) == document(k, [${lengths.join(", ")}]) }`);
      const out = emitCuda(ir, { sourceName: `docs${ends}.spattn` });
      expect(out.cu.includes("segment_count<pint>"), `${ends} ends`).toBe(ends <= 16);
      expect(out.cu.includes("__device__ const long long spattn_ends0_d"), `${ends} ends`).toBe(ends > 16);
      writeGenerated(dir, out);
      await compileSm90(cc, dir, out);
      const tested = randomBoxes(n, 1, 8);
      const { mask, box } = splitBoxLines(await runHostProgram(cc, dir, `${out.stem}_selftest`, selftest(out, ir, n, 1, new Map(), tested)), compilerBoxes(ir, { seqLen: n, heads: 1 }, tested));
      expect([box.wrong, box.unlikeCompiler]).toEqual([0, 0]);
      expect(mask === maskText(buildDenseMask(ir, { seqLen: n, heads: 1 })), `${ends} ends: the CUDA predicate differs from the compiler's mask`).toBe(true);
    }
  }, 300_000);

  it("gives each group of heads a predicate with no head test, equal to the whole predicate for every head", async () => {
    const cc = findNvcc();
    const dir = freshDir();
    const sources = [
      readFileSync("examples/mixed_heads.spattn", "utf8"),
      "pattern nested() { mask causal and (k < 2 or match head { 0, 2 => q - k < 5, 1 => (q + head) % 3 == 0, _ => q - k < 9 }) }",
    ];
    for (const src of sources) {
      const names = [...src.matchAll(/^pattern (\w+)/gm)].map((m) => m[1]);
      const ir = compile(src, { pattern: names[names.length - 1] });
      const out = emitCuda(ir, { sourceName: `${ir.name}.spattn` });
      expect(out.cu).toMatch(/constexpr int HEAD_CASES = 3;/);
      writeGenerated(dir, out);
      const stdout = await runHostProgram(cc, dir, `${out.stem}_cases`, [
        `#include "${out.stem}.cu"`,
        "#include <cstdio>",
        "template <int C = 0> bool by_case(int hc, int q, int k, int h, int n, const pattern::Dyn& d) {",
        "  if constexpr (C + 1 < pattern::HEAD_CASES) { if (hc != C) return by_case<C + 1>(hc, q, k, h, n, d); }",
        "  return pattern::allowed_case<C>(q, k, h, n, d);",
        "}",
        "int main() {",
        "  pattern::Dyn dyn = {};",
        "  long checked = 0, bad = 0;",
        "  for (int h = 0; h < 8; ++h) for (int q = 0; q < 40; ++q) for (int k = 0; k < 40; ++k, ++checked)",
        "    bad += by_case(pattern::head_case(h), q, k, h, 40, dyn) != pattern::allowed(q, k, h, 40, dyn);",
        '  printf("%ld %ld\\n", checked, bad);',
        "  return 0;",
        "}",
      ].join("\n"));
      expect(stdout.trim(), ir.name).toBe(`${8 * 40 * 40} 0`);
    }
  }, 300_000);
});
