# SPDX-License-Identifier: Apache-2.0
# Turns a file into a C byte array with CMake alone (run as cmake -P).
# Inputs: IN, OUT, NAME, and RESOLVE_INCLUDES (a folder) for .cl sources,
# whose `#include "x.clh"` lines are replaced by the file they name.
file(READ "${IN}" content HEX)
if(RESOLVE_INCLUDES)
  file(READ "${IN}" text)
  set(guard 0)
  while(text MATCHES "#include \"([A-Za-z0-9_.]+\\.clh)\"")
    set(inc "${CMAKE_MATCH_1}")
    file(READ "${RESOLVE_INCLUDES}/${inc}" inc_text)
    string(REPLACE "#include \"${inc}\"" "${inc_text}" text "${text}")
    math(EXPR guard "${guard} + 1")
    if(guard GREATER 32)
      message(FATAL_ERROR "include loop in ${IN}")
    endif()
  endwhile()
  file(WRITE "${OUT}.txt" "${text}")
  file(READ "${OUT}.txt" content HEX)
  file(REMOVE "${OUT}.txt")
  string(APPEND content "00") # NUL-terminated for clCreateProgramWithSource
endif()
string(LENGTH "${content}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
if(RESOLVE_INCLUDES)
  math(EXPR len "${len} - 1") # length excludes the NUL
endif()
file(WRITE "${OUT}" "// Generated from ${IN} by spirv/clattn_embed.cmake; do not edit.\n#include <stddef.h>\nconst unsigned char ${NAME}[] = {\n${bytes}};\nconst size_t ${NAME}_len = ${len};\n")
