// Timing cases for checking the simulator on patterns and sizes that none of its fitted
// parameters saw (bench/simulate/calibrate.ts names the three fitted cases). bf16, D = 128;
// heads 16 unless the pattern fixes its own. bench/cuda/prepare.ts --heldout writes them for
// the GPU; bench/simulate/heldout.ts compares the simulator with what the GPU measured.
/**
 * BigBird's parameters for `percent`% of 128-token key blocks chosen at random per query block
 * (seeded), and nothing else: the benchmark's random-blocks cases.
 */
export function randomBlocks(n: number, percent: number, seed = 1): Record<string, string> {
  return { block: "128", window_blocks: "-1", globals: "0", random: String(Math.max(1, Math.floor(((n / 128) * percent) / 100))), seed: String(seed) };
}

export interface HeldoutCase {
  tag: string;
  example: string;
  set: Record<string, string>;
  n: number;
  heads: number;
}

export const HELDOUT_CASES: HeldoutCase[] = [
  { tag: "causal_n16384", example: "causal", set: {}, n: 16384, heads: 16 },
  { tag: "swa4096_n65536", example: "sliding_window", set: { window: "4096" }, n: 65536, heads: 16 },
  { tag: "strided128_n32768", example: "strided", set: { stride: "128" }, n: 32768, heads: 16 },
  { tag: "longformer512_n65536", example: "longformer", set: { window: "512", globals: "64" }, n: 65536, heads: 16 },
  { tag: "document3_n65536", example: "document", set: { lengths: "[20000, 30000, 15536]" }, n: 65536, heads: 16 },
  { tag: "prefix_lm4096_n32768", example: "prefix_lm", set: { prefix: "4096" }, n: 32768, heads: 16 },
  { tag: "video3d_n65536", example: "video3d", set: { frames: "16", height: "64", width: "64" }, n: 65536, heads: 16 },
  { tag: "natten2d_k7_n16384", example: "neighborhood2d", set: { height: "128", width: "128", kernel: "7" }, n: 16384, heads: 16 },
  { tag: "mixed_heads_n65536", example: "mixed_heads", set: {}, n: 65536, heads: 4 },
  { tag: "s2_attention_n32768", example: "s2_attention", set: {}, n: 32768, heads: 8 },
  { tag: "random5pct_n32768", example: "bigbird", set: randomBlocks(32768, 5, 2), n: 32768, heads: 16 },
];
