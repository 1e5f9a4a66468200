/* SPDX-License-Identifier: LGPL-2.1-or-later */
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

#include "host-usage.h"
#include "macro.h"

/* dm on md on a partition is 3 levels; 8 is far beyond any real stack and
 * keeps a looping or hostile sysfs from keeping us busy. */
#define STACK_DEPTH_MAX 8
/* Devices visited for one source (all members of a wide md/LVM/bond). */
#define STACK_NODES_MAX 256
/* A reason names at most this many causes, then "and N more". */
#define REASON_CAUSES_MAX 3
/* Bytes of one name (mount point, source, file) shown in a reason. */
#define REASON_NAME_MAX 200
/* IFNAMSIZ - 1 */
#define IFNAME_MAX 15

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

static _Thread_local char proc_paths[4][PATH_MAX];

void host_usage_paths_default(HostUsagePaths *p) {
        static const char *const names[4] = { "mountinfo", "swaps", "route", "ipv6_route" };
        const char **fields[4] = { &p->mountinfo, &p->swaps, &p->route, &p->ipv6_route };
        static const char *const defaults[4] = {
                "/proc/self/mountinfo", "/proc/swaps", "/proc/net/route", "/proc/net/ipv6_route",
        };
        const char *dir = getenv("PCI_ASSIGND_PROC_DIR");

        for (size_t i = 0; i < 4; i++) {
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
}

/* One (function, cause) pair; reasons are interned, so a cause is an index. */
typedef struct Use {
        PciAddress address;
        size_t reason;
} Use;

/* The PCI functions a block device (by dev_t) hangs off, computed once per
 * device: a host with hundreds of bind mounts has a handful of devices. */
typedef struct DevFunctions {
        dev_t dev;
        PciAddress *addrs;
        size_t n_addrs;
} DevFunctions;

typedef struct Context {
        char *sysfs;             /* normalised, "" for "/" */
        char *devices_prefix;    /* sysfs + "/devices/" */
        Use *uses;
        size_t n_uses, alloc_uses;
        char **reasons;
        size_t n_reasons, alloc_reasons;
        DevFunctions *devs;
        size_t n_devs, alloc_devs;
        unsigned unreadable;
} Context;

/* The set of functions found while walking one device and what it stacks on. */
typedef struct Walk {
        PciAddress *addrs;
        size_t n_addrs, alloc_addrs;
        char **visited;
        size_t n_visited, alloc_visited;
} Walk;

static void context_done(Context *c) {
        free(c->sysfs);
        free(c->devices_prefix);
        free(c->uses);
        for (size_t i = 0; i < c->n_reasons; i++)
                free(c->reasons[i]);
        free(c->reasons);
        for (size_t i = 0; i < c->n_devs; i++)
                free(c->devs[i].addrs);
        free(c->devs);
}

static void walk_done(Walk *w) {
        free(w->addrs);
        for (size_t i = 0; i < w->n_visited; i++)
                free(w->visited[i]);
        free(w->visited);
}

static int grow_array(void **array, size_t *alloc, size_t need, size_t size) {
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

/* Makes room for `need` elements in a malloc'd array (doubling). */
#define GROW(array, alloc, need) grow_array((void **) &(array), &(alloc), (need), sizeof(*(array)))

/* Lexical resolution of `target` (as read from a symlink in `dir`) to an
 * absolute path without ".", ".." or empty components.  Only correct when
 * `dir` itself contains no symlinks: true for every directory we call it
 * with (sysfs's dev/block and class/net, and real device directories). */
static int path_resolve(const char *dir, const char *target, char **ret) {
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

static char *path_join(const char *a, const char *b) {
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

/* Follows the symlinks in `dir` (all of them, or those starting with
 * `prefix`) to the devices they point at. */
static int walk_links(Context *c, Walk *w, const char *dir, const char *prefix, unsigned depth, bool net) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        d = opendir(dir);
        if (!d)
                /* no slaves/, or the device went away: nothing stacked */
                return errno == ENOMEM ? -ENOMEM : 0;

        while ((de = readdir(d))) {
                _cleanup_free_ char *link = NULL, *resolved = NULL;
                char target[PATH_MAX];
                ssize_t n;
                int r;

                if (de->d_name[0] == '.')
                        continue;
                if (prefix && !startswith_const(de->d_name, prefix))
                        continue;

                link = path_join(dir, de->d_name);
                if (!link)
                        return -ENOMEM;
                n = readlink(link, target, sizeof target - 1);
                if (n < 0)
                        continue;
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

/* Collects the PCI functions in the path of the device directory `devdir`
 * (every component that is a PCI address: the device's own function and
 * every bridge above it), then follows what the device is stacked on. */
static int walk_device(Context *c, Walk *w, const char *devdir, unsigned depth, bool net) {
        _cleanup_free_ char *sub = NULL;
        const char *s;
        int r;

        if (depth > STACK_DEPTH_MAX || w->n_visited >= STACK_NODES_MAX)
                return 0;
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

        if (net)
                /* bridge ports, bond slaves, the device under a VLAN */
                return walk_links(c, w, devdir, "lower_", depth, net);

        /* dm (crypt, LVM), md, bcache: the devices underneath */
        sub = path_join(devdir, "slaves");
        if (!sub)
                return -ENOMEM;
        r = walk_links(c, w, sub, NULL, depth, net);
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
static int walk_from_link(Context *c, const char *dir, const char *name, bool net,
                          PciAddress **ret_addrs, size_t *ret_n) {
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
        return 0;
}

/* The functions behind block device `dev`, from the cache or from sysfs. */
static int block_functions(Context *c, dev_t dev, const PciAddress **ret_addrs, size_t *ret_n) {
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

/* Room for one sanitized name: REASON_NAME_MAX bytes, "..." and the NUL. */
#define NAME_BUF (REASON_NAME_MAX + 4)

/* Copies s so that it is valid, printable UTF-8 (sd-bus refuses anything
 * else in a string), with every other byte and the backslash shown as \xNN,
 * and at most REASON_NAME_MAX bytes long ("..." marks a cut). */
static const char *sanitize(const char *s, char buf[static NAME_BUF]) {
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
_printf_(4, 5)
static int add_uses(Context *c, const PciAddress *addrs, size_t n, const char *fmt, ...) {
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

static int parse_uint(const char *s, unsigned max, unsigned *ret) {
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
static int parse_majmin(const char *s, dev_t *ret) {
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
static int stat_noautomount(const char *path, struct stat *st) {
        return fstatat(AT_FDCWD, path, st, AT_NO_AUTOMOUNT) < 0 ? -errno : 0;
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
                const char *source;
                const PciAddress *addrs;
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

                if (major(dev) == 0) {
                        struct stat st;

                        /* Virtual filesystems (proc, tmpfs, overlay) have
                         * anonymous numbers, but so has btrfs: there, the
                         * source names the device.  Only /dev is looked at
                         * (devtmpfs: nothing there can hang or automount). */
                        if (!startswith_const(source, "/dev/") || strstr(source, "/../"))
                                continue;
                        if (stat_noautomount(source, &st) < 0 || !S_ISBLK(st.st_mode))
                                continue;
                        dev = st.st_rdev;
                        if (major(dev) == 0)
                                continue;
                }

                r = block_functions(c, dev, &addrs, &n_addrs);
                if (r < 0)
                        return r;
                r = add_uses(c, addrs, n_addrs, "mounted filesystem %s from %s (%u:%u)",
                             sanitize(fields[4], where), sanitize(source, what), major(dev), minor(dev));
                if (r < 0)
                        return r;
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
                 * ours to see: nothing we can name */
                if (stat_noautomount(fields[0], &st) < 0)
                        continue;

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

static int add_interface(Context *c, const char *ifname, const char *what) {
        _cleanup_free_ char *dir = NULL;
        char name[NAME_BUF];
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
        r = walk_from_link(c, dir, ifname, true, &addrs, &n);
        if (r < 0)
                return r;
        /* a valid name may still hold bytes that are not UTF-8 */
        return add_uses(c, addrs, n, "%s via %s", what, sanitize(ifname, name));
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

static int cmp_use(const void *a, const void *b) {
        const Use *x = a, *y = b;
        uint64_t kx = pci_address_key(&x->address), ky = pci_address_key(&y->address);

        if (kx != ky)
                return kx < ky ? -1 : 1;
        return x->reason < y->reason ? -1 : x->reason > y->reason;
}

/* One entry per function; its causes in the order they were found. */
static int build_entries(Context *c, HostUsage *u) {
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

        r = read_mountinfo(&c, paths.mountinfo);
        if (r < 0)
                return r;
        r = read_swaps(&c, paths.swaps);
        if (r < 0)
                return r;
        r = read_route(&c, paths.route);
        if (r < 0)
                return r;
        r = read_ipv6_route(&c, paths.ipv6_route);
        if (r < 0)
                return r;

        r = build_entries(&c, &u);
        if (r < 0)
                return r;
        u.unreadable = c.unreadable;

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
        if (a->n_entries != b->n_entries)
                return false;
        for (size_t i = 0; i < a->n_entries; i++)
                if (!pci_address_equal(&a->entries[i].address, &b->entries[i].address) ||
                    !streq(a->entries[i].reason, b->entries[i].reason))
                        return false;
        return true;
}
