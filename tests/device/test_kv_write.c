// SPDX-License-Identifier: Apache-2.0
// Device tests of clattn_kv_write: every eligible variant over NHD, HND and
// the combined vLLM view, dtype pairs, block sizes, head dims, padding and
// out-of-range slots; the whole cache image is compared byte for byte.
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NHD, HND, COMBINED };
static const char *const layout_names[] = {"NHD", "HND", "combined"};

typedef struct kv_case {
  int layout, bs, dim, heads, tokens, blocks;
  clattn_dtype in_dt, cache_dt;
  int bad_slots; // also write slots >= capacity
  int key_only;
  int skew_src, skew_cache; // extra element offsets: rows off 16-byte bounds
} kv_case;

typedef struct kv_fixture {
  tu_buf qkv, kc, vc, slots, status;
  clattn_tensor key, value;
  clattn_cache kcache, vcache;
  int64_t *slot_host;
} kv_fixture;

static void set_cache(clattn_cache *c, const kv_case *k, const tu_buf *b,
                      int is_value) {
  const cl_long H = k->heads, D = k->dim, BS = k->bs;
  memset(c, 0, sizeof *c);
  c->buffer = b->mem;
  c->offset = tu_off(b);
  c->dtype = k->cache_dt;
  c->block_size = k->bs;
  c->num_blocks = k->blocks;
  switch (k->layout) {
  case NHD:
    c->stride_block = BS * H * D, c->stride_slot = H * D, c->stride_head = D;
    break;
  case HND:
    c->stride_block = H * BS * D, c->stride_head = BS * D, c->stride_slot = D;
    break;
  default: // [blocks, 2, bs, heads, dim], value half after the key half
    c->stride_block = 2 * BS * H * D, c->stride_slot = H * D,
    c->stride_head = D;
    c->offset += is_value ? (cl_ulong)(BS * H * D) : 0;
  }
}

static size_t cache_elems(const kv_case *k) {
  size_t per = (size_t)k->blocks * k->bs * k->heads * k->dim;
  return k->layout == COMBINED ? 2 * per : per;
}

// Expected host image of one cache: poison, plus each valid row converted.
static void expect_cache(unsigned char *img, const kv_case *k,
                         const clattn_cache *c, cl_ulong base_off,
                         const tu_buf *qkv, const clattn_tensor *src,
                         const int64_t *slots) {
  size_t esz = clattn__dtype_size(k->cache_dt);
  int64_t cap = (int64_t)k->blocks * k->bs;
  for (int t = 0; t < k->tokens; t++) {
    int64_t s = slots[t];
    if (s < 0 || s >= cap)
      continue;
    int64_t blk = s / k->bs, off = s % k->bs;
    for (int h = 0; h < k->heads; h++)
      for (int d = 0; d < k->dim; d++) {
        size_t si = (size_t)(src->offset - tu_off(qkv)) +
                    (size_t)(t * src->stride[0] + h * src->stride[1] + d);
        size_t di = (size_t)(c->offset - base_off) +
                    (size_t)(blk * c->stride_block + off * c->stride_slot +
                             h * c->stride_head + d);
        if (k->in_dt == k->cache_dt)
          memcpy(img + di * esz, qkv->host + si * esz, esz);
        else
          tu_store(img, k->cache_dt, di, tu_load(qkv->host, k->in_dt, si));
      }
  }
}

static const char *variant_now;

static void run_case(tu_env *e, const kv_case *k, tu_rng *r) {
  const int H = k->heads, D = k->dim, T = k->tokens, HQ = 2;
  const cl_long row = (cl_long)(HQ + 2 * H) * D; // fused qkv row
  kv_fixture f;
  memset(&f, 0, sizeof f);
  size_t in_sz = clattn__dtype_size(k->in_dt),
         c_sz = clattn__dtype_size(k->cache_dt);
  ck_assert(!tu_buf_alloc(e, &f.qkv, (size_t)T * row + 1 + (size_t)k->skew_src,
                          in_sz));
  for (size_t i = 0; i < f.qkv.count; i++)
    tu_store(f.qkv.host, k->in_dt, i, tu_uniform(r, -4, 4));
  ck_assert(!tu_buf_upload(e, &f.qkv));
  f.key = tu_tensor(&f.qkv, k->in_dt, row, D);
  f.key.offset += (cl_ulong)HQ * D + (cl_ulong)k->skew_src;
  f.value = f.key;
  f.value.offset += (cl_ulong)H * D;

  size_t ce = cache_elems(k) + (size_t)k->skew_cache;
  ck_assert(!tu_buf_alloc(e, &f.kc, ce, c_sz));
  ck_assert(!tu_buf_poison(e, &f.kc));
  tu_buf *vbuf = &f.kc;
  if (k->layout != COMBINED) {
    ck_assert(!tu_buf_alloc(e, &f.vc, ce, c_sz));
    ck_assert(!tu_buf_poison(e, &f.vc));
    vbuf = &f.vc;
  }
  set_cache(&f.kcache, k, &f.kc, 0);
  set_cache(&f.vcache, k, vbuf, 1);
  f.kcache.offset += (cl_ulong)k->skew_cache;
  f.vcache.offset += (cl_ulong)k->skew_cache;

  // Distinct random slots; about a fifth padding, some past capacity.
  int64_t cap = (int64_t)k->blocks * k->bs;
  ck_assert(!tu_buf_alloc(e, &f.slots, (size_t)T, 8));
  int64_t *slots = (int64_t *)f.slots.host;
  int64_t *perm = malloc((size_t)cap * sizeof *perm);
  for (int64_t i = 0; i < cap; i++)
    perm[i] = i;
  for (int64_t i = cap - 1; i > 0; i--) {
    int64_t j = (int64_t)(tu_next(r) % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j], perm[j] = t;
  }
  int n_bad = 0;
  for (int t = 0; t < T; t++) {
    int roll = tu_int(r, 0, 9);
    if (roll < 2)
      slots[t] = roll ? -1 : -tu_int(r, 2, 1000);
    else if (k->bad_slots && roll == 9) {
      slots[t] = (n_bad & 1) ? INT64_MAX : cap + tu_int(r, 0, 3);
      n_bad++;
    } else if (t < cap) {
      slots[t] = perm[t]; // distinct: two tokens never share a slot
    } else {
      slots[t] = -1;
    }
  }
  free(perm);
  ck_assert(!tu_buf_upload(e, &f.slots));
  ck_assert(!tu_buf_alloc(e, &f.status, 1, 4));
  ck_assert(!tu_buf_upload(e, &f.status)); // host calloc'd: zero

  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_tokens = T;
  p.num_kv_heads = H;
  p.head_dim = D;
  p.status = tu_buffer(&f.status);
  cl_event ev = NULL;
  clattn_status st =
      clattn_kv_write(e->cctx, e->queue, &p, &f.key,
                      k->key_only ? NULL : &f.value, tu_buffer(&f.slots),
                      &f.kcache, k->key_only ? NULL : &f.vcache, 0, NULL, &ev);
  ck_assert_msg(st == CLATTN_SUCCESS, "%s: %s", variant_now,
                clattn_context_last_error(e->cctx));
  ck_assert_ptr_nonnull(ev);
  ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
  clReleaseEvent(ev);

  unsigned char *kimg = malloc(ce * c_sz), *vimg = malloc(ce * c_sz);
  memset(kimg, TU_POISON_BYTE, ce * c_sz);
  memset(vimg, TU_POISON_BYTE, ce * c_sz);
  expect_cache(kimg, k, &f.kcache, tu_off(&f.kc), &f.qkv, &f.key, slots);
  if (!k->key_only)
    expect_cache(k->layout == COMBINED ? kimg : vimg, k, &f.vcache,
                 tu_off(vbuf), &f.qkv, &f.value, slots);
  ck_assert_msg(tu_buf_download(e, &f.kc) == 0, "%s: key cache guard hit",
                variant_now);
  size_t diff = 0, first = (size_t)-1;
  for (size_t i = 0; i < ce * c_sz; i++)
    if (f.kc.host[i] != kimg[i]) {
      diff++;
      if (first == (size_t)-1)
        first = i;
    }
  if (k->layout != COMBINED) {
    ck_assert_msg(tu_buf_download(e, &f.vc) == 0, "%s: value cache guard hit",
                  variant_now);
    for (size_t i = 0; i < ce * c_sz; i++)
      diff += f.vc.host[i] != vimg[i];
  }
  ck_assert_msg(diff == 0,
                "%s: %zu cache bytes differ (first at byte %zu); layout %s "
                "bs %d dim %d heads %d %s->%s seed %llu",
                variant_now, diff, first, layout_names[k->layout], k->bs,
                k->dim, k->heads, clattn_dtype_name(k->in_dt),
                clattn_dtype_name(k->cache_dt), (unsigned long long)tu_seed());
  ck_assert(tu_buf_download(e, &f.status) == 0);
  uint32_t status = *(uint32_t *)f.status.host;
  ck_assert_msg(status == (n_bad ? (uint32_t)CLATTN_DEVICE_BAD_SLOT : 0u),
                "%s: status word %u with %d bad slots", variant_now, status,
                n_bad);
  ck_assert(tu_buf_download(e, &f.qkv) == 0); // inputs untouched
  free(kimg);
  free(vimg);
  tu_buf_free(&f.qkv);
  tu_buf_free(&f.kc);
  tu_buf_free(&f.vc);
  tu_buf_free(&f.slots);
  tu_buf_free(&f.status);
}

static const clattn_dtype pairs[][2] = {{CLATTN_F32, CLATTN_F32},
                                        {CLATTN_F16, CLATTN_F16},
                                        {CLATTN_BF16, CLATTN_BF16},
                                        {CLATTN_F32, CLATTN_F16},
                                        {CLATTN_F32, CLATTN_BF16}};

// Runs one case with every eligible variant.
static void all_variants(tu_env *e, const kv_case *k, tu_rng *r) {
  clattn_select_args a = {
      CLATTN_OP_KV_WRITE, k->dim, k->in_dt, k->cache_dt, 0, 0, 0, 0, 0};
  const char *names[16];
  int n = tu_eligible_variants(e, &a, names, 16);
  ck_assert_int_gt(n, 0);
  for (int i = 0; i < n; i++) {
    variant_now = names[i];
    tu_force_variant(e, CLATTN_OP_KV_WRITE, names[i]);
    run_case(e, k, r);
  }
  tu_force_variant(e, CLATTN_OP_KV_WRITE, NULL);
}

START_TEST(layouts_dtypes_blocks_dims) {
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x1111);
  static const int bss[] = {1, 7, 16, 64};
  static const int dims[] = {32, 80, 128, 256, 13};
  int n = 0;
  for (int lay = 0; lay < 3; lay++)
    for (size_t pi = 0; pi < 5; pi++)
      for (size_t bi = 0; bi < 4; bi++) {
        kv_case k = {0};
        k.layout = lay;
        k.in_dt = pairs[pi][0];
        k.cache_dt = pairs[pi][1];
        k.bs = bss[bi];
        k.dim = dims[(lay * 5 + pi + bi) % 5];
        k.heads = tu_int(&r, 1, 4);
        k.tokens = tu_int(&r, 1, 24);
        k.blocks = (k.tokens + k.bs - 1) / k.bs + tu_int(&r, 0, 2);
        all_variants(e, &k, &r);
        n++;
      }
  // every head_dim with every dtype pair at least once more
  for (size_t di = 0; di < 5; di++)
    for (size_t pi = 0; pi < 5; pi++) {
      kv_case k = {0};
      k.layout = (int)((di + pi) % 3);
      k.in_dt = pairs[pi][0];
      k.cache_dt = pairs[pi][1];
      k.bs = bss[(di + pi) % 4];
      k.dim = dims[di];
      k.heads = 2;
      k.tokens = 9;
      k.blocks = (k.tokens + k.bs - 1) / k.bs + 1;
      all_variants(e, &k, &r);
      n++;
    }
  printf("kv_write: %d cases, every eligible variant\n", n);
}
END_TEST

START_TEST(bad_slots_reported_not_written) {
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x2222);
  for (int lay = 0; lay < 3; lay++) {
    kv_case k = {lay, 16, 64, 2, 40, 3, CLATTN_F16, CLATTN_F16, 1, 0, 0, 0};
    all_variants(e, &k, &r);
  }
}
END_TEST

// Rows that are not 16-byte aligned in the source, the cache or both: the
// wide rows' unaligned fallback (the aligned copies are the usual case).
START_TEST(unaligned_rows) {
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x4444);
  static const int skews[][2] = {{1, 0}, {0, 4}, {3, 5}};
  static const clattn_dtype dts[] = {CLATTN_F16, CLATTN_BF16, CLATTN_F32};
  for (int i = 0; i < 3; i++)
    for (int lay = 0; lay < 3; lay++) {
      kv_case k = {lay, 16, 128, 3, 21, 3, dts[i], dts[i], 0, 0, 0, 0};
      k.skew_src = skews[i][0];
      k.skew_cache = skews[(i + lay) % 3][1];
      all_variants(e, &k, &r);
    }
}
END_TEST

START_TEST(key_only_cache) {
  tu_env *e = tu_env_get();
  tu_rng r;
  tu_rng_init(&r, tu_seed() ^ 0x3333);
  kv_case k = {NHD, 16, 128, 1, 20, 3, CLATTN_BF16, CLATTN_BF16, 0, 1, 0, 0};
  all_variants(e, &k, &r);
}
END_TEST

// ---- argument validation: each bad argument gets its status and a message
// naming it, and nothing is enqueued (the cache keeps its poison).
typedef struct args_fx {
  tu_buf k, kc, slots;
  clattn_tensor key;
  clattn_cache cache;
  clattn_kv_write_params p;
} args_fx;

static void args_setup(tu_env *e, args_fx *f) {
  memset(f, 0, sizeof *f);
  ck_assert(!tu_buf_alloc(e, &f->k, 4 * 2 * 8, 4));
  ck_assert(!tu_buf_upload(e, &f->k));
  ck_assert(!tu_buf_alloc(e, &f->kc, 2 * 4 * 2 * 8, 4));
  ck_assert(!tu_buf_poison(e, &f->kc));
  ck_assert(!tu_buf_alloc(e, &f->slots, 4, 8));
  ck_assert(!tu_buf_upload(e, &f->slots));
  f->key = tu_tensor(&f->k, CLATTN_F32, 16, 8);
  f->cache =
      clattn__cache(f->kc.mem, tu_off(&f->kc), 64, 16, 8, CLATTN_F32, 4, 2);
  f->p = (clattn_kv_write_params)CLATTN_KV_WRITE_PARAMS_INIT;
  f->p.num_tokens = 4;
  f->p.num_kv_heads = 2;
  f->p.head_dim = 8;
}

static void expect_bad(tu_env *e, args_fx *f, clattn_status got,
                       clattn_status want, const char *needle,
                       const char *what) {
  ck_assert_msg(got == want, "%s: status %d (%s), want %d", what, got,
                clattn_status_string(got), want);
  const char *msg = clattn_context_last_error(e->cctx);
  ck_assert_msg(strstr(msg, needle), "%s: message '%s' does not name '%s'",
                what, msg, needle);
  ck_assert(clFinish(e->queue) == CL_SUCCESS);
  ck_assert(tu_buf_download(e, &f->kc) == 0);
  for (size_t i = 0; i < f->kc.count * 4; i++)
    ck_assert_msg(f->kc.host[i] == TU_POISON_BYTE, "%s: cache written", what);
}

#define CALL(f, key, slots, cache, n, w)                                       \
  clattn_kv_write(e->cctx, e->queue, &(f).p, key, NULL, slots, cache, NULL, n, \
                  w, NULL)

START_TEST(bad_arguments) {
  tu_env *e = tu_env_get();
  args_fx f;
  const clattn_status INV = CLATTN_ERROR_INVALID_ARGUMENT,
                      SMALL = CLATTN_ERROR_BUFFER_TOO_SMALL;
  args_setup(e, &f);
  clattn_buffer slots = tu_buffer(&f.slots);

  ck_assert_int_eq(CALL(f, &f.key, slots, &f.cache, 0, NULL), CLATTN_SUCCESS);
  ck_assert(!tu_buf_poison(e, &f.kc));

  expect_bad(e, &f,
             clattn_kv_write(e->cctx, e->queue, NULL, &f.key, NULL, slots,
                             &f.cache, NULL, 0, NULL, NULL),
             INV, "params", "NULL params");
  expect_bad(e, &f,
             clattn_kv_write(e->cctx, NULL, &f.p, &f.key, NULL, slots, &f.cache,
                             NULL, 0, NULL, NULL),
             INV, "queue", "NULL queue");
  expect_bad(e, &f, CALL(f, NULL, slots, &f.cache, 0, NULL), INV, "key",
             "NULL key");
  clattn_tensor k2 = f.key;
  k2.buffer = NULL;
  expect_bad(e, &f, CALL(f, &k2, slots, &f.cache, 0, NULL), INV, "key",
             "NULL key buffer");
  k2 = f.key;
  k2.dtype = CLATTN_I8;
  expect_bad(e, &f, CALL(f, &k2, slots, &f.cache, 0, NULL), INV, "key dtype",
             "i8 key");
  k2 = f.key;
  k2.dtype = CLATTN_F16;
  expect_bad(e, &f, CALL(f, &k2, slots, &f.cache, 0, NULL), INV, "key dtype",
             "f16 key into f32 cache");
  k2 = f.key;
  k2.stride[0] = 1000;
  expect_bad(e, &f, CALL(f, &k2, slots, &f.cache, 0, NULL), SMALL, "key",
             "key stride past CL_MEM_SIZE");
  k2 = f.key;
  k2.stride[1] = -8;
  expect_bad(e, &f, CALL(f, &k2, slots, &f.cache, 0, NULL), INV, "key",
             "negative stride");
  clattn_cache c2 = f.cache;
  c2.block_size = 0;
  expect_bad(e, &f, CALL(f, &f.key, slots, &c2, 0, NULL), INV, "block_size",
             "block size 0");
  c2 = f.cache;
  c2.num_blocks = 0;
  expect_bad(e, &f, CALL(f, &f.key, slots, &c2, 0, NULL), INV, "num_blocks",
             "num_blocks 0");
  c2 = f.cache;
  c2.num_blocks = 5; // past the payload and the trailing guard
  expect_bad(e, &f, CALL(f, &f.key, slots, &c2, 0, NULL), SMALL, "key_cache",
             "cache past CL_MEM_SIZE");
  c2 = f.cache;
  c2.stride_head = 1 << 20;
  expect_bad(e, &f, CALL(f, &f.key, slots, &c2, 0, NULL), SMALL, "key_cache",
             "cache head stride past CL_MEM_SIZE");
  clattn_buffer s2 = slots;
  s2.offset = 2 * TU_GUARD + 1; // runs past the trailing guard too
  expect_bad(e, &f, CALL(f, &f.key, s2, &f.cache, 0, NULL), SMALL,
             "slot_mapping", "slot_mapping too short");
  s2.buffer = NULL;
  expect_bad(e, &f, CALL(f, &f.key, s2, &f.cache, 0, NULL), INV, "slot_mapping",
             "NULL slot_mapping");
  f.p.head_dim = 0;
  expect_bad(e, &f, CALL(f, &f.key, slots, &f.cache, 0, NULL), INV, "head_dim",
             "head_dim 0");
  f.p.head_dim = 257;
  expect_bad(e, &f, CALL(f, &f.key, slots, &f.cache, 0, NULL), INV, "head_dim",
             "head_dim 257");
  f.p.head_dim = 8;
  f.p.num_kv_heads = 0;
  expect_bad(e, &f, CALL(f, &f.key, slots, &f.cache, 0, NULL), INV,
             "num_kv_heads", "0 heads");
  f.p.num_kv_heads = 2;
  f.p.num_tokens = -1;
  expect_bad(e, &f, CALL(f, &f.key, slots, &f.cache, 0, NULL), INV,
             "num_tokens", "negative tokens");
  f.p.num_tokens = 4;
  expect_bad(e, &f, CALL(f, &f.key, slots, &f.cache, 2, NULL), INV,
             "event_wait_list", "wait list NULL with count 2");
  expect_bad(e, &f,
             clattn_kv_write(e->cctx, e->queue, &f.p, &f.key, &f.key, slots,
                             &f.cache, NULL, 0, NULL, NULL),
             INV, "value_cache", "value without value_cache");
  f.p.status.buffer = f.slots.mem;
  f.p.status.offset = 1 << 20;
  expect_bad(e, &f, CALL(f, &f.key, slots, &f.cache, 0, NULL), SMALL, "status",
             "status word past its buffer");
  f.p.status.buffer = NULL;

  // A queue of another context.
  cl_int err;
  cl_context other = clCreateContext(NULL, 1, &e->device, NULL, NULL, &err);
  cl_command_queue oq = clCreateCommandQueue(other, e->device, 0, &err);
  expect_bad(e, &f,
             clattn_kv_write(e->cctx, oq, &f.p, &f.key, NULL, slots, &f.cache,
                             NULL, 0, NULL, NULL),
             INV, "queue", "queue of another context");
  // A buffer of another context.
  cl_mem ob = clCreateBuffer(other, CL_MEM_READ_WRITE, 4096, NULL, &err);
  k2 = f.key;
  k2.buffer = ob;
  expect_bad(e, &f, CALL(f, &k2, slots, &f.cache, 0, NULL), INV, "key",
             "buffer of another context");
  clReleaseMemObject(ob);
  clReleaseCommandQueue(oq);
  clReleaseContext(other);

  // Zero tokens is a no-op that still honours the event contract.
  f.p.num_tokens = 0;
  cl_event ev = NULL;
  ck_assert_int_eq(clattn_kv_write(e->cctx, e->queue, &f.p, &f.key, NULL, slots,
                                   &f.cache, NULL, 0, NULL, &ev),
                   CLATTN_SUCCESS);
  ck_assert_ptr_nonnull(ev);
  ck_assert_int_eq(clWaitForEvents(1, &ev), CL_SUCCESS);
  clReleaseEvent(ev);
  tu_buf_free(&f.k);
  tu_buf_free(&f.kc);
  tu_buf_free(&f.slots);
}
END_TEST

// int64 offsets: a cache of more than 2^31 elements, written at its far end.
// Needs ~4.3 GB of device memory, so it runs only with CLATTN_TEST_LARGE=1.
START_TEST(offsets_past_2_pow_31) {
  tu_env *e = tu_env_get();
  const char *large = getenv("CLATTN_TEST_LARGE");
  if (!large || strcmp(large, "1")) {
    printf("offsets_past_2_pow_31: not run (set CLATTN_TEST_LARGE=1; needs "
           "4.3 GB of device memory)\n");
    return;
  }
  const cl_long D = 128, H = 8, BS = 16;
  const cl_long nb = ((1ll << 31) / (BS * H * D)) + 2;
  size_t bytes = (size_t)(nb * BS * H * D) * 2;
  cl_int err;
  cl_mem cache = clCreateBuffer(e->ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
  ck_assert_msg(err == CL_SUCCESS, "allocating %zu B failed: %d", bytes, err);
  tu_buf src, slots;
  ck_assert(!tu_buf_alloc(e, &src, (size_t)(H * D), 2));
  tu_rng r;
  tu_rng_init(&r, tu_seed());
  for (size_t i = 0; i < src.count; i++)
    tu_store(src.host, CLATTN_F16, i, tu_uniform(&r, -1, 1));
  ck_assert(!tu_buf_upload(e, &src));
  ck_assert(!tu_buf_alloc(e, &slots, 1, 8));
  ((int64_t *)slots.host)[0] = nb * BS - 1; // last slot
  ck_assert(!tu_buf_upload(e, &slots));
  clattn_cache c =
      clattn__cache(cache, 0, BS * H * D, H * D, D, CLATTN_F16, (cl_int)BS, nb);
  clattn_tensor key = tu_tensor(&src, CLATTN_F16, H * D, D);
  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_tokens = 1, p.num_kv_heads = (cl_int)H, p.head_dim = (cl_int)D;
  ck_assert_int_eq(clattn_kv_write(e->cctx, e->queue, &p, &key, NULL,
                                   tu_buffer(&slots), &c, NULL, 0, NULL, NULL),
                   CLATTN_SUCCESS);
  uint16_t *back = malloc((size_t)(H * D) * 2);
  size_t at = bytes - (size_t)(H * D) * 2;
  ck_assert_int_eq(clEnqueueReadBuffer(e->queue, cache, CL_TRUE, at,
                                       (size_t)(H * D) * 2, back, 0, NULL,
                                       NULL),
                   CL_SUCCESS);
  ck_assert(memcmp(back, src.host, (size_t)(H * D) * 2) == 0);
  free(back);
  clReleaseMemObject(cache);
  tu_buf_free(&src);
  tu_buf_free(&slots);
}
END_TEST

int main(void) {
  Suite *s = suite_create("kv_write");
  TCase *tc = tcase_create("correctness");
  tcase_set_timeout(tc, 1200);
  tcase_add_test(tc, layouts_dtypes_blocks_dims);
  tcase_add_test(tc, key_only_cache);
  tcase_add_test(tc, unaligned_rows);
  suite_add_tcase(s, tc);
  TCase *edge = tcase_create("edge");
  tcase_set_timeout(edge, 600);
  tcase_add_test(edge, bad_slots_reported_not_written);
  tcase_add_test(edge, offsets_past_2_pow_31);
  suite_add_tcase(s, edge);
  TCase *args = tcase_create("args");
  tcase_add_test(args, bad_arguments);
  suite_add_tcase(s, args);
  return tu_run_suite(s);
}
