/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "pci-device.h"

PciDevice *pci_device_free(PciDevice *d) {
        if (!d)
                return NULL;
        free(d->vendor_name);
        free(d->device_name);
        free(d->driver);
        free(d->driver_override);
        strv_free(d->reset_methods);
        free(d->virtfns);
        free(d);
        return NULL;
}

static int split_words(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (*s) {
                size_t k;
                char **nl;

                s += strspn(s, " \t\n");
                k = strcspn(s, " \t\n");
                if (k == 0)
                        break;
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n] = strndup(s, k);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
                s += k;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int pci_hwdb_lookup(struct udev_hwdb *hwdb, const char *modalias, char **ret_vendor, char **ret_model) {
        struct udev_list_entry *e;
        _cleanup_free_ char *v = NULL, *m = NULL;

        if (!hwdb || !modalias)
                return -ENOENT;
        udev_list_entry_foreach(e, udev_hwdb_get_properties_list_entry(hwdb, modalias, 0)) {
                const char *k = udev_list_entry_get_name(e);
                if (!v && streq(k, "ID_VENDOR_FROM_DATABASE"))
                        v = strdup(udev_list_entry_get_value(e));
                else if (!m && streq(k, "ID_MODEL_FROM_DATABASE"))
                        m = strdup(udev_list_entry_get_value(e));
        }
        *ret_vendor = TAKE_PTR(v);
        *ret_model = TAKE_PTR(m);
        return 0;
}

static int dup_or_null(const char *s, char **ret) {
        if (!s || !*s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int cmp_virtfn(const void *a, const void *b) {
        const struct { unsigned idx; PciAddress a; } *x = a, *y = b;
        return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int read_virtfns(int dfd, PciDevice *d) {
        struct vf { unsigned idx; PciAddress a; } *vfs = NULL;
        _cleanup_free_ struct vf *owned = NULL;
        size_t n = 0, alloc = 0;
        DIR *dir;
        struct dirent *de;
        int fd;

        fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        dir = fdopendir(fd);
        if (!dir) {
                close(fd);
                return negative_errno();
        }
        while ((de = readdir(dir))) {
                char base[64];
                PciAddress a;
                char *end;
                unsigned long idx;

                if (strncmp(de->d_name, "virtfn", 6) != 0)
                        continue;
                errno = 0;
                idx = strtoul(de->d_name + 6, &end, 10);
                if (errno || *end || end == de->d_name + 6)
                        continue;
                if (readlink_base_at(dfd, de->d_name, base, sizeof base) < 0)
                        continue;
                if (pci_address_parse(base, &a) < 0)
                        continue;
                if (GREEDY_REALLOC(owned, alloc, n + 1) < 0) {
                        closedir(dir);
                        return -ENOMEM;
                }
                owned[n++] = (struct vf) { .idx = (unsigned) idx, .a = a };
        }
        closedir(dir);
        vfs = owned;
        if (n == 0)
                return 0;
        qsort(vfs, n, sizeof(*vfs), cmp_virtfn);
        d->virtfns = calloc(n, sizeof(PciAddress));
        if (!d->virtfns)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                d->virtfns[i] = vfs[i].a;
        d->n_virtfns = n;
        return 0;
}

void pci_device_modalias(const PciDevice *d, char buf[static PCI_MODALIAS_MAX]) {
        /* the kernel's format (drivers/pci/pci-sysfs.c, modalias_show) */
        snprintf(buf, PCI_MODALIAS_MAX, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
                 d->vendor_id, d->device_id, d->subsystem_vendor_id, d->subsystem_device_id,
                 (d->class_code >> 16) & 0xff, (d->class_code >> 8) & 0xff, d->class_code & 0xff);
}

/* ---- hwdb names, once per kind of function ---- */

typedef struct PciNameEntry {
        uint64_t ids;                   /* vendor, device, subsystem vendor, subsystem device */
        uint32_t class_code;
        bool used;
        char *vendor, *model;
} PciNameEntry;

struct PciNameCache {
        struct udev_hwdb *hwdb;
        PciNameEntry *entries;          /* open addressing, linear probing */
        size_t n, size;                 /* size is 0 or a power of two */
};

PciNameCache *pci_name_cache_new(struct udev_hwdb *hwdb) {
        PciNameCache *c = calloc(1, sizeof(*c));

        if (c && hwdb)
                c->hwdb = udev_hwdb_ref(hwdb);
        return c;
}

PciNameCache *pci_name_cache_free(PciNameCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->size; i++) {
                free(c->entries[i].vendor);
                free(c->entries[i].model);
        }
        free(c->entries);
        udev_hwdb_unref(c->hwdb);
        free(c);
        return NULL;
}

static size_t name_hash(uint64_t ids, uint32_t class_code) {
        /* splitmix64's finalizer: the IDs of one host differ in few bits */
        uint64_t x = ids ^ ((uint64_t) class_code * UINT64_C(0x9e3779b97f4a7c15));

        x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
        return (size_t) (x ^ (x >> 31));
}

static PciNameEntry *name_slot(PciNameEntry *v, size_t size, uint64_t ids, uint32_t class_code) {
        size_t i = name_hash(ids, class_code) & (size - 1);

        while (v[i].used && (v[i].ids != ids || v[i].class_code != class_code))
                i = (i + 1) & (size - 1);
        return &v[i];
}

static int name_cache_grow(PciNameCache *c) {
        size_t size = c->size ? c->size * 2 : 64;
        PciNameEntry *v = calloc(size, sizeof(*v));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < c->size; i++)
                if (c->entries[i].used)
                        *name_slot(v, size, c->entries[i].ids, c->entries[i].class_code) = c->entries[i];
        free(c->entries);
        c->entries = v;
        c->size = size;
        return 0;
}

int pci_name_cache_apply(PciNameCache *c, PciDevice *d) {
        uint64_t ids = (uint64_t) d->vendor_id << 48 | (uint64_t) d->device_id << 32 |
                       (uint64_t) d->subsystem_vendor_id << 16 | d->subsystem_device_id;
        PciNameEntry *e;
        int r;

        if (!c->hwdb || (d->vendor_name && d->device_name))
                return 0;
        /* at most half full */
        if (2 * (c->n + 1) > c->size) {
                r = name_cache_grow(c);
                if (r < 0)
                        return r;
        }
        e = name_slot(c->entries, c->size, ids, d->class_code);
        if (!e->used) {
                char modalias[PCI_MODALIAS_MAX];

                pci_device_modalias(d, modalias);
                r = pci_hwdb_lookup(c->hwdb, modalias, &e->vendor, &e->model);
                if (r == -ENOMEM)
                        return r;
                /* unknown to the hwdb is an answer too: remember it */
                e->ids = ids;
                e->class_code = d->class_code;
                e->used = true;
                c->n++;
        }
        r = d->vendor_name ? 0 : dup_or_null(e->vendor, &d->vendor_name);
        if (r >= 0 && !d->device_name)
                r = dup_or_null(e->model, &d->device_name);
        return r;
}

/* ---- reading a function ---- */

/* "8086" of at most `max` hex digits, up to `end` (exclusive). */
static bool parse_hex_n(const char *s, const char *end, size_t max, uint32_t *ret) {
        uint32_t v = 0;

        if (s >= end || (size_t) (end - s) > max)
                return false;
        for (; s < end; s++) {
                int x = *s >= '0' && *s <= '9' ? *s - '0' :
                        *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 :
                        *s >= 'A' && *s <= 'F' ? *s - 'A' + 10 : -1;
                if (x < 0)
                        return false;
                v = v << 4 | (uint32_t) x;
        }
        *ret = v;
        return true;
}

/* "8086:10D3" (PCI_ID, PCI_SUBSYS_ID) */
static bool parse_id_pair(const char *s, const char *end, uint16_t *ret_a, uint16_t *ret_b) {
        const char *colon = memchr(s, ':', (size_t) (end - s));
        uint32_t a, b;

        if (!colon || !parse_hex_n(s, colon, 4, &a) || !parse_hex_n(colon + 1, end, 4, &b))
                return false;
        *ret_a = (uint16_t) a;
        *ret_b = (uint16_t) b;
        return true;
}

typedef struct UeventIds {
        bool id, subsys, class_code;
} UeventIds;

/* The function's uevent file: the kernel puts the IDs and class there
 * (pci_uevent(): PCI_ID, PCI_SUBSYS_ID, PCI_CLASS, the same fields as the
 * vendor, device, subsystem_* and class attributes), so one read replaces
 * five.  Names (ID_*_FROM_DATABASE) are udev properties that only a
 * umockdev testbed keeps there; they are taken like the udev database's.
 * What is missing is read from the attributes by the caller. */
static int read_uevent(int dfd, PciDevice *d, UeventIds *ret) {
        char buf[4096];
        ssize_t n;

        *ret = (UeventIds) {};
        n = read_at(dfd, "uevent", buf, sizeof buf);
        if (n <= 0 || (size_t) n >= sizeof buf)
                return 0;
        for (const char *p = buf, *end = buf + n; p < end;) {
                const char *eol = memchr(p, '\n', (size_t) (end - p)) ?: end;
                const char *eq = memchr(p, '=', (size_t) (eol - p));

                if (eq) {
                        size_t kl = (size_t) (eq - p);
                        const char *v = eq + 1;
                        uint32_t c;

#define KEY_IS(k) (kl == sizeof(k) - 1 && memcmp(p, k, kl) == 0)
                        if (KEY_IS("PCI_ID"))
                                ret->id = parse_id_pair(v, eol, &d->vendor_id, &d->device_id);
                        else if (KEY_IS("PCI_SUBSYS_ID"))
                                ret->subsys = parse_id_pair(v, eol, &d->subsystem_vendor_id, &d->subsystem_device_id);
                        else if (KEY_IS("PCI_CLASS")) {
                                /* not zero-padded */
                                ret->class_code = parse_hex_n(v, eol, 6, &c);
                                if (ret->class_code)
                                        d->class_code = c;
                        } else if (KEY_IS("ID_VENDOR_FROM_DATABASE") && v < eol && !d->vendor_name) {
                                d->vendor_name = strndup(v, (size_t) (eol - v));
                                if (!d->vendor_name)
                                        return -ENOMEM;
                        } else if (KEY_IS("ID_MODEL_FROM_DATABASE") && v < eol && !d->device_name) {
                                d->device_name = strndup(v, (size_t) (eol - v));
                                if (!d->device_name)
                                        return -ENOMEM;
                        }
#undef KEY_IS
                }
                p = eol + 1;
        }
        return 0;
}

/* Attributes the kernel creates only for some functions are not probed
 * where what was already read rules them out: a failed open costs as much
 * as a successful one, and start-up on a big host is mostly opens. */
static int read_attributes(int dfd, PciDevice *d) {
        char buf[4096], link[256];
        uint8_t config[4096];
        UeventIds have;
        uint32_t v;
        ssize_t n;
        int r, i;

        r = read_uevent(dfd, d, &have);
        if (r < 0)
                return r;
        /* The identity must be there: without it this is not a PCI
         * function we can reason about. */
        if (!have.id) {
                r = read_hex_at(dfd, "vendor", &v);
                if (r < 0)
                        return r == -ENOENT ? -ENODEV : r;
                d->vendor_id = (uint16_t) v;
                r = read_hex_at(dfd, "device", &v);
                if (r < 0)
                        return r == -ENOENT ? -ENODEV : r;
                d->device_id = (uint16_t) v;
        }
        if (!have.subsys) {
                if (read_hex_at(dfd, "subsystem_vendor", &v) >= 0)
                        d->subsystem_vendor_id = (uint16_t) v;
                if (read_hex_at(dfd, "subsystem_device", &v) >= 0)
                        d->subsystem_device_id = (uint16_t) v;
        }
        if (!have.class_code && read_hex_at(dfd, "class", &v) >= 0)
                d->class_code = v & 0xffffff;

        n = read_at(dfd, "config", config, sizeof config);
        if (n >= 64 && pci_config_parse(config, (size_t) n, &d->config) >= 0)
                d->config_valid = true;
        /* The kernel's `revision` is the config space byte it read at
         * enumeration (and old kernels lack the attribute) */
        if (d->config_valid)
                d->revision = d->config.revision;
        else if (read_hex_at(dfd, "revision", &v) >= 0)
                d->revision = (uint8_t) v;

        n = read_at(dfd, "resource", buf, sizeof buf - 1);
        if (n >= 0 && pci_resources_parse(buf, (size_t) n, &d->resources) >= 0)
                d->resources_valid = true;

        if (readlink_base_at(dfd, "driver", link, sizeof link) >= 0) {
                d->driver = strdup(link);
                if (!d->driver)
                        return -ENOMEM;
        }
        n = read_line_at(dfd, "driver_override", buf, sizeof buf);
        if (n > 0 && !streq(buf, "(null)")) {
                d->driver_override = strdup(buf);
                if (!d->driver_override)
                        return -ENOMEM;
        }
        if (readlink_base_at(dfd, "iommu_group", link, sizeof link) >= 0) {
                char *end;
                long g;

                errno = 0;
                g = strtol(link, &end, 10);
                if (!errno && !*end && g >= 0 && g <= INT32_MAX)
                        d->iommu_group = (int) g;
        }
        if (read_int_at(dfd, "numa_node", &i) >= 0)
                d->numa_node = i < 0 ? -1 : i;

        n = read_line_at(dfd, "reset_method", buf, sizeof buf);
        r = split_words(n > 0 ? buf : "", &d->reset_methods);
        if (r < 0)
                return r;
        /* The kernel shows `reset_method` and `reset` under the same
         * condition (a reset method was found); old kernels only `reset`. */
        d->has_reset = d->reset_methods[0] ||
                faccessat(dfd, "reset", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;

        /* only VGA-compatible functions have it (pci_dev_attrs_are_visible) */
        if (((d->class_code >> 8) == 0x0300 || (d->class_code >> 8) == 0x0001) &&
            read_int_at(dfd, "boot_vga", &i) >= 0)
                d->boot_vga = i == 1;

        /* SR-IOV: a VF has a type 0 header and a PCI Express capability; a
         * PF has the SR-IOV extended capability (pci_iov_init()).  Where
         * config space says otherwise the links and attributes can't be. */
        if (!(d->config_valid && (d->config.bridge || (d->config.caps_known && !d->config.pcie))) &&
            readlink_base_at(dfd, "physfn", link, sizeof link) >= 0 &&
            pci_address_parse(link, &d->physfn) >= 0)
                d->is_vf = true;
        if (!(d->config_valid && ((d->config.caps_known && !d->config.pcie) ||
                                  (d->config.ext_caps_known && !d->config.sriov))) &&
            read_int_at(dfd, "sriov_totalvfs", &i) >= 0) {
                d->sriov_totalvfs = i;
                if (read_int_at(dfd, "sriov_numvfs", &i) >= 0)
                        d->sriov_numvfs = i;
                d->sriov_autoprobe = read_int_at(dfd, "sriov_drivers_autoprobe", &i) >= 0 ? i != 0 : true;
                r = read_virtfns(dfd, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

int pci_device_read_at(int dirfd, const char *path, const char *parent, PciNameCache *names, PciDevice **ret) {
        _cleanup_pci_device_ PciDevice *d = NULL;
        _cleanup_close_ int dfd = -1;
        const char *base = strrchr(path, '/');
        size_t parent_len = 0;
        int r;

        if (parent)
                parent_len = strlen(parent);
        else if (base) {
                /* "/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0" */
                parent = base;
                while (parent > path && parent[-1] != '/')
                        parent--;
                parent_len = (size_t) (base - parent);
        }
        base = base ? base + 1 : path;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        r = pci_address_parse(base, &d->address);
        if (r < 0)
                return r;
        pci_address_format(&d->address, d->name);
        d->iommu_group = -1;
        d->numa_node = -1;
        d->sriov_totalvfs = d->sriov_numvfs = -1;

        /* The parent directory is the upstream bridge when its name is a
         * PCI address; "pciDDDD:BB" means a root bus. */
        if (parent && pci_address_parse_n(parent, parent_len, &d->parent) >= 0)
                d->has_parent = true;

        dfd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? -ENODEV : negative_errno();

        r = read_attributes(dfd, d);
        if (r < 0)
                return r;
        if (names) {
                r = pci_name_cache_apply(names, d);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

int pci_device_read(const char *syspath, struct udev_device *udev_dev,
                    struct udev_hwdb *hwdb, PciDevice **ret) {
        _cleanup_pci_device_ PciDevice *d = NULL;
        int r;

        r = pci_device_read_at(AT_FDCWD, syspath, NULL, NULL, &d);
        if (r < 0)
                return r;

        /* Names: the udev database first (what udevd stored), then the
         * hwdb directly (no udevd ran, e.g. in a container). */
        if (udev_dev && !d->vendor_name) {
                r = dup_or_null(udev_device_get_property_value(udev_dev, "ID_VENDOR_FROM_DATABASE"), &d->vendor_name);
                if (r < 0)
                        return r;
        }
        if (udev_dev && !d->device_name) {
                r = dup_or_null(udev_device_get_property_value(udev_dev, "ID_MODEL_FROM_DATABASE"), &d->device_name);
                if (r < 0)
                        return r;
        }
        if ((!d->vendor_name || !d->device_name) && hwdb) {
                _cleanup_free_ char *hv = NULL, *hm = NULL;
                char modalias[PCI_MODALIAS_MAX];

                pci_device_modalias(d, modalias);
                if (pci_hwdb_lookup(hwdb, modalias, &hv, &hm) >= 0) {
                        if (!d->vendor_name)
                                d->vendor_name = TAKE_PTR(hv);
                        if (!d->device_name)
                                d->device_name = TAKE_PTR(hm);
                }
        }

        *ret = TAKE_PTR(d);
        return 0;
}

int pci_device_new_missing(const PciAddress *a, uint16_t vendor_id, uint16_t device_id, PciDevice **ret) {
        PciDevice *d = calloc(1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        d->address = *a;
        pci_address_format(a, d->name);
        d->vendor_id = vendor_id;
        d->device_id = device_id;
        d->iommu_group = -1;
        d->numa_node = -1;
        d->sriov_totalvfs = d->sriov_numvfs = -1;
        d->missing = true;
        d->reset_methods = calloc(1, sizeof(char *));
        if (!d->reset_methods) {
                free(d);
                return -ENOMEM;
        }
        *ret = d;
        return 0;
}

bool pci_device_is_bridge(const PciDevice *d) {
        if (d->config_valid)
                return d->config.bridge;
        /* class 06.04 PCI-PCI, 06.07 CardBus */
        return (d->class_code >> 8) == 0x0604 || (d->class_code >> 8) == 0x0607;
}

bool pci_device_is_multifunction(const PciDevice *d) {
        return d->config_valid && d->config.multifunction;
}
