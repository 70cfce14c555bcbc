// SPDX-License-Identifier: Apache-2.0
// Implementation of toolutil.h: OpenCL device enumeration and sessions for
// the tools, splitmix64 random numbers, f16/bf16 conversions (round to
// nearest even, NaN and infinities kept) and strict argument parsing.
#include "toolutil.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 32

int tool_enumerate(tool_dev *out, int max, char *err, size_t err_size) {
  cl_uint np = 0;
  cl_int e = clGetPlatformIDs(0, NULL, &np);
  if (e == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ ||
      (e == CL_SUCCESS && np == 0)) {
    snprintf(err, err_size,
             "no OpenCL platform found (is an ICD installed under "
             "/etc/OpenCL/vendors or named by OCL_ICD_VENDORS?)");
    return -1;
  }
  if (e != CL_SUCCESS) {
    snprintf(err, err_size, "clGetPlatformIDs failed: %s (%d)",
             tool_cl_error_name(e), (int)e);
    return -1;
  }
  cl_platform_id plats[MAX_PLATFORMS];
  if (np > MAX_PLATFORMS)
    np = MAX_PLATFORMS;
  e = clGetPlatformIDs(np, plats, NULL);
  if (e != CL_SUCCESS) {
    snprintf(err, err_size, "clGetPlatformIDs failed: %s (%d)",
             tool_cl_error_name(e), (int)e);
    return -1;
  }
  int n = 0;
  for (cl_uint p = 0; p < np; p++) {
    cl_uint nd = 0;
    e = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
    if (e != CL_SUCCESS || nd == 0)
      continue; // CL_DEVICE_NOT_FOUND simply means zero devices
    cl_device_id *devs = calloc(nd, sizeof *devs);
    if (!devs)
      break;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, devs, NULL) ==
        CL_SUCCESS) {
      for (cl_uint d = 0; d < nd && n < max; d++) {
        out[n].platform = plats[p];
        out[n].device = devs[d];
        out[n].p = (int)p;
        out[n].d = (int)d;
        n++;
      }
    }
    free(devs);
  }
  if (n == 0)
    snprintf(err, err_size, "%u OpenCL platform(s) but no device",
             (unsigned)np);
  return n;
}

int tool_parse_device(const char *s, int *p, int *d) {
  long long a, b;
  const char *colon = s ? strchr(s, ':') : NULL;
  if (!colon)
    return -1;
  char left[32];
  size_t n = (size_t)(colon - s);
  if (n == 0 || n >= sizeof left)
    return -1;
  memcpy(left, s, n);
  left[n] = 0;
  if (tool_parse_int(left, 0, INT_MAX, &a) ||
      tool_parse_int(colon + 1, 0, INT_MAX, &b))
    return -1;
  *p = (int)a;
  *d = (int)b;
  return 0;
}

const char *tool_device_spec(const char *arg) {
  if (arg)
    return arg;
  const char *env = getenv("CLATTN_DEVICE");
  return env && *env ? env : NULL;
}

int tool_session_open(const tool_dev *dev, const clattn_options *opts,
                      tool_session *s, char *err, size_t err_size) {
  memset(s, 0, sizeof *s);
  cl_int e;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM,
                                   (cl_context_properties)dev->platform, 0};
  s->ctx = clCreateContext(props, 1, &dev->device, NULL, NULL, &e);
  if (!s->ctx) {
    snprintf(err, err_size, "clCreateContext failed: %s (%d)",
             tool_cl_error_name(e), (int)e);
    return TOOL_EXIT_OPENCL;
  }
  s->queue =
      clCreateCommandQueue(s->ctx, dev->device, CL_QUEUE_PROFILING_ENABLE, &e);
  if (!s->queue) {
    snprintf(err, err_size, "clCreateCommandQueue failed: %s (%d)",
             tool_cl_error_name(e), (int)e);
    tool_session_close(s);
    return TOOL_EXIT_OPENCL;
  }
  clattn_status st = clattn_context_create(s->ctx, dev->device, opts, &s->cctx);
  if (st != CLATTN_SUCCESS) {
    snprintf(err, err_size, "clattn_context_create failed: %s: %s",
             clattn_status_string(st), clattn_context_last_error(NULL));
    tool_session_close(s);
    return TOOL_EXIT_OPENCL;
  }
  return 0;
}

void tool_session_close(tool_session *s) {
  if (s->cctx)
    clattn_context_release(s->cctx);
  if (s->queue)
    clReleaseCommandQueue(s->queue);
  if (s->ctx)
    clReleaseContext(s->ctx);
  memset(s, 0, sizeof *s);
}

const char *tool_cl_error_name(cl_int err) {
  switch (err) {
#define E(x)                                                                   \
  case x: return #x;
    E(CL_SUCCESS)
    E(CL_DEVICE_NOT_FOUND)
    E(CL_DEVICE_NOT_AVAILABLE)
    E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    E(CL_OUT_OF_RESOURCES)
    E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE)
    E(CL_BUILD_PROGRAM_FAILURE)
    E(CL_INVALID_VALUE)
    E(CL_INVALID_DEVICE_TYPE)
    E(CL_INVALID_PLATFORM)
    E(CL_INVALID_DEVICE)
    E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES)
    E(CL_INVALID_COMMAND_QUEUE)
    E(CL_INVALID_MEM_OBJECT)
    E(CL_INVALID_PROGRAM)
    E(CL_INVALID_KERNEL)
    E(CL_INVALID_KERNEL_ARGS)
    E(CL_INVALID_WORK_GROUP_SIZE)
    E(CL_INVALID_EVENT)
    E(CL_INVALID_OPERATION)
    E(CL_INVALID_BUFFER_SIZE)
#undef E
  case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
  default: return "CL error";
  }
}

void tool_device_string(cl_device_id dev, cl_device_info what, char *buf,
                        size_t size) {
  buf[0] = 0;
  if (clGetDeviceInfo(dev, what, size, buf, NULL) != CL_SUCCESS)
    buf[0] = 0;
  buf[size - 1] = 0;
}

void tool_platform_string(cl_platform_id p, cl_platform_info what, char *buf,
                          size_t size) {
  buf[0] = 0;
  if (clGetPlatformInfo(p, what, size, buf, NULL) != CL_SUCCESS)
    buf[0] = 0;
  buf[size - 1] = 0;
}

// ---- random numbers -------------------------------------------------------
void tool_rng_init(tool_rng *r, uint64_t seed) {
  r->s = seed;
}

uint64_t tool_next(tool_rng *r) { // splitmix64
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double tool_uniform(tool_rng *r, double lo, double hi) {
  return lo + (hi - lo) * ((double)(tool_next(r) >> 11) * 0x1.0p-53);
}

int tool_int(tool_rng *r, int lo, int hi) {
  uint64_t span = (uint64_t)((int64_t)hi - lo + 1);
  return lo + (int)(tool_next(r) % span);
}

void tool_shuffle(tool_rng *r, int *a, int n) {
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(tool_next(r) % (uint64_t)(i + 1));
    int t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

// ---- dtypes -----------------------------------------------------------------
static uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint16_t tool_f32_to_f16(float f) {
  uint32_t x = f2u(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7FFFFFFFu;
  if (ax >= 0x7F800000u) // inf or NaN (NaN stays quiet NaN)
    return (uint16_t)(sign | 0x7C00u | (ax > 0x7F800000u ? 0x200u : 0));
  if (ax >= 0x477FF000u) // rounds to >= 65520: overflow to inf
    return (uint16_t)(sign | 0x7C00u);
  if (ax < 0x38800000u) { // below the smallest normal f16 (2^-14)
    // value / 2^-24 rounded to nearest even is the subnormal mantissa
    float v = u2f(ax) * 0x1.0p24f;
    float r = nearbyintf(v); // default rounding mode: nearest even
    return (uint16_t)(sign | (uint32_t)r);
  }
  uint32_t e = ((ax >> 23) - 112u) << 10;
  uint32_t m = (ax >> 13) & 0x3FFu;
  uint32_t h = e | m;
  uint32_t rest = ax & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    h++; // may carry into the exponent, which is right
  return (uint16_t)(sign | h);
}

float tool_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1Fu;
  uint32_t m = h & 0x3FFu;
  if (e == 0) {
    float v = (float)m * 0x1.0p-24f;
    return sign ? -v : v;
  }
  if (e == 31)
    return u2f(sign | 0x7F800000u | (m << 13));
  return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t tool_f32_to_bf16(float f) {
  uint32_t x = f2u(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u)
    return (uint16_t)((x >> 16) | 0x40u); // quiet NaN
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7FFFu + lsb;
  return (uint16_t)(x >> 16);
}

float tool_bf16_to_f32(uint16_t b) {
  return u2f((uint32_t)b << 16);
}

size_t tool_dtype_size(clattn_dtype dt) {
  switch (dt) {
  case CLATTN_F32:
  case CLATTN_I32: return 4;
  case CLATTN_F16:
  case CLATTN_BF16: return 2;
  case CLATTN_I64: return 8;
  default: return 1;
  }
}

double tool_store(void *base, clattn_dtype dt, size_t i, double x) {
  switch (dt) {
  case CLATTN_F16: {
    uint16_t h = tool_f32_to_f16((float)x);
    ((uint16_t *)base)[i] = h;
    return tool_f16_to_f32(h);
  }
  case CLATTN_BF16: {
    uint16_t b = tool_f32_to_bf16((float)x);
    ((uint16_t *)base)[i] = b;
    return tool_bf16_to_f32(b);
  }
  default: ((float *)base)[i] = (float)x; return (float)x;
  }
}

double tool_load(const void *base, clattn_dtype dt, size_t i) {
  switch (dt) {
  case CLATTN_F16: return tool_f16_to_f32(((const uint16_t *)base)[i]);
  case CLATTN_BF16: return tool_bf16_to_f32(((const uint16_t *)base)[i]);
  default: return ((const float *)base)[i];
  }
}

int tool_parse_dtype(const char *s, clattn_dtype *dt) {
  if (!s)
    return -1;
  if (!strcmp(s, "f32"))
    *dt = CLATTN_F32;
  else if (!strcmp(s, "f16"))
    *dt = CLATTN_F16;
  else if (!strcmp(s, "bf16"))
    *dt = CLATTN_BF16;
  else
    return -1;
  return 0;
}

const char *tool_dtype_name(clattn_dtype dt) {
  switch (dt) {
  case CLATTN_F32: return "f32";
  case CLATTN_F16: return "f16";
  case CLATTN_BF16: return "bf16";
  case CLATTN_FP8_E4M3: return "fp8_e4m3";
  case CLATTN_FP8_E5M2: return "fp8_e5m2";
  case CLATTN_I8: return "i8";
  case CLATTN_I32: return "i32";
  case CLATTN_I64: return "i64";
  default: return "?";
  }
}

int tool_parse_int(const char *s, long long lo, long long hi, long long *out) {
  if (!s || !*s)
    return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}
