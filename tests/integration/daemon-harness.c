/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <umockdev.h>
#include <unistd.h>

#include "daemon-harness.h"

#define BUS_NAME "org.pciassign1"

static const char *env_or_die(const char *name) {
        const char *v = g_getenv(name);
        if (!v)
                g_error("$%s is not set (run the tests through meson test)", name);
        return v;
}

gchar *harness_data_path(const char *rel) {
        return g_build_filename(env_or_die("PCI_ASSIGND_TEST_DATA"), rel, NULL);
}

static gboolean wrapper_slow(void) {
        return g_getenv("PCI_ASSIGND_TEST_WRAPPER") != NULL;
}

/* A private bus with the project's real bus policy: anyone may connect
 * and call, as on the system bus, so calls from other uids and the
 * policy itself are exercised.  (GTestDBus's session bus would refuse
 * other users.) */
static void start_bus(Harness *h) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *conf = g_build_filename(h->tmpdir, "bus.conf", NULL);
        g_autofree gchar *policy = g_build_filename(env_or_die("PCI_ASSIGND_SOURCE_ROOT"), "data", "dbus-1",
                                                    "system.d", "org.pciassign1.conf", NULL);
        g_autofree gchar *text = NULL, *conf_arg = NULL;
        gint out_fd = -1;
        gchar buf[512];
        gsize got = 0;

        text = g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>system</type>\n"
                "  <listen>unix:path=%s/bus</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <deny own=\"*\"/>\n"
                "    <deny send_type=\"method_call\"/>\n"
                "    <allow send_destination=\"org.freedesktop.DBus\"/>\n"
                "    <allow send_type=\"signal\"/>\n"
                "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                "    <allow receive_type=\"method_call\"/>\n"
                "    <allow receive_type=\"method_return\"/>\n"
                "    <allow receive_type=\"error\"/>\n"
                "    <allow receive_type=\"signal\"/>\n"
                "  </policy>\n"
                "  <policy user=\"root\">\n"
                "    <allow own=\"org.freedesktop.PolicyKit1\"/>\n"
                "    <allow send_destination=\"org.freedesktop.PolicyKit1\"/>\n"
                "    <allow send_interface=\"org.freedesktop.DBus.Mock\"/>\n"
                "  </policy>\n"
                "  <policy context=\"default\">\n"
                "    <allow send_destination=\"org.freedesktop.PolicyKit1\"/>\n"
                "  </policy>\n"
                "  <include>%s</include>\n"
                "</busconfig>\n", h->tmpdir, policy);
        g_assert_true(g_file_set_contents(conf, text, -1, &error));
        conf_arg = g_strdup_printf("--config-file=%s", conf);
        {
                const char *argv[] = { "dbus-daemon", conf_arg, "--nofork", "--print-address", NULL };
                g_assert_true(g_spawn_async_with_pipes(NULL, (gchar **) argv, NULL,
                                                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                                       NULL, NULL, &h->bus_pid, NULL, &out_fd, NULL, &error));
                g_assert_no_error(error);
        }
        /* the address comes on one line once the bus listens */
        while (got < sizeof buf - 1) {
                gssize n = read(out_fd, buf + got, sizeof buf - 1 - got);
                if (n <= 0)
                        break;
                got += (gsize) n;
                if (memchr(buf, '\n', got))
                        break;
        }
        close(out_fd);
        buf[got] = 0;
        g_strchomp(buf);
        if (!*buf)
                g_error("dbus-daemon did not start with %s", conf);
        h->bus_address = g_strdup(buf);
}

Harness *harness_new(const char *testbed_name) {
        Harness *h = g_new0(Harness, 1);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *file = NULL;
        UMockdevTestbed *tb;

        h->tmpdir = g_dir_make_tmp("pci-assignd-test-XXXXXX", &error);
        g_assert_no_error(error);
        /* unprivileged clients (setpriv) must reach the bus socket */
        g_assert_cmpint(g_chmod(h->tmpdir, 0755), ==, 0);
        start_bus(h);
        h->conn = g_dbus_connection_new_for_address_sync(
                h->bus_address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                NULL, NULL, &error);
        g_assert_no_error(error);

        /* umockdev_testbed_new() points $UMOCKDEV_DIR of this process at a
         * fresh directory; the daemon inherits it with the preload. */
        tb = umockdev_testbed_new();
        h->testbed = tb;
        h->testbed_dir = umockdev_testbed_get_root_dir(tb);
        if (testbed_name) {
                file = harness_data_path(testbed_name);
                g_assert_true(umockdev_testbed_add_from_file(tb, file, &error));
                g_assert_no_error(error);
        }

        h->state_dir = g_build_filename(h->tmpdir, "state", NULL);
        h->runtime_dir = g_build_filename(h->tmpdir, "run", NULL);
        g_assert_cmpint(g_mkdir(h->state_dir, 0700), ==, 0);
        g_assert_cmpint(g_mkdir(h->runtime_dir, 0755), ==, 0);
        h->notify_log = g_string_new(NULL);
        h->extra_env = g_ptr_array_new_with_free_func(g_free);
        h->pid = 0;
        return h;
}

static void rm_rf(const char *path) {
        g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", path);
        g_assert_cmpint(system(cmd), ==, 0);
}

void harness_free(Harness *h) {
        if (!h)
                return;
        if (h->pid > 0 && !h->exited)
                harness_stop_daemon(h);
        g_clear_object(&h->notify_socket);
        g_clear_object(&h->conn);
        if (h->bus_pid > 0) {
                kill(h->bus_pid, SIGTERM);
                (void) waitpid(h->bus_pid, NULL, 0);
                g_spawn_close_pid(h->bus_pid);
        }
        g_clear_object(&h->testbed);
        rm_rf(h->tmpdir);
        g_free(h->tmpdir);
        g_free(h->state_dir);
        g_free(h->runtime_dir);
        g_free(h->testbed_dir);
        g_free(h->bus_address);
        g_string_free(h->notify_log, TRUE);
        g_ptr_array_free(h->extra_env, TRUE);
        g_free(h);
}

static void child_watch(GPid pid, gint status, gpointer user_data) {
        Harness *h = user_data;
        h->exit_status = status;
        h->exited = TRUE;
        g_spawn_close_pid(pid);
}

static gboolean name_has_owner(Harness *h) {
        g_autoptr(GVariant) r = NULL;

        r = g_dbus_connection_call_sync(h->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner",
                                        g_variant_new("(s)", BUS_NAME), G_VARIANT_TYPE("(b)"),
                                        G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
        if (!r)
                return FALSE;
        gboolean owned;
        g_variant_get(r, "(b)", &owned);
        return owned;
}

static void drain_notify(Harness *h) {
        gchar buf[4096];
        gssize n;

        while ((n = g_socket_receive(h->notify_socket, buf, sizeof buf - 1, NULL, NULL)) > 0) {
                buf[n] = 0;
                g_string_append(h->notify_log, buf);
                g_string_append_c(h->notify_log, '\n');
        }
}

void harness_add_devices(Harness *h, const char *record) {
        g_autoptr(GError) error = NULL;

        g_assert_true(umockdev_testbed_add_from_string(h->testbed, record, &error));
        g_assert_no_error(error);
}

void harness_set_env(Harness *h, const char *key, const char *value) {
        g_ptr_array_add(h->extra_env, g_strdup_printf("%s=%s", key, value));
}

void harness_wait_for(gboolean *flag, guint ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000 * (wrapper_slow() ? 4 : 1);

        while (!*flag && g_get_monotonic_time() < deadline) {
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
}

static void spawn_daemon(Harness *h, const char *const *extra_args);

void harness_start_daemon(Harness *h, const char *const *extra_args) {
        gint64 deadline;

        spawn_daemon(h, extra_args);
        deadline = g_get_monotonic_time() + (wrapper_slow() ? 120 : 30) * G_USEC_PER_SEC;
        for (;;) {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                drain_notify(h);
                if (h->exited)
                        g_error("daemon exited during start-up (status %d)", h->exit_status);
                if (strstr(h->notify_log->str, "READY=1") && name_has_owner(h))
                        break;
                if (g_get_monotonic_time() > deadline)
                        g_error("daemon did not become ready; notify log: %s", h->notify_log->str);
                g_usleep(10 * 1000);
        }
}

int harness_start_daemon_expect_failure(Harness *h, const char *const *extra_args) {
        gint64 deadline;

        spawn_daemon(h, extra_args);
        deadline = g_get_monotonic_time() + (wrapper_slow() ? 120 : 30) * G_USEC_PER_SEC;
        while (!h->exited) {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                drain_notify(h);
                if (strstr(h->notify_log->str, "READY=1"))
                        g_error("daemon started although it should have refused to");
                if (g_get_monotonic_time() > deadline)
                        g_error("daemon neither started nor exited");
                g_usleep(10 * 1000);
        }
        h->pid = 0;
        g_assert_true(WIFEXITED(h->exit_status));
        return WEXITSTATUS(h->exit_status);
}

static void child_setup(gpointer user_data) {
        /* a test that dies must not leave its daemon behind */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void spawn_daemon(Harness *h, const char *const *extra_args) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *notify_path = g_build_filename(h->tmpdir, "notify", NULL);
        g_autofree gchar *daemon = g_build_filename(env_or_die("PCI_ASSIGND_BUILD_ROOT"),
                                                    "src", "daemon", "pci-assignd", NULL);
        g_auto(GStrv) env = g_get_environ();
        g_autoptr(GSocketAddress) sa = NULL;
        const char *wrapper = g_getenv("PCI_ASSIGND_TEST_WRAPPER");
        const char *preload = g_getenv("LD_PRELOAD");

        g_string_truncate(h->notify_log, 0);
        g_clear_object(&h->notify_socket);
        (void) unlink(notify_path);
        h->notify_socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                                        G_SOCKET_PROTOCOL_DEFAULT, &error);
        g_assert_no_error(error);
        sa = g_unix_socket_address_new(notify_path);
        g_assert_true(g_socket_bind(h->notify_socket, sa, TRUE, &error));
        g_assert_no_error(error);
        g_socket_set_blocking(h->notify_socket, FALSE);

        if (wrapper) {
                g_auto(GStrv) w = NULL;
                g_assert_true(g_shell_parse_argv(wrapper, NULL, &w, &error));
                for (gchar **i = w; *i; i++)
                        g_ptr_array_add(argv, g_strdup(*i));
        }
        g_ptr_array_add(argv, g_strdup(daemon));
        for (const char *const *a = extra_args; a && *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, NULL);

        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        env = g_environ_setenv(env, "UMOCKDEV_DIR", h->testbed_dir, TRUE);
        env = g_environ_setenv(env, "STATE_DIRECTORY", h->state_dir, TRUE);
        env = g_environ_setenv(env, "RUNTIME_DIRECTORY", h->runtime_dir, TRUE);
        env = g_environ_setenv(env, "NOTIFY_SOCKET", notify_path, TRUE);
        {
                g_autofree gchar *p = preload && *preload ?
                        g_strdup_printf("libumockdev-preload.so.0:%s", preload) :
                        g_strdup("libumockdev-preload.so.0");
                env = g_environ_setenv(env, "LD_PRELOAD", p, TRUE);
        }
        /* ASan insists on being first in the library list; the preload
         * is what umockdev needs, so relax that check. */
        for (guint i = 0; i < h->extra_env->len; i++) {
                const char *kv = h->extra_env->pdata[i];
                g_autofree gchar *k = g_strndup(kv, strcspn(kv, "="));
                env = g_environ_setenv(env, k, kv + strlen(k) + 1, TRUE);
        }
        env = g_environ_setenv(env, "ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1", FALSE);

        h->exited = FALSE;
        g_assert_true(g_spawn_async(NULL, (gchar **) argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                    child_setup, NULL, &h->pid, &error));
        g_assert_no_error(error);
        g_child_watch_add(h->pid, child_watch, h);
}

void harness_stop_daemon(Harness *h) {
        gint64 deadline = g_get_monotonic_time() + (wrapper_slow() ? 120 : 30) * G_USEC_PER_SEC;

        g_assert_cmpint(h->pid, >, 0);
        if (!h->exited)
                g_assert_cmpint(kill(h->pid, SIGTERM), ==, 0);
        while (!h->exited) {
                g_main_context_iteration(NULL, FALSE);
                if (g_get_monotonic_time() > deadline) {
                        kill(h->pid, SIGKILL);
                        g_error("daemon did not exit on SIGTERM");
                }
                g_usleep(10 * 1000);
        }
        drain_notify(h);
        if (!WIFEXITED(h->exit_status) || WEXITSTATUS(h->exit_status) != 0)
                g_error("daemon did not exit cleanly: %s %d",
                        WIFEXITED(h->exit_status) ? "exit status" : "signal",
                        WIFEXITED(h->exit_status) ? WEXITSTATUS(h->exit_status) : WTERMSIG(h->exit_status));
        h->pid = 0;
}

GVariant *harness_call(Harness *h, const char *path, const char *iface, const char *method,
                       GVariant *args, const GVariantType *reply_type, GError **error) {
        return g_dbus_connection_call_sync(h->conn, BUS_NAME, path, iface, method, args, reply_type,
                                           G_DBUS_CALL_FLAGS_NONE, wrapper_slow() ? 120000 : 25000,
                                           NULL, error);
}

GVariant *harness_get_all(Harness *h, const char *path, const char *iface) {
        g_autoptr(GError) error = NULL;
        GVariant *r, *props;

        r = harness_call(h, path, "org.freedesktop.DBus.Properties", "GetAll",
                         g_variant_new("(s)", iface), G_VARIANT_TYPE("(a{sv})"), &error);
        g_assert_no_error(error);
        props = g_variant_get_child_value(r, 0);
        g_variant_unref(r);
        return props;
}

static int run_ctl(Harness *h, gboolean as_nobody, const char *const *args, gchar **out, gchar **err) {
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = g_get_environ();
        gint status;

        if (as_nobody) {
                g_ptr_array_add(argv, g_strdup("setpriv"));
                g_ptr_array_add(argv, g_strdup("--reuid=65534"));
                g_ptr_array_add(argv, g_strdup("--regid=65534"));
                g_ptr_array_add(argv, g_strdup("--clear-groups"));
                g_ptr_array_add(argv, g_strdup("--"));
        }
        g_ptr_array_add(argv, g_build_filename(env_or_die("PCI_ASSIGND_BUILD_ROOT"), "src", "ctl",
                                               "pci-assignctl", NULL));
        for (const char *const *a = args; *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, NULL);
        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        env = g_environ_unsetenv(env, "LD_PRELOAD");
        g_assert_true(g_spawn_sync(NULL, (gchar **) argv->pdata, env, G_SPAWN_SEARCH_PATH, NULL, NULL,
                                   out, err, &status, &error));
        g_assert_no_error(error);
        g_assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

int harness_run_ctl(Harness *h, const char *const *args, gchar **out, gchar **err) {
        return run_ctl(h, FALSE, args, out, err);
}

int harness_run_ctl_as_nobody(Harness *h, const char *const *args, gchar **out, gchar **err) {
        return run_ctl(h, TRUE, args, out, err);
}
