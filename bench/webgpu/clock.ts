// The GPU's SM clock while a benchmark times, where `nvidia-smi` exists: on the H200 the clock
// fell as low as 345 MHz against 1980 at work (bench/results/webgpu/h200/timing/clocks.csv),
// and short passes varied up to five times between runs. With the clock printed beside each
// time, a reader can tell a slow shader from a slow clock. Elsewhere (SwiftShader, other
// vendors) there are no samples and nothing is printed.
import { type ChildProcess, spawn } from "node:child_process";
import { median } from "./timing.js";

/** nvidia-smi printing the SM clock (MHz) every 50 ms; SPATTN_CLOCK_CMD replaces it (tests). */
const COMMAND = process.env.SPATTN_CLOCK_CMD ?? "nvidia-smi --query-gpu=clocks.sm --format=csv,noheader,nounits -lms 50";

export interface ClockRange {
  min: number;
  median: number;
  max: number;
  samples: number;
}

export class ClockLog {
  private readonly samples: { t: number; mhz: number }[] = [];
  private readonly proc: ChildProcess;

  constructor(command = COMMAND) {
    this.proc = spawn(command, { shell: true, stdio: ["ignore", "pipe", "ignore"] });
    this.proc.on("error", () => {}); // no nvidia-smi: no samples
    // Neither the sampler nor its pipe keeps the benchmark's process alive.
    this.proc.unref();
    (this.proc.stdout as unknown as { unref(): void }).unref();
    let rest = "";
    this.proc.stdout!.on("data", (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop()!;
      const t = performance.now();
      for (const line of lines) {
        const mhz = Number(line.trim());
        if (line.trim() && Number.isFinite(mhz)) this.samples.push({ t, mhz });
      }
    });
  }

  /** The clock over the samples from t0 to t1 (performance.now() times), and the last one
   *  before t0 (the clock the window began at: a short window may hold no sample). */
  during(t0: number, t1: number): ClockRange | undefined {
    const before = this.samples.filter((s) => s.t < t0).slice(-1);
    const mhz = [...before, ...this.samples.filter((s) => s.t >= t0 && s.t <= t1)].map((s) => s.mhz);
    if (!mhz.length) return undefined;
    return { min: Math.min(...mhz), median: median(mhz), max: Math.max(...mhz), samples: mhz.length };
  }

  stop(): void {
    this.proc.kill();
  }
}

/** " (SM 1980 MHz)", " (SM 345-1980 MHz)", or "" without samples. */
export function clockText(c: ClockRange | undefined): string {
  if (!c) return "";
  return c.min === c.max ? ` (SM ${c.min} MHz)` : ` (SM ${c.min}-${c.max} MHz, median ${c.median})`;
}
