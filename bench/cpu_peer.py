#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# The CPU peer for clattn-bench: the attention a numpy user writes (two
# batched matmuls through BLAS and a max-subtracted softmax, f32), timed
# with perf_counter; prints one JSON object (or, with --blas-info, the BLAS
# library numpy really loaded: np.show_config() only names "blas" on Debian).
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--head-dim", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--blas-info", action="store_true",
                    help="print the BLAS libraries numpy loaded and exit")
    args = ap.parse_args()
    if args.blas_info:
        info = blas_info()
        info["numpy"] = np.__version__
        print(json.dumps(info), flush=True)
        return
    print(json.dumps(bench(args.heads, args.seqlen, args.head_dim,
                           args.warmup, args.iters, args.seed)), flush=True)


if __name__ == "__main__":
    main()
