#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hotplug benchmark (issue 5): a replayed burst of VFS SR-IOV VFs (default
# 256: an "add" and a "bind" each) against pci-assignd on the recorded q35
# umockdev testbed, beside the same run's baseline, a plain libudev monitor
# receiving the same events; then the daemon's RSS over CYCLES add/remove
# cycles of one function (default 10000).  See bench/bench-hotplug.c.
#   bench/run-hotplug.sh BUILD_DIR [VFS] [ROUNDS] [CYCLES]
# Prints the figures and ratios; writes BUILD_DIR/bench-hotplug.json.
# Nothing touches the real /sys: the daemon and the monitor run under the
# umockdev preload with throw-away testbeds and state directories.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: run-hotplug.sh BUILD_DIR [VFS] [ROUNDS] [CYCLES]}" && pwd)
VFS=${2:-256}
ROUNDS=${3:-5}
CYCLES=${4:-10000}

ldconfig -p | grep -F libumockdev-preload.so.0 > /dev/null ||
  { echo "run-hotplug: libumockdev-preload.so.0 not found (apt-get install umockdev)" >&2; exit 2; }
ninja -C "$BUILD" bench/bench-hotplug src/daemon/pci-assignd > /dev/null

W=$(mktemp -d /tmp/pci-assignd-hotplug.XXXXXX)
BUS_PID=
cleanup() {
  [ -n "$BUS_PID" ] && kill "$BUS_PID" 2> /dev/null
  rm -rf "$W"
}
trap cleanup EXIT

# a private bus with no policy in the way
cat > "$W/bus.conf" << CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$W/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$W/bus.conf" --fork --print-pid > "$W/bus.pid"
BUS_PID=$(cat "$W/bus.pid")

env -u LD_PRELOAD "$BUILD/bench/bench-hotplug" --address "unix:path=$W/bus" \
  --daemon "$BUILD/src/daemon/pci-assignd" --record "$SRC/tests/data/testbeds/q35-vm.umockdev" \
  --vfs "$VFS" --rounds "$ROUNDS" --cycles "$CYCLES" --json "$BUILD/bench-hotplug.json"
