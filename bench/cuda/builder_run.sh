#!/usr/bin/env bash
# One device call for the index builders alone (when only they changed): the data-dependent
# examples' checks (numerics, GPU index builders against the CPU's arrays, mask generators),
# compute-sanitizer memcheck and racecheck on the builders' kernels, the dynamic block top-k
# timed against FlexAttention with its index building, and bench/cuda/select_bench.cu.
#   npx tsx bench/cuda/prepare.ts
#   python3 bench/cuda/slim.py bench/cuda/cases bench/cuda/cases_b block_topk,hierarchical,nsa,moba,cumulative,bigbird_n
#   (device) bash bench/cuda/builder_run.sh bench/cuda/cases_b
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export SPATTN_CASES=${1:-bench/cuda/cases} SPATTN_LIBS=/tmp/builder_libs
status=0
nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a bench/cuda/select_bench.cu -o /tmp/select_bench > "$OUT/select_bench_nvcc.log" 2>&1 &
python3 bench/cuda/gpu_check.py --no-timing > "$OUT/check.log" 2>&1 || status=1
grep -E '^(built|numerics|index builders|GPU mask generators|FAIL)|rc=' "$OUT/check.log"
for tool in memcheck racecheck; do
  # The builders' kernels: spattn_* (generated) and spattn::* (the template's).
  compute-sanitizer --tool "$tool" --kernel-name kns=spattn --print-limit 10 --error-exitcode 3 \
    python3 bench/cuda/gpu_check.py --no-build --no-timing --only _n1000 > "$OUT/sanitizer_$tool.log" 2>&1
  code=$?
  echo "compute-sanitizer $tool (spattn kernels, N = 1000 cases): exit $code; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer_$tool.log" | tail -1); $(grep -E '^(index builders|numerics)' "$OUT/sanitizer_$tool.log" | tr '\n' ' ')"
  [ "$code" = 0 ] || status=1
done
python3 bench/cuda/gpu_check.py --no-build --only block_topk_dyn > "$OUT/bench.log" 2>&1 || status=1
grep -E 'block_topk_dyn' "$OUT/bench.log"
wait
/tmp/select_bench > "$OUT/select_bench.txt" 2>&1 || status=1
cat "$OUT/select_bench.txt"
exit "$status"
