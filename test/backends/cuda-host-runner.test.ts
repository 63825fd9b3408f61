// The generated host runner (backends/cuda/host-runner.ts): given no lists, it builds the
// data-dependent arrays with the GPU index builders, in an order that respects what each reads,
// then the lists with P_mask_tiles. What it builds is checked on the GPU (bench/cuda/node_run.sh);
// here, what it calls and in which order.
import { describe, expect, it } from "vitest";
import { emitCuda } from "../../backends/cuda/emit.js";
import { compile } from "../../compiler/compile.js";

/** The body of the generated build_dyn_device. */
function deviceBuild(src: string): string {
  const cu = emitCuda(compile(src, { fileName: "t.spattn" }), { sourceName: "t.spattn" }).cu;
  const start = cu.indexOf("static int build_dyn_device(");
  expect(start).toBeGreaterThan(0);
  return cu.slice(start, cu.indexOf("\n}\n", start));
}

describe("the CUDA host runner", () => {
  it("builds a later selection after the one it reads, and passes each the arrays built so far", () => {
    const body = deviceBuild(`pattern t() {
      let coarse = topk(2, block: 64, among: kb < qb, always: kb == qb)
      let fine = topk(2, block: 16, among: coarse and kb < qb, always: kb == qb)
      mask fine and causal
    }`);
    const first = body.indexOf("spattn_t_sel0_build_bf16(q, k, heads, n, d, dyn, sel0_kept, work, 0)");
    const second = body.indexOf("spattn_t_sel1_build_bf16(q, k, heads, n, d, dyn, sel1_kept, work, 0)");
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
    expect(body.indexOf("dyn->sel0_kept = sel0_kept;")).toBeLessThan(second);
    // One workspace, as large as the largest builder's.
    expect(body).toContain("ws = std::max(ws, spattn_t_sel0_workspace(heads, n, d));");
    expect(body).toContain("ws = std::max(ws, spattn_t_sel1_workspace(heads, n, d));");
    // fp16 inputs take the fp16 builders.
    expect(body).toContain("half ? spattn_t_sel1_build_fp16(");
  });

  it("builds routes and vertical-slash steps (which read only Q and K) before selections", () => {
    const body = deviceBuild(`pattern t() {
      let s = topk(2, block: 32, among: kb < qb, always: kb == qb)
      mask causal and (s or same_cluster(4) or vertical_slash(10, 20, last: 16))
    }`);
    const route = body.indexOf("spattn_t_route0_build_bf16(q, k, heads, n, d, route0_q, route0_k, work, 0)");
    const vs = body.indexOf("spattn_t_vs0_build_bf16(q, k, heads, n, d, vs0_cols, vs0_diags, work, 0)");
    const sel = body.indexOf("spattn_t_sel0_build_bf16(q, k, heads, n, d, dyn, sel0_kept, work, 0)");
    expect(route).toBeGreaterThan(0);
    expect(vs).toBeGreaterThan(route);
    expect(sel).toBeGreaterThan(vs);
  });

  it("builds nothing for a positional pattern, and lists on the device only in sequence order", () => {
    expect(deviceBuild("pattern t() { mask causal }")).toContain("return 0;  // positional pattern: nothing to build");
    const cu = emitCuda(compile("pattern t() { mask causal }", { fileName: "t.spattn" }), { sourceName: "t.spattn" }).cu;
    expect(cu).toContain("const bool device_lists = a->kv_num == nullptr;");
    expect(cu).toContain('if (device_lists && a->token_map) return fail(');
    expect(cu).toContain("spattn_t_mask_tiles(a->heads, a->seq_len, 128, 64, &dyn, kv_num, kv_idx, full_num, full_idx, 0);");
    // Positional patterns take batches and GQA on the device too; data-dependent ones do not.
    expect(cu).not.toContain("batch 1 only");
    const dynamic = emitCuda(compile("pattern t() { let s = topk(2, block: 32, among: kb < qb, always: kb == qb)\n mask s and causal }", { fileName: "t.spattn" }), {
      sourceName: "t.spattn",
    }).cu;
    expect(dynamic).toContain("built on the device for batch 1 only");
    expect(dynamic).toContain("the data-dependent steps need K with as many heads as Q");
  });
});
