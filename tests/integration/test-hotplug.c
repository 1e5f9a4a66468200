/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Following udev (issue 5): the real daemon on a private bus against the
 * recorded q35 testbed, with hotplug played in the testbed the way the
 * kernel does it and uevents sent to the daemon's libudev monitor (see
 * harness_uevent() in daemon-harness.h and /hotplug/delivery for why not
 * umockdev_testbed_uevent()).  Every test follows the daemon's
 * signals with a GDBus subscription, in order, and checks the model at the
 * end through ListDevices/GetDevice/Describe; tests 1 to 5 also run
 * tests/integration/subscriber.py (a VM manager that asks once and then
 * follows signals only) and compare its view with Describe().
 *
 * How the kernel orders things, and so the tests (drivers/base/core.c,
 * dd.c, drivers/pci/bus.c, remove.c, iov.c):
 * - add: device_add() creates the directory and its attributes, sends
 *   "add", then probes (bus_probe_device()): the driver link appears and
 *   "bind" (with DRIVER=) follows.  The IOMMU group link is there at
 *   "add" (iommu_probe_device() runs from the bus notifier before it).
 * - bind/unbind: driver_sysfs_add() makes the driver link before probe()
 *   and driver_bound() sends "bind"; __device_release_driver() removes the
 *   link and then sends "unbind" (without DRIVER=).  A driver's probe may
 *   add child devices (vfio-pci: vfio-dev/vfioN, and the group's
 *   /sys/devices/virtual/vfio/N) before the "bind".
 * - remove: pci_stop_and_remove_bus_device() first releases the driver
 *   ("unbind"), then device_del() sends "remove" before kobject_del()
 *   removes the directory.  A listener of udev's events (the daemon: the
 *   "udev" netlink group) gets the event after udevd ran its rules, when
 *   the directory is gone; the tests build the message while the device
 *   exists (harness_uevent_new), remove it, then send it, so the daemon
 *   must not need the directory for a remove.
 * - SR-IOV (sriov_numvfs=N, iov.c): for each VF pci_device_add() sends
 *   "add", then pci_iov_sysfs_link() makes physfn/virtfnN, then
 *   pci_bus_add_device() probes ("bind" if the PF's autoprobe is on);
 *   sriov_enable() ends with one "change" on the PF.  sriov_disable()
 *   removes VF 0 first: its virtfnN and physfn links, then unbind and
 *   remove; it sends no event for the PF.
 * The fake kernel (tests/fakekernel) plays the daemon's own sysfs writes
 * (tests 5b and 7); it sends no uevents, as the daemon must cope without.
 *
 * Runs as root (uid 0): polkit is not asked. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <umockdev.h>
#include <unistd.h>

#include "daemon-harness.h"

#define TESTBED "testbeds/q35-vm.umockdev"
#define BUS_NAME "org.pciassign1"
#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define DEV_IFACE "org.pciassign1.Device"
#define GROUP_IFACE "org.pciassign1.Group"
#define RES_IFACE "org.pciassign1.Reservation"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define E(name) "org.pciassign1.Error." name

/* the testbed (q35-vm.umockdev) */
#define MODEL_NIC "0000:02:00.0"   /* e1000e 8086:10d3, whose recording the new function copies */
#define NEW_FN "0000:03:00.0"      /* behind the empty root port 00:08.0 (secondary bus 3) */
#define NEW_DEVPATH "/devices/pci0000:00/0000:00:08.0/0000:03:00.0"
#define NEW_SYSPATH "/sys" NEW_DEVPATH
#define NEW_GROUP 25               /* groups 0..24 are taken */
#define NIC3 "0000:0a:00.0"        /* e1000e alone in group 21 behind root port 00:0b.0 */
#define NIC3_GROUP 21
#define PF "0000:01:00.0"          /* nvme with SR-IOV, sriov_totalvfs 2 */
#define VF1 "0000:01:00.1"         /* group 23 */
#define VF2 "0000:01:00.2"         /* group 24 */
#define MARKER "0000:00:03.0"      /* e1000e on the root bus: its "change" marks the end of a burst */

static const char *const no_args[] = { NULL };

G_DEFINE_AUTOPTR_CLEANUP_FUNC(json_object, json_object_put)

/* g_test_fail_printf() keeps only the last message: each goes to stderr too */
#define fail_case(...)                                                     \
        do {                                                               \
                g_autofree gchar *_m = g_strdup_printf(__VA_ARGS__);       \
                g_printerr("FAIL: %s\n", _m);                              \
                g_test_fail_printf("%s", _m);                              \
        } while (0)

static gboolean under_wrapper(void) {
        return g_getenv("PCI_ASSIGND_TEST_WRAPPER") != NULL;
}

/* harness_wait_for() multiplies by 4 under a wrapper itself */
#define WAIT_MS 20000

/* ---- small things ---- */

static void assert_ok(const GError *error, const char *what) {
        if (error)
                g_error("%s failed: %s", what, error->message);
}

static void assert_remote_error(const GError *error, const char *name) {
        g_autofree gchar *remote = NULL;

        if (!error)
                g_error("expected %s, but the call succeeded", name);
        remote = g_dbus_error_get_remote_error(error);
        if (g_strcmp0(remote, name) != 0)
                g_error("expected %s, got %s: %s", name, remote, error->message);
}

static gchar *file_text(const char *path) {
        gchar *s = NULL;
        g_autoptr(GError) error = NULL;

        g_file_get_contents(path, &s, NULL, &error);
        assert_ok(error, path);
        return s;
}

static void put_text(const char *path, const char *text) {
        g_autoptr(GError) error = NULL;

        g_file_set_contents(path, text, -1, &error);
        assert_ok(error, path);
}

static void rm_rf(const char *path) {
        g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", path);
        g_assert_cmpint(system(cmd), ==, 0);
}

/* "../" times the number of components of a devpath below /sys */
static gchar *dotdots_for(const char *devpath) {
        GString *s = g_string_new(NULL);

        for (const char *p = devpath; *p; p++)
                if (*p == '/')
                        g_string_append(s, "../");
        return g_string_free(s, FALSE);
}

/* ---- D-Bus calls ---- */

static GVariant *mgr(Harness *h, const char *method, GVariant *args, const char *type, GError **error) {
        return harness_call(h, MANAGER_PATH, MANAGER_IFACE, method, args, type ? G_VARIANT_TYPE(type) : NULL, error);
}

static gchar *device_path(Harness *h, const char *addr) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = mgr(h, "GetDevice", g_variant_new("(s)", addr), "(o)", &error);
        gchar *path;

        assert_ok(error, "GetDevice");
        g_variant_get(r, "(o)", &path);
        return path;
}

static void assert_no_device(Harness *h, const char *addr) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = mgr(h, "GetDevice", g_variant_new("(s)", addr), "(o)", &error);

        assert_remote_error(error, E("NoSuchDevice"));
}

static gchar *group_path(Harness *h, guint32 group) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = mgr(h, "GetGroup", g_variant_new("(u)", group), "(o)", &error);
        gchar *path;

        assert_ok(error, "GetGroup");
        g_variant_get(r, "(o)", &path);
        return path;
}

static GVariant *prop(Harness *h, const char *path, const char *iface, const char *name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = harness_call(h, path, PROPS_IFACE, "Get", g_variant_new("(ss)", iface, name),
                                             G_VARIANT_TYPE("(v)"), &error);
        GVariant *v;

        assert_ok(error, name);
        g_variant_get(r, "(v)", &v);
        return v;
}

static gchar *prop_s(Harness *h, const char *path, const char *iface, const char *name) {
        g_autoptr(GVariant) v = prop(h, path, iface, name);
        return g_variant_dup_string(v, NULL);
}

static gchar *dev_s(Harness *h, const char *addr, const char *name) {
        g_autofree gchar *path = device_path(h, addr);
        return prop_s(h, path, DEV_IFACE, name);
}

static gboolean dev_b(Harness *h, const char *addr, const char *name) {
        g_autofree gchar *path = device_path(h, addr);
        g_autoptr(GVariant) v = prop(h, path, DEV_IFACE, name);
        return g_variant_get_boolean(v);
}

static void assert_dev_s(Harness *h, const char *addr, const char *name, const char *want) {
        g_autofree gchar *got = dev_s(h, addr, name);
        if (g_strcmp0(got, want) != 0)
                g_error("%s.%s is \"%s\", expected \"%s\"", addr, name, got, want);
}

/* the codes of a device's Reasons, space-separated */
static gchar *dev_reason_codes(Harness *h, const char *addr) {
        g_autofree gchar *path = device_path(h, addr);
        g_autoptr(GVariant) v = prop(h, path, DEV_IFACE, "Reasons");
        GString *s = g_string_new(NULL);
        GVariantIter it;
        const char *code, *text;

        g_variant_iter_init(&it, v);
        while (g_variant_iter_next(&it, "(&s&s)", &code, &text))
                g_string_append_printf(s, "%s%s", s->len ? " " : "", code);
        return g_string_free(s, FALSE);
}

/* ListDevices as address -> "driver|group|verdict|reservation|path" */
static GHashTable *list_devices(Harness *h) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = mgr(h, "ListDevices", NULL, "(a(ssisso))", &error);
        GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GVariantIter) it = NULL;
        const char *addr, *drv, *verdict, *res, *path;
        gint32 group;

        assert_ok(error, "ListDevices");
        g_variant_get(r, "(a(ssisso))", &it);
        while (g_variant_iter_next(it, "(&s&si&s&s&o)", &addr, &drv, &group, &verdict, &res, &path))
                g_hash_table_insert(t, g_strdup(addr),
                                    g_strdup_printf("%s|%d|%s|%s|%s", drv, group, verdict, res, path));
        return t;
}

static json_object *describe(Harness *h) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = mgr(h, "Describe", NULL, "(s)", &error);
        const char *s;
        json_object *o;

        assert_ok(error, "Describe");
        g_variant_get(r, "(&s)", &s);
        o = json_tokener_parse(s);
        g_assert_nonnull(o);
        return o;
}

static json_object *describe_device(json_object *doc, const char *addr) {
        json_object *devs = json_object_object_get(doc, "devices");

        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *d = json_object_array_get_idx(devs, i);
                if (g_str_equal(json_object_get_string(json_object_object_get(d, "address")), addr))
                        return d;
        }
        return NULL;
}

static json_object *describe_group(json_object *doc, int id) {
        json_object *groups = json_object_object_get(doc, "groups");

        for (size_t i = 0; i < json_object_array_length(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);
                if (json_object_get_int(json_object_object_get(g, "id")) == id)
                        return g;
        }
        return NULL;
}

static const char *jstr(json_object *o, const char *key) {
        return json_object_get_string(json_object_object_get(o, key));
}

static gchar *reserve(Harness *h, const char *owner, const char *addr) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        GVariantBuilder fns, opts;
        gchar *path;

        g_variant_builder_init(&fns, G_VARIANT_TYPE("a(sb)"));
        g_variant_builder_add(&fns, "(sb)", addr, TRUE);
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        r = mgr(h, "Reserve", g_variant_new("(sa(sb)a{sv})", owner, &fns, &opts), "(o)", &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", &path);
        return path;
}

static void res_call_ok(Harness *h, const char *path, const char *method) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, method, NULL, NULL, &error);

        assert_ok(error, method);
}

/* ---- signals, in the order they came ---- */

/* Each signal of the daemon as one line of text, matched with globs:
 *   DeviceAdded ('0000:03:00.0', objectpath '/org/...')   (g_variant_print of the arguments)
 *   InterfacesAdded /org/.../device/... org.pciassign1.Device ... Driver='nvme'   (interfaces sorted)
 *   InterfacesRemoved /org/... org.pciassign1.Device
 *   PropertiesChanged /org/... org.pciassign1.Device Driver='e1000e' Present=true ... [invalidated: ...] */
typedef struct Rec {
        Harness *h;
        GPtrArray *sigs;
        guint sub;
} Rec;

static int cmp_str(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static void on_signal(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                      const gchar *member, GVariant *params, gpointer user_data) {
        Rec *rec = user_data;
        GString *s = g_string_new(member);

        if (g_strcmp0(sender, "org.freedesktop.DBus") == 0) {
                g_string_free(s, TRUE);
                return;
        }
        if (g_str_equal(member, "InterfacesAdded") || g_str_equal(member, "InterfacesRemoved")) {
                g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
                g_autoptr(GVariant) second = g_variant_get_child_value(params, 1);
                g_autofree gchar *driver = NULL;
                const char *opath;
                GVariantIter it;

                g_variant_get_child(params, 0, "&o", &opath);
                g_variant_iter_init(&it, second);
                if (g_str_equal(member, "InterfacesAdded")) {
                        const char *name;
                        GVariant *props;
                        while (g_variant_iter_next(&it, "{&s@a{sv}}", &name, &props)) {
                                const char *drv = NULL;
                                /* a function may come with its driver bound already */
                                if (g_str_equal(name, DEV_IFACE) && g_variant_lookup(props, "Driver", "&s", &drv))
                                        driver = g_strdup_printf(" Driver='%s'", drv);
                                g_ptr_array_add(names, g_strdup(name));
                                g_variant_unref(props);
                        }
                } else {
                        const char *name;
                        while (g_variant_iter_next(&it, "&s", &name))
                                g_ptr_array_add(names, g_strdup(name));
                }
                g_ptr_array_sort(names, cmp_str);
                g_string_append_printf(s, " %s", opath);
                for (guint i = 0; i < names->len; i++)
                        g_string_append_printf(s, " %s", (const char *) names->pdata[i]);
                if (driver)
                        g_string_append(s, driver);
        } else if (g_str_equal(member, "PropertiesChanged") && g_str_equal(iface, PROPS_IFACE)) {
                g_autoptr(GVariant) changed = g_variant_get_child_value(params, 1);
                g_autoptr(GVariant) inval = g_variant_get_child_value(params, 2);
                const char *on_iface, *name;
                GVariantIter it;
                GVariant *v;

                g_variant_get_child(params, 0, "&s", &on_iface);
                g_string_append_printf(s, " %s %s", path, on_iface);
                g_variant_iter_init(&it, changed);
                while (g_variant_iter_next(&it, "{&sv}", &name, &v)) {
                        g_autofree gchar *p = g_variant_print(v, FALSE);
                        g_string_append_printf(s, " %s=%s", name, p);
                        g_variant_unref(v);
                }
                if (g_variant_n_children(inval) > 0) {
                        g_autofree gchar *p = g_variant_print(inval, FALSE);
                        g_string_append_printf(s, " [invalidated: %s]", p);
                }
        } else {
                g_autofree gchar *p = g_variant_print(params, TRUE);
                g_string_append_printf(s, " %s", p);
        }
        g_ptr_array_add(rec->sigs, g_string_free(s, FALSE));
}

static Rec *rec_new(Harness *h) {
        Rec *rec = g_new0(Rec, 1);

        rec->h = h;
        rec->sigs = g_ptr_array_new_with_free_func(g_free);
        rec->sub = g_dbus_connection_signal_subscribe(h->conn, NULL, NULL, NULL, NULL, NULL,
                                                      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, rec, NULL);
        return rec;
}

static void rec_free(Rec *rec) {
        g_dbus_connection_signal_unsubscribe(rec->h->conn, rec->sub);
        g_ptr_array_free(rec->sigs, TRUE);
        g_free(rec);
}

static void rec_dump(Rec *rec, guint from) {
        for (guint i = from; i < rec->sigs->len; i++)
                g_printerr("  signal %u: %s\n", i, (const char *) rec->sigs->pdata[i]);
}

static gboolean rec_find(Rec *rec, guint from, const char *glob, guint *ret) {
        for (guint i = from; i < rec->sigs->len; i++)
                if (g_pattern_match_simple(glob, rec->sigs->pdata[i])) {
                        if (ret)
                                *ret = i;
                        return TRUE;
                }
        return FALSE;
}

static guint rec_count(Rec *rec, guint from, const char *glob) {
        guint n = 0;

        for (guint i = from; i < rec->sigs->len; i++)
                if (g_pattern_match_simple(glob, rec->sigs->pdata[i]))
                        n++;
        return n;
}

/* Waits for a signal matching glob at or after `from`; returns its index. */
static guint rec_wait(Rec *rec, guint from, const char *glob) {
        gint64 deadline = g_get_monotonic_time() + (gint64) WAIT_MS * 1000 * (under_wrapper() ? 4 : 1);
        guint i;

        for (;;) {
                if (rec_find(rec, from, glob, &i))
                        return i;
                if (rec->h->exited)
                        g_error("the daemon exited (status %d) while waiting for %s", rec->h->exit_status, glob);
                if (g_get_monotonic_time() > deadline) {
                        rec_dump(rec, 0);
                        g_error("no signal \"%s\" after signal %u", glob, from);
                }
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
}

/* Each glob in order, each after the one before; *from moves past the
 * last.  A NULL-terminated list. */
static void rec_expect(Rec *rec, guint *from, const char *const *globs) {
        guint at = *from;

        for (const char *const *g = globs; *g; g++)
                at = rec_wait(rec, at, *g) + 1;
        *from = at;
}

/* No signal matching glob at or after `from`. */
static void rec_none(Rec *rec, guint from, const char *glob) {
        guint i;

        if (rec_find(rec, from, glob, &i)) {
                rec_dump(rec, 0);
                g_printerr("  (looked from signal %u on)\n", from);
                g_error("unexpected signal %u: %s (matches \"%s\")", i, (const char *) rec->sigs->pdata[i], glob);
        }
}

/* ---- the testbed, played like the kernel ---- */

/* "/sys/devices/..." of a function of the testbed */
static gchar *tb_syspath(Harness *h, const char *addr) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s", addr);
        g_autofree gchar *link = harness_sys_path(h, rel);
        g_autofree gchar *target = g_file_read_link(link, NULL);
        const char *dev;

        if (!target)
                g_error("%s is not in the testbed", addr);
        dev = strstr(target, "/devices/");
        g_assert_nonnull(dev);
        return g_strconcat("/sys", dev, NULL);
}

/* Changes what a Device property shows (NUMANode: 0 and -1 in turn), so
 * that the "change" uevent sent next is a real change: the daemon sends
 * no PropertiesChanged for one that changed nothing. */
static void tb_touch(Harness *h, const char *syspath) {
        g_autofree gchar *file = g_build_filename(h->testbed_dir, syspath, "numa_node", NULL), *now = NULL;

        if (!g_file_get_contents(file, &now, NULL, NULL))
                now = g_strdup("-1");
        umockdev_testbed_set_attribute(h->testbed, syspath, "numa_node", atoi(now) == 0 ? "-1" : "0");
}

static gchar *tb_dir(Harness *h, const char *syspath) {
        return g_build_filename(h->testbed_dir, syspath, NULL);
}

static int tb_group(Harness *h, const char *syspath) {
        g_autofree gchar *dir = tb_dir(h, syspath);
        g_autofree gchar *link = g_build_filename(dir, "iommu_group", NULL);
        g_autofree gchar *t = g_file_read_link(link, NULL);
        g_autofree gchar *base = t ? g_path_get_basename(t) : NULL;

        return base ? atoi(base) : -1;
}

/* /dev/vfio/N goes when no function of group N is on a vfio driver (the
 * fake kernel makes it on its binds; a test's unbind must take it away) */
static void tb_vfio_node_sync(Harness *h, int group) {
        g_autofree gchar *gdir = NULL, *node = NULL, *dotnode = NULL, *rel = NULL;
        g_autoptr(GDir) d = NULL;
        const char *name;
        gboolean any = FALSE;

        if (group < 0)
                return;
        rel = g_strdup_printf("kernel/iommu_groups/%d/devices", group);
        gdir = harness_sys_path(h, rel);
        d = g_dir_open(gdir, 0, NULL);
        while (d && (name = g_dir_read_name(d))) {
                g_autofree gchar *drv = harness_sys_driver(h, name);
                if (g_str_has_prefix(drv, "vfio"))
                        any = TRUE;
        }
        if (any)
                return;
        node = g_strdup_printf("%s/dev/vfio/%d", h->testbed_dir, group);
        dotnode = g_strdup_printf("%s/dev/.node/vfio_%d", h->testbed_dir, group);
        (void) g_unlink(node);
        (void) g_unlink(dotnode);
}

/* the links of a bound driver, without an event */
static void tb_link_driver(Harness *h, const char *syspath, const char *drv) {
        g_autofree gchar *dir = tb_dir(h, syspath);
        g_autofree gchar *addr = g_path_get_basename(syspath);
        g_autofree gchar *dd = dotdots_for(syspath + strlen("/sys"));
        g_autofree gchar *rel = g_strdup_printf("bus/pci/drivers/%s", drv);
        g_autofree gchar *drvdir = harness_sys_path(h, rel);
        g_autofree gchar *target = g_strdup_printf("%sbus/pci/drivers/%s", dd, drv);
        g_autofree gchar *link = g_build_filename(dir, "driver", NULL);
        g_autofree gchar *back = g_build_filename(drvdir, addr, NULL);
        g_autofree gchar *back_target = g_strdup_printf("../../../..%s", syspath + strlen("/sys"));

        g_assert_cmpint(g_mkdir_with_parents(drvdir, 0755), ==, 0);
        for (const char *f = "bind"; f; f = g_str_equal(f, "bind") ? "unbind" : NULL) {
                g_autofree gchar *p = g_build_filename(drvdir, f, NULL);
                if (!g_file_test(p, G_FILE_TEST_EXISTS))
                        put_text(p, "");
        }
        if (symlink(target, link) < 0)
                g_error("symlink %s: %s", link, g_strerror(errno));
        (void) unlink(back);
        if (symlink(back_target, back) < 0)
                g_error("symlink %s: %s", back, g_strerror(errno));
}

/* the links of the bound driver gone, without an event; returns the driver */
static gchar *tb_unlink_driver(Harness *h, const char *syspath) {
        g_autofree gchar *dir = tb_dir(h, syspath);
        g_autofree gchar *addr = g_path_get_basename(syspath);
        g_autofree gchar *link = g_build_filename(dir, "driver", NULL);
        g_autofree gchar *t = g_file_read_link(link, NULL);
        gchar *drv;

        if (!t)
                return NULL;
        drv = g_path_get_basename(t);
        g_assert_cmpint(unlink(link), ==, 0);
        {
                g_autofree gchar *rel = g_strdup_printf("bus/pci/drivers/%s/%s", drv, addr);
                g_autofree gchar *back = harness_sys_path(h, rel);
                (void) unlink(back);
        }
        if (g_str_has_prefix(drv, "vfio"))
                tb_vfio_node_sync(h, tb_group(h, syspath));
        return drv;
}

static void tb_bind(Harness *h, const char *syspath, const char *drv) {
        tb_link_driver(h, syspath, drv);
        g_assert_cmpuint(harness_uevent(h, syspath, "bind"), >=, 1);
}

static void tb_unbind(Harness *h, const char *syspath) {
        g_autofree gchar *drv = tb_unlink_driver(h, syspath);

        g_assert_nonnull(drv);
        g_assert_cmpuint(harness_uevent(h, syspath, "unbind"), >=, 1);
}

/* The device, its IOMMU group link (and the group when it is empty) gone,
 * without an event */
static void tb_delete(Harness *h, const char *syspath) {
        g_autofree gchar *addr = g_path_get_basename(syspath);
        int group = tb_group(h, syspath);

        umockdev_testbed_remove_device(h->testbed, syspath);
        if (group >= 0) {
                g_autofree gchar *rel = g_strdup_printf("kernel/iommu_groups/%d", group);
                g_autofree gchar *gdir = harness_sys_path(h, rel);
                g_autofree gchar *devs = g_build_filename(gdir, "devices", NULL);
                g_autofree gchar *link = g_build_filename(devs, addr, NULL);
                g_autoptr(GDir) d = NULL;

                (void) unlink(link);
                d = g_dir_open(devs, 0, NULL);
                if (!d || !g_dir_read_name(d))
                        rm_rf(gdir);
        }
}

/* Hot removal as the kernel does it: unbind, then "remove", which a udev
 * listener receives when the directory is gone.  With a recorder, the
 * daemon's DriverChanged of the unbind is waited for first: a daemon that
 * reads the function only after it is gone rightly says nothing about
 * the unbind, and the tests want to know the order. */
static guint rec_wait(Rec *rec, guint from, const char *glob);

static void tb_remove(Harness *h, Rec *rec, const char *syspath) {
        g_autofree gchar *dir = tb_dir(h, syspath);
        g_autofree gchar *link = g_build_filename(dir, "driver", NULL);
        HarnessUevent *ev;

        if (g_file_test(link, G_FILE_TEST_IS_SYMLINK)) {
                g_autofree gchar *addr = g_path_get_basename(syspath);
                g_autofree gchar *glob = g_strdup_printf("DriverChanged ('%s', *, '')", addr);
                guint from = rec ? rec->sigs->len : 0;

                tb_unbind(h, syspath);
                if (rec)
                        rec_wait(rec, from, glob);
        }
        ev = harness_uevent_new(h, syspath, "remove");
        tb_delete(h, syspath);
        g_assert_cmpuint(harness_uevent_send(h, ev), >=, 1);
}

/* A recorded paragraph of the testbed file */
static gchar *testbed_paragraph(const char *addr) {
        g_autofree gchar *file = harness_data_path(TESTBED);
        g_autofree gchar *text = file_text(file);
        g_autofree gchar *tail = g_strdup_printf("/%s\n", addr);
        g_auto(GStrv) paras = g_strsplit(text, "\n\n", -1);

        for (gchar **p = paras; *p; p++) {
                const char *nl = strchr(*p, '\n');
                g_autofree gchar *first = nl ? g_strndup(*p, (gsize) (nl - *p + 1)) : NULL;
                if (first && g_str_has_prefix(first, "P: ") && g_str_has_suffix(first, tail))
                        return g_strconcat(*p, "\n", NULL);
        }
        g_error("no %s in %s", addr, file);
}

typedef struct Edit {
        const char *devpath;         /* "/devices/..." */
        int group;
        guint device_id;             /* 0: keep */
        const char *const *attrs;    /* NAME=VALUE of A: lines to replace (value as in the record) */
} Edit;

/* A recorded function made into another one: at devpath (address from its
 * last component), in IOMMU group `group`, without a driver (the test
 * binds), without SR-IOV links (they come later), optionally with another
 * device id (config space, PCI_ID, device, modalias). */
static gchar *record_edit(const char *para, const Edit *e) {
        g_autofree gchar *addr = g_path_get_basename(e->devpath);
        g_autofree gchar *dd = dotdots_for(e->devpath);
        g_auto(GStrv) lines = g_strsplit(para, "\n", -1);
        GString *out = g_string_new(NULL);

        for (gchar **lp = lines; *lp; lp++) {
                const char *l = *lp;

                if (!*l)
                        continue;
                if (g_str_has_prefix(l, "P: ")) {
                        g_string_append_printf(out, "P: %s\n", e->devpath);
                        continue;
                }
                if (g_str_has_prefix(l, "E: DRIVER=") || g_str_has_prefix(l, "L: driver=") ||
                    g_str_has_prefix(l, "L: firmware_node=") || g_str_has_prefix(l, "L: physfn=") ||
                    g_str_has_prefix(l, "L: virtfn") || strstr(l, "bus/pci/drivers/"))
                        continue;
                if (g_str_has_prefix(l, "E: PCI_SLOT_NAME=")) {
                        g_string_append_printf(out, "E: PCI_SLOT_NAME=%s\n", addr);
                        continue;
                }
                if (g_str_has_prefix(l, "E: ID_PATH=")) {
                        g_string_append_printf(out, "E: ID_PATH=pci-%s\n", addr);
                        continue;
                }
                if (g_str_has_prefix(l, "E: ID_PATH_TAG=")) {
                        g_autofree gchar *tag = g_strdup(addr);
                        g_strdelimit(tag, ":.", '_');
                        g_string_append_printf(out, "E: ID_PATH_TAG=pci-%s\n", tag);
                        continue;
                }
                if (g_str_has_prefix(l, "L: iommu_group=")) {
                        g_string_append_printf(out, "L: iommu_group=%skernel/iommu_groups/%d\n", dd, e->group);
                        continue;
                }
                if (strstr(l, "kernel/iommu_groups/")) {
                        if (g_str_has_prefix(l, "A: ") && strstr(l, "/type="))
                                g_string_append_printf(out, "A: %skernel/iommu_groups/%d/type=%s\n", dd, e->group,
                                                       strstr(l, "/type=") + strlen("/type="));
                        else if (g_str_has_prefix(l, "L: ") && strstr(l, "/devices/"))
                                g_string_append_printf(out, "L: %skernel/iommu_groups/%d/devices/%s=../../../..%s\n",
                                                       dd, e->group, addr, e->devpath);
                        continue;
                }
                if (e->device_id) {
                        if (g_str_has_prefix(l, "E: PCI_ID=")) {
                                g_autofree gchar *vendor = g_strndup(l + strlen("E: PCI_ID="), 4);
                                g_string_append_printf(out, "E: PCI_ID=%s:%04X\n", vendor, e->device_id);
                                continue;
                        }
                        if (g_str_has_prefix(l, "A: device=")) {
                                g_string_append_printf(out, "A: device=0x%04x\\n\n", e->device_id);
                                continue;
                        }
                        if (g_str_has_prefix(l, "E: ID_MODEL_FROM_DATABASE="))
                                continue;
                        if (g_str_has_prefix(l, "H: config=")) {
                                gchar *c = g_strdup(l);
                                gchar le[5];
                                g_snprintf(le, sizeof le, "%02X%02X", e->device_id & 0xff, e->device_id >> 8);
                                memcpy(c + strlen("H: config=") + 4, le, 4);
                                g_string_append_printf(out, "%s\n", c);
                                g_free(c);
                                continue;
                        }
                        if (strstr(l, "modalias=") || strstr(l, "MODALIAS=")) {
                                /* ...d0000XXXX... */
                                gchar *c = g_strdup(l), *d = strstr(c, "d0000");
                                if (d) {
                                        gchar id[5];
                                        g_snprintf(id, sizeof id, "%04X", e->device_id);
                                        memcpy(d + 5, id, 4);
                                }
                                g_string_append_printf(out, "%s\n", c);
                                g_free(c);
                                continue;
                        }
                }
                if (g_str_has_prefix(l, "A: ") && e->attrs) {
                        gboolean replaced = FALSE;
                        for (const char *const *a = e->attrs; *a && !replaced; a++) {
                                const char *eq = strchr(*a, '=');
                                g_autofree gchar *key = g_strndup(*a, (gsize) (eq - *a + 1));
                                if (g_str_has_prefix(l + 3, key)) {
                                        g_string_append_printf(out, "A: %s\n", *a);
                                        replaced = TRUE;
                                }
                        }
                        if (replaced)
                                continue;
                }
                g_string_append_printf(out, "%s\n", l);
        }
        g_string_append_c(out, '\n');
        return g_string_free(out, FALSE);
}

/* the e1000e of MODEL_NIC at NEW_FN, in its own group */
static gchar *new_function_record(guint device_id) {
        g_autofree gchar *para = testbed_paragraph(MODEL_NIC);
        Edit e = { .devpath = NEW_DEVPATH, .group = NEW_GROUP, .device_id = device_id };

        return record_edit(para, &e);
}

/* ---- the subscriber (tests/integration/subscriber.py) ---- */

typedef struct Sub {
        GPid pid;
        int out;
        GString *buf;
        gchar *until;
} Sub;

static void sub_child_setup(gpointer user_data) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* reads what is there; FALSE at EOF */
static gboolean sub_read(Sub *s, int timeout_ms) {
        struct pollfd p = { .fd = s->out, .events = POLLIN };
        char b[65536];
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return TRUE;
        n = read(s->out, b, sizeof b);
        if (n <= 0)
                return FALSE;
        g_string_append_len(s->buf, b, n);
        return TRUE;
}

static Sub *sub_start(Harness *h) {
        Sub *s = g_new0(Sub, 1);
        g_autofree gchar *script = g_build_filename(g_getenv("PCI_ASSIGND_SOURCE_ROOT"), "tests", "integration",
                                                    "subscriber.py", NULL);
        const char *argv[] = { "/usr/bin/python3", script, "--address", h->bus_address, "--until", NULL, NULL };
        g_auto(GStrv) env = g_get_environ();
        g_autoptr(GError) error = NULL;
        gint64 deadline = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;

        s->until = g_build_filename(h->tmpdir, "subscriber-until", NULL);
        (void) g_unlink(s->until);
        argv[5] = s->until;
        env = g_environ_unsetenv(env, "LD_PRELOAD");
        env = g_environ_unsetenv(env, "PYTHONPATH");
        env = g_environ_unsetenv(env, "PYTHONHOME");
        s->buf = g_string_new(NULL);
        g_spawn_async_with_pipes(NULL, (gchar **) argv, env, G_SPAWN_DO_NOT_REAP_CHILD, sub_child_setup, NULL,
                                 &s->pid, NULL, &s->out, NULL, &error);
        assert_ok(error, "starting subscriber.py");
        while (!strstr(s->buf->str, "READY\n")) {
                if (!sub_read(s, 100) || g_get_monotonic_time() > deadline)
                        g_error("subscriber.py did not become ready: %s", s->buf->str);
        }
        g_string_erase(s->buf, 0, (gssize) (strstr(s->buf->str, "READY\n") - s->buf->str + 6));
        return s;
}

/* Its view, once it has followed everything up to now. */
static json_object *sub_finish(Sub *s) {
        gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
        int status = 0;
        json_object *o;

        put_text(s->until, "");
        while (sub_read(s, 100))
                if (g_get_monotonic_time() > deadline)
                        g_error("subscriber.py did not finish: %s", s->buf->str);
        g_assert_cmpint(waitpid(s->pid, &status, 0), ==, s->pid);
        g_spawn_close_pid(s->pid);
        close(s->out);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                g_error("subscriber.py failed (status %d): %s", status, s->buf->str);
        o = json_tokener_parse(s->buf->str);
        if (!o)
                g_error("subscriber.py printed no JSON: %s", s->buf->str);
        g_string_free(s->buf, TRUE);
        g_free(s->until);
        g_free(s);
        return o;
}

/* Its view equals Describe() for what it follows: every function's
 * address, driver, IOMMU group and presence, every reservation's state,
 * and it met nothing it could not make sense of about them; with
 * group_objects, also the group objects (their members) and what it could
 * not make sense of about them (/hotplug/group-objects).  A difference
 * fails the test case (the rest of it still runs). */
static void sub_check(Harness *h, Sub *s, gboolean group_objects, const char *when) {
        g_autoptr(json_object) view = NULL, doc = NULL;
        json_object *vdevs, *vres, *vgroups, *devs, *groups, *res, *problems, *gproblems;
        g_autofree gchar *vtext = NULL;
        guint failures = 0;

#define sub_fail(...)                                                      \
        do {                                                               \
                g_autofree gchar *_t = g_strdup_printf(__VA_ARGS__);       \
                failures++;                                                \
                fail_case("subscriber, %s: %s", when, _t);                 \
        } while (0)
        view = sub_finish(s);
        doc = describe(h);
        vtext = g_strdup(json_object_to_json_string_ext(view, JSON_C_TO_STRING_PRETTY));
        vdevs = json_object_object_get(view, "devices");
        vres = json_object_object_get(view, "reservations");
        vgroups = json_object_object_get(view, "groups");
        problems = json_object_object_get(view, "problems");
        gproblems = json_object_object_get(view, "group_problems");
        devs = json_object_object_get(doc, "devices");
        groups = json_object_object_get(doc, "groups");
        res = json_object_object_get(doc, "reservations");

        if (json_object_array_length(problems) > 0)
                sub_fail("it could not follow: %s", json_object_to_json_string(problems));
        if ((size_t) json_object_object_length(vdevs) != json_object_array_length(devs))
                sub_fail("it knows %d functions, Describe() %zu", json_object_object_length(vdevs),
                         json_object_array_length(devs));
        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *d = json_object_array_get_idx(devs, i), *v;
                const char *addr = jstr(d, "address");

                if (!json_object_object_get_ex(vdevs, addr, &v)) {
                        sub_fail("it does not know %s", addr);
                        continue;
                }
                if (g_strcmp0(jstr(d, "driver"), jstr(v, "driver")) != 0 ||
                    json_object_get_int(json_object_object_get(d, "iommu_group")) !=
                            json_object_get_int(json_object_object_get(v, "group")) ||
                    json_object_get_boolean(json_object_object_get(d, "present")) !=
                            json_object_get_boolean(json_object_object_get(v, "present")))
                        sub_fail("%s: it has driver \"%s\", IOMMUGroup %d, Present %d; Describe() \"%s\", %d, %d",
                                 addr, jstr(v, "driver"), json_object_get_int(json_object_object_get(v, "group")),
                                 json_object_get_boolean(json_object_object_get(v, "present")), jstr(d, "driver"),
                                 json_object_get_int(json_object_object_get(d, "iommu_group")),
                                 json_object_get_boolean(json_object_object_get(d, "present")));
        }
        if (group_objects) {
                if (json_object_array_length(gproblems) > 0)
                        sub_fail("it could not follow the group objects: %s", json_object_to_json_string(gproblems));
                if ((size_t) json_object_object_length(vgroups) != json_object_array_length(groups))
                        sub_fail("it knows %d group objects, Describe() %zu", json_object_object_length(vgroups),
                                 json_object_array_length(groups));
                for (size_t i = 0; i < json_object_array_length(groups); i++) {
                        json_object *g = json_object_array_get_idx(groups, i), *v;
                        g_autofree gchar *id = g_strdup_printf("%d",
                                                               json_object_get_int(json_object_object_get(g, "id")));
                        const char *want = json_object_to_json_string(json_object_object_get(g, "devices"));

                        if (!json_object_object_get_ex(vgroups, id, &v))
                                sub_fail("it does not know group %s", id);
                        else if (!g_str_equal(want, json_object_to_json_string(v)))
                                sub_fail("group %s: it has %s, Describe() %s", id, json_object_to_json_string(v),
                                         want);
                }
        }
        if ((size_t) json_object_object_length(vres) != json_object_array_length(res))
                sub_fail("it knows %d reservations, Describe() %zu", json_object_object_length(vres),
                         json_object_array_length(res));
        for (size_t i = 0; i < json_object_array_length(res); i++) {
                json_object *r = json_object_array_get_idx(res, i), *v;

                if (!json_object_object_get_ex(vres, jstr(r, "id"), &v))
                        sub_fail("it does not know reservation %s", jstr(r, "id"));
                else if (g_strcmp0(jstr(r, "state"), jstr(v, "state")) != 0)
                        sub_fail("reservation %s: it has %s, Describe() %s", jstr(r, "id"), jstr(v, "state"),
                                 jstr(r, "state"));
        }
#undef sub_fail
        if (failures)
                g_printerr("the subscriber's view (%s): %s\n", when, vtext);
        g_test_message("subscriber (%s): %d functions, %d groups, %d reservations, signals %s", when,
                       json_object_object_length(vdevs), json_object_object_length(vgroups),
                       json_object_object_length(vres),
                       json_object_to_json_string(json_object_object_get(view, "signals")));
}

/* ---- steps shared by the tests ---- */

/* A "change" of MARKER and its PropertiesChanged: every event sent
 * before it has been handled and its signals are here. */
static guint sync_daemon(Harness *h, Rec *rec) {
        g_autofree gchar *syspath = tb_syspath(h, MARKER);
        g_autofree gchar *path = device_path(h, MARKER);
        g_autofree gchar *glob = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *", path);
        guint from = rec->sigs->len;

        tb_touch(h, syspath);
        g_assert_cmpuint(harness_uevent(h, syspath, "change"), >=, 1);
        return rec_wait(rec, from, glob) + 1;
}

static Harness *start(gboolean fakekernel) {
        Harness *h = harness_new(TESTBED);

        if (fakekernel)
                harness_use_fakekernel(h);
        harness_start_daemon(h, no_args);
        return h;
}

/* test 1: NEW_FN appears behind the empty root port and e1000e binds */
static gchar *hot_add_new_function(Harness *h, Rec *rec, guint *from) {
        g_autofree gchar *record = new_function_record(0);
        g_autofree gchar *ia = NULL, *pc = NULL;
        gchar *path;
        guint i;

        harness_add_devices(h, record);
        g_assert_cmpuint(harness_uevent(h, NEW_SYSPATH, "add"), ==, 1);
        i = rec_wait(rec, *from, "DeviceAdded ('" NEW_FN "', objectpath '*')");
        {
                const char *s = rec->sigs->pdata[i], *q = strstr(s, "objectpath '") + strlen("objectpath '");
                path = g_strndup(q, (gsize) (strchr(q, '\'') - q));
        }
        ia = g_strdup_printf("InterfacesAdded %s *" DEV_IFACE "*", path);
        *from = i;
        rec_expect(rec, from, (const char *const[]) { "DeviceAdded ('" NEW_FN "', *", ia, NULL });

        tb_bind(h, NEW_SYSPATH, "e1000e");
        pc = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Driver='e1000e'*", path);
        rec_expect(rec, from, (const char *const[]) { "DriverChanged ('" NEW_FN "', '', 'e1000e')", pc, NULL });
        return path;
}

/* ---- 0. a uevent reaches the daemon's monitor ---- */

/* umockdev_testbed_uevent() itself cannot be used here: it looks the
 * device up with libudev in the calling process, which is not under
 * umockdev's preload, so it finds only devices of the real /sys ("ERROR:
 * uevent_sender_send: No such device") and sends nothing; and its
 * non-blocking send aborts the process on a full queue.  The delivery is
 * umockdev's all the same: the daemon's monitor socket in the testbed. */
static void test_delivery(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *syspath = tb_syspath(h, MODEL_NIC);
        g_autofree gchar *path = device_path(h, MODEL_NIC);
        g_autofree gchar *glob = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Driver='e1000e'*", path);
        g_autoptr(GDir) d = g_dir_open(h->testbed_dir, 0, NULL);
        const char *name;
        guint sockets = 0;

        while ((name = g_dir_read_name(d)))
                if (g_str_has_prefix(name, "event"))
                        sockets++;
        /* one libudev monitor: the daemon's */
        g_assert_cmpuint(sockets, ==, 1);
        tb_touch(h, syspath);
        g_assert_cmpuint(harness_uevent(h, syspath, "change"), ==, 1);
        rec_wait(rec, 0, glob);
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 1. hot-add with bind ---- */

static void test_add_bind(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        Sub *sub = sub_start(h);
        g_autoptr(GHashTable) before = list_devices(h), after = NULL;
        g_autofree gchar *path = NULL, *gpath = NULL;
        g_autoptr(json_object) doc = NULL;
        g_autoptr(GVariant) members = NULL;
        json_object *d, *g;
        guint from = 0;

        g_assert_false(g_hash_table_contains(before, NEW_FN));
        assert_no_device(h, NEW_FN);

        path = hot_add_new_function(h, rec, &from);
        {
                g_autofree gchar *got = device_path(h, NEW_FN);
                g_assert_cmpstr(got, ==, path);
        }

        after = list_devices(h);
        g_assert_cmpuint(g_hash_table_size(after), ==, g_hash_table_size(before) + 1);
        g_assert_true(g_hash_table_contains(after, NEW_FN));
        {
                const char *entry = g_hash_table_lookup(after, NEW_FN);
                g_autofree gchar *prefix = g_strdup_printf("e1000e|%d|", NEW_GROUP);
                g_autofree gchar *suffix = g_strdup_printf("||%s", path);
                if (!g_str_has_prefix(entry, prefix) || !g_str_has_suffix(entry, suffix))
                        g_error("ListDevices has %s as %s", NEW_FN, entry);
        }
        assert_dev_s(h, NEW_FN, "Driver", "e1000e");

        doc = describe(h);
        d = describe_device(doc, NEW_FN);
        g_assert_nonnull(d);
        g_assert_cmpstr(jstr(d, "driver"), ==, "e1000e");
        g_assert_cmpint(json_object_get_int(json_object_object_get(d, "iommu_group")), ==, NEW_GROUP);
        g_assert_true(json_object_get_boolean(json_object_object_get(d, "present")));
        g = describe_group(doc, NEW_GROUP);
        g_assert_nonnull(g);
        g_assert_cmpstr(json_object_to_json_string(json_object_object_get(g, "devices")), ==, "[ \"" NEW_FN "\" ]");

        gpath = group_path(h, NEW_GROUP);
        members = prop(h, gpath, GROUP_IFACE, "Devices");
        {
                g_autofree gchar *p = g_variant_print(members, FALSE);
                g_assert_cmpstr(p, ==, "['" NEW_FN "']");
        }
        sub_check(h, sub, FALSE, "at the end");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* A function whose driver bound before the daemon read its add event
 * (the usual case on a real host): DriverChanged '' -> e1000e right after
 * DeviceAdded, and the bind event that follows sends no second one. */
static void test_add_already_bound(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *record = new_function_record(0), *path = NULL, *ia = NULL;
        guint from = 0, i;

        harness_add_devices(h, record);
        tb_link_driver(h, NEW_SYSPATH, "e1000e");
        g_assert_cmpuint(harness_uevent(h, NEW_SYSPATH, "add"), ==, 1);
        g_assert_cmpuint(harness_uevent(h, NEW_SYSPATH, "bind"), ==, 1);
        i = rec_wait(rec, from, "DeviceAdded ('" NEW_FN "', objectpath '*')");
        {
                const char *s = rec->sigs->pdata[i], *q = strstr(s, "objectpath '") + strlen("objectpath '");
                path = g_strndup(q, (gsize) (strchr(q, '\'') - q));
        }
        ia = g_strdup_printf("InterfacesAdded %s *" DEV_IFACE "*Driver='e1000e'*", path);
        from = i;
        rec_expect(rec, &from, (const char *const[]) {
                "DeviceAdded ('" NEW_FN "', *", ia, "DriverChanged ('" NEW_FN "', '', 'e1000e')", NULL });
        sync_daemon(h, rec);
        g_assert_cmpuint(rec_count(rec, 0, "DriverChanged ('" NEW_FN "', *"), ==, 1);
        assert_dev_s(h, NEW_FN, "Driver", "e1000e");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 2. unbind and remove ---- */

static void test_unbind_remove(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        Sub *sub = sub_start(h);
        g_autoptr(GHashTable) before = list_devices(h), after = NULL;
        g_autofree gchar *path = NULL, *ir = NULL, *removed = NULL, *any = NULL;
        guint from = 0, at;

        path = hot_add_new_function(h, rec, &from);

        tb_unbind(h, NEW_SYSPATH);
        rec_expect(rec, &from, (const char *const[]) { "DriverChanged ('" NEW_FN "', 'e1000e', '')", NULL });
        assert_dev_s(h, NEW_FN, "Driver", "");

        at = from;
        {
                HarnessUevent *ev = harness_uevent_new(h, NEW_SYSPATH, "remove");
                tb_delete(h, NEW_SYSPATH);
                g_assert_cmpuint(harness_uevent_send(h, ev), ==, 1);
        }
        removed = g_strdup_printf("DeviceRemoved ('" NEW_FN "', objectpath '%s')", path);
        ir = g_strdup_printf("InterfacesRemoved %s " DEV_IFACE, path);
        rec_expect(rec, &from, (const char *const[]) { removed, ir, NULL });
        sync_daemon(h, rec);
        /* nothing about the object once it is gone */
        any = g_strdup_printf("* %s *", path);
        rec_none(rec, from, any);
        rec_none(rec, at, "InterfacesAdded *");

        after = list_devices(h);
        g_assert_false(g_hash_table_contains(after, NEW_FN));
        g_assert_cmpuint(g_hash_table_size(after), ==, g_hash_table_size(before));
        assert_no_device(h, NEW_FN);
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = mgr(h, "GetGroup", g_variant_new("(u)", NEW_GROUP), "(o)", &error);
                assert_remote_error(error, E("NoSuchGroup"));
        }
        sub_check(h, sub, FALSE, "at the end");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 1+2. the group object of a new group ----
 *
 * An ObjectManager announces every object below it that appears or goes
 * (InterfacesAdded/InterfacesRemoved): the group object of group 25 comes
 * with its first member and goes with its last, and a client that follows
 * signals only (subscriber.py) knows it exactly then.  The checks fail
 * this test case without stopping the program, so that the other cases
 * still run. */
static void test_group_objects(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        Sub *sub = sub_start(h);
        g_autofree gchar *path = NULL, *gpath = NULL, *gia = NULL, *gir = NULL;
        guint from = 0, at;

        path = hot_add_new_function(h, rec, &from);
        gpath = group_path(h, NEW_GROUP);
        sync_daemon(h, rec);
        gia = g_strdup_printf("InterfacesAdded %s *" GROUP_IFACE "*", gpath);
        if (!rec_find(rec, 0, gia, NULL)) {
                rec_dump(rec, 0);
                fail_case("group %d appeared with %s, but no InterfacesAdded for %s", NEW_GROUP, NEW_FN,
                                   gpath);
        }
        sub_check(h, sub, TRUE, "after the add");

        sub = sub_start(h);
        at = rec->sigs->len;
        tb_remove(h, rec, NEW_SYSPATH);
        rec_wait(rec, at, "DeviceRemoved ('" NEW_FN "', *");
        sync_daemon(h, rec);
        gir = g_strdup_printf("InterfacesRemoved %s *" GROUP_IFACE "*", gpath);
        if (!rec_find(rec, at, gir, NULL)) {
                rec_dump(rec, at);
                fail_case("group %d went with %s, but no InterfacesRemoved for %s", NEW_GROUP, NEW_FN, gpath);
        }
        sub_check(h, sub, TRUE, "after the remove");

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 1b. a function appears in a group that has members ----
 *
 * Verdicts change with hotplug (org.pciassign1(5), THIS VERSION), and
 * Verdict/Reasons emit PropertiesChanged: the members of group 22
 * (0b:00.0, 0b:00.1, e1000e) have a group-shared reason naming their
 * peers; a third function 0b:00.2 appears in the group, and their Reasons
 * name it from then on, which a client only learns from a signal. */
#define MF0 "0000:0b:00.0"
#define MF2 "0000:0b:00.2"
#define MF_GROUP 22

static gchar *dev_reasons_text(Harness *h, const char *addr) {
        g_autofree gchar *path = device_path(h, addr);
        g_autoptr(GVariant) v = prop(h, path, DEV_IFACE, "Reasons");
        return g_variant_print(v, FALSE);
}

static void test_group_peer_verdicts(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *para = testbed_paragraph("0000:0b:00.1"), *record = NULL, *mf0_path = device_path(h, MF0);
        g_autofree gchar *dp = NULL, *syspath = NULL, *before = dev_reasons_text(h, MF0), *after = NULL;
        g_autofree gchar *glob = NULL;
        guint from = rec->sigs->len;
        Edit e = { .group = MF_GROUP };

        dp = g_strdup(strstr(para, "P: ") + 3);
        *strchr(dp, '\n') = 0;
        *strrchr(dp, '.') = 0;
        {
                gchar *full = g_strconcat(dp, ".2", NULL);
                g_free(dp);
                dp = full;
        }
        e.devpath = dp;
        record = record_edit(para, &e);
        syspath = g_strconcat("/sys", dp, NULL);
        harness_add_devices(h, record);
        tb_link_driver(h, syspath, "e1000e");
        g_assert_cmpuint(harness_uevent(h, syspath, "add"), ==, 1);
        g_assert_cmpuint(harness_uevent(h, syspath, "bind"), ==, 1);
        rec_wait(rec, from, "DeviceAdded ('" MF2 "', *");
        sync_daemon(h, rec);

        after = dev_reasons_text(h, MF0);
        g_test_message("%s Reasons before: %s", MF0, before);
        g_test_message("%s Reasons after:  %s", MF0, after);
        g_assert_cmpstr(before, !=, after);
        g_assert_nonnull(strstr(after, MF2));
        glob = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Reasons=*" MF2 "*", mf0_path);
        if (!rec_find(rec, from, glob, NULL)) {
                rec_dump(rec, from);
                fail_case("%s's Reasons now name %s, but no PropertiesChanged of %s said so", MF0, MF2, mf0_path);
        }

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 3. someone binds vfio-pci the way the kernel lets them ---- */

/* vfio-pci's probe adds vfio-dev/vfioN below the function and, for the
 * first function of a group, the group's /sys/devices/virtual/vfio/N:
 * neither is a PCI function (subsystems vfio-dev and vfio). */
static void add_vfio_children(Harness *h, const char *syspath, int group, guint minor) {
        g_autofree gchar *child_name = g_strdup_printf("%s/vfio-dev/vfio%u", syspath + strlen("/sys/devices/"), minor);
        g_autofree gchar *group_name = g_strdup_printf("virtual/vfio/%d", group);
        g_autofree gchar *devname = g_strdup_printf("/dev/vfio/devices/vfio%u", minor);
        g_autofree gchar *gdevname = g_strdup_printf("/dev/vfio/%d", group);
        g_autofree gchar *dev = g_strdup_printf("511:%u", minor), *gdev = g_strdup_printf("243:%d", group);
        g_autofree gchar *child = NULL, *gchild = NULL;

        gchild = umockdev_testbed_add_device(h->testbed, "vfio", group_name, NULL, "dev", gdev, NULL, "DEVNAME",
                                             gdevname, NULL);
        g_assert_nonnull(gchild);
        g_assert_cmpuint(harness_uevent(h, gchild, "add"), ==, 1);
        child = umockdev_testbed_add_device(h->testbed, "vfio-dev", child_name, NULL, "dev", dev, NULL, "DEVNAME",
                                            devname, NULL);
        g_assert_nonnull(child);
        g_assert_cmpuint(harness_uevent(h, child, "add"), ==, 1);
}

static void test_vfio_bind_sequence(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        Sub *sub = sub_start(h);
        g_autofree gchar *path = NULL, *dir = NULL, *ovr = NULL, *pc1 = NULL, *pc2 = NULL, *codes = NULL,
                         *gpath = NULL, *verdict_host = NULL, *verdict_vfio = NULL;
        g_autoptr(GVariant) viable = NULL;
        guint from = 0, n_before;

        path = hot_add_new_function(h, rec, &from);
        codes = dev_reason_codes(h, NEW_FN);
        verdict_host = dev_s(h, NEW_FN, "Verdict");
        g_test_message("on e1000e: %s (%s)", verdict_host, codes);
        g_assert_nonnull(strstr(codes, "host-driver-bound"));
        gpath = group_path(h, NEW_GROUP);
        viable = prop(h, gpath, GROUP_IFACE, "Viable");
        g_assert_false(g_variant_get_boolean(viable));
        g_clear_pointer(&viable, g_variant_unref);
        g_clear_pointer(&codes, g_free);

        /* driverctl/virsh without pci-assignd: driver_override (no event),
         * unbind, drivers_probe -> vfio-pci */
        dir = tb_dir(h, NEW_SYSPATH);
        ovr = g_build_filename(dir, "driver_override", NULL);
        put_text(ovr, "vfio-pci\n");
        tb_unbind(h, NEW_SYSPATH);
        pc1 = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Driver=''*DriverOverride='vfio-pci'*", path);
        rec_expect(rec, &from, (const char *const[]) { "DriverChanged ('" NEW_FN "', 'e1000e', '')", pc1, NULL });
        codes = dev_reason_codes(h, NEW_FN);
        g_assert_null(strstr(codes, "host-driver-bound"));
        g_clear_pointer(&codes, g_free);

        n_before = rec->sigs->len;
        tb_link_driver(h, NEW_SYSPATH, "vfio-pci");
        add_vfio_children(h, NEW_SYSPATH, NEW_GROUP, 0);
        g_assert_cmpuint(harness_uevent(h, NEW_SYSPATH, "bind"), ==, 1);
        pc2 = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Driver='vfio-pci'*Verdict=*Reasons=*", path);
        rec_expect(rec, &from, (const char *const[]) { "DriverChanged ('" NEW_FN "', '', 'vfio-pci')", pc2, NULL });
        sync_daemon(h, rec);
        /* the vfio children are no functions: nothing was added */
        rec_none(rec, n_before, "DeviceAdded *");
        rec_none(rec, n_before, "InterfacesAdded *");
        rec_none(rec, n_before, "DriverChanged ('" NEW_FN "', 'vfio-pci', *");

        assert_dev_s(h, NEW_FN, "Driver", "vfio-pci");
        assert_dev_s(h, NEW_FN, "DriverOverride", "vfio-pci");
        codes = dev_reason_codes(h, NEW_FN);
        verdict_vfio = dev_s(h, NEW_FN, "Verdict");
        g_test_message("on vfio-pci: %s (%s)", verdict_vfio, codes);
        g_assert_null(strstr(codes, "host-driver-bound"));
        g_assert_cmpstr(verdict_vfio, !=, "not-assignable");
        /* the Verdict the last PropertiesChanged carried is the current one */
        {
                guint i = rec_wait(rec, 0, pc2), last = i;
                g_autofree gchar *want = g_strdup_printf("*Verdict='%s'*", verdict_vfio);
                while (rec_find(rec, last + 1, pc2, &i))
                        last = i;
                g_assert_true(g_pattern_match_simple(want, rec->sigs->pdata[last]));
        }
        viable = prop(h, gpath, GROUP_IFACE, "Viable");
        g_assert_true(g_variant_get_boolean(viable));

        sub_check(h, sub, FALSE, "at the end");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 4. SR-IOV: sriov_numvfs 0 -> 2 -> 0 on the nvme PF ---- */

static const char *const vfs[] = { VF1, VF2, NULL };
static const int vf_groups[] = { 23, 24 };

static void test_sriov(void) {
        Harness *h = harness_new(TESTBED);
        g_autofree gchar *pf_sys = tb_syspath(h, PF), *pf_dir = tb_dir(h, pf_sys);
        gchar *vf_records[2] = { NULL, NULL }, *vf_sys[2] = { NULL, NULL };
        g_autofree gchar *pf_path = NULL;
        g_autofree gchar *numvfs = g_build_filename(pf_dir, "sriov_numvfs", NULL);
        g_autofree gchar *pc_pf2 = NULL, *pc_pf0 = NULL, *codes = NULL;
        g_autoptr(json_object) doc = NULL;
        Rec *rec;
        Sub *sub;
        guint from = 0;

        /* start from sriov_numvfs=0 with the PF's autoprobe on (recorded:
         * 2 VFs, autoprobe 0) */
        for (int i = 0; i < 2; i++) {
                g_autofree gchar *para = testbed_paragraph(vfs[i]);
                g_autofree gchar *link = g_strdup_printf("%s/virtfn%d", pf_dir, i);
                g_autofree gchar *dp = NULL;
                Edit e = { .group = vf_groups[i] };

                vf_sys[i] = tb_syspath(h, vfs[i]);
                dp = g_strdup(vf_sys[i] + strlen("/sys"));
                e.devpath = dp;
                vf_records[i] = record_edit(para, &e);
                tb_delete(h, vf_sys[i]);
                g_assert_cmpint(unlink(link), ==, 0);
        }
        put_text(numvfs, "0\n");
        {
                g_autofree gchar *ap = g_build_filename(pf_dir, "sriov_drivers_autoprobe", NULL);
                put_text(ap, "1\n");
        }
        harness_start_daemon(h, no_args);
        rec = rec_new(h);
        sub = sub_start(h);
        pf_path = device_path(h, PF);
        assert_no_device(h, VF1);
        {
                g_autoptr(GVariant) v = prop(h, pf_path, DEV_IFACE, "VirtualFunctions");
                g_assert_cmpuint(g_variant_n_children(v), ==, 0);
        }

        /* 0 -> 2 */
        for (int i = 0; i < 2; i++) {
                g_autofree gchar *vf_dir = tb_dir(h, vf_sys[i]);
                g_autofree gchar *physfn = g_build_filename(vf_dir, "physfn", NULL);
                g_autofree gchar *virtfn = g_strdup_printf("%s/virtfn%d", pf_dir, i);
                g_autofree gchar *vf_target = g_strdup_printf("../%s", vfs[i]);
                g_autofree gchar *added = g_strdup_printf("DeviceAdded ('%s', *", vfs[i]);

                harness_add_devices(h, vf_records[i]);
                g_assert_cmpuint(harness_uevent(h, vf_sys[i], "add"), ==, 1);
                /* the daemon reads the VF before the links and the probe
                 * (so that the order of the signals is known) */
                rec_wait(rec, from, added);
                g_assert_cmpint(symlink("../" PF, physfn), ==, 0);
                g_assert_cmpint(symlink(vf_target, virtfn), ==, 0);
                tb_bind(h, vf_sys[i], "nvme");
        }
        put_text(numvfs, "2\n");
        g_assert_cmpuint(harness_uevent(h, pf_sys, "change"), ==, 1);

        for (int i = 0; i < 2; i++) {
                g_autofree gchar *vpath = device_path(h, vfs[i]);
                g_autofree gchar *added = g_strdup_printf("DeviceAdded ('%s', objectpath '%s')", vfs[i], vpath);
                g_autofree gchar *ia = g_strdup_printf("InterfacesAdded %s *" DEV_IFACE " Driver=''", vpath);
                g_autofree gchar *bound = g_strdup_printf("DriverChanged ('%s', '', 'nvme')", vfs[i]);
                /* the links were read with the bind */
                g_autofree gchar *pc = g_strdup_printf("PropertiesChanged %s " DEV_IFACE
                                                       " Driver='nvme' *PhysicalFunction='" PF "'*", vpath);
                guint at = from;
                rec_expect(rec, &at, (const char *const[]) { added, ia, bound, pc, NULL });
        }
        pc_pf2 = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *VirtualFunctions=['" VF1 "', '" VF2 "']*",
                                 pf_path);
        rec_wait(rec, from, pc_pf2);
        from = sync_daemon(h, rec);
        for (int i = 0; i < 2; i++) {
                assert_dev_s(h, vfs[i], "PhysicalFunction", PF);
                assert_dev_s(h, vfs[i], "Driver", "nvme");
        }
        codes = dev_reason_codes(h, PF);
        g_assert_nonnull(strstr(codes, "sriov-pf-with-vfs"));
        g_clear_pointer(&codes, g_free);
        doc = describe(h);
        for (int i = 0; i < 2; i++) {
                json_object *d = describe_device(doc, vfs[i]);
                g_assert_nonnull(d);
                g_assert_cmpstr(jstr(d, "physical_function"), ==, PF);
                g_assert_cmpint(json_object_get_int(json_object_object_get(d, "iommu_group")), ==, vf_groups[i]);
        }
        g_assert_cmpstr(json_object_to_json_string(json_object_object_get(describe_device(doc, PF),
                                                                          "virtual_functions")),
                        ==, "[ \"" VF1 "\", \"" VF2 "\" ]");

        /* 2 -> 0 as sriov_disable() does it: VF 0 first, links, unbind,
         * remove; then sriov_numvfs reads 0; no event for the PF */
        for (int i = 0; i < 2; i++) {
                g_autofree gchar *vf_dir = tb_dir(h, vf_sys[i]);
                g_autofree gchar *physfn = g_build_filename(vf_dir, "physfn", NULL);
                g_autofree gchar *virtfn = g_strdup_printf("%s/virtfn%d", pf_dir, i);

                g_assert_cmpint(unlink(virtfn), ==, 0);
                g_assert_cmpint(unlink(physfn), ==, 0);
                tb_remove(h, rec, vf_sys[i]);
        }
        put_text(numvfs, "0\n");
        for (int i = 0; i < 2; i++) {
                g_autofree gchar *unbound = g_strdup_printf("DriverChanged ('%s', 'nvme', '')", vfs[i]);
                g_autofree gchar *removed = g_strdup_printf("DeviceRemoved ('%s', *", vfs[i]);
                rec_expect(rec, &from, (const char *const[]) { unbound, removed, "InterfacesRemoved *" DEV_IFACE, NULL });
        }
        sync_daemon(h, rec);
        assert_no_device(h, VF1);
        assert_no_device(h, VF2);
        /* the PF's VFs are gone: without an event of the PF, only the
         * removal of its VFs can tell the daemon (the virtfnN links are
         * gone before each "remove"; sriov_numvfs reads 2 until the last
         * VF is gone, so the sriov-pf-with-vfs reason is not checked) */
        {
                g_autoptr(GVariant) v = prop(h, pf_path, DEV_IFACE, "VirtualFunctions");
                g_autofree gchar *p = g_variant_print(v, FALSE);
                pc_pf0 = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *VirtualFunctions=[] *", pf_path);
                if (g_variant_n_children(v) != 0)
                        fail_case("after sriov_numvfs=0 the PF's VirtualFunctions are still %s", p);
                else if (!rec_find(rec, from, pc_pf0, NULL))
                        fail_case("the PF's VirtualFunctions became [] without a PropertiesChanged");
        }

        sub_check(h, sub, FALSE, "at the end");
        for (int i = 0; i < 2; i++) {
                g_free(vf_records[i]);
                g_free(vf_sys[i]);
        }
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 5. a reserved function disappears and comes back ---- */

static void assert_res_state(Harness *h, const char *rpath, const char *want) {
        g_autofree gchar *s = prop_s(h, rpath, RES_IFACE, "State");
        if (g_strcmp0(s, want) != 0) {
                g_autofree gchar *le = prop_s(h, rpath, RES_IFACE, "LastError");
                g_error("reservation %s is %s (LastError \"%s\"), expected %s", rpath, s, le, want);
        }
}

/* NIC3, reserved as r1 (and prepared), goes away: DriverChanged, then
 * DeviceRemoved, Conflict, degraded; the object stays, Present=false */
static void remove_reserved(Harness *h, Rec *rec, guint *from, const char *dpath, const char *bound_to) {
        g_autofree gchar *syspath = tb_syspath(h, NIC3);
        g_autofree gchar *unbound = g_strdup_printf("DriverChanged ('" NIC3 "', '%s', '')", bound_to);
        g_autofree gchar *removed = g_strdup_printf("DeviceRemoved ('" NIC3 "', objectpath '%s')", dpath);
        g_autofree gchar *gone = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Present=false*", dpath);
        g_autofree gchar *le = NULL, *codes = NULL, *ir = g_strdup_printf("InterfacesRemoved %s *", dpath);
        guint at = *from;

        tb_remove(h, rec, syspath);
        rec_expect(rec, from, (const char *const[]) { unbound, removed, "Conflict ('" NIC3 "', 'r1', *)",
                                                      "ReservationChanged ('r1', 'degraded')", NULL });
        rec_wait(rec, at, gone);
        *from = sync_daemon(h, rec);
        rec_none(rec, at, ir);

        g_assert_false(dev_b(h, NIC3, "Present"));
        {
                g_autofree gchar *again = device_path(h, NIC3);
                g_assert_cmpstr(again, ==, dpath);
        }
        codes = dev_reason_codes(h, NIC3);
        g_assert_nonnull(strstr(codes, "device-missing"));
        assert_res_state(h, "/org/pciassign1/reservation/r1", "degraded");
        le = prop_s(h, "/org/pciassign1/reservation/r1", RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        g_assert_nonnull(strstr(le, NIC3));
        {
                g_autoptr(GHashTable) l = list_devices(h);
                const char *entry = g_hash_table_lookup(l, NIC3);
                g_assert_nonnull(entry);
                g_assert_nonnull(strstr(entry, "|r1|"));
        }
}

/* The same device comes back; e1000e probes at once (before the daemon
 * sees the "add", as on a real host) */
static void readd_nic3(Harness *h, guint device_id) {
        g_autofree gchar *para = testbed_paragraph(NIC3);
        g_autofree gchar *syspath = NULL;
        const char *devpath = strstr(para, "P: ") + 3;
        g_autofree gchar *dp = g_strndup(devpath, (gsize) (strchr(devpath, '\n') - devpath));
        Edit e = { .devpath = dp, .group = NIC3_GROUP, .device_id = device_id };
        g_autofree gchar *record = record_edit(para, &e);

        syspath = g_strconcat("/sys", dp, NULL);
        harness_add_devices(h, record);
        tb_link_driver(h, syspath, "e1000e");
        g_assert_cmpuint(harness_uevent(h, syspath, "add"), ==, 1);
        g_assert_cmpuint(harness_uevent(h, syspath, "bind"), ==, 1);
}

static void test_reserved_removed(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        Sub *sub = sub_start(h);
        g_autofree gchar *rpath = NULL, *dpath = device_path(h, NIC3), *back = NULL, *present = NULL, *le = NULL;
        guint from = 0, at;

        rpath = reserve(h, "vm1", NIC3);
        g_assert_cmpstr(rpath, ==, "/org/pciassign1/reservation/r1");
        assert_res_state(h, rpath, "reserved");
        from = rec->sigs->len;

        remove_reserved(h, rec, &from, dpath, "e1000e");
        sub_check(h, sub, FALSE, "while the reserved function is gone");
        sub = sub_start(h);

        at = from;
        readd_nic3(h, 0);
        back = g_strdup_printf("DeviceAdded ('" NIC3 "', objectpath '%s')", dpath);
        present = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *Present=true*", dpath);
        rec_expect(rec, &from, (const char *const[]) { back, "ReservationChanged ('r1', 'reserved')", NULL });
        rec_wait(rec, at, present);
        sync_daemon(h, rec);
        /* the object stayed: it is not announced again */
        {
                g_autofree gchar *ia = g_strdup_printf("InterfacesAdded %s *", dpath);
                rec_none(rec, at, ia);
        }
        rec_none(rec, at, "Conflict *");
        g_assert_true(dev_b(h, NIC3, "Present"));
        assert_dev_s(h, NIC3, "Driver", "e1000e");
        assert_res_state(h, rpath, "reserved");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_assert_cmpstr(le, ==, "");

        sub_check(h, sub, FALSE, "at the end");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

static gboolean wait_testbed_driver(Harness *h, const char *addr, const char *want) {
        gint64 deadline = g_get_monotonic_time() + (gint64) WAIT_MS * 1000 * (under_wrapper() ? 4 : 1);

        for (;;) {
                g_autofree gchar *drv = harness_sys_driver(h, addr);
                if (g_str_equal(drv, want))
                        return TRUE;
                if (g_get_monotonic_time() > deadline)
                        return FALSE;
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(2000);
        }
}

static void test_reserved_removed_prepared(void) {
        Harness *h = start(TRUE);
        Rec *rec = rec_new(h);
        Sub *sub = sub_start(h);
        g_autofree gchar *rpath = NULL, *dpath = device_path(h, NIC3), *back = NULL, *log = NULL, *le = NULL;
        guint from, at;

        rpath = reserve(h, "vm1", NIC3);
        res_call_ok(h, rpath, "Prepare");
        assert_res_state(h, rpath, "prepared");
        g_assert_true(wait_testbed_driver(h, NIC3, "vfio-pci"));
        from = sync_daemon(h, rec);
        harness_fakekernel_log_clear(h);

        remove_reserved(h, rec, &from, dpath, "vfio-pci");
        sub_check(h, sub, FALSE, "while the prepared function is gone");
        sub = sub_start(h);

        at = from;
        readd_nic3(h, 0);
        back = g_strdup_printf("DeviceAdded ('" NIC3 "', objectpath '%s')", dpath);
        rec_expect(rec, &from, (const char *const[]) { back, "ReservationChanged ('r1', 'prepared')", NULL });
        if (!wait_testbed_driver(h, NIC3, "vfio-pci"))
                g_error("%s is not on vfio-pci again", NIC3);
        sync_daemon(h, rec);
        rec_none(rec, at, "Conflict *");
        /* from e1000e, or from "" if the daemon read it between the fake
         * kernel's unbind and probe */
        rec_wait(rec, at, "DriverChanged ('" NIC3 "', *, 'vfio-pci')");
        log = harness_fakekernel_log(h);
        g_test_message("the fake kernel was asked:\n%s", log);
        g_assert_nonnull(strstr(log, "override " NIC3 " \"vfio-pci\" ok"));
        g_assert_true(dev_b(h, NIC3, "Present"));
        assert_dev_s(h, NIC3, "Driver", "vfio-pci");
        assert_res_state(h, rpath, "prepared");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_assert_cmpstr(le, ==, "");

        sub_check(h, sub, FALSE, "at the end");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 5d. missing at start-up ----
 *
 * A reserved function that vanished while the daemon was down is the
 * same loss as at run time: the reservation starts degraded, with
 * LastError, and a Conflict is sent once the daemon owns its name (a
 * connection that listens to org.pciassign1 only gets signals its owner
 * sends, so one sent before would not reach it).  A restart while
 * degraded keeps it so; the function coming back returns it to where it
 * was (prepared: the state to return to is stored). */

static void on_conflict(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                        const gchar *member, GVariant *params, gpointer user_data) {
        g_ptr_array_add(user_data, g_variant_print(params, TRUE));
}

static void wait_conflicts(GPtrArray *seen, guint n) {
        gint64 deadline = g_get_monotonic_time() + (gint64) WAIT_MS * 1000 * (under_wrapper() ? 4 : 1);

        while (seen->len < n) {
                if (g_get_monotonic_time() > deadline)
                        g_error("%u Conflict signal(s) from org.pciassign1, not %u", seen->len, n);
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(2000);
        }
}

static void test_missing_at_start(void) {
        Harness *h = start(TRUE);
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) listener = NULL;
        g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GVariant) id = NULL;
        g_autofree gchar *rpath = NULL, *syspath = tb_syspath(h, NIC3), *le = NULL, *stored = NULL;
        guint sub;

        rpath = reserve(h, "vm1", NIC3);
        res_call_ok(h, rpath, "Prepare");
        g_assert_true(wait_testbed_driver(h, NIC3, "vfio-pci"));
        harness_stop_daemon(h);

        listener = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                                  G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                          NULL, NULL, &error);
        g_assert_no_error(error);
        sub = g_dbus_connection_signal_subscribe(listener, "org.pciassign1", MANAGER_IFACE, "Conflict", MANAGER_PATH,
                                                 NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_conflict, seen, NULL);
        /* a round trip: the match is in place before the daemon starts */
        id = g_dbus_connection_call_sync(listener, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "GetId", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                         &error);
        g_assert_no_error(error);

        /* gone while the daemon is down: no uevent reaches anyone */
        tb_delete(h, syspath);
        harness_fakekernel_log_clear(h);
        for (guint round = 1; round <= 2; round++) {
                harness_start_daemon(h, no_args);
                wait_conflicts(seen, round);
                g_test_message("Conflict %u: %s", round, (const char *) seen->pdata[round - 1]);
                g_assert_nonnull(strstr(seen->pdata[round - 1], "'" NIC3 "', 'r1', '" NIC3 " is not present at start-up'"));
                assert_res_state(h, rpath, "degraded");
                g_clear_pointer(&le, g_free);
                le = prop_s(h, rpath, RES_IFACE, "LastError");
                g_assert_cmpstr(le, ==, NIC3 " is not present at start-up");
                g_assert_false(dev_b(h, NIC3, "Present"));
                {
                        g_autofree gchar *log = harness_fakekernel_log(h);
                        g_assert_cmpstr(log, ==, "");
                }
                /* round 2: a restart while degraded */
                if (round == 1)
                        harness_stop_daemon(h);
        }
        {
                g_autofree gchar *file = g_build_filename(h->state_dir, "state.json", NULL);
                g_assert_true(g_file_get_contents(file, &stored, NULL, NULL));
                g_assert_nonnull(strstr(stored, "\"return_to\": \"prepared\""));
        }

        readd_nic3(h, 0);
        if (!wait_testbed_driver(h, NIC3, "vfio-pci"))
                g_error("%s is not on vfio-pci again", NIC3);
        for (int i = 0; i < 100; i++) {
                g_autofree gchar *st = prop_s(h, rpath, RES_IFACE, "State");
                if (g_str_equal(st, "prepared"))
                        break;
                g_usleep(50 * 1000);
        }
        assert_res_state(h, rpath, "prepared");
        g_clear_pointer(&le, g_free);
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_assert_cmpstr(le, ==, "");

        g_dbus_connection_signal_unsubscribe(listener, sub);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 5e. re-plug while in use ----
 *
 * MF0 + MF1 (one multifunction device, group 22) in use by a guest; MF1
 * goes (rescan, a slot power cycle) and comes back with e1000e bound, as
 * the kernel probes it.  While it is gone the reservation is degraded and
 * Prepare, Unprepare and Release are refused (the guest may still run).
 * When it is back, only MF1 is bound to vfio-pci again; MF0, which the
 * guest kept, is never written to; MF1 is reset only when every reset
 * method it has touches nothing but itself (first with "pm", which is
 * not: no reset; then with "flr": reset); the reservation is in-use again. */

#define MF0 "0000:0b:00.0"
#define MF1 "0000:0b:00.1"
#define MF_GROUP 22

static void readd_function(Harness *h, const char *addr, int group, const char *const *attrs) {
        g_autofree gchar *para = testbed_paragraph(addr);
        const char *devpath = strstr(para, "P: ") + 3;
        g_autofree gchar *dp = g_strndup(devpath, (gsize) (strchr(devpath, '\n') - devpath));
        Edit e = { .devpath = dp, .group = group, .attrs = attrs };
        g_autofree gchar *record = record_edit(para, &e), *syspath = g_strconcat("/sys", dp, NULL);

        harness_add_devices(h, record);
        tb_link_driver(h, syspath, "e1000e");
        g_assert_cmpuint(harness_uevent(h, syspath, "add"), ==, 1);
        g_assert_cmpuint(harness_uevent(h, syspath, "bind"), ==, 1);
}

static void res_call_fails(Harness *h, const char *path, const char *method, const char *error_name) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, method, NULL, NULL, &error);
        g_autofree gchar *remote = NULL;

        g_assert_null(r);
        g_assert_nonnull(error);
        remote = g_dbus_error_get_remote_error(error);
        g_assert_cmpstr(remote, ==, error_name);
}

static void wait_res_state(Harness *h, const char *rpath, const char *want) {
        gint64 deadline = g_get_monotonic_time() + (gint64) WAIT_MS * 1000 * (under_wrapper() ? 4 : 1);

        for (;;) {
                g_autofree gchar *st = prop_s(h, rpath, RES_IFACE, "State");
                if (g_str_equal(st, want))
                        return;
                if (g_get_monotonic_time() > deadline)
                        g_error("%s is %s, not %s", rpath, st, want);
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(2000);
        }
}

static void test_replug_in_use(void) {
        Harness *h = start(TRUE);
        Rec *rec = rec_new(h);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *rpath = NULL, *mf1_sys = tb_syspath(h, MF1);
        GVariantBuilder fns, opts;

        g_variant_builder_init(&fns, G_VARIANT_TYPE("a(sb)"));
        g_variant_builder_add(&fns, "(sb)", MF0, TRUE);
        g_variant_builder_add(&fns, "(sb)", MF1, TRUE);
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        r = mgr(h, "Reserve", g_variant_new("(sa(sb)a{sv})", "vm1", &fns, &opts), "(o)", &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", &rpath);
        res_call_ok(h, rpath, "Prepare");
        g_clear_pointer(&r, g_variant_unref);
        r = harness_call(h, rpath, RES_IFACE, "SetInUse", g_variant_new("(b)", TRUE), NULL, &error);
        assert_ok(error, "SetInUse");
        g_assert_true(wait_testbed_driver(h, MF0, "vfio-pci"));
        g_assert_true(wait_testbed_driver(h, MF1, "vfio-pci"));

        for (int round = 0; round < 2; round++) {
                static const char *const flr[] = { "reset_method=flr\\n", NULL };
                g_autofree gchar *log = NULL, *le = NULL;
                guint from;

                from = sync_daemon(h, rec);
                harness_fakekernel_log_clear(h);
                tb_remove(h, rec, mf1_sys);
                rec_wait(rec, from, "ReservationChanged ('r1', 'degraded')");
                assert_res_state(h, rpath, "degraded");
                /* its guest may run: nothing that resets or unbinds */
                res_call_fails(h, rpath, "Prepare", E("InUse"));
                res_call_fails(h, rpath, "Unprepare", E("InUse"));
                res_call_fails(h, rpath, "Release", E("InUse"));

                readd_function(h, MF1, MF_GROUP, round == 0 ? NULL : flr);
                if (!wait_testbed_driver(h, MF1, "vfio-pci"))
                        g_error("%s is not on vfio-pci again", MF1);
                wait_res_state(h, rpath, "in-use");
                sync_daemon(h, rec);
                log = harness_fakekernel_log(h);
                g_test_message("round %d: the fake kernel was asked:\n%s", round, log);
                g_assert_null(strstr(log, MF0));
                g_assert_nonnull(strstr(log, "override " MF1 " \"vfio-pci\" ok"));
                if (round == 0)
                        g_assert_null(strstr(log, "reset " MF1));
                else
                        g_assert_nonnull(strstr(log, "reset " MF1 " \"1\" ok"));
                assert_dev_s(h, MF0, "Driver", "vfio-pci");
                le = prop_s(h, rpath, RES_IFACE, "LastError");
                g_assert_cmpstr(le, ==, "");
        }

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 5f. a function goes while a job runs ----
 *
 * MF0 is removed while an Unprepare of MF0 + MF1 sleeps in MF1's slow
 * unbind from vfio-pci (MF0 is back on e1000e by then): the reservation
 * is degraded at once, and the job's own end, a success that alone would
 * make it reserved, does not overwrite that: it ends degraded, with
 * LastError naming MF0. */
static void on_call_done(GObject *src, GAsyncResult *res, gpointer user_data) {
        GVariant *r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(src), res, NULL);

        if (r)
                g_variant_unref(r);
        *(gboolean *) user_data = TRUE;
}

static void test_gone_during_job(void) {
        Harness *h = harness_new(TESTBED);
        g_autofree gchar *delay = g_strdup_printf("unbind@vfio-pci:%s:%u", MF1, under_wrapper() ? 6000u : 2000u);
        g_autofree gchar *rpath = NULL, *mf0_sys = NULL, *le = NULL, *flag = NULL, *log = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        GVariantBuilder fns, opts;
        gboolean done = FALSE;
        Rec *rec;

        harness_use_fakekernel(h);
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, no_args);
        rec = rec_new(h);
        mf0_sys = tb_syspath(h, MF0);
        flag = harness_sys_path(h, ".fakekernel-delayed");

        g_variant_builder_init(&fns, G_VARIANT_TYPE("a(sb)"));
        g_variant_builder_add(&fns, "(sb)", MF0, TRUE);
        g_variant_builder_add(&fns, "(sb)", MF1, TRUE);
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        r = mgr(h, "Reserve", g_variant_new("(sa(sb)a{sv})", "vm1", &fns, &opts), "(o)", &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", &rpath);
        res_call_ok(h, rpath, "Prepare");
        g_dbus_connection_call(h->conn, "org.pciassign1", rpath, RES_IFACE, "Unprepare", NULL, NULL,
                               G_DBUS_CALL_FLAGS_NONE, under_wrapper() ? 120000 : 30000, NULL, on_call_done, &done);
        {
                gint64 deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC;
                while (!g_file_test(flag, G_FILE_TEST_EXISTS)) {
                        if (g_get_monotonic_time() > deadline)
                                g_error("the slow reset never began:\n%s", harness_fakekernel_log(h));
                        if (!g_main_context_iteration(NULL, FALSE))
                                g_usleep(1000);
                }
        }
        g_assert_true(wait_testbed_driver(h, MF0, "e1000e"));   /* given back: the job is at MF1 */
        tb_remove(h, rec, mf0_sys);
        harness_wait_for(&done, WAIT_MS);
        g_assert_true(done);
        sync_daemon(h, rec);
        log = harness_fakekernel_log(h);
        g_test_message("the fake kernel was asked:\n%s", log);
        g_assert_nonnull(strstr(log, "probe drivers_probe \"" MF1 "\" ok"));   /* the job ended well */
        assert_res_state(h, rpath, "degraded");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_test_message("LastError after the job: %s", le);
        g_assert_nonnull(strstr(le, MF0));

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* A transient reservation that is degraded (MF1 gone) when its owner
 * leaves is given back as Release would (MF0 to e1000e), then deleted. */
static void test_degraded_owner_gone(void) {
        Harness *h = start(TRUE);
        Rec *rec = rec_new(h);
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GDBusConnection) client = NULL;
        g_autofree gchar *rpath = NULL, *mf1_sys = tb_syspath(h, MF1);
        GVariantBuilder fns, opts;
        guint from;

        client = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                        NULL, NULL, &error);
        g_assert_no_error(error);
        g_variant_builder_init(&fns, G_VARIANT_TYPE("a(sb)"));
        g_variant_builder_add(&fns, "(sb)", MF0, TRUE);
        g_variant_builder_add(&fns, "(sb)", MF1, TRUE);
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&opts, "{sv}", "persistent", g_variant_new_boolean(FALSE));
        r = g_dbus_connection_call_sync(client, "org.pciassign1", "/org/pciassign1", "org.pciassign1.Manager",
                                        "Reserve", g_variant_new("(sa(sb)a{sv})", "vm1", &fns, &opts),
                                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        g_assert_no_error(error);
        g_variant_get(r, "(o)", &rpath);
        g_clear_pointer(&r, g_variant_unref);
        r = g_dbus_connection_call_sync(client, "org.pciassign1", rpath, RES_IFACE, "Prepare", NULL, NULL,
                                        G_DBUS_CALL_FLAGS_NONE, under_wrapper() ? 120000 : 30000, NULL, &error);
        g_assert_no_error(error);
        g_assert_true(wait_testbed_driver(h, MF0, "vfio-pci"));

        from = sync_daemon(h, rec);
        tb_remove(h, rec, mf1_sys);
        rec_wait(rec, from, "ReservationChanged ('r1', 'degraded')");
        harness_fakekernel_log_clear(h);
        g_assert_true(g_dbus_connection_close_sync(client, NULL, &error));
        g_assert_no_error(error);
        rec_wait(rec, from, "ReservationRemoved ('r1', *)");
        g_assert_true(wait_testbed_driver(h, MF0, "e1000e"));
        {
                g_autofree gchar *log = harness_fakekernel_log(h);
                g_test_message("the fake kernel was asked:\n%s", log);
                g_assert_nonnull(strstr(log, "unbind vfio-pci \"" MF0 "\" ok"));
        }
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- lost events ----
 *
 * When the monitor's socket overruns (ENOBUFS: a flood bigger than the
 * receive buffer the unit allows), events are lost.  The daemon notices
 * and reads every function again: what changed meanwhile is announced as
 * the lost events would have been.  The overrun is played by the test
 * hook PCI_ASSIGND_TEST_UDEV_OVERRUN=1 (the first event received is
 * dropped and reported as ENOBUFS); the changes behind it are made in the
 * testbed without any event: a function appears, a driver lets go of
 * one, a function disappears. */
static void test_lost_events(void) {
        Harness *h = harness_new(TESTBED);
        Rec *rec;
        g_autofree gchar *record = new_function_record(0), *nic3_sys = NULL, *gone_sys = NULL, *log = NULL;
        g_autoptr(GHashTable) l = NULL;

        harness_set_env(h, "PCI_ASSIGND_TEST_UDEV_OVERRUN", "1");
        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        rec = rec_new(h);
        nic3_sys = tb_syspath(h, NIC3);
        gone_sys = tb_syspath(h, MODEL_NIC);

        harness_add_devices(h, record);
        tb_link_driver(h, NEW_SYSPATH, "e1000e");
        g_free(tb_unlink_driver(h, nic3_sys));
        tb_delete(h, gone_sys);
        /* any event: it is the one "lost" */
        {
                g_autofree gchar *marker = tb_syspath(h, MARKER);
                g_assert_cmpuint(harness_uevent(h, marker, "change"), >=, 1);
        }

        rec_wait(rec, 0, "DeviceAdded ('" NEW_FN "', *");
        rec_wait(rec, 0, "DriverChanged ('" NIC3 "', 'e1000e', '')");
        rec_wait(rec, 0, "DeviceRemoved ('" MODEL_NIC "', *");
        assert_dev_s(h, NEW_FN, "Driver", "e1000e");
        assert_dev_s(h, NIC3, "Driver", "");
        l = list_devices(h);
        g_assert_false(g_hash_table_contains(l, MODEL_NIC));
        g_assert_true(g_hash_table_contains(l, NEW_FN));
        log = harness_daemon_stderr(h);
        g_assert_nonnull(strstr(log, "udev events were lost"));
        g_assert_nonnull(strstr(log, "again after lost udev events; 1 gone."));
        /* what comes after the overrun is handled as usual */
        tb_link_driver(h, nic3_sys, "e1000e");
        g_assert_cmpuint(harness_uevent(h, nic3_sys, "bind"), >=, 1);
        rec_wait(rec, 0, "DriverChanged ('" NIC3 "', '', 'e1000e')");
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 5c. the object that stays: its const properties ----
 *
 * A reserved function that goes keeps its object (Present=false) and gets
 * it back when it returns.  Properties annotated EmitsChangedSignal
 * "const" never change for the life of an object (the D-Bus
 * specification; API.md: "const for what never changes"), so the object
 * shows the same vendor, device, class, ... while it is gone and after,
 * and a different device at the address (8086:10d4) is not shown through
 * that object with its const properties changed. */

/* names of the properties of iface annotated const, from Introspect */
static GPtrArray *const_properties(Harness *h, const char *path, const char *iface) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = harness_call(h, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
                                             G_VARIANT_TYPE("(s)"), &error);
        g_autoptr(GDBusNodeInfo) node = NULL;
        GDBusInterfaceInfo *ii;
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *xml;

        assert_ok(error, "Introspect");
        g_variant_get(r, "(&s)", &xml);
        node = g_dbus_node_info_new_for_xml(xml, &error);
        assert_ok(error, "parsing the introspection");
        ii = g_dbus_node_info_lookup_interface(node, iface);
        g_assert_nonnull(ii);
        for (GDBusPropertyInfo **p = ii->properties; p && *p; p++) {
                const char *a = g_dbus_annotation_info_lookup((*p)->annotations,
                                                              "org.freedesktop.DBus.Property.EmitsChangedSignal");
                if (g_strcmp0(a, "const") == 0)
                        g_ptr_array_add(names, g_strdup((*p)->name));
        }
        return names;
}

/* "Name=value" of each const property */
static GPtrArray *const_values(Harness *h, const char *path, GPtrArray *names) {
        g_autoptr(GVariant) all = harness_get_all(h, path, DEV_IFACE);
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

        for (guint i = 0; i < names->len; i++) {
                g_autoptr(GVariant) v = g_variant_lookup_value(all, names->pdata[i], NULL);
                g_autofree gchar *p = v ? g_variant_print(v, FALSE) : g_strdup("(missing)");
                g_ptr_array_add(a, g_strdup_printf("%s=%s", (const char *) names->pdata[i], p));
        }
        return a;
}

/* the names of those that differ, "" if none */
static gchar *const_diff(GPtrArray *a, GPtrArray *b) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < a->len; i++)
                if (!g_str_equal(a->pdata[i], b->pdata[i])) {
                        const char *eq = strchr(a->pdata[i], '=');
                        g_string_append_printf(s, "%s%.*s", s->len ? ", " : "", (int) (eq - (const char *) a->pdata[i]),
                                               (const char *) a->pdata[i]);
                        g_printerr("  %s -> %s\n", (const char *) a->pdata[i], (const char *) b->pdata[i]);
                }
        return g_string_free(s, FALSE);
}

static void test_reserved_const_properties(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *dpath = device_path(h, NIC3), *rpath = NULL, *syspath = tb_syspath(h, NIC3);
        g_autofree gchar *ir = NULL, *d_gone = NULL, *d_back = NULL, *d_other = NULL;
        g_autoptr(GPtrArray) names = const_properties(h, dpath, DEV_IFACE);
        g_autoptr(GPtrArray) present = NULL, gone = NULL, back = NULL, other = NULL;
        guint from, at;

        g_assert_cmpuint(names->len, >, 5);
        rpath = reserve(h, "vm1", NIC3);
        present = const_values(h, dpath, names);
        from = rec->sigs->len;
        remove_reserved(h, rec, &from, dpath, "e1000e");
        gone = const_values(h, dpath, names);
        d_gone = const_diff(present, gone);
        if (*d_gone)
                fail_case("const properties of %s changed while it is gone: %s", NIC3, d_gone);

        at = from;
        readd_nic3(h, 0);
        rec_wait(rec, at, "ReservationChanged ('r1', 'reserved')");
        from = sync_daemon(h, rec);
        back = const_values(h, dpath, names);
        d_back = const_diff(present, back);
        if (*d_back)
                fail_case("const properties of %s differ after it came back: %s", NIC3, d_back);

        /* a different device at the address */
        tb_remove(h, rec, syspath);
        rec_wait(rec, from, "ReservationChanged ('r1', 'degraded')");
        at = rec->sigs->len;
        readd_nic3(h, 0x10d4);
        rec_wait(rec, at, "Conflict ('" NIC3 "', 'r1', *)");
        sync_daemon(h, rec);
        other = const_values(h, dpath, names);
        ir = g_strdup_printf("InterfacesRemoved %s *", dpath);
        d_other = const_diff(present, other);
        if (*d_other && !rec_find(rec, at, ir, NULL))
                fail_case("a different device at %s is shown through the same object: its const %s changed",
                          NIC3, d_other);

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 6. a different device appears at a reserved address ---- */

static void test_different_device(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *rpath = NULL, *dpath = device_path(h, NIC3), *le = NULL, *syspath = tb_syspath(h, NIC3);
        guint from, at;

        rpath = reserve(h, "vm1", NIC3);
        from = rec->sigs->len;
        remove_reserved(h, rec, &from, dpath, "e1000e");

        /* 8086:10d4 instead of 8086:10d3 */
        at = from;
        readd_nic3(h, 0x10d4);
        rec_expect(rec, &from, (const char *const[]) { "DeviceAdded ('" NIC3 "', *",
                                                       "Conflict ('" NIC3 "', 'r1', *different device*)", NULL });
        sync_daemon(h, rec);
        rec_none(rec, at, "ReservationChanged ('r1', 'reserved')");
        assert_res_state(h, rpath, "degraded");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        g_assert_nonnull(strstr(le, "different device"));
        g_assert_true(dev_b(h, NIC3, "Present"));

        /* it goes, and the reserved one comes back: whole again */
        tb_remove(h, rec, syspath);
        at = rec->sigs->len;
        rec_wait(rec, from, "DeviceRemoved ('" NIC3 "', *");
        readd_nic3(h, 0);
        rec_wait(rec, at, "ReservationChanged ('r1', 'reserved')");
        sync_daemon(h, rec);
        assert_res_state(h, rpath, "reserved");

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 7. a host driver takes a prepared function ----
 *
 * org.pciassign1(5), Conflict: the reservation becomes degraded and the
 * daemon binds the function to the vfio driver again through its job
 * queue; when that worked the reservation is back in the state it had,
 * else it stays degraded with the error in LastError. */

/* prepared r1 of NIC3; then vfio-pci/unbind and e1000e/bind by someone
 * else, seen apart; returns where the signals of the takeover begin */
static guint host_driver_takes(Harness *h, Rec *rec, const char *rpath) {
        g_autofree gchar *syspath = tb_syspath(h, NIC3);
        guint from;

        res_call_ok(h, rpath, "Prepare");
        assert_res_state(h, rpath, "prepared");
        g_assert_true(wait_testbed_driver(h, NIC3, "vfio-pci"));
        from = sync_daemon(h, rec);
        harness_fakekernel_log_clear(h);

        tb_unbind(h, syspath);
        rec_wait(rec, from, "DriverChanged ('" NIC3 "', 'vfio-pci', '')");
        tb_bind(h, syspath, "e1000e");
        return from;
}

static void test_host_driver_takes_prepared(void) {
        Harness *h = start(TRUE);
        Rec *rec = rec_new(h);
        g_autofree gchar *rpath = reserve(h, "vm1", NIC3), *log = NULL, *host = NULL, *le = NULL;
        guint from = host_driver_takes(h, rec, rpath), at = from;

        rec_expect(rec, &from, (const char *const[]) {
                "DriverChanged ('" NIC3 "', 'vfio-pci', '')",
                "DriverChanged ('" NIC3 "', '', 'e1000e')",
                "Conflict ('" NIC3 "', 'r1', *e1000e*)",
                "ReservationChanged ('r1', 'degraded')",
                "DriverChanged ('" NIC3 "', 'e1000e', 'vfio-pci')",
                "ReservationChanged ('r1', 'prepared')",
                NULL });
        if (!wait_testbed_driver(h, NIC3, "vfio-pci"))
                g_error("%s was not bound to vfio-pci again", NIC3);
        sync_daemon(h, rec);
        g_assert_cmpuint(rec_count(rec, at, "Conflict *"), ==, 1);
        log = harness_fakekernel_log(h);
        g_test_message("the fake kernel was asked:\n%s", log);
        g_assert_nonnull(strstr(log, "unbind e1000e \"" NIC3 "\" ok"));
        assert_dev_s(h, NIC3, "Driver", "vfio-pci");
        assert_res_state(h, rpath, "prepared");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_assert_cmpstr(le, ==, "");
        host = dev_s(h, NIC3, "HostDriver");
        g_assert_cmpstr(host, ==, "e1000e");

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

static void test_host_driver_takes_prepared_rebind_fails(void) {
        Harness *h = harness_new(TESTBED);
        g_autofree gchar *rpath = NULL, *le = NULL;
        Rec *rec;
        guint from;

        harness_use_fakekernel(h);
        /* the 1st unbind from e1000e is Prepare's, the 2nd the daemon's
         * taking the function back */
        harness_set_env(h, "FAKEKERNEL_FAIL", "unbind@e1000e:" NIC3 ":EBUSY#2");
        harness_start_daemon(h, no_args);
        rec = rec_new(h);
        rpath = reserve(h, "vm1", NIC3);
        from = host_driver_takes(h, rec, rpath);
        rec_expect(rec, &from, (const char *const[]) {
                "Conflict ('" NIC3 "', 'r1', *e1000e*)",
                "ReservationChanged ('r1', 'degraded')",
                NULL });
        /* the job ends; what it says stays */
        {
                gint64 deadline = g_get_monotonic_time() + (gint64) WAIT_MS * 1000 * (under_wrapper() ? 4 : 1);
                for (;;) {
                        g_autofree gchar *log = harness_fakekernel_log(h);
                        if (strstr(log, "EBUSY"))
                                break;
                        if (g_get_monotonic_time() > deadline)
                                g_error("the daemon did not try to take %s back: %s", NIC3, log);
                        g_usleep(10000);
                }
        }
        sync_daemon(h, rec);
        {
                g_autofree gchar *drv = harness_sys_driver(h, NIC3);
                g_assert_cmpstr(drv, ==, "e1000e");
        }
        rec_none(rec, from, "ReservationChanged ('r1', 'prepared')");
        assert_res_state(h, rpath, "degraded");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        g_assert_nonnull(strstr(le, NIC3));
        assert_dev_s(h, NIC3, "Driver", "e1000e");

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* Something on the host (a udev rule, driverctl) keeps binding the host
 * driver: the daemon binds the function back TAKEOVER_MAX (3) times in a
 * minute, then stops fighting and leaves the reservation degraded, saying
 * why, until someone calls Prepare. */
static void test_host_driver_keeps_taking(void) {
        Harness *h = start(TRUE);
        Rec *rec = rec_new(h);
        g_autofree gchar *rpath = reserve(h, "vm1", NIC3), *syspath = tb_syspath(h, NIC3), *le = NULL;
        guint from;

        res_call_ok(h, rpath, "Prepare");
        g_assert_true(wait_testbed_driver(h, NIC3, "vfio-pci"));
        for (guint i = 1; i <= 3; i++) {
                from = sync_daemon(h, rec);
                tb_unbind(h, syspath);
                rec_wait(rec, from, "DriverChanged ('" NIC3 "', 'vfio-pci', '')");
                tb_bind(h, syspath, "e1000e");
                rec_expect(rec, &from, (const char *const[]) {
                        "Conflict ('" NIC3 "', 'r1', *e1000e*)",
                        "DriverChanged ('" NIC3 "', 'e1000e', 'vfio-pci')",
                        "ReservationChanged ('r1', 'prepared')",
                        NULL });
                if (!wait_testbed_driver(h, NIC3, "vfio-pci"))
                        g_error("takeover %u: %s was not bound to vfio-pci again", i, NIC3);
                g_test_message("takeover %u undone", i);
        }

        /* the 4th within the minute: left alone */
        from = sync_daemon(h, rec);
        tb_unbind(h, syspath);
        rec_wait(rec, from, "DriverChanged ('" NIC3 "', 'vfio-pci', '')");
        tb_bind(h, syspath, "e1000e");
        rec_expect(rec, &from, (const char *const[]) {
                "Conflict ('" NIC3 "', 'r1', *not binding it back any more*)",
                NULL });
        sync_daemon(h, rec);
        rec_none(rec, from, "DriverChanged ('" NIC3 "', 'e1000e', 'vfio-pci')");
        {
                g_autofree gchar *drv = harness_sys_driver(h, NIC3);
                g_assert_cmpstr(drv, ==, "e1000e");
        }
        assert_res_state(h, rpath, "degraded");
        le = prop_s(h, rpath, RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        g_assert_nonnull(strstr(le, "4 times within 60 s"));
        g_assert_nonnull(strstr(le, "call Prepare"));

        /* Prepare: bound again, counted anew */
        res_call_ok(h, rpath, "Prepare");
        g_assert_true(wait_testbed_driver(h, NIC3, "vfio-pci"));
        assert_res_state(h, rpath, "prepared");
        from = sync_daemon(h, rec);
        tb_unbind(h, syspath);
        rec_wait(rec, from, "DriverChanged ('" NIC3 "', 'vfio-pci', '')");
        tb_bind(h, syspath, "e1000e");
        rec_wait(rec, from, "DriverChanged ('" NIC3 "', 'e1000e', 'vfio-pci')");
        if (!wait_testbed_driver(h, NIC3, "vfio-pci"))
                g_error("%s was not bound to vfio-pci again after Prepare", NIC3);

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 8. a burst for one function: PropertiesChanged coalesced ---- */

static void test_coalescing(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *syspath = tb_syspath(h, MODEL_NIC), *path = device_path(h, MODEL_NIC), *glob = NULL;
        const guint n_events = 20;
        guint from = rec->sigs->len, n_pc;

        /* one real change, announced by a burst of events (as udev rules
         * re-triggering do): the function is read again for each, and
         * signalled once or twice, not 20 times */
        tb_touch(h, syspath);
        for (guint i = 0; i < n_events; i++)
                g_assert_cmpuint(harness_uevent(h, syspath, "change"), ==, 1);
        sync_daemon(h, rec);
        glob = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *", path);
        n_pc = rec_count(rec, from, glob);
        g_test_message("%u change events for %s gave %u PropertiesChanged", n_events, MODEL_NIC, n_pc);
        g_printerr("# coalescing: %u events -> %u PropertiesChanged of %s\n", n_events, n_pc, MODEL_NIC);
        g_assert_cmpuint(n_pc, >=, 1);
        g_assert_cmpuint(n_pc, <, n_events);

        /* change events that change nothing: no PropertiesChanged, no
         * other signal about it */
        from = sync_daemon(h, rec);
        for (guint i = 0; i < n_events; i++)
                g_assert_cmpuint(harness_uevent(h, syspath, "change"), ==, 1);
        sync_daemon(h, rec);
        n_pc = rec_count(rec, from, glob);
        g_test_message("%u change events that changed nothing gave %u PropertiesChanged", n_events, n_pc);
        g_assert_cmpuint(n_pc, ==, 0);

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- a bus that takes no signals ---- */

typedef struct StallSender {
        Harness *h;
        GPtrArray *events;
        gint sent;
} StallSender;

static gpointer stall_send(gpointer data) {
        StallSender *s = data;

        for (guint i = 0; i < s->events->len; i++) {
                g_assert_cmpuint(harness_uevent_send(s->h, s->events->pdata[i]), ==, 1);
                g_atomic_int_inc(&s->sent);
        }
        return NULL;
}

/* dbus-daemon stopped (SIGSTOP): none of the daemon's signals can be
 * written.  Back-pressure: instead of queueing a signal for every event
 * (memory without bound), it stops reading events once 256 signals wait,
 * so our sender, whose datagrams then fill the monitor's socket, cannot
 * send them all.  (sd-bus makes the socket's send buffer 8 MiB: the first
 * ~1500 cycles fit in the kernel before anything waits in the daemon.)
 * When the bus runs again, every event is handled and announced. */
static void test_stalled_bus(void) {
        Harness *h = start(FALSE);
        Rec *rec = rec_new(h);
        g_autofree gchar *record = new_function_record(0);
        g_autoptr(GPtrArray) events = g_ptr_array_new();
        StallSender snd = { .h = h, .events = events };
        const guint cycles = 3000;
        GThread *th;
        gint sent;

        harness_add_devices(h, record);
        for (guint i = 0; i < cycles; i++) {
                g_ptr_array_add(events, harness_uevent_new(h, NEW_SYSPATH, "add"));
                g_ptr_array_add(events, harness_uevent_new(h, NEW_SYSPATH, "remove"));
        }
        g_assert_cmpint(kill(h->bus_pid, SIGSTOP), ==, 0);
        th = g_thread_new("stall-send", stall_send, &snd);
        g_usleep(3 * G_USEC_PER_SEC);
        sent = g_atomic_int_get(&snd.sent);
        g_assert_cmpint(kill(h->bus_pid, SIGCONT), ==, 0);
        g_thread_join(th);
        g_printerr("# stalled bus: %d of %u events taken while the bus was stopped for 3 s\n", sent, events->len);
        if (sent >= (gint) events->len)
                g_error("the daemon read all %u events while no signal could be written: no back-pressure",
                        events->len);
        g_assert_false(h->exited);

        sync_daemon(h, rec);
        g_assert_cmpuint(rec_count(rec, 0, "DeviceAdded ('" NEW_FN "', *"), ==, cycles);
        g_assert_cmpuint(rec_count(rec, 0, "DeviceRemoved ('" NEW_FN "', *"), ==, cycles);
        assert_no_device(h, NEW_FN);
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- 9. a flood of events, and a burst of 256 VFs ---- */

static void test_flood(void) {
        Harness *h = harness_new(TESTBED);
        g_autoptr(GPtrArray) ghosts = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) funcs = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) odd = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) events = g_ptr_array_new();
        g_autoptr(GHashTable) before = NULL, after = NULL;
        static const char *const odd_names[] = {
                "pcijunk", "0000:00:1f.8", "0000:00:20.0", "0000:0g:00.0", "00:02.0", "0000:00:02.0x",
                "0000:00:02.0.1", "0000:00:02", "100000000:00:02.0", "0000:100:02.0", NULL,
        };
        static const char *const actions[] = { "add", "change", "bind", "unbind", "move", "online", "remove" };
        g_autofree gchar *para = testbed_paragraph(MODEL_NIC);
        GRand *rand = g_rand_new_with_seed(5);
        guint n_change = 0, n_ghost = 0, n_unknown_remove = 0, n_odd = 0, n_other = 0;
        Rec *rec;
        const guint total = 2000;

        /* odd members of subsystem pci whose names are no addresses */
        for (const char *const *n = odd_names; *n; n++) {
                g_autofree gchar *name = g_strdup_printf("pci0000:00/%s", *n);
                gchar *sp = umockdev_testbed_add_device(h->testbed, "pci", name, NULL, "vendor", "0x8086\n",
                                                        "device", "0x10d3\n", NULL, "PCI_ID", "8086:10D3", NULL);
                g_assert_nonnull(sp);
                g_ptr_array_add(odd, sp);
        }
        harness_start_daemon(h, no_args);
        before = list_devices(h);
        {
                GHashTableIter it;
                gpointer k;
                g_hash_table_iter_init(&it, before);
                while (g_hash_table_iter_next(&it, &k, NULL))
                        g_ptr_array_add(funcs, tb_syspath(h, k));
        }
        /* functions the daemon never sees: added (no event), events built,
         * gone before the events are sent */
        for (guint i = 0; i < 8; i++) {
                g_autofree gchar *dp = g_strdup_printf("/devices/pci0000:00/0000:00:08.0/0000:03:00.%u", i);
                Edit e = { .devpath = dp, .group = 40 + (int) i };
                g_autofree gchar *record = record_edit(para, &e);

                harness_add_devices(h, record);
                g_ptr_array_add(ghosts, g_strconcat("/sys", dp, NULL));
        }

        for (guint i = 0; i < total; i++) {
                guint kind = g_rand_int_range(rand, 0, 100);
                HarnessUevent *ev;

                if (kind < 55) {
                        ev = harness_uevent_new(h, funcs->pdata[g_rand_int_range(rand, 0, (gint32) funcs->len)],
                                                "change");
                        n_change++;
                } else if (kind < 70) {
                        ev = harness_uevent_new(h, ghosts->pdata[g_rand_int_range(rand, 0, (gint32) ghosts->len)],
                                                actions[g_rand_int_range(rand, 0, 6)]);
                        n_ghost++;
                } else if (kind < 75) {
                        ev = harness_uevent_new(h, ghosts->pdata[g_rand_int_range(rand, 0, (gint32) ghosts->len)],
                                                "remove");
                        n_unknown_remove++;
                } else if (kind < 95) {
                        ev = harness_uevent_new(h, odd->pdata[g_rand_int_range(rand, 0, (gint32) odd->len)],
                                                actions[g_rand_int_range(rand, 0, 7)]);
                        n_odd++;
                } else {
                        /* bind/unbind of a real function without any change */
                        ev = harness_uevent_new(h, funcs->pdata[g_rand_int_range(rand, 0, (gint32) funcs->len)],
                                                g_rand_boolean(rand) ? "bind" : "move");
                        n_other++;
                }
                g_ptr_array_add(events, ev);
        }
        for (guint i = 0; i < ghosts->len; i++)
                tb_delete(h, ghosts->pdata[i]);

        rec = rec_new(h);
        {
                gint64 t0 = g_get_monotonic_time();
                for (guint i = 0; i < events->len; i++) {
                        g_assert_cmpuint(harness_uevent_send(h, events->pdata[i]), ==, 1);
                        if (h->exited)
                                g_error("the daemon exited (status %d) at event %u of the flood", h->exit_status, i);
                }
                sync_daemon(h, rec);
                g_printerr("# flood: %u events (%u change, %u for functions never seen, %u removes of unknown "
                           "functions, %u for non-address names, %u bind/move) handled in %.0f ms\n",
                           total, n_change, n_ghost, n_unknown_remove, n_odd, n_other,
                           (g_get_monotonic_time() - t0) / 1000.0);
        }
        g_assert_false(h->exited);
        after = list_devices(h);
        g_assert_cmpuint(g_hash_table_size(after), ==, g_hash_table_size(before));
        {
                GHashTableIter it;
                gpointer k, v;
                g_hash_table_iter_init(&it, before);
                while (g_hash_table_iter_next(&it, &k, &v))
                        g_assert_cmpstr(g_hash_table_lookup(after, k), ==, v);
        }
        rec_none(rec, 0, "DeviceAdded *");
        rec_none(rec, 0, "DeviceRemoved *");
        rec_none(rec, 0, "DriverChanged *");
        rec_none(rec, 0, "InterfacesAdded *");

        g_rand_free(rand);
        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

#define BURST_DOMAIN "0001"
#define BURST_PF BURST_DOMAIN ":00:00.0"
#define BURST_PF_DEVPATH "/devices/pci" BURST_DOMAIN ":00/" BURST_PF
#define BURST_PF_GROUP 100
#define N_BURST 256

/* VF n of BURST_PF (offset 1, stride 1: routing ID 1 + n) */
static gchar *burst_vf(guint n) {
        guint rid = 1 + n;
        return g_strdup_printf(BURST_DOMAIN ":%02x:%02x.%u", rid >> 8, (rid & 0xff) >> 3, rid & 7);
}

/* A VF made with umockdev's API, as pci_iov_add_virtfn() has it at its
 * "add": attributes, config space, uevent properties, IOMMU group; no
 * physfn link and no driver yet. */
static gchar *add_burst_vf(Harness *h, guint n, GBytes *config) {
        g_autofree gchar *addr = burst_vf(n);
        g_autofree gchar *name = g_strdup_printf("pci" BURST_DOMAIN ":00/%s", addr);
        g_autofree gchar *group = g_strdup_printf("%u", BURST_PF_GROUP + 1 + n);
        g_autofree gchar *gdir = NULL, *glink = NULL, *gtarget = NULL, *rel = NULL;
        gchar *sp;

        sp = umockdev_testbed_add_device(h->testbed, "pci", name, NULL,
                                         "vendor", "0x1b36\n", "device", "0x0010\n", "class", "0x010802\n",
                                         "subsystem_vendor", "0x1af4\n", "subsystem_device", "0x1100\n",
                                         "revision", "0x02\n", "numa_node", "-1\n", "reset_method", "flr\n",
                                         "reset", "", "driver_override", "(null)\n",
                                         "resource", "0x0000000000000000 0x0000000000000000 0x0000000000000000\n",
                                         NULL,
                                         "PCI_CLASS", "10802", "PCI_ID", "1B36:0010", "PCI_SUBSYS_ID", "1AF4:1100",
                                         "PCI_SLOT_NAME", addr,
                                         "MODALIAS", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
                                         NULL);
        g_assert_nonnull(sp);
        umockdev_testbed_set_attribute_binary(h->testbed, sp, "config", (guint8 *) g_bytes_get_data(config, NULL),
                                              g_bytes_get_size(config));
        rel = g_strdup_printf("kernel/iommu_groups/%s/devices", group);
        gdir = harness_sys_path(h, rel);
        g_assert_cmpint(g_mkdir_with_parents(gdir, 0755), ==, 0);
        glink = g_build_filename(gdir, addr, NULL);
        gtarget = g_strdup_printf("../../../../devices/pci" BURST_DOMAIN ":00/%s", addr);
        g_assert_cmpint(symlink(gtarget, glink), ==, 0);
        {
                g_autofree gchar *target = g_strdup_printf("../../../kernel/iommu_groups/%s", group);
                umockdev_testbed_set_attribute_link(h->testbed, sp, "iommu_group", target);
        }
        return sp;
}

static GBytes *hex_bytes(const char *hex) {
        gsize n = strlen(hex) / 2;
        guint8 *b = g_malloc(n);

        for (gsize i = 0; i < n; i++)
                b[i] = (guint8) ((g_ascii_xdigit_value(hex[2 * i]) << 4) | g_ascii_xdigit_value(hex[2 * i + 1]));
        return g_bytes_new_take(b, n);
}

static void test_vf_burst(void) {
        Harness *h = harness_new(TESTBED);
        g_autofree gchar *pf_para = testbed_paragraph(PF), *vf_para = testbed_paragraph(VF1);
        static const char *const pf_attrs[] = {
                "sriov_totalvfs=256\\n", "sriov_numvfs=0\\n", "sriov_drivers_autoprobe=1\\n", NULL,
        };
        Edit e = { .devpath = BURST_PF_DEVPATH, .group = BURST_PF_GROUP, .attrs = pf_attrs };
        g_autofree gchar *pf_record = record_edit(pf_para, &e);
        g_autofree gchar *pf_sys = g_strconcat("/sys", BURST_PF_DEVPATH, NULL), *pf_dir = NULL, *pf_path = NULL;
        g_autofree gchar *numvfs = NULL, *pc = NULL;
        g_autoptr(GBytes) config = NULL;
        g_autoptr(GPtrArray) vf_sys = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GHashTable) before = NULL, after = NULL;
        g_autoptr(json_object) doc = NULL;
        g_autoptr(GVariant) vfs_v = NULL;
        guint from;
        gint64 t0;
        Rec *rec;

        {
                const char *c = strstr(vf_para, "H: config=") + strlen("H: config=");
                g_autofree gchar *hex = g_strndup(c, (gsize) (strchr(c, '\n') - c));
                config = hex_bytes(hex);
        }
        harness_add_devices(h, pf_record);
        tb_link_driver(h, pf_sys, "nvme");
        pf_dir = tb_dir(h, pf_sys);
        numvfs = g_build_filename(pf_dir, "sriov_numvfs", NULL);
        harness_start_daemon(h, no_args);
        rec = rec_new(h);
        before = list_devices(h);
        pf_path = device_path(h, BURST_PF);
        from = rec->sigs->len;

        /* sriov_numvfs=256: add, links, bind, for each VF; then a change of the PF */
        t0 = g_get_monotonic_time();
        for (guint n = 0; n < N_BURST; n++) {
                gchar *sp = add_burst_vf(h, n, config);
                g_autofree gchar *vf_dir = tb_dir(h, sp), *addr = burst_vf(n);
                g_autofree gchar *physfn = g_build_filename(vf_dir, "physfn", NULL);
                g_autofree gchar *virtfn = g_strdup_printf("%s/virtfn%u", pf_dir, n);
                g_autofree gchar *vf_target = g_strdup_printf("../%s", addr);

                g_ptr_array_add(vf_sys, sp);
                g_assert_cmpuint(harness_uevent(h, sp, "add"), ==, 1);
                g_assert_cmpint(symlink("../" BURST_PF, physfn), ==, 0);
                g_assert_cmpint(symlink(vf_target, virtfn), ==, 0);
                tb_bind(h, sp, "nvme");
        }
        {
                g_autofree gchar *s = g_strdup_printf("%u\n", N_BURST);
                put_text(numvfs, s);
        }
        g_assert_cmpuint(harness_uevent(h, pf_sys, "change"), ==, 1);
        {
                g_autofree gchar *last = burst_vf(N_BURST - 1);
                g_autofree gchar *glob = g_strdup_printf("DeviceAdded ('%s', *", last);
                rec_wait(rec, from, glob);
        }
        pc = g_strdup_printf("PropertiesChanged %s " DEV_IFACE " *VirtualFunctions=['%s', *", pf_path, "0001:00:00.1");
        rec_wait(rec, from, pc);
        sync_daemon(h, rec);
        g_printerr("# 256-VF burst: %u events sent and handled in %.0f ms\n", 2 * N_BURST + 1,
                   (g_get_monotonic_time() - t0) / 1000.0);

        g_assert_cmpuint(rec_count(rec, from, "DeviceAdded ('" BURST_DOMAIN ":*"), ==, N_BURST);
        g_assert_cmpuint(rec_count(rec, from, "InterfacesAdded /org/pciassign1/device/* " DEV_IFACE "*"), ==, N_BURST);
        /* each VF is bound to nvme: one DriverChanged, whether the daemon
         * read its add event before the probe or after it (then the
         * InterfacesAdded already says nvme) */
        for (guint n = 0; n < N_BURST; n++) {
                g_autofree gchar *addr = burst_vf(n);
                g_autofree gchar *glob = g_strdup_printf("DeviceAdded ('%s', *", addr);
                g_autofree gchar *bound = g_strdup_printf("DriverChanged ('%s', '', 'nvme')", addr);
                g_autofree gchar *dpath = device_path(h, addr);
                g_autofree gchar *with = g_strdup_printf("InterfacesAdded %s * Driver='nvme'", dpath);
                guint n_bound = rec_count(rec, from, bound), n_with = rec_count(rec, from, with);

                if (rec_count(rec, from, glob) != 1)
                        g_error("%u DeviceAdded for %s", rec_count(rec, from, glob), addr);
                if (n_bound != 1 || n_with > 1)
                        g_error("%s: %u DriverChanged to nvme, %u InterfacesAdded with nvme", addr, n_bound, n_with);
        }
        g_printerr("# 256-VF burst: %u VFs got DriverChanged '' -> nvme, %u of them were already bound when added\n",
                   rec_count(rec, from, "DriverChanged ('" BURST_DOMAIN ":*', '', 'nvme')"),
                   rec_count(rec, from, "InterfacesAdded * Driver='nvme'"));
        after = list_devices(h);
        g_assert_cmpuint(g_hash_table_size(after), ==, g_hash_table_size(before) + N_BURST);
        doc = describe(h);
        for (guint n = 0; n < N_BURST; n++) {
                g_autofree gchar *addr = burst_vf(n);
                const char *entry = g_hash_table_lookup(after, addr);
                json_object *d = describe_device(doc, addr);
                g_autofree gchar *prefix = g_strdup_printf("nvme|%u|", BURST_PF_GROUP + 1 + n);

                if (!entry || !g_str_has_prefix(entry, prefix))
                        g_error("ListDevices has %s as %s", addr, entry ? entry : "(nothing)");
                g_assert_nonnull(d);
                g_assert_cmpstr(jstr(d, "physical_function"), ==, BURST_PF);
        }
        vfs_v = prop(h, pf_path, DEV_IFACE, "VirtualFunctions");
        g_assert_cmpuint(g_variant_n_children(vfs_v), ==, N_BURST);

        /* and back to 0 (sriov_disable(): VF 0 first, no event of the PF) */
        from = rec->sigs->len;
        for (guint n = 0; n < N_BURST; n++) {
                const char *sp = vf_sys->pdata[n];
                g_autofree gchar *vf_dir = tb_dir(h, sp);
                g_autofree gchar *physfn = g_build_filename(vf_dir, "physfn", NULL);
                g_autofree gchar *virtfn = g_strdup_printf("%s/virtfn%u", pf_dir, n);

                g_assert_cmpint(unlink(virtfn), ==, 0);
                g_assert_cmpint(unlink(physfn), ==, 0);
                tb_remove(h, rec, sp);
        }
        put_text(numvfs, "0\n");
        {
                g_autofree gchar *last = burst_vf(N_BURST - 1);
                g_autofree gchar *glob = g_strdup_printf("DeviceRemoved ('%s', *", last);
                rec_wait(rec, from, glob);
        }
        sync_daemon(h, rec);
        g_assert_cmpuint(rec_count(rec, from, "DeviceRemoved ('" BURST_DOMAIN ":*"), ==, N_BURST);
        g_assert_cmpuint(rec_count(rec, from, "InterfacesRemoved /org/pciassign1/device/* " DEV_IFACE), ==, N_BURST);
        g_clear_pointer(&after, g_hash_table_unref);
        after = list_devices(h);
        g_assert_cmpuint(g_hash_table_size(after), ==, g_hash_table_size(before));
        g_clear_pointer(&vfs_v, g_variant_unref);
        vfs_v = prop(h, pf_path, DEV_IFACE, "VirtualFunctions");
        if (g_variant_n_children(vfs_v) != 0)
                fail_case("after sriov_numvfs=0 the PF still lists %zu VirtualFunctions", g_variant_n_children(vfs_v));

        rec_free(rec);
        harness_stop_daemon(h);
        harness_free(h);
}

int main(int argc, char **argv) {
        /* a case that finds a daemon bug fails (g_test_fail) and the
         * others still run */
        g_autofree char **args = g_new0(char *, argc + 2);
        int n = argc + 1;

        memcpy(args, argv, sizeof(char *) * (size_t) argc);
        args[argc] = (char *) "--keep-going";
        argv = args;
        argc = n;
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/hotplug/delivery", test_delivery);
        g_test_add_func("/hotplug/add-bind", test_add_bind);
        g_test_add_func("/hotplug/add-already-bound", test_add_already_bound);
        g_test_add_func("/hotplug/unbind-remove", test_unbind_remove);
        g_test_add_func("/hotplug/group-objects", test_group_objects);
        g_test_add_func("/hotplug/group-peer-verdicts", test_group_peer_verdicts);
        g_test_add_func("/hotplug/vfio-bind-sequence", test_vfio_bind_sequence);
        g_test_add_func("/hotplug/sriov", test_sriov);
        g_test_add_func("/hotplug/reserved-removed", test_reserved_removed);
        g_test_add_func("/hotplug/reserved-removed/prepared", test_reserved_removed_prepared);
        g_test_add_func("/hotplug/reserved-removed/const-properties", test_reserved_const_properties);
        g_test_add_func("/hotplug/missing-at-start", test_missing_at_start);
        g_test_add_func("/hotplug/replug-in-use", test_replug_in_use);
        g_test_add_func("/hotplug/gone-during-job", test_gone_during_job);
        g_test_add_func("/hotplug/degraded-owner-gone", test_degraded_owner_gone);
        g_test_add_func("/hotplug/lost-events", test_lost_events);
        g_test_add_func("/hotplug/different-device", test_different_device);
        g_test_add_func("/hotplug/host-driver-takes-prepared", test_host_driver_takes_prepared);
        g_test_add_func("/hotplug/host-driver-takes-prepared/rebind-fails",
                        test_host_driver_takes_prepared_rebind_fails);
        g_test_add_func("/hotplug/host-driver-keeps-taking", test_host_driver_keeps_taking);
        g_test_add_func("/hotplug/coalescing", test_coalescing);
        g_test_add_func("/hotplug/flood", test_flood);
        g_test_add_func("/hotplug/stalled-bus", test_stalled_bus);
        g_test_add_func("/hotplug/vf-burst-256", test_vf_burst);
        return g_test_run();
}
