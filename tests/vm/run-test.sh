#!/bin/bash
# Run one VM scenario against a build of the project and report its result.
#
#   tests/vm/run-test.sh SCENARIO BUILD_DIR
#
# The guest sees the host's root read-only, so it runs BUILD_DIR's binaries
# as they are. Prints the guest's `ok`/`FAIL` lines and its final
# "N passed, N failed" line; exit status 0 only if the guest reported no
# failure (a timeout or a crash without that line is a failure).
# A scenario may have host steps: host/SCENARIO.sh before the boot,
# host/SCENARIO-during.sh during it (see below).
# Environment: TIMEOUT (s; default: the scenario's own "# vm-timeout: SECONDS"
# line in guest/test-SCENARIO.sh if it has one, else 240), ACCEL, VERBOSE (see
# run-vm.sh).
set -uo pipefail
VM=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$VM/../.." && pwd)
T=${1:?usage: run-test.sh SCENARIO BUILD_DIR}
B=${2:?usage: run-test.sh SCENARIO BUILD_DIR}
[ -d "$B" ] || { echo "run-test: no build directory $B"; echo "0 passed, 1 failed"; exit 1; }
B=$(cd "$B" && pwd -P)
SRC=$(cd "$SRC" && pwd -P)
# the guest sees the host root, except where it mounts its own filesystems
for d in "$B" "$SRC"; do
    case $d/ in /run/*|/proc/*|/sys/*|/dev/*|/var/log/*)
        echo "FAIL - scenario $T: $d is hidden in the guest (it mounts its own /run, /proc, /sys, /dev, /var/log)"
        echo "0 passed, 1 failed"; exit 1 ;;
    esac
done
WORK=$VM/work
LOG=$WORK/logs/$T.log
OUTD=$WORK/out/$T

# Optional host-side pre-step of a scenario: host/SCENARIO.sh BUILD_DIR SRC_DIR
# OUTD (e.g. `meson install --destdir` for the guest to install). Its output
# goes to OUTD/host.log and its exit status to params.sh as HOST_RC; the guest
# scenario reports both.
prepare_outd() {
    rm -rf "$OUTD"; mkdir -p "$OUTD" "$WORK/logs"
    printf 'BUILD_DIR=%q\nSRC_DIR=%q\n' "$B" "$SRC" > "$OUTD/params.sh"
    if [ -f "$VM/host/$T.sh" ]; then
        bash "$VM/host/$T.sh" "$B" "$SRC" "$OUTD" > "$OUTD/host.log" 2>&1
        echo "HOST_RC=$?" >> "$OUTD/params.sh"
    fi
}
prepare_outd
# Optional host-side step during the boot: host/SCENARIO-during.sh
# MONITOR_SOCKET LOG_FILE runs in the background from right before the boot
# until after QEMU has exited (e.g. hotplug through the HMP monitor when the
# guest prints a marker on the console). Its output follows the guest's
# checks with a "host: " prefix; a non-zero exit status is a failed check.
DURING=$VM/host/$T-during.sh
DLOG=$WORK/logs/$T-during.log
DURING_PID=""
start_during() {
    rm -f "$LOG"     # the step must not see the markers of an earlier boot
    [ -f "$DURING" ] || return 0
    bash "$DURING" "$WORK/mon-$T.sock" "$LOG" > "$DLOG" 2>&1 &
    DURING_PID=$!
}
# stop_during SECONDS: wait that long for the step to end, then kill it; DRC = its status
stop_during() {
    DRC=0
    [ -n "$DURING_PID" ] || return 0
    for _ in $(seq $(($1 * 10))); do kill -0 "$DURING_PID" 2> /dev/null || break; sleep 0.1; done
    if kill -0 "$DURING_PID" 2> /dev/null; then
        kill "$DURING_PID" 2> /dev/null
        echo "(run-test: host step killed, still running $1 s after QEMU exited)" >> "$DLOG"
    fi
    wait "$DURING_PID"; DRC=$?
    DURING_PID=""
}
# QEMU 7.2's multi-threaded TCG has been seen to die of SIGSEGV during the
# guest's boot (CI, scenario inventory, 7 s in, nothing from our code had run
# yet). That is the emulator crashing, not a test result: boot the scenario
# once more, and say so. A second crash, a timeout or any guest-reported
# failure is a failure.
BOOT_TIMEOUT=${TIMEOUT:-$(sed -n 's/^# vm-timeout: *\([0-9][0-9]*\) *$/\1/p' \
    "$VM/guest/test-$T.sh" "$VM/guest/$T.sh" 2> /dev/null | head -1)}
# A scenario's own devices: its "# vm-extra: QEMU ARGS" line (@OUT@ is the
# scenario's output directory, where its host step puts disk images), added
# to the common topology for that scenario only.
VM_EXTRA=$(sed -n 's/^# vm-extra: *//p' "$VM/guest/test-$T.sh" "$VM/guest/$T.sh" 2> /dev/null | head -1)
VM_EXTRA=${VM_EXTRA//@OUT@/$OUTD}
# A scenario with "# vm-mode: systemd" boots Debian's systemd as PID 1 into
# the test target (guest/systemd-boot.sh); "# vm-reboot: yes" lets the guest
# reboot once (QEMU runs without -no-reboot; the guest powers off at the end
# of its last boot).
if grep -qs '^# vm-mode: *systemd *$' "$VM/guest/test-$T.sh" "$VM/guest/$T.sh"; then
    export APPEND="${APPEND:-} systemd.unit=pci-assignd-test.target systemd.show_status=error"
fi
# no_timer_check: after a warm reset under TCG the kernel has been seen to
# panic in its IO-APIC timer check ("timer doesn't work through
# Interrupt-remapped IO-APIC"; panic=-1 then boots a third time).
if grep -qs '^# vm-reboot: *yes *$' "$VM/guest/test-$T.sh" "$VM/guest/$T.sh"; then
    export REBOOT=1 APPEND="${APPEND:-} no_timer_check"
fi
for attempt in 1 2; do
    start_during
    TIMEOUT=${BOOT_TIMEOUT:-240} EXTRA="${EXTRA:-} $VM_EXTRA" "$VM/run-vm.sh" "$T"
    rc=$?
    stop_during 20
    case $rc in 132|134|135|136|139) ;; *) break ;; esac
    if tr -d '\r' < "$LOG" | grep -aqE '^[0-9]+ passed, [0-9]+ failed$'; then break; fi
    [ $attempt = 2 ] && break
    cp "$LOG" "$LOG.crash$attempt"
    [ -f "$DURING" ] && cp "$DLOG" "$DLOG.crash$attempt"
    echo "run-test: QEMU itself died (rc=$rc, signal $((rc - 128))) before the guest reported; log kept as $LOG.crash$attempt; booting scenario $T again"
    prepare_outd
done
tr -d '\r' < "$LOG" | grep -aE '^(ok|FAIL) - |^    ' | grep -av 'has no peer'
res=$(tr -d '\r' < "$LOG" | grep -aE '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
if [ -f "$DURING" ]; then
    sed 's/^/host: /' "$DLOG"
    if [ "$DRC" != 0 ]; then
        echo "FAIL - scenario $T: host step $T-during.sh exited with status $DRC; log: $DLOG"
        [ -n "$res" ] && res="${res%% *} passed, $(( $(echo "$res" | sed -E 's/.* ([0-9]+) failed$/\1/') + 1 )) failed"
    fi
fi
if [ -z "$res" ]; then
    [ $rc = 124 ] && why="timed out" || why="no result line (qemu rc=$rc)"
    echo "FAIL - scenario $T: $why; log: $LOG"
    tr -d '\r' < "$LOG" | tail -20 | sed 's/^/    /'
    echo "0 passed, 1 failed"
    exit 1
fi
echo "$res"
case $res in *" 0 failed") exit 0 ;; *) exit 1 ;; esac
