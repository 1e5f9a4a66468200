#!/bin/bash
# Guest scenario "record": capture the fixtures of tests/data from a real kernel.
# Writes to /vmout (tests/vm/work/out/record on the host); the host side
# (tests/vm/record-fixtures.sh) checks them and copies them into tests/data.
. /vmtest/guest/lib.sh
G=/vmtest/guest
PY=/usr/bin/python3
mkdir -p $OUT/config $OUT/resource $OUT/testbeds

start_udev

# One fixture per kind of function: guest address -> file name.
declare -A NAME=(
  [0000:00:00.0]=q35-host-bridge
  [0000:00:02.0]=e1000e-rootbus
  [0000:00:05.0]=e1000e-multifunction-f0
  [0000:00:05.1]=e1000e-multifunction-f1
  [0000:00:06.0]=pcie-root-port
  [0000:00:08.0]=pcie-root-port-empty
  [0000:00:0b.0]=pcie-root-port-2_5gt
  [0000:00:1e.0]=virtio-9p
  [0000:00:1f.0]=ich9-lpc
  [0000:00:1f.2]=ich9-ahci
  [0000:00:1f.3]=ich9-smbus
  [0000:01:00.0]=nvme-pf
  [0000:01:00.1]=nvme-vf
  [0000:02:00.0]=e1000e-behind-root-port
  [0000:04:00.0]=pcie-pci-bridge
  [0000:05:01.0]=e1000-behind-bridge
  [0000:06:00.0]=xio3130-upstream
  [0000:07:00.0]=xio3130-downstream
  [0000:08:00.0]=e1000e-behind-switch
  [0000:0b:00.0]=e1000e-multifunction-port-f0
  [0000:0b:00.1]=e1000e-multifunction-port-f1
)

# --- SR-IOV: two VFs on the NVMe PF ---------------------------------------------
PF=0000:01:00.0
cp $P/$PF/config $OUT/config/nvme-pf-novfs.bin
AUTOPROBE_WAS=$(cat $P/$PF/sriov_drivers_autoprobe)
# 0: QEMU's NVMe VFs have no queue resources until nvme virt-mgmt assigns them,
# so the nvme driver would only fail (slowly) to probe them. Driverless VFs are
# the state pci-assignd sees before a vfio bind anyway.
echo 0 > $P/$PF/sriov_drivers_autoprobe
t0=$(now_ms)
if echo 2 > $P/$PF/sriov_numvfs; then
    udevadm settle --timeout=60
    ok "sriov_numvfs=2 on $PF ($(( $(now_ms) - t0 )) ms)"
else
    fail "sriov_numvfs=2 on $PF"
fi
check "two VFs appear (virtfn0, virtfn1)" test -e $P/$PF/virtfn0 -a -e $P/$PF/virtfn1
check "VF 0000:01:00.1 has physfn" test "$(basename "$(readlink $P/0000:01:00.1/physfn)")" = $PF

# --- config space + resource -----------------------------------------------------
{
  echo "# Config-space fixtures recorded by tests/vm (guest scenario 'record')"
  echo "# kernel $(uname -r), QEMU q35 + intel-iommu; see tests/vm/run-vm.sh for the topology."
  echo "# nvme PF: sriov_drivers_autoprobe was $AUTOPROBE_WAS, set to 0, then sriov_numvfs=2."
  echo "# nvme-pf-novfs.bin: the PF before VFs were enabled (SR-IOV Control VF Enable = 0)."
  echo "# Config read as root through sysfs 'config': 4096 bytes for functions with a"
  echo "# PCI Express capability, 256 for the others (q35 host bridge, ICH9, virtio,"
  echo "# e1000 behind the pcie-pci-bridge)."
  echo "#"
  echo "# file | guest address | size | lspci -nn | capabilities (lspci -vvv)"
} > $OUT/config/README
n=0; bad=0
for a in $(printf '%s\n' "${!NAME[@]}" | sort); do
    f=${NAME[$a]}
    if [ ! -e $P/$a ]; then fail "function $a ($f) exists"; bad=$((bad + 1)); continue; fi
    cat $P/$a/config > $OUT/config/$f.bin
    cat $P/$a/resource > $OUT/resource/$f.txt
    sz=$(stat -c %s $OUT/config/$f.bin)
    case $sz in 256|4096) ;; *) fail "$a config size $sz"; bad=$((bad + 1));; esac
    caps=$(lspci -vvv -s ${a#0000:} | sed -n 's/^\tCapabilities: \(\[[0-9a-f]*\]\) \([^,:]*\).*/\1 \2/p' | paste -sd ';' -)
    echo "$f.bin | $a | $sz | $(lspci -nn -s ${a#0000:} | cut -d' ' -f2-) | $caps" >> $OUT/config/README
    n=$((n + 1))
done
cat $P/$PF/resource > $OUT/resource/nvme-pf-novfs.txt   # BARs do not change with VFs
check "config + resource of $n kinds of function saved" test $bad = 0
lspci -vvv -xxxx > $OUT/config/lspci-vvv-xxxx.txt 2>&1
lspci -vvv -nn > $OUT/config/lspci-vvv.txt 2>&1
check "lspci -vvv saved" test -s $OUT/config/lspci-vvv.txt

# --- truth file -------------------------------------------------------------------
if $PY $G/pci_sysfs.py --extra "recorded_with={\"sriov_drivers_autoprobe_was\": $AUTOPROBE_WAS, \"sriov_drivers_autoprobe\": 0, \"nvme_pf\": \"$PF\", \"sriov_numvfs\": 2}" \
        > $OUT/testbeds/q35-vm.truth.json; then
    ok "truth.json written ($(grep -c '"address"' $OUT/testbeds/q35-vm.truth.json) functions)"
else
    fail "truth.json"
fi

# --- umockdev ---------------------------------------------------------------------
t0=$(now_ms)
if umockdev-record /sys/bus/pci/devices/* > $OUT/testbeds/q35-vm.raw.umockdev 2> $OUT/testbeds/umockdev-record.err; then
    ok "umockdev-record of the PCI tree ($(( $(now_ms) - t0 )) ms)"
else
    fail "umockdev-record"; cat $OUT/testbeds/umockdev-record.err
fi
if $PY $G/umockdev_extras.py $OUT/testbeds/q35-vm.raw.umockdev > $OUT/testbeds/q35-vm.umockdev; then
    ok "umockdev record post-processed (iommu groups, driver dirs, reset files)"
else
    fail "umockdev_extras.py"
fi
check "driver links recorded as L: lines" grep -q '^L: driver=' $OUT/testbeds/q35-vm.umockdev
check "iommu_group links recorded as L: lines" grep -q '^L: iommu_group=' $OUT/testbeds/q35-vm.umockdev
check "udev hwdb names recorded" grep -q '^E: ID_MODEL_FROM_DATABASE=' $OUT/testbeds/q35-vm.umockdev
uname -r > $OUT/kernel-release
summary
