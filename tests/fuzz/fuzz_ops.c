// SPDX-License-Identifier: Apache-2.0
// libFuzzer harness over the argument validation of every op: the fuzz input
// picks the op, every parameter, descriptor, buffer, queue and wait list;
// a rejected call must leave every buffer as it was, an accepted one runs on
// PoCL and must leave the guard bytes around each buffer untouched.
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Buffers are sub-buffers of a parent with GUARD bytes on each side, so the
// op sees CL_MEM_SIZE == size and the guards are outside what it may touch.
#define N_BUFS 6
#define GUARD 4096 // >= CL_DEVICE_MEM_BASE_ADDR_ALIGN of the devices we run
static const size_t buf_sizes[N_BUFS] = {4, 64, 256, 1024, 4096, 65536};

typedef struct fz_buf {
  cl_mem parent, sub;
  size_t size;
} fz_buf;

static struct {
  int ready;
  tu_env e;
  cl_context other_ctx; // a second context on the same device
  cl_command_queue other_queue;
  cl_mem other_mem;
  clattn_context released; // a handle that was released (never dereferenced)
  cl_event done;           // a completed user event
  fz_buf b[N_BUFS];
  unsigned char *want, *got; // parent contents written / read back
} G;

static void die(const char *what) {
  fprintf(stderr, "fuzz_ops: %s\n", what);
  abort();
}

static void setup(void) {
  if (G.ready)
    return;
  if (tu_open_device(0, 0, &G.e))
    die("no OpenCL device");
  cl_int err;
  G.other_ctx = clCreateContext(NULL, 1, &G.e.device, NULL, NULL, &err);
  G.other_queue = clCreateCommandQueue(G.other_ctx, G.e.device, 0, &err);
  G.other_mem =
      clCreateBuffer(G.other_ctx, CL_MEM_READ_WRITE, 65536, NULL, &err);
  if (clattn_context_create(G.e.ctx, G.e.device, NULL, &G.released))
    die("second clattn context");
  clattn_context_release(G.released);
  G.done = clCreateUserEvent(G.e.ctx, &err);
  clSetUserEventStatus(G.done, CL_COMPLETE);
  for (int i = 0; i < N_BUFS; i++) {
    fz_buf *b = &G.b[i];
    b->size = buf_sizes[i];
    b->parent = clCreateBuffer(G.e.ctx, CL_MEM_READ_WRITE, b->size + 2 * GUARD,
                               NULL, &err);
    cl_buffer_region reg = {GUARD, b->size};
    if (err == CL_SUCCESS)
      b->sub = clCreateSubBuffer(b->parent, 0, CL_BUFFER_CREATE_TYPE_REGION,
                                 &reg, &err);
    if (err != CL_SUCCESS)
      die("buffer setup");
  }
  G.want = malloc(65536 + 2 * GUARD);
  G.got = malloc(65536 + 2 * GUARD);
  if (!G.want || !G.got)
    die("host memory");
  G.ready = 1;
}

// ---- decoding the input
// -------------------------------------------------------
typedef struct rd {
  const uint8_t *p;
  size_t n, i;
} rd;

static uint8_t u8(rd *r) {
  return r->i < r->n ? r->p[r->i++] : 0;
}

static uint64_t raw(rd *r, int bytes) {
  uint64_t v = 0;
  for (int k = 0; k < bytes; k++)
    v |= (uint64_t)u8(r) << (8 * k);
  return v;
}

// Mostly small and boundary values, sometimes raw bits.
static int64_t pick_int(rd *r) {
  static const int64_t v[] = {
      0,  1,         2,         3,         4,         7,   8,    16,
      32, 64,        128,       255,       256,       257, 1024, -1,
      -2, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 5,   6,    12};
  uint8_t c = u8(r);
  if (c < 240)
    return v[c % (sizeof v / sizeof v[0])];
  return (int64_t)raw(r, c & 1 ? 8 : 4);
}

static float pick_float(rd *r) {
  static const float v[] = {0.0f, 1.0f, 0.125f, -1.0f, 30.0f, 1e-30f};
  uint8_t c = u8(r);
  switch (c % 10) {
  case 6: return NAN;
  case 7: return INFINITY;
  case 8: return -INFINITY;
  case 9: {
    uint32_t bits = (uint32_t)raw(r, 4);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
  }
  default: return v[c % 6];
  }
}

static cl_mem pick_mem(rd *r) {
  uint8_t c = u8(r) % (N_BUFS + 2);
  if (c == N_BUFS)
    return NULL;
  if (c == N_BUFS + 1)
    return G.other_mem;
  return G.b[c].sub;
}

static clattn_dtype pick_dtype(rd *r) {
  uint8_t c = u8(r);
  return c == 255 ? (clattn_dtype)-1 : (clattn_dtype)(c % 10);
}

static clattn_buffer pick_buffer(rd *r) {
  clattn_buffer b = {pick_mem(r), 0};
  b.offset = (cl_ulong)pick_int(r);
  return b;
}

// NULL (returns 0) or a filled tensor.
static int pick_tensor(rd *r, clattn_tensor *t) {
  if (u8(r) % 8 == 0)
    return 0;
  t->buffer = pick_mem(r);
  t->offset = (cl_ulong)pick_int(r);
  t->stride[0] = pick_int(r);
  t->stride[1] = pick_int(r);
  t->dtype = pick_dtype(r);
  return 1;
}

static int pick_cache(rd *r, clattn_cache *c) {
  if (u8(r) % 8 == 0)
    return 0;
  c->buffer = pick_mem(r);
  c->offset = (cl_ulong)pick_int(r);
  c->stride_block = pick_int(r);
  c->stride_slot = pick_int(r);
  c->stride_head = pick_int(r);
  c->dtype = pick_dtype(r);
  c->block_size = (cl_int)pick_int(r);
  c->num_blocks = pick_int(r);
  c->scale = pick_float(r);
  return 1;
}

// ---- device state
// --------------------------------------------------------------- Parents get
// GUARD_BYTE guards and a payload cycling through `data` (the same for every
// buffer, so a seed can place index arrays: make_corpus.py).
#define GUARD_BYTE 0xA5
static void fill_buffers(const uint8_t *data, size_t n) {
  for (int i = 0; i < N_BUFS; i++) {
    fz_buf *b = &G.b[i];
    size_t total = b->size + 2 * GUARD;
    memset(G.want, GUARD_BYTE, total);
    for (size_t k = 0; k < b->size; k++)
      G.want[GUARD + k] = n ? data[k % n] : 0;
    if (clEnqueueWriteBuffer(G.e.queue, b->parent, CL_TRUE, 0, total, G.want, 0,
                             NULL, NULL) != CL_SUCCESS)
      die("writing a buffer");
  }
}

// Rejected: every byte as written. Accepted: the guards as written.
static void check_buffers(const uint8_t *data, size_t n, int accepted,
                          const char *op) {
  for (int i = 0; i < N_BUFS; i++) {
    fz_buf *b = &G.b[i];
    size_t total = b->size + 2 * GUARD;
    if (clEnqueueReadBuffer(G.e.queue, b->parent, CL_TRUE, 0, total, G.got, 0,
                            NULL, NULL) != CL_SUCCESS)
      die("reading a buffer");
    for (size_t k = 0; k < total; k++) {
      int in_guard = k < GUARD || k >= GUARD + b->size;
      unsigned char want =
          in_guard ? GUARD_BYTE : (n ? data[(k - GUARD) % n] : 0);
      if ((in_guard || !accepted) && G.got[k] != want) {
        fprintf(stderr,
                "fuzz_ops: %s %s changed byte %zu of buffer %d (%zu B): "
                "%02x, was %02x\n",
                op, accepted ? "(accepted) wrote a guard:" : "(rejected)", k, i,
                b->size, G.got[k], want);
        abort();
      }
    }
  }
}

// ---- one input
// --------------------------------------------------------------------
static clattn_status run_kv_write(rd *r, clattn_context c, cl_command_queue q,
                                  cl_uint nw, const cl_event *w, cl_event *ev) {
  clattn_kv_write_params p = CLATTN_KV_WRITE_PARAMS_INIT;
  p.num_tokens = pick_int(r);
  p.num_kv_heads = (cl_int)pick_int(r);
  p.head_dim = (cl_int)pick_int(r);
  if (u8(r) & 1)
    p.status = pick_buffer(r);
  clattn_tensor key, value;
  clattn_cache kc, vc;
  int hk = pick_tensor(r, &key), hv = pick_tensor(r, &value);
  clattn_buffer slots = pick_buffer(r);
  int hkc = pick_cache(r, &kc), hvc = pick_cache(r, &vc);
  return clattn_kv_write(c, q, u8(r) % 8 ? &p : NULL, hk ? &key : NULL,
                         hv ? &value : NULL, slots, hkc ? &kc : NULL,
                         hvc ? &vc : NULL, nw, w, ev);
}

static void pick_att_params(rd *r, clattn_attention_params *p) {
  p->batch = (cl_int)pick_int(r);
  p->num_heads = (cl_int)pick_int(r);
  p->num_kv_heads = (cl_int)pick_int(r);
  p->head_dim = (cl_int)pick_int(r);
  p->total_q = pick_int(r);
  p->total_k = pick_int(r);
  p->max_seqlen_q = (cl_int)pick_int(r);
  p->max_seqlen_k = (cl_int)pick_int(r);
  p->scale = pick_float(r);
  p->causal = (cl_int)pick_int(r);
  p->window_left = (cl_int)pick_int(r);
  p->window_right = (cl_int)pick_int(r);
  p->softcap = pick_float(r);
  uint8_t opt = u8(r);
  if (opt & 1)
    p->alibi_slopes = pick_buffer(r);
  if (opt & 2)
    p->sinks = pick_buffer(r);
  if (opt & 4)
    p->status = pick_buffer(r);
  p->max_blocks_per_seq = (cl_int)pick_int(r);
  p->block_table_stride = pick_int(r);
  p->num_splits = (cl_int)pick_int(r);
}

static clattn_status run_attention(rd *r, int paged, clattn_context c,
                                   cl_command_queue q, cl_uint nw,
                                   const cl_event *w, cl_event *ev) {
  clattn_attention_params p = CLATTN_ATTENTION_PARAMS_INIT;
  pick_att_params(r, &p);
  const clattn_attention_params *pp = u8(r) % 8 ? &p : NULL;
  clattn_tensor qt, out, lse;
  int hq = pick_tensor(r, &qt), ho = pick_tensor(r, &out);
  int hl = u8(r) & 1 ? pick_tensor(r, &lse) : 0;
  clattn_buffer a = pick_buffer(r), b = pick_buffer(r);
  if (!paged) {
    clattn_tensor kt, vt;
    int hk = pick_tensor(r, &kt), hv = pick_tensor(r, &vt);
    return clattn_attention(c, q, pp, hq ? &qt : NULL, hk ? &kt : NULL,
                            hv ? &vt : NULL, a, b, ho ? &out : NULL,
                            hl ? &lse : NULL, nw, w, ev);
  }
  clattn_cache kc, vc;
  int hkc = pick_cache(r, &kc), hvc = pick_cache(r, &vc);
  clattn_buffer bt = pick_buffer(r);
  return clattn_paged_attention(c, q, pp, hq ? &qt : NULL, hkc ? &kc : NULL,
                                hvc ? &vc : NULL, a, b, bt, ho ? &out : NULL,
                                hl ? &lse : NULL, nw, w, ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  setup();
  rd r = {data, size, 0};
  const int op = u8(&r) % 3;
  static const char *const names[] = {"kv_write", "attention",
                                      "paged_attention"};
  // Context, queue, wait list and event slot.
  uint8_t sel = u8(&r);
  clattn_context c = sel % 8 == 0 ? NULL : sel % 8 == 1 ? G.released : G.e.cctx;
  sel >>= 3;
  cl_command_queue q = sel % 4 == 0   ? NULL
                       : sel % 4 == 1 ? G.other_queue
                                      : G.e.queue;
  uint8_t wsel = u8(&r);
  cl_event wl[2] = {G.done, (wsel & 8) ? NULL : G.done};
  cl_uint nw = wsel % 3;
  const cl_event *w = (wsel & 4) ? NULL : wl;
  if (nw == 0 && !(wsel & 16))
    w = NULL;
  cl_event ev = (cl_event)(uintptr_t)1; // must be overwritten or untouched
  cl_event *evp = (wsel & 32) ? &ev : NULL;

  // The buffers' payload cycles through the input past its first 96 bytes
  // (the same bytes every run of this input).
  const size_t tail = size > 96 ? size - 96 : 0;
  const uint8_t *payload = data + (size - tail);
  fill_buffers(payload, tail);
  clattn_status st = op == 0 ? run_kv_write(&r, c, q, nw, w, evp)
                             : run_attention(&r, op == 2, c, q, nw, w, evp);
  const int got_event = evp && ev != NULL && ev != (cl_event)(uintptr_t)1;
  if (st == CLATTN_SUCCESS) {
    if (got_event) {
      clWaitForEvents(1, &ev);
      clReleaseEvent(ev);
    }
    clFinish(G.e.queue);
  } else if (got_event) {
    die("a rejected call returned an event");
  }
  if (st != CLATTN_SUCCESS && c == G.e.cctx &&
      clattn_context_last_error(c)[0] == '\0')
    die("a rejected call recorded no message");
  check_buffers(payload, tail, st == CLATTN_SUCCESS, names[op]);
  if (getenv("CLATTN_FUZZ_VERBOSE")) // replay: what each input reached
    printf("%s: %s: %s\n", names[op], clattn_status_string(st),
           st == CLATTN_SUCCESS || c != G.e.cctx
               ? ""
               : clattn_context_last_error(c));
  return 0;
}

#ifdef CLATTN_FUZZ_REPLAY
// Without libFuzzer: replays the files named on the command line (the corpus
// and the regression inputs) through the harness; used by CTest.
#include <dirent.h>

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return -1;
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  LLVMFuzzerTestOneInput(buf, n);
  return 0;
}

int main(int argc, char **argv) {
  int n = 0;
  for (int i = 1; i < argc; i++) {
    DIR *d = opendir(argv[i]);
    if (!d) {
      if (replay_file(argv[i]))
        return fprintf(stderr, "cannot read %s\n", argv[i]), 1;
      n++;
      continue;
    }
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
      if (de->d_name[0] == '.')
        continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
      if (getenv("CLATTN_FUZZ_VERBOSE"))
        printf("%s -> ", de->d_name);
      if (replay_file(path))
        return fprintf(stderr, "cannot read %s\n", path), 1;
      n++;
    }
    closedir(d);
  }
  printf("fuzz_ops: replayed %d inputs\n", n);
  return n > 0 ? 0 : 1;
}
#endif
