#!/bin/bash
# Guest benchmark "bench-rebind" (not a test: run it with
#   tests/vm/run-test.sh bench-rebind BUILD_DIR
# or bench/run-all.sh): pci-assignd's Prepare/Unprepare of the multifunction
# group 0b:00.0 + 0b:00.1 against bench/bare-rebind doing the same sysfs
# writes, and GetDevice latency while a ~1 s bus reset runs (08:00.0, behind
# a switch downstream port, reset_method forced to "bus").
# vm-timeout: 600
#   params (from the host, /vmout/params.sh): BUILD_DIR, SRC_DIR
. /vmtest/guest/lib.sh
set -o pipefail
export STATE_DIRECTORY=/var/lib/pci-assignd-bench RUNTIME_DIRECTORY=/run/pci-assignd-bench
modprobe vfio-pci && ok "vfio-pci is loaded" || fail "modprobe vfio-pci"
start_dbus "$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf" || { summary; exit 1; }
"$BUILD_DIR/src/daemon/pci-assignd" > /tmp/daemon.log 2>&1 &
DPID=$!
wait_for_name org.pciassign1 90 && ok "pci-assignd is on the bus" || { fail "pci-assignd starts"; tail /tmp/daemon.log; summary; exit 1; }
if /usr/bin/python3 /vmtest/guest/bench_rebind.py "$BUILD_DIR/bench/bare-rebind" "${ROUNDS:-5}" 0000:08:00.0 \
        0000:0b:00.0 0000:0b:00.1 2>&1 | sed 's/^bench/    bench/'; then
    ok "benchmark ran"
else
    fail "benchmark"
    tail -20 /tmp/daemon.log | sed 's/^/    log: /'
fi
kill $DPID
summary
