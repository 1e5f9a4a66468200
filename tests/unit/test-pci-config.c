/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "pci-config.h"

/* Config space recorded from real devices lives in
 * $PCI_ASSIGND_TEST_DATA/config/<name>.bin.  Each is parsed whole, then at
 * every shorter length from an exact-size heap copy, so that valgrind or
 * ASan flags any read past the bytes given. */

static GBytes *load_fixture(const char *name) {
        g_autofree char *path = NULL, *file = NULL;
        g_autoptr(GError) error = NULL;
        const char *dir;
        char *contents;
        gsize len;

        dir = g_getenv("PCI_ASSIGND_TEST_DATA");
        if (!dir)
                g_error("PCI_ASSIGND_TEST_DATA is not set (meson test sets it to <source>/tests/data)");

        file = g_strconcat(name, ".bin", NULL);
        path = g_build_filename(dir, "config", file, NULL);
        if (!g_file_get_contents(path, &contents, &len, &error))
                g_error("%s", error->message);
        return g_bytes_new_take(contents, len);
}

static int parse_exact(const uint8_t *data, size_t n, PciConfigInfo *ret) {
        /* A heap block of exactly n bytes: an over-read is a memcheck error. */
        g_autofree uint8_t *copy = g_memdup2(data, n);
        return pci_config_parse(copy, n, ret);
}

static void assert_info_equal(const PciConfigInfo *got, const PciConfigInfo *exp) {
        g_assert_cmpuint(got->size, ==, exp->size);
        g_assert_cmphex(got->vendor_id, ==, exp->vendor_id);
        g_assert_cmphex(got->device_id, ==, exp->device_id);
        g_assert_cmphex(got->revision, ==, exp->revision);
        g_assert_cmphex(got->class_code, ==, exp->class_code);
        g_assert_cmphex(got->header_type, ==, exp->header_type);
        g_assert_cmpint(got->multifunction, ==, exp->multifunction);
        g_assert_cmpint(got->bridge, ==, exp->bridge);
        g_assert_cmphex(got->primary_bus, ==, exp->primary_bus);
        g_assert_cmphex(got->secondary_bus, ==, exp->secondary_bus);
        g_assert_cmphex(got->subordinate_bus, ==, exp->subordinate_bus);

        g_assert_cmpint(got->caps_known, ==, exp->caps_known);
        g_assert_cmpint(got->pcie, ==, exp->pcie);
        g_assert_cmpint(got->pcie_type, ==, exp->pcie_type);
        g_assert_cmpint(got->flr, ==, exp->flr);
        g_assert_cmpint(got->af_flr, ==, exp->af_flr);
        g_assert_cmpint(got->pm, ==, exp->pm);
        g_assert_cmpint(got->pm_no_soft_reset, ==, exp->pm_no_soft_reset);
        g_assert_cmpint(got->msix, ==, exp->msix);
        g_assert_cmpuint(got->msix_table_size, ==, exp->msix_table_size);
        g_assert_cmpuint(got->msix_table_bir, ==, exp->msix_table_bir);
        g_assert_cmphex(got->msix_table_offset, ==, exp->msix_table_offset);
        g_assert_cmpuint(got->msix_pba_bir, ==, exp->msix_pba_bir);
        g_assert_cmphex(got->msix_pba_offset, ==, exp->msix_pba_offset);
        g_assert_cmpint(got->msi, ==, exp->msi);

        g_assert_cmpint(got->ext_caps_known, ==, exp->ext_caps_known);
        g_assert_cmpint(got->acs, ==, exp->acs);
        g_assert_cmphex(got->acs_cap, ==, exp->acs_cap);
        g_assert_cmphex(got->acs_ctrl, ==, exp->acs_ctrl);
        g_assert_cmpint(got->sriov, ==, exp->sriov);
        g_assert_cmpuint(got->sriov_total_vfs, ==, exp->sriov_total_vfs);
        g_assert_cmpuint(got->sriov_num_vfs, ==, exp->sriov_num_vfs);
        g_assert_cmpint(got->dsn, ==, exp->dsn);
        g_assert_cmphex(got->dsn_value, ==, exp->dsn_value);
}

/* What a shorter read may say, compared with the whole: the header is the
 * same; a complete list means the same capabilities; an incomplete one
 * never invents a capability the whole doesn't have. */
static void assert_prefix_consistent(const PciConfigInfo *part, const PciConfigInfo *full) {
        g_assert_cmphex(part->vendor_id, ==, full->vendor_id);
        g_assert_cmphex(part->device_id, ==, full->device_id);
        g_assert_cmphex(part->class_code, ==, full->class_code);
        g_assert_cmphex(part->header_type, ==, full->header_type);
        g_assert_cmpint(part->bridge, ==, full->bridge);
        g_assert_cmphex(part->secondary_bus, ==, full->secondary_bus);

        if (part->caps_known) {
                g_assert_cmpint(part->pcie, ==, full->pcie);
                g_assert_cmpint(part->pcie_type, ==, full->pcie_type);
                g_assert_cmpint(part->flr, ==, full->flr);
                g_assert_cmpint(part->af_flr, ==, full->af_flr);
                g_assert_cmpint(part->pm, ==, full->pm);
                g_assert_cmpint(part->pm_no_soft_reset, ==, full->pm_no_soft_reset);
                g_assert_cmpint(part->msix, ==, full->msix);
                g_assert_cmpuint(part->msix_table_size, ==, full->msix_table_size);
                g_assert_cmpint(part->msi, ==, full->msi);
        } else {
                g_assert_true(!part->pcie || full->pcie);
                g_assert_true(!part->flr || full->flr);
                g_assert_true(!part->af_flr || full->af_flr);
                g_assert_true(!part->pm || full->pm);
                g_assert_true(!part->msix || full->msix);
                g_assert_true(!part->msi || full->msi);
        }

        /* Extended space needs all 4096 bytes. */
        g_assert_false(part->ext_caps_known);
        g_assert_false(part->acs);
        g_assert_false(part->sriov);
        g_assert_false(part->dsn);
}

typedef struct ConfigFixture {
        const char *name;
        size_t file_size;
        PciConfigInfo expected;
} ConfigFixture;

/* Expected values were read off `lspci -vvv` (and, where lspci doesn't
 * decode a bit, `lspci -xxxx`) for the same device, quoted next to each
 * entry, not from this parser's output. */
static const ConfigFixture config_fixtures[] = {
        /* This build host (a Firecracker-style VM): conventional PCI virtio
         * devices, 256 bytes of config, no PCIe capability.
         * 00:01.0 Unassigned class [ffff]: Red Hat, Inc. Virtio 1.0 memory
         * balloon [1af4:1045] (rev 01); Capabilities: [40] [50] [60] [70]
         * [84] Vendor Specific, [98] MSI-X: Enable+ Count=5, Vector table:
         * BAR=0 offset=00008000, PBA: BAR=0 offset=00048000 */
        {
                .name = "host-virtio-balloon",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x1af4, .device_id = 0x1045, .revision = 0x01,
                        .class_code = 0xffff00,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msix = true, .msix_table_size = 5,
                        .msix_table_bir = 0, .msix_table_offset = 0x8000,
                        .msix_pba_bir = 0, .msix_pba_offset = 0x48000,
                },
        },
        /* 00:02.0 Mass storage controller [0180]: Virtio 1.0 block device
         * [1af4:1042] (rev 01); MSI-X: Count=2, table BAR=0 offset=00008000,
         * PBA BAR=0 offset=00048000 */
        {
                .name = "host-virtio-blk",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x1af4, .device_id = 0x1042, .revision = 0x01,
                        .class_code = 0x018000,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msix = true, .msix_table_size = 2,
                        .msix_table_bir = 0, .msix_table_offset = 0x8000,
                        .msix_pba_bir = 0, .msix_pba_offset = 0x48000,
                },
        },
        /* 00:03.0 Ethernet controller [0200]: Virtio 1.0 network device
         * [1af4:1041] (rev 01); MSI-X: Count=3, table BAR=0 offset=00008000,
         * PBA BAR=0 offset=00048000 */
        {
                .name = "host-virtio-net",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x1af4, .device_id = 0x1041, .revision = 0x01,
                        .class_code = 0x020000,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msix = true, .msix_table_size = 3,
                        .msix_table_bir = 0, .msix_table_offset = 0x8000,
                        .msix_pba_bir = 0, .msix_pba_offset = 0x48000,
                },
        },
        /* 00:04.0 Unassigned class [ffff]: Virtio 1.0 socket [1af4:1053]
         * (rev 01); MSI-X: Count=4, table BAR=0 offset=00008000, PBA BAR=0
         * offset=00048000 */
        {
                .name = "host-virtio-vsock",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x1af4, .device_id = 0x1053, .revision = 0x01,
                        .class_code = 0xffff00,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msix = true, .msix_table_size = 4,
                        .msix_table_bir = 0, .msix_table_offset = 0x8000,
                        .msix_pba_bir = 0, .msix_pba_offset = 0x48000,
                },
        },
        /* 00:05.0 Unassigned class [ffff]: Virtio 1.0 RNG [1af4:1044]
         * (rev 01); MSI-X: Count=2, table BAR=0 offset=00008000, PBA BAR=0
         * offset=00048000 */
        {
                .name = "host-virtio-rng",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x1af4, .device_id = 0x1044, .revision = 0x01,
                        .class_code = 0xffff00,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msix = true, .msix_table_size = 2,
                        .msix_table_bir = 0, .msix_table_offset = 0x8000,
                        .msix_pba_bir = 0, .msix_pba_offset = 0x48000,
                },
        },
        /* 00:00.0 Host bridge [0600]: Intel Corporation Device [8086:0d57];
         * Status: Cap-.  A 4096 byte config file, but without a PCIe
         * capability the extended space is not looked at. */
        {
                .name = "host-virtio-host-bridge",
                .file_size = 4096,
                .expected = {
                        .size = 4096,
                        .vendor_id = 0x8086, .device_id = 0x0d57, .revision = 0x00,
                        .class_code = 0x060000,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                },
        },
};


/* The 82574L (QEMU e1000e) as recorded in the q35 guest: PM at c8
 * (NoSoftRst-), MSI at d0, PCIe v1 at e0 (DevCap FLReset-), MSI-X at a0
 * (Count=5, Vector table BAR=3 offset=00000000, PBA BAR=3
 * offset=00002000), extended AER at 100 and Device Serial Number at 140. */
#define E1000E(type, serial)                                            \
        .size = 4096,                                                   \
        .vendor_id = 0x8086, .device_id = 0x10d3, .revision = 0x00,     \
        .class_code = 0x020000,                                         \
        .caps_known = true,                                             \
        .pcie = true, .pcie_type = (type), .flr = false,                \
        .pm = true, .pm_no_soft_reset = false,                          \
        .msi = true,                                                    \
        .msix = true, .msix_table_size = 5,                             \
        .msix_table_bir = 3, .msix_table_offset = 0x0,                  \
        .msix_pba_bir = 3, .msix_pba_offset = 0x2000,                   \
        .ext_caps_known = true,                                         \
        .dsn = true, .dsn_value = UINT64_C(serial)

/* QEMU pcie-root-port [1b36:000c]: PCIe v2 Root Port at 54 (DevCap
 * 0x00008000: no FLR), MSI-X at 48 (Count=1, table BAR=0 offset=00000000,
 * PBA BAR=0 offset=00000800), Subsystem at 40, no PM; AER at 100, ACS at
 * 148 with ACSCap SrcValid+ TransBlk+ ReqRedir+ CmpltRedir+ UpstreamFwd+
 * EgressCtrl- DirectTrans+ (0x005f) and ACSCtl SrcValid+ TransBlk-
 * ReqRedir+ CmpltRedir+ UpstreamFwd+ EgressCtrl- DirectTrans- (0x001d). */
#define ROOT_PORT(pri, sec, sub)                                        \
        .size = 4096,                                                   \
        .vendor_id = 0x1b36, .device_id = 0x000c, .revision = 0x00,     \
        .class_code = 0x060400,                                         \
        .header_type = 1, .bridge = true,                               \
        .primary_bus = (pri), .secondary_bus = (sec), .subordinate_bus = (sub), \
        .caps_known = true,                                             \
        .pcie = true, .pcie_type = PCIE_TYPE_ROOT_PORT,                 \
        .msix = true, .msix_table_size = 1,                             \
        .msix_table_bir = 0, .msix_table_offset = 0x0,                  \
        .msix_pba_bir = 0, .msix_pba_offset = 0x800,                    \
        .ext_caps_known = true,                                         \
        .acs = true, .acs_cap = 0x005f, .acs_ctrl = 0x001d

/* QEMU nvme [1b36:0010] (rev 02), prog-if 02: MSI-X at 40 (table BAR=0
 * offset=00002000, PBA BAR=0 offset=00003000), PCIe v2 Endpoint at 80
 * (DevCap FLReset+), PM v3 at 60 (NoSoftRst+), no MSI; ARI at 100. */
#define NVME(count)                                                     \
        .size = 4096,                                                   \
        .revision = 0x02, .class_code = 0x010802,                       \
        .caps_known = true,                                             \
        .pcie = true, .pcie_type = PCIE_TYPE_ENDPOINT, .flr = true,     \
        .pm = true, .pm_no_soft_reset = true,                           \
        .msix = true, .msix_table_size = (count),                       \
        .msix_table_bir = 0, .msix_table_offset = 0x2000,               \
        .msix_pba_bir = 0, .msix_pba_offset = 0x3000,                   \
        .ext_caps_known = true

/* Recorded from a QEMU q35 guest (tests/vm, kernel 6.1) into
 * tests/data/config; see its README and lspci-vvv.txt.  Guest addresses in
 * the comments. */
static const ConfigFixture vm_config_fixtures[] = {
        /* 00:00.0 Host bridge [0600]: 82G33/G31/P35/P31 DRAM Controller
         * [8086:29c0]; Status: Cap- */
        {
                .name = "q35-host-bridge",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x8086, .device_id = 0x29c0, .revision = 0x00,
                        .class_code = 0x060000,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                },
        },
        /* 00:02.0 82574L on the root bus: Root Complex Integrated Endpoint,
         * DSN 52-54-00-ff-ff-00-00-02 */
        {
                .name = "e1000e-rootbus",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_RC_INTEGRATED_ENDPOINT, 0x525400ffff000002) },
        },
        /* 00:05.0 / 00:05.1: multifunction=on, both functions have header
         * type 0x80; DSN ...-05-00 and ...-05-01 */
        {
                .name = "e1000e-multifunction-f0",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_RC_INTEGRATED_ENDPOINT, 0x525400ffff000500), .multifunction = true },
        },
        {
                .name = "e1000e-multifunction-f1",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_RC_INTEGRATED_ENDPOINT, 0x525400ffff000501), .multifunction = true },
        },
        /* 00:06.0 Bus: primary=00, secondary=01, subordinate=01 */
        {
                .name = "pcie-root-port",
                .file_size = 4096,
                .expected = { ROOT_PORT(0x00, 0x01, 0x01) },
        },
        /* 00:08.0 Bus: primary=00, secondary=03, subordinate=03 */
        {
                .name = "pcie-root-port-empty",
                .file_size = 4096,
                .expected = { ROOT_PORT(0x00, 0x03, 0x03) },
        },
        /* 00:0b.0 Bus: primary=00, secondary=0a, subordinate=0a */
        {
                .name = "pcie-root-port-2_5gt",
                .file_size = 4096,
                .expected = { ROOT_PORT(0x00, 0x0a, 0x0a) },
        },
        /* 00:1e.0 Unclassified device [0002]: Virtio filesystem [1af4:1009];
         * conventional PCI; MSI-X Count=2, table BAR=1 offset=00000000,
         * PBA BAR=1 offset=00000800; five vendor specific caps */
        {
                .name = "virtio-9p",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x1af4, .device_id = 0x1009, .revision = 0x00,
                        .class_code = 0x000200,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msix = true, .msix_table_size = 2,
                        .msix_table_bir = 1, .msix_table_offset = 0x0,
                        .msix_pba_bir = 1, .msix_pba_offset = 0x800,
                },
        },
        /* 00:1f.0 ISA bridge [0601]: ICH9 LPC [8086:2918] (rev 02); header
         * type 0x80 (slot 1f is multifunction); Status: Cap- */
        {
                .name = "ich9-lpc",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x8086, .device_id = 0x2918, .revision = 0x02,
                        .class_code = 0x060100,
                        .multifunction = true,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                },
        },
        /* 00:1f.2 SATA controller [0106] AHCI [8086:2922] (rev 02)
         * (prog-if 01); MSI at 80, SATA HBA at a8 */
        {
                .name = "ich9-ahci",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x8086, .device_id = 0x2922, .revision = 0x02,
                        .class_code = 0x010601,
                        .multifunction = true,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                        .msi = true,
                },
        },
        /* 00:1f.3 SMBus [0c05] [8086:2930] (rev 02); Status: Cap- */
        {
                .name = "ich9-smbus",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x8086, .device_id = 0x2930, .revision = 0x02,
                        .class_code = 0x0c0500,
                        .multifunction = true,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                },
        },
        /* 01:00.0 with sriov_numvfs=2: MSI-X Count=63; SR-IOV at 120:
         * Total VFs: 2, Number of VFs: 2 */
        {
                .name = "nvme-pf",
                .file_size = 4096,
                .expected = {
                        NVME(63),
                        .vendor_id = 0x1b36, .device_id = 0x0010,
                        .sriov = true, .sriov_total_vfs = 2, .sriov_num_vfs = 2,
                },
        },
        /* The same PF before VFs were enabled: NumVFs (0x130) still 0. */
        {
                .name = "nvme-pf-novfs",
                .file_size = 4096,
                .expected = {
                        NVME(63),
                        .vendor_id = 0x1b36, .device_id = 0x0010,
                        .sriov = true, .sriov_total_vfs = 2, .sriov_num_vfs = 0,
                },
        },
        /* 01:00.1, a VF: config space reads ffff:ffff as vendor/device (lspci
         * shows 1b36:0010 from sysfs); MSI-X Count=1; no SR-IOV cap. */
        {
                .name = "nvme-vf",
                .file_size = 4096,
                .expected = {
                        NVME(1),
                        .vendor_id = 0xffff, .device_id = 0xffff,
                },
        },
        /* 02:00.0 82574L behind a root port: Endpoint, DSN ...-07-00 */
        {
                .name = "e1000e-behind-root-port",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_ENDPOINT, 0x525400ffff000700) },
        },
        /* 04:00.0 pcie-pci-bridge [1b36:000e]: Bus 04/05/05; MSI at 8c, PM
         * v3 at 84 (NoSoftRst-), PCIe v2 PCI-Express to PCI/PCI-X Bridge at
         * 48 (DevCap 0x00008000), SHPC at 40; AER only in extended space */
        {
                .name = "pcie-pci-bridge",
                .file_size = 4096,
                .expected = {
                        .size = 4096,
                        .vendor_id = 0x1b36, .device_id = 0x000e, .revision = 0x00,
                        .class_code = 0x060400,
                        .header_type = 1, .bridge = true,
                        .primary_bus = 0x04, .secondary_bus = 0x05, .subordinate_bus = 0x05,
                        .caps_known = true,
                        .pcie = true, .pcie_type = PCIE_TYPE_PCIE_TO_PCI_BRIDGE,
                        .pm = true, .pm_no_soft_reset = false,
                        .msi = true,
                        .ext_caps_known = true,
                },
        },
        /* 05:01.0 82540EM [8086:100e] (rev 03) behind that bridge:
         * conventional PCI, Status: Cap- */
        {
                .name = "e1000-behind-bridge",
                .file_size = 256,
                .expected = {
                        .size = 256,
                        .vendor_id = 0x8086, .device_id = 0x100e, .revision = 0x03,
                        .class_code = 0x020000,
                        .caps_known = true,
                        .pcie_type = PCIE_TYPE_NONE,
                },
        },
        /* 06:00.0 XIO3130 Upstream [104c:8232] (rev 02): Bus 06/07/09;
         * PCIe v2 Upstream Port at 90, Subsystem at 80, MSI at 70; AER.
         * QEMU sets DevCap FLR (0x10008000) even on switch ports; lspci
         * only prints FLReset for endpoints, the kernel (pcie_has_flr())
         * doesn't look at the port type either. */
        {
                .name = "xio3130-upstream",
                .file_size = 4096,
                .expected = {
                        .size = 4096,
                        .vendor_id = 0x104c, .device_id = 0x8232, .revision = 0x02,
                        .class_code = 0x060400,
                        .header_type = 1, .bridge = true,
                        .primary_bus = 0x06, .secondary_bus = 0x07, .subordinate_bus = 0x09,
                        .caps_known = true,
                        .pcie = true, .pcie_type = PCIE_TYPE_UPSTREAM_PORT, .flr = true,
                        .msi = true,
                        .ext_caps_known = true,
                },
        },
        /* 07:00.0 XIO3130 Downstream [104c:8233] (rev 01): Bus 07/08/08;
         * PCIe v2 Downstream Port at 90 (DevCap 0x10008000), MSI at 70 */
        {
                .name = "xio3130-downstream",
                .file_size = 4096,
                .expected = {
                        .size = 4096,
                        .vendor_id = 0x104c, .device_id = 0x8233, .revision = 0x01,
                        .class_code = 0x060400,
                        .header_type = 1, .bridge = true,
                        .primary_bus = 0x07, .secondary_bus = 0x08, .subordinate_bus = 0x08,
                        .caps_known = true,
                        .pcie = true, .pcie_type = PCIE_TYPE_DOWNSTREAM_PORT, .flr = true,
                        .msi = true,
                        .ext_caps_known = true,
                },
        },
        /* 08:00.0 82574L behind the switch: Endpoint, DSN ...-0a-01 */
        {
                .name = "e1000e-behind-switch",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_ENDPOINT, 0x525400ffff000a01) },
        },
        /* 0b:00.0 / 0b:00.1 behind a root port, multifunction=on only on
         * function 0 (header type 0x80 vs 0x00 as recorded); DSN ...-0c-00,
         * ...-0c-01 */
        {
                .name = "e1000e-multifunction-port-f0",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_ENDPOINT, 0x525400ffff000c00), .multifunction = true },
        },
        {
                .name = "e1000e-multifunction-port-f1",
                .file_size = 4096,
                .expected = { E1000E(PCIE_TYPE_ENDPOINT, 0x525400ffff000c01) },
        },
};

static void test_fixture(gconstpointer user_data) {
        const ConfigFixture *f = user_data;
        g_autoptr(GBytes) bytes = load_fixture(f->name);
        const uint8_t *data;
        PciConfigInfo info, full;
        gsize size;

        data = g_bytes_get_data(bytes, &size);
        g_assert_cmpuint(size, ==, f->file_size);

        g_assert_cmpint(parse_exact(data, size, &full), ==, 0);
        assert_info_equal(&full, &f->expected);

        /* What an unprivileged reader gets: the header, no capabilities
         * unless the status register says there are none. */
        g_assert_cmpint(parse_exact(data, 64, &info), ==, 0);
        g_assert_cmpuint(info.size, ==, 64);
        g_assert_cmpint(info.caps_known, ==, !(data[0x06] & 0x10));
        assert_prefix_consistent(&info, &full);

        for (size_t n = 64; n < size; n++) {
                g_assert_cmpint(parse_exact(data, n, &info), ==, 0);
                g_assert_cmpuint(info.size, ==, n);
                if (n >= 256)
                        g_assert_true(info.caps_known == full.caps_known);
                assert_prefix_consistent(&info, &full);
        }
}

/* Synthetic config space, built up field by field. */

static void put16(uint8_t *d, size_t off, uint16_t v) {
        d[off] = v & 0xff;
        d[off + 1] = v >> 8;
}

static void put32(uint8_t *d, size_t off, uint32_t v) {
        put16(d, off, v & 0xffff);
        put16(d, off + 2, v >> 16);
}

/* A function with a capability list that the caller fills in. */
static void cfg_init(uint8_t *d, size_t n, uint8_t header_type) {
        memset(d, 0, n);
        put16(d, 0x00, 0x1234);
        put16(d, 0x02, 0x5678);
        put16(d, 0x06, 0x0010);         /* status: capability list */
        put32(d, 0x08, 0x02000001);     /* class 020000, revision 1 */
        d[0x0e] = header_type;
}

static void add_cap(uint8_t *d, size_t pos, uint8_t id, uint8_t next) {
        d[pos] = id;
        d[pos + 1] = next;
}

static void add_ext_cap(uint8_t *d, size_t pos, uint16_t id, uint16_t next) {
        put32(d, pos, (uint32_t) id | 1u << 16 | (uint32_t) next << 20);
}

/* PCIe endpoint at 0x40 with FLR, PM (NoSoftReset) at 0x80 and MSI-X at
 * 0x90 (table BAR 3 + 0x2000, PBA BAR 3 + 0x3000, 64 entries); extended:
 * SR-IOV at 0x100, ACS at 0x140, DSN at 0x150. */
static void cfg_pcie_endpoint(uint8_t *d, size_t n) {
        cfg_init(d, n, 0x80);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x10, 0x80);
        put16(d, 0x42, 0x0002);                 /* version 2, type 0 */
        put32(d, 0x44, 0x10008fc0);             /* DEVCAP with FLR */
        add_cap(d, 0x80, 0x01, 0x90);
        put16(d, 0x84, 0x0008);                 /* PMCSR NoSoftReset */
        add_cap(d, 0x90, 0x11, 0x00);
        put16(d, 0x92, 0x003f);
        put32(d, 0x94, 0x00002003);
        put32(d, 0x98, 0x00003003);
        if (n < 4096)
                return;
        add_ext_cap(d, 0x100, 0x10, 0x140);
        put16(d, 0x10e, 8);                     /* TotalVFs */
        put16(d, 0x110, 2);                     /* NumVFs */
        add_ext_cap(d, 0x140, 0x0d, 0x150);
        put16(d, 0x144, 0x005f);
        put16(d, 0x146, 0x001d);
        add_ext_cap(d, 0x150, 0x03, 0x000);
        put32(d, 0x154, 0x44332211);            /* serial, low dword first */
        put32(d, 0x158, 0x88776655);
}

static void test_synthetic_endpoint(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        cfg_pcie_endpoint(d, sizeof(d));
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        assert_info_equal(&info, &(PciConfigInfo) {
                .size = 4096,
                .vendor_id = 0x1234, .device_id = 0x5678, .revision = 1,
                .class_code = 0x020000,
                .multifunction = true,
                .caps_known = true,
                .pcie = true, .pcie_type = PCIE_TYPE_ENDPOINT, .flr = true,
                .pm = true, .pm_no_soft_reset = true,
                .msix = true, .msix_table_size = 64,
                .msix_table_bir = 3, .msix_table_offset = 0x2000,
                .msix_pba_bir = 3, .msix_pba_offset = 0x3000,
                .ext_caps_known = true,
                .acs = true, .acs_cap = 0x005f, .acs_ctrl = 0x001d,
                .sriov = true, .sriov_total_vfs = 8, .sriov_num_vfs = 2,
                .dsn = true, .dsn_value = UINT64_C(0x8877665544332211),
        });

        /* Bytes after 4096 are not config space. */
        {
                g_autofree uint8_t *big = g_malloc0(8192);

                memcpy(big, d, sizeof(d));
                memset(big + 4096, 0xff, 4096);
                g_assert_cmpint(pci_config_parse(big, 8192, &info), ==, 0);
                g_assert_cmpuint(info.size, ==, 4096);
                g_assert_true(info.dsn);
        }
}

static void test_truncated_64(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        cfg_pcie_endpoint(d, sizeof(d));
        g_assert_cmpint(parse_exact(d, 64, &info), ==, 0);
        g_assert_cmpuint(info.size, ==, 64);
        g_assert_cmphex(info.vendor_id, ==, 0x1234);
        g_assert_true(info.multifunction);
        g_assert_false(info.caps_known);
        g_assert_false(info.pcie);
        g_assert_cmpint(info.pcie_type, ==, PCIE_TYPE_NONE);
        g_assert_false(info.flr);
        g_assert_false(info.pm);
        g_assert_false(info.msix);
        g_assert_false(info.ext_caps_known);

        /* Below 64 bytes there is no header to speak of. */
        g_assert_cmpint(parse_exact(d, 63, &info), ==, -EINVAL);
        g_assert_cmpint(pci_config_parse(d, 0, &info), ==, -EINVAL);
        g_assert_cmpint(pci_config_parse(NULL, 4096, &info), ==, -EINVAL);
}

static void test_truncated_256(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        cfg_pcie_endpoint(d, sizeof(d));

        /* 256 bytes: the standard list is complete, the extended one is not
         * there at all. */
        g_assert_cmpint(parse_exact(d, 256, &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.pcie);
        g_assert_true(info.flr);
        g_assert_true(info.msix);
        g_assert_false(info.ext_caps_known);
        g_assert_false(info.sriov);
        g_assert_false(info.acs);
        g_assert_false(info.dsn);

        /* 4095 is as unknown as 256. */
        g_assert_cmpint(parse_exact(d, 4095, &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_false(info.ext_caps_known);
        g_assert_false(info.sriov);

        /* Cut inside the MSI-X capability (0x90..0x9b): PCIe and PM were
         * seen, the list as a whole was not. */
        g_assert_cmpint(parse_exact(d, 0x98, &info), ==, 0);
        g_assert_false(info.caps_known);
        g_assert_true(info.pcie);
        g_assert_true(info.pm);
        g_assert_false(info.msix);

        /* Ends exactly after MSI-X: everything was seen. */
        g_assert_cmpint(parse_exact(d, 0x9c, &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.msix);
}

static void test_cap_pointer_beyond_buffer(void) {
        uint8_t d[256];
        PciConfigInfo info;

        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0xa0;
        add_cap(d, 0xa0, 0x05, 0x00);

        /* The list starts past what a 128 byte reader got: unknown. */
        g_assert_cmpint(parse_exact(d, 128, &info), ==, 0);
        g_assert_false(info.caps_known);
        g_assert_false(info.msi);

        g_assert_cmpint(parse_exact(d, 256, &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.msi);

        /* An MSI-X capability at 0xfc would run past the 256 byte standard
         * space: malformed, the walk stops but the list counts as seen,
         * even with 4096 bytes at hand. */
        {
                uint8_t e[4096];

                cfg_init(e, sizeof(e), 0x00);
                e[0x34] = 0x40;
                add_cap(e, 0x40, 0x05, 0xfc);
                add_cap(e, 0xfc, 0x11, 0x00);
                put16(e, 0xfe, 0x0007);
                g_assert_cmpint(parse_exact(e, sizeof(e), &info), ==, 0);
                g_assert_true(info.caps_known);
                g_assert_true(info.msi);
                g_assert_false(info.msix);
                g_assert_cmpuint(info.msix_table_size, ==, 0);
        }
}

static void test_cap_list_end_and_masking(void) {
        uint8_t d[256];
        PciConfigInfo info;

        /* Status bit 4 clear: the pointer is not looked at. */
        cfg_init(d, sizeof(d), 0x00);
        put16(d, 0x06, 0x0000);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x10, 0x00);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_false(info.pcie);
        /* ... and that is known from 64 bytes already. */
        g_assert_cmpint(parse_exact(d, 64, &info), ==, 0);
        g_assert_true(info.caps_known);

        /* Reserved low bits of the pointers are masked: 0x43 -> 0x40,
         * 0x53 -> 0x50. */
        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0x43;
        add_cap(d, 0x40, 0x05, 0x53);
        add_cap(d, 0x50, 0x01, 0x00);
        put16(d, 0x54, 0x0008);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.msi);
        g_assert_true(info.pm);
        g_assert_true(info.pm_no_soft_reset);

        /* A pointer into the header (< 0x40) ends the walk. */
        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x05, 0x10);
        add_cap(d, 0x10, 0x11, 0x00);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.msi);
        g_assert_false(info.msix);

        /* ID 0xff is what an absent device reads as: the walk ends. */
        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0xff, 0x50);
        add_cap(d, 0x50, 0x05, 0x00);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_false(info.msi);

        /* The first instance of a capability counts. */
        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x10, 0x50);
        put16(d, 0x42, 0x0042);                 /* root port */
        add_cap(d, 0x50, 0x10, 0x00);
        put16(d, 0x52, 0x0002);                 /* endpoint */
        put32(d, 0x54, 0x10000000);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_cmpint(info.pcie_type, ==, PCIE_TYPE_ROOT_PORT);
        g_assert_false(info.flr);
}

static void test_cap_loop(void) {
        uint8_t d[256];
        PciConfigInfo info;

        /* 0x40 -> 0x50 -> 0x40 -> ... */
        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x05, 0x50);
        add_cap(d, 0x50, 0x11, 0x40);
        put16(d, 0x52, 0x0000);
        put32(d, 0x54, 0x00001000);
        put32(d, 0x58, 0x00001800);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.msi);
        g_assert_true(info.msix);
        g_assert_cmpuint(info.msix_table_size, ==, 1);
        g_assert_cmphex(info.msix_table_offset, ==, 0x1000);
        g_assert_cmphex(info.msix_pba_offset, ==, 0x1800);
        g_assert_false(info.pcie);

        /* A capability pointing at itself. */
        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0xfc;
        add_cap(d, 0xfc, 0x05, 0xfc);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.msi);
}

static void test_ext_cap_loop(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        cfg_pcie_endpoint(d, sizeof(d));
        /* SR-IOV -> ACS -> SR-IOV -> ... and never the DSN. */
        add_ext_cap(d, 0x140, 0x0d, 0x100);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.ext_caps_known);
        g_assert_true(info.sriov);
        g_assert_true(info.acs);
        g_assert_false(info.dsn);

        /* The first header pointing at itself. */
        add_ext_cap(d, 0x100, 0x03, 0x100);
        put32(d, 0x104, 0x00000001);
        put32(d, 0x108, 0x00000002);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.dsn);
        g_assert_cmphex(info.dsn_value, ==, UINT64_C(0x0000000200000001));
        g_assert_false(info.sriov);
}

static void test_ext_cap_edges(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        /* No extended capabilities: a zero header at 0x100. */
        cfg_pcie_endpoint(d, sizeof(d));
        put32(d, 0x100, 0);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.ext_caps_known);
        g_assert_false(info.sriov);

        /* All ones at 0x100: nothing answered, unknown. */
        put32(d, 0x100, 0xffffffff);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_false(info.ext_caps_known);
        g_assert_false(info.sriov);

        /* All ones further down ends the walk. */
        cfg_pcie_endpoint(d, sizeof(d));
        put32(d, 0x140, 0xffffffff);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.ext_caps_known);
        g_assert_true(info.sriov);
        g_assert_false(info.acs);
        g_assert_false(info.dsn);

        /* A next pointer below 0x100 ends the walk. */
        cfg_pcie_endpoint(d, sizeof(d));
        add_ext_cap(d, 0x100, 0x10, 0x0f0);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.sriov);
        g_assert_false(info.acs);

        /* The next pointer's reserved low bits are masked (0xffb -> 0xff8),
         * and an ACS capability ending exactly at 4096 is read. */
        cfg_pcie_endpoint(d, sizeof(d));
        add_ext_cap(d, 0x100, 0x10, 0x150);
        add_ext_cap(d, 0x150, 0x03, 0xffb);
        add_ext_cap(d, 0xff8, 0x0d, 0x000);
        put16(d, 0xffc, 0x0011);
        put16(d, 0xffe, 0x0001);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.sriov);
        g_assert_true(info.dsn);
        g_assert_true(info.acs);
        g_assert_cmphex(info.acs_cap, ==, 0x0011);
        g_assert_cmphex(info.acs_ctrl, ==, 0x0001);

        /* A capability whose body would run past 4096 is not read. */
        cfg_pcie_endpoint(d, sizeof(d));
        add_ext_cap(d, 0x100, 0x03, 0xffc);
        add_ext_cap(d, 0xffc, 0x10, 0x000);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.dsn);
        g_assert_false(info.sriov);

        /* Extended space of a device without a PCIe capability is ignored. */
        cfg_pcie_endpoint(d, sizeof(d));
        d[0x40] = 0x09;                 /* vendor specific instead */
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_false(info.pcie);
        g_assert_false(info.ext_caps_known);
        g_assert_false(info.sriov);
}

static void test_all_ones(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        memset(d, 0xff, sizeof(d));
        memset(&info, 0x5a, sizeof(info));
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, -EINVAL);
        g_assert_cmpint(parse_exact(d, 64, &info), ==, -EINVAL);
        g_assert_cmpint(parse_exact(d, 256, &info), ==, -EINVAL);

        /* ret is left alone on failure. */
        for (size_t i = 0; i < sizeof(info); i++)
                g_assert_cmphex(((uint8_t *) &info)[i], ==, 0x5a);

        /* All ones apart from a vendor ID: parses, walks terminate. */
        put16(d, 0x00, 0x1234);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_cmphex(info.device_id, ==, 0xffff);
        g_assert_cmphex(info.header_type, ==, 0x7f);
        g_assert_true(info.multifunction);
        g_assert_false(info.bridge);
        g_assert_false(info.caps_known);         /* unknown header layout */
        g_assert_false(info.ext_caps_known);

        g_assert_cmpint(pci_config_parse(d, sizeof(d), NULL), ==, 0);

        /* Vendor 0xffff with a real class but header type 0xff, or with a
         * real header type but all-ones class: still nothing there. */
        memset(d, 0xff, sizeof(d));
        put32(d, 0x08, 0x02000001);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, -EINVAL);
        memset(d, 0xff, sizeof(d));
        d[0x0e] = 0x00;
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, -EINVAL);
}

/* An SR-IOV VF reads 0xffff as vendor and device ID (PCIe SR-IOV spec,
 * "VF Vendor ID"/"VF Device ID"); Linux passes that through sysfs.  It is a
 * present function with capabilities worth knowing (FLR above all). */
static void test_vf_all_ones_ids(void) {
        uint8_t d[4096];
        PciConfigInfo info;

        cfg_pcie_endpoint(d, sizeof(d));
        d[0x0e] = 0x00;
        put32(d, 0x00, 0xffffffff);
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_cmphex(info.vendor_id, ==, 0xffff);
        g_assert_cmphex(info.device_id, ==, 0xffff);
        g_assert_cmphex(info.class_code, ==, 0x020000);
        g_assert_true(info.caps_known);
        g_assert_true(info.pcie);
        g_assert_true(info.flr);
        g_assert_true(info.ext_caps_known);

        g_assert_cmpint(parse_exact(d, 64, &info), ==, 0);
        g_assert_false(info.caps_known);
}

static void test_type1_bridge(void) {
        uint8_t d[256];
        PciConfigInfo info;

        /* A multifunction PCIe-to-PCI bridge: primary 0, secondary 3,
         * subordinate 5, PCIe capability at 0x60, MSI at 0x70. */
        cfg_init(d, sizeof(d), 0x81);
        put32(d, 0x08, 0x06040002);
        d[0x18] = 0x00;
        d[0x19] = 0x03;
        d[0x1a] = 0x05;
        d[0x34] = 0x60;
        add_cap(d, 0x60, 0x10, 0x70);
        put16(d, 0x62, 0x0072);
        add_cap(d, 0x70, 0x05, 0x00);

        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        assert_info_equal(&info, &(PciConfigInfo) {
                .size = 256,
                .vendor_id = 0x1234, .device_id = 0x5678, .revision = 2,
                .class_code = 0x060400,
                .header_type = 1, .multifunction = true, .bridge = true,
                .primary_bus = 0x00, .secondary_bus = 0x03, .subordinate_bus = 0x05,
                .caps_known = true,
                .pcie = true, .pcie_type = PCIE_TYPE_PCIE_TO_PCI_BRIDGE,
                .msi = true,
        });
        g_assert_cmpstr(pci_express_type_to_string(info.pcie_type), ==, "pcie-to-pci-bridge");

        /* The bus numbers are in the first 64 bytes too. */
        g_assert_cmpint(parse_exact(d, 64, &info), ==, 0);
        g_assert_true(info.bridge);
        g_assert_cmphex(info.subordinate_bus, ==, 0x05);
        g_assert_false(info.caps_known);

        /* A CardBus bridge keeps its capability pointer at 0x14, and 0x34
         * is something else there. */
        cfg_init(d, sizeof(d), 0x02);
        d[0x14] = 0x80;
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x11, 0x00);
        add_cap(d, 0x80, 0x01, 0x00);
        d[0x19] = 0x07;
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.bridge);
        g_assert_cmphex(info.header_type, ==, 2);
        g_assert_cmphex(info.secondary_bus, ==, 0x07);
        g_assert_true(info.caps_known);
        g_assert_true(info.pm);
        g_assert_false(info.pm_no_soft_reset);
        g_assert_false(info.msix);

        /* A type 0 header has no bus numbers to report. */
        cfg_init(d, sizeof(d), 0x00);
        d[0x19] = 0x07;
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_false(info.bridge);
        g_assert_cmphex(info.secondary_bus, ==, 0);
}

static void test_af_flr(void) {
        uint8_t d[256];
        PciConfigInfo info;

        cfg_init(d, sizeof(d), 0x00);
        d[0x34] = 0x40;
        add_cap(d, 0x40, 0x13, 0x00);
        put16(d, 0x42, 0x0306);         /* length 6, capabilities TP|FLR */
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_true(info.af_flr);
        g_assert_false(info.flr);
        g_assert_false(info.pcie);

        /* FLR without Transactions Pending is not usable. */
        d[0x43] = 0x02;
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_false(info.af_flr);

        d[0x43] = 0x01;
        g_assert_cmpint(parse_exact(d, sizeof(d), &info), ==, 0);
        g_assert_false(info.af_flr);

        /* Truncated inside the AF capability. */
        d[0x43] = 0x03;
        g_assert_cmpint(parse_exact(d, 0x43, &info), ==, 0);
        g_assert_false(info.caps_known);
        g_assert_false(info.af_flr);
        g_assert_cmpint(parse_exact(d, 0x44, &info), ==, 0);
        g_assert_true(info.caps_known);
        g_assert_true(info.af_flr);
}

/* Random bytes with a plausible header: whatever the lists say, the parse
 * succeeds, terminates and stays within the buffer.  Seeded by GTest, so
 * a failure is reproducible with --seed. */
static void test_random(void) {
        static const size_t sizes[] = { 64, 65, 100, 255, 256, 257, 1000, 4095, 4096 };

        for (unsigned iter = 0; iter < 2000; iter++) {
                size_t n = sizes[iter % G_N_ELEMENTS(sizes)];
                g_autofree uint8_t *d = g_malloc(n);
                PciConfigInfo info;

                for (size_t i = 0; i < n; i++)
                        d[i] = (uint8_t) g_test_rand_int_range(0, 256);
                put16(d, 0x00, 0x8086);
                d[0x06] |= 0x10;
                d[0x0e] &= 0x83;
                if (n >= 0x100 && iter % 2 == 0) {
                        /* Make it PCIe so the extended walk runs too. */
                        d[0x34] = 0x40;
                        d[0x40] = 0x10;
                        if (n >= 4096 && iter % 4 == 0)
                                put32(d, 0x100, 0x10000 | 0x10 | (uint32_t) g_test_rand_int_range(0, 4096) << 20);
                }

                g_assert_cmpint(pci_config_parse(d, n, &info), ==, 0);
                g_assert_cmpuint(info.size, ==, n);
                if (info.msix)
                        g_assert_cmpuint(info.msix_table_size, >=, 1);
                if (info.ext_caps_known)
                        g_assert_true(info.pcie && n == 4096);
        }
}

static void test_type_to_string(void) {
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_NONE), ==, "");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_ENDPOINT), ==, "endpoint");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_LEGACY_ENDPOINT), ==, "legacy-endpoint");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_ROOT_PORT), ==, "root-port");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_UPSTREAM_PORT), ==, "upstream-port");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_DOWNSTREAM_PORT), ==, "downstream-port");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_PCIE_TO_PCI_BRIDGE), ==, "pcie-to-pci-bridge");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_PCI_TO_PCIE_BRIDGE), ==, "pci-to-pcie-bridge");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_RC_INTEGRATED_ENDPOINT), ==, "rc-integrated-endpoint");
        g_assert_cmpstr(pci_express_type_to_string(PCIE_TYPE_RC_EVENT_COLLECTOR), ==, "rc-event-collector");
        /* Reserved encodings. */
        g_assert_cmpstr(pci_express_type_to_string((PciExpressType) 0x2), ==, "unknown");
        g_assert_cmpstr(pci_express_type_to_string((PciExpressType) 0x3), ==, "unknown");
        g_assert_cmpstr(pci_express_type_to_string((PciExpressType) 0xb), ==, "unknown");
        g_assert_cmpstr(pci_express_type_to_string((PciExpressType) 0xf), ==, "unknown");
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(config_fixtures); i++) {
                g_autofree char *path = g_strconcat("/pci-config/fixture/", config_fixtures[i].name, NULL);
                g_test_add_data_func(path, &config_fixtures[i], test_fixture);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(vm_config_fixtures); i++) {
                g_autofree char *path = g_strconcat("/pci-config/fixture/", vm_config_fixtures[i].name, NULL);
                g_test_add_data_func(path, &vm_config_fixtures[i], test_fixture);
        }

        g_test_add_func("/pci-config/synthetic-endpoint", test_synthetic_endpoint);
        g_test_add_func("/pci-config/truncated-64", test_truncated_64);
        g_test_add_func("/pci-config/truncated-256", test_truncated_256);
        g_test_add_func("/pci-config/cap-pointer-beyond-buffer", test_cap_pointer_beyond_buffer);
        g_test_add_func("/pci-config/cap-list-end-and-masking", test_cap_list_end_and_masking);
        g_test_add_func("/pci-config/cap-loop", test_cap_loop);
        g_test_add_func("/pci-config/ext-cap-loop", test_ext_cap_loop);
        g_test_add_func("/pci-config/ext-cap-edges", test_ext_cap_edges);
        g_test_add_func("/pci-config/all-ones", test_all_ones);
        g_test_add_func("/pci-config/vf-all-ones-ids", test_vf_all_ones_ids);
        g_test_add_func("/pci-config/type1-bridge", test_type1_bridge);
        g_test_add_func("/pci-config/af-flr", test_af_flr);
        g_test_add_func("/pci-config/random", test_random);
        g_test_add_func("/pci-config/type-to-string", test_type_to_string);

        return g_test_run();
}
