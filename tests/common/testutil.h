// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the device tests: the OpenCL device under test, a seeded
// RNG (fresh seed per run, printed, fixed by CLATTN_TEST_SEED), host dtype
// conversions, and guarded + poisoned device buffers.
#ifndef CLATTN_TESTUTIL_H
#define CLATTN_TESTUTIL_H

#include "clattn/clattn.h"
#include "internal.h"

#include <check.h>
#include <stddef.h>
#include <stdint.h>

// ---- device ----------------------------------------------------------------
typedef struct tu_env {
  cl_platform_id platform;
  cl_device_id device;
  cl_context ctx;
  cl_command_queue queue; // in-order, profiling enabled
  clattn_context cctx;
  int plat_index, dev_index;
} tu_env;

// The process-wide device under test, opened on first use from
// CLATTN_TEST_DEVICE or CLATTN_DEVICE ("P:D", default "0:0"). Returns NULL
// (and prints why) when no OpenCL device exists: main() then returns 77.
tu_env *tu_env_get(void);
// (Under CLATTN_PROGRAM_FORMAT=spirv on a device without SPIR-V it also
// returns NULL, saying so; with CLATTN_EXPECT_SPIRV=1 that is a failure.)
void tu_env_close(void);
// Runs a Check suite in nofork mode on the device under test and returns
// main()'s exit status: 0 passed, 1 failed, 77 skipped (no device/format).
int tu_run_suite(Suite *s);
// A device suite of looped test cases: an "args" case running args (when
// not NULL), then one case per row of tcs, each looped n times; rows with
// large set run only under CLATTN_TEST_LARGE=1. Every case's teardown
// restores automatic variant selection for every op (a failed test in
// nofork mode leaves its forcing behind).
typedef struct tu_tcase {
  const char *name;
  const TTest *fn;
  int n;
  int large;
} tu_tcase;
Suite *tu_case_suite(const char *name, const TTest *args, const tu_tcase *tcs,
                     int ntcs);
// Runs a Check suite that needs no device (forking as Check likes); returns
// 0 when every test passed, else 1.
int tu_run_unit_suite(Suite *s);
// Parses "P:D"; returns 0 on success.
int tu_parse_device(const char *s, int *p, int *d);
// Opens platform p, device d (shared by the tools). Returns 0 on success,
// else prints a message to stderr.
int tu_open_device(int p, int d, tu_env *e);

// Names of every variant of op eligible on this device for these args (the
// selected one and all others), in registry order. Returns the count.
int tu_eligible_variants(const tu_env *e, const clattn_select_args *a,
                         const char **names, int max);
// Forces variant (NULL = automatic) for op on e->cctx; aborts the test on
// error.
void tu_force_variant(tu_env *e, clattn_op op, const char *name);

// ---- random numbers
// ----------------------------------------------------------
typedef struct tu_rng {
  uint64_t s;
} tu_rng;
uint64_t tu_seed(void); // per-process seed (time-based unless CLATTN_TEST_SEED)
void tu_rng_init(tu_rng *r, uint64_t seed);
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r, double lo, double hi);
int tu_int(tu_rng *r, int lo, int hi); // inclusive

// ---- dtypes on the host
// --------------------------------------------------------
float tu_f16_to_f32(uint16_t h);
uint16_t tu_f32_to_f16(float f); // round to nearest even
float tu_bf16_to_f32(uint16_t b);
uint16_t tu_f32_to_bf16(float f); // round to nearest even
// Element i of a host array of dtype dt (F32, F16, BF16, I32, I64).
double tu_load(const void *base, clattn_dtype dt, size_t i);
void tu_store(void *base, clattn_dtype dt, size_t i, double x);
// Value rounded to what dt can hold (the reference uses the rounded inputs).
double tu_round(clattn_dtype dt, double x);

// ---- tolerances (why these numbers: tests/device/test_attention.c) ---------
// Pass if |err| <= atol + rtol * |ref|. f32: 16 eps_f32, grown by
// sqrt(k/256) past 256 keys; f16/bf16: one eps of the dtype each way.
typedef struct tu_tol {
  double atol, rtol;
} tu_tol;
double tu_f32_tol(int max_k);
tu_tol tu_out_tol(clattn_dtype dt, int max_k);
// Rows with tf32 products (the variant's tf32 flag; f32 only): out and lse
// tolerances for softmax scale `scale` and head_dim `dim`.
tu_tol tu_tf32_tol(double scale, int dim, int max_k);
double tu_tf32_lse_tol(double scale, int dim, int max_k);
// 1 when the named variant has tf32 products (its tolerance is tf32's).
int tu_variant_tf32(const char *name);

// ---- guarded buffers
// ------------------------------------------------------------ A device buffer
// of `count` elements of `elem` bytes placed after a guard of TU_GUARD elements
// and followed by another; pass tu_off(b) as the descriptor offset. host holds
// the payload.
#define TU_GUARD 64
#define TU_GUARD_BYTE 0xA5
#define TU_POISON_BYTE 0xFF // NaN in f32, f16 and bf16
typedef struct tu_buf {
  cl_mem mem;
  size_t count;
  size_t elem;
  unsigned char *host; // count * elem bytes
} tu_buf;

int tu_buf_alloc(tu_env *e, tu_buf *b, size_t count, size_t elem);
void tu_buf_free(tu_buf *b);
static inline cl_ulong tu_off(const tu_buf *b) {
  return TU_GUARD;
}
// Writes guards + host payload.
int tu_buf_upload(tu_env *e, tu_buf *b);
// Fills the payload (device and host) with TU_POISON_BYTE, guards with
// TU_GUARD_BYTE.
int tu_buf_poison(tu_env *e, tu_buf *b);
// Reads the payload into host; returns the number of guard bytes changed.
size_t tu_buf_download(tu_env *e, tu_buf *b);
clattn_tensor tu_tensor(const tu_buf *b, clattn_dtype dt, cl_long s0,
                        cl_long s1);
clattn_buffer tu_buffer(const tu_buf *b);

#endif // CLATTN_TESTUTIL_H
