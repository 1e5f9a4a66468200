#!/bin/bash
# Guest scenario "reboot" (issue 16 items 2 and 3), under Debian's systemd
# as PID 1 (vm-mode systemd, the tree installed by host/reboot.sh), two boots
# (vm-reboot; the state directory /var/lib/pci-assignd is /vmout/state).
# boot 1:
#  K. kill -9 of the real daemon at every sysfs write of Detach, Reattach and
#     the takeover rebind of 0000:02:00.0 (e1000e alone in its group), the
#     daemon run by hand (its own STATE_DIRECTORY/RUNTIME_DIRECTORY; the unit
#     masked meanwhile): `strace -f -p PID -P <the function's driver_override
#     and reset, the drivers' bind/unbind, drivers_probe>
#     -e inject=write:signal=SIGKILL:when=N` attached to the running daemon
#     kills it at its N-th write to those files (N = 1 .. the count a run
#     without injection wrote), and once more at the removal of
#     operations.json (inject=unlinkat, -P of the runtime directory: the
#     daemon unlinks it relative to a directory fd), i.e. after the last
#     write. strace
#     delivers SIGKILL at the write's syscall entry: the kernel sees the
#     fatal signal and does not execute it (checked: the state right after
#     each kill is the one of writes 1..N-1). Each time: a plain restart;
#     operations.json gone; the log says "Interrupted OP of ADDR completed"
#     or "rolled back" as pci-assignd(8) AT START says for the state at the
#     kill; the function on e1000e with driver_override (null) or on
#     vfio-pci with override vfio-pci; then Reattach/Unprepare gives it back.
#  R. the shipped unit: R_a = 0b:00.0 + 0b:00.1 prepared and in-use; R_c =
#     the scenario's own e1000e at 03:00.0 (vm-extra, root port rp3)
#     prepared; R_b = 02:00.0 prepared, then an Unprepare with
#     PCI_ASSIGND_TEST_CRASH=unprepare:1 (drop-in, Restart=no, unit masked
#     after): the daemon dies with the journal in state.json before it gives
#     02:00.0 back; with the daemon down, host/reboot-during.sh replaces the
#     e1000e at 03:00.0 by an e1000 (HMP device_del + device_add: QEMU keeps
#     its command line across the guest's warm reset, so the swap is done in
#     boot 1 after the daemon's last run); reboot.
# boot 2 (pci-assignd.service enabled, started at boot):
#  (a) "The host was rebooted since the last start"; R_a prepared (event
#      reboot), both functions on vfio-pci; last-boot is this boot's ID;
#  (b) R_b reserved, 02:00.0 on the e1000e the kernel bound at boot (one
#      e1000e probe of it in the kernel log), driver_override (null);
#  (c) R_c degraded, LastError names 0000:03:00.0, the e1000 left on e1000,
#      nothing bound to vfio-pci;
#  then Unprepare/Release of everything.
# vm-mode: systemd
# vm-reboot: yes
# vm-timeout: 900
# vm-extra: -device e1000e,bus=rp3,id=swap0,mac=52:54:00:00:08:00
. /vmtest/guest/lib.sh
PY=/usr/bin/python3
CTL=/usr/bin/pci-assignctl
DAEMON=/usr/sbin/pci-assignd
UNIT=pci-assignd.service
STATE=/var/lib/pci-assignd
MA=0000:0b:00.0; MB=0000:0b:00.1          # multifunction e1000e, one group (root port 00:0c.0)
A=0000:02:00.0                            # e1000e alone in its group (root port 00:07.0)
C=0000:03:00.0                            # this scenario's e1000e on rp3 (an e1000 at boot 2)
D=/sys/bus/pci/drivers
BOOT=$(cat $OUT/boot)
note() { echo "    $*"; }
section() { echo "--- boot $BOOT: $* (uptime $(uptime_s))"; }
has() { grep -qE -- "$2" <<< "$1"; }
one() { local l=${1%%$'\n'*}; echo "${l:0:300}"; }
timed() {
    local t0; t0=$(date +%s%N)
    COUT=$("$@" 2>&1); RC=$?
    MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
expect_ok() { if [ $RC = 0 ]; then ok "$1 ($MS ms)"; else fail "$1: rc=$RC: $(one "$COUT")"; fi; }
attr() { local v=""; [ -r "$P/$1/$2" ] && read -r v < "$P/$1/$2"; echo "$v"; }
where() { echo "$(drv $1)/$(attr $1 driver_override)"; }
check_drivers() {  # DESCRIPTION WANT ADDR...
    local d=$1 want=$2 a x got="" bad=0; shift 2
    for a in "$@"; do x=$(drv $a); got="$got $a=$x"; [ "$x" = "$want" ] || bad=1; done
    if [ $bad = 0 ]; then ok "$d:$got"; else fail "$d: want ${want:-no driver},$got"; fi
}
rstate() { timeout 60 $CTL reservations --lines 2> /dev/null | awk -v id="$1" '$1 == id { print $2; exit }'; }
wait_rstate() {  # ID STATE SECONDS
    local end=$((SECONDS + $3)); ST=""
    while [ $SECONDS -lt $end ]; do ST=$(rstate "$1"); [ "$ST" = "$2" ] && return 0; sleep 0.5; done
    return 1
}
reserve() {  # OWNER ADDR...: RID
    timed timeout 90 $CTL reserve "$@"
    RID=$(sed -n 's/^Reserved \([^ ]*\) .*/\1/p' <<< "$COUT")
    if [ $RC = 0 ] && [ -n "$RID" ]; then ok "reserve $* -> $RID ($MS ms)"
    else fail "reserve $*: rc=$RC: $(one "$COUT")"; RID=none; fi
}
uprop() { systemctl show -p "$1" --value $UNIT; }
wait_active() {
    local end=$(( $(date +%s) + $1 ))
    while [ "$(date +%s)" -lt $end ]; do
        [ "$(uprop ActiveState)/$(uprop SubState)" = active/running ] && return 0
        sleep 0.5
    done
    return 1
}
lasterr() {
    timeout 30 busctl --system get-property org.pciassign1 "/org/pciassign1/reservation/$1" \
        org.pciassign1.Reservation LastError 2> /dev/null
}

if [ "$BOOT" = 1 ]; then
# =================================================================================== boot 1
udevadm settle --timeout=120
check "PID 1 is systemd" test "$(cat /proc/1/comm)" = systemd
check "strace is there ($(strace -V 2> /dev/null | head -1))" command -v strace
check_drivers "at boot: the functions on e1000e" e1000e $A $MA $MB $C
note "$A: group $(grp $A) ($(ls /sys/kernel/iommu_groups/$(grp $A)/devices | tr '\n' ' ')), reset_method '$(attr $A reset_method)'"
cp /proc/sys/kernel/random/boot_id $OUT/boot1-id

# --- K. kill -9 at every sysfs write --------------------------------------------------------
section "K. kill -9 at every sysfs write of Detach, Reattach, takeover ($A)"
systemctl mask --runtime --now $UNIT > /dev/null 2>&1
modprobe vfio-pci
check "vfio-pci is loaded" test -d $D/vfio-pci
export STATE_DIRECTORY=/tmp/kp-state RUNTIME_DIRECTORY=/tmp/kp-run
mkdir -p $STATE_DIRECTORY $RUNTIME_DIRECTORY
OPS=$RUNTIME_DIRECTORY/operations.json
DPID=""; NDAEMON=0
start_daemon() {
    NDAEMON=$((NDAEMON + 1)); DLOG=/tmp/kp-daemon-$NDAEMON.log
    "$DAEMON" > $DLOG 2>&1 &
    DPID=$!
    local end=$((SECONDS + 90))
    while [ $SECONDS -lt $end ]; do
        timeout 5 busctl --system status org.pciassign1 > /dev/null 2>&1 && return 0
        kill -0 $DPID 2> /dev/null || break
        sleep 0.2
    done
    fail "pci-assignd #$NDAEMON owns org.pciassign1"; tail -5 $DLOG | sed 's/^/    log: /'
    return 1
}
stop_daemon() { [ -n "$DPID" ] && { kill -TERM $DPID; wait $DPID 2> /dev/null; }; DPID=""; }
# the files a rebind of $A writes; strace resolves the symlinks (-P)
PATHS=(-P $P/$A/driver_override -P $P/$A/reset -P $D/e1000e/unbind -P $D/vfio-pci/unbind
       -P $D/e1000e/bind -P $D/vfio-pci/bind -P /sys/bus/pci/drivers_probe)
SPID=""
# attach INJECT...: strace attached to every thread of the daemon
attach() {
    SLOG=/tmp/kp-strace-$NDAEMON.log
    strace -f -y -p $DPID -o $SLOG -e trace=write,unlinkat "$@" > /tmp/kp-strace.err 2>&1 &
    SPID=$!
    for _ in $(seq 100); do
        grep -q 'attached' /tmp/kp-strace.err && { sleep 0.5; return 0; }
        sleep 0.1
    done
    fail "strace attached to pid $DPID: $(tr '\n' ' ' < /tmp/kp-strace.err)"
}
detach_strace() { [ -n "$SPID" ] && { kill -INT $SPID 2> /dev/null; wait $SPID 2> /dev/null; }; SPID=""; }
# sysfs writes in an strace log: "PATH<-VALUE" each, in order
writes() { grep -E '\) = [0-9]+$' "$1" | sed -n 's/^[0-9]* *write([0-9]*<\([^>]*\)>, "\([^"]*\)".*/\1<-\2/p' | sed 's|^/sys/devices/.*/||; s|^/sys/bus/pci/||; s|\\n||'; }
# wait_dead SECONDS: the daemon was killed
wait_dead() {
    local end=$((SECONDS + $1))
    while [ $SECONDS -lt $end ]; do kill -0 $DPID 2> /dev/null || { wait $DPID 2> /dev/null; KST=$?; return 0; }; sleep 0.2; done
    return 1
}
# after_kill OP DESC: restart, reconcile, check against the AT START rules
# for the state at the kill (AFTER_KILL = driver/override right then)
after_kill() {
    local op=$1 desc=$2 drv0=${AFTER_KILL%%/*} want how l
    detach_strace
    check "$desc: killed (status $KST = 128+SIGKILL), operations.json left behind" test "$KST" = 137 -a -s $OPS
    case $op in
        detach)   if [ "$drv0" = vfio-pci ]; then how=completed; else how="rolled back"; fi ;;
        reattach) if [ "$drv0" = vfio-pci ]; then how="rolled back"; else how=completed; fi ;;
        takeover) how=completed ;;
    esac
    case "$op/$how" in
        detach/completed|reattach/rolled\ back|takeover/completed) want=vfio-pci/vfio-pci ;;
        *) want="e1000e/(null)" ;;
    esac
    start_daemon || return
    l=$(grep -E "Interrupted $op of $A (completed|rolled back)" $DLOG | head -1)
    check "$desc: restart: '$l' (want $how)" has "$l" "Interrupted $op of $A $how"
    check "$desc: operations.json gone" test ! -e $OPS
    check "$desc: $A is $(where $A) (want $want)" test "$(where $A)" = "$want"
}
# kill_points OP N SETUP CALL CLEANUP: for K = 1..N kill at the K-th write,
# then K = N+1 at the journal's removal (after the last write)
kill_points() {
    local op=$1 n=$2 setup=$3 call=$4 cleanup=$5 k inj desc
    for k in $(seq 1 $((n + 1))); do
        $setup
        if [ $k -le $n ]; then inj=(-e inject=write:signal=SIGKILL:when=$k "${PATHS[@]}"); desc="$op: kill at write $k/$n"
        else inj=(-e inject=unlinkat:signal=SIGKILL:when=1 "${PATHS[@]}" -P $RUNTIME_DIRECTORY); desc="$op: kill after the last write (removal of operations.json)"; fi
        attach "${inj[@]}"
        $call
        if ! wait_dead 60; then fail "$desc: the daemon was not killed"; detach_strace; stop_daemon; start_daemon; $cleanup; continue; fi
        AFTER_KILL=$(where $A)
        local w; w=$(writes $SLOG | tr '\n' ' ')
        note "$desc: writes done before the kill: ${w:-none}; $A right after it: $AFTER_KILL"
        # the K-th write was not executed: the state is that of writes 1..K-1
        if [ $k -le $n ]; then
            check "$desc: strace's log ends with the K-th write unfinished and the kill" \
                eval "tail -3 $SLOG | grep -q 'killed by SIGKILL'"
            [ -n "${EXPECT_AT[$k]:-}" ] && check "$desc: the write was not executed: $A is $AFTER_KILL as after write $((k - 1)) (${EXPECT_AT[$k]})" \
                test "$AFTER_KILL" = "${EXPECT_AT[$k]}"
        fi
        after_kill $op "$desc"
        $cleanup
    done
}
call_detach()   { timeout 60 $CTL detach $A > /dev/null 2>&1 & }
call_reattach() { timeout 60 $CTL reattach $A > /dev/null 2>&1 & }
call_takeover() {  # a host driver takes the prepared function, by hand
    echo > $P/$A/driver_override; echo $A > $D/vfio-pci/unbind; echo $A > /sys/bus/pci/drivers_probe
}
give_back() {   # whatever the kill left: Reattach if on vfio-pci
    if [ "$(drv $A)" = vfio-pci ]; then timed timeout 60 $CTL reattach $A; expect_ok "then reattach $A"; fi
    check "then $A is e1000e/(null)" test "$(where $A)" = "e1000e/(null)"
}
noop() { :; }
detached() { if [ "$(drv $A)" != vfio-pci ]; then timeout 60 $CTL detach $A > /dev/null 2>&1; fi; }
prepared() { timeout 90 $CTL prepare $RK > /dev/null 2>&1; }
unprepare_k() {
    wait_rstate $RK prepared 30 || fail "takeover: $RK prepared again after the restart (got '$ST')"
    timed timeout 90 $CTL unprepare $RK; expect_ok "then unprepare $RK"
    check "then $A is e1000e/(null)" test "$(where $A)" = "e1000e/(null)"
}
# states after each write (what the K-th kill must find when write K is not executed)
declare -A EXPECT_AT

start_daemon
# runs without injection: how many writes each operation makes
attach "${PATHS[@]}"
timed timeout 60 $CTL detach $A; expect_ok "detach $A (strace attached, no injection)"
detach_strace; WD=$(writes $SLOG); ND=$(grep -c . <<< "$WD")
note "Detach writes: $(echo $WD)"
attach "${PATHS[@]}"
timed timeout 60 $CTL reattach $A; expect_ok "reattach $A (strace attached, no injection)"
detach_strace; WR=$(writes $SLOG); NR=$(grep -c . <<< "$WR")
note "Reattach writes: $(echo $WR)"
check "Detach wrote $ND times, Reattach $NR times to the function's files" test "$ND" -ge 3 -a "$NR" -ge 3
check "$A is e1000e/(null) after them" test "$(where $A)" = "e1000e/(null)"
T0=$(now_ms)
# detach: override -> unbind e1000e -> drivers_probe -> (reset)
EXPECT_AT=([1]="e1000e/(null)" [2]="e1000e/vfio-pci" [3]="/vfio-pci" [4]="vfio-pci/vfio-pci")
kill_points detach $ND noop call_detach give_back
# reattach (from vfio-pci/vfio-pci): clear override -> unbind vfio-pci -> drivers_probe
EXPECT_AT=([1]="vfio-pci/vfio-pci" [2]="vfio-pci/(null)" [3]="/(null)")
kill_points reattach $NR detached call_reattach give_back
# takeover: prepared reservation, a host driver takes it by hand
reserve vm-k $A; RK=$RID
prepared
check "$RK prepared, $A on vfio-pci/vfio-pci" test "$(rstate $RK)/$(where $A)" = prepared/vfio-pci/vfio-pci
attach "${PATHS[@]}"
call_takeover
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do [ "$(where $A)/$(rstate $RK)" = vfio-pci/vfio-pci/prepared ] && break; sleep 0.5; done
detach_strace; WT=$(writes $SLOG); NT=$(grep -c . <<< "$WT")
note "takeover writes: $(echo $WT)"
check "takeover (no injection): back on vfio-pci/vfio-pci, $RK prepared, $NT writes" \
    test "$(where $A)/$(rstate $RK)" = vfio-pci/vfio-pci/prepared -a "$NT" -ge 3
EXPECT_AT=([1]="e1000e/(null)" [2]="e1000e/vfio-pci" [3]="/vfio-pci" [4]="vfio-pci/vfio-pci")
kill_points takeover $NT prepared call_takeover unprepare_k
note "kill points: $(( ($(now_ms) - T0) / 1000 )) s"
timed timeout 60 $CTL release $RK; expect_ok "release $RK"
stop_daemon
unset STATE_DIRECTORY RUNTIME_DIRECTORY

# --- R. the unit: state to carry across the reboot --------------------------------------------
section "R. before the reboot (the shipped unit)"
systemctl unmask --runtime $UNIT > /dev/null 2>&1
timed systemctl start $UNIT; expect_ok "systemctl start $UNIT"
reserve vm-a $MA $MB; RA=$RID
timed timeout 180 $CTL prepare $RA; expect_ok "prepare $RA"
timed timeout 60 $CTL set-in-use $RA yes; expect_ok "set-in-use $RA yes"
check "$RA in-use" test "$(rstate $RA)" = in-use
reserve vm-c $C; RC_=$RID
timed timeout 180 $CTL prepare $RC_; expect_ok "prepare $RC_ ($C)"
reserve vm-b $A; RB=$RID
timed timeout 180 $CTL prepare $RB; expect_ok "prepare $RB ($A)"
check_drivers "prepared" vfio-pci $MA $MB $A $C
mkdir -p /run/systemd/system/$UNIT.d
printf '[Service]\nEnvironment=PCI_ASSIGND_TEST_CRASH=unprepare:1\nRestart=no\n' > /run/systemd/system/$UNIT.d/crash.conf
systemctl daemon-reload
timed systemctl restart $UNIT; expect_ok "systemctl restart $UNIT with PCI_ASSIGND_TEST_CRASH=unprepare:1"
wait_active 60
check "after the restart (same boot): $RA still in-use" test "$(rstate $RA)" = in-use
# nothing may start the daemon again before the reboot
systemctl mask --runtime $UNIT > /dev/null 2>&1
timed timeout 120 $CTL unprepare $RB
note "unprepare $RB with the crash hook: rc=$RC: $(one "$COUT")"
sleep 2
check "the daemon died ($UNIT $(uprop ActiveState))" test "$(uprop ActiveState)" != active
check "state.json holds $RB's Unprepare journal" \
    $PY -c 'import json,sys; r=[r for r in json.load(open(sys.argv[1]))["reservations"] if r["id"]==sys.argv[2]][0]; sys.exit(not (r.get("journal") and r["journal"]["operation"]=="unprepare"))' $STATE/state.json $RB
check "$A still on vfio-pci (step 1, its give-back, not done)" test "$(drv $A)" = vfio-pci
echo "$RA $RB $RC_" > $OUT/boot1-reservations
# the device swap at 03:00.0, by the host step
echo "VMTEST: SWAP-READY"
end=$((SECONDS + 120))
while [ $SECONDS -lt $end ]; do
    [ "$(attr $C device)" = 0x100e ] && [ "$(drv $C)" = e1000 ] && break
    sleep 0.5
done
check "$C is now an e1000 (device $(attr $C device), driver $(drv $C))" test "$(attr $C device)/$(drv $C)" = 0x100e/e1000
echo $UNIT > $OUT/enable-units
echo "$PASSED $FAILED" > $OUT/counts-boot1
echo "boot 1: $PASSED passed, $FAILED failed; rebooting"
sync
systemctl start --no-block --job-mode=replace-irreversibly reboot.target
sleep 600
exit 1
fi

# =================================================================================== boot 2
read -r RA RB RC_ < $OUT/boot1-reservations
read -r PASSED FAILED < $OUT/counts-boot1
section "after the reboot"
wait_active 120
check "$UNIT active (started at boot)" test "$(uprop ActiveState)" = active
J=$(journalctl -b -u $UNIT -o cat --no-pager)
echo "$J" | grep -E "rebooted|Interrupted|again|$RB|$RC_|Ready" | head -20 | sed 's/^/    journal: /'
check "(a) the journal: 'The host was rebooted since the last start'" has "$J" 'The host was rebooted since the last start'
check "last-boot holds this boot's ID, not boot 1's" \
    test "$(cat $STATE/last-boot)" = "$(cat /proc/sys/kernel/random/boot_id)" -a "$(cat $STATE/last-boot)" != "$(cat $OUT/boot1-id)"
check "(a) $RA (in-use before the reboot) is prepared" test "$(rstate $RA)" = prepared
check_drivers "(a) its functions on vfio-pci" vfio-pci $MA $MB
AF=$OUT/after-boot2.txt
check "(a) ... already when a unit ordered After=$UNIT started" grep -qx "driver $MA vfio-pci" $AF
check "(b) $RB (Unprepare interrupted before the reboot) is reserved" test "$(rstate $RB)" = reserved
check "(b) $A on e1000e, driver_override (null): $(where $A)" test "$(where $A)" = "e1000e/(null)"
np=$(dmesg | grep -c "e1000e $A .*Intel(R) PRO/1000 Network Connection")
check "(b) the kernel probed e1000e on $A once in this boot ($np): nothing unbound it" test "$np" = 1
check "(b) state.json has no journal any more" \
    $PY -c 'import json,sys; sys.exit(any(r.get("journal") for r in json.load(open(sys.argv[1]))["reservations"]))' $STATE/state.json
check "(c) $RC_ (another device model at $C now) is degraded" test "$(rstate $RC_)" = degraded
le=$(lasterr $RC_)
check "(c) its LastError names $C: $le" has "$le" "$C"
check "(c) $C left on e1000, driver_override (null): $(where $C)" test "$(where $C)" = "e1000/(null)"
check "(c) nothing bound for $RC_ in the journal" eval '! grep -q "Reservation $RC_: .* bound to vfio-pci again" <<< "$J"'
section "clean-up"
timed timeout 180 $CTL unprepare $RA; expect_ok "unprepare $RA"
check_drivers "given back" e1000e $MA $MB
for r in $RA $RB; do timed timeout 60 $CTL release $r; expect_ok "release $r"; done
# Release of the degraded $RC_, whose address now holds another device
# model: that device is not ours, nothing is written to it
np0=$(dmesg | grep -c "e1000 $C.*Intel(R) PRO/1000 Network Connection")
timed timeout 60 $CTL release $RC_; expect_ok "release $RC_ (another device at $C): nothing touched"
np1=$(dmesg | grep -c "e1000 $C.*Intel(R) PRO/1000 Network Connection")
check "e1000 was not probed on $C again by the Release ($np0 -> $np1 probes)" test "$np0" = "$np1" -a "$np0" -ge 1
check "$C on e1000 after it: $(where $C)" test "$(where $C)" = "e1000/(null)"
summary
