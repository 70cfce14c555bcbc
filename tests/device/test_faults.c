// SPDX-License-Identifier: Apache-2.0
// Faults, through the test-only hooks of clattn_core_faults (host/internal.h):
// a device without a compiler (only SPIR-V can serve), the split-KV scratch
// allocation failing, a kernel build failing (the log in the message); and,
// with --no-platform, the library when the ICD loader finds no platform.
#include "ref_attention.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static clattn_context fresh(tu_env *e, unsigned faults) {
  clattn_options o = CLATTN_OPTIONS_INIT;
  o.cache_dir = "off"; // every build is real
  clattn__faults = faults;
  clattn_context c = NULL;
  clattn_status st = clattn_context_create(e->ctx, e->device, &o, &c);
  ck_assert_msg(st == CLATTN_SUCCESS, "create: %s",
                clattn_context_last_error(NULL));
  // The environment's CLATTN_PROGRAM_FORMAT (set per ctest) is dropped: the
  // faults decide the format here.
  ck_assert_int_eq(clattn_context_force_format(c, NULL), CLATTN_SUCCESS);
  return c;
}

// A small kv_write into a poisoned, guarded cache; returns the status and
// leaves the downloaded cache in kc->host.
enum { T = 5, KH = 2, D = 16, BS = 4, NB = 2 };
static clattn_status kv_write_once(tu_env *e, clattn_context c, tu_buf *kc,
                                   float *key, size_t *guards) {
  tu_buf bk, bs;
  ck_assert_int_eq(tu_buf_alloc(e, &bk, T * KH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bs, T, 8), 0);
  ck_assert_int_eq(tu_buf_alloc(e, kc, NB * BS * KH * D, 4), 0);
  tu_rng r;
  tu_rng_init(&r, tu_seed());
  for (int i = 0; i < T * KH * D; i++)
    tu_store(bk.host, CLATTN_F32, i, key[i] = (float)tu_uniform(&r, -1, 1));
  for (int t = 0; t < T; t++)
    tu_store(bs.host, CLATTN_I64, t, t == 2 ? -1 : 7 - t);
  ck_assert_int_eq(tu_buf_upload(e, &bk), 0);
  ck_assert_int_eq(tu_buf_upload(e, &bs), 0);
  ck_assert_int_eq(tu_buf_poison(e, kc), 0);
  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_tokens = T, p.num_kv_heads = KH, p.head_dim = D;
  clattn_tensor kt = tu_tensor(&bk, CLATTN_F32, KH * D, D);
  clattn_cache cc = clattn__cache(kc->mem, tu_off(kc), BS * KH * D, KH * D, D,
                                  CLATTN_F32, BS, NB);
  clattn_status st = clattn_kv_write(c, e->queue, &p, &kt, NULL, tu_buffer(&bs),
                                     &cc, NULL, 0, NULL, NULL);
  ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
  *guards = tu_buf_download(e, kc);
  tu_buf_free(&bk);
  tu_buf_free(&bs);
  return st;
}

static int all_poison(const tu_buf *b) {
  for (size_t i = 0; i < b->count * b->elem; i++)
    if (b->host[i] != TU_POISON_BYTE)
      return 0;
  return 1;
}

START_TEST(no_compiler_spirv_only) {
  tu_env *e = tu_env_get();
  clattn_context c = fresh(e, CLATTN_FAULT_NO_COMPILER);
  ck_assert(!(c->caps.features & CLATTN_CAP_COMPILER));
  const int spirv = (c->caps.features & CLATTN_CAP_SPIRV) != 0;
  float key[T * KH * D];
  tu_buf kc;
  size_t g = 0;
  clattn_status st = kv_write_once(e, c, &kc, key, &g);
  ck_assert_msg(g == 0, "%zu guard bytes changed", g);
  if (spirv) {
    ck_assert_msg(st == CLATTN_SUCCESS, "SPIR-V only: %s",
                  clattn_context_last_error(c));
    const char *v = NULL, *f = NULL;
    ck_assert_int_eq(clattn_query_variant(c, CLATTN_OP_KV_WRITE, D, CLATTN_F32,
                                          CLATTN_F32, &v, &f),
                     CLATTN_SUCCESS);
    ck_assert_str_eq(f, "spirv");
    for (int t = 0; t < T; t++) {
      const long slot = t == 2 ? -1 : 7 - t;
      for (int h = 0; h < KH && slot >= 0; h++)
        for (int d = 0; d < D; d++) {
          const size_t at =
              ((size_t)(slot / BS) * BS * KH + (size_t)(slot % BS) * KH + h) *
                  D +
              d;
          ck_assert_float_eq(tu_load(kc.host, CLATTN_F32, at),
                             key[(t * KH + h) * D + d]);
        }
    }
    printf("no compiler: kv_write served by SPIR-V (%s)\n", v);
  } else {
    ck_assert_int_eq(st, CLATTN_ERROR_NO_VARIANT);
    ck_assert_msg(
        strstr(clattn_context_last_error(c), "no kv_write variant is eligible"),
        "message: %s", clattn_context_last_error(c));
    ck_assert(all_poison(&kc));
    printf("no compiler, no SPIR-V: NO_VARIANT: %s\n",
           clattn_context_last_error(c));
  }
  // Forcing source on a device without a compiler is refused, not tried.
  ck_assert_int_eq(clattn_context_force_format(c, "source"), CLATTN_SUCCESS);
  tu_buf_free(&kc);
  st = kv_write_once(e, c, &kc, key, &g);
  ck_assert_int_eq(st, CLATTN_ERROR_NO_VARIANT);
  ck_assert_msg(strstr(clattn_context_last_error(c), "no compiler"),
                "message: %s", clattn_context_last_error(c));
  ck_assert(g == 0 && all_poison(&kc));
  tu_buf_free(&kc);
  clattn__faults = 0;
  clattn_context_release(c);
}
END_TEST

START_TEST(build_failure_returns_log) {
  tu_env *e = tu_env_get();
  clattn_context c = fresh(e, CLATTN_FAULT_BUILD_ERROR);
  ck_assert_int_eq(clattn_context_force_format(c, "source"), CLATTN_SUCCESS);
  float key[T * KH * D];
  tu_buf kc;
  size_t g = 0;
  clattn_status st = kv_write_once(e, c, &kc, key, &g);
  const char *m = clattn_context_last_error(c);
  ck_assert_int_eq(st, CLATTN_ERROR_BUILD_FAILED);
  ck_assert_msg(strstr(m, "from source failed") && strstr(m, "build log:") &&
                    strstr(m, "clattn fault injection"),
                "message lacks the build log: %s", m);
  ck_assert_int_eq(clattn_context_last_cl_error(c), CL_BUILD_PROGRAM_FAILURE);
  ck_assert(g == 0 && all_poison(&kc));
  tu_buf_free(&kc);
  clattn__faults = 0;
  clattn_context_release(c);
}
END_TEST

// Split-KV scratch: forced num_splits fails with OUT_OF_MEMORY and writes
// nothing; automatic splitting falls back to one split and is exact.
static char log_seen[256];
static void capture(void *user, const char *line) {
  (void)user;
  if (strstr(line, "split-KV"))
    snprintf(log_seen, sizeof log_seen, "%s", line);
}

START_TEST(scratch_out_of_memory) {
  enum { B = 2, H = 4, AKH = 2, AD = 32, TK = 100 };
  tu_env *e = tu_env_get();
  clattn_options o = CLATTN_OPTIONS_INIT;
  o.cache_dir = "off";
  o.log = capture;
  clattn_context c = NULL;
  ck_assert_int_eq(clattn_context_create(e->ctx, e->device, &o, &c), 0);
  const int cu_q[B + 1] = {0, 1, 2}, cu_k[B + 1] = {0, 40, TK};
  tu_buf bq, bk, bv, bo, bcq, bck;
  ck_assert_int_eq(tu_buf_alloc(e, &bq, B * H * AD, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bk, TK * AKH * AD, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bv, TK * AKH * AD, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bo, B * H * AD, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bcq, B + 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bck, B + 1, 4), 0);
  double *q = malloc(sizeof(double) * B * H * AD),
         *k = malloc(sizeof(double) * TK * AKH * AD),
         *v = malloc(sizeof(double) * TK * AKH * AD),
         *ref = malloc(sizeof(double) * B * H * AD);
  tu_rng r;
  tu_rng_init(&r, tu_seed());
  for (int i = 0; i < B * H * AD; i++)
    tu_store(bq.host, CLATTN_F32, i, q[i] = (float)tu_uniform(&r, -1, 1));
  for (int i = 0; i < TK * AKH * AD; i++) {
    tu_store(bk.host, CLATTN_F32, i, k[i] = (float)tu_uniform(&r, -1, 1));
    tu_store(bv.host, CLATTN_F32, i, v[i] = (float)tu_uniform(&r, -1, 1));
  }
  memcpy(bcq.host, cu_q, sizeof cu_q);
  memcpy(bck.host, cu_k, sizeof cu_k);
  tu_buf *in[] = {&bq, &bk, &bv, &bcq, &bck};
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(tu_buf_upload(e, in[i]), 0);
  ref_attn_problem rp = {B, H,  AKH, AD, cu_q, cu_k, q, k, v, 1.0 / sqrt(AD),
                         0, -1, -1,  0,  NULL, NULL};
  ref_attention(&rp, ref, NULL);
  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = B, p.num_heads = H, p.num_kv_heads = AKH, p.head_dim = AD;
  p.total_q = B, p.total_k = TK, p.max_seqlen_q = 1;
  p.max_seqlen_k = 4096; // a generous hint: the automatic rule splits
  clattn_tensor tq = tu_tensor(&bq, CLATTN_F32, H * AD, AD),
                tk = tu_tensor(&bk, CLATTN_F32, AKH * AD, AD),
                tv = tu_tensor(&bv, CLATTN_F32, AKH * AD, AD),
                to = tu_tensor(&bo, CLATTN_F32, H * AD, AD);
  for (int forced = 1; forced >= 0; forced--) {
    p.num_splits = forced ? 4 : 0;
    log_seen[0] = '\0';
    ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
    clattn__faults = CLATTN_FAULT_SCRATCH_OOM;
    clattn_status st =
        clattn_attention(c, e->queue, &p, &tq, &tk, &tv, tu_buffer(&bcq),
                         tu_buffer(&bck), &to, NULL, 0, NULL, NULL);
    clattn__faults = 0;
    ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
    ck_assert_int_eq(tu_buf_download(e, &bo), 0);
    if (forced) {
      ck_assert_int_eq(st, CLATTN_ERROR_OUT_OF_MEMORY);
      ck_assert_msg(strstr(clattn_context_last_error(c),
                           "split-KV partials of num_splits 4 need"),
                    "message: %s", clattn_context_last_error(c));
      ck_assert_int_eq(clattn_context_last_cl_error(c),
                       CL_MEM_OBJECT_ALLOCATION_FAILURE);
      ck_assert(all_poison(&bo));
      continue;
    }
    ck_assert_msg(st == CLATTN_SUCCESS, "automatic: %s",
                  clattn_context_last_error(c));
    const tu_tol tol = tu_out_tol(CLATTN_F32, TK);
    for (int i = 0; i < B * H * AD; i++) {
      const double got = tu_load(bo.host, CLATTN_F32, i);
      ck_assert_msg(fabs(got - ref[i]) <= tol.atol + tol.rtol * fabs(ref[i]),
                    "elem %d: got %.8g want %.8g (seed %llu)", i, got, ref[i],
                    (unsigned long long)tu_seed());
    }
    if (c->caps.compute_units >= 2)
      ck_assert_msg(log_seen[0], "no split-KV fallback was logged");
    printf("scratch OOM, automatic splits: %s\n",
           log_seen[0] ? log_seen : "(did not split)");
  }
  tu_buf *all[] = {&bq, &bk, &bv, &bo, &bcq, &bck};
  for (int i = 0; i < 6; i++)
    tu_buf_free(all[i]);
  free(q), free(k), free(v), free(ref);
  clattn_context_release(c);
}
END_TEST

// Run by no_platform.sh with OCL_ICD_VENDORS naming an empty folder.
static int no_platform(void) {
  cl_uint n = 99;
  cl_int err = clGetPlatformIDs(0, NULL, &n);
  int bad = 0;
  if (err == CL_SUCCESS && n > 0) {
    fprintf(stderr, "a platform was found (%u): not a no-platform run\n", n);
    return 1;
  }
  clattn_context c = (clattn_context)(uintptr_t)1;
  clattn_status st = clattn_context_create(NULL, NULL, NULL, &c);
  bad |= st != CLATTN_ERROR_INVALID_ARGUMENT || c != NULL;
  printf("clGetPlatformIDs: %d; clattn_context_create(NULL, NULL): %s: %s\n",
         err, clattn_status_string(st), clattn_context_last_error(NULL));
  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  clattn_buffer none = {NULL, 0};
  st = clattn_kv_write(NULL, NULL, &p, NULL, NULL, none, NULL, NULL, 0, NULL,
                       NULL);
  bad |= st != CLATTN_ERROR_INVALID_CONTEXT;
  printf("clattn_kv_write(NULL context): %s\n", clattn_status_string(st));
  return bad;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--no-platform") == 0)
    return no_platform();
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, no_compiler_spirv_only);
  tcase_add_test(tc, build_failure_returns_log);
  tcase_add_test(tc, scratch_out_of_memory);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
