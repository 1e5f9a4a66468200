/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The journal of single-function operations (op-journal.h): Detach,
 * Reattach and the takeover rebind of a reserved function are written to
 * $RUNTIME_DIRECTORY/operations.json before their first sysfs write (the
 * worker asks through job_call_main()) and removed when they end; at start
 * (manager_operations_reconcile()) an interrupted one is finished or
 * rolled back, so that no kill leaves a stray driver_override:
 *
 *   detach    on its vfio driver already: completed (recorded as
 *             detached, the override set); otherwise rolled back (the
 *             driver and the override it had)
 *   reattach  still on the vfio driver it began on: rolled back (its
 *             driver_override as it was then: Reattach can be called
 *             again); otherwise completed (its host driver, or an adopted
 *             binding exactly)
 *   takeover  completed: bound to the reservation's vfio driver (no
 *             reset: its guest may run); the reservation leaves degraded
 *             if that was all that was wrong
 *
 * None of these unbinds a vfio driver, which blocks while a VMM holds the
 * device: start-up never waits for a guest. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-errors.h"
#include "fileio.h"
#include "log.h"
#include "rebind-job.h"

static const char *boot_id_path(void) {
        const char *p = getenv("PCI_ASSIGND_BOOT_ID_FILE");
        return p && *p ? p : NULL;
}

/* $STATE_DIRECTORY/last-boot: the boot ID of the daemon's last start,
 * written at every start after reconciliation and before anything else
 * may change the host; so a journal in state.json is always from the boot
 * that file names, and a prepared reservation was prepared (or bound
 * again) in it. */
#define LAST_BOOT_FILE_NAME "last-boot"

void manager_boot_id_read(Manager *m) {
        char path[PATH_MAX], last[BOOT_ID_STRLEN];
        int r = boot_id_read(boot_id_path(), m->boot_id);

        m->rebooted = false;
        if (r < 0) {
                m->boot_id[0] = 0;
                log_warning_errno(r, "Cannot read the boot ID from %s (%m): a reboot cannot be told from a restart.",
                                  boot_id_path() ?: "/proc/sys/kernel/random/boot_id");
                return;
        }
        snprintf(path, sizeof path, "%s/" LAST_BOOT_FILE_NAME, m->state_dir);
        r = boot_id_read(path, last);
        if (r == -ENOENT)
                return;   /* first start, or an older daemon's directory */
        if (r < 0) {
                log_warning_errno(r, "Cannot read %s (%m): taking this start for a restart.", path);
                return;
        }
        m->rebooted = !streq(last, m->boot_id);
        if (m->rebooted)
                log_info("The host was rebooted since the last start (boot %s, now %s).", last, m->boot_id);
}

int manager_boot_id_store(Manager *m) {
        char text[BOOT_ID_STRLEN + 1];
        int r;

        if (m->read_only || !m->boot_id[0])
                return 0;
        snprintf(text, sizeof text, "%s\n", m->boot_id);
        r = write_file_atomic(m->state_dir, LAST_BOOT_FILE_NAME, text, strlen(text), 0644);
        if (r < 0) {
                char path[PATH_MAX];

                /* an older boot's ID left there would make the next start
                 * in this boot take a restart for a reboot, and leave what
                 * an interrupted operation did: without one it is taken
                 * for a restart, which reconciles everything */
                snprintf(path, sizeof path, "%s/" LAST_BOOT_FILE_NAME, m->state_dir);
                log_warning_errno(r, "Failed to write %s: %m; removing it.", path);
                if (unlink(path) < 0 && errno != ENOENT)
                        log_error_errno(errno, "Failed to remove %s (%m): the next start in this boot would take "
                                        "itself for the first after a reboot.", path);
        }
        return r;
}

static int operations_store(Manager *m) {
        int r;

        if (!m->operations.boot_id[0])
                memcpy(m->operations.boot_id, m->boot_id[0] ? m->boot_id : "00000000-0000-0000-0000-000000000000",
                       BOOT_ID_STRLEN);
        r = op_journal_save(m->runtime_dir, &m->operations);
        if (r < 0)
                log_warning_errno(r, "Failed to write %s/%s: %m", m->runtime_dir, OP_JOURNAL_FILE_NAME);
        return r;
}

void manager_operations_read(Manager *m) {
        int r = op_journal_load(m->runtime_dir, &m->operations);

        if (r == -EPROTONOSUPPORT)
                log_warning("%s/%s was written by a newer pci-assignd; its interrupted operations are not "
                            "reconciled.", m->runtime_dir, OP_JOURNAL_FILE_NAME);
        else if (r < 0)
                log_warning_errno(r, "%s/%s is unreadable (%m); its interrupted operations are not reconciled.",
                                  m->runtime_dir, OP_JOURNAL_FILE_NAME);
}

int rebind_op_begin_main(Job *j, void *userdata) {
        RebindJob *rj = (RebindJob *) j;
        Manager *m = rj->manager;
        RebindFunction *f = &rj->functions[0];
        ManagedReservation *mr = NULL;
        FunctionOperation op = {
                .address = f->address,
                .vendor_id = f->vendor,
                .device_id = f->device,
                .driver = f->before[0] ? f->before : NULL,
                .driver_override = f->override_before[0] ? f->override_before : NULL,
        };
        int r;

        if (rj->kind == REBIND_DETACH && rj->for_reservation) {
                mr = manager_reservation_of(m, &f->address, NULL);
                if (!mr) {
                        rebind_set_error(rj, BUS_ERROR_NO_SUCH_RESERVATION, "%s is not reserved any more", f->name);
                        return -ENOENT;
                }
                op.kind = FUNCTION_OP_TAKEOVER;
                op.target = rj->driver;
                op.reservation = mr->data->id;
        } else if (rj->kind == REBIND_DETACH) {
                op.kind = FUNCTION_OP_DETACH;
                op.target = rj->driver;
        } else {
                op.kind = FUNCTION_OP_REATTACH;
                op.target = f->host_driver;
                op.reprobe = f->reprobe;
        }
        r = op_journal_add(&m->operations, &op);
        if (r < 0)
                return r;
        r = operations_store(m);
        if (r < 0) {
                (void) op_journal_remove(&m->operations, &f->address);
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s of %s not started: cannot write the journal to %s/%s: %s",
                                 mr ? "Binding back" : rebind_kind_names[rj->kind], f->name, m->runtime_dir,
                                 OP_JOURNAL_FILE_NAME, strerror(-r));
                return r;
        }
        rj->op_journaled = true;
        return 0;
}

void manager_operation_end(Manager *m, RebindJob *rj) {
        if (!rj->op_journaled)
                return;
        rj->op_journaled = false;
        if (op_journal_remove(&m->operations, &rj->functions[0].address))
                (void) operations_store(m);
}

static void refresh(Manager *m, PciDevice *d) {
        char drv[DRIVER_BUF], ovr[DRIVER_BUF];

        if (sysfs_read_driver(&m->sysfs, &d->address, drv, sizeof drv) < 0 ||
            sysfs_read_override(&m->sysfs, &d->address, ovr, sizeof ovr) < 0)
                return;
        free(d->driver);
        d->driver = drv[0] ? strdup(drv) : NULL;
        free(d->driver_override);
        d->driver_override = ovr[0] ? strdup(ovr) : NULL;
        manager_device_dirty(m, &d->address);
}

/* Puts f back on the driver and override it had. */
static int roll_back(Manager *m, const FunctionOperation *op, SysfsError *err) {
        int r;

        if (driver_is_ours(op->driver))
                /* it was on one of ours: it still is (nothing unbinds it) */
                r = 0;
        else
                r = sysfs_restore(&m->sysfs, &op->address, op->vendor_id, op->device_id, op->driver, err);
        if (r >= 0)
                r = sysfs_write_override(&m->sysfs, &op->address, op->vendor_id, op->device_id, op->driver_override,
                                         err);
        return r;
}

static const char *reconcile_detach(Manager *m, const FunctionOperation *op, const char *cur, SysfsError *err,
                                    int *ret) {
        if (op->target && streq(cur, op->target)) {
                *ret = sysfs_bind_override(&m->sysfs, &op->address, op->vendor_id, op->device_id, op->target, err);
                if (*ret < 0)
                        return "completed";
                /* recorded as the job's end would have */
                if (!driver_is_ours(op->driver)) {
                        if (manager_detached_record(m, &op->address, op->driver) >= 0)
                                (void) manager_detached_store(m);
                } else if (driver_is_adoptable(op->driver) && !manager_find_detached(m, &op->address) &&
                           !manager_reservation_of(m, &op->address, NULL) &&
                           manager_detached_adopt(m, &op->address, op->driver, op->driver_override) >= 0)
                        (void) manager_detached_store(m);
                return "completed";
        }
        *ret = roll_back(m, op, err);
        return "rolled back";
}

static const char *reconcile_reattach(Manager *m, const FunctionOperation *op, PciDevice *d, const char *cur,
                                      SysfsError *err, int *ret) {
        HostBinding hb;

        if (streq(cur, strempty(op->driver)) && driver_is_ours(cur)) {
                /* where Detach left it: its override as it was then
                 * (nothing unbinds a vfio driver); Reattach can be called
                 * again */
                *ret = sysfs_write_override(&m->sysfs, &op->address, op->vendor_id, op->device_id,
                                            op->driver_override, err);
                return "rolled back";
        }
        manager_host_binding(m, d, &hb);
        if (hb.adopted && op->target && streq_ptr(hb.driver, op->target))
                /* the admin's binding, exactly */
                *ret = sysfs_bind_exact(&m->sysfs, &op->address, op->vendor_id, op->device_id, op->target,
                                        hb.override, err);
        else if (op->reprobe)
                *ret = sysfs_reprobe(&m->sysfs, &op->address, op->vendor_id, op->device_id, NULL, 0, err);
        else
                *ret = sysfs_restore(&m->sysfs, &op->address, op->vendor_id, op->device_id, op->target, err);
        if (*ret >= 0) {
                manager_detached_forget(m, &op->address);
                (void) manager_detached_store(m);
        }
        return "completed";
}

static const char *reconcile_takeover(Manager *m, const FunctionOperation *op, SysfsError *err, int *ret,
                                      ManagedReservation **ret_mr) {
        ManagedReservation *mr = manager_reservation_of(m, &op->address, NULL);

        *ret_mr = NULL;
        if (!mr || !streq(mr->data->id, op->reservation) ||
            (mr->data->state != RESERVATION_DEGRADED && mr->data->state != RESERVATION_PREPARED &&
             mr->data->state != RESERVATION_IN_USE)) {
                /* not that reservation's any more, or not prepared: only
                 * the override we wrote goes */
                *ret = sysfs_write_override(&m->sysfs, &op->address, op->vendor_id, op->device_id,
                                            op->driver_override, err);
                return "abandoned (the reservation is not prepared)";
        }
        *ret_mr = mr;
        *ret = sysfs_bind_override(&m->sysfs, &op->address, op->vendor_id, op->device_id,
                                   mr->data->driver ?: op->target, err);
        return "completed";
}

int manager_operations_reconcile(Manager *m) {
        if (m->operations.n_ops == 0)
                return 0;
        if (m->boot_id[0] && !streq(m->operations.boot_id, m->boot_id)) {
                log_notice("%zu interrupted operation(s) in %s/%s are from an earlier boot (%s); the kernel forgot "
                           "what they changed: dropped.", m->operations.n_ops, m->runtime_dir, OP_JOURNAL_FILE_NAME,
                           m->operations.boot_id);
                op_journal_done(&m->operations);
                return operations_store(m);
        }
        while (m->operations.n_ops > 0) {
                FunctionOperation *op = &m->operations.ops[m->operations.n_ops - 1];
                const char *what = function_operation_to_string(op->kind), *how;
                char buf[PCI_ADDRESS_STRLEN], cur[DRIVER_BUF] = "", reason[700];
                const char *list[2] = { pci_address_format(&op->address, buf), NULL };
                PciDevice *d = topology_find(m->topology, &op->address);
                ManagedReservation *mr = NULL;
                SysfsError err = {};
                int r = 0;

                if (!d || d->vendor_id != op->vendor_id || d->device_id != op->device_id) {
                        log_fields(LOG_WARNING, 0, ((LogFields) { .pci_addresses = list }),
                                   "Interrupted %s of %s: %s; nothing to reconcile.", what, buf,
                                   d ? "another device is at its address" : "it is not present");
                        goto next;
                }
                (void) sysfs_read_driver(&m->sysfs, &op->address, cur, sizeof cur);
                switch (op->kind) {
                case FUNCTION_OP_DETACH:   how = reconcile_detach(m, op, cur, &err, &r); break;
                case FUNCTION_OP_REATTACH: how = reconcile_reattach(m, op, d, cur, &err, &r); break;
                default:                   how = reconcile_takeover(m, op, &err, &r, &mr); break;
                }
                refresh(m, d);
                if (r < 0) {
                        snprintf(reason, sizeof reason, "%s (step %s)", err.message, sysfs_step_to_string(err.step));
                        log_fields(LOG_ERR, 0,
                                   ((LogFields) { .pci_addresses = list,
                                                  .reservation_id = op->reservation }),
                                   "Interrupted %s of %s: reconciling failed: %s; it is on %s now.", what, buf,
                                   reason, d->driver ?: "no driver");
                        if (mr)
                                manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, reason);
                } else {
                        log_fields(LOG_NOTICE, 0,
                                   ((LogFields) { .pci_addresses = list, .reservation_id = op->reservation,
                                                  .message_id = LOG_MESSAGE_ID_RECONCILED }),
                                   "Interrupted %s of %s %s: it is on %s%s%s.", what, buf, how,
                                   d->driver ?: "no driver", d->driver_override ? ", driver_override " : "",
                                   strempty(d->driver_override));
                        if (mr && mr->data->state == RESERVATION_DEGRADED && manager_reservation_whole(m, mr, true))
                                (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_TAKEOVER_UNDONE,
                                                                 LAST_ERROR_CLEAR, NULL, 0, NULL);
                }
        next:
                (void) op_journal_remove(&m->operations, &op->address);
        }
        manager_invalidate_verdicts(m);
        return operations_store(m);
}
