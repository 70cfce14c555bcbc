// SPDX-License-Identifier: Apache-2.0
// The split-KV scratch buffers a context keeps between calls: one per
// in-order queue (a few queues, least recently used out), so that a decode
// step does not pay a fresh clCreateBuffer on the device's timeline.
#include "internal.h"

#include <string.h>

// A call needing more than this allocates its own buffer, as before: only
// decode-sized partials are worth keeping alive between calls.
#define SCRATCH_KEEP_MAX ((size_t)64 << 20)

static cl_mem create(clattn_context ctx, size_t bytes, cl_int *err) {
  cl_mem m = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, err);
  if (CLATTN_FAULT(CLATTN_FAULT_SCRATCH_OOM) && m) {
    clReleaseMemObject(m);
    m = NULL;
    *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
  }
  return m;
}

static void drop(clattn_scratch *s) {
  if (s->buffer)
    clReleaseMemObject(s->buffer);
  clReleaseCommandQueue(s->queue);
  memset(s, 0, sizeof *s);
}

cl_mem clattn__scratch_acquire(clattn_context ctx, cl_command_queue queue,
                               size_t bytes, int *slot, cl_int *err) {
  *slot = -1;
  *err = CL_SUCCESS;
  cl_command_queue_properties props = 0;
  if (bytes > SCRATCH_KEEP_MAX ||
      clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props,
                            NULL) != CL_SUCCESS ||
      (props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE))
    return create(ctx, bytes, err);

  mtx_lock(&ctx->lock);
  clattn_scratch *s = NULL, *lru = NULL;
  for (int i = 0; i < CLATTN_SCRATCH_SLOTS; i++) {
    clattn_scratch *e = &ctx->scratch[i];
    if (e->queue == queue)
      s = e;
    else if (!e->busy &&
             (!lru || !e->queue || (lru->queue && e->last_use < lru->last_use)))
      lru = e;
  }
  if (s && s->busy) {
    // Another thread is between the two enqueues of its call on this
    // queue: a buffer of its own keeps the partials apart.
    mtx_unlock(&ctx->lock);
    return create(ctx, bytes, err);
  }
  if (!s) {
    if (!lru) {
      mtx_unlock(&ctx->lock);
      return create(ctx, bytes, err);
    }
    if (lru->queue)
      drop(lru);
    s = lru;
  }
  if (s->buffer && s->size < bytes) {
    clReleaseMemObject(s->buffer); // OpenCL keeps it for queued kernels
    s->buffer = NULL;
    s->size = 0;
  }
  if (!s->buffer) {
    s->buffer = create(ctx, bytes, err);
    if (!s->buffer) {
      if (s->queue)
        drop(s);
      mtx_unlock(&ctx->lock);
      return NULL;
    }
    s->size = bytes;
    if (!s->queue) {
      clRetainCommandQueue(queue);
      s->queue = queue;
    }
  }
  s->busy = 1;
  s->last_use = ++ctx->scratch_clock;
  clRetainMemObject(s->buffer);
  *slot = (int)(s - ctx->scratch);
  mtx_unlock(&ctx->lock);
  return s->buffer;
}

void clattn__scratch_done(clattn_context ctx, int slot) {
  if (slot < 0)
    return;
  mtx_lock(&ctx->lock);
  ctx->scratch[slot].busy = 0;
  mtx_unlock(&ctx->lock);
}

void clattn__scratch_free_all(clattn_context ctx) {
  for (int i = 0; i < CLATTN_SCRATCH_SLOTS; i++)
    if (ctx->scratch[i].queue)
      drop(&ctx->scratch[i]);
}
