/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pci-address.h"
#include "pci-config.h"
#include "pci-resource.h"

struct udev_device;
struct udev_hwdb;

/* One PCI function as read from sysfs and the udev database.  Plain data:
 * reading it is the only I/O, and it is all done in pci_device_read(). */
typedef struct PciDevice {
        PciAddress address;
        char name[PCI_ADDRESS_STRLEN];      /* canonical address string */
        char *syspath;

        uint16_t vendor_id, device_id;
        uint16_t subsystem_vendor_id, subsystem_device_id;
        uint32_t class_code;                /* 24 bits */
        uint8_t revision;

        char *vendor_name, *device_name;    /* hwdb; NULL if unknown */
        char *modalias;

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

/* Reads a function from its sysfs directory.  `udev_dev` (optional) gives
 * hwdb names from the udev database; `hwdb` (optional) is asked when the
 * database has none.  Errors: -ENODEV if the directory vanished,
 * -EINVAL if it is not a PCI function (its name is not an address). */
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

/* Looks up a modalias ("pci:v...") in the hwdb; returns the two names
 * through ret_vendor/ret_model (malloc'd, NULL if absent). */
int pci_hwdb_lookup(struct udev_hwdb *hwdb, const char *modalias, char **ret_vendor, char **ret_model);
