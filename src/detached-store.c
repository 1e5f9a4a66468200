/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "detached-store.h"
#include "fileio.h"
#include "json-checked.h"
#include "json-util.h"
#include "macro.h"
#include "reservation.h"

/* root, the list, one entry */
#define DETACHED_DEPTH_MAX 4

const DetachedFunction *detached_find(const DetachedFunction *l, size_t n, const PciAddress *a) {
        for (size_t i = 0; i < n; i++)
                if (pci_address_compare(&l[i].address, a) == 0)
                        return &l[i];
        return NULL;
}

void detached_remove(DetachedFunction *l, size_t *n, const PciAddress *a) {
        for (size_t i = 0; i < *n; i++)
                if (pci_address_compare(&l[i].address, a) == 0) {
                        free(l[i].host_driver);
                        free(l[i].host_override);
                        memmove(l + i, l + i + 1, (*n - i - 1) * sizeof(*l));
                        (*n)--;
                        return;
                }
}

static int add_entry(DetachedFunction **l, size_t *n, const PciAddress *a, const char *host_driver, bool adopted,
                     const char *override) {
        DetachedFunction *nv;
        char *h = NULL, *o = NULL;

        if ((host_driver && !(h = strdup(host_driver))) || (override && !(o = strdup(override)))) {
                free(h);
                return -ENOMEM;
        }
        detached_remove(*l, n, a);
        nv = realloc(*l, (*n + 1) * sizeof(*nv));
        if (!nv) {
                free(h);
                free(o);
                return -ENOMEM;
        }
        *l = nv;
        nv[(*n)++] = (DetachedFunction) { .address = *a, .host_driver = h, .adopted = adopted, .host_override = o };
        return 0;
}

int detached_add(DetachedFunction **l, size_t *n, const PciAddress *a, const char *host_driver) {
        return add_entry(l, n, a, host_driver, false, NULL);
}

int detached_adopt(DetachedFunction **l, size_t *n, const PciAddress *a, const char *driver, const char *override) {
        if (!driver_is_adoptable(driver) || !driver_name_is_valid(driver) ||
            (override && !driver_name_is_valid(override)))
                return -EINVAL;
        return add_entry(l, n, a, driver, true, override);
}

void detached_free(DetachedFunction *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].host_driver);
                free(l[i].host_override);
        }
        free(l);
}

static int parse_entry(json_object *o, int64_t format, DetachedFunction *ret) {
        static const char *const keys[] = {
                "address", "host_driver",
                "adopted", "host_override",     /* format 2 */
        };
        const char *h, *ovr = NULL;
        bool adopted = false;
        json_object *v;
        int r;

        *ret = (DetachedFunction) {};
        if (!json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if ((r = json_check_keys(o, keys, ELEMENTSOF(keys) - (format >= 2 ? 0 : 2))) < 0 ||
            (r = json_get_address(o, "address", &ret->address)) < 0 ||
            (r = json_get_driver(o, "host_driver", true, &h)) < 0)
                return r;
        if (json_object_object_get_ex(o, "adopted", &v) && (r = json_get_bool(o, "adopted", &adopted)) < 0)
                return r;
        if (json_object_object_get_ex(o, "host_override", &v) &&
            (!adopted || !v || json_get_driver(o, "host_override", false, &ovr) < 0))
                return -EBADMSG;        /* only beside adopted, and never null */
        if (adopted && !driver_is_adoptable(h))
                return -EBADMSG;
        if ((h && !(ret->host_driver = strdup(h))) || (ovr && !(ret->host_override = strdup(ovr)))) {
                free(ret->host_driver);
                ret->host_driver = NULL;
                return -ENOMEM;
        }
        ret->adopted = adopted;
        return 0;
}

int detached_parse(const char *text, size_t size, DetachedFunction **ret, size_t *ret_n) {
        static const char *const keys[] = { "format", "functions" };
        _cleanup_(json_object_putp) json_object *root = NULL;
        DetachedFunction *l = NULL;
        json_object *array;
        int64_t format;
        size_t n = 0, len;
        int r;

        if (!ret || !ret_n)
                return -EINVAL;
        r = json_parse_strict(text, size, DETACHED_FILE_MAX, DETACHED_DEPTH_MAX, &root);
        if (r < 0)
                return r;
        r = json_get_format(root, DETACHED_FORMAT_MIN, DETACHED_FORMAT_VERSION, &format);
        if (r < 0)
                return r;
        if ((r = json_check_keys(root, keys, ELEMENTSOF(keys))) < 0 ||
            (r = json_get_member(root, "functions", json_type_array, false, &array)) < 0)
                return r;
        len = json_object_array_length(array);
        if (len > 0 && !(l = calloc(len, sizeof(*l))))
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                r = parse_entry(json_object_array_get_idx(array, i), format, &l[n]);
                if (r >= 0 && detached_find(l, n, &l[n].address)) {
                        free(l[n].host_driver);
                        free(l[n].host_override);
                        r = -EBADMSG;  /* one function, two records */
                }
                if (r < 0) {
                        detached_free(l, n);
                        return r;
                }
                n++;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

char *detached_format(const DetachedFunction *l, size_t n) {
        _cleanup_(json_object_putp) json_object *root = NULL, *list = NULL;
        char buf[PCI_ADDRESS_STRLEN];
        int format = DETACHED_FORMAT_MIN;

        root = json_object_new_object();
        list = json_object_new_array();
        if (!root || !list)
                return NULL;
        /* the oldest format that holds the data */
        for (size_t i = 0; i < n; i++)
                if (l[i].adopted || l[i].host_override)
                        format = 2;
        if (json_add(root, "format", json_object_new_int(format)) < 0)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_object_putp) json_object *o = json_object_new_object();

                if (!o ||
                    json_add(o, "address", json_object_new_string(pci_address_format(&l[i].address, buf))) < 0 ||
                    json_add_string_or_null(o, "host_driver", l[i].host_driver) < 0 ||
                    (l[i].adopted && json_add(o, "adopted", json_object_new_boolean(true)) < 0) ||
                    (l[i].host_override &&
                     json_add(o, "host_override", json_object_new_string(l[i].host_override)) < 0) ||
                    json_array_add_take(list, TAKE_PTR(o)) < 0)
                        return NULL;
        }
        if (json_add(root, "functions", TAKE_PTR(list)) < 0)
                return NULL;
        return json_file_text(root);
}

int detached_load(const char *dir, DetachedFunction **ret, size_t *ret_n) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int dfd = -1;
        size_t size;
        int r;

        if (!dir || !ret || !ret_n)
                return -EINVAL;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 && errno != ENOENT)
                return negative_errno();
        r = dfd < 0 ? -ENOENT : read_regular_file_at(dfd, DETACHED_FILE_NAME, DETACHED_FILE_MAX, &buf, &size);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        if (size > DETACHED_FILE_MAX)
                return -EBADMSG;
        return detached_parse(buf, size, ret, ret_n);
}

int detached_save(const char *dir, const DetachedFunction *l, size_t n) {
        _cleanup_free_ char *text = NULL;

        if (!dir)
                return -EINVAL;
        text = detached_format(l, n);
        if (!text)
                return -ENOMEM;
        return write_file_atomic(dir, DETACHED_FILE_NAME, text, strlen(text), 0644);
}
