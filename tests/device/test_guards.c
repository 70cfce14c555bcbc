// SPDX-License-Identifier: Apache-2.0
// Device-side guards on cu_seqlens only the device sees: cu_seqlens_q not
// monotone or past total_q (nothing written, both attention ops),
// cu_seqlens_k not monotone or past total_k (that sequence's rows not
// written, the others exact); every eligible variant, unsplit and split-KV,
// guards checked. (block_table/seq_lens_k: test_paged_attention.c.)
#include "ref_attention.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { B = 3, H = 4, KH = 2, D = 32, TQ = 9, TK = 15 };

typedef struct gcase {
  const char *name;
  int cu_q[B + 1], cu_k[B + 1];
  int bad_seq; // -1: cu_seqlens_q bad (nothing written), else that sequence
} gcase;

static const gcase cases[] = {
    {"cu_q_not_monotone", {0, 5, 3, 9}, {0, 4, 9, 15}, -1},
    {"cu_q_past_total_q", {0, 3, 5, 12}, {0, 4, 9, 15}, -1},
    {"cu_q_negative_start", {-2, 3, 5, 9}, {0, 4, 9, 15}, -1},
    {"cu_k_past_total_k", {0, 3, 5, 9}, {0, 4, 9, 20}, 2},
    {"cu_k_not_monotone", {0, 3, 5, 9}, {0, 6, 5, 15}, 1},
    {"cu_k_negative", {0, 3, 5, 9}, {-1, 4, 9, 15}, 0},
};

START_TEST(cu_seqlens_guards) {
  const gcase *c = &cases[_i];
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() + (uint64_t)_i);
  tu_buf bq, bk, bv, bo, bl, bcq, bck, bst;
  ck_assert_int_eq(tu_buf_alloc(e, &bq, TQ * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bk, TK * KH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bv, TK * KH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bo, TQ * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bl, H * TQ, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bcq, B + 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bck, B + 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bst, 1, 4), 0);
  double *q = malloc(sizeof(double) * TQ * H * D);
  double *k = malloc(sizeof(double) * TK * KH * D);
  double *v = malloc(sizeof(double) * TK * KH * D);
  double *ref = malloc(sizeof(double) * TQ * H * D);
  double *ref_lse = malloc(sizeof(double) * H * TQ);
  ck_assert(q && k && v && ref && ref_lse);
  for (int i = 0; i < TQ * H * D; i++)
    tu_store(bq.host, CLATTN_F32, i,
             q[i] = tu_round(CLATTN_F32, tu_uniform(&r, -1, 1)));
  for (int i = 0; i < TK * KH * D; i++) {
    tu_store(bk.host, CLATTN_F32, i,
             k[i] = tu_round(CLATTN_F32, tu_uniform(&r, -1, 1)));
    tu_store(bv.host, CLATTN_F32, i,
             v[i] = tu_round(CLATTN_F32, tu_uniform(&r, -1, 1)));
  }
  memcpy(bcq.host, c->cu_q, sizeof c->cu_q);
  memcpy(bck.host, c->cu_k, sizeof c->cu_k);
  tu_buf *in[] = {&bq, &bk, &bv, &bcq, &bck};
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(tu_buf_upload(e, in[i]), 0);
  // The reference of each good sequence, alone (its own cu arrays).
  for (int s = 0; s < B && c->bad_seq >= 0; s++) {
    if (s == c->bad_seq)
      continue;
    const int q0 = c->cu_q[s], k0 = c->cu_k[s];
    const int cq[2] = {0, c->cu_q[s + 1] - q0},
              ck[2] = {0, c->cu_k[s + 1] - k0};
    const int nq = cq[1];
    double *o = malloc(sizeof(double) * (nq * H * D + 1));
    double *l = malloc(sizeof(double) * (H * nq + 1));
    ref_attn_problem p = {1,
                          H,
                          KH,
                          D,
                          cq,
                          ck,
                          q + (size_t)q0 * H * D,
                          k + (size_t)k0 * KH * D,
                          v + (size_t)k0 * KH * D,
                          1.0 / sqrt(D),
                          0,
                          -1,
                          -1,
                          0,
                          NULL,
                          NULL};
    ref_attention(&p, o, l);
    memcpy(ref + (size_t)q0 * H * D, o, sizeof(double) * nq * H * D);
    for (int h = 0; h < H; h++)
      for (int t = 0; t < nq; t++)
        ref_lse[(size_t)h * TQ + q0 + t] = l[(size_t)h * nq + t];
    free(o);
    free(l);
  }

  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = B, p.num_heads = H, p.num_kv_heads = KH, p.head_dim = D;
  p.total_q = TQ, p.total_k = TK, p.max_seqlen_q = 4, p.max_seqlen_k = 6;
  p.status = tu_buffer(&bst);
  clattn_tensor tq = tu_tensor(&bq, CLATTN_F32, H * D, D),
                tk = tu_tensor(&bk, CLATTN_F32, KH * D, D),
                tv = tu_tensor(&bv, CLATTN_F32, KH * D, D),
                to = tu_tensor(&bo, CLATTN_F32, H * D, D),
                tl = tu_tensor(&bl, CLATTN_F32, TQ, 0);
  clattn_select_args sa = {
      CLATTN_OP_ATTENTION, D, CLATTN_F32, CLATTN_F32, 4, H / KH, 0, 0, 0};
  const char *names[32];
  int nvar = tu_eligible_variants(e, &sa, names, 32);
  ck_assert_int_ge(nvar, 1);
  const tu_tol tol = tu_out_tol(CLATTN_F32, TK);
  for (int vi = 0; vi < nvar; vi++)
    for (int splits = 1; splits <= 4; splits += 3) {
      tu_force_variant(e, CLATTN_OP_ATTENTION, names[vi]);
      p.num_splits = splits;
      ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
      ck_assert_int_eq(tu_buf_poison(e, &bl), 0);
      memset(bst.host, 0, 4);
      ck_assert_int_eq(tu_buf_upload(e, &bst), 0);
      clattn_status st = clattn_attention(e->cctx, e->queue, &p, &tq, &tk, &tv,
                                          tu_buffer(&bcq), tu_buffer(&bck), &to,
                                          &tl, 0, NULL, NULL);
      ck_assert_msg(st == CLATTN_SUCCESS, "%s [%s]: %s", c->name, names[vi],
                    clattn_context_last_error(e->cctx));
      ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
      size_t g = tu_buf_download(e, &bo) + tu_buf_download(e, &bl) +
                 tu_buf_download(e, &bst);
      ck_assert_msg(g == 0, "%s [%s] splits %d: %zu guard bytes changed",
                    c->name, names[vi], splits, g);
      uint32_t status;
      memcpy(&status, bst.host, 4);
      ck_assert_msg(status == CLATTN_DEVICE_BAD_CU_SEQLENS,
                    "%s [%s] splits %d: status 0x%x, want 0x%x", c->name,
                    names[vi], splits, status, CLATTN_DEVICE_BAD_CU_SEQLENS);
      for (int t = 0; t < TQ; t++) {
        int s = 0;
        while (s < B - 1 && t >= c->cu_q[s + 1])
          s++;
        const int untouched = c->bad_seq < 0 || s == c->bad_seq;
        for (int i = 0; i < H * D; i++) {
          const size_t at = (size_t)t * H * D + i;
          const double got = tu_load(bo.host, CLATTN_F32, at);
          if (untouched)
            ck_assert_msg(isnan(got) &&
                              ((uint32_t *)bo.host)[at] == 0xFFFFFFFFu,
                          "%s [%s] splits %d: out row %d (sequence %d) was "
                          "written",
                          c->name, names[vi], splits, t, s);
          else
            ck_assert_msg(fabs(got - ref[at]) <=
                              tol.atol + tol.rtol * fabs(ref[at]),
                          "%s [%s] splits %d: out row %d elem %d: got %.8g "
                          "want %.8g (seed %llu)",
                          c->name, names[vi], splits, t, i, got, ref[at],
                          (unsigned long long)tu_seed());
        }
        for (int h = 0; h < H; h++) {
          const uint32_t lw = ((uint32_t *)bl.host)[(size_t)h * TQ + t];
          if (untouched)
            ck_assert_msg(lw == 0xFFFFFFFFu, "%s [%s]: lse row %d written",
                          c->name, names[vi], t);
          else {
            const double gl = tu_load(bl.host, CLATTN_F32, (size_t)h * TQ + t),
                         wl = ref_lse[(size_t)h * TQ + t];
            ck_assert_msg(fabs(gl - wl) <= tu_f32_tol(TK) * (1 + fabs(wl)),
                          "%s [%s]: lse head %d row %d: got %.8g want %.8g",
                          c->name, names[vi], h, t, gl, wl);
          }
        }
      }
    }
  tu_force_variant(e, CLATTN_OP_ATTENTION, NULL);
  tu_buf *all[] = {&bq, &bk, &bv, &bo, &bl, &bcq, &bck, &bst};
  for (int i = 0; i < 8; i++)
    tu_buf_free(all[i]);
  free(q), free(k), free(v), free(ref), free(ref_lse);
}
END_TEST

// paged_attention with a bad cu_seqlens_q: nothing of out or lse written.
START_TEST(paged_cu_q_guard) {
  enum { PBS = 4, PNB = 4 };
  static const int bad_cu[][B + 1] = {{0, 2, 1, 3}, {0, 1, 2, 7}};
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() + 7);
  tu_buf bq, bo, bl, bcq, bsl, bbt, bkc, bvc, bst;
  ck_assert_int_eq(tu_buf_alloc(e, &bq, 3 * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bo, 3 * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bl, H * 3, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bcq, B + 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bsl, B, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bbt, B, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bkc, PNB * PBS * KH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bvc, PNB * PBS * KH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bst, 1, 4), 0);
  for (size_t i = 0; i < bq.count; i++)
    tu_store(bq.host, CLATTN_F32, i, tu_uniform(&r, -1, 1));
  for (size_t i = 0; i < bkc.count; i++) {
    tu_store(bkc.host, CLATTN_F32, i, tu_uniform(&r, -1, 1));
    tu_store(bvc.host, CLATTN_F32, i, tu_uniform(&r, -1, 1));
  }
  const int sl[B] = {3, 4, 2}, bt[B] = {2, 0, 3};
  memcpy(bsl.host, sl, sizeof sl);
  memcpy(bbt.host, bt, sizeof bt);
  tu_buf *in[] = {&bq, &bsl, &bbt, &bkc, &bvc};
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(tu_buf_upload(e, in[i]), 0);
  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = B, p.num_heads = H, p.num_kv_heads = KH, p.head_dim = D;
  p.total_q = 3, p.max_seqlen_q = 1, p.max_seqlen_k = 4;
  p.max_blocks_per_seq = 1, p.block_table_stride = 1;
  p.status = tu_buffer(&bst);
  clattn_tensor tq = tu_tensor(&bq, CLATTN_F32, H * D, D),
                to = tu_tensor(&bo, CLATTN_F32, H * D, D),
                tl = tu_tensor(&bl, CLATTN_F32, 3, 0);
  clattn_cache kc = clattn__cache(bkc.mem, tu_off(&bkc), PBS * KH * D, KH * D,
                                  D, CLATTN_F32, PBS, PNB);
  clattn_cache vc = kc;
  vc.buffer = bvc.mem;
  clattn_select_args sa = {
      CLATTN_OP_PAGED_ATTENTION, D, CLATTN_F32, CLATTN_F32, 1, H / KH, 0, 0, 0};
  const char *names[32];
  int nvar = tu_eligible_variants(e, &sa, names, 32);
  ck_assert_int_ge(nvar, 1);
  for (int bc = 0; bc < 2; bc++)
    for (int vi = 0; vi < nvar; vi++)
      for (int splits = 1; splits <= 4; splits += 3) {
        memcpy(bcq.host, bad_cu[bc], sizeof bad_cu[bc]);
        ck_assert_int_eq(tu_buf_upload(e, &bcq), 0);
        tu_force_variant(e, CLATTN_OP_PAGED_ATTENTION, names[vi]);
        p.num_splits = splits;
        ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
        ck_assert_int_eq(tu_buf_poison(e, &bl), 0);
        memset(bst.host, 0, 4);
        ck_assert_int_eq(tu_buf_upload(e, &bst), 0);
        ck_assert_int_eq(
            clattn_paged_attention(e->cctx, e->queue, &p, &tq, &kc, &vc,
                                   tu_buffer(&bcq), tu_buffer(&bsl),
                                   tu_buffer(&bbt), &to, &tl, 0, NULL, NULL),
            CLATTN_SUCCESS);
        ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
        ck_assert_int_eq(tu_buf_download(e, &bo) + tu_buf_download(e, &bl) +
                             tu_buf_download(e, &bst),
                         0);
        uint32_t status;
        memcpy(&status, bst.host, 4);
        ck_assert_msg(status == CLATTN_DEVICE_BAD_CU_SEQLENS,
                      "[%s] cu %d splits %d: status 0x%x", names[vi], bc,
                      splits, status);
        for (size_t i = 0; i < bo.count * 4; i++)
          ck_assert_msg(bo.host[i] == TU_POISON_BYTE,
                        "[%s] cu %d splits %d: out byte %zu written", names[vi],
                        bc, splits, i);
        for (size_t i = 0; i < bl.count * 4; i++)
          ck_assert_msg(bl.host[i] == TU_POISON_BYTE,
                        "[%s] cu %d: lse byte %zu written", names[vi], bc, i);
      }
  tu_force_variant(e, CLATTN_OP_PAGED_ATTENTION, NULL);
  tu_buf *all[] = {&bq, &bo, &bl, &bcq, &bsl, &bbt, &bkc, &bvc, &bst};
  for (int i = 0; i < 9; i++)
    tu_buf_free(all[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("guards");
  TCase *tc = tcase_create("cu_seqlens");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, cu_seqlens_guards, 0,
                      (int)(sizeof cases / sizeof cases[0]));
  tcase_add_test(tc, paged_cu_q_guard);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
