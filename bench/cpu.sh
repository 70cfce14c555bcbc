#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CPU run of issue 5: clattn-bench (PoCL) and the numpy + OpenBLAS
# attention (bench/cpu_peer.py) on the same shape, interleaved round by round
# in one run, with 2 threads each; prints every round's ratio and the median.
# Usage: bench/cpu.sh [BUILD_DIR] [ROUNDS]   (logs: $OUT or /tmp, cpu_bench.jsonl)
# CLATTN_BENCH_PREFIX: words put before clattn-bench, e.g. to run it on the
# Debian 13 leg (PoCL 6.0, SPIR-V) while numpy stays on the host:
#   CLATTN_BENCH_PREFIX="bash ci/chroot run --cwd $PWD --" bench/cpu.sh $PWD/build
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG=${OUT:-/tmp}/cpu_bench.jsonl
# Debian's numpy (python3-numpy), not a pyenv/venv one without OpenBLAS.
PY=${CLATTN_BENCH_PYTHON:-/usr/bin/python3}
THREADS=${CLATTN_BENCH_THREADS:-2}
export OPENBLAS_NUM_THREADS=$THREADS
export POCL_MAX_PTHREAD_COUNT=$THREADS POCL_CPU_MAX_CU_COUNT=$THREADS
export CLATTN_CACHE_DIR=${CLATTN_CACHE_DIR:-/tmp/clattn-cache}
WARMUP=${WARMUP:-3}
ITERS=${ITERS:-20}
H=8 N=2048 D=128
read -r -a PREFIX <<<"${CLATTN_BENCH_PREFIX:-}"
: >"$LOG"

echo "== numpy and its BLAS"
"$PY" "$HERE/cpu_peer.py" --blas-info | tee -a "$LOG"
echo "== clattn-bench on PoCL"
"${PREFIX[@]}" env POCL_MAX_PTHREAD_COUNT="$THREADS" POCL_CPU_MAX_CU_COUNT="$THREADS" \
  "$BUILD/host/tools/clattn-probe" | sed -n 3p || true

for r in $(seq 1 "$ROUNDS"); do
  c=$("${PREFIX[@]}" env POCL_MAX_PTHREAD_COUNT="$THREADS" \
    POCL_CPU_MAX_CU_COUNT="$THREADS" CLATTN_CACHE_DIR="$CLATTN_CACHE_DIR" \
    "$BUILD/host/tools/clattn-bench" attention --batch 1 --heads $H \
    --kv-heads $H --seqlen-q $N --head-dim $D --dtype f32 \
    --warmup "$WARMUP" --iters "$ITERS" --json 2>/dev/null)
  p=$("$PY" "$HERE/cpu_peer.py" --heads $H --seqlen $N --head-dim $D \
    --warmup "$WARMUP" --iters "$ITERS")
  printf '%s\n%s\n' "$c" "$p" >>"$LOG"
  "$PY" -c '
import json, sys
c, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("round %s: clattn %s [%s] %.1f ms (%.1f GFLOP/s), numpy %.1f ms "
      "(%.1f GFLOP/s): ratio numpy/clattn %.2fx" % (sys.argv[3], c["variant"],
      c["format"], c["median_ms"], c["tflops"] * 1e3, p["median_ms"],
      p["tflops"] * 1e3, p["median_ms"] / c["median_ms"]))' "$c" "$p" "$r"
done
"$PY" -c '
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{\"")]
c = [r["median_ms"] for r in rows if r.get("op") == "attention"]
p = [r["median_ms"] for r in rows if r.get("peer") == "numpy"]
ratios = [b / a for a, b in zip(c, p)]
print("shape: 1 sequence, %s heads, %s tokens, head_dim %s, f32, non-causal; "
      "%s rounds of %s timed runs" % (sys.argv[2], sys.argv[3], sys.argv[4],
      len(ratios), sys.argv[5]))
print("clattn median %.1f ms, numpy median %.1f ms, ratio (numpy / clattn) "
      "median %.2fx, min %.2fx, max %.2fx" % (statistics.median(c),
      statistics.median(p), statistics.median(ratios), min(ratios),
      max(ratios)))' "$LOG" $H $N $D "$ITERS"
