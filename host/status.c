// SPDX-License-Identifier: Apache-2.0
// Status strings, names of dtypes/ops/formats, the per-context error message
// and the logging path (callback, or stderr only under CLATTN_LOG).
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *clattn_version_string(void) {
  return CLATTN_VERSION_STRING;
}

const char *clattn_status_string(clattn_status st) {
  switch (st) {
  case CLATTN_SUCCESS: return "success";
  case CLATTN_ERROR_INVALID_ARGUMENT: return "invalid argument";
  case CLATTN_ERROR_BUFFER_TOO_SMALL: return "buffer too small";
  case CLATTN_ERROR_UNSUPPORTED: return "unsupported";
  case CLATTN_ERROR_NO_VARIANT:
    return "no kernel variant can run on this device";
  case CLATTN_ERROR_BUILD_FAILED: return "kernel build failed";
  case CLATTN_ERROR_OPENCL: return "OpenCL error";
  case CLATTN_ERROR_OUT_OF_MEMORY: return "out of memory";
  case CLATTN_ERROR_INVALID_CONTEXT: return "invalid clattn context";
  default: return "unknown status";
  }
}

static const char *const dtype_names[CLATTN_DTYPE_COUNT_] = {
    [CLATTN_F32] = "f32",           [CLATTN_F16] = "f16",
    [CLATTN_BF16] = "bf16",         [CLATTN_FP8_E4M3] = "fp8_e4m3",
    [CLATTN_FP8_E5M2] = "fp8_e5m2", [CLATTN_I8] = "i8",
    [CLATTN_I32] = "i32",           [CLATTN_I64] = "i64"};

const char *clattn_dtype_name(clattn_dtype dt) {
  if ((unsigned)dt >= CLATTN_DTYPE_COUNT_)
    return "invalid";
  return dtype_names[dt];
}

const char *clattn_op_name(clattn_op op) {
  switch (op) {
  case CLATTN_OP_KV_WRITE: return "kv_write";
  case CLATTN_OP_ATTENTION: return "attention";
  case CLATTN_OP_PAGED_ATTENTION: return "paged_attention";
  default: return "invalid";
  }
}

const char *clattn__format_name(clattn_format f) {
  return f == CLATTN_FORMAT_SPIRV ? "spirv" : "source";
}

size_t clattn__dtype_size(clattn_dtype dt) {
  switch (dt) {
  case CLATTN_F32:
  case CLATTN_I32: return 4;
  case CLATTN_F16:
  case CLATTN_BF16: return 2;
  case CLATTN_FP8_E4M3:
  case CLATTN_FP8_E5M2:
  case CLATTN_I8: return 1;
  case CLATTN_I64: return 8;
  default: return 0;
  }
}

static void vlog(clattn_context ctx, const char *fmt, va_list ap) {
  char line[4096];
  vsnprintf(line, sizeof line, fmt, ap);
  if (ctx && ctx->opts.log)
    ctx->opts.log(ctx->opts.log_user, line);
  else if (ctx && ctx->log_debug)
    fprintf(stderr, "clattn: %s\n", line);
}

void clattn__log(clattn_context ctx, const char *fmt, ...) {
  if (!ctx || (!ctx->opts.log && !ctx->log_debug))
    return;
  va_list ap;
  va_start(ap, fmt);
  vlog(ctx, fmt, ap);
  va_end(ap);
}

clattn_status clattn__fail(clattn_context ctx, clattn_status st, cl_int clerr,
                           const char *fmt, ...) {
  if (!ctx)
    return st;
  char msg[sizeof ctx->last_error];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mtx_lock(&ctx->lock);
  memcpy(ctx->last_error, msg, sizeof msg);
  ctx->last_cl_error = clerr;
  mtx_unlock(&ctx->lock);
  if (clerr)
    clattn__log(ctx, "error: %s (%s, cl_int %d)", msg, clattn_status_string(st),
                clerr);
  else
    clattn__log(ctx, "error: %s (%s)", msg, clattn_status_string(st));
  return st;
}

#ifdef CLATTN_FAULT_INJECTION
unsigned clattn__faults;
#endif

extern _Thread_local char clattn__create_error[512];

const char *clattn_context_last_error(clattn_context ctx) {
  static _Thread_local char copy[4096];
  if (!ctx)
    return clattn__create_error;
  if (clattn__check_context(ctx) != CLATTN_SUCCESS)
    return "invalid clattn context";
  mtx_lock(&ctx->lock);
  memcpy(copy, ctx->last_error, sizeof copy);
  mtx_unlock(&ctx->lock);
  return copy;
}

cl_int clattn_context_last_cl_error(clattn_context ctx) {
  if (clattn__check_context(ctx) != CLATTN_SUCCESS)
    return CL_INVALID_VALUE;
  mtx_lock(&ctx->lock);
  cl_int e = ctx->last_cl_error;
  mtx_unlock(&ctx->lock);
  return e;
}
