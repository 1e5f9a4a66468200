/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"

void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

/* json-c's add functions take ownership of the value only on success;
 * these take it always, and turn a NULL from a constructor into -ENOMEM. */
int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_add_null(json_object *o, const char *key) {
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

int json_add_string_or_null(json_object *o, const char *key, const char *s) {
        if (!s)
                return json_add_null(o, key);
        return json_add(o, key, json_object_new_string(s));
}

int json_array_add_take(json_object *a, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}


char *json_file_text(json_object *root) {
        const char *s;
        char *text;
        size_t n;

        s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return NULL;
        n = strlen(s);
        text = malloc(n + 2);
        if (!text)
                return NULL;
        memcpy(text, s, n);
        text[n] = '\n';
        text[n + 1] = 0;
        return text;
}
