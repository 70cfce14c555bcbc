// SPDX-License-Identifier: Apache-2.0
// Implementation of the shared test helpers: device selection, seeded RNG,
// host f16/bf16 conversions, and guarded + poisoned device buffers.
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---- device
// ------------------------------------------------------------------
int tu_parse_device(const char *s, int *p, int *d) {
  char tail = 0;
  if (!s || sscanf(s, "%d:%d%c", p, d, &tail) != 2 || *p < 0 || *d < 0)
    return -1;
  return 0;
}

int tu_open_device(int p, int d, tu_env *e) {
  memset(e, 0, sizeof *e);
  cl_uint np = 0;
  cl_platform_id plats[16];
  if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || np == 0) {
    fprintf(stderr, "no OpenCL platform found\n");
    return -1;
  }
  if ((cl_uint)p >= np) {
    fprintf(stderr, "platform %d does not exist (%u platforms)\n", p, np);
    return -1;
  }
  cl_uint nd = 0;
  cl_device_id devs[16];
  if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) !=
          CL_SUCCESS ||
      (cl_uint)d >= nd) {
    fprintf(stderr, "device %d:%d does not exist\n", p, d);
    return -1;
  }
  cl_int err = CL_SUCCESS;
  e->platform = plats[p];
  e->device = devs[d];
  e->plat_index = p;
  e->dev_index = d;
  e->ctx = clCreateContext(NULL, 1, &e->device, NULL, NULL, &err);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clCreateContext failed: %d\n", err);
    return -1;
  }
  e->queue =
      clCreateCommandQueue(e->ctx, e->device, CL_QUEUE_PROFILING_ENABLE, &err);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clCreateCommandQueue failed: %d\n", err);
    clReleaseContext(e->ctx);
    return -1;
  }
  clattn_status st = clattn_context_create(e->ctx, e->device, NULL, &e->cctx);
  if (st != CLATTN_SUCCESS) {
    fprintf(stderr, "clattn_context_create failed: %s\n",
            clattn_status_string(st));
    clReleaseCommandQueue(e->queue);
    clReleaseContext(e->ctx);
    return -1;
  }
  return 0;
}

static tu_env env;
static int env_state; // 0 unopened, 1 open, -1 failed

tu_env *tu_env_get(void) {
  if (env_state == 0) {
    const char *s = getenv("CLATTN_TEST_DEVICE");
    if (!s || !*s)
      s = getenv("CLATTN_DEVICE");
    int p = 0, d = 0;
    if (s && *s && tu_parse_device(s, &p, &d)) {
      fprintf(stderr, "FAIL: bad device '%s' (want P:D)\n", s);
      exit(1);
    }
    env_state = tu_open_device(p, d, &env) ? -1 : 1;
    if (env_state < 0 && s && *s) { // a device was named and is not there
      fprintf(stderr, "FAIL: device %s cannot be opened\n", s);
      exit(1);
    }
    if (env_state < 0)
      printf("SKIP: no OpenCL device\n");
    const char *fmt = getenv("CLATTN_PROGRAM_FORMAT");
    if (env_state == 1 && fmt && strcmp(fmt, "spirv") == 0 &&
        !(env.cctx->caps.features & CLATTN_CAP_SPIRV)) {
      const char *expect = getenv("CLATTN_EXPECT_SPIRV");
      if (expect && strcmp(expect, "1") == 0) {
        fprintf(stderr,
                "FAIL: CLATTN_EXPECT_SPIRV=1 but device '%s' lists "
                "no SPIR-V IL version ('%s')\n",
                env.cctx->caps.name, env.cctx->caps.il_versions);
        exit(1);
      }
      printf("SKIP: device '%s' does not accept SPIR-V (IL versions: '%s'); "
             "the spirv format cannot be tested here\n",
             env.cctx->caps.name, env.cctx->caps.il_versions);
      tu_env_close();
      env_state = -1;
    }
    if (env_state == 1) {
      printf("device %d:%d: %s (%s); seed %llu\n", p, d, env.cctx->caps.name,
             env.cctx->caps.platform, (unsigned long long)tu_seed());
      fflush(stdout);
    }
  }
  return env_state == 1 ? &env : NULL;
}

static int run(Suite *s, enum fork_status fork) {
  SRunner *sr = srunner_create(s);
  srunner_set_fork_status(sr, fork);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}

int tu_run_unit_suite(Suite *s) {
  return run(s, CK_FORK);
}

int tu_run_suite(Suite *s) {
  if (!tu_env_get()) {
    srunner_free(srunner_create(s)); // frees the suite (LeakSanitizer)
    return 77;
  }
  int failed = run(s, CK_NOFORK); // OpenCL objects must not cross a fork
  tu_env_close();
  return failed;
}

static void restore_selection(void) {
  tu_env *e = tu_env_get();
  if (!e)
    return;
  for (int op = 0; op < CLATTN_OP_COUNT_; op++)
    clattn_context_force_variant(e->cctx, (clattn_op)op, NULL);
  clFinish(e->queue);
}

Suite *tu_case_suite(const char *name, const TTest *args, const tu_tcase *tcs,
                     int ntcs) {
  Suite *s = suite_create(name);
  if (args) {
    TCase *ta = tcase_create("args");
    tcase_add_checked_fixture(ta, NULL, restore_selection);
    tcase_add_test(ta, args);
    suite_add_tcase(s, ta);
  }
  const char *large = getenv("CLATTN_TEST_LARGE");
  const int with_large = large && *large && strcmp(large, "0");
  for (int i = 0; i < ntcs; i++) {
    if (tcs[i].large && !with_large)
      continue;
    TCase *tc = tcase_create(tcs[i].name);
    tcase_add_checked_fixture(tc, NULL, restore_selection);
    tcase_add_loop_test(tc, tcs[i].fn, 0, tcs[i].n);
    suite_add_tcase(s, tc);
  }
  return s;
}

void tu_env_close(void) {
  if (env_state != 1)
    return;
  clattn_context_release(env.cctx);
  clReleaseCommandQueue(env.queue);
  clReleaseContext(env.ctx);
  env_state = 0;
}

int tu_eligible_variants(const tu_env *e, const clattn_select_args *a,
                         const char **names, int max) {
  clattn_candidate cands[64];
  int nc = 0, k = 0;
  char why[256];
  clattn__select(&e->cctx->caps, a, NULL, cands, 64, &nc, why, sizeof why);
  for (int i = 0; i < nc && k < max; i++)
    if (cands[i].eligible)
      names[k++] = cands[i].v->name;
  return k;
}

void tu_force_variant(tu_env *e, clattn_op op, const char *name) {
  clattn_status st = clattn_context_force_variant(e->cctx, op, name);
  if (st != CLATTN_SUCCESS) {
    fprintf(stderr, "forcing %s failed: %s\n", name ? name : "(auto)",
            clattn_context_last_error(e->cctx));
    abort();
  }
}

// ---- random numbers (splitmix64)
// ---------------------------------------------------
uint64_t tu_seed(void) {
  static uint64_t seed;
  static int have;
  if (!have) {
    const char *s = getenv("CLATTN_TEST_SEED");
    seed = (s && *s) ? strtoull(s, NULL, 0)
                     : ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)clock();
    have = 1;
  }
  return seed;
}

void tu_rng_init(tu_rng *r, uint64_t seed) {
  r->s = seed;
}

uint64_t tu_next(tu_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r, double lo, double hi) {
  return lo + (hi - lo) * ((double)(tu_next(r) >> 11) * 0x1.0p-53);
}

int tu_int(tu_rng *r, int lo, int hi) {
  return lo + (int)(tu_next(r) % (uint64_t)(hi - lo + 1));
}

// ---- dtypes
// -------------------------------------------------------------------------
float tu_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f,
           man = h & 0x3ff, u;
  if (exp == 0x1f)
    u = sign | 0x7f800000u | (man << 13);
  else if (exp == 0) {
    if (man == 0)
      u = sign;
    else { // subnormal: normalise
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400));
      u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
    }
  } else
    u = sign | ((exp + 112) << 23) | (man << 13);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t tu_f32_to_f16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u)
    return (uint16_t)(sign | 0x7e00);
  if (a >= 0x477ff000u) // rounds to >= 65520 -> inf
    return (uint16_t)(sign | 0x7c00);
  if (a < 0x38800000u) { // subnormal or zero in f16
    float af;
    memcpy(&af, &a, 4);
    // multiples of 2^-24, round to nearest even via rint
    return (uint16_t)(sign | (uint16_t)nearbyintf(af * 16777216.0f));
  }
  uint32_t r = a + 0xfffu + ((a >> 13) & 1u); // round to nearest even
  return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float tu_bf16_to_f32(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t tu_f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

double tu_load(const void *base, clattn_dtype dt, size_t i) {
  switch (dt) {
  case CLATTN_F32: return ((const float *)base)[i];
  case CLATTN_F16: return tu_f16_to_f32(((const uint16_t *)base)[i]);
  case CLATTN_BF16: return tu_bf16_to_f32(((const uint16_t *)base)[i]);
  case CLATTN_I32: return ((const int32_t *)base)[i];
  case CLATTN_I64: return (double)((const int64_t *)base)[i];
  default: return NAN;
  }
}

void tu_store(void *base, clattn_dtype dt, size_t i, double x) {
  switch (dt) {
  case CLATTN_F32: ((float *)base)[i] = (float)x; break;
  case CLATTN_F16: ((uint16_t *)base)[i] = tu_f32_to_f16((float)x); break;
  case CLATTN_BF16: ((uint16_t *)base)[i] = tu_f32_to_bf16((float)x); break;
  case CLATTN_I32: ((int32_t *)base)[i] = (int32_t)x; break;
  case CLATTN_I64: ((int64_t *)base)[i] = (int64_t)x; break;
  default: break;
  }
}

double tu_round(clattn_dtype dt, double x) {
  switch (dt) {
  case CLATTN_F32: return (float)x;
  case CLATTN_F16: return tu_f16_to_f32(tu_f32_to_f16((float)x));
  case CLATTN_BF16: return tu_bf16_to_f32(tu_f32_to_bf16((float)x));
  default: return x;
  }
}

// ---- tolerances
// -------------------------------------------------------------------------
double tu_f32_tol(int max_k) {
  return 0x1p-19 * (max_k > 256 ? sqrt(max_k / 256.0) : 1.0);
}

// u = 2^-11: P and V rounding give <= 2u = 2^-10 of out, score rounding
// scale * sqrt(dim) * 2^-10 with margin (tests/device/test_attention.c).
tu_tol tu_tf32_tol(double scale, int dim, int max_k) {
  const double f = tu_f32_tol(max_k);
  return (tu_tol){f + 0x1p-10 * (1.0 + 2.0 * scale * sqrt((double)dim)),
                  f + 0x1p-10};
}

double tu_tf32_lse_tol(double scale, int dim, int max_k) {
  return tu_f32_tol(max_k) + 0x1p-10 * scale * sqrt((double)dim);
}

int tu_variant_tf32(const char *name) {
  const clattn_variant *v = clattn__variant_by_name(name);
  return v && v->tf32;
}

tu_tol tu_out_tol(clattn_dtype dt, int max_k) {
  switch (dt) {
  case CLATTN_F16: return (tu_tol){0x1p-10, 0x1p-10};
  case CLATTN_BF16: return (tu_tol){0x1p-7, 0x1p-7};
  default: return (tu_tol){tu_f32_tol(max_k), tu_f32_tol(max_k)};
  }
}

// ---- guarded buffers
// ----------------------------------------------------------------------
int tu_buf_alloc(tu_env *e, tu_buf *b, size_t count, size_t elem) {
  memset(b, 0, sizeof *b);
  b->count = count;
  b->elem = elem;
  size_t total = (count + 2 * TU_GUARD) * elem;
  cl_int err = CL_SUCCESS;
  b->mem = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, total, NULL, &err);
  b->host = calloc(count ? count : 1, elem);
  if (err != CL_SUCCESS || !b->host) {
    fprintf(stderr, "tu_buf_alloc(%zu B) failed: %d\n", total, err);
    return -1;
  }
  return 0;
}

void tu_buf_free(tu_buf *b) {
  if (b->mem)
    clReleaseMemObject(b->mem);
  free(b->host);
  memset(b, 0, sizeof *b);
}

static int write_all(tu_env *e, tu_buf *b) {
  size_t g = TU_GUARD * b->elem, n = b->count * b->elem;
  unsigned char *all = malloc(n + 2 * g);
  if (!all)
    return -1;
  memset(all, TU_GUARD_BYTE, g);
  memcpy(all + g, b->host, n);
  memset(all + g + n, TU_GUARD_BYTE, g);
  cl_int err = clEnqueueWriteBuffer(e->queue, b->mem, CL_TRUE, 0, n + 2 * g,
                                    all, 0, NULL, NULL);
  free(all);
  return err == CL_SUCCESS ? 0 : -1;
}

int tu_buf_upload(tu_env *e, tu_buf *b) {
  return write_all(e, b);
}

int tu_buf_poison(tu_env *e, tu_buf *b) {
  memset(b->host, TU_POISON_BYTE, b->count * b->elem);
  return write_all(e, b);
}

size_t tu_buf_download(tu_env *e, tu_buf *b) {
  size_t g = TU_GUARD * b->elem, n = b->count * b->elem;
  unsigned char *all = malloc(n + 2 * g);
  if (!all)
    return (size_t)-1;
  cl_int err = clEnqueueReadBuffer(e->queue, b->mem, CL_TRUE, 0, n + 2 * g, all,
                                   0, NULL, NULL);
  if (err != CL_SUCCESS) {
    free(all);
    return (size_t)-1;
  }
  size_t bad = 0;
  for (size_t i = 0; i < g; i++) {
    bad += all[i] != TU_GUARD_BYTE;
    bad += all[g + n + i] != TU_GUARD_BYTE;
  }
  memcpy(b->host, all + g, n);
  free(all);
  return bad;
}

clattn_tensor tu_tensor(const tu_buf *b, clattn_dtype dt, cl_long s0,
                        cl_long s1) {
  clattn_tensor t = {b->mem, TU_GUARD, {s0, s1}, dt};
  return t;
}

clattn_buffer tu_buffer(const tu_buf *b) {
  clattn_buffer x = {b->mem, TU_GUARD};
  return x;
}
