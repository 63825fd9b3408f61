#!/usr/bin/env bash
# One device call: build every generated kernel, check numerics, time against FlexAttention
# and SDPA, then compute-sanitizer (memcheck, racecheck) on small cases. Logs go to $OUT.
#   npx tsx bench/cuda/prepare.ts   # here, first: the GPU machine has no Node
#   (device) bash bench/cuda/gpu_run.sh [--only SUBSTRING] [--no-timing]
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader
nvcc --version | tail -1
python3 bench/cuda/gpu_check.py "$@" 2>&1 | tee "$OUT/check.log"
status=${PIPESTATUS[0]}
for tool in memcheck racecheck; do
  for c in causal_n1000_h2_d128 neighborhood2d_n1024_h2_d64 block_topk_n1000_h2_d64; do
    # Only spattn's kernels: PyTorch's own SDPA kernels report hazards of their own.
    compute-sanitizer --tool "$tool" --kernel-name kns=attention_fwd --print-limit 10 --error-exitcode 3 \
      python3 bench/cuda/gpu_check.py --no-build --no-timing --only "$c" > "$OUT/sanitizer_${tool}_${c}.log" 2>&1
    echo "compute-sanitizer $tool $c: exit $? ($(grep -c 'ERROR SUMMARY: 0 errors' "$OUT/sanitizer_${tool}_${c}.log") clean summaries)"
  done
done
exit "$status"
