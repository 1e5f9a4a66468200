/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the verbs that print one object's properties (show,
 * show-reservation): typed JSON lookups and the "Label: value" block. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-show.h"

int json_print(json_object *j) {
        const char *s;

        /* json-c prints an empty array as "[\n]" */
        if (json_object_is_type(j, json_type_array) && json_object_array_length(j) == 0) {
                puts("[]");
                return 0;
        }

        s = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
                                              JSON_C_TO_STRING_SPACED |
                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return log_error_errno(-ENOMEM, "Failed to format JSON.");
        puts(s);
        return 0;
}

/* Typed lookups in a JSON object made by bus_message_read_json(): a property
 * of an unexpected type reads as missing, so it is never misprinted. */
const char *json_get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

bool json_get_int(json_object *o, const char *key, int64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

bool json_get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

json_object *json_get_array(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
                return NULL;
        return v;
}

void show_done(Show *s) {
        for (size_t i = 0; i < s->n_fields; i++)
                free(s->fields[i].value);
        free(s->fields);
        free(s->used);
}

int show_use(Show *s, const char *name) {
        const char **u = reallocarray(s->used, s->n_used + 1, sizeof(char *));

        if (!u)
                return -ENOMEM;
        s->used = u;
        s->used[s->n_used++] = name;
        return 0;
}

bool show_is_used(const Show *s, const char *name) {
        for (size_t i = 0; i < s->n_used; i++)
                if (streq(s->used[i], name))
                        return true;
        return false;
}

/* Takes value (which may be NULL after a failed allocation). */
int show_add(Show *s, const char *label, char *value) {
        Field *f;

        if (!value)
                return -ENOMEM;
        f = reallocarray(s->fields, s->n_fields + 1, sizeof(Field));
        if (!f) {
                free(value);
                return -ENOMEM;
        }
        s->fields = f;
        s->fields[s->n_fields++] = (Field) { label, value };
        return 0;
}

int show_addf(Show *s, const char *label, const char *fmt, ...) {
        char *v;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&v, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return show_add(s, label, v);
}

void show_print(const Show *s) {
        size_t width = 0;

        for (size_t i = 0; i < s->n_fields; i++)
                if (utf8_width(s->fields[i].label) > width)
                        width = utf8_width(s->fields[i].label);

        for (size_t i = 0; i < s->n_fields; i++) {
                const char *v = s->fields[i].value, *nl;
                size_t pad = width - utf8_width(s->fields[i].label);

                printf("%*s%s: ", (int) pad + 2, "", s->fields[i].label);
                /* continuation lines line up under the first */
                while ((nl = strchr(v, '\n'))) {
                        printf("%.*s\n%*s", (int) (nl - v), v, (int) width + 4, "");
                        v = nl + 1;
                }
                printf("%s\n", v);
        }
}

/* Hex id with its hwdb name: "8086 (Intel Corporation)". */
int show_id(Show *s, const char *label, const char *id_key, const char *name_key) {
        const char *name = json_get_string(s->props, name_key);
        int64_t id;
        int r;

        if (!json_get_int(s->props, id_key, &id))
                return 0;
        r = show_use(s, id_key);
        if (r < 0)
                return r;
        if (name) {
                r = show_use(s, name_key);
                if (r < 0)
                        return r;
        }
        if (name && *name)
                return show_addf(s, label, "%04" PRIx64 " (%s)", (uint64_t) id, name);
        return show_addf(s, label, "%04" PRIx64, (uint64_t) id);
}

int show_hex(Show *s, const char *label, const char *key, int digits) {
        int64_t v;
        int r;

        if (!json_get_int(s->props, key, &v))
                return 0;
        r = show_use(s, key);
        if (r < 0)
                return r;
        return show_addf(s, label, "%0*" PRIx64, digits, (uint64_t) v);
}

int show_string(Show *s, const char *label, const char *key, const char *empty) {
        const char *v = json_get_string(s->props, key);
        int r;

        if (!v)
                return 0;
        r = show_use(s, key);
        if (r < 0)
                return r;
        if (!*v && !empty)
                return 0;
        return show_add(s, label, strdup(*v ? v : empty));
}

int show_bool(Show *s, const char *label, const char *key) {
        bool b;
        int r;

        if (!json_get_bool(s->props, key, &b))
                return 0;
        r = show_use(s, key);
        if (r < 0)
                return r;
        return show_add(s, label, strdup(b ? "yes" : "no"));
}

/* Negative numbers mean "none" for IOMMUGroup and NUMANode. */
int show_optional_int(Show *s, const char *label, const char *key) {
        int64_t v;
        int r;

        if (!json_get_int(s->props, key, &v))
                return 0;
        r = show_use(s, key);
        if (r < 0)
                return r;
        if (v < 0)
                return show_add(s, label, strdup("none"));
        return show_addf(s, label, "%" PRIi64, v);
}

int show_strings(Show *s, const char *label, const char *key, const char *sep, const char *empty) {
        json_object *a = json_get_array(s->props, key);
        char *v = NULL;
        int r;

        if (!a)
                return 0;
        r = json_join_strings(a, sep, &v);
        if (r == -EBADMSG)
                return 0;       /* not "as": left to the generic printer */
        if (r < 0)
                return r;
        r = show_use(s, key);
        if (r < 0) {
                free(v);
                return r;
        }
        if (!*v) {
                free(v);
                return empty ? show_add(s, label, strdup(empty)) : 0;
        }
        return show_add(s, label, v);
}

int show_rest(Show *s, const char *skip) {
        json_object_object_foreach(s->props, name, value) {
                int r;

                if (streq_ptr(name, skip) || show_is_used(s, name))
                        continue;
                r = show_add(s, name, json_to_human(value));
                if (r < 0)
                        return r;
        }
        return 0;
}
