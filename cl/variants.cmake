# SPDX-License-Identifier: Apache-2.0
# The variant list: every kernel variant of every op, in one place. Each row
# becomes a registry entry (host selection) and, unless SOURCE_ONLY, a SPIR-V
# module. Rows of an op are tried by PRIORITY, highest first; the portable
# row (PRIORITY 0, no REQUIRES) must exist for every op.

# Cache dtypes of the kv_write and paged_attention rows: the float ones and
# the quantized ones (software FP8/I8 conversion, cl/quant.clh).
set(KV_CACHE F32 F16 BF16 FP8_E4M3 FP8_E5M2 I8)

# ---- kv_write -----------------------------------------------------------------
clattn_variant(kv_write_generic OP KV_WRITE SOURCE kv_write.cl PRIORITY 0
  CACHE_DTYPES ${KV_CACHE} TILE VEC=1)
clattn_variant(kv_write_vec4 OP KV_WRITE SOURCE kv_write.cl PRIORITY 10
  HEAD_DIM_MULTIPLE 4 CACHE_DTYPES ${KV_CACHE}
  TILE VEC=4)
clattn_variant(kv_write_vec8 OP KV_WRITE SOURCE kv_write.cl PRIORITY 20
  HEAD_DIM_MULTIPLE 8 CACHE_DTYPES ${KV_CACHE}
  TILE VEC=8)

# ---- attention / paged_attention ------------------------------------------------
# One entry point (attention.cl) for both ops, PAGED=0|1; attention_merge is
# in the same program. LOCAL_BYTES must equal LOCAL_MEM: the kernel checks
# its own sum at compile time. Within a family the smaller head-dim bucket
# has the higher priority, so the smallest D_MAX >= head_dim wins; the small
# rows (WG 32, 13 KiB) are the last resort of devices below the generic
# rows' 128 work-items / 28 KiB. docs/kernels.md explains the tiles.
clattn_variant(attention_generic_d64 OP ATTENTION
  SOURCE attention.cl PRIORITY 2
  LOCAL_MEM 26440 TILE BLOCK_M=16 BLOCK_N=64 LANES=8 D_MAX=64 SG=0 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=26440)
clattn_variant(attention_generic_d128 OP ATTENTION
  SOURCE attention.cl PRIORITY 1
  LOCAL_MEM 27976 TILE BLOCK_M=16 BLOCK_N=32 LANES=8 D_MAX=128 SG=0 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=27976)
clattn_variant(attention_generic_d256 OP ATTENTION
  SOURCE attention.cl PRIORITY 0
  LOCAL_MEM 26056 TILE BLOCK_M=16 BLOCK_N=8 LANES=8 D_MAX=256 SG=0 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=26056)
clattn_variant(attention_small_d256 OP ATTENTION
  SOURCE attention.cl PRIORITY -1
  LOCAL_MEM 12760 TILE BLOCK_M=4 BLOCK_N=8 LANES=8 D_MAX=256 SG=0 WG=32
  DEFINES PAGED=0 LOCAL_BYTES=12760)
# CPU rows: the CPU body (CPU=1): one work-item per 16 rows, rows as float16
# lanes, K/V read in place when f32 (docs/kernels.md). BLOCK_N 8: 8 score
# vectors in registers; BLOCK_N 16 and BLOCK_M 8 measured slower, BLOCK_N 12
# not clearly faster (noisy shared machine).
clattn_variant(attention_cpu_d64 OP ATTENTION
  SOURCE attention.cl PRIORITY 22 CLASS CPU
  LOCAL_MEM 2056 TILE BLOCK_M=16 BLOCK_N=8 LANES=1 D_MAX=64 SG=0 WG=1
  DEFINES PAGED=0 LOCAL_BYTES=2056 CPU=1)
clattn_variant(attention_cpu_d128 OP ATTENTION
  SOURCE attention.cl PRIORITY 21 CLASS CPU
  LOCAL_MEM 4104 TILE BLOCK_M=16 BLOCK_N=8 LANES=1 D_MAX=128 SG=0 WG=1
  DEFINES PAGED=0 LOCAL_BYTES=4104 CPU=1)
clattn_variant(attention_cpu_d256 OP ATTENTION
  SOURCE attention.cl PRIORITY 20 CLASS CPU
  LOCAL_MEM 8200 TILE BLOCK_M=16 BLOCK_N=8 LANES=1 D_MAX=256 SG=0 WG=1
  DEFINES PAGED=0 LOCAL_BYTES=8200 CPU=1)
clattn_variant(paged_attention_generic_d64 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 2
  LOCAL_MEM 26952 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=16 BLOCK_N=64 LANES=8 D_MAX=64 SG=0 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=26952)
clattn_variant(paged_attention_generic_d128 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 1
  LOCAL_MEM 28232 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=16 BLOCK_N=32 LANES=8 D_MAX=128 SG=0 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=28232)
clattn_variant(paged_attention_generic_d256 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 0
  LOCAL_MEM 26120 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=16 BLOCK_N=8 LANES=8 D_MAX=256 SG=0 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=26120)
clattn_variant(paged_attention_small_d256 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY -1
  LOCAL_MEM 12824 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=4 BLOCK_N=8 LANES=8 D_MAX=256 SG=0 WG=32
  DEFINES PAGED=1 LOCAL_BYTES=12824)
clattn_variant(paged_attention_cpu_d64 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 22 CLASS CPU
  LOCAL_MEM 2120 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=16 BLOCK_N=8 LANES=1 D_MAX=64 SG=0 WG=1
  DEFINES PAGED=1 LOCAL_BYTES=2120 CPU=1)
clattn_variant(paged_attention_cpu_d128 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 21 CLASS CPU
  LOCAL_MEM 4168 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=16 BLOCK_N=8 LANES=1 D_MAX=128 SG=0 WG=1
  DEFINES PAGED=1 LOCAL_BYTES=4168 CPU=1)
clattn_variant(paged_attention_cpu_d256 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 20 CLASS CPU
  LOCAL_MEM 8264 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=16 BLOCK_N=8 LANES=1 D_MAX=256 SG=0 WG=1
  DEFINES PAGED=1 LOCAL_BYTES=8264 CPU=1)
# Sub-group rows (cl_khr_subgroups): one 16-wide sub-group per row does the
# row's reductions; on CPUs the CPU rows outrank them, on GPUs they outrank
# the generic rows.
clattn_variant(attention_sg16_d64 OP ATTENTION
  SOURCE attention.cl PRIORITY 12 REQUIRES KHR_SUBGROUPS
  LOCAL_MEM 22184 TILE BLOCK_M=8 BLOCK_N=64 LANES=16 D_MAX=64 SG=16 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=22184)
clattn_variant(attention_sg16_d128 OP ATTENTION
  SOURCE attention.cl PRIORITY 11 REQUIRES KHR_SUBGROUPS
  LOCAL_MEM 22696 TILE BLOCK_M=8 BLOCK_N=32 LANES=16 D_MAX=128 SG=16 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=22696)
clattn_variant(attention_sg16_d256 OP ATTENTION
  SOURCE attention.cl PRIORITY 10 REQUIRES KHR_SUBGROUPS
  LOCAL_MEM 26024 TILE BLOCK_M=8 BLOCK_N=16 LANES=16 D_MAX=256 SG=16 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=26024)
clattn_variant(paged_attention_sg16_d64 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 12 REQUIRES KHR_SUBGROUPS
  LOCAL_MEM 22696 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=8 BLOCK_N=64 LANES=16 D_MAX=64 SG=16 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=22696)
clattn_variant(paged_attention_sg16_d128 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 11 REQUIRES KHR_SUBGROUPS
  LOCAL_MEM 22952 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=8 BLOCK_N=32 LANES=16 D_MAX=128 SG=16 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=22952)
clattn_variant(paged_attention_sg16_d256 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 10 REQUIRES KHR_SUBGROUPS
  LOCAL_MEM 26152 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=8 BLOCK_N=16 LANES=16 D_MAX=256 SG=16 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=26152)
# NVIDIA tensor-core rows (inline PTX, source only; attention_mma.clh): one
# warp per 16 rows, K/V staged raw, so q, k, v (or the cache) must share the
# row's 16-bit dtype and head_dim must be a multiple of 8. sm_80+ uses
# m16n8k16 (f16, bf16) with cp.async; sm_75+ uses m16n8k8 pairs (f16); sm_70+
# uses m8n8k4 per quad-pair (f16), with plain ld.shared for K and V. They
# outrank every portable row on the GPUs that can run them, the newer form
# first. Prefill
# (attention) takes 8 warps (128 rows): each K/V tile staged serves twice
# the rows, and the H200 went from 160 to 180 TFLOP/s (docs/performance.md);
# paged_attention keeps 4 warps, since a decode tile has G rows only and two
# work-groups per SM keep more loads in flight. The sm_80 prefill rows keep
# two K buffers (K(t+1) loads during all of tile t: 180 -> 197 TFLOP/s).
# The sm_90 rows (prefill only, compute capability 9.0 only: wgmma is
# sm_90a, so PTX_SM90A) are the sm_80 prefill rows with QK^T and PV on
# warpgroup wgmma.mma_async m64n64k16 (WGMMA=1; docs/kernels.md, "The
# wgmma rows"): 197 -> 240 TFLOP/s on the H200.
foreach(op attention paged_attention)
  string(TOUPPER ${op} OPU)
  if(op STREQUAL attention)
    set(paged 0)
    set(pbytes 0)
    set(warps 8)
  else()
    set(paged 1)
    set(pbytes 1032) # double-buffered page lookups of a 64-key tile
    set(warps 4)
  endif()
  math(EXPR bm "16 * ${warps}")
  math(EXPR wg "32 * ${warps}")
  foreach(row "90;F16;32" "90;BF16;32" "80;F16;30" "80;BF16;30" "75;F16;28"
          "70;F16;26")
    list(GET row 0 sm)
    list(GET row 1 dt)
    list(GET row 2 prio)
    set(mma ${sm})
    set(wgopt)
    set(wgdef)
    if(sm EQUAL 90)
      if(paged EQUAL 1)
        continue()
      endif()
      set(mma 80)
      set(wgopt PTX_SM90A)
      set(wgdef WGMMA=1)
    endif()
    string(TOLOWER ${dt} dtl)
    if(dt STREQUAL BF16)
      set(bf 1)
    else()
      set(bf 0)
    endif()
    # Two K buffers where cp.async can use them (sm_80 prefill); the flag
    # words then live in the V tile (attention_mma.clh).
    if(mma EQUAL 80 AND paged EQUAL 0)
      set(kbuf 2)
      set(flags 0)
    else()
      set(kbuf 1)
      set(flags 8)
    endif()
    foreach(d 64 128)
      # kbuf K tiles and a V tile of 64 keys x d halves.
      math(EXPR lbytes "2 * (${kbuf} + 1) * 64 * ${d} + ${pbytes} + ${flags}")
      if(d EQUAL 64)
        math(EXPR p "${prio} + 1")
      else()
        set(p ${prio})
      endif()
      # The sm_90 prefill rows at d64 take one warpgroup (64 rows): 188
      # against 178 TFLOP/s with two on the H200, where d128 drops from
      # 240 to 188 with one (docs/performance.md, seventh session).
      set(rbm ${bm})
      set(rwg ${wg})
      if(sm EQUAL 90 AND d EQUAL 64)
        set(rbm 64)
        set(rwg 128)
      endif()
      # The cache kinds of a row: its own dtype (staged raw), and for the
      # sm_80 paged rows caches of 8-bit codes (`_q8`, KV_Q8=1: one more
      # tile of raw codes converted in local memory; sm_89+ for the FP8
      # conversion, per-tensor scales only).
      foreach(cache raw q8)
        if(cache STREQUAL raw)
          set(name ${op}_mma_sm${sm}_${dtl}_d${d})
          set(cc ${sm})
          set(cdts ${dt})
          set(lb ${lbytes})
          set(qdefs)
        elseif(paged EQUAL 1 AND sm EQUAL 80)
          set(name ${op}_mma_sm89_${dtl}_d${d}_q8)
          set(cc 89)
          set(cdts FP8_E4M3 FP8_E5M2 I8 TENSOR_SCALES)
          math(EXPR lb "${lbytes} + 64 * ${d}")
          set(qdefs KV_Q8=1)
        else()
          continue()
        endif()
        clattn_variant(${name} OP ${OPU}
          SOURCE attention.cl PRIORITY ${p} CLASS GPU SOURCE_ONLY ${wgopt}
          REQUIRES NV_PTX MIN_NV_CC ${cc} HEAD_DIM_MULTIPLE 8 DTYPES ${dt}
          CACHE_DTYPES ${cdts}
          LOCAL_MEM ${lb}
          TILE BLOCK_M=${rbm} BLOCK_N=64 LANES=32 D_MAX=${d} SG=0 WG=${rwg} MMA=${mma}
          DEFINES PAGED=${paged} LOCAL_BYTES=${lb} MMA_BF16=${bf} KBUF=${kbuf}
                  ${wgdef} ${qdefs})
      endforeach()
    endforeach()
  endforeach()
endforeach()
# Decode rows (DECODE=1, sm_80+): for calls with at most 16 rows per sequence
# and KV head (max_seqlen_q * group <= 16), where the rows above would leave
# most of their 64 or 128 rows idle. One warp and 16 rows per work-group,
# 32-key tiles through a ring of 3 (K, V) stages (48 KiB at d128, NVIDIA's
# limit), so two tiles are in flight. At d128 they measured 10-21% faster
# than 16-key tiles with 4 stages (docs/kernels.md).
# Paged d128 also has rows for at most 8 rows (DEC_ROWS=8: the g + 8
# fragment rows carry nothing) on two warps, each staging and computing 16
# keys of every tile: one work-group's time per tile drops by a third (H200).
# Two such 234-238-register warps per work-group fit only about 3.4
# work-groups per SM (batch 56 x 8 KV heads ran in one wave, 60 not), so
# `decode8` (CU_SLOTS 3) serves grids of at most 3 work-groups per CU and
# `decode8_r168`, registers capped at 168 in the PTX (4 per SM, small
# spills), the larger ones. d64 and packed K/V keep one warp (two measured
# slower there). docs/kernels.md, "Two-warp rows".
foreach(op attention paged_attention)
  string(TOUPPER ${op} OPU)
  if(op STREQUAL attention)
    set(paged 0)
  else()
    set(paged 1)
  endif()
  foreach(dt F16 BF16)
    string(TOLOWER ${dt} dtl)
    if(dt STREQUAL BF16)
      set(bf 1)
    else()
      set(bf 0)
    endif()
    foreach(d 64 128)
      if(d EQUAL 64)
        set(p 43)
      else()
        set(p 40)
      endif()
      math(EXPR lbytes "4 * 32 * 3 * ${d}")
      # suffix | priority | rows (MAX_Q_ROWS, BLOCK_M) | WG | more options
      set(rows "decode|${p}|16|32|")
      if(paged AND d EQUAL 128)
        list(APPEND rows "decode8|42|8|64|CU_SLOTS 3"
                         "decode8_r168|41|8|64|PTX_MAXNREG 168")
      endif()
      foreach(row ${rows})
        string(REPLACE "|" ";" r "${row}")
        list(GET r 0 sfx)
        list(GET r 1 prio)
        list(GET r 2 nrow)
        list(GET r 3 wg)
        list(GET r 4 extra)
        separate_arguments(extra)
        # The cache kinds, as for the rows above. `_q8` (paged only): a ring
        # of 4 raw stages (3 tiles in flight, half the bytes each) and one
        # converted stage, 48 KiB at d128; register-capped rows unroll the
        # conversion by 2 (attention_mma.clh).
        foreach(cache raw q8)
          if(cache STREQUAL raw)
            set(name ${op}_mma_sm80_${dtl}_d${d}_${sfx})
            set(cc 80)
            set(cdts ${dt})
            set(lb ${lbytes})
            set(nst 3)
            set(qdefs)
          elseif(paged)
            set(name ${op}_mma_sm89_${dtl}_d${d}_${sfx}_q8)
            set(cc 89)
            set(cdts FP8_E4M3 FP8_E5M2 I8 TENSOR_SCALES)
            math(EXPR lb "2 * 6 * 32 * ${d}")
            set(nst 4)
            set(qdefs KV_Q8=1)
            if(extra MATCHES "PTX_MAXNREG")
              list(APPEND qdefs DEC_CVT_UNROLL=2)
            endif()
          else()
            continue()
          endif()
          clattn_variant(${name} OP ${OPU}
            SOURCE attention.cl PRIORITY ${prio} CLASS GPU SOURCE_ONLY
            REQUIRES NV_PTX MIN_NV_CC ${cc} HEAD_DIM_MULTIPLE 8 DTYPES ${dt}
            CACHE_DTYPES ${cdts} MAX_Q_ROWS ${nrow} ${extra}
            LOCAL_MEM ${lb}
            TILE BLOCK_M=${nrow} BLOCK_N=32 LANES=32 D_MAX=${d} SG=0 WG=${wg}
                 MMA=80
            DEFINES PAGED=${paged} LOCAL_BYTES=${lb} MMA_BF16=${bf} DECODE=1
                    NSTAGE=${nst} KBUF=1 DEC_ROWS=${nrow} ${qdefs})
        endforeach()
      endforeach()
    endforeach()
  endforeach()
endforeach()
# tf32 rows (opt-in: clattn_attention_params.allow_tf32; TF32 keeps them out
# of every call that did not set it): f32 q, k, v (or cache) and out through
# m16n8k8 tf32 products with f32 accumulation (attention_mma.clh,
# MMA_TF32=1). Staged tiles are f32, twice the bytes of a 16-bit key, so the
# tiles keep the 16-bit rows' 16 KiB per K or V tile with half the keys at
# d128 (BLOCK_N 32); head_dim must be a multiple of 4 (4-float chunks).
# Per op: paged, warps, K buffers and flag bytes as the 16-bit rows above.
foreach(row "attention;0;8;2;0" "paged_attention;1;4;1;8")
  list(GET row 0 op)
  list(GET row 1 paged)
  list(GET row 2 warps)
  list(GET row 3 kbuf)
  list(GET row 4 flags)
  string(TOUPPER ${op} OPU)
  math(EXPR bm "16 * ${warps}")
  math(EXPR wg "32 * ${warps}")
  foreach(d 64 128)
    if(d EQUAL 64)
      set(bn 64)
      set(p 31)
    else()
      set(bn 32)
      set(p 30)
    endif()
    # kbuf K tiles and a V tile of bn keys x d floats, page lookups of two
    # tiles (paged), the flag words unless they live in the V tile.
    math(EXPR lbytes "4 * (${kbuf} + 1) * ${bn} * ${d} + ${paged} * (16 * ${bn} + 8) + ${flags}")
    clattn_variant(${op}_mma_sm80_tf32_d${d} OP ${OPU}
      SOURCE attention.cl PRIORITY ${p} CLASS GPU SOURCE_ONLY TF32
      REQUIRES NV_PTX MIN_NV_CC 80 HEAD_DIM_MULTIPLE 4 DTYPES F32
      CACHE_DTYPES F32
      LOCAL_MEM ${lbytes}
      TILE BLOCK_M=${bm} BLOCK_N=${bn} LANES=32 D_MAX=${d} SG=0 WG=${wg} MMA=80
      DEFINES PAGED=${paged} LOCAL_BYTES=${lbytes} MMA_BF16=0 MMA_TF32=1 KBUF=${kbuf})
  endforeach()
endforeach()
