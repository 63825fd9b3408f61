#!/usr/bin/env bash
# One device call: build every generated kernel, check numerics (the kernel picked on this GPU:
# the sm_90a wgmma one on an H100; then the portable sm_80 one), the GPU index builders and
# mask generators, time against FlexAttention and SDPA, then compute-sanitizer (memcheck,
# racecheck) on small cases. Logs go to $OUT (8 files).
#   npx tsx bench/cuda/prepare.ts   # here, first: the GPU machine has no Node
#   (device) bash bench/cuda/gpu_run.sh [--only SUBSTRINGS] [--no-timing]
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
nvcc --version | tail -1
python3 bench/cuda/gpu_check.py "$@" 2>&1 | tee "$OUT/check.log"
status=${PIPESTATUS[0]}
python3 bench/cuda/gpu_check.py --no-build --no-timing --kernel sm80 > "$OUT/check_sm80.log" 2>&1 || status=1
echo "sm_80 kernel: $(grep '^numerics' "$OUT/check_sm80.log")"
# Every example (the D=64 cases, both sizes), once per tool; only spattn's kernels are checked:
# PyTorch's own SDPA kernels report hazards of their own.
sanitize() {  # tool, kernel-name filter, log name
  OUT=/tmp/sanitizer_out compute-sanitizer --tool "$1" --kernel-name "kns=$2" --print-limit 10 --error-exitcode 3 \
    python3 bench/cuda/gpu_check.py --no-build --no-timing --only _d64 > "$OUT/$3.log" 2>&1
  local code=$?
  echo "compute-sanitizer $1 ($2), all examples: exit $code; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/$3.log" | tail -1); $(grep '^numerics' "$OUT/$3.log")"
  [ "$code" = 0 ] || status=1
}
sanitize memcheck attention_fwd sanitizer_memcheck
sanitize racecheck attention_fwd sanitizer_racecheck
sanitize memcheck mask_ sanitizer_mask_memcheck
exit "$status"
