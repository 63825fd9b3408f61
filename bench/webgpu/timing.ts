// How the WebGPU benchmarks time a pass. Measured on an H200 with NVIDIA's Vulkan driver
// (bench/results/webgpu/h200/timing/clocks.csv): between calls the host uploads and reads
// back, the GPU's clock then drops, to 345 MHz at times against 1980 at work, and it climbs
// back over about a second; the timestamps tick every 65.5 us. So a measurement first keeps
// the GPU busy for `warmMs` of passes, then takes the median of `reps` calls, each the mean
// pass of `repeat` passes run back to back in one submission.

/** One call: `repeat` passes back to back; its GPU time per pass in ms (timestamp queries),
 *  or undefined where the device cannot time passes. */
export type TimedCall = (repeat: number) => Promise<{ gpuMs?: number }>;

/** The middle value (the upper one of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The median over `reps` calls of the time per pass (ms): GPU time where the device has
 *  timestamps, else each call's wall time (uploads and read-back included) divided by `repeat`.
 *  `window`, if given, receives when the timed calls began and ended (performance.now()). */
export async function timePasses(call: TimedCall, reps: number, repeat: number, warmMs = 1000, window?: { t0: number; t1: number }): Promise<number> {
  const once = async () => {
    const t0 = performance.now();
    const got = await call(repeat);
    return got.gpuMs ?? (performance.now() - t0) / repeat;
  };
  // Warm-up: at least one call, then more until warmMs of passes have run (at most 50 calls).
  let busy = (await once()) * repeat;
  for (let i = 1; busy < warmMs && i < 50; i++) busy += (await once()) * repeat;
  const ms: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) ms.push(await once());
  if (window) Object.assign(window, { t0, t1: performance.now() });
  return median(ms);
}
