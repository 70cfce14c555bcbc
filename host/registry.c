// SPDX-License-Identifier: Apache-2.0
// The variant registry: access to the generated table, the eligibility rule
// of a row for (caps, call), the pure selection function that backs both the
// dispatch and the probe's report, and the program-format choice.
#include "internal.h"

#include <stdio.h>
#include <string.h>

static once_flag fill_once = ONCE_FLAG_INIT;

const clattn_variant *clattn__registry(int *count) {
  call_once(&fill_once, clattn__registry_fill_lengths);
  if (count)
    *count = clattn__variant_count;
  return clattn__variants_ptr();
}

const clattn_source *clattn__source(int index) {
  call_once(&fill_once, clattn__registry_fill_lengths);
  if (index < 0 || index >= clattn__source_count)
    return NULL;
  return &clattn__sources_ptr()[index];
}

const clattn_variant *clattn__variant_by_name(const char *name) {
  int n = 0;
  const clattn_variant *rows = clattn__registry(&n);
  for (int i = 0; name && i < n; i++)
    if (strcmp(rows[i].name, name) == 0)
      return &rows[i];
  return NULL;
}

// OpenCL 1.2 full-profile minimums, assumed where a query failed.
#define ASSUMED_LOCAL_MEM (32u * 1024u)
#define ASSUMED_MAX_WG 256u

static int can_spirv(const clattn_caps *c, const clattn_variant *v) {
  return v->spirv && v->spirv_len > 0 && (c->features & CLATTN_CAP_SPIRV) &&
         c->spirv_minor >= v->spirv_minor;
}

long clattn__caps_cu(const clattn_caps *caps) {
  return (caps->unknown & CLATTN_UNK_COMPUTE_UNITS) || caps->compute_units == 0
             ? 8
             : (long)caps->compute_units;
}

int clattn__variant_eligible(const clattn_variant *v, const clattn_caps *c,
                             const clattn_select_args *a, char *why, size_t n) {
  static const char *const cap_names[] = {"cl_khr_fp16",
                                          "cl_khr_fp64",
                                          "cl_khr_subgroups",
                                          "cl_intel_subgroups",
                                          "cl_khr_subgroup_shuffle",
                                          "cl_nv_device_attribute_query",
                                          "cl_amd_device_attribute_query",
                                          "SPIR-V IL",
                                          "an online compiler",
                                          "a GPU device",
                                          "a CPU device",
                                          "NVIDIA inline PTX",
                                          "cl_khr_int64_base_atomics"};
  if (v->op != a->op) {
    snprintf(why, n, "serves %s, not %s", clattn_op_name(v->op),
             clattn_op_name(a->op));
    return 0;
  }
  unsigned missing = v->
                       requires
  & ~c->features;
  if (missing) {
    for (unsigned b = 0; b < sizeof cap_names / sizeof cap_names[0]; b++)
      if (missing & (1u << b)) {
        snprintf(why, n, "device lacks %s", cap_names[b]);
        return 0;
      }
  }
  if (v->dclass == CLATTN_CLASS_CPU && !(c->features & CLATTN_CAP_CPU)) {
    snprintf(why, n, "CPU variant; device is not a CPU");
    return 0;
  }
  if (v->dclass == CLATTN_CLASS_GPU && (c->features & CLATTN_CAP_CPU)) {
    snprintf(why, n, "GPU variant; device is a CPU");
    return 0;
  }
  if (v->min_nv_cc && c->nv_cc < v->min_nv_cc) {
    snprintf(why, n, "needs compute capability >= %d.%d, device has %d.%d",
             v->min_nv_cc / 10, v->min_nv_cc % 10, c->nv_cc / 10,
             c->nv_cc % 10);
    return 0;
  }
  if (v->ptx_sm90a && c->nv_cc != 90) {
    snprintf(why, n,
             "wgmma is sm_90a only: needs compute capability 9.0, device has "
             "%d.%d",
             c->nv_cc / 10, c->nv_cc % 10);
    return 0;
  }
  if (v->max_q_rows > 0) {
    const long rows = (long)a->max_seqlen_q * a->group;
    if (rows < 1 || rows > v->max_q_rows) {
      snprintf(why, n,
               "decode row: max_seqlen_q %d x group %d is not within 1..%d",
               a->max_seqlen_q, a->group, v->max_q_rows);
      return 0;
    }
  }
  if (v->cu_slots > 0 && a->kv_groups > 0) {
    const long cu = clattn__caps_cu(c);
    if (a->kv_groups > v->cu_slots * cu) {
      snprintf(why, n,
               "batch x kv_heads = %ld work-groups exceed one wave of %d per "
               "compute unit (%ld)",
               a->kv_groups, v->cu_slots, v->cu_slots * cu);
      return 0;
    }
  }
  if (v->tile.D_MAX && a->head_dim > v->tile.D_MAX) {
    snprintf(why, n, "head_dim %d > %d", a->head_dim, v->tile.D_MAX);
    return 0;
  }
  if (v->head_dim_multiple > 1 && a->head_dim % v->head_dim_multiple) {
    snprintf(why, n, "head_dim %d not a multiple of %d", a->head_dim,
             v->head_dim_multiple);
    return 0;
  }
  if ((unsigned)a->dtype >= CLATTN_DTYPE_COUNT_ ||
      (unsigned)a->cache_dtype >= CLATTN_DTYPE_COUNT_) {
    snprintf(why, n, "dtype code out of range");
    return 0;
  }
  if (a->head_dim < 1 || a->head_dim > 256) {
    snprintf(why, n, "head_dim %d outside 1..256", a->head_dim);
    return 0;
  }
  if (!(v->dtypes & CLATTN_DTYPE_BIT(a->dtype))) {
    snprintf(why, n, "dtype %s not supported", clattn_dtype_name(a->dtype));
    return 0;
  }
  if (a->op != CLATTN_OP_ATTENTION &&
      !(v->cache_dtypes & CLATTN_DTYPE_BIT(a->cache_dtype))) {
    snprintf(why, n, "cache dtype %s not supported",
             clattn_dtype_name(a->cache_dtype));
    return 0;
  }
  if (v->tensor_scales && a->token_scales) {
    snprintf(why, n,
             "per-token-head cache scales: this row folds per-tensor "
             "scales only");
    return 0;
  }
  // After the dtype checks: an f16 call is told the dtype, not this.
  if (v->tf32 && !a->allow_tf32) {
    snprintf(why, n, "tf32 products: the call did not set allow_tf32");
    return 0;
  }
  cl_ulong lmem =
      (c->unknown & CLATTN_UNK_LOCAL_MEM) ? ASSUMED_LOCAL_MEM : c->local_mem;
  if (v->local_mem > lmem) {
    snprintf(why, n, "needs %zu B local memory, device has %llu B",
             v->local_mem, (unsigned long long)lmem);
    return 0;
  }
  size_t wg =
      (c->unknown & CLATTN_UNK_WORK_GROUP) ? ASSUMED_MAX_WG : c->max_work_group;
  if (v->tile.WG > 0 && (size_t)v->tile.WG > wg) {
    snprintf(why, n, "work-group of %d > device maximum %zu", v->tile.WG, wg);
    return 0;
  }
  if (!(c->features & CLATTN_CAP_COMPILER) && !can_spirv(c, v)) {
    snprintf(why, n, "device has no compiler and cannot take this SPIR-V");
    return 0;
  }
  if (why && n)
    why[0] = '\0';
  return 1;
}

const clattn_variant *clattn__select(const clattn_caps *caps,
                                     const clattn_select_args *a,
                                     const char *forced,
                                     clattn_candidate *cands, int max_cands,
                                     int *n_cands, char *why, size_t why_size) {
  int n = 0, k = 0;
  const clattn_variant *rows = clattn__registry(&n);
  const clattn_variant *best = NULL, *forced_row = NULL;
  char forced_reason[160] = "";
  if (why && why_size)
    why[0] = '\0';
  for (int i = 0; i < n; i++) {
    const clattn_variant *v = &rows[i];
    if (v->op != a->op)
      continue;
    char reason[160];
    int ok = clattn__variant_eligible(v, caps, a, reason, sizeof reason);
    if (cands && k < max_cands) {
      cands[k].v = v;
      cands[k].eligible = ok;
      snprintf(cands[k].reason, sizeof cands[k].reason, "%s", reason);
    }
    k++;
    if (forced && strcmp(forced, v->name) == 0) {
      forced_row = v;
      snprintf(forced_reason, sizeof forced_reason, "%s", reason);
      if (!ok)
        continue;
    }
    if (ok && (!best || v->priority > best->priority))
      best = v;
  }
  if (n_cands)
    *n_cands = k < max_cands ? k : max_cands;
  if (forced && *forced) {
    if (!forced_row) {
      if (why)
        snprintf(why, why_size, "forced variant '%s' is not a %s variant",
                 forced, clattn_op_name(a->op));
      return NULL;
    }
    if (forced_reason[0]) {
      if (why)
        snprintf(why, why_size, "forced variant '%s' is not eligible: %s",
                 forced, forced_reason);
      return NULL;
    }
    if (why)
      snprintf(why, why_size, "forced");
    return forced_row;
  }
  if (!best && why)
    snprintf(why, why_size, "no %s variant is eligible on this device",
             clattn_op_name(a->op));
  else if (why)
    snprintf(why, why_size, "highest-priority eligible row (%d)",
             best->priority);
  return best;
}

int clattn__pick_format(const clattn_caps *c, const clattn_variant *v,
                        const char *forced, char *why, size_t n) {
  int comp = (c->features & CLATTN_CAP_COMPILER) != 0;
  if (forced && strcmp(forced, "spirv") == 0) {
    if (can_spirv(c, v))
      return CLATTN_FORMAT_SPIRV;
    snprintf(why, n, "SPIR-V forced, but %s",
             !v->spirv ? "this variant has no SPIR-V module (source-only or "
                         "built without SPIR-V)"
                       : "the device does not accept SPIR-V 1.0-1.2");
    return -1;
  }
  if (forced && strcmp(forced, "source") == 0) {
    if (comp)
      return CLATTN_FORMAT_SOURCE;
    snprintf(why, n, "source forced, but the device has no compiler");
    return -1;
  }
  if (can_spirv(c, v))
    return CLATTN_FORMAT_SPIRV;
  if (comp)
    return CLATTN_FORMAT_SOURCE;
  snprintf(why, n, "no compiler and no usable SPIR-V for %s", v->name);
  return -1;
}
