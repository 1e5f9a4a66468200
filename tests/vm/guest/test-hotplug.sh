#!/bin/bash
# Guest scenario "hotplug": pci-assignd following udev hotplug on a real
# kernel. The host step host/hotplug-during.sh (run by run-test.sh during the
# boot) answers the markers this script prints on the console:
# "VMTEST: HOTPLUG-READY N add" -> device_add e1000e on the empty root port
# rp3 (00:08.0), "VMTEST: HOTPLUG-READY N del" -> device_del, always the same
# device (id hp1, same MAC, no Device Serial Number) at 0000:03:00.0.
# The daemon runs NOT read-only, as root, with udevd (no coldplug) and a real
# dbus-daemon --system; `pci-assignctl monitor --json` is the subscriber whose
# output (/tmp/monitor.json) the checks read. Sections (org.pciassign1(5),
# THIS VERSION and Conflict):
#  1. a hot-added function: DeviceAdded, DriverChanged ""->e1000e (also
#     when the probe was over before the daemon read the add event), its
#     Device object; hot-removed: DeviceRemoved, object gone.
#  2. a prepared reservation of a hot-added function whose device is
#     removed: Conflict, State degraded, Device.Present false; the same device
#     added again: prepared again through the job queue, on vfio-pci, without
#     anyone calling Prepare.
#  3. a host driver bound by hand to a function of the prepared reservation:
#     Conflict, back on vfio-pci and prepared within 30 s.
#  4. lost udev events on the real kernel: the daemon started again without
#     CAP_NET_ADMIN (setpriv) and net.core.rmem_max=4096, so its monitor's
#     buffer is 8 KiB; SIGSTOP, a free function removed and 5 "change"
#     triggers of every PCI function, SIGCONT: "udev events were lost",
#     "Read N PCI functions again ...; 1 gone", and Describe's functions and
#     drivers equal sysfs's (also after the rescan that brings it back).
# Prints "    timing: ..." lines (marker on the console -> event seen).
# Each hotplug step waits for the host (up to a few seconds under TCG), the
# machine may be loaded:
# vm-timeout: 600
#   params (from the host, /vmout/params.sh): BUILD_DIR, SRC_DIR
. /vmtest/guest/lib.sh
DAEMON=$BUILD_DIR/src/daemon/pci-assignd
CTL=$BUILD_DIR/src/ctl/pci-assignctl
POLICY=$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf
export STATE_DIRECTORY=/var/lib/pci-assignd-test RUNTIME_DIRECTORY=/run/pci-assignd-test
HP=0000:03:00.0                 # the hot-plugged e1000e behind root port 00:08.0 (rp3)
RP3=0000:00:08.0
J=/tmp/monitor.json

note() { echo "    $*"; }
timing() { note "timing: $*"; }
section() { echo "--- $* (uptime $(uptime_s))"; }
drv() { local d; for d in /sys/bus/pci/drivers/*/"$1"; do [ -e "$d" ] && { d=${d%/*}; echo "${d##*/}"; return; }; done; }
one() { local l=${1%%$'\n'*}; echo "${l:0:300}"; }

# D-Bus
mgr() { timeout 150 busctl --system --timeout=120 call org.pciassign1 /org/pciassign1 org.pciassign1.Manager "$@"; }
objpath() { local l; while IFS= read -r l; do [[ $l == 'o "'*'"' ]] && { l=${l#o \"}; echo "${l%\"}"; }; done; }
prop() {  # PATH IFACE PROP -> the value, strings unquoted
    local v; v=$(timeout 30 busctl --system get-property org.pciassign1 "$1" "$2" "$3" 2> /dev/null) || return
    v=${v#* }; v=${v#\"}; echo "${v%\"}"
}
devpath() { mgr GetDevice s "$1" 2> /dev/null | objpath; }
rstate() { prop "/org/pciassign1/reservation/$1" org.pciassign1.Reservation State; }
rcall() {  # ID METHOD: COUT, RC, MS
    local t0; t0=$(now_ms)
    COUT=$(timeout 150 dbus-send --system --print-reply --reply-timeout=120000 --dest=org.pciassign1 \
        "/org/pciassign1/reservation/$1" org.pciassign1.Reservation."$2" 2>&1); RC=$?
    MS=$(( $(now_ms) - t0 ))
}

# the monitor's JSON lines after the last jmark
JMARK=0
jmark() { JMARK=$(wc -l < $J); }
jlines() { tail -n +$((JMARK + 1)) $J; }
jhas() {  # STRING...: a line after the mark contains every (fixed) STRING
    local s re; s=$(jlines)
    for re in "$@"; do s=$(grep -F -- "$re" <<< "$s") || return 1; done
    [ -n "$s" ]
}
# jwait SECONDS STRING...: until jhas; JMS = how long it took
jwait() {
    local secs=$1 t0; shift; t0=$(now_ms)
    while :; do
        jhas "$@" && { JMS=$(( $(now_ms) - t0 )); return 0; }
        [ $(( $(now_ms) - t0 )) -ge $((secs * 1000)) ] && { JMS=$(( $(now_ms) - t0 )); return 1; }
        sleep 0.3
    done
}
# driver_seen ADDR DRIVER: the subscriber learnt that ADDR is on DRIVER: a
# DriverChanged("" -> DRIVER), also when the driver's probe ended before the
# daemon read the add event (org.pciassign1(5), DriverChanged: then it
# follows the DeviceAdded, whose InterfacesAdded already says Driver DRIVER);
# HOW says which of the two it was
driver_seen() {
    jhas "$(ev DriverChanged)" "$(addr $1)" '"old_driver":""' "\"new_driver\":\"$2\"" || return 1
    if jhas "$(ev InterfacesAdded)" "$(addr $1)" "\"Driver\":\"$2\""; then
        HOW="DriverChanged(\"\" -> $2), already bound when the daemon read the add"
    else
        HOW="DriverChanged(\"\" -> $2), bound after the daemon read the add"
    fi
}
# wait_driver_seen SECONDS ADDR DRIVER
wait_driver_seen() {
    local t0; t0=$(now_ms)
    while :; do
        driver_seen "$2" "$3" && return 0
        [ $(( $(now_ms) - t0 )) -ge $(($1 * 1000)) ] && return 1
        sleep 0.3
    done
}
ev() { echo "\"event\":\"$1\""; }
addr() { echo "\"address\":\"$1\""; }

# markers for the host step
STEP=0
host_do() {  # add|del
    STEP=$((STEP + 1)); MARK_MS=$(now_ms)
    echo "VMTEST: HOTPLUG-READY $STEP $1"
}
# wait_present SECONDS yes|no: until $P/$HP exists (yes) or not (no)
wait_present() {
    local end=$(( $(now_ms) + $1 * 1000 ))
    while [ "$(now_ms)" -lt $end ]; do
        if [ "$2" = yes ]; then [ -e $P/$HP ] && return 0; else [ -e $P/$HP ] || return 0; fi
        sleep 0.2
    done
    return 1
}
# wait_state ID STATE SECONDS [DRIVER]: until the reservation is in STATE (and $HP on DRIVER)
wait_state() {
    local t0; t0=$(now_ms); ST=""
    while [ $(( $(now_ms) - t0 )) -lt $(($3 * 1000)) ]; do
        ST=$(rstate "$1")
        [ "$ST" = "$2" ] && { [ -z "${4:-}" ] || [ "$(drv $HP)" = "$4" ]; } && { WMS=$(( $(now_ms) - t0 )); return 0; }
        sleep 0.5
    done
    WMS=$(( $(now_ms) - t0 )); return 1
}
finish() {
    echo "VMTEST: HOTPLUG-END"
    [ -n "${MONPID:-}" ] && kill $MONPID 2> /dev/null
    [ -n "${DPID:-}" ] && { kill -TERM $DPID 2> /dev/null; wait $DPID 2> /dev/null; }
    cp /tmp/daemon.log $J /tmp/monitor.err $OUT/ 2> /dev/null
    dmesg > $OUT/dmesg.txt
    section "daemon log (last lines)"
    tail -15 /tmp/daemon.log
    summary
    exit
}

# --- setup --------------------------------------------------------------------------------
check "daemon binary $DAEMON exists" test -x "$DAEMON"
check "client binary $CTL exists" test -x "$CTL"
[ -x "$DAEMON" ] && [ -x "$CTL" ] || finish
modprobe vfio-pci
check "vfio-pci is loaded" test -d /sys/bus/pci/drivers/vfio-pci
# udevd as on a host: the daemon follows the "udev" netlink group; no
# coldplug, only the events from now on
if /lib/systemd/systemd-udevd --daemon; then ok "systemd-udevd runs (no coldplug)"; else fail "systemd-udevd starts"; fi
check "root port $RP3 is there and its slot is empty" test -e $P/$RP3 -a ! -e $P/$HP
start_dbus "$POLICY" || finish
mkdir -p "$STATE_DIRECTORY" "$RUNTIME_DIRECTORY"
t0=$(now_ms)
"$DAEMON" > /tmp/daemon.log 2>&1 &
DPID=$!
if wait_for_name org.pciassign1 90; then
    ok "pci-assignd owns org.pciassign1 ($(( $(now_ms) - t0 )) ms)"
else
    fail "pci-assignd owns org.pciassign1 within 90 s"; tail -20 /tmp/daemon.log | sed 's/^/    log: /'; finish
fi
check "Manager.ReadOnly is false" test "$(prop /org/pciassign1 org.pciassign1.Manager ReadOnly)" = false
t0=$(now_ms)
"$CTL" monitor --json > $J 2> /tmp/monitor.err &
MONPID=$!
for _ in $(seq 300); do grep -q '^Monitoring org.pciassign1' /tmp/monitor.err && break; sleep 0.1; done
if grep -q '^Monitoring org.pciassign1' /tmp/monitor.err; then
    ok "pci-assignctl monitor --json subscribed ($(( $(now_ms) - t0 )) ms)"
else
    fail "pci-assignctl monitor --json: no 'Monitoring' line: $(head -3 /tmp/monitor.err)"; finish
fi

# --- 1. add and remove ------------------------------------------------------------------------
section "1. hot add / remove of an e1000e at $HP"
jmark
host_do add
if wait_present 120 yes; then
    ok "$HP appears in sysfs ($(( $(now_ms) - MARK_MS )) ms after the marker)"
else
    fail "$HP does not appear within 120 s of the marker"; finish
fi
if jwait 30 "$(ev DeviceAdded)" "$(addr $HP)"; then
    ok "DeviceAdded($HP) in the monitor's JSON"
    timing "marker -> DeviceAdded seen: $(( $(now_ms) - MARK_MS )) ms (sysfs -> JSON $JMS ms)"
else
    fail "no DeviceAdded($HP) in the monitor's JSON within 30 s"
fi
if wait_driver_seen 30 $HP e1000e; then
    ok "the subscriber learns that $HP is on e1000e: $HOW"
    timing "marker -> driver e1000e seen in the JSON: $(( $(now_ms) - MARK_MS )) ms"
else
    fail "the JSON does not say $HP is on e1000e within 30 s (driver now '$(drv $HP)'; JSON: $(jlines | grep -F "$HP" | head -3 | cut -c1-300 | tr '\n' ' '))"
fi
jhas "$(ev DriverChanged)" "$(addr $HP)" && note "DriverChanged for $HP: $(jlines | grep -F "$(ev DriverChanged)" | grep -F "$(addr $HP)" | grep -o '"old_driver.*' | tr '\n' ' ')"
DP=$(devpath $HP)
check "Device object of $HP exists ($DP)" test -n "$DP"
check "Device.Driver of $HP is e1000e" test "$(prop "$DP" org.pciassign1.Device Driver)" = e1000e
check "Device.Present of $HP is true" test "$(prop "$DP" org.pciassign1.Device Present)" = true
jmark
host_do del
if wait_present 120 no; then
    ok "$HP gone from sysfs ($(( $(now_ms) - MARK_MS )) ms after the marker)"
else
    fail "$HP still in sysfs 120 s after the marker"; finish
fi
if jwait 30 "$(ev DeviceRemoved)" "$(addr $HP)"; then
    ok "DeviceRemoved($HP) in the monitor's JSON"
    timing "marker -> DeviceRemoved seen: $(( $(now_ms) - MARK_MS )) ms"
else
    fail "no DeviceRemoved($HP) in the monitor's JSON within 30 s"
fi
check "no Device object for the removed, unreserved $HP" test -z "$(devpath $HP)"

# --- 2. a prepared reservation loses its device and gets it back ---------------------------------
section "2. prepared reservation of $HP: removed, added again"
jmark
host_do add
if wait_present 120 yes; then ok "$HP is back in sysfs ($(( $(now_ms) - MARK_MS )) ms)"; else fail "$HP not back within 120 s"; finish; fi
for _ in $(seq 100); do [ "$(drv $HP)" = e1000e ] && break; sleep 0.2; done
jwait 30 "$(ev DeviceAdded)" "$(addr $HP)" && wait_driver_seen 30 $HP e1000e \
    && ok "DeviceAdded($HP) seen, on e1000e: $HOW ($(( $(now_ms) - MARK_MS )) ms after the marker)" \
    || fail "the JSON does not say $HP is on e1000e within 30 s (driver '$(drv $HP)')"
t0=$(now_ms)
COUT=$(mgr Reserve 'sa(sb)a{sv}' hotplug 1 $HP true 0 2>&1); RC=$?
RID=$(echo "$COUT" | sed -n 's|^o "/org/pciassign1/reservation/\(.*\)"$|\1|p')
if [ $RC = 0 ] && [ -n "$RID" ]; then ok "Reserve(hotplug: $HP) -> $RID ($(( $(now_ms) - t0 )) ms)"; else fail "Reserve($HP): rc=$RC: $(one "$COUT")"; finish; fi
rcall $RID Prepare
if [ $RC = 0 ]; then ok "Prepare $RID ($MS ms)"; else fail "Prepare $RID: rc=$RC: $(one "$COUT")"; fi
check "$HP on vfio-pci after Prepare (got '$(drv $HP)')" test "$(drv $HP)" = vfio-pci
check "State of $RID is prepared" test "$(rstate $RID)" = prepared
DP=$(devpath $HP)
jmark
host_do del
if wait_present 120 no; then ok "$HP (prepared, on vfio-pci) gone from sysfs ($(( $(now_ms) - MARK_MS )) ms)"; else fail "$HP still in sysfs 120 s after the marker"; finish; fi
if jwait 30 "$(ev Conflict)" "$(addr $HP)" "\"reservation_id\":\"$RID\""; then
    ok "Conflict($HP, $RID) in the monitor's JSON: $(jlines | grep -F "$(ev Conflict)" | grep -o '"message":"[^"]*"' | head -1)"
    timing "marker -> Conflict seen: $(( $(now_ms) - MARK_MS )) ms"
else
    fail "no Conflict($HP, $RID) in the monitor's JSON within 30 s"
fi
if wait_state $RID degraded 30; then ok "State of $RID is degraded ($WMS ms)"; else fail "State of $RID is '$ST', not degraded"; fi
note "LastError: '$(prop /org/pciassign1/reservation/$RID org.pciassign1.Reservation LastError)'"
dp=$(devpath $HP)
check "the Device object of $HP stays ($dp, was $DP)" test -n "$dp" -a "$dp" = "$DP"
check "Device.Present of $HP is false" test "$(prop "$DP" org.pciassign1.Device Present)" = false
jhas "$(ev DeviceRemoved)" "$(addr $HP)" && note "DeviceRemoved($HP) sent too" || note "no DeviceRemoved($HP) (object kept)"
jmark
host_do add
if wait_present 120 yes; then ok "the same device is back at $HP ($(( $(now_ms) - MARK_MS )) ms)"; else fail "$HP not back within 120 s"; finish; fi
t0=$(now_ms)
if wait_state $RID prepared 60 vfio-pci; then
    ok "without a Prepare call $HP ends on vfio-pci and $RID is prepared again ($WMS ms after it appeared)"
    timing "marker -> prepared again: $(( $(now_ms) - MARK_MS )) ms"
else
    fail "60 s after $HP came back: State '$ST', driver '$(drv $HP)'"
fi
check "Device.Present of $HP is true again, same object" test "$(prop "$DP" org.pciassign1.Device Present)" = true -a "$(devpath $HP)" = "$DP"
jwait 10 "$(ev ReservationChanged)" "\"id\":\"$RID\"" '"state":"prepared"' \
    && note "ReservationChanged($RID, prepared) in the monitor's JSON" \
    || note "no ReservationChanged($RID, prepared) in the monitor's JSON"
note "JSON for $HP since the add: $(jlines | grep -F -e "$HP" -e "$RID" | grep -o '"event":"[A-Za-z]*"' | cut -d'"' -f4 | tr '\n' ' ')"

# --- 3. a host driver forced onto the prepared function ------------------------------------------
section "3. e1000e bound by hand to the prepared $HP"
jmark
t0=$(now_ms)
echo > $P/$HP/driver_override
echo $HP > /sys/bus/pci/drivers/vfio-pci/unbind
echo $HP > /sys/bus/pci/drivers/e1000e/bind; brc=$?
# the daemon may already be unbinding it again when we look (seen under
# TCG: driver '' right after the bind), so the bind's own status and the
# subscriber's DriverChanged(-> e1000e) say that e1000e had it
check "$HP taken by e1000e by hand (bind write status $brc; driver right after: '$(drv $HP)')" test $brc = 0
if jwait 30 "$(ev DriverChanged)" "$(addr $HP)" '"new_driver":"e1000e"'; then
    ok "DriverChanged($HP -> e1000e) in the monitor's JSON ($JMS ms)"
else
    fail "no DriverChanged($HP -> e1000e) in the monitor's JSON within 30 s"
fi
if jwait 30 "$(ev Conflict)" "$(addr $HP)" "\"reservation_id\":\"$RID\""; then
    ok "Conflict($HP, $RID) in the monitor's JSON ($JMS ms)"
else
    fail "no Conflict($HP, $RID) in the monitor's JSON within 30 s"
fi
if wait_state $RID prepared 30 vfio-pci; then
    ok "$HP back on vfio-pci and $RID prepared ($(( $(now_ms) - t0 )) ms after the bind)"
    timing "host driver bound -> back on vfio-pci, prepared: $(( $(now_ms) - t0 )) ms"
else
    fail "30 s after the bind: State '$ST', driver '$(drv $HP)'"
fi
jhas "$(ev ReservationChanged)" "\"id\":\"$RID\"" '"state":"degraded"' \
    && ok "ReservationChanged($RID, degraded) meanwhile" || note "no ReservationChanged($RID, degraded) in the JSON"

# --- clean up ---------------------------------------------------------------------------------
section "clean up"
rcall $RID Release
if [ $RC = 0 ]; then ok "Release of the prepared $RID ($MS ms)"; else fail "Release $RID: rc=$RC: $(one "$COUT")"; fi
check "$HP back on e1000e (got '$(drv $HP)')" test "$(drv $HP)" = e1000e
check "pci-assignd is still running" kill -0 $DPID

# --- 4. lost udev events: a real overrun of the monitor's socket -------------------------------
# Without CAP_NET_ADMIN the daemon cannot force its 128 MiB receive buffer
# (SO_RCVBUFFORCE): SO_RCVBUF gets what net.core.rmem_max allows, here
# 4096 (the kernel doubles it). Stopped, it reads nothing while udevd
# passes on a free function's removal and 5 "change" triggers of every PCI
# function: the socket overruns (ENOBUFS), and once running again the
# daemon reads every function again and compares (resync() in
# manager-udev.c). The model must then be what sysfs says, function by
# function, and stay so when the function comes back.
section "4. lost udev events (no CAP_NET_ADMIN, net.core.rmem_max=4096)"
LOST=0000:00:03.0               # e1000e on the root bus, unused here
DLOG=/tmp/daemon-lost.log
kill -TERM $DPID 2> /dev/null; wait $DPID 2> /dev/null; DPID=""
RMEM=$(sysctl -n net.core.rmem_max)
# model_matches: Describe's functions (count, address set, each driver) against sysfs; MM says how
model_matches() {
    local out
    out=$(timeout 150 busctl --system --json=short --timeout=120 call org.pciassign1 /org/pciassign1 \
        org.pciassign1.Manager Describe 2>&1 | $PY -c '
import json, os, sys
P = "/sys/bus/pci/devices"
try:
    doc = json.loads(json.load(sys.stdin)["data"][0])
except Exception as e:
    print("no Describe: %s" % e); sys.exit(1)
model = {d["address"]: d.get("driver") or "" for d in doc["devices"]}
sysfs = {}
for a in os.listdir(P):
    l = os.path.join(P, a, "driver")
    sysfs[a] = os.path.basename(os.readlink(l)) if os.path.islink(l) else ""
bad = ["%s: model %r, sysfs %r" % (a, model.get(a), sysfs.get(a))
       for a in sorted(set(model) | set(sysfs)) if model.get(a) != sysfs.get(a)]
print("%d functions in Describe, %d in %s, %d drivers differ%s" % (len(doc["devices"]), len(sysfs), P, len(bad),
      (": " + "; ".join(bad[:5])) if bad else ""))
sys.exit(0 if len(doc["devices"]) == len(sysfs) and not bad else 1)
'); local rc=$?
    MM=$(one "$out"); return $rc
}
PY=/usr/bin/python3
sysctl -qw net.core.rmem_max=4096
check "net.core.rmem_max=4096 (was $RMEM)" test "$(sysctl -n net.core.rmem_max)" = 4096
t0=$(now_ms)
setpriv --bounding-set=-net_admin --inh-caps=-net_admin -- "$DAEMON" --log-level=debug > $DLOG 2>&1 &
DPID=$!
if wait_for_name org.pciassign1 90; then
    ok "pci-assignd without CAP_NET_ADMIN owns org.pciassign1 ($(( $(now_ms) - t0 )) ms)"
else
    fail "pci-assignd (setpriv, no CAP_NET_ADMIN) owns org.pciassign1 within 90 s"; tail -20 $DLOG | sed 's/^/    log: /'
    sysctl -qw net.core.rmem_max="$RMEM"; finish
fi
sysctl -qw net.core.rmem_max="$RMEM"   # the daemon's socket keeps what it got
# CAP_NET_ADMIN is bit 12
capeff=$(awk '/^CapEff:/ {print $2}' /proc/$DPID/status)
check "the daemon has no CAP_NET_ADMIN (CapEff $capeff)" test $(( 0x$capeff >> 12 & 1 )) = 0
rb=$(sed -n 's/.*udev monitor receive buffer: \([0-9]*\) bytes.*/\1/p' $DLOG | head -1)
check "its udev monitor's receive buffer is small: ${rb:-?} bytes (SO_RCVBUFFORCE refused)" test "${rb:-999999999}" -le 8192
model_matches && ok "before: $MM" || fail "before the overrun: $MM"
kill -STOP $DPID
t0=$(now_ms)
echo 1 > $P/$LOST/remove
for _ in 1 2 3 4 5; do udevadm trigger --action=change --subsystem-match=pci; done
udevadm settle --timeout=120
NSYS=$(ls $P | wc -l)
note "daemon stopped: $LOST removed, 5 x udevadm trigger --action=change --subsystem-match=pci ($(( $(now_ms) - t0 )) ms; $NSYS functions in sysfs now)"
check "$LOST is gone from sysfs" test ! -e $P/$LOST
kill -CONT $DPID
t0=$(now_ms)
for _ in $(seq 300); do grep -q 'again after lost udev events' $DLOG && break; sleep 0.2; done
lost=$(grep -o 'udev events were lost ([^)]*)' $DLOG | head -1)
check "the daemon noticed the overrun: '${lost:-nothing in its log}'" test -n "$lost"
check "a real overrun, not the test hook PCI_ASSIGND_TEST_UDEV_OVERRUN" test -z "$(grep 'Test hook' $DLOG)"
reread=$(grep -o 'Read [0-9]* PCI functions again after lost udev events; [0-9]* gone' $DLOG | head -1)
check "it read every function again: '${reread:-nothing in its log}' ($(( $(now_ms) - t0 )) ms after SIGCONT)" \
    test "$reread" = "Read $NSYS PCI functions again after lost udev events; 1 gone"
sleep 1
if model_matches; then ok "after the overrun: $MM"; else fail "after the overrun: $MM"; fi
check "no Device object for $LOST" test -z "$(devpath $LOST)"
echo 1 > /sys/bus/pci/rescan
udevadm settle --timeout=120
check "$LOST is back in sysfs after a rescan (driver '$(drv $LOST)')" test -e $P/$LOST
for _ in $(seq 60); do model_matches && break; sleep 0.5; done
if model_matches; then ok "after the rescan: $MM"; else fail "after the rescan: $MM"; fi
note "overruns in the daemon's log: $(grep -c 'udev events were lost' $DLOG)"
check "pci-assignd is still running" kill -0 $DPID
cp $DLOG $OUT/ 2> /dev/null
finish
