/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-polkit.h"
#include "device-dbus.h"
#include "group-dbus.h"
#include "log.h"
#include "manager-dbus.h"
#include "placement.h"
#include "reservation-dbus.h"

int reservation_object_path(const char *id, char **ret) {
        return sd_bus_path_encode(PCIASSIGN_RESERVATION_PREFIX, id, ret);
}

static int reservation_find(sd_bus *bus, const char *path, const char *interface,
                            void *userdata, void **found, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *label = NULL;
        ManagedReservation *r;
        int k;

        k = sd_bus_path_decode(path, PCIASSIGN_RESERVATION_PREFIX, &label);
        if (k <= 0)
                return k;
        if (!reservation_id_is_valid(label))
                return 0;
        r = manager_find_reservation(m, label);
        if (!r)
                return 0;
        {
                /* only the path we hand out: the decoded label stops at an
                 * escaped NUL ("r1_00junk" is no alias of r1) */
                _cleanup_free_ char *canon = NULL;

                k = reservation_object_path(r->data->id, &canon);
                if (k < 0)
                        return k;
                if (!streq(canon, path))
                        return 0;
        }
        *found = r;
        return 1;
}

static int reservation_enumerate(sd_bus *bus, const char *path, void *userdata,
                                 char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        char **l;
        int r;

        l = calloc(m->n_reservations + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_reservations; i++) {
                r = reservation_object_path(m->reservations[i]->data->id, &l[i]);
                if (r < 0) {
                        strv_free(l);
                        return r;
                }
        }
        *nodes = l;
        return 0;
}

#define R(userdata) (((ManagedReservation *) (userdata))->data)

static int property_get_id(sd_bus *bus, const char *path, const char *interface, const char *property,
                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", R(userdata)->id);
}

static int property_get_owner(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", R(userdata)->owner);
}

static int property_get_persistent(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "b", (int) R(userdata)->persistent);
}

static int property_get_driver(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", strempty(R(userdata)->driver));
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", reservation_state_to_string(R(userdata)->state));
}

static int property_get_functions(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const Reservation *r = R(userdata);
        char buf[PCI_ADDRESS_STRLEN];
        int k;

        k = sd_bus_message_open_container(reply, 'a', "(sb)");
        if (k < 0)
                return k;
        for (size_t i = 0; i < r->n_functions; i++) {
                k = sd_bus_message_append(reply, "(sb)", pci_address_format(&r->functions[i].address, buf),
                                          (int) r->functions[i].assigned);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_groups(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        ManagedReservation *mr = userdata;
        const Reservation *r = mr->data;
        _cleanup_free_ uint32_t *groups = calloc(r->n_functions ?: 1, sizeof(uint32_t));
        size_t n = 0;
        int k;

        if (!groups)
                return -ENOMEM;
        /* functions are sorted by address, groups may repeat in any order */
        for (size_t i = 0; i < r->n_functions; i++) {
                PciDevice *d = topology_find(mr->manager->topology, &r->functions[i].address);
                bool seen = false;

                if (!d || d->iommu_group < 0)
                        continue;
                for (size_t j = 0; j < n; j++)
                        seen = seen || groups[j] == (uint32_t) d->iommu_group;
                if (!seen)
                        groups[n++] = (uint32_t) d->iommu_group;
        }
        k = sd_bus_message_open_container(reply, 'a', "u");
        if (k < 0)
                return k;
        for (size_t i = 0; i < n; i++) {
                k = sd_bus_message_append(reply, "u", groups[i]);
                if (k < 0)
                        return k;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_owner_uid(sd_bus *bus, const char *path, const char *interface, const char *property,
                                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) R(userdata)->owner_uid);
}

static int property_get_created(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "t", R(userdata)->created_usec);
}

static int property_get_last_error(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", strempty(R(userdata)->last_error));
}

/* The owner's uid may act on its reservation; anyone else needs
 * org.pciassign1.manage. */
static int verify_reservation_access(sd_bus_message *msg, ManagedReservation *mr, sd_bus_error *error) {
        Manager *m = mr->manager;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *details[] = { "reservation", mr->data->id, "owner", mr->data->owner, NULL };
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (uid == mr->data->owner_uid)
                return bus_verify_polkit_async(msg, "org.pciassign1.reserve", details, mr->data->owner_uid,
                                               &m->polkit_registry, error);
        return bus_verify_polkit_async(msg, "org.pciassign1.manage", details, (uid_t) -1,
                                       &m->polkit_registry, error);
}

/* What every method that changes a reservation does first (the object
 * was looked up by reservation_find()): refused when read-only, then the
 * owner-or-polkit check.  Returns < 0 (error set), 0 (polkit will answer
 * and the call is dispatched again: return 1 from the handler), or 1. */
static int reservation_method_prologue(sd_bus_message *msg, ManagedReservation *mr, sd_bus_error *error) {
        int r;

        r = manager_dbus_refuse_read_only(mr->manager, error);
        if (r < 0)
                return r;
        return verify_reservation_access(msg, mr, error);
}

static int method_release(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedReservation *mr = userdata;
        Manager *m = mr->manager;
        int r;

        r = reservation_method_prologue(msg, mr, error);
        if (r <= 0)
                return r < 0 ? r : 1;  /* 0: polkit will answer; dispatched again */

        if (mr->data->state == RESERVATION_PREPARED || mr->data->state == RESERVATION_DEGRADED) {
                /* give the functions back first; answered when that ends */
                r = manager_unprepare(m, mr, true, msg, error);
                return r < 0 ? r : 1;
        }
        r = manager_release(m, mr, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_prepare(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedReservation *mr = userdata;
        Manager *m = mr->manager;
        int r;

        r = reservation_method_prologue(msg, mr, error);
        if (r <= 0)
                return r < 0 ? r : 1;  /* 0: polkit will answer; dispatched again */
        r = manager_prepare(m, mr, msg, error);
        return r < 0 ? r : 1;  /* answered when the job ends */
}

static int method_unprepare(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedReservation *mr = userdata;
        Manager *m = mr->manager;
        int r;

        r = reservation_method_prologue(msg, mr, error);
        if (r <= 0)
                return r < 0 ? r : 1;  /* 0: polkit will answer; dispatched again */
        r = manager_unprepare(m, mr, false, msg, error);
        return r < 0 ? r : 1;
}

static int method_set_in_use(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedReservation *mr = userdata;
        Manager *m = mr->manager;
        int in_use, r;

        r = sd_bus_message_read(msg, "b", &in_use);
        if (r < 0)
                return r;
        r = reservation_method_prologue(msg, mr, error);
        if (r <= 0)
                return r < 0 ? r : 1;  /* 0: polkit will answer; dispatched again */
        r = manager_set_in_use(m, mr, in_use, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_get_placement(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        ManagedReservation *mr = userdata;
        _cleanup_free_ char *json = NULL;
        const char *machine;
        int r;

        r = sd_bus_message_read(msg, "s", &machine);
        if (r < 0)
                return r;
        r = placement_suggest(mr->manager->topology, mr->data, machine, &json);
        if (r == -EINVAL)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Unknown machine type \"%.32s\": expected q35, pseries or virt", machine);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "s", json);
}

#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define CHANGE SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

const sd_bus_vtable reservation_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get_id, 0, CONST),
        SD_BUS_PROPERTY("Owner", "s", property_get_owner, 0, CONST),
        SD_BUS_PROPERTY("Persistent", "b", property_get_persistent, 0, CONST),
        SD_BUS_PROPERTY("Driver", "s", property_get_driver, 0, CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, CHANGE),
        SD_BUS_PROPERTY("Functions", "a(sb)", property_get_functions, 0, CONST),
        SD_BUS_PROPERTY("Groups", "au", property_get_groups, 0, CHANGE),
        SD_BUS_PROPERTY("OwnerUID", "u", property_get_owner_uid, 0, CONST),
        SD_BUS_PROPERTY("CreatedUSec", "t", property_get_created, 0, CONST),
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0, CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Prepare", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_prepare, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Unprepare", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_unprepare, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SetInUse", SD_BUS_ARGS("b", in_use), SD_BUS_NO_RESULT,
                                method_set_in_use, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Release", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_release, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPlacement", SD_BUS_ARGS("s", machine), SD_BUS_RESULT("s", json),
                                method_get_placement, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int reservation_dbus_export(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, PCIASSIGN_RESERVATION_PREFIX, "org.pciassign1.Reservation",
                                       reservation_vtable, reservation_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, PCIASSIGN_RESERVATION_PREFIX, reservation_enumerate, m);
}

/* Signals: failures to emit are logged, never fatal (a client may have
 * gone; the state is right either way). */

static void emit_functions_changed(Manager *m, ManagedReservation *mr) {
        Reservation *res = mr->data;
        int last_group = -2;

        for (size_t i = 0; i < res->n_functions; i++) {
                PciDevice *d = topology_find(m->topology, &res->functions[i].address);

                manager_dbus_device_verdict_changed(m, &res->functions[i].address);
                if (d && d->iommu_group >= 0 && d->iommu_group != last_group) {
                        last_group = d->iommu_group;
                        group_dbus_reservation_changed(m, d->iommu_group);
                }
        }
}

void manager_dbus_reservation_added(Manager *m, ManagedReservation *mr) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!m->bus)
                return;
        r = reservation_object_path(mr->data->id, &path);
        if (r < 0)
                return (void) log_oom();
        r = sd_bus_emit_object_added(m->bus, path);
        if (r < 0)
                log_debug_errno(r, "Failed to emit InterfacesAdded for %s: %m", path);
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "ReservationAdded",
                               "so", mr->data->id, path);
        if (r < 0)
                log_debug_errno(r, "Failed to emit ReservationAdded: %m");
        emit_functions_changed(m, mr);
}

void manager_dbus_reservation_removed(Manager *m, ManagedReservation *mr) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!m->bus)
                return;
        r = reservation_object_path(mr->data->id, &path);
        if (r < 0)
                return (void) log_oom();
        /* InterfacesRemoved is built from the vtables, which no longer find
         * the object: sd-bus sends it with the interface list it knows */
        r = sd_bus_emit_interfaces_removed(m->bus, path, "org.pciassign1.Reservation", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit InterfacesRemoved for %s: %m", path);
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "ReservationRemoved",
                               "so", mr->data->id, path);
        if (r < 0)
                log_debug_errno(r, "Failed to emit ReservationRemoved: %m");
        emit_functions_changed(m, mr);
}

void manager_dbus_reservation_changed(Manager *m, ManagedReservation *mr) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!m->bus)
                return;
        r = reservation_object_path(mr->data->id, &path);
        if (r < 0)
                return (void) log_oom();
        (void) sd_bus_emit_properties_changed(m->bus, path, "org.pciassign1.Reservation",
                                              "State", "LastError", "Groups", NULL);
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "ReservationChanged",
                               "ss", mr->data->id, reservation_state_to_string(mr->data->state));
        if (r < 0)
                log_debug_errno(r, "Failed to emit ReservationChanged: %m");
        emit_functions_changed(m, mr);
}
