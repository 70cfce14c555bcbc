// SPDX-License-Identifier: Apache-2.0
// The device capability probe: versions, IL versions, extensions (whole
// tokens), device class, sizes, NVIDIA compute capability, AMD wavefront and
// subgroup sizes. A failed query marks its field unknown and never aborts.
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CL_DEVICE_IL_VERSION
#define CL_DEVICE_IL_VERSION 0x105B
#endif
#define CLATTN_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CLATTN_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#define CLATTN_CL_DEVICE_WAVEFRONT_WIDTH_AMD 0x4043
#define CLATTN_CL_DEVICE_SUB_GROUP_SIZES_INTEL 0x4108

int clattn__has_token(const char *list, const char *token) {
  size_t n = strlen(token);
  if (!list || n == 0)
    return 0;
  for (const char *p = list; (p = strstr(p, token)) != NULL; p += n) {
    int starts = p == list || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n';
    char end = p[n];
    if (starts && (end == '\0' || end == ' ' || end == '\t' || end == '\n'))
      return 1;
  }
  return 0;
}

static int get_str(cl_device_id d, cl_device_info what, char *buf,
                   size_t size) {
  size_t got = 0;
  buf[0] = '\0';
  if (clGetDeviceInfo(d, what, size, buf, &got) != CL_SUCCESS) {
    buf[0] = '\0';
    return -1;
  }
  buf[size - 1] = '\0';
  return 0;
}

// "OpenCL 3.0 ..." / "OpenCL C 1.2 ..." -> major, minor.
static int parse_version(const char *s, const char *prefix, int *maj,
                         int *min) {
  const char *p = strstr(s, prefix);
  if (!p)
    return -1;
  p += strlen(prefix);
  return sscanf(p, "%d.%d", maj, min) == 2 ? 0 : -1;
}

void clattn__caps_parse(clattn_caps *c) {
  c->cl_major = c->cl_minor = 0;
  if (parse_version(c->version, "OpenCL ", &c->cl_major, &c->cl_minor))
    c->unknown |= CLATTN_UNK_VERSION;
  c->c_major = c->c_minor = 0;
  if (parse_version(c->c_version, "OpenCL C ", &c->c_major, &c->c_minor))
    c->unknown |= CLATTN_UNK_C_VERSION;

  // IL versions: space-separated "SPIR-V_1.2" tokens.
  c->spirv_minor = -1;
  for (const char *p = c->il_versions; (p = strstr(p, "SPIR-V_")) != NULL;
       p += 7) {
    int maj = 0, min = 0;
    if (sscanf(p + 7, "%d.%d", &maj, &min) == 2 && maj == 1 &&
        min > c->spirv_minor)
      c->spirv_minor = min;
  }
  unsigned f =
      c->features & (CLATTN_CAP_GPU | CLATTN_CAP_CPU | CLATTN_CAP_COMPILER);
  if (c->spirv_minor >= 0)
    f |= CLATTN_CAP_SPIRV;
  static const struct {
    const char *ext;
    unsigned bit;
  } exts[] = {
      {"cl_khr_fp16", CLATTN_CAP_FP16},
      {"cl_khr_fp64", CLATTN_CAP_FP64},
      {"cl_khr_subgroups", CLATTN_CAP_KHR_SUBGROUPS},
      {"cl_intel_subgroups", CLATTN_CAP_INTEL_SUBGROUPS},
      {"cl_khr_subgroup_shuffle", CLATTN_CAP_SUBGROUP_SHUFFLE},
      {"cl_nv_device_attribute_query", CLATTN_CAP_NV_ATTRS},
      {"cl_amd_device_attribute_query", CLATTN_CAP_AMD_ATTRS},
      {"cl_khr_int64_base_atomics", CLATTN_CAP_INT64_ATOMICS},
  };
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (clattn__has_token(c->extensions, exts[i].ext))
      f |= exts[i].bit;
  if (strstr(c->platform, "NVIDIA") && (f & CLATTN_CAP_NV_ATTRS))
    f |= CLATTN_CAP_NV_PTX;
  c->features = f;
}

void clattn__caps_probe(cl_device_id d, clattn_caps *c) {
  memset(c, 0, sizeof *c);
  cl_platform_id plat = NULL;
  if (clGetDeviceInfo(d, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL) ==
          CL_SUCCESS &&
      plat)
    clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof c->platform, c->platform,
                      NULL);
  c->platform[sizeof c->platform - 1] = '\0';
  if (get_str(d, CL_DEVICE_NAME, c->name, sizeof c->name))
    c->unknown |= CLATTN_UNK_NAME;
  get_str(d, CL_DEVICE_VENDOR, c->vendor, sizeof c->vendor);
  get_str(d, CL_DRIVER_VERSION, c->driver, sizeof c->driver);
  get_str(d, CL_DEVICE_VERSION, c->version, sizeof c->version);
  get_str(d, CL_DEVICE_OPENCL_C_VERSION, c->c_version, sizeof c->c_version);
  // CL_DEVICE_IL_VERSION exists from OpenCL 2.1; on older devices the query
  // fails, which simply means no IL.
  if (get_str(d, CL_DEVICE_IL_VERSION, c->il_versions, sizeof c->il_versions))
    c->unknown |= CLATTN_UNK_IL;
  if (get_str(d, CL_DEVICE_EXTENSIONS, c->extensions, sizeof c->extensions))
    c->unknown |= CLATTN_UNK_EXTENSIONS;

  if (clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof c->type, &c->type, NULL))
    c->unknown |= CLATTN_UNK_TYPE;
  if (c->type & CL_DEVICE_TYPE_GPU)
    c->features |= CLATTN_CAP_GPU;
  if (c->type & CL_DEVICE_TYPE_CPU)
    c->features |= CLATTN_CAP_CPU;
  cl_bool comp = CL_FALSE;
  if (clGetDeviceInfo(d, CL_DEVICE_COMPILER_AVAILABLE, sizeof comp, &comp,
                      NULL) == CL_SUCCESS &&
      comp)
    c->features |= CLATTN_CAP_COMPILER;
  if (clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof c->compute_units,
                      &c->compute_units, NULL))
    c->unknown |= CLATTN_UNK_COMPUTE_UNITS;
  if (clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_mem,
                      &c->local_mem, NULL))
    c->unknown |= CLATTN_UNK_LOCAL_MEM;
  if (clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE,
                      sizeof c->max_work_group, &c->max_work_group, NULL))
    c->unknown |= CLATTN_UNK_WORK_GROUP;
  clGetDeviceInfo(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof c->max_alloc,
                  &c->max_alloc, NULL);

  clattn__caps_parse(c);

  if (c->features & CLATTN_CAP_NV_ATTRS) {
    cl_uint maj = 0, min = 0;
    if (clGetDeviceInfo(d, CLATTN_CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV,
                        sizeof maj, &maj, NULL) == CL_SUCCESS &&
        clGetDeviceInfo(d, CLATTN_CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV,
                        sizeof min, &min, NULL) == CL_SUCCESS)
      c->nv_cc = (int)(maj * 10 + min);
    else
      c->unknown |= CLATTN_UNK_NV_CC;
  }
  if (c->features & CLATTN_CAP_AMD_ATTRS) {
    cl_uint w = 0;
    if (clGetDeviceInfo(d, CLATTN_CL_DEVICE_WAVEFRONT_WIDTH_AMD, sizeof w, &w,
                        NULL) == CL_SUCCESS)
      c->amd_wavefront = (int)w;
    else
      c->unknown |= CLATTN_UNK_AMD_WAVEFRONT;
  }
  if (c->features & CLATTN_CAP_INTEL_SUBGROUPS) {
    // Ask for the size first: PoCL 6.0 reports ten sizes (1..512).
    size_t got = 0, sizes[64] = {0};
    if (clGetDeviceInfo(d, CLATTN_CL_DEVICE_SUB_GROUP_SIZES_INTEL, 0, NULL,
                        &got) == CL_SUCCESS &&
        got > 0 && got <= sizeof sizes &&
        clGetDeviceInfo(d, CLATTN_CL_DEVICE_SUB_GROUP_SIZES_INTEL, got, sizes,
                        NULL) == CL_SUCCESS) {
      int n = (int)(got / sizeof(size_t));
      for (int i = 0; i < n && c->n_subgroup_sizes < 8; i++)
        c->subgroup_sizes[c->n_subgroup_sizes++] = (int)sizes[i];
    } else {
      c->unknown |= CLATTN_UNK_SUBGROUP_SIZES;
    }
  }
}
