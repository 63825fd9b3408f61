// Shared test helpers: deterministic random numbers and tensors, temporary folders, and
// brute-force block classification.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, vi } from "vitest";
import { main } from "../cli/main.js";
import type { Tensor4 } from "../compiler/blockmask/build.js";
import { compile } from "../compiler/compile.js";
import type { PatternIR, Value } from "../compiler/ir.js";
import { rng } from "./random.js";

export { rng };
import type { HeadBlocks } from "../compiler/blockmask/lib.js";


/** The example files, sorted. */
export const EXAMPLES = readdirSync("examples").filter((f) => f.endsWith(".spattn")).sort();

/** The last pattern of an example file is its main one (earlier ones are helpers it calls). */
export function examplePattern(file: string, set: Record<string, Value> = {}): PatternIR {
  const src = readFileSync(join("examples", file), "utf8");
  const names = [...src.matchAll(/^pattern (\w+)/gm)].map((m) => m[1]);
  return compile(src, { fileName: file, pattern: names[names.length - 1], set });
}

/** The project's TypeScript compiler on `files`, strict, no emit; its report ("" when clean).
 *  `webgpu`: with the WebGPU types (@webgpu/types and the DOM library; skipLibCheck, since
 *  TypeScript's DOM library now declares WebGPU too, a little differently). */
export function typecheckStrict(files: string[], webgpu = false): string {
  const libs = webgpu ? ["--skipLibCheck", "--lib", "es2022,dom", "--typeRoots", "node_modules/@webgpu", "--types", "types"] : ["--types", ""];
  try {
    return execFileSync(join("node_modules", ".bin", "tsc"), ["--ignoreConfig", "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", ...libs, ...files], { encoding: "utf8" });
  } catch (e) {
    return String((e as { stdout?: string }).stdout ?? e);
  }
}

/** Debian's chromium (headless browser tests); its absence is a failure, not a skip. */
export function chromium(): string {
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (existsSync(p)) return p;
  throw new Error("no chromium: install Debian's chromium package (runtime/webgpu/setup-swiftshader.sh does)");
}

/** A fresh folder per call, all removed after the test file. */
export function tempDirs(prefix: string): () => string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  // Retries: a browser's or compiler's children may still be closing files in there.
  afterAll(() => rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));
  let count = 0;
  return () => {
    const dir = join(root, `case-${count++}`);
    mkdirSync(dir);
    return dir;
  };
}

export function randomTensor(heads: number, n: number, d: number, seed: number): Tensor4 {
  const r = rng(seed);
  const data = new Float32Array(heads * n * d);
  for (let i = 0; i < data.length; i++) data[i] = r() * 2 - 1;
  return { shape: [1, heads, n, d], data };
}

/** 0 empty, 1 full, 2 partial, for every block, from a dense [n, n] predicate. */
export function bruteBlocks(n: number, bq: number, bk: number, allowed: (q: number, k: number) => boolean): number[][] {
  const out: number[][] = [];
  for (let i = 0; i * bq < n; i++) {
    const row: number[] = [];
    for (let j = 0; j * bk < n; j++) {
      let yes = 0;
      let all = 0;
      for (let q = i * bq; q < Math.min(n, (i + 1) * bq); q++) {
        for (let k = j * bk; k < Math.min(n, (j + 1) * bk); k++) {
          all++;
          if (allowed(q, k)) yes++;
        }
      }
      row.push(yes === 0 ? 0 : yes === all ? 1 : 2);
    }
    out.push(row);
  }
  return out;
}

/** The same table from a classifier's compressed rows. */
export function blocksTable(h: HeadBlocks, nqb: number, nkb: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < nqb; i++) {
    const row = new Array(nkb).fill(0);
    for (let t = h.full.ptr[i]; t < h.full.ptr[i + 1]; t++) row[h.full.idx[t]] = 1;
    for (let t = h.partial.ptr[i]; t < h.partial.ptr[i + 1]; t++) {
      if (row[h.partial.idx[t]] !== 0) throw new Error(`block (${i}, ${h.partial.idx[t]}) listed twice`);
      row[h.partial.idx[t]] = 2;
    }
    out.push(row);
  }
  return out;
}

// ---------------------------------------------------------------- the CLI in process

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function text(chunk: unknown): string {
  return typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8");
}

/** Runs the CLI in process, capturing what it writes. */
export async function cli(...argv: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
    stdout += text(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
    stderr += text(chunk);
    return true;
  });
  let code: number;
  try {
    code = await main(argv);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return { code, stdout, stderr };
}

export function expectNoStackTrace(r: CliResult): void {
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
}
