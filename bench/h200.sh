#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The GPU run (issues 2-5, 7) on a machine with NVIDIA's OpenCL: points the ICD
# loader at NVIDIA's driver, runs every device test binary there, then the
# benchmark shapes beside PyTorch SDPA and a copy ceiling, in one run.
# Usage: bench/h200.sh BUILD_DIR [tests|bench|all]   (logs under $OUT or /tmp)
set -uo pipefail
BUILD=${1:-build}
WHAT=${2:-all}
LOG=${OUT:-/tmp}
mkdir -p /tmp/ocl-vendors
echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 >/tmp/ocl-vendors/nvidia.icd
export OCL_ICD_VENDORS=/tmp/ocl-vendors CLATTN_CACHE_DIR=${CLATTN_CACHE_DIR:-/tmp/clattn-cache}
PROBE=$BUILD/host/tools/clattn-probe
BENCH=$BUILD/host/tools/clattn-bench
DEV=$("$PROBE" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)["devices"]
print(next(x["device"] for x in d if "NVIDIA" in x["platform"]))')
echo "NVIDIA device: $DEV"
export CLATTN_TEST_DEVICE=$DEV CLATTN_DEVICE=$DEV

if [ "$WHAT" = tests ] || [ "$WHAT" = all ]; then
  "$PROBE" --device "$DEV" | tee "$LOG/probe.txt" | head -60
  fails=0
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    start=$SECONDS
    CLATTN_PROGRAM_FORMAT=source CLATTN_TEST_LARGE=1 timeout 600 "$t" >"$LOG/$n.log" 2>&1
    rc=$?
    echo "$n: exit $rc ($((SECONDS - start)) s); $(grep -E 'Checks|SKIP' "$LOG/$n.log" | tail -1)"
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || { fails=$((fails + 1)); grep -E ':F:|:E:' "$LOG/$n.log" | head -5; }
  done
  for e in "$BUILD"/examples/decode_loop "$BUILD"/examples/cross_attention; do
    [ -x "$e" ] || continue
    "$e" >"$LOG/$(basename "$e").log" 2>&1
    rc=$?
    echo "example $(basename "$e"): exit $rc; $(grep -E '^clattn|max [|]err[|]|^(PASS|FAIL)$' "$LOG/$(basename "$e").log" | tr '\n' ' ')"
    [ $rc -eq 0 ] || fails=$((fails + 1))
  done
  "$PROBE" --device "$DEV" --selftest >"$LOG/selftest.txt" 2>&1
  echo "selftest: exit $? ($(grep -c PASS "$LOG/selftest.txt") PASS, $(grep -c FAIL "$LOG/selftest.txt") FAIL)"
  echo "device test binaries failed: $fails"
fi

if [ "$WHAT" = bench ] || [ "$WHAT" = all ]; then
  B() { "$BENCH" "$@" --device "$DEV" --warmup 5 --iters 30 --json | tee -a "$LOG/bench.jsonl"; }
  B kv_write --batch 1 --seqlen-q 65536 --kv-heads 8 --head-dim 128 --dtype f16 --page-size 16
  B paged_attention --batch 64 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 4096 --head-dim 128 --dtype f16 --page-size 16
  B paged_attention --batch 1 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 32768 --head-dim 128 --dtype f16 --page-size 16
  # The one-warp decode row forced on the same two shapes: the two-warp rows
  # (decode8, decode8_r168) are selected there, so this is their baseline.
  for k in "64 4096" "1 32768"; do
    read -r b n <<<"$k"
    B paged_attention --batch "$b" --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k "$n" --head-dim 128 --dtype f16 --page-size 16 --variant paged_attention_mma_sm80_f16_d128_decode
  done
  # Quantized KV caches (issue 7): each line runs the cache dtypes in turn on
  # one shape; f16 first, as the baseline of the same run.
  B paged_attention --batch 64 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 4096 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype f16,fp8_e4m3,fp8_e5m2,i8
  B paged_attention --batch 64 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 4096 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype fp8_e4m3,i8 --scale-mode token-head
  B paged_attention --batch 1 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 32768 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype f16,fp8_e4m3
  # The portable row forced on fp8: the `_q8` tensor-core rows' baseline.
  B paged_attention --batch 64 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 4096 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype fp8_e4m3 --variant paged_attention_generic_d128
  B paged_attention --batch 64 --heads 32 --kv-heads 8 --seqlen-q 1 --seqlen-k 4096 --head-dim 128 --dtype bf16 --page-size 16 --cache-dtype fp8_e4m3,i8
  # Chunked prefill (512 new tokens of 4096) over the same caches, and the
  # portable row forced on fp8 as the `_q8` prefill rows' baseline.
  B paged_attention --batch 8 --heads 32 --kv-heads 8 --seqlen-q 512 --seqlen-k 4096 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype f16,fp8_e4m3,fp8_e5m2,i8
  B paged_attention --batch 8 --heads 32 --kv-heads 8 --seqlen-q 512 --seqlen-k 4096 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype fp8_e4m3 --variant paged_attention_generic_d128
  B kv_write --seqlen-q 65536 --kv-heads 8 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype f16,fp8_e4m3,i8
  B kv_write --seqlen-q 65536 --kv-heads 8 --head-dim 128 --dtype f16 --page-size 16 --cache-dtype fp8_e4m3 --scale-mode token-head
  B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f16
  B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f16 --causal
  B attention --batch 8 --heads 32 --kv-heads 8 --seqlen-q 4096 --head-dim 128 --dtype f16
  # The sm_80 mma.sync row forced on the same shapes: on the H200 the wgmma
  # rows (sm_90) are selected, so this is their baseline in the same run.
  B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f16 --variant attention_mma_sm80_f16_d128
  B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f16 --causal --variant attention_mma_sm80_f16_d128
  B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f32
  # The same f32 prefill with allow_tf32 (issue 5): the tf32 tensor-core rows.
  B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f32 --tf32
  # The older tensor-core forms forced on one prefill shape (issue 5): on the
  # H200 they run for correctness, so these figures are no T4's or V100's.
  for v in attention_mma_sm75_f16_d128 attention_mma_sm70_f16_d128; do
    B attention --batch 8 --heads 32 --kv-heads 32 --seqlen-q 4096 --head-dim 128 --dtype f16 --variant "$v"
  done
  PYTHONUNBUFFERED=1 python3 "$(dirname "$0")/sdpa_peer.py" \
    --shapes "8,32,32,4096,128;8,32,8,4096,128" | tee -a "$LOG/bench.jsonl"
fi
