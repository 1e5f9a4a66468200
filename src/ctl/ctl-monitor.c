/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci-assignctl monitor: every signal of org.pciassign1 as one line, like
 * `udevadm monitor`, or as one JSON object per line with --json.
 *
 * The matches are added synchronously (each AddMatch waits for the bus's
 * reply) before anything is announced, so once "Monitoring org.pciassign1"
 * is on stderr every signal the daemon sends from then on is printed: a
 * script or a test starts the monitor, waits for that line and then acts.
 * The rule on the well-known name follows the name across daemon restarts
 * (dbus-daemon checks the current owner for every message), and the owner
 * changes themselves are printed as DaemonLeft/DaemonAppeared. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "ctl-bus.h"
#include "ctl.h"

#define PA_DEVICE_PREFIX       PA_MANAGER_PATH "/device"
#define PA_GROUP_PREFIX        PA_MANAGER_PATH "/group"
#define PA_RESERVATION_PREFIX  PA_MANAGER_PATH "/reservation"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

typedef struct Monitor {
        sd_event *event;
        int result;     /* 0, or a negative errno after its message */
} Monitor;

/* The Manager's signals as in org.pciassign1(5), with their argument
 * names: these become the JSON keys.  A signal that is not here, or that
 * comes with another signature, is still printed, with its arguments as
 * "args". */
static const struct {
        const char *member;
        const char *signature;
        const char *args[3];
} manager_signals[] = {
        { "DeviceAdded",        "so",  { "address", "path" } },
        { "DeviceRemoved",      "so",  { "address", "path" } },
        { "DriverChanged",      "sss", { "address", "old_driver", "new_driver" } },
        { "ReservationAdded",   "so",  { "id", "path" } },
        { "ReservationRemoved", "so",  { "id", "path" } },
        { "ReservationChanged", "ss",  { "id", "state" } },
        { "Conflict",           "sss", { "address", "reservation_id", "message" } },
};

/* Local time with microseconds and the UTC offset:
 * 2024-05-01T12:00:00.123456+02:00 (ISO 8601). */
static int format_now(char *buf, size_t size) {
        struct timespec ts;
        struct tm tm;
        char date[32], zone[8];

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -errno;
        if (!localtime_r(&ts.tv_sec, &tm))
                return -EOVERFLOW;
        if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0 ||
            strftime(zone, sizeof zone, "%z", &tm) != 5)
                return -EOVERFLOW;
        /* %z is +hhmm; ISO 8601's extended format wants +hh:mm */
        snprintf(buf, size, "%s.%06ld%.3s:%s", date, ts.tv_nsec / 1000, zone, zone + 3);
        return 0;
}

/* {"time": ..., "event": ...}: the first keys of every line. */
static int event_new(const char *event, json_object **ret) {
        _cleanup_json_ json_object *j = json_object_new_object();
        char now[64];
        int r;

        if (!j)
                return -ENOMEM;
        r = format_now(now, sizeof now);
        if (r < 0)
                return r;
        r = json_add(j, "time", json_object_new_string(now));
        if (r >= 0)
                r = json_add(j, "event", json_object_new_string(event));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

/* The object a path names, decoded from its label (org.pciassign1(5)):
 * "address" for a function, "group" (a number) for an IOMMU group, "id" for
 * a reservation.  Other paths add nothing. */
static int add_object_label(json_object *j, const char *path) {
        static const struct {
                const char *prefix;
                const char *key;
        } kinds[] = {
                { PA_DEVICE_PREFIX,      "address" },
                { PA_GROUP_PREFIX,       "group"   },
                { PA_RESERVATION_PREFIX, "id"      },
        };

        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                _cleanup_free_ char *label = NULL;
                json_object *v;
                int r;

                r = sd_bus_path_decode(path, kinds[i].prefix, &label);
                if (r < 0)
                        return r;
                if (r == 0 || !label || !*label)
                        continue;

                if (streq(kinds[i].key, "group")) {
                        char *end;
                        unsigned long n;

                        errno = 0;
                        n = strtoul(label, &end, 10);
                        v = errno == 0 && *end == '\0' && isdigit((unsigned char) label[0]) && n <= UINT32_MAX ?
                                json_object_new_int64((int64_t) n) : json_object_new_string(label);
                } else
                        v = json_object_new_string(label);
                return json_add(j, kinds[i].key, v);
        }
        return 0;
}

/* ---- human output ---- */

/* Values print bare when that cannot be misread (names, addresses, paths,
 * numbers), strings with anything else JSON-quoted, containers as compact
 * JSON: the line stays one line whatever the daemon sends. */
static bool is_bare(const char *s) {
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr("_.:/@+,-", *s))
                        return false;
        return true;
}

static void fput_value(FILE *f, json_object *v) {
        if (json_object_is_type(v, json_type_boolean))
                fputs(json_object_get_boolean(v) ? "yes" : "no", f);
        else if (json_object_is_type(v, json_type_string) && is_bare(json_object_get_string(v)))
                fputs(json_object_get_string(v), f);
        else
                fputs(json_object_to_json_string_ext(v, JSON_FLAGS), f);
}

/* Interfaces every object has say nothing; the JSON output keeps them. */
static bool is_standard_interface(const char *name) {
        return startswith_const(name, "org.freedesktop.DBus.");
}

static void fput_interfaces(FILE *f, json_object *v) {
        bool first = true;

        fputs(" interfaces=", f);
        if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, name, props) {
                        (void) props;
                        if (is_standard_interface(name))
                                continue;
                        fprintf(f, "%s%s", first ? "" : ",", name);
                        first = false;
                }
        } else if (json_object_is_type(v, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        const char *name = json_object_get_string(json_object_array_get_idx(v, i));

                        if (!name || is_standard_interface(name))
                                continue;
                        fprintf(f, "%s%s", first ? "" : ",", name);
                        first = false;
                }
        }
        if (first)
                fputs("-", f);
}

/* "TIME EVENT SUBJECT key=value...": the subject is the function's address,
 * the reservation id, the group number or the daemon's unique name, else
 * the object path; the details are the remaining keys of the JSON form
 * (the object path is left out when the subject names the object). */
static char *format_human(json_object *j, const char *note) {
        static const char *const subject_keys[] = { "address", "id", "group", "owner", "path" };
        const char *subject = NULL;
        json_object *v;
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        if (json_object_object_get_ex(j, "time", &v))
                fprintf(f, "%s ", json_object_get_string(v));
        if (json_object_object_get_ex(j, "event", &v))
                fputs(json_object_get_string(v), f);

        for (size_t i = 0; i < ELEMENTSOF(subject_keys); i++)
                if (json_object_object_get_ex(j, subject_keys[i], &v)) {
                        subject = subject_keys[i];
                        fputc(' ', f);
                        fput_value(f, v);
                        break;
                }

        if (note)
                fprintf(f, " %s", note);
        else {
                json_object_object_foreach(j, key, value) {
                        if (streq(key, "time") || streq(key, "event") || streq(key, "path") ||
                            streq_ptr(key, subject))
                                continue;

                        if (streq(key, "changed") && json_object_is_type(value, json_type_object)) {
                                json_object_object_foreach(value, prop, pv) {
                                        fprintf(f, " %s=", prop);
                                        fput_value(f, pv);
                                }
                        } else if (streq(key, "invalidated") && json_object_is_type(value, json_type_array)) {
                                for (size_t i = 0; i < json_object_array_length(value); i++)
                                        fprintf(f, " %s=<invalidated>",
                                                json_object_get_string(json_object_array_get_idx(value, i)));
                        } else if (streq(key, "interfaces"))
                                fput_interfaces(f, value);
                        else {
                                fprintf(f, " %s=", key);
                                fput_value(f, value);
                        }
                }
        }

        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* One line on stdout, flushed at once: the monitor is read through pipes.
 * A failed write ends the monitor (nobody reads what follows). */
static int monitor_emit(Monitor *mon, json_object *j, const char *note) {
        _cleanup_free_ char *human = NULL;
        const char *line;

        if (arg_json)
                line = json_object_to_json_string_ext(j, JSON_FLAGS);
        else
                line = human = format_human(j, note);
        if (!line)
                return ctl_out_of_memory();

        if (puts(line) < 0 || fflush(stdout) != 0) {
                mon->result = log_error_errno(-errno ?: -EIO, "Failed to write output: %s", strerror(errno ?: EIO));
                return sd_event_exit(mon->event, mon->result);
        }
        return 0;
}

/* A signal we could not read (or format) is reported and skipped: the
 * monitor is there to watch a daemon, including a misbehaving one. */
static int skip_message(sd_bus_message *m, int r) {
        log_error_errno(r, "Skipped %s signal from %s (signature \"%s\"): %s",
                        strempty(sd_bus_message_get_member(m)), strempty(sd_bus_message_get_path(m)),
                        strempty(sd_bus_message_get_signature(m, true)), strerror(-r));
        return 0;
}

/* Every remaining argument, as a JSON array. */
static int read_all_args(sd_bus_message *m, json_object **ret) {
        _cleanup_json_ json_object *args = json_object_new_array();
        int r;

        if (!args)
                return -ENOMEM;
        for (;;) {
                json_object *v = NULL;

                r = sd_bus_message_at_end(m, true);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                r = bus_message_read_json(m, &v);
                if (r < 0)
                        return r;
                if (json_object_array_add(args, v) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(args);
        return 0;
}

/* A signal we do not know (a newer daemon): its path and its arguments. */
static int emit_generic(Monitor *mon, sd_bus_message *m) {
        _cleanup_json_ json_object *j = NULL, *args = NULL;
        const char *iface = sd_bus_message_get_interface(m);
        int r;

        r = read_all_args(m, &args);
        if (r < 0)
                return skip_message(m, r);

        r = event_new(strempty(sd_bus_message_get_member(m)), &j);
        if (r >= 0)
                r = json_add(j, "path", json_object_new_string(strempty(sd_bus_message_get_path(m))));
        if (r >= 0 && iface && !streq(iface, PA_MANAGER_IFACE))
                r = json_add(j, "interface", json_object_new_string(iface));
        if (r >= 0)
                r = json_add(j, "args", TAKE_PTR(args));
        if (r < 0)
                return skip_message(m, r);
        return monitor_emit(mon, j, NULL);
}

static int on_manager_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;
        const char *member = sd_bus_message_get_member(m);
        const char *sig = sd_bus_message_get_signature(m, true);
        json_object *values[ELEMENTSOF(manager_signals[0].args)] = {};
        _cleanup_json_ json_object *j = NULL;
        size_t n, k = SIZE_MAX;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(manager_signals); i++)
                if (streq_ptr(member, manager_signals[i].member) && streq_ptr(sig, manager_signals[i].signature)) {
                        k = i;
                        break;
                }
        if (k == SIZE_MAX)
                return emit_generic(mon, m);

        n = strlen(manager_signals[k].signature);
        for (size_t i = 0; i < n; i++) {
                r = bus_message_read_json(m, &values[i]);
                if (r < 0) {
                        for (size_t l = 0; l < i; l++)
                                json_object_put(values[l]);
                        return skip_message(m, r);
                }
        }

        /* "path" comes third on every line: the object the signal is
         * about when it names one, else the Manager that sent it. */
        r = event_new(member, &j);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (streq(manager_signals[k].args[i], "path"))
                        r = json_add(j, "path", TAKE_PTR(values[i]));
        if (r >= 0 && !json_object_object_get_ex(j, "path", NULL))
                r = json_add(j, "path", json_object_new_string(strempty(sd_bus_message_get_path(m))));
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (values[i])
                        r = json_add(j, manager_signals[k].args[i], TAKE_PTR(values[i]));
        for (size_t i = 0; i < n; i++)
                json_object_put(values[i]);
        if (r < 0)
                return skip_message(m, r);

        return monitor_emit(mon, j, NULL);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;
        _cleanup_json_ json_object *j = NULL, *iface = NULL, *changed = NULL, *invalidated = NULL;
        const char *path = strempty(sd_bus_message_get_path(m));
        int r;

        if (!streq_ptr(sd_bus_message_get_signature(m, true), "sa{sv}as"))
                return emit_generic(mon, m);

        r = bus_message_read_json(m, &iface);
        if (r >= 0)
                r = bus_message_read_json(m, &changed);
        if (r >= 0)
                r = bus_message_read_json(m, &invalidated);
        if (r < 0)
                return skip_message(m, r);

        r = event_new("PropertiesChanged", &j);
        if (r >= 0)
                r = json_add(j, "path", json_object_new_string(path));
        if (r >= 0)
                r = add_object_label(j, path);
        if (r >= 0)
                r = json_add(j, "interface", TAKE_PTR(iface));
        if (r >= 0)
                r = json_add(j, "changed", TAKE_PTR(changed));
        if (r >= 0)
                r = json_add(j, "invalidated", TAKE_PTR(invalidated));
        if (r < 0)
                return skip_message(m, r);

        return monitor_emit(mon, j, NULL);
}

/* InterfacesAdded(o, a{sa{sv}}) and InterfacesRemoved(o, as): "path" is
 * the object added or removed, "interfaces" an object of interface ->
 * properties, or an array of interface names. */
static int on_object_manager_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;
        _cleanup_json_ json_object *j = NULL, *path = NULL, *interfaces = NULL;
        const char *member = sd_bus_message_get_member(m);
        const char *sig = sd_bus_message_get_signature(m, true);
        int r;

        if (!(streq_ptr(member, "InterfacesAdded") && streq_ptr(sig, "oa{sa{sv}}")) &&
            !(streq_ptr(member, "InterfacesRemoved") && streq_ptr(sig, "oas")))
                return emit_generic(mon, m);

        r = bus_message_read_json(m, &path);
        if (r >= 0)
                r = bus_message_read_json(m, &interfaces);
        if (r < 0)
                return skip_message(m, r);

        r = event_new(member, &j);
        if (r >= 0)
                r = json_add(j, "path", json_object_get(path));
        if (r >= 0)
                r = add_object_label(j, json_object_get_string(path));
        if (r >= 0)
                r = json_add(j, "interfaces", TAKE_PTR(interfaces));
        if (r < 0)
                return skip_message(m, r);

        return monitor_emit(mon, j, NULL);
}

static int emit_daemon(Monitor *mon, sd_bus_message *m, const char *event, const char *owner, const char *note) {
        _cleanup_json_ json_object *j = NULL;
        int r;

        r = event_new(event, &j);
        if (r >= 0)
                r = json_add(j, "name", json_object_new_string(PA_BUS_NAME));
        if (r >= 0)
                r = json_add(j, "owner", json_object_new_string(owner));
        if (r < 0)
                return skip_message(m, r);
        return monitor_emit(mon, j, note);
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;
        const char *name, *old_owner, *new_owner;
        int r;

        r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
        if (r < 0)
                return skip_message(m, r);
        if (!streq(name, PA_BUS_NAME))
                return 0;

        /* A direct hand-over (old and new set) is both. */
        if (*old_owner) {
                r = emit_daemon(mon, m, "DaemonLeft", old_owner, "pci-assignd left the bus");
                if (r < 0 || mon->result < 0)
                        return r;
        }
        if (*new_owner)
                return emit_daemon(mon, m, "DaemonAppeared", new_owner, "pci-assignd is on the bus");
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;

        mon->result = log_error_errno(-ECONNRESET, "Lost the bus connection.");
        return sd_event_exit(mon->event, mon->result);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Monitor *mon = userdata;

        return sd_event_exit(mon->event, 0);
}

static int add_matches(sd_bus *bus, Monitor *mon) {
        static const struct {
                const char *rule;
                sd_bus_message_handler_t handler;
        } matches[] = {
                { "type='signal',sender='" PA_BUS_NAME "',path='" PA_MANAGER_PATH "',"
                  "interface='" PA_MANAGER_IFACE "'",
                  on_manager_signal },
                { "type='signal',sender='" PA_BUS_NAME "',path='" PA_MANAGER_PATH "',"
                  "interface='org.freedesktop.DBus.ObjectManager'",
                  on_object_manager_signal },
                { "type='signal',sender='" PA_BUS_NAME "',path_namespace='" PA_MANAGER_PATH "',"
                  "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'",
                  on_properties_changed },
                { "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                  "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" PA_BUS_NAME "'",
                  on_name_owner_changed },
        };
        int r;

        /* Local: never sent to the bus. */
        r = sd_bus_match_signal(bus, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                "Disconnected", on_disconnected, mon);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the bus connection: %s", strerror(-r));

        /* sd_bus_add_match() waits for the bus to acknowledge each rule:
         * when it returns, the subscription is live. */
        for (size_t i = 0; i < ELEMENTSOF(matches); i++) {
                r = sd_bus_add_match(bus, NULL, matches[i].rule, matches[i].handler, mon);
                if (r < 0)
                        return log_error_errno(r, "Failed to subscribe to signals (%s): %s",
                                               matches[i].rule, strerror(-r));
        }
        return 0;
}

static int name_has_owner(sd_bus *bus) {
        _cleanup_bus_message_ sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int b, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", PA_BUS_NAME);
        sd_bus_error_free(&error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "b", &b);
        if (r < 0)
                return r;
        return b;
}

int verb_monitor(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Monitor mon = {};
        sigset_t mask;
        int r;

        tzset();

        /* Blocked from the start, so that a SIGTERM during the set-up is
         * handled by the loop (exit 0) like one later. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(-errno, "Failed to block signals: %s", strerror(errno));

        r = sd_event_new(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %s", strerror(-r));
        mon.event = e;

        r = sd_event_add_signal(e, NULL, SIGINT, on_signal, &mon);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, &mon);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %s", strerror(-r));

        r = add_matches(bus, &mon);
        if (r < 0)
                return r;

        r = name_has_owner(bus);
        if (r == 0)
                fprintf(stderr, "%s: pci-assignd is not on the bus; waiting for it.\n",
                        program_invocation_short_name);
        /* The promise of --help: from this line on, nothing is missed. */
        fputs("Monitoring " PA_BUS_NAME " ...\n", stderr);
        fflush(stderr);

        r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %s", strerror(-r));

        r = sd_event_loop(e);
        (void) sd_bus_detach_event(bus);
        if (mon.result < 0)
                return mon.result;
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %s", strerror(-r));
        return 0;
}
