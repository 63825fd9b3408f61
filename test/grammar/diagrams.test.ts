// docs/diagrams.html is generated from the parser: it must be up to date, name every rule,
// and work offline (no script or stylesheet from the network).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { diagramsHtml } from "../../grammar/diagrams.js";
import { parserInstance } from "../../grammar/parser.js";

const docPath = fileURLToPath(new URL("../../docs/diagrams.html", import.meta.url));
const ruleNames = Object.keys(parserInstance.getGAstProductions());

function readDoc(): string {
  try {
    return readFileSync(docPath, "utf8");
  } catch {
    throw new Error("docs/diagrams.html is missing: run `npm run diagrams`");
  }
}

/** The bodies of the inline <script> elements, in page order. */
function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

describe("grammar diagrams", () => {
  const html = diagramsHtml();

  it("docs/diagrams.html is up to date with the grammar", () => {
    const doc = readDoc();
    // Compare first without printing 70 KB of HTML on failure.
    if (doc !== html) {
      expect.fail("docs/diagrams.html is out of date with grammar/parser.ts: run `npm run diagrams` and commit the result");
    }
  });

  it("is deterministic", () => {
    expect(diagramsHtml() === html).toBe(true);
  });

  it("names every parser rule", () => {
    expect(ruleNames.length).toBeGreaterThan(10);
    const missing = ruleNames.filter((name) => !html.includes(`"name": "${name}"`));
    expect(missing).toEqual([]);
  });

  it("loads no script or stylesheet from the network", () => {
    expect(html).not.toMatch(/<script[^>]*\bsrc\s*=/i);
    expect(html).not.toMatch(/<link[^>]*\bhref\s*=\s*['"]?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    expect(html).not.toMatch(/unpkg/i);
    // Every script the generated page needs is inlined.
    expect(html).toContain("window.railroad");
    expect(html).toContain("root.diagrams_builder");
    expect(html).toContain("root.diagrams_behavior");
    expect(html).toContain("root.main");
    expect(html).toContain("svg.railroad-diagram");
  });

  it("renders a diagram for every rule when its inline scripts run", () => {
    // A minimal stand-in for a browser: the builder renders SVG as text into the div's innerHTML.
    const div = { innerHTML: "" };
    const document = {
      getElementById: (id: string) => (id === "diagrams" ? div : null),
      getElementsByClassName: () => [],
    };
    const window: Record<string, unknown> = { document };
    window.window = window;
    const context = vm.createContext(window);
    for (const script of inlineScripts(html)) vm.runInContext(script, context);
    expect(div.innerHTML).toContain("<svg");
    const headers = [...div.innerHTML.matchAll(/<h2 class="diagramHeader">(\w+)<\/h2>/g)].map((m) => m[1]);
    expect(headers).toEqual(ruleNames);
  });
});
