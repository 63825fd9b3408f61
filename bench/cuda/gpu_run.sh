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
# Every example (the D=64 cases, both sizes), once per tool; only spattn's kernels are checked:
# PyTorch's own SDPA kernels report hazards of their own.
for tool in memcheck racecheck; do
  compute-sanitizer --tool "$tool" --kernel-name kns=attention_fwd --print-limit 10 --error-exitcode 3 \
    python3 bench/cuda/gpu_check.py --no-build --no-timing --only _d64 > "$OUT/sanitizer_${tool}.log" 2>&1
  code=$?
  echo "compute-sanitizer $tool, all examples: exit $code; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer_${tool}.log" | tail -1); $(grep '^numerics' "$OUT/sanitizer_${tool}.log")"
  [ "$code" = 0 ] || status=1
done
exit "$status"
