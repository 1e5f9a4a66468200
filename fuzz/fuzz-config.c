/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci_config_parse() against src/pci-config.h:
 *  - the verdict is the documented one (n >= 64, and not vendor 0xffff
 *    together with an all-ones class/revision dword or header type 0xff);
 *    ret may be NULL;
 *  - the header fields are the bytes at their offsets;
 *  - flags are consistent (a field of an absent capability is zero, the
 *    extended ones need 4096 bytes of a PCIe function, ...);
 *  - bytes past 4096 are ignored;
 *  - nothing is guessed beyond the bytes given: parsing a prefix (what an
 *    unprivileged reader sees, or a 256-byte read) reports only what the
 *    full parse reports, and when it says the capability list is known,
 *    the full parse finds exactly the same capabilities. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "pci-config.h"

static uint16_t le16(const uint8_t *d, size_t off) {
        return (uint16_t) (d[off] | d[off + 1] << 8);
}

static uint32_t le32(const uint8_t *d, size_t off) {
        return (uint32_t) le16(d, off) | (uint32_t) le16(d, off + 2) << 16;
}

static bool same_header(const PciConfigInfo *a, const PciConfigInfo *b) {
        return a->vendor_id == b->vendor_id && a->device_id == b->device_id &&
               a->revision == b->revision && a->class_code == b->class_code &&
               a->header_type == b->header_type && a->multifunction == b->multifunction &&
               a->bridge == b->bridge && a->primary_bus == b->primary_bus &&
               a->secondary_bus == b->secondary_bus && a->subordinate_bus == b->subordinate_bus;
}

/* The fields of each standard capability, compared only where `a` has it. */
static bool caps_within(const PciConfigInfo *a, const PciConfigInfo *b) {
        if (a->pcie && !(b->pcie && a->pcie_type == b->pcie_type && a->flr == b->flr))
                return false;
        if (a->af_flr && !b->af_flr)
                return false;
        if (a->pm && !(b->pm && a->pm_no_soft_reset == b->pm_no_soft_reset))
                return false;
        if (a->msix && !(b->msix && a->msix_table_size == b->msix_table_size &&
                         a->msix_table_bir == b->msix_table_bir &&
                         a->msix_table_offset == b->msix_table_offset &&
                         a->msix_pba_bir == b->msix_pba_bir &&
                         a->msix_pba_offset == b->msix_pba_offset))
                return false;
        if (a->msi && !b->msi)
                return false;
        return true;
}

static bool same_caps(const PciConfigInfo *a, const PciConfigInfo *b) {
        return a->caps_known == b->caps_known && a->pcie == b->pcie && a->af_flr == b->af_flr &&
               a->pm == b->pm && a->msix == b->msix && a->msi == b->msi &&
               caps_within(a, b) && caps_within(b, a);
}

static bool same_ext_caps(const PciConfigInfo *a, const PciConfigInfo *b) {
        return a->ext_caps_known == b->ext_caps_known &&
               a->acs == b->acs && a->acs_cap == b->acs_cap && a->acs_ctrl == b->acs_ctrl &&
               a->sriov == b->sriov && a->sriov_total_vfs == b->sriov_total_vfs &&
               a->sriov_num_vfs == b->sriov_num_vfs &&
               a->dsn == b->dsn && a->dsn_value == b->dsn_value;
}

static void check_consistent(const uint8_t *d, size_t n, const PciConfigInfo *info) {
        uint8_t ht = d[0x0e];
        const char *type;

        FUZZ_CHECK(info->size == n);
        FUZZ_CHECK(info->vendor_id == le16(d, 0));
        FUZZ_CHECK(info->device_id == le16(d, 2));
        FUZZ_CHECK(info->revision == d[8]);
        FUZZ_CHECK(info->class_code == le32(d, 8) >> 8);
        FUZZ_CHECK(info->header_type == (ht & 0x7f));
        FUZZ_CHECK(info->multifunction == !!(ht & 0x80));
        FUZZ_CHECK(info->bridge == (info->header_type == 1 || info->header_type == 2));
        if (info->bridge) {
                FUZZ_CHECK(info->primary_bus == d[0x18]);
                FUZZ_CHECK(info->secondary_bus == d[0x19]);
                FUZZ_CHECK(info->subordinate_bus == d[0x1a]);
        } else
                FUZZ_CHECK(info->primary_bus == 0 && info->secondary_bus == 0 && info->subordinate_bus == 0);

        /* No capability list: known from the status register alone, even
         * from 64 bytes. */
        if (info->header_type <= 2 && !(le16(d, 6) & 0x10))
                FUZZ_CHECK(info->caps_known);
        /* An unknown header layout: nothing can be known. */
        if (info->header_type > 2)
                FUZZ_CHECK(!info->caps_known);
        if ((info->header_type <= 2 && !(le16(d, 6) & 0x10)) || info->header_type > 2)
                FUZZ_CHECK(!info->pcie && !info->pm && !info->msix && !info->msi && !info->af_flr);

        if (info->pcie)
                FUZZ_CHECK(info->pcie_type >= 0 && info->pcie_type <= 0xf);
        else
                FUZZ_CHECK(info->pcie_type == PCIE_TYPE_NONE && !info->flr);
        type = pci_express_type_to_string(info->pcie_type);
        FUZZ_CHECK(type);
        FUZZ_CHECK(info->pcie == (type[0] != 0));
        if (!info->pm)
                FUZZ_CHECK(!info->pm_no_soft_reset);
        if (info->msix) {
                FUZZ_CHECK(info->msix_table_size >= 1 && info->msix_table_size <= 2048);
                FUZZ_CHECK(info->msix_table_bir <= 7 && info->msix_pba_bir <= 7);
                FUZZ_CHECK((info->msix_table_offset & 7) == 0 && (info->msix_pba_offset & 7) == 0);
        } else
                FUZZ_CHECK(info->msix_table_size == 0 && info->msix_table_bir == 0 &&
                           info->msix_table_offset == 0 && info->msix_pba_bir == 0 &&
                           info->msix_pba_offset == 0);

        /* A standard list lies within 256 bytes: with those, it is known
         * unless the header layout is unknown. */
        if (n >= 256)
                FUZZ_CHECK(info->caps_known == (info->header_type <= 2));
        FUZZ_CHECK(info->ext_caps_known == (n == 4096 && info->pcie && le32(d, 0x100) != UINT32_MAX));
        if (info->acs || info->sriov || info->dsn)
                FUZZ_CHECK(info->ext_caps_known);
        if (!info->acs)
                FUZZ_CHECK(info->acs_cap == 0 && info->acs_ctrl == 0);
        if (!info->sriov)
                FUZZ_CHECK(info->sriov_total_vfs == 0 && info->sriov_num_vfs == 0);
        if (!info->dsn)
                FUZZ_CHECK(info->dsn_value == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t prefixes[] = { 64, 65, 128, 255, 256, 257, 1024, 4095 };
        PciConfigInfo info;
        size_t n;
        bool expect_ok;
        int r;

        memset(&info, 0x5a, sizeof info);
        r = pci_config_parse(data, size, &info);
        FUZZ_CHECK(r == 0 || r == -EINVAL);
        FUZZ_CHECK(pci_config_parse(data, size, NULL) == r);

        expect_ok = size >= 64 &&
                    !(le16(data, 0) == 0xffff && (le32(data, 8) == UINT32_MAX || data[0x0e] == 0xff));
        FUZZ_CHECK(expect_ok == (r == 0));
        if (r < 0)
                return 0;

        n = size > 4096 ? 4096 : size;
        check_consistent(data, n, &info);

        if (size > 4096) {
                PciConfigInfo cut;

                FUZZ_CHECK(pci_config_parse(data, 4096, &cut) == 0);
                FUZZ_CHECK(cut.size == 4096 && same_header(&cut, &info) &&
                           same_caps(&cut, &info) && same_ext_caps(&cut, &info));
        }

        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
                PciConfigInfo p;

                if (prefixes[i] >= n)
                        continue;
                FUZZ_CHECK(pci_config_parse(data, prefixes[i], &p) == 0);
                check_consistent(data, prefixes[i], &p);
                FUZZ_CHECK(same_header(&p, &info));
                FUZZ_CHECK(caps_within(&p, &info));
                if (p.caps_known)
                        FUZZ_CHECK(same_caps(&p, &info));
                FUZZ_CHECK(!p.ext_caps_known);
        }
        return 0;
}
