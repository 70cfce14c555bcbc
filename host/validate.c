// SPDX-License-Identifier: Apache-2.0
// Argument validation shared by the ops: queues, wait lists, tensor views,
// plain arrays and paged caches are checked against their buffers'
// CL_MEM_SIZE before anything is enqueued; each failure names the argument.
#include "internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef unsigned __int128 u128;

static clattn_status mem_size(clattn_context ctx, const char *fn,
                              const char *arg, cl_mem m, size_t *size) {
  cl_context owner = NULL;
  cl_int err = clGetMemObjectInfo(m, CL_MEM_SIZE, sizeof *size, size, NULL);
  if (err == CL_SUCCESS)
    err = clGetMemObjectInfo(m, CL_MEM_CONTEXT, sizeof owner, &owner, NULL);
  if (err != CL_SUCCESS)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, err,
                        "%s: %s is not a valid cl_mem (cl_int %d)", fn, arg,
                        err);
  if (owner != ctx->cl_ctx)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s belongs to another cl_context", fn, arg);
  return CLATTN_SUCCESS;
}

static clattn_status check_dtype(clattn_context ctx, const char *fn,
                                 const char *arg, clattn_dtype dt,
                                 unsigned allowed) {
  if ((unsigned)dt >= CLATTN_DTYPE_COUNT_ || !(allowed & CLATTN_DTYPE_BIT(dt)))
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s dtype %s (%d) is not accepted here", fn, arg,
                        clattn_dtype_name(dt), (int)dt);
  return CLATTN_SUCCESS;
}

// The element past the last one a view can touch must fit in the buffer.
static clattn_status check_extent(clattn_context ctx, const char *fn,
                                  const char *arg, cl_mem m, u128 end_elems,
                                  size_t elem) {
  size_t size = 0;
  clattn_status st = mem_size(ctx, fn, arg, m, &size);
  if (st != CLATTN_SUCCESS)
    return st;
  u128 need = end_elems * elem;
  if (need > size) {
    unsigned long long n =
        need > (u128)UINT64_MAX ? UINT64_MAX : (unsigned long long)need;
    return clattn__fail(ctx, CLATTN_ERROR_BUFFER_TOO_SMALL, 0,
                        "%s: %s needs %llu B but its buffer holds %zu B", fn,
                        arg, n, size);
  }
  return CLATTN_SUCCESS;
}

clattn_status clattn__check_queue(clattn_context ctx, const char *fn,
                                  cl_command_queue q) {
  if (!q)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: queue is NULL", fn);
  cl_context qc = NULL;
  cl_device_id qd = NULL;
  cl_int err = clGetCommandQueueInfo(q, CL_QUEUE_CONTEXT, sizeof qc, &qc, NULL);
  if (err == CL_SUCCESS)
    err = clGetCommandQueueInfo(q, CL_QUEUE_DEVICE, sizeof qd, &qd, NULL);
  if (err != CL_SUCCESS)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, err,
                        "%s: queue is not a valid cl_command_queue", fn);
  if (qc != ctx->cl_ctx || qd != ctx->device)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: queue belongs to another %s than the clattn "
                        "context's",
                        fn, qc != ctx->cl_ctx ? "cl_context" : "device");
  return CLATTN_SUCCESS;
}

clattn_status clattn__check_events(clattn_context ctx, const char *fn,
                                   cl_uint n, const cl_event *list) {
  if ((n == 0) != (list == NULL))
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: num_events_in_wait_list is %u but "
                        "event_wait_list is %s",
                        fn, n, list ? "not NULL" : "NULL");
  for (cl_uint i = 0; i < n; i++)
    if (!list[i])
      return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                          "%s: event_wait_list[%u] is NULL", fn, i);
  return CLATTN_SUCCESS;
}

clattn_status clattn__check_call(clattn_context ctx, const char *fn,
                                 const void *params, cl_command_queue queue,
                                 cl_uint n_wait, const cl_event *wait,
                                 cl_event *event) {
  clattn_status st = clattn__check_context(ctx);
  if (st != CLATTN_SUCCESS)
    return st;
  if (event)
    *event = NULL;
  if (!params)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: params is NULL", fn);
  if ((st = clattn__check_queue(ctx, fn, queue)))
    return st;
  return clattn__check_events(ctx, fn, n_wait, wait);
}

clattn_status clattn__check_tensor3(clattn_context ctx, const char *fn,
                                    const char *arg, const clattn_tensor *t,
                                    cl_long rows, cl_long heads, cl_long dim,
                                    unsigned allowed) {
  if (!t || !t->buffer)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s%s is NULL", fn, arg, t ? " buffer" : "");
  clattn_status st = check_dtype(ctx, fn, arg, t->dtype, allowed);
  if (st != CLATTN_SUCCESS)
    return st;
  if (t->stride[0] < 0 || t->stride[1] < 0)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s strides (%lld, %lld) must be >= 0", fn, arg,
                        (long long)t->stride[0], (long long)t->stride[1]);
  if (rows <= 0 || heads <= 0 || dim <= 0)
    return CLATTN_SUCCESS; // an empty view touches nothing
  u128 end = (u128)t->offset + (u128)(rows - 1) * (u128)t->stride[0] +
             (u128)(heads - 1) * (u128)t->stride[1] + (u128)dim;
  return check_extent(ctx, fn, arg, t->buffer, end,
                      clattn__dtype_size(t->dtype));
}

clattn_status clattn__check_buffer(clattn_context ctx, const char *fn,
                                   const char *arg, clattn_buffer b,
                                   cl_long count, size_t elem, int optional) {
  if (!b.buffer) {
    if (optional)
      return CLATTN_SUCCESS;
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s buffer is NULL", fn, arg);
  }
  if (count <= 0)
    return CLATTN_SUCCESS;
  return check_extent(ctx, fn, arg, b.buffer, (u128)b.offset + (u128)count,
                      elem);
}

clattn_status clattn__check_cache(clattn_context ctx, const char *fn,
                                  const char *arg, const clattn_cache *c,
                                  cl_long heads, cl_long dim,
                                  unsigned allowed) {
  if (!c || !c->buffer)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s%s is NULL", fn, arg, c ? " buffer" : "");
  clattn_status st = check_dtype(ctx, fn, arg, c->dtype, allowed);
  if (st != CLATTN_SUCCESS)
    return st;
  if (c->block_size < 1)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s block_size %d must be >= 1", fn, arg,
                        c->block_size);
  if (c->num_blocks < 1)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s num_blocks %lld must be >= 1", fn, arg,
                        (long long)c->num_blocks);
  if (c->stride_block < 0 || c->stride_slot < 0 || c->stride_head < 0)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s strides (block %lld, slot %lld, head %lld) "
                        "must be >= 0",
                        fn, arg, (long long)c->stride_block,
                        (long long)c->stride_slot, (long long)c->stride_head);
  u128 end = (u128)c->offset +
             (u128)(c->num_blocks - 1) * (u128)c->stride_block +
             (u128)(c->block_size - 1) * (u128)c->stride_slot +
             (u128)(heads - 1) * (u128)c->stride_head + (u128)dim;
  return check_extent(ctx, fn, arg, c->buffer, end,
                      clattn__dtype_size(c->dtype));
}

clattn_status clattn__check_cache_scales(clattn_context ctx, const char *fn,
                                         const char *arg, const clattn_cache *c,
                                         cl_long heads) {
  const int quant = !(CLATTN_FLOAT_DTYPES & CLATTN_DTYPE_BIT(c->dtype));
  if (c->scale_mode < CLATTN_SCALE_TENSOR ||
      c->scale_mode > CLATTN_SCALE_TOKEN_HEAD)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s scale_mode %d is not 0 (tensor), 1 (tensor "
                        "buffer) or 2 (token-head)",
                        fn, arg, (int)c->scale_mode);
  if (!quant) {
    if (c->scale_mode != CLATTN_SCALE_TENSOR)
      return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                          "%s: %s scale_mode %d needs an fp8/i8 cache; a %s "
                          "cache takes 0 (tensor, ignored)",
                          fn, arg, (int)c->scale_mode,
                          clattn_dtype_name(c->dtype));
    return CLATTN_SUCCESS;
  }
  if (c->scale_mode == CLATTN_SCALE_TENSOR) {
    // A positive normal f32 (or 0 = 1): its reciprocal is then finite.
    if (!isfinite(c->scale) || c->scale < 0.0f ||
        (c->scale != 0.0f && c->scale < FLT_MIN))
      return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                          "%s: %s scale (%g) must be finite and >= %g, the "
                          "smallest normal f32 (0 = 1)",
                          fn, arg, (double)c->scale, (double)FLT_MIN);
    return CLATTN_SUCCESS;
  }
  if (c->scale_dtype != CLATTN_F32)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s scale_dtype %s (%d) is not accepted (f32 "
                        "only)",
                        fn, arg, clattn_dtype_name(c->scale_dtype),
                        (int)c->scale_dtype);
  char name[96];
  snprintf(name, sizeof name, "%s scales", arg);
  if (!c->scales.buffer)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s buffer is NULL (scale_mode %d needs it)", fn,
                        name, (int)c->scale_mode);
  if (c->scale_mode == CLATTN_SCALE_TENSOR_BUFFER)
    return check_extent(ctx, fn, name, c->scales.buffer,
                        (u128)c->scales.offset + 1, sizeof(cl_float));
  if (c->scale_stride_block < 0 || c->scale_stride_slot < 0 ||
      c->scale_stride_head < 0)
    return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "%s: %s strides (block %lld, slot %lld, head %lld) "
                        "must be >= 0",
                        fn, name, (long long)c->scale_stride_block,
                        (long long)c->scale_stride_slot,
                        (long long)c->scale_stride_head);
  u128 end = (u128)c->scales.offset +
             (u128)(c->num_blocks - 1) * (u128)c->scale_stride_block +
             (u128)(c->block_size - 1) * (u128)c->scale_stride_slot +
             (u128)(heads - 1) * (u128)c->scale_stride_head + 1;
  return check_extent(ctx, fn, name, c->scales.buffer, end, sizeof(cl_float));
}

// A view an op writes must not alias itself, or work-items race on shared
// elements. With its dimensions sorted by stride, each stride must step past
// everything the smaller ones span (a nested layout: every usual layout is);
// dimensions of size 1 are free.
clattn_status clattn__check_no_alias(clattn_context ctx, const char *fn,
                                     const char *arg, int n,
                                     const cl_long *sizes,
                                     const cl_long *strides, cl_long dim) {
  int order[3] = {0, 1, 2};
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strides[order[j]] < strides[order[j - 1]]; j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  u128 span = (u128)dim;
  for (int i = 0; i < n; i++) {
    const int k = order[i];
    if (sizes[k] <= 1)
      continue;
    if ((u128)strides[k] < span) {
      unsigned long long sp =
          span > (u128)UINT64_MAX ? UINT64_MAX : (unsigned long long)span;
      return clattn__fail(ctx, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                          "%s: %s is written, but its stride %lld (of a "
                          "dimension of %lld) is below the %llu elements the "
                          "smaller strides span, so elements alias",
                          fn, arg, (long long)strides[k], (long long)sizes[k],
                          sp);
    }
    span += (u128)(sizes[k] - 1) * (u128)strides[k];
  }
  return CLATTN_SUCCESS;
}
