/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runtime directory's files, each input given to both parsers:
 * op_journal_parse() (operations.json, src/op-journal.h) and
 * detached_parse() (detached.json, src/detached-store.h):
 *  - they return 0, -EBADMSG, -EPROTONOSUPPORT (or -ENOMEM), leak nothing
 *    (LeakSanitizer) and leave nothing behind on failure;
 *  - what they accept is what the headers document: valid addresses and
 *    driver names, a UUID boot ID, one entry per function, a takeover
 *    always with a reservation and nothing else with one, reprobe only
 *    for a Reattach;
 *  - round trip: the format function's text parses again to equal data
 *    and formats to identical bytes. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "detached-store.h"
#include "fuzz.h"
#include "op-journal.h"
#include "reservation.h"

static bool streq_null(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool name_ok(const char *s) {
        size_t n;

        if (!s)
                return true;
        n = strlen(s);
        return n > 0 && n <= 64 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static void check_ops(const OpJournal *j) {
        FUZZ_CHECK(boot_id_valid(j->boot_id));
        FUZZ_CHECK(j->n_ops == 0 || j->ops);
        for (size_t i = 0; i < j->n_ops; i++) {
                const FunctionOperation *op = &j->ops[i];

                FUZZ_CHECK(function_operation_to_string(op->kind));
                FUZZ_CHECK(op->address.device <= 0x1f && op->address.function <= 7);
                FUZZ_CHECK(name_ok(op->driver) && name_ok(op->driver_override) && name_ok(op->target));
                FUZZ_CHECK((op->kind == FUNCTION_OP_TAKEOVER) == !!op->reservation);
                FUZZ_CHECK(!op->reservation || reservation_id_is_valid(op->reservation));
                FUZZ_CHECK(!op->reprobe || op->kind == FUNCTION_OP_REATTACH);
                FUZZ_CHECK(op_journal_find(j, &op->address) == op);
        }
}

static bool same_ops(const OpJournal *a, const OpJournal *b) {
        if (strcmp(a->boot_id, b->boot_id) != 0 || a->n_ops != b->n_ops)
                return false;
        for (size_t i = 0; i < a->n_ops; i++) {
                const FunctionOperation *x = &a->ops[i], *y = &b->ops[i];

                if (x->kind != y->kind || !pci_address_equal(&x->address, &y->address) ||
                    x->vendor_id != y->vendor_id || x->device_id != y->device_id || x->reprobe != y->reprobe ||
                    !streq_null(x->driver, y->driver) || !streq_null(x->driver_override, y->driver_override) ||
                    !streq_null(x->target, y->target) || !streq_null(x->reservation, y->reservation))
                        return false;
        }
        return true;
}

static void fuzz_ops(const char *text, size_t size) {
        OpJournal j = {}, j2 = {};
        char *t1, *t2;
        int r;

        r = op_journal_parse(text, size, &j);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM);
        FUZZ_CHECK(op_journal_parse(text, size, NULL) == -EINVAL);
        if (r < 0) {
                FUZZ_CHECK(j.n_ops == 0 && !j.ops);
                return;
        }
        check_ops(&j);
        t1 = op_journal_format(&j);
        FUZZ_CHECK(t1);
        r = op_journal_parse(t1, strlen(t1), &j2);
        if (r != 0)
                fprintf(stderr, "op_journal_parse() of op_journal_format()'s text: %s\n%s", strerror(-r), t1);
        FUZZ_CHECK(r == 0);
        FUZZ_CHECK(same_ops(&j, &j2));
        t2 = op_journal_format(&j2);
        FUZZ_CHECK(t2 && strcmp(t1, t2) == 0);
        free(t1);
        free(t2);
        op_journal_done(&j);
        op_journal_done(&j2);
        FUZZ_CHECK(j.n_ops == 0 && !j.ops);
}

static void fuzz_detached(const char *text, size_t size) {
        DetachedFunction *l = NULL, *l2 = NULL;
        size_t n = 0, n2 = 0;
        char *t1, *t2;
        int r;

        r = detached_parse(text, size, &l, &n);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EPROTONOSUPPORT || r == -ENOMEM);
        if (r < 0) {
                FUZZ_CHECK(!l && n == 0);
                return;
        }
        FUZZ_CHECK(n == 0 || l);
        for (size_t i = 0; i < n; i++) {
                FUZZ_CHECK(name_ok(l[i].host_driver));
                FUZZ_CHECK(detached_find(l, n, &l[i].address) == &l[i]);
        }
        t1 = detached_format(l, n);
        FUZZ_CHECK(t1);
        FUZZ_CHECK(detached_parse(t1, strlen(t1), &l2, &n2) == 0);
        FUZZ_CHECK(n2 == n);
        for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(pci_address_equal(&l[i].address, &l2[i].address) &&
                           streq_null(l[i].host_driver, l2[i].host_driver));
        t2 = detached_format(l2, n2);
        FUZZ_CHECK(t2 && strcmp(t1, t2) == 0);
        free(t1);
        free(t2);
        detached_free(l, n);
        detached_free(l2, n2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_ops((const char *) data, size);
        fuzz_detached((const char *) data, size);
        return 0;
}
