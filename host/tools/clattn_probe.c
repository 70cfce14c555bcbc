// SPDX-License-Identifier: Apache-2.0
// clattn-probe: clinfo for clattn. Lists every OpenCL device with the caps
// the library sees, the program format and, for each op, the selected variant
// and every candidate with its reason; --json (docs/probe.md), --selftest.
#include "internal.h"
#include "json.h"
#include "selftest.h"
#include "toolutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBE_SCHEMA_VERSION 1
#define MAX_DEVICES 64
#define MAX_CANDS 64

static const char usage[] =
    "usage: clattn-probe [--json] [--device P:D] [--selftest] [--head-dim N]\n"
    "                    [--dtype f32|f16|bf16] [--cache-dtype f32|f16|bf16]\n"
    "                    [--seqlen-q N] [--group N] [--seed N] [--no-cache]\n"
    "                    [--help]\n"
    "\n"
    "Shows every OpenCL device as clattn sees it: its capabilities, the\n"
    "program format it would use and, for each op, the variant selected for a\n"
    "representative call and every candidate with the reason it was or was\n"
    "not eligible.\n"
    "\n"
    "  --json          one JSON object on stdout (schema: docs/probe.md)\n"
    "  --device P:D    only platform P, device D (also CLATTN_DEVICE=P:D)\n"
    "  --selftest      run every op x eligible variant x format x dtype on\n"
    "                  small random problems against the reference; exit 1 on\n"
    "                  any failure\n"
    "  --head-dim N    representative call: head_dim (default 128)\n"
    "  --dtype T       representative call: q/k/v dtype (default f16)\n"
    "  --cache-dtype T representative call: KV-cache dtype (default: --dtype)\n"
    "  --seqlen-q N    representative call: max query length of attention and\n"
    "                  paged_attention (default 512 and 1, i.e. prefill and\n"
    "                  decode)\n"
    "  --group N       representative call: query heads per KV head (default "
    "4)\n"
    "  --seed N        self-test data seed (default: time-based, printed)\n"
    "  --no-cache      self-test builds every program (CLATTN_CACHE_DIR=off)\n"
    "\n"
    "Environment: CLATTN_DEVICE, and CLATTN_VARIANT / CLATTN_PROGRAM_FORMAT\n"
    "(shown as forced, as the ops would apply them).\n"
    "Exit status: 0 ok, 1 self-test failure, 2 usage, 3 no OpenCL platform or\n"
    "device, 4 OpenCL error while setting up the self-test.\n";

typedef struct probe_opts {
  int json, selftest, no_cache;
  const char *device;
  int head_dim;
  clattn_dtype dtype, cache_dtype;
  int cache_dtype_set;
  int seqlen_q; // 0 = per-op default
  int group;    // num_heads / num_kv_heads of the representative call
  uint64_t seed;
  int seed_set;
} probe_opts;

// Overrides from the environment, parsed as clattn_context_create does.
typedef struct env_force {
  char variant[CLATTN_OP_COUNT_][64];
  char format[16];
  char error[256];
} env_force;

static void read_env(env_force *f) {
  memset(f, 0, sizeof *f);
  const char *fmt = getenv("CLATTN_PROGRAM_FORMAT");
  if (fmt && *fmt) {
    if (strcmp(fmt, "spirv") && strcmp(fmt, "source"))
      snprintf(f->error, sizeof f->error,
               "CLATTN_PROGRAM_FORMAT='%s' is neither 'spirv' nor 'source' "
               "(clattn_context_create rejects it)",
               fmt);
    else
      snprintf(f->format, sizeof f->format, "%s", fmt);
  }
  const char *var = getenv("CLATTN_VARIANT");
  if (var && *var) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", var);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
      const clattn_variant *v = clattn__variant_by_name(tok);
      if (!v) {
        snprintf(f->error, sizeof f->error,
                 "CLATTN_VARIANT names '%s', which is no variant "
                 "(clattn_context_create rejects it)",
                 tok);
        continue;
      }
      snprintf(f->variant[v->op], sizeof f->variant[v->op], "%s", tok);
    }
  }
}

// ---- per-device report data
// ------------------------------------------------------
typedef struct op_report {
  clattn_select_args args;
  const clattn_variant *selected;
  int format;           // clattn_format or -1
  char why[256];        // selection outcome
  char format_why[256]; // why no format ("" when one was found)
  const char *forced;   // forced variant name or NULL
  clattn_candidate cands[MAX_CANDS];
  int n_cands;
} op_report;

typedef struct dev_report {
  tool_dev dev;
  clattn_caps caps;
  op_report ops[CLATTN_OP_COUNT_];
  const char *program_format; // "spirv", "source", "mixed" or "none"
  char format_reason[160];
  int spirv_embedded; // the build holds SPIR-V modules
  st_report st;
  int st_ran;
  char st_error[256];
} dev_report;

static void select_ops(dev_report *r, const probe_opts *o, const env_force *f) {
  int spirv = 0, source = 0, none = 0, unserved = 0;
  for (int op = 0; op < CLATTN_OP_COUNT_; op++) {
    op_report *orp = &r->ops[op];
    orp->args.op = (clattn_op)op;
    orp->args.head_dim = o->head_dim;
    orp->args.dtype = o->dtype;
    orp->args.cache_dtype = o->cache_dtype;
    orp->args.max_seqlen_q =
        op == CLATTN_OP_KV_WRITE
            ? 0
            : (o->seqlen_q ? o->seqlen_q
                           : (op == CLATTN_OP_ATTENTION ? 512 : 1));
    orp->args.group = op == CLATTN_OP_KV_WRITE ? 0 : o->group;
    orp->forced = f->variant[op][0] ? f->variant[op] : NULL;
    orp->selected =
        clattn__select(&r->caps, &orp->args, orp->forced, orp->cands, MAX_CANDS,
                       &orp->n_cands, orp->why, sizeof orp->why);
    if (orp->n_cands == 0)
      snprintf(orp->why, sizeof orp->why, "no %s variant in this build",
               clattn_op_name((clattn_op)op));
    orp->format = -1;
    orp->format_why[0] = '\0';
    if (orp->selected)
      orp->format = clattn__pick_format(
          &r->caps, orp->selected, f->format[0] ? f->format : NULL,
          orp->format_why, sizeof orp->format_why);
    if (!orp->selected)
      unserved++; // no variant: says nothing about the format
    else if (orp->format == CLATTN_FORMAT_SPIRV)
      spirv++;
    else if (orp->format == CLATTN_FORMAT_SOURCE)
      source++;
    else
      none++;
  }
  // Over the ops that have a variant: one format, "mixed", or "none".
  r->program_format = spirv && !source && !none   ? "spirv"
                      : source && !spirv && !none ? "source"
                      : spirv || source           ? "mixed"
                                                  : "none";
  (void)unserved;
  int n = 0;
  const clattn_variant *rows = clattn__registry(&n);
  r->spirv_embedded = 0;
  for (int i = 0; i < n; i++)
    r->spirv_embedded |= rows[i].spirv != NULL;
  const clattn_caps *c = &r->caps;
  if (f->format[0])
    snprintf(r->format_reason, sizeof r->format_reason,
             "forced by CLATTN_PROGRAM_FORMAT=%s", f->format);
  else if (!(c->features & CLATTN_CAP_SPIRV) || c->spirv_minor < 0)
    snprintf(r->format_reason, sizeof r->format_reason,
             "the device accepts no SPIR-V IL; embedded OpenCL C source");
  else if (!r->spirv_embedded)
    snprintf(r->format_reason, sizeof r->format_reason,
             "the library was built without SPIR-V modules");
  else if (!(c->features & CLATTN_CAP_COMPILER))
    snprintf(r->format_reason, sizeof r->format_reason,
             "SPIR-V; the device has no OpenCL C compiler");
  else
    snprintf(r->format_reason, sizeof r->format_reason,
             "the device accepts SPIR-V 1.%d; source is the fallback",
             c->spirv_minor);
}

// The text shown for a candidate: the registry's reason when ineligible,
// otherwise why it was or was not chosen.
static void cand_reason(const op_report *o, const clattn_candidate *c,
                        char *buf, size_t n) {
  if (!c->eligible)
    snprintf(buf, n, "%s", c->reason);
  else if (c->v == o->selected)
    snprintf(buf, n,
             o->forced ? "selected (forced by CLATTN_VARIANT)"
                       : "selected: highest priority eligible (%d)",
             c->v->priority);
  else if (o->forced)
    snprintf(buf, n, "eligible; not chosen (CLATTN_VARIANT forces %s)",
             o->forced);
  else if (o->selected)
    snprintf(buf, n, "eligible; priority %d < %d of %s", c->v->priority,
             o->selected->priority, o->selected->name);
  else
    snprintf(buf, n, "eligible");
}

// ---- caps as names
// -------------------------------------------------------------
static const char *const feature_names[] = {"fp16",
                                            "fp64",
                                            "khr_subgroups",
                                            "intel_subgroups",
                                            "subgroup_shuffle",
                                            "nv_attributes",
                                            "amd_attributes",
                                            "spirv",
                                            "compiler",
                                            "gpu",
                                            "cpu",
                                            "nv_ptx",
                                            "int64_atomics"};
static const char *const unknown_names[] = {
    "opencl_version",  "opencl_c_version",    "il_versions",
    "extensions",      "device_type",         "compute_units",
    "local_mem_bytes", "max_work_group_size", "nv_compute_capability",
    "amd_wavefront",   "subgroup_sizes",      "name"};
#define N_FEATURES (int)(sizeof feature_names / sizeof feature_names[0])
#define N_UNKNOWN (int)(sizeof unknown_names / sizeof unknown_names[0])

static void device_type_name(const clattn_caps *c, char *buf, size_t n) {
  buf[0] = '\0';
  if (c->unknown & CLATTN_UNK_TYPE) {
    snprintf(buf, n, "unknown");
    return;
  }
  static const struct {
    cl_device_type bit;
    const char *name;
  } t[] = {{CL_DEVICE_TYPE_CPU, "cpu"},
           {CL_DEVICE_TYPE_GPU, "gpu"},
           {CL_DEVICE_TYPE_ACCELERATOR, "accelerator"},
           {CL_DEVICE_TYPE_CUSTOM, "custom"}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (c->type & t[i].bit) {
      size_t len = strlen(buf);
      snprintf(buf + len, n - len, "%s%s", len ? "+" : "", t[i].name);
    }
  if (!buf[0])
    snprintf(buf, n, "other");
}

static const char *str_or_unknown(const char *s) {
  return s && *s ? s : "unknown";
}

// ---- human output
// ----------------------------------------------------------------
#define ROW(label, ...)                                                        \
  do {                                                                         \
    printf("  %-28s ", label);                                                 \
    printf(__VA_ARGS__);                                                       \
    putchar('\n');                                                             \
  } while (0)

static void print_words(const char *label, const char *list) {
  printf("  %-28s", label);
  int col = 31, any = 0;
  const char *p = list;
  while (p && *p) {
    while (*p == ' ')
      p++;
    size_t len = strcspn(p, " ");
    if (!len)
      break;
    if (any && col + 1 + (int)len > 100) {
      printf("\n  %-28s", "");
      col = 31;
    }
    printf(" %.*s", (int)len, p);
    col += 1 + (int)len;
    any = 1;
    p += len;
  }
  if (!any)
    printf(" (none)");
  putchar('\n');
}

static void print_human(const dev_report *r) {
  const clattn_caps *c = &r->caps;
  char buf[256];
  printf("Device %d:%d  %s\n", r->dev.p, r->dev.d,
         (c->unknown & CLATTN_UNK_NAME) ? "unknown" : c->name);
  ROW("Platform", "%s", str_or_unknown(c->platform));
  ROW("Vendor", "%s", str_or_unknown(c->vendor));
  ROW("Driver version", "%s", str_or_unknown(c->driver));
  if (c->unknown & CLATTN_UNK_VERSION)
    ROW("OpenCL version", "unknown");
  else
    ROW("OpenCL version", "%d.%d  (%s)", c->cl_major, c->cl_minor, c->version);
  if (c->unknown & CLATTN_UNK_C_VERSION)
    ROW("OpenCL C version", "unknown");
  else
    ROW("OpenCL C version", "%d.%d  (%s)", c->c_major, c->c_minor,
        c->c_version);
  if (c->unknown & CLATTN_UNK_IL)
    ROW("IL versions", "unknown");
  else
    ROW("IL versions", "%s", c->il_versions[0] ? c->il_versions : "(none)");
  if (c->spirv_minor >= 0)
    ROW("SPIR-V accepted", "yes, up to 1.%d", c->spirv_minor);
  else
    ROW("SPIR-V accepted", "no");
  device_type_name(c, buf, sizeof buf);
  ROW("Device type", "%s", buf);
  if (c->unknown & CLATTN_UNK_COMPUTE_UNITS)
    ROW("Compute units", "unknown");
  else
    ROW("Compute units", "%u", (unsigned)c->compute_units);
  if (c->unknown & CLATTN_UNK_LOCAL_MEM)
    ROW("Local memory", "unknown");
  else
    ROW("Local memory", "%llu B (%llu KiB)", (unsigned long long)c->local_mem,
        (unsigned long long)c->local_mem / 1024);
  if (c->unknown & CLATTN_UNK_WORK_GROUP)
    ROW("Max work-group size", "unknown");
  else
    ROW("Max work-group size", "%zu", c->max_work_group);
  ROW("Max allocation", "%llu MiB", (unsigned long long)(c->max_alloc >> 20));
  if (c->unknown & CLATTN_UNK_NV_CC)
    ROW("NV compute capability", "unknown");
  else if (c->nv_cc)
    ROW("NV compute capability", "%d.%d (sm_%d)", c->nv_cc / 10, c->nv_cc % 10,
        c->nv_cc);
  else
    ROW("NV compute capability", "n/a");
  if (c->unknown & CLATTN_UNK_AMD_WAVEFRONT)
    ROW("AMD wavefront", "unknown");
  else if (c->amd_wavefront)
    ROW("AMD wavefront", "%d", c->amd_wavefront);
  else
    ROW("AMD wavefront", "n/a");
  if (c->unknown & CLATTN_UNK_SUBGROUP_SIZES) {
    ROW("Sub-group sizes", "unknown");
  } else {
    buf[0] = '\0';
    for (int i = 0; i < c->n_subgroup_sizes && i < 8; i++) {
      size_t len = strlen(buf);
      snprintf(buf + len, sizeof buf - len, "%s%d", i ? " " : "",
               c->subgroup_sizes[i]);
    }
    ROW("Sub-group sizes", "%s", buf[0] ? buf : "(none)");
  }
  char list[512] = "";
  for (int b = 0; b < N_FEATURES; b++)
    if (c->features & (1u << b)) {
      size_t len = strlen(list);
      snprintf(list + len, sizeof list - len, " %s", feature_names[b]);
    }
  print_words("Features", list);
  list[0] = '\0';
  for (int b = 0; b < N_UNKNOWN; b++)
    if (c->unknown & (1u << b)) {
      size_t len = strlen(list);
      snprintf(list + len, sizeof list - len, " %s", unknown_names[b]);
    }
  print_words("Failed queries (unknown)", list);
  if (c->unknown & CLATTN_UNK_EXTENSIONS)
    ROW("Extensions", "unknown");
  else
    print_words("Extensions", c->extensions);

  ROW("Program format", "%s  (%s)", r->program_format, r->format_reason);
  for (int op = 0; op < CLATTN_OP_COUNT_; op++) {
    const op_report *o = &r->ops[op];
    char call[128];
    snprintf(call, sizeof call, "head_dim %d, dtype %s", o->args.head_dim,
             tool_dtype_name(o->args.dtype));
    if (op != CLATTN_OP_ATTENTION) {
      size_t len = strlen(call);
      snprintf(call + len, sizeof call - len, ", cache %s",
               tool_dtype_name(o->args.cache_dtype));
    }
    if (op != CLATTN_OP_KV_WRITE) {
      size_t len = strlen(call);
      snprintf(call + len, sizeof call - len, ", max_seqlen_q %d, group %d",
               o->args.max_seqlen_q, o->args.group);
    }
    printf("\n  Op %-25s (%s)\n", clattn_op_name((clattn_op)op), call);
    if (o->selected && o->format >= 0)
      ROW("  selected", "%s  [%s]%s", o->selected->name,
          clattn__format_name((clattn_format)o->format),
          o->forced ? "  (forced by CLATTN_VARIANT)" : "");
    else if (o->selected)
      ROW("  selected", "%s  [no format: %s]", o->selected->name,
          o->format_why);
    else
      ROW("  selected", "none: %s", o->why);
    for (int i = 0; i < o->n_cands; i++) {
      const clattn_candidate *cd = &o->cands[i];
      cand_reason(o, cd, buf, sizeof buf);
      printf("    %c %-30s %-3s  %s\n", cd->v == o->selected ? '*' : ' ',
             cd->v->name, cd->eligible ? "yes" : "no", buf);
    }
  }
}

// ---- JSON output
// ---------------------------------------------------------------
static void json_call(json_w *w, const op_report *o) {
  json_object_begin(w, "call");
  json_int(w, "head_dim", o->args.head_dim);
  json_string(w, "dtype", tool_dtype_name(o->args.dtype));
  if (o->args.op != CLATTN_OP_ATTENTION)
    json_string(w, "cache_dtype", tool_dtype_name(o->args.cache_dtype));
  if (o->args.op != CLATTN_OP_KV_WRITE) {
    json_int(w, "max_seqlen_q", o->args.max_seqlen_q);
    json_int(w, "group", o->args.group);
  }
  json_object_end(w);
}

static void json_selftest(json_w *w, const dev_report *r, uint64_t seed) {
  json_array_begin(w, "selftest");
  for (int i = 0; i < r->st.n; i++) {
    const st_result *x = &r->st.r[i];
    json_object_begin(w, NULL);
    json_string(w, "op", x->op);
    json_string(w, "variant", x->variant);
    json_string(w, "format", x->format);
    json_string(w, "dtype", x->dtype);
    json_string(w, "case", x->test);
    if (x->head_dim)
      json_int(w, "head_dim", x->head_dim);
    else
      json_null(w, "head_dim");
    json_double(w, "max_error", x->max_error);
    json_double(w, "tolerance", x->tolerance);
    json_double(w, "rtol", x->rtol);
    if (!isnan(x->lse_error) || strcmp(x->op, "kv_write")) {
      json_double(w, "lse_error", x->lse_error);
      json_double(w, "lse_tolerance", x->lse_tolerance);
    }
    json_bool(w, "pass", x->outcome != ST_FAIL);
    json_string(w, "result",
                x->outcome == ST_PASS   ? "pass"
                : x->outcome == ST_FAIL ? "fail"
                                        : "skip");
    json_string(w, "reason", x->reason);
    json_object_end(w);
  }
  json_array_end(w);
  json_object_begin(w, "selftest_summary");
  json_int(w, "pass", r->st.pass);
  json_int(w, "fail", r->st.fail);
  json_int(w, "skip", r->st.skip);
  char sbuf[32];
  snprintf(sbuf, sizeof sbuf, "%llu", (unsigned long long)seed);
  json_string(w, "seed", sbuf);
  if (r->st_error[0])
    json_string(w, "error", r->st_error);
  json_object_end(w);
}

static void json_device(json_w *w, const dev_report *r, const probe_opts *po,
                        const env_force *f) {
  const clattn_caps *c = &r->caps;
  char buf[256];
  json_object_begin(w, NULL);
  snprintf(buf, sizeof buf, "%d:%d", r->dev.p, r->dev.d);
  json_string(w, "device", buf);
  json_string(w, "platform", c->platform);
  json_string(w, "name", (c->unknown & CLATTN_UNK_NAME) ? NULL : c->name);
  json_string(w, "vendor", c->vendor);
  json_string(w, "driver", c->driver);
  json_string(w, "opencl_version",
              (c->unknown & CLATTN_UNK_VERSION) ? NULL : c->version);
  json_string(w, "opencl_c_version",
              (c->unknown & CLATTN_UNK_C_VERSION) ? NULL : c->c_version);
  if (c->unknown & CLATTN_UNK_VERSION) {
    json_null(w, "opencl_version_number");
  } else {
    snprintf(buf, sizeof buf, "%d.%d", c->cl_major, c->cl_minor);
    json_string(w, "opencl_version_number", buf);
  }
  if (c->unknown & CLATTN_UNK_C_VERSION) {
    json_null(w, "opencl_c_version_number");
  } else {
    snprintf(buf, sizeof buf, "%d.%d", c->c_major, c->c_minor);
    json_string(w, "opencl_c_version_number", buf);
  }
  if (c->unknown & CLATTN_UNK_IL)
    json_null(w, "il_versions");
  else
    json_word_list(w, "il_versions", c->il_versions);
  if (c->spirv_minor >= 0) {
    snprintf(buf, sizeof buf, "1.%d", c->spirv_minor);
    json_string(w, "spirv_max_version", buf);
  } else {
    json_null(w, "spirv_max_version");
  }
  if (c->unknown & CLATTN_UNK_EXTENSIONS)
    json_null(w, "extensions");
  else
    json_word_list(w, "extensions", c->extensions);
  device_type_name(c, buf, sizeof buf);
  json_string(w, "device_type", (c->unknown & CLATTN_UNK_TYPE) ? NULL : buf);
  if (c->unknown & CLATTN_UNK_COMPUTE_UNITS)
    json_null(w, "compute_units");
  else
    json_int(w, "compute_units", c->compute_units);
  if (c->unknown & CLATTN_UNK_LOCAL_MEM)
    json_null(w, "local_mem_bytes");
  else
    json_int(w, "local_mem_bytes", (long long)c->local_mem);
  if (c->unknown & CLATTN_UNK_WORK_GROUP)
    json_null(w, "max_work_group_size");
  else
    json_int(w, "max_work_group_size", (long long)c->max_work_group);
  json_int(w, "max_alloc_bytes", (long long)c->max_alloc);
  if ((c->unknown & CLATTN_UNK_NV_CC) || !c->nv_cc) {
    json_null(w, "nv_compute_capability");
  } else {
    snprintf(buf, sizeof buf, "%d.%d", c->nv_cc / 10, c->nv_cc % 10);
    json_string(w, "nv_compute_capability", buf);
  }
  if ((c->unknown & CLATTN_UNK_AMD_WAVEFRONT) || !c->amd_wavefront)
    json_null(w, "amd_wavefront");
  else
    json_int(w, "amd_wavefront", c->amd_wavefront);
  if (c->unknown & CLATTN_UNK_SUBGROUP_SIZES) {
    json_null(w, "subgroup_sizes");
  } else {
    json_array_begin(w, "subgroup_sizes");
    for (int i = 0; i < c->n_subgroup_sizes && i < 8; i++)
      json_int(w, NULL, c->subgroup_sizes[i]);
    json_array_end(w);
  }
  json_array_begin(w, "features");
  for (int b = 0; b < N_FEATURES; b++)
    if (c->features & (1u << b))
      json_string(w, NULL, feature_names[b]);
  json_array_end(w);
  json_array_begin(w, "unknown");
  for (int b = 0; b < N_UNKNOWN; b++)
    if (c->unknown & (1u << b))
      json_string(w, NULL, unknown_names[b]);
  json_array_end(w);
  json_string(w, "program_format", r->program_format);
  json_string(w, "program_format_reason", r->format_reason);
  json_bool(w, "spirv_embedded", r->spirv_embedded);
  json_string(w, "forced_format", f->format[0] ? f->format : NULL);

  json_object_begin(w, "ops");
  for (int op = 0; op < CLATTN_OP_COUNT_; op++) {
    const op_report *o = &r->ops[op];
    json_object_begin(w, clattn_op_name((clattn_op)op));
    json_string(w, "selected", o->selected ? o->selected->name : NULL);
    json_string(w, "format",
                o->format >= 0 ? clattn__format_name((clattn_format)o->format)
                               : NULL);
    json_string(w, "forced", o->forced);
    json_string(w, "reason",
                o->selected && o->format < 0 ? o->format_why : o->why);
    json_call(w, o);
    json_array_begin(w, "candidates");
    for (int i = 0; i < o->n_cands; i++) {
      const clattn_candidate *cd = &o->cands[i];
      cand_reason(o, cd, buf, sizeof buf);
      json_object_begin(w, NULL);
      json_string(w, "name", cd->v->name);
      json_bool(w, "eligible", cd->eligible);
      json_string(w, "reason", buf);
      json_int(w, "priority", cd->v->priority);
      json_bool(w, "spirv_embedded", cd->v->spirv != NULL);
      json_object_end(w);
    }
    json_array_end(w);
    json_object_end(w);
  }
  json_object_end(w);
  if (po->selftest && r->st_ran)
    json_selftest(w, r, po->seed);
  json_object_end(w);
}

// ---- main
// -------------------------------------------------------------------------
static int parse_args(int argc, char **argv, probe_opts *o) {
  memset(o, 0, sizeof *o);
  o->head_dim = 128;
  o->group = 4;
  o->dtype = CLATTN_F16;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    long long n;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage, stdout);
      exit(TOOL_EXIT_OK);
    } else if (!strcmp(a, "--json")) {
      o->json = 1;
    } else if (!strcmp(a, "--selftest")) {
      o->selftest = 1;
    } else if (!strcmp(a, "--no-cache")) {
      o->no_cache = 1;
    } else if (!strcmp(a, "--device") || !strcmp(a, "-d")) {
      if (!val)
        goto missing;
      o->device = val;
      i++;
    } else if (!strcmp(a, "--head-dim")) {
      if (tool_parse_int(val, 1, 256, &n)) {
        fprintf(stderr, "clattn-probe: --head-dim takes 1..256\n");
        return -1;
      }
      o->head_dim = (int)n;
      i++;
    } else if (!strcmp(a, "--seqlen-q")) {
      if (tool_parse_int(val, 1, 1 << 30, &n)) {
        fprintf(stderr, "clattn-probe: --seqlen-q takes a positive integer\n");
        return -1;
      }
      o->seqlen_q = (int)n;
      i++;
    } else if (!strcmp(a, "--group")) {
      if (tool_parse_int(val, 1, 256, &n)) {
        fprintf(stderr, "clattn-probe: --group takes 1..256\n");
        return -1;
      }
      o->group = (int)n;
      i++;
    } else if (!strcmp(a, "--dtype") || !strcmp(a, "--cache-dtype")) {
      clattn_dtype dt;
      if (tool_parse_dtype(val, &dt)) {
        fprintf(stderr, "clattn-probe: %s takes f32, f16 or bf16\n", a);
        return -1;
      }
      if (!strcmp(a, "--dtype")) {
        o->dtype = dt;
      } else {
        o->cache_dtype = dt;
        o->cache_dtype_set = 1;
      }
      i++;
    } else if (!strcmp(a, "--seed")) {
      if (tool_parse_int(val, 0, 0x7FFFFFFFFFFFFFFFll, &n)) {
        fprintf(stderr, "clattn-probe: --seed takes a non-negative integer\n");
        return -1;
      }
      o->seed = (uint64_t)n;
      o->seed_set = 1;
      i++;
    } else {
      fprintf(stderr, "clattn-probe: unknown argument '%s'\n%s", a, usage);
      return -1;
    }
    continue;
  missing:
    fprintf(stderr, "clattn-probe: %s needs a value\n", a);
    return -1;
  }
  if (!o->cache_dtype_set)
    o->cache_dtype = o->dtype;
  if (!o->seed_set)
    o->seed = (uint64_t)time(NULL);
  return 0;
}

// Prints the error (stderr, and as JSON with no devices when asked).
static int fail_no_device(const probe_opts *o, const char *msg, int status) {
  fprintf(stderr, "clattn-probe: %s\n", msg);
  if (o->json) {
    json_w w;
    json_init(&w, stdout);
    json_object_begin(&w, NULL);
    json_string(&w, "version", clattn_version_string());
    json_int(&w, "schema_version", PROBE_SCHEMA_VERSION);
    json_array_begin(&w, "devices");
    json_array_end(&w);
    json_string(&w, "error", msg);
    json_object_end(&w);
  }
  return status;
}

static void run_selftest(dev_report *r, const probe_opts *o) {
  FILE *out = o->json ? stderr : stdout;
  tool_session s;
  char err[256];
  st_log log = {{0}};
  clattn_options opts = CLATTN_OPTIONS_INIT;
  opts.log = selftest_log_fn;
  opts.log_user = &log;
  if (o->no_cache)
    opts.cache_dir = "off";
  r->st_ran = 1;
  int st = tool_session_open(&r->dev, &opts, &s, err, sizeof err);
  if (st) {
    snprintf(r->st_error, sizeof r->st_error, "%s", err);
    fprintf(stderr, "clattn-probe: self-test on %d:%d: %s\n", r->dev.p,
            r->dev.d, err);
    return;
  }
  fprintf(out, "\nSelf-test on %d:%d (%s), seed %llu\n", r->dev.p, r->dev.d,
          r->caps.name, (unsigned long long)o->seed);
  if (selftest_run(&s, &r->caps, o->seed, &log, out, &r->st)) {
    snprintf(r->st_error, sizeof r->st_error, "self-test could not run: %s",
             clattn_context_last_error(s.cctx));
    fprintf(stderr, "clattn-probe: %s\n", r->st_error);
  }
  fprintf(out, "Self-test: %d passed, %d failed, %d skipped\n", r->st.pass,
          r->st.fail, r->st.skip);
  tool_session_close(&s);
}

int main(int argc, char **argv) {
  probe_opts o;
  if (parse_args(argc, argv, &o))
    return TOOL_EXIT_USAGE;
  env_force f;
  read_env(&f);
  if (f.error[0])
    fprintf(stderr, "clattn-probe: warning: %s\n", f.error);

  int want_p = -1, want_d = -1;
  const char *spec = tool_device_spec(o.device);
  if (spec && tool_parse_device(spec, &want_p, &want_d)) {
    fprintf(stderr, "clattn-probe: bad device '%s' (want P:D, e.g. 0:0)\n",
            spec);
    return TOOL_EXIT_USAGE;
  }

  static tool_dev devs[MAX_DEVICES];
  char err[256];
  int n = tool_enumerate(devs, MAX_DEVICES, err, sizeof err);
  if (n <= 0)
    return fail_no_device(&o, err, TOOL_EXIT_NO_DEVICE);
  if (spec) {
    int k = -1;
    for (int i = 0; i < n; i++)
      if (devs[i].p == want_p && devs[i].d == want_d)
        k = i;
    if (k < 0) {
      snprintf(err, sizeof err, "no device %d:%d (%d device(s) found)", want_p,
               want_d, n);
      return fail_no_device(&o, err, TOOL_EXIT_NO_DEVICE);
    }
    devs[0] = devs[k];
    n = 1;
  }

  dev_report *reports = calloc((size_t)n, sizeof *reports);
  if (!reports) {
    fprintf(stderr, "clattn-probe: out of memory\n");
    return TOOL_EXIT_OPENCL;
  }
  if (!o.json)
    printf("clattn %s: %d device%s\n", clattn_version_string(), n,
           n == 1 ? "" : "s");
  int failed = 0, st_error = 0;
  for (int i = 0; i < n; i++) {
    dev_report *r = &reports[i];
    r->dev = devs[i];
    clattn__caps_probe(r->dev.device, &r->caps);
    select_ops(r, &o, &f);
    if (!o.json) {
      putchar('\n');
      print_human(r);
    }
    if (o.selftest) {
      run_selftest(r, &o);
      failed += r->st.fail;
      st_error |= r->st_error[0] != 0;
    }
  }
  if (o.json) {
    json_w w;
    json_init(&w, stdout);
    json_object_begin(&w, NULL);
    json_string(&w, "version", clattn_version_string());
    json_int(&w, "schema_version", PROBE_SCHEMA_VERSION);
    if (f.error[0])
      json_string(&w, "env_error", f.error);
    json_array_begin(&w, "devices");
    for (int i = 0; i < n; i++)
      json_device(&w, &reports[i], &o, &f);
    json_array_end(&w);
    json_object_end(&w);
  }
  for (int i = 0; i < n; i++)
    selftest_report_free(&reports[i].st);
  free(reports);
  fflush(stdout);
  if (failed)
    return TOOL_EXIT_FAIL;
  return st_error ? TOOL_EXIT_OPENCL : TOOL_EXIT_OK;
}
