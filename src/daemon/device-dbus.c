/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bus-label.h"
#include "device-dbus.h"
#include "group-dbus.h"
#include "log.h"
#include "macro.h"
#include "manager-dbus.h"
#include "reservation-dbus.h"

/* Device objects' userdata is the PciDevice itself (the find callback's
 * answer); the few properties that need the rest of the model (verdicts,
 * reservations) reach the Manager as the userdata their vtable was
 * registered with: the slot being dispatched. */
static Manager *slot_manager(sd_bus *bus) {
        return sd_bus_slot_get_userdata(sd_bus_get_current_slot(bus));
}

int device_object_path(const PciDevice *d, char **ret) {
        /* what sd_bus_path_encode() makes, in one allocation */
        *ret = bus_label_path(PCIASSIGN_DEVICE_PREFIX, d->name);
        return *ret ? 0 : -ENOMEM;
}

static int device_find(sd_bus *bus, const char *path, const char *interface,
                       void *userdata, void **found, sd_bus_error *error) {
        Manager *m = userdata;
        /* longer than any address: a longer label is no device */
        char label[PCI_ADDRESS_STRLEN + 1];
        PciAddress a;
        PciDevice *d;

        if (!bus_label_decode(path, PCIASSIGN_DEVICE_PREFIX, label, sizeof label))
                return 0;
        /* a path label is untrusted input like any other string */
        if (pci_address_parse(label, &a) < 0)
                return 0;
        d = manager_find_device(m, &a);
        if (!d)
                return 0;
        *found = d;
        return 1;
}

static int device_enumerate(sd_bus *bus, const char *path, void *userdata,
                            char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        Topology *t = m->topology, *x = m->missing;
        size_t n = 0;
        char **l;
        int r;

        l = calloc(t->n_devices + x->n_devices + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t k = 0; k < 2; k++) {
                Topology *src = k == 0 ? t : x;
                for (size_t i = 0; i < src->n_devices; i++) {
                        r = device_object_path(src->devices[i], &l[n]);
                        if (r < 0) {
                                strv_free(l);
                                return r;
                        }
                        n++;
                }
        }
        *nodes = l;
        return 0;
}

/* The getters append with sd_bus_message_append_basic(): GetManagedObjects
 * calls them for every function, and sd_bus_message_append() would parse
 * a format string each time. */

static int append_bool(sd_bus_message *reply, bool b) {
        int v = b;
        return sd_bus_message_append_basic(reply, 'b', &v);
}

static int property_get_address(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        PciDevice *d = userdata;
        return sd_bus_message_append_basic(reply, 's', d->name);
}

#define DEFINE_BOOL_GETTER(name, expr)                                                  \
        static int property_get_##name(sd_bus *bus, const char *path,                  \
                                       const char *interface, const char *property,    \
                                       sd_bus_message *reply, void *userdata,          \
                                       sd_bus_error *error) {                          \
                const PciDevice *d = userdata;                                          \
                return append_bool(reply, (expr));                                      \
        }

DEFINE_BOOL_GETTER(multifunction, pci_device_is_multifunction(d))
DEFINE_BOOL_GETTER(bridge, pci_device_is_bridge(d))
DEFINE_BOOL_GETTER(boot_vga, d->boot_vga)

static int property_get_present(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        return append_bool(reply, !d->missing);
}

static int property_get_assigned(sd_bus *bus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply,
                                 void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        ReservationFunction *f = NULL;

        (void) manager_reservation_of(slot_manager(bus), &d->address, &f);
        return append_bool(reply, f && f->assigned);
}

static int property_get_host_driver(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply,
                                    void *userdata, sd_bus_error *error) {
        return sd_bus_message_append_basic(reply, 's', strempty(manager_host_driver(slot_manager(bus), userdata)));
}

static int property_get_host_driver_adopted(sd_bus *bus, const char *path, const char *interface,
                                            const char *property, sd_bus_message *reply,
                                            void *userdata, sd_bus_error *error) {
        HostBinding hb;

        manager_host_binding(slot_manager(bus), userdata, &hb);
        return append_bool(reply, hb.adopted);
}

static int property_get_host_driver_override(sd_bus *bus, const char *path, const char *interface,
                                             const char *property, sd_bus_message *reply,
                                             void *userdata, sd_bus_error *error) {
        HostBinding hb;

        manager_host_binding(slot_manager(bus), userdata, &hb);
        return sd_bus_message_append_basic(reply, 's', strempty(hb.override));
}

static int property_get_verdict(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        VerdictKind k;
        int r;

        r = manager_device_verdict_kind(slot_manager(bus), userdata, &k);
        if (r < 0)
                return r;
        return sd_bus_message_append_basic(reply, 's', verdict_kind_to_string(k));
}

static int property_get_reasons(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        Verdict v;
        bool severity;
        int r;

        r = manager_device_verdict(slot_manager(bus), userdata, &v);
        if (r < 0)
                return r;
        /* Reasons a(ss), ReasonsWithSeverity a(sss): the same, with each
         * reason's severity ("blocking" or "warning") */
        severity = streq(property, "ReasonsWithSeverity");
        r = sd_bus_message_open_container(reply, 'a', severity ? "(sss)" : "(ss)");
        for (size_t i = 0; r >= 0 && i < v.n_reasons; i++) {
                r = sd_bus_message_open_container(reply, 'r', severity ? "sss" : "ss");
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 's', v.reasons[i].code);
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 's', v.reasons[i].text);
                if (r >= 0 && severity)
                        r = sd_bus_message_append_basic(reply, 's', reason_severity(&v.reasons[i]));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        verdict_done(&v);
        return r;
}

static int property_get_pcie_type(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply,
                                  void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        return sd_bus_message_append_basic(reply, 's',
                                           d->config_valid ? pci_express_type_to_string(d->config.pcie_type) : "");
}

static int property_get_parent(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply,
                               void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        char buf[PCI_ADDRESS_STRLEN];
        return sd_bus_message_append_basic(reply, 's', d->has_parent ? pci_address_format(&d->parent, buf) : "");
}

static int property_get_physfn(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply,
                               void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        char buf[PCI_ADDRESS_STRLEN];
        return sd_bus_message_append_basic(reply, 's', d->is_vf ? pci_address_format(&d->physfn, buf) : "");
}

static int property_get_virtfns(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        char buf[PCI_ADDRESS_STRLEN];
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_virtfns; i++) {
                r = sd_bus_message_append_basic(reply, 's', pci_address_format(&d->virtfns[i], buf));
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_bars(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply,
                             void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "(ytt)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->resources.n_bars; i++) {
                const PciBar *b = &d->resources.bars[i];
                if (!b->mem)
                        continue;
                r = sd_bus_message_open_container(reply, 'r', "ytt");
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 'y', &b->index);
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 't', &b->start);
                if (r >= 0)
                        r = sd_bus_message_append_basic(reply, 't', &b->size);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_reservation(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply,
                                    void *userdata, sd_bus_error *error) {
        const PciDevice *d = userdata;
        _cleanup_free_ char *p = NULL;
        ManagedReservation *mr = manager_reservation_of(slot_manager(bus), &d->address, NULL);
        int r;

        if (!mr)
                return sd_bus_message_append_basic(reply, 'o', "/");
        r = reservation_object_path(mr->data->id, &p);
        if (r < 0)
                return r;
        return sd_bus_message_append_basic(reply, 'o', p);
}

#define CONST SD_BUS_VTABLE_PROPERTY_CONST
#define CHANGE SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE

const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Address", "s", property_get_address, 0, CONST),
        SD_BUS_PROPERTY("VendorId", "q", NULL, offsetof(PciDevice, vendor_id), CONST),
        SD_BUS_PROPERTY("DeviceId", "q", NULL, offsetof(PciDevice, device_id), CONST),
        SD_BUS_PROPERTY("SubsystemVendorId", "q", NULL, offsetof(PciDevice, subsystem_vendor_id), CONST),
        SD_BUS_PROPERTY("SubsystemDeviceId", "q", NULL, offsetof(PciDevice, subsystem_device_id), CONST),
        SD_BUS_PROPERTY("Class", "u", NULL, offsetof(PciDevice, class_code), CONST),
        SD_BUS_PROPERTY("Revision", "y", NULL, offsetof(PciDevice, revision), CONST),
        SD_BUS_PROPERTY("VendorName", "s", NULL, offsetof(PciDevice, vendor_name), CONST),
        SD_BUS_PROPERTY("DeviceName", "s", NULL, offsetof(PciDevice, device_name), CONST),
        SD_BUS_PROPERTY("Driver", "s", NULL, offsetof(PciDevice, driver), CHANGE),
        SD_BUS_PROPERTY("DriverOverride", "s", NULL, offsetof(PciDevice, driver_override), CHANGE),
        SD_BUS_PROPERTY("HostDriver", "s", property_get_host_driver, 0, CHANGE),
        SD_BUS_PROPERTY("HostDriverAdopted", "b", property_get_host_driver_adopted, 0, CHANGE),
        SD_BUS_PROPERTY("HostDriverOverride", "s", property_get_host_driver_override, 0, CHANGE),
        SD_BUS_PROPERTY("IOMMUGroup", "i", NULL, offsetof(PciDevice, iommu_group), CHANGE),
        SD_BUS_PROPERTY("NUMANode", "i", NULL, offsetof(PciDevice, numa_node), CHANGE),
        SD_BUS_PROPERTY("ResetMethods", "as", NULL, offsetof(PciDevice, reset_methods), CHANGE),
        SD_BUS_PROPERTY("Multifunction", "b", property_get_multifunction, 0, CONST),
        SD_BUS_PROPERTY("Bridge", "b", property_get_bridge, 0, CONST),
        SD_BUS_PROPERTY("BootVGA", "b", property_get_boot_vga, 0, CONST),
        SD_BUS_PROPERTY("PCIeType", "s", property_get_pcie_type, 0, CONST),
        SD_BUS_PROPERTY("Parent", "s", property_get_parent, 0, CONST),
        SD_BUS_PROPERTY("PhysicalFunction", "s", property_get_physfn, 0, CHANGE),
        SD_BUS_PROPERTY("VirtualFunctions", "as", property_get_virtfns, 0, CHANGE),
        SD_BUS_PROPERTY("Bars", "a(ytt)", property_get_bars, 0, CONST),
        SD_BUS_PROPERTY("Present", "b", property_get_present, 0, CHANGE),
        SD_BUS_PROPERTY("Verdict", "s", property_get_verdict, 0, CHANGE),
        SD_BUS_PROPERTY("Reasons", "a(ss)", property_get_reasons, 0, CHANGE),
        SD_BUS_PROPERTY("ReasonsWithSeverity", "a(sss)", property_get_reasons, 0, CHANGE),
        SD_BUS_PROPERTY("Reservation", "o", property_get_reservation, 0, CHANGE),
        SD_BUS_PROPERTY("Assigned", "b", property_get_assigned, 0, CHANGE),
        SD_BUS_VTABLE_END
};

int device_dbus_export(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, PCIASSIGN_DEVICE_PREFIX, "org.pciassign1.Device",
                                       device_vtable, device_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, PCIASSIGN_DEVICE_PREFIX, device_enumerate, m);
}

/* ---- signals of the Manager about functions (udev, manager-udev.c) ---- */

void manager_dbus_emit_device_added(Manager *m, const PciDevice *d, bool new_object) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!m->bus)
                return;
        if (device_object_path(d, &path) < 0)
                return (void) log_oom();
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "DeviceAdded", "so", d->name, path);
        if (r < 0)
                log_debug_errno(r, "Failed to emit DeviceAdded for %s: %m", d->name);
        if (new_object)
                r = sd_bus_emit_object_added(m->bus, path);
        else
                /* a reserved function that came back: the object stayed */
                r = sd_bus_emit_properties_changed(m->bus, path, "org.pciassign1.Device", "Present", "Driver",
                                                   "DriverOverride", "Verdict", "Reasons", "ReasonsWithSeverity", "IOMMUGroup", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit the object of %s: %m", d->name);
        group_dbus_members_changed(m, d->iommu_group, +1);
}

void manager_dbus_emit_device_removed(Manager *m, const PciDevice *d, bool object_gone) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (!m->bus)
                return;
        if (device_object_path(d, &path) < 0)
                return (void) log_oom();
        r = sd_bus_emit_signal(m->bus, PCIASSIGN_PATH, "org.pciassign1.Manager", "DeviceRemoved", "so", d->name,
                               path);
        if (r < 0)
                log_debug_errno(r, "Failed to emit DeviceRemoved for %s: %m", d->name);
        if (object_gone)
                /* the vtables no longer find it: name the interface */
                r = sd_bus_emit_interfaces_removed(m->bus, path, "org.pciassign1.Device", NULL);
        else
                r = sd_bus_emit_properties_changed(m->bus, path, "org.pciassign1.Device", "Present", "Driver",
                                                   "Verdict", "Reasons", "ReasonsWithSeverity", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit the object of %s: %m", d->name);
        group_dbus_members_changed(m, d->iommu_group, -1);
}

/* Every property of a function that a udev event or a job can change, and
 * its group's, in one signal each. */
void manager_dbus_device_properties_changed(Manager *m, const PciAddress *a) {
        _cleanup_free_ char *path = NULL;
        PciDevice *d = manager_find_device(m, a);
        int r;

        if (!d || !m->bus)
                return;
        if (device_object_path(d, &path) < 0)
                return (void) log_oom();
        r = sd_bus_emit_properties_changed(m->bus, path, "org.pciassign1.Device", "Driver", "DriverOverride",
                                           "HostDriver", "HostDriverAdopted", "HostDriverOverride", "IOMMUGroup",
                                           "NUMANode", "ResetMethods",
                                           "PhysicalFunction", "VirtualFunctions", "Present", "Verdict", "Reasons",
                                           "ReasonsWithSeverity", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged for %s: %m", d->name);
        group_dbus_members_changed(m, d->iommu_group, 0);
}

/* The function at d's address is another device than the object showed
 * (other const properties): the object goes and comes again. */
void manager_dbus_emit_object_replaced(Manager *m, const PciDevice *d) {
        _cleanup_free_ char *path = NULL;

        if (!m->bus || device_object_path(d, &path) < 0)
                return;
        (void) sd_bus_emit_interfaces_removed(m->bus, path, "org.pciassign1.Device", NULL);
        (void) sd_bus_emit_object_added(m->bus, path);
}

void manager_dbus_device_verdict_changed(Manager *m, const PciAddress *a) {
        _cleanup_free_ char *path = NULL;
        PciDevice *d;
        int r;

        d = manager_find_device(m, a);
        if (!d || !m->bus)
                return;
        r = device_object_path(d, &path);
        if (r >= 0)
                r = sd_bus_emit_properties_changed(m->bus, path, "org.pciassign1.Device",
                                                   "Verdict", "Reasons", "ReasonsWithSeverity", "Reservation", "Assigned",
                                                   "HostDriver", "HostDriverAdopted", "HostDriverOverride",
                                                   "Present", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged for %s: %m", d->name);
}
