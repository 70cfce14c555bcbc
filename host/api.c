// SPDX-License-Identifier: Apache-2.0
// Context lifetime and settings: create/release over the caller's OpenCL
// objects, the live-handle registry that makes a released handle an error
// rather than a use-after-free, environment overrides, forcing and queries.
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Live handles. A released handle is no longer found here, so using it gives
// CLATTN_ERROR_INVALID_CONTEXT instead of touching freed memory.
static mtx_t live_lock;
static once_flag live_once = ONCE_FLAG_INIT;
static clattn_context *live;
static size_t n_live, cap_live;

static void live_init(void) {
  mtx_init(&live_lock, mtx_plain);
}

static int live_add(clattn_context c) {
  call_once(&live_once, live_init);
  mtx_lock(&live_lock);
  if (n_live == cap_live) {
    size_t nc = cap_live ? cap_live * 2 : 16;
    clattn_context *nl = realloc(live, nc * sizeof *nl);
    if (!nl) {
      mtx_unlock(&live_lock);
      return -1;
    }
    live = nl;
    cap_live = nc;
  }
  live[n_live++] = c;
  mtx_unlock(&live_lock);
  return 0;
}

static int live_remove(clattn_context c) {
  call_once(&live_once, live_init);
  int found = 0;
  mtx_lock(&live_lock);
  for (size_t i = 0; i < n_live; i++)
    if (live[i] == c) {
      live[i] = live[--n_live];
      found = 1;
      break;
    }
  mtx_unlock(&live_lock);
  return found;
}

clattn_status clattn__check_context(clattn_context c) {
  if (!c)
    return CLATTN_ERROR_INVALID_CONTEXT;
  call_once(&live_once, live_init);
  int found = 0;
  mtx_lock(&live_lock);
  for (size_t i = 0; i < n_live && !found; i++)
    found = live[i] == c;
  mtx_unlock(&live_lock);
  return found && c->magic == CLATTN_CONTEXT_MAGIC
             ? CLATTN_SUCCESS
             : CLATTN_ERROR_INVALID_CONTEXT;
}

static void resolve_cache_dir(clattn_context c, const char *opt) {
  const char *env = getenv("CLATTN_CACHE_DIR");
  const char *dir = opt ? opt : (env && *env ? env : NULL);
  c->cache_dir[0] = '\0';
  if (dir) {
    if (strcmp(dir, "off") != 0)
      snprintf(c->cache_dir, sizeof c->cache_dir, "%s", dir);
    return;
  }
  const char *xdg = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");
  if (xdg && *xdg)
    snprintf(c->cache_dir, sizeof c->cache_dir, "%s/clattn", xdg);
  else if (home && *home)
    snprintf(c->cache_dir, sizeof c->cache_dir, "%s/.cache/clattn", home);
}

static clattn_status apply_env(clattn_context c) {
  const char *fmt = getenv("CLATTN_PROGRAM_FORMAT");
  if (fmt && *fmt) {
    if (strcmp(fmt, "spirv") && strcmp(fmt, "source"))
      return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                          "CLATTN_PROGRAM_FORMAT='%s' is neither 'spirv' nor "
                          "'source'",
                          fmt);
    snprintf(c->forced_format, sizeof c->forced_format, "%s", fmt);
  }
  // CLATTN_VARIANT: one name, or a comma-separated list of names of
  // different ops.
  const char *var = getenv("CLATTN_VARIANT");
  if (var && *var) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", var);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
      const clattn_variant *v = clattn__variant_by_name(tok);
      if (!v)
        return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                            "CLATTN_VARIANT names '%s', which is no variant",
                            tok);
      snprintf(c->forced_variant[v->op], sizeof c->forced_variant[v->op], "%s",
               tok);
    }
  }
  return CLATTN_SUCCESS;
}

static void destroy(clattn_context c) {
  clattn__scratch_free_all(c);
  clattn_program_entry *e = c->programs;
  while (e) {
    clattn_program_entry *next = e->next;
    clReleaseProgram(e->program);
    free(e);
    e = next;
  }
  clReleaseContext(c->cl_ctx);
  clReleaseDevice(c->device);
  mtx_destroy(&c->lock);
  c->magic = 0;
  free(c);
}

// The message of this thread's last failed clattn_context_create, returned
// by clattn_context_last_error(NULL).
_Thread_local char clattn__create_error[512];

static clattn_status create_fail(clattn_status st, const char *msg) {
  snprintf(clattn__create_error, sizeof clattn__create_error, "%s", msg);
  return st;
}

clattn_status clattn_context_create(cl_context context, cl_device_id device,
                                    const clattn_options *options,
                                    clattn_context *out) {
  clattn__create_error[0] = '\0';
  if (!out)
    return create_fail(CLATTN_ERROR_INVALID_ARGUMENT,
                       "clattn_context_create: out is NULL");
  *out = NULL;
  if (!context || !device)
    return create_fail(CLATTN_ERROR_INVALID_ARGUMENT,
                       context ? "clattn_context_create: device is NULL"
                               : "clattn_context_create: context is NULL");
  cl_uint ndev = 0;
  cl_device_id devs[64];
  if (clGetContextInfo(context, CL_CONTEXT_NUM_DEVICES, sizeof ndev, &ndev,
                       NULL) != CL_SUCCESS ||
      ndev == 0 || ndev > 64 ||
      clGetContextInfo(context, CL_CONTEXT_DEVICES, ndev * sizeof devs[0], devs,
                       NULL) != CL_SUCCESS)
    return create_fail(CLATTN_ERROR_INVALID_ARGUMENT,
                       "clattn_context_create: context is not a valid "
                       "cl_context with 1..64 devices");
  int member = 0;
  for (cl_uint i = 0; i < ndev; i++)
    member |= devs[i] == device;
  if (!member)
    return create_fail(CLATTN_ERROR_INVALID_ARGUMENT,
                       "clattn_context_create: device is not a device of "
                       "context");

  clattn_context c = calloc(1, sizeof *c);
  if (!c)
    return create_fail(CLATTN_ERROR_OUT_OF_MEMORY,
                       "clattn_context_create: out of host memory");
  if (mtx_init(&c->lock, mtx_plain) != thrd_success) {
    free(c);
    return create_fail(CLATTN_ERROR_OUT_OF_MEMORY,
                       "clattn_context_create: mtx_init failed");
  }
  c->magic = CLATTN_CONTEXT_MAGIC;
  c->cl_ctx = context;
  c->device = device;
  clRetainContext(context);
  clRetainDevice(device);
  if (options)
    c->opts = *options;
  const char *log = getenv("CLATTN_LOG");
  c->log_debug = log && strcmp(log, "debug") == 0;
  resolve_cache_dir(c, options ? options->cache_dir : NULL);
  clattn__caps_probe(device, &c->caps);
  if (CLATTN_FAULT(CLATTN_FAULT_NO_COMPILER))
    c->caps.features &= ~(unsigned)CLATTN_CAP_COMPILER;
  clattn__log(c, "context on '%s' (%s), cache %s", c->caps.name,
              c->caps.platform, c->cache_dir[0] ? c->cache_dir : "off");
  clattn_status st = apply_env(c);
  if (st == CLATTN_SUCCESS && live_add(c))
    st = CLATTN_ERROR_OUT_OF_MEMORY;
  if (st != CLATTN_SUCCESS) {
    const char *m = c->last_error[0] ? c->last_error
                                     : "clattn_context_create: out of memory";
    size_t n = strlen(m);
    if (n >= sizeof clattn__create_error)
      n = sizeof clattn__create_error - 1;
    memcpy(clattn__create_error, m, n);
    clattn__create_error[n] = '\0';
    destroy(c);
    return st;
  }
  *out = c;
  return CLATTN_SUCCESS;
}

void clattn_context_release(clattn_context c) {
  if (!c || !live_remove(c))
    return;
  destroy(c);
}

clattn_status clattn_context_force_variant(clattn_context c, clattn_op op,
                                           const char *name) {
  clattn_status st = clattn__check_context(c);
  if (st != CLATTN_SUCCESS)
    return st;
  if ((unsigned)op >= CLATTN_OP_COUNT_)
    return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "clattn_context_force_variant: op %d is not an op",
                        (int)op);
  if (name) {
    const clattn_variant *v = clattn__variant_by_name(name);
    if (!v || v->op != op)
      return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                          "clattn_context_force_variant: '%s' is not a %s "
                          "variant",
                          name, clattn_op_name(op));
  }
  mtx_lock(&c->lock);
  snprintf(c->forced_variant[op], sizeof c->forced_variant[op], "%s",
           name ? name : "");
  mtx_unlock(&c->lock);
  return CLATTN_SUCCESS;
}

clattn_status clattn_context_force_format(clattn_context c,
                                          const char *format) {
  clattn_status st = clattn__check_context(c);
  if (st != CLATTN_SUCCESS)
    return st;
  if (format && strcmp(format, "spirv") && strcmp(format, "source"))
    return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "clattn_context_force_format: format '%s' is neither "
                        "'spirv' nor 'source'",
                        format);
  mtx_lock(&c->lock);
  snprintf(c->forced_format, sizeof c->forced_format, "%s",
           format ? format : "");
  mtx_unlock(&c->lock);
  return CLATTN_SUCCESS;
}

clattn_status clattn_query_variant(clattn_context c, clattn_op op,
                                   cl_int head_dim, clattn_dtype dtype,
                                   clattn_dtype cache_dtype,
                                   const char **variant, const char **format) {
  clattn_status st = clattn__check_context(c);
  if (st != CLATTN_SUCCESS)
    return st;
  if ((unsigned)op >= CLATTN_OP_COUNT_ || !variant || !format)
    return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "clattn_query_variant: op %d or a NULL output",
                        (int)op);
  if (head_dim < 1 || head_dim > 256 ||
      (unsigned)dtype >= CLATTN_DTYPE_COUNT_ ||
      (unsigned)cache_dtype >= CLATTN_DTYPE_COUNT_)
    return clattn__fail(c, CLATTN_ERROR_INVALID_ARGUMENT, 0,
                        "clattn_query_variant: head_dim %d (1..256) or dtype "
                        "codes %d/%d out of range",
                        head_dim, (int)dtype, (int)cache_dtype);
  clattn_select_args a = {op, head_dim, dtype, cache_dtype, 0, 0, 0, 0, 0};
  const clattn_variant *v = NULL;
  clattn_format f = CLATTN_FORMAT_SOURCE;
  st = clattn__choose(c, &a, &v, &f);
  if (st != CLATTN_SUCCESS)
    return st;
  *variant = v->name;
  *format = clattn__format_name(f);
  return CLATTN_SUCCESS;
}
