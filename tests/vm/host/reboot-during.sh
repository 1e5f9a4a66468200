#!/bin/bash
# Host step of the VM scenario "reboot", run by run-test.sh during the boot:
#
#   host/reboot-during.sh MONITOR_SOCKET LOG_FILE
#
# On the guest's "VMTEST: SWAP-READY" (boot 1, pci-assignd stopped, a
# prepared reservation on 0000:03:00.0) replaces the scenario's e1000e on
# root port rp3 (`# vm-extra:` id swap0) by an e1000 (another device model
# at the same address) through QEMU's HMP monitor: device_del swap0, wait
# until QEMU let it go, device_add e1000,bus=rp3,id=swap1. QEMU keeps the
# new device across the guest's warm reset, so boot 2 enumerates the e1000.
# Exit status 1 if the marker did not come or a monitor command failed.
set -uo pipefail
MON=${1:?usage: reboot-during.sh MONITOR_SOCKET LOG_FILE}
LOG=${2:?usage: reboot-during.sh MONITOR_SOCKET LOG_FILE}
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
mon() {
    local out
    out=$(echo "$1" | timeout 30 socat -t 1 - UNIX-CONNECT:"$MON" 2>&1) || { say "monitor: socat failed: $out"; return 1; }
    out=$(echo "$out" | tr -d '\r' | grep -av '^QEMU .* monitor' | sed 's/^(qemu) *//' | grep -av '^ *$' | grep -avF "$1")
    [ -n "$out" ] && echo "$out" | sed 's/^/    monitor: /'
    ! grep -qiE 'error|duplicate|not found|failed' <<< "$out"
}
for _ in $(seq 4500); do
    l=$(tr -d '\r' 2> /dev/null < "$LOG" | grep -aoE '^VMTEST: (SWAP-READY|DONE)' | head -1)
    [ -n "$l" ] && break
    sleep 0.2
done
case $l in
    *SWAP-READY) ;;
    *DONE) say "the guest finished without SWAP-READY"; exit 1 ;;
    *) say "timeout: no SWAP-READY"; exit 1 ;;
esac
say "SWAP-READY: device_del swap0"
mon "device_del swap0" || exit 1
for _ in $(seq 300); do
    mon "info qtree" 2> /dev/null | grep -q 'id "swap0"' || break
    sleep 0.2
done
mon "info qtree" 2> /dev/null | grep -q 'id "swap0"' && { say "swap0 still there after 60 s"; exit 1; }
sleep 3
say "device_add e1000,bus=rp3,id=swap1,mac=52:54:00:00:08:01"
mon "device_add e1000,bus=rp3,id=swap1,mac=52:54:00:00:08:01" || exit 1
say "done"
