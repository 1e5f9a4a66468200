/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "topology.h"

/* Generations are unique in the process, not per topology: a new
 * topology allocated where an old one was never looks like it. */
static uint64_t last_generation;

Topology *topology_new(void) {
        Topology *t = calloc(1, sizeof(Topology));

        if (t)
                t->generation = ++last_generation;
        return t;
}

static IommuGroup *group_free(IommuGroup *g) {
        if (!g)
                return NULL;
        free(g->members);
        free(g);
        return NULL;
}

Topology *topology_free(Topology *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_devices; i++)
                pci_device_free(t->devices[i]);
        free(t->devices);
        for (size_t i = 0; i < t->n_groups; i++)
                group_free(t->groups[i]);
        free(t->groups);
        free(t);
        return NULL;
}

/* Index of the first element >= key, in [0, n]. */
static size_t lower_bound_dev(PciDevice * const *v, size_t n, uint64_t key) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pci_address_key(&v[mid]->address) < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static size_t lower_bound_group(IommuGroup * const *v, size_t n, unsigned id) {
        size_t lo = 0, hi = n;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (v[mid]->id < id)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Doubling from `first`: the device array starts big, a group's member
 * array small (most groups have one or a few members, and a host has
 * thousands of groups). */
PciDevice *topology_find(const Topology *t, const PciAddress *a) {
        uint64_t key = pci_address_key(a);
        size_t i = lower_bound_dev(t->devices, t->n_devices, key);
        if (i < t->n_devices && pci_address_key(&t->devices[i]->address) == key)
                return t->devices[i];
        return NULL;
}

ssize_t topology_index(const Topology *t, const PciDevice *d) {
        size_t i = lower_bound_dev(t->devices, t->n_devices, pci_address_key(&d->address));

        return i < t->n_devices && t->devices[i] == d ? (ssize_t) i : -ENOENT;
}

IommuGroup *topology_find_group(const Topology *t, unsigned id) {
        size_t i = lower_bound_group(t->groups, t->n_groups, id);
        if (i < t->n_groups && t->groups[i]->id == id)
                return t->groups[i];
        return NULL;
}

static int group_add_member(Topology *t, PciDevice *d) {
        IommuGroup *g;
        size_t i;
        int r;

        if (d->iommu_group < 0)
                return 0;
        i = lower_bound_group(t->groups, t->n_groups, (unsigned) d->iommu_group);
        if (i < t->n_groups && t->groups[i]->id == (unsigned) d->iommu_group)
                g = t->groups[i];
        else {
                r = GREEDY_REALLOC(t->groups, t->n_groups_alloc, t->n_groups + 1);
                if (r < 0)
                        return r;
                g = calloc(1, sizeof(*g));
                if (!g)
                        return -ENOMEM;
                g->id = (unsigned) d->iommu_group;
                memmove(t->groups + i + 1, t->groups + i, (t->n_groups - i) * sizeof(IommuGroup *));
                t->groups[i] = g;
                t->n_groups++;
        }
        r = GREEDY_REALLOC(g->members, g->n_alloc, g->n_members + 1);
        if (r < 0)
                return r;
        i = lower_bound_dev(g->members, g->n_members, pci_address_key(&d->address));
        memmove(g->members + i + 1, g->members + i, (g->n_members - i) * sizeof(PciDevice *));
        g->members[i] = d;
        g->n_members++;
        return 0;
}

static void group_remove_member(Topology *t, PciDevice *d) {
        IommuGroup *g;
        size_t gi;

        if (d->iommu_group < 0)
                return;
        gi = lower_bound_group(t->groups, t->n_groups, (unsigned) d->iommu_group);
        if (gi >= t->n_groups || t->groups[gi]->id != (unsigned) d->iommu_group)
                return;
        g = t->groups[gi];
        for (size_t i = 0; i < g->n_members; i++)
                if (g->members[i] == d) {
                        memmove(g->members + i, g->members + i + 1, (g->n_members - i - 1) * sizeof(PciDevice *));
                        g->n_members--;
                        break;
                }
        if (g->n_members == 0) {
                group_free(g);
                memmove(t->groups + gi, t->groups + gi + 1, (t->n_groups - gi - 1) * sizeof(IommuGroup *));
                t->n_groups--;
        }
}

int topology_add(Topology *t, PciDevice *d, PciDevice **ret_old) {
        uint64_t key = pci_address_key(&d->address);
        size_t i;
        int r;

        *ret_old = NULL;
        i = lower_bound_dev(t->devices, t->n_devices, key);
        if (i < t->n_devices && pci_address_key(&t->devices[i]->address) == key) {
                PciDevice *old = t->devices[i];

                group_remove_member(t, old);
                t->devices[i] = d;
                r = group_add_member(t, d);
                if (r < 0) {
                        /* put the old one back so nothing is lost */
                        t->devices[i] = old;
                        (void) group_add_member(t, old);
                        return r;
                }
                *ret_old = old;
                t->generation = ++last_generation;
                return 0;
        }

        r = GREEDY_REALLOC(t->devices, t->n_alloc, t->n_devices + 1);
        if (r < 0)
                return r;
        r = group_add_member(t, d);
        if (r < 0)
                return r;
        memmove(t->devices + i + 1, t->devices + i, (t->n_devices - i) * sizeof(PciDevice *));
        t->devices[i] = d;
        t->n_devices++;
        t->generation = ++last_generation;
        return 0;
}

PciDevice *topology_take(Topology *t, const PciAddress *a) {
        uint64_t key = pci_address_key(a);
        size_t i = lower_bound_dev(t->devices, t->n_devices, key);
        PciDevice *d;

        if (i >= t->n_devices || pci_address_key(&t->devices[i]->address) != key)
                return NULL;
        d = t->devices[i];
        group_remove_member(t, d);
        memmove(t->devices + i, t->devices + i + 1, (t->n_devices - i - 1) * sizeof(PciDevice *));
        t->n_devices--;
        t->generation = ++last_generation;
        return d;
}

bool pci_driver_is_vfio(const char *driver) {
        return driver && (streq(driver, "vfio-pci") || strstr(driver, "vfio"));
}

bool topology_member_viable(const PciDevice *d) {
        /* Since Linux 5.19 a group is viable when no member's driver owns
         * the DMA API: drivers that set driver_managed_dma (vfio-pci and
         * its variants, pci-stub, pcieport) or no driver at all.  A bridge
         * bound to e.g. shpchp makes the group unusable. */
        if (!d->driver)
                return true;
        return pci_driver_is_vfio(d->driver) || streq(d->driver, "pci-stub") ||
                streq(d->driver, "pcieport");
}

bool topology_group_viable(const IommuGroup *g) {
        for (size_t i = 0; i < g->n_members; i++)
                if (!topology_member_viable(g->members[i]))
                        return false;
        return true;
}

/* ---- queries: bus-reset scope, group peers ---- */

/* A parent chain longer than the number of buses in a domain means the
 * model is inconsistent (a loop); stop walking rather than spin. */
#define MAX_PARENT_HOPS 256


/* Whether f sits anywhere below the bridge at address p in the sysfs
 * hierarchy. */
static bool device_below(const Topology *t, const PciDevice *f, const PciAddress *p) {
        for (unsigned hops = 0; f && f->has_parent && hops < MAX_PARENT_HOPS; hops++) {
                if (pci_address_equal(&f->parent, p))
                        return true;
                f = topology_find(t, &f->parent);
        }
        return false;
}

int topology_bus_reset_scope(const Topology *t, const PciDevice *d, PciDevice ***ret, size_t *ret_n) {
        _cleanup_free_ PciDevice **v = NULL;
        const PciDevice *p;
        size_t n = 0;

        if (!t || !d || !ret || !ret_n)
                return -EINVAL;

        if (!d->has_parent || t->n_devices == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }

        /* A secondary bus reset asserts reset on the bridge's secondary
         * interface, which propagates to every bus below it: the bus number
         * range [secondary, subordinate] of the bridge is exactly what is
         * hit.  Trust it only when config space was read and is consistent
         * with d's own bus; otherwise fall back to the sysfs hierarchy,
         * which describes the same tree. */
        p = topology_find(t, &d->parent);
        if (p && p->config_valid && p->config.bridge &&
            p->config.secondary_bus != 0 &&
            p->config.secondary_bus <= p->config.subordinate_bus &&
            d->address.bus >= p->config.secondary_bus &&
            d->address.bus <= p->config.subordinate_bus) {
                PciAddress first = {
                        .domain = p->address.domain,
                        .bus = p->config.secondary_bus,
                };
                PciAddress last = {
                        .domain = p->address.domain,
                        .bus = p->config.subordinate_bus,
                        .device = 0x1f,
                        .function = 7,
                };
                size_t lo, hi;

                /* devices are sorted by address: the range is contiguous */
                lo = lower_bound_dev(t->devices, t->n_devices, pci_address_key(&first));
                hi = lower_bound_dev(t->devices, t->n_devices, pci_address_key(&last) + 1);
                if (hi > lo) {
                        v = malloc((hi - lo) * sizeof(PciDevice *));
                        if (!v)
                                return -ENOMEM;
                }
                for (size_t i = lo; i < hi; i++)
                        if (!pci_address_equal(&t->devices[i]->address, &d->address))
                                v[n++] = t->devices[i];
        } else {
                v = calloc(t->n_devices, sizeof(PciDevice *));
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < t->n_devices; i++) {
                        PciDevice *f = t->devices[i];

                        if (!pci_address_equal(&f->address, &d->address) &&
                            device_below(t, f, &d->parent))
                                v[n++] = f;
                }
        }

        if (n == 0) {
                free(v);
                v = NULL;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int topology_group_peers(const Topology *t, const PciDevice *d, PciDevice ***ret, size_t *ret_n) {
        _cleanup_free_ PciDevice **v = NULL;
        const IommuGroup *g = NULL;
        size_t n = 0;

        if (!t || !d || !ret || !ret_n)
                return -EINVAL;

        if (d->iommu_group >= 0)
                g = topology_find_group(t, (unsigned) d->iommu_group);
        if (g && g->n_members > 0) {
                v = calloc(g->n_members, sizeof(PciDevice *));
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < g->n_members; i++) {
                        PciDevice *m = g->members[i];

                        /* bridges and ports stay on their drivers; the
                         * kernel accepts them in a group opened by vfio */
                        if (pci_address_equal(&m->address, &d->address) ||
                            pci_device_is_bridge(m) || pci_device_is_host_bridge(m))
                                continue;
                        v[n++] = m;
                }
        }

        if (n == 0) {
                free(v);
                v = NULL;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}
