// Number formatting shared by the Markdown, terminal and HTML reports.
import type { LengthReport, PatternReport } from "../schema.js";

/** 0.01234 -> "1.23%", with the sampled marker (~) when the count is an estimate. */
export function percent(x: number, exact = true): string {
  const digits = x >= 0.1 ? 1 : x >= 0.001 ? 2 : 3;
  return `${exact ? "" : "~"}${(x * 100).toFixed(digits)}%`;
}

export function speedup(x: number): string {
  return `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;
}

export function ms(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3);
}

/** 65536 -> "64K", 1048576 -> "1M". */
export function tokens(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

export function patternLabel(p: PatternReport): string {
  return `${p.pattern} (${p.file})`;
}

/** The row every tabular report shows for one pattern and length. */
export function summaryCells(p: PatternReport, l: LengthReport): string[] {
  const t = l.kernelTiles;
  return [
    p.pattern,
    tokens(l.seqLen),
    percent(l.tokenDensity, l.tokenDensityExact),
    percent(l.tileDensity, l.tilesExact),
    `${t.empty}/${t.partial}/${t.full}`,
    percent(l.paddingWaste),
    speedup(l.speedupBound),
    speedup(l.speedupEstimate),
    ms(l.timeMs.sparse + l.timeMs.indexBuild),
    ms(l.timeMs.dense),
  ];
}

export const SUMMARY_HEADER = ["pattern", "N", "token density", "tile density", "kernel tiles E/P/F", "masked in tiles", "bound", "estimate", "est. ms", "dense ms"];
