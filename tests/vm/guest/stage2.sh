#!/bin/sh
# First program in the host userland (after switch_root): finish the mounts,
# run guest/test-SCENARIO.sh (or
# guest/SCENARIO.sh), then power off. Output goes to the serial console.
T=$1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 HOME=/root
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
hostname vmtest-guest
dmesg -n 1
S=/vmtest/guest/test-$T.sh
[ -f "$S" ] || S=/vmtest/guest/$T.sh
# A scenario with a "# vm-mode: systemd" line runs under Debian's systemd as
# PID 1 instead (guest/systemd-boot.sh prepares the root and execs it).
if [ -f "$S" ] && grep -q '^# vm-mode: *systemd *$' "$S"; then
    exec bash /vmtest/guest/systemd-boot.sh "$T" "$S"
fi
echo "VMTEST: scenario $T ($S) starts at uptime $(cut -d' ' -f1 /proc/uptime)"
if [ -f "$S" ]; then
    bash "$S"
    echo "VMTEST: exit status $?"
else
    echo "VMTEST: no such scenario: $T"
    echo "0 passed, 1 failed"
fi
echo "VMTEST: DONE at uptime $(cut -d' ' -f1 /proc/uptime)"
sync
busybox poweroff -f
echo o > /proc/sysrq-trigger
