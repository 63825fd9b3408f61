#!/usr/bin/env python3
"""Copies the named cases of a case folder (bench/cuda/prepare.ts's output) into a new folder:
their block lists, inputs and masks, the .cu/.h files they need and a manifest of them alone.
The device runs carry at most 64 MiB, so an A/B run of two versions carries two slim folders.

    python3 bench/cuda/slim.py bench/cuda/cases bench/cuda/cases_a swa1024_n65536,causal_n8192

A case is kept when its tag holds one of the comma-separated substrings (as gpu_check.py's
--only); the destination is replaced."""
import glob
import json
import os
import shutil
import sys

if len(sys.argv) != 4:
    sys.exit(__doc__)
src, dst, wanted = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
man = json.load(open(os.path.join(src, "manifest.json")))
keep = lambda case: any(w in case["tag"] for w in wanted)
out = {"checks": [c for c in man["checks"] if keep(c)], "timings": [t for t in man["timings"] if keep(t)]}
if not out["checks"] and not out["timings"]:
    sys.exit(f"no case of {src} matches {sys.argv[3]}")
shutil.rmtree(dst, ignore_errors=True)
os.makedirs(dst)
json.dump(out, open(os.path.join(dst, "manifest.json"), "w"), indent=1)
for case in out["checks"] + out["timings"]:
    for f in glob.glob(os.path.join(glob.escape(src), glob.escape(case["tag"]) + ".*")) + [os.path.join(src, f"{case['stem']}.{x}") for x in ("cu", "h")]:
        shutil.copy(f, dst)
# exp64's bits (gpu_check.py checks them with the first vertical-slash case) go wherever one goes.
if any(c.get("vsBuilders") for c in out["checks"]):
    for f in glob.glob(os.path.join(glob.escape(src), "exp64_*")):
        shutil.copy(f, dst)
print(f"{len(out['checks'])} checks, {len(out['timings'])} timings in {dst}")
