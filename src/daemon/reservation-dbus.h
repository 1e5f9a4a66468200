/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

/* Reservation objects (reservation-dbus.c). */

#define PCIASSIGN_RESERVATION_PREFIX "/org/pciassign1/reservation"

int reservation_object_path(const char *id, char **ret);
int reservation_dbus_export(Manager *m);

/* Signals and PropertiesChanged for a reservation that appeared, went
 * away or changed, on the reservation, its functions' Device objects and
 * Groups.  Pure: the caller has changed the model (placeholders synced,
 * verdicts invalidated) before. */
void manager_dbus_reservation_added(Manager *m, ManagedReservation *r);
void manager_dbus_reservation_removed(Manager *m, ManagedReservation *r);
void manager_dbus_reservation_changed(Manager *m, ManagedReservation *r);

extern const sd_bus_vtable reservation_vtable[];
