/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
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

static void bus_child_setup(gpointer user_data) {
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
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
                /* bus_child_setup: a test that dies (g_error) must not leave
                 * its bus behind, holding meson's stderr pipe open */
                g_assert_true(g_spawn_async_with_pipes(NULL, (gchar **) argv, NULL,
                                                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                                       bus_child_setup, NULL, &h->bus_pid, NULL, &out_fd, NULL,
                                                       &error));
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
        h->notify_messages = g_ptr_array_new_with_free_func(g_free);
        h->extra_env = g_ptr_array_new_with_free_func(g_free);
        h->pid = 0;
        return h;
}

static void rm_rf(const char *path) {
        g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", path);
        g_assert_cmpint(system(cmd), ==, 0);
}

static void notify_reader_stop(Harness *h);

void harness_free(Harness *h) {
        if (!h)
                return;
        if (h->pid > 0 && !h->exited)
                harness_stop_daemon(h);
        notify_reader_stop(h);
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
        g_free(h->daemon_log_path);
        g_string_free(h->notify_log, TRUE);
        g_ptr_array_free(h->notify_messages, TRUE);
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

/* The daemon's sd_notify() blocks while the socket's queue is full
 * (net.unix.max_dgram_qlen datagrams, 10 by default), as systemd never
 * lets it be: a thread reads every datagram as it comes, whatever the
 * test is doing, and harness_notify_drain() takes them from the queue. */
typedef struct NotifyReader {
        GSocket *socket;
        GMutex lock;            /* held while reading the socket */
        GAsyncQueue *queue;
        gint stop;
} NotifyReader;

/* everything the socket holds now, in order */
static void notify_read(NotifyReader *r) {
        gchar buf[4096];
        gssize n;

        g_mutex_lock(&r->lock);
        while ((n = g_socket_receive(r->socket, buf, sizeof buf - 1, NULL, NULL)) > 0)
                g_async_queue_push(r->queue, g_strndup(buf, (gsize) n));
        g_mutex_unlock(&r->lock);
}

static gpointer notify_reader(gpointer data) {
        NotifyReader *r = data;

        while (!g_atomic_int_get(&r->stop))
                if (g_socket_condition_timed_wait(r->socket, G_IO_IN, 50 * 1000, NULL, NULL))
                        notify_read(r);
        return NULL;
}

static void notify_reader_stop(Harness *h) {
        if (!h->notify_thread)
                return;
        g_atomic_int_set(&h->notify_reader->stop, 1);
        g_thread_join(h->notify_thread);
        h->notify_thread = NULL;
        g_object_unref(h->notify_reader->socket);
        g_mutex_clear(&h->notify_reader->lock);
        g_async_queue_unref(h->notify_reader->queue);
        g_clear_pointer(&h->notify_reader, g_free);
}

void harness_notify_drain(Harness *h) {
        gchar *m;

        if (!h->notify_reader)
                return;
        /* what was sent before now is here, even if the thread is late */
        notify_read(h->notify_reader);
        while ((m = g_async_queue_try_pop(h->notify_reader->queue))) {
                g_string_append(h->notify_log, m);
                g_string_append_c(h->notify_log, '\n');
                g_ptr_array_add(h->notify_messages, m);
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
static gchar *fakekernel_library(void);

void harness_start_daemon(Harness *h, const char *const *extra_args) {
        gint64 deadline;

        spawn_daemon(h, extra_args);
        deadline = g_get_monotonic_time() + (wrapper_slow() ? 120 : 30) * G_USEC_PER_SEC;
        for (;;) {
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                harness_notify_drain(h);
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
                harness_notify_drain(h);
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

/* child_setup, and stderr appended to the file user_data (between fork
 * and exec: async-signal-safe calls only) */
static void child_setup_capture(gpointer user_data) {
        int fd;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open((const char *) user_data, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
                (void) dup2(fd, STDERR_FILENO);
                (void) close(fd);
        }
}

/* The daemon's command line: $PCI_ASSIGND_TEST_WRAPPER, the binary, extra_args. */
static GPtrArray *daemon_argv(const char *const *extra_args) {
        GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        const char *wrapper = g_getenv("PCI_ASSIGND_TEST_WRAPPER");

        if (wrapper) {
                g_auto(GStrv) w = NULL;
                g_assert_true(g_shell_parse_argv(wrapper, NULL, &w, &error));
                for (gchar **i = w; *i; i++)
                        g_ptr_array_add(argv, g_strdup(*i));
        }
        g_ptr_array_add(argv, g_build_filename(env_or_die("PCI_ASSIGND_BUILD_ROOT"), "src", "daemon", "pci-assignd",
                                               NULL));
        for (const char *const *a = extra_args; a && *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, NULL);
        return argv;
}

/* The environment the daemon runs in: the test bus, the testbed, the state
 * and runtime directories, the notify socket, the preloads. */
static gchar **daemon_env(Harness *h, const char *notify_path) {
        gchar **env = g_get_environ();
        const char *preload = g_getenv("LD_PRELOAD");

        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        env = g_environ_setenv(env, "UMOCKDEV_DIR", h->testbed_dir, TRUE);
        env = g_environ_setenv(env, "STATE_DIRECTORY", h->state_dir, TRUE);
        env = g_environ_setenv(env, "RUNTIME_DIRECTORY", h->runtime_dir, TRUE);
        env = g_environ_setenv(env, "NOTIFY_SOCKET", notify_path, TRUE);
        {
                g_autofree gchar *p = preload && *preload ?
                        g_strdup_printf("libumockdev-preload.so.0:%s", preload) :
                        g_strdup("libumockdev-preload.so.0");
                if (h->fakekernel) {
                        /* the fake kernel first: it maps /sys writes onto
                         * the testbed itself and hands the rest to umockdev */
                        g_autofree gchar *fk = fakekernel_library();
                        g_autofree gchar *sys = harness_sys_path(h, NULL);
                        g_autofree gchar *with_fk = g_strdup_printf("%s:%s", fk, p);

                        g_free(p);
                        p = g_steal_pointer(&with_fk);
                        env = g_environ_setenv(env, "FAKEKERNEL_ROOT", sys, TRUE);
                        env = g_environ_setenv(env, "FAKEKERNEL_UMOCKDEV", "1", TRUE);
                }
                env = g_environ_setenv(env, "LD_PRELOAD", p, TRUE);
        }
        {
                /* The host's own mounts and routes name devices the testbed
                 * does not have, and the daemon fails closed on what it
                 * cannot follow (host-usage-unknown): by default the /proc
                 * tables are an empty directory (nothing mounted, no
                 * routes); a test sets its own with harness_set_env(). */
                g_autofree gchar *proc = g_build_filename(h->tmpdir, "host-proc-empty", NULL);

                g_assert_cmpint(g_mkdir_with_parents(proc, 0755), ==, 0);
                env = g_environ_setenv(env, "PCI_ASSIGND_PROC_DIR", proc, TRUE);
        }
        for (guint i = 0; i < h->extra_env->len; i++) {
                const char *kv = h->extra_env->pdata[i];
                g_autofree gchar *k = g_strndup(kv, strcspn(kv, "="));
                env = g_environ_setenv(env, k, kv + strlen(k) + 1, TRUE);
        }
        /* ASan insists on being first in the library list; the preload
         * is what umockdev needs, so relax that check. */
        env = g_environ_setenv(env, "ASAN_OPTIONS", "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1", FALSE);
        return env;
}

static void spawn_daemon(Harness *h, const char *const *extra_args) {
        g_autoptr(GPtrArray) argv = daemon_argv(extra_args);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *notify_path = g_build_filename(h->tmpdir, "notify", NULL);
        g_auto(GStrv) env = NULL;
        g_autoptr(GSocketAddress) sa = NULL;

        notify_reader_stop(h);
        g_string_truncate(h->notify_log, 0);
        g_ptr_array_set_size(h->notify_messages, 0);
        g_clear_object(&h->notify_socket);
        (void) unlink(notify_path);
        h->notify_socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM,
                                        G_SOCKET_PROTOCOL_DEFAULT, &error);
        g_assert_no_error(error);
        sa = g_unix_socket_address_new(notify_path);
        g_assert_true(g_socket_bind(h->notify_socket, sa, TRUE, &error));
        g_assert_no_error(error);
        g_socket_set_blocking(h->notify_socket, FALSE);
        h->notify_reader = g_new0(NotifyReader, 1);
        h->notify_reader->socket = g_object_ref(h->notify_socket);
        g_mutex_init(&h->notify_reader->lock);
        h->notify_reader->queue = g_async_queue_new_full(g_free);
        h->notify_thread = g_thread_new("notify-reader", notify_reader, h->notify_reader);

        env = daemon_env(h, notify_path);
        h->exited = FALSE;
        g_assert_true(g_spawn_async(NULL, (gchar **) argv->pdata, env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                    h->daemon_log_path ? child_setup_capture : child_setup,
                                    h->daemon_log_path, &h->pid, &error));
        g_assert_no_error(error);
        g_child_watch_add(h->pid, child_watch, h);
}

int harness_run_second_daemon(Harness *h, const char *const *extra_args, gchar **ret_stderr) {
        g_autoptr(GPtrArray) argv = daemon_argv(extra_args);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *notify_path = g_build_filename(h->tmpdir, "notify-second", NULL);
        g_auto(GStrv) env = daemon_env(h, notify_path);
        gint status = 0;

        g_assert_true(g_spawn_sync(NULL, (gchar **) argv->pdata, env, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                                   child_setup, NULL, NULL, ret_stderr, &status, &error));
        g_assert_no_error(error);
        g_assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
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
        harness_notify_drain(h);
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

GSubprocess *harness_spawn_ctl(Harness *h, const char *const *args, const char *output_path) {
        g_autoptr(GSubprocessLauncher) l = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDERR_MERGE);
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GError) error = NULL;
        GSubprocess *p;

        g_ptr_array_add(argv, g_build_filename(env_or_die("PCI_ASSIGND_BUILD_ROOT"), "src", "ctl",
                                               "pci-assignctl", NULL));
        for (const char *const *a = args; *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, NULL);
        g_subprocess_launcher_setenv(l, "DBUS_SYSTEM_BUS_ADDRESS", h->bus_address, TRUE);
        g_subprocess_launcher_unsetenv(l, "LD_PRELOAD");
        g_subprocess_launcher_set_stdout_file_path(l, output_path);
        p = g_subprocess_launcher_spawnv(l, (const gchar *const *) argv->pdata, &error);
        g_assert_no_error(error);
        return p;
}

/* ---- the fake kernel ---- */

static gchar *fakekernel_library(void) {
        const char *env = g_getenv("PCI_ASSIGND_FAKEKERNEL");
        gchar *p = env && *env ? g_strdup(env) :
                g_build_filename(env_or_die("PCI_ASSIGND_BUILD_ROOT"), "tests", "fakekernel", "libfakekernel.so", NULL);

        if (!g_file_test(p, G_FILE_TEST_IS_REGULAR))
                g_error("%s does not exist (build the fakekernel target)", p);
        return p;
}

gchar *harness_sys_path(Harness *h, const char *rel) {
        return g_build_filename(h->testbed_dir, "sys", rel, NULL);
}

static void put_file(const char *path, const char *content) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(path, content, -1, &error);
        g_assert_no_error(error);
}

void harness_use_fakekernel(Harness *h) {
        g_autofree gchar *lib = fakekernel_library();
        g_autofree gchar *vfio = harness_sys_path(h, "bus/pci/drivers/vfio-pci");
        g_autofree gchar *bind = g_build_filename(vfio, "bind", NULL);
        g_autofree gchar *unbind = g_build_filename(vfio, "unbind", NULL);
        g_autofree gchar *tb = realpath(h->testbed_dir, NULL);
        g_autofree gchar *tmp = realpath(g_get_tmp_dir(), NULL);

        /* the fake kernel only ever writes below the testbed; make sure
         * that is a temporary directory */
        g_assert_nonnull(tb);
        g_assert_nonnull(tmp);
        if (!g_str_has_prefix(tb, tmp) || tb[strlen(tmp)] != '/')
                g_error("testbed %s is not below %s: refusing to play a kernel there", tb, tmp);
        /* vfio-pci is not in the recording (nothing was bound to it) */
        g_assert_cmpint(g_mkdir_with_parents(vfio, 0755), ==, 0);
        if (!g_file_test(bind, G_FILE_TEST_EXISTS))
                put_file(bind, "");
        if (!g_file_test(unbind, G_FILE_TEST_EXISTS))
                put_file(unbind, "");
        h->fakekernel = TRUE;
}

gchar *harness_sys_driver(Harness *h, const char *addr) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s/driver", addr);
        g_autofree gchar *p = harness_sys_path(h, rel);
        g_autofree gchar *t = g_file_read_link(p, NULL);

        return t ? g_path_get_basename(t) : g_strdup("");
}

gchar *harness_sys_read(Harness *h, const char *addr, const char *name) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s/%s", addr, name);
        g_autofree gchar *p = harness_sys_path(h, rel);
        gchar *s = NULL;

        if (!g_file_get_contents(p, &s, NULL, NULL))
                return NULL;
        return s;
}

gchar *harness_fakekernel_log(Harness *h) {
        g_autofree gchar *p = harness_sys_path(h, ".fakekernel-log");
        gchar *s = NULL;

        if (!g_file_get_contents(p, &s, NULL, NULL))
                return g_strdup("");
        return s;
}

void harness_fakekernel_log_clear(Harness *h) {
        g_autofree gchar *p = harness_sys_path(h, ".fakekernel-log");

        (void) g_unlink(p);
}

void harness_unset_env(Harness *h, const char *key) {
        gsize l = strlen(key);

        for (guint i = h->extra_env->len; i > 0; i--) {
                const char *kv = h->extra_env->pdata[i - 1];
                if (strncmp(kv, key, l) == 0 && kv[l] == '=')
                        g_ptr_array_remove_index(h->extra_env, i - 1);
        }
}

int harness_wait_daemon_exit(Harness *h, guint ms) {
        gint64 deadline = g_get_monotonic_time() + (gint64) ms * 1000 * (wrapper_slow() ? 4 : 1);

        g_assert_cmpint(h->pid, >, 0);
        while (!h->exited) {
                if (g_get_monotonic_time() > deadline)
                        g_error("daemon did not exit within %u ms", ms);
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
        harness_notify_drain(h);
        h->pid = 0;
        return h->exit_status;
}

/* ---- the daemon's stderr, and killing it ---- */

void harness_capture_daemon_stderr(Harness *h) {
        if (!h->daemon_log_path)
                h->daemon_log_path = g_build_filename(h->tmpdir, "daemon.log", NULL);
}

gchar *harness_daemon_stderr(Harness *h) {
        gchar *s = NULL;

        if (!h->daemon_log_path || !g_file_get_contents(h->daemon_log_path, &s, NULL, NULL))
                return g_strdup("");
        return s;
}

int harness_kill_daemon(Harness *h, int sig) {
        g_assert_cmpint(h->pid, >, 0);
        if (!h->exited)
                g_assert_cmpint(kill(h->pid, sig), ==, 0);
        return harness_wait_daemon_exit(h, 30000);
}

/* ---- uevents (see daemon-harness.h) ---- */

struct HarnessUevent {
        GByteArray *props;       /* KEY=VALUE\0... */
        guint32 subsystem_hash;
};

/* libudev's monitor header (systemd's device-monitor.c, umockdev's
 * uevent_sender.c); the hashes let the listener's socket filter work */
#define UDEV_MONITOR_MAGIC 0xfeedcafe
struct monitor_netlink_header {
        char prefix[8];
        guint32 magic;
        guint32 header_size;
        guint32 properties_off;
        guint32 properties_len;
        guint32 filter_subsystem_hash;
        guint32 filter_devtype_hash;
        guint32 filter_tag_bloom_hi;
        guint32 filter_tag_bloom_lo;
};

/* MurmurHash2, as systemd and umockdev compute it */
static guint32 murmur2(const char *s) {
        const guint32 m = 0x5bd1e995;
        gsize len = strlen(s);
        guint32 hash = (guint32) len;
        const unsigned char *p = (const unsigned char *) s;

        while (len >= 4) {
                guint32 k;
                memcpy(&k, p, 4);
                k *= m;
                k ^= k >> 24;
                k *= m;
                hash *= m;
                hash ^= k;
                p += 4;
                len -= 4;
        }
        switch (len) {
        case 3:
                hash ^= (guint32) p[2] << 16;
                /* fall through */
        case 2:
                hash ^= (guint32) p[1] << 8;
                /* fall through */
        case 1:
                hash ^= p[0];
                hash *= m;
        }
        hash ^= hash >> 13;
        hash *= m;
        hash ^= hash >> 15;
        return hash;
}

static void uevent_prop(GByteArray *b, const char *key, const char *value) {
        g_byte_array_append(b, (const guint8 *) key, (guint) strlen(key));
        g_byte_array_append(b, (const guint8 *) "=", 1);
        g_byte_array_append(b, (const guint8 *) value, (guint) strlen(value) + 1);
}

HarnessUevent *harness_uevent_new(Harness *h, const char *syspath, const char *action) {
        static guint64 seqnum;
        g_autofree gchar *dir = NULL, *subsys_link = NULL, *subsys = NULL, *driver_link = NULL,
                         *uevent_path = NULL, *text = NULL, *seq = NULL, *drv_path = NULL;
        HarnessUevent *ev;

        g_assert_true(g_str_has_prefix(syspath, "/sys/devices/"));
        dir = g_build_filename(h->testbed_dir, syspath, NULL);
        subsys_link = g_build_filename(dir, "subsystem", NULL);
        subsys = g_file_read_link(subsys_link, NULL);
        if (!subsys)
                g_error("uevent for %s: the device has no subsystem link (does it exist?)", syspath);

        ev = g_new0(HarnessUevent, 1);
        ev->props = g_byte_array_new();
        {
                g_autofree gchar *name = g_path_get_basename(subsys);
                ev->subsystem_hash = murmur2(name);
                uevent_prop(ev->props, "ACTION", action);
                uevent_prop(ev->props, "DEVPATH", syspath + strlen("/sys"));
                uevent_prop(ev->props, "SUBSYSTEM", name);
        }
        seq = g_strdup_printf("%" G_GUINT64_FORMAT, ++seqnum);
        uevent_prop(ev->props, "SEQNUM", seq);

        uevent_path = g_build_filename(dir, "uevent", NULL);
        if (g_file_get_contents(uevent_path, &text, NULL, NULL)) {
                g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
                for (gchar **l = lines; *l; l++) {
                        gchar *eq = strchr(*l, '=');
                        if (!eq || eq == *l)
                                continue;
                        *eq = 0;
                        if (g_str_equal(*l, "DRIVER") || g_str_equal(*l, "ACTION") || g_str_equal(*l, "DEVPATH") ||
                            g_str_equal(*l, "SUBSYSTEM") || g_str_equal(*l, "SEQNUM"))
                                continue;
                        uevent_prop(ev->props, *l, eq + 1);
                }
        }
        drv_path = g_build_filename(dir, "driver", NULL);
        driver_link = g_file_read_link(drv_path, NULL);
        if (driver_link) {
                g_autofree gchar *drv = g_path_get_basename(driver_link);
                uevent_prop(ev->props, "DRIVER", drv);
        }
        return ev;
}

void harness_uevent_free(HarnessUevent *ev) {
        if (!ev)
                return;
        g_byte_array_free(ev->props, TRUE);
        g_free(ev);
}

/* One listener; FALSE if it is gone (its socket is then removed, like
 * umockdev does). */
static gboolean uevent_send_one(const char *path, const struct iovec *iov) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = wrapper_slow() ? 240 : 60 };
        struct msghdr msg = { .msg_iov = (struct iovec *) iov, .msg_iovlen = 2 };
        int fd;

        g_assert_cmpuint(strlen(path), <, sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        /* the listener is AF_UNIX SOCK_RAW, which is SOCK_DGRAM for unix
         * sockets; blocking, so that a full queue makes us wait */
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), ==, 0);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int e = errno;
                close(fd);
                if (e == ECONNREFUSED) {
                        (void) unlink(path);
                        return FALSE;
                }
                g_error("uevent: cannot connect to listener %s: %s", path, g_strerror(e));
        }
        for (;;) {
                ssize_t n = sendmsg(fd, &msg, 0);
                if (n >= 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno == ECONNREFUSED) {
                        close(fd);
                        (void) unlink(path);
                        return FALSE;
                }
                g_error("uevent: sending to listener %s failed: %s (a listener that reads nothing for %ld s?)",
                        path, g_strerror(errno), (long) tv.tv_sec);
        }
        close(fd);
        return TRUE;
}

guint harness_uevent_send(Harness *h, HarnessUevent *ev) {
        struct monitor_netlink_header nlh = {
                .prefix = "libudev",
                .magic = g_htonl(UDEV_MONITOR_MAGIC),
                .header_size = sizeof nlh,
                .properties_off = sizeof nlh,
                .properties_len = ev->props->len,
                .filter_subsystem_hash = g_htonl(ev->subsystem_hash),
        };
        struct iovec iov[2] = {
                { .iov_base = &nlh, .iov_len = sizeof nlh },
                { .iov_base = ev->props->data, .iov_len = ev->props->len },
        };
        g_autoptr(GDir) d = NULL;
        const char *name;
        guint reached = 0;

        d = g_dir_open(h->testbed_dir, 0, NULL);
        g_assert_nonnull(d);
        while ((name = g_dir_read_name(d))) {
                g_autofree gchar *p = NULL;

                /* umockdev's preload names them event<fd> */
                if (!g_str_has_prefix(name, "event") || !g_ascii_isdigit(name[5]))
                        continue;
                p = g_build_filename(h->testbed_dir, name, NULL);
                if (uevent_send_one(p, iov))
                        reached++;
        }
        harness_uevent_free(ev);
        return reached;
}

guint harness_uevent(Harness *h, const char *syspath, const char *action) {
        return harness_uevent_send(h, harness_uevent_new(h, syspath, action));
}

GVariant *harness_functions_v(const char *const *assigned, const char *const *unassigned) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a(sb)"));
        for (const char *const *a = assigned; a && *a; a++)
                g_variant_builder_add(&b, "(sb)", *a, TRUE);
        for (const char *const *a = unassigned; a && *a; a++)
                g_variant_builder_add(&b, "(sb)", *a, FALSE);
        return g_variant_builder_end(&b);
}
