# SPDX-License-Identifier: Apache-2.0
# The build-time kernel pipeline: clattn_variant() records one registry row
# and (when SPIR-V is on) compiles it clang -> llvm-spirv -> spirv-val;
# clattn_generate_registry() embeds sources and modules and writes variants_gen.c.
include_guard(GLOBAL)

set(CLATTN_CL_DIR "${PROJECT_SOURCE_DIR}/cl")
set(CLATTN_GEN_DIR "${PROJECT_BINARY_DIR}/generated")
file(MAKE_DIRECTORY "${CLATTN_GEN_DIR}/spv")
set_property(GLOBAL PROPERTY CLATTN_ROWS "")
set_property(GLOBAL PROPERTY CLATTN_SOURCES "")
set_property(GLOBAL PROPERTY CLATTN_GEN_FILES "")
set_property(GLOBAL PROPERTY CLATTN_SPV_FILES "")

# clattn_variant(<name> OP <KV_WRITE|ATTENTION|PAGED_ATTENTION> SOURCE <file.cl>
#   PRIORITY <n> [CLASS ANY|GPU|CPU] [REQUIRES <cap>...] [MIN_NV_CC <n>]
#   [HEAD_DIM_MULTIPLE <n>] [DTYPES <F32|F16|BF16>...]
#   [CACHE_DTYPES <F32|F16|BF16|FP8_E4M3|FP8_E5M2|I8>...] [LOCAL_MEM <bytes>]
#   [TILE <KEY=n>...] [DEFINES <KEY=v>...] [SPIRV_EXT <ext>...]
#   [SPIRV_MINOR <n>] [SOURCE_ONLY] [BUILD_OPTIONS <opt>...]
#   [MAX_Q_ROWS <n>] [TF32] [PTX_SM90A] [PTX_MAXNREG <n>] [CU_SLOTS <n>]
#   [TENSOR_SCALES])
# MAX_Q_ROWS: eligible only for calls whose max_seqlen_q * group (rows of
# one sequence and KV head) is known and at most n (the decode rows).
# TF32: an f32 row with tf32 products, eligible only when the caller opts in
# (clattn_attention_params.allow_tf32).
# PTX_SM90A: a source-only NVIDIA row whose sm_90a instructions (wgmma) sit
# behind `//@sm90a@ ` markers; eligible on compute capability 9.0 only, and
# built through the PTX rewrite of host/program.c.
# PTX_MAXNREG: a source-only NVIDIA row whose kernel gets `.maxnreg n` in
# the PTX the driver returned, rebuilt as a program binary (the driver
# ignores -cl-nv-maxrregcount), so that more of its work-groups fit per SM.
# CU_SLOTS: work-groups of the row one compute unit runs at once, where
# fewer than its local memory allows (measured); a decode row with it is
# eligible only for grids of batch * kv_heads <= n per compute unit, and
# its split count plans waves of n.
# TENSOR_SCALES: a row for quantized caches that folds per-tensor scales
# only; not eligible when a cache has per-token-head scales.
# BUILD_OPTIONS (source-only rows) go to clBuildProgram as they are, e.g.
# NVIDIA's -cl-nv-* options (note: the H200 driver accepted
# -cl-nv-maxrregcount=N and ignored it).
# Sub-group rows (REQUIRES KHR_SUBGROUPS or INTEL_SUBGROUPS) are validated
# against the OpenCL 2.2 environment (OpenCL 1.2's refuses the Groups
# capability) and compiled with the full opencl-c.h (clang-15's built-in
# declarations lack the intel_sub_group_* functions).
# TILE keys become both `.tile = {.KEY = n}` and `-DKEY=n`.
function(clattn_variant name)
  cmake_parse_arguments(V "SOURCE_ONLY;TF32;PTX_SM90A;TENSOR_SCALES" "OP;SOURCE;PRIORITY;CLASS;MIN_NV_CC;HEAD_DIM_MULTIPLE;LOCAL_MEM;SPIRV_MINOR;MAX_Q_ROWS;PTX_MAXNREG;CU_SLOTS"
                        "REQUIRES;DTYPES;CACHE_DTYPES;TILE;DEFINES;SPIRV_EXT;BUILD_OPTIONS" ${ARGN})
  foreach(req OP SOURCE PRIORITY)
    if(NOT DEFINED V_${req})
      message(FATAL_ERROR "clattn_variant(${name}): ${req} missing")
    endif()
  endforeach()
  if(NOT V_CLASS)
    set(V_CLASS ANY)
  endif()
  foreach(flag TF32 PTX_SM90A TENSOR_SCALES)
    if(V_${flag})
      set(V_${flag} 1)
    else()
      set(V_${flag} 0)
    endif()
  endforeach()
  foreach(opt MIN_NV_CC LOCAL_MEM SPIRV_MINOR MAX_Q_ROWS PTX_MAXNREG CU_SLOTS)
    if(NOT V_${opt})
      set(V_${opt} 0)
    endif()
  endforeach()
  if(NOT V_HEAD_DIM_MULTIPLE)
    set(V_HEAD_DIM_MULTIPLE 1)
  endif()
  if(NOT V_DTYPES)
    set(V_DTYPES F32 F16 BF16)
  endif()
  if(NOT V_CACHE_DTYPES)
    set(V_CACHE_DTYPES F32 F16 BF16)
  endif()
  set(cdt_c "0u")
  foreach(d ${V_CACHE_DTYPES})
    string(APPEND cdt_c " | CLATTN_DTYPE_BIT(CLATTN_${d})")
  endforeach()
  set(req_c "0u")
  foreach(r ${V_REQUIRES})
    string(APPEND req_c " | CLATTN_CAP_${r}")
  endforeach()
  set(dt_c "0u")
  foreach(d ${V_DTYPES})
    string(APPEND dt_c " | CLATTN_DTYPE_BIT(CLATTN_${d})")
  endforeach()
  set(opts "-DCLATTN_VARIANT_${name}=1")
  set(tile_c "")
  foreach(kv ${V_TILE})
    string(REPLACE "=" ";" kvl "${kv}")
    list(GET kvl 0 k)
    list(GET kvl 1 val)
    string(APPEND tile_c ".${k} = ${val}, ")
    string(APPEND opts " -D${k}=${val}")
  endforeach()
  foreach(d ${V_DEFINES})
    string(APPEND opts " -D${d}")
  endforeach()
  if(V_PTX_MAXNREG AND NOT V_SOURCE_ONLY)
    message(FATAL_ERROR "clattn_variant(${name}): PTX_MAXNREG needs SOURCE_ONLY")
  endif()
  if(V_BUILD_OPTIONS)
    if(NOT V_SOURCE_ONLY)
      message(FATAL_ERROR "clattn_variant(${name}): BUILD_OPTIONS needs SOURCE_ONLY")
    endif()
    foreach(o ${V_BUILD_OPTIONS})
      string(APPEND opts " ${o}")
    endforeach()
  endif()
  string(REPLACE ";" " " opts "${opts}")
  string(REPLACE ".cl" "" src_id "${V_SOURCE}")

  get_property(srcs GLOBAL PROPERTY CLATTN_SOURCES)
  list(FIND srcs "${V_SOURCE}" src_index)
  if(src_index EQUAL -1)
    list(LENGTH srcs src_index)
    set_property(GLOBAL APPEND PROPERTY CLATTN_SOURCES "${V_SOURCE}")
  endif()

  set(spv_c "NULL, 0, 0")
  if(CLATTN_WITH_SPIRV AND NOT V_SOURCE_ONLY)
    set(bc "${CLATTN_GEN_DIR}/spv/${name}.bc")
    set(spv "${CLATTN_GEN_DIR}/spv/${name}.spv")
    set(spv_src "${CLATTN_GEN_DIR}/spv_${name}.c")
    separate_arguments(opt_list UNIX_COMMAND "${opts}")
    set(ext_flags "")
    set(clang_ext "")
    set(val_env opencl1.2)
    foreach(e ${V_SPIRV_EXT})
      list(APPEND ext_flags "--spirv-ext=+${e}")
    endforeach()
    foreach(r ${V_REQUIRES})
      if(r STREQUAL "KHR_SUBGROUPS" OR r STREQUAL "INTEL_SUBGROUPS")
        string(TOLOWER "cl_${r}" ext)
        list(APPEND clang_ext -cl-no-stdinc -Xclang -cl-ext=+${ext})
        set(val_env opencl2.2)
      elseif(r STREQUAL "FP16")
        list(APPEND clang_ext -Xclang -cl-ext=+cl_khr_fp16)
      endif()
    endforeach()
    add_custom_command(
      OUTPUT "${spv}"
      COMMAND "${CLATTN_CLANG}" -cl-std=CL1.2 -target spir64 -emit-llvm -c -O2
              -Xclang -finclude-default-header ${clang_ext} -I "${CLATTN_CL_DIR}"
              ${opt_list} -o "${bc}" "${CLATTN_CL_DIR}/${V_SOURCE}"
      COMMAND "${CLATTN_LLVM_SPIRV}" --spirv-max-version=1.2 ${ext_flags} "${bc}" -o "${spv}"
      COMMAND "${CLATTN_SPIRV_VAL}" --target-env ${val_env} "${spv}"
      DEPENDS "${CLATTN_CL_DIR}/${V_SOURCE}" ${CLATTN_CLH_FILES}
      COMMENT "SPIR-V ${name}"
      VERBATIM)
    add_custom_command(
      OUTPUT "${spv_src}"
      COMMAND "${CMAKE_COMMAND}" -DIN=${spv} -DOUT=${spv_src} -DNAME=clattn_spv_${name}
              -P "${PROJECT_SOURCE_DIR}/spirv/clattn_embed.cmake"
      DEPENDS "${spv}" "${PROJECT_SOURCE_DIR}/spirv/clattn_embed.cmake"
      VERBATIM)
    set_property(GLOBAL APPEND PROPERTY CLATTN_GEN_FILES "${spv_src}")
    set_property(GLOBAL APPEND PROPERTY CLATTN_SPV_FILES "${spv}")
    set(spv_c "clattn_spv_${name}, 0, 0")
    set_property(GLOBAL APPEND_STRING PROPERTY CLATTN_SPV_DECLS
                 "extern const unsigned char clattn_spv_${name}[];\nextern const size_t clattn_spv_${name}_len;\n")
    set(spv_c "clattn_spv_${name}, 0 /*len*/, 0")
    set(spv_len "clattn_spv_${name}_len")
  endif()

  set(row "  {.name = \"${name}\", .op = CLATTN_OP_${V_OP}, .requires = ${req_c},\n   .dclass = CLATTN_CLASS_${V_CLASS}, .priority = ${V_PRIORITY}, .min_nv_cc = ${V_MIN_NV_CC},\n   .max_q_rows = ${V_MAX_Q_ROWS}, .tf32 = ${V_TF32}, .ptx_sm90a = ${V_PTX_SM90A},\n   .ptx_maxnreg = ${V_PTX_MAXNREG}, .cu_slots = ${V_CU_SLOTS},\n   .tensor_scales = ${V_TENSOR_SCALES},\n   .head_dim_multiple = ${V_HEAD_DIM_MULTIPLE}, .dtypes = ${dt_c},\n   .cache_dtypes = ${cdt_c}, .local_mem = ${V_LOCAL_MEM},\n   .tile = {${tile_c}}, .build_options = \"${opts}\", .source_index = ${src_index},\n")
  if(CLATTN_WITH_SPIRV AND NOT V_SOURCE_ONLY)
    string(APPEND row "   .spirv = clattn_spv_${name}, .spirv_minor = ${V_SPIRV_MINOR}},\n")
    set_property(GLOBAL APPEND_STRING PROPERTY CLATTN_SPV_LENS "  clattn_spv_${name}_len,\n")
  else()
    string(APPEND row "   .spirv = NULL, .spirv_minor = 0},\n")
    set_property(GLOBAL APPEND_STRING PROPERTY CLATTN_SPV_LENS "  0,\n")
  endif()
  set_property(GLOBAL APPEND_STRING PROPERTY CLATTN_ROWS "${row}")
endfunction()

# Writes variants_gen.c and embeds every .cl source; returns the generated
# C files in OUT_VAR.
function(clattn_generate_registry OUT_VAR)
  get_property(rows GLOBAL PROPERTY CLATTN_ROWS)
  get_property(srcs GLOBAL PROPERTY CLATTN_SOURCES)
  get_property(decls GLOBAL PROPERTY CLATTN_SPV_DECLS)
  get_property(lens GLOBAL PROPERTY CLATTN_SPV_LENS)
  get_property(gen GLOBAL PROPERTY CLATTN_GEN_FILES)
  set(src_decls "")
  set(src_rows "")
  foreach(s ${srcs})
    string(REPLACE ".cl" "" id "${s}")
    set(out "${CLATTN_GEN_DIR}/src_${id}.c")
    add_custom_command(
      OUTPUT "${out}"
      COMMAND "${CMAKE_COMMAND}" -DIN=${CLATTN_CL_DIR}/${s} -DOUT=${out} -DNAME=clattn_src_${id}
              -DRESOLVE_INCLUDES=${CLATTN_CL_DIR} -P "${PROJECT_SOURCE_DIR}/spirv/clattn_embed.cmake"
      DEPENDS "${CLATTN_CL_DIR}/${s}" ${CLATTN_CLH_FILES} "${PROJECT_SOURCE_DIR}/spirv/clattn_embed.cmake"
      VERBATIM)
    list(APPEND gen "${out}")
    string(APPEND src_decls "extern const unsigned char clattn_src_${id}[];\nextern const size_t clattn_src_${id}_len;\n")
    string(APPEND src_rows "  {\"${s}\", clattn_src_${id}, 0},\n")
  endforeach()
  set(text "// Generated by spirv/clattn_kernels.cmake from cl/variants.cmake; do not edit.\n#include \"internal.h\"\n\n${decls}${src_decls}\n")
  string(APPEND text "static clattn_variant rows_[] = {\n${rows}};\n\n")
  string(APPEND text "static clattn_source sources_[] = {\n${src_rows}};\n\n")
  # Lengths are link-time constants, filled in once at first use.
  string(APPEND text "static const size_t *spv_lens_[] = {\n")
  get_property(rowlens GLOBAL PROPERTY CLATTN_SPV_LENS)
  string(REPLACE "  clattn_spv_" "  &clattn_spv_" rowlens "${rowlens}")
  string(REPLACE "  0,\n" "  NULL,\n" rowlens "${rowlens}")
  string(APPEND text "${rowlens}};\n")
  string(APPEND text "static const size_t *src_lens_[] = {\n")
  foreach(s ${srcs})
    string(REPLACE ".cl" "" id "${s}")
    string(APPEND text "  &clattn_src_${id}_len,\n")
  endforeach()
  string(APPEND text "};\n\nconst int clattn__variant_count = (int)(sizeof rows_ / sizeof rows_[0]);\nconst int clattn__source_count = (int)(sizeof sources_ / sizeof sources_[0]);\n\n")
  string(APPEND text "void clattn__registry_fill_lengths(void) {\n  for (int i = 0; i < clattn__variant_count; i++)\n    rows_[i].spirv_len = spv_lens_[i] ? *spv_lens_[i] : 0;\n  for (int i = 0; i < clattn__source_count; i++)\n    sources_[i].len = *src_lens_[i];\n}\n")
  string(APPEND text "const clattn_variant *clattn__variants_ptr(void) { return rows_; }\nconst clattn_source *clattn__sources_ptr(void) { return sources_; }\n")
  file(WRITE "${CLATTN_GEN_DIR}/variants_gen.c.tmp" "${text}")
  configure_file("${CLATTN_GEN_DIR}/variants_gen.c.tmp" "${CLATTN_GEN_DIR}/variants_gen.c" COPYONLY)
  list(APPEND gen "${CLATTN_GEN_DIR}/variants_gen.c")
  set(${OUT_VAR} ${gen} PARENT_SCOPE)
endfunction()
