// The WebGPU benchmarks' pass timing (bench/webgpu/timing.ts), against a simulated GPU whose
// clock climbs under sustained work and drops while the host works between calls.
import { describe, expect, it } from "vitest";
import { laterHalfMean, median, repeatFor, timePasses, type TimedCall } from "../../bench/webgpu/timing.js";

/** A pass of `fastMs` at full clock; a call starts at a quarter of the clock, which climbs
 *  linearly to full over `climbMs` of back-to-back passes. Records each call's pass count. */
function simulatedGpu(fastMs: number, climbMs: number) {
  const calls: number[] = [];
  const call: TimedCall = async (repeat) => {
    calls.push(repeat);
    const passMs: number[] = [];
    let busy = 0;
    for (let i = 0; i < repeat; i++) {
      const clock = Math.min(1, 0.25 + (0.75 * busy) / climbMs);
      passMs.push(fastMs / clock);
      busy += passMs[i];
    }
    return { passMs };
  };
  return { call, calls };
}

describe("bench/webgpu/timing", () => {
  it("sizes calls to fill the requested GPU time, within the bounds", () => {
    expect(repeatFor(200, 0.4, 1, 2048)).toBe(500);
    expect(repeatFor(200, 11, 10, 2048)).toBe(19);
    expect(repeatFor(200, 100, 10, 2048)).toBe(10);
    expect(repeatFor(200, 0.001, 1, 2048)).toBe(2048);
    expect(repeatFor(200, 0, 1, 64)).toBe(64);
  });

  it("takes the later half of a call's passes and the upper middle of an even count", () => {
    expect(laterHalfMean([9, 9, 1, 3])).toBe(2);
    expect(laterHalfMean([5])).toBe(5);
    expect(laterHalfMean([9, 2, 4])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(3);
  });

  it("measures a short pass at full clock where ten passes a call measure it slow", async () => {
    const short = simulatedGpu(0.4, 50);
    const got = await timePasses(short.call, 5, { callMs: 200, warmMs: 1000 });
    expect(got.ms).toBeCloseTo(0.4, 6);
    expect(got.repeat).toBeGreaterThanOrEqual(200 / 0.4);
    expect(short.calls.slice(-5)).toEqual(Array(5).fill(got.repeat));
    // The old way: ten passes a call never leave the slow start.
    const ten = await simulatedGpu(0.4, 50).call(10);
    expect(laterHalfMean(ten.passMs!)).toBeGreaterThan(2 * 0.4);
  });

  it("keeps at least minRepeat passes and falls back to wall time without timestamps", async () => {
    const long = simulatedGpu(11, 50);
    const got = await timePasses(long.call, 3, { callMs: 200, minRepeat: 20 });
    expect(got.repeat).toBe(20);
    expect(got.ms).toBeCloseTo(11, 6);
    const calls: number[] = [];
    const untimed: TimedCall = async (repeat) => {
      calls.push(repeat);
      await new Promise((r) => setTimeout(r, 2 * repeat));
      return {};
    };
    const wall = await timePasses(untimed, 3, { minRepeat: 4, maxRepeat: 4, warmMs: 0 });
    expect(wall.repeat).toBe(4);
    expect(calls).toEqual([4, 4, 4, 4, 4]);
    expect(wall.ms).toBeGreaterThanOrEqual(1.5);
  });
});
