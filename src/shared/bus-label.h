/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Object path labels the way sd_bus_path_encode()/sd_bus_path_decode() make
 * and read them, without their allocations: GetManagedObjects encodes
 * every device and group path and decodes each one again in the find
 * callbacks, thousands of times per call on a big host. */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* prefix + "/" + label escaped as bus_label_escape() does: every byte that
 * is not a-zA-Z0-9 (and a leading digit) becomes "_xx", lower-case hex.
 * An empty label is "_".  Returns a malloc'd string or NULL. */
static inline char *bus_label_path(const char *prefix, const char *label) {
        static const char hex[] = "0123456789abcdef";
        size_t pl = strlen(prefix), ll = strlen(label);
        char *p, *t;

        p = malloc(pl + 1 + (ll ? 3 * ll : 1) + 1);
        if (!p)
                return NULL;
        memcpy(p, prefix, pl);
        t = p + pl;
        *t++ = '/';
        if (ll == 0)
                *t++ = '_';
        for (const char *f = label; *f; f++) {
                unsigned char c = (unsigned char) *f;
                bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), digit = c >= '0' && c <= '9';

                if (alpha || (digit && f > label))
                        *t++ = (char) c;
                else {
                        *t++ = '_';
                        *t++ = hex[c >> 4];
                        *t++ = hex[c & 15];
                }
        }
        *t = 0;
        return p;
}

static inline int bus_label_unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* The label of `path` below `prefix`, unescaped into buf as
 * sd_bus_path_decode() would (an invalid escape is taken literally, "_"
 * alone is empty).  Returns false when path is not below prefix or the
 * label does not fit (size must exceed the longest label the caller
 * accepts, so that an overlong one is simply not found). */
static inline bool bus_label_decode(const char *path, const char *prefix, char *buf, size_t size) {
        size_t pl = strlen(prefix), i = 0;
        const char *f;

        if (strncmp(path, prefix, pl) != 0 || path[pl] != '/')
                return false;
        f = path + pl + 1;
        if (strcmp(f, "_") == 0) {
                buf[0] = 0;
                return true;
        }
        for (; *f; f++) {
                int a, b;

                if (i + 1 >= size)
                        return false;
                if (f[0] == '_' && (a = bus_label_unhex(f[1])) >= 0 && (b = bus_label_unhex(f[2])) >= 0) {
                        if (a == 0 && b == 0)
                                return false;  /* a NUL would hide what follows */
                        buf[i++] = (char) (a << 4 | b);
                        f += 2;
                } else
                        buf[i++] = *f;
        }
        buf[i] = 0;
        return true;
}
