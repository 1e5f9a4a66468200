/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pure parser of PCI configuration space bytes as read from sysfs `config`.
 * No I/O, no allocation.  A root reader sees 256 or 4096 bytes, an
 * unprivileged one only 64: every field that lies beyond the bytes given is
 * reported as unknown (the *_known flags), never guessed.  Capability lists
 * are walked with the kernel's bounds on the number of hops (48 standard,
 * 480 extended), so a looping or malformed list terminates; the first
 * instance of each capability counts, as with pci_find_capability(). */

typedef enum PciExpressType {
        PCIE_TYPE_NONE = -1,           /* no PCI Express capability (or unknown) */
        PCIE_TYPE_ENDPOINT = 0x0,
        PCIE_TYPE_LEGACY_ENDPOINT = 0x1,
        PCIE_TYPE_ROOT_PORT = 0x4,
        PCIE_TYPE_UPSTREAM_PORT = 0x5,
        PCIE_TYPE_DOWNSTREAM_PORT = 0x6,
        PCIE_TYPE_PCIE_TO_PCI_BRIDGE = 0x7,
        PCIE_TYPE_PCI_TO_PCIE_BRIDGE = 0x8,
        PCIE_TYPE_RC_INTEGRATED_ENDPOINT = 0x9,
        PCIE_TYPE_RC_EVENT_COLLECTOR = 0xa,
} PciExpressType;

typedef struct PciConfigInfo {
        size_t size;                   /* bytes parsed */

        /* As in config space: an SR-IOV VF reads 0xffff for both (the
         * kernel's sysfs `vendor`/`device` attributes have the real IDs). */
        uint16_t vendor_id, device_id;
        uint8_t revision;
        uint32_t class_code;           /* 24 bits: base, sub, prog-if */
        uint8_t header_type;           /* low 7 bits of 0x0e */
        bool multifunction;            /* bit 7 of 0x0e */
        bool bridge;                   /* header type 1 (PCI-PCI) or 2 (CardBus) */

        /* bridges only (type 1; CardBus keeps them at the same offsets) */
        uint8_t primary_bus, secondary_bus, subordinate_bus;

        /* True when the whole standard list was seen: the status register
         * says there is none (known even from 64 bytes), or the walk ended
         * (normally, or at a malformed entry) without needing bytes beyond
         * `size`.  False for a truncated read or an unknown header layout;
         * the capabilities met before the truncation are still reported. */
        bool caps_known;
        bool pcie;                     /* PCI Express capability (0x10) present */
        PciExpressType pcie_type;
        bool flr;                      /* PCIe DEVCAP bit 28 */
        bool af_flr;                   /* AF cap (0x13): TP and FLR bits both set */
        bool pm;                       /* PM cap (0x01) present */
        bool pm_no_soft_reset;         /* PMCSR bit 3 */
        bool msix;                     /* MSI-X cap (0x11) present */
        uint16_t msix_table_size;      /* number of entries (N-1 field + 1) */
        uint8_t msix_table_bir;
        uint32_t msix_table_offset;
        uint8_t msix_pba_bir;
        uint32_t msix_pba_offset;
        bool msi;                      /* MSI cap (0x05) present */

        /* config >= 4096 bytes, a PCIe device, and 0x100 not all ones */
        bool ext_caps_known;
        bool acs;                      /* ACS ext cap (0x0d) */
        uint16_t acs_cap, acs_ctrl;
        bool sriov;                    /* SR-IOV ext cap (0x10) */
        uint16_t sriov_total_vfs, sriov_num_vfs;
        bool dsn;                      /* Device Serial Number ext cap (0x03) */
        uint64_t dsn_value;
} PciConfigInfo;

/* Parses `n` bytes (bytes past 4096 are ignored).  Returns 0 on success,
 * -EINVAL if data is NULL, n < 64 or the header is unusable: vendor 0xffff
 * together with an all-ones class/revision dword or header type 0xff, i.e.
 * nothing answered.  Vendor 0xffff alone is accepted, because that is what
 * every SR-IOV VF reads.  Malformed capability lists are not an error: the
 * walk stops and the caps found so far are reported.  `ret` may be NULL to
 * only validate. */
int pci_config_parse(const uint8_t *data, size_t n, PciConfigInfo *ret);

/* "endpoint", "root-port", ..., "unknown" for a reserved type value, or ""
 * for PCIE_TYPE_NONE. */
const char *pci_express_type_to_string(PciExpressType t);
