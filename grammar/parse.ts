// Entry point of phase 1: text to AST, with lexing and parsing errors as diagnostics.
import { spattnLexer } from "./lexer.js";
import { parserInstance } from "./parser.js";
import { buildFile, tokenLoc } from "./cst-to-ast.js";
import { checkLimits } from "./limits.js";
import type { SourceFile } from "./ast.js";
import type { Diagnostic } from "../compiler/diagnostics.js";

export interface ParseResult {
  file: SourceFile;
  diagnostics: Diagnostic[];
}

export function parseSource(source: string, fileName = "<input>"): ParseResult {
  const diagnostics: Diagnostic[] = [];
  const lexed = spattnLexer.tokenize(source);
  for (const e of lexed.errors) {
    const text = source.slice(e.offset, e.offset + e.length);
    diagnostics.push({
      severity: "error",
      fileName,
      message: `unexpected character ${JSON.stringify(text)}`,
      loc: { line: e.line ?? 1, col: e.column ?? 1, offset: e.offset, end: e.offset + Math.max(1, e.length) },
    });
  }
  const tooBig = checkLimits(lexed.tokens);
  if (tooBig) {
    diagnostics.push({ severity: "error", fileName, message: tooBig.message, loc: tokenLoc(tooBig.token) });
    return { file: { fileName, source, patterns: [] }, diagnostics };
  }
  parserInstance.input = lexed.tokens;
  const cst = parserInstance.file();
  for (const e of parserInstance.errors) {
    const t = e.token;
    const atEnd = t.tokenType?.name === "EOF" || !Number.isFinite(t.startOffset);
    const loc = atEnd ? endLoc(source) : tokenLoc(t);
    diagnostics.push({ severity: "error", fileName, message: describeParseError(e.message, atEnd), loc });
  }
  return { file: buildFile(cst, fileName, source), diagnostics };
}

function endLoc(source: string) {
  const lines = source.split("\n");
  const last = lines[lines.length - 1] ?? "";
  return { line: lines.length, col: last.length + 1, offset: source.length, end: source.length };
}

/** Chevrotain's messages name token types; say what a user typed instead. */
function describeParseError(message: string, atEnd: boolean): string {
  const firstLine = message.split("\n")[0];
  const m = /Expecting (?:token of type )?--> (\w+) <-- but found --> '(.*)' <--/.exec(firstLine);
  if (m && m[1] === "EOF") return `expected 'pattern' but found '${m[2]}'`;
  if (m) return `expected ${spell(m[1])} but found ${atEnd ? "end of file" : `'${m[2]}'`}`;
  // Chevrotain quotes the found token in some messages and not in others.
  const found = /but found: '?(.*?)'?$/m.exec(message)?.[1];
  if (/Redundant input, expecting EOF/.test(firstLine)) return `expected 'pattern' but found ${found ? `'${found}'` : "more input"}`;
  if (/^Expecting: one of these possible Token sequences|^Expecting: expecting at least one/.test(firstLine) || found !== undefined) {
    return `unexpected ${atEnd ? "end of file" : found ? `'${found}'` : "token"}`;
  }
  return firstLine;
}

const SPELLING: Record<string, string> = {
  Identifier: "a name", Integer: "an integer", LParen: "'('", RParen: "')'", LBrace: "'{'", RBrace: "'}'",
  LBracket: "'['", RBracket: "']'", Comma: "','", Colon: "':'", Assign: "'='", Arrow: "'=>'", Pattern: "'pattern'",
  Semicolon: "';'", DotDot: "'..'",
};

function spell(tokenName: string): string {
  return SPELLING[tokenName] ?? tokenName.toLowerCase();
}
