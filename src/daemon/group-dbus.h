/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

/* Group objects (group-dbus.c): one per IOMMU group of the topology. */

#define PCIASSIGN_GROUP_PREFIX  "/org/pciassign1/group"

int group_object_path(unsigned id, char **ret);
int group_dbus_export(Manager *m);

/* A group's members changed (delta: +1 a member came, -1 one went, 0 a
 * member changed): the object appeared with its first member, went with
 * its last, or its properties changed. */
void group_dbus_members_changed(Manager *m, int group, int delta);
/* Its Reservation property changed */
void group_dbus_reservation_changed(Manager *m, int group);

extern const sd_bus_vtable group_vtable[];
