#!/bin/bash
# The whole VM test tier: set up (if needed), then boot one guest per scenario
# (guest/test-*.sh), one at a time (TCG uses every core).
#
#   tests/vm/run-all.sh BUILD_DIR
#
# Prints each scenario's checks and result, then one line
# "N passed, N failed" summing the guests' checks. Exit status 0 only if every
# scenario ran to its end without a failed check.
# Environment: SCENARIOS="inventory ..." (default: all), TIMEOUT per boot (s),
# ACCEL=kvm on hosts where KVM works.
set -uo pipefail
VM=$(cd "$(dirname "$0")" && pwd)
B=${1:?usage: run-all.sh BUILD_DIR}
t0=$(date +%s)
PASSED=0
FAILED=0

mkdir -p "$VM/work/logs"
if ! "$VM/setup.sh" > "$VM/work/logs/setup.log" 2>&1; then
    cat "$VM/work/logs/setup.log"
    echo "FAIL - tests/vm/setup.sh"
    echo "0 passed, 1 failed"
    exit 1
fi
grep -E '^setup: (kernel|installing|built|done)' "$VM/work/logs/setup.log"

if [ -n "${SCENARIOS:-}" ]; then
    list=$SCENARIOS
else
    list="smoke $(cd "$VM/guest" && ls test-*.sh | sed "s/^test-//; s/\\.sh$//" | grep -vx smoke)"
fi
results=()
failures=()
for t in $list; do
    echo "=== scenario $t"
    out=$("$VM/run-test.sh" "$t" "$B" 2>&1)
    rc=$?
    echo "$out"
    res=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    p=$(echo "$res" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$res" | sed -E 's/.* ([0-9]+) failed$/\1/')
    [ -n "$res" ] || { p=0; f=1; }
    [ $rc != 0 ] && [ "$f" = 0 ] && f=1
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    results+=("$(printf '%-12s %s' "$t" "${res:-no result}")")
    while IFS= read -r l; do
        [ -n "$l" ] && failures+=("$t: ${l:0:400}")
    done < <(echo "$out" | grep -E '^(FAIL|not ok)' | head -20)
done
echo "=== VM tier summary ($(( $(date +%s) - t0 )) s, logs in $VM/work/logs)"
printf '  %s\n' "${results[@]}"
# the failed checks again: meson shows only the end of a long log
[ ${#failures[@]} -gt 0 ] && { echo "failed checks:"; printf '  %s\n' "${failures[@]}"; }
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
