// SPDX-License-Identifier: Apache-2.0
// Table-driven validation test: one case per row of the validation tables of
// docs/api.md (section 7), each a valid call with one argument made bad; it
// checks status, message (function, argument, value), the event slot, that
// nothing was written, and that the tables and the cases list the same rows.
#include "testutil.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KV, ATT, PAGED, BOTH }; // BOTH: a shared attention row, run for both

typedef struct call {
  int op;
  clattn_context ctx;
  cl_command_queue q;
  cl_uint nw;
  const cl_event *wait;
  int no_params;
  clattn_kv_write_params kp;
  clattn_attention_params ap;
  clattn_tensor key, value, qt, k, v, out, lse;
  clattn_tensor *pkey, *pvalue, *pq, *pk, *pv, *pout, *plse;
  clattn_cache kc, vc;
  clattn_cache *pkc, *pvc;
  clattn_buffer slots, cu_q, cu_k, seq_lens, bt;
} call;

// Fixture: every buffer a valid call of each op needs, plus bad objects.
static struct {
  tu_env *e;
  tu_buf key, value, slots, kcache, vcache;     // kv_write
  tu_buf q, k, v, out, lse, cu_q, cu_k;         // attention
  tu_buf pq_cu, seq_lens, bt, pkcache, pvcache; // paged_attention
  cl_mem tiny;                                  // 4 B
  cl_context other_ctx;
  cl_command_queue other_queue;
  cl_mem other_mem;
  cl_event done; // a completed user event
} F;

enum { T = 3, H = 4, KH = 2, D = 8, NB = 2, BS = 4, TQ = 5, TK = 6 };
enum { PNB = 4, PBS = 2, PTQ = 2 };

static void fixture(void) {
  if (F.e)
    return;
  F.e = tu_env_get();
  ck_assert(F.e);
  tu_env *e = F.e;
  tu_rng r;
  tu_rng_init(&r, tu_seed());
  struct {
    tu_buf *b;
    size_t n, elem;
    int fill; // 1: random floats, 0: poison (outputs), 2: set below
  } all[] = {{&F.key, T * KH * D, 4, 1},
             {&F.value, T * KH * D, 4, 1},
             {&F.slots, T, 8, 2},
             {&F.kcache, NB * BS * KH * D, 4, 0},
             {&F.vcache, NB * BS * KH * D, 4, 0},
             {&F.q, TQ * H * D, 4, 1},
             {&F.k, TK * KH * D, 4, 1},
             {&F.v, TK * KH * D, 4, 1},
             {&F.out, TQ * H * D, 4, 0},
             {&F.lse, H * TQ, 4, 0},
             {&F.cu_q, 3, 4, 2},
             {&F.cu_k, 3, 4, 2},
             {&F.pq_cu, 3, 4, 2},
             {&F.seq_lens, 2, 4, 2},
             {&F.bt, 4, 4, 2},
             {&F.pkcache, PNB * PBS * KH * D, 4, 1},
             {&F.pvcache, PNB * PBS * KH * D, 4, 1}};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    ck_assert_int_eq(tu_buf_alloc(e, all[i].b, all[i].n, all[i].elem), 0);
    if (all[i].fill == 1)
      for (size_t j = 0; j < all[i].n; j++)
        tu_store(all[i].b->host, CLATTN_F32, j, tu_uniform(&r, -1, 1));
  }
  const int64_t slots[T] = {0, 5, -1};
  const int32_t cu_q[3] = {0, 2, TQ}, cu_k[3] = {0, 3, TK}, pcu[3] = {0, 1, 2},
                sl[2] = {3, 4}, bt[4] = {3, 0, 1, 2};
  memcpy(F.slots.host, slots, sizeof slots);
  memcpy(F.cu_q.host, cu_q, sizeof cu_q);
  memcpy(F.cu_k.host, cu_k, sizeof cu_k);
  memcpy(F.pq_cu.host, pcu, sizeof pcu);
  memcpy(F.seq_lens.host, sl, sizeof sl);
  memcpy(F.bt.host, bt, sizeof bt);
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    ck_assert_int_eq(all[i].fill ? tu_buf_upload(e, all[i].b)
                                 : tu_buf_poison(e, all[i].b),
                     0);
  cl_int err;
  F.tiny = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, 4, NULL, &err);
  F.other_ctx = clCreateContext(NULL, 1, &e->device, NULL, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  F.other_queue = clCreateCommandQueue(F.other_ctx, e->device, 0, &err);
  F.other_mem =
      clCreateBuffer(F.other_ctx, CL_MEM_READ_WRITE, 1 << 16, NULL, &err);
  F.done = clCreateUserEvent(e->ctx, &err);
  clSetUserEventStatus(F.done, CL_COMPLETE);
}

static void base(call *c, int op) {
  memset(c, 0, sizeof *c);
  c->op = op;
  c->ctx = F.e->cctx;
  c->q = F.e->queue;
  c->pkey = &c->key, c->pvalue = &c->value, c->pq = &c->qt, c->pk = &c->k;
  c->pv = &c->v, c->pout = &c->out, c->pkc = &c->kc, c->pvc = &c->vc;
  c->plse = NULL;
  if (op == KV) {
    c->kp = (clattn_kv_write_params)CLATTN_KV_WRITE_PARAMS_INIT;
    c->kp.num_tokens = T, c->kp.num_kv_heads = KH, c->kp.head_dim = D;
    c->key = tu_tensor(&F.key, CLATTN_F32, KH * D, D);
    c->value = tu_tensor(&F.value, CLATTN_F32, KH * D, D);
    c->slots = tu_buffer(&F.slots);
    clattn_cache kc = clattn__cache(F.kcache.mem, TU_GUARD, BS * KH * D, KH * D,
                                    D, CLATTN_F32, BS, NB);
    c->kc = kc;
    kc.buffer = F.vcache.mem;
    c->vc = kc;
    return;
  }
  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = 2, p.num_heads = H, p.num_kv_heads = KH, p.head_dim = D;
  p.total_q = op == PAGED ? PTQ : TQ, p.total_k = TK;
  p.max_seqlen_q = 3, p.max_seqlen_k = 4;
  p.max_blocks_per_seq = 2, p.block_table_stride = 2;
  c->ap = p;
  c->qt = tu_tensor(&F.q, CLATTN_F32, H * D, D);
  c->out = tu_tensor(&F.out, CLATTN_F32, H * D, D);
  c->lse = tu_tensor(&F.lse, CLATTN_F32, TQ, 0);
  c->k = tu_tensor(&F.k, CLATTN_F32, KH * D, D);
  c->v = tu_tensor(&F.v, CLATTN_F32, KH * D, D);
  c->cu_q = tu_buffer(op == PAGED ? &F.pq_cu : &F.cu_q);
  c->cu_k = tu_buffer(&F.cu_k);
  c->seq_lens = tu_buffer(&F.seq_lens);
  c->bt = tu_buffer(&F.bt);
  clattn_cache kc = clattn__cache(F.pkcache.mem, TU_GUARD, PBS * KH * D, KH * D,
                                  D, CLATTN_F32, PBS, PNB);
  c->kc = kc;
  kc.buffer = F.pvcache.mem;
  c->vc = kc;
}

static clattn_status run(call *c, cl_event *ev) {
  if (c->op == KV)
    return clattn_kv_write(c->ctx, c->q, c->no_params ? NULL : &c->kp, c->pkey,
                           c->pvalue, c->slots, c->pkc, c->pvc, c->nw, c->wait,
                           ev);
  if (c->op == ATT)
    return clattn_attention(c->ctx, c->q, c->no_params ? NULL : &c->ap, c->pq,
                            c->pk, c->pv, c->cu_q, c->cu_k, c->pout, c->plse,
                            c->nw, c->wait, ev);
  return clattn_paged_attention(c->ctx, c->q, c->no_params ? NULL : &c->ap,
                                c->pq, c->pkc, c->pvc, c->cu_q, c->seq_lens,
                                c->bt, c->pout, c->plse, c->nw, c->wait, ev);
}

static cl_event wl_null[2];
static clattn_context released_ctx(void) {
  clattn_context x = NULL;
  ck_assert_int_eq(clattn_context_create(F.e->ctx, F.e->device, NULL, &x), 0);
  clattn_context_release(x);
  return x;
}

// X(op, table row, name, status, message fragment, mutation...). The row
// strings are the "#" column of docs/api.md section 7.
#define S(x) CLATTN_ERROR_##x
#define ALL_CASES(X)                                                           \
  X(KV, "1", ctx_null, S(INVALID_CONTEXT), "", c->ctx = NULL)                  \
  X(KV, "1", ctx_released, S(INVALID_CONTEXT), "", c->ctx = released_ctx())    \
  X(KV, "2", params_null, S(INVALID_ARGUMENT), "params is NULL",               \
    c->no_params = 1)                                                          \
  X(KV, "3", queue_null, S(INVALID_ARGUMENT), "queue is NULL", c->q = NULL)    \
  X(KV, "5", queue_other_ctx, S(INVALID_ARGUMENT),                             \
    "queue belongs to another cl_context", c->q = F.other_queue)               \
  X(KV, "6", wait_no_list, S(INVALID_ARGUMENT),                                \
    "num_events_in_wait_list is 2 but event_wait_list is NULL", c->nw = 2)     \
  X(KV, "7", wait_null_entry, S(INVALID_ARGUMENT),                             \
    "event_wait_list[1] is NULL", wl_null[0] = F.done, c->nw = 2,              \
    c->wait = wl_null)                                                         \
  X(KV, "8", num_tokens, S(INVALID_ARGUMENT), "num_tokens -1 must be >= 0",    \
    c->kp.num_tokens = -1)                                                     \
  X(KV, "9", num_kv_heads, S(INVALID_ARGUMENT), "num_kv_heads 0 must be >= 1", \
    c->kp.num_kv_heads = 0)                                                    \
  X(KV, "10", head_dim, S(INVALID_ARGUMENT), "head_dim 257 is outside 1..256", \
    c->kp.head_dim = 257)                                                      \
  X(KV, "11", value_alone, S(INVALID_ARGUMENT),                                \
    "(value given, value_cache NULL)", c->pvc = NULL)                          \
  X(KV, "12", key_null, S(INVALID_ARGUMENT), "key is NULL", c->pkey = NULL)    \
  X(KV, "13", key_dtype, S(INVALID_ARGUMENT), "key dtype i8 (5) is not",       \
    c->key.dtype = CLATTN_I8)                                                  \
  X(KV, "14", key_stride, S(INVALID_ARGUMENT), "key strides (16, -8) must",    \
    c->key.stride[1] = -8)                                                     \
  X(KV, "16", key_other_ctx, S(INVALID_ARGUMENT),                              \
    "key belongs to another cl_context", c->key.buffer = F.other_mem)          \
  X(KV, "17", key_small, S(BUFFER_TOO_SMALL),                                  \
    "key needs 192 B but its buffer holds 4 B", c->key.buffer = F.tiny,        \
    c->key.offset = 0)                                                         \
  X(KV, "18", key_cache_null, S(INVALID_ARGUMENT), "key_cache is NULL",        \
    c->pkc = NULL)                                                             \
  X(KV, "19", key_cache_dtype, S(INVALID_ARGUMENT),                            \
    "key_cache dtype i32 (6) is not", c->kc.dtype = CLATTN_I32)                \
  X(KV, "20", block_size, S(INVALID_ARGUMENT),                                 \
    "key_cache block_size 0 must be >= 1", c->kc.block_size = 0)               \
  X(KV, "21", num_blocks, S(INVALID_ARGUMENT),                                 \
    "key_cache num_blocks 0 must be >= 1", c->kc.num_blocks = 0)               \
  X(KV, "22", cache_stride, S(INVALID_ARGUMENT),                               \
    "key_cache strides (block 64, slot -1, head 8)", c->kc.stride_slot = -1)   \
  X(KV, "23", cache_other_ctx, S(INVALID_ARGUMENT),                            \
    "key_cache belongs to another cl_context", c->kc.buffer = F.other_mem)     \
  X(KV, "24", cache_small, S(BUFFER_TOO_SMALL),                                \
    "key_cache needs 768 B but its buffer holds 4 B", c->kc.buffer = F.tiny)   \
  X(KV, "24a", cache_alias, S(INVALID_ARGUMENT),                               \
    "key_cache is written, but its stride 4 (of a dimension of 2) is below "   \
    "the 8 elements",                                                          \
    c->kc.stride_head = 4)                                                     \
  X(KV, "24b", scale_mode_bad, S(INVALID_ARGUMENT),                            \
    "key_cache scale_mode 3 is not 0 (tensor)", c->kc.dtype = CLATTN_FP8_E4M3, \
    c->kc.scale_mode = 3)                                                      \
  X(KV, "24b", float_scale_mode, S(INVALID_ARGUMENT),                          \
    "key_cache scale_mode 2 needs an fp8/i8 cache",                            \
    c->kc.scale_mode = CLATTN_SCALE_TOKEN_HEAD)                                \
  X(KV, "24b", quant_scale_nan, S(INVALID_ARGUMENT),                           \
    "key_cache scale (nan) must be finite", c->kc.dtype = CLATTN_FP8_E4M3,     \
    c->kc.scale = NAN)                                                         \
  X(KV, "24b", scale_dtype, S(INVALID_ARGUMENT),                               \
    "key_cache scale_dtype f16 (1) is not accepted", c->kc.dtype = CLATTN_I8,  \
    c->kc.scale_mode = CLATTN_SCALE_TENSOR_BUFFER,                             \
    c->kc.scale_dtype = CLATTN_F16)                                            \
  X(KV, "24b", scales_null, S(INVALID_ARGUMENT),                               \
    "key_cache scales buffer is NULL", c->kc.dtype = CLATTN_FP8_E5M2,          \
    c->kc.scale_mode = CLATTN_SCALE_TOKEN_HEAD)                                \
  X(KV, "24b", scales_small, S(BUFFER_TOO_SMALL), "key_cache scales needs",    \
    c->kc.dtype = CLATTN_FP8_E4M3, c->kc.scale_mode = CLATTN_SCALE_TOKEN_HEAD, \
    c->kc.scales.buffer = F.tiny, c->kc.scale_stride_head = 1,                 \
    c->kc.scale_stride_slot = KH, c->kc.scale_stride_block = BS * KH)          \
  X(KV, "25", key_into_cache, S(INVALID_ARGUMENT),                             \
    "key dtype f16 cannot be written into a f32 cache",                        \
    c->key.dtype = CLATTN_F16)                                                 \
  X(KV, "26-38", value_cache_bs, S(INVALID_ARGUMENT),                          \
    "value_cache block_size 0 must be >= 1", c->vc.block_size = 0)             \
  X(KV, "26-38", value_small, S(BUFFER_TOO_SMALL), "value needs 192 B",        \
    c->value.buffer = F.tiny, c->value.offset = 0)                             \
  X(KV, "39", geometry, S(INVALID_ARGUMENT),                                   \
    "value_cache geometry (1 blocks of 4) differs from key_cache's (2 "        \
    "blocks of 4)",                                                            \
    c->vc.num_blocks = 1)                                                      \
  X(KV, "40", slots_null, S(INVALID_ARGUMENT), "slot_mapping buffer is NULL",  \
    c->slots.buffer = NULL, c->kp.num_tokens = 0)                              \
  X(KV, "41", slots_small, S(BUFFER_TOO_SMALL),                                \
    "slot_mapping needs 24 B but its buffer holds 4 B",                        \
    c->slots.buffer = F.tiny, c->slots.offset = 0)                             \
  X(KV, "42", status_small, S(BUFFER_TOO_SMALL),                               \
    "status needs 8 B but its buffer holds 4 B", c->kp.status.buffer = F.tiny, \
    c->kp.status.offset = 1)                                                   \
  X(BOTH, "1", ctx_null, S(INVALID_CONTEXT), "", c->ctx = NULL)                \
  X(BOTH, "2", params_null, S(INVALID_ARGUMENT), "params is NULL",             \
    c->no_params = 1)                                                          \
  X(BOTH, "3", queue_null, S(INVALID_ARGUMENT), "queue is NULL", c->q = NULL)  \
  X(BOTH, "5", queue_other, S(INVALID_ARGUMENT), "queue belongs to another",   \
    c->q = F.other_queue)                                                      \
  X(BOTH, "6", wait_list, S(INVALID_ARGUMENT),                                 \
    "num_events_in_wait_list is 0 but event_wait_list is not NULL",            \
    c->wait = &F.done)                                                         \
  X(BOTH, "7", wait_null, S(INVALID_ARGUMENT), "event_wait_list[1] is NULL",   \
    wl_null[0] = F.done, c->nw = 2, c->wait = wl_null)                         \
  X(BOTH, "8", batch, S(INVALID_ARGUMENT), "batch (-1) must be >= 0",          \
    c->ap.batch = -1)                                                          \
  X(BOTH, "9", kv_heads, S(INVALID_ARGUMENT), "num_kv_heads (0) must be >= 1", \
    c->ap.num_kv_heads = 0)                                                    \
  X(BOTH, "10", heads, S(INVALID_ARGUMENT), "num_heads (0) must be >= 1",      \
    c->ap.num_heads = 0)                                                       \
  X(BOTH, "11", ratio, S(INVALID_ARGUMENT),                                    \
    "num_heads (6) is not a multiple of num_kv_heads (4)",                     \
    c->ap.num_heads = 6, c->ap.num_kv_heads = 4)                               \
  X(BOTH, "12", head_dim0, S(INVALID_ARGUMENT),                                \
    "head_dim (0) is outside 1..256", c->ap.head_dim = 0)                      \
  X(BOTH, "12", head_dim257, S(INVALID_ARGUMENT),                              \
    "head_dim (257) is outside 1..256", c->ap.head_dim = 257)                  \
  X(BOTH, "13", total_q, S(INVALID_ARGUMENT), "total_q (-1) must be >= 0",     \
    c->ap.total_q = -1)                                                        \
  X(BOTH, "15", msq, S(INVALID_ARGUMENT), "max_seqlen_q (-1) must be >= 0",    \
    c->ap.max_seqlen_q = -1)                                                   \
  X(BOTH, "16", msk, S(INVALID_ARGUMENT), "max_seqlen_k (-1) must be >= 0",    \
    c->ap.max_seqlen_k = -1)                                                   \
  X(BOTH, "17", wl, S(INVALID_ARGUMENT), "window_left (-2) must be >= -1",     \
    c->ap.window_left = -2)                                                    \
  X(BOTH, "18", wr, S(INVALID_ARGUMENT), "window_right (-2) must be >= -1",    \
    c->ap.window_right = -2, c->ap.causal = 1)                                 \
  X(BOTH, "19", scale_nan, S(INVALID_ARGUMENT), "scale (nan) must be finite",  \
    c->ap.scale = NAN)                                                         \
  X(BOTH, "19", scale_inf, S(INVALID_ARGUMENT), "scale (-inf) must be finite", \
    c->ap.scale = -INFINITY)                                                   \
  X(BOTH, "20", softcap, S(INVALID_ARGUMENT),                                  \
    "softcap (-1) must be finite and >= 0", c->ap.softcap = -1)                \
  X(BOTH, "21", splits, S(INVALID_ARGUMENT), "num_splits (300) is outside",    \
    c->ap.num_splits = 300)                                                    \
  X(BOTH, "24", q_null, S(INVALID_ARGUMENT), "q is NULL", c->pq = NULL)        \
  X(BOTH, "25", q_dtype, S(INVALID_ARGUMENT), "q dtype i8 (5) is not",         \
    c->qt.dtype = CLATTN_I8)                                                   \
  X(BOTH, "26", q_stride, S(INVALID_ARGUMENT), "q strides (-128, 8) must",     \
    c->qt.stride[0] = -128)                                                    \
  X(BOTH, "27", q_other, S(INVALID_ARGUMENT), "q belongs to another",          \
    c->qt.buffer = F.other_mem)                                                \
  X(BOTH, "28", q_small, S(BUFFER_TOO_SMALL), "q needs",                       \
    c->qt.buffer = F.tiny, c->qt.offset = 0)                                   \
  X(BOTH, "29", out_null, S(INVALID_ARGUMENT), "out is NULL", c->pout = NULL)  \
  X(BOTH, "30", out_dtype, S(INVALID_ARGUMENT),                                \
    "out dtype f16 differs from q dtype f32", c->out.dtype = CLATTN_F16)       \
  X(BOTH, "31", out_small, S(BUFFER_TOO_SMALL), "out needs",                   \
    c->out.offset = (cl_ulong)1 << 40)                                         \
  X(BOTH, "31a", out_alias, S(INVALID_ARGUMENT),                               \
    "out is written, but its stride 4 (of a dimension of 4) is below the 8",   \
    c->out.stride[1] = 4)                                                      \
  X(BOTH, "32", lse_dtype, S(INVALID_ARGUMENT), "lse dtype f16 (1) is not",    \
    c->plse = &c->lse, c->lse.dtype = CLATTN_F16)                              \
  X(BOTH, "32", lse_small, S(BUFFER_TOO_SMALL), "lse needs",                   \
    c->plse = &c->lse, c->lse.buffer = F.tiny, c->lse.offset = 0)              \
  X(BOTH, "32a", lse_alias, S(INVALID_ARGUMENT),                               \
    "lse is written, but its stride 1 (of a dimension of 4) is below the",     \
    c->plse = &c->lse, c->lse.stride[0] = 1)                                   \
  X(BOTH, "33", alibi, S(BUFFER_TOO_SMALL),                                    \
    "alibi_slopes needs 16 B but its buffer holds 4 B",                        \
    c->ap.alibi_slopes.buffer = F.tiny)                                        \
  X(BOTH, "34", sinks, S(BUFFER_TOO_SMALL),                                    \
    "sinks needs 16 B but its buffer holds 4 B", c->ap.sinks.buffer = F.tiny)  \
  X(BOTH, "35", status, S(BUFFER_TOO_SMALL),                                   \
    "status needs 8 B but its buffer holds 4 B", c->ap.status.buffer = F.tiny, \
    c->ap.status.offset = 1)                                                   \
  X(PAGED, "22", mbps, S(INVALID_ARGUMENT), "max_blocks_per_seq (0) must be",  \
    c->ap.max_blocks_per_seq = 0)                                              \
  X(PAGED, "23", bts, S(INVALID_ARGUMENT), "block_table_stride (-1) must be",  \
    c->ap.block_table_stride = -1)                                             \
  X(PAGED, "23", bts_huge, S(INVALID_ARGUMENT),                                \
    "block_table_stride (9223372036854775807) makes the block table larger",   \
    c->ap.block_table_stride = INT64_MAX)                                      \
  X(ATT, "14", total_k, S(INVALID_ARGUMENT), "total_k (-1) must be >= 0",      \
    c->ap.total_k = -1)                                                        \
  X(ATT, "36", k_null, S(INVALID_ARGUMENT), "k is NULL", c->pk = NULL)         \
  X(ATT, "37", k_dtype, S(INVALID_ARGUMENT), "k dtype f16 (1) is not",         \
    c->k.dtype = CLATTN_F16)                                                   \
  X(ATT, "37", k_small, S(BUFFER_TOO_SMALL),                                   \
    "k needs 384 B but its buffer holds 4 B", c->k.buffer = F.tiny,            \
    c->k.offset = 0)                                                           \
  X(ATT, "38", v_null, S(INVALID_ARGUMENT), "v buffer is NULL",                \
    c->v.buffer = NULL)                                                        \
  X(ATT, "39", cu_q_null, S(INVALID_ARGUMENT), "cu_seqlens_q buffer is NULL",  \
    c->cu_q.buffer = NULL, c->ap.batch = 0)                                    \
  X(ATT, "39", cu_q_small, S(BUFFER_TOO_SMALL),                                \
    "cu_seqlens_q needs 12 B but its buffer holds 4 B",                        \
    c->cu_q.buffer = F.tiny, c->cu_q.offset = 0)                               \
  X(ATT, "40", cu_k_small, S(BUFFER_TOO_SMALL),                                \
    "cu_seqlens_k needs 12 B but its buffer holds 4 B",                        \
    c->cu_k.buffer = F.tiny, c->cu_k.offset = 0)                               \
  X(PAGED, "36", kc_null, S(INVALID_ARGUMENT), "key_cache is NULL",            \
    c->pkc = NULL)                                                             \
  X(PAGED, "37", kc_dtype, S(INVALID_ARGUMENT), "key_cache dtype i32 (6) is",  \
    c->kc.dtype = CLATTN_I32)                                                  \
  X(PAGED, "38", kc_bs, S(INVALID_ARGUMENT),                                   \
    "key_cache block_size 0 must be >= 1", c->kc.block_size = 0)               \
  X(PAGED, "39", kc_small, S(BUFFER_TOO_SMALL),                                \
    "key_cache needs 768 B but its buffer holds 4 B", c->kc.buffer = F.tiny)   \
  X(PAGED, "40", vc_null, S(INVALID_ARGUMENT), "value_cache is NULL",          \
    c->pvc = NULL)                                                             \
  X(PAGED, "41", vc_dtype, S(INVALID_ARGUMENT),                                \
    "value_cache dtype f16 differs from key_cache dtype f32",                  \
    c->vc.dtype = CLATTN_F16)                                                  \
  X(PAGED, "42", vc_geometry, S(INVALID_ARGUMENT),                             \
    "value_cache geometry (1 blocks of 2) differs from key_cache's (4 "        \
    "blocks of 2)",                                                            \
    c->vc.num_blocks = 1)                                                      \
  X(PAGED, "43", cache_scale, S(INVALID_ARGUMENT),                             \
    "key_cache scale (-1) must be finite", c->kc.dtype = CLATTN_FP8_E4M3,      \
    c->vc.dtype = CLATTN_FP8_E4M3, c->kc.scale = -1)                           \
  X(PAGED, "44", cu_q_small, S(BUFFER_TOO_SMALL),                              \
    "cu_seqlens_q needs 12 B but its buffer holds 4 B",                        \
    c->cu_q.buffer = F.tiny, c->cu_q.offset = 0)                               \
  X(PAGED, "45", seq_lens_null, S(INVALID_ARGUMENT),                           \
    "seq_lens_k buffer is NULL", c->seq_lens.buffer = NULL)                    \
  X(PAGED, "45", bt_small, S(BUFFER_TOO_SMALL),                                \
    "block_table needs 264 B but its buffer holds 4 B", c->bt.buffer = F.tiny, \
    c->bt.offset = 0, c->ap.block_table_stride = 64)

typedef struct vcase {
  int op;
  const char *row, *name;
  clattn_status want;
  const char *msg;
  void (*mutate)(call *c);
} vcase;

#define DEF_MUT(op, row, name, st, msg, ...)                                   \
  static void mut_##op##_##name(call *c) { __VA_ARGS__; }
ALL_CASES(DEF_MUT)
#define DEF_ROW(op, row, name, st, msg, ...)                                   \
  {op, row, #name, st, msg, mut_##op##_##name},
static const vcase cases[] = {ALL_CASES(DEF_ROW)};
#define N_CASES (sizeof cases / sizeof cases[0])

static const char *const fn_names[] = {"clattn_kv_write", "clattn_attention",
                                       "clattn_paged_attention"};

START_TEST(every_row_rejected_cleanly) {
  fixture();
  int runs = 0;
  for (size_t i = 0; i < N_CASES; i++)
    for (int op = KV; op <= PAGED; op++) {
      const vcase *vc = &cases[i];
      if (vc->op != op && !(vc->op == BOTH && op != KV))
        continue;
      call c;
      base(&c, op);
      vc->mutate(&c);
      cl_event ev = (cl_event)(uintptr_t)1;
      clattn_status st = run(&c, &ev);
      ck_assert_msg(st == vc->want, "%s row %s (%s): got %s, want %s",
                    fn_names[op], vc->row, vc->name, clattn_status_string(st),
                    clattn_status_string(vc->want));
      if (vc->want == CLATTN_ERROR_INVALID_CONTEXT) {
        ck_assert_msg(ev == (cl_event)(uintptr_t)1, "%s row %s: *event touched",
                      fn_names[op], vc->row);
        continue;
      }
      ck_assert_msg(ev == NULL, "%s row %s: *event not NULL", fn_names[op],
                    vc->row);
      const char *m = clattn_context_last_error(c.ctx);
      ck_assert_msg(strncmp(m, fn_names[op], strlen(fn_names[op])) == 0 &&
                        strstr(m, vc->msg),
                    "%s row %s (%s): message '%s' lacks '%s'", fn_names[op],
                    vc->row, vc->name, m, vc->msg);
      runs++;
    }
  // Nothing was enqueued: the outputs still hold their poison and guards.
  tu_buf *outs[] = {&F.kcache, &F.vcache, &F.out, &F.lse};
  for (size_t i = 0; i < 4; i++) {
    ck_assert_int_eq(tu_buf_download(F.e, outs[i]), 0);
    for (size_t j = 0; j < outs[i]->count * outs[i]->elem; j++)
      ck_assert_msg(outs[i]->host[j] == TU_POISON_BYTE,
                    "output %zu byte %zu written by a rejected call", i, j);
  }
  printf("validation: %d rejected calls checked (%zu table cases)\n", runs,
         (size_t)N_CASES);
  // The unmutated calls are valid (so every rejection above is the row's).
  for (int op = KV; op <= PAGED; op++) {
    call c;
    base(&c, op);
    clattn_status st = run(&c, NULL);
    ck_assert_msg(st == CLATTN_SUCCESS, "%s base call: %s: %s", fn_names[op],
                  clattn_status_string(st), clattn_context_last_error(c.ctx));
  }
  ck_assert_int_eq(clFinish(F.e->queue), CL_SUCCESS);
}
END_TEST

// Row 5's "another device": a queue on a sub-device, or on a second device
// of the platform, in a context holding both (skipped when neither exists).
START_TEST(queue_of_another_device) {
  fixture();
  cl_device_partition_property props[] = {CL_DEVICE_PARTITION_EQUALLY, 1, 0};
  cl_device_id other = NULL, all[8];
  cl_uint n = 0;
  int sub =
      clCreateSubDevices(F.e->device, props, 1, &other, &n) == CL_SUCCESS &&
      n > 0;
  if (!sub && clGetDeviceIDs(F.e->platform, CL_DEVICE_TYPE_ALL, 8, all, &n) ==
                  CL_SUCCESS)
    for (cl_uint i = 0; i < n && !other; i++)
      if (all[i] != F.e->device)
        other = all[i];
  if (!other) {
    printf("SKIP queue_of_another_device: no sub-device and no second "
           "device on the platform\n");
    return;
  }
  cl_device_id devs[2] = {F.e->device, other};
  cl_int err;
  cl_context both = clCreateContext(NULL, 2, devs, NULL, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  cl_command_queue q = clCreateCommandQueue(both, other, 0, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  clattn_context cc = NULL;
  ck_assert_int_eq(clattn_context_create(both, F.e->device, NULL, &cc), 0);
  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_kv_heads = 1, p.head_dim = 1;
  clattn_buffer none = {NULL, 0};
  ck_assert_int_eq(
      clattn_kv_write(cc, q, &p, NULL, NULL, none, NULL, NULL, 0, NULL, NULL),
      CLATTN_ERROR_INVALID_ARGUMENT);
  ck_assert_str_eq(clattn_context_last_error(cc),
                   "clattn_kv_write: queue belongs to another device than the "
                   "clattn context's");
  clattn_context_release(cc);
  clReleaseCommandQueue(q);
  clReleaseContext(both);
  if (sub)
    clReleaseDevice(other);
}
END_TEST

// The library and context functions (docs/api.md, "Library and context
// functions" table).
START_TEST(context_functions) {
  fixture();
  tu_env *e = F.e;
  clattn_context x = (clattn_context)(uintptr_t)1;
  ck_assert_int_eq(clattn_context_create(e->ctx, e->device, NULL, NULL),
                   CLATTN_ERROR_INVALID_ARGUMENT); // C1
  ck_assert_str_eq(clattn_context_last_error(NULL),
                   "clattn_context_create: out is NULL");
  ck_assert_int_eq(clattn_context_create(NULL, e->device, NULL, &x),
                   CLATTN_ERROR_INVALID_ARGUMENT); // C2
  ck_assert_ptr_null(x);
  ck_assert_str_eq(clattn_context_last_error(NULL),
                   "clattn_context_create: context is NULL");
  ck_assert_int_eq(clattn_context_create(e->ctx, NULL, NULL, &x),
                   CLATTN_ERROR_INVALID_ARGUMENT); // C2
  cl_device_id other = NULL; // C3: a device of another context's sub-device
  cl_device_partition_property props[] = {CL_DEVICE_PARTITION_EQUALLY, 1, 0};
  cl_uint n = 0;
  if (clCreateSubDevices(e->device, props, 1, &other, &n) == CL_SUCCESS && n) {
    ck_assert_int_eq(clattn_context_create(e->ctx, other, NULL, &x),
                     CLATTN_ERROR_INVALID_ARGUMENT);
    ck_assert_str_eq(clattn_context_last_error(NULL),
                     "clattn_context_create: device is not a device of "
                     "context");
    clReleaseDevice(other);
  }
  // C4, C5: the environment is read by every create; restored after.
  char *fmt_saved = getenv("CLATTN_PROGRAM_FORMAT")
                        ? strdup(getenv("CLATTN_PROGRAM_FORMAT"))
                        : NULL;
  char *var_saved =
      getenv("CLATTN_VARIANT") ? strdup(getenv("CLATTN_VARIANT")) : NULL;
  setenv("CLATTN_PROGRAM_FORMAT", "ptx", 1); // C4
  ck_assert_int_eq(clattn_context_create(e->ctx, e->device, NULL, &x),
                   CLATTN_ERROR_INVALID_ARGUMENT);
  ck_assert_str_eq(clattn_context_last_error(NULL),
                   "CLATTN_PROGRAM_FORMAT='ptx' is neither 'spirv' nor "
                   "'source'");
  unsetenv("CLATTN_PROGRAM_FORMAT");
  setenv("CLATTN_VARIANT", "nope", 1); // C5
  ck_assert_int_eq(clattn_context_create(e->ctx, e->device, NULL, &x),
                   CLATTN_ERROR_INVALID_ARGUMENT);
  ck_assert_str_eq(clattn_context_last_error(NULL),
                   "CLATTN_VARIANT names 'nope', which is no variant");
  unsetenv("CLATTN_VARIANT");
  if (fmt_saved)
    setenv("CLATTN_PROGRAM_FORMAT", fmt_saved, 1);
  if (var_saved)
    setenv("CLATTN_VARIANT", var_saved, 1);
  free(fmt_saved);
  free(var_saved);

  clattn_context dead = released_ctx();
  clattn_context_release(dead); // R1: releasing twice is a no-op
  clattn_context_release(NULL);
  ck_assert_str_eq(clattn_context_last_error(dead), "invalid clattn context");
  ck_assert_int_eq(clattn_context_last_cl_error(dead), CL_INVALID_VALUE);
  ck_assert_int_eq(clattn_context_force_variant(dead, CLATTN_OP_KV_WRITE, NULL),
                   CLATTN_ERROR_INVALID_CONTEXT); // V1
  ck_assert_int_eq(clattn_context_force_variant(e->cctx, (clattn_op)9, NULL),
                   CLATTN_ERROR_INVALID_ARGUMENT); // V2
  ck_assert_str_eq(clattn_context_last_error(e->cctx),
                   "clattn_context_force_variant: op 9 is not an op");
  ck_assert_int_eq(
      clattn_context_force_variant(e->cctx, CLATTN_OP_KV_WRITE, "nope"),
      CLATTN_ERROR_INVALID_ARGUMENT); // V3
  ck_assert_str_eq(clattn_context_last_error(e->cctx),
                   "clattn_context_force_variant: 'nope' is not a kv_write "
                   "variant");
  ck_assert_int_eq(clattn_context_force_format(dead, NULL),
                   CLATTN_ERROR_INVALID_CONTEXT); // F1
  ck_assert_int_eq(clattn_context_force_format(e->cctx, ""),
                   CLATTN_ERROR_INVALID_ARGUMENT); // F2
  ck_assert_str_eq(clattn_context_last_error(e->cctx),
                   "clattn_context_force_format: format '' is neither "
                   "'spirv' nor 'source'");
  const char *v = NULL, *f = NULL;
  ck_assert_int_eq(clattn_query_variant(dead, CLATTN_OP_KV_WRITE, 64,
                                        CLATTN_F32, CLATTN_F32, &v, &f),
                   CLATTN_ERROR_INVALID_CONTEXT); // Q1
  ck_assert_int_eq(clattn_query_variant(e->cctx, CLATTN_OP_KV_WRITE, 64,
                                        CLATTN_F32, CLATTN_F32, NULL, &f),
                   CLATTN_ERROR_INVALID_ARGUMENT); // Q2
  ck_assert_int_eq(clattn_query_variant(e->cctx, (clattn_op)7, 64, CLATTN_F32,
                                        CLATTN_F32, &v, &f),
                   CLATTN_ERROR_INVALID_ARGUMENT);
  ck_assert_str_eq(clattn_context_last_error(e->cctx),
                   "clattn_query_variant: op 7 or a NULL output");
  ck_assert_int_eq(clattn_query_variant(e->cctx, CLATTN_OP_KV_WRITE, 257,
                                        CLATTN_F32, CLATTN_F32, &v, &f),
                   CLATTN_ERROR_INVALID_ARGUMENT); // Q3
  ck_assert_int_eq(clattn_query_variant(e->cctx, CLATTN_OP_KV_WRITE, 64,
                                        (clattn_dtype)99, CLATTN_F32, &v, &f),
                   CLATTN_ERROR_INVALID_ARGUMENT);
  ck_assert_str_eq(clattn_context_last_error(e->cctx),
                   "clattn_query_variant: head_dim 64 (1..256) or dtype codes "
                   "99/0 out of range");
  ck_assert_int_eq(clattn_query_variant(e->cctx, CLATTN_OP_KV_WRITE, 64,
                                        CLATTN_F32, CLATTN_I32, &v, &f),
                   CLATTN_ERROR_NO_VARIANT); // Q4
}
END_TEST

static char *slurp(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return NULL;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, fp);
  fclose(fp);
  buf[n] = '\0';
  return buf;
}

// Every row of the tables in docs/api.md section 7 has a case here, and
// every case names a row there. Rows with no runnable case on a portable
// device are listed in `untestable` with the reason.
START_TEST(tables_match_cases) {
  const char *doc = slurp(CLATTN_SOURCE_DIR "/docs/api.md");
  ck_assert_msg(doc != NULL, "docs/api.md is missing");
  const char *sec = strstr(doc, "## 7. Validation tables");
  ck_assert(sec);
  // Table order in the section: kv_write, shared, attention, paged.
  static const char *const marks[] = {
      "### `clattn_kv_write`", "### `clattn_attention` and",
      "`clattn_attention`, continued:", "`clattn_paged_attention`, continued:"};
  static const int table_op[] = {KV, BOTH, ATT, PAGED};
  // Rows whose bad object cannot be made safely (an invalid cl_mem or queue
  // is undefined behaviour in OpenCL; the fuzzer does not try them either).
  static const char *const untestable[] = {"KV:4", "KV:15", "BOTH:4"};
  int rows = 0;
  for (int t = 0; t < 4; t++) {
    const char *s = strstr(sec, marks[t]);
    ck_assert_msg(s, "docs/api.md lacks %s", marks[t]);
    const char *end = t < 3 ? strstr(s + 1, t == 0 ? marks[1] : marks[t + 1])
                            : strstr(s, "\n\nNot checked");
    ck_assert(end);
    for (const char *l = s; l && l < end; l = strchr(l + 1, '\n')) {
      char row[16];
      if (sscanf(l, "\n| %15[0-9a-z-] |", row) != 1 || !isdigit(row[0]))
        continue;
      rows++;
      char key[32];
      snprintf(key, sizeof key, "%s:%s",
               (const char *[]){"KV", "ATT", "PAGED", "BOTH"}[table_op[t]],
               row);
      int found = 0;
      for (size_t i = 0; i < sizeof untestable / sizeof *untestable; i++)
        found |= strcmp(untestable[i], key) == 0;
      // A shared row can also be tested per op (rows 14, 22, 23).
      for (size_t i = 0; i < N_CASES && !found; i++)
        found = strcmp(cases[i].row, row) == 0 &&
                (cases[i].op == table_op[t] ||
                 (table_op[t] == BOTH && cases[i].op != KV));
      ck_assert_msg(found, "docs/api.md row %s has no test case", key);
    }
  }
  for (size_t i = 0; i < N_CASES; i++) {
    char needle[32];
    snprintf(needle, sizeof needle, "\n| %s |", cases[i].row);
    ck_assert_msg(strstr(sec, needle), "case %s names row %s, not in the doc",
                  cases[i].name, cases[i].row);
  }
  // The context functions' table: its ids are the ones context_functions
  // marks in its comments.
  static const char *const ctx_rows[] = {"C1", "C2", "C3", "C4", "C5",
                                         "R1", "V1", "V2", "V3", "F1",
                                         "F2", "Q1", "Q2", "Q3", "Q4"};
  const char *ct = strstr(sec, "### Library and context functions");
  ck_assert_msg(ct, "docs/api.md lacks the context functions' table");
  int ctx_doc = 0;
  for (const char *l = strstr(ct, "\n| "); l; l = strstr(l + 1, "\n| ")) {
    char id[8];
    if (sscanf(l, "\n| %7[A-Z0-9] |", id) != 1 || !isalpha(id[0]))
      continue;
    int found = 0;
    for (size_t i = 0; i < sizeof ctx_rows / sizeof *ctx_rows; i++)
      found |= strcmp(ctx_rows[i], id) == 0;
    ck_assert_msg(found, "docs/api.md context row %s has no test", id);
    ctx_doc++;
  }
  ck_assert_int_eq(ctx_doc, (int)(sizeof ctx_rows / sizeof *ctx_rows));
  rows += ctx_doc;
  printf("validation tables: %d rows in docs/api.md, %zu cases\n", rows,
         (size_t)N_CASES);
}
END_TEST

int main(void) {
  Suite *s = suite_create("validation");
  TCase *tc = tcase_create("validation");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, every_row_rejected_cleanly);
  tcase_add_test(tc, queue_of_another_device);
  tcase_add_test(tc, context_functions);
  tcase_add_test(tc, tables_match_cases);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
