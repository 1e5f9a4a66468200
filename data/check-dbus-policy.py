#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the bus policy data/dbus-1/system.d/org.pciassign1.conf on a
private dbus-daemon that uses the system bus defaults plus that file:

  - root may own org.pciassign1, an unprivileged user may not;
  - an unprivileged user reaches every interface the daemon implements
    (a refusal from the service is fine, a refusal from the bus is not);
  - an interface not listed in the policy is reachable by root only.

Usage: check-dbus-policy.py POLICY.conf
Exit 77 (skipped) when not root, or dbus-daemon, setpriv or dbus-python
are missing.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
NAME = "org.pciassign1"
PATH = "/org/pciassign1"
ALLOWED = [
    "org.pciassign1.Manager",
    "org.pciassign1.Device",
    "org.pciassign1.Group",
    "org.pciassign1.Reservation",
    "org.freedesktop.DBus.Properties",
    "org.freedesktop.DBus.Introspectable",
    "org.freedesktop.DBus.ObjectManager",
    "org.freedesktop.DBus.Peer",
]
UNLISTED = "org.pciassign1.Debug"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"

try:
    import dbus
    import dbus.service
    import dbus.mainloop.glib
    from gi.repository import GLib
except ImportError:
    # A virtualenv or pyenv python may lack the distribution's bindings.
    system_python = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(system_python) \
            and os.access(system_python, os.X_OK) \
            and not os.environ.get("CHECK_DBUS_POLICY_REEXEC"):
        os.environ["CHECK_DBUS_POLICY_REEXEC"] = "1"
        os.execv(system_python, [system_python] + sys.argv)
    print("SKIP: dbus-python or PyGObject not available")
    sys.exit(SKIP)

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- the default policy of the system bus (system.conf) -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{policy}</include>
</busconfig>
"""


def owner(address):
    """Owns the name as root and answers Ping on every interface."""
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(address)
    r = bus.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    if r != dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER:
        print(f"root could not own {NAME}: reply {r}", flush=True)
        sys.exit(1)

    # One "Ping" method per interface. dbus-python finds a method by its
    # attribute name walking the MRO, so each interface's Ping lives in its
    # own class of a chain.
    Obj = dbus.service.Object
    for iface in ALLOWED + [UNLISTED]:
        if iface in ("org.freedesktop.DBus.Peer",
                     "org.freedesktop.DBus.Introspectable"):
            continue  # libdbus and dbus-python implement these themselves

        def Ping(self, _iface=iface):
            return _iface
        Obj = type("Obj_" + iface.replace(".", "_"), (Obj,), {
            "Ping": dbus.service.method(iface, in_signature="", out_signature="s")(Ping)})

    Obj(bus, PATH)
    print("ready", flush=True)
    GLib.MainLoop().run()


def call(address, iface, member):
    """Returns the D-Bus error name of one call, or "" on success."""
    bus = dbus.bus.BusConnection(address)
    try:
        if iface == "org.freedesktop.DBus" and member == "RequestName":
            bus.request_name(NAME, dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        else:
            obj = bus.get_object(NAME, PATH, introspect=False)
            obj.get_dbus_method(member, iface)(timeout=5)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name()
    return ""


def client(address, iface, member):
    print(call(address, iface, member))


def as_nobody(address, iface, member):
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        sys.executable, os.path.abspath(__file__),
                        "--client", address, iface, member],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"client as nobody failed: {r.stderr.strip()}")
    return r.stdout.strip()


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--owner":
        return owner(sys.argv[2])
    if len(sys.argv) >= 2 and sys.argv[1] == "--client":
        return client(*sys.argv[2:5])
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2

    policy = os.path.abspath(sys.argv[1])
    daemon = shutil.which("dbus-daemon")
    if os.geteuid() != 0 or daemon is None or shutil.which("setpriv") is None:
        print("SKIP: needs root, dbus-daemon and setpriv")
        return SKIP

    failures = []
    with tempfile.TemporaryDirectory(prefix="pci-assignd-policy-") as tmp:
        os.chmod(tmp, 0o755)  # nobody must reach the socket
        socket = os.path.join(tmp, "bus")
        conf = os.path.join(tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONF.format(socket=socket, policy=policy))

        bus = subprocess.Popen([daemon, "--config-file=" + conf, "--nofork",
                                "--nopidfile", "--print-address=1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        address = bus.stdout.readline().strip()
        if not address:
            bus.wait()
            print("dbus-daemon refused the configuration:\n" + bus.stderr.read())
            return 1
        os.chmod(socket, 0o777)

        own = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--owner", address],
                               stdout=subprocess.PIPE, text=True)
        try:
            line = own.stdout.readline().strip()
            if line != "ready":
                failures.append(f"owner: {line or 'exited'}")
            else:
                def expect(who, iface, member, want):
                    err = as_nobody(address, iface, member) if who == "nobody" \
                        else call(address, iface, member)
                    verdict = "ok" if err == want else "FAIL"
                    print(f"{verdict}: {who} {iface}.{member} -> {err or 'success'}"
                          f" (want {want or 'success'})")
                    if verdict != "ok":
                        failures.append(f"{who} {iface}.{member}")

                expect("nobody", "org.freedesktop.DBus", "RequestName", ACCESS_DENIED)
                for iface in ALLOWED:
                    member = {"org.freedesktop.DBus.Introspectable": "Introspect"}.get(iface, "Ping")
                    expect("nobody", iface, member, "")
                expect("nobody", UNLISTED, "Ping", ACCESS_DENIED)
                expect("root", UNLISTED, "Ping", "")
        finally:
            own.terminate()
            own.wait()
            bus.terminate()
            bus.wait()

    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
