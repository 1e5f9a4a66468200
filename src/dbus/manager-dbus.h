/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

#define PCIASSIGN_PATH          "/org/pciassign1"
#define PCIASSIGN_DEVICE_PREFIX "/org/pciassign1/device"
#define PCIASSIGN_GROUP_PREFIX  "/org/pciassign1/group"

/* Registers every vtable, enumerator and the ObjectManager. */
int manager_dbus_export(Manager *m);

/* Object paths (malloc'd). */
int device_object_path(const PciDevice *d, char **ret);
int group_object_path(unsigned id, char **ret);

int device_dbus_export(Manager *m);
int group_dbus_export(Manager *m);

/* The introspection data of every interface, for --bus-introspect */
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable device_vtable[];
extern const sd_bus_vtable group_vtable[];
