/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "reservation.h"
#include "topology.h"
#include "verdict.h"

/* JSON views of the model, shared by the daemon's Describe() and tests.
 * Key names are documented in org.pciassign1(5). */
json_object *describe_device(const PciDevice *d);
json_object *describe_group(const IommuGroup *g);

/* What Describe adds to a device's view from the daemon's state: presence,
 * the host driver (manager_host_driver()), its reservation (NULL: none),
 * assigned, and the verdict with its reasons (v NULL: left out). */
void describe_device_state(json_object *o, bool present, const char *host_driver, const char *reservation_id,
                           bool assigned, const Verdict *v);
/* Adoption (HostDriverAdopted, HostDriverOverride): host_driver_adopted,
 * host_driver_override ("" if unset or not adopted). */
void describe_device_adoption(json_object *o, bool adopted, const char *override);
json_object *describe_reservation(const Reservation *r);
/* The top level: version, iommu_present, read_only; the caller adds
 * "devices", "groups" and "reservations". */
json_object *describe_root(const char *version, bool iommu_present, bool read_only);
/* Describe's text (malloc'd), NULL on ENOMEM */
char *describe_to_string(json_object *root);
