// SPDX-License-Identifier: Apache-2.0
// Quantized KV caches (FP8 E4M3/E5M2, I8): the device conversions against
// tests/ref/ref_quant.c (all 256 codes, random and boundary floats), kv_write
// codes and scales bit for bit, paged_attention over quantized caches for
// every eligible variant, and validation of the scale arguments.
#include "ref_attention.h"
#include "ref_quant.h"
#include "testutil.h"

#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const clattn_dtype qdts[] = {CLATTN_FP8_E4M3, CLATTN_FP8_E5M2,
                                    CLATTN_I8};
static const int modes[] = {CLATTN_SCALE_TENSOR, CLATTN_SCALE_TENSOR_BUFFER,
                            CLATTN_SCALE_TOKEN_HEAD};
static const char *const mode_names[] = {"tensor", "tensor-buffer",
                                         "token-head"};

static uint32_t f2u(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  return u;
}
static float u2f(uint32_t u) {
  float x;
  memcpy(&x, &u, 4);
  return x;
}

// ---- device conversions ----------------------------------------------------
// The library's embedded kv_write.cl source (cl/quant.clh resolved into it,
// as the kernels use it) built with three small kernels appended.
static const char *const conv_kernels =
    "#define I size_t i = get_global_id(0) + off;\n"
    "__kernel void dec(__global const uchar *c, __global float *o, ulong off,\n"
    "                  int dt) { I o[i] = byte_to_f32(c[i], dt); }\n"
    "__kernel void enc(__global const float *x, __global uchar *o, ulong off,\n"
    "                  int dt) { I o[i] = f32_to_byte(x[i], dt); }\n"
    "__kernel void rcp(__global const float *x, __global float *o, ulong off,\n"
    "                  int dt) { I o[i] = recip_rn(x[i]); }\n";

static cl_program conv_program(tu_env *e) {
  cl_int err;
  const clattn_variant *v = clattn__variant_by_name("kv_write_generic");
  ck_assert_ptr_nonnull(v);
  const char *src[2] = {(const char *)clattn__source(v->source_index)->text,
                        conv_kernels};
  cl_program p = clCreateProgramWithSource(e->ctx, 2, src, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  err = clBuildProgram(p, 1, &e->device, "", NULL, NULL);
  if (err != CL_SUCCESS) {
    char log[8192] = "";
    clGetProgramBuildInfo(p, e->device, CL_PROGRAM_BUILD_LOG, sizeof log, log,
                          NULL);
    ck_abort_msg("building the conversion kernels failed (%d): %s", err, log);
  }
  return p;
}

// Runs kernel `name` over n elements: in (in_elem bytes each) -> out.
static void run_conv(tu_env *e, cl_program p, const char *name, const void *in,
                     size_t in_elem, void *out, size_t out_elem, size_t n,
                     int dt) {
  cl_int err;
  cl_kernel k = clCreateKernel(p, name, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  tu_buf bi, bo;
  ck_assert(!tu_buf_alloc(e, &bi, n, in_elem));
  memcpy(bi.host, in, n * in_elem);
  ck_assert(!tu_buf_upload(e, &bi));
  ck_assert(!tu_buf_alloc(e, &bo, n, out_elem));
  ck_assert(!tu_buf_poison(e, &bo));
  const cl_ulong off = TU_GUARD; // the payload of both guarded buffers
  err = clSetKernelArg(k, 0, sizeof bi.mem, &bi.mem);
  err |= clSetKernelArg(k, 1, sizeof bo.mem, &bo.mem);
  err |= clSetKernelArg(k, 2, sizeof off, &off);
  err |= clSetKernelArg(k, 3, sizeof dt, &dt);
  ck_assert_int_eq(err, CL_SUCCESS);
  ck_assert_int_eq(
      clEnqueueNDRangeKernel(e->queue, k, 1, NULL, &n, NULL, 0, NULL, NULL),
      CL_SUCCESS);
  ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
  ck_assert_msg(tu_buf_download(e, &bo) == 0, "%s: output guard hit", name);
  memcpy(out, bo.host, n * out_elem);
  clReleaseKernel(k);
  tu_buf_free(&bi);
  tu_buf_free(&bo);
}

START_TEST(decode_all_codes) {
  tu_env *e = tu_env_get();
  cl_program p = conv_program(e);
  uint8_t codes[256];
  float got[256];
  for (int i = 0; i < 256; i++)
    codes[i] = (uint8_t)i;
  for (int f = 0; f < 3; f++) {
    const int dt = qdts[f];
    run_conv(e, p, "dec", codes, 1, got, 4, 256, dt);
    int nan = 0, inf = 0;
    for (int i = 0; i < 256; i++) {
      const double want = ref_q_decode(dt, (uint8_t)i);
      if (isnan(want)) {
        nan++;
        ck_assert_msg(isnan(got[i]) && !!signbit(got[i]) == (i >> 7),
                      "%s code 0x%02x: got %a, want NaN with sign %d",
                      clattn_dtype_name(dt), i, (double)got[i], i >> 7);
        continue;
      }
      inf += isinf(want) != 0;
      ck_assert_msg(f2u(got[i]) == f2u((float)want),
                    "%s code 0x%02x: got %a (0x%08x), want %a",
                    clattn_dtype_name(dt), i, (double)got[i], f2u(got[i]),
                    want);
    }
    // The formats' special codes, counted from the reference's definition.
    const int want_nan = dt == CLATTN_FP8_E4M3   ? 2
                         : dt == CLATTN_FP8_E5M2 ? 6
                                                 : 0;
    ck_assert_int_eq(nan, want_nan);
    ck_assert_int_eq(inf, dt == CLATTN_FP8_E5M2 ? 2 : 0);
  }
  clReleaseProgram(p);
}
END_TEST

// Boundary inputs of a format: every finite code value, the midpoints of
// adjacent codes (ties) and their f32 neighbours, the saturation edge,
// specials and f32 subnormals; then random bit patterns and magnitudes.
static size_t encode_inputs(int dt, float *x, size_t cap, tu_rng *r) {
  size_t n = 0;
#define PUT(v)                                                                 \
  do {                                                                         \
    if (n < cap)                                                               \
      x[n++] = (v);                                                            \
  } while (0)
  if (dt == CLATTN_I8) {
    for (int i = -140; i <= 140; i++) {
      PUT((float)i);
      PUT((float)i + 0.5f);
      PUT(nextafterf((float)i + 0.5f, INFINITY));
      PUT(nextafterf((float)i + 0.5f, -INFINITY));
    }
  } else {
    const int top = dt == CLATTN_FP8_E4M3 ? 0x7e : 0x7b;
    for (int c = 0; c <= top; c++) {
      const float v = (float)ref_q_decode(dt, (uint8_t)c);
      const float hi = c < top ? (float)ref_q_decode(dt, (uint8_t)(c + 1))
                               : (float)(2 * ref_q_max(dt));
      const float mid = 0.5f * (v + hi); // exact: one more mantissa bit
      const float vals[] = {v, mid, nextafterf(mid, INFINITY),
                            nextafterf(mid, -INFINITY), nextafterf(v, 0.0f)};
      for (size_t i = 0; i < 5; i++) {
        PUT(vals[i]);
        PUT(-vals[i]);
      }
    }
    // Above max: the would-be next value's midpoint and far beyond.
    const float mx = (float)ref_q_max(dt);
    const float over[] = {mx * 1.0625f, mx * 1.125f, mx * 1.25f, mx * 4.0f,
                          1e30f};
    for (size_t i = 0; i < 5; i++) {
      PUT(over[i]);
      PUT(-over[i]);
    }
  }
  const float specials[] = {
      0.0f,      -0.0f,      INFINITY,  -INFINITY,        NAN,
      -NAN,      FLT_MAX,    -FLT_MAX,  FLT_MIN,          -FLT_MIN,
      0x1p-149f, -0x1p-149f, 0x1p-130f, u2f(0x7fc00001u), u2f(0xffa00000u)};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++)
    PUT(specials[i]);
  const double mx = ref_q_max(dt);
  while (n < cap) {
    const int kind = (int)(tu_next(r) % 3);
    if (kind == 0) {
      PUT(u2f((uint32_t)tu_next(r))); // any bit pattern: NaN, inf, subnormal
    } else if (kind == 1) {
      PUT((float)tu_uniform(r, -1.5 * mx, 1.5 * mx));
    } else { // log-uniform magnitudes from far below the subnormals to max
      const double m = exp2(tu_uniform(r, -30.0, log2(mx) + 1.0));
      PUT((float)((tu_next(r) & 1) ? m : -m));
    }
  }
#undef PUT
  return n;
}

START_TEST(encode_random_and_boundaries) {
  tu_env *e = tu_env_get();
  cl_program p = conv_program(e);
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x9e37);
  enum { N = 1 << 16 };
  float *x = malloc(N * sizeof *x);
  uint8_t *got = malloc(N);
  for (int f = 0; f < 3; f++) {
    const int dt = qdts[f];
    const size_t n = encode_inputs(dt, x, N, &r);
    run_conv(e, p, "enc", x, 4, got, 1, n, dt);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
      const uint8_t want = ref_q_encode(dt, x[i]);
      if (got[i] != want && bad++ < 8)
        fprintf(stderr, "%s encode %a (0x%08x): got 0x%02x, want 0x%02x\n",
                clattn_dtype_name(dt), (double)x[i], f2u(x[i]), got[i], want);
    }
    ck_assert_msg(bad == 0, "%s: %zu of %zu encodings differ (seed %llu)",
                  clattn_dtype_name(dt), bad, n, (unsigned long long)tu_seed());
  }
  free(x);
  free(got);
  clReleaseProgram(p);
}
END_TEST

// recip_rn (the reciprocal of the per-token-head and buffer scales) is the
// IEEE f32 1/x: random normal x, powers of two, all-ones significands.
START_TEST(reciprocal_correctly_rounded) {
  tu_env *e = tu_env_get();
  cl_program p = conv_program(e);
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x4242);
  enum { N = 1 << 16 };
  float *x = malloc(N * sizeof *x), *got = malloc(N * sizeof *got);
  size_t n = 0;
  for (int ex = -126; ex < 126; ex++) {
    x[n++] = ldexpf(1.0f, ex);
    x[n++] = ldexpf(2.0f - 0x1p-23f, ex);
    x[n++] = ldexpf(1.0f + 0x1p-23f, ex);
  }
  while (n < N) // positive normal floats below 2^126
    x[n++] = u2f(0x00800000u + (uint32_t)(tu_next(&r) % (0x7c800000u)));
  run_conv(e, p, "rcp", x, 4, got, 4, n, 0);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(f2u(got[i]) == f2u(1.0f / x[i]), "recip_rn(%a) = %a, want %a",
                  (double)x[i], (double)got[i], (double)(1.0f / x[i]));
  free(x);
  free(got);
  clReleaseProgram(p);
}
END_TEST

// ---- kv_write into quantized caches
// ------------------------------------------
typedef struct qkv_case {
  int hnd, bs, dim, heads, tokens, blocks;
  clattn_dtype in_dt, cache_dt;
  int mode;
  int specials; // put inf/NaN/overflowing values into the rows
} qkv_case;

static const char *variant_now = "";

// The scale of one cache (per-tensor modes): a non-power-of-two chosen so
// that about a quarter of the inputs saturate.
static float tensor_scale(int dt, tu_rng *r) {
  return (float)(4.0 / ref_q_max(dt) * tu_uniform(r, 0.7, 0.9));
}

static void run_kv(tu_env *e, const qkv_case *k, tu_rng *r) {
  const int H = k->heads, D = k->dim, T = k->tokens, BS = k->bs;
  const size_t isz = clattn__dtype_size(k->in_dt);
  const size_t ncache = (size_t)k->blocks * BS * H * D;
  const size_t nscale = (size_t)k->blocks * BS * H;
  tu_buf src[2], cache[2], scl[2], slots;
  float *x[2];
  float tscale[2];
  clattn_tensor t[2];
  clattn_cache c[2];
  for (int kv = 0; kv < 2; kv++) {
    ck_assert(!tu_buf_alloc(e, &src[kv], (size_t)T * H * D, isz));
    x[kv] = malloc(sizeof(float) * (size_t)T * H * D);
    for (size_t i = 0; i < src[kv].count; i++) {
      double v = tu_uniform(r, -4, 4);
      if (k->specials && k->in_dt == CLATTN_F32 && tu_int(r, 0, 40) == 0) {
        static const float sp[] = {INFINITY, -INFINITY, NAN, 1e6f, -1e6f};
        v = sp[tu_int(r, 0, 4)];
      }
      tu_store(src[kv].host, k->in_dt, i, v);
      x[kv][i] = (float)tu_load(src[kv].host, k->in_dt, i);
    }
    ck_assert(!tu_buf_upload(e, &src[kv]));
    t[kv] = tu_tensor(&src[kv], k->in_dt, (cl_long)H * D, D);
    ck_assert(!tu_buf_alloc(e, &cache[kv], ncache, 1));
    ck_assert(!tu_buf_poison(e, &cache[kv]));
    ck_assert(!tu_buf_alloc(e, &scl[kv], nscale, 4));
    ck_assert(!tu_buf_poison(e, &scl[kv]));
    tscale[kv] = tensor_scale(k->cache_dt, r);
    c[kv] =
        clattn__cache(cache[kv].mem, tu_off(&cache[kv]), (cl_long)BS * H * D,
                      k->hnd ? D : (cl_long)H * D, k->hnd ? (cl_long)BS * D : D,
                      k->cache_dt, BS, k->blocks);
    c[kv].scale_mode = k->mode;
    if (k->mode == CLATTN_SCALE_TENSOR) {
      c[kv].scale = tscale[kv];
    } else {
      c[kv].scales = tu_buffer(&scl[kv]);
      // Scales laid out [blocks, heads, block_size] here (HND-like) to
      // exercise the strides; the offset puts the tensor scale mid-buffer.
      c[kv].scale_stride_block = (cl_long)BS * H;
      c[kv].scale_stride_slot = 1;
      c[kv].scale_stride_head = BS;
      if (k->mode == CLATTN_SCALE_TENSOR_BUFFER) {
        c[kv].scales.offset += 3;
        memcpy(scl[kv].host + 3 * 4, &tscale[kv], 4);
        ck_assert(!tu_buf_upload(e, &scl[kv]));
      }
    }
  }
  // Slots: distinct, with padding (-1, other negatives) and past capacity.
  const int64_t cap = (int64_t)k->blocks * BS;
  ck_assert(!tu_buf_alloc(e, &slots, (size_t)T, 8));
  int64_t *sl = (int64_t *)slots.host;
  int64_t *perm = malloc(sizeof *perm * (size_t)cap);
  for (int64_t i = 0; i < cap; i++)
    perm[i] = i;
  for (int64_t i = cap - 1; i > 0; i--) {
    int64_t j = (int64_t)(tu_next(r) % (uint64_t)(i + 1)), tmp = perm[i];
    perm[i] = perm[j], perm[j] = tmp;
  }
  int n_bad = 0;
  for (int i = 0; i < T; i++) {
    const int roll = tu_int(r, 0, 9);
    if (roll == 0)
      sl[i] = -tu_int(r, 1, 5);
    else if (roll == 9)
      sl[i] = cap + tu_int(r, 0, 3), n_bad++;
    else
      sl[i] = i < cap ? perm[i] : -1;
  }
  free(perm);
  ck_assert(!tu_buf_upload(e, &slots));
  tu_buf status;
  ck_assert(!tu_buf_alloc(e, &status, 1, 4));
  ck_assert(!tu_buf_upload(e, &status));

  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_tokens = T;
  p.num_kv_heads = H;
  p.head_dim = D;
  p.status = tu_buffer(&status);
  clattn_status st =
      clattn_kv_write(e->cctx, e->queue, &p, &t[0], &t[1], tu_buffer(&slots),
                      &c[0], &c[1], 0, NULL, NULL);
  ck_assert_msg(st == CLATTN_SUCCESS, "%s: %s", variant_now,
                clattn_context_last_error(e->cctx));
  ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);

  for (int kv = 0; kv < 2; kv++) {
    // Expected images: poison, then each written row's codes and scale.
    unsigned char *img = malloc(ncache), *simg = malloc(nscale * 4);
    memset(img, TU_POISON_BYTE, ncache);
    memset(simg, TU_POISON_BYTE, nscale * 4);
    if (k->mode == CLATTN_SCALE_TENSOR_BUFFER)
      memcpy(simg + 3 * 4, &tscale[kv], 4);
    for (int i = 0; i < T; i++) {
      if (sl[i] < 0 || sl[i] >= cap)
        continue;
      const int64_t blk = sl[i] / BS, off = sl[i] % BS;
      for (int h = 0; h < H; h++) {
        const float *row = x[kv] + ((size_t)i * H + h) * D;
        float s = tscale[kv];
        if (k->mode == CLATTN_SCALE_TOKEN_HEAD) {
          s = ref_q_row_scale(k->cache_dt, row, D);
          memcpy(simg + 4 * (size_t)(blk * BS * H + h * BS + off), &s, 4);
        }
        for (int d = 0; d < D; d++) {
          const size_t ci =
              (size_t)(blk * c[kv].stride_block + off * c[kv].stride_slot +
                       h * c[kv].stride_head + d);
          img[ci] = ref_q_quantize(k->cache_dt, row[d], s);
        }
      }
    }
    ck_assert_msg(tu_buf_download(e, &cache[kv]) == 0, "%s: cache guard hit",
                  variant_now);
    ck_assert_msg(tu_buf_download(e, &scl[kv]) == 0, "%s: scales guard hit",
                  variant_now);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < ncache; i++)
      if (cache[kv].host[i] != img[i] && bad++ == 0)
        first = i;
    ck_assert_msg(bad == 0,
                  "%s %s: %zu codes differ (first at %zu: 0x%02x, want "
                  "0x%02x); %s %s->%s %s bs %d dim %d heads %d seed %llu",
                  variant_now, kv ? "value" : "key", bad, first,
                  cache[kv].host[first], img[first], mode_names[k->mode],
                  clattn_dtype_name(k->in_dt), clattn_dtype_name(k->cache_dt),
                  k->hnd ? "HND" : "NHD", BS, D, H,
                  (unsigned long long)tu_seed());
    for (size_t i = 0; i < nscale * 4; i++)
      if (scl[kv].host[i] != simg[i] && bad++ == 0)
        first = i;
    ck_assert_msg(bad == 0,
                  "%s %s: %zu scale bytes differ (first at byte %zu); %s %s "
                  "seed %llu",
                  variant_now, kv ? "value" : "key", bad, first,
                  mode_names[k->mode], clattn_dtype_name(k->cache_dt),
                  (unsigned long long)tu_seed());
    free(img);
    free(simg);
  }
  ck_assert(tu_buf_download(e, &status) == 0);
  ck_assert_uint_eq(*(uint32_t *)status.host,
                    n_bad ? (uint32_t)CLATTN_DEVICE_BAD_SLOT : 0u);
  for (int kv = 0; kv < 2; kv++) {
    ck_assert(tu_buf_download(e, &src[kv]) == 0);
    tu_buf_free(&src[kv]);
    tu_buf_free(&cache[kv]);
    tu_buf_free(&scl[kv]);
    free(x[kv]);
  }
  tu_buf_free(&slots);
  tu_buf_free(&status);
}

START_TEST(kv_write_codes_and_scales) {
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x5151);
  static const clattn_dtype ins[] = {CLATTN_F32, CLATTN_F16, CLATTN_BF16};
  static const int dims[] = {128, 13, 64, 80};
  int n = 0;
  for (int f = 0; f < 3; f++)
    for (int m = 0; m < 3; m++)
      for (int i = 0; i < 3; i++) {
        qkv_case k = {0};
        k.hnd = (f + m + i) & 1;
        k.bs = (int[]){1, 7, 16}[(f + i) % 3];
        k.dim = dims[(f + 2 * m + i) % 4];
        k.heads = tu_int(&r, 1, 3);
        k.tokens = tu_int(&r, 4, 24);
        k.blocks = (k.tokens + k.bs - 1) / k.bs + tu_int(&r, 0, 2);
        k.in_dt = ins[i];
        k.cache_dt = qdts[f];
        k.mode = modes[m];
        k.specials = i == 0;
        clattn_select_args a = {
            CLATTN_OP_KV_WRITE, k.dim, k.in_dt, k.cache_dt, 0, 0, 0, 0, 0};
        const char *names[8];
        const int nv = tu_eligible_variants(e, &a, names, 8);
        ck_assert_int_gt(nv, 0);
        for (int v = 0; v < nv; v++) {
          variant_now = names[v];
          tu_force_variant(e, CLATTN_OP_KV_WRITE, names[v]);
          run_kv(e, &k, &r);
          n++;
        }
      }
  tu_force_variant(e, CLATTN_OP_KV_WRITE, NULL);
  printf("kv_write quantized: %d runs (formats x scale modes x input dtypes "
         "x variants)\n",
         n);
}
END_TEST

// ---- paged_attention over quantized caches ----------------------------------
// Two references in double: (A) on the dequantized cache, where only the
// kernel's f32 arithmetic differs, so the float-cache tolerance applies; (B)
// on the unquantized K/V, within the bound of docs/quantized-kv.md:
//   |out - ref| <= (exp(2 Delta) - 1) max_j |v~_jd| + max_j e_v(j, d)
// with Delta = scale * max_j sum_d |q_d| e_k(j, d), e(x) the element error
// bound: 2^-(m+1) |x| + s * 2^(emin-m-1) for FP8 (m mantissa bits), s / 2
// for I8 (s the element's scale). Softcap (1-Lipschitz) and sinks (an
// unperturbed term of the denominator) keep the bound.
// pad: cache elements after each (token, head) row of dim (strides of dim
// + pad; the padding holds NaN codes). extras: 1 softcap 8, 2 sinks.
typedef struct qpa_case {
  const char *name;
  clattn_dtype cache_dt, q_dt;
  int mode, hnd, bs, dim, heads, kv_heads, batch, max_q, max_k, splits;
  int pad, extras;
} qpa_case;

static double elem_err(int dt, double x, double s) {
  if (dt == CLATTN_I8)
    return 0.5 * s;
  const int m = dt == CLATTN_FP8_E4M3 ? 3 : 2;
  const int emin = dt == CLATTN_FP8_E4M3 ? -6 : -14;
  return ldexp(fabs(x), -(m + 1)) + s * ldexp(1.0, emin - m - 1);
}

static void run_qpa(tu_env *e, const qpa_case *c, tu_rng *r, double *worst_a,
                    double *worst_b) {
  const int B = c->batch, H = c->heads, KH = c->kv_heads, D = c->dim,
            BS = c->bs, PD = c->dim + c->pad;
  int *cu_q = malloc(sizeof(int) * (size_t)(B + 1)),
      *cu_k = malloc(sizeof(int) * (size_t)(B + 1)),
      *klen = malloc(sizeof(int) * (size_t)B);
  cu_q[0] = cu_k[0] = 0;
  int max_q = 0, max_k = 0, max_blocks = 1;
  for (int s = 0; s < B; s++) {
    const int ql = tu_int(r, 1, c->max_q);
    const int kl = ql + tu_int(r, 0, c->max_k - ql);
    cu_q[s + 1] = cu_q[s] + ql;
    cu_k[s + 1] = cu_k[s] + kl;
    klen[s] = kl;
    max_q = ql > max_q ? ql : max_q;
    max_k = kl > max_k ? kl : max_k;
    const int nb = (kl + BS - 1) / BS;
    max_blocks = nb > max_blocks ? nb : max_blocks;
  }
  const int TQ = cu_q[B], TK = cu_k[B];
  const int NB = B * max_blocks + 2;
  // Original K/V (f32), codes and scales; gathered per sequence for the refs.
  const size_t nkv = (size_t)TK * KH * D;
  double *k0 = malloc(sizeof(double) * nkv), *v0 = malloc(sizeof(double) * nkv);
  double *kq = malloc(sizeof(double) * nkv), *vq = malloc(sizeof(double) * nkv);
  double *ek = malloc(sizeof(double) * nkv), *ev = malloc(sizeof(double) * nkv);
  tu_buf bq, bo, bkc, bvc, bks, bvs, bcq, bsk, bbt;
  const size_t ncache = (size_t)NB * BS * KH * PD,
               nscale = (size_t)NB * BS * KH;
  ck_assert(!tu_buf_alloc(e, &bkc, ncache, 1));
  ck_assert(!tu_buf_alloc(e, &bvc, ncache, 1));
  memset(bkc.host, 0x7f, ncache); // unused slots: NaN / max codes
  memset(bvc.host, 0x7f, ncache);
  ck_assert(!tu_buf_alloc(e, &bks, nscale, 4));
  ck_assert(!tu_buf_alloc(e, &bvs, nscale, 4));
  for (size_t i = 0; i < nscale; i++) { // unused scales: NaN
    memset(bks.host + 4 * i, 0xff, 4);
    memset(bvs.host + 4 * i, 0xff, 4);
  }
  // |x| <= 1 stays below max * 0.8 / 1.4: no saturation.
  const float ts[2] = {tensor_scale(c->cache_dt, r) * 0.5f,
                       tensor_scale(c->cache_dt, r) * 0.5f};
  if (c->mode == CLATTN_SCALE_TENSOR_BUFFER) {
    memcpy(bks.host, &ts[0], 4);
    memcpy(bvs.host, &ts[1], 4);
  }
  const cl_long sb = (cl_long)BS * KH * PD, ss = c->hnd ? PD : (cl_long)KH * PD,
                sh = c->hnd ? (cl_long)BS * PD : PD;
  // Block table: a random permutation of the pages.
  int *perm = malloc(sizeof(int) * (size_t)NB);
  for (int i = 0; i < NB; i++)
    perm[i] = i;
  for (int i = NB - 1; i > 0; i--) {
    const int j = tu_int(r, 0, i), t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  ck_assert(!tu_buf_alloc(e, &bbt, (size_t)B * max_blocks, 4));
  int *bt = (int *)bbt.host;
  for (int s = 0; s < B; s++)
    for (int b = 0; b < max_blocks; b++)
      bt[s * max_blocks + b] = perm[s * max_blocks + b];
  free(perm);
  float row[256];
  for (int s = 0; s < B; s++)
    for (int j = 0; j < klen[s]; j++) {
      const int blk = bt[s * max_blocks + j / BS], off = j % BS;
      for (int h = 0; h < KH; h++)
        for (int kv = 0; kv < 2; kv++) {
          const size_t gi = ((size_t)(cu_k[s] + j) * KH + h) * D;
          double *orig = kv ? v0 : k0, *deq = kv ? vq : kq, *err = kv ? ev : ek;
          unsigned char *codes = kv ? bvc.host : bkc.host;
          unsigned char *sc = kv ? bvs.host : bks.host;
          for (int d = 0; d < D; d++) {
            double x;
            do
              x = tu_uniform(r, -1, 1);
            while (fabs(x) < 1e-3);
            row[d] = (float)x;
          }
          float scale = ts[kv];
          if (c->mode == CLATTN_SCALE_TOKEN_HEAD) {
            scale = ref_q_row_scale(c->cache_dt, row, D);
            memcpy(sc + 4 * ((size_t)blk * BS * KH + (size_t)off * KH + h),
                   &scale, 4);
          }
          for (int d = 0; d < D; d++) {
            const uint8_t code = ref_q_quantize(c->cache_dt, row[d], scale);
            codes[(size_t)(blk * sb + off * ss + h * sh + d)] = code;
            orig[gi + d] = row[d];
            deq[gi + d] = ref_q_decode(c->cache_dt, code) * (double)scale;
            err[gi + d] = elem_err(c->cache_dt, row[d], scale);
          }
        }
    }
  ck_assert(!tu_buf_upload(e, &bkc));
  ck_assert(!tu_buf_upload(e, &bvc));
  ck_assert(!tu_buf_upload(e, &bks));
  ck_assert(!tu_buf_upload(e, &bvs));
  ck_assert(!tu_buf_upload(e, &bbt));

  const size_t nq = (size_t)TQ * H * D;
  const size_t qsz = clattn__dtype_size(c->q_dt);
  ck_assert(!tu_buf_alloc(e, &bq, nq, qsz));
  double *q = malloc(sizeof(double) * nq);
  for (size_t i = 0; i < nq; i++) {
    tu_store(bq.host, c->q_dt, i, tu_uniform(r, -1, 1));
    q[i] = tu_load(bq.host, c->q_dt, i);
  }
  ck_assert(!tu_buf_upload(e, &bq));
  ck_assert(!tu_buf_alloc(e, &bo, nq, qsz));
  ck_assert(!tu_buf_alloc(e, &bcq, (size_t)B + 1, 4));
  memcpy(bcq.host, cu_q, sizeof(int) * (size_t)(B + 1));
  ck_assert(!tu_buf_upload(e, &bcq));
  ck_assert(!tu_buf_alloc(e, &bsk, (size_t)B, 4));
  memcpy(bsk.host, klen, sizeof(int) * (size_t)B);
  ck_assert(!tu_buf_upload(e, &bsk));

  clattn_cache kc =
      clattn__cache(bkc.mem, tu_off(&bkc), sb, ss, sh, c->cache_dt, BS, NB);
  clattn_cache vc;
  kc.scale_mode = c->mode;
  kc.scale = ts[0];
  kc.scales = tu_buffer(&bks);
  kc.scale_stride_block = (cl_long)BS * KH;
  kc.scale_stride_slot = KH;
  kc.scale_stride_head = 1;
  vc = kc;
  vc.buffer = bvc.mem;
  vc.offset = tu_off(&bvc);
  vc.scale = ts[1];
  vc.scales = tu_buffer(&bvs);

  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  p.batch = B;
  p.num_heads = H;
  p.num_kv_heads = KH;
  p.head_dim = D;
  p.total_q = TQ;
  p.max_seqlen_q = max_q;
  p.max_seqlen_k = max_k;
  p.causal = 1;
  p.max_blocks_per_seq = max_blocks;
  p.block_table_stride = max_blocks;
  p.num_splits = c->splits;
  double sinks[64];
  tu_buf bsn;
  ck_assert(H <= 64 && !tu_buf_alloc(e, &bsn, (size_t)H, 4));
  for (int h = 0; h < H; h++) {
    const float x = (float)tu_uniform(r, -1, 3);
    memcpy(bsn.host + 4 * (size_t)h, &x, 4);
    sinks[h] = x;
  }
  ck_assert(!tu_buf_upload(e, &bsn));
  if (c->extras & 1)
    p.softcap = 8.0f;
  if (c->extras & 2)
    p.sinks = tu_buffer(&bsn);
  ck_assert(!tu_buf_poison(e, &bo));
  clattn_tensor tq = tu_tensor(&bq, c->q_dt, (cl_long)H * D, D),
                to = tu_tensor(&bo, c->q_dt, (cl_long)H * D, D);
  clattn_status st = clattn_paged_attention(
      e->cctx, e->queue, &p, &tq, &kc, &vc, tu_buffer(&bcq), tu_buffer(&bsk),
      tu_buffer(&bbt), &to, NULL, 0, NULL, NULL);
  ck_assert_msg(st == CLATTN_SUCCESS, "%s %s: %s", c->name, variant_now,
                clattn_context_last_error(e->cctx));
  ck_assert_int_eq(clFinish(e->queue), CL_SUCCESS);
  ck_assert_msg(tu_buf_download(e, &bo) == 0, "%s: out guard hit", c->name);
  ck_assert(tu_buf_download(e, &bkc) == 0 && tu_buf_download(e, &bvc) == 0);
  ck_assert(tu_buf_download(e, &bks) == 0 && tu_buf_download(e, &bvs) == 0);

  double *ra = malloc(sizeof(double) * nq), *rb = malloc(sizeof(double) * nq);
  const double smx = 1.0 / sqrt((double)D);
  ref_attn_problem rp = {B,    H,
                         KH,   D,
                         cu_q, cu_k,
                         q,    kq,
                         vq,   smx,
                         1,    -1,
                         -1,   c->extras & 1 ? 8.0 : 0.0,
                         NULL, c->extras & 2 ? sinks : NULL};
  ref_attention(&rp, ra, NULL);
  rp.k = k0;
  rp.v = v0;
  ref_attention(&rp, rb, NULL);
  const tu_tol tol = tu_out_tol(c->q_dt, max_k);
  const int G = H / KH;
  for (int s = 0; s < B; s++)
    for (int t = cu_q[s]; t < cu_q[s + 1]; t++)
      for (int h = 0; h < H; h++) {
        // The bound of reference B for this row: Delta over the keys the row
        // sees (all keys up to its causal position).
        const int kh = h / G, ql = cu_q[s + 1] - cu_q[s];
        const int pos = (t - cu_q[s]) + klen[s] - ql;
        double delta = 0.0;
        for (int j = 0; j <= pos; j++) {
          double sum = 0.0;
          for (int d = 0; d < D; d++)
            sum += fabs(q[((size_t)t * H + h) * D + d]) *
                   ek[((size_t)(cu_k[s] + j) * KH + kh) * D + d];
          delta = fmax(delta, smx * sum);
        }
        for (int d = 0; d < D; d++) {
          double vmax = 0.0, evmax = 0.0;
          for (int j = 0; j <= pos; j++) {
            const size_t gi = ((size_t)(cu_k[s] + j) * KH + kh) * D + d;
            vmax = fmax(vmax, fabs(vq[gi]));
            evmax = fmax(evmax, ev[gi]);
          }
          const size_t oi = ((size_t)t * H + h) * D + d;
          const double got = tu_load(bo.host, c->q_dt, oi);
          const double ea = fabs(got - ra[oi]);
          const double ta = tol.atol + tol.rtol * fabs(ra[oi]);
          const double bound = expm1(2.0 * delta) * vmax + evmax + ta;
          const double eb = fabs(got - rb[oi]);
          ck_assert_msg(ea <= ta,
                        "%s %s: out[%d,%d,%d] = %.9g, dequantized reference "
                        "%.9g (err %.3g > tol %.3g) seed %llu",
                        c->name, variant_now, t, h, d, got, ra[oi], ea, ta,
                        (unsigned long long)tu_seed());
          ck_assert_msg(eb <= bound,
                        "%s %s: out[%d,%d,%d] = %.9g, unquantized reference "
                        "%.9g (err %.3g > bound %.3g) seed %llu",
                        c->name, variant_now, t, h, d, got, rb[oi], eb, bound,
                        (unsigned long long)tu_seed());
          *worst_a = fmax(*worst_a, ea / ta);
          *worst_b = fmax(*worst_b, eb / bound);
        }
      }
  free(ra);
  free(rb);
  free(q);
  free(k0);
  free(v0);
  free(kq);
  free(vq);
  free(ek);
  free(ev);
  free(cu_q);
  free(cu_k);
  free(klen);
  tu_buf *bufs[] = {&bq, &bo, &bkc, &bvc, &bks, &bvs, &bcq, &bsk, &bbt, &bsn};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    tu_buf_free(bufs[i]);
}

static const qpa_case qpa_cases[] = {
    // name, cache, q, mode, hnd, bs, dim, heads, kv_heads, batch, max_q,
    // max_k, splits, pad, extras
    {"e4m3 tensor decode", CLATTN_FP8_E4M3, CLATTN_F32, 0, 0, 16, 128, 8, 2, 4,
     1, 300, 0, 0, 0},
    {"e4m3 token-head prefill", CLATTN_FP8_E4M3, CLATTN_F16, 2, 1, 7, 64, 4, 4,
     3, 20, 90, 1, 0, 0},
    {"e4m3 buffer split", CLATTN_FP8_E4M3, CLATTN_F32, 1, 0, 16, 80, 6, 2, 2, 3,
     400, 4, 0, 0},
    {"e5m2 tensor", CLATTN_FP8_E5M2, CLATTN_F32, 0, 1, 16, 128, 4, 1, 3, 4, 200,
     1, 0, 0},
    {"e5m2 token-head decode", CLATTN_FP8_E5M2, CLATTN_BF16, 2, 0, 32, 256, 8,
     2, 3, 1, 260, 0, 0, 0},
    {"e5m2 buffer", CLATTN_FP8_E5M2, CLATTN_F32, 1, 0, 1, 32, 2, 1, 2, 6, 40, 1,
     0, 0},
    {"i8 tensor", CLATTN_I8, CLATTN_F32, 0, 0, 16, 64, 8, 8, 2, 9, 120, 0, 0,
     0},
    {"i8 token-head decode split", CLATTN_I8, CLATTN_F32, 2, 1, 16, 128, 16, 2,
     2, 1, 600, 3, 0, 0},
    {"i8 buffer", CLATTN_I8, CLATTN_F16, 1, 1, 5, 13, 3, 1, 3, 5, 60, 0, 0, 0},
    // Decode shapes of the NVIDIA `_q8` rows (16-bit q, head_dim % 8 == 0,
    // per-tensor scales, max_q x group <= 16 or 8); elsewhere portable rows.
    {"e4m3 tensor decode f16 gqa4", CLATTN_FP8_E4M3, CLATTN_F16, 0, 0, 16, 128,
     32, 8, 3, 1, 700, 0, 0, 0},
    {"e5m2 buffer decode bf16 d64 split", CLATTN_FP8_E5M2, CLATTN_BF16, 1, 1,
     16, 64, 16, 2, 2, 1, 500, 3, 0, 0},
    {"i8 tensor spec f16 d96", CLATTN_I8, CLATTN_F16, 0, 0, 16, 96, 8, 4, 3, 3,
     300, 0, 0, 0},
    {"e4m3 buffer bf16 g16 split", CLATTN_FP8_E4M3, CLATTN_BF16, 1, 1, 16, 128,
     16, 1, 2, 1, 260, 2, 0, 0},
    {"i8 tensor f16 d40 page 7", CLATTN_I8, CLATTN_F16, 0, 0, 7, 40, 4, 2, 2, 2,
     150, 0, 0, 0},
    {"e5m2 tensor bf16 spec page 32", CLATTN_FP8_E5M2, CLATTN_BF16, 0, 0, 32,
     128, 8, 2, 2, 2, 400, 0, 0, 0},
    {"e5m2 tensor f16 decode gqa8", CLATTN_FP8_E5M2, CLATTN_F16, 0, 0, 16, 128,
     16, 2, 2, 1, 300, 0, 0, 0},
    {"i8 buffer bf16 decode d64", CLATTN_I8, CLATTN_BF16, 1, 0, 16, 64, 8, 2, 2,
     1, 200, 0, 0, 0},
    // Chunked prefill (more than 16 rows per KV head): the 64-row `_q8` rows.
    {"e4m3 tensor prefill f16", CLATTN_FP8_E4M3, CLATTN_F16, 0, 0, 16, 128, 8,
     2, 2, 40, 300, 0, 0, 0},
    {"i8 buffer prefill bf16 d64 split", CLATTN_I8, CLATTN_BF16, 1, 1, 16, 64,
     8, 4, 2, 24, 200, 2, 0, 0},
    {"e5m2 tensor prefill f16 d72 page 5", CLATTN_FP8_E5M2, CLATTN_F16, 0, 0, 5,
     72, 4, 1, 2, 30, 130, 0, 0, 0},
    // Rows padded to 16-byte strides with head_dim % 16 == 8 (the `_q8`
    // rows' zero-filled half chunk by cp.async; the padding is NaN codes),
    // and softcap and sinks.
    {"e4m3 tensor f16 d40 pitch 48 softcap sinks", CLATTN_FP8_E4M3, CLATTN_F16,
     0, 0, 16, 40, 8, 2, 2, 1, 200, 0, 8, 3},
    {"i8 buffer prefill bf16 d72 pitch 80 softcap", CLATTN_I8, CLATTN_BF16, 1,
     1, 16, 72, 4, 2, 2, 20, 150, 2, 8, 1},
    {"e5m2 tensor f16 decode sinks split", CLATTN_FP8_E5M2, CLATTN_F16, 0, 0,
     16, 128, 16, 2, 2, 1, 400, 3, 0, 2},
};

START_TEST(paged_attention_quantized) {
  tu_env *e = tu_env_get();
  const qpa_case *c = &qpa_cases[_i];
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ (0x7a7a + (uint64_t)_i));
  clattn_select_args a = {CLATTN_OP_PAGED_ATTENTION,
                          c->dim,
                          c->q_dt,
                          c->cache_dt,
                          c->max_q,
                          c->heads / c->kv_heads,
                          0,
                          (long)c->batch * c->kv_heads,
                          c->mode == CLATTN_SCALE_TOKEN_HEAD};
  const char *names[32];
  const int nv = tu_eligible_variants(e, &a, names, 32);
  ck_assert_int_gt(nv, 0);
  for (int v = 0; v < nv; v++) {
    double wa = 0.0, wb = 0.0;
    variant_now = names[v];
    tu_force_variant(e, CLATTN_OP_PAGED_ATTENTION, names[v]);
    run_qpa(e, c, &r, &wa, &wb);
    printf("%-28s %-30s max err / tol: dequantized ref %.3f, unquantized ref "
           "%.3f of the bound\n",
           c->name, names[v], wa, wb);
  }
  tu_force_variant(e, CLATTN_OP_PAGED_ATTENTION, NULL);
}
END_TEST

// ---- argument validation
// -----------------------------------------------------
static void want_bad(tu_env *e, clattn_status got, clattn_status want,
                     const char *needle, const char *what) {
  ck_assert_msg(got == want, "%s: status %d (%s), want %d", what, got,
                clattn_status_string(got), want);
  const char *msg = clattn_context_last_error(e->cctx);
  ck_assert_msg(strstr(msg, needle), "%s: message '%s' does not name '%s'",
                what, msg, needle);
}

START_TEST(bad_scale_arguments) {
  tu_env *e = tu_env_get();
  const clattn_status INV = CLATTN_ERROR_INVALID_ARGUMENT,
                      SMALL = CLATTN_ERROR_BUFFER_TOO_SMALL;
  const int H = 2, D = 8, BS = 4, NB = 2, T = 3;
  tu_buf src, kc, sc, slots, q, out, cu, sk, bt;
  ck_assert(!tu_buf_alloc(e, &src, (size_t)T * H * D, 4));
  for (size_t i = 0; i < src.count; i++)
    tu_store(src.host, CLATTN_F32, i, 0.25 * (double)(i % 7) - 0.7);
  ck_assert(!tu_buf_upload(e, &src));
  ck_assert(!tu_buf_alloc(e, &kc, (size_t)NB * BS * H * D, 1));
  ck_assert(!tu_buf_poison(e, &kc));
  ck_assert(!tu_buf_alloc(e, &sc, (size_t)NB * BS * H, 4));
  ck_assert(!tu_buf_poison(e, &sc));
  ck_assert(!tu_buf_alloc(e, &slots, T, 8));
  for (int i = 0; i < T; i++)
    ((int64_t *)slots.host)[i] = i;
  ck_assert(!tu_buf_upload(e, &slots));
  clattn_tensor key = tu_tensor(&src, CLATTN_F32, (cl_long)H * D, D);
  clattn_cache good = clattn__cache(kc.mem, tu_off(&kc), (cl_long)BS * H * D,
                                    (cl_long)H * D, D, CLATTN_FP8_E4M3, BS, NB);
  good.scale_mode = CLATTN_SCALE_TOKEN_HEAD;
  good.scales = tu_buffer(&sc);
  good.scale_stride_block = (cl_long)BS * H;
  good.scale_stride_slot = H;
  good.scale_stride_head = 1;
  clattn_kv_write_params kp = CLATTN_KV_WRITE_PARAMS_INIT;
  kp.num_tokens = T;
  kp.num_kv_heads = H;
  kp.head_dim = D;
  // paged_attention over the same cache: one sequence of T keys.
  ck_assert(!tu_buf_alloc(e, &q, (size_t)H * D, 4));
  ck_assert(!tu_buf_upload(e, &q));
  ck_assert(!tu_buf_alloc(e, &out, (size_t)H * D, 4));
  ck_assert(!tu_buf_poison(e, &out));
  ck_assert(!tu_buf_alloc(e, &cu, 2, 4));
  ((int *)cu.host)[1] = 1;
  ck_assert(!tu_buf_upload(e, &cu));
  ck_assert(!tu_buf_alloc(e, &sk, 1, 4));
  ((int *)sk.host)[0] = T;
  ck_assert(!tu_buf_upload(e, &sk));
  ck_assert(!tu_buf_alloc(e, &bt, 1, 4));
  ck_assert(!tu_buf_upload(e, &bt));
  clattn_tensor tq = tu_tensor(&q, CLATTN_F32, (cl_long)H * D, D),
                to = tu_tensor(&out, CLATTN_F32, (cl_long)H * D, D);
  clattn_attention_params ap = CLATTN_ATTENTION_PARAMS_INIT;
  ap.batch = 1;
  ap.num_heads = H;
  ap.num_kv_heads = H;
  ap.head_dim = D;
  ap.total_q = 1;
  ap.max_seqlen_q = 1;
  ap.max_seqlen_k = T;
  ap.max_blocks_per_seq = 1;
  ap.block_table_stride = 1;

  typedef struct bad_case {
    const char *what, *needle;
    clattn_status want;
    int field; // which change
    double val;
  } bad_case;
  const bad_case cases[] = {
      {"scale_mode 3", "key_cache scale_mode", INV, 0, 3},
      {"scale_mode -1", "key_cache scale_mode", INV, 0, -1},
      {"NaN tensor scale", "key_cache scale", INV, 1, NAN},
      {"inf tensor scale", "key_cache scale", INV, 1, INFINITY},
      {"negative tensor scale", "key_cache scale", INV, 1, -0.5},
      {"subnormal tensor scale", "key_cache scale", INV, 1, 1e-40},
      {"f16 scale dtype", "key_cache scale_dtype", INV, 2, CLATTN_F16},
      {"NULL scales", "key_cache scales", INV, 3, 0},
      {"token-head scales past the buffer", "key_cache scales", SMALL, 4, 0},
      {"tensor-buffer scale past the buffer", "key_cache scales", SMALL, 5, 0},
      {"negative scale stride", "key_cache scales", INV, 6, 0},
      {"token-head mode on an f32 cache", "key_cache scale_mode", INV, 7, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad_case *b = &cases[i];
    clattn_cache c = good;
    switch (b->field) {
    case 0: c.scale_mode = (cl_int)b->val; break;
    case 1:
      c.scale_mode = CLATTN_SCALE_TENSOR;
      c.scale = (float)b->val;
      break;
    case 2: c.scale_dtype = (clattn_dtype)(int)b->val; break;
    case 3: c.scales.buffer = NULL; break;
    case 4: c.scale_stride_head = 1 << 12; break;
    case 5:
      c.scale_mode = CLATTN_SCALE_TENSOR_BUFFER;
      c.scales.offset = sc.count + 2 * TU_GUARD;
      break;
    case 6: c.scale_stride_slot = -1; break;
    default: // an f32 cache of one one-slot block fits the buffer
      c.dtype = CLATTN_F32;
      c.offset = 0;
      c.num_blocks = 1;
      c.block_size = 1;
      break;
    }
    want_bad(e,
             clattn_kv_write(e->cctx, e->queue, &kp, &key, NULL,
                             tu_buffer(&slots), &c, NULL, 0, NULL, NULL),
             b->want, b->needle, b->what);
    want_bad(e,
             clattn_paged_attention(e->cctx, e->queue, &ap, &tq, &c, &c,
                                    tu_buffer(&cu), tu_buffer(&sk),
                                    tu_buffer(&bt), &to, NULL, 0, NULL, NULL),
             b->want, b->needle, b->what);
    // The value cache is named as such.
    clattn_cache vgood = good;
    vgood.scale_mode = CLATTN_SCALE_TENSOR;
    if (b->field != 7) {
      want_bad(e,
               clattn_paged_attention(e->cctx, e->queue, &ap, &tq, &vgood, &c,
                                      tu_buffer(&cu), tu_buffer(&sk),
                                      tu_buffer(&bt), &to, NULL, 0, NULL, NULL),
               b->want, "value_cache", b->what);
    }
  }
  // Nothing was written by the rejected calls.
  ck_assert(clFinish(e->queue) == CL_SUCCESS);
  ck_assert(tu_buf_download(e, &kc) == 0 && tu_buf_download(e, &sc) == 0 &&
            tu_buf_download(e, &out) == 0);
  for (size_t i = 0; i < kc.count; i++)
    ck_assert_msg(kc.host[i] == TU_POISON_BYTE, "cache byte %zu written", i);
  for (size_t i = 0; i < sc.count * 4; i++)
    ck_assert_msg(sc.host[i] == TU_POISON_BYTE, "scale byte %zu written", i);
  for (size_t i = 0; i < out.count * 4; i++)
    ck_assert_msg(out.host[i] == TU_POISON_BYTE, "out byte %zu written", i);
  // The good descriptor passes (and writes).
  ck_assert_int_eq(clattn_kv_write(e->cctx, e->queue, &kp, &key, NULL,
                                   tu_buffer(&slots), &good, NULL, 0, NULL,
                                   NULL),
                   CLATTN_SUCCESS);
  ck_assert(clFinish(e->queue) == CL_SUCCESS);
  tu_buf *bufs[] = {&src, &kc, &sc, &slots, &q, &out, &cu, &sk, &bt};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    tu_buf_free(bufs[i]);
}
END_TEST

int main(void) {
  Suite *s = suite_create("quant");
  TCase *conv = tcase_create("conversions");
  tcase_set_timeout(conv, 600);
  tcase_add_test(conv, decode_all_codes);
  tcase_add_test(conv, encode_random_and_boundaries);
  tcase_add_test(conv, reciprocal_correctly_rounded);
  suite_add_tcase(s, conv);
  TCase *kv = tcase_create("kv_write");
  tcase_set_timeout(kv, 900);
  tcase_add_test(kv, kv_write_codes_and_scales);
  suite_add_tcase(s, kv);
  TCase *pa = tcase_create("paged_attention");
  tcase_set_timeout(pa, 1200);
  tcase_add_loop_test(pa, paged_attention_quantized, 0,
                      (int)(sizeof qpa_cases / sizeof qpa_cases[0]));
  suite_add_tcase(s, pa);
  TCase *args = tcase_create("args");
  tcase_add_test(args, bad_scale_arguments);
  suite_add_tcase(s, args);
  return tu_run_suite(s);
}
