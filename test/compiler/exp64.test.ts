// exp64: the float64 exponential the CPU reference and the GPU index builders share. It must be
// close to e^x (within 2 ulp of Math.exp) wherever the softmax-based steps use it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exp64 } from "../../compiler/blockmask/lib.js";

/** Distance in units in the last place between two positive finite doubles. */
function ulps(a: number, b: number): number {
  const v = new DataView(new ArrayBuffer(16));
  v.setFloat64(0, a);
  v.setFloat64(8, b);
  return Math.abs(Number(v.getBigInt64(0) - v.getBigInt64(8)));
}

describe("exp64", () => {
  it("is within 2 ulp of Math.exp over the normal range", () => {
    fc.assert(
      fc.property(fc.double({ min: -708, max: 709.7, noNaN: true }), (x) => {
        expect(ulps(exp64(x), Math.exp(x)), `x = ${x}`).toBeLessThanOrEqual(2);
      }),
      { seed: 5, numRuns: 20000 },
    );
    for (const x of [0, -0, 1, -1, 0.5, -0.3465, 0.3466, 1e-300, -1e-300, 700, -700, Math.LN2, -Math.LN2]) {
      expect(ulps(exp64(x), Math.exp(x)), `x = ${x}`).toBeLessThanOrEqual(2);
    }
    expect(exp64(0)).toBe(1);
  });

  it("handles subnormal results, overflow and NaN", () => {
    for (const x of [-709, -720, -740, -744.4, -745.1]) {
      expect(Math.abs(exp64(x) - Math.exp(x)), `x = ${x}`).toBeLessThanOrEqual(2 * 5e-324 + Math.exp(x) * 1e-15);
    }
    expect(exp64(-746)).toBe(0);
    expect(exp64(-Infinity)).toBe(0);
    expect(exp64(710)).toBe(Infinity);
    expect(exp64(Infinity)).toBe(Infinity);
    expect(exp64(NaN)).toBeNaN();
  });
});
