// SPDX-License-Identifier: Apache-2.0
// Unit tests of the variant registry and the pure selection function with
// fake caps (no device): table invariants, a portable row for every op on a
// minimal OpenCL 1.2 device, reasons for every rejection, forcing, formats.
#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MIN_GPU, POCL31, POCL6, H200, NO_COMPILER, TINY, N_KINDS };
static const char *const kind_names[N_KINDS] = {
    "minimal OpenCL 1.2 GPU", "PoCL 3.1 CPU", "PoCL 6 CPU", "H200",
    "no-compiler GPU",        "tiny GPU"};

static clattn_caps fake(int kind) {
  clattn_caps c;
  memset(&c, 0, sizeof c);
  c.spirv_minor = -1;
  c.compute_units = 8;
  c.local_mem = 32 * 1024;
  c.max_work_group = 256;
  c.features = CLATTN_CAP_GPU | CLATTN_CAP_COMPILER;
  c.type = CL_DEVICE_TYPE_GPU;
  switch (kind) {
  case POCL31:
    c.features = CLATTN_CAP_CPU | CLATTN_CAP_COMPILER | CLATTN_CAP_FP64;
    c.local_mem = 4 << 20;
    c.max_work_group = 4096;
    break;
  case POCL6:
    c.features = CLATTN_CAP_CPU | CLATTN_CAP_COMPILER | CLATTN_CAP_FP64 |
                 CLATTN_CAP_SPIRV | CLATTN_CAP_KHR_SUBGROUPS |
                 CLATTN_CAP_INTEL_SUBGROUPS | CLATTN_CAP_FP16;
    c.spirv_minor = 2;
    c.local_mem = 4 << 20;
    c.max_work_group = 4096;
    break;
  case H200:
    c.features |= CLATTN_CAP_NV_ATTRS | CLATTN_CAP_NV_PTX;
    c.nv_cc = 90;
    c.local_mem = 48 * 1024;
    c.max_work_group = 1024;
    c.compute_units = 132;
    break;
  case NO_COMPILER:
    c.features = CLATTN_CAP_GPU | CLATTN_CAP_SPIRV;
    c.spirv_minor = 0;
    break;
  case TINY:
    c.local_mem = 16 * 1024;
    c.max_work_group = 64;
    break;
  default: break;
  }
  return c;
}

static clattn_select_args args(clattn_op op, int d, clattn_dtype dt) {
  clattn_select_args a = {op, d, dt, dt, 1, 1, 0, 0, 0};
  return a;
}

// The row an NVIDIA device of compute capability cc (with or without inline
// PTX) selects for a; NULL when none.
static const clattn_variant *select_nv(int cc, int ptx,
                                       const clattn_select_args *a) {
  clattn_caps c = fake(H200);
  c.nv_cc = cc;
  if (!ptx)
    c.features &= ~CLATTN_CAP_NV_PTX;
  char why[256];
  return clattn__select(&c, a, NULL, NULL, 0, NULL, why, sizeof why);
}

START_TEST(table_invariants) {
  int n = 0;
  const clattn_variant *rows = clattn__registry(&n);
  ck_assert_int_gt(n, 0);
  for (int i = 0; i < n; i++) {
    ck_assert_msg(rows[i].name && rows[i].name[0], "row %d has no name", i);
    for (int j = i + 1; j < n; j++)
      ck_assert_msg(strcmp(rows[i].name, rows[j].name) != 0,
                    "duplicate variant %s", rows[i].name);
    const clattn_source *src = clattn__source(rows[i].source_index);
    ck_assert_msg(src && src->len > 0 && src->text[src->len] == '\0',
                  "%s: embedded source missing", rows[i].name);
    ck_assert_msg(!strstr((const char *)src->text, "#include \""),
                  "%s: source includes not resolved", rows[i].name);
    ck_assert_msg(rows[i].dtypes != 0, "%s accepts no dtype", rows[i].name);
#ifdef CLATTN_EXPECT_SPIRV_MODULES
    if (!(rows[i].requires & CLATTN_CAP_NV_PTX))
      ck_assert_msg(rows[i].spirv && rows[i].spirv_len > 20,
                    "%s: SPIR-V module missing", rows[i].name);
#endif
    if (rows[i].spirv) // SPIR-V magic number, little endian
      ck_assert_uint_eq(*(const uint32_t *)rows[i].spirv, 0x07230203u);
  }
}
END_TEST

// Every op has a row that any OpenCL 1.2 device can run (BLIS' rule).
START_TEST(portable_row_for_every_op) {
  int n = 0;
  const clattn_variant *rows = clattn__registry(&n);
  for (int op = 0; op < CLATTN_OP_COUNT_; op++) {
    int found = 0;
    for (int i = 0; i < n; i++)
    found |= rows[i].op == (clattn_op)op &&
             rows[i].
               requires == 0 &&
                            rows
                                [i].dclass == CLATTN_CLASS_ANY &&
                        rows[i].local_mem <= 32 * 1024 &&
                        rows[i].tile.WG <= 256 &&
                        rows[i].head_dim_multiple <= 1 &&
                        (rows[i].tile.D_MAX == 0 || rows[i].tile.D_MAX >= 256);
    ck_assert_msg(found, "op %s has no portable row", clattn_op_name(op));
  }
}
END_TEST

// On every fake device, every op at every head_dim/dtype has a choice, every
// rejected row says why, and selection is a pure function.
START_TEST(every_device_selects_with_reasons) {
  static const int dims[] = {1, 13, 32, 64, 80, 128, 192, 256};
  static const clattn_dtype dts[] = {CLATTN_F32, CLATTN_F16, CLATTN_BF16};
  for (int kind = 0; kind < N_KINDS; kind++) {
    clattn_caps c = fake(kind);
    for (int op = 0; op < CLATTN_OP_COUNT_; op++)
      for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
        for (size_t ti = 0; ti < 3; ti++) {
          clattn_select_args a = args((clattn_op)op, dims[di], dts[ti]);
          clattn_candidate cands[64], again[64];
          int nc = 0, nc2 = 0;
          char why[256];
          const clattn_variant *v =
              clattn__select(&c, &a, NULL, cands, 64, &nc, why, sizeof why);
          const clattn_variant *v2 =
              clattn__select(&c, &a, NULL, again, 64, &nc2, why, sizeof why);
          if (kind == NO_COMPILER && !v)
            continue; // only SPIR-V rows can serve; checked below
          ck_assert_msg(v != NULL, "%s: no %s variant for d=%d %s: %s",
                        kind_names[kind], clattn_op_name(op), dims[di],
                        clattn_dtype_name(dts[ti]), why);
          ck_assert_ptr_eq(v, v2);
          ck_assert_int_eq(nc, nc2);
          ck_assert_int_gt(nc, 0);
          for (int i = 0; i < nc; i++) {
            ck_assert_int_eq(cands[i].eligible, again[i].eligible);
            if (cands[i].eligible) {
              ck_assert_str_eq(cands[i].reason, "");
              ck_assert_int_le(cands[i].v->priority, v->priority);
            } else {
              ck_assert_msg(cands[i].reason[0], "%s rejected without reason",
                            cands[i].v->name);
            }
          }
          char fwhy[256];
          int f = clattn__pick_format(&c, v, NULL, fwhy, sizeof fwhy);
          ck_assert_msg(f >= 0, "%s: %s has no format: %s", kind_names[kind],
                        v->name, fwhy);
        }
  }
}
END_TEST

START_TEST(kv_write_vectorized_only_when_dim_allows) {
  clattn_caps c = fake(MIN_GPU);
  char why[256];
  clattn_select_args a = args(CLATTN_OP_KV_WRITE, 128, CLATTN_F16);
  const clattn_variant *v =
      clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
  ck_assert_str_eq(v->name, "kv_write_vec8");
  a.head_dim = 20; // a multiple of 4, not of 8
  v = clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
  ck_assert_str_eq(v->name, "kv_write_vec4");
  a.head_dim = 13;
  clattn_candidate cands[16];
  int nc = 0;
  v = clattn__select(&c, &a, NULL, cands, 16, &nc, why, sizeof why);
  ck_assert_str_eq(v->name, "kv_write_generic");
  int saw = 0;
  for (int i = 0; i < nc; i++)
    if (strcmp(cands[i].v->name, "kv_write_vec4") == 0) {
      saw = 1;
      ck_assert(!cands[i].eligible);
      ck_assert_msg(strstr(cands[i].reason, "multiple of 4"), "reason: %s",
                    cands[i].reason);
    }
  ck_assert(saw);
}
END_TEST

START_TEST(nvidia_tensor_core_rows) {
  // f32 keeps the exact portable path; so do head_dim % 8 != 0, head_dim
  // > 128, a cache whose dtype is not the q dtype, bf16 before sm_80, Pascal
  // and devices without NVIDIA's PTX. Each compute capability gets the
  // newest form it has (sm_75 before sm_70 on Turing).
  // The decode rows take calls of at most 16 rows per sequence and KV head
  // (max_seqlen_q x group), known: q 1 x group 4, 2 x 8, 16 x 1 do; 1 x 32
  // (MQA), 17 x 1 and an unknown (0) shape do not. Paged d128 calls of at
  // most 8 rows take the two-warp rows: `decode8` while batch x kv_heads
  // fits 3 work-groups per SM (396 on the H200, or unknown), `decode8_r168`
  // beyond.
  static const struct {
    int cc, ptx;
    clattn_op op;
    int d;
    clattn_dtype dt, cache_dt;
    const char *want;
    int q, group;
    long kv_groups;
  } cases[] = {
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128_decode8", 1, 4, 0},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128_decode8", 1, 8, 396},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_BF16, CLATTN_BF16,
       "paged_attention_mma_sm80_bf16_d128_decode8_r168", 2, 4, 397},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128_decode8_r168", 1, 4, 512},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128_decode", 3, 4, 8},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 64, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d64_decode", 1, 4, 8},
      {90, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm80_f16_d128_decode", 1, 4, 8},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 64, CLATTN_BF16, CLATTN_BF16,
       "paged_attention_mma_sm80_bf16_d64_decode", 2, 8, 0},
      {90, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm80_f16_d128_decode", 16, 1, 0},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128", 1, 32, 0},
      {90, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm90_f16_d128", 17, 1, 0},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128", 0, 4, 0},
      {75, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm75_f16_d128", 1, 4, 0},
      {90, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm90_f16_d128", 512, 1, 0},
      {90, 1, CLATTN_OP_ATTENTION, 64, CLATTN_BF16, CLATTN_BF16,
       "attention_mma_sm90_bf16_d64", 512, 1, 0},
      // wgmma is sm_90a only: cc 8.0 and 10.0 keep the mma.sync rows.
      {80, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm80_f16_d128", 512, 1, 0},
      {100, 1, CLATTN_OP_ATTENTION, 64, CLATTN_BF16, CLATTN_BF16,
       "attention_mma_sm80_bf16_d64", 512, 1, 0},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 96, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm80_f16_d128", 512, 1, 0},
      {90, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F32, CLATTN_F32,
       "attention_generic_d128", 512, 1, 0},
      {90, 1, CLATTN_OP_ATTENTION, 100, CLATTN_F16, CLATTN_F16,
       "attention_generic_d128", 512, 1, 0},
      {90, 1, CLATTN_OP_ATTENTION, 256, CLATTN_F16, CLATTN_F16,
       "attention_generic_d256", 512, 1, 0},
      {90, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F32,
       "paged_attention_generic_d128", 512, 1, 0},
      {75, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm75_f16_d128", 512, 1, 0},
      {75, 1, CLATTN_OP_ATTENTION, 128, CLATTN_BF16, CLATTN_BF16,
       "attention_generic_d128", 512, 1, 0},
      {75, 1, CLATTN_OP_PAGED_ATTENTION, 64, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm75_f16_d64", 512, 1, 0},
      {70, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm70_f16_d128", 512, 1, 0},
      {70, 1, CLATTN_OP_ATTENTION, 64, CLATTN_F16, CLATTN_F16,
       "attention_mma_sm70_f16_d64", 512, 1, 0},
      {70, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm70_f16_d128", 512, 1, 0},
      {70, 1, CLATTN_OP_PAGED_ATTENTION, 40, CLATTN_F16, CLATTN_F16,
       "paged_attention_mma_sm70_f16_d64", 512, 1, 0},
      {70, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F32, CLATTN_F32,
       "attention_generic_d128", 512, 1, 0},
      {70, 1, CLATTN_OP_ATTENTION, 128, CLATTN_BF16, CLATTN_BF16,
       "attention_generic_d128", 512, 1, 0},
      {70, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16, CLATTN_BF16,
       "paged_attention_generic_d128", 512, 1, 0},
      {70, 0, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_generic_d128", 512, 1, 0},
      {61, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_generic_d128", 512, 1, 0},
      {90, 0, CLATTN_OP_ATTENTION, 128, CLATTN_F16, CLATTN_F16,
       "attention_generic_d128", 512, 1, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    clattn_select_args a = {cases[i].op,
                            cases[i].d,
                            cases[i].dt,
                            cases[i].cache_dt,
                            cases[i].q,
                            cases[i].group,
                            0,
                            cases[i].kv_groups,
                            0};
    const clattn_variant *v = select_nv(cases[i].cc, cases[i].ptx, &a);
    ck_assert_msg(v && strcmp(v->name, cases[i].want) == 0,
                  "case %zu: got %s, want %s", i, v ? v->name : "(none)",
                  cases[i].want);
  }
}
END_TEST

// The PTX rewrite of the wgmma rows: markers dropped, sm_90 -> sm_90a once
// (sm_90a kept), everything else byte for byte; text without a marker or
// without either target (an sm_100 driver, a binary that is no PTX) is
// refused, so the commented-out wgmma is never run as it is.
START_TEST(ptx_sm90a_rewrite) {
  static const char in[] =
      ".version 9.0\n.target sm_90, texmode_independent\n"
      "{ .reg .pred p;\n//@sm90a@ wgmma.fence.sync.aligned;\n}\n"
      "//@sm90a@ wgmma.commit_group.sync.aligned;\nret;\n";
  static const char want[] =
      ".version 9.0\n.target sm_90a, texmode_independent\n"
      "{ .reg .pred p;\nwgmma.fence.sync.aligned;\n}\n"
      "wgmma.commit_group.sync.aligned;\nret;\n";
  char *out = NULL;
  size_t n = 0;
  ck_assert_int_eq(clattn__ptx_sm90a(in, strlen(in), &out, &n), 0);
  ck_assert_uint_eq(n, strlen(want));
  ck_assert_str_eq(out, want);
  free(out);
  static const char in_a[] =
      ".target sm_90a\n//@sm90a@ wgmma.fence.sync.aligned;\n";
  static const char want_a[] = ".target sm_90a\nwgmma.fence.sync.aligned;\n";
  ck_assert_int_eq(clattn__ptx_sm90a(in_a, strlen(in_a), &out, &n), 0);
  ck_assert_str_eq(out, want_a);
  free(out);
  static const char *bad[] = {
      ".target sm_90\nret;\n",                                 // no marker
      ".target sm_100\n//@sm90a@ wgmma.fence.sync.aligned;\n", // not sm_90
      ".target sm_900\n//@sm90a@ wgmma.fence.sync.aligned;\n", // not sm_90
      "//@sm90a@ x;\n.target sm_90", // target at the end
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    out = NULL;
    ck_assert_msg(clattn__ptx_sm90a(bad[i], strlen(bad[i]), &out, &n) == -1 &&
                      !out,
                  "bad case %zu was rewritten", i);
  }
}
END_TEST

// The PTX rewrite of the register-capped rows: `.maxnreg n` goes between
// the parameter list of `.entry attention(` and its body, after any other
// directive, and nowhere else (attention_merge keeps its own); text with no
// such entry, one that already has a cap, or n <= 0 is refused.
START_TEST(ptx_maxnreg_rewrite) {
  static const char in[] =
      ".version 9.0\n.visible .entry attention_merge(\n\t.param .u64 m\n)\n{\n"
      "ret;\n}\n.visible .entry attention(\n\t.param .u64 a,\n\t.param .u32 "
      "b\n)\n.reqntid 32, 2, 1\n{\n.reg .b32 r<9>;\nret;\n}\n";
  static const char want[] =
      ".version 9.0\n.visible .entry attention_merge(\n\t.param .u64 m\n)\n{\n"
      "ret;\n}\n.visible .entry attention(\n\t.param .u64 a,\n\t.param .u32 "
      "b\n)\n.reqntid 32, 2, 1\n.maxnreg 168\n{\n.reg .b32 r<9>;\nret;\n}\n";
  char *out = NULL;
  size_t n = 0;
  ck_assert_int_eq(
      clattn__ptx_maxnreg(in, strlen(in), "attention", 168, &out, &n), 0);
  ck_assert_uint_eq(n, strlen(want));
  ck_assert_str_eq(out, want);
  free(out);
  static const char *bad[] = {
      ".entry attention_merge(\n)\n{\nret;\n}\n",  // no attention entry
      ".entry attention(\n)\n.maxnreg 64\n{\n}\n", // capped already
      ".entry attention(\n)\n",                    // no body
      ".entry attention(\n",                       // no parameter list end
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    out = NULL;
    ck_assert_msg(clattn__ptx_maxnreg(bad[i], strlen(bad[i]), "attention", 168,
                                      &out, &n) == -1 &&
                      !out,
                  "bad case %zu was rewritten", i);
  }
  ck_assert_int_eq(
      clattn__ptx_maxnreg(in, strlen(in), "attention", 0, &out, &n), -1);
}
END_TEST

// tf32 rows (opt-in): f32 with allow_tf32 = 0 never selects one, on any
// device; with allow_tf32 = 1 the H200 (and any cc >= 8.0 with PTX) selects
// them for f32 (cache f32) and head_dim % 4 == 0 up to 128, and nothing
// changes for f16/bf16, below cc 8.0, without PTX, or for other shapes.
START_TEST(tf32_rows_only_on_opt_in) {
  int n = 0;
  const clattn_variant *rows = clattn__registry(&n);
  int ntf32 = 0;
  for (int i = 0; i < n; i++)
    if (rows[i].tf32) {
      ntf32++;
      ck_assert_msg(
          rows[i].dtypes == CLATTN_DTYPE_BIT(CLATTN_F32) &&
              rows[i].cache_dtypes == CLATTN_DTYPE_BIT(CLATTN_F32) &&
              rows[i].min_nv_cc >= 80 && (rows[i].requires & CLATTN_CAP_NV_PTX),
          "%s: a tf32 row must be f32-only, sm_80+, NV_PTX", rows[i].name);
    }
  ck_assert_int_eq(ntf32, 4);

  static const clattn_op ops[] = {CLATTN_OP_ATTENTION,
                                  CLATTN_OP_PAGED_ATTENTION};
  static const clattn_dtype dts[] = {CLATTN_F32, CLATTN_F16, CLATTN_BF16};
  static const int dims[] = {4, 13, 36, 64, 72, 128, 200, 256};
  char why[256];
  for (int k = 0; k < N_KINDS; k++)
    for (size_t o = 0; o < 2; o++)
      for (size_t t = 0; t < 3; t++)
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
          clattn_caps c = fake(k);
          clattn_select_args a = args(ops[o], dims[d], dts[t]);
          clattn_candidate cands[64];
          int nc = 0;
          const clattn_variant *v =
              clattn__select(&c, &a, NULL, cands, 64, &nc, why, sizeof why);
          ck_assert_msg(v && !v->tf32, "%s %s d%d %s without allow_tf32: %s",
                        kind_names[k], clattn_op_name(ops[o]), dims[d],
                        clattn_dtype_name(dts[t]), v ? v->name : "none");
          for (int i = 0; i < nc; i++)
            if (cands[i].v->tf32)
              ck_assert_msg(!cands[i].eligible && cands[i].reason[0],
                            "%s eligible without allow_tf32", cands[i].v->name);
          // Opting in changes nothing but f32 on the H200.
          a.allow_tf32 = 1;
          const clattn_variant *w =
              clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
          if (k != H200 || dts[t] != CLATTN_F32 || dims[d] % 4 || dims[d] > 128)
            ck_assert_msg(w == v, "%s %s d%d %s: allow_tf32 changed %s to %s",
                          kind_names[k], clattn_op_name(ops[o]), dims[d],
                          clattn_dtype_name(dts[t]), v->name,
                          w ? w->name : "none");
        }

  static const struct {
    int cc, ptx, allow;
    clattn_op op;
    int d;
    clattn_dtype cache_dt;
    const char *want;
  } cases[] = {
      {90, 1, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F32,
       "attention_mma_sm80_tf32_d128"},
      {90, 1, 1, CLATTN_OP_ATTENTION, 72, CLATTN_F32,
       "attention_mma_sm80_tf32_d128"},
      {80, 1, 1, CLATTN_OP_ATTENTION, 64, CLATTN_F32,
       "attention_mma_sm80_tf32_d64"},
      {90, 1, 1, CLATTN_OP_ATTENTION, 36, CLATTN_F32,
       "attention_mma_sm80_tf32_d64"},
      {90, 1, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F32,
       "paged_attention_mma_sm80_tf32_d128"},
      {90, 1, 1, CLATTN_OP_PAGED_ATTENTION, 64, CLATTN_F32,
       "paged_attention_mma_sm80_tf32_d64"},
      {90, 1, 0, CLATTN_OP_ATTENTION, 128, CLATTN_F32,
       "attention_generic_d128"},
      {90, 1, 0, CLATTN_OP_PAGED_ATTENTION, 64, CLATTN_F32,
       "paged_attention_generic_d64"},
      {75, 1, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F32,
       "attention_generic_d128"},
      {75, 1, 1, CLATTN_OP_PAGED_ATTENTION, 64, CLATTN_F32,
       "paged_attention_generic_d64"},
      {90, 0, 1, CLATTN_OP_ATTENTION, 128, CLATTN_F32,
       "attention_generic_d128"},
      {90, 0, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F32,
       "paged_attention_generic_d128"},
      {90, 1, 1, CLATTN_OP_ATTENTION, 13, CLATTN_F32, "attention_generic_d64"},
      {90, 1, 1, CLATTN_OP_ATTENTION, 200, CLATTN_F32,
       "attention_generic_d256"},
      {90, 1, 1, CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16,
       "paged_attention_generic_d128"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    clattn_select_args a = args(cases[i].op, cases[i].d, CLATTN_F32);
    a.cache_dtype = cases[i].cache_dt;
    a.allow_tf32 = cases[i].allow;
    const clattn_variant *v = select_nv(cases[i].cc, cases[i].ptx, &a);
    ck_assert_msg(v && strcmp(v->name, cases[i].want) == 0,
                  "case %zu: got %s, want %s", i, v ? v->name : "(none)",
                  cases[i].want);
  }
  // Forcing a tf32 row on a call that did not opt in fails, with the reason.
  clattn_caps c = fake(H200);
  clattn_select_args a = args(CLATTN_OP_ATTENTION, 128, CLATTN_F32);
  ck_assert_ptr_null(clattn__select(&c, &a, "attention_mma_sm80_tf32_d128",
                                    NULL, 0, NULL, why, sizeof why));
  ck_assert_msg(strstr(why, "allow_tf32"), "reason: %s", why);
}
END_TEST

// Quantized caches: on every fake device, each kv_write / paged_attention
// row that takes a float cache also takes fp8/i8 (they share their source);
// the selected row is the one a float cache gets; non-cache dtypes are
// rejected with a reason naming the cache dtype; attention ignores it.
// The `_q8` row of a 16-bit sm_80 row (its name with sm89 and _q8), or
// NULL.
static const clattn_variant *q8_twin(const clattn_variant *v) {
  char name[128];
  const char *at = strstr(v->name, "_sm80_");
  if (!at)
    return NULL;
  snprintf(name, sizeof name, "%.*s_sm89_%s_q8", (int)(at - v->name), v->name,
           at + 6);
  return clattn__variant_by_name(name);
}

START_TEST(quantized_cache_dtypes) {
  int n_twins = 0;
  static const clattn_dtype qd[] = {CLATTN_FP8_E4M3, CLATTN_FP8_E5M2,
                                    CLATTN_I8};
  static const clattn_op ops[] = {CLATTN_OP_KV_WRITE,
                                  CLATTN_OP_PAGED_ATTENTION};
  static const int dims[] = {13, 64, 128, 256};
  char why[256];
  for (int k = 0; k < N_KINDS; k++) {
    clattn_caps c = fake(k);
    for (size_t o = 0; o < 2; o++)
      for (size_t d = 0; d < 4; d++) {
        clattn_select_args a = args(ops[o], dims[d], CLATTN_F16);
        const clattn_variant *want =
            clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
        for (size_t q = 0; q < 3; q++) {
          a.cache_dtype = qd[q];
          clattn_candidate cands[32];
          int nc = 0;
          const clattn_variant *v =
              clattn__select(&c, &a, NULL, cands, 32, &nc, why, sizeof why);
          // Tensor-core rows stage 16-bit caches raw: a quantized cache
          // gets the decode row's `_q8` twin where that is eligible (sm_89+,
          // per-tensor scales), a portable row otherwise.
          const clattn_variant *tw =
              want && want->tile.MMA ? q8_twin(want) : NULL;
          const int tw_ok =
              tw && clattn__variant_eligible(tw, &c, &a, why, sizeof why);
          ck_assert_msg(
              want && want->tile.MMA ? (tw_ok ? v == tw : v && !v->tile.MMA)
                                     : v == want,
              "%s %s d%d %s: selected %s, float %s", kind_names[k],
              clattn_op_name(ops[o]), dims[d], clattn_dtype_name(qd[q]),
              v ? v->name : "none", want ? want->name : "none");
          if (tw_ok) {
            a.token_scales = 1;
            const clattn_variant *vt =
                clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
            ck_assert_msg(vt && !vt->tile.MMA,
                          "%s: per-token-head scales selected %s", tw->name,
                          vt ? vt->name : "none");
            a.token_scales = 0;
            n_twins++;
          }
          for (int i = 0; i < nc; i++)
            ck_assert_msg(cands[i].v->tile.MMA || (cands[i].v->cache_dtypes &
                                                   CLATTN_DTYPE_BIT(qd[q])),
                          "%s does not take %s caches", cands[i].v->name,
                          clattn_dtype_name(qd[q]));
        }
        // Rows that take an f16 cache reject an i32 one, naming it.
        clattn_candidate fc[32], ic[32];
        int nf = 0, ni = 0;
        a.cache_dtype = CLATTN_F16;
        clattn__select(&c, &a, NULL, fc, 32, &nf, why, sizeof why);
        a.cache_dtype = CLATTN_I32;
        ck_assert_ptr_null(
            clattn__select(&c, &a, NULL, ic, 32, &ni, why, sizeof why));
        ck_assert_int_eq(nf, ni);
        for (int i = 0; i < ni; i++)
          ck_assert_msg(
              !ic[i].eligible &&
                  (!fc[i].eligible || strstr(ic[i].reason, "cache dtype i32")),
              "%s: reason '%s'", ic[i].v->name, ic[i].reason);
      }
    // attention has no cache: a quantized cache_dtype changes nothing.
    clattn_select_args a = args(CLATTN_OP_ATTENTION, 128, CLATTN_F16);
    const clattn_variant *want =
        clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
    a.cache_dtype = CLATTN_FP8_E4M3;
    ck_assert_ptr_eq(
        clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why), want);
  }
  // The reason of a row without the dtype names it (a copy of a row with
  // its cache dtypes cut back to the float ones).
  clattn_caps c = fake(MIN_GPU);
  clattn_variant row = *clattn__variant_by_name("paged_attention_generic_d128");
  row.cache_dtypes = CLATTN_FLOAT_DTYPES;
  clattn_select_args a = args(CLATTN_OP_PAGED_ATTENTION, 128, CLATTN_F16);
  a.cache_dtype = CLATTN_FP8_E5M2;
  ck_assert(!clattn__variant_eligible(&row, &c, &a, why, sizeof why));
  ck_assert_msg(strstr(why, "cache dtype fp8_e5m2 not supported"), "why: %s",
                why);
  a.cache_dtype = CLATTN_F16;
  ck_assert(clattn__variant_eligible(&row, &c, &a, why, sizeof why));
  // The H200 (sm_90) serves quantized decode on the `_q8` rows: d64 and
  // d128, three cache dtypes each.
  ck_assert_int_ge(n_twins, 6);
  const clattn_variant *q8 =
      clattn__variant_by_name("paged_attention_mma_sm89_f16_d128_decode_q8");
  ck_assert_ptr_nonnull(q8);
  a.cache_dtype = CLATTN_I8;
  a.token_scales = 1;
  c = fake(H200);
  ck_assert(!clattn__variant_eligible(q8, &c, &a, why, sizeof why));
  ck_assert_msg(strstr(why, "per-token-head"), "why: %s", why);
  // Chunked prefill over an fp8 cache: the 64-row `_q8` row.
  a.token_scales = 0;
  a.cache_dtype = CLATTN_FP8_E4M3;
  a.max_seqlen_q = 512;
  a.group = 4;
  const clattn_variant *pv =
      clattn__select(&c, &a, NULL, NULL, 0, NULL, why, sizeof why);
  ck_assert_msg(
      pv && strcmp(pv->name, "paged_attention_mma_sm89_f16_d128_q8") == 0,
      "prefill over fp8 selected %s", pv ? pv->name : "none");
}
END_TEST

START_TEST(decode_split_rule) {
  // The wave rule of the decode rows (docs/kernels.md), on H200 caps: 228
  // KiB of shared memory per SM, 132 SMs.
  clattn_caps c = fake(H200);
  c.compute_units = 132;
  // 48 KiB rows: 4 per SM, 528 slots. 512 groups fill one wave unsplit;
  // 2 splits would need a second wave.
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 0, 512, 128), 1);
  // 32 KiB rows: 6 per SM, 792 slots; 3 splits make 1.94 waves of 86
  // tiles, cheaper than 1 wave of 256 or 2 waves of 128 (the sweep in
  // docs/performance.md).
  ck_assert_int_eq(clattn__decode_splits(&c, 32768, 0, 512, 256), 3);
  // One long sequence: the fewest splits that fit one wave with 16 tiles
  // each (64 and 66 tie; the fewer wins).
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 0, 8, 1024), 64);
  // Each split keeps at least four tiles; at most 128 splits.
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 0, 1, 7), 1);
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 0, 1, 8), 2);
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 0, 1, 100000), 128);
  // A row of 3 work-groups per SM (CU_SLOTS, 396 slots): the long sequence
  // takes 49 splits of 21 tiles in one wave, 16 x 8 groups of 128 tiles 3.
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 3, 8, 1024), 49);
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 3, 128, 128), 3);
  // A limit above the local-memory one changes nothing.
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 6, 8, 1024), 64);
  // A device that reports no compute units counts as 8.
  c.unknown |= CLATTN_UNK_COMPUTE_UNITS;
  ck_assert_int_eq(clattn__decode_splits(&c, 49152, 0, 1, 1024), 32);
}
END_TEST

START_TEST(forcing) {
  clattn_caps c = fake(MIN_GPU);
  char why[256];
  clattn_select_args a = args(CLATTN_OP_KV_WRITE, 13, CLATTN_F32);
  const clattn_variant *v = clattn__select(&c, &a, "kv_write_generic", NULL, 0,
                                           NULL, why, sizeof why);
  ck_assert_str_eq(v->name, "kv_write_generic");
  v = clattn__select(&c, &a, "kv_write_vec4", NULL, 0, NULL, why, sizeof why);
  ck_assert_ptr_null(v);
  ck_assert_msg(strstr(why, "not eligible"), "why: %s", why);
  v = clattn__select(&c, &a, "no_such_variant", NULL, 0, NULL, why, sizeof why);
  ck_assert_ptr_null(v);
  ck_assert_msg(strstr(why, "no_such_variant"), "why: %s", why);
}
END_TEST

START_TEST(formats) {
  char why[256];
  clattn_caps pocl31 = fake(POCL31), pocl6 = fake(POCL6),
              nocomp = fake(NO_COMPILER);
  const clattn_variant *v = clattn__variant_by_name("kv_write_generic");
  ck_assert_ptr_nonnull(v);
  ck_assert_int_eq(clattn__pick_format(&pocl31, v, NULL, why, sizeof why),
                   CLATTN_FORMAT_SOURCE);
  ck_assert_int_eq(clattn__pick_format(&pocl31, v, "spirv", why, sizeof why),
                   -1);
  ck_assert_msg(why[0], "no reason");
  ck_assert_int_eq(clattn__pick_format(&pocl6, v, "source", why, sizeof why),
                   CLATTN_FORMAT_SOURCE);
  if (v->spirv) {
    ck_assert_int_eq(clattn__pick_format(&pocl6, v, NULL, why, sizeof why),
                     CLATTN_FORMAT_SPIRV);
    ck_assert_int_eq(clattn__pick_format(&nocomp, v, NULL, why, sizeof why),
                     CLATTN_FORMAT_SPIRV);
  }
  ck_assert_int_eq(clattn__pick_format(&nocomp, v, "source", why, sizeof why),
                   -1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("select");
  TCase *tc = tcase_create("registry");
  tcase_add_test(tc, table_invariants);
  tcase_add_test(tc, portable_row_for_every_op);
  tcase_add_test(tc, every_device_selects_with_reasons);
  tcase_add_test(tc, kv_write_vectorized_only_when_dim_allows);
  tcase_add_test(tc, nvidia_tensor_core_rows);
  tcase_add_test(tc, ptx_sm90a_rewrite);
  tcase_add_test(tc, ptx_maxnreg_rewrite);
  tcase_add_test(tc, tf32_rows_only_on_opt_in);
  tcase_add_test(tc, quantized_cache_dtypes);
  tcase_add_test(tc, decode_split_rule);
  tcase_add_test(tc, forcing);
  tcase_add_test(tc, formats);
  suite_add_tcase(s, tc);
  return tu_run_unit_suite(s);
}
