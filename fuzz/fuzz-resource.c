/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci_resources_parse() and pci_bar_is_sub_page() against
 * src/pci-resource.h:
 *  - the verdict and the BARs agree with an independent reading of the
 *    documented format (lines split at '\n', three "0x" + 1..16 hex digit
 *    fields separated by single spaces, 6..17 lines, used BARs with
 *    end >= start and exactly one of IO/MEM; a BAR of 2^64 bytes, which
 *    no size_t can describe, is refused too); ret may be NULL;
 *  - the BARs are in index order, with consistent flags;
 *  - the BARs rendered back in the kernel's format parse to the same BARs;
 *  - a BAR is sub-page exactly when it does not cover whole pages. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "pci-resource.h"

/* One field: "0x" and 1..16 hex digits, the whole of [s, s + n). */
static bool ref_field(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n < 3 || n > 18 || s[0] != '0' || s[1] != 'x')
                return false;
        for (size_t i = 2; i < n; i++) {
                int d = fuzz_hexval((unsigned char) s[i]);
                if (d < 0)
                        return false;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return true;
}

/* One line without its '\n': exactly three fields, split at single spaces. */
static bool ref_line(const char *s, size_t n, uint64_t v[3]) {
        size_t start = 0, f = 0;

        for (size_t i = 0; i <= n; i++) {
                if (i < n && s[i] != ' ')
                        continue;
                if (f == 3 || !ref_field(s + start, i - start, &v[f]))
                        return false;
                f++;
                start = i + 1;
        }
        return f == 3;
}

static bool ref_parse(const char *text, size_t n, PciResources *ret) {
        PciResources res = {};
        size_t pos = 0, lines = 0;

        while (pos < n) {
                const char *nl = memchr(text + pos, '\n', n - pos);
                size_t end = nl ? (size_t) (nl - text) : n;
                uint64_t v[3];

                if (!ref_line(text + pos, end - pos, v))
                        return false;
                if (lines < PCI_NUM_BARS && (v[0] | v[1] | v[2]) != 0) {
                        bool io = v[2] & PCI_RESOURCE_IO, mem = v[2] & PCI_RESOURCE_MEM;

                        if (v[1] < v[0] || io == mem)
                                return false;
                        if (v[0] == 0 && v[1] == UINT64_MAX)
                                return false;
                        res.bars[res.n_bars++] = (PciBar) {
                                .index = (uint8_t) lines, .start = v[0], .size = v[1] - v[0] + 1,
                                .flags = v[2], .mem = mem,
                                .prefetch = v[2] & PCI_RESOURCE_PREFETCH,
                                .mem64 = v[2] & PCI_RESOURCE_MEM_64,
                        };
                }
                lines++;
                pos = nl ? end + 1 : n;
        }
        if (lines < 6 || lines > 17)
                return false;
        *ret = res;
        return true;
}

static bool same_bar(const PciBar *a, const PciBar *b) {
        return a->index == b->index && a->start == b->start && a->size == b->size &&
               a->flags == b->flags && a->mem == b->mem && a->prefetch == b->prefetch &&
               a->mem64 == b->mem64;
}

static bool same_resources(const PciResources *a, const PciResources *b) {
        if (a->n_bars != b->n_bars)
                return false;
        for (size_t i = 0; i < a->n_bars; i++)
                if (!same_bar(&a->bars[i], &b->bars[i]))
                        return false;
        return true;
}

static void check_sub_page(const PciBar *bar) {
        static const uint64_t page_sizes[] = { 1, 4096, 16384, 65536, UINT64_C(1) << 21, UINT64_C(1) << 63 };

        FUZZ_CHECK(!pci_bar_is_sub_page(bar, 0));
        for (size_t i = 0; i < sizeof page_sizes / sizeof page_sizes[0]; i++) {
                uint64_t ps = page_sizes[i], last = bar->start + (bar->size - 1);
                /* Whole pages: starts on a page boundary and ends just
                 * before one (end + 1 may wrap to 0, which is aligned). */
                bool whole = bar->start % ps == 0 && (last + 1) % ps == 0 && bar->size >= ps;

                FUZZ_CHECK(pci_bar_is_sub_page(bar, ps) == (bar->mem && !whole));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        PciResources res, ref, back;
        char buf[7 * 60];
        size_t len = 0;
        bool ok;
        int r;

        memset(&res, 0x5a, sizeof res);
        r = pci_resources_parse(text, size, &res);
        FUZZ_CHECK(r == 0 || r == -EINVAL);
        FUZZ_CHECK(pci_resources_parse(text, size, NULL) == r);
        ok = ref_parse(text, size, &ref);
        FUZZ_CHECK(ok == (r == 0));
        if (r < 0)
                return 0;
        FUZZ_CHECK(same_resources(&res, &ref));

        FUZZ_CHECK(res.n_bars <= PCI_NUM_BARS);
        for (size_t i = 0; i < res.n_bars; i++) {
                const PciBar *b = &res.bars[i];

                FUZZ_CHECK(b->index < PCI_NUM_BARS);
                if (i > 0)
                        FUZZ_CHECK(b->index > res.bars[i - 1].index);
                FUZZ_CHECK(b->size >= 1);
                FUZZ_CHECK(b->start + (b->size - 1) >= b->start);       /* no wrap */
                FUZZ_CHECK(b->mem == !!(b->flags & PCI_RESOURCE_MEM));
                FUZZ_CHECK(b->mem != !!(b->flags & PCI_RESOURCE_IO));
                check_sub_page(b);
        }
        FUZZ_CHECK(!pci_bar_is_sub_page(NULL, 4096));

        /* Render as the kernel would (6 BARs and the ROM) and parse again. */
        for (size_t line = 0, i = 0; line < 7; line++) {
                uint64_t s = 0, e = 0, f = 0;

                if (i < res.n_bars && res.bars[i].index == line) {
                        s = res.bars[i].start;
                        e = s + (res.bars[i].size - 1);
                        f = res.bars[i].flags;
                        i++;
                }
                len += (size_t) snprintf(buf + len, sizeof buf - len,
                                         "0x%016" PRIx64 " 0x%016" PRIx64 " 0x%016" PRIx64 "\n", s, e, f);
        }
        FUZZ_CHECK(len < sizeof buf);
        FUZZ_CHECK(pci_resources_parse(buf, len, &back) == 0);
        FUZZ_CHECK(same_resources(&back, &res));
        /* The last line may lack its '\n'. */
        FUZZ_CHECK(pci_resources_parse(buf, len - 1, &back) == 0);
        FUZZ_CHECK(same_resources(&back, &res));
        return 0;
}
