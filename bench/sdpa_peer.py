#!/usr/bin/env python3
"""PyTorch SDPA decode attention on the full fp16 cache: the peer of cuda_attention_bench.

Same shapes (Llama-2-7B 32x128 MHA, Llama-3-8B 32/8 GQA), contexts and batches; q [B, H, 1, D],
k/v [B, Hkv, N, D] contiguous fp16, enable_gqa for GQA. Each backend of
torch.nn.attention.sdpa_kernel (flash, cuDNN) is timed alone (CUDA events, median;
caches under 1 GiB rotate among copies so L2 cannot serve them); 'sdpa-best' is the best of
flash and cuDNN. With --ours CSV (from cuda_attention_bench) it prints the comparison table.
"""
import argparse
import csv
import math
import statistics
import sys

import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

SHAPES = {"llama2-7b": (32, 32, 128), "llama3-8b": (32, 8, 128)}
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION}


def time_ms(fn, copies, iters):
    for i in range(3):
        fn(i % copies)
    torch.cuda.synchronize()
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(iters)]
    for i, (a, b) in enumerate(ev):
        a.record()
        fn(i % copies)
        b.record()
    torch.cuda.synchronize()
    return statistics.median(a.elapsed_time(b) for a, b in ev)


def copy_bandwidth():
    n = 2 << 30
    a = torch.empty(n // 2, dtype=torch.float16, device="cuda").uniform_()
    b = torch.empty_like(a)
    ms = time_ms(lambda i: b.copy_(a), 1, 10)
    return 2.0 * n / (ms * 1e-3)


def bench_shape(model, batch, ctx, iters, rows):
    H, Hkv, D = SHAPES[model]
    cache = 2.0 * batch * ctx * Hkv * D * 2
    copies = max(1, min(16, math.ceil((1 << 30) / cache)))
    k = torch.empty(copies, batch, Hkv, ctx, D, dtype=torch.float16, device="cuda").uniform_(-1, 1)
    v = torch.empty_like(k).uniform_(-1, 1)
    q = torch.empty(batch, H, 1, D, dtype=torch.float16, device="cuda").uniform_(-1, 1)
    gqa = Hkv != H
    ref = None
    for name, backend in BACKENDS.items():
        try:
            with sdpa_kernel([backend]):
                def fn(i):
                    return F.scaled_dot_product_attention(q, k[i], v[i], enable_gqa=gqa)
                out = fn(0)
                ms = time_ms(fn, copies, iters)
            if ref is None:
                ref = out.float()
            err = ((out.float() - ref).norm() / ref.norm()).item()
            note = "" if err < 1e-2 else f"differs from first backend by {err:.2e}"
        except Exception as e:  # a backend that cannot run this shape
            rows.append(dict(model=model, batch=batch, ctx=ctx, backend=name, us="", bytes=cache, gbps="",
                             note=f"unsupported: {str(e).splitlines()[0][:80]}"))
            print(f"{model:10s} b={batch:<2d} ctx={ctx:<6d} {name:10s} unsupported: {str(e).splitlines()[0][:100]}")
            continue
        nbytes = cache + 4.0 * batch * H * D
        gbps = nbytes / (ms * 1e-3) / 1e9
        rows.append(dict(model=model, batch=batch, ctx=ctx, backend=name, us=ms * 1e3, bytes=nbytes, gbps=gbps,
                         note=note))
        print(f"{model:10s} b={batch:<2d} ctx={ctx:<6d} {name:10s} {ms * 1e3:9.1f} us {gbps:7.0f} GB/s {note}",
              flush=True)
    del k, v, q
    torch.cuda.empty_cache()


def table(ours_csv, peer_rows, copy_bw):
    ours = {}
    with open(ours_csv) as f:
        for r in csv.DictReader(f):
            ours[(r["model"], int(r["batch"]), int(r["ctx"]), r["variant"])] = r
    best = {}
    for r in peer_rows:
        if r["us"] == "" or r["backend"] not in ("flash", "cudnn"):
            continue
        key = (r["model"], r["batch"], r["ctx"])
        if key not in best or r["us"] < best[key][0]:
            best[key] = (r["us"], r["backend"])
    variants = ["dense-f16", "dense-f16-rows", "absorbed50-head", "absorbed50-head-rows", "absorbed50-g4",
                "rebuild50-head"]
    print(f"\ncopy bandwidth {copy_bw / 1e9:.0f} GB/s (torch, read+write); x = SDPA time / ours; % = achieved GB/s "
          "of copy bandwidth (cuda_attention_bench's own copy measurement)")
    print("\n| model | batch | ctx | SDPA best (us) | dense ours, head-major | dense ours, token rows | "
          "absorbed 50% head | absorbed 50% head, token rows | absorbed 50% g4 | rebuild 50% head |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(best):
        sd, be = best[key]
        cells = []
        for var in variants:
            r = ours.get(key + (var,))
            if r is None:
                cells.append("-")
                continue
            us = float(r["us"])
            cells.append(f"{us:.1f} us, {sd / us:.2f}x, {100 * float(r['frac_copy']):.0f}%")
        print(f"| {key[0]} | {key[1]} | {key[2]} | {sd:.1f} ({be}) | " + " | ".join(cells) + " |")
    qvars = [("q4-50-head", "50% + int4"), ("q8-50-head", "50% + int8"), ("q4-30-head", "30% + int4"),
             ("q2-50-head", "50% + int2")]
    qvars = [q for q in qvars if any(k[3] == q[0] for k in ours)]
    if not qvars:
        return
    print("\nQuantized absorbed latents (per-KV-head groups, affine codes, fp16 scale + min per 32 values). "
          "Cell: time, x = SDPA time / ours, % of copy bandwidth, bytes moved (codes + scales + mins of K and V, "
          "+ q + out).")
    print("\n| model | batch | ctx | SDPA best (us), dense bytes | " + " | ".join(q[1] for q in qvars) + " |")
    print("|---|---|---|---|" + "---|" * len(qvars))
    for key in sorted(best):
        sd, be = best[key]
        dense = next((r for r in peer_rows if (r["model"], r["batch"], r["ctx"]) == key and r["us"] != ""), None)
        cells = []
        for var, _ in qvars:
            r = ours.get(key + (var,))
            if r is None:
                cells.append("-")
                continue
            us = float(r["us"])
            cells.append(f"{us:.1f} us, {sd / us:.2f}x, {100 * float(r['frac_copy']):.0f}%, "
                         f"{float(r['bytes']) / 1e6:.1f} MB")
        db = f"{float(dense['bytes']) / 1e6:.0f} MB" if dense else ""
        print(f"| {key[0]} | {key[1]} | {key[2]} | {sd:.1f} ({be}), {db} | " + " | ".join(cells) + " |")


def main():
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--contexts", default="4096,8192,16384,32768,65536,131072")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--models", default="llama2-7b,llama3-8b")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--max-dense-gb", type=float, default=40.0)
    ap.add_argument("--csv", default="")
    ap.add_argument("--ours", default="")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, cuDNN {torch.backends.cudnn.version()}")
    copy_bw = copy_bandwidth()
    print(f"copy bandwidth (torch) {copy_bw / 1e9:.0f} GB/s (read+write)")
    rows = []
    for model in a.models.split(","):
        H, Hkv, D = SHAPES[model]
        for batch in map(int, a.batches.split(",")):
            for ctx in map(int, a.contexts.split(",")):
                if 4.0 * batch * ctx * Hkv * D / 1e9 > a.max_dense_gb:
                    print(f"{model:10s} b={batch:<2d} ctx={ctx:<6d} skipped (dense cache too large)")
                    continue
                bench_shape(model, batch, ctx, a.iters, rows)
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["model", "batch", "ctx", "backend", "us", "bytes", "gbps", "note"])
            w.writeheader()
            w.writerows(rows)
    if a.ours:
        table(a.ours, rows, copy_bw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
