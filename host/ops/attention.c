// SPDX-License-Identifier: Apache-2.0
// Placeholder for clattn_attention / clattn_paged_attention while the kernel
// family is written: both report CLATTN_ERROR_UNSUPPORTED.
#include "internal.h"

clattn_status clattn_attention(clattn_context ctx, cl_command_queue queue,
                               const clattn_attention_params *params,
                               const clattn_tensor *q, const clattn_tensor *k,
                               const clattn_tensor *v, clattn_buffer cu_q,
                               clattn_buffer cu_k, const clattn_tensor *out,
                               const clattn_tensor *lse, cl_uint n,
                               const cl_event *w, cl_event *e) {
  clattn_status st = clattn__check_context(ctx);
  return st ? st
            : clattn__fail(ctx, CLATTN_ERROR_UNSUPPORTED, 0,
                           "clattn_attention: not implemented yet");
}

clattn_status clattn_paged_attention(
    clattn_context ctx, cl_command_queue queue,
    const clattn_attention_params *params, const clattn_tensor *q,
    const clattn_cache *kc, const clattn_cache *vc, clattn_buffer cu_q,
    clattn_buffer seq_lens_k, clattn_buffer block_table,
    const clattn_tensor *out, const clattn_tensor *lse, cl_uint n,
    const cl_event *w, cl_event *e) {
  clattn_status st = clattn__check_context(ctx);
  return st ? st
            : clattn__fail(ctx, CLATTN_ERROR_UNSUPPORTED, 0,
                           "clattn_paged_attention: not implemented yet");
}
