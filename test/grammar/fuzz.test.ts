// Robustness fuzzing of the front end: whatever text comes in, parsing and checking return
// diagnostics (never throw), every diagnostic points at a real place with a message, and
// `compile` fails only with SpattnError.
//
// Runs are seeded, so a failure reproduces; fast-check prints the shrunk input and the seed.
// SPATTN_FUZZ_SCALE=20 npx vitest run test/grammar/fuzz.test.ts runs 20 times as many inputs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseSource } from "../../grammar/parse.js";
import { spattnLexer } from "../../grammar/lexer.js";
import { checkSource, compile } from "../../compiler/compile.js";
import { formatDiagnostics, SpattnError, type Diagnostic } from "../../compiler/diagnostics.js";

const SEED = 20240611;
const SCALE = Math.max(1, Number(process.env.SPATTN_FUZZ_SCALE ?? "1") || 1);
const runs = (n: number) => Math.round(n * SCALE);
const TIMEOUT = 30_000 * SCALE;
const FILE = "fuzz.spattn";

function checkDiagnostics(diags: Diagnostic[], source: string, phase: string): void {
  for (const d of diags) {
    const where = `${phase}: ${JSON.stringify(d)}`;
    if (!Number.isInteger(d.loc.line) || d.loc.line < 1) throw new Error(`bad line in ${where}`);
    if (!Number.isInteger(d.loc.col) || d.loc.col < 1) throw new Error(`bad col in ${where}`);
    if (typeof d.message !== "string" || d.message.trim() === "") throw new Error(`empty message in ${where}`);
    if (d.fileName !== FILE) throw new Error(`wrong file name in ${where}`);
  }
  const withSource = formatDiagnostics(diags, source);
  const withoutSource = formatDiagnostics(diags, undefined);
  if (typeof withSource !== "string" || typeof withoutSource !== "string") throw new Error(`${phase}: formatDiagnostics returned no string`);
}

/** Every front-end entry point on one text; throws (failing the property) on any contract breach. */
function exercise(source: string, options: { pattern?: string; set?: Record<string, string> } = {}): void {
  const parsed = parseSource(source, FILE);
  checkDiagnostics(parsed.diagnostics, source, "parseSource");
  checkDiagnostics(checkSource(source, FILE), source, "checkSource");
  const tryCompile = (opts: { pattern?: string; set?: Record<string, string> }) => {
    try {
      compile(source, { fileName: FILE, ...opts });
    } catch (e) {
      if (!(e instanceof SpattnError)) throw e;
      checkDiagnostics(e.diagnostics, source, "compile");
    }
  };
  tryCompile({});
  // Also each pattern by name (a file with several needs one), with the given overrides.
  const names = [...new Set(parsed.file.patterns.map((p) => p.name))].slice(0, 4);
  for (const pattern of names) tryCompile({ pattern, ...(options.set ? { set: options.set } : {}) });
  if (options.pattern !== undefined) tryCompile({ pattern: options.pattern, ...(options.set ? { set: options.set } : {}) });
}

// ---------------------------------------------------------------------------------------
// Seeds: valid programs covering every construct.

const EXAMPLES: string[] = [
  `pattern streaming(sinks = 4, window = 512) {
  mask causal and (k < sinks or q - k < window)
}`,
  `pattern mixed(h: int = 4) {
  heads h
  mask match head { 0..1 => causal and q - k < 128, 2, 3 => causal and (k < 4 or q - k < 64) }
}`,
  `pattern nat(height = 32, width = 32, kernel = 7) {
  layout(y: height, x: width)
  mask neighborhood(kernel, dilation: 1)
}`,
  `pattern sel(block = 64) {
  let s = topk(4, block: block, among: kb < qb, always: kb == qb)
  mask s and causal
}`,
  `// Packed documents.
pattern document(lengths: int[] = [300, 200, 524]) {
  mask causal and document(q, lengths) == document(k, lengths)
}`,
  `pattern window(size: int = 128) { mask causal and q - k < size }
pattern sinks_window(sinks: int = 4, size: int = 64) { mask causal and (k < sinks or q - k < size); }
pattern mixed_heads(local: int = 128, sinks: int = 4, recent: int = 64) {
  heads 4
  tile(q: 128, k: 64)
  mask match head {
    0..1 => window(local),
    2..3 => sinks_window(sinks, recent),
  }
}`,
  `pattern hierarchical(block: int = 64, super_block: int = 256, top_super: int = 2, topk: int = 4) {
  let coarse = topk(top_super, qblock: block, kblock: super_block, among: kb < q / super_block, always: kb == q / super_block)
  let fine = topp(0.9, block: block, among: kb < qb and coarse, always: kb == qb)
  mask fine and causal
}`,
  `pattern video3d(frames: int = 8, height: int = 16, width: int = 16, tk: int = 3, kernel: int = 7) {
  layout(t: frames, y: height, x: width)
  mask neighborhood([tk, kernel, kernel], causal: [1, 0, 0]) except q.t == k.t and q.y != k.y
}`,
  `/* block comment */ pattern misc(a: float = 1.5e2, b: bool = true, c = -3) {
  # hash comment
  let d = clamp(abs(c), min(1, 2), max(3, 4))
  mask routing() or not (q % 2 == 0) and 0 <= k < n and same_cluster(4, iterations: 2)
}
pattern routing(clusters: int = 4) { mask same_cluster(clusters) and causal }`,
];

// ---------------------------------------------------------------------------------------
// Vocabulary for token soups.

const KEYWORDS = ["pattern", "let", "layout", "heads", "tile", "mask", "match", "and", "or", "not", "except", "true", "false"];
const NAMES = [
  "q", "k", "n", "head", "causal", "qb", "kb", "x", "y", "t", "s", "p", "int", "float", "bool",
  "abs", "min", "max", "clamp", "document", "neighborhood", "topk", "topp", "same_cluster",
  "block", "qblock", "kblock", "among", "always", "dilation", "kernel", "clusters", "iterations", "lengths",
  "__proto__", "constructor", "toString", "hasOwnProperty", "maskx", "pattern_",
];
const NUMBERS = ["0", "1", "2", "7", "64", "-1", "1.5", "0.0", "1e3", "2E-2", "007", "2147483647", "2147483648", "99999999999999999999999", "1e400", "9".repeat(400)];
const OPERATORS = ["=>", "..", "...", "<=", ">=", "==", "!=", "<", ">", "=", "+", "-", "*", "/", "%", ".", ",", ":", ";", "(", ")", "{", "}", "[", "]", "!", "&&", "|", "@", "$"];
const TRIVIA = [" ", " ", " ", "\n", "\t", "\r\n", "\r", "// c\n", "# c\n", "/* c */", "/*", "*/", "\u00a0", "\u2028", "\ufeff"];

const tokenArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KEYWORDS) },
  { weight: 3, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 2, arbitrary: fc.constantFrom(...NUMBERS) },
  { weight: 4, arbitrary: fc.constantFrom(...OPERATORS) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,6}$/) },
  { weight: 1, arbitrary: fc.nat({ max: 5000 }).map(String) },
);
const separatorArb = fc.oneof({ weight: 6, arbitrary: fc.constant(" ") }, { weight: 1, arbitrary: fc.constantFrom(...TRIVIA) }, { weight: 1, arbitrary: fc.constant("") });

const soupArb = fc
  .array(fc.tuple(tokenArb, separatorArb), { maxLength: 60 })
  .map((parts) => parts.map(([t, s]) => t + s).join(""));

/** Soups that start like a pattern declaration get further into the parser. */
const framedSoupArb = fc
  .tuple(fc.constantFrom("pattern p(", "pattern p() { mask ", "pattern p(a = ", "pattern p() { let x = ", "pattern p() { layout(", "pattern p() { mask match head { "), soupArb, fc.constantFrom("", ")", "}", ") }", " }\n}"))
  .map(([head, body, tail]) => head + body + tail);

// ---------------------------------------------------------------------------------------
// Mutations of valid programs: on characters and on tokens.

interface Tok {
  start: number;
  end: number;
}

function tokensOf(source: string): Tok[] {
  return spattnLexer.tokenize(source).tokens.map((t) => ({ start: t.startOffset, end: (t.endOffset ?? t.startOffset) + 1 }));
}

type Mutation =
  | { op: "delChar" | "dupChar"; at: number }
  | { op: "insChar"; at: number; text: string }
  | { op: "swapChar"; at: number; other: number }
  | { op: "delTok" | "dupTok"; at: number }
  | { op: "insTok"; at: number; text: string }
  | { op: "swapTok"; at: number; other: number }
  | { op: "delSpan"; at: number; len: number };

const insertTextArb = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 2 }),
  fc.constantFrom(...OPERATORS, ...KEYWORDS, ...NUMBERS, ...TRIVIA, "q", "k", "causal", "(", ")", "{", "}"),
);

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom("delChar" as const, "dupChar" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("insChar" as const), at: fc.nat(), text: insertTextArb }),
  fc.record({ op: fc.constant("swapChar" as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ op: fc.constantFrom("delTok" as const, "dupTok" as const), at: fc.nat() }),
  fc.record({ op: fc.constant("insTok" as const), at: fc.nat(), text: tokenArb }),
  fc.record({ op: fc.constant("swapTok" as const), at: fc.nat(), other: fc.nat() }),
  fc.record({ op: fc.constant("delSpan" as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
);

function applyMutation(src: string, m: Mutation): string {
  const chars = [...src]; // code points, so that a surrogate pair stays whole here
  const n = chars.length;
  switch (m.op) {
    case "delChar": {
      if (n === 0) return src;
      const i = m.at % n;
      return chars.slice(0, i).join("") + chars.slice(i + 1).join("");
    }
    case "dupChar": {
      if (n === 0) return src;
      const i = m.at % n;
      return chars.slice(0, i + 1).join("") + chars.slice(i).join("");
    }
    case "insChar": {
      const i = m.at % (n + 1);
      return chars.slice(0, i).join("") + m.text + chars.slice(i).join("");
    }
    case "swapChar": {
      if (n < 2) return src;
      const i = m.at % n;
      const j = m.other % n;
      [chars[i], chars[j]] = [chars[j], chars[i]];
      return chars.join("");
    }
    case "delSpan": {
      const i = m.at % (src.length + 1);
      return src.slice(0, i) + src.slice(i + m.len);
    }
  }
  const toks = tokensOf(src);
  if (toks.length === 0) return src + (m.op === "insTok" ? m.text : "");
  const t = toks[m.at % toks.length];
  switch (m.op) {
    case "delTok":
      return src.slice(0, t.start) + src.slice(t.end);
    case "dupTok":
      return src.slice(0, t.end) + " " + src.slice(t.start, t.end) + src.slice(t.end);
    case "insTok":
      return src.slice(0, t.start) + m.text + " " + src.slice(t.start);
    case "swapTok": {
      const u = toks[m.other % toks.length];
      const [a, b] = t.start <= u.start ? [t, u] : [u, t];
      if (a.start === b.start) return src;
      return src.slice(0, a.start) + src.slice(b.start, b.end) + src.slice(a.end, b.start) + src.slice(a.start, a.end) + src.slice(b.end);
    }
  }
}

const mutatedArb = fc
  .tuple(fc.constantFrom(...EXAMPLES), fc.array(mutationArb, { minLength: 1, maxLength: 6 }))
  .map(([src, ms]) => ms.reduce(applyMutation, src));

// ---------------------------------------------------------------------------------------
// Well-formed random programs: they parse, so the checker sees deep, odd combinations.

const leafArb = fc.oneof(
  fc.constantFrom("q", "k", "n", "head", "causal", "qb", "kb", "a", "b", "c", "xs", "s", "unknown", "p2", "q.y", "k.x", "q.t"),
  fc.constantFrom("0", "1", "2", "3", "64", "2147483647", "2147483648", "1.5", "0.0", "true", "false", "[]", "[1, 2]", "[a, 0]"),
);

const exprArb = fc.letrec<{ expr: string }>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    { weight: 4, arbitrary: leafArb },
    fc.tuple(tie("expr"), fc.constantFrom("and", "or", "except", "+", "-", "*", "/", "%", "<", "<=", ">", ">=", "==", "!="), tie("expr")).map(([a, op, b]) => `(${a} ${op} ${b})`),
    fc.tuple(fc.constantFrom("not ", "-"), tie("expr")).map(([op, a]) => `${op}${a}`),
    fc.tuple(tie("expr"), tie("expr"), tie("expr")).map(([a, b, c]) => `${a} <= ${b} < ${c}`),
    fc
      .tuple(
        fc.constantFrom("abs", "min", "max", "clamp", "document", "neighborhood", "topk", "topp", "same_cluster", "p1", "p2", "nope"),
        fc.array(tie("expr"), { maxLength: 3 }),
        fc.array(fc.tuple(fc.constantFrom("block", "qblock", "kblock", "among", "always", "dilation", "causal", "iterations", "a", "x"), tie("expr")), { maxLength: 3 }),
      )
      .map(([f, pos, named]) => `${f}(${[...pos, ...named.map(([n, v]) => `${n}: ${v}`)].join(", ")})`),
    fc.array(tie("expr"), { maxLength: 3 }).map((xs) => `[${xs.join(", ")}]`),
    fc
      .tuple(tie("expr"), fc.array(fc.tuple(fc.constantFrom("0", "1", "0..1", "2..3", "a", "-1", "3..1", "1, 2"), tie("expr")), { maxLength: 3 }))
      .map(([subj, cases]) => `match ${/^[\w.]+$/.test(subj) ? subj : "head"} { ${cases.map(([l, b]) => `${l} => ${b}`).join(", ")} }`),
  ),
})).expr;

const paramArb = fc
  .tuple(
    fc.constantFrom("a", "b", "c", "xs", "s"),
    fc.constantFrom("", ": int", ": float", ": bool", ": int[]", ": float[]", ": str"),
    fc.option(exprArb, { nil: undefined }),
  )
  .map(([n, t, d]) => `${n}${t}${d === undefined ? "" : ` = ${d}`}`);

const stmtArb = fc.oneof(
  fc.tuple(fc.constantFrom("s", "a", "t"), exprArb).map(([n, e]) => `let ${n} = ${e}`),
  fc.array(fc.tuple(fc.constantFrom("y", "x", "t", ""), exprArb), { maxLength: 3 }).map((axes) => `layout(${axes.map(([n, e]) => (n ? `${n}: ${e}` : e)).join(", ")})`),
  exprArb.map((e) => `heads ${e}`),
  fc.tuple(exprArb, exprArb).map(([a, b]) => `tile(q: ${a}, k: ${b})`),
  { weight: 3, arbitrary: exprArb.map((e) => `mask ${e}`) },
);

const patternArb = fc
  .tuple(fc.constantFrom("p1", "p2", "p3"), fc.array(paramArb, { maxLength: 3 }), fc.array(stmtArb, { minLength: 1, maxLength: 4 }))
  .map(([name, params, body]) => `pattern ${name}(${params.join(", ")}) {\n  ${body.join("\n  ")}\n}`);

const programArb = fc.array(patternArb, { minLength: 1, maxLength: 3 }).map((ps) => ps.join("\n"));

const overridesArb = fc.dictionary(
  fc.constantFrom("a", "b", "c", "xs", "s", "zz"),
  fc.oneof(fc.constantFrom("1", "-1", "0", "1.5", "true", "false", "[1, 2]", "[]", "", "x", "2147483648", "1e400", "[1,", "99999999999999999999"), fc.string({ maxLength: 6 })),
  { maxKeys: 3 },
);

// ---------------------------------------------------------------------------------------
// Inputs that once broke something, or that stress limits: kept as explicit cases.

const REGRESSIONS: string[] = [
  "",
  " ",
  "\u0000",
  "\ufeffpattern p() { mask causal }",
  "pattern",
  "pattern p",
  "pattern p(",
  "pattern p()",
  "pattern p() {",
  "pattern p() { mask",
  "pattern p() { mask }",
  "pattern p() { mask causal",
  "pattern p() { mask causal }}",
  "}}}}",
  "pattern p() { mask q.y }",
  "pattern p() { mask match head { } }",
  "pattern p() { mask match head { 0.. => causal } }",
  "pattern p() { mask match { } }",
  "pattern p(a = ) { mask causal }",
  "pattern p(,,) { mask causal }",
  "pattern p(a: []) { mask causal }",
  "pattern p() { layout() mask causal }",
  "pattern p() { layout(y: 0, x: 0) mask q.y == k.x }",
  "pattern p() { layout(y: 65536, x: 65536, z: 65536) mask q.y == k.z }",
  "pattern p() { mask p() }",
  "pattern p() { mask r() } pattern r() { mask p() }",
  "pattern p(a = p()) { mask causal }",
  "pattern p() { mask topk() }",
  "pattern p() { mask topk(0, block: 0) }",
  "pattern p() { mask (q - k) % 0 == 0 }",
  "pattern p() { mask q / 0 < 1 }",
  "pattern p(a = 1 / 0) { mask causal }",
  "pattern p(a = 5 % 0) { mask causal }",
  "pattern p(a = 2147483647 * 2147483647 * 2147483647) { mask q < a }",
  "pattern p(a = 1e400) { mask q < a }",
  "pattern p() { mask document(q, []) == document(k, []) }",
  "pattern p() { mask neighborhood([]) }",
  "pattern p() { layout(y: 4) mask neighborhood([1, 2, 3]) }",
  "pattern __proto__(constructor = 1, toString = 2) { mask q < constructor }",
  "pattern constructor() { let hasOwnProperty = 1 mask causal }",
  "pattern p() { mask /* unterminated",
  "pattern p() { mask causal } /*",
  "pattern p() { mask \u2028 causal }",
  "pattern p() {\r\n  mask causal and\r\n}",
  "pattern p() {\n\n\n  mask causal and ? \n}",
  "pattern 𝒫() { mask causal }",
  "pattern p() { mask q < 😀 }",
  // Moderate nesting and long chains, which work.
  `pattern p() { mask ${"(".repeat(40)}causal${")".repeat(40)} }`,
  `pattern p() { mask ${"[".repeat(30)} }`,
  `pattern p() { mask causal ${"and causal ".repeat(300)}}`,
  `pattern p() { mask q < ${Array.from({ length: 300 }, (_, i) => String(i)).join(" + ")} }`,
  `pattern p() { mask ${Array.from({ length: 2000 }, () => "q").join(" <= ")} }`,
];

/**
 * Found by this fuzzing: deep nesting overflows the stack of the recursive-descent parser
 * (Chevrotain) or of the checker, and a RangeError escapes parseSource / checkSource / compile.
 * Approximate limits (they vary with the JIT and the runner's stack): about 70 unclosed `[`,
 * 150-200 nested `(`, a few thousand `not`/`-` prefixes, 5000-12000 `and`/`+` terms,
 * a chain of ~1500 pattern calls. The cases below are well past those limits.
 * A fix either handles any depth or reports a diagnostic ("nesting too deep"); both pass.
 */
const DEEP_NESTING: [string, string][] = [
  ["100 unclosed '[' (parser, during error recovery)", `pattern p() { mask ${"[".repeat(100)} }`],
  ["300 nested parentheses (parser)", `pattern p() { mask ${"(".repeat(300)}causal${")".repeat(300)} }`],
  ["300 nested list brackets in a default (parser)", `pattern p(a = ${"[".repeat(300)}${"]".repeat(300)}) { mask causal }`],
  ["300 nested calls (parser)", `pattern p() { mask q < ${"abs(".repeat(300)}1${")".repeat(300)} }`],
  ["5000 'not' prefixes (parser or checker)", `pattern p() { mask ${"not ".repeat(5000)}causal }`],
  ["5000 unary minus prefixes (parser or checker)", `pattern p() { mask q < ${"-".repeat(5000)}1 }`],
  ["a flat 'and' chain of 20000 terms (checker: checkLogic)", `pattern p() { mask causal ${"and causal ".repeat(20000)}}`],
  ["a flat '+' chain of 20000 terms (checker: checkExpr)", `pattern p() { mask q < ${Array.from({ length: 20000 }, (_, i) => String(i % 10)).join(" + ")} }`],
  [
    "a chain of 3000 patterns, each calling the next (checker: callPattern)",
    Array.from({ length: 3000 }, (_, i) => `pattern p${i}() { mask ${i + 1 < 3000 ? `p${i + 1}()` : "causal"} }`).join("\n"),
  ],
];

describe("front-end fuzzing", () => {
  it("survives the regression inputs", () => {
    for (const src of REGRESSIONS) {
      try {
        exercise(src);
      } catch (e) {
        throw new Error(`input ${JSON.stringify(src.length > 200 ? src.slice(0, 200) + "…" : src)} failed: ${(e as Error).stack}`);
      }
    }
  });

  describe("deep nesting returns diagnostics instead of overflowing the stack", () => {
    for (const [what, src] of DEEP_NESTING) {
      it(what, () => {
        exercise(src, { pattern: "p0" });
        // A crash must not leave the shared parser instance broken for the next file.
        expect(parseSource(EXAMPLES[0], FILE).diagnostics).toEqual([]);
      });
    }
  });

  it("accepts the seed programs without errors (they are valid)", () => {
    for (const src of EXAMPLES) expect(checkSource(src, FILE)).toEqual([]);
  });

  it("survives arbitrary strings (unicode, control characters)", () => {
    const anyText = fc.oneof(
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.string({ unit: "grapheme", maxLength: 80 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 120 }),
    );
    fc.assert(fc.property(anyText, (s) => exercise(s)), { seed: SEED, numRuns: runs(1500) });
  }, TIMEOUT);

  it("survives token soups", () => {
    fc.assert(fc.property(fc.oneof(soupArb, framedSoupArb), (s) => exercise(s)), { seed: SEED + 1, numRuns: runs(1500) });
  }, TIMEOUT);

  it("survives mutations of valid programs", () => {
    fc.assert(
      fc.property(mutatedArb, overridesArb, fc.option(fc.constantFrom("streaming", "nope", "p1", ""), { nil: undefined }), (s, set, pattern) => exercise(s, { set, pattern })),
      { seed: SEED + 2, numRuns: runs(1500) },
    );
  }, TIMEOUT);

  it("survives random well-formed programs", () => {
    fc.assert(fc.property(programArb, overridesArb, (s, set) => exercise(s, { set })), { seed: SEED + 3, numRuns: runs(1000) });
  }, TIMEOUT);

  it("survives every truncation and every single-character deletion of a small program", () => {
    const small = EXAMPLES[1];
    for (let i = 0; i <= small.length; i++) {
      for (const src of [small.slice(0, i), small.slice(i), small.slice(0, i) + small.slice(i + 1)]) {
        try {
          exercise(src);
        } catch (e) {
          throw new Error(`input ${JSON.stringify(src)} failed: ${(e as Error).stack}`);
        }
      }
    }
  }, TIMEOUT);
});
