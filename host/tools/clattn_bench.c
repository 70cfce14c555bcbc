// SPDX-License-Identifier: Apache-2.0
// clattn-bench: times kv_write, attention or paged_attention on given shapes
// with profiling events (back-to-back runs released together, see
// docs/bench.md) and prints median/min/p90 ms, TFLOP/s and GB/s, or --json.
#include "internal.h"
#include "json.h"
#include "toolutil.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_SCHEMA_VERSION 1
#define MAX_DEVICES 64
#define POOL_ELEMS (1u << 20) // random values reused to fill big buffers

static const char usage[] =
    "usage: clattn-bench OP [--batch B] [--heads H] [--kv-heads HKV]\n"
    "                   [--seqlen-q N] [--seqlen-k N] [--head-dim D]\n"
    "                   [--dtype f32|f16|bf16] [--tf32] [--causal]\n"
    "                   [--window L,R]\n"
    "                   [--page-size P] [--layout nhd|hnd] [--num-splits N]\n"
    "                   [--cache-dtype T[,T...]] [--scale-mode M]\n"
    "                   [--warmup N] [--iters N] [--device P:D]\n"
    "                   [--variant NAME] [--format spirv|source] [--seed N]\n"
    "                   [--json] [--help]\n"
    "\n"
    "OP is kv_write, attention or paged_attention. Defaults: batch 4, heads\n"
    "32, kv-heads = heads, seqlen-q 1024, seqlen-k = seqlen-q, head-dim 128,\n"
    "f16, no mask, page-size 16, nhd, 5 warm-up runs, 20 timed runs.\n"
    "kv_write writes batch * seqlen-q tokens (each sequence's last seqlen-q\n"
    "positions of seqlen-k) through a random page table; paged_attention\n"
    "reads seqlen-k keys per sequence through a random permutation of pages\n"
    "(decode: --seqlen-q 1 --seqlen-k 4096).\n"
    "--cache-dtype (kv_write, paged_attention; default: --dtype) takes\n"
    "f32, f16, bf16, fp8_e4m3, fp8_e5m2 or i8, or a comma-separated list: "
    "each\n"
    "is run in turn on the same shape and printed (--json: one object per\n"
    "line). --tf32 sets allow_tf32 (attention ops: f32 may use tf32\n"
    "tensor-core products). --scale-mode (quantized caches) is tensor\n"
    "(default), buffer or token-head. Tokens/s count query tokens\n"
    "(paged_attention) or written tokens (kv_write) per second; KV tokens/s\n"
    "the cached positions read.\n"
    "Prints median, min and p90 time of one op (device time from profiling\n"
    "events, docs/bench.md), TFLOP/s (attention ops; 4*D per visible\n"
    "query-key pair and head) and GB/s of the bytes that must move.\n"
    "Exit status: 0 ok, 1 the op failed, 2 usage, 3 no OpenCL platform or\n"
    "device, 4 OpenCL error in the tool.\n";

typedef struct bench_opts {
  clattn_op op;
  int batch, heads, kv_heads, seqlen_q, seqlen_k, head_dim;
  clattn_dtype dtype;
  clattn_dtype cache_dtype; // of the run in progress
  clattn_dtype cache_dtypes[8];
  int n_cache_dtypes; // 0: the cache takes --dtype
  int scale_mode;     // clattn_scale_mode of quantized caches
  int causal, wl, wr;
  int tf32; // allow_tf32 of the attention ops
  int page_size, hnd, num_splits;
  int warmup, iters;
  const char *device, *variant, *format;
  int json;
  uint64_t seed;
} bench_opts;

// --scale-mode values, indexed by clattn_scale_mode.
static const char *const scale_names[] = {"tensor", "buffer", "token-head"};

// ---- progress line
// -----------------------------------------------------------
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct progress {
  double start, last;
  int shown, tty;
} progress;

static void progress_begin(progress *p) {
  p->start = p->last = now_s();
  p->shown = 0;
  p->tty = isatty(2);
}

// Shown only once a phase has run for a second, then at most twice a second
// (every 5 s when stderr is not a terminal).
static void progress_step(progress *p, const char *what, int i, int n) {
  double t = now_s();
  if (t - p->start < 1.0 || t - p->last < (p->tty ? 0.5 : 5.0))
    return;
  p->last = t;
  p->shown = 1;
  fprintf(stderr, "%sclattn-bench: %s %d/%d (%.0f s)%s", p->tty ? "\r" : "",
          what, i, n, t - p->start, p->tty ? "   " : "\n");
  fflush(stderr);
}

static void progress_end(progress *p) {
  if (p->shown && p->tty)
    fputc('\n', stderr);
  p->shown = 0;
}

// ---- arguments
// ------------------------------------------------------------------
static int parse_window(const char *s, int *l, int *r) {
  long long a, b;
  const char *comma = s ? strchr(s, ',') : NULL;
  char left[32];
  if (!comma || (size_t)(comma - s) >= sizeof left)
    return -1;
  memcpy(left, s, (size_t)(comma - s));
  left[comma - s] = '\0';
  if (tool_parse_int(left, -1, 1 << 30, &a) ||
      tool_parse_int(comma + 1, -1, 1 << 30, &b))
    return -1;
  *l = (int)a;
  *r = (int)b;
  return 0;
}

// "fp8_e4m3,f16": each name as clattn_dtype_name() spells it.
static int parse_cache_dtypes(const char *s, bench_opts *o) {
  o->n_cache_dtypes = 0;
  while (s && *s) {
    const char *comma = strchr(s, ',');
    const size_t len = comma ? (size_t)(comma - s) : strlen(s);
    int found = 0;
    for (int k = CLATTN_F32; k <= CLATTN_I8 && !found; k++) {
      const char *n = clattn_dtype_name((clattn_dtype)k);
      if (strlen(n) == len && !strncmp(s, n, len)) {
        if (o->n_cache_dtypes == 8)
          return -1;
        o->cache_dtypes[o->n_cache_dtypes++] = (clattn_dtype)k;
        found = 1;
      }
    }
    if (!found)
      return -1;
    s = comma ? comma + 1 : NULL;
  }
  return o->n_cache_dtypes ? 0 : -1;
}

static int parse_args(int argc, char **argv, bench_opts *o) {
  memset(o, 0, sizeof *o);
  o->op = CLATTN_OP_COUNT_;
  o->batch = 4;
  o->heads = 32;
  o->seqlen_q = 1024;
  o->seqlen_k = -1;
  o->head_dim = 128;
  o->dtype = CLATTN_F16;
  o->wl = o->wr = -1;
  o->page_size = 16;
  o->warmup = 5;
  o->iters = 20;
  o->seed = (uint64_t)time(NULL);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    long long n = 0;
    // integer options: name, destination, minimum
    static const struct {
      const char *name;
      size_t off;
      long long lo;
    } ints[] = {{"--batch", offsetof(bench_opts, batch), 1},
                {"--heads", offsetof(bench_opts, heads), 1},
                {"--kv-heads", offsetof(bench_opts, kv_heads), 1},
                {"--seqlen-q", offsetof(bench_opts, seqlen_q), 1},
                {"--seqlen-k", offsetof(bench_opts, seqlen_k), 1},
                {"--head-dim", offsetof(bench_opts, head_dim), 1},
                {"--page-size", offsetof(bench_opts, page_size), 1},
                {"--num-splits", offsetof(bench_opts, num_splits), 0},
                {"--warmup", offsetof(bench_opts, warmup), 0},
                {"--iters", offsetof(bench_opts, iters), 1}};
    int matched = 0;
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++)
      if (!strcmp(a, ints[k].name)) {
        if (tool_parse_int(val, ints[k].lo, 1 << 30, &n)) {
          fprintf(stderr, "clattn-bench: %s takes an integer >= %lld\n", a,
                  ints[k].lo);
          return -1;
        }
        *(int *)((char *)o + ints[k].off) = (int)n;
        matched = 1;
        i++;
      }
    if (matched)
      continue;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      exit(TOOL_EXIT_OK);
    } else if (!strcmp(a, "--json")) {
      o->json = 1;
    } else if (!strcmp(a, "--causal")) {
      o->causal = 1;
    } else if (!strcmp(a, "--tf32")) {
      o->tf32 = 1;
    } else if (!strcmp(a, "--window")) {
      if (parse_window(val, &o->wl, &o->wr)) {
        fprintf(stderr, "clattn-bench: --window takes L,R (-1 = unbounded)\n");
        return -1;
      }
      i++;
    } else if (!strcmp(a, "--dtype")) {
      if (tool_parse_dtype(val, &o->dtype)) {
        fprintf(stderr, "clattn-bench: --dtype takes f32, f16 or bf16\n");
        return -1;
      }
      i++;
    } else if (!strcmp(a, "--cache-dtype")) {
      if (parse_cache_dtypes(val, o)) {
        fprintf(stderr,
                "clattn-bench: --cache-dtype takes up to 8 of f32, "
                "f16, bf16, fp8_e4m3, fp8_e5m2, i8 (comma-separated)\n");
        return -1;
      }
      i++;
    } else if (!strcmp(a, "--scale-mode")) {
      int k = 0;
      while (k < 3 && (!val || strcmp(val, scale_names[k])))
        k++;
      if (k == 3) {
        fprintf(stderr, "clattn-bench: --scale-mode takes tensor, buffer or "
                        "token-head\n");
        return -1;
      }
      o->scale_mode = k;
      i++;
    } else if (!strcmp(a, "--layout")) {
      if (!val || (strcmp(val, "nhd") && strcmp(val, "hnd"))) {
        fprintf(stderr, "clattn-bench: --layout takes nhd or hnd\n");
        return -1;
      }
      o->hnd = !strcmp(val, "hnd");
      i++;
    } else if (!strcmp(a, "--format")) {
      if (!val || (strcmp(val, "spirv") && strcmp(val, "source"))) {
        fprintf(stderr, "clattn-bench: --format takes spirv or source\n");
        return -1;
      }
      o->format = val;
      i++;
    } else if (!strcmp(a, "--device") || !strcmp(a, "-d") ||
               !strcmp(a, "--variant")) {
      if (!val) {
        fprintf(stderr, "clattn-bench: %s needs a value\n", a);
        return -1;
      }
      if (!strcmp(a, "--variant"))
        o->variant = val;
      else
        o->device = val;
      i++;
    } else if (!strcmp(a, "--seed")) {
      if (tool_parse_int(val, 0, 0x7FFFFFFFFFFFFFFFll, &n)) {
        fprintf(stderr, "clattn-bench: --seed takes a non-negative integer\n");
        return -1;
      }
      o->seed = (uint64_t)n;
      i++;
    } else if (a[0] != '-' && o->op == CLATTN_OP_COUNT_) {
      int found = 0;
      for (int k = 0; k < CLATTN_OP_COUNT_; k++)
        if (!strcmp(a, clattn_op_name((clattn_op)k))) {
          o->op = (clattn_op)k;
          found = 1;
        }
      if (!found) {
        fprintf(stderr,
                "clattn-bench: unknown op '%s' (kv_write, attention, "
                "paged_attention)\n",
                a);
        return -1;
      }
    } else {
      fprintf(stderr, "clattn-bench: unknown argument '%s'\n%s", a, usage);
      return -1;
    }
  }
  if (o->op == CLATTN_OP_COUNT_) {
    fprintf(stderr, "clattn-bench: OP missing\n%s", usage);
    return -1;
  }
  if (!o->kv_heads)
    o->kv_heads = o->heads;
  if (o->seqlen_k < 0)
    o->seqlen_k = o->seqlen_q;
  if (o->op == CLATTN_OP_KV_WRITE && o->seqlen_k < o->seqlen_q) {
    fprintf(stderr, "clattn-bench: kv_write needs --seqlen-k >= --seqlen-q "
                    "(the written tokens are the last seqlen-q positions)\n");
    return -1;
  }
  if (o->causal)
    o->wr = 0;
  if (!o->n_cache_dtypes)
    o->cache_dtypes[o->n_cache_dtypes++] = o->dtype;
  return 0;
}

// ---- work accounting
// ---------------------------------------------------------------- For one
// sequence of q_len queries over k_len keys (DESIGN §2 masking): *pairs =
// visible (row, key) pairs, *keys = keys visible from any row.
static void count_visible(int q_len, int k_len, int causal, int left, int right,
                          double *pairs, double *keys) {
  if (causal)
    right = 0;
  double np = 0, nk = 0;
  long long covered = -1; // highest key counted in *keys
  for (int i = 0; i < q_len; i++) {
    long long p = (long long)i + k_len - q_len;
    long long lo = left < 0 ? 0 : p - left;
    long long hi = right < 0 ? (long long)k_len - 1 : p + right;
    if (lo < 0)
      lo = 0;
    if (hi > k_len - 1)
      hi = (long long)k_len - 1;
    if (hi < lo)
      continue;
    np += (double)(hi - lo + 1);
    long long from = lo > covered + 1 ? lo : covered + 1; // lo, hi rise with i
    if (hi >= from)
      nk += (double)(hi - from + 1);
    if (hi > covered)
      covered = hi;
  }
  *pairs = np;
  *keys = nk;
}

// ---- device buffers filled with random data
// ------------------------------------------
typedef struct pool {
  unsigned char *bytes;
  size_t size;
} pool;

static int fill_random(tool_session *s, cl_mem m, size_t bytes, const pool *pl,
                       tool_rng *rng, size_t elem) {
  const size_t chunk = pl->size / 2;
  for (size_t done = 0; done < bytes; done += chunk) {
    size_t n = bytes - done < chunk ? bytes - done : chunk;
    size_t start = (size_t)(tool_next(rng) % (chunk / elem)) * elem;
    cl_int e = clEnqueueWriteBuffer(s->queue, m, CL_TRUE, done, n,
                                    pl->bytes + start, 0, NULL, NULL);
    if (e != CL_SUCCESS) {
      fprintf(stderr, "clattn-bench: clEnqueueWriteBuffer failed: %s\n",
              tool_cl_error_name(e));
      return -1;
    }
  }
  return 0;
}

static cl_mem make_buffer(tool_session *s, size_t bytes, const void *init,
                          const char *what) {
  cl_int e;
  if (bytes == 0)
    bytes = 4;
  cl_mem m = clCreateBuffer(
      s->ctx, CL_MEM_READ_WRITE | (init ? CL_MEM_COPY_HOST_PTR : 0), bytes,
      (void *)init, &e);
  if (!m)
    fprintf(stderr, "clattn-bench: cannot allocate %s (%.3g GB): %s\n", what,
            (double)bytes / 1e9, tool_cl_error_name(e));
  return m;
}

typedef struct bench_data {
  cl_mem q, k, v, out, cu_q, cu_k, slots, table, ks, vs;
  clattn_tensor tq, tk, tv, tout;
  clattn_cache kc, vc;
  clattn_attention_params ap;
  clattn_kv_write_params kp;
  long long tokens, pages;
} bench_data;

static void release_data(bench_data *d) {
  cl_mem *ms[] = {&d->q,    &d->k,     &d->v,     &d->out, &d->cu_q,
                  &d->cu_k, &d->slots, &d->table, &d->ks,  &d->vs};
  for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
    if (*ms[i]) {
      clReleaseMemObject(*ms[i]);
      *ms[i] = NULL;
    }
}

static int setup(tool_session *s, const bench_opts *o, bench_data *d) {
  memset(d, 0, sizeof *d);
  tool_rng rng;
  tool_rng_init(&rng, o->seed);
  const size_t es = tool_dtype_size(o->dtype);
  const long long B = o->batch, H = o->heads, HK = o->kv_heads, D = o->head_dim,
                  SQ = o->seqlen_q, SK = o->seqlen_k, P = o->page_size;
  const long long pages_per_seq = (SK + P - 1) / P;
  int rc = -1;
  pool pl = {malloc((size_t)POOL_ELEMS * es), (size_t)POOL_ELEMS * es};
  const size_t ces = tool_dtype_size(o->cache_dtype);
  const int quant = !(CLATTN_FLOAT_DTYPES & CLATTN_DTYPE_BIT(o->cache_dtype));
  pool cpl = {malloc((size_t)POOL_ELEMS * ces), (size_t)POOL_ELEMS * ces};
  int *perm = NULL, *table = NULL, *cu = NULL, *lens = NULL;
  cl_long *slots = NULL;
  if (!pl.bytes || !cpl.bytes)
    goto out;
  // Quantized caches get codes with bit 6 clear (finite, |x| < 2 in FP8;
  // -64..63 in I8), read under scale 1/64.
  for (size_t i = 0; i < POOL_ELEMS; i++) {
    tool_store(pl.bytes, o->dtype, i, tool_uniform(&rng, -1, 1));
    if (quant)
      cpl.bytes[i] = (unsigned char)(tool_next(&rng) & 0xbf);
    else
      tool_store(cpl.bytes, o->cache_dtype, i, tool_uniform(&rng, -1, 1));
  }

  // Random page table (kv_write, paged_attention): a permutation of pages.
  d->pages = B * pages_per_seq;
  if (o->op != CLATTN_OP_ATTENTION) {
    perm = malloc(sizeof *perm * (size_t)d->pages);
    if (!perm)
      goto out;
    for (long long i = 0; i < d->pages; i++)
      perm[i] = (int)i;
    tool_shuffle(&rng, perm, (int)d->pages);
    const cl_long hd = HK * D, bs = P;
    const size_t cbytes = (size_t)(d->pages * P * HK * D) * ces;
    cl_long sb = hd * bs, ss = o->hnd ? D : hd, sh = o->hnd ? bs * D : D;
    if (cbytes > ((size_t)1 << 28))
      fprintf(stderr, "clattn-bench: filling %.2f GB of KV cache\n",
              2.0 * (double)cbytes / 1e9);
    if (!(d->k = make_buffer(s, cbytes, NULL, "key cache")) ||
        !(d->v = make_buffer(s, cbytes, NULL, "value cache")) ||
        fill_random(s, d->k, cbytes, &cpl, &rng, ces) ||
        fill_random(s, d->v, cbytes, &cpl, &rng, ces))
      goto out;
    clattn_cache c = clattn__cache(d->k, 0, sb, ss, sh, o->cache_dtype,
                                   (cl_int)P, (cl_long)d->pages);
    if (quant) {
      const size_t n = o->scale_mode == CLATTN_SCALE_TOKEN_HEAD
                           ? (size_t)(d->pages * P * HK)
                           : 1;
      float *sc = malloc(sizeof *sc * n);
      if (!sc)
        goto out;
      for (size_t i = 0; i < n; i++)
        sc[i] = 1.0f / 64;
      d->ks = make_buffer(s, sizeof *sc * n, sc, "key scales");
      d->vs = make_buffer(s, sizeof *sc * n, sc, "value scales");
      free(sc);
      if (!d->ks || !d->vs)
        goto out;
      c.scale = 1.0f / 64;
      c.scale_mode = o->scale_mode;
      c.scales.buffer = d->ks;
      c.scale_stride_block = bs * HK; // [pages, page_size, kv_heads]
      c.scale_stride_slot = HK;
      c.scale_stride_head = 1;
    }
    d->kc = c;
    d->vc = c;
    d->vc.buffer = d->v;
    d->vc.scales.buffer = d->vs;
  }

  if (o->op == CLATTN_OP_KV_WRITE) {
    d->tokens = B * SQ;
    const size_t bytes = (size_t)(d->tokens * HK * D) * es;
    slots = malloc(sizeof *slots * (size_t)d->tokens);
    if (!slots)
      goto out;
    for (long long b = 0; b < B; b++)
      for (long long t = 0; t < SQ; t++) {
        long long pos = SK - SQ + t;
        slots[b * SQ + t] =
            (cl_long)perm[b * pages_per_seq + pos / P] * P + pos % P;
      }
    if (!(d->q = make_buffer(s, bytes, NULL, "key")) ||
        !(d->out = make_buffer(s, bytes, NULL, "value")) ||
        fill_random(s, d->q, bytes, &pl, &rng, es) ||
        fill_random(s, d->out, bytes, &pl, &rng, es) ||
        !(d->slots = make_buffer(s, sizeof *slots * (size_t)d->tokens, slots,
                                 "slot_mapping")))
      goto out;
    clattn_tensor t = {d->q, 0, {HK * D, D}, o->dtype};
    d->tk = t;
    d->tv = t;
    d->tv.buffer = d->out;
    clattn_kv_write_params kp = CLATTN_KV_WRITE_PARAMS_INIT;
    kp.num_tokens = d->tokens;
    kp.num_kv_heads = (cl_int)HK;
    kp.head_dim = (cl_int)D;
    d->kp = kp;
    rc = 0;
    goto out;
  }

  // attention ops: q, out, cu_seqlens_q (+ k, v, cu_seqlens_k or the table)
  const size_t qbytes = (size_t)(B * SQ * H * D) * es;
  cu = malloc(sizeof *cu * (size_t)(B + 1));
  lens = malloc(sizeof *lens * (size_t)B);
  if (!cu || !lens)
    goto out;
  for (long long b = 0; b <= B; b++)
    cu[b] = (int)(b * SQ);
  if (!(d->q = make_buffer(s, qbytes, NULL, "q")) ||
      !(d->out = make_buffer(s, qbytes, NULL, "out")) ||
      fill_random(s, d->q, qbytes, &pl, &rng, es) ||
      !(d->cu_q = make_buffer(s, sizeof *cu * (size_t)(B + 1), cu, "cu_q")))
    goto out;
  clattn_attention_params ap = CLATTN_ATTENTION_PARAMS_INIT;
  ap.batch = (cl_int)B;
  ap.num_heads = (cl_int)H;
  ap.num_kv_heads = (cl_int)HK;
  ap.head_dim = (cl_int)D;
  ap.total_q = B * SQ;
  ap.max_seqlen_q = (cl_int)SQ;
  ap.max_seqlen_k = (cl_int)SK;
  ap.causal = o->causal;
  ap.window_left = o->wl;
  ap.window_right = o->wr;
  ap.allow_tf32 = o->tf32;
  clattn_tensor tq = {d->q, 0, {H * D, D}, o->dtype};
  d->tq = tq;
  d->tout = tq;
  d->tout.buffer = d->out;
  if (o->op == CLATTN_OP_ATTENTION) {
    const size_t kbytes = (size_t)(B * SK * HK * D) * es;
    for (long long b = 0; b <= B; b++)
      cu[b] = (int)(b * SK);
    if (!(d->k = make_buffer(s, kbytes, NULL, "k")) ||
        !(d->v = make_buffer(s, kbytes, NULL, "v")) ||
        fill_random(s, d->k, kbytes, &pl, &rng, es) ||
        fill_random(s, d->v, kbytes, &pl, &rng, es) ||
        !(d->cu_k = make_buffer(s, sizeof *cu * (size_t)(B + 1), cu, "cu_k")))
      goto out;
    ap.total_k = B * SK;
    clattn_tensor tk = {d->k, 0, {HK * D, D}, o->dtype};
    d->tk = tk;
    d->tv = tk;
    d->tv.buffer = d->v;
  } else {
    table = malloc(sizeof *table * (size_t)d->pages);
    if (!table)
      goto out;
    memcpy(table, perm, sizeof *table * (size_t)d->pages);
    for (long long b = 0; b < B; b++)
      lens[b] = (int)SK;
    if (!(d->table = make_buffer(s, sizeof *table * (size_t)d->pages, table,
                                 "block_table")) ||
        !(d->cu_k =
              make_buffer(s, sizeof *lens * (size_t)B, lens, "seq_lens_k")))
      goto out;
    ap.max_blocks_per_seq = (cl_int)pages_per_seq;
    ap.block_table_stride = pages_per_seq;
  }
  ap.num_splits = o->num_splits;
  d->ap = ap;
  rc = 0;
out:
  if (rc && (!pl.bytes || !cpl.bytes))
    fprintf(stderr, "clattn-bench: out of host memory\n");
  free(pl.bytes);
  free(cpl.bytes);
  free(perm);
  free(table);
  free(cu);
  free(lens);
  free(slots);
  return rc;
}

static clattn_status enqueue(tool_session *s, const bench_opts *o,
                             bench_data *d, cl_uint nw, const cl_event *w,
                             cl_event *ev) {
  switch (o->op) {
  case CLATTN_OP_KV_WRITE:
    return clattn_kv_write(s->cctx, s->queue, &d->kp, &d->tk, &d->tv,
                           (clattn_buffer){d->slots, 0}, &d->kc, &d->vc, nw, w,
                           ev);
  case CLATTN_OP_ATTENTION:
    return clattn_attention(s->cctx, s->queue, &d->ap, &d->tq, &d->tk, &d->tv,
                            (clattn_buffer){d->cu_q, 0},
                            (clattn_buffer){d->cu_k, 0}, &d->tout, NULL, nw, w,
                            ev);
  default:
    return clattn_paged_attention(
        s->cctx, s->queue, &d->ap, &d->tq, &d->kc, &d->vc,
        (clattn_buffer){d->cu_q, 0}, (clattn_buffer){d->cu_k, 0},
        (clattn_buffer){d->table, 0}, &d->tout, NULL, nw, w, ev);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct log_capture {
  char note[256];
} log_capture;

static void capture_log(void *user, const char *line) {
  log_capture *c = user;
  if (strstr(line, "falling back") && !c->note[0])
    snprintf(c->note, sizeof c->note, "%s", line);
}

static int op_failed(tool_session *s, const char *what, clattn_status st) {
  fprintf(stderr, "clattn-bench: %s failed: %s: %s\n", what,
          clattn_status_string(st), clattn_context_last_error(s->cctx));
  return TOOL_EXIT_FAIL;
}

// Sets up, warms up, times and prints one run of the op with the cache
// dtype o.cache_dtype; returns the exit status.
static int run_one(tool_session *s, bench_opts o, const tool_dev *dev,
                   log_capture *logc) {
  int rc = TOOL_EXIT_OK;
  clattn_status st;
  // ---- inputs
  bench_data d;
  if (setup(s, &o, &d)) {
    release_data(&d);
    return TOOL_EXIT_OPENCL;
  }

  // ---- warm-up (includes the program build of the first call)
  progress pr;
  progress_begin(&pr);
  for (int i = 0; i < o.warmup; i++) {
    if ((st = enqueue(s, &o, &d, 0, NULL, NULL))) {
      rc = op_failed(s, clattn_op_name(o.op), st);
      goto release;
    }
    clFinish(s->queue);
    progress_step(&pr, "warm-up", i + 1, o.warmup);
  }
  progress_end(&pr);

  // ---- timed runs: iters + 1 ops enqueued back to back behind a user
  // event, then released together; sample i = END(op i) - END(op i-1).
  cl_int e;
  cl_event gate = clCreateUserEvent(s->ctx, &e);
  cl_event *evs = calloc((size_t)o.iters + 1, sizeof *evs);
  double *ms = calloc((size_t)o.iters, sizeof *ms);
  double *kms = calloc((size_t)o.iters, sizeof *kms);
  if (!gate || !evs || !ms || !kms) {
    fprintf(stderr, "clattn-bench: cannot set up timing (%s)\n",
            gate ? "out of host memory" : tool_cl_error_name(e));
    rc = TOOL_EXIT_OPENCL;
    goto timing_out;
  }
  for (int i = 0; i <= o.iters; i++) {
    st = enqueue(s, &o, &d, i == 0 ? 1 : 0, i == 0 ? &gate : NULL, &evs[i]);
    if (st) {
      clSetUserEventStatus(gate, CL_COMPLETE);
      clFinish(s->queue);
      rc = op_failed(s, clattn_op_name(o.op), st);
      goto timing_out;
    }
  }
  clFlush(s->queue);
  clSetUserEventStatus(gate, CL_COMPLETE);
  progress_begin(&pr);
  for (int i = 0; i <= o.iters; i++) {
    clWaitForEvents(1, &evs[i]);
    if (i)
      progress_step(&pr, "timing", i, o.iters);
  }
  progress_end(&pr);
  cl_ulong prev_end = 0;
  for (int i = 0; i <= o.iters; i++) {
    cl_ulong t0 = 0, t1 = 0;
    e = clGetEventProfilingInfo(evs[i], CL_PROFILING_COMMAND_START, sizeof t0,
                                &t0, NULL);
    if (e == CL_SUCCESS)
      e = clGetEventProfilingInfo(evs[i], CL_PROFILING_COMMAND_END, sizeof t1,
                                  &t1, NULL);
    if (e != CL_SUCCESS) {
      fprintf(stderr, "clattn-bench: clGetEventProfilingInfo failed: %s\n",
              tool_cl_error_name(e));
      rc = TOOL_EXIT_OPENCL;
      goto timing_out;
    }
    if (i) {
      ms[i - 1] = 1e-6 * (double)(t1 - prev_end);
      kms[i - 1] = 1e-6 * (double)(t1 - t0);
    }
    prev_end = t1;
  }

  {
    // ---- statistics and work
    qsort(ms, (size_t)o.iters, sizeof *ms, cmp_double);
    qsort(kms, (size_t)o.iters, sizeof *kms, cmp_double);
    const int it = o.iters;
    const double median =
        it % 2 ? ms[it / 2] : 0.5 * (ms[it / 2 - 1] + ms[it / 2]);
    const double kmedian =
        it % 2 ? kms[it / 2] : 0.5 * (kms[it / 2 - 1] + kms[it / 2]);
    int p90i = (int)ceil(0.9 * it) - 1;
    const double p90 = ms[p90i < 0 ? 0 : p90i], mn = ms[0];
    double mean = 0;
    for (int i = 0; i < it; i++)
      mean += ms[i] / it;

    const double es = (double)tool_dtype_size(o.dtype);
    const double ces = (double)tool_dtype_size(o.cache_dtype);
    const int quant = !(CLATTN_FLOAT_DTYPES & CLATTN_DTYPE_BIT(o.cache_dtype));
    const double B = o.batch, H = o.heads, HK = o.kv_heads, D = o.head_dim;
    // Per-token-head scales: one f32 per cached (token, head) of K and V.
    const double sce =
        quant && o.scale_mode == CLATTN_SCALE_TOKEN_HEAD ? 4.0 / D : 0.0;
    double flops = NAN, bytes, tokens, kv_tokens;
    if (o.op == CLATTN_OP_KV_WRITE) {
      const double t = (double)d.tokens;
      // key+value in, both caches (and their scales) out, slot_mapping
      bytes = t * HK * D * (es + ces + sce) * 2 + t * 8;
      tokens = t;
      kv_tokens = t;
    } else {
      double pairs, keys;
      count_visible(o.seqlen_q, o.seqlen_k, o.causal, o.wl, o.wr, &pairs,
                    &keys);
      flops = 4.0 * D * H * B * pairs;
      bytes = 2.0 * B * o.seqlen_q * H * D * es       // q in, out
              + 2.0 * B * keys * HK * D * (ces + sce) // k, v once per kv head
              + 4.0 * (B + 1);                        // cu_seqlens_q
      tokens = B * o.seqlen_q;
      kv_tokens = B * keys;
      if (o.op == CLATTN_OP_ATTENTION)
        bytes += 4.0 * (B + 1); // cu_seqlens_k
      else
        bytes += 4.0 * B + 4.0 * (double)d.pages; // seq_lens_k, block table
    }
    const double sec = median * 1e-3;
    const double tflops = isnan(flops) ? NAN : flops / sec / 1e12;
    const double gbps = bytes / sec / 1e9;
    const double tps = tokens / sec, kvtps = kv_tokens / sec;

    // ---- the variant and format that ran
    clattn_select_args a = {
        o.op,
        o.head_dim,
        o.dtype,
        o.cache_dtype,
        o.op == CLATTN_OP_KV_WRITE ? 0 : o.seqlen_q,
        o.op == CLATTN_OP_KV_WRITE ? 0 : o.heads / o.kv_heads,
        o.op != CLATTN_OP_KV_WRITE && o.tf32,
        o.op == CLATTN_OP_KV_WRITE ? 0 : (long)o.batch * o.kv_heads,
        o.scale_mode == CLATTN_SCALE_TOKEN_HEAD};
    const clattn_variant *v = NULL;
    clattn_format f = CLATTN_FORMAT_SOURCE;
    const char *vname = "?", *fname = "?";
    if (clattn__choose(s->cctx, &a, &v, &f) == CLATTN_SUCCESS) {
      vname = v->name;
      fname = clattn__format_name(f);
      if (f == CLATTN_FORMAT_SPIRV && logc->note[0])
        fname = "source"; // the SPIR-V build failed and fell back
    }
    size_t timer_res = 0;
    clGetDeviceInfo(dev->device, CL_DEVICE_PROFILING_TIMER_RESOLUTION,
                    sizeof timer_res, &timer_res, NULL);
    char name[256], plat[256];
    tool_device_string(dev->device, CL_DEVICE_NAME, name, sizeof name);
    tool_platform_string(dev->platform, CL_PLATFORM_NAME, plat, sizeof plat);
    const char *layout = o.op == CLATTN_OP_ATTENTION ? NULL
                         : o.hnd                     ? "hnd"
                                                     : "nhd";

    if (o.json) {
      json_w w;
      json_init_compact(&w, stdout);
      json_object_begin(&w, NULL);
      json_string(&w, "version", clattn_version_string());
      json_int(&w, "schema_version", BENCH_SCHEMA_VERSION);
      json_string(&w, "op", clattn_op_name(o.op));
      json_string(&w, "variant", vname);
      json_string(&w, "format", fname);
      if (logc->note[0])
        json_string(&w, "note", logc->note);
      char ds[32];
      snprintf(ds, sizeof ds, "%d:%d", dev->p, dev->d);
      json_string(&w, "device", ds);
      json_string(&w, "device_name", name);
      json_string(&w, "platform", plat);
      json_int(&w, "batch", o.batch);
      json_int(&w, "heads", o.heads);
      json_int(&w, "kv_heads", o.kv_heads);
      json_int(&w, "seqlen_q", o.seqlen_q);
      json_int(&w, "seqlen_k", o.seqlen_k);
      json_int(&w, "head_dim", o.head_dim);
      json_string(&w, "dtype", tool_dtype_name(o.dtype));
      json_bool(&w, "causal", o.causal);
      if (o.op != CLATTN_OP_KV_WRITE)
        json_bool(&w, "allow_tf32", o.tf32);
      json_array_begin(&w, "window");
      json_int(&w, NULL, o.wl);
      json_int(&w, NULL, o.wr);
      json_array_end(&w);
      if (o.op != CLATTN_OP_ATTENTION) {
        json_int(&w, "page_size", o.page_size);
        json_string(&w, "layout", layout);
        json_string(&w, "cache_dtype", clattn_dtype_name(o.cache_dtype));
        json_string(&w, "scale_mode",
                    quant ? scale_names[o.scale_mode] : "none");
      }
      if (o.op != CLATTN_OP_KV_WRITE)
        json_int(&w, "num_splits", o.num_splits);
      if (o.op == CLATTN_OP_KV_WRITE)
        json_int(&w, "num_tokens", d.tokens);
      json_int(&w, "warmup", o.warmup);
      json_int(&w, "iters", o.iters);
      json_double(&w, "median_ms", median);
      json_double(&w, "min_ms", mn);
      json_double(&w, "p90_ms", p90);
      json_double(&w, "mean_ms", mean);
      json_double(&w, "last_kernel_median_ms", kmedian);
      if (o.op == CLATTN_OP_KV_WRITE)
        json_null(&w, "tflops");
      else
        json_double(&w, "tflops", tflops);
      json_double(&w, "gbps", gbps);
      json_double(&w, "tokens_per_s", tps);
      json_double(&w, "kv_tokens_per_s", kvtps);
      json_double(&w, "flops", flops);
      json_double(&w, "bytes", bytes);
      json_string(&w, "timing", "back-to-back");
      json_int(&w, "timer_resolution_ns", (long long)timer_res);
      json_object_end(&w);
    } else {
      printf("clattn-bench %s on %d:%d %s (%s)\n", clattn_op_name(o.op), dev->p,
             dev->d, name, plat);
      if (o.op == CLATTN_OP_KV_WRITE)
        printf("  shape     %lld tokens (batch %d x %d of %d positions), "
               "kv_heads %d, head_dim %d, %s",
               d.tokens, o.batch, o.seqlen_q, o.seqlen_k, o.kv_heads,
               o.head_dim, tool_dtype_name(o.dtype));
      else
        printf("  shape     batch %d, heads %d/%d, seqlen q %d k %d, "
               "head_dim %d, %s",
               o.batch, o.heads, o.kv_heads, o.seqlen_q, o.seqlen_k, o.head_dim,
               tool_dtype_name(o.dtype));
      if (o.tf32 && o.op != CLATTN_OP_KV_WRITE)
        printf(", tf32 allowed");
      if (o.causal)
        printf(", causal");
      if (o.wl >= 0 || (o.wr >= 0 && !o.causal))
        printf(", window %d,%d", o.wl, o.wr);
      if (layout)
        printf(", page %d %s, cache %s", o.page_size, layout,
               clattn_dtype_name(o.cache_dtype));
      if (layout && quant)
        printf(" (%s scales)", scale_names[o.scale_mode]);
      if (o.op != CLATTN_OP_KV_WRITE && o.num_splits)
        printf(", %d splits", o.num_splits);
      printf("\n  variant   %s [%s]\n", vname, fname);
      if (logc->note[0])
        printf("  note      %s\n", logc->note);
      printf("  time      median %.4f ms  min %.4f ms  p90 %.4f ms  (%d runs, "
             "%d warm-up)\n",
             median, mn, p90, o.iters, o.warmup);
      if (!isnan(tflops))
        printf("  compute   %.3f TFLOP/s  (%.4g GFLOP)\n", tflops, flops / 1e9);
      printf("  memory    %.1f GB/s  (%.4g MB)\n", gbps, bytes / 1e6);
      printf("  tokens    %.4g tokens/s, %.4g KV tokens/s\n", tps, kvtps);
    }
    rc = TOOL_EXIT_OK;
  }

timing_out:
  for (int i = 0; evs && i <= o.iters; i++)
    if (evs[i])
      clReleaseEvent(evs[i]);
  if (gate)
    clReleaseEvent(gate);
  free(evs);
  free(ms);
  free(kms);
release:
  release_data(&d);
  return rc;
}

int main(int argc, char **argv) {
  bench_opts o;
  if (parse_args(argc, argv, &o))
    return TOOL_EXIT_USAGE;

  // ---- device and session
  int want_p = 0, want_d = 0;
  const char *spec = tool_device_spec(o.device);
  if (spec && tool_parse_device(spec, &want_p, &want_d)) {
    fprintf(stderr, "clattn-bench: bad device '%s' (want P:D, e.g. 0:0)\n",
            spec);
    return TOOL_EXIT_USAGE;
  }
  static tool_dev devs[MAX_DEVICES];
  char err[256];
  int n = tool_enumerate(devs, MAX_DEVICES, err, sizeof err);
  if (n <= 0) {
    fprintf(stderr, "clattn-bench: %s\n", err);
    return TOOL_EXIT_NO_DEVICE;
  }
  const tool_dev *dev = NULL;
  for (int i = 0; i < n; i++)
    if (devs[i].p == want_p && devs[i].d == want_d)
      dev = &devs[i];
  if (!dev) {
    fprintf(stderr, "clattn-bench: no device %d:%d (%d device(s) found)\n",
            want_p, want_d, n);
    return TOOL_EXIT_NO_DEVICE;
  }
  tool_session s;
  log_capture logc = {{0}};
  clattn_options copts = CLATTN_OPTIONS_INIT;
  copts.log = capture_log;
  copts.log_user = &logc;
  int rc = tool_session_open(dev, &copts, &s, err, sizeof err);
  if (rc) {
    fprintf(stderr, "clattn-bench: %s\n", err);
    return rc;
  }
  clattn_status st;
  if (o.variant &&
      (st = clattn_context_force_variant(s.cctx, o.op, o.variant))) {
    rc = op_failed(&s, "--variant", st);
    goto close;
  }
  if (o.format && (st = clattn_context_force_format(s.cctx, o.format))) {
    rc = op_failed(&s, "--format", st);
    goto close;
  }

  for (int k = 0; k < o.n_cache_dtypes && rc == TOOL_EXIT_OK; k++) {
    o.cache_dtype = o.cache_dtypes[k];
    logc.note[0] = '\0';
    rc = run_one(&s, o, dev, &logc);
  }

close:
  tool_session_close(&s);
  return rc;
}
