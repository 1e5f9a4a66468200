#!/bin/bash
# The main job, for a newcomer: build pci-assignd, start it READ-ONLY against
# this machine's own PCI devices on a private bus, and show what it sees with
# pci-assignctl.  Nothing is written to /sys: --read-only changes nothing on
# the host, and this script only reads.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
B=${BUILD_DIR:-$SRC/build-demo}

scripts/install-deps.sh demo
if [ ! -f "$B/build.ninja" ]; then
  meson setup "$B" -Dtests=false -Dman=false >/dev/null
fi
ninja -C "$B" >/dev/null

T=$(mktemp -d /tmp/pci-assignd-demo.XXXXXX)
cleanup() {
  [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
  [ -n "${BUSPID:-}" ] && kill "$BUSPID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT

# a private bus with the session bus's open policy stands in for the system bus
dbus-daemon --session --fork --address="unix:path=$T/bus" --print-pid > "$T/bus.pid"
BUSPID=$(cat "$T/bus.pid")
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus"

mkdir -p "$T/state" "$T/run"
STATE_DIRECTORY=$T/state RUNTIME_DIRECTORY=$T/run \
  "$B/src/daemon/pci-assignd" --read-only 2> "$T/daemon.log" &
DAEMON=$!

for _ in $(seq 1 100); do
  if "$B/src/ctl/pci-assignctl" list > /dev/null 2>&1; then break; fi
  kill -0 "$DAEMON" 2>/dev/null || { cat "$T/daemon.log"; echo "pci-assignd failed to start" >&2; exit 1; }
  sleep 0.1
done

sed 's/^/  daemon: /' "$T/daemon.log"
echo
echo "\$ pci-assignctl list"
"$B/src/ctl/pci-assignctl" list
first=$("$B/src/ctl/pci-assignctl" --json list | /usr/bin/python3 -c '
import json, sys
devs = json.load(sys.stdin)["devices"]
ends = [d["address"] for d in devs if not d["bridge"] and not d["host_bridge"]]
print(ends[0] if ends else (devs[0]["address"] if devs else ""))' 2>/dev/null || true)
if [ -n "$first" ]; then
  echo
  echo "\$ pci-assignctl show $first"
  "$B/src/ctl/pci-assignctl" show "$first"
fi
if "$B/src/ctl/pci-assignctl" help 2>/dev/null | grep -q '^ *check'; then
  addrs=$("$B/src/ctl/pci-assignctl" --json list | /usr/bin/python3 -c '
import json, sys
print(" ".join(d["address"] for d in json.load(sys.stdin)["devices"]))' 2>/dev/null || true)
  if [ -n "$addrs" ] && "$B/src/ctl/pci-assignctl" check $addrs > "$T/check" 2>/dev/null; then
    echo
    echo "\$ pci-assignctl check $addrs"
    cat "$T/check"
  fi
fi
