/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store_parse() / store_format() against src/store.h:
 *  - store_parse() returns 0, -EBADMSG or -EPROTONOSUPPORT (or -ENOMEM),
 *    leaves *ret alone on failure and leaks nothing (LeakSanitizer);
 *  - a JSON object whose integer "format" is above 1 is refused with
 *    -EPROTONOSUPPORT whatever else it holds (checked with json-c itself,
 *    within the store's nesting limit);
 *  - what it accepts satisfies format 1 as documented (next_id, ids,
 *    owners checked by an independent UTF-8 reading, states, sorted and
 *    distinct functions, journal functions inside their reservation, no
 *    function in two reservations);
 *  - round trip: store_format() of the data parses again to equal data,
 *    and formats to identical bytes ("equal data gives identical bytes"). */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "store.h"

/* The store's own nesting limit (JSON_DEPTH_MAX in src/store.c). */
#define STORE_JSON_DEPTH 8

/* Valid UTF-8, shortest forms, no surrogates, <= U+10FFFF, no C0, DEL or
 * C1 control, 1..max bytes: reservation_owner_is_valid() as documented. */
static bool ref_text_is_valid(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n;) {
                uint32_t c;
                size_t len;

                if (p[i] < 0x80) {
                        c = p[i];
                        len = 1;
                } else if ((p[i] & 0xe0) == 0xc0) {
                        c = p[i] & 0x1fu;
                        len = 2;
                } else if ((p[i] & 0xf0) == 0xe0) {
                        c = p[i] & 0x0fu;
                        len = 3;
                } else if ((p[i] & 0xf8) == 0xf0) {
                        c = p[i] & 0x07u;
                        len = 4;
                } else
                        return false;
                if (i + len > n)
                        return false;
                for (size_t k = 1; k < len; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        c = c << 6 | (p[i + k] & 0x3fu);
                }
                if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000))
                        return false;           /* overlong */
                if ((c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
                        return false;
                if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
                        return false;
                i += len;
        }
        return true;
}

static bool ref_name_is_valid(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool streq_null(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_data(const StoreData *d) {
        FUZZ_CHECK(d->next_id >= 1 && d->next_id < UINT64_MAX);
        FUZZ_CHECK(d->n_reservations == 0 || d->reservations);

        for (size_t i = 0; i < d->n_reservations; i++) {
                const Reservation *r = d->reservations[i];

                FUZZ_CHECK(r);
                FUZZ_CHECK(ref_name_is_valid(r->id, RESERVATION_ID_MAX) && r->id[0] != '-');
                FUZZ_CHECK(reservation_id_is_valid(r->id));
                if (r->id[0] == 'r' && r->id[1] && strspn(r->id + 1, "0123456789") == strlen(r->id + 1)) {
                        /* "r<N>": next_id must be greater than N */
                        char *end;
                        unsigned long long num;

                        errno = 0;
                        num = strtoull(r->id + 1, &end, 10);
                        FUZZ_CHECK(errno == 0 && *end == 0 && num < d->next_id);
                }
                for (size_t k = 0; k < i; k++)
                        FUZZ_CHECK(strcmp(d->reservations[k]->id, r->id) != 0);
                FUZZ_CHECK(r->owner && ref_text_is_valid(r->owner, RESERVATION_OWNER_MAX));
                FUZZ_CHECK(r->owner_uid != (uid_t) -1);
                FUZZ_CHECK(r->driver && ref_name_is_valid(r->driver, 64));
                FUZZ_CHECK(reservation_state_to_string(r->state));
                FUZZ_CHECK(!r->last_error || ref_text_is_valid(r->last_error, RESERVATION_LAST_ERROR_MAX));
                FUZZ_CHECK(r->n_functions >= 1 && r->n_functions <= RESERVATION_FUNCTIONS_MAX);

                for (size_t f = 0; f < r->n_functions; f++) {
                        const ReservationFunction *fn = &r->functions[f];

                        if (f > 0)
                                FUZZ_CHECK(pci_address_compare(&r->functions[f - 1].address, &fn->address) < 0);
                        FUZZ_CHECK(fn->address.device <= 0x1f && fn->address.function <= 7);
                        FUZZ_CHECK(!fn->host_driver || ref_name_is_valid(fn->host_driver, 64));
                        /* adopted: a binding to a vfio driver or pci-stub; an override only with it */
                        FUZZ_CHECK(!fn->adopted || (fn->host_driver && (strstr(fn->host_driver, "vfio") ||
                                                                        strcmp(fn->host_driver, "pci-stub") == 0)));
                        FUZZ_CHECK(!fn->host_override || (fn->adopted && ref_name_is_valid(fn->host_override, 64)));
                        FUZZ_CHECK(fn->has_dsn || fn->dsn == 0);
                        FUZZ_CHECK(fn->has_subsystem ||
                                   (fn->subsystem_vendor_id == 0 && fn->subsystem_device_id == 0));
                        FUZZ_CHECK(reservation_find_function(r, &fn->address) == fn);
                        /* in no other reservation */
                        for (size_t k = 0; k < i; k++)
                                FUZZ_CHECK(!reservation_find_function(d->reservations[k], &fn->address));
                }

                if (r->journal) {
                        const ReservationJournal *j = r->journal;

                        FUZZ_CHECK(journal_operation_to_string(j->operation));
                        FUZZ_CHECK(j->n_functions <= r->n_functions);
                        for (size_t f = 0; f < j->n_functions; f++) {
                                if (f > 0)
                                        FUZZ_CHECK(pci_address_compare(&j->functions[f - 1].address,
                                                                       &j->functions[f].address) < 0);
                                FUZZ_CHECK(reservation_find_function(r, &j->functions[f].address));
                                FUZZ_CHECK(!j->functions[f].original_driver ||
                                           ref_name_is_valid(j->functions[f].original_driver, 64));
                        }
                }
        }
}

static bool same_data(const StoreData *a, const StoreData *b) {
        if (a->next_id != b->next_id || a->n_reservations != b->n_reservations)
                return false;
        for (size_t i = 0; i < a->n_reservations; i++) {
                const Reservation *x = a->reservations[i], *y = b->reservations[i];

                if (strcmp(x->id, y->id) != 0 || !streq_null(x->owner, y->owner) ||
                    x->owner_uid != y->owner_uid || x->persistent != y->persistent ||
                    !streq_null(x->driver, y->driver) || x->state != y->state ||
                    x->created_usec != y->created_usec || !streq_null(x->last_error, y->last_error) ||
                    x->n_functions != y->n_functions || !x->journal != !y->journal)
                        return false;
                for (size_t f = 0; f < x->n_functions; f++) {
                        const ReservationFunction *p = &x->functions[f], *q = &y->functions[f];

                        if (!pci_address_equal(&p->address, &q->address) || p->assigned != q->assigned ||
                            !streq_null(p->host_driver, q->host_driver) || p->vendor_id != q->vendor_id ||
                            p->device_id != q->device_id || p->has_dsn != q->has_dsn || p->dsn != q->dsn ||
                            p->adopted != q->adopted || !streq_null(p->host_override, q->host_override) ||
                            p->has_subsystem != q->has_subsystem ||
                            p->subsystem_vendor_id != q->subsystem_vendor_id ||
                            p->subsystem_device_id != q->subsystem_device_id)
                                return false;
                }
                if (x->journal) {
                        const ReservationJournal *p = x->journal, *q = y->journal;

                        if (p->operation != q->operation || p->step != q->step || p->n_functions != q->n_functions)
                                return false;
                        for (size_t f = 0; f < p->n_functions; f++)
                                if (!pci_address_equal(&p->functions[f].address, &q->functions[f].address) ||
                                    !streq_null(p->functions[f].original_driver, q->functions[f].original_driver))
                                        return false;
                }
        }
        return true;
}

/* Is the text a JSON object (as the store's strict tokener reads it) with
 * an integer "format" above STORE_FORMAT_VERSION? */
static bool is_newer_format(const char *text, size_t n) {
        json_tokener *tok;
        json_object *root, *v;
        bool newer = false;

        if (n == 0 || n > STORE_FILE_MAX || memchr(text, 0, n))
                return false;
        tok = json_tokener_new_ex(STORE_JSON_DEPTH);
        FUZZ_CHECK(tok);
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        root = json_tokener_parse_ex(tok, text, (int) n);
        if (json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == n &&
            json_object_is_type(root, json_type_object) &&
            json_object_object_get_ex(root, "format", &v) && json_object_is_type(v, json_type_int))
                newer = json_object_get_int64(v) > STORE_FORMAT_VERSION;
        json_object_put(root);
        json_tokener_free(tok);
        return newer;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        StoreData d = { .next_id = 0xdead }, d2 = {}, d3 = {};
        char *text1, *text2;
        size_t n1;
        int r;

        r = store_parse(text, size, &d);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM);
        FUZZ_CHECK(store_parse(text, size, NULL) == -EINVAL);
        FUZZ_CHECK(is_newer_format(text, size) == (r == -EPROTONOSUPPORT));
        if (r < 0) {
                FUZZ_CHECK(d.next_id == 0xdead && !d.reservations && d.n_reservations == 0);
                return 0;
        }
        check_data(&d);

        text1 = store_format(&d);
        FUZZ_CHECK(text1);
        n1 = strlen(text1);
        FUZZ_CHECK(n1 >= 2 && text1[n1 - 1] == '\n');
        FUZZ_CHECK(n1 <= STORE_FILE_MAX);

        r = store_parse(text1, n1, &d2);
        if (r != 0)
                fprintf(stderr, "store_parse() of store_format()'s text: %s\n%s", strerror(-r), text1);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(same_data(&d, &d2));

        text2 = store_format(&d2);
        FUZZ_CHECK(text2);
        if (strcmp(text1, text2) != 0)
                fprintf(stderr, "first:\n%ssecond:\n%s", text1, text2);
        FUZZ_CHECK(strcmp(text1, text2) == 0);

        /* Without the final newline it is the same document. */
        FUZZ_CHECK(store_parse(text1, n1 - 1, &d3) == 0);
        FUZZ_CHECK(same_data(&d, &d3));

        store_data_done(&d);
        store_data_done(&d2);
        store_data_done(&d3);
        FUZZ_CHECK(d.n_reservations == 0 && !d.reservations && d.next_id == 0);
        free(text1);
        free(text2);
        return 0;
}
