/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The worker thread's side of a rebind job: the sysfs step sequences of
 * Prepare, Unprepare, Detach, Reattach and Reset (src/sysfs-ops.c does
 * each step), the journal written before each step through the main loop
 * (job_call_main(), manager-journal.c).  Nothing here touches the model:
 * what the steps left is read back into the job, and the main loop
 * applies it when the job ends (manager-rebind.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "log.h"
#include "rebind-job.h"

static int journal_step(RebindJob *rj, uint32_t step) {
        /* step 0 is in the journal rebind_journal_begin_main() wrote */
        if (!rj->journaled || step == 0)
                return 0;
        return job_call_main(&rj->job, rebind_journal_step_main, (void *) (uintptr_t) step);
}

/* ---- worker side ---- */

static void read_befores(RebindJob *rj) {
        for (size_t i = 0; i < rj->n; i++) {
                RebindFunction *f = &rj->functions[i];

                if (sysfs_read_driver(&rj->manager->sysfs, &f->address, f->before, sizeof f->before) < 0)
                        f->before[0] = 0;
                if (sysfs_read_override(&rj->manager->sysfs, &f->address, f->override_before,
                                        sizeof f->override_before) < 0)
                        f->override_before[0] = 0;
        }
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
        rebind_progress(rj, "bind %s to %s", f->name, driver);
        f->touched = true;
        /* an unbind from another vfio driver can block like any */
        __atomic_store_n(&rj->blocked_on_vfio, driver_is_ours(f->before), __ATOMIC_RELAXED);
        int r = sysfs_bind_override(&rj->manager->sysfs, &f->address, f->vendor, f->device, driver, err);
        __atomic_store_n(&rj->blocked_on_vfio, 0, __ATOMIC_RELAXED);
        return r;
}

/* Gives f back to `target` (a host driver, none, or one of ours; its
 * adopted binding exactly, driver_override included). */
static int give_back(RebindJob *rj, RebindFunction *f, const char *target, bool reprobe, SysfsError *err) {
        Manager *m = rj->manager;
        char cur[DRIVER_BUF] = "";
        int r;

        if (target && f->adopted && streq_ptr(target, f->host_driver)) {
                (void) sysfs_read_driver(&m->sysfs, &f->address, cur, sizeof cur);
                rebind_progress(rj, "give %s back to %s, the admin's binding (driver_override %s)", f->name, target,
                                f->host_override ?: "unset");
                f->touched = true;
                __atomic_store_n(&rj->blocked_on_vfio, driver_is_ours(cur) && !streq(cur, target), __ATOMIC_RELAXED);
                r = sysfs_bind_exact(&m->sysfs, &f->address, f->vendor, f->device, target, f->host_override, err);
                __atomic_store_n(&rj->blocked_on_vfio, 0, __ATOMIC_RELAXED);
                return r;
        }
        if (target && driver_is_ours(target)) {
                f->touched = true;
                rebind_progress(rj, "bind %s to %s again", f->name, target);
                return sysfs_bind_override(&m->sysfs, &f->address, f->vendor, f->device, target, err);
        }
        (void) sysfs_read_driver(&m->sysfs, &f->address, cur, sizeof cur);
        rebind_progress(rj, "give %s back to %s (unbind from %s)", f->name,
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

        rebind_progress(rj, "reset %s", f->name);
        f->touched = true;
        r = sysfs_reset(&rj->manager->sysfs, &f->address, f->vendor, f->device, err);
        if (r == -ENOTTY && tolerate_no_method) {
                rebind_append(rj->warnings, sizeof rj->warnings, "%s%s", rj->warnings[0] ? "; " : "", err->message);
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
                        rebind_append(rj->message, sizeof rj->message, "; and putting %s back failed (step %s): %s", f->name,
                               sysfs_step_to_string(err.step), err.message);
                }
        }
        if (!rj->rollback_failed)
                rebind_append(rj->message, sizeof rj->message, "; every function is back where it was");
}

static int verify_prepared(RebindJob *rj) {
        Manager *m = rj->manager;
        int last_group = -2;

        rebind_progress(rj, "verify");
        for (size_t i = 0; i < rj->n; i++) {
                RebindFunction *f = &rj->functions[i];
                char cur[DRIVER_BUF];
                int r;

                r = sysfs_read_driver(&m->sysfs, &f->address, cur, sizeof cur);
                if (r < 0 || !streq(cur, rj->driver)) {
                        rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s of reservation %s failed (step verify): %s: %s",
                                  rebind_kind_names[rj->kind], rj->id, f->name,
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
                        rebind_set_step_error(rj, &err);
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

        rebind_progress(rj, "start");
        read_befores(rj);
        r = job_call_main(j, rebind_journal_begin_main, NULL);
        if (r < 0)
                goto finish;

        /* steps 0..n-1: bind */
        for (uint32_t i = 0; i < n; i++) {
                r = journal_step(rj, i);
                if (r < 0)
                        goto fail;
                r = bind_vfio(rj, &rj->functions[i], rj->driver, &err);
                if (r < 0) {
                        rebind_set_step_error(rj, &err);
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
                        rebind_append(rj->warnings, sizeof rj->warnings, "%s%s: no reset method", rj->warnings[0] ? "; " : "",
                               f->name);
                        continue;
                }
                r = reset_function(rj, f, true, &err);
                if (r < 0) {
                        rebind_set_step_error(rj, &err);
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

        rebind_progress(rj, "start");
        read_befores(rj);
        r = job_call_main(j, rebind_journal_begin_main, NULL);
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
                        rebind_append(rj->warnings, sizeof rj->warnings, "%s%s", rj->warnings[0] ? "; " : "", err.message);
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
                        rebind_set_step_error(rj, &err);
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

        rebind_progress(rj, "start");
        read_befores(rj);
        r = job_call_main(j, rebind_op_begin_main, NULL);
        if (r < 0) {
                read_afters(rj);
                return r;
        }
        r = bind_vfio(rj, f, rj->driver, &err);
        if (r >= 0 && f->has_reset)
                r = reset_function(rj, f, true, &err);
        if (r >= 0) {
                r = sysfs_read_driver(&rj->manager->sysfs, &f->address, cur, sizeof cur);
                if (r < 0 || !streq(cur, rj->driver)) {
                        rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "Detach failed (step verify): %s: %s", f->name,
                                  r < 0 ? strerror(-r) : "not bound to the vfio driver");
                        rollback(rj);
                        r = -EIO;
                }
        } else {
                rebind_set_step_error(rj, &err);
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

        rebind_progress(rj, "start");
        read_befores(rj);
        r = job_call_main(j, rebind_op_begin_main, NULL);
        if (r < 0) {
                read_afters(rj);
                return r;
        }
        r = give_back(rj, f, f->host_driver, f->reprobe, &err);
        if (r < 0)
                rebind_set_step_error(rj, &err);
        read_afters(rj);
        return r;
}

static int reset_work(Job *j) {
        RebindJob *rj = (RebindJob *) j;
        SysfsError err;
        int r;

        rebind_progress(rj, "start");
        read_befores(rj);
        r = reset_function(rj, &rj->functions[0], false, &err);
        if (r < 0)
                rebind_set_step_error(rj, &err);
        read_afters(rj);
        return r;
}

int rebind_work(Job *j) {
        switch (((RebindJob *) j)->kind) {
        case REBIND_PREPARE:   return prepare_work(j);
        case REBIND_UNPREPARE: return unprepare_work(j);
        case REBIND_DETACH:    return detach_work(j);
        case REBIND_REATTACH:  return reattach_work(j);
        default:               return reset_work(j);
        }
}
