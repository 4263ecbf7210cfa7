#!/usr/bin/env bash
# `make test`: run the given make targets in order, stop at the first failure, then print one
# summary line per part (passed / FAILED / skipped, with seconds). Exits non-zero if any part failed.
# Usage: scripts/run-tests.sh TARGET...
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
make=${MAKE:-make}
parts=("$@")
declare -A result seconds
failed=''

for part in "${parts[@]}"; do
  if [ -n "$failed" ]; then
    result[$part]=skipped
    continue
  fi
  printf '\n===== make %s =====\n' "$part"
  start=$(date +%s)
  if "$make" --no-print-directory "$part"; then
    result[$part]=passed
  else
    result[$part]=FAILED
    failed=$part
  fi
  seconds[$part]=$(($(date +%s) - start))
done

printf '\n===== summary =====\n'
for part in "${parts[@]}"; do
  if [ "${result[$part]}" = skipped ]; then
    printf '%-12s %s\n' "$part" skipped
  else
    printf '%-12s %-8s %4ss\n' "$part" "${result[$part]}" "${seconds[$part]}"
  fi
done

if [ -n "$failed" ]; then
  printf 'make test: FAILED at %s\n' "$failed"
  exit 1
fi
printf 'make test: all passed\n'
