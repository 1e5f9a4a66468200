#!/bin/bash
# Guest scenario "shipping": the project as a distribution ships it.
# The host pre-step (tests/vm/host/shipping.sh, run by run-test.sh) ran
# `meson install --destdir /vmout/destdir` with prefix /usr; here that tree is
# copied into the guest's root (the tmpfs overlay) and the real system bus
# (dbus-daemon --system, Debian's system.conf, the setuid launch helper) and
# the real polkitd are started. Then:
#  1. D-Bus activation: the first call to org.pciassign1 starts the installed
#     pci-assignd through the installed activation file and dbus-daemon's
#     launch helper (systemd is not PID 1 here, so SystemdService= is unused);
#  2. an unprivileged user's Reserve is refused by polkit (the shipped
#     defaults, auth_admin, and no authentication agent); nothing is reserved;
#  3. root's Reserve succeeds (uid 0 needs no polkit), lands in
#     /var/lib/pci-assignd/state.json, survives the daemon's exit and a second
#     activation, and is released;
#  4. polkit rules that grant the shipped actions to local users are honoured
#     (reserve: own reservations; manage: anyone's, and it implies reserve);
#  5. unprivileged read-only calls work;
#  6. systemd-analyze verify of the installed unit.
# What cannot be exercised without systemd as PID 1 is printed at the end.
. /vmtest/guest/lib.sh
DEST=$OUT/destdir
CTL=/usr/bin/pci-assignctl          # the installed client, not $BUILD_DIR's
DAEMON=/usr/sbin/pci-assignd
STATE=/var/lib/pci-assignd
LH=/usr/lib/dbus-1.0/dbus-daemon-launch-helper
A=0000:02:00.0                      # e1000e behind root port 00:07.0, alone in its group
PY=/usr/bin/python3
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
USER_R="setpriv --reuid=4242 --regid=4242 --clear-groups"   # polkit rule: reserve
USER_M="setpriv --reuid=4243 --regid=4243 --clear-groups"   # polkit rule: manage
note() { echo "    $*"; }
# has TEXT REGEX: a line of TEXT matches the extended REGEX
has() { grep -qE -- "$2" <<< "$1"; }
ctl() { timeout 90 "$CTL" "$@"; }
# reservations as "ID OWNER OWNER_UID STATE" lines (root's view)
resv() { ctl --json reservations | $PY -c '
import json, sys
for r in json.load(sys.stdin):
    print(r.get("Id"), r.get("Owner"), r.get("OwnerUID"), r.get("State"))'; }
daemon_pid() { busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    GetConnectionUnixProcessID s org.pciassign1 2> /dev/null | awk '{print $2}'; }
# expect_error DESCRIPTION ERROR-NAME TEXT COMMAND...: the command fails and
# its output names ERROR-NAME and contains TEXT
expect_error() {
    local d=$1 name=$2 text=$3 out rc; shift 3
    out=$("$@" 2>&1); rc=$?
    if [ $rc != 0 ] && [[ $out == *"$name"* ]] && [[ $out == *"$text"* ]]; then
        ok "$d: $(echo "$out" | head -1)"
    else
        fail "$d: want $name ($text), got rc=$rc: $(echo "$out" | head -2)"
    fi
}

# --- host pre-step: meson install --destdir ------------------------------------
if [ -f $OUT/host.log ]; then
    while IFS= read -r l; do
        case $l in
            "ok - "*) ok "${l#ok - }" ;;
            "FAIL - "*) fail "${l#FAIL - }" ;;
            "    installed: "*) ;;
            "    "*) echo "$l" ;;
        esac
    done < $OUT/host.log
fi
if [ "${HOST_RC:-}" != 0 ] || [ ! -d $DEST ]; then
    fail "host pre-step tests/vm/host/shipping.sh (HOST_RC=${HOST_RC:-unset}): no destdir to install"
    summary; exit 1
fi

# --- install into / -------------------------------------------------------------
# A package's files are root-owned whoever built it. --keep-directory-symlink:
# /lib is a symlink to usr/lib here (merged /usr); --no-overwrite-dir: leave the
# modes of /usr, /usr/share, ... alone.
rm -rf $STATE /run/pci-assignd     # the host's state, if any, is not ours
if (cd $DEST && tar --owner=0 --group=0 -cf - .) \
        | tar -C / --keep-directory-symlink --no-overwrite-dir -xpf -; then
    ok "destdir copied into the guest's / ($(cd $DEST && find . ! -type d | wc -l) files, root:root)"
else
    fail "copying the destdir into /"
fi
missing=""
for f in $DAEMON $CTL /usr/share/dbus-1/system.d/org.pciassign1.conf \
         /usr/share/dbus-1/system-services/org.pciassign1.service \
         /usr/share/polkit-1/actions/org.pciassign1.policy /lib/systemd/system/pci-assignd.service; do
    cmp -s "$f" "$DEST$f" 2> /dev/null || cmp -s "$f" "$DEST/usr$f" 2> /dev/null || missing="$missing $f"
done
if [ -z "$missing" ]; then
    ok "installed where dbus-daemon, polkitd and systemd read them (/usr/share/dbus-1/system.d, .../system-services, /usr/share/polkit-1/actions, /lib/systemd/system)"
else
    fail "not installed where the readers look:$missing"
fi
check "no project bus policy in /etc/dbus-1/system.d (only the installed /usr/share one counts)" \
    test ! -e /etc/dbus-1/system.d/org.pciassign1.conf
SVC=/usr/share/dbus-1/system-services/org.pciassign1.service
exec_line=$(sed -n 's/^Exec=//p' $SVC)
check "activation file: Exec=$exec_line is the installed daemon" test "$exec_line" = $DAEMON -a -x $DAEMON
check "activation file: Name=org.pciassign1, User=root, file named after the name (launch helper rule)" \
    test "$(sed -n 's/^Name=//p' $SVC)" = org.pciassign1 -a "$(sed -n 's/^User=//p' $SVC)" = root
check "unit: ExecStart=$DAEMON" grep -qx "ExecStart=$DAEMON" /lib/systemd/system/pci-assignd.service

# --- the setuid launch helper through 9p + overlay -------------------------------
st=$(stat -c '%U:%G %a' $LH 2> /dev/null)
if [ "$st" = "root:messagebus 4754" ]; then
    ok "launch helper $LH: $st as on the host (setuid survives 9p multidevs=remap + overlay)"
else
    # copy it into the overlay with the owner and mode Debian gives it
    cp $LH /tmp/lh && install -o root -g messagebus -m 4754 /tmp/lh $LH
    st2=$(stat -c '%U:%G %a' $LH)
    check "launch helper $LH was '$st' through 9p; reinstalled in the overlay as '$st2'" \
        test "$st2" = "root:messagebus 4754"
fi
case ",$(findmnt -n -o OPTIONS /)," in
    *,nosuid,*) fail "/ is mounted nosuid: the launch helper cannot be setuid" ;;
    *) ok "/ ($(findmnt -n -o FSTYPE /)) is not nosuid" ;;
esac

# --- test users and polkit rules ----------------------------------------------------
# Local users that a site's polkit rules authorize, the way an administrator
# grants the shipped actions (polkit(8), "AUTHORIZATION RULES").
echo 'pcauser:x:4242:4242:pci-assignd vmtest:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
echo 'pcaadmin:x:4243:4243:pci-assignd vmtest:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
printf 'pcauser:x:4242:\npcaadmin:x:4243:\n' >> /etc/group
cat > /etc/polkit-1/rules.d/50-pci-assignd-vmtest.rules <<'EOF'
polkit.addRule(function(action, subject) {
    if (action.id == "org.pciassign1.reserve" && subject.user == "pcauser")
        return polkit.Result.YES;
    if (action.id == "org.pciassign1.manage" && subject.user == "pcaadmin")
        return polkit.Result.YES;
});
EOF

# --- udev, the system bus, polkitd ----------------------------------------------------
start_udev pci
g=$(grp $A)
check "$A is alone in IOMMU group $g (e1000e)" \
    test "$(ls /sys/kernel/iommu_groups/$g/devices 2> /dev/null)" = $A -a "$(drv $A)" = e1000e
DRV0=$(drv $A)

# The real system bus: Debian's system.conf (user messagebus, the launch
# helper, <standard_system_servicedirs/>, includedir system.d). --nofork in
# the background instead of --fork only so that stderr, which activated
# services inherit, goes to a log file instead of /dev/null.
mkdir -p /run/dbus
t0=$(now_ms)
dbus-daemon --system --nofork > /tmp/dbus.log 2>&1 &
DBUS_PID=$!
if wait_for_name org.freedesktop.DBus 30; then
    ok "dbus-daemon --system (pid $DBUS_PID, user $(ps -o user= -p $DBUS_PID)) answers ($(( $(now_ms) - t0 )) ms)"
else
    fail "dbus-daemon --system starts"; cat /tmp/dbus.log; summary; exit 1
fi

# polkitd as Debian's polkit.service starts it: as root, it switches to the
# polkitd user itself.
t0=$(now_ms)
/usr/lib/polkit-1/polkitd --no-debug > /tmp/polkitd.log 2>&1 &
PK_PID=$!
if wait_for_name org.freedesktop.PolicyKit1 60; then
    ok "polkitd owns org.freedesktop.PolicyKit1 ($(( $(now_ms) - t0 )) ms)"
else
    fail "polkitd owns org.freedesktop.PolicyKit1 within 60 s"; cat /tmp/polkitd.log
fi
check "polkitd runs as user polkitd" test "$(ps -o user= -p $PK_PID)" = polkitd
out=$(timeout 30 pkaction --verbose --action-id org.pciassign1.reserve 2>&1)
if has "$out" 'implicit any: +auth_admin$' && has "$out" 'implicit active: +auth_admin_keep$'; then
    ok "polkitd loaded the installed action org.pciassign1.reserve (any: auth_admin, active: auth_admin_keep)"
else
    fail "pkaction --action-id org.pciassign1.reserve: $(echo "$out" | head -3)"
fi
out=$(timeout 30 pkaction --verbose --action-id org.pciassign1.manage 2>&1)
check "polkitd loaded org.pciassign1.manage, annotated imply -> org.pciassign1.reserve" \
    has "$out" 'org.freedesktop.policykit.imply -> org.pciassign1.reserve$'

# --- 1. D-Bus activation ---------------------------------------------------------------
check "no pci-assignd process before the first call" test -z "$(pgrep -x pci-assignd)"
check "org.pciassign1 has no owner before the first call" test -z "$(daemon_pid)"
check "org.pciassign1 is in ListActivatableNames" sh -c \
    'dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.ListActivatableNames | grep -q "\"org.pciassign1\""'
t0=$(now_ms)
out=$(timeout 120 busctl --system --timeout=100 call org.pciassign1 /org/pciassign1 \
      org.pciassign1.Manager ListDevices 2>&1)
n_sys=$(ls $P | wc -l)
n=$(echo "$out" | awk 'NR == 1 && $1 == "a(ssisso)" {print $2}')
if [ "$n" = "$n_sys" ]; then
    ok "first call (busctl ListDevices) activated the daemon and got $n functions ($(( $(now_ms) - t0 )) ms)"
else
    fail "busctl ListDevices through activation: want $n_sys functions, got: $(echo "$out" | head -c 300)"
fi
PID1=$(daemon_pid)
if [ -n "$PID1" ] && [ -d /proc/$PID1 ]; then
    ok "org.pciassign1 is owned by pid $PID1"
    check "pid $PID1 runs the installed binary ($(readlink /proc/$PID1/exe))" \
        test "$(readlink /proc/$PID1/exe)" = $DAEMON
    check "pid $PID1 runs as root (User=root via the setuid launch helper; dbus-daemon runs as $(ps -o user= -p $DBUS_PID))" \
        test "$(awk '/^Uid:/ {print $2 $3 $4 $5}' /proc/$PID1/status)" = 0000
    # (its parent is PID 1 by now: dbus-daemon's babysitter exits once the
    # activation succeeded, so dbus-daemon's own log is the witness)
    check "dbus-daemon started org.pciassign1 with its launch helper: $(grep -o "Activating service name='org.pciassign1'.*" /tmp/dbus.log | head -1)" \
        has "$(cat /tmp/dbus.log)" "Activating service name='org.pciassign1'.*\\(using servicehelper\\)"
    check "dbus-daemon: Successfully activated service 'org.pciassign1'" \
        has "$(cat /tmp/dbus.log)" "Successfully activated service 'org.pciassign1'"
    env1=$(tr '\0' '\n' < /proc/$PID1/environ)
    if has "$env1" '^DBUS_STARTER_BUS_TYPE=system$' && ! has "$env1" '^STATE_DIRECTORY='; then
        ok "activation environment: DBUS_STARTER_BUS_TYPE=system, no STATE_DIRECTORY (so the default $STATE)"
    else
        fail "activation environment: $(echo $env1)"
    fi
else
    fail "org.pciassign1 has an owner process after the first call (dbus log: $(tail -3 /tmp/dbus.log))"
fi
check "the daemon created $STATE (root, 0700)" test "$(stat -c '%U %a' $STATE 2> /dev/null)" = "root 700"
# the installed bus policy, read through the real system.conf
expect_error "nobody may not own org.pciassign1 (installed bus policy)" \
    org.freedesktop.DBus.Error.AccessDenied "" \
    $NOBODY dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.RequestName string:org.pciassign1 uint32:4

# --- 2. unprivileged Reserve: refused by polkit ---------------------------------------------
expect_error "nobody: reserve vm1 $A is refused by polkit" \
    org.freedesktop.DBus.Error.AccessDenied "not authorized for org.pciassign1.reserve" \
    $NOBODY timeout 90 $CTL reserve vm1 $A
expect_error "nobody: reserve --no-ask-password is refused" \
    org.freedesktop.DBus.Error.InteractiveAuthorizationRequired "org.pciassign1.reserve" \
    $NOBODY timeout 90 $CTL --no-ask-password reserve vm1 $A
r=$(resv 2>&1)
check "nothing is reserved after the refusals${r:+ (got: $r)}" test -z "$r"
check "$A still on $DRV0" test "$(drv $A)" = "$DRV0"

# --- 3. root: Reserve, persistence, re-activation, Release ------------------------------------
out=$(ctl reserve vm1 $A 2>&1); rc=$?
ID=$(echo "$out" | awk '/^Reserved / {print $2; exit}')
if [ $rc = 0 ] && [ -n "$ID" ]; then ok "root: $out"; else fail "root: reserve vm1 $A: rc=$rc: $out"; fi
r=$(resv 2>&1)
check "root: reservations shows $ID for vm1, owner uid 0: $r" has "$r" "^$ID vm1 0 "
check "$STATE/state.json exists, root 0600, names $ID" \
    test "$(stat -c '%U %a' $STATE/state.json 2> /dev/null)" = "root 600" -a -n "$(grep -F "\"$ID\"" $STATE/state.json)"
check "$A still on $DRV0 (Reserve does not detach)" test "$(drv $A)" = "$DRV0"

# the daemon exits; the next call activates it again, and it reloads the state
if [ -n "$PID1" ]; then
    kill -TERM "$PID1"
    for _ in $(seq 100); do [ -d /proc/$PID1 ] || break; sleep 0.1; done
    check "pci-assignd (pid $PID1) exits on SIGTERM and org.pciassign1 is released" \
        test ! -d /proc/$PID1 -a -z "$(daemon_pid)"
fi
t0=$(now_ms)
r=$($NOBODY timeout 120 $CTL reservations 2>&1)
PID2=$(daemon_pid)
if [ -n "$PID2" ] && [ "$PID2" != "$PID1" ] && has "$r" "^$ID "; then
    ok "nobody: reservations re-activated the daemon (pid $PID2, $(( $(now_ms) - t0 )) ms), which reloaded $ID"
else
    fail "nobody: reservations after the daemon exited: pid ${PID2:-none} (was $PID1): $r"
fi
expect_error "nobody: release $ID (root's reservation) is refused" \
    org.freedesktop.DBus.Error.AccessDenied "org.pciassign1.manage" \
    $NOBODY timeout 90 $CTL release $ID
check "$ID is still reserved" has "$(resv)" "^$ID "
out=$(ctl release $ID 2>&1)
check "root: release $ID ($out)" test $? = 0
r=$(resv 2>&1)
check "no reservations left${r:+ (got: $r)}" test -z "$r"
check "$STATE/state.json no longer names $ID" test -z "$(grep -F "\"$ID\"" $STATE/state.json)"

# --- 4. polkit rules for local users ----------------------------------------------------------
out=$($USER_R timeout 90 $CTL reserve vm2 $A 2>&1); rc=$?
ID2=$(echo "$out" | awk '/^Reserved / {print $2; exit}')
if [ $rc = 0 ] && [ -n "$ID2" ]; then
    ok "pcauser (rule: reserve): $out"
else
    fail "pcauser (polkit rule YES for org.pciassign1.reserve): reserve vm2 $A: rc=$rc: $out"
fi
check "$ID2 is owned by uid 4242" has "$(resv)" "^$ID2 vm2 4242 "
expect_error "nobody: release $ID2 (pcauser's) is refused" \
    org.freedesktop.DBus.Error.AccessDenied "org.pciassign1.manage" $NOBODY timeout 90 $CTL release $ID2
out=$($USER_M timeout 90 $CTL release $ID2 2>&1)
check "pcaadmin (rule: manage) releases pcauser's $ID2 ($out)" test $? = 0
out=$($USER_M timeout 90 $CTL reserve vm3 $A 2>&1); rc=$?
ID3=$(echo "$out" | awk '/^Reserved / {print $2; exit}')
if [ $rc = 0 ] && [ -n "$ID3" ]; then
    ok "pcaadmin: reserve vm3 is allowed (manage implies reserve): $out"
else
    fail "pcaadmin (rule: manage only): reserve vm3 $A, manage should imply reserve: rc=$rc: $out"
fi
expect_error "pcauser: release $ID3 (pcaadmin's) is refused (reserve covers own reservations only)" \
    org.freedesktop.DBus.Error.AccessDenied "org.pciassign1.manage" $USER_R timeout 90 $CTL release $ID3
out=$($USER_M timeout 90 $CTL release $ID3 2>&1)
check "pcaadmin releases its own $ID3 ($out)" test $? = 0
r=$(resv 2>&1)
check "no reservations left${r:+ (got: $r)}" test -z "$r"

# --- 5. unprivileged read-only calls ------------------------------------------------------------
out=$($NOBODY timeout 90 $CTL --no-legend list 2>&1); rc=$?
check "nobody: list ($(echo "$out" | wc -l) rows, one per PCI function: $n_sys)" \
    test $rc = 0 -a "$(echo "$out" | grep -c '^0000:')" = "$n_sys"
out=$($NOBODY timeout 90 $CTL check $A 2>&1); rc=$?
check "nobody: check $A ($(echo "$out" | head -1))" test $rc = 0 -a -n "$(echo "$out" | grep "^$A: assignable")"
check "$A still on $DRV0 at the end" test "$(drv $A)" = "$DRV0"

# --- 6. the installed unit --------------------------------------------------------------------------
UNIT=/lib/systemd/system/pci-assignd.service
out=$(timeout 120 systemd-analyze verify --man=no $UNIT 2>&1); rc=$?
if grep -q -e 'Failed to initialize manager' -e 'Failed to set up' <<< "$out"; then
    note "systemd-analyze verify $UNIT cannot run here: $(echo "$out" | head -1)"
else
    check "systemd-analyze verify --man=no $UNIT: rc=$rc, no output${out:+ (got: $(echo "$out" | head -3))}" \
        test $rc = 0 -a -z "$out"
fi
sec=$(timeout 120 systemd-analyze security --offline=yes $UNIT 2>&1 | grep -i 'overall exposure')
[ -n "$sec" ] && note "systemd-analyze security --offline=yes: $sec"

# --- clean up, logs -------------------------------------------------------------------------------
P_END=$(daemon_pid)
[ -n "$P_END" ] && kill -TERM "$P_END"
kill $PK_PID $DBUS_PID 2> /dev/null
sleep 0.5
cp /tmp/dbus.log /tmp/polkitd.log $OUT/ 2> /dev/null
cp $STATE/state.json $OUT/ 2> /dev/null
if [ -s /tmp/dbus.log ]; then
    echo "--- dbus-daemon and activated pci-assignd stderr (last lines)"; tail -15 /tmp/dbus.log
fi
note "Not exercised (systemd is not PID 1 in this guest, no logind, no polkit agent):"
note " - activation through SystemdService=pci-assignd.service (dbus-daemon --systemd-activation"
note "   hands the request to systemd); here dbus-daemon used Exec= and its launch helper."
note " - the unit at run time: Type=dbus readiness, StateDirectory=/RuntimeDirectory= (and the"
note "   \$STATE_DIRECTORY/\$RUNTIME_DIRECTORY they export), UMask=, the sandbox (ProtectSystem=,"
note "   CapabilityBoundingSet=, SystemCallFilter=, DevicePolicy=, ...), WatchdogSec=, Restart=;"
note "   only systemd-analyze verify (static) ran. The activated daemon ran unsandboxed, as root,"
note "   with the built-in default $STATE."
note " - polkit's allow_active/allow_inactive (auth_admin_keep): no logind session exists, so"
note "   every caller is 'any'; authentication through an agent (auth_admin success) was not tried."
summary
