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

static void set_in_use(GDBusConnection *client, const char *path, gboolean on) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_sync(client, BUS_NAME, path, RES_IFACE, "SetInUse",
                                                            g_variant_new("(b)", on), NULL, G_DBUS_CALL_FLAGS_NONE,
                                                            -1, NULL, &error);
        assert_ok(error, "SetInUse");
}

static GDBusConnection *connect_client(Harness *h) {
        g_autoptr(GError) error = NULL;
        GDBusConnection *c = g_dbus_connection_new_for_address_sync(
                h->bus_address,
                G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL,
                NULL, &error);
        assert_ok(error, "connecting");
        return c;
}

/* A transient reservation of functions by client, left reserved */
static gchar *transient_reserved(GDBusConnection *client, const char *owner, const char *const *functions) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        GVariantBuilder opts;
        gchar *path = NULL;

        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&opts, "{sv}", "persistent", g_variant_new_boolean(FALSE));
        r = g_dbus_connection_call_sync(client, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                        g_variant_new("(s@a(sb)a{sv})", owner, harness_functions_v(functions, NULL),
                                                      &opts),
                                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", &path);
        return path;
}

static void close_client(GDBusConnection *c) {
        g_autoptr(GError) error = NULL;
        g_assert_true(g_dbus_connection_close_sync(c, NULL, &error));
        assert_ok(error, "closing");
}

/* The owner recorded in the state file: "NAME BUS_ID", or "" */
static gchar *stored_owner_bus(Harness *h, const char *id) {
        json_object *o = stored_reservation(h, id), *b = NULL, *n = NULL, *i = NULL;
        gchar *s;

        if (!o || !json_object_object_get_ex(o, "owner_bus", &b) || !json_object_object_get_ex(b, "name", &n) ||
            !json_object_object_get_ex(b, "bus_id", &i))
                s = g_strdup("");
        else
                s = g_strdup_printf("%s %s", json_object_get_string(n), json_object_get_string(i));
        json_object_put(o);
        return s;
}

/* The bus's ID as the bus announced it when c authenticated (the "OK
 * <guid>" of the handshake; sd_bus_get_bus_id() in the daemon) */
static gchar *bus_id(GDBusConnection *c) {
        return g_strdup(g_dbus_connection_get_guid(c));
}

/* Edits the stored reservation `id`: its owner_bus's bus_id, or (NULL)
 * no owner_bus at all, as a daemon before format 2 wrote it */
static void edit_owner_bus(Harness *h, const char *id, const char *new_bus_id) {
        g_autofree gchar *text = state_text(h);
        json_object *root = json_tokener_parse(text), *list = NULL;

        g_assert_nonnull(root);
        g_assert_true(json_object_object_get_ex(root, "reservations", &list));
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *o = json_object_array_get_idx(list, i), *v = NULL, *b = NULL;

                if (!json_object_object_get_ex(o, "id", &v) || !g_str_equal(json_object_get_string(v), id))
                        continue;
                g_assert_true(json_object_object_get_ex(o, "owner_bus", &b));
                if (new_bus_id)
                        json_object_object_add(b, "bus_id", json_object_new_string(new_bus_id));
                else
                        json_object_object_del(o, "owner_bus");
        }
        write_state(h, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
        json_object_put(root);
}

static gboolean reservation_exists(Harness *h, const char *path) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = harness_call(h, path, PROPS_IFACE, "Get", g_variant_new("(ss)", RES_IFACE, "State"),
                                             NULL, &error);
        return r != NULL;
}

/* waits until the reservation's object is gone */
static void wait_reservation_gone(Harness *h, const char *path) {
        for (int i = 0; i < (under_wrapper() ? 1200 : 300); i++) {
                if (!reservation_exists(h, path))
                        return;
                g_usleep(100 * 1000);
        }
        g_error("%s is still there", path);
}

/* A restart (SIGTERM, then a kill -9) while the owner of a transient
 * in-use reservation stays connected: the new daemon finds the owner's
 * unique name on the same bus (stored with the bus ID at Reserve), tracks
 * it again and keeps the reservation as it was; nothing is written to
 * sysfs.  When the owner then leaves, the reservation is given back and
 * deleted, as without the restarts. */
static void test_restart_live_owner(void) {
        Harness *h = new_harness();
        g_autoptr(GDBusConnection) client = NULL;
        g_autofree gchar *p = NULL, *owner = NULL, *want = NULL, *id = NULL, *log = NULL;

        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        client = transient_prepared(h, "vm2", mf_both, &p);
        set_in_use(client, p, TRUE);
        id = bus_id(client);
        want = g_strdup_printf("%s %s", g_dbus_connection_get_unique_name(client), id);
        owner = stored_owner_bus(h, "r1");
        g_assert_cmpstr(owner, ==, want);

        for (int round = 0; round < 2; round++) {
                harness_fakekernel_log_clear(h);
                if (round == 0)
                        harness_stop_daemon(h);
                else
                        g_assert_cmpint(harness_kill_daemon(h, SIGKILL), !=, 0);
                harness_start_daemon(h, no_args);
                assert_res_state(h, p, "in-use");
                assert_vfio(h, MF0);
                assert_vfio(h, MF1);
                assert_log_empty(h);
                g_clear_pointer(&owner, g_free);
                owner = stored_owner_bus(h, "r1");
                g_assert_cmpstr(owner, ==, want);
        }
        log = harness_daemon_stderr(h);
        assert_contains(log, "is still connected; keeping it");

        /* still tracked: the owner leaving gives it back */
        close_client(client);
        wait_reservation_gone(h, p);
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* Transient reservations whose owners are gone when the daemon starts
 * again: r1's owner left while it was down, r2's stored bus ID is another
 * bus's (a restarted bus reuses unique names, so the name proves
 * nothing), r4 comes from a daemon that stored no bus name; r3 is only
 * reserved.  The prepared ones are given back after READY, through the
 * job queue, and deleted, never bound again first; the reserved one holds
 * nothing and is dropped before READY. */
static void test_orphans(void) {
        Harness *h = new_harness();
        g_autoptr(GDBusConnection) c1 = NULL, c2 = NULL, c3 = NULL, c4 = NULL;
        g_autofree gchar *p1 = NULL, *p2 = NULL, *p3 = NULL, *p4 = NULL, *log = NULL, *fk = NULL, *text = NULL;
        static const char *const nic2[] = { NIC2, NULL }, *const nic3[] = { NIC3, NULL };
        const char *ready, *done;

        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        c1 = transient_prepared(h, "vm1", mf_both, &p1);
        c2 = transient_prepared(h, "vm2", nic_only, &p2);
        c3 = connect_client(h);
        p3 = transient_reserved(c3, "vm3", nic2);
        c4 = transient_prepared(h, "vm4", nic3, &p4);
        g_assert_cmpint(harness_kill_daemon(h, SIGKILL), !=, 0);
        close_client(c1);
        close_client(c3);
        edit_owner_bus(h, "r2", "0123456789abcdef0123456789abcdef");
        edit_owner_bus(h, "r4", NULL);
        harness_fakekernel_log_clear(h);

        harness_start_daemon(h, no_args);
        wait_reservation_gone(h, p1);
        wait_reservation_gone(h, p2);
        wait_reservation_gone(h, p4);
        g_assert_false(reservation_exists(h, p3));
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        assert_host(h, NIC, "e1000e");
        assert_host(h, NIC3, "e1000e");
        log = harness_daemon_stderr(h);
        note("daemon log:\n%s", log);
        assert_contains(log, "left the bus; giving it back after start-up");
        assert_contains(log, "the bus was restarted");
        assert_contains(log, "no bus name of its owner is stored");
        assert_contains(log, "Dropping transient reservation r3");
        /* the decisions before READY, the giving back after it */
        ready = g_strrstr(log, "Ready:");
        g_assert_nonnull(ready);
        g_assert_true(strstr(log, "Dropping transient reservation r3") < ready);
        done = strstr(log, "Reservation r1 of \"vm1\" released.");
        g_assert_nonnull(done);
        g_assert_true(done > ready);
        fk = harness_fakekernel_log(h);
        note("the fake kernel was asked:\n%s", fk);
        g_assert_null(strstr(fk, "\"vfio-pci\""));   /* nothing bound to vfio-pci again */
        text = state_text(h);
        g_assert_null(strstr(text, "\"owner\": \"vm"));
        close_client(c2);
        close_client(c4);
        harness_stop_daemon(h);
        harness_free(h);
}

/* waits until the file's text contains `what` */
static gchar *wait_file_contains(const char *path, const char *what) {
        for (int i = 0; i < (under_wrapper() ? 1200 : 300); i++) {
                gchar *text = NULL;

                if (g_file_get_contents(path, &text, NULL, NULL) && strstr(text, what))
                        return text;
                g_free(text);
                g_usleep(100 * 1000);
        }
        g_error("%s never said \"%s\"", path, what);
}

/* `pci-assignctl reserve --transient` holds its reservation across a
 * daemon restart: it waits for the name to come back, finds the
 * reservation still there (the daemon tracked its connection again) and
 * goes on holding it; SIGINT then releases it as before. */
static void test_ctl_holder_survives_restart(void) {
        Harness *h = new_harness();
        const char *const args[] = { "reserve", "--transient", "vm-ctl", NIC, NULL };
        g_autofree gchar *out = g_build_filename(h->tmpdir, "ctl.out", NULL), *text = NULL;
        g_autoptr(GSubprocess) ctl = NULL;
        g_autoptr(GError) error = NULL;

        harness_start_daemon(h, no_args);
        ctl = harness_spawn_ctl(h, args, out);
        g_free(wait_file_contains(out, "Holding transient reservation r1"));
        res_ok(h, "/org/pciassign1/reservation/r1", "Prepare", NULL);

        harness_fakekernel_log_clear(h);
        harness_stop_daemon(h);
        g_free(wait_file_contains(out, "left the bus; waiting up to 60 s"));
        harness_start_daemon(h, no_args);
        text = wait_file_contains(out, "is back; still holding transient reservation r1 (prepared).");
        note("pci-assignctl said:\n%s", text);
        g_assert_true(reservation_exists(h, "/org/pciassign1/reservation/r1"));
        assert_vfio(h, NIC);
        assert_log_empty(h);

        /* interrupted, it lets go: given back and deleted */
        g_subprocess_send_signal(ctl, SIGINT);
        g_assert_true(g_subprocess_wait_check(ctl, NULL, &error));
        assert_ok(error, "pci-assignctl's exit");
        wait_reservation_gone(h, "/org/pciassign1/reservation/r1");
        assert_host(h, NIC, "e1000e");

        /* a daemon that comes back without it: the holder says so, exit 1 */
        ctl = (g_object_unref(ctl), harness_spawn_ctl(h, args, out));
        g_free(wait_file_contains(out, "Holding transient reservation r2"));
        g_assert_cmpint(harness_kill_daemon(h, SIGKILL), !=, 0);
        g_free(wait_file_contains(out, "left the bus"));
        {
                g_autofree gchar *state = g_build_filename(h->state_dir, "state.json", NULL);
                g_assert_cmpint(g_unlink(state), ==, 0);
        }
        harness_start_daemon(h, no_args);
        g_clear_pointer(&text, g_free);
        text = wait_file_contains(out, "is back, but transient reservation r2 is gone");
        g_assert_false(g_subprocess_wait_check(ctl, NULL, NULL));
        g_assert_cmpint(g_subprocess_get_exit_status(ctl), ==, 1);
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
        ADD("/lifecycle/restart-keeps-live-owner", test_restart_live_owner);
        ADD("/lifecycle/orphans-given-back-after-ready", test_orphans);
        ADD("/lifecycle/ctl-holder-survives-restart", test_ctl_holder_survives_restart);
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
