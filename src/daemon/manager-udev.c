/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Following the host: the one libudev monitor of the daemon ("udev"
 * events, subsystem pci), integrated in sd-event.  Every event updates the
 * model for that one function (never a rescan), then the signals go out:
 * DeviceAdded/DeviceRemoved and DriverChanged at once, in event order,
 * and PropertiesChanged coalesced, one per object per main-loop iteration.
 *
 * Reserved functions that go away stay exported (Present=false) and put
 * their reservation in `degraded` with a Conflict signal; when the same
 * device (vendor/device, and the Device Serial Number where it has one)
 * comes back at the address, the reservation is whole again and, if it was
 * prepared, prepared again through the job queue.  A host driver binding
 * to a function of a prepared or in-use reservation is a Conflict too,
 * undone through the job queue, up to TAKEOVER_MAX times a minute: then
 * the reservation stays degraded until someone calls Prepare. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <libudev.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "config.h"
#include "describe.h"
#include "log.h"
#include "device-dbus.h"
#include "manager-dbus.h"
#include "manager.h"

void manager_device_dirty(Manager *m, const PciAddress *a) {
        for (size_t i = 0; i < m->n_dirty; i++)
                if (pci_address_equal(&m->dirty[i], a))
                        return;
        if (GREEDY_REALLOC(m->dirty, m->n_dirty_alloc, m->n_dirty + 1) < 0)
                return (void) log_oom();
        m->dirty[m->n_dirty++] = *a;
        if (m->flush_source)
                (void) sd_event_source_set_enabled(m->flush_source, SD_EVENT_ONESHOT);
}

/* One PropertiesChanged per dirty object, at the end of the iteration. */
static int on_flush(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        size_t n = m->n_dirty;

        m->n_dirty = 0;
        for (size_t i = 0; i < n; i++)
                manager_dbus_device_properties_changed(m, &m->dirty[i]);
        return 0;
}

/* Verdicts of a group's members and of a PF's VFs name each other: they
 * change with every member that comes or goes. */
static void dirty_related(Manager *m, const PciDevice *d) {
        IommuGroup *g = d->iommu_group >= 0 ? topology_find_group(m->topology, (unsigned) d->iommu_group) : NULL;

        for (size_t i = 0; g && i < g->n_members; i++)
                manager_device_dirty(m, &g->members[i]->address);
        if (d->is_vf)
                manager_device_dirty(m, &d->physfn);
}

/* journal fields of a Conflict's log line */
#define CONFLICT_FIELDS(mr, d)                                                            \
        ((LogFields) { .reservation_id = (mr)->data->id, .pci_address = (d)->name, \
                       .message_id = LOG_MESSAGE_ID_CONFLICT })

static const char *reservation_id_of(Manager *m, const PciAddress *a, ManagedReservation **ret) {
        ManagedReservation *mr = manager_reservation_of(m, a, NULL);

        if (ret)
                *ret = mr;
        return mr ? mr->data->id : NULL;
}

/* A function of the reservation came back: whole again, it returns to
 * where it was.  While its guest may run (it was in use), only the
 * function that came back is bound to the vfio driver, and reset only if
 * its reset touches nothing but itself (FLR): the functions that stayed
 * are the guest's and are not reset or unbound, as a Prepare would.  A
 * prepared one (no guest) is prepared again as a whole, verify included. */
static void reservation_function_returned(Manager *m, ManagedReservation *mr) {
        Reservation *res = mr->data;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned queued = 0;
        int r;

        if (res->state != RESERVATION_DEGRADED || !manager_reservation_whole(m, mr, false))
                return;
        if (res->return_to == RESERVATION_PREPARED) {
                log_info("Reservation %s is whole again; preparing it again.", res->id);
                r = manager_prepare(m, mr, NULL, &error);
                if (r < 0)
                        log_error("Preparing reservation %s again failed: %s", res->id,
                                  error.message ?: strerror(-r));
                return;
        }
        if (res->return_to == RESERVATION_IN_USE) {
                for (size_t i = 0; i < res->n_functions; i++) {
                        PciDevice *d = topology_find(m->topology, &res->functions[i].address);

                        if (!d || streq_ptr(d->driver, res->driver))
                                continue;
                        log_info("Reservation %s is whole again; binding %s to %s (its guest may run: the "
                                 "other functions are left alone).", res->id, d->name, res->driver);
                        if (manager_rebind_function(m, mr, d, manager_function_resets_alone(d)) >= 0)
                                queued++;
                }
                if (queued > 0)
                        return;  /* back in use when the jobs put them back (job_done) */
        }
        log_info("Reservation %s is whole again.", res->id);
        (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_FUNCTION_RETURNED, LAST_ERROR_CLEAR, NULL, 0, NULL);
}

static void check_identity(Manager *m, ManagedReservation *mr, const PciDevice *d) {
        ReservationFunction *f = reservation_find_function(mr->data, &d->address);
        char msg[512], what[160];

        if (!f || reservation_function_matches(f, d, what, sizeof what))
                return;
        snprintf(msg, sizeof msg, "%s: %s appeared at the address; not adopting it", d->name, what);
        log_fields(LOG_WARNING, 0, CONFLICT_FIELDS(mr, d), "Reservation %s: %s.", mr->data->id, msg);
        manager_dbus_emit_conflict(m, &d->address, mr->data->id, msg);
        manager_reservation_trouble(m, mr, RESERVATION_EVENT_FUNCTION_GONE, msg);
}

static void device_appeared(Manager *m, PciDevice *d) {
        ManagedReservation *mr = NULL;
        PciDevice *placeholder = topology_find(m->missing, &d->address);
        bool was_missing = placeholder != NULL,
             same = placeholder && placeholder->vendor_id == d->vendor_id && placeholder->device_id == d->device_id;

        if (was_missing && !same)
                /* another device: its const properties differ, so it is
                 * another object at the same path */
                manager_dbus_emit_object_replaced(m, d);
        manager_sync_missing(m);  /* drops the placeholder */
        manager_dbus_emit_device_added(m, d, !was_missing);
        /* A driver's probe often ends before we read the add event: its
         * bind event then changes nothing in the model.  Say it here, so
         * that every bind a subscriber could not see otherwise is a
         * DriverChanged (a placeholder has no driver). */
        if (d->driver && *d->driver) {
                manager_device_dirty(m, &d->address);
                manager_dbus_emit_driver_changed(m, &d->address, "", d->driver);
        }
        dirty_related(m, d);
        if (was_missing)
                manager_device_dirty(m, &d->address);
        if (reservation_id_of(m, &d->address, &mr)) {
                check_identity(m, mr, d);
                reservation_function_returned(m, mr);
        }
}

static void device_gone(Manager *m, PciDevice *d) {
        ManagedReservation *mr = NULL;
        char msg[256];

        if (reservation_id_of(m, &d->address, &mr)) {
                manager_dbus_emit_device_removed(m, d, false);
                manager_device_dirty(m, &d->address);
                snprintf(msg, sizeof msg, "%s disappeared from the host", d->name);
                log_fields(LOG_WARNING, 0, CONFLICT_FIELDS(mr, d), "Reservation %s: %s.", mr->data->id, msg);
                manager_dbus_emit_conflict(m, &d->address, mr->data->id, msg);
                manager_reservation_trouble(m, mr, RESERVATION_EVENT_FUNCTION_GONE, msg);
        } else
                manager_dbus_emit_device_removed(m, d, true);
}

static bool driver_is_host(const char *drv) {
        return drv && *drv && !pci_driver_is_vfio(drv) && !streq(drv, "pci-stub");
}

/* Counts a host driver's taking a function of mr; false when that
 * happened more than TAKEOVER_MAX times in TAKEOVER_WINDOW_USEC: something
 * on the host (a udev rule, driverctl) keeps binding it, and binding it
 * back again would only fight it. */
static bool takeover_may_rebind(Manager *m, ManagedReservation *mr) {
        uint64_t now = 0;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (mr->takeovers == 0 || now - mr->takeover_window_start_usec > TAKEOVER_WINDOW_USEC) {
                mr->takeover_window_start_usec = now;
                mr->takeovers = 0;
        }
        mr->takeovers++;
        return mr->takeovers <= TAKEOVER_MAX;
}

static void driver_changed(Manager *m, const PciDevice *d, const char *old, const char *new) {
        ManagedReservation *mr = NULL;

        manager_device_dirty(m, &d->address);
        manager_dbus_emit_driver_changed(m, &d->address, old, new);
        if (!reservation_id_of(m, &d->address, &mr) || !driver_is_host(new) || mr->jobs > 0)
                return;
        if (mr->data->state == RESERVATION_PREPARED || mr->data->state == RESERVATION_IN_USE ||
            (mr->data->state == RESERVATION_DEGRADED &&
             (mr->data->return_to == RESERVATION_PREPARED || mr->data->return_to == RESERVATION_IN_USE))) {
                char msg[512];

                if (!takeover_may_rebind(m, mr)) {
                        snprintf(msg, sizeof msg,
                                 "host driver %s bound to %s of reservation %s again: %u times within %llu s, "
                                 "not binding it back any more (a udev rule or driverctl on the host may be "
                                 "binding it); call Prepare to try again",
                                 new, d->name, mr->data->id, mr->takeovers,
                                 (unsigned long long) (TAKEOVER_WINDOW_USEC / 1000000ULL));
                        log_fields(LOG_WARNING, 0, CONFLICT_FIELDS(mr, d), "%s.", msg);
                        manager_dbus_emit_conflict(m, &d->address, mr->data->id, msg);
                        manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, msg);
                        return;
                }
                snprintf(msg, sizeof msg, "host driver %s bound to %s of %s reservation %s", new, d->name,
                         reservation_state_to_string(mr->data->state), mr->data->id);
                log_fields(LOG_WARNING, 0, CONFLICT_FIELDS(mr, d), "%s; binding it to %s again.", msg,
                           mr->data->driver);
                manager_dbus_emit_conflict(m, &d->address, mr->data->id, msg);
                /* degraded until the job put it back (see job_done());
                 * while its guest may run, reset only if that touches
                 * nothing but this function */
                manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, msg);
                (void) manager_rebind_function(m, mr, d,
                                               !manager_reservation_guest_may_run(mr) || manager_function_resets_alone(d));
        }
}

/* sriov_disable() removes the VFs and sends no event for the PF: take
 * the VF out of its PF's list here. */
static bool pf_drop_vf(Manager *m, PciDevice *pf, const PciAddress *vf) {
        for (size_t i = 0; i < pf->n_virtfns; i++)
                if (pci_address_equal(&pf->virtfns[i], vf)) {
                        memmove(pf->virtfns + i, pf->virtfns + i + 1, (pf->n_virtfns - i - 1) * sizeof(PciAddress));
                        pf->n_virtfns--;
                        if (pf->sriov_numvfs > (int) pf->n_virtfns)
                                pf->sriov_numvfs = (int) pf->n_virtfns;
                        manager_device_dirty(m, &pf->address);
                        return true;
                }
        return false;
}

static void vf_gone(Manager *m, const PciDevice *vf) {
        PciDevice *pf = vf->is_vf ? topology_find(m->topology, &vf->physfn) : NULL;

        if (pf && pf_drop_vf(m, pf, &vf->address))
                return;
        /* its physfn link may never have been read (it comes after the
         * VF's add event): ask the PFs */
        for (size_t i = 0; i < m->topology->n_devices; i++)
                if (m->topology->devices[i]->n_virtfns > 0 && pf_drop_vf(m, m->topology->devices[i], &vf->address))
                        return;
}

/* A reserved function that went: what it was stays visible, without
 * what only a present function has. */
static void keep_as_placeholder(Manager *m, PciDevice *d) {
        PciDevice *old = NULL;

        d->missing = true;
        free(d->driver);
        d->driver = NULL;
        free(d->driver_override);
        d->driver_override = NULL;
        d->iommu_group = -1;
        if (topology_add(m->missing, d, &old) < 0) {
                pci_device_free(d);
                log_oom();
                manager_sync_missing(m);  /* a minimal one then */
                return;
        }
        pci_device_free(old);
}

/* Whether a and b read the same: every field a Device property shows is
 * in describe_device() (the rest derive from them and the reservations).
 * Errors say "different", which only costs a signal. */
static bool device_reads_same(const PciDevice *a, const PciDevice *b) {
        json_object *ja = describe_device(a), *jb = describe_device(b);
        bool same = ja && jb && json_object_equal(ja, jb);

        json_object_put(ja);
        json_object_put(jb);
        return same;
}

static void handle_remove(Manager *m, const PciAddress *a, const char *sysname) {
        PciDevice *old = topology_take(m->topology, a);

        if (!old) {
                log_debug("udev: remove of %s, which we did not know.", sysname);
                return;
        }
        manager_invalidate_verdicts(m);
        manager_status_dirty(m);
        dirty_related(m, old);
        vf_gone(m, old);
        device_gone(m, old);
        if (manager_reservation_of(m, a, NULL))
                keep_as_placeholder(m, old);  /* stays exported, Present=false */
        else
                pci_device_free(old);
}

static void handle_action(Manager *m, const char *action, struct udev_device *dev) {
        const char *syspath = udev_device_get_syspath(dev), *sysname = udev_device_get_sysname(dev);
        PciDevice *d = NULL, *old = NULL;
        PciAddress a;
        int r;

        if (!action || !syspath || !sysname || pci_address_parse(sysname, &a) < 0)
                return;  /* not a function: e.g. a pci_bus or a device of another kind */
        log_debug("udev: %s %s", action, sysname);

        if (streq(action, "remove"))
                return handle_remove(m, &a, sysname);

        /* add, change, move, bind, unbind, online, offline: read it again */
        r = pci_device_read(syspath, dev, NULL, &d);
        if (r == -ENODEV) {
                /* gone before we could read it; its remove event follows */
                log_debug("udev: %s %s, but it is gone already.", action, sysname);
                return;
        }
        if (r < 0) {
                log_warning_errno(r, "Cannot read %s after its %s event: %m", syspath, action);
                return;
        }

        old = topology_find(m->topology, &a);
        if (old && streq(action, "change") && device_reads_same(old, d)) {
                /* a change event that changed nothing we show: no signal */
                log_debug("udev: change of %s: nothing changed.", sysname);
                pci_device_free(d);
                return;
        }
        old = NULL;
        r = topology_add(m->topology, d, &old);
        if (r < 0) {
                pci_device_free(d);
                return (void) log_oom();
        }
        manager_invalidate_verdicts(m);
        if (!old) {
                manager_status_dirty(m);
                if (!streq(action, "add"))
                        log_debug("udev: %s of %s, which we did not know: adding it.", action, sysname);
                device_appeared(m, d);
                return;
        }
        if (old->vendor_id != d->vendor_id || old->device_id != d->device_id)
                /* its remove was missed: another device, another object */
                manager_dbus_emit_object_replaced(m, d);
        if (!streq(old->driver ?: "", d->driver ?: ""))
                driver_changed(m, d, old->driver ?: "", d->driver ?: "");
        if (old->iommu_group != d->iommu_group) {
                manager_status_dirty(m);  /* the number of groups may change */
                dirty_related(m, old);
        }
        dirty_related(m, d);
        pci_device_free(old);
        manager_device_dirty(m, &a);
}

/* Back-pressure: when clients read our signals slower than udev makes
 * events (a stopped bus, a slow subscriber), sd-bus would queue signals
 * without bound.  Stop reading events instead: they wait in the monitor's
 * socket buffer, and reading resumes once the queue has drained.
 *
 * A long queue also leaves its memory behind: its messages are freed in
 * the middle of the heap, between objects made meanwhile, and glibc only
 * gives back the top of it by itself.  So once a queue of more than
 * SIGNAL_QUEUE_TRIM signals has been written out, malloc_trim() returns
 * the free pages (RSS back where it was after a hotplug storm, a few MiB
 * per thousand signals otherwise).  Both bounds are small on purpose: a
 * queue of 1024 signals grew the heap by 1.5 MiB, of which the trim could
 * not give back a tenth (free chunks keep their first and last page). */
#define SIGNAL_QUEUE_HIGH 256
#define SIGNAL_QUEUE_TRIM 128
#define SIGNAL_QUEUE_EMPTY 16
#define DRAIN_CHECK_USEC (10 * USEC_PER_MSEC)

static uint64_t signals_queued(Manager *m) {
        uint64_t n = 0;

        if (!m->bus || sd_bus_get_n_queued_write(m->bus, &n) < 0)
                return 0;
        return n;
}

static bool udev_paused(Manager *m) {
        int enabled = SD_EVENT_ON;

        return m->udev_source && sd_event_source_get_enabled(m->udev_source, &enabled) >= 0 &&
               enabled == SD_EVENT_OFF;
}

static int on_drain_check(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t n = signals_queued(m);

        if (udev_paused(m) && n <= SIGNAL_QUEUE_HIGH / 4) {
                log_debug("Signal queue drained (%" PRIu64 "), reading udev events again.", n);
                (void) sd_event_source_set_enabled(m->udev_source, SD_EVENT_ON);
        }
        if (n > SIGNAL_QUEUE_EMPTY) {
                /* not written out yet: look again; without another look
                 * the monitor must not stay paused */
                if (sd_event_source_set_time_relative(s, DRAIN_CHECK_USEC) < 0 ||
                    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                        (void) sd_event_source_set_enabled(m->udev_source, SD_EVENT_ON);
                return 0;
        }
        log_debug("Signal queue written out (%" PRIu64 " left): giving its memory back.", n);
        (void) malloc_trim(0);
        return 0;
}

static void check_queue(Manager *m) {
        uint64_t n = signals_queued(m);
        int enabled = SD_EVENT_OFF;

        if (n <= SIGNAL_QUEUE_TRIM)
                return;
        if (n > SIGNAL_QUEUE_HIGH && !udev_paused(m)) {
                log_debug("%" PRIu64 " signals queued: pausing the udev monitor.", n);
                (void) sd_event_source_set_enabled(m->udev_source, SD_EVENT_OFF);
        }
        /* a check already pending keeps its time */
        if (m->drain_source && sd_event_source_get_enabled(m->drain_source, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return;
        if (!m->drain_source) {
                if (sd_event_add_time_relative(m->event, &m->drain_source, CLOCK_MONOTONIC, DRAIN_CHECK_USEC, 0,
                                               on_drain_check, m) < 0) {
                        /* without the check nothing would resume reading */
                        (void) sd_event_source_set_enabled(m->udev_source, SD_EVENT_ON);
                        return;
                }
        } else if (sd_event_source_set_time_relative(m->drain_source, DRAIN_CHECK_USEC) < 0 ||
                   sd_event_source_set_enabled(m->drain_source, SD_EVENT_ONESHOT) < 0)
                (void) sd_event_source_set_enabled(m->udev_source, SD_EVENT_ON);
}

static void handle_event(Manager *m, struct udev_device *dev) {
        handle_action(m, udev_device_get_action(dev), dev);
}

static int address_compare(const void *a, const void *b) {
        return pci_address_compare(a, b);
}

/* Events were lost (the monitor's socket overran: ENOBUFS): every PCI
 * function is read again and compared with the model, and what differs
 * is announced as the lost events would have been: a function that is
 * new is added, one that is gone removed (a reserved one stays, with
 * Present=false and a Conflict), one that changed (its driver, above all)
 * updated, with the same signals and the same reactions to them (a host
 * driver on a prepared reservation's function is undone). */
static void resync(Manager *m) {
        _cleanup_free_ PciAddress *seen = NULL, *gone = NULL;
        size_t n_seen = 0, alloc_seen = 0, n_gone = 0;
        struct udev_enumerate *e;
        struct udev_list_entry *entry;

        m->udev_overruns++;
        log_warning("udev events were lost (the monitor's receive buffer overran, %u time(s) so far): reading "
                    "every PCI function again.", m->udev_overruns);
        e = udev_enumerate_new(m->udev);
        if (!e || udev_enumerate_add_match_subsystem(e, "pci") < 0 || udev_enumerate_scan_devices(e) < 0) {
                log_error_errno(errno ?: ENOMEM, "Cannot enumerate the PCI functions after lost events; the model "
                                "may be out of date until the next event of each function: %m");
                udev_enumerate_unref(e);
                return;
        }
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                struct udev_device *dev = udev_device_new_from_syspath(m->udev, udev_list_entry_get_name(entry));
                PciAddress a;

                if (!dev)
                        continue;  /* gone since the scan: not seen */
                if (pci_address_parse(udev_device_get_sysname(dev), &a) >= 0) {
                        if (GREEDY_REALLOC(seen, alloc_seen, n_seen + 1) < 0) {
                                udev_device_unref(dev);
                                udev_enumerate_unref(e);
                                return (void) log_oom();
                        }
                        seen[n_seen++] = a;
                }
                /* a "change": read again, signals only for what differs */
                handle_action(m, "change", dev);
                udev_device_unref(dev);
        }
        udev_enumerate_unref(e);

        qsort(seen, n_seen, sizeof *seen, address_compare);
        gone = calloc(m->topology->n_devices + 1, sizeof *gone);
        if (!gone)
                return (void) log_oom();
        for (size_t i = 0; i < m->topology->n_devices; i++) {
                const PciAddress *a = &m->topology->devices[i]->address;

                if (!bsearch(a, seen, n_seen, sizeof *seen, address_compare))
                        gone[n_gone++] = *a;
        }
        for (size_t i = 0; i < n_gone; i++) {
                char buf[PCI_ADDRESS_STRLEN];
                struct udev_device *dev =
                        udev_device_new_from_subsystem_sysname(m->udev, "pci", pci_address_format(&gone[i], buf));

                if (dev) {
                        /* there after all (the scan missed it): read again */
                        handle_action(m, "change", dev);
                        udev_device_unref(dev);
                        continue;
                }
                handle_remove(m, &gone[i], buf);
        }
        log_info("Read %zu PCI functions again after lost udev events; %zu gone.", n_seen, n_gone);
}

static int on_udev_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        /* everything queued now, then the coalesced PropertiesChanged */
        for (unsigned n = 0; n < 4096; n++) {
                struct udev_device *dev = udev_monitor_receive_device(m->monitor);
                bool overrun = !dev && errno == ENOBUFS;

#if ENABLE_TEST_HOOKS
                if (dev && m->test_overrun_at > 0 && ++m->test_events_seen == m->test_overrun_at) {
                        log_notice("Test hook PCI_ASSIGND_TEST_UDEV_OVERRUN: dropping event %u as lost.",
                                   m->test_events_seen);
                        dev = udev_device_unref(dev);
                        overrun = true;
                }
#endif
                if (overrun) {
                        resync(m);
                        continue;  /* what is queued after the overrun is valid */
                }
                if (!dev)
                        break;
                handle_event(m, dev);
                udev_device_unref(dev);
                /* the queue's bound holds within a batch too */
                if (signals_queued(m) > SIGNAL_QUEUE_HIGH)
                        break;
        }
        check_queue(m);
        return 0;
}

/* A flood must not lose events: a receive buffer like udevd's, 128 MiB.
 * That needs SO_RCVBUFFORCE, so CAP_NET_ADMIN, which the unit does not
 * grant; without it, SO_RCVBUF gets what net.core.rmem_max allows.  An
 * overrun all the same is noticed (ENOBUFS) and answered by reading every
 * function again (resync()). */
static void set_receive_buffer(Manager *m) {
        int fd = udev_monitor_get_fd(m->monitor), size = 128 * 1024 * 1024, got = 0;
        socklen_t l = sizeof got;

        if (udev_monitor_set_receive_buffer_size(m->monitor, size) < 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0)
                log_debug_errno(errno, "Cannot set the udev monitor's receive buffer: %m");
        if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &l) >= 0)
                log_debug("udev monitor receive buffer: %d bytes.", got);
#if ENABLE_TEST_HOOKS
        {
                const char *e = getenv("PCI_ASSIGND_TEST_UDEV_OVERRUN");
                unsigned n;

                if (e && sscanf(e, "%u", &n) == 1 && n > 0) {
                        m->test_overrun_at = n;
                        log_notice("Test hook: udev event %u will be reported as lost (ENOBUFS).", n);
                }
        }
#endif
}

/* Before the enumeration, so that nothing that happens during it is
 * missed: the socket queues the events until manager_udev_attach(). */
int manager_udev_start(Manager *m) {
        int r;

        /* Without it the daemon still works, it just does not see what
         * changes later (a container without netlink, say): not fatal. */
        m->monitor = udev_monitor_new_from_netlink(m->udev, "udev");
        if (!m->monitor) {
                log_warning_errno(errno ?: ENOMEM, "Cannot create a udev monitor, not following hotplug and "
                                  "driver changes: %m");
                return 0;
        }
        r = udev_monitor_filter_add_match_subsystem_devtype(m->monitor, "pci", NULL);
        if (r >= 0) {
                r = udev_monitor_enable_receiving(m->monitor);
                if (r >= 0)
                        set_receive_buffer(m);
        }
        if (r < 0) {
                log_warning_errno(r, "Cannot start the udev monitor, not following hotplug and driver changes: %m");
                m->monitor = udev_monitor_unref(m->monitor);
        }
        return 0;
}

/* After the model and the bus are there: events from now on. */
int manager_udev_attach(Manager *m) {
        int r;

        r = sd_event_add_defer(m->event, &m->flush_source, on_flush, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the signal flush source: %m");
        /* after every other event source of the iteration */
        (void) sd_event_source_set_priority(m->flush_source, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_enabled(m->flush_source, m->n_dirty > 0 ? SD_EVENT_ONESHOT : SD_EVENT_OFF);

        if (!m->monitor)
                return 0;
        r = sd_event_add_io(m->event, &m->udev_source, udev_monitor_get_fd(m->monitor), EPOLLIN, on_udev_io, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the udev monitor: %m");
        (void) sd_event_source_set_description(m->udev_source, "udev-monitor");
        return 0;
}

void manager_udev_stop(Manager *m) {
        m->udev_source = sd_event_source_disable_unref(m->udev_source);
        m->drain_source = sd_event_source_disable_unref(m->drain_source);
        m->flush_source = sd_event_source_disable_unref(m->flush_source);
        m->monitor = udev_monitor_unref(m->monitor);
        free(m->dirty);
        m->dirty = NULL;
        m->n_dirty = m->n_dirty_alloc = 0;
}
