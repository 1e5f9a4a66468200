#!/bin/bash
# Boot smoke test: the harness itself (mounts, modules, topology, output share).
. /vmtest/guest/lib.sh
check "root is an overlay over 9p" test "$(findmnt -n -o FSTYPE /)" = overlay
check "output share is writable" sh -c "echo hello > $OUT/smoke.txt"
check "intel-iommu groups exist" test -n "$(ls /sys/kernel/iommu_groups)"
n=$(ls $P | wc -l)
check "PCI functions enumerated ($n)" test "$n" -ge 20
check "vfio-pci loaded" test -d /sys/bus/pci/drivers/vfio-pci
check "nvme PF at 0000:01:00.0" test "$(cat $P/0000:01:00.0/class 2>/dev/null)" = 0x010802
lspci -nn | head -3
for d in $P/*; do b=${d##*/}
    printf '%s %s:%s class=%s drv=%s group=%s reset=[%s]\n' $b $(cat $d/vendor) $(cat $d/device) \
        $(cat $d/class) "$(drv $b)" "$(grp $b)" "$(cat $d/reset_method 2>/dev/null)"
done
summary
