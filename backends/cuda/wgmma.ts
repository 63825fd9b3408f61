// The warpgroup matrix instructions of the sm_90a kernel, spelled out: a wgmma takes every
// accumulator register as its own asm operand (32 for N = 64, 64 for N = 128), which is
// clearer generated than typed. A comes from registers (four packed pairs per thread), B from
// shared memory through a descriptor:
//   rsk: B K-major, for S = Q K^T (Q held in registers, K tiles as loaded);
//   rs:  B N-major (the transpose bit), for O += P V (V tiles as loaded).
// The scale-d operand is a predicate: 0 overwrites the accumulators, 1 adds to them.

/** One wrapper: `<form>_<dtype>_n<N>` in namespace spattn::wg. */
function wrapper(form: "rs" | "rsk", dtype: "bf16" | "f16", n: number): string {
  const acc = n / 2;
  const dRegs = Array.from({ length: acc }, (_, i) => `%${i}`).join(", ");
  const ptxType = dtype === "bf16" ? "bf16" : "f16";
  const outs = Array.from({ length: acc }, (_, i) => `"+f"(d[${i}])`).join(", ");
  const operands = `{%${acc}, %${acc + 1}, %${acc + 2}, %${acc + 3}}, %${acc + 4}, p, 1, 1, ${form === "rs" ? 1 : 0}`;
  const ins = `"r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(scale_d)`;
  const params = `float (&d)[${acc}], const uint32_t (&a)[4], uint64_t db, int scale_d`;
  const scale = acc + 5;
  return [
    `__device__ __forceinline__ void ${form}_${dtype}_n${n}(${params}) {`,
    "  asm volatile(",
    `      "{\\n.reg .pred p;\\nsetp.ne.b32 p, %${scale}, 0;\\n"`,
    `      "wgmma.mma_async.sync.aligned.m64n${n}k16.f32.${ptxType}.${ptxType} {${dRegs}}, ${operands};\\n}\\n"`,
    `      : ${outs}`,
    `      : ${ins});`,
    "}",
  ].join("\n");
}

/** The wrappers the sm_90a kernel uses, for each N given: S of N keys per step (64 with
 *  cp.async, 128 with TMA), O of N = D columns. */
export function wgmmaWrappers(widths: readonly number[]): string {
  const lines = [
    "// ---------------------------------------------------------------- wgmma (generated)",
    "#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)",
    "namespace spattn {",
    "namespace wg {",
  ];
  for (const dt of ["bf16", "f16"] as const) {
    for (const n of widths) lines.push(wrapper("rsk", dt, n), wrapper("rs", dt, n));
  }
  lines.push("}  // namespace wg", "}  // namespace spattn", "#endif", "");
  return lines.join("\n");
}
