/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stacks that sysfs does not show as links below the mounted device: the
 * other devices of a multi-device btrfs, and the members of a ZFS pool
 * (from udev's properties, imported pools from the ZFS kstat directory). */
#include <errno.h>
#include <libudev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "host-usage-internal.h"

static inline void udev_unrefp(struct udev **u) {
        if (*u)
                (void) udev_unref(*u);
}
static inline void udev_enumerate_unrefp(struct udev_enumerate **e) {
        if (*e)
                (void) udev_enumerate_unref(*e);
}

static int devs_add(dev_t **devs, size_t *n, size_t *alloc, dev_t dev) {
        for (size_t i = 0; i < *n; i++)
                if ((*devs)[i] == dev)
                        return 0;
        if (GROW(*devs, *alloc, *n + 1) < 0)
                return -ENOMEM;
        (*devs)[(*n)++] = dev;
        return 0;
}

/* The device number in sysfs directory `dir`/`name` (a link to a block
 * device), from its `dev` attribute. */
static int link_dev(const char *dir, const char *name, dev_t *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char buf[32];

        if (asprintf(&path, "%s/%s/dev", dir, name) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (!fgets(buf, sizeof buf, f))
                return -EIO;
        buf[strcspn(buf, "\n")] = 0;
        return parse_majmin(buf, ret);
}

int btrfs_devices(Context *c, dev_t dev, dev_t **ret, size_t *ret_n) {
        _cleanup_free_ char *top = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        *ret = NULL;
        *ret_n = 0;
        top = path_join(c->sysfs, "fs/btrfs");
        if (!top)
                return -ENOMEM;
        d = opendir(top);
        if (!d)
                return errno == ENOMEM ? -ENOMEM : -ENOENT;

        /* /sys/fs/btrfs/<fsid>/devices/<name> -> the block device: find
         * the filesystem that holds dev, then take all of its devices */
        while ((de = readdir(d))) {
                _cleanup_free_ char *devices = NULL;
                _cleanup_closedir_ DIR *dd = NULL;
                _cleanup_free_ dev_t *devs = NULL;
                size_t n = 0, alloc = 0;
                bool found = false;
                struct dirent *e;

                if (de->d_name[0] == '.' || streq(de->d_name, "features"))
                        continue;
                if (asprintf(&devices, "%s/%s/devices", top, de->d_name) < 0) {
                        devices = NULL;
                        return -ENOMEM;
                }
                dd = opendir(devices);
                if (!dd)
                        continue;
                while ((e = readdir(dd))) {
                        dev_t m;
                        int r;

                        if (e->d_name[0] == '.')
                                continue;
                        r = link_dev(devices, e->d_name, &m);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                /* a member we cannot name: not known */
                                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                                continue;
                        }
                        if (m == dev)
                                found = true;
                        if (devs_add(&devs, &n, &alloc, m) < 0)
                                return -ENOMEM;
                }
                if (found) {
                        *ret = TAKE_PTR(devs);
                        *ret_n = n;
                        return 0;
                }
        }
        return -ENOENT;
}

int zfs_pool_devices(Context *c, const char *pool, dev_t **ret, size_t *ret_n) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        _cleanup_free_ dev_t *devs = NULL;
        struct udev_list_entry *l;
        size_t n = 0, alloc = 0;

        *ret = NULL;
        *ret_n = 0;
        udev = udev_new();
        if (!udev)
                return -ENOMEM;
        e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        /* blkid labels every vdev member: ID_FS_TYPE=zfs_member with the
         * pool's name in ID_FS_LABEL (whole disks and partitions alike) */
        if (udev_enumerate_add_match_subsystem(e, "block") < 0 ||
            udev_enumerate_add_match_property(e, "ID_FS_TYPE", "zfs_member") < 0 ||
            udev_enumerate_scan_devices(e) < 0)
                return -EIO;

        udev_list_entry_foreach(l, udev_enumerate_get_list_entry(e)) {
                struct udev_device *ud = udev_device_new_from_syspath(udev, udev_list_entry_get_name(l));
                const char *label, *devnum;
                dev_t dev;

                if (!ud)
                        continue;
                label = udev_device_get_property_value(ud, "ID_FS_LABEL");
                devnum = udev_device_get_sysattr_value(ud, "dev");
                if (!label || !streq(label, pool)) {
                        udev_device_unref(ud);
                        continue;
                }
                /* the sysfs `dev` attribute: udev's MAJOR/MINOR may lag */
                if (!devnum || parse_majmin(devnum, &dev) < 0 || major(dev) == 0) {
                        c->unreadable |= HOST_USAGE_SOURCE_STACK;
                        udev_device_unref(ud);
                        continue;
                }
                if (devs_add(&devs, &n, &alloc, dev) < 0) {
                        udev_device_unref(ud);
                        return -ENOMEM;
                }
                udev_device_unref(ud);
        }
        if (n == 0)
                return -ENOENT;
        *ret = TAKE_PTR(devs);
        *ret_n = n;
        return 0;
}

/* The kernel's pool names: letters, digits and "_-.:" , starting with a
 * letter (zfs's pool_namecheck()); kstat also holds non-pool entries. */
static bool zfs_pool_name_valid(const char *s) {
        size_t l = strlen(s);

        if (l == 0 || l > 255 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
                return false;
        return s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.: ")] == 0;
}

int add_zfs_pool(Context *c, const char *pool, const char *why) {
        _cleanup_free_ dev_t *devs = NULL;
        char name[NAME_BUF];
        size_t n;
        int r;

        r = zfs_pool_devices(c, pool, &devs, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* an imported or mounted pool whose disks we cannot find */
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                const PciAddress *addrs;
                size_t n_addrs;

                r = block_functions(c, devs[i], &addrs, &n_addrs);
                if (r < 0)
                        return r;
                r = add_uses(c, addrs, n_addrs, "%s (ZFS pool %s)", why, sanitize(pool, name));
                if (r < 0)
                        return r;
        }
        return 0;
}

int read_zfs_kstat(Context *c, const char *dir) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir(dir);
        if (!d) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                /* no ZFS module: no pools */
                if (errno != ENOENT)
                        c->unreadable |= HOST_USAGE_SOURCE_ZFS;
                return 0;
        }
        /* /proc/spl/kstat/zfs/<pool>/ per imported pool, next to files
         * (arcstats, dbufstats, ...) that are not pools */
        while ((de = readdir(d))) {
                _cleanup_free_ char *state = NULL;
                int r;

                if (de->d_name[0] == '.' || !zfs_pool_name_valid(de->d_name))
                        continue;
                state = path_join(dir, de->d_name);
                if (!state)
                        return -ENOMEM;
                if (access(state, F_OK) < 0)
                        continue;
                free(state);
                state = path_join(dir, de->d_name);
                if (!state)
                        return -ENOMEM;
                {
                        struct stat st;

                        if (stat(state, &st) < 0 || !S_ISDIR(st.st_mode))
                                continue;
                }
                r = add_zfs_pool(c, de->d_name, "imported");
                if (r < 0)
                        return r;
        }
        return 0;
}
