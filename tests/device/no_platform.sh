#!/bin/sh
# No OpenCL platform at all (OCL_ICD_VENDORS names an empty folder):
# clattn-probe exits 3 with its message, also under --json, and the library
# answers NULL objects with statuses (test_faults --no-platform).
# Usage: no_platform.sh CLATTN_PROBE TEST_FAULTS
set -u
empty=$(mktemp -d)
trap 'rmdir "$empty"' EXIT
export OCL_ICD_VENDORS="$empty"
fail=0
out=$("$1" 2>&1); rc=$?
echo "clattn-probe: exit $rc: $out"
[ "$rc" -eq 3 ] || { echo "FAIL: want exit 3"; fail=1; }
case "$out" in *"no OpenCL platform found"*) ;; *) echo "FAIL: message"; fail=1 ;; esac
json=$("$1" --json 2>/dev/null); rc=$?
echo "clattn-probe --json: exit $rc"
[ "$rc" -eq 3 ] || { echo "FAIL: --json want exit 3"; fail=1; }
case "$json" in *'"devices": []'*'"error": "no OpenCL platform found'*) ;;
  *) echo "FAIL: --json object: $json"; fail=1 ;; esac
"$2" --no-platform || { echo "FAIL: test_faults --no-platform"; fail=1; }
exit "$fail"
