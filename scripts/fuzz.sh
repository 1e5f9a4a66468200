#!/bin/bash
# Fuzzes the parsers of src/ with libFuzzer (see fuzz/README.md):
#   scripts/fuzz.sh [SECONDS]           SECONDS per target, default 60
# 1. sets up build-fuzz/ (clang, ASan+UBSan, -Dfuzz=true) if it is missing,
#    and builds the fuzz targets;
# 2. runs every input of fuzz/regressions/ and fuzz/corpus/ once through its
#    target (meson test --suite fuzz);
# 3. fuzzes each target for SECONDS (-max_total_time, and a -runs cap) on a
#    copy of its corpus in a temporary directory, so fuzz/corpus/ is never
#    written; up to FUZZ_JOBS targets at a time (default: the CPU count).
# Prints per target the executions, exec/s and libFuzzer's final cov:/ft:,
# and exits 1 if any target crashed, leaked, hung or broke an invariant,
# naming the reproducer (kept in build-fuzz/fuzz-artifacts/TARGET/).
# Environment: FUZZ_BUILD_DIR (build-fuzz), FUZZ_CC (clang-14), FUZZ_JOBS,
# FUZZ_TARGETS (all: "address config resource rtnl runtime store dbus").
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
if ! [[ $secs =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS]" >&2
  exit 2
fi
bdir=${FUZZ_BUILD_DIR:-build-fuzz}
read -r -a targets <<< "${FUZZ_TARGETS:-address config resource rtnl runtime store dbus}"
jobs=${FUZZ_JOBS:-$(nproc)}
# Far more than any target runs in SECONDS: only there so a run always ends.
runs=$((secs * 1000000))

scripts/install-deps.sh fuzz

if [ ! -f "$bdir/build.ninja" ]; then
  CC=${FUZZ_CC:-clang-14} meson setup "$bdir" -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=false -Dman=false -Dvm-tests=false >/dev/null
elif ! grep -q '^build fuzz-targets:' "$bdir/build.ninja"; then
  meson configure "$bdir" -Dfuzz=true >/dev/null
fi
ninja -C "$bdir" fuzz-targets >/dev/null

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi

echo "--- regressions and seeds, once each"
meson test -C "$bdir" --suite fuzz --no-rebuild --print-errorlogs

tmp=$(mktemp -d /tmp/pci-assignd-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fuzz_one() {  # fuzz_one TARGET: writes $tmp/TARGET.log and $tmp/TARGET.rc
  local t=$1 art=$bdir/fuzz-artifacts/$1 args rc=0
  mkdir -p "$tmp/$t/corpus" "$art"
  cp fuzz/corpus/"$t"/* "$tmp/$t/corpus/"
  find "fuzz/regressions/$t" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$tmp/$t/corpus/" \; 2>/dev/null || true
  args=(-max_total_time="$secs" -runs="$runs" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1
        -artifact_prefix="$(realpath "$art")/")
  case $t in
    config) args+=(-max_len=4352) ;;     # past 4096, which must be ignored
    store) args+=(-dict=fuzz/store.dict -max_len=16384) ;;
    # libFuzzer's timeout timer (SIGALRM) would interrupt the daemon's
    # blocking bus calls: the target has its own watchdog (fuzz-dbus.c)
    dbus) args+=(-timeout=0) ;;
  esac
  # A hang that libFuzzer's own -timeout does not catch still ends here.
  timeout -k 10 $((secs * 2 + 60)) "$bdir/fuzz/fuzz-$t" "${args[@]}" "$tmp/$t/corpus" \
    > "$tmp/$t.log" 2>&1 || rc=$?
  echo "$rc" > "$tmp/$t.rc"
}

echo "--- fuzzing ${targets[*]}: $secs s each, $jobs at a time"
running=0
for t in "${targets[@]}"; do
  if [ ! -x "$bdir/fuzz/fuzz-$t" ]; then
    echo "no such fuzz target: $t" >&2
    exit 2
  fi
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
passed=0 failed=0
for t in "${targets[@]}"; do
  log=$tmp/$t.log
  rc=$(cat "$tmp/$t.rc" 2>/dev/null || echo 1)
  # the last status line (DONE when the run ended normally)
  status=$(grep -E '^#[0-9]+[[:space:]]+(DONE|NEW|REDUCE|pulse|INITED)' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$status")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<< "$status")
  printf 'fuzz-%-9s %10s execs  %7s exec/s  cov: %-4s ft: %-5s corpus: %s  new: %s\n' \
    "$t" "$(final_stat number_of_executed_units)" "$(final_stat average_exec_per_sec)" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$(final_stat new_units_added)"
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    continue
  fi
  failed=$((failed + 1))
  cp "$log" "$bdir/fuzz-artifacts/$t/fuzz-$t.log"
  echo "  FAILED (exit $rc): $bdir/fuzz-artifacts/$t/fuzz-$t.log"
  grep -E 'invariant broken|ERROR: |SUMMARY: |ALARM: |runtime error: ' "$log" | head -n 5 | sed 's/^/  /' || true
  reproducers=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
  if [ -n "$reproducers" ]; then
    while read -r r; do
      echo "  reproducer: $r"
      echo "  replay: $bdir/fuzz/fuzz-$t $r"
    done <<< "$reproducers"
  else
    echo "  no reproducer written (see the log)"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" = 0 ]
