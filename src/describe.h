/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "topology.h"

/* JSON views of the model, shared by the daemon's Describe() and tests.
 * Key names are documented in org.pciassign1(5). */
json_object *describe_device(const PciDevice *d);
json_object *describe_group(const IommuGroup *g);
