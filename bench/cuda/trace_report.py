"""Summarises the per-CTA timelines that `gpu_check.py` saves with SPATTN_TRACE=1 from kernels
built with -DSPATTN_TRACE (see attention_sm90.cuh): where a CTA's time goes (prologue up to its
first stage, the loop, the epilogue), the gaps between CTAs on one SM, and how evenly the SMs
were kept busy.

  python3 bench/cuda/trace_report.py trace_<case>.npy [...]
"""
import sys

import numpy as np


def report(path):
    a = np.load(path).astype(np.int64).reshape(-1, 16)
    g, sm = a[:, 0::2], a[:, 15]
    t0 = g[:, 0].min()
    start, first, loop_end, epi_end = (g[:, i] - t0 for i in (0, 1, 2, 4))
    end = np.maximum(g[:, 4], g[:, 5]) - t0
    us = lambda x: x / 1e3
    gaps = []
    for s in np.unique(sm):
        idx = np.where(sm == s)[0]
        order = np.argsort(start[idx])
        gaps += list(us(start[idx][order][1:] - end[idx][order][:-1]))
    per_sm = np.bincount(sm)[np.bincount(sm) > 0]
    busy = us(end - start).sum() / (len(per_sm) * us(end.max()))
    med = lambda x: float(np.median(x))
    print(f"{path}: {len(a)} CTAs on {len(per_sm)} SMs ({per_sm.min()}-{per_sm.max()} each), span {us(end.max()):.1f} us")
    print(f"  per CTA (median us): prologue {med(us(first - start)):.2f} (p90 {np.percentile(us(first - start), 90):.2f}), "
          f"loop {med(us(loop_end - first)):.2f}, epilogue {med(us(epi_end - loop_end)):.2f}, total {med(us(end - start)):.2f}")
    print(f"  gap between CTAs on an SM: median {med(gaps):.2f} us; SMs busy {100 * busy:.1f}% of the span")


for p in sys.argv[1:]:
    report(p)
