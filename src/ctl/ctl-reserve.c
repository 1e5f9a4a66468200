/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci-assignctl reserve: Reserve(), and for --transient the hold that keeps
 * the reservation while this process runs (and waits for a restarted
 * daemon). */
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-show.h"
#include "ctl.h"

/* ---- reserve ------------------------------------------------------------- */

typedef struct Hold {
        sd_event *event;
        const char *id;         /* for messages */
        const char *path;
        int result;             /* 0, or a negative errno after its message */
        sd_event_source *restart_wait;  /* the daemon left the bus: until it is back */
} Hold;

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Hold *h = userdata;

        /* Closing the connection is what releases a transient reservation;
         * the daemon does it when it sees us go. */
        return sd_event_exit(h->event, 0);
}

static int on_reservation_removed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hold *h = userdata;
        const char *id, *path;

        if (sd_bus_message_read(m, "so", &id, &path) <= 0 || !streq(path, h->path))
                return 0;

        printf("Reservation %s was released.\n", h->id);
        return sd_event_exit(h->event, 0);
}

/* How long a holder waits for a daemon that left the bus to come back
 * (a restart: systemd's Restart=, an upgrade) before it gives up. */
#define HOLD_RESTART_WAIT_USEC (60ULL * 1000000ULL)

static int on_restart_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Hold *h = userdata;

        h->result = log_error_errno(-ETIMEDOUT,
                                    "%s did not come back within %llu s; transient reservation %s is gone with it.",
                                    PA_BUS_NAME, (unsigned long long) (HOLD_RESTART_WAIT_USEC / 1000000ULL), h->id);
        return sd_event_exit(h->event, 0);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hold *h = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL;
        const char *name, *old_owner, *new_owner;
        int r;

        /* Only our name is matched.  A daemon that restarts keeps a
         * transient reservation whose owner (this connection) stays on
         * the bus: wait for it, then look whether it still has ours. */
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) <= 0)
                return 0;
        if (!new_owner || !*new_owner) {
                printf("%s left the bus; waiting up to %llu s for it to come back (a restart keeps transient "
                       "reservation %s).\n",
                       PA_BUS_NAME, (unsigned long long) (HOLD_RESTART_WAIT_USEC / 1000000ULL), h->id);
                fflush(stdout);
                h->restart_wait = sd_event_source_disable_unref(h->restart_wait);
                r = sd_event_add_time_relative(h->event, &h->restart_wait, CLOCK_MONOTONIC, HOLD_RESTART_WAIT_USEC,
                                               0, on_restart_timeout, h);
                if (r < 0) {
                        h->result = log_error_errno(r, "Failed to wait for %s: %s", PA_BUS_NAME, strerror(-r));
                        return sd_event_exit(h->event, 0);
                }
                return 0;
        }
        h->restart_wait = sd_event_source_disable_unref(h->restart_wait);
        r = sd_bus_get_property_string(sd_bus_message_get_bus(m), PA_BUS_NAME, h->path, PA_RESERVATION_IFACE,
                                       "State", &e, &state);
        if (r < 0) {
                h->result = log_error_errno(-ECONNRESET,
                                            "%s is back, but transient reservation %s is gone: %s", PA_BUS_NAME,
                                            h->id, e.message ?: strerror(-r));
                return sd_event_exit(h->event, 0);
        }
        printf("%s is back; still holding transient reservation %s (%s).\n", PA_BUS_NAME, h->id, state);
        fflush(stdout);
        return 0;
}

static int on_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Hold *h = userdata;

        if (!sd_bus_message_is_signal(m, "org.freedesktop.DBus.Local", "Disconnected"))
                return 0;

        h->result = log_error_errno(-ECONNRESET, "Lost the bus connection; transient reservation %s is gone.",
                                    h->id);
        return sd_event_exit(h->event, 0);
}

/* Matches are added before Reserve() so that nothing can slip between the
 * reply and the wait; they only fire once the event loop runs. */
static int hold_watch(sd_bus *bus, Hold *h) {
        int r;

        r = sd_bus_match_signal(bus, NULL, PA_BUS_NAME, PA_MANAGER_PATH, PA_MANAGER_IFACE,
                                "ReservationRemoved", on_reservation_removed, h);
        if (r >= 0)
                r = sd_bus_add_match(bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',"
                                     "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                                     "member='NameOwnerChanged',arg0='" PA_BUS_NAME "'",
                                     on_name_owner_changed, h);
        if (r >= 0)
                r = sd_bus_add_filter(bus, NULL, on_message, h);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the reservation: %s", strerror(-r));
        return 0;
}

/* Keeps the connection (and so the transient reservation) until SIGINT or
 * SIGTERM, or until the reservation or the daemon goes away. */
static int hold_run(sd_bus *bus, Hold *h) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %s", strerror(errno));

        r = sd_event_new(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %s", strerror(-r));
        h->event = e;

        r = sd_event_add_signal(e, NULL, SIGINT, on_signal, h);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, h);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %s", strerror(-r));

        r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %s", strerror(-r));

        r = sd_event_loop(e);
        h->restart_wait = sd_event_source_disable_unref(h->restart_wait);
        (void) sd_bus_detach_event(bus);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %s", strerror(-r));
        return h->result;
}

static int reserve_context(const char *owner, char **addresses, char **ret) {
        char *ctx = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&ctx, &size);

        if (!f)
                return -ENOMEM;
        fprintf(f, "Reserve(%s", owner);
        for (char **a = addresses; a && *a; a++)
                fprintf(f, ", %s", *a);
        for (char **a = arg_unassigned; a && *a; a++)
                fprintf(f, ", %s(-)", *a);
        fputc(')', f);
        if (fclose(f) != 0) {
                free(ctx);
                return -ENOMEM;
        }
        *ret = ctx;
        return 0;
}

static int reserve_append(sd_bus_message *m, const char *owner, char **addresses) {
        int r;

        r = sd_bus_message_append(m, "s", owner);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(m, 'a', "(sb)");
        if (r < 0)
                return r;
        for (char **a = addresses; *a; a++) {
                r = sd_bus_message_append(m, "(sb)", *a, 1);
                if (r < 0)
                        return r;
        }
        for (char **a = arg_unassigned; a && *a; a++) {
                r = sd_bus_message_append(m, "(sb)", *a, 0);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;

        /* Only what the user asked for: the defaults are the daemon's. */
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (arg_transient) {
                r = sd_bus_message_append(m, "{sv}", "persistent", "b", 0);
                if (r < 0)
                        return r;
        }
        if (arg_complete_group) {
                r = sd_bus_message_append(m, "{sv}", "complete-group", "b", 1);
                if (r < 0)
                        return r;
        }
        if (arg_driver) {
                r = sd_bus_message_append(m, "{sv}", "driver", "s", arg_driver);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

int verb_reserve(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_object *props = NULL;
        _cleanup_free_ char *ctx = NULL, *path = NULL, *props_ctx = NULL;
        const char *owner = argv[1], *p, *id;
        json_object *functions, *groups;
        Hold hold = {};
        int r;

        if (!*owner)
                return usage_error("The owner must not be empty.");

        if (reserve_context(owner, argv + 2, &ctx) < 0)
                return ctl_out_of_memory();

        if (arg_transient) {
                r = hold_watch(bus, &hold);
                if (r < 0)
                        return r;
        }

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, "Reserve", &m);
        if (r < 0)
                return r;
        r = reserve_append(m, owner, argv + 2);
        if (r < 0)
                return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));

        r = ctl_call_full(bus, m, CTL_MUTATE_TIMEOUT_USEC, ctx, NULL, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &p);
        if (r <= 0)
                return log_parse_error(ctx, reply, r < 0 ? r : -EBADMSG);
        path = strdup(p);
        if (!path)
                return ctl_out_of_memory();

        /* The reservation exists now: a failure to read it back is only a
         * warning, the path still identifies it. */
        if (asprintf(&props_ctx, "GetAll(%s) on %s", PA_RESERVATION_IFACE, path) < 0) {
                props_ctx = NULL;
                return ctl_out_of_memory();
        }
        (void) ctl_get_all_properties(bus, path, PA_RESERVATION_IFACE, props_ctx, &props);

        id = json_get_string(props, "Id");
        functions = json_get_array(props, "Functions");
        groups = json_get_array(props, "Groups");
        owner = json_get_string(props, "Owner") ?: owner;

        if (id)
                printf("Reserved %s (%s) for %s", id, path, owner);
        else
                printf("Reserved %s for %s", path, owner);
        if (functions && groups) {
                size_t nf = json_object_array_length(functions), ng = json_object_array_length(groups);

                printf(": %zu %s in %zu %s", nf, ctl_plural(nf, "function", "functions"),
                       ng, ctl_plural(ng, "group", "groups"));
        }
        putchar('\n');

        if (!arg_transient)
                return 0;

        hold.id = id ?: path;
        hold.path = path;
        printf("Holding transient reservation %s until interrupted.\n", hold.id);
        fflush(stdout);

        return hold_run(bus, &hold);
}

