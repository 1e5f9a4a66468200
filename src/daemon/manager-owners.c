/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The owners of transient reservations on the bus: a connection tracked
 * with sd_bus_track while its reservation lives, again after a restart
 * when it survived it.  What an owner's leaving does to its reservation is
 * manager_reservation_owner_gone()'s (manager-reservations.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "manager.h"

static int on_track_empty(sd_bus_track *track, void *userdata) {
        ManagedReservation *mr = userdata;

        log_fields(LOG_INFO, 0, ((LogFields) { .reservation_id = mr->data->id }),
                   "Owner %s of transient reservation %s disconnected, releasing it.",
                   mr->data->owner_bus_name ?: "(unknown)", mr->data->id);
        /* once: sd-bus calls this again as long as the track is empty */
        manager_reservation_owner_gone(mr->manager, mr);
        return 1;  /* handled: not again */
}

int manager_owner_track(Manager *m, ManagedReservation *mr, const char *name) {
        _cleanup_(sd_bus_track_unrefp) sd_bus_track *t = NULL;
        int r;

        r = sd_bus_track_new(m->bus, &t, on_track_empty, mr);
        if (r < 0)
                return r;
        /* fails with -ENXIO when the name has no owner (it asks the bus) */
        r = sd_bus_track_add_name(t, name);
        if (r < 0)
                return r;
        sd_bus_track_unref(mr->track);
        mr->track = TAKE_PTR(t);
        return 0;
}

/* Start-up, the bus open, before reconciliation: the owner of a transient
 * reservation whose connection survived the restart (same bus ID, its
 * unique name still there) is tracked again and keeps it.  One whose owner
 * is gone, or who cannot be told (no bus name stored: an older daemon;
 * another bus ID: the bus restarted, and reuses unique names) is an
 * orphan: a reserved one without an interrupted operation is dropped now
 * (nothing of it is on our drivers), the others are given back through
 * the job queue after READY (manager_startup_finish()). */
int manager_track_owners(Manager *m) {
        bool dropped = false;
        int r;

        for (size_t i = m->n_reservations; i > 0; i--) {
                ManagedReservation *mr = m->reservations[i - 1];
                Reservation *res = mr->data;
                char why[256];

                if (res->persistent)
                        continue;
                if (!res->owner_bus_name || !res->owner_bus_id)
                        snprintf(why, sizeof why, "no bus name of its owner is stored");
                else if (!streq(res->owner_bus_id, m->bus_id))
                        snprintf(why, sizeof why, "the bus was restarted (bus ID %s, now %s)", res->owner_bus_id,
                                 m->bus_id);
                else {
                        r = manager_owner_track(m, mr, res->owner_bus_name);
                        if (r >= 0) {
                                log_fields(LOG_INFO, 0, ((LogFields) { .reservation_id = res->id }),
                                           "Transient reservation %s: its owner %s is still connected; keeping it.",
                                           res->id, res->owner_bus_name);
                                continue;
                        }
                        if (r != -ENXIO) {
                                /* cannot tell: keeping it is what cannot
                                 * hurt a guest; Release() still works */
                                log_fields(LOG_ERR, r, ((LogFields) { .reservation_id = res->id }),
                                           "Transient reservation %s: cannot watch its owner %s: %m; keeping it "
                                           "untracked (release it when its owner is gone).",
                                           res->id, res->owner_bus_name);
                                continue;
                        }
                        snprintf(why, sizeof why, "its owner %s left the bus", res->owner_bus_name);
                }
                if (res->state == RESERVATION_RESERVED && !res->journal && !m->read_only) {
                        log_fields(LOG_INFO, 0, ((LogFields) { .reservation_id = res->id }),
                                   "Dropping transient reservation %s of \"%s\": %s.", res->id, res->owner, why);
                        manager_remove_reservation(m, mr);
                        managed_reservation_free(mr);
                        dropped = true;
                        continue;
                }
                log_fields(LOG_NOTICE, 0, ((LogFields) { .reservation_id = res->id }),
                           "Transient reservation %s of \"%s\" (%s): %s; %s.", res->id, res->owner,
                           reservation_state_to_string(res->state), why,
                           m->read_only ? "read-only, leaving it" : "giving it back after start-up");
                mr->orphan = !m->read_only;
        }
        if (!dropped)
                return 0;
        manager_sync_missing(m);
        return manager_save_reservations(m);
}
