// docs/cuda.md: its C host programs (a positional pattern; a data-dependent one built per call)
// compile against the generated code, link, and run. On a machine without a GPU each must stop
// at its first CUDA call with the runtime's reason (not crash); where a GPU is present it must
// finish.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { compile } from "../compiler/compile.js";
import { emitCuda } from "../backends/cuda/emit.js";
import { findNvcc } from "../runtime/cuda/run.js";
import { tempDirs } from "./helpers.js";

const run = promisify(execFile);
const freshDir = tempDirs("spattn-docs-cuda-");

describe("docs/cuda.md", () => {
  const doc = readFileSync("docs/cuda.md", "utf8");
  const programs = [...doc.matchAll(/```c\n([\s\S]*?)```/g)].map((m) => m[1]).filter((c) => c.includes("int main"));
  /** The example a program is written against: the header it includes. */
  const exampleOf = (program: string): string => /#include "(\w+)\.h"/.exec(program)?.[1] ?? "";

  it("has two complete host programs: a positional pattern and a data-dependent one", () =>
    expect(programs.map(exampleOf)).toEqual(["sliding_window", "block_topk"]));

  for (const [i, example] of [[0, "sliding_window"], [1, "block_topk"]] as const) {
    it(`its ${example} host program builds against the generated code and runs`, async () => {
      const dir = freshDir();
      const ir = compile(readFileSync(`examples/${example}.spattn`, "utf8"), { fileName: `${example}.spattn` });
      const out = emitCuda(ir, { sourceName: `${example}.spattn` });
      writeFileSync(join(dir, `${out.stem}.cu`), out.cu);
      writeFileSync(join(dir, `${out.stem}.h`), out.header);
      writeFileSync(join(dir, "host.c"), programs[i]);
      const nvcc = findNvcc();
      // The host program as C (nvcc hands .c files to the host C compiler, with CUDA's include
      // path), the kernels as CUDA; one executable.
      await run(nvcc, ["-Xcompiler", "-std=c11,-Wall,-Wextra,-Werror", "-c", "host.c", "-o", "host.o"], { cwd: dir });
      await run(nvcc, ["-O1", "-gencode=arch=compute_90a,code=sm_90a", "-gencode=arch=compute_80,code=sm_80", "-c", `${out.stem}.cu`, "-o", "kernels.o"], { cwd: dir });
      await run(nvcc, ["host.o", "kernels.o", "-o", "host"], { cwd: dir });
      const result = await run(join(dir, "host"), [], { cwd: dir }).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      if (result.code === 0) {
        expect(result.stdout).toContain("attention over 4096 tokens done");
      } else {
        // No GPU here: the first call reports the CUDA runtime's reason, by name.
        expect(result.code).toBe(1);
        expect(result.stderr).toMatch(/^cudaMalloc\(&q, elems \* 2\) failed: \S.*\n$/);
      }
    }, 300_000);
  }
});
