/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Stacks that sysfs does not show as links below the mounted device: the
 * other devices of a multi-device btrfs, and the members of a ZFS pool
 * (from udev's properties, imported pools from the ZFS kstat directory). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "host-usage-internal.h"

static int devs_add(dev_t **devs, size_t *n, size_t *alloc, dev_t dev) {
        for (size_t i = 0; i < *n; i++)
                if ((*devs)[i] == dev)
                        return 0;
        if (GREEDY_REALLOC(*devs, *alloc, *n + 1) < 0)
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

/* One udev database file (lines "E:KEY=VALUE"): whether it describes a
 * member of `pool`.  Unreadable or too long lines leave *ret false and
 * return -EIO (the caller cannot tell: not known). */
static int udev_file_is_member(const char *path, const char *pool, bool *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        bool type = false, label = false;
        size_t size = 0;
        ssize_t n;

        *ret = false;
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? 0 : -errno; /* gone meanwhile */
        while ((n = getline(&line, &size, f)) >= 0) {
                if (n > 0 && line[n - 1] == '\n')
                        line[--n] = 0;
                if (streq(line, "E:ID_FS_TYPE=zfs_member"))
                        type = true;
                else if (startswith_const(line, "E:ID_FS_LABEL=") && streq(line + strlen("E:ID_FS_LABEL="), pool))
                        label = true;
        }
        if (ferror(f))
                return -EIO;
        *ret = type && label;
        return 0;
}

int zfs_pool_devices(Context *c, const char *pool, dev_t **ret, size_t *ret_n) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ dev_t *devs = NULL;
        size_t n = 0, alloc = 0;
        struct dirent *de;

        *ret = NULL;
        *ret_n = 0;
        /* blkid labels every vdev member: ID_FS_TYPE=zfs_member with the
         * pool's name in ID_FS_LABEL (whole disks and partitions alike);
         * udev keeps those in b<major>:<minor> files of its database */
        d = opendir(c->udev_data);
        if (!d)
                return errno == ENOMEM ? -ENOMEM : -EIO;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                bool member;
                dev_t dev;
                int r;

                if (de->d_name[0] != 'b' || parse_majmin(de->d_name + 1, &dev) < 0 || major(dev) == 0)
                        continue;
                path = path_join(c->udev_data, de->d_name);
                if (!path)
                        return -ENOMEM;
                r = udev_file_is_member(path, pool, &member);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        c->unreadable |= HOST_USAGE_SOURCE_STACK;
                        continue;
                }
                if (member && devs_add(&devs, &n, &alloc, dev) < 0)
                        return -ENOMEM;
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
                struct stat st;
                int r;

                if (de->d_name[0] == '.' || !zfs_pool_name_valid(de->d_name))
                        continue;
                state = path_join(dir, de->d_name);
                if (!state)
                        return -ENOMEM;
                if (stat(state, &st) < 0 || !S_ISDIR(st.st_mode))
                        continue;
                r = add_zfs_pool(c, de->d_name, "imported");
                if (r < 0)
                        return r;
        }
        return 0;
}
