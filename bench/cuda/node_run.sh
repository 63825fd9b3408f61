#!/usr/bin/env bash
# On the GPU machine (no Node there), after bench/cuda/pack_node.sh here (carry .devnode):
# unpack the carried Node binary and run spattn's CLI with --backend cuda on several examples,
# comparing with --backend reference (float64) in Python. SPATTN_CUDA_KERNEL=sm90 makes a run
# fail unless the Hopper kernel is the one that runs.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/node/bin
xz -dc .devnode/node.xz > /tmp/node/bin/node && chmod +x /tmp/node/bin/node
export PATH=/tmp/node/bin:$PATH
node --version
cd .devnode/app
python3 - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
def bf16(x):  # rounded to bf16 (to nearest, ties to even), as the kernels and GPU builders read it
    b = x.view(np.uint32).astype(np.uint64)
    return (((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
for name, shape in [("a", (1, 4, 1000, 64)), ("b", (1, 2, 1024, 128)), ("big", (1, 8, 16384, 64))]:
    for t in "qkv":
        x = rng.standard_normal(shape).astype(np.float32)
        np.save(f"/tmp/{name}_{t}.npy", x)
        if name in ("a", "b"):
            np.save(f"/tmp/{name}r_{t}.npy", bf16(x))
PY
status=0
# Every example runs with the CPU's lists (spattn run's default: the order the kernels run the
# pattern in, dilation and the 2D neighbourhood gathered; data-dependent choices on float32 Q
# and K, as the reference's). Then with --lists device (device: indices into specs): the GPU
# index builders and P_mask_tiles make them per call, in sequence order; the builders choose on Q
# and K rounded to bf16, so the reference for those runs reads the same rounded Q and K (data ar).
specs=("causal.spattn a" "dilated.spattn a --set window=300 --set dilation=3" "document.spattn a" "neighborhood2d.spattn b" "block_topk.spattn a" "routing.spattn a" "minference.spattn a --set verticals=100 --set slashes=200"
       "nsa.spattn a --set window=128 --set selected=4" "moba.spattn a")
device=(0 1 2 3 4 5 6 7 8)
compare() {  # compare A B WHAT LIMIT: relative error of A against B below LIMIT, no NaN
  python3 -c "
import numpy as np, sys
a = np.load('$1').astype(np.float64); b = np.load('$2').astype(np.float64)
err = np.linalg.norm(a - b) / np.linalg.norm(b)
print(f'$3: rel err {err:.2e}, nan {np.isnan(a).any()}')
sys.exit(0 if err <= $4 and not np.isnan(a).any() else 1)" || status=1
}
run() {  # run BACKEND DATA OUT FILE ARGS...: spattn run, its last lines shown
  local backend=$1 data=$2 out=$3 file=$4
  shift 4
  node dist/cli/bin.js run examples/$file --backend $backend --q /tmp/${data}_q.npy --k /tmp/${data}_k.npy --v /tmp/${data}_v.npy --out $out "$@" 2>&1 | tail -3
}
# The CUDA runs first, in parallel (each builds its kernels with nvcc), then the references.
for i in "${!specs[@]}"; do
  set -- ${specs[$i]}
  run cuda $2 /tmp/o_cuda_$i.npy "$1" "${@:3}" > /tmp/log_cuda_$i.txt &
done
wait
for i in "${!specs[@]}"; do
  set -- ${specs[$i]}
  cat /tmp/log_cuda_$i.txt
  run reference $2 /tmp/o_ref_$i.npy "$1" "${@:3}"
  compare /tmp/o_cuda_$i.npy /tmp/o_ref_$i.npy "$1: spattn run --backend cuda vs reference" 1e-2
done
for i in "${device[@]}"; do
  set -- ${specs[$i]}
  run cuda $2 /tmp/o_dev_$i.npy "$1" "${@:3}" --lists device
  run reference ${2}r /tmp/o_refr_$i.npy "$1" "${@:3}"
  compare /tmp/o_dev_$i.npy /tmp/o_refr_$i.npy "$1: spattn run --backend cuda --lists device vs reference on bf16-rounded Q, K and V" 1e-2
done
# Larger runs both ways (8 heads, N = 16384, D = 64): wall time of the whole command, --lists
# device against --lists cpu, after an untimed run that builds (or finds) the kernel
# library. A window's lists have the same entries either way, but the device's are padded to
# ceil(n/64) a row where the CPU's stop at the longest list, and the launch picks its CTA shape
# by that bound: the outputs agree within rounding, not bit for bit.
for file in "sliding_window.spattn" "block_topk.spattn"; do
  run cuda big /tmp/o_big_warm.npy $file > /dev/null
  for where in device cpu; do
    start=$(date +%s%N)
    run cuda big /tmp/o_big_${file%.spattn}_$where.npy $file --lists $where
    echo "$file, [1, 8, 16384, 64], lists from the $where: spattn run --backend cuda took $(( ($(date +%s%N) - start) / 1000000 )) ms"
  done
done
compare /tmp/o_big_sliding_window_device.npy /tmp/o_big_sliding_window_cpu.npy "sliding_window.spattn, N = 16384: device lists vs CPU lists" 1e-2
exit $status
