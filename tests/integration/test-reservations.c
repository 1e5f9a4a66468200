/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verdicts and reservations through the real daemon on a private bus,
 * against the recorded q35 testbed (topology: tests/data/testbeds/
 * q35-vm.truth.json).  The test runs as root, so polkit is not asked. */
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <signal.h>
#include <string.h>

#include "daemon-harness.h"

#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define RES_IFACE "org.pciassign1.Reservation"

static const char *const no_args[] = { NULL };

static GVariant *opts_v(gboolean complete_group, int persistent) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
        if (complete_group)
                g_variant_builder_add(&b, "{sv}", "complete-group", g_variant_new_boolean(TRUE));
        if (persistent >= 0)
                g_variant_builder_add(&b, "{sv}", "persistent", g_variant_new_boolean(persistent));
        return g_variant_builder_end(&b);
}

static gchar *reserve(Harness *h, const char *owner, const char *const *assigned, const char *const *unassigned,
                      GVariant *opts, GError **error) {
        g_autoptr(GVariant) r = NULL;
        gchar *path = NULL;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                         g_variant_new("(s@a(sb)@a{sv})", owner, harness_functions_v(assigned, unassigned),
                                       opts ?: opts_v(FALSE, -1)),
                         G_VARIANT_TYPE("(o)"), error);
        if (r)
                g_variant_get(r, "(o)", &path);
        return path;
}

static void assert_remote_error(GError *error, const char *name) {
        g_autofree gchar *remote = NULL;

        g_assert_nonnull(error);
        remote = g_dbus_error_get_remote_error(error);
        if (g_strcmp0(remote, name) != 0)
                g_error("expected %s, got %s: %s", name, remote, error->message);
}

static gchar *state_file(Harness *h) {
        g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
        gchar *c = NULL;

        if (!g_file_get_contents(p, &c, NULL, NULL))
                return g_strdup("");
        return c;
}

static gchar *device_prop_s(Harness *h, const char *addr, const char *prop) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL, v = NULL;
        const char *path;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetDevice", g_variant_new("(s)", addr),
                         G_VARIANT_TYPE("(o)"), &error);
        g_assert_no_error(error);
        g_variant_get(r, "(&o)", &path);
        v = harness_call(h, path, "org.freedesktop.DBus.Properties", "Get",
                         g_variant_new("(ss)", "org.pciassign1.Device", prop), G_VARIANT_TYPE("(v)"), &error);
        g_assert_no_error(error);
        {
                g_autoptr(GVariant) inner = NULL;
                g_variant_get(v, "(v)", &inner);
                if (g_variant_is_of_type(inner, G_VARIANT_TYPE_BOOLEAN))
                        return g_strdup(g_variant_get_boolean(inner) ? "true" : "false");
                if (!g_variant_is_of_type(inner, G_VARIANT_TYPE_STRING) &&
                    !g_variant_is_of_type(inner, G_VARIANT_TYPE_OBJECT_PATH))
                        return g_variant_print(inner, FALSE);
                return g_variant_dup_string(inner, NULL);
        }
}

typedef struct {
        GPtrArray *seen;   /* "Signal:arg0" */
} SignalLog;

static void on_signal(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                      const gchar *signal, GVariant *params, gpointer user_data) {
        SignalLog *l = user_data;
        const char *arg0 = NULL;

        if (g_variant_n_children(params) > 0 && g_variant_is_of_type(g_variant_get_child_value(params, 0), G_VARIANT_TYPE_STRING))
                g_variant_get_child(params, 0, "&s", &arg0);
        g_ptr_array_add(l->seen, g_strdup_printf("%s:%s", signal, arg0 ?: ""));
}

static gboolean log_has(SignalLog *l, const char *what) {
        for (guint i = 0; i < l->seen->len; i++)
                if (g_str_equal(l->seen->pdata[i], what))
                        return TRUE;
        return FALSE;
}

static void wait_signal(SignalLog *l, const char *what) {
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;

        while (!log_has(l, what)) {
                if (g_get_monotonic_time() > deadline)
                        g_error("signal %s not received", what);
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
}

static void test_reserve_list_release(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        SignalLog log = { g_ptr_array_new_with_free_func(g_free) };
        const char *const mf[] = { "0000:0b:00.0", NULL };
        const char *const mf_un[] = { "0000:0b:00.1", NULL };
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) list = NULL, props = NULL, funcs = NULL, groups = NULL;
        g_autofree gchar *path = NULL, *s = NULL;
        const char *id, *owner, *state, *opath, *str;
        guint sub;
        gboolean b;
        guint32 u;
        guint64 t;
        GVariantIter *it;

        harness_start_daemon(h, no_args);
        sub = g_dbus_connection_signal_subscribe(h->conn, NULL, MANAGER_IFACE, NULL, MANAGER_PATH, NULL,
                                                 G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &log, NULL);

        path = reserve(h, "vm1", mf, mf_un, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(path, ==, "/org/pciassign1/reservation/r1");
        wait_signal(&log, "ReservationAdded:r1");

        list = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListReservations", NULL,
                            G_VARIANT_TYPE("(a(ssso))"), &error);
        g_assert_no_error(error);
        g_variant_get(list, "(a(ssso))", &it);
        g_assert_true(g_variant_iter_next(it, "(&s&s&s&o)", &id, &owner, &state, &opath));
        g_assert_cmpstr(id, ==, "r1");
        g_assert_cmpstr(owner, ==, "vm1");
        g_assert_cmpstr(state, ==, "reserved");
        g_assert_cmpstr(opath, ==, path);
        g_assert_false(g_variant_iter_next(it, "(&s&s&s&o)", &id, &owner, &state, &opath));
        g_variant_iter_free(it);

        props = harness_get_all(h, path, RES_IFACE);
        g_assert_true(g_variant_lookup(props, "Id", "&s", &str));
        g_assert_cmpstr(str, ==, "r1");
        g_assert_true(g_variant_lookup(props, "Owner", "&s", &str));
        g_assert_cmpstr(str, ==, "vm1");
        g_assert_true(g_variant_lookup(props, "Persistent", "b", &b));
        g_assert_true(b);
        g_assert_true(g_variant_lookup(props, "Driver", "&s", &str));
        g_assert_cmpstr(str, ==, "vfio-pci");
        g_assert_true(g_variant_lookup(props, "State", "&s", &str));
        g_assert_cmpstr(str, ==, "reserved");
        g_assert_true(g_variant_lookup(props, "OwnerUID", "u", &u));
        g_assert_cmpuint(u, ==, getuid());
        g_assert_true(g_variant_lookup(props, "CreatedUSec", "t", &t));
        g_assert_cmpuint(t, >, 0);
        g_assert_true(g_variant_lookup(props, "LastError", "&s", &str));
        g_assert_cmpstr(str, ==, "");
        funcs = g_variant_lookup_value(props, "Functions", G_VARIANT_TYPE("a(sb)"));
        g_assert_cmpuint(g_variant_n_children(funcs), ==, 2);
        {
                g_autofree gchar *dump = g_variant_print(funcs, FALSE);
                g_assert_cmpstr(dump, ==, "[('0000:0b:00.0', true), ('0000:0b:00.1', false)]");
        }
        groups = g_variant_lookup_value(props, "Groups", G_VARIANT_TYPE("au"));
        {
                g_autofree gchar *dump = g_variant_print(groups, FALSE);
                g_assert_cmpstr(dump, ==, "[22]");
        }

        /* devices and group point at it */
        s = device_prop_s(h, "0000:0b:00.0", "Reservation");
        g_assert_cmpstr(s, ==, path);
        g_free(s);
        s = device_prop_s(h, "0000:0b:00.0", "Assigned");
        g_assert_cmpstr(s, ==, "true");
        g_free(s);
        s = device_prop_s(h, "0000:0b:00.1", "Assigned");
        g_assert_cmpstr(s, ==, "false");
        g_free(s);
        s = device_prop_s(h, "0000:0b:00.0", "HostDriver");
        g_assert_cmpstr(s, ==, "e1000e");
        g_free(s);
        /* Device.Verdict is for owner "": someone else's reservation */
        s = device_prop_s(h, "0000:0b:00.0", "Verdict");
        g_assert_cmpstr(s, ==, "not-assignable");
        g_clear_pointer(&s, g_free);

        /* GetReservation */
        {
                g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetReservation",
                                                     g_variant_new("(s)", "r1"), G_VARIANT_TYPE("(o)"), &error);
                g_assert_no_error(error);
                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetReservation",
                                 g_variant_new("(s)", "../r1"), G_VARIANT_TYPE("(o)"), &error);
                g_assert_null(r);
                assert_remote_error(error, "org.pciassign1.Error.NoSuchReservation");
                g_clear_error(&error);
        }

        /* Release */
        {
                g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, "Release", NULL, NULL, &error);
                g_assert_no_error(error);
        }
        wait_signal(&log, "ReservationRemoved:r1");
        s = device_prop_s(h, "0000:0b:00.0", "Reservation");
        g_assert_cmpstr(s, ==, "/");
        g_clear_pointer(&s, g_free);
        {
                g_autoptr(GVariant) l2 = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListReservations", NULL,
                                                      G_VARIANT_TYPE("(a(ssso))"), &error);
                g_assert_no_error(error);
                g_assert_cmpuint(g_variant_n_children(g_variant_get_child_value(l2, 0)), ==, 0);
        }
        /* the next id is new: ids are never reused */
        g_free(path);
        path = reserve(h, "vm1", mf, mf_un, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(path, ==, "/org/pciassign1/reservation/r2");

        g_dbus_connection_signal_unsubscribe(h->conn, sub);
        g_ptr_array_free(log.seen, TRUE);
        harness_free(h);
}

static void test_group_rules(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *path = NULL, *s = NULL;
        const char *const mf0[] = { "0000:0b:00.0", NULL };
        const char *const e1000[] = { "0000:05:01.0", NULL };
        const char *const bridge[] = { "0000:04:00.0", "0000:05:01.0", "0000:05:02.0", NULL };

        harness_start_daemon(h, no_args);

        path = reserve(h, "vm1", mf0, NULL, NULL, &error);
        g_assert_null(path);
        assert_remote_error(error, "org.pciassign1.Error.GroupIncomplete");
        g_assert_nonnull(strstr(error->message, "0000:0b:00.1"));
        g_clear_error(&error);

        path = reserve(h, "vm1", mf0, NULL, opts_v(TRUE, -1), &error);
        g_assert_no_error(error);
        s = device_prop_s(h, "0000:0b:00.1", "Assigned");
        g_assert_cmpstr(s, ==, "false");
        g_clear_pointer(&s, g_free);
        s = device_prop_s(h, "0000:0b:00.1", "Reservation");
        g_assert_cmpstr(s, ==, path);
        g_clear_pointer(&s, g_free);
        g_clear_pointer(&path, g_free);

        /* the PCIe-to-PCI bridge group: the bridge stays out */
        path = reserve(h, "vm2", e1000, NULL, opts_v(TRUE, -1), &error);
        g_assert_no_error(error);
        s = device_prop_s(h, "0000:05:02.0", "Reservation");
        g_assert_cmpstr(s, ==, path);
        g_clear_pointer(&s, g_free);
        s = device_prop_s(h, "0000:04:00.0", "Reservation");
        g_assert_cmpstr(s, ==, "/");
        g_clear_pointer(&s, g_free);
        g_clear_pointer(&path, g_free);

        /* listing the bridge itself is refused */
        path = reserve(h, "vm3", bridge, NULL, NULL, &error);
        g_assert_null(path);
        g_assert_nonnull(error);
        g_clear_error(&error);
        harness_free(h);
}

static void test_conflicts_and_check(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *path = NULL;
        const char *const nic[] = { "0000:02:00.0", NULL };
        const char *const rp[] = { "0000:00:06.0", NULL };
        const char *const hb[] = { "0000:00:00.0", NULL };

        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic, NULL, NULL, &error);
        g_assert_no_error(error);
        g_clear_pointer(&path, g_free);

        path = reserve(h, "vm2", nic, NULL, NULL, &error);
        g_assert_null(path);
        assert_remote_error(error, "org.pciassign1.Error.AlreadyReserved");
        g_assert_nonnull(strstr(error->message, "vm1"));
        g_clear_error(&error);
        /* the same owner cannot take it twice either: one function, one reservation */
        path = reserve(h, "vm1", nic, NULL, NULL, &error);
        assert_remote_error(error, "org.pciassign1.Error.AlreadyReserved");
        g_clear_error(&error);

        path = reserve(h, "vm2", rp, NULL, NULL, &error);
        assert_remote_error(error, "org.pciassign1.Error.NotAssignable");
        g_assert_nonnull(strstr(error->message, "0000:00:06.0"));
        g_clear_error(&error);
        path = reserve(h, "vm2", hb, NULL, NULL, &error);
        assert_remote_error(error, "org.pciassign1.Error.NotAssignable");
        g_clear_error(&error);

        /* CheckAssignable: vm2 sees a conflict, vm1 does not */
        {
                const char *addrs[] = { "0000:02:00.0", "0000:00:06.0", "0000:01:00.1", "0000:42:00.0", NULL };
                g_autoptr(GVariant) r = NULL;
                g_autofree gchar *dump = NULL;

                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                 g_variant_new("(^ass)", addrs, "vm2"), G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
                g_assert_no_error(error);
                dump = g_variant_print(r, FALSE);
                g_test_message("%s", dump);
                g_assert_nonnull(strstr(dump, "('0000:02:00.0', 'not-assignable', [('reserved-by-other'"));
                g_assert_nonnull(strstr(dump, "('0000:00:06.0', 'not-assignable', [('bridge'"));
                g_assert_nonnull(strstr(dump, "('0000:42:00.0', 'not-assignable', [('device-missing'"));
                g_assert_nonnull(strstr(dump, "('0000:01:00.1', 'assignable'"));
                g_clear_pointer(&r, g_variant_unref);
                g_clear_pointer(&dump, g_free);

                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                 g_variant_new("(^ass)", addrs, "vm1"), G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
                g_assert_no_error(error);
                dump = g_variant_print(r, FALSE);
                g_assert_null(strstr(dump, "reserved-by-other"));
                g_assert_nonnull(strstr(dump, "('0000:02:00.0', 'assignable-with-warnings', [('host-driver-bound'"));
                g_clear_pointer(&r, g_variant_unref);

                /* one bad address fails the call, naming it */
                {
                        const char *bad[] = { "0000:02:00.0", "../../etc", NULL };
                        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                         g_variant_new("(^ass)", bad, ""), G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
                        g_assert_null(r);
                        assert_remote_error(error, "org.pciassign1.Error.InvalidAddress");
                        g_clear_error(&error);
                }
        }

        /* ListDevices carries verdicts and reservation ids */
        {
                g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL,
                                                     G_VARIANT_TYPE("(a(ssisso))"), &error);
                g_autofree gchar *dump = NULL;

                g_assert_no_error(error);
                dump = g_variant_print(r, FALSE);
                g_assert_nonnull(strstr(dump, "('0000:02:00.0', 'e1000e', 16, 'not-assignable', 'r1',"));
                g_assert_nonnull(strstr(dump, "('0000:01:00.1', '', 23, 'assignable', '',"));
        }
        harness_free(h);
}

static void test_bad_input(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *before = NULL, *after = NULL;
        const char *const nic[] = { "0000:02:00.0", NULL };
        const char *const dup[] = { "0000:02:00.0", "0000:02:00.0", NULL };
        g_autofree gchar *long_owner = g_strnfill(300, 'x');
        const char *const bad_owners[] = { "", "a\nb", "\x7f", "\xc0\xaf", "\xc2\x85", long_owner };
        GVariant *r;

        harness_start_daemon(h, no_args);
        {
                /* something stored, so that "unchanged" means something */
                g_autofree gchar *p = reserve(h, "keep", (const char *const[]) { "0000:09:00.0", NULL }, NULL, NULL, &error);
                g_assert_no_error(error);
        }
        before = state_file(h);
        g_assert_nonnull(strstr(before, "\"keep\""));

        for (size_t i = 0; i < G_N_ELEMENTS(bad_owners); i++) {
                if (!g_utf8_validate(bad_owners[i], -1, NULL))
                        continue; /* GDBus refuses to send it: the bus would too */
                g_assert_null(reserve(h, bad_owners[i], nic, NULL, NULL, &error));
                assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
                g_clear_error(&error);
        }
        /* unknown option, wrong type */
        {
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&b, "{sv}", "persistant", g_variant_new_boolean(TRUE));
                g_assert_null(reserve(h, "vm1", nic, NULL, g_variant_builder_end(&b), &error));
                assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
                g_assert_nonnull(strstr(error->message, "persistant"));
                g_clear_error(&error);

                g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&b, "{sv}", "persistent", g_variant_new_string("yes"));
                g_assert_null(reserve(h, "vm1", nic, NULL, g_variant_builder_end(&b), &error));
                assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
                g_clear_error(&error);

                g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&b, "{sv}", "driver", g_variant_new_string("../e1000e"));
                g_assert_null(reserve(h, "vm1", nic, NULL, g_variant_builder_end(&b), &error));
                assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
                g_clear_error(&error);

                g_variant_builder_init(&b, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&b, "{sv}", "driver", g_variant_new_string("e1000e"));
                g_assert_null(reserve(h, "vm1", nic, NULL, g_variant_builder_end(&b), &error));
                assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
                g_clear_error(&error);
        }
        /* empty list, duplicates, invalid and unknown addresses */
        g_assert_null(reserve(h, "vm1", NULL, NULL, NULL, &error));
        assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
        g_clear_error(&error);
        g_assert_null(reserve(h, "vm1", dup, NULL, NULL, &error));
        assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
        g_clear_error(&error);
        g_assert_null(reserve(h, "vm1", (const char *const[]) { "0000:02:00.0/..", NULL }, NULL, NULL, &error));
        assert_remote_error(error, "org.pciassign1.Error.InvalidAddress");
        g_clear_error(&error);
        g_assert_null(reserve(h, "vm1", (const char *const[]) { "0000:42:00.0", NULL }, NULL, NULL, &error));
        assert_remote_error(error, "org.pciassign1.Error.NoSuchDevice");
        g_clear_error(&error);
        /* 10k entries */
        {
                GPtrArray *many = g_ptr_array_new_with_free_func(g_free);
                for (guint i = 0; i < 10000; i++)
                        g_ptr_array_add(many, g_strdup_printf("%04x:%02x:%02x.%x", 1 + i / 8192, (i / 256) % 32 + 0x80,
                                                              (i / 8) % 32, i % 8));
                g_ptr_array_add(many, NULL);
                g_assert_null(reserve(h, "vm1", (const char *const *) many->pdata, NULL, NULL, &error));
                assert_remote_error(error, "org.pciassign1.Error.NoSuchDevice");
                g_clear_error(&error);
                g_ptr_array_free(many, TRUE);
        }
        /* wrong signature */
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "Reserve", g_variant_new("(sas)", "vm1", NULL), NULL, &error);
        g_assert_null(r);
        assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
        g_clear_error(&error);

        after = state_file(h);
        g_assert_cmpstr(before, ==, after);
        harness_free(h);
}

static void test_transient(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        SignalLog log = { g_ptr_array_new_with_free_func(g_free) };
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) c2 = NULL;
        g_autoptr(GVariant) r = NULL;
        const char *const nic[] = { "0000:02:00.0", NULL };
        guint sub;

        harness_start_daemon(h, no_args);
        sub = g_dbus_connection_signal_subscribe(h->conn, NULL, MANAGER_IFACE, NULL, MANAGER_PATH, NULL,
                                                 G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &log, NULL);
        c2 = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                    G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                    NULL, NULL, &error);
        g_assert_no_error(error);
        r = g_dbus_connection_call_sync(c2, "org.pciassign1", MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                        g_variant_new("(s@a(sb)@a{sv})", "vm-transient", harness_functions_v(nic, NULL),
                                                      opts_v(FALSE, FALSE)),
                                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        g_assert_no_error(error);
        wait_signal(&log, "ReservationAdded:r1");
        {
                g_autofree gchar *s = device_prop_s(h, "0000:02:00.0", "Reservation");
                g_assert_cmpstr(s, ==, "/org/pciassign1/reservation/r1");
        }
        /* the owner goes away: so does its reservation */
        g_dbus_connection_close_sync(c2, NULL, &error);
        g_assert_no_error(error);
        wait_signal(&log, "ReservationRemoved:r1");
        {
                g_autofree gchar *s = device_prop_s(h, "0000:02:00.0", "Reservation");
                g_assert_cmpstr(s, ==, "/");
        }
        g_dbus_connection_signal_unsubscribe(h->conn, sub);
        g_ptr_array_free(log.seen, TRUE);
        harness_free(h);
}

static void test_persistence(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *path = NULL, *s = NULL, *content = NULL;
        const char *const nic[] = { "0000:02:00.0", NULL };
        const char *const vf[] = { "0000:01:00.1", NULL };

        harness_start_daemon(h, no_args);
        path = reserve(h, "guest-a", nic, NULL, NULL, &error);
        g_assert_no_error(error);
        g_free(path);
        path = reserve(h, "guest-b", vf, NULL, NULL, &error);
        g_assert_no_error(error);
        harness_stop_daemon(h);

        content = state_file(h);
        g_assert_nonnull(strstr(content, "\"format\""));
        g_assert_nonnull(strstr(content, "guest-a"));

        harness_start_daemon(h, no_args);
        s = device_prop_s(h, "0000:02:00.0", "Reservation");
        g_assert_cmpstr(s, ==, "/org/pciassign1/reservation/r1");
        g_clear_pointer(&s, g_free);
        s = device_prop_s(h, "0000:01:00.1", "Reservation");
        g_assert_cmpstr(s, ==, "/org/pciassign1/reservation/r2");
        g_clear_pointer(&s, g_free);
        /* ids continue after a restart */
        g_free(path);
        path = reserve(h, "guest-c", (const char *const[]) { "0000:01:00.2", NULL }, NULL, NULL, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(path, ==, "/org/pciassign1/reservation/r3");
        harness_free(h);
}

static void test_corrupt_store(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
        const char *garbage = "{\"format\": 1, \"next_id\": 3, \"reservations\": [ {\"id\": \"r1\", \"own";
        g_autoptr(GDir) dir = NULL;
        const char *name;
        gboolean moved = FALSE;

        g_assert_true(g_file_set_contents(p, garbage, -1, NULL));
        harness_start_daemon(h, no_args);
        dir = g_dir_open(h->state_dir, 0, NULL);
        while ((name = g_dir_read_name(dir))) {
                if (g_str_has_prefix(name, "state.json.corrupt-")) {
                        g_autofree gchar *mp = g_build_filename(h->state_dir, name, NULL);
                        g_autofree gchar *c = NULL;
                        g_assert_true(g_file_get_contents(mp, &c, NULL, NULL));
                        g_assert_cmpstr(c, ==, garbage);
                        moved = TRUE;
                }
        }
        g_assert_true(moved);
        harness_free(h);
}

static void test_newer_format_refused(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
        const char *future = "{\"format\": 99, \"next_id\": 1, \"reservations\": [], \"hologram\": true}\n";
        g_autofree gchar *c = NULL;

        g_assert_true(g_file_set_contents(p, future, -1, NULL));
        g_assert_cmpint(harness_start_daemon_expect_failure(h, no_args), !=, 0);
        g_assert_true(g_file_get_contents(p, &c, NULL, NULL));
        g_assert_cmpstr(c, ==, future);
        harness_free(h);
}

static void test_absent_function(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
        const char *stored =
                "{ \"format\": 1, \"next_id\": 2, \"reservations\": [ { \"id\": \"r1\", \"owner\": \"gone-guest\","
                " \"owner_uid\": 0, \"persistent\": true, \"driver\": \"vfio-pci\", \"state\": \"reserved\","
                " \"created_usec\": 1700000000000000, \"last_error\": null, \"functions\": ["
                " { \"address\": \"0000:42:00.0\", \"assigned\": true, \"host_driver\": \"igb\","
                " \"vendor_id\": 32902, \"device_id\": 5427 } ] } ] }";
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *s = NULL, *dump = NULL;

        g_assert_true(g_file_set_contents(p, stored, -1, NULL));
        harness_start_daemon(h, no_args);
        s = device_prop_s(h, "0000:42:00.0", "Present");
        g_assert_cmpstr(s, ==, "false");
        g_clear_pointer(&s, g_free);
        s = device_prop_s(h, "0000:42:00.0", "HostDriver");
        g_assert_cmpstr(s, ==, "igb");
        g_clear_pointer(&s, g_free);
        s = device_prop_s(h, "0000:42:00.0", "Verdict");
        g_assert_cmpstr(s, ==, "not-assignable");
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL, G_VARIANT_TYPE("(a(ssisso))"), &error);
        g_assert_no_error(error);
        dump = g_variant_print(r, FALSE);
        g_assert_nonnull(strstr(dump, "('0000:42:00.0', '', -1, 'not-assignable', 'r1',"));
        harness_free(h);
}

static void test_read_only(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        const char *const args[] = { "--read-only", NULL };
        g_autoptr(GError) error = NULL;
        const char *const nic[] = { "0000:02:00.0", NULL };

        harness_start_daemon(h, args);
        g_assert_null(reserve(h, "vm1", nic, NULL, NULL, &error));
        assert_remote_error(error, "org.pciassign1.Error.ReadOnly");
        {
                g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
                g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
        }
        harness_free(h);
}

static void test_placement(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *path = NULL;
        const char *const mf[] = { "0000:0b:00.0", "0000:0b:00.1", NULL };
        const char *json;

        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf, NULL, NULL, &error);
        g_assert_no_error(error);
        for (const char *const *machine = (const char *const[]) { "q35", "pseries", "virt", NULL }; *machine; machine++) {
                g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, "GetPlacement",
                                                     g_variant_new("(s)", *machine), G_VARIANT_TYPE("(s)"), &error);
                json_object *o;

                g_assert_no_error(error);
                g_variant_get(r, "(&s)", &json);
                o = json_tokener_parse(json);
                g_assert_nonnull(o);
                g_assert_nonnull(strstr(json, "0000:0b:00.1"));
                json_object_put(o);
        }
        {
                g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, "GetPlacement",
                                                     g_variant_new("(s)", "s390"), G_VARIANT_TYPE("(s)"), &error);
                g_assert_null(r);
                assert_remote_error(error, "org.freedesktop.DBus.Error.InvalidArgs");
        }
        harness_free(h);
}

static void test_cycles(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        const char *const mf[] = { "0000:0b:00.0", "0000:0b:00.1", NULL };
        guint n = 1000;

        /* under valgrind (--setup valgrind) the daemon's leak check at
         * exit covers the 1000 cycles */
        harness_start_daemon(h, no_args);
        for (guint i = 0; i < n; i++) {
                g_autofree gchar *path = reserve(h, "cycler", mf, NULL, NULL, &error);
                g_autoptr(GVariant) r = NULL;

                g_assert_no_error(error);
                r = harness_call(h, path, RES_IFACE, "Release", NULL, NULL, &error);
                g_assert_no_error(error);
        }
        harness_stop_daemon(h);
        harness_free(h);
}

/* The host's root filesystem lives on a disk behind the AHCI controller
 * 0000:00:1f.2 and its default route goes through the e1000e at
 * 0000:00:02.0: both must be refused (in-use-by-host), read from a
 * mountinfo and route table the daemon is pointed at. */
static void test_in_use_by_host(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *procdir = g_build_filename(h->tmpdir, "proc", NULL);
        g_autofree gchar *mi = g_build_filename(procdir, "mountinfo", NULL);
        g_autofree gchar *rt = g_build_filename(procdir, "route", NULL);
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *dump = NULL;
        const char *addrs[] = { "0000:00:1f.2", "0000:00:02.0", "0000:00:03.0", NULL };

        harness_add_devices(h,
                "P: /devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda\n"
                "E: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/sda\nA: dev=8:0\n\n"
                "P: /devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1\n"
                "E: SUBSYSTEM=block\nE: DEVTYPE=partition\nE: DEVNAME=/dev/sda1\nA: dev=8:1\nA: partition=1\n\n"
                "P: /devices/pci0000:00/0000:00:02.0/net/enp0s2\n"
                "E: SUBSYSTEM=net\nE: INTERFACE=enp0s2\nA: address=52:54:00:00:00:02\n"
                "L: device=../../../0000:00:02.0\n");
        g_assert_cmpint(g_mkdir(procdir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(mi,
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                "23 22 0:21 / /proc rw,nosuid - proc proc rw\n", -1, NULL));
        g_assert_true(g_file_set_contents(rt,
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                "enp0s2\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", -1, NULL));
        harness_set_env(h, "PCI_ASSIGND_PROC_DIR", procdir);

        harness_start_daemon(h, no_args);
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable", g_variant_new("(^ass)", addrs, ""),
                         G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
        g_assert_no_error(error);
        dump = g_variant_print(r, FALSE);
        g_test_message("%s", dump);
        g_assert_nonnull(strstr(dump, "('0000:00:1f.2', 'not-assignable', [('in-use-by-host'"));
        g_assert_nonnull(strstr(dump, "/dev/sda1"));
        g_assert_nonnull(strstr(dump, "('0000:00:02.0', 'not-assignable', [('in-use-by-host'"));
        g_assert_nonnull(strstr(dump, "enp0s2"));
        g_assert_null(strstr(dump, "('0000:00:03.0', 'not-assignable'"));

        /* and Reserve refuses it */
        g_assert_null(reserve(h, "vm1", (const char *const[]) { "0000:00:02.0", NULL }, NULL, NULL, &error));
        assert_remote_error(error, "org.pciassign1.Error.NotAssignable");
        g_assert_nonnull(strstr(error->message, "enp0s2"));
        g_clear_error(&error);

        /* 00:1f.3 shares group 14 with the root disk's controller: it is
         * detached with it, so CheckAssignable, Device.Verdict and Reserve
         * all refuse it, naming the peer */
        {
                const char *peer[] = { "0000:00:1f.3", NULL };
                g_autoptr(GVariant) r2 = NULL;
                g_autofree gchar *dump2 = NULL, *verdict = NULL;

                r2 = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignableWithSeverity",
                                  g_variant_new("(^ass)", peer, ""), G_VARIANT_TYPE("(a(ssa(sss)))"), &error);
                g_assert_no_error(error);
                dump2 = g_variant_print(r2, FALSE);
                g_test_message("%s", dump2);
                g_assert_nonnull(strstr(dump2, "('0000:00:1f.3', 'not-assignable', [('group-peer-in-use-by-host', "));
                g_assert_nonnull(strstr(dump2, "0000:00:1f.2 (mounted filesystem / from /dev/sda1"));
                g_assert_nonnull(strstr(dump2, "'blocking')"));
                g_assert_nonnull(strstr(dump2, "('group-shared', "));
                g_assert_nonnull(strstr(dump2, "'warning')"));

                verdict = device_prop_s(h, "0000:00:1f.3", "Verdict");
                g_assert_cmpstr(verdict, ==, "not-assignable");
                g_clear_pointer(&dump2, g_free);
                dump2 = device_prop_s(h, "0000:00:1f.3", "ReasonsWithSeverity");
                g_assert_nonnull(strstr(dump2, "('group-peer-in-use-by-host', "));
                g_assert_nonnull(strstr(dump2, "'blocking')"));

                g_assert_null(reserve(h, "vm1", (const char *const[]) { "0000:00:1f.0", "0000:00:1f.3", NULL },
                                      NULL, NULL, &error));
                assert_remote_error(error, "org.pciassign1.Error.NotAssignable");
                g_assert_nonnull(strstr(error->message, "0000:00:1f.2"));
                g_clear_error(&error);
        }

        /* pci-assignctl check and show print each reason's severity */
        {
                const char *const a[] = { "check", "0000:00:1f.3", NULL };
                const char *const b[] = { "show", "0000:00:1f.2", NULL };
                g_autofree gchar *out = NULL, *err = NULL;

                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "  group-peer-in-use-by-host (blocking): "));
                g_assert_nonnull(strstr(out, "  group-shared (warning): "));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
                g_assert_cmpint(harness_run_ctl(h, b, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "in-use-by-host (blocking): "));
                g_assert_null(strstr(out, "ReasonsWithSeverity"));
        }
        harness_free(h);
}

/* The verdict of addr for nobody, with its reason codes: "VERDICT code..." */
static gchar *check_codes(Harness *h, const char *addr) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        const char *addrs[] = { addr, NULL };
        g_autoptr(GVariantIter) it = NULL, reasons = NULL;
        GString *out = g_string_new(NULL);
        const char *a, *verdict, *code, *text;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable", g_variant_new("(^ass)", addrs, ""),
                         G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
        g_assert_no_error(error);
        g_variant_get(r, "(a(ssa(ss)))", &it);
        g_assert_true(g_variant_iter_next(it, "(&s&sa(ss))", &a, &verdict, &reasons));
        g_string_append(out, verdict);
        while (g_variant_iter_next(reasons, "(&s&s)", &code, &text))
                g_string_append_printf(out, " %s", code);
        return g_string_free(out, FALSE);
}

/* Waits (up to 5 s) for addr's verdict and codes to be `want`. */
static void wait_codes(Harness *h, const char *addr, const char *want) {
        g_autofree gchar *got = NULL;

        for (int i = 0; i < 50; i++) {
                g_clear_pointer(&got, g_free);
                got = check_codes(h, addr);
                if (g_str_equal(got, want))
                        return;
                g_usleep(100 * 1000);
        }
        g_assert_cmpstr(got, ==, want);
}

/* Fail closed at a refresh too: the mount table turns unreadable while the
 * daemon runs (SIGHUP makes it read again), and back. */
static void test_host_usage_unknown_refresh(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *procdir = g_build_filename(h->tmpdir, "proc", NULL);
        g_autofree gchar *mi = g_build_filename(procdir, "mountinfo", NULL);
        static const char *const free_codes = "assignable-with-warnings group-shared host-driver-bound";

        g_assert_cmpint(g_mkdir_with_parents(procdir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(mi, "23 22 0:21 / /proc rw,nosuid - proc proc rw\n", -1, NULL));
        harness_set_env(h, "PCI_ASSIGND_PROC_DIR", procdir);
        harness_start_daemon(h, no_args);
        wait_codes(h, "0000:0b:00.0", free_codes);

        g_assert_cmpint(g_unlink(mi), ==, 0);
        g_assert_cmpint(g_mkdir(mi, 0755), ==, 0);
        g_assert_cmpint(kill(h->pid, SIGHUP), ==, 0);
        wait_codes(h, "0000:0b:00.0", "not-assignable host-usage-unknown group-shared host-driver-bound");

        g_assert_cmpint(g_rmdir(mi), ==, 0);
        g_assert_true(g_file_set_contents(mi, "23 22 0:21 / /proc rw,nosuid - proc proc rw\n", -1, NULL));
        g_assert_cmpint(kill(h->pid, SIGHUP), ==, 0);
        wait_codes(h, "0000:0b:00.0", free_codes);
        harness_free(h);
}

/* A host without IOMMU groups (the q35 testbed without its iommu_group
 * links and kernel/iommu_groups): the start-up log says once what to do,
 * and so does each no-iommu reason; Reserve refuses. */
static void test_no_iommu(void) {
        Harness *h = harness_new(NULL);
        g_autoptr(GError) error = NULL;
        g_autofree gchar *file = harness_data_path("testbeds/q35-vm.umockdev"), *text = NULL, *log = NULL;
        g_autofree gchar *codes = NULL, *dump = NULL;
        g_autoptr(GVariant) r = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GString) kept = g_string_new(NULL);
        const char *addrs[] = { "0000:0b:00.0", NULL };
        const char *hint = "intel_iommu=on", *at;
        guint n = 0;

        g_assert_true(g_file_get_contents(file, &text, NULL, &error));
        g_assert_no_error(error);
        lines = g_strsplit(text, "\n", -1);
        for (gchar **l = lines; *l; l++)
                if (!strstr(*l, "iommu"))
                        g_string_append_printf(kept, "%s\n", *l);
        harness_add_devices(h, kept->str);
        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);

        codes = check_codes(h, "0000:0b:00.0");
        g_assert_true(g_str_has_prefix(codes, "not-assignable no-iommu "));
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable", g_variant_new("(^ass)", addrs, ""),
                         G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
        g_assert_no_error(error);
        dump = g_variant_print(r, FALSE);
        g_assert_nonnull(strstr(dump, "VT-d"));
        g_assert_nonnull(strstr(dump, hint));
        g_assert_nonnull(strstr(dump, "iommu=pt"));

        log = harness_daemon_stderr(h);
        g_assert_nonnull(strstr(log, "The host has no IOMMU groups"));
        for (at = log; (at = strstr(at, hint)); at++)
                n++;
        g_assert_cmpuint(n, ==, 1);

        g_assert_null(reserve(h, "vm1", (const char *const[]) { "0000:0b:00.0", NULL }, NULL, NULL, &error));
        assert_remote_error(error, "org.pciassign1.Error.NotAssignable");
        harness_free(h);
}

/* Fail closed: with the mount table unreadable (a directory), what the
 * host depends on is not known, and no function is assignable. */
static void test_host_usage_unknown(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autoptr(GError) error = NULL;
        g_autofree gchar *procdir = g_build_filename(h->tmpdir, "proc", NULL);
        g_autofree gchar *mi = g_build_filename(procdir, "mountinfo", NULL);
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *dump = NULL;
        const char *addrs[] = { "0000:0b:00.0", "0000:00:1f.3", NULL };

        g_assert_cmpint(g_mkdir_with_parents(mi, 0755), ==, 0);
        harness_set_env(h, "PCI_ASSIGND_PROC_DIR", procdir);
        harness_start_daemon(h, no_args);
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable", g_variant_new("(^ass)", addrs, ""),
                         G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
        g_assert_no_error(error);
        dump = g_variant_print(r, FALSE);
        g_test_message("%s", dump);
        g_assert_nonnull(strstr(dump, "('0000:0b:00.0', 'not-assignable', [('host-usage-unknown', "));
        g_assert_nonnull(strstr(dump, "('0000:00:1f.3', 'not-assignable', [('host-usage-unknown', "));
        g_assert_nonnull(strstr(dump, "mountinfo"));

        g_assert_null(reserve(h, "vm1", (const char *const[]) { "0000:0b:00.0", "0000:0b:00.1", NULL }, NULL, NULL,
                              &error));
        assert_remote_error(error, "org.pciassign1.Error.NotAssignable");
        harness_free(h);
}

static void test_ctl(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        g_autofree gchar *out = NULL, *err = NULL;
        json_object *doc;

        harness_start_daemon(h, no_args);
        {
                const char *const a[] = { "reserve", "vm1", "0000:0b:00.0", "--unassigned", "0000:0b:00.1", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "Reserved r1"));
                g_assert_nonnull(strstr(out, "2 functions in 1 group"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "reserve", "vm2", "0000:0b:00.0", "--complete-group", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 1);
                g_assert_nonnull(strstr(err, "org.pciassign1.Error.AlreadyReserved"));
                g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "reservations", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "r1"));
                g_assert_nonnull(strstr(out, "0000:0b:00.1(-)"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "--json", "reservations", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                doc = json_tokener_parse(out);
                g_assert_nonnull(doc);
                g_assert_cmpuint(json_object_array_length(doc), ==, 1);
                json_object_put(doc);
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "check", "0000:0b:00.0", "0000:01:00.1", "--owner", "vm2", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "0000:0b:00.0: not-assignable"));
                g_assert_nonnull(strstr(out, "reserved-by-other"));
                g_assert_nonnull(strstr(out, "0000:01:00.1: assignable"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "placement", "r1", "pseries", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                doc = json_tokener_parse(out);
                g_assert_nonnull(doc);
                json_object_put(doc);
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "release", "r1", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "release", "r1", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 1);
                g_assert_nonnull(strstr(err, "org.pciassign1.Error.NoSuchReservation"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        harness_free(h);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/reservations/reserve-list-release", test_reserve_list_release);
        g_test_add_func("/reservations/group-rules", test_group_rules);
        g_test_add_func("/reservations/conflicts-and-check", test_conflicts_and_check);
        g_test_add_func("/reservations/bad-input", test_bad_input);
        g_test_add_func("/reservations/transient", test_transient);
        g_test_add_func("/reservations/persistence", test_persistence);
        g_test_add_func("/reservations/corrupt-store", test_corrupt_store);
        g_test_add_func("/reservations/newer-format-refused", test_newer_format_refused);
        g_test_add_func("/reservations/absent-function", test_absent_function);
        g_test_add_func("/reservations/read-only", test_read_only);
        g_test_add_func("/reservations/placement", test_placement);
        g_test_add_func("/reservations/in-use-by-host", test_in_use_by_host);
        g_test_add_func("/reservations/host-usage-unknown", test_host_usage_unknown);
        g_test_add_func("/reservations/host-usage-unknown-refresh", test_host_usage_unknown_refresh);
        g_test_add_func("/reservations/no-iommu", test_no_iommu);
        g_test_add_func("/reservations/ctl", test_ctl);
        g_test_add_func("/reservations/cycles", test_cycles);
        return g_test_run();
}
