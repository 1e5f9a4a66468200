/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "reservation.h"
#include "topology.h"

/* A suggestion of how a VMM should lay a reservation's functions out in
 * the guest, as JSON text (malloc'd):
 *  - "pseries": one guest PHB per host IOMMU group (a group never spans two
 *    PHBs), each tagged with the host NUMA node of its functions, plus
 *    spare empty PHBs for hotplug;
 *  - "q35" / "virt": one root port per group; functions of one multifunction
 *    device stay functions of one guest slot; assigned=false members are
 *    left out.
 * Returns -EINVAL for an unknown machine type. */
int placement_suggest(const Topology *t, const Reservation *r, const char *machine, char **ret_json);
