/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pci-address.h"
#include "pci-config.h"
#include "pci-resource.h"

struct udev_device;
struct udev_hwdb;

/* One PCI function as read from sysfs and the udev hardware database.
 * Plain data: reading it is the only I/O, and it is all done in
 * pci_device_read_at() (or pci_device_read()). */
typedef struct PciDevice {
        PciAddress address;
        char name[PCI_ADDRESS_STRLEN];      /* canonical address string */

        uint16_t vendor_id, device_id;
        uint16_t subsystem_vendor_id, subsystem_device_id;
        uint32_t class_code;                /* 24 bits */
        uint8_t revision;

        char *vendor_name, *device_name;    /* hwdb; NULL if unknown */

        char *driver;                       /* NULL if unbound */
        char *driver_override;              /* NULL if unset ("(null)") */
        int iommu_group;                    /* -1: none */
        int numa_node;                      /* -1: none/unknown */
        char **reset_methods;               /* NULL-terminated, may be empty */
        bool has_reset;                     /* the `reset` attribute exists */
        bool boot_vga;

        bool has_parent;                    /* upstream bridge is a PCI function */
        PciAddress parent;

        bool is_vf;
        PciAddress physfn;
        PciAddress *virtfns;                /* sorted by VF index */
        size_t n_virtfns;
        int sriov_totalvfs, sriov_numvfs;   /* -1 if not SR-IOV capable */
        bool sriov_autoprobe;

        PciResources resources;
        bool resources_valid;

        bool config_valid;
        PciConfigInfo config;

        /* A placeholder for a reserved function that is not present: only
         * the address and the identity recorded with the reservation. */
        bool missing;
} PciDevice;

PciDevice *pci_device_free(PciDevice *d);
static inline void pci_device_freep(PciDevice **d) {
        pci_device_free(*d);
}
#define _cleanup_pci_device_ __attribute__((cleanup(pci_device_freep)))

/* The vendor and model names of the udev hardware database, looked up once
 * per kind of function (vendor, device, subsystem and class IDs): a big
 * host has thousands of functions but a few dozen kinds, and one hwdb
 * lookup costs as much as reading a function's attributes.  These are
 * the names udev stores as ID_VENDOR_FROM_DATABASE/ID_MODEL_FROM_DATABASE:
 * its hwdb builtin looks up the same modalias in the same database. */
typedef struct PciNameCache PciNameCache;

/* `hwdb` may be NULL (no names); the cache takes a reference. */
PciNameCache *pci_name_cache_new(struct udev_hwdb *hwdb);
PciNameCache *pci_name_cache_free(PciNameCache *c);
static inline void pci_name_cache_freep(PciNameCache **c) {
        pci_name_cache_free(*c);
}

/* The names of d's kind into d->vendor_name/d->device_name where those are
 * still NULL (copies; NULL when unknown).  Returns 0 or -ENOMEM. */
int pci_name_cache_apply(PciNameCache *c, PciDevice *d);

/* Reads a function from its sysfs directory `path`, relative to `dirfd`
 * (or absolute).  `parent` is the name of the directory above it: the
 * upstream bridge's address, or "pciDDDD:BB" for a root bus; NULL takes
 * it from `path`.  Names come from `names` (NULL: none).  Errors: -ENODEV
 * if the directory vanished, -EINVAL if it is not a PCI function (its
 * name is not an address). */
int pci_device_read_at(int dirfd, const char *path, const char *parent, PciNameCache *names, PciDevice **ret);

/* The same for an absolute sysfs path.  `udev_dev` (optional) gives the
 * names stored in the udev database; `hwdb` (optional) is asked when the
 * database has none. */
int pci_device_read(const char *syspath, struct udev_device *udev_dev,
                    struct udev_hwdb *hwdb, PciDevice **ret);

/* A placeholder for an absent function (missing = true). */
int pci_device_new_missing(const PciAddress *a, uint16_t vendor_id, uint16_t device_id, PciDevice **ret);

/* Class helpers */
static inline bool pci_device_is_host_bridge(const PciDevice *d) {
        return (d->class_code >> 8) == 0x0600;
}
/* PCI-PCI bridge, CardBus bridge, or a PCIe port: anything with a
 * secondary bus.  From the header type when config was readable, else
 * from the class code. */
bool pci_device_is_bridge(const PciDevice *d);
bool pci_device_is_multifunction(const PciDevice *d);

/* The kernel's modalias of the function ("pci:v00008086d000010D3sv...",
 * what its `modalias` attribute says), from the IDs. */
#define PCI_MODALIAS_MAX sizeof("pci:v00000000d00000000sv00000000sd00000000bc00sc00i00")
void pci_device_modalias(const PciDevice *d, char buf[static PCI_MODALIAS_MAX]);

/* Looks up a modalias ("pci:v...") in the hwdb; returns the two names
 * through ret_vendor/ret_model (malloc'd, NULL if absent). */
int pci_hwdb_lookup(struct udev_hwdb *hwdb, const char *modalias, char **ret_vendor, char **ret_model);
