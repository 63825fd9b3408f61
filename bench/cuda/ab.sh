#!/usr/bin/env bash
# One device call for an A/B of two kernel versions: case folders A and B made by
# bench/cuda/prepare.ts at each version (bench/cuda/slim.py trims them to the cases wanted, so
# that both fit a run's 64 MiB), built side by side, then timed by gpu_check.py --ours-only in
# alternating rounds (a GPU warming up weighs on both alike). B's numerics run first.
#   (device) bash bench/cuda/ab.sh A_FOLDER B_FOLDER ROUNDS [gpu_check.py flags, e.g. --only swa1024]
# Environment for one side only: AB_ENV_A / AB_ENV_B (say AB_ENV_B="SPATTN_SM90_ROWS=64").
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/out}
[ $# -ge 3 ] || { echo "usage: bash bench/cuda/ab.sh A_FOLDER B_FOLDER ROUNDS [gpu_check.py flags]" >&2; exit 2; }
A=$1 B=$2 ROUNDS=$3
shift 3
mkdir -p "$OUT"
SPATTN_CASES=$A SPATTN_LIBS=/tmp/ab_a python3 bench/cuda/gpu_check.py --no-timing "$@" > "$OUT/ab_build_a.log" 2>&1 &
env ${AB_ENV_B:-} SPATTN_CASES=$B SPATTN_LIBS=/tmp/ab_b python3 bench/cuda/gpu_check.py --no-timing "$@" > "$OUT/ab_check_b.log" 2>&1
wait
echo "A: $(grep -E '^built' "$OUT/ab_build_a.log")"
echo "B: $(grep -E '^(built|numerics)' "$OUT/ab_check_b.log" | tr '\n' ' ')"
grep -h -E '^FAIL|rc=' "$OUT/ab_build_a.log" "$OUT/ab_check_b.log" | head -5
for r in $(seq 1 "$ROUNDS"); do
  env ${AB_ENV_A:-} SPATTN_CASES=$A SPATTN_LIBS=/tmp/ab_a python3 bench/cuda/gpu_check.py --no-build --ours-only "$@" 2>&1 | grep -E ' ours |rror' | sed "s/^/round $r A: /"
  env ${AB_ENV_B:-} SPATTN_CASES=$B SPATTN_LIBS=/tmp/ab_b python3 bench/cuda/gpu_check.py --no-build --ours-only "$@" 2>&1 | grep -E ' ours |rror' | sed "s/^/round $r B: /"
done | tee "$OUT/ab.txt"
