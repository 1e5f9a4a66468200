/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libfakekernel: an LD_PRELOAD library that plays the Linux kernel's
 * reactions to writes into the PCI driver-binding attributes of a sysfs-like
 * directory tree rooted at $FAKEKERNEL_ROOT (after libvirt's virpcimock).
 * See README.md next to this file for what it plays and what it does not.
 *
 * Safety: this library exists so that tests never touch the real /sys.  Any
 * open for writing that resolves into the real sysfs (by path prefix or by
 * filesystem magic) aborts the process, and so does a FAKEKERNEL_ROOT that is
 * the real sysfs or "/".  Kernel reactions only ever modify files below the
 * validated root. */

/* Meson builds with _FILE_OFFSET_BITS=64, which turns open() into open64()
 * through asm labels; this file defines both symbols itself. */
#undef _FILE_OFFSET_BITS

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "fakekernel.h"

#define SYSFS_MAGIC_NUMBER 0x62656572
/* sysfs hands a store() at most a page; longer writes are refused here */
#define FK_PAGE 4096

/* Our own prototypes for the symbols we export (the fortified ones are not
 * declared by the headers unless _FORTIFY_SOURCE is on). */
int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t write(int fd, const void *buf, size_t n);
int close(int fd);

typedef enum Family {
        FAM_OPEN,
        FAM_OPEN64,
        FAM_OPENAT,
        FAM_OPENAT64,
        FAM_OPEN_2,
        FAM_OPEN64_2,
        FAM_OPENAT_2,
        FAM_OPENAT64_2,
        _FAM_MAX,
} Family;

static const char *const family_symbol[_FAM_MAX] = {
        [FAM_OPEN] = "open",         [FAM_OPEN64] = "open64",
        [FAM_OPENAT] = "openat",     [FAM_OPENAT64] = "openat64",
        [FAM_OPEN_2] = "__open_2",   [FAM_OPEN64_2] = "__open64_2",
        [FAM_OPENAT_2] = "__openat_2", [FAM_OPENAT64_2] = "__openat64_2",
};

typedef enum Kind {
        K_PASS,       /* not ours: hand to the next library untouched */
        K_PLAIN,      /* below the root, not a played attribute: plain file */
        K_OVERRIDE,   /* devices/.../ADDR/driver_override */
        K_UNBIND,     /* bus/pci/drivers/NAME/unbind */
        K_BIND,       /* bus/pci/drivers/NAME/bind */
        K_PROBE,      /* bus/pci/drivers_probe */
        K_RESET,      /* devices/.../ADDR/reset */
} Kind;

typedef struct Tracked {
        struct Tracked *next;
        int fd;
        dev_t dev;
        ino_t ino;
        Kind kind;
        char *root;     /* validated root at open time */
        char *target;   /* device directory (override, reset) or driver name (bind, unbind) */
} Tracked;

static pthread_mutex_t fk_lock = PTHREAD_MUTEX_INITIALIZER;
static Tracked *tracked;
static int n_tracked;  /* read without the lock as a fast path in write() */

static void *real_sym[_FAM_MAX];
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_close)(int);

static void *next_symbol(const char *name) {
        void *p = dlsym(RTLD_NEXT, name);
        if (!p) {
                fprintf(stderr, "fakekernel: FATAL: dlsym(RTLD_NEXT, %s) failed\n", name);
                abort();
        }
        return p;
}

static void resolve_basics(void) {
        if (!real_write)
                real_write = (ssize_t (*)(int, const void *, size_t)) next_symbol("write");
        if (!real_close)
                real_close = (int (*)(int)) next_symbol("close");
}

_Noreturn static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...) {
        char msg[PATH_MAX + 512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (n < 0)
                n = 0;
        if ((size_t) n >= sizeof msg)
                n = sizeof msg - 1;
        /* not through our own write(): we may be inside it */
        resolve_basics();
        if (real_write(2, "fakekernel: FATAL: ", 19) < 0 || real_write(2, msg, (size_t) n) < 0 ||
            real_write(2, "\n", 1) < 0)
                abort();
        abort();
}

/* A path below the root; a tree deep enough to overflow it is a bug. */
static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char out[PATH_MAX], const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(out, PATH_MAX, fmt, ap);
        va_end(ap);
        if (n < 0 || n >= PATH_MAX)
                die("path too long: %s...", out);
}

/* a name (driver, address) out of a longer buffer, cut to NAME_MAX */
static void copy_name(char out[NAME_MAX + 1], const char *s, size_t l) {
        if (l > NAME_MAX)
                l = NAME_MAX;
        memcpy(out, s, l);
        out[l] = 0;
}

static int call_real_open(Family fam, int dirfd, const char *path, int flags, mode_t mode) {
        if (!real_sym[fam])
                real_sym[fam] = next_symbol(family_symbol[fam]);
        switch (fam) {
        case FAM_OPEN:
        case FAM_OPEN64:
                return ((int (*)(const char *, int, ...)) real_sym[fam])(path, flags, mode);
        case FAM_OPENAT:
        case FAM_OPENAT64:
                return ((int (*)(int, const char *, int, ...)) real_sym[fam])(dirfd, path, flags, mode);
        case FAM_OPEN_2:
        case FAM_OPEN64_2:
                return ((int (*)(const char *, int)) real_sym[fam])(path, flags);
        case FAM_OPENAT_2:
        case FAM_OPENAT64_2:
                return ((int (*)(int, const char *, int)) real_sym[fam])(dirfd, path, flags);
        default:
                abort();
        }
}

/* ---- small path helpers ---- */

static bool has_prefix_dir(const char *path, const char *dir) {
        size_t l = strlen(dir);
        return strncmp(path, dir, l) == 0 && (path[l] == 0 || path[l] == '/');
}

static bool is_real_sys_path(const char *path) {
        return has_prefix_dir(path, "/sys");
}

static bool on_sysfs(const char *path) {
        struct statfs sfs;
        return statfs(path, &sfs) == 0 && (unsigned long) sfs.f_type == SYSFS_MAGIC_NUMBER;
}

static bool path_join(char out[PATH_MAX], const char *a, const char *b) {
        int n = snprintf(out, PATH_MAX, "%s/%s", a, b);
        return n > 0 && n < PATH_MAX;
}

static bool env_true(const char *name) {
        const char *v = getenv(name);
        return v && (strcmp(v, "1") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0);
}

static bool umockdev_mode(void) {
        const char *d = getenv("UMOCKDEV_DIR");
        return env_true("FAKEKERNEL_UMOCKDEV") && d && *d;
}

/* The validated root ("" when FAKEKERNEL_ROOT is unset).  Aborts when the
 * root is unusable or is, or lies in, the real sysfs. */
static void get_root(char out[PATH_MAX]) {
        const char *env = getenv("FAKEKERNEL_ROOT");

        out[0] = 0;
        if (!env || !*env)
                return;
        if (env[0] != '/')
                die("FAKEKERNEL_ROOT=%s is not an absolute path", env);
        if (!realpath(env, out))
                die("FAKEKERNEL_ROOT=%s cannot be resolved: %s", env, strerror(errno));
        if (strcmp(out, "/") == 0 || is_real_sys_path(out) || on_sysfs(out))
                die("FAKEKERNEL_ROOT=%s (%s) is the real sysfs or /: refusing to play a kernel there", env, out);
}

/* A name the kernel could have given a device or a driver directory. */
static bool valid_name(const char *s) {
        size_t l = strlen(s);
        return l > 0 && l < NAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* ---- configuration from the environment (re-read on every use, so a test
 * may change it between cases) ---- */

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        { "EPERM", EPERM },   { "ENOENT", ENOENT }, { "EIO", EIO },         { "ENXIO", ENXIO },
        { "EAGAIN", EAGAIN }, { "ENOMEM", ENOMEM }, { "EACCES", EACCES },   { "EBUSY", EBUSY },
        { "ENODEV", ENODEV }, { "EINVAL", EINVAL }, { "ENOTTY", ENOTTY },   { "ENOSPC", ENOSPC },
        { "ETIMEDOUT", ETIMEDOUT }, { "EINTR", EINTR }, { "ENOTSUP", ENOTSUP },
};

static int parse_errno(const char *s) {
        char *end;
        long v;

        for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
                if (strcmp(s, errno_names[i].name) == 0)
                        return errno_names[i].value;
        v = strtol(s, &end, 10);
        if (*s && !*end && v > 0 && v < 4096)
                return (int) v;
        die("unknown errno name '%s' in FAKEKERNEL_FAIL/FAKEKERNEL_DELAY_MS", s);
}

/* Per-entry match counters for "#N" values, one set per variable, reset
 * whenever the variable's text changes (a test switching cases). */
#define FK_MAX_ENTRIES 128
typedef struct Counters {
        char *seen;                      /* the variable's text they count for */
        unsigned n[FK_MAX_ENTRIES];
} Counters;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static Counters fail_counters, delay_counters;

/* Counts one more match of entry i of `var`; returns the new count. */
static unsigned count_match(const char *var, const char *env, unsigned i) {
        Counters *c = strcmp(var, "FAKEKERNEL_FAIL") == 0 ? &fail_counters : &delay_counters;
        unsigned n;

        if (i >= FK_MAX_ENTRIES)
                die("%s has more than %d entries", var, FK_MAX_ENTRIES);
        pthread_mutex_lock(&count_lock);
        if (!c->seen || strcmp(c->seen, env) != 0) {
                free(c->seen);
                c->seen = strdup(env);
                if (!c->seen)
                        die("out of memory");
                memset(c->n, 0, sizeof c->n);
        }
        n = ++c->n[i];
        pthread_mutex_unlock(&count_lock);
        return n;
}

/* Looks for "STEP[@DRIVER]:ADDR:VALUE[#N]" (ADDR may be "*") in the
 * comma-separated list of env variable `var`; copies VALUE ("" for entries
 * without one, like "probe-nothing:ADDR") into value.  An entry with
 * "@DRIVER" matches only when `qual` (the driver the write is about, see
 * write_qualifier()) is that name ("@" alone: the empty name).  An entry
 * with "#N" applies only to the Nth write it matches (counted from 1,
 * in this process, while the variable keeps its text, whether or not an
 * earlier entry decided that write); the first entry that applies
 * decides. */
static bool env_lookup(const char *var, const char *step, const char *addr, const char *qual,
                       char *value, size_t size) {
        const char *env = getenv(var);
        char buf[4096];
        char *save = NULL;
        unsigned i = 0;
        bool found = false;

        if (!env || !*env)
                return false;
        if (strlen(env) >= sizeof buf)
                die("%s is too long", var);
        strcpy(buf, env);
        for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save), i++) {
                char *colon = strchr(e, ':'), *a, *v = (char *) "", *at, *hash;
                unsigned long nth = 0;

                if (!colon)
                        die("%s: malformed entry '%s' (want STEP:ADDR[:VALUE])", var, e);
                *colon = 0;
                a = colon + 1;
                at = strchr(e, '@');
                if (at)
                        *at++ = 0;
                if (strcmp(e, "probe-nothing") != 0 && strcmp(e, "no-vfio-node") != 0) {
                        char *last = strrchr(a, ':');
                        if (!last)
                                die("%s: malformed entry for step '%s' (want STEP:ADDR:VALUE)", var, e);
                        *last = 0;
                        v = last + 1;
                        hash = strchr(v, '#');
                        if (hash) {
                                char *end;
                                *hash = 0;
                                errno = 0;
                                nth = strtoul(hash + 1, &end, 10);
                                if (errno || !hash[1] || *end || nth == 0 || nth > 1000000)
                                        die("%s: bad count '#%s' (want #N, N >= 1)", var, hash + 1);
                        }
                }
                if (strcmp(e, step) != 0 || (strcmp(a, "*") != 0 && strcmp(a, addr) != 0))
                        continue;
                if (at && (!qual || strcmp(at, qual) != 0))
                        continue;
                /* every matching entry counts the write, the first that
                 * applies to it decides */
                if (count_match(var, env, i) != nth && nth != 0)
                        continue;
                if (!found)
                        snprintf(value, size, "%s", v);
                found = true;
        }
        return found;
}

static int injected_errno(const char *step, const char *addr, const char *qual) {
        char v[64];

        if (!env_lookup("FAKEKERNEL_FAIL", step, addr, qual, v, sizeof v))
                return 0;
        return parse_errno(v);
}

static bool injected_flag(const char *step, const char *addr) {
        char v[8];
        return env_lookup("FAKEKERNEL_FAIL", step, addr, NULL, v, sizeof v);
}

/* The delay for this write in milliseconds, 0 for none. */
static long injected_delay_ms(const char *step, const char *addr, const char *qual) {
        char v[64], *end;
        long ms;

        if (!env_lookup("FAKEKERNEL_DELAY_MS", step, addr, qual, v, sizeof v))
                return 0;
        ms = strtol(v, &end, 10);
        if (!*v || *end || ms < 0)
                die("FAKEKERNEL_DELAY_MS: bad milliseconds '%s'", v);
        return ms;
}

typedef enum KillWhen { KILL_NONE, KILL_BEFORE, KILL_AFTER } KillWhen;

/* FAKEKERNEL_KILL "STEP[@DRIVER]:ADDR:before|after[#N]" */
static KillWhen injected_kill(const char *step, const char *addr, const char *qual) {
        char v[16];

        if (!env_lookup("FAKEKERNEL_KILL", step, addr, qual, v, sizeof v))
                return KILL_NONE;
        if (strcmp(v, "before") == 0)
                return KILL_BEFORE;
        if (strcmp(v, "after") == 0)
                return KILL_AFTER;
        die("FAKEKERNEL_KILL: want 'before' or 'after', not '%s'", v);
}

static void sleep_ms(long ms) {
        struct timespec ts;

        ts.tv_sec = ms / 1000;
        ts.tv_nsec = (ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* ---- files of the tree (all paths absolute, below a validated root) ---- */

static int tree_read(const char *path, char *buf, size_t size) {
        int fd = call_real_open(FAM_OPEN, AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, buf, size - 1);
        real_close(fd);
        if (n < 0)
                return -EIO;
        buf[n] = 0;
        /* first line, trimmed */
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

static void tree_write(const char *path, const char *content) {
        int fd = call_real_open(FAM_OPEN, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        size_t l = strlen(content);

        if (fd < 0)
                die("cannot write %s: %s", path, strerror(errno));
        if (real_write(fd, content, l) != (ssize_t) l)
                die("short write to %s", path);
        real_close(fd);
}

/* basename of a symlink's target, "" when there is no link */
static void tree_link_base(const char *path, char out[NAME_MAX + 1]) {
        char t[PATH_MAX];
        ssize_t n = readlink(path, t, sizeof t - 1);
        const char *b;

        out[0] = 0;
        if (n <= 0)
                return;
        t[n] = 0;
        b = strrchr(t, '/');
        b = b ? b + 1 : t;
        copy_name(out, b, strlen(b));
}

/* relative path from directory `from` to `to`, both absolute and canonical */
static void relative_path(const char *from, const char *to, char out[PATH_MAX]) {
        size_t common = 0, i;
        const char *rest;

        for (i = 0; from[i] && from[i] == to[i]; i++)
                if (from[i] == '/')
                        common = i;
        if (!from[i] && (to[i] == '/' || !to[i]))
                common = i;
        out[0] = 0;
        for (const char *p = from + common; *p; p++)
                if (*p == '/')
                        strncat(out, "../", PATH_MAX - strlen(out) - 1);
        rest = to + common;
        if (*rest == '/')
                rest++;
        strncat(out, rest, PATH_MAX - strlen(out) - 1);
}

/* Device directory (canonical) for a bus address, false if no such device. */
static bool device_dir(const char *root, const char *addr, char out[PATH_MAX]) {
        char p[PATH_MAX];

        if (!valid_name(addr) || addr[0] == '.')
                return false;
        pathf(p, "%s/bus/pci/devices/%s", root, addr);
        if (!realpath(p, out))
                return false;
        if (!has_prefix_dir(out, root))
                die("%s resolves outside the root (%s)", p, out);
        return true;
}

static const char *base_name(const char *p) {
        const char *b = strrchr(p, '/');
        return b ? b + 1 : p;
}

static bool driver_exists(const char *root, const char *name) {
        char p[PATH_MAX];
        struct stat st;

        if (!valid_name(name))
                return false;
        pathf(p, "%s/bus/pci/drivers/%s", root, name);
        return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static void device_driver(const char *devdir, char out[NAME_MAX + 1]) {
        char p[PATH_MAX];
        pathf(p, "%s/driver", devdir);
        tree_link_base(p, out);
}

/* driver_override as the kernel holds it: "" when unset */
static void device_override(const char *devdir, char out[NAME_MAX + 1]) {
        char p[PATH_MAX], buf[FK_PAGE];

        out[0] = 0;
        pathf(p, "%s/driver_override", devdir);
        if (tree_read(p, buf, sizeof buf) < 0 || strcmp(buf, "(null)") == 0)
                return;
        copy_name(out, buf, strlen(buf));
}

/* Drivers whose id table matches the device, in the order probing tries
 * them (the tree generator writes them; the test may change them). */
static void device_native(const char *devdir, char *out, size_t size) {
        char p[PATH_MAX];

        pathf(p, "%s/" FAKEKERNEL_NATIVE_FILE, devdir);
        if (tree_read(p, out, size) < 0)
                out[0] = 0;
}

static bool native_matches(const char *devdir, const char *name) {
        char list[FK_PAGE], *save = NULL;

        device_native(devdir, list, sizeof list);
        for (char *w = strtok_r(list, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                if (strcmp(w, name) == 0)
                        return true;
        return false;
}

/* pci_device_can_probe(): a VF whose PF has sriov_drivers_autoprobe=0
 * probes only through driver_override. */
static bool vf_autoprobe_off(const char *devdir) {
        char p[PATH_MAX], v[32];

        pathf(p, "%s/physfn/sriov_drivers_autoprobe", devdir);
        return tree_read(p, v, sizeof v) == 0 && strcmp(v, "0") == 0;
}

/* ---- /dev/vfio/N under umockdev ----
 * vfio creates the group's character device /dev/vfio/N when the first
 * function of IOMMU group N is bound to a vfio driver and removes it when
 * the last one is unbound.  Only played under umockdev, and only when the
 * root is $UMOCKDEV_DIR/sys, so the node goes to $UMOCKDEV_DIR/dev/vfio/N,
 * which umockdev shows as /dev/vfio/N.  The node is a plain file, made to
 * look like a character device (major FAKEKERNEL_VFIO_MAJOR, minor N) by
 * umockdev's $UMOCKDEV_DIR/dev/.node/vfio_N link. */

/* $UMOCKDEV_DIR/dev, canonical, when the root is $UMOCKDEV_DIR/sys */
static bool umockdev_dev_dir(const char *root, char out[PATH_MAX]) {
        char dir[PATH_MAX], sys[PATH_MAX];

        if (!umockdev_mode() || !realpath(getenv("UMOCKDEV_DIR"), dir) || strcmp(dir, "/") == 0)
                return false;
        pathf(sys, "%s/sys", dir);
        if (strcmp(sys, root) != 0)
                return false;
        pathf(out, "%s/dev", dir);
        return true;
}

static bool is_vfio_driver(const char *name) {
        return strncmp(name, "vfio", 4) == 0;
}

/* Does any function of group `group` have a vfio driver now? */
static bool group_has_vfio(const char *root, const char *group) {
        char p[PATH_MAX], drv[NAME_MAX + 1];
        struct dirent *de;
        DIR *d;
        bool any = false;

        pathf(p, "%s/kernel/iommu_groups/%s/devices", root, group);
        d = opendir(p);
        if (!d)
                return false;
        while (!any && (de = readdir(d))) {
                char link[PATH_MAX];

                if (de->d_name[0] == '.')
                        continue;
                pathf(link, "%s/%s/driver", p, de->d_name);
                tree_link_base(link, drv);
                any = is_vfio_driver(drv);
        }
        closedir(d);
        return any;
}

static void make_dir(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                die("mkdir %s: %s", path, strerror(errno));
}

static void vfio_node_sync(const char *root, const char *devdir) {
        char dev[PATH_MAX], group[NAME_MAX + 1], p[PATH_MAX], node[PATH_MAX], dir[PATH_MAX], rdev[NAME_MAX + 32];
        struct stat st;

        if (!umockdev_dev_dir(root, dev))
                return;
        pathf(p, "%s/iommu_group", devdir);
        tree_link_base(p, group);
        if (!group[0] || !valid_name(group))
                return;
        pathf(node, "%s/vfio/%s", dev, group);
        pathf(p, "%s/.node/vfio_%s", dev, group);
        /* FAKEKERNEL_FAIL=no-vfio-node:N: vfio never makes the node of group N */
        if (group_has_vfio(root, group) && !injected_flag("no-vfio-node", group)) {
                if (lstat(node, &st) == 0)
                        return;
                make_dir(dev);
                pathf(dir, "%s/vfio", dev);
                make_dir(dir);
                pathf(dir, "%s/.node", dev);
                make_dir(dir);
                tree_write(node, "");
                snprintf(rdev, sizeof rdev, "%d:%s", FAKEKERNEL_VFIO_MAJOR, group);
                (void) unlink(p);
                if (symlink(rdev, p) < 0)
                        die("symlink %s: %s", p, strerror(errno));
        } else {
                (void) unlink(node);
                (void) unlink(p);
        }
}

static void do_bind(const char *root, const char *devdir, const char *name) {
        char drvdir[PATH_MAX], link[PATH_MAX], rel[PATH_MAX];

        pathf(drvdir, "%s/bus/pci/drivers/%s", root, name);
        relative_path(devdir, drvdir, rel);
        pathf(link, "%s/driver", devdir);
        if (symlink(rel, link) < 0)
                die("symlink %s: %s", link, strerror(errno));
        relative_path(drvdir, devdir, rel);
        pathf(link, "%s/%s", drvdir, base_name(devdir));
        if (symlink(rel, link) < 0 && errno != EEXIST)
                die("symlink %s: %s", link, strerror(errno));
        vfio_node_sync(root, devdir);
}

static void do_unbind(const char *root, const char *devdir, const char *name) {
        char p[PATH_MAX];

        pathf(p, "%s/driver", devdir);
        if (unlink(p) < 0)
                die("unlink %s: %s", p, strerror(errno));
        pathf(p, "%s/bus/pci/drivers/%s/%s", root, name, base_name(devdir));
        (void) unlink(p);
        vfio_node_sync(root, devdir);
}

/* `STEP TARGET "BYTES"` with the bytes escaped; returns its length */
static size_t action_text(char *line, size_t size, const char *step, const char *target, const char *buf, size_t n) {
        size_t l;

        l = (size_t) snprintf(line, size, "%s %s \"", step, target);
        for (size_t i = 0; i < n && l < size - 64; i++) {
                unsigned char c = (unsigned char) buf[i];
                if (c == '\n')
                        l += (size_t) snprintf(line + l, size - l, "\\n");
                else if (c == '"' || c == '\\')
                        l += (size_t) snprintf(line + l, size - l, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        l += (size_t) snprintf(line + l, size - l, "\\x%02x", c);
                else
                        line[l++] = (char) c;
        }
        l += (size_t) snprintf(line + l, size - l, "\"");
        return l;
}

static void log_action(const char *root, const char *step, const char *target, const char *buf, size_t n,
                       int error) {
        char line[FK_PAGE * 4 + 256], p[PATH_MAX];
        size_t l;
        int fd;

        l = action_text(line, sizeof line, step, target, buf, n);
        l += (size_t) snprintf(line + l, sizeof line - l, " %s\n",
                               error == 0 ? "ok" : strerrorname_np(error) ? strerrorname_np(error) : "?");
        pathf(p, "%s/" FAKEKERNEL_LOG_FILE, root);
        fd = call_real_open(FAM_OPEN, AT_FDCWD, p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                die("cannot open %s: %s", p, strerror(errno));
        if (real_write(fd, line, l) != (ssize_t) l)
                die("short write to %s", p);
        real_close(fd);
}

/* The address written to bind/unbind/drivers_probe, compared the way
 * sysfs_streq() does: up to the first NUL, one trailing newline ignored. */
static void written_name(const char *s, char out[NAME_MAX + 1]) {
        size_t l = strlen(s);

        if (l > 0 && s[l - 1] == '\n')
                l--;
        if (l > NAME_MAX)
                l = NAME_MAX;
        memcpy(out, s, l);
        out[l] = 0;
}

/* ---- the kernel's store() methods; each returns 0 or a positive errno ---- */

/* driver_set_override(): an empty string or one starting with "\n" clears;
 * otherwise everything up to the first newline is the driver name. */
static int store_override(const char *root, const char *devdir, const char *s, const char *qual) {
        const char *addr = base_name(devdir);
        char p[PATH_MAX], value[FK_PAGE + 2];
        size_t len = strlen(s), cut;
        int e;

        if ((e = injected_errno("override", addr, qual)))
                return e;
        (void) root;
        cut = strcspn(s, "\n");
        if (len == 0 || cut == 0)
                snprintf(value, sizeof value, "(null)\n");
        else
                snprintf(value, sizeof value, "%.*s\n", (int) cut, s);
        pathf(p, "%s/driver_override", devdir);
        tree_write(p, value);
        return 0;
}

/* unbind_store(): ENODEV unless the device exists and is bound to this driver */
static int store_unbind(const char *root, const char *drv, const char *s) {
        char addr[NAME_MAX + 1], devdir[PATH_MAX], cur[NAME_MAX + 1];
        int e;

        written_name(s, addr);
        if (!device_dir(root, addr, devdir))
                return ENODEV;
        if ((e = injected_errno("unbind", addr, drv)))
                return e;
        device_driver(devdir, cur);
        if (strcmp(cur, drv) != 0)
                return ENODEV;
        /* A tree without an explicit native driver (a umockdev testbed)
         * learns it from the first host driver we see unbound. */
        if (strcmp(drv, "vfio-pci") != 0 && strcmp(drv, "pci-stub") != 0) {
                char p[PATH_MAX], native[FK_PAGE];
                device_native(devdir, native, sizeof native);
                if (!native[0]) {
                        pathf(p, "%s/" FAKEKERNEL_NATIVE_FILE, devdir);
                        snprintf(native, sizeof native, "%s\n", drv);
                        tree_write(p, native);
                }
        }
        do_unbind(root, devdir, drv);
        return 0;
}

/* drivers_probe_store() -> device_attach(): ENODEV for an unknown device;
 * success (with nothing bound) when the device already has a driver or no
 * driver takes it. */
static int store_probe(const char *root, const char *s, const char *qual) {
        char addr[NAME_MAX + 1], devdir[PATH_MAX], cur[NAME_MAX + 1], ovr[NAME_MAX + 1];
        char native[FK_PAGE], *save = NULL;
        int e;

        written_name(s, addr);
        if (!device_dir(root, addr, devdir))
                return ENODEV;
        if ((e = injected_errno("probe", addr, qual)))
                return e;
        if (injected_flag("probe-nothing", addr))
                return 0;
        device_driver(devdir, cur);
        if (cur[0])
                return 0;
        device_override(devdir, ovr);
        if (ovr[0]) {
                /* pci_match_device(): with an override only that driver matches */
                if (driver_exists(root, ovr))
                        do_bind(root, devdir, ovr);
                return 0;
        }
        if (vf_autoprobe_off(devdir))
                return 0;
        device_native(devdir, native, sizeof native);
        for (char *w = strtok_r(native, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
                if (driver_exists(root, w)) {
                        do_bind(root, devdir, w);
                        break;
                }
        return 0;
}

/* bind_store(): ENODEV unless the driver matches (driver_override names
 * another driver -> no match); EBUSY when the device already has a driver
 * (__driver_probe_device); ENODEV when pci_device_probe() refuses a VF of a
 * PF with autoprobe off and no override. */
static int store_bind(const char *root, const char *drv, const char *s) {
        char addr[NAME_MAX + 1], devdir[PATH_MAX], cur[NAME_MAX + 1], ovr[NAME_MAX + 1];
        int e;

        written_name(s, addr);
        if (!device_dir(root, addr, devdir))
                return ENODEV;
        if ((e = injected_errno("bind", addr, drv)))
                return e;
        device_override(devdir, ovr);
        if (ovr[0] ? strcmp(ovr, drv) != 0 : !native_matches(devdir, drv))
                return ENODEV;
        device_driver(devdir, cur);
        if (cur[0])
                return EBUSY;
        if (!ovr[0] && vf_autoprobe_off(devdir))
                return ENODEV;
        do_bind(root, devdir, drv);
        return 0;
}

/* reset_store(): kstrtoul() must give 1, else EINVAL; pci_reset_function()
 * gives ENOTTY when no method is enabled (reset_method emptied). */
static int store_reset(const char *root, const char *devdir, const char *s, const char *qual) {
        const char *addr = base_name(devdir);
        char p[PATH_MAX], v[FK_PAGE], *end;
        unsigned long val;
        int e;

        (void) root;
        errno = 0;
        val = strtoul(s, &end, 0);
        if (errno || end == s || (*end && strcmp(end, "\n") != 0) || s[0] == '-' || s[0] == ' ')
                return EINVAL;
        if (val != 1)
                return EINVAL;
        if ((e = injected_errno("reset", addr, qual)))
                return e;
        pathf(p, "%s/reset_method", devdir);
        if (tree_read(p, v, sizeof v) == 0 && v[strspn(v, " \t")] == 0)
                return ENOTTY;
        pathf(p, "%s/" FAKEKERNEL_RESET_COUNT_FILE, devdir);
        if (tree_read(p, v, sizeof v) < 0)
                strcpy(v, "0");
        snprintf(v, sizeof v, "%ld\n", strtol(v, NULL, 10) + 1);
        tree_write(p, v);
        return 0;
}

static const char *kind_step(Kind k) {
        switch (k) {
        case K_OVERRIDE: return "override";
        case K_UNBIND:   return "unbind";
        case K_BIND:     return "bind";
        case K_PROBE:    return "probe";
        case K_RESET:    return "reset";
        default:         return "?";
        }
}

/* The driver a write is about, for "STEP@DRIVER" entries: the driver
 * directory's name for bind and unbind, the name written for
 * driver_override ("" when it clears), the driver bound now ("" if none)
 * for drivers_probe and reset. */
static void write_qualifier(const Tracked *t, const char *s, char out[NAME_MAX + 1]) {
        char name[NAME_MAX + 1], devdir[PATH_MAX];

        out[0] = 0;
        switch (t->kind) {
        case K_OVERRIDE:
                copy_name(out, s, strcspn(s, "\n"));
                break;
        case K_UNBIND:
        case K_BIND:
                copy_name(out, t->target, strlen(t->target));
                break;
        case K_PROBE:
                written_name(s, name);
                if (device_dir(t->root, name, devdir))
                        device_driver(devdir, out);
                break;
        case K_RESET:
                device_driver(t->target, out);
                break;
        default:
                break;
        }
}

static ssize_t play_write(const Tracked *t, const void *buf, size_t n) {
        char s[FK_PAGE + 1], name[NAME_MAX + 1], qual[NAME_MAX + 1];
        const char *delay_addr, *target;
        KillWhen kill_when;
        long delay;
        int e;

        if (n == 0)
                return 0;
        if (n >= FK_PAGE) {
                errno = EINVAL;
                return -1;
        }
        memcpy(s, buf, n);
        s[n] = 0;   /* kernfs NUL-terminates the buffer for store() */

        target = t->kind == K_OVERRIDE || t->kind == K_RESET ? base_name(t->target) :
                 t->kind == K_PROBE ? "drivers_probe" : t->target;
        /* delay before taking the lock, as a slow reset holds only its device */
        if (t->kind == K_OVERRIDE || t->kind == K_RESET)
                delay_addr = base_name(t->target);
        else {
                written_name(s, name);
                delay_addr = name;
        }
        pthread_mutex_lock(&fk_lock);
        write_qualifier(t, s, qual);
        pthread_mutex_unlock(&fk_lock);
        delay = injected_delay_ms(kind_step(t->kind), delay_addr, qual);
        if (delay > 0) {
                /* while it sleeps, the write is shown in ROOT/.fakekernel-delayed,
                 * so a test can tell that the slow write has begun and not ended */
                char line[FK_PAGE * 4 + 256], p[PATH_MAX], tmp[PATH_MAX];
                size_t l = action_text(line, sizeof line, kind_step(t->kind), target, buf, n);

                snprintf(line + l, sizeof line - l, " %ld\n", delay);

                pathf(p, "%s/" FAKEKERNEL_DELAYED_FILE, t->root);
                pathf(tmp, "%s.tmp", p);
                pthread_mutex_lock(&fk_lock);
                /* whole or not at all, for a reader polling it */
                tree_write(tmp, line);
                if (rename(tmp, p) < 0)
                        die("rename %s: %s", tmp, strerror(errno));
                pthread_mutex_unlock(&fk_lock);
                sleep_ms(delay);
                pthread_mutex_lock(&fk_lock);
                (void) unlink(p);
                pthread_mutex_unlock(&fk_lock);
        }

        /* FAKEKERNEL_KILL: the daemon killed before or right after this
         * write took effect (one lookup: it counts the write once) */
        kill_when = injected_kill(kind_step(t->kind), delay_addr, qual);
        if (kill_when == KILL_BEFORE)
                (void) raise(SIGKILL);

        pthread_mutex_lock(&fk_lock);
        switch (t->kind) {
        case K_OVERRIDE: e = store_override(t->root, t->target, s, qual); break;
        case K_UNBIND:   e = store_unbind(t->root, t->target, s); break;
        case K_BIND:     e = store_bind(t->root, t->target, s); break;
        case K_PROBE:    e = store_probe(t->root, s, qual); break;
        case K_RESET:    e = store_reset(t->root, t->target, s, qual); break;
        default:         abort();
        }
        log_action(t->root, kind_step(t->kind), target, buf, n, e);
        pthread_mutex_unlock(&fk_lock);
        if (kill_when == KILL_AFTER)
                (void) raise(SIGKILL);

        if (e) {
                errno = e;
                return -1;
        }
        return (ssize_t) n;
}

/* ---- fd tracking ---- */

static void untrack_locked(int fd) {
        for (Tracked **p = &tracked; *p; p = &(*p)->next)
                if ((*p)->fd == fd) {
                        Tracked *t = *p;
                        *p = t->next;
                        free(t->root);
                        free(t->target);
                        free(t);
                        __atomic_sub_fetch(&n_tracked, 1, __ATOMIC_RELEASE);
                        return;
                }
}

static void untrack(int fd) {
        if (__atomic_load_n(&n_tracked, __ATOMIC_ACQUIRE) == 0)
                return;
        pthread_mutex_lock(&fk_lock);
        untrack_locked(fd);
        pthread_mutex_unlock(&fk_lock);
}

static void track(int fd, Kind kind, const char *root, const char *target) {
        Tracked *t = calloc(1, sizeof *t);
        struct stat st;

        if (!t || fstat(fd, &st) < 0)
                die("cannot track fd %d", fd);
        t->fd = fd;
        t->dev = st.st_dev;
        t->ino = st.st_ino;
        t->kind = kind;
        t->root = strdup(root);
        t->target = strdup(target);
        if (!t->root || !t->target)
                die("out of memory");
        pthread_mutex_lock(&fk_lock);
        untrack_locked(fd);
        t->next = tracked;
        tracked = t;
        __atomic_add_fetch(&n_tracked, 1, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&fk_lock);
}

/* ---- open ---- */

typedef struct Resolved {
        Kind kind;
        char full[PATH_MAX];     /* canonical parent + last component */
        char target[PATH_MAX];
        char root[PATH_MAX];
} Resolved;

static void classify(Resolved *r) {
        const char *rel = r->full + strlen(r->root) + 1;
        const char *last = base_name(r->full);

        r->kind = K_PLAIN;
        if (strcmp(rel, "bus/pci/drivers_probe") == 0) {
                r->kind = K_PROBE;
                return;
        }
        if (strncmp(rel, "bus/pci/drivers/", 16) == 0) {
                const char *name = rel + 16, *slash = strchr(name, '/');
                if (!slash || strchr(slash + 1, '/'))
                        return;
                snprintf(r->target, sizeof r->target, "%.*s", (int) (slash - name), name);
                if (strcmp(slash + 1, "bind") == 0)
                        r->kind = K_BIND;
                else if (strcmp(slash + 1, "unbind") == 0)
                        r->kind = K_UNBIND;
                return;
        }
        if (strncmp(rel, "devices/", 8) == 0 &&
            (strcmp(last, "driver_override") == 0 || strcmp(last, "reset") == 0)) {
                snprintf(r->target, sizeof r->target, "%.*s", (int) (last - 1 - r->full), r->full);
                r->kind = strcmp(last, "reset") == 0 ? K_RESET : K_OVERRIDE;
        }
}

/* Decides what an open for writing is.  Returns K_PASS for paths that are
 * neither below the root nor in sysfs; aborts for the real sysfs. */
static void resolve_write_open(int dirfd, const char *path, Resolved *r) {
        char joined[PATH_MAX], parent[PATH_MAX], real_parent[PATH_MAX];
        char *slash;
        const char *last;

        r->kind = K_PASS;
        r->full[0] = r->target[0] = 0;
        get_root(r->root);

        if (path[0] == '/')
                snprintf(joined, sizeof joined, "%s", path);
        else {
                char base[PATH_MAX];
                if (dirfd == AT_FDCWD) {
                        if (!getcwd(base, sizeof base))
                                die("getcwd: %s", strerror(errno));
                } else {
                        char proc[64];
                        ssize_t n;
                        snprintf(proc, sizeof proc, "/proc/self/fd/%d", dirfd);
                        n = readlink(proc, base, sizeof base - 1);
                        if (n < 0) {
                                if (fcntl(dirfd, F_GETFD) < 0)
                                        return;   /* bad dirfd: the real openat says EBADF */
                                die("cannot tell where dirfd %d points (%s): refusing to open %s for writing",
                                    dirfd, strerror(errno), path);
                        }
                        base[n] = 0;
                }
                if (!path_join(joined, base, path))
                        die("path too long: %s/%s", base, path);
        }

        /* umockdev redirects /sys to $UMOCKDEV_DIR/sys for the next layer;
         * we map it onto our root ourselves and never hand a /sys path on. */
        if (is_real_sys_path(joined)) {
                char mapped[PATH_MAX];
                if (!umockdev_mode() || !r->root[0])
                        die("refusing to open %s for writing: that is the real sysfs "
                            "(set FAKEKERNEL_ROOT, and FAKEKERNEL_UMOCKDEV=1 under umockdev)", joined);
                if (!path_join(mapped, r->root, joined + 4 + (joined[4] == '/')))
                        die("path too long");
                snprintf(joined, sizeof joined, "%s", mapped);
        }

        snprintf(parent, sizeof parent, "%s", joined);
        slash = strrchr(parent, '/');
        last = joined + (slash - parent) + 1;
        if (slash == parent)
                strcpy(parent, "/");
        else
                *slash = 0;
        if (!*last || strcmp(last, ".") == 0 || strcmp(last, "..") == 0 || !realpath(parent, real_parent)) {
                /* nothing to resolve: the real open fails or makes a directory
                 * fd; still never let it reach sysfs */
                if (realpath(joined, real_parent) && (is_real_sys_path(real_parent) || on_sysfs(real_parent)))
                        die("refusing to open %s for writing: it is in the real sysfs", joined);
                if (r->root[0] && has_prefix_dir(joined, r->root)) {
                        r->kind = K_PLAIN;
                        snprintf(r->full, sizeof r->full, "%s", joined);
                }
                return;
        }
        if (!path_join(r->full, strcmp(real_parent, "/") == 0 ? "" : real_parent, last))
                die("path too long");
        if (r->root[0] && has_prefix_dir(r->full, r->root) && strcmp(r->full, r->root) != 0) {
                classify(r);
                return;
        }
        if (is_real_sys_path(r->full) || on_sysfs(real_parent))
                die("refusing to open %s (%s) for writing: it is in the real sysfs", joined, r->full);
}

static int fk_open(Family fam, int dirfd, const char *path, int flags, mode_t mode) {
        Resolved r;
        int fd, saved;

        resolve_basics();
        if (!path || (flags & O_ACCMODE) == O_RDONLY)
                return call_real_open(fam, dirfd, path, flags, mode);

        resolve_write_open(dirfd, path, &r);
        if (r.kind == K_PASS)
                return call_real_open(fam, dirfd, path, flags, mode);
        /* Below the root: hand on the canonical path (never a /sys one).
         * Sysfs attributes cannot be created or truncated; a writer that
         * creates files is a tree generator and gets a plain file. */
        if (r.kind == K_PLAIN || (flags & O_CREAT)) {
                fd = call_real_open(fam, dirfd, r.full, flags, mode);
                if (fd >= 0)
                        untrack(fd);
                return fd;
        }
        fd = call_real_open(fam, dirfd, r.full, flags & ~O_TRUNC, mode);
        if (fd < 0)
                return fd;
        saved = errno;
        track(fd, r.kind, r.root, r.target);
        errno = saved;
        return fd;
}

static mode_t va_mode(int flags, va_list ap) {
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
                return (mode_t) va_arg(ap, int);
        return 0;
}

int open(const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = va_mode(flags, ap);
        va_end(ap);
        return fk_open(FAM_OPEN, AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = va_mode(flags, ap);
        va_end(ap);
        return fk_open(FAM_OPEN64, AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = va_mode(flags, ap);
        va_end(ap);
        return fk_open(FAM_OPENAT, dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) {
        va_list ap;
        mode_t mode;

        va_start(ap, flags);
        mode = va_mode(flags, ap);
        va_end(ap);
        return fk_open(FAM_OPENAT64, dirfd, path, flags, mode);
}

int __open_2(const char *path, int flags) {
        return fk_open(FAM_OPEN_2, AT_FDCWD, path, flags, 0);
}

int __open64_2(const char *path, int flags) {
        return fk_open(FAM_OPEN64_2, AT_FDCWD, path, flags, 0);
}

int __openat_2(int dirfd, const char *path, int flags) {
        return fk_open(FAM_OPENAT_2, dirfd, path, flags, 0);
}

int __openat64_2(int dirfd, const char *path, int flags) {
        return fk_open(FAM_OPENAT64_2, dirfd, path, flags, 0);
}

ssize_t write(int fd, const void *buf, size_t n) {
        Tracked copy = { 0 };
        bool found = false;

        resolve_basics();
        if (__atomic_load_n(&n_tracked, __ATOMIC_ACQUIRE) > 0) {
                pthread_mutex_lock(&fk_lock);
                for (Tracked *t = tracked; t; t = t->next)
                        if (t->fd == fd) {
                                struct stat st;
                                /* the fd may have been closed behind our back
                                 * (fclose, close_range) and reused */
                                if (fstat(fd, &st) == 0 && st.st_dev == t->dev && st.st_ino == t->ino) {
                                        copy = *t;
                                        copy.root = strdup(t->root);
                                        copy.target = strdup(t->target);
                                        if (!copy.root || !copy.target)
                                                die("out of memory");
                                        found = true;
                                } else
                                        untrack_locked(fd);
                                break;
                        }
                pthread_mutex_unlock(&fk_lock);
        }
        if (found) {
                ssize_t r = play_write(&copy, buf, n);
                int saved = errno;
                free(copy.root);
                free(copy.target);
                errno = saved;
                return r;
        }
        return real_write(fd, buf, n);
}

int close(int fd) {
        resolve_basics();
        untrack(fd);
        return real_close(fd);
}

const char *fakekernel_info(void) {
        return "fakekernel " FAKEKERNEL_ABI;
}
