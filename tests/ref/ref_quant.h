// SPDX-License-Identifier: Apache-2.0
// Host reference of clattn's quantized KV cache (docs/quantized-kv.md): OCP
// FP8 E4M3/E5M2 and I8 decode and saturating encode, written independently
// of the kernels (a search over the code table), and the scale rules.
#ifndef CLATTN_REF_QUANT_H
#define CLATTN_REF_QUANT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Format codes: the clattn_dtype numbers of FP8_E4M3, FP8_E5M2 and I8.
enum { REF_Q_E4M3 = 3, REF_Q_E5M2 = 4, REF_Q_I8 = 5 };

// The value of code b (NaN/inf as the format defines them; I8 as int8_t).
double ref_q_decode(int fmt, uint8_t b);
// The code of x: round to nearest, ties to the even code; finite overflow and
// infinities saturate to +-max; NaN gives S.1111.111 (E4M3), S.11111.10
// (E5M2) or 0 (I8).
uint8_t ref_q_encode(int fmt, float x);
// Largest finite value: 448, 57344, 127.
double ref_q_max(int fmt);
// The per-token-head scale kv_write stores for a row: max(absmax over the
// finite elements * f32(1/max), FLT_MIN), in f32 arithmetic.
float ref_q_row_scale(int fmt, const float *x, int n);
// The stored code of x under scale s: encode(x * f32(1/s)).
uint8_t ref_q_quantize(int fmt, float x, float scale);

#ifdef __cplusplus
}
#endif
#endif // CLATTN_REF_QUANT_H
