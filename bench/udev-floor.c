/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A second, informational baseline: what libudev alone costs for the PCI
 * functions, the way pci-assignd uses it: enumerate subsystem "pci" (which
 * makes libudev create an sd-device object per function: it resolves every
 * component of the path and looks for the udev database entry) and list
 * the syspaths.  No attribute files are read: sysfs-floor does that, and
 * the daemon reads them itself (names come from the uevent file or one
 * hwdb lookup per kind of function).  The daemon's time is then roughly
 * this plus sysfs-floor plus its own work.
 *
 *   udev-floor
 *
 * Prints one line: functions, elapsed ms. */
#include <libudev.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(void) {
        struct timespec t0, t1;
        struct udev *udev;
        struct udev_enumerate *e;
        struct udev_list_entry *i;
        unsigned n = 0;
        size_t bytes = 0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        udev = udev_new();
        e = udev ? udev_enumerate_new(udev) : NULL;
        if (!e || udev_enumerate_add_match_subsystem(e, "pci") < 0 || udev_enumerate_scan_devices(e) < 0) {
                fprintf(stderr, "cannot enumerate PCI devices with libudev\n");
                return 1;
        }
        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                bytes += strlen(udev_list_entry_get_name(i));
                n++;
        }
        udev_enumerate_unref(e);
        udev_unref(udev);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("functions=%u path_bytes=%zu elapsed_ms=%.3f\n", n, bytes,
               (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
        return n > 0 ? 0 : 1;
}
