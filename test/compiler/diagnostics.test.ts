// Rendering of diagnostics, and the size limits that keep deep input from crashing.
import { describe, expect, it } from "vitest";
import { checkSource } from "../../compiler/compile.js";
import { formatDiagnostic } from "../../compiler/diagnostics.js";
import { MAX_CHAIN, MAX_NESTING } from "../../grammar/limits.js";

describe("diagnostics", () => {
  it("shows the right line for files with lone \\r line endings", () => {
    const src = "pattern p() {\r  mask causal and\r}";
    const [d] = checkSource(src, "cr.spattn");
    expect(d.loc.line).toBe(3);
    expect(formatDiagnostic(d, src).split("\n")).toEqual(["cr.spattn:3:1: error: unexpected '}'", "   3 | }", "       ^"]);
  });

  it("reports nesting and chain limits at the offending token", () => {
    const deep = `pattern p() { mask ${"(".repeat(MAX_NESTING)}causal${")".repeat(MAX_NESTING)} }`;
    const [d] = checkSource(deep, "deep.spattn");
    expect(d.message).toMatch(/nest more than/);
    expect(d.loc.col).toBe(20 + MAX_NESTING - 1);
    const long = `pattern p() { mask q < ${Array.from({ length: MAX_CHAIN + 2 }, () => "1").join(" + ")} }`;
    expect(checkSource(long, "long.spattn")[0].message).toMatch(/operators in a row/);
    const fine = `pattern p() { mask q < ${Array.from({ length: MAX_CHAIN }, () => "1").join(" + ")} }`;
    expect(checkSource(fine, "fine.spattn")).toEqual([]);
  });

  it("bounds pattern call depth", () => {
    const chain = Array.from({ length: 40 }, (_, i) => `pattern p${i}() { mask ${i < 39 ? `p${i + 1}()` : "causal"} }`).join("\n");
    const diags = checkSource(chain, "chain.spattn");
    expect(diags[0].message).toMatch(/more than 32 levels deep/);
    const short = Array.from({ length: 10 }, (_, i) => `pattern p${i}() { mask ${i < 9 ? `p${i + 1}()` : "causal"} }`).join("\n");
    expect(checkSource(short, "short.spattn")).toEqual([]);
  });
});
