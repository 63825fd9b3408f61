#!/usr/bin/env bash
# One device call for a change to both the attention kernels and the mask generators: every
# check of a full case folder (numerics, GPU index builders, GPU mask generators against the
# CPU's masks), compute-sanitizer memcheck and racecheck on spattn's kernels for the cases named,
# an A/B of the timings named against an older version's folder (bench/cuda/ab.sh), and those
# timings against FlexAttention. Logs go to $OUT.
#   npx tsx bench/cuda/prepare.ts                               # here, at this version: FULL
#   (at the older version) npx tsx bench/cuda/prepare.ts, then bench/cuda/slim.py into A
#   (device) [AB_ENV_A=...] bash bench/cuda/check_ab_run.sh FULL A ROUNDS TIMINGS SANITIZED
# TIMINGS and SANITIZED are --only lists (comma-separated substrings of case tags). STEPS (default
# check,sanitize,ab,bench) picks the steps, so that the work can be split over calls of 10 minutes.
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
[ $# -eq 5 ] || { echo "usage: bash bench/cuda/check_ab_run.sh FULL A ROUNDS TIMINGS SANITIZED" >&2; exit 2; }
FULL=$1 A=$2 ROUNDS=$3 TIMINGS=$4 SANITIZED=$5
STEPS=${STEPS:-check,sanitize,ab,bench}
step() { [[ ",$STEPS," == *",$1,"* ]]; }
mkdir -p "$OUT"
status=0
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
if step check || step sanitize; then
  SPATTN_CASES=$FULL SPATTN_LIBS=/tmp/ab_b python3 bench/cuda/gpu_check.py --no-timing $(step check || echo --only "$SANITIZED") > "$OUT/check.log" 2>&1 || status=1
  grep -E '^(built|numerics|index builders|GPU mask generators|FAIL)|rc=' "$OUT/check.log"
fi
for tool in $(step sanitize && echo memcheck racecheck); do
  SPATTN_CASES=$FULL SPATTN_LIBS=/tmp/ab_b compute-sanitizer --tool "$tool" --kernel-name kns=spattn --print-limit 10 --error-exitcode 3 \
    python3 bench/cuda/gpu_check.py --no-build --no-timing --only "$SANITIZED" > "$OUT/sanitizer_$tool.log" 2>&1
  code=$?
  echo "compute-sanitizer $tool (spattn kernels, $SANITIZED): exit $code; $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer_$tool.log" | tail -1); $(grep -E '^(index builders|numerics|GPU mask)' "$OUT/sanitizer_$tool.log" | tr '\n' ' ')"
  [ "$code" = 0 ] || status=1
done
if step ab; then bash bench/cuda/ab.sh "$A" "$FULL" "$ROUNDS" --only "$TIMINGS" || status=1; fi
if step bench; then
  SPATTN_CASES=$FULL SPATTN_LIBS=/tmp/ab_b python3 bench/cuda/gpu_check.py $(step ab && echo --no-build) --only "$TIMINGS" > "$OUT/bench.log" 2>&1 || status=1
  grep -E ' ours | index build|GPU mask generator|FAIL|rror' "$OUT/bench.log"
fi
exit "$status"
