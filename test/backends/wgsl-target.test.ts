// The WGSL target: golden shaders, every variant validated by Dawn (its null backend compiles
// without running), generated host modules type-checked under strict settings with only the
// WebGPU types, and a generated module run on SwiftShader, giving what spattn's runtime gives.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { ts } from "ts-morph";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { emitWgslAttention } from "../../backends/wgsl/attention.js";
import { emitWgslMask } from "../../backends/wgsl/mask.js";
import { emitWgslRoutes } from "../../backends/wgsl/route.js";
import { emitWgslBuilders } from "../../backends/wgsl/select.js";
import { emitWgslVerticalSlash } from "../../backends/wgsl/vslash.js";
import { emitWgslHost, patternSpec, WGSL_KEY_TILES } from "../../backends/wgsl/spec.js";
import { runAttention } from "../../backends/wgsl/templates/host.js";
import { releaseDevice, requestDevice, type DeviceInfo } from "../../runtime/webgpu/device.js";
import { dynByName, runWebGpu } from "../../runtime/webgpu/run.js";
import { EXAMPLES, examplePattern, randomTensor, tempDirs, typecheckStrict } from "../helpers.js";

const GOLDEN = "test/golden/wgsl";
const examples = EXAMPLES;
const freshDir = tempDirs("spattn-wgsl-");

const mainPattern = (file: string) => examplePattern(file);

async function load(code: string) {
  const js = ts.transpileModule(code, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  return import(`data:text/javascript;base64,${Buffer.from(js).toString("base64")}`);
}

describe("wgsl target", () => {
  const shaders = new Map<string, { attention: string; mask: string }>();
  for (const file of examples) {
    const ir = mainPattern(file);
    shaders.set(file, { attention: emitWgslAttention(ir, { d: 64, bk: 16 }), mask: emitWgslMask(ir) });
  }

  it("matches the golden shaders (UPDATE_GOLDEN=1 rewrites them)", () => {
    mkdirSync(GOLDEN, { recursive: true });
    for (const [file, s] of shaders) {
      for (const [kind, code] of Object.entries(s)) {
        const path = join(GOLDEN, file.replace(/\.spattn$/, `.${kind}.wgsl`));
        if (process.env.UPDATE_GOLDEN || !existsSync(path)) writeFileSync(path, code);
        expect(code, `${path} is out of date: run UPDATE_GOLDEN=1 npx vitest run test/backends`).toBe(readFileSync(path, "utf8"));
      }
    }
  });

  it("is deterministic", () => {
    const ir = mainPattern("document.spattn");
    expect(emitWgslHost(ir, { sourceName: "examples/document.spattn", d: 64 })).toBe(emitWgslHost(mainPattern("document.spattn"), { sourceName: "examples/document.spattn", d: 64 }));
  });

  describe("on Dawn's null backend", () => {
    let device: GPUDevice;
    let gpu: GPU | undefined; // Dawn lives as long as this is referenced
    beforeAll(async () => {
      const dawn = createRequire(import.meta.url)("webgpu") as { create(o: string[]): GPU; globals: object };
      gpu = dawn.create(["backend=null", "enable-dawn-features=allow_unsafe_apis"]);
      const adapter = await gpu.requestAdapter();
      if (!adapter) throw new Error("Dawn's null backend gave no adapter");
      // The null backend offers every feature: the subgroup and f16 variants are compiled too.
      for (const f of ["subgroups", "shader-f16"]) if (!adapter.features.has(f)) throw new Error(`Dawn's null backend lacks ${f}`);
      device = await adapter.requestDevice({ requiredFeatures: ["subgroups", "shader-f16"], requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize } });
    });
    afterAll(() => {
      device?.destroy();
      gpu = undefined;
    });

    it("compiles every example's shaders: attention for D 64, 128 and 96 with V 32, every keys-per-tile, with and without subgroups, K and V in f32 and f16, the mask generators and the index builders", async () => {
      const problems: string[] = [];
      for (const file of examples) {
        const ir = mainPattern(file);
        const codes = [emitWgslMask(ir), emitWgslBuilders(ir), ...(ir.routes.length ? [emitWgslRoutes(ir)] : []), ...(ir.verticalSlashes.length ? [emitWgslVerticalSlash(ir)] : [])];
        for (const [d, dv] of [[64, 64], [128, 128], [96, 32]]) for (const bk of WGSL_KEY_TILES) for (const subgroups of [false, true]) for (const f16 of [false, true]) codes.push(emitWgslAttention(ir, { d, dv, bk, subgroups, f16 }));
        for (const code of codes) {
          const info = await device.createShaderModule({ code }).getCompilationInfo();
          for (const m of info.messages.filter((x) => x.type === "error")) problems.push(`${file}: line ${m.lineNum}: ${m.message}: ${code.split("\n")[m.lineNum - 1]}`);
        }
      }
      expect(problems).toEqual([]);
    }, 120_000);
  });

  it("host modules type-check under strict settings with only the WebGPU types", () => {
    const dir = freshDir();
    const files: string[] = [];
    for (const file of examples) {
      const code = emitWgslHost(mainPattern(file), { sourceName: `examples/${file}`, d: 64 });
      expect(code).not.toMatch(/^import /m);
      const path = join(dir, file.replace(/\.spattn$/, ".webgpu.ts"));
      writeFileSync(path, code);
      files.push(path);
    }
    // A file that must fail proves the WebGPU types are in play.
    const wrong = join(dir, "wrong.ts");
    writeFileSync(wrong, "export const d: GPUDevice = 1;\n");
    files.push(wrong);
    const out = typecheckStrict(files, true);
    const errors = out.trim().split("\n").filter((l) => l);
    expect(errors.length).toBe(1);
    expect(errors[0]).toMatch(/wrong\.ts\(1,14\): error TS2322: Type 'number' is not assignable to type 'GPUDevice'/);
  }, 120_000);

  it("refuses sizes whose arithmetic leaves i32, before touching the device", async () => {
    const ir = compile("pattern p() { mask q * 100000 >= k * 100000 }");
    const spec = patternSpec(ir, 16);
    // q * 100000 reaches 21475 * 100000 > 2^31 first at N = 21476 (q = 21475).
    expect(spec.maxN).toBe(21475);
    const x = new Float32Array(16);
    const n = spec.maxN + 1;
    await expect(runAttention({} as GPUDevice, spec, x, x, x, { heads: 1, kvHeads: 1, n })).rejects.toThrow(/leaves the 32-bit integers of WGSL \(pattern p: N up to \d+/);
    expect(patternSpec(compile("pattern p() { mask causal }"), 16).maxN).toBe(2 ** 30);
  });

  it("keeps file names out of the code: a hostile source name stays inside its comment", () => {
    const code = emitWgslHost(mainPattern("causal.spattn"), { sourceName: "x */ evil\nconst y = 1; //", d: 64 });
    expect(code.split("\n")[0]).toMatch(/^\/\/ Generated by spattn from x \* \/ evil const y = 1; \/\//);
    expect(code).not.toMatch(/^const y = 1;/m);
  });

  describe("a generated module on SwiftShader", () => {
    let info: DeviceInfo;
    beforeAll(async () => {
      info = await requestDevice();
    }, 60_000);
    afterAll(() => info && releaseDevice(info));

    for (const file of ["document.spattn", "bigbird.spattn", "block_topk.spattn"]) {
      it(`${file}: gives what spattn's runtime gives, with its lists (and data-dependent arrays) made on the device`, async () => {
        const ir = mainPattern(file);
        const heads = ir.heads ?? 2;
        const n = 140;
        const mod = await load(emitWgslHost(ir, { sourceName: file, d: 32 }));
        const [q, k, v] = [1, 2, 3].map((s) => randomTensor(heads, n, 32, s));
        const dyn = dynByName(ir, heads, n, q, k);
        const got = await mod.attention(info.device, q.data, k.data, v.data, { heads, kvHeads: heads, n }, { dyn });
        const want = await runWebGpu(info.device, ir, q, k, v);
        expect(Buffer.from(got.out.buffer).equals(Buffer.from(want.out.buffer))).toBe(true);
        expect(Buffer.from(got.lse.buffer).equals(Buffer.from(want.lse.buffer))).toBe(true);
        if (Object.keys(dyn).length) {
          // Without the arrays, the module builds them with its index-builder shaders.
          const built = await mod.attention(info.device, q.data, k.data, v.data, { heads, kvHeads: heads, n });
          expect(Buffer.from(built.out.buffer).equals(Buffer.from(want.out.buffer))).toBe(true);
        }
      }, 60_000);
    }
  });
});
