#!/bin/bash
# Host-side pre-step of the guest scenario "consumers" (run-test.sh runs it
# before the boot):  tests/vm/host/consumers.sh BUILD_DIR SRC_DIR OUTD
#
# Downloads (apt-get download; never installs on this host) the Debian
# packages of libvirtd and virsh that this host lacks, into
# tests/vm/work/debs/ (kept as a cache), for the guest to unpack into its
# tmpfs root with dpkg-deb -x (no maintainer scripts run anywhere).  When
# this host has libvirt installed, the list is empty and the guest uses it.
# Prints ok/FAIL lines; exit status 0 when the guest can have libvirtd.
set -uo pipefail
VM=$(cd "$(dirname "$0")/.." && pwd)
D=$VM/work/debs
ok()   { echo "ok - host: $*"; }
fail() { echo "FAIL - host: $*"; }
PKGS="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients"
mkdir -p "$D"
# what `apt-get install` would add here (a simulation: nothing changes)
need=$(apt-get install -s --no-install-recommends $PKGS 2> /dev/null | awk '/^Inst /{print $2}')
if [ -z "$need" ] && ! command -v libvirtd > /dev/null; then
    apt-get update -qq
    need=$(apt-get install -s --no-install-recommends $PKGS 2> /dev/null | awk '/^Inst /{print $2}')
fi
missing=""
for p in $need; do ls "$D/${p}_"*.deb > /dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    chmod 777 "$D"
    (cd "$D" && apt-get download $missing > "$D/download.log" 2>&1) || { fail "apt-get download$missing: $(tail -1 "$D/download.log")"; exit 1; }
fi
printf '%s\n' $need > "$D/wanted"
for p in $need; do
    ls "$D/${p}_"*.deb > /dev/null 2>&1 || { fail "apt-get download $p"; exit 1; }
done
ok "libvirt packages for the guest: $(echo ${need:-none needed, installed on this host})"
