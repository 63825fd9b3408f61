// Tokens of the spattn language. Keywords are declared with `longer_alt: Identifier`
// so that `masked` lexes as one identifier, not `mask` + `ed`.
import { createToken, Lexer, type TokenType } from "chevrotain";

export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

function keyword(word: string): TokenType {
  return createToken({ name: word[0].toUpperCase() + word.slice(1), pattern: new RegExp(word), longer_alt: Identifier });
}

export const Pattern = keyword("pattern");
export const Let = keyword("let");
export const Layout = keyword("layout");
export const Heads = keyword("heads");
export const Tile = keyword("tile");
export const Mask = keyword("mask");
export const Match = keyword("match");
export const And = keyword("and");
export const Or = keyword("or");
export const Not = keyword("not");
export const Except = keyword("except");
export const True = keyword("true");
export const False = keyword("false");

export const Float = createToken({ name: "Float", pattern: /\d+\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/ });
export const Integer = createToken({ name: "Integer", pattern: /\d+/, longer_alt: Float });

export const Arrow = createToken({ name: "Arrow", pattern: /=>/ });
export const DotDot = createToken({ name: "DotDot", pattern: /\.\./ });
export const LessEq = createToken({ name: "LessEq", pattern: /<=/ });
export const GreaterEq = createToken({ name: "GreaterEq", pattern: />=/ });
export const EqEq = createToken({ name: "EqEq", pattern: /==/ });
export const NotEq = createToken({ name: "NotEq", pattern: /!=/ });
export const Less = createToken({ name: "Less", pattern: /</ });
export const Greater = createToken({ name: "Greater", pattern: />/ });
export const Assign = createToken({ name: "Assign", pattern: /=/ });
export const Plus = createToken({ name: "Plus", pattern: /\+/ });
export const Minus = createToken({ name: "Minus", pattern: /-/ });
export const Star = createToken({ name: "Star", pattern: /\*/ });
export const Slash = createToken({ name: "Slash", pattern: /\// });
export const Percent = createToken({ name: "Percent", pattern: /%/ });
export const Dot = createToken({ name: "Dot", pattern: /\./ });
export const Comma = createToken({ name: "Comma", pattern: /,/ });
export const Colon = createToken({ name: "Colon", pattern: /:/ });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/ });
export const LParen = createToken({ name: "LParen", pattern: /\(/ });
export const RParen = createToken({ name: "RParen", pattern: /\)/ });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/ });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/ });
export const LBracket = createToken({ name: "LBracket", pattern: /\[/ });
export const RBracket = createToken({ name: "RBracket", pattern: /\]/ });

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: "LineComment", pattern: /(?:\/\/|#)[^\n]*/, group: Lexer.SKIPPED });
export const BlockComment = createToken({ name: "BlockComment", pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED, line_breaks: true });

// Order matters: comments before `/`, multi-character operators before their prefixes,
// keywords before Identifier.
export const allTokens: TokenType[] = [
  WhiteSpace, LineComment, BlockComment,
  Pattern, Let, Layout, Heads, Tile, Mask, Match, And, Or, Not, Except, True, False,
  Identifier,
  Float, Integer,
  Arrow, DotDot, LessEq, GreaterEq, EqEq, NotEq, Less, Greater, Assign,
  Plus, Minus, Star, Slash, Percent, Dot, Comma, Colon, Semicolon,
  LParen, RParen, LBrace, RBrace, LBracket, RBracket,
];

export const spattnLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
