// SPDX-License-Identifier: Apache-2.0
// Internal interfaces of the host runtime: device caps, the variant registry
// and its pure selection function, program building and caching, context
// state, error reporting and argument validation helpers used by every op.
#ifndef CLATTN_HOST_INTERNAL_H
#define CLATTN_HOST_INTERNAL_H

#include "clattn/clattn.h"

#include <stdarg.h>
#include <stdint.h>
#include <threads.h>

// ---- capabilities ---------------------------------------------------------
// Feature bits of clattn_caps.features and of a variant's `requires`.
enum {
  CLATTN_CAP_FP16 = 1u << 0,             // cl_khr_fp16
  CLATTN_CAP_FP64 = 1u << 1,             // cl_khr_fp64
  CLATTN_CAP_KHR_SUBGROUPS = 1u << 2,    // cl_khr_subgroups
  CLATTN_CAP_INTEL_SUBGROUPS = 1u << 3,  // cl_intel_subgroups
  CLATTN_CAP_SUBGROUP_SHUFFLE = 1u << 4, // cl_khr_subgroup_shuffle
  CLATTN_CAP_NV_ATTRS = 1u << 5,         // cl_nv_device_attribute_query
  CLATTN_CAP_AMD_ATTRS = 1u << 6,        // cl_amd_device_attribute_query
  CLATTN_CAP_SPIRV = 1u << 7,            // accepts SPIR-V 1.0+ (IL versions)
  CLATTN_CAP_COMPILER = 1u << 8,         // CL_DEVICE_COMPILER_AVAILABLE
  CLATTN_CAP_GPU = 1u << 9,
  CLATTN_CAP_CPU = 1u << 10,
  CLATTN_CAP_NV_PTX = 1u << 11, // NVIDIA platform: inline PTX works
  CLATTN_CAP_INT64_ATOMICS = 1u << 12
};
#define CLATTN_CAP_ANY_SUBGROUPS                                               \
  (CLATTN_CAP_KHR_SUBGROUPS | CLATTN_CAP_INTEL_SUBGROUPS)

// Bits of clattn_caps.unknown: fields whose query failed.
enum {
  CLATTN_UNK_VERSION = 1u << 0,
  CLATTN_UNK_C_VERSION = 1u << 1,
  CLATTN_UNK_IL = 1u << 2,
  CLATTN_UNK_EXTENSIONS = 1u << 3,
  CLATTN_UNK_TYPE = 1u << 4,
  CLATTN_UNK_COMPUTE_UNITS = 1u << 5,
  CLATTN_UNK_LOCAL_MEM = 1u << 6,
  CLATTN_UNK_WORK_GROUP = 1u << 7,
  CLATTN_UNK_NV_CC = 1u << 8,
  CLATTN_UNK_AMD_WAVEFRONT = 1u << 9,
  CLATTN_UNK_SUBGROUP_SIZES = 1u << 10,
  CLATTN_UNK_NAME = 1u << 11
};

typedef struct clattn_caps {
  char platform[128];
  char name[128];
  char vendor[128];
  char driver[64];
  char version[128];      // CL_DEVICE_VERSION
  char c_version[128];    // CL_DEVICE_OPENCL_C_VERSION
  char il_versions[256];  // CL_DEVICE_IL_VERSION, "" when none
  char extensions[8192];  // space-separated, as reported
  int cl_major, cl_minor; // from version
  int c_major, c_minor;   // highest OpenCL C version
  int spirv_minor;        // highest SPIR-V 1.x accepted, -1 none
  unsigned features;      // CLATTN_CAP_*
  unsigned unknown;       // CLATTN_UNK_*
  cl_device_type type;
  cl_uint compute_units;
  cl_ulong local_mem;
  size_t max_work_group;
  cl_ulong max_alloc;
  int nv_cc;             // compute capability * 10 (90 = sm_90), 0 none
  int amd_wavefront;     // 0 when not AMD or unknown
  int subgroup_sizes[8]; // intel: CL_DEVICE_SUB_GROUP_SIZES_INTEL (first 8)
  int n_subgroup_sizes;
} clattn_caps;

// Fills caps from an OpenCL device. Never fails: a failed query marks the
// field unknown.
void clattn__caps_probe(cl_device_id dev, clattn_caps *caps);
// Fills the version/extension-derived fields from the strings already in caps
// (split out so unit tests can feed fake strings).
void clattn__caps_parse(clattn_caps *caps);
// Whole-token match in a space-separated extension list.
int clattn__has_token(const char *list, const char *token);

// ---- variant registry -------------------------------------------------------
typedef enum clattn_device_class {
  CLATTN_CLASS_ANY = 0,
  CLATTN_CLASS_GPU = 1, // not selected automatically on CPU devices
  CLATTN_CLASS_CPU = 2  // only on CPU devices
} clattn_device_class;

// Tile parameters: the same numbers are passed to the kernel as -D options.
// Field names are upper case so that the single variant list
// (cl/variants.cmake) can write `.tile = {.BLOCK_M = 32}` and `-DBLOCK_M=32`
// from one token.
typedef struct clattn_tile {
  int BLOCK_M, BLOCK_N, LANES, D_MAX, VEC, SG, WG, MMA;
} clattn_tile;

typedef struct clattn_variant {
  const char *name;
  clattn_op op;
  unsigned
    requires; // CLATTN_CAP_* all required
  clattn_device_class dclass;
  int priority;          // higher = more specific, tried first
  int min_nv_cc;         // 0 = any
  int head_dim_multiple; // head_dim % this == 0 (1 = any)
  int max_q_rows;        // > 0: needs 1 <= max_seqlen_q * group <= this
  int tf32;              // f32 with tf32 products: needs allow_tf32
  int ptx_sm90a;         // wgmma behind markers: cc 9.0 only, PTX rewrite
  int ptx_maxnreg;       // > 0: `.maxnreg` for the kernel, PTX rewrite
  int cu_slots;          // > 0: work-groups per CU at once (decode rows)
  int tensor_scales;     // quantized cache with per-tensor scales only
  unsigned dtypes;       // bit (1 << clattn_dtype) of accepted q/in dtypes
  unsigned cache_dtypes; // the same for the KV cache (kv_write, paged)
  size_t local_mem;      // bytes of __local the kernel declares
  clattn_tile tile;
  const char *build_options;  // "-DBLOCK_M=32 ..." (same for both formats)
  int source_index;           // into clattn__sources
  const unsigned char *spirv; // NULL when source-only
  size_t spirv_len;
  int spirv_minor; // SPIR-V 1.x the module needs
} clattn_variant;

typedef struct clattn_source {
  const char *file;          // "attention.cl"
  const unsigned char *text; // includes resolved, NUL-terminated
  size_t len;
} clattn_source;

// The registry, generated by CMake from cl/variants.cmake (variants_gen.c).
// clattn__registry() fills the embedded lengths once (thread-safe).
const clattn_variant *clattn__registry(int *count);
const clattn_source *clattn__source(int index);
extern const int clattn__variant_count;
extern const int clattn__source_count;
void clattn__registry_fill_lengths(void);
const clattn_variant *clattn__variants_ptr(void);
const clattn_source *clattn__sources_ptr(void);

// What selection needs to know about a call.
typedef struct clattn_select_args {
  clattn_op op;
  int head_dim;
  clattn_dtype dtype;       // q (or key, for kv_write) dtype
  clattn_dtype cache_dtype; // kv_write and paged_attention
  int max_seqlen_q;         // 0 = not known (kv_write, queries)
  int group;                // num_heads / num_kv_heads; 0 = not known
  int allow_tf32;           // the caller accepts tf32 products for f32
  long kv_groups;           // batch * num_kv_heads; 0 = not known
  int token_scales;         // a quantized cache has per-token-head scales
} clattn_select_args;

typedef struct clattn_candidate {
  const clattn_variant *v;
  int eligible;
  char reason[160];
} clattn_candidate;

// Why v cannot serve (caps, args); writes "" and returns 1 when it can.
// Compute units for the split and wave rules: 8 where the device did not
// say.
long clattn__caps_cu(const clattn_caps *caps);
int clattn__variant_eligible(const clattn_variant *v, const clattn_caps *caps,
                             const clattn_select_args *a, char *reason,
                             size_t reason_size);
// The PTX rewrite of ptx_sm90a rows (program.c): drops every `//@sm90a@ `
// marker and turns `.target sm_90` into sm_90a (a target already sm_90a
// stays). 0 and a malloc'd *out, or -1 when the text has no marker or
// neither target.
int clattn__ptx_sm90a(const char *ptx, size_t len, char **out, size_t *out_len);
// The PTX rewrite of ptx_maxnreg rows: `.maxnreg n` before the body of
// `.entry entry(...)`. 0 and a malloc'd *out, or -1 when the text has no
// such entry, or it already has a .maxnreg.
int clattn__ptx_maxnreg(const char *ptx, size_t len, const char *entry, int n,
                        char **out, size_t *out_len);

// Pure selection: fills up to max candidates (all rows of the op, in
// registry order, with eligibility and reason) and returns the chosen row,
// or NULL. forced (may be NULL) names a row that must be used if eligible.
const clattn_variant *clattn__select(const clattn_caps *caps,
                                     const clattn_select_args *a,
                                     const char *forced,
                                     clattn_candidate *cands, int max_cands,
                                     int *n_cands, char *why, size_t why_size);
const clattn_variant *clattn__variant_by_name(const char *name);

// Split count of a decode row (docs/kernels.md, "split-KV"): waves of the
// work-groups of local_mem bytes that fit per SM (at most cu_slots when >
// 0), times tiles per split.
int clattn__decode_splits(const clattn_caps *caps, cl_long local_mem,
                          int cu_slots, cl_long groups, cl_long ntiles);

typedef enum clattn_format {
  CLATTN_FORMAT_SOURCE = 0,
  CLATTN_FORMAT_SPIRV = 1
} clattn_format;
const char *clattn__format_name(clattn_format f);
// The format a variant would be built in on this device; forced is NULL,
// "spirv" or "source". Returns -1 (and a reason) when neither can serve.
int clattn__pick_format(const clattn_caps *caps, const clattn_variant *v,
                        const char *forced, char *why, size_t why_size);

// ---- context ----------------------------------------------------------------
typedef struct clattn_program_entry {
  const clattn_variant *v;
  clattn_format format;
  cl_program program;
  struct clattn_program_entry *next;
} clattn_program_entry;

// A split-KV scratch buffer kept for one in-order queue (host/scratch.c).
#define CLATTN_SCRATCH_SLOTS 4
typedef struct clattn_scratch {
  cl_command_queue queue; // retained; NULL: a free slot
  cl_mem buffer;          // retained
  size_t size;
  int busy;               // a call is between its two enqueues
  unsigned long last_use; // of scratch_clock, for eviction
} clattn_scratch;

struct clattn_context_st {
  uint32_t magic;
  cl_context cl_ctx;
  cl_device_id device;
  clattn_caps caps;
  clattn_options opts;
  char cache_dir[1024]; // "" when disabled
  mtx_t lock;           // guards everything below
  clattn_program_entry *programs;
  clattn_scratch scratch[CLATTN_SCRATCH_SLOTS];
  unsigned long scratch_clock;
  char forced_variant[CLATTN_OP_COUNT_][64];
  char forced_format[16];
  char last_error[4096];
  cl_int last_cl_error;
  int log_debug;
};
#define CLATTN_CONTEXT_MAGIC 0xC1A77E01u

// Records a formatted message (and cl error) on ctx, logs it, returns status.
clattn_status clattn__fail(clattn_context ctx, clattn_status st, cl_int clerr,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void clattn__log(clattn_context ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
// Returns CLATTN_ERROR_INVALID_CONTEXT for NULL/released handles.
clattn_status clattn__check_context(clattn_context ctx);

// Selects the variant for an op call (honouring forced variant/format) and
// returns a built kernel (caller releases) named kernel_name from it.
clattn_status clattn__get_kernel(clattn_context ctx,
                                 const clattn_select_args *a,
                                 const char *kernel_name,
                                 const clattn_variant **variant,
                                 clattn_format *format, cl_kernel *kernel);
// The same selection without building (clattn_query_variant, the probe).
clattn_status clattn__choose(clattn_context ctx, const clattn_select_args *a,
                             const clattn_variant **variant,
                             clattn_format *format);
// Builds (or fetches) the program of a given variant in a given format.
clattn_status clattn__get_program(clattn_context ctx, const clattn_variant *v,
                                  clattn_format format, cl_program *program);

// ---- validation helpers (each records a message naming the argument) -------
size_t clattn__dtype_size(clattn_dtype dt);
// The opening checks of every op: context, *event = NULL (before anything
// can fail), params not NULL, queue, wait list.
clattn_status clattn__check_call(clattn_context ctx, const char *fn,
                                 const void *params, cl_command_queue queue,
                                 cl_uint n_wait, const cl_event *wait,
                                 cl_event *event);
clattn_status clattn__check_queue(clattn_context ctx, const char *fn,
                                  cl_command_queue queue);
clattn_status clattn__check_events(clattn_context ctx, const char *fn,
                                   cl_uint n, const cl_event *list);
// Checks a [rows, heads, dim] view (or [heads, rows] when dim == 0) fits.
clattn_status clattn__check_tensor3(clattn_context ctx, const char *fn,
                                    const char *arg, const clattn_tensor *t,
                                    cl_long rows, cl_long heads, cl_long dim,
                                    unsigned allowed_dtypes);
clattn_status clattn__check_buffer(clattn_context ctx, const char *fn,
                                   const char *arg, clattn_buffer b,
                                   cl_long count, size_t elem_size,
                                   int optional);
clattn_status clattn__check_cache(clattn_context ctx, const char *fn,
                                  const char *arg, const clattn_cache *c,
                                  cl_long heads, cl_long dim,
                                  unsigned allowed_dtypes);
// Checks the scale fields of a cache that clattn__check_cache accepted:
// scale_mode, the per-tensor value, scale_dtype and the scale buffer's view.
clattn_status clattn__check_cache_scales(clattn_context ctx, const char *fn,
                                         const char *arg, const clattn_cache *c,
                                         cl_long heads);
// Rejects a written view whose elements alias ([n] sizes and strides plus a
// contiguous last dimension of dim elements).
clattn_status clattn__check_no_alias(clattn_context ctx, const char *fn,
                                     const char *arg, int n,
                                     const cl_long *sizes,
                                     const cl_long *strides, cl_long dim);

// ---- program binary cache on disk (cache.c) ---------------------------------
// Both return 0 on success. The key covers device name, driver, variant,
// build options and library version; a bad entry is reported as a miss.
int clattn__disk_cache_load(clattn_context ctx, const char *key,
                            unsigned char **binary, size_t *size);
int clattn__disk_cache_store(clattn_context ctx, const char *key,
                             const unsigned char *binary, size_t size);

// The split-KV scratch of a call: a retained buffer of at least bytes. On
// an in-order queue it is the context's buffer for that queue (slot >= 0;
// call clattn__scratch_done(ctx, slot) once both kernels are enqueued),
// else one of its own (slot -1). NULL with *err set when allocation failed.
cl_mem clattn__scratch_acquire(clattn_context ctx, cl_command_queue queue,
                               size_t bytes, int *slot, cl_int *err);
void clattn__scratch_done(clattn_context ctx, int slot);
// Releases every kept buffer and queue (context destruction).
void clattn__scratch_free_all(clattn_context ctx);

// ---- test-only fault injection (docs/failure.md) ----------------------------
// Compiled in only with CLATTN_FAULT_INJECTION, which only the test library
// clattn_core_faults (tests/CMakeLists.txt) defines: libclattn has no hook.
enum {
  CLATTN_FAULT_NO_COMPILER = 1u << 0, // caps lose CLATTN_CAP_COMPILER
  CLATTN_FAULT_SCRATCH_OOM = 1u << 1, // the split-KV scratch allocation fails
  CLATTN_FAULT_BUILD_ERROR = 1u << 2  // source builds hit an #error
};
#ifdef CLATTN_FAULT_INJECTION
extern unsigned clattn__faults;
#define CLATTN_FAULT(f) ((clattn__faults & (f)) != 0)
#else
#define CLATTN_FAULT(f) 0
#endif

#define CLATTN_DTYPE_BIT(d) (1u << (unsigned)(d))

// A cache descriptor with the scale fields of CLATTN_CACHE_INIT (per-tensor
// scale 1), for the tools and tests.
static inline clattn_cache clattn__cache(cl_mem buf, cl_ulong off, cl_long sb,
                                         cl_long ss, cl_long sh,
                                         clattn_dtype dt, cl_int bs,
                                         cl_long nb) {
  clattn_cache c = CLATTN_CACHE_INIT;
  c.buffer = buf;
  c.offset = off;
  c.stride_block = sb;
  c.stride_slot = ss;
  c.stride_head = sh;
  c.dtype = dt;
  c.block_size = bs;
  c.num_blocks = nb;
  return c;
}
#define CLATTN_FLOAT_DTYPES                                                    \
  (CLATTN_DTYPE_BIT(CLATTN_F32) | CLATTN_DTYPE_BIT(CLATTN_F16) |               \
   CLATTN_DTYPE_BIT(CLATTN_BF16))
#define CLATTN_QUANT_DTYPES                                                    \
  (CLATTN_DTYPE_BIT(CLATTN_FP8_E4M3) | CLATTN_DTYPE_BIT(CLATTN_FP8_E5M2) |     \
   CLATTN_DTYPE_BIT(CLATTN_I8))

#endif // CLATTN_HOST_INTERNAL_H
