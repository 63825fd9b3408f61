#!/usr/bin/env bash
# One device call for an A/B of two versions of the WGSL shaders on a GPU machine without Node
# (after bench/webgpu/pack_node.sh here; carry .webgpunode, .gl and the other version's tree,
# e.g. `git worktree add .old COMMIT`): in
# alternating rounds, each tree runs bench/webgpu/sizes.ts on SIZES_CASES and bench.ts on the
# examples named in ONLY (both with passes back to back), so that a GPU warming up weighs on
# both alike. Logs under $OUT as ab_<round>_<a|b>_{sizes,bench}.log.
#   (device) for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
#            bash bench/webgpu/ab.sh A_TREE B_TREE ROUNDS SIZES_CASES ONLY
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}
[ $# -eq 5 ] || { echo "usage: bash bench/webgpu/ab.sh A_TREE B_TREE ROUNDS SIZES_CASES ONLY" >&2; exit 2; }
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=$3 CASES=$4 ONLY=$5
mkdir -p "$OUT"
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
done
bash bench/webgpu/node_run.sh true # unpacks Node and node_modules here, once (a tree's node_modules links to them)
# A carried link may not arrive as one: each tree without node_modules gets a link to these.
for tree in "$A" "$B"; do [ -e "$tree/node_modules" ] || ln -sfn "$PWD/node_modules" "$tree/node_modules"; done
status=0
for r in $(seq 1 "$ROUNDS"); do
  for side in a b; do
    tree=$A
    [ $side = b ] && tree=$B
    echo "== round $r, $side: $tree"
    bash "$tree/bench/webgpu/node_run.sh" npx tsx bench/webgpu/sizes.ts --cases "$CASES" 2>&1 | tee "$OUT/ab_${r}_${side}_sizes.log" || status=1
    [ -n "$ONLY" ] && { bash "$tree/bench/webgpu/node_run.sh" npx tsx bench/webgpu/bench.ts --n 8192 --heads 8 --d 64 --reps 5 --only "$ONLY" --out "/tmp/ab_${r}_${side}" 2>&1 | tee "$OUT/ab_${r}_${side}_bench.log" || status=1; }
  done
done
exit "$status"
