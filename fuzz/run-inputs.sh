#!/bin/bash
# Runs a fuzz target once over every input file of the given directories
# (no fuzzing): the regression test of the fuzz build.
#   fuzz/run-inputs.sh TARGET DIR...
# Files whose names start with '.' (.gitkeep) are skipped.
set -euo pipefail
target=$1; shift
inputs=()
for dir in "$@"; do
  [ -d "$dir" ] || continue
  while IFS= read -r -d '' f; do
    inputs+=("$f")
  done < <(find "$dir" -maxdepth 1 -type f ! -name '.*' -print0 | sort -z)
done
if [ ${#inputs[@]} -eq 0 ]; then
  echo "no inputs in $*"
  exit 0
fi
echo "running $(basename "$target") over ${#inputs[@]} inputs"
# libFuzzer exits 77 on a finding by default, which meson counts as a skip.
exec "$target" -runs=1 -error_exitcode=1 -timeout_exitcode=1 "${inputs[@]}"
