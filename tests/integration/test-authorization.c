/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Authorization of the mutating methods through the real daemon, with
 * polkit played by python-dbusmock's polkitd template and clients run as
 * root and as an unprivileged user (uid 65534).  The matrix: each
 * mutating method x {polkit denies, polkit allows, uid 0, the
 * reservation's owner, another user}, plus polkit absent and hanging. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon-harness.h"

#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"

typedef struct {
        Harness *h;
        GPid polkit_pid;
} Fixture;

static void start_polkit(Fixture *f) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "DBUS_SYSTEM_BUS_ADDRESS", f->h->bus_address, TRUE);
        const char *argv[] = { "/usr/bin/python3", "-m", "dbusmock", "--system", "--template", "polkitd", NULL };
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        env = g_environ_unsetenv(env, "LD_PRELOAD");
        env = g_environ_unsetenv(env, "PYTHONPATH");
        g_assert_true(g_spawn_async(NULL, (gchar **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                                    NULL, NULL, &f->polkit_pid, &error));
        g_assert_no_error(error);
        for (;;) {
                g_autoptr(GVariant) r = g_dbus_connection_call_sync(
                        f->h->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                        "NameHasOwner", g_variant_new("(s)", POLKIT_NAME), G_VARIANT_TYPE("(b)"),
                        G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
                gboolean has = FALSE;

                if (r)
                        g_variant_get(r, "(b)", &has);
                if (has)
                        break;
                if (g_get_monotonic_time() > deadline)
                        g_error("python-dbusmock polkitd did not start");
                g_usleep(50 * 1000);
        }
}

static void polkit_mock(Fixture *f, const char *method, GVariant *args) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(f->h->conn, POLKIT_NAME, POLKIT_PATH,
                                                            "org.freedesktop.DBus.Mock", method, args, NULL,
                                                            G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        g_assert_no_error(error);
}

static void polkit_allow(Fixture *f, const char *const *actions) {
        polkit_mock(f, "SetAllowed", g_variant_new("(^as)", actions));
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        const char *const *args = data;

        f->h = harness_new("testbeds/q35-vm.umockdev");
        start_polkit(f);
        harness_start_daemon(f->h, args);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        if (f->polkit_pid > 0) {
                kill(f->polkit_pid, SIGTERM);
                (void) waitpid(f->polkit_pid, NULL, 0);
                g_spawn_close_pid(f->polkit_pid);
        }
        harness_free(f->h);
}

static const char *const no_args[] = { NULL };
static const char *const ask_root[] = { "--ask-polkit-for-root", "--polkit-timeout=3", NULL };

/* runs pci-assignctl, returns the exit code; err keeps the message */
static int ctl(Fixture *f, gboolean nobody, gchar **err, const char *const *argv) {
        g_autofree gchar *out = NULL;
        gchar *e = NULL;
        int r = nobody ? harness_run_ctl_as_nobody(f->h, argv, &out, &e) : harness_run_ctl(f->h, argv, &out, &e);

        g_test_message("pci-assignctl %s%s -> %d: %s%s", argv[0], nobody ? " (uid 65534)" : "", r, out, e);
        if (err)
                *err = e;
        else
                g_free(e);
        return r;
}

#define RESERVE(owner) ((const char *const[]) { "--no-ask-password", "reserve", owner, "0000:02:00.0", NULL })
#define RELEASE(id) ((const char *const[]) { "--no-ask-password", "release", id, NULL })

static void test_root_allowed_without_polkit(Fixture *f, gconstpointer data) {
        g_autofree gchar *err = NULL;

        polkit_allow(f, (const char *const[]) { NULL });        /* polkit says no to everything */
        g_assert_cmpint(ctl(f, FALSE, NULL, RESERVE("vm1")), ==, 0);
        g_assert_cmpint(ctl(f, FALSE, NULL, RELEASE("r1")), ==, 0);
}

static void test_unprivileged_denied(Fixture *f, gconstpointer data) {
        g_autofree gchar *err = NULL, *out = NULL;

        polkit_allow(f, (const char *const[]) { NULL });
        g_assert_cmpint(ctl(f, TRUE, &err, RESERVE("vm1")), ==, 1);
        g_assert_nonnull(strstr(err, "org.freedesktop.DBus.Error.AccessDenied"));
        /* nothing was reserved, and read-only calls still work for anyone */
        g_assert_cmpint(harness_run_ctl_as_nobody(f->h, (const char *const[]) { "reservations", NULL }, &out, NULL), ==, 0);
        g_assert_nonnull(strstr(out, "No reservations"));
        g_clear_pointer(&out, g_free);
        g_assert_cmpint(harness_run_ctl_as_nobody(f->h, (const char *const[]) { "check", "0000:02:00.0", NULL }, &out, NULL), ==, 0);
}

static void test_unprivileged_allowed_and_owner(Fixture *f, gconstpointer data) {
        g_autofree gchar *err = NULL;

        polkit_allow(f, (const char *const[]) { "org.pciassign1.reserve", NULL });
        g_assert_cmpint(ctl(f, TRUE, NULL, RESERVE("vm-nobody")), ==, 0);
        /* the owner may release its own reservation even when polkit now
         * says no: its uid is enough */
        polkit_allow(f, (const char *const[]) { NULL });
        g_assert_cmpint(ctl(f, TRUE, NULL, RELEASE("r1")), ==, 0);
}

static void test_other_user_needs_manage(Fixture *f, gconstpointer data) {
        g_autofree gchar *err = NULL;

        /* root (asked like anyone, --ask-polkit-for-root) reserves ... */
        polkit_allow(f, (const char *const[]) { "org.pciassign1.reserve", NULL });
        g_assert_cmpint(ctl(f, FALSE, NULL, RESERVE("vm-root")), ==, 0);
        /* ... so uid 65534 is "another user": reserve alone is not enough */
        g_assert_cmpint(ctl(f, TRUE, &err, RELEASE("r1")), ==, 1);
        g_assert_nonnull(strstr(err, "AccessDenied"));
        g_clear_pointer(&err, g_free);
        polkit_allow(f, (const char *const[]) { "org.pciassign1.manage", NULL });
        g_assert_cmpint(ctl(f, TRUE, NULL, RELEASE("r1")), ==, 0);
}

static void test_root_asked_when_switched(Fixture *f, gconstpointer data) {
        g_autofree gchar *err = NULL;

        polkit_allow(f, (const char *const[]) { NULL });
        g_assert_cmpint(ctl(f, FALSE, &err, RESERVE("vm1")), ==, 1);
        g_assert_nonnull(strstr(err, "AccessDenied"));
        polkit_allow(f, (const char *const[]) { "org.pciassign1.reserve", NULL });
        g_assert_cmpint(ctl(f, FALSE, NULL, RESERVE("vm1")), ==, 0);
}

static void test_polkit_hanging(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *err = NULL;
        const char *const argv[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                     NULL };
        g_autofree gchar *ctl_path = g_build_filename(g_getenv("PCI_ASSIGND_BUILD_ROOT"), "src", "ctl",
                                                      "pci-assignctl", NULL);
        g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "DBUS_SYSTEM_BUS_ADDRESS", f->h->bus_address, TRUE);
        GPtrArray *a = g_ptr_array_new();
        GPid pid;
        gint out_fd, err_fd, status;
        gint64 t0, t1;
        gchar buf[1024] = "";
        gssize n;

        polkit_mock(f, "SimulateHang", g_variant_new("(b)", TRUE));
        for (guint i = 0; argv[i]; i++)
                g_ptr_array_add(a, (gpointer) argv[i]);
        g_ptr_array_add(a, ctl_path);
        g_ptr_array_add(a, (gpointer) "--no-ask-password");
        g_ptr_array_add(a, (gpointer) "reserve");
        g_ptr_array_add(a, (gpointer) "vm1");
        g_ptr_array_add(a, (gpointer) "0000:02:00.0");
        g_ptr_array_add(a, NULL);
        env = g_environ_unsetenv(env, "LD_PRELOAD");

        t0 = g_get_monotonic_time();
        g_assert_true(g_spawn_async_with_pipes(NULL, (gchar **) a->pdata, env,
                                               G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                               &pid, NULL, &out_fd, &err_fd, &error));
        g_assert_no_error(error);
        g_ptr_array_free(a, TRUE);

        /* while polkit hangs, the daemon answers everyone else */
        g_usleep(500 * 1000);
        for (int i = 0; i < 5; i++) {
                g_autoptr(GVariant) r = harness_call(f->h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL,
                                                     G_VARIANT_TYPE("(a(ssisso))"), &error);
                g_assert_no_error(error);
        }
        t1 = g_get_monotonic_time();
        g_assert_cmpint(waitpid(pid, &status, WNOHANG), ==, 0);   /* still pending */

        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 1);
        n = read(err_fd, buf, sizeof buf - 1);
        buf[MAX(n, 0)] = 0;
        g_test_message("hanging polkit: %s (other calls answered %.0f ms after the start)", buf,
                       (t1 - t0) / 1000.0);
        g_assert_nonnull(strstr(buf, "AccessDenied"));
        g_assert_nonnull(strstr(buf, "polkit"));
        close(out_fd);
        close(err_fd);
        g_spawn_close_pid(pid);
        polkit_mock(f, "SimulateHang", g_variant_new("(b)", FALSE));
}

static void test_polkit_absent(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *out = NULL, *err = NULL;

        harness_start_daemon(h, no_args);
        g_assert_cmpint(harness_run_ctl_as_nobody(h, RESERVE("vm1"), &out, &err), ==, 1);
        g_test_message("no polkit: %s", err);
        g_assert_nonnull(strstr(err, "AccessDenied"));
        harness_free(h);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add("/authorization/root-allowed-without-polkit", Fixture, no_args, fixture_setup,
                   test_root_allowed_without_polkit, fixture_teardown);
        g_test_add("/authorization/unprivileged-denied", Fixture, no_args, fixture_setup,
                   test_unprivileged_denied, fixture_teardown);
        g_test_add("/authorization/unprivileged-allowed-and-owner", Fixture, no_args, fixture_setup,
                   test_unprivileged_allowed_and_owner, fixture_teardown);
        g_test_add("/authorization/other-user-needs-manage", Fixture, ask_root, fixture_setup,
                   test_other_user_needs_manage, fixture_teardown);
        g_test_add("/authorization/root-asked-when-switched", Fixture, ask_root, fixture_setup,
                   test_root_asked_when_switched, fixture_teardown);
        g_test_add("/authorization/polkit-hanging", Fixture, ask_root, fixture_setup,
                   test_polkit_hanging, fixture_teardown);
        g_test_add_func("/authorization/polkit-absent", test_polkit_absent);
        return g_test_run();
}
