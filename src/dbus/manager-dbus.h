/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "manager.h"

#define PCIASSIGN_PATH          "/org/pciassign1"
#define PCIASSIGN_DEVICE_PREFIX "/org/pciassign1/device"
#define PCIASSIGN_GROUP_PREFIX  "/org/pciassign1/group"
#define PCIASSIGN_RESERVATION_PREFIX "/org/pciassign1/reservation"

/* Registers every vtable, enumerator and the ObjectManager. */
int manager_dbus_export(Manager *m);

/* Object paths (malloc'd). */
int device_object_path(const PciDevice *d, char **ret);
int group_object_path(unsigned id, char **ret);

int reservation_object_path(const char *id, char **ret);

int device_dbus_export(Manager *m);
int reservation_dbus_export(Manager *m);

/* Signals and PropertiesChanged for a reservation that appeared or went
 * away, on the reservation, its functions' Device objects and Groups. */
void manager_dbus_reservation_added(Manager *m, ManagedReservation *r);
void manager_dbus_reservation_removed(Manager *m, ManagedReservation *r);
void manager_dbus_reservation_changed(Manager *m, ManagedReservation *r);
/* The driver to give a function back to: recorded with its reservation,
 * else the bound driver unless it is one of ours (vfio, pci-stub). */
const char *device_host_driver(Manager *m, const PciDevice *d);

/* The owner's uid may act on its reservation (polkit "reserve" with the
 * owner's uid as good uid); anyone else needs org.pciassign1.manage.
 * Same return convention as bus_verify_polkit_async(). */
int bus_verify_reservation_access(sd_bus_message *msg, ManagedReservation *mr, sd_bus_error *error);

/* Manager signals about functions, with the ObjectManager/Properties
 * signals of their objects (see manager-udev.c) */
void manager_dbus_emit_device_added(Manager *m, const PciDevice *d, bool new_object);
void manager_dbus_emit_device_removed(Manager *m, const PciDevice *d, bool object_gone);
void manager_dbus_emit_driver_changed(Manager *m, const PciAddress *a, const char *old, const char *new);
void manager_dbus_emit_conflict(Manager *m, const PciAddress *a, const char *id, const char *message);
void manager_dbus_device_properties_changed(Manager *m, const PciAddress *a);
void manager_dbus_emit_object_replaced(Manager *m, const PciDevice *d);

/* PropertiesChanged of the verdict-related properties of one function */
void manager_dbus_device_verdict_changed(Manager *m, const PciAddress *a);
int group_dbus_export(Manager *m);

/* The introspection data of every interface, for --bus-introspect */
extern const sd_bus_vtable manager_vtable[];
extern const sd_bus_vtable device_vtable[];
extern const sd_bus_vtable group_vtable[];
extern const sd_bus_vtable reservation_vtable[];
