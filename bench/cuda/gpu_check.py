"""Builds, checks and times spattn's generated CUDA kernels on the GPU machine.

Reads what bench/cuda/prepare.ts wrote to bench/cuda/cases/ (the GPU machine has no Node).
Numerics: every case against a float64 reference under the same dense mask, and against
PyTorch SDPA with an explicit boolean mask; output poisoned with NaN before each launch.
Timing: bf16, H=16, D=128, medians of triton's do_bench, against torch.compile(flex_attention)
with the equivalent mask_mod / BlockMask (ours and Flex timed in turn, three times each: the
median of the three medians) and against SDPA. Results go to $OUT.

  python3 bench/cuda/gpu_check.py [--only SUBSTRING] [--no-timing] [--no-build] [--kernel auto|sm80|sm90] [--cflags FLAGS]

Environment: SPATTN_CASES, SPATTN_LIBS (where cases are read and libraries built), OUT;
SPATTN_DUMP=1 saves O, lse and their references of each failing check to $OUT/dump_*.npz;
SPATTN_TRACE=1 with kernels built --cflags=-DSPATTN_TRACE saves each timed case's per-CTA
timeline to $OUT/trace_<case>.npy (read by trace_report.py).
"""
import argparse
import ctypes
import gzip
import json
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch

CASES = os.environ.get("SPATTN_CASES", "bench/cuda/cases")
LIBS = os.environ.get("SPATTN_LIBS", "/tmp/spattn_libs")
OUT = os.environ.get("OUT", "/tmp/out")
os.makedirs(OUT, exist_ok=True)
os.makedirs(LIBS, exist_ok=True)

ap = argparse.ArgumentParser()
ap.add_argument("--only", default="", help="substrings of the case tags to run, comma-separated")
ap.add_argument("--no-timing", action="store_true")
ap.add_argument("--no-build", action="store_true")
ap.add_argument("--ours-only", action="store_true", help="time spattn's kernels alone (A/B runs of variants)")
ap.add_argument("--sdpa", action="store_true", help="with --ours-only: time SDPA (dense and causal) at each case's length and heads too")
ap.add_argument("--all-full", action="store_true",
                help="with --ours-only: run every partial tile as full (wrong results: what the predicate costs)")
ap.add_argument("--arch", default="-gencode=arch=compute_90a,code=sm_90a")
ap.add_argument("--cflags", default="", help="more nvcc flags, space-separated, written --cflags=... (--cflags=-DSPATTN_SM90_NO_TMA: the cp.async Hopper kernel in sequence order)")
ap.add_argument("--kernel", default="auto", choices=["auto", "sm80", "sm90"],
                help="forward kernel (SPATTN_CUDA_KERNEL): auto picks the wgmma kernel on sm_90")
args = ap.parse_args()
if args.kernel != "auto":
    os.environ["SPATTN_CUDA_KERNEL"] = args.kernel

man = json.load(open(f"{CASES}/manifest.json"))
def wanted(tag):
    """--only takes substrings separated by commas: a case runs if its tag holds any of them."""
    return any(part in tag for part in args.only.split(","))


checks = [c for c in man["checks"] if wanted(c["tag"])]
timings = [] if args.no_timing else [t for t in man["timings"] if wanted(t["tag"])]


def npy(name):
    with gzip.open(f"{CASES}/{name}.gz") as f:
        return np.load(f)


# ---------------------------------------------------------------- build
# Timing cases' kernels are built under --no-timing too: later --no-build runs time them.
stems = sorted({c["stem"] for c in checks + [t for t in man["timings"] if wanted(t["tag"])]})
if not args.no_build:
    t0 = time.time()
    procs = {}
    for s in stems:
        cmd = ["nvcc", "-O3", args.arch, *args.cflags.split(), "-Xcompiler", "-fPIC", "-shared", f"{CASES}/{s}.cu", "-o", f"{LIBS}/lib{s}.so"]
        procs[s] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for s, p in procs.items():
        out, _ = p.communicate()
        if p.returncode != 0 or out.strip():
            print(f"nvcc {s}: rc={p.returncode}\n{out}")
            if p.returncode != 0:
                sys.exit(1)
    print(f"built {len(stems)} kernels in {time.time() - t0:.1f} s", flush=True)


class Tiles(ctypes.Structure):
    _fields_ = [("kv_num", ctypes.c_void_p), ("kv_idx", ctypes.c_void_p), ("full_num", ctypes.c_void_p),
                ("full_idx", ctypes.c_void_p), ("stride", ctypes.c_int), ("heads", ctypes.c_int),
                ("partial_bits", ctypes.c_void_p)]


def device_tiles(arr):
    """[2, heads, nqb, 1 + w] -> a Tiles struct and the tensors that back it."""
    t = torch.from_numpy(arr).cuda()
    kv_num = t[0, :, :, 0].contiguous()
    kv_idx = t[0, :, :, 1:].contiguous()
    full_num = t[1, :, :, 0].contiguous()
    full_idx = t[1, :, :, 1:].contiguous()
    keep = [kv_num, kv_idx, full_num, full_idx]
    s = Tiles(kv_num.data_ptr(), kv_idx.data_ptr(), full_num.data_ptr(), full_idx.data_ptr(), kv_idx.shape[-1], arr.shape[1])
    return s, keep


def all_full(arr):
    """The same tiles with every partial one listed as full (an experiment: no predicate runs)."""
    out = np.zeros((2, arr.shape[1], arr.shape[2], arr.shape[3] * 2 - 1), dtype=arr.dtype)
    for h in range(arr.shape[1]):
        for i in range(arr.shape[2]):
            idx = list(arr[0, h, i, 1:1 + arr[0, h, i, 0]]) + list(arr[1, h, i, 1:1 + arr[1, h, i, 0]])
            out[1, h, i, 0] = len(idx)
            out[1, h, i, 1:1 + len(idx)] = idx
    return out


def tile_bits(case, tiles, n, dyn, tmap=None):
    """The partial tiles' row masks from the generated `<prefix>_mask_tile_bits`; sets
    tiles.partial_bits and returns the buffer (keep it alive while the tiles are used)."""
    rows = tmap.numel() if tmap is not None else n
    words = tiles.heads * (-(-rows // 128)) * tiles.stride * 128
    bits = torch.full((max(words, 1),), -1, dtype=torch.int64, device="cuda")  # poisoned: all allowed
    fn = getattr(lib_of(case["stem"]), f"{case['prefix']}_mask_tile_bits")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    rc = fn(ctypes.byref(tiles), n, tmap.data_ptr() if tmap is not None else None, tmap.numel() if tmap is not None else 0,
            ctypes.byref(dyn), bits.data_ptr(), torch.cuda.current_stream().cuda_stream)
    if rc != 0:
        raise RuntimeError(f"mask_tile_bits returned {rc}")
    tiles.partial_bits = bits.data_ptr()
    return bits


def make_dyn(names, tensors):
    """The pattern's Dyn struct: a device pointer per field (None where `tensors` has none)."""
    fields = [(n, ctypes.c_void_p) for n in names] or [("unused", ctypes.c_int)]
    cls = type("Dyn", (ctypes.Structure,), {"_fields_": fields})
    return cls(*[tensors[n].data_ptr() if n in tensors else None for n in names]) if names else cls(0)


def dyn_struct(names, tag):
    """The Dyn struct of a numerics case, its arrays read from the case's files."""
    tensors = {n: torch.from_numpy(npy(f"{tag}.{n}.npy")).cuda() for n in names}
    return make_dyn(names, tensors), list(tensors.values())


_libs = {}


def lib_of(stem):
    if stem not in _libs:
        _libs[stem] = ctypes.CDLL(f"{LIBS}/lib{stem}.so")
    return _libs[stem]


def workspace(lib, name, heads, n, d):
    """A device buffer of the size an index builder's `<name>_workspace(heads, n, d)` asks for."""
    fn = getattr(lib, f"{name}_workspace")
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int] * 3
    return torch.empty(fn(heads, n, d), dtype=torch.uint8, device="cuda")


def launcher(stem, prefix, dtype, d):
    fn = getattr(lib_of(stem), f"{prefix}_fwd_{dtype}_d{d}")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int] * 4 + [ctypes.c_void_p, ctypes.c_int] + [ctypes.c_void_p] * 3
    return fn


def token_map(case):
    """The kernel order's token map on the device (None: sequence order)."""
    if not case.get("map"):
        return None
    return torch.from_numpy(npy(f"{case['tag']}.map.npy")).cuda()


def run(fn, q, k, v, o, lse, tiles, dyn, tmap=None):
    b, h, n, _ = q.shape
    rc = fn(q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr(), lse.data_ptr() if lse is not None else None,
            b, h, k.shape[1], n, tmap.data_ptr() if tmap is not None else None, tmap.numel() if tmap is not None else 0,
            ctypes.byref(tiles), ctypes.byref(dyn), torch.cuda.current_stream().cuda_stream)
    if rc != 0:
        raise RuntimeError(f"launch returned cudaError {rc}")


def reference(q, k, v, mask):
    """float64 attention; rows with no allowed key give 0 and lse -inf."""
    q, k, v = q.double(), k.double(), v.double()
    groups = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(groups, 1)
    v = v.repeat_interleave(groups, 1)
    s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    s = s.masked_fill(~mask, float("-inf"))
    m = s.amax(-1, keepdim=True)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(s - m)
    l = p.sum(-1, keepdim=True)
    o = torch.where(l > 0, (p @ v) / l.clamp_min(1e-300), torch.zeros_like(q))
    lse = torch.where(l > 0, m + torch.log(l.clamp_min(1e-300)), torch.full_like(l, float("-inf")))
    return o, lse.squeeze(-1)


def rel(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(1e-30)).item()


# ---------------------------------------------------------------- numerics
results = []
failures = 0
torch.manual_seed(0)
for c in checks:
    tag, n, heads, d = c["tag"], c["n"], c["heads"], c["d"]
    mask = torch.from_numpy(npy(f"{tag}.mask.npy")).cuda()[None]
    tiles, keep_t = device_tiles(npy(f"{tag}.tiles.npy"))
    dyn, keep_d = dyn_struct(c["dyn"], tag)
    tmap = token_map(c)
    if c["inputs"]:
        q32, k32, v32 = (torch.from_numpy(npy(f"{tag}.{x}.npy")).cuda() for x in "qkv")
    else:
        q32, k32, v32 = (torch.randn(1, heads, n, d, device="cuda") for _ in range(3))
    variants = [(heads, False)]
    if not c["inputs"] and heads >= 2 and c["id"] in ("causal", "sliding_window", "document", "dilated"):
        variants.append((1, True))  # MQA: one K/V head for every query head
    for kvh, gqa in variants:
        kk, vv = (k32[:, :kvh], v32[:, :kvh]) if gqa else (k32, v32)
        ref_o, ref_lse = reference(q32, kk, vv, mask)
        empty = ~mask.any(-1)
        for dtype, tt, tol in (("bf16", torch.bfloat16, 1e-2), ("fp16", torch.float16, 5e-3)):
            q, k, v = q32.to(tt), kk.to(tt).contiguous(), vv.to(tt).contiguous()
            o = torch.full_like(q, float("nan"))
            lse = torch.full((1, heads, n), float("nan"), device="cuda")
            run(launcher(c["stem"], c["prefix"], dtype, d), q, k, v, o, lse, tiles, dyn, tmap)
            torch.cuda.synchronize()
            # The reference again, on the rounded inputs: measures the kernel, not the rounding.
            ref_r, ref_lse_r = reference(q, k, v, mask)
            err = rel(o, ref_r)
            err_lse = (lse.double() - ref_lse_r).abs()[~empty].max().item() if (~empty).any() else 0.0
            nan = bool(torch.isnan(o).any() or torch.isnan(lse).any())
            zeros_ok = bool((o[empty[..., None].expand_as(o)] == 0).all() and torch.isinf(lse[empty]).all())
            sdpa_err = None
            if (~empty).any():
                groups = heads // kvh
                sd = torch.nn.functional.scaled_dot_product_attention(q, k.repeat_interleave(groups, 1), v.repeat_interleave(groups, 1), attn_mask=mask)
                rows = ~empty[..., None].expand_as(o)
                sdpa_err = ((o[rows].double() - sd[rows].double()).norm() / sd[rows].double().norm()).item()
            ok = (not nan) and err < tol and zeros_ok and err_lse < 1e-2 and (sdpa_err is None or sdpa_err < 2 * tol)
            # The same launch with the partial tiles' row masks (tiles.partial_bits) instead of
            # the predicate: the same scores are masked, so O and lse must be identical.
            bits = tile_bits(c, tiles, n, dyn, tmap)
            o2, lse2 = torch.full_like(o, float("nan")), torch.full_like(lse, float("nan"))
            run(launcher(c["stem"], c["prefix"], dtype, d), q, k, v, o2, lse2, tiles, dyn, tmap)
            torch.cuda.synchronize()
            tiles.partial_bits = None
            del bits
            same_bits = bool(torch.equal(o2, o) and torch.equal(lse2.nan_to_num(), lse.nan_to_num()))
            ok = ok and same_bits
            failures += 0 if ok else 1
            r = {"tag": tag + ("_mqa" if gqa else ""), "dtype": dtype, "rel_err": err, "rel_err_fp64_inputs": rel(o, ref_o),
                 "lse_max_abs_err": err_lse, "sdpa_rel_err": sdpa_err, "nan": nan, "empty_rows": int(empty.sum()),
                 "empty_rows_zero": zeros_ok, "tile_bits_identical": same_bits, "ok": ok}
            results.append(r)
            if not ok and os.environ.get("SPATTN_DUMP"):
                np.savez_compressed(f"{OUT}/dump_{r['tag']}_{dtype}.npz", o=o.float().cpu().numpy(), ref=ref_r.float().cpu().numpy(), lse=lse.cpu().numpy(), ref_lse=ref_lse_r.cpu().numpy())
            print(f"{'ok  ' if ok else 'FAIL'} {r['tag']:40s} {dtype} rel {err:.2e} sdpa {sdpa_err if sdpa_err is None else f'{sdpa_err:.2e}'} lse {err_lse:.1e} empty {r['empty_rows']} tile bits {'same' if same_bits else 'DIFFER'}", flush=True)
# ---------------------------------------------------------------- GPU index builders
def builder_fn(lib, name):
    """An index builder's C entry point: (q, k, heads, n, d, out1, out2, workspace, stream) -> int."""
    fn = getattr(lib, name)
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int] + [ctypes.c_void_p] * 4
    return fn


def case_qk_bf16(c):
    """A numerics case's Q and K on the device, rounded to bf16 as the builders' CPU results were."""
    return tuple(torch.from_numpy(npy(f"{c['tag']}.{x}.npy")).cuda().to(torch.bfloat16) for x in "qk")


def build_kept(case, builders, q, k, names, dtype="bf16"):
    """Runs the pattern's GPU index builders in order; returns {selection id: kept tensor}."""
    lib = lib_of(case["stem"])
    heads, n, d = q.shape[1], q.shape[2], q.shape[3]
    kept = {}
    for b in builders:
        sid = b["id"]
        ws = workspace(lib, f"{case['prefix']}_sel{sid}", heads, n, d)
        dyn = make_dyn(names, {f"sel{j}_kept": t for j, t in kept.items()})
        out = torch.zeros(heads * (-(-n // b["qblock"])) * (-(-n // b["kblock"])), dtype=torch.uint8, device="cuda")
        fn = builder_fn(lib, f"{case['prefix']}_sel{sid}_build_{dtype}")
        rc = fn(q.data_ptr(), k.data_ptr(), heads, n, d, ctypes.byref(dyn), out.data_ptr(), ws.data_ptr(), torch.cuda.current_stream().cuda_stream)
        if rc != 0:
            raise RuntimeError(f"index builder returned {rc}")
        kept[sid] = out
    return kept


builder_fail = 0
builder_checked = 0
for c in checks:
    if not c.get("builders"):
        continue
    if c["inputs"]:
        q, k = case_qk_bf16(c)
    else:  # seeded selections read no data
        q = k = torch.randn(1, c["heads"], c["n"], c["d"], device="cuda").to(torch.bfloat16)
    kept = build_kept(c, c["builders"], q, k, c["dyn"])
    torch.cuda.synchronize()
    for sid, t in kept.items():
        want = torch.from_numpy(npy(f"{c['tag']}.sel{sid}_kept_bf16.npy")).cuda()
        same = bool(torch.equal(t, want))
        builder_checked += 1
        builder_fail += 0 if same else 1
        print(f"{'ok  ' if same else 'FAIL'} index builder {c['tag']} selection {sid}: {int(t.sum())} kept blocks, {'identical to' if same else 'DIFFERENT from'} the CPU's", flush=True)
# Routes (clusters of every query and key) and vertical-slash steps (kept columns and
# diagonals): two output arrays each, [heads][n], compared with the CPU's.
TWO_OUTPUTS = (("routeBuilders", "route", ("q", "k"), torch.int32, -1, "routing builder"),
               ("vsBuilders", "vs", ("cols", "diags"), torch.uint8, 7, "vertical-slash builder"))
for c in checks:
    for key, kind, parts, dtype, poison, what in TWO_OUTPUTS:
        for b in c.get(key, []):
            q, k = case_qk_bf16(c)
            lib, heads, n, d = lib_of(c["stem"]), c["heads"], c["n"], c["d"]
            name = f"{c['prefix']}_{kind}{b['id']}"
            ws = workspace(lib, name, heads, n, d)
            outs = [torch.full((heads * n,), poison, dtype=dtype, device="cuda") for _ in parts]
            rc = builder_fn(lib, f"{name}_build_bf16")(q.data_ptr(), k.data_ptr(), heads, n, d, outs[0].data_ptr(), outs[1].data_ptr(),
                                                       ws.data_ptr(), torch.cuda.current_stream().cuda_stream)
            torch.cuda.synchronize()
            wants = [torch.from_numpy(npy(f"{c['tag']}.{kind}{b['id']}_{part}_bf16.npy")).cuda() for part in parts]
            differ = sum(int((o != w).sum()) for o, w in zip(outs, wants))
            same = rc == 0 and differ == 0
            builder_checked += 1
            builder_fail += 0 if same else 1
            print(f"{'ok  ' if same else 'FAIL'} {what} {c['tag']} {kind} {b['id']}: {' and '.join(f'{part} of {heads * n} entries' for part in parts)} "
                  f"{'identical to' if same else 'DIFFERENT from'} the CPU's (rc {rc}; {differ} differ)", flush=True)
vs_case = next((c for c in checks if c.get("vsBuilders")), None)
if vs_case:  # the builders' exponential, bit for bit against the CPU's exp64
    x = torch.from_numpy(npy("exp64_x.npy")).cuda()
    want = torch.from_numpy(npy("exp64_y.npy")).cuda()
    y = torch.full_like(x, float("nan"))
    fn = getattr(lib_of(vs_case["stem"]), f"{vs_case['prefix']}_exp64")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    rc = fn(x.data_ptr(), y.data_ptr(), x.numel(), torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    differ = int((y.view(torch.int64) != want.view(torch.int64)).sum())
    same = rc == 0 and differ == 0
    builder_checked += 1
    builder_fail += 0 if same else 1
    print(f"{'ok  ' if same else 'FAIL'} exp64 on the device: {x.numel()} arguments, {differ} differ from the CPU's bits", flush=True)
print(f"index builders: {builder_checked - builder_fail} passed, {builder_fail} failed", flush=True)
failures += builder_fail

# ---------------------------------------------------------------- GPU mask generators
def list_buffers(heads, n, bq=128, bk=64):
    """Tile classes and FlexAttention lists for the GPU mask generator to fill."""
    nqb, nkb = -(-n // bq), -(-n // bk)
    classes = torch.empty(heads, nqb, nkb, dtype=torch.uint8, device="cuda")
    kv_num, full_num = (torch.empty(heads, nqb, dtype=torch.int32, device="cuda") for _ in range(2))
    kv_idx, full_idx = (torch.empty(heads, nqb, nkb, dtype=torch.int32, device="cuda") for _ in range(2))
    return classes, kv_num, kv_idx, full_num, full_idx


def gpu_block_lists(case, heads, n, dyn, bq=128, bk=64, bufs=None):
    """The pattern's GPU mask generator: tile classes and FlexAttention lists (sequence order),
    into `bufs` (list_buffers) when given."""
    lib, pre = lib_of(case["stem"]), case["prefix"]
    classes, kv_num, kv_idx, full_num, full_idx = bufs or list_buffers(heads, n, bq, bk)
    stream = torch.cuda.current_stream().cuda_stream
    rc = getattr(lib, f"{pre}_mask_blocks")(ctypes.c_void_p(classes.data_ptr()), heads, n, bq, bk, ctypes.byref(dyn), ctypes.c_void_p(stream))
    rc = rc or getattr(lib, f"{pre}_mask_lists")(ctypes.c_void_p(classes.data_ptr()), heads, n, bq, bk, *(ctypes.c_void_p(t.data_ptr()) for t in (kv_num, kv_idx, full_num, full_idx)), ctypes.c_void_p(stream))
    if rc != 0:
        raise RuntimeError(f"mask generator returned {rc}")
    return classes, kv_num, kv_idx, full_num, full_idx


def gpu_tile_lists(case, heads, n, dyn, bufs, bq=128, bk=64):
    """The pattern's one-pass list builder (mask_tiles) into `bufs` (list_buffers): the same lists
    as gpu_block_lists, without the classes, entries only (the padding keeps what it held)."""
    lib, pre = lib_of(case["stem"]), case["prefix"]
    _, kv_num, kv_idx, full_num, full_idx = bufs
    rc = getattr(lib, f"{pre}_mask_tiles")(heads, n, bq, bk, ctypes.byref(dyn), *(ctypes.c_void_p(t.data_ptr()) for t in (kv_num, kv_idx, full_num, full_idx)),
                                          ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
    if rc != 0:
        raise RuntimeError(f"mask_tiles returned {rc}")
    return kv_num, kv_idx, full_num, full_idx


def same_entries(got, want, untouched=None):
    """Lists equal entry for entry up to their counts (got, want: kv_num, kv_idx, full_num,
    full_idx); with `untouched`, every index past the counts must still hold it."""
    ok = True
    for num, idx, wnum, widx in ((got[0], got[1], want[0], want[1]), (got[2], got[3], want[2], want[3])):
        rank = torch.arange(idx.shape[-1], device=idx.device)[None, None, :]
        listed = rank < wnum[..., None]
        ok = ok and torch.equal(num, wnum) and bool(((idx == widx) | ~listed).all())
        if untouched is not None:
            ok = ok and bool(((idx == untouched) | listed).all())
    return ok


def expected_lists(mask, bq=128, bk=64):
    """Tile classes and lists from a dense [heads, n, n] mask (tiles clipped at n)."""
    heads, n = mask.shape[0], mask.shape[-1]
    nqb, nkb = -(-n // bq), -(-n // bk)
    pad = (0, nkb * bk - n, 0, nqb * bq - n)
    anyv = torch.nn.functional.pad(mask, pad, value=False).view(heads, nqb, bq, nkb, bk).any(4).any(2)
    allv = torch.nn.functional.pad(mask, pad, value=True).view(heads, nqb, bq, nkb, bk).all(4).all(2)
    classes = torch.where(allv, 2, torch.where(anyv, 1, 0)).to(torch.uint8)
    kb = torch.arange(nkb, device=mask.device, dtype=torch.int32)
    out = [classes]
    for cls in (1, 2):
        hit = classes == cls
        idx = torch.sort(torch.where(hit, kb, nkb), dim=-1).values
        out += [hit.sum(-1).int(), torch.where(idx == nkb, 0, idx).int()]
    return out


def mask_geometry_same(c, heads, n, dyn, want, bq, bk):
    """Whether the GPU mask generator's bq x bk classes and padded lists (mask_blocks, mask_lists)
    and its one-pass lists (mask_tiles, the padding pre-filled with -7 and required untouched)
    equal those of the CPU's dense mask."""
    got = gpu_block_lists(c, heads, n, dyn, bq, bk)
    sentinel = list_buffers(heads, n, bq, bk)
    for t in sentinel[1:]:
        t.fill_(-7)
    one_pass = gpu_tile_lists(c, heads, n, dyn, sentinel, bq, bk)
    torch.cuda.synchronize()
    expected = expected_lists(want, bq, bk)
    return all(torch.equal(a, b) for a, b in zip(got, expected)), same_entries(one_pass, expected[1:], untouched=-7)


# Rows of more than 1024 key tiles take classify_row's later passes (a pass is 32 chunks of 32
# tiles): tiles of one key (and 48 queries, straddling the kernels' tiles) reach them wherever
# n > 1024.
FINE_BQ, FINE_BK = 48, 1
mask_fail = 0
mask_checked = 0
for c in checks:
    if "_d64" not in c["tag"]:
        continue  # the mask does not depend on the head dimension
    heads, n = c["heads"], c["n"]
    dyn, keep_d = dyn_struct(c["dyn"], c["tag"])
    want = torch.from_numpy(npy(f"{c['tag']}.mask.npy")).cuda().bool()
    dense = torch.full((heads, n, n), 7, dtype=torch.uint8, device="cuda")
    rc = getattr(lib_of(c["stem"]), f"{c['prefix']}_mask_dense")(ctypes.c_void_p(dense.data_ptr()), heads, n, ctypes.byref(dyn), ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
    torch.cuda.synchronize()
    same_dense = rc == 0 and bool(((dense == 0) | (dense == 1)).all()) and torch.equal(dense.bool(), want)
    same_lists, same_tiles = mask_geometry_same(c, heads, n, dyn, want, 128, 64)
    fine = -(-n // FINE_BK) > 1024
    same_fine = mask_geometry_same(c, heads, n, dyn, want, FINE_BQ, FINE_BK) if fine else (True, True)
    good = same_dense and same_lists and same_tiles and all(same_fine)
    mask_checked += 1
    mask_fail += 0 if good else 1
    fine_text = (f"; {FINE_BQ}x{FINE_BK} ({-(-n // FINE_BK)} key tiles a row) classes and lists {'identical' if same_fine[0] else 'DIFFERENT'}, "
                 f"one-pass {'identical' if same_fine[1] else 'DIFFERENT'}") if fine else ""
    print(f"{'ok  ' if good else 'FAIL'} GPU mask generator {c['tag']}: dense {'identical' if same_dense else 'DIFFERENT'}, "
          f"128x64 classes and lists {'identical' if same_lists else 'DIFFERENT'}, one-pass lists {'identical, padding untouched' if same_tiles else 'DIFFERENT'}"
          f"{fine_text} to the CPU's mask", flush=True)
print(f"GPU mask generators: {mask_checked - mask_fail} passed, {mask_fail} failed", flush=True)
failures += mask_fail

only_tag = re.sub('[^A-Za-z0-9_.-]', '_', args.only)[:80]  # file names have a length limit
json.dump(results, open(f"{OUT}/cuda_check{'_' + only_tag if args.only else ''}{'' if args.kernel == 'auto' else '_' + args.kernel}.json", "w"), indent=1)
print(f"numerics: {len(results) - failures} passed, {failures} failed", flush=True)

# ---------------------------------------------------------------- timing
if timings:
    import triton
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
    import torch._dynamo

    torch._dynamo.config.recompile_limit = 256
    torch._dynamo.config.cache_size_limit = 256
    flex = torch.compile(flex_attention, dynamic=False)

    def bench(fn):
        return triton.testing.do_bench(fn, warmup=50, rep=300, return_mode="median")

    def paired(*fns, rounds=3):
        """Medians of `rounds` medians each, the functions timed in turn: a GPU warming up over
        a case (clocks fall as it heats) then weighs on every side alike."""
        times = [[] for _ in fns]
        for _ in range(rounds):
            for f, ts in zip(fns, times):
                ts.append(bench(f))
        return tuple(float(np.median(ts)) for ts in times)

    def with_bits(t, tiles, n, dyn, tmap, fn):
        """Runs fn with the partial tiles' row masks in the tiles (built once, like a BlockMask)."""
        bits = tile_bits(t, tiles, n, dyn, tmap)
        try:
            return fn()
        finally:
            tiles.partial_bits = None
            del bits

    def natten_mod(b, h, qi, ki):
        K, L = 13, 256
        qy, qx, ky, kx = qi // L, qi % L, ki // L, ki % L
        sy = torch.clamp(qy - K // 2, 0, L - K)
        sx = torch.clamp(qx - K // 2, 0, L - K)
        return (ky >= sy) & (ky < sy + K) & (kx >= sx) & (kx < sx + K)

    W = 1024
    mods = {
        "causal": lambda b, h, qi, ki: qi >= ki,
        "swa1024_causal": lambda b, h, qi, ki: (qi >= ki) & (qi - ki < W),
        "sink64_swa1024": lambda b, h, qi, ki: (qi >= ki) & ((qi - ki < W) | (ki < 64)),
        "dilated4_causal": lambda b, h, qi, ki: (qi >= ki) & ((qi - ki) % 4 == 0),
        "natten2d_k13": natten_mod,
    }

    def allowed_pairs(t, tiles_arr):
        n = t["n"]
        qv = np.arange(n, dtype=np.int64)
        f = t["flex"]
        if f == "causal":
            return n * (n + 1) / 2
        if f == "swa1024_causal":
            return float(np.minimum(qv + 1, W).sum())
        if f == "sink64_swa1024":
            return float((np.minimum(qv + 1, W) + np.clip(np.minimum(64, qv - W + 1), 0, None)).sum())
        if f == "dilated4_causal":
            return float((qv // 4 + 1).sum())
        if f == "natten2d_k13":
            return float(n * 169)
        if t.get("pairs", -1) >= 0:  # counted when the case was prepared
            return float(t["pairs"])
        # block lists of full 128 x 64 tiles (random blocks): every pair of a listed tile
        return float(tiles_arr[1, :, :, 0].sum()) * 128 * 64 / tiles_arr.shape[1]

    def builder_kernel_times(fn, reps=20):
        """Mean device time per call of each kernel `fn` launches (the profiler's CUDA activity)."""
        fn()
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(reps):
                fn()
            torch.cuda.synchronize()
        times = {}
        for e in prof.key_averages():
            if any(x in e.key for x in ("mean_pool", "filter_means", "_sel", "mask_")):  # the builders' and mask generator's kernels (not torch's fills)
                name = re.sub(r"^void |<.*|\(.*", "", e.key).split("::")[-1]
                times[name] = times.get(name, 0) + e.device_time_total / 1e3 / reps
        return times

    def dynamic_block_topk(t, q, k, v, o, lse, rows):
        """block_topk on the GPU: index building (timed alone), tile lists of `kept and causal`
        derived from the kept blocks (harness-side, for this pattern), then the attention."""
        n, heads, d, blk = t["n"], t["heads"], t["d"], t["dynamic"]["block"]
        builders = [{"id": i, "qblock": blk, "kblock": blk} for i in t["dynamic"]["builders"]]
        names = t["dynamic"]["fields"]
        build_ms = bench(lambda: build_kept(t, builders, q, k, names))
        kept = build_kept(t, builders, q, k, names)[0].view(heads, n // blk, n // blk).bool()
        nqt, nkt = n // 128, n // 64
        # A 128-query tile holds query blocks 2i and 2i+1; a 64-key tile is key block j.
        kb = torch.arange(nkt, device="cuda")
        qt = torch.arange(nqt, device="cuda")
        lo, hi = kept[:, 0::2, :], kept[:, 1::2, :]
        any_k = lo | hi
        causal_full = (kb[None, :] * 64 + 63) <= (qt[:, None] * 128)
        causal_any = (kb[None, :] * 64) <= (qt[:, None] * 128 + 127)
        full = lo & hi & causal_full[None]
        partial = any_k & causal_any[None] & ~full
        def lists(m):
            num = m.sum(-1).int()
            stride = max(1, int(num.max()))
            idx = torch.sort(torch.where(m, kb[None, None, :], nkt), dim=-1).values[..., :stride].int().contiguous()
            return num.contiguous(), idx, stride
        pn, pi, ps = lists(partial)
        fnum, fi, fs = lists(full)
        stride = max(ps, fs)
        pad = lambda x, s: torch.nn.functional.pad(x, (0, stride - s)).contiguous()
        pi, fi = pad(pi, ps), pad(fi, fs)
        kept_u8 = kept.to(torch.uint8).contiguous()
        dyn = make_dyn(names, {"sel0_kept": kept_u8})
        # The lists the attention runs come from the pattern's own GPU mask generator (what a
        # user calls: tile classes by the box domain, then the lists), timed as part of index
        # building, and must equal the harness's derivation above. SPATTN_HARNESS_LISTS=1 keeps
        # the harness's lists, untimed (A/B runs against versions whose mask generator
        # evaluated every element: seconds at N = 65536).
        harness = os.environ.get("SPATTN_HARNESS_LISTS") == "1"
        kept_ms = build_ms
        parts = builder_kernel_times(lambda: build_kept(t, builders, q, k, names))
        if harness:
            tiles = Tiles(pn.data_ptr(), pi.data_ptr(), fnum.data_ptr(), fi.data_ptr(), stride, heads)
            lists = "tile lists from the harness, untimed"
        else:
            # The one-pass builder's lists (mask_tiles) run the attention; the two-step
            # FlexAttention-layout generator (mask_blocks, mask_lists) is timed beside it.
            bufs, flex_bufs = list_buffers(heads, n), list_buffers(heads, n)
            got = gpu_tile_lists(t, heads, n, dyn, bufs)
            got_flex = gpu_block_lists(t, heads, n, dyn, bufs=flex_bufs)[1:]
            padded = lambda x: torch.nn.functional.pad(x, (0, nkt - stride), value=0)
            want = (pn, padded(pi), fnum, padded(fi))
            same = same_entries(got, want) and same_entries(got_flex, want)
            print(f"{'ok  ' if same else 'FAIL'} {t['tag']}: GPU mask generator's lists (one pass and two steps) {'identical' if same else 'DIFFERENT'} to the harness's", flush=True)
            if not same:
                global failures
                failures += 1
            lists_ms = bench(lambda: gpu_tile_lists(t, heads, n, dyn, bufs))
            flex_layout_ms = bench(lambda: gpu_block_lists(t, heads, n, dyn, bufs=flex_bufs))
            parts.update({f"lists: {name}": ms for name, ms in builder_kernel_times(lambda: gpu_tile_lists(t, heads, n, dyn, bufs)).items()})
            parts.update({f"flex layout (not counted): {name}": ms for name, ms in builder_kernel_times(lambda: gpu_block_lists(t, heads, n, dyn, bufs=flex_bufs)).items()})
            g_pn, g_pi, g_fn, g_fi = got
            tiles = Tiles(g_pn.data_ptr(), g_pi.data_ptr(), g_fn.data_ptr(), g_fi.data_ptr(), nkt, heads)
            lists = f"tile lists {lists_ms:.3f} (mask_tiles; padded FlexAttention layout by mask_blocks + mask_lists {flex_layout_ms:.3f})"
            build_ms += lists_ms
        fn = launcher(t["stem"], t["prefix"], "bf16", d)
        ours = bench(lambda: run(fn, q, k, v, o, lse, tiles, dyn))
        print(f"{t['tag']:26s} index build {build_ms:.3f} ms: kept blocks {kept_ms:.3f}, {lists}; " + ", ".join(f"{name} {ms:.3f}" for name, ms in parts.items()), flush=True)
        if args.ours_only:
            rows.append({"case": t["tag"], "n": n, "ours_ms": ours, "index_build_ms": build_ms, "index_build_kernels_ms": parts, "harness_lists": harness})
            print(f"{t['tag']:26s} ours {ours:8.3f} ms  index build {build_ms:.3f} ms ({100 * build_ms / ours:.1f}% of attention)", flush=True)
            return
        def mod(b, h, qi, ki):
            return kept[h, qi // blk, ki // blk] & (qi >= ki)
        # FlexAttention's BlockMask (128 x 128) from the same kept blocks: create_block_mask
        # would materialise the whole mask for a data-dependent mask_mod.
        sub = kept.view(heads, n // 128, 2, n // 128, 2)
        any128 = sub.any(4).any(2)
        all128 = sub.all(4).all(2)
        b128 = torch.arange(n // 128, device="cuda")
        below = b128[None, :] < b128[:, None]
        on_or_below = b128[None, :] <= b128[:, None]
        f_full = all128 & below[None]
        f_part = any128 & on_or_below[None] & ~f_full
        def flex_lists(m):
            num = m.sum(-1).int()
            idx = torch.sort(torch.where(m, b128[None, None, :], n // 128), dim=-1).values.clamp_max(n // 128 - 1).int()
            return num[None].contiguous(), idx[None].contiguous()
        kvn, kvi = flex_lists(f_part)
        fkn, fki = flex_lists(f_full)
        bm = BlockMask.from_kv_blocks(kvn, kvi, fkn, fki, BLOCK_SIZE=128, mask_mod=mod)
        ref_o = flex(q, k, v, block_mask=bm)
        err = rel(o, ref_o)
        ours, flex_ms = paired(lambda: run(fn, q, k, v, o, lse, tiles, dyn), lambda: flex(q, k, v, block_mask=bm))
        # Allowed pairs: every kept block below the diagonal in full, diagonal blocks half (+ the diagonal).
        diag = torch.eye(n // blk, device="cuda", dtype=torch.bool)[None]
        pairs = float((kept & ~diag).sum()) * blk * blk + float((kept & diag).sum()) * blk * (blk + 1) / 2
        flops = 4 * pairs * d
        row = {"case": t["tag"], "n": n, "ours_ms": ours, "index_build_ms": build_ms, "index_build_kernels_ms": parts, "flex_ms": flex_ms, "speedup_vs_flex": flex_ms / ours,
               "ours_tflops_eff": flops / ours / 1e9, "flex_tflops_eff": flops / flex_ms / 1e9, "rel_err_vs_flex": err}
        rows.append(row)
        print(f"{t['tag']:26s} ours {ours:8.3f} ms  flex {flex_ms:8.3f} ms  x{flex_ms / ours:5.2f}  index build {build_ms:.3f} ms ({100 * build_ms / ours:.1f}% of attention)  "
              f"{row['ours_tflops_eff']:6.1f} vs {row['flex_tflops_eff']:6.1f} TFLOP/s  vs flex {err:.1e}", flush=True)

    rows = []
    for t in timings:
        n, heads, d = t["n"], t["heads"], t["d"]
        q, k, v = (torch.randn(1, heads, n, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        o = torch.empty_like(q)
        lse = torch.empty(1, heads, n, device="cuda")
        if t["flex"] == "dynamic_block_topk":
            dynamic_block_topk(t, q, k, v, o, lse, rows)
            continue
        arr = npy(f"{t['tag']}.tiles.npy")
        tiles, keep_t = device_tiles(all_full(arr) if args.all_full else arr)
        dyn, _ = dyn_struct([], "")
        fn = launcher(t["stem"], t["prefix"], "bf16", d)
        tmap = token_map(t)
        ours = bench(lambda: run(fn, q, k, v, o, lse, tiles, dyn, tmap))
        if os.environ.get("SPATTN_TRACE"):
            # A build with -DSPATTN_TRACE: the last launch's per-CTA timeline (see attention_sm90.cuh).
            run(fn, q, k, v, o, lse, tiles, dyn, tmap)
            torch.cuda.synchronize()
            buf = np.zeros(1 << 20, dtype=np.uint64)
            copy = lib_of(t["stem"]).spattn_trace_copy
            copy.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            assert copy(buf.ctypes.data, buf.nbytes) == 0
            np.save(f"{OUT}/trace_{t['tag']}.npy", buf[: (n + 127) // 128 * heads * 16])
        if args.ours_only:
            flops = 4 * allowed_pairs(t, arr) * heads * d
            ours_bits = with_bits(t, tiles, n, dyn, tmap, lambda: bench(lambda: run(fn, q, k, v, o, lse, tiles, dyn, tmap)))
            rows.append({"case": t["tag"], "n": n, "ours_ms": ours, "ours_bits_ms": ours_bits, "ours_tflops_eff": flops / ours / 1e9})
            print(f"{t['tag']:26s} ours {ours:8.3f} ms  {flops / ours / 1e9:6.1f} TFLOP/s  with tile bits {ours_bits:8.3f} ms", flush=True)
            continue
        # Flex with the same pattern.
        if t["flex"] == "topk10pct":
            # Our tiles are 128 x 64; FlexAttention's blocks 128 x 128 hold pairs of them.
            nb = n // 128
            kvn = torch.zeros(1, heads, nb, dtype=torch.int32)
            kvi = torch.zeros(1, heads, nb, nb, dtype=torch.int32)
            for h in range(heads):
                hh = h if arr.shape[1] > 1 else 0
                for i in range(nb):
                    cnt = arr[1, hh, i, 0]
                    blocks = sorted(set((arr[1, hh, i, 1:1 + cnt] // 2).tolist()))
                    kvn[0, h, i] = len(blocks)
                    kvi[0, h, i, :len(blocks)] = torch.tensor(blocks, dtype=torch.int32)
            bm = BlockMask.from_kv_blocks(torch.zeros_like(kvn).cuda(), torch.zeros_like(kvi).cuda(), kvn.cuda(), kvi.cuda(), BLOCK_SIZE=128)
        else:
            bm = create_block_mask(mods[t["flex"]], B=None, H=None, Q_LEN=n, KV_LEN=n, device="cuda")
        t0 = time.time()
        ref_o = flex(q, k, v, block_mask=bm)
        torch.cuda.synchronize()
        first_call = time.time() - t0
        err = rel(o, ref_o)
        # Both against float32 attention on sampled rows of head 0 (exact mask from the mask_mod
        # or, for block lists, from the tiles).
        rows_idx = torch.cat([torch.linspace(0, n - 1, 24, device="cuda").long(), torch.arange(n - 8, n, device="cuda")]).unique()
        kidx = torch.arange(n, device="cuda")
        if t["flex"] in mods:
            allowed = mods[t["flex"]](0, 0, rows_idx[:, None], kidx[None, :])
        elif t.get("map"):
            raise RuntimeError("sampled rows from block lists in kernel order: not supported")
        else:
            allowed = torch.zeros(len(rows_idx), n, dtype=torch.bool, device="cuda")
            for r, qi in enumerate(rows_idx.tolist()):
                cnt = arr[1, 0, qi // 128, 0]
                for kb in arr[1, 0, qi // 128, 1:1 + cnt].tolist():
                    allowed[r, kb * 64:(kb + 1) * 64] = True
        sc = (q[0, 0, rows_idx].float() @ k[0, 0].float().T) / math.sqrt(d)
        sc = sc.masked_fill(~allowed, float("-inf"))
        ref_rows = torch.softmax(sc, -1) @ v[0, 0].float()
        err_ours = rel(o[0, 0, rows_idx], ref_rows)
        err_flex = rel(ref_o[0, 0, rows_idx], ref_rows)
        # Ours with the predicate, ours with the partial tiles' row masks, and Flex, in turn.
        bits = tile_bits(t, tiles, n, dyn, tmap)
        bits_addr = tiles.partial_bits
        bits_ms = bench(lambda: tile_bits(t, tiles, n, dyn, tmap))  # (each call allocates its own buffer)
        def ours_pred():
            tiles.partial_bits = None
            run(fn, q, k, v, o, lse, tiles, dyn, tmap)
        def ours_bits():
            tiles.partial_bits = bits_addr
            run(fn, q, k, v, o, lse, tiles, dyn, tmap)
        ours, ours_b, flex_ms = paired(ours_pred, ours_bits, lambda: flex(q, k, v, block_mask=bm))
        tiles.partial_bits = None
        del bits
        pairs = allowed_pairs(t, arr) * heads
        flops = 4 * pairs * d
        row = {"case": t["tag"], "n": n, "ours_ms": ours, "ours_bits_ms": ours_b, "tile_bits_build_ms": bits_ms, "flex_ms": flex_ms, "speedup_vs_flex": flex_ms / ours,
               "speedup_vs_flex_bits": flex_ms / ours_b,
               "ours_tflops_eff": flops / ours / 1e9, "flex_tflops_eff": flops / flex_ms / 1e9, "rel_err_vs_flex": err,
               "rel_err_sampled_rows_ours": err_ours, "rel_err_sampled_rows_flex": err_flex,
               "flex_first_call_s": first_call, "block_mask_ms_cpu": t["blockMaskMs"]}
        rows.append(row)
        print(f"{t['tag']:26s} ours {ours:8.3f} ms  flex {flex_ms:8.3f} ms  x{flex_ms / ours:5.2f}  "
              f"{row['ours_tflops_eff']:6.1f} vs {row['flex_tflops_eff']:6.1f} TFLOP/s  vs flex {err:.1e}  vs fp32 rows: ours {err_ours:.1e} flex {err_flex:.1e}  "
              f"with tile bits {ours_b:8.3f} ms x{flex_ms / ours_b:5.2f} (bits built in {bits_ms:.3f} ms)", flush=True)
    # The GPU mask generator's 128 x 64 lists of the positional patterns (sequence order, every
    # head), timed after the attention: its long brute-force runs heat the GPU.
    # Both forms: classes then padded lists (mask_blocks, mask_lists), and one pass (mask_tiles).
    for t in timings if not args.ours_only else []:
        if t["flex"] in mods:
            bufs, dyn0 = list_buffers(t["heads"], t["n"]), dyn_struct([], "")[0]
            ms = bench(lambda: gpu_block_lists(t, t["heads"], t["n"], dyn0, bufs=bufs))
            one_ms = bench(lambda: gpu_tile_lists(t, t["heads"], t["n"], dyn0, bufs))
            rows.append({"case": f"gpu_block_mask_{t['tag']}", "n": t["n"], "heads": t["heads"], "ms": ms, "one_pass_ms": one_ms, "block_mask_ms_cpu_one_head": t["blockMaskMs"]})
            print(f"GPU mask generator {t['tag']:26s} {ms:8.3f} ms, one pass {one_ms:8.3f} ms ({t['heads']} heads; CPU, one head: {t['blockMaskMs']} ms)", flush=True)
    for n, heads in sorted({(t["n"], t["heads"]) for t in timings}) if not args.ours_only or args.sdpa else []:
        q, k, v = (torch.randn(1, heads, n, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        for name, causal in (("sdpa_dense", False), ("sdpa_causal", True)):
            ms = bench(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal))
            tag = f"{name}_n{n}" + ("" if heads == 16 else f"_h{heads}")
            rows.append({"case": tag, "n": n, "heads": heads, "ms": ms})
            print(f"{tag:26s} {ms:8.3f} ms", flush=True)
    json.dump({"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "kernel": args.kernel, "rows": rows},
              open(f"{OUT}/cuda_bench{'' if args.kernel == 'auto' else '_' + args.kernel}.json", "w"), indent=1)

sys.exit(1 if failures else 0)
