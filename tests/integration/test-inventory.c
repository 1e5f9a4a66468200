/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's exported inventory against what the recorded machine's
 * sysfs said (tests/data/testbeds/q35-vm.truth.json, written in the VM
 * guest from sysfs directly, independently of our parser). */
#include <json-c/json.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon-harness.h"

#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define DEVICE_IFACE "org.pciassign1.Device"
#define GROUP_IFACE "org.pciassign1.Group"

static json_object *load_truth(void) {
        g_autofree gchar *p = harness_data_path("testbeds/q35-vm.truth.json");
        json_object *t = json_object_from_file(p);
        if (!t)
                g_error("cannot parse %s", p);
        return t;
}

static const char *jstr(json_object *o, const char *k) {
        json_object *v;
        g_assert_true(json_object_object_get_ex(o, k, &v));
        return json_object_get_string(v);
}

static int64_t jint(json_object *o, const char *k) {
        json_object *v;
        g_assert_true(json_object_object_get_ex(o, k, &v));
        return json_object_get_int64(v);
}

static gboolean jbool(json_object *o, const char *k) {
        json_object *v;
        g_assert_true(json_object_object_get_ex(o, k, &v));
        return json_object_get_boolean(v);
}

static json_object *jarr(json_object *o, const char *k) {
        json_object *v;
        g_assert_true(json_object_object_get_ex(o, k, &v));
        g_assert_true(json_object_is_type(v, json_type_array));
        return v;
}

static gchar *device_path(Harness *h, const char *address) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        gchar *path;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetDevice", g_variant_new("(s)", address),
                         G_VARIANT_TYPE("(o)"), &error);
        g_assert_no_error(error);
        g_variant_get(r, "(o)", &path);
        return path;
}

static void assert_strv_equals_json(GVariant *v, json_object *arr) {
        gsize n = 0;
        g_autofree const gchar **s = g_variant_get_strv(v, &n);

        g_assert_cmpuint(n, ==, json_object_array_length(arr));
        for (gsize i = 0; i < n; i++)
                g_assert_cmpstr(s[i], ==, json_object_get_string(json_object_array_get_idx(arr, i)));
}

static const char *pcie_type_name(const char *truth) {
        /* the recorder's short name for a Root Complex integrated endpoint */
        return g_str_equal(truth, "rc-endpoint") ? "rc-integrated-endpoint" : truth;
}

static void check_device(Harness *h, json_object *td) {
        const char *addr = jstr(td, "address");
        g_autofree gchar *path = device_path(h, addr);
        g_autoptr(GVariant) p = harness_get_all(h, path, DEVICE_IFACE);
        g_autoptr(GVariant) resets = NULL, vfs = NULL, bars = NULL;
        const char *s;
        guint16 q;
        guint32 u;
        gint32 i;
        guchar y;
        gboolean b;
        GVariantIter it;
        guchar idx;
        guint64 start, size;
        gsize nbars_truth = 0, nbars = 0;
        json_object *tb = jarr(td, "bars");

        g_test_message("checking %s", addr);
        g_assert_true(g_variant_lookup(p, "Address", "&s", &s));
        g_assert_cmpstr(s, ==, addr);
        g_assert_true(g_variant_lookup(p, "VendorId", "q", &q));
        g_assert_cmpuint(q, ==, jint(td, "vendor_id"));
        g_assert_true(g_variant_lookup(p, "DeviceId", "q", &q));
        g_assert_cmpuint(q, ==, jint(td, "device_id"));
        g_assert_true(g_variant_lookup(p, "SubsystemVendorId", "q", &q));
        g_assert_cmpuint(q, ==, jint(td, "subsystem_vendor_id"));
        g_assert_true(g_variant_lookup(p, "SubsystemDeviceId", "q", &q));
        g_assert_cmpuint(q, ==, jint(td, "subsystem_device_id"));
        g_assert_true(g_variant_lookup(p, "Class", "u", &u));
        g_assert_cmpuint(u, ==, jint(td, "class"));
        g_assert_true(g_variant_lookup(p, "Revision", "y", &y));
        g_assert_cmpuint(y, ==, jint(td, "revision"));
        g_assert_true(g_variant_lookup(p, "VendorName", "&s", &s));
        g_assert_cmpstr(s, ==, jstr(td, "vendor_name"));
        g_assert_true(g_variant_lookup(p, "DeviceName", "&s", &s));
        g_assert_cmpstr(s, ==, jstr(td, "device_name"));
        g_assert_true(g_variant_lookup(p, "Driver", "&s", &s));
        g_assert_cmpstr(s, ==, jstr(td, "driver"));
        g_assert_true(g_variant_lookup(p, "DriverOverride", "&s", &s));
        g_assert_cmpstr(s, ==, jstr(td, "driver_override"));
        g_assert_true(g_variant_lookup(p, "IOMMUGroup", "i", &i));
        g_assert_cmpint(i, ==, jint(td, "iommu_group"));
        g_assert_true(g_variant_lookup(p, "NUMANode", "i", &i));
        g_assert_cmpint(i, ==, jint(td, "numa_node"));
        resets = g_variant_lookup_value(p, "ResetMethods", G_VARIANT_TYPE("as"));
        g_assert_nonnull(resets);
        assert_strv_equals_json(resets, jarr(td, "reset_methods"));
        g_assert_true(g_variant_lookup(p, "Multifunction", "b", &b));
        g_assert_cmpint(b, ==, jbool(td, "multifunction"));
        g_assert_true(g_variant_lookup(p, "Bridge", "b", &b));
        g_assert_cmpint(b, ==, jbool(td, "bridge"));
        g_assert_true(g_variant_lookup(p, "BootVGA", "b", &b));
        g_assert_cmpint(b, ==, jbool(td, "boot_vga"));
        g_assert_true(g_variant_lookup(p, "PhysicalFunction", "&s", &s));
        g_assert_cmpstr(s, ==, jstr(td, "physical_function"));
        vfs = g_variant_lookup_value(p, "VirtualFunctions", G_VARIANT_TYPE("as"));
        g_assert_nonnull(vfs);
        assert_strv_equals_json(vfs, jarr(td, "virtual_functions"));
        g_assert_true(g_variant_lookup(p, "Parent", "&s", &s));
        g_assert_cmpstr(s, ==, jstr(td, "parent"));
        g_assert_true(g_variant_lookup(p, "PCIeType", "&s", &s));
        g_assert_cmpstr(s, ==, pcie_type_name(jstr(td, "pcie_type")));
        g_assert_true(g_variant_lookup(p, "Present", "b", &b));
        g_assert_true(b);
        g_assert_true(g_variant_lookup(p, "Reservation", "&o", &s));
        g_assert_cmpstr(s, ==, "/");

        /* memory BARs only, in index order */
        bars = g_variant_lookup_value(p, "Bars", G_VARIANT_TYPE("a(ytt)"));
        g_assert_nonnull(bars);
        g_variant_iter_init(&it, bars);
        for (size_t k = 0; k < json_object_array_length(tb); k++) {
                json_object *bar = json_object_array_get_idx(tb, k);
                if (!g_str_equal(jstr(bar, "type"), "mem") || jint(bar, "index") > 5)
                        continue;
                nbars_truth++;
                g_assert_true(g_variant_iter_next(&it, "(ytt)", &idx, &start, &size));
                nbars++;
                g_assert_cmpuint(idx, ==, jint(bar, "index"));
                g_assert_cmpuint(start, ==, (guint64) jint(bar, "start"));
                g_assert_cmpuint(size, ==, (guint64) jint(bar, "size"));
        }
        g_assert_false(g_variant_iter_next(&it, "(ytt)", &idx, &start, &size));
        g_assert_cmpuint(nbars, ==, nbars_truth);
}

static void test_inventory_matches_sysfs(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        json_object *truth = load_truth();
        json_object *devs = jarr(truth, "devices"), *groups = jarr(truth, "groups");
        g_autoptr(GVariant) list = NULL, props = NULL;
        g_autoptr(GError) error = NULL;
        const char *const args[] = { "--read-only", NULL };
        GVariantIter *iter;
        const char *addr, *drv, *verdict, *resv, *path;
        gint32 grp;
        gsize n = 0;
        gboolean b;

        harness_start_daemon(h, args);

        props = harness_get_all(h, MANAGER_PATH, MANAGER_IFACE);
        g_assert_true(g_variant_lookup(props, "IOMMUPresent", "b", &b));
        g_assert_cmpint(b, ==, jbool(truth, "iommu_present"));
        g_assert_true(g_variant_lookup(props, "ReadOnly", "b", &b));
        g_assert_true(b);
        g_assert_true(g_variant_lookup(props, "Version", "&s", &addr));
        g_assert_cmpstr(addr, !=, "");

        /* ListDevices: every function, in address order, nothing else */
        list = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL,
                            G_VARIANT_TYPE("(a(ssisso))"), &error);
        g_assert_no_error(error);
        g_variant_get(list, "(a(ssisso))", &iter);
        while (g_variant_iter_next(iter, "(&s&si&s&s&o)", &addr, &drv, &grp, &verdict, &resv, &path)) {
                json_object *td = json_object_array_get_idx(devs, n);
                g_autofree gchar *expected_path = NULL;

                g_assert_nonnull(td);
                g_assert_cmpstr(addr, ==, jstr(td, "address"));
                g_assert_cmpstr(drv, ==, jstr(td, "driver"));
                g_assert_cmpint(grp, ==, jint(td, "iommu_group"));
                g_assert_cmpstr(resv, ==, "");
                expected_path = device_path(h, addr);
                g_assert_cmpstr(path, ==, expected_path);
                n++;
        }
        g_variant_iter_free(iter);
        g_assert_cmpuint(n, ==, json_object_array_length(devs));

        for (size_t k = 0; k < json_object_array_length(devs); k++)
                check_device(h, json_object_array_get_idx(devs, k));

        /* groups: members and viability */
        for (size_t k = 0; k < json_object_array_length(groups); k++) {
                json_object *tg = json_object_array_get_idx(groups, k);
                g_autoptr(GVariant) r = NULL, gp = NULL, members = NULL;
                const char *gpath;
                guint32 id;

                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetGroup",
                                 g_variant_new("(u)", (guint32) jint(tg, "id")), G_VARIANT_TYPE("(o)"), &error);
                g_assert_no_error(error);
                g_variant_get(r, "(&o)", &gpath);
                gp = harness_get_all(h, gpath, GROUP_IFACE);
                g_assert_true(g_variant_lookup(gp, "Id", "u", &id));
                g_assert_cmpuint(id, ==, jint(tg, "id"));
                members = g_variant_lookup_value(gp, "Devices", G_VARIANT_TYPE("as"));
                assert_strv_equals_json(members, jarr(tg, "devices"));
        }

        harness_stop_daemon(h);
        g_assert_nonnull(strstr(h->notify_log->str, "STATUS="));
        json_object_put(truth);
        harness_free(h);
}

static void test_group_viability(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        const char *const args[] = { "--read-only", NULL };
        static const struct {
                guint32 group;
                gboolean viable;
        } cases[] = {
                { 15, FALSE },  /* nvme PF bound to nvme */
                { 23, TRUE },   /* nvme VF without driver */
                { 17, FALSE },  /* pcie-pci-bridge (no driver) + e1000 on e1000 */
                { 5, TRUE },    /* root port on pcieport */
                { 14, FALSE },  /* ICH9 LPC/AHCI/SMBus on host drivers */
        };

        harness_start_daemon(h, args);
        for (size_t k = 0; k < G_N_ELEMENTS(cases); k++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = NULL, gp = NULL;
                const char *gpath;
                gboolean viable;

                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetGroup",
                                 g_variant_new("(u)", cases[k].group), G_VARIANT_TYPE("(o)"), &error);
                g_assert_no_error(error);
                g_variant_get(r, "(&o)", &gpath);
                gp = harness_get_all(h, gpath, GROUP_IFACE);
                g_assert_true(g_variant_lookup(gp, "Viable", "b", &viable));
                g_assert_cmpint(viable, ==, cases[k].viable);
        }
        harness_free(h);
}

static void assert_error(Harness *h, const char *method, GVariant *args, const char *error_name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *remote = NULL;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, method, args, NULL, &error);
        g_assert_null(r);
        g_assert_nonnull(error);
        remote = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(remote, ==, error_name);
}

static void test_bad_addresses(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        const char *const args[] = { "--read-only", NULL };
        static const char *const invalid[] = {
                "../../etc", "0000:00:02", "zzzz:00:02.0", "", "0000:00:02.0/../..",
                "/sys/bus/pci/devices/0000:00:02.0", "0000:00:02.0\n", "0000:00:02.8",
                "0000:00:20.0", "00:02.0", "0000:00:02.0 ", "\xc3\xa9",
        };
        g_autofree gchar *big = g_strnfill(4096, 'a');
        g_autofree gchar *big_valid_prefix = g_strconcat("0000:00:02.0", big, NULL);

        harness_start_daemon(h, args);
        for (size_t k = 0; k < G_N_ELEMENTS(invalid); k++)
                assert_error(h, "GetDevice", g_variant_new("(s)", invalid[k]),
                             "org.pciassign1.Error.InvalidAddress");
        assert_error(h, "GetDevice", g_variant_new("(s)", big), "org.pciassign1.Error.InvalidAddress");
        assert_error(h, "GetDevice", g_variant_new("(s)", big_valid_prefix),
                     "org.pciassign1.Error.InvalidAddress");
        /* well-formed but absent */
        assert_error(h, "GetDevice", g_variant_new("(s)", "0000:00:1c.0"), "org.pciassign1.Error.NoSuchDevice");
        assert_error(h, "GetDevice", g_variant_new("(s)", "0001:00:02.0"), "org.pciassign1.Error.NoSuchDevice");
        assert_error(h, "GetGroup", g_variant_new("(u)", 9999), "org.pciassign1.Error.NoSuchGroup");
        /* wrong signature: sd-bus refuses it before our code runs */
        assert_error(h, "GetDevice", g_variant_new("(u)", 1), "org.freedesktop.DBus.Error.InvalidArgs");

        /* upper case input is accepted and canonicalised */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetDevice",
                                                     g_variant_new("(s)", "0000:00:1F.2"),
                                                     G_VARIANT_TYPE("(o)"), &error);
                g_assert_no_error(error);
        }
        /* still alive and answering */
        {
                g_autoptr(GVariant) p = harness_get_all(h, MANAGER_PATH, MANAGER_IFACE);
                g_assert_nonnull(p);
        }
        harness_free(h);
}

static void test_object_manager(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        const char *const args[] = { "--read-only", NULL };
        json_object *truth = load_truth();
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL, objs = NULL;
        guint n_dev = 0, n_grp = 0;
        GVariantIter it;
        const char *path;
        GVariant *ifaces;

        harness_start_daemon(h, args);
        r = harness_call(h, "/org/pciassign1", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                         NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"), &error);
        g_assert_no_error(error);
        objs = g_variant_get_child_value(r, 0);
        g_variant_iter_init(&it, objs);
        while (g_variant_iter_next(&it, "{&o@a{sa{sv}}}", &path, &ifaces)) {
                if (g_str_has_prefix(path, "/org/pciassign1/device/")) {
                        g_autoptr(GVariant) dp = g_variant_lookup_value(ifaces, DEVICE_IFACE, NULL);
                        g_assert_nonnull(dp);
                        n_dev++;
                } else if (g_str_has_prefix(path, "/org/pciassign1/group/")) {
                        g_autoptr(GVariant) gp = g_variant_lookup_value(ifaces, GROUP_IFACE, NULL);
                        g_assert_nonnull(gp);
                        n_grp++;
                }
                g_variant_unref(ifaces);
        }
        g_assert_cmpuint(n_dev, ==, json_object_array_length(jarr(truth, "devices")));
        g_assert_cmpuint(n_grp, ==, json_object_array_length(jarr(truth, "groups")));

        /* the API's example path */
        {
                g_autofree gchar *p = device_path(h, "0000:01:00.0");
                g_assert_cmpstr(p, ==, "/org/pciassign1/device/_30000_3a01_3a00_2e0");
        }

        /* introspection names the arguments */
        {
                g_autoptr(GVariant) x = harness_call(h, MANAGER_PATH, "org.freedesktop.DBus.Introspectable",
                                                     "Introspect", NULL, G_VARIANT_TYPE("(s)"), &error);
                const char *xml;

                g_assert_no_error(error);
                g_variant_get(x, "(&s)", &xml);
                g_assert_nonnull(strstr(xml, "<arg type=\"s\" name=\"address\" direction=\"in\"/>"));
                g_assert_nonnull(strstr(xml, "<arg type=\"o\" name=\"path\" direction=\"out\"/>"));
                g_assert_nonnull(strstr(xml, "org.freedesktop.DBus.Property.EmitsChangedSignal\" value=\"const\""));
        }
        json_object_put(truth);
        harness_free(h);
}

static void test_describe(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        const char *const args[] = { "--read-only", NULL };
        json_object *truth = load_truth(), *doc, *devs;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        const char *s;

        harness_start_daemon(h, args);
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "Describe", NULL, G_VARIANT_TYPE("(s)"), &error);
        g_assert_no_error(error);
        g_variant_get(r, "(&s)", &s);
        doc = json_tokener_parse(s);
        g_assert_nonnull(doc);
        g_assert_true(jbool(doc, "read_only"));
        devs = jarr(doc, "devices");
        g_assert_cmpuint(json_object_array_length(devs), ==, json_object_array_length(jarr(truth, "devices")));
        for (size_t k = 0; k < json_object_array_length(devs); k++) {
                json_object *d = json_object_array_get_idx(devs, k);
                json_object *td = json_object_array_get_idx(jarr(truth, "devices"), k);

                g_assert_cmpstr(jstr(d, "address"), ==, jstr(td, "address"));
                g_assert_cmpint(jint(d, "vendor_id"), ==, jint(td, "vendor_id"));
                g_assert_cmpstr(jstr(d, "driver"), ==, jstr(td, "driver"));
                g_assert_cmpint(jint(d, "iommu_group"), ==, jint(td, "iommu_group"));
                g_assert_cmpint(jbool(d, "multifunction"), ==, jbool(td, "multifunction"));
        }
        g_assert_cmpuint(json_object_array_length(jarr(doc, "groups")), ==,
                         json_object_array_length(jarr(truth, "groups")));
        json_object_put(doc);
        json_object_put(truth);
        harness_free(h);
}

static void test_ctl(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        const char *const args[] = { "--read-only", NULL };
        g_autofree gchar *out = NULL, *err = NULL;
        json_object *doc;

        harness_start_daemon(h, args);

        {
                const char *const a[] = { "list", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "0000:01:00.0"));
                g_assert_nonnull(strstr(out, "nvme"));
                g_assert_nonnull(strstr(out, "flr,bus"));
                g_assert_nonnull(strstr(out, "82574L"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "--json", "list", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                doc = json_tokener_parse(out);
                g_assert_nonnull(doc);
                g_assert_cmpuint(json_object_array_length(jarr(doc, "devices")), ==, 32);
                json_object_put(doc);
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "show", "0000:01:00.1", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 0);
                g_assert_nonnull(strstr(out, "0000:01:00.0"));     /* its PF */
                g_assert_nonnull(strstr(out, "flr"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "show", "zzzz:00:02.0", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 1);
                g_assert_nonnull(strstr(err, "org.pciassign1.Error.InvalidAddress"));
                /* exactly one line */
                g_assert_nonnull(strchr(err, '\n'));
                g_assert_null(strchr(strchr(err, '\n') + 1, '\n'));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "show", "0000:42:00.0", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 1);
                g_assert_nonnull(strstr(err, "org.pciassign1.Error.NoSuchDevice"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *const a[] = { "frobnicate", NULL };
                g_assert_cmpint(harness_run_ctl(h, a, &out, &err), ==, 2);
        }
        harness_free(h);
}

static void test_options(void) {
        g_autofree gchar *daemon = g_build_filename(g_getenv("PCI_ASSIGND_BUILD_ROOT"), "src", "daemon",
                                                    "pci-assignd", NULL);
        g_autofree gchar *out = NULL, *err = NULL;
        g_autoptr(GError) error = NULL;
        gint status;
        {
                const char *argv[] = { daemon, "--version", NULL };
                g_assert_true(g_spawn_sync(NULL, (gchar **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
                g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                g_assert_true(g_str_has_prefix(out, "pci-assignd "));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *argv[] = { daemon, "--log-level=loud", NULL };
                g_assert_true(g_spawn_sync(NULL, (gchar **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
                g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
                g_assert_nonnull(strstr(err, "loud"));
                g_clear_pointer(&out, g_free);
                g_clear_pointer(&err, g_free);
        }
        {
                const char *argv[] = { daemon, "--help", NULL };
                g_assert_true(g_spawn_sync(NULL, (gchar **) argv, NULL, 0, NULL, NULL, &out, &err, &status, &error));
                g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
                g_assert_nonnull(strstr(out, "--read-only"));
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/inventory/matches-sysfs", test_inventory_matches_sysfs);
        g_test_add_func("/inventory/group-viability", test_group_viability);
        g_test_add_func("/inventory/bad-addresses", test_bad_addresses);
        g_test_add_func("/inventory/object-manager", test_object_manager);
        g_test_add_func("/inventory/describe", test_describe);
        g_test_add_func("/inventory/ctl", test_ctl);
        g_test_add_func("/inventory/options", test_options);
        return g_test_run();
}
