#!/usr/bin/env bash
# On a GPU machine without Node: unpacks what bench/webgpu/pack_node.sh packed and runs the
# WebGPU benchmark with the machine's Vulkan driver (its ICD from /usr/share/vulkan/icd.d).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
xz -dc .webgpunode/node.xz > "$work/node" && chmod +x "$work/node"
tar -C "$work" -xJf .webgpunode/app.tar.xz
cd "$work/app"
LD_LIBRARY_PATH="$OLDPWD/.webgpunode/lib:${LD_LIBRARY_PATH:-}" "$work/node" build/bench/webgpu/bench.js "$@"
