#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CPU run of issue 5: clattn-bench (PoCL) and the numpy + OpenBLAS
# attention (bench/cpu_peer.py) on the same shape, interleaved round by round
# in one run, with 2 threads each; prints every round's ratio and the median.
# Then the same for one paged decode step (8 x 4096 keys, 32/8 heads, f32).
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

# One clattn-bench run (JSON) on PoCL with THREADS threads, through PREFIX.
clattn_bench() {
  "${PREFIX[@]}" env POCL_MAX_PTHREAD_COUNT="$THREADS" \
    POCL_CPU_MAX_CU_COUNT="$THREADS" CLATTN_CACHE_DIR="$CLATTN_CACHE_DIR" \
    "$BUILD/host/tools/clattn-bench" "$@" --warmup "$WARMUP" \
    --iters "$ITERS" --json 2>/dev/null
}

# Logs one round's clattn ($3) and numpy ($4) JSON and prints their times,
# rates and ratio: $1 "flops" (GFLOP/s) or "bytes" (GB/s), $2 the line's
# prefix, $5 the round.
round_line() {
  printf '%s\n%s\n' "$3" "$4" >>"$LOG"
  "$PY" -c '
import json, sys
kind, what, r = sys.argv[1], sys.argv[2], sys.argv[5]
c, p = json.loads(sys.argv[3]), json.loads(sys.argv[4])
rate = (lambda d: d["tflops"] * 1e3) if kind == "flops" else (lambda d: d["gbps"])
unit = "GFLOP/s" if kind == "flops" else "GB/s"
print("%sround %s: clattn %s [%s] %.1f ms (%.1f %s), numpy %.1f ms (%.1f %s): "
      "ratio numpy/clattn %.2fx" % (what, r, c["variant"], c["format"],
      c["median_ms"], rate(c), unit, p["median_ms"], rate(p), unit,
      p["median_ms"] / c["median_ms"]))' "$@"
}

# The medians of the rounds of clattn op $1 and numpy peer $2 in $LOG, and
# the ratio numpy / clattn per round (median, min, max).
summary() {
  "$PY" -c '
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{\"")]
c = [r["median_ms"] for r in rows if r.get("op") == sys.argv[2]]
p = [r["median_ms"] for r in rows if r.get("peer") == sys.argv[3]]
ratios = [b / a for a, b in zip(c, p)]
print("clattn median %.1f ms, numpy median %.1f ms, ratio (numpy / clattn) "
      "median %.2fx, min %.2fx, max %.2fx" % (statistics.median(c),
      statistics.median(p), statistics.median(ratios), min(ratios),
      max(ratios)))' "$LOG" "$1" "$2"
}

echo "== numpy and its BLAS"
"$PY" "$HERE/cpu_peer.py" --blas-info | tee -a "$LOG"
echo "== clattn-bench on PoCL"
"${PREFIX[@]}" env POCL_MAX_PTHREAD_COUNT="$THREADS" POCL_CPU_MAX_CU_COUNT="$THREADS" \
  "$BUILD/host/tools/clattn-probe" | sed -n 3p || true

for r in $(seq 1 "$ROUNDS"); do
  c=$(clattn_bench attention --batch 1 --heads $H --kv-heads $H \
    --seqlen-q $N --head-dim $D --dtype f32)
  p=$("$PY" "$HERE/cpu_peer.py" --heads $H --seqlen $N --head-dim $D \
    --warmup "$WARMUP" --iters "$ITERS")
  round_line flops "" "$c" "$p" "$r"
done
echo "shape: 1 sequence, $H heads, $N tokens, head_dim $D, f32, non-causal; $ROUNDS rounds of $ITERS timed runs"
summary attention numpy

# One paged decode step: clattn's NHD paged cache against numpy gathering
# each sequence's pages (cpu_peer.py --decode), the same shape and layout.
DB=8 DH=32 DKV=8 DN=4096
for r in $(seq 1 "$ROUNDS"); do
  c=$(clattn_bench paged_attention --batch $DB --heads $DH --kv-heads $DKV \
    --seqlen-q 1 --seqlen-k $DN --head-dim $D --dtype f32 --page-size 16)
  p=$("$PY" "$HERE/cpu_peer.py" --decode --batch $DB --heads $DH \
    --kv-heads $DKV --seqlen $DN --head-dim $D --page-size 16 \
    --warmup "$WARMUP" --iters "$ITERS")
  round_line bytes "decode " "$c" "$p" "$r"
done
echo "decode: batch $DB, $DH/$DKV heads, $DN keys, head_dim $D, f32, page 16 NHD; $ROUNDS rounds of $ITERS timed runs"
summary paged_attention numpy_paged_decode
