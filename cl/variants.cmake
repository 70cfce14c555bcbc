# SPDX-License-Identifier: Apache-2.0
# The variant list: every kernel variant of every op, in one place. Each row
# becomes a registry entry (host selection) and, unless SOURCE_ONLY, a SPIR-V
# module. Rows of an op are tried by PRIORITY, highest first; the portable
# row (PRIORITY 0, no REQUIRES) must exist for every op.

# ---- kv_write -----------------------------------------------------------------
clattn_variant(kv_write_generic OP KV_WRITE SOURCE kv_write.cl PRIORITY 0
  TILE VEC=1)
clattn_variant(kv_write_vec4 OP KV_WRITE SOURCE kv_write.cl PRIORITY 10
  HEAD_DIM_MULTIPLE 4 TILE VEC=4)

# ---- attention / paged_attention ------------------------------------------------
