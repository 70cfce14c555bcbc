// SPDX-License-Identifier: Apache-2.0
// End-to-end decode as a runtime drives it: prefill, then decode steps; each
// step clattn_kv_write's its K/V through slot_mapping (with padding slots)
// into a paged cache, runs clattn_paged_attention over it and compares with
// clattn_attention on the same unpaged history and with the reference.
#include "ref_attention.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Tolerances as in test_attention.c (see there for the reasoning): f32
// 2^-19 (16 eps) absolute + relative, grown by sqrt(k/256) past 256 keys;
// f16 2^-10 + 2^-10 relative; bf16 2^-7 + 2^-7 relative; lse the f32 value
// times (1 + |ref|). paged vs unpaged: each is within tol of the reference,
// so they are compared with twice the tolerance.
// Tolerances: tu_out_tol / tu_f32_tol (tests/common/testutil.h).

static size_t dt_size(clattn_dtype dt) {
  return dt == CLATTN_F32 ? 4 : 2;
}

static double rnd_val(tu_rng *r) {
  double x;
  do
    x = tu_uniform(r, -1.0, 1.0);
  while (fabs(x) < 1e-3);
  return x;
}

enum { NHD, HND, COMBINED };
#define NSEQ 3
#define STEPS 6 // step 0 is the prefill

typedef struct e2e_cfg {
  const char *name;
  clattn_dtype dt;
  int heads, kv_heads, dim, page, layout;
  int window_left; // -1 or a decoder window (W-1, 0)
  int sinks;
  int prompt[NSEQ];
  int spec[NSEQ]; // tokens per decode step (1 = plain decode, >1 = spec)
} e2e_cfg;

// clang-format off
static const e2e_cfg cfgs[] = {
    {"e2e_f32_nhd_p16", CLATTN_F32, 8, 2, 64, 16, NHD, -1, 0, {13, 1, 30}, {1, 1, 1}},
    {"e2e_f16_combined_p7", CLATTN_F16, 4, 1, 64, 7, COMBINED, -1, 1, {20, 6, 1}, {1, 3, 1}},
    {"e2e_bf16_hnd_p16_window", CLATTN_BF16, 4, 2, 32, 16, HND, 11, 0, {17, 40, 2}, {2, 1, 1}},
};
// clang-format on

typedef struct cmp_ctx {
  const char *what;
  int step;
  int bad;
} cmp_ctx;

static void bad(cmp_ctx *c, const char *msg, long r, int h, int d, double got,
                double want) {
  if (c->bad < 6)
    fprintf(stderr,
            "  %s step %d: %s row %ld head %d d %d: got %.8g want %.8g (seed "
            "%llu)\n",
            c->what, c->step, msg, r, h, d, got, want,
            (unsigned long long)tu_seed());
  c->bad++;
}

static void cmp_vals(cmp_ctx *c, const char *msg, const unsigned char *got,
                     clattn_dtype dt, tu_tol t, const double *want, long rows,
                     int H, int D, double factor) {
  for (long r = 0; r < rows; ++r)
    for (int h = 0; h < H; ++h)
      for (int d = 0; d < D; ++d) {
        size_t i = ((size_t)r * H + h) * D + d;
        double g = tu_load(got, dt, i), w = want[i];
        if (isnan(g) || fabs(g - w) > factor * (t.atol + t.rtol * fabs(w)))
          bad(c, msg, r, h, d, g, w);
      }
}

static void cmp_lse(cmp_ctx *c, const char *msg, const unsigned char *got,
                    double ltol, const double *want, long rows, int H) {
  for (int h = 0; h < H; ++h)
    for (long r = 0; r < rows; ++r) {
      double g = tu_load(got, CLATTN_F32, (size_t)h * rows + r);
      double w = want[(size_t)h * rows + r];
      if (!isfinite(g) || fabs(g - w) > ltol * (1 + fabs(w)))
        bad(c, msg, r, h, -1, g, w);
    }
}

START_TEST(test_decode) {
  const e2e_cfg *c = &cfgs[_i];
  tu_env *e = tu_env_get();
  ck_assert_ptr_nonnull(e);
  const int H = c->heads, KVH = c->kv_heads, D = c->dim, bs = c->page;
  const clattn_dtype dt = c->dt;
  const size_t es = dt_size(dt);
  uint64_t seed = tu_seed();
  for (const char *s = c->name; *s; ++s)
    seed = seed * 31 + (unsigned char)*s;
  tu_rng rng;
  tu_rng_init(&rng, seed);

  // Final lengths, block tables and the cache.
  int final_len[NSEQ], nblk[NSEQ], max_blocks = 0, used = 0;
  for (int b = 0; b < NSEQ; ++b) {
    final_len[b] = c->prompt[b] + (STEPS - 1) * c->spec[b];
    nblk[b] = (final_len[b] + bs - 1) / bs;
    used += nblk[b];
    if (nblk[b] > max_blocks)
      max_blocks = nblk[b];
  }
  const long num_blocks = used + 3;
  int perm[512];
  ck_assert_int_le(num_blocks, 512);
  for (int i = 0; i < num_blocks; ++i)
    perm[i] = i;
  for (int i = (int)num_blocks - 1; i > 0; --i) {
    int j = tu_int(&rng, 0, i), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  int table[NSEQ * 64], next = 0;
  ck_assert_int_le(max_blocks, 64);
  for (int b = 0; b < NSEQ; ++b)
    for (int j = 0; j < max_blocks; ++j)
      table[b * max_blocks + j] = j < nblk[b] ? perm[next++] : -1;
  long sb, ss, sh;
  size_t voff = 0;
  if (c->layout == HND) {
    sb = (long)KVH * bs * D, ss = D, sh = (long)bs * D;
  } else if (c->layout == COMBINED) {
    sb = 2L * bs * KVH * D, ss = (long)KVH * D, sh = D;
    voff = (size_t)bs * KVH * D;
  } else {
    sb = (long)bs * KVH * D, ss = (long)KVH * D, sh = D;
  }
  const size_t cache_count = (size_t)num_blocks * sb;
  const int shared = c->layout == COMBINED;
  tu_buf bkc = {0}, bvc = {0};
  ck_assert_int_eq(tu_buf_alloc(e, &bkc, cache_count, es), 0);
  ck_assert_int_eq(tu_buf_poison(e, &bkc), 0);
  if (!shared) {
    ck_assert_int_eq(tu_buf_alloc(e, &bvc, cache_count, es), 0);
    ck_assert_int_eq(tu_buf_poison(e, &bvc), 0);
  }
  tu_buf *pvc = shared ? &bkc : &bvc;
  clattn_cache kc =
      clattn__cache(bkc.mem, tu_off(&bkc), sb, ss, sh, dt, bs, num_blocks);
  clattn_cache vc = kc;
  vc.buffer = pvc->mem;
  vc.offset = tu_off(pvc) + voff;
  tu_buf btab = {0};
  ck_assert_int_eq(tu_buf_alloc(e, &btab, (size_t)NSEQ * max_blocks, 4), 0);
  memcpy(btab.host, table, sizeof(int) * (size_t)NSEQ * max_blocks);
  ck_assert_int_eq(tu_buf_upload(e, &btab), 0);

  // Host history of every sequence (dtype-rounded values).
  double *hk[NSEQ], *hv[NSEQ];
  for (int b = 0; b < NSEQ; ++b) {
    hk[b] = malloc(sizeof(double) * (size_t)final_len[b] * KVH * D);
    hv[b] = malloc(sizeof(double) * (size_t)final_len[b] * KVH * D);
    ck_assert(hk[b] && hv[b]);
  }
  float sinks_f[64];
  double sinks[64];
  for (int h = 0; h < H; ++h)
    sinks[h] = sinks_f[h] = (float)tu_uniform(&rng, -1.0, 3.0);
  tu_buf bsi = {0}, bst = {0}, bst2 = {0};
  ck_assert_int_eq(tu_buf_alloc(e, &bsi, (size_t)H, 4), 0);
  memcpy(bsi.host, sinks_f, sizeof(float) * (size_t)H);
  ck_assert_int_eq(tu_buf_upload(e, &bsi), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bst, 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bst2, 1, 4), 0);

  int len[NSEQ] = {0};
  int failed_steps = 0;
  for (int step = 0; step < STEPS; ++step) {
    cmp_ctx cc = {c->name, step, 0};
    int n_new[NSEQ], cu_q[NSEQ + 1] = {0}, cu_k[NSEQ + 1] = {0}, seq_k[NSEQ];
    int max_q = 0, max_k = 0;
    for (int b = 0; b < NSEQ; ++b) {
      n_new[b] = step == 0 ? c->prompt[b] : c->spec[b];
      cu_q[b + 1] = cu_q[b] + n_new[b];
      seq_k[b] = len[b] + n_new[b];
      cu_k[b + 1] = cu_k[b] + seq_k[b];
      if (n_new[b] > max_q)
        max_q = n_new[b];
      if (seq_k[b] > max_k)
        max_k = seq_k[b];
    }
    const long tq = cu_q[NSEQ], tk = cu_k[NSEQ];
    const int pad = 2; // CUDA-graph style padding tokens (slot -1, NaN data)
    const long tw = tq + pad;

    // This step's q and new K/V; padding rows stay NaN.
    tu_buf bq = {0}, bkn = {0}, bvn = {0}, bslot = {0}, bo = {0}, bl = {0},
           bo2 = {0}, bl2 = {0}, bcq = {0}, bck = {0}, bsk = {0}, bkf = {0},
           bvf = {0};
    double *qd = malloc(sizeof(double) * (size_t)tq * H * D);
    ck_assert_ptr_nonnull(qd);
    ck_assert_int_eq(tu_buf_alloc(e, &bq, (size_t)tq * H * D, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bkn, (size_t)tw * KVH * D, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bvn, (size_t)tw * KVH * D, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bslot, (size_t)tw, 8), 0);
    memset(bkn.host, TU_POISON_BYTE, (size_t)tw * KVH * D * es);
    memset(bvn.host, TU_POISON_BYTE, (size_t)tw * KVH * D * es);
    for (long i = 0; i < tq * H * D; ++i) {
      qd[i] = tu_round(dt, rnd_val(&rng));
      tu_store(bq.host, dt, (size_t)i, qd[i]);
    }
    // Token order: the padding rows go first and last, real tokens between.
    long row = 1;
    tu_store(bslot.host, CLATTN_I64, 0, -1.0);
    tu_store(bslot.host, CLATTN_I64, (size_t)tw - 1, -1.0);
    for (int b = 0; b < NSEQ; ++b)
      for (int i = 0; i < n_new[b]; ++i, ++row) {
        int pos = len[b] + i;
        long slot = (long)table[b * max_blocks + pos / bs] * bs + pos % bs;
        tu_store(bslot.host, CLATTN_I64, (size_t)row, (double)slot);
        for (int h = 0; h < KVH; ++h)
          for (int d = 0; d < D; ++d) {
            double x = tu_round(dt, rnd_val(&rng));
            double y = tu_round(dt, rnd_val(&rng));
            hk[b][((size_t)pos * KVH + h) * D + d] = x;
            hv[b][((size_t)pos * KVH + h) * D + d] = y;
            tu_store(bkn.host, dt, ((size_t)row * KVH + h) * D + d, x);
            tu_store(bvn.host, dt, ((size_t)row * KVH + h) * D + d, y);
          }
      }
    ck_assert_int_eq(tu_buf_upload(e, &bq), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bkn), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bvn), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bslot), 0);
    for (int b = 0; b < NSEQ; ++b)
      len[b] = seq_k[b];

    // Unpaged copy of the whole history for clattn_attention and the ref.
    double *kd = malloc(sizeof(double) * (size_t)tk * KVH * D);
    double *vd = malloc(sizeof(double) * (size_t)tk * KVH * D);
    ck_assert(kd && vd);
    ck_assert_int_eq(tu_buf_alloc(e, &bkf, (size_t)tk * KVH * D, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bvf, (size_t)tk * KVH * D, es), 0);
    for (int b = 0; b < NSEQ; ++b) {
      size_t n = (size_t)len[b] * KVH * D, o = (size_t)cu_k[b] * KVH * D;
      memcpy(kd + o, hk[b], sizeof(double) * n);
      memcpy(vd + o, hv[b], sizeof(double) * n);
      for (size_t i = 0; i < n; ++i) {
        tu_store(bkf.host, dt, o + i, hk[b][i]);
        tu_store(bvf.host, dt, o + i, hv[b][i]);
      }
    }
    ck_assert_int_eq(tu_buf_upload(e, &bkf), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bvf), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bcq, NSEQ + 1, 4), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bck, NSEQ + 1, 4), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bsk, NSEQ, 4), 0);
    memcpy(bcq.host, cu_q, sizeof cu_q);
    memcpy(bck.host, cu_k, sizeof cu_k);
    memcpy(bsk.host, seq_k, sizeof seq_k);
    ck_assert_int_eq(tu_buf_upload(e, &bcq), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bck), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bsk), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bo, (size_t)tq * H * D, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bo2, (size_t)tq * H * D, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bl, (size_t)tq * H, 4), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bl2, (size_t)tq * H, 4), 0);
    ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
    ck_assert_int_eq(tu_buf_poison(e, &bo2), 0);
    ck_assert_int_eq(tu_buf_poison(e, &bl), 0);
    ck_assert_int_eq(tu_buf_poison(e, &bl2), 0);
    memset(bst.host, 0, 4);
    memset(bst2.host, 0, 4);
    ck_assert_int_eq(tu_buf_upload(e, &bst), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bst2), 0);

    // kv_write, then paged_attention waiting on its event.
    clattn_kv_write_params kp = CLATTN_KV_WRITE_PARAMS_INIT;
    kp.num_tokens = tw;
    kp.num_kv_heads = KVH;
    kp.head_dim = D;
    kp.status = tu_buffer(&bst);
    clattn_tensor tkn = tu_tensor(&bkn, dt, (cl_long)KVH * D, D);
    clattn_tensor tvn = tu_tensor(&bvn, dt, (cl_long)KVH * D, D);
    cl_event ev_w = NULL, ev_a = NULL;
    clattn_status st =
        clattn_kv_write(e->cctx, e->queue, &kp, &tkn, &tvn, tu_buffer(&bslot),
                        &kc, &vc, 0, NULL, &ev_w);
    ck_assert_msg(st == CLATTN_SUCCESS, "%s step %d: kv_write: %s: %s", c->name,
                  step, clattn_status_string(st),
                  clattn_context_last_error(e->cctx));
    clattn_attention_params ap = CLATTN_ATTENTION_PARAMS_INIT;
    ap.batch = NSEQ;
    ap.num_heads = H;
    ap.num_kv_heads = KVH;
    ap.head_dim = D;
    ap.total_q = tq;
    ap.total_k = tk;
    ap.max_seqlen_q = max_q;
    ap.max_seqlen_k = max_k;
    ap.causal = 1;
    ap.window_left = c->window_left;
    if (c->sinks)
      ap.sinks = tu_buffer(&bsi);
    ap.status = tu_buffer(&bst2);
    ap.max_blocks_per_seq = max_blocks;
    ap.block_table_stride = max_blocks;
    clattn_tensor tq_ = tu_tensor(&bq, dt, (cl_long)H * D, D);
    clattn_tensor to = tu_tensor(&bo, dt, (cl_long)H * D, D);
    clattn_tensor tl = tu_tensor(&bl, CLATTN_F32, tq, 0);
    st = clattn_paged_attention(e->cctx, e->queue, &ap, &tq_, &kc, &vc,
                                tu_buffer(&bcq), tu_buffer(&bsk),
                                tu_buffer(&btab), &to, &tl, ev_w ? 1 : 0,
                                ev_w ? &ev_w : NULL, &ev_a);
    ck_assert_msg(st == CLATTN_SUCCESS, "%s step %d: paged_attention: %s: %s",
                  c->name, step, clattn_status_string(st),
                  clattn_context_last_error(e->cctx));
    // The same step without the cache.
    clattn_tensor tkf = tu_tensor(&bkf, dt, (cl_long)KVH * D, D);
    clattn_tensor tvf = tu_tensor(&bvf, dt, (cl_long)KVH * D, D);
    clattn_tensor to2 = tu_tensor(&bo2, dt, (cl_long)H * D, D);
    clattn_tensor tl2 = tu_tensor(&bl2, CLATTN_F32, tq, 0);
    ap.status = (clattn_buffer){NULL, 0};
    st = clattn_attention(e->cctx, e->queue, &ap, &tq_, &tkf, &tvf,
                          tu_buffer(&bcq), tu_buffer(&bck), &to2, &tl2, 0, NULL,
                          NULL);
    ck_assert_msg(st == CLATTN_SUCCESS, "%s step %d: attention: %s: %s",
                  c->name, step, clattn_status_string(st),
                  clattn_context_last_error(e->cctx));
    if (ev_a)
      ck_assert_int_eq(clWaitForEvents(1, &ev_a), CL_SUCCESS);
    ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
    if (ev_w)
      clReleaseEvent(ev_w);
    if (ev_a)
      clReleaseEvent(ev_a);

    size_t g = tu_buf_download(e, &bo) + tu_buf_download(e, &bl) +
               tu_buf_download(e, &bo2) + tu_buf_download(e, &bl2) +
               tu_buf_download(e, &bst) + tu_buf_download(e, &bst2);
    if (g)
      bad(&cc, "guard bytes of outputs changed", (long)g, 0, 0, 0, 0);
    uint32_t s1, s2;
    memcpy(&s1, bst.host, 4);
    memcpy(&s2, bst2.host, 4);
    if (s1 || s2)
      bad(&cc, "device status (kv_write, paged) non-zero", 0, 0, 0, s1, s2);

    // Reference on the history.
    double *ref = malloc(sizeof(double) * (size_t)tq * H * D);
    double *ref_lse = malloc(sizeof(double) * (size_t)tq * H);
    ck_assert(ref && ref_lse);
    ref_attn_problem rp = {NSEQ, H,
                           KVH,  D,
                           cu_q, cu_k,
                           qd,   kd,
                           vd,   1.0 / sqrt((double)D),
                           1,    c->window_left,
                           -1,   0.0,
                           NULL, c->sinks ? sinks : NULL};
    ref_attention(&rp, ref, ref_lse);
    cmp_vals(&cc, "paged vs ref", bo.host, dt, tu_out_tol(dt, max_k), ref, tq,
             H, D, 1.0);
    cmp_vals(&cc, "attention vs ref", bo2.host, dt, tu_out_tol(dt, max_k), ref,
             tq, H, D, 1.0);
    double *paged = malloc(sizeof(double) * (size_t)tq * H * D);
    ck_assert_ptr_nonnull(paged);
    for (size_t i = 0; i < (size_t)tq * H * D; ++i)
      paged[i] = tu_load(bo.host, dt, i);
    cmp_vals(&cc, "attention vs paged", bo2.host, dt, tu_out_tol(dt, max_k),
             paged, tq, H, D, 2.0);
    cmp_lse(&cc, "paged lse vs ref", bl.host, tu_f32_tol(max_k), ref_lse, tq,
            H);
    cmp_lse(&cc, "attention lse vs ref", bl2.host, tu_f32_tol(max_k), ref_lse,
            tq, H);

    // The cache holds exactly the history; nothing else was written.
    size_t gk = tu_buf_download(e, &bkc),
           gv = shared ? 0 : tu_buf_download(e, &bvc);
    if (gk || gv)
      bad(&cc, "cache guard bytes changed", (long)(gk + gv), 0, 0, 0, 0);
    unsigned char *written = calloc(cache_count, 1);
    ck_assert_ptr_nonnull(written);
    for (int b = 0; b < NSEQ; ++b)
      for (int pos = 0; pos < len[b]; ++pos) {
        long blk = table[b * max_blocks + pos / bs], slot = pos % bs;
        for (int h = 0; h < KVH; ++h)
          for (int d = 0; d < D; ++d) {
            size_t ik =
                (size_t)blk * sb + (size_t)slot * ss + (size_t)h * sh + d;
            size_t iv = ik + voff;
            size_t src = ((size_t)pos * KVH + h) * D + d;
            double gk_ = tu_load(bkc.host, dt, ik),
                   gv_ = tu_load(pvc->host, dt, iv);
            if (gk_ != hk[b][src])
              bad(&cc, "key cache", pos, h, d, gk_, hk[b][src]);
            if (gv_ != hv[b][src])
              bad(&cc, "value cache", pos, h, d, gv_, hv[b][src]);
            written[ik] = 1;
            written[iv] |= shared ? 1 : 2;
          }
      }
    for (size_t i = 0; i < cache_count; ++i) {
      int untouched_k = 1, untouched_v = 1;
      for (size_t byte = 0; byte < es; ++byte) {
        untouched_k &= bkc.host[i * es + byte] == TU_POISON_BYTE;
        if (!shared)
          untouched_v &= bvc.host[i * es + byte] == TU_POISON_BYTE;
      }
      if ((!written[i] && !untouched_k) ||
          (!shared && !(written[i] & 2) && !untouched_v)) {
        bad(&cc, "cache element outside the written slots changed", (long)i, 0,
            0, 0, 0);
        break;
      }
    }
    free(written);
    if (cc.bad)
      failed_steps++;

    tu_buf *bufs[] = {&bq,  &bkn, &bvn, &bslot, &bo,  &bl, &bo2,
                      &bl2, &bcq, &bck, &bsk,   &bkf, &bvf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i)
      tu_buf_free(bufs[i]);
    free(qd);
    free(kd);
    free(vd);
    free(ref);
    free(ref_lse);
    free(paged);
  }
  for (int b = 0; b < NSEQ; ++b) {
    free(hk[b]);
    free(hv[b]);
  }
  tu_buf_free(&bkc);
  if (!shared)
    tu_buf_free(&bvc);
  tu_buf_free(&btab);
  tu_buf_free(&bsi);
  tu_buf_free(&bst);
  tu_buf_free(&bst2);
  ck_assert_msg(!failed_steps,
                "%s (%s, H=%d KVH=%d D=%d page=%d): %d of %d steps failed "
                "(seed %llu; rerun with CLATTN_TEST_SEED=%llu)",
                c->name, clattn_dtype_name(dt), H, KVH, D, bs, failed_steps,
                STEPS, (unsigned long long)tu_seed(),
                (unsigned long long)tu_seed());
}
END_TEST

// Skips (77) with the reason printed by tu_env_get when there is no device
// or the requested program format cannot run on it.
int main(void) {
  Suite *s = suite_create("e2e_decode");
  TCase *tc = tcase_create("decode");
  tcase_add_loop_test(tc, test_decode, 0, (int)(sizeof cfgs / sizeof *cfgs));
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
