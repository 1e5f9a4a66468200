#!/bin/bash
# Host step of the VM scenario "hotplug", run by run-test.sh during the boot:
#
#   host/hotplug-during.sh MONITOR_SOCKET LOG_FILE
#
# Waits for the guest's markers on the console log and answers each through
# QEMU's HMP monitor (device_add / device_del on the empty root port rp3,
# 00:08.0; the device shows up in the guest at 0000:03:00.0):
#   "VMTEST: HOTPLUG-READY N add"  -> device_add e1000e,bus=rp3,id=hp1,mac=...
#   "VMTEST: HOTPLUG-READY N del"  -> device_del hp1
#   "VMTEST: HOTPLUG-END"          -> done (exit 0)
# Always the same device (id, MAC; an e1000e has no Device Serial Number), so
# a re-added one is "the same device" for the daemon. Keeps >= 3 s between a
# removal and the next add (NOTES: the slot needs 2-3 s). Prints what it did
# and the host-side timings. Exit status 1 if a marker did not come, the guest
# went away first, or a monitor command failed.
set -uo pipefail
MON=${1:?usage: hotplug-during.sh MONITOR_SOCKET LOG_FILE}
LOG=${2:?usage: hotplug-during.sh MONITOR_SOCKET LOG_FILE}
DEV=e1000e,bus=rp3,id=hp1,mac=52:54:00:00:08:00
ID=hp1
GAP=3            # seconds between a device_del and the next device_add
WAIT=${HOTPLUG_MARKER_TIMEOUT:-900}   # seconds for each marker
T0=$(date +%s.%N)

now() { date +%s.%N; }
since() { printf '%.2f' "$(echo "$(now) - $1" | bc)"; }
say() { echo "[$(since "$T0") s] $*"; }
# mon COMMAND: one HMP command; prints the monitor's answer; fails on an
# error in it ("Error:", "Duplicate ID", ...) or if the socket is not there
mon() {
    local out
    out=$(echo "$1" | timeout 30 socat -t 1 - UNIX-CONNECT:"$MON" 2>&1) || { say "monitor: socat failed: $out"; return 1; }
    out=$(echo "$out" | tr -d '\r' | grep -av '^QEMU .* monitor' | sed 's/^(qemu) *//' | grep -av '^ *$' | grep -avF "$1")
    [ -n "$out" ] && echo "$out" | sed 's/^/    monitor: /'
    ! grep -qiE 'error|duplicate|not found|failed' <<< "$out"
}
# waitmarker N: the next marker of step N (or the end); sets KIND
waitmarker() {
    local l
    for _ in $(seq $((WAIT * 5))); do
        l=$(tr -d '\r' 2> /dev/null < "$LOG" | grep -aoE "^VMTEST: (HOTPLUG-READY $1 (add|del)|HOTPLUG-END|DONE)" | head -1)
        case $l in
            *" add"|*" del") KIND=${l##* }; return 0 ;;
            *HOTPLUG-END) KIND=end; return 0 ;;
            *DONE) say "the guest finished without step $1 or HOTPLUG-END"; return 1 ;;
        esac
        sleep 0.2
    done
    say "timeout: no marker for step $1 within $WAIT s"
    return 1
}

say "waiting for the guest's markers in $LOG (monitor $MON)"
last_del=0; n=1; adds=0; dels=0
while waitmarker $n; do
    case $KIND in
    end) say "guest: HOTPLUG-END after $((n - 1)) steps ($adds device_add, $dels device_del)"; exit 0 ;;
    add)
        gap=$(echo "$(now) - $last_del" | bc)
        if [ "$(echo "$gap < $GAP" | bc)" = 1 ]; then
            sleep "$(echo "$GAP - $gap" | bc)"
        fi
        t=$(now)
        say "step $n: device_add $DEV"
        mon "device_add $DEV" || { say "step $n: device_add failed"; exit 1; }
        adds=$((adds + 1))
        say "step $n: device_add answered in $(since "$t") s (marker seen to answer: includes any wait for the ${GAP} s gap)"
        ;;
    del)
        t=$(now)
        say "step $n: device_del $ID"
        mon "device_del $ID" || { say "step $n: device_del failed"; exit 1; }
        dels=$((dels + 1))
        # device_del only asks the guest to eject; wait until QEMU has let the device go
        for _ in $(seq 300); do
            mon "info qtree" 2> /dev/null | grep -q "id \"$ID\"" || break
            sleep 0.2
        done
        last_del=$(now)
        say "step $n: device_del answered, $ID gone from QEMU's tree after $(since "$t") s"
        ;;
    esac
    n=$((n + 1))
done
exit 1
