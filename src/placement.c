/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "placement.h"

/* Placement rules (documented for users in org.pciassign1(5), GetPlacement).
 *
 * Units.  The reservation's functions are grouped by the IOMMU group the
 * topology gives them.  A function that is absent from the topology (or
 * present without a group) keeps its address, gets group -1 and forms a
 * unit of its own.  Units are ordered by the address of their first
 * function, not by group number: group numbers are whatever the kernel
 * assigned at boot and may change, addresses are stable, so the layout of
 * a guest does not move around between host reboots.
 *
 * assigned=false functions are detached with their group but never given
 * to the guest, so they appear in no PHB or root port (for every machine
 * type; a VMM has nothing to do with them) and only in the top-level
 * "unassigned" list.  A unit without any assigned function gets no PHB or
 * root port at all.
 *
 * Guest slots and functions.  Within a unit, the assigned functions of one
 * host device (same domain:bus:device; an SR-IOV VF is always a device of
 * its own) become functions of one guest slot; separate host devices get
 * separate slots.  Host function numbers are
 * kept, with one exception: a guest finds a device only through its
 * function 0, so when the host's function 0 is not among the assigned
 * functions of the unit, the lowest assigned function becomes guest
 * function 0 (the others keep their numbers, which cannot collide).  This
 * is what happens to SR-IOV VFs, to partial assignment without function 0,
 * and to a multifunction device whose functions are in different groups.
 * "multifunction" is true for every function of a guest slot that holds
 * more than one function (the VMM must set multifunction=on at least on
 * guest function 0).
 *
 * A host device split over several groups (00:05.0 and 00:05.1 of the
 * recorded q35 machine: one multifunction device, two groups) cannot be
 * one guest slot: a group never spans two PHBs, and on q35/virt one root
 * port per group leaves one device per root port.  Each part is placed in
 * its own unit and a note says so.
 *
 * pseries (the PAPR vPHB proposal): one PHB per unit, never a bridge or
 * root port.  The PHB "index" is the spapr-pci-host-bridge index: 0 is the
 * machine's default PHB (emulated devices), so assigned groups start at 1.
 * Devices of a group sit on the PHB's root bus from slot 1 up (slot 0 left
 * free, as libvirt does on pseries).  Spare empty PHBs for hotplug (QEMU
 * cannot hotplug a PHB, and a hotplugged PE needs an empty one):
 * max(2, number of PHBs), i.e. room to hotplug as many groups again as
 * the guest starts with and at least two, capped so that the total stays
 * within QEMU's 31 PHBs (indexes 0..30).  Spares take the indexes after
 * the last used one.
 *
 * q35 and virt: one root port per unit; "index" is the order of the root
 * ports (0, 1, ...), not a bus or chassis number.  A unit with one host
 * device puts it at slot 0 behind the root port.  A unit with several host
 * devices (a conventional PCI bus behind a PCIe-to-PCI bridge, or
 * endpoints under a switch without ACS) gets one pcie-pci-bridge behind
 * its root port ("pcie_pci_bridge": true), its devices on the bridge's
 * bus from slot 1 up (slot 0 is not hotpluggable there).  Rather than one
 * root port per device, because the host group must stay one group in the
 * guest: QEMU keeps every device of a host group in one VFIO container,
 * and a guest with a vIOMMU that saw the devices on separate root ports
 * (separate guest groups) could put them into separate address spaces,
 * which QEMU refuses.  Behind one conventional bridge the guest aliases
 * them to one requester ID, one guest group, as on the host; "one root
 * port per group" holds.  The cost: a PCI Express device behind the
 * bridge is conventional PCI to the guest (no extended config space); a
 * note says so.
 *
 * NUMA: every PHB/root port carries the NUMA node shared by all its
 * (assigned) functions, -1 when that is unknown, or -1 with
 * "numa_mixed": true when they differ (also when some are unknown).
 *
 * Notes ("notes", human-readable strings, in a fixed order) tell the VMM
 * about whatever the layout could not keep: a function absent from the
 * host, a renumbered function (not for VFs), a PCI Express device behind a
 * pcie-pci-bridge, a host device split over groups, a group with more
 * devices than a bus has slots, more PHBs than pseries allows.
 *
 * The output is a function of the set of functions and the topology only
 * (not of the order of r->functions): byte-identical for equal input. */

typedef enum Machine {
        MACHINE_PSERIES,
        MACHINE_Q35,
        MACHINE_VIRT,
        _MACHINE_MAX,
        _MACHINE_INVALID = -1,
} Machine;

static const char * const machine_table[_MACHINE_MAX] = {
        [MACHINE_PSERIES] = "pseries",
        [MACHINE_Q35] = "q35",
        [MACHINE_VIRT] = "virt",
};

#define PSERIES_MAX_PHBS 31          /* QEMU's SPAPR_MAX_PHBS: indexes 0..30 */
#define PSERIES_FIRST_PHB 1          /* index 0: the default PHB */
#define PSERIES_MIN_SPARE_PHBS 2
#define BUS_FIRST_SLOT 1             /* on a PHB root bus and a pcie-pci-bridge */
#define BUS_MAX_SLOT 31

typedef struct Entry {
        const ReservationFunction *rf;
        const PciDevice *dev;        /* NULL: not in the topology */
        int group;                   /* -1: none known */
        size_t unit;
        size_t device;               /* index of the first entry of its host device */

        /* for assigned functions of a placed unit */
        unsigned guest_slot, guest_function;
        bool multifunction;
} Entry;

typedef struct Unit {
        int group;
        size_t n_assigned;
        size_t n_devices;            /* host devices among the assigned functions */
        int numa_node;
        bool numa_mixed;
        unsigned index;              /* PHB index / root port number */
} Unit;

typedef struct Plan {
        Machine machine;
        Entry *entries;              /* sorted by address */
        size_t n_entries;
        Unit *units;                 /* in order of their first function */
        size_t n_units;
        size_t n_placed;             /* units with at least one assigned function */
} Plan;

static void plan_done(Plan *p) {
        free(p->entries);
        free(p->units);
}

static Machine machine_from_string(const char *s) {
        if (!s)
                return _MACHINE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(machine_table); i++)
                if (streq(s, machine_table[i]))
                        return (Machine) i;
        return _MACHINE_INVALID;
}

static int entry_compare(const void *a, const void *b) {
        const Entry *x = a, *y = b;
        uint64_t kx = pci_address_key(&x->rf->address), ky = pci_address_key(&y->rf->address);

        return kx < ky ? -1 : kx > ky;
}

static const char *entry_name(const Entry *e, char buf[static PCI_ADDRESS_STRLEN]) {
        return pci_address_format(&e->rf->address, buf);
}

static bool entry_placed(const Entry *e) {
        return e->rf->assigned;
}

/* Functions of one host device: same domain:bus:device, except that an
 * SR-IOV VF is always a device of its own (VFs share slot numbers with
 * their PF and each other only through routing-ID arithmetic; they are not
 * functions of a multifunction device). */
static bool entry_same_device(const Entry *a, const Entry *b) {
        if (!pci_address_same_slot(&a->rf->address, &b->rf->address))
                return false;
        return !(a->dev && a->dev->is_vf) && !(b->dev && b->dev->is_vf);
}

static bool in_slot(const Plan *p, size_t j, const Entry *e) {
        return pci_address_same_slot(&p->entries[j].rf->address, &e->rf->address);
}

/* Whether entry i is the first placed function of its host device in its
 * unit. */
static bool entry_starts_device(const Plan *p, size_t i) {
        const Entry *e = &p->entries[i];

        for (size_t j = i; j-- > 0 && in_slot(p, j, e); )
                if (p->entries[j].device == e->device && p->entries[j].unit == e->unit &&
                    entry_placed(&p->entries[j]))
                        return false;
        return true;
}

static int plan_build(Plan *p, const Topology *t, const Reservation *r) {
        size_t n = 0;

        if (r->n_functions > 0) {
                p->entries = calloc(r->n_functions, sizeof(Entry));
                p->units = calloc(r->n_functions, sizeof(Unit));
                if (!p->entries || !p->units)
                        return -ENOMEM;
        }

        for (size_t i = 0; i < r->n_functions; i++) {
                Entry *e = &p->entries[i];

                e->rf = &r->functions[i];
                e->dev = t ? topology_find(t, &e->rf->address) : NULL;
                e->group = e->dev && e->dev->iommu_group >= 0 ? e->dev->iommu_group : -1;
        }
        if (r->n_functions > 1)
                qsort(p->entries, r->n_functions, sizeof(Entry), entry_compare);

        /* A reservation never lists a function twice; be safe anyway. */
        for (size_t i = 0; i < r->n_functions; i++) {
                if (n > 0 && pci_address_equal(&p->entries[n - 1].rf->address, &p->entries[i].rf->address))
                        continue;
                p->entries[n++] = p->entries[i];
        }
        p->n_entries = n;

        for (size_t i = 0; i < p->n_entries; i++) {
                Entry *e = &p->entries[i];
                size_t u = p->n_units;

                /* entries are sorted, so the functions of one slot are
                 * contiguous */
                e->device = i;
                for (size_t j = i; j-- > 0 && pci_address_same_slot(&p->entries[j].rf->address, &e->rf->address); )
                        if (entry_same_device(&p->entries[j], e)) {
                                e->device = p->entries[j].device;
                                break;
                        }

                if (e->group >= 0)
                        for (u = 0; u < p->n_units; u++)
                                if (p->units[u].group == e->group)
                                        break;
                if (u == p->n_units)
                        p->units[p->n_units++] = (Unit) {
                                .group = e->group,
                                .numa_node = -1,
                        };
                e->unit = u;
        }

        return 0;
}

/* Guest slots and functions of the assigned functions of one unit; see the
 * rules at the top. */
static void plan_layout_unit(Plan *p, size_t u) {
        Unit *unit = &p->units[u];
        unsigned slot;
        bool first = true;

        for (size_t i = 0; i < p->n_entries; i++) {
                const Entry *e = &p->entries[i];
                int node;

                if (e->unit != u || !entry_placed(e))
                        continue;
                node = e->dev ? e->dev->numa_node : -1;
                if (first)
                        unit->numa_node = node;
                else if (node != unit->numa_node)
                        unit->numa_mixed = true;
                first = false;
        }
        if (unit->numa_mixed)
                unit->numa_node = -1;

        if (p->machine == MACHINE_PSERIES || unit->n_devices > 1)
                slot = BUS_FIRST_SLOT;
        else
                slot = 0;

        for (size_t i = 0; i < p->n_entries; i++) {
                const Entry *head = &p->entries[i];
                size_t count = 0;
                bool has_function0;

                if (head->unit != u || !entry_placed(head) || !entry_starts_device(p, i))
                        continue;

                /* this unit's assigned functions of this host device: all
                 * further on, within the same slot */
                for (size_t j = i; j < p->n_entries && in_slot(p, j, head); j++)
                        if (p->entries[j].device == head->device && p->entries[j].unit == u &&
                            entry_placed(&p->entries[j]))
                                count++;

                has_function0 = head->rf->address.function == 0;
                for (size_t j = i; j < p->n_entries && in_slot(p, j, head); j++) {
                        Entry *e = &p->entries[j];

                        if (e->device != head->device || e->unit != u || !entry_placed(e))
                                continue;
                        e->guest_slot = slot;
                        e->guest_function = has_function0 || e != head ? e->rf->address.function : 0;
                        e->multifunction = count > 1;
                }
                slot++;
        }
}

static void plan_layout(Plan *p) {
        unsigned index = p->machine == MACHINE_PSERIES ? PSERIES_FIRST_PHB : 0;

        for (size_t i = 0; i < p->n_entries; i++) {
                const Entry *e = &p->entries[i];
                Unit *unit = &p->units[e->unit];

                if (!entry_placed(e))
                        continue;
                if (entry_starts_device(p, i))
                        unit->n_devices++;
                unit->n_assigned++;
        }

        for (size_t u = 0; u < p->n_units; u++) {
                if (p->units[u].n_assigned == 0)
                        continue;
                p->units[u].index = index++;
                p->n_placed++;
                plan_layout_unit(p, u);
        }
}

/* JSON helpers (json-util.h): every allocation is checked, so a failure
 * is -ENOMEM and never a silently missing member. */

static int json_add_int(json_object *o, const char *key, int64_t v) {
        return json_add(o, key, json_object_new_int64(v));
}

static int json_add_bool(json_object *o, const char *key, bool v) {
        return json_add(o, key, json_object_new_boolean(v));
}

static int json_add_string(json_object *o, const char *key, const char *v) {
        return json_add(o, key, json_object_new_string(v));
}

static int note_add(json_object *notes, const char *fmt, ...) _printf_(2, 3);
static int note_add(json_object *notes, const char *fmt, ...) {
        char *s;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        k = json_array_add_take(notes, json_object_new_string(s));
        free(s);
        return k;
}

static const char *container_name(Machine m) {
        return m == MACHINE_PSERIES ? "PHB" : "root port";
}

static int unit_notes(const Plan *p, size_t u, json_object *notes) {
        const Unit *unit = &p->units[u];
        char buf[PCI_ADDRESS_STRLEN];
        int r;

        for (size_t i = 0; i < p->n_entries; i++) {
                const Entry *e = &p->entries[i];

                if (e->unit != u || !entry_placed(e))
                        continue;

                if (!e->dev) {
                        r = note_add(notes, "%s is not present on the host: placed by its address alone, "
                                     "without its IOMMU group.", entry_name(e, buf));
                        if (r < 0)
                                return r;
                } else if (e->group < 0) {
                        r = note_add(notes, "%s has no IOMMU group: VFIO cannot assign it.", entry_name(e, buf));
                        if (r < 0)
                                return r;
                }

                if (e->guest_function != e->rf->address.function && !(e->dev && e->dev->is_vf)) {
                        r = note_add(notes, "%s is guest function %u: function 0 of its host device is not "
                                     "given to the guest in this %s, and a guest finds a device only "
                                     "through its function 0.",
                                     entry_name(e, buf), e->guest_function, container_name(p->machine));
                        if (r < 0)
                                return r;
                }

                if (p->machine != MACHINE_PSERIES && unit->n_devices > 1 &&
                    e->dev && e->dev->config_valid && e->dev->config.pcie) {
                        r = note_add(notes, "%s is a PCI Express device behind the pcie-pci-bridge of root "
                                     "port %u: the guest sees it as conventional PCI (no extended "
                                     "configuration space).", entry_name(e, buf), unit->index);
                        if (r < 0)
                                return r;
                }
        }

        if (unit->n_devices > BUS_MAX_SLOT - BUS_FIRST_SLOT + 1) {
                r = note_add(notes, "IOMMU group %d has %zu devices, more than the %d slots of one guest bus.",
                             unit->group, unit->n_devices, BUS_MAX_SLOT - BUS_FIRST_SLOT + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Host devices whose assigned functions ended up in several units: they
 * cannot share a guest slot. */
static int split_device_notes(const Plan *p, json_object *notes) {
        for (size_t i = 0; i < p->n_entries; i++) {
                _cleanup_free_ char *list = NULL;
                size_t first_unit = SIZE_MAX;
                bool split = false;

                if (p->entries[i].device != i)
                        continue;

                for (size_t j = i; j < p->n_entries && in_slot(p, j, &p->entries[i]); j++) {
                        const Entry *e = &p->entries[j];

                        if (e->device != i || !entry_placed(e))
                                continue;
                        if (first_unit == SIZE_MAX)
                                first_unit = e->unit;
                        else if (e->unit != first_unit)
                                split = true;
                }
                if (!split)
                        continue;

                for (size_t j = i; j < p->n_entries && in_slot(p, j, &p->entries[i]); j++) {
                        const Entry *e = &p->entries[j];
                        char buf[PCI_ADDRESS_STRLEN], *s;

                        if (e->device != i || !entry_placed(e))
                                continue;
                        if (asprintf(&s, "%s%s%s (IOMMU group %d)", strempty(list), list ? ", " : "",
                                     entry_name(e, buf), e->group) < 0)
                                return -ENOMEM;
                        free(list);
                        list = s;
                }
                if (note_add(notes, "%s are functions of one host device but not in one IOMMU group: "
                             "each gets its own %s, so they cannot share a guest slot and the "
                             "guest sees them as separate devices.",
                             list, container_name(p->machine)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static json_object *function_to_json(const Plan *p, const Entry *e) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        char buf[PCI_ADDRESS_STRLEN];

        o = json_object_new_object();
        if (!o)
                return NULL;
        if (json_add_string(o, "host", entry_name(e, buf)) < 0 ||
            json_add_int(o, "guest_slot", e->guest_slot) < 0 ||
            json_add_int(o, "guest_function", e->guest_function) < 0 ||
            json_add_bool(o, "multifunction", e->multifunction) < 0 ||
            (p->machine == MACHINE_PSERIES && json_add_bool(o, "assigned", true) < 0) ||
            json_add_bool(o, "present", e->dev != NULL) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_object *unit_to_json(const Plan *p, size_t u) {
        _cleanup_(json_object_putp) json_object *o = NULL, *fns = NULL;
        const Unit *unit = &p->units[u];

        o = json_object_new_object();
        fns = json_object_new_array();
        if (!o || !fns)
                return NULL;

        for (size_t i = 0; i < p->n_entries; i++)
                if (p->entries[i].unit == u && entry_placed(&p->entries[i]) &&
                    json_array_add_take(fns, function_to_json(p, &p->entries[i])) < 0)
                        return NULL;

        if (json_add_int(o, "index", unit->index) < 0 ||
            json_add_int(o, "host_group", unit->group) < 0 ||
            json_add_int(o, "numa_node", unit->numa_node) < 0 ||
            json_add_bool(o, "numa_mixed", unit->numa_mixed) < 0 ||
            (p->machine != MACHINE_PSERIES &&
             json_add_bool(o, "pcie_pci_bridge", unit->n_devices > 1) < 0) ||
            json_add(o, "functions", TAKE_PTR(fns)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static unsigned pseries_spare_phbs(size_t n_phbs) {
        size_t room = PSERIES_MAX_PHBS - PSERIES_FIRST_PHB, spare;

        spare = n_phbs > PSERIES_MIN_SPARE_PHBS ? n_phbs : PSERIES_MIN_SPARE_PHBS;
        if (n_phbs >= room)
                return 0;
        return (unsigned) (spare < room - n_phbs ? spare : room - n_phbs);
}

static int plan_to_json(const Plan *p, const Reservation *r, json_object **ret) {
        _cleanup_(json_object_putp) json_object *root = NULL, *list = NULL, *unassigned = NULL, *notes = NULL;
        char buf[PCI_ADDRESS_STRLEN];
        int k;

        root = json_object_new_object();
        list = json_object_new_array();
        unassigned = json_object_new_array();
        notes = json_object_new_array();
        if (!root || !list || !unassigned || !notes)
                return -ENOMEM;

        for (size_t u = 0; u < p->n_units; u++) {
                if (p->units[u].n_assigned == 0)
                        continue;
                k = json_array_add_take(list, unit_to_json(p, u));
                if (k < 0)
                        return k;
                k = unit_notes(p, u, notes);
                if (k < 0)
                        return k;
        }
        k = split_device_notes(p, notes);
        if (k < 0)
                return k;

        for (size_t i = 0; i < p->n_entries; i++)
                if (!p->entries[i].rf->assigned) {
                        k = json_array_add_take(unassigned, json_object_new_string(entry_name(&p->entries[i], buf)));
                        if (k < 0)
                                return k;
                }

        if (p->machine == MACHINE_PSERIES && p->n_placed > PSERIES_MAX_PHBS - PSERIES_FIRST_PHB) {
                k = note_add(notes, "%zu PHBs are needed but QEMU's pseries machine has %d, and index 0 is "
                             "the default PHB.", p->n_placed, PSERIES_MAX_PHBS);
                if (k < 0)
                        return k;
        }

        k = json_add_string(root, "machine", machine_table[p->machine]);
        if (k >= 0)
                k = json_add_string(root, "reservation", r->id);
        if (k >= 0)
                k = json_add(root, p->machine == MACHINE_PSERIES ? "phbs" : "root_ports", TAKE_PTR(list));
        if (k >= 0 && p->machine == MACHINE_PSERIES)
                k = json_add_int(root, "spare_phbs", pseries_spare_phbs(p->n_placed));
        if (k >= 0)
                k = json_add(root, "unassigned", TAKE_PTR(unassigned));
        if (k >= 0)
                k = json_add(root, "notes", TAKE_PTR(notes));
        if (k < 0)
                return k;

        *ret = TAKE_PTR(root);
        return 0;
}

int placement_suggest(const Topology *t, const Reservation *r, const char *machine, char **ret_json) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(plan_done) Plan p = {};
        const char *s;
        char *text;
        int k;

        if (!r || !ret_json)
                return -EINVAL;
        p.machine = machine_from_string(machine);
        if (p.machine < 0)
                return -EINVAL;

        k = plan_build(&p, t, r);
        if (k < 0)
                return k;
        plan_layout(&p);
        k = plan_to_json(&p, r, &root);
        if (k < 0)
                return k;

        s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        text = strdup(s);
        if (!text)
                return -ENOMEM;
        *ret_json = text;
        return 0;
}
