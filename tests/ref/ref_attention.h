// SPDX-License-Identifier: Apache-2.0
// Double-precision CPU reference of clattn's attention (DESIGN.md §2): naive
// varlen softmax attention with bottom-right masking, windows, softcap, ALiBi,
// sinks and GQA. Used by the device tests and by clattn-probe --selftest.
#ifndef CLATTN_REF_ATTENTION_H
#define CLATTN_REF_ATTENTION_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ref_attn_problem {
  int batch, heads, kv_heads, dim;
  const int *cu_q, *cu_k;                // [batch+1], host
  const double *q;                       // [total_q, heads, dim] contiguous
  const double *k, *v;                   // [total_k, kv_heads, dim] contiguous
  double scale;                          // already resolved (not 0)
  int causal, window_left, window_right; // -1 unbounded; causal forces right=0
  double softcap;                        // 0 = off
  const double *alibi, *sinks;           // [heads] or NULL
} ref_attn_problem;

// out [total_q, heads, dim]; lse [heads, total_q] natural log (may be NULL).
// A row with no visible key and no sink gets zeros and lse = -INFINITY.
void ref_attention(const ref_attn_problem *p, double *out, double *lse);

// 1 when key j of a sequence (q_len queries, k_len keys) is visible from
// query row i under (causal, left, right); the masking rule of DESIGN.md §2.
int ref_visible(int i, int j, int q_len, int k_len, int causal, int left,
                int right);

#ifdef __cplusplus
}
#endif
#endif // CLATTN_REF_ATTENTION_H
