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
clattn_variant(attention_cpu_d64 OP ATTENTION
  SOURCE attention.cl PRIORITY 22 CLASS CPU
  LOCAL_MEM 34952 TILE BLOCK_M=32 BLOCK_N=64 LANES=4 D_MAX=64 SG=0 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=34952)
clattn_variant(attention_cpu_d128 OP ATTENTION
  SOURCE attention.cl PRIORITY 21 CLASS CPU
  LOCAL_MEM 59528 TILE BLOCK_M=32 BLOCK_N=64 LANES=4 D_MAX=128 SG=0 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=59528)
clattn_variant(attention_cpu_d256 OP ATTENTION
  SOURCE attention.cl PRIORITY 20 CLASS CPU
  LOCAL_MEM 71304 TILE BLOCK_M=32 BLOCK_N=32 LANES=4 D_MAX=256 SG=0 WG=128
  DEFINES PAGED=0 LOCAL_BYTES=71304)
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
  LOCAL_MEM 35464 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=32 BLOCK_N=64 LANES=4 D_MAX=64 SG=0 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=35464)
clattn_variant(paged_attention_cpu_d128 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 21 CLASS CPU
  LOCAL_MEM 60040 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=32 BLOCK_N=64 LANES=4 D_MAX=128 SG=0 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=60040)
clattn_variant(paged_attention_cpu_d256 OP PAGED_ATTENTION
  SOURCE attention.cl PRIORITY 20 CLASS CPU
  LOCAL_MEM 71560 CACHE_DTYPES ${KV_CACHE}
  TILE BLOCK_M=32 BLOCK_N=32 LANES=4 D_MAX=256 SG=0 WG=128
  DEFINES PAGED=1 LOCAL_BYTES=71560)
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
