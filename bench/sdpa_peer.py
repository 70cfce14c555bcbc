#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The GPU peer for clattn-bench: PyTorch scaled_dot_product_attention on the
# same shapes (median of CUDA-event timings after warm-up) and a device copy
# for the bandwidth ceiling. Prints one JSON object per line.
import argparse
import json
import statistics

import torch
import torch.nn.functional as F


def timed(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def sdpa(batch, heads, kv_heads, seq, dim, causal, dtype, warmup, iters):
    q = torch.randn(batch, heads, seq, dim, device="cuda", dtype=dtype)
    k = torch.randn(batch, kv_heads, seq, dim, device="cuda", dtype=dtype)
    v = torch.randn(batch, kv_heads, seq, dim, device="cuda", dtype=dtype)
    if kv_heads != heads:  # SDPA with repeated K/V, as a user would write it
        k = k.repeat_interleave(heads // kv_heads, dim=1)
        v = v.repeat_interleave(heads // kv_heads, dim=1)
    ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
               warmup, iters)
    # FLOPs on the visible keys only: 4*dim per (row, visible key)
    visible = seq * (seq + 1) / 2 if causal else seq * seq
    flops = 4.0 * dim * visible * batch * heads
    return {"peer": "torch_sdpa", "batch": batch, "heads": heads,
            "kv_heads": kv_heads, "seqlen": seq, "head_dim": dim,
            "causal": causal, "dtype": str(dtype).replace("torch.", ""),
            "median_ms": ms, "tflops": flops / ms / 1e9}


def copy_ceiling(gib, warmup, iters):
    n = int(gib * (1 << 30)) // 4
    a = torch.empty(n, device="cuda", dtype=torch.float32).uniform_()
    b = torch.empty_like(a)
    ms = timed(lambda: b.copy_(a), warmup, iters)
    return {"peer": "torch_copy", "bytes": 2 * n * 4, "median_ms": ms,
            "gbps": 2 * n * 4 / ms / 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--shapes", default="8,32,32,4096,128")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    print(json.dumps(copy_ceiling(1.0, args.warmup, args.iters)), flush=True)
    for shape in args.shapes.split(";"):
        b, h, hkv, s, d = (int(x) for x in shape.split(","))
        for causal in (False, True):
            print(json.dumps(sdpa(b, h, hkv, s, d, causal, torch.float16,
                                  args.warmup, args.iters)), flush=True)


if __name__ == "__main__":
    main()
