/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pci-device.h"

/* The host's PCI functions and IOMMU groups, indexed for lookups by
 * address and group number.  Devices are kept in a sorted array (4096
 * functions are 32 KiB of pointers; binary search beats hashing at this
 * size and keeps iteration ordered for free). */

typedef struct IommuGroup {
        unsigned id;
        PciDevice **members;          /* sorted by address */
        size_t n_members, n_alloc;
} IommuGroup;

typedef struct Topology {
        PciDevice **devices;          /* sorted by address */
        size_t n_devices, n_alloc;
        IommuGroup **groups;          /* sorted by id */
        size_t n_groups, n_groups_alloc;
        /* Changes whenever a function is added or removed, to a value no
         * topology of the process had before: what was computed from the
         * topology (verdicts) is stale when it differs. */
        uint64_t generation;
} Topology;

Topology *topology_new(void);
Topology *topology_free(Topology *t);
static inline void topology_freep(Topology **t) {
        topology_free(*t);
}
#define _cleanup_topology_ __attribute__((cleanup(topology_freep)))

/* Takes ownership of d.  If a function with the same address exists it is
 * replaced and handed back through ret_old (the caller frees it); else
 * *ret_old is NULL.  Group membership follows d->iommu_group. */
int topology_add(Topology *t, PciDevice *d, PciDevice **ret_old);

/* Removes the function and returns it (the caller frees it), or NULL. */
PciDevice *topology_take(Topology *t, const PciAddress *a);

PciDevice *topology_find(const Topology *t, const PciAddress *a);
/* d's position in t->devices, or -ENOENT if d (this very object) is not in t. */
ssize_t topology_index(const Topology *t, const PciDevice *d);
IommuGroup *topology_find_group(const Topology *t, unsigned id);

/* vfio-pci itself or a vfio variant driver (mlx5_vfio_pci, ...). */
bool pci_driver_is_vfio(const char *driver);

/* What the kernel needs to let a group be opened: every member is bound to
 * a vfio driver, pci-stub, pcieport (ports and bridges) or no driver. */
bool topology_member_viable(const PciDevice *d);
bool topology_group_viable(const IommuGroup *g);

/* Whether any function of the host has an IOMMU group. */
static inline bool topology_has_iommu(const Topology *t) {
        return t->n_groups > 0;
}

/* Functions a secondary bus reset at d's parent bridge would hit: every
 * function of the bridge's domain whose bus lies in its [secondary,
 * subordinate] range, nested bridges and what is behind them included (or,
 * when the bridge's config space is unknown or does not cover d's bus,
 * every function whose sysfs parent chain reaches the bridge), excluding
 * d.  Root-bus functions have no parent bridge: empty.  *ret is a malloc'd
 * array of pointers into the topology, sorted by address, NULL when empty. */
int topology_bus_reset_scope(const Topology *t, const PciDevice *d, PciDevice ***ret, size_t *ret_n);

/* Members of d's IOMMU group that must be detached with it: every member
 * except d itself, bridges/ports (which stay on their drivers) and host
 * bridges.  Sorted by address; *ret is NULL when empty (also when d has no
 * group). */
int topology_group_peers(const Topology *t, const PciDevice *d, PciDevice ***ret, size_t *ret_n);
