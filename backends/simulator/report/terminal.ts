// The compact table `spattn simulate` prints on the terminal.
import type { SimulationReport } from "../schema.js";
import { SUMMARY_HEADER, summaryCells } from "./format.js";

export function renderTerminal(r: SimulationReport): string {
  const rows = [SUMMARY_HEADER, ...r.patterns.flatMap((p) => p.lengths.map((l) => summaryCells(p, l)))];
  const widths = SUMMARY_HEADER.map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]): string => row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ").trimEnd();
  const out = [line(rows[0]), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)];
  out.push(`${r.device.name}, ${r.patterns[0]?.heads ?? 0} heads, D = ${r.settings.dim}, tiles ${r.settings.blockQ} x ${r.settings.blockK}; bound and estimate are speedups over dense attention (~: sampled).`);
  return out.join("\n") + "\n";
}

/** A one-line progress bar for long sweeps (redrawn with a carriage return). */
export function progressBar(done: number, total: number, label: string, width = 28): string {
  const frac = total > 0 ? Math.min(1, done / total) : 1;
  const filled = Math.round(frac * width);
  return `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} ${label}`;
}
