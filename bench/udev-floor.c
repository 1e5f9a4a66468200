/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A second, informational baseline: what libudev alone costs for the PCI
 * functions, the way pci-assignd uses it: enumerate subsystem "pci", make a
 * udev_device of each, and ask it for the properties and the driver (this
 * makes libudev read the uevent file and look for a udev database entry).
 * No attribute files are read: sysfs-floor does that.  The daemon's time is
 * then roughly this plus sysfs-floor plus its own work.
 *
 *   udev-floor
 *
 * Prints one line: functions, how many had a model name, elapsed ms. */
#include <libudev.h>
#include <stdio.h>
#include <time.h>

int main(void) {
        struct timespec t0, t1;
        struct udev *udev;
        struct udev_enumerate *e;
        struct udev_list_entry *i;
        unsigned n = 0, named = 0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        udev = udev_new();
        e = udev ? udev_enumerate_new(udev) : NULL;
        if (!e || udev_enumerate_add_match_subsystem(e, "pci") < 0 || udev_enumerate_scan_devices(e) < 0) {
                fprintf(stderr, "cannot enumerate PCI devices with libudev\n");
                return 1;
        }
        udev_list_entry_foreach(i, udev_enumerate_get_list_entry(e)) {
                struct udev_device *d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(i));

                if (!d)
                        continue;
                n++;
                if (udev_device_get_property_value(d, "ID_VENDOR_FROM_DATABASE") &&
                    udev_device_get_property_value(d, "ID_MODEL_FROM_DATABASE"))
                        named++;
                (void) udev_device_get_property_value(d, "MODALIAS");
                (void) udev_device_get_driver(d);
                udev_device_unref(d);
        }
        udev_enumerate_unref(e);
        udev_unref(udev);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("functions=%u named=%u elapsed_ms=%.3f\n", n, named,
               (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
        return n > 0 ? 0 : 1;
}
