/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fakekernel-tree.h"
#include "fakekernel.h"

#define SYSFS_MAGIC_NUMBER 0x62656572

static const char *const always_drivers[] = { "e1000e", "e1000", "nvme", "pcieport", "vfio-pci", "pci-stub" };

typedef struct Builder {
        const char *root;
        char *error;
} Builder;

static int fail(Builder *b, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Builder *b, int r, const char *fmt, ...) {
        va_list ap;

        if (!b->error) {
                va_start(ap, fmt);
                if (vasprintf(&b->error, fmt, ap) < 0)
                        b->error = NULL;
                va_end(ap);
        }
        return r;
}

/* Paths come from the truth file and are short; one that overflows is a
 * broken fixture. */
static void pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char out[PATH_MAX], const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(out, PATH_MAX, fmt, ap);
        va_end(ap);
        if (n < 0 || n >= PATH_MAX) {
                fprintf(stderr, "fakekernel-tree: path too long: %s...\n", out);
                abort();
        }
}

static int mkdir_p(Builder *b, const char *rel) {
        char p[PATH_MAX];

        pathf(p, "%s/%s", b->root, rel);
        for (char *s = p + strlen(b->root) + 1; ; s++) {
                if (*s == '/' || *s == 0) {
                        char c = *s;
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return fail(b, -errno, "mkdir %s: %s", p, strerror(errno));
                        *s = c;
                        if (!c)
                                break;
                }
        }
        return 0;
}

static int put(Builder *b, const char *rel, const char *content) {
        char p[PATH_MAX];
        size_t l = strlen(content);
        int fd;

        pathf(p, "%s/%s", b->root, rel);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return fail(b, -errno, "create %s: %s", p, strerror(errno));
        if (write(fd, content, l) != (ssize_t) l) {
                int r = -errno;
                close(fd);
                return fail(b, r ? r : -EIO, "write %s", p);
        }
        close(fd);
        return 0;
}

static int putf(Builder *b, const char *rel, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int putf(Builder *b, const char *rel, const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        return put(b, rel, buf);
}

/* relative path from directory `from` to `to`, both relative to the root */
static void relative(const char *from, const char *to, char out[PATH_MAX]) {
        size_t common = 0, i;
        const char *rest;

        for (i = 0; from[i] && from[i] == to[i]; i++)
                if (from[i] == '/')
                        common = i + 1;
        if (!from[i] && (to[i] == '/' || !to[i]))
                common = i + (to[i] == '/');
        out[0] = 0;
        if (from[common]) {
                strcat(out, "../");
                for (const char *p = from + common; *p; p++)
                        if (*p == '/')
                                strncat(out, "../", PATH_MAX - strlen(out) - 1);
        }
        rest = to + common;
        strncat(out, rest, PATH_MAX - strlen(out) - 1);
}

/* ROOT/<dir>/<name> -> relative path to ROOT/<to> */
static int link_to(Builder *b, const char *dir, const char *name, const char *to) {
        char rel[PATH_MAX], p[PATH_MAX];

        relative(dir, to, rel);
        pathf(p, "%s/%s/%s", b->root, dir, name);
        if (symlink(rel, p) < 0 && errno != EEXIST)
                return fail(b, -errno, "symlink %s -> %s: %s", p, rel, strerror(errno));
        return 0;
}

static const char *jstr(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) ?
                       json_object_get_string(v) : "";
}

static int64_t jint(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static bool jbool(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static json_object *jarr(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_array) ? v : NULL;
}

static bool name_ok(const char *s) {
        return *s && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 && strlen(s) < NAME_MAX;
}

static int add_driver(Builder *b, const char *name) {
        char dir[PATH_MAX], f[PATH_MAX];
        static const char *const files[] = { "bind", "unbind", "new_id", "remove_id" };
        int r;

        if (!name_ok(name))
                return fail(b, -EINVAL, "bad driver name '%s'", name);
        pathf(dir, "bus/pci/drivers/%s", name);
        if ((r = mkdir_p(b, dir)) < 0)
                return r;
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
                pathf(f, "%s/%s", dir, files[i]);
                if ((r = put(b, f, "")) < 0)
                        return r;
        }
        return 0;
}

static json_object *find_device(json_object *devices, const char *addr) {
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *d = json_object_array_get_idx(devices, i);
                if (strcmp(jstr(d, "address"), addr) == 0)
                        return d;
        }
        return NULL;
}

static int add_device(Builder *b, json_object *truth, json_object *devices, json_object *d) {
        const char *addr = jstr(d, "address"), *path = jstr(d, "sysfs_path"), *driver = jstr(d, "driver");
        const char *pf = jstr(d, "physical_function"), *native = driver;
        json_object *methods = jarr(d, "reset_methods"), *vfs = jarr(d, "virtual_functions"), *rec;
        char f[PATH_MAX], to[PATH_MAX], buf[1024];
        int64_t group = jint(d, "iommu_group");
        int r;

        if (!name_ok(addr) || strncmp(path, "devices/", 8) != 0 || strstr(path, ".."))
                return fail(b, -EINVAL, "bad device entry '%s' at '%s'", addr, path);
        if ((r = mkdir_p(b, path)) < 0)
                return r;

#define ATTR(name, ...)                                                 \
        do {                                                            \
                pathf(f, "%s/%s", path, name);             \
                if ((r = putf(b, f, __VA_ARGS__)) < 0)                  \
                        return r;                                       \
        } while (0)

        ATTR("vendor", "0x%04x\n", (unsigned) jint(d, "vendor_id"));
        ATTR("device", "0x%04x\n", (unsigned) jint(d, "device_id"));
        ATTR("subsystem_vendor", "0x%04x\n", (unsigned) jint(d, "subsystem_vendor_id"));
        ATTR("subsystem_device", "0x%04x\n", (unsigned) jint(d, "subsystem_device_id"));
        ATTR("class", "0x%06x\n", (unsigned) jint(d, "class"));
        ATTR("revision", "0x%02x\n", (unsigned) jint(d, "revision"));
        ATTR("numa_node", "%d\n", (int) jint(d, "numa_node"));
        ATTR("driver_override", "%s\n", *jstr(d, "driver_override") ? jstr(d, "driver_override") : "(null)");
        if (jbool(d, "has_reset_file"))
                ATTR("reset", "%s", "");
        if (methods && json_object_array_length(methods) > 0) {
                buf[0] = 0;
                for (size_t i = 0; i < json_object_array_length(methods); i++) {
                        if (i)
                                strncat(buf, " ", sizeof buf - strlen(buf) - 1);
                        strncat(buf, json_object_get_string(json_object_array_get_idx(methods, i)),
                                sizeof buf - strlen(buf) - 1);
                }
                ATTR("reset_method", "%s\n", buf);
        }
        if (jint(d, "sriov_totalvfs") > 0) {
                const char *nvme_pf = "";
                int64_t autoprobe = 1;
                if (json_object_object_get_ex(truth, "recorded_with", &rec)) {
                        nvme_pf = jstr(rec, "nvme_pf");
                        if (strcmp(nvme_pf, addr) == 0)
                                autoprobe = jint(rec, "sriov_drivers_autoprobe");
                }
                ATTR("sriov_totalvfs", "%d\n", (int) jint(d, "sriov_totalvfs"));
                ATTR("sriov_numvfs", "%d\n", (int) jint(d, "sriov_numvfs"));
                ATTR("sriov_drivers_autoprobe", "%d\n", (int) autoprobe);
        }
        if (!*native && *pf) {
                json_object *pfd = find_device(devices, pf);
                if (pfd)
                        native = jstr(pfd, "driver");
        }
        if (*native)
                ATTR(FAKEKERNEL_NATIVE_FILE, "%s\n", native);
#undef ATTR

        if ((r = link_to(b, path, "subsystem", "bus/pci")) < 0)
                return r;
        pathf(f, "bus/pci/devices/%s", addr);
        if ((r = link_to(b, "bus/pci/devices", addr, path)) < 0)
                return r;
        if (*driver) {
                if (!name_ok(driver))
                        return fail(b, -EINVAL, "bad driver name '%s'", driver);
                pathf(to, "bus/pci/drivers/%s", driver);
                if ((r = link_to(b, path, "driver", to)) < 0 || (r = link_to(b, to, addr, path)) < 0)
                        return r;
        }
        if (group >= 0) {
                pathf(to, "kernel/iommu_groups/%d/devices", (int) group);
                if ((r = mkdir_p(b, to)) < 0 || (r = link_to(b, to, addr, path)) < 0)
                        return r;
                to[strlen(to) - strlen("/devices")] = 0;
                if ((r = link_to(b, path, "iommu_group", to)) < 0)
                        return r;
        }
        if (*pf) {
                json_object *pfd = find_device(devices, pf);
                if (!pfd)
                        return fail(b, -EINVAL, "%s: physical function %s not in the truth file", addr, pf);
                if ((r = link_to(b, path, "physfn", jstr(pfd, "sysfs_path"))) < 0)
                        return r;
        }
        for (size_t i = 0; vfs && i < json_object_array_length(vfs); i++) {
                json_object *vfd = find_device(devices, json_object_get_string(json_object_array_get_idx(vfs, i)));
                char name[32];
                if (!vfd)
                        return fail(b, -EINVAL, "%s: virtual function %zu not in the truth file", addr, i);
                snprintf(name, sizeof name, "virtfn%zu", i);
                if ((r = link_to(b, path, name, jstr(vfd, "sysfs_path"))) < 0)
                        return r;
        }
        return 0;
}

int fakekernel_tree_build(const char *root, const char *truth_json, char **ret_error) {
        Builder b = { .root = root };
        json_object *truth = NULL, *devices, *groups;
        char real[PATH_MAX];
        struct statfs sfs;
        int r = 0;

        if (!root || root[0] != '/' || !realpath(root, real)) {
                r = fail(&b, -EINVAL, "root '%s' is not an existing absolute directory", root ? root : "(null)");
                goto out;
        }
        if (strcmp(real, "/") == 0 || (strncmp(real, "/sys", 4) == 0 && (real[4] == 0 || real[4] == '/')) ||
            (statfs(real, &sfs) == 0 && (unsigned long) sfs.f_type == SYSFS_MAGIC_NUMBER)) {
                r = fail(&b, -EPERM, "refusing to build a tree in %s", real);
                goto out;
        }
        b.root = real;

        truth = json_object_from_file(truth_json);
        if (!truth) {
                r = fail(&b, -EINVAL, "%s: %s", truth_json, json_util_get_last_err());
                goto out;
        }
        devices = jarr(truth, "devices");
        groups = jarr(truth, "groups");
        if (!devices) {
                r = fail(&b, -EINVAL, "%s: no devices", truth_json);
                goto out;
        }

        if ((r = mkdir_p(&b, "bus/pci/devices")) < 0 || (r = mkdir_p(&b, "bus/pci/drivers")) < 0 ||
            (r = mkdir_p(&b, "devices")) < 0 || (r = mkdir_p(&b, "kernel/iommu_groups")) < 0 ||
            (r = put(&b, "bus/pci/drivers_probe", "")) < 0 || (r = put(&b, "bus/pci/rescan", "")) < 0 ||
            (r = put(&b, "bus/pci/drivers_autoprobe", "1\n")) < 0)
                goto out;
        for (size_t i = 0; i < sizeof always_drivers / sizeof always_drivers[0]; i++)
                if ((r = add_driver(&b, always_drivers[i])) < 0)
                        goto out;
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                const char *drv = jstr(json_object_array_get_idx(devices, i), "driver");
                if (*drv && (r = add_driver(&b, drv)) < 0)
                        goto out;
        }
        for (size_t i = 0; i < json_object_array_length(devices); i++)
                if ((r = add_device(&b, truth, devices, json_object_array_get_idx(devices, i))) < 0)
                        goto out;
        for (size_t i = 0; groups && i < json_object_array_length(groups); i++) {
                json_object *g = json_object_array_get_idx(groups, i);
                char f[PATH_MAX];
                pathf(f, "kernel/iommu_groups/%d", (int) jint(g, "id"));
                if ((r = mkdir_p(&b, f)) < 0)
                        goto out;
                strncat(f, "/type", sizeof f - strlen(f) - 1);
                if ((r = putf(&b, f, "%s\n", *jstr(g, "type") ? jstr(g, "type") : "DMA")) < 0)
                        goto out;
        }
out:
        json_object_put(truth);
        if (r < 0 && ret_error)
                *ret_error = b.error ? b.error : strdup("fakekernel_tree_build failed");
        else
                free(b.error);
        return r;
}
