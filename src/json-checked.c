/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "json-checked.h"
#include "json-util.h"
#include "macro.h"
#include "reservation.h"

int json_parse_strict(const char *text, size_t n, size_t max, int depth, json_object **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;

        if (!text || !ret)
                return -EINVAL;
        /* json-c takes an int length: max keeps us well below */
        if (n == 0 || n > max || n > INT32_MAX)
                return -EBADMSG;
        if (memchr(text, 0, n))
                return -EBADMSG;
        tok = json_tokener_new_ex(depth);
        if (!tok)
                return -ENOMEM;
        /* Strict: no trailing commas or garbage after the document. */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        root = json_tokener_parse_ex(tok, text, (int) n);
        /* A truncated document leaves the tokener waiting for more
         * (json_tokener_continue): that is corrupt too. */
        if (json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != n)
                return -EBADMSG;
        if (!json_object_is_type(root, json_type_object))
                return -EBADMSG;
        *ret = TAKE_PTR(root);
        return 0;
}

int json_get_format(json_object *root, int64_t min, int64_t max, int64_t *ret) {
        json_object *v;
        int64_t format;

        /* The version decides before anything else: a newer file may have
         * any shape at all and must be refused, not judged corrupt. */
        if (!json_object_object_get_ex(root, "format", &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        format = json_object_get_int64(v);
        if (format > max)
                return -EPROTONOSUPPORT;
        if (format < min)
                return -EBADMSG;
        *ret = format;
        return 0;
}

/* Unknown keys are refused: a newer writer bumps "format" instead (see
 * store.h), so an unknown key means the file is not what we wrote. */
int json_check_keys(json_object *o, const char *const *allowed, size_t n_allowed) {
        json_object_object_foreach(o, key, value) {
                bool found = false;

                (void) value;
                for (size_t i = 0; i < n_allowed && !found; i++)
                        found = streq(key, allowed[i]);
                if (!found)
                        return -EBADMSG;
        }
        return 0;
}

/* A required member of the given type.  json-c represents null as a NULL
 * object: accepted (as *ret == NULL) only if nullable. */
int json_get_member(json_object *o, const char *key, json_type type, bool nullable, json_object **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return -EBADMSG;
        if (!v) {
                if (!nullable)
                        return -EBADMSG;
        } else if (!json_object_is_type(v, type))
                return -EBADMSG;
        *ret = v;
        return 0;
}

int json_to_string(json_object *v, const char **ret) {
        const char *s = json_object_get_string(v);

        /* A \u0000 escape would silently cut the string short in C. */
        if (strlen(s) != (size_t) json_object_get_string_len(v))
                return -EBADMSG;
        *ret = s;
        return 0;
}

int json_get_string(json_object *o, const char *key, bool nullable, const char **ret) {
        json_object *v;
        int r;

        r = json_get_member(o, key, json_type_string, nullable, &v);
        if (r < 0)
                return r;
        if (!v) {
                *ret = NULL;
                return 0;
        }
        return json_to_string(v, ret);
}

/* JSON integers in [0, max].  json-c clips numbers beyond 64 bits to the
 * limits instead of failing, so 2^64-1 is refused as possibly clipped. */
int json_to_u64(json_object *v, uint64_t max, uint64_t *ret) {
        uint64_t u;

        if (!json_object_is_type(v, json_type_int))
                return -EBADMSG;
        if (json_object_get_int64(v) < 0)
                return -EBADMSG;
        u = json_object_get_uint64(v);
        if (u == UINT64_MAX || u > max)
                return -EBADMSG;
        *ret = u;
        return 0;
}

int json_get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        json_object *v;
        int r;

        r = json_get_member(o, key, json_type_int, false, &v);
        if (r < 0)
                return r;
        return json_to_u64(v, max, ret);
}

int json_get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;
        int r;

        r = json_get_member(o, key, json_type_boolean, false, &v);
        if (r < 0)
                return r;
        *ret = json_object_get_boolean(v);
        return 0;
}

int json_get_address(json_object *o, const char *key, PciAddress *ret) {
        const char *s;
        int r;

        r = json_get_string(o, key, false, &s);
        if (r < 0)
                return r;
        if (pci_address_parse(s, ret) < 0)
                return -EBADMSG;
        return 0;
}

/* null, or a valid driver name. */
int json_get_driver(json_object *o, const char *key, bool nullable, const char **ret) {
        const char *s;
        int r;

        r = json_get_string(o, key, nullable, &s);
        if (r < 0)
                return r;
        if (s && !driver_name_is_valid(s))
                return -EBADMSG;
        *ret = s;
        return 0;
}
