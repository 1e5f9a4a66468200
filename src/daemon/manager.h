/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "host-usage.h"
#include "reservation.h"
#include "topology.h"
#include "verdict.h"

struct udev;
typedef struct PolkitRegistry PolkitRegistry;
typedef struct VerdictCache VerdictCache;

/* A reservation as the daemon holds it: the data (stored) plus what only
 * lives while the daemon runs. */
typedef struct ManagedReservation {
        Reservation *data;
        sd_bus_track *track;       /* transient: the owning connection */
        struct Manager *manager;
} ManagedReservation;

/* The daemon's state: the model of the host and the connections that feed
 * and export it.  D-Bus objects (src/dbus/) read it; only the manager
 * changes it. */
typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        struct udev *udev;

        Topology *topology;
        /* Placeholders for reserved functions that are not present now:
         * they stay exported with Present=false. */
        Topology *missing;

        ManagedReservation **reservations;
        size_t n_reservations;
        uint64_t next_id;

        /* Verdicts for owner "", computed when first asked for after a
         * change: see manager_device_verdict_kind() */
        uint64_t verdict_generation;
        VerdictCache *verdicts;

        HostUsage host_usage;
        HostUsagePaths host_usage_paths;
        sd_event_source *mountinfo_source, *swaps_source, *route_source;

        PolkitRegistry *polkit_registry;

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

/* Reservations (manager-reservations.c) */
int manager_load_reservations(Manager *m);
int manager_save_reservations(Manager *m);
ManagedReservation *manager_find_reservation(Manager *m, const char *id);
/* The reservation holding a function, and its entry, or NULL. */
ManagedReservation *manager_reservation_of(Manager *m, const PciAddress *a, ReservationFunction **ret_f);

typedef struct ReserveRequest {
        const char *owner;
        uid_t owner_uid;
        PciAddress *addresses;
        bool *assigned;
        size_t n;
        bool persistent;
        bool complete_group;
        const char *driver;
        sd_bus_message *message;   /* for transient tracking of the sender */
} ReserveRequest;

/* Checks the request against the model and creates the reservation (stored
 * before it becomes visible).  On a refusal sets `error` with the API's
 * error name and returns a negative errno. */
int manager_reserve(Manager *m, const ReserveRequest *req, ManagedReservation **ret, sd_bus_error *error);
int manager_release(Manager *m, ManagedReservation *r, sd_bus_error *error);

/* Verdicts as the API defines them (owner "" for Device.Verdict). */
int manager_verdict(Manager *m, const PciAddress *a, const char *owner, Verdict *ret);

/* The verdict kind for owner "" of a present or missing function
 * (Device.Verdict, ListDevices), computed once per state of the host.
 * Returns 0, -ENOENT if d is in neither topology, or -ENOMEM. */
int manager_device_verdict_kind(Manager *m, const PciDevice *d, VerdictKind *ret);
/* The whole verdict for owner "" (Device.Reasons), computed now; it
 * refreshes the cached kind.  Free it with verdict_done(). */
int manager_device_verdict(Manager *m, const PciDevice *d, Verdict *ret);

/* Call whenever something a verdict depends on changes other than by
 * adding or removing functions (which the topology's generation shows by
 * itself): a function's fields in place (driver, override, ...), the
 * reservations, the host usage.  Cheap: the cache is refilled lazily. */
void manager_invalidate_verdicts(Manager *m);

/* Host usage (manager-host-usage.c): computed at start, recomputed when
 * mounts, swaps or routes change. */
int manager_host_usage_start(Manager *m);
int manager_host_usage_refresh(Manager *m);

void manager_free_reservations(Manager *m);
void manager_sync_missing(Manager *m);

/* Looks a function up among present and missing ones. */
PciDevice *manager_find_device(Manager *m, const PciAddress *a);

/* A status line for sd_notify STATUS= */
void manager_status(Manager *m, char *buf, size_t size);
