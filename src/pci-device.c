/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "pci-device.h"

PciDevice *pci_device_free(PciDevice *d) {
        if (!d)
                return NULL;
        free(d->syspath);
        free(d->vendor_name);
        free(d->device_name);
        free(d->modalias);
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
                if (n == alloc) {
                        struct vf *nv = realloc(owned, (alloc ? alloc * 2 : 8) * sizeof(*nv));
                        if (!nv) {
                                closedir(dir);
                                return -ENOMEM;
                        }
                        owned = nv;
                        alloc = alloc ? alloc * 2 : 8;
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

int pci_device_read(const char *syspath, struct udev_device *udev_dev,
                    struct udev_hwdb *hwdb, PciDevice **ret) {
        _cleanup_pci_device_ PciDevice *d = NULL;
        _cleanup_close_ int dfd = -1;
        const char *base, *parent_end;
        char buf[4096], link[256];
        uint8_t config[4096];
        uint32_t v;
        ssize_t n;
        int r, i;

        base = strrchr(syspath, '/');
        base = base ? base + 1 : syspath;

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
        d->syspath = strdup(syspath);
        if (!d->syspath)
                return -ENOMEM;

        dfd = open(syspath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? -ENODEV : negative_errno();

        /* The identity attributes must be there: without them this is not
         * a PCI function we can reason about. */
        r = read_hex_at(dfd, "vendor", &v);
        if (r < 0)
                return r == -ENOENT ? -ENODEV : r;
        d->vendor_id = (uint16_t) v;
        r = read_hex_at(dfd, "device", &v);
        if (r < 0)
                return r == -ENOENT ? -ENODEV : r;
        d->device_id = (uint16_t) v;
        if (read_hex_at(dfd, "subsystem_vendor", &v) >= 0)
                d->subsystem_vendor_id = (uint16_t) v;
        if (read_hex_at(dfd, "subsystem_device", &v) >= 0)
                d->subsystem_device_id = (uint16_t) v;
        if (read_hex_at(dfd, "class", &v) >= 0)
                d->class_code = v & 0xffffff;
        if (read_hex_at(dfd, "revision", &v) >= 0)
                d->revision = (uint8_t) v;

        n = read_at(dfd, "config", config, sizeof config);
        if (n >= 64 && pci_config_parse(config, (size_t) n, &d->config) >= 0) {
                d->config_valid = true;
                /* the kernel's revision attribute is newer than old
                 * kernels; fall back to config space */
                if (d->revision == 0)
                        d->revision = d->config.revision;
        }

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
        d->has_reset = faccessat(dfd, "reset", F_OK, AT_SYMLINK_NOFOLLOW) >= 0;

        if (read_int_at(dfd, "boot_vga", &i) >= 0)
                d->boot_vga = i == 1;

        /* SR-IOV */
        if (readlink_base_at(dfd, "physfn", link, sizeof link) >= 0 &&
            pci_address_parse(link, &d->physfn) >= 0)
                d->is_vf = true;
        if (read_int_at(dfd, "sriov_totalvfs", &i) >= 0) {
                d->sriov_totalvfs = i;
                if (read_int_at(dfd, "sriov_numvfs", &i) >= 0)
                        d->sriov_numvfs = i;
                d->sriov_autoprobe = read_int_at(dfd, "sriov_drivers_autoprobe", &i) >= 0 ? i != 0 : true;
                r = read_virtfns(dfd, d);
                if (r < 0)
                        return r;
        }

        /* The parent directory is the upstream bridge when its name is a
         * PCI address; "pciDDDD:BB" means a root bus. */
        parent_end = base > syspath ? base - 1 : syspath;
        if (parent_end > syspath) {
                const char *pstart = parent_end;
                while (pstart > syspath && pstart[-1] != '/')
                        pstart--;
                if (pci_address_parse_n(pstart, (size_t) (parent_end - pstart), &d->parent) >= 0)
                        d->has_parent = true;
        }

        /* Names: the udev database first (what udevd stored), then the
         * hwdb directly (no udevd ran, e.g. in a container). */
        if (udev_dev) {
                r = dup_or_null(udev_device_get_property_value(udev_dev, "ID_VENDOR_FROM_DATABASE"), &d->vendor_name);
                if (r < 0)
                        return r;
                r = dup_or_null(udev_device_get_property_value(udev_dev, "ID_MODEL_FROM_DATABASE"), &d->device_name);
                if (r < 0)
                        return r;
                r = dup_or_null(udev_device_get_property_value(udev_dev, "MODALIAS"), &d->modalias);
                if (r < 0)
                        return r;
        }
        if (!d->modalias) {
                n = read_line_at(dfd, "modalias", buf, sizeof buf);
                if (n > 0) {
                        d->modalias = strdup(buf);
                        if (!d->modalias)
                                return -ENOMEM;
                }
        }
        if ((!d->vendor_name || !d->device_name) && hwdb && d->modalias) {
                _cleanup_free_ char *hv = NULL, *hm = NULL;

                if (pci_hwdb_lookup(hwdb, d->modalias, &hv, &hm) >= 0) {
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
