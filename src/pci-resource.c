/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "macro.h"
#include "pci-resource.h"

/* The kernel prints DEVICE_COUNT_RESOURCE lines at most: 6 BARs, the ROM,
 * 6 SR-IOV BARs and 4 bridge windows.  More is not a resource file. */
#define PCI_RESOURCE_MAX_LINES 17

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Reads "0x" and 1 to 16 hex digits from text[*i..n).  The kernel always
 * prints 16 digits; more than 16 cannot fit a resource_size_t. */
static int read_field(const char *text, size_t n, size_t *i, uint64_t *ret) {
        uint64_t v = 0;
        unsigned k = 0;
        size_t p = *i;

        if (n - p < 2 || text[p] != '0' || text[p + 1] != 'x')
                return -EINVAL;
        p += 2;

        for (; p < n; p++, k++) {
                int d = hexval(text[p]);
                if (d < 0)
                        break;
                if (k >= 16)
                        return -EINVAL;
                v = (v << 4) | (uint64_t) d;
        }
        if (k == 0)
                return -EINVAL;

        *i = p;
        *ret = v;
        return 0;
}

/* One line: three fields separated by single spaces, ended by '\n' or by
 * the end of the text. */
static int read_line(const char *text, size_t n, size_t *i, uint64_t ret[static 3]) {
        uint64_t v[3];
        size_t p = *i;
        int r;

        for (size_t f = 0; f < 3; f++) {
                if (f > 0) {
                        if (p >= n || text[p] != ' ')
                                return -EINVAL;
                        p++;
                }
                r = read_field(text, n, &p, &v[f]);
                if (r < 0)
                        return r;
        }

        if (p < n) {
                if (text[p] != '\n')
                        return -EINVAL;
                p++;
        }

        *i = p;
        memcpy(ret, v, sizeof(v));
        return 0;
}

int pci_resources_parse(const char *text, size_t n, PciResources *ret) {
        PciResources res = {};
        size_t i = 0, line = 0;

        if (!text)
                return -EINVAL;

        for (; i < n; line++) {
                uint64_t start, end, flags, v[3];
                int r;

                if (line >= PCI_RESOURCE_MAX_LINES)
                        return -EINVAL;

                r = read_line(text, n, &i, v);
                if (r < 0)
                        return r;
                start = v[0];
                end = v[1];
                flags = v[2];

                /* The ROM, SR-IOV BARs and bridge windows are only checked
                 * for syntax: newer kernels describe empty windows with
                 * end = start - 1, and nothing here is sized from them. */
                if (line >= PCI_NUM_BARS)
                        continue;
                if (start == 0 && end == 0 && flags == 0)
                        continue;

                /* end == UINT64_MAX with start 0 would be a 2^64 byte BAR. */
                if (end < start || (start == 0 && end == UINT64_MAX))
                        return -EINVAL;
                /* A BAR decodes either I/O or memory; anything else would
                 * make pci_bar_is_sub_page() guess. */
                if (!!(flags & PCI_RESOURCE_IO) == !!(flags & PCI_RESOURCE_MEM))
                        return -EINVAL;

                res.bars[res.n_bars++] = (PciBar) {
                        .index = (uint8_t) line,
                        .start = start,
                        .size = end - start + 1,
                        .flags = flags,
                        .mem = flags & PCI_RESOURCE_MEM,
                        .prefetch = flags & PCI_RESOURCE_PREFETCH,
                        .mem64 = flags & PCI_RESOURCE_MEM_64,
                };
        }

        /* The kernel always prints every BAR (and the ROM): fewer lines
         * means a short read, and a BAR we did not see may be sub-page. */
        if (line < PCI_NUM_BARS)
                return -EINVAL;

        if (ret)
                *ret = res;
        return 0;
}

bool pci_bar_is_sub_page(const PciBar *bar, uint64_t page_size) {
        if (!bar || !bar->mem || page_size == 0)
                return false;

        /* A BAR that starts or ends inside a page shares that page with
         * whatever else the host put there. */
        return bar->size < page_size ||
                bar->start % page_size != 0 ||
                bar->size % page_size != 0;
}
