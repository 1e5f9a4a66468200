#!/bin/bash
# Guest scenario "rebind": Prepare/Unprepare/Detach/Reattach/Reset (issue 4)
# against the real kernel and the real vfio-pci, with the daemon NOT
# read-only, as root, on a real dbus-daemon --system (no polkitd: uid 0 needs
# no polkit).  Sections:
#  1. Prepare of the multifunction group behind root port 00:0c.0 (0b:00.0 +
#     0b:00.1, one shared group): vfio-pci, /dev/vfio/N, State prepared,
#     signals; a VMM-like user (vfio_open.py) opens it through the VFIO API
#     and resets the device; SetInUse gates Prepare/Unprepare/Release; a
#     host driver taking a prepared function by hand -> Conflict, degraded
#     until the daemon has bound it to vfio-pci again, prepared.
#  2. Unprepare: back on e1000e, override cleared, /dev/vfio/N gone, the
#     network interfaces are back.
#  3. 02:00.0 (e1000e behind the default root port 00:07.0, reset "pm bus"),
#     Release of a prepared reservation; an NVMe VF (sriov_drivers_autoprobe=0,
#     binds only through driver_override) through pci-assignctl.
#  4. The PCIe-to-PCI bridge group (04:00.0 + 05:01.0 + 05:02.0): the bridge
#     stays as it is, both e1000 on vfio-pci, the listed-but-failing `bus`
#     reset of 05:01.0 (ENOTTY) is only a warning, the kernel finds the group
#     viable.
#  5. All or nothing with failures the kernel really produces: (a) the NVMe
#     PF with SR-IOV enabled after an e1000e already bound (vfio-pci's probe
#     refuses a PF with VFs: "Cannot bind to PF with SR-IOV enabled", -EBUSY,
#     nothing bound), (b) vfio-pci not loaded (rmmod), (c) Unprepare with
#     e1000 not loaded after an e1000e function was given back (rmmod e1000):
#     all back on vfio-pci, still prepared.
#  6. Bounded wait: Unprepare while a VMM holds the device fd (unbind from
#     vfio-pci blocks) fails with InUse after --job-timeout=5 s, queries are
#     answered meanwhile, the job finishes after the holder exits.
#  7. pci-assignctl detach / reset / reattach of 0a:00.0 (below the
#     x-speed=2_5 root port, where a bus reset works); Reset refused while on
#     the host driver; UnsafeReset for 05:01.0 (bus reset only, its sibling on
#     e1000); the host driver of a detached function is remembered across
#     daemon restarts (checked in 8).
#  8. Crash safety: PCI_ASSIGND_TEST_CRASH=prepare:1 and unprepare:3 (debug
#     builds), the next start rolls back / completes; boot re-prepare of a
#     "prepared" reservation whose functions were given back by hand, before
#     the bus name is taken.
#  9. Adoption (issue 16 item 5): before the first daemon start, 08:00.0 is
#     bound to vfio-pci as driverctl does (driver_override, unbind,
#     drivers_probe) and 09:00.0 to pci-stub as pci-stub.ids= leaves it (no
#     override); Reserve/Prepare/Unprepare/Release and Detach/Reattach end
#     with both exactly as they began (driver and driver_override), e1000e
#     never probing them; HostDriverAdopted/HostDriverOverride and `show`.
# Timings of every call are printed as indented "    timing: ..." lines (wall
# time around the client), and at the end as "    timing(bus): ..." lines
# (call to reply as the bus saw them, guest/call_times.py).
# About 5 minutes under TCG with udevd running on an idle 2-core host (7
# daemon starts, a 12 s VFIO hold, every client run costs ~0.3-0.7 s), more
# than run-test.sh's default; twice that when the host is busy:
# vm-timeout: 720
#   params (from the host, /vmout/params.sh): BUILD_DIR, SRC_DIR
. /vmtest/guest/lib.sh
G=/vmtest/guest
PY=/usr/bin/python3
DAEMON=$BUILD_DIR/src/daemon/pci-assignd
CTL=$BUILD_DIR/src/ctl/pci-assignctl
POLICY=$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf
export STATE_DIRECTORY=/var/lib/pci-assignd-test RUNTIME_DIRECTORY=/run/pci-assignd-test
STATE=$STATE_DIRECTORY/state.json
E=org.pciassign1.Error

# the functions
MA=0000:0b:00.0; MB=0000:0b:00.1          # multifunction e1000e, one group (root port 00:0c.0)
RP=0000:02:00.0                           # e1000e behind the default root port 00:07.0
PF=0000:01:00.0; VF=0000:01:00.1          # nvme PF (2 VFs), VF
BR=0000:04:00.0; LA=0000:05:01.0; LB=0000:05:02.0   # pcie-pci-bridge + 2 e1000
RCIEP=0000:00:03.0                        # e1000e RCiEP, own group
SW=0000:0a:00.0                           # e1000e behind the x-speed=2_5 root port
AD=0000:08:00.0; AS=0000:09:00.0          # e1000e behind the switch: the admin's vfio-pci / pci-stub

note() { echo "    $*"; }
# has TEXT REGEX: a line of TEXT matches the extended REGEX
has() { grep -qE -- "$2" <<< "$1"; }
# Builtins only (no fork+exec: each costs ~0.1 s under TCG): lib.sh's drv
# and grp redone with globs, sysfs attributes read with `read`.
drv() { local d; for d in /sys/bus/pci/drivers/*/"$1"; do [ -e "$d" ] && { d=${d%/*}; echo "${d##*/}"; return; }; done; }
grp() { local d; for d in /sys/kernel/iommu_groups/*/devices/"$1"; do [ -e "$d" ] && { d=${d%/devices/*}; echo "${d##*/}"; return; }; done; echo -1; }
attr() { local v=""; [ -r "$P/$1/$2" ] && read -r v < "$P/$1/$2"; echo "$v"; }
ovr() { attr "$1" driver_override; }
netifs() { local n; for n in "$P/$1"/net/*; do [ -e "$n" ] && printf '%s ' "${n##*/}"; done; }
snapshot() { local d; for d in "$P"/*; do echo "${d##*/} driver=$(drv "${d##*/}") override=$(ovr "${d##*/}")"; done; }

# timed COMMAND...: runs it, COUT = its output (stdout+stderr), RC, MS
timed() {
    local t0 t1; t0=$(date +%s%N)
    COUT=$("$@" 2>&1); RC=$?
    t1=$(date +%s%N); MS=$(( (t1 - t0) / 1000000 ))
}
timing() { note "timing: $*"; }
# ctime LABEL [ctl]: the last timed call's wall time, and what is left after
# the cost of the same client's cheapest call (measured after the start)
PING_MS=0; CTL_MS=0
ctime() {
    local base=$PING_MS client="dbus-send Peer.Ping"
    [ "${2:-}" = ctl ] && { base=$CTL_MS; client="pci-assignctl reservations"; }
    note "timing: $1: $MS ms wall, $((MS - base)) ms over the $client baseline ($base ms)"
}
one() { local l=${1%%$'\n'*}; echo "${l:0:300}"; }

# D-Bus calls: dbus-send for the Reservation methods (it prints the error
# name; busctl does not, gdbus costs a second under TCG), busctl for Reserve
# (a(sb) arguments) and properties
objpath() { local l; while IFS= read -r l; do [[ $l == 'o "'*'"' ]] && { l=${l#o \"}; echo "${l%\"}"; }; done; }
mgr() { timeout 150 busctl --system --timeout=120 call org.pciassign1 /org/pciassign1 org.pciassign1.Manager "$@"; }
# object paths, asked once (every busctl/dbus-send run costs ~0.6 s under
# TCG); filled in this shell by reserve and prefetch (the functions below
# mostly run in $(...) subshells, where a new entry would be lost)
declare -A RPATHS DPATHS
rpath() {
    [ -n "${RPATHS[$1]:-}" ] || RPATHS[$1]=$(mgr GetReservation s "$1" 2> /dev/null | objpath)
    echo "${RPATHS[$1]}"
}
dpath() {
    [ -n "${DPATHS[$1]:-}" ] || DPATHS[$1]=$(mgr GetDevice s "$1" 2> /dev/null | objpath)
    echo "${DPATHS[$1]}"
}
section() { echo "--- $* (uptime $(uptime_s))"; }
prop() {  # PATH IFACE PROP -> the value, strings unquoted
    local v; v=$(timeout 30 busctl --system get-property org.pciassign1 "$1" "$2" "$3" 2> /dev/null) || return
    v=${v#* }; v=${v#\"}; echo "${v%\"}"
}
rstate() { prop "$(rpath "$1")" org.pciassign1.Reservation State; }
dprop() { prop "$(dpath "$1")" org.pciassign1.Device "$2"; }
gviable() { prop "$(mgr GetGroup u "$1" 2> /dev/null | objpath)" org.pciassign1.Group Viable; }
# reserve OWNER ADDR... : Reserve (all assigned, default options); RID = the id
reserve() {
    local owner=$1 a args=(); shift
    for a in "$@"; do args+=("$a" true); done
    timed mgr Reserve 'sa(sb)a{sv}' "$owner" $# "${args[@]}" 0
    RID=$(echo "$COUT" | sed -n 's|^o "/org/pciassign1/reservation/\(.*\)"$|\1|p')
    [ -n "$RID" ] && RPATHS[$RID]=$(echo "$COUT" | objpath)
    if [ $RC = 0 ] && [ -n "$RID" ]; then
        ok "Reserve($owner: $*) -> $RID ($MS ms)"
    else
        fail "Reserve($owner: $*): rc=$RC: $(one "$COUT")"
    fi
}
# dsend PATH IFACE.METHOD [ARGS...]: dbus-send with a reply timeout of 120 s
dsend() {
    timeout 150 dbus-send --system --print-reply --reply-timeout=120000 --dest=org.pciassign1 "$@"
}
# rcall ID METHOD [BOOL]: a Reservation method, timed (COUT, RC, MS)
rcall() {
    local p args=(); p=$(rpath "$1")
    [ -n "$p" ] || { COUT="no reservation '$1'"; RC=1; MS=0; return; }
    [ $# -ge 3 ] && args=("boolean:$3")
    timed dsend "$p" org.pciassign1.Reservation."$2" "${args[@]}"
}
# run_bounded SECONDS COMMAND...: runs it; if it is still running after
# SECONDS, prints the kernel stacks of every task in D state, then waits
run_bounded() {
    local secs=$1 pid t; shift
    "$@" & pid=$!
    for t in $(seq $((secs * 10))); do kill -0 $pid 2> /dev/null || break; sleep 0.1; done
    if kill -0 $pid 2> /dev/null; then
        note "'$*' still running after $secs s; tasks in D state:"
        for t in /proc/[0-9]*; do
            [ "$(awk '{print $3}' $t/stat 2> /dev/null)" = D ] || continue
            note "  ${t#/proc/} $(tr '\0' ' ' < $t/cmdline | cut -c1-80) wchan=$(cat $t/wchan 2> /dev/null)"
            sed 's/^/          /' $t/stack 2> /dev/null | head -12
        done
    fi
    wait $pid
}
# expect_ok DESCRIPTION: the last timed call succeeded
expect_ok() { if [ $RC = 0 ]; then ok "$1 ($MS ms)"; else fail "$1: rc=$RC: $(one "$COUT")"; fi; }
# expect_err DESCRIPTION ERROR-NAME [REGEX...]: the last timed call failed with it
expect_err() {
    local d=$1 name=$2 re miss=""; shift 2
    for re in "$@"; do has "$COUT" "$re" || miss="$miss '$re'"; done
    if [ $RC != 0 ] && [[ $COUT == *"$name"* ]] && [ -z "$miss" ]; then
        ok "$d: $(one "$COUT") ($MS ms)"
    else
        fail "$d: want $name${miss:+ with$miss}, got rc=$RC: $(one "$COUT") ($MS ms)"
    fi
}
check_drivers() {  # DESCRIPTION WANT ADDR... (one read of each driver link)
    local d=$1 want=$2 a x got="" bad=0; shift 2
    for a in "$@"; do x=$(drv $a); got="$got $a=$x"; [ "$x" = "$want" ] || bad=1; done
    if [ $bad = 0 ]; then ok "$d:$got"; else fail "$d: want ${want:-no driver},$got"; fi
}
overrides_clear() {  # ADDR...: driver_override unset
    local a bad=""
    for a in "$@"; do case $(ovr $a) in ""|"(null)") ;; *) bad="$bad $a=$(ovr $a)" ;; esac; done
    [ -z "$bad" ] || { echo "   (set:$bad)"; return 1; }
}
wait_gone() { for _ in $(seq 50); do [ -e "$1" ] || return 0; sleep 0.1; done; return 1; }
# signals seen by the dbus-monitor started below, one message per line
# (only those after the last sigmark)
SIGN=0
sigmark() { SIGN=$(wc -l < /tmp/signals.log); }
signals() {
    tail -n +$((SIGN + 1)) /tmp/signals.log \
        | awk '/^signal /{ if (r != "") print r; r = $0; next } { r = r " " $0 } END { if (r != "") print r }'
}
signal_seen() {  # REGEX...: some signal matches every REGEX
    local s re; sleep 0.3; s=$(signals)
    for re in "$@"; do s=$(grep -E -- "$re" <<< "$s"); done
    [ -n "$s" ]
}

# --- daemon control -------------------------------------------------------------------
DPID=""; DLOG=""; NDAEMON=0
# start_daemon [ENV=VALUE...] [-- OPTIONS...]: starts the daemon in the
# background (log /tmp/daemon-N.log), waits for its bus name
start_daemon() {
    local envs=() opts=() t0
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    opts=("$@")
    NDAEMON=$((NDAEMON + 1)); DLOG=/tmp/daemon-$NDAEMON.log
    t0=$(now_ms)
    env "${envs[@]}" "$DAEMON" "${opts[@]}" > $DLOG 2>&1 &
    DPID=$!
    if wait_for_name org.pciassign1 90; then
        ok "pci-assignd #$NDAEMON (${envs[*]:+${envs[*]} }${opts[*]}) owns org.pciassign1 ($(( $(now_ms) - t0 )) ms)"
        return 0
    fi
    fail "pci-assignd #$NDAEMON (${envs[*]} ${opts[*]}) owns org.pciassign1 within 90 s"
    tail -20 $DLOG | sed 's/^/    log: /'
    return 1
}
stop_daemon() {
    [ -n "$DPID" ] || return 0
    kill -TERM $DPID 2> /dev/null
    for _ in $(seq 100); do kill -0 $DPID 2> /dev/null || break; sleep 0.1; done
    if kill -0 $DPID 2> /dev/null; then
        fail "pci-assignd #$NDAEMON exits within 10 s of SIGTERM"; kill -KILL $DPID
    fi
    wait $DPID 2> /dev/null
    local end=$((SECONDS + 10))
    while [ $SECONDS -lt $end ]; do
        timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.pciassign1 2> /dev/null | grep -q 'boolean true' || break
        sleep 0.1
    done
    DPID=""
}
daemon_alive() { [ -n "$DPID" ] && kill -0 $DPID 2> /dev/null; }
# the journal of reservation $1 in the state file, as "operation step" or "none"
journal_of() {
    $PY - "$STATE" "$1" << 'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("unreadable: %s" % e); sys.exit(0)
for r in d.get("reservations", []):
    if r.get("id") == sys.argv[2]:
        j = r.get("journal")
        print("none" if not j else "%s %s" % (j.get("operation"), j.get("step")))
        break
else:
    print("no-reservation")
EOF
}

# --- setup --------------------------------------------------------------------------------
check "daemon binary $DAEMON exists" test -x "$DAEMON"
check "client binary $CTL exists" test -x "$CTL"
[ -x "$DAEMON" ] && [ -x "$CTL" ] || { summary; exit 1; }
modprobe vfio-pci
check "vfio-pci is loaded" test -d /sys/bus/pci/drivers/vfio-pci
# udevd as on a host: the daemon follows the "udev" netlink group (bind,
# unbind, add, remove).  No coldplug (7+ s under TCG, and the udev database
# is not what this scenario tests): only the events from now on.
if /lib/systemd/systemd-udevd --daemon; then ok "systemd-udevd runs (no coldplug)"; else fail "systemd-udevd starts"; fi

# VFs before the daemon starts (this scenario is not about following
# hotplug); with autoprobe off they stay driverless (NOTES gotcha 4)
echo 0 > $P/$PF/sriov_drivers_autoprobe
t0=$(now_ms)
echo 2 > $P/$PF/sriov_numvfs
check "2 VFs on $PF, $VF driverless ($(( $(now_ms) - t0 )) ms)" test -e $P/$VF -a -z "$(drv $VF)"

# the admin's bindings, before the daemon ever starts (section 9): $AD to
# vfio-pci the way driverctl does it, $AS to pci-stub the way
# pci-stub.ids= leaves it (bound, no driver_override)
echo vfio-pci > $P/$AD/driver_override
[ -n "$(drv $AD)" ] && echo $AD > $P/$AD/driver/unbind
echo $AD > /sys/bus/pci/drivers_probe
check "$AD on vfio-pci by the admin's override ($(drv $AD), override $(ovr $AD))" \
    test "$(drv $AD)" = vfio-pci -a "$(ovr $AD)" = vfio-pci
STUB=no
if modprobe pci-stub 2> /dev/null || [ -d /sys/bus/pci/drivers/pci-stub ]; then
    echo pci-stub > $P/$AS/driver_override
    [ -n "$(drv $AS)" ] && echo $AS > $P/$AS/driver/unbind
    echo $AS > /sys/bus/pci/drivers_probe
    echo > $P/$AS/driver_override
    check "$AS on pci-stub, no driver_override ($(drv $AS), override '$(ovr $AS)')" \
        test "$(drv $AS)" = pci-stub -a "$(ovr $AS)" = "(null)"
    [ "$(drv $AS)" = pci-stub ] && STUB=yes
else
    note "pci-stub is not available in this kernel: $AS stays on $(drv $AS)"
fi
E1000E_AD0=$(dmesg | grep -c "e1000e $AD")
for a in $MA $MB $RP $PF $VF $BR $LA $LB $RCIEP $SW $AD $AS; do
    note "$a: driver=$(drv $a) group=$(grp $a) reset_method='$(attr $a reset_method)'" \
         "reset file: $([ -e $P/$a/reset ] && echo yes || echo no) net: $(netifs $a)"
done
GM=$(grp $MA); GL=$(grp $LA)
gm=$(cd /sys/kernel/iommu_groups/$GM/devices && echo *)
check "$MA and $MB share IOMMU group $GM, nothing else in it ($gm)" test "$gm" = "$MA $MB"
check_drivers "the multifunction pair starts on e1000e" e1000e $MA $MB
BR_DRV=$(drv $BR)
SNAP0=$(snapshot)

start_dbus "$POLICY"
mkdir -p "$STATE_DIRECTORY" "$RUNTIME_DIRECTORY"
dbus-monitor --system "type='signal',path_namespace='/org/pciassign1'" > /tmp/signals.log 2>&1 &
MONPID=$!
# every call to the daemon and every reply, for the bus-side call times (call_times.py)
dbus-monitor --system "type='method_call',destination='org.pciassign1'" "type='method_return'" \
    "type='error'" > /tmp/calls.log 2>&1 &
CALLMONPID=$!
start_daemon -- --job-timeout=5 || { summary; exit 1; }
has "$(prop /org/pciassign1 org.pciassign1.Manager ReadOnly)" '^false$' \
    && ok "Manager.ReadOnly is false" || fail "Manager.ReadOnly is false"
for a in $MA $MB $VF $SW; do DPATHS[$a]=$(dpath $a); done
PING_MS=999999; CTL_MS=999999     # the fastest of a few: process start dominates
for _ in 1 2 3; do
    timed dsend /org/pciassign1 org.freedesktop.DBus.Peer.Ping; [ $MS -lt $PING_MS ] && PING_MS=$MS
    timed timeout 60 $CTL reservations; [ $MS -lt $CTL_MS ] && CTL_MS=$MS
done
timing "baselines: dbus-send Peer.Ping to pci-assignd $PING_MS ms, pci-assignctl reservations (none) $CTL_MS ms (process start under TCG: part of every call timing below)"

# --- 1. Prepare of the shared group behind 00:0c.0 ---------------------------------------
section "1. Prepare $MA + $MB (group $GM)"
reserve vm1 $MA $MB; R1=$RID
check "HostDriver of $MA is e1000e after Reserve" test "$(dprop $MA HostDriver)" = e1000e
sigmark
rcall $R1 Prepare
expect_ok "Prepare $R1"; ctime "Prepare $R1 (2 functions, first time)"
check_drivers "after Prepare, both on vfio-pci" vfio-pci $MA $MB
check "/dev/vfio/$GM exists" test -c /dev/vfio/$GM
check "State of $R1 is prepared" test "$(rstate $R1)" = prepared
check "Device.Driver of $MA is vfio-pci on the bus" test "$(dprop $MA Driver)" = vfio-pci
check "Device.HostDriver of $MB is e1000e" test "$(dprop $MB HostDriver)" = e1000e
check "Group $GM is Viable on the bus" test "$(gviable $GM)" = true
check "signal ReservationChanged($R1, prepared)" \
    signal_seen 'member=ReservationChanged' "string \"$R1\"" 'string "prepared"'
check "signal PropertiesChanged(State=prepared) on $R1" \
    signal_seen 'member=PropertiesChanged' "path=/org/pciassign1/reservation/$R1" 'string "State"' 'string "prepared"'
note "driver_override after Prepare: $MA='$(ovr $MA)' $MB='$(ovr $MB)'"
check "signal DriverChanged($MA, e1000e, vfio-pci) ($(signals | grep -c 'member=DriverChanged') DriverChanged in all)" \
    signal_seen 'member=DriverChanged' "string \"$MA\"" 'string "vfio-pci"'

timed $PY $G/vfio_open.py --expect-reset $MA
echo "$COUT" | sed 's/^/    /'
if [ $RC = 0 ]; then
    ok "a VMM opens group $GM and $MA through the VFIO API (viable, TYPE1v2, device fd, RESET flag, VFIO_DEVICE_RESET) ($MS ms)"
else
    fail "VFIO API on $MA: $(echo "$COUT" | grep 'FAIL' | head -1)"
fi

rcall $R1 Prepare
expect_ok "Prepare $R1 again (prepared -> prepared)"; ctime "Prepare $R1 (already prepared)"
check_drivers "still on vfio-pci" vfio-pci $MA $MB

# SetInUse gates Prepare/Unprepare
rcall $R1 SetInUse true; expect_ok "SetInUse($R1, true)"
check "State of $R1 is in-use" test "$(rstate $R1)" = in-use
rcall $R1 Unprepare; expect_err "Unprepare of an in-use reservation is refused" $E.InUse
rcall $R1 Prepare; expect_err "Prepare of an in-use reservation is refused" $E.InUse
rcall $R1 Release; expect_err "Release of an in-use reservation is refused" $E.InUse
rcall $R1 SetInUse true; expect_ok "SetInUse($R1, true) again is a no-op"
rcall $R1 SetInUse false; expect_ok "SetInUse($R1, false)"
check "State of $R1 is prepared again" test "$(rstate $R1)" = prepared
check_drivers "SetInUse changed no binding" vfio-pci $MA $MB

# A host driver takes a prepared function behind the daemon's back (udev
# tells it). API: Conflict, the reservation is degraded; org.pciassign1(5):
# degraded until the daemon has bound the function to vfio-pci again through
# its job queue, then back in the state it had.
sigmark
echo > $P/$MB/driver_override; echo $MB > $P/$MB/driver/unbind; echo $MB > /sys/bus/pci/drivers_probe; prc=$?
# the daemon may already be unbinding it again when we look, so the
# probe's status here and DriverChanged(-> e1000e) below say e1000e had it
check "$MB taken back by hand: drivers_probe status $prc (driver right after: '$(drv $MB)')" test $prc = 0
t0=$(now_ms); st=""
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ]; do
    st=$(rstate $R1); [ "$st" = prepared ] && [ "$(drv $MB)" = vfio-pci ] && break; sleep 0.3
done
check "the daemon binds $MB to vfio-pci again by itself, State $R1 prepared (got '$st', '$(drv $MB)' after $(( $(now_ms) - t0 )) ms)" \
    test "$st" = prepared -a "$(drv $MB)" = vfio-pci
check "signal DriverChanged($MB, ..., e1000e): e1000e had taken it" \
    signal_seen 'member=DriverChanged' "string \"$MB\"" 'string "e1000e"'
check "signal Conflict($MB, $R1, ...)" signal_seen 'member=Conflict' "string \"$MB\"" "string \"$R1\""
check "signal ReservationChanged($R1, degraded) meanwhile" \
    signal_seen 'member=ReservationChanged' "string \"$R1\"" 'string "degraded"'
check "signal ReservationChanged($R1, prepared) at the end" \
    signal_seen 'member=ReservationChanged' "string \"$R1\"" 'string "prepared"'
note "LastError now: '$(prop "$(rpath $R1)" org.pciassign1.Reservation LastError)'"
check_drivers "both on vfio-pci" vfio-pci $MA $MB

# --- 2. Unprepare -----------------------------------------------------------------------
section "2. Unprepare $R1"
sigmark
rcall $R1 Unprepare
expect_ok "Unprepare $R1"; ctime "Unprepare $R1 (2 functions)"
check_drivers "after Unprepare, both back on e1000e" e1000e $MA $MB
check "driver_override cleared on both" overrides_clear $MA $MB
check "/dev/vfio/$GM is gone" wait_gone /dev/vfio/$GM
check "network interfaces are back: $MA: $(netifs $MA)$MB: $(netifs $MB)" \
    test -n "$(netifs $MA)" -a -n "$(netifs $MB)"
check "State of $R1 is reserved" test "$(rstate $R1)" = reserved
check "Device.Driver of $MB is e1000e on the bus" test "$(dprop $MB Driver)" = e1000e
check "signal ReservationChanged($R1, reserved)" \
    signal_seen 'member=ReservationChanged' "string \"$R1\"" 'string "reserved"'
rcall $R1 SetInUse true
expect_err "SetInUse(true) of a reserved reservation is refused, naming the state" $E.InUse 'reserved'

# --- 3. the default root port; an NVMe VF ---------------------------------------------------
section "3. $RP (default root port) and VF $VF"
check "$RP lists reset methods 'pm bus'" test "$(attr $RP reset_method)" = "pm bus"
reserve vm2 $RP; R2=$RID
rcall $R2 Prepare
expect_ok "Prepare $R2 ($RP; pm reset)"; ctime "Prepare $R2 (1 function, pm reset)"
check_drivers "$RP on vfio-pci" vfio-pci $RP
check "State of $R2 is prepared" test "$(rstate $R2)" = prepared
check "/dev/vfio/$(grp $RP) exists" test -c "/dev/vfio/$(grp $RP)"
rcall $R2 Release
expect_ok "Release of the prepared $R2 (unprepares first)"; ctime "Release $R2 (prepared, 1 function)"
check_drivers "$RP back on e1000e" e1000e $RP
check "$R2 is gone" test -z "$(mgr GetReservation s $R2 2> /dev/null)"

timed timeout 90 $CTL reserve vm3 $VF
R3=$(echo "$COUT" | awk '/^Reserved / {print $2; exit}')
[ -n "$R3" ] && RPATHS[$R3]=$(rpath $R3)
if [ $RC = 0 ] && [ -n "$R3" ]; then ok "pci-assignctl reserve vm3 $VF: $(one "$COUT")"; else fail "pci-assignctl reserve vm3 $VF: rc=$RC: $(one "$COUT")"; fi
check "HostDriver of the driverless VF is empty" test -z "$(dprop $VF HostDriver)"
timed timeout 90 $CTL prepare $R3
expect_ok "pci-assignctl prepare $R3 (VF)"; ctime "Prepare $R3 (1 VF, flr)" ctl
check_drivers "$VF bound to vfio-pci (through driver_override only)" vfio-pci $VF
check "State of $R3 is prepared" test "$(rstate $R3)" = prepared
timed $PY $G/vfio_open.py --expect-reset $VF
grep -E 'RESET|vfio-result' <<< "$COUT" | sed 's/^/    /'
if [ $RC = 0 ]; then ok "VFIO API on the VF $VF ($MS ms)"; else fail "VFIO API on $VF: $(echo "$COUT" | grep FAIL | head -1)"; fi
timed timeout 90 $CTL unprepare $R3
expect_ok "pci-assignctl unprepare $R3"; ctime "Unprepare $R3 (1 VF)" ctl
check_drivers "$VF driverless again (no host driver; autoprobe off)" "" $VF
check "driver_override of $VF cleared" overrides_clear $VF
timed timeout 90 $CTL release $R3
expect_ok "pci-assignctl release $R3"

# --- 4. the PCIe-to-PCI bridge group ---------------------------------------------------------
section "4. bridge group $GL: $BR + $LA + $LB"
note "$LA reset_method='$(attr $LA reset_method)'; $LB has a reset file: $([ -e $P/$LB/reset ] && echo yes || echo no)"
reserve vm4 $LA $LB; R4=$RID
LOGN=$(wc -l < $DLOG)
rcall $R4 Prepare
expect_ok "Prepare $R4 (the bus reset of $LA fails with ENOTTY: a warning only)"
ctime "Prepare $R4 (2 e1000 behind a PCIe-to-PCI bridge)"
check_drivers "both e1000 on vfio-pci" vfio-pci $LA $LB
check "bridge $BR stays on '${BR_DRV}' (got '$(drv $BR)')" test "$(drv $BR)" = "$BR_DRV"
check "State of $R4 is prepared" test "$(rstate $R4)" = prepared
check "Group $GL is Viable on the bus" test "$(gviable $GL)" = true
wlines=$(tail -n +$((LOGN + 1)) $DLOG | grep -F "$LA")
echo "$wlines" | head -5 | sed 's/^/    log: /'
check "the daemon logged the failed reset of $LA" has "$wlines" 'reset|ENOTTY|Inappropriate ioctl'
timed $PY $G/vfio_open.py $LA
if [ $RC = 0 ] && has "$COUT" 'viable=1'; then
    ok "the kernel finds group $GL viable: VFIO opens $LA with the bridge in the group ($MS ms)"
else
    fail "VFIO API on $LA: $(echo "$COUT" | grep FAIL | head -1)"
fi
rcall $R4 Unprepare
expect_ok "Unprepare $R4"; ctime "Unprepare $R4 (2 e1000)"
check_drivers "both back on e1000" e1000 $LA $LB
rcall $R4 Release; expect_ok "Release $R4"

# --- 5. all or nothing, real kernel failures ---------------------------------------------------
section "5. all or nothing"
# (a) vfio-pci refuses a PF with SR-IOV enabled: so does the daemon, before
# anything is written (sriov-pf-with-vfs is blocking)
timed mgr Reserve 'sa(sb)a{sv}' vm5 2 $RCIEP true $PF true 0
# (busctl prints the message only, not the error's name)
expect_err "Reserve($RCIEP, the PF $PF with 2 VFs) is refused (NotAssignable)" "is not assignable" \
    "$PF has 2 SR-IOV VFs enabled"
check_drivers "$RCIEP still on e1000e" e1000e $RCIEP
check_drivers "$PF still on nvme" nvme $PF
check "VFs untouched ($VF driverless)" test -z "$(drv $VF)" -a -e $P/$VF
# ... and all or nothing when the kernel refuses after all: the daemon's
# model is behind the kernel (no udevd: the VFs' events never come), so
# Prepare binds $RCIEP, then the kernel refuses the PF; both go back
echo 0 > $P/$PF/sriov_numvfs
# wait_for FUNCTION SECONDS: until FUNCTION succeeds
wait_for() { local i; for i in $(seq $(($2 * 5))); do "$1" && return 0; sleep 0.2; done; return 1; }
pf_free() { mgr CheckAssignable 'ass' 1 $PF "" > /tmp/pfv 2>&1 && ! grep -q sriov-pf-with-vfs /tmp/pfv; }
wait_for pf_free 30 && ok "without VFs the PF's verdict has no sriov-pf-with-vfs" \
    || fail "the PF still has sriov-pf-with-vfs after sriov_numvfs=0"
reserve vm5 $RCIEP $PF; R5=$RID
pkill -x systemd-udevd; sleep 0.5
echo 2 > $P/$PF/sriov_numvfs
k0=$(dmesg | wc -l)
rcall $R5 Prepare
kl=$(dmesg | tail -n +$((k0 + 1)))
expect_err "Prepare $R5 ($RCIEP, then the PF $PF whose VFs the daemon did not see) fails" $E.OperationFailed "$PF"
ctime "failed Prepare $R5 with rollback of $RCIEP and $PF"
note "kernel: $(grep -E 'Cannot bind|probe of' <<< "$kl" | head -2 | tr '\n' ' ')"
check "the kernel refused: 'Cannot bind to PF with SR-IOV enabled'" \
    has "$kl" "vfio-pci $PF: Cannot bind to PF with SR-IOV enabled"
check "$RCIEP had been detached and was re-probed by e1000e (kernel log)" has "$kl" "e1000e $RCIEP"
check_drivers "$RCIEP back on e1000e" e1000e $RCIEP
check_drivers "$PF back on nvme" nvme $PF
check "overrides cleared on $RCIEP and $PF" overrides_clear $RCIEP $PF
check "State of $R5 stays reserved" test "$(rstate $R5)" = reserved
check "VFs untouched ($VF driverless)" test -z "$(drv $VF)" -a -e $P/$VF
rcall $R5 Release; expect_ok "Release $R5"
# udevd back; the daemon learns the VFs from their add events and the PF's
# change (as sriov_enable() sends them)
/lib/systemd/systemd-udevd --daemon && udevadm trigger --action=add $P/$VF $P/${VF%.*}.2 2> /dev/null &&
    udevadm trigger --action=change $P/$PF 2> /dev/null
pf_blocked() { mgr CheckAssignable 'ass' 1 $PF "" 2> /dev/null | grep -q sriov-pf-with-vfs; }
wait_for pf_blocked 30 && ok "udevd again: the daemon sees the VFs (sriov-pf-with-vfs)" \
    || fail "the daemon did not learn the VFs again"

# (b) vfio-pci not loaded
if rmmod vfio_pci 2> /tmp/rmmod.err; then
    rcall $R1 Prepare
    expect_err "Prepare $R1 with vfio-pci unloaded fails" $E.OperationFailed "vfio-pci"
    ctime "failed Prepare $R1 (vfio-pci not loaded)"
    check_drivers "both still on e1000e" e1000e $MA $MB
    check "overrides not left behind" overrides_clear $MA $MB
    check "State of $R1 stays reserved" test "$(rstate $R1)" = reserved
    t0=$(now_ms)
    run_bounded 20 modprobe vfio-pci
    timing "modprobe vfio-pci: $(( $(now_ms) - t0 )) ms"
    check "vfio-pci loaded again" test -d /sys/bus/pci/drivers/vfio-pci
else
    fail "rmmod vfio_pci (for the not-loaded case): $(cat /tmp/rmmod.err)"
    note "bound to vfio-pci: $(cd /sys/bus/pci/drivers/vfio-pci && echo 0000:*)"
fi

# (c) Unprepare fails half-way: e1000 is not loaded when $LA is given back,
# after $RCIEP was already given back to e1000e
reserve vm6 $RCIEP $LA $LB; R6=$RID
rcall $R6 Prepare; expect_ok "Prepare $R6 ($RCIEP + $LA + $LB)"
check_drivers "all three on vfio-pci" vfio-pci $RCIEP $LA $LB
if rmmod e1000 2> /tmp/rmmod.err; then
    rcall $R6 Unprepare
    expect_err "Unprepare $R6 with e1000 unloaded fails, naming $LA" $E.OperationFailed "$LA"
    ctime "failed Unprepare $R6 (e1000 not loaded; $RCIEP re-bound to vfio-pci)"
    check_drivers "every function is on vfio-pci again (the given-back $RCIEP too)" vfio-pci $RCIEP $LA $LB
    check "State of $R6 stays prepared" test "$(rstate $R6)" = prepared
    run_bounded 20 modprobe e1000
    check "e1000 loaded again" test -d /sys/bus/pci/drivers/e1000
    rcall $R6 Unprepare; expect_ok "Unprepare $R6 with e1000 back"
else
    fail "rmmod e1000: $(cat /tmp/rmmod.err)"
    rcall $R6 Unprepare; expect_ok "Unprepare $R6"
fi
check_drivers "$RCIEP on e1000e" e1000e $RCIEP
check_drivers "$LA and $LB on e1000" e1000 $LA $LB
rcall $R6 Release; expect_ok "Release $R6"

# --- 6. bounded wait: a VMM holds the device -------------------------------------------------
section "6. Unprepare while a VMM holds $MA (--job-timeout=5)"
rcall $R1 Prepare
expect_ok "Prepare $R1"; ctime "Prepare $R1 (2 functions, again)"
HOLD=12
$PY $G/vfio_open.py --no-reset --hold $HOLD $MA > /tmp/hold.out 2>&1 &
HOLDPID=$!
for _ in $(seq 300); do grep -q 'holding' /tmp/hold.out && break; kill -0 $HOLDPID 2> /dev/null || break; sleep 0.1; done
if grep -q holding /tmp/hold.out; then
    ok "vfio_open.py holds $MA's device fd for $HOLD s"
    t_start=$(date +%s%N)
    (
        p=$(rpath $R1); t0=$(date +%s%N)
        o=$(dsend "$p" org.pciassign1.Reservation.Unprepare 2>&1); rc=$?
        echo "$rc $(( ($(date +%s%N) - t0) / 1000000 )) $o" > /tmp/unprep.res
    ) &
    UNPID=$!
    sleep 2
    timed timeout 4 busctl --system call org.pciassign1 /org/pciassign1 org.pciassign1.Manager ListDevices
    if [ $RC = 0 ] && [ "$(echo "$COUT" | grep -o '"0000:' | wc -l)" -gt 0 ]; then
        ok "ListDevices is answered while the Unprepare job is blocked ($MS ms)"
    else
        fail "ListDevices while the Unprepare job is blocked: rc=$RC ($MS ms): $(one "$COUT")"
    fi
    timed timeout 4 busctl --system call org.pciassign1 /org/pciassign1 org.pciassign1.Manager GetDevice s $MA
    if [ $RC = 0 ]; then ok "GetDevice($MA) is answered meanwhile ($MS ms)"; else fail "GetDevice meanwhile: rc=$RC: $(one "$COUT")"; fi
    st=$(rstate $R1); note "State of $R1 while blocked: $st"
    sigmark
    wait $UNPID
    read -r urc ums uout < /tmp/unprep.res
    COUT=$uout; RC=$urc; MS=$ums
    expect_err "Unprepare while the device is held fails with InUse" $E.InUse
    timing "Unprepare $R1 answered (InUse) after $ums ms (--job-timeout=5)"
    check "the InUse answer came after about 5 s (4.5..10 s: $ums ms)" test "$ums" -ge 4500 -a "$ums" -le 10000
    check "pci-assignd is not hung (still running)" daemon_alive
    wait $HOLDPID
    t_rel=$(date +%s%N)
    note "holder: $(grep -E 'released' /tmp/hold.out | head -1) after $(( (t_rel - t_start) / 1000000 )) ms"
    st=""; end=$((SECONDS + 30))
    while [ $SECONDS -lt $end ]; do st=$(rstate $R1); [ "$st" = reserved ] && break; sleep 0.1; done
    t_end=$(date +%s%N)
    check "after the holder exits the job finishes: State reserved ($(( (t_end - t_rel) / 1000000 )) ms after release; got '$st')" \
        test "$st" = reserved
    timing "Unprepare $R1 blocked job: done $(( (t_end - t_start) / 1000000 )) ms after the call, $(( (t_end - t_rel) / 1000000 )) ms after the holder closed the fd"
    check_drivers "both back on e1000e" e1000e $MA $MB
    check "/dev/vfio/$GM is gone" wait_gone /dev/vfio/$GM
    check "signal ReservationChanged($R1, reserved) when the late job ended" \
        signal_seen 'member=ReservationChanged' "string \"$R1\"" 'string "reserved"'
else
    fail "vfio_open.py --hold $MA: $(tail -3 /tmp/hold.out)"
    kill $HOLDPID 2> /dev/null; wait $HOLDPID 2> /dev/null
fi

# --- 7. Detach / Reset / Reattach --------------------------------------------------------------
section "7. pci-assignctl detach / reset / reattach $SW"
timed timeout 90 $CTL detach $SW
expect_ok "pci-assignctl detach $SW"; ctime "Detach $SW" ctl
check_drivers "$SW on vfio-pci" vfio-pci $SW
check "Device.HostDriver of $SW is e1000e" test "$(dprop $SW HostDriver)" = e1000e
timed timeout 90 $CTL reset $SW
expect_ok "pci-assignctl reset $SW (reset_method '$(attr $SW reset_method)')"; ctime "Reset $SW" ctl
check_drivers "$SW still on vfio-pci" vfio-pci $SW
timed timeout 90 $CTL reattach $SW
expect_ok "pci-assignctl reattach $SW"; ctime "Reattach $SW" ctl
check_drivers "$SW back on e1000e" e1000e $SW
check "driver_override of $SW cleared" overrides_clear $SW
timed timeout 90 $CTL reset $SW
expect_err "pci-assignctl reset of $SW on its host driver is refused" $E.InUse e1000e
timed timeout 90 $CTL detach $BR
expect_err "pci-assignctl detach of the bridge $BR is refused" $E.NotAssignable
timed timeout 90 $CTL reattach $MA
expect_err "pci-assignctl reattach of $MA (reserved by $R1) is refused" $E.AlreadyReserved
check_drivers "$MA untouched" e1000e $MA
# a bus-only reset that would hit a function on its host driver
timed timeout 90 $CTL detach $LA
expect_ok "pci-assignctl detach $LA (reset_method '$(attr $LA reset_method)', $LB on $(drv $LB) behind the same bridge)"
timed timeout 90 $CTL reset $LA
expect_err "pci-assignctl reset $LA (bus reset would hit $LB on e1000) is refused" $E.UnsafeReset "$LB"
check_drivers "$LB untouched" e1000 $LB
timed timeout 90 $CTL reattach $LA
expect_ok "pci-assignctl reattach $LA"
check_drivers "$LA back on e1000" e1000 $LA
# detached across daemon restarts: checked in section 8 (HostDriver from the runtime directory)
timed timeout 90 $CTL detach $SW
expect_ok "pci-assignctl detach $SW again (left detached over the restarts of section 8)"

# --- 8. crash safety ---------------------------------------------------------------------------
section "8. crash safety"
stop_daemon
# (a) crash in the middle of Prepare: after step 0 (bind $MA), before step 1 (bind $MB)
start_daemon PCI_ASSIGND_TEST_CRASH=prepare:1 -- --job-timeout=5
CPID=$DPID
rcall $R1 Prepare
note "Prepare with PCI_ASSIGND_TEST_CRASH=prepare:1: rc=$RC: $(one "$COUT")"
for _ in $(seq 100); do kill -0 $CPID 2> /dev/null || break; sleep 0.1; done
if kill -0 $CPID 2> /dev/null; then
    fail "the daemon killed itself at prepare step 1 (it is still running: not a debug build?)"
    stop_daemon
else
    { wait $CPID; crc=$?; } 2> /dev/null
    check "the daemon died of SIGKILL at prepare step 1 (exit status $crc)" test $crc = 137
    DPID=""
    check "mid-Prepare: $MA on vfio-pci (step 0 done), $MB still on e1000e (step 1 not done)" \
        test "$(drv $MA)" = vfio-pci -a "$(drv $MB)" = e1000e
    j=$(journal_of $R1)
    check "state file has the journal of the interrupted Prepare ($j)" has "$j" '^prepare 1$'
fi
start_daemon -- --job-timeout=5
check_drivers "after restart: the interrupted Prepare is rolled back" e1000e $MA $MB
check "overrides cleared" overrides_clear $MA $MB
check "State of $R1 is reserved" test "$(rstate $R1)" = reserved
check "journal removed ($(journal_of $R1))" test "$(journal_of $R1)" = none
l=$(grep -F "$R1" $DLOG | head -3); echo "$l" | sed 's/^/    log: /'
check "the daemon logged the recovery of $R1" test -n "$l"
check "Device.HostDriver of the detached $SW is still e1000e after two restarts" \
    test "$(dprop $SW HostDriver)" = e1000e
timed timeout 90 $CTL reattach $SW
expect_ok "pci-assignctl reattach $SW (detached by an earlier daemon)"
check_drivers "$SW back on e1000e" e1000e $SW

# (b) crash in the middle of Unprepare: after step 3 = restore of function 1 journaled
rcall $R1 Prepare; expect_ok "Prepare $R1"
stop_daemon
start_daemon PCI_ASSIGND_TEST_CRASH=unprepare:3 -- --job-timeout=5
CPID=$DPID
rcall $R1 Unprepare
note "Unprepare with PCI_ASSIGND_TEST_CRASH=unprepare:3: rc=$RC: $(one "$COUT")"
for _ in $(seq 100); do kill -0 $CPID 2> /dev/null || break; sleep 0.1; done
if kill -0 $CPID 2> /dev/null; then
    fail "the daemon killed itself at unprepare step 3"
    stop_daemon
else
    { wait $CPID; crc=$?; } 2> /dev/null
    check "the daemon died of SIGKILL at unprepare step 3 (exit status $crc)" test $crc = 137
    DPID=""
    check "mid-Unprepare: $MA on e1000e (step 2 done), $MB still on vfio-pci" \
        test "$(drv $MA)" = e1000e -a "$(drv $MB)" = vfio-pci
    j=$(journal_of $R1)
    check "state file has the journal of the interrupted Unprepare ($j)" has "$j" '^unprepare 3$'
fi
start_daemon -- --job-timeout=5
check_drivers "after restart: the interrupted Unprepare is completed" e1000e $MA $MB
check "State of $R1 is reserved" test "$(rstate $R1)" = reserved
check "journal removed ($(journal_of $R1))" test "$(journal_of $R1)" = none

# (c) boot re-prepare: a prepared reservation whose functions are on e1000e at start
rcall $R1 Prepare; expect_ok "Prepare $R1"
stop_daemon
check_drivers "stopping the daemon leaves $R1's functions on vfio-pci" vfio-pci $MA $MB
for a in $MA $MB; do      # what a reboot does: the host driver takes them
    echo > $P/$a/driver_override
    echo $a > $P/$a/driver/unbind
    echo $a > /sys/bus/pci/drivers_probe
done
check_drivers "given back by hand (simulated reboot)" e1000e $MA $MB
# the drivers at the moment the name appears, seen by a monitor already subscribed
rm -f /tmp/at-name
( dbus-monitor --system "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.pciassign1'" 2>&1 \
    | while IFS= read -r l; do
        case $l in *'string "org.pciassign1"'*)
            echo "$(drv $MA) $(drv $MB)" > /tmp/at-name; break ;;
        esac
    done ) &
WPID=$!
sleep 1
start_daemon -- --job-timeout=5
for _ in $(seq 20); do [ -s /tmp/at-name ] && break; sleep 0.1; done
check "when org.pciassign1 appeared, both were on vfio-pci already: $(cat /tmp/at-name 2> /dev/null)" \
    test "$(cat /tmp/at-name 2> /dev/null)" = "vfio-pci vfio-pci"
check_drivers "after start: re-bound to vfio-pci" vfio-pci $MA $MB
check "State of $R1 is prepared" test "$(rstate $R1)" = prepared
pkill -P $WPID 2> /dev/null; kill $WPID 2> /dev/null

# --- 9. adoption: the admin's bindings are given back exactly --------------------------
section "9. adoption: $AD on vfio-pci (override), $AS on pci-stub (no override)"
ADS=$AD; [ $STUB = yes ] && ADS="$AD $AS"
bind_of() { echo "$(drv $1) $(ovr $1)"; }
AD_BEFORE=$(bind_of $AD); AS_BEFORE=$(bind_of $AS)
check "$AD is still as the admin left it after the daemon's starts ($AD_BEFORE)" test "$AD_BEFORE" = "vfio-pci vfio-pci"
check "Device.HostDriverAdopted of the unreserved $AD is false" test "$(dprop $AD HostDriverAdopted)" = false
reserve vm9 $ADS; R9=$RID
check "Device.HostDriver of $AD is vfio-pci" test "$(dprop $AD HostDriver)" = vfio-pci
check "Device.HostDriverAdopted of $AD is true" test "$(dprop $AD HostDriverAdopted)" = true
check "Device.HostDriverOverride of $AD is vfio-pci" test "$(dprop $AD HostDriverOverride)" = vfio-pci
if [ $STUB = yes ]; then
    check "Device.HostDriver of $AS is pci-stub, adopted, no override" \
        test "$(dprop $AS HostDriver) $(dprop $AS HostDriverAdopted) '$(dprop $AS HostDriverOverride)'" = "pci-stub true ''"
fi
timed timeout 60 $CTL show $AD
has "$COUT" "Host driver: vfio-pci \(the admin's binding, adopted: given back as it was, driver_override vfio-pci\)" \
    && ok "pci-assignctl show $AD: $(grep 'Host driver' <<< "$COUT" | sed 's/^ *//')" \
    || fail "pci-assignctl show $AD says the admin's binding: $(grep 'Host driver' <<< "$COUT")"
has "$(cat $STATE)" '"adopted": true' && ok "state.json records the adoption" || fail "state.json records the adoption"
rcall $R9 Prepare; expect_ok "Prepare $R9 ($ADS)"; ctime "Prepare $R9 (adopted)"
check_drivers "prepared: on vfio-pci" vfio-pci $ADS
check "/dev/vfio/$(grp $AD) exists" test -e /dev/vfio/$(grp $AD)
check "State of $R9 is prepared" test "$(rstate $R9)" = prepared
rcall $R9 Unprepare; expect_ok "Unprepare $R9"; ctime "Unprepare $R9 (adopted)"
check "after Unprepare: $AD as it began ($(bind_of $AD))" test "$(bind_of $AD)" = "$AD_BEFORE"
[ $STUB = yes ] && check "after Unprepare: $AS as it began ($(bind_of $AS))" test "$(bind_of $AS)" = "$AS_BEFORE"
check "State of $R9 is reserved" test "$(rstate $R9)" = reserved
# a restart in between: the record survives
rcall $R9 Prepare; expect_ok "Prepare $R9 again"
stop_daemon
start_daemon -- --job-timeout=5
check "after a restart, Device.HostDriverAdopted of $AD is still true" test "$(dprop $AD HostDriverAdopted)" = true
rcall $R9 Release; expect_ok "Release of the prepared $R9"
check "after Release: $AD as it began ($(bind_of $AD))" test "$(bind_of $AD)" = "$AD_BEFORE"
[ $STUB = yes ] && check "after Release: $AS as it began ($(bind_of $AS))" test "$(bind_of $AS)" = "$AS_BEFORE"
check "Device.HostDriverAdopted of the released $AD is false" test "$(dprop $AD HostDriverAdopted)" = false
# Detach/Reattach outside a reservation
for a in $ADS; do
    before=$(bind_of $a)
    timed timeout 90 $CTL detach $a; expect_ok "pci-assignctl detach $a (on $before)"
    check_drivers "$a detached" vfio-pci $a
    check "Device.HostDriverAdopted of the detached $a is true" test "$(dprop $a HostDriverAdopted)" = true
    timed timeout 90 $CTL reattach $a; expect_ok "pci-assignctl reattach $a"
    check "after Reattach: $a as it began ($(bind_of $a))" test "$(bind_of $a)" = "$before"
done
n=$(dmesg | grep -c "e1000e $AD")
check "e1000e never probed $AD after the admin's bind ($n kernel log lines, $E1000E_AD0 before)" test "$n" = "$E1000E_AD0"
check "no network interface on $AD ($(netifs $AD))" test -z "$(netifs $AD)"

# --- the end: everything back as it was -----------------------------------------------------
section "clean up"
rcall $R1 Release
expect_ok "Release of the prepared $R1"; ctime "Release $R1 (prepared, 2 functions)"
r=$(timeout 30 busctl --system call org.pciassign1 /org/pciassign1 org.pciassign1.Manager ListReservations 2>&1)
check "no reservations left ($r)" test "$r" = "a(ssso) 0"
SNAP1=$(snapshot)
d=$(diff <(echo "$SNAP0") <(echo "$SNAP1"))
check "every PCI function is on the driver it had at the start, no override left${d:+: $(echo "$d" | grep '^[<>]' | head -4 | tr '\n' ' ')}" \
    test -z "$d"
check "pci-assignd #$NDAEMON is still running" daemon_alive
stop_daemon
kill $MONPID $CALLMONPID 2> /dev/null
echo "--- call times on the bus (call to reply, as dbus-monitor saw them; the client's start not included)"
$PY $G/call_times.py /tmp/calls.log | sed 's/^/    timing(bus): /'
cp /tmp/daemon-*.log /tmp/signals.log /tmp/calls.log $OUT/ 2> /dev/null
cp $STATE $OUT/ 2> /dev/null
dmesg > $OUT/dmesg.txt
section "daemon log #$NDAEMON and #1 (last lines)"
tail -8 /tmp/daemon-1.log
summary
