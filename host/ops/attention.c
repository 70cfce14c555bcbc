// SPDX-License-Identifier: Apache-2.0
// clattn_attention and clattn_paged_attention: validate every argument,
// select the attention variant, enqueue the flash-attention kernel and, when
// the keys are split across work-groups (split-KV), the merge kernel after it.
#include "internal.h"

#include <math.h>
#include <string.h>

#define FN_ATT "clattn_attention"
#define FN_PAGED "clattn_paged_attention"
#define MAX_SPLITS 256 // params->num_splits limit
#define AUTO_SPLITS 64 // cap of the automatic split rule
#define MERGE_WG 64    // attention_merge's work-group (attention.cl)
#define MERGE_P 8      // its work-items per (head, chunk) pair

// What the two ops share once validated; the K/V source differs.
typedef struct att_call {
  const char *fn;
  int paged;
  const clattn_attention_params *p;
  const clattn_tensor *q, *out, *lse;
  // K and V: a packed tensor (attention) or a cache (paged).
  cl_mem k_buf, v_buf;
  cl_ulong k_off, v_off;
  cl_long k_s[3], v_s[3];
  cl_int k_dt, v_dt;
  cl_float k_scale, v_scale;
  // Scale buffers of quantized caches (CLATTN_SCALE_TENSOR_BUFFER,
  // CLATTN_SCALE_TOKEN_HEAD): buffer, offset, block/slot/head strides, mode.
  cl_mem k_sc, v_sc;
  cl_ulong k_sc_off, v_sc_off;
  cl_long k_sc_s[3], v_sc_s[3];
  cl_int k_sc_mode, v_sc_mode;
  cl_int cache_dtype;
  clattn_buffer cu_q, kinfo, block_table;
  cl_int block_size;
  cl_long num_blocks;
} att_call;

static clattn_status bad(clattn_context ctx, const char *fn, const char *what,
                         long long value, const char *limit) {
  return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0, "%s: %s (%lld) %s",
                      fn, what, value, limit);
}

// Scalar parameters shared by both ops.
static clattn_status check_params(clattn_context ctx, const char *fn,
                                  const clattn_attention_params *p, int paged) {
  if (p->batch < 0)
    return bad(ctx, fn, "batch", p->batch, "must be >= 0");
  if (p->num_kv_heads < 1)
    return bad(ctx, fn, "num_kv_heads", p->num_kv_heads, "must be >= 1");
  if (p->num_heads < 1)
    return bad(ctx, fn, "num_heads", p->num_heads, "must be >= 1");
  if (p->num_heads % p->num_kv_heads)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: num_heads (%d) is not a multiple of "
                        "num_kv_heads (%d)",
                        fn, p->num_heads, p->num_kv_heads);
  if (p->head_dim < 1 || p->head_dim > 256)
    return bad(ctx, fn, "head_dim", p->head_dim, "is outside 1..256");
  if (p->total_q < 0)
    return bad(ctx, fn, "total_q", p->total_q, "must be >= 0");
  if (!paged && p->total_k < 0)
    return bad(ctx, fn, "total_k", p->total_k, "must be >= 0");
  if (p->max_seqlen_q < 0)
    return bad(ctx, fn, "max_seqlen_q", p->max_seqlen_q, "must be >= 0");
  if (p->max_seqlen_k < 0)
    return bad(ctx, fn, "max_seqlen_k", p->max_seqlen_k, "must be >= 0");
  if (p->window_left < -1)
    return bad(ctx, fn, "window_left", p->window_left,
               "must be >= -1 (-1 = unbounded)");
  if (p->window_right < -1)
    return bad(ctx, fn, "window_right", p->window_right,
               "must be >= -1 (-1 = unbounded)");
  if (!isfinite(p->scale))
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: scale (%g) must be finite (0 = 1/sqrt(head_dim))",
                        fn, (double)p->scale);
  if (!isfinite(p->softcap) || p->softcap < 0.0f)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: softcap (%g) must be finite and >= 0 (0 = off)",
                        fn, (double)p->softcap);
  if (p->num_splits < 0 || p->num_splits > MAX_SPLITS)
    return bad(ctx, fn, "num_splits", p->num_splits,
               "is outside 0..256 (0 = automatic)");
  if (paged) {
    if (p->max_blocks_per_seq < 1)
      return bad(ctx, fn, "max_blocks_per_seq", p->max_blocks_per_seq,
                 "must be >= 1");
    if (p->block_table_stride < 0)
      return bad(ctx, fn, "block_table_stride", p->block_table_stride,
                 "must be >= 0");
    // The table spans (batch - 1) * stride + max_blocks_per_seq ints; keep
    // that size (in bytes) inside cl_long before the buffer check uses it.
    if (p->batch > 1 &&
        p->block_table_stride >
            (CL_LONG_MAX / (cl_long)sizeof(cl_int) - p->max_blocks_per_seq) /
                ((cl_long)p->batch - 1))
      return bad(ctx, fn, "block_table_stride", p->block_table_stride,
                 "makes the block table larger than 2^63 bytes");
  }
  return CLATTN_SUCCESS;
}

// q, out, lse and the optional per-head arrays and status word.
static clattn_status check_common(clattn_context ctx, const char *fn,
                                  const clattn_attention_params *p,
                                  const clattn_tensor *q,
                                  const clattn_tensor *out,
                                  const clattn_tensor *lse) {
  const cl_long H = p->num_heads, D = p->head_dim, T = p->total_q;
  clattn_status st;
  if ((st = clattn__check_tensor3(ctx, fn, "q", q, T, H, D,
                                  CLATTN_FLOAT_DTYPES)))
    return st;
  if (!out)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: out is NULL", fn);
  if (out->dtype != q->dtype)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: out dtype %s differs from q dtype %s", fn,
                        clattn_dtype_name(out->dtype),
                        clattn_dtype_name(q->dtype));
  if ((st = clattn__check_tensor3(ctx, fn, "out", out, T, H, D,
                                  CLATTN_DTYPE_BIT(q->dtype))))
    return st;
  const cl_long out_n[2] = {T, H};
  if ((st = clattn__check_no_alias(ctx, fn, "out", 2, out_n, out->stride, D)))
    return st;
  // lse [heads, total_q]: rows = heads (stride[0]), one "head", total_q
  // contiguous elements.
  if (lse &&
      ((st = clattn__check_tensor3(ctx, fn, "lse", lse, H, 1, T,
                                   CLATTN_DTYPE_BIT(CLATTN_F32))) ||
       (st = clattn__check_no_alias(ctx, fn, "lse", 1, &H, lse->stride, T))))
    return st;
  if ((st = clattn__check_buffer(ctx, fn, "alibi_slopes", p->alibi_slopes, H,
                                 sizeof(cl_float), 1)) ||
      (st = clattn__check_buffer(ctx, fn, "sinks", p->sinks, H,
                                 sizeof(cl_float), 1)) ||
      (st = clattn__check_buffer(ctx, fn, "status", p->status, 1,
                                 sizeof(cl_uint), 1)))
    return st;
  return CLATTN_SUCCESS;
}

// The automatic split rule (docs/kernels.md): split the keys only when the
// grid holds fewer than SPLIT_TARGET work-groups per compute unit, into as
// many splits as fill that target, each keeping at least four tiles.
// SPLIT_TARGET = 4 measured on an H200 (132 CUs, generic_d128, f16 decode):
// the kernel reaches ~700 GB/s from ~4 work-groups per CU; a target of 2
// left batch 32 x 4096 keys unsplit at 1.45 ms where 2 splits take 0.78 ms.
#define SPLIT_TARGET 4

// Shared memory per SM (KiB) of NVIDIA compute capabilities (CUDA
// programming guide, "Technical Specifications"); OpenCL reports only the
// 48 KiB a work-group may use.
static cl_long nv_smem_per_sm(int cc) {
  if (cc >= 90)
    return 228;
  if (cc == 80 || cc == 87)
    return 164;
  if (cc >= 86)
    return 100;
  return cc >= 75 ? 64 : 96;
}

// The decode rows (NVIDIA): the grid runs in waves
// of the work-groups that fit on the SMs at once, so a split count that
// leaves a thin last wave costs up to a whole wave. Minimises waves *
// (tiles per split + 2, the start-up and merge share), fewest splits on a
// tie. On the H200 with 32 KiB rows (6 resident per SM) batch 64 x 4096
// keys: 1 split 0.406 ms, 2 0.489, 3 0.376, 4 0.405 (docs/performance.md).
int clattn__decode_splits(const clattn_caps *caps, cl_long local_mem,
                          int cu_slots, cl_long groups, cl_long ntiles) {
  const cl_long cu = clattn__caps_cu(caps);
  cl_long per_cu = nv_smem_per_sm(caps->nv_cc) * 1024 / (local_mem + 1024);
  if (per_cu > 8)
    per_cu = 8; // registers: ~230 per lane leave room for 8 warps
  if (cu_slots > 0 && per_cu > cu_slots)
    per_cu = cu_slots;
  if (per_cu < 1)
    per_cu = 1;
  const cl_long slots = per_cu * cu;
  cl_long best = 1, best_cost = -1, n;
  for (n = 1; n <= 2 * AUTO_SPLITS && (n == 1 || 4 * n <= ntiles); n++) {
    const cl_long waves = (groups * n + slots - 1) / slots;
    const cl_long cost = waves * ((ntiles + n - 1) / n + 2);
    if (best_cost < 0 || cost < best_cost)
      best = n, best_cost = cost;
  }
  return (int)best;
}

static int choose_splits(const clattn_context ctx, const att_call *c,
                         const clattn_variant *v, cl_long nblk) {
  const clattn_attention_params *p = c->p;
  if (p->num_splits > 0)
    return p->num_splits;
  const cl_long cu = clattn__caps_cu(&ctx->caps);
  const cl_long groups = nblk * p->num_kv_heads;
  if (v->max_q_rows > 0)
    // A decode row serves at most 16 rows per sequence and KV head: one row
    // block each, where nblk is only the grid's upper bound.
    return clattn__decode_splits(
        &ctx->caps, (cl_long)v->local_mem, v->cu_slots,
        (cl_long)p->batch * p->num_kv_heads,
        ((cl_long)p->max_seqlen_k + v->tile.BLOCK_N - 1) / v->tile.BLOCK_N);
  if (groups >= SPLIT_TARGET * cu)
    return 1;
  cl_long n = (SPLIT_TARGET * cu + groups - 1) / groups;
  const cl_long by_len = ((cl_long)p->max_seqlen_k + 4 * v->tile.BLOCK_N - 1) /
                         (4 * v->tile.BLOCK_N);
  if (n > by_len)
    n = by_len;
  if (n > AUTO_SPLITS)
    n = AUTO_SPLITS;
  return n < 1 ? 1 : (int)n;
}

static clattn_status enqueue(clattn_context ctx, cl_command_queue queue,
                             const att_call *c, cl_uint n_wait,
                             const cl_event *wait, cl_event *event) {
  const clattn_attention_params *p = c->p;
  const char *fn = c->fn;
  clattn_status st;
  cl_int err = CL_SUCCESS;

  if (p->batch == 0 || p->total_q == 0) {
    if (!event && n_wait == 0)
      return CLATTN_SUCCESS;
    err = clEnqueueMarkerWithWaitList(queue, n_wait, wait, event);
    return err == CL_SUCCESS
               ? CLATTN_SUCCESS
               : clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                              "%s: enqueueing a marker failed", fn);
  }

  clattn_select_args a = {c->paged ? CLATTN_OP_PAGED_ATTENTION
                                   : CLATTN_OP_ATTENTION,
                          p->head_dim,
                          c->q->dtype,
                          (clattn_dtype)c->cache_dtype,
                          p->max_seqlen_q,
                          p->num_heads / p->num_kv_heads,
                          p->allow_tf32 != 0,
                          (long)p->batch * p->num_kv_heads,
                          c->k_sc_mode == CLATTN_SCALE_TOKEN_HEAD ||
                              c->v_sc_mode == CLATTN_SCALE_TOKEN_HEAD};
  const clattn_variant *v = NULL;
  clattn_format f;
  cl_kernel k = NULL, km = NULL;
  cl_mem ws = NULL;
  int ws_slot = -1;
  if ((st = clattn__get_kernel(ctx, &a, "attention", &v, &f, &k)))
    return st;

  const clattn_tile *t = &v->tile;
  size_t kwg = 0;
  err = clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                                 sizeof kwg, &kwg, NULL);
  if (err == CL_SUCCESS && kwg < (size_t)t->WG) {
    clReleaseKernel(k);
    return clattn__fail(ctx, CLATTN_ERROR_NO_VARIANT, 0,
                        "%s: variant %s needs work-groups of %d, but the "
                        "device built it for at most %zu",
                        fn, v->name, t->WG, kwg);
  }

  // Grid: an upper bound of the row blocks, so no host-side scan of
  // cu_seqlens_q is needed (see attention.cl).
  const cl_long G = p->num_heads / p->num_kv_heads;
  const cl_long nblk = p->total_q * G / t->BLOCK_M + p->batch;
  int nsplit = choose_splits(ctx, c, v, nblk);
  if (nsplit > 1) {
    // The partials go to the context's buffer for this queue when the queue
    // is in-order (its calls run one after another), else to one of the
    // call's own: ops on one context may run at once on several queues. A
    // fresh buffer per call cost ~28 us of device time per decode step on
    // the H200 (docs/performance.md).
    const double bytes = (double)nsplit * (double)p->total_q *
                         (double)p->num_heads * (p->head_dim + 2) * 4.0;
    const int forced = p->num_splits > 0;
    if (!forced && ctx->caps.max_alloc > 0 &&
        bytes > (double)ctx->caps.max_alloc) {
      nsplit = 1; // automatic splitting is an optimisation only
    } else {
      ws = clattn__scratch_acquire(ctx, queue, (size_t)bytes, &ws_slot, &err);
      if (!ws) {
        if (forced) {
          clReleaseKernel(k);
          return clattn__fail(ctx, CLATTN_ERROR_OUT_OF_MEMORY, err,
                              "%s: the split-KV partials of num_splits %d "
                              "need %.0f B, which could not be allocated",
                              fn, nsplit, bytes);
        }
        clattn__log(ctx,
                    "%s: split-KV scratch of %.0f B not allocated (cl_int "
                    "%d); running unsplit",
                    fn, bytes, err);
        nsplit = 1;
        err = CL_SUCCESS; // the kernel arguments below OR into err
      }
    }
  }
  if (nsplit > 1) {
    cl_program prog = NULL;
    err = clGetKernelInfo(k, CL_KERNEL_PROGRAM, sizeof prog, &prog, NULL);
    if (err == CL_SUCCESS)
      km = clCreateKernel(prog, "attention_merge", &err);
    if (err != CL_SUCCESS) {
      clReleaseKernel(k);
      clReleaseMemObject(ws);
      clattn__scratch_done(ctx, ws_slot);
      return clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                          "%s: clCreateKernel(attention_merge) in %s failed",
                          fn, v->name);
    }
  }

  const clattn_tensor *q = c->q, *out = c->out, *lse = c->lse;
  const cl_int q_dt = q->dtype, o_dt = out->dtype;
  const cl_mem lse_buf = lse ? lse->buffer : NULL;
  const cl_ulong lse_off = lse ? lse->offset : 0;
  const cl_long lse_s0 = lse ? lse->stride[0] : 0;
  const cl_long bt_stride = p->block_table_stride;
  const cl_int max_blocks = c->paged ? p->max_blocks_per_seq : 0;
  const cl_int batch = p->batch, heads = p->num_heads,
               kv_heads = p->num_kv_heads, head_dim = p->head_dim;
  const cl_long total_q = p->total_q, total_k = c->paged ? 0 : p->total_k;
  const cl_float scale =
      p->scale != 0.0f ? p->scale : (cl_float)(1.0 / sqrt((double)head_dim));
  const cl_float softcap = p->softcap;
  const cl_int wl = p->window_left, wr = p->causal ? 0 : p->window_right;
  const cl_mem ws_arg = nsplit > 1 ? ws : NULL;
  const cl_int nsplit_arg = nsplit;

  int i = 0;
#define ARG(kern, x) err |= clSetKernelArg(kern, i++, sizeof(x), &(x))
  ARG(k, q->buffer);
  ARG(k, q->offset);
  ARG(k, q->stride[0]);
  ARG(k, q->stride[1]);
  ARG(k, q_dt);
  ARG(k, c->k_buf);
  ARG(k, c->k_off);
  ARG(k, c->k_s[0]);
  ARG(k, c->k_s[1]);
  ARG(k, c->k_s[2]);
  ARG(k, c->k_dt);
  ARG(k, c->k_scale);
  ARG(k, c->k_sc);
  ARG(k, c->k_sc_off);
  ARG(k, c->k_sc_s[0]);
  ARG(k, c->k_sc_s[1]);
  ARG(k, c->k_sc_s[2]);
  ARG(k, c->k_sc_mode);
  ARG(k, c->v_buf);
  ARG(k, c->v_off);
  ARG(k, c->v_s[0]);
  ARG(k, c->v_s[1]);
  ARG(k, c->v_s[2]);
  ARG(k, c->v_dt);
  ARG(k, c->v_scale);
  ARG(k, c->v_sc);
  ARG(k, c->v_sc_off);
  ARG(k, c->v_sc_s[0]);
  ARG(k, c->v_sc_s[1]);
  ARG(k, c->v_sc_s[2]);
  ARG(k, c->v_sc_mode);
  ARG(k, c->cu_q.buffer);
  ARG(k, c->cu_q.offset);
  ARG(k, c->kinfo.buffer);
  ARG(k, c->kinfo.offset);
  ARG(k, c->block_table.buffer);
  ARG(k, c->block_table.offset);
  ARG(k, bt_stride);
  ARG(k, max_blocks);
  ARG(k, c->block_size);
  ARG(k, c->num_blocks);
  ARG(k, out->buffer);
  ARG(k, out->offset);
  ARG(k, out->stride[0]);
  ARG(k, out->stride[1]);
  ARG(k, o_dt);
  ARG(k, lse_buf);
  ARG(k, lse_off);
  ARG(k, lse_s0);
  ARG(k, p->alibi_slopes.buffer);
  ARG(k, p->alibi_slopes.offset);
  ARG(k, p->sinks.buffer);
  ARG(k, p->sinks.offset);
  ARG(k, p->status.buffer);
  ARG(k, p->status.offset);
  ARG(k, ws_arg);
  ARG(k, batch);
  ARG(k, heads);
  ARG(k, kv_heads);
  ARG(k, head_dim);
  ARG(k, total_q);
  ARG(k, total_k);
  ARG(k, scale);
  ARG(k, softcap);
  ARG(k, wl);
  ARG(k, wr);
  if (km) {
    i = 0;
    ARG(km, ws);
    ARG(km, nsplit_arg);
    ARG(km, c->cu_q.buffer);
    ARG(km, c->cu_q.offset);
    ARG(km, c->kinfo.buffer);
    ARG(km, c->kinfo.offset);
    ARG(km, out->buffer);
    ARG(km, out->offset);
    ARG(km, out->stride[0]);
    ARG(km, out->stride[1]);
    ARG(km, o_dt);
    ARG(km, lse_buf);
    ARG(km, lse_off);
    ARG(km, lse_s0);
    ARG(km, p->sinks.buffer);
    ARG(km, p->sinks.offset);
    ARG(km, batch);
    ARG(km, heads);
    ARG(km, head_dim);
    ARG(km, total_q);
    ARG(km, total_k);
  }
#undef ARG
  if (err != CL_SUCCESS) {
    st = clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                      "%s: setting kernel arguments of %s failed", fn, v->name);
  } else {
    // Local (LANES, WG / LANES, 1), or (WG, 1, 1) for one lane per row
    // (WG = BLOCK_M, or 1 for the CPU rows' single work-item), as the
    // kernel's reqd_work_group_size says.
    const size_t lx = t->LANES > 1 ? (size_t)t->LANES : (size_t)t->WG;
    const size_t ly = t->LANES > 1 ? (size_t)(t->WG / t->LANES) : 1;
    const size_t local[3] = {lx, ly, 1};
    const size_t global[3] = {(size_t)nblk * lx, (size_t)kv_heads * ly,
                              (size_t)nsplit};
    if (!km) {
      err = clEnqueueNDRangeKernel(queue, k, 3, NULL, global, local, n_wait,
                                   wait, event);
    } else {
      // The user's wait list goes to the first kernel, the user's event to
      // the last one.
      cl_event main_done = NULL;
      err = clEnqueueNDRangeKernel(queue, k, 3, NULL, global, local, n_wait,
                                   wait, &main_done);
      if (err == CL_SUCCESS) {
        const size_t mlocal[2] = {MERGE_WG, 1};
        // MERGE_P work-items per (head, 4-column chunk) of a token.
        const size_t items =
            MERGE_P * (size_t)heads * (((size_t)head_dim + 3) / 4);
        const size_t mglobal[2] = {(items + MERGE_WG - 1) / MERGE_WG * MERGE_WG,
                                   (size_t)total_q};
        err = clEnqueueNDRangeKernel(queue, km, 2, NULL, mglobal, mlocal, 1,
                                     &main_done, event);
        clReleaseEvent(main_done);
      }
    }
    st = err == CL_SUCCESS
             ? CLATTN_SUCCESS
             : clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                            "%s: enqueueing %s failed", fn, v->name);
  }
  clReleaseKernel(k);
  if (km)
    clReleaseKernel(km);
  if (ws)
    clReleaseMemObject(ws);
  clattn__scratch_done(ctx, ws_slot);
  return st;
}

// The checks both ops start with: context, event, params, queue, wait
// list, the parameters and q/out/lse.
static clattn_status check_prologue(clattn_context ctx, const char *fn,
                                    cl_command_queue queue,
                                    const clattn_attention_params *p, int paged,
                                    const clattn_tensor *q,
                                    const clattn_tensor *out,
                                    const clattn_tensor *lse, cl_uint n_wait,
                                    const cl_event *wait, cl_event *event) {
  clattn_status st;
  if ((st = clattn__check_call(ctx, fn, p, queue, n_wait, wait, event)) ||
      (st = check_params(ctx, fn, p, paged)) ||
      (st = check_common(ctx, fn, p, q, out, lse)))
    return st;
  return CLATTN_SUCCESS;
}

clattn_status clattn_attention(clattn_context ctx, cl_command_queue queue,
                               const clattn_attention_params *p,
                               const clattn_tensor *q, const clattn_tensor *k,
                               const clattn_tensor *v, clattn_buffer cu_q,
                               clattn_buffer cu_k, const clattn_tensor *out,
                               const clattn_tensor *lse, cl_uint n_wait,
                               const cl_event *wait, cl_event *event) {
  const char *fn = FN_ATT;
  clattn_status st =
      check_prologue(ctx, fn, queue, p, 0, q, out, lse, n_wait, wait, event);
  if (st != CLATTN_SUCCESS)
    return st;
  const cl_long KH = p->num_kv_heads, D = p->head_dim, TK = p->total_k;
  const unsigned qbit = CLATTN_DTYPE_BIT(q->dtype);
  if ((st = clattn__check_tensor3(ctx, fn, "k", k, TK, KH, D, qbit)) ||
      (st = clattn__check_tensor3(ctx, fn, "v", v, TK, KH, D, qbit)) ||
      (st = clattn__check_buffer(ctx, fn, "cu_seqlens_q", cu_q,
                                 (cl_long)p->batch + 1, sizeof(cl_int), 0)) ||
      (st = clattn__check_buffer(ctx, fn, "cu_seqlens_k", cu_k,
                                 (cl_long)p->batch + 1, sizeof(cl_int), 0)))
    return st;

  att_call c;
  memset(&c, 0, sizeof c);
  c.fn = fn;
  c.p = p;
  c.q = q;
  c.out = out;
  c.lse = lse;
  c.k_buf = k->buffer;
  c.k_off = k->offset;
  c.k_s[0] = k->stride[0];
  c.k_s[1] = k->stride[1];
  c.k_dt = k->dtype;
  c.k_scale = 1.0f;
  c.v_buf = v->buffer;
  c.v_off = v->offset;
  c.v_s[0] = v->stride[0];
  c.v_s[1] = v->stride[1];
  c.v_dt = v->dtype;
  c.v_scale = 1.0f;
  c.cache_dtype = q->dtype;
  c.cu_q = cu_q;
  c.kinfo = cu_k;
  c.block_size = 1;
  return enqueue(ctx, queue, &c, n_wait, wait, event);
}

// The per-tensor host scale; 1 for float caches and the buffer modes (whose
// `scale` field is ignored).
static cl_float dequant_scale(const clattn_cache *c) {
  if ((CLATTN_FLOAT_DTYPES & CLATTN_DTYPE_BIT(c->dtype)) ||
      c->scale_mode != CLATTN_SCALE_TENSOR)
    return 1.0f;
  return c->scale != 0.0f ? c->scale : 1.0f;
}

// The scale-buffer arguments of one cache (none for float caches and the
// per-tensor host scale).
static void scale_buffer(const clattn_cache *c, cl_mem *buf, cl_ulong *off,
                         cl_long s[3], cl_int *mode) {
  *mode = CLATTN_SCALE_TENSOR;
  if ((CLATTN_FLOAT_DTYPES & CLATTN_DTYPE_BIT(c->dtype)) ||
      c->scale_mode == CLATTN_SCALE_TENSOR)
    return;
  *mode = c->scale_mode;
  *buf = c->scales.buffer;
  *off = c->scales.offset;
  s[0] = c->scale_stride_block;
  s[1] = c->scale_stride_slot;
  s[2] = c->scale_stride_head;
}

clattn_status
clattn_paged_attention(clattn_context ctx, cl_command_queue queue,
                       const clattn_attention_params *p, const clattn_tensor *q,
                       const clattn_cache *kc, const clattn_cache *vc,
                       clattn_buffer cu_q, clattn_buffer seq_lens_k,
                       clattn_buffer block_table, const clattn_tensor *out,
                       const clattn_tensor *lse, cl_uint n_wait,
                       const cl_event *wait, cl_event *event) {
  const char *fn = FN_PAGED;
  clattn_status st =
      check_prologue(ctx, fn, queue, p, 1, q, out, lse, n_wait, wait, event);
  if (st != CLATTN_SUCCESS)
    return st;
  const unsigned cache_dts = CLATTN_FLOAT_DTYPES | CLATTN_QUANT_DTYPES;
  const cl_long KH = p->num_kv_heads, D = p->head_dim;
  if ((st = clattn__check_cache(ctx, fn, "key_cache", kc, KH, D, cache_dts)) ||
      (st = clattn__check_cache(ctx, fn, "value_cache", vc, KH, D, cache_dts)))
    return st;
  if (vc->dtype != kc->dtype)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: value_cache dtype %s differs from key_cache "
                        "dtype %s",
                        fn, clattn_dtype_name(vc->dtype),
                        clattn_dtype_name(kc->dtype));
  if (vc->block_size != kc->block_size || vc->num_blocks != kc->num_blocks)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: value_cache geometry (%lld blocks of %d) "
                        "differs from key_cache's (%lld blocks of %d)",
                        fn, (long long)vc->num_blocks, vc->block_size,
                        (long long)kc->num_blocks, kc->block_size);
  if ((st = clattn__check_cache_scales(ctx, fn, "key_cache", kc, KH)) ||
      (st = clattn__check_cache_scales(ctx, fn, "value_cache", vc, KH)))
    return st;
  const cl_long bt_count =
      p->batch > 0 ? ((cl_long)p->batch - 1) * p->block_table_stride +
                         p->max_blocks_per_seq
                   : 0;
  if ((st = clattn__check_buffer(ctx, fn, "cu_seqlens_q", cu_q,
                                 (cl_long)p->batch + 1, sizeof(cl_int), 0)) ||
      (st = clattn__check_buffer(ctx, fn, "seq_lens_k", seq_lens_k, p->batch,
                                 sizeof(cl_int), 0)) ||
      (st = clattn__check_buffer(ctx, fn, "block_table", block_table, bt_count,
                                 sizeof(cl_int), 0)))
    return st;

  att_call c;
  memset(&c, 0, sizeof c);
  c.fn = fn;
  c.paged = 1;
  c.p = p;
  c.q = q;
  c.out = out;
  c.lse = lse;
  c.k_buf = kc->buffer;
  c.k_off = kc->offset;
  c.k_s[0] = kc->stride_block;
  c.k_s[1] = kc->stride_slot;
  c.k_s[2] = kc->stride_head;
  c.k_dt = kc->dtype;
  c.k_scale = dequant_scale(kc);
  c.v_buf = vc->buffer;
  c.v_off = vc->offset;
  c.v_s[0] = vc->stride_block;
  c.v_s[1] = vc->stride_slot;
  c.v_s[2] = vc->stride_head;
  c.v_dt = vc->dtype;
  c.v_scale = dequant_scale(vc);
  scale_buffer(kc, &c.k_sc, &c.k_sc_off, c.k_sc_s, &c.k_sc_mode);
  scale_buffer(vc, &c.v_sc, &c.v_sc_off, c.v_sc_s, &c.v_sc_mode);
  c.cache_dtype = kc->dtype;
  c.cu_q = cu_q;
  c.kinfo = seq_lens_k;
  c.block_table = block_table;
  c.block_size = kc->block_size;
  c.num_blocks = kc->num_blocks;
  return enqueue(ctx, queue, &c, n_wait, wait, event);
}
