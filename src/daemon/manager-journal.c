/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The journal of Prepare/Unprepare, main-loop side: written to the state
 * file before each step (the worker asks through job_call_main()), so a
 * daemon that died half-way knows at its next start which operation was
 * running and which driver every function had; and that start-up
 * reconciliation (manager_reconcile()): an interrupted Prepare is rolled
 * back, an interrupted Unprepare completed, prepared reservations bound
 * again after a reboot, stale Detach records dropped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "config.h"
#include "log.h"
#include "rebind-job.h"
#include "store.h"

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

int rebind_journal_begin_main(Job *j, void *userdata) {
        RebindJob *rj = (RebindJob *) j;
        Manager *m = rj->manager;
        ManagedReservation *mr = manager_find_reservation(m, rj->id);
        _cleanup_reservation_journal_ ReservationJournal *journal = NULL;
        int r;

        if (!mr) {
                rebind_set_error(rj, BUS_ERROR_NO_SUCH_RESERVATION, "Reservation %s is gone", rj->id);
                return -ENOENT;
        }
        if (manager_reservation_guest_may_run(mr)) {
                rebind_set_error(rj, BUS_ERROR_IN_USE, "Reservation %s is in use by its guest; %s refused",
                          rj->id, rebind_kind_names[rj->kind]);
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
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED,
                          "%s of reservation %s not started: cannot write the journal to %s/%s: %s",
                          rebind_kind_names[rj->kind], rj->id, m->state_dir, STORE_FILE_NAME, strerror(-r));
                return r;
        }
        rj->journaled = true;
        /* the journal now says step 0: journal_step(rj, 0) writes nothing */
        crash_hook(m, mr, 0);
        return 0;
}

int rebind_journal_step_main(Job *j, void *userdata) {
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
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED,
                          "%s of reservation %s stopped before step %u: cannot write the journal to %s/%s: %s",
                          rebind_kind_names[rj->kind], rj->id, step, m->state_dir, STORE_FILE_NAME, strerror(-r));
                return r;
        }
        crash_hook(m, mr, step);
        return 0;
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

        log_notice("Reservation %s: found an interrupted %s (step %u)%s; %s.", res->id,
                   jr->operation == JOURNAL_PREPARE ? "Prepare" : "Unprepare", jr->step,
                   m->rebooted ? " from before a reboot" : "",
                   m->rebooted ? "the reboot undid it, nothing bound at boot is unbound" :
                   jr->operation == JOURNAL_PREPARE ? "rolling it back" : "completing it");
        for (size_t i = 0; i < jr->n_functions; i++) {
                JournalFunction *jf = &jr->functions[i];
                ReservationFunction *f = reservation_find_function(res, &jf->address);
                PciDevice *d = topology_find(m->topology, &jf->address);
                const char *target;
                HostBinding hb;
                SysfsError err;
                int r;

                if (!f || !d) {
                        char buf[PCI_ADDRESS_STRLEN];
                        rebind_append(errors, sizeof errors, "%s%s: not present", errors[0] ? "; " : "",
                               pci_address_format(&jf->address, buf));
                        continue;
                }
                /* Unprepare: the one host-driver decision, as the job would have;
                 * an adopted binding goes back exactly, as in the job */
                manager_host_binding(m, d, &hb);
                target = op == JOURNAL_PREPARE ? jf->original_driver : hb.driver;
                if (m->rebooted && (d->driver || !target || driver_is_ours(target))) {
                        /* the reboot undid what the operation did: what
                         * the kernel bound at boot stays (never unbound,
                         * even if the function had no driver before);
                         * our drivers are for the re-apply of a prepared
                         * reservation to judge */
                        log_info("Reservation %s: %s stays on %s, as the kernel left it at boot.", res->id, d->name,
                                 d->driver ?: "no driver");
                        continue;
                }
                if (target && hb.adopted && streq(target, hb.driver))
                        r = sysfs_bind_exact(&m->sysfs, &f->address, f->vendor_id, f->device_id, target, hb.override,
                                             &err);
                else if (target && driver_is_ours(target))
                        r = sysfs_bind_override(&m->sysfs, &f->address, f->vendor_id, f->device_id, target, &err);
                else
                        r = sysfs_restore(&m->sysfs, &f->address, f->vendor_id, f->device_id, target, &err);
                if (r < 0)
                        rebind_append(errors, sizeof errors, "%s%s (step %s)", errors[0] ? "; " : "", err.message,
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

static void check_groups(Manager *m, ManagedReservation *mr, char *errors, size_t size) {
        Reservation *res = mr->data;
        int last_group = -2;

        for (size_t i = 0; i < res->n_functions; i++) {
                PciDevice *d = topology_find(m->topology, &res->functions[i].address);
                SysfsError err;

                if (!d || d->iommu_group < 0 || d->iommu_group == last_group)
                        continue;
                last_group = d->iommu_group;
                if (sysfs_group_check(&m->sysfs, d->iommu_group, m->dev_root, &err) < 0)
                        rebind_append(errors, size, "%s%s", errors[0] ? "; " : "", err.message);
        }
}

/* Start: a prepared (or in-use) reservation whose functions are not all
 * on its vfio driver (after a reboot they are on host drivers, or none) is
 * bound again, after the checks Prepare makes: the verdict for its owner
 * (host usage, group, what is at the address; identity and serial number
 * were compared by manager_reservations_check_present()).  A function
 * that fails them stops it: nothing is bound, the reservation is
 * degraded, and LastError says which function and why.  The binds go
 * through the job queue (a bind can block, the main loop keeps running);
 * the bus name is taken once they have ended (manager_reapply_job_done()).
 * What is bound already is left alone, not reset (its guest may run). */
static void ensure_prepared(Manager *m, ManagedReservation *mr) {
        Reservation *res = mr->data;
        char errors[2048] = "";
        unsigned n_todo = 0;

        for (size_t i = 0; i < res->n_functions; i++) {
                ReservationFunction *f = &res->functions[i];
                PciDevice *d = topology_find(m->topology, &f->address);
                Verdict v = {};
                char reasons[1024] = "";

                if (!d || (d->driver && streq(d->driver, res->driver)))
                        continue;
                n_todo++;
                if (manager_verdict(m, &f->address, res->owner, &v) < 0) {
                        rebind_append(errors, sizeof errors, "%s%s: its verdict cannot be computed",
                                      errors[0] ? "; " : "", d->name);
                        continue;
                }
                if (v.kind == VERDICT_NOT_ASSIGNABLE) {
                        for (size_t k = 0; k < v.n_reasons; k++)
                                if (v.reasons[k].error)
                                        rebind_append(reasons, sizeof reasons, "%s%s", reasons[0] ? ", " : "",
                                                      v.reasons[k].text);
                        rebind_append(errors, sizeof errors, "%s%s is not assignable any more: %s",
                                      errors[0] ? "; " : "", d->name, reasons);
                }
                verdict_done(&v);
        }
        if (n_todo == 0) {
                /* all bound: still every group viable, /dev/vfio/N there */
                check_groups(m, mr, errors, sizeof errors);
                if (errors[0]) {
                        log_error("Reservation %s: %s", res->id, errors);
                        (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, LAST_ERROR_SET,
                                                         errors, 0, NULL);
                }
                return;
        }
        if (errors[0]) {
                log_fields(LOG_ERR, 0, ((LogFields) { .reservation_id = res->id }),
                           "Reservation %s: not binding its functions to %s again: %s", res->id, res->driver,
                           errors);
                (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, LAST_ERROR_SET, errors,
                                                 0, NULL);
                return;
        }
        log_notice("Reservation %s: binding %u function(s) to %s again (they are not on it%s).", res->id, n_todo,
                   res->driver, m->rebooted ? " after the reboot" : "");
        mr->reapplying = true;
        mr->n_reapplied = 0;
        for (size_t i = 0; i < res->n_functions; i++) {
                PciDevice *d = topology_find(m->topology, &res->functions[i].address);
                bool may_reset;

                if (!d || (d->driver && streq(d->driver, res->driver)))
                        continue;
                /* after a reboot no guest runs: reset as Prepare does;
                 * after a restart only what resets nothing else */
                may_reset = d->has_reset && (m->rebooted || manager_function_resets_alone(d));
                if (manager_reapply_function(m, mr, d, may_reset) <= 0)
                        rebind_append(errors, sizeof errors, "%s%s: cannot queue its bind", errors[0] ? "; " : "",
                                      d->name);
        }
        if (errors[0])
                manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, errors);
        if (mr->jobs == 0)
                mr->reapplying = false;
}

void manager_reapply_job_done(Manager *m, ManagedReservation *mr, bool ok) {
        char errors[1024] = "";

        if (m->startup_reapplies > 0)
                m->startup_reapplies--;
        if (mr && ok)
                mr->n_reapplied++;
        if (mr && mr->reapplying && mr->jobs == 0) {
                mr->reapplying = false;
                check_groups(m, mr, errors, sizeof errors);
                if (errors[0]) {
                        log_error("Reservation %s: bound to %s again, but: %s", mr->data->id, mr->data->driver,
                                  errors);
                        manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, errors);
                } else if (mr->n_reapplied > 0)
                        log_fields(LOG_NOTICE, 0, ((LogFields) { .reservation_id = mr->data->id }),
                                   "Reservation %s: %u function(s) bound to %s again (they were not after the %s).",
                                   mr->data->id, mr->n_reapplied, mr->data->driver,
                                   m->rebooted ? "reboot" : "restart");
        }
        if (m->startup_reapplies == 0 && !m->name_requested)
                (void) manager_startup_ready(m);
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
        /* Detach, Reattach, takeover: their failures are logged, and
         * what they leave is read back into the model */
        (void) manager_operations_reconcile(m);
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
                        manager_detached_forget(m, &m->detached[i - 1].address);
                        (void) manager_detached_store(m);
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
