// SPDX-License-Identifier: Apache-2.0
// clattn-probe --selftest (selftest.h): small random problems for every op x
// eligible variant x program format x dtype x test case, with guard bytes
// around every output, poisoned outputs and the device status word checked;
// kv_write is checked bit for bit, attention against tests/ref in double.
#include "selftest.h"

#ifndef CLATTN_TOOLS_NO_REF
#include "ref_attention.h"
#endif

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

// Tolerances, the same as the device tests' (tests/device/test_attention.c):
// element i passes when |got - ref| <= atol + rtol * |ref|. f32: 2e-5 both
// (~170 eps: f32 sums, exp within 4 ulp, split-merge rescaling). f16/bf16:
// one eps each (the store of out rounds by eps/2 relative; feeding P to P.V
// in the dtype costs eps/2 * max|v| absolute, |v| <= 1): 2^-10 and 2^-7.
// lse is f32 in every variant: 2e-5 (1 + |ref|), and exactly -inf where no
// key is visible. A real bug gives errors of 0.1 or more.
typedef struct tol {
  double atol, rtol;
} tol;
static tol out_tol(clattn_dtype dt) {
  switch (dt) {
  case CLATTN_F16: return (tol){0x1p-10, 0x1p-10};
  case CLATTN_BF16: return (tol){0x1p-7, 0x1p-7};
  default: return (tol){2e-5, 2e-5};
  }
}
#define LSE_TOL 2e-5

#define GUARD 256 // bytes before and after every device buffer
#define GUARD_BYTE 0xA5
#define POISON_BYTE 0xFF // NaN in f32, f16 and bf16

enum { L_NHD = 0, L_HND = 1, L_COMBINED = 2 };

const char *selftest_outcome_name(st_outcome o) {
  return o == ST_PASS ? "PASS" : o == ST_FAIL ? "FAIL" : "SKIP";
}

void selftest_log_fn(void *user, const char *line) {
  st_log *l = user;
  if (l && line && strstr(line, "falling back") && !l->note[0])
    snprintf(l->note, sizeof l->note, "%s", line);
}

// ---- test cases
// ---------------------------------------------------------------
typedef struct kv_case {
  const char *name;
  int tokens, heads, block_size, num_blocks, padding, layout;
  int dims[8]; // head dims to try, in order, for each variant (0 ends)
} kv_case;

static const kv_case kv_cases[] = {
    {"nhd-b16-pad", 37, 2, 16, 8, 3, L_NHD, {128, 64, 256, 96, 80, 32, 8}},
    {"hnd-b5", 23, 3, 5, 9, 0, L_HND, {13, 36, 128, 64, 8}},
    {"vllm-combined-b16", 20, 2, 16, 4, 2, L_COMBINED, {64, 128, 32, 8}},
};

typedef struct attn_case {
  const char *name;
  clattn_op op;
  int batch, heads, kv_heads;
  int q_lo, q_hi; // query lengths
  int k_lo, k_hi; // attention: key lengths (k_hi 0 = self-attention);
                  // paged: context keys before the queries
  int causal, wl, wr;
  float softcap;
  int alibi, sinks, lse;
  int block_size, layout, num_splits; // paged only
  int dims[8];
} attn_case;

static const attn_case attn_cases[] = {
    {"causal-gqa",
     CLATTN_OP_ATTENTION,
     3,
     4,
     2,
     1,
     40,
     0,
     0,
     1,
     -1,
     -1,
     0.0f,
     0,
     0,
     1,
     0,
     0,
     0,
     {128, 64, 96, 80, 256, 32, 16}},
    {"cross-mqa-window-softcap-alibi-sinks",
     CLATTN_OP_ATTENTION,
     2,
     4,
     1,
     1,
     20,
     1,
     50,
     0,
     7,
     3,
     1.0f,
     1,
     1,
     1,
     0,
     0,
     0,
     {64, 128, 96, 80, 256, 32, 16}},
    {"causal-cross-empty-rows",
     CLATTN_OP_ATTENTION,
     2,
     2,
     2,
     5,
     12,
     1,
     6,
     1,
     -1,
     -1,
     0.0f,
     0,
     0,
     1,
     0,
     0,
     0,
     {33, 40, 64, 128, 16}},
    {"diagonal-window-0-0",
     CLATTN_OP_ATTENTION,
     2,
     2,
     1,
     1,
     16,
     0,
     0,
     0,
     0,
     0,
     0.0f,
     0,
     0,
     1,
     0,
     0,
     0,
     {128, 64, 96, 80, 256, 32, 16}},
    {"decode-gqa4",
     CLATTN_OP_PAGED_ATTENTION,
     4,
     8,
     2,
     1,
     1,
     0,
     149,
     0,
     -1,
     -1,
     0.0f,
     0,
     0,
     1,
     16,
     L_NHD,
     0,
     {128, 64, 96, 80, 256, 32, 16}},
    {"decode-split4-hnd-sinks",
     CLATTN_OP_PAGED_ATTENTION,
     3,
     4,
     4,
     1,
     1,
     49,
     199,
     0,
     -1,
     -1,
     0.0f,
     0,
     1,
     1,
     8,
     L_HND,
     4,
     {64, 128, 96, 80, 256, 32, 16}},
    {"chunked-causal-b5",
     CLATTN_OP_PAGED_ATTENTION,
     3,
     4,
     2,
     1,
     9,
     0,
     40,
     1,
     -1,
     -1,
     0.0f,
     0,
     0,
     1,
     5,
     L_NHD,
     0,
     {80, 96, 128, 64, 256, 32, 16}},
    {"chunked-window-softcap-alibi-vllm",
     CLATTN_OP_PAGED_ATTENTION,
     2,
     4,
     1,
     1,
     6,
     0,
     30,
     1,
     10,
     0,
     1.0f,
     1,
     0,
     1,
     16,
     L_COMBINED,
     2,
     {128, 64, 96, 80, 256, 32, 16}},
};

// ---- guarded device buffers
// -----------------------------------------------------
typedef struct gbuf {
  cl_mem mem;
  size_t bytes;
} gbuf;

static cl_ulong goff(size_t elem) {
  return GUARD / elem;
}

// A buffer of GUARD + bytes + GUARD; the payload is a copy of `payload`, or
// poison when it is NULL.
static int gbuf_make(tool_session *s, gbuf *b, size_t bytes,
                     const void *payload, char *err, size_t n) {
  b->mem = NULL;
  b->bytes = bytes;
  size_t total = 2 * (size_t)GUARD + bytes;
  unsigned char *stage = malloc(total);
  if (!stage) {
    snprintf(err, n, "out of host memory (%zu B)", total);
    return -1;
  }
  memset(stage, GUARD_BYTE, GUARD);
  memset(stage + GUARD + bytes, GUARD_BYTE, GUARD);
  if (payload)
    memcpy(stage + GUARD, payload, bytes);
  else
    memset(stage + GUARD, POISON_BYTE, bytes);
  cl_int e;
  b->mem = clCreateBuffer(s->ctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR,
                          total, stage, &e);
  free(stage);
  if (!b->mem) {
    snprintf(err, n, "clCreateBuffer(%zu B) failed: %s", total,
             tool_cl_error_name(e));
    return -1;
  }
  return 0;
}

// Reads the payload into out; returns the number of changed guard bytes, or
// -1 when the read failed.
static long gbuf_read(tool_session *s, const gbuf *b, void *out, char *err,
                      size_t n) {
  size_t total = 2 * (size_t)GUARD + b->bytes;
  unsigned char *stage = malloc(total);
  if (!stage) {
    snprintf(err, n, "out of host memory (%zu B)", total);
    return -1;
  }
  cl_int e = clEnqueueReadBuffer(s->queue, b->mem, CL_TRUE, 0, total, stage, 0,
                                 NULL, NULL);
  if (e != CL_SUCCESS) {
    snprintf(err, n, "clEnqueueReadBuffer failed: %s", tool_cl_error_name(e));
    free(stage);
    return -1;
  }
  long bad = 0;
  for (size_t i = 0; i < GUARD; i++) {
    bad += stage[i] != GUARD_BYTE;
    bad += stage[GUARD + b->bytes + i] != GUARD_BYTE;
  }
  if (out)
    memcpy(out, stage + GUARD, b->bytes);
  free(stage);
  return bad;
}

static void gbuf_free(gbuf *b) {
  if (b->mem)
    clReleaseMemObject(b->mem);
  b->mem = NULL;
}

static clattn_buffer gbuffer(const gbuf *b, size_t elem) {
  clattn_buffer r = {b->mem, goff(elem)};
  return r;
}

// ---- helpers
// ----------------------------------------------------------------------
typedef struct cache_geom {
  cl_long sb, ss, sh;  // strides in elements
  cl_ulong koff, voff; // offsets within the payload, in elements
  size_t elems;        // elements of each buffer (of the one shared buffer)
  int shared;          // key and value share one buffer
} cache_geom;

static cache_geom make_geom(int layout, int nb, int bs, int h, int d) {
  cache_geom g = {0};
  cl_long hd = (cl_long)h * d;
  switch (layout) {
  case L_HND:
    g.sh = (cl_long)bs * d;
    g.ss = d;
    g.sb = hd * bs;
    g.elems = (size_t)nb * bs * h * d;
    break;
  case L_COMBINED: // vLLM [blocks, 2, block_size, heads, dim]
    g.ss = hd;
    g.sh = d;
    g.sb = 2 * hd * bs;
    g.voff = (cl_ulong)(hd * bs);
    g.elems = (size_t)nb * 2 * bs * h * d;
    g.shared = 1;
    break;
  default: // NHD
    g.ss = hd;
    g.sh = d;
    g.sb = hd * bs;
    g.elems = (size_t)nb * bs * h * d;
    break;
  }
  return g;
}

static double abs_err(double got, double ref) {
  if (isinf(ref) && got == ref)
    return 0.0;
  double d = fabs(got - ref);
  return isnan(d) ? INFINITY : d;
}

// Marks r failed and appends the reason ("a; b" when there are several).
static void fail(st_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail(st_result *r, const char *fmt, ...) {
  if (r->outcome != ST_FAIL)
    r->reason[0] = '\0';
  r->outcome = ST_FAIL;
  size_t len = strlen(r->reason);
  if (len && len + 2 < sizeof r->reason) {
    memcpy(r->reason + len, "; ", 3);
    len += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->reason + len, sizeof r->reason - len, fmt, ap);
  va_end(ap);
}

// Maps an op's status: SKIP for not-yet-supported, FAIL otherwise. Returns
// 1 when the op succeeded.
static int op_status(tool_session *s, clattn_status st, st_result *r) {
  if (st == CLATTN_SUCCESS)
    return 1;
  const char *msg = clattn_context_last_error(s->cctx);
  if (st == CLATTN_ERROR_UNSUPPORTED || st == CLATTN_ERROR_NO_VARIANT) {
    r->outcome = ST_SKIP;
    snprintf(r->reason, sizeof r->reason, "%s: %s", clattn_status_string(st),
             msg);
  } else {
    fail(r, "%s: %s", clattn_status_string(st), msg);
  }
  return 0;
}

static void check_status_word(tool_session *s, gbuf *b, st_result *r) {
  char err[256];
  cl_uint word = 0;
  long bad = gbuf_read(s, b, &word, err, sizeof err);
  if (bad < 0)
    fail(r, "%s", err);
  else if (word)
    fail(r, "device status word 0x%x on valid input", (unsigned)word);
}

// ---- kv_write
// -------------------------------------------------------------------
static void run_kv(tool_session *s, clattn_dtype dt, const kv_case *c, int d,
                   uint64_t seed, st_result *r) {
  tool_rng rng;
  tool_rng_init(&rng, seed);
  char err[256];
  const size_t es = tool_dtype_size(dt);
  const int t_n = c->tokens, h_n = c->heads, bs = c->block_size,
            nb = c->num_blocks;
  const size_t row = (size_t)h_n * d, n_in = (size_t)t_n * row;
  const int cap = nb * bs;
  cache_geom g = make_geom(c->layout, nb, bs, h_n, d);
  const size_t cbytes = g.elems * es;

  unsigned char *key = malloc(n_in * es), *val = malloc(n_in * es);
  cl_long *slots = malloc(sizeof *slots * (size_t)t_n);
  int *perm = malloc(sizeof *perm * (size_t)cap);
  unsigned char *expk = malloc(cbytes), *expv = malloc(cbytes);
  unsigned char *gotk = malloc(cbytes), *gotv = malloc(cbytes);
  gbuf bk = {0}, bv = {0}, bslot = {0}, bkc = {0}, bvc = {0}, bst = {0};
  r->max_error = NAN;
  if (!key || !val || !slots || !perm || !expk || !expv || !gotk || !gotv) {
    fail(r, "out of host memory");
    goto done;
  }
  for (size_t i = 0; i < n_in; i++) {
    tool_store(key, dt, i, tool_uniform(&rng, -1, 1));
    tool_store(val, dt, i, tool_uniform(&rng, -1, 1));
  }
  for (int i = 0; i < cap; i++)
    perm[i] = i;
  tool_shuffle(&rng, perm, cap);
  for (int t = 0; t < t_n; t++)
    slots[t] = perm[t]; // distinct slots (t_n <= cap)
  for (int p = 0; p < c->padding; p++)
    slots[tool_int(&rng, 0, t_n - 1)] = -1;

  // Expected cache images: poison everywhere but the written rows.
  memset(expk, POISON_BYTE, cbytes);
  memset(expv, POISON_BYTE, cbytes);
  for (int t = 0; t < t_n; t++) {
    if (slots[t] < 0)
      continue;
    const cl_long blk = slots[t] / bs, off = slots[t] % bs;
    for (int h = 0; h < h_n; h++) {
      const size_t src = ((size_t)t * h_n + h) * d;
      const size_t dst = (size_t)(blk * g.sb + off * g.ss + h * g.sh);
      memcpy(expk + (g.koff + dst) * es, key + src * es, (size_t)d * es);
      memcpy((g.shared ? expk : expv) + (g.voff + dst) * es, val + src * es,
             (size_t)d * es);
    }
  }

  cl_uint zero = 0;
  if (gbuf_make(s, &bk, n_in * es, key, err, sizeof err) ||
      gbuf_make(s, &bv, n_in * es, val, err, sizeof err) ||
      gbuf_make(s, &bslot, sizeof *slots * (size_t)t_n, slots, err,
                sizeof err) ||
      gbuf_make(s, &bkc, cbytes, NULL, err, sizeof err) ||
      (!g.shared && gbuf_make(s, &bvc, cbytes, NULL, err, sizeof err)) ||
      gbuf_make(s, &bst, sizeof zero, &zero, err, sizeof err)) {
    fail(r, "%s", err);
    goto done;
  }
  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_tokens = t_n;
  p.num_kv_heads = h_n;
  p.head_dim = d;
  p.status = gbuffer(&bst, sizeof zero);
  clattn_tensor kt = {bk.mem, goff(es), {(cl_long)row, d}, dt};
  clattn_tensor vt = {bv.mem, goff(es), {(cl_long)row, d}, dt};
  clattn_cache kc =
      clattn__cache(bkc.mem, goff(es) + g.koff, g.sb, g.ss, g.sh, dt, bs, nb);
  clattn_cache vc = kc;
  vc.buffer = g.shared ? bkc.mem : bvc.mem;
  vc.offset = goff(es) + g.voff;
  clattn_status st =
      clattn_kv_write(s->cctx, s->queue, &p, &kt, &vt, gbuffer(&bslot, 8), &kc,
                      &vc, 0, NULL, NULL);
  if (!op_status(s, st, r))
    goto done;
  clFinish(s->queue);

  long bad_k = gbuf_read(s, &bkc, gotk, err, sizeof err);
  long bad_v = g.shared ? 0 : gbuf_read(s, &bvc, gotv, err, sizeof err);
  if (bad_k < 0 || bad_v < 0) {
    fail(r, "%s", err);
    goto done;
  }
  double e = 0;
  size_t mism = 0;
  for (int which = 0; which < (g.shared ? 1 : 2); which++) {
    const unsigned char *got = which ? gotv : gotk;
    const unsigned char *exp = which ? expv : expk;
    for (size_t i = 0; i < g.elems; i++) {
      if (memcmp(got + i * es, exp + i * es, es) == 0)
        continue;
      mism++;
      double x = abs_err(tool_load(got, dt, i), tool_load(exp, dt, i));
      e = x > e ? x : e;
      if (e == 0)
        e = INFINITY; // bits differ (e.g. NaN payload): not exact
    }
  }
  r->max_error = e;
  if (mism)
    fail(r, "%zu cache elements differ from exact placement", mism);
  if (bad_k || bad_v)
    fail(r, "%ld guard bytes around the caches changed", bad_k + bad_v);
  check_status_word(s, &bst, r);
done:
  gbuf_free(&bk);
  gbuf_free(&bv);
  gbuf_free(&bslot);
  gbuf_free(&bkc);
  gbuf_free(&bvc);
  gbuf_free(&bst);
  free(key);
  free(val);
  free(slots);
  free(perm);
  free(expk);
  free(expv);
  free(gotk);
  free(gotv);
}

// ---- attention and paged_attention
// -------------------------------------------------
static void run_attn(tool_session *s, clattn_dtype dt, const attn_case *c,
                     int d, uint64_t seed, st_result *r) {
#ifdef CLATTN_TOOLS_NO_REF
  (void)s, (void)dt, (void)c, (void)d, (void)seed;
  r->outcome = ST_SKIP;
  snprintf(r->reason, sizeof r->reason,
           "the reference (tests/ref/ref_attention.c) was not built");
#else
  tool_rng rng;
  tool_rng_init(&rng, seed);
  char err[256];
  const int paged = c->op == CLATTN_OP_PAGED_ATTENTION;
  const int b_n = c->batch, h_n = c->heads, hk = c->kv_heads;
  const size_t es = tool_dtype_size(dt);
  int ql[16], kl[16], cu_q[17], cu_k[17], npages[16];
  int max_k = 0;
  cu_q[0] = cu_k[0] = 0;
  for (int b = 0; b < b_n; b++) {
    ql[b] = tool_int(&rng, c->q_lo, c->q_hi);
    if (paged)
      kl[b] = ql[b] + tool_int(&rng, c->k_lo, c->k_hi);
    else
      kl[b] = c->k_hi ? tool_int(&rng, c->k_lo, c->k_hi) : ql[b];
    cu_q[b + 1] = cu_q[b] + ql[b];
    cu_k[b + 1] = cu_k[b] + kl[b];
    max_k = kl[b] > max_k ? kl[b] : max_k;
  }
  const int tq = cu_q[b_n], tk = cu_k[b_n];
  const size_t nq = (size_t)tq * h_n * d, nk = (size_t)tk * hk * d;

  // paged geometry: pages per sequence, a random permutation of all pages
  // (two spare), a block table with a padded row stride.
  const int bs = paged ? c->block_size : 1;
  int max_pages = 0, n_pages = 2;
  for (int b = 0; b < b_n && paged; b++) {
    npages[b] = (kl[b] + bs - 1) / bs;
    max_pages = npages[b] > max_pages ? npages[b] : max_pages;
    n_pages += npages[b];
  }
  const int tstride = max_pages + 3;
  cache_geom g = make_geom(c->layout, n_pages, bs, hk, d);

  double *qd = malloc(sizeof(double) * nq), *kd = malloc(sizeof(double) * nk);
  double *vd = malloc(sizeof(double) * nk), *od = malloc(sizeof(double) * nq);
  double *lsed = malloc(sizeof(double) * (size_t)h_n * tq);
  unsigned char *qh = malloc(nq * es), *outh = malloc(nq * es);
  unsigned char *kh = NULL, *vh = NULL;
  int *table = NULL, *perm = NULL;
  float *lseh = malloc(sizeof(float) * (size_t)h_n * tq);
  float alibi[64], sinks[64];
  double alibid[64], sinksd[64];
  gbuf bq = {0}, bk = {0}, bv = {0}, bcq = {0}, bck = {0}, bout = {0},
       blse = {0}, bal = {0}, bsk = {0}, bst = {0}, btab = {0};
  r->max_error = r->lse_error = NAN;
  if (!qd || !kd || !vd || !od || !lsed || !qh || !outh || !lseh) {
    fail(r, "out of host memory");
    goto done;
  }
  for (size_t i = 0; i < nq; i++)
    qd[i] = tool_store(qh, dt, i, tool_uniform(&rng, -1, 1));
  if (!paged) {
    kh = malloc(nk * es);
    vh = malloc(nk * es);
    if (!kh || !vh) {
      fail(r, "out of host memory");
      goto done;
    }
    for (size_t i = 0; i < nk; i++) {
      kd[i] = tool_store(kh, dt, i, tool_uniform(&rng, -1, 1));
      vd[i] = tool_store(vh, dt, i, tool_uniform(&rng, -1, 1));
    }
  } else {
    // The whole cache is random; the reference gathers each sequence's keys
    // through the block table.
    kh = malloc(g.elems * es);
    vh = g.shared ? NULL : malloc(g.elems * es);
    table = calloc((size_t)b_n * tstride, sizeof *table);
    perm = malloc(sizeof *perm * (size_t)n_pages);
    if (!kh || (!g.shared && !vh) || !table || !perm) {
      fail(r, "out of host memory");
      goto done;
    }
    for (size_t i = 0; i < g.elems; i++) {
      tool_store(kh, dt, i, tool_uniform(&rng, -1, 1));
      if (vh)
        tool_store(vh, dt, i, tool_uniform(&rng, -1, 1));
    }
    for (int i = 0; i < n_pages; i++)
      perm[i] = i;
    tool_shuffle(&rng, perm, n_pages);
    int next = 0;
    for (int b = 0; b < b_n; b++)
      for (int j = 0; j < npages[b]; j++)
        table[b * tstride + j] = perm[next++];
    const unsigned char *vsrc = g.shared ? kh : vh;
    for (int b = 0; b < b_n; b++)
      for (int j = 0; j < kl[b]; j++) {
        const cl_long blk = table[b * tstride + j / bs], off = j % bs;
        for (int h = 0; h < hk; h++)
          for (int x = 0; x < d; x++) {
            const size_t ci = (size_t)(blk * g.sb + off * g.ss + h * g.sh + x);
            const size_t ri = (((size_t)cu_k[b] + j) * hk + h) * d + x;
            kd[ri] = tool_load(kh, dt, g.koff + ci);
            vd[ri] = tool_load(vsrc, dt, g.voff + ci);
          }
      }
  }
  for (int h = 0; h < h_n && h < 64; h++) {
    alibi[h] = (float)pow(2.0, -8.0 * (h + 1) / h_n);
    sinks[h] = (float)tool_uniform(&rng, -1, 2);
    alibid[h] = alibi[h];
    sinksd[h] = sinks[h];
  }

  cl_uint zero = 0;
  const size_t kcb = (paged ? g.elems : nk) * es;
  if (gbuf_make(s, &bq, nq * es, qh, err, sizeof err) ||
      gbuf_make(s, &bk, kcb, kh, err, sizeof err) ||
      ((!paged || !g.shared) && gbuf_make(s, &bv, kcb, vh, err, sizeof err)) ||
      gbuf_make(s, &bcq, sizeof(int) * (size_t)(b_n + 1), cu_q, err,
                sizeof err) ||
      gbuf_make(s, &bout, nq * es, NULL, err, sizeof err) ||
      gbuf_make(s, &blse, sizeof(float) * (size_t)h_n * tq, NULL, err,
                sizeof err) ||
      gbuf_make(s, &bal, sizeof alibi, alibi, err, sizeof err) ||
      gbuf_make(s, &bsk, sizeof sinks, sinks, err, sizeof err) ||
      gbuf_make(s, &bst, sizeof zero, &zero, err, sizeof err) ||
      (paged ? gbuf_make(s, &bck, sizeof(int) * (size_t)b_n, kl, err,
                         sizeof err) ||
                   gbuf_make(s, &btab, sizeof(int) * (size_t)b_n * tstride,
                             table, err, sizeof err)
             : gbuf_make(s, &bck, sizeof(int) * (size_t)(b_n + 1), cu_k, err,
                         sizeof err))) {
    fail(r, "%s", err);
    goto done;
  }

  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = b_n;
  p.num_heads = h_n;
  p.num_kv_heads = hk;
  p.head_dim = d;
  p.total_q = tq;
  p.total_k = paged ? 0 : tk;
  p.max_seqlen_q = c->q_hi;
  p.max_seqlen_k = max_k;
  p.causal = c->causal;
  p.window_left = c->wl;
  p.window_right = c->wr;
  p.softcap = c->softcap;
  if (c->alibi)
    p.alibi_slopes = gbuffer(&bal, sizeof(float));
  if (c->sinks)
    p.sinks = gbuffer(&bsk, sizeof(float));
  p.status = gbuffer(&bst, sizeof zero);
  p.max_blocks_per_seq = max_pages;
  p.block_table_stride = tstride;
  p.num_splits = c->num_splits;
  const cl_long hd = (cl_long)h_n * d, kvd = (cl_long)hk * d;
  clattn_tensor qt = {bq.mem, goff(es), {hd, d}, dt};
  clattn_tensor ot = {bout.mem, goff(es), {hd, d}, dt};
  clattn_tensor lt = {blse.mem, goff(4), {tq, 0}, CLATTN_F32};
  clattn_status st;
  if (paged) {
    clattn_cache kc = clattn__cache(bk.mem, goff(es) + g.koff, g.sb, g.ss, g.sh,
                                    dt, bs, n_pages);
    clattn_cache vc = kc;
    vc.buffer = g.shared ? bk.mem : bv.mem;
    vc.offset = goff(es) + g.voff;
    st = clattn_paged_attention(s->cctx, s->queue, &p, &qt, &kc, &vc,
                                gbuffer(&bcq, 4), gbuffer(&bck, 4),
                                gbuffer(&btab, 4), &ot, c->lse ? &lt : NULL, 0,
                                NULL, NULL);
  } else {
    clattn_tensor kt = {bk.mem, goff(es), {kvd, d}, dt};
    clattn_tensor vt = {bv.mem, goff(es), {kvd, d}, dt};
    st = clattn_attention(s->cctx, s->queue, &p, &qt, &kt, &vt,
                          gbuffer(&bcq, 4), gbuffer(&bck, 4), &ot,
                          c->lse ? &lt : NULL, 0, NULL, NULL);
  }
  if (!op_status(s, st, r))
    goto done;
  clFinish(s->queue);

  ref_attn_problem rp = {0};
  rp.batch = b_n;
  rp.heads = h_n;
  rp.kv_heads = hk;
  rp.dim = d;
  rp.cu_q = cu_q;
  rp.cu_k = cu_k;
  rp.q = qd;
  rp.k = kd;
  rp.v = vd;
  rp.scale = 1.0 / sqrt((double)d);
  rp.causal = c->causal;
  rp.window_left = c->wl;
  rp.window_right = c->wr;
  rp.softcap = c->softcap;
  rp.alibi = c->alibi ? alibid : NULL;
  rp.sinks = c->sinks ? sinksd : NULL;
  ref_attention(&rp, od, lsed);

  long bad_o = gbuf_read(s, &bout, outh, err, sizeof err);
  long bad_l = c->lse ? gbuf_read(s, &blse, lseh, err, sizeof err) : 0;
  if (bad_o < 0 || bad_l < 0) {
    fail(r, "%s", err);
    goto done;
  }
  // max_error is the largest |got - ref|; pass/fail is per element against
  // atol + rtol * |ref| (the worst ratio must be <= 1).
  double e = 0, worst = 0;
  for (size_t i = 0; i < nq; i++) {
    const double x = abs_err(tool_load(outh, dt, i), od[i]);
    const double ratio = x / (r->tolerance + r->rtol * fabs(od[i]));
    e = x > e ? x : e;
    worst = ratio > worst ? ratio : worst;
  }
  r->max_error = e;
  if (!(worst <= 1.0))
    fail(r, "out beyond tolerance (worst element %.3gx its bound)", worst);
  if (c->lse) {
    double le = 0, lworst = 0;
    for (size_t i = 0; i < (size_t)h_n * tq; i++) {
      const double x = abs_err(lseh[i], lsed[i]);
      const double ratio = isinf(lsed[i])
                               ? (x == 0 ? 0 : INFINITY)
                               : x / (r->lse_tolerance * (1.0 + fabs(lsed[i])));
      le = x > le ? x : le;
      lworst = ratio > lworst ? ratio : lworst;
    }
    r->lse_error = le;
    if (!(lworst <= 1.0))
      fail(r, "lse beyond tolerance (worst element %.3gx its bound)", lworst);
  }
  if (bad_o)
    fail(r, "%ld guard bytes around out changed", bad_o);
  if (bad_l)
    fail(r, "%ld guard bytes around lse changed", bad_l);
  check_status_word(s, &bst, r);
done:
  gbuf_free(&bq);
  gbuf_free(&bk);
  gbuf_free(&bv);
  gbuf_free(&bcq);
  gbuf_free(&bck);
  gbuf_free(&bout);
  gbuf_free(&blse);
  gbuf_free(&bal);
  gbuf_free(&bsk);
  gbuf_free(&bst);
  gbuf_free(&btab);
  free(qd);
  free(kd);
  free(vd);
  free(od);
  free(lsed);
  free(qh);
  free(outh);
  free(kh);
  free(vh);
  free(table);
  free(perm);
  free(lseh);
#endif
}

// ---- driver
// ---------------------------------------------------------------------
static st_result *add_result(st_report *rep) {
  if (rep->n == rep->cap) {
    int cap = rep->cap ? rep->cap * 2 : 64;
    st_result *r = realloc(rep->r, sizeof *r * (size_t)cap);
    if (!r)
      return NULL;
    rep->r = r;
    rep->cap = cap;
  }
  st_result *r = &rep->r[rep->n++];
  memset(r, 0, sizeof *r);
  return r;
}

// A new result of op (variant and format may be NULL), errors NaN; NULL
// when out of memory.
static st_result *start_result(st_report *rep, clattn_op op,
                               const char *variant, const char *format) {
  st_result *r = add_result(rep);
  if (r) {
    r->op = clattn_op_name(op);
    r->variant = variant;
    r->format = format;
    r->max_error = r->lse_error = NAN;
  }
  return r;
}

// The first head dim of the case's list at which v is eligible, or 0.
// With prefer_max, the variant's own D_MAX comes first, so that the largest
// head_dim a variant is built for is tested too.
static int pick_dim(const clattn_variant *v, const clattn_caps *caps,
                    clattn_op op, clattn_dtype dt, int max_q, int group,
                    const int *dims, int prefer_max) {
  if (prefer_max && v->tile.D_MAX > 0) {
    clattn_select_args a = {op, v->tile.D_MAX, dt, dt, max_q, group, 0, 0, 0};
    char why[160];
    if (clattn__variant_eligible(v, caps, &a, why, sizeof why))
      return v->tile.D_MAX;
  }
  for (int i = 0; i < 8 && dims[i]; i++) {
    clattn_select_args a = {op, dims[i], dt, dt, max_q, group, 0, 0, 0};
    char why[160];
    if (clattn__variant_eligible(v, caps, &a, why, sizeof why))
      return dims[i];
  }
  return 0;
}

static const char *dash(const char *s) {
  return s ? s : "-";
}

static void print_result(FILE *out, const st_result *r) {
  if (!out)
    return;
  fprintf(out, "%s  %-15s %-28s %-6s %-4s %-36s ",
          selftest_outcome_name(r->outcome), r->op, dash(r->variant),
          dash(r->format), dash(r->dtype), dash(r->test));
  if (r->head_dim)
    fprintf(out, "d=%-3d", r->head_dim);
  else
    fprintf(out, "     ");
  if (r->outcome != ST_SKIP && r->tolerance == 0 && r->max_error == 0)
    fprintf(out, "  exact");
  else if (r->outcome != ST_SKIP && !isnan(r->max_error))
    fprintf(out, "  max_err %.2e (tol %.1e+%.1e|ref|)", r->max_error,
            r->tolerance, r->rtol);
  if (r->outcome != ST_SKIP && !isnan(r->lse_error))
    fprintf(out, "  lse %.2e (tol %.0e(1+|ref|))", r->lse_error,
            r->lse_tolerance);
  if (r->reason[0]) {
    // One line per result: newlines (build logs) folded, long text cut; the
    // JSON output keeps the whole reason.
    char line[200];
    size_t j = 0;
    for (const char *p = r->reason; *p && j + 4 < sizeof line; p++) {
      if (*p == '\n' || *p == '\r') {
        if (j && line[j - 1] != ' ')
          line[j++] = ' ';
        if (p[1] && p[1] != '\n')
          line[j++] = '|', line[j++] = ' ';
      } else {
        line[j++] = *p;
      }
    }
    line[j] = '\0';
    fprintf(out, "  %s%s%s", r->outcome == ST_PASS ? "note: " : "", line,
            strlen(r->reason) > j ? "..." : "");
  }
  fputc('\n', out);
  fflush(out);
}

static uint64_t mix(uint64_t seed, uint64_t a) {
  tool_rng r;
  tool_rng_init(&r, seed ^ (a * 0xD1B54A32D192ED03ull));
  return tool_next(&r);
}

int selftest_run(tool_session *s, const clattn_caps *caps, uint64_t seed,
                 st_log *log_hook, FILE *out, st_report *rep) {
  static const clattn_dtype dts[] = {CLATTN_F32, CLATTN_F16, CLATTN_BF16};
  static const clattn_format fmts[] = {CLATTN_FORMAT_SOURCE,
                                       CLATTN_FORMAT_SPIRV};
  const int n_kv = (int)(sizeof kv_cases / sizeof kv_cases[0]);
  const int n_at = (int)(sizeof attn_cases / sizeof attn_cases[0]);
  int n_rows = 0;
  const clattn_variant *rows = clattn__registry(&n_rows);
  memset(rep, 0, sizeof *rep);

  for (int op = 0; op < CLATTN_OP_COUNT_; op++) {
    const int first = rep->n;
    int n_variants = 0;
    for (int i = 0; i < n_rows; i++) {
      const clattn_variant *v = &rows[i];
      if ((int)v->op != op)
        continue;
      n_variants++;
      for (int fi = 0; fi < 2; fi++) {
        const char *fname = clattn__format_name(fmts[fi]);
        char why[256];
        if (clattn__pick_format(caps, v, fname, why, sizeof why) !=
            (int)fmts[fi])
          continue;
        if (clattn_context_force_variant(s->cctx, (clattn_op)op, v->name) ||
            clattn_context_force_format(s->cctx, fname))
          return -1;
        // Rows for 8-bit caches only (the NVIDIA `_q8` rows): this self-test
        // builds float caches, so say that they were not run here
        // (tests/device/test_quant covers them).
        if (!(v->cache_dtypes & CLATTN_FLOAT_DTYPES)) {
          clattn_select_args qa = {(clattn_op)op,
                                   v->tile.D_MAX,
                                   v->dtypes & CLATTN_DTYPE_BIT(CLATTN_BF16)
                                       ? CLATTN_BF16
                                       : CLATTN_F16,
                                   CLATTN_FP8_E4M3,
                                   1,
                                   1,
                                   0,
                                   0,
                                   0};
          if (!clattn__variant_eligible(v, caps, &qa, why, sizeof why))
            continue;
          st_result *r = start_result(rep, (clattn_op)op, v->name, fname);
          if (!r)
            return -1;
          r->outcome = ST_SKIP;
          snprintf(r->reason, sizeof r->reason,
                   "8-bit caches only; this self-test builds float caches "
                   "(tests/device/test_quant covers the row)");
          rep->skip++;
          print_result(out, r);
          continue;
        }
        for (int di = 0; di < 3; di++) {
          const clattn_dtype dt = dts[di];
          const int n_cases = op == CLATTN_OP_KV_WRITE ? n_kv : n_at;
          for (int ci = 0; ci < n_cases; ci++) {
            const kv_case *kc = op == CLATTN_OP_KV_WRITE ? &kv_cases[ci] : NULL;
            const attn_case *ac = kc ? NULL : &attn_cases[ci];
            if (ac && (int)ac->op != op)
              continue;
            // The first case of each op runs at the variant's D_MAX.
            const int first_case =
                kc ? ci == 0 : ci == 0 || attn_cases[ci - 1].op != ac->op;
            const int d =
                pick_dim(v, caps, (clattn_op)op, dt, ac ? ac->q_hi : 0,
                         ac ? ac->heads / ac->kv_heads : 0,
                         kc ? kc->dims : ac->dims, first_case);
            if (!d)
              continue; // not eligible for this case at any of its dims
            st_result *r = start_result(rep, (clattn_op)op, v->name, fname);
            if (!r)
              return -1;
            r->dtype = tool_dtype_name(dt);
            r->test = kc ? kc->name : ac->name;
            r->head_dim = d;
            r->tolerance = kc ? 0.0 : out_tol(dt).atol;
            r->rtol = kc ? 0.0 : out_tol(dt).rtol;
            r->lse_tolerance = LSE_TOL;
            if (log_hook)
              log_hook->note[0] = '\0';
            const uint64_t cs = mix(seed, (uint64_t)(op * 64 + ci * 4 + di));
            if (kc)
              run_kv(s, dt, kc, d, cs, r);
            else
              run_attn(s, dt, ac, d, cs, r);
            if (r->outcome == ST_PASS && log_hook && log_hook->note[0])
              snprintf(r->reason, sizeof r->reason, "%s", log_hook->note);
            if (r->outcome == ST_PASS)
              rep->pass++;
            else if (r->outcome == ST_FAIL)
              rep->fail++;
            else
              rep->skip++;
            print_result(out, r);
          }
        }
      }
    }
    clattn_context_force_variant(s->cctx, (clattn_op)op, NULL);
    if (rep->n == first) { // nothing ran: say so rather than stay silent
      st_result *r = start_result(rep, (clattn_op)op, NULL, NULL);
      if (!r)
        return -1;
      r->outcome = ST_SKIP;
      snprintf(r->reason, sizeof r->reason,
               n_variants ? "no %s variant is eligible on this device"
                          : "no %s variant in this build",
               r->op);
      rep->skip++;
      print_result(out, r);
    }
  }
  clattn_context_force_format(s->cctx, NULL);
  return 0;
}

void selftest_report_free(st_report *rep) {
  free(rep->r);
  memset(rep, 0, sizeof *rep);
}
