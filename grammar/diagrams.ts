// Railroad diagrams of the grammar, as one self-contained HTML page.
//
// Chevrotain's `createSyntaxDiagramsCode` writes a page that loads its stylesheet and four
// scripts from unpkg. Its only options (`resourceBase`, `css`) are URLs, so to make the page
// work offline we let it write marker URLs and replace those tags with the files' contents,
// read from the `diagrams/` folder that the chevrotain package ships.
//
// Usage: `tsx grammar/diagrams.ts docs/diagrams.html` (npm run diagrams).
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { createSyntaxDiagramsCode } from "chevrotain";
import { parserInstance } from "./parser.js";

const RESOURCE_MARK = "spattn-inline-resource:";
const CSS_MARK = "spattn-inline-css:diagrams.css";

/** The root folder of the installed chevrotain package (its `exports` hide package.json). */
function chevrotainRoot(): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve("chevrotain"));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "chevrotain") return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the chevrotain package folder");
    dir = up;
  }
}

function readResource(root: string, relPath: string): string {
  const file = join(root, "diagrams", relPath);
  if (!existsSync(file)) throw new Error(`chevrotain does not ship diagrams/${relPath} (looked at ${file})`);
  // Normalize line endings so that the page is the same bytes on every platform.
  return readFileSync(file, "utf8").replace(/\r\n?/g, "\n");
}

/** Inline text must not close its own <script>/<style> element early. */
function escapeInline(text: string, tag: "script" | "style"): string {
  return text.replace(new RegExp(`</(${tag})`, "gi"), "<\\/$1");
}

/** The railroad-diagram page of the spattn grammar, with every script and style inlined. */
export function diagramsHtml(): string {
  const root = chevrotainRoot();
  const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  const page = createSyntaxDiagramsCode(parserInstance.getSerializedGastProductions(), {
    resourceBase: RESOURCE_MARK,
    css: CSS_MARK,
  });

  let cssCount = 0;
  let scriptCount = 0;
  const inlined = page
    .replace(/<link rel=(['"])stylesheet\1 href=(['"])([^'"]*)\2\s*\/?>/g, (tag, _q1, _q2, href: string) => {
      if (href !== CSS_MARK) throw new Error(`unexpected stylesheet in chevrotain's page: ${tag}`);
      cssCount++;
      const css = escapeInline(readResource(root, "diagrams.css"), "style");
      return `<!-- inlined from chevrotain@${version}/diagrams/diagrams.css -->\n<style>\n${css.trimEnd()}\n</style>`;
    })
    .replace(/<script src=(['"])([^'"]*)\1><\/script>/g, (tag, _q, src: string) => {
      if (!src.startsWith(RESOURCE_MARK)) throw new Error(`unexpected script in chevrotain's page: ${tag}`);
      scriptCount++;
      const rel = src.slice(RESOURCE_MARK.length);
      const js = escapeInline(readResource(root, rel), "script");
      return `<!-- inlined from chevrotain@${version}/diagrams/${rel} -->\n<script>\n${js.trimEnd()}\n</script>`;
    });

  if (cssCount === 0 || scriptCount === 0 || inlined.includes(RESOURCE_MARK) || inlined.includes(CSS_MARK)) {
    throw new Error("chevrotain's diagram page changed shape: could not inline its resources (see grammar/diagrams.ts)");
  }
  return inlined;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = process.argv[2];
  if (!out) {
    console.error("usage: tsx grammar/diagrams.ts OUT.html");
    process.exit(2);
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, diagramsHtml());
  console.log(`wrote ${out}`);
}
