#!/bin/bash
# Method-call benchmark: pci-assignd's calls against the same run's
# Peer.Ping round trip, on a umockdev testbed of N functions (default 4096,
# the same cached testbed as run-bench.sh).
#   bench/run-calls.sh BUILD_DIR [N] [ROUNDS]
# Prints median/p99 per call and the ratio to Ping; writes
# BUILD_DIR/bench-calls.json.  Nothing touches the real /sys: the daemon
# runs under the umockdev preload with a throw-away state directory.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:?usage: run-calls.sh BUILD_DIR [N] [ROUNDS]}" && pwd)
N=${2:-4096}
ROUNDS=${3:-200}
PY=/usr/bin/python3
PRELOAD=libumockdev-preload.so.0
TB=$BUILD/bench/testbed-$N

ninja -C "$BUILD" bench/bench-calls src/daemon/pci-assignd > /dev/null
mkdir -p "$BUILD/bench"
"$PY" "$SRC/bench/gen-testbed.py" --reuse "$TB" "$N"

W=$(mktemp -d /tmp/pci-assignd-calls.XXXXXX)
BUS_PID= DAEMON_PID=
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2> /dev/null && wait "$DAEMON_PID" 2> /dev/null
  [ -n "$BUS_PID" ] && kill "$BUS_PID" 2> /dev/null
  rm -rf "$W"
}
trap cleanup EXIT

dbus-daemon --session --fork --address="unix:path=$W/bus" --print-pid > "$W/bus.pid"
BUS_PID=$(cat "$W/bus.pid")
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$W/bus"
mkdir -p "$W/state"
STATE_DIRECTORY=$W/state UMOCKDEV_DIR=$TB LD_PRELOAD=$PRELOAD PCI_ASSIGND_PROC_DIR=$W \
  "$BUILD/src/daemon/pci-assignd" --log-level=warning 2> "$W/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 600); do
  busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" status org.pciassign1 > /dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2> /dev/null || { cat "$W/daemon.log"; exit 1; }
  sleep 0.1
done
echo "pci-assignd method calls against Peer.Ping (same run, same bus), $N functions:"
"$BUILD/bench/bench-calls" "$ROUNDS" | tee "$W/out"
tail -n 1 "$W/out" > "$BUILD/bench-calls.json"
echo "results: $BUILD/bench-calls.json"
