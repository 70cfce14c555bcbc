// SPDX-License-Identifier: Apache-2.0
// Program building: chooses variant and format for a call, builds programs
// from SPIR-V (falling back to source, logged) or source, keeps them per
// (context, variant, format) in memory and as binaries on disk.
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

clattn_status clattn__choose(clattn_context ctx, const clattn_select_args *a,
                             const clattn_variant **variant,
                             clattn_format *format) {
  char why[256];
  char forced[64], ffmt[16];
  mtx_lock(&ctx->lock);
  memcpy(forced, ctx->forced_variant[a->op], sizeof forced);
  memcpy(ffmt, ctx->forced_format, sizeof ffmt);
  mtx_unlock(&ctx->lock);
  clattn_candidate cands[64];
  int nc = 0;
  const clattn_variant *v =
      clattn__select(&ctx->caps, a, forced[0] ? forced : NULL, cands, 64, &nc,
                     why, sizeof why);
  if (ctx->log_debug || ctx->opts.log) {
    for (int i = 0; i < nc; i++)
      clattn__log(
          ctx, "select %s: %-28s %s%s", clattn_op_name(a->op), cands[i].v->name,
          cands[i].eligible ? "eligible" : "rejected: ", cands[i].reason);
  }
  if (!v) // the first row's reason tells the caller why (no compiler, ...)
    return clattn__fail(ctx, CLATTN_ERROR_NO_VARIANT, 0, "%s: %s%s%s%s%s%s",
                        clattn_op_name(a->op), why, nc ? " (" : "",
                        nc ? cands[0].v->name : "", nc ? ": " : "",
                        nc ? cands[0].reason : "", nc ? ")" : "");
  int f = clattn__pick_format(&ctx->caps, v, ffmt[0] ? ffmt : NULL, why,
                              sizeof why);
  if (f < 0)
    return clattn__fail(ctx, CLATTN_ERROR_NO_VARIANT, 0, "%s: variant %s: %s",
                        clattn_op_name(a->op), v->name, why);
  clattn__log(ctx, "select %s: chose %s (%s)", clattn_op_name(a->op), v->name,
              clattn__format_name((clattn_format)f));
  *variant = v;
  *format = (clattn_format)f;
  return CLATTN_SUCCESS;
}

// Key of a program binary on disk: everything that changes the binary.
static void cache_key(clattn_context ctx, const clattn_variant *v,
                      clattn_format f, char *key, size_t n) {
  const clattn_source *src = clattn__source(v->source_index);
  uint64_t h = 0xcbf29ce484222325ull;
  if (f == CLATTN_FORMAT_SPIRV)
    h = fnv1a(h, v->spirv, v->spirv_len);
  else if (src)
    h = fnv1a(h, src->text, src->len);
  snprintf(key, n, "clattn %s|%s|%s|%s|%s|%s|%s|%016llx", CLATTN_VERSION_STRING,
           ctx->caps.platform, ctx->caps.name, ctx->caps.driver, v->name,
           clattn__format_name(f), v->build_options, (unsigned long long)h);
}

static clattn_status build_log_fail(clattn_context ctx, cl_program prog,
                                    const clattn_variant *v, clattn_format f,
                                    cl_int err) {
  char log[3000] = "";
  size_t got = 0;
  clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, sizeof log - 1,
                        log, &got);
  log[sizeof log - 1] = '\0';
  return clattn__fail(ctx, CLATTN_ERROR_BUILD_FAILED, err,
                      "building %s from %s failed (cl_int %d); build log:\n%s",
                      v->name, clattn__format_name(f), err, log);
}

// A program from a device binary, built: NULL with *err set where the
// binary was refused; the program with *err = the build's error otherwise
// (the caller reads the log and releases it on failure).
static cl_program from_binary(clattn_context ctx, const unsigned char *bin,
                              size_t size, cl_int *err) {
  cl_int bst = CL_SUCCESS;
  cl_program p = clCreateProgramWithBinary(ctx->cl_ctx, 1, &ctx->device, &size,
                                           &bin, &bst, err);
  if (*err != CL_SUCCESS || bst != CL_SUCCESS || !p) {
    if (p)
      clReleaseProgram(p);
    if (*err == CL_SUCCESS)
      *err = bst != CL_SUCCESS ? bst : CL_INVALID_BINARY;
    return NULL;
  }
  *err = clBuildProgram(p, 1, &ctx->device, "", NULL, NULL);
  return p;
}

static clattn_status try_binary(clattn_context ctx, const char *key,
                                cl_program *out) {
  unsigned char *bin = NULL;
  size_t size = 0;
  if (clattn__disk_cache_load(ctx, key, &bin, &size))
    return CLATTN_ERROR_UNSUPPORTED;
  cl_int err = CL_SUCCESS;
  cl_program p = from_binary(ctx, bin, size, &err);
  free(bin);
  if (!p) {
    clattn__log(ctx, "program cache: unusable entry, rebuilding");
    return CLATTN_ERROR_UNSUPPORTED;
  }
  if (err != CL_SUCCESS) {
    clReleaseProgram(p);
    clattn__log(ctx, "program cache: entry failed to build, rebuilding");
    return CLATTN_ERROR_UNSUPPORTED;
  }
  *out = p;
  return CLATTN_SUCCESS;
}

static void store_binary(clattn_context ctx, const char *key, cl_program p) {
  size_t size = 0;
  if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
          CL_SUCCESS ||
      size == 0)
    return;
  unsigned char *bin = malloc(size);
  if (!bin)
    return;
  unsigned char *bins[1] = {bin};
  if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) ==
      CL_SUCCESS)
    clattn__disk_cache_store(ctx, key, bin, size);
  free(bin);
}

#define SM90A_MARK "//@sm90a@ "
#define SM90_TARGET ".target sm_90"

int clattn__ptx_sm90a(const char *ptx, size_t len, char **out,
                      size_t *out_len) {
  const size_t mk = strlen(SM90A_MARK), tg = strlen(SM90_TARGET);
  char *r = malloc(len + 2);
  size_t i = 0, o = 0;
  int marks = 0, target = 0;
  if (!r)
    return -1;
  while (i < len) {
    if (i + mk <= len && memcmp(ptx + i, SM90A_MARK, mk) == 0) {
      i += mk; // the instruction after the marker stays
      marks++;
    } else if (!target && i + tg < len &&
               memcmp(ptx + i, SM90_TARGET, tg) == 0 &&
               (ptx[i + tg] == 'a' || ptx[i + tg] == ',' ||
                ptx[i + tg] == ' ' || ptx[i + tg] == '\n' ||
                ptx[i + tg] == '\r')) {
      // sm_90 becomes sm_90a; a driver that already emits sm_90a keeps it.
      memcpy(r + o, SM90_TARGET "a", tg + 1);
      o += tg + 1;
      i += tg + (ptx[i + tg] == 'a');
      target = 1;
    } else {
      r[o++] = ptx[i++];
    }
  }
  if (!marks || !target) {
    free(r);
    return -1;
  }
  r[o] = '\0';
  *out = r;
  *out_len = o;
  return 0;
}

int clattn__ptx_maxnreg(const char *ptx, size_t len, const char *entry, int n,
                        char **out, size_t *out_len) {
  char head[160], dir[32];
  snprintf(head, sizeof head, ".entry %s(", entry);
  const size_t hl = strlen(head);
  const char *e = NULL;
  for (size_t i = 0; i + hl <= len; i++)
    if (memcmp(ptx + i, head, hl) == 0) {
      e = ptx + i;
      break;
    }
  if (!e || n <= 0)
    return -1;
  // The body opens at the first '{' after the parameter list, which holds
  // none; directives such as .reqntid sit between the two.
  const char *close = memchr(e, ')', len - (size_t)(e - ptx));
  const char *body =
      close ? memchr(close, '{', len - (size_t)(close - ptx)) : NULL;
  if (!body)
    return -1;
  for (const char *d = close; d + 8 <= body; d++)
    if (memcmp(d, ".maxnreg", 8) == 0)
      return -1;
  const int dl = snprintf(dir, sizeof dir, ".maxnreg %d\n", n);
  const size_t pre = (size_t)(body - ptx);
  char *r = malloc(len + (size_t)dl + 1);
  if (!r)
    return -1;
  memcpy(r, ptx, pre);
  memcpy(r + pre, dir, (size_t)dl);
  memcpy(r + pre + dl, body, len - pre);
  r[len + (size_t)dl] = '\0';
  *out = r;
  *out_len = len + (size_t)dl;
  return 0;
}

// ptx_sm90a and ptx_maxnreg rows: the source program's PTX, rewritten
// (sm_90a: markers stripped and retargeted, kernels.md "The wgmma rows";
// maxnreg: the attention kernel's register cap), built as a program binary
// in place of *p.
static clattn_status rebuild_ptx(clattn_context ctx, const clattn_variant *v,
                                 cl_program *p) {
  size_t size = 0, plen = 0, qlen = 0;
  char *ptx = NULL, *patched = NULL, *capped = NULL;
  cl_int err =
      clGetProgramInfo(*p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL);
  if (err == CL_SUCCESS && size > 0 && (ptx = malloc(size + 1)) != NULL) {
    unsigned char *bins[1] = {(unsigned char *)ptx};
    err = clGetProgramInfo(*p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL);
  }
  if (err == CL_SUCCESS && size > 0 && !ptx)
    return clattn__fail(ctx, CLATTN_ERROR_OUT_OF_MEMORY, 0,
                        "building %s: no host memory for its %zu-byte PTX",
                        v->name, size);
  const size_t len = ptx && err == CL_SUCCESS ? strnlen(ptx, size) : 0;
  if (!len || (v->ptx_sm90a && clattn__ptx_sm90a(ptx, len, &patched, &plen))) {
    free(ptx);
    return clattn__fail(ctx, CLATTN_ERROR_BUILD_FAILED, err,
                        !len ? "building %s: the driver returned no program "
                               "binary to rewrite"
                             : "building %s: the driver's program binary is "
                               "no PTX for .target sm_90 with sm_90a markers",
                        v->name);
  }
  if (!patched) {
    patched = ptx;
    plen = len;
    ptx = NULL;
  }
  free(ptx);
  if (v->ptx_maxnreg > 0) {
    if (clattn__ptx_maxnreg(patched, plen, "attention", v->ptx_maxnreg, &capped,
                            &qlen)) {
      free(patched);
      return clattn__fail(ctx, CLATTN_ERROR_BUILD_FAILED, err,
                          "building %s: found no `.entry attention(` without "
                          "a .maxnreg in the driver's PTX to cap at %d "
                          "registers",
                          v->name, v->ptx_maxnreg);
    }
    free(patched);
    patched = capped;
    plen = qlen;
  }
  cl_program q = from_binary(ctx, (const unsigned char *)patched, plen, &err);
  free(patched);
  if (!q)
    return clattn__fail(ctx, CLATTN_ERROR_BUILD_FAILED, err,
                        "building %s: the rewritten PTX was refused", v->name);
  if (err != CL_SUCCESS) {
    clattn_status st = build_log_fail(ctx, q, v, CLATTN_FORMAT_SOURCE, err);
    clReleaseProgram(q);
    return st;
  }
  clReleaseProgram(*p);
  *p = q;
  return CLATTN_SUCCESS;
}

static clattn_status build(clattn_context ctx, const clattn_variant *v,
                           clattn_format f, cl_program *out) {
  char key[1024];
  cache_key(ctx, v, f, key, sizeof key);
  if (ctx->cache_dir[0] && try_binary(ctx, key, out) == CLATTN_SUCCESS) {
    clattn__log(ctx, "program %s (%s): from disk cache", v->name,
                clattn__format_name(f));
    return CLATTN_SUCCESS;
  }
  cl_int err = CL_SUCCESS;
  cl_program p = NULL;
  char opts[1024];
  if (f == CLATTN_FORMAT_SPIRV) {
    typedef cl_program(CL_API_CALL * il_fn)(cl_context, const void *, size_t,
                                            cl_int *);
    cl_platform_id plat = NULL;
    clGetDeviceInfo(ctx->device, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL);
    // clCreateProgramWithIL is OpenCL 2.1; look it up so that the library
    // also loads against 1.2-only ICD loaders.
    il_fn create_il = (il_fn)clGetExtensionFunctionAddressForPlatform(
        plat, "clCreateProgramWithIL");
    if (!create_il)
      create_il = (il_fn)clGetExtensionFunctionAddressForPlatform(
          plat, "clCreateProgramWithILKHR");
    if (!create_il)
      return clattn__fail(ctx, CLATTN_ERROR_BUILD_FAILED, 0,
                          "%s: platform exposes no clCreateProgramWithIL",
                          v->name);
    p = create_il(ctx->cl_ctx, v->spirv, v->spirv_len, &err);
    snprintf(opts, sizeof opts, "%s", "");
  } else {
    const clattn_source *src = clattn__source(v->source_index);
    const char *text[2] = {"#error clattn fault injection\n",
                           (const char *)src->text};
    size_t len[2] = {strlen(text[0]), src->len};
    const int f0 = CLATTN_FAULT(CLATTN_FAULT_BUILD_ERROR) ? 0 : 1;
    p = clCreateProgramWithSource(ctx->cl_ctx, 2 - f0, text + f0, len + f0,
                                  &err);
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 %s", v->build_options);
  }
  if (err != CL_SUCCESS || !p)
    return clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                        "creating program %s (%s) failed", v->name,
                        clattn__format_name(f));
  err = clBuildProgram(p, 1, &ctx->device, opts, NULL, NULL);
  if (err != CL_SUCCESS) {
    clattn_status st = build_log_fail(ctx, p, v, f, err);
    clReleaseProgram(p);
    return st;
  }
  if ((v->ptx_sm90a || v->ptx_maxnreg > 0) && f == CLATTN_FORMAT_SOURCE) {
    clattn_status st = rebuild_ptx(ctx, v, &p);
    if (st != CLATTN_SUCCESS) {
      clReleaseProgram(p);
      return st;
    }
  }
  if (ctx->cache_dir[0])
    store_binary(ctx, key, p);
  *out = p;
  return CLATTN_SUCCESS;
}

clattn_status clattn__get_program(clattn_context ctx, const clattn_variant *v,
                                  clattn_format f, cl_program *program) {
  mtx_lock(&ctx->lock);
  for (clattn_program_entry *e = ctx->programs; e; e = e->next)
    if (e->v == v && e->format == f) {
      *program = e->program;
      mtx_unlock(&ctx->lock);
      return CLATTN_SUCCESS;
    }
  mtx_unlock(&ctx->lock);

  // Built outside the lock: other threads keep using cached programs.
  mtx_lock(&ctx->lock);
  int format_forced = ctx->forced_format[0] != '\0';
  mtx_unlock(&ctx->lock);
  cl_program p = NULL;
  clattn_status st = build(ctx, v, f, &p);
  if (st != CLATTN_SUCCESS && f == CLATTN_FORMAT_SPIRV &&
      (ctx->caps.features & CLATTN_CAP_COMPILER) && !format_forced) {
    clattn__log(ctx, "SPIR-V build of %s failed (%s); falling back to source",
                v->name, clattn_context_last_error(ctx));
    // The source program is kept under the SPIR-V entry, so the failing
    // SPIR-V build is tried once per context, not once per call.
    st = build(ctx, v, CLATTN_FORMAT_SOURCE, &p);
  }
  if (st != CLATTN_SUCCESS)
    return st;

  mtx_lock(&ctx->lock);
  for (clattn_program_entry *e = ctx->programs; e; e = e->next)
    if (e->v == v && e->format == f) { // another thread won the race
      clReleaseProgram(p);
      *program = e->program;
      mtx_unlock(&ctx->lock);
      return CLATTN_SUCCESS;
    }
  clattn_program_entry *e = calloc(1, sizeof *e);
  if (!e) {
    mtx_unlock(&ctx->lock);
    clReleaseProgram(p);
    return clattn__fail(ctx, CLATTN_ERROR_OUT_OF_MEMORY, 0,
                        "out of host memory");
  }
  e->v = v;
  e->format = f;
  e->program = p;
  e->next = ctx->programs;
  ctx->programs = e;
  mtx_unlock(&ctx->lock);
  *program = p;
  return CLATTN_SUCCESS;
}

clattn_status clattn__get_kernel(clattn_context ctx,
                                 const clattn_select_args *a,
                                 const char *kernel_name,
                                 const clattn_variant **variant,
                                 clattn_format *format, cl_kernel *kernel) {
  const clattn_variant *v = NULL;
  clattn_format f = CLATTN_FORMAT_SOURCE;
  clattn_status st = clattn__choose(ctx, a, &v, &f);
  if (st != CLATTN_SUCCESS)
    return st;
  cl_program p = NULL;
  st = clattn__get_program(ctx, v, f, &p);
  if (st != CLATTN_SUCCESS)
    return st;
  cl_int err = CL_SUCCESS;
  cl_kernel k = clCreateKernel(p, kernel_name, &err);
  if (err != CL_SUCCESS)
    return clattn__fail(ctx, CLATTN_ERROR_OPENCL, err,
                        "clCreateKernel(%s) in %s failed", kernel_name,
                        v->name);
  *variant = v;
  *format = f;
  *kernel = k;
  return CLATTN_SUCCESS;
}
