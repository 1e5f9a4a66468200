#!/bin/bash
# Boot the Debian kernel in QEMU q35 with an emulated Intel IOMMU and the test
# PCI topology below, run one guest scenario in the host's own userland (host
# root over virtio-9p, read-only, under a tmpfs overlay), power off.
#
#   tests/vm/run-vm.sh SCENARIO
#
# SCENARIO is guest/test-SCENARIO.sh or guest/SCENARIO.sh. The guest can write
# to tests/vm/work/out/SCENARIO/ (second 9p share, mounted on /vmout); nothing
# else on the host is writable from the guest. The serial console goes to
# work/logs/SCENARIO.log. Exit status: QEMU's, 124 on timeout.
#
# Environment:
#   ACCEL=tcg|kvm   (default tcg: the /dev/kvm of CI machines cannot run it)
#   TIMEOUT=s       (default 300)   MEM=MiB (1024)   SMP=n (2)
#   LOG=file        EXTRA="qemu args"   APPEND="kernel args"
#   VERBOSE=1       also copy the console to stdout while it runs
#   REBOOT=1        a guest reboot boots again (no -no-reboot); poweroff ends
set -uo pipefail
VM=$(cd "$(dirname "$0")" && pwd)
WORK=$VM/work
T=${1:?usage: run-vm.sh SCENARIO}
ACCEL=${ACCEL:-tcg}
TIMEOUT=${TIMEOUT:-300}
mkdir -p "$WORK/logs" "$WORK/out/$T"
LOG=${LOG:-$WORK/logs/$T.log}
MON=$WORK/mon-$T.sock
rm -f "$MON"

[ -s "$WORK/kernel/vmlinuz" ] && [ -s "$WORK/initramfs.cpio.gz" ] \
    || { echo "run-vm: run tests/vm/setup.sh first"; exit 2; }

case $VM in *[[:space:],]*)
    echo "run-vm: $VM: the path must not contain blanks or commas (kernel command line, -fsdev)"
    exit 2 ;;
esac
case $ACCEL in
    kvm) ACC="-accel kvm -cpu host" ;;
    tcg) ACC="-accel tcg,thread=multi -cpu max" ;;
    *) echo "run-vm: ACCEL must be tcg or kvm"; exit 2 ;;
esac

# Topology. Bus numbers the guest assigns (stable for this command line):
#  00:02.0 e1000e (RCiEP)                00:03.0 e1000e (RCiEP)
#  00:05.0/.1 multifunction e1000e on the root bus (one group per function)
#  00:06.0 root port -> 01:00.0 nvme PF (SR-IOV, 2 VFs), VFs 01:00.1, 01:00.2
#  00:07.0 root port -> 02:00.0 e1000e
#  00:08.0 root port, empty (hotplug slot)
#  00:09.0 root port -> 04:00.0 pcie-pci-bridge -> 05:01.0, 05:02.0 e1000
#  00:0a.0 root port -> 06:00.0 x3130 upstream -> 07:00.0, 07:01.0 downstream
#          -> 08:00.0 e1000e, 09:00.0 e1000e
#  00:0b.0 root port x-speed=2_5 (bus reset works below it) -> 0a:00.0 e1000e
#  00:0c.0 root port -> 0b:00.0/.1 multifunction e1000e (one shared group)
#  00:1d.0 virtio-9p (output share)       00:1e.0 virtio-9p (host root)
#  00:1f.* ICH9 LPC/SATA/SMBus (q35 built-ins)
DEV="
 -device intel-iommu,intremap=on
 -device e1000e,addr=02.0,id=nic0,mac=52:54:00:00:00:02
 -device e1000e,addr=03.0,id=nic1,mac=52:54:00:00:00:03
 -device e1000e,addr=05.0,multifunction=on,id=mf0,mac=52:54:00:00:05:00
 -device e1000e,addr=05.1,multifunction=on,id=mf1,mac=52:54:00:00:05:01
 -device pcie-root-port,id=rp1,addr=06.0,chassis=1,slot=1
 -device nvme-subsys,id=nvsub0,nqn=vmtest
 -device nvme,bus=rp1,id=nvme0,serial=vmtest0,subsys=nvsub0,sriov_max_vfs=2,sriov_vq_flexible=4,sriov_vi_flexible=2
 -device pcie-root-port,id=rp2,addr=07.0,chassis=2,slot=2
 -device e1000e,bus=rp2,id=nic2,mac=52:54:00:00:07:00
 -device pcie-root-port,id=rp3,addr=08.0,chassis=3,slot=3
 -device pcie-root-port,id=rp4,addr=09.0,chassis=4,slot=4
 -device pcie-pci-bridge,id=br1,bus=rp4
 -device e1000,bus=br1,addr=01.0,id=legacy0,mac=52:54:00:00:09:01
 -device e1000,bus=br1,addr=02.0,id=legacy1,mac=52:54:00:00:09:02
 -device pcie-root-port,id=rp5,addr=0a.0,chassis=5,slot=5
 -device x3130-upstream,id=up1,bus=rp5
 -device xio3130-downstream,id=dn1,bus=up1,chassis=6,slot=6
 -device xio3130-downstream,id=dn2,bus=up1,chassis=7,slot=7
 -device e1000e,bus=dn1,id=sw0,mac=52:54:00:00:0a:01
 -device e1000e,bus=dn2,id=sw1,mac=52:54:00:00:0a:02
 -device pcie-root-port,id=rp6,addr=0b.0,chassis=8,slot=8,x-speed=2_5,x-width=1
 -device e1000e,bus=rp6,id=nic3,mac=52:54:00:00:0b:00
 -device pcie-root-port,id=rp7,addr=0c.0,chassis=9,slot=9
 -device e1000e,bus=rp7,addr=00.0,multifunction=on,id=mf2,mac=52:54:00:00:0c:00
 -device e1000e,bus=rp7,addr=00.1,id=mf3,mac=52:54:00:00:0c:01
"
# shellcheck disable=SC2054
FS=(-fsdev "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap"
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,addr=1e.0
    -fsdev "local,id=vmout,path=$WORK/out/$T,security_model=none,multidevs=remap"
    -device virtio-9p-pci,fsdev=vmout,mount_tag=vmout,addr=1d.0)

NOREBOOT=-no-reboot
[ "${REBOOT:-0}" = 1 ] && NOREBOOT=""
start=$(date +%s.%N)
# ACC, DEV and EXTRA are split into words on purpose
# shellcheck disable=SC2206,SC2054
cmd=(timeout -k 10 "$TIMEOUT" qemu-system-x86_64 $ACC -m "${MEM:-1024}" -smp "${SMP:-2}"
     -machine q35,kernel-irqchip=split
     -kernel "$WORK/kernel/vmlinuz" -initrd "$WORK/initramfs.cpio.gz"
     -append "console=ttyS0 intel_iommu=on iommu=pt panic=-1 loglevel=4 vmtest=$T vmtest_dir=$VM ${APPEND:-}"
     -display none -nodefaults -serial stdio ${NOREBOOT}
     -monitor unix:"$MON",server,nowait
     $DEV "${FS[@]}" ${EXTRA:-})
if [ "${VERBOSE:-0}" = 1 ]; then
    "${cmd[@]}" < /dev/null 2>&1 | tee "$LOG"
    rc=${PIPESTATUS[0]}
else
    "${cmd[@]}" < /dev/null > "$LOG" 2>&1
    rc=$?
fi
end=$(date +%s.%N)
rm -f "$MON"
printf 'run-vm: scenario=%s accel=%s rc=%s wall=%.1fs log=%s\n' "$T" "$ACCEL" "$rc" \
    "$(echo "$end - $start" | bc)" "$LOG"
exit $rc
