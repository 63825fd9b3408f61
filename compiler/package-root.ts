// Locates files of the spattn package itself, from sources (tsx, vitest) or from dist/.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, "utf8")).name === "spattn") return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the spattn package root");
    dir = up;
  }
}

export function packageFile(rel: string): string {
  return join(packageRoot(), rel);
}
