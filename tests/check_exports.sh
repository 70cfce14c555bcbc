#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fails when libclattn.so exports a symbol that does not start with clattn_
# (or exports internal clattn__ names): only the public API may leak. For
# libclattn.a: every global symbol is clattn_* (internals clattn__*), so a
# static link never collides with the application's names.
set -euo pipefail
lib="$1"
case "$lib" in
  *.a)
    syms=$(nm -g --defined-only "$lib" | awk 'NF == 3 {print $3}')
    # __odr_asan.*: AddressSanitizer's one-definition-rule markers (the asan leg)
    bad=$(printf '%s\n' "$syms" | grep -v -E '^clattn_' |
          grep -v -E '^__odr_asan\.' || true)
    internal=""
    ;;
  *)
    syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRV]$/ {print $3}')
    bad=$(printf '%s\n' "$syms" | grep -v -E '^clattn_[a-z]' |
          grep -v -E '^(_init|_fini|_edata|_end|__bss_start)$' || true)
    internal=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -E '^clattn__' || true)
    ;;
esac
count=$(printf '%s\n' "$syms" | grep -c -E '^clattn_[a-z]' || true)
if [ -n "$bad$internal" ]; then
  echo "FAIL: unexpected global symbols in $lib:"
  echo "$bad" "$internal"
  exit 1
fi
if [ "$count" -lt 10 ]; then
  echo "FAIL: only $count clattn_ symbols exported from $lib"
  exit 1
fi
echo "PASS: $lib: $count clattn_* symbols; every global symbol is clattn_*"
