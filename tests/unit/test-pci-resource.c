/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "pci-resource.h"

/* sysfs `resource` files recorded from real devices live in
 * $PCI_ASSIGND_TEST_DATA/resource/<name>.txt. */

static GBytes *load_fixture(const char *name) {
        g_autofree char *path = NULL, *file = NULL;
        g_autoptr(GError) error = NULL;
        const char *dir;
        char *contents;
        gsize len;

        dir = g_getenv("PCI_ASSIGND_TEST_DATA");
        if (!dir)
                g_error("PCI_ASSIGND_TEST_DATA is not set (meson test sets it to <source>/tests/data)");

        file = g_strconcat(name, ".txt", NULL);
        path = g_build_filename(dir, "resource", file, NULL);
        if (!g_file_get_contents(path, &contents, &len, &error))
                g_error("%s", error->message);
        return g_bytes_new_take(contents, len);
}

static int parse_exact(const char *text, size_t n, PciResources *ret) {
        /* Exactly n bytes on the heap, no terminating NUL: the parser must
         * stop at n, and memcheck says so if it doesn't. */
        g_autofree char *copy = g_memdup2(text, n);
        return pci_resources_parse(copy, n, ret);
}

static int parse_str(const char *text, PciResources *ret) {
        return parse_exact(text, strlen(text), ret);
}

#define ZERO "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"

typedef struct ResourceFixture {
        const char *name;
        size_t n_bars;
        PciBar bars[PCI_NUM_BARS];
        bool sub_page_4k[PCI_NUM_BARS];
} ResourceFixture;

/* Expected values from `lspci -vvv` for the same device (quoted). */
static const ResourceFixture resource_fixtures[] = {
        /* Build host, 00:01.0 virtio balloon:
         * "Region 0: Memory at 4000000000 (64-bit, non-prefetchable) [size=512K]" */
        {
                .name = "host-virtio-balloon",
                .n_bars = 1,
                .bars = {
                        { .index = 0, .start = 0x4000000000, .size = 0x80000, .flags = 0x140204,
                          .mem = true, .mem64 = true },
                },
        },
        /* 00:02.0 virtio blk: "Memory at 4000080000 (64-bit, non-prefetchable) [size=512K]" */
        {
                .name = "host-virtio-blk",
                .n_bars = 1,
                .bars = {
                        { .index = 0, .start = 0x4000080000, .size = 0x80000, .flags = 0x140204,
                          .mem = true, .mem64 = true },
                },
        },
        /* 00:03.0 virtio net: "Memory at 4000100000 (64-bit, non-prefetchable) [size=512K]" */
        {
                .name = "host-virtio-net",
                .n_bars = 1,
                .bars = {
                        { .index = 0, .start = 0x4000100000, .size = 0x80000, .flags = 0x140204,
                          .mem = true, .mem64 = true },
                },
        },
        /* 00:04.0 virtio vsock: "Memory at 4000180000 (64-bit, non-prefetchable) [size=512K]" */
        {
                .name = "host-virtio-vsock",
                .n_bars = 1,
                .bars = {
                        { .index = 0, .start = 0x4000180000, .size = 0x80000, .flags = 0x140204,
                          .mem = true, .mem64 = true },
                },
        },
        /* 00:05.0 virtio rng: "Memory at 4000200000 (64-bit, non-prefetchable) [size=512K]" */
        {
                .name = "host-virtio-rng",
                .n_bars = 1,
                .bars = {
                        { .index = 0, .start = 0x4000200000, .size = 0x80000, .flags = 0x140204,
                          .mem = true, .mem64 = true },
                },
        },
        /* 00:00.0 host bridge: no regions, 7 all-zero lines. */
        {
                .name = "host-virtio-host-bridge",
                .n_bars = 0,
        },
};

#define MEM32(i, s, n)   { .index = (i), .start = (s), .size = (n), .flags = 0x40200, .mem = true }
#define MEM64(i, s, n)   { .index = (i), .start = (s), .size = (n), .flags = 0x140204, .mem = true, .mem64 = true }
#define MEM64PF(i, s, n) { .index = (i), .start = (s), .size = (n), .flags = 0x14220c, .mem = true, .mem64 = true, .prefetch = true }
#define IO(i, s, n)      { .index = (i), .start = (s), .size = (n), .flags = 0x40101 }

/* The 82574L (e1000e): "Region 0/1: Memory (32-bit, non-prefetchable)
 * [size=128K]", "Region 2: I/O ports [size=32]", "Region 3: Memory
 * (32-bit, non-prefetchable) [size=16K]"; the ROM (line 6) is not a BAR. */
#define E1000E(b0, b1, io, b3)                                          \
        .n_bars = 4,                                                    \
        .bars = { MEM32(0, b0, 0x20000), MEM32(1, b1, 0x20000),         \
                  IO(2, io, 0x20), MEM32(3, b3, 0x4000) }

/* Recorded in the q35 guest (tests/vm), 13 lines for endpoints (BARs, ROM,
 * SR-IOV BARs), 17 for bridges (+ windows).  Regions quoted from
 * tests/data/config/lspci-vvv.txt. */
static const ResourceFixture vm_resource_fixtures[] = {
        /* 00:00.0: no regions */
        { .name = "q35-host-bridge", .n_bars = 0 },
        /* 00:02.0: Memory at fd700000, fd720000, I/O ports at 7080,
         * Memory at fd800000 */
        { .name = "e1000e-rootbus", E1000E(0xfd700000, 0xfd720000, 0x7080, 0xfd800000) },
        /* 00:05.0: fd780000, fd7a0000, I/O 70c0, fd808000 */
        { .name = "e1000e-multifunction-f0", E1000E(0xfd780000, 0xfd7a0000, 0x70c0, 0xfd808000) },
        /* 00:05.1: fd7c0000, fd7e0000, I/O 70e0, fd80c000 */
        { .name = "e1000e-multifunction-f1", E1000E(0xfd7c0000, 0xfd7e0000, 0x70e0, 0xfd80c000) },
        /* 00:06.0: "Region 0: Memory at fd810000 (32-bit,
         * non-prefetchable) [size=4K]"; bridge windows on lines 13-15 */
        { .name = "pcie-root-port", .n_bars = 1, .bars = { MEM32(0, 0xfd810000, 0x1000) } },
        /* 00:08.0: Memory at fd812000 [size=4K] */
        { .name = "pcie-root-port-empty", .n_bars = 1, .bars = { MEM32(0, 0xfd812000, 0x1000) } },
        /* 00:0b.0: Memory at fd815000 [size=4K] */
        { .name = "pcie-root-port-2_5gt", .n_bars = 1, .bars = { MEM32(0, 0xfd815000, 0x1000) } },
        /* 00:1e.0: "Region 0: I/O ports at 7000 [size=64]", "Region 1:
         * Memory at fd818000 (32-bit, non-prefetchable) [size=4K]",
         * "Region 4: Memory at fea04000 (64-bit, prefetchable) [size=16K]" */
        {
                .name = "virtio-9p",
                .n_bars = 3,
                .bars = { IO(0, 0x7000, 0x40), MEM32(1, 0xfd818000, 0x1000), MEM64PF(4, 0xfea04000, 0x4000) },
        },
        /* 00:1f.0: no regions */
        { .name = "ich9-lpc", .n_bars = 0 },
        /* 00:1f.2: "Region 4: I/O ports at 7120 [size=32]", "Region 5:
         * Memory at fd819000 (32-bit, non-prefetchable) [size=4K]" */
        {
                .name = "ich9-ahci",
                .n_bars = 2,
                .bars = { IO(4, 0x7120, 0x20), MEM32(5, 0xfd819000, 0x1000) },
        },
        /* 00:1f.3: "Region 4: I/O ports at 0700 [size=64]" */
        { .name = "ich9-smbus", .n_bars = 1, .bars = { IO(4, 0x0700, 0x40) } },
        /* 01:00.0: "Region 0: Memory at fd400000 (64-bit,
         * non-prefetchable) [size=16K]"; the VF BAR (fd404000, line 7) is
         * not one of the PF's BARs */
        { .name = "nvme-pf", .n_bars = 1, .bars = { MEM64(0, 0xfd400000, 0x4000) } },
        { .name = "nvme-pf-novfs", .n_bars = 1, .bars = { MEM64(0, 0xfd400000, 0x4000) } },
        /* 01:00.1: "Region 0: Memory at fd404000 (64-bit,
         * non-prefetchable) [virtual] [size=16K]" */
        { .name = "nvme-vf", .n_bars = 1, .bars = { MEM64(0, 0xfd404000, 0x4000) } },
        /* 02:00.0: fd240000, fd260000, I/O 6000, fd280000 */
        { .name = "e1000e-behind-root-port", E1000E(0xfd240000, 0xfd260000, 0x6000, 0xfd280000) },
        /* 04:00.0: "Region 0: Memory at fca00000 (64-bit,
         * non-prefetchable) [size=256]": a real sub-page BAR */
        {
                .name = "pcie-pci-bridge",
                .n_bars = 1,
                .bars = { MEM64(0, 0xfca00000, 0x100) },
                .sub_page_4k = { true },
        },
        /* 05:01.0: "Region 0: Memory at fc880000 (32-bit,
         * non-prefetchable) [size=128K]", "Region 1: I/O ports at 5000
         * [size=64]" */
        {
                .name = "e1000-behind-bridge",
                .n_bars = 2,
                .bars = { MEM32(0, 0xfc880000, 0x20000), IO(1, 0x5000, 0x40) },
        },
        /* 06:00.0, 07:00.0: no regions, only windows */
        { .name = "xio3130-upstream", .n_bars = 0 },
        { .name = "xio3130-downstream", .n_bars = 0 },
        /* 08:00.0: fc640000, fc660000, I/O 2000, fc680000 */
        { .name = "e1000e-behind-switch", E1000E(0xfc640000, 0xfc660000, 0x2000, 0xfc680000) },
        /* 0b:00.0: fcc80000, fcca0000, I/O 3000, fcd00000 */
        { .name = "e1000e-multifunction-port-f0", E1000E(0xfcc80000, 0xfcca0000, 0x3000, 0xfcd00000) },
        /* 0b:00.1: fccc0000, fcce0000, I/O 3020, fcd04000 */
        { .name = "e1000e-multifunction-port-f1", E1000E(0xfccc0000, 0xfcce0000, 0x3020, 0xfcd04000) },
};

static void assert_bar_equal(const PciBar *got, const PciBar *exp) {
        g_assert_cmpuint(got->index, ==, exp->index);
        g_assert_cmphex(got->start, ==, exp->start);
        g_assert_cmphex(got->size, ==, exp->size);
        g_assert_cmphex(got->flags, ==, exp->flags);
        g_assert_cmpint(got->mem, ==, exp->mem);
        g_assert_cmpint(got->prefetch, ==, exp->prefetch);
        g_assert_cmpint(got->mem64, ==, exp->mem64);
}

static void test_fixture(gconstpointer user_data) {
        const ResourceFixture *f = user_data;
        g_autoptr(GBytes) bytes = load_fixture(f->name);
        PciResources res;
        const char *text;
        gsize size;

        text = g_bytes_get_data(bytes, &size);
        g_assert_cmpint(parse_exact(text, size, &res), ==, 0);
        g_assert_cmpuint(res.n_bars, ==, f->n_bars);
        for (size_t i = 0; i < res.n_bars; i++) {
                assert_bar_equal(&res.bars[i], &f->bars[i]);
                g_assert_cmpint(pci_bar_is_sub_page(&res.bars[i], 4096), ==, f->sub_page_4k[i]);
        }

        /* The same without the final newline. */
        g_assert_cmpuint(size, >, 0);
        g_assert_cmpint(text[size - 1], ==, '\n');
        g_assert_cmpint(parse_exact(text, size - 1, &res), ==, 0);
        g_assert_cmpuint(res.n_bars, ==, f->n_bars);

        /* Shorter cuts: fewer than six lines is an error; otherwise the
         * BARs on complete lines are the ones of the whole file.  (A cut
         * inside the last line's number can't be told from a short number:
         * the caller reads the file whole.) */
        for (size_t n = 0; n < size - 1; n++) {
                size_t complete = 0, lines;
                PciResources part;
                int r;

                for (size_t i = 0; i < n; i++)
                        if (text[i] == '\n')
                                complete++;
                lines = complete + (n > 0 && text[n - 1] != '\n');

                r = parse_exact(text, n, &part);
                if (lines < PCI_NUM_BARS) {
                        g_assert_cmpint(r, ==, -EINVAL);
                        continue;
                }
                if (r < 0)
                        continue;
                for (size_t i = 0; i < part.n_bars; i++)
                        if (part.bars[i].index < complete)
                                assert_bar_equal(&part.bars[i], &res.bars[i]);
        }
}

static void test_bar_kinds(void) {
        PciResources res;
        const char *text =
                /* 0: 64-bit non-prefetchable MMIO, 16 KiB, occupies BAR 0+1 */
                "0x00000000fe000000 0x00000000fe003fff 0x0000000000140204\n"
                ZERO
                /* 2: I/O ports, 32 bytes */
                "0x000000000000c000 0x000000000000c01f 0x0000000000040101\n"
                /* 3: 32-bit MMIO, 256 bytes: sub-page */
                "0x00000000fe004000 0x00000000fe0040ff 0x0000000000040200\n"
                /* 4: 64-bit prefetchable MMIO, 8 MiB */
                "0x0000008000000000 0x00000080007fffff 0x000000000014220c\n"
                ZERO
                /* ROM, 256 KiB */
                "0x00000000fe040000 0x00000000fe07ffff 0x0000000000046200\n";

        g_assert_cmpint(parse_str(text, &res), ==, 0);
        g_assert_cmpuint(res.n_bars, ==, 4);
        assert_bar_equal(&res.bars[0], &(PciBar) {
                .index = 0, .start = 0xfe000000, .size = 0x4000, .flags = 0x140204,
                .mem = true, .mem64 = true,
        });
        assert_bar_equal(&res.bars[1], &(PciBar) {
                .index = 2, .start = 0xc000, .size = 0x20, .flags = 0x40101,
        });
        assert_bar_equal(&res.bars[2], &(PciBar) {
                .index = 3, .start = 0xfe004000, .size = 0x100, .flags = 0x40200,
                .mem = true,
        });
        assert_bar_equal(&res.bars[3], &(PciBar) {
                .index = 4, .start = 0x8000000000, .size = 0x800000, .flags = 0x14220c,
                .mem = true, .prefetch = true, .mem64 = true,
        });

        g_assert_false(pci_bar_is_sub_page(&res.bars[0], 4096));
        g_assert_true(pci_bar_is_sub_page(&res.bars[0], 65536));
        /* I/O ports are not mmapped: never sub-page. */
        g_assert_false(pci_bar_is_sub_page(&res.bars[1], 4096));
        g_assert_true(pci_bar_is_sub_page(&res.bars[2], 4096));
        g_assert_false(pci_bar_is_sub_page(&res.bars[3], 4096));
        g_assert_false(pci_bar_is_sub_page(&res.bars[3], 65536));
}

static void test_sub_page(void) {
        /* Page sized and aligned. */
        PciBar bar = { .start = 0xfe001000, .size = 0x1000, .mem = true };
        g_assert_false(pci_bar_is_sub_page(&bar, 4096));

        /* Smaller than a page. */
        bar = (PciBar) { .start = 0xfe001000, .size = 0x800, .mem = true };
        g_assert_true(pci_bar_is_sub_page(&bar, 4096));

        /* Big enough but not aligned: shares its first and last page. */
        bar = (PciBar) { .start = 0xfe000800, .size = 0x2000, .mem = true };
        g_assert_true(pci_bar_is_sub_page(&bar, 4096));

        /* Aligned start, size not a page multiple (not a real BAR size,
         * but its last page would be shared). */
        bar = (PciBar) { .start = 0xfe000000, .size = 0x1800, .mem = true };
        g_assert_true(pci_bar_is_sub_page(&bar, 4096));

        /* I/O BARs never are, whatever their size. */
        bar = (PciBar) { .start = 0xc004, .size = 0x4 };
        g_assert_false(pci_bar_is_sub_page(&bar, 4096));

        bar = (PciBar) { .start = 0xfe001000, .size = 0x800, .mem = true };
        g_assert_false(pci_bar_is_sub_page(&bar, 0));
        g_assert_false(pci_bar_is_sub_page(NULL, 4096));
}

static void test_newline_and_lines(void) {
        PciResources res;
        g_autoptr(GString) s = g_string_new(NULL);

        /* Six lines (the BARs) are the least a resource file has. */
        for (unsigned i = 0; i < 5; i++)
                g_string_append(s, ZERO);
        g_assert_cmpint(parse_str(s->str, &res), ==, -EINVAL);
        g_string_append(s, ZERO);
        g_assert_cmpint(parse_str(s->str, &res), ==, 0);
        g_assert_cmpuint(res.n_bars, ==, 0);

        /* Up to 17 (DEVICE_COUNT_RESOURCE), the last without newline. */
        for (unsigned i = 6; i < 17; i++)
                g_string_append(s, ZERO);
        g_assert_cmpint(parse_str(s->str, &res), ==, 0);
        g_assert_cmpint(parse_exact(s->str, s->len - 1, &res), ==, 0);
        g_string_append(s, ZERO);
        g_assert_cmpint(parse_str(s->str, &res), ==, -EINVAL);

        g_assert_cmpint(parse_exact("", 0, &res), ==, -EINVAL);
        g_assert_cmpint(pci_resources_parse(NULL, 0, &res), ==, -EINVAL);
}

/* Replaces BAR line `line` of an otherwise valid 7 line file with `bad`. */
static void assert_line_rejected(unsigned line, const char *bad) {
        g_autoptr(GString) s = g_string_new(NULL);
        PciResources res;

        for (unsigned i = 0; i < 7; i++)
                g_string_append(s, i == line ? bad : ZERO);

        memset(&res, 0x5a, sizeof(res));
        if (parse_str(s->str, &res) != -EINVAL)
                g_error("accepted line %u: \"%s\"", line, bad);
        /* ret is left alone on failure. */
        for (size_t i = 0; i < sizeof(res); i++)
                g_assert_cmphex(((uint8_t *) &res)[i], ==, 0x5a);
}

static void test_malformed(void) {
        static const char *const bad[] = {
                /* bad hex */
                "0x00000000fe00000g 0x00000000fe000fff 0x0000000000040200\n",
                "0x00000000fe000000 0x00000000fe000fff 0x00000000000402-0\n",
                /* no or wrong prefix */
                "00000000fe000000 0x00000000fe000fff 0x0000000000040200\n",
                "0X00000000fe000000 0x00000000fe000fff 0x0000000000040200\n",
                "0x 0x00000000fe000fff 0x0000000000040200\n",
                "-0x1 0x00000000fe000fff 0x0000000000040200\n",
                /* missing fields */
                "0x00000000fe000000 0x00000000fe000fff\n",
                "0x00000000fe000000\n",
                "\n",
                /* an extra field, stray blanks, DOS line end */
                "0x00000000fe000000 0x00000000fe000fff 0x0000000000040200 0x0\n",
                "0x00000000fe000000  0x00000000fe000fff 0x0000000000040200\n",
                "0x00000000fe000000\t0x00000000fe000fff 0x0000000000040200\n",
                " 0x00000000fe000000 0x00000000fe000fff 0x0000000000040200\n",
                "0x00000000fe000000 0x00000000fe000fff 0x0000000000040200 \n",
                "0x00000000fe000000 0x00000000fe000fff 0x0000000000040200\r\n",
                /* overflow: 17 digits, even with a leading zero */
                "0x10000000000000000 0x00000000fe000fff 0x0000000000040200\n",
                "0x000000000fe000000 0x00000000fe000fff 0x0000000000040200\n",
                /* end < start */
                "0x00000000fe001000 0x00000000fe000fff 0x0000000000040200\n",
                /* a 2^64 byte BAR */
                "0x0000000000000000 0xffffffffffffffff 0x0000000000040200\n",
                /* neither I/O nor memory, or both */
                "0x00000000fe000000 0x00000000fe000fff 0x0000000000040000\n",
                "0x00000000fe000000 0x00000000fe000fff 0x0000000000040300\n",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                assert_line_rejected(0, bad[i]);
                assert_line_rejected(5, bad[i]);
        }

        /* An embedded NUL is not a line end; the text is n bytes, not a
         * C string. */
        {
                static const char nul[] =
                        "0x00000000fe000000 0x00000000fe000fff 0x0000000000040200\0\n"
                        ZERO ZERO ZERO ZERO ZERO ZERO;

                g_assert_cmpint(parse_exact(nul, sizeof(nul) - 1, NULL), ==, -EINVAL);
        }

        /* The same syntax errors on the ROM line count, but the ROM and
         * windows are not sized: an empty window may read end = start - 1. */
        assert_line_rejected(6, bad[0]);
        assert_line_rejected(6, bad[6]);
        {
                g_autoptr(GString) s = g_string_new(NULL);
                PciResources res;

                for (unsigned i = 0; i < 6; i++)
                        g_string_append(s, ZERO);
                g_string_append(s, "0x00000000fe001000 0x00000000fe000fff 0x0000000000040200\n");
                g_assert_cmpint(parse_str(s->str, &res), ==, 0);
                g_assert_cmpuint(res.n_bars, ==, 0);
        }

        /* Short forms and upper case digits are well-formed numbers. */
        {
                g_autoptr(GString) s = g_string_new("0xFE000000 0xfe000FFF 0x200\n");
                PciResources res;

                for (unsigned i = 1; i < 7; i++)
                        g_string_append(s, ZERO);
                g_assert_cmpint(parse_str(s->str, &res), ==, 0);
                g_assert_cmpuint(res.n_bars, ==, 1);
                g_assert_cmphex(res.bars[0].start, ==, 0xfe000000);
                g_assert_cmphex(res.bars[0].size, ==, 0x1000);
                g_assert_true(res.bars[0].mem);
                g_assert_false(pci_bar_is_sub_page(&res.bars[0], 4096));
        }

        /* One byte BAR: end == start. */
        {
                g_autoptr(GString) s = g_string_new("0x000000000000c000 0x000000000000c000 0x0000000000000100\n");
                PciResources res;

                for (unsigned i = 1; i < 7; i++)
                        g_string_append(s, ZERO);
                g_assert_cmpint(parse_str(s->str, &res), ==, 0);
                g_assert_cmpuint(res.bars[0].size, ==, 1);
                g_assert_false(res.bars[0].mem);
        }
}

static void test_junk(void) {
        g_autofree char *junk = g_malloc(4096);
        g_autoptr(GString) s = g_string_new(NULL);

        /* 4 KiB of random bytes, then of a valid line repeated. */
        for (size_t i = 0; i < 4096; i++)
                junk[i] = (char) g_test_rand_int_range(0, 256);
        g_assert_cmpint(parse_exact(junk, 4096, NULL), ==, -EINVAL);

        memset(junk, 'f', 4096);
        g_assert_cmpint(parse_exact(junk, 4096, NULL), ==, -EINVAL);
        memcpy(junk, "0x", 2);
        g_assert_cmpint(parse_exact(junk, 4096, NULL), ==, -EINVAL);

        while (s->len < 4096)
                g_string_append(s, ZERO);
        g_assert_cmpint(parse_exact(s->str, s->len, NULL), ==, -EINVAL);

        /* Random cuts and byte flips of a valid file never crash or read
         * past the end; whatever parses has sane BARs. */
        for (unsigned iter = 0; iter < 2000; iter++) {
                static const char valid[] =
                        "0x00000000fe000000 0x00000000fe003fff 0x0000000000140204\n"
                        ZERO
                        "0x000000000000c000 0x000000000000c01f 0x0000000000040101\n"
                        ZERO ZERO ZERO
                        "0x00000000fe040000 0x00000000fe07ffff 0x0000000000046200\n";
                char buf[sizeof(valid)];
                size_t n = (size_t) g_test_rand_int_range(0, sizeof(valid));
                PciResources res;

                memcpy(buf, valid, sizeof(buf));
                buf[g_test_rand_int_range(0, sizeof(valid) - 1)] = (char) g_test_rand_int_range(0, 256);
                if (parse_exact(buf, n, &res) == 0) {
                        g_assert_cmpuint(res.n_bars, <=, PCI_NUM_BARS);
                        for (size_t i = 0; i < res.n_bars; i++) {
                                g_assert_cmpuint(res.bars[i].index, <, PCI_NUM_BARS);
                                g_assert_cmpuint(res.bars[i].size, >, 0);
                        }
                }
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(resource_fixtures); i++) {
                g_autofree char *path = g_strconcat("/pci-resource/fixture/", resource_fixtures[i].name, NULL);
                g_test_add_data_func(path, &resource_fixtures[i], test_fixture);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(vm_resource_fixtures); i++) {
                g_autofree char *path = g_strconcat("/pci-resource/fixture/", vm_resource_fixtures[i].name, NULL);
                g_test_add_data_func(path, &vm_resource_fixtures[i], test_fixture);
        }

        g_test_add_func("/pci-resource/bar-kinds", test_bar_kinds);
        g_test_add_func("/pci-resource/sub-page", test_sub_page);
        g_test_add_func("/pci-resource/newline-and-lines", test_newline_and_lines);
        g_test_add_func("/pci-resource/malformed", test_malformed);
        g_test_add_func("/pci-resource/junk", test_junk);

        return g_test_run();
}
