/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One rebind or reset job (private to the rebind files):
 *   rebind-job.c       the job object and its error/progress text
 *   rebind-steps.c     the worker thread's sysfs step sequences
 *   manager-rebind.c   submission, deadline and completion on the main loop
 *   manager-journal.c  the journal's main-loop side and the start-up
 *                      reconciliation that finishes what it records */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job-queue.h"
#include "macro.h"
#include "manager.h"
#include "sysfs-ops.h"

#define DRIVER_BUF 128

typedef enum RebindKind {
        REBIND_PREPARE,
        REBIND_UNPREPARE,
        REBIND_DETACH,
        REBIND_REATTACH,
        REBIND_RESET,
        _REBIND_KIND_MAX,
} RebindKind;

extern const char *const rebind_kind_names[_REBIND_KIND_MAX];

typedef struct RebindFunction {
        PciAddress address;
        char name[PCI_ADDRESS_STRLEN];
        uint16_t vendor, device;
        int group;
        bool has_reset;
        char *host_driver;           /* to give it back to; NULL: none */
        bool reprobe;                /* host driver unknown: let the kernel choose */
        /* host_driver is an adopted binding (manager_host_binding()):
         * given back to it with this driver_override (NULL: unset) */
        bool adopted;
        char *host_override;
        char before[DRIVER_BUF];     /* bound when the job began ("" none) */
        char override_before[DRIVER_BUF];  /* its driver_override then ("" none) */
        char after[DRIVER_BUF];      /* bound when it ended */
        char override_after[DRIVER_BUF];
        bool read_after;             /* after/override_after are valid */
        bool touched;                /* a write was made to it */
} RebindFunction;

struct RebindJob {
        Job job;
        Manager *manager;
        RebindKind kind;
        char id[RESERVATION_ID_MAX + 1];  /* "" for single-function jobs */
        char *driver;                     /* the vfio driver */
        RebindFunction *functions;        /* sorted by address */
        size_t n;
        bool release_after;               /* Release(): delete once unprepared */
        bool for_reservation;             /* a Detach job that puts back a reserved function */
        bool startup_reapply;             /* ... at start, before the bus name (manager-journal.c) */
        sd_bus_message *reply;            /* NULL: nobody waits (any more) */
        sd_event_source *deadline;
        int blocked_on_vfio;              /* atomic: in an unbind from the vfio driver */

        /* written by the worker and its main-loop callbacks, read in done */
        bool journaled;                   /* the reservation has our journal */
        bool op_journaled;                /* operations.json has this job's function */
        ReservationEvent end_event;       /* valid if state_change */
        bool state_change;
        bool rollback_failed;
        const char *error_name;           /* NULL: success */
        const char *cancel_error_name;    /* on_deadline() dropped it from the queue */
        char cancel_message[1024];
        char message[2048];
        char warnings[1024];
};

static inline bool driver_is_ours(const char *drv) {
        return drv && (pci_driver_is_vfio(drv) || streq(drv, "pci-stub"));
}

RebindJob *rebind_job_free(RebindJob *rj);
int rebind_function_init(RebindFunction *f, const PciDevice *d, const char *host_driver, bool reprobe);
/* Marks f's host_driver as adopted when hb says so (override copied). */
int rebind_function_adopt(RebindFunction *f, const HostBinding *hb);
/* Appends to a NUL-terminated text buffer, cutting at its size */
void rebind_append(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
/* The job's error: the first one set is the one that counts */
void rebind_set_error(RebindJob *rj, const char *name, const char *fmt, ...) _printf_(3, 4);
void rebind_set_step_error(RebindJob *rj, const SysfsError *err);
void rebind_progress(RebindJob *rj, const char *fmt, ...) _printf_(2, 3);

/* The worker thread's part of a job (rebind-steps.c): the job's `work` */
int rebind_work(Job *j);

/* Main-loop side of the journal (manager-journal.c), called from the
 * worker through job_call_main(): write the journal of the job's
 * reservation before its first step / before step (uintptr_t) userdata. */
int rebind_journal_begin_main(Job *j, void *userdata);
int rebind_journal_step_main(Job *j, void *userdata);
/* Detach, Reattach, takeover (manager-operations.c): writes the job's
 * function into operations.json before its first write (from the worker
 * through job_call_main()); and removes it when the job ends. */
int rebind_op_begin_main(Job *j, void *userdata);
void manager_operation_end(Manager *m, RebindJob *rj);

/* Manager.Detach's records (manager-rebind.c over detached-store.c) */
void manager_detached_forget(Manager *m, const PciAddress *a);
int manager_detached_record(Manager *m, const PciAddress *a, const char *host_driver);
int manager_detached_adopt(Manager *m, const PciAddress *a, const char *driver, const char *override);
void manager_detached_free_all(Manager *m);
/* Writes detached.json (a warning when it cannot) */
int manager_detached_store(Manager *m);
void manager_detached_read(Manager *m);
