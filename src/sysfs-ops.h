/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pci-address.h"

/* The only code that writes to sysfs.  Every step is one write to one
 * attribute of one PCI function, named by a parsed PciAddress (never by a
 * caller's string), and is verified afterwards: drivers_probe succeeds even
 * when nothing bound, so the `driver` link is read back.  Before any write
 * the function's directory is opened once and its vendor/device are checked
 * against what the caller expects, so a device swapped under us (hot
 * remove + add at the same address) is never written to.
 *
 * All paths are relative to a sysfs root directory fd (normally "/sys"), so
 * tests run against a plain directory tree whose kernel reactions are
 * played by tests/fakekernel.  No logging: errors come back in SysfsError.
 *
 * The identity (vendor/device read at the function's directory fd) is
 * checked before the first write and again before every write that names
 * the function by address (unbind, drivers_probe, bind): a function removed
 * since fails the read, one re-added under another identity fails the
 * comparison.
 *
 * Errors common to the operations (negative errno, err->step, message):
 *   -ENODEV  OPEN    "ADDR: device not present"
 *   -ESTALE  OPEN    "ADDR: identity changed (expected 8086:10d3, found ...)"
 *   -EINVAL  SET_OVERRIDE/BIND  "ADDR: invalid (host) driver name"
 *   -errno   the failing step, with the kernel's reason:
 *            "ADDR: unbind from e1000e: Device or resource busy"
 * No step has a timeout: an unbind from vfio-pci blocks while a VMM holds
 * the device, so call these from a worker thread, never the main loop.
 * On failure the function is left where the failing step left it (the
 * caller rolls back with sysfs_restore()). */

typedef enum SysfsStep {
        SYSFS_STEP_OPEN,             /* open the device dir, check identity */
        SYSFS_STEP_SET_OVERRIDE,     /* driver_override <- driver */
        SYSFS_STEP_CLEAR_OVERRIDE,   /* driver_override <- "\n" */
        SYSFS_STEP_UNBIND,           /* driver/unbind <- address */
        SYSFS_STEP_PROBE,            /* bus/pci/drivers_probe <- address */
        SYSFS_STEP_BIND,             /* bus/pci/drivers/NAME/bind <- address */
        SYSFS_STEP_VERIFY,           /* driver link is what we want */
        SYSFS_STEP_RESET,            /* reset <- 1 (reset_method as set) */
        _SYSFS_STEP_MAX,
} SysfsStep;

typedef struct SysfsError {
        SysfsStep step;
        int error;                   /* positive errno, 0 if none */
        char message[512];           /* "0000:0b:00.0: unbind from e1000e: Device or resource busy" */
} SysfsError;

const char *sysfs_step_to_string(SysfsStep s);

typedef struct SysfsContext {
        int root_fd;                 /* dirfd of the sysfs root ("/sys") */
} SysfsContext;

/* Opens the sysfs root (a directory path, normally "/sys").  Close with
 * sysfs_context_close(), which sets root_fd to -1. */
int sysfs_context_open(const char *root, SysfsContext *ret);
void sysfs_context_close(SysfsContext *c);

/* The bound driver's name into buf ("" if none).  Returns 0 or -errno
 * (-ENODEV: no such function, -EFBIG: buf too small). */
int sysfs_read_driver(const SysfsContext *c, const PciAddress *a, char *buf, size_t size);

/* driver_override into buf ("" if unset).  Returns 0 or -errno. */
int sysfs_read_override(const SysfsContext *c, const PciAddress *a, char *buf, size_t size);

/* Binds the function to `driver` (a vfio driver or pci-stub): writes
 * driver_override, unbinds the current driver (if any), drivers_probe,
 * then verifies the driver link.  Already bound to `driver`: only
 * driver_override is set if it is not `driver` already, returns 0.  Returns 0 or -errno with err filled; besides the
 * common errors:
 *   -ENOENT  SET_OVERRIDE "driver vfio-pci is not loaded (no bus/pci/drivers/vfio-pci)",
 *            found before anything is written
 *   -ENODEV  VERIFY "drivers_probe bound nothing (expected vfio-pci)"
 *   -EBUSY   VERIFY "drivers_probe bound X (expected vfio-pci)" */
int sysfs_bind_override(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                        const char *driver, SysfsError *err);

/* Gives the function back to an adopted binding, exactly as it was found:
 * bound to `driver` (a vfio driver or pci-stub) with driver_override
 * `override` (NULL or "": unset).  Not bound to `driver`: bound as
 * sysfs_bind_override() does (driver_override first, so that the probe
 * picks it whatever id tables match).  Then driver_override is set to
 * `override` (or cleared) if it differs, and both are read back.  Nothing
 * is written when both are as wanted.  Errors besides those of
 * sysfs_bind_override(): SET_OVERRIDE/CLEAR_OVERRIDE with the kernel's
 * errno, -EINVAL SET_OVERRIDE "invalid driver_override", VERIFY -EIO
 * "driver_override reads X (expected Y)". */
int sysfs_bind_exact(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                     const char *driver, const char *override, SysfsError *err);

/* Gives the function back: clears driver_override, unbinds, drivers_probe,
 * and verifies that `host_driver` is bound (NULL/"": that no driver is);
 * if the kernel picked another driver or none, binds `host_driver` through
 * its bind file (unbinding the other one first) and verifies again.
 * Writes only what is needed: the override is cleared only if set, nothing
 * more is done when the host driver is already bound, and with no host
 * driver the function is unbound and left driverless (no drivers_probe).
 * Errors besides the common ones: the failing step's errno ("bind to
 * e1000e: No such device"), or VERIFY -EBUSY/-ENODEV ("bind to e1000e left
 * nothing bound"). */
int sysfs_restore(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                  const char *host_driver, SysfsError *err);

/* Resets the function through its `reset` attribute.  A missing `reset`
 * file means the kernel has no method (-ENOTTY with a message saying so);
 * a listed method can still fail (ENOTTY from the write):
 * "ADDR: reset (pm bus): Inappropriate ioctl for device". */
int sysfs_reset(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device, SysfsError *err);

/* Lets the kernel choose: clears driver_override, unbinds the current
 * driver, drivers_probe; the driver that bound ("" if none) into
 * ret_driver.  For a function whose host driver is not known. */
int sysfs_reprobe(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                  char *ret_driver, size_t size, SysfsError *err);

/* Sets driver_override to `override` (NULL or "": clears it), and nothing
 * else: no unbind, no probe (the binding changes at the next probe).  Only
 * written when it differs.  For putting back an override as it was. */
int sysfs_write_override(const SysfsContext *c, const PciAddress *a, uint16_t vendor, uint16_t device,
                         const char *override, SysfsError *err);

/* Checks that IOMMU group `group` is viable for VFIO: every member of
 * kernel/iommu_groups/N/devices is bound to a vfio driver, pci-stub,
 * pcieport or nothing (what Linux >= 5.19 requires); and, if dev_root is not NULL, that
 * dev_root/vfio/N exists.  -EBUSY "group N: not viable: ADDR is bound to
 * host driver X", or the errno of the failing read/access, with
 * err->step VERIFY. */
int sysfs_group_check(const SysfsContext *c, int group, const char *dev_root, SysfsError *err);
