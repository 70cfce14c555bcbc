// SPDX-License-Identifier: Apache-2.0
// cross_attention: encoder-decoder cross attention through clattn_attention.
// Decoder queries attend to all encoder keys of their own sequence (no causal
// mask, different q and k lengths), K and V read from one packed [T, 2, H, D]
// buffer through strides; out and lse are checked against the CPU.
#include "example_common.h"

enum { B = 3, HQ = 6, H = 6, D = 80 };
static const int q_len[B] = {4, 1, 9};   // decoder tokens
static const int k_len[B] = {23, 64, 7}; // encoder frames

int main(void) {
  cl_platform_id platform;
  cl_device_id device;
  int rc = ex_pick_device(&platform, &device);
  if (rc)
    return rc;

  cl_int cu_q[B + 1] = {0}, cu_k[B + 1] = {0};
  int max_q = 0, max_k = 0;
  for (int b = 0; b < B; b++) {
    cu_q[b + 1] = cu_q[b] + q_len[b];
    cu_k[b + 1] = cu_k[b] + k_len[b];
    max_q = q_len[b] > max_q ? q_len[b] : max_q;
    max_k = k_len[b] > max_k ? k_len[b] : max_k;
  }
  const long TQ = cu_q[B], TK = cu_k[B];
  uint64_t seed = 7;
  float *hq = malloc(sizeof(float) * (size_t)(TQ * HQ * D));
  float *hkv = malloc(sizeof(float) * (size_t)(TK * 2 * H * D));
  float *hout = malloc(sizeof(float) * (size_t)(TQ * HQ * D));
  float *hlse = malloc(sizeof(float) * (size_t)(HQ * TQ));
  double *want = malloc(sizeof(double) * (size_t)(TQ * HQ * D));
  double *want_lse = malloc(sizeof(double) * (size_t)(HQ * TQ));
  ex_fill(hq, (size_t)(TQ * HQ * D), &seed);
  ex_fill(hkv, (size_t)(TK * 2 * H * D), &seed);

  cl_int err;
  cl_context clctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
  cl_command_queue queue =
      err == CL_SUCCESS ? clCreateCommandQueue(clctx, device, 0, &err) : NULL;
  if (err != CL_SUCCESS) {
    fprintf(stderr, "OpenCL setup: %d\n", err);
    return 1;
  }
  const cl_mem_flags in = CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR;
  cl_mem dq = clCreateBuffer(clctx, in, sizeof(float) * TQ * HQ * D, hq, &err);
  cl_mem dkv =
      clCreateBuffer(clctx, in, sizeof(float) * TK * 2 * H * D, hkv, &err);
  cl_mem dcuq = clCreateBuffer(clctx, in, sizeof cu_q, cu_q, &err);
  cl_mem dcuk = clCreateBuffer(clctx, in, sizeof cu_k, cu_k, &err);
  cl_mem dout = clCreateBuffer(clctx, CL_MEM_WRITE_ONLY,
                               sizeof(float) * TQ * HQ * D, NULL, &err);
  cl_mem dlse = clCreateBuffer(clctx, CL_MEM_WRITE_ONLY,
                               sizeof(float) * HQ * TQ, NULL, &err);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clCreateBuffer: %d\n", err);
    return 1;
  }

  clattn_context cc;
  clattn_status st = clattn_context_create(clctx, device, NULL, &cc);
  if (st != CLATTN_SUCCESS)
    return ex_fail(NULL, "clattn_context_create", st);

  // q [TQ, HQ, D]; k and v are the two halves of each packed [2, H, D] row.
  const clattn_tensor q = {dq, 0, {HQ * D, D}, CLATTN_F32};
  const clattn_tensor k = {dkv, 0, {2 * H * D, D}, CLATTN_F32};
  const clattn_tensor v = {dkv, H * D, {2 * H * D, D}, CLATTN_F32};
  const clattn_tensor out = {dout, 0, {HQ * D, D}, CLATTN_F32};
  const clattn_tensor lse = {dlse, 0, {TQ, 0}, CLATTN_F32};
  clattn_attention_params ap = CLATTN_ATTENTION_PARAMS_INIT;
  ap.batch = B;
  ap.num_heads = HQ;
  ap.num_kv_heads = H;
  ap.head_dim = D;
  ap.total_q = TQ;
  ap.total_k = TK;
  ap.max_seqlen_q = max_q;
  ap.max_seqlen_k = max_k; // causal 0, windows -1: every key is visible
  cl_event done;
  st = clattn_attention(cc, queue, &ap, &q, &k, &v, (clattn_buffer){dcuq, 0},
                        (clattn_buffer){dcuk, 0}, &out, &lse, 0, NULL, &done);
  if (st != CLATTN_SUCCESS)
    return ex_fail(cc, "clattn_attention", st);
  err = clEnqueueReadBuffer(queue, dout, CL_TRUE, 0,
                            sizeof(float) * TQ * HQ * D, hout, 1, &done, NULL);
  if (err == CL_SUCCESS)
    err = clEnqueueReadBuffer(queue, dlse, CL_TRUE, 0, sizeof(float) * HQ * TQ,
                              hlse, 1, &done, NULL);
  clReleaseEvent(done);
  if (err != CL_SUCCESS) {
    fprintf(stderr, "clEnqueueReadBuffer: %d\n", err);
    return 1;
  }

  // CPU: softmax(q.k / sqrt(D)) v over all keys of the row's sequence.
  const float **krow = malloc(sizeof(float *) * (size_t)max_k);
  const float **vrow = malloc(sizeof(float *) * (size_t)max_k);
  for (int b = 0; b < B; b++)
    for (long i = cu_q[b]; i < cu_q[b + 1]; i++)
      for (int h = 0; h < HQ; h++) {
        const int kvh = h / (HQ / H);
        for (int j = 0; j < k_len[b]; j++) {
          krow[j] = hkv + ((long)(cu_k[b] + j) * 2 * H + kvh) * D;
          vrow[j] = hkv + ((long)(cu_k[b] + j) * 2 * H + H + kvh) * D;
        }
        want_lse[h * TQ + i] = ex_attend(hq + (i * HQ + h) * D, krow, vrow,
                                         k_len[b], D, want + (i * HQ + h) * D);
      }
  free(krow);
  free(vrow);

  double err_out, err_lse;
  const int ok_out =
      ex_compare(hout, want, (size_t)(TQ * HQ * D), 1e-4, 1e-4, &err_out);
  const int ok_lse =
      ex_compare(hlse, want_lse, (size_t)(HQ * TQ), 1e-5, 1e-5, &err_lse);
  const char *variant = "", *format = "";
  clattn_query_variant(cc, CLATTN_OP_ATTENTION, D, CLATTN_F32, CLATTN_F32,
                       &variant, &format);
  printf("clattn %s  attention -> %s [%s]\n", clattn_version_string(), variant,
         format);
  printf("checked cross attention: %d sequences, q lengths %d/%d/%d over "
         "encoder lengths %d/%d/%d, %d heads x %d dims, no mask\n",
         B, q_len[0], q_len[1], q_len[2], k_len[0], k_len[1], k_len[2], HQ, D);
  printf("  out: max |err| %.2e (tol 1e-4 + 1e-4|ref|)  lse: max |err| %.2e "
         "(tol 1e-5 + 1e-5|ref|)\n",
         err_out, err_lse);
  printf("%s\n", ok_out && ok_lse ? "PASS" : "FAIL");

  clattn_context_release(cc);
  cl_mem bufs[] = {dq, dkv, dcuq, dcuk, dout, dlse};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
    clReleaseMemObject(bufs[i]);
  clReleaseCommandQueue(queue);
  clReleaseContext(clctx);
  free(hq), free(hkv), free(hout), free(hlse), free(want), free(want_lse);
  return ok_out && ok_lse ? 0 : 1;
}
