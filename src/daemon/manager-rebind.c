/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Driver rebinding and reset: every write to a function's driver binding
 * or `reset` goes through the one job queue, in order, run by its worker
 * thread (src/daemon/job-queue.c) with the steps of src/sysfs-ops.c.
 *
 * A reservation's Prepare/Unprepare is journaled in the state file before
 * each step (job_call_main() asks the main loop, which owns the file, to
 * write it), so a daemon that died half-way knows at its next start which
 * operation was running and which driver every function had; see
 * manager_reconcile().  The D-Bus call is answered when its job ends, or
 * with an error when it runs longer than --job-timeout (the job goes on:
 * an unbind from vfio-pci blocks in the kernel while a VMM holds the
 * device, and nothing can interrupt it). */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-errors.h"
#include "config.h"
#include "fileio.h"
#include "job-queue.h"
#include "log.h"
#include "manager-dbus.h"
#include "manager.h"
#include "store.h"

#define DRIVER_BUF 128
#define DETACHED_FILE_NAME "detached.json"

typedef enum RebindKind {
        REBIND_PREPARE,
        REBIND_UNPREPARE,
        REBIND_DETACH,
        REBIND_REATTACH,
        REBIND_RESET,
        _REBIND_KIND_MAX,
} RebindKind;

static const char *const kind_names[_REBIND_KIND_MAX] = {
        [REBIND_PREPARE] = "Prepare",
        [REBIND_UNPREPARE] = "Unprepare",
        [REBIND_DETACH] = "Detach",
        [REBIND_REATTACH] = "Reattach",
        [REBIND_RESET] = "Reset",
};

typedef struct RebindFunction {
        PciAddress address;
        char name[PCI_ADDRESS_STRLEN];
        uint16_t vendor, device;
        int group;
        bool has_reset;
        char *host_driver;           /* to give it back to; NULL: none */
        bool reprobe;                /* host driver unknown: let the kernel choose */
        char before[DRIVER_BUF];     /* bound when the job began ("" none) */
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
        sd_bus_message *reply;            /* NULL: nobody waits (any more) */
        sd_event_source *deadline;
        int blocked_on_vfio;              /* atomic: in an unbind from the vfio driver */

        /* written by the worker and its main-loop callbacks, read in done */
        bool journaled;                   /* the reservation has our journal */
        ReservationEvent end_event;       /* valid if state_change */
        bool state_change;
        bool rollback_failed;
        const char *error_name;           /* NULL: success */
        const char *cancel_error_name;    /* on_deadline() dropped it from the queue */
        char cancel_message[1024];
        char message[2048];
        char warnings[1024];
};

static bool driver_is_ours(const char *drv) {
        return drv && (pci_driver_is_vfio(drv) || streq(drv, "pci-stub"));
}

static RebindJob *rebind_job_free(RebindJob *rj) {
        if (!rj)
                return NULL;
        for (size_t i = 0; i < rj->n; i++)
                free(rj->functions[i].host_driver);
        free(rj->functions);
        free(rj->driver);
        sd_event_source_disable_unref(rj->deadline);
        sd_bus_message_unref(rj->reply);
        free(rj);
        return NULL;
}

static void append(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t l = strnlen(buf, size);
        va_list ap;

        if (l + 1 >= size)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + l, size - l, fmt, ap);
        va_end(ap);
}

static void set_error(RebindJob *rj, const char *name, const char *fmt, ...) _printf_(3, 4);
static void set_error(RebindJob *rj, const char *name, const char *fmt, ...) {
        va_list ap;

        if (rj->error_name)
                return;  /* the first error is the one that counts */
        rj->error_name = name;
        va_start(ap, fmt);
        vsnprintf(rj->message, sizeof rj->message, fmt, ap);
        va_end(ap);
}

static void set_step_error(RebindJob *rj, const SysfsError *err) {
        if (rj->id[0])
                set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s of reservation %s failed (step %s): %s",
                          kind_names[rj->kind], rj->id, sysfs_step_to_string(err->step), err->message);
        else
                set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s failed (step %s): %s", kind_names[rj->kind],
                          sysfs_step_to_string(err->step), err->message);
}

static void progress(RebindJob *rj, const char *fmt, ...) _printf_(2, 3);
static void progress(RebindJob *rj, const char *fmt, ...) {
        char buf[JOB_PROGRESS_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        job_set_progress(&rj->job, buf);
}

/* ---- main-loop side of the journal (called through job_call_main) ---- */

static JournalOperation journal_operation_of(RebindKind k) {
        return k == REBIND_PREPARE ? JOURNAL_PREPARE : JOURNAL_UNPREPARE;
}

/* PCI_ASSIGND_TEST_CRASH (test builds): SIGKILL right after the journal
 * saying `step` is on disk, for the kill -9 matrix of the tests. */
static void crash_hook(Manager *m, ManagedReservation *mr, uint32_t step) {
#if ENABLE_TEST_HOOKS
        if (m->test_crash_operation == (int) mr->data->journal->operation && m->test_crash_step == step) {
                log_notice("Test hook PCI_ASSIGND_TEST_CRASH: killing myself after journaling step %u of %s of %s.",
                           step, journal_operation_to_string(mr->data->journal->operation), mr->data->id);
                (void) raise(SIGKILL);
        }
#else
        (void) m;
        (void) mr;
        (void) step;
#endif
}

static int journal_begin_main(Job *j, void *userdata) {
        RebindJob *rj = (RebindJob *) j;
        Manager *m = rj->manager;
        ManagedReservation *mr = manager_find_reservation(m, rj->id);
        _cleanup_reservation_journal_ ReservationJournal *journal = NULL;
        int r;

        if (!mr) {
                set_error(rj, BUS_ERROR_NO_SUCH_RESERVATION, "Reservation %s is gone", rj->id);
                return -ENOENT;
        }
        if (manager_reservation_guest_may_run(mr)) {
                set_error(rj, BUS_ERROR_IN_USE, "Reservation %s is in use by its guest; %s refused",
                          rj->id, kind_names[rj->kind]);
                return -EBUSY;
        }

        journal = reservation_journal_new(journal_operation_of(rj->kind));
        if (!journal)
                return -ENOMEM;
        journal->functions = calloc(rj->n ?: 1, sizeof(JournalFunction));
        if (!journal->functions)
                return -ENOMEM;
        for (size_t i = 0; i < rj->n; i++) {
                JournalFunction *jf = &journal->functions[journal->n_functions++];

                jf->address = rj->functions[i].address;
                if (rj->functions[i].before[0]) {
                        jf->original_driver = strdup(rj->functions[i].before);
                        if (!jf->original_driver)
                                return -ENOMEM;
                }
        }
        reservation_journal_free(mr->data->journal);
        mr->data->journal = TAKE_PTR(journal);
        r = manager_save_reservations(m);
        if (r < 0) {
                mr->data->journal = reservation_journal_free(mr->data->journal);
                set_error(rj, BUS_ERROR_OPERATION_FAILED,
                          "%s of reservation %s not started: cannot write the journal to %s/%s: %s",
                          kind_names[rj->kind], rj->id, m->state_dir, STORE_FILE_NAME, strerror(-r));
                return r;
        }
        rj->journaled = true;
        /* the journal now says step 0: journal_step(rj, 0) writes nothing */
        crash_hook(m, mr, 0);
        return 0;
}

static int journal_step_main(Job *j, void *userdata) {
        RebindJob *rj = (RebindJob *) j;
        Manager *m = rj->manager;
        ManagedReservation *mr = manager_find_reservation(m, rj->id);
        uint32_t step = (uint32_t) (uintptr_t) userdata;
        int r;

        /* a reservation with jobs is never released, see manager_release() */
        if (!mr || !mr->data->journal)
                return -ESTALE;
        mr->data->journal->step = step;
        r = manager_save_reservations(m);
        if (r < 0) {
                set_error(rj, BUS_ERROR_OPERATION_FAILED,
                          "%s of reservation %s stopped before step %u: cannot write the journal to %s/%s: %s",
                          kind_names[rj->kind], rj->id, step, m->state_dir, STORE_FILE_NAME, strerror(-r));
                return r;
        }
        crash_hook(m, mr, step);
        return 0;
}

static int journal_step(RebindJob *rj, uint32_t step) {
        /* step 0 is in the journal journal_begin_main() wrote */
        if (!rj->journaled || step == 0)
                return 0;
        return job_call_main(&rj->job, journal_step_main, (void *) (uintptr_t) step);
}

/* ---- worker side ---- */

static void read_befores(RebindJob *rj) {
        for (size_t i = 0; i < rj->n; i++)
                if (sysfs_read_driver(&rj->manager->sysfs, &rj->functions[i].address, rj->functions[i].before,
                                      sizeof rj->functions[i].before) < 0)
                        rj->functions[i].before[0] = 0;
}

static void read_afters(RebindJob *rj) {
        for (size_t i = 0; i < rj->n; i++) {
                RebindFunction *f = &rj->functions[i];

                f->read_after = sysfs_read_driver(&rj->manager->sysfs, &f->address, f->after, sizeof f->after) >= 0 &&
                                sysfs_read_override(&rj->manager->sysfs, &f->address, f->override_after,
                                                    sizeof f->override_after) >= 0;
        }
}

/* Binds f to the vfio driver (if it is there, at most its override is
 * written). */
static int bind_vfio(RebindJob *rj, RebindFunction *f, const char *driver, SysfsError *err) {
        /* bound already: sysfs_bind_override() only sets a missing override */
        progress(rj, "bind %s to %s", f->name, driver);
        f->touched = true;
        /* an unbind from another vfio driver can block like any */
        __atomic_store_n(&rj->blocked_on_vfio, driver_is_ours(f->before), __ATOMIC_RELAXED);
        int r = sysfs_bind_override(&rj->manager->sysfs, &f->address, f->vendor, f->device, driver, err);
        __atomic_store_n(&rj->blocked_on_vfio, 0, __ATOMIC_RELAXED);
        return r;
}

/* Gives f back to `target` (a host driver, none, or one of ours). */
static int give_back(RebindJob *rj, RebindFunction *f, const char *target, bool reprobe, SysfsError *err) {
        Manager *m = rj->manager;
        char cur[DRIVER_BUF] = "";
        int r;

        if (target && driver_is_ours(target)) {
                f->touched = true;
                progress(rj, "bind %s to %s again", f->name, target);
                return sysfs_bind_override(&m->sysfs, &f->address, f->vendor, f->device, target, err);
        }
        (void) sysfs_read_driver(&m->sysfs, &f->address, cur, sizeof cur);
        progress(rj, "give %s back to %s (unbind from %s)", f->name,
                 reprobe ? "whatever driver the kernel picks" : target ? target : "no driver", cur[0] ? cur : "none");
        f->touched = true;
        __atomic_store_n(&rj->blocked_on_vfio, driver_is_ours(cur), __ATOMIC_RELAXED);
        if (reprobe)
                r = sysfs_reprobe(&m->sysfs, &f->address, f->vendor, f->device, NULL, 0, err);
        else
                r = sysfs_restore(&m->sysfs, &f->address, f->vendor, f->device, target, err);
        __atomic_store_n(&rj->blocked_on_vfio, 0, __ATOMIC_RELAXED);
        return r;
}

/* Resets f; a missing or failing method (ENOTTY) is only a warning when
 * `tolerate_no_method`: vfio-pci resets on open and release itself. */
static int reset_function(RebindJob *rj, RebindFunction *f, bool tolerate_no_method, SysfsError *err) {
        int r;

        progress(rj, "reset %s", f->name);
        f->touched = true;
        r = sysfs_reset(&rj->manager->sysfs, &f->address, f->vendor, f->device, err);
        if (r == -ENOTTY && tolerate_no_method) {
                append(rj->warnings, sizeof rj->warnings, "%s%s", rj->warnings[0] ? "; " : "", err->message);
                return 0;
        }
        return r;
}

/* Puts every function this job wrote to back on the driver it had. */
static void rollback(RebindJob *rj) {
        for (size_t i = rj->n; i > 0; i--) {
                RebindFunction *f = &rj->functions[i - 1];
                SysfsError err;
                int r;

                if (!f->touched)
                        continue;
                r = give_back(rj, f, f->before[0] ? f->before : NULL, false, &err);
                if (r < 0) {
                        rj->rollback_failed = true;
                        append(rj->message, sizeof rj->message, "; and putting %s back failed (step %s): %s", f->name,
                               sysfs_step_to_string(err.step), err.message);
                }
        }
        if (!rj->rollback_failed)
                append(rj->message, sizeof rj->message, "; every function is back where it was");
}

static int verify_prepared(RebindJob *rj) {
        Manager *m = rj->manager;
        int last_group = -2;

        progress(rj, "verify");
        for (size_t i = 0; i < rj->n; i++) {
                RebindFunction *f = &rj->functions[i];
                char cur[DRIVER_BUF];
                int r;

                r = sysfs_read_driver(&m->sysfs, &f->address, cur, sizeof cur);
                if (r < 0 || !streq(cur, rj->driver)) {
                        set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s of reservation %s failed (step verify): %s: %s",
                                  kind_names[rj->kind], rj->id, f->name,
                                  r < 0 ? strerror(-r) : cur[0] ? "bound to another driver" : "no driver bound");
                        return -EIO;
                }
        }
        for (size_t i = 0; i < rj->n; i++) {
                RebindFunction *f = &rj->functions[i];
                SysfsError err;

                if (f->group < 0 || f->group == last_group)
                        continue;
                last_group = f->group;
                if (sysfs_group_check(&m->sysfs, f->group, m->dev_root, &err) < 0) {
                        set_step_error(rj, &err);
                        return -EIO;
                }
        }
        return 0;
}

static int prepare_work(Job *j) {
        RebindJob *rj = (RebindJob *) j;
        SysfsError err;
        uint32_t n = (uint32_t) rj->n;
        int r;

        progress(rj, "start");
        read_befores(rj);
        r = job_call_main(j, journal_begin_main, NULL);
        if (r < 0)
                goto finish;

        /* steps 0..n-1: bind */
        for (uint32_t i = 0; i < n; i++) {
                r = journal_step(rj, i);
                if (r < 0)
                        goto fail;
                r = bind_vfio(rj, &rj->functions[i], rj->driver, &err);
                if (r < 0) {
                        set_step_error(rj, &err);
                        goto fail;
                }
        }
        /* steps n..2n-1: reset */
        for (uint32_t i = 0; i < n; i++) {
                RebindFunction *f = &rj->functions[i];

                r = journal_step(rj, n + i);
                if (r < 0)
                        goto fail;
                if (!f->has_reset) {
                        append(rj->warnings, sizeof rj->warnings, "%s%s: no reset method", rj->warnings[0] ? "; " : "",
                               f->name);
                        continue;
                }
                r = reset_function(rj, f, true, &err);
                if (r < 0) {
                        set_step_error(rj, &err);
                        goto fail;
                }
        }
        /* step 2n: verify */
        r = journal_step(rj, 2 * n);
        if (r < 0)
                goto fail;
        r = verify_prepared(rj);
        if (r < 0)
                goto fail;

        rj->end_event = RESERVATION_EVENT_PREPARE_DONE;
        rj->state_change = true;
        r = 0;
        goto finish;
fail:
        rollback(rj);
        rj->end_event = rj->rollback_failed ? RESERVATION_EVENT_ROLLBACK_FAILED : RESERVATION_EVENT_PREPARE_FAILED;
        rj->state_change = true;
        r = -EIO;
finish:
        read_afters(rj);
        return r;
}

static int unprepare_work(Job *j) {
        RebindJob *rj = (RebindJob *) j;
        SysfsError err;
        uint32_t n = (uint32_t) rj->n;
        int r;

        progress(rj, "start");
        read_befores(rj);
        r = job_call_main(j, journal_begin_main, NULL);
        if (r < 0)
                goto finish;

        /* steps 0..n-1: reset what is on our drivers (best effort: the
         * host driver initialises the device anyway) */
        for (uint32_t i = 0; i < n; i++) {
                RebindFunction *f = &rj->functions[i];

                r = journal_step(rj, i);
                if (r < 0)
                        goto fail;
                if (!f->has_reset || !driver_is_ours(f->before))
                        continue;
                if (reset_function(rj, f, false, &err) < 0)
                        append(rj->warnings, sizeof rj->warnings, "%s%s", rj->warnings[0] ? "; " : "", err.message);
        }
        /* steps n..2n-1: give back */
        for (uint32_t i = 0; i < n; i++) {
                RebindFunction *f = &rj->functions[i];

                r = journal_step(rj, n + i);
                if (r < 0)
                        goto fail;
                if (!driver_is_ours(f->before) && !f->reprobe &&
                    streq(f->before, f->host_driver ? f->host_driver : ""))
                        continue;  /* already where it belongs */
                if (!driver_is_ours(f->before) && f->before[0] && !f->host_driver)
                        continue;  /* on a host driver, none recorded: leave it */
                r = give_back(rj, f, f->host_driver, f->reprobe, &err);
                if (r < 0) {
                        set_step_error(rj, &err);
                        goto fail;
                }
        }
        rj->end_event = RESERVATION_EVENT_UNPREPARE_DONE;
        rj->state_change = true;
        r = 0;
        goto finish;
fail:
        rollback(rj);
        rj->end_event = rj->rollback_failed ? RESERVATION_EVENT_ROLLBACK_FAILED : RESERVATION_EVENT_UNPREPARE_FAILED;
        rj->state_change = true;
        r = -EIO;
finish:
        read_afters(rj);
        return r;
}

static int detach_work(Job *j) {
        RebindJob *rj = (RebindJob *) j;
        RebindFunction *f = &rj->functions[0];
        SysfsError err;
        char cur[DRIVER_BUF];
        int r;

        progress(rj, "start");
        read_befores(rj);
        r = bind_vfio(rj, f, rj->driver, &err);
        if (r >= 0 && f->has_reset)
                r = reset_function(rj, f, true, &err);
        if (r >= 0) {
                r = sysfs_read_driver(&rj->manager->sysfs, &f->address, cur, sizeof cur);
                if (r < 0 || !streq(cur, rj->driver)) {
                        set_error(rj, BUS_ERROR_OPERATION_FAILED, "Detach failed (step verify): %s: %s", f->name,
                                  r < 0 ? strerror(-r) : "not bound to the vfio driver");
                        rollback(rj);
                        r = -EIO;
                }
        } else {
                set_step_error(rj, &err);
                rollback(rj);
        }
        read_afters(rj);
        return r;
}

static int reattach_work(Job *j) {
        RebindJob *rj = (RebindJob *) j;
        RebindFunction *f = &rj->functions[0];
        SysfsError err;
        int r;

        progress(rj, "start");
        read_befores(rj);
        r = give_back(rj, f, f->host_driver, f->reprobe, &err);
        if (r < 0)
                set_step_error(rj, &err);
        read_afters(rj);
        return r;
}

static int reset_work(Job *j) {
        RebindJob *rj = (RebindJob *) j;
        SysfsError err;
        int r;

        progress(rj, "start");
        read_befores(rj);
        r = reset_function(rj, &rj->functions[0], false, &err);
        if (r < 0)
                set_step_error(rj, &err);
        read_afters(rj);
        return r;
}

/* ---- the detached-functions file ---- */

const DetachedFunction *manager_find_detached(Manager *m, const PciAddress *a) {
        for (size_t i = 0; i < m->n_detached; i++)
                if (pci_address_compare(&m->detached[i].address, a) == 0)
                        return &m->detached[i];
        return NULL;
}

static void detached_remove(Manager *m, const PciAddress *a) {
        for (size_t i = 0; i < m->n_detached; i++)
                if (pci_address_compare(&m->detached[i].address, a) == 0) {
                        free(m->detached[i].host_driver);
                        memmove(m->detached + i, m->detached + i + 1, (m->n_detached - i - 1) * sizeof(*m->detached));
                        m->n_detached--;
                        return;
                }
}

static int detached_add(Manager *m, const PciAddress *a, const char *host_driver) {
        DetachedFunction *nv;
        char *h = NULL;

        if (host_driver && !(h = strdup(host_driver)))
                return -ENOMEM;
        detached_remove(m, a);
        nv = realloc(m->detached, (m->n_detached + 1) * sizeof(*nv));
        if (!nv) {
                free(h);
                return -ENOMEM;
        }
        m->detached = nv;
        m->detached[m->n_detached++] = (DetachedFunction) { .address = *a, .host_driver = h };
        return 0;
}

static void detached_free_all(Manager *m) {
        for (size_t i = 0; i < m->n_detached; i++)
                free(m->detached[i].host_driver);
        free(m->detached);
        m->detached = NULL;
        m->n_detached = 0;
}

static int detached_save(Manager *m) {
        json_object *root = json_object_new_object(), *list = json_object_new_array();
        const char *text;
        char buf[PCI_ADDRESS_STRLEN];
        int r;

        if (!root || !list) {
                json_object_put(root);
                json_object_put(list);
                return -ENOMEM;
        }
        json_object_object_add(root, "format", json_object_new_int(1));
        json_object_object_add(root, "functions", list);
        for (size_t i = 0; i < m->n_detached; i++) {
                json_object *o = json_object_new_object();

                json_object_object_add(o, "address", json_object_new_string(pci_address_format(&m->detached[i].address, buf)));
                json_object_object_add(o, "host_driver",
                                       m->detached[i].host_driver ? json_object_new_string(m->detached[i].host_driver) : NULL);
                json_object_array_add(list, o);
        }
        text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        if (mkdir(m->runtime_dir, 0755) < 0 && errno != EEXIST)
                r = negative_errno();
        else
                r = write_file_atomic(m->runtime_dir, DETACHED_FILE_NAME, text, strlen(text), 0644);
        json_object_put(root);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s/%s (Reattach after a restart will let the kernel "
                                  "choose the driver): %m", m->runtime_dir, DETACHED_FILE_NAME);
        return r;
}

static void detached_load(Manager *m) {
        _cleanup_free_ char *path = NULL;
        json_object *root, *list;

        if (asprintf(&path, "%s/%s", m->runtime_dir, DETACHED_FILE_NAME) < 0)
                return (void) log_oom();
        if (access(path, F_OK) < 0)
                return;
        root = json_object_from_file(path);
        if (!root || !json_object_object_get_ex(root, "functions", &list) ||
            !json_object_is_type(list, json_type_array)) {
                log_warning("%s is unreadable; forgetting which drivers detached functions came from.", path);
                json_object_put(root);
                return;
        }
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *o = json_object_array_get_idx(list, i), *ja, *jh;
                PciAddress a;
                const char *h = NULL;

                if (!json_object_object_get_ex(o, "address", &ja) || !json_object_is_type(ja, json_type_string) ||
                    pci_address_parse(json_object_get_string(ja), &a) < 0)
                        continue;
                if (json_object_object_get_ex(o, "host_driver", &jh) && json_object_is_type(jh, json_type_string)) {
                        h = json_object_get_string(jh);
                        if (!driver_name_is_valid(h))
                                continue;
                }
                if (detached_add(m, &a, h) < 0) {
                        log_oom();
                        break;
                }
        }
        json_object_put(root);
}

/* ---- main loop: submission, deadline, completion ---- */

static void job_list_remove(Manager *m, RebindJob *rj) {
        for (size_t i = 0; i < m->n_rebind_jobs; i++)
                if (m->rebind_jobs[i] == rj) {
                        memmove(m->rebind_jobs + i, m->rebind_jobs + i + 1,
                                (m->n_rebind_jobs - i - 1) * sizeof(*m->rebind_jobs));
                        m->n_rebind_jobs--;
                        return;
                }
}

static void reply_now(RebindJob *rj, const char *error_name, const char *message) {
        int r;

        if (!rj->reply)
                return;
        if (error_name)
                r = sd_bus_reply_method_errorf(rj->reply, error_name, "%s", message);
        else
                r = sd_bus_reply_method_return(rj->reply, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to send the reply of %s: %m", kind_names[rj->kind]);
        rj->reply = sd_bus_message_unref(rj->reply);
}

static void describe_target(RebindJob *rj, char *buf, size_t size) {
        if (rj->id[0])
                snprintf(buf, size, "%s of reservation %s", kind_names[rj->kind], rj->id);
        else
                snprintf(buf, size, "%s of %s", kind_names[rj->kind], rj->n > 0 ? rj->functions[0].name : "?");
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        RebindJob *rj = userdata;
        Manager *m = rj->manager;
        char what[128], prog[JOB_PROGRESS_MAX], msg[1024];
        unsigned long long secs = (unsigned long long) (m->job_timeout_usec / USEC_PER_SEC);

        describe_target(rj, what, sizeof what);
        job_get_progress(&rj->job, prog, sizeof prog);
        if (prog[0]) {
                /* running: it cannot be interrupted, only left to end */
                if (__atomic_load_n(&rj->blocked_on_vfio, __ATOMIC_RELAXED)) {
                        snprintf(msg, sizeof msg,
                                 "%s: %s is blocked after %llu s: the device is held open (a running VM?). "
                                 "The operation goes on and ends when it is released; watch the state.",
                                 what, prog, secs);
                        log_warning("%s", msg);
                        reply_now(rj, BUS_ERROR_IN_USE, msg);
                } else {
                        snprintf(msg, sizeof msg, "%s still running after %llu s (%s); it goes on, watch the state.",
                                 what, secs, prog);
                        log_warning("%s", msg);
                        reply_now(rj, BUS_ERROR_OPERATION_FAILED, msg);
                }
                return 0;
        }

        /* still queued: say behind what, and drop it (nothing was done) */
        {
                const char *err = BUS_ERROR_OPERATION_FAILED;
                char running[512] = "another operation";

                for (size_t i = 0; i < m->n_rebind_jobs; i++) {
                        RebindJob *o = m->rebind_jobs[i];
                        char p[JOB_PROGRESS_MAX], w[128];

                        job_get_progress(&o->job, p, sizeof p);
                        if (!p[0])
                                continue;
                        describe_target(o, w, sizeof w);
                        snprintf(running, sizeof running, "%s (%s)", w, p);
                        if (__atomic_load_n(&o->blocked_on_vfio, __ATOMIC_RELAXED))
                                err = BUS_ERROR_IN_USE;
                        break;
                }
                snprintf(rj->cancel_message, sizeof rj->cancel_message,
                         "%s not started after %llu s: the queue is busy with %s; nothing was changed",
                         what, secs, running);
                rj->cancel_error_name = err;
                if (job_queue_cancel(m->jobs, &rj->job) > 0)
                        return 0;  /* job_done() answered and freed it */
                /* the worker took it just now: it runs, and ends as usual */
                rj->cancel_error_name = NULL;
                snprintf(msg, sizeof msg, "%s still running after %llu s (just started); it goes on, watch the state.",
                         what, secs);
                log_warning("%s", msg);
                reply_now(rj, BUS_ERROR_OPERATION_FAILED, msg);
        }
        return 0;
}

static void update_model(RebindJob *rj) {
        Manager *m = rj->manager;

        for (size_t i = 0; i < rj->n; i++) {
                RebindFunction *f = &rj->functions[i];
                PciDevice *d = topology_find(m->topology, &f->address);
                char *drv = NULL, *ovr = NULL;
                bool changed;

                if (!d || !f->read_after)
                        continue;
                changed = !streq(d->driver ?: "", f->after) || !streq(d->driver_override ?: "", f->override_after);
                if (!changed)
                        continue;
                if ((f->after[0] && !(drv = strdup(f->after))) ||
                    (f->override_after[0] && !(ovr = strdup(f->override_after)))) {
                        free(drv);
                        log_oom();
                        continue;
                }
                /* the udev events of our writes usually came first and
                 * did this; without udev (or when they are late) we do */
                if (!streq(d->driver ?: "", f->after))
                        manager_dbus_emit_driver_changed(m, &d->address, d->driver ?: "", f->after);
                free(d->driver);
                d->driver = drv;
                free(d->driver_override);
                d->driver_override = ovr;
                log_debug("%s: driver now %s.", d->name, f->after[0] ? f->after : "none");
        }
        manager_invalidate_verdicts(m);
        for (size_t i = 0; i < rj->n; i++)
                manager_device_dirty(m, &rj->functions[i].address);
}

/* A function of a prepared reservation that a host driver had taken (or
 * that came back while its guest ran) is on the vfio driver again: if that
 * was all that was wrong, the reservation is where it was before. */
static void reservation_back_from_conflict(Manager *m, ManagedReservation *mr) {
        Reservation *res = mr->data;

        if (res->state != RESERVATION_DEGRADED || mr->jobs > 0)
                return;
        if (res->return_to != RESERVATION_PREPARED && res->return_to != RESERVATION_IN_USE)
                return;
        if (!manager_reservation_whole(m, mr, true))
                return;
        (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_TAKEOVER_UNDONE, LAST_ERROR_CLEAR, NULL, 0, NULL);
}

/* The end of a job, with its reservation and functions as journal fields
 * (and a MESSAGE_ID for a Prepare, an Unprepare and a takeover undone) */
static void log_job_end(RebindJob *rj, ManagedReservation *mr, const char *what) {
        char bufs[8][PCI_ADDRESS_STRLEN];
        const char *addrs[9] = {};
        const char *id = rj->id[0] ? rj->id : mr ? mr->data->id : NULL;
        LogFields f = { .reservation_id = id, .pci_addresses = addrs };

        for (size_t i = 0; i < rj->n && i < 8; i++)
                addrs[i] = pci_address_format(&rj->functions[i].address, bufs[i]);
        if (!rj->error_name)
                f.message_id = rj->kind == REBIND_PREPARE   ? LOG_MESSAGE_ID_PREPARED :
                               rj->kind == REBIND_UNPREPARE ? LOG_MESSAGE_ID_GIVEN_BACK :
                               rj->kind == REBIND_DETACH && rj->for_reservation ? LOG_MESSAGE_ID_TAKEOVER_UNDONE :
                                                              NULL;
        if (rj->error_name)
                log_fields(LOG_ERR, 0, f, "%s", rj->message);
        else
                log_fields(LOG_INFO, 0, f, "%s done%s%s.", what, rj->warnings[0] ? "; warnings: " : "",
                           rj->warnings);
}

static void job_done(Job *j, int result) {
        RebindJob *rj = (RebindJob *) j;
        Manager *m = rj->manager;
        ManagedReservation *mr = rj->id[0] ? manager_find_reservation(m, rj->id) : NULL;
        char what[128];
        int r;

        job_list_remove(m, rj);
        rj->deadline = sd_event_source_disable_unref(rj->deadline);
        describe_target(rj, what, sizeof what);

        if (result == -ECANCELED && rj->cancel_error_name)
                set_error(rj, rj->cancel_error_name, "%s", rj->cancel_message);
        else if (result == -ECANCELED && !rj->error_name)
                set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s cancelled: pci-assignd is stopping; nothing was changed",
                          what);
        if (result < 0 && !rj->error_name)
                set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s failed: %s", what, strerror(-result));

        update_model(rj);

        if (mr) {
                bool changed = false;

                if (mr->jobs > 0)
                        mr->jobs--;
                if (rj->journaled) {
                        mr->data->journal = reservation_journal_free(mr->data->journal);
                        changed = true;
                }
                if (rj->state_change) {
                        /* LastError: set when a rollback failed (the
                         * functions are not where they were), cleared by a
                         * success; a failure that was rolled back leaves
                         * it as it was */
                        r = manager_reservation_apply(m, mr, rj->end_event,
                                                      rj->rollback_failed ? LAST_ERROR_SET :
                                                      !rj->error_name ? LAST_ERROR_CLEAR : LAST_ERROR_KEEP,
                                                      rj->message, 0, NULL);
                        if (r == -EBUSY)
                                log_error("Reservation %s: the end of %s does not fit its state %s.", mr->data->id,
                                          what, reservation_state_to_string(mr->data->state));
                        if (r == -EBUSY && changed) {
                                (void) manager_save_reservations(m);
                                manager_dbus_reservation_changed(m, mr);
                        }
                } else if (changed) {
                        r = manager_save_reservations(m);
                        if (r < 0)
                                log_error_errno(r, "Failed to store the end of %s: %m", what);
                        manager_dbus_reservation_changed(m, mr);
                }
                /* a function went (or a host driver took one) while the
                 * job ran: the job's result does not undo that */
                if (mr->trouble_during_job && mr->jobs == 0) {
                        mr->trouble_during_job = false;
                        manager_reservation_check_trouble(m, mr);
                }
        }

        if (rj->kind == REBIND_DETACH && rj->for_reservation) {
                mr = manager_reservation_of(m, &rj->functions[0].address, NULL);
                if (mr && mr->jobs > 0)
                        mr->jobs--;
                if (mr && !rj->error_name)
                        reservation_back_from_conflict(m, mr);
                else if (mr)
                        manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, rj->message);
        } else if (rj->kind == REBIND_DETACH && !rj->error_name) {
                RebindFunction *f = &rj->functions[0];
                /* Record where it came from: a host driver, or none.  One
                 * that was on our drivers already keeps an earlier record,
                 * or gets none (Reattach then lets the kernel choose). */
                if (!driver_is_ours(f->before) && detached_add(m, &f->address, f->before[0] ? f->before : NULL) >= 0)
                        (void) detached_save(m);
        } else if (rj->kind == REBIND_REATTACH && !rj->error_name) {
                detached_remove(m, &rj->functions[0].address);
                (void) detached_save(m);
        }

        log_job_end(rj, mr, what);

        if (rj->release_after && mr && !rj->error_name) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                r = manager_release(m, mr, &error);
                if (r < 0)
                        set_error(rj, error.name ?: BUS_ERROR_OPERATION_FAILED, "%s",
                                  error.message ?: "Release failed");
        }
        reply_now(rj, rj->error_name, rj->message);
        rebind_job_free(rj);
}

static int rebind_job_new(Manager *m, RebindKind kind, size_t n, RebindJob **ret) {
        RebindJob *rj = calloc(1, sizeof(*rj));

        if (!rj)
                return -ENOMEM;
        rj->functions = calloc(n ?: 1, sizeof(RebindFunction));
        if (!rj->functions) {
                free(rj);
                return -ENOMEM;
        }
        rj->manager = m;
        rj->kind = kind;
        rj->job.done = job_done;
        switch (kind) {
        case REBIND_PREPARE:   rj->job.work = prepare_work; break;
        case REBIND_UNPREPARE: rj->job.work = unprepare_work; break;
        case REBIND_DETACH:    rj->job.work = detach_work; break;
        case REBIND_REATTACH:  rj->job.work = reattach_work; break;
        default:               rj->job.work = reset_work; break;
        }
        *ret = rj;
        return 0;
}

static int rebind_function_init(RebindFunction *f, const PciDevice *d, const char *host_driver, bool reprobe) {
        f->address = d->address;
        memcpy(f->name, d->name, sizeof f->name);
        f->vendor = d->vendor_id;
        f->device = d->device_id;
        f->group = d->iommu_group;
        f->has_reset = d->has_reset;
        f->reprobe = reprobe;
        if (host_driver && !(f->host_driver = strdup(host_driver)))
                return -ENOMEM;
        return 0;
}

static int submit(Manager *m, RebindJob *rj, ManagedReservation *mr, sd_bus_message *msg) {
        RebindJob **nv;
        int r;

        nv = realloc(m->rebind_jobs, (m->n_rebind_jobs + 1) * sizeof(*nv));
        if (!nv) {
                rebind_job_free(rj);
                return -ENOMEM;
        }
        m->rebind_jobs = nv;
        if (m->job_timeout_usec > 0) {
                r = sd_event_add_time_relative(m->event, &rj->deadline, CLOCK_MONOTONIC, m->job_timeout_usec, 0,
                                               on_deadline, rj);
                if (r < 0) {
                        rebind_job_free(rj);
                        return r;
                }
        }
        rj->reply = sd_bus_message_ref(msg);
        r = job_queue_submit(m->jobs, &rj->job);
        if (r < 0) {
                rj->reply = sd_bus_message_unref(rj->reply);
                rebind_job_free(rj);
                return r;
        }
        m->rebind_jobs[m->n_rebind_jobs++] = rj;
        if (mr)
                mr->jobs++;
        return 1;
}

static int check_writable(Manager *m, sd_bus_error *error) {
        if (m->read_only || !m->jobs)
                return sd_bus_error_set(error, BUS_ERROR_READ_ONLY, "pci-assignd runs read-only");
        return 0;
}

static int reservation_job(Manager *m, ManagedReservation *mr, RebindKind kind, bool release_after,
                           sd_bus_message *msg, sd_bus_error *error) {
        Reservation *res = mr->data;
        RebindJob *rj;
        int r;

        r = check_writable(m, error);
        if (r < 0)
                return r;
        if (res->state == RESERVATION_IN_USE)
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "Reservation %s is in use by its guest; call "
                                         "SetInUse(false) when the guest stopped", res->id);
        if (manager_reservation_guest_may_run(mr))
                /* degraded while in use: the functions that stayed may be
                 * the guest's; nothing resets or unbinds them */
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "Reservation %s is degraded and was in use by "
                                         "its guest, which may still run; call SetInUse(false) when the guest "
                                         "stopped", res->id);
        /* Prepare needs every function; Unprepare gives back those that
         * are there (a missing one has no driver to leave) */
        for (size_t i = 0; kind == REBIND_PREPARE && i < res->n_functions; i++)
                if (!topology_find(m->topology, &res->functions[i].address)) {
                        char buf[PCI_ADDRESS_STRLEN];
                        return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE,
                                                 "%s of reservation %s is not present", pci_address_format(
                                                         &res->functions[i].address, buf), res->id);
                }

        if (kind == REBIND_PREPARE)
                /* the host may have come to depend on a function since
                 * Reserve() (a file system mounted from it, a route) */
                for (size_t i = 0; i < res->n_functions; i++) {
                        char reasons[1024] = "", buf[PCI_ADDRESS_STRLEN];
                        Verdict v = {};

                        r = manager_verdict(m, &res->functions[i].address, res->owner, &v);
                        if (r < 0)
                                return r;
                        for (size_t k = 0; k < v.n_reasons; k++)
                                if (v.reasons[k].error)
                                        append(reasons, sizeof reasons, "%s%s", reasons[0] ? ", " : "",
                                               v.reasons[k].text);
                        verdict_done(&v);
                        if (reasons[0])
                                return sd_bus_error_setf(error, BUS_ERROR_NOT_ASSIGNABLE,
                                                         "%s of reservation %s cannot be detached: %s",
                                                         pci_address_format(&res->functions[i].address, buf),
                                                         res->id, reasons);
                }

        r = rebind_job_new(m, kind, res->n_functions, &rj);
        if (r < 0)
                return r;
        if (kind == REBIND_PREPARE)
                /* asked for: host drivers taking it are counted anew */
                mr->takeovers = 0;
        memcpy(rj->id, res->id, sizeof rj->id);
        rj->release_after = release_after;
        rj->driver = strdup(res->driver ?: "vfio-pci");
        if (!rj->driver) {
                rebind_job_free(rj);
                return -ENOMEM;
        }
        for (size_t i = 0; i < res->n_functions; i++) {
                ReservationFunction *f = &res->functions[i];
                PciDevice *d = topology_find(m->topology, &f->address);

                if (!d)
                        continue;
                r = rebind_function_init(&rj->functions[rj->n++], d, f->host_driver, false);
                if (r < 0) {
                        rebind_job_free(rj);
                        return r;
                }
        }
        return submit(m, rj, mr, msg);
}

int manager_prepare(Manager *m, ManagedReservation *mr, sd_bus_message *msg, sd_bus_error *error) {
        return reservation_job(m, mr, REBIND_PREPARE, false, msg, error);
}

int manager_unprepare(Manager *m, ManagedReservation *mr, bool release_after, sd_bus_message *msg,
                      sd_bus_error *error) {
        return reservation_job(m, mr, REBIND_UNPREPARE, release_after, msg, error);
}

int manager_set_in_use(Manager *m, ManagedReservation *mr, bool in_use, sd_bus_error *error) {
        Reservation *res = mr->data;
        ReservationEvent ev = in_use ? RESERVATION_EVENT_IN_USE_ON : RESERVATION_EVENT_IN_USE_OFF;
        ReservationTransition t;
        int r;

        r = check_writable(m, error);
        if (r < 0)
                return r;
        r = reservation_transition(res->state, res->return_to, ev, &t, NULL);
        if (r == 0 && !t.changed)
                return 0;  /* already so */
        if (mr->jobs > 0)
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "Reservation %s has an operation in progress",
                                         res->id);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "Reservation %s is %s, not %s", res->id,
                                         reservation_state_to_string(res->state), in_use ? "prepared" : "in-use");
        r = manager_reservation_apply(m, mr, ev, LAST_ERROR_KEEP, NULL, APPLY_UNDO_IF_NOT_STORED, NULL);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_ERROR_OPERATION_FAILED, "Cannot store the state in %s: %s",
                                         m->state_dir, strerror(-r));
        return 0;
}

static int single_job(Manager *m, RebindKind kind, const PciDevice *d, const char *driver, const char *host_driver,
                      bool reprobe, sd_bus_message *msg) {
        RebindJob *rj;
        int r;

        r = rebind_job_new(m, kind, 1, &rj);
        if (r < 0)
                return r;
        rj->n = 1;
        rj->driver = strdup(driver ?: "vfio-pci");
        if (!rj->driver) {
                rebind_job_free(rj);
                return -ENOMEM;
        }
        r = rebind_function_init(&rj->functions[0], d, host_driver, reprobe);
        if (r < 0) {
                rebind_job_free(rj);
                return r;
        }
        return submit(m, rj, NULL, msg);
}

static PciDevice *find_present(Manager *m, const PciAddress *a, sd_bus_error *error) {
        PciDevice *d = topology_find(m->topology, a);
        char buf[PCI_ADDRESS_STRLEN];

        if (!d)
                sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "No PCI function %s", pci_address_format(a, buf));
        return d;
}

int manager_detach(Manager *m, const PciAddress *a, const char *driver, uid_t caller, sd_bus_message *msg,
                   sd_bus_error *error) {
        ManagedReservation *mr;
        PciDevice *d;
        Verdict v = {};
        char reasons[1024] = "";
        int r;

        r = check_writable(m, error);
        if (r < 0)
                return r;
        if (!driver || !*driver)
                driver = "vfio-pci";
        if (!driver_name_is_valid(driver) || !(pci_driver_is_vfio(driver) || streq(driver, "pci-stub")))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Invalid driver \"%.64s\": expected vfio-pci, a vfio variant driver or pci-stub",
                                         driver);
        d = find_present(m, a, error);
        if (!d)
                return -ENODEV;
        mr = manager_reservation_of(m, a, NULL);
        if (mr && mr->data->owner_uid != caller)
                return sd_bus_error_setf(error, BUS_ERROR_ALREADY_RESERVED, "%s is reserved by %s (reservation %s)",
                                         d->name, mr->data->owner, mr->data->id);
        if (mr && mr->data->state == RESERVATION_IN_USE)
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "%s is in use by the guest of reservation %s",
                                         d->name, mr->data->id);
        r = manager_verdict(m, a, mr ? mr->data->owner : "", &v);
        if (r < 0)
                return r;
        if (v.kind == VERDICT_NOT_ASSIGNABLE) {
                for (size_t k = 0; k < v.n_reasons; k++)
                        if (v.reasons[k].error)
                                append(reasons, sizeof reasons, "%s%s", reasons[0] ? ", " : "", v.reasons[k].text);
                verdict_done(&v);
                return sd_bus_error_setf(error, BUS_ERROR_NOT_ASSIGNABLE, "%s cannot be detached: %s", d->name, reasons);
        }
        verdict_done(&v);
        return single_job(m, REBIND_DETACH, d, driver, NULL, false, msg);
}

int manager_rebind_function(Manager *m, ManagedReservation *mr, const PciDevice *d, bool may_reset) {
        RebindJob *rj;
        int r;

        if (m->read_only || !m->jobs)
                return 0;
        r = rebind_job_new(m, REBIND_DETACH, 1, &rj);
        if (r < 0)
                return log_oom();
        rj->n = 1;
        rj->for_reservation = true;
        rj->driver = strdup(mr->data->driver ?: "vfio-pci");
        if (!rj->driver || rebind_function_init(&rj->functions[0], d, NULL, false) < 0) {
                rebind_job_free(rj);
                return log_oom();
        }
        if (!may_reset)
                rj->functions[0].has_reset = false;
        return submit(m, rj, mr, NULL);
}

int manager_reattach(Manager *m, const PciAddress *a, sd_bus_message *msg, sd_bus_error *error) {
        const DetachedFunction *df;
        ManagedReservation *mr;
        PciDevice *d;
        int r;

        r = check_writable(m, error);
        if (r < 0)
                return r;
        d = find_present(m, a, error);
        if (!d)
                return -ENODEV;
        mr = manager_reservation_of(m, a, NULL);
        if (mr)
                return sd_bus_error_setf(error, BUS_ERROR_ALREADY_RESERVED,
                                         "%s belongs to reservation %s of %s; use its Unprepare or Release", d->name,
                                         mr->data->id, mr->data->owner);
        df = manager_find_detached(m, a);
        if (df)
                return single_job(m, REBIND_REATTACH, d, NULL, df->host_driver, false, msg);
        if (d->driver && !driver_is_ours(d->driver))
                /* on a host driver and not detached by us: nothing to do */
                return single_job(m, REBIND_REATTACH, d, NULL, d->driver, false, msg);
        /* detached before we knew it: let the kernel choose */
        return single_job(m, REBIND_REATTACH, d, NULL, NULL, true, msg);
}

int manager_reset(Manager *m, const PciAddress *a, uid_t caller, sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_free_ PciDevice **scope = NULL;
        ManagedReservation *mr;
        char unsafe[1024] = "";
        size_t n_scope = 0;
        bool bus_method = false;
        PciDevice *d;
        int r;

        r = check_writable(m, error);
        if (r < 0)
                return r;
        d = find_present(m, a, error);
        if (!d)
                return -ENODEV;
        mr = manager_reservation_of(m, a, NULL);
        if (mr && mr->data->state == RESERVATION_IN_USE && mr->data->owner_uid != caller)
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "%s is in use by the guest of reservation %s of %s",
                                         d->name, mr->data->id, mr->data->owner);
        if (d->driver && !driver_is_ours(d->driver))
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "%s is bound to host driver %s; detach it first",
                                         d->name, d->driver);
        if (!d->has_reset)
                return sd_bus_error_setf(error, BUS_ERROR_OPERATION_FAILED,
                                         "%s has no reset method (the kernel offers none)", d->name);

        /* any reset of a PF resets its VFs */
        if (manager_vf_reset_conflicts(m, d, mr, caller, unsafe, sizeof unsafe) > 0)
                return sd_bus_error_setf(error, BUS_ERROR_UNSAFE_RESET,
                                         "A reset of %s would also reset its VFs %s", d->name, unsafe);

        /* The kernel tries the methods in order and falls back to the next
         * on ENOTTY: with `bus` listed at all, a bus reset may happen. */
        for (char **s = d->reset_methods; s && *s; s++)
                bus_method = bus_method || streq(*s, "bus");
        if (bus_method) {
                r = topology_bus_reset_scope(m->topology, d, &scope, &n_scope);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n_scope; i++) {
                        PciDevice *h = scope[i];
                        ManagedReservation *hr = manager_reservation_of(m, &h->address, NULL);
                        bool host = h->driver && !driver_is_ours(h->driver) && !pci_device_is_bridge(h);
                        bool other = hr && hr != mr && hr->data->owner_uid != caller;

                        if (host || other)
                                append(unsafe, sizeof unsafe, "%s%s (%s)", unsafe[0] ? ", " : "", h->name,
                                       host ? h->driver : hr->data->owner);
                }
                if (unsafe[0])
                        return sd_bus_error_setf(error, BUS_ERROR_UNSAFE_RESET,
                                                 "A bus reset of %s would also reset %s", d->name, unsafe);
        }
        return single_job(m, REBIND_RESET, d, NULL, NULL, false, msg);
}

/* ---- startup ---- */

int manager_rebind_start(Manager *m) {
        int r;

        m->test_crash_operation = -1;
        if (m->read_only)
                return 0;
#if ENABLE_TEST_HOOKS
        {
                const char *e = getenv("PCI_ASSIGND_TEST_CRASH");
                unsigned step;
                char op[16];

                if (e && sscanf(e, "%15[a-z]:%u", op, &step) == 2) {
                        m->test_crash_operation = streq(op, "prepare") ? JOURNAL_PREPARE :
                                                  streq(op, "unprepare") ? JOURNAL_UNPREPARE : -1;
                        m->test_crash_step = step;
                        log_notice("Test hook: will kill myself at step %u of the first %s.", step, op);
                }
        }
#endif
        r = sysfs_context_open(m->sysfs_root, &m->sysfs);
        if (r < 0)
                return log_error_errno(r, "Failed to open %s: %m", m->sysfs_root);
        r = job_queue_new(m->event, &m->jobs);
        if (r < 0)
                return log_error_errno(r, "Failed to start the job queue: %m");
        detached_load(m);
        return 0;
}

void manager_rebind_stop(Manager *m) {
        /* lets the running job end and answers every queued one; their
         * completions still use the model and the bus */
        m->jobs = job_queue_free(m->jobs);
        free(m->rebind_jobs);
        m->rebind_jobs = NULL;
        m->n_rebind_jobs = 0;
        detached_free_all(m);
        sysfs_context_close(&m->sysfs);
}

/* Re-reads one function's driver and override into the model. */
static void refresh_driver(Manager *m, const PciAddress *a) {
        PciDevice *d = topology_find(m->topology, a);
        char drv[DRIVER_BUF], ovr[DRIVER_BUF];

        if (!d || sysfs_read_driver(&m->sysfs, a, drv, sizeof drv) < 0 ||
            sysfs_read_override(&m->sysfs, a, ovr, sizeof ovr) < 0)
                return;
        free(d->driver);
        d->driver = drv[0] ? strdup(drv) : NULL;
        free(d->driver_override);
        d->driver_override = ovr[0] ? strdup(ovr) : NULL;
}

/* An interrupted Prepare is rolled back (every function to the driver it
 * had when it began, the state it had: usually `reserved`), an interrupted
 * Unprepare completed (every function to its host driver, `reserved`). */
static void reconcile_one(Manager *m, ManagedReservation *mr) {
        Reservation *res = mr->data;
        ReservationJournal *jr = res->journal;
        JournalOperation op = jr->operation;
        ReservationEvent ev;
        char errors[2048] = "";

        log_notice("Reservation %s: found an interrupted %s (step %u); %s.", res->id,
                   jr->operation == JOURNAL_PREPARE ? "Prepare" : "Unprepare", jr->step,
                   jr->operation == JOURNAL_PREPARE ? "rolling it back" : "completing it");
        for (size_t i = 0; i < jr->n_functions; i++) {
                JournalFunction *jf = &jr->functions[i];
                ReservationFunction *f = reservation_find_function(res, &jf->address);
                PciDevice *d = topology_find(m->topology, &jf->address);
                const char *target;
                SysfsError err;
                int r;

                if (!f || !d) {
                        char buf[PCI_ADDRESS_STRLEN];
                        append(errors, sizeof errors, "%s%s: not present", errors[0] ? "; " : "",
                               pci_address_format(&jf->address, buf));
                        continue;
                }
                target = op == JOURNAL_PREPARE ? jf->original_driver : f->host_driver;
                if (target && driver_is_ours(target))
                        r = sysfs_bind_override(&m->sysfs, &f->address, f->vendor_id, f->device_id, target, &err);
                else
                        r = sysfs_restore(&m->sysfs, &f->address, f->vendor_id, f->device_id, target, &err);
                if (r < 0)
                        append(errors, sizeof errors, "%s%s (step %s)", errors[0] ? "; " : "", err.message,
                               sysfs_step_to_string(err.step));
                else
                        log_info("Reservation %s: %s is on %s again.", res->id, d->name, target ?: "no driver");
                refresh_driver(m, &f->address);
        }
        res->journal = reservation_journal_free(res->journal);
        /* the state is written at the end of an operation only: what is
         * stored is the state before the interrupted one */
        if (errors[0]) {
                log_fields(LOG_ERR, 0, ((LogFields) { .reservation_id = res->id }),
                           "Reservation %s: reconciling failed: %s", res->id, errors);
                ev = RESERVATION_EVENT_ROLLBACK_FAILED;
        } else
                ev = op == JOURNAL_UNPREPARE ? RESERVATION_EVENT_UNPREPARE_DONE : RESERVATION_EVENT_PREPARE_FAILED;
        if (manager_reservation_apply(m, mr, ev, errors[0] ? LAST_ERROR_SET : LAST_ERROR_CLEAR, errors, 0, NULL) == -EBUSY)
                log_error("Reservation %s: a journal does not fit its stored state %s; leaving the state.", res->id,
                          reservation_state_to_string(res->state));
        else if (!errors[0])
                log_fields(LOG_NOTICE, 0,
                           ((LogFields) { .reservation_id = res->id, .message_id = LOG_MESSAGE_ID_RECONCILED }),
                           "Reservation %s reconciled: %s.", res->id, reservation_state_to_string(res->state));
}

/* Boot: a prepared reservation whose functions are back on host drivers
 * (a reboot) is bound again; what is bound already is left alone, not
 * reset (its guest may be running). */
static void ensure_prepared(Manager *m, ManagedReservation *mr) {
        Reservation *res = mr->data;
        char errors[2048] = "";
        int last_group = -2, n_bound = 0;

        for (size_t i = 0; i < res->n_functions; i++) {
                ReservationFunction *f = &res->functions[i];
                PciDevice *d = topology_find(m->topology, &f->address);
                SysfsError err;
                int r;

                if (!d) {
                        char buf[PCI_ADDRESS_STRLEN];
                        append(errors, sizeof errors, "%s%s is not present", errors[0] ? "; " : "",
                               pci_address_format(&f->address, buf));
                        continue;
                }
                if (d->driver && streq(d->driver, res->driver))
                        continue;
                r = sysfs_bind_override(&m->sysfs, &f->address, f->vendor_id, f->device_id, res->driver, &err);
                if (r >= 0 && d->has_reset) {
                        r = sysfs_reset(&m->sysfs, &f->address, f->vendor_id, f->device_id, &err);
                        if (r == -ENOTTY)
                                r = 0;
                }
                if (r < 0)
                        append(errors, sizeof errors, "%s%s (step %s)", errors[0] ? "; " : "", err.message,
                               sysfs_step_to_string(err.step));
                else
                        n_bound++;
                refresh_driver(m, &f->address);
        }
        for (size_t i = 0; i < res->n_functions && !errors[0]; i++) {
                PciDevice *d = topology_find(m->topology, &res->functions[i].address);
                SysfsError err;

                if (!d || d->iommu_group < 0 || d->iommu_group == last_group)
                        continue;
                last_group = d->iommu_group;
                if (sysfs_group_check(&m->sysfs, d->iommu_group, m->dev_root, &err) < 0)
                        append(errors, sizeof errors, "%s", err.message);
        }
        if (errors[0]) {
                log_error("Reservation %s: binding its functions to %s again failed: %s", res->id, res->driver, errors);
                (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, LAST_ERROR_SET, errors, 0,
                                                 NULL);
        } else if (n_bound > 0)
                log_notice("Reservation %s: %d function(s) bound to %s again (they were not after the restart).",
                           res->id, n_bound, res->driver);
}

int manager_reconcile(Manager *m) {
        bool changed = false;
        int r;

        if (m->read_only) {
                for (size_t i = 0; i < m->n_reservations; i++)
                        if (m->reservations[i]->data->journal)
                                log_warning("Reservation %s has an interrupted operation; read-only, leaving it.",
                                            m->reservations[i]->data->id);
                return 0;
        }
        for (size_t i = 0; i < m->n_reservations; i++) {
                ManagedReservation *mr = m->reservations[i];

                if (mr->data->journal) {
                        reconcile_one(m, mr);
                        changed = true;
                }
        }
        /* orphans (transient, owner gone) are given back after READY, not
         * bound again now (manager_startup_finish()) */
        for (size_t i = 0; i < m->n_reservations; i++) {
                ManagedReservation *mr = m->reservations[i];
                ReservationState s = mr->data->state;

                if (!mr->orphan && (s == RESERVATION_PREPARED || s == RESERVATION_IN_USE)) {
                        ensure_prepared(m, mr);
                        changed = changed || mr->data->state != s;
                }
        }
        /* functions Detach()ed before a restart that are not ours any more */
        for (size_t i = m->n_detached; i > 0; i--) {
                PciDevice *d = topology_find(m->topology, &m->detached[i - 1].address);
                if (!d || !driver_is_ours(d->driver)) {
                        detached_remove(m, &m->detached[i - 1].address);
                        (void) detached_save(m);
                }
        }
        manager_invalidate_verdicts(m);
        if (!changed)
                return 0;
        r = manager_save_reservations(m);
        if (r < 0)
                return r;
        return 0;
}
