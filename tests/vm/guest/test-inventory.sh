#!/bin/bash
# Guest scenario "inventory": the read-only daemon on a real system bus, in a
# real kernel, must describe every PCI function exactly as sysfs does, and must
# not write to sysfs.
#   params (from the host, /vmout/params.sh): BUILD_DIR, SRC_DIR
. /vmtest/guest/lib.sh
G=/vmtest/guest
PY=/usr/bin/python3
DAEMON=$BUILD_DIR/src/daemon/pci-assignd
CTL=$BUILD_DIR/src/ctl/pci-assignctl
POLICY=$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf

check "daemon binary $DAEMON exists" test -x "$DAEMON"
check "client binary $CTL exists" test -x "$CTL"
[ -x "$DAEMON" ] && [ -x "$CTL" ] || { summary; exit 1; }
start_udev pci

# SR-IOV VFs, so the comparison covers physical_function / virtual_functions
PF=0000:01:00.0
echo 0 > $P/$PF/sriov_drivers_autoprobe
echo 2 > $P/$PF/sriov_numvfs && udevadm settle --timeout=60
check "2 VFs enabled on $PF" test -e $P/$PF/virtfn1

if [ -f "$POLICY" ]; then
    ok "bus policy $POLICY exists"
else
    fail "bus policy $POLICY exists (testing with a minimal stand-in)"
    POLICY=/tmp/org.pciassign1.conf
    cat > $POLICY <<'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="root"><allow own="org.pciassign1"/></policy>
  <policy context="default"><allow send_destination="org.pciassign1"/></policy>
</busconfig>
EOF
fi
start_dbus "$POLICY"

# --- the daemon, read-only, under strace ----------------------------------------
mkdir -p /tmp/pad-state /tmp/pad-run
export STATE_DIRECTORY=/tmp/pad-state RUNTIME_DIRECTORY=/tmp/pad-run
TRACE=write,pwrite64,writev,pwritev,pwritev2,ftruncate,truncate,open,openat,openat2,creat
TRACE=$TRACE,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,symlink,symlinkat
TRACE=$TRACE,link,linkat,chmod,fchmodat,chown,fchownat
t0=$(now_ms)
strace -f -y -qq -s 200 -e trace=$TRACE -o /tmp/strace.log \
    "$DAEMON" --read-only > /tmp/daemon.log 2>&1 &
DPID=$!
if wait_for_name org.pciassign1 60; then
    ok "pci-assignd --read-only owns org.pciassign1 ($(( $(now_ms) - t0 )) ms after start, under strace)"
else
    fail "pci-assignd --read-only owns org.pciassign1 within 60 s"
fi

t0=$(now_ms)
echo "--- pci-assignctl --json list"
if timeout 60 "$CTL" --json list > $OUT/list.json 2> /tmp/ctl.err; then
    ok "pci-assignctl --json list ($(( $(now_ms) - t0 )) ms)"
else
    fail "pci-assignctl --json list: $(head -3 /tmp/ctl.err)"
fi

# a mutating call must be refused and must not reach sysfs
drv_before=$(drv 0000:00:02.0)
echo "--- Reserve on a read-only daemon"
err=$(timeout 30 busctl --system call org.pciassign1 /org/pciassign1 org.pciassign1.Manager \
      Reserve 'sa(sb)a{sv}' vm1 1 0000:00:02.0 true 0 2>&1 | head -2)
case $err in
    *"read-only"*|*ReadOnly*) ok "Reserve is refused: $err" ;;
    *) fail "Reserve is refused with org.pciassign1.Error.ReadOnly (got: ${err:-nothing})" ;;
esac
check "0000:00:02.0 still on $drv_before" test "$(drv 0000:00:02.0)" = "$drv_before"

check "pci-assignd is still running" kill -0 $DPID
kill $DPID 2> /dev/null
for _ in $(seq 50); do kill -0 $DPID 2> /dev/null || break; sleep 0.1; done
kill -9 $DPID 2> /dev/null
cp /tmp/strace.log /tmp/daemon.log $OUT/ 2> /dev/null
echo "--- daemon log (last lines)"; tail -15 /tmp/daemon.log

# --- compare with sysfs -----------------------------------------------------------
$PY $G/check_inventory.py --describe $OUT/list.json --strace /tmp/strace.log \
    --expect-read-only > /tmp/check.out 2>&1
cat /tmp/check.out
PASSED=$((PASSED + $(grep -c '^ok - ' /tmp/check.out)))
FAILED=$((FAILED + $(grep -c '^FAIL - ' /tmp/check.out)))
grep -qE '^(ok|FAIL) - ' /tmp/check.out || fail "check_inventory.py ran"
$PY $G/pci_sysfs.py > $OUT/truth.json
summary
