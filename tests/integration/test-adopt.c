/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Adoption (issue 16 item 5): a function already on vfio-pci or pci-stub
 * before Reserve or Detach (an admin's driverctl override, vfio-pci.ids=
 * or pci-stub.ids= at boot) is the admin's binding; it is given back
 * exactly so, driver and driver_override as they were, never handed to a
 * host driver or left without a driver.  The real daemon on a private bus
 * against the recorded q35 testbed with the fake kernel preloaded (as
 * test-rebind); every check reads the testbed's sysfs files, the state
 * files and the fake kernel's log of writes. */
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rebind-util.h"

static const char *const mf_both[] = { MF0, MF1, NULL };

/* ---- the admin's bindings, made before the daemon starts ---- */

static void put(const char *path, const char *content) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(path, content, -1, &error);
        g_assert_no_error(error);
}

/* What vfio does when a group's first function binds (the fake kernel
 * plays it for its own binds only): /dev/vfio/N, a character device under
 * umockdev through dev/.node (major FAKEKERNEL_VFIO_MAJOR, 243). */
static void make_vfio_node(Harness *h, int group) {
        g_autofree gchar *dev = g_build_filename(h->testbed_dir, "dev", NULL);
        g_autofree gchar *vfio = g_build_filename(dev, "vfio", NULL);
        g_autofree gchar *nodes = g_build_filename(dev, ".node", NULL);
        g_autofree gchar *n = g_strdup_printf("%d", group);
        g_autofree gchar *node = g_build_filename(vfio, n, NULL);
        g_autofree gchar *lname = g_strdup_printf("vfio_%d", group);
        g_autofree gchar *link = g_build_filename(nodes, lname, NULL);
        g_autofree gchar *rdev = g_strdup_printf("243:%d", group);

        g_assert_cmpint(g_mkdir_with_parents(vfio, 0755), ==, 0);
        g_assert_cmpint(g_mkdir_with_parents(nodes, 0755), ==, 0);
        put(node, "");
        (void) g_unlink(link);
        g_assert_cmpint(symlink(rdev, link), ==, 0);
}

/* pci-stub is not in the recording */
static void make_pci_stub(Harness *h) {
        g_autofree gchar *dir = harness_sys_path(h, "bus/pci/drivers/pci-stub");
        g_autofree gchar *bind = g_build_filename(dir, "bind", NULL);
        g_autofree gchar *unbind = g_build_filename(dir, "unbind", NULL);

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        put(bind, "");
        put(unbind, "");
}

/* `driver` bound with driver_override `override` (NULL: unset), as an
 * admin or the kernel's command line left it */
static void admin_bind(Harness *h, const char *addr, const char *driver, const char *override, int group) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s/driver_override", addr);
        g_autofree gchar *path = harness_sys_path(h, rel);
        g_autofree gchar *text = g_strdup_printf("%s\n", override ? override : "(null)");

        if (g_str_equal(driver, "pci-stub"))
                make_pci_stub(h);
        testbed_bind(h, addr, driver);
        put(path, text);
        if (g_str_has_prefix(driver, "vfio"))
                make_vfio_node(h, group);
}

/* on `driver` with driver_override `override` (NULL: unset), in the testbed */
static void assert_binding(Harness *h, const char *addr, const char *driver, const char *override) {
        g_autofree gchar *want = g_strdup_printf("%s\n", override ? override : "(null)");

        assert_sys_driver(h, addr, driver);
        assert_sys_override(h, addr, want);
}

static gboolean dev_prop_b(Harness *h, const char *addr, const char *prop) {
        g_autofree gchar *path = device_path(h, addr);
        g_autoptr(GVariant) v = get_prop(h, path, DEV_IFACE, prop);

        g_assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE_BOOLEAN));
        return g_variant_get_boolean(v);
}

/* the Device properties of the adoption */
static void assert_adopted(Harness *h, const char *addr, const char *driver, const char *override) {
        g_assert_true(dev_prop_b(h, addr, "HostDriverAdopted"));
        assert_dev_prop(h, addr, "HostDriver", driver);
        assert_dev_prop(h, addr, "HostDriverOverride", override ? override : "");
}

static void assert_not_adopted(Harness *h, const char *addr, const char *host_driver) {
        g_assert_false(dev_prop_b(h, addr, "HostDriverAdopted"));
        assert_dev_prop(h, addr, "HostDriver", host_driver);
        assert_dev_prop(h, addr, "HostDriverOverride", "");
}

/* The function `addr` of reservation `id` in state.json */
static json_object *stored_function(Harness *h, const char *id, const char *addr) {
        json_object *r = stored_reservation(h, id), *fs, *found = NULL;

        g_assert_nonnull(r);
        g_assert_true(json_object_object_get_ex(r, "functions", &fs));
        for (size_t i = 0; i < json_object_array_length(fs); i++) {
                json_object *f = json_object_array_get_idx(fs, i), *a;

                if (json_object_object_get_ex(f, "address", &a) && g_str_equal(json_object_get_string(a), addr))
                        found = json_object_get(f);
        }
        json_object_put(r);
        g_assert_nonnull(found);
        return found;
}

static void assert_stored_adoption(Harness *h, const char *id, const char *addr, const char *driver,
                                   const char *override) {
        json_object *f = stored_function(h, id, addr), *v;

        g_assert_true(json_object_object_get_ex(f, "host_driver", &v));
        g_assert_cmpstr(json_object_get_string(v), ==, driver);
        g_assert_true(json_object_object_get_ex(f, "adopted", &v));
        g_assert_true(json_object_get_boolean(v));
        if (override) {
                g_assert_true(json_object_object_get_ex(f, "host_override", &v));
                g_assert_cmpstr(json_object_get_string(v), ==, override);
        } else
                g_assert_false(json_object_object_get_ex(f, "host_override", &v));
        json_object_put(f);
}

/* group 22 as the admin left it: 0b:00.0 on vfio-pci by a driverctl
 * override, 0b:00.1 on pci-stub by pci-stub.ids= (no override) */
static void admin_mf(Harness *h) {
        admin_bind(h, MF0, "vfio-pci", "vfio-pci", MF_GROUP);
        admin_bind(h, MF1, "pci-stub", NULL, MF_GROUP);
}

static void assert_mf_as_began(Harness *h) {
        assert_binding(h, MF0, "vfio-pci", "vfio-pci");
        assert_binding(h, MF1, "pci-stub", NULL);
}

static void assert_mf_prepared(Harness *h, const char *path) {
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        g_assert_true(vfio_node(h, MF_GROUP));
        g_assert_true(group_viable(h, MF_GROUP));
        assert_res_state(h, path, "prepared");
        assert_no_journal(h);
}

/* Prepare: 0b:00.0 is on vfio-pci with its override already (nothing to
 * write but its reset); 0b:00.1 moves from pci-stub */
static const char *const prepare_log =
        "override 0000:0b:00.1 \"vfio-pci\" ok\n"
        "unbind pci-stub \"0000:0b:00.1\" ok\n"
        "probe drivers_probe \"0000:0b:00.1\" ok\n"
        "reset 0000:0b:00.0 \"1\" ok\n"
        "reset 0000:0b:00.1 \"1\" ok\n";

/* Unprepare: reset, then 0b:00.0 stays as it is, 0b:00.1 goes back to
 * pci-stub through its override, which is then cleared as it was */
static const char *const unprepare_log =
        "reset 0000:0b:00.0 \"1\" ok\n"
        "reset 0000:0b:00.1 \"1\" ok\n"
        "override 0000:0b:00.1 \"pci-stub\" ok\n"
        "unbind vfio-pci \"0000:0b:00.1\" ok\n"
        "probe drivers_probe \"0000:0b:00.1\" ok\n"
        "override 0000:0b:00.1 \"\\n\" ok\n";

/* ==== Reserve, Prepare, Unprepare, Release: it ends as it began ==== */

static void test_lifecycle(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;

        admin_mf(h);
        harness_start_daemon(h, no_args);
        /* not reserved: nothing recorded, nothing adopted */
        assert_not_adopted(h, MF0, "");
        assert_dev_prop(h, MF0, "DriverOverride", "vfio-pci");

        path = reserve(h, "vm1", mf_both, NULL);
        assert_log_empty(h);
        assert_adopted(h, MF0, "vfio-pci", "vfio-pci");
        assert_adopted(h, MF1, "pci-stub", NULL);
        assert_stored_adoption(h, "r1", MF0, "vfio-pci", "vfio-pci");
        assert_stored_adoption(h, "r1", MF1, "pci-stub", NULL);
        {
                g_autofree gchar *text = state_text(h);
                assert_contains(text, "\"format\": 4,");
        }

        /* pci-assignctl show says whose binding it is */
        {
                const char *argv[] = { "show", MF0, NULL };
                g_assert_cmpint(harness_run_ctl(h, argv, &out, &err), ==, 0);
                note("show:\n%s", out);
                assert_contains(out, "Host driver: vfio-pci (the admin's binding, adopted: given back as it was, "
                                     "driver_override vfio-pci)");
                g_assert_null(strstr(out, "HostDriverAdopted"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *argv[] = { "show", MF1, NULL };
                g_assert_cmpint(harness_run_ctl(h, argv, &out, &err), ==, 0);
                assert_contains(out, "Host driver: pci-stub (the admin's binding, adopted: given back as it was, "
                                     "driver_override unset)");
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        /* and Describe */
        {
                g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "Describe", NULL,
                                                     G_VARIANT_TYPE("(s)"), &error);
                const char *text;
                json_object *doc, *devs, *res, *v;
                gboolean seen = FALSE;

                assert_ok(error, "Describe");
                g_variant_get(r, "(&s)", &text);
                doc = json_tokener_parse(text);
                g_assert_nonnull(doc);
                g_assert_true(json_object_object_get_ex(doc, "devices", &devs));
                for (size_t i = 0; i < json_object_array_length(devs); i++) {
                        json_object *d = json_object_array_get_idx(devs, i);

                        g_assert_true(json_object_object_get_ex(d, "address", &v));
                        if (!g_str_equal(json_object_get_string(v), MF0))
                                continue;
                        seen = TRUE;
                        g_assert_true(json_object_object_get_ex(d, "host_driver_adopted", &v));
                        g_assert_true(json_object_get_boolean(v));
                        g_assert_true(json_object_object_get_ex(d, "host_driver_override", &v));
                        g_assert_cmpstr(json_object_get_string(v), ==, "vfio-pci");
                }
                g_assert_true(seen);
                g_assert_true(json_object_object_get_ex(doc, "reservations", &res));
                v = json_object_array_get_idx(res, 0);
                g_assert_true(json_object_object_get_ex(v, "functions", &v));
                v = json_object_array_get_idx(v, 1);    /* 0b:00.1 */
                g_assert_true(json_object_object_get_ex(v, "host_driver_adopted", &v));
                g_assert_true(json_object_get_boolean(v));
                json_object_put(doc);
        }

        res_ok(h, path, "Prepare", NULL);
        assert_log(h, prepare_log);
        assert_mf_prepared(h, path);
        assert_adopted(h, MF0, "vfio-pci", "vfio-pci");

        harness_fakekernel_log_clear(h);
        res_ok(h, path, "Unprepare", NULL);
        assert_log(h, unprepare_log);
        assert_mf_as_began(h);
        assert_res_state(h, path, "reserved");
        assert_no_journal(h);
        assert_dev_prop(h, MF1, "Driver", "pci-stub");
        assert_dev_prop(h, MF1, "DriverOverride", "");

        /* Release of a prepared one gives back the same way */
        res_ok(h, path, "Prepare", NULL);
        harness_fakekernel_log_clear(h);
        res_ok(h, path, "Release", NULL);
        assert_log(h, unprepare_log);
        assert_mf_as_began(h);
        g_assert_null(stored_reservation(h, "r1"));
        assert_not_adopted(h, MF0, "");
        assert_dev_prop(h, MF0, "Driver", "vfio-pci");
        assert_dev_prop(h, MF1, "Driver", "pci-stub");

        /* and a Release of a reserved one writes nothing */
        g_free(path);
        path = reserve(h, "vm1", mf_both, NULL);
        harness_fakekernel_log_clear(h);
        res_ok(h, path, "Release", NULL);
        assert_log_empty(h);
        assert_mf_as_began(h);
        harness_stop_daemon(h);
        harness_free(h);
}

/* The record survives a restart of the daemon, in either state. */
static void test_restart(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;

        admin_mf(h);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        harness_stop_daemon(h);
        harness_start_daemon(h, no_args);
        assert_log_empty(h);
        assert_adopted(h, MF0, "vfio-pci", "vfio-pci");
        assert_adopted(h, MF1, "pci-stub", NULL);

        res_ok(h, path, "Prepare", NULL);
        assert_mf_prepared(h, path);
        harness_stop_daemon(h);
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        assert_log_empty(h);    /* prepared and bound: nothing to do */
        assert_res_state(h, path, "prepared");
        assert_adopted(h, MF0, "vfio-pci", "vfio-pci");
        assert_adopted(h, MF1, "pci-stub", NULL);
        assert_stored_adoption(h, "r1", MF1, "pci-stub", NULL);

        res_ok(h, path, "Unprepare", NULL);
        assert_log(h, unprepare_log);
        assert_mf_as_began(h);
        res_ok(h, path, "Release", NULL);
        assert_mf_as_began(h);
        harness_stop_daemon(h);
        harness_free(h);
}

/* A failed Prepare rolls back to the admin's bindings exactly. */
static void test_prepare_rollback(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *msg = NULL;

        admin_mf(h);
        harness_set_env(h, "FAKEKERNEL_FAIL", "reset:" MF1 ":EIO");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        res_fails(h, path, "Prepare", NULL, E("OperationFailed"), &msg);
        note("Prepare: %s", msg);
        assert_contains(msg, "every function is back where it was");
        assert_mf_as_began(h);
        assert_res_state(h, path, "reserved");
        assert_no_journal(h);
        harness_free(h);
}

/* A failed give-back rolls the Unprepare back: 0b:00.1 on vfio-pci again,
 * 0b:00.0 as it is, the reservation still prepared; the next Unprepare
 * ends as it began. */
static void test_unprepare_rollback(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *msg = NULL;

        admin_mf(h);
        /* the first probe of 0b:00.1 is Prepare's, the second the give-back's */
        harness_set_env(h, "FAKEKERNEL_FAIL", "probe:" MF1 ":EIO#2");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        res_ok(h, path, "Prepare", NULL);
        res_fails(h, path, "Unprepare", NULL, E("OperationFailed"), &msg);
        note("Unprepare: %s", msg);
        assert_contains(msg, "(step drivers-probe): " MF1 ": drivers_probe: Input/output error");
        assert_contains(msg, "every function is back where it was");
        assert_mf_prepared(h, path);
        res_ok(h, path, "Unprepare", NULL);
        assert_mf_as_began(h);
        assert_res_state(h, path, "reserved");
        harness_free(h);
}

static void on_device_props(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                            const gchar *signal, GVariant *params, gpointer user_data) {
        GPtrArray *seen = user_data;
        g_autoptr(GVariant) changed = NULL, adopted = NULL, ovr = NULL;
        const char *on_iface;

        if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)")))
                return;
        g_variant_get_child(params, 0, "&s", &on_iface);
        if (!g_str_equal(on_iface, DEV_IFACE))
                return;
        changed = g_variant_get_child_value(params, 1);
        adopted = g_variant_lookup_value(changed, "HostDriverAdopted", G_VARIANT_TYPE_BOOLEAN);
        ovr = g_variant_lookup_value(changed, "HostDriverOverride", G_VARIANT_TYPE_STRING);
        if (adopted && ovr)
                g_ptr_array_add(seen, g_strdup_printf("%s %s %s", path, g_variant_get_boolean(adopted) ? "yes" : "no",
                                                      g_variant_get_string(ovr, NULL)));
}

/* HostDriverAdopted and HostDriverOverride are announced when they change
 * (EmitsChangedSignal true): at Reserve and at Release. */
static void test_properties_changed(void) {
        Harness *h = new_harness();
        g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
        g_autofree gchar *path = NULL, *dpath = NULL, *want = NULL;
        guint sub;
        gint64 deadline;

        admin_mf(h);
        harness_start_daemon(h, no_args);
        dpath = device_path(h, MF0);
        sub = g_dbus_connection_signal_subscribe(h->conn, NULL, PROPS_IFACE, "PropertiesChanged", dpath, NULL,
                                                 G_DBUS_SIGNAL_FLAGS_NONE, on_device_props, seen, NULL);
        path = reserve(h, "vm1", mf_both, NULL);
        want = g_strdup_printf("%s yes vfio-pci", dpath);
        for (deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
             !(seen->len > 0 && g_str_equal(seen->pdata[seen->len - 1], want));)
                if (g_get_monotonic_time() > deadline)
                        g_error("no PropertiesChanged with HostDriverAdopted=true for %s (%u seen)", MF0, seen->len);
                else if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        res_ok(h, path, "Release", NULL);
        g_free(want);
        want = g_strdup_printf("%s no ", dpath);
        for (deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
             !(seen->len > 0 && g_str_equal(seen->pdata[seen->len - 1], want));)
                if (g_get_monotonic_time() > deadline)
                        g_error("no PropertiesChanged with HostDriverAdopted=false for %s", MF0);
                else if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        g_dbus_connection_signal_unsubscribe(h->conn, sub);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== Detach / Reattach of the admin's binding ==== */

static void test_detach_reattach(void) {
        Harness *h = new_harness();
        g_autofree gchar *detached = NULL, *text = NULL;

        /* vfio-pci.ids= at boot: on vfio-pci, no override */
        admin_bind(h, NIC, "vfio-pci", NULL, NIC_GROUP);
        /* driverctl with pci-stub */
        admin_bind(h, NIC3, "pci-stub", "pci-stub", 21);
        harness_start_daemon(h, no_args);
        detached = g_build_filename(h->runtime_dir, "detached.json", NULL);

        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        /* bound already: its override is made to say so, and it is reset */
        assert_log(h, "override 0000:02:00.0 \"vfio-pci\" ok\n"
                      "reset 0000:02:00.0 \"1\" ok\n");
        assert_vfio(h, NIC);
        assert_adopted(h, NIC, "vfio-pci", NULL);
        g_assert_true(g_file_get_contents(detached, &text, NULL, NULL));
        assert_contains(text, "\"format\": 2,");
        assert_contains(text, "\"host_driver\": \"vfio-pci\",\n      \"adopted\": true\n");
        g_clear_pointer(&text, g_free);

        harness_fakekernel_log_clear(h);
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC3, ""));
        assert_log(h, "override 0000:0a:00.0 \"vfio-pci\" ok\n"
                      "unbind pci-stub \"0000:0a:00.0\" ok\n"
                      "probe drivers_probe \"0000:0a:00.0\" ok\n"
                      "reset 0000:0a:00.0 \"1\" ok\n");
        assert_vfio(h, NIC3);
        assert_adopted(h, NIC3, "pci-stub", "pci-stub");

        /* remembered across a restart */
        harness_stop_daemon(h);
        harness_start_daemon(h, no_args);
        assert_adopted(h, NIC, "vfio-pci", NULL);
        assert_adopted(h, NIC3, "pci-stub", "pci-stub");

        /* a second Detach keeps the first record */
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        assert_adopted(h, NIC, "vfio-pci", NULL);

        harness_fakekernel_log_clear(h);
        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC));
        assert_log(h, "override 0000:02:00.0 \"\\n\" ok\n");
        assert_binding(h, NIC, "vfio-pci", NULL);
        g_assert_true(vfio_node(h, NIC_GROUP));
        assert_not_adopted(h, NIC, "");

        harness_fakekernel_log_clear(h);
        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC3));
        /* the override is pci-stub already when it binds */
        assert_log(h, "override 0000:0a:00.0 \"pci-stub\" ok\n"
                      "unbind vfio-pci \"0000:0a:00.0\" ok\n"
                      "probe drivers_probe \"0000:0a:00.0\" ok\n");
        assert_binding(h, NIC3, "pci-stub", "pci-stub");
        assert_not_adopted(h, NIC3, "");
        g_assert_true(g_file_get_contents(detached, &text, NULL, NULL));
        assert_contains(text, "\"format\": 1,");
        g_assert_null(strstr(text, "adopted"));
        harness_stop_daemon(h);
        harness_free(h);
}

/* A function that Detach() took from its host driver is not adopted by a
 * later Reserve: Detach's record (the host driver) stands. */
static void test_detached_then_reserved(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;

        harness_start_daemon(h, no_args);
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC2, ""));
        assert_vfio(h, NIC2);
        path = reserve(h, "vm1", (const char *const[]) { NIC2, NULL }, NULL);
        assert_not_adopted(h, NIC2, "e1000e");
        res_ok(h, path, "Prepare", NULL);
        res_ok(h, path, "Release", NULL);
        assert_host(h, NIC2, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== kill -9 at each journaled step of the adopted Prepare and Unprepare ==== */

typedef struct CrashCase {
        const char *operation;
        int step;
} CrashCase;

/* 2 functions: Prepare has steps 0..4, Unprepare 0..3 */
static const CrashCase crash_cases[] = {
        { "prepare", 0 }, { "prepare", 1 }, { "prepare", 2 }, { "prepare", 3 }, { "prepare", 4 },
        { "unprepare", 0 }, { "unprepare", 1 }, { "unprepare", 2 }, { "unprepare", 3 },
};

static void test_crash(gconstpointer data) {
        const CrashCase *c = data;
        gboolean prepare = g_str_equal(c->operation, "prepare");
        Harness *h = new_harness();
        g_autofree gchar *hook = g_strdup_printf("%s:%d", c->operation, c->step);
        g_autofree gchar *path = NULL;
        g_autoptr(GError) error = NULL;
        int status;

        admin_mf(h);
        harness_set_env(h, "PCI_ASSIGND_TEST_CRASH", hook);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        if (!prepare) {
                res_ok(h, path, "Prepare", NULL);
                assert_mf_prepared(h, path);
        }
        res_call(h, path, prepare ? "Prepare" : "Unprepare", NULL, &error);
        if (!error)
                g_error("the daemon did not die at %s (is the PCI_ASSIGND_TEST_CRASH hook built in?)", hook);
        status = harness_wait_daemon_exit(h, 30000);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                g_error("the daemon did not SIGKILL itself at %s (wait status 0x%x)", hook, status);
        {
                json_object *r = stored_reservation(h, "r1"), *j, *v;

                if (!json_object_object_get_ex(r, "journal", &j) || !j)
                        g_error("no journal in the state file after a crash at %s:\n%s", hook, state_text(h));
                g_assert_true(json_object_object_get_ex(j, "step", &v));
                g_assert_cmpint(json_object_get_int(v), ==, c->step);
                json_object_put(r);
        }
        /* 0b:00.1 is where step K left it: Unprepare gives it back at
         * step 3, Prepare binds it at step 1 */
        assert_binding(h, MF0, "vfio-pci", "vfio-pci");
        if (prepare ? c->step >= 2 : c->step <= 3)
                assert_vfio(h, MF1);
        else
                assert_binding(h, MF1, "pci-stub", NULL);

        /* the next start finishes (Unprepare) or rolls back (Prepare):
         * both end as the admin left it */
        harness_unset_env(h, "PCI_ASSIGND_TEST_CRASH");
        harness_start_daemon(h, no_args);
        assert_mf_as_began(h);
        assert_res_state(h, path, "reserved");
        assert_no_journal(h);
        assert_adopted(h, MF0, "vfio-pci", "vfio-pci");
        assert_adopted(h, MF1, "pci-stub", NULL);

        /* and everything works as before */
        res_ok(h, path, "Prepare", NULL);
        assert_mf_prepared(h, path);
        harness_fakekernel_log_clear(h);
        res_ok(h, path, "Unprepare", NULL);
        assert_log(h, unprepare_log);
        assert_mf_as_began(h);
        harness_stop_daemon(h);
        harness_free(h);
}

/* kill -9 during the Reattach of an adopted pci-stub binding (the fake
 * kernel kills the daemon at a write): after the override is written it is
 * still on vfio-pci, so the next start rolls back to the override Detach
 * left; after the unbind it has no driver, so the next start completes the
 * Reattach exactly: pci-stub with its override. */
static void test_reattach_killed(void) {
        static const struct {
                const char *kill;
                gboolean completed;
        } kills[] = {
                { "override@pci-stub:0000:0a:00.0:after#1", FALSE },
                { "unbind@vfio-pci:0000:0a:00.0:after#1", TRUE },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(kills); i++) {
                Harness *h = new_harness();
                g_autoptr(GError) error = NULL;
                int status;

                admin_bind(h, NIC3, "pci-stub", "pci-stub", 21);
                harness_start_daemon(h, no_args);
                mgr_ok(h, "Detach", g_variant_new("(ss)", NIC3, ""));
                assert_vfio(h, NIC3);
                harness_stop_daemon(h);

                harness_set_env(h, "FAKEKERNEL_KILL", kills[i].kill);
                harness_start_daemon(h, no_args);
                mgr_call(h, "Reattach", g_variant_new("(s)", NIC3), &error);
                g_assert_nonnull(error);
                status = harness_wait_daemon_exit(h, 30000);
                g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

                harness_unset_env(h, "FAKEKERNEL_KILL");
                harness_start_daemon(h, no_args);
                if (kills[i].completed) {
                        assert_binding(h, NIC3, "pci-stub", "pci-stub");
                } else {
                        assert_vfio(h, NIC3);
                        assert_adopted(h, NIC3, "pci-stub", "pci-stub");
                        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC3));
                        assert_binding(h, NIC3, "pci-stub", "pci-stub");
                }
                harness_stop_daemon(h);
                harness_free(h);
        }
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        ADD("/adopt/reserve-prepare-unprepare-release", test_lifecycle);
        ADD("/adopt/restart", test_restart);
        ADD("/adopt/prepare-rollback", test_prepare_rollback);
        ADD("/adopt/unprepare-rollback", test_unprepare_rollback);
        ADD("/adopt/properties-changed", test_properties_changed);
        ADD("/adopt/detach-reattach", test_detach_reattach);
        ADD("/adopt/reattach-killed", test_reattach_killed);
        ADD("/adopt/detached-then-reserved", test_detached_then_reserved);
        for (size_t i = 0; i < G_N_ELEMENTS(crash_cases); i++) {
                g_autofree gchar *name = g_strdup_printf("/adopt/crash/%s/%d", crash_cases[i].operation,
                                                         crash_cases[i].step);
                add_case(name, test_crash, &crash_cases[i]);
        }
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
