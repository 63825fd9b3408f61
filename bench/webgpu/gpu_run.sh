#!/usr/bin/env bash
# One device call on a GPU machine without Node (after bench/webgpu/pack_node.sh here; carry
# .webgpunode and .gl, the Vulkan loader's Debian packages, unpacked first as the device's notes
# say): finds NVIDIA's Vulkan driver, prints the adapter, runs the WebGPU tests on it (every
# example against the float64 reference in f32 and, where the GPU has shader-f16, with K and V
# in f16; the index builders and binary64 arithmetic bit for bit against the CPU), then the
# benchmark in f32, the comparison with ONNX Runtime Web where it was packed, and the benchmark
# in f16 where the adapter has shader-f16. Logs under $OUT.
#   (device) for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; bash bench/webgpu/gpu_run.sh [BENCH ARGS]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
done
echo "Vulkan driver: ${VK_DRIVER_FILES:-none found}"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
run="bash bench/webgpu/node_run.sh"
status=0
$run npx tsx bench/webgpu/probe.ts 2>&1 | tee "$OUT/probe.log" || status=1
if ! grep -q '^adapter:' "$OUT/probe.log" || grep -qi swiftshader "$OUT/probe.log"; then
  echo "no GPU adapter: the loader's view follows"
  VK_LOADER_DEBUG=error,driver $run npx tsx bench/webgpu/probe.ts 2>&1 | tail -30 | tee -a "$OUT/probe.log"
  exit 1
fi
$run npx vitest run test/runtime/webgpu.test.ts test/backends/wgsl-select.test.ts test/backends/wgsl-f64.test.ts test/backends/wgsl-items.test.ts 2>&1 | tee "$OUT/vitest.log" | grep -E '✓|✗|×|FAIL|Test Files|Tests ' | tail -60
[ "${PIPESTATUS[0]}" = 0 ] || status=1
bench=(--n 8192 --heads 8 --d 64 --reps 5 "$@")
timeout 300 $run npx tsx bench/webgpu/bench.ts "${bench[@]}" --out "$OUT" 2>&1 | tee "$OUT/bench.log" || status=1
if [ -f .webgpunode/prior-art.tar.xz ] || [ -d bench/webgpu/prior-art/node_modules/onnxruntime-web ]; then
  timeout 150 $run npx tsx bench/webgpu/prior-art.ts --n 8192 --heads 8 --d 64 2>&1 | tee "$OUT/prior_art.log" || status=1
else
  echo "ONNX Runtime Web not packed (npm ci in bench/webgpu/prior-art, then pack_node.sh): no comparison with it"
fi
if grep -q 'shader-f16' "$OUT/probe.log"; then
  timeout 180 $run npx tsx bench/webgpu/bench.ts "${bench[@]}" --f16 --out "$OUT" 2>&1 | tee "$OUT/bench_f16.log" || status=1
else
  echo "no shader-f16 on this adapter: the f16 benchmark is not run"
fi
exit "$status"
