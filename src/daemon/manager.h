/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "topology.h"

struct udev;
struct udev_hwdb;

/* The daemon's state: the model of the host and the connections that feed
 * and export it.  D-Bus objects (src/dbus/) read it; only the manager
 * changes it. */
typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        struct udev *udev;
        struct udev_hwdb *hwdb;

        Topology *topology;

        bool read_only;
        char *state_dir;
        char *runtime_dir;
} Manager;

typedef struct ManagerOptions {
        bool read_only;
} ManagerOptions;

int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Reads the host (udev enumeration of "pci"), connects to the system bus,
 * exports every object and only then takes the bus name. */
int manager_startup(Manager *m);

/* Enumerates every PCI function into a fresh topology. */
int manager_enumerate(Manager *m);

/* A status line for sd_notify STATUS= */
void manager_status(Manager *m, char *buf, size_t size);
