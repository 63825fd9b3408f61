// `spattn simulate` on the command line: reports by extension, --compare, lengths from a
// layout, real Q and K, and errors as messages (never stack traces) that leave earlier
// reports untouched.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseBlock, parseSeqList } from "../cli/commands/simulate.js";
import { UsageError } from "../cli/io.js";
import { encodeNpy } from "../runtime/npy.js";
import { cli, expectNoStackTrace, randomTensor, tempDirs } from "./helpers.js";

const freshDir = tempDirs("spattn-cli-simulate-");

describe("spattn simulate", () => {
  it("prints the table and writes HTML, JSON and Markdown reports", async () => {
    const dir = freshDir();
    const [html, json, md] = ["r.html", "r.json", "r.md"].map((f) => join(dir, f));
    const r = await cli("simulate", "examples/sliding_window.spattn", "--set", "window=256", "--seq", "2K,8K", "--heads", "4", "--report", html, "--report", json, "--report", md);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^pattern\s+N\s+token density/);
    expect(r.stdout).toMatch(/\nsliding_window\s+2K\s/);
    expect(r.stdout).toMatch(/\nsliding_window\s+8K\s/);
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.schema).toBe("spattn.simulate/1");
    expect(report.patterns[0].params.window).toBe(256);
    expect(report.patterns[0].lengths.map((l: { seqLen: number }) => l.seqLen)).toEqual([2048, 8192]);
    expect(report.patterns[0].heads).toBe(4);
    expect(readFileSync(html, "utf8")).toMatch(/^<!doctype html>[\s\S]*<svg/);
    expect(readFileSync(md, "utf8")).toMatch(/^# spattn simulate/);
  });

  it("--compare puts patterns side by side, each taking the --set values it declares", async () => {
    const dir = freshDir();
    const json = join(dir, "cmp.json");
    const r = await cli("simulate", "--compare", "examples/causal.spattn", "examples/sliding_window.spattn", "examples/dilated.spattn:dilated", "--set", "window=512", "--set", "dilation=2", "--seq", "4096", "--heads", "2", "--report", json);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.patterns.map((p: { pattern: string }) => p.pattern)).toEqual(["causal", "sliding_window", "dilated"]);
    expect(report.patterns[1].params.window).toBe(512);
    expect(report.patterns[2].params).toMatchObject({ window: 512, dilation: 2 });
    expect(report.patterns[2].layoutTransform).toMatch(/residue classes of dilation 2/);
  });

  it("takes the length from a layout when --seq is not given", async () => {
    const r = await cli("simulate", "examples/neighborhood2d.spattn", "--set", "height=24", "--set", "width=40", "--heads", "1");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nneighborhood2d\s+960\s/);
  });

  it("runs a data-dependent pattern on given Q and K", async () => {
    const dir = freshDir();
    for (const [name, seed] of [["q", 1], ["k", 2]] as const) {
      const t = randomTensor(2, 512, 16, seed);
      writeFileSync(join(dir, `${name}.npy`), encodeNpy({ dtype: "<f4", shape: t.shape, data: t.data }));
    }
    const json = join(dir, "dyn.json");
    const r = await cli("simulate", "examples/block_topk.spattn", "--seq", "512", "--q", join(dir, "q.npy"), "--k", join(dir, "k.npy"), "--report", json);
    expect(r.stderr).toBe("");
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.patterns[0].data).toBe("tensors");
    expect(report.patterns[0].heads).toBe(2);
    expect(report.patterns[0].lengths[0].timeMs.indexBuild).toBeGreaterThan(0);
  });

  it("says what is wrong, without a stack trace", async () => {
    const dir = freshDir();
    const cases: [string[], RegExp][] = [
      [["simulate", "examples/causal.spattn", "--seq", "4K,big"], /--seq expects lengths separated by commas \(4096,16K,1M\), got 'big'/],
      [["simulate", "examples/causal.spattn"], /--seq is required for examples\/causal.spattn/],
      [["simulate", "examples/causal.spattn", "--seq", "1024", "--device", "tpu"], /unknown device 'tpu' \(known: a100, h100, h200, rtx4090/],
      [["simulate", "examples/causal.spattn", "--seq", "1024", "--report", join(dir, "r.pdf")], /the report's kind comes from its extension: \.html, \.json or \.md/],
      [["simulate", "examples/causal.spattn", "--seq", "1024", "--block", "128y64"], /--block expects BQxBK/],
      [["simulate", "--compare", "examples/causal.spattn", "examples/strided.spattn", "--seq", "1024", "--set", "windw=3"], /--set windw: no compared pattern has such a parameter/],
      [["simulate", "examples/block_topk.spattn", "--seq", "1024,2048", "--q", "q.npy", "--k", "k.npy"], /--q and --k fix the sequence length/],
      [["simulate"], /give a pattern file/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect(r.code, argv.join(" ")).toBe(1);
      expect(r.stderr).toMatch(message);
      expectNoStackTrace(r);
    }
  });

  it("a bad device file is reported at its line and column", async () => {
    const dir = freshDir();
    const device = join(dir, "gpu.json");
    writeFileSync(device, JSON.stringify({ ...JSON.parse(readFileSync("backends/simulator/devices/h100.json", "utf8")), sms: 0 }, null, 2));
    const r = await cli("simulate", "examples/causal.spattn", "--seq", "1024", "--device", device);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${device}:4:3: error: 'sms' must be a positive number, got 0`);
  });

  it("a failing simulate leaves an earlier report byte-identical", async () => {
    const dir = freshDir();
    const json = join(dir, "r.json");
    expect((await cli("simulate", "examples/causal.spattn", "--seq", "1024", "--heads", "1", "--report", json)).code).toBe(0);
    const before = readFileSync(json);
    const bad = join(dir, "bad.spattn");
    writeFileSync(bad, "pattern p() {\n  mask q <\n}\n");
    const r = await cli("simulate", bad, "--seq", "1024", "--report", json);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.spattn:3:1: error/);
    expect(readFileSync(json).equals(before)).toBe(true);
  });
});

describe("option parsing", () => {
  it("reads lengths with K and M suffixes, sorted and without repeats", () => {
    expect(parseSeqList("1M,4096,16k,4K")).toEqual([4096, 16384, 1048576]);
    expect(() => parseSeqList("0")).toThrow(UsageError);
    expect(() => parseSeqList("2048M")).toThrow(/between 1 and 2\^30/);
  });

  it("reads tiles as BQxBK or one size", () => {
    expect(parseBlock("128x64")).toEqual({ q: 128, k: 64 });
    expect(parseBlock("64")).toEqual({ q: 64, k: 64 });
    expect(() => parseBlock("0x8")).toThrow(UsageError);
  });
});
