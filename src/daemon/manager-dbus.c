/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "bus-polkit.h"
#include "config.h"
#include "device-dbus.h"
#include "group-dbus.h"
#include "log.h"
#include "manager-dbus.h"
#include "reservation-dbus.h"

/* The one parser of an address argument, with its error: every address a
 * caller hands us goes through here, the only way from a D-Bus string to
 * a model lookup (and so to any sysfs path). */
static int bus_parse_address(const char *s, PciAddress *ret, sd_bus_error *error) {
        if (pci_address_parse(s, ret) < 0)
                /* quote at most a short prefix of hostile input */
                return sd_bus_error_setf(error, BUS_ERROR_INVALID_ADDRESS,
                                         "Invalid PCI address \"%.32s%s\": expected DDDD:BB:DD.F",
                                         s, strlen(s) > 32 ? "..." : "");
        return 0;
}

static int lookup_device(Manager *m, const char *s, PciDevice **ret, sd_bus_error *error) {
        PciAddress a;
        PciDevice *d = NULL;
        int r;

        r = bus_parse_address(s, &a, error);
        if (r < 0)
                return r;
        d = manager_find_device(m, &a);
        if (!d) {
                char buf[PCI_ADDRESS_STRLEN];
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE,
                                         "No PCI function %s", pci_address_format(&a, buf));
        }
        *ret = d;
        return 0;
}

int manager_dbus_refuse_read_only(Manager *m, sd_bus_error *error) {
        if (m->read_only)
                return sd_bus_error_set(error, BUS_ERROR_READ_ONLY, "pci-assignd runs read-only");
        return 0;
}

static int method_get_device(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *path = NULL;
        const char *s;
        PciDevice *d = NULL;
        int r;

        r = sd_bus_message_read(msg, "s", &s);
        if (r < 0)
                return r;
        r = lookup_device(m, s, &d, error);
        if (r < 0)
                return r;
        r = device_object_path(d, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", path);
}

static int method_get_group(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *path = NULL;
        uint32_t id;
        int r;

        r = sd_bus_message_read(msg, "u", &id);
        if (r < 0)
                return r;
        if (!topology_find_group(m->topology, id))
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_GROUP, "No IOMMU group %u", id);
        r = group_object_path(id, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", path);
}

static int append_device_entry(Manager *m, sd_bus_message *reply, const PciDevice *d) {
        _cleanup_free_ char *path = NULL;
        ManagedReservation *mr;
        Verdict v = {};
        int r;

        r = device_object_path(d, &path);
        if (r < 0)
                return r;
        r = manager_verdict(m, &d->address, "", &v);
        if (r < 0)
                return r;
        mr = manager_reservation_of(m, &d->address, NULL);
        r = sd_bus_message_append(reply, "(ssisso)", d->name, strempty(d->driver), d->iommu_group,
                                  verdict_kind_to_string(v.kind), mr ? mr->data->id : "", path);
        verdict_done(&v);
        return r;
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        size_t i = 0, j = 0;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssisso)");
        if (r < 0)
                return r;
        for (const PciDevice *d; (d = manager_next_device(m, &i, &j));) {
                r = append_device_entry(m, reply, d);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}


/* At most this many entries in one call: far above any host, low enough
 * that a hostile list cannot make us allocate without bound. */
#define MAX_LIST_ENTRIES 65536

/* CheckAssignable, and CheckAssignableWithSeverity: the same with each
 * reason's severity ("blocking" or "warning") as a third field. */
static int check_assignable(sd_bus_message *msg, void *userdata, sd_bus_error *error, bool severity) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ const char **addrs = NULL;   /* into msg */
        Manager *m = userdata;
        const char *owner;
        size_t n, alloc = 0;
        int r;

        /* not sd_bus_message_read_strv(): it copies every string and grows
         * its array one entry at a time (quadratic), before any limit */
        r = sd_bus_message_enter_container(msg, 'a', "s");
        if (r < 0)
                return r;
        n = 0;
        for (;;) {
                const char *s;

                r = sd_bus_message_read(msg, "s", &s);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n >= MAX_LIST_ENTRIES)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Too many addresses (> %d)",
                                                 MAX_LIST_ENTRIES);
                if (GREEDY_REALLOC(addrs, alloc, n + 2) < 0)
                        return -ENOMEM;
                addrs[n++] = s;
                addrs[n] = NULL;
        }
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "s", &owner);
        if (r < 0)
                return r;
        if (*owner && !reservation_owner_is_valid(owner))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Invalid owner: expected 1-256 bytes of printable UTF-8");
        /* all addresses are checked before any answer is built */
        for (size_t i = 0; i < n; i++) {
                PciAddress a;
                r = bus_parse_address(addrs[i], &a, error);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', severity ? "(ssa(sss))" : "(ssa(ss))");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char buf[PCI_ADDRESS_STRLEN];
                Verdict v = {};
                PciAddress a;

                (void) pci_address_parse(addrs[i], &a);
                r = manager_verdict(m, &a, owner, &v);
                if (r < 0)
                        return r;
                r = sd_bus_message_open_container(reply, 'r', severity ? "ssa(sss)" : "ssa(ss)");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ss", pci_address_format(&a, buf),
                                                  verdict_kind_to_string(v.kind));
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', severity ? "(sss)" : "(ss)");
                for (size_t k = 0; r >= 0 && k < v.n_reasons; k++)
                        r = severity ? sd_bus_message_append(reply, "(sss)", v.reasons[k].code, v.reasons[k].text,
                                                             reason_severity(&v.reasons[k]))
                                     : sd_bus_message_append(reply, "(ss)", v.reasons[k].code, v.reasons[k].text);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                verdict_done(&v);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_check_assignable(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return check_assignable(msg, userdata, error, false);
}

static int method_check_assignable_with_severity(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return check_assignable(msg, userdata, error, true);
}

static int method_list_reservations(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssso)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_reservations; i++) {
                Reservation *res = m->reservations[i]->data;
                _cleanup_free_ char *path = NULL;

                r = reservation_object_path(res->id, &path);
                if (r < 0)
                        return r;
                r = sd_bus_message_append(reply, "(ssso)", res->id, res->owner,
                                          reservation_state_to_string(res->state), path);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_reservation(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *path = NULL;
        Manager *m = userdata;
        ManagedReservation *mr;
        const char *id;
        int r;

        r = sd_bus_message_read(msg, "s", &id);
        if (r < 0)
                return r;
        mr = reservation_id_is_valid(id) ? manager_find_reservation(m, id) : NULL;
        if (!mr)
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_RESERVATION, "No reservation \"%.32s%s\"",
                                         id, strlen(id) > 32 ? "..." : "");
        r = reservation_object_path(mr->data->id, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", path);
}

/* Reads the a{sv} options of Reserve; unknown keys and wrong types are
 * refused, so a typo never silently becomes a default. */
static int read_reserve_options(sd_bus_message *msg, ReserveRequest *req, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(msg, &type, &contents);
                if (r < 0)
                        return r;
                if (streq(key, "persistent") || streq(key, "complete-group")) {
                        int b;

                        if (!streq(contents, "b"))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option \"%s\" takes a boolean (b), not \"%s\"", key, contents);
                        r = sd_bus_message_read(msg, "v", "b", &b);
                        if (r < 0)
                                return r;
                        if (streq(key, "persistent"))
                                req->persistent = b;
                        else
                                req->complete_group = b;
                } else if (streq(key, "driver")) {
                        const char *drv;

                        if (!streq(contents, "s"))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option \"driver\" takes a string (s), not \"%s\"", contents);
                        r = sd_bus_message_read(msg, "v", "s", &drv);
                        if (r < 0)
                                return r;
                        if (!driver_name_is_valid(drv) || !pci_driver_is_vfio(drv))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Invalid driver \"%.64s\": expected vfio-pci or a vfio variant driver",
                                                         drv);
                        req->driver = drv;
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option \"%.64s\"; known: persistent, complete-group, driver",
                                                 key);
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int method_reserve(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        _cleanup_free_ PciAddress *addrs = NULL;
        _cleanup_free_ bool *assigned = NULL;
        _cleanup_free_ char *path = NULL;
        Manager *m = userdata;
        ReserveRequest req = { .persistent = true, .message = msg };
        ManagedReservation *mr = NULL;
        size_t n = 0, alloc = 0, alloc_assigned = 0;
        const char *owner, *addr;
        const char *details[3] = {};
        int a, r;

        r = sd_bus_message_read(msg, "s", &owner);
        if (r < 0)
                return r;
        if (!reservation_owner_is_valid(owner))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "Invalid owner: expected 1-256 bytes of printable UTF-8");
        req.owner = owner;

        r = sd_bus_message_enter_container(msg, 'a', "(sb)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(msg, "(sb)", &addr, &a)) > 0) {
                if (n >= MAX_LIST_ENTRIES)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Too many functions (> %d)", MAX_LIST_ENTRIES);
                if (GREEDY_REALLOC(addrs, alloc, n + 1) < 0 || GREEDY_REALLOC(assigned, alloc_assigned, n + 1) < 0)
                        return -ENOMEM;
                r = bus_parse_address(addr, &addrs[n], error);
                if (r < 0)
                        return r;
                assigned[n++] = a;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        if (n == 0)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "No functions given");
        r = read_reserve_options(msg, &req, error);
        if (r < 0)
                return r;
        r = manager_dbus_refuse_read_only(m, error);
        if (r < 0)
                return r;

        details[0] = "owner";
        details[1] = owner;
        r = bus_verify_polkit_async(msg, "org.pciassign1.reserve", details, (uid_t) -1,
                                    &m->polkit_registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1; /* polkit will answer; the call is dispatched again */

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &req.owner_uid);
        if (r < 0)
                return r;

        req.addresses = addrs;
        req.assigned = assigned;
        req.n = n;
        r = manager_reserve(m, &req, &mr, error);
        if (r < 0)
                return r;
        r = reservation_object_path(mr->data->id, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", path);
}

/* Detach, Reattach, Reset: one function, polkit action manage. */
static int single_function_call(sd_bus_message *msg, Manager *m, const char *addr, PciDevice **ret_d,
                                uid_t *ret_uid, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *details[] = { "address", addr, NULL };
        int r;

        r = lookup_device(m, addr, ret_d, error);
        if (r < 0)
                return r;
        r = manager_dbus_refuse_read_only(m, error);
        if (r < 0)
                return r;
        r = bus_verify_polkit_async(msg, "org.pciassign1.manage", details, (uid_t) -1, &m->polkit_registry, error);
        if (r <= 0)
                return r;  /* 0: polkit will answer; the call is dispatched again */
        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, ret_uid);
        if (r < 0)
                return r;
        return 1;
}

static int method_detach(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *addr, *driver;
        PciDevice *d = NULL;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "ss", &addr, &driver);
        if (r < 0)
                return r;
        r = single_function_call(msg, m, addr, &d, &uid, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        if (!*driver)
                driver = "vfio-pci";
        if (!driver_name_is_valid(driver) || !(pci_driver_is_vfio(driver) || streq(driver, "pci-stub")))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid driver \"%.64s\": expected vfio-pci, a vfio variant driver or pci-stub",
                                         driver);
        r = manager_detach(m, &d->address, driver, uid, msg, error);
        return r < 0 ? r : 1;  /* answered when the job ends */
}

static int method_reattach(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *addr;
        PciDevice *d = NULL;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "s", &addr);
        if (r < 0)
                return r;
        r = single_function_call(msg, m, addr, &d, &uid, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = manager_reattach(m, &d->address, msg, error);
        return r < 0 ? r : 1;
}

static int method_reset(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *addr;
        PciDevice *d = NULL;
        uid_t uid;
        int r;

        r = sd_bus_message_read(msg, "s", &addr);
        if (r < 0)
                return r;
        r = single_function_call(msg, m, addr, &d, &uid, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = manager_reset(m, &d->address, uid, msg, error);
        return r < 0 ? r : 1;
}

static int method_describe(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *json = NULL;
        int r;

        r = manager_describe(userdata, &json);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "s", json);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_iommu_present(sd_bus *bus, const char *path, const char *interface,
                                      const char *property, sd_bus_message *reply,
                                      void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "b", (int) topology_has_iommu(m->topology));
}

static int property_get_read_only(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply,
                                  void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        return sd_bus_message_append(reply, "b", (int) m->read_only);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("IOMMUPresent", "b", property_get_iommu_present, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ReadOnly", "b", property_get_read_only, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssisso)", devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDevice", SD_BUS_ARGS("s", address), SD_BUS_RESULT("o", path),
                                method_get_device, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetGroup", SD_BUS_ARGS("u", group), SD_BUS_RESULT("o", path),
                                method_get_group, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListReservations", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssso)", reservations),
                                method_list_reservations, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetReservation", SD_BUS_ARGS("s", id), SD_BUS_RESULT("o", path),
                                method_get_reservation, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckAssignable", SD_BUS_ARGS("as", addresses, "s", owner),
                                SD_BUS_RESULT("a(ssa(ss))", verdicts),
                                method_check_assignable, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckAssignableWithSeverity", SD_BUS_ARGS("as", addresses, "s", owner),
                                SD_BUS_RESULT("a(ssa(sss))", verdicts),
                                method_check_assignable_with_severity, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Describe", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json),
                                method_describe, SD_BUS_VTABLE_UNPRIVILEGED),
        /* authorization: polkit, checked by the handler */
        SD_BUS_METHOD_WITH_ARGS("Reserve", SD_BUS_ARGS("s", owner, "a(sb)", functions, "a{sv}", options),
                                SD_BUS_RESULT("o", path),
                                method_reserve, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Detach", SD_BUS_ARGS("s", address, "s", driver), SD_BUS_NO_RESULT,
                                method_detach, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reattach", SD_BUS_ARGS("s", address), SD_BUS_NO_RESULT,
                                method_reattach, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reset", SD_BUS_ARGS("s", address), SD_BUS_NO_RESULT,
                                method_reset, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceAdded", SD_BUS_ARGS("s", address, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("DeviceRemoved", SD_BUS_ARGS("s", address, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("DriverChanged", SD_BUS_ARGS("s", address, "s", old_driver, "s", new_driver), 0),
        SD_BUS_SIGNAL_WITH_ARGS("Conflict", SD_BUS_ARGS("s", address, "s", reservation_id, "s", message), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ReservationAdded", SD_BUS_ARGS("s", id, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ReservationRemoved", SD_BUS_ARGS("s", id, "o", path), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ReservationChanged", SD_BUS_ARGS("s", id, "s", state), 0),
        SD_BUS_VTABLE_END
};

int manager_dbus_export(Manager *m) {
        int r;

        r = sd_bus_add_object_vtable(m->bus, NULL, PCIASSIGN_PATH, "org.pciassign1.Manager",
                                     manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the Manager object: %m");
        r = device_dbus_export(m);
        if (r < 0)
                return log_error_errno(r, "Failed to register Device objects: %m");
        r = group_dbus_export(m);
        if (r < 0)
                return log_error_errno(r, "Failed to register Group objects: %m");
        r = reservation_dbus_export(m);
        if (r < 0)
                return log_error_errno(r, "Failed to register Reservation objects: %m");
        r = sd_bus_add_object_manager(m->bus, NULL, PCIASSIGN_PATH);
        if (r < 0)
                return log_error_errno(r, "Failed to register the ObjectManager: %m");
        return 0;
}

/* ---- signals of the Manager about functions (manager-udev.c, jobs) ---- */

void manager_dbus_emit_driver_changed(Manager *m, const PciAddress *a, const char *old, const char *new) {
        char buf[PCI_ADDRESS_STRLEN];
        int r;

        if (!m->bus)
                return;
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "DriverChanged", "sss",
                               pci_address_format(a, buf), strempty(old), strempty(new));
        if (r < 0)
                log_debug_errno(r, "Failed to emit DriverChanged for %s: %m", buf);
}

void manager_dbus_emit_conflict(Manager *m, const PciAddress *a, const char *id, const char *message) {
        char buf[PCI_ADDRESS_STRLEN];
        int r;

        if (!m->bus)
                return;
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "Conflict", "sss",
                               pci_address_format(a, buf), strempty(id), strempty(message));
        if (r < 0)
                log_debug_errno(r, "Failed to emit Conflict for %s: %m", buf);
}
