#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: check_nvptx.sh CLANG CL_DIR VARIANTS_GEN_C. Compiles every NVIDIA
# tensor-core row (source-only, inline PTX) with clang's nvptx target and the
# row's own build options, so a broken #if nest or a row that no CI device
# can run fails here; ptxas (not in Debian) still only runs on the GPU host.
set -euo pipefail
clang=$1 cl=$2 gen=$3
if ! [ -x "$clang" ]; then
  # The Debian 13 leg runs the host build's tests in a chroot without it;
  # the Debian 12 legs run this check.
  echo "SKIP: $clang (the build's clang) is not installed here"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rc=0 n=0
while read -r opts; do
  name=${opts#-DCLATTN_VARIANT_}
  name=${name%%=*}
  n=$((n + 1))
  # shellcheck disable=SC2086 # the options are one word each
  if ! "$clang" -cl-std=CL1.2 -target nvptx64-nvidia-nvcl -O2 -S -I "$cl" $opts \
    -Xclang -finclude-default-header "$cl/attention.cl" -o "$out/$name.ptx" 2>"$out/err"; then
    echo "FAIL: $name does not compile for nvptx:"
    head -5 "$out/err"
    rc=1
  elif ! grep -q -e 'mma.sync' -e '//@sm90a@ wgmma.mma_async' "$out/$name.ptx"; then
    echo "FAIL: $name has no mma.sync (nor marked wgmma)"
    rc=1
  fi
done < <(grep -o '"-DCLATTN_VARIANT_[a-z0-9_]*_mma_[^"]*"' "$gen" | tr -d '"')
[ "$n" -gt 0 ] || { echo "FAIL: no tensor-core rows found in $gen"; exit 1; }
echo "$n tensor-core rows compile for nvptx"
exit $rc
