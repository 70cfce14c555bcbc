// SPDX-License-Identifier: Apache-2.0
// Check suite of clattn_attention (varlen prefill, no cache): every eligible
// variant on fresh random data against the double-precision reference, with
// poisoned outputs and guard regions; masking, lengths, shapes, features,
// strided views and bad arguments (TCases args/masking/lengths/...).
#include "ref_attention.h"
#include "testutil.h"

#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---- tolerances ----------------------------------------------------------
// The kernels read dtype inputs, accumulate in f32 and store out in the
// dtype; the reference runs on the same dtype-rounded inputs in double, so
// input rounding is no error source. What remains:
//  * f32: the f32 dot product (D <= 256 terms), exp (<= 3 ulp in OpenCL C)
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
//  * tf32 rows (f32 calls with allow_tf32; only rows with the registry's
//    tf32 flag get this, exact rows keep the f32 tolerance): the kernel
//    rounds q, k, v and P to a 10-bit mantissa (unit roundoff u = 2^-11)
//    while the reference uses the f32 inputs. P and V rounding move out by
//    <= u each (a p-weighted mean of |v| <= 1): 2u = 2^-10. Each score
//    s = scale * sum q k moves by scale * sum q k (e_q + e_k), |e| <= u:
//    independent errors, so about scale * sqrt(D) * 0.3u (|q|, |k| <= 1), and
//    out moves by at most twice the largest score error; 2^-10 * 2 scale
//    sqrt(D) covers that with > 3x margin at the worst (scores of one row
//    all off by 4.5 sigma in opposite directions). Both on top of the f32
//    tolerance, plus 2^-10 relative. lse moves by a p-weighted mean of the
//    score errors: f32 tolerance + 2^-10 scale sqrt(D).
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

// ---- cases
// ---------------------------------------------------------------------
enum { L_CONTIG, L_FUSED, L_PADDED, L_HEADMAJOR };
#define MAXB 8

typedef struct att_case {
  const char *name;
  clattn_dtype dt;
  int batch;
  int q_lens[MAXB];
  int k_lens[MAXB]; // used when cross != 0; else k_lens = q_lens (cu_k = cu_q)
  int cross;
  int heads, kv_heads, dim;
  int causal, wl, wr;
  double softcap;
  int alibi, sinks, lse;
  int layout;
  double scale; // 0: the op's default 1/sqrt(dim)
} att_case;

#define F32 CLATTN_F32
#define F16 CLATTN_F16
#define BF16 CLATTN_BF16

// Masking: causal/bidirectional and every window shape (DESIGN §2, peers
// §4.1-2).
// clang-format off
static const att_case masking_cases[] = {
    {"causal", F32, 3, {17, 1, 33}, {0}, 0, 4, 4, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"bidirectional", F16, 2, {20, 9}, {0}, 0, 4, 2, 64, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_0_0", F32, 2, {16, 5}, {0}, 0, 2, 2, 32, 0, 0, 0, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_0_0_causal", BF16, 1, {19}, {0}, 0, 2, 1, 64, 1, 0, 0, 0, 0, 0, 1, L_CONTIG, 0},
    {"decoder_window_causal", BF16, 2, {40, 3}, {0}, 0, 4, 4, 64, 1, 7, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"decoder_window_7_0", F32, 2, {40, 6}, {0}, 0, 4, 1, 32, 0, 7, 0, 0, 0, 0, 1, L_CONTIG, 0},
    {"encoder_window_4_4", F16, 2, {30, 12}, {0}, 0, 4, 2, 64, 0, 4, 4, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_3_7", F32, 2, {25, 2}, {0}, 0, 2, 2, 64, 0, 3, 7, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_7_2", BF16, 2, {25, 14}, {0}, 0, 4, 2, 32, 0, 7, 2, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_wider_than_seq", F32, 2, {10, 3}, {0}, 0, 2, 2, 64, 0, 100, 100, 0, 0, 0, 1, L_CONTIG, 0},
    {"causal_window_wider", F16, 2, {10, 3}, {0}, 0, 2, 2, 64, 1, 1000, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_left_unbounded_right_3", F32, 1, {21}, {0}, 0, 2, 2, 32, 0, -1, 3, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_left_5_right_unbounded", F16, 1, {21}, {0}, 0, 2, 2, 32, 0, 5, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"causal_overrides_right", F32, 2, {18, 7}, {0}, 0, 2, 2, 32, 1, -1, 5, 0, 0, 0, 1, L_CONTIG, 0},
    {"window_tile_edges", F32, 1, {129}, {0}, 0, 2, 1, 32, 1, 63, 0, 0, 0, 0, 1, L_CONTIG, 0},
    {"bidir_window_tile_edges", F16, 1, {97}, {0}, 0, 2, 2, 32, 0, 33, 31, 0, 0, 0, 1, L_CONTIG, 0},
};
// clang-format on

// Lengths: q_len != k_len (chunked prefill, cross attention, q_len > k_len
// with fully masked rows), batches with 0 and 1 (peers §4.5-7).
// clang-format off
static const att_case length_cases[] = {
    {"chunked_prefill", F32, 3, {5, 1, 16}, {37, 20, 16}, 1, 4, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"chunked_prefill_window", F16, 2, {8, 3}, {50, 9}, 1, 4, 1, 64, 1, 15, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"cross_attention", BF16, 3, {7, 1, 12}, {19, 40, 3}, 1, 4, 2, 64, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"cross_attention_f32", F32, 2, {9, 30}, {33, 4}, 1, 2, 2, 32, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"q_longer_than_k_causal", F32, 2, {9, 4}, {4, 1}, 1, 2, 2, 32, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"q_longer_than_k_causal_f16", F16, 2, {9, 4}, {4, 1}, 1, 4, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"q_longer_than_k_sinks", F32, 2, {9, 4}, {4, 1}, 1, 2, 2, 32, 1, -1, -1, 0, 0, 1, 1, L_CONTIG, 0},
    {"empty_k", F32, 2, {3, 2}, {0, 5}, 1, 2, 2, 32, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"mixed_batch_0_1", F16, 5, {0, 1, 7, 0, 13}, {0}, 0, 4, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"all_len_1", F32, 4, {1, 1, 1, 1}, {0}, 0, 2, 2, 32, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"mixed_batch_bf16", BF16, 6, {1, 65, 0, 2, 31, 1}, {0}, 0, 2, 1, 32, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"long_prefill", F32, 1, {257}, {0}, 0, 2, 1, 32, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
};
// clang-format on

// Shapes: GQA ratios 1, 4, 6, 8, 32 and head_dim 1..256 (peers §4.3-4).
// clang-format off
static const att_case shape_cases[] = {
    {"gqa_1", F32, 2, {13, 6}, {0}, 0, 3, 3, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"gqa_4", F16, 2, {13, 6}, {0}, 0, 8, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"gqa_6", BF16, 2, {13, 6}, {0}, 0, 12, 2, 32, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"gqa_8", F32, 2, {13, 6}, {0}, 0, 16, 2, 32, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"mqa_32", F16, 2, {9, 4}, {0}, 0, 32, 1, 32, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d32", F32, 2, {11, 5}, {0}, 0, 2, 1, 32, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d64_bf16", BF16, 2, {11, 5}, {0}, 0, 2, 1, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d80", F16, 2, {11, 5}, {0}, 0, 2, 1, 80, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d96", F32, 2, {11, 5}, {0}, 0, 2, 2, 96, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d112", BF16, 2, {11, 5}, {0}, 0, 2, 1, 112, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d128", F16, 2, {11, 5}, {0}, 0, 4, 2, 128, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d128_f32", F32, 1, {33}, {0}, 0, 2, 1, 128, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d160", F32, 2, {11, 5}, {0}, 0, 2, 1, 160, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d192", F16, 2, {11, 5}, {0}, 0, 2, 1, 192, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d256", F32, 2, {11, 5}, {0}, 0, 2, 1, 256, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d256_bf16", BF16, 1, {17}, {0}, 0, 2, 2, 256, 1, 5, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d1", F32, 2, {11, 5}, {0}, 0, 2, 1, 1, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d13", F16, 2, {11, 5}, {0}, 0, 4, 2, 13, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"d47", F32, 2, {11, 5}, {0}, 0, 2, 1, 47, 1, 3, 7, 0, 0, 0, 1, L_CONTIG, 0},
};
// clang-format on

// Features: softcap, ALiBi and sinks alone and together with windows
// (peers §4.11, §4.13); explicit scale.
// clang-format off
static const att_case feature_cases[] = {
    {"softcap", F32, 2, {15, 6}, {0}, 0, 2, 1, 64, 1, -1, -1, 5.0, 0, 0, 1, L_CONTIG, 1.0},
    {"softcap_f16", F16, 1, {20}, {0}, 0, 2, 2, 32, 0, -1, -1, 3.0, 0, 0, 1, L_CONTIG, 0.5},
    {"alibi", F16, 2, {15, 6}, {0}, 0, 4, 2, 64, 1, -1, -1, 0, 1, 0, 1, L_CONTIG, 0},
    {"alibi_bidirectional", F32, 2, {15, 6}, {0}, 0, 4, 4, 32, 0, -1, -1, 0, 1, 0, 1, L_CONTIG, 0},
    {"sinks", BF16, 2, {15, 6}, {0}, 0, 4, 2, 64, 0, -1, -1, 0, 0, 1, 1, L_CONTIG, 0},
    {"sinks_causal_f32", F32, 2, {15, 6}, {0}, 0, 4, 2, 32, 1, -1, -1, 0, 0, 1, 1, L_CONTIG, 0},
    {"all_features_window", F32, 2, {23, 9}, {0}, 0, 4, 2, 64, 1, 15, -1, 4.0, 1, 1, 1, L_CONTIG, 0.3},
    {"sinks_window_3_7", F16, 2, {25, 4}, {0}, 0, 4, 1, 64, 0, 3, 7, 0, 0, 1, 1, L_CONTIG, 0},
    {"alibi_encoder_window", BF16, 2, {25, 4}, {0}, 0, 2, 2, 32, 0, 6, 6, 0, 1, 0, 1, L_CONTIG, 0},
    {"softcap_window_7_2", F32, 2, {25, 8}, {0}, 0, 2, 2, 32, 0, 7, 2, 2.0, 0, 0, 1, L_CONTIG, 1.0},
    {"features_cross", F32, 2, {5, 8}, {20, 3}, 1, 4, 2, 32, 1, 6, -1, 3.0, 1, 1, 1, L_CONTIG, 0},
    {"no_lse", F16, 2, {15, 6}, {0}, 0, 2, 1, 64, 1, -1, -1, 0, 0, 1, 0, L_CONTIG, 0},
};
// clang-format on

// Strided views: q, k, v in one fused qkv buffer; padded strides whose gaps
// hold NaN (inputs) or poison that must survive (out, lse); head-major.
// clang-format off
static const att_case layout_cases[] = {
    {"fused_qkv", F16, 2, {21, 6}, {0}, 0, 8, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_FUSED, 0},
    {"fused_qkv_f32_window", F32, 2, {21, 6}, {0}, 0, 4, 4, 32, 0, 3, 7, 0, 0, 1, 1, L_FUSED, 0},
    {"fused_qkv_bf16", BF16, 3, {1, 0, 17}, {0}, 0, 6, 1, 80, 1, -1, -1, 0, 1, 0, 1, L_FUSED, 0},
    {"padded_strides", BF16, 2, {21, 6}, {0}, 0, 4, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_PADDED, 0},
    {"padded_strides_f32_cross", F32, 2, {7, 3}, {11, 19}, 1, 4, 2, 13, 0, -1, -1, 0, 0, 1, 1, L_PADDED, 0},
    {"padded_strides_decode_f16", F16, 3, {1, 1, 2}, {90, 40, 17}, 1, 8, 2, 128, 1, -1, -1, 0, 0, 0, 1, L_PADDED, 0},
    {"head_major", F32, 2, {21, 6}, {0}, 0, 4, 2, 32, 1, -1, -1, 0, 0, 0, 1, L_HEADMAJOR, 0},
    {"head_major_f16", F16, 2, {9, 14}, {0}, 0, 2, 1, 96, 0, 4, 4, 0, 0, 0, 1, L_HEADMAJOR, 0},
};
// clang-format on

// f32 with allow_tf32 (issue 5): on sm_80+ NVIDIA the tf32 tensor-core rows
// join the exact rows; elsewhere the exact rows run these (and must pass
// with the f32 tolerance). GQA, causal, windows, softcap/ALiBi/sinks, head
// dims 36 and 72 (multiples of 4 and 8 below a bucket), 128, cross lengths,
// unaligned strides (the vload4 path), no lse, several key tiles.
// clang-format off
static const att_case tf32_cases[] = {
    {"tf32_causal_gqa_4_d128", F32, 2, {70, 33}, {0}, 0, 8, 2, 128, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_bidir_d72", F32, 2, {40, 17}, {0}, 0, 4, 4, 72, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_window_9_5_d64", F32, 2, {90, 12}, {0}, 0, 4, 1, 64, 0, 9, 5, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_causal_window_d128", F32, 1, {150}, {0}, 0, 2, 2, 128, 1, 40, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_softcap_alibi_sinks", F32, 2, {37, 80}, {0}, 0, 4, 2, 64, 1, 15, -1, 4.0, 1, 1, 1, L_CONTIG, 0.3},
    {"tf32_softcap_d72", F32, 2, {25, 8}, {0}, 0, 2, 2, 72, 0, -1, -1, 2.0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_cross_d36", F32, 3, {9, 30, 1}, {50, 17, 0}, 1, 4, 2, 36, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_q_longer_than_k", F32, 2, {9, 4}, {4, 1}, 1, 2, 2, 64, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_padded_strides_d40", F32, 2, {21, 6}, {0}, 0, 4, 2, 40, 1, -1, -1, 0, 0, 1, 1, L_PADDED, 0},
    {"tf32_fused_qkv_mqa", F32, 2, {21, 6}, {0}, 0, 8, 1, 64, 1, -1, -1, 0, 0, 0, 1, L_FUSED, 0},
    {"tf32_head_major_no_lse", F32, 2, {33, 65}, {0}, 0, 4, 2, 128, 1, -1, -1, 0, 0, 0, 0, L_HEADMAJOR, 0},
    {"tf32_d13_exact_only", F32, 2, {11, 5}, {0}, 0, 4, 2, 13, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"tf32_long_257", F32, 1, {257}, {0}, 0, 2, 1, 128, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
};
// clang-format on

// Large problems for GPUs (CLATTN_TEST_LARGE=1; not registered otherwise):
// many key tiles per row, big tiles of the tensor-core variants.
// clang-format off
static const att_case large_cases[] = {
    {"large_prefill_f16", F16, 2, {1024, 777}, {0}, 0, 8, 2, 128, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"large_prefill_bf16_window_sinks", BF16, 1, {1500}, {0}, 0, 4, 1, 64, 1, 255, -1, 0, 0, 1, 1, L_CONTIG, 0},
    {"large_bidir_f32_d256", F32, 2, {600, 300}, {0}, 0, 4, 4, 256, 0, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"large_cross_f16_alibi", F16, 2, {300, 50}, {900, 2000}, 1, 8, 1, 96, 0, -1, -1, 0, 1, 0, 1, L_CONTIG, 0},
    {"large_fused_qkv_f16", F16, 2, {513, 1000}, {0}, 0, 32, 8, 128, 1, -1, -1, 0, 0, 0, 1, L_FUSED, 0},
};
// clang-format on

// Large f32 problems with allow_tf32 (CLATTN_TEST_LARGE=1), many key tiles.
// clang-format off
static const att_case large_tf32_cases[] = {
    {"large_prefill_f32_tf32", F32, 2, {1024, 777}, {0}, 0, 8, 2, 128, 1, -1, -1, 0, 0, 0, 1, L_CONTIG, 0},
    {"large_bidir_f32_tf32_d64_sinks", F32, 1, {1500}, {0}, 0, 4, 1, 64, 0, 255, 255, 0, 0, 1, 1, L_CONTIG, 0},
};
// clang-format on

// ---- views
// ---------------------------------------------------------------------
typedef struct view {
  size_t off;  // element offset inside the payload
  long s0, s1; // token and head strides ([heads, tokens] lse: s0 only)
} view;

static size_t view_end(view v, long rows, long heads, long dim) {
  if (rows <= 0 || heads <= 0)
    return v.off + 1;
  return v.off + (size_t)(rows - 1) * v.s0 + (size_t)(heads - 1) * v.s1 +
         (size_t)dim;
}

static size_t idx3(view v, long t, long h, long d) {
  return v.off + (size_t)t * v.s0 + (size_t)h * v.s1 + (size_t)d;
}

static clattn_tensor mk_tensor(const tu_buf *b, clattn_dtype dt, view v) {
  clattn_tensor t;
  t.buffer = b->mem;
  t.offset = tu_off(b) + v.off;
  t.stride[0] = v.s0;
  t.stride[1] = v.s1;
  t.dtype = dt;
  return t;
}

// ---- comparison
// ----------------------------------------------------------------
#define MAX_REPORT 6

typedef struct cmp_ctx {
  const char *what; // case name
  const char *variant;
  int bad; // mismatches
  double max_err;
  double max_ratio; // max of err / (atol + rtol |ref|): how tight tol is
} cmp_ctx;

// Compares out (view ov in host payload of dtype dt) with ref for the rows in
// [row0, row1); rows whose reference is exactly zero because nothing is
// visible must be exactly zero.
static void cmp_out(cmp_ctx *c, const unsigned char *host, clattn_dtype dt,
                    tu_tol t, view ov, const double *ref, const char *row_empty,
                    long rows, int heads, int dim) {
  for (long r = 0; r < rows; ++r)
    for (int h = 0; h < heads; ++h)
      for (int d = 0; d < dim; ++d) {
        double got = tu_load(host, dt, idx3(ov, r, h, d));
        double want = ref[((size_t)r * heads + h) * dim + d];
        int empty = row_empty && row_empty[(size_t)r * heads + h];
        double err = fabs(got - want);
        int ok = empty ? got == 0.0
                       : (!isnan(got) && err <= t.atol + t.rtol * fabs(want));
        if (!isnan(err) && err > c->max_err)
          c->max_err = err;
        if (!empty && !isnan(err) &&
            err / (t.atol + t.rtol * fabs(want)) > c->max_ratio)
          c->max_ratio = err / (t.atol + t.rtol * fabs(want));
        if (isnan(got))
          c->max_err = INFINITY;
        if (!ok) {
          if (c->bad < MAX_REPORT)
            fprintf(stderr,
                    "  %s [%s] out row %ld head %d d %d: got %.8g want "
                    "%.8g%s (seed %llu)\n",
                    c->what, c->variant, r, h, d, got, want,
                    empty ? " (fully masked row must be 0)" : "",
                    (unsigned long long)tu_seed());
          c->bad++;
        }
      }
}

static void cmp_lse(cmp_ctx *c, const unsigned char *host, double ltol, view lv,
                    const double *ref, long total_q, int heads) {
  for (int h = 0; h < heads; ++h)
    for (long r = 0; r < total_q; ++r) {
      double got = tu_load(host, CLATTN_F32, lv.off + (size_t)h * lv.s0 + r);
      double want = ref[(size_t)h * total_q + r];
      int ok;
      if (isinf(want) && want < 0)
        ok = isinf(got) && got < 0;
      else
        ok = isfinite(got) && fabs(got - want) <= ltol * (1 + fabs(want));
      if (isfinite(want) && isfinite(got) &&
          fabs(got - want) / (ltol * (1 + fabs(want))) > c->max_ratio)
        c->max_ratio = fabs(got - want) / (ltol * (1 + fabs(want)));
      if (!ok) {
        if (c->bad < MAX_REPORT)
          fprintf(stderr,
                  "  %s [%s] lse head %d row %ld: got %.8g want %.8g "
                  "(seed %llu)\n",
                  c->what, c->variant, h, r, got, want,
                  (unsigned long long)tu_seed());
        c->bad++;
      }
    }
}

// Every payload byte outside the covered elements must still be poison.
static void cmp_untouched(cmp_ctx *c, const char *arg,
                          const unsigned char *host,
                          const unsigned char *covered, size_t count,
                          size_t elem) {
  for (size_t i = 0; i < count; ++i) {
    if (covered[i])
      continue;
    for (size_t b = 0; b < elem; ++b)
      if (host[i * elem + b] != TU_POISON_BYTE) {
        if (c->bad < MAX_REPORT)
          fprintf(stderr,
                  "  %s [%s] %s element %zu outside the view was written "
                  "(seed %llu)\n",
                  c->what, c->variant, arg, i, (unsigned long long)tu_seed());
        c->bad++;
        break;
      }
  }
}

// ---- one case on every eligible variant
// -------------------------------------------
static double rnd_val(tu_rng *r) {
  double x;
  do
    x = tu_uniform(r, -1.0, 1.0);
  while (fabs(x) < 1e-3); // never (near) zero
  return x;
}

static void set_views(const att_case *c, long tq, long tk, view *vq, view *vk,
                      view *vv, view *vo, view *vl) {
  const long H = c->heads, KVH = c->kv_heads, D = c->dim;
  *vl = (view){0, tq, 0};
  switch (c->layout) {
  case L_FUSED: {
    long s = (H + 2 * KVH) * D;
    *vq = (view){0, s, D};
    *vk = (view){(size_t)(H * D), s, D};
    *vv = (view){(size_t)((H + KVH) * D), s, D};
    *vo = (view){0, H * D, D};
    break;
  }
  case L_PADDED:
    *vq = (view){7, H * (D + 3) + 5, D + 3};
    *vk = (view){3, KVH * (D + 1) + 2, D + 1};
    *vv = (view){0, KVH * (D + 2), D + 2};
    *vo = (view){5, H * (D + 1) + 3, D + 1};
    *vl = (view){2, tq + 4, 0};
    break;
  case L_HEADMAJOR:
    *vq = (view){0, D, (tq > 0 ? tq : 1) * D};
    *vk = (view){0, D, (tk > 0 ? tk : 1) * D};
    *vv = *vk;
    *vo = (view){0, D, (tq > 0 ? tq : 1) * D};
    break;
  default:
    *vq = (view){0, H * D, D};
    *vk = (view){0, KVH * D, D};
    *vv = *vk;
    *vo = (view){0, H * D, D};
  }
}

static void mark_view(unsigned char *covered, view v, long rows, long heads,
                      long dim) {
  for (long t = 0; t < rows; ++t)
    for (long h = 0; h < heads; ++h)
      for (long d = 0; d < dim; ++d)
        covered[idx3(v, t, h, d)] = 1;
}

// tf32: the call sets allow_tf32 (rows with tf32 products become
// eligible and get the tf32 tolerance).
static void run_case(const att_case *c, int tf32) {
  tu_env *e = tu_env_get();
  ck_assert_ptr_nonnull(e);
  const int B = c->batch, H = c->heads, KVH = c->kv_heads, D = c->dim;
  const clattn_dtype dt = c->dt;
  const size_t es = dt_size(dt);
  tu_rng rng;
  tu_rng_init(&rng, case_seed(c->name));

  int cu_q[MAXB + 1], cu_k[MAXB + 1], max_q = 0, max_k = 0;
  cu_q[0] = cu_k[0] = 0;
  for (int b = 0; b < B; ++b) {
    int kl = c->cross ? c->k_lens[b] : c->q_lens[b];
    cu_q[b + 1] = cu_q[b] + c->q_lens[b];
    cu_k[b + 1] = cu_k[b] + kl;
    if (c->q_lens[b] > max_q)
      max_q = c->q_lens[b];
    if (kl > max_k)
      max_k = kl;
  }
  const long tq = cu_q[B], tk = cu_k[B];
  view vq, vk, vv, vo, vl;
  set_views(c, tq, tk, &vq, &vk, &vv, &vo, &vl);

  // Host data in double (dtype-rounded) for the reference.
  double *qd = malloc(sizeof(double) * (size_t)(tq * H * D + 1));
  double *kd = malloc(sizeof(double) * (size_t)(tk * KVH * D + 1));
  double *vd = malloc(sizeof(double) * (size_t)(tk * KVH * D + 1));
  double *ref = calloc((size_t)(tq * H * D + 1), sizeof(double));
  double *ref_lse = calloc((size_t)(tq * H + 1), sizeof(double));
  char *row_empty = calloc((size_t)(tq * H + 1), 1);
  ck_assert(qd && kd && vd && ref && ref_lse && row_empty);
  double slopes[64], sinks[64];
  float slopes_f[64], sinks_f[64];
  ck_assert_int_le(H, 64);
  for (int h = 0; h < H; ++h) {
    slopes_f[h] =
        (float)(pow(2.0, -8.0 * (h + 1) / H) * tu_uniform(&rng, 0.5, 1.5));
    sinks_f[h] = (float)tu_uniform(&rng, -1.0, 3.0);
    slopes[h] = slopes_f[h];
    sinks[h] = sinks_f[h];
  }

  // Device buffers: q, k, v (one buffer when fused), out, lse, cu, extras.
  tu_buf bq = {0}, bk = {0}, bv = {0}, bo = {0}, bl = {0}, bcq = {0}, bck = {0},
         bal = {0}, bsk = {0}, bst = {0};
  size_t nq = view_end(vq, tq, H, D), nk = view_end(vk, tk, KVH, D),
         nv = view_end(vv, tk, KVH, D);
  if (c->layout == L_FUSED) {
    size_t n = nq > nk ? nq : nk;
    n = n > nv ? n : nv;
    ck_assert_int_eq(tu_buf_alloc(e, &bq, n, es), 0);
    memset(bq.host, TU_POISON_BYTE, n * es);
  } else {
    ck_assert_int_eq(tu_buf_alloc(e, &bq, nq, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bk, nk, es), 0);
    ck_assert_int_eq(tu_buf_alloc(e, &bv, nv, es), 0);
    memset(bq.host, TU_POISON_BYTE, nq * es); // gaps of strided views: NaN
    memset(bk.host, TU_POISON_BYTE, nk * es);
    memset(bv.host, TU_POISON_BYTE, nv * es);
  }
  tu_buf *pk = c->layout == L_FUSED ? &bq : &bk;
  tu_buf *pv = c->layout == L_FUSED ? &bq : &bv;
  for (long t = 0; t < tq; ++t)
    for (int h = 0; h < H; ++h)
      for (int d = 0; d < D; ++d) {
        double x = tu_round(dt, rnd_val(&rng));
        qd[(t * H + h) * D + d] = x;
        tu_store(bq.host, dt, idx3(vq, t, h, d), x);
      }
  for (long t = 0; t < tk; ++t)
    for (int h = 0; h < KVH; ++h)
      for (int d = 0; d < D; ++d) {
        double x = tu_round(dt, rnd_val(&rng));
        double y = tu_round(dt, rnd_val(&rng));
        kd[(t * KVH + h) * D + d] = x;
        vd[(t * KVH + h) * D + d] = y;
        tu_store(pk->host, dt, idx3(vk, t, h, d), x);
        tu_store(pv->host, dt, idx3(vv, t, h, d), y);
      }
  ck_assert_int_eq(tu_buf_upload(e, &bq), 0);
  if (c->layout != L_FUSED) {
    ck_assert_int_eq(tu_buf_upload(e, &bk), 0);
    ck_assert_int_eq(tu_buf_upload(e, &bv), 0);
  }
  size_t no = view_end(vo, tq, H, D);
  size_t nl = vl.off + (size_t)(H - 1) * vl.s0 + (size_t)tq + 1;
  ck_assert_int_eq(tu_buf_alloc(e, &bo, no, es), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bl, nl, 4), 0);
  unsigned char *cov_o = calloc(no, 1), *cov_l = calloc(nl, 1);
  ck_assert(cov_o && cov_l);
  mark_view(cov_o, vo, tq, H, D);
  for (int h = 0; h < H; ++h)
    for (long r = 0; r < tq; ++r)
      cov_l[vl.off + (size_t)h * vl.s0 + r] = 1;
  ck_assert_int_eq(tu_buf_alloc(e, &bcq, (size_t)B + 1, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bck, (size_t)B + 1, 4), 0);
  memcpy(bcq.host, cu_q, sizeof(int) * (size_t)(B + 1));
  memcpy(bck.host, cu_k, sizeof(int) * (size_t)(B + 1));
  ck_assert_int_eq(tu_buf_upload(e, &bcq), 0);
  ck_assert_int_eq(tu_buf_upload(e, &bck), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bal, (size_t)H, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bsk, (size_t)H, 4), 0);
  memcpy(bal.host, slopes_f, sizeof(float) * (size_t)H);
  memcpy(bsk.host, sinks_f, sizeof(float) * (size_t)H);
  ck_assert_int_eq(tu_buf_upload(e, &bal), 0);
  ck_assert_int_eq(tu_buf_upload(e, &bsk), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &bst, 1, 4), 0);

  // Reference.
  double scale =
      c->scale != 0 ? (double)(float)c->scale : 1.0 / sqrt((double)D);
  ref_attn_problem rp = {B,
                         H,
                         KVH,
                         D,
                         cu_q,
                         cu_k,
                         qd,
                         kd,
                         vd,
                         scale,
                         c->causal,
                         c->wl,
                         c->wr,
                         (double)(float)c->softcap,
                         c->alibi ? slopes : NULL,
                         c->sinks ? sinks : NULL};
  ref_attention(&rp, ref, ref_lse);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < c->q_lens[b]; ++i) {
      int kl = cu_k[b + 1] - cu_k[b], any = 0;
      for (int j = 0; j < kl && !any; ++j)
        any = ref_visible(i, j, c->q_lens[b], kl, c->causal, c->wl, c->wr);
      if (!any && !c->sinks)
        for (int h = 0; h < H; ++h)
          row_empty[(size_t)(cu_q[b] + i) * H + h] = 1;
    }

  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = B;
  p.num_heads = H;
  p.num_kv_heads = KVH;
  p.head_dim = D;
  p.total_q = tq;
  p.total_k = tk;
  p.max_seqlen_q = max_q;
  p.max_seqlen_k = max_k;
  p.scale = (float)c->scale;
  p.causal = c->causal;
  p.window_left = c->wl;
  p.window_right = c->wr;
  p.softcap = (float)c->softcap;
  p.allow_tf32 = tf32;
  if (c->alibi)
    p.alibi_slopes = tu_buffer(&bal);
  if (c->sinks)
    p.sinks = tu_buffer(&bsk);
  p.status = tu_buffer(&bst);
  clattn_tensor tq_ = mk_tensor(&bq, dt, vq), tk_ = mk_tensor(pk, dt, vk),
                tv_ = mk_tensor(pv, dt, vv), to_ = mk_tensor(&bo, dt, vo);
  clattn_tensor tl_ = {bl.mem, tu_off(&bl) + vl.off, {vl.s0, 0}, CLATTN_F32};

  clattn_select_args sa = {CLATTN_OP_ATTENTION,    D,    dt, dt, max_q,
                           c->heads / c->kv_heads, tf32, 0,  0};
  const char *names[32];
  int nvar = tu_eligible_variants(e, &sa, names, 32);
  ck_assert_msg(nvar >= 1, "%s: no eligible attention variant (seed %llu)",
                c->name, (unsigned long long)tu_seed());
  int failed = 0;
  char summary[512] = "";
  for (int vi = 0; vi < nvar; ++vi) {
    tu_force_variant(e, CLATTN_OP_ATTENTION, names[vi]);
    cmp_ctx cc = {c->name, names[vi], 0, 0.0, 0.0};
    ck_assert_int_eq(tu_buf_poison(e, &bo), 0);
    ck_assert_int_eq(tu_buf_poison(e, &bl), 0);
    memset(bst.host, 0, 4);
    ck_assert_int_eq(tu_buf_upload(e, &bst), 0);
    cl_event ev = NULL;
    clattn_status st = clattn_attention(e->cctx, e->queue, &p, &tq_, &tk_, &tv_,
                                        tu_buffer(&bcq), tu_buffer(&bck), &to_,
                                        c->lse ? &tl_ : NULL, 0, NULL, &ev);
    ck_assert_msg(st == CLATTN_SUCCESS,
                  "%s [%s]: clattn_attention returned %s: %s (seed %llu)",
                  c->name, names[vi], clattn_status_string(st),
                  clattn_context_last_error(e->cctx),
                  (unsigned long long)tu_seed());
    if (ev) {
      ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
      clReleaseEvent(ev);
    }
    ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
    size_t g = tu_buf_download(e, &bo);
    g += tu_buf_download(e, &bl);
    g += tu_buf_download(e, &bst);
    if (g) {
      fprintf(stderr, "  %s [%s]: %zu guard bytes changed (seed %llu)\n",
              c->name, names[vi], g, (unsigned long long)tu_seed());
      cc.bad++;
    }
    uint32_t status;
    memcpy(&status, bst.host, 4);
    if (status) {
      fprintf(stderr, "  %s [%s]: device status 0x%x on valid input\n", c->name,
              names[vi], status);
      cc.bad++;
    }
    const int vt32 = tu_variant_tf32(names[vi]);
    cmp_out(&cc, bo.host, dt,
            vt32 ? tu_tf32_tol(scale, D, max_k) : tu_out_tol(dt, max_k), vo,
            ref, row_empty, tq, H, D);
    cmp_untouched(&cc, "out", bo.host, cov_o, no, es);
    if (c->lse) {
      cmp_lse(&cc, bl.host,
              vt32 ? tu_tf32_lse_tol(scale, D, max_k) : tu_f32_tol(max_k), vl,
              ref_lse, tq, H);
      cmp_untouched(&cc, "lse", bl.host, cov_l, nl, 4);
    } else {
      for (size_t i = 0; i < nl * 4; ++i)
        if (bl.host[i] != TU_POISON_BYTE) {
          fprintf(stderr, "  %s [%s]: lse written though not passed\n", c->name,
                  names[vi]);
          cc.bad++;
          break;
        }
    }
    if (verbose())
      printf("  %-32s %-24s %-4s max err %.3g (%.2f of tol)\n", c->name,
             names[vi], clattn_dtype_name(dt), cc.max_err, cc.max_ratio);
    if (cc.bad) {
      failed++;
      size_t len = strlen(summary);
      snprintf(summary + len, sizeof summary - len, " %s(%d bad, max err %.3g)",
               names[vi], cc.bad, cc.max_err);
    }
  }
  tu_force_variant(e, CLATTN_OP_ATTENTION, NULL);

  tu_buf *bufs[] = {&bq, &bk, &bv, &bo, &bl, &bcq, &bck, &bal, &bsk, &bst};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; ++i)
    if (bufs[i]->mem)
      tu_buf_free(bufs[i]);
  free(qd);
  free(kd);
  free(vd);
  free(ref);
  free(ref_lse);
  free(row_empty);
  free(cov_o);
  free(cov_l);
  ck_assert_msg(!failed,
                "%s (%s, B=%d H=%d KVH=%d D=%d causal=%d window=(%d,%d)): "
                "%d of %d variants failed:%s (seed %llu; rerun with "
                "CLATTN_TEST_SEED=%llu)",
                c->name, clattn_dtype_name(dt), B, H, KVH, D, c->causal, c->wl,
                c->wr, failed, nvar, summary, (unsigned long long)tu_seed(),
                (unsigned long long)tu_seed());
}

#define NCASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

START_TEST(test_masking) {
  run_case(&masking_cases[_i], 0);
}
END_TEST
START_TEST(test_lengths) {
  run_case(&length_cases[_i], 0);
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
START_TEST(test_layouts) {
  run_case(&layout_cases[_i], 0);
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

// ---- bad arguments
// ------------------------------------------------------------- A valid
// baseline (checked to succeed) and one mutation per bad argument: each must be
// refused before anything is enqueued (out stays poisoned), with a message that
// names the argument.

// 1 when `name` appears in msg as a whole identifier.
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

typedef struct args_fix {
  tu_buf q, k, v, out, lse, cu, small;
  clattn_attention_params p;
  clattn_tensor tq, tk, tv, to, tl;
  clattn_buffer cuq, cuk;
} args_fix;

static void args_setup(tu_env *e, args_fix *f) {
  const int H = 4, KVH = 2, D = 32, T = 8;
  tu_rng rng;
  tu_rng_init(&rng, case_seed("args"));
  memset(f, 0, sizeof *f);
  ck_assert_int_eq(tu_buf_alloc(e, &f->q, (size_t)T * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &f->k, (size_t)T * KVH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &f->v, (size_t)T * KVH * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &f->out, (size_t)T * H * D, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &f->lse, (size_t)T * H, 4), 0);
  ck_assert_int_eq(tu_buf_alloc(e, &f->cu, 3, 4), 0);
  tu_buf *in[] = {&f->q, &f->k, &f->v};
  for (int i = 0; i < 3; ++i) {
    for (size_t j = 0; j < in[i]->count; ++j)
      tu_store(in[i]->host, CLATTN_F32, j, rnd_val(&rng));
    ck_assert_int_eq(tu_buf_upload(e, in[i]), 0);
  }
  int cu[3] = {0, 5, 8};
  memcpy(f->cu.host, cu, sizeof cu);
  ck_assert_int_eq(tu_buf_upload(e, &f->cu), 0);
  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = 2;
  p.num_heads = H;
  p.num_kv_heads = KVH;
  p.head_dim = D;
  p.total_q = T;
  p.total_k = T;
  p.max_seqlen_q = 5;
  p.max_seqlen_k = 5;
  p.causal = 1;
  f->p = p;
  f->tq = tu_tensor(&f->q, CLATTN_F32, H * D, D);
  f->tk = tu_tensor(&f->k, CLATTN_F32, KVH * D, D);
  f->tv = tu_tensor(&f->v, CLATTN_F32, KVH * D, D);
  f->to = tu_tensor(&f->out, CLATTN_F32, H * D, D);
  f->tl = tu_tensor(&f->lse, CLATTN_F32, T, 0);
  f->cuq = tu_buffer(&f->cu);
  f->cuk = tu_buffer(&f->cu);
}

static void args_free(args_fix *f) {
  tu_buf *b[] = {&f->q, &f->k, &f->v, &f->out, &f->lse, &f->cu};
  for (int i = 0; i < 6; ++i)
    tu_buf_free(b[i]);
}

// Poisons out and lse, calls the op with the (mutated) arguments and checks
// the status, the message and that nothing was written.
static void args_expect(tu_env *e, args_fix *f, const char *label,
                        clattn_context ctx, cl_command_queue queue,
                        const clattn_attention_params *p,
                        const clattn_tensor *q, const clattn_tensor *k,
                        const clattn_tensor *v, clattn_buffer cuq,
                        clattn_buffer cuk, const clattn_tensor *out,
                        const clattn_tensor *lse, clattn_status want1,
                        clattn_status want2, const char *const *arg_names) {
  ck_assert_int_eq(tu_buf_poison(e, &f->out), 0);
  ck_assert_int_eq(tu_buf_poison(e, &f->lse), 0);
  clattn_status st = clattn_attention(ctx, queue, p, q, k, v, cuq, cuk, out,
                                      lse, 0, NULL, NULL);
  const char *msg = clattn_context_last_error(e->cctx);
  ck_assert_msg(st == want1 || st == want2,
                "args %s: got %s (%d), want %s; message: %s", label,
                clattn_status_string(st), (int)st, clattn_status_string(want1),
                msg);
  if (arg_names) {
    int named = 0;
    for (const char *const *n = arg_names; *n; ++n)
      named |= names_word(msg, *n);
    ck_assert_msg(named, "args %s: message does not name %s: \"%s\"", label,
                  arg_names[0], msg);
  }
  ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
  ck_assert_msg(tu_buf_download(e, &f->out) == 0, "args %s: out guards", label);
  ck_assert_msg(tu_buf_download(e, &f->lse) == 0, "args %s: lse guards", label);
  for (size_t i = 0; i < f->out.count * 4; ++i)
    ck_assert_msg(f->out.host[i] == TU_POISON_BYTE,
                  "args %s: out byte %zu written by a refused call", label, i);
  for (size_t i = 0; i < f->lse.count * 4; ++i)
    ck_assert_msg(f->lse.host[i] == TU_POISON_BYTE,
                  "args %s: lse byte %zu written by a refused call", label, i);
}

#define INV CLATTN_ERROR_INVALID_ARGUMENT
#define TOO_SMALL CLATTN_ERROR_BUFFER_TOO_SMALL
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_args) {
  tu_env *e = tu_env_get();
  ck_assert_ptr_nonnull(e);
  args_fix f;
  args_setup(e, &f);
  clattn_context cx = e->cctx;
  cl_command_queue qu = e->queue;

  // The baseline itself is valid: it succeeds and writes out.
  ck_assert_int_eq(tu_buf_poison(e, &f.out), 0);
  clattn_status st = clattn_attention(cx, qu, &f.p, &f.tq, &f.tk, &f.tv, f.cuq,
                                      f.cuk, &f.to, &f.tl, 0, NULL, NULL);
  ck_assert_msg(st == CLATTN_SUCCESS, "args baseline: %s: %s",
                clattn_status_string(st), clattn_context_last_error(cx));
  ck_assert_int_eq(clFinish(qu), CL_SUCCESS);
  ck_assert_int_eq(tu_buf_download(e, &f.out), 0);
  ck_assert_msg(!isnan(tu_load(f.out.host, CLATTN_F32, 0)),
                "args baseline did not write out");

  clattn_attention_params p;
  clattn_tensor t;
  // NULL tensors and buffers.
  args_expect(e, &f, "q NULL", cx, qu, &f.p, NULL, &f.tk, &f.tv, f.cuq, f.cuk,
              &f.to, &f.tl, INV, INV, NAMES("q"));
  t = f.tq;
  t.buffer = NULL;
  args_expect(e, &f, "q buffer NULL", cx, qu, &f.p, &t, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("q"));
  args_expect(e, &f, "v NULL", cx, qu, &f.p, &f.tq, &f.tk, NULL, f.cuq, f.cuk,
              &f.to, &f.tl, INV, INV, NAMES("v"));
  args_expect(e, &f, "out NULL", cx, qu, &f.p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, NULL, &f.tl, INV, INV, NAMES("out"));
  args_expect(e, &f, "params NULL", cx, qu, NULL, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("params"));
  args_expect(e, &f, "cu_seqlens_q NULL", cx, qu, &f.p, &f.tq, &f.tk, &f.tv,
              (clattn_buffer){NULL, 0}, f.cuk, &f.to, &f.tl, INV, INV,
              NAMES("cu_seqlens_q"));
  args_expect(e, &f, "queue NULL", cx, NULL, &f.p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("queue"));
  // Shape parameters.
  p = f.p;
  p.num_kv_heads = 3; // 4 % 3 != 0
  args_expect(e, &f, "heads % kv_heads", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV,
              NAMES("num_kv_heads", "num_heads"));
  p = f.p;
  p.num_kv_heads = 0;
  args_expect(e, &f, "kv_heads 0", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("num_kv_heads"));
  p = f.p;
  p.head_dim = 0;
  args_expect(e, &f, "head_dim 0", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("head_dim"));
  p = f.p;
  p.head_dim = 257;
  args_expect(e, &f, "head_dim 257", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("head_dim"));
  p = f.p;
  p.window_left = -2;
  args_expect(e, &f, "window_left -2", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("window_left"));
  p = f.p;
  p.causal = 0;
  p.window_right = -2;
  args_expect(e, &f, "window_right -2", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, INV, INV, NAMES("window_right"));
  p = f.p;
  p.batch = -1;
  args_expect(e, &f, "batch -1", cx, qu, &p, &f.tq, &f.tk, &f.tv, f.cuq, f.cuk,
              &f.to, &f.tl, INV, INV, NAMES("batch"));
  // Dtypes.
  t = f.to;
  t.dtype = CLATTN_F16;
  args_expect(e, &f, "out dtype mismatch", cx, qu, &f.p, &f.tq, &f.tk, &f.tv,
              f.cuq, f.cuk, &t, &f.tl, INV, INV, NAMES("out"));
  t = f.tl;
  t.dtype = CLATTN_F16;
  args_expect(e, &f, "lse not F32", cx, qu, &f.p, &f.tq, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &t, INV, INV, NAMES("lse"));
  t = f.tq;
  t.dtype = CLATTN_FP8_E4M3;
  args_expect(e, &f, "q fp8", cx, qu, &f.p, &t, &f.tk, &f.tv, f.cuq, f.cuk,
              &f.to, &f.tl, INV, INV, NAMES("q"));
  // Views past CL_MEM_SIZE.
  p = f.p;
  p.total_k = 10; // k and v hold 8 rows (+ a 64-element guard = 1 row)
  args_expect(e, &f, "k past CL_MEM_SIZE", cx, qu, &p, &f.tq, &f.tk, &f.tv,
              f.cuq, f.cuk, &f.to, &f.tl, TOO_SMALL, TOO_SMALL,
              NAMES("k", "v"));
  t = f.tq;
  t.offset += TU_GUARD + 1; // past the payload and the trailing guard
  args_expect(e, &f, "q offset past end", cx, qu, &f.p, &t, &f.tk, &f.tv, f.cuq,
              f.cuk, &f.to, &f.tl, TOO_SMALL, TOO_SMALL, NAMES("q"));
  t = f.to;
  t.stride[0] += TU_GUARD;
  args_expect(e, &f, "out stride past end", cx, qu, &f.p, &f.tq, &f.tk, &f.tv,
              f.cuq, f.cuk, &t, &f.tl, TOO_SMALL, TOO_SMALL, NAMES("out"));
  t = f.tl;
  t.stride[0] = 40; // [4, 8] at offset 64, head stride 40: 192 > 160
  args_expect(e, &f, "lse stride past end", cx, qu, &f.p, &f.tq, &f.tk, &f.tv,
              f.cuq, f.cuk, &f.to, &t, TOO_SMALL, TOO_SMALL, NAMES("lse"));
  t = f.tv;
  t.offset = (cl_ulong)1 << 62; // 64-bit overflow must not wrap into range
  args_expect(e, &f, "v offset 2^62", cx, qu, &f.p, &f.tq, &f.tk, &t, f.cuq,
              f.cuk, &f.to, &f.tl, TOO_SMALL, INV, NAMES("v"));
  p = f.p;
  p.batch = 70; // cu_seqlens hold 3 ints (+ guards): 71 do not fit
  args_expect(e, &f, "cu_seqlens_q too short", cx, qu, &p, &f.tq, &f.tk, &f.tv,
              f.cuq, f.cuk, &f.to, &f.tl, TOO_SMALL, INV,
              NAMES("cu_seqlens_q", "cu_seqlens_k"));
  // Context.
  ck_assert_int_eq(clattn_attention(NULL, qu, &f.p, &f.tq, &f.tk, &f.tv, f.cuq,
                                    f.cuk, &f.to, &f.tl, 0, NULL, NULL),
                   CLATTN_ERROR_INVALID_CONTEXT);
  args_free(&f);
}
END_TEST

// Restores automatic selection even when a test failed mid-loop (nofork).
static Suite *attention_suite(void) {
  const tu_tcase tcs[] = {
      {"masking", test_masking, NCASES(masking_cases), 0},
      {"lengths", test_lengths, NCASES(length_cases), 0},
      {"shapes", test_shapes, NCASES(shape_cases), 0},
      {"features", test_features, NCASES(feature_cases), 0},
      {"layouts", test_layouts, NCASES(layout_cases), 0},
      {"tf32", test_tf32, NCASES(tf32_cases), 0},
      {"large", test_large, NCASES(large_cases), 1},
      {"large_tf32", test_large_tf32, NCASES(large_tf32_cases), 1},
  };
  return tu_case_suite("attention", test_args, tcs,
                       (int)(sizeof tcs / sizeof *tcs));
}

// Skips (77) with the reason printed by tu_env_get when there is no device
// or the requested program format cannot run on it.
int main(void) {
  return tu_run_suite(attention_suite());
}
