/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

/* The Manager object (manager-dbus.c): its vtable, the export of every
 * object, and the Manager's own signals.  Emitters only send: the
 * state-change functions change the model first, then call them. */

#define PCIASSIGN_PATH          "/org/pciassign1"

/* Registers every vtable, enumerator and the ObjectManager. */
int manager_dbus_export(Manager *m);

/* The read-only refusal of every mutating method, before polkit is asked
 * (the model's job functions refuse again when there is no job queue). */
int manager_dbus_refuse_read_only(Manager *m, sd_bus_error *error);

void manager_dbus_emit_driver_changed(Manager *m, const PciAddress *a, const char *old, const char *new);
void manager_dbus_emit_conflict(Manager *m, const PciAddress *a, const char *id, const char *message);

/* The introspection data, for --bus-introspect and the fuzzer */
extern const sd_bus_vtable manager_vtable[];
