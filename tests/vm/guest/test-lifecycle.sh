#!/bin/bash
# Guest scenario "lifecycle" (issue 14): restarts, a second instance,
# re-plugs and degraded states never touch a guest's functions or lose a
# reservation, with the kernel's reaction.  The daemon NOT read-only, as
# root, with udevd (no coldplug) and a real dbus-daemon --system.
# "Not reset" is proven twice:
#  - the kernel's own record: ftrace's function tracer on the kernel's
#    PCI reset paths (__pci_reset_function_locked, which every function
#    reset goes through: sysfs reset, VFIO_DEVICE_RESET, vfio's open and
#    release; pci_reset_bus; FLR and the secondary bus reset itself),
#    cleared before and read after each step: no entry, by anyone;
#    two controls show that it does see a reset (a sysfs reset by hand,
#    and the daemon's own reset when it prepares a reservation again);
#  - the command register's SERR# bit, set by hand (setpci
#    COMMAND=0100:0100): a function that was re-enumerated or reset
#    without the kernel's save/restore reads it clear.  Not a reset marker
#    by itself on Linux: pci_reset_function() saves the config space
#    before a reset and writes it back after (pci_dev_save_and_disable /
#    pci_dev_restore), so SERR# survives every reset the kernel makes;
#    and under QEMU 7.2 the e1000e's PM "reset" resets nothing at all.
#  a. restart while in use: the multifunction group behind root port
#     00:0c.0 (0b:00.0 for the guest, 0b:00.1 --unassigned), prepared,
#     held open through the VFIO API by a VMM-like process
#     (vfio_open.py --hold), SetInUse(true), SERR# on both; kill -TERM +
#     start, then kill -9 + start: both stay on vfio-pci, SERR# still set,
#     still in-use, state.json the same JSON.
#  c. second instance: while (1) that reservation is in use and (2) an
#     Unprepare of it is blocked (the VMM holds 0b:00.0; its journal is in
#     state.json), a second pci-assignd on the same state directory exits
#     non-zero with "Another pci-assignd is running, pid N" (the first's
#     pid); state.json byte-identical (cmp), the journal not replayed,
#     drivers and SERR# untouched.
#  d. re-plug of the unassigned sibling of the in-use reservation: sysfs
#     remove of 0b:00.1 -> degraded (return to in-use), Present=false;
#     rescan -> the returned function is bound to vfio-pci alone (the
#     kernel refuses e1000e's probe while the VMM owns the group's DMA),
#     the reservation is in-use again (not prepared); 0b:00.0 never left
#     vfio-pci and keeps SERR#; the VMM still holds it.
#  g. SIGHUP: the daemon survives kill -HUP, logs that it re-read the
#     host's mounts, swaps and routes, and still answers.
#  b. transient reservation across restarts: `pci-assignctl reserve
#     --transient` in the background holds it; Prepare; kill -TERM + start
#     and kill -9 + start: the holder's unique name (its pid per the bus) and
#     the bus ID stored in state.json still match the bus, the reservation
#     is still prepared, SERR# still set; the holder exits -> released,
#     both back on e1000e.
#  e. restart while degraded: 00:05.0 + 00:05.1 (multifunction on the root
#     bus, one group each) prepared, 00:05.1 removed -> degraded; restart:
#     still degraded, LastError names it, return_to prepared in state.json;
#     rescan -> prepared again, 00:05.1 on vfio-pci.
#  f. missing at start-up: 00:05.1 reserved, the daemon stopped, 00:05.1
#     removed, the daemon started: degraded (not reserved), LastError names
#     it, one Conflict for it, after the daemon took its name (a
#     dbus-monitor running since before the start); rescan -> reserved.
# About 3-5 minutes under TCG (9 daemon starts, ~0.5 s per client call).
# vm-timeout: 600
#   params (from the host, /vmout/params.sh): BUILD_DIR, SRC_DIR
. /vmtest/guest/lib.sh
G=/vmtest/guest
PY=/usr/bin/python3
DAEMON=$BUILD_DIR/src/daemon/pci-assignd
CTL=$BUILD_DIR/src/ctl/pci-assignctl
POLICY=$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf
export STATE_DIRECTORY=/var/lib/pci-assignd-test RUNTIME_DIRECTORY=/run/pci-assignd-test
STATE=$STATE_DIRECTORY/state.json
T_START=$(now_ms)

MA=0000:0b:00.0; MB=0000:0b:00.1          # multifunction e1000e, one group (root port 00:0c.0)
FA=0000:00:05.0; FB=0000:00:05.1          # multifunction e1000e on the root bus, one group each

note() { echo "    $*"; }
section() { echo "--- $* (uptime $(uptime_s))"; }
has() { grep -qE -- "$2" <<< "$1"; }
one() { local l=${1%%$'\n'*}; echo "${l:0:300}"; }
drv() { local d; for d in /sys/bus/pci/drivers/*/"$1"; do [ -e "$d" ] && { d=${d%/*}; echo "${d##*/}"; return; }; done; }
grp() { local d; for d in /sys/kernel/iommu_groups/*/devices/"$1"; do [ -e "$d" ] && { d=${d%/devices/*}; echo "${d##*/}"; return; }; done; echo -1; }
attr() { local v=""; [ -r "$P/$1/$2" ] && read -r v < "$P/$1/$2"; echo "$v"; }
snapshot() { local d; for d in "$P"/*; do echo "${d##*/} driver=$(drv "${d##*/}") override=$(attr "${d##*/}" driver_override)"; done; }
timed() {
    local t0; t0=$(date +%s%N)
    COUT=$("$@" 2>&1); RC=$?
    MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
expect_ok() { if [ $RC = 0 ]; then ok "$1 ($MS ms)"; else fail "$1: rc=$RC: $(one "$COUT")"; fi; }
check_drivers() {  # DESCRIPTION WANT ADDR...
    local d=$1 want=$2 a x got="" bad=0; shift 2
    for a in "$@"; do x=$(drv $a); got="$got $a=$x"; [ "$x" = "$want" ] || bad=1; done
    if [ $bad = 0 ]; then ok "$d:$got"; else fail "$d: want ${want:-no driver},$got"; fi
}

# --- the marker: SERR# (bit 8) of the command register -----------------------------------
serr() {  # ADDR -> set / clear / ? (unreadable)
    local v; v=$(setpci -s "$1" COMMAND 2> /dev/null) || { echo "?"; return; }
    [ -n "$v" ] || { echo "?"; return; }
    if (( 0x$v & 0x100 )); then echo set; else echo clear; fi
}
mark() {  # ADDR...: set SERR#, and check that it reads back set
    local a
    for a in "$@"; do
        setpci -s "$a" COMMAND=0100:0100
        check "SERR# set on $a (command register now $(setpci -s $a COMMAND))" test "$(serr $a)" = set
    done
}
check_serr() {  # DESCRIPTION ADDR...: SERR# still set on each
    local d=$1 a got="" bad=0; shift
    for a in "$@"; do got="$got $a=$(serr $a)"; [ "$(serr $a)" = set ] || bad=1; done
    if [ $bad = 0 ]; then ok "$d: SERR# still set (no reset):$got"; else fail "$d: SERR# cleared (reset or re-probed):$got"; fi
}

# --- the kernel's record of PCI resets (ftrace) ------------------------------------------------
TR=/sys/kernel/tracing
RESET_FUNCS=""
trace_setup() {
    local f
    mountpoint -q $TR || mount -t tracefs nodev $TR 2> /dev/null || { fail "tracefs mounts on $TR"; return 1; }
    echo 0 > $TR/tracing_on; echo nop > $TR/current_tracer; : > $TR/set_ftrace_filter
    # only functions that always reset: the methods (pci_pm_reset,
    # pci_af_flr, ...) are also called to probe (PCI_RESET_PROBE, e.g. by
    # pci_init_reset_methods() when a device is added), and every method
    # runs under __pci_reset_function_locked() or pci_reset_bus() anyway
    for f in __pci_reset_function_locked pci_reset_function pci_reset_function_locked \
             pci_try_reset_function pci_reset_bus pcie_flr pci_reset_secondary_bus \
             pci_bridge_secondary_bus_reset; do
        grep -qx "$f" $TR/available_filter_functions 2> /dev/null && echo "$f" >> $TR/set_ftrace_filter 2> /dev/null
    done
    RESET_FUNCS=$(tr '\n' ' ' < $TR/set_ftrace_filter)
    echo function > $TR/current_tracer && echo 1 > $TR/tracing_on
    check "ftrace follows the kernel's PCI reset paths: $RESET_FUNCS" \
        eval 'grep -qx __pci_reset_function_locked $TR/set_ftrace_filter && test "$(cat $TR/current_tracer)" = function'
}
trace_mark() { : > $TR/trace; }
resets() { grep -v '^#' $TR/trace 2> /dev/null | sed 's/^ *//; s/  */ /g'; }
check_no_reset() {  # DESCRIPTION: nothing reset since the last trace_mark
    local r; r=$(resets)
    if [ -z "$r" ]; then ok "$1: the kernel reset nothing (ftrace)"; else fail "$1: the kernel reset something: $(echo "$r" | head -3 | tr '\n' '|')"; fi
}

# --- D-Bus ---------------------------------------------------------------------------------
objpath() { local l; while IFS= read -r l; do [[ $l == 'o "'*'"' ]] && { l=${l#o \"}; echo "${l%\"}"; }; done; }
mgr() { timeout 150 busctl --system --timeout=120 call org.pciassign1 /org/pciassign1 org.pciassign1.Manager "$@"; }
rpath() { echo "/org/pciassign1/reservation/$1"; }
prop() {  # PATH IFACE PROP -> the value, strings unquoted
    local v; v=$(timeout 30 busctl --system get-property org.pciassign1 "$1" "$2" "$3" 2> /dev/null) || return
    v=${v#* }; v=${v#\"}; echo "${v%\"}"
}
rstate() { prop "$(rpath "$1")" org.pciassign1.Reservation State; }
rlasterr() { prop "$(rpath "$1")" org.pciassign1.Reservation LastError; }
rexists() { mgr GetReservation s "$1" > /dev/null 2>&1; }
dsend() { timeout 150 dbus-send --system --print-reply --reply-timeout=120000 --dest=org.pciassign1 "$@"; }
rcall() {  # ID METHOD [BOOL]: COUT, RC, MS
    local args=(); [ $# -ge 3 ] && args=("boolean:$3")
    timed dsend "$(rpath "$1")" org.pciassign1.Reservation."$2" "${args[@]}"
}
# reserve OWNER ADDR:ASSIGNED...: Reserve (persistent, default options); RID
reserve() {
    local owner=$1 a args=(); shift
    for a in "$@"; do args+=("${a%:*}" "${a##*:}"); done
    timed mgr Reserve 'sa(sb)a{sv}' "$owner" $# "${args[@]}" 0
    RID=$(echo "$COUT" | sed -n 's|^o "/org/pciassign1/reservation/\(.*\)"$|\1|p')
    if [ $RC = 0 ] && [ -n "$RID" ]; then ok "Reserve($owner: $*) -> $RID ($MS ms)"; else fail "Reserve($owner: $*): rc=$RC: $(one "$COUT")"; fi
}
# wait_state ID STATE SECONDS: poll until the reservation is in STATE; ST = the last seen
wait_state() {
    local end=$((SECONDS + $3)); ST=""
    while [ $SECONDS -lt $end ]; do ST=$(rstate "$1"); [ "$ST" = "$2" ] && return 0; sleep 0.3; done
    return 1
}
wait_driver() {  # ADDR DRIVER SECONDS
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do [ "$(drv $1)" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
# signals seen by the dbus-monitor (one message per line, after the last sigmark)
SIGN=0
sigmark() { SIGN=$(wc -l < /tmp/signals.log); }
signals() {
    tail -n +$((SIGN + 1)) /tmp/signals.log \
        | awk '/^signal /{ if (r != "") print r; r = $0; next } { r = r " " $0 } END { if (r != "") print r }'
}

# --- the state file -------------------------------------------------------------------------
# same_json A B: the two files hold equal JSON values
same_json() {
    $PY - "$1" "$2" << 'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if a != b:
    print("state.json differs:\n before: %s\n after:  %s" % (json.dumps(a, sort_keys=True)[:600],
                                                           json.dumps(b, sort_keys=True)[:600]))
    sys.exit(1)
EOF
}
# sfield ID EXPR: a field of the reservation in state.json (python expression over r)
sfield() {
    $PY - "$STATE" "$1" "$2" << 'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d.get("reservations", []):
    if r.get("id") == sys.argv[2]:
        try:
            v = eval(sys.argv[3], {}, {"r": r})
        except Exception as e:
            v = "error: %s" % e
        print("none" if v is None else v)
        break
else:
    print("no-reservation")
EOF
}
journal_of() { sfield "$1" '"%s %s" % (r["journal"]["operation"], r["journal"]["step"]) if r.get("journal") else None'; }

# --- daemon control -------------------------------------------------------------------------
DPID=""; DLOG=""; NDAEMON=0
# start_daemon [OPTIONS...]
# shellcheck disable=SC2120
start_daemon() {
    local t0; t0=$(now_ms)
    NDAEMON=$((NDAEMON + 1)); DLOG=/tmp/daemon-$NDAEMON.log
    "$DAEMON" "$@" > $DLOG 2>&1 &
    DPID=$!
    if wait_for_name org.pciassign1 90; then
        ok "pci-assignd #$NDAEMON (pid $DPID) owns org.pciassign1 ($(( $(now_ms) - t0 )) ms)"
        return 0
    fi
    fail "pci-assignd #$NDAEMON owns org.pciassign1 within 90 s"
    tail -20 $DLOG | sed 's/^/    log: /'
    return 1
}
name_gone() {
    local end=$((SECONDS + 10))
    while [ $SECONDS -lt $end ]; do
        timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
            org.freedesktop.DBus.NameHasOwner string:org.pciassign1 2> /dev/null | grep -q 'boolean true' || return 0
        sleep 0.1
    done
    return 1
}
# stop_daemon [SIGNAL]: TERM (default; must exit within 10 s) or KILL
stop_daemon() {
    local sig=${1:-TERM} st
    [ -n "$DPID" ] || return 0
    kill -$sig $DPID 2> /dev/null
    for _ in $(seq 100); do kill -0 $DPID 2> /dev/null || break; sleep 0.1; done
    if kill -0 $DPID 2> /dev/null; then
        fail "pci-assignd #$NDAEMON exits within 10 s of SIG$sig"; kill -KILL $DPID
    fi
    wait $DPID 2> /dev/null; st=$?
    [ "$sig" = TERM ] && { [ $st = 0 ] || fail "pci-assignd #$NDAEMON exit status after SIGTERM: $st"; }
    name_gone || fail "org.pciassign1 released after pci-assignd #$NDAEMON exited"
    DPID=""
}
daemon_alive() { [ -n "$DPID" ] && kill -0 $DPID 2> /dev/null; }
# restart SIGNAL: stop the daemon with SIGNAL, start it again
restart() {
    local t0; t0=$(now_ms)
    stop_daemon "$1"
    note "pci-assignd stopped with SIG$1 ($(( $(now_ms) - t0 )) ms)"
    start_daemon
}
# second_instance DESCRIPTION: a second pci-assignd on the same state
# directory while the first one (DPID) runs
second_instance() {
    local d=$1 out rc k0
    cp -p $STATE /tmp/state.before
    k0=$(dmesg | wc -l)
    trace_mark
    timed timeout 60 "$DAEMON"
    rc=$RC; out=$COUT
    echo "$out" | head -3 | sed 's/^/    second: /'
    check "$d: the second pci-assignd exits non-zero (status $rc, $MS ms)" test $rc != 0 -a $rc != 124
    check "$d: it says another pci-assignd is running, pid $DPID" \
        has "$out" "[Aa]nother pci-assignd is running, pid $DPID\\b"
    check "$d: state.json byte-identical (cmp)" cmp -s /tmp/state.before $STATE
    check "$d: it replayed no journal, bound nothing, wrote nothing (no such log line)" \
        eval '! has "$out" "interrupted|bound to|again|Dropping|given back|Loaded"'
    # (a blocked unbind from vfio-pci logs "Relaying device request" meanwhile)
    kl=$(dmesg | tail -n +$((k0 + 1)) | grep -E 'vfio|e1000e' | grep -vE 'device request')
    check "$d: the kernel logged no bind, probe or reset meanwhile${kl:+: $(one "$kl")}" test -z "$kl"
    check_no_reset "$d"
    check "$d: the first pci-assignd (pid $DPID) still runs and owns the name" \
        eval 'daemon_alive && wait_for_name org.pciassign1 5'
}

# --- setup ----------------------------------------------------------------------------------
check "daemon binary $DAEMON exists" test -x "$DAEMON"
check "client binary $CTL exists" test -x "$CTL"
[ -x "$DAEMON" ] && [ -x "$CTL" ] || { summary; exit 1; }
modprobe vfio-pci
check "vfio-pci is loaded" test -d /sys/bus/pci/drivers/vfio-pci
if /lib/systemd/systemd-udevd --daemon; then ok "systemd-udevd runs (no coldplug)"; else fail "systemd-udevd starts"; fi
trace_setup
for a in $MA $MB $FA $FB; do
    note "$a: driver=$(drv $a) group=$(grp $a) reset_method='$(attr $a reset_method)'"
done
GM=$(grp $MA)
gm=$(cd /sys/kernel/iommu_groups/$GM/devices && echo *)
check "$MA and $MB share IOMMU group $GM, nothing else in it ($gm)" test "$gm" = "$MA $MB"
check "$FA and $FB are in groups of their own ($(grp $FA), $(grp $FB))" \
    test "$(ls "/sys/kernel/iommu_groups/$(grp $FA)/devices")" = $FA -a "$(ls "/sys/kernel/iommu_groups/$(grp $FB)/devices")" = $FB
check_drivers "the functions start on e1000e" e1000e $MA $MB $FA $FB
SNAP0=$(snapshot)

start_dbus "$POLICY"
# The bus ID as sd_bus_get_bus_id() sees it: the server GUID of the
# authentication handshake ("OK <guid>"), not org.freedesktop.DBus.GetId
# (dbus-daemon has one of each; both are new when the bus restarts)
BUSID=$(timeout 10 $PY -c '
import os, socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/dbus/system_bus_socket")
s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
l = s.recv(256).decode()
print(l.split()[1] if l.startswith("OK ") else "?" + l.strip())')
note "bus ID (server GUID) $BUSID; GetId: $(timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus \
    /org/freedesktop/DBus org.freedesktop.DBus.GetId | sed -n 's/^ *string "\(.*\)"$/\1/p')"
mkdir -p "$STATE_DIRECTORY" "$RUNTIME_DIRECTORY"
dbus-monitor --system "type='signal',path_namespace='/org/pciassign1'" \
    "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.pciassign1'" \
    > /tmp/signals.log 2>&1 &
MONPID=$!
start_daemon || { summary; exit 1; }

# --- a. restart while in use ------------------------------------------------------------------
section "a. restart while in use: $MA (+ $MB unassigned), held by a VMM"
reserve vm-a $MA:true $MB:false; RA=$RID
rcall $RA Prepare; expect_ok "Prepare $RA"
check_drivers "both on vfio-pci" vfio-pci $MA $MB
# the VMM: container, group, device fd of $MA (no VFIO_DEVICE_RESET: the
# open itself resets; the marker comes after), held until killed
$PY $G/vfio_open.py --no-reset --hold 900 $MA > /tmp/hold.out 2>&1 &
HOLDPID=$!
for _ in $(seq 300); do grep -q holding /tmp/hold.out && break; kill -0 $HOLDPID 2> /dev/null || break; sleep 0.1; done
if grep -q holding /tmp/hold.out; then
    ok "a VMM (vfio_open.py, pid $HOLDPID) holds group $GM and $MA's device fd"
else
    fail "vfio_open.py --hold $MA: $(tail -3 /tmp/hold.out)"
fi
rcall $RA SetInUse true; expect_ok "SetInUse($RA, true)"
check "State of $RA is in-use" test "$(rstate $RA)" = in-use
mark $MA $MB
cp $STATE /tmp/state.a
for sig in TERM KILL; do
    trace_mark
    restart $sig
    check_no_reset "after SIG$sig + start"
    check_drivers "after SIG$sig + start: both still on vfio-pci" vfio-pci $MA $MB
    check_serr "after SIG$sig + start" $MA $MB
    check "after SIG$sig + start: State of $RA is in-use (got '$(rstate $RA)')" test "$(rstate $RA)" = in-use
    check "after SIG$sig + start: state.json the same" same_json /tmp/state.a $STATE
    check "after SIG$sig + start: the VMM still runs" kill -0 $HOLDPID
    l=$(grep -E "$RA" $DLOG | grep -vE 'Loaded' | head -3)
    check "after SIG$sig + start: the daemon logged nothing done to $RA${l:+: $(one "$l")}" test -z "$l"
done

# --- c. a second instance ---------------------------------------------------------------------
section "c1. second instance while $RA is in use"
second_instance "c1 (in use)"
check_drivers "c1: both still on vfio-pci" vfio-pci $MA $MB
check_serr "c1: after the second instance" $MA $MB
check "c1: State of $RA is still in-use" test "$(rstate $RA)" = in-use

# --- d. re-plug of the unassigned sibling ----------------------------------------------------
section "d. re-plug of $MB (unassigned) while $RA is in use"
sigmark
k0=$(dmesg | wc -l)
trace_mark
echo 1 > $P/$MB/remove
check "$MB removed (sysfs remove)" test ! -e $P/$MB
if wait_state $RA degraded 30; then ok "$RA degraded while $MB is gone"; else fail "$RA degraded while $MB is gone (got '$ST')"; fi
DPMB=$(mgr GetDevice s $MB 2> /dev/null | objpath)
check "Device $MB still exported ($DPMB), Present=false" test "$(prop "$DPMB" org.pciassign1.Device Present)" = false
check "return_to in-use in state.json ($(sfield $RA 'r.get("return_to")'))" test "$(sfield $RA 'r.get("return_to")')" = in-use
check "signal Conflict($MB, $RA)" has "$(signals | grep 'member=Conflict')" "\"$MB\".*\"$RA\""
check_drivers "$MA still on vfio-pci" vfio-pci $MA
check_serr "$MA while $MB is gone" $MA
sigmark
echo 1 > /sys/bus/pci/rescan
check "$MB is back after rescan" test -e $P/$MB
if wait_state $RA in-use 30 && wait_driver $MB vfio-pci 30; then
    ok "$RA is in-use again (not prepared), $MB on vfio-pci"
else
    fail "$RA in-use again with $MB on vfio-pci: state '$ST', $MB on '$(drv $MB)'"
fi
# What the kernel did with the returned function.  Here (QEMU's mf3 has no
# multifunction bit in its own header; the kernel sets dev->multifunction
# for function 1 only after the IOMMU probe of a hot-added device) it comes
# back in a new IOMMU group, so e1000e probes it before the daemon binds it
# to vfio-pci; back in group $GM, e1000e's probe would fail (-EBUSY: the
# VMM owns the group's DMA).  Either way it must end on vfio-pci alone.
kl=$(dmesg | tail -n +$((k0 + 1)))
note "kernel: $MB back in IOMMU group $(grp $MB) (was $GM): $(grep -E "$MB" <<< "$kl" | grep -E 'iommu group|e1000e|vfio|probe' | cut -c16- | head -4 | tr '\n' '|')"
check "$RA's ReservationChanged: degraded, then in-use, never prepared" \
    eval '! signals | grep "member=ReservationChanged" | grep -q "string \"prepared\""'
check_no_reset "the re-plug of $MB while in use (its reset_method '$(attr $MB reset_method)' is not function-level)"
check_drivers "$MA never left vfio-pci" vfio-pci $MA
check_serr "$MA after the re-plug of its sibling" $MA
check "the VMM still holds $MA" kill -0 $HOLDPID
check "return_to gone from state.json ($(sfield $RA 'r.get("return_to")'))" test "$(sfield $RA 'r.get("return_to")')" = none
l=$(grep -F "$RA" $DLOG | grep -F "$MB" | tail -2)
note "log: $(one "$l")"
check "the daemon bound only $MB (log: 'binding $MB to vfio-pci', the other functions left alone)" \
    has "$l" "binding $MB to vfio-pci"

# --- g. SIGHUP -------------------------------------------------------------------------------
section "g. SIGHUP"
n=$(wc -l < $DLOG)
kill -HUP $DPID
sleep 2
check "pci-assignd #$NDAEMON survives SIGHUP" daemon_alive
l=$(tail -n +$((n + 1)) $DLOG | grep -i 'SIGHUP')
note "log: $l"
check "it logged that it re-read the host's usage" has "$l" "SIGHUP.*(mounts|swaps|routes)"
check "it still answers (State of $RA: $(rstate $RA))" test "$(rstate $RA)" = in-use

# --- c2. a second instance while an operation runs ---------------------------------------------
section "c2. second instance while an Unprepare of $RA is blocked by the VMM"
rcall $RA SetInUse false; expect_ok "SetInUse($RA, false)"
( rcall $RA Unprepare; echo "$RC $MS $(one "$COUT")" > /tmp/unprep.res ) &
UNPID=$!
j=""
for _ in $(seq 100); do j=$(journal_of $RA); [ "$j" != none ] && break; sleep 0.2; done
sleep 1
j=$(journal_of $RA)
check "the Unprepare is journaled and blocked (journal '$j', $MA on $(drv $MA))" has "$j" '^unprepare '
second_instance "c2 (journal '$j')"
check "c2: the journal is still '$j'" test "$(journal_of $RA)" = "$j"
check_drivers "c2: $MB still on vfio-pci (nothing replayed)" vfio-pci $MB
kill $HOLDPID 2> /dev/null; wait $HOLDPID 2> /dev/null
wait $UNPID
read -r urc ums uout < /tmp/unprep.res
check "the Unprepare ends once the VMM is gone (rc=$urc after $ums ms: $uout)" test "$urc" = 0
if wait_state $RA reserved 30; then ok "$RA is reserved"; else fail "$RA is reserved (got '$ST')"; fi
check_drivers "both back on e1000e" e1000e $MA $MB
rcall $RA Release; expect_ok "Release $RA"

# --- b. transient reservation across restarts ---------------------------------------------------
section "b. transient reservation held by pci-assignctl across restarts"
$CTL reserve --transient vm-b $MA $MB > /tmp/holder.out 2>&1 &
HPID=$!
for _ in $(seq 300); do grep -q '^Holding' /tmp/holder.out && break; kill -0 $HPID 2> /dev/null || break; sleep 0.1; done
RB=$(awk '/^Reserved / {print $2; exit}' /tmp/holder.out)
check "pci-assignctl reserve --transient holds $RB: $(grep '^Holding' /tmp/holder.out)" \
    eval 'grep -q "^Holding transient reservation $RB" /tmp/holder.out'
timed timeout 90 $CTL prepare $RB; expect_ok "pci-assignctl prepare $RB"
check_drivers "both on vfio-pci" vfio-pci $MA $MB
mark $MA $MB
OWNER=$(sfield $RB 'r["owner_bus"]["name"]'); OBUS=$(sfield $RB 'r["owner_bus"]["bus_id"]')
opid=$(timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.GetConnectionUnixProcessID string:"$OWNER" 2> /dev/null | awk '/uint32/ {print $2}')
check "state.json: owner $OWNER (pid $opid on the bus = the holder $HPID), bus ID $OBUS = the bus's" \
    test "$opid" = "$HPID" -a "$OBUS" = "$BUSID"
cp $STATE /tmp/state.b
for sig in TERM KILL; do
    n=$(wc -l < /tmp/holder.out)
    trace_mark
    restart $sig
    for _ in $(seq 150); do tail -n +$((n + 1)) /tmp/holder.out | grep -q 'is back' && break; sleep 0.2; done
    hl=$(tail -n +$((n + 1)) /tmp/holder.out | tr '\n' '|')
    note "holder: $hl"
    check "after SIG$sig + start: the holder is still running and still holds $RB" \
        eval 'kill -0 $HPID && has "$hl" "still holding transient reservation $RB"'
    check "after SIG$sig + start: $RB is still prepared (got '$(rstate $RB)')" test "$(rstate $RB)" = prepared
    check_no_reset "after SIG$sig + start"
    check_drivers "after SIG$sig + start: both still on vfio-pci" vfio-pci $MA $MB
    check_serr "after SIG$sig + start" $MA $MB
    opid=$(timeout 10 dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.GetConnectionUnixProcessID string:"$OWNER" 2> /dev/null | awk '/uint32/ {print $2}')
    check "after SIG$sig + start: owner $OWNER still the holder (pid $opid), same bus ID ($(sfield $RB 'r["owner_bus"]["bus_id"]'))" \
        test "$opid" = "$HPID" -a "$(sfield $RB 'r["owner_bus"]["bus_id"]')" = "$BUSID"
    check "after SIG$sig + start: state.json the same" same_json /tmp/state.b $STATE
    l=$(grep -iE 'orphan|owner .*gone|given back|disconnected' $DLOG | head -2)
    check "after SIG$sig + start: no orphan handling logged${l:+: $(one "$l")}" test -z "$l"
done
kill -TERM $HPID; wait $HPID; hrc=$?
check "the holder exits with status 0 on SIGTERM (got $hrc)" test $hrc = 0
gone=no
for _ in $(seq 150); do rexists $RB || { gone=yes; break; }; sleep 0.2; done
check "$RB is released once its holder left the bus" test $gone = yes
if wait_driver $MA e1000e 30 && wait_driver $MB e1000e 30; then ok "both given back to e1000e"; else fail "given back to e1000e: $MA=$(drv $MA) $MB=$(drv $MB)"; fi

# --- e. restart while degraded ---------------------------------------------------------------
section "e. restart while degraded: $FA + $FB prepared, $FB removed"
reserve vm-e $FA:true $FB:true; RE=$RID
rcall $RE Prepare; expect_ok "Prepare $RE"
check_drivers "both on vfio-pci" vfio-pci $FA $FB
# control 1: the trace sees a reset ($FA is prepared, no guest); SERR#
# survives it (the kernel restores the config space it saved)
mark $FA
trace_mark
echo 1 > $P/$FA/reset
r=$(resets)
check "control: a reset of $FA by hand (reset_method '$(attr $FA reset_method)') is in the trace: $(echo "$r" | head -2 | tr '\n' '|')" \
    has "$r" '__pci_reset_function_locked'
note "SERR# of $FA after that reset: $(serr $FA) (restored by pci_dev_restore)"
echo 1 > $P/$FB/remove
if wait_state $RE degraded 30; then ok "$RE degraded while $FB is gone"; else fail "$RE degraded (got '$ST')"; fi
trace_mark
restart TERM
check_no_reset "the restart while degraded"
check "after the restart: $RE still degraded (got '$(rstate $RE)')" test "$(rstate $RE)" = degraded
le=$(rlasterr $RE)
check "after the restart: LastError names $FB ('$le')" has "$le" "$FB"
check "after the restart: return_to prepared in state.json ($(sfield $RE 'r.get("return_to")'))" \
    test "$(sfield $RE 'r.get("return_to")')" = prepared
check_drivers "after the restart: $FA still on vfio-pci" vfio-pci $FA
trace_mark
echo 1 > /sys/bus/pci/rescan
check "$FB is back after rescan" test -e $P/$FB
if wait_state $RE prepared 60 && wait_driver $FB vfio-pci 30; then
    ok "$RE is prepared again (its saved return_to), $FB on vfio-pci"
else
    fail "$RE prepared again with $FB on vfio-pci: state '$ST', $FB on '$(drv $FB)'"
fi
check_drivers "both on vfio-pci" vfio-pci $FA $FB
r=$(resets)
check "control: the Prepare again (no guest) resets, and the trace sees it: $(echo "$r" | grep -F __pci_reset_function_locked | head -2 | tr '\n' '|')" \
    has "$r" '__pci_reset_function_locked'
check "LastError cleared ('$(rlasterr $RE)')" test -z "$(rlasterr $RE)"
rcall $RE Unprepare; expect_ok "Unprepare $RE"
check_drivers "both back on e1000e" e1000e $FA $FB
rcall $RE Release; expect_ok "Release $RE"

# --- f. missing at start-up ------------------------------------------------------------------
section "f. missing at start-up: $FB reserved, removed while the daemon is down"
reserve vm-f $FB:true; RF=$RID
stop_daemon
echo 1 > $P/$FB/remove
check "$FB removed while the daemon is down" test ! -e $P/$FB
sigmark
start_daemon
sleep 1
check "$RF is degraded, not reserved (got '$(rstate $RF)')" test "$(rstate $RF)" = degraded
le=$(rlasterr $RF)
check "LastError names $FB ('$le')" has "$le" "$FB"
s=$(signals)
conf=$(grep 'member=Conflict' <<< "$s" | grep -F "\"$FB\"")
note "Conflict: $(one "$conf")"
check "one Conflict($FB, $RF) ($(grep -c . <<< "$conf") seen)" \
    test -n "$conf" -a "$(grep -c . <<< "$conf")" = 1
check "the Conflict names $RF and says 'not present at start-up'" has "$conf" "\"$RF\".*not present at start-up"
nline=$(grep -n 'member=NameOwnerChanged' <<< "$s" | grep -E 'string "org.pciassign1" +string "" +string ":' | tail -1 | cut -d: -f1)
cline=$(grep -n 'member=Conflict' <<< "$s" | grep -F "\"$FB\"" | head -1 | cut -d: -f1)
check "the Conflict came after the daemon took its name (NameOwnerChanged at message $nline, Conflict at $cline)" \
    test -n "$nline" -a -n "$cline" -a "${cline:-0}" -gt "${nline:-0}"
echo 1 > /sys/bus/pci/rescan
if wait_state $RF reserved 30; then ok "$RF reserved again once $FB is back"; else fail "$RF reserved again (got '$ST')"; fi
check_drivers "$FB on e1000e" e1000e $FB
rcall $RF Release; expect_ok "Release $RF"

# --- the end ------------------------------------------------------------------------------
section "clean up"
r=$(timeout 30 busctl --system call org.pciassign1 /org/pciassign1 org.pciassign1.Manager ListReservations 2>&1)
check "no reservations left ($r)" test "$r" = "a(ssso) 0"
SNAP1=$(snapshot)
d=$(diff <(echo "$SNAP0") <(echo "$SNAP1"))
check "every PCI function is on the driver it had at the start, no override left${d:+: $(echo "$d" | grep '^[<>]' | head -4 | tr '\n' ' ')}" \
    test -z "$d"
check "pci-assignd #$NDAEMON is still running" daemon_alive
stop_daemon
kill $MONPID 2> /dev/null
cp /tmp/daemon-*.log /tmp/signals.log /tmp/holder.out /tmp/hold.out $OUT/ 2> /dev/null
dmesg > $OUT/dmesg.txt
note "timing: scenario $(( ($(now_ms) - T_START) / 1000 )) s in the guest"
summary
