/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci_address_parse_n() / pci_address_parse() / pci_address_format()
 * against src/pci-address.h:
 *  - the verdict and the value agree with an independent reading of the
 *    documented grammar (4..8 hex digits of domain, ':', 2 of bus, ':', 2
 *    of device <= 0x1f, '.', one digit 0-7, end; case-insensitive);
 *  - nothing is written to *ret on failure; ret may be NULL;
 *  - pci_address_parse() of the NUL-terminated text sees what precedes
 *    the first NUL;
 *  - the canonical form is lower-case, fits PCI_ADDRESS_STRLEN, parses
 *    back to the same value, formats to itself, and equals the input up to
 *    case and leading zeros of the domain beyond four digits. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "pci-address.h"

/* Position-based reading of the grammar: the length fixes the domain's
 * width, every other character has a fixed place. */
static bool reference_parse(const char *s, size_t n, PciAddress *ret) {
        uint64_t dom = 0;
        size_t dl;
        int b1, b2, d1, d2;

        /* domain, then ":BB:DD.F" */
        if (n < 4 + 8 || n > 8 + 8)
                return false;
        dl = n - 8;
        for (size_t i = 0; i < dl; i++) {
                int v = fuzz_hexval((unsigned char) s[i]);
                if (v < 0)
                        return false;
                dom = dom * 16 + (uint64_t) v;
        }
        if (s[dl] != ':' || s[dl + 3] != ':' || s[dl + 6] != '.')
                return false;
        b1 = fuzz_hexval((unsigned char) s[dl + 1]);
        b2 = fuzz_hexval((unsigned char) s[dl + 2]);
        d1 = fuzz_hexval((unsigned char) s[dl + 4]);
        d2 = fuzz_hexval((unsigned char) s[dl + 5]);
        if (b1 < 0 || b2 < 0 || d1 < 0 || d2 < 0)
                return false;
        if (d1 * 16 + d2 > 0x1f)
                return false;
        if (s[dl + 7] < '0' || s[dl + 7] > '7')
                return false;

        *ret = (PciAddress) {
                .domain = (uint32_t) dom,
                .bus = (uint8_t) (b1 * 16 + b2),
                .device = (uint8_t) (d1 * 16 + d2),
                .function = (uint8_t) (s[dl + 7] - '0'),
        };
        return true;
}

static bool same(const PciAddress *a, const PciAddress *b) {
        return a->domain == b->domain && a->bus == b->bus && a->device == b->device &&
               a->function == b->function;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const PciAddress sentinel = { .domain = 0xdeadbeef, .bus = 0xaa, .device = 0xbb, .function = 0xcc };
        const char *s = (const char *) data;
        PciAddress a = sentinel, ref, z;
        char *text;
        size_t len;
        bool ok;
        int r, rz;

        r = pci_address_parse_n(s, size, &a);
        FUZZ_CHECK(r == 0 || r == -EINVAL);
        FUZZ_CHECK(pci_address_parse_n(s, size, NULL) == r);
        ok = reference_parse(s, size, &ref);
        FUZZ_CHECK(ok == (r == 0));
        if (r < 0)
                FUZZ_CHECK(same(&a, &sentinel));
        else
                FUZZ_CHECK(same(&a, &ref));

        /* The NUL-terminated entry point reads up to the first NUL. */
        text = malloc(size + 1);
        FUZZ_CHECK(text);
        memcpy(text, data, size);
        text[size] = 0;
        len = strlen(text);
        z = sentinel;
        rz = pci_address_parse(text, &z);
        FUZZ_CHECK(rz == pci_address_parse_n(text, len, NULL));
        if (len == size)
                FUZZ_CHECK(rz == r && (r < 0 || same(&z, &a)));
        if (rz < 0)
                FUZZ_CHECK(same(&z, &sentinel));
        free(text);

        if (r == 0) {
                char buf[PCI_ADDRESS_STRLEN], buf2[PCI_ADDRESS_STRLEN];
                PciAddress back = sentinel;
                size_t skip = 0, dl = size - 8, n;

                FUZZ_CHECK(pci_address_format(&a, buf) == buf);
                n = strnlen(buf, sizeof buf);
                FUZZ_CHECK(n < sizeof buf);
                for (size_t i = 0; i < n; i++)
                        FUZZ_CHECK(!(buf[i] >= 'A' && buf[i] <= 'Z'));
                FUZZ_CHECK(pci_address_parse(buf, &back) == 0);
                FUZZ_CHECK(same(&back, &a));
                FUZZ_CHECK(pci_address_equal(&back, &a));
                FUZZ_CHECK(pci_address_compare(&back, &a) == 0);
                FUZZ_CHECK(strcmp(pci_address_format(&back, buf2), buf) == 0);

                /* Canonical = the input without the domain's leading zeros
                 * beyond four digits, in lower case. */
                while (dl - skip > 4 && s[skip] == '0')
                        skip++;
                FUZZ_CHECK(size - skip == n);
                FUZZ_CHECK(strncasecmp(s + skip, buf, n) == 0);

                /* The key orders like the tuple (domain, bus, device, function). */
                if (a.function < 7) {
                        PciAddress next = a;
                        next.function++;
                        FUZZ_CHECK(pci_address_compare(&a, &next) < 0);
                        FUZZ_CHECK(pci_address_compare(&next, &a) > 0);
                        FUZZ_CHECK(pci_address_same_slot(&a, &next));
                }
                if (a.domain < UINT32_MAX) {
                        PciAddress up = { .domain = a.domain + 1 };
                        FUZZ_CHECK(pci_address_compare(&a, &up) < 0);
                        FUZZ_CHECK(!pci_address_same_slot(&a, &up));
                }
        }
        return 0;
}
