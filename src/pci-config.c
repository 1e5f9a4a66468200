/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "macro.h"
#include "pci-config.h"

/* Offsets and bits from the PCI Local Bus and PCI Express Base
 * specifications, named as in the kernel's include/uapi/linux/pci_regs.h. */
#define PCI_VENDOR_ID                   0x00
#define PCI_DEVICE_ID                   0x02
#define PCI_STATUS                      0x06
#define  PCI_STATUS_CAP_LIST            0x10
#define PCI_CLASS_REVISION              0x08
#define PCI_HEADER_TYPE                 0x0e
#define  PCI_HEADER_TYPE_MASK           0x7f
#define  PCI_HEADER_TYPE_MFD            0x80
#define  PCI_HEADER_TYPE_NORMAL         0
#define  PCI_HEADER_TYPE_BRIDGE         1
#define  PCI_HEADER_TYPE_CARDBUS        2
#define PCI_CB_CAPABILITY_LIST          0x14
#define PCI_PRIMARY_BUS                 0x18
#define PCI_SECONDARY_BUS               0x19
#define PCI_SUBORDINATE_BUS             0x1a
#define PCI_CAPABILITY_LIST             0x34

#define PCI_STD_HEADER_SIZEOF           0x40
#define PCI_CFG_SPACE_SIZE              0x100
#define PCI_CFG_SPACE_EXP_SIZE          0x1000

#define PCI_CAP_ID_PM                   0x01
#define  PCI_PM_CTRL                    4
#define  PCI_PM_CTRL_NO_SOFT_RESET      0x0008
#define  PCI_PM_SIZEOF                  6       /* through PMCSR */
#define PCI_CAP_ID_MSI                  0x05
#define PCI_CAP_ID_EXP                  0x10
#define  PCI_EXP_FLAGS                  2
#define  PCI_EXP_FLAGS_TYPE             0x00f0
#define  PCI_EXP_DEVCAP                 4
#define  PCI_EXP_DEVCAP_FLR             0x10000000
#define  PCI_EXP_SIZEOF                 8       /* through DEVCAP */
#define PCI_CAP_ID_MSIX                 0x11
#define  PCI_MSIX_FLAGS                 2
#define  PCI_MSIX_FLAGS_QSIZE           0x07ff
#define  PCI_MSIX_TABLE                 4
#define  PCI_MSIX_PBA                   8
#define  PCI_MSIX_BIR                   0x00000007
#define  PCI_MSIX_SIZEOF                12
#define PCI_CAP_ID_AF                   0x13
#define  PCI_AF_CAP                     3
#define  PCI_AF_CAP_TP                  0x01
#define  PCI_AF_CAP_FLR                 0x02
#define  PCI_AF_SIZEOF                  4       /* through AF capabilities */

#define PCI_EXT_CAP_ID_DSN              0x03
#define  PCI_DSN_SIZEOF                 12
#define PCI_EXT_CAP_ID_ACS              0x0d
#define  PCI_ACS_CAP                    4
#define  PCI_ACS_CTRL                   6
#define  PCI_ACS_SIZEOF                 8
#define PCI_EXT_CAP_ID_SRIOV            0x10
#define  PCI_SRIOV_TOTAL_VF             0x0e
#define  PCI_SRIOV_NUM_VF               0x10
#define  PCI_SRIOV_SIZEOF               0x12    /* through NumVFs */

/* The kernel's bounds (__pci_find_next_cap_ttl(), pci_find_next_ext_capability()):
 * as many entries as fit in the space at their minimum size, so any list
 * longer than that is a loop. */
#define PCI_FIND_CAP_TTL                48
#define PCI_FIND_EXT_CAP_TTL            ((PCI_CFG_SPACE_EXP_SIZE - PCI_CFG_SPACE_SIZE) / 8)

/* Config space is little-endian; read byte-wise so that neither alignment
 * nor host byte order matters.  Callers have checked the bounds. */
static uint16_t get16(const uint8_t *d, size_t off) {
        return (uint16_t) (d[off] | (d[off + 1] << 8));
}

static uint32_t get32(const uint8_t *d, size_t off) {
        return (uint32_t) d[off] |
               (uint32_t) d[off + 1] << 8 |
               (uint32_t) d[off + 2] << 16 |
               (uint32_t) d[off + 3] << 24;
}

/* Whether `len` bytes at `pos` lie within a capability's space (`space`:
 * 256 for standard capabilities, 4096 for extended ones) and within the
 * bytes we have.  -EBADMSG: the entry runs out of its space, the list is
 * malformed.  -ENODATA: it is fine but beyond what the caller could read. */
static int cap_fits(size_t n, size_t space, size_t pos, size_t len) {
        if (pos + len > space)
                return -EBADMSG;
        if (pos + len > n)
                return -ENODATA;
        return 0;
}

enum {
        SEEN_PM   = 1 << 0,
        SEEN_EXP  = 1 << 1,
        SEEN_MSIX = 1 << 2,
        SEEN_AF   = 1 << 3,
};

/* Records one standard capability.  Only the first instance of each ID
 * counts, as with the kernel's pci_find_capability(), so a looping list
 * cannot override what was found on the first pass. */
static int parse_cap(const uint8_t *d, size_t n, size_t pos, uint8_t id, unsigned *seen, PciConfigInfo *info) {
        int r;

        switch (id) {
        case PCI_CAP_ID_PM:
                if (*seen & SEEN_PM)
                        return 0;
                r = cap_fits(n, PCI_CFG_SPACE_SIZE, pos, PCI_PM_SIZEOF);
                if (r < 0)
                        return r;
                *seen |= SEEN_PM;
                info->pm = true;
                info->pm_no_soft_reset = get16(d, pos + PCI_PM_CTRL) & PCI_PM_CTRL_NO_SOFT_RESET;
                return 0;

        case PCI_CAP_ID_MSI:
                /* Presence only: the caller checked the header fits. */
                info->msi = true;
                return 0;

        case PCI_CAP_ID_EXP:
                if (*seen & SEEN_EXP)
                        return 0;
                r = cap_fits(n, PCI_CFG_SPACE_SIZE, pos, PCI_EXP_SIZEOF);
                if (r < 0)
                        return r;
                *seen |= SEEN_EXP;
                info->pcie = true;
                info->pcie_type = (PciExpressType) ((get16(d, pos + PCI_EXP_FLAGS) & PCI_EXP_FLAGS_TYPE) >> 4);
                info->flr = get32(d, pos + PCI_EXP_DEVCAP) & PCI_EXP_DEVCAP_FLR;
                return 0;

        case PCI_CAP_ID_MSIX: {
                uint32_t table, pba;

                if (*seen & SEEN_MSIX)
                        return 0;
                r = cap_fits(n, PCI_CFG_SPACE_SIZE, pos, PCI_MSIX_SIZEOF);
                if (r < 0)
                        return r;
                *seen |= SEEN_MSIX;
                table = get32(d, pos + PCI_MSIX_TABLE);
                pba = get32(d, pos + PCI_MSIX_PBA);
                info->msix = true;
                info->msix_table_size = (uint16_t) ((get16(d, pos + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_QSIZE) + 1);
                info->msix_table_bir = (uint8_t) (table & PCI_MSIX_BIR);
                info->msix_table_offset = table & ~(uint32_t) PCI_MSIX_BIR;
                info->msix_pba_bir = (uint8_t) (pba & PCI_MSIX_BIR);
                info->msix_pba_offset = pba & ~(uint32_t) PCI_MSIX_BIR;
                return 0;
        }

        case PCI_CAP_ID_AF: {
                uint8_t cap;

                if (*seen & SEEN_AF)
                        return 0;
                r = cap_fits(n, PCI_CFG_SPACE_SIZE, pos, PCI_AF_SIZEOF);
                if (r < 0)
                        return r;
                *seen |= SEEN_AF;
                /* As pci_af_flr(): without Transactions Pending the reset
                 * can't be sequenced safely, so both bits are required. */
                cap = d[pos + PCI_AF_CAP];
                info->af_flr = (cap & PCI_AF_CAP_TP) && (cap & PCI_AF_CAP_FLR);
                return 0;
        }

        default:
                return 0;
        }
}

static void parse_caps(const uint8_t *d, size_t n, PciConfigInfo *info) {
        unsigned seen = 0;
        size_t start;
        uint8_t pos;

        switch (info->header_type) {
        case PCI_HEADER_TYPE_NORMAL:
        case PCI_HEADER_TYPE_BRIDGE:
                start = PCI_CAPABILITY_LIST;
                break;
        case PCI_HEADER_TYPE_CARDBUS:
                start = PCI_CB_CAPABILITY_LIST;
                break;
        default:
                /* An unknown layout: we can't tell where the list starts. */
                return;
        }

        /* No list at all is a fact read from the header, not a guess. */
        if (!(get16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
                info->caps_known = true;
                return;
        }

        pos = d[start];
        for (unsigned ttl = PCI_FIND_CAP_TTL; ttl > 0; ttl--) {
                uint8_t id;
                int r;

                /* The low two bits are reserved, the kernel masks them too. */
                pos &= (uint8_t) ~3u;
                if (pos < PCI_STD_HEADER_SIZEOF)
                        break;
                if (pos + 2u > n)
                        return; /* beyond what the reader could see */

                id = d[pos];
                if (id == 0xff)
                        break;

                r = parse_cap(d, n, pos, id, &seen, info);
                if (r == -ENODATA)
                        return;
                if (r < 0)
                        break;

                pos = d[pos + 1];
        }

        info->caps_known = true;
}

static void parse_ext_cap(const uint8_t *d, size_t n, size_t pos, uint16_t id, PciConfigInfo *info) {
        switch (id) {
        case PCI_EXT_CAP_ID_ACS:
                if (info->acs || cap_fits(n, PCI_CFG_SPACE_EXP_SIZE, pos, PCI_ACS_SIZEOF) < 0)
                        return;
                info->acs = true;
                info->acs_cap = get16(d, pos + PCI_ACS_CAP);
                info->acs_ctrl = get16(d, pos + PCI_ACS_CTRL);
                return;

        case PCI_EXT_CAP_ID_SRIOV:
                if (info->sriov || cap_fits(n, PCI_CFG_SPACE_EXP_SIZE, pos, PCI_SRIOV_SIZEOF) < 0)
                        return;
                info->sriov = true;
                info->sriov_total_vfs = get16(d, pos + PCI_SRIOV_TOTAL_VF);
                info->sriov_num_vfs = get16(d, pos + PCI_SRIOV_NUM_VF);
                return;

        case PCI_EXT_CAP_ID_DSN:
                if (info->dsn || cap_fits(n, PCI_CFG_SPACE_EXP_SIZE, pos, PCI_DSN_SIZEOF) < 0)
                        return;
                info->dsn = true;
                info->dsn_value = (uint64_t) get32(d, pos + 4) | (uint64_t) get32(d, pos + 8) << 32;
                return;

        default:
                return;
        }
}

static void parse_ext_caps(const uint8_t *d, size_t n, PciConfigInfo *info) {
        size_t pos = PCI_CFG_SPACE_SIZE;

        /* Extended space is PCIe's (PCI-X 2.0 had one too, not of
         * interest here), and only root gets to read it. */
        if (n < PCI_CFG_SPACE_EXP_SIZE || !info->pcie)
                return;

        /* All ones at 0x100 means nothing answered there
         * (pci_cfg_space_size_ext() treats it so): unknown, not empty. */
        if (get32(d, pos) == UINT32_MAX)
                return;

        info->ext_caps_known = true;

        for (unsigned ttl = PCI_FIND_EXT_CAP_TTL; ttl > 0; ttl--) {
                uint32_t header = get32(d, pos);

                if (header == 0 || header == UINT32_MAX)
                        break;

                /* A capability that would run past 4096 is skipped, but its
                 * header is sound, so the walk goes on. */
                parse_ext_cap(d, n, pos, (uint16_t) (header & 0xffff), info);

                /* Next pointer is bits 31:20, low two bits reserved; it is
                 * at most 0xffc, so the next header always fits. */
                pos = (header >> 20) & 0xffc;
                if (pos < PCI_CFG_SPACE_SIZE)
                        break;
        }
}

int pci_config_parse(const uint8_t *data, size_t n, PciConfigInfo *ret) {
        PciConfigInfo info;
        uint8_t ht;

        if (!data || n < PCI_STD_HEADER_SIZEOF)
                return -EINVAL;
        /* Anything past 4096 is not config space. */
        if (n > PCI_CFG_SPACE_EXP_SIZE)
                n = PCI_CFG_SPACE_EXP_SIZE;

        /* A missing or inaccessible function reads all ones.  The vendor ID
         * alone doesn't tell: an SR-IOV VF reads 0xffff there as the spec
         * requires (Linux doesn't emulate it in sysfs, only vfio-pci does),
         * but has a real class code and header type. */
        if (get16(data, PCI_VENDOR_ID) == 0xffff &&
            (get32(data, PCI_CLASS_REVISION) == UINT32_MAX || data[PCI_HEADER_TYPE] == 0xff))
                return -EINVAL;

        ht = data[PCI_HEADER_TYPE];
        info = (PciConfigInfo) {
                .size = n,
                .vendor_id = get16(data, PCI_VENDOR_ID),
                .device_id = get16(data, PCI_DEVICE_ID),
                .revision = data[PCI_CLASS_REVISION],
                .class_code = get32(data, PCI_CLASS_REVISION) >> 8,
                .header_type = ht & PCI_HEADER_TYPE_MASK,
                .multifunction = ht & PCI_HEADER_TYPE_MFD,
                .pcie_type = PCIE_TYPE_NONE,
        };
        info.bridge = info.header_type == PCI_HEADER_TYPE_BRIDGE ||
                      info.header_type == PCI_HEADER_TYPE_CARDBUS;

        if (info.bridge) {
                /* CardBus bridges keep their bus numbers at the same offsets. */
                info.primary_bus = data[PCI_PRIMARY_BUS];
                info.secondary_bus = data[PCI_SECONDARY_BUS];
                info.subordinate_bus = data[PCI_SUBORDINATE_BUS];
        }

        parse_caps(data, n, &info);
        parse_ext_caps(data, n, &info);

        if (ret)
                *ret = info;
        return 0;
}

const char *pci_express_type_to_string(PciExpressType t) {
        switch (t) {
        case PCIE_TYPE_NONE:
                return "";
        case PCIE_TYPE_ENDPOINT:
                return "endpoint";
        case PCIE_TYPE_LEGACY_ENDPOINT:
                return "legacy-endpoint";
        case PCIE_TYPE_ROOT_PORT:
                return "root-port";
        case PCIE_TYPE_UPSTREAM_PORT:
                return "upstream-port";
        case PCIE_TYPE_DOWNSTREAM_PORT:
                return "downstream-port";
        case PCIE_TYPE_PCIE_TO_PCI_BRIDGE:
                return "pcie-to-pci-bridge";
        case PCIE_TYPE_PCI_TO_PCIE_BRIDGE:
                return "pci-to-pcie-bridge";
        case PCIE_TYPE_RC_INTEGRATED_ENDPOINT:
                return "rc-integrated-endpoint";
        case PCIE_TYPE_RC_EVENT_COLLECTOR:
                return "rc-event-collector";
        }
        return "unknown";
}
