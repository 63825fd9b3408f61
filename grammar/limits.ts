// Size limits checked on the token stream before parsing. The parser and the checker are
// recursive; without these, deeply nested or extremely long input overflows the stack instead
// of producing a diagnostic. Real patterns stay far below every limit.
import type { IToken } from "chevrotain";
import * as T from "./lexer.js";

export const MAX_NESTING = 32;
export const MAX_PREFIX = 32;
export const MAX_CHAIN = 256;

const OPEN = new Set([T.LParen, T.LBracket, T.LBrace]);
const CLOSE = new Set([T.RParen, T.RBracket, T.RBrace]);
const PREFIX = new Set([T.Not, T.Minus]);
const BINARY = new Set([T.And, T.Or, T.Except, T.Plus, T.Minus, T.Star, T.Slash, T.Percent, T.Less, T.LessEq, T.Greater, T.GreaterEq, T.EqEq, T.NotEq]);
/** Tokens that end an expression: a new chain starts after them. */
const SEPARATORS = new Set([T.Comma, T.Semicolon, T.Arrow, T.Colon, T.Assign, T.Let, T.Mask, T.Layout, T.Heads, T.Tile, T.Pattern]);

export interface LimitViolation {
  token: IToken;
  message: string;
}

export function checkLimits(tokens: IToken[]): LimitViolation | undefined {
  let depth = 0;
  let prefixRun = 0;
  // Operators seen in the current expression, one counter per bracket level.
  const chain: number[] = [0];
  for (const t of tokens) {
    const type = t.tokenType;
    if (OPEN.has(type)) {
      depth++;
      if (depth > MAX_NESTING) return { token: t, message: `brackets nest more than ${MAX_NESTING} levels deep` };
      chain.push(0);
    } else if (CLOSE.has(type)) {
      depth = Math.max(0, depth - 1);
      if (chain.length > 1) chain.pop();
    } else if (SEPARATORS.has(type)) {
      chain[chain.length - 1] = 0;
    } else if (BINARY.has(type)) {
      chain[chain.length - 1]++;
      if (chain[chain.length - 1] > MAX_CHAIN) return { token: t, message: `an expression has more than ${MAX_CHAIN} operators in a row; split it with let` };
    }
    prefixRun = PREFIX.has(type) ? prefixRun + 1 : 0;
    if (prefixRun > MAX_PREFIX) return { token: t, message: `more than ${MAX_PREFIX} 'not' or '-' in a row` };
  }
  return undefined;
}
