// Every ```spattn block of the language reference checks without diagnostics, and every
// pattern in it builds a mask: the documentation cannot drift from the language.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { check, compile, mask } from "../index.js";
import { randomTensor } from "./helpers.js";

const doc = readFileSync("docs/language.md", "utf8");
const blocks = [...doc.matchAll(/```spattn\n([\s\S]*?)```/g)].map((m) => m[1]);

describe("docs/language.md", () => {
  it("has spattn examples", () => expect(blocks.length).toBeGreaterThanOrEqual(8));
  blocks.forEach((src, i) => {
    it(`example ${i + 1} checks and builds`, () => {
      expect(check(src, `language.md#${i + 1}`)).toEqual([]);
      for (const name of [...src.matchAll(/^pattern (\w+)/gm)].map((m) => m[1])) {
        const ir = compile(src, { pattern: name });
        const n = ir.layout ? ir.layout.reduce((a, x) => a * x.size, 1) : 300;
        const heads = ir.heads ?? 2;
        const bsr = mask(ir, { seqLen: n, heads, block: 64, q: randomTensor(heads, n, 4, 1), k: randomTensor(heads, n, 4, 2) });
        expect(bsr.heads).toBe(heads);
      }
    });
  });
});
