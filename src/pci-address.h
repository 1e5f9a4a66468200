/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A PCI function address, DDDD:BB:DD.F.  The only way a string from outside
 * becomes an address is pci_address_parse(): the daemon builds sysfs paths
 * from the parsed numbers, never from the caller's string. */
typedef struct PciAddress {
        uint32_t domain;   /* 16 bits on most hosts; VMD uses 0x10000+ */
        uint8_t bus;
        uint8_t device;    /* 0..31 */
        uint8_t function;  /* 0..7 */
} PciAddress;

/* "0000:03:00.0" plus NUL; the domain may have up to 8 hex digits (VMD). */
#define PCI_ADDRESS_STRLEN (8 + 1 + 2 + 1 + 2 + 1 + 1 + 1)

/* Strict parser: exactly 4..8 hex digits of domain, ':', 2 hex digits of
 * bus, ':', 2 hex digits of device (<= 0x1f), '.', one digit 0-7, then end
 * of string.  Case-insensitive.  Returns 0 or -EINVAL. */
int pci_address_parse(const char *s, PciAddress *ret);

/* Like pci_address_parse() but for a buffer of known length that may contain
 * NUL bytes (D-Bus strings cannot, but sysfs names and fuzz input can). */
int pci_address_parse_n(const char *s, size_t n, PciAddress *ret);

/* Canonical lower-case form into buf (at least PCI_ADDRESS_STRLEN). */
const char *pci_address_format(const PciAddress *a, char buf[static PCI_ADDRESS_STRLEN]);

/* A total order usable as a sort/search key. */
static inline uint64_t pci_address_key(const PciAddress *a) {
        return ((uint64_t) a->domain << 16) | ((uint64_t) a->bus << 8) |
               ((uint64_t) a->device << 3) | a->function;
}

static inline bool pci_address_equal(const PciAddress *a, const PciAddress *b) {
        return pci_address_key(a) == pci_address_key(b);
}

int pci_address_compare(const PciAddress *a, const PciAddress *b);

/* Same physical device (slot), i.e. same domain, bus and device number. */
static inline bool pci_address_same_slot(const PciAddress *a, const PciAddress *b) {
        return a->domain == b->domain && a->bus == b->bus && a->device == b->device;
}
