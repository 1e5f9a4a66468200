/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "pci-address.h"

static void test_valid(void) {
        static const struct {
                const char *in, *canonical;
                uint32_t domain;
                uint8_t bus, device, function;
        } cases[] = {
                { "0000:00:00.0", "0000:00:00.0", 0, 0, 0, 0 },
                { "0000:03:00.0", "0000:03:00.0", 0, 3, 0, 0 },
                { "0000:ff:1f.7", "0000:ff:1f.7", 0, 0xff, 0x1f, 7 },
                { "ABCD:EF:1A.3", "abcd:ef:1a.3", 0xabcd, 0xef, 0x1a, 3 },
                { "ffff:00:02.0", "ffff:00:02.0", 0xffff, 0, 2, 0 },
                { "10000:00:00.0", "10000:00:00.0", 0x10000, 0, 0, 0 },      /* VMD */
                { "ffffffff:01:02.3", "ffffffff:01:02.3", 0xffffffff, 1, 2, 3 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                PciAddress a;
                char buf[PCI_ADDRESS_STRLEN];

                g_assert_cmpint(pci_address_parse(cases[i].in, &a), ==, 0);
                g_assert_cmpuint(a.domain, ==, cases[i].domain);
                g_assert_cmpuint(a.bus, ==, cases[i].bus);
                g_assert_cmpuint(a.device, ==, cases[i].device);
                g_assert_cmpuint(a.function, ==, cases[i].function);
                g_assert_cmpstr(pci_address_format(&a, buf), ==, cases[i].canonical);
        }
}

static void test_invalid(void) {
        static const char *const bad[] = {
                "", ":", "0", "0000", "0000:00", "0000:00:02", "0000:00:02.", "00:02.0",
                "0:00:02.0", "000:00:02.0", "zzzz:00:02.0", "0000:0g:02.0", "0000:00:0x.0",
                "0000:00:20.0",           /* device > 0x1f */
                "0000:00:02.8", "0000:00:02.a", "0000:00:02.00",
                "0000:000:02.0", "0000:00:002.0", "0000:0:02.0", "0000:00:2.0",
                "0000:00:02.0 ", " 0000:00:02.0", "0000:00:02.0\n", "0000:00:02.0/",
                "../../etc", "0000:00:02.0/../../etc", "/sys/bus/pci/devices/0000:00:02.0",
                "0000-00-02.0", "0000:00:02:0", "0000.00:02.0", "+000:00:02.0", "-000:00:02.0",
                "100000000:00:02.0",      /* 9 digits of domain */
                "0000:00:02.0x", "0000:00:02.0\t",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                PciAddress a = { .domain = 0x1234 };

                if (pci_address_parse(bad[i], &a) != -EINVAL)
                        g_error("accepted invalid address \"%s\"", bad[i]);
                /* output untouched on failure */
                g_assert_cmpuint(a.domain, ==, 0x1234);
        }
        g_assert_cmpint(pci_address_parse(NULL, NULL), ==, -EINVAL);
}

static void test_embedded_nul(void) {
        static const char s[] = "0000:00:02.0\0../../etc";
        static const char s2[] = "0000:00\0:02.0";
        PciAddress a;

        /* the length-aware parser sees the NUL as junk */
        g_assert_cmpint(pci_address_parse_n(s, sizeof s - 1, &a), ==, -EINVAL);
        g_assert_cmpint(pci_address_parse_n(s2, sizeof s2 - 1, &a), ==, -EINVAL);
        g_assert_cmpint(pci_address_parse_n(s, 12, &a), ==, 0);
}

static void test_long(void) {
        /* a 4 KiB hostile string is refused without reading it whole */
        char *big = g_malloc(4097);
        PciAddress a;

        memset(big, 'a', 4096);
        big[4096] = 0;
        g_assert_cmpint(pci_address_parse(big, &a), ==, -EINVAL);
        memcpy(big, "0000:00:02.0", 12);
        g_assert_cmpint(pci_address_parse(big, &a), ==, -EINVAL);
        g_free(big);
}

static void test_order(void) {
        PciAddress a, b, c;

        g_assert_cmpint(pci_address_parse("0000:00:1f.7", &a), ==, 0);
        g_assert_cmpint(pci_address_parse("0000:01:00.0", &b), ==, 0);
        g_assert_cmpint(pci_address_parse("0001:00:00.0", &c), ==, 0);
        g_assert_cmpint(pci_address_compare(&a, &b), <, 0);
        g_assert_cmpint(pci_address_compare(&b, &c), <, 0);
        g_assert_cmpint(pci_address_compare(&c, &c), ==, 0);
        g_assert_true(pci_address_same_slot(&a, &a));
        g_assert_false(pci_address_same_slot(&a, &b));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/pci-address/valid", test_valid);
        g_test_add_func("/pci-address/invalid", test_invalid);
        g_test_add_func("/pci-address/embedded-nul", test_embedded_nul);
        g_test_add_func("/pci-address/long", test_long);
        g_test_add_func("/pci-address/order", test_order);
        return g_test_run();
}
