#!/bin/bash
# Guest scenario "consumers" (issue 12, item 3): real consumers of what
# Prepare leaves, on the real kernel and the real vfio-pci, the daemon NOT
# read-only, as root, on a real dbus-daemon --system with polkitd (a rule
# grants org.pciassign1.manage to the local user pcaadmin, the "other
# caller").  Sections:
#  1. QEMU as the VMM: the host's own qemu-system-x86_64 (seen through the
#     9p root) opens the prepared multifunction group behind root port
#     00:0c.0 (0b:00.0 + 0b:00.1) with -device vfio-pci,host=... in a paused
#     guest (-S, TCG, no guest kernel: it never runs); QMP query-pci shows
#     both; SetInUse(true) makes pcaadmin's Reset refused (InUse; before it,
#     the same Reset works); quit over QMP; Unprepare gives them back to
#     e1000e.
#  2. The libvirt hook (data/libvirt/pci-assignd-hook, as built), invoked
#     the way libvirtd invokes /etc/libvirt/hooks/qemu.d/* (arguments NAME
#     OPERATION SUB-OPERATION EXTRA, the domain XML on stdin) around the
#     same QEMU: prepare begin -> prepared, started begin -> in-use,
#     release end -> back on e1000e; a reservation owned by the domain's
#     UUID; a failing Prepare (vfio-pci unloaded) fails with a message and
#     leaves everything as it was; a domain without hostdevs, one whose
#     hostdev is reserved for another owner, look-alike hostdevs in
#     <metadata> and broken XML.
#  3. Debian's libvirtd (9.0): host/consumers.sh apt-get downloads the
#     libvirt packages the host lacks (never installs them there); they are
#     unpacked into this guest's tmpfs root only; libvirtd runs with the hook
#     in /etc/libvirt/hooks/qemu.d/ (QEMU as root, no cgroups, sVirt,
#     namespaces or virtlogd: no systemd here); virsh start --paused of a
#     domain with two <hostdev managed='no'> -> the hook prepared them, in
#     use, HMP info pci shows them; virsh destroy -> given back; a start
#     with vfio-pci unloaded fails with the hook's message.
# Timings under TCG are printed as "    timing:" lines; about 150 s wall
# on an idle 2-core host (a third of it section 3).
# vm-timeout: 600
#   params (from the host, /vmout/params.sh): BUILD_DIR, SRC_DIR
. /vmtest/guest/lib.sh
G=/vmtest/guest
PY=/usr/bin/python3
DAEMON=$BUILD_DIR/src/daemon/pci-assignd
CTL=$BUILD_DIR/src/ctl/pci-assignctl
HOOK=$BUILD_DIR/data/pci-assignd-hook
QEMU=/usr/bin/qemu-system-x86_64
POLICY=$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf
export STATE_DIRECTORY=/var/lib/pci-assignd-test RUNTIME_DIRECTORY=/run/pci-assignd-test
T_START=$(now_ms)

MA=0000:0b:00.0; MB=0000:0b:00.1          # multifunction e1000e, one group (root port 00:0c.0)
SW=0000:0a:00.0                           # e1000e alone behind the x-speed=2_5 root port
ADMIN="setpriv --reuid=4243 --regid=4243 --clear-groups"

note() { echo "    $*"; }
timing() { note "timing: $*"; }
section() { echo "--- $* (uptime $(uptime_s))"; }
has() { grep -qE -- "$2" <<< "$1"; }
one() { local l=${1%%$'\n'*}; echo "${l:0:300}"; }
drv() { local d; for d in /sys/bus/pci/drivers/*/"$1"; do [ -e "$d" ] && { d=${d%/*}; echo "${d##*/}"; return; }; done; }
grp() { local d; for d in /sys/kernel/iommu_groups/*/devices/"$1"; do [ -e "$d" ] && { d=${d%/devices/*}; echo "${d##*/}"; return; }; done; echo -1; }
netifs() { local n; for n in "$P/$1"/net/*; do [ -e "$n" ] && printf '%s ' "${n##*/}"; done; }
# timed COMMAND...: COUT (stdout+stderr), RC, MS
timed() {
    local t0; t0=$(date +%s%N)
    COUT=$("$@" 2>&1); RC=$?
    MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
expect_ok() { if [ $RC = 0 ]; then ok "$1 ($MS ms)"; else fail "$1: rc=$RC: $(one "$COUT")"; fi; }
expect_err() {
    local d=$1 name=$2 re miss=""; shift 2
    for re in "$@"; do has "$COUT" "$re" || miss="$miss '$re'"; done
    if [ $RC != 0 ] && [[ $COUT == *"$name"* ]] && [ -z "$miss" ]; then
        ok "$d: $(one "$COUT") ($MS ms)"
    else
        fail "$d: want $name${miss:+ with$miss}, got rc=$RC: $(one "$COUT") ($MS ms)"
    fi
}
check_drivers() {  # DESCRIPTION WANT ADDR...
    local d=$1 want=$2 a x got="" bad=0; shift 2
    for a in "$@"; do x=$(drv $a); got="$got $a=$x"; [ "$x" = "$want" ] || bad=1; done
    if [ $bad = 0 ]; then ok "$d:$got"; else fail "$d: want ${want:-no driver},$got"; fi
}
# rstate ID: the reservation's state, from pci-assignctl --lines
rstate() { timeout 60 $CTL reservations --lines 2> /dev/null | awk -v id="$1" '$1 == id { print $2; exit }'; }
# reserve OWNER ADDR...: RID = the new id
reserve() {
    local owner=$1; shift
    timed timeout 90 $CTL reserve "$owner" "$@"
    RID=$(sed -n 's/^Reserved \([^ ]*\) .*/\1/p' <<< "$COUT")
    if [ $RC = 0 ] && [ -n "$RID" ]; then ok "reserve $owner $* -> $RID ($MS ms)"; else fail "reserve $owner $*: rc=$RC: $(one "$COUT")"; fi
}
# group_open_by PID GROUP: the process holds /dev/vfio/GROUP open
group_open_by() {
    local f
    for f in /proc/$1/fd/*; do [ "$(readlink "$f")" = "/dev/vfio/$2" ] && return 0; done
    return 1
}

not_held() { local p; for p in /proc/[0-9]*; do group_open_by ${p#/proc/} $1 && return 1; done; return 0; }

# --- QEMU in the guest ---------------------------------------------------------------
QPID=""; NQEMU=0
QMP=/tmp/qmp.sock
# start_qemu ADDR...: the VMM opens each function with vfio-pci (slot 4,
# function N, as a libvirt domain with <hostdev managed='no'> would), paused
start_qemu() {
    local a n=0 devs=() t0
    for a in "$@"; do
        if [ $n = 0 ]; then
            devs+=(-device "vfio-pci,host=$a,id=hostdev$n,bus=pcie.0,addr=04.$n,multifunction=on")
        else
            devs+=(-device "vfio-pci,host=$a,id=hostdev$n,bus=pcie.0,addr=04.$n")
        fi
        n=$((n + 1))
    done
    NQEMU=$((NQEMU + 1)); rm -f $QMP
    t0=$(now_ms)
    $QEMU -S -nodefaults -display none -machine q35 -accel tcg,tb-size=16 -m 64 \
        -serial none -monitor none -qmp unix:$QMP,server=on,wait=off \
        "${devs[@]}" > /tmp/qemu-$NQEMU.log 2>&1 &
    QPID=$!
    timed $PY $G/qmp.py --wait=240 $QMP query-status
    QSTART_MS=$(( $(now_ms) - t0 ))
    if [ $RC = 0 ] && has "$COUT" '"status": "prelaunch"'; then
        ok "QEMU #$NQEMU (pid $QPID, TCG, -S) with ${n} vfio-pci devices ($*) answers QMP, paused (status prelaunch) ($QSTART_MS ms after exec)"
        timing "QEMU start with vfio-pci $*: $QSTART_MS ms to a QMP answer"
        return 0
    fi
    fail "QEMU #$NQEMU with vfio-pci $*: QMP query-status rc=$RC: $(one "$COUT")"
    sed 's/^/    qemu: /' /tmp/qemu-$NQEMU.log | tail -15
    kill -0 $QPID 2> /dev/null && { kill $QPID; wait $QPID; }
    QPID=""
    return 1
}
# check_query_pci ADDR...: QMP query-pci lists hostdevN with the host function's ids
check_query_pci() {
    local a n=0 out v d
    timed $PY $G/qmp.py $QMP query-pci
    out=$COUT
    [ $RC = 0 ] || { fail "QMP query-pci: $(one "$out")"; return; }
    for a in "$@"; do
        read -r v < $P/$a/vendor; read -r d < $P/$a/device
        if $PY - "$out" "hostdev$n" "$((v))" "$((d))" 4 "$n" << 'EOF'
import json, sys
buses = json.loads(sys.argv[1])
qid, ven, dev, slot, fn = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
def walk(devs):
    for x in devs:
        yield x
        br = x.get("pci_bridge")
        if br:
            yield from walk(br.get("devices", []))
found = [x for b in buses for x in walk(b.get("devices", [])) if x.get("qdev_id") == qid]
sys.exit(0 if found and found[0]["id"]["vendor"] == ven and found[0]["id"]["device"] == dev
         and found[0]["slot"] == slot and found[0]["function"] == fn else 1)
EOF
        then
            ok "query-pci shows $a as hostdev$n at guest 00:04.$n, ids $v:$d"
        else
            fail "query-pci does not show $a as hostdev$n ($v:$d at 00:04.$n): $(one "$out")"
        fi
        n=$((n + 1))
    done
}
# quit_qemu: QMP quit, QEMU exits with status 0
quit_qemu() {
    local rc t0; t0=$(now_ms)
    timed $PY $G/qmp.py $QMP quit
    for _ in $(seq 300); do kill -0 $QPID 2> /dev/null || break; sleep 0.1; done
    if kill -0 $QPID 2> /dev/null; then
        fail "QEMU #$NQEMU exits within 30 s of QMP quit"; kill -KILL $QPID
    fi
    wait $QPID; rc=$?
    check "QEMU #$NQEMU exited after QMP quit, status $rc ($(( $(now_ms) - t0 )) ms)" test $rc = 0
    QPID=""
}

# --- daemon -----------------------------------------------------------------------------
DPID=""
start_daemon() {
    local t0; t0=$(now_ms)
    "$DAEMON" --job-timeout=20 > /tmp/daemon.log 2>&1 &
    DPID=$!
    if wait_for_name org.pciassign1 90; then
        ok "pci-assignd owns org.pciassign1 ($(( $(now_ms) - t0 )) ms)"
    else
        fail "pci-assignd owns org.pciassign1 within 90 s"; tail -20 /tmp/daemon.log | sed 's/^/    log: /'
        return 1
    fi
}

# --- setup ----------------------------------------------------------------------------------
for f in "$DAEMON" "$CTL" "$HOOK" "$QEMU"; do check "$f is there" test -x "$f"; done
[ "$FAILED" = 0 ] || { summary; exit 1; }
modprobe vfio-pci
check "vfio-pci is loaded" test -d /sys/bus/pci/drivers/vfio-pci
/lib/systemd/systemd-udevd --daemon && ok "systemd-udevd runs (no coldplug)" || fail "systemd-udevd starts"
GM=$(grp $MA)
check "$MA and $MB share IOMMU group $GM" test "$(cd /sys/kernel/iommu_groups/$GM/devices && echo *)" = "$MA $MB"
check_drivers "the pair starts on e1000e" e1000e $MA $MB
nifs() { local n=0 a i; for a in "$@"; do for i in "$P/$a"/net/*; do [ -e "$i" ] && n=$((n + 1)); done; done; echo $n; }
NET0="$(netifs $MA)$(netifs $MB)"

# the other caller: a local user a polkit rule grants org.pciassign1.manage
echo 'pcaadmin:x:4243:4243:pci-assignd vmtest:/nonexistent:/usr/sbin/nologin' >> /etc/passwd
echo 'pcaadmin:x:4243:' >> /etc/group
mkdir -p /usr/share/polkit-1/actions /etc/polkit-1/rules.d
cp "$SRC_DIR/data/polkit/org.pciassign1.policy" /usr/share/polkit-1/actions/
cat > /etc/polkit-1/rules.d/50-pci-assignd-vmtest.rules << 'EOF'
polkit.addRule(function(action, subject) {
    if (action.id == "org.pciassign1.manage" && subject.user == "pcaadmin")
        return polkit.Result.YES;
});
EOF
start_dbus "$POLICY"
/usr/lib/polkit-1/polkitd --no-debug > /tmp/polkitd.log 2>&1 &
if wait_for_name org.freedesktop.PolicyKit1 60; then ok "polkitd runs"; else fail "polkitd starts"; cat /tmp/polkitd.log; fi
mkdir -p "$STATE_DIRECTORY" "$RUNTIME_DIRECTORY"
start_daemon || { summary; exit 1; }

# --- 1. QEMU opens the prepared functions -----------------------------------------------------
section "1. QEMU -device vfio-pci,host=$MA / $MB"
T1=$(now_ms)
reserve vm-qemu $MA $MB; R1=$RID
timed timeout 200 $CTL prepare $R1; expect_ok "pci-assignctl prepare $R1"
timing "Prepare $R1 (2 functions): $MS ms"
check_drivers "both on vfio-pci" vfio-pci $MA $MB
check "/dev/vfio/$GM exists" test -c /dev/vfio/$GM
timed timeout 90 $ADMIN $CTL --no-ask-password reset $MA
expect_ok "pcaadmin (polkit: manage) may reset $MA of the prepared, not in-use $R1 of root"
if start_qemu $MA $MB; then
    check "QEMU holds /dev/vfio/$GM open" group_open_by $QPID $GM
    check_query_pci $MA $MB
    timed timeout 60 $CTL set-in-use $R1 yes; expect_ok "pci-assignctl set-in-use $R1 yes (the guest runs)"
    check "State of $R1 is in-use" test "$(rstate $R1)" = in-use
    timed timeout 90 $ADMIN $CTL --no-ask-password reset $MA
    expect_err "pcaadmin's reset of $MA while QEMU runs is refused" org.pciassign1.Error.InUse "in use by the guest of reservation $R1"
    timed timeout 90 $ADMIN $CTL --no-ask-password reset $MB
    expect_err "pcaadmin's reset of $MB too" org.pciassign1.Error.InUse
    timed timeout 90 $CTL unprepare $R1
    expect_err "unprepare of the in-use $R1 is refused" org.pciassign1.Error.InUse
    check "QEMU is still running, holding /dev/vfio/$GM" group_open_by $QPID $GM
    quit_qemu
    check "no process holds /dev/vfio/$GM any more" not_held $GM
fi
timed timeout 60 $CTL set-in-use $R1 no; expect_ok "pci-assignctl set-in-use $R1 no (QEMU exited)"
timed timeout 200 $CTL unprepare $R1; expect_ok "pci-assignctl unprepare $R1"
timing "Unprepare $R1 (2 functions): $MS ms"
check_drivers "both back on e1000e" e1000e $MA $MB
# (the kernel names them anew: eth8 eth9 may come back as eth10 eth11)
for _ in $(seq 50); do [ "$(nifs $MA $MB)" = 2 ] && break; sleep 0.1; done
check "e1000e made a network interface for each again (before: $NET0, now: $(netifs $MA)$(netifs $MB))" test "$(nifs $MA $MB)" = 2
timed timeout 60 $CTL release $R1; expect_ok "release $R1"
timing "section 1 (reserve, prepare, QEMU start/query/quit, unprepare, release): $(( $(now_ms) - T1 )) ms"

# --- 2. the libvirt hook, invoked as libvirtd does ------------------------------------------------
section "2. libvirt hook $HOOK"
T2=$(now_ms)
export PCI_ASSIGNCTL=$CTL
UUID=6f2c1a52-9d1e-4c7b-8e55-3a0d7e2b1c90
domxml() {  # NAME UUID HOSTDEV-ADDR... : a domain as libvirt formats it
    local name=$1 uuid=$2 a b s f; shift 2
    echo "<domain type='qemu' id='1'>"
    echo "  <name>$name</name>"
    echo "  <uuid>$uuid</uuid>"
    echo "  <memory unit='KiB'>65536</memory>"
    echo "  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>"
    echo "  <devices>"
    echo "    <emulator>$QEMU</emulator>"
    for a in "$@"; do
        IFS=':.' read -r _ b s f <<< "$a"
        echo "    <hostdev mode='subsystem' type='pci' managed='no'>"
        echo "      <driver name='vfio'/>"
        echo "      <source>"
        echo "        <address domain='0x0000' bus='0x$b' slot='0x$s' function='0x$f'/>"
        echo "      </source>"
        echo "      <alias name='hostdev0'/>"
        echo "      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x$f'/>"
        echo "    </hostdev>"
    done
    echo "    <memballoon model='none'/>"
    echo "  </devices>"
    echo "</domain>"
}
# hook NAME OP SUBOP XML-FILE: as libvirtd runs it; COUT = stderr+stdout, RC, MS
hook() { timed $HOOK "$1" "$2" "$3" - < "$4"; }

domxml vm-hook $UUID $MA $MB > /tmp/vm-hook.xml
reserve $UUID $MA $MB; R2=$RID
note "reservation $R2 is owned by the domain's UUID $UUID; the domain is named vm-hook"
hook vm-hook prepare begin /tmp/vm-hook.xml
expect_ok "hook vm-hook prepare begin -"
timing "hook prepare begin: $MS ms"
check_drivers "both on vfio-pci" vfio-pci $MA $MB
check "State of $R2 is prepared" test "$(rstate $R2)" = prepared
hook vm-hook start begin /tmp/vm-hook.xml
check "hook vm-hook start begin - does nothing (rc=$RC, '$COUT')" test $RC = 0 -a -z "$COUT"
if start_qemu $MA $MB; then
    hook vm-hook started begin /tmp/vm-hook.xml
    expect_ok "hook vm-hook started begin -"
    timing "hook started begin: $MS ms"
    check "State of $R2 is in-use" test "$(rstate $R2)" = in-use
    timed timeout 90 $ADMIN $CTL --no-ask-password reset $MA
    expect_err "pcaadmin's reset of $MA is refused while the hook's domain runs" org.pciassign1.Error.InUse
    quit_qemu
    hook vm-hook stopped end /tmp/vm-hook.xml
    check "hook vm-hook stopped end - does nothing (rc=$RC)" test $RC = 0 -a "$(rstate $R2)" = in-use
fi
hook vm-hook release end /tmp/vm-hook.xml
expect_ok "hook vm-hook release end -"
timing "hook release end: $MS ms"
check "State of $R2 is reserved" test "$(rstate $R2)" = reserved
check_drivers "both back on e1000e" e1000e $MA $MB
hook vm-hook release end /tmp/vm-hook.xml
check "hook release end again (nothing prepared) is a no-op (rc=$RC, '$(one "$COUT")')" test $RC = 0

# a failing Prepare fails the start with a clear message, and changes nothing
if rmmod vfio_pci 2> /tmp/rmmod.err; then
    hook vm-hook prepare begin /tmp/vm-hook.xml
    expect_err "hook prepare begin with vfio-pci unloaded fails the start" "pci-assignd hook: domain vm-hook: Prepare of reservation $R2 failed" \
        'org.pciassign1.Error.OperationFailed' 'vfio-pci'
    note "the hook's stderr, as libvirt would show it:"; sed 's/^/      /' <<< "$COUT"
    check_drivers "both still on e1000e" e1000e $MA $MB
    check "State of $R2 stays reserved" test "$(rstate $R2)" = reserved
    modprobe vfio-pci
    check "vfio-pci loaded again" test -d /sys/bus/pci/drivers/vfio-pci
else
    fail "rmmod vfio_pci: $(cat /tmp/rmmod.err)"
fi

# the owner by name (not UUID); a hostdev reserved for someone else
timed timeout 60 $CTL release $R2; expect_ok "release $R2"
reserve vm-hook $MA $MB; R3=$RID
reserve vm-other $SW; R4=$RID
domxml vm-hook $UUID $MA $MB $SW > /tmp/vm-mixed.xml
hook vm-hook prepare begin /tmp/vm-mixed.xml
expect_err "hook prepare begin of a domain with a hostdev reserved for another owner fails" \
    "hostdev $SW is reserved for 'vm-other' (reservation $R4, reserved), not for this domain"
check_drivers "nothing was prepared" e1000e $MA $MB $SW
domxml vm-hook $UUID $MA $MB > /tmp/vm-name.xml
hook vm-hook prepare begin /tmp/vm-name.xml
expect_ok "hook prepare begin of $R3, owned by the domain's name"
check_drivers "both on vfio-pci" vfio-pci $MA $MB
hook vm-hook release end /tmp/vm-name.xml
expect_ok "hook release end"
check_drivers "both back on e1000e" e1000e $MA $MB

# domains with nothing reserved: silent, fast, no call to the daemon
domxml vm-plain $UUID > /tmp/vm-plain.xml
hook vm-plain prepare begin /tmp/vm-plain.xml
check "hook prepare begin of a domain without hostdevs: exit 0, silent ($MS ms)" test $RC = 0 -a -z "$COUT"
timing "hook prepare begin, no hostdevs: $MS ms"
hook vm-nobody prepare begin /tmp/vm-name.xml
check "hook prepare begin of another domain whose hostdevs are reserved for vm-hook fails (rc=$RC: $(one "$COUT"))" \
    test $RC != 0
check_drivers "untouched" e1000e $MA $MB
# look-alikes: a hostdev in <metadata> (its own namespace), in a comment, in CDATA
cat > /tmp/vm-hostile.xml << EOF
<domain type='qemu'>
  <name>vm-hook</name>
  <uuid>$UUID</uuid>
  <metadata>
    <x:devices xmlns:x="http://example.org/x"><hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x0b' slot='0x00' function='0x0'/></source></hostdev></x:devices>
    <devices xmlns="http://example.org/y"><hostdev mode='subsystem' type='pci' managed='no'><source><address bus='0x0b' slot='0x00' function='0x1'/></source></hostdev></devices>
  </metadata>
  <description>&lt;hostdev mode='subsystem' type='pci'&gt; \$(touch /tmp/pwned) \`touch /tmp/pwned\`</description>
  <devices>
    <!-- <hostdev mode='subsystem' type='pci' managed='no'><source><address bus='0x0b' slot='0x00' function='0x0'/></source></hostdev> -->
    <emulator><![CDATA[<hostdev mode='subsystem' type='pci' managed='no'>]]></emulator>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x0b' slot='0x00' function='0x0'/></source></hostdev>
  </devices>
</domain>
EOF
hook vm-hook prepare begin /tmp/vm-hostile.xml
check "look-alike hostdevs (metadata, comment, CDATA, managed='yes'): exit 0, nothing prepared (rc=$RC, '$(one "$COUT")')" \
    test $RC = 0 -a "$(rstate $R3)" = reserved
check "no shell expansion of XML text (/tmp/pwned absent)" test ! -e /tmp/pwned
printf "<domain><name>x</name><devices><hostdev mode='subsystem' type='pci' managed='no'><source><address bus='0x0b' slot='0x00' function='0x0'/>" > /tmp/vm-trunc.xml
hook vm-hook prepare begin /tmp/vm-trunc.xml
expect_err "truncated XML with a hostdev fails with a message" "cannot read the domain XML on stdin: truncated"
printf "<!DOCTYPE domain [<!ENTITY e 'x'>]><domain><devices><hostdev mode='subsystem' type='pci' managed='no'/></devices></domain>" > /tmp/vm-dtd.xml
hook vm-hook prepare begin /tmp/vm-dtd.xml
expect_err "XML with a DOCTYPE fails with a message" "cannot read the domain XML"
check_drivers "still untouched" e1000e $MA $MB $SW
hook vm-hook migrate begin /tmp/vm-name.xml
check "other operations (migrate begin) exit 0 at once (rc=$RC, $MS ms)" test $RC = 0 -a -z "$COUT"
for r in $R3 $R4; do timed timeout 60 $CTL release $r; expect_ok "release $r"; done
timing "section 2 (hook): $(( $(now_ms) - T2 )) ms"

# --- 3. Debian's libvirtd in the guest ------------------------------------------------------
section "3. libvirtd: virsh start --paused of a domain with <hostdev managed='no'>"
T3=$(now_ms)
# the host step's result (host/consumers.sh: the packages this host lacks)
while IFS= read -r l; do
    case $l in "ok - "*) ok "${l#ok - }" ;; "FAIL - "*) fail "${l#FAIL - }" ;; *) note "$l" ;; esac
done < $OUT/host.log 2> /dev/null
LVOK=0
if [ "${HOST_RC:-1}" = 0 ]; then
    t0=$(now_ms); n=0
    for p in $(cat /vmtest/work/debs/wanted); do
        f=$(ls /vmtest/work/debs/${p}_*.deb | tail -1)
        # not dpkg-deb -x: its tar would replace the merged-/usr symlinks
        # /lib, /bin, /sbin by directories (and the guest's root with them)
        dpkg-deb --fsys-tarfile "$f" | tar -C / --keep-directory-symlink --no-overwrite-dir -xf - && n=$((n + 1))
    done
    ldconfig
    check "unpacked $n libvirt packages into the guest's root ($(( $(now_ms) - t0 )) ms)" test -x /usr/sbin/libvirtd -a -x /usr/bin/virsh
    LVOK=1
fi
VIRSH="timeout 300 virsh -c qemu:///system"
LVDOM=vm-lv
lv_domxml() {
    cat << XEOF
<domain type='qemu'>
  <name>$LVDOM</name>
  <uuid>0b5e3c9a-7d6f-4a1b-9c2d-5e8f7a6b4c3d</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <features><tcg><tb-cache unit='MiB'>16</tb-cache></tcg></features>
  <devices>
    <emulator>$QEMU</emulator>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x0b' slot='0x00' function='0x0'/></source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0' multifunction='on'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <source><address domain='0x0000' bus='0x0b' slot='0x00' function='0x1'/></source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x1'/>
    </hostdev>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
XEOF
}
if [ $LVOK = 1 ]; then
    # no systemd, no cgroups, no virtlogd, no sVirt in this guest: QEMU as
    # root, output to a file, no private /dev namespace
    mkdir -p /etc/libvirt
    # the qemu driver resolves its compiled-in user and group
    # (libvirt-qemu) before it reads qemu.conf: what libvirt-daemon-system's
    # postinst would have made
    getent group libvirt-qemu > /dev/null || echo "libvirt-qemu:x:64055:" >> /etc/group
    getent passwd libvirt-qemu > /dev/null \
        || echo "libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin" >> /etc/passwd
    cat > /etc/libvirt/qemu.conf << 'XEOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
XEOF
    cat > /etc/libvirt/libvirtd.conf << 'XEOF'
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/tmp/libvirtd.log"
XEOF
    # the hook as installed, with this build's pci-assignctl (libvirtd
    # passes hooks only a few environment variables)
    mkdir -p /etc/libvirt/hooks/qemu.d
    sed "s|^PCI_ASSIGNCTL=.*|PCI_ASSIGNCTL=$CTL|" "$HOOK" > /etc/libvirt/hooks/qemu.d/pci-assignd
    chmod 755 /etc/libvirt/hooks/qemu.d/pci-assignd
    unset PCI_ASSIGNCTL
    t0=$(now_ms)
    /usr/sbin/libvirtd > /tmp/libvirtd.out 2>&1 &
    LVPID=$!
    for _ in $(seq 600); do [ -S /run/libvirt/libvirt-sock ] && break; kill -0 $LVPID 2> /dev/null || break; sleep 0.2; done
    timed $VIRSH version
    if [ $RC = 0 ]; then
        ok "libvirtd $(sed -n "s/^Using library: libvirt *//p" <<< "$COUT" | head -1) answers virsh ($(( $(now_ms) - t0 )) ms)"
        note "$(tr '\n' ';' <<< "$COUT")"
    else
        fail "libvirtd answers virsh: $(one "$COUT")"; LVOK=0
        kill -0 $LVPID 2> /dev/null && note "libvirtd (pid $LVPID) runs" || note "libvirtd (pid $LVPID) is gone"
        note "/run/libvirt: $(ls /run/libvirt 2> /dev/null | tr '\n' ' ')"
        tail -5 /tmp/libvirtd.out | sed 's/^/    libvirtd: /'
        grep -E 'error' /tmp/libvirtd.log | tail -8 | sed 's/^/    libvirtd.log: /'
        cp /tmp/libvirtd.log /tmp/libvirtd.out $OUT/ 2> /dev/null
    fi
fi
if [ $LVOK = 1 ]; then
    reserve $LVDOM $MA $MB; R5=$RID
    lv_domxml > /tmp/vm-lv.xml
    timed $VIRSH define /tmp/vm-lv.xml; expect_ok "virsh define $LVDOM (2 x <hostdev managed='no'>)"
    timed $VIRSH start --paused $LVDOM
    expect_ok "virsh start --paused $LVDOM"
    timing "virsh start --paused (hook prepare begin + QEMU + hook started begin): $MS ms"
    if [ $RC = 0 ]; then
        check_drivers "the hook prepared them: on vfio-pci" vfio-pci $MA $MB
        check "State of $R5 is in-use (hook at started begin)" test "$(rstate $R5)" = in-use
        timed $VIRSH domstate $LVDOM; check "domstate $LVDOM: paused ($COUT)" has "$COUT" paused
        QP=$(cat /run/libvirt/qemu/$LVDOM.pid 2> /dev/null)
        check "libvirt's QEMU (pid $QP) holds /dev/vfio/$GM open" group_open_by "$QP" $GM
        timed $VIRSH qemu-monitor-command $LVDOM --hmp 'info pci'
        n=$(grep -c 'Ethernet controller: PCI device 8086:10d3' <<< "$COUT")
        check "HMP info pci in libvirt's QEMU shows both e1000e functions ($n)" test "$n" = 2
        timed timeout 90 $ADMIN $CTL --no-ask-password reset $MA
        expect_err "pcaadmin's reset of $MA while libvirt's domain runs is refused" org.pciassign1.Error.InUse
        timed $VIRSH destroy $LVDOM; expect_ok "virsh destroy $LVDOM"
        timing "virsh destroy (QEMU killed + hook release end): $MS ms"
        check "State of $R5 is reserved (hook at release end)" test "$(rstate $R5)" = reserved
        check_drivers "given back to e1000e" e1000e $MA $MB
    else
        sed 's/^/    libvirtd: /' /tmp/libvirtd.out | tail -10
        grep -E 'error|hook' /tmp/libvirtd.log | tail -10 | sed 's/^/    libvirtd.log: /'
    fi
    # a failing Prepare fails the start, with the hook's message
    if rmmod vfio_pci 2> /tmp/rmmod.err; then
        timed $VIRSH start --paused $LVDOM
        expect_err "virsh start with vfio-pci unloaded fails with the hook's message" \
            "pci-assignd hook: domain $LVDOM: Prepare of reservation $R5 failed" 'OperationFailed'
        note "virsh said:"; sed 's/^/      /' <<< "$COUT"
        timed $VIRSH domstate $LVDOM; check "domstate $LVDOM: shut off ($COUT)" has "$COUT" 'shut off'
        check_drivers "still on e1000e" e1000e $MA $MB
        check "State of $R5 stays reserved" test "$(rstate $R5)" = reserved
        modprobe vfio-pci
    else
        fail "rmmod vfio_pci: $(cat /tmp/rmmod.err)"
    fi
    $VIRSH undefine $LVDOM > /dev/null 2>&1
    timed timeout 60 $CTL release $R5; expect_ok "release $R5"
    kill $LVPID; wait $LVPID 2> /dev/null
    cp /tmp/libvirtd.log /tmp/libvirtd.out /var/log/libvirt/qemu/$LVDOM.log $OUT/ 2> /dev/null
fi
timing "section 3 (libvirtd): $(( $(now_ms) - T3 )) ms"

# --- the end ------------------------------------------------------------------------------------
r=$(timeout 30 $CTL reservations --lines 2>&1)
check "no reservations left ('$r')" test -z "$r"
check_drivers "every function back on e1000e" e1000e $MA $MB $SW
check "pci-assignd is still running" kill -0 $DPID
kill $DPID; wait $DPID
cp /tmp/daemon.log /tmp/qemu-*.log /tmp/polkitd.log $OUT/ 2> /dev/null
timing "scenario consumers: $(( $(now_ms) - T_START )) ms in the guest (TCG)"
summary
