/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The status line systemd shows (`systemctl status`, StatusText), kept
 * current after READY.  What changes one of its numbers (a function comes
 * or goes, a reservation is made, changes state or goes, a job is queued
 * or ends) calls manager_status_dirty(), which only arms a one-shot defer
 * source of the lowest priority: the line is built and sent once, after
 * everything else that was pending (a burst of calls or uevents is one
 * update), and only when its text changed.  Without NOTIFY_SOCKET nothing
 * is armed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"

static void _printf_(3, 4) append(char *buf, size_t size, const char *fmt, ...) {
        size_t l = strlen(buf);
        va_list ap;

        if (l + 1 >= size)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + l, size - l, fmt, ap);
        va_end(ap);
}

void manager_status(Manager *m, char *buf, size_t size) {
        unsigned by_state[_RESERVATION_STATE_MAX] = {};
        unsigned running, queued;
        bool first = true;

        for (size_t i = 0; i < m->n_reservations; i++)
                if ((unsigned) m->reservations[i]->data->state < _RESERVATION_STATE_MAX)
                        by_state[m->reservations[i]->data->state]++;

        snprintf(buf, size, "%zu PCI functions, %zu IOMMU groups, %zu reservation%s",
                 m->topology ? m->topology->n_devices : 0, m->topology ? m->topology->n_groups : 0,
                 m->n_reservations, m->n_reservations == 1 ? "" : "s");
        for (ReservationState s = 0; s < _RESERVATION_STATE_MAX; s++) {
                if (!by_state[s])
                        continue;
                append(buf, size, first ? " (%u %s" : ", %u %s", by_state[s], reservation_state_to_string(s));
                first = false;
        }
        if (!first)
                append(buf, size, ")");

        /* one worker runs the jobs in order: the first submitted one is
         * running (or starts now), the others wait */
        running = m->n_rebind_jobs > 0;
        queued = m->n_rebind_jobs > 0 ? (unsigned) m->n_rebind_jobs - 1 : 0;
        if (running)
                append(buf, size, ", %u job running", running);
        if (queued)
                append(buf, size, ", %u queued", queued);
        if (m->read_only)
                append(buf, size, ", read-only");
}

static int on_status(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        char text[sizeof m->status_sent];
        int r;

        manager_status(m, text, sizeof text);
        if (streq(text, m->status_sent))
                return 0;
        r = sd_notifyf(false, "STATUS=%s", text);
        if (r < 0)
                log_debug_errno(r, "Failed to send STATUS=%s: %m", text);
        memcpy(m->status_sent, text, sizeof text);
        return 0;
}

int manager_status_ready(Manager *m, const char *text) {
        const char *e = getenv("NOTIFY_SOCKET");
        int r;

        snprintf(m->status_sent, sizeof m->status_sent, "%s", text);
        r = sd_notifyf(false, "READY=1\nSTATUS=%s", m->status_sent);
        if (r < 0)
                log_debug_errno(r, "Failed to notify READY=1: %m");
        if (!e || !*e)
                return 0;  /* not started by systemd: nobody to tell */

        r = sd_event_add_defer(m->event, &m->status_source, on_status, m);
        if (r < 0)
                return log_warning_errno(r, "Cannot keep STATUS= current, it stays \"%s\": %m", m->status_sent);
        /* after every other source of the loop, as the signal flush */
        (void) sd_event_source_set_priority(m->status_source, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_description(m->status_source, "status");
        /* anything since the text above was built */
        (void) sd_event_source_set_enabled(m->status_source, SD_EVENT_ONESHOT);
        return 0;
}

void manager_status_dirty(Manager *m) {
        if (m->status_source)
                (void) sd_event_source_set_enabled(m->status_source, SD_EVENT_ONESHOT);
}
