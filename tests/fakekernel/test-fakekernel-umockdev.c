/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake kernel layered over umockdev's preload, the way the daemon's
 * integration tests use it: LD_PRELOAD="libfakekernel.so libumockdev-preload.so.0",
 * FAKEKERNEL_ROOT=$UMOCKDEV_DIR/sys, FAKEKERNEL_UMOCKDEV=1, and code that
 * opens "/sys" like the daemon does.
 *
 * Safety: before any write the test proves that "/sys" is redirected into the
 * testbed for this process and that the sysfs context's root fd is the
 * testbed's.  Beyond that it only touches functions on PCI buses other than 0,
 * which this (virtual) machine does not have, so even a failing redirection
 * could not reach one of its own devices. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <libudev.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <umockdev.h>
#include <unistd.h>

#include "fakekernel-test.h"
#include "macro.h"
#include "sysfs-ops.h"

#define E02_SYSPATH "/sys/devices/pci0000:00/0000:00:07.0/0000:02:00.0"

static char *udev_driver(struct udev *udev, const char *syspath) {
        struct udev_device *d = udev_device_new_from_syspath(udev, syspath);
        char *s;

        g_assert_nonnull(d);
        s = g_strdup(udev_device_get_driver(d) ?: "");
        udev_device_unref(d);
        return s;
}

static void put_plain(const char *path, const char *content) {
        g_autoptr(GError) error = NULL;
        g_file_set_contents(path, content, -1, &error);
        g_assert_no_error(error);
}

static void test_layered(void) {
        g_autoptr(UMockdevTestbed) tb = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *tbroot = NULL, *testbed = NULL, *sysroot = NULL, *real_sysroot = NULL, *marker = NULL, *marker_sys = NULL;
        g_autofree char *vfio = NULL, *bind = NULL, *unbind = NULL, *proc = NULL, *rootfd_target = NULL;
        g_autofree char *drv = NULL, *native = NULL, *ovr = NULL, *log = NULL;
        struct udev *udev;
        SysfsContext ctx = { .root_fd = -1 };
        SysfsError err;
        PciAddress a;
        int fd;

        g_assert_true(fakekernel_preloaded());
        tb = umockdev_testbed_new();
        g_assert_true(umockdev_in_mock_environment());
        tbroot = umockdev_testbed_get_root_dir(tb);
        sysroot = g_build_filename(tbroot, "sys", NULL);
        fk_assert_safe_root(sysroot);
        real_sysroot = realpath(sysroot, NULL);
        g_assert_nonnull(real_sysroot);
        testbed = g_build_filename(g_getenv("PCI_ASSIGND_TEST_DATA"), "testbeds", "q35-vm.umockdev", NULL);
        g_assert_true(umockdev_testbed_add_from_file(tb, testbed, &error));
        g_assert_no_error(error);

        /* proof that "/sys" means the testbed in this process */
        marker = g_strdup_printf("%s/fakekernel-marker-%d", sysroot, (int) getpid());
        marker_sys = g_strdup_printf("/sys/fakekernel-marker-%d", (int) getpid());
        put_plain(marker, "");
        if (!g_file_test(marker_sys, G_FILE_TEST_EXISTS))
                g_error("umockdev does not redirect /sys in this process: refusing to go on");

        /* vfio-pci is not in the recording (nothing was bound to it) */
        vfio = g_build_filename(sysroot, "bus", "pci", "drivers", "vfio-pci", NULL);
        g_assert_cmpint(g_mkdir_with_parents(vfio, 0755), ==, 0);
        bind = g_build_filename(vfio, "bind", NULL);
        unbind = g_build_filename(vfio, "unbind", NULL);
        put_plain(bind, "");
        put_plain(unbind, "");

        fk_reset_env();
        g_setenv("FAKEKERNEL_ROOT", sysroot, TRUE);
        g_setenv("FAKEKERNEL_UMOCKDEV", "1", TRUE);

        g_assert_cmpint(sysfs_context_open("/sys", &ctx), ==, 0);
        proc = g_strdup_printf("/proc/self/fd/%d", ctx.root_fd);
        rootfd_target = g_file_read_link(proc, NULL);
        if (g_strcmp0(rootfd_target, real_sysroot) != 0)
                g_error("sysfs root fd is %s, not the testbed %s: refusing to go on", rootfd_target, real_sysroot);

        udev = udev_new();
        g_assert_nonnull(udev);
        drv = udev_driver(udev, E02_SYSPATH);
        g_assert_cmpstr(drv, ==, "e1000e");
        g_clear_pointer(&drv, g_free);

        /* the daemon's way: dirfd-relative writes below an fd on "/sys" */
        g_assert_cmpint(pci_address_parse("0000:02:00.0", &a), ==, 0);
        g_assert_cmpint(sysfs_bind_override(&ctx, &a, 0x8086, 0x10d3, "vfio-pci", &err), ==, 0);
        drv = udev_driver(udev, E02_SYSPATH);
        g_assert_cmpstr(drv, ==, "vfio-pci");
        g_clear_pointer(&drv, g_free);
        /* the recording has no native driver file: learnt at the unbind */
        native = fk_read(sysroot, "0000:02:00.0", FAKEKERNEL_NATIVE_FILE);
        g_assert_cmpstr(native, ==, "e1000e\n");

        g_assert_cmpint(sysfs_restore(&ctx, &a, 0x8086, 0x10d3, "e1000e", &err), ==, 0);
        drv = udev_driver(udev, E02_SYSPATH);
        g_assert_cmpstr(drv, ==, "e1000e");
        g_clear_pointer(&drv, g_free);

        /* failure injection works the same through the layers */
        g_setenv("FAKEKERNEL_FAIL", "unbind:0000:02:00.0:EBUSY", TRUE);
        g_assert_cmpint(sysfs_bind_override(&ctx, &a, 0x8086, 0x10d3, "vfio-pci", &err), ==, -EBUSY);
        g_assert_cmpstr(err.message, ==, "0000:02:00.0: unbind from e1000e: Device or resource busy");
        g_unsetenv("FAKEKERNEL_FAIL");
        g_assert_cmpint(sysfs_restore(&ctx, &a, 0x8086, 0x10d3, "e1000e", &err), ==, 0);

        /* an absolute "/sys/..." write is mapped onto the root, and what
         * umockdev shows at "/sys/..." is what the fake kernel did */
        fd = open("/sys/bus/pci/devices/0000:0b:00.0/driver_override", O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "pci-stub", 8), ==, 8);
        g_assert_cmpint(close(fd), ==, 0);
        g_assert_true(g_file_get_contents("/sys/bus/pci/devices/0000:0b:00.0/driver_override", &ovr, NULL, NULL));
        g_assert_cmpstr(ovr, ==, "pci-stub\n");
        fd = open("/sys/bus/pci/devices/0000:0b:00.0/driver_override", O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "\n", 1), ==, 1);
        g_assert_cmpint(close(fd), ==, 0);
        g_clear_pointer(&ovr, g_free);
        ovr = fk_read(sysroot, "0000:0b:00.0", "driver_override");
        g_assert_cmpstr(ovr, ==, "(null)\n");

        log = fk_log(sysroot);
        g_assert_cmpstr(log, ==,
                        "override 0000:02:00.0 \"vfio-pci\" ok\n"
                        "unbind e1000e \"0000:02:00.0\" ok\n"
                        "probe drivers_probe \"0000:02:00.0\" ok\n"
                        "override 0000:02:00.0 \"\\n\" ok\n"
                        "unbind vfio-pci \"0000:02:00.0\" ok\n"
                        "probe drivers_probe \"0000:02:00.0\" ok\n"
                        "override 0000:02:00.0 \"vfio-pci\" ok\n"
                        "unbind e1000e \"0000:02:00.0\" EBUSY\n"
                        "override 0000:02:00.0 \"\\n\" ok\n"
                        "override 0000:0b:00.0 \"pci-stub\" ok\n"
                        "override 0000:0b:00.0 \"\\n\" ok\n");

        /* /dev/vfio/N: there while a function of group N is on vfio-pci,
         * in the testbed's dev/, which umockdev shows as /dev */
        {
                PciAddress f0, f1;
                g_autofree char *node = g_build_filename(tbroot, "dev", "vfio", "22", NULL);
                g_autofree char *node16 = g_build_filename(tbroot, "dev", "vfio", "16", NULL);
                struct stat st;

                g_assert_false(g_file_test(node, G_FILE_TEST_EXISTS));
                g_assert_cmpint(pci_address_parse("0000:0b:00.0", &f0), ==, 0);
                g_assert_cmpint(pci_address_parse("0000:0b:00.1", &f1), ==, 0);
                g_assert_cmpint(sysfs_bind_override(&ctx, &f0, 0x8086, 0x10d3, "vfio-pci", &err), ==, 0);
                g_assert_true(g_file_test(node, G_FILE_TEST_EXISTS));
                g_assert_false(g_file_test(node16, G_FILE_TEST_EXISTS));
                /* what the daemon sees: a character device */
                g_assert_cmpint(access("/dev/vfio/22", F_OK), ==, 0);
                g_assert_cmpint(stat("/dev/vfio/22", &st), ==, 0);
                g_assert_true(S_ISCHR(st.st_mode));
                g_assert_cmpuint(major(st.st_rdev), ==, FAKEKERNEL_VFIO_MAJOR);
                g_assert_cmpuint(minor(st.st_rdev), ==, 22);
                g_assert_cmpint(sysfs_bind_override(&ctx, &f1, 0x8086, 0x10d3, "vfio-pci", &err), ==, 0);
                /* one member back on e1000e: the group stays open to vfio */
                g_assert_cmpint(sysfs_restore(&ctx, &f0, 0x8086, 0x10d3, "e1000e", &err), ==, 0);
                g_assert_true(g_file_test(node, G_FILE_TEST_EXISTS));
                g_assert_cmpint(sysfs_restore(&ctx, &f1, 0x8086, 0x10d3, "e1000e", &err), ==, 0);
                g_assert_false(g_file_test(node, G_FILE_TEST_EXISTS));
                g_assert_cmpint(access("/dev/vfio/22", F_OK), <, 0);

                /* FAKEKERNEL_FAIL=no-vfio-node:N: the group's node never comes */
                g_setenv("FAKEKERNEL_FAIL", "no-vfio-node:22", TRUE);
                g_assert_cmpint(sysfs_bind_override(&ctx, &f0, 0x8086, 0x10d3, "vfio-pci", &err), ==, 0);
                g_assert_false(g_file_test(node, G_FILE_TEST_EXISTS));
                g_assert_cmpint(sysfs_bind_override(&ctx, &a, 0x8086, 0x10d3, "vfio-pci", &err), ==, 0);
                g_assert_true(g_file_test(node16, G_FILE_TEST_EXISTS));
                g_unsetenv("FAKEKERNEL_FAIL");
                g_assert_cmpint(sysfs_restore(&ctx, &f0, 0x8086, 0x10d3, "e1000e", &err), ==, 0);
                g_assert_cmpint(sysfs_restore(&ctx, &a, 0x8086, 0x10d3, "e1000e", &err), ==, 0);
                g_assert_false(g_file_test(node16, G_FILE_TEST_EXISTS));
        }

        udev_unref(udev);
        sysfs_context_close(&ctx);
        fk_reset_env();
        g_unsetenv("FAKEKERNEL_ROOT");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        if (!fakekernel_preloaded())
                g_error("libfakekernel.so is not preloaded (run through meson test)");

        g_test_add_func("/fakekernel/umockdev/layered", test_layered);
        return g_test_run();
}
