/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sysfs-ops against the fake kernel (tests/fakekernel): a sysfs-like tree
 * in a temporary directory, built from the q35 truth file, whose reactions
 * to writes libfakekernel.so plays.  Registered in tests/fakekernel/meson.build
 * (it needs the preload).  Never touches the real /sys: main() checks that the
 * preload is active and every fixture checks its root before anything. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "fakekernel-test.h"
#include "macro.h"
#include "sysfs-ops.h"

#define E1000E_VENDOR 0x8086
#define E1000E_DEVICE 0x10d3
#define E1000_DEVICE 0x100e
#define QEMU_VENDOR 0x1b36
#define NVME_DEVICE 0x0010

typedef struct Fixture {
        char *root;
        SysfsContext ctx;
        SysfsError err;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        (void) data;
        f->root = fk_tree_new();
        fk_assert_safe_root(f->root);
        g_assert_cmpint(sysfs_context_open(f->root, &f->ctx), ==, 0);
        memset(&f->err, 0, sizeof f->err);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        (void) data;
        sysfs_context_close(&f->ctx);
        g_assert_cmpint(f->ctx.root_fd, ==, -1);
        fk_tree_free(f->root);
}

static PciAddress addr(const char *s) {
        PciAddress a;

        g_assert_cmpint(pci_address_parse(s, &a), ==, 0);
        return a;
}

static void assert_driver(Fixture *f, const char *a, const char *driver) {
        g_autofree char *d = fk_driver(f->root, a);
        g_assert_cmpstr(d, ==, driver);
}

static void assert_override(Fixture *f, const char *a, const char *value) {
        g_autofree char *v = fk_read(f->root, a, "driver_override");
        g_assert_cmpstr(v, ==, value);
}

static void assert_log(Fixture *f, const char *expected) {
        g_autofree char *log = fk_log(f->root);
        g_assert_cmpstr(log, ==, expected);
}

static void assert_error(Fixture *f, int r, int error, SysfsStep step, const char *message) {
        g_assert_cmpint(r, ==, -error);
        g_assert_cmpint(f->err.error, ==, error);
        g_assert_cmpstr(sysfs_step_to_string(f->err.step), ==, sysfs_step_to_string(step));
        g_assert_cmpstr(f->err.message, ==, message);
}

static int bind_e1000e(Fixture *f, const char *a, const char *driver) {
        PciAddress pa = addr(a);
        return sysfs_bind_override(&f->ctx, &pa, E1000E_VENDOR, E1000E_DEVICE, driver, &f->err);
}

static int restore_e1000e(Fixture *f, const char *a, const char *host) {
        PciAddress pa = addr(a);
        return sysfs_restore(&f->ctx, &pa, E1000E_VENDOR, E1000E_DEVICE, host, &f->err);
}

/* ---- the test's own preconditions ---- */

static void test_safety(Fixture *f, gconstpointer data) {
        struct statfs sfs;
        char real[PATH_MAX];

        (void) data;
        g_assert_true(fakekernel_preloaded());
        g_assert_cmpstr(fakekernel_preloaded_info(), ==, "fakekernel " FAKEKERNEL_ABI);
        g_assert_cmpstr(g_getenv("FAKEKERNEL_ROOT"), ==, f->root);
        fk_assert_safe_root(f->root);
        /* the context's root fd is the temporary tree, not /sys */
        g_assert_cmpint(fstatfs(f->ctx.root_fd, &sfs), ==, 0);
        g_assert_cmpuint((unsigned long) sfs.f_type, !=, FK_SYSFS_MAGIC);
        {
                g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", f->ctx.root_fd);
                g_autofree char *target = g_file_read_link(proc, NULL);
                g_assert_nonnull(realpath(f->root, real));
                g_assert_cmpstr(target, ==, real);
        }
}

static void test_step_names(void) {
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_OPEN), ==, "open");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_SET_OVERRIDE), ==, "set-override");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_CLEAR_OVERRIDE), ==, "clear-override");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_UNBIND), ==, "unbind");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_PROBE), ==, "drivers-probe");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_BIND), ==, "bind");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_VERIFY), ==, "verify");
        g_assert_cmpstr(sysfs_step_to_string(SYSFS_STEP_RESET), ==, "reset");
        g_assert_null(sysfs_step_to_string(_SYSFS_STEP_MAX));
        g_assert_null(sysfs_step_to_string((SysfsStep) -1));
}

/* ---- the normal paths ---- */

static void test_read_driver(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:00:02.0"), none = addr("0000:00:00.0"), absent = addr("0000:00:04.0");
        char buf[64];

        (void) data;
        g_assert_cmpint(sysfs_read_driver(&f->ctx, &a, buf, sizeof buf), ==, 0);
        g_assert_cmpstr(buf, ==, "e1000e");
        g_assert_cmpint(sysfs_read_driver(&f->ctx, &none, buf, sizeof buf), ==, 0);
        g_assert_cmpstr(buf, ==, "");
        g_assert_cmpint(sysfs_read_driver(&f->ctx, &absent, buf, sizeof buf), ==, -ENODEV);
        g_assert_cmpint(sysfs_read_driver(&f->ctx, &a, buf, 3), ==, -EFBIG);
        assert_log(f, "");
}

static void test_e1000e_roundtrip(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        g_assert_cmpint(f->err.error, ==, 0);
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");
        g_assert_true(fk_driver_has_link(f->root, "vfio-pci", "0000:00:02.0"));
        g_assert_false(fk_driver_has_link(f->root, "e1000e", "0000:00:02.0"));
        /* exactly the kernel's bytes: the name, then the bare address twice */
        assert_log(f, "override 0000:00:02.0 \"vfio-pci\" ok\n"
                      "unbind e1000e \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n");
        fk_log_clear(f->root);

        g_assert_cmpint(restore_e1000e(f, "0000:00:02.0", "e1000e"), ==, 0);
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_override(f, "0000:00:02.0", "(null)\n");
        g_assert_true(fk_driver_has_link(f->root, "e1000e", "0000:00:02.0"));
        g_assert_false(fk_driver_has_link(f->root, "vfio-pci", "0000:00:02.0"));
        assert_log(f, "override 0000:00:02.0 \"\\n\" ok\n"
                      "unbind vfio-pci \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n");
        /* a neighbour was never touched */
        assert_driver(f, "0000:00:03.0", "e1000e");
}

static void test_pci_stub(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:05:01.0");

        (void) data;
        g_assert_cmpint(sysfs_bind_override(&f->ctx, &a, E1000E_VENDOR, E1000_DEVICE, "pci-stub", &f->err), ==, 0);
        assert_driver(f, "0000:05:01.0", "pci-stub");
        g_assert_cmpint(sysfs_restore(&f->ctx, &a, E1000E_VENDOR, E1000_DEVICE, "e1000", &f->err), ==, 0);
        assert_driver(f, "0000:05:01.0", "e1000");
        assert_override(f, "0000:05:01.0", "(null)\n");
}

static void test_multifunction_group(Fixture *f, gconstpointer data) {
        const char *fns[] = { "0000:0b:00.0", "0000:0b:00.1" };

        (void) data;
        for (size_t i = 0; i < ELEMENTSOF(fns); i++)
                g_assert_cmpint(bind_e1000e(f, fns[i], "vfio-pci"), ==, 0);
        for (size_t i = 0; i < ELEMENTSOF(fns); i++)
                assert_driver(f, fns[i], "vfio-pci");
        for (size_t i = 0; i < ELEMENTSOF(fns); i++)
                g_assert_cmpint(restore_e1000e(f, fns[i], "e1000e"), ==, 0);
        for (size_t i = 0; i < ELEMENTSOF(fns); i++) {
                assert_driver(f, fns[i], "e1000e");
                assert_override(f, fns[i], "(null)\n");
        }
}

/* A VF of a PF with sriov_drivers_autoprobe=0 has no driver and binds only
 * through driver_override: no unbind, and no probe on the way back. */
static void test_nvme_vf(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:01:00.1");
        g_autofree char *autoprobe = fk_read(f->root, "0000:01:00.0", "sriov_drivers_autoprobe");

        (void) data;
        g_assert_cmpstr(autoprobe, ==, "0\n");
        assert_driver(f, "0000:01:00.1", "");
        g_assert_cmpint(sysfs_bind_override(&f->ctx, &a, QEMU_VENDOR, NVME_DEVICE, "vfio-pci", &f->err), ==, 0);
        assert_driver(f, "0000:01:00.1", "vfio-pci");
        assert_log(f, "override 0000:01:00.1 \"vfio-pci\" ok\n"
                      "probe drivers_probe \"0000:01:00.1\" ok\n");
        fk_log_clear(f->root);

        g_assert_cmpint(sysfs_restore(&f->ctx, &a, QEMU_VENDOR, NVME_DEVICE, NULL, &f->err), ==, 0);
        assert_driver(f, "0000:01:00.1", "");
        assert_override(f, "0000:01:00.1", "(null)\n");
        assert_log(f, "override 0000:01:00.1 \"\\n\" ok\n"
                      "unbind vfio-pci \"0000:01:00.1\" ok\n");
        fk_log_clear(f->root);

        /* "" means the same as NULL; nothing left to do */
        g_assert_cmpint(sysfs_restore(&f->ctx, &a, QEMU_VENDOR, NVME_DEVICE, "", &f->err), ==, 0);
        assert_log(f, "");
}

/* Asking for nvme back on such a VF: drivers_probe binds nothing and the
 * kernel refuses the explicit bind too (pci_device_can_probe). */
static void test_nvme_vf_restore_to_nvme(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:01:00.2");
        int r;

        (void) data;
        g_assert_cmpint(sysfs_bind_override(&f->ctx, &a, QEMU_VENDOR, NVME_DEVICE, "vfio-pci", &f->err), ==, 0);
        r = sysfs_restore(&f->ctx, &a, QEMU_VENDOR, NVME_DEVICE, "nvme", &f->err);
        assert_error(f, r, ENODEV, SYSFS_STEP_BIND, "0000:01:00.2: bind to nvme: No such device");
        assert_driver(f, "0000:01:00.2", "");
        assert_override(f, "0000:01:00.2", "(null)\n");
}

static void test_already_bound(Fixture *f, gconstpointer data) {
        (void) data;
        /* on its host driver, no override: restoring writes nothing */
        g_assert_cmpint(restore_e1000e(f, "0000:00:03.0", "e1000e"), ==, 0);
        assert_log(f, "");

        g_assert_cmpint(bind_e1000e(f, "0000:00:03.0", "vfio-pci"), ==, 0);
        fk_log_clear(f->root);
        g_assert_cmpint(bind_e1000e(f, "0000:00:03.0", "vfio-pci"), ==, 0);
        g_assert_cmpint(f->err.error, ==, 0);
        assert_log(f, "");
        assert_driver(f, "0000:00:03.0", "vfio-pci");
}

/* The kernel picks another driver on the way back (two drivers match the
 * ids, the other probes first): unbind it, bind the recorded one. */
static void test_restore_other_driver(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:05.0", "vfio-pci"), ==, 0);
        fk_put(f->root, "0000:00:05.0", FAKEKERNEL_NATIVE_FILE, "e1000 e1000e\n");
        fk_log_clear(f->root);

        g_assert_cmpint(restore_e1000e(f, "0000:00:05.0", "e1000e"), ==, 0);
        assert_driver(f, "0000:00:05.0", "e1000e");
        g_assert_false(fk_driver_has_link(f->root, "e1000", "0000:00:05.0"));
        assert_log(f, "override 0000:00:05.0 \"\\n\" ok\n"
                      "unbind vfio-pci \"0000:00:05.0\" ok\n"
                      "probe drivers_probe \"0000:00:05.0\" ok\n"
                      "unbind e1000 \"0000:00:05.0\" ok\n"
                      "bind e1000e \"0000:00:05.0\" ok\n");
}

/* drivers_probe binds nothing on the way back: bind through the host
 * driver's bind file. */
static void test_restore_probe_nothing(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        fk_log_clear(f->root);
        g_setenv("FAKEKERNEL_FAIL", "probe-nothing:0000:00:02.0", TRUE);
        g_assert_cmpint(restore_e1000e(f, "0000:00:02.0", "e1000e"), ==, 0);
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_log(f, "override 0000:00:02.0 \"\\n\" ok\n"
                      "unbind vfio-pci \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n"
                      "bind e1000e \"0000:00:02.0\" ok\n");
}

/* ---- every step's failure ---- */

static void test_fail_override(Fixture *f, gconstpointer data) {
        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "override:0000:00:02.0:EIO", TRUE);
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), EIO, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: set driver_override to vfio-pci: Input/output error");
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_override(f, "0000:00:02.0", "(null)\n");
        assert_log(f, "override 0000:00:02.0 \"vfio-pci\" EIO\n");
}

static void test_fail_clear_override(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        g_setenv("FAKEKERNEL_FAIL", "override:0000:00:02.0:EIO", TRUE);
        assert_error(f, restore_e1000e(f, "0000:00:02.0", "e1000e"), EIO, SYSFS_STEP_CLEAR_OVERRIDE,
                     "0000:00:02.0: clear driver_override: Input/output error");
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");
}

static void test_fail_unbind(Fixture *f, gconstpointer data) {
        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "unbind:0000:00:02.0:EBUSY", TRUE);
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), EBUSY, SYSFS_STEP_UNBIND,
                     "0000:00:02.0: unbind from e1000e: Device or resource busy");
        /* the kernel kept the driver; the override stays until restored */
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");

        /* the rollback: only the override needs undoing */
        g_unsetenv("FAKEKERNEL_FAIL");
        fk_log_clear(f->root);
        g_assert_cmpint(restore_e1000e(f, "0000:00:02.0", "e1000e"), ==, 0);
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_override(f, "0000:00:02.0", "(null)\n");
        assert_log(f, "override 0000:00:02.0 \"\\n\" ok\n");
}

static void test_fail_unbind_vfio(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        g_setenv("FAKEKERNEL_FAIL", "unbind:0000:00:02.0:EBUSY", TRUE);
        assert_error(f, restore_e1000e(f, "0000:00:02.0", "e1000e"), EBUSY, SYSFS_STEP_UNBIND,
                     "0000:00:02.0: unbind from vfio-pci: Device or resource busy");
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        assert_override(f, "0000:00:02.0", "(null)\n");
}

static void test_fail_probe(Fixture *f, gconstpointer data) {
        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "probe:0000:00:02.0:ENODEV", TRUE);
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ENODEV, SYSFS_STEP_PROBE,
                     "0000:00:02.0: drivers_probe: No such device");
        assert_driver(f, "0000:00:02.0", "");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");
        g_assert_false(fk_driver_has_link(f->root, "e1000e", "0000:00:02.0"));

        /* rollback: driverless with an override -> clear, probe finds e1000e */
        g_unsetenv("FAKEKERNEL_FAIL");
        fk_log_clear(f->root);
        g_assert_cmpint(restore_e1000e(f, "0000:00:02.0", "e1000e"), ==, 0);
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_log(f, "override 0000:00:02.0 \"\\n\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n");
}

/* drivers_probe says EINVAL when device_attach() was negative (a probe
 * racing ours, a device still settling after a blocked unbind from vfio):
 * tried once more; the second answer counts. */
static void test_probe_einval_once(Fixture *f, gconstpointer data) {
        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "probe:0000:00:02.0:EINVAL#1", TRUE);
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        assert_log(f, "override 0000:00:02.0 \"vfio-pci\" ok\n"
                      "unbind e1000e \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" EINVAL\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n");
}

static void test_probe_einval_twice(Fixture *f, gconstpointer data) {
        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "probe:0000:00:02.0:EINVAL", TRUE);
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), EINVAL, SYSFS_STEP_PROBE,
                     "0000:00:02.0: drivers_probe: Invalid argument");
        assert_driver(f, "0000:00:02.0", "");
}

static void test_fail_probe_nothing(Fixture *f, gconstpointer data) {
        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "probe-nothing:0000:00:02.0", TRUE);
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ENODEV, SYSFS_STEP_VERIFY,
                     "0000:00:02.0: drivers_probe bound nothing (expected vfio-pci)");
        assert_driver(f, "0000:00:02.0", "");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");
        assert_log(f, "override 0000:00:02.0 \"vfio-pci\" ok\n"
                      "unbind e1000e \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n");
}

static void test_fail_restore_bind(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        g_setenv("FAKEKERNEL_FAIL", "probe-nothing:0000:00:02.0,bind:0000:00:02.0:EIO", TRUE);
        assert_error(f, restore_e1000e(f, "0000:00:02.0", "e1000e"), EIO, SYSFS_STEP_BIND,
                     "0000:00:02.0: bind to e1000e: Input/output error");
        assert_driver(f, "0000:00:02.0", "");
        assert_override(f, "0000:00:02.0", "(null)\n");
        g_assert_false(fk_driver_has_link(f->root, "e1000e", "0000:00:02.0"));
        g_assert_false(fk_driver_has_link(f->root, "vfio-pci", "0000:00:02.0"));
}

static void test_fail_restore_probe(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        g_setenv("FAKEKERNEL_FAIL", "probe:*:EIO", TRUE);
        assert_error(f, restore_e1000e(f, "0000:00:02.0", "e1000e"), EIO, SYSFS_STEP_PROBE,
                     "0000:00:02.0: drivers_probe: Input/output error");
        assert_driver(f, "0000:00:02.0", "");
}

static void test_fail_reset(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:00:02.0");
        g_autofree char *count = NULL;

        (void) data;
        g_setenv("FAKEKERNEL_FAIL", "reset:0000:00:02.0:ENOTTY", TRUE);
        assert_error(f, sysfs_reset(&f->ctx, &a, E1000E_VENDOR, E1000E_DEVICE, &f->err), ENOTTY, SYSFS_STEP_RESET,
                     "0000:00:02.0: reset (pm): Inappropriate ioctl for device");
        count = fk_read(f->root, "0000:00:02.0", FAKEKERNEL_RESET_COUNT_FILE);
        g_assert_null(count);
        assert_log(f, "reset 0000:00:02.0 \"1\" ENOTTY\n");
}

/* ---- refusals before any write ---- */

static void test_identity_mismatch(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:00:02.0");
        const char *msg = "0000:00:02.0: identity changed (expected 8086:10d3, found 1234:10d3)";

        (void) data;
        fk_put(f->root, "0000:00:02.0", "vendor", "0x1234\n");
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ESTALE, SYSFS_STEP_OPEN, msg);
        assert_error(f, restore_e1000e(f, "0000:00:02.0", "e1000e"), ESTALE, SYSFS_STEP_OPEN, msg);
        assert_error(f, sysfs_reset(&f->ctx, &a, E1000E_VENDOR, E1000E_DEVICE, &f->err), ESTALE, SYSFS_STEP_OPEN, msg);
        assert_log(f, "");
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_override(f, "0000:00:02.0", "(null)\n");
}

static void test_device_absent(Fixture *f, gconstpointer data) {
        (void) data;
        assert_error(f, bind_e1000e(f, "0000:00:04.0", "vfio-pci"), ENODEV, SYSFS_STEP_OPEN,
                     "0000:00:04.0: device not present");
        assert_log(f, "");
}

static void test_driver_not_loaded(Fixture *f, gconstpointer data) {
        g_autofree char *dir = g_build_filename(f->root, "bus", "pci", "drivers", "vfio-pci", NULL);
        g_autofree char *bind = g_build_filename(dir, "bind", NULL);
        g_autofree char *unbind = g_build_filename(dir, "unbind", NULL);
        g_autofree char *new_id = g_build_filename(dir, "new_id", NULL);
        g_autofree char *remove_id = g_build_filename(dir, "remove_id", NULL);

        (void) data;
        g_assert_cmpint(g_unlink(bind), ==, 0);
        g_assert_cmpint(g_unlink(unbind), ==, 0);
        g_assert_cmpint(g_unlink(new_id), ==, 0);
        g_assert_cmpint(g_unlink(remove_id), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ENOENT, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: driver vfio-pci is not loaded (no bus/pci/drivers/vfio-pci)");
        assert_driver(f, "0000:00:02.0", "e1000e");
        assert_log(f, "");
}

static void test_invalid_driver_name(Fixture *f, gconstpointer data) {
        (void) data;
        assert_error(f, bind_e1000e(f, "0000:00:02.0", "../vfio-pci"), EINVAL, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: invalid driver name");
        assert_error(f, bind_e1000e(f, "0000:00:02.0", ""), EINVAL, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: invalid driver name");
        assert_error(f, restore_e1000e(f, "0000:00:02.0", "a/b"), EINVAL, SYSFS_STEP_BIND,
                     "0000:00:02.0: invalid host driver name");
        assert_log(f, "");
}

/* The function is swapped while the override write is in progress (the
 * fake kernel is slow to take it): the re-check before the unbind, which
 * names the function by address, refuses to go on. */
typedef struct SwapArgs {
        Fixture *f;
        int r;
} SwapArgs;

static gpointer bind_thread(gpointer data) {
        SwapArgs *args = data;
        args->r = bind_e1000e(args->f, "0000:00:02.0", "vfio-pci");
        return NULL;
}

static void test_identity_changes_midway(Fixture *f, gconstpointer data) {
        SwapArgs args = { .f = f };
        GThread *t;

        (void) data;
        g_setenv("FAKEKERNEL_DELAY_MS", "override:0000:00:02.0:1000", TRUE);
        t = g_thread_new("bind", bind_thread, &args);
        g_usleep(300 * 1000);
        fk_put(f->root, "0000:00:02.0", "device", "0x100e\n");
        g_thread_join(t);
        assert_error(f, args.r, ESTALE, SYSFS_STEP_OPEN,
                     "0000:00:02.0: identity changed (expected 8086:10d3, found 8086:100e)");
        assert_log(f, "override 0000:00:02.0 \"vfio-pci\" ok\n");
        assert_driver(f, "0000:00:02.0", "e1000e");
}

/* Jobs for different functions from several threads (the daemon has one
 * worker, but the library must not care). */
typedef struct ThreadArgs {
        Fixture *f;
        const char *addr;
        SysfsError err;
        int failures;
} ThreadArgs;

static gpointer roundtrip_thread(gpointer data) {
        ThreadArgs *args = data;
        PciAddress a = addr(args->addr);

        for (int i = 0; i < 5; i++) {
                if (sysfs_bind_override(&args->f->ctx, &a, E1000E_VENDOR, E1000E_DEVICE, "vfio-pci", &args->err) < 0)
                        args->failures++;
                if (sysfs_restore(&args->f->ctx, &a, E1000E_VENDOR, E1000E_DEVICE, "e1000e", &args->err) < 0)
                        args->failures++;
        }
        return NULL;
}

static void test_threads(Fixture *f, gconstpointer data) {
        ThreadArgs args[] = {
                { .f = f, .addr = "0000:00:02.0" }, { .f = f, .addr = "0000:00:03.0" },
                { .f = f, .addr = "0000:08:00.0" }, { .f = f, .addr = "0000:09:00.0" },
        };
        GThread *t[ELEMENTSOF(args)];
        g_autofree char *log = NULL;
        g_auto(GStrv) lines = NULL;

        (void) data;
        for (size_t i = 0; i < ELEMENTSOF(args); i++)
                t[i] = g_thread_new("roundtrip", roundtrip_thread, &args[i]);
        for (size_t i = 0; i < ELEMENTSOF(args); i++) {
                g_thread_join(t[i]);
                g_assert_cmpint(args[i].failures, ==, 0);
                assert_driver(f, args[i].addr, "e1000e");
                assert_override(f, args[i].addr, "(null)\n");
        }
        /* 4 functions x 5 round trips x 6 writes */
        log = fk_log(f->root);
        lines = g_strsplit(log, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 4 * 5 * 6 + 1);
}

/* ---- reset ---- */

static void test_reset(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:05:01.0"), none = addr("0000:05:02.0");
        g_autofree char *count = NULL;

        (void) data;
        g_assert_cmpint(sysfs_reset(&f->ctx, &a, E1000E_VENDOR, E1000_DEVICE, &f->err), ==, 0);
        count = fk_read(f->root, "0000:05:01.0", FAKEKERNEL_RESET_COUNT_FILE);
        g_assert_cmpstr(count, ==, "1\n");
        assert_log(f, "reset 0000:05:01.0 \"1\" ok\n");
        fk_log_clear(f->root);

        /* no `reset` file: the kernel found no method */
        assert_error(f, sysfs_reset(&f->ctx, &none, E1000E_VENDOR, E1000_DEVICE, &f->err), ENOTTY, SYSFS_STEP_RESET,
                     "0000:05:02.0: no reset method (no reset attribute)");
        assert_log(f, "");
}

/* every method disabled through reset_method: the write says ENOTTY */
static void test_reset_methods_disabled(Fixture *f, gconstpointer data) {
        PciAddress a = addr("0000:00:02.0");

        (void) data;
        fk_put(f->root, "0000:00:02.0", "reset_method", "");
        assert_error(f, sysfs_reset(&f->ctx, &a, E1000E_VENDOR, E1000E_DEVICE, &f->err), ENOTTY, SYSFS_STEP_RESET,
                     "0000:00:02.0: reset: Inappropriate ioctl for device");
}

/* ---- giving back an adopted binding exactly (sysfs_bind_exact) ---- */

static int exact_e1000e(Fixture *f, const char *a, const char *driver, const char *override) {
        PciAddress pa = addr(a);
        return sysfs_bind_exact(&f->ctx, &pa, E1000E_VENDOR, E1000E_DEVICE, driver, override, &f->err);
}

/* As found is as wanted: nothing is written, whether the override names
 * the driver (driverctl) or is unset (vfio-pci.ids=). */
static void test_exact_as_found(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        fk_log_clear(f->root);
        g_assert_cmpint(exact_e1000e(f, "0000:00:02.0", "vfio-pci", "vfio-pci"), ==, 0);
        g_assert_cmpint(f->err.error, ==, 0);
        assert_log(f, "");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");

        /* the override is put back as it was: unset */
        g_assert_cmpint(exact_e1000e(f, "0000:00:02.0", "vfio-pci", NULL), ==, 0);
        assert_log(f, "override 0000:00:02.0 \"\\n\" ok\n");
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        assert_override(f, "0000:00:02.0", "(null)\n");
        fk_log_clear(f->root);
        g_assert_cmpint(exact_e1000e(f, "0000:00:02.0", "vfio-pci", ""), ==, 0);
        assert_log(f, "");
}

/* pci-stub without an override (pci-stub.ids= at boot), now on vfio-pci:
 * bound through its override (so that the probe picks it), then the
 * override cleared as it was. */
static void test_exact_pci_stub(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        fk_log_clear(f->root);
        g_assert_cmpint(exact_e1000e(f, "0000:00:02.0", "pci-stub", NULL), ==, 0);
        assert_driver(f, "0000:00:02.0", "pci-stub");
        assert_override(f, "0000:00:02.0", "(null)\n");
        g_assert_false(fk_driver_has_link(f->root, "vfio-pci", "0000:00:02.0"));
        assert_log(f, "override 0000:00:02.0 \"pci-stub\" ok\n"
                      "unbind vfio-pci \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n"
                      "override 0000:00:02.0 \"\\n\" ok\n");

        /* and back to vfio-pci with its override, from a host driver too */
        g_assert_cmpint(restore_e1000e(f, "0000:00:02.0", "e1000e"), ==, 0);
        fk_log_clear(f->root);
        g_assert_cmpint(exact_e1000e(f, "0000:00:02.0", "vfio-pci", "vfio-pci"), ==, 0);
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");
        assert_log(f, "override 0000:00:02.0 \"vfio-pci\" ok\n"
                      "unbind e1000e \"0000:00:02.0\" ok\n"
                      "probe drivers_probe \"0000:00:02.0\" ok\n");
}

static void test_exact_fails(Fixture *f, gconstpointer data) {
        (void) data;
        g_assert_cmpint(bind_e1000e(f, "0000:00:02.0", "vfio-pci"), ==, 0);
        assert_error(f, exact_e1000e(f, "0000:00:02.0", "vfio-pci", "a/b"), EINVAL, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: invalid driver_override");
        assert_error(f, exact_e1000e(f, "0000:00:02.0", "../x", NULL), EINVAL, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: invalid driver name");
        g_setenv("FAKEKERNEL_FAIL", "override@:0000:00:02.0:EIO", TRUE);
        assert_error(f, exact_e1000e(f, "0000:00:02.0", "vfio-pci", NULL), EIO, SYSFS_STEP_CLEAR_OVERRIDE,
                     "0000:00:02.0: clear driver_override: Input/output error");
        assert_override(f, "0000:00:02.0", "vfio-pci\n");
        g_setenv("FAKEKERNEL_FAIL", "override@pci-stub:0000:00:02.0:EPERM", TRUE);
        assert_error(f, exact_e1000e(f, "0000:00:02.0", "pci-stub", NULL), EPERM, SYSFS_STEP_SET_OVERRIDE,
                     "0000:00:02.0: set driver_override to pci-stub: Operation not permitted");
        assert_driver(f, "0000:00:02.0", "vfio-pci");
        g_setenv("FAKEKERNEL_FAIL", "probe-nothing:0000:00:02.0", TRUE);
        assert_error(f, exact_e1000e(f, "0000:00:02.0", "pci-stub", NULL), ENODEV, SYSFS_STEP_VERIFY,
                     "0000:00:02.0: drivers_probe bound nothing (expected pci-stub)");
        g_unsetenv("FAKEKERNEL_FAIL");
        assert_driver(f, "0000:00:02.0", "");
}

static void add(const char *name, void (*fn)(Fixture *, gconstpointer)) {
        g_test_add(name, Fixture, NULL, fixture_setup, fn, fixture_teardown);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        /* Before anything: the fake kernel must be loaded, or writes would
         * land in plain files (harmless: the root is always a temporary tree,
         * but the test would prove nothing). */
        if (!fakekernel_preloaded())
                g_error("libfakekernel.so is not preloaded (run through meson test)");

        add("/sysfs-ops/safety", test_safety);
        g_test_add_func("/sysfs-ops/step-names", test_step_names);
        add("/sysfs-ops/read-driver", test_read_driver);
        add("/sysfs-ops/e1000e-roundtrip", test_e1000e_roundtrip);
        add("/sysfs-ops/pci-stub", test_pci_stub);
        add("/sysfs-ops/multifunction-group", test_multifunction_group);
        add("/sysfs-ops/nvme-vf-autoprobe-off", test_nvme_vf);
        add("/sysfs-ops/nvme-vf-restore-to-nvme", test_nvme_vf_restore_to_nvme);
        add("/sysfs-ops/already-bound", test_already_bound);
        add("/sysfs-ops/restore/other-driver", test_restore_other_driver);
        add("/sysfs-ops/restore/probe-nothing", test_restore_probe_nothing);
        add("/sysfs-ops/fail/override", test_fail_override);
        add("/sysfs-ops/fail/clear-override", test_fail_clear_override);
        add("/sysfs-ops/fail/unbind", test_fail_unbind);
        add("/sysfs-ops/fail/unbind-vfio", test_fail_unbind_vfio);
        add("/sysfs-ops/fail/probe", test_fail_probe);
        add("/sysfs-ops/fail/probe-nothing", test_fail_probe_nothing);
        add("/sysfs-ops/probe-einval-once", test_probe_einval_once);
        add("/sysfs-ops/fail/probe-einval-twice", test_probe_einval_twice);
        add("/sysfs-ops/fail/restore-probe", test_fail_restore_probe);
        add("/sysfs-ops/fail/restore-bind", test_fail_restore_bind);
        add("/sysfs-ops/fail/reset", test_fail_reset);
        add("/sysfs-ops/refuse/identity-mismatch", test_identity_mismatch);
        add("/sysfs-ops/refuse/identity-changes-midway", test_identity_changes_midway);
        add("/sysfs-ops/refuse/device-absent", test_device_absent);
        add("/sysfs-ops/refuse/driver-not-loaded", test_driver_not_loaded);
        add("/sysfs-ops/refuse/invalid-driver-name", test_invalid_driver_name);
        add("/sysfs-ops/threads", test_threads);
        add("/sysfs-ops/reset", test_reset);
        add("/sysfs-ops/reset-methods-disabled", test_reset_methods_disabled);
        add("/sysfs-ops/exact/as-found", test_exact_as_found);
        add("/sysfs-ops/exact/pci-stub", test_exact_pci_stub);
        add("/sysfs-ops/exact/fails", test_exact_fails);

        return g_test_run();
}
