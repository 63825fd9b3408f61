// The concrete grammar of spattn, as a Chevrotain CST parser with error recovery.
// One rule per construct; `grammar/diagrams.ts` renders these rules as railroad diagrams.
import { CstParser } from "chevrotain";
import * as T from "./lexer.js";

export class SpattnParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: "full" });
    this.performSelfAnalysis();
  }

  file = this.RULE("file", () => {
    this.MANY(() => this.SUBRULE(this.patternDecl));
  });

  patternDecl = this.RULE("patternDecl", () => {
    this.CONSUME(T.Pattern);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LParen);
    this.OPTION(() => {
      this.SUBRULE(this.param);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.OPTION2(() => this.SUBRULE2(this.param));
      });
    });
    this.CONSUME(T.RParen);
    this.CONSUME(T.LBrace);
    this.MANY2(() => this.SUBRULE(this.statement));
    this.CONSUME(T.RBrace);
  });

  param = this.RULE("param", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Colon);
      this.SUBRULE(this.typeRef);
    });
    this.OPTION2(() => {
      this.CONSUME(T.Assign);
      this.SUBRULE(this.expression);
    });
  });

  typeRef = this.RULE("typeRef", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.LBracket);
      this.CONSUME(T.RBracket);
    });
  });

  statement = this.RULE("statement", () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.letStmt) },
      { ALT: () => this.SUBRULE(this.layoutStmt) },
      { ALT: () => this.SUBRULE(this.headsStmt) },
      { ALT: () => this.SUBRULE(this.tileStmt) },
      { ALT: () => this.SUBRULE(this.maskStmt) },
    ]);
    this.OPTION(() => this.CONSUME(T.Semicolon));
  });

  letStmt = this.RULE("letStmt", () => {
    this.CONSUME(T.Let);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Assign);
    this.SUBRULE(this.expression);
  });

  layoutStmt = this.RULE("layoutStmt", () => {
    this.CONSUME(T.Layout);
    this.CONSUME(T.LParen);
    this.SUBRULE(this.argList);
    this.CONSUME(T.RParen);
  });

  headsStmt = this.RULE("headsStmt", () => {
    this.CONSUME(T.Heads);
    this.SUBRULE(this.expression);
  });

  tileStmt = this.RULE("tileStmt", () => {
    this.CONSUME(T.Tile);
    this.CONSUME(T.LParen);
    this.SUBRULE(this.argList);
    this.CONSUME(T.RParen);
  });

  maskStmt = this.RULE("maskStmt", () => {
    this.CONSUME(T.Mask);
    this.SUBRULE(this.expression);
  });

  expression = this.RULE("expression", () => {
    this.SUBRULE(this.orExpr);
    this.MANY(() => {
      this.CONSUME(T.Except);
      this.SUBRULE2(this.orExpr);
    });
  });

  orExpr = this.RULE("orExpr", () => {
    this.SUBRULE(this.andExpr);
    this.MANY(() => {
      this.CONSUME(T.Or);
      this.SUBRULE2(this.andExpr);
    });
  });

  andExpr = this.RULE("andExpr", () => {
    this.SUBRULE(this.notExpr);
    this.MANY(() => {
      this.CONSUME(T.And);
      this.SUBRULE2(this.notExpr);
    });
  });

  notExpr = this.RULE("notExpr", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Not);
          this.SUBRULE(this.notExpr);
        },
      },
      { ALT: () => this.SUBRULE(this.comparison) },
    ]);
  });

  comparison = this.RULE("comparison", () => {
    this.SUBRULE(this.additive);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.LessEq) },
        { ALT: () => this.CONSUME(T.GreaterEq) },
        { ALT: () => this.CONSUME(T.EqEq) },
        { ALT: () => this.CONSUME(T.NotEq) },
        { ALT: () => this.CONSUME(T.Less) },
        { ALT: () => this.CONSUME(T.Greater) },
      ]);
      this.SUBRULE2(this.additive);
    });
  });

  additive = this.RULE("additive", () => {
    this.SUBRULE(this.multiplicative);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE2(this.multiplicative);
    });
  });

  multiplicative = this.RULE("multiplicative", () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(T.Star) },
        { ALT: () => this.CONSUME(T.Slash) },
        { ALT: () => this.CONSUME(T.Percent) },
      ]);
      this.SUBRULE2(this.unary);
    });
  });

  unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Minus);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.postfix) },
    ]);
  });

  postfix = this.RULE("postfix", () => {
    this.SUBRULE(this.primary);
    this.MANY(() => {
      this.CONSUME(T.Dot);
      this.CONSUME(T.Identifier);
    });
  });

  primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.Integer) },
      { ALT: () => this.CONSUME(T.Float) },
      { ALT: () => this.CONSUME(T.True) },
      { ALT: () => this.CONSUME(T.False) },
      { ALT: () => this.SUBRULE(this.callOrName) },
      { ALT: () => this.SUBRULE(this.parenExpr) },
      { ALT: () => this.SUBRULE(this.listExpr) },
      { ALT: () => this.SUBRULE(this.matchExpr) },
    ]);
  });

  callOrName = this.RULE("callOrName", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.OPTION2(() => this.SUBRULE(this.argList));
      this.CONSUME(T.RParen);
    });
  });

  argList = this.RULE("argList", () => {
    this.SUBRULE(this.arg);
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.OPTION(() => this.SUBRULE2(this.arg));
    });
  });

  arg = this.RULE("arg", () => {
    this.OPTION({
      GATE: () => this.LA(1).tokenType === T.Identifier && this.LA(2).tokenType === T.Colon,
      DEF: () => {
        this.CONSUME(T.Identifier);
        this.CONSUME(T.Colon);
      },
    });
    this.SUBRULE(this.expression);
  });

  parenExpr = this.RULE("parenExpr", () => {
    this.CONSUME(T.LParen);
    this.SUBRULE(this.expression);
    this.CONSUME(T.RParen);
  });

  listExpr = this.RULE("listExpr", () => {
    this.CONSUME(T.LBracket);
    this.OPTION(() => {
      this.SUBRULE(this.expression);
      this.MANY(() => {
        this.CONSUME(T.Comma);
        this.OPTION2(() => this.SUBRULE2(this.expression));
      });
    });
    this.CONSUME(T.RBracket);
  });

  matchExpr = this.RULE("matchExpr", () => {
    this.CONSUME(T.Match);
    this.SUBRULE(this.additive);
    this.CONSUME(T.LBrace);
    this.MANY(() => this.SUBRULE(this.matchCase));
    this.CONSUME(T.RBrace);
  });

  matchCase = this.RULE("matchCase", () => {
    this.SUBRULE(this.caseLabel);
    this.MANY(() => {
      this.CONSUME(T.Comma);
      this.SUBRULE2(this.caseLabel);
    });
    this.CONSUME(T.Arrow);
    this.SUBRULE(this.expression);
    this.OPTION(() => this.CONSUME2(T.Comma));
  });

  caseLabel = this.RULE("caseLabel", () => {
    this.SUBRULE(this.additive);
    this.OPTION(() => {
      this.CONSUME(T.DotDot);
      this.SUBRULE2(this.additive);
    });
  });
}

/** One shared instance: Chevrotain parsers are reusable once `input` is reset. */
export const parserInstance = new SpattnParser();
