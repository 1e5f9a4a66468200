/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's lifecycle around live reservations (issue 14): a second
 * instance on the same state directory, signals.  The real daemon on a
 * private bus against the recorded q35 testbed with the fake kernel
 * preloaded (see test-rebind.c): every sysfs write the daemon makes is in
 * the fake kernel's log, so "nothing touched" is an empty log. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "rebind-util.h"

static const char *const mf_both[] = { MF0, MF1, NULL };
static const char *const nic_only[] = { NIC, NULL };

/* A transient reservation of `functions` by a client connection of its
 * own, prepared; the connection is returned (closing it ends the
 * reservation). */
static GDBusConnection *transient_prepared(Harness *h, const char *owner, const char *const *functions,
                                           gchar **ret_path) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        GDBusConnection *client;
        GVariantBuilder opts;

        client = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                        NULL, NULL, &error);
        assert_ok(error, "connecting");
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&opts, "{sv}", "persistent", g_variant_new_boolean(FALSE));
        r = g_dbus_connection_call_sync(client, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                        g_variant_new("(s@a(sb)a{sv})", owner, harness_functions_v(functions, NULL),
                                                      &opts),
                                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", ret_path);
        g_clear_pointer(&r, g_variant_unref);
        r = g_dbus_connection_call_sync(client, BUS_NAME, *ret_path, RES_IFACE, "Prepare", NULL, NULL,
                                        G_DBUS_CALL_FLAGS_NONE, under_wrapper() ? 120000 : 25000, NULL, &error);
        assert_ok(error, "Prepare");
        return client;
}

static gchar *runtime_listing(Harness *h) {
        g_autoptr(GDir) d = g_dir_open(h->runtime_dir, 0, NULL);
        GString *s = g_string_new(NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree gchar *p = g_build_filename(h->runtime_dir, name, NULL), *c = NULL;

                (void) g_file_get_contents(p, &c, NULL, NULL);
                g_string_append_printf(s, "%s: %s\n", name, c ? c : "");
        }
        return g_string_free(s, FALSE);
}

/* A second pci-assignd on the same state directory, started while the
 * first holds a persistent prepared and a transient prepared reservation,
 * refuses to start, names the first one's pid, and reads, writes and
 * unbinds nothing: the state file is byte-identical, the fake kernel saw
 * no write, the first daemon's reservations are as they were. */
static void test_second_instance(void) {
        Harness *h = new_harness();
        g_autoptr(GDBusConnection) client = NULL;
        g_autofree gchar *p1 = NULL, *p2 = NULL, *before = NULL, *after = NULL, *err = NULL, *pid = NULL;
        g_autofree gchar *rt_before = NULL, *rt_after = NULL, *lock_path = NULL, *lock = NULL;
        g_autoptr(GError) error = NULL;
        int status;

        harness_start_daemon(h, no_args);
        p1 = reserve(h, "vm1", mf_both, NULL);
        res_ok(h, p1, "Prepare", NULL);
        client = transient_prepared(h, "vm2", nic_only, &p2);
        assert_vfio(h, MF0);
        assert_vfio(h, NIC);
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC2, ""));   /* the runtime dir's detached store too */
        harness_fakekernel_log_clear(h);
        before = state_text(h);
        rt_before = runtime_listing(h);

        status = harness_run_second_daemon(h, no_args, &err);
        note("second instance: exit status %d, stderr:\n%s", status, err);
        g_assert_cmpint(status, !=, 0);
        pid = g_strdup_printf("Another pci-assignd is running, pid %d", (int) h->pid);
        assert_contains(err, pid);
        assert_contains(err, "Nothing was read or changed");

        after = state_text(h);
        g_assert_cmpstr(after, ==, before);
        rt_after = runtime_listing(h);
        g_assert_cmpstr(rt_after, ==, rt_before);
        assert_log_empty(h);
        lock_path = g_build_filename(h->state_dir, "pci-assignd.lock", NULL);
        g_assert_true(g_file_get_contents(lock_path, &lock, NULL, NULL));
        g_assert_cmpint(atoi(lock), ==, h->pid);

        /* the first one did not notice */
        g_assert_false(h->exited);
        assert_res_state(h, p1, "prepared");
        assert_res_state(h, p2, "prepared");
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        assert_vfio(h, NIC);
        assert_sys_driver(h, NIC2, "vfio-pci");

        /* the lock goes with the process: a daemon after it starts */
        g_assert_true(g_dbus_connection_close_sync(client, NULL, &error));
        assert_ok(error, "closing");
        harness_stop_daemon(h);
        harness_start_daemon(h, no_args);
        assert_res_state(h, p1, "prepared");
        harness_stop_daemon(h);
        harness_free(h);
}

/* A read-only daemon writes nothing, so it takes no lock: the lock file
 * of a running daemon does not keep it from starting (it then finds the
 * bus name taken, which is another refusal, with its own message). */
static void test_read_only_takes_no_lock(void) {
        Harness *h = new_harness();
        const char *const ro[] = { "--read-only", NULL };
        g_autofree gchar *err = NULL, *lock_path = NULL;
        int status;

        harness_start_daemon(h, no_args);
        status = harness_run_second_daemon(h, ro, &err);
        g_assert_cmpint(status, !=, 0);
        g_assert_null(strstr(err, "Another pci-assignd is running"));
        assert_contains(err, "org.pciassign1");
        harness_stop_daemon(h);

        /* and alone, read-only, it never creates the lock file */
        lock_path = g_build_filename(h->state_dir, "pci-assignd.lock", NULL);
        g_assert_cmpint(g_unlink(lock_path), ==, 0);
        harness_start_daemon(h, ro);
        harness_stop_daemon(h);
        g_assert_false(g_file_test(lock_path, G_FILE_TEST_EXISTS));
        harness_free(h);
}

/* SIGHUP re-reads the host usage and nothing else: the daemon lives on,
 * answers, touches no function, and says what it did. */
static void test_sighup(void) {
        Harness *h = new_harness();
        g_autofree gchar *p1 = NULL, *log = NULL, *before = NULL, *after = NULL;

        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        p1 = reserve(h, "vm1", mf_both, NULL);
        res_ok(h, p1, "Prepare", NULL);
        harness_fakekernel_log_clear(h);
        before = state_text(h);
        for (int i = 0; i < 3; i++)
                g_assert_cmpint(kill(h->pid, SIGHUP), ==, 0);
        /* a call after the signals: the loop has handled them */
        for (int i = 0; i < 50; i++) {
                g_clear_pointer(&log, g_free);
                log = harness_daemon_stderr(h);
                if (strstr(log, "SIGHUP"))
                        break;
                g_usleep(100 * 1000);
        }
        assert_res_state(h, p1, "prepared");
        g_assert_false(h->exited);
        assert_contains(log, "SIGHUP: reading the host's mounts, swaps and routes again");
        after = state_text(h);
        g_assert_cmpstr(after, ==, before);
        assert_log_empty(h);
        harness_stop_daemon(h);
        harness_free(h);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        ADD("/lifecycle/second-instance", test_second_instance);
        ADD("/lifecycle/read-only-takes-no-lock", test_read_only_takes_no_lock);
        ADD("/lifecycle/sighup", test_sighup);
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
