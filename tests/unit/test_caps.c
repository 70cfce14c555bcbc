// SPDX-License-Identifier: Apache-2.0
// Unit tests of capability parsing (no device): whole-token extension
// matching, version and IL strings, feature bits, unknown fields.
#include "testutil.h"

#include <check.h>
#include <string.h>

START_TEST(tokens_are_whole) {
  const char *ext = "cl_khr_fp64 cl_intel_subgroups_short  cl_khr_fp16";
  ck_assert(clattn__has_token(ext, "cl_khr_fp64"));
  ck_assert(clattn__has_token(ext, "cl_khr_fp16"));
  ck_assert(!clattn__has_token(ext, "cl_intel_subgroups"));
  ck_assert(clattn__has_token(ext, "cl_intel_subgroups_short"));
  ck_assert(!clattn__has_token(ext, "cl_khr_fp"));
  ck_assert(!clattn__has_token(ext, "khr_fp64"));
  ck_assert(!clattn__has_token("", "cl_khr_fp16"));
  ck_assert(!clattn__has_token(NULL, "cl_khr_fp16"));
  ck_assert(!clattn__has_token(ext, ""));
}
END_TEST

START_TEST(pocl31_strings) {
  clattn_caps c;
  memset(&c, 0, sizeof c);
  strcpy(c.version, "OpenCL 3.0 PoCL HSTR: pthread-x86_64");
  strcpy(c.c_version, "OpenCL C 1.2 PoCL");
  strcpy(c.extensions, "cl_khr_byte_addressable_store cl_khr_fp64 "
                       "cl_khr_int64_base_atomics");
  c.features = CLATTN_CAP_CPU | CLATTN_CAP_COMPILER;
  clattn__caps_parse(&c);
  ck_assert_int_eq(c.cl_major, 3);
  ck_assert_int_eq(c.cl_minor, 0);
  ck_assert_int_eq(c.c_major, 1);
  ck_assert_int_eq(c.c_minor, 2);
  ck_assert_int_eq(c.spirv_minor, -1);
  ck_assert(!(c.features & CLATTN_CAP_SPIRV));
  ck_assert(c.features & CLATTN_CAP_FP64);
  ck_assert(c.features & CLATTN_CAP_INT64_ATOMICS);
  ck_assert(c.features & CLATTN_CAP_CPU);
  ck_assert(!(c.features & (CLATTN_CAP_FP16 | CLATTN_CAP_ANY_SUBGROUPS)));
  ck_assert_uint_eq(c.unknown, 0);
}
END_TEST

START_TEST(pocl6_il_and_subgroups) {
  clattn_caps c;
  memset(&c, 0, sizeof c);
  strcpy(c.version, "OpenCL 3.0 PoCL");
  strcpy(c.c_version, "OpenCL C 3.0 PoCL");
  strcpy(c.il_versions, "SPIR-V_1.0 SPIR-V_1.1 SPIR-V_1.2");
  strcpy(c.extensions, "cl_khr_subgroups cl_intel_subgroups cl_khr_fp16 "
                       "cl_khr_subgroup_shuffle");
  clattn__caps_parse(&c);
  ck_assert_int_eq(c.spirv_minor, 2);
  ck_assert(c.features & CLATTN_CAP_SPIRV);
  ck_assert(c.features & CLATTN_CAP_KHR_SUBGROUPS);
  ck_assert(c.features & CLATTN_CAP_INTEL_SUBGROUPS);
  ck_assert(c.features & CLATTN_CAP_SUBGROUP_SHUFFLE);
  ck_assert(c.features & CLATTN_CAP_FP16);
}
END_TEST

START_TEST(nvidia_strings) {
  clattn_caps c;
  memset(&c, 0, sizeof c);
  strcpy(c.platform, "NVIDIA CUDA");
  strcpy(c.version, "OpenCL 3.0 CUDA");
  strcpy(c.c_version, "OpenCL C 1.2 ");
  strcpy(c.extensions, "cl_khr_global_int32_base_atomics "
                       "cl_nv_device_attribute_query cl_nv_pragma_unroll");
  c.features = CLATTN_CAP_GPU | CLATTN_CAP_COMPILER;
  clattn__caps_parse(&c);
  ck_assert(c.features & CLATTN_CAP_NV_ATTRS);
  ck_assert(c.features & CLATTN_CAP_NV_PTX);
  ck_assert(c.features & CLATTN_CAP_GPU);
  ck_assert(!(c.features & CLATTN_CAP_SPIRV));
  // The same extension on another platform is not a PTX-capable device.
  strcpy(c.platform, "Portable Computing Language");
  clattn__caps_parse(&c);
  ck_assert(!(c.features & CLATTN_CAP_NV_PTX));
}
END_TEST

START_TEST(malformed_versions_are_unknown) {
  clattn_caps c;
  memset(&c, 0, sizeof c);
  strcpy(c.version, "garbage");
  strcpy(c.c_version, "");
  strcpy(c.il_versions, "SPIR-V_x");
  clattn__caps_parse(&c);
  ck_assert(c.unknown & CLATTN_UNK_VERSION);
  ck_assert(c.unknown & CLATTN_UNK_C_VERSION);
  ck_assert_int_eq(c.spirv_minor, -1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("caps");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, tokens_are_whole);
  tcase_add_test(tc, pocl31_strings);
  tcase_add_test(tc, pocl6_il_and_subgroups);
  tcase_add_test(tc, nvidia_strings);
  tcase_add_test(tc, malformed_versions_are_unknown);
  suite_add_tcase(s, tc);
  return tu_run_unit_suite(s);
}
