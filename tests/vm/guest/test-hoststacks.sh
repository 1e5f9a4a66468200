#!/bin/bash
# Guest scenario "hoststacks" (issue 15): storage and network stacks the
# guest kernel builds for real must make every PCI function under them
# not-assignable, and only those.  Layout (five extra NVMe controllers, each
# behind its own root port, found by serial number; backing files from
# host/hoststacks.sh):
#   hs1 + hs2  btrfs raid1 (data and metadata), mounted through hs1 only:
#              hs2 is found through /sys/fs/btrfs/<fsid>/devices
#   hs3        active swap (the whole disk)
#   hs4        ext4 on a device-mapper linear volume (found through slaves/)
#   hs5        unused: must stay assignable
#   hsmp       NVMe native multipath: one subsystem, two controllers (each
#              behind its own root port), one shared namespace whose head
#              disk (under virtual/nvme-subsystem/) holds an ext4: both
#              controllers are in use
# (A single-controller NVMe disk hangs off its controller; only a
# multi-controller subsystem gets a head disk under the subsystem.)
# Network: an active-backup bond over the e1000e at 00:02.0 and the first
# function of the 0b:00.0/.1 pair (the two share one IOMMU group), carrying
# the default route (IPv4 and IPv6):
#   00:02.0, 0b:00.0  in-use-by-host (default route via bond0)
#   0b:00.1           group-peer-in-use-by-host (naming 0b:00.0)
#   00:03.0           unused NIC: must stay assignable
# Policy routing: a VLAN on a bridge over 00:05.0 carries the default route
# of table 100, a macvlan on 02:00.0 the IPv6 default of table 200 (both
# picked by rules), a VXLAN over 08:00.0 (behind the PCIe switch) that of
# table 300, a team over 09:00.0 that of table 400: 00:05.0, 02:00.0,
# 08:00.0 and 09:00.0 are in use too.  hs4 also holds a
# file backing a loop device with a mounted ext4, and its ext4 is on
# dm-crypt over dm linear.
# vm-timeout: 300
# vm-extra: -device pcie-root-port,id=hsrp1,addr=0d.0,chassis=21,slot=21 -drive if=none,id=hsd1,file=@OUT@/hs1.img,format=raw -device nvme,bus=hsrp1,serial=hs1,drive=hsd1 -device pcie-root-port,id=hsrp2,addr=0e.0,chassis=22,slot=22 -drive if=none,id=hsd2,file=@OUT@/hs2.img,format=raw -device nvme,bus=hsrp2,serial=hs2,drive=hsd2 -device pcie-root-port,id=hsrp3,addr=0f.0,chassis=23,slot=23 -drive if=none,id=hsd3,file=@OUT@/hs3.img,format=raw -device nvme,bus=hsrp3,serial=hs3,drive=hsd3 -device pcie-root-port,id=hsrp4,addr=10.0,chassis=24,slot=24 -drive if=none,id=hsd4,file=@OUT@/hs4.img,format=raw -device nvme,bus=hsrp4,serial=hs4,drive=hsd4 -device pcie-root-port,id=hsrp5,addr=11.0,chassis=25,slot=25 -drive if=none,id=hsd5,file=@OUT@/hs5.img,format=raw -device nvme,bus=hsrp5,serial=hs5,drive=hsd5 -device nvme-subsys,id=hsmp,nqn=hsmp -device pcie-root-port,id=hsrp6,addr=12.0,chassis=26,slot=26 -device nvme,bus=hsrp6,id=hsmpc1,serial=hsmp,subsys=hsmp -device pcie-root-port,id=hsrp7,addr=13.0,chassis=27,slot=27 -device nvme,bus=hsrp7,id=hsmpc2,serial=hsmp,subsys=hsmp -drive if=none,id=hsd6,file=@OUT@/hs6.img,format=raw -device nvme-ns,bus=hsmpc1,drive=hsd6,nsid=1,shared=on
. /vmtest/guest/lib.sh
PY=/usr/bin/python3
DAEMON=$BUILD_DIR/src/daemon/pci-assignd
CTL=$BUILD_DIR/src/ctl/pci-assignctl
POLICY=$SRC_DIR/data/dbus-1/system.d/org.pciassign1.conf
T0=$(now_ms)

check "daemon binary $DAEMON exists" test -x "$DAEMON"
check "client binary $CTL exists" test -x "$CTL"
for t in mkfs.btrfs mkfs.ext4 mkswap dmsetup ip; do
    check "host tool $t exists" command -v $t
done

# --- the disks, by serial ---------------------------------------------------
declare -A DISK FN
for c in /sys/class/nvme/nvme*; do
    s=$(tr -d ' ' < $c/serial 2> /dev/null)
    case $s in hs[1-5]) ;; *) continue ;; esac
    FN[$s]=$(basename "$(readlink -f $c/device)")
done
# the head disk of each controller's subsystem (nvmeXnY, X = subsystem)
for b in /sys/block/nvme*n1; do
    d=$(basename $b)
    s=$(tr -d ' ' < $b/device/serial 2> /dev/null || true)
    [ -n "$s" ] || s=$(tr -d ' ' < $b/device/subsysnqn 2> /dev/null | sed -n 's/.*\(hs[1-5]\).*/\1/p')
    case $s in hs[1-5]) DISK[$s]=/dev/$d ;; esac
done
MP=""
for c in /sys/class/nvme/nvme*; do
    [ "$(tr -d ' ' < $c/serial 2> /dev/null)" = hsmp ] && MP="$MP $(basename "$(readlink -f $c/device)")"
done
MP=${MP# }
MPDISK=""
for b in /sys/block/nvme*n1; do
    case $(readlink $b) in *virtual/nvme-subsystem/*)
        [ "$(tr -d ' ' < $b/device/serial 2> /dev/null)" = hsmp ] && MPDISK=/dev/$(basename $b) ;;
    esac
done
check "multipath controllers ($MP), head disk ${MPDISK:-?} under virtual/nvme-subsystem" \
    test "$(echo $MP | wc -w)" = 2 -a -b "${MPDISK:-/nonexistent}"
for s in hs1 hs2 hs3 hs4 hs5; do
    check "NVMe $s: function ${FN[$s]:-?} disk ${DISK[$s]:-?}" test -n "${FN[$s]:-}" -a -b "${DISK[$s]:-/nonexistent}"
done
note() { echo "    $*"; }
note "head disks: $(for b in /sys/block/nvme*n1; do echo -n "$(basename $b) -> $(readlink $b | sed 's|.*/devices/||') "; done)"

# --- storage stacks -----------------------------------------------------------
modprobe btrfs 2> /dev/null; modprobe dm_mod 2> /dev/null
mkdir -p /mnt/hsb /mnt/hse
if mkfs.btrfs -q -f -d raid1 -m raid1 ${DISK[hs1]} ${DISK[hs2]} > /tmp/mkfs.log 2>&1 \
   && mount -t btrfs ${DISK[hs1]} /mnt/hsb; then
    ok "btrfs raid1 over ${DISK[hs1]} ${DISK[hs2]} mounted on /mnt/hsb"
else
    fail "btrfs raid1 on /mnt/hsb: $(tail -3 /tmp/mkfs.log)"
fi
note "mountinfo: $(grep ' /mnt/hsb ' /proc/self/mountinfo)"
check "sysfs lists both btrfs devices" test "$(ls /sys/fs/btrfs/*/devices 2> /dev/null | grep -c nvme)" -ge 2
if mkswap ${DISK[hs3]} > /dev/null 2>&1 && swapon ${DISK[hs3]}; then
    ok "swap active on ${DISK[hs3]}"
else
    fail "swap on ${DISK[hs3]}"
fi
SZ=$(blockdev --getsz ${DISK[hs4]})
# no udevd here: dmsetup makes the /dev/mapper node itself
# dm-crypt (the crypt target, a throw-away key) over a dm linear volume: the
# LUKS-on-LVM shape, two levels of slaves/
KEY=$(printf '%064d' 0)
if dmsetup create --noudevsync hsvol --table "0 $SZ linear ${DISK[hs4]} 0" && dmsetup mknodes hsvol \
   && dmsetup create --noudevsync hscrypt --table "0 $SZ crypt aes-xts-plain64 $KEY 0 /dev/mapper/hsvol 0" \
   && dmsetup mknodes hscrypt \
   && mkfs.ext4 -q -F /dev/mapper/hscrypt \
   && mount /dev/mapper/hscrypt /mnt/hse; then
    ok "ext4 on dm-crypt /dev/mapper/hscrypt on dm linear hsvol over ${DISK[hs4]} mounted on /mnt/hse"
else
    fail "ext4 on dm over ${DISK[hs4]}"
fi
# a loop device backed by a file on that ext4, mounted
mkdir -p /mnt/hsl
modprobe loop 2> /dev/null
# no udevd: the node of the first loop device by hand if devtmpfs lacks it
[ -e /dev/loop-control ] || mknod /dev/loop-control c 10 237
if truncate -s 16M /mnt/hse/loop.img && LOOP=$(losetup --find --show /mnt/hse/loop.img) \
   && mkfs.ext4 -q -F $LOOP && mount $LOOP /mnt/hsl; then
    ok "ext4 on $LOOP (backed by /mnt/hse/loop.img) mounted on /mnt/hsl"
else
    fail "loop device on /mnt/hse/loop.img"
fi

mkdir -p /mnt/hsm
if [ -n "$MPDISK" ] && mkfs.ext4 -q -F $MPDISK && mount $MPDISK /mnt/hsm; then
    ok "ext4 on the multipath head $MPDISK mounted on /mnt/hsm"
else
    fail "ext4 on the multipath head ${MPDISK:-?}"
fi

# --- the bond -------------------------------------------------------------------
NA=0000:00:02.0 NB=0000:0b:00.0 NPEER=0000:0b:00.1 NFREE=0000:00:03.0
ifname() { ls /sys/bus/pci/devices/$1/net 2> /dev/null | head -1; }
check "$NB and $NPEER share IOMMU group $(grp $NB)" test "$(grp $NB)" = "$(grp $NPEER)" -a "$(grp $NB)" != -1
check "$NA is in another group" test "$(grp $NA)" != "$(grp $NB)"
modprobe bonding 2> /dev/null
IA=$(ifname $NA) IB=$(ifname $NB)
if ip link add bond0 type bond mode active-backup miimon 100 \
   && ip link set "$IA" down && ip link set "$IA" master bond0 \
   && ip link set "$IB" down && ip link set "$IB" master bond0 \
   && ip link set bond0 up \
   && ip addr add 10.99.0.2/24 dev bond0 \
   && ip route add default via 10.99.0.1 dev bond0 onlink \
   && ip -6 addr add fd00:99::2/64 dev bond0 nodad \
   && ip -6 route add default via fd00:99::1 dev bond0 onlink; then
    ok "active-backup bond0 over $IA ($NA) and $IB ($NB) carries the default routes"
else
    fail "bond0 with the default route"
fi
# policy routing: a bridge over 00:05.0 with a VLAN on top carrying the
# default route of table 100 (picked by a rule), and a macvlan on 02:00.0
# carrying the IPv6 default route of table 200
NBR=0000:00:05.0 NMV=0000:02:00.0
IBR=$(ifname $NBR) IMV=$(ifname $NMV)
if ip link add hsbr0 type bridge && ip link set "$IBR" master hsbr0 && ip link set "$IBR" up \
   && ip link set hsbr0 up && ip link add link hsbr0 name hsbr0.10 type vlan id 10 \
   && ip link set hsbr0.10 up && ip addr add 10.98.0.2/24 dev hsbr0.10 \
   && ip rule add from 10.98.0.2 table 100 \
   && ip route add default via 10.98.0.1 dev hsbr0.10 onlink table 100 \
   && ip link set "$IMV" up && ip link add hsmv0 link "$IMV" type macvlan mode bridge \
   && ip link set hsmv0 up && ip -6 addr add fd00:98::2/64 dev hsmv0 nodad \
   && ip -6 rule add from fd00:98::2 table 200 \
   && ip -6 route add default via fd00:98::1 dev hsmv0 onlink table 200; then
    ok "VLAN hsbr0.10 on bridge hsbr0 over $IBR ($NBR): default route of table 100; macvlan hsmv0 on $IMV ($NMV): IPv6 default of table 200"
else
    fail "bridge/VLAN/macvlan policy routes"
fi
# a VXLAN over the e1000e behind the PCIe switch (08:00.0) carrying the
# default route of table 300
NVX=0000:08:00.0
IVX=$(ifname $NVX)
if modprobe vxlan 2> /dev/null; ip link set "$IVX" up && ip addr add 10.97.0.2/24 dev "$IVX" \
   && ip link add hsvx0 type vxlan id 42 dev "$IVX" remote 10.97.0.1 dstport 4789 \
   && ip link set hsvx0 up && ip addr add 10.96.0.2/24 dev hsvx0 \
   && ip rule add from 10.96.0.2 table 300 \
   && ip route add default via 10.96.0.1 dev hsvx0 onlink table 300; then
    ok "VXLAN hsvx0 over $IVX ($NVX): default route of table 300"
else
    fail "VXLAN over $IVX"
fi
# a team device (no teamd: the kernel enslaves the port itself) over the
# other switch NIC (09:00.0) carrying the default route of table 400
NTM=0000:09:00.0
ITM=$(ifname $NTM)
if modprobe team 2> /dev/null; ip link add hstm0 type team && ip link set "$ITM" down \
   && ip link set "$ITM" master hstm0 && ip link set hstm0 up && ip addr add 10.95.0.2/24 dev hstm0 \
   && ip rule add from 10.95.0.2 table 400 \
   && ip route add default via 10.95.0.1 dev hstm0 onlink table 400; then
    ok "team hstm0 over $ITM ($NTM): default route of table 400"
else
    fail "team over $ITM"
fi
note "routes: $(ip route show table all | grep default | tr '\n' ';') $(ip -6 route show table all | grep default | tr '\n' ';')"
note "stacks built in $(( $(now_ms) - T0 )) ms"

# the stacks as this kernel shows them, for the unit tests on recorded data
# (tests/data/host-usage/vm-hoststacks/, copied by hand from work/out/)
# (recorded on tmpfs and packed: the output share keeps no symlinks)
rm -rf /tmp/recording $OUT/recording.tar
if $PY /vmtest/guest/record_hoststacks.py /tmp/recording > /tmp/record.log 2>&1 \
   && tar -cf $OUT/recording.tar -C /tmp/recording .; then
    ok "recorded the stacks into recording.tar: $(tail -1 /tmp/record.log)"
else
    fail "recording the stacks: $(tail -3 /tmp/record.log)"
fi

# --- the daemon's verdicts ------------------------------------------------------
start_dbus "$POLICY"
mkdir -p /tmp/pad-state /tmp/pad-run
export STATE_DIRECTORY=/tmp/pad-state RUNTIME_DIRECTORY=/tmp/pad-run
"$DAEMON" --read-only > /tmp/daemon.log 2>&1 &
DPID=$!
if wait_for_name org.pciassign1 60; then
    ok "pci-assignd --read-only owns org.pciassign1"
else
    fail "pci-assignd --read-only owns org.pciassign1 within 60 s"
    tail -20 /tmp/daemon.log | sed 's/^/    log: /'
    summary; exit 1
fi
ALL="${FN[hs1]} ${FN[hs2]} ${FN[hs3]} ${FN[hs4]} ${FN[hs5]} $MP $NA $NB $NPEER $NFREE $NBR $NMV $NVX $NTM"
timeout 60 "$CTL" --json check $ALL > $OUT/check.json 2> /tmp/ctl.err
note "pci-assignctl check rc=$? $(head -c 300 /tmp/ctl.err)"
timeout 60 "$CTL" check $ALL > $OUT/check.txt 2>&1
sed 's/^/    check: /' $OUT/check.txt | head -60

# verdict ADDRESS CODE [TEXT-REGEX]: ADDRESS has reason CODE (whose text
# matches the regex); CODE "!" means: no blocking reason at all
verdict() {
    $PY - "$OUT/check.json" "$@" <<'PYEOF'
import json, re, sys
data = json.load(open(sys.argv[1]))
addr, code = sys.argv[2], sys.argv[3]
rx = sys.argv[4] if len(sys.argv) > 4 else None
e = [x for x in data if x.get("address") == addr]
if not e:
    sys.exit("no entry for " + addr)
e = e[0]
if code == "!":
    sys.exit(0 if e["verdict"] != "not-assignable" else "verdict " + e["verdict"] + ": " + "; ".join(r["code"] for r in e["reasons"]))
for r in e["reasons"]:
    if r["code"] == code and (rx is None or re.search(rx, r["text"])):
        sys.exit(0)
sys.exit("reasons: " + "; ".join(r["code"] + ": " + r["text"] for r in e["reasons"]))
PYEOF
}
vcheck() { local d=$1; shift; local why; if why=$(verdict "$@" 2>&1); then ok "$d"; else fail "$d: $why"; fi; }

vcheck "hs1 ${FN[hs1]} (btrfs, the mounted device): in-use-by-host /mnt/hsb" ${FN[hs1]} in-use-by-host '/mnt/hsb'
vcheck "hs2 ${FN[hs2]} (btrfs raid1 peer, not in mountinfo): in-use-by-host /mnt/hsb" ${FN[hs2]} in-use-by-host '/mnt/hsb'
vcheck "hs3 ${FN[hs3]} (active swap): in-use-by-host swap" ${FN[hs3]} in-use-by-host 'swap'
vcheck "hs4 ${FN[hs4]} (ext4 on dm-crypt on dm linear): in-use-by-host /mnt/hse" ${FN[hs4]} in-use-by-host '/mnt/hse'
vcheck "hs4 ${FN[hs4]} (loop file on /mnt/hse): in-use-by-host /mnt/hsl" ${FN[hs4]} in-use-by-host '/mnt/hsl from /dev/loop'
vcheck "$NBR (bridge port under the VLAN): in-use-by-host default route (table 100) via hsbr0.10" $NBR in-use-by-host 'default route \(table 100\) via hsbr0.10'
vcheck "$NVX (under the VXLAN, behind a switch): in-use-by-host default route (table 300) via hsvx0" $NVX in-use-by-host 'default route \(table 300\) via hsvx0'
vcheck "$NTM (a team port): in-use-by-host default route (table 400) via hstm0" $NTM in-use-by-host 'default route \(table 400\) via hstm0'
vcheck "$NMV (under the macvlan): in-use-by-host IPv6 default route (table 200) via hsmv0" $NMV in-use-by-host 'IPv6 default route \(table 200\) via hsmv0'
vcheck "hs5 ${FN[hs5]} (unused NVMe): assignable" ${FN[hs5]} '!'
for a in $MP; do
    vcheck "multipath controller $a: in-use-by-host /mnt/hsm" $a in-use-by-host '/mnt/hsm'
done
vcheck "$NA (bond port): in-use-by-host default route via bond0" $NA in-use-by-host 'default route.* via bond0'
vcheck "$NB (bond port): in-use-by-host default route via bond0" $NB in-use-by-host 'default route.* via bond0'
vcheck "$NB: IPv6 default route too" $NB in-use-by-host 'IPv6 default route.* via bond0'
vcheck "$NPEER (group peer of $NB): group-peer-in-use-by-host naming $NB" $NPEER group-peer-in-use-by-host "$NB"
vcheck "$NFREE (unused NIC): assignable" $NFREE '!'
for s in hs1 hs2 hs3 hs4; do
    vcheck "${FN[$s]}: nothing unknown (no host-usage-unknown)" ${FN[$s]} in-use-by-host
done
if grep -q '"host-usage-unknown"' $OUT/check.json; then
    fail "no function is host-usage-unknown (every stack followed)"
else
    ok "no function is host-usage-unknown (every stack followed)"
fi
# the bridges above: root ports of the used disks are in use too
RP=$(basename "$(dirname "$(readlink -f /sys/bus/pci/devices/${FN[hs2]})")")
timeout 60 "$CTL" --json check $RP > /tmp/rp.json 2>/dev/null && cp /tmp/rp.json $OUT/check-rp.json
verdict_rp() { $PY -c "import json,sys; d=json.load(open('/tmp/rp.json')); sys.exit(0 if any(r['code']=='in-use-by-host' for r in d[0]['reasons']) else 1)"; }
check "root port $RP above hs2 is in-use-by-host too" verdict_rp

# once everything is torn down, the verdicts follow (mountinfo/swaps/route
# changes are watched)
umount /mnt/hsb; swapoff ${DISK[hs3]}; ip link del bond0
sleep 3
timeout 60 "$CTL" --json check $ALL > $OUT/check.json 2> /dev/null
vcheck "after umount: hs2 ${FN[hs2]} assignable again" ${FN[hs2]} '!'
vcheck "after swapoff: hs3 ${FN[hs3]} assignable again" ${FN[hs3]} '!'
vcheck "after the bond is gone: $NPEER assignable again" $NPEER '!'
vcheck "hs4 ${FN[hs4]} still in-use-by-host (/mnt/hse still mounted)" ${FN[hs4]} in-use-by-host '/mnt/hse'

# a routed tunnel (GRE without a device: the kernel routes its packets to
# the remote by the routing table) carrying the default route of table 500;
# its remote is reached over the NIC that had no route so far ($NFREE).
# Which NIC is the underlay is the routing table's choice, so every NIC
# with a route counts (issue 15); one without a route stays assignable.
IFREE=$(ifname $NFREE)
if modprobe ip_gre 2> /dev/null; ip link set "$IFREE" up && ip addr add 10.94.0.2/24 dev "$IFREE" \
   && ip link add hsgre0 type gre remote 10.94.0.1 local 10.94.0.2 \
   && ip link set hsgre0 up && ip addr add 10.93.0.2/24 dev hsgre0 \
   && ip rule add from 10.93.0.2 table 500 \
   && ip route add default dev hsgre0 table 500; then
    ok "GRE hsgre0 without a device, remote 10.94.0.1 over $IFREE ($NFREE): default route of table 500"
else
    fail "GRE without a device"
fi
sleep 3
timeout 60 "$CTL" --json check $ALL > $OUT/check.json 2> /dev/null
vcheck "$NFREE (the GRE's underlay by the routing table): in-use-by-host via hsgre0" $NFREE in-use-by-host \
    'via hsgre0, a tunnel that may be routed over'
vcheck "hs5 ${FN[hs5]} (unused NVMe) still assignable" ${FN[hs5]} '!'
ip link del hsgre0 2> /dev/null; ip addr flush dev "$IFREE" 2> /dev/null; ip rule del table 500 2> /dev/null
sleep 3
timeout 60 "$CTL" --json check $ALL > $OUT/check.json 2> /dev/null
vcheck "after the GRE is gone (and $IFREE has no route): $NFREE assignable again" $NFREE '!'

kill $DPID 2> /dev/null; wait $DPID 2> /dev/null
sed 's/^/    daemon: /' /tmp/daemon.log | grep -v '^    daemon: $' | head -20
note "scenario took $(( $(now_ms) - T0 )) ms"
summary
