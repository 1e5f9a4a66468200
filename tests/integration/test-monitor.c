/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `pci-assignctl monitor` against the real daemon on a private bus (the
 * recorded q35 testbed): a --json and a human monitor watch the same
 * reservations being made and released with pci-assignctl (as root, so
 * polkit is not asked) and the daemon stopping and starting again; both
 * must print every signal, in order, one line each.  Under
 * $PCI_ASSIGND_TEST_WRAPPER (meson test --setup valgrind) the monitors run
 * under it too, and must exit 0 on SIGTERM/SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"

#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define RES1_PATH "/org/pciassign1/reservation/r1"
#define READY_LINE "Monitoring org.pciassign1 ..."

#define TIME_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}(Z|[+-][0-9]{2}:[0-9]{2})"

static const char *const no_args[] = { NULL };

static guint timeout_ms(guint ms) {
        return g_getenv("PCI_ASSIGND_TEST_WRAPPER") ? ms * 4 : ms;
}

/* ---- a monitor process ---- */

typedef struct {
        GPid pid;
        int fd[2];            /* stdout, stderr; -1 at EOF */
        GString *buf[2];      /* what came and is not a whole line yet */
        GPtrArray *out;       /* stdout lines */
        GString *err;         /* all of stderr */
} Monitor;

static void child_setup(gpointer user_data) {
        /* a test that dies must not leave its monitor behind */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static Monitor *monitor_start(Harness *h, gboolean json, const char *tz) {
        Monitor *m = g_new0(Monitor, 1);
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = g_get_environ();
        const char *wrapper = g_getenv("PCI_ASSIGND_TEST_WRAPPER");

        if (wrapper) {
                g_auto(GStrv) w = NULL;
                g_assert_true(g_shell_parse_argv(wrapper, NULL, &w, &error));
                for (gchar **i = w; *i; i++)
                        g_ptr_array_add(argv, g_strdup(*i));
        }
        g_ptr_array_add(argv, g_build_filename(g_getenv("PCI_ASSIGND_BUILD_ROOT"), "src", "ctl", "pci-assignctl", NULL));
        g_ptr_array_add(argv, g_strdup("monitor"));
        if (json)
                g_ptr_array_add(argv, g_strdup("--json"));
        g_ptr_array_add(argv, NULL);

        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        env = g_environ_unsetenv(env, "LD_PRELOAD");
        if (tz)
                env = g_environ_setenv(env, "TZ", tz, TRUE);

        g_assert_true(g_spawn_async_with_pipes(NULL, (gchar **) argv->pdata, env,
                                               G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                               child_setup, NULL, &m->pid, NULL, &m->fd[0], &m->fd[1], &error));
        g_assert_no_error(error);
        for (int i = 0; i < 2; i++) {
                g_assert_cmpint(fcntl(m->fd[i], F_SETFL, O_NONBLOCK), ==, 0);
                m->buf[i] = g_string_new(NULL);
        }
        m->out = g_ptr_array_new_with_free_func(g_free);
        m->err = g_string_new(NULL);
        return m;
}

/* Reads what is there, waiting up to ms for something to come. */
static void monitor_pump(Monitor *m, int ms) {
        struct pollfd p[2];
        nfds_t n = 0;
        int map[2];

        for (int i = 0; i < 2; i++)
                if (m->fd[i] >= 0) {
                        p[n] = (struct pollfd) { .fd = m->fd[i], .events = POLLIN };
                        map[n++] = i;
                }
        if (n == 0 || poll(p, n, ms) <= 0)
                return;

        for (nfds_t k = 0; k < n; k++) {
                int i = map[k];
                char chunk[4096];
                ssize_t l;
                char *nl;

                if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                        continue;
                while ((l = read(m->fd[i], chunk, sizeof chunk)) > 0) {
                        g_string_append_len(m->buf[i], chunk, l);
                        if (i == 1)
                                g_string_append_len(m->err, chunk, l);
                }
                if (l == 0 || (l < 0 && errno != EAGAIN && errno != EINTR)) {
                        close(m->fd[i]);
                        m->fd[i] = -1;
                }
                if (i == 0)
                        while ((nl = memchr(m->buf[0]->str, '\n', m->buf[0]->len))) {
                                gsize len = (gsize) (nl - m->buf[0]->str);

                                g_ptr_array_add(m->out, g_strndup(m->buf[0]->str, len));
                                g_string_erase(m->buf[0], 0, (gssize) len + 1);
                        }
        }
}

/* The monitor's promise: once this line is on stderr, nothing is missed. */
static void monitor_wait_ready(Monitor *m) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms(30000) * 1000;

        while (!strstr(m->err->str, READY_LINE "\n")) {
                if (g_get_monotonic_time() > deadline || (m->fd[0] < 0 && m->fd[1] < 0))
                        g_error("monitor did not get ready; stderr: %s", m->err->str);
                monitor_pump(m, 100);
        }
}

/* Waits until the monitor has printed n lines. */
static void monitor_wait_lines(Monitor *m, guint n) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms(30000) * 1000;

        while (m->out->len < n) {
                if (g_get_monotonic_time() > deadline || m->fd[0] < 0)
                        g_error("monitor printed %u lines, expected %u; stderr: %s", m->out->len, n, m->err->str);
                monitor_pump(m, 100);
        }
}

static const char *monitor_last(Monitor *m) {
        g_assert_cmpuint(m->out->len, >, 0);
        return m->out->pdata[m->out->len - 1];
}

/* Sends sig, reads everything up to EOF and returns the wait status. */
static int monitor_stop(Monitor *m, int sig) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms(30000) * 1000;
        int status;

        if (sig)
                g_assert_cmpint(kill(m->pid, sig), ==, 0);
        while (m->fd[0] >= 0 || m->fd[1] >= 0) {
                if (g_get_monotonic_time() > deadline) {
                        kill(m->pid, SIGKILL);
                        g_error("monitor did not exit; stderr: %s", m->err->str);
                }
                monitor_pump(m, 100);
        }
        g_assert_cmpint(waitpid(m->pid, &status, 0), ==, m->pid);
        g_spawn_close_pid(m->pid);
        m->pid = 0;
        g_assert_cmpuint(m->buf[0]->len, ==, 0);  /* no unterminated line */
        return status;
}

static void monitor_free(Monitor *m) {
        if (m->pid > 0) {
                kill(m->pid, SIGKILL);
                (void) waitpid(m->pid, NULL, 0);
        }
        for (int i = 0; i < 2; i++) {
                if (m->fd[i] >= 0)
                        close(m->fd[i]);
                g_string_free(m->buf[i], TRUE);
        }
        g_ptr_array_free(m->out, TRUE);
        g_string_free(m->err, TRUE);
        g_free(m);
}

static void assert_clean_exit(Monitor *m, int status) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                g_error("monitor did not exit with 0 (%s %d); stderr: %s",
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), m->err->str);
}

/* ---- expectations ----
 *
 * A phase is a set of lines that must all come, in any order among
 * themselves, before any line of a later phase; lines that match nothing
 * (e.g. Viable of the group) may come anywhere. */

typedef struct {
        const char *event;
        const char *path;           /* JSON: "path" must be this (NULL: any) */
        const char *checks[4];      /* JSON: "a/b=JSON" (equal) or "a/b~TEXT" (compact JSON contains) */
        const char *human;          /* human: a regex the line after the time must match */
} Expect;

static json_object *json_lookup(json_object *j, const char *key_path) {
        g_auto(GStrv) parts = g_strsplit(key_path, "/", -1);

        for (gchar **p = parts; *p && j; p++)
                if (!json_object_object_get_ex(j, *p, &j))
                        return NULL;
        return j;
}

static const char *json_compact(json_object *j) {
        return json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static gboolean json_matches(const Expect *e, json_object *j) {
        json_object *v;

        if (!json_object_object_get_ex(j, "event", &v) || g_strcmp0(json_object_get_string(v), e->event) != 0)
                return FALSE;
        if (e->path && (!json_object_object_get_ex(j, "path", &v) || g_strcmp0(json_object_get_string(v), e->path) != 0))
                return FALSE;
        for (guint i = 0; i < G_N_ELEMENTS(e->checks) && e->checks[i]; i++) {
                const char *c = e->checks[i];
                size_t k = strcspn(c, "=~");
                g_autofree gchar *key = g_strndup(c, k);

                v = json_lookup(j, key);
                if (!v)
                        return FALSE;
                if (c[k] == '=' ? !g_str_equal(json_compact(v), c + k + 1) : !strstr(json_compact(v), c + k + 1))
                        return FALSE;
        }
        return TRUE;
}

static gboolean human_matches(const Expect *e, const char *line) {
        const char *rest = strchr(line, ' ');

        return rest && g_regex_match_simple(e->human, rest + 1, 0, 0);
}

static gchar *join_lines(GPtrArray *lines) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < lines->len; i++)
                g_string_append_printf(s, "%s\n", (const char *) lines->pdata[i]);
        return g_string_free(s, FALSE);
}

static void check_phases(GPtrArray *lines, gboolean json, const Expect *const *phases, guint n_phases) {
        guint phase = 0;
        g_autoptr(GHashTable) done = g_hash_table_new(NULL, NULL);

        for (guint l = 0; l < lines->len; l++) {
                const char *line = lines->pdata[l];
                json_object *j = json ? json_tokener_parse(line) : NULL;

                for (guint p = phase; p < n_phases; p++) {
                        const Expect *e = NULL;

                        for (const Expect *x = phases[p]; x->event; x++)
                                if (!g_hash_table_contains(done, x) && (json ? json_matches(x, j) : human_matches(x, line))) {
                                        e = x;
                                        break;
                                }
                        if (!e)
                                continue;
                        for (; phase < p; phase++)
                                for (const Expect *x = phases[phase]; x->event; x++)
                                        if (!g_hash_table_contains(done, x)) {
                                                g_autofree gchar *all = join_lines(lines);

                                                g_error("line %u \"%s\" came before a %s line (%s) of an earlier phase; got:\n%s",
                                                        l + 1, line, x->event, json ? (x->path ? x->path : "") : x->human, all);
                                        }
                        g_hash_table_add(done, (gpointer) e);
                        break;
                }
                json_object_put(j);
        }
        for (guint p = 0; p < n_phases; p++)
                for (const Expect *x = phases[p]; x->event; x++)
                        if (!g_hash_table_contains(done, x)) {
                                g_autofree gchar *all = join_lines(lines);

                                g_error("no %s line for %s (%s) in phase %u; got:\n%s", json ? "JSON" : "human",
                                        x->event, json ? (x->path ? x->path : "") : x->human, p + 1, all);
                        }
}

/* Every JSON line: one object with the time and the event, and a path
 * except for the daemon's comings and goings. */
static void check_json_line(const char *line) {
        json_object *j = json_tokener_parse(line), *v;

        if (!j || !json_object_is_type(j, json_type_object))
                g_error("not a JSON object: %s", line);
        g_assert_true(json_object_object_get_ex(j, "time", &v));
        g_assert_true(json_object_is_type(v, json_type_string));
        if (!g_regex_match_simple("^" TIME_RE "$", json_object_get_string(v), 0, 0))
                g_error("bad time in %s", line);
        g_assert_true(json_object_object_get_ex(j, "event", &v));
        g_assert_true(json_object_is_type(v, json_type_string));
        if (!g_str_has_prefix(json_object_get_string(v), "Daemon")) {
                g_assert_true(json_object_object_get_ex(j, "path", &v));
                g_assert_true(g_str_has_prefix(json_object_get_string(v), MANAGER_PATH));
        }
        json_object_put(j);
}

static gchar *json_event(const char *line) {
        json_object *j = json_tokener_parse(line), *v;
        gchar *s = NULL;

        if (j && json_object_object_get_ex(j, "event", &v))
                s = g_strdup(json_object_get_string(v));
        json_object_put(j);
        return s;
}

/* "TIME EVENT SUBJECT[ details]": the event of a human line */
static gchar *human_event(const char *line) {
        g_auto(GStrv) f = g_strsplit(line, " ", 3);

        return g_strv_length(f) >= 3 ? g_strdup(f[1]) : NULL;
}

static gchar *object_path(Harness *h, const char *method, GVariant *arg) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, method, arg, G_VARIANT_TYPE("(o)"), &error);
        gchar *path;

        g_assert_no_error(error);
        g_variant_get(r, "(o)", &path);
        return path;
}

static void run_ok(Harness *h, const char *const *argv) {
        g_autofree gchar *out = NULL, *err = NULL;
        int status = harness_run_ctl(h, argv, &out, &err);

        if (status != 0)
                g_error("pci-assignctl %s: exit %d: %s", argv[0], status, err);
}

/* ---- the tests ---- */

static void test_signals(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *dev0 = NULL, *dev1 = NULL, *grp = NULL;
        Monitor *mj, *mh;
        int status;

        harness_start_daemon(h, no_args);
        dev0 = object_path(h, "GetDevice", g_variant_new("(s)", "0000:0b:00.0"));
        dev1 = object_path(h, "GetDevice", g_variant_new("(s)", "0000:0b:00.1"));
        grp = object_path(h, "GetGroup", g_variant_new("(u)", 22));

        /* the human one in a zone east of UTC with a half-hour offset */
        mj = monitor_start(h, TRUE, NULL);
        mh = monitor_start(h, FALSE, "XST-05:30");
        monitor_wait_ready(mj);
        monitor_wait_ready(mh);
        /* --json: nothing but events on stdout */
        monitor_pump(mj, 0);
        g_assert_cmpuint(mj->out->len, ==, 0);

        run_ok(h, (const char *const[]) { "reserve", "vm1", "0000:0b:00.0", "--unassigned", "0000:0b:00.1", NULL });
        run_ok(h, (const char *const[]) { "release", "r1", NULL });
        monitor_pump(mj, 0);
        monitor_pump(mh, 0);

        /* the daemon goes and comes back: the monitors stay */
        harness_stop_daemon(h);
        do
                monitor_wait_lines(mj, mj->out->len + 1);
        while (!strstr(monitor_last(mj), "\"DaemonLeft\""));
        harness_start_daemon(h, no_args);
        run_ok(h, (const char *const[]) { "reserve", "vm2", "0000:02:00.0", NULL });

        /* the last line of both: the daemon leaving once more */
        harness_stop_daemon(h);
        do
                monitor_wait_lines(mj, mj->out->len + 1);
        while (!strstr(monitor_last(mj), "\"DaemonLeft\""));
        do
                monitor_wait_lines(mh, mh->out->len + 1);
        while (!strstr(monitor_last(mh), " DaemonLeft "));

        status = monitor_stop(mj, SIGTERM);
        assert_clean_exit(mj, status);
        status = monitor_stop(mh, SIGINT);
        assert_clean_exit(mh, status);

        {
                const Expect reserved[] = {
                        { "InterfacesAdded", RES1_PATH,
                          { "id=\"r1\"", "interfaces/org.pciassign1.Reservation/Owner=\"vm1\"",
                            "interfaces/org.pciassign1.Reservation/Functions=[[\"0000:0b:00.0\",true],[\"0000:0b:00.1\",false]]" },
                          "^InterfacesAdded r1 interfaces=org\\.pciassign1\\.Reservation$" },
                        { "ReservationAdded", RES1_PATH, { "id=\"r1\"" },
                          "^ReservationAdded r1$" },
                        { "PropertiesChanged", dev0,
                          { "address=\"0000:0b:00.0\"", "interface=\"org.pciassign1.Device\"",
                            "changed/Reservation=\"" RES1_PATH "\"", "changed/Assigned=true" },
                          "^PropertiesChanged 0000:0b:00\\.0 interface=org\\.pciassign1\\.Device"
                          "(?=.* Reservation=/org/pciassign1/reservation/r1( |$))(?=.* Assigned=yes( |$))"
                          "(?=.* Verdict=[a-z-]+( |$))(?=.* Reasons=\\[)" },
                        { "PropertiesChanged", dev1,
                          { "address=\"0000:0b:00.1\"", "changed/Reservation=\"" RES1_PATH "\"",
                            "changed/Assigned=false", "changed/Reasons~[" },
                          "^PropertiesChanged 0000:0b:00\\.1 interface=org\\.pciassign1\\.Device(?=.* Assigned=no( |$))" },
                        { "PropertiesChanged", grp,
                          { "group=22", "interface=\"org.pciassign1.Group\"", "changed/Reservation=\"" RES1_PATH "\"",
                            "invalidated=[]" },
                          "^PropertiesChanged 22 interface=org\\.pciassign1\\.Group Reservation=/org/pciassign1/reservation/r1$" },
                        {}
                };
                const Expect released[] = {
                        { "InterfacesRemoved", RES1_PATH, { "id=\"r1\"", "interfaces~\"org.pciassign1.Reservation\"" },
                          "^InterfacesRemoved r1 interfaces=org\\.pciassign1\\.Reservation$" },
                        { "ReservationRemoved", RES1_PATH, { "id=\"r1\"" },
                          "^ReservationRemoved r1$" },
                        { "PropertiesChanged", dev0, { "changed/Reservation=\"/\"" },
                          "^PropertiesChanged 0000:0b:00\\.0 interface=org\\.pciassign1\\.Device(?=.* Reservation=/( |$))" },
                        { "PropertiesChanged", dev1, { "changed/Reservation=\"/\"" },
                          "^PropertiesChanged 0000:0b:00\\.1 interface=org\\.pciassign1\\.Device(?=.* Reservation=/( |$))" },
                        { "PropertiesChanged", grp, { "changed/Reservation=\"/\"" },
                          "^PropertiesChanged 22 interface=org\\.pciassign1\\.Group Reservation=/$" },
                        {}
                };
                const Expect left[] = {
                        { "DaemonLeft", NULL, { "name=\"org.pciassign1\"", "owner~:" },
                          "^DaemonLeft :[0-9.]+ pci-assignd left the bus$" },
                        {}
                };
                const Expect left_again[] = {
                        { "DaemonLeft", NULL, { "name=\"org.pciassign1\"", "owner~:" },
                          "^DaemonLeft :[0-9.]+ pci-assignd left the bus$" },
                        {}
                };
                const Expect appeared[] = {
                        { "DaemonAppeared", NULL, { "name=\"org.pciassign1\"", "owner~:" },
                          "^DaemonAppeared :[0-9.]+ pci-assignd is on the bus$" },
                        {}
                };
                const Expect again[] = {
                        { "ReservationAdded", NULL, { "id~r", "path~/org/pciassign1/reservation/" },
                          "^ReservationAdded r[0-9]+$" },
                        {}
                };
                const Expect *phases[] = { reserved, released, left, appeared, again, left_again };

                check_phases(mj->out, TRUE, phases, G_N_ELEMENTS(phases));
                check_phases(mh->out, FALSE, phases, G_N_ELEMENTS(phases));
        }

        /* every line well-formed, and the same signals in both formats */
        for (guint i = 0; i < mj->out->len; i++)
                check_json_line(mj->out->pdata[i]);
        for (guint i = 0; i < mh->out->len; i++) {
                const char *line = mh->out->pdata[i];

                if (!g_regex_match_simple("^" TIME_RE " [A-Z][A-Za-z]+ [^ ]+( [^ ].*)?$", line, 0, 0))
                        g_error("bad human line: %s", line);
                if (!g_regex_match_simple("^[^ ]+\\+05:30 ", line, 0, 0))
                        g_error("not in local time: %s", line);
        }
        g_assert_cmpuint(mj->out->len, ==, mh->out->len);
        for (guint i = 0; i < mj->out->len; i++) {
                g_autofree gchar *a = json_event(mj->out->pdata[i]);
                g_autofree gchar *b = human_event(mh->out->pdata[i]);

                g_assert_cmpstr(a, ==, b);
        }

        /* the stderr promise, exactly once, and nothing else there */
        g_assert_cmpstr(mh->err->str, ==, READY_LINE "\n");
        g_assert_cmpstr(mj->err->str, ==, READY_LINE "\n");

        monitor_free(mj);
        monitor_free(mh);
        harness_free(h);
}

static void bus_call(GDBusConnection *c, const char *method, GVariant *args, const char *reply_type, GVariant **ret) {
        g_autoptr(GError) error = NULL;
        GVariant *r = g_dbus_connection_call_sync(c, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                                  "org.freedesktop.DBus", method, args,
                                                  G_VARIANT_TYPE(reply_type), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

        g_assert_no_error(error);
        if (ret)
                *ret = r;
        else
                g_variant_unref(r);
}

static void emit(GDBusConnection *c, const char *path, const char *iface, const char *member, GVariant *args) {
        g_autoptr(GError) error = NULL;

        g_assert_true(g_dbus_connection_emit_signal(c, NULL, path, iface, member, args, &error));
        g_assert_no_error(error);
}

#define DEV_0C "/org/pciassign1/device/_30000_3a0c_3a00_2e0"

/* Started before the daemon, the monitors say so.  Then the test itself
 * owns org.pciassign1 and sends every signal of org.pciassign1(5) that the
 * daemon does not send in test_signals() yet, plus ones this client does
 * not know, and one from a connection that does not own the name (not
 * printed).  Last, the real daemon comes and goes, and the bus itself
 * going away ends the monitors with an error. */
static void test_every_signal(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GDBusConnection) other = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) reply = NULL;
        g_autofree gchar *me = NULL;
        Monitor *mj, *mh;
        guint32 result;

        {
                g_autofree gchar *out = NULL, *err = NULL;
                const char *const a[] = { "monitor", "extra", NULL };

                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 2);
                g_assert_nonnull(strstr(err, "Too many arguments for 'monitor'."));
                g_assert_cmpstr(out, ==, "");
        }

        mj = monitor_start(h, TRUE, "UTC");
        mh = monitor_start(h, FALSE, NULL);
        monitor_wait_ready(mj);
        monitor_wait_ready(mh);
        g_assert_cmpstr(mj->err->str, ==, "pci-assignctl: pci-assignd is not on the bus; waiting for it.\n" READY_LINE "\n");
        g_assert_cmpstr(mh->err->str, ==, "pci-assignctl: pci-assignd is not on the bus; waiting for it.\n" READY_LINE "\n");

        /* a signal from someone who does not own the name: not printed (the
         * round trip makes sure the bus has routed it before we go on) */
        other = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                       G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
        g_assert_no_error(error);
        emit(other, MANAGER_PATH, MANAGER_IFACE, "ReservationAdded",
             g_variant_new("(so)", "forged", "/org/pciassign1/reservation/forged"));
        bus_call(other, "GetId", NULL, "(s)", NULL);

        bus_call(h->conn, "RequestName", g_variant_new("(su)", "org.pciassign1", 4), "(u)", &reply);
        g_variant_get(reply, "(u)", &result);
        g_assert_cmpuint(result, ==, 1);
        me = g_strdup(g_dbus_connection_get_unique_name(h->conn));

        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "DeviceAdded", g_variant_new("(so)", "0000:0c:00.0", DEV_0C));
        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "DriverChanged",
             g_variant_new("(sss)", "0000:0c:00.0", "", "vfio-pci"));
        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "ReservationChanged", g_variant_new("(ss)", "r7", "prepared"));
        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "Conflict",
             g_variant_new("(sss)", "0000:0c:00.0", "r7", "host driver \"e1000e\" bound\nagain"));
        emit(h->conn, DEV_0C, "org.freedesktop.DBus.Properties", "PropertiesChanged",
             g_variant_new_parsed("('org.pciassign1.Device', @a{sv} {'NUMANode': <int32 -1>, "
                                  "'Bars': <[(byte 0, uint64 4273995776, uint64 131072)]>}, ['Driver'])"));
        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "DeviceRemoved", g_variant_new("(so)", "0000:0c:00.0", DEV_0C));
        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "Frobnicated", g_variant_new("(su)", "x", 7));
        emit(h->conn, MANAGER_PATH, MANAGER_IFACE, "DriverChanged", g_variant_new("(s)", "0000:0c:00.0"));
        bus_call(h->conn, "ReleaseName", g_variant_new("(s)", "org.pciassign1"), "(u)", NULL);

        /* the real daemon */
        harness_start_daemon(h, no_args);
        harness_stop_daemon(h);
        monitor_wait_lines(mj, 12);
        monitor_wait_lines(mh, 12);

        /* the bus goes away: an error, exit status 1 */
        g_assert_cmpint(kill(h->bus_pid, SIGTERM), ==, 0);
        for (guint i = 0; i < 2; i++) {
                Monitor *m = i == 0 ? mj : mh;
                int status = monitor_stop(m, 0);

                g_assert_true(WIFEXITED(status));
                g_assert_cmpint(WEXITSTATUS(status), ==, 1);
                g_assert_true(g_str_has_suffix(m->err->str, READY_LINE "\npci-assignctl: Lost the bus connection.\n"));
        }

        {
                g_autofree gchar *owner = g_strdup_printf("owner=\"%s\"", me);
                g_autofree gchar *owner_re = g_strdup_printf("^DaemonAppeared %s pci-assignd is on the bus$", me);
                g_autofree gchar *left_re = g_strdup_printf("^DaemonLeft %s pci-assignd left the bus$", me);
                const Expect e[][2] = {
                        { { "DaemonAppeared", NULL, { owner, "name=\"org.pciassign1\"" }, owner_re } },
                        { { "DeviceAdded", DEV_0C, { "address=\"0000:0c:00.0\"" },
                            "^DeviceAdded 0000:0c:00\\.0$" } },
                        { { "DriverChanged", MANAGER_PATH,
                            { "address=\"0000:0c:00.0\"", "old_driver=\"\"", "new_driver=\"vfio-pci\"" },
                            "^DriverChanged 0000:0c:00\\.0 old_driver=\"\" new_driver=vfio-pci$" } },
                        { { "ReservationChanged", MANAGER_PATH, { "id=\"r7\"", "state=\"prepared\"" },
                            "^ReservationChanged r7 state=prepared$" } },
                        { { "Conflict", MANAGER_PATH,
                            { "address=\"0000:0c:00.0\"", "reservation_id=\"r7\"",
                              "message=\"host driver \\\"e1000e\\\" bound\\nagain\"" },
                            "^Conflict 0000:0c:00\\.0 reservation_id=r7 message=\"host driver \\\\\"e1000e\\\\\" bound\\\\nagain\"$" } },
                        { { "PropertiesChanged", DEV_0C,
                            { "address=\"0000:0c:00.0\"", "changed={\"NUMANode\":-1,\"Bars\":[[0,4273995776,131072]]}",
                              "invalidated=[\"Driver\"]" },
                            "^PropertiesChanged 0000:0c:00\\.0 interface=org\\.pciassign1\\.Device NUMANode=-1 "
                            "Bars=\\[\\[0,4273995776,131072\\]\\] Driver=<invalidated>$" } },
                        { { "DeviceRemoved", DEV_0C, { "address=\"0000:0c:00.0\"" },
                            "^DeviceRemoved 0000:0c:00\\.0$" } },
                        { { "Frobnicated", MANAGER_PATH, { "args=[\"x\",7]" },
                            "^Frobnicated /org/pciassign1 args=\\[\"x\",7\\]$" } },
                        { { "DriverChanged", MANAGER_PATH, { "args=[\"0000:0c:00.0\"]" },
                            "^DriverChanged /org/pciassign1 args=\\[\"0000:0c:00\\.0\"\\]$" } },
                        { { "DaemonLeft", NULL, { owner }, left_re } },
                        { { "DaemonAppeared", NULL, { "owner~:" }, "^DaemonAppeared :[0-9.]+ pci-assignd is on the bus$" } },
                        { { "DaemonLeft", NULL, { "owner~:" }, "^DaemonLeft :[0-9.]+ pci-assignd left the bus$" } },
                };
                const Expect *phases[G_N_ELEMENTS(e)];

                for (guint i = 0; i < G_N_ELEMENTS(e); i++)
                        phases[i] = e[i];
                check_phases(mj->out, TRUE, phases, G_N_ELEMENTS(phases));
                check_phases(mh->out, FALSE, phases, G_N_ELEMENTS(phases));
        }
        /* exactly these lines: the forged one is not there */
        g_assert_cmpuint(mj->out->len, ==, 12);
        g_assert_cmpuint(mh->out->len, ==, 12);
        for (guint i = 0; i < mj->out->len; i++)
                check_json_line(mj->out->pdata[i]);
        for (guint i = 0; i < mj->out->len; i++)
                if (!g_regex_match_simple("^\"time\":\"[^\"]+\\+00:00\"", strchr(mj->out->pdata[i], '"'), 0, 0))
                        g_error("TZ=UTC, not shown as +00:00: %s", (const char *) mj->out->pdata[i]);

        monitor_free(mj);
        monitor_free(mh);
        harness_free(h);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/monitor/signals", test_signals);
        g_test_add_func("/monitor/every-signal", test_every_signal);
        return g_test_run();
}
