/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

/* Device objects (device-dbus.c): one per present or missing function. */

#define PCIASSIGN_DEVICE_PREFIX "/org/pciassign1/device"

int device_object_path(const PciDevice *d, char **ret);
int device_dbus_export(Manager *m);

/* DeviceAdded/DeviceRemoved with the ObjectManager/Properties signals of
 * the function's object and its group (see manager-udev.c) */
void manager_dbus_emit_device_added(Manager *m, const PciDevice *d, bool new_object);
void manager_dbus_emit_device_removed(Manager *m, const PciDevice *d, bool object_gone);
/* Every property a udev event or a job can change, and its group's */
void manager_dbus_device_properties_changed(Manager *m, const PciAddress *a);
/* Another device at the object's address: the object goes and comes */
void manager_dbus_emit_object_replaced(Manager *m, const PciDevice *d);
/* PropertiesChanged of the verdict-related properties of one function.
 * Pure: whoever changed what verdicts depend on has already called
 * manager_invalidate_verdicts(). */
void manager_dbus_device_verdict_changed(Manager *m, const PciAddress *a);

extern const sd_bus_vtable device_vtable[];
