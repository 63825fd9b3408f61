// The simulator's reports: the JSON fields are the ones docs/simulate.md documents, every
// renderer is deterministic and escapes names, and the HTML page, screenshot in headless
// Chromium from Debian's packages, shows the block masks and the speedup curves.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDevice } from "../../backends/simulator/device.js";
import { simulate } from "../../backends/simulator/simulate.js";
import { renderHtml } from "../../backends/simulator/report/html.js";
import { renderMarkdown } from "../../backends/simulator/report/markdown.js";
import { progressBar, renderTerminal } from "../../backends/simulator/report/terminal.js";
import { FULL_RGB, PALETTE, PARTIAL_RGB } from "../../backends/simulator/report/svg.js";
import type { SimulationReport } from "../../backends/simulator/schema.js";
import { chromium, examplePattern, randomTensor, tempDirs } from "../helpers.js";
import { decodePng } from "../png.js";

const freshDir = tempDirs("spattn-report-");
const device = loadDevice("h100");

/** Causal and a sliding window over three lengths, plus a data-dependent pattern sampled. */
function sample(file = "examples/causal.spattn"): SimulationReport {
  const q = randomTensor(2, 1024, 8, 1);
  const k = randomTensor(2, 1024, 8, 2);
  return simulate(
    [
      { ir: examplePattern("causal.spattn"), file, seqLens: [1024, 4096, 16384] },
      { ir: examplePattern("sliding_window.spattn", { window: 256 }), file: "examples/sliding_window.spattn", seqLens: [1024, 4096, 16384] },
      { ir: examplePattern("block_topk.spattn"), file: "examples/block_topk.spattn", seqLens: [1024], q, k },
    ],
    { device, heads: 2, pairs: { exactRows: 2000, samples: 256, seed: 1 } },
  );
}

/** Every field path of a JSON value; arrays of objects as `[]`, leaf arrays as `name[]`. */
function paths(v: unknown, path = "", out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === "object" && v[0] !== null) v.forEach((x) => paths(x, `${path}[]`, out));
    else if (v.length > 0) out.add(`${path}[]`);
  } else if (v !== null && typeof v === "object") {
    // Free-form maps: their keys are data (parameter names, field names), not schema.
    if (/(^|\.)(params|sources)$/.test(path)) out.add(path);
    else for (const [k, x] of Object.entries(v)) paths(x, path ? `${path}.${k}` : k, out);
  } else out.add(path);
  return out;
}

describe("the JSON report", () => {
  it("has exactly the fields docs/simulate.md documents", () => {
    const doc = readFileSync("docs/simulate.md", "utf8");
    const section = doc.slice(doc.indexOf("## JSON schema"), doc.indexOf("\n## ", doc.indexOf("## JSON schema") + 5));
    const documented = new Set([...section.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]));
    const seen = paths(JSON.parse(JSON.stringify(sample())));
    expect([...seen].filter((p) => !documented.has(p)), "fields missing from the docs").toEqual([]);
    expect([...documented].filter((p) => !seen.has(p)), "documented fields the report lacks").toEqual([]);
  });

  it("keeps the names the issue asks for, per pattern, length and head", () => {
    const r = sample();
    const l = r.patterns[0].lengths[0];
    for (const x of [l, l.heads[0]]) {
      expect(typeof x.tokenDensity).toBe("number");
      expect(typeof x.tileDensity).toBe("number");
      expect(typeof x.speedupBound).toBe("number");
      expect(typeof x.speedupEstimate).toBe("number");
      expect(Object.keys(x.tiles)).toEqual(expect.arrayContaining(["empty", "partial", "full"]));
    }
  });
});

describe("renderers", () => {
  it("are deterministic: the same input gives the same bytes", () => {
    const [a, b] = [sample(), sample()];
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(renderHtml(a)).toBe(renderHtml(b));
    expect(renderMarkdown(a)).toBe(renderMarkdown(b));
    expect(renderTerminal(a)).toBe(renderTerminal(b));
  });

  it("escape file names in HTML and Markdown", () => {
    const r = sample("ex<script>alert(1)</script>|x.spattn");
    expect(renderHtml(r)).not.toContain("<script>");
    expect(renderHtml(r)).toContain("ex&lt;script&gt;");
    const md = renderMarkdown(r);
    expect(md).not.toContain("<script>");
    expect(md).toContain("ex\\<script\\>alert(1)\\</script\\>\\|x.spattn");
  });

  it("the terminal table has a row per pattern and length, aligned", () => {
    const lines = renderTerminal(sample()).trimEnd().split("\n");
    expect(lines).toHaveLength(2 + 7 + 1);
    expect(lines[2]).toMatch(/^causal\s+1K\s+~?5\d\.\d%/);
    const bound = lines[0].indexOf("bound") + "bound".length;
    for (const line of lines.slice(2, 9)) expect(line[bound - 1]).toBe("x");
  });

  it("Markdown has the summary table, per-head rows where heads differ, index building and assumptions", () => {
    const md = renderMarkdown(sample());
    expect(md.match(/^\| causal \| /gm)).toHaveLength(3);
    expect(md).toMatch(/## block\\_topk[\s\S]*Per head at N = 1K/);
    expect(md).toMatch(/Index building at N = 1K: [\d.]+ ms \(kept: mean pooling/);
    expect(md).toMatch(/## Assumptions\n\n- Times model spattn's/);
  });

  it("the progress bar fills with the work done", () => {
    expect(progressBar(0, 4, "x", 8)).toBe("\r[........] 0/4 x");
    expect(progressBar(2, 4, "x", 8)).toBe("\r[####....] 2/4 x");
    expect(progressBar(4, 4, "done", 8)).toBe("\r[########] 4/4 done");
  });
});

describe("the HTML report in a browser", () => {
  it("headless Chromium draws the block masks (full tiles lower-left for causal) and the speedup curves", () => {
    const dir = freshDir();
    const html = join(dir, "report.html");
    const png = join(dir, "shot.png");
    const r = simulate([{ ir: examplePattern("causal.spattn"), file: "examples/causal.spattn", seqLens: [2048, 8192, 32768] }], { device, heads: 1, mapSide: 16 });
    writeFileSync(html, renderHtml(r));
    execFileSync(chromium(), ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--disable-dev-shm-usage", `--user-data-dir=${join(dir, "profile")}`, "--window-size=1000,1400", `--screenshot=${png}`, `file://${html}`], { stdio: "ignore", timeout: 60_000 });
    const img = decodePng(readFileSync(png));
    expect([img.width, img.height]).toEqual([1000, 1400]);
    const at = (x: number, y: number): number[] => [...img.data.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)];
    const near = (c: number[], want: number[]): boolean => c.every((v, i) => Math.abs(v - want[i]) <= 6);
    const hex = (h: string): number[] => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
    // Pixels of the fully-full colour: the heat map's full cells. Causal: below the diagonal.
    const full: [number, number][] = [];
    let partial = 0;
    let curve = 0;
    for (let y = 0; y < img.height; y++) {
      for (let x = 0; x < img.width; x++) {
        const c = at(x, y);
        if (near(c, FULL_RGB)) full.push([x, y]);
        else if (near(c, PARTIAL_RGB)) partial++;
        else if (near(c, hex(PALETTE[0]))) curve++;
      }
    }
    expect(full.length).toBeGreaterThan(5000);
    expect(partial).toBeGreaterThan(200);
    expect(curve).toBeGreaterThan(300);
    const xs = full.map(([x]) => x);
    const ys = full.map(([, y]) => y);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    // In the map's box, full pixels lie on or below the diagonal (row fraction >= column fraction).
    const below = full.filter(([x, y]) => (y - y0) / (y1 - y0 + 1) + 0.08 >= (x - x0) / (x1 - x0 + 1)).length;
    expect(below / full.length).toBeGreaterThan(0.97);
    // ... and they fill about half of it.
    expect(full.length / ((x1 - x0 + 1) * (y1 - y0 + 1))).toBeGreaterThan(0.35);
    expect(full.length / ((x1 - x0 + 1) * (y1 - y0 + 1))).toBeLessThan(0.6);
  }, 90_000);
});
