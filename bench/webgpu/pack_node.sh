#!/usr/bin/env bash
# Packs what bench/webgpu/bench.ts needs on a GPU machine without Node: an xz-compressed Node
# binary, the project compiled to JavaScript, the runtime packages (webgpu with its Linux x64
# Dawn only), and the Vulkan loader (libvulkan.so.1, which Dawn opens; GPU drivers bring their
# ICD but not always the loader). Writes .webgpunode/ (git-ignored) to carry with the device
# call; there `bash bench/webgpu/node_run.sh ARGS...` runs the benchmark.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .webgpunode
mkdir -p .webgpunode/app/node_modules/webgpu/dist .webgpunode/lib
npx tsc -p tsconfig.json --outDir .webgpunode/app/build
cp package.json .webgpunode/app/
cp -r examples .webgpunode/app/
cp -r node_modules/chevrotain node_modules/@chevrotain node_modules/lodash-es node_modules/commander .webgpunode/app/node_modules/
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .webgpunode/app/node_modules/webgpu/
cp -r node_modules/webgpu/dist/linux-x64 .webgpunode/app/node_modules/webgpu/dist/
cp -L "$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ {print $NF; exit}')" .webgpunode/lib/libvulkan.so.1
tar -C .webgpunode -cJf .webgpunode/app.tar.xz app && rm -rf .webgpunode/app
xz -T2 -6 -c "$(command -v node)" > .webgpunode/node.xz
du -sh .webgpunode
