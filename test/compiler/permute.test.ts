// Token permutations: the permuted mask, classified in kernel order, must equal brute force
// over the token map and the original predicate.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { buildBlockMask, headContexts } from "../../compiler/blockmask/build.js";
import { maskEval } from "../../compiler/blockmask/evaluate.js";
import { choosePermutation, patchShape, permutedIR, permutedLength, tokenMap } from "../../compiler/passes/permute.js";
import { blocksTable, bruteBlocks } from "../helpers.js";

describe("residue permutation (dilation as gather)", () => {
  it("finds the dilation conjunct and nothing else", () => {
    expect(choosePermutation(compile("pattern p() { mask causal and (q - k) % 4 == 0 }"), 16, 8)).toEqual({ kind: "residue", dilation: 4, classTile: 16 });
    expect(choosePermutation(compile("pattern p() { mask causal and 0 == (k - q) % 3 }"), 16, 8)).toMatchObject({ dilation: 3 });
    expect(choosePermutation(compile("pattern p() { mask causal or (q - k) % 4 == 0 }"), 16, 8)).toBeUndefined();
    expect(choosePermutation(compile("pattern p() { mask causal and (q - k) % 4 == 1 }"), 16, 8)).toBeUndefined();
  });

  it("maps every token once and pads each class", () => {
    const p = { kind: "residue" as const, dilation: 3, classTile: 8 };
    const map = tokenMap(p, 50);
    expect(map.length).toBe(permutedLength(p, 50));
    expect([...map].filter((t) => t >= 0).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(map.subarray(0, 4))).toEqual([0, 3, 6, 9]);
  });

  it("classifies exactly in kernel order", () => {
    const rest = fc.constantFrom("causal", "causal and q - k < 40", "abs(q - k) < 30", "k < 5 or q - k < 12", "neighborhood(5, dilation: 3)", "true");
    fc.assert(
      fc.property(rest, fc.integer({ min: 2, max: 5 }), fc.integer({ min: 20, max: 120 }), fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 16 }), (r, d, n, bq, bk) => {
        // A neighbourhood brings its own dilation conjunct (here 3).
        const src = r.startsWith("neighborhood") ? `pattern p() { mask ${r} }` : `pattern p() { mask (${r}) and (q - k) % ${d} == 0 }`;
        const ir = compile(src);
        const perm = choosePermutation(ir, bq, bk)!;
        expect(perm).toBeDefined();
        const map = tokenMap(perm, n);
        const len = permutedLength(perm, n);
        const pir = permutedIR(ir, perm, n);
        const bm = buildBlockMask(pir, { seqLen: len, blockQ: bq, blockK: bk });
        const m = maskEval(ir.mask, headContexts(ir, { seqLen: n })[0]);
        const want = bruteBlocks(len, bq, bk, (i, j) => map[i] >= 0 && map[j] >= 0 && m.point(map[i], map[j]));
        expect(blocksTable(bm.perHead[0], bm.numQBlocks, bm.numKBlocks), `${src} n=${n}`).toEqual(want);
      }),
      { seed: 31, numRuns: 120 },
    );
  });
});

describe("kernel-order block masks", () => {
  it("use the permutation when one pays and keep sequence order otherwise", async () => {
    const { buildKernelBlockMask } = await import("../../compiler/blockmask/kernel-order.js");
    const { toBsrJson } = await import("../../backends/mask/bsr.js");
    // 256 tokens: 4 classes of 64, no padding rows (a padded tile's rows would be partial).
    const dil = buildKernelBlockMask(compile("pattern p() { mask causal and (q - k) % 4 == 0 }"), { seqLen: 256, blockQ: 32, blockK: 16 });
    expect(dil.permutation).toMatchObject({ kind: "residue", dilation: 4 });
    const json = toBsrJson(dil.blocks, { permutation: dil.permutation!, map: dil.map! });
    expect(json.seq_len).toBe(256);
    expect(json.token_map?.length).toBe(json.num_q_blocks * 32);
    // Causal inside each residue class: no tile straddles classes, so only diagonals are partial.
    expect(json.kv_num_blocks[0].every((c) => c <= 32 / 16 + 1)).toBe(true);
    const plain = buildKernelBlockMask(compile("pattern p() { mask causal }"), { seqLen: 300, blockQ: 32 });
    expect(plain.permutation).toBeUndefined();
    expect(toBsrJson(plain.blocks).token_map).toBeUndefined();
  });
});

describe("patch permutation (2D/3D tiles for layouts)", () => {
  it("tiles grids the patches divide, frame by frame", () => {
    const ir = compile("pattern p() { layout(t: 2, y: 4, x: 32) mask neighborhood([1, 3, 3]) }");
    // Key tiles of 16: 4 x 4 patches; a query tile of 32 is two of them side by side.
    const p = choosePermutation(ir, 32, 16)!;
    expect(p).toEqual({ kind: "patch", sizes: [2, 4, 32], ph: 4, pw: 4 });
    const map = tokenMap(p, 256);
    // First patch: rows 0-3, columns 0-3 of frame 0; the next: columns 4-7.
    expect(Array.from(map.subarray(0, 6))).toEqual([0, 1, 2, 3, 32, 33]);
    expect(map[16]).toBe(4);
    expect(map[128]).toBe(128);  // frame 1 starts after frame 0's 8 patches
    expect([...map].sort((a, b) => a - b)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(choosePermutation(compile("pattern p() { layout(y: 5, x: 32) mask neighborhood(3) }"), 32, 16)).toBeUndefined();
  });

  it("shapes key tiles as near-square patches", () => {
    expect(patchShape(64)).toEqual({ ph: 8, pw: 8 });
    expect(patchShape(32)).toEqual({ ph: 4, pw: 8 });
    expect(patchShape(48)).toEqual({ ph: 6, pw: 8 });
  });

  it("covers a 13 x 13 neighbourhood of a 256 x 256 grid with 12 key tiles per inner query tile", () => {
    // 8 x 16 query patches see 20 x 28 keys: 3 x 4 patches of 8 x 8 (4 x 16 strips took 6 x 3).
    const ir = compile("pattern p() { layout(y: 256, x: 256) mask neighborhood(13) }");
    const n = 65536;
    const perm = choosePermutation(ir, 128, 64)!;
    const bm = buildBlockMask(permutedIR(ir, perm, n), { seqLen: n, blockQ: 128, blockK: 64 });
    const inner = 16 * 4 + 3;  // patch row 2, query tile 3 (no border in reach)
    const h = bm.perHead[0];
    expect(h.partial.ptr[inner + 1] - h.partial.ptr[inner] + h.full.ptr[inner + 1] - h.full.ptr[inner]).toBe(12);
  });

  it("classifies exactly in patch order", () => {
    const body = fc.constantFrom(
      "neighborhood(3)",
      "neighborhood([3, 5], dilation: [1, 2])",
      "neighborhood(3, causal: [1, 0])",
      "abs(q.y - k.y) <= 1 and q.x >= k.x",
      "q.y == k.y or k < 5",
      "causal and abs(q.x - k.x) < 3",
    );
    fc.assert(
      fc.property(body, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.constantFrom(16, 32, 64), fc.constantFrom(8, 16, 32), (b, hm, wm, bq, bk) => {
        const { ph, pw } = patchShape(bk);
        const h = ph * hm * 2;
        const w = pw * (wm + 1) * 2;
        const ir = compile(`pattern p() { layout(y: ${h}, x: ${w}) mask ${b} }`);
        const perm = choosePermutation(ir, bq, bk)!;
        expect(perm?.kind).toBe("patch");
        const n = h * w;
        const map = tokenMap(perm, n);
        const bm = buildBlockMask(permutedIR(ir, perm, n), { seqLen: n, blockQ: bq, blockK: bk });
        const m = maskEval(ir.mask, headContexts(ir, { seqLen: n })[0]);
        expect(blocksTable(bm.perHead[0], bm.numQBlocks, bm.numKBlocks), `${b} on ${h}x${w}`).toEqual(bruteBlocks(n, bq, bk, (i, j) => m.point(map[i], map[j])));
      }),
      { seed: 77, numRuns: 60 },
    );
  });
});
