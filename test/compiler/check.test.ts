// Diagnostics of the checker and parser: every mistake is reported at its own line and column
// with a message that names the problem; `compile` throws SpattnError carrying the same
// diagnostics; formatDiagnostic renders `FILE:LINE:COL: error: msg`, the line and a caret.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkSource, compile, type CompileOptions } from "../../compiler/compile.js";
import { formatDiagnostic, formatDiagnostics, SpattnError, type Diagnostic } from "../../compiler/diagnostics.js";
import type { IntExpr, MaskExpr, PatternIR } from "../../compiler/ir.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const examplesDir = join(root, "examples");
const example = (name: string): string => readFileSync(join(examplesDir, name), "utf8");

interface Found {
  line: number;
  col: number;
  message: string;
}

function found(d: Diagnostic): Found {
  return { line: d.loc.line, col: d.loc.col, message: d.message };
}

/** Every diagnostic of `source` (as checkSource gives them, in order). */
function diags(source: string): Found[] {
  return checkSource(source, "t.spattn").map(found);
}

/** The file has exactly one diagnostic, an error at line:col whose message matches. */
function expectOne(source: string, line: number, col: number, message: RegExp): Diagnostic {
  const all = checkSource(source, "t.spattn");
  expect(all.map(found), `diagnostics of:\n${source}`).toEqual([{ line, col, message: expect.stringMatching(message) }]);
  expect(all[0].severity).toBe("error");
  expect(all[0].fileName).toBe("t.spattn");
  return all[0];
}

/** The diagnostics of compile(...), which must throw a SpattnError. */
function compileErrors(source: string, options: CompileOptions = {}): Found[] {
  let caught: unknown;
  try {
    compile(source, { fileName: "t.spattn", ...options });
  } catch (e) {
    caught = e;
  }
  expect(caught, "compile should throw").toBeInstanceOf(SpattnError);
  const err = caught as SpattnError;
  expect(err.diagnostics.length).toBeGreaterThan(0);
  expect(err.source).toBe(source);
  // The Error message lists the diagnostics as FILE:LINE:COL lines.
  for (const d of err.diagnostics) expect(err.message).toContain(`${d.fileName}:${d.loc.line}:${d.loc.col}: error: ${d.message}`);
  return err.diagnostics.map(found);
}

const lines = (...ls: string[]): string => ls.join("\n") + "\n";

// ------------------------------------------------------------------------------ names & calls

describe("names and calls", () => {
  it("reports an unknown name at the name", () => {
    expectOne(lines("pattern p() {", "  mask causal and q - k < windw", "}"), 2, 27, /^unknown name 'windw'$/);
  });

  it("reports an unknown function at the callee", () => {
    expectOne(lines("pattern p() {", "  mask foo(q) < 3", "}"), 2, 8, /^unknown function 'foo'$/);
  });

  it("reports a wrong argument name of a builtin at the argument's name", () => {
    expectOne(lines("pattern p() {", "  mask neighborhood(3, dilaton: 2)", "}"), 2, 24, /neighborhood has no parameter 'dilaton' \(it has: kernel, dilation, causal\)/);
  });

  it("reports a wrong argument name of a pattern call", () => {
    const src = lines("pattern w(size: int = 3) {", "  mask q - k < size", "}", "pattern p() {", "  mask w(sise: 4)", "}");
    expectOne(src, 5, 10, /pattern 'w' has no parameter 'sise' \(it has: size\)/);
  });

  it("reports a wrong name and the then-missing argument of a builtin", () => {
    expect(diags(lines("pattern p() {", "  mask abs(y: q - k) < 3", "}"))).toEqual([
      { line: 2, col: 8, message: "abs needs 'x'" },
      { line: 2, col: 12, message: "abs has no parameter 'y' (it has: x)" },
    ]);
  });

  it("reports a missing required argument of a builtin at the callee", () => {
    expectOne(lines("pattern p() {", "  mask max(q) < 3", "}"), 2, 8, /^max needs 'b'$/);
  });

  it("reports a missing required argument of a pattern call", () => {
    const src = lines("pattern w(size: int) {", "  mask q - k < size", "}", "pattern p() {", "  mask w()", "}");
    expectOne(src, 5, 8, /pattern 'w' needs 'size'/);
  });

  it("says a pattern must be called", () => {
    const src = lines("pattern w() {", "  mask causal", "}", "pattern p() {", "  mask w and q < 4", "}");
    expectOne(src, 5, 8, /pattern 'w' must be called: write w\(\)/);
  });

  it("reports too many positional arguments", () => {
    expectOne(lines("pattern p() {", "  mask abs(q, k) < 3", "}"), 2, 15, /abs takes at most 1 argument/);
  });
});

// ------------------------------------------------------------------------------ types

describe("type errors", () => {
  it("rejects '+' on a boolean, at the boolean", () => {
    expectOne(lines("pattern p() {", "  mask q - k < 1 + true", "}"), 2, 20, /'\+' needs integers or positions, not a boolean/);
  });

  it("rejects '+' on a mask, at the mask", () => {
    expectOne(lines("pattern p() {", "  mask (causal + 1) < 3", "}"), 2, 9, /'\+' needs integers or positions, not a mask/);
  });

  it("wants a condition for mask, not an integer or a position", () => {
    expectOne(lines("pattern p() {", "  mask 3", "}"), 2, 8, /a mask must be a condition, not an integer/);
    expectOne(lines("pattern p() {", "  mask q - k", "}"), 2, 8, /a mask must be a condition, not a position expression/);
  });

  it("wants a condition on both sides of 'and'", () => {
    expectOne(lines("pattern p() {", "  mask causal and 3", "}"), 2, 19, /'and' needs a condition \(a mask or boolean\), not an integer/);
  });

  it("wants an integer, not a mask, where a count or a comparison operand is expected", () => {
    expectOne(lines("pattern p() {", "  heads causal", "  mask causal", "}"), 2, 9, /the head count must be a constant integer, not a mask/);
    expectOne(lines("pattern p() {", "  mask q - k < causal", "}"), 2, 16, /'<' compares integers or positions, not a mask/);
    expectOne(lines("pattern p() {", "  mask topk(causal, block: 64)", "}"), 2, 13, /the count must be a constant integer, not a mask/);
  });

  it("wants a constant for a layout size", () => {
    expectOne(lines("pattern p() {", "  layout(y: q, x: 4)", "  mask causal", "}"), 2, 13, /the size of axis 'y' must be a constant integer, not a position expression/);
  });

  it("checks a parameter's default against its declared type", () => {
    expectOne(lines("pattern p(a: int = 2, b: bool = 3) {", "  mask causal", "}"), 1, 33, /parameter 'b' is bool, but got an integer/);
  });

  it("rejects an unknown parameter type", () => {
    expectOne(lines("pattern p(a: string = 1) {", "  mask causal", "}"), 1, 14, /unknown type 'string'/);
  });

  it("rejects integer literals beyond the limit and constant overflow", () => {
    expectOne(lines("pattern p(a: int = 99999999999) {", "  mask q < a", "}"), 1, 20, /integer 99999999999 is too large \(limit 2147483647\)/);
    expectOne(lines("pattern p(s: int = 65536) {", "  mask q < s * s", "}"), 2, 12, /integer overflow/);
  });
});

// ------------------------------------------------------------------------------ arithmetic

describe("division", () => {
  it("rejects a non-constant divisor", () => {
    expectOne(lines("pattern p() {", "  mask (q / k) == 0", "}"), 2, 13, /the right side of '\/' must be a constant integer \(a parameter or a number\), not a position expression/);
  });

  it("rejects a zero modulus of a position", () => {
    expectOne(lines("pattern p() {", "  mask q % 0 == 0", "}"), 2, 12, /the right side of '%' must be positive, got 0/);
  });

  it("rejects a divisor that folds to zero, at the divisor", () => {
    expectOne(lines("pattern p(w: int = 4) {", "  mask q / (w - 4) == 0", "}"), 2, 13, /the right side of '\/' must be positive, got 0/);
  });

  it("rejects constant division by zero", () => {
    expectOne(lines("pattern p() {", "  let x = 4 / 0", "  mask q < x", "}"), 2, 15, /^division by zero$/);
  });
});

// ------------------------------------------------------------------------------ layouts

describe("layouts and coordinates", () => {
  it("wants a layout before q.x (both uses reported)", () => {
    expect(diags(lines("pattern p() {", "  mask q.x == k.x", "}"))).toEqual([
      { line: 2, col: 8, message: expect.stringMatching(/'q\.x' needs a layout: declare one first/) },
      { line: 2, col: 15, message: expect.stringMatching(/'k\.x' needs a layout/) },
    ]);
  });

  it("reports an unknown axis with the axes there are", () => {
    const d = diags(lines("pattern p() {", "  layout(y: 4, x: 4)", "  mask q.y == k.y and q.z == 0", "}"));
    expect(d).toEqual([{ line: 3, col: 23, message: "the layout has no axis 'z' (axes: y, x)" }]);
  });

  it("allows one layout per pattern", () => {
    expectOne(lines("pattern p() {", "  layout(y: 4, x: 4)", "  layout(y: 2, x: 8)", "  mask causal", "}"), 3, 3, /a pattern has at most one layout/);
  });

  it("rejects a called pattern whose layout differs", () => {
    const src = lines("pattern w() {", "  layout(y: 4, x: 4)", "  mask causal", "}", "pattern p() {", "  layout(y: 2, x: 8)", "  mask w()", "}");
    expectOne(src, 2, 3, /pattern 'w' declares a layout different from its caller's/);
  });

  it("rejects a neighborhood kernel larger than a layout axis", () => {
    expectOne(lines("pattern p() {", "  layout(y: 4, x: 8)", "  mask neighborhood(5)", "}"), 3, 8, /axis 'y' of size 4 is too short for kernel 5 with dilation 1/);
  });

  it("counts dilation when checking a kernel against an axis", () => {
    // 16 / 4 = 4 members per sub-grid: kernel 5 does not fit, kernel 4 does.
    expectOne(lines("pattern p() {", "  layout(y: 16, x: 16)", "  mask neighborhood(5, dilation: 4)", "}"), 3, 8, /axis 'y' of size 16 is too short for kernel 5 with dilation 4/);
    expect(diags(lines("pattern p() {", "  layout(y: 16, x: 16)", "  mask neighborhood(4, dilation: 4)", "}"))).toEqual([]);
  });
});

// ------------------------------------------------------------------------------ declarations

describe("declarations and statements", () => {
  it("reports a duplicate parameter at its second declaration", () => {
    expectOne(lines("pattern p(a: int = 1, a: int = 2) {", "  mask causal", "}"), 1, 23, /parameter 'a' is declared twice/);
  });

  it("reports a duplicate pattern at its second name", () => {
    expectOne(lines("pattern p() {", "  mask causal", "}", "pattern p() {", "  mask causal", "}"), 4, 9, /pattern 'p' is already defined on line 1/);
  });

  it("reports a second mask statement", () => {
    expectOne(lines("pattern p() {", "  mask causal", "  mask q == k", "}"), 3, 3, /pattern 'p' already has a mask \(line 2\); combine conditions with and\/or/);
  });

  it("reports a missing mask at the pattern's name", () => {
    expectOne(lines("pattern p() {", "  let x = causal", "}"), 1, 9, /pattern 'p' has no mask statement/);
  });

  it("reports a let that redefines a name", () => {
    expectOne(lines("pattern p() {", "  let x = 1", "  let x = 2", "  mask q < x", "}"), 3, 7, /'x' is already defined in this pattern/);
  });

  it("reports a file with no pattern", () => {
    expectOne("// nothing here\n", 1, 1, /no pattern in this file/);
    expectOne("", 1, 1, /no pattern in this file/);
  });

  it("reports a parameter default that refers to a later parameter", () => {
    expectOne(lines("pattern p(b: int = a * 2, a: int = 4) {", "  mask q - k < b", "}"), 1, 20, /^unknown name 'a'$/);
  });
});

// ------------------------------------------------------------------------------ selections, match, recursion

describe("selections, match and recursion", () => {
  it("rejects qb and kb outside topk/topp clauses (each use)", () => {
    expect(diags(lines("pattern p() {", "  mask qb == kb", "}"))).toEqual([
      { line: 2, col: 8, message: expect.stringMatching(/'qb' \(a block index\) exists only inside the 'among' and 'always' clauses/) },
      { line: 2, col: 14, message: expect.stringMatching(/'kb' \(a block index\) exists only inside/) },
    ]);
  });

  it("accepts qb and kb inside the clauses", () => {
    expect(diags(lines("pattern p() {", "  mask topk(2, block: 16, among: kb < qb, always: kb == qb) and causal", "}"))).toEqual([]);
  });

  it("wants a block size for topk", () => {
    expectOne(lines("pattern p() {", "  mask topk(2, among: kb <= qb)", "}"), 2, 8, /topk needs a block size: block: B, or both qblock: and kblock:/);
  });

  it("wants a topp mass in (0, 1]", () => {
    expectOne(lines("pattern p() {", "  mask topp(1.5, block: 64)", "}"), 2, 13, /the mass must be in \(0, 1\], got 1\.5/);
  });

  it("rejects a clause that refers to a selection whose blocks are not made of this one's", () => {
    const src = lines(
      "pattern p() {",
      "  let c = topk(2, qblock: 64, kblock: 96, among: kb <= qb)",
      "  let f = topk(2, block: 64, among: kb <= qb and c)",
      "  mask f",
      "}",
    );
    expectOne(src, 3, 37, /'c' has blocks of 64x96 tokens, which are not made of this selection's 64x64 blocks/);
  });

  it("rejects nesting where only the query block size does not divide", () => {
    const src = lines(
      "pattern p() {",
      "  let c = topk(2, qblock: 32, kblock: 128, among: kb <= qb)",
      "  let f = topk(2, qblock: 64, kblock: 64, among: kb <= qb and c)",
      "  mask f",
      "}",
    );
    expectOne(src, 3, 50, /'c' has blocks of 32x128 tokens, which are not made of this selection's 64x64 blocks/);
  });

  it("accepts nesting in a coarser selection made of whole finer blocks", () => {
    const src = lines(
      "pattern p() {",
      "  let c = topk(2, qblock: 64, kblock: 128, among: kb <= qb)",
      "  let f = topk(2, qblock: 64, kblock: 64, among: kb <= qb and c)",
      "  mask f",
      "}",
    );
    expect(diags(src)).toEqual([]);
  });

  it("reports a head label given twice", () => {
    const src = lines("pattern p() {", "  heads 4", "  mask match head {", "    0..1 => causal,", "    1 => q == k,", "    _ => true,", "  }", "}");
    expectOne(src, 5, 5, /head 1 already has a case \(line 4\)/);
  });

  it("reports a head repeated within one case", () => {
    const src = lines("pattern p() {", "  mask match head {", "    0, 0 => causal,", "    _ => true,", "  }", "}");
    expectOne(src, 3, 8, /head 0 already has a case/);
  });

  it("matches only on head", () => {
    expectOne(lines("pattern p() {", "  mask match q { _ => true }", "}"), 2, 14, /match works on 'head'/);
  });

  it("reports direct recursion", () => {
    expectOne(lines("pattern a() {", "  mask a()", "}"), 2, 8, /pattern 'a' calls itself \(through a -> a\)/);
  });

  it("reports recursion between patterns, in each of them", () => {
    const src = lines("pattern a() {", "  mask b()", "}", "pattern b() {", "  mask a()", "}");
    expect(diags(src)).toEqual([
      { line: 2, col: 8, message: "pattern 'b' calls itself (through b -> a -> b)" },
      { line: 5, col: 8, message: "pattern 'a' calls itself (through a -> b -> a)" },
    ]);
  });
});

// ------------------------------------------------------------------------------ syntax errors

describe("syntax errors", () => {
  it("reports a stray character", () => {
    expectOne(lines("pattern p() {", "  mask causal and $ q < 3", "}"), 2, 19, /^unexpected character "\$"$/);
  });

  it("reports a missing closing brace where the next pattern starts", () => {
    expectOne(lines("pattern a() {", "  mask causal", "pattern b() {", "  mask q == k", "}"), 3, 1, /expected '}' but found 'pattern'/);
  });

  it("reports a missing closing brace at the end of the file", () => {
    expectOne("pattern p() {\n  mask causal", 2, 14, /expected '}' but found end of file/);
  });

  it("reports an unterminated expression at the token after it", () => {
    expectOne(lines("pattern p() {", "  mask q < k +", "}"), 3, 1, /unexpected '}'/);
    expectOne(lines("pattern p() {", "  mask (q < k", "}"), 3, 1, /expected '\)' but found '}'/);
  });

  it("reports a missing name after 'pattern' at the end of the file", () => {
    expectOne("pattern p() {\n  mask q < k\n}\npattern", 4, 8, /expected a name but found end of file/);
  });

  it("recovers and reports several syntax errors in one run", () => {
    const src = lines(
      "pattern a() {",
      "  mask causal and (q < 3",
      "}",
      "pattern b() {",
      "  mask q == $ k",
      "}",
      "pattern c(w: int = 4) {",
      "  mask q - k < w +",
      "}",
    );
    expect(diags(src)).toEqual([
      { line: 3, col: 1, message: "expected ')' but found '}'" },
      { line: 5, col: 13, message: 'unexpected character "$"' },
      { line: 9, col: 1, message: "unexpected '}'" },
    ]);
  });

  it("recovers after a missing brace too", () => {
    const src = lines("pattern a() {", "  mask causal", "pattern b() {", "  mask q == k +", "}", "pattern c() {", "  mask q $< k", "}");
    expect(diags(src)).toEqual([
      { line: 3, col: 1, message: "expected '}' but found 'pattern'" },
      { line: 5, col: 1, message: "unexpected '}'" },
      { line: 7, col: 10, message: 'unexpected character "$"' },
    ]);
  });

  it("compile throws every syntax error at once", () => {
    const src = lines("pattern a() {", "  mask causal and (q < 3", "}", "pattern b() {", "  mask q == $ k", "}");
    expect(compileErrors(src, { pattern: "a" })).toEqual([
      { line: 3, col: 1, message: "expected ')' but found '}'" },
      { line: 5, col: 13, message: 'unexpected character "$"' },
    ]);
  });

  it("names the stray token after the last pattern", () => {
    // parse.ts means to say "expected 'pattern' but found ..." for input after the last
    // pattern (Chevrotain: "Redundant input, expecting EOF but found: }"), but the generic
    // "but found:" branch runs first and gives the uninformative "unexpected token".
    const d = diags(lines("pattern p() {", "  mask q < k", "}}"));
    expect(d).toHaveLength(1);
    expect(d[0]).toMatchObject({ line: 3, col: 2 });
    expect(d[0].message).toMatch(/'}'/);
  });
});

// ------------------------------------------------------------------------------ compile & overrides

describe("compile errors and parameter overrides", () => {
  const sw = example("sliding_window.spattn");

  it("throws SpattnError with the checker's diagnostics", () => {
    expect(compileErrors(lines("pattern p() {", "  mask causal and q - k < windw", "}"))).toEqual([{ line: 2, col: 27, message: "unknown name 'windw'" }]);
  });

  it("rejects a --set value that does not parse as the parameter's type, at the parameter", () => {
    expect(compileErrors(sw, { set: { window: "abc" } })).toEqual([{ line: 2, col: 24, message: "bad value for 'window': expected an integer, got 'abc'" }]);
    expect(compileErrors(sw, { set: { window: "6.5" } })).toEqual([{ line: 2, col: 24, message: "bad value for 'window': expected an integer, got '6.5'" }]);
    expect(compileErrors(sw, { set: { window: "" } })[0].message).toMatch(/bad value for 'window': expected an integer/);
  });

  it("rejects a bad list or boolean value", () => {
    expect(compileErrors(example("document.spattn"), { set: { lengths: "[10, x]" } })).toEqual([
      { line: 3, col: 18, message: "bad value for 'lengths': expected a list of integers like [1, 2, 3], got '[10, x]'" },
    ]);
    const src = lines("pattern p(on: bool = true) {", "  mask causal and on", "}");
    expect(compileErrors(src, { set: { on: "yes" } })).toEqual([{ line: 1, col: 11, message: "bad value for 'on': expected true or false, got 'yes'" }]);
  });

  it("rejects an unknown parameter name, at the pattern's name", () => {
    expect(compileErrors(sw, { set: { windw: "3" } })).toEqual([
      { line: 2, col: 9, message: "pattern 'sliding_window' has no parameter 'windw' (it has: window)" },
    ]);
  });

  it("rejects an override value of the wrong type", () => {
    expect(compileErrors(sw, { set: { window: true } })).toEqual([{ line: 2, col: 9, message: "parameter 'window' is int, but got a boolean" }]);
  });

  it("applies the same integer limit to --set values as to literals", () => {
    // `window: int = 99999999999` is rejected ("integer ... is too large (limit 2147483647)"),
    // but the same value given through --set slips past the limit into the IR.
    const d = compileErrors(sw, { set: { window: "99999999999" } });
    expect(d[0].message).toMatch(/too large|limit|beyond/);
  });

  it("asks which pattern of several, and rejects an unknown one", () => {
    const mh = example("mixed_heads.spattn");
    expect(compileErrors(mh)).toEqual([{ line: 1, col: 1, message: expect.stringMatching(/several patterns \(window, sinks_window, mixed_heads\): choose one with --pattern/) }]);
    expect(compileErrors(mh, { pattern: "nope" })).toEqual([{ line: 1, col: 1, message: expect.stringMatching(/no pattern 'nope' in this file \(it has: window, sinks_window, mixed_heads\)/) }]);
    expect(compile(mh, { pattern: "window", set: { size: "5" } }).params).toEqual({ size: 5 });
  });

  it("throws for a file with no pattern", () => {
    expect(compileErrors("// empty\n")).toEqual([{ line: 1, col: 1, message: expect.stringMatching(/no pattern in this file/) }]);
  });

  it("requires a value for a parameter without default", () => {
    const src = lines("pattern p(w: int) {", "  mask q - k < w", "}");
    expect(diags(src)).toEqual([]); // not an error of the file
    expect(compileErrors(src)).toEqual([{ line: 1, col: 11, message: expect.stringMatching(/parameter 'w' has no default: give it a value \(--set w=\.\.\.\)/) }]);
    expect(compile(src, { set: { w: "7" } }).params).toEqual({ w: 7 });
  });
});

// ------------------------------------------------------------------------------ formatting

describe("formatDiagnostic", () => {
  it("prints FILE:LINE:COL, the source line and a caret under the span", () => {
    const src = lines("pattern p() {", "  mask q < windw", "}");
    const [d] = checkSource(src, "t.spattn");
    const out = formatDiagnostic(d, src).split("\n");
    expect(out).toHaveLength(3);
    expect(out[0]).toBe("t.spattn:2:12: error: unknown name 'windw'");
    const srcLine = "  mask q < windw";
    expect(out[1].endsWith(srcLine)).toBe(true);
    expect(out[1]).toMatch(/\b2\b/); // the gutter names the line
    const lineStart = out[1].length - srcLine.length;
    expect(out[2].indexOf("^")).toBe(lineStart + 11);
    expect(out[2].trimEnd()).toMatch(/\^~{4}$/); // the whole name underlined
    expect(out[2].slice(0, out[2].indexOf("^")).trim()).toBe("");
  });

  it("points at the stray character", () => {
    const src = lines("pattern p() {", "  mask causal and $ q < 3", "}");
    const [d] = checkSource(src, "t.spattn");
    const out = formatDiagnostic(d, src).split("\n");
    expect(out[0]).toBe('t.spattn:2:19: error: unexpected character "$"');
    expect(out[2].indexOf("^")).toBe(out[1].indexOf("$"));
  });

  it("formats --set errors from compile with the parameter's line", () => {
    const sw = example("sliding_window.spattn");
    let err: SpattnError | undefined;
    try {
      compile(sw, { fileName: "t.spattn", set: { window: "abc" } });
    } catch (e) {
      err = e as SpattnError;
    }
    const out = formatDiagnostics(err!.diagnostics, err!.source).split("\n");
    expect(out[0]).toBe("t.spattn:2:24: error: bad value for 'window': expected an integer, got 'abc'");
    expect(out[1]).toContain("pattern sliding_window(window: int = 256) {");
    expect(out[2].indexOf("^")).toBe(out[1].indexOf("window:"));
  });

  it("gives only the head line without a source", () => {
    const [d] = checkSource(lines("pattern p() {", "  mask q < windw", "}"), "t.spattn");
    expect(formatDiagnostic(d, undefined)).toBe("t.spattn:2:12: error: unknown name 'windw'");
  });

  it("joins several diagnostics", () => {
    const src = lines("pattern p() {", "  mask qb == kb", "}");
    const out = formatDiagnostics(checkSource(src, "t.spattn"), src).split("\n");
    expect(out.filter((l) => /^t\.spattn:\d+:\d+: error: /.test(l)).map((l) => l.split(": error")[0])).toEqual(["t.spattn:2:8", "t.spattn:2:14"]);
  });
});

// ------------------------------------------------------------------------------ positive cases

function findInt(m: MaskExpr | IntExpr, pred: (e: IntExpr) => boolean): boolean {
  const seen: unknown[] = [];
  const walk = (x: unknown): boolean => {
    if (!x || typeof x !== "object") return false;
    if (seen.includes(x)) return false;
    seen.push(x);
    const node = x as Record<string, unknown>;
    if (typeof node.op === "string" && pred(node as unknown as IntExpr)) return true;
    return Object.values(node).some((v) => (Array.isArray(v) ? v.some(walk) : walk(v)));
  };
  return walk(m);
}

/** Does the mask compare (q - k) < c? */
function hasWindowCmp(ir: PatternIR, c: number): boolean {
  const walk = (m: MaskExpr): boolean => {
    switch (m.op) {
      case "cmp":
        return m.cmp === "<" && m.b.op === "const" && m.b.value === c && m.a.op === "sub";
      case "and":
      case "or":
        return m.args.some(walk);
      case "not":
        return walk(m.a);
      case "byHead":
        return m.cases.some((x) => walk(x.body)) || walk(m.otherwise);
      default:
        return false;
    }
  };
  return walk(ir.mask);
}

describe("valid patterns", () => {
  const files = readdirSync(examplesDir).filter((f) => f.endsWith(".spattn")).sort();

  it("has examples", () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it.each(files)("examples/%s checks with no diagnostics", (f) => {
    expect(checkSource(example(f), f)).toEqual([]);
  });

  it.each(files.filter((f) => f !== "mixed_heads.spattn"))("examples/%s compiles", (f) => {
    const ir = compile(example(f), { fileName: f });
    expect(ir.name).toBe(f.replace(/\.spattn$/, ""));
    expect(JSON.parse(JSON.stringify(ir))).toEqual(ir);
  });

  it("parameter overrides change the IR", () => {
    const sw = example("sliding_window.spattn");
    const def = compile(sw);
    expect(def.params).toEqual({ window: 256 });
    expect(hasWindowCmp(def, 256)).toBe(true);
    const set = compile(sw, { set: { window: "64" } });
    expect(set.params).toEqual({ window: 64 });
    expect(hasWindowCmp(set, 64)).toBe(true);
    expect(hasWindowCmp(set, 256)).toBe(false);
    // A value instead of text, and surrounding spaces in text, work too.
    expect(hasWindowCmp(compile(sw, { set: { window: 32 } }), 32)).toBe(true);
    expect(compile(sw, { set: { window: " 48 " } }).params).toEqual({ window: 48 });
  });

  it("list overrides change document boundaries", () => {
    const ir = compile(example("document.spattn"), { set: { lengths: "[10, 20]" } });
    expect(ir.params).toEqual({ lengths: [10, 20] });
    expect(findInt(ir.mask, (e) => e.op === "segment" && JSON.stringify(e.ends) === "[10,30]")).toBe(true);
  });

  it("a default may refer to an earlier parameter, and follows its override", () => {
    const src = lines("pattern p(a: int = 4, b: int = a * 2) {", "  mask q - k < b", "}");
    expect(diags(src)).toEqual([]);
    expect(compile(src).params).toEqual({ a: 4, b: 8 });
    const ir = compile(src, { set: { a: "8" } });
    expect(ir.params).toEqual({ a: 8, b: 16 });
    expect(hasWindowCmp(ir, 16)).toBe(true);
    expect(compile(src, { set: { b: "3" } }).params).toEqual({ a: 4, b: 3 });
  });

  it("folds chained comparisons and except", () => {
    const src = lines("pattern p(w: int = 8) {", "  mask 0 <= q - k < w except k == 0", "}");
    const ir = compile(src);
    expect(ir.mask.op).toBe("and");
    expect(hasWindowCmp(ir, 8)).toBe(true);
  });

  it("records heads, layout and tile hints", () => {
    const ir = compile(lines("pattern p() {", "  layout(y: 4, x: 8)", "  heads 3", "  tile(q: 16, k: 32)", "  mask q.y == k.y", "}"));
    expect(ir.heads).toBe(3);
    expect(ir.layout).toEqual([{ name: "y", size: 4 }, { name: "x", size: 8 }]);
    expect(ir.tile).toEqual({ q: 16, k: 32 });
  });
});
