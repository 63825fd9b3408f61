#!/usr/bin/env bash
# Packs what `spattn run --backend cuda` needs on a GPU machine that has no Node: an
# xz-compressed Node binary (about 24 MB from 99 MB), the built CLI, the CUDA kernel templates,
# the native addon and the few runtime packages (ts-morph is left out: only --target ts uses
# it). Writes .devnode/ (git-ignored), to be carried with the device call; there,
# `bash bench/cuda/node_run.sh` unpacks Node and runs the CLI against the reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build
rm -rf .devnode
mkdir -p .devnode/app/node_modules .devnode/app/runtime/cuda/addon/build/Release .devnode/app/backends/cuda
cp -r dist package.json examples .devnode/app/
cp -r backends/cuda/templates .devnode/app/backends/cuda/
cp runtime/cuda/addon/build/Release/spattn_cuda.node .devnode/app/runtime/cuda/addon/build/Release/
cp -r node_modules/chevrotain node_modules/@chevrotain node_modules/lodash-es node_modules/commander .devnode/app/node_modules/
xz -T2 -6 -c "$(command -v node)" > .devnode/node.xz
du -sh .devnode
