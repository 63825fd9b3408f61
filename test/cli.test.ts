// The command line, driven in process through main(argv): exit codes, messages (never stack
// traces), dense and block masks checked against brute force, the reference backend,
// code generation, and atomic output files.
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { compile } from "../compiler/compile.js";
import { encodeNpy, readNpy } from "../runtime/npy.js";
import { referenceAttention } from "../runtime/reference.js";
import type { BsrJson } from "../backends/mask/bsr.js";
import { cli, expectNoStackTrace, rng as uniform, tempDirs } from "./helpers.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
/** examples/NAME, or test/fixtures/NAME for names starting with "fixtures/". */
const ex = (name: string): string => (name.startsWith("fixtures/") ? join(root, "test", name) : join(root, "examples", name));

const freshDir = tempDirs("spattn-cli-");

afterEach(() => {
  vi.restoreAllMocks();
});

/** Deterministic uniform numbers in [-1, 1). */
function rng(seed: number): () => number {
  const u = uniform(seed);
  return () => u() * 2 - 1;
}

/** Writes a random float32 tensor with encodeNpy; returns its data. */
function writeTensor(path: string, shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = r();
  writeFileSync(path, encodeNpy({ dtype: "<f4", shape, data }));
  return data;
}

function readDense(path: string): { shape: number[]; data: Uint8Array } {
  const a = readNpy(path);
  expect(a.dtype).toBe("|b1");
  return { shape: a.shape, data: a.data as Uint8Array };
}

// ------------------------------------------------------------------------------ brute force

type Allowed = (h: number, q: number, k: number) => boolean;

function bruteDense(heads: number, n: number, f: Allowed): Uint8Array {
  const out = new Uint8Array(heads * n * n);
  for (let h = 0; h < heads; h++) for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) out[(h * n + q) * n + k] = f(h, q, k) ? 1 : 0;
  return out;
}

const fmod = (a: number, b: number): number => ((a % b) + b) % b;

/** Document index of position i: documents of the given lengths, then one trailing document. */
function docOf(lengths: number[], i: number): number {
  let end = 0;
  for (let d = 0; d < lengths.length; d++) {
    end += lengths[d];
    if (i < end) return d;
  }
  return lengths.length;
}

/** NATTEN on one axis of `length`: is key coordinate j in the window of query coordinate i? */
function natIn(i: number, j: number, length: number, kernel: number, dilation: number, causal: boolean): boolean {
  const r = i % dilation;
  if (j % dilation !== r) return false;
  const ip = Math.floor(i / dilation);
  const jp = Math.floor(j / dilation);
  if (causal) return jp <= ip && jp >= Math.max(ip - kernel + 1, 0);
  const members = Math.ceil((length - r) / dilation);
  const start = Math.min(Math.max(ip - Math.floor(kernel / 2), 0), members - kernel);
  return jp >= start && jp < start + kernel;
}

/** Row-major coordinates of position p over axes of the given sizes. */
function coords(p: number, sizes: number[]): number[] {
  const out = new Array<number>(sizes.length);
  for (let a = sizes.length - 1; a >= 0; a--) {
    out[a] = p % sizes[a];
    p = Math.floor(p / sizes[a]);
  }
  return out;
}

function natten(sizes: number[], kernel: number[], dilation: number[], causal: boolean[]): Allowed {
  return (_h, q, k) => {
    const qc = coords(q, sizes);
    const kc = coords(k, sizes);
    return sizes.every((L, a) => natIn(qc[a], kc[a], L, kernel[a], dilation[a], causal[a]));
  };
}

interface MaskCase {
  title: string;
  file: string;
  args: string[];
  n: number;
  heads: number;
  block: number;
  allowed: Allowed;
}

const POSITIONAL: MaskCase[] = [
  { title: "causal", file: "causal.spattn", args: [], n: 100, heads: 1, block: 16, allowed: (_h, q, k) => k <= q },
  {
    title: "sliding_window window=20",
    file: "sliding_window.spattn",
    args: ["--set", "window=20"],
    n: 150,
    heads: 1,
    block: 32,
    allowed: (_h, q, k) => k <= q && q - k < 20,
  },
  {
    title: "dilated window=40 dilation=3",
    file: "dilated.spattn",
    args: ["--set", "window=40", "--set", "dilation=3"],
    n: 130,
    heads: 1,
    block: 16,
    allowed: (_h, q, k) => k <= q && q - k < 40 && (q - k) % 3 === 0,
  },
  {
    title: "document lengths=[30, 50, 20] (trailing tokens)",
    file: "document.spattn",
    args: ["--set", "lengths=[30, 50, 20]"],
    n: 117,
    heads: 1,
    block: 16,
    allowed: (_h, q, k) => k <= q && docOf([30, 50, 20], q) === docOf([30, 50, 20], k),
  },
  {
    title: "longformer window=10 globals=5",
    file: "longformer.spattn",
    args: ["--set", "window=10", "--set", "globals=5"],
    n: 120,
    heads: 1,
    block: 32,
    allowed: (_h, q, k) => Math.abs(q - k) <= 10 || q < 5 || k < 5,
  },
  { title: "prefix_lm prefix=37", file: "prefix_lm.spattn", args: ["--set", "prefix=37"], n: 100, heads: 1, block: 16, allowed: (_h, q, k) => k <= q || (q < 37 && k < 37) },
  {
    title: "strided stride=12",
    file: "strided.spattn",
    args: ["--set", "stride=12"],
    n: 111,
    heads: 1,
    block: 16,
    allowed: (_h, q, k) => k <= q && (q - k < 12 || (q - k) % 12 === 0),
  },
  {
    title: "streaming sinks=3 window=20",
    file: "streaming.spattn",
    args: ["--set", "sinks=3", "--set", "window=20"],
    n: 90,
    heads: 1,
    block: 16,
    allowed: (_h, q, k) => k <= q && (k < 3 || q - k < 20),
  },
  {
    title: "s2_attention local=16 (8 heads)",
    file: "s2_attention.spattn",
    args: ["--set", "local=16"],
    n: 90,
    heads: 8,
    block: 16,
    allowed: (h, q, k) => k <= q && (fmod(k, 4) === fmod(h, 4) || q - k < 16),
  },
  {
    title: "mixed_heads (4 heads, several patterns)",
    file: "mixed_heads.spattn",
    args: ["--pattern", "mixed_heads", "--set", "local=20", "--set", "sinks=2", "--set", "recent=10"],
    n: 85,
    heads: 4,
    block: 16,
    allowed: (h, q, k) => (h <= 1 ? k <= q && q - k < 20 : k <= q && (k < 2 || q - k < 10)),
  },
  {
    title: "neighborhood2d 8x12 kernel 3 dilation 2",
    file: "neighborhood2d.spattn",
    args: ["--set", "height=8", "--set", "width=12", "--set", "kernel=3", "--set", "dilation=2"],
    n: 96,
    heads: 1,
    block: 20,
    allowed: natten([8, 12], [3, 3], [2, 2], [false, false]),
  },
  {
    title: "video3d 3x6x5, causal in time",
    file: "video3d.spattn",
    args: ["--set", "frames=3", "--set", "height=6", "--set", "width=5", "--set", "time_kernel=2", "--set", "kernel=3"],
    n: 90,
    heads: 1,
    block: 16,
    allowed: natten([3, 6, 5], [2, 3, 3], [1, 1, 1], [true, false, false]),
  },
  {
    title: "fixtures/arith (negative modulo, abs, min/max, clamp, empty documents)",
    file: "fixtures/arith.spattn",
    args: [],
    n: 61,
    heads: 1,
    block: 8,
    allowed: (_h, q, k) =>
      fmod(k - q, 5) === 2 ||
      Math.abs(q - 2 * k) < 7 ||
      Math.floor(Math.min(q, k) / 9) === Math.floor(Math.max(q, k) / 9) ||
      (Math.min(Math.max(q - k, -3), 3) === -3 && k % 7 !== 0) ||
      (docOf([0, 10, 0, 25, 0, 7], q) === docOf([0, 10, 0, 25, 0, 7], k) && Math.floor(-q / 4) === Math.floor(-k / 4)),
  },
  {
    title: "fixtures/arith m=3 with other documents",
    file: "fixtures/arith.spattn",
    args: ["--set", "m=3", "--set", "lengths=[4, 0, 13]"],
    n: 45,
    heads: 1,
    block: 7,
    allowed: (_h, q, k) =>
      fmod(k - q, 3) === 2 ||
      Math.abs(q - 2 * k) < 7 ||
      Math.floor(Math.min(q, k) / 9) === Math.floor(Math.max(q, k) / 9) ||
      (Math.min(Math.max(q - k, -3), 3) === -3 && k % 7 !== 0) ||
      (docOf([4, 0, 13], q) === docOf([4, 0, 13], k) && Math.floor(-q / 4) === Math.floor(-k / 4)),
  },
];

// ------------------------------------------------------------------------------ block masks


/** The BSR file is well formed and each block's class agrees with the dense mask. */
function expectBsrMatchesDense(j: BsrJson, dense: Uint8Array, heads: number, n: number, bq: number, bk: number): void {
  const nqb = Math.ceil(n / bq);
  const nkb = Math.ceil(n / bk);
  expect(j.format).toBe("spattn.bsr/1");
  expect(j.seq_len).toBe(n);
  expect(j.heads).toBe(heads);
  expect(j.block_size).toEqual([bq, bk]);
  expect(j.num_q_blocks).toBe(nqb);
  expect(j.num_kv_blocks).toBe(nkb);
  for (const key of ["kv_num_blocks", "full_kv_num_blocks"] as const) {
    expect(j[key]).toHaveLength(heads);
    for (const row of j[key]) expect(row).toHaveLength(nqb);
  }
  for (const key of ["kv_indices", "full_kv_indices"] as const) {
    expect(j[key]).toHaveLength(heads);
    for (const rows of j[key]) expect(rows).toHaveLength(nqb);
  }
  const mismatches: string[] = [];
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < nqb; i++) {
      const partial = j.kv_indices[h][i];
      const full = j.full_kv_indices[h][i];
      expect(partial.length).toBe(j.kv_num_blocks[h][i]);
      expect(full.length).toBe(j.full_kv_num_blocks[h][i]);
      for (const list of [partial, full]) {
        for (let t = 0; t < list.length; t++) {
          expect(Number.isInteger(list[t]) && list[t] >= 0 && list[t] < nkb).toBe(true);
          if (t > 0) expect(list[t]).toBeGreaterThan(list[t - 1]);
        }
      }
      for (let b = 0; b < nkb; b++) {
        let ones = 0;
        let cells = 0;
        for (let q = i * bq; q < Math.min(n, (i + 1) * bq); q++) {
          for (let k = b * bk; k < Math.min(n, (b + 1) * bk); k++) {
            ones += dense[(h * n + q) * n + k];
            cells++;
          }
        }
        const want = ones === 0 ? "absent" : ones === cells ? "full" : "partial";
        const inP = partial.includes(b);
        const inF = full.includes(b);
        const got = inP && inF ? "both" : inP ? "partial" : inF ? "full" : "absent";
        if (got !== want) mismatches.push(`head ${h} block (${i}, ${b}): ${got}, dense says ${want}`);
      }
    }
  }
  expect(mismatches).toEqual([]);
}

function readBsr(path: string): BsrJson {
  return JSON.parse(readFileSync(path, "utf8")) as BsrJson;
}

function mismatchCount(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let bad = 0;
  for (let i = 0; i < a.length; i++) if ((a[i] !== 0) !== (b[i] !== 0)) bad++;
  return bad;
}

// ------------------------------------------------------------------------------ check

describe("spattn check", () => {
  it("exits 0 and says ok for a good file", async () => {
    const r = await cli("check", ex("causal.spattn"));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${ex("causal.spattn")}: ok\n`);
    expect(r.stderr).toBe("");
  });

  it("checks every example", async () => {
    for (const f of readdirSync(join(root, "examples")).filter((x) => x.endsWith(".spattn"))) {
      const r = await cli("check", ex(f));
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
    }
  });

  it("exits 1 with FILE:LINE:COL diagnostics and no stack trace for a bad file", async () => {
    const dir = freshDir();
    const file = join(dir, "bad.spattn");
    writeFileSync(file, "pattern p() {\n  mask causal and q - k < windw\n}\npattern r() {\n  mask qb == kb\n}\n");
    const r = await cli("check", file);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const heads = r.stderr.split("\n").filter((l) => / error: /.test(l) && l.startsWith(file));
    expect(heads).toEqual([
      `${file}:2:27: error: unknown name 'windw'`,
      expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:5:8: error: 'qb'`)),
      expect.stringMatching(/:5:14: error: 'kb'/),
    ]);
    expect(r.stderr).toContain("  mask causal and q - k < windw");
    expect(r.stderr).toMatch(/3 errors\n$/);
    expectNoStackTrace(r);
  });

  it("reports syntax errors of a file", async () => {
    const dir = freshDir();
    const file = join(dir, "syntax.spattn");
    writeFileSync(file, "pattern p() {\n  mask causal and $ q < 3\n}\npattern r() {\n  mask q <\n}\n");
    const r = await cli("check", file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:2:19: error: unexpected character "$"`);
    expect(r.stderr).toContain(`${file}:6:1: error: unexpected '}'`);
    expect(r.stderr).toMatch(/2 errors\n$/);
    expectNoStackTrace(r);
  });

  it("exits 1 with a clear message for a missing file", async () => {
    const missing = join(freshDir(), "nope.spattn");
    const r = await cli("check", missing);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^spattn: error: cannot read .*nope\.spattn/);
    expect(r.stderr).toMatch(/ENOENT|no such file/i);
    expectNoStackTrace(r);
  });

  it("returns each call's own exit code (a failure does not stick)", async () => {
    expect((await cli("check", join(freshDir(), "nope.spattn"))).code).toBe(1);
    expect((await cli("check", ex("causal.spattn"))).code).toBe(0);
  });

  it("exits 2 on usage errors", async () => {
    const out = join(freshDir(), "m.json");
    const bad = await cli("mask", ex("causal.spattn"), "--seq", "abc", "--out", out);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--seq must be a non-negative integer, got 'abc'/);
    const set = await cli("mask", ex("causal.spattn"), "--seq", "10", "--set", "foo", "--out", out);
    expect(set.code).toBe(2);
    expect(set.stderr).toMatch(/--set expects name=value, got 'foo'/);
    expect((await cli("frobnicate")).code).toBe(2);
    expect((await cli("mask", ex("causal.spattn"), "--out", out)).code).toBe(2); // no --seq
    expect(existsSync(out)).toBe(false);
  });
});

// ------------------------------------------------------------------------------ mask

describe("spattn mask --format dense", () => {
  it.each(POSITIONAL)("$title equals the brute-force mask", async (c) => {
    const out = join(freshDir(), "m.npy");
    const r = await cli("mask", ex(c.file), "--seq", String(c.n), ...c.args, "--format", "dense", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const m = readDense(out);
    expect(m.shape).toEqual([c.heads, c.n, c.n]);
    expect(mismatchCount(m.data, bruteDense(c.heads, c.n, c.allowed))).toBe(0);
  });

  it("writes one mask per head with --heads", async () => {
    const out = join(freshDir(), "m.npy");
    const r = await cli("mask", ex("sliding_window.spattn"), "--seq", "60", "--heads", "3", "--set", "window=7", "--format", "dense", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const m = readDense(out);
    expect(m.shape).toEqual([3, 60, 60]);
    expect(mismatchCount(m.data, bruteDense(3, 60, (_h, q, k) => k <= q && q - k < 7))).toBe(0);
  });

  it("rejects an unknown format", async () => {
    const out = join(freshDir(), "m.npy");
    const r = await cli("mask", ex("causal.spattn"), "--seq", "10", "--format", "csr", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--format must be dense or bsr, got 'csr'/);
    expect(existsSync(out)).toBe(false);
  });

  it("rejects a sequence length that does not fit the layout", async () => {
    const out = join(freshDir(), "m.npy");
    const r = await cli("mask", ex("neighborhood2d.spattn"), "--seq", "50", "--format", "dense", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/holds 1024 tokens but the sequence length is 50/);
    expectNoStackTrace(r);
  });
});

describe("spattn mask --format bsr", () => {
  it.each(POSITIONAL)("$title: blocks agree with the dense mask (N not a multiple of the block)", async (c) => {
    const dir = freshDir();
    const dense = join(dir, "m.npy");
    const bsr = join(dir, "m.json");
    expect(c.n % c.block).not.toBe(0);
    const d = await cli("mask", ex(c.file), "--seq", String(c.n), ...c.args, "--format", "dense", "--out", dense);
    expect(d.code, d.stderr).toBe(0);
    const b = await cli("mask", ex(c.file), "--seq", String(c.n), ...c.args, "--block", String(c.block), "--out", bsr);
    expect(b.code, b.stderr).toBe(0);
    expectBsrMatchesDense(readBsr(bsr), readDense(dense).data, c.heads, c.n, c.block, c.block);
  });

  it("the causal mask has full blocks below the diagonal and partial ones on it", async () => {
    const out = join(freshDir(), "m.json");
    expect((await cli("mask", ex("causal.spattn"), "--seq", "50", "--block", "16", "--out", out)).code).toBe(0);
    const j = readBsr(out);
    expect(j.kv_indices[0]).toEqual([[0], [1], [2], [3]]);
    expect(j.full_kv_indices[0]).toEqual([[], [0], [0, 1], [0, 1, 2]]);
    expect(j.kv_num_blocks).toEqual([[1, 1, 1, 1]]);
    expect(j.full_kv_num_blocks).toEqual([[0, 1, 2, 3]]);
  });

  it("takes the block size from the pattern's tile hint, else 128", async () => {
    const dir = freshDir();
    const file = join(dir, "tiled.spattn");
    writeFileSync(file, "pattern tiled(w: int = 10) {\n  tile(q: 16, k: 32)\n  mask causal and q - k < w\n}\n");
    const out = join(dir, "m.json");
    const dense = join(dir, "m.npy");
    expect((await cli("mask", file, "--seq", "70", "--out", out)).code).toBe(0);
    expect((await cli("mask", file, "--seq", "70", "--format", "dense", "--out", dense)).code).toBe(0);
    const j = readBsr(out);
    expect(j.block_size).toEqual([16, 32]);
    expectBsrMatchesDense(j, readDense(dense).data, 1, 70, 16, 32);
    const plain = join(dir, "plain.json");
    expect((await cli("mask", ex("causal.spattn"), "--seq", "300", "--out", plain)).code).toBe(0);
    expect(readBsr(plain).block_size).toEqual([128, 128]);
    expect(readBsr(plain).num_q_blocks).toBe(3);
  });
});

// ------------------------------------------------------------------------------ data-dependent

/** block_topk as documented: the diagonal block plus the topk-1 best earlier blocks, causal. */
function bruteBlockTopk(q: Float32Array, k: Float32Array, heads: number, n: number, d: number, block: number, topk: number): Uint8Array {
  const nb = Math.ceil(n / block);
  const pool = (x: Float32Array, h: number): Float64Array => {
    const out = new Float64Array(nb * d);
    for (let b = 0; b < nb; b++) {
      const r1 = Math.min(n, (b + 1) * block);
      for (let r = b * block; r < r1; r++) for (let c = 0; c < d; c++) out[b * d + c] += x[(h * n + r) * d + c];
      for (let c = 0; c < d; c++) out[b * d + c] /= r1 - b * block;
    }
    return out;
  };
  const mask = new Uint8Array(heads * n * n);
  for (let h = 0; h < heads; h++) {
    const qp = pool(q, h);
    const kp = pool(k, h);
    for (let i = 0; i < nb; i++) {
      const score = (j: number): number => {
        let s = 0;
        for (let c = 0; c < d; c++) s += qp[i * d + c] * kp[j * d + c];
        return s;
      };
      const cands = Array.from({ length: i }, (_, j) => j).sort((a, b) => score(b) - score(a) || a - b);
      const kept = new Set([i, ...cands.slice(0, Math.max(0, topk - 1))]);
      for (let qq = i * block; qq < Math.min(n, (i + 1) * block); qq++) {
        for (let kk = 0; kk <= qq; kk++) if (kept.has(Math.floor(kk / block))) mask[(h * n + qq) * n + kk] = 1;
      }
    }
  }
  return mask;
}

describe("data-dependent patterns", () => {
  const H = 2;
  const N = 100;
  const D = 8;

  it("fail without --q/--k, with a message", async () => {
    const out = join(freshDir(), "m.json");
    const r = await cli("mask", ex("block_topk.spattn"), "--seq", String(N), "--set", "block=16", "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/data-dependent/);
    expect(r.stderr).toMatch(/--q and --k/);
    expectNoStackTrace(r);
    expect(existsSync(out)).toBe(false);
  });

  it("want --q and --k together", async () => {
    const dir = freshDir();
    writeTensor(join(dir, "q.npy"), [1, H, N, D], 1);
    const r = await cli("mask", ex("block_topk.spattn"), "--seq", String(N), "--q", join(dir, "q.npy"), "--out", join(dir, "m.json"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--q and --k go together/);
  });

  it("reject Q of the wrong sequence length", async () => {
    const dir = freshDir();
    writeTensor(join(dir, "q.npy"), [1, H, N, D], 1);
    writeTensor(join(dir, "k.npy"), [1, H, N, D], 2);
    const r = await cli("mask", ex("block_topk.spattn"), "--seq", "90", "--q", join(dir, "q.npy"), "--k", join(dir, "k.npy"), "--out", join(dir, "m.json"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/N = 100 but the sequence length is 90/);
    expectNoStackTrace(r);
  });

  it("block_topk with random Q/K matches a brute-force selection, densely and by blocks", async () => {
    const dir = freshDir();
    const q = writeTensor(join(dir, "q.npy"), [1, H, N, D], 11);
    const k = writeTensor(join(dir, "k.npy"), [1, H, N, D], 12);
    const common = ["--seq", String(N), "--set", "block=16", "--set", "topk=3", "--q", join(dir, "q.npy"), "--k", join(dir, "k.npy")];
    const d = await cli("mask", ex("block_topk.spattn"), ...common, "--format", "dense", "--out", join(dir, "m.npy"));
    expect(d.code, d.stderr).toBe(0);
    const dense = readDense(join(dir, "m.npy"));
    expect(dense.shape).toEqual([H, N, N]);
    expect(mismatchCount(dense.data, bruteBlockTopk(q, k, H, N, D, 16, 3))).toBe(0);
    const b = await cli("mask", ex("block_topk.spattn"), ...common, "--block", "16", "--out", join(dir, "m.json"));
    expect(b.code, b.stderr).toBe(0);
    expectBsrMatchesDense(readBsr(join(dir, "m.json")), dense.data, H, N, 16, 16);
  });

  const DYNAMIC: { file: string; args: string[]; block: number }[] = [
    { file: "moba.spattn", args: ["--set", "block=16", "--set", "topk=2"], block: 12 },
    { file: "nsa.spattn", args: ["--set", "block=16", "--set", "selected=2", "--set", "local_blocks=1", "--set", "window=20"], block: 16 },
    { file: "hierarchical_topk.spattn", args: ["--set", "block=8", "--set", "super_block=32", "--set", "top_super=1", "--set", "topk=3"], block: 24 },
    { file: "routing.spattn", args: ["--set", "clusters=3"], block: 16 },
  ];

  it.each(DYNAMIC)("$file: blocks agree with the dense mask", async (c) => {
    const dir = freshDir();
    writeTensor(join(dir, "q.npy"), [1, H, N, D], 21);
    writeTensor(join(dir, "k.npy"), [1, H, N, D], 22);
    const common = ["--seq", String(N), ...c.args, "--q", join(dir, "q.npy"), "--k", join(dir, "k.npy")];
    const d = await cli("mask", ex(c.file), ...common, "--format", "dense", "--out", join(dir, "m.npy"));
    expect(d.code, d.stderr).toBe(0);
    const dense = readDense(join(dir, "m.npy"));
    expect(dense.shape).toEqual([H, N, N]);
    // Every one of these patterns is causal.
    for (let h = 0; h < H; h++) for (let q = 0; q < N; q++) for (let k = q + 1; k < N; k++) expect(dense.data[(h * N + q) * N + k]).toBe(0);
    const b = await cli("mask", ex(c.file), ...common, "--block", String(c.block), "--out", join(dir, "m.json"));
    expect(b.code, b.stderr).toBe(0);
    expectBsrMatchesDense(readBsr(join(dir, "m.json")), dense.data, H, N, c.block, c.block);
  });
});

// ------------------------------------------------------------------------------ run

describe("spattn run", () => {
  const H = 2;
  const N = 60;
  const D = 8;
  const DV = 5;

  function inputs(dir: string): { q: Float32Array; k: Float32Array; v: Float32Array; paths: string[] } {
    const q = writeTensor(join(dir, "q.npy"), [1, H, N, D], 31);
    const k = writeTensor(join(dir, "k.npy"), [1, H, N, D], 32);
    const v = writeTensor(join(dir, "v.npy"), [1, H, N, DV], 33);
    return { q, k, v, paths: ["--q", join(dir, "q.npy"), "--k", join(dir, "k.npy"), "--v", join(dir, "v.npy")] };
  }

  function expected(q: Float32Array, k: Float32Array, v: Float32Array, allowed: Allowed): Float64Array {
    return referenceAttention({ q, k, v, heads: H, seqLen: N, headDim: D, valueDim: DV }, (h, i, row) => {
      for (let j = 0; j < N; j++) row[j] = allowed(h, i, j) ? 1 : 0;
    }).out;
  }

  it("--backend reference takes K and V with fewer heads (MQA)", async () => {
    const dir = freshDir();
    const q = writeTensor(join(dir, "q.npy"), [1, H, N, D], 41);
    const k = writeTensor(join(dir, "k.npy"), [1, 1, N, D], 42);
    const v = writeTensor(join(dir, "v.npy"), [1, 1, N, DV], 43);
    const out = join(dir, "o.npy");
    const r = await cli("run", ex("causal.spattn"), "--q", join(dir, "q.npy"), "--k", join(dir, "k.npy"), "--v", join(dir, "v.npy"), "--out", out, "--dtype", "float64");
    expect(r.code, r.stderr).toBe(0);
    const want = referenceAttention({ q, k, v, heads: H, kvHeads: 1, seqLen: N, headDim: D, valueDim: DV }, (_h, i, row) => {
      for (let j = 0; j < N; j++) row[j] = j <= i ? 1 : 0;
    }).out;
    expect(Array.from(readNpy(out).data as Float64Array)).toEqual(Array.from(want));
  });

  it("--backend reference equals referenceAttention under a brute-force causal mask (float32 by default)", async () => {
    const dir = freshDir();
    const { q, k, v, paths } = inputs(dir);
    const out = join(dir, "o.npy");
    const r = await cli("run", ex("causal.spattn"), "--backend", "reference", ...paths, "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const o = readNpy(out);
    expect(o.dtype).toBe("<f4");
    expect(o.shape).toEqual([1, H, N, DV]);
    expect(Array.from(o.data as Float32Array)).toEqual(Array.from(Float32Array.from(expected(q, k, v, (_h, i, j) => j <= i))));
  });

  it("--dtype float64 writes the float64 result exactly", async () => {
    const dir = freshDir();
    const { q, k, v, paths } = inputs(dir);
    const out = join(dir, "o.npy");
    const r = await cli("run", ex("causal.spattn"), ...paths, "--dtype", "float64", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const o = readNpy(out);
    expect(o.dtype).toBe("<f8");
    expect(o.shape).toEqual([1, H, N, DV]);
    expect(Array.from(o.data as Float64Array)).toEqual(Array.from(expected(q, k, v, (_h, i, j) => j <= i)));
  });

  it("applies --set overrides", async () => {
    const dir = freshDir();
    const { q, k, v, paths } = inputs(dir);
    const out = join(dir, "o.npy");
    const r = await cli("run", ex("sliding_window.spattn"), "--set", "window=7", ...paths, "--dtype", "float64", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(Array.from(readNpy(out).data as Float64Array)).toEqual(Array.from(expected(q, k, v, (_h, i, j) => j <= i && i - j < 7)));
  });

  it("--backend webgpu runs the WGSL shader and matches the float64 reference", async () => {
    const dir = freshDir();
    const { q, k, v, paths } = inputs(dir);
    const out = join(dir, "o.npy");
    const r = await cli("run", ex("sliding_window.spattn"), "--set", "window=7", "--backend", "webgpu", ...paths, "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const got = readNpy(out).data as Float32Array;
    const want = expected(q, k, v, (_h, i, j) => j <= i && i - j < 7);
    expect(got.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i])));
    const f64 = await cli("run", ex("causal.spattn"), "--backend", "webgpu", ...paths, "--dtype", "float64", "--out", join(dir, "o64.npy"));
    expect(f64.code).toBe(1);
    expect(f64.stderr).toMatch(/^spattn: error: --backend webgpu computes in float32/);
    expectNoStackTrace(f64);
  }, 60_000);

  it("rejects a bad --dtype and mismatched shapes", async () => {
    const dir = freshDir();
    const { paths } = inputs(dir);
    const out = join(dir, "o.npy");
    const bad = await cli("run", ex("causal.spattn"), ...paths, "--dtype", "float16", "--out", out);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--dtype must be float32 or float64, got 'float16'/);
    writeTensor(join(dir, "k2.npy"), [1, H, N - 1, D], 5);
    const shapes = await cli("run", ex("causal.spattn"), "--q", join(dir, "q.npy"), "--k", join(dir, "k2.npy"), "--v", join(dir, "v.npy"), "--out", out);
    expect(shapes.code).toBe(1);
    expect(shapes.stderr).toMatch(/K has shape \[1, 2, 59, 8\]/);
    const missing = await cli("run", ex("causal.spattn"), "--q", join(dir, "none.npy"), "--k", join(dir, "k.npy"), "--v", join(dir, "v.npy"), "--out", out);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/none\.npy/);
    expectNoStackTrace(missing);
    expect(existsSync(out)).toBe(false);
  });
});

// ------------------------------------------------------------------------------ compile

describe("spattn compile", () => {
  it("--target ts writes <pattern>.mask.ts, a module that builds the same mask", async () => {
    const dir = freshDir();
    const out = join(dir, "gen");
    const r = await cli("compile", ex("sliding_window.spattn"), "--set", "window=7", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(["sliding_window.mask.ts"]);
    const file = join(out, "sliding_window.mask.ts");
    const src = readFileSync(file, "utf8");
    expect(src).toMatch(/export function denseMask/);
    expect(src).toMatch(/export function blockMask/);
    const mod = (await import(pathToFileURL(file).href)) as { denseMask: (n: number) => Uint8Array };
    expect(mismatchCount(mod.denseMask(40), bruteDense(1, 40, (_h, q, k) => k <= q && q - k < 7))).toBe(0);
  });

  it("--target ts is the default target and --pattern picks a pattern", async () => {
    const out = join(freshDir(), "gen");
    const r = await cli("compile", ex("mixed_heads.spattn"), "--pattern", "sinks_window", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(["sinks_window.mask.ts"]);
  });

  it("--target ir writes JSON that parses into the checked IR", async () => {
    const out = join(freshDir(), "ir");
    const r = await cli("compile", ex("sliding_window.spattn"), "--target", "ir", "--set", "window=64", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(["sliding_window.ir.json"]);
    const ir = JSON.parse(readFileSync(join(out, "sliding_window.ir.json"), "utf8"));
    expect(ir.name).toBe("sliding_window");
    expect(ir.params).toEqual({ window: 64 });
    expect(ir).toEqual(JSON.parse(JSON.stringify(compile(readFileSync(ex("sliding_window.spattn"), "utf8"), { set: { window: "64" } }))));
  });

  it("writes the CUDA target's .cu and .h", async () => {
    const out = join(freshDir(), "gen");
    const r = await cli("compile", ex("causal.spattn"), "--target", "cuda", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["causal.cu", "causal.h"]);
    expect(readFileSync(join(out, "causal.h"), "utf8")).toMatch(/int spattn_causal_fwd_bf16_d128\(/);
  });

  it("compiles --target wgsl to a host module and its shaders, and rejects unknown targets", async () => {
    const out = join(freshDir(), "gen");
    const wgsl = await cli("compile", ex("causal.spattn"), "--target", "wgsl", "--head-dim", "128", "--out", out);
    expect(wgsl.code, wgsl.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["causal.attention.wgsl", "causal.mask.wgsl", "causal.webgpu.ts"]);
    expect(readFileSync(join(out, "causal.attention.wgsl"), "utf8")).toMatch(/D = 128, DV = 128, 32 x 16 tiles/);
    expect(readFileSync(join(out, "causal.webgpu.ts"), "utf8")).toMatch(/^export function attention\(device: GPUDevice/m);
    const misplaced = await cli("compile", ex("causal.spattn"), "--target", "ts", "--head-dim", "64", "--out", join(freshDir(), "x"));
    expect(misplaced.code).toBe(1);
    expect(misplaced.stderr).toMatch(/--head-dim and --value-dim apply to --target wgsl only/);
    const other = await cli("compile", ex("causal.spattn"), "--target", "llvm", "--out", join(freshDir(), "y"));
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/unknown target 'llvm'/);
    expect(existsSync(join(freshDir(), "y"))).toBe(false);
  });

  it("reports diagnostics of a file with several patterns and no --pattern", async () => {
    const out = join(freshDir(), "gen");
    const r = await cli("compile", ex("mixed_heads.spattn"), "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${ex("mixed_heads.spattn")}:1:1: error: this file has several patterns`);
    expectNoStackTrace(r);
  });
});

// ------------------------------------------------------------------------------ atomic outputs

describe("outputs are written atomically", () => {
  function snapshot(dir: string): string[] {
    return readdirSync(dir).sort();
  }

  it("a failing mask --out X leaves a previous X byte-identical and no temporary files", async () => {
    const dir = freshDir();
    const file = join(dir, "sw.spattn");
    copyFileSync(ex("sliding_window.spattn"), file);
    const out = join(dir, "m.json");
    expect((await cli("mask", file, "--seq", "100", "--set", "window=20", "--block", "16", "--out", out)).code).toBe(0);
    const before = readFileSync(out);
    const files = snapshot(dir);
    expect(files).toEqual(["m.json", "sw.spattn"]);

    // A bad --set value.
    const bad = await cli("mask", file, "--seq", "100", "--set", "window=abc", "--block", "16", "--out", out);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${file}:2:24: error: bad value for 'window'`);
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(snapshot(dir)).toEqual(files);

    // An unknown parameter.
    expect((await cli("mask", file, "--seq", "100", "--set", "windw=3", "--out", out)).code).toBe(1);
    expect(readFileSync(out).equals(before)).toBe(true);

    // A syntax error in the file.
    writeFileSync(file, readFileSync(file, "utf8").replace("mask causal", "mask $ causal and ("));
    const syntax = await cli("mask", file, "--seq", "100", "--block", "16", "--out", out);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toMatch(/unexpected character "\$"/);
    expectNoStackTrace(syntax);
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(snapshot(dir)).toEqual(files);
  });

  it("the same holds for dense .npy output and instance errors", async () => {
    const dir = freshDir();
    const out = join(dir, "m.npy");
    expect((await cli("mask", ex("causal.spattn"), "--seq", "50", "--format", "dense", "--out", out)).code).toBe(0);
    const before = readFileSync(out);
    expect((await cli("mask", ex("sliding_window.spattn"), "--seq", "50", "--set", "window=x", "--format", "dense", "--out", out)).code).toBe(1);
    expect((await cli("mask", ex("block_topk.spattn"), "--seq", "50", "--format", "dense", "--out", out)).code).toBe(1);
    expect((await cli("mask", ex("neighborhood2d.spattn"), "--seq", "50", "--format", "dense", "--out", out)).code).toBe(1);
    expect((await cli("mask", ex("causal.spattn"), "--seq", "50", "--block", "0", "--out", out)).code).toBe(1);
    expect(readFileSync(out).equals(before)).toBe(true);
    expect(snapshot(dir)).toEqual(["m.npy"]);
  });

  it("a failing run or compile leaves earlier outputs alone", async () => {
    const dir = freshDir();
    writeTensor(join(dir, "q.npy"), [1, 1, 20, 4], 1);
    writeTensor(join(dir, "k.npy"), [1, 1, 20, 4], 2);
    writeTensor(join(dir, "v.npy"), [1, 1, 20, 4], 3);
    const io = ["--q", join(dir, "q.npy"), "--k", join(dir, "k.npy"), "--v", join(dir, "v.npy")];
    const out = join(dir, "o.npy");
    expect((await cli("run", ex("causal.spattn"), ...io, "--out", out)).code).toBe(0);
    const before = readFileSync(out);
    expect((await cli("run", ex("sliding_window.spattn"), "--set", "window=-", ...io, "--out", out)).code).toBe(1);
    expect(readFileSync(out).equals(before)).toBe(true);

    const gen = join(dir, "gen");
    expect((await cli("compile", ex("sliding_window.spattn"), "--target", "ir", "--out", gen)).code).toBe(0);
    const ir = readFileSync(join(gen, "sliding_window.ir.json"));
    expect((await cli("compile", ex("sliding_window.spattn"), "--target", "ir", "--set", "window=abc", "--out", gen)).code).toBe(1);
    expect(readFileSync(join(gen, "sliding_window.ir.json")).equals(ir)).toBe(true);
    expect(snapshot(gen)).toEqual(["sliding_window.ir.json"]);
    expect(snapshot(dir)).toEqual(["gen", "k.npy", "o.npy", "q.npy", "v.npy"]);
  });

  it("an output path that cannot be written is a user error, not an internal error", async () => {
    // writeFileAtomic's ENOENT/EISDIR errors are plain Errors, so guarded() reports them as
    // "spattn: internal error: ... (this is a bug in spattn ...)", naming the temporary file.
    const dir = freshDir();
    const r = await cli("mask", ex("causal.spattn"), "--seq", "10", "--out", join(dir, "missing", "m.json"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^spattn: error: .*missing/);
    expect(r.stderr).not.toMatch(/internal error|this is a bug/);
    expect(r.stderr).not.toMatch(/\.tmp-/);
    const asDir = await cli("mask", ex("causal.spattn"), "--seq", "10", "--out", dir);
    expect(asDir.code).toBe(1);
    expect(asDir.stderr).not.toMatch(/internal error|this is a bug/);
    expect(snapshot(dir)).toEqual([]);
  });
});
