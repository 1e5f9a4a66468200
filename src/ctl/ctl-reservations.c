/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs about reservations: reservations, show-reservation, release,
 * placement (reserve: ctl-reserve.c).  Reservations are found by id through
 * GetReservation(); object paths are never built here. */
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

/* GetReservation(id): a copy of the object path. */
int get_reservation(sd_bus *bus, const char *id, char **ret_path) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *ctx = NULL;
        const char *path;
        int r;

        if (asprintf(&ctx, "GetReservation(%s)", id) < 0) {
                ctx = NULL;
                return ctl_out_of_memory();
        }

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, "GetReservation", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", id);
        if (r < 0)
                return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        r = ctl_call(bus, m, ctx, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r <= 0)
                return log_parse_error(ctx, reply, r < 0 ? r : -EBADMSG);

        *ret_path = strdup(path);
        if (!*ret_path)
                return ctl_out_of_memory();
        return 0;
}

/* A reservation that was released between listing it and reading it: sd-bus
 * answers UnknownObject, other bindings (dbus-python) UnknownMethod. */
static bool error_is_gone(const sd_bus_error *e) {
        return sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT) ||
               sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_INTERFACE) ||
               sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_METHOD) ||
               sd_bus_error_has_name(e, "org.pciassign1.Error.NoSuchReservation");
}

/* Functions a(sb) as read by bus_message_read_json(): true if every entry is
 * an [address, assigned] pair. */
static bool functions_valid(json_object *functions) {
        if (!functions)
                return false;
        for (size_t i = 0; i < json_object_array_length(functions); i++) {
                json_object *e = json_object_array_get_idx(functions, i);

                if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 2 ||
                    !json_object_is_type(json_object_array_get_idx(e, 0), json_type_string) ||
                    !json_object_is_type(json_object_array_get_idx(e, 1), json_type_boolean))
                        return false;
        }
        return true;
}

/* "0000:0b:00.0 0000:0b:00.1(-)": (-) marks assigned=false.  With
 * long_form, one "ADDRESS (assigned: yes|no)" per line instead. */
static char *format_functions(json_object *functions, bool long_form) {
        char *buf = NULL;
        size_t size = 0, n = json_object_array_length(functions);
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(functions, i);
                const char *address = json_object_get_string(json_object_array_get_idx(e, 0));
                bool assigned = json_object_get_boolean(json_object_array_get_idx(e, 1));

                if (long_form)
                        fprintf(f, "%s%s (assigned: %s)", i > 0 ? "\n" : "", address, assigned ? "yes" : "no");
                else
                        fprintf(f, "%s%s%s", i > 0 ? " " : "", address, assigned ? "" : "(-)");
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- reservations -------------------------------------------------------- */

typedef struct ResRow {
        const char *id, *owner, *state, *path;
        json_object *props;     /* NULL: released meanwhile */
} ResRow;

static int resrow_compare(const void *a, const void *b) {
        const ResRow *x = a, *y = b;

        /* "r2" before "r10" */
        return strverscmp(x->id, y->id);
}

static void resrows_free(ResRow *rows, size_t n) {
        for (size_t i = 0; i < n; i++)
                json_object_put(rows[i].props);
        free(rows);
}

/* --owner: the owner is one of those given (exact match), or none given. */
static bool owner_wanted(const char *owner) {
        if (!arg_owners)
                return true;
        for (char **o = arg_owners; *o; o++)
                if (streq(*o, owner))
                        return true;
        return false;
}

/* --lines: "ID STATE ADDRESS ASSIGNED PERSISTENT OWNER" per function, for
 * scripts (the libvirt hook): every field but the last is free of blanks;
 * OWNER (printable UTF-8, the daemon allows nothing else) is the rest of
 * the line. */
static int print_lines(const ResRow *rows, size_t n) {
        for (size_t i = 0; i < n; i++) {
                json_object *functions = json_get_array(rows[i].props, "Functions");
                const char *state = json_get_string(rows[i].props, "State") ?: rows[i].state;
                bool persistent = true;

                if (!functions_valid(functions))
                        return log_error_errno(-EBADMSG, "Reservation %s: Functions is not a(sb).", rows[i].id);
                (void) json_get_bool(rows[i].props, "Persistent", &persistent);
                for (size_t k = 0; k < json_object_array_length(functions); k++) {
                        json_object *e = json_object_array_get_idx(functions, k);

                        printf("%s %s %s %s %s %s\n", rows[i].id, state,
                               json_object_get_string(json_object_array_get_idx(e, 0)),
                               json_object_get_boolean(json_object_array_get_idx(e, 1)) ? "yes" : "no",
                               persistent ? "yes" : "no", rows[i].owner);
                }
        }
        return 0;
}

/* ListReservations() and the properties of each entry.  Entries that went
 * away before their properties could be read are dropped.  The strings
 * point into *ret_reply. */
static int read_reservations(sd_bus *bus, sd_bus_message **ret_reply, ResRow **ret, size_t *ret_n) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        ResRow *rows = NULL;
        size_t n = 0;
        int r;

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, "ListReservations", &m);
        if (r < 0)
                return r;
        r = ctl_call(bus, m, "ListReservations()", &reply);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "(ssso)");
        if (r <= 0)
                return log_parse_error("ListReservations()", reply, r < 0 ? r : -EBADMSG);
        for (;;) {
                const char *id, *owner, *state, *path;
                ResRow *l;

                r = sd_bus_message_read(reply, "(ssso)", &id, &owner, &state, &path);
                if (r < 0) {
                        resrows_free(rows, n);
                        return log_parse_error("ListReservations()", reply, r);
                }
                if (r == 0)
                        break;
                if (!owner_wanted(owner))
                        continue;

                l = reallocarray(rows, n + 1, sizeof(ResRow));
                if (!l) {
                        resrows_free(rows, n);
                        return ctl_out_of_memory();
                }
                rows = l;
                rows[n++] = (ResRow) { id, owner, state, path, NULL };
        }

        for (size_t i = 0; i < n; i++) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_free_ char *ctx = NULL;

                if (asprintf(&ctx, "GetAll(%s) on %s", PA_RESERVATION_IFACE, rows[i].path) < 0) {
                        ctx = NULL;
                        resrows_free(rows, n);
                        return ctl_out_of_memory();
                }
                r = ctl_get_all_properties_full(bus, rows[i].path, PA_RESERVATION_IFACE, ctx,
                                                &error, &rows[i].props);
                if (r < 0 && !error_is_gone(&error)) {
                        if (sd_bus_error_is_set(&error))
                                log_bus_error(ctx, &error, r);
                        sd_bus_error_free(&error);
                        resrows_free(rows, n);
                        return r;
                }
                sd_bus_error_free(&error);
        }

        /* Drop the ones that are gone. */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (rows[i].props)
                        rows[k++] = rows[i];
        n = k;

        if (n > 0)
                qsort(rows, n, sizeof(ResRow), resrow_compare);

        *ret_reply = TAKE_PTR(reply);
        *ret = rows;
        *ret_n = n;
        return 0;
}

int verb_reservations(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_bus_message_ sd_bus_message *reply = NULL;
        _cleanup_table_ Table *table = NULL;
        ResRow *rows = NULL;
        size_t n = 0;
        int r;

        r = read_reservations(bus, &reply, &rows, &n);
        if (r < 0)
                return r;

        if (arg_lines) {
                r = print_lines(rows, n);
                resrows_free(rows, n);
                return r;
        }

        if (arg_json) {
                _cleanup_json_ json_object *array = json_object_new_array();

                if (!array) {
                        resrows_free(rows, n);
                        return ctl_out_of_memory();
                }
                for (size_t i = 0; i < n; i++)
                        if (json_object_array_add(array, json_object_get(rows[i].props)) < 0) {
                                json_object_put(rows[i].props);
                                resrows_free(rows, n);
                                return ctl_out_of_memory();
                        }
                resrows_free(rows, n);
                return json_print(array);
        }

        table = table_new(5, "ID", "OWNER", "STATE", "FUNCTIONS", "PERSISTENT");
        if (!table) {
                resrows_free(rows, n);
                return ctl_out_of_memory();
        }
        table_set_shrink_column(table, 3, 12);

        for (size_t i = 0; i < n; i++) {
                json_object *functions = json_get_array(rows[i].props, "Functions");
                _cleanup_free_ char *f = NULL;
                bool persistent, has_persistent;

                if (functions_valid(functions)) {
                        f = format_functions(functions, false);
                        if (!f) {
                                resrows_free(rows, n);
                                return ctl_out_of_memory();
                        }
                }
                has_persistent = json_get_bool(rows[i].props, "Persistent", &persistent);

                const char *cells[] = {
                        rows[i].id,
                        rows[i].owner,
                        rows[i].state,
                        f,
                        has_persistent ? (persistent ? "yes" : "no") : NULL,
                };
                r = table_add_row(table, cells);
                if (r < 0) {
                        resrows_free(rows, n);
                        return ctl_out_of_memory();
                }
        }
        resrows_free(rows, n);

        if (n == 0) {
                if (arg_legend)
                        printf("No reservations.\n");
                return 0;
        }

        r = table_print(table, stdout, arg_legend);
        if (r < 0)
                return log_error_errno(r, "Failed to print table: %s", strerror(-r));

        if (arg_legend)
                printf("\n%zu %s listed.\n", n, ctl_plural(n, "reservation", "reservations"));
        return 0;
}

/* ---- show-reservation ---------------------------------------------------- */

static int show_owner_uid(Show *s) {
        int64_t uid;
        int r;

        if (!json_get_int(s->props, "OwnerUID", &uid))
                return 0;
        r = show_use(s, "OwnerUID");
        if (r < 0)
                return r;

        /* The daemon runs on this host, so its uids are ours. */
        if (uid >= 0 && uid < UINT32_MAX) {
                char buf[4096];
                struct passwd pw, *result = NULL;

                if (getpwuid_r((uid_t) uid, &pw, buf, sizeof(buf), &result) == 0 && result)
                        return show_addf(s, "Owner UID", "%" PRIi64 " (%s)", uid, result->pw_name);
        }
        return show_addf(s, "Owner UID", "%" PRIi64, uid);
}

static int show_created(Show *s) {
        json_object *v;
        uint64_t usec;
        time_t t;
        struct tm tm;
        char buf[128];
        int r;

        if (!json_object_object_get_ex(s->props, "CreatedUSec", &v) || !json_object_is_type(v, json_type_int))
                return 0;
        r = show_use(s, "CreatedUSec");
        if (r < 0)
                return r;

        usec = json_object_get_uint64(v);
        if (usec == 0)
                return show_add(s, "Created", strdup("unknown"));

        t = (time_t) (usec / 1000000);
        if (!localtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%a %Y-%m-%d %H:%M:%S %Z", &tm) == 0)
                return show_addf(s, "Created", "%" PRIu64 " usec since the epoch", usec);
        return show_add(s, "Created", strdup(buf));
}

static int show_last_error(Show *s) {
        const char *v = json_get_string(s->props, "LastError");
        int r;

        if (!v)
                return 0;
        r = show_use(s, "LastError");
        if (r < 0 || !*v)
                return r;
        return show_add(s, "Last error", strdup(v));
}

static int show_groups(Show *s) {
        json_object *groups = json_get_array(s->props, "Groups");
        char *text = NULL;
        size_t size = 0, n;
        FILE *f;
        int r;

        if (!groups)
                return 0;
        n = json_object_array_length(groups);
        for (size_t i = 0; i < n; i++)
                if (!json_object_is_type(json_object_array_get_idx(groups, i), json_type_int))
                        return 0;

        r = show_use(s, "Groups");
        if (r < 0)
                return r;
        if (n == 0)
                return show_add(s, "Groups", strdup("none"));

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                fprintf(f, "%s%" PRIi64, i > 0 ? ", " : "",
                        json_object_get_int64(json_object_array_get_idx(groups, i)));
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        return show_add(s, "Groups", text);
}

static int show_functions(Show *s) {
        json_object *functions = json_get_array(s->props, "Functions");
        int r;

        if (!functions_valid(functions))
                return 0;
        r = show_use(s, "Functions");
        if (r < 0)
                return r;
        if (json_object_array_length(functions) == 0)
                return show_add(s, "Functions", strdup("none"));
        return show_add(s, "Functions", format_functions(functions, true));
}

static int show_reservation_props(Show *s) {
        int r;

        if ((r = show_string(s, "Owner", "Owner", "(empty)")) < 0 ||
            (r = show_owner_uid(s)) < 0 ||
            (r = show_string(s, "State", "State", "(empty)")) < 0 ||
            (r = show_bool(s, "Persistent", "Persistent")) < 0 ||
            (r = show_string(s, "Driver", "Driver", "(empty)")) < 0 ||
            (r = show_created(s)) < 0 ||
            (r = show_last_error(s)) < 0 ||
            (r = show_groups(s)) < 0 ||
            (r = show_functions(s)) < 0)
                return r;

        return show_rest(s, "Id");
}

int verb_show_reservation(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_json_ json_object *props = NULL;
        _cleanup_free_ char *path = NULL, *ctx = NULL;
        const char *id = argv[1];
        Show s = {};
        int r;

        r = get_reservation(bus, id, &path);
        if (r < 0)
                return r;

        if (asprintf(&ctx, "GetAll(%s) on %s", PA_RESERVATION_IFACE, path) < 0) {
                ctx = NULL;
                return ctl_out_of_memory();
        }
        r = ctl_get_all_properties(bus, path, PA_RESERVATION_IFACE, ctx, &props);
        if (r < 0)
                return r;

        if (arg_json)
                return json_print(props);

        s.props = props;
        r = show_reservation_props(&s);
        if (r < 0) {
                show_done(&s);
                return log_error_errno(r, "Failed to format properties: %s", strerror(-r));
        }

        printf("Reservation %s\n", json_get_string(props, "Id") ?: id);
        show_print(&s);
        show_done(&s);
        return 0;
}

/* ---- release, placement -------------------------------------------------- */

int verb_release(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *ctx = NULL;
        const char *id = argv[1];
        int r;

        r = get_reservation(bus, id, &path);
        if (r < 0)
                return r;

        if (asprintf(&ctx, "Release() on %s", path) < 0) {
                ctx = NULL;
                return ctl_out_of_memory();
        }
        r = ctl_new_call(bus, path, PA_RESERVATION_IFACE, "Release", &m);
        if (r < 0)
                return r;
        r = ctl_call_full(bus, m, CTL_MUTATE_TIMEOUT_USEC, ctx, NULL, &reply);
        if (r < 0)
                return r;

        printf("Released %s.\n", id);
        return 0;
}

int verb_placement(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *ctx = NULL;
        const char *id = argv[1], *machine = argv[2], *json;
        int r;

        r = get_reservation(bus, id, &path);
        if (r < 0)
                return r;

        if (asprintf(&ctx, "GetPlacement(%s) on %s", machine, path) < 0) {
                ctx = NULL;
                return ctl_out_of_memory();
        }
        r = ctl_new_call(bus, path, PA_RESERVATION_IFACE, "GetPlacement", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", machine);
        if (r < 0)
                return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        r = ctl_call(bus, m, ctx, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &json);
        if (r <= 0)
                return log_parse_error(ctx, reply, r < 0 ? r : -EBADMSG);

        /* Verbatim: the daemon's document is the contract. */
        fputs(json, stdout);
        if (!*json || json[strlen(json) - 1] != '\n')
                fputc('\n', stdout);
        return 0;
}
