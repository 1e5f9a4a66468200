/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "json-checked.h"
#include "json-util.h"
#include "macro.h"
#include "store.h"

/* The schema nests six containers deep (root, reservations, reservation,
 * journal, its functions, one entry).  The tokener refuses anything
 * deeper before it recurses, so hostile nesting costs nothing. */
#define JSON_DEPTH_MAX 8

#define DSN_HEX_DIGITS 16

void store_data_done(StoreData *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n_reservations; i++)
                reservation_free(d->reservations[i]);
        free(d->reservations);
        *d = (StoreData) {};
}

/* ---- parsing ---- */

static int parse_dsn(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t i;

        for (i = 0; i < DSN_HEX_DIGITS; i++) {
                char c = s[i];
                unsigned d;

                if (c >= '0' && c <= '9')
                        d = (unsigned) (c - '0');
                else if (c >= 'a' && c <= 'f')
                        d = (unsigned) (c - 'a' + 10);
                else if (c >= 'A' && c <= 'F')
                        d = (unsigned) (c - 'A' + 10);
                else
                        return -EBADMSG;        /* also catches the end of a short string */
                v = (v << 4) | d;
        }
        if (s[i] != 0)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* Format 3: "adopted" (bool) and, only with adopted true, "host_override"
 * (a driver name), both optional; adopted needs a host_driver that is a
 * vfio driver or pci-stub (the binding that was adopted). */
static int parse_adoption(json_object *o, const char *host_driver, bool *ret_adopted, char **ret_override) {
        const char *ovr = NULL;
        bool adopted = false;
        json_object *v;
        int r;

        if (json_object_object_get_ex(o, "adopted", &v) && (r = json_get_bool(o, "adopted", &adopted)) < 0)
                return r;
        if (json_object_object_get_ex(o, "host_override", &v)) {
                /* absent is "unset"; null is not another way to say it */
                if (!adopted || !v || (r = json_get_driver(o, "host_override", false, &ovr)) < 0)
                        return -EBADMSG;
        }
        if (adopted && !driver_is_adoptable(host_driver))
                return -EBADMSG;
        if (ovr && !(*ret_override = strdup(ovr)))
                return -ENOMEM;
        *ret_adopted = adopted;
        return 0;
}

static int parse_function(json_object *o, int64_t format, Reservation *res) {
        static const char *const keys[] = {
                "address", "assigned", "host_driver", "vendor_id", "device_id", "dsn",
                "adopted", "host_override",     /* format 3 */
                "subsystem_vendor_id", "subsystem_device_id",   /* format 4 */
        };
        size_t n_keys = ELEMENTSOF(keys) - (format >= 4 ? 0 : format >= 3 ? 2 : 4);
        ReservationFunction *f;
        const char *host_driver;
        uint64_t vendor_id, device_id, dsn = 0, ss_vendor = 0, ss_device = 0;
        bool assigned, has_dsn = false, adopted = false, has_subsystem = false;
        _cleanup_free_ char *hd = NULL, *ovr = NULL;
        json_object *v;
        PciAddress a;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = json_check_keys(o, keys, n_keys)) < 0 ||
            (r = json_get_address(o, "address", &a)) < 0 ||
            (r = json_get_bool(o, "assigned", &assigned)) < 0 ||
            (r = json_get_driver(o, "host_driver", true, &host_driver)) < 0 ||
            (r = json_get_u64(o, "vendor_id", UINT16_MAX, &vendor_id)) < 0 ||
            (r = json_get_u64(o, "device_id", UINT16_MAX, &device_id)) < 0)
                return r;
        if (format >= 3 && (r = parse_adoption(o, host_driver, &adopted, &ovr)) < 0)
                return r;
        if (format >= 4) {
                bool v_ = json_object_object_get_ex(o, "subsystem_vendor_id", NULL),
                     d_ = json_object_object_get_ex(o, "subsystem_device_id", NULL);

                /* both or neither */
                if (v_ != d_)
                        return -EBADMSG;
                if (v_ && ((r = json_get_u64(o, "subsystem_vendor_id", UINT16_MAX, &ss_vendor)) < 0 ||
                           (r = json_get_u64(o, "subsystem_device_id", UINT16_MAX, &ss_device)) < 0))
                        return r;
                has_subsystem = v_;
        }

        if (json_object_object_get_ex(o, "dsn", &v)) {
                const char *s;

                /* optional, but when present a string: null is not "none" */
                if (!v || !json_object_is_type(v, json_type_string))
                        return -EBADMSG;
                if ((r = json_to_string(v, &s)) < 0 || (r = parse_dsn(s, &dsn)) < 0)
                        return r;
                has_dsn = true;
        }

        if (host_driver) {
                hd = strdup(host_driver);
                if (!hd)
                        return -ENOMEM;
        }

        r = reservation_add_function(res, &a, assigned);
        if (r == -ENOMEM)
                return r;
        if (r < 0)              /* -EEXIST: listed twice; -E2BIG: too many */
                return -EBADMSG;

        f = reservation_find_function(res, &a);
        f->host_driver = TAKE_PTR(hd);
        f->adopted = adopted;
        f->host_override = TAKE_PTR(ovr);
        f->vendor_id = (uint16_t) vendor_id;
        f->device_id = (uint16_t) device_id;
        f->has_subsystem = has_subsystem;
        f->subsystem_vendor_id = (uint16_t) ss_vendor;
        f->subsystem_device_id = (uint16_t) ss_device;
        f->has_dsn = has_dsn;
        f->dsn = dsn;
        return 0;
}

static int parse_journal_function(json_object *o, const Reservation *res, ReservationJournal *j) {
        static const char *const keys[] = { "address", "original_driver" };
        const char *driver;
        PciAddress a;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = json_check_keys(o, keys, ELEMENTSOF(keys))) < 0 ||
            (r = json_get_address(o, "address", &a)) < 0 ||
            (r = json_get_driver(o, "original_driver", true, &driver)) < 0)
                return r;

        /* Recovery acts on what the journal names: it must not be able to
         * touch a function outside its reservation. */
        if (!reservation_find_function(res, &a))
                return -EBADMSG;

        r = reservation_journal_add_function(j, &a, driver);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EBADMSG;
        return 0;
}

static int parse_journal(json_object *o, Reservation *res) {
        static const char *const keys[] = { "operation", "step", "functions" };
        _cleanup_reservation_journal_ ReservationJournal *j = NULL;
        JournalOperation op;
        json_object *array;
        const char *s;
        uint64_t step;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = json_check_keys(o, keys, ELEMENTSOF(keys))) < 0 ||
            (r = json_get_string(o, "operation", false, &s)) < 0 ||
            (r = json_get_u64(o, "step", UINT32_MAX, &step)) < 0 ||
            (r = json_get_member(o, "functions", json_type_array, false, &array)) < 0)
                return r;

        op = journal_operation_from_string(s);
        if (op < 0)
                return -EBADMSG;
        j = reservation_journal_new(op);
        if (!j)
                return -ENOMEM;
        j->step = (uint32_t) step;

        n = json_object_array_length(array);
        if (n > res->n_functions)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                r = parse_journal_function(json_object_array_get_idx(array, i), res, j);
                if (r < 0)
                        return r;
        }

        res->journal = TAKE_PTR(j);
        return 0;
}

/* Format 2: "return_to" (degraded only) and "owner_bus" (transient only),
 * both optional. */
static int parse_format2(json_object *o, Reservation *res) {
        static const char *const bus_keys[] = { "name", "bus_id" };
        const char *name, *bus_id, *rt;
        json_object *v;
        int r;

        if (json_object_object_get_ex(o, "return_to", &v)) {
                if ((r = json_get_string(o, "return_to", false, &rt)) < 0)
                        return r;
                res->return_to = reservation_state_from_string(rt);
                if (res->return_to < 0 || res->return_to == RESERVATION_DEGRADED)
                        return -EBADMSG;
        }
        if (json_object_object_get_ex(o, "owner_bus", &v)) {
                if (res->persistent || !json_object_is_type(v, json_type_object) ||
                    (r = json_check_keys(v, bus_keys, ELEMENTSOF(bus_keys))) < 0 ||
                    (r = json_get_string(v, "name", false, &name)) < 0 ||
                    (r = json_get_string(v, "bus_id", false, &bus_id)) < 0)
                        return -EBADMSG;
                if (!bus_unique_name_is_valid(name) || !bus_id_is_valid(bus_id))
                        return -EBADMSG;
                res->owner_bus_name = strdup(name);
                res->owner_bus_id = strdup(bus_id);
                if (!res->owner_bus_name || !res->owner_bus_id)
                        return -ENOMEM;
        }
        return 0;
}

static int parse_reservation(json_object *o, int64_t format, Reservation **ret) {
        static const char *const keys[] = {
                "id", "owner", "owner_uid", "persistent", "driver", "state",
                "created_usec", "last_error", "functions", "journal",
                "return_to", "owner_bus",   /* format 2 */
        };
        _cleanup_reservation_ Reservation *res = NULL;
        const char *id, *owner, *driver, *state, *last_error;
        uint64_t uid, created;
        json_object *array, *v;
        size_t n;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = json_check_keys(o, keys, ELEMENTSOF(keys) - (format >= 2 ? 0 : 2))) < 0 ||
            (r = json_get_string(o, "id", false, &id)) < 0 ||
            (r = json_get_string(o, "owner", false, &owner)) < 0 ||
            /* (uid_t) -1 means "no user" everywhere */
            (r = json_get_u64(o, "owner_uid", UINT32_MAX - 1, &uid)) < 0 ||
            (r = json_get_driver(o, "driver", false, &driver)) < 0 ||
            (r = json_get_string(o, "state", false, &state)) < 0 ||
            (r = json_get_u64(o, "created_usec", UINT64_MAX, &created)) < 0 ||
            (r = json_get_string(o, "last_error", true, &last_error)) < 0 ||
            (r = json_get_member(o, "functions", json_type_array, false, &array)) < 0)
                return r;

        if (!reservation_id_is_valid(id) || !reservation_owner_is_valid(owner))
                return -EBADMSG;
        if (last_error && !reservation_last_error_is_valid(last_error))
                return -EBADMSG;

        res = reservation_new();
        if (!res)
                return -ENOMEM;
        if ((r = json_get_bool(o, "persistent", &res->persistent)) < 0)
                return r;
        res->state = reservation_state_from_string(state);
        if (res->state < 0)
                return -EBADMSG;
        if (format >= 2 && (r = parse_format2(o, res)) < 0)
                return r;
        /* only a degraded reservation returns somewhere; one of format 1
         * does not say where (the daemon then takes "reserved") */
        if (res->state != RESERVATION_DEGRADED && res->return_to >= 0)
                return -EBADMSG;
        strcpy(res->id, id);    /* fits: checked by reservation_id_is_valid() */
        res->owner_uid = (uid_t) uid;
        res->created_usec = created;

        res->driver = strdup(driver);
        res->owner = strdup(owner);
        if (!res->driver || !res->owner)
                return -ENOMEM;
        if (last_error) {
                res->last_error = strdup(last_error);
                if (!res->last_error)
                        return -ENOMEM;
        }

        /* Refuse an oversized array before touching its elements. */
        n = json_object_array_length(array);
        if (n == 0 || n > RESERVATION_FUNCTIONS_MAX)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                r = parse_function(json_object_array_get_idx(array, i), format, res);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(o, "journal", &v) && v) {
                r = parse_journal(v, res);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(res);
        return 0;
}

static int cmp_string_ptr(const void *a, const void *b) {
        return strcmp(*(const char * const *) a, *(const char * const *) b);
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y ? 1 : 0;
}

/* N of an id of the daemon's form "r<N>"; 0 if the id has another form,
 * -EBADMSG if N does not fit (no next_id could be greater). */
static int id_number(const char *id, uint64_t *ret) {
        uint64_t v = 0;

        if (id[0] != 'r' || id[1] == 0)
                return 0;
        for (const char *p = id + 1; *p; p++) {
                if (*p < '0' || *p > '9')
                        return 0;
                if (v > (UINT64_MAX - (uint64_t) (*p - '0')) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        *ret = v;
        return 1;
}

/* What no single reservation can check on its own. */
static int check_store(const StoreData *d) {
        _cleanup_free_ const char **ids = NULL;
        _cleanup_free_ uint64_t *keys = NULL;
        size_t n_keys = 0;
        int r;

        if (d->n_reservations == 0)
                return 0;

        ids = calloc(d->n_reservations, sizeof(char *));
        if (!ids)
                return -ENOMEM;
        for (size_t i = 0; i < d->n_reservations; i++) {
                uint64_t num;

                ids[i] = d->reservations[i]->id;
                n_keys += d->reservations[i]->n_functions;

                /* The daemon names new reservations r<next_id>: a smaller
                 * next_id would hand out an existing id again. */
                r = id_number(ids[i], &num);
                if (r < 0)
                        return r;
                if (r > 0 && num >= d->next_id)
                        return -EBADMSG;
        }
        qsort(ids, d->n_reservations, sizeof(char *), cmp_string_ptr);
        for (size_t i = 1; i < d->n_reservations; i++)
                if (streq(ids[i - 1], ids[i]))
                        return -EBADMSG;

        keys = calloc(n_keys, sizeof(uint64_t));
        if (!keys)
                return -ENOMEM;
        n_keys = 0;
        for (size_t i = 0; i < d->n_reservations; i++)
                for (size_t k = 0; k < d->reservations[i]->n_functions; k++)
                        keys[n_keys++] = pci_address_key(&d->reservations[i]->functions[k].address);
        qsort(keys, n_keys, sizeof(uint64_t), cmp_u64);
        for (size_t i = 1; i < n_keys; i++)
                if (keys[i - 1] == keys[i])
                        return -EBADMSG;
        return 0;
}

int store_parse(const char *text, size_t n, StoreData *ret) {
        static const char *const keys[] = { "format", "next_id", "reservations" };
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(store_data_done) StoreData d = {};
        json_object *array;
        int64_t format;
        size_t n_res;
        int r;

        if (!text || !ret)
                return -EINVAL;
        r = json_parse_strict(text, n, STORE_FILE_MAX, JSON_DEPTH_MAX, &root);
        if (r < 0)
                return r;
        r = json_get_format(root, STORE_FORMAT_MIN, STORE_FORMAT_VERSION, &format);
        if (r < 0)
                return r;

        if ((r = json_check_keys(root, keys, ELEMENTSOF(keys))) < 0 ||
            (r = json_get_u64(root, "next_id", UINT64_MAX, &d.next_id)) < 0 ||
            (r = json_get_member(root, "reservations", json_type_array, false, &array)) < 0)
                return r;
        if (d.next_id == 0)
                return -EBADMSG;

        n_res = json_object_array_length(array);
        if (n_res > 0) {
                d.reservations = calloc(n_res, sizeof(Reservation *));
                if (!d.reservations)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n_res; i++) {
                r = parse_reservation(json_object_array_get_idx(array, i), format, &d.reservations[i]);
                if (r < 0)
                        return r;
                d.n_reservations++;
        }

        r = check_store(&d);
        if (r < 0)
                return r;

        *ret = d;
        d = (StoreData) {};
        return 0;
}

/* ---- formatting ---- */

static json_object *format_function(const ReservationFunction *f) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        char buf[PCI_ADDRESS_STRLEN], dsn[DSN_HEX_DIGITS + 1];

        o = json_object_new_object();
        if (!o)
                return NULL;
        if (json_add(o, "address", json_object_new_string(pci_address_format(&f->address, buf))) < 0 ||
            json_add(o, "assigned", json_object_new_boolean(f->assigned)) < 0 ||
            json_add_string_or_null(o, "host_driver", f->host_driver) < 0 ||
            json_add(o, "vendor_id", json_object_new_int(f->vendor_id)) < 0 ||
            json_add(o, "device_id", json_object_new_int(f->device_id)) < 0)
                return NULL;
        if (f->has_dsn) {
                snprintf(dsn, sizeof dsn, "%016" PRIx64, f->dsn);
                if (json_add(o, "dsn", json_object_new_string(dsn)) < 0)
                        return NULL;
        }
        /* format 4 */
        if (f->has_subsystem &&
            (json_add(o, "subsystem_vendor_id", json_object_new_int(f->subsystem_vendor_id)) < 0 ||
             json_add(o, "subsystem_device_id", json_object_new_int(f->subsystem_device_id)) < 0))
                return NULL;
        /* format 3, absent unless adopted: older files stay as they were */
        if (f->adopted && json_add(o, "adopted", json_object_new_boolean(true)) < 0)
                return NULL;
        if (f->host_override && json_add(o, "host_override", json_object_new_string(f->host_override)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_object *format_journal(const ReservationJournal *j) {
        _cleanup_(json_object_putp) json_object *o = NULL, *array = NULL;

        o = json_object_new_object();
        array = json_object_new_array();
        if (!o || !array)
                return NULL;
        if (json_add_string_or_null(o, "operation", journal_operation_to_string(j->operation)) < 0 ||
            json_add(o, "step", json_object_new_int64(j->step)) < 0)
                return NULL;
        for (size_t i = 0; i < j->n_functions; i++) {
                _cleanup_(json_object_putp) json_object *f = NULL;
                char buf[PCI_ADDRESS_STRLEN];

                f = json_object_new_object();
                if (!f ||
                    json_add(f, "address", json_object_new_string(pci_address_format(&j->functions[i].address, buf))) < 0 ||
                    json_add_string_or_null(f, "original_driver", j->functions[i].original_driver) < 0 ||
                    json_array_add_take(array, TAKE_PTR(f)) < 0)
                        return NULL;
        }
        if (json_add(o, "functions", TAKE_PTR(array)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_object *format_reservation(const Reservation *r) {
        _cleanup_(json_object_putp) json_object *o = NULL, *array = NULL;

        o = json_object_new_object();
        array = json_object_new_array();
        if (!o || !array)
                return NULL;
        /* Invalid fields are written as they are (NULL as null): store_save()
         * refuses the result by parsing it, and tests can build bad files. */
        if (json_add(o, "id", json_object_new_string(r->id)) < 0 ||
            json_add_string_or_null(o, "owner", r->owner) < 0 ||
            json_add(o, "owner_uid", json_object_new_int64(r->owner_uid)) < 0 ||
            json_add(o, "persistent", json_object_new_boolean(r->persistent)) < 0 ||
            json_add_string_or_null(o, "driver", r->driver) < 0 ||
            json_add_string_or_null(o, "state", reservation_state_to_string(r->state)) < 0 ||
            json_add(o, "created_usec", json_object_new_uint64(r->created_usec)) < 0 ||
            json_add_string_or_null(o, "last_error", r->last_error) < 0)
                return NULL;
        for (size_t i = 0; i < r->n_functions; i++)
                if (json_array_add_take(array, format_function(&r->functions[i])) < 0)
                        return NULL;
        if (json_add(o, "functions", TAKE_PTR(array)) < 0)
                return NULL;
        /* Absent rather than null when idle: the common case stays short. */
        if (r->journal && json_add(o, "journal", format_journal(r->journal)) < 0)
                return NULL;
        if (r->return_to >= 0 &&
            json_add_string_or_null(o, "return_to", reservation_state_to_string(r->return_to)) < 0)
                return NULL;
        if (r->owner_bus_name || r->owner_bus_id) {
                _cleanup_(json_object_putp) json_object *b = json_object_new_object();

                if (!b || json_add_string_or_null(b, "name", r->owner_bus_name) < 0 ||
                    json_add_string_or_null(b, "bus_id", r->owner_bus_id) < 0 ||
                    json_add(o, "owner_bus", TAKE_PTR(b)) < 0)
                        return NULL;
        }
        return TAKE_PTR(o);
}

/* The oldest format that holds the data: an older daemon can still read
 * what needs nothing newer (and refuses, keeping it, what does). */
static int store_format_needed(const StoreData *d) {
        int format = STORE_FORMAT_MIN;

        for (size_t i = 0; i < d->n_reservations; i++) {
                const Reservation *r = d->reservations[i];

                if (!r)
                        continue;
                for (size_t k = 0; k < r->n_functions; k++) {
                        if (r->functions[k].has_subsystem)
                                return 4;
                        if (r->functions[k].adopted || r->functions[k].host_override)
                                format = 3;
                }
                if ((r->return_to >= 0 || r->owner_bus_name || r->owner_bus_id) && format < 2)
                        format = 2;
        }
        return format;
}

char *store_format(const StoreData *d) {
        _cleanup_(json_object_putp) json_object *root = NULL, *array = NULL;

        if (!d)
                return NULL;
        root = json_object_new_object();
        array = json_object_new_array();
        if (!root || !array)
                return NULL;
        if (json_add(root, "format", json_object_new_int(store_format_needed(d))) < 0 ||
            json_add(root, "next_id", json_object_new_uint64(d->next_id)) < 0)
                return NULL;
        for (size_t i = 0; i < d->n_reservations; i++) {
                int r;

                if (d->reservations[i])
                        r = json_array_add_take(array, format_reservation(d->reservations[i]));
                else
                        r = json_object_array_add(array, NULL) < 0 ? -ENOMEM : 0;
                if (r < 0)
                        return NULL;
        }
        if (json_add(root, "reservations", TAKE_PTR(array)) < 0)
                return NULL;

        return json_file_text(root);
}

/* ---- files ---- */

/* Renames dir/state.json to state.json.corrupt-<usec> and returns the new
 * full path.  Never over an existing file: an earlier corrupt file may be
 * the only copy of someone's reservations. */
static int move_aside(int dfd, const char *dir, char **ret_path) {
        _cleanup_free_ char *path = NULL;
        struct timespec ts;
        size_t prefix, size;
        uint64_t usec;

        /* The path is built before the rename, so that once the file is
         * moved nothing can fail and its new name always reaches the
         * caller: a file moved but not reported would be lost in effect. */
        prefix = strlen(dir) + 1;
        size = prefix + strlen(STORE_FILE_NAME ".corrupt-") + 20 + 1;
        path = malloc(size);
        if (!path)
                return -ENOMEM;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return negative_errno();
        usec = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;

        for (unsigned attempt = 0; attempt < 100; attempt++, usec++) {
                const char *name;

                snprintf(path, size, "%s/" STORE_FILE_NAME ".corrupt-%" PRIu64, dir, usec);
                name = path + prefix;

                if (renameat2(dfd, STORE_FILE_NAME, dfd, name, RENAME_NOREPLACE) < 0) {
                        if (errno == EEXIST)
                                continue;
                        if (errno != EINVAL)
                                return negative_errno();
                        /* The file system cannot do RENAME_NOREPLACE: a hard
                         * link fails the same way if the name is taken. */
                        if (linkat(dfd, STORE_FILE_NAME, dfd, name, 0) < 0) {
                                if (errno == EEXIST)
                                        continue;
                                return negative_errno();
                        }
                        if (unlinkat(dfd, STORE_FILE_NAME, 0) < 0) {
                                int r = negative_errno();

                                (void) unlinkat(dfd, name, 0);
                                return r;
                        }
                }
                /* Best effort: if the rename is lost on power failure, the
                 * next start finds the corrupt file again and moves it. */
                (void) fsync(dfd);
                *ret_path = TAKE_PTR(path);
                return 0;
        }
        return -EEXIST;
}

int store_load(const char *dir, StoreData *ret, char **ret_moved_to) {
        _cleanup_(store_data_done) StoreData d = {};
        _cleanup_free_ char *buf = NULL, *moved = NULL;
        _cleanup_close_ int dfd = -1;
        size_t n;
        int r;

        if (!dir || !ret)
                return -EINVAL;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        r = read_regular_file_at(dfd, STORE_FILE_NAME, STORE_FILE_MAX, &buf, &n);
        if (r == -ENOENT) {
                *ret = (StoreData) { .next_id = 1 };
                if (ret_moved_to)
                        *ret_moved_to = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        r = n > STORE_FILE_MAX ? -EBADMSG : store_parse(buf, n, &d);
        if (r == -EBADMSG) {
                r = move_aside(dfd, dir, &moved);
                if (r < 0)
                        return r;
                *ret = (StoreData) { .next_id = 1 };
                if (ret_moved_to)
                        *ret_moved_to = TAKE_PTR(moved);
                return 1;
        }
        if (r < 0)
                return r;

        *ret = d;
        d = (StoreData) {};
        if (ret_moved_to)
                *ret_moved_to = NULL;
        return 0;
}

int store_save(const char *dir, const StoreData *d) {
        _cleanup_(store_data_done) StoreData check = {};
        _cleanup_free_ char *text = NULL;
        size_t n;
        int r;

        if (!dir || !d)
                return -EINVAL;

        text = store_format(d);
        if (!text)
                return -ENOMEM;
        n = strlen(text);
        if (n > STORE_FILE_MAX)
                return -EFBIG;
        /* Never write what store_load() would move aside as corrupt. */
        r = store_parse(text, n, &check);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return -EINVAL;

        return write_file_atomic(dir, STORE_FILE_NAME, text, n, 0600);
}
