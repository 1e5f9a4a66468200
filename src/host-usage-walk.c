/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sysfs walk: from a block or network device to every PCI function in
 * its path and in the paths of what it is stacked on. */
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

void context_done(Context *c) {
        free(c->sysfs);
        free(c->devices_prefix);
        free(c->uses);
        for (size_t i = 0; i < c->n_reasons; i++)
                free(c->reasons[i]);
        free(c->reasons);
        for (size_t i = 0; i < c->n_devs; i++)
                free(c->devs[i].addrs);
        free(c->devs);
        rtnl_routes_free(c->routes, c->n_routes);
}

static void walk_done(Walk *w) {
        free(w->addrs);
        for (size_t i = 0; i < w->n_visited; i++)
                free(w->visited[i]);
        free(w->visited);
}

int grow_array(void **array, size_t *alloc, size_t need, size_t size) {
        size_t n;
        void *p;

        if (need <= *alloc)
                return 0;
        n = *alloc ? *alloc * 2 : 8;
        if (n < need)
                n = need;
        if (n > SIZE_MAX / size)
                return -ENOMEM;
        p = realloc(*array, n * size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *alloc = n;
        return 0;
}


/* Lexical resolution of `target` (as read from a symlink in `dir`) to an
 * absolute path without ".", ".." or empty components.  Only correct when
 * `dir` itself contains no symlinks: true for every directory we call it
 * with (sysfs's dev/block and class/net, and real device directories). */
int path_resolve(const char *dir, const char *target, char **ret) {
        size_t ld = strlen(dir), lt = strlen(target), o = 0;
        _cleanup_free_ char *in = NULL, *out = NULL;
        const char *s;

        in = malloc(ld + 1 + lt + 1);
        out = malloc(ld + 1 + lt + 2);
        if (!in || !out)
                return -ENOMEM;
        if (target[0] == '/')
                memcpy(in, target, lt + 1);
        else {
                memcpy(in, dir, ld);
                in[ld] = '/';
                memcpy(in + ld + 1, target, lt + 1);
        }

        for (s = in; *s;) {
                size_t k;

                s += strspn(s, "/");
                k = strcspn(s, "/");
                if (k == 0)
                        break;
                if (k == 1 && s[0] == '.')
                        ;
                else if (k == 2 && s[0] == '.' && s[1] == '.') {
                        while (o > 0 && out[o - 1] != '/')
                                o--;
                        if (o > 0)
                                o--;
                } else {
                        out[o++] = '/';
                        memcpy(out + o, s, k);
                        o += k;
                }
                s += k;
        }
        if (o == 0)
                out[o++] = '/';
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

char *path_join(const char *a, const char *b) {
        char *s;

        if (asprintf(&s, "%s/%s", a, b) < 0)
                return NULL;
        return s;
}

static int walk_add_address(Walk *w, const PciAddress *a) {
        for (size_t i = 0; i < w->n_addrs; i++)
                if (pci_address_equal(&w->addrs[i], a))
                        return 0;
        if (GROW(w->addrs, w->alloc_addrs, w->n_addrs + 1) < 0)
                return -ENOMEM;
        w->addrs[w->n_addrs++] = *a;
        return 0;
}

static int walk_device(Context *c, Walk *w, const char *devdir, unsigned depth, bool net);

/* virtual/block/nbdN or rbdN (a whole disk; its partitions go up to it) */
static bool is_network_block(Context *c, const char *devdir) {
        const char *name;

        if (!startswith_const(devdir, c->devices_prefix) ||
            !startswith_const(devdir + strlen(c->devices_prefix), "virtual/block/"))
                return false;
        name = devdir + strlen(c->devices_prefix) + strlen("virtual/block/");
        if (strchr(name, '/'))
                return false;
        return (startswith_const(name, "nbd") || startswith_const(name, "rbd")) &&
               name[3] >= '0' && name[3] <= '9';
}
static bool has_entry_with_prefix(const char *dir, const char *prefix) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;

        while (d && (de = readdir(d)))
                if (startswith_const(de->d_name, prefix))
                        return true;
        return false;
}

static bool file_exists_in(const char *dir, const char *name) {
        _cleanup_free_ char *p = path_join(dir, name);
        return p && access(p, F_OK) >= 0;
}

/* A virtual network device with nothing stacked below it (no lower_
 * link): most have nothing physical underneath (lo, dummy, a bridge or
 * bond without ports), but a tunnel sends what it carries to an endpoint
 * that the routing table puts behind some other interface: a VXLAN or
 * Geneve without a device, WireGuard, GRE, IPIP, SIT, ip6tnl, PPP, tun/tap
 * (a VPN daemon).  Such a tunnel is recorded in the walk; add_interface()
 * then counts every interface a route goes out of.  A device whose type
 * cannot be read is not known. */
static int check_routed_tunnel(Context *c, Walk *w, const char *devdir) {
        static const unsigned tunnel_types[] = {
                512,   /* ARPHRD_PPP */
                768,   /* ARPHRD_TUNNEL: ipip */
                769,   /* ARPHRD_TUNNEL6: ip6tnl */
                776,   /* ARPHRD_SIT */
                778,   /* ARPHRD_IPGRE */
                823,   /* ARPHRD_IP6GRE */
                65534, /* ARPHRD_NONE: wireguard, tun */
        };
        static const char *const tunnel_devtypes[] = { "vxlan", "geneve", "wireguard", "bareudp", "gtp" };
        _cleanup_free_ char *type_path = NULL, *uevent_path = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        const char *name = strrchr(devdir, '/');
        bool tunnel = false;
        unsigned type;
        size_t size = 0;

        if (!startswith_const(devdir + strlen(c->devices_prefix), "virtual/net/") || !name ||
            has_entry_with_prefix(devdir, "lower_"))
                return 0;
        name++;
        type_path = path_join(devdir, "type");
        if (!type_path)
                return -ENOMEM;
        f = fopen(type_path, "re");
        if (!f || fscanf(f, "%u", &type) != 1) {
                if (!f && errno == ENOMEM)
                        return -ENOMEM;
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        fclose(f);
        f = NULL;
        if (type == 772)  /* ARPHRD_LOOPBACK */
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(tunnel_types); i++)
                tunnel = tunnel || type == tunnel_types[i];
        /* tun/tap, also tap (type 1): a program writes what it carries */
        tunnel = tunnel || file_exists_in(devdir, "tun_flags");
        uevent_path = path_join(devdir, "uevent");
        if (!uevent_path)
                return -ENOMEM;
        f = fopen(uevent_path, "re");
        while (!tunnel && f && getline(&line, &size, f) > 0) {
                line[strcspn(line, "\n")] = 0;
                if (!startswith_const(line, "DEVTYPE="))
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(tunnel_devtypes); i++)
                        tunnel = tunnel || streq(line + strlen("DEVTYPE="), tunnel_devtypes[i]);
        }
        if (tunnel && !w->tunnel[0] && strlen(name) <= IFNAME_MAX)
                strcpy(w->tunnel, name);
        return 0;
}

static int walk_nvme_multipath(Context *c, Walk *w, const char *devdir, unsigned depth);
static int walk_loop(Context *c, Walk *w, const char *devdir, unsigned depth);

/* Follows the symlinks in `dir` (all of them, or those starting with
 * `prefix`, and then only digits if `digits_after`) to the devices they
 * point at. */
static int walk_links(Context *c, Walk *w, const char *dir, const char *prefix, bool digits_after,
                      unsigned depth, bool net) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir(dir);
        if (!d) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                /* no slaves/, or the device went away: nothing stacked;
                 * anything else (EACCES, EIO) leaves the stack unknown */
                if (errno != ENOENT && errno != ENOTDIR)
                        c->unreadable |= HOST_USAGE_SOURCE_SYSFS;
                return 0;
        }

        while ((de = readdir(d))) {
                _cleanup_free_ char *link = NULL, *resolved = NULL;
                char target[PATH_MAX];
                ssize_t n;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                if (prefix && !startswith_const(de->d_name, prefix))
                        continue;
                if (digits_after) {
                        const char *rest = de->d_name + strlen(prefix);

                        if (!*rest || rest[strspn(rest, "0123456789")])
                                continue;
                }

                link = path_join(dir, de->d_name);
                if (!link)
                        return -ENOMEM;
                n = readlink(link, target, sizeof target - 1);
                if (n < 0) {
                        /* gone meanwhile, or not a link (the head disks
                         * next to an nvme-subsystem's controller links) */
                        if (errno != ENOENT && errno != EINVAL)
                                c->unreadable |= HOST_USAGE_SOURCE_SYSFS;
                        continue;
                }
                target[n] = 0;

                r = path_resolve(dir, target, &resolved);
                if (r < 0)
                        return r;
                r = walk_device(c, w, resolved, depth + 1, net);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* NVMe native multipath: the head disk (and its partitions, through the
 * parent) lives under virtual/nvme-subsystem/nvme-subsysN/, next to links
 * to every controller of the subsystem (nvme0 -> .../0000:01:00.0/nvme/
 * nvme0): each is a path the I/O may take, so each controller's function
 * is used.  The head's multipath/ links (newer kernels) name the same
 * paths' disks and are followed too. */
static int walk_nvme_multipath(Context *c, Walk *w, const char *devdir, unsigned depth) {
        _cleanup_free_ char *prefix = NULL, *subsys = NULL, *mp = NULL;
        int r;

        if (asprintf(&prefix, "%svirtual/nvme-subsystem/", c->devices_prefix) < 0) {
                prefix = NULL;
                return -ENOMEM;
        }
        if (!startswith_const(devdir, prefix))
                return 0;
        /* only the head disk itself: .../nvme-subsysN/nvme0n1 */
        if (strchr(devdir + strlen(prefix), '/') == NULL ||
            strchr(strchr(devdir + strlen(prefix), '/') + 1, '/'))
                return 0;

        r = path_resolve(devdir, "..", &subsys);
        if (r < 0)
                return r;
        r = walk_links(c, w, subsys, "nvme", true, depth, false);
        if (r < 0)
                return r;
        mp = path_join(devdir, "multipath");
        if (!mp)
                return -ENOMEM;
        return walk_links(c, w, mp, NULL, false, depth, false);
}

/* A loop device: the file (or block device) behind it, read from
 * loop/backing_file, and the filesystem that file is on.  A backing file
 * that cannot be found again (deleted, another mount namespace) or that
 * lives on a filesystem with an anonymous device number (btrfs, NFS) is a
 * stack we cannot follow: not known, so nothing may be called free. */
static int walk_loop(Context *c, Walk *w, const char *devdir, unsigned depth) {
        _cleanup_free_ char *file = NULL, *line = NULL, *dir = NULL, *resolved = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char name[32], target[PATH_MAX];
        size_t size = 0;
        struct stat st;
        ssize_t n;
        dev_t dev;

        file = path_join(devdir, "loop/backing_file");
        if (!file)
                return -ENOMEM;
        f = fopen(file, "re");
        if (!f) {
                /* not a loop device, or one with nothing attached */
                if (errno != ENOENT && errno != ENOTDIR)
                        c->unreadable |= HOST_USAGE_SOURCE_SYSFS;
                return errno == ENOMEM ? -ENOMEM : 0;
        }
        errno = 0;
        n = getline(&line, &size, f);
        if (n < 0) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        if (n > 0 && line[n - 1] == '\n')
                line[--n] = 0;
        if (line[0] != '/' || stat_noautomount(line, &st) < 0) {
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        dev = S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev;
        if (major(dev) == 0) {
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }

        dir = path_join(c->sysfs, "dev/block");
        if (!dir)
                return -ENOMEM;
        (void) snprintf(name, sizeof name, "%u:%u", major(dev), minor(dev));
        free(file);
        file = path_join(dir, name);
        if (!file)
                return -ENOMEM;
        n = readlink(file, target, sizeof target - 1);
        if (n < 0) {
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        target[n] = 0;
        if (path_resolve(dir, target, &resolved) < 0)
                return -ENOMEM;
        return walk_device(c, w, resolved, depth + 1, false);
}

/* Collects the PCI functions in the path of the device directory `devdir`
 * (every component that is a PCI address: the device's own function and
 * every bridge above it), then follows what the device is stacked on. */
static int walk_device(Context *c, Walk *w, const char *devdir, unsigned depth, bool net) {
        _cleanup_free_ char *sub = NULL;
        const char *s;
        int r;

        if (depth > STACK_DEPTH_MAX || w->n_visited >= STACK_NODES_MAX) {
                /* deeper or wider than any real stack: what is below is
                 * not known */
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        /* every path we look at comes from a link: it must stay inside
         * sysfs's device tree, whatever the link says */
        if (!startswith_const(devdir, c->devices_prefix))
                return 0;
        for (size_t i = 0; i < w->n_visited; i++)
                if (streq(w->visited[i], devdir))
                        return 0;

        if (GROW(w->visited, w->alloc_visited, w->n_visited + 1) < 0)
                return -ENOMEM;
        w->visited[w->n_visited] = strdup(devdir);
        if (!w->visited[w->n_visited])
                return -ENOMEM;
        w->n_visited++;

        for (s = devdir + strlen(c->devices_prefix); *s;) {
                size_t k = strcspn(s, "/");
                PciAddress a;

                if (pci_address_parse_n(s, k, &a) >= 0) {
                        r = walk_add_address(w, &a);
                        if (r < 0)
                                return r;
                }
                s += k;
                s += strspn(s, "/");
        }

        if (net) {
                /* bridge ports, bond slaves, the device under a VLAN */
                r = walk_links(c, w, devdir, "lower_", false, depth, net);
                if (r < 0)
                        return r;
                return check_routed_tunnel(c, w, devdir);
        }

        /* A network block device (nbd, Ceph rbd): its server is reached
         * over some NIC that sysfs does not name: not known */
        if (is_network_block(c, devdir))
                c->unreadable |= HOST_USAGE_SOURCE_STACK;

        /* dm (crypt, LVM), md, bcache: the devices underneath */
        sub = path_join(devdir, "slaves");
        if (!sub)
                return -ENOMEM;
        r = walk_links(c, w, sub, NULL, false, depth, net);
        if (r < 0)
                return r;

        r = walk_nvme_multipath(c, w, devdir, depth);
        if (r < 0)
                return r;
        r = walk_loop(c, w, devdir, depth);
        if (r < 0)
                return r;

        /* a partition of a stacked device (md0p1, a partitioned dm): the
         * slaves are listed on the whole device, which is the parent */
        free(sub);
        sub = path_join(devdir, "partition");
        if (!sub)
                return -ENOMEM;
        if (access(sub, F_OK) >= 0) {
                _cleanup_free_ char *parent = NULL;

                r = path_resolve(devdir, "..", &parent);
                if (r < 0)
                        return r;
                r = walk_device(c, w, parent, depth + 1, net);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Resolves the sysfs link `dir`/`name` and walks the device it points at. */
static int walk_from_link_full(Context *c, const char *dir, const char *name, bool net, PciAddress **ret_addrs,
                               size_t *ret_n, char *ret_tunnel) {
        _cleanup_free_ char *link = NULL, *resolved = NULL;
        _cleanup_(walk_done) Walk w = {};
        char target[PATH_MAX];
        ssize_t n;
        int r;

        *ret_addrs = NULL;
        *ret_n = 0;

        link = path_join(dir, name);
        if (!link)
                return -ENOMEM;
        n = readlink(link, target, sizeof target - 1);
        if (n < 0)
                /* not a device sysfs knows (major 0, gone): nothing */
                return errno == ENOMEM ? -ENOMEM : 0;
        target[n] = 0;

        r = path_resolve(dir, target, &resolved);
        if (r < 0)
                return r;
        r = walk_device(c, &w, resolved, 0, net);
        if (r < 0)
                return r;

        *ret_addrs = TAKE_PTR(w.addrs);
        *ret_n = w.n_addrs;
        if (ret_tunnel)
                strcpy(ret_tunnel, w.tunnel);
        return 0;
}

int walk_from_link(Context *c, const char *dir, const char *name, bool net, PciAddress **ret_addrs, size_t *ret_n) {
        return walk_from_link_full(c, dir, name, net, ret_addrs, ret_n, NULL);
}

int walk_interface(Context *c, const char *dir, const char *name, PciAddress **ret_addrs, size_t *ret_n,
                   char ret_tunnel[IFNAME_MAX + 1]) {
        ret_tunnel[0] = 0;
        return walk_from_link_full(c, dir, name, true, ret_addrs, ret_n, ret_tunnel);
}

/* The functions behind block device `dev`, from the cache or from sysfs. */
int block_functions(Context *c, dev_t dev, const PciAddress **ret_addrs, size_t *ret_n) {
        _cleanup_free_ char *dir = NULL;
        char name[32];
        PciAddress *addrs;
        size_t n;
        int r;

        for (size_t i = 0; i < c->n_devs; i++)
                if (c->devs[i].dev == dev) {
                        *ret_addrs = c->devs[i].addrs;
                        *ret_n = c->devs[i].n_addrs;
                        return 0;
                }

        dir = path_join(c->sysfs, "dev/block");
        if (!dir)
                return -ENOMEM;
        /* built from two numbers, never from file text */
        (void) snprintf(name, sizeof name, "%u:%u", major(dev), minor(dev));
        r = walk_from_link(c, dir, name, false, &addrs, &n);
        if (r < 0)
                return r;

        if (GROW(c->devs, c->alloc_devs, c->n_devs + 1) < 0) {
                free(addrs);
                return -ENOMEM;
        }
        c->devs[c->n_devs++] = (DevFunctions) { .dev = dev, .addrs = addrs, .n_addrs = n };
        *ret_addrs = addrs;
        *ret_n = n;
        return 0;
}

/* Copies s so that it is valid, printable UTF-8 (sd-bus refuses anything
 * else in a string), with every other byte and the backslash shown as \xNN,
 * and at most REASON_NAME_MAX bytes long ("..." marks a cut). */
const char *sanitize(const char *s, char buf[static NAME_BUF]) {
        const unsigned char *u = (const unsigned char *) s;
        size_t o = 0;

        while (*u) {
                unsigned char c0 = u[0];
                size_t k = 0, w;     /* bytes consumed, bytes written */
                char tmp[8];

                if (c0 >= 0x20 && c0 < 0x7f && c0 != '\\')
                        k = 1;
                else if (c0 >= 0xc2 && c0 <= 0xdf && (u[1] & 0xc0) == 0x80)
                        k = 2;
                else if (c0 >= 0xe0 && c0 <= 0xef && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80 &&
                         !(c0 == 0xe0 && u[1] < 0xa0) &&     /* overlong */
                         !(c0 == 0xed && u[1] > 0x9f))       /* surrogate */
                        k = 3;
                else if (c0 >= 0xf0 && c0 <= 0xf4 && (u[1] & 0xc0) == 0x80 && (u[2] & 0xc0) == 0x80 &&
                         (u[3] & 0xc0) == 0x80 &&
                         !(c0 == 0xf0 && u[1] < 0x90) &&     /* overlong */
                         !(c0 == 0xf4 && u[1] > 0x8f))       /* beyond U+10FFFF */
                        k = 4;

                if (k > 0) {
                        memcpy(tmp, u, k);
                        w = k;
                } else {
                        (void) snprintf(tmp, sizeof tmp, "\\x%02x", c0);
                        k = 1;
                        w = 4;
                }
                if (o + w > REASON_NAME_MAX) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                memcpy(buf + o, tmp, w);
                o += w;
                u += k;
        }
        buf[o] = 0;
        return buf;
}

/* Records that each of addrs is used for the reason given as a format;
 * names from files must go through sanitize() first. */
int add_uses(Context *c, const PciAddress *addrs, size_t n, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL;
        va_list ap;
        size_t id;
        int r;

        if (n == 0)
                return 0;

        va_start(ap, fmt);
        r = vasprintf(&text, fmt, ap);
        va_end(ap);
        if (r < 0) {
                text = NULL;
                return -ENOMEM;
        }

        /* interned: bind mounts and the two route tables repeat causes */
        for (id = 0; id < c->n_reasons; id++)
                if (streq(c->reasons[id], text))
                        break;
        if (id == c->n_reasons) {
                if (GROW(c->reasons, c->alloc_reasons, c->n_reasons + 1) < 0)
                        return -ENOMEM;
                c->reasons[c->n_reasons++] = TAKE_PTR(text);
        }

        if (GROW(c->uses, c->alloc_uses, c->n_uses + n) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                c->uses[c->n_uses++] = (Use) { .address = addrs[i], .reason = id };
        return 0;
}

int parse_uint(const char *s, unsigned max, unsigned *ret) {
        unsigned long v;
        char *end;

        if (*s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end != 0 || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* "259:2" as printed by the kernel; the bounds are MINORBITS = 20 and the
 * 12 bits left for the major. */
int parse_majmin(const char *s, dev_t *ret) {
        char buf[32];
        unsigned maj, min;
        char *colon;

        if (strlen(s) >= sizeof buf)
                return -EINVAL;
        strcpy(buf, s);
        colon = strchr(buf, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        if (parse_uint(buf, (1u << 12) - 1, &maj) < 0 || parse_uint(colon + 1, (1u << 20) - 1, &min) < 0)
                return -EINVAL;
        *ret = makedev(maj, min);
        return 0;
}

/* stat() without triggering an automount (a hung NFS server must not hang
 * the daemon at its first look); under umockdev /dev is the testbed's. */
int stat_noautomount(const char *path, struct stat *st) {
        return fstatat(AT_FDCWD, path, st, AT_NO_AUTOMOUNT) < 0 ? -errno : 0;
}

/* The device number sysfs gives a /dev name: class/block/NAME/dev, or for
 * /dev/mapper/NAME the dm device whose dm/name is NAME. */
static int sysfs_devnum(Context *c, const char *path, dev_t *ret) {
        _cleanup_free_ char *file = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        const char *name;
        char buf[32];

        if (startswith_const(path, "/dev/mapper/")) {
                _cleanup_free_ char *dir = path_join(c->sysfs, "class/block");
                _cleanup_closedir_ DIR *d = NULL;
                struct dirent *de;

                name = path + strlen("/dev/mapper/");
                if (!dir)
                        return -ENOMEM;
                d = opendir(dir);
                if (!d)
                        return -ENOENT;
                while ((de = readdir(d))) {
                        _cleanup_free_ char *nf = NULL;
                        _cleanup_fclose_ FILE *g = NULL;
                        char n[256];

                        if (!startswith_const(de->d_name, "dm-"))
                                continue;
                        if (asprintf(&nf, "%s/%s/dm/name", dir, de->d_name) < 0)
                                return -ENOMEM;
                        g = fopen(nf, "re");
                        if (!g || !fgets(n, sizeof n, g))
                                continue;
                        n[strcspn(n, "\n")] = 0;
                        if (streq(n, name)) {
                                if (asprintf(&file, "%s/%s/dev", dir, de->d_name) < 0) {
                                        file = NULL;
                                        return -ENOMEM;
                                }
                                break;
                        }
                }
                if (!file)
                        return -ENOENT;
        } else {
                name = path + strlen("/dev/");
                if (!*name || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                        return -ENOENT;
                if (asprintf(&file, "%s/class/block/%s/dev", c->sysfs, name) < 0) {
                        file = NULL;
                        return -ENOMEM;
                }
        }
        f = fopen(file, "re");
        if (!f || !fgets(buf, sizeof buf, f))
                return -ENOENT;
        buf[strcspn(buf, "\n")] = 0;
        return parse_majmin(buf, ret) < 0 ? -ENOENT : 0;
}

int source_stat(Context *c, const char *path, struct stat *st) {
        dev_t dev;
        int r;

        if (c->dev && !streq(c->dev, "/dev") && startswith_const(path, "/dev/")) {
                _cleanup_free_ char *p = path_join(c->dev, path + strlen("/dev/"));

                if (!p)
                        return -ENOMEM;
                r = stat_noautomount(p, st);
        } else
                r = stat_noautomount(path, st);
        if (r == 0 || !startswith_const(path, "/dev/") || strstr(path, "/../"))
                return r;
        /* a /dev we do not see (another mount namespace, a recorded tree):
         * sysfs knows the block device by its kernel name */
        r = sysfs_devnum(c, path, &dev);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -ENOENT;
        *st = (struct stat) { .st_mode = S_IFBLK | 0600, .st_rdev = dev };
        return 0;
}

static int cmp_use(const void *a, const void *b) {
        const Use *x = a, *y = b;
        uint64_t kx = pci_address_key(&x->address), ky = pci_address_key(&y->address);

        if (kx != ky)
                return kx < ky ? -1 : 1;
        return x->reason < y->reason ? -1 : x->reason > y->reason;
}

/* One entry per function; its causes in the order they were found. */
int build_entries(Context *c, HostUsage *u) {
        size_t i = 0;

        if (c->n_uses == 0)
                return 0;
        qsort(c->uses, c->n_uses, sizeof(Use), cmp_use);

        u->entries = calloc(c->n_uses, sizeof(HostUsageEntry));
        if (!u->entries)
                return -ENOMEM;

        while (i < c->n_uses) {
                size_t j, len = 1, shown = 0, more = 0;
                char *text, *p;

                for (j = i; j < c->n_uses && pci_address_equal(&c->uses[j].address, &c->uses[i].address); j++) {
                        if (j > i && c->uses[j].reason == c->uses[j - 1].reason)
                                continue;
                        if (shown < REASON_CAUSES_MAX) {
                                len += strlen(c->reasons[c->uses[j].reason]) + 2;
                                shown++;
                        } else
                                more++;
                }
                len += 32;

                text = p = malloc(len);
                if (!text)
                        return -ENOMEM;
                shown = 0;
                for (size_t k = i; k < j && shown < REASON_CAUSES_MAX; k++) {
                        if (k > i && c->uses[k].reason == c->uses[k - 1].reason)
                                continue;
                        p = stpcpy(p, shown > 0 ? "; " : "");
                        p = stpcpy(p, c->reasons[c->uses[k].reason]);
                        shown++;
                }
                if (more > 0)
                        (void) snprintf(p, len - (size_t) (p - text), "; and %zu more", more);

                u->entries[u->n_entries++] = (HostUsageEntry) {
                        .address = c->uses[i].address,
                        .reason = text,
                };
                i = j;
        }
        return 0;
}
