// exp64 on the device: the CPU reference's exponential (exp64 in compiler/blockmask/lib.ts),
// spelled from its constants, operation for operation, so that the softmax-based index builders
// (top-p choices, vertical-slash steps) compute the CPU's bits.
import { EXP64 } from "../../compiler/blockmask/lib.js";

/** A double literal that C reads back as the same double (JavaScript prints the shortest). */
export function dbl(x: number): string {
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

