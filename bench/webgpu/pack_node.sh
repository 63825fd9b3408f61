#!/usr/bin/env bash
# Packs what the WebGPU tests and bench/webgpu/bench.ts need on a GPU machine without Node: an
# xz-compressed Node binary and the project's node_modules (Dawn for Linux x64 only, without the
# native TypeScript compiler and node-gyp, which nothing run there uses), so that vitest and tsx
# run the sources as they are. Writes .webgpunode/ (git-ignored, about 46 MB; 50 with ONNX
# Runtime Web, below) to carry with the device call; there `bash bench/webgpu/node_run.sh
# COMMAND...` unpacks it and runs the command with that Node first on the PATH. The GPU's
# Vulkan loader (libvulkan.so.1) comes from Debian's libvulkan1 package, which the device's
# notes say how to carry (.gl). Where bench/webgpu/prior-art is installed (npm ci there), the
# part of ONNX Runtime Web that bench/webgpu/prior-art.ts loads is packed too.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d node_modules/webgpu/dist/linux-x64 ] || { echo "pack_node.sh: run npm ci first" >&2; exit 1; }
rm -rf .webgpunode
mkdir -p .webgpunode
tar -cf - --exclude='node_modules/webgpu/dist/darwin-*' --exclude='node_modules/webgpu/dist/linux-arm64' \
  --exclude='node_modules/webgpu/dist/win32-*' --exclude='node_modules/@typescript' --exclude='node_modules/node-gyp' \
  node_modules | xz -T2 -6 > .webgpunode/node_modules.tar.xz
xz -T2 -6 -c "$(command -v node)" > .webgpunode/node.xz
# ONNX Runtime Web for bench/webgpu/prior-art.ts, where it is installed: the three files its
# WebGPU build loads (about 5 MB packed).
ort=bench/webgpu/prior-art/node_modules/onnxruntime-web
if [ -f "$ort/dist/ort.webgpu.min.mjs" ]; then
  tar -cf - "$ort/package.json" "$ort/dist/ort.webgpu.min.mjs" "$ort/dist/ort-wasm-simd-threaded.asyncify.mjs" \
    "$ort/dist/ort-wasm-simd-threaded.asyncify.wasm" | xz -T2 -6 > .webgpunode/prior-art.tar.xz
fi
du -sh .webgpunode
