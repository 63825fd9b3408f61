#!/usr/bin/env bash
# On a GPU machine without Node: unpacks what bench/webgpu/pack_node.sh packed (Node into a
# temporary folder, node_modules into the checkout) and runs COMMAND with that Node on the PATH,
# against the GPU's Vulkan driver:
#   bash bench/webgpu/node_run.sh npx vitest run test/runtime/webgpu.test.ts
#   bash bench/webgpu/node_run.sh npx tsx bench/webgpu/bench.ts --n 8192 --heads 8
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=/tmp/spattn-node/bin
if [ ! -x "$bin/node" ]; then
  mkdir -p "$bin"
  xz -dc .webgpunode/node.xz > "$bin/node.tmp" && chmod +x "$bin/node.tmp" && mv "$bin/node.tmp" "$bin/node"
fi
[ -d node_modules/webgpu ] || xz -dc .webgpunode/node_modules.tar.xz | tar -xf -
if [ -f .webgpunode/prior-art.tar.xz ] && [ ! -d bench/webgpu/prior-art/node_modules/onnxruntime-web ]; then
  xz -dc .webgpunode/prior-art.tar.xz | tar -xf -
fi
# npm's own files are not packed: npx is node_modules/.bin's tools, run by this Node.
if [ "${1:-}" = npx ]; then shift; set -- "node_modules/.bin/$1" "${@:2}"; fi
PATH="$bin:$PATH" exec "$@"
