/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Driver rebinding and reset, the main loop's part: every write to a
 * function's driver binding or `reset` is a job of the one queue
 * (src/shared/job-queue.c), run in order by its worker thread
 * (rebind-steps.c, with the steps of src/sysfs-ops.c).  Here: submission,
 * the deadline and completion (the model updated, the caller answered).
 *
 * A reservation's Prepare/Unprepare is journaled in the state file before
 * each step (job_call_main() asks the main loop, which owns the file, to
 * write it: manager-journal.c), so a daemon that died half-way knows at its
 * next start which operation was running and which driver every function
 * had; see manager_reconcile().  The D-Bus call is answered when its job
 * ends, or with an error when it runs longer than --job-timeout (the job
 * goes on: an unbind from vfio-pci blocks in the kernel while a VMM holds
 * the device, and nothing can interrupt it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus-errors.h"
#include "config.h"
#include "detached-store.h"
#include "log.h"
#include "manager-dbus.h"
#include "rebind-job.h"
#include "reservation-dbus.h"

/* ---- the detached-functions file ---- */

const DetachedFunction *manager_find_detached(Manager *m, const PciAddress *a) {
        return detached_find(m->detached, m->n_detached, a);
}

void manager_detached_forget(Manager *m, const PciAddress *a) {
        detached_remove(m->detached, &m->n_detached, a);
}

int manager_detached_record(Manager *m, const PciAddress *a, const char *host_driver) {
        return detached_add(&m->detached, &m->n_detached, a, host_driver);
}

int manager_detached_adopt(Manager *m, const PciAddress *a, const char *driver, const char *override) {
        return detached_adopt(&m->detached, &m->n_detached, a, driver, override);
}

void manager_detached_free_all(Manager *m) {
        detached_free(m->detached, m->n_detached);
        m->detached = NULL;
        m->n_detached = 0;
}

int manager_detached_store(Manager *m) {
        int r;

        if (mkdir(m->runtime_dir, 0755) < 0 && errno != EEXIST)
                r = negative_errno();
        else
                r = detached_save(m->runtime_dir, m->detached, m->n_detached);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s/%s (Reattach after a restart will let the kernel "
                                  "choose the driver): %m", m->runtime_dir, DETACHED_FILE_NAME);
        return r;
}

void manager_detached_read(Manager *m) {
        int r;

        r = detached_load(m->runtime_dir, &m->detached, &m->n_detached);
        if (r == -EPROTONOSUPPORT)
                log_warning("%s/%s was written by a newer pci-assignd; forgetting which drivers detached "
                            "functions came from.", m->runtime_dir, DETACHED_FILE_NAME);
        else if (r < 0)
                log_warning_errno(r, "%s/%s is unreadable (%m); forgetting which drivers detached functions "
                                  "came from.", m->runtime_dir, DETACHED_FILE_NAME);
}

/* ---- main loop: submission, deadline, completion ---- */

static void job_list_remove(Manager *m, RebindJob *rj) {
        for (size_t i = 0; i < m->n_rebind_jobs; i++)
                if (m->rebind_jobs[i] == rj) {
                        memmove(m->rebind_jobs + i, m->rebind_jobs + i + 1,
                                (m->n_rebind_jobs - i - 1) * sizeof(*m->rebind_jobs));
                        m->n_rebind_jobs--;
                        manager_status_dirty(m);
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
                log_debug_errno(r, "Failed to send the reply of %s: %m", rebind_kind_names[rj->kind]);
        rj->reply = sd_bus_message_unref(rj->reply);
}

static void describe_target(RebindJob *rj, char *buf, size_t size) {
        if (rj->id[0])
                snprintf(buf, size, "%s of reservation %s", rebind_kind_names[rj->kind], rj->id);
        else
                snprintf(buf, size, "%s of %s", rebind_kind_names[rj->kind], rj->n > 0 ? rj->functions[0].name : "?");
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

/* The end of a job, with its reservation and functions as journal fields.
 * No MESSAGE_ID here: the state change the job's end causes carries it
 * (one MESSAGE_ID per event, see manager-reservations.c). */
static void log_job_end(RebindJob *rj, ManagedReservation *mr, const char *what) {
        char bufs[8][PCI_ADDRESS_STRLEN];
        const char *addrs[9] = {};
        const char *id = rj->id[0] ? rj->id : mr ? mr->data->id : NULL;
        LogFields f = { .reservation_id = id, .pci_addresses = addrs };

        for (size_t i = 0; i < rj->n && i < 8; i++)
                addrs[i] = pci_address_format(&rj->functions[i].address, bufs[i]);
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
                rebind_set_error(rj, rj->cancel_error_name, "%s", rj->cancel_message);
        else if (result == -ECANCELED && !rj->error_name)
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s cancelled: pci-assignd is stopping; nothing was changed",
                          what);
        if (result < 0 && !rj->error_name)
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s failed: %s", what, strerror(-result));

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
                                manager_invalidate_verdicts(m);
                                manager_dbus_reservation_changed(m, mr);
                        }
                } else if (changed) {
                        r = manager_save_reservations(m);
                        if (r < 0)
                                log_error_errno(r, "Failed to store the end of %s: %m", what);
                        manager_invalidate_verdicts(m);
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
                if (rj->startup_reapply)
                        manager_reapply_job_done(m, mr, !rj->error_name);
        } else if (rj->kind == REBIND_DETACH && !rj->error_name) {
                RebindFunction *f = &rj->functions[0];
                /* Record where it came from: a host driver, or none.  One
                 * that was on our drivers already keeps an earlier record;
                 * without one, and unreserved (a reservation has its own),
                 * it is the admin's binding: adopted, for Reattach to
                 * give back exactly. */
                if (!driver_is_ours(f->before) && manager_detached_record(m, &f->address, f->before[0] ? f->before : NULL) >= 0)
                        (void) manager_detached_store(m);
                else if (driver_is_adoptable(f->before) && !manager_find_detached(m, &f->address) &&
                         !manager_reservation_of(m, &f->address, NULL) &&
                         manager_detached_adopt(m, &f->address, f->before,
                                                driver_name_is_valid(f->override_before) ? f->override_before : NULL) >= 0)
                        (void) manager_detached_store(m);
        } else if (rj->kind == REBIND_REATTACH && !rj->error_name) {
                manager_detached_forget(m, &rj->functions[0].address);
                (void) manager_detached_store(m);
        }

        /* after the Detach record: a kill in between finds both */
        manager_operation_end(m, rj);
        log_job_end(rj, mr, what);

        if (rj->release_after && mr && !rj->error_name) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                r = manager_release(m, mr, &error);
                if (r < 0)
                        rebind_set_error(rj, error.name ?: BUS_ERROR_OPERATION_FAILED, "%s",
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
        rj->job.work = rebind_work;
        *ret = rj;
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
        manager_status_dirty(m);
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
        /* Prepare needs every function as reserved; Unprepare gives back
         * those that are (a missing one has no driver to leave, and
         * another device at the address is not ours to touch) */
        for (size_t i = 0; kind == REBIND_PREPARE && i < res->n_functions; i++) {
                char why[256];

                if (!manager_function_as_reserved(m, &res->functions[i], why, sizeof why))
                        return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "Reservation %s: %s", res->id,
                                                 why);
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
                                        rebind_append(reasons, sizeof reasons, "%s%s", reasons[0] ? ", " : "",
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
                HostBinding hb;
                char why[256];

                if (!d || !manager_function_as_reserved(m, f, why, sizeof why))
                        continue;
                /* the one host-driver decision (manager_host_driver()):
                 * where Unprepare, Release and a rollback give it back */
                manager_host_binding(m, d, &hb);
                r = rebind_function_init(&rj->functions[rj->n], d, hb.driver, false);
                if (r >= 0)
                        r = rebind_function_adopt(&rj->functions[rj->n], &hb);
                rj->n++;
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
        if (r >= 0 && kind == REBIND_REATTACH) {
                HostBinding hb;

                manager_host_binding(m, d, &hb);
                r = rebind_function_adopt(&rj->functions[0], &hb);
        }
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
        /* driver: checked by the bus layer (manager-dbus.c) */
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
                                rebind_append(reasons, sizeof reasons, "%s%s", reasons[0] ? ", " : "", v.reasons[k].text);
                verdict_done(&v);
                return sd_bus_error_setf(error, BUS_ERROR_NOT_ASSIGNABLE, "%s cannot be detached: %s", d->name, reasons);
        }
        verdict_done(&v);
        return single_job(m, REBIND_DETACH, d, driver, NULL, false, msg);
}

static int rebind_function_job(Manager *m, ManagedReservation *mr, const PciDevice *d, bool may_reset,
                               bool startup_reapply) {
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
        rj->startup_reapply = startup_reapply;
        r = submit(m, rj, mr, NULL);
        if (r >= 0 && startup_reapply)
                m->startup_reapplies++;
        return r;
}

int manager_rebind_function(Manager *m, ManagedReservation *mr, const PciDevice *d, bool may_reset) {
        return rebind_function_job(m, mr, d, may_reset, false);
}

int manager_reapply_function(Manager *m, ManagedReservation *mr, const PciDevice *d, bool may_reset) {
        return rebind_function_job(m, mr, d, may_reset, true);
}

int manager_reattach(Manager *m, const PciAddress *a, sd_bus_message *msg, sd_bus_error *error) {
        ManagedReservation *mr;
        const char *host;
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
        /* the one host-driver decision: Detach's record, else a host
         * driver it is on (nothing to do); with neither it was detached
         * before we knew it: let the kernel choose (reprobe) */
        host = manager_host_driver(m, d);
        return single_job(m, REBIND_REATTACH, d, NULL, host, !host && !manager_find_detached(m, a), msg);
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
                                rebind_append(unsafe, sizeof unsafe, "%s%s (%s)", unsafe[0] ? ", " : "", h->name,
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
        manager_detached_read(m);
        manager_operations_read(m);
        return 0;
}

void manager_rebind_stop(Manager *m) {
        /* lets the running job end and answers every queued one; their
         * completions still use the model and the bus */
        m->jobs = job_queue_free(m->jobs);
        free(m->rebind_jobs);
        m->rebind_jobs = NULL;
        m->n_rebind_jobs = 0;
        manager_detached_free_all(m);
        op_journal_done(&m->operations);
        sysfs_context_close(&m->sysfs);
}
