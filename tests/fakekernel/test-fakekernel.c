/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake kernel itself: each played store() against the kernel behaviour
 * it imitates, failure injection, delays, and the refusals to go near the
 * real sysfs (in subprocesses, on paths that do not exist there, so that even
 * a missing preload could not write anything). */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakekernel-test.h"

static char *root;

static char *dev_attr(const char *addr, const char *name) {
        return fk_dev_file(root, addr, name);
}

static char *drv_attr(const char *driver, const char *name) {
        return g_build_filename(root, "bus", "pci", "drivers", driver, name, NULL);
}

static char *probe_path(void) {
        return g_build_filename(root, "bus", "pci", "drivers_probe", NULL);
}

/* one open + one write(bytes, n) + close; returns 0 or -errno of the write */
static int put_n(const char *path, const char *bytes, size_t n) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t w;
        int r;

        if (fd < 0)
                return -errno;
        w = write(fd, bytes, n);
        r = w < 0 ? -errno : 0;
        if (w >= 0)
                g_assert_cmpint(w, ==, (ssize_t) n);
        g_assert_cmpint(close(fd), ==, 0);
        return r;
}

static int put(const char *path, const char *bytes) {
        return put_n(path, bytes, strlen(bytes));
}

static void setup(void) {
        root = fk_tree_new();
}

static void teardown(void) {
        fk_tree_free(root);
        root = NULL;
}

static void assert_driver(const char *addr, const char *driver) {
        g_autofree char *d = fk_driver(root, addr);
        g_assert_cmpstr(d, ==, driver);
}

static void assert_override(const char *addr, const char *v) {
        g_autofree char *s = fk_read(root, addr, "driver_override");
        g_assert_cmpstr(s, ==, v);
}

static void test_tree(void) {
        g_autofree char *bus_link = NULL, *drv_link = NULL, *grp_link = NULL, *pf_link = NULL;
        g_autofree char *target = NULL, *drv_target = NULL, *vendor = NULL, *group = NULL, *physfn = NULL;
        g_autofree char *native = NULL, *vf_native = NULL, *methods = NULL, *no_reset = NULL, *reset = NULL;

        setup();
        bus_link = g_build_filename(root, "bus", "pci", "devices", "0000:08:00.0", NULL);
        drv_link = dev_attr("0000:08:00.0", "driver");
        grp_link = dev_attr("0000:08:00.0", "iommu_group");
        pf_link = dev_attr("0000:01:00.1", "physfn");
        no_reset = dev_attr("0000:05:02.0", "reset");
        reset = dev_attr("0000:05:01.0", "reset");
        /* the kernel's relative links */
        target = g_file_read_link(bus_link, NULL);
        g_assert_cmpstr(target, ==, "../../../devices/pci0000:00/0000:00:0a.0/0000:06:00.0/0000:07:00.0/0000:08:00.0");
        drv_target = g_file_read_link(drv_link, NULL);
        g_assert_cmpstr(drv_target, ==, "../../../../../../bus/pci/drivers/e1000e");
        group = g_file_read_link(grp_link, NULL);
        g_assert_cmpstr(group, ==, "../../../../../../kernel/iommu_groups/19");
        physfn = g_file_read_link(pf_link, NULL);
        g_assert_cmpstr(physfn, ==, "../0000:01:00.0");
        vendor = fk_read(root, "0000:08:00.0", "vendor");
        g_assert_cmpstr(vendor, ==, "0x8086\n");
        native = fk_read(root, "0000:08:00.0", FAKEKERNEL_NATIVE_FILE);
        g_assert_cmpstr(native, ==, "e1000e\n");
        /* VFs are driverless only because of the PF's autoprobe */
        vf_native = fk_read(root, "0000:01:00.1", FAKEKERNEL_NATIVE_FILE);
        g_assert_cmpstr(vf_native, ==, "nvme\n");
        methods = fk_read(root, "0000:01:00.0", "reset_method");
        g_assert_cmpstr(methods, ==, "flr bus\n");
        g_assert_false(g_file_test(no_reset, G_FILE_TEST_EXISTS));
        g_assert_true(g_file_test(reset, G_FILE_TEST_EXISTS));
        assert_override("0000:08:00.0", "(null)\n");
        g_assert_true(fk_driver_has_link(root, "e1000e", "0000:08:00.0"));
        teardown();
}

/* driver_set_override(): name up to the first newline; "\n" or "" clears */
static void test_override(void) {
        g_autofree char *p = NULL;

        setup();
        p = dev_attr("0000:00:02.0", "driver_override");
        g_assert_cmpint(put(p, "vfio-pci"), ==, 0);
        assert_override("0000:00:02.0", "vfio-pci\n");
        g_assert_cmpint(put(p, "\n"), ==, 0);
        assert_override("0000:00:02.0", "(null)\n");
        g_assert_cmpint(put(p, "pci-stub\nrest"), ==, 0);
        assert_override("0000:00:02.0", "pci-stub\n");
        /* a NUL first: strlen() is 0, which clears */
        g_assert_cmpint(put_n(p, "\0abc", 4), ==, 0);
        assert_override("0000:00:02.0", "(null)\n");
        /* a zero-length write never reaches store() */
        g_assert_cmpint(put(p, "vfio-pci"), ==, 0);
        g_assert_cmpint(put_n(p, "", 0), ==, 0);
        assert_override("0000:00:02.0", "vfio-pci\n");
        teardown();
}

/* unbind_store(): ENODEV unless bound to exactly this driver */
static void test_unbind(void) {
        g_autofree char *e1000e = NULL, *e1000 = NULL;

        setup();
        e1000e = drv_attr("e1000e", "unbind");
        e1000 = drv_attr("e1000", "unbind");
        g_assert_cmpint(put(e1000, "0000:00:02.0"), ==, -ENODEV);
        g_assert_cmpint(put(e1000e, "0000:00:04.0"), ==, -ENODEV);
        g_assert_cmpint(put(e1000e, "garbage/../x"), ==, -ENODEV);
        assert_driver("0000:00:02.0", "e1000e");
        /* sysfs_streq(): one trailing newline is fine */
        g_assert_cmpint(put(e1000e, "0000:00:02.0\n"), ==, 0);
        assert_driver("0000:00:02.0", "");
        g_assert_false(fk_driver_has_link(root, "e1000e", "0000:00:02.0"));
        g_assert_cmpint(put(e1000e, "0000:00:02.0"), ==, -ENODEV);
        teardown();
}

/* drivers_probe_store(): ENODEV for an unknown device, success otherwise,
 * also when nothing binds */
static void test_probe(void) {
        g_autofree char *probe = NULL, *unbind = NULL, *ovr = NULL;

        setup();
        probe = probe_path();
        unbind = drv_attr("e1000e", "unbind");
        ovr = dev_attr("0000:00:02.0", "driver_override");
        g_assert_cmpint(put(probe, "0000:00:04.0"), ==, -ENODEV);
        /* already bound: nothing happens */
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "e1000e");
        /* unbound: the native driver */
        g_assert_cmpint(put(unbind, "0000:00:02.0"), ==, 0);
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "e1000e");
        /* override to a driver that is not loaded: nothing binds, success */
        g_assert_cmpint(put(unbind, "0000:00:02.0"), ==, 0);
        g_assert_cmpint(put(ovr, "nosuchdriver"), ==, 0);
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "");
        /* no native driver at all: nothing, success */
        g_assert_cmpint(put(probe, "0000:00:00.0"), ==, 0);
        assert_driver("0000:00:00.0", "");
        teardown();
}

/* VF of a PF with sriov_drivers_autoprobe=0 (pci_device_can_probe()) */
static void test_vf_autoprobe(void) {
        g_autofree char *probe = NULL, *bind = NULL, *ovr = NULL;

        setup();
        probe = probe_path();
        bind = drv_attr("nvme", "bind");
        ovr = dev_attr("0000:01:00.1", "driver_override");
        g_assert_cmpint(put(probe, "0000:01:00.1"), ==, 0);
        assert_driver("0000:01:00.1", "");
        g_assert_cmpint(put(bind, "0000:01:00.1"), ==, -ENODEV);
        g_assert_cmpint(put(ovr, "nvme"), ==, 0);
        g_assert_cmpint(put(probe, "0000:01:00.1"), ==, 0);
        assert_driver("0000:01:00.1", "nvme");
        /* with autoprobe on, it probes like any function */
        fk_put(root, "0000:01:00.0", "sriov_drivers_autoprobe", "1\n");
        g_assert_cmpint(put(ovr, "\n"), ==, 0);
        g_assert_cmpint(put(probe, "0000:01:00.2"), ==, 0);
        assert_driver("0000:01:00.2", "nvme");
        teardown();
}

/* bind_store(): driver_match_device() first (an override naming another
 * driver, or ids that do not match -> ENODEV), then EBUSY if bound */
static void test_bind(void) {
        g_autofree char *e1000e_bind = NULL, *vfio_bind = NULL, *unbind = NULL, *ovr = NULL;

        setup();
        e1000e_bind = drv_attr("e1000e", "bind");
        vfio_bind = drv_attr("vfio-pci", "bind");
        unbind = drv_attr("e1000e", "unbind");
        ovr = dev_attr("0000:00:02.0", "driver_override");
        g_assert_cmpint(put(e1000e_bind, "0000:00:02.0"), ==, -EBUSY);
        g_assert_cmpint(put(e1000e_bind, "0000:00:04.0"), ==, -ENODEV);
        g_assert_cmpint(put(unbind, "0000:00:02.0"), ==, 0);
        /* vfio-pci has no ids for it */
        g_assert_cmpint(put(vfio_bind, "0000:00:02.0"), ==, -ENODEV);
        /* an override naming another driver makes the match fail */
        g_assert_cmpint(put(ovr, "vfio-pci"), ==, 0);
        g_assert_cmpint(put(e1000e_bind, "0000:00:02.0"), ==, -ENODEV);
        g_assert_cmpint(put(vfio_bind, "0000:00:02.0\n"), ==, 0);
        assert_driver("0000:00:02.0", "vfio-pci");
        g_assert_true(fk_driver_has_link(root, "vfio-pci", "0000:00:02.0"));
        g_assert_cmpint(put(vfio_bind, "0000:00:02.0"), ==, -EBUSY);
        teardown();
}

/* through the driver link, as the kernel resolves it */
static void test_unbind_through_driver_link(void) {
        g_autofree char *dir = NULL, *p = NULL;

        setup();
        dir = dev_attr("0000:00:02.0", "driver");
        p = g_build_filename(dir, "unbind", NULL);
        g_assert_cmpint(put(p, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "");
        teardown();
}

/* reset_store(): kstrtoul() == 1, else EINVAL; no file -> ENOENT at open */
static void test_reset(void) {
        g_autofree char *p = NULL, *none = NULL, *count = NULL;

        setup();
        p = dev_attr("0000:00:02.0", "reset");
        none = dev_attr("0000:05:02.0", "reset");
        g_assert_cmpint(put(p, "0"), ==, -EINVAL);
        g_assert_cmpint(put(p, "2"), ==, -EINVAL);
        g_assert_cmpint(put(p, "x"), ==, -EINVAL);
        g_assert_cmpint(put(p, "1\n"), ==, 0);
        g_assert_cmpint(put(p, "0x1"), ==, 0);
        count = fk_read(root, "0000:00:02.0", FAKEKERNEL_RESET_COUNT_FILE);
        g_assert_cmpstr(count, ==, "2\n");
        g_assert_cmpint(put(none, "1"), ==, -ENOENT);
        g_assert_false(g_file_test(none, G_FILE_TEST_EXISTS));
        teardown();
}

static void test_injection(void) {
        g_autofree char *probe = NULL, *unbind = NULL, *ovr = NULL, *reset = NULL, *log = NULL;

        setup();
        probe = probe_path();
        unbind = drv_attr("e1000e", "unbind");
        ovr = dev_attr("0000:00:02.0", "driver_override");
        reset = dev_attr("0000:00:02.0", "reset");
        g_setenv("FAKEKERNEL_FAIL", "unbind:0000:00:03.0:EBUSY,override:*:ENOTTY,reset:0000:00:02.0:5", TRUE);
        g_assert_cmpint(put(unbind, "0000:00:03.0"), ==, -EBUSY);
        assert_driver("0000:00:03.0", "e1000e");
        g_assert_cmpint(put(unbind, "0000:00:02.0"), ==, 0);
        g_assert_cmpint(put(ovr, "vfio-pci"), ==, -ENOTTY);
        assert_override("0000:00:02.0", "(null)\n");
        g_assert_cmpint(put(reset, "1"), ==, -EIO);
        /* an unknown device still says ENODEV first */
        g_assert_cmpint(put(unbind, "0000:00:04.0"), ==, -ENODEV);

        g_setenv("FAKEKERNEL_FAIL", "probe-nothing:0000:00:02.0", TRUE);
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "");
        g_unsetenv("FAKEKERNEL_FAIL");
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "e1000e");

        log = fk_log(root);
        g_assert_cmpstr(log, ==,
                        "unbind e1000e \"0000:00:03.0\" EBUSY\n"
                        "unbind e1000e \"0000:00:02.0\" ok\n"
                        "override 0000:00:02.0 \"vfio-pci\" ENOTTY\n"
                        "reset 0000:00:02.0 \"1\" EIO\n"
                        "unbind e1000e \"0000:00:04.0\" ENODEV\n"
                        "probe drivers_probe \"0000:00:02.0\" ok\n"
                        "probe drivers_probe \"0000:00:02.0\" ok\n");
        teardown();
}

static void test_delay(void) {
        g_autofree char *reset = NULL;
        gint64 t0, t1;

        setup();
        reset = dev_attr("0000:00:02.0", "reset");
        g_setenv("FAKEKERNEL_DELAY_MS", "reset:0000:00:02.0:500", TRUE);
        t0 = g_get_monotonic_time();
        g_assert_cmpint(put(reset, "1"), ==, 0);
        t1 = g_get_monotonic_time();
        g_assert_cmpint(t1 - t0, >=, 500 * 1000);
        /* other devices are not slowed down */
        g_free(reset);
        reset = dev_attr("0000:00:03.0", "reset");
        t0 = g_get_monotonic_time();
        g_assert_cmpint(put(reset, "1"), ==, 0);
        t1 = g_get_monotonic_time();
        g_assert_cmpint(t1 - t0, <, 450 * 1000);
        teardown();
}

/* "STEP@DRIVER" entries: the driver the write is about (the driver
 * directory for bind/unbind, the name written to driver_override, "@"
 * alone for clearing it, the bound driver for drivers_probe and reset);
 * "#N" values: only the Nth matching write. */
static void test_injection_qualified(void) {
        g_autofree char *probe = NULL, *e1000e_unbind = NULL, *vfio_unbind = NULL, *ovr = NULL, *reset = NULL;
        g_autofree char *e1000e_bind = NULL, *log = NULL;

        setup();
        probe = probe_path();
        e1000e_unbind = drv_attr("e1000e", "unbind");
        e1000e_bind = drv_attr("e1000e", "bind");
        vfio_unbind = drv_attr("vfio-pci", "unbind");
        ovr = dev_attr("0000:00:02.0", "driver_override");
        reset = dev_attr("0000:00:02.0", "reset");

        /* an unbind from vfio-pci fails, the one from e1000e does not */
        g_setenv("FAKEKERNEL_FAIL", "unbind@vfio-pci:0000:00:02.0:EBUSY,override@:0000:00:02.0:EIO,"
                 "reset@vfio-pci:0000:00:02.0:ENOTTY,bind@e1000:*:ENXIO", TRUE);
        g_assert_cmpint(put(ovr, "vfio-pci"), ==, 0);
        g_assert_cmpint(put(e1000e_unbind, "0000:00:02.0"), ==, 0);
        g_assert_cmpint(put(reset, "1"), ==, 0);        /* no driver bound now */
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        assert_driver("0000:00:02.0", "vfio-pci");
        g_assert_cmpint(put(reset, "1"), ==, -ENOTTY);  /* on vfio-pci */
        g_assert_cmpint(put(vfio_unbind, "0000:00:02.0"), ==, -EBUSY);
        assert_driver("0000:00:02.0", "vfio-pci");
        g_assert_cmpint(put(ovr, "\n"), ==, -EIO);       /* clearing */
        assert_override("0000:00:02.0", "vfio-pci\n");
        g_assert_cmpint(put(ovr, "pci-stub"), ==, 0);   /* setting another */
        assert_override("0000:00:02.0", "pci-stub\n");
        /* the bind qualifier is the driver directory: e1000e is not e1000 */
        g_assert_cmpint(put(e1000e_bind, "0000:00:02.0"), ==, -ENODEV);  /* override says pci-stub */

        /* the 2nd matching write only, then the next entry for the rest */
        g_setenv("FAKEKERNEL_FAIL", "reset:0000:00:02.0:EIO#2,reset:0000:00:02.0:ETIMEDOUT#4", TRUE);
        g_assert_cmpint(put(reset, "1"), ==, 0);
        g_assert_cmpint(put(reset, "1"), ==, -EIO);
        g_assert_cmpint(put(reset, "1"), ==, 0);
        g_assert_cmpint(put(reset, "1"), ==, -ETIMEDOUT);
        g_assert_cmpint(put(reset, "1"), ==, 0);
        /* a new value of the variable starts counting again */
        g_setenv("FAKEKERNEL_FAIL", "reset:*:EIO#1", TRUE);
        g_assert_cmpint(put(reset, "1"), ==, -EIO);
        g_assert_cmpint(put(reset, "1"), ==, 0);
        g_unsetenv("FAKEKERNEL_FAIL");

        log = fk_log(root);
        g_assert_cmpstr(log, ==,
                        "override 0000:00:02.0 \"vfio-pci\" ok\n"
                        "unbind e1000e \"0000:00:02.0\" ok\n"
                        "reset 0000:00:02.0 \"1\" ok\n"
                        "probe drivers_probe \"0000:00:02.0\" ok\n"
                        "reset 0000:00:02.0 \"1\" ENOTTY\n"
                        "unbind vfio-pci \"0000:00:02.0\" EBUSY\n"
                        "override 0000:00:02.0 \"\\n\" EIO\n"
                        "override 0000:00:02.0 \"pci-stub\" ok\n"
                        "bind e1000e \"0000:00:02.0\" ENODEV\n"
                        "reset 0000:00:02.0 \"1\" ok\n"
                        "reset 0000:00:02.0 \"1\" EIO\n"
                        "reset 0000:00:02.0 \"1\" ok\n"
                        "reset 0000:00:02.0 \"1\" ETIMEDOUT\n"
                        "reset 0000:00:02.0 \"1\" ok\n"
                        "reset 0000:00:02.0 \"1\" EIO\n"
                        "reset 0000:00:02.0 \"1\" ok\n");
        teardown();
}

/* A delayed write shows in ROOT/.fakekernel-delayed while it sleeps; a
 * qualified delay slows only the writes about that driver.  The slow
 * write runs in a child process (setenv() in later cases must not follow
 * a thread). */
static void test_delay_marker(void) {
        g_autofree char *unbind = NULL, *vfio_unbind = NULL, *ovr = NULL, *probe = NULL, *marker = NULL;
        g_autofree char *shown = NULL, *log = NULL;
        pid_t child;
        int status;
        gint64 t0, deadline;

        setup();
        unbind = drv_attr("e1000e", "unbind");
        vfio_unbind = drv_attr("vfio-pci", "unbind");
        ovr = dev_attr("0000:00:02.0", "driver_override");
        probe = probe_path();
        marker = g_build_filename(root, FAKEKERNEL_DELAYED_FILE, NULL);
        g_setenv("FAKEKERNEL_DELAY_MS", "unbind@vfio-pci:0000:00:02.0:1500", TRUE);

        /* the unbind from e1000e is not slowed down */
        t0 = g_get_monotonic_time();
        g_assert_cmpint(put(ovr, "vfio-pci"), ==, 0);
        g_assert_cmpint(put(unbind, "0000:00:02.0"), ==, 0);
        g_assert_cmpint(put(probe, "0000:00:02.0"), ==, 0);
        g_assert_cmpint(g_get_monotonic_time() - t0, <, 1000 * 1000);
        assert_driver("0000:00:02.0", "vfio-pci");

        child = fork();
        g_assert_cmpint(child, >=, 0);
        if (child == 0)
                _exit(put(vfio_unbind, "0000:00:02.0\n") == 0 ? 0 : 1);
        deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
        while (!g_file_test(marker, G_FILE_TEST_EXISTS)) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_usleep(1000);
        }
        g_assert_true(g_file_get_contents(marker, &shown, NULL, NULL));
        g_assert_cmpstr(shown, ==, "unbind vfio-pci \"0000:00:02.0\\n\" 1500\n");
        /* not played yet */
        assert_driver("0000:00:02.0", "vfio-pci");
        log = fk_log(root);
        g_assert_null(strstr(log, "unbind vfio-pci"));
        g_assert_cmpint(waitpid(child, &status, 0), ==, child);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_assert_false(g_file_test(marker, G_FILE_TEST_EXISTS));
        assert_driver("0000:00:02.0", "");
        g_clear_pointer(&log, g_free);
        log = fk_log(root);
        g_assert_nonnull(strstr(log, "unbind vfio-pci \"0000:00:02.0\\n\" ok\n"));
        g_unsetenv("FAKEKERNEL_DELAY_MS");
        teardown();
}

/* Writers that create files (tree generators) get plain files; an fd the
 * library tracked but that was closed behind its back is not played. */
static void test_plain_files(void) {
        g_autofree char *ovr = NULL, *s = NULL, *other = NULL;
        int fd, fd2;

        setup();
        ovr = dev_attr("0000:00:02.0", "driver_override");
        fd = open(ovr, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "raw", 3), ==, 3);
        g_assert_cmpint(close(fd), ==, 0);
        s = fk_read(root, "0000:00:02.0", "driver_override");
        g_assert_cmpstr(s, ==, "raw");

        fd = open(ovr, O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(syscall(SYS_close, fd), ==, 0);
        other = g_build_filename(root, "plain", NULL);
        g_assert_true(g_file_set_contents(other, "", 0, NULL));
        fd2 = (int) syscall(SYS_openat, AT_FDCWD, other, O_WRONLY | O_CLOEXEC);
        g_assert_cmpint(fd2, ==, fd);
        g_assert_cmpint(write(fd2, "data", 4), ==, 4);
        g_assert_cmpint(close(fd2), ==, 0);
        g_free(s);
        g_assert_true(g_file_get_contents(other, &s, NULL, NULL));
        g_assert_cmpstr(s, ==, "data");
        teardown();
}

/* dirfd-relative opens are resolved through /proc/self/fd */
static void test_openat_relative(void) {
        g_autofree char *dir = NULL;
        int dfd, fd;

        setup();
        dir = g_build_filename(root, "bus", "pci", "devices", "0000:00:02.0", NULL);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_assert_cmpint(dfd, >=, 0);
        fd = openat(dfd, "driver_override", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, "vfio-pci", 8), ==, 8);
        g_assert_cmpint(close(fd), ==, 0);
        g_assert_cmpint(close(dfd), ==, 0);
        assert_override("0000:00:02.0", "vfio-pci\n");
        teardown();
}

/* ---- refusals, each in a subprocess that must abort ---- */

static void refusal(const char *pattern) {
        /* the library must be there, or this would test nothing */
        g_assert_true(fakekernel_preloaded());
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
        g_test_trap_assert_failed();
        g_test_trap_assert_stderr(pattern);
}

static void test_refuse_root_is_sys(void) {
        if (g_test_subprocess()) {
                /* any write-open validates the root first */
                g_autofree char *tmp = g_build_filename(g_get_tmp_dir(), "fakekernel-never-created", NULL);
                g_setenv("FAKEKERNEL_ROOT", "/sys", TRUE);
                (void) open(tmp, O_WRONLY | O_CLOEXEC);
                return;
        }
        refusal("*FAKEKERNEL_ROOT=/sys*real sysfs*");
}

static void test_refuse_absolute(void) {
        if (g_test_subprocess()) {
                g_unsetenv("FAKEKERNEL_ROOT");
                (void) open("/sys/kernel/fakekernel-does-not-exist", O_WRONLY | O_CLOEXEC);
                return;
        }
        refusal("*refusing to open /sys/kernel/fakekernel-does-not-exist for writing*");
}

static void test_refuse_relative(void) {
        if (g_test_subprocess()) {
                int dfd = open("/sys/kernel", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                g_assert_cmpint(dfd, >=, 0);
                (void) openat(dfd, "fakekernel-does-not-exist", O_WRONLY | O_CLOEXEC);
                return;
        }
        refusal("*refusing to open /sys/kernel/fakekernel-does-not-exist for writing*");
}

static void test_refuse_symlink(void) {
        g_autofree char *dir = NULL, *link = NULL;

        if (g_test_subprocess()) {
                g_autofree char *p = g_build_filename(g_getenv("FK_TEST_LINK"), "fakekernel-does-not-exist", NULL);
                (void) open(p, O_WRONLY | O_CLOEXEC);
                return;
        }
        dir = g_dir_make_tmp("fakekernel-link-XXXXXX", NULL);
        g_assert_nonnull(dir);
        link = g_build_filename(dir, "kernel", NULL);
        g_assert_cmpint(symlink("/sys/kernel", link), ==, 0);
        g_setenv("FK_TEST_LINK", link, TRUE);
        refusal("*refusing to open*/sys/kernel/fakekernel-does-not-exist*real sysfs*");
        g_unsetenv("FK_TEST_LINK");
        g_assert_cmpint(g_unlink(link), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_refuse_umockdev_without_root(void) {
        if (g_test_subprocess()) {
                g_unsetenv("FAKEKERNEL_ROOT");
                g_setenv("FAKEKERNEL_UMOCKDEV", "1", TRUE);
                g_setenv("UMOCKDEV_DIR", "/nonexistent", TRUE);
                (void) open("/sys/kernel/fakekernel-does-not-exist", O_WRONLY | O_CLOEXEC);
                return;
        }
        refusal("*refusing to open /sys/kernel/fakekernel-does-not-exist*FAKEKERNEL_UMOCKDEV*");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        if (!fakekernel_preloaded())
                g_error("libfakekernel.so is not preloaded (run through meson test)");

        g_test_add_func("/fakekernel/tree", test_tree);
        g_test_add_func("/fakekernel/override", test_override);
        g_test_add_func("/fakekernel/unbind", test_unbind);
        g_test_add_func("/fakekernel/unbind-through-driver-link", test_unbind_through_driver_link);
        g_test_add_func("/fakekernel/probe", test_probe);
        g_test_add_func("/fakekernel/vf-autoprobe", test_vf_autoprobe);
        g_test_add_func("/fakekernel/bind", test_bind);
        g_test_add_func("/fakekernel/reset", test_reset);
        g_test_add_func("/fakekernel/injection", test_injection);
        g_test_add_func("/fakekernel/delay", test_delay);
        g_test_add_func("/fakekernel/injection-qualified", test_injection_qualified);
        g_test_add_func("/fakekernel/delay-marker", test_delay_marker);
        g_test_add_func("/fakekernel/plain-files", test_plain_files);
        g_test_add_func("/fakekernel/openat-relative", test_openat_relative);
        g_test_add_func("/fakekernel/refuse/root-is-sys", test_refuse_root_is_sys);
        g_test_add_func("/fakekernel/refuse/absolute", test_refuse_absolute);
        g_test_add_func("/fakekernel/refuse/relative", test_refuse_relative);
        g_test_add_func("/fakekernel/refuse/symlink", test_refuse_symlink);
        g_test_add_func("/fakekernel/refuse/umockdev-without-root", test_refuse_umockdev_without_root);

        return g_test_run();
}
