/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Pure parser of a PCI function's sysfs `resource` file: one line per
 * resource, "0x%016llx 0x%016llx 0x%016llx\n" = start, end, flags.  Lines
 * 0..5 are the BARs, 6 the expansion ROM, 7.. bridge windows / SR-IOV BARs
 * (the kernel prints DEVICE_COUNT_RESOURCE lines). */

#define PCI_RESOURCE_IO        0x00000100ULL  /* IORESOURCE_IO */
#define PCI_RESOURCE_MEM       0x00000200ULL  /* IORESOURCE_MEM */
#define PCI_RESOURCE_PREFETCH  0x00002000ULL  /* IORESOURCE_PREFETCH */
#define PCI_RESOURCE_MEM_64    0x00100000ULL  /* IORESOURCE_MEM_64 */

#define PCI_NUM_BARS 6

typedef struct PciBar {
        uint8_t index;        /* 0..5 */
        uint64_t start;
        uint64_t size;        /* end - start + 1 */
        uint64_t flags;
        bool mem;             /* MMIO (IORESOURCE_MEM), else I/O port */
        bool prefetch;
        bool mem64;
} PciBar;

typedef struct PciResources {
        PciBar bars[PCI_NUM_BARS];  /* only the BARs in use, in index order */
        size_t n_bars;
} PciResources;

/* Parses the text of a `resource` file (not NUL-terminated: n bytes).
 * Strict about the kernel's format: three "0x"-prefixed hex numbers of at
 * most 16 digits separated by single spaces, '\n' after each line (the last
 * may lack it), 6 to 17 lines.  Unused resources (all three values 0) are
 * skipped.  A used BAR (lines 0..5) must have end >= start and exactly one
 * of PCI_RESOURCE_IO / PCI_RESOURCE_MEM; the other lines are only checked
 * for syntax.  Returns 0, or -EINVAL for malformed text (bad number,
 * missing field, end < start, too few or too many lines), naming nothing:
 * the caller knows which file it read.  `ret` may be NULL. */
int pci_resources_parse(const char *text, size_t n, PciResources *ret);

/* True if an MMIO BAR is smaller than `page_size`, or its start or size is
 * not page aligned: such a BAR shares a page with something else and cannot
 * be mapped into a guest safely.  I/O port BARs are never sub-page (they
 * are not mmapped); false for a NULL bar or page_size 0. */
bool pci_bar_is_sub_page(const PciBar *bar, uint64_t page_size);
