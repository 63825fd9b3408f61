// The Markdown report, for pull requests: the summary table, per-head numbers where heads
// differ, and the assumptions.
import type { SimulationReport } from "../schema.js";
import { percent, SUMMARY_HEADER, speedup, summaryCells, tokens } from "./format.js";

/** Text that Markdown shows as written: its markup characters (and HTML) escaped. */
const text = (s: string): string => s.replace(/[\\`*_{}[\]<>|#]/g, (c) => `\\${c}`);
const row = (cells: string[]): string => `| ${cells.map(text).join(" | ")} |`;

export function renderMarkdown(r: SimulationReport): string {
  const out = [
    "# spattn simulate",
    "",
    `Device: **${r.device.name}** (${r.device.description}); D = ${r.settings.dim}, tiles ${r.settings.blockQ} x ${r.settings.blockK}. Speedups are over dense attention; E/P/F are empty, partial and full tiles summed over heads; ~ marks a sampled count.`,
    "",
    row(SUMMARY_HEADER),
    row(SUMMARY_HEADER.map(() => "---")),
    ...r.patterns.flatMap((p) => p.lengths.map((l) => row(summaryCells(p, l)))),
    "",
  ];
  for (const p of r.patterns) {
    const varies = p.lengths.some((l) => l.heads.some((h) => h.tileDensity !== l.heads[0].tileDensity || h.tokenDensity !== l.heads[0].tokenDensity));
    out.push(`## ${text(p.pattern)}`, "", `${text(p.file)}, ${p.heads} heads, ${p.data === "positional" ? "positional" : p.data === "synthetic" ? "data-dependent (synthetic Q and K)" : "data-dependent (given Q and K)"}${p.layoutTransform ? `; kernel order: ${text(p.layoutTransform)}` : ""}.`, "");
    if (varies) {
      const last = p.lengths[p.lengths.length - 1];
      out.push(`Per head at N = ${tokens(last.seqLen)}:`, "", row(["head", "token density", "tile density", "bound", "estimate"]), row(["---", "---", "---", "---", "---"]));
      for (const h of last.heads) out.push(row([String(h.head), percent(h.tokenDensity, h.tokenDensityExact), percent(h.tileDensity), speedup(h.speedupBound), speedup(h.speedupEstimate)]));
      out.push("");
    }
    for (const l of p.lengths) {
      if (l.indexBuilders.length > 0) out.push(`Index building at N = ${tokens(l.seqLen)}: ${l.timeMs.indexBuild.toPrecision(3)} ms (${l.indexBuilders.map((b) => b.what).join("; ")}).`, "");
    }
  }
  out.push("## Assumptions", "", ...r.assumptions.map((a) => `- ${a}`), "");
  return out.join("\n");
}
