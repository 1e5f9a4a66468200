#!/bin/bash
# ExecStart= of pci-assignd-test.service (written by guest/systemd-boot.sh):
# run the scenario script under systemd, keep the journal, power the guest
# off (systemctl -ff poweroff; the unit's SuccessAction=/FailureAction=
# poweroff-immediate are the fallback; the output share is written with
# cache=none and synced); a scenario
# that reboots (vm-reboot) starts reboot.target itself and does not return.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 HOME=/root
S=$VMTEST_SCRIPT
echo "VMTEST: scenario $VMTEST_SCENARIO ($S) starts under systemd (boot $(cat /vmout/boot)) at uptime $(cut -d' ' -f1 /proc/uptime)"
bash "$S"
rc=$?
echo "VMTEST: exit status $rc"
journalctl -b --no-pager -o short-monotonic -u pci-assignd.service -u dbus.service -u polkit.service -u pci-assignd-test-after.service > /vmout/journal-boot$(cat /vmout/boot).txt 2>&1
echo "VMTEST: DONE at uptime $(cut -d' ' -f1 /proc/uptime)"
sync
# power off from here (reboot(2), as stage2.sh does): systemd's
# SuccessAction= was seen not to end the guest in time under TCG
systemctl --force --force poweroff
exit 0
