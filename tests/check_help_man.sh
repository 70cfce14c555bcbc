#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: check_help_man.sh TOOL MANPAGE VERSION. Fails unless every --option
# in `TOOL --help` has an OPTIONS entry (.TP) in MANPAGE and vice versa, and
# the page names clattn VERSION; lints the page with man --warnings if present.
set -euo pipefail
tool=$1 page=$2 version=$3
name=$(basename "$tool")

help_opts=$("$tool" --help | grep -o -E -- '--[a-z][a-z0-9-]*' | sort -u)
# The option each .TP entry of the OPTIONS section starts with.
man_opts=$(awk '/^\.SH /{sec=$2} sec=="OPTIONS" && prev==".TP" {print} {prev=$0}' "$page" |
  sed 's/\\-/-/g' | grep -o -E -- '--[a-z][a-z0-9-]*' | sort -u)
rc=0
only_help=$(comm -23 <(printf '%s\n' "$help_opts") <(printf '%s\n' "$man_opts"))
only_man=$(comm -13 <(printf '%s\n' "$help_opts") <(printf '%s\n' "$man_opts"))
if [ -n "$only_help" ]; then
  echo "FAIL: in '$name --help' but not an OPTIONS entry of $page: ${only_help//$'\n'/ }"
  rc=1
fi
if [ -n "$only_man" ]; then
  echo "FAIL: OPTIONS entries of $page that '$name --help' does not show: ${only_man//$'\n'/ }"
  rc=1
fi
if ! grep -q "^\.TH .*\"clattn $version\"" "$page"; then
  echo "FAIL: $page: .TH does not name \"clattn $version\""
  rc=1
fi
if command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1; then
  warn=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
  if [ -n "$warn" ]; then
    echo "FAIL: man --warnings $page:"
    echo "$warn"
    rc=1
  fi
fi
[ "$rc" -ne 0 ] || echo "PASS: $name: $(printf '%s\n' "$help_opts" | wc -l) options, --help and $(basename "$page") agree"
exit "$rc"
