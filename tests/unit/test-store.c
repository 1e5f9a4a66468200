/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "reservation.h"
#include "pci-device.h"
#include "store.h"

/* ---- helpers ---- */

static char *fixture_path(const char *name) {
        const char *data = g_getenv("PCI_ASSIGND_TEST_DATA");

        g_assert_nonnull(data);
        return g_build_filename(data, "store", name, NULL);
}

static char *read_fixture(const char *name, size_t *ret_len) {
        g_autofree char *path = fixture_path(name);
        g_autoptr(GError) error = NULL;
        char *text;
        gsize len;

        if (!g_file_get_contents(path, &text, &len, &error))
                g_error("%s: %s", path, error->message);
        if (ret_len)
                *ret_len = len;
        return text;
}

static PciAddress addr(const char *s) {
        PciAddress a;

        g_assert_cmpint(pci_address_parse(s, &a), ==, 0);
        return a;
}

static Reservation *make_reservation(const char *id, const char *owner, uid_t uid, bool persistent,
                                     ReservationState state, uint64_t created, const char *last_error) {
        Reservation *r = reservation_new();

        g_assert_nonnull(r);
        g_assert_cmpuint(strlen(id), <=, RESERVATION_ID_MAX);
        strcpy(r->id, id);
        r->owner = g_strdup(owner);
        r->driver = g_strdup("vfio-pci");
        r->owner_uid = uid;
        r->persistent = persistent;
        r->state = state;
        r->created_usec = created;
        r->last_error = g_strdup(last_error);
        return r;
}

static void add_function(Reservation *r, const char *address, bool assigned, const char *host_driver,
                         uint16_t vendor, uint16_t device, bool has_dsn, uint64_t dsn) {
        PciAddress a = addr(address);
        ReservationFunction *f;

        g_assert_cmpint(reservation_add_function(r, &a, assigned), ==, 0);
        f = reservation_find_function(r, &a);
        g_assert_nonnull(f);
        f->host_driver = g_strdup(host_driver);
        f->vendor_id = vendor;
        f->device_id = device;
        f->has_dsn = has_dsn;
        f->dsn = dsn;
}

static void store_push(StoreData *d, Reservation *r) {
        d->reservations = g_realloc_n(d->reservations, d->n_reservations + 1, sizeof(Reservation *));
        d->reservations[d->n_reservations++] = r;
}

/* The data of tests/data/store/valid-v1.json: every field in each of its
 * forms (null and not, DSN or none, journal or none, a VMD domain, a
 * non-ASCII owner, an id not of the r<N> form). */
static void sample_data(StoreData *d) {
        Reservation *r;
        PciAddress a;

        *d = (StoreData) { .next_id = 4 };

        r = make_reservation("r1", "guest-web", 1000, true, RESERVATION_PREPARED, UINT64_C(1700000000000000), NULL);
        /* added out of order on purpose: the array stays sorted */
        add_function(r, "0000:0b:00.1", false, "e1000e", 0x8086, 0x10d3, false, 0);
        add_function(r, "0000:0b:00.0", true, "e1000e", 0x8086, 0x10d3, false, 0);
        store_push(d, r);

        r = make_reservation("r3", "虚拟机 🚀 db", 0, false, RESERVATION_DEGRADED,
                             UINT64_C(1700000123456789), "0000:01:00.0: unbind from nvme failed: Device or resource busy");
        add_function(r, "0000:01:00.0", true, "nvme", 0x1b36, 0x0010, true, UINT64_C(0x0102030405a6b7c8));
        r->journal = reservation_journal_new(JOURNAL_PREPARE);
        g_assert_nonnull(r->journal);
        r->journal->step = 2;
        a = addr("0000:01:00.0");
        g_assert_cmpint(reservation_journal_add_function(r->journal, &a, "nvme"), ==, 0);
        store_push(d, r);

        r = make_reservation("vm-legacy", "legacy \"quoted\" \\ name", 4294967294u, true, RESERVATION_IN_USE, 0, NULL);
        g_free(r->driver);
        r->driver = g_strdup("vfio_pci_variant");
        add_function(r, "10000:00:02.0", true, NULL, 0xffff, 0, true, UINT64_MAX);
        add_function(r, "0000:00:1f.7", false, "i801_smbus", 0, 0xffff, false, 0);
        r->journal = reservation_journal_new(JOURNAL_UNPREPARE);
        g_assert_nonnull(r->journal);
        a = addr("10000:00:02.0");
        g_assert_cmpint(reservation_journal_add_function(r->journal, &a, NULL), ==, 0);
        a = addr("0000:00:1f.7");
        g_assert_cmpint(reservation_journal_add_function(r->journal, &a, "vfio-pci"), ==, 0);
        store_push(d, r);
}

static void assert_journal_equal(const ReservationJournal *a, const ReservationJournal *b) {
        if (!a || !b) {
                g_assert_true(a == b);
                return;
        }
        g_assert_cmpint(a->operation, ==, b->operation);
        g_assert_cmpuint(a->step, ==, b->step);
        g_assert_cmpuint(a->n_functions, ==, b->n_functions);
        for (size_t i = 0; i < a->n_functions; i++) {
                g_assert_true(pci_address_equal(&a->functions[i].address, &b->functions[i].address));
                g_assert_cmpstr(a->functions[i].original_driver, ==, b->functions[i].original_driver);
        }
}

static void assert_reservation_equal(const Reservation *a, const Reservation *b) {
        g_assert_cmpstr(a->id, ==, b->id);
        g_assert_cmpstr(a->owner, ==, b->owner);
        g_assert_cmpuint(a->owner_uid, ==, b->owner_uid);
        g_assert_cmpint(a->persistent, ==, b->persistent);
        g_assert_cmpstr(a->driver, ==, b->driver);
        g_assert_cmpint(a->state, ==, b->state);
        g_assert_cmpuint(a->created_usec, ==, b->created_usec);
        g_assert_cmpstr(a->last_error, ==, b->last_error);
        g_assert_cmpuint(a->n_functions, ==, b->n_functions);
        for (size_t i = 0; i < a->n_functions; i++) {
                const ReservationFunction *x = &a->functions[i], *y = &b->functions[i];

                g_assert_true(pci_address_equal(&x->address, &y->address));
                g_assert_cmpint(x->assigned, ==, y->assigned);
                g_assert_cmpstr(x->host_driver, ==, y->host_driver);
                g_assert_cmpuint(x->vendor_id, ==, y->vendor_id);
                g_assert_cmpuint(x->device_id, ==, y->device_id);
                g_assert_cmpint(x->has_dsn, ==, y->has_dsn);
                g_assert_cmpuint(x->dsn, ==, y->dsn);
                g_assert_cmpint(x->has_subsystem, ==, y->has_subsystem);
                g_assert_cmpuint(x->subsystem_vendor_id, ==, y->subsystem_vendor_id);
                g_assert_cmpuint(x->subsystem_device_id, ==, y->subsystem_device_id);
                g_assert_cmpint(x->adopted, ==, y->adopted);
                g_assert_cmpstr(x->host_override, ==, y->host_override);
        }
        assert_journal_equal(a->journal, b->journal);
}

static void assert_store_equal(const StoreData *a, const StoreData *b) {
        g_assert_cmpuint(a->next_id, ==, b->next_id);
        g_assert_cmpuint(a->n_reservations, ==, b->n_reservations);
        for (size_t i = 0; i < a->n_reservations; i++)
                assert_reservation_equal(a->reservations[i], b->reservations[i]);
}

static void assert_empty(const StoreData *d) {
        g_assert_cmpuint(d->next_id, ==, 1);
        g_assert_cmpuint(d->n_reservations, ==, 0);
        g_assert_null(d->reservations);
}

static char *make_tmp_dir(void) {
        g_autoptr(GError) error = NULL;
        char *dir = g_dir_make_tmp("test-store-XXXXXX", &error);

        g_assert_no_error(error);
        return dir;
}

static void rm_rf(const char *path) {
        GDir *d = g_dir_open(path, 0, NULL);

        if (d) {
                const char *name;

                while ((name = g_dir_read_name(d))) {
                        g_autofree char *p = g_build_filename(path, name, NULL);
                        rm_rf(p);
                }
                g_dir_close(d);
                g_assert_cmpint(g_rmdir(path), ==, 0);
        } else
                g_assert_cmpint(g_unlink(path), ==, 0);
}

/* g_ptr_array_sort() passes pointers to the elements */
static gint cmp_name(gconstpointer a, gconstpointer b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

/* The names in dir, sorted, joined by ' '. */
static char *dir_listing(const char *dir) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *name;
        GDir *d;

        d = g_dir_open(dir, 0, NULL);
        g_assert_nonnull(d);
        while ((name = g_dir_read_name(d)))
                g_ptr_array_add(names, g_strdup(name));
        g_dir_close(d);
        g_ptr_array_sort(names, cmp_name);
        g_ptr_array_add(names, NULL);
        return g_strjoinv(" ", (char **) names->pdata);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;

        g_file_set_contents(path, text, (gssize) len, &error);
        g_assert_no_error(error);
}

static char *read_file(const char *dir, const char *name, size_t *ret_len) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;
        char *text;
        gsize len;

        g_file_get_contents(path, &text, &len, &error);
        g_assert_no_error(error);
        if (ret_len)
                *ret_len = len;
        return text;
}

/* ---- reservation.c ---- */

static void test_owner(void) {
        static const char *const valid[] = {
                "a", "guest-web", "vm 1", "550e8400-e29b-41d4-a716-446655440000",
                "Ünïcödé", "虚拟机", "😀", "🚀 rocket 火箭", "\xc2\xa0",        /* U+00A0, just after C1 */
                "\xef\xbf\xbd",         /* U+FFFD */
                "\xf4\x8f\xbf\xbf",     /* U+10FFFF, the last one */
                "\xed\x9f\xbf",         /* U+D7FF, just below the surrogates */
                "\xee\x80\x80",         /* U+E000, just above them */
                "a/b", "..", "$(rm -rf /)", "'; DROP TABLE",
        };
        static const char *const invalid[] = {
                "", "\n", "a\nb", "\t", "\r", "\x1b[2J", "\x01", "\x1f", "\x7f", "a\x7f",
                "\xc2\x80",             /* U+0080 */
                "\xc2\x85",             /* U+0085 NEL */
                "\xc2\x9f",             /* U+009F */
                "\xc0\xaf",             /* overlong '/' */
                "\xc0\x80",             /* overlong NUL */
                "\xc1\xbf",             /* overlong */
                "\xe0\x80\xaf",         /* overlong '/' in 3 bytes */
                "\xe0\x9f\xbf",         /* overlong U+07FF */
                "\xf0\x80\x80\xaf",     /* overlong '/' in 4 bytes */
                "\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
                "\xed\xa0\x80",         /* U+D800 surrogate */
                "\xed\xbf\xbf",         /* U+DFFF surrogate */
                "\xed\xa0\xbd\xed\xb8\x80",     /* CESU-8 pair */
                "\xf4\x90\x80\x80",     /* U+110000 */
                "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80",
                "\xfe", "\xff",
                "\x80", "a\xbf",        /* lone continuation bytes */
                "\xc3", "\xe2\x82", "\xf0\x9f\x98",     /* truncated sequences */
                "\xe2\x82x", "\xf0\x9f\x98x", "\xc3 ",
        };
        char buf[RESERVATION_OWNER_MAX + 8];

        for (size_t i = 0; i < G_N_ELEMENTS(valid); i++)
                if (!reservation_owner_is_valid(valid[i]))
                        g_error("refused valid owner #%zu \"%s\"", i, valid[i]);
        for (size_t i = 0; i < G_N_ELEMENTS(invalid); i++)
                if (reservation_owner_is_valid(invalid[i]))
                        g_error("accepted invalid owner #%zu", i);
        g_assert_false(reservation_owner_is_valid(NULL));

        /* length limits count bytes, not characters */
        memset(buf, 'a', sizeof buf);
        buf[RESERVATION_OWNER_MAX] = 0;
        g_assert_true(reservation_owner_is_valid(buf));
        buf[RESERVATION_OWNER_MAX] = 'a';
        buf[RESERVATION_OWNER_MAX + 1] = 0;
        g_assert_false(reservation_owner_is_valid(buf));
        memcpy(buf + RESERVATION_OWNER_MAX - 2, "\xc3\xa9", 3);         /* 256 bytes */
        g_assert_true(reservation_owner_is_valid(buf));
        memcpy(buf + RESERVATION_OWNER_MAX - 1, "\xc3\xa9", 3);         /* 257 bytes */
        g_assert_false(reservation_owner_is_valid(buf));
        memcpy(buf + RESERVATION_OWNER_MAX - 3, "\xf0\x9f\x98\x80", 5);         /* 😀 crossing the limit */
        g_assert_false(reservation_owner_is_valid(buf));
        memcpy(buf + RESERVATION_OWNER_MAX - 4, "\xf0\x9f\x98\x80", 5);         /* 😀 ending at 256 */
        g_assert_true(reservation_owner_is_valid(buf));
        /* an invalid sequence cut in half by the limit is not valid either */
        buf[RESERVATION_OWNER_MAX - 1] = '\xf0';
        buf[RESERVATION_OWNER_MAX] = 0;
        g_assert_false(reservation_owner_is_valid(buf));

        /* LastError: same characters, longer */
        g_assert_true(reservation_last_error_is_valid("0000:01:00.0: bind to vfio-pci failed: No such device"));
        g_assert_false(reservation_last_error_is_valid(""));
        g_assert_false(reservation_last_error_is_valid(NULL));
        g_assert_false(reservation_last_error_is_valid("two\nlines"));
        g_assert_false(reservation_last_error_is_valid("\xc0\xaf"));
        {
                g_autofree char *s = g_strnfill(RESERVATION_LAST_ERROR_MAX, 'e');
                g_autofree char *t = g_strnfill(RESERVATION_LAST_ERROR_MAX + 1, 'e');

                g_assert_true(reservation_last_error_is_valid(s));
                g_assert_false(reservation_last_error_is_valid(t));
        }
}

static void test_names(void) {
        static const char *const valid_ids[] = {
                "r1", "r18446744073709551615", "a", "A_b-c", "vm-legacy", "_x", "0",
                "abcdefghijklmnopqrstuvwxyz012345",     /* 32 */
        };
        static const char *const invalid_ids[] = {
                "", "-r1", "-", "r/1", "..", ".", "../etc", "r 1", "r1\n", "r.1", "r:1",
                "abcdefghijklmnopqrstuvwxyz0123456",    /* 33 */
                "ré", "r\x7f", "r*", "r1;",
        };
        static const char *const valid_drivers[] = {
                "vfio-pci", "e1000e", "nvme", "i801_smbus", "pci-stub", "-x", "mlx5_vfio_pci",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",     /* 64 */
        };
        static const char *const invalid_drivers[] = {
                "", "vfio/pci", "..", ".", "../../bind", "vfio pci", "vfio-pci\n", "(null)",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",    /* 65 */
        };

        for (size_t i = 0; i < G_N_ELEMENTS(valid_ids); i++)
                if (!reservation_id_is_valid(valid_ids[i]))
                        g_error("refused valid id \"%s\"", valid_ids[i]);
        for (size_t i = 0; i < G_N_ELEMENTS(invalid_ids); i++)
                if (reservation_id_is_valid(invalid_ids[i]))
                        g_error("accepted invalid id \"%s\"", invalid_ids[i]);
        g_assert_false(reservation_id_is_valid(NULL));

        for (size_t i = 0; i < G_N_ELEMENTS(valid_drivers); i++)
                if (!driver_name_is_valid(valid_drivers[i]))
                        g_error("refused valid driver \"%s\"", valid_drivers[i]);
        for (size_t i = 0; i < G_N_ELEMENTS(invalid_drivers); i++)
                if (driver_name_is_valid(invalid_drivers[i]))
                        g_error("accepted invalid driver \"%s\"", invalid_drivers[i]);
        g_assert_false(driver_name_is_valid(NULL));
}

static void test_states(void) {
        static const char *const names[] = { "reserved", "prepared", "in-use", "degraded" };

        for (int i = 0; i < _RESERVATION_STATE_MAX; i++) {
                g_assert_cmpstr(reservation_state_to_string(i), ==, names[i]);
                g_assert_cmpint(reservation_state_from_string(names[i]), ==, i);
        }
        g_assert_null(reservation_state_to_string(_RESERVATION_STATE_MAX));
        g_assert_null(reservation_state_to_string(_RESERVATION_STATE_INVALID));
        g_assert_cmpint(reservation_state_from_string("Reserved"), ==, _RESERVATION_STATE_INVALID);
        g_assert_cmpint(reservation_state_from_string("in_use"), ==, _RESERVATION_STATE_INVALID);
        g_assert_cmpint(reservation_state_from_string(""), ==, _RESERVATION_STATE_INVALID);
        g_assert_cmpint(reservation_state_from_string(NULL), ==, _RESERVATION_STATE_INVALID);

        g_assert_cmpstr(journal_operation_to_string(JOURNAL_PREPARE), ==, "prepare");
        g_assert_cmpstr(journal_operation_to_string(JOURNAL_UNPREPARE), ==, "unprepare");
        g_assert_null(journal_operation_to_string(_JOURNAL_OPERATION_MAX));
        g_assert_cmpint(journal_operation_from_string("unprepare"), ==, JOURNAL_UNPREPARE);
        g_assert_cmpint(journal_operation_from_string("release"), ==, _JOURNAL_OPERATION_INVALID);
        g_assert_cmpint(journal_operation_from_string(NULL), ==, _JOURNAL_OPERATION_INVALID);
        g_assert_null(reservation_journal_new(_JOURNAL_OPERATION_INVALID));
}

static void test_functions(void) {
        static const char *const order[] = {
                "0000:00:1f.7", "0000:0b:00.0", "0000:0b:00.1", "0001:00:00.0", "10000:00:00.0",
        };
        _cleanup_reservation_ Reservation *r = reservation_new();
        _cleanup_reservation_journal_ ReservationJournal *j = NULL;
        PciAddress a;

        g_assert_nonnull(r);
        g_assert_null(r->owner);
        g_assert_null(r->driver);
        g_assert_cmpint(r->state, ==, RESERVATION_RESERVED);
        g_assert_true(r->persistent);
        g_assert_null(r->journal);

        /* inserted in a scrambled order, kept sorted */
        for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
                a = addr(order[(i * 3) % G_N_ELEMENTS(order)]);
                g_assert_cmpint(reservation_add_function(r, &a, i % 2), ==, 0);
        }
        g_assert_cmpuint(r->n_functions, ==, G_N_ELEMENTS(order));
        for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
                char buf[PCI_ADDRESS_STRLEN];

                g_assert_cmpstr(pci_address_format(&r->functions[i].address, buf), ==, order[i]);
                a = addr(order[i]);
                g_assert_true(reservation_find_function(r, &a) == &r->functions[i]);
                g_assert_null(r->functions[i].host_driver);
                g_assert_false(r->functions[i].has_dsn);
        }
        a = addr("0000:0b:00.0");
        g_assert_cmpint(reservation_add_function(r, &a, true), ==, -EEXIST);
        g_assert_cmpuint(r->n_functions, ==, G_N_ELEMENTS(order));
        a = addr("0000:0b:00.2");
        g_assert_null(reservation_find_function(r, &a));
        a = addr("0000:00:00.0");
        g_assert_null(reservation_find_function(r, &a));
        a = addr("ffffffff:ff:1f.7");
        g_assert_null(reservation_find_function(r, &a));

        /* the bound that keeps hostile input from growing without end */
        for (unsigned i = 0; r->n_functions < RESERVATION_FUNCTIONS_MAX; i++) {
                a = (PciAddress) { .domain = 2, .bus = (uint8_t) (i >> 8), .device = (i >> 3) & 0x1f, .function = i & 7 };
                g_assert_cmpint(reservation_add_function(r, &a, true), ==, 0);
        }
        a = addr("0003:00:00.0");
        g_assert_cmpint(reservation_add_function(r, &a, true), ==, -E2BIG);
        a = addr("0000:0b:00.0");
        g_assert_cmpint(reservation_add_function(r, &a, true), ==, -EEXIST);
        for (size_t i = 1; i < r->n_functions; i++)
                g_assert_cmpint(pci_address_compare(&r->functions[i - 1].address, &r->functions[i].address), <, 0);

        /* the journal's functions behave the same */
        j = reservation_journal_new(JOURNAL_PREPARE);
        g_assert_nonnull(j);
        a = addr("0000:0b:00.1");
        g_assert_cmpint(reservation_journal_add_function(j, &a, "e1000e"), ==, 0);
        a = addr("0000:0b:00.0");
        g_assert_cmpint(reservation_journal_add_function(j, &a, NULL), ==, 0);
        g_assert_cmpint(reservation_journal_add_function(j, &a, "e1000e"), ==, -EEXIST);
        a = addr("0000:0c:00.0");
        g_assert_cmpint(reservation_journal_add_function(j, &a, "../unbind"), ==, -EINVAL);
        g_assert_cmpuint(j->n_functions, ==, 2);
        g_assert_null(j->functions[0].original_driver);
        g_assert_cmpstr(j->functions[1].original_driver, ==, "e1000e");
        a = addr("0000:0b:00.1");
        g_assert_true(reservation_journal_find_function(j, &a) == &j->functions[1]);
        a = addr("0000:0c:00.0");
        g_assert_null(reservation_journal_find_function(j, &a));

        /* NULL-safe frees */
        g_assert_null(reservation_free(NULL));
        g_assert_null(reservation_journal_free(NULL));
}

/* ---- format and parse ---- */

static void test_round_trip(void) {
        _cleanup_(store_data_done) StoreData d = {}, back = {}, empty = {}, empty_back = {};
        g_autofree char *text = NULL, *text2 = NULL, *etext = NULL;

        sample_data(&d);
        text = store_format(&d);
        g_assert_nonnull(text);
        g_assert_cmpint(store_parse(text, strlen(text), &back), ==, 0);
        assert_store_equal(&d, &back);
        text2 = store_format(&back);
        g_assert_cmpstr(text, ==, text2);

        empty.next_id = 1;
        etext = store_format(&empty);
        g_assert_cmpstr(etext, ==, "{\n  \"format\": 1,\n  \"next_id\": 1,\n  \"reservations\": [\n  ]\n}\n");
        g_assert_cmpint(store_parse(etext, strlen(etext), &empty_back), ==, 0);
        assert_empty(&empty_back);
}

/* The committed fixture is exactly what store_format() writes for the
 * sample: a change of the format shows up as a diff of this file. */
static void test_fixture_valid(void) {
        _cleanup_(store_data_done) StoreData d = {}, expected = {};
        g_autofree char *text = NULL, *formatted = NULL;
        size_t len;

        text = read_fixture("valid-v1.json", &len);
        g_assert_cmpint(store_parse(text, len, &d), ==, 0);
        sample_data(&expected);
        assert_store_equal(&d, &expected);
        formatted = store_format(&expected);
        g_assert_cmpstr(formatted, ==, text);
}

/* What a human editing the file might write is read the same way. */
static void test_parse_tolerant(void) {
        static const char text[] =
                "{\"reservations\":[{\"functions\":[{\"address\":\"0000:0B:00.1\",\"assigned\":false,"
                "\"host_driver\":\"e1000e\",\"vendor_id\":32902,\"device_id\":4307,\"dsn\":\"0102030405A6B7C8\"},"
                "{\"device_id\":4307,\"vendor_id\":32902,\"host_driver\":null,\"assigned\":true,\"address\":\"0000:0b:00.0\"}],"
                "\"journal\":null,\"id\":\"r7\",\"owner\":\"x\",\"owner_uid\":0,\"persistent\":true,"
                "\"driver\":\"vfio-pci\",\"state\":\"reserved\",\"created_usec\":-0,\"last_error\":null}],"
                "\"next_id\":8,\"format\":1}";
        _cleanup_(store_data_done) StoreData d = {};
        char buf[PCI_ADDRESS_STRLEN];

        g_assert_cmpint(store_parse(text, strlen(text), &d), ==, 0);
        g_assert_cmpuint(d.n_reservations, ==, 1);
        g_assert_cmpuint(d.reservations[0]->n_functions, ==, 2);
        g_assert_cmpstr(pci_address_format(&d.reservations[0]->functions[0].address, buf), ==, "0000:0b:00.0");
        g_assert_cmpstr(pci_address_format(&d.reservations[0]->functions[1].address, buf), ==, "0000:0b:00.1");
        g_assert_true(d.reservations[0]->functions[1].has_dsn);
        g_assert_cmpuint(d.reservations[0]->functions[1].dsn, ==, UINT64_C(0x0102030405a6b7c8));
        g_assert_null(d.reservations[0]->journal);

        /* not NUL-terminated: only n bytes are looked at */
        {
                g_autofree char *copy = g_strdup(text);
                _cleanup_(store_data_done) StoreData d2 = {};

                copy[strlen(text) - 1] = '}';
                g_assert_cmpint(store_parse(copy, strlen(text), &d2), ==, 0);
                assert_store_equal(&d, &d2);
        }
}

/* Every prefix of a valid file is either the whole document (only the
 * final newline missing) or refused; never half a store. */
static void test_truncated(void) {
        _cleanup_(store_data_done) StoreData full = {};
        g_autofree char *text = NULL;
        size_t len, accepted = 0;

        text = read_fixture("valid-v1.json", &len);
        g_assert_cmpint(store_parse(text, len, &full), ==, 0);

        for (size_t k = 0; k <= len; k++) {
                _cleanup_(store_data_done) StoreData d = { .next_id = 42 };
                char *copy = g_malloc(k ?: 1);  /* exactly k bytes, so ASan sees overreads */
                int r;

                memcpy(copy, text, k);
                r = store_parse(copy, k, &d);
                if (r == 0) {
                        assert_store_equal(&full, &d);
                        accepted++;
                } else {
                        g_assert_cmpint(r, ==, -EBADMSG);
                        /* output untouched on failure */
                        g_assert_cmpuint(d.next_id, ==, 42);
                        g_assert_null(d.reservations);
                }
                g_free(copy);
        }
        g_assert_cmpuint(accepted, ==, 2);
}

static void test_future_format_parse(void) {
        static const char *const future[] = {
                /* format 4 is known (store.h): the first unknown one is 5 */
                "{\"format\":5}",
                "{\"format\":5,\"reservations\":\"a different shape\",\"whatever\":[1,2,3]}",
                "{\"format\":18446744073709551615}",
                "{\"next_id\":\"x\",\"format\":5}",
        };
        g_autofree char *text = NULL;
        size_t len;

        for (size_t i = 0; i < G_N_ELEMENTS(future); i++) {
                StoreData d = {};

                g_assert_cmpint(store_parse(future[i], strlen(future[i]), &d), ==, -EPROTONOSUPPORT);
        }
        text = read_fixture("future-format.json", &len);
        {
                StoreData d = {};
                g_assert_cmpint(store_parse(text, len, &d), ==, -EPROTONOSUPPORT);
        }
}

static void expect_badmsg(const char *what, const char *text, size_t len) {
        StoreData d = { .next_id = 42 };
        int r;

        r = store_parse(text, len, &d);
        if (r != -EBADMSG)
                g_error("%s: expected -EBADMSG, got %d (%s)", what, r, r < 0 ? g_strerror(-r) : "accepted");
        g_assert_cmpuint(d.next_id, ==, 42);
}

/* A JSON pointer into the valid fixture and what to put there (JSON text;
 * NULL deletes).  Indices: reservations/0 is r1 (two functions), /1 is r3
 * (one function, a journal), /2 is vm-legacy. */
static const struct {
        const char *path, *value;
} mutations[] = {
        /* top level */
        { "/format", NULL }, { "/format", "0" }, { "/format", "-1" }, { "/format", "\"1\"" },
        { "/format", "1.0" }, { "/format", "true" }, { "/format", "null" },
        { "/next_id", NULL }, { "/next_id", "0" }, { "/next_id", "-1" }, { "/next_id", "3" },
        { "/next_id", "\"4\"" }, { "/next_id", "4.0" }, { "/next_id", "1e3" },
        { "/next_id", "18446744073709551615" }, { "/next_id", "99999999999999999999999" },
        { "/reservations", NULL }, { "/reservations", "{}" }, { "/reservations", "null" },
        { "/reservations", "\"r1\"" }, { "/extra", "1" }, { "/extra", "null" },
        /* a reservation */
        { "/reservations/0", "[]" }, { "/reservations/0", "null" }, { "/reservations/0", "\"r1\"" },
        { "/reservations/0", "{}" }, { "/reservations/0/extra", "0" }, { "/reservations/0/Id", "\"r1\"" },
        /* id */
        { "/reservations/0/id", NULL }, { "/reservations/0/id", "null" }, { "/reservations/0/id", "1" },
        { "/reservations/0/id", "\"\"" }, { "/reservations/0/id", "\"r/1\"" }, { "/reservations/0/id", "\"..\"" },
        { "/reservations/0/id", "\"../../etc/passwd\"" }, { "/reservations/0/id", "\"-r1\"" },
        { "/reservations/0/id", "\"r 1\"" }, { "/reservations/0/id", "\"r1\\u0000x\"" },
        { "/reservations/0/id", "\"abcdefghijklmnopqrstuvwxyz0123456\"" },
        { "/reservations/0/id", "\"r3\"" },                      /* duplicate id */
        { "/reservations/2/id", "\"r1\"" },                      /* duplicate id */
        { "/reservations/0/id", "\"r4\"" },                      /* not below next_id */
        { "/reservations/0/id", "\"r99\"" },
        { "/reservations/0/id", "\"r99999999999999999999999\"" },     /* N beyond 64 bits */
        /* owner */
        { "/reservations/0/owner", NULL }, { "/reservations/0/owner", "null" }, { "/reservations/0/owner", "1" },
        { "/reservations/0/owner", "[\"x\"]" }, { "/reservations/0/owner", "\"\"" },
        { "/reservations/0/owner", "\"a\\nb\"" }, { "/reservations/0/owner", "\"\\u007f\"" },
        { "/reservations/0/owner", "\"\\u0085\"" }, { "/reservations/0/owner", "\"\\u001b[2J\"" },
        { "/reservations/0/owner", "\"a\\u0000b\"" }, { "/reservations/0/owner", "\"\xc0\xaf\"" },
        { "/reservations/0/owner", "\"\xed\xa0\x80\"" }, { "/reservations/0/owner", "\"\xf4\x90\x80\x80\"" },
        { "/reservations/0/owner", "\"\xe2\x82\"" }, { "/reservations/0/owner", "\"\xff\"" },
        { "/reservations/0/owner", "\"\xc2\x85\"" }, { "/reservations/0/owner", "\"x\x7f\"" },
        /* owner_uid */
        { "/reservations/0/owner_uid", NULL }, { "/reservations/0/owner_uid", "-1" },
        { "/reservations/0/owner_uid", "4294967295" }, { "/reservations/0/owner_uid", "4294967296" },
        { "/reservations/0/owner_uid", "1.5" }, { "/reservations/0/owner_uid", "\"0\"" },
        { "/reservations/0/owner_uid", "true" }, { "/reservations/0/owner_uid", "null" },
        /* persistent */
        { "/reservations/0/persistent", NULL }, { "/reservations/0/persistent", "1" },
        { "/reservations/0/persistent", "\"true\"" }, { "/reservations/0/persistent", "null" },
        /* driver */
        { "/reservations/0/driver", NULL }, { "/reservations/0/driver", "null" }, { "/reservations/0/driver", "\"\"" },
        { "/reservations/0/driver", "\"vfio/pci\"" }, { "/reservations/0/driver", "\"..\"" },
        { "/reservations/0/driver", "\"vfio pci\"" }, { "/reservations/0/driver", "5" },
        { "/reservations/0/driver", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"" },
        /* state */
        { "/reservations/0/state", NULL }, { "/reservations/0/state", "\"bogus\"" },
        { "/reservations/0/state", "\"Reserved\"" }, { "/reservations/0/state", "\"in_use\"" },
        { "/reservations/0/state", "\"\"" }, { "/reservations/0/state", "0" }, { "/reservations/0/state", "null" },
        /* created_usec */
        { "/reservations/0/created_usec", NULL }, { "/reservations/0/created_usec", "-1" },
        { "/reservations/0/created_usec", "1.5" }, { "/reservations/0/created_usec", "\"0\"" },
        { "/reservations/0/created_usec", "null" }, { "/reservations/0/created_usec", "18446744073709551616" },
        /* last_error */
        { "/reservations/0/last_error", NULL }, { "/reservations/0/last_error", "\"\"" },
        { "/reservations/0/last_error", "5" }, { "/reservations/0/last_error", "\"a\\u0000b\"" },
        { "/reservations/0/last_error", "\"\\u001b[2J\"" }, { "/reservations/0/last_error", "\"\xc0\xaf\"" },
        /* functions */
        { "/reservations/0/functions", NULL }, { "/reservations/0/functions", "[]" },
        { "/reservations/0/functions", "{}" }, { "/reservations/0/functions", "null" },
        { "/reservations/0/functions/0", "\"0000:0b:00.0\"" }, { "/reservations/0/functions/0", "null" },
        { "/reservations/0/functions/0", "[]" }, { "/reservations/0/functions/0/extra", "1" },
        { "/reservations/0/functions/0/address", NULL }, { "/reservations/0/functions/0/address", "null" },
        { "/reservations/0/functions/0/address", "5" }, { "/reservations/0/functions/0/address", "\"\"" },
        { "/reservations/0/functions/0/address", "\"0000:0b:00\"" },
        { "/reservations/0/functions/0/address", "\"0b:00.0\"" },
        { "/reservations/0/functions/0/address", "\"0000:0b:20.0\"" },
        { "/reservations/0/functions/0/address", "\"0000:0b:00.0/../..\"" },
        { "/reservations/0/functions/0/address", "\"../../../sys/bus/pci/drivers/e1000e/unbind\"" },
        { "/reservations/0/functions/0/address", "\"0000:0b:00.0\\u0000\"" },
        { "/reservations/0/functions/1/address", "\"0000:0b:00.0\"" },         /* duplicate */
        { "/reservations/0/functions/1/address", "\"0000:0B:00.0\"" },         /* duplicate, other case */
        { "/reservations/2/functions/0/address", "\"0000:01:00.0\"" },         /* r3's function */
        { "/reservations/2/functions/1/address", "\"0000:0b:00.1\"" },         /* r1's function */
        { "/reservations/0/functions/0/assigned", NULL }, { "/reservations/0/functions/0/assigned", "0" },
        { "/reservations/0/functions/0/assigned", "\"yes\"" }, { "/reservations/0/functions/0/assigned", "null" },
        { "/reservations/0/functions/0/host_driver", NULL },
        { "/reservations/0/functions/0/host_driver", "\"a/b\"" },
        { "/reservations/0/functions/0/host_driver", "\"\"" },
        { "/reservations/0/functions/0/host_driver", "5" },
        { "/reservations/0/functions/0/vendor_id", NULL }, { "/reservations/0/functions/0/vendor_id", "65536" },
        { "/reservations/0/functions/0/vendor_id", "-1" }, { "/reservations/0/functions/0/vendor_id", "\"8086\"" },
        { "/reservations/0/functions/0/vendor_id", "null" }, { "/reservations/0/functions/0/device_id", "70000" },
        { "/reservations/0/functions/0/device_id", NULL },
        { "/reservations/0/functions/0/dsn", "null" }, { "/reservations/0/functions/0/dsn", "5" },
        { "/reservations/0/functions/0/dsn", "\"\"" }, { "/reservations/0/functions/0/dsn", "\"0102\"" },
        { "/reservations/0/functions/0/dsn", "\"01020304050607080\"" },
        { "/reservations/0/functions/0/dsn", "\"0x02030405060708\"" },
        { "/reservations/0/functions/0/dsn", "\"010203040506070g\"" },
        { "/reservations/0/functions/0/dsn", "\"01-02-03-04-05-06-07-08\"" },
        /* journal */
        { "/reservations/1/journal", "[]" }, { "/reservations/1/journal", "5" },
        { "/reservations/1/journal", "\"prepare\"" }, { "/reservations/1/journal", "{}" },
        { "/reservations/1/journal/extra", "1" },
        { "/reservations/1/journal/operation", NULL }, { "/reservations/1/journal/operation", "\"rollback\"" },
        { "/reservations/1/journal/operation", "null" }, { "/reservations/1/journal/operation", "0" },
        { "/reservations/1/journal/step", NULL }, { "/reservations/1/journal/step", "-1" },
        { "/reservations/1/journal/step", "4294967296" }, { "/reservations/1/journal/step", "\"2\"" },
        { "/reservations/1/journal/functions", NULL }, { "/reservations/1/journal/functions", "null" },
        { "/reservations/1/journal/functions", "{}" },
        { "/reservations/1/journal/functions/0", "\"0000:01:00.0\"" },
        { "/reservations/1/journal/functions/0/address", "\"0000:0b:00.0\"" },     /* not r3's */
        { "/reservations/1/journal/functions/0/address", "\"junk\"" },
        { "/reservations/1/journal/functions/0/address", NULL },
        { "/reservations/1/journal/functions/0/original_driver", NULL },
        { "/reservations/1/journal/functions/0/original_driver", "\"../x\"" },
        { "/reservations/1/journal/functions/0/original_driver", "5" },
        { "/reservations/1/journal/functions/0/extra", "1" },
        { "/reservations/1/journal/functions/-", "{\"address\":\"0000:01:00.0\",\"original_driver\":null}" },
        { "/reservations/2/journal/functions/1/address", "\"0000:00:1f.7\"" },      /* duplicate */
};

static int apply_mutation(json_object **root, const char *path, const char *value) {
        if (value) {
                json_object *v = NULL;

                if (!g_str_equal(value, "null")) {
                        v = json_tokener_parse(value);
                        g_assert_nonnull(v);
                }
                return json_pointer_set(root, path, v);
        } else {
                g_autofree char *parent_path = g_strdup(path);
                char *slash = strrchr(parent_path, '/');
                json_object *parent;

                *slash = 0;
                if (json_pointer_get(*root, parent_path, &parent) < 0)
                        return -1;
                g_assert_true(json_object_object_get_ex(parent, slash + 1, NULL));
                json_object_object_del(parent, slash + 1);
                return 0;
        }
}

/* Controls: the same mechanism with harmless changes still parses, so a
 * refusal above is due to the mutation, not to the re-serialisation. */
static const struct {
        const char *path, *value;
} harmless[] = {
        { "/format", "1" }, { "/next_id", "5" }, { "/next_id", "18446744073709551614" },
        { "/reservations/0/owner", "\"x\"" }, { "/reservations/0/id", "\"r0\"" },
        { "/reservations/0/id", "\"r002\"" }, { "/reservations/0/owner_uid", "4294967294" },
        { "/reservations/0/last_error", "\"e\"" }, { "/reservations/1/last_error", "null" },
        { "/reservations/0/functions/0/address", "\"0000:0B:00.2\"" },
        { "/reservations/0/functions/0/host_driver", "null" },
        { "/reservations/0/functions/0/dsn", "\"0102030405A6B7C8\"" },
        { "/reservations/1/functions/0/dsn", NULL }, { "/reservations/1/journal", NULL },
        { "/reservations/1/journal", "null" }, { "/reservations/1/journal/functions", "[]" },
        { "/reservations/1/journal/step", "4294967295" },
        { "/reservations/0/created_usec", "18446744073709551614" },
        { "/reservations/0/functions/1/vendor_id", "65535" },
};

static void test_hostile_mutations(void) {
        g_autofree char *text = NULL;
        size_t len;

        text = read_fixture("valid-v1.json", &len);

        for (size_t i = 0; i < G_N_ELEMENTS(harmless); i++) {
                _cleanup_(store_data_done) StoreData d = {};
                json_object *root = json_tokener_parse(text);
                const char *s;

                g_assert_nonnull(root);
                g_assert_cmpint(apply_mutation(&root, harmless[i].path, harmless[i].value), ==, 0);
                s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
                if (store_parse(s, strlen(s), &d) != 0)
                        g_error("harmless change %s = %s refused", harmless[i].path, harmless[i].value ?: "(deleted)");
                json_object_put(root);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(mutations); i++) {
                json_object *root = json_tokener_parse(text);
                g_autofree char *what = g_strdup_printf("%s = %s", mutations[i].path, mutations[i].value ?: "(deleted)");
                const char *s;

                g_assert_nonnull(root);
                if (apply_mutation(&root, mutations[i].path, mutations[i].value) < 0)
                        g_error("%s: cannot apply", what);
                s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
                expect_badmsg(what, s, strlen(s));
                json_object_put(root);
        }
}

static char *many_functions(unsigned n) {
        GString *s = g_string_new("{\"format\":1,\"next_id\":2,\"reservations\":[{\"id\":\"r1\",\"owner\":\"x\","
                                  "\"owner_uid\":0,\"persistent\":true,\"driver\":\"vfio-pci\",\"state\":\"reserved\","
                                  "\"created_usec\":0,\"last_error\":null,\"functions\":[");

        for (unsigned i = 0; i < n; i++)
                g_string_append_printf(s, "%s{\"address\":\"%04x:%02x:%02x.%x\",\"assigned\":true,\"host_driver\":null,"
                                       "\"vendor_id\":1,\"device_id\":2}",
                                       i ? "," : "", i >> 16, (i >> 8) & 0xff, (i >> 3) & 0x1f, i & 7);
        g_string_append(s, "]}]}");
        return g_string_free(s, false);
}

static void test_hostile_text(void) {
        static const char *const bad[] = {
                " ", "\n", "null", "[]", "1", "\"format\"", "true", "{}", "{\"format\":1}",
                "{\"format\":1,\"next_id\":1}",
                "{\"format\":1,\"next_id\":1,\"reservations\":[],}",
                "{\"format\":1,\"next_id\":1,\"reservations\":[]} x",
                "{\"format\":1,\"next_id\":1,\"reservations\":[]}}",
                "{\"format\":1,\"next_id\":1,\"reservations\":[]}{}",
                "/* */{\"format\":1,\"next_id\":1,\"reservations\":[]}",
                "{\"format\":1,\"next_id\":NaN,\"reservations\":[]}",
                "{\"format\":1,\"next_id\":Infinity,\"reservations\":[]}",
                "{\"format\":1,\"next_id\":01,\"reservations\":[]}",
                "{\"format\":1,\"next_id\":1,\"reservations\":[null]}",
                "{\"format\":1,\"next_id\":1,\"reservations\":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}",
                "{\"format\":1,\"next_id\":1,\"reservations\":[{\"id\":{\"id\":{\"id\":{\"id\":{\"id\":{}}}}}}]}",
                "{\"format\":\"2\"}", "{\"format\":null}", "{\"format\":1.5}", "{\"format\":0}",
                "\xef\xbb\xbf{\"format\":1,\"next_id\":1,\"reservations\":[]}",        /* a BOM */
        };
        g_autofree char *text = NULL, *big = NULL;
        size_t len;

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                expect_badmsg(bad[i], bad[i], strlen(bad[i]));
        expect_badmsg("empty", "", 0);

        /* a NUL byte, inside or after the document */
        text = read_fixture("valid-v1.json", &len);
        {
                g_autofree char *copy = g_malloc(len + 1);

                memcpy(copy, text, len + 1);
                expect_badmsg("trailing NUL", copy, len + 1);
                copy[len / 2] = 0;
                expect_badmsg("NUL inside", copy, len);
        }

        /* deep nesting, a million levels: refused without recursion */
        {
                size_t n = 1000 * 1000;
                g_autofree char *deep = g_malloc(2 * n);

                memset(deep, '[', n);
                memset(deep + n, ']', n);
                expect_badmsg("deep arrays", deep, 2 * n);
                for (size_t i = 0; i < n; i++)
                        deep[i] = i % 2 ? ':' : '{';
                expect_badmsg("deep garbage", deep, n);
        }

        /* huge strings where short ones belong */
        {
                g_autofree char *huge = g_strnfill(1024 * 1024, 'a');
                g_autofree char *owner = g_strdup_printf(
                        "{\"format\":1,\"next_id\":2,\"reservations\":[{\"id\":\"r1\",\"owner\":\"%s\","
                        "\"owner_uid\":0,\"persistent\":true,\"driver\":\"vfio-pci\",\"state\":\"reserved\","
                        "\"created_usec\":0,\"last_error\":null,\"functions\":[{\"address\":\"0000:00:02.0\","
                        "\"assigned\":true,\"host_driver\":null,\"vendor_id\":1,\"device_id\":2}]}]}", huge);
                g_autofree char *err = g_strdup_printf(
                        "{\"format\":1,\"next_id\":2,\"reservations\":[{\"id\":\"r1\",\"owner\":\"x\","
                        "\"owner_uid\":0,\"persistent\":true,\"driver\":\"vfio-pci\",\"state\":\"reserved\","
                        "\"created_usec\":0,\"last_error\":\"%s\",\"functions\":[{\"address\":\"0000:00:02.0\","
                        "\"assigned\":true,\"host_driver\":null,\"vendor_id\":1,\"device_id\":2}]}]}", huge);
                g_autofree char *key = g_strdup_printf("{\"format\":1,\"next_id\":1,\"reservations\":[],\"%s\":1}", huge);

                expect_badmsg("huge owner", owner, strlen(owner));
                expect_badmsg("huge last_error", err, strlen(err));
                expect_badmsg("huge key", key, strlen(key));
        }

        /* 10k functions in one reservation; the limit itself is fine */
        big = many_functions(10000);
        expect_badmsg("10000 functions", big, strlen(big));
        {
                g_autofree char *over = many_functions(RESERVATION_FUNCTIONS_MAX + 1);
                g_autofree char *at = many_functions(RESERVATION_FUNCTIONS_MAX);
                _cleanup_(store_data_done) StoreData d = {};

                expect_badmsg("one function too many", over, strlen(over));
                g_assert_cmpint(store_parse(at, strlen(at), &d), ==, 0);
                g_assert_cmpuint(d.reservations[0]->n_functions, ==, RESERVATION_FUNCTIONS_MAX);
        }

        /* bigger than any file we write */
        {
                StoreData d = {};
                char c = '{';

                g_assert_cmpint(store_parse(&c, (size_t) STORE_FILE_MAX + 1, &d), ==, -EBADMSG);
        }
        g_assert_cmpint(store_parse(NULL, 0, NULL), ==, -EINVAL);
}

/* ---- files ---- */

static void test_save_load(void) {
        g_autofree char *dir = make_tmp_dir(), *listing = NULL, *text = NULL, *sentinel = g_strdup("x");
        char *moved = sentinel;
        _cleanup_(store_data_done) StoreData d = {}, loaded = {}, empty = {}, loaded2 = {};
        g_autofree char *path = NULL;
        struct stat st;
        size_t len;

        /* nothing there yet: empty, and nothing created */
        g_assert_cmpint(store_load(dir, &empty, &moved), ==, 0);
        assert_empty(&empty);
        g_assert_null(moved);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, "");

        sample_data(&d);
        g_assert_cmpint(store_save(dir, &d), ==, 0);
        g_free(listing);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, STORE_FILE_NAME);

        path = g_build_filename(dir, STORE_FILE_NAME, NULL);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        text = read_file(dir, STORE_FILE_NAME, &len);
        {
                g_autofree char *fixture = read_fixture("valid-v1.json", NULL);
                g_assert_cmpstr(text, ==, fixture);
        }

        g_assert_cmpint(store_load(dir, &loaded, NULL), ==, 0);
        assert_store_equal(&d, &loaded);

        /* a second save replaces the file (and the mode an admin changed) */
        g_assert_cmpint(chmod(path, 0644), ==, 0);
        reservation_free(d.reservations[--d.n_reservations]);
        d.next_id = 100;
        g_assert_cmpint(store_save(dir, &d), ==, 0);
        g_assert_cmpint(store_load(dir, &loaded2, NULL), ==, 0);
        assert_store_equal(&d, &loaded2);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        g_free(listing);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, STORE_FILE_NAME);

        rm_rf(dir);
}

static void test_save_fails(void) {
        g_autofree char *dir = make_tmp_dir(), *listing = NULL, *before = NULL, *after = NULL;
        g_autofree char *file = NULL, *sub = NULL;
        _cleanup_(store_data_done) StoreData d = {}, other = {};
        size_t before_len, after_len;
        struct rlimit saved, small;
        void (*old_handler)(int);
        Reservation *r;

        sample_data(&d);
        g_assert_cmpint(store_save(dir, &d), ==, 0);
        before = read_file(dir, STORE_FILE_NAME, &before_len);

        other = (StoreData) { .next_id = 2 };
        r = make_reservation("r1", "other", 0, true, RESERVATION_RESERVED, 1, NULL);
        for (unsigned i = 0; i < 200; i++) {
                char buf[PCI_ADDRESS_STRLEN];
                PciAddress a = { .bus = (uint8_t) (i / 8), .device = 0, .function = i % 8 };
                add_function(r, pci_address_format(&a, buf), true, "e1000e", 0x8086, 0x10d3, false, 0);
        }
        store_push(&other, r);

        /* The write itself fails half-way (the file size limit stands in
         * for a full disk, which root cannot fake with permissions). */
        g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &saved), ==, 0);
        small = saved;
        small.rlim_cur = 512;
        old_handler = signal(SIGXFSZ, SIG_IGN);
        g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &small), ==, 0);
        g_assert_cmpint(store_save(dir, &other), ==, -EFBIG);
        g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &saved), ==, 0);
        signal(SIGXFSZ, old_handler);

        after = read_file(dir, STORE_FILE_NAME, &after_len);
        g_assert_cmpmem(before, before_len, after, after_len);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, STORE_FILE_NAME);

        /* Invalid data is not written at all. */
        {
                char *owner = d.reservations[0]->owner;

                d.reservations[0]->owner = g_strdup("bad\nowner");
                g_assert_cmpint(store_save(dir, &d), ==, -EINVAL);
                g_free(d.reservations[0]->owner);
                d.reservations[0]->owner = NULL;
                g_assert_cmpint(store_save(dir, &d), ==, -EINVAL);
                d.reservations[0]->owner = owner;

                {
                        char *driver = d.reservations[0]->driver;

                        d.reservations[0]->driver = NULL;
                        g_assert_cmpint(store_save(dir, &d), ==, -EINVAL);
                        d.reservations[0]->driver = driver;
                }

                d.reservations[0]->state = _RESERVATION_STATE_MAX;
                g_assert_cmpint(store_save(dir, &d), ==, -EINVAL);
                d.reservations[0]->state = RESERVATION_PREPARED;

                d.next_id = 3;             /* r3 exists */
                g_assert_cmpint(store_save(dir, &d), ==, -EINVAL);
                d.next_id = 4;

                g_free(after);
                after = read_file(dir, STORE_FILE_NAME, &after_len);
                g_assert_cmpmem(before, before_len, after, after_len);
        }

        /* The rename fails: state.json became a directory. */
        g_assert_cmpint(store_save(dir, &d), ==, 0);
        sub = g_build_filename(dir, STORE_FILE_NAME, NULL);
        g_assert_cmpint(g_unlink(sub), ==, 0);
        g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
        write_file(sub, "keep", "x", 1);
        g_assert_cmpint(store_save(dir, &d), ==, -EISDIR);
        g_free(listing);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, STORE_FILE_NAME);
        g_free(listing);
        listing = dir_listing(sub);
        g_assert_cmpstr(listing, ==, "keep");
        /* ... which load refuses without moving it */
        {
                StoreData l = {};
                g_assert_cmpint(store_load(dir, &l, NULL), ==, -EISDIR);
        }
        rm_rf(sub);

        /* The directory is a file, or missing. */
        file = g_build_filename(dir, "not-a-dir", NULL);
        write_file(dir, "not-a-dir", "x", 1);
        g_assert_cmpint(store_save(file, &d), ==, -ENOTDIR);
        g_free(file);
        file = g_build_filename(dir, "missing", NULL);
        g_assert_cmpint(store_save(file, &d), ==, -ENOENT);
        g_free(listing);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, "not-a-dir");

        rm_rf(dir);
}

static void test_corrupt_moved_aside(void) {
        g_autofree char *dir = make_tmp_dir(), *original = NULL, *moved = NULL, *moved2 = NULL;
        g_autofree char *listing = NULL, *prefix = NULL;
        _cleanup_(store_data_done) StoreData d = {}, d2 = {}, sample = {}, reloaded = {};
        size_t len;

        original = read_fixture("corrupt.json", &len);
        write_file(dir, STORE_FILE_NAME, original, len);

        g_assert_cmpint(store_load(dir, &d, &moved), ==, 1);
        assert_empty(&d);
        g_assert_nonnull(moved);
        prefix = g_build_filename(dir, STORE_FILE_NAME ".corrupt-", NULL);
        g_assert_true(g_str_has_prefix(moved, prefix));
        for (const char *p = moved + strlen(prefix); *p; p++)
                g_assert_true(g_ascii_isdigit(*p));
        {
                g_autofree char *base = g_path_get_basename(moved);
                g_autofree char *dirname = g_path_get_dirname(moved);
                g_autofree char *content = NULL;
                size_t clen;

                g_assert_cmpstr(dirname, ==, dir);
                content = read_file(dir, base, &clen);
                g_assert_cmpmem(content, clen, original, len);
                listing = dir_listing(dir);
                g_assert_cmpstr(listing, ==, base);
        }

        /* the daemon goes on with an empty store and saves it */
        sample_data(&sample);
        g_assert_cmpint(store_save(dir, &sample), ==, 0);
        g_assert_cmpint(store_load(dir, &reloaded, NULL), ==, 0);
        assert_store_equal(&sample, &reloaded);

        /* A second corrupt file (here: an empty one) does not replace the
         * first. */
        write_file(dir, STORE_FILE_NAME, "", 0);
        g_assert_cmpint(store_load(dir, &d2, &moved2), ==, 1);
        assert_empty(&d2);
        g_assert_cmpstr(moved, !=, moved2);
        {
                g_autofree char *base = g_path_get_basename(moved);
                size_t clen;
                g_autofree char *content = read_file(dir, base, &clen);

                g_assert_cmpmem(content, clen, original, len);
        }
        g_free(listing);
        listing = dir_listing(dir);
        {
                g_auto(GStrv) names = g_strsplit(listing, " ", -1);

                g_assert_cmpuint(g_strv_length(names), ==, 2);
                for (size_t i = 0; i < 2; i++)
                        g_assert_true(g_str_has_prefix(names[i], STORE_FILE_NAME ".corrupt-"));
        }

        rm_rf(dir);
}

static void test_corrupt_kinds(void) {
        g_autofree char *valid = NULL;
        size_t len;

        valid = read_fixture("valid-v1.json", &len);

        /* truncated in the middle, invalid content, and a file too big to
         * be ours (sparse, so the test stays cheap) */
        for (int kind = 0; kind < 3; kind++) {
                g_autofree char *dir = make_tmp_dir(), *moved = NULL, *path = NULL;
                _cleanup_(store_data_done) StoreData d = {};
                struct stat st;

                path = g_build_filename(dir, STORE_FILE_NAME, NULL);
                if (kind == 0)
                        write_file(dir, STORE_FILE_NAME, valid, len / 2);
                else if (kind == 1) {
                        g_autofree char *bad = g_strdup(valid);
                        char *p = strstr(bad, "\"in-use\"");

                        g_assert_nonnull(p);
                        memcpy(p, "\"in-usx\"", 8);
                        write_file(dir, STORE_FILE_NAME, bad, len);
                } else {
                        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

                        g_assert_cmpint(fd, >=, 0);
                        g_assert_cmpint(write(fd, valid, len), ==, (ssize_t) len);
                        g_assert_cmpint(ftruncate(fd, (off_t) STORE_FILE_MAX + 1), ==, 0);
                        close(fd);
                }

                g_assert_cmpint(store_load(dir, &d, &moved), ==, 1);
                assert_empty(&d);
                g_assert_cmpint(stat(moved, &st), ==, 0);
                g_assert_cmpint(st.st_size, ==, kind == 0 ? (off_t) (len / 2) : kind == 1 ? (off_t) len : (off_t) STORE_FILE_MAX + 1);
                g_assert_cmpint(access(path, F_OK), <, 0);
                rm_rf(dir);
        }
}

static void test_future_format_load(void) {
        g_autofree char *dir = make_tmp_dir(), *original = NULL, *after = NULL, *listing = NULL;
        g_autofree char *moved = g_strdup("untouched");
        StoreData d = { .next_id = 42 };
        size_t len, after_len;

        original = read_fixture("future-format.json", &len);
        write_file(dir, STORE_FILE_NAME, original, len);

        g_assert_cmpint(store_load(dir, &d, &moved), ==, -EPROTONOSUPPORT);
        g_assert_cmpuint(d.next_id, ==, 42);
        g_assert_cmpstr(moved, ==, "untouched");
        after = read_file(dir, STORE_FILE_NAME, &after_len);
        g_assert_cmpmem(original, len, after, after_len);
        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, STORE_FILE_NAME);

        rm_rf(dir);
}

static void test_load_special(void) {
        g_autofree char *dir = make_tmp_dir(), *path = NULL, *missing = NULL, *listing = NULL;
        StoreData d = {};

        path = g_build_filename(dir, STORE_FILE_NAME, NULL);

        /* a symlink, even to a valid file */
        {
                g_autofree char *target = fixture_path("valid-v1.json");
                g_assert_cmpint(symlink(target, path), ==, 0);
                g_assert_cmpint(store_load(dir, &d, NULL), ==, -ELOOP);
                g_assert_cmpint(g_unlink(path), ==, 0);
        }
        /* a FIFO: must not block */
        g_assert_cmpint(mkfifo(path, 0600), ==, 0);
        g_assert_cmpint(store_load(dir, &d, NULL), ==, -EBADFD);
        g_assert_cmpint(g_unlink(path), ==, 0);

        missing = g_build_filename(dir, "missing", NULL);
        g_assert_cmpint(store_load(missing, &d, NULL), ==, -ENOENT);
        g_assert_cmpint(store_load(NULL, &d, NULL), ==, -EINVAL);

        listing = dir_listing(dir);
        g_assert_cmpstr(listing, ==, "");
        rm_rf(dir);
}

static void test_bus_names(void) {
        static const char *const good[] = { ":1.0", ":1.42", ":12.3456", ":a.b.c", ":x-y_z.0" };
        static const char *const bad[] = { "", ":", "1.42", ":1", ":1.", ":.1", ":1..2", ":1.4 2",
                                           "org.pciassign1", ":1.\n", ":1.é" };
        g_autofree gchar *long_name = g_strnfill(256, 'a');

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
                g_assert_true(bus_unique_name_is_valid(good[i]));
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                if (bus_unique_name_is_valid(bad[i]))
                        g_error("\"%s\" taken for a unique bus name", bad[i]);
        long_name[0] = ':';
        long_name[100] = '.';
        g_assert_false(bus_unique_name_is_valid(long_name));   /* 256 bytes */
        long_name[255] = 0;
        g_assert_true(bus_unique_name_is_valid(long_name));    /* 255 */
        g_assert_false(bus_unique_name_is_valid(NULL));

        g_assert_true(bus_id_is_valid("0123456789abcdef0123456789ABCDEF"));
        g_assert_false(bus_id_is_valid("0123456789abcdef0123456789abcde"));
        g_assert_false(bus_id_is_valid("0123456789abcdef0123456789abcdef0"));
        g_assert_false(bus_id_is_valid("0123456789abcdef0123456789abcdeg"));
        g_assert_false(bus_id_is_valid(""));
        g_assert_false(bus_id_is_valid(NULL));
}

/* Format 2: where a degraded reservation returns to, and a transient
 * owner's bus identity, survive a save and a load; the writer uses format
 * 1 when neither is there, so an older daemon still reads it. */
static void test_format2(void) {
        StoreData d = { .next_id = 3 }, back = {};
        Reservation *a, *b;
        g_autofree char *text = NULL, *text1 = NULL, *text2 = NULL;

        a = make_reservation("r1", "vm1", 1000, true, RESERVATION_DEGRADED, 1, "0000:0b:00.1 is gone");
        a->return_to = RESERVATION_IN_USE;
        add_function(a, "0000:0b:00.0", true, "e1000e", 0x8086, 0x10d3, false, 0);
        b = make_reservation("r2", "vm2", 0, false, RESERVATION_PREPARED, 2, NULL);
        b->owner_bus_name = g_strdup(":1.42");
        b->owner_bus_id = g_strdup("0123456789abcdef0123456789abcdef");
        add_function(b, "0000:02:00.0", true, "e1000e", 0x8086, 0x10d3, false, 0);
        store_push(&d, a);
        store_push(&d, b);

        text = store_format(&d);
        g_assert_nonnull(strstr(text, "\"format\": 2,"));
        g_assert_nonnull(strstr(text, "\"return_to\": \"in-use\""));
        g_assert_nonnull(strstr(text, "\"name\": \":1.42\""));
        g_assert_cmpint(store_parse(text, strlen(text), &back), ==, 0);
        g_assert_cmpuint(back.n_reservations, ==, 2);
        g_assert_cmpint(back.reservations[0]->return_to, ==, RESERVATION_IN_USE);
        g_assert_cmpint(back.reservations[1]->return_to, ==, _RESERVATION_STATE_INVALID);
        g_assert_cmpstr(back.reservations[1]->owner_bus_name, ==, ":1.42");
        g_assert_cmpstr(back.reservations[1]->owner_bus_id, ==, "0123456789abcdef0123456789abcdef");
        g_assert_null(back.reservations[0]->owner_bus_name);
        text2 = store_format(&back);
        g_assert_cmpstr(text2, ==, text);
        store_data_done(&back);

        /* nothing of format 2 left: written as format 1 */
        a->state = RESERVATION_PREPARED;
        a->return_to = _RESERVATION_STATE_INVALID;
        g_clear_pointer(&b->owner_bus_name, g_free);
        g_clear_pointer(&b->owner_bus_id, g_free);
        text1 = store_format(&d);
        g_assert_nonnull(strstr(text1, "\"format\": 1,"));
        g_assert_null(strstr(text1, "return_to"));
        g_assert_null(strstr(text1, "owner_bus"));
        store_data_done(&d);
}

/* One case of the format tests: head (which starts {"format":N) with
 * format N and tail, parsed into *d; the result must be `expect`.
 * Returns the text (the caller frees it). */
static gchar *parse_case(size_t i, const char *head, int format, const char *tail, int expect, StoreData *d) {
        gchar *t = g_strdup_printf("%s%s", head, tail);
        int r;

        t[10] = (char) ('0' + format);   /* {"format":N */
        r = store_parse(t, strlen(t), d);
        if (r != expect)
                g_error("case %zu: %s: got %d, expected %d", i, t, r, expect);
        return t;
}

static void test_format2_refused(void) {
        static const char *const head2 = "{\"format\":2,\"next_id\":2,\"reservations\":[{\"id\":\"r1\",\"owner\":\"x\","
                                         "\"owner_uid\":0,\"driver\":\"vfio-pci\",\"created_usec\":0,"
                                         "\"last_error\":null,\"functions\":[{\"address\":\"0000:00:03.0\","
                                         "\"assigned\":true,\"host_driver\":null,\"vendor_id\":1,\"device_id\":2}],";
        static const struct {
                int format;
                const char *tail;
                int expect;
        } cases[] = {
                /* return_to only beside degraded, and never degraded itself */
                { 2, "\"persistent\":true,\"state\":\"degraded\",\"return_to\":\"prepared\"}]}", 0 },
                { 2, "\"persistent\":true,\"state\":\"degraded\"}]}", 0 },
                { 2, "\"persistent\":true,\"state\":\"prepared\",\"return_to\":\"reserved\"}]}", -EBADMSG },
                { 2, "\"persistent\":true,\"state\":\"degraded\",\"return_to\":\"degraded\"}]}", -EBADMSG },
                { 2, "\"persistent\":true,\"state\":\"degraded\",\"return_to\":\"gone\"}]}", -EBADMSG },
                { 2, "\"persistent\":true,\"state\":\"degraded\",\"return_to\":null}]}", -EBADMSG },
                { 2, "\"persistent\":true,\"state\":\"degraded\",\"return_to\":1}]}", -EBADMSG },
                /* owner_bus only for a transient one, both keys valid, nothing else */
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":{\"name\":\":1.7\","
                     "\"bus_id\":\"0123456789abcdef0123456789abcdef\"}}]}", 0 },
                { 2, "\"persistent\":true,\"state\":\"reserved\",\"owner_bus\":{\"name\":\":1.7\","
                     "\"bus_id\":\"0123456789abcdef0123456789abcdef\"}}]}", -EBADMSG },
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":{\"name\":\"org.x\","
                     "\"bus_id\":\"0123456789abcdef0123456789abcdef\"}}]}", -EBADMSG },
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":{\"name\":\":1.7\","
                     "\"bus_id\":\"0123\"}}]}", -EBADMSG },
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":{\"name\":\":1.7\"}}]}", -EBADMSG },
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":{\"name\":\":1.7\","
                     "\"bus_id\":\"0123456789abcdef0123456789abcdef\",\"pid\":1}}]}", -EBADMSG },
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":\":1.7\"}]}", -EBADMSG },
                { 2, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":null}]}", -EBADMSG },
                /* format 1 knows neither key */
                { 1, "\"persistent\":true,\"state\":\"degraded\",\"return_to\":\"prepared\"}]}", -EBADMSG },
                { 1, "\"persistent\":false,\"state\":\"reserved\",\"owner_bus\":{\"name\":\":1.7\","
                     "\"bus_id\":\"0123456789abcdef0123456789abcdef\"}}]}", -EBADMSG },
                { 1, "\"persistent\":true,\"state\":\"degraded\"}]}", 0 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                StoreData d = {};
                g_autofree gchar *t = parse_case(i, head2, cases[i].format, cases[i].tail, cases[i].expect, &d);

                if (cases[i].expect == 0 && d.reservations[0]->state == RESERVATION_DEGRADED &&
                    !strstr(t, "return_to"))
                        g_assert_cmpint(d.reservations[0]->return_to, ==, _RESERVATION_STATE_INVALID);
                store_data_done(&d);
        }
}

/* Format 3: a function adopted on a vfio driver or pci-stub (the admin's
 * binding) keeps "adopted" and its driver_override through a save and a
 * load; without one the writer stays at format 2 or 1. */
static void test_format3(void) {
        StoreData d = { .next_id = 3 }, back = {};
        Reservation *a;
        ReservationFunction *f;
        PciAddress pa;
        g_autofree char *text = NULL, *text2 = NULL, *text1 = NULL;

        a = make_reservation("r1", "vm1", 1000, true, RESERVATION_RESERVED, 1, NULL);
        add_function(a, "0000:0b:00.0", true, "vfio-pci", 0x8086, 0x10d3, false, 0);
        add_function(a, "0000:0b:00.1", false, "pci-stub", 0x8086, 0x10d3, false, 0);
        add_function(a, "0000:02:00.0", true, "e1000e", 0x8086, 0x10d3, false, 0);
        pa = addr("0000:0b:00.0");
        f = reservation_find_function(a, &pa);
        f->adopted = true;
        f->host_override = g_strdup("vfio-pci");
        pa = addr("0000:0b:00.1");
        reservation_find_function(a, &pa)->adopted = true;      /* pci-stub.ids=: no override */
        store_push(&d, a);

        text = store_format(&d);
        g_assert_nonnull(strstr(text, "\"format\": 3,"));
        g_assert_nonnull(strstr(text, "\"adopted\": true,\n"));
        g_assert_nonnull(strstr(text, "\"host_override\": \"vfio-pci\"\n"));
        g_assert_null(strstr(text, "\"adopted\": false"));
        g_assert_cmpint(store_parse(text, strlen(text), &back), ==, 0);
        assert_store_equal(&d, &back);
        g_assert_true(back.reservations[0]->functions[1].adopted);        /* 0b:00.0 */
        g_assert_cmpstr(back.reservations[0]->functions[1].host_override, ==, "vfio-pci");
        g_assert_true(back.reservations[0]->functions[2].adopted);        /* 0b:00.1 */
        g_assert_null(back.reservations[0]->functions[2].host_override);
        g_assert_false(back.reservations[0]->functions[0].adopted);       /* 02:00.0 */
        text2 = store_format(&back);
        g_assert_cmpstr(text2, ==, text);
        store_data_done(&back);

        /* adoption gone: format 1 again, which an older daemon reads */
        for (size_t i = 0; i < a->n_functions; i++) {
                a->functions[i].adopted = false;
                g_clear_pointer(&a->functions[i].host_override, g_free);
        }
        text1 = store_format(&d);
        g_assert_nonnull(strstr(text1, "\"format\": 1,"));
        g_assert_null(strstr(text1, "adopted"));
        g_assert_null(strstr(text1, "host_override"));
        store_data_done(&d);
}

static void test_format3_refused(void) {
        static const char *const head = "{\"format\":3,\"next_id\":2,\"reservations\":[{\"id\":\"r1\",\"owner\":\"x\","
                                        "\"owner_uid\":0,\"persistent\":true,\"driver\":\"vfio-pci\","
                                        "\"state\":\"reserved\",\"created_usec\":0,\"last_error\":null,"
                                        "\"functions\":[{\"address\":\"0000:00:03.0\",\"assigned\":true,"
                                        "\"vendor_id\":1,\"device_id\":2,";
        static const struct {
                int format;
                const char *tail;
                int expect;
        } cases[] = {
                /* an older file without the keys */
                { 3, "\"host_driver\":\"e1000e\"}]}]}", 0 },
                { 1, "\"host_driver\":\"vfio-pci\"}]}]}", 0 },
                /* adopted, with and without an override */
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":true,\"host_override\":\"vfio-pci\"}]}]}", 0 },
                { 3, "\"host_driver\":\"pci-stub\",\"adopted\":true}]}]}", 0 },
                { 3, "\"host_driver\":\"mlx5_vfio_pci\",\"adopted\":true,\"host_override\":\"mlx5_vfio_pci\"}]}]}", 0 },
                { 3, "\"host_driver\":\"pci-stub\",\"adopted\":false}]}]}", 0 },
                /* wrong types */
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":\"yes\"}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":1}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":null}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":true,\"host_override\":null}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":true,\"host_override\":7}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":true,\"host_override\":\"\"}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":true,\"host_override\":\"../x\"}]}]}", -EBADMSG },
                /* an override only with adoption; adoption only of ours */
                { 3, "\"host_driver\":\"vfio-pci\",\"host_override\":\"vfio-pci\"}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"vfio-pci\",\"adopted\":false,\"host_override\":\"vfio-pci\"}]}]}", -EBADMSG },
                { 3, "\"host_driver\":\"e1000e\",\"adopted\":true}]}]}", -EBADMSG },
                { 3, "\"host_driver\":null,\"adopted\":true}]}]}", -EBADMSG },
                /* formats 1 and 2 know neither key */
                { 2, "\"host_driver\":\"vfio-pci\",\"adopted\":true}]}]}", -EBADMSG },
                { 1, "\"host_driver\":\"pci-stub\",\"adopted\":true}]}]}", -EBADMSG },
                { 2, "\"host_driver\":\"vfio-pci\",\"adopted\":true,\"host_override\":\"vfio-pci\"}]}]}", -EBADMSG },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                StoreData d = {};
                g_autofree gchar *t = parse_case(i, head, cases[i].format, cases[i].tail, cases[i].expect, &d);

                if (cases[i].expect == 0) {
                        const ReservationFunction *f = &d.reservations[0]->functions[0];

                        g_assert_cmpint(f->adopted, ==, strstr(t, "\"adopted\":true") != NULL);
                        g_assert_cmpint(f->host_override != NULL, ==, strstr(t, "host_override") != NULL);
                }
                store_data_done(&d);
        }
}

/* Format 4: the subsystem ids recorded at Reserve (identity checks at
 * re-apply and at a device's return compare them); a store without them
 * stays at the older format, which older daemons read. */
static void test_format4(void) {
        StoreData d = { .next_id = 3 }, back = {};
        Reservation *a;
        ReservationFunction *f;
        PciAddress pa;
        g_autofree char *text = NULL, *text2 = NULL, *text3 = NULL, *text1 = NULL;

        a = make_reservation("r1", "vm1", 1000, true, RESERVATION_RESERVED, 1, NULL);
        add_function(a, "0000:0b:00.0", true, "e1000e", 0x8086, 0x10d3, true, 0x0102030405060708);
        add_function(a, "0000:0b:00.1", true, "e1000e", 0x8086, 0x10d3, false, 0);
        pa = addr("0000:0b:00.0");
        f = reservation_find_function(a, &pa);
        f->has_subsystem = true;
        f->subsystem_vendor_id = 0x1af4;
        f->subsystem_device_id = 0xffff;
        pa = addr("0000:0b:00.1");
        f = reservation_find_function(a, &pa);
        f->has_subsystem = true;        /* zero ids are ids too */
        store_push(&d, a);

        text = store_format(&d);
        g_assert_nonnull(strstr(text, "\"format\": 4,"));
        g_assert_nonnull(strstr(text, "\"subsystem_vendor_id\": 6900,\n"));
        g_assert_nonnull(strstr(text, "\"subsystem_device_id\": 65535\n"));
        g_assert_nonnull(strstr(text, "\"subsystem_vendor_id\": 0,\n"));
        g_assert_cmpint(store_parse(text, strlen(text), &back), ==, 0);
        assert_store_equal(&d, &back);
        text2 = store_format(&back);
        g_assert_cmpstr(text2, ==, text);
        store_data_done(&back);

        /* with adoption and format-2 keys too: still 4, the newest */
        a->functions[0].host_driver = (g_free(a->functions[0].host_driver), g_strdup("vfio-pci"));
        a->functions[0].adopted = true;
        a->state = RESERVATION_DEGRADED;
        a->return_to = RESERVATION_PREPARED;
        text3 = store_format(&d);
        g_assert_nonnull(strstr(text3, "\"format\": 4,"));
        g_assert_cmpint(store_parse(text3, strlen(text3), &back), ==, 0);
        assert_store_equal(&d, &back);
        store_data_done(&back);

        /* no ids recorded (a reservation read from format 3): back to 1 */
        for (size_t i = 0; i < a->n_functions; i++)
                a->functions[i].has_subsystem = a->functions[i].adopted = false;
        a->state = RESERVATION_RESERVED;
        a->return_to = _RESERVATION_STATE_INVALID;
        text1 = store_format(&d);
        g_assert_nonnull(strstr(text1, "\"format\": 1,"));
        g_assert_null(strstr(text1, "subsystem"));
        store_data_done(&d);
}

static void test_format4_refused(void) {
        static const char *const head = "{\"format\":4,\"next_id\":2,\"reservations\":[{\"id\":\"r1\",\"owner\":\"x\","
                                        "\"owner_uid\":0,\"persistent\":true,\"driver\":\"vfio-pci\","
                                        "\"state\":\"reserved\",\"created_usec\":0,\"last_error\":null,"
                                        "\"functions\":[{\"address\":\"0000:00:03.0\",\"assigned\":true,"
                                        "\"vendor_id\":1,\"device_id\":2,\"host_driver\":\"e1000e\"";
        static const struct {
                int format;
                const char *tail;
                int expect;
        } cases[] = {
                /* older files and format 4 without the keys */
                { 4, "}]}]}", 0 },
                { 3, "}]}]}", 0 },
                { 4, ",\"subsystem_vendor_id\":6900,\"subsystem_device_id\":4352}]}]}", 0 },
                { 4, ",\"subsystem_vendor_id\":0,\"subsystem_device_id\":65535}]}]}", 0 },
                /* both or neither */
                { 4, ",\"subsystem_vendor_id\":6900}]}]}", -EBADMSG },
                { 4, ",\"subsystem_device_id\":4352}]}]}", -EBADMSG },
                /* wrong types and ranges */
                { 4, ",\"subsystem_vendor_id\":65536,\"subsystem_device_id\":1}]}]}", -EBADMSG },
                { 4, ",\"subsystem_vendor_id\":-1,\"subsystem_device_id\":1}]}]}", -EBADMSG },
                { 4, ",\"subsystem_vendor_id\":\"1af4\",\"subsystem_device_id\":1}]}]}", -EBADMSG },
                { 4, ",\"subsystem_vendor_id\":null,\"subsystem_device_id\":null}]}]}", -EBADMSG },
                { 4, ",\"subsystem_vendor_id\":1.5,\"subsystem_device_id\":1}]}]}", -EBADMSG },
                /* formats 1 to 3 do not know them */
                { 3, ",\"subsystem_vendor_id\":6900,\"subsystem_device_id\":4352}]}]}", -EBADMSG },
                { 1, ",\"subsystem_vendor_id\":6900,\"subsystem_device_id\":4352}]}]}", -EBADMSG },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                StoreData d = {};
                g_autofree gchar *t = parse_case(i, head, cases[i].format, cases[i].tail, cases[i].expect, &d);

                if (cases[i].expect == 0) {
                        const ReservationFunction *f = &d.reservations[0]->functions[0];

                        g_assert_cmpint(f->has_subsystem, ==, strstr(t, "subsystem") != NULL);
                        if (strstr(t, "6900"))
                                g_assert_cmpuint(f->subsystem_vendor_id, ==, 6900);
                }
                store_data_done(&d);
        }
}

/* The identity a function was reserved with against what is at its
 * address: ids, subsystem ids only where recorded, the serial number only
 * where the reserved device had one. */
static void test_identity(void) {
        Reservation *r = make_reservation("r1", "vm1", 0, true, RESERVATION_RESERVED, 1, NULL);
        PciDevice d = { .vendor_id = 0x8086, .device_id = 0x10d3, .subsystem_vendor_id = 0x8086 };
        ReservationFunction *f;
        PciAddress a = addr("0000:0a:00.0");
        char what[160];

        add_function(r, "0000:0a:00.0", true, "e1000e", 0x8086, 0x10d3, false, 0);
        f = reservation_find_function(r, &a);
        g_assert_true(reservation_function_matches(f, &d, what, sizeof what));
        /* no subsystem ids recorded (format 3 and older): not compared */
        d.subsystem_vendor_id = 0x1af4;
        g_assert_true(reservation_function_matches(f, &d, what, sizeof what));
        f->has_subsystem = true;
        f->subsystem_vendor_id = 0x8086;
        g_assert_false(reservation_function_matches(f, &d, what, sizeof what));
        g_assert_cmpstr(what, ==, "a device of other subsystem ids (1af4:0000, reserved: 8086:0000)");
        d.subsystem_vendor_id = 0x8086;
        d.subsystem_device_id = 1;
        g_assert_false(reservation_function_matches(f, &d, what, sizeof what));
        d.subsystem_device_id = 0;
        g_assert_true(reservation_function_matches(f, &d, what, sizeof what));
        /* another model first */
        d.device_id = 0x100e;
        d.subsystem_device_id = 1;
        g_assert_false(reservation_function_matches(f, &d, what, sizeof what));
        g_assert_cmpstr(what, ==, "a different device (8086:100e, reserved: 8086:10d3)");
        d.device_id = 0x10d3;
        d.subsystem_device_id = 0;
        /* a serial number reserved: the device must show the same one */
        f->has_dsn = true;
        f->dsn = 0x0102030405060708;
        g_assert_false(reservation_function_matches(f, &d, what, sizeof what));
        g_assert_cmpstr(what, ==, "a device with another serial number");
        d.config_valid = true;
        d.config.dsn = true;
        d.config.dsn_value = 0x0102030405060709;
        g_assert_false(reservation_function_matches(f, &d, what, sizeof what));
        d.config.dsn_value = 0x0102030405060708;
        g_assert_true(reservation_function_matches(f, &d, what, sizeof what));
        reservation_free(r);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/reservation/owner", test_owner);
        g_test_add_func("/reservation/names", test_names);
        g_test_add_func("/reservation/states", test_states);
        g_test_add_func("/reservation/functions", test_functions);
        g_test_add_func("/store/round-trip", test_round_trip);
        g_test_add_func("/store/fixture-valid", test_fixture_valid);
        g_test_add_func("/store/parse-tolerant", test_parse_tolerant);
        g_test_add_func("/store/truncated", test_truncated);
        g_test_add_func("/store/future-format-parse", test_future_format_parse);
        g_test_add_func("/store/hostile-mutations", test_hostile_mutations);
        g_test_add_func("/store/hostile-text", test_hostile_text);
        g_test_add_func("/store/save-load", test_save_load);
        g_test_add_func("/store/save-fails", test_save_fails);
        g_test_add_func("/store/corrupt-moved-aside", test_corrupt_moved_aside);
        g_test_add_func("/store/corrupt-kinds", test_corrupt_kinds);
        g_test_add_func("/store/future-format-load", test_future_format_load);
        g_test_add_func("/store/load-special", test_load_special);
        g_test_add_func("/reservation/bus-names", test_bus_names);
        g_test_add_func("/store/format2", test_format2);
        g_test_add_func("/store/format2-refused", test_format2_refused);
        g_test_add_func("/store/format3", test_format3);
        g_test_add_func("/store/format3-refused", test_format3_refused);
        g_test_add_func("/store/format4", test_format4);
        g_test_add_func("/store/format4-refused", test_format4_refused);
        g_test_add_func("/reservation/identity", test_identity);
        return g_test_run();
}
