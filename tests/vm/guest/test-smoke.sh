#!/bin/bash
# Boot smoke test: the harness itself (mounts, modules, topology, output share).
. /vmtest/guest/lib.sh
check "root is an overlay over 9p" test "$(findmnt -n -o FSTYPE /)" = overlay
check "output share is writable" sh -c "echo hello > $OUT/smoke.txt"
check "intel-iommu groups exist" test -n "$(ls /sys/kernel/iommu_groups)"
n=$(ls $P | wc -l)
check "PCI functions enumerated ($n)" test "$n" -ge 30
check "vfio-pci loaded" test -d /sys/bus/pci/drivers/vfio-pci
check "nvme PF at 0000:01:00.0" test "$(cat $P/0000:01:00.0/class 2>/dev/null)" = 0x010802
check "e1000e bound behind the x-speed=2_5 root port" test "$(drv 0000:0a:00.0)" = e1000e
check "host python3 runs the sysfs reader" sh -c "/usr/bin/python3 /vmtest/guest/pci_sysfs.py > $OUT/truth.json"
summary
