#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A subscriber of org.pciassign1 written the way a VM manager would be.

It asks once (ObjectManager.GetManagedObjects), then keeps its own view of
the host from signals alone: InterfacesAdded/InterfacesRemoved,
PropertiesChanged, DeviceAdded/DeviceRemoved, DriverChanged,
ReservationAdded/ReservationRemoved/ReservationChanged and Conflict.  It
never asks again, so whatever the daemon forgets to announce shows up as a
difference between this view and the daemon's own Describe().

When asked (SIGUSR1, or the file named by --until appears) it makes one
round trip to the daemon (Peer.Ping: every signal the daemon sent before
the reply has then been received), handles what is queued, prints its view
as one JSON document on stdout and exits 0.

The view, for the fields it follows:
  devices       address -> {driver, group, present, path}
  reservations  id -> {state, path}
  groups        IOMMU group number -> sorted member addresses (group objects)
  problems      what a client could not make sense of: a PropertiesChanged
                or DriverChanged about an object it was never told of, a
                DriverChanged whose old driver is not the one it knew, a
                property sent invalidated instead of with its value
  group_problems  the same about group objects
  signals       how many of each it saw; conflicts: the Conflict signals

Run with Debian's /usr/bin/python3 (python3-gi): gi is not on every
python3 of the machine.

  subscriber.py --address ADDRESS [--until FILE]
"""

import argparse
import json
import os
import signal
import sys

import gi

gi.require_version('Gio', '2.0')
gi.require_version('GLib', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.pciassign1'
MANAGER_PATH = '/org/pciassign1'
MANAGER_IFACE = 'org.pciassign1.Manager'
DEVICE_IFACE = 'org.pciassign1.Device'
GROUP_IFACE = 'org.pciassign1.Group'
RES_IFACE = 'org.pciassign1.Reservation'
OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
PROPS_IFACE = 'org.freedesktop.DBus.Properties'

# the properties each kind of object is followed by, D-Bus name -> view key
FOLLOWED = {
    DEVICE_IFACE: {'Address': 'address', 'Driver': 'driver', 'IOMMUGroup': 'group', 'Present': 'present'},
    GROUP_IFACE: {'Id': 'id', 'Devices': 'devices'},
    RES_IFACE: {'Id': 'id', 'State': 'state'},
}


class View:
    def __init__(self):
        self.objects = {}        # path -> {iface: {key: value}}
        self.problems = []
        self.group_problems = []
        self.signals = {}
        self.conflicts = []

    def problem(self, text, iface=None):
        (self.group_problems if iface == GROUP_IFACE else self.problems).append(text)

    def count(self, name):
        self.signals[name] = self.signals.get(name, 0) + 1

    def take_interfaces(self, path, ifaces):
        """ifaces: {iface: {prop: value}} from GetManagedObjects or InterfacesAdded"""
        for iface, props in ifaces.items():
            if iface not in FOLLOWED:
                continue
            entry = self.objects.setdefault(path, {}).setdefault(iface, {})
            for name, key in FOLLOWED[iface].items():
                if name in props:
                    entry[key] = props[name]

    def device_by_address(self, address):
        for path, ifaces in self.objects.items():
            d = ifaces.get(DEVICE_IFACE)
            if d is not None and d.get('address') == address:
                return path, d
        return None, None

    def reservation_by_id(self, rid):
        for path, ifaces in self.objects.items():
            r = ifaces.get(RES_IFACE)
            if r is not None and r.get('id') == rid:
                return path, r
        return None, None

    def on_object_manager(self, member, params):
        if member == 'InterfacesAdded':
            path, ifaces = params
            self.count('InterfacesAdded')
            self.take_interfaces(path, ifaces)
        elif member == 'InterfacesRemoved':
            path, ifaces = params
            self.count('InterfacesRemoved')
            known = self.objects.get(path)
            if known is None:
                self.problem('InterfacesRemoved of %s, which was never announced' % path,
                             GROUP_IFACE if GROUP_IFACE in ifaces else None)
                return
            for iface in ifaces:
                known.pop(iface, None)
            if not known:
                del self.objects[path]

    def on_properties_changed(self, path, params):
        iface, changed, invalidated = params
        if iface not in FOLLOWED:
            return
        self.count('PropertiesChanged')
        known = self.objects.get(path, {}).get(iface)
        if known is None:
            self.problem('PropertiesChanged of %s on %s, an object that was never announced' % (iface, path), iface)
            return
        for name, key in FOLLOWED[iface].items():
            if name in changed:
                known[key] = changed[name]
            elif name in invalidated:
                # the contract: EmitsChangedSignal=true, so values come along
                self.problem('%s.%s of %s was invalidated instead of sent' % (iface, name, path), iface)

    def on_manager_signal(self, member, params):
        self.count(member)
        if member == 'DriverChanged':
            address, old, new = params
            path, d = self.device_by_address(address)
            if d is None:
                self.problem('DriverChanged of %s, a function that was never announced' % address)
                return
            if d.get('driver') != old and d.get('driver') != new:
                # a PropertiesChanged may legitimately have told us first
                self.problem('DriverChanged of %s from "%s", but its driver was "%s"' % (address, old, d.get('driver')))
            d['driver'] = new
        elif member in ('DeviceAdded', 'DeviceRemoved'):
            address, path = params
            # InterfacesAdded/InterfacesRemoved or a PropertiesChanged of
            # Present carry the change; the object must be known by then
            # (DeviceAdded comes first: checked when the dump is made)
            self.signals.setdefault('_device_paths', {})[path] = address
        elif member == 'ReservationChanged':
            rid, state = params
            path, r = self.reservation_by_id(rid)
            if r is None:
                self.problem('ReservationChanged of %s, a reservation that was never announced' % rid)
                return
            r['state'] = state
        elif member == 'Conflict':
            self.conflicts.append(list(params))

    def dump(self):
        devices, reservations, groups = {}, {}, {}
        for path, ifaces in sorted(self.objects.items()):
            d = ifaces.get(DEVICE_IFACE)
            if d is not None:
                devices[d.get('address', '?' + path)] = {
                    'driver': d.get('driver'), 'group': d.get('group'), 'present': d.get('present'), 'path': path}
            r = ifaces.get(RES_IFACE)
            if r is not None:
                reservations[r.get('id', '?' + path)] = {'state': r.get('state'), 'path': path}
            g = ifaces.get(GROUP_IFACE)
            if g is not None:
                groups[str(g.get('id', '?' + path))] = sorted(g.get('devices', []))
        for path, address in self.signals.pop('_device_paths', {}).items():
            known = self.objects.get(path, {}).get(DEVICE_IFACE)
            if known is not None and known.get('address') != address:
                self.problem('DeviceAdded/DeviceRemoved of %s named %s, which is %s' % (
                    address, path, known.get('address')))
        return {'devices': devices, 'reservations': reservations, 'groups': groups,
                'problems': self.problems, 'group_problems': self.group_problems,
                'signals': self.signals, 'conflicts': self.conflicts}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--address', required=True, help='D-Bus address of the bus the daemon is on')
    ap.add_argument('--until', help='dump and exit once this file exists')
    args = ap.parse_args()

    conn = Gio.DBusConnection.new_for_address_sync(
        args.address,
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    view = View()
    loop = GLib.MainLoop()

    # Subscribe first, then ask: nothing that happens in between is lost
    # (a signal that races the reply is applied on top of it; every signal
    # of this daemon carries whole values, so that is harmless).
    def on_signal(c, sender, path, iface, member, params, *user):
        params = params.unpack()
        if iface == OM_IFACE:
            view.on_object_manager(member, params)
        elif iface == PROPS_IFACE and member == 'PropertiesChanged':
            view.on_properties_changed(path, params)
        elif iface == MANAGER_IFACE:
            view.on_manager_signal(member, params)

    for iface, member, path in ((OM_IFACE, None, MANAGER_PATH), (PROPS_IFACE, 'PropertiesChanged', None),
                                (MANAGER_IFACE, None, MANAGER_PATH)):
        conn.signal_subscribe(BUS_NAME, iface, member, path, None, Gio.DBusSignalFlags.NONE, on_signal)

    reply = conn.call_sync(BUS_NAME, MANAGER_PATH, OM_IFACE, 'GetManagedObjects', None,
                           GLib.VariantType.new('(a{oa{sa{sv}}})'), Gio.DBusCallFlags.NONE, 60000, None)
    for path, ifaces in reply.unpack()[0].items():
        view.take_interfaces(path, ifaces)
    print('READY', flush=True)

    done = []

    def finish():
        if done:
            return GLib.SOURCE_REMOVE
        done.append(True)
        # one round trip: what the daemon sent before its reply is here now
        conn.call_sync(BUS_NAME, MANAGER_PATH, 'org.freedesktop.DBus.Peer', 'Ping', None, None,
                       Gio.DBusCallFlags.NONE, 60000, None)
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass
        print(json.dumps(view.dump(), sort_keys=True), flush=True)
        loop.quit()
        return GLib.SOURCE_REMOVE

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, finish)
    if args.until:
        def poll():
            if os.path.exists(args.until):
                finish()
                return GLib.SOURCE_REMOVE
            return GLib.SOURCE_CONTINUE
        GLib.timeout_add(20, poll)
    loop.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
