#!/bin/bash
# ExecStart= of pci-assignd-test-after.service (guest/systemd-boot.sh), a
# unit ordered After=pci-assignd.service, as libvirtd.service and
# virtqemud.service are ordered after it by the shipped unit's Before=:
# records, the moment it starts, the driver of every PCI function and the
# state of pci-assignd.service.
#   systemd-after.sh FILE
{
    echo "uptime $(cut -d' ' -f1 /proc/uptime)"
    # globs only: a fork per function costs seconds under TCG
    for d in /sys/bus/pci/drivers/*/0000:*; do
        [ -e "$d" ] || continue
        a=${d##*/}; drv=${d%/*}
        echo "driver $a ${drv##*/}"
    done
    echo "pci-assignd.service $(systemctl show -p ActiveState --value pci-assignd.service)"
} > "$1.tmp" && mv "$1.tmp" "$1"
