// SPDX-License-Identifier: Apache-2.0
// clattn public API: attention kernels in OpenCL C with a host runtime that
// probes the device and picks the kernel variant and program format.
// This is the only public header; docs/api.md explains every function.
#ifndef CLATTN_CLATTN_H
#define CLATTN_CLATTN_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>

#include "clattn/clattn_version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(CLATTN_BUILDING) && defined(__GNUC__)
#define CLATTN_API __attribute__((visibility("default")))
#else
#define CLATTN_API
#endif

// Status codes. They live in their own range and never overlap the cl_int
// error codes; the raw cl_int of a failed OpenCL call is kept per context.
typedef enum clattn_status {
  CLATTN_SUCCESS = 0,
  CLATTN_ERROR_INVALID_ARGUMENT = -30001, // a bad value; message names it
  CLATTN_ERROR_BUFFER_TOO_SMALL = -30002, // a view runs past CL_MEM_SIZE
  CLATTN_ERROR_UNSUPPORTED = -30003,      // valid, but not implemented here
  CLATTN_ERROR_NO_VARIANT = -30004,       // no variant can run on the device
  CLATTN_ERROR_BUILD_FAILED = -30005,     // message holds the build log
  CLATTN_ERROR_OPENCL = -30006,           // see clattn_context_last_cl_error
  CLATTN_ERROR_OUT_OF_MEMORY = -30007,    // host or split-KV scratch allocation
  CLATTN_ERROR_INVALID_CONTEXT = -30008,  // NULL or released context
  CLATTN_STATUS_FORCE_32BIT = 0x7fffffff
} clattn_status;

// Element types. Q/K/V/out take F32, F16 and BF16 (bf16 is the high half of
// an f32). FP8 and I8 are for the KV cache only.
typedef enum clattn_dtype {
  CLATTN_F32 = 0,
  CLATTN_F16 = 1,
  CLATTN_BF16 = 2,
  CLATTN_FP8_E4M3 = 3,
  CLATTN_FP8_E5M2 = 4,
  CLATTN_I8 = 5,
  CLATTN_I32 = 6,
  CLATTN_I64 = 7,
  CLATTN_DTYPE_COUNT_ = 8
} clattn_dtype;

typedef enum clattn_op {
  CLATTN_OP_KV_WRITE = 0,
  CLATTN_OP_ATTENTION = 1,
  CLATTN_OP_PAGED_ATTENTION = 2,
  CLATTN_OP_COUNT_ = 3
} clattn_op;

// Bits OR-ed by kernels into the optional device status word (one cl_uint)
// when data only the device sees is out of range. The caller zeroes the word
// before the op and reads it after the op's event completes.
enum {
  CLATTN_DEVICE_BAD_SLOT = 1u << 0,        // slot_mapping entry >= capacity
  CLATTN_DEVICE_BAD_BLOCK_TABLE = 1u << 1, // block_table entry outside cache
  CLATTN_DEVICE_BAD_SEQ_LEN = 1u << 2,     // seq_lens_k past the table row
  CLATTN_DEVICE_BAD_CU_SEQLENS = 1u << 3   // cu_seqlens not monotone/too big
};

// A plain device array: buffer and offset in elements (of the array's type).
typedef struct clattn_buffer {
  cl_mem buffer;
  cl_ulong offset;
} clattn_buffer;

// A strided tensor view of rank <= 3 whose last dimension is contiguous.
// For [tokens, heads, dim]: stride[0] is the token stride, stride[1] the head
// stride. For lse [heads, total_q]: stride[0] is the head stride. Offsets and
// strides are in elements and 64-bit.
typedef struct clattn_tensor {
  cl_mem buffer;
  cl_ulong offset;
  cl_long stride[2];
  clattn_dtype dtype;
} clattn_tensor;

// How a quantized (FP8, I8) cache is scaled; the stored code of x is
// round(x / scale) saturated to the format (docs/quantized-kv.md).
typedef enum clattn_scale_mode {
  CLATTN_SCALE_TENSOR = 0,        // one host value: clattn_cache.scale
  CLATTN_SCALE_TENSOR_BUFFER = 1, // one f32 at scales.buffer[scales.offset]
  CLATTN_SCALE_TOKEN_HEAD = 2     // f32 per (block, slot, head), written by
                                  // kv_write (absmax / format max)
} clattn_scale_mode;

// A paged KV cache of num_blocks pages of block_size token slots. Element
// (block, slot, head, d) sits at offset + block*stride_block +
// slot*stride_slot + head*stride_head + d, which describes NHD
// [blocks, block_size, heads, dim], HND [blocks, heads, block_size, dim] and
// one half of the combined [blocks, 2, block_size, heads, dim] view alike.
// Zero-initialise (CLATTN_CACHE_INIT): the fields after `scale` then mean
// "per-tensor host scale", which float caches ignore.
typedef struct clattn_cache {
  cl_mem buffer;
  cl_ulong offset;
  cl_long stride_block;
  cl_long stride_slot;
  cl_long stride_head;
  clattn_dtype dtype;
  cl_int block_size;  // >= 1
  cl_long num_blocks; // >= 1
  float scale;        // CLATTN_SCALE_TENSOR dequant scale, > 0 (0 -> 1)
  // Quantized caches only (float caches need CLATTN_SCALE_TENSOR):
  cl_int scale_mode;    // clattn_scale_mode
  clattn_buffer scales; // f32 scales of the buffer modes; the scale of
                        // (block, slot, head) sits at scales.offset +
                        // block*scale_stride_block + slot*scale_stride_slot
                        // + head*scale_stride_head (TOKEN_HEAD)
  cl_long scale_stride_block;
  cl_long scale_stride_slot;
  cl_long scale_stride_head;
  clattn_dtype scale_dtype; // CLATTN_F32 (the only scale dtype)
} clattn_cache;
#define CLATTN_CACHE_INIT                                                      \
  {                                                                            \
    NULL, 0, 0, 0, 0, CLATTN_F32, 0, 0, 0.0f, CLATTN_SCALE_TENSOR, {NULL, 0},  \
        0, 0, 0, CLATTN_F32                                                    \
  }

typedef void (*clattn_log_fn)(void *user, const char *line);

// Context options; zero-initialise (CLATTN_OPTIONS_INIT) and set what you need.
typedef struct clattn_options {
  clattn_log_fn log; // receives log lines (selection, fallbacks); nullable
  void *log_user;
  const char *cache_dir; // program binary cache; NULL = $CLATTN_CACHE_DIR,
                         // then $XDG_CACHE_HOME/clattn; "off" disables
} clattn_options;
#define CLATTN_OPTIONS_INIT                                                    \
  { NULL, NULL, NULL }

typedef struct clattn_context_st *clattn_context;

// ---- kv_write ------------------------------------------------------------
typedef struct clattn_kv_write_params {
  cl_long num_tokens; // rows of key/value/slot_mapping (0 is a no-op)
  cl_int num_kv_heads;
  cl_int head_dim;      // 1..256
  clattn_buffer status; // optional device status word (cl_uint); NULL = none
} clattn_kv_write_params;
#define CLATTN_KV_WRITE_PARAMS_INIT                                            \
  {                                                                            \
    0, 0, 0, { NULL, 0 }                                                       \
  }

// ---- attention and paged_attention ---------------------------------------
typedef struct clattn_attention_params {
  cl_int batch;     // sequences; cu_seqlens hold batch+1 entries
  cl_int num_heads; // query heads, a multiple of num_kv_heads
  cl_int num_kv_heads;
  cl_int head_dim;            // 1..256
  cl_long total_q;            // rows of q and out
  cl_long total_k;            // rows of k and v (attention only)
  cl_int max_seqlen_q;        // >= every query length (host-known bound)
  cl_int max_seqlen_k;        // >= every key length
  float scale;                // softmax scale; 0 means 1/sqrt(head_dim)
  cl_int causal;              // non-zero forces window_right = 0
  cl_int window_left;         // -1 = unbounded
  cl_int window_right;        // -1 = unbounded
  float softcap;              // > 0 applies softcap * tanh(x / softcap)
  clattn_buffer alibi_slopes; // [num_heads] f32; NULL buffer = no ALiBi
  clattn_buffer sinks;        // [num_heads] f32; NULL buffer = no sinks
  clattn_buffer status;       // optional device status word (cl_uint)
  // paged_attention only:
  cl_int max_blocks_per_seq;  // columns of block_table
  cl_long block_table_stride; // row stride of block_table in elements
  cl_int num_splits;          // 0 = automatic, 1 = never split, n = n splits
  // Non-zero lets f32 attention use tf32 tensor-core products (inputs
  // rounded to a 10-bit mantissa, f32 accumulation) where a device has them;
  // 0 (default) keeps exact f32. No effect on f16/bf16.
  cl_int allow_tf32;
} clattn_attention_params;
#define CLATTN_ATTENTION_PARAMS_INIT                                           \
  {                                                                            \
    0, 0, 0, 0, 0, 0, 0, 0, 0.0f, 0, -1, -1, 0.0f, {NULL, 0}, {NULL, 0},       \
        {NULL, 0}, 0, 0, 0, 0                                                  \
  }

// ---- library and context -------------------------------------------------
CLATTN_API const char *clattn_version_string(void);
CLATTN_API const char *clattn_status_string(clattn_status status);
CLATTN_API const char *clattn_dtype_name(clattn_dtype dtype);
CLATTN_API const char *clattn_op_name(clattn_op op);

// Creates a handle over the caller's context and device (both are retained
// until release). options may be NULL. Thread-safe: ops on one context may
// be enqueued from several threads at once.
CLATTN_API clattn_status clattn_context_create(cl_context context,
                                               cl_device_id device,
                                               const clattn_options *options,
                                               clattn_context *out);
// Releases the handle and its programs. Work already enqueued keeps its own
// references and completes. NULL and released handles are no-ops.
CLATTN_API void clattn_context_release(clattn_context ctx);

// The message of the last failure recorded on ctx by any thread (argument,
// value and limit, or the build log), copied for the calling thread: valid
// until this thread calls it again. A success does not clear it. With ctx
// NULL: the message of this thread's last failed clattn_context_create.
// Never NULL; "" when nothing failed.
CLATTN_API const char *clattn_context_last_error(clattn_context ctx);
// The raw cl_int of the last failed OpenCL call on ctx (CL_SUCCESS if none).
CLATTN_API cl_int clattn_context_last_cl_error(clattn_context ctx);

// Forces a variant for one op on this context (like CLATTN_VARIANT, but per
// op); NULL restores automatic selection. An unknown name is rejected here,
// an ineligible one by the op call.
CLATTN_API clattn_status clattn_context_force_variant(clattn_context ctx,
                                                      clattn_op op,
                                                      const char *name);
// Forces the program format: "spirv", "source" or NULL (automatic).
CLATTN_API clattn_status clattn_context_force_format(clattn_context ctx,
                                                     const char *format);
// Reports the variant and program format the op would use for a call with
// this head_dim, q (or key) dtype and cache dtype (ignored by attention).
// It knows no sequence lengths, group or scale mode: it reports a prefill
// row, and for an 8-bit cache the row of per-tensor scales (a call with
// per-token-head scales may take a portable row instead). The returned
// strings are static.
CLATTN_API clattn_status clattn_query_variant(
    clattn_context ctx, clattn_op op, cl_int head_dim, clattn_dtype dtype,
    clattn_dtype cache_dtype, const char **variant, const char **format);

// ---- ops (all enqueue and return; none blocks) -----------------------------
// Writes key/value [num_tokens, num_kv_heads, head_dim] into the paged caches
// at slot_mapping[t] (cl_long) = block * block_size + offset; negative slots
// are skipped, slots >= num_blocks * block_size are not written and set
// CLATTN_DEVICE_BAD_SLOT. value and value_cache may both be NULL (key-only).
// event receives the op's last kernel event (caller releases); nullable.
CLATTN_API clattn_status
clattn_kv_write(clattn_context ctx, cl_command_queue queue,
                const clattn_kv_write_params *params, const clattn_tensor *key,
                const clattn_tensor *value, clattn_buffer slot_mapping,
                const clattn_cache *key_cache, const clattn_cache *value_cache,
                cl_uint num_events_in_wait_list,
                const cl_event *event_wait_list, cl_event *event);

// Variable-length attention over packed q [total_q, heads, dim] and k, v
// [total_k, kv_heads, dim]; cu_seqlens_q/k are cl_int [batch + 1]. lse
// [heads, total_q] f32 is optional (NULL).
CLATTN_API clattn_status clattn_attention(
    clattn_context ctx, cl_command_queue queue,
    const clattn_attention_params *params, const clattn_tensor *q,
    const clattn_tensor *k, const clattn_tensor *v, clattn_buffer cu_seqlens_q,
    clattn_buffer cu_seqlens_k, const clattn_tensor *out,
    const clattn_tensor *lse, cl_uint num_events_in_wait_list,
    const cl_event *event_wait_list, cl_event *event);

// Attention over the paged cache: seq_lens_k (cl_int [batch]) counts every
// key including this step's; block_table is cl_int [batch, max_blocks_per_seq]
// with row stride block_table_stride.
CLATTN_API clattn_status clattn_paged_attention(
    clattn_context ctx, cl_command_queue queue,
    const clattn_attention_params *params, const clattn_tensor *q,
    const clattn_cache *key_cache, const clattn_cache *value_cache,
    clattn_buffer cu_seqlens_q, clattn_buffer seq_lens_k,
    clattn_buffer block_table, const clattn_tensor *out,
    const clattn_tensor *lse, cl_uint num_events_in_wait_list,
    const cl_event *event_wait_list, cl_event *event);

#ifdef __cplusplus
}
#endif
#endif // CLATTN_CLATTN_H
