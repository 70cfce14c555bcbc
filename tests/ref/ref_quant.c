// SPDX-License-Identifier: Apache-2.0
// Reference FP8/I8 conversions: decode from the bit fields with ldexp,
// encode by searching the sorted table of finite codes for the nearest
// value (exact in double), so that it shares no code with cl/quant.clh.
#include "ref_quant.h"

#include <float.h>
#include <math.h>

static int exp_bits(int fmt) {
  return fmt == REF_Q_E4M3 ? 4 : 5;
}

double ref_q_decode(int fmt, uint8_t b) {
  if (fmt == REF_Q_I8)
    return (double)(int8_t)b;
  const int eb = exp_bits(fmt), mb = 7 - eb, bias = (1 << (eb - 1)) - 1;
  const int sign = b >> 7, e = (b >> mb) & ((1 << eb) - 1),
            m = b & ((1 << mb) - 1);
  double v;
  if (fmt == REF_Q_E4M3 && e == 15 && m == 7)
    v = NAN;
  else if (fmt == REF_Q_E5M2 && e == 31)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = ldexp((double)m, 1 - bias - mb);
  else
    v = ldexp(1.0 + ldexp((double)m, -mb), e - bias);
  return sign ? -v : v;
}

double ref_q_max(int fmt) {
  return fmt == REF_Q_E4M3 ? 448.0 : fmt == REF_Q_E5M2 ? 57344.0 : 127.0;
}

uint8_t ref_q_encode(int fmt, float xf) {
  const double x = (double)xf;
  if (fmt == REF_Q_I8) {
    if (isnan(x))
      return 0;
    double r = nearbyint(x); // the default rounding mode: ties to even
    r = r < -128.0 ? -128.0 : r > 127.0 ? 127.0 : r;
    return (uint8_t)(int8_t)r;
  }
  const uint8_t sign = signbit(x) ? 0x80 : 0;
  if (isnan(x))
    return sign | (fmt == REF_Q_E4M3 ? 0x7f : 0x7e);
  const double a = fabs(x), max = ref_q_max(fmt);
  // Positive finite codes 0x00 .. top are increasing in value.
  const int top = fmt == REF_Q_E4M3 ? 0x7e : 0x7b;
  if (a >= max)
    return sign | (uint8_t)top;
  int lo = 0;
  while (lo < top && ref_q_decode(fmt, (uint8_t)(lo + 1)) <= a)
    lo++;
  const double vlo = ref_q_decode(fmt, (uint8_t)lo),
               vhi = ref_q_decode(fmt, (uint8_t)(lo + 1));
  int code;
  if (a - vlo < vhi - a)
    code = lo;
  else if (a - vlo > vhi - a)
    code = lo + 1;
  else
    code = (lo & 1) ? lo + 1 : lo; // tie: the even mantissa
  return sign | (uint8_t)code;
}

float ref_q_row_scale(int fmt, const float *x, int n) {
  float am = 0.0f;
  for (int i = 0; i < n; i++)
    if (isfinite(x[i]) && fabsf(x[i]) > am)
      am = fabsf(x[i]);
  const float inv_max = (float)(1.0 / ref_q_max(fmt));
  const float s = am * inv_max;
  return s > FLT_MIN ? s : FLT_MIN;
}

uint8_t ref_q_quantize(int fmt, float x, float scale) {
  const float inv = 1.0f / scale;
  return ref_q_encode(fmt, x * inv);
}
