// SPDX-License-Identifier: Apache-2.0
// clattn_kv_write: validates every argument, selects the kv_write variant and
// enqueues one kernel that scatters key and value rows into the paged caches
// through the slot mapping (padding skipped, bad slots reported on device),
// quantizing into FP8/I8 caches with their scales.
#include "internal.h"

#include <string.h>

#define FN "clattn_kv_write"

static clattn_status check_pair(clattn_context ctx, const char *arg,
                                const char *cache_arg, const clattn_tensor *src,
                                const clattn_cache *dst, cl_long heads,
                                cl_long dim) {
  const cl_long n[3] = {dst->num_blocks, dst->block_size, heads};
  const cl_long s[3] = {dst->stride_block, dst->stride_slot, dst->stride_head};
  clattn_status st = clattn__check_no_alias(ctx, FN, cache_arg, 3, n, s, dim);
  if (st != CLATTN_SUCCESS)
    return st;
  // Same dtype, f32 rows into an f16/bf16 cache, or any float dtype into a
  // quantized cache.
  if (src->dtype == dst->dtype || src->dtype == CLATTN_F32 ||
      (CLATTN_QUANT_DTYPES & CLATTN_DTYPE_BIT(dst->dtype)))
    return CLATTN_SUCCESS;
  return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                      FN ": %s dtype %s cannot be written into a %s cache "
                         "(same dtype, f32 into f16/bf16, or any float dtype "
                         "into fp8/i8)",
                      arg, clattn_dtype_name(src->dtype),
                      clattn_dtype_name(dst->dtype));
}

// The kernel arguments of one cache's scales (docs/quantized-kv.md): the
// per-tensor host scale goes in as its f32 reciprocal (IEEE division here,
// so that codes are round(x * (1/scale)) on every device).
typedef struct scale_args {
  cl_float inv;
  cl_mem buf;
  cl_ulong off;
  cl_long s[3];
  cl_int mode;
} scale_args;

static scale_args scale_args_of(const clattn_cache *c) {
  scale_args a;
  memset(&a, 0, sizeof a);
  a.mode = c->scale_mode;
  a.inv = 1.0f;
  if (CLATTN_FLOAT_DTYPES & CLATTN_DTYPE_BIT(c->dtype)) {
    a.mode = CLATTN_SCALE_TENSOR;
    return a;
  }
  if (a.mode == CLATTN_SCALE_TENSOR) {
    a.inv = c->scale != 0.0f ? 1.0f / c->scale : 1.0f;
    return a;
  }
  a.buf = c->scales.buffer;
  a.off = c->scales.offset;
  a.s[0] = c->scale_stride_block;
  a.s[1] = c->scale_stride_slot;
  a.s[2] = c->scale_stride_head;
  return a;
}

// The kernel arguments of one cache (buffer given apart: NULL for a missing
// value cache), dtype and scales, from argument *i on.
static cl_int cache_args(cl_kernel k, int *i, cl_mem buf, const clattn_cache *c,
                         cl_int dt, const scale_args *sc) {
  cl_int err = CL_SUCCESS;
#define CARG(x) err |= clSetKernelArg(k, (cl_uint)(*i)++, sizeof(x), &(x))
  CARG(buf);
  CARG(c->offset);
  CARG(c->stride_block);
  CARG(c->stride_slot);
  CARG(c->stride_head);
  CARG(dt);
  CARG(sc->inv);
  CARG(sc->buf);
  CARG(sc->off);
  CARG(sc->s[0]);
  CARG(sc->s[1]);
  CARG(sc->s[2]);
  CARG(sc->mode);
#undef CARG
  return err;
}

clattn_status
clattn_kv_write(clattn_context ctx, cl_command_queue queue,
                const clattn_kv_write_params *p, const clattn_tensor *key,
                const clattn_tensor *value, clattn_buffer slot_mapping,
                const clattn_cache *key_cache, const clattn_cache *value_cache,
                cl_uint n_wait, const cl_event *wait, cl_event *event) {
  clattn_status st = clattn__check_call(ctx, FN, p, queue, n_wait, wait, event);
  if (st != CLATTN_SUCCESS)
    return st;
  if (p->num_tokens < 0)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        FN ": num_tokens %lld must be >= 0",
                        (long long)p->num_tokens);
  if (p->num_kv_heads < 1)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        FN ": num_kv_heads %d must be >= 1", p->num_kv_heads);
  if (p->head_dim < 1 || p->head_dim > 256)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        FN ": head_dim %d is outside 1..256", p->head_dim);
  if ((value == NULL) != (value_cache == NULL))
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        FN ": value and value_cache must both be given or "
                           "both be NULL (value %s, value_cache %s)",
                        value ? "given" : "NULL",
                        value_cache ? "given" : "NULL");
  const unsigned fl = CLATTN_FLOAT_DTYPES,
                 cdt = CLATTN_FLOAT_DTYPES | CLATTN_QUANT_DTYPES;
  const cl_long T = p->num_tokens, H = p->num_kv_heads, D = p->head_dim;
  if ((st = clattn__check_tensor3(ctx, FN, "key", key, T, H, D, fl)) ||
      (st = clattn__check_cache(ctx, FN, "key_cache", key_cache, H, D, cdt)) ||
      (st = clattn__check_cache_scales(ctx, FN, "key_cache", key_cache, H)) ||
      (st = check_pair(ctx, "key", "key_cache", key, key_cache, H, D)))
    return st;
  if (value &&
      ((st = clattn__check_tensor3(ctx, FN, "value", value, T, H, D, fl)) ||
       (st = clattn__check_cache(ctx, FN, "value_cache", value_cache, H, D,
                                 cdt)) ||
       (st = clattn__check_cache_scales(ctx, FN, "value_cache", value_cache,
                                        H)) ||
       (st =
            check_pair(ctx, "value", "value_cache", value, value_cache, H, D))))
    return st;
  if (value && (value_cache->block_size != key_cache->block_size ||
                value_cache->num_blocks != key_cache->num_blocks))
    return clattn__fail(
        ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
        FN ": value_cache geometry (%lld blocks of %d) differs "
           "from key_cache's (%lld blocks of %d)",
        (long long)value_cache->num_blocks, value_cache->block_size,
        (long long)key_cache->num_blocks, key_cache->block_size);
  if ((st = clattn__check_buffer(ctx, FN, "slot_mapping", slot_mapping, T,
                                 sizeof(cl_long), 0)) ||
      (st = clattn__check_buffer(ctx, FN, "status", p->status, 1,
                                 sizeof(cl_uint), 1)))
    return st;

  if (T == 0) {
    if (!event && n_wait == 0)
      return CLATTN_SUCCESS;
    cl_int err = clEnqueueMarkerWithWaitList(queue, n_wait, wait, event);
    return err == CL_SUCCESS ? CLATTN_SUCCESS
                             : clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                                            FN ": enqueueing a marker failed");
  }

  clattn_select_args a = {CLATTN_OP_KV_WRITE,
                          p->head_dim,
                          key->dtype,
                          key_cache->dtype,
                          0,
                          0,
                          0,
                          0,
                          0};
  const clattn_variant *v = NULL;
  clattn_format f;
  cl_kernel k = NULL;
  // Float caches take the plain kernel; kv_write_quant serves the rest.
  const int quant =
      (CLATTN_QUANT_DTYPES & CLATTN_DTYPE_BIT(key_cache->dtype)) ||
      (value_cache &&
       (CLATTN_QUANT_DTYPES & CLATTN_DTYPE_BIT(value_cache->dtype)));
  if ((st = clattn__get_kernel(ctx, &a, quant ? "kv_write_quant" : "kv_write",
                               &v, &f, &k)))
    return st;

  const clattn_tensor *val = value ? value : key;
  const clattn_cache *vc = value_cache ? value_cache : key_cache;
  cl_mem vbuf = value ? value->buffer : NULL;
  cl_mem vcbuf = value ? value_cache->buffer : NULL;
  cl_int kdt = key->dtype, vdt = val->dtype, kcdt = key_cache->dtype,
         vcdt = vc->dtype;
  scale_args ks = scale_args_of(key_cache), vs = scale_args_of(vc);
  // Per-token-head scales: one work-item per (token, head) row, which reads
  // the row twice (absmax, then codes) instead of every chunk's work-item
  // reading it whole.
  cl_int rows = ks.mode == CLATTN_SCALE_TOKEN_HEAD ||
                (value && vs.mode == CLATTN_SCALE_TOKEN_HEAD);
  cl_int heads = p->num_kv_heads, dim = p->head_dim;
  cl_int bs = key_cache->block_size;
  cl_long nb = key_cache->num_blocks;
  cl_ulong st_off = p->status.offset;
  cl_int err = CL_SUCCESS;
  int i = 0;
#define ARG(x) err |= clSetKernelArg(k, i++, sizeof(x), &(x))
  ARG(key->buffer);
  ARG(key->offset);
  ARG(key->stride[0]);
  ARG(key->stride[1]);
  ARG(kdt);
  ARG(vbuf);
  ARG(val->offset);
  ARG(val->stride[0]);
  ARG(val->stride[1]);
  ARG(vdt);
  err |= cache_args(k, &i, key_cache->buffer, key_cache, kcdt, &ks);
  err |= cache_args(k, &i, vcbuf, vc, vcdt, &vs);
  ARG(slot_mapping.buffer);
  ARG(slot_mapping.offset);
  ARG(heads);
  ARG(dim);
  ARG(bs);
  ARG(nb);
  ARG(p->status.buffer);
  ARG(st_off);
  ARG(rows);
#undef ARG
  if (err != CL_SUCCESS) {
    clReleaseKernel(k);
    return clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                        FN ": setting kernel arguments of %s failed", v->name);
  }
  const size_t vec = v->tile.VEC > 0 ? (size_t)v->tile.VEC : 1;
  size_t chunks = rows ? 1 : ((size_t)dim + vec - 1) / vec;
  size_t kwg = 0;
  clGetKernelWorkGroupInfo(k, ctx->device, CL_KERNEL_WORK_GROUP_SIZE,
                           sizeof kwg, &kwg, NULL);
  size_t local[2] = {64, 1};
  size_t global[2] = {chunks * (size_t)heads, (size_t)T};
  const size_t *lp = NULL; // the driver picks when 64 is not allowed
  if (ctx->caps.max_work_group >= 64 && kwg >= 64) {
    global[0] = (global[0] + 63) / 64 * 64;
    lp = local;
  }
  err = clEnqueueNDRangeKernel(queue, k, 2, NULL, global, lp, n_wait, wait,
                               event);
  clReleaseKernel(k);
  if (err != CL_SUCCESS)
    return clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                        FN ": enqueueing %s failed", v->name);
  return CLATTN_SUCCESS;
}
