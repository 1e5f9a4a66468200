/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pci-device.h"
#include "reservation.h"

#define DRIVER_NAME_MAX 64

static const char *const state_table[_RESERVATION_STATE_MAX] = {
        [RESERVATION_RESERVED] = "reserved",
        [RESERVATION_PREPARED] = "prepared",
        [RESERVATION_IN_USE] = "in-use",
        [RESERVATION_DEGRADED] = "degraded",
};

static const char *const journal_operation_table[_JOURNAL_OPERATION_MAX] = {
        [JOURNAL_PREPARE] = "prepare",
        [JOURNAL_UNPREPARE] = "unprepare",
};

Reservation *reservation_new(void) {
        Reservation *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->state = RESERVATION_RESERVED;
        r->return_to = _RESERVATION_STATE_INVALID;
        r->persistent = true;
        return r;
}

Reservation *reservation_free(Reservation *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_functions; i++) {
                free(r->functions[i].host_driver);
                free(r->functions[i].host_override);
        }
        free(r->functions);
        reservation_journal_free(r->journal);
        free(r->owner);
        free(r->owner_bus_name);
        free(r->owner_bus_id);
        free(r->driver);
        free(r->last_error);
        free(r);
        return NULL;
}

/* Index of the first element whose address is >= key, in [0, n].  The
 * stride lets one search serve both function arrays: each element type
 * starts with its PciAddress. */
_Static_assert(offsetof(ReservationFunction, address) == 0, "address must come first");
_Static_assert(offsetof(JournalFunction, address) == 0, "address must come first");
static size_t lower_bound(const void *v, size_t n, size_t stride, uint64_t key) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const PciAddress *a = (const PciAddress *) ((const char *) v + mid * stride);

                if (pci_address_key(a) < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Makes room for one element at the sorted position of a; returns its
 * index through ret_index.  The caller fills the (zeroed) slot. */
static int insert_sorted(void **v, size_t *n, size_t stride, const PciAddress *a, size_t *ret_index) {
        uint64_t key = pci_address_key(a);
        size_t i;
        char *nv;

        i = lower_bound(*v, *n, stride, key);
        if (i < *n && pci_address_key((const PciAddress *) ((const char *) *v + i * stride)) == key)
                return -EEXIST;
        if (*n >= RESERVATION_FUNCTIONS_MAX)
                return -E2BIG;

        /* Arrays are small (bounded by RESERVATION_FUNCTIONS_MAX) and grow
         * rarely, so growing by one keeps n the only size to track. */
        nv = realloc(*v, (*n + 1) * stride);
        if (!nv)
                return -ENOMEM;
        memmove(nv + (i + 1) * stride, nv + i * stride, (*n - i) * stride);
        memset(nv + i * stride, 0, stride);
        *v = nv;
        (*n)++;
        *ret_index = i;
        return 0;
}

int reservation_add_function(Reservation *r, const PciAddress *a, bool assigned) {
        size_t i;
        int k;

        if (!r || !a)
                return -EINVAL;
        k = insert_sorted((void **) &r->functions, &r->n_functions, sizeof(ReservationFunction), a, &i);
        if (k < 0)
                return k;
        r->functions[i].address = *a;
        r->functions[i].assigned = assigned;
        return 0;
}

ReservationFunction *reservation_find_function(const Reservation *r, const PciAddress *a) {
        uint64_t key;
        size_t i;

        if (!r || !a)
                return NULL;
        key = pci_address_key(a);
        i = lower_bound(r->functions, r->n_functions, sizeof(ReservationFunction), key);
        if (i < r->n_functions && pci_address_key(&r->functions[i].address) == key)
                return &r->functions[i];
        return NULL;
}

const char *reservation_state_to_string(ReservationState s) {
        if (s < 0 || s >= _RESERVATION_STATE_MAX)
                return NULL;
        return state_table[s];
}

ReservationState reservation_state_from_string(const char *s) {
        if (!s)
                return _RESERVATION_STATE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(state_table); i++)
                if (streq(s, state_table[i]))
                        return (ReservationState) i;
        return _RESERVATION_STATE_INVALID;
}

/* Decodes one UTF-8 sequence from s (n > 0 bytes available).  Returns its
 * length, or 0 for anything but the shortest encoding of a scalar value:
 * overlong forms could smuggle '/' or NUL past byte-wise checks, and
 * surrogates or values above U+10FFFF are not characters at all. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret) {
        uint32_t c;
        size_t len;

        if (s[0] < 0x80) {
                *ret = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {        /* 0xc0, 0xc1 only start overlong forms */
                len = 2;
                c = s[0] & 0x1f;
        } else if ((s[0] & 0xf0) == 0xe0) {
                len = 3;
                c = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                c = s[0] & 0x07;
        } else
                return 0;

        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)))
                return 0;
        if (c >= 0xd800 && c <= 0xdfff)
                return 0;
        *ret = c;
        return len;
}

/* Text that ends up in front of users (D-Bus properties, pci-assignctl
 * output, the journal): valid UTF-8 without control characters, which
 * could fake lines in logs or move the terminal's cursor. */
static bool text_is_valid(const char *s, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n == 0 || n > max)
                return false;

        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t k;

                k = utf8_decode((const unsigned char *) s + i, n - i, &c);
                if (k == 0)
                        return false;
                if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
                        return false;
                i += k;
        }
        return true;
}

bool reservation_owner_is_valid(const char *owner) {
        return text_is_valid(owner, RESERVATION_OWNER_MAX);
}

bool reservation_last_error_is_valid(const char *s) {
        return text_is_valid(s, RESERVATION_LAST_ERROR_MAX);
}

static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
}

static bool name_is_valid(const char *s, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_name_char(s[i]))
                        return false;
        return true;
}

bool reservation_id_is_valid(const char *id) {
        /* Ids end up in object paths and on command lines: a leading '-'
         * would read as an option there. */
        return name_is_valid(id, RESERVATION_ID_MAX) && id[0] != '-';
}

bool driver_name_is_valid(const char *name) {
        return name_is_valid(name, DRIVER_NAME_MAX);
}

bool driver_is_adoptable(const char *name) {
        return name && (strstr(name, "vfio") || streq(name, "pci-stub"));
}

ReservationJournal *reservation_journal_new(JournalOperation operation) {
        ReservationJournal *j;

        if (operation < 0 || operation >= _JOURNAL_OPERATION_MAX)
                return NULL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return NULL;
        j->operation = operation;
        return j;
}

ReservationJournal *reservation_journal_free(ReservationJournal *j) {
        if (!j)
                return NULL;
        for (size_t i = 0; i < j->n_functions; i++)
                free(j->functions[i].original_driver);
        free(j->functions);
        free(j);
        return NULL;
}

int reservation_journal_add_function(ReservationJournal *j, const PciAddress *a, const char *original_driver) {
        _cleanup_free_ char *d = NULL;
        size_t i;
        int r;

        if (!j || !a)
                return -EINVAL;
        if (original_driver) {
                if (!driver_name_is_valid(original_driver))
                        return -EINVAL;
                d = strdup(original_driver);
                if (!d)
                        return -ENOMEM;
        }
        r = insert_sorted((void **) &j->functions, &j->n_functions, sizeof(JournalFunction), a, &i);
        if (r < 0)
                return r;
        j->functions[i].address = *a;
        j->functions[i].original_driver = TAKE_PTR(d);
        return 0;
}

JournalFunction *reservation_journal_find_function(const ReservationJournal *j, const PciAddress *a) {
        uint64_t key;
        size_t i;

        if (!j || !a)
                return NULL;
        key = pci_address_key(a);
        i = lower_bound(j->functions, j->n_functions, sizeof(JournalFunction), key);
        if (i < j->n_functions && pci_address_key(&j->functions[i].address) == key)
                return &j->functions[i];
        return NULL;
}

const char *journal_operation_to_string(JournalOperation op) {
        if (op < 0 || op >= _JOURNAL_OPERATION_MAX)
                return NULL;
        return journal_operation_table[op];
}

JournalOperation journal_operation_from_string(const char *s) {
        if (!s)
                return _JOURNAL_OPERATION_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(journal_operation_table); i++)
                if (streq(s, journal_operation_table[i]))
                        return (JournalOperation) i;
        return _JOURNAL_OPERATION_INVALID;
}

static bool bus_name_char_ok(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool bus_unique_name_is_valid(const char *name) {
        size_t n, elements = 1;
        bool empty = true;

        if (!name || name[0] != ':')
                return false;
        n = strnlen(name, 256);
        if (n > 255)
                return false;
        for (const char *p = name + 1; *p; p++) {
                if (*p == '.') {
                        if (empty)
                                return false;
                        elements++;
                        empty = true;
                } else if (bus_name_char_ok(*p))
                        empty = false;
                else
                        return false;
        }
        return !empty && elements >= 2;
}

bool bus_id_is_valid(const char *id) {
        size_t i;

        if (!id)
                return false;
        for (i = 0; id[i]; i++)
                if (i >= 32 || !((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') ||
                                 (id[i] >= 'A' && id[i] <= 'F')))
                        return false;
        return i == 32;
}

bool reservation_function_matches(const ReservationFunction *f, const PciDevice *d, char *what, size_t size) {
        if (d->vendor_id != f->vendor_id || d->device_id != f->device_id)
                snprintf(what, size, "a different device (%04x:%04x, reserved: %04x:%04x)", d->vendor_id,
                         d->device_id, f->vendor_id, f->device_id);
        else if (f->has_subsystem && (d->subsystem_vendor_id != f->subsystem_vendor_id ||
                                      d->subsystem_device_id != f->subsystem_device_id))
                snprintf(what, size, "a device of other subsystem ids (%04x:%04x, reserved: %04x:%04x)",
                         d->subsystem_vendor_id, d->subsystem_device_id, f->subsystem_vendor_id,
                         f->subsystem_device_id);
        else if (f->has_dsn && !(d->config_valid && d->config.dsn && d->config.dsn_value == f->dsn))
                snprintf(what, size, "a device with another serial number");
        else
                return true;
        return false;
}
