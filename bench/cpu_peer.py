#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The CPU peer for clattn-bench: the attention a numpy user writes (two
# batched matmuls through BLAS and a max-subtracted softmax, f32; with
# --decode, one decode step over a paged cache: each sequence's pages
# gathered, then the same), timed with perf_counter; prints one JSON object
# (or, with --blas-info, the BLAS library numpy really loaded).
import argparse
import ctypes
import json
import os
import statistics
import time

import numpy as np


def blas_info():
    """The BLAS library numpy loaded (from /proc/self/maps) and, for
    OpenBLAS, its build config, core and thread count."""
    np.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32))
    libs = set()
    with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in os.path.basename(path) or "lapack" in path:
                libs.add(os.path.realpath(path))
    info = {"blas_libs": sorted(libs)}
    for path in sorted(libs):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            lib.openblas_get_corename.restype = ctypes.c_char_p
        except (OSError, AttributeError):
            continue
        info["openblas_config"] = lib.openblas_get_config().decode()
        info["openblas_core"] = lib.openblas_get_corename().decode()
        info["openblas_threads"] = lib.openblas_get_num_threads()
        break
    return info


def attention(q, k, v, scale):
    """q, k, v: [heads, tokens, head_dim] f32; non-causal."""
    s = np.matmul(q, k.transpose(0, 2, 1))
    s *= scale
    s -= s.max(axis=-1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=-1, keepdims=True)
    return np.matmul(s, v)


def bench(heads, seq, dim, warmup, iters, seed):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.uniform(-1, 1, (heads, seq, dim)).astype(np.float32)
               for _ in range(3))
    scale = np.float32(1.0 / np.sqrt(dim))
    for _ in range(warmup):
        attention(q, k, v, scale)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        attention(q, k, v, scale)
        times.append((time.perf_counter() - t0) * 1e3)
    flops = 4.0 * dim * seq * seq * heads
    ms = statistics.median(times)
    return {"peer": "numpy", "batch": 1, "heads": heads, "kv_heads": heads,
            "seqlen": seq, "head_dim": dim, "causal": False, "dtype": "f32",
            "warmup": warmup, "iters": iters, "median_ms": ms,
            "min_ms": min(times), "tflops": flops / ms / 1e9}


def paged_decode(batch, heads, kv_heads, ctx, dim, page, warmup, iters,
                 seed):
    """One decode step (one query token per sequence) over an NHD paged
    cache [blocks, page, kv_heads, dim] f32 with a random block table, as
    clattn-bench paged_attention lays it out: per sequence, gather its
    pages, then QK^T, softmax and PV per KV head (GQA: the head group
    shares K and V)."""
    rng = np.random.default_rng(seed)
    per_seq = ctx // page
    blocks = batch * per_seq
    kc, vc = (rng.uniform(-1, 1, (blocks, page, kv_heads, dim))
              .astype(np.float32) for _ in range(2))
    table = rng.permutation(blocks).reshape(batch, per_seq)
    q = rng.uniform(-1, 1, (batch, heads, dim)).astype(np.float32)
    group = heads // kv_heads
    scale = np.float32(1.0 / np.sqrt(dim))

    def step():
        out = np.empty((batch, heads, dim), np.float32)
        for b in range(batch):
            k = kc[table[b]].reshape(ctx, kv_heads, dim).transpose(1, 2, 0)
            v = vc[table[b]].reshape(ctx, kv_heads, dim).transpose(1, 0, 2)
            s = np.matmul(q[b].reshape(kv_heads, group, dim), k)
            s *= scale
            s -= s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=-1, keepdims=True)
            out[b] = np.matmul(s, v).reshape(heads, dim)
        return out

    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    ms = statistics.median(times)
    nbytes = 2.0 * batch * ctx * kv_heads * dim * 4
    return {"peer": "numpy_paged_decode", "batch": batch, "heads": heads,
            "kv_heads": kv_heads, "seqlen_k": ctx, "head_dim": dim,
            "page_size": page, "dtype": "f32", "warmup": warmup,
            "iters": iters, "median_ms": ms, "min_ms": min(times),
            "gbps": nbytes / ms / 1e6}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--decode", action="store_true",
                    help="one paged decode step instead (--batch, "
                    "--kv-heads, --seqlen is the context, --page-size)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=8)
    ap.add_argument("--page-size", type=int, default=16)
    ap.add_argument("--blas-info", action="store_true",
                    help="print the BLAS libraries numpy loaded and exit")
    args = ap.parse_args()
    if args.blas_info:
        info = blas_info()
        info["numpy"] = np.__version__
        print(json.dumps(info), flush=True)
        return
    if args.decode:
        print(json.dumps(paged_decode(args.batch, args.heads, args.kv_heads,
                                      args.seqlen, args.head_dim,
                                      args.page_size, args.warmup, args.iters,
                                      args.seed)), flush=True)
        return
    print(json.dumps(bench(args.heads, args.seqlen, args.head_dim,
                           args.warmup, args.iters, args.seed)), flush=True)


if __name__ == "__main__":
    main()
