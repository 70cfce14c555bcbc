// SPDX-License-Identifier: Apache-2.0
// Helpers shared by clattn-probe and clattn-bench: device enumeration and
// "P:D" selection, an OpenCL session (context, profiling queue, clattn
// context), a seeded RNG, host f16/bf16 conversion and small parsers.
#ifndef CLATTN_TOOLS_TOOLUTIL_H
#define CLATTN_TOOLS_TOOLUTIL_H

#include "clattn/clattn.h"

#include <stddef.h>
#include <stdint.h>

// Exit statuses shared by both tools (docs/probe.md, docs/bench.md).
enum {
  TOOL_EXIT_OK = 0,
  TOOL_EXIT_FAIL = 1,      // probe: a self-test failed; bench: the op failed
  TOOL_EXIT_USAGE = 2,     // bad command line
  TOOL_EXIT_NO_DEVICE = 3, // no OpenCL platform, or no such device
  TOOL_EXIT_OPENCL = 4     // an OpenCL call of the tool itself failed
};

typedef struct tool_dev {
  cl_platform_id platform;
  cl_device_id device;
  int p, d; // platform index, device index within the platform
} tool_dev;

// Fills up to max devices of every platform (CL_DEVICE_TYPE_ALL), in
// platform order. Returns the count (0 when platforms exist but hold no
// device) or -1 when there is no OpenCL platform at all; err says why.
int tool_enumerate(tool_dev *out, int max, char *err, size_t err_size);
// Parses "P:D" (both non-negative integers). Returns 0 on success.
int tool_parse_device(const char *s, int *p, int *d);
// The device spec from --device, else $CLATTN_DEVICE, else NULL.
const char *tool_device_spec(const char *arg);

typedef struct tool_session {
  cl_context ctx;
  cl_command_queue queue; // in-order, profiling enabled
  clattn_context cctx;
} tool_session;
// Returns 0, or an exit status with a message in err. opts may be NULL.
int tool_session_open(const tool_dev *dev, const clattn_options *opts,
                      tool_session *s, char *err, size_t err_size);
void tool_session_close(tool_session *s);

const char *tool_cl_error_name(cl_int err);
// A string device query ("" on failure).
void tool_device_string(cl_device_id dev, cl_device_info what, char *buf,
                        size_t size);
void tool_platform_string(cl_platform_id p, cl_platform_info what, char *buf,
                          size_t size);

// ---- random numbers ------------------------------------------------------
typedef struct tool_rng {
  uint64_t s;
} tool_rng;
void tool_rng_init(tool_rng *r, uint64_t seed);
uint64_t tool_next(tool_rng *r);
double tool_uniform(tool_rng *r, double lo, double hi);
int tool_int(tool_rng *r, int lo, int hi); // inclusive
// Fisher-Yates shuffle of n ints.
void tool_shuffle(tool_rng *r, int *a, int n);

// ---- dtypes on the host --------------------------------------------------
// F32, F16 and BF16 only. Conversions round to nearest even.
uint16_t tool_f32_to_f16(float f);
float tool_f16_to_f32(uint16_t h);
uint16_t tool_f32_to_bf16(float f);
float tool_bf16_to_f32(uint16_t b);
size_t tool_dtype_size(clattn_dtype dt);
// Stores x (rounded to dt) as element i of a host array; returns the value
// actually stored, as a double.
double tool_store(void *base, clattn_dtype dt, size_t i, double x);
double tool_load(const void *base, clattn_dtype dt, size_t i);
// "f32"/"f16"/"bf16" -> dtype; returns 0 on success.
int tool_parse_dtype(const char *s, clattn_dtype *dt);
const char *tool_dtype_name(clattn_dtype dt); // lower case, as parsed

// ---- parsing -------------------------------------------------------------
// Strict integer parsing; returns 0 on success.
int tool_parse_int(const char *s, long long lo, long long hi, long long *out);

#endif // CLATTN_TOOLS_TOOLUTIL_H
