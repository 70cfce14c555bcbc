// SPDX-License-Identifier: Apache-2.0
// decode_loop: clattn inside a runtime's decoding loop. Prefill, then decode
// steps; each step enqueues kv_write then paged_attention over a paged cache,
// chained by events (no clFinish in the loop); checks every step's output
// against a CPU computation at the end. f16 tensors and cache, as runtimes
// use them. Tutorial: docs/embedding.md.
#include "example_common.h"

#include <CL/cl_half.h>
#include <string.h>

enum {
  B = 3,            // sequences in the batch
  HQ = 8,           // query heads
  H = 2,            // KV heads (GQA: 4 query heads share one)
  D = 64,           // head_dim
  BS = 16,          // tokens per cache block
  STEPS = 9,        // step 0 is the prefill, steps 1..8 decode one token each
  MAXB = 4,         // block-table columns: room for 64 tokens per sequence
  NB = B * MAXB + 3 // cache blocks (a few never used)
};
static const int prompt_len[B] = {5, 17, 30};

// The runtime's bookkeeping: which tokens each step adds, where they go.
typedef struct plan {
  int first_row[STEPS + 1]; // each step's first row of q/k/v/out (prefix sums)
  int seq_len[STEPS][B];    // context length after the step
  cl_int block_table[B][MAXB];
  long total_rows;
} plan;

static int new_tokens(int step, int b) {
  return step == 0 ? prompt_len[b] : 1;
}

static void make_plan(plan *p) {
  // Hand out cache blocks in a scattered order, as a block allocator would.
  int next = 0;
  for (int i = 0; i < MAXB; i++)
    for (int b = 0; b < B; b++)
      p->block_table[b][i] = (cl_int)((next++ * 7 + 2) % NB);
  int rows = 0;
  for (int s = 0; s < STEPS; s++) {
    p->first_row[s] = rows;
    for (int b = 0; b < B; b++) {
      rows += new_tokens(s, b);
      p->seq_len[s][b] = (s ? p->seq_len[s - 1][b] : 0) + new_tokens(s, b);
    }
  }
  p->first_row[STEPS] = rows;
  p->total_rows = rows;
}

// CPU check: causal attention of every row over its sequence's keys so far.
// row_seq/row_pos give each row's sequence and position in it.
// Rounds x[n] to f16 in place and stores the halves in h[n]: the device gets
// h, the CPU check the same values as floats.
// (Khronos' cl_half_to_float shifts a signed 1 by 31, which UBSan stops on:
// the decode is written out here.)
static float half_to_float(cl_half h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    const float f = ldexpf((float)m, -24);
    return sign ? -f : f;
  }
  if (e == 31)
    return m ? NAN : (sign ? -INFINITY : INFINITY);
  const uint32_t bits = sign | ((e + 112u) << 23) | (m << 13);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static cl_half *to_half(float *x, size_t n) {
  cl_half *h = malloc(sizeof(cl_half) * n);
  for (size_t i = 0; i < n; i++) {
    h[i] = cl_half_from_float(x[i], CL_HALF_RTE);
    x[i] = half_to_float(h[i]);
  }
  return h;
}

static void reference(const plan *p, const float *q, const float *k,
                      const float *v, const int *row_seq, const int *row_pos,
                      double *out) {
  const float **krow = malloc(sizeof(float *) * (size_t)p->total_rows);
  const float **vrow = malloc(sizeof(float *) * (size_t)p->total_rows);
  for (long r = 0; r < p->total_rows; r++)
    for (int h = 0; h < HQ; h++) {
      const int kvh = h / (HQ / H);
      int n = 0;
      for (long j = 0; j < p->total_rows; j++)
        if (row_seq[j] == row_seq[r] && row_pos[j] <= row_pos[r]) {
          krow[n] = k + (j * H + kvh) * D;
          vrow[n++] = v + (j * H + kvh) * D;
        }
      ex_attend(q + (r * HQ + h) * D, krow, vrow, n, D, out + (r * HQ + h) * D);
    }
  free(krow);
  free(vrow);
}

int main(void) {
  cl_platform_id platform;
  cl_device_id device;
  int rc = ex_pick_device(&platform, &device);
  if (rc)
    return rc;
  plan p;
  make_plan(&p);
  const long R = p.total_rows;

  // Inputs the model would produce on the device; here random, uploaded once.
  uint64_t seed = 42;
  float *hq = malloc(sizeof(float) * (size_t)(R * HQ * D));
  float *hk = malloc(sizeof(float) * (size_t)(R * H * D));
  float *hv = malloc(sizeof(float) * (size_t)(R * H * D));
  float *hout = malloc(sizeof(float) * (size_t)(R * HQ * D));
  double *want = malloc(sizeof(double) * (size_t)(R * HQ * D));
  int *row_seq = malloc(sizeof(int) * (size_t)R);
  int *row_pos = malloc(sizeof(int) * (size_t)R);
  cl_long *slots = malloc(sizeof(cl_long) * (size_t)R);
  cl_int cu_q[STEPS][B + 1], seq_lens[STEPS][B];
  ex_fill(hq, (size_t)(R * HQ * D), &seed);
  ex_fill(hk, (size_t)(R * H * D), &seed);
  ex_fill(hv, (size_t)(R * H * D), &seed);
  cl_half *hq16 = to_half(hq, (size_t)(R * HQ * D));
  cl_half *hk16 = to_half(hk, (size_t)(R * H * D));
  cl_half *hv16 = to_half(hv, (size_t)(R * H * D));
  cl_half *hout16 = malloc(sizeof(cl_half) * (size_t)(R * HQ * D));
  for (int s = 0; s < STEPS; s++) {
    long r = p.first_row[s];
    cu_q[s][0] = 0;
    for (int b = 0; b < B; b++) {
      int n = new_tokens(s, b), pos0 = p.seq_len[s][b] - n;
      for (int t = 0; t < n; t++, r++) {
        int pos = pos0 + t;
        row_seq[r] = b;
        row_pos[r] = pos;
        slots[r] = (cl_long)p.block_table[b][pos / BS] * BS + pos % BS;
      }
      cu_q[s][b + 1] = cu_q[s][b] + n;
      seq_lens[s][b] = p.seq_len[s][b];
    }
  }

  // The caller's OpenCL objects. An out-of-order queue where the device has
  // one, so the event chain below is what orders the work.
  cl_int err;
  cl_context clctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clCreateContext: %d\n", err);
    return 1;
  }
  cl_command_queue_properties qprops = 0;
  clGetDeviceInfo(device, CL_DEVICE_QUEUE_PROPERTIES, sizeof qprops, &qprops,
                  NULL);
  const int ooo = (qprops & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) != 0;
  cl_command_queue queue = clCreateCommandQueue(
      clctx, device, ooo ? CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE : 0, &err);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clCreateCommandQueue: %d\n", err);
    return 1;
  }
#define DEVBUF(bytes, host)                                                    \
  clCreateBuffer(clctx, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, (bytes),     \
                 (void *)(host), &err)
  cl_mem dq = DEVBUF(sizeof(cl_half) * R * HQ * D, hq16);
  cl_mem dk = DEVBUF(sizeof(cl_half) * R * H * D, hk16);
  cl_mem dv = DEVBUF(sizeof(cl_half) * R * H * D, hv16);
  cl_mem dslots = DEVBUF(sizeof(cl_long) * R, slots);
  cl_mem dcu = DEVBUF(sizeof cu_q, cu_q);
  cl_mem dlens = DEVBUF(sizeof seq_lens, seq_lens);
  cl_mem dtable = DEVBUF(sizeof p.block_table, p.block_table);
  // One cl_mem holds both caches, NHD [NB, BS, H, D]: K first, then V.
  const cl_long cache_elems = (cl_long)NB * BS * H * D;
  cl_mem dcache = clCreateBuffer(clctx, CL_MEM_READ_WRITE,
                                 sizeof(cl_half) * 2 * cache_elems, NULL, &err);
  cl_mem dout = clCreateBuffer(clctx, CL_MEM_READ_WRITE,
                               sizeof(cl_half) * R * HQ * D, NULL, &err);
  cl_mem dstatus =
      clCreateBuffer(clctx, CL_MEM_READ_WRITE, sizeof(cl_uint), NULL, &err);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clCreateBuffer: %d\n", err);
    return 1;
  }
  // NaN everywhere in out, so a row the loop never wrote fails the check;
  // the status word starts at zero (clattn only ORs bits into it).
  const cl_half nan_bits = 0x7e00u;
  const cl_uint zero = 0;
  cl_event ready[2];
  clEnqueueFillBuffer(queue, dout, &nan_bits, sizeof nan_bits, 0,
                      sizeof(cl_half) * R * HQ * D, 0, NULL, &ready[0]);
  clEnqueueFillBuffer(queue, dstatus, &zero, sizeof zero, 0, sizeof zero, 0,
                      NULL, &ready[1]);

  clattn_context cc;
  clattn_status st = clattn_context_create(clctx, device, NULL, &cc);
  if (st != CLATTN_SUCCESS)
    return ex_fail(NULL, "clattn_context_create", st);
  const char *variant = "", *format = "";
  clattn_query_variant(cc, CLATTN_OP_PAGED_ATTENTION, D, CLATTN_F16, CLATTN_F16,
                       &variant, &format);
  printf("clattn %s  queue %s  paged_attention -> %s [%s]\n",
         clattn_version_string(), ooo ? "out-of-order" : "in-order", variant,
         format);

  // Designated fields; the rest (scales of quantized caches) stay zero.
  const clattn_cache kc = {.buffer = dcache,
                           .stride_block = (cl_long)BS * H * D,
                           .stride_slot = (cl_long)H * D,
                           .stride_head = D,
                           .dtype = CLATTN_F16,
                           .block_size = BS,
                           .num_blocks = NB};
  clattn_cache vc = kc;
  vc.offset = (cl_ulong)cache_elems;

  // ---- the loop: two enqueues per step, each waiting on the one before.
  cl_event prev[2] = {ready[0], ready[1]};
  cl_uint nprev = 2;
  for (int s = 0; s < STEPS; s++) {
    const cl_long row0 = p.first_row[s], rows = p.first_row[s + 1] - row0;
    int max_q = 0, max_k = 0;
    for (int b = 0; b < B; b++) {
      max_q = new_tokens(s, b) > max_q ? new_tokens(s, b) : max_q;
      max_k = p.seq_len[s][b] > max_k ? p.seq_len[s][b] : max_k;
    }
    // This step's rows of the [R, heads, D] inputs and output.
    const clattn_tensor q = {
        dq, (cl_ulong)(row0 * HQ * D), {HQ * D, D}, CLATTN_F16};
    const clattn_tensor k = {
        dk, (cl_ulong)(row0 * H * D), {H * D, D}, CLATTN_F16};
    const clattn_tensor v = {
        dv, (cl_ulong)(row0 * H * D), {H * D, D}, CLATTN_F16};
    const clattn_tensor out = {
        dout, (cl_ulong)(row0 * HQ * D), {HQ * D, D}, CLATTN_F16};

    clattn_kv_write_params wp = CLATTN_KV_WRITE_PARAMS_INIT;
    wp.num_tokens = rows;
    wp.num_kv_heads = H;
    wp.head_dim = D;
    wp.status = (clattn_buffer){dstatus, 0};
    cl_event written;
    st = clattn_kv_write(cc, queue, &wp, &k, &v,
                         (clattn_buffer){dslots, (cl_ulong)row0}, &kc, &vc,
                         nprev, prev, &written);
    for (cl_uint i = 0; i < nprev; i++)
      clReleaseEvent(prev[i]);
    if (st != CLATTN_SUCCESS)
      return ex_fail(cc, "clattn_kv_write", st);

    clattn_attention_params ap = CLATTN_ATTENTION_PARAMS_INIT;
    ap.batch = B;
    ap.num_heads = HQ;
    ap.num_kv_heads = H;
    ap.head_dim = D;
    ap.total_q = rows;
    ap.max_seqlen_q = max_q;
    ap.max_seqlen_k = max_k;
    ap.causal = 1;
    ap.max_blocks_per_seq = MAXB;
    ap.block_table_stride = MAXB;
    ap.status = (clattn_buffer){dstatus, 0};
    st = clattn_paged_attention(cc, queue, &ap, &q, &kc, &vc,
                                (clattn_buffer){dcu, (cl_ulong)s * (B + 1)},
                                (clattn_buffer){dlens, (cl_ulong)s * B},
                                (clattn_buffer){dtable, 0}, &out, NULL, 1,
                                &written, &prev[0]);
    clReleaseEvent(written);
    if (st != CLATTN_SUCCESS)
      return ex_fail(cc, "clattn_paged_attention", st);
    nprev = 1;
  }
  clFlush(queue);

  // ---- after the loop: one blocking read per result, behind the last event.
  cl_uint status_word = ~0u;
  err =
      clEnqueueReadBuffer(queue, dout, CL_TRUE, 0, sizeof(cl_half) * R * HQ * D,
                          hout16, 1, prev, NULL);
  if (err == CL_SUCCESS)
    err = clEnqueueReadBuffer(queue, dstatus, CL_TRUE, 0, sizeof status_word,
                              &status_word, 1, prev, NULL);
  clReleaseEvent(prev[0]);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clEnqueueReadBuffer: %d\n", err);
    return 1;
  }

  for (long i = 0; i < R * HQ * D; i++)
    hout[i] = half_to_float(hout16[i]);
  reference(&p, hq, hk, hv, row_seq, row_pos, want);
  double max_err;
  const int ok =
      ex_compare(hout, want, (size_t)(R * HQ * D), 1e-3, 1e-3, &max_err) &&
      status_word == 0;
  printf("checked %d steps, f16 q/k/v/cache/out (prefill %d+%d+%d tokens, "
         "then %d decode steps of %d tokens)\n",
         STEPS, prompt_len[0], prompt_len[1], prompt_len[2], STEPS - 1, B);
  printf("  %ld output rows x %d heads x %d dims against a double-precision "
         "CPU attention: max |err| %.2e (tol 1e-3 + 1e-3|ref|)\n",
         R, HQ, D, max_err);
  printf("  device status word 0x%x (want 0)\n", status_word);
  printf("%s\n", ok ? "PASS" : "FAIL");

  clattn_context_release(cc);
  cl_mem bufs[] = {dq,    dk,     dv,     dslots, dcu,
                   dlens, dtable, dcache, dout,   dstatus};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    clReleaseMemObject(bufs[i]);
  clReleaseCommandQueue(queue);
  clReleaseContext(clctx);
  free(hq), free(hk), free(hv), free(hout), free(want);
  free(hq16), free(hk16), free(hv16), free(hout16);
  free(row_seq), free(row_pos), free(slots);
  return ok ? 0 : 1;
}
