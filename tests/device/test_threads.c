// SPDX-License-Identifier: Apache-2.0
// Concurrency: several threads enqueue every op at once (kv_write exactly,
// attention and paged_attention against the reference), on one shared clattn
// context (each with its own queue) and on contexts of their own; split-KV
// calls of several threads in flight together on one queue.
#include "ref_attention.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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
  cl_event gate; // release_while_queued: ops wait on it; see attention_round
} job;

// One attention and one paged_attention call over the same q, k, v (the
// paged cache holds k, v in permuted blocks); both must match the reference.
// Returns 0, or 1 with j->msg set.
enum { AB = 2, AH = 4, AKH = 2, AD = 32, ATQ = 3, ATK = 14, ABS = 4, ANB = 5 };
static int attention_round(job *j, cl_command_queue q, tu_rng *r, int round) {
  tu_env *e = j->e;
  static const int cu_q[AB + 1] = {0, 1, ATQ}, cu_k[AB + 1] = {0, 5, ATK};
  static const int table[AB][3] = {{3, 0, 0}, {4, 1, 2}};
  const int lens[AB] = {5, 9};
  double qd[ATQ * AH * AD], kd[ATK * AKH * AD], vd[ATK * AKH * AD],
      ref[ATQ * AH * AD];
  tu_buf bq, bk, bv, bo, bcq, bck, bkc, bvc, bsl, bbt;
  int fail = tu_buf_alloc(e, &bq, ATQ * AH * AD, 4) |
             tu_buf_alloc(e, &bk, ATK * AKH * AD, 4) |
             tu_buf_alloc(e, &bv, ATK * AKH * AD, 4) |
             tu_buf_alloc(e, &bo, ATQ * AH * AD, 4) |
             tu_buf_alloc(e, &bcq, AB + 1, 4) |
             tu_buf_alloc(e, &bck, AB + 1, 4) |
             tu_buf_alloc(e, &bkc, ANB * ABS * AKH * AD, 4) |
             tu_buf_alloc(e, &bvc, ANB * ABS * AKH * AD, 4) |
             tu_buf_alloc(e, &bsl, AB, 4) | tu_buf_alloc(e, &bbt, AB * 3, 4);
  for (int i = 0; i < ATQ * AH * AD; i++)
    tu_store(bq.host, CLATTN_F32, i, qd[i] = (float)tu_uniform(r, -1, 1));
  for (int i = 0; i < ATK * AKH * AD; i++) {
    tu_store(bk.host, CLATTN_F32, i, kd[i] = (float)tu_uniform(r, -1, 1));
    tu_store(bv.host, CLATTN_F32, i, vd[i] = (float)tu_uniform(r, -1, 1));
  }
  memcpy(bcq.host, cu_q, sizeof cu_q);
  memcpy(bck.host, cu_k, sizeof cu_k);
  memcpy(bsl.host, lens, sizeof lens);
  memcpy(bbt.host, table, sizeof table);
  for (int s = 0; s < AB; s++)
    for (int t = 0; t < lens[s]; t++)
      for (int i = 0; i < AKH * AD; i++) {
        size_t at = ((size_t)table[s][t / ABS] * ABS + t % ABS) * AKH * AD + i;
        size_t from = (size_t)(cu_k[s] + t) * AKH * AD + i;
        tu_store(bkc.host, CLATTN_F32, at, kd[from]);
        tu_store(bvc.host, CLATTN_F32, at, vd[from]);
      }
  ref_attn_problem rp = {
      AB, AH, AKH, AD, cu_q, cu_k, qd, kd, vd, 1.0 / sqrt(AD),
      1,  -1, -1,  0,  NULL, NULL};
  ref_attention(&rp, ref, NULL);
  tu_buf *in[] = {&bq, &bk, &bv, &bcq, &bck, &bkc, &bvc, &bsl, &bbt};
  for (int i = 0; i < 9; i++)
    fail |= tu_buf_upload(e, in[i]);
  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = AB, p.num_heads = AH, p.num_kv_heads = AKH, p.head_dim = AD;
  p.total_q = ATQ, p.total_k = ATK, p.max_seqlen_q = 2, p.max_seqlen_k = 9;
  p.causal = 1, p.max_blocks_per_seq = 3, p.block_table_stride = 3;
  p.num_splits = round % 2 ? 0 : 2;
  clattn_tensor tq = tu_tensor(&bq, CLATTN_F32, AH * AD, AD),
                tk = tu_tensor(&bk, CLATTN_F32, AKH * AD, AD),
                tv = tu_tensor(&bv, CLATTN_F32, AKH * AD, AD),
                to = tu_tensor(&bo, CLATTN_F32, AH * AD, AD);
  clattn_cache kc = clattn__cache(bkc.mem, tu_off(&bkc), ABS * AKH * AD,
                                  AKH * AD, AD, CLATTN_F32, ABS, ANB);
  clattn_cache vc = kc;
  vc.buffer = bvc.mem;
  const tu_tol tol = tu_out_tol(CLATTN_F32, ATK);
  // With a gate (release_while_queued) only attention runs: it is enqueued
  // behind the gate, the clattn context is released, then the gate opens.
  const cl_uint nw = j->gate ? 1 : 0;
  const cl_event *wl = j->gate ? &j->gate : NULL;
  if (j->gate)
    p.num_splits = 2; // the per-call scratch buffer and the merge kernel too
  for (int op = 0; op < (j->gate ? 1 : 2) && !fail; op++) {
    fail |= tu_buf_poison(e, &bo);
    clattn_status st =
        op == 0
            ? clattn_attention(j->cctx, q, &p, &tq, &tk, &tv, tu_buffer(&bcq),
                               tu_buffer(&bck), &to, NULL, nw, wl, NULL)
            : clattn_paged_attention(j->cctx, q, &p, &tq, &kc, &vc,
                                     tu_buffer(&bcq), tu_buffer(&bsl),
                                     tu_buffer(&bbt), &to, NULL, 0, NULL, NULL);
    if (j->gate) {
      clattn_context_release(j->cctx);
      j->cctx = NULL;
      clSetUserEventStatus(j->gate, CL_COMPLETE);
    }
    clFinish(q);
    if (st != CLATTN_SUCCESS) {
      snprintf(j->msg, sizeof j->msg, "thread %d: %s: %s", j->id,
               op ? "paged_attention" : "attention", clattn_status_string(st));
      fail = 1;
      break;
    }
    // The default queue downloads; this queue's work is finished above.
    if (tu_buf_download(e, &bo)) {
      snprintf(j->msg, sizeof j->msg, "thread %d: out guard written", j->id);
      fail = 1;
    }
    for (int i = 0; i < ATQ * AH * AD && !fail; i++) {
      double got = tu_load(bo.host, CLATTN_F32, i);
      if (!(fabs(got - ref[i]) <= tol.atol + tol.rtol * fabs(ref[i]))) {
        snprintf(j->msg, sizeof j->msg,
                 "thread %d round %d %s elem %d: %g want %g (seed %llu)", j->id,
                 round, op ? "paged_attention" : "attention", i, got, ref[i],
                 (unsigned long long)tu_seed());
        fail = 1;
      }
    }
  }
  tu_buf *all[] = {&bq, &bk, &bv, &bo, &bcq, &bck, &bkc, &bvc, &bsl, &bbt};
  for (int i = 0; i < 10; i++)
    tu_buf_free(all[i]);
  return fail;
}

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
    slots[t] =
        (t * 7 + j->id) % (BS * NB) == 5 ? -1 : (t * 7 + j->id) % (BS * NB);
  size_t cache_n = (size_t)NB * BS * H * D;
  cl_mem kb = clCreateBuffer(j->e->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                             sizeof(float) * T * H * D, key, &err);
  cl_mem sb = clCreateBuffer(j->e->ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                             sizeof slots, slots, &err);
  cl_mem cb =
      clCreateBuffer(j->e->ctx, CL_MEM_READ_WRITE, cache_n * 4, NULL, &err);
  float *back = malloc(cache_n * 4);
  for (int round = 0; round < ROUNDS && !j->failures; round++) {
    if (attention_round(j, q, &r, round)) {
      j->failures++;
      break;
    }
    float fill = -1000.0f - (float)round;
    clEnqueueFillBuffer(q, cb, &fill, 4, 0, cache_n * 4, 0, NULL, NULL);
    clattn_tensor kt = {kb, 0, {H * D, D}, CLATTN_F32};
    clattn_cache c =
        clattn__cache(cb, 0, BS * H * D, H * D, D, CLATTN_F32, BS, NB);
    clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
    p.num_tokens = T, p.num_kv_heads = H, p.head_dim = D;
    clattn_buffer s = {sb, 0};
    clattn_status st =
        clattn_kv_write(j->cctx, q, &p, &kt, NULL, s, &c, NULL, 0, NULL, NULL);
    if (st != CLATTN_SUCCESS) {
      snprintf(j->msg, sizeof j->msg, "kv_write: %s", clattn_status_string(st));
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
                   "thread %d round %d: unnamed slot %zu written", j->id, round,
                   sl);
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
      ck_assert_int_eq(
          clattn_context_create(e->ctx, e->device, NULL, &jobs[i].cctx),
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

START_TEST(shared_context) {
  run_threads(1);
}
END_TEST

START_TEST(separate_contexts) {
  run_threads(0);
}
END_TEST

// Releasing a clattn context while its work waits in a queue: the queued
// kernels keep their own references and complete with exact results (under
// the ASan leg this also proves no use-after-free; docs/failure.md).
START_TEST(release_while_queued) {
  tu_env *e = tu_env_get();
  job j;
  memset(&j, 0, sizeof j);
  j.e = e;
  cl_int err;
  ck_assert_int_eq(clattn_context_create(e->ctx, e->device, NULL, &j.cctx),
                   CLATTN_SUCCESS);
  j.gate = clCreateUserEvent(e->ctx, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  cl_command_queue q = clCreateCommandQueue(e->ctx, e->device, 0, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  tu_rng r;
  tu_rng_init(&r, tu_seed() + 99);
  ck_assert_msg(attention_round(&j, q, &r, 0) == 0, "%s", j.msg);
  ck_assert_ptr_null(j.cctx);
  clReleaseEvent(j.gate);
  clReleaseCommandQueue(q);
}
END_TEST

// Split calls in flight together on one queue (the context keeps one
// split-KV scratch buffer per in-order queue, host/scratch.c): N_THREADS
// threads each enqueue SQ_CALLS attention calls with growing and shrinking
// split counts on one shared queue, without waiting in between, then check
// every output. On an out-of-order queue each call gets its own buffer.
enum { SB = 2, SH = 4, SKH = 2, SD = 32, SK = 100, SQ_CALLS = 4 };
typedef struct split_call {
  tu_buf bq, bk, bv, bo, bcq, bck;
  double ref[SB * SH * SD];
} split_call;

typedef struct split_job {
  tu_env *e;
  cl_command_queue queue;
  int id, failures;
  char msg[256];
} split_job;

static int split_worker(void *arg) {
  split_job *j = arg;
  tu_env *e = j->e;
  static const int splits[SQ_CALLS] = {2, 37, 9, 64};
  static const int cu_q[SB + 1] = {0, 1, 2}, cu_k[SB + 1] = {0, 40, SK};
  split_call *c = calloc(SQ_CALLS, sizeof *c);
  double *kd = malloc(sizeof(double) * SK * SKH * SD);
  double *vd = malloc(sizeof(double) * SK * SKH * SD);
  double qd[SB * SH * SD];
  tu_rng r;
  tu_rng_init(&r, tu_seed() + 1000u + (uint64_t)j->id);
  for (int n = 0; n < SQ_CALLS && !j->failures; n++) {
    split_call *x = &c[n];
    int fail = tu_buf_alloc(e, &x->bq, SB * SH * SD, 4) |
               tu_buf_alloc(e, &x->bk, SK * SKH * SD, 4) |
               tu_buf_alloc(e, &x->bv, SK * SKH * SD, 4) |
               tu_buf_alloc(e, &x->bo, SB * SH * SD, 4) |
               tu_buf_alloc(e, &x->bcq, SB + 1, 4) |
               tu_buf_alloc(e, &x->bck, SB + 1, 4);
    for (int i = 0; i < SB * SH * SD; i++)
      tu_store(x->bq.host, CLATTN_F32, i, qd[i] = (float)tu_uniform(&r, -1, 1));
    for (int i = 0; i < SK * SKH * SD; i++) {
      tu_store(x->bk.host, CLATTN_F32, i, kd[i] = (float)tu_uniform(&r, -1, 1));
      tu_store(x->bv.host, CLATTN_F32, i, vd[i] = (float)tu_uniform(&r, -1, 1));
    }
    memcpy(x->bcq.host, cu_q, sizeof cu_q);
    memcpy(x->bck.host, cu_k, sizeof cu_k);
    ref_attn_problem rp = {
        SB, SH, SKH, SD, cu_q, cu_k, qd, kd, vd, 1.0 / sqrt(SD),
        0,  -1, -1,  0,  NULL, NULL};
    ref_attention(&rp, x->ref, NULL);
    tu_buf *in[] = {&x->bq, &x->bk, &x->bv, &x->bcq, &x->bck};
    for (int i = 0; i < 5; i++)
      fail |= tu_buf_upload(e, in[i]);
    fail |= tu_buf_poison(e, &x->bo);
    clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
    p.batch = SB, p.num_heads = SH, p.num_kv_heads = SKH, p.head_dim = SD;
    p.total_q = SB, p.total_k = SK, p.max_seqlen_q = 1, p.max_seqlen_k = 60;
    p.num_splits = splits[(n + j->id) % SQ_CALLS];
    clattn_tensor tq = tu_tensor(&x->bq, CLATTN_F32, SH * SD, SD),
                  tk = tu_tensor(&x->bk, CLATTN_F32, SKH * SD, SD),
                  tv = tu_tensor(&x->bv, CLATTN_F32, SKH * SD, SD),
                  to = tu_tensor(&x->bo, CLATTN_F32, SH * SD, SD);
    clattn_status st =
        fail ? CLATTN_ERROR_OPENCL
             : clattn_attention(e->cctx, j->queue, &p, &tq, &tk, &tv,
                                tu_buffer(&x->bcq), tu_buffer(&x->bck), &to,
                                NULL, 0, NULL, NULL);
    if (st != CLATTN_SUCCESS) {
      snprintf(j->msg, sizeof j->msg, "thread %d call %d: %s: %s", j->id, n,
               clattn_status_string(st), clattn_context_last_error(e->cctx));
      j->failures++;
    }
  }
  clFinish(j->queue);
  const tu_tol tol = tu_out_tol(CLATTN_F32, SK);
  for (int n = 0; n < SQ_CALLS; n++) {
    split_call *x = &c[n];
    if (!j->failures && tu_buf_download(e, &x->bo)) {
      snprintf(j->msg, sizeof j->msg, "thread %d call %d: out guard written",
               j->id, n);
      j->failures++;
    }
    for (int i = 0; i < SB * SH * SD && !j->failures; i++) {
      const double got = tu_load(x->bo.host, CLATTN_F32, i);
      if (!(fabs(got - x->ref[i]) <= tol.atol + tol.rtol * fabs(x->ref[i]))) {
        snprintf(j->msg, sizeof j->msg,
                 "thread %d call %d (splits %d) elem %d: %g want %g (seed "
                 "%llu)",
                 j->id, n, splits[(n + j->id) % SQ_CALLS], i, got, x->ref[i],
                 (unsigned long long)tu_seed());
        j->failures++;
      }
    }
    tu_buf *all[] = {&x->bq, &x->bk, &x->bv, &x->bo, &x->bcq, &x->bck};
    for (int i = 0; i < 6; i++)
      if (all[i]->mem)
        tu_buf_free(all[i]);
  }
  free(c);
  free(kd);
  free(vd);
  return 0;
}

static void run_shared_queue(cl_command_queue_properties props) {
  tu_env *e = tu_env_get();
  cl_int err;
  cl_command_queue q = clCreateCommandQueue(e->ctx, e->device, props, &err);
  if (err != CL_SUCCESS && props) {
    printf("SKIP shared out-of-order queue: the device refuses one (%d)\n",
           err);
    return;
  }
  ck_assert_int_eq(err, CL_SUCCESS);
  thrd_t th[N_THREADS];
  split_job jobs[N_THREADS];
  for (int i = 0; i < N_THREADS; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].e = e, jobs[i].queue = q, jobs[i].id = i;
  }
  for (int i = 0; i < N_THREADS; i++)
    ck_assert_int_eq(thrd_create(&th[i], split_worker, &jobs[i]), thrd_success);
  for (int i = 0; i < N_THREADS; i++)
    thrd_join(th[i], NULL);
  clReleaseCommandQueue(q);
  for (int i = 0; i < N_THREADS; i++)
    ck_assert_msg(jobs[i].failures == 0, "%s", jobs[i].msg);
}

START_TEST(splits_on_one_queue) {
  run_shared_queue(0);
}
END_TEST

START_TEST(splits_on_one_out_of_order_queue) {
  run_shared_queue(CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
}
END_TEST

int main(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("all_ops");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, shared_context);
  tcase_add_test(tc, separate_contexts);
  tcase_add_test(tc, release_while_queued);
  tcase_add_test(tc, splits_on_one_queue);
  tcase_add_test(tc, splits_on_one_out_of_order_queue);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
