#!/usr/bin/python3
# In the VM guest (real kernel): pci-assignd's Prepare/Unprepare of one
# reservation against the bare sysfs writes of the same operation
# (bench/bare-rebind), alternating, and the latency of GetDevice while a
# ~1 s bus reset runs in the daemon's job queue.  Prints "bench: ..." lines
# and one "bench-json: {...}" line; a benchmark, it asserts nothing.
#   bench_rebind.py BARE_REBIND ROUNDS RESET_ADDR ADDR...
import json, statistics, subprocess, sys, threading, time
from gi.repository import Gio, GLib

bare, rounds, reset_addr, addrs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
NAME, MPATH, MIF, RIF = "org.pciassign1", "/org/pciassign1", "org.pciassign1.Manager", "org.pciassign1.Reservation"

def call(path, iface, method, args=None, reply=None, timeout=120000):
    t0 = time.monotonic_ns()
    r = bus.call_sync(NAME, path, iface, method, args, reply, Gio.DBusCallFlags.NONE, timeout, None)
    return r, (time.monotonic_ns() - t0) / 1e6

def driver(a):
    import os
    try:
        return os.path.basename(os.readlink(f"/sys/bus/pci/devices/{a}/driver"))
    except OSError:
        return ""

host = {a: driver(a) for a in addrs}
(path,), _ = call(MPATH, MIF, "Reserve", GLib.Variant("(sa(sb)a{sv})", ("bench", [(a, True) for a in addrs], {})),
                  GLib.VariantType("(o)"))
ping = []
for _ in range(20):
    t0 = time.monotonic_ns()
    bus.call_sync(NAME, MPATH, "org.freedesktop.DBus.Peer", "Ping", None, None, Gio.DBusCallFlags.NONE, 5000, None)
    ping.append((time.monotonic_ns() - t0) / 1e6)
res = {"daemon_prepare_ms": [], "daemon_unprepare_ms": [], "bare_prepare_ms": [], "bare_unprepare_ms": []}
hd = sorted(set(host.values()))[0]
for i in range(rounds):
    _, ms = call(path, RIF, "Prepare"); res["daemon_prepare_ms"].append(ms)
    _, ms = call(path, RIF, "Unprepare"); res["daemon_unprepare_ms"].append(ms)
    out = subprocess.run([bare, "prepare", "vfio-pci"] + addrs, capture_output=True, text=True, check=True).stdout
    res["bare_prepare_ms"].append(int(out.split()[-1]) / 1e6)
    out = subprocess.run([bare, "unprepare", hd] + addrs, capture_output=True, text=True, check=True).stdout
    res["bare_unprepare_ms"].append(int(out.split()[-1]) / 1e6)
    if any(driver(a) != host[a] for a in addrs):
        print(f"bench: round {i}: functions not back on {host}: " + str({a: driver(a) for a in addrs}))
        sys.exit(1)
call(path, RIF, "Release")

med = {k: statistics.median(v) for k, v in res.items()}
print(f"bench: {len(addrs)} functions, {rounds} rounds, Peer.Ping median {statistics.median(ping):.2f} ms")
for op in ("prepare", "unprepare"):
    d, b = med[f"daemon_{op}_ms"], med[f"bare_{op}_ms"]
    print(f"bench: {op}: pci-assignd {d:.1f} ms (call to reply), bare writes {b:.1f} ms, ratio {d / b:.2f} (target <= 1.1)")

# GetDevice latency: idle, then while a bus reset of RESET_ADDR runs
def getdevice_lat(stop, out, at=None):
    while not stop.is_set():
        t0 = time.monotonic_ns()
        _, ms = call(MPATH, MIF, "GetDevice", GLib.Variant("(s)", (reset_addr,)), GLib.VariantType("(o)"))
        out.append(ms)
        if at is not None:
            at.append(((t0 - T0[0]) / 1e6, ms))
T0 = [0]

def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * 0.99))]

idle = []
stop = threading.Event(); t = threading.Thread(target=getdevice_lat, args=(stop, idle)); t.start()
time.sleep(1.0); stop.set(); t.join()
call(MPATH, MIF, "Detach", GLib.Variant("(ss)", (reset_addr, "")))
with open(f"/sys/bus/pci/devices/{reset_addr}/reset_method", "w") as f:
    f.write("bus")     # the slow one: a secondary bus reset below the switch port
during = []
during_at = []
T0[0] = time.monotonic_ns()
stop = threading.Event(); t = threading.Thread(target=getdevice_lat, args=(stop, during, during_at)); t.start()
_, reset_ms = call(MPATH, MIF, "Reset", GLib.Variant("(s)", (reset_addr,)))
stop.set(); t.join()
print("bench: slowest GetDevice during the reset (ms after the Reset call, latency): " +
      ", ".join(f"{a:.0f}:{ms:.1f}" for a, ms in sorted(during_at, key=lambda x: -x[1])[:6]))
with open(f"/sys/bus/pci/devices/{reset_addr}/reset_method", "w") as f:
    f.write("default")
call(MPATH, MIF, "Reattach", GLib.Variant("(s)", (reset_addr,)))
print(f"bench: GetDevice idle: {len(idle)} calls, p50 {statistics.median(idle):.2f} ms, p99 {p99(idle):.2f} ms")
print(f"bench: GetDevice during a {reset_ms:.0f} ms bus reset of {reset_addr}: {len(during)} calls, "
      f"p50 {statistics.median(during):.2f} ms, p99 {p99(during):.2f} ms, max {max(during):.2f} ms (target p99 < 5 ms)")
print("bench-json: " + json.dumps({"functions": addrs, "rounds": rounds, "medians_ms": med, "ping_ms": statistics.median(ping),
                                  "ratio_prepare": med["daemon_prepare_ms"] / med["bare_prepare_ms"],
                                  "ratio_unprepare": med["daemon_unprepare_ms"] / med["bare_unprepare_ms"],
                                  "reset_ms": reset_ms, "getdevice_idle_p99_ms": p99(idle),
                                  "getdevice_during_reset_p50_ms": statistics.median(during),
                                  "getdevice_during_reset_p99_ms": p99(during), "getdevice_during_reset_n": len(during)}))
