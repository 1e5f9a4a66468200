/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-polkit.c on its own, without the daemon: a private dbus-daemon, a
 * mock polkitd (python-dbusmock's polkitd template) on it, and a tiny
 * sd-bus service in a thread of this process whose methods call
 * bus_verify_polkit_async().  Clients are GDBus connections of the main
 * thread (uid 0) and this binary re-executed as uid 65534
 * (--helper-call).
 *
 * The bus is a dbus-daemon of our own, not GTestDBus: GTestDBus's
 * configuration has no <allow user="*"/>, so a root-owned bus refuses
 * connections from any other uid. */

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "bus-polkit.h"
#include "log.h"

#define SERVICE_NAME "org.pciassign1.PolkitTest"
#define SERVICE_PATH "/org/pciassign1/PolkitTest"
#define SERVICE_IFACE "org.pciassign1.PolkitTest"

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"
#define MOCK_IFACE "org.freedesktop.DBus.Mock"

#define PYTHON "/usr/bin/python3"   /* Debian's, with python3-dbusmock */
#define NOBODY 65534u
#define NO_UID 0xffffffffu

#define ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define INTERACTIVE_REQUIRED "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

/* ------------------------------------------------------------------ */
/* the service: sd-bus + sd-event in a thread                          */

typedef struct Service {
        pthread_t thread;
        sd_event *event;
        sd_bus *bus;
        int quit_fd;
        PolkitRegistry *registry;
        GHashTable *invocations;  /* "sender/cookie" -> count; service thread only */
        int loop_result;
} Service;

/* How often the handler ran for this very method call (re-dispatches). */
static unsigned count_invocation(Service *s, sd_bus_message *m) {
        uint64_t cookie = 0;
        gchar *key;
        unsigned n;

        (void) sd_bus_message_get_cookie(m, &cookie);
        key = g_strdup_printf("%s/%" PRIu64, sd_bus_message_get_sender(m), cookie);
        n = GPOINTER_TO_UINT(g_hash_table_lookup(s->invocations, key)) + 1;
        g_hash_table_replace(s->invocations, key, GUINT_TO_POINTER(n));
        return n;
}

/* Check(s action, a{ss} details, u good_uid) -> u invocations */
static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Service *s = userdata;
        const char *details[2 * 8 + 1] = {};
        const char *action, *k, *v;
        unsigned n, i = 0;
        uint32_t good_uid;
        int r;

        n = count_invocation(s, m);
        r = sd_bus_message_read(m, "s", &action);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0) {
                if (i + 2 >= G_N_ELEMENTS(details))
                        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "too many details");
                details[i++] = k;
                details[i++] = v;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "u", &good_uid);
        if (r < 0)
                return r;

        r = bus_verify_polkit_async(m, action, i > 0 ? details : NULL, (uid_t) good_uid, &s->registry, error);
        if (r < 0)
                return r;
        if (r == 0)
                return 1; /* polkit will answer; the call is dispatched again */
        return sd_bus_reply_method_return(m, "u", n);
}

/* CheckTwo(s a, s b) -> u invocations: needs both actions, asked with
 * details step=1 and step=2 */
static int method_check_two(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        static const char *step1[] = { "step", "1", NULL }, *step2[] = { "step", "2", NULL };
        Service *s = userdata;
        const char *a, *b;
        unsigned n;
        int r;

        n = count_invocation(s, m);
        r = sd_bus_message_read(m, "ss", &a, &b);
        if (r < 0)
                return r;
        r = bus_verify_polkit_async(m, a, step1, (uid_t) -1, &s->registry, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        r = bus_verify_polkit_async(m, b, step2, (uid_t) -1, &s->registry, error);
        if (r <= 0)
                return r < 0 ? r : 1;
        return sd_bus_reply_method_return(m, "u", n);
}

static int method_ping(sd_bus_message *m, G_GNUC_UNUSED void *userdata, G_GNUC_UNUSED sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "s", "pong");
}

static int method_registry_size(sd_bus_message *m, void *userdata, G_GNUC_UNUSED sd_bus_error *error) {
        Service *s = userdata;
        return sd_bus_reply_method_return(m, "u", (uint32_t) polkit_registry_size(s->registry));
}

static const sd_bus_vtable service_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Check", SD_BUS_ARGS("s", action, "a{ss}", details, "u", good_uid),
                                SD_BUS_RESULT("u", invocations), method_check, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CheckTwo", SD_BUS_ARGS("s", a, "s", b), SD_BUS_RESULT("u", invocations),
                                method_check_two, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Ping", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", pong), method_ping,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RegistrySize", SD_BUS_NO_ARGS, SD_BUS_RESULT("u", n), method_registry_size,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

static int on_quit(G_GNUC_UNUSED sd_event_source *es, G_GNUC_UNUSED int fd, G_GNUC_UNUSED uint32_t revents,
                   void *userdata) {
        Service *s = userdata;
        return sd_event_exit(s->event, 0);
}

static void *service_run(void *userdata) {
        Service *s = userdata;
        s->loop_result = sd_event_loop(s->event);
        return NULL;
}

/* Everything is set up here, in the main thread, before the thread
 * starts; the thread only runs the loop; service_stop() tears down after
 * joining it.  So sd-bus and sd-event are never used by two threads at
 * once. */
static Service *service_start(const char *address) {
        Service *s = g_new0(Service, 1);

        s->invocations = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_assert_cmpint(sd_event_new(&s->event), >=, 0);
        g_assert_cmpint(sd_bus_new(&s->bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(s->bus, address), >=, 0);
        g_assert_cmpint(sd_bus_set_bus_client(s->bus, 1), >=, 0);
        g_assert_cmpint(sd_bus_start(s->bus), >=, 0);
        g_assert_cmpint(sd_bus_add_object_vtable(s->bus, NULL, SERVICE_PATH, SERVICE_IFACE, service_vtable, s),
                        >=, 0);
        g_assert_cmpint(sd_bus_request_name(s->bus, SERVICE_NAME, 0), >=, 0);
        g_assert_cmpint(sd_bus_attach_event(s->bus, s->event, SD_EVENT_PRIORITY_NORMAL), >=, 0);
        s->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        g_assert_cmpint(s->quit_fd, >=, 0);
        g_assert_cmpint(sd_event_add_io(s->event, NULL, s->quit_fd, EPOLLIN, on_quit, s), >=, 0);
        g_assert_cmpint(pthread_create(&s->thread, NULL, service_run, s), ==, 0);
        return s;
}

static void service_stop(Service *s) {
        uint64_t one = 1;

        if (!s)
                return;
        g_assert_cmpint(write(s->quit_fd, &one, sizeof one), ==, sizeof one);
        g_assert_cmpint(pthread_join(s->thread, NULL), ==, 0);
        g_assert_cmpint(s->loop_result, >=, 0);
        /* as the daemon does at exit: the registry first (it cancels
         * pending checks), then the bus, then the loop */
        s->registry = polkit_registry_free(s->registry);
        sd_bus_flush_close_unref(s->bus);
        sd_event_unref(s->event);
        close(s->quit_fd);
        g_hash_table_unref(s->invocations);
        g_free(s);
}

/* ------------------------------------------------------------------ */
/* the bus and the mock                                                */

typedef struct TestOptions {
        gboolean polkit;          /* start the mock polkitd */
        gboolean ask_for_root;
        uint64_t timeout_usec;
} TestOptions;

typedef struct Fixture {
        gchar *dir;
        GPid bus_pid;
        gchar *address;
        GPid mock_pid;
        GDBusConnection *conn;
        Service *service;
} Fixture;

static void reap(GPid *pid) {
        int status;

        if (*pid <= 0)
                return;
        (void) kill(*pid, SIGTERM);
        (void) waitpid(*pid, &status, 0);
        g_spawn_close_pid(*pid);
        *pid = 0;
}

static void start_bus(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *conf = NULL, *conf_path = NULL;
        GString *line = g_string_new(NULL);
        const gchar *argv[] = { "dbus-daemon", NULL, "--nofork", "--print-address", NULL };
        g_autofree gchar *arg = NULL;
        gint out = -1;
        char c;

        f->dir = g_dir_make_tmp("test-polkit-XXXXXX", &error);
        g_assert_no_error(error);
        /* uid 65534 must reach the socket */
        g_assert_cmpint(g_chmod(f->dir, 0755), ==, 0);
        conf = g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>custom</type>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
                "    <allow eavesdrop=\"true\"/>\n"
                "    <allow own=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n", f->dir);
        conf_path = g_build_filename(f->dir, "bus.conf", NULL);
        g_assert_true(g_file_set_contents(conf_path, conf, -1, &error));
        arg = g_strdup_printf("--config-file=%s", conf_path);
        argv[1] = arg;
        g_assert_true(g_spawn_async_with_pipes(NULL, (gchar **) argv, NULL,
                                               G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                                       (g_test_verbose() ? 0 : G_SPAWN_STDERR_TO_DEV_NULL),
                                               NULL, NULL, &f->bus_pid, NULL, &out, NULL, &error));
        g_assert_no_error(error);
        while (read(out, &c, 1) == 1 && c != '\n')
                g_string_append_c(line, c);
        close(out);
        g_assert_true(g_str_has_prefix(line->str, "unix:"));
        f->address = g_string_free(line, FALSE);

        f->conn = g_dbus_connection_new_for_address_sync(
                f->address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, &error);
        g_assert_no_error(error);
        g_dbus_connection_set_exit_on_close(f->conn, FALSE);
}

static gboolean name_has_owner(Fixture *f, const char *name) {
        g_autoptr(GVariant) r = NULL;
        gboolean b = FALSE;

        r = g_dbus_connection_call_sync(f->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", name),
                                        G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
        g_assert_nonnull(r);
        g_variant_get(r, "(b)", &b);
        return b;
}

static void start_mock(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = g_get_environ();
        const gchar *argv[] = { PYTHON, "-m", "dbusmock", "--template", "polkitd", NULL };
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        /* Debian's python, not whatever python3 a PATH or pyenv offers */
        env = g_environ_unsetenv(env, "PYTHONPATH");
        env = g_environ_unsetenv(env, "PYTHONHOME");
        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", f->address, TRUE);
        g_assert_true(g_spawn_async(NULL, (gchar **) argv, env,
                                    G_SPAWN_DO_NOT_REAP_CHILD |
                                            (g_test_verbose() ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL),
                                    NULL, NULL, &f->mock_pid, &error));
        g_assert_no_error(error);
        while (!name_has_owner(f, POLKIT_NAME)) {
                int status;

                g_assert_cmpint(waitpid(f->mock_pid, &status, WNOHANG), ==, 0); /* mock died? */
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(20 * 1000);
        }
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        const TestOptions *o = data;

        polkit_settings = (PolkitSettings) {
                .ask_for_root = o->ask_for_root,
                .timeout_usec = o->timeout_usec,
        };
        start_bus(f);
        if (o->polkit)
                start_mock(f);
        f->service = service_start(f->address);
}

static void fixture_teardown(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        service_stop(f->service);
        f->service = NULL;
        reap(&f->mock_pid);
        g_dbus_connection_close_sync(f->conn, NULL, NULL);
        g_clear_object(&f->conn);
        reap(&f->bus_pid);
        if (f->dir) {
                g_autofree gchar *conf = g_build_filename(f->dir, "bus.conf", NULL);
                g_autofree gchar *sock = g_build_filename(f->dir, "bus", NULL);
                (void) g_unlink(conf);
                (void) g_unlink(sock);
                (void) g_rmdir(f->dir);
        }
        g_free(f->dir);
        g_free(f->address);
        polkit_settings = (PolkitSettings) {};
}

/* ------------------------------------------------------------------ */
/* calls                                                               */

static GVariant *mock_call(Fixture *f, const char *method, GVariant *args, const GVariantType *type) {
        g_autoptr(GError) error = NULL;
        GVariant *r;

        r = g_dbus_connection_call_sync(f->conn, POLKIT_NAME, POLKIT_PATH, MOCK_IFACE, method, args, type,
                                        G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
        g_assert_no_error(error);
        return r;
}

static void mock_call_void(Fixture *f, const char *method, GVariant *args) {
        g_variant_unref(mock_call(f, method, args, G_VARIANT_TYPE_UNIT));
}

static void mock_set_allowed(Fixture *f, const char *const *actions) {
        mock_call_void(f, "SetAllowed", g_variant_new("(^as)", actions));
}

static void mock_simulate_hang(Fixture *f, gboolean hang) {
        mock_call_void(f, "SimulateHang", g_variant_new("(b)", hang));
}

static void mock_release_hanging(Fixture *f) {
        mock_call_void(f, "ReleaseHangingCalls", NULL);
}

/* Replaces the template's CheckAuthorization by a python snippet. */
static void mock_replace_check(Fixture *f, const char *out_sig, const char *code) {
        mock_call_void(f, "AddMethod",
                       g_variant_new("(sssss)", POLKIT_IFACE, "CheckAuthorization", "(sa{sv})sa{ss}us", out_sig,
                                     code));
}

typedef struct PolkitCall {
        gchar *subject_kind;
        gchar *name;
        gchar *action;
        GHashTable *details;
        guint32 flags;
        gchar *cancellation_id;
} PolkitCall;

static void polkit_call_free(gpointer p) {
        PolkitCall *c = p;
        g_free(c->subject_kind);
        g_free(c->name);
        g_free(c->action);
        g_hash_table_unref(c->details);
        g_free(c->cancellation_id);
        g_free(c);
}

/* The CheckAuthorization calls the mock received, oldest first. */
static GPtrArray *mock_polkit_calls(Fixture *f) {
        g_autoptr(GVariant) r = mock_call(f, "GetMethodCalls", g_variant_new("(s)", "CheckAuthorization"),
                                          G_VARIANT_TYPE("(a(tav))"));
        g_autoptr(GVariantIter) it = NULL;
        GPtrArray *calls = g_ptr_array_new_with_free_func(polkit_call_free);
        GVariant *args;
        guint64 t;

        g_variant_get(r, "(a(tav))", &it);
        while (g_variant_iter_next(it, "(t@av)", &t, &args)) {
                PolkitCall *c = g_new0(PolkitCall, 1);
                g_autoptr(GVariant) subject = NULL, action = NULL, details = NULL, flags = NULL, cancel = NULL;
                g_autoptr(GVariant) subject_details = NULL;
                GVariantIter dit;
                const gchar *k, *v;

                g_assert_cmpuint(g_variant_n_children(args), ==, 5);
                g_variant_get_child(args, 0, "v", &subject);
                g_variant_get_child(args, 1, "v", &action);
                g_variant_get_child(args, 2, "v", &details);
                g_variant_get_child(args, 3, "v", &flags);
                g_variant_get_child(args, 4, "v", &cancel);
                g_assert_cmpstr(g_variant_get_type_string(subject), ==, "(sa{sv})");
                g_assert_cmpstr(g_variant_get_type_string(details), ==, "a{ss}");
                g_assert_cmpstr(g_variant_get_type_string(flags), ==, "u");
                g_variant_get(subject, "(s@a{sv})", &c->subject_kind, &subject_details);
                g_assert_true(g_variant_lookup(subject_details, "name", "s", &c->name));
                c->action = g_variant_dup_string(action, NULL);
                c->details = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
                g_variant_iter_init(&dit, details);
                while (g_variant_iter_next(&dit, "{&s&s}", &k, &v))
                        g_hash_table_insert(c->details, g_strdup(k), g_strdup(v));
                c->flags = g_variant_get_uint32(flags);
                c->cancellation_id = g_variant_dup_string(cancel, NULL);
                g_ptr_array_add(calls, c);
                g_variant_unref(args);
        }
        return calls;
}

static guint mock_n_polkit_calls(Fixture *f) {
        g_autoptr(GPtrArray) calls = mock_polkit_calls(f);
        return calls->len;
}

static void wait_n_polkit_calls(Fixture *f, guint n) {
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (mock_n_polkit_calls(f) < n) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(20 * 1000);
        }
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, n);
}

static GVariant *details_variant(const char *const *kv) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
        for (size_t i = 0; kv && kv[i]; i += 2)
                g_variant_builder_add(&b, "{ss}", kv[i], kv[i + 1]);
        return g_variant_builder_end(&b);
}

/* A finished call: invocations (> 0) or an error. */
typedef struct Result {
        gboolean done;
        guint32 invocations;
        GError *error;
        gchar *error_name;     /* remote D-Bus error name */
        gchar *error_message;  /* without the "GDBus.Error:name: " prefix */
        gint64 finished;       /* monotonic usec */
} Result;

static void result_clear(Result *r) {
        g_clear_error(&r->error);
        g_clear_pointer(&r->error_name, g_free);
        g_clear_pointer(&r->error_message, g_free);
}

static void result_set(Result *res, GVariant *v, GError *error) {
        res->done = TRUE;
        res->finished = g_get_monotonic_time();
        if (v) {
                g_variant_get(v, "(u)", &res->invocations);
                g_variant_unref(v);
                return;
        }
        res->error = error;
        res->error_name = g_dbus_error_get_remote_error(error);
        g_dbus_error_strip_remote_error(error);
        res->error_message = g_strdup(error->message);
}

static void on_call_done(GObject *source, GAsyncResult *ar, gpointer userdata) {
        GError *error = NULL;
        GVariant *v = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), ar, &error);
        result_set(userdata, v, error);
}

static void call_check_async(GDBusConnection *conn, const char *action, const char *const *details,
                             guint32 good_uid, gboolean interactive, Result *res) {
        memset(res, 0, sizeof *res);
        g_dbus_connection_call(conn, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Check",
                               g_variant_new("(s@a{ss}u)", action, details_variant(details), good_uid),
                               G_VARIANT_TYPE("(u)"),
                               interactive ? G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION : G_DBUS_CALL_FLAGS_NONE,
                               30000, NULL, on_call_done, res);
}

static void wait_result(Result *res) {
        gint64 deadline = g_get_monotonic_time() + 40 * G_USEC_PER_SEC;

        while (!res->done) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
}

static void call_check(Fixture *f, const char *action, const char *const *details, guint32 good_uid,
                       gboolean interactive, Result *res) {
        call_check_async(f->conn, action, details, good_uid, interactive, res);
        wait_result(res);
}

static void call_check_two(Fixture *f, const char *a, const char *b, Result *res) {
        GError *error = NULL;
        GVariant *v;

        memset(res, 0, sizeof *res);
        v = g_dbus_connection_call_sync(f->conn, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "CheckTwo",
                                        g_variant_new("(ss)", a, b), G_VARIANT_TYPE("(u)"),
                                        G_DBUS_CALL_FLAGS_NONE, 30000, NULL, &error);
        result_set(res, v, error);
}

static void assert_ping(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) v = NULL;
        const gchar *s;

        v = g_dbus_connection_call_sync(f->conn, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Ping", NULL,
                                        G_VARIANT_TYPE("(s)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(v, "(&s)", &s);
        g_assert_cmpstr(s, ==, "pong");
}

static guint32 registry_size(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) v = NULL;
        guint32 n;

        v = g_dbus_connection_call_sync(f->conn, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "RegistrySize", NULL,
                                        G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(v, "(u)", &n);
        return n;
}

/* Answered queries are freed by an idle source after the re-dispatch. */
static void assert_registry_drains(Fixture *f) {
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        while (registry_size(f) > 0) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(10 * 1000);
        }
}

static void assert_allowed(Result *r, guint32 invocations) {
        g_assert_true(r->done);
        g_assert_no_error(r->error);
        g_assert_cmpuint(r->invocations, ==, invocations);
}

static void assert_error(Result *r, const char *name, const char *message_part) {
        g_assert_true(r->done);
        g_assert_nonnull(r->error);
        g_assert_cmpstr(r->error_name, ==, name);
        if (message_part && !strstr(r->error_message, message_part))
                g_error("error message \"%s\" does not contain \"%s\"", r->error_message, message_part);
}

/* This binary again, as uid 65534: "ok N", "error NAME\nMESSAGE". */
static gchar *helper_call(Fixture *f, guint32 uid, const char *action, guint32 good_uid, gboolean interactive) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *self = g_file_read_link("/proc/self/exe", NULL);
        g_autofree gchar *uid_s = g_strdup_printf("%u", uid), *good_s = g_strdup_printf("%u", good_uid);
        const gchar *argv[] = { self, "--helper-call", f->address, uid_s, action, good_s,
                                interactive ? "1" : "0", NULL };
        gchar *out = NULL;
        gint status;

        g_assert_nonnull(self);
        g_assert_true(g_spawn_sync(NULL, (gchar **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL, &status,
                                   &error));
        g_assert_no_error(error);
        g_assert_true(g_spawn_check_wait_status(status, NULL));
        return out;
}

static int helper_main(int argc, char **argv) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        uid_t uid;
        uint32_t n;
        int r;

        if (argc != 7)
                return 2;
        uid = (uid_t) strtoul(argv[3], NULL, 10);
        if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
                perror("drop privileges");
                return 3;
        }
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, argv[2]) < 0 || sd_bus_set_bus_client(bus, 1) < 0 ||
            sd_bus_start(bus) < 0)
                return 4;
        r = sd_bus_message_new_method_call(bus, &m, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE, "Check");
        if (r >= 0)
                r = sd_bus_message_append(m, "sa{ss}u", argv[4], 0U, (uint32_t) strtoul(argv[5], NULL, 10));
        if (r >= 0)
                r = sd_bus_message_set_allow_interactive_authorization(m, argv[6][0] == '1');
        if (r < 0)
                return 5;
        r = sd_bus_call(bus, m, 30 * 1000000ULL, &error, &reply);
        if (r < 0 && sd_bus_error_is_set(&error))
                printf("error %s\n%s\n", error.name, error.message);
        else if (r < 0 || sd_bus_message_read(reply, "u", &n) < 0)
                return 6;
        else
                printf("ok %u\n", n);
        sd_bus_error_free(&error);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        return 0;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

static const TestOptions opt_default = { .polkit = TRUE };
static const TestOptions opt_ask_root = { .polkit = TRUE, .ask_for_root = TRUE };
static const TestOptions opt_absent = { .polkit = FALSE, .ask_for_root = TRUE };
static const TestOptions opt_absent_root = { .polkit = FALSE };
static const TestOptions opt_hang = { .polkit = TRUE, .ask_for_root = TRUE, .timeout_usec = 2 * G_USEC_PER_SEC };

static void test_root_allowed_without_asking(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        Result r;

        /* the mock denies everything, but uid 0 is not asked about */
        call_check(f, "org.pciassign1.manage", NULL, NO_UID, FALSE, &r);
        assert_allowed(&r, 1);
        result_clear(&r);
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, TRUE, &r);
        assert_allowed(&r, 1);
        result_clear(&r);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 0);
        g_assert_cmpuint(registry_size(f), ==, 0);
}

static void test_root_asks_with_switch(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        g_autoptr(GPtrArray) calls = NULL;
        PolkitCall *c;
        Result r;

        call_check(f, "org.pciassign1.manage", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "org.pciassign1.manage");
        result_clear(&r);

        calls = mock_polkit_calls(f);
        g_assert_cmpuint(calls->len, ==, 1);
        c = calls->pdata[0];
        g_assert_cmpstr(c->subject_kind, ==, "system-bus-name");
        g_assert_cmpstr(c->name, ==, g_dbus_connection_get_unique_name(f->conn));
        g_assert_cmpstr(c->action, ==, "org.pciassign1.manage");
        g_assert_cmpuint(g_hash_table_size(c->details), ==, 0);
        g_assert_cmpuint(c->flags, ==, 0);
        g_assert_cmpstr(c->cancellation_id, ==, "");
        assert_registry_drains(f);
}

static void test_allowed(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        static const char *const allowed[] = { "org.pciassign1.reserve", NULL };
        static const char *const details[] = { "owner", "vm-1", "reservation", "r42", NULL };
        g_autoptr(GPtrArray) calls = NULL;
        PolkitCall *c;
        Result r;

        mock_set_allowed(f, allowed);
        call_check(f, "org.pciassign1.reserve", details, NO_UID, FALSE, &r);
        /* asked, answered, and the handler ran a second time */
        assert_allowed(&r, 2);
        result_clear(&r);

        calls = mock_polkit_calls(f);
        g_assert_cmpuint(calls->len, ==, 1);
        c = calls->pdata[0];
        g_assert_cmpstr(c->action, ==, "org.pciassign1.reserve");
        g_assert_cmpuint(g_hash_table_size(c->details), ==, 2);
        g_assert_cmpstr(g_hash_table_lookup(c->details, "owner"), ==, "vm-1");
        g_assert_cmpstr(g_hash_table_lookup(c->details, "reservation"), ==, "r42");

        /* the answer is per call: the next call is asked again */
        call_check(f, "org.pciassign1.reserve", details, NO_UID, FALSE, &r);
        assert_allowed(&r, 2);
        result_clear(&r);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 2);
        assert_registry_drains(f);
}

static void test_denied(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        static const char *const allowed[] = { "org.pciassign1.reserve", NULL };
        Result r;

        mock_set_allowed(f, allowed);
        call_check(f, "org.pciassign1.manage", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "not authorized for org.pciassign1.manage");
        result_clear(&r);
        /* also with the interactive flag: polkit said no, not "challenge" */
        call_check(f, "org.pciassign1.manage", NULL, NO_UID, TRUE, &r);
        assert_error(&r, ACCESS_DENIED, "org.pciassign1.manage");
        result_clear(&r);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 2);
        assert_registry_drains(f);
}

static void test_interactive_flag(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        g_autoptr(GPtrArray) calls = NULL;
        Result r;

        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, TRUE, &r);
        result_clear(&r);
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        result_clear(&r);

        calls = mock_polkit_calls(f);
        g_assert_cmpuint(calls->len, ==, 2);
        g_assert_cmpuint(((PolkitCall *) calls->pdata[0])->flags, ==, 1);  /* AllowUserInteraction */
        g_assert_cmpuint(((PolkitCall *) calls->pdata[1])->flags, ==, 0);
}

static void test_challenge(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        Result r;

        /* not authorized, but could be with a password */
        mock_replace_check(f, "(bba{ss})", "ret = (False, True, {})");
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        assert_error(&r, INTERACTIVE_REQUIRED, "org.pciassign1.reserve");
        result_clear(&r);
        /* the caller allowed interaction and still got a challenge: no */
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, TRUE, &r);
        assert_error(&r, ACCESS_DENIED, "org.pciassign1.reserve");
        result_clear(&r);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 2);
}

static void test_good_uid(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        Result r;

        /* asks even for root here; good_uid 0 matches the caller: not asked */
        call_check(f, "org.pciassign1.reserve", NULL, 0, FALSE, &r);
        assert_allowed(&r, 1);
        result_clear(&r);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 0);

        /* another good uid: asked (and the mock says no) */
        call_check(f, "org.pciassign1.reserve", NULL, 4242, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, NULL);
        result_clear(&r);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 1);
}

static void test_unprivileged_caller(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        static const char *const allowed[] = { "org.pciassign1.reserve", NULL };
        g_autoptr(GPtrArray) calls = NULL;
        gchar *out;

        /* default settings: a non-root caller is asked about */
        out = helper_call(f, NOBODY, "org.pciassign1.reserve", NO_UID, FALSE);
        g_assert_true(g_str_has_prefix(out, "error " ACCESS_DENIED "\n"));
        g_free(out);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 1);

        mock_set_allowed(f, allowed);
        out = helper_call(f, NOBODY, "org.pciassign1.reserve", NO_UID, TRUE);
        g_assert_cmpstr(out, ==, "ok 2\n");
        g_free(out);
        out = helper_call(f, NOBODY, "org.pciassign1.manage", NO_UID, FALSE);
        g_assert_true(g_str_has_prefix(out, "error " ACCESS_DENIED "\n"));
        g_free(out);

        calls = mock_polkit_calls(f);
        g_assert_cmpuint(calls->len, ==, 3);
        g_assert_cmpstr(((PolkitCall *) calls->pdata[1])->action, ==, "org.pciassign1.reserve");
        g_assert_cmpuint(((PolkitCall *) calls->pdata[1])->flags, ==, 1);
        g_assert_cmpstr(((PolkitCall *) calls->pdata[2])->action, ==, "org.pciassign1.manage");
        g_assert_cmpuint(((PolkitCall *) calls->pdata[2])->flags, ==, 0);
        /* the subject is the helper's bus name, not ours */
        g_assert_cmpstr(((PolkitCall *) calls->pdata[2])->name, !=, g_dbus_connection_get_unique_name(f->conn));

        /* the caller's own uid as good uid: allowed without asking */
        out = helper_call(f, NOBODY, "org.pciassign1.manage", NOBODY, FALSE);
        g_assert_cmpstr(out, ==, "ok 1\n");
        g_free(out);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 3);
        /* someone else's uid (here root's): asked */
        out = helper_call(f, NOBODY, "org.pciassign1.manage", 0, FALSE);
        g_assert_true(g_str_has_prefix(out, "error " ACCESS_DENIED "\n"));
        g_free(out);
        g_assert_cmpuint(mock_n_polkit_calls(f), ==, 4);
        assert_registry_drains(f);
}

static void test_polkit_absent(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        gint64 start = g_get_monotonic_time();
        Result r;

        g_assert_false(name_has_owner(f, POLKIT_NAME));
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "polkit is not running");
        result_clear(&r);
        /* at once, not after a timeout */
        g_assert_cmpint(g_get_monotonic_time() - start, <, 10 * G_USEC_PER_SEC);
        assert_registry_drains(f);
}

static void test_polkit_absent_root(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        Result r;

        /* uid 0 needs no polkit at all */
        call_check(f, "org.pciassign1.manage", NULL, NO_UID, FALSE, &r);
        assert_allowed(&r, 1);
        result_clear(&r);
}

static void test_polkit_hangs(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        gint64 start, pinged;
        Result r;

        mock_simulate_hang(f, TRUE);
        start = g_get_monotonic_time();
        call_check_async(f->conn, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        wait_n_polkit_calls(f, 1);

        /* polkit is stuck on our question; the service still answers */
        assert_ping(f);
        g_assert_cmpuint(registry_size(f), ==, 1);
        pinged = g_get_monotonic_time();
        g_main_context_iteration(NULL, FALSE);
        g_assert_false(r.done);
        g_assert_cmpint(pinged - start, <, (gint64) opt_hang.timeout_usec);

        wait_result(&r);
        assert_error(&r, ACCESS_DENIED, "polkit timed out");
        g_assert_cmpint(r.finished - start, >=, (gint64) opt_hang.timeout_usec - G_USEC_PER_SEC / 10);
        result_clear(&r);
        assert_registry_drains(f);

        /* polkit's late answer goes nowhere */
        mock_release_hanging(f);
        assert_ping(f);
        g_assert_cmpuint(registry_size(f), ==, 0);
}

static void test_garbage_reply(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        Result r;

        mock_replace_check(f, "s", "ret = 'yes'");
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "invalid reply");
        result_clear(&r);

        /* "authorized" in the wrong shape is still garbage */
        mock_replace_check(f, "(bb)", "ret = (True, False)");
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "invalid reply");
        result_clear(&r);

        mock_replace_check(f, "(bba{ss})b", "ret = ((True, False, {}), True)");
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "invalid reply");
        result_clear(&r);

        /* polkit answering with an error */
        mock_replace_check(f, "(bba{ss})",
                           "raise dbus.exceptions.DBusException('no such action', "
                           "name='org.freedesktop.PolicyKit1.Error.Failed')");
        call_check(f, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        assert_error(&r, ACCESS_DENIED, "polkit failed: no such action");
        result_clear(&r);
        assert_registry_drains(f);
}

static void test_concurrent_calls(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        static const char *const allowed[] = { "org.pciassign1.reserve", NULL };
        static const char *const d1[] = { "reservation", "a", NULL };
        static const char *const d2[] = { "reservation", "b", NULL };
        Result r[4];

        mock_set_allowed(f, allowed);
        mock_simulate_hang(f, TRUE);
        call_check_async(f->conn, "org.pciassign1.reserve", d1, NO_UID, FALSE, &r[0]);
        call_check_async(f->conn, "org.pciassign1.manage", d1, NO_UID, FALSE, &r[1]);
        call_check_async(f->conn, "org.pciassign1.reserve", d2, NO_UID, TRUE, &r[2]);
        call_check_async(f->conn, "org.pciassign1.manage", d2, NO_UID, TRUE, &r[3]);
        wait_n_polkit_calls(f, 4);
        g_assert_cmpuint(registry_size(f), ==, 4);
        mock_release_hanging(f);
        for (size_t i = 0; i < G_N_ELEMENTS(r); i++)
                wait_result(&r[i]);
        assert_allowed(&r[0], 2);
        assert_error(&r[1], ACCESS_DENIED, "org.pciassign1.manage");
        assert_allowed(&r[2], 2);
        assert_error(&r[3], ACCESS_DENIED, "org.pciassign1.manage");
        for (size_t i = 0; i < G_N_ELEMENTS(r); i++)
                result_clear(&r[i]);
        assert_registry_drains(f);
}

static void test_two_actions(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        static const char *const both[] = { "org.pciassign1.reserve", "org.pciassign1.manage", NULL };
        static const char *const one[] = { "org.pciassign1.reserve", NULL };
        g_autoptr(GPtrArray) calls = NULL;
        Result r;

        /* one handler, two questions: three dispatches, two polkit calls */
        mock_set_allowed(f, both);
        call_check_two(f, "org.pciassign1.reserve", "org.pciassign1.manage", &r);
        assert_allowed(&r, 3);
        result_clear(&r);

        mock_set_allowed(f, one);
        call_check_two(f, "org.pciassign1.reserve", "org.pciassign1.manage", &r);
        assert_error(&r, ACCESS_DENIED, "org.pciassign1.manage");
        result_clear(&r);
        call_check_two(f, "org.pciassign1.manage", "org.pciassign1.reserve", &r);
        assert_error(&r, ACCESS_DENIED, "org.pciassign1.manage");
        result_clear(&r);

        /* same action, other details: an answer is not reused */
        call_check_two(f, "org.pciassign1.reserve", "org.pciassign1.reserve", &r);
        assert_allowed(&r, 3);
        result_clear(&r);

        calls = mock_polkit_calls(f);
        g_assert_cmpuint(calls->len, ==, 7);
        g_assert_cmpstr(((PolkitCall *) calls->pdata[0])->action, ==, "org.pciassign1.reserve");
        g_assert_cmpstr(g_hash_table_lookup(((PolkitCall *) calls->pdata[0])->details, "step"), ==, "1");
        g_assert_cmpstr(((PolkitCall *) calls->pdata[1])->action, ==, "org.pciassign1.manage");
        g_assert_cmpstr(g_hash_table_lookup(((PolkitCall *) calls->pdata[1])->details, "step"), ==, "2");
        g_assert_cmpstr(((PolkitCall *) calls->pdata[4])->action, ==, "org.pciassign1.manage");
        g_assert_cmpstr(g_hash_table_lookup(((PolkitCall *) calls->pdata[5])->details, "step"), ==, "1");
        g_assert_cmpstr(g_hash_table_lookup(((PolkitCall *) calls->pdata[6])->details, "step"), ==, "2");
        assert_registry_drains(f);
}

static void test_caller_gone(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        g_autoptr(GError) error = NULL;
        GDBusConnection *other;
        Result r;

        other = g_dbus_connection_new_for_address_sync(
                f->address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, &error);
        g_assert_no_error(error);
        mock_simulate_hang(f, TRUE);
        call_check_async(other, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        wait_n_polkit_calls(f, 1);
        g_dbus_connection_close_sync(other, NULL, NULL);
        g_object_unref(other);
        wait_result(&r);   /* cancelled locally */
        result_clear(&r);

        /* polkit answers for a caller that is gone: the re-dispatched call
         * is processed (a uid lookup fails: denied) and dropped */
        mock_release_hanging(f);
        assert_ping(f);
        assert_registry_drains(f);
}

static void test_exit_while_pending(Fixture *f, G_GNUC_UNUSED gconstpointer data) {
        Result r;

        mock_simulate_hang(f, TRUE);
        call_check_async(f->conn, "org.pciassign1.reserve", NULL, NO_UID, FALSE, &r);
        wait_n_polkit_calls(f, 1);
        g_assert_cmpuint(registry_size(f), ==, 1);

        /* the daemon exits: polkit_registry_free() cancels the question
         * (no leak, no callback into freed memory); the caller gets an
         * error from the bus, never a success */
        service_stop(f->service);
        f->service = NULL;
        wait_result(&r);
        g_assert_nonnull(r.error);
        result_clear(&r);
        mock_release_hanging(f);
}

int main(int argc, char **argv) {
        if (argc > 1 && strcmp(argv[1], "--helper-call") == 0)
                return helper_main(argc, argv);

        g_test_init(&argc, &argv, NULL);
        if (g_test_verbose())
                log_set_max_level(LOG_DEBUG);
        /* a bus peer going away must not kill the test */
        signal(SIGPIPE, SIG_IGN);

        if (getuid() != 0) {
                g_test_skip("needs root: uid 0 is part of what is tested, and a helper switches to uid 65534");
                return g_test_run();
        }
        if (access(PYTHON, X_OK) < 0 ||
            !g_file_test("/usr/lib/python3/dist-packages/dbusmock/templates/polkitd.py", G_FILE_TEST_EXISTS)) {
                g_test_skip("needs " PYTHON " with python3-dbusmock");
                return g_test_run();
        }

#define ADD(name, opts, fn) g_test_add("/polkit/" name, Fixture, &(opts), fixture_setup, fn, fixture_teardown)
        ADD("root-allowed-without-asking", opt_default, test_root_allowed_without_asking);
        ADD("root-asks-with-switch", opt_ask_root, test_root_asks_with_switch);
        ADD("allowed", opt_ask_root, test_allowed);
        ADD("denied", opt_ask_root, test_denied);
        ADD("interactive-flag", opt_ask_root, test_interactive_flag);
        ADD("challenge", opt_ask_root, test_challenge);
        ADD("good-uid", opt_ask_root, test_good_uid);
        ADD("unprivileged-caller", opt_default, test_unprivileged_caller);
        ADD("polkit-absent", opt_absent, test_polkit_absent);
        ADD("polkit-absent-root", opt_absent_root, test_polkit_absent_root);
        ADD("polkit-hangs", opt_hang, test_polkit_hangs);
        ADD("garbage-reply", opt_ask_root, test_garbage_reply);
        ADD("concurrent-calls", opt_ask_root, test_concurrent_calls);
        ADD("two-actions", opt_ask_root, test_two_actions);
        ADD("caller-gone", opt_ask_root, test_caller_gone);
        ADD("exit-while-pending", opt_ask_root, test_exit_while_pending);
#undef ADD
        return g_test_run();
}
