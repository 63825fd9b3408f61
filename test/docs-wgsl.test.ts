// docs/wgsl.md: its host-module example type-checks, strictly, against the module that
// `spattn compile --target wgsl` writes for the causal example.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/compile.js";
import { emitWgslHost } from "../backends/wgsl/spec.js";
import { tempDirs, typecheckStrict } from "./helpers.js";

const freshDir = tempDirs("spattn-docs-wgsl-");

describe("docs/wgsl.md", () => {
  const doc = readFileSync("docs/wgsl.md", "utf8");
  const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

  it("has a host-module example that type-checks against a generated module", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    const dir = freshDir();
    writeFileSync(join(dir, "causal.webgpu.ts"), emitWgslHost(compile(readFileSync("examples/causal.spattn", "utf8")), { sourceName: "examples/causal.spattn", d: 64 }));
    const files = blocks.map((b, i) => {
      const path = join(dir, `example${i}.ts`);
      writeFileSync(path, b);
      return path;
    });
    expect(typecheckStrict(files, true).trim()).toBe("");
  }, 60_000);
});
