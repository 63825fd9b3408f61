// specializeHead: a mask as one head sees it; equal results mean equal masks.
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { headContexts } from "../../compiler/blockmask/build.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import { headCases, resolveHeads, specializeHead } from "../../compiler/passes/specialize.js";
import { examplePattern } from "../helpers.js";

const key = (src: string, head: number): string => JSON.stringify(specializeHead(compile(src).mask, head));

describe("specializeHead", () => {
  it("substitutes the head and folds constants, so heads with one residue agree", () => {
    const src = "pattern p() { heads 8\n mask causal and (k % 4 == head % 4 or q - k < 3 * head) }";
    expect(key(src.replace("3 * head", "8"), 1)).toBe(key(src.replace("3 * head", "8"), 5));
    expect(key(src.replace("3 * head", "8"), 1)).not.toBe(key(src.replace("3 * head", "8"), 2));
    expect(key(src, 1)).not.toBe(key(src, 5));
    expect(key(src, 1)).not.toContain('"head"');
  });

  it("resolves per-head cases", () => {
    const ir = examplePattern("mixed_heads.spattn");
    expect(JSON.stringify(specializeHead(ir.mask, 0))).toBe(JSON.stringify(specializeHead(ir.mask, 1)));
    expect(JSON.stringify(specializeHead(ir.mask, 0))).not.toBe(JSON.stringify(specializeHead(ir.mask, 2)));
    expect(JSON.stringify(specializeHead(ir.mask, 0))).not.toContain("byHead");
  });

  it("keeps the mask's meaning: the same pairs as the original for each head", () => {
    const ir = examplePattern("s2_attention.spattn");
    const n = 200;
    headContexts(ir, { seqLen: n }).forEach((ctx, h) => {
      const a = maskEval(ir.mask, ctx);
      const b = maskEval(specializeHead(ir.mask, h), ctx);
      for (let q = 0; q < n; q += 3) for (let k = 0; k < n; k++) if (a.point(q, k) !== b.point(q, k)) throw new Error(`head ${h} differs at (${q}, ${k})`);
    });
  });

  it("does not fold a neighbourhood over the whole sequence, which reads n", () => {
    const m = specializeHead(compile("pattern p() { mask neighborhood(5) }").mask, 0);
    expect(JSON.stringify(m)).toContain('"natStart"');
  });

  it("headCases groups the listed heads by their resolved masks, other heads last", () => {
    const ir = examplePattern("mixed_heads.spattn");
    const cases = headCases(ir.mask);
    expect(cases.map((c) => c.heads)).toEqual([[0, 1], [2, 3], []]);
    for (const [i, h] of [[0, 0], [0, 1], [1, 2], [1, 3], [2, 7]]) expect(JSON.stringify(cases[i].mask)).toBe(JSON.stringify(resolveHeads(ir.mask, h)));
    expect(JSON.stringify(cases.map((c) => c.mask))).not.toContain("byHead");
    // Listed heads whose mask is the other heads' join the last group; no byHead: one group.
    const merged = compile("pattern p() { mask causal and match head { 0 => q - k < 4, 1 => true, _ => true } }");
    expect(headCases(merged.mask).map((c) => c.heads)).toEqual([[0], []]);
    expect(headCases(compile("pattern p() { mask causal }").mask)).toHaveLength(1);
  });
});
