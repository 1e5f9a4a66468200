/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pci-address.h"

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads exactly [min, max] hex digits from s[*i..n), stops at the first
 * non-hex character. */
static int read_hex(const char *s, size_t n, size_t *i, unsigned min, unsigned max, uint32_t *ret) {
        uint32_t v = 0;
        unsigned k = 0;

        while (*i < n && k < max + 1) {
                int d = hexval(s[*i]);
                if (d < 0)
                        break;
                v = (v << 4) | (uint32_t) d;
                (*i)++;
                k++;
        }
        if (k < min || k > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

int pci_address_parse_n(const char *s, size_t n, PciAddress *ret) {
        uint32_t dom, bus, dev, fn;
        size_t i = 0;

        if (!s)
                return -EINVAL;
        /* The longest valid form is 8+1+2+1+2+1+1 = 16 characters; refuse
         * anything longer before looking at it. */
        if (n > PCI_ADDRESS_STRLEN - 1)
                return -EINVAL;

        if (read_hex(s, n, &i, 4, 8, &dom) < 0)
                return -EINVAL;
        if (i >= n || s[i++] != ':')
                return -EINVAL;
        if (read_hex(s, n, &i, 2, 2, &bus) < 0)
                return -EINVAL;
        if (i >= n || s[i++] != ':')
                return -EINVAL;
        if (read_hex(s, n, &i, 2, 2, &dev) < 0 || dev > 0x1f)
                return -EINVAL;
        if (i >= n || s[i++] != '.')
                return -EINVAL;
        if (i >= n || s[i] < '0' || s[i] > '7')
                return -EINVAL;
        fn = (uint32_t) (s[i++] - '0');
        if (i != n)
                return -EINVAL;

        if (ret)
                *ret = (PciAddress) {
                        .domain = dom,
                        .bus = (uint8_t) bus,
                        .device = (uint8_t) dev,
                        .function = (uint8_t) fn,
                };
        return 0;
}

int pci_address_parse(const char *s, PciAddress *ret) {
        if (!s)
                return -EINVAL;
        /* strnlen bound: anything longer than the longest form is invalid,
         * and we never scan a hostile 4 KiB string to its end. */
        return pci_address_parse_n(s, strnlen(s, PCI_ADDRESS_STRLEN), ret);
}

const char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_STRLEN]) {
        snprintf(buf, PCI_ADDRESS_STRLEN, "%04x:%02x:%02x.%x",
                 a->domain, a->bus, a->device, a->function);
        return buf;
}

int pci_address_compare(const PciAddress *a, const PciAddress *b) {
        uint64_t x = pci_address_key(a), y = pci_address_key(b);
        return x < y ? -1 : x > y ? 1 : 0;
}
