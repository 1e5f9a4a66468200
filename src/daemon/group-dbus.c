/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus-label.h"
#include "group-dbus.h"
#include "macro.h"
#include "reservation-dbus.h"

int group_object_path(unsigned id, char **ret) {
        char label[16];

        snprintf(label, sizeof label, "%u", id);
        /* what sd_bus_path_encode() makes, in one allocation */
        *ret = bus_label_path(PCIASSIGN_GROUP_PREFIX, label);
        return *ret ? 0 : -ENOMEM;
}

/* Strict: decimal digits only, no sign, no leading zeros, fits in 31 bits */
static int parse_group_label(const char *s, unsigned *ret) {
        unsigned long v = 0;
        size_t i;

        if (!s || !*s || (s[0] == '0' && s[1]))
                return -EINVAL;
        for (i = 0; s[i]; i++) {
                if (s[i] < '0' || s[i] > '9' || i >= 10)
                        return -EINVAL;
                v = v * 10 + (unsigned long) (s[i] - '0');
        }
        if (v > INT32_MAX)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static int group_find(sd_bus *bus, const char *path, const char *interface,
                      void *userdata, void **found, sd_bus_error *error) {
        Manager *m = userdata;
        /* longer than any group number: a longer label is no group */
        char label[16];
        IommuGroup *g;
        unsigned id;

        if (!bus_label_decode(path, PCIASSIGN_GROUP_PREFIX, label, sizeof label))
                return 0;
        if (parse_group_label(label, &id) < 0)
                return 0;
        g = topology_find_group(m->topology, id);
        if (!g)
                return 0;
        *found = g;
        return 1;
}

static int group_enumerate(sd_bus *bus, const char *path, void *userdata,
                           char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        Topology *t = m->topology;
        char **l;
        int r;

        l = calloc(t->n_groups + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_groups; i++) {
                r = group_object_path(t->groups[i]->id, &l[i]);
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                free(l[j]);
                        free(l);
                        return r;
                }
        }
        *nodes = l;
        return 0;
}

static int property_get_devices(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply,
                                void *userdata, sd_bus_error *error) {
        const IommuGroup *g = userdata;
        int r;

        r = sd_bus_message_open_container(reply, 'a', "s");
        if (r < 0)
                return r;
        for (size_t i = 0; i < g->n_members; i++) {
                r = sd_bus_message_append_basic(reply, 's', g->members[i]->name);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static int property_get_viable(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply,
                               void *userdata, sd_bus_error *error) {
        int b = topology_group_viable(userdata);
        return sd_bus_message_append_basic(reply, 'b', &b);
}

/* Group objects' userdata is the IommuGroup (the find callback's
 * answer); the Manager is the userdata the vtable was registered with. */
static Manager *slot_manager(sd_bus *bus) {
        return sd_bus_slot_get_userdata(sd_bus_get_current_slot(bus));
}

static int property_get_reservation(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply,
                                    void *userdata, sd_bus_error *error) {
        const IommuGroup *g = userdata;
        _cleanup_free_ char *p = NULL;
        ManagedReservation *mr = NULL;
        int r;

        /* the group rule makes every endpoint member part of the same
         * reservation; any member tells */
        for (size_t i = 0; !mr && i < g->n_members; i++)
                mr = manager_reservation_of(slot_manager(bus), &g->members[i]->address, NULL);
        if (!mr)
                return sd_bus_message_append_basic(reply, 'o', "/");
        r = reservation_object_path(mr->data->id, &p);
        if (r < 0)
                return r;
        return sd_bus_message_append_basic(reply, 'o', p);
}

const sd_bus_vtable group_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "u", NULL, offsetof(IommuGroup, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Devices", "as", property_get_devices, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Viable", "b", property_get_viable, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Reservation", "o", property_get_reservation, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END
};

int group_dbus_export(Manager *m) {
        int r;

        r = sd_bus_add_fallback_vtable(m->bus, NULL, PCIASSIGN_GROUP_PREFIX, "org.pciassign1.Group",
                                       group_vtable, group_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, PCIASSIGN_GROUP_PREFIX, group_enumerate, m);
}

void group_dbus_members_changed(Manager *m, int group, int delta) {
        _cleanup_free_ char *gpath = NULL;
        IommuGroup *g;

        if (group < 0 || !m->bus || group_object_path((unsigned) group, &gpath) < 0)
                return;
        g = topology_find_group(m->topology, (unsigned) group);
        if (!g) {
                if (delta < 0)
                        (void) sd_bus_emit_interfaces_removed(m->bus, gpath, "org.pciassign1.Group", NULL);
                return;
        }
        if (delta > 0 && g->n_members == 1)
                (void) sd_bus_emit_object_added(m->bus, gpath);
        else
                (void) sd_bus_emit_properties_changed(m->bus, gpath, "org.pciassign1.Group", "Devices", "Viable",
                                                      NULL);
}

void group_dbus_reservation_changed(Manager *m, int group) {
        _cleanup_free_ char *gpath = NULL;

        if (group < 0 || !m->bus || group_object_path((unsigned) group, &gpath) < 0)
                return;
        (void) sd_bus_emit_properties_changed(m->bus, gpath, "org.pciassign1.Group", "Reservation", NULL);
}
