// The GPU index builder of vertical-slash steps (templates/vslash_builder.cuh) and the exp64 it
// needs, spelled from the CPU's constants (EXP64 in compiler/blockmask/lib.ts) so that both
// sides run the same operations on the same doubles.
import type { PatternIR } from "../../compiler/ir.js";
import { EXP64 } from "../../compiler/blockmask/lib.js";

/** A double literal that C reads back as the same double (JavaScript prints the shortest). */
function dbl(x: number): string {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

/** exp64 of lib.ts on the device, operation for operation (no fused multiply-adds). */
export function exp64Code(): string[] {
  const [first, ...rest] = EXP64.taylor;
  return [
    "namespace spattn {",
    "/** e^x as exp64 in compiler/blockmask/lib.ts computes it (generated from its constants). */",
    "__device__ __forceinline__ double pow2_bits(int e) { return __longlong_as_double((long long)(e + 1023) << 52); }",
    "__device__ double exp64(double x) {",
    "  if (x != x) return x;",
    `  if (x > ${dbl(EXP64.overflow)}) return __longlong_as_double(0x7ff0000000000000LL);`,
    `  if (x < ${dbl(EXP64.underflow)}) return 0.0;`,
    `  const double k = floor(__dadd_rn(__dmul_rn(x, ${dbl(EXP64.invLn2)}), 0.5));`,
    `  const double r = __dsub_rn(__dsub_rn(x, __dmul_rn(k, ${dbl(EXP64.ln2Hi)})), __dmul_rn(k, ${dbl(EXP64.ln2Lo)}));`,
    `  double p = ${dbl(first)};`,
    ...rest.map((c) => `  p = __dadd_rn(__dmul_rn(p, r), ${dbl(c)});`),
    "  const double k1 = floor(__dmul_rn(k, 0.5));  // k / 2 is exact",
    "  return __dmul_rn(__dmul_rn(p, pow2_bits((int)k1)), pow2_bits((int)(k - k1)));",
    "}",
    "}  // namespace spattn",
  ];
}

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
