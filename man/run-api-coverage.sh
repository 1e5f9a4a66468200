#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# run-api-coverage.sh PCI_ASSIGND MANPAGE [check-api-coverage options]
#
# Starts PCI_ASSIGND --read-only on a private bus, introspects the manager and
# one object of each kind below it (device, group, reservation), and runs
# check-api-coverage.sh on the result.
#
# So that every interface is really compared, whatever the host:
#  - the state directory is seeded with one persistent reservation, so a
#    Reservation object exists (and a Device object for its function, present
#    or not);
#  - with umockdev-run and the recorded q35 testbed of tests/data/testbeds
#    (which has IOMMU groups), the daemon runs against that testbed instead of
#    this host's sysfs, and a Group object must then be found too.
# Without umockdev the host's own sysfs is used, and groups are checked only
# if the host has some.
# Exit 77 (skipped) when dbus-daemon or busctl are missing, or the daemon
# does not come up here (e.g. no PCI bus in this environment).
set -eu

[ $# -ge 2 ] || { echo "usage: $0 PCI_ASSIGND MANPAGE [OPTIONS]" >&2; exit 2; }
daemon=$1
page=$2
shift 2
here=$(dirname "$0")

command -v dbus-daemon >/dev/null || { echo "SKIP: no dbus-daemon"; exit 77; }
command -v busctl >/dev/null || { echo "SKIP: no busctl"; exit 77; }

tmp=$(mktemp -d)
bus_pid=
daemon_pid=
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$tmp/bus.conf" --fork --print-address=3 --print-pid=4 \
        3>"$tmp/address" 4>"$tmp/bus.pid"
bus_pid=$(cat "$tmp/bus.pid")
address=$(cat "$tmp/address")

mkdir "$tmp/state" "$tmp/run" "$tmp/proc"
# host-usage sources: empty, so nothing depends on this host's mounts
: >"$tmp/proc/mountinfo"
: >"$tmp/proc/swaps"
: >"$tmp/proc/route"
: >"$tmp/proc/ipv6_route"
# one reservation (format 1 of src/store.h); the function need not exist
cat >"$tmp/state/state.json" <<EOF
{
  "format": 1,
  "next_id": 2,
  "reservations": [
    {
      "id": "r1",
      "owner": "man-api-coverage",
      "owner_uid": 0,
      "persistent": true,
      "driver": "vfio-pci",
      "state": "reserved",
      "created_usec": 0,
      "last_error": null,
      "functions": [
        { "address": "0000:00:02.0", "assigned": true, "host_driver": null,
          "vendor_id": 0, "device_id": 0 }
      ]
    }
  ]
}
EOF

testbed=$here/../tests/data/testbeds/q35-vm.umockdev
wrapper=
if command -v umockdev-run >/dev/null && [ -r "$testbed" ]; then
        wrapper="umockdev-run -d $testbed --"
        echo "running against the umockdev testbed $testbed"
else
        echo "umockdev-run or the testbed missing: running against this host's sysfs"
fi
# shellcheck disable=SC2086
DBUS_SYSTEM_BUS_ADDRESS=$address STATE_DIRECTORY=$tmp/state RUNTIME_DIRECTORY=$tmp/run \
        PCI_ASSIGND_PROC_DIR=$tmp/proc ASAN_OPTIONS=${ASAN_OPTIONS:-verify_asan_link_order=0} \
        $wrapper "$daemon" --read-only >"$tmp/daemon.log" 2>&1 &
daemon_pid=$!

i=0
until busctl --address="$address" status org.pciassign1 >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 100 ] || ! kill -0 "$daemon_pid" 2>/dev/null; then
                cat "$tmp/daemon.log"
                echo "SKIP: pci-assignd did not come up on a private bus here"
                exit 77
        fi
        sleep 0.1
done

busctl --address="$address" tree --list org.pciassign1 >"$tmp/paths"
n=0
for kind in "" device group reservation; do
        if [ -z "$kind" ]; then
                path=/org/pciassign1
        else
                path=$(grep -m1 "^/org/pciassign1/$kind/." "$tmp/paths" || true)
        fi
        if [ -z "$path" ]; then
                if [ "$kind" = reservation ] || { [ "$kind" = group ] && [ -n "$wrapper" ]; }; then
                        cat "$tmp/daemon.log"
                        echo "FAIL: no $kind object to introspect"
                        exit 1
                fi
                echo "no $kind object here: org.pciassign1.* of that kind not compared"
                continue
        fi
        n=$((n + 1))
        busctl --address="$address" introspect --xml-interface org.pciassign1 "$path" >"$tmp/$n.xml"
        echo "introspected $path"
done

# shellcheck disable=SC2046
sh "$here/check-api-coverage.sh" "$@" $(seq -f "$tmp/%g.xml" 1 "$n") "$page"
