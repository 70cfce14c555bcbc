// SPDX-License-Identifier: Apache-2.0
// Concurrency: several threads enqueue ops at once, on one shared clattn
// context (each with its own queue) and on contexts of their own; every
// thread checks its own results exactly.
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <threads.h>

#define N_THREADS 4
#define ROUNDS 6

typedef struct job {
  tu_env *e;
  clattn_context cctx; // shared or own
  int id;
  int failures;
  char msg[256];
} job;

static int worker(void *arg) {
  job *j = arg;
  cl_int err;
  cl_command_queue q = clCreateCommandQueue(j->e->ctx, j->e->device, 0, &err);
  if (err != CL_SUCCESS) {
    snprintf(j->msg, sizeof j->msg, "queue: %d", err);
    j->failures++;
    return 0;
  }
  const int T = 33, H = 2, D = 64 + 4 * j->id, BS = 8, NB = 6;
  tu_rng r;
  tu_rng_init(&r, tu_seed() + (uint64_t)j->id);
  float *key = malloc(sizeof(float) * T * H * D);
  int64_t slots[33];
  for (int i = 0; i < T * H * D; i++)
    key[i] = (float)tu_uniform(&r, -1, 1);
  for (int t = 0; t < T; t++)
    slots[t] = (t * 7 + j->id) % (BS * NB) == 5 ? -1 : (t * 7 + j->id) % (BS * NB);
  size_t cache_n = (size_t)NB * BS * H * D;
  cl_mem kb = clCreateBuffer(j->e->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                             sizeof(float) * T * H * D, key, &err);
  cl_mem sb = clCreateBuffer(j->e->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                             sizeof slots, slots, &err);
  cl_mem cb = clCreateBuffer(j->e->ctx, CL_MEM_READ_WRITE, cache_n * 4, NULL,
                             &err);
  float *back = malloc(cache_n * 4);
  for (int round = 0; round < ROUNDS && !j->failures; round++) {
    float fill = -1000.0f - (float)round;
    clEnqueueFillBuffer(q, cb, &fill, 4, 0, cache_n * 4, 0, NULL, NULL);
    clattn_tensor kt = {kb, 0, {H * D, D}, CLATTN_F32};
    clattn_cache c =
        clattn__cache(cb, 0, BS * H * D, H * D, D, CLATTN_F32, BS, NB);
    clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
    p.num_tokens = T, p.num_kv_heads = H, p.head_dim = D;
    clattn_buffer s = {sb, 0};
    clattn_status st = clattn_kv_write(j->cctx, q, &p, &kt, NULL, s, &c, NULL,
                                       0, NULL, NULL);
    if (st != CLATTN_SUCCESS) {
      snprintf(j->msg, sizeof j->msg, "kv_write: %s",
               clattn_status_string(st));
      j->failures++;
      break;
    }
    clEnqueueReadBuffer(q, cb, CL_TRUE, 0, cache_n * 4, back, 0, NULL, NULL);
    // Every slot no token names keeps this round's fill value.
    for (size_t sl = 0; sl < (size_t)BS * NB && !j->failures; sl++) {
      int named = 0;
      for (int t = 0; t < T; t++)
        named |= slots[t] == (int64_t)sl;
      for (size_t i = 0; !named && i < (size_t)H * D; i++)
        if (back[sl * H * D + i] != fill) {
          snprintf(j->msg, sizeof j->msg,
                   "thread %d round %d: unnamed slot %zu written", j->id,
                   round, sl);
          j->failures++;
          break;
        }
    }
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++) {
          if (slots[t] < 0)
            continue;
          float want = key[(t * H + h) * D + d];
          float got = back[(size_t)slots[t] * H * D + (size_t)h * D + d];
          if (got != want && !j->failures) {
            snprintf(j->msg, sizeof j->msg, "thread %d round %d t %d: %g != %g",
                     j->id, round, t, got, want);
            j->failures++;
          }
        }
  }
  free(key);
  free(back);
  clReleaseMemObject(kb);
  clReleaseMemObject(sb);
  clReleaseMemObject(cb);
  clReleaseCommandQueue(q);
  return 0;
}

static void run_threads(int shared) {
  tu_env *e = tu_env_get();
  thrd_t th[N_THREADS];
  job jobs[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].e = e;
    jobs[i].id = i;
    jobs[i].cctx = e->cctx;
    if (!shared)
      ck_assert_int_eq(clattn_context_create(e->ctx, e->device, NULL,
                                             &jobs[i].cctx),
                       CLATTN_SUCCESS);
  }
  for (int i = 0; i < N_THREADS; i++)
    ck_assert_int_eq(thrd_create(&th[i], worker, &jobs[i]), thrd_success);
  for (int i = 0; i < N_THREADS; i++)
    thrd_join(th[i], NULL);
  for (int i = 0; i < N_THREADS; i++) {
    ck_assert_msg(jobs[i].failures == 0, "%s", jobs[i].msg);
    if (!shared)
      clattn_context_release(jobs[i].cctx);
  }
}

START_TEST(shared_context) { run_threads(1); }
END_TEST

START_TEST(separate_contexts) { run_threads(0); }
END_TEST

int main(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("kv_write");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, shared_context);
  tcase_add_test(tc, separate_contexts);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
