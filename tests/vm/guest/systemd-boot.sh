#!/bin/bash
# "systemd" mode of the VM tier: run by guest/stage2.sh (PID 1, after
# switch_root into the host root over 9p + tmpfs overlay) for a scenario with
# a "# vm-mode: systemd" line.
#
#   systemd-boot.sh SCENARIO SCRIPT
#
# 1. copies the tree the host pre-step installed (`meson install --destdir
#    /vmout/destdir`, prefix /usr: host/shipping.sh) into the guest's root, as
#    a package would put it there: the shipped unit, activation file, bus
#    policy, polkit actions and binaries, not copies of them;
# 2. writes the test units into /etc/systemd/system: pci-assignd-test.target
#    (named on the kernel command line by run-test.sh:
#    systemd.unit=pci-assignd-test.target) wants the distribution's
#    dbus.service, polkit.service, systemd-journald and systemd-udevd (through
#    sysinit.target) and pci-assignd-test.service, which runs SCRIPT with its
#    output on the console and powers the guest off when it ends;
# 3. masks host units that have no business in the guest;
# 4. execs Debian's /lib/systemd/systemd as PID 1.
# A "# vm-reboot: yes" scenario keeps /var/lib/pci-assignd on the writable
# 9p share (/vmout/state), so it survives a reboot; /vmout/boot counts boots.
T=$1
S=$2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "VMTEST: $*" > /dev/console; }
die() { say "$*"; echo "0 passed, 1 failed" > /dev/console; sync; busybox poweroff -f; }
say "systemd mode: scenario $T ($S) prepares at uptime $(cut -d' ' -f1 /proc/uptime)"

# --- the installed tree -------------------------------------------------------
DEST=/vmout/destdir
[ -d $DEST ] || die "no $DEST: host pre-step (host/$T.sh) missing or failed"
rm -rf /var/lib/pci-assignd /run/pci-assignd /etc/systemd/system/pci-assignd.service.d
(cd $DEST && tar --owner=0 --group=0 -cf - .) \
    | tar -C / --keep-directory-symlink --no-overwrite-dir -xpf - \
    || die "copying $DEST into / failed"

# --- persistent state across a reboot ------------------------------------------
n=$(cat /vmout/boot 2> /dev/null || echo 0)
n=$((n + 1))
echo $n > /vmout/boot
if grep -q '^# vm-reboot: *yes *$' "$S"; then
    mkdir -p /vmout/state /var/lib/pci-assignd
    mount --bind /vmout/state /var/lib/pci-assignd || die "bind /vmout/state failed"
fi

# --- units ----------------------------------------------------------------------
# The host may be a container: its /.dockerenv, seen through the overlay,
# makes systemd believe it runs in docker, and then it ignores the kernel
# command line (systemd.unit=) and skips udev and other units. This guest is
# a VM.
rm -f /.dockerenv /run/.containerenv
U=/etc/systemd/system
# The host's enabled units and what a container host has that a VM test does
# not need (each one costs seconds under TCG).
for u in systemd-pstore.service systemd-timesyncd.service getty@tty1.service getty.target \
         console-getty.service serial-getty@ttyS0.service \
         e2scrub_reap.service postgresql.service remote-fs.target apt-daily.timer \
         apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
         man-db.timer systemd-tmpfiles-clean.timer systemd-firstboot.service \
         systemd-update-utmp.service systemd-update-utmp-runlevel.service \
         systemd-random-seed.service systemd-machine-id-commit.service \
         systemd-journal-flush.service systemd-binfmt.service proc-sys-fs-binfmt_misc.automount \
         sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
         sys-fs-fuse-connections.mount dev-hugepages.mount dev-mqueue.mount tmp.mount \
         systemd-remount-fs.service systemd-logind.service console-setup.service \
         keyboard-setup.service kmod-static-nodes.service systemd-sysusers.service \
         ldconfig.service systemd-hwdb-update.service systemd-boot-system-token.service \
         systemd-pcrphase.service systemd-pcrphase-sysinit.service systemd-repart.service \
         systemd-ask-password-console.path systemd-ask-password-wall.path \
         cryptsetup.target veritysetup.target integritysetup.target swap.target; do
    ln -sf /dev/null $U/$u
done
# systemd-tmpfiles-setup.service runs with --remove, which empties /tmp (the
# host's /tmp seen through the overlay: minutes of whiteouts over 9p, and a
# build directory there would vanish): create only.
mkdir -p $U/systemd-tmpfiles-setup.service.d
cat > $U/systemd-tmpfiles-setup.service.d/vmtest.conf <<'EOF2'
[Service]
ExecStart=
ExecStart=systemd-tmpfiles --create --boot --exclude-prefix=/dev --exclude-prefix=/tmp --exclude-prefix=/var/tmp
EOF2
# Units the scenario enabled in an earlier boot (/vmout/enable-units, one a
# line): the guest's /etc is a fresh tmpfs overlay at every boot, so what an
# administrator's `systemctl enable` left in /etc is done again here, by the
# same command, before systemd starts.
if [ -s /vmout/enable-units ]; then
    while read -r u; do
        [ -n "$u" ] && { systemctl enable "$u" > /dev/console 2>&1 || die "systemctl enable $u failed"; }
    done < /vmout/enable-units
fi
# pci-assignd-test-after.service: ordered after pci-assignd.service and
# wanted by the test target (a stand-in for libvirtd/virtqemud, which the
# unit is ordered before): it records, when it starts, the drivers of every
# PCI function and whether org.pciassign1 has an owner, in
# /vmout/after-boot$n.txt.
cat > $U/pci-assignd-test-after.service <<EOF2
[Unit]
Description=pci-assignd VM test: a unit ordered after pci-assignd.service
After=pci-assignd.service
[Service]
Type=oneshot
ExecStart=/bin/bash /vmtest/guest/systemd-after.sh /vmout/after-boot$n.txt
EOF2
cat > $U/pci-assignd-test.target <<'EOF2'
[Unit]
Description=pci-assignd VM test target
Requires=pci-assignd-test.service
Wants=multi-user.target dbus.service polkit.service systemd-journald.service systemd-udevd.service systemd-udev-trigger.service pci-assignd-test-after.service
AllowIsolate=yes
EOF2
cat > $U/pci-assignd-test.service <<EOF2
[Unit]
Description=pci-assignd VM test scenario $T
After=multi-user.target pci-assignd-test-after.service dbus.service polkit.service systemd-journald.service systemd-udevd.service systemd-udev-trigger.service
[Service]
Type=simple
Environment=VMTEST_SCENARIO=$T VMTEST_SCRIPT=$S
ExecStart=/bin/bash /vmtest/guest/systemd-scenario.sh
StandardInput=null
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
TTYReset=no
TTYVHangup=no
SuccessAction=poweroff-immediate
FailureAction=poweroff-immediate
EOF2
say "systemd mode: exec /lib/systemd/systemd at uptime $(cut -d' ' -f1 /proc/uptime)"
exec /lib/systemd/systemd
