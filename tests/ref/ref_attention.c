// SPDX-License-Identifier: Apache-2.0
// Double-precision CPU reference of clattn's attention: per sequence, per
// head, per query row, a naive two-pass softmax over the visible keys (plus
// the optional sink logit). Deliberately simple: no tiling, no online softmax.
#include "ref_attention.h"

#include <math.h>
#include <stdlib.h>

int ref_visible(int i, int j, int q_len, int k_len, int causal, int left,
                int right) {
  long p = (long)i + (long)k_len - (long)q_len; // bottom-right alignment
  if (causal)
    right = 0;
  if (right >= 0 && (long)j > p + right)
    return 0;
  if (left >= 0 && (long)j < p - left)
    return 0;
  return 1;
}

void ref_attention(const ref_attn_problem *p, double *out, double *lse) {
  const int H = p->heads, D = p->dim;
  const int group = p->heads / p->kv_heads;
  const long total_q = p->cu_q[p->batch];
  int max_k = 1;
  for (int b = 0; b < p->batch; ++b)
    if (p->cu_k[b + 1] - p->cu_k[b] > max_k)
      max_k = p->cu_k[b + 1] - p->cu_k[b];
  double *logit = malloc(sizeof(double) * (size_t)max_k);
  char *vis = malloc((size_t)max_k);
  if (!logit || !vis) {
    free(logit);
    free(vis);
    return;
  }
  for (int b = 0; b < p->batch; ++b) {
    const int q0 = p->cu_q[b], q_len = p->cu_q[b + 1] - q0;
    const int k0 = p->cu_k[b], k_len = p->cu_k[b + 1] - k0;
    for (int h = 0; h < H; ++h) {
      const int kvh = h / group;
      for (int i = 0; i < q_len; ++i) {
        const long row = (long)q0 + i;
        const double *qr = p->q + ((size_t)row * H + h) * D;
        double *o = out + ((size_t)row * H + h) * D;
        const long pos = (long)i + k_len - q_len;
        double m = -INFINITY;
        int any = 0;
        for (int j = 0; j < k_len; ++j) {
          vis[j] = (char)ref_visible(i, j, q_len, k_len, p->causal,
                                     p->window_left, p->window_right);
          if (!vis[j])
            continue;
          const double *kr = p->k + ((size_t)(k0 + j) * p->kv_heads + kvh) * D;
          double s = 0.0;
          for (int d = 0; d < D; ++d)
            s += qr[d] * kr[d];
          s *= p->scale;
          if (p->softcap > 0.0)
            s = p->softcap * tanh(s / p->softcap);
          if (p->alibi)
            s -= p->alibi[h] * fabs((double)(j - pos));
          logit[j] = s;
          if (s > m)
            m = s;
          any = 1;
        }
        // A -inf sink adds exp(-inf) = 0 to the denominator: no sink at all.
        const int has_sink = p->sinks != NULL && p->sinks[h] > -INFINITY;
        if (has_sink && p->sinks[h] > m)
          m = p->sinks[h];
        for (int d = 0; d < D; ++d)
          o[d] = 0.0;
        if (!any && !has_sink) {
          if (lse)
            lse[(size_t)h * total_q + row] = -INFINITY;
          continue;
        }
        double l = has_sink ? exp(p->sinks[h] - m) : 0.0;
        for (int j = 0; j < k_len; ++j) {
          if (!vis[j])
            continue;
          const double w = exp(logit[j] - m);
          const double *vr = p->v + ((size_t)(k0 + j) * p->kv_heads + kvh) * D;
          l += w;
          for (int d = 0; d < D; ++d)
            o[d] += w * vr[d];
        }
        for (int d = 0; d < D; ++d)
          o[d] /= l;
        if (lse)
          lse[(size_t)h * total_q + row] = m + log(l);
      }
    }
  }
  free(logit);
  free(vis);
}
