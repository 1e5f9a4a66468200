/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus-errors.h"
#include "log.h"
#include "manager-dbus.h"
#include "reservation-dbus.h"
#include "manager.h"
#include "store.h"

ManagedReservation *managed_reservation_free(ManagedReservation *r) {
        if (!r)
                return NULL;
        sd_bus_track_unref(r->track);
        reservation_free(r->data);
        free(r);
        return NULL;
}

void manager_free_reservations(Manager *m) {
        for (size_t i = 0; i < m->n_reservations; i++)
                managed_reservation_free(m->reservations[i]);
        free(m->reservations);
        m->reservations = NULL;
        m->n_reservations = 0;
}

ManagedReservation *manager_find_reservation(Manager *m, const char *id) {
        for (size_t i = 0; i < m->n_reservations; i++)
                if (streq(m->reservations[i]->data->id, id))
                        return m->reservations[i];
        return NULL;
}

ManagedReservation *manager_reservation_of(Manager *m, const PciAddress *a, ReservationFunction **ret_f) {
        for (size_t i = 0; i < m->n_reservations; i++) {
                ReservationFunction *f = reservation_find_function(m->reservations[i]->data, a);
                if (f) {
                        if (ret_f)
                                *ret_f = f;
                        return m->reservations[i];
                }
        }
        if (ret_f)
                *ret_f = NULL;
        return NULL;
}

/* The journal line of a state change: RESERVATION_ID=, one PCI_ADDRESS= per
 * function (so that `journalctl PCI_ADDRESS=...` finds it) and, for the
 * events pci-assignd(8) lists, a MESSAGE_ID=: one per event, so no other
 * line carries these (a Conflict's MESSAGE_ID is on its own log line, in
 * manager-udev.c, since not every Conflict changes a state). */
static void log_state_change(const Reservation *res, ReservationEvent event, const ReservationTransition *t) {
        char addrs[LOG_ADDRESSES_MAX][PCI_ADDRESS_STRLEN];
        const char *list[LOG_ADDRESSES_MAX + 1];
        const char *message_id = NULL;
        size_t n = 0;

        for (size_t i = 0; i < res->n_functions && n < LOG_ADDRESSES_MAX; i++, n++)
                list[n] = pci_address_format(&res->functions[i].address, addrs[n]);
        list[n] = NULL;
        if (event == RESERVATION_EVENT_PREPARE_DONE && t->state == RESERVATION_PREPARED)
                message_id = LOG_MESSAGE_ID_PREPARED;
        else if (event == RESERVATION_EVENT_UNPREPARE_DONE && t->state == RESERVATION_RESERVED)
                message_id = LOG_MESSAGE_ID_GIVEN_BACK;
        else if (event == RESERVATION_EVENT_TAKEOVER_UNDONE)
                message_id = LOG_MESSAGE_ID_TAKEOVER_UNDONE;
        log_fields(LOG_INFO, 0,
                   ((LogFields) { .reservation_id = res->id, .pci_addresses = list, .message_id = message_id }),
                   "Reservation %s is %s%s%s%s (%s).", res->id, reservation_state_to_string(t->state),
                   t->return_to >= 0 ? " (returns to " : "",
                   t->return_to >= 0 ? reservation_state_to_string(t->return_to) : "",
                   t->return_to >= 0 ? ")" : "", reservation_event_to_string(event));
}

static bool event_ends_operation(ReservationEvent e) {
        return e == RESERVATION_EVENT_PREPARE_DONE || e == RESERVATION_EVENT_PREPARE_FAILED ||
               e == RESERVATION_EVENT_UNPREPARE_DONE || e == RESERVATION_EVENT_UNPREPARE_FAILED ||
               e == RESERVATION_EVENT_ROLLBACK_FAILED;
}

int manager_reservation_apply(Manager *m, ManagedReservation *mr, ReservationEvent event, LastErrorChange le,
                              const char *text, unsigned flags, const char **ret_why) {
        Reservation *res = mr->data;
        ReservationState old_state = res->state, old_return_to = res->return_to;
        _cleanup_free_ char *old_last_error = NULL;
        ReservationTransition t;
        const char *why = NULL;
        bool le_changed = false;
        int r;

        r = reservation_transition(res->state, res->return_to, event, &t, &why);
        if (r < 0) {
                if (ret_why)
                        *ret_why = why ?: "is in a state that does not allow it";
                log_debug("Reservation %s: %s refused: it %s.", res->id, reservation_event_to_string(event),
                          why ?: "is in an invalid state");
                return r;
        }
        if ((flags & APPLY_UNDO_IF_NOT_STORED) && res->last_error && !(old_last_error = strdup(res->last_error)))
                return log_oom();
        res->state = t.state;
        res->return_to = t.return_to;
        if (t.changed)
                manager_status_dirty(m);
        if (le == LAST_ERROR_CLEAR || (le == LAST_ERROR_SET && (!text || !*text))) {
                le_changed = res->last_error != NULL;
                res->last_error = mfree(res->last_error);
        } else if (le == LAST_ERROR_SET && !streq_ptr(res->last_error, text)) {
                char *n = strndup(text, RESERVATION_LAST_ERROR_MAX);

                if (n && !reservation_last_error_is_valid(n)) {
                        free(n);
                        n = strdup("see the journal of pci-assignd");
                }
                free(res->last_error);
                res->last_error = n;
                le_changed = true;
        }
        if (t.changed)
                log_state_change(res, event, &t);
        if (!t.changed && !le_changed && !event_ends_operation(event))
                return 0;
        r = manager_save_reservations(m);
        if (r < 0) {
                log_error_errno(r, "Failed to store that reservation %s is %s: %m", res->id,
                                reservation_state_to_string(res->state));
                if (flags & APPLY_UNDO_IF_NOT_STORED) {
                        res->state = old_state;
                        res->return_to = old_return_to;
                        if (le_changed) {
                                free(res->last_error);
                                res->last_error = TAKE_PTR(old_last_error);
                        }
                        return r;
                }
        }
        manager_invalidate_verdicts(m);
        manager_dbus_reservation_changed(m, mr);
        return r < 0 ? r : 0;
}

/* A reset of PF d resets its VFs too (an FLR of a PF resets every VF;
 * PCIe base spec, 9.2.2.3): the VFs that would be hit and must not be,
 * as in a bus reset's safety check: a VF on a host driver, one reserved
 * by another reservation whose owner is not the caller, or one on a vfio
 * driver outside the caller's reservation (a guest may hold it).  Appends
 * "ADDR (why)" for each to buf; returns how many. */
unsigned manager_vf_reset_conflicts(Manager *m, const PciDevice *d, const ManagedReservation *mr, uid_t caller,
                                    char *buf, size_t size) {
        unsigned n = 0;

        for (size_t i = 0; i < d->n_virtfns; i++) {
                const PciDevice *vf = topology_find(m->topology, &d->virtfns[i]);
                ManagedReservation *hr = manager_reservation_of(m, &d->virtfns[i], NULL);
                bool ours = vf && vf->driver && (pci_driver_is_vfio(vf->driver) || streq(vf->driver, "pci-stub"));
                char why[128];
                size_t l;

                if (!vf)
                        continue;
                if (hr && hr != mr && hr->data->owner_uid != caller)
                        snprintf(why, sizeof why, "VF reserved by %s, reservation %s", hr->data->owner, hr->data->id);
                else if (ours && (!hr || hr != mr))
                        snprintf(why, sizeof why, "VF on %s", vf->driver);
                else if (vf->driver && !ours)
                        snprintf(why, sizeof why, "VF on host driver %s", vf->driver);
                else
                        continue;
                l = strlen(buf);
                snprintf(buf + l, size - l, "%s%s (%s)", l ? ", " : "", vf->name, why);
                n++;
        }
        return n;
}

bool manager_reservation_guest_may_run(const ManagedReservation *mr) {
        return mr->data->state == RESERVATION_IN_USE ||
               (mr->data->state == RESERVATION_DEGRADED && mr->data->return_to == RESERVATION_IN_USE);
}

bool manager_function_resets_alone(const PciDevice *d) {
        if (!d->has_reset || !d->reset_methods || !d->reset_methods[0])
                return false;
        for (char **m = d->reset_methods; *m; m++)
                if (!streq(*m, "flr") && !streq(*m, "af_flr"))
                        return false;
        return true;
}

/* Whether f is on the host as reserved; if not, why (missing, or another
 * device at its address). */
bool manager_function_as_reserved(Manager *m, const ReservationFunction *f, char *why, size_t size) {
        const PciDevice *d = topology_find(m->topology, &f->address);
        char buf[PCI_ADDRESS_STRLEN], what[160];

        if (!d)
                snprintf(why, size, "%s is not present", pci_address_format(&f->address, buf));
        else if (!reservation_function_matches(f, d, what, sizeof what))
                snprintf(why, size, "%s: %s is at the address", d->name, what);
        else
                return true;
        return false;
}

/* The first function of mr that is not as reserved. */
static const ReservationFunction *first_not_present(Manager *m, ManagedReservation *mr) {
        char why[256];

        for (size_t i = 0; i < mr->data->n_functions; i++)
                if (!manager_function_as_reserved(m, &mr->data->functions[i], why, sizeof why))
                        return &mr->data->functions[i];
        return NULL;
}

void manager_reservations_check_present(Manager *m) {
        for (size_t i = 0; i < m->n_reservations; i++) {
                ManagedReservation *mr = m->reservations[i];
                const ReservationFunction *f = first_not_present(m, mr);
                char why[256], msg[320], buf[PCI_ADDRESS_STRLEN];

                if (!f)
                        continue;
                (void) manager_function_as_reserved(m, f, why, sizeof why);
                snprintf(msg, sizeof msg, "%s at start-up", why);
                log_fields(LOG_WARNING, 0,
                           ((LogFields) { .reservation_id = mr->data->id,
                                          .pci_address = pci_address_format(&f->address, buf) }),
                           "Reservation %s: %s.", mr->data->id, msg);
                mr->missing_at_start = true;
                (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_FUNCTION_GONE, LAST_ERROR_SET, msg, 0, NULL);
        }
}

void manager_startup_finish(Manager *m) {
        for (size_t i = 0; i < m->n_reservations; i++) {
                ManagedReservation *mr = m->reservations[i];
                char why[256], msg[320];

                if (!mr->missing_at_start)
                        continue;
                mr->missing_at_start = false;
                for (size_t k = 0; k < mr->data->n_functions; k++)
                        if (!manager_function_as_reserved(m, &mr->data->functions[k], why, sizeof why)) {
                                snprintf(msg, sizeof msg, "%s at start-up", why);
                                manager_dbus_emit_conflict(m, &mr->data->functions[k].address, mr->data->id, msg);
                        }
        }
        /* backwards: giving back may delete at once */
        for (size_t i = m->n_reservations; i > 0; i--) {
                ManagedReservation *mr = m->reservations[i - 1];

                if (mr->orphan)
                        manager_reservation_owner_gone(m, mr);
        }
}

bool manager_reservation_whole(Manager *m, ManagedReservation *mr, bool on_driver) {
        if (first_not_present(m, mr))
                return false;
        for (size_t i = 0; on_driver && i < mr->data->n_functions; i++) {
                const PciDevice *d = topology_find(m->topology, &mr->data->functions[i].address);

                if (!d || !streq_ptr(d->driver, mr->data->driver))
                        return false;
        }
        return true;
}

void manager_reservation_trouble(Manager *m, ManagedReservation *mr, ReservationEvent event, const char *why) {
        if (mr->jobs > 0)
                mr->trouble_during_job = true;
        (void) manager_reservation_apply(m, mr, event, LAST_ERROR_SET, why, 0, NULL);
}

void manager_reservation_check_trouble(Manager *m, ManagedReservation *mr) {
        const ReservationFunction *f = first_not_present(m, mr);
        char buf[PCI_ADDRESS_STRLEN], msg[256];
        ReservationState s = mr->data->state == RESERVATION_DEGRADED ? mr->data->return_to : mr->data->state;

        if (f) {
                snprintf(msg, sizeof msg, "%s disappeared from the host", pci_address_format(&f->address, buf));
                manager_reservation_trouble(m, mr, RESERVATION_EVENT_FUNCTION_GONE, msg);
                return;
        }
        if (s != RESERVATION_PREPARED && s != RESERVATION_IN_USE)
                return;
        for (size_t i = 0; i < mr->data->n_functions; i++) {
                const PciDevice *d = topology_find(m->topology, &mr->data->functions[i].address);

                if (d && !streq_ptr(d->driver, mr->data->driver)) {
                        snprintf(msg, sizeof msg, "%s is on %s, not on %s", d->name, d->driver ?: "no driver",
                                 mr->data->driver);
                        manager_reservation_trouble(m, mr, RESERVATION_EVENT_HOST_DRIVER_TOOK, msg);
                        return;
                }
        }
}

PciDevice *manager_find_device(Manager *m, const PciAddress *a) {
        PciDevice *d = topology_find(m->topology, a);
        return d ?: topology_find(m->missing, a);
}

/* Reserved functions that are not on the host now get a placeholder so
 * they stay visible (Present=false); placeholders of functions that are
 * present again or no longer reserved go away. */
void manager_sync_missing(Manager *m) {
        for (size_t i = m->missing->n_devices; i > 0; i--) {
                PciDevice *d = m->missing->devices[i - 1];
                if (topology_find(m->topology, &d->address) || !manager_reservation_of(m, &d->address, NULL))
                        pci_device_free(topology_take(m->missing, &d->address));
        }
        for (size_t i = 0; i < m->n_reservations; i++) {
                Reservation *r = m->reservations[i]->data;
                for (size_t k = 0; k < r->n_functions; k++) {
                        ReservationFunction *f = &r->functions[k];
                        PciDevice *d = NULL, *old = NULL;

                        if (manager_find_device(m, &f->address))
                                continue;
                        if (pci_device_new_missing(&f->address, f->vendor_id, f->device_id, &d) < 0 ||
                            topology_add(m->missing, d, &old) < 0) {
                                pci_device_free(d);
                                log_oom();
                                continue;
                        }
                        pci_device_free(old);
                }
        }
}

static int add_managed(Manager *m, Reservation *data, ManagedReservation **ret) {
        ManagedReservation **nv, *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        nv = realloc(m->reservations, (m->n_reservations + 1) * sizeof(*nv));
        if (!nv) {
                free(r);
                return -ENOMEM;
        }
        m->reservations = nv;
        r->data = data;
        r->manager = m;
        m->reservations[m->n_reservations++] = r;
        manager_status_dirty(m);
        if (ret)
                *ret = r;
        return 0;
}

void manager_remove_reservation(Manager *m, ManagedReservation *r) {
        for (size_t i = 0; i < m->n_reservations; i++)
                if (m->reservations[i] == r) {
                        memmove(m->reservations + i, m->reservations + i + 1,
                                (m->n_reservations - i - 1) * sizeof(*m->reservations));
                        m->n_reservations--;
                        manager_status_dirty(m);
                        return;
                }
}

int manager_save_reservations(Manager *m) {
        _cleanup_free_ Reservation **list = NULL;
        StoreData d = { .next_id = m->next_id };
        int r;

        if (m->read_only)
                return 0;
        list = calloc(m->n_reservations + 1, sizeof(Reservation *));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_reservations; i++)
                list[i] = m->reservations[i]->data;
        d.reservations = list;
        d.n_reservations = m->n_reservations;

        r = store_save(m->state_dir, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to write %s/%s: %m", m->state_dir, STORE_FILE_NAME);
        return 0;
}

static int load_read_only(Manager *m, StoreData *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        struct stat st;
        size_t n;
        int r;

        if (asprintf(&path, "%s/%s", m->state_dir, STORE_FILE_NAME) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT) {
                        *ret = (StoreData) { .next_id = 1 };
                        return 0;
                }
                return negative_errno();
        }
        if (fstat(fileno(f), &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > STORE_FILE_MAX)
                r = -EBADMSG;
        else {
                text = malloc((size_t) st.st_size + 1);
                if (!text)
                        return -ENOMEM;
                n = fread(text, 1, (size_t) st.st_size, f);
                if (ferror(f))
                        return -EIO;
                r = store_parse(text, n, ret);
        }
        if (r == -EBADMSG) {
                log_error("%s is corrupt; read-only, so leaving it alone and showing no reservations.", path);
                *ret = (StoreData) { .next_id = 1 };
                return 0;
        }
        return r;
}

int manager_load_reservations(Manager *m) {
        _cleanup_free_ char *moved = NULL;
        StoreData d = {};
        bool moved_aside;
        int r;

        if (!m->read_only && mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create state directory %s: %m", m->state_dir);

        if (m->read_only)
                /* read-only changes nothing, not even a corrupt state file */
                r = load_read_only(m, &d);
        else
                r = store_load(m->state_dir, &d, &moved);
        if (r == -EPROTONOSUPPORT)
                return log_error_errno(r, "%s/%s was written by a newer pci-assignd (format > %d); "
                                       "refusing to start rather than lose it.",
                                       m->state_dir, STORE_FILE_NAME, STORE_FORMAT_VERSION);
        if (r < 0)
                return log_error_errno(r, "Failed to load %s/%s: %m", m->state_dir, STORE_FILE_NAME);
        moved_aside = r > 0;
        if (moved_aside)
                log_error("%s/%s is corrupt; moved it aside to %s and started with no reservations.",
                          m->state_dir, STORE_FILE_NAME, strempty(moved));

        m->next_id = d.next_id ?: 1;
        for (size_t i = 0; i < d.n_reservations; i++) {
                Reservation *res = d.reservations[i];

                /* format 1 did not say where a degraded one returns to:
                 * reserved claims least (Release still gives back) */
                if (res->state == RESERVATION_DEGRADED && res->return_to < 0)
                        res->return_to = RESERVATION_RESERVED;

                /* a transient one's owner may still be connected: decided
                 * by manager_track_owners() once the bus is open */
                r = add_managed(m, res, NULL);
                if (r < 0) {
                        store_data_done(&d);
                        return log_oom();
                }
                d.reservations[i] = NULL;
        }
        store_data_done(&d);
        if (m->n_reservations > 0)
                log_info("Loaded %zu reservation(s).", m->n_reservations);
        /* write down what we start with: a fresh file in place of the
         * corrupt one */
        if (moved_aside) {
                r = manager_save_reservations(m);
                if (r < 0)
                        return r;
        }
        return 0;
}

static uint64_t now_realtime_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* The owner of a transient reservation left the bus (or was gone when
 * the daemon started): the table says what goes: given back first (in-use:
 * the guest went with its owner; prepared or degraded: what may still be
 * on the vfio driver), through the job queue, or deleted at once. */
void manager_reservation_owner_gone(Manager *m, ManagedReservation *mr) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ReservationTransition t;
        int k;

        mr->track = sd_bus_track_unref(mr->track);
        mr->orphan = false;
        k = reservation_transition(mr->data->state, mr->data->return_to, RESERVATION_EVENT_OWNER_GONE, &t, NULL);
        if (k >= 0 && (mr->jobs > 0 || t.action == RESERVATION_ACTION_GIVE_BACK_RELEASE)) {
                (void) manager_reservation_apply(m, mr, RESERVATION_EVENT_OWNER_GONE, LAST_ERROR_KEEP, NULL, 0, NULL);
                k = manager_unprepare(m, mr, true, NULL, &error);
                if (k < 0)
                        log_error_errno(k, "Failed to give back transient reservation %s: %s", mr->data->id,
                                        error.message ?: strerror(-k));
                return;
        }
        k = manager_release(m, mr, &error);
        if (k < 0)
                log_error_errno(k, "Failed to release transient reservation %s: %s", mr->data->id,
                                error.message ?: strerror(-k));
}

/* Appends "a, b, c" to a bounded buffer */
static void list_append(char *buf, size_t size, const char *s) {
        size_t l = strlen(buf);
        if (l + 3 + strlen(s) >= size) {
                if (l + 4 < size && !strstr(buf, "..."))
                        strcat(buf, ", ...");
                return;
        }
        if (l > 0)
                strcat(buf, ", ");
        strcat(buf, s);
}

/* A function on a vfio driver or pci-stub at Reserve (an admin's driverctl
 * override, vfio-pci.ids= or pci-stub.ids= at boot) is adopted: it is
 * given back to that binding, driver_override as it was, never to a host
 * driver.  The override is read now (changing it makes no uevent). */
static int adopt_binding(Manager *m, const PciDevice *d, ReservationFunction *f) {
        char ovr[128] = "";

        if (m->sysfs.root_fd < 0 || sysfs_read_override(&m->sysfs, &d->address, ovr, sizeof ovr) < 0)
                snprintf(ovr, sizeof ovr, "%s", strempty(d->driver_override));
        f->host_driver = strdup(d->driver);
        if (!f->host_driver)
                return -ENOMEM;
        f->adopted = true;
        if (ovr[0] && !driver_name_is_valid(ovr))
                log_warning("%s: its driver_override is not a driver name; giving it back to %s will clear it.",
                            d->name, d->driver);
        else if (ovr[0] && !(f->host_override = strdup(ovr)))
                return -ENOMEM;
        log_info("%s is on %s%s%s%s: the admin's binding, adopted (it is given back so).", d->name, d->driver,
                 f->host_override ? " (driver_override " : " (no driver_override", strempty(f->host_override), ")");
        return 0;
}

/* NotAssignable (an error already set, returned) if a's verdict for owner
 * is not-assignable, naming its blocking reasons; 0 if it is assignable. */
static int refuse_not_assignable(Manager *m, const PciAddress *a, const char *owner, sd_bus_error *error) {
        char buf[PCI_ADDRESS_STRLEN], reasons[1024] = "";
        Verdict v = {};
        int r;

        r = manager_verdict(m, a, owner, &v);
        if (r < 0)
                return r;
        if (v.kind != VERDICT_NOT_ASSIGNABLE) {
                verdict_done(&v);
                return 0;
        }
        for (size_t k = 0; k < v.n_reasons; k++)
                if (v.reasons[k].error)
                        list_append(reasons, sizeof reasons, v.reasons[k].text);
        verdict_done(&v);
        return sd_bus_error_setf(error, BUS_ERROR_NOT_ASSIGNABLE, "%s is not assignable: %s",
                                 pci_address_format(a, buf), reasons);
}

int manager_reserve(Manager *m, const ReserveRequest *req, ManagedReservation **ret, sd_bus_error *error) {
        _cleanup_reservation_ Reservation *res = NULL;
        ManagedReservation *mr = NULL;
        char missing[1024] = "", buf[PCI_ADDRESS_STRLEN];
        int r;

        if (m->read_only)
                return sd_bus_error_set(error, BUS_ERROR_READ_ONLY, "pci-assignd runs read-only");

        res = reservation_new();
        if (!res)
                return -ENOMEM;

        /* every listed function must exist and be ours to take */
        for (size_t i = 0; i < req->n; i++) {
                const PciAddress *a = &req->addresses[i];
                ManagedReservation *other;

                if (!topology_find(m->topology, a))
                        return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_DEVICE, "No PCI function %s",
                                                 pci_address_format(a, buf));
                other = manager_reservation_of(m, a, NULL);
                if (other)
                        return sd_bus_error_setf(error, BUS_ERROR_ALREADY_RESERVED,
                                                 "%s is already reserved by %s (reservation %s)",
                                                 pci_address_format(a, buf), other->data->owner, other->data->id);
                r = reservation_add_function(res, a, req->assigned[i]);
                if (r == -EEXIST)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s is listed twice",
                                                 pci_address_format(a, buf));
                if (r < 0)
                        return r;
        }

        /* what is asked for and cannot be assigned is said first: a bridge
         * is a bridge and a function whose group peer the host depends on
         * is refused for that, whatever else the group holds (completing
         * the group could not help) */
        for (size_t i = 0; i < req->n; i++) {
                r = refuse_not_assignable(m, &req->addresses[i], req->owner, error);
                if (r != 0)
                        return r;
        }

        /* group rule: every endpoint member of a touched group */
        for (size_t i = 0; i < req->n; i++) {
                PciDevice *d = topology_find(m->topology, &req->addresses[i]);
                _cleanup_free_ PciDevice **peers = NULL;
                size_t n_peers = 0;

                r = topology_group_peers(m->topology, d, &peers, &n_peers);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < n_peers; k++) {
                        ManagedReservation *other;

                        if (reservation_find_function(res, &peers[k]->address))
                                continue;
                        other = manager_reservation_of(m, &peers[k]->address, NULL);
                        if (other)
                                return sd_bus_error_setf(error, BUS_ERROR_ALREADY_RESERVED,
                                                         "%s shares IOMMU group %d with %s and is reserved by %s (reservation %s)",
                                                         peers[k]->name, d->iommu_group, d->name,
                                                         other->data->owner, other->data->id);
                        if (req->complete_group) {
                                r = reservation_add_function(res, &peers[k]->address, false);
                                if (r < 0)
                                        return r;
                        } else if (!strstr(missing, peers[k]->name))
                                list_append(missing, sizeof missing, peers[k]->name);
                }
        }
        if (missing[0])
                return sd_bus_error_setf(error, BUS_ERROR_GROUP_INCOMPLETE,
                                         "Every endpoint of an IOMMU group must be reserved together; missing: %s "
                                         "(list them, assigned=false if the guest should not get them, "
                                         "or pass complete-group)", missing);

        /* every function, listed or added, must be assignable for this owner */
        for (size_t i = 0; i < res->n_functions; i++) {
                r = refuse_not_assignable(m, &res->functions[i].address, req->owner, error);
                if (r != 0)
                        return r;
        }

        /* record what we will need to give the functions back */
        for (size_t i = 0; i < res->n_functions; i++) {
                ReservationFunction *f = &res->functions[i];
                PciDevice *d = topology_find(m->topology, &f->address);
                const char *host;

                f->vendor_id = d->vendor_id;
                f->device_id = d->device_id;
                f->has_subsystem = true;
                f->subsystem_vendor_id = d->subsystem_vendor_id;
                f->subsystem_device_id = d->subsystem_device_id;
                if (d->config_valid && d->config.dsn) {
                        f->has_dsn = true;
                        f->dsn = d->config.dsn_value;
                }
                /* the one host-driver decision (not reserved yet: the
                 * driver an earlier Detach recorded, else the bound one
                 * unless it is one of ours) */
                host = manager_host_driver(m, d);
                if (host) {
                        f->host_driver = strdup(host);
                        if (!f->host_driver)
                                return -ENOMEM;
                } else if (driver_is_adoptable(d->driver) && !manager_find_detached(m, &f->address)) {
                        /* (one that Detach() put there keeps Detach()'s record) */
                        r = adopt_binding(m, d, f);
                        if (r < 0)
                                return r;
                }
        }

        snprintf(res->id, sizeof res->id, "r%llu", (unsigned long long) m->next_id);
        res->owner = strdup(req->owner);
        res->driver = strdup(req->driver ?: "vfio-pci");
        if (!res->owner || !res->driver)
                return -ENOMEM;
        res->owner_uid = req->owner_uid;
        res->persistent = req->persistent;
        if (!req->persistent && req->message) {
                /* stored, so that a restarted daemon finds its owner again:
                 * the unique name with the bus's ID (a restarted bus
                 * hands out the same names again) */
                const char *sender = sd_bus_message_get_sender(req->message);

                if (!sender || !bus_unique_name_is_valid(sender) || !bus_id_is_valid(m->bus_id))
                        return sd_bus_error_set(error, BUS_ERROR_OPERATION_FAILED,
                                                "Cannot tell the caller's unique bus name; a transient reservation "
                                                "needs one (reserve a persistent one instead)");
                res->owner_bus_name = strdup(sender);
                res->owner_bus_id = strdup(m->bus_id);
                if (!res->owner_bus_name || !res->owner_bus_id)
                        return -ENOMEM;
        }
        res->state = RESERVATION_RESERVED;
        res->created_usec = now_realtime_usec();

        r = add_managed(m, res, &mr);
        if (r < 0)
                return r;
        TAKE_PTR(res);
        m->next_id++;

        /* stored before anyone can see it */
        r = manager_save_reservations(m);
        if (r < 0) {
                manager_remove_reservation(m, mr);
                managed_reservation_free(mr);
                m->next_id--;
                return sd_bus_error_setf(error, BUS_ERROR_OPERATION_FAILED,
                                         "Cannot store the reservation in %s: %s", m->state_dir, strerror(-r));
        }

        if (!req->persistent && req->message) {
                r = manager_owner_track(m, mr, mr->data->owner_bus_name);
                if (r < 0) {
                        log_error_errno(r, "Failed to track the owner of %s: %m", mr->data->id);
                        manager_remove_reservation(m, mr);
                        managed_reservation_free(mr);
                        (void) manager_save_reservations(m);
                        return r;
                }
        }

        log_info("Reservation %s created for \"%s\" (uid %u): %zu function(s)%s.", mr->data->id,
                 mr->data->owner, (unsigned) mr->data->owner_uid, mr->data->n_functions,
                 mr->data->persistent ? "" : ", transient");
        /* the placeholders of absent functions exist before anyone looks
         * them up */
        manager_sync_missing(m);
        manager_invalidate_verdicts(m);
        manager_dbus_reservation_added(m, mr);
        *ret = mr;
        return 0;
}

int manager_release(Manager *m, ManagedReservation *mr, sd_bus_error *error) {
        int r;

        if (m->read_only)
                return sd_bus_error_set(error, BUS_ERROR_READ_ONLY, "pci-assignd runs read-only");
        if (mr->jobs > 0)
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE, "Reservation %s has an operation in progress",
                                         mr->data->id);
        if (mr->data->state == RESERVATION_PREPARED || manager_reservation_guest_may_run(mr))
                return sd_bus_error_setf(error, BUS_ERROR_IN_USE,
                                         "Reservation %s is %s; its functions must be given back first",
                                         mr->data->id, reservation_state_to_string(mr->data->state));

        size_t at = 0;
        while (at < m->n_reservations && m->reservations[at] != mr)
                at++;
        manager_remove_reservation(m, mr);
        r = manager_save_reservations(m);
        if (r < 0) {
                /* keep it, where it was: the stored state and ours must
                 * agree.  The array never shrinks, so there is room. */
                memmove(m->reservations + at + 1, m->reservations + at,
                        (m->n_reservations - at) * sizeof(*m->reservations));
                m->reservations[at] = mr;
                m->n_reservations++;
                return sd_bus_error_setf(error, BUS_ERROR_OPERATION_FAILED,
                                         "Cannot store the release in %s: %s", m->state_dir, strerror(-r));
        }
        log_info("Reservation %s of \"%s\" released.", mr->data->id, mr->data->owner);
        manager_invalidate_verdicts(m);
        manager_dbus_reservation_removed(m, mr);
        managed_reservation_free(mr);
        manager_sync_missing(m);
        return 0;
}
