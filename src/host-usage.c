/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "host-usage-internal.h"

static _Thread_local char proc_paths[7][PATH_MAX];

void host_usage_paths_default(HostUsagePaths *p) {
        static const char *const names[7] = {
                "mountinfo", "swaps", "route", "ipv6_route", "zfs-kstat", "udev-data", "rtnetlink",
        };
        const char **fields[7] = {
                &p->mountinfo, &p->swaps, &p->route, &p->ipv6_route, &p->zfs_kstat, &p->udev_data, &p->rtnetlink,
        };
        /* rtnetlink: NULL is "ask the kernel" */
        static const char *const defaults[7] = {
                "/proc/self/mountinfo", "/proc/swaps", "/proc/net/route", "/proc/net/ipv6_route",
                "/proc/spl/kstat/zfs", "/run/udev/data", NULL,
        };
        const char *dir = getenv("PCI_ASSIGND_PROC_DIR");

        for (size_t i = 0; i < 7; i++) {
                if (*fields[i])
                        continue;
                *fields[i] = defaults[i];
                if (dir && *dir) {
                        int n = snprintf(proc_paths[i], sizeof proc_paths[i], "%s/%s", dir, names[i]);
                        /* a directory too long to hold the files falls back
                         * to the real /proc rather than a truncated path */
                        if (n > 0 && (size_t) n < sizeof proc_paths[i])
                                *fields[i] = proc_paths[i];
                }
        }
        if (!p->sysfs)
                p->sysfs = "/sys";
        if (!p->dev)
                p->dev = "/dev";
}

/* Splits a line in place at runs of spaces and tabs (and the newline). */
static size_t split_fields(char *line, char **fields, size_t max) {
        size_t n = 0;
        char *s = line;

        for (;;) {
                size_t k;

                s += strspn(s, " \t\n");
                if (!*s)
                        break;
                if (n == max)
                        return max + 1;
                k = strcspn(s, " \t\n");
                fields[n++] = s;
                s += k;
                if (*s)
                        *s++ = 0;
        }
        return n;
}

/* Undoes the kernel's octal escapes (\040 for a space, \134 for a
 * backslash) in place.  A NUL cannot be a name: -EINVAL. */
static int unoctal(char *s) {
        char *o = s;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
                    s[3] >= '0' && s[3] <= '7') {
                        int v = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
                        if (v == 0)
                                return -EINVAL;
                        *o++ = (char) v;
                        s += 3;
                } else
                        *o++ = *s;
        }
        *o = 0;
        return 0;
}

/* Opens a /proc table; a missing one is empty, an unreadable one is noted. */
static FILE *open_source(Context *c, const char *path, unsigned source) {
        FILE *f = fopen(path, "re");

        if (!f && errno != ENOENT)
                c->unreadable |= source;
        return f;
}

/* 1: a line (of any length), 0: end of file, -ENOMEM, or -EIO for a read
 * error (the part read so far is used, the rest is missing). */
static int read_line(FILE *f, char **line, size_t *size) {
        errno = 0;
        if (getline(line, size, f) >= 0)
                return 1;
        if (errno == ENOMEM)
                return -ENOMEM;
        return ferror(f) ? -EIO : 0;
}

static int read_done(Context *c, int r, unsigned source) {
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                c->unreadable |= source;
        return 0;
}

/* A network filesystem: the NIC that reaches its server, whose address the
 * kernel shows as the addr= super option (nfs, cifs; ceph: its monitors are
 * in mon_addr=, not followed: not known). */
static int add_network_mount(Context *c, const char *where, const char *source, const char *options) {
        _cleanup_free_ char *opts = strdup(options), *why = NULL;
        char wbuf[NAME_BUF], sbuf[NAME_BUF];
        bool found = false;

        if (!opts)
                return -ENOMEM;
        if (asprintf(&why, "network filesystem %s from %s", sanitize(where, wbuf), sanitize(source, sbuf)) < 0) {
                why = NULL;
                return -ENOMEM;
        }
        for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                int r;

                if (!startswith_const(o, "addr="))
                        continue;
                found = true;
                r = add_server_route(c, o + strlen("addr="), why);
                if (r < 0)
                        return r;
        }
        if (!found)
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
        return 0;
}

/* Every logged-in iSCSI connection: the NIC that reaches its target. */
static int read_iscsi(Context *c) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        dir = path_join(c->sysfs, "class/iscsi_connection");
        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOMEM ? -ENOMEM : 0;  /* no iscsi module */
        while ((de = readdir(d))) {
                static const char *const attrs[] = { "persistent_address", "address" };
                char addr[INET6_ADDRSTRLEN + 8] = "", name[NAME_BUF];
                _cleanup_free_ char *why = NULL;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(attrs) && !addr[0]; i++) {
                        _cleanup_free_ char *p = NULL;
                        _cleanup_fclose_ FILE *f = NULL;

                        if (asprintf(&p, "%s/%s/%s", dir, de->d_name, attrs[i]) < 0)
                                return -ENOMEM;
                        f = fopen(p, "re");
                        if (f && fgets(addr, sizeof addr, f))
                                addr[strcspn(addr, "\n")] = 0;
                }
                if (asprintf(&why, "iSCSI connection %s to %s", sanitize(de->d_name, name), addr) < 0)
                        return -ENOMEM;
                r = add_server_route(c, addr, why);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_mountinfo(Context *c, const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        int r;

        f = open_source(c, path, HOST_USAGE_SOURCE_MOUNTINFO);
        if (!f)
                return 0;

        while ((r = read_line(f, &line, &size)) > 0) {
                /* 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw */
                char *fields[64];
                size_t n = split_fields(line, fields, ELEMENTSOF(fields)), sep;
                char where[NAME_BUF], what[NAME_BUF];
                const char *source, *fstype;
                const PciAddress *addrs;
                bool btrfs;
                size_t n_addrs;
                dev_t dev;

                if (n > ELEMENTSOF(fields) || n < 6)
                        continue;
                for (sep = 6; sep < n; sep++)
                        if (streq(fields[sep], "-"))
                                break;
                if (sep + 2 >= n)
                        continue;
                source = fields[sep + 2];
                if (parse_majmin(fields[2], &dev) < 0)
                        continue;
                if (unoctal(fields[4]) < 0 || unoctal(fields[sep + 2]) < 0)
                        continue;

                fstype = fields[sep + 1];
                btrfs = streq(fstype, "btrfs");

                if (streq(fstype, "nfs") || streq(fstype, "nfs4") || streq(fstype, "cifs") ||
                    streq(fstype, "smb3") || streq(fstype, "ceph")) {
                        r = add_network_mount(c, fields[4], source, sep + 3 < n ? fields[sep + 3] : "");
                        if (r < 0)
                                return r;
                        continue;
                }

                if (streq(fstype, "zfs")) {
                        /* "rpool/ROOT/pve-1": a dataset of pool rpool,
                         * whose disks only udev and ZFS know */
                        _cleanup_free_ char *pool = strndup(source, strcspn(source, "/@"));
                        _cleanup_free_ char *why = NULL;

                        if (!pool)
                                return -ENOMEM;
                        if (asprintf(&why, "mounted filesystem %s from %s", sanitize(fields[4], where),
                                     sanitize(source, what)) < 0)
                                return -ENOMEM;
                        r = add_zfs_pool(c, pool, why);
                        if (r < 0)
                                return r;
                        continue;
                }

                if (major(dev) == 0) {
                        struct stat st;

                        /* Virtual filesystems (proc, tmpfs, overlay) have
                         * anonymous numbers, but so has btrfs: there, the
                         * source names the device.  Only /dev is looked at
                         * (devtmpfs: nothing there can hang or automount);
                         * a btrfs we cannot follow leaves the result
                         * incomplete. */
                        if (!startswith_const(source, "/dev/") || strstr(source, "/../") ||
                            source_stat(c, source, &st) < 0 || !S_ISBLK(st.st_mode) ||
                            major(st.st_rdev) == 0) {
                                if (btrfs)
                                        c->unreadable |= HOST_USAGE_SOURCE_STACK;
                                continue;
                        }
                        dev = st.st_rdev;
                }

                r = block_functions(c, dev, &addrs, &n_addrs);
                if (r < 0)
                        return r;
                r = add_uses(c, addrs, n_addrs, "mounted filesystem %s from %s (%u:%u)",
                             sanitize(fields[4], where), sanitize(source, what), major(dev), minor(dev));
                if (r < 0)
                        return r;

                if (btrfs) {
                        /* raid1, raid10, a device added later: every device
                         * of the filesystem holds its data */
                        _cleanup_free_ dev_t *devs = NULL;
                        size_t n_devs;

                        r = btrfs_devices(c, dev, &devs, &n_devs);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                                continue;
                        }
                        for (size_t i = 0; i < n_devs; i++) {
                                if (devs[i] == dev)
                                        continue;
                                r = block_functions(c, devs[i], &addrs, &n_addrs);
                                if (r < 0)
                                        return r;
                                r = add_uses(c, addrs, n_addrs, "mounted filesystem %s: btrfs device %u:%u of %s",
                                             where, major(devs[i]), minor(devs[i]), what);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        return read_done(c, r, HOST_USAGE_SOURCE_MOUNTINFO);
}

static int read_swaps(Context *c, const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        int r;

        f = open_source(c, path, HOST_USAGE_SOURCE_SWAPS);
        if (!f)
                return 0;

        while ((r = read_line(f, &line, &size)) > 0) {
                /* Filename  Type  Size  Used  Priority; the header line
                 * fails the absolute path test */
                char *fields[8];
                size_t n = split_fields(line, fields, ELEMENTSOF(fields));
                char name[NAME_BUF];
                const PciAddress *addrs;
                size_t n_addrs;
                struct stat st;

                if (n != 5 || fields[0][0] != '/' || unoctal(fields[0]) < 0)
                        continue;
                /* gone since swapon ("/swapfile\040(deleted)"), or not
                 * ours to see: still in use, on something we cannot name */
                r = source_stat(c, fields[0], &st);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        c->unreadable |= HOST_USAGE_SOURCE_STACK;
                        continue;
                }

                if (S_ISBLK(st.st_mode)) {
                        if (major(st.st_rdev) == 0)
                                continue;
                        r = block_functions(c, st.st_rdev, &addrs, &n_addrs);
                        if (r < 0)
                                return r;
                        r = add_uses(c, addrs, n_addrs, "active swap %s (%u:%u)",
                                     sanitize(fields[0], name), major(st.st_rdev), minor(st.st_rdev));
                } else if (S_ISREG(st.st_mode)) {
                        /* a swap file: the filesystem it is on */
                        if (major(st.st_dev) == 0)
                                continue;
                        r = block_functions(c, st.st_dev, &addrs, &n_addrs);
                        if (r < 0)
                                return r;
                        r = add_uses(c, addrs, n_addrs, "active swap file %s on %u:%u",
                                     sanitize(fields[0], name), major(st.st_dev), minor(st.st_dev));
                } else
                        continue;
                if (r < 0)
                        return r;
        }
        return read_done(c, r, HOST_USAGE_SOURCE_SWAPS);
}

/* The kernel's own rule (dev_valid_name()), so that a name can never
 * leave sysfs's class/net. */
static bool ifname_valid(const char *s) {
        size_t l = strlen(s);

        if (l == 0 || l > IFNAME_MAX)
                return false;
        if (streq(s, ".") || streq(s, ".."))
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || (unsigned char) *s <= ' ' || *s == 0x7f)
                        return false;
        return true;
}

int add_interface(Context *c, const char *ifname, const char *what) {
        _cleanup_free_ char *dir = NULL;
        char name[NAME_BUF], tunnel[IFNAME_MAX + 1];
        _cleanup_free_ PciAddress *addrs = NULL;
        size_t n;
        int r;

        if (!ifname_valid(ifname))
                return 0;
        dir = path_join(c->sysfs, "class/net");
        if (!dir)
                return -ENOMEM;
        /* class/net/IF -> ../../devices/.../net/IF: that path alone holds
         * every PCI function above the interface */
        r = walk_interface(c, dir, ifname, &addrs, &n, tunnel);
        if (r < 0)
                return r;
        /* a valid name may still hold bytes that are not UTF-8 */
        r = add_uses(c, addrs, n, "%s via %s", what, sanitize(ifname, name));
        if (r < 0 || !tunnel[0])
                return r;
        return add_tunnel_underlay(c, tunnel, what);
}

static bool all_zeros(const char *s, size_t n) {
        return strlen(s) == n && strspn(s, "0") == n;
}

static int read_route(Context *c, const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        int r;

        f = open_source(c, path, HOST_USAGE_SOURCE_ROUTE);
        if (!f)
                return 0;

        while ((r = read_line(f, &line, &size)) > 0) {
                /* Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT;
                 * the header line fails the Destination test */
                char *fields[16];
                size_t n = split_fields(line, fields, ELEMENTSOF(fields));

                if (n < 8 || n > ELEMENTSOF(fields))
                        continue;
                if (!all_zeros(fields[1], 8) || !all_zeros(fields[7], 8))
                        continue;
                r = add_interface(c, fields[0], "default route");
                if (r < 0)
                        return r;
        }
        return read_done(c, r, HOST_USAGE_SOURCE_ROUTE);
}

static int read_ipv6_route(Context *c, const char *path) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        int r;

        f = open_source(c, path, HOST_USAGE_SOURCE_IPV6_ROUTE);
        if (!f)
                return 0;

        while ((r = read_line(f, &line, &size)) > 0) {
                /* dest plen src plen nexthop metric refcnt use flags device */
                char *fields[12];
                size_t n = split_fields(line, fields, ELEMENTSOF(fields));

                if (n != 10)
                        continue;
                if (!all_zeros(fields[0], 32) || !streq(fields[1], "00"))
                        continue;
                /* unreachable/blackhole defaults sit on "lo", which has no
                 * device and so marks nothing */
                r = add_interface(c, fields[9], "IPv6 default route");
                if (r < 0)
                        return r;
        }
        return read_done(c, r, HOST_USAGE_SOURCE_IPV6_ROUTE);
}

const char *host_usage_source_to_string(HostUsageSource s) {
        switch (s) {
        case HOST_USAGE_SOURCE_MOUNTINFO:
                return "the mount table (/proc/self/mountinfo)";
        case HOST_USAGE_SOURCE_SWAPS:
                return "the swap table (/proc/swaps)";
        case HOST_USAGE_SOURCE_ROUTE:
                return "the IPv4 route table";
        case HOST_USAGE_SOURCE_IPV6_ROUTE:
                return "the IPv6 route table";
        case HOST_USAGE_SOURCE_SYSFS:
                return "the device stacks in sysfs";
        case HOST_USAGE_SOURCE_STACK:
                return "a storage stack that could not be followed to its devices";
        case HOST_USAGE_SOURCE_ZFS:
                return "the imported ZFS pools (/proc/spl/kstat/zfs)";
        case HOST_USAGE_SOURCE_RTNETLINK:
                return "the routes over rtnetlink";
        }
        return NULL;
}

/* "A and B could not be read or followed" for the bits in mask. */
static int describe_unreadable(unsigned mask, char **ret) {
        const char *names[16];
        size_t n = 0, len = 1;
        char *s, *p;

        for (unsigned bit = 1; bit && n < ELEMENTSOF(names); bit <<= 1) {
                const char *t;

                if (!(mask & bit))
                        continue;
                t = host_usage_source_to_string((HostUsageSource) bit);
                names[n++] = t ?: "an unknown source";
        }
        for (size_t i = 0; i < n; i++)
                len += strlen(names[i]) + strlen(", and ");
        len += strlen(" could not be read or followed, so what the host depends on is not known");
        s = malloc(len);
        if (!s)
                return -ENOMEM;
        p = s;
        *p = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        p = stpcpy(p, i + 1 == n ? " and " : ", ");
                p = stpcpy(p, names[i]);
        }
        (void) stpcpy(p, " could not be read or followed, so what the host depends on is not known");
        *ret = s;
        return 0;
}

const char *host_usage_unknown(const HostUsage *u) {
        return u && u->unreadable ? (u->unknown ?: "what the host depends on is not known") : NULL;
}

int host_usage_compute(const HostUsagePaths *p, HostUsage *ret) {
        _cleanup_(context_done) Context c = {};
        _cleanup_(host_usage_done) HostUsage u = {};
        HostUsagePaths paths = {};
        int r;

        if (!ret)
                return -EINVAL;
        if (p)
                paths = *p;
        host_usage_paths_default(&paths);
        if (paths.sysfs[0] != '/')
                return -EINVAL;

        r = path_resolve("/", paths.sysfs, &c.sysfs);
        if (r < 0)
                return r;
        if (streq(c.sysfs, "/"))
                c.sysfs[0] = 0;
        c.devices_prefix = path_join(c.sysfs, "devices/");
        if (!c.devices_prefix)
                return -ENOMEM;
        c.udev_data = paths.udev_data;
        c.dev = paths.dev;

        /* routes first: a network filesystem's server is looked up in them */
        r = paths.rtnetlink ? read_routes_file(&c, paths.rtnetlink) : read_routes_kernel(&c);
        if (r < 0 && r != -ENOENT)
                return r;

        r = read_mountinfo(&c, paths.mountinfo);
        if (r < 0)
                return r;
        r = read_swaps(&c, paths.swaps);
        if (r < 0)
                return r;
        r = read_zfs_kstat(&c, paths.zfs_kstat);
        if (r < 0)
                return r;
        r = read_iscsi(&c);
        if (r < 0)
                return r;
        if (c.have_routes)
                r = add_default_routes(&c);
        else {
                /* no dump (tests without one, or the kernel refused: then
                 * flagged already): the main tables from /proc */
                r = read_route(&c, paths.route);
                if (r < 0)
                        return r;
                r = read_ipv6_route(&c, paths.ipv6_route);
        }
        if (r < 0)
                return r;

        r = build_entries(&c, &u);
        if (r < 0)
                return r;
        u.unreadable = c.unreadable;
        if (u.unreadable) {
                r = describe_unreadable(u.unreadable, &u.unknown);
                if (r < 0)
                        return r;
        }

        *ret = u;
        u = (HostUsage) {};
        return 0;
}

void host_usage_done(HostUsage *u) {
        if (!u)
                return;
        for (size_t i = 0; i < u->n_entries; i++)
                free(u->entries[i].reason);
        free(u->entries);
        free(u->unknown);
        *u = (HostUsage) {};
}

const char *host_usage_lookup(const HostUsage *u, const PciAddress *a) {
        size_t lo = 0, hi;
        uint64_t key;

        if (!u || !a)
                return NULL;
        key = pci_address_key(a);
        hi = u->n_entries;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint64_t k = pci_address_key(&u->entries[mid].address);

                if (k == key)
                        return u->entries[mid].reason;
                if (k < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

bool host_usage_equal(const HostUsage *a, const HostUsage *b) {
        if (!a || !b)
                return a == b;
        if (a->n_entries != b->n_entries || a->unreadable != b->unreadable)
                return false;
        for (size_t i = 0; i < a->n_entries; i++)
                if (!pci_address_equal(&a->entries[i].address, &b->entries[i].address) ||
                    !streq(a->entries[i].reason, b->entries[i].reason))
                        return false;
        return true;
}
