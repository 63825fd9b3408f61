// The sm_90a kernel's instruction wrappers (generated) and how the CUDA target exposes the two
// kernels and the mask generators. What the wrappers compute is checked on the GPU
// (bench/cuda/gpu_check.py); here, that each one names the operands wgmma requires.
import { describe, expect, it } from "vitest";
import { wgmmaWrappers } from "../../backends/cuda/wgmma.js";
import { emitCuda } from "../../backends/cuda/emit.js";
import { compile } from "../../compiler/compile.js";

/** The wrapper function `name` in the generated text. */
function wrapperOf(text: string, name: string): string {
  const start = text.indexOf(`void ${name}(`);
  expect(start, `${name} is generated`).toBeGreaterThan(0);
  return text.slice(start, text.indexOf("\n}", start));
}

describe("wgmma wrappers", () => {
  const text = wgmmaWrappers([64, 128]);

  it("give every accumulator register its own operand, in order", () => {
    for (const [name, n] of [["rsk_f16_n64", 64], ["rsk_bf16_n128", 128], ["rs_f16_n128", 128], ["rsk_bf16_n64", 64], ["rs_bf16_n64", 64]] as const) {
      const w = wrapperOf(text, name);
      expect(w).toContain(`m64n${n}k16`);
      const outs = [...w.matchAll(/"\+f"\(d\[(\d+)\]\)/g)].map((m) => Number(m[1]));
      expect(outs).toEqual(Array.from({ length: n / 2 }, (_, i) => i));
      const regs = w.match(/\{(%\d+(?:, %\d+)*)\}/)![1].split(", ");
      expect(regs).toEqual(Array.from({ length: n / 2 }, (_, i) => `%${i}`));
    }
  });

  it("read K K-major and V N-major (the transpose bit), with the scale-d predicate last", () => {
    expect(text).not.toContain("ss_bf16");  // no form with A in shared memory is generated
    // rs (P V): A registers, b-desc, p, scale-a, scale-b, tnspB = 1.
    expect(wrapperOf(text, "rs_bf16_n128")).toContain("{%64, %65, %66, %67}, %68, p, 1, 1, 1;");
    expect(wrapperOf(text, "rs_bf16_n128")).toContain("setp.ne.b32 p, %69, 0;");
    // rsk (Q K^T with Q in registers): tnspB = 0.
    expect(wrapperOf(text, "rsk_f16_n64")).toContain("{%32, %33, %34, %35}, %36, p, 1, 1, 0;");
    expect(wrapperOf(text, "rsk_f16_n64")).toContain(".f32.f16.f16");
    expect(wrapperOf(text, "rsk_bf16_n64")).toContain(".f32.bf16.bf16");
  });

  it("are compiled only for sm_90a (other targets never see wgmma)", () => {
    expect(text).toMatch(/^[\s\S]*#if defined\(__CUDA_ARCH__\) && defined\(__CUDA_ARCH_FEAT_SM90_ALL\)[\s\S]*#endif\s*$/);
  });
});

describe("the CUDA target's entry points", () => {
  const ir = compile("pattern w(window = 256) { mask q >= k and q - k < window }", { fileName: "w.spattn" });
  const out = emitCuda(ir, { sourceName: "w.spattn" });

  it("declares the mask generators beside the forward kernels", () => {
    for (const fn of ["spattn_w_mask_dense(", "spattn_w_mask_blocks(", "spattn_w_mask_lists(", "spattn_w_fwd_bf16_d128("]) {
      expect(out.header).toContain(fn);
      expect(out.cu).toContain(`extern "C" int ${fn}`);
    }
  });

  it("defines only SPATTN_ macros in the header (no collisions with the host's names)", () => {
    const macros = [...out.header.matchAll(/^#(?:define|ifndef) (\w+)/gm)].map((m) => m[1]);
    expect(macros).toContain("SPATTN_W_BLOCK_Q");
    for (const m of macros) expect(m).toMatch(/^SPATTN_/);
    expect(out.header).toContain("#define SPATTN_W_BLOCK_Q 128");
    expect(out.header).toContain("#define SPATTN_W_BLOCK_K 64");
  });

  it("declares a GPU routing builder for each route, and none for positional patterns", () => {
    const routed = emitCuda(compile("pattern r(c: int = 4) { mask same_cluster(c, iterations: 3) and causal }", { fileName: "r.spattn" }), { sourceName: "r.spattn" });
    for (const fn of ["size_t spattn_r_route0_workspace(", "int spattn_r_route0_build_bf16(", "int spattn_r_route0_build_fp16("]) {
      expect(routed.header).toContain(fn);
    }
    expect(routed.cu).toContain("for (int it = 0; it < 3; ++it)");
    expect(routed.cu).toContain("route_assign<<<rows, 128, 0, stream>>>(x, cent, assign, n, d, 4)");
    expect(out.cu).not.toContain("route_normalize");
  });

  it("declares builders for top-p selections and vertical-slash steps, with the device's exp64", () => {
    const topp = emitCuda(compile("pattern t() { let s = topp(0.8, block: 16, among: kb < qb, always: kb == qb) mask s and causal }", { fileName: "t.spattn" }), { sourceName: "t.spattn" });
    expect(topp.header).toContain("int spattn_t_sel0_build_bf16(");
    expect(topp.cu).toContain("spattn::choose_row_mass(row, s, order");
    expect(topp.cu).toContain(", 0.8, scale, always, among);");
    const vs = emitCuda(compile("pattern v() { mask causal and vertical_slash(10, 20, last: 8, first: 2, recent: 3) }", { fileName: "v.spattn" }), { sourceName: "v.spattn" });
    for (const fn of ["size_t spattn_v_vs0_workspace(", "int spattn_v_vs0_build_bf16(", "int spattn_v_vs0_build_fp16(", "int spattn_v_exp64("]) {
      expect(vs.header).toContain(fn);
    }
    expect(vs.cu).toContain("#include <cub/device/device_radix_sort.cuh>");
    expect(vs.cu).toContain("workspace, 8, 2, 10, 3, 20, stream)");
    // exp64's constants as the CPU has them: the polynomial starts at 1/13!.
    expect(vs.cu).toContain(`double p = ${1 / 6227020800};`);
    expect(out.cu).not.toContain("vs_build");
  });

  it("filters pooled top-k choices of up to 32 blocks with tensor-core scores, and no other choice", () => {
    const cu = (rule: string) =>
      emitCuda(compile(`pattern t() { let s = ${rule} mask s and causal }`, { fileName: "t.spattn" }), { sourceName: "t.spattn" }).cu;
    const small = cu("topk(32, block: 16, among: kb < qb, always: kb == qb)");
    expect(small).toContain("spattn::choose_row_filtered<32>(");
    // Pooling makes the filter's splits and norms too where it can, else filter_means follows.
    expect(small).toContain("spattn::pool_and_filter<T>(static_cast<const T*>(q), static_cast<const T*>(k), 16, 16, w, heads, n, d, stream);");
    expect(small).toContain("spattn::score_tile_mma(qs, ks, scores, nqb, nkb, (nkb + 3) & ~3, d,");
    // The workspace's layout comes from one place, for its size and for the build.
    expect(small).toContain("return spattn::filter_workspace(nullptr, heads, nqb, nkb, d, nullptr);");
    expect(small).toContain("spattn::filter_workspace(workspace, heads, nqb, nkb, d, &w);");
    const large = cu("topk(33, block: 16, among: kb < qb, always: kb == qb)");
    expect(large).toContain("spattn::choose_row_rounds(row, nkb, 33, always, among, score);");
    expect(large).not.toContain("choose_row_filtered<");
    const mass = cu("topp(0.8, block: 16, among: kb < qb, always: kb == qb)");
    expect(mass).not.toContain("choose_row_filtered<");
    expect(mass).toContain("spattn::score_tile(qp, kp, scores, nqb, nkb, d,");
  });

  it("takes optional row masks of the partial tiles, and generates them", () => {
    expect(out.header).toContain("const unsigned long long* partial_bits;");
    expect(out.header).toContain("int spattn_w_mask_tile_bits(const spattn_tiles* tiles, int seq_len, const int* token_map, int map_len,");
    expect(out.cu).toContain("p.tiles.bits = tiles->partial_bits;");
    expect(out.cu).toContain("spattn::mask_tile_bits<SPATTN_W_BLOCK_Q, SPATTN_W_BLOCK_K, true>");
  });

  it("picks the Hopper kernel at run time, with the portable one as the fallback", () => {
    expect(out.cu).toContain("spattn::pick_kernel((const void*)spattn::sm90::attention_fwd<T, D, true, false>, &choice)");
    // Three Hopper variants: gathered through a token map, TMA in sequence order, and cp.async
    // in sequence order where no TMA map can be made.
    expect(out.cu).toContain("if (token_map) return (int)spattn::sm90::launch<T, D, true, false>(");
    // In sequence order two CTA shapes: 64 rows (two CTAs per SM) or 128, by the lists' length.
    expect(out.cu).toContain("if (spattn::sm90::short_shape(p.tiles.stride, (long long)grid.x * grid.y * grid.z)) {");
    expect(out.cu).toContain("return (int)spattn::sm90::launch<T, D, false, true, 1>(p, *dyn, maps, halves, stream);");
    expect(out.cu).toContain("spattn::sm90::encode_maps<T, D>(&maps, q, k, v, batch, heads, kv_heads, n, spattn::sm90::BQ)) {");
    expect(out.cu).toContain("return (int)spattn::sm90::launch<T, D, false, true>(p, *dyn, maps, grid, stream);");
    expect(out.cu).toContain("return (int)spattn::sm90::launch<T, D, false, false>(");
    expect(out.cu).toContain("spattn::attention_fwd<T, D, NW, MT, BK, true>");
    expect(out.cu).toContain('getenv("SPATTN_CUDA_KERNEL")');
    expect(out.cu).toContain('getenv("SPATTN_SM90_ROWS")');
  });

  it("marks patterns whose partial tiles come from data finer than the tiles (the short CTA shape's first rule)", () => {
    const flag = (src: string, set: Record<string, string> = {}) =>
      emitCuda(compile(src, { fileName: "s.spattn", set }), { sourceName: "s.spattn" }).cu.match(/constexpr bool DATA_PARTIAL_TILES = (\w+);/)![1];
    const topk = "pattern s(block: int = 64) {\n  let kept = topk(4, block: block, among: kb < qb, always: kb == qb)\n  mask kept and causal\n}\n";
    expect(flag(topk)).toBe("true");  // 64-query blocks split the 128-row tiles
    expect(flag(topk, { block: "128" })).toBe("false");  // blocks of whole tiles: kept tiles are full or causal
    expect(flag("pattern s() { mask causal }\n")).toBe("false");
  });
});
