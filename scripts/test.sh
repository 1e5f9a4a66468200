#!/bin/bash
# Builds pci-assignd and runs every test:
#   1. unit + integration tests under ASan+UBSan (build-asan/),
#   2. the integration tests with the daemon under valgrind, and the unit
#      tests under valgrind (build/),
#   3. the libFuzzer targets of fuzz/ (build-fuzz/, clang): their regression
#      inputs once, then 30 s of fuzzing each (scripts/fuzz.sh),
#   4. everything in build/: unit, integration, data and man checks, and the
#      VM system tests (QEMU q35 + intel-iommu booting Debian's kernel),
# and ends with meson's summary of the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test

setup() {  # setup DIR ARGS...
  local d=$1; shift
  if [ -f "$d/build.ninja" ]; then
    meson configure "$d" "$@" >/dev/null
  else
    meson setup "$d" "$@" >/dev/null
  fi
  ninja -C "$d"
}

echo "=== build (ASan+UBSan)"
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dman=false -Dvm-tests=false
echo "=== unit + integration tests under ASan+UBSan"
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  meson test -C build-asan --suite unit --suite integration --print-errorlogs

echo "=== build"
setup build -Dvm-tests=true
echo "=== unit tests under valgrind"
meson test -C build --setup valgrindunit --suite unit --print-errorlogs
echo "=== integration tests, daemon under valgrind"
meson test -C build --setup valgrind --suite integration --print-errorlogs

echo "=== fuzzing (30 s per target)"
scripts/fuzz.sh 30

echo "=== every test (unit, integration, data, man, vm)"
meson test -C build --print-errorlogs
