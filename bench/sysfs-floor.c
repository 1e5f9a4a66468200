/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The floor for pci-assignd's start-up: the least work that reads what the
 * daemon reads for every PCI function, with plain open/read/close and no
 * libudev, no model, no bus.
 *
 *   sysfs-floor [SYSFS_ROOT]        (default /sys)
 *
 * Run it under the same umockdev preload as the daemon so that both pay the
 * same per-syscall cost.  Prints one line: functions, bytes, elapsed ms. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static unsigned long long total_bytes;

static void read_attr(int dfd, const char *name, size_t size) {
        char buf[4096];
        ssize_t n;
        int fd;

        if (size > sizeof buf)
                size = sizeof buf;
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return;
        n = read(fd, buf, size);
        if (n > 0)
                total_bytes += (unsigned long long) n;
        close(fd);
}

/* returns the attribute as an int, or -1 when it is absent */
static int read_int(int dfd, const char *name) {
        char buf[64];
        ssize_t n;
        int fd;

        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -1;
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return -1;
        total_bytes += (unsigned long long) n;
        buf[n] = 0;
        return atoi(buf);
}

static void read_link(int dfd, const char *name) {
        char buf[512];
        ssize_t n;

        n = readlinkat(dfd, name, buf, sizeof buf);
        if (n > 0)
                total_bytes += (unsigned long long) n;
}

/* An SR-IOV PF's VFs: the virtfnN links, found by listing the directory
 * (their numbers need not be dense once VFs come and go). */
static void read_virtfns(int dfd) {
        struct dirent *de;
        DIR *d;
        int fd;

        fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "virtfn", 6) == 0)
                        read_link(dfd, de->d_name);
        closedir(d);
}

/* Reads a whole attribute; returns its length, -1 if absent */
static ssize_t read_file(int dfd, const char *name, char *buf, size_t size) {
        ssize_t n;
        int fd;

        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -1;
        n = read(fd, buf, size);
        close(fd);
        if (n > 0)
                total_bytes += (unsigned long long) n;
        return n;
}

/* The capability with this id in config space, 0 if none (the kernel's
 * walk: standard list from 0x34, extended list from 0x100). */
static unsigned find_cap(const unsigned char *c, size_t n, unsigned id) {
        unsigned pos, ttl = 48;

        if (n < 64 || !(c[6] & 0x10))
                return 0;
        for (pos = c[0x34] & 0xfc; pos >= 0x40 && pos + 1 < n && ttl--; pos = c[pos + 1] & 0xfc)
                if (c[pos] == id)
                        return pos;
        return 0;
}

static bool has_ext_cap(const unsigned char *c, size_t n, unsigned id, bool *ret_known) {
        unsigned pos = 0x100, ttl = (4096 - 256) / 8;

        *ret_known = false;
        if (n < 4096 || !find_cap(c, n, 0x10))
                return false;
        *ret_known = true;
        while (ttl--) {
                unsigned h = c[pos] | c[pos + 1] << 8 | c[pos + 2] << 16 | (unsigned) c[pos + 3] << 24;

                if (h == 0 || h == 0xffffffff)
                        return false;
                if ((h & 0xffff) == id)
                        return true;
                pos = (h >> 20) & 0xffc;
                if (pos < 0x100)
                        return false;
        }
        return false;
}

static void read_function(int devices_fd, const char *name) {
        /* what pci-assignd reads for one function, and only that: the
         * uevent file (IDs, class; names in a umockdev testbed), config
         * space, BARs, driver, override, group, NUMA node, reset methods,
         * and what only some functions have where config space and class
         * say it can exist: boot VGA, SR-IOV relations */
        static const char *const attrs[] = { "resource", "driver_override", "numa_node" };
        unsigned char config[4096];
        char buf[4096];
        unsigned long cls = 0;
        ssize_t n, nc;
        bool bridge, conventional, ext_known, sriov;
        char *p;
        int dfd;

        /* the bus link names the device's real place in the tree */
        read_link(devices_fd, name);
        dfd = openat(devices_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return;
        n = read_file(dfd, "uevent", buf, sizeof buf - 1);
        if (n > 0) {
                buf[n] = 0;
                p = strstr(buf, "PCI_CLASS=");
                if (p)
                        cls = strtoul(p + 10, NULL, 16);
        }
        nc = read_file(dfd, "config", (char *) config, sizeof config);
        for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
                read_attr(dfd, attrs[i], 4096);
        read_link(dfd, "driver");
        read_link(dfd, "iommu_group");
        if (read_file(dfd, "reset_method", buf, sizeof buf) <= 1)
                (void) faccessat(dfd, "reset", F_OK, AT_SYMLINK_NOFOLLOW);
        if ((cls >> 8) == 0x0300 || (cls >> 8) == 0x0001)
                read_attr(dfd, "boot_vga", 4096);

        bridge = nc >= 64 && ((config[0x0e] & 0x7f) == 1 || (config[0x0e] & 0x7f) == 2);
        conventional = nc >= 64 && !find_cap(config, (size_t) nc, 0x10);
        sriov = nc >= 64 ? has_ext_cap(config, (size_t) nc, 0x10, &ext_known) : (ext_known = false);
        if (!bridge && !conventional)
                read_link(dfd, "physfn");
        if (!conventional && (!ext_known || sriov) && read_int(dfd, "sriov_totalvfs") >= 0) {
                (void) read_int(dfd, "sriov_numvfs");
                (void) read_int(dfd, "sriov_drivers_autoprobe");
                read_virtfns(dfd);
        }
        close(dfd);
}

int main(int argc, char *argv[]) {
        const char *root = argc > 1 ? argv[1] : "/sys";
        struct timespec t0, t1;
        char path[4096];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        if (argc > 2 || (argc == 2 && argv[1][0] != '/')) {
                fprintf(stderr, "usage: %s [SYSFS_ROOT]\n", argv[0]);
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        snprintf(path, sizeof path, "%s/bus/pci/devices", root);
        d = opendir(path);
        if (!d) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return 1;
        }
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                read_function(dirfd(d), de->d_name);
                n++;
        }
        closedir(d);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("functions=%u bytes=%llu elapsed_ms=%.3f\n", n, total_bytes,
               (double) (t1.tv_sec - t0.tv_sec) * 1e3 + (double) (t1.tv_nsec - t0.tv_nsec) / 1e6);
        return n > 0 ? 0 : 1;
}
