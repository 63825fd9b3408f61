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
for name, shape in [("a", (1, 4, 1000, 64)), ("b", (1, 2, 1024, 128))]:
    for t in "qkv":
        np.save(f"/tmp/{name}_{t}.npy", rng.standard_normal(shape).astype(np.float32))
PY
status=0
specs=("causal.spattn a" "dilated.spattn a --set window=300 --set dilation=3" "document.spattn a" "neighborhood2d.spattn b" "block_topk.spattn a" "routing.spattn a" "minference.spattn a --set verticals=100 --set slashes=200")
# The CUDA runs first, in parallel (each builds its kernels with nvcc), then the references.
for i in "${!specs[@]}"; do
  set -- ${specs[$i]}
  file=$1; data=$2; shift 2
  node dist/cli/bin.js run examples/$file --backend cuda --q /tmp/${data}_q.npy --k /tmp/${data}_k.npy --v /tmp/${data}_v.npy --out /tmp/o_cuda_$i.npy "$@" > /tmp/log_cuda_$i.txt 2>&1 &
done
wait
for i in "${!specs[@]}"; do
  set -- ${specs[$i]}
  file=$1; data=$2; shift 2
  tail -3 /tmp/log_cuda_$i.txt
  node dist/cli/bin.js run examples/$file --backend reference --q /tmp/${data}_q.npy --k /tmp/${data}_k.npy --v /tmp/${data}_v.npy --out /tmp/o_ref_$i.npy "$@" 2>&1 | tail -3 || status=1
  python3 -c "
import numpy as np, sys
a = np.load('/tmp/o_cuda_$i.npy').astype(np.float64); b = np.load('/tmp/o_ref_$i.npy').astype(np.float64)
err = np.linalg.norm(a - b) / np.linalg.norm(b)
print(f'$file: spattn run --backend cuda vs reference: rel err {err:.2e}, nan {np.isnan(a).any()}')
sys.exit(0 if err < 1e-2 and not np.isnan(a).any() else 1)" || status=1
done
exit $status
