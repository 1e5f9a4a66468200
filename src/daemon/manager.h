/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "detached-store.h"
#include "host-usage.h"
#include "op-journal.h"
#include "reservation-state.h"
#include "reservation.h"
#include "sysfs-ops.h"
#include "topology.h"
#include "verdict.h"

struct udev;
typedef struct PolkitRegistry PolkitRegistry;
typedef struct VerdictCache VerdictCache;
typedef struct JobQueue JobQueue;
typedef struct RebindJob RebindJob;

/* A reservation as the daemon holds it: the data (stored) plus what only
 * lives while the daemon runs. */
typedef struct ManagedReservation {
        Reservation *data;
        sd_bus_track *track;       /* transient: the owning connection */
        struct Manager *manager;
        unsigned jobs;             /* rebind jobs queued or running for it */
        bool orphan;               /* transient, owner gone with an earlier
                                    * daemon: given back and dropped after
                                    * READY (manager_startup_finish()) */
        bool missing_at_start;     /* a function was not as reserved at start:
                                    * a Conflict once the name is taken */
        bool reapplying;           /* prepared, its functions being bound again
                                    * at start (manager_reapply_done()) */
        unsigned n_reapplied;      /* functions bound again so far */
        bool trouble_during_job;   /* function-gone/host-driver-took while a
                                    * job ran: judged again when it ends */
        /* host drivers taking its functions back (manager-udev.c): after
         * TAKEOVER_MAX within TAKEOVER_WINDOW_USEC the daemon stops
         * binding them back; Prepare starts counting again */
        uint64_t takeover_window_start_usec;
        unsigned takeovers;
} ManagedReservation;

#define TAKEOVER_MAX 3
#define TAKEOVER_WINDOW_USEC (60ULL * 1000000ULL)

/* The daemon's state: the model of the host and the connections that feed
 * and export it.  D-Bus objects (the *-dbus.c files) read it; only the
 * manager changes it. */
typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        char bus_id[33];           /* sd_bus_get_bus_id(), 32 hex digits */
        sd_event_source *startup_finish;
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
        /* Why what the host depends on is not fully known (a source could
         * not be read, a stack not followed), or NULL: while set, no
         * function is assignable (host-usage-unknown). */
        char *host_usage_unknown;
        sd_event_source *mountinfo_source, *swaps_source, *route_source;

        PolkitRegistry *polkit_registry;

        /* Every rebind and reset on the host goes through this one queue
         * (manager-rebind.c); NULL when read-only. */
        JobQueue *jobs;
        RebindJob **rebind_jobs;   /* submitted, not done yet, in order */
        size_t n_rebind_jobs;
        uint64_t job_timeout_usec;
        SysfsContext sysfs;
        char *dev_root;            /* "/dev" */

        DetachedFunction *detached;   /* Manager.Detach (detached-store.h) */
        size_t n_detached;
        /* Detach, Reattach and takeover rebinds running (op-journal.h,
         * manager-operations.c) */
        OpJournal operations;
        char boot_id[BOOT_ID_STRLEN];  /* this boot's, "" unknown */
        /* the boot the daemon last started in ($STATE_DIRECTORY/last-boot)
         * was another: what a journal says was undone by the reboot */
        bool rebooted;
        /* start-up: reservations whose functions are being bound again
         * through the job queue; the bus name is taken when none is left */
        unsigned startup_reapplies;
        bool name_requested;

        /* udev (manager-udev.c) */
        struct udev_monitor *monitor;
        sd_event_source *udev_source;
        unsigned udev_overruns;    /* ENOBUFS seen (each one a full re-read) */
        /* debug builds: PCI_ASSIGND_TEST_UDEV_OVERRUN=N, the Nth event
         * received is dropped and reported as an overrun (ENOBUFS) */
        unsigned test_overrun_at, test_events_seen;
        sd_event_source *drain_source;   /* back-pressure, see maybe_pause() */
        /* functions whose properties changed in this iteration: one
         * PropertiesChanged each, from flush_source */
        PciAddress *dirty;
        size_t n_dirty, n_dirty_alloc;
        sd_event_source *flush_source;

        /* sd_notify STATUS= after READY (manager-status.c) */
        sd_event_source *status_source;
        char status_sent[256];

        /* debug builds: PCI_ASSIGND_TEST_CRASH=prepare:K|unprepare:K */
        int test_crash_operation;  /* JournalOperation, -1: none */
        uint32_t test_crash_step;

        bool read_only;
        char *state_dir;
        char *runtime_dir;
        char *sysfs_root;          /* where rebinds write: "/sys" */
} Manager;

typedef struct ManagerOptions {
        bool read_only;
        uint64_t job_timeout_usec;
        /* NULL: "/sys" and "/dev".  Others only for the fuzzer
         * (fuzz/fuzz-dbus.c), which binds in a tree of its own. */
        const char *sysfs_root;
        const char *dev_root;
} ManagerOptions;

int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Reads the host (udev enumeration of "pci"), connects to the system bus,
 * exports every object and only then takes the bus name and tells systemd
 * READY=1: at once, or, when functions of prepared reservations must be
 * bound again (a reboot), from the event loop once those jobs have ended
 * (manager_startup_ready()). */
int manager_startup(Manager *m);
/* Takes the bus name, logs "Ready:", READY=1; exits the loop on failure. */
int manager_startup_ready(Manager *m);

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

/* The one setter of a reservation's state (the table is reservation-state.c):
 * validates `event` in the reservation's state, assigns the state and
 * return_to, changes LastError as `le` says (LAST_ERROR_SET: to `text`),
 * stores the reservation and queues one change notification (also for an
 * event that changed nothing, when it ends an operation: the API promises
 * ReservationChanged then).  Returns 0, or -EBUSY with *ret_why (if not
 * NULL) when the table refuses the event (nothing changed), or the
 * store's error (logged): with APPLY_UNDO_IF_NOT_STORED nothing changed
 * then; without, the change stands in memory (the host already changed:
 * the model must say so) and is notified. */
typedef enum LastErrorChange {
        LAST_ERROR_KEEP,
        LAST_ERROR_CLEAR,
        LAST_ERROR_SET,
} LastErrorChange;
#define APPLY_UNDO_IF_NOT_STORED 1u  /* a store failure undoes the change (nothing is notified) */
int manager_reservation_apply(Manager *m, ManagedReservation *mr, ReservationEvent event, LastErrorChange le,
                              const char *text, unsigned flags, const char **ret_why);

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
/* Takes r out of the list (not freed) / frees it */
void manager_remove_reservation(Manager *m, ManagedReservation *r);
ManagedReservation *managed_reservation_free(ManagedReservation *r);
void manager_sync_missing(Manager *m);

/* Present and missing functions merged in address order: start with
 * *i = *j = 0; NULL after the last. */
const PciDevice *manager_next_device(Manager *m, size_t *i, size_t *j);

/* Looks a function up among present and missing ones. */
PciDevice *manager_find_device(Manager *m, const PciAddress *a);

/* Rebinding and reset (manager-rebind.c).  Each submits a job to the one
 * queue and answers `msg` (if not NULL) when it ends, or with an error
 * when it is refused (then returns a negative errno with `error` set, and
 * nothing was queued).  Returns 1 when queued. */
int manager_rebind_start(Manager *m);
void manager_rebind_stop(Manager *m);
int manager_prepare(Manager *m, ManagedReservation *mr, sd_bus_message *msg, sd_bus_error *error);
int manager_unprepare(Manager *m, ManagedReservation *mr, bool release_after, sd_bus_message *msg,
                      sd_bus_error *error);
int manager_set_in_use(Manager *m, ManagedReservation *mr, bool in_use, sd_bus_error *error);
int manager_detach(Manager *m, const PciAddress *a, const char *driver, uid_t caller, sd_bus_message *msg,
                   sd_bus_error *error);
int manager_reattach(Manager *m, const PciAddress *a, sd_bus_message *msg, sd_bus_error *error);
int manager_reset(Manager *m, const PciAddress *a, uid_t caller, sd_bus_message *msg, sd_bus_error *error);
/* Startup, before the bus name is taken: finishes or rolls back every
 * journaled operation, then binds the functions of prepared reservations
 * that are not on their vfio driver (boot). */
int manager_reconcile(Manager *m);
/* Start-up, right after the bus is open: tracks the owners of transient
 * reservations again, marks the orphans, drops orphans that hold nothing. */
int manager_track_owners(Manager *m);
/* Tracks `name` as the owner of transient mr (manager-owners.c): when it
 * leaves the bus, manager_reservation_owner_gone().  -ENXIO when the name
 * has no owner now. */
int manager_owner_track(Manager *m, ManagedReservation *mr, const char *name);
/* Start-up, before reconciliation: a reservation with a function that is
 * not as reserved is degraded, as when that happens at run time. */
void manager_reservations_check_present(Manager *m);
/* The owner of a transient reservation is gone: give back and delete. */
void manager_reservation_owner_gone(Manager *m, ManagedReservation *mr);
/* After READY, on the event loop: orphans given back through the job
 * queue, Conflict signals of what was missing at start. */
void manager_startup_finish(Manager *m);
const DetachedFunction *manager_find_detached(Manager *m, const PciAddress *a);

/* The journal of single-function operations (manager-operations.c):
 * the boot ID (at start, before anything is loaded), the journal (with
 * the job queue), and at start the reconciliation of what a killed daemon
 * left half done (first thing in manager_reconcile()). */
void manager_boot_id_read(Manager *m);
int manager_boot_id_store(Manager *m);
void manager_operations_read(Manager *m);
int manager_operations_reconcile(Manager *m);

/* The one decision of the driver a function is given back to (HostDriver,
 * Describe, and every give-back of Unprepare, Release and Reattach):
 * the host driver recorded with its reservation at Reserve; else the one
 * recorded by Detach; else the bound driver unless it is one of ours
 * (vfio, pci-stub).  NULL: none known, the kernel chooses (drivers_probe). */
const char *manager_host_driver(Manager *m, const PciDevice *d);

/* The end of a re-apply job of mr at start (manager-journal.c): when its
 * last one ended, its groups are checked and, when the last reservation is
 * done, the bus name is taken. */
void manager_reapply_job_done(Manager *m, ManagedReservation *mr, bool ok);
/* manager_rebind_function() for that: counted in startup_reapplies */
int manager_reapply_function(Manager *m, ManagedReservation *mr, const PciDevice *d, bool may_reset);
/* The same decision with what adoption adds: a function that was on a
 * vfio driver or pci-stub when it was reserved (or detached by Detach())
 * is "adopted": driver is that binding, the admin's, given back exactly
 * with override (the driver_override it had; NULL: unset), never handed
 * to a host driver.  Pointers into the records, valid until they change. */
typedef struct HostBinding {
        const char *driver;        /* manager_host_driver() */
        bool adopted;
        const char *override;      /* adopted only */
} HostBinding;
void manager_host_binding(Manager *m, const PciDevice *d, HostBinding *ret);

/* Binds one function of a prepared reservation back to its vfio driver
 * (a host driver took it, or it came back), through the job queue; it is
 * reset after the bind only if may_reset. */
int manager_rebind_function(Manager *m, ManagedReservation *mr, const PciDevice *d, bool may_reset);

/* udev (manager-udev.c): the monitor is created before the enumeration
 * and attached to the loop after the export. */
int manager_udev_start(Manager *m);
int manager_udev_attach(Manager *m);
void manager_udev_stop(Manager *m);
/* Something went wrong with a function of mr while the daemon runs
 * (RESERVATION_EVENT_FUNCTION_GONE or _HOST_DRIVER_TOOK): the reservation
 * is degraded with `why` as LastError; one with a job running is judged
 * again when the job ends (manager_reservation_check_trouble()), so that
 * the job's result does not hide it. */
void manager_reservation_trouble(Manager *m, ManagedReservation *mr, ReservationEvent event, const char *why);
void manager_reservation_check_trouble(Manager *m, ManagedReservation *mr);
/* Whether f is on the host as reserved: present, with the identity
 * recorded at Reserve; if not, why into `why`. */
bool manager_function_as_reserved(Manager *m, const ReservationFunction *f, char *why, size_t size);
/* Every function present with the identity it was reserved with (and,
 * with on_driver, bound to the reservation's vfio driver). */
bool manager_reservation_whole(Manager *m, ManagedReservation *mr, bool on_driver);
/* in-use, or degraded returning to in-use: nothing may reset or unbind
 * its functions */
bool manager_reservation_guest_may_run(const ManagedReservation *mr);
/* The VFs of PF d that a reset of d would hit and must not (a reset of a
 * PF resets its VFs): appended to buf as "ADDR (why), ..."; their number. */
unsigned manager_vf_reset_conflicts(Manager *m, const PciDevice *d, const ManagedReservation *mr, uid_t caller,
                                    char *buf, size_t size);
/* Whether a reset of d touches nothing but d: every reset method the
 * kernel may use for it is function-level (flr, af_flr). */
bool manager_function_resets_alone(const PciDevice *d);
/* Queues one PropertiesChanged of the function for the end of the
 * main-loop iteration (several changes: one signal). */
void manager_device_dirty(Manager *m, const PciAddress *a);

/* Describe()'s JSON text (describe.c builds each part), malloc'd */
int manager_describe(Manager *m, char **ret);

/* sd_notify STATUS= (manager-status.c).  The line: functions, groups,
 * reservations by state, jobs running and queued. */
void manager_status(Manager *m, char *buf, size_t size);
/* READY=1 with STATUS=text; from then on, when started with NOTIFY_SOCKET,
 * the line is sent again whenever it changes (at most once per main-loop
 * iteration, after everything else of it). */
int manager_status_ready(Manager *m, const char *text);
/* Something the line counts changed: functions, reservations or their
 * states, jobs.  Only arms the update; before READY it does nothing. */
void manager_status_dirty(Manager *m);
