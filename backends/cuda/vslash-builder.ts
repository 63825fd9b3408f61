// The GPU index builder of vertical-slash steps (templates/vslash_builder.cuh): its C ABI. Its
// exponential is exp64 (exp64.ts), the CPU's own.
import type { PatternIR } from "../../compiler/ir.js";

/** The C ABI of each vertical-slash step: workspace size and a build per input type. */
export function vslashBuilderCode(ir: PatternIR, prefix: string): string[] {
  return ir.verticalSlashes.flatMap((v) => {
    const i = v.id;
    const typed = (name: string, type: string) => [
      `extern "C" int ${prefix}_vs${i}_build_${name}(const void* q, const void* k, int heads, int n, int d, unsigned char* cols, unsigned char* diags, void* workspace, cudaStream_t stream) {`,
      "  if (!q || !k || !cols || !diags || !workspace || heads <= 0 || n <= 0 || d <= 0) return (int)cudaErrorInvalidValue;",
      `  return (int)spattn::vs_build<${type}>(static_cast<const ${type}*>(q), static_cast<const ${type}*>(k), heads, n, d, cols, diags, workspace, ${v.last}, ${v.first}, ${v.verticals}, ${v.recent}, ${v.slashes}, stream);`,
      "}",
    ];
    return [
      `// ---- index builder for vertical-slash step ${i}: ${v.verticals} columns, ${v.slashes} diagonals from the last ${v.last} queries`,
      `extern "C" size_t ${prefix}_vs${i}_workspace(int heads, int n, int d) {`,
      "  (void)heads; (void)d;  // the heads run in turn",
      "  spattn::VsSpace s;",
      `  return n > 0 ? spattn::vs_space(nullptr, n, ${v.last} < n ? ${v.last} : n, &s) : 0;`,
      "}",
      ...typed("bf16", "__nv_bfloat16"),
      ...typed("fp16", "__half"),
      "",
    ];
  }).concat(ir.verticalSlashes.length ? [
    `extern "C" int ${prefix}_exp64(const double* x, double* y, int count, cudaStream_t stream) {`,
    "  if (count < 0 || (count > 0 && (!x || !y))) return (int)cudaErrorInvalidValue;",
    "  if (count > 0) spattn::vs_exp64_map<<<(count + 255) / 256, 256, 0, stream>>>(x, y, count);",
    "  return (int)cudaGetLastError();",
    "}",
    "",
  ] : []);
}

export function vslashBuilderPrototypes(ir: PatternIR, prefix: string): string[] {
  const exp = ir.verticalSlashes.length
    ? [`/* y = e^x for count device doubles, bit for bit as the CPU reference's exp64 (the builders' exponential). */\nint ${prefix}_exp64(const double* x, double* y, int count, cudaStream_t stream);`]
    : [];
  return exp.concat(ir.verticalSlashes.flatMap((v) => [
    `/* GPU index builder of vertical-slash step ${v.id}: cols and diags [heads][n] bytes as the CPU computes them; q and k\n` +
      ` * [1, heads, n, d] device arrays; workspace has ${prefix}_vs${v.id}_workspace(heads, n, d) bytes. */\n` +
      `size_t ${prefix}_vs${v.id}_workspace(int heads, int n, int d);`,
    `int ${prefix}_vs${v.id}_build_bf16(const void* q, const void* k, int heads, int n, int d, unsigned char* cols, unsigned char* diags, void* workspace, cudaStream_t stream);`,
    `int ${prefix}_vs${v.id}_build_fp16(const void* q, const void* k, int heads, int n, int d, unsigned char* cols, unsigned char* diags, void* workspace, cudaStream_t stream);`,
  ]));
}
