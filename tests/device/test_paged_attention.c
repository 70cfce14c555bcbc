// SPDX-License-Identifier: Apache-2.0
// Check suite of clattn_paged_attention: every eligible variant and split
// count (1, 4, auto) on random non-contiguous block tables, against the
// double-precision reference on the gathered cache; page sizes, NHD/HND/
// combined layouts, mixed batches, long decode, windows/sinks, bad tables.
#include "ref_attention.h"
#include "testutil.h"

#include <check.h>
#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- tolerances (as in test_attention.c) ---------------------------------
// The kernels read dtype inputs, accumulate in f32 and store out in the
// dtype; the reference runs on the same dtype-rounded inputs in double, so
// input rounding is no error source. What remains:
//  * f32 (split partials and their merge included): the f32 dot product (D <=
//  256 terms), exp (<= 3 ulp in OpenCL C)
//    and the softmax sums; observed max error on PoCL 3.1/6.0 and on an
//    NVIDIA H200 is 3.4e-7 (about 3 eps_f32). Tolerance 16 eps_f32 =
//    2^-19 (1.9e-6) absolute + the same relative, grown by sqrt(k/256) past
//    256 keys (rounding of sums of n terms grows like sqrt(n)): 1.1e-5 at
//    8200 keys.
//  * f16 / bf16: storing out rounds by <= eps/2 relative, and a variant that
//    feeds P to the P.V product in the dtype (tensor-core style) adds
//    <= eps/2 * max|v| = eps/2 absolute (|v| <= 1 here). One eps absolute +
//    one eps relative covers both with 2x margin: f16 eps = 2^-10 (9.8e-4),
//    bf16 eps = 2^-7 (7.8e-3); observed max 0.17 of that on all devices.
//  * lse is f32 for every dtype: 16 eps_f32 (1 + |ref|), grown as for f32
//    out; -inf must be exactly -inf.
//  * rows with tf32 products (f32 with allow_tf32): tu_tf32_tol, derived in
//    tests/device/test_attention.c; exact rows keep the f32 tolerance.
// Tolerances: tu_out_tol / tu_f32_tol / tu_tf32_tol
// (tests/common/testutil.h).

// CLATTN_TEST_VERBOSE=1 prints each run's max error and its share of tol.
static int verbose(void) {
  const char *v = getenv("CLATTN_TEST_VERBOSE");
  return v && *v && strcmp(v, "0") != 0;
}

static size_t dt_size(clattn_dtype dt) {
  return dt == CLATTN_F32 ? 4 : 2;
}

static uint64_t case_seed(const char *name) {
  uint64_t h = 1469598103934665603ull; // FNV-1a of the case name
  for (const char *s = name; *s; ++s)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return tu_seed() ^ h;
}

static double rnd_val(tu_rng *r) {
  double x;
  do
    x = tu_uniform(r, -1.0, 1.0);
  while (fabs(x) < 1e-3); // never (near) zero
  return x;
}

// ---- cases
// ---------------------------------------------------------------------
// PADDED: NHD with slot rows of KVH * D + 4 elements and K starting 4
// elements into its buffer, so no row is 16-byte aligned (the tensor-core
// rows' vload8 staging instead of cp.async).
enum { NHD, HND, COMBINED, PADDED };
enum { BAD_NONE, BAD_TABLE, BAD_SEQ };
#define MAXB 8

typedef struct pg_case {
  const char *name;
  clattn_dtype dt;
  int batch;
  int q_lens[MAXB], k_lens[MAXB]; // k_lens: full context incl. this step
  int heads, kv_heads, dim, page;
  int layout;
  int causal, wl, wr;
  double softcap;
  int alibi, sinks, lse;
  int bad;
} pg_case;

#define F32 CLATTN_F32
#define F16 CLATTN_F16
#define BF16 CLATTN_BF16

// Page sizes 1, 3, 7, 16, 64; partially filled and exactly filled last
// pages; the three cache layouts (peers §4.9).
// clang-format off
static const pg_case page_cases[] = {
    {"page1", F32, 2, {1, 3}, {20, 9}, 4, 2, 64, 1, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page16_nhd", F16, 3, {1, 5, 12}, {40, 33, 12}, 4, 1, 64, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page16_hnd", BF16, 3, {1, 5, 12}, {40, 33, 12}, 4, 1, 64, 16, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page16_combined", F32, 3, {2, 1, 7}, {17, 31, 7}, 4, 2, 32, 16, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page64_hnd", F32, 2, {1, 8}, {150, 70}, 2, 2, 32, 64, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page64_nhd_f16", F16, 2, {3, 1}, {64, 129}, 4, 2, 64, 64, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page7_combined", F16, 3, {2, 1, 9}, {30, 7, 9}, 4, 2, 32, 7, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page7_hnd_bf16", BF16, 2, {4, 1}, {22, 50}, 2, 1, 64, 7, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"padded_decode_f16", F16, 3, {1, 1, 1}, {70, 16, 300}, 8, 2, 128, 16, PADDED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"padded_prefill_bf16", BF16, 2, {12, 5}, {40, 77}, 4, 1, 64, 16, PADDED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page3_nhd", F32, 2, {1, 5}, {10, 14}, 2, 2, 32, 3, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"page1_combined_bf16", BF16, 2, {1, 2}, {13, 5}, 2, 1, 32, 1, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"pages_exactly_full", F32, 2, {1, 16}, {32, 16}, 2, 1, 32, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

// Batches: decode (q 1), spec-decode (q 2..8), chunked prefill (q < k) and
// full prefill (q == k) mixed in one batch; decode-only; non-causal.
// clang-format off
static const pg_case batch_cases[] = {
    {"mixed_batch", F32, 5, {1, 4, 12, 30, 0}, {45, 23, 40, 30, 10}, 8, 2, 64, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"mixed_batch_f16_hnd_p7", F16, 4, {1, 8, 9, 21}, {60, 8, 30, 21}, 4, 2, 64, 7, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"mixed_batch_bf16_combined", BF16, 4, {3, 1, 17, 2}, {19, 33, 40, 2}, 4, 1, 32, 16, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"decode_only", F32, 6, {1, 1, 1, 1, 1, 1}, {100, 1, 37, 64, 65, 200}, 4, 2, 64, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"decode_only_bf16", BF16, 3, {1, 1, 1}, {300, 17, 129}, 4, 4, 32, 64, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"spec_decode", F16, 4, {2, 5, 8, 3}, {30, 12, 8, 70}, 4, 2, 64, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"full_prefill", F32, 2, {33, 17}, {33, 17}, 2, 1, 32, 16, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"non_causal", F32, 2, {3, 6}, {20, 11}, 4, 2, 32, 16, NHD, 0, -1, -1, 0, 0, 0, 1, 0},
    {"q_longer_than_k", F32, 2, {6, 1}, {3, 5}, 2, 2, 32, 4, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

// Shapes: GQA ratios 1, 4, 6, 8, 32 and a few head dims.
// clang-format off
static const pg_case shape_cases[] = {
    {"gqa_1_d128", F32, 2, {1, 6}, {40, 20}, 2, 2, 128, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"gqa_4_d64", F16, 2, {1, 6}, {40, 20}, 8, 2, 64, 16, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"gqa_6_d80", BF16, 2, {1, 6}, {40, 20}, 12, 2, 80, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"gqa_8_d96", F32, 2, {1, 6}, {40, 20}, 16, 2, 96, 7, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"mqa_32_d32", F16, 2, {1, 6}, {40, 20}, 32, 1, 32, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"d256", F32, 2, {1, 3}, {25, 9}, 2, 1, 256, 16, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"d192_bf16", BF16, 2, {1, 3}, {25, 9}, 2, 1, 192, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"d13", F32, 2, {1, 3}, {25, 9}, 4, 2, 13, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"d1", F16, 2, {1, 3}, {25, 9}, 2, 2, 1, 7, HND, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

// Features with splits: windows (whole segments skipped), sinks (counted
// once across splits), softcap, ALiBi (peers §4.10-11).
// clang-format off
static const pg_case feature_cases[] = {
    {"window_decode", F32, 2, {1, 1}, {100, 200}, 4, 2, 32, 16, NHD, 1, 31, -1, 0, 0, 0, 1, 0},
    {"window_0_0_decode", F32, 2, {1, 3}, {100, 20}, 2, 1, 32, 16, HND, 1, 0, 0, 0, 0, 0, 1, 0},
    {"window_sinks_mixed", F16, 3, {1, 5, 12}, {90, 40, 12}, 4, 2, 64, 16, HND, 1, 15, -1, 0, 0, 1, 1, 0},
    {"sinks_decode", F16, 3, {1, 1, 1}, {150, 3, 64}, 4, 1, 64, 16, COMBINED, 1, -1, -1, 0, 0, 1, 1, 0},
    {"sinks_decode_f32", F32, 2, {1, 2}, {200, 33}, 4, 2, 32, 7, NHD, 1, -1, -1, 0, 0, 1, 1, 0},
    {"softcap_alibi", F32, 2, {1, 7}, {80, 30}, 4, 2, 32, 16, NHD, 1, -1, -1, 4.0, 1, 0, 1, 0},
    {"all_features_bf16", BF16, 2, {1, 6}, {120, 30}, 4, 2, 64, 16, HND, 1, 40, -1, 5.0, 1, 1, 1, 0},
    {"encoder_window_non_causal", F32, 2, {4, 9}, {4, 9}, 2, 2, 32, 3, NHD, 0, 2, 2, 0, 0, 0, 1, 0},
    {"window_3_7_non_causal", F16, 2, {5, 20}, {30, 20}, 2, 1, 32, 16, COMBINED, 0, 3, 7, 0, 0, 1, 1, 0},
    {"no_lse", F32, 2, {1, 4}, {50, 9}, 2, 1, 32, 16, NHD, 1, -1, -1, 0, 0, 1, 0, 0},
    // At most 8 rows per sequence and KV head in 16 bits at d128 (the
    // two-warp decode rows on NVIDIA) with every masking feature.
    {"softcap_alibi_sinks_decode8_f16", F16, 3, {1, 2, 1}, {150, 70, 33}, 8, 2, 128, 16, NHD, 1, -1, -1, 4.0, 1, 1, 1, 0},
    {"window_softcap_alibi_decode8_bf16", BF16, 2, {1, 1}, {300, 90}, 8, 1, 128, 16, HND, 1, 50, -1, 3.0, 1, 0, 1, 0},
};
// clang-format on

// Long decode (>= 8192 keys; small heads/dim to stay fast).
// clang-format off
static const pg_case long_cases[] = {
    {"long_decode_8200", F32, 1, {1}, {8200}, 4, 1, 32, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"long_decode_window_sinks", F16, 1, {1}, {8193}, 2, 1, 32, 64, HND, 1, 1000, -1, 0, 0, 1, 1, 0},
    {"long_decode_two_seqs_bf16", BF16, 2, {1, 1}, {8192, 9001}, 2, 2, 32, 16, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

// Bad device-only data: block-table entries out of range (negative,
// >= num_blocks, INT_MAX) and seq_lens_k past the table row.
// clang-format off
static const pg_case bad_cases[] = {
    {"bad_block_table", F32, 4, {1, 2, 1, 3}, {20, 35, 18, 40}, 4, 2, 32, 16, NHD, 1, -1, -1, 0, 0, 0, 1, BAD_TABLE},
    {"bad_block_table_hnd_p7", F16, 4, {2, 1, 5, 1}, {30, 15, 22, 50}, 2, 1, 64, 7, HND, 1, -1, -1, 0, 0, 1, 1, BAD_TABLE},
    {"bad_block_table_decode_p16", F16, 4, {1, 1, 1, 1}, {40, 35, 600, 700}, 8, 2, 128, 16, NHD, 1, -1, -1, 0, 0, 0, 1, BAD_TABLE},
    {"bad_seq_len", F32, 3, {1, 1, 2}, {20, 30, 25}, 4, 2, 32, 16, NHD, 1, -1, -1, 0, 0, 0, 1, BAD_SEQ},
    {"bad_seq_len_combined", BF16, 3, {3, 1, 1}, {9, 40, 12}, 2, 2, 32, 8, COMBINED, 1, -1, -1, 0, 0, 0, 1, BAD_SEQ},
};
// clang-format on

// f32 with allow_tf32 (issue 5): on sm_80+ NVIDIA the tf32 tensor-core rows
// join the exact rows (elsewhere the exact rows run these). Decode and
// prefill, GQA, windows, softcap/ALiBi/sinks, head dims 36, 72 and 128,
// page sizes 1, 7, 16, 64, the three layouts, a bad block table, no lse.
// clang-format off
static const pg_case tf32_cases[] = {
    {"tf32_decode_gqa_4_d128", F32, 3, {1, 1, 1}, {300, 17, 129}, 8, 2, 128, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"tf32_mixed_d72_hnd_p7", F32, 4, {1, 8, 9, 21}, {60, 8, 30, 21}, 4, 2, 72, 7, HND, 1, -1, -1, 0, 0, 0, 1, 0},
    {"tf32_prefill_d64_combined", F32, 2, {70, 33}, {70, 40}, 4, 1, 64, 64, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"tf32_window_sinks_d64", F32, 3, {1, 5, 12}, {90, 40, 12}, 4, 2, 64, 16, HND, 1, 15, -1, 0, 0, 1, 1, 0},
    {"tf32_softcap_alibi_d128", F32, 2, {1, 7}, {80, 30}, 4, 2, 128, 16, NHD, 1, -1, -1, 4.0, 1, 0, 1, 0},
    {"tf32_encoder_window_d36_p1", F32, 2, {4, 9}, {4, 9}, 2, 2, 36, 1, NHD, 0, 2, 2, 0, 0, 0, 1, 0},
    {"tf32_long_decode_no_lse", F32, 1, {1}, {3000}, 4, 1, 128, 16, NHD, 1, -1, -1, 0, 0, 0, 0, 0},
    {"tf32_bad_block_table", F32, 4, {1, 2, 1, 3}, {20, 35, 18, 40}, 4, 2, 64, 16, NHD, 1, -1, -1, 0, 0, 0, 1, BAD_TABLE},
    {"tf32_d13_exact_only", F32, 2, {1, 3}, {25, 9}, 4, 2, 13, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

// Large problems for GPUs (CLATTN_TEST_LARGE=1; not registered otherwise).
// clang-format off
static const pg_case large_cases[] = {
    {"large_decode_batch_f16", F16, 8, {1, 1, 1, 1, 1, 1, 1, 1}, {4096, 100, 2000, 4097, 1, 3000, 512, 8000}, 32, 8, 128, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
    {"large_mixed_bf16_window_sinks", BF16, 4, {1, 7, 256, 1024}, {5000, 300, 2000, 1024}, 16, 2, 128, 64, HND, 1, 1023, -1, 0, 0, 1, 1, 0},
    {"large_prefill_f32", F32, 1, {2048}, {2048}, 8, 1, 64, 16, COMBINED, 1, -1, -1, 0, 0, 0, 1, 0},
    {"large_spec_decode_f16_d256", F16, 4, {4, 8, 2, 6}, {3000, 1200, 64, 7000}, 8, 1, 256, 16, NHD, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

// Large f32 problems with allow_tf32 (CLATTN_TEST_LARGE=1), many key tiles.
// clang-format off
static const pg_case large_tf32_cases[] = {
    {"large_prefill_f32_tf32", F32, 2, {1024, 1}, {2048, 5000}, 8, 2, 128, 16, HND, 1, -1, -1, 0, 0, 0, 1, 0},
};
// clang-format on

static const int split_values[] = {1, 4, 37, 0};

// ---- the paged problem
// ---------------------------------------------------------------
typedef struct problem {
  const pg_case *c;
  int B, H, KVH, D, bs;
  int cu_q[MAXB + 1], cu_k[MAXB + 1], seq_k_dev[MAXB];
  long tq, tk;
  int max_q, max_k, max_blocks, table_stride;
  long num_blocks;
  long sb, ss, sh;      // cache strides
  size_t koff, voff;    // element offsets of K and V inside their payloads
  size_t cache_count;   // payload elements per cache buffer
  int *table;           // [B, table_stride]
  char *row_skip;       // [tq]: rows of sequences with bad data
  double *qd, *kd, *vd; // reference inputs
  double *ref, *ref_lse;
  char *row_empty; // [tq * H]
  double slopes[64], sinks[64];
  float slopes_f[64], sinks_f[64];
} problem;

static size_t cache_idx(const problem *p, size_t base, long blk, long slot,
                        int h, int d) {
  return base + (size_t)blk * p->sb + (size_t)slot * p->ss + (size_t)h * p->sh +
         (size_t)d;
}

// Builds lengths, a random block table, the reference inputs and output.
static void build(problem *p, const pg_case *c, tu_rng *rng) {
  memset(p, 0, sizeof *p);
  p->c = c;
  p->B = c->batch;
  p->H = c->heads;
  p->KVH = c->kv_heads;
  p->D = c->dim;
  p->bs = c->page;
  const int B = p->B, H = p->H, KVH = p->KVH, D = p->D, bs = p->bs;
  ck_assert_int_le(H, 64);
  int nblk[MAXB], used = 0;
  for (int b = 0; b < B; ++b) {
    p->cu_q[b + 1] = p->cu_q[b] + c->q_lens[b];
    p->cu_k[b + 1] = p->cu_k[b] + c->k_lens[b];
    p->seq_k_dev[b] = c->k_lens[b];
    if (c->q_lens[b] > p->max_q)
      p->max_q = c->q_lens[b];
    if (c->k_lens[b] > p->max_k)
      p->max_k = c->k_lens[b];
    nblk[b] = (c->k_lens[b] + bs - 1) / bs;
    used += nblk[b];
    if (nblk[b] > p->max_blocks)
      p->max_blocks = nblk[b];
  }
  p->tq = p->cu_q[B];
  p->tk = p->cu_k[B];
  // One spare column past the longest row and two padding columns of
  // stride; all unused entries hold garbage the kernel must not follow.
  p->max_blocks += 1;
  p->table_stride = p->max_blocks + 2;
  p->num_blocks = used + 5; // unused blocks stay NaN-poisoned
  // Random permutation of the physical blocks.
  long *perm = malloc(sizeof(long) * (size_t)p->num_blocks);
  ck_assert_ptr_nonnull(perm);
  for (long i = 0; i < p->num_blocks; ++i)
    perm[i] = i;
  for (long i = p->num_blocks - 1; i > 0; --i) {
    long j = tu_int(rng, 0, (int)i), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  p->table = malloc(sizeof(int) * (size_t)B * p->table_stride + 1);
  ck_assert_ptr_nonnull(p->table);
  static const int garbage[] = {-1, INT_MIN, INT_MAX, 1 << 20};
  int next = 0;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < p->table_stride; ++j)
      p->table[b * p->table_stride + j] =
          j < nblk[b] ? (int)perm[next++] : garbage[(b + j) % 4];
  free(perm);

  switch (c->layout) {
  case HND:
    p->sb = (long)KVH * bs * D;
    p->ss = D;
    p->sh = (long)bs * D;
    p->cache_count = (size_t)p->num_blocks * p->sb;
    break;
  case COMBINED:
    p->sb = 2L * bs * KVH * D;
    p->ss = (long)KVH * D;
    p->sh = D;
    p->voff = (size_t)bs * KVH * D;
    p->cache_count = (size_t)p->num_blocks * p->sb;
    break;
  case PADDED:
    p->ss = (long)KVH * D + 4;
    p->sb = (long)bs * p->ss;
    p->sh = D;
    p->koff = 4;
    p->cache_count = p->koff + (size_t)p->num_blocks * p->sb;
    break;
  default:
    p->sb = (long)bs * KVH * D;
    p->ss = (long)KVH * D;
    p->sh = D;
    p->cache_count = (size_t)p->num_blocks * p->sb;
  }

  p->qd = malloc(sizeof(double) * (size_t)(p->tq * H * D + 1));
  p->kd = malloc(sizeof(double) * (size_t)(p->tk * KVH * D + 1));
  p->vd = malloc(sizeof(double) * (size_t)(p->tk * KVH * D + 1));
  p->ref = calloc((size_t)(p->tq * H * D + 1), sizeof(double));
  p->ref_lse = calloc((size_t)(p->tq * H + 1), sizeof(double));
  p->row_empty = calloc((size_t)(p->tq * H + 1), 1);
  p->row_skip = calloc((size_t)p->tq + 1, 1);
  ck_assert(p->qd && p->kd && p->vd && p->ref && p->ref_lse && p->row_empty &&
            p->row_skip);
  for (long i = 0; i < p->tq * H * D; ++i)
    p->qd[i] = tu_round(c->dt, rnd_val(rng));
  for (long i = 0; i < p->tk * KVH * D; ++i) {
    p->kd[i] = tu_round(c->dt, rnd_val(rng));
    p->vd[i] = tu_round(c->dt, rnd_val(rng));
  }
  for (int h = 0; h < H; ++h) {
    p->slopes_f[h] =
        (float)(pow(2.0, -8.0 * (h + 1) / H) * tu_uniform(rng, 0.5, 1.5));
    p->sinks_f[h] = (float)tu_uniform(rng, -1.0, 3.0);
    p->slopes[h] = p->slopes_f[h];
    p->sinks[h] = p->sinks_f[h];
  }
  ref_attn_problem rp = {B,
                         H,
                         KVH,
                         D,
                         p->cu_q,
                         p->cu_k,
                         p->qd,
                         p->kd,
                         p->vd,
                         1.0 / sqrt((double)D),
                         c->causal,
                         c->wl,
                         c->wr,
                         (double)(float)c->softcap,
                         c->alibi ? p->slopes : NULL,
                         c->sinks ? p->sinks : NULL};
  ref_attention(&rp, p->ref, p->ref_lse);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < c->q_lens[b]; ++i) {
      int kl = c->k_lens[b], any = 0;
      for (int j = 0; j < kl && !any; ++j)
        any = ref_visible(i, j, c->q_lens[b], kl, c->causal, c->wl, c->wr);
      if (!any && !c->sinks)
        for (int h = 0; h < H; ++h)
          p->row_empty[(size_t)(p->cu_q[b] + i) * H + h] = 1;
    }

  // Corrupt the device-only data of some sequences; their rows are not
  // compared (their output is unspecified), every other row is.
  int bad_seqs[MAXB] = {0};
  if (c->bad == BAD_TABLE) {
    ck_assert_int_ge(B, 3);
    int *t = p->table;
    t[1 * p->table_stride + (nblk[1] > 1 ? 1 : 0)] = -3;
    t[2 * p->table_stride + 0] = (int)p->num_blocks;
    if (B > 3)
      t[3 * p->table_stride + nblk[3] - 1] = INT_MAX;
    bad_seqs[1] = bad_seqs[2] = 1;
    if (B > 3)
      bad_seqs[3] = 1;
  } else if (c->bad == BAD_SEQ) {
    // One key past the row's max_blocks_per_seq columns.
    p->seq_k_dev[1] = p->max_blocks * bs + 1;
    if (p->seq_k_dev[1] > p->max_k)
      p->max_k = p->seq_k_dev[1];
    bad_seqs[1] = 1;
  }
  for (int b = 0; b < B; ++b)
    if (bad_seqs[b])
      for (int r = p->cu_q[b]; r < p->cu_q[b + 1]; ++r)
        p->row_skip[r] = 1;
}

static void problem_free(problem *p) {
  free(p->table);
  free(p->qd);
  free(p->kd);
  free(p->vd);
  free(p->ref);
  free(p->ref_lse);
  free(p->row_empty);
  free(p->row_skip);
}

// ---- comparison
// --------------------------------------------------------------------
#define MAX_REPORT 6

typedef struct cmp_ctx {
  const char *what, *variant;
  int splits;
  int bad;
  double max_err;
  double max_ratio; // max of err / (atol + rtol |ref|): how tight tol is
} cmp_ctx;

static void report(cmp_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void report(cmp_ctx *c, const char *fmt, ...) {
  if (c->bad < MAX_REPORT) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  %s [%s splits=%d]: ", c->what, c->variant, c->splits);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (seed %llu)\n", (unsigned long long)tu_seed());
    va_end(ap);
  }
  c->bad++;
}

static void cmp_results(cmp_ctx *c, const problem *p, const unsigned char *out,
                        const unsigned char *lse, int tf32) {
  const int H = p->H, D = p->D;
  const double scale = 1.0 / sqrt((double)D); // the op's default
  tu_tol t =
      tf32 ? tu_tf32_tol(scale, D, p->max_k) : tu_out_tol(p->c->dt, p->max_k);
  const double ltol =
      tf32 ? tu_tf32_lse_tol(scale, D, p->max_k) : tu_f32_tol(p->max_k);
  for (long r = 0; r < p->tq; ++r) {
    if (p->row_skip[r])
      continue;
    for (int h = 0; h < H; ++h) {
      int empty = p->row_empty[(size_t)r * H + h];
      for (int d = 0; d < D; ++d) {
        size_t i = ((size_t)r * H + h) * D + d;
        double got = tu_load(out, p->c->dt, i), want = p->ref[i];
        double err = fabs(got - want);
        int ok = empty ? got == 0.0
                       : (!isnan(got) && err <= t.atol + t.rtol * fabs(want));
        if (isnan(got))
          c->max_err = INFINITY;
        else if (err > c->max_err)
          c->max_err = err;
        if (!empty && !isnan(err) &&
            err / (t.atol + t.rtol * fabs(want)) > c->max_ratio)
          c->max_ratio = err / (t.atol + t.rtol * fabs(want));
        if (!ok)
          report(c, "out row %ld head %d d %d: got %.8g want %.8g%s", r, h, d,
                 got, want, empty ? " (fully masked row must be 0)" : "");
      }
      if (lse) {
        double got = tu_load(lse, CLATTN_F32, (size_t)h * p->tq + r);
        double want = p->ref_lse[(size_t)h * p->tq + r];
        int ok = (isinf(want) && want < 0)
                     ? (isinf(got) && got < 0)
                     : (isfinite(got) &&
                        fabs(got - want) <= ltol * (1 + fabs(want)));
        if (isfinite(want) && isfinite(got) &&
            fabs(got - want) / (ltol * (1 + fabs(want))) > c->max_ratio)
          c->max_ratio = fabs(got - want) / (ltol * (1 + fabs(want)));
        if (!ok)
          report(c, "lse head %d row %ld: got %.8g want %.8g", h, r, got, want);
      }
    }
  }
}

// ---- one case on every eligible variant and split count
// ---------------------------
// tf32: the call sets allow_tf32 (rows with tf32 products become
// eligible and get the tf32 tolerance).
static void run_case(const pg_case *c, int tf32) {
  tu_env *e = tu_env_get();
  ck_assert_ptr_nonnull(e);
  tu_rng rng;
  tu_rng_init(&rng, case_seed(c->name));
  problem P;
  build(&P, c, &rng);
  const problem *p = &P;
  const int B = p->B, H = p->H, KVH = p->KVH, D = p->D, bs = p->bs;
  const clattn_dtype dt = c->dt;
  const size_t es = dt_size(dt);

  // Device buffers: q, caches (written here by host code), out, lse, ints.
  tu_buf bq = {0}, bkc = {0}, bvc = {0}, bo = {0}, bl = {0}, bcq = {0},
         bsk = {0}, btab = {0}, bal = {0}, bsi = {0}, bst = {0};
  ck_assert_int_eq(tu_buf_alloc(e, &bq, (size_t)p->tq * H * D + 1, es), 0);
  for (long i = 0; i < p->tq * H * D; ++i)
    tu_store(bq.host, dt, (size_t)i, p->qd[i]);
  ck_assert_int_eq(tu_buf_upload(e, &bq), 0);
  int shared = c->layout == COMBINED;
  ck_assert_int_eq(tu_buf_alloc(e, &bkc, p->cache_count, es), 0);
  memset(bkc.host, TU_POISON_BYTE, p->cache_count * es);
  if (!shared) {
    ck_assert_int_eq(tu_buf_alloc(e, &bvc, p->cache_count, es), 0);
    memset(bvc.host, TU_POISON_BYTE, p->cache_count * es);
  }
  tu_buf *pv = shared ? &bkc : &bvc;
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < c->k_lens[b]; ++j) {
      long blk = p->table[b * p->table_stride + j / bs], slot = j % bs;
      if (c->bad == BAD_TABLE && (blk < 0 || blk >= p->num_blocks))
        continue; // the corrupted entry: the key is not in the cache
      for (int h = 0; h < KVH; ++h)
        for (int d = 0; d < D; ++d) {
          size_t src = ((size_t)(p->cu_k[b] + j) * KVH + h) * D + d;
          tu_store(bkc.host, dt, cache_idx(p, p->koff, blk, slot, h, d),
                   p->kd[src]);
          tu_store(pv->host, dt, cache_idx(p, p->voff, blk, slot, h, d),
                   p->vd[src]);
        }
    }
  ck_assert_int_eq(tu_buf_upload(e, &bkc), 0);
  if (!shared)
    ck_assert_int_eq(tu_buf_upload(e, &bvc), 0);
  // Copies of the caches to prove the op never writes them.
  unsigned char *kc_copy = malloc(p->cache_count * es);
  unsigned char *vc_copy = malloc(p->cache_count * es);
  ck_assert(kc_copy && vc_copy);
  memcpy(kc_copy, bkc.host, p->cache_count * es);
  if (!shared)
    memcpy(vc_copy, bvc.host, p->cache_count * es);

  ck_assert_int_eq(tu_buf_alloc(e, &bo, (size_t)p->tq * H * D + 1, es), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bl, (size_t)p->tq * H + 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bcq, (size_t)B + 1, 4), 0);
  memcpy(bcq.host, p->cu_q, sizeof(int) * (size_t)(B + 1));
  ck_assert_int_eq(tu_buf_upload(e, &bcq), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bsk, (size_t)B, 4), 0);
  memcpy(bsk.host, p->seq_k_dev, sizeof(int) * (size_t)B);
  ck_assert_int_eq(tu_buf_upload(e, &bsk), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &btab, (size_t)B * p->table_stride, 4), 0);
  memcpy(btab.host, p->table, sizeof(int) * (size_t)B * p->table_stride);
  ck_assert_int_eq(tu_buf_upload(e, &btab), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bal, (size_t)H, 4), 0);
  memcpy(bal.host, p->slopes_f, sizeof(float) * (size_t)H);
  ck_assert_int_eq(tu_buf_upload(e, &bal), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bsi, (size_t)H, 4), 0);
  memcpy(bsi.host, p->sinks_f, sizeof(float) * (size_t)H);
  ck_assert_int_eq(tu_buf_upload(e, &bsi), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bst, 1, 4), 0);

  clattn_cache kc = clattn__cache(bkc.mem, tu_off(&bkc) + p->koff, p->sb, p->ss,
                                  p->sh, dt, bs, p->num_blocks);
  clattn_cache vc = kc;
  vc.buffer = pv->mem;
  vc.offset = tu_off(pv) + p->voff;

  clattn_attention_params prm = CLATTN_ATTENTION_PARAMS_INIT;
  prm.batch = B;
  prm.num_heads = H;
  prm.num_kv_heads = KVH;
  prm.head_dim = D;
  prm.total_q = p->tq;
  prm.total_k = 0;
  prm.max_seqlen_q = p->max_q;
  prm.max_seqlen_k = p->max_k;
  prm.causal = c->causal;
  prm.window_left = c->wl;
  prm.window_right = c->wr;
  prm.softcap = (float)c->softcap;
  prm.allow_tf32 = tf32;
  if (c->alibi)
    prm.alibi_slopes = tu_buffer(&bal);
  if (c->sinks)
    prm.sinks = tu_buffer(&bsi);
  prm.status = tu_buffer(&bst);
  prm.max_blocks_per_seq = p->max_blocks;
  prm.block_table_stride = p->table_stride;
  clattn_tensor tq_ = tu_tensor(&bq, dt, (cl_long)H * D, D);
  clattn_tensor to_ = tu_tensor(&bo, dt, (cl_long)H * D, D);
  clattn_tensor tl_ = tu_tensor(&bl, CLATTN_F32, p->tq, 0);
  // The bits that must be set, and those that may be: a kernel that clamps
  // a too-long seq_lens_k to its row may then meet the row's garbage spare
  // column and report it too.
  cl_uint want_status = c->bad == BAD_TABLE ? CLATTN_DEVICE_BAD_BLOCK_TABLE
                        : c->bad == BAD_SEQ ? CLATTN_DEVICE_BAD_SEQ_LEN
                                            : 0;
  cl_uint may_status =
      want_status | (c->bad == BAD_SEQ ? CLATTN_DEVICE_BAD_BLOCK_TABLE : 0);

  clattn_select_args sa = {
      CLATTN_OP_PAGED_ATTENTION, D, dt, dt, p->max_q, p->H / p->KVH, tf32,
      (long)p->B * p->KVH,       0};
  const char *names[32];
  int nvar = tu_eligible_variants(e, &sa, names, 32);
  ck_assert_msg(nvar >= 1,
                "%s: no eligible paged_attention variant (seed %llu)", c->name,
                (unsigned long long)tu_seed());
  int failed = 0, runs = 0;
  char summary[768] = "";
  for (int vi = 0; vi < nvar; ++vi) {
    tu_force_variant(e, CLATTN_OP_PAGED_ATTENTION, names[vi]);
    for (size_t si = 0; si < sizeof split_values / sizeof *split_values; ++si) {
      cmp_ctx cc = {c->name, names[vi], split_values[si], 0, 0.0, 0.0};
      prm.num_splits = split_values[si];
      ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
      ck_assert_int_eq(tu_buf_poison(e, &bl), 0);
      memset(bst.host, 0, 4);
      ck_assert_int_eq(tu_buf_upload(e, &bst), 0);
      cl_event ev = NULL;
      clattn_status st = clattn_paged_attention(
          e->cctx, e->queue, &prm, &tq_, &kc, &vc, tu_buffer(&bcq),
          tu_buffer(&bsk), tu_buffer(&btab), &to_, c->lse ? &tl_ : NULL, 0,
          NULL, &ev);
      ck_assert_msg(
          st == CLATTN_SUCCESS,
          "%s [%s splits=%d]: clattn_paged_attention returned %s: "
          "%s (seed %llu)",
          c->name, names[vi], split_values[si], clattn_status_string(st),
          clattn_context_last_error(e->cctx), (unsigned long long)tu_seed());
      if (ev) {
        ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
        clReleaseEvent(ev);
      }
      ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
      runs++;
      size_t g_out = tu_buf_download(e, &bo) + tu_buf_download(e, &bl);
      size_t g_st = tu_buf_download(e, &bst);
      size_t g_k = tu_buf_download(e, &bkc), g_v = 0;
      if (!shared)
        g_v = tu_buf_download(e, &bvc);
      if (g_out || g_st)
        report(&cc, "%zu guard bytes of out/lse/status changed", g_out + g_st);
      if (g_k || g_v)
        report(&cc, "%zu guard bytes of the caches changed", g_k + g_v);
      if (memcmp(kc_copy, bkc.host, p->cache_count * es) ||
          (!shared && memcmp(vc_copy, bvc.host, p->cache_count * es)))
        report(&cc, "the cache was modified by paged_attention");
      uint32_t status;
      memcpy(&status, bst.host, 4);
      if ((status & want_status) != want_status || (status & ~may_status))
        report(&cc, "device status 0x%x, want 0x%x", status, want_status);
      cmp_results(&cc, p, bo.host, c->lse ? bl.host : NULL,
                  tu_variant_tf32(names[vi]));
      if (!c->lse)
        for (size_t i = 0; i < bl.count * 4; ++i)
          if (bl.host[i] != TU_POISON_BYTE) {
            report(&cc, "lse written though not passed");
            break;
          }
      if (verbose())
        printf("  %-30s %-28s splits=%d %-4s max err %.3g (%.2f of tol)\n",
               c->name, names[vi], split_values[si], clattn_dtype_name(dt),
               cc.max_err, cc.max_ratio);
      if (cc.bad) {
        failed++;
        size_t len = strlen(summary);
        snprintf(summary + len, sizeof summary - len,
                 " %s/splits=%d(%d bad, max err %.3g)", names[vi],
                 split_values[si], cc.bad, cc.max_err);
      }
    }
  }
  tu_force_variant(e, CLATTN_OP_PAGED_ATTENTION, NULL);

  tu_buf *bufs[] = {&bq,  &bkc,  &bvc, &bo,  &bl, &bcq,
                    &bsk, &btab, &bal, &bsi, &bst};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i)
    if (bufs[i]->mem)
      tu_buf_free(bufs[i]);
  free(kc_copy);
  free(vc_copy);
  problem_free(&P);
  ck_assert_msg(!failed,
                "%s (%s, B=%d H=%d KVH=%d D=%d page=%d layout=%d causal=%d "
                "window=(%d,%d)): %d of %d runs failed:%s (seed %llu; rerun "
                "with CLATTN_TEST_SEED=%llu)",
                c->name, clattn_dtype_name(dt), B, H, KVH, D, bs, c->layout,
                c->causal, c->wl, c->wr, failed, runs, summary,
                (unsigned long long)tu_seed(), (unsigned long long)tu_seed());
}

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(test_pages) {
  run_case(&page_cases[_i], 0);
}
END_TEST
START_TEST(test_batches) {
  run_case(&batch_cases[_i], 0);
}
END_TEST
START_TEST(test_shapes) {
  run_case(&shape_cases[_i], 0);
}
END_TEST
START_TEST(test_features) {
  run_case(&feature_cases[_i], 0);
}
END_TEST
START_TEST(test_long) {
  run_case(&long_cases[_i], 0);
}
END_TEST
START_TEST(test_bad_data) {
  run_case(&bad_cases[_i], 0);
}
END_TEST
START_TEST(test_tf32) {
  run_case(&tf32_cases[_i], 1);
}
END_TEST
START_TEST(test_large) {
  run_case(&large_cases[_i], 0);
}
END_TEST
START_TEST(test_large_tf32) {
  run_case(&large_tf32_cases[_i], 1);
}
END_TEST

// ---- bad arguments (host side)
// --------------------------------------------------------
static int names_word(const char *msg, const char *name) {
  size_t n = strlen(name);
  for (const char *s = msg; (s = strstr(s, name)) != NULL; s += 1) {
    int before = s == msg || !(isalnum((unsigned char)s[-1]) || s[-1] == '_');
    int after = !(isalnum((unsigned char)s[n]) || s[n] == '_');
    if (before && after)
      return 1;
  }
  return 0;
}

START_TEST(test_args) {
  tu_env *e = tu_env_get();
  ck_assert_ptr_nonnull(e);
  const int H = 4, KVH = 2, D = 32, bs = 16, NB = 4;
  tu_rng rng;
  tu_rng_init(&rng, case_seed("paged_args"));
  tu_buf bq = {0}, bkc = {0}, bvc = {0}, bo = {0}, bcq = {0}, bsk = {0},
         btab = {0};
  ck_assert_int_eq(tu_buf_alloc(e, &bq, 3 * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bkc, (size_t)NB * bs * KVH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bvc, (size_t)NB * bs * KVH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bo, 3 * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bcq, 3, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bsk, 2, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &btab, 4, 4), 0);
  tu_buf *in[] = {&bq, &bkc, &bvc};
  for (int i = 0; i < 3; ++i) {
    for (size_t j = 0; j < in[i]->count; ++j)
      tu_store(in[i]->host, CLATTN_F32, j, rnd_val(&rng));
    ck_assert_int_eq(tu_buf_upload(e, in[i]), 0);
  }
  int cu[3] = {0, 1, 3}, sk[2] = {20, 9}, tab[4] = {2, 0, 3, 1};
  memcpy(bcq.host, cu, sizeof cu);
  memcpy(bsk.host, sk, sizeof sk);
  memcpy(btab.host, tab, sizeof tab);
  ck_assert_int_eq(tu_buf_upload(e, &bcq), 0);
  ck_assert_int_eq(tu_buf_upload(e, &bsk), 0);
  ck_assert_int_eq(tu_buf_upload(e, &btab), 0);
  clattn_attention_params p0 = CLATTN_ATTENTION_PARAMS_INIT;
  p0.batch = 2;
  p0.num_heads = H;
  p0.num_kv_heads = KVH;
  p0.head_dim = D;
  p0.total_q = 3;
  p0.max_seqlen_q = 2;
  p0.max_seqlen_k = 20;
  p0.causal = 1;
  p0.max_blocks_per_seq = 2;
  p0.block_table_stride = 2;
  clattn_cache kc0 = clattn__cache(bkc.mem, tu_off(&bkc), (cl_long)bs * KVH * D,
                                   (cl_long)KVH * D, D, CLATTN_F32, bs, NB);
  clattn_cache vc0 = kc0;
  vc0.buffer = bvc.mem;
  clattn_tensor tq = tu_tensor(&bq, CLATTN_F32, H * D, D);
  clattn_tensor to = tu_tensor(&bo, CLATTN_F32, H * D, D);

  struct mut {
    const char *label;
    int what;
    clattn_status want;
    const char *names[3];
  } muts[] = {
      {"baseline", 0, CLATTN_SUCCESS, {NULL}},
      {"block_table NULL", 1, CLATTN_ERROR_INVALID_ARGUMENT, {"block_table"}},
      {"seq_lens_k NULL", 2, CLATTN_ERROR_INVALID_ARGUMENT, {"seq_lens_k"}},
      {"key_cache block_size 0",
       3,
       CLATTN_ERROR_INVALID_ARGUMENT,
       {"key_cache", "block_size"}},
      {"value_cache dtype != key_cache",
       4,
       CLATTN_ERROR_INVALID_ARGUMENT,
       {"value_cache", "key_cache"}},
      {"key_cache past CL_MEM_SIZE",
       5,
       CLATTN_ERROR_BUFFER_TOO_SMALL,
       {"key_cache"}},
      {"block_table past CL_MEM_SIZE",
       6,
       CLATTN_ERROR_BUFFER_TOO_SMALL,
       {"block_table"}},
      {"heads % kv_heads",
       7,
       CLATTN_ERROR_INVALID_ARGUMENT,
       {"num_kv_heads", "num_heads"}},
      {"head_dim 257", 8, CLATTN_ERROR_INVALID_ARGUMENT, {"head_dim"}},
      {"window_left -2", 9, CLATTN_ERROR_INVALID_ARGUMENT, {"window_left"}},
      {"out dtype mismatch", 10, CLATTN_ERROR_INVALID_ARGUMENT, {"out"}},
      {"num_splits -1", 12, CLATTN_ERROR_INVALID_ARGUMENT, {"num_splits"}},
  };
  for (size_t m = 0; m < sizeof muts / sizeof *muts; ++m) {
    clattn_attention_params p = p0;
    clattn_cache kc = kc0, vc = vc0;
    clattn_tensor o = to;
    clattn_buffer tab_b = tu_buffer(&btab), sk_b = tu_buffer(&bsk);
    switch (muts[m].what) {
    case 1: tab_b.buffer = NULL; break;
    case 2: sk_b.buffer = NULL; break;
    case 3: kc.block_size = 0; break;
    case 4: vc.dtype = CLATTN_F16; break;
    case 5: kc.num_blocks = NB + 2; break; // guards hold < 1 extra block
    case 6:
      p.batch = 2;
      p.max_blocks_per_seq = 40;
      p.block_table_stride = 40;
      break;
    case 7: p.num_kv_heads = 3; break;
    case 8: p.head_dim = 257; break;
    case 9: p.window_left = -2; break;
    case 10: o.dtype = CLATTN_BF16; break;
    case 12: p.num_splits = -1; break;
    default: break;
    }
    ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
    clattn_status st = clattn_paged_attention(e->cctx, e->queue, &p, &tq, &kc,
                                              &vc, tu_buffer(&bcq), sk_b, tab_b,
                                              &o, NULL, 0, NULL, NULL);
    const char *msg = clattn_context_last_error(e->cctx);
    ck_assert_msg(st == muts[m].want, "paged args %s: got %s, want %s: %s",
                  muts[m].label, clattn_status_string(st),
                  clattn_status_string(muts[m].want), msg);
    ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
    ck_assert_msg(tu_buf_download(e, &bo) == 0, "paged args %s: out guards",
                  muts[m].label);
    if (muts[m].what == 0) {
      ck_assert_msg(!isnan(tu_load(bo.host, CLATTN_F32, 0)),
                    "paged args baseline did not write out");
      continue;
    }
    int named = 0;
    for (int k = 0; k < 3 && muts[m].names[k]; ++k)
      named |= names_word(msg, muts[m].names[k]);
    ck_assert_msg(named, "paged args %s: message does not name %s: \"%s\"",
                  muts[m].label, muts[m].names[0], msg);
    for (size_t i = 0; i < bo.count * 4; ++i)
      ck_assert_msg(bo.host[i] == TU_POISON_BYTE,
                    "paged args %s: out written by a refused call",
                    muts[m].label);
  }
  tu_buf *bufs[] = {&bq, &bkc, &bvc, &bo, &bcq, &bsk, &btab};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i)
    tu_buf_free(bufs[i]);
}
END_TEST

static Suite *paged_suite(void) {
  const tu_tcase tcs[] = {
      {"pages", test_pages, NCASES(page_cases), 0},
      {"batches", test_batches, NCASES(batch_cases), 0},
      {"shapes", test_shapes, NCASES(shape_cases), 0},
      {"features", test_features, NCASES(feature_cases), 0},
      {"long", test_long, NCASES(long_cases), 0},
      {"bad_data", test_bad_data, NCASES(bad_cases), 0},
      {"tf32", test_tf32, NCASES(tf32_cases), 0},
      {"large", test_large, NCASES(large_cases), 1},
      {"large_tf32", test_large_tf32, NCASES(large_tf32_cases), 1},
  };
  return tu_case_suite("paged_attention", test_args, tcs,
                       (int)(sizeof tcs / sizeof *tcs));
}

// Skips (77) with the reason printed by tu_env_get when there is no device
// or the requested program format cannot run on it.
int main(void) {
  return tu_run_suite(paged_suite());
}
