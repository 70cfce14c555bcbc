// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the examples (header-only, so each example stays one
// file plus this one): device choice from CLATTN_DEVICE=P:D, a seeded random
// generator and the result line. Not part of the clattn API.
#ifndef CLATTN_EXAMPLE_COMMON_H
#define CLATTN_EXAMPLE_COMMON_H

#include <clattn/clattn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define EX_SKIP 77 // no OpenCL device: CTest reports the example as skipped

// The device CLATTN_DEVICE=P:D names (default 0:0), as the clattn tools do.
// Returns 0, or EX_SKIP when there is no such platform or device.
static inline int ex_pick_device(cl_platform_id *platform,
                                 cl_device_id *device) {
  unsigned p = 0, d = 0;
  const char *env = getenv("CLATTN_DEVICE");
  if (env && *env && sscanf(env, "%u:%u", &p, &d) != 2) {
    fprintf(stderr, "CLATTN_DEVICE='%s' is not P:D\n", env);
    return EX_SKIP;
  }
  cl_platform_id plats[16];
  cl_uint np = 0;
  if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || p >= np) {
    fprintf(stderr, "no OpenCL platform %u (found %u): skipped\n", p, np);
    return EX_SKIP;
  }
  cl_device_id devs[16];
  cl_uint nd = 0;
  if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 16, devs, &nd) !=
          CL_SUCCESS ||
      d >= nd) {
    fprintf(stderr, "no OpenCL device %u:%u (found %u): skipped\n", p, d, nd);
    return EX_SKIP;
  }
  *platform = plats[p];
  *device = devs[d];
  char name[256] = "";
  clGetDeviceInfo(*device, CL_DEVICE_NAME, sizeof name, name, NULL);
  printf("device %u:%u  %s\n", p, d, name);
  return 0;
}

// Uniform floats in [-1, 1) from a 64-bit LCG: the same inputs on every run.
static inline float ex_rand(uint64_t *state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((double)(*state >> 40) / (double)(1ull << 23) - 1.0);
}

static inline void ex_fill(float *x, size_t n, uint64_t *state) {
  for (size_t i = 0; i < n; i++)
    x[i] = ex_rand(state);
}

// Largest |got - want| over n values and whether each stays within
// atol + rtol * |want|; a NaN in got fails.
static inline int ex_compare(const float *got, const double *want, size_t n,
                             double atol, double rtol, double *max_err) {
  int ok = 1;
  *max_err = 0.0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)got[i] - want[i]);
    if (!(e <= atol + rtol * fabs(want[i])))
      ok = 0;
    if (e > *max_err || e != e)
      *max_err = e;
  }
  return ok;
}

// The CPU attention of one query row in double precision: softmax(q.k[j] /
// sqrt(dim)) weighted sum of v[j] over n keys given as row pointers. Writes
// out[dim] and returns the natural-log softmax denominator (lse).
static inline double ex_attend(const float *q, const float *const *k,
                               const float *const *v, int n, int dim,
                               double *out) {
  double mx = -INFINITY, sum = 0.0;
  double *logit = malloc(sizeof(double) * (n > 0 ? (size_t)n : 1u));
  for (int j = 0; j < n; j++) {
    double dot = 0.0;
    for (int d = 0; d < dim; d++)
      dot += (double)q[d] * k[j][d];
    logit[j] = dot / sqrt((double)dim);
    mx = fmax(mx, logit[j]);
  }
  for (int d = 0; d < dim; d++)
    out[d] = 0.0;
  for (int j = 0; j < n; j++) {
    double w = exp(logit[j] - mx);
    sum += w;
    for (int d = 0; d < dim; d++)
      out[d] += w * v[j][d];
  }
  for (int d = 0; d < dim; d++)
    out[d] /= sum;
  free(logit);
  return mx + log(sum);
}

// Prints a clattn failure with the context's message; returns 1.
static inline int ex_fail(clattn_context cc, const char *what,
                          clattn_status st) {
  fprintf(stderr, "%s: %s: %s\n", what, clattn_status_string(st),
          clattn_context_last_error(cc));
  return 1;
}

#endif // CLATTN_EXAMPLE_COMMON_H
