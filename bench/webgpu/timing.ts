// How the WebGPU benchmarks time a pass. Measured on an H200 with NVIDIA's Vulkan driver
// (bench/results/webgpu/h200/timing/clocks.csv): between calls the host uploads and reads
// back, the GPU's clock then drops, to 345 MHz at times against 1980 at work, and it climbs
// back over about a second; the timestamps tick every 65.5 us. Ten passes back to back
// were not enough for short passes: 0.4 ms passes left the GPU idle most of each call, and the
// same shader measured anywhere from 1x to 5x its best time from run to run. So a call runs as
// many passes as fill `callMs` of GPU time (at least `minRepeat`), the first call lasts
// `warmMs`, and a call's time is the mean of its later half of passes, those run once the clock
// has climbed within the call; the result is the median over `reps` calls.

import { MAX_REPEAT } from "../../backends/wgsl/templates/host.js";

/** One call: `repeat` passes back to back; each pass's GPU time in ms (timestamp queries), or
 *  none where the device cannot time passes. */
export type TimedCall = (repeat: number) => Promise<{ passMs?: number[] }>;

/** The middle value (the upper one of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The mean of the later half of a call's pass times (all of them for one pass). */
export const laterHalfMean = (ms: number[]) => {
  const tail = ms.slice(Math.floor(ms.length / 2));
  return tail.reduce((a, b) => a + b, 0) / tail.length;
};

export interface PassTiming {
  /** Passes back to back per call: enough to fill this much GPU time (ms). */
  callMs?: number;
  /** The first, untimed call fills this much (ms): the clock climbs meanwhile. */
  warmMs?: number;
  /** Passes per call at least (a device without timestamps runs exactly this many). */
  minRepeat?: number;
  /** Passes per call at most (default: the runtime's MAX_REPEAT). */
  maxRepeat?: number;
}

/** Passes per call to fill `ms` of GPU time at `passMs` a pass, within the bounds. */
export const repeatFor = (ms: number, passMs: number, minRepeat: number, maxRepeat: number) =>
  Math.max(minRepeat, Math.min(maxRepeat, Math.ceil(ms / Math.max(passMs, 1e-6))));

/** The median over `reps` calls of the time per pass (ms), with the number of passes each call
 *  ran: GPU time where the device has timestamps, else each call's wall time (uploads and
 *  read-back included) over its passes. `window`, if given, receives when the timed calls
 *  began and ended (performance.now()). */
export async function timePasses(call: TimedCall, reps: number, opts: PassTiming = {}, window?: { t0: number; t1: number }): Promise<{ ms: number; repeat: number }> {
  const { callMs = 200, warmMs = 1000, minRepeat = 1, maxRepeat = MAX_REPEAT } = opts;
  const once = async (repeat: number) => {
    const t0 = performance.now();
    const got = await call(repeat);
    return got.passMs ? laterHalfMean(got.passMs) : (performance.now() - t0) / repeat;
  };
  // A first pass sizes the warm-up (at idle clocks it overestimates, so the warm-up runs short
  // rather than long); the warm-up's later half sizes the timed calls.
  const first = await once(minRepeat);
  const warm = await once(repeatFor(warmMs, first, minRepeat, maxRepeat));
  const repeat = repeatFor(callMs, warm, minRepeat, maxRepeat);
  const ms: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) ms.push(await once(repeat));
  if (window) Object.assign(window, { t0, t1: performance.now() });
  return { ms: median(ms), repeat };
}
