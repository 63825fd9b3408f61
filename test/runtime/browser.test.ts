// examples/webgpu in a real browser: headless Chromium from Debian's packages (WebGPU through
// --enable-unsafe-webgpu; SwiftShader without a GPU) loads the page, which runs the causal
// pattern's generated host module and checks it against float64 attention. The page POSTs its
// result to the test's server. No Chromium is a failure, not a skip.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { ts } from "ts-morph";
import { describe, expect, it } from "vitest";
import { compile } from "../../compiler/compile.js";
import { emitWgslHost } from "../../backends/wgsl/spec.js";
import { chromium, tempDirs } from "../helpers.js";

const freshDir = tempDirs("spattn-browser-");

/** Serves `dir`, opens the page in headless Chromium, resolves with what it POSTs to /result. */
function runPage(dir: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let child: ReturnType<typeof spawn> | undefined;
    let stderr = "";
    const server = createServer((req, res) => {
      if (req.method === "POST" && req.url === "/result") {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
          res.end();
          finish(() => resolve(body));
        });
        return;
      }
      const name = (req.url ?? "/").split("?")[0].replace(/^\/$/, "/index.html").slice(1);
      const path = join(dir, name);
      if (!/^[\w.-]+$/.test(name) || !existsSync(path)) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader("content-type", name.endsWith(".js") ? "text/javascript" : "text/html");
      res.end(readFileSync(path));
    });
    const timer = setTimeout(() => finish(() => reject(new Error(`no result from the page in ${timeoutMs} ms; chromium said:\n${stderr.slice(-2000)}`))), timeoutMs);
    // Chromium's own children (GPU process, renderer) share its process group: all of them
    // go, and the result is delivered once the browser is gone (its profile no longer written).
    function finish(then: () => void) {
      clearTimeout(timer);
      server.close();
      if (!child || child.exitCode !== null || child.signalCode !== null) return then();
      child.once("exit", then);
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }
    server.listen(0, "127.0.0.1", () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/?report`;
      const profile = join(dir, "profile");
      child = spawn(chromium(), ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--enable-unsafe-webgpu", "--no-first-run", `--user-data-dir=${profile}`, url], { stdio: ["ignore", "ignore", "pipe"], detached: true });
      child.stderr?.on("data", (d) => (stderr += d));
      child.on("error", (e) => finish(() => reject(e)));
    });
  });
}

describe("the browser example", () => {
  it("runs the generated module in headless Chromium and matches float64 attention", async () => {
    const dir = freshDir();
    const host = emitWgslHost(compile(readFileSync("examples/causal.spattn", "utf8")), { sourceName: "examples/causal.spattn", d: 32 });
    const js = ts.transpileModule(host, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText;
    writeFileSync(join(dir, "causal.webgpu.js"), js);
    for (const f of ["index.html", "main.js"]) copyFileSync(join("examples/webgpu", f), join(dir, f));
    const result = JSON.parse(await runPage(dir, 90_000));
    expect(result.error).toBeUndefined();
    expect(result).toMatchObject({ ok: true, pattern: "causal", heads: 2, n: 100, d: 32 });
    expect(result.rel).toBeLessThan(1e-4);
  }, 120_000);
});
