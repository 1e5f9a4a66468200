/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "sysfs-ops.h"

/* Driver names come from the caller (reservation records) or from a
 * `driver` link; either way they become a path component. */
#define DRIVER_NAME_MAX 128

static const char *const step_names[_SYSFS_STEP_MAX] = {
        [SYSFS_STEP_OPEN] = "open",
        [SYSFS_STEP_SET_OVERRIDE] = "set-override",
        [SYSFS_STEP_CLEAR_OVERRIDE] = "clear-override",
        [SYSFS_STEP_UNBIND] = "unbind",
        [SYSFS_STEP_PROBE] = "drivers-probe",
        [SYSFS_STEP_BIND] = "bind",
        [SYSFS_STEP_VERIFY] = "verify",
        [SYSFS_STEP_RESET] = "reset",
};

const char *sysfs_step_to_string(SysfsStep s) {
        if ((unsigned) s >= _SYSFS_STEP_MAX)
                return NULL;
        return step_names[s];
}

int sysfs_context_open(const char *root, SysfsContext *ret) {
        int fd;

        if (!root || !ret)
                return -EINVAL;
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        ret->root_fd = fd;
        return 0;
}

void sysfs_context_close(SysfsContext *c) {
        if (c && c->root_fd >= 0) {
                (void) close(c->root_fd);
                c->root_fd = -1;
        }
}

/* Fills err ("ADDR: WHAT[: strerror]") and returns r (a negative errno). */
_printf_(6, 7)
static int fail(SysfsError *err, SysfsStep step, int r, bool with_strerror, const char *addr, const char *fmt, ...) {
        size_t l;
        va_list ap;

        if (!err)
                return r;
        err->step = step;
        err->error = -r;
        snprintf(err->message, sizeof err->message, "%s: ", addr);
        l = strlen(err->message);
        va_start(ap, fmt);
        vsnprintf(err->message + l, sizeof err->message - l, fmt, ap);
        va_end(ap);
        if (with_strerror) {
                char ebuf[128];

                l = strlen(err->message);
                snprintf(err->message + l, sizeof err->message - l, ": %s", strerror_r(-r, ebuf, sizeof ebuf));
        }
        return r;
}

static void error_clear(SysfsError *err) {
        if (err) {
                err->step = SYSFS_STEP_OPEN;
                err->error = 0;
                err->message[0] = 0;
        }
}

static bool driver_name_valid(const char *s) {
        size_t l;

        if (!s)
                return false;
        l = strlen(s);
        return l > 0 && l < DRIVER_NAME_MAX && !strpbrk(s, "/ \t\n") && !streq(s, ".") && !streq(s, "..");
}

/* One write() of exactly `bytes` to an attribute; the kernel's store()
 * either takes all of it or fails with the reason we report. */
static int write_attr(int dirfd, const char *path, const char *bytes) {
        _cleanup_close_ int fd = -1;
        size_t l = strlen(bytes);
        ssize_t n;

        fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        n = write(fd, bytes, l);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != l)
                return -EIO;
        return 0;
}

/* The bound driver's name, "" if none. */
static int read_driver_at(int devfd, char *buf, size_t size) {
        ssize_t n = readlink_base_at(devfd, "driver", buf, size);

        if (n == -ENOENT) {
                buf[0] = 0;
                return 0;
        }
        return n < 0 ? (int) n : 0;
}

/* driver_override as set, "" when unset ("(null)"). */
static int read_override_at(int devfd, char *buf, size_t size) {
        ssize_t n = read_line_at(devfd, "driver_override", buf, size);

        if (n < 0)
                return (int) n;
        if (streq(buf, "(null)"))
                buf[0] = 0;
        return 0;
}

typedef struct Device {
        int fd;                             /* the function's sysfs directory */
        char addr[PCI_ADDRESS_STRLEN];
        uint16_t vendor, device;
} Device;

static void device_done(Device *d) {
        closep(&d->fd);
}

/* Vendor/device read at the directory fd: a function removed since we
 * opened it fails the read (its kernfs node is dead), one re-added at the
 * same address under another identity fails the comparison. */
static int check_identity(const Device *d, SysfsError *err) {
        uint32_t v, dv;
        int r;

        r = read_hex_at(d->fd, "vendor", &v);
        if (r < 0)
                return fail(err, SYSFS_STEP_OPEN, r, true, d->addr, "read vendor");
        r = read_hex_at(d->fd, "device", &dv);
        if (r < 0)
                return fail(err, SYSFS_STEP_OPEN, r, true, d->addr, "read device");
        if (v != d->vendor || dv != d->device)
                return fail(err, SYSFS_STEP_OPEN, -ESTALE, false, d->addr,
                            "identity changed (expected %04x:%04x, found %04x:%04x)",
                            d->vendor, d->device, v, dv);
        return 0;
}

static int device_open(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device, Device *ret,
                       SysfsError *err) {
        char path[sizeof "bus/pci/devices/" + PCI_ADDRESS_STRLEN];

        ret->fd = -1;
        ret->vendor = vendor;
        ret->device = device;
        pci_address_format(a, ret->addr);
        if (!c || c->root_fd < 0)
                return fail(err, SYSFS_STEP_OPEN, -EBADF, true, ret->addr, "no sysfs root");
        snprintf(path, sizeof path, "bus/pci/devices/%s", ret->addr);
        ret->fd = openat(c->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ret->fd < 0) {
                if (errno == ENOENT)
                        return fail(err, SYSFS_STEP_OPEN, -ENODEV, false, ret->addr, "device not present");
                return fail(err, SYSFS_STEP_OPEN, negative_errno(), true, ret->addr, "open device directory");
        }
        return check_identity(ret, err);
}

static int do_unbind(const SysfsContext *c, const Device *d, const char *driver, SysfsError *err) {
        char path[sizeof "bus/pci/drivers//unbind" + DRIVER_NAME_MAX];
        int r;

        if (!driver_name_valid(driver))
                return fail(err, SYSFS_STEP_UNBIND, -EINVAL, false, d->addr, "bound to an unexpected driver name");
        r = check_identity(d, err);
        if (r < 0)
                return r;
        snprintf(path, sizeof path, "bus/pci/drivers/%s/unbind", driver);
        r = write_attr(c->root_fd, path, d->addr);
        if (r < 0)
                return fail(err, SYSFS_STEP_UNBIND, r, true, d->addr, "unbind from %s", driver);
        return 0;
}

static int do_probe(const SysfsContext *c, const Device *d, SysfsError *err) {
        char drv[DRIVER_NAME_MAX + 1];
        int r = check_identity(d, err);

        if (r < 0)
                return r;
        r = write_attr(c->root_fd, "bus/pci/drivers_probe", d->addr);
        if (r == -EINVAL || r == -EBUSY) {
                /* drivers_probe_store() says EINVAL whenever device_attach()
                 * was negative: a probe racing ours (the device got a
                 * driver between the kernel's check and its probe) or a
                 * device still settling after a blocked unbind from vfio
                 * (seen under QEMU).  Try once more, a moment later; a
                 * driver bound meanwhile is for the verify step to judge. */
                (void) usleep(100 * 1000);
                r = write_attr(c->root_fd, "bus/pci/drivers_probe", d->addr);
                if ((r == -EINVAL || r == -EBUSY) && read_driver_at(d->fd, drv, sizeof drv) >= 0 && drv[0])
                        r = 0;
        }
        if (r < 0)
                return fail(err, SYSFS_STEP_PROBE, r, true, d->addr, "drivers_probe");
        return 0;
}

static int do_bind(const SysfsContext *c, const Device *d, const char *driver, SysfsError *err) {
        char path[sizeof "bus/pci/drivers//bind" + DRIVER_NAME_MAX];
        int r = check_identity(d, err);

        if (r < 0)
                return r;
        snprintf(path, sizeof path, "bus/pci/drivers/%s/bind", driver);
        r = write_attr(c->root_fd, path, d->addr);
        if (r < 0)
                return fail(err, SYSFS_STEP_BIND, r, true, d->addr, "bind to %s", driver);
        return 0;
}

static int reread_driver(const Device *d, char *buf, size_t size, SysfsError *err) {
        int r = read_driver_at(d->fd, buf, size);

        if (r < 0)
                return fail(err, SYSFS_STEP_VERIFY, r, true, d->addr, "read driver link");
        return 0;
}

int sysfs_read_driver(const SysfsContext *c, const PciAddress *a, char *buf, size_t size) {
        char path[sizeof "bus/pci/devices/" + PCI_ADDRESS_STRLEN], addr[PCI_ADDRESS_STRLEN];
        _cleanup_close_ int fd = -1;

        if (!c || c->root_fd < 0 || !a || !buf || size == 0)
                return -EINVAL;
        snprintf(path, sizeof path, "bus/pci/devices/%s", pci_address_format(a, addr));
        fd = openat(c->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ENODEV : negative_errno();
        return read_driver_at(fd, buf, size);
}

int sysfs_bind_override(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                        const char *driver, SysfsError *err) {
        _cleanup_(device_done) Device d = { .fd = -1 };
        char cur[DRIVER_NAME_MAX], path[sizeof "bus/pci/drivers/" + DRIVER_NAME_MAX];
        int r;

        error_clear(err);
        r = device_open(c, a, vendor, device, &d, err);
        if (r < 0)
                return r;
        if (!driver_name_valid(driver))
                return fail(err, SYSFS_STEP_SET_OVERRIDE, -EINVAL, false, d.addr, "invalid driver name");

        r = read_driver_at(d.fd, cur, sizeof cur);
        if (r < 0)
                return fail(err, SYSFS_STEP_OPEN, r, true, d.addr, "read driver link");
        if (streq(cur, driver)) {
                char ovr[DRIVER_NAME_MAX];

                /* Bound already: only make sure the override says so too,
                 * so that a later probe (a rebind, a reboot of the driver)
                 * does not hand it to a host driver. */
                r = read_override_at(d.fd, ovr, sizeof ovr);
                if (r < 0)
                        return fail(err, SYSFS_STEP_SET_OVERRIDE, r, true, d.addr, "read driver_override");
                if (streq(ovr, driver))
                        return 0;
                r = write_attr(d.fd, "driver_override", driver);
                if (r < 0)
                        return fail(err, SYSFS_STEP_SET_OVERRIDE, r, true, d.addr, "set driver_override to %s", driver);
                return 0;
        }

        /* Without the driver loaded, drivers_probe would leave the function
         * driverless: find out before detaching anything. */
        snprintf(path, sizeof path, "bus/pci/drivers/%s", driver);
        if (faccessat(c->root_fd, path, F_OK, 0) < 0)
                return fail(err, SYSFS_STEP_SET_OVERRIDE, negative_errno(), false, d.addr,
                            "driver %s is not loaded (no bus/pci/drivers/%s)", driver, driver);

        r = write_attr(d.fd, "driver_override", driver);
        if (r < 0)
                return fail(err, SYSFS_STEP_SET_OVERRIDE, r, true, d.addr, "set driver_override to %s", driver);

        if (cur[0]) {
                r = do_unbind(c, &d, cur, err);
                if (r < 0)
                        return r;
        }

        r = do_probe(c, &d, err);
        if (r < 0)
                return r;

        /* drivers_probe succeeds even when nothing bound */
        r = reread_driver(&d, cur, sizeof cur, err);
        if (r < 0)
                return r;
        if (!cur[0])
                return fail(err, SYSFS_STEP_VERIFY, -ENODEV, false, d.addr,
                            "drivers_probe bound nothing (expected %s)", driver);
        if (!streq(cur, driver))
                return fail(err, SYSFS_STEP_VERIFY, -EBUSY, false, d.addr,
                            "drivers_probe bound %s (expected %s)", cur, driver);
        return 0;
}

int sysfs_bind_exact(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                     const char *driver, const char *override, SysfsError *err) {
        _cleanup_(device_done) Device d = { .fd = -1 };
        char cur[DRIVER_NAME_MAX], ovr[DRIVER_NAME_MAX];
        const char *want = strempty(override);
        int r;

        error_clear(err);
        r = device_open(c, a, vendor, device, &d, err);
        if (r < 0)
                return r;
        if (!driver_name_valid(driver))
                return fail(err, SYSFS_STEP_SET_OVERRIDE, -EINVAL, false, d.addr, "invalid driver name");
        if (*want && !driver_name_valid(want))
                return fail(err, SYSFS_STEP_SET_OVERRIDE, -EINVAL, false, d.addr, "invalid driver_override");

        r = read_driver_at(d.fd, cur, sizeof cur);
        if (r < 0)
                return fail(err, SYSFS_STEP_OPEN, r, true, d.addr, "read driver link");
        if (!streq(cur, driver)) {
                r = sysfs_bind_override(c, a, vendor, device, driver, err);
                if (r < 0)
                        return r;
        }

        r = read_override_at(d.fd, ovr, sizeof ovr);
        if (r < 0)
                return fail(err, SYSFS_STEP_SET_OVERRIDE, r, true, d.addr, "read driver_override");
        if (!streq(ovr, want)) {
                /* bound already: an override only matters to the next probe */
                r = write_attr(d.fd, "driver_override", *want ? want : "\n");
                if (r < 0 && *want)
                        return fail(err, SYSFS_STEP_SET_OVERRIDE, r, true, d.addr, "set driver_override to %s", want);
                if (r < 0)
                        return fail(err, SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr, "clear driver_override");
        }

        r = reread_driver(&d, cur, sizeof cur, err);
        if (r < 0)
                return r;
        if (!streq(cur, driver))
                return fail(err, SYSFS_STEP_VERIFY, cur[0] ? -EBUSY : -ENODEV, false, d.addr,
                            "%s bound (expected %s)", cur[0] ? cur : "nothing", driver);
        r = read_override_at(d.fd, ovr, sizeof ovr);
        if (r < 0)
                return fail(err, SYSFS_STEP_VERIFY, r, true, d.addr, "read driver_override");
        if (!streq(ovr, want))
                return fail(err, SYSFS_STEP_VERIFY, -EIO, false, d.addr, "driver_override reads %s (expected %s)",
                            ovr[0] ? ovr : "(null)", *want ? want : "(null)");
        return 0;
}

int sysfs_restore(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                  const char *host_driver, SysfsError *err) {
        _cleanup_(device_done) Device d = { .fd = -1 };
        char cur[DRIVER_NAME_MAX], ovr[DRIVER_NAME_MAX];
        const char *host = host_driver && *host_driver ? host_driver : NULL;
        int r;

        error_clear(err);
        r = device_open(c, a, vendor, device, &d, err);
        if (r < 0)
                return r;
        if (host && !driver_name_valid(host))
                return fail(err, SYSFS_STEP_BIND, -EINVAL, false, d.addr, "invalid host driver name");

        r = read_override_at(d.fd, ovr, sizeof ovr);
        if (r < 0)
                return fail(err, SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr, "read driver_override");
        r = read_driver_at(d.fd, cur, sizeof cur);
        if (r < 0)
                return fail(err, SYSFS_STEP_OPEN, r, true, d.addr, "read driver link");

        if (ovr[0]) {
                r = write_attr(d.fd, "driver_override", "\n");
                if (r < 0)
                        return fail(err, SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr, "clear driver_override");
        }
        if (streq(cur, strempty(host)))
                return 0;

        if (cur[0]) {
                r = do_unbind(c, &d, cur, err);
                if (r < 0)
                        return r;
        }

        if (!host) {
                /* It had no driver: leave it without one rather than let
                 * drivers_probe pick something the host never used. */
                r = reread_driver(&d, cur, sizeof cur, err);
                if (r < 0)
                        return r;
                if (cur[0])
                        return fail(err, SYSFS_STEP_VERIFY, -EBUSY, false, d.addr, "still bound to %s after unbind", cur);
                return 0;
        }

        r = do_probe(c, &d, err);
        if (r < 0)
                return r;
        r = reread_driver(&d, cur, sizeof cur, err);
        if (r < 0)
                return r;
        if (streq(cur, host))
                return 0;

        /* The kernel picked another driver, or none: bind the recorded one
         * explicitly. */
        if (cur[0]) {
                r = do_unbind(c, &d, cur, err);
                if (r < 0)
                        return r;
        }
        r = do_bind(c, &d, host, err);
        if (r < 0)
                return r;
        r = reread_driver(&d, cur, sizeof cur, err);
        if (r < 0)
                return r;
        if (!streq(cur, host)) {
                if (cur[0])
                        return fail(err, SYSFS_STEP_VERIFY, -EBUSY, false, d.addr, "bind to %s left %s bound", host, cur);
                return fail(err, SYSFS_STEP_VERIFY, -ENODEV, false, d.addr, "bind to %s left nothing bound", host);
        }
        return 0;
}

int sysfs_reset(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device, SysfsError *err) {
        _cleanup_(device_done) Device d = { .fd = -1 };
        _cleanup_close_ int fd = -1;
        char methods[128];
        ssize_t n;
        int r;

        error_clear(err);
        r = device_open(c, a, vendor, device, &d, err);
        if (r < 0)
                return r;

        /* The kernel creates `reset` only when it found a method. */
        fd = openat(d.fd, "reset", O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return fail(err, SYSFS_STEP_RESET, -ENOTTY, false, d.addr, "no reset method (no reset attribute)");
                return fail(err, SYSFS_STEP_RESET, negative_errno(), true, d.addr, "open reset");
        }
        /* only for the message: which methods the kernel will try */
        if (read_line_at(d.fd, "reset_method", methods, sizeof methods) <= 0)
                methods[0] = 0;

        n = write(fd, "1", 1);
        if (n != 1) {
                r = n < 0 ? negative_errno() : -EIO;
                if (methods[0])
                        return fail(err, SYSFS_STEP_RESET, r, true, d.addr, "reset (%s)", methods);
                return fail(err, SYSFS_STEP_RESET, r, true, d.addr, "reset");
        }
        return 0;
}

int sysfs_reprobe(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                  char *ret_driver, size_t size, SysfsError *err) {
        _cleanup_(device_done) Device d = { .fd = -1 };
        char cur[DRIVER_NAME_MAX], ovr[DRIVER_NAME_MAX];
        int r;

        error_clear(err);
        r = device_open(c, a, vendor, device, &d, err);
        if (r < 0)
                return r;
        r = read_override_at(d.fd, ovr, sizeof ovr);
        if (r < 0)
                return fail(err, SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr, "read driver_override");
        r = read_driver_at(d.fd, cur, sizeof cur);
        if (r < 0)
                return fail(err, SYSFS_STEP_OPEN, r, true, d.addr, "read driver link");
        if (ovr[0]) {
                r = write_attr(d.fd, "driver_override", "\n");
                if (r < 0)
                        return fail(err, SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr, "clear driver_override");
        }
        if (cur[0]) {
                r = do_unbind(c, &d, cur, err);
                if (r < 0)
                        return r;
        }
        r = do_probe(c, &d, err);
        if (r < 0)
                return r;
        r = reread_driver(&d, cur, sizeof cur, err);
        if (r < 0)
                return r;
        if (ret_driver && size > 0)
                snprintf(ret_driver, size, "%s", cur);
        return 0;
}

int sysfs_group_check(const SysfsContext *c, int group, const char *dev_root, SysfsError *err) {
        char path[64], gname[32];
        _cleanup_close_ int dfd = -1;
        DIR *dir;
        struct dirent *de;
        int r = 0;

        error_clear(err);
        snprintf(gname, sizeof gname, "group %d", group);
        if (!c || c->root_fd < 0 || group < 0)
                return fail(err, SYSFS_STEP_VERIFY, -EINVAL, false, gname, "no such IOMMU group");
        snprintf(path, sizeof path, "kernel/iommu_groups/%d/devices", group);
        dfd = openat(c->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return fail(err, SYSFS_STEP_VERIFY, negative_errno(), true, gname, "open %s", path);
        dir = fdopendir(dfd);
        if (!dir)
                return fail(err, SYSFS_STEP_VERIFY, negative_errno(), true, gname, "read %s", path);
        dfd = -1;  /* owned by dir now */
        while ((de = readdir(dir))) {
                char drv[DRIVER_NAME_MAX];
                _cleanup_close_ int fd = -1;

                if (de->d_name[0] == '.')
                        continue;
                fd = openat(dirfd(dir), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;  /* removed meanwhile: not a member any more */
                r = read_driver_at(fd, drv, sizeof drv);
                if (r < 0) {
                        r = fail(err, SYSFS_STEP_VERIFY, r, true, gname, "read driver of %s", de->d_name);
                        break;
                }
                /* Linux >= 5.19: drivers that leave DMA to their user
                 * (vfio-pci and variants, pci-stub, pcieport) or none */
                if (drv[0] && !strstr(drv, "vfio") && !streq(drv, "pci-stub") && !streq(drv, "pcieport")) {
                        r = fail(err, SYSFS_STEP_VERIFY, -EBUSY, false, gname,
                                 "not viable: %s is bound to host driver %s", de->d_name, drv);
                        break;
                }
        }
        closedir(dir);
        if (r < 0)
                return r;
        if (dev_root) {
                char node[PATH_MAX];
                struct stat st;

                /* stat(), not access(): access() on a device node goes
                 * through the device cgroup (inode_permission() ->
                 * devcgroup_inode_permission()), which DevicePolicy=closed
                 * denies with EPERM even for F_OK; stat() only needs search
                 * permission on /dev/vfio. The node is never opened: a group
                 * is the VMM's to open. */
                snprintf(node, sizeof node, "%s/vfio/%d", dev_root, group);
                if (stat(node, &st) < 0)
                        return fail(err, SYSFS_STEP_VERIFY, negative_errno(), true, gname, "%s", node);
        }
        return 0;
}

int sysfs_read_override(const SysfsContext *c, const PciAddress *a, char *buf, size_t size) {
        char path[sizeof "bus/pci/devices/" + PCI_ADDRESS_STRLEN], addr[PCI_ADDRESS_STRLEN];
        _cleanup_close_ int fd = -1;

        if (!c || c->root_fd < 0 || !a || !buf || size == 0)
                return -EINVAL;
        snprintf(path, sizeof path, "bus/pci/devices/%s", pci_address_format(a, addr));
        fd = openat(c->root_fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? -ENODEV : negative_errno();
        return read_override_at(fd, buf, size);
}

int sysfs_write_override(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                         const char *override, SysfsError *err) {
        _cleanup_(device_done) Device d = { .fd = -1 };
        char ovr[DRIVER_NAME_MAX];
        const char *want = override && *override ? override : NULL;
        int r;

        error_clear(err);
        r = device_open(c, a, vendor, device, &d, err);
        if (r < 0)
                return r;
        if (want && !driver_name_valid(want))
                return fail(err, SYSFS_STEP_SET_OVERRIDE, -EINVAL, false, d.addr, "invalid driver name");
        r = read_override_at(d.fd, ovr, sizeof ovr);
        if (r < 0)
                return fail(err, want ? SYSFS_STEP_SET_OVERRIDE : SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr,
                            "read driver_override");
        if (streq(ovr, strempty(want)))
                return 0;
        r = write_attr(d.fd, "driver_override", want ?: "\n");
        if (r < 0)
                return want ? fail(err, SYSFS_STEP_SET_OVERRIDE, r, true, d.addr, "set driver_override to %s", want)
                            : fail(err, SYSFS_STEP_CLEAR_OVERRIDE, r, true, d.addr, "clear driver_override");
        return 0;
}
