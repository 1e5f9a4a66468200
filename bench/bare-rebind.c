/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The baseline of the Prepare/Unprepare benchmark (run inside the VM
 * guest, on a real kernel): the bare sequence of sysfs writes that
 * pci-assignd makes for one reservation, with nothing else around it.
 *
 *   bare-rebind prepare DRIVER ADDRESS...    for each: driver_override <-
 *       DRIVER, unbind from its driver, drivers_probe, read the driver
 *       link; then for each: reset (if the `reset` file exists)
 *   bare-rebind unprepare HOSTDRIVER ADDRESS...   for each: reset, then
 *       driver_override <- "\n", unbind, drivers_probe, read the link
 *
 * Prints "bare-rebind OP N-functions NS" on stdout (CLOCK_MONOTONIC) and
 * exits 1 if a write failed or the driver at the end is not the expected
 * one.  No argument checking beyond what the kernel does: a test tool,
 * which refuses to run anywhere but in the test VM. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int write_attr(const char *path, const char *s) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, s, strlen(s));
        if (n < 0) {
                int e = -errno;
                close(fd);
                return e;
        }
        close(fd);
        return 0;
}

static void driver_of(const char *addr, char *buf, size_t size) {
        char path[PATH_MAX], target[PATH_MAX];
        ssize_t n;
        const char *base;

        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver", addr);
        n = readlink(path, target, sizeof target - 1);
        if (n < 0) {
                buf[0] = 0;
                return;
        }
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        if (strlen(base) >= size) {
                buf[0] = 0;
                return;
        }
        memcpy(buf, base, strlen(base) + 1);
}

static int rebind(const char *addr, const char *override, const char *want) {
        char path[PATH_MAX], cur[128];
        int r;

        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/driver_override", addr);
        r = write_attr(path, override);
        if (r < 0)
                return fprintf(stderr, "%s: driver_override: %s\n", addr, strerror(-r)), r;
        driver_of(addr, cur, sizeof cur);
        if (cur[0]) {
                snprintf(path, sizeof path, "/sys/bus/pci/drivers/%s/unbind", cur);
                r = write_attr(path, addr);
                if (r < 0)
                        return fprintf(stderr, "%s: unbind: %s\n", addr, strerror(-r)), r;
        }
        r = write_attr("/sys/bus/pci/drivers_probe", addr);
        if (r < 0)
                return fprintf(stderr, "%s: drivers_probe: %s\n", addr, strerror(-r)), r;
        driver_of(addr, cur, sizeof cur);
        if (strcmp(cur, want) != 0)
                return fprintf(stderr, "%s: bound to \"%s\", expected %s\n", addr, cur, want), -EIO;
        return 0;
}

static void reset(const char *addr) {
        char path[PATH_MAX];

        snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/reset", addr);
        if (access(path, F_OK) == 0)
                (void) write_attr(path, "1");  /* ENOTTY happens: the daemon goes on too */
}

int main(int argc, char *argv[]) {
        struct timespec a, b;
        int r = 0;

        /* It writes to the real /sys: only inside the test VM, whose
         * kernel command line tests/vm/run-vm.sh marks with vmtest= */
        {
                char cmdline[4096] = "";
                FILE *f = fopen("/proc/cmdline", "re");

                if (f) {
                        if (!fgets(cmdline, sizeof cmdline, f))
                                cmdline[0] = 0;
                        fclose(f);
                }
                if (!strstr(cmdline, "vmtest=")) {
                        fprintf(stderr, "%s: refusing to run outside the test VM (no vmtest= on the kernel command "
                                "line): it rebinds real PCI devices.\n", argv[0]);
                        return 2;
                }
        }
        if (argc < 4 || (strcmp(argv[1], "prepare") != 0 && strcmp(argv[1], "unprepare") != 0)) {
                fprintf(stderr, "usage: %s prepare|unprepare DRIVER ADDRESS...\n", argv[0]);
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (strcmp(argv[1], "prepare") == 0) {
                for (int i = 3; i < argc && r == 0; i++)
                        r = rebind(argv[i], argv[2], argv[2]);
                for (int i = 3; i < argc && r == 0; i++)
                        reset(argv[i]);
        } else {
                for (int i = 3; i < argc; i++)
                        reset(argv[i]);
                for (int i = 3; i < argc && r == 0; i++)
                        r = rebind(argv[i], "\n", argv[2]);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("bare-rebind %s %d %lld\n", argv[1], argc - 3,
               (long long) (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
        return r == 0 ? 0 : 1;
}
