#!/bin/bash
# `meson install --destdir` puts every shipped file where the system looks
# for it, with sane modes.  Usage: check-install.sh BUILD_DIR [man|no-man]
set -euo pipefail
B=$(cd "${1:?usage: check-install.sh BUILD_DIR}" && pwd)
D=$(mktemp -d /tmp/pci-assignd-destdir.XXXXXX)
trap 'rm -rf "$D"' EXIT

meson install -C "$B" --destdir "$D" --no-rebuild --quiet > "$D.log" 2>&1 || { cat "$D.log"; rm -f "$D.log"; exit 1; }
rm -f "$D.log"

opt() { meson introspect "$B" --buildoptions | /usr/bin/python3 -c '
import json, sys
v = {o["name"]: o["value"] for o in json.load(sys.stdin)}[sys.argv[1]]
print(str(v).lower() if isinstance(v, bool) else v)' "$1"; }
prefix=$(opt prefix)
sysconfdir=$(opt sysconfdir)
case $sysconfdir in /*) ;; *) sysconfdir=$prefix/$sysconfdir ;; esac
pc() { pkg-config --variable="$2" "$1" 2>/dev/null || true; }
unitdir=$(pc systemd systemdsystemunitdir); unitdir=${unitdir:-$prefix/lib/systemd/system}
svcdir=$(pc dbus-1 system_bus_services_dir); svcdir=${svcdir:-$prefix/share/dbus-1/system-services}
poldir=$(pc polkit-gobject-1 policydir); poldir=${poldir:-$prefix/share/polkit-1/actions}

fail=0
want() {  # want PATH MODE
  local f="$D$1"
  if [ ! -f "$f" ]; then echo "FAIL - missing $1"; fail=1; return; fi
  local m; m=$(stat -c %a "$f")
  if [ "$m" != "$2" ]; then echo "FAIL - $1 has mode $m, expected $2"; fail=1; return; fi
  echo "ok - $1 ($m)"
}
want "$prefix/sbin/pci-assignd" 755
want "$prefix/bin/pci-assignctl" 755
want "$prefix/share/dbus-1/system.d/org.pciassign1.conf" 644
want "$svcdir/org.pciassign1.service" 644
want "$poldir/org.pciassign1.policy" 644
want "$unitdir/pci-assignd.service" 644
expected=6
if [ "${2:-man}" = man ]; then
  for p in man8/pci-assignd.8 man1/pci-assignctl.1 man5/org.pciassign1.5; do
    want "$prefix/share/man/$p" 644
  done
  expected=9
fi

# the libvirt hook (-Dlibvirt-hook, default true), calling the installed client
if [ "$(opt libvirt-hook)" = true ]; then
  want "$sysconfdir/libvirt/hooks/qemu.d/pci-assignd" 755
  expected=$((expected + 1))
  grep -q "^PCI_ASSIGNCTL=\${PCI_ASSIGNCTL:-$prefix/bin/pci-assignctl}\$" "$D$sysconfdir/libvirt/hooks/qemu.d/pci-assignd" \
    && echo "ok - the libvirt hook runs $prefix/bin/pci-assignctl" \
    || { echo "FAIL - the libvirt hook does not run $prefix/bin/pci-assignctl"; fail=1; }
fi

# the activation file and the unit start the binary that was installed
grep -q "^Exec=$prefix/sbin/pci-assignd" "$D$svcdir/org.pciassign1.service" \
  && echo "ok - activation file runs $prefix/sbin/pci-assignd" \
  || { echo "FAIL - activation file Exec= is not $prefix/sbin/pci-assignd"; fail=1; }
grep -q "^ExecStart=$prefix/sbin/pci-assignd" "$D$unitdir/pci-assignd.service" \
  && echo "ok - unit runs $prefix/sbin/pci-assignd" \
  || { echo "FAIL - unit ExecStart= is not $prefix/sbin/pci-assignd"; fail=1; }
# nothing else but what we know of
n=$(find "$D" -type f | wc -l)
[ "$n" = "$expected" ] && echo "ok - $n files installed" || { echo "FAIL - $n files installed, expected $expected:"; find "$D" -type f; fail=1; }
exit $fail
