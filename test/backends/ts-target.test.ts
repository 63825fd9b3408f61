// The TypeScript mask-generator target: golden files, strict type checking of the output, and
// the generated modules computing exactly what the compiler computes in-process.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ts } from "ts-morph";
import { describe, expect, it } from "vitest";
import { buildBlockMask, buildDenseMask } from "../../compiler/blockmask/build.js";
import { emitTypeScript } from "../../backends/ts/emit.js";
import { EXAMPLES, examplePattern, randomTensor, typecheckStrict } from "../helpers.js";

const GOLDEN = "test/golden/ts";
const examples = EXAMPLES;
const mainPattern = (file: string) => examplePattern(file);


async function load(code: string) {
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  return import(`data:text/javascript;base64,${Buffer.from(js).toString("base64")}`);
}

describe("ts target", () => {
  const generated = new Map<string, string>();
  for (const file of examples) generated.set(file, emitTypeScript(mainPattern(file), { sourceName: `examples/${file}` }));

  it("matches the golden files (UPDATE_GOLDEN=1 rewrites them)", () => {
    mkdirSync(GOLDEN, { recursive: true });
    for (const [file, code] of generated) {
      const path = join(GOLDEN, file.replace(/\.spattn$/, ".mask.ts"));
      if (process.env.UPDATE_GOLDEN || !existsSync(path)) writeFileSync(path, code);
      expect(code, `${path} is out of date: run UPDATE_GOLDEN=1 npx vitest run test/backends`).toBe(readFileSync(path, "utf8"));
    }
  });

  it("is deterministic", () => {
    const file = examples[0];
    expect(emitTypeScript(mainPattern(file), { sourceName: `examples/${file}` })).toBe(generated.get(file));
  });

  it("type-checks under strict settings with no dependencies", () => {
    const files = [...generated.keys()].map((f) => join(GOLDEN, f.replace(/\.spattn$/, ".mask.ts")));
    for (const [, code] of generated) expect(code).not.toMatch(/^import /m);
    expect(typecheckStrict(files).trim()).toBe("");
  }, 60_000);

  it("computes the same block and dense masks as the compiler", async () => {
    for (const [file, code] of generated) {
      const ir = mainPattern(file);
      const mod = await load(code);
      const n = ir.layout ? ir.layout.reduce((a, x) => a * x.size, 1) : 333;
      const heads = ir.heads ?? 2;
      const q = randomTensor(heads, n, 8, 1);
      const k = randomTensor(heads, n, 8, 2);
      for (const block of [32, 100]) {
        const mine = buildBlockMask(ir, { seqLen: n, heads, q, k, blockQ: block });
        const theirs = mod.blockMask(n, { heads, q, k, blockQ: block });
        expect(theirs.perHead.map((h: unknown) => JSON.stringify(h)), file).toEqual(mine.perHead.map((h) => JSON.stringify(h)));
      }
      if (n <= 1100) {
        const dense = buildDenseMask(ir, { seqLen: n, heads, q, k });
        expect(Buffer.from(mod.denseMask(n, { heads, q, k })).equals(Buffer.from(dense.data)), file).toBe(true);
      }
      expect(mod.PATTERN.name).toBe(ir.name);
    }
  }, 60_000);

  it("fails loudly when a dynamic pattern gets no tensors", async () => {
    const mod = await load(generated.get("block_topk.spattn")!);
    expect(() => mod.blockMask(128)).toThrow(/data-dependent/);
  });
});
