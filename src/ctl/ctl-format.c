/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <langinfo.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ctl-format.h"
#include "macro.h"

size_t ctl_columns(void) {
        const char *e = getenv("COLUMNS");
        struct winsize ws = {};

        if (e && *e) {
                char *end;
                unsigned long v;

                errno = 0;
                v = strtoul(e, &end, 10);
                if (errno == 0 && *end == '\0' && v > 0 && v < 100000)
                        return v;
        }

        if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0 && ws.ws_col > 0)
                return ws.ws_col;

        return 0;
}

static bool is_continuation(unsigned char c) {
        return (c & 0xc0) == 0x80;
}

size_t utf8_width(const char *s) {
        size_t n = 0;

        for (; s && *s; s++)
                if (!is_continuation((unsigned char) *s))
                        n++;
        return n;
}

static bool locale_is_utf8(void) {
        const char *set = nl_langinfo(CODESET);

        return set && (strcasecmp(set, "UTF-8") == 0 || strcasecmp(set, "utf8") == 0);
}

char *utf8_truncate(const char *s, size_t width) {
        const char *ellipsis = locale_is_utf8() ? "\xe2\x80\xa6" : "...";
        size_t ew = utf8_width(ellipsis), keep, i, cps = 0;
        char *r;

        s = strempty(s);
        if (utf8_width(s) <= width)
                return strdup(s);

        if (width < ew) {
                ellipsis = "";
                ew = 0;
        }
        keep = width - ew;

        /* Find the byte offset after `keep` code points. */
        for (i = 0; s[i]; i++) {
                if (!is_continuation((unsigned char) s[i])) {
                        if (cps == keep)
                                break;
                        cps++;
                }
        }

        r = malloc(i + strlen(ellipsis) + 1);
        if (!r)
                return NULL;
        memcpy(r, s, i);
        strcpy(r + i, ellipsis);
        return r;
}

const char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t n) {
        static const char suffixes[] = "KMGTPE";
        size_t i;

        if (n < 1024) {
                snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 "B", n);
                return buf;
        }

        /* Largest unit that fits; BARs are powers of two, so this is
         * normally exact. */
        for (i = sizeof(suffixes) - 2; i > 0; i--)
                if (n >= (UINT64_C(1) << (10 * (i + 1))))
                        break;

        uint64_t unit = UINT64_C(1) << (10 * (i + 1));
        if (n % unit == 0)
                snprintf(buf, FORMAT_BYTES_MAX, "%" PRIu64 "%c", n / unit, suffixes[i]);
        else
                snprintf(buf, FORMAT_BYTES_MAX, "%.1f%c", (double) n / (double) unit, suffixes[i]);
        return buf;
}

int json_join_strings(json_object *j, const char *sep, char **ret) {
        size_t n, len = 1, seplen = strlen(sep);
        char *s, *p;

        if (!json_object_is_type(j, json_type_array))
                return -EBADMSG;

        n = json_object_array_length(j);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(j, i);

                if (!json_object_is_type(e, json_type_string))
                        return -EBADMSG;
                len += json_object_get_string_len(e) + seplen;
        }

        s = p = malloc(len);
        if (!s)
                return -ENOMEM;
        *p = '\0';
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(j, i);

                if (i > 0)
                        p = stpcpy(p, sep);
                p = stpcpy(p, json_object_get_string(e));
        }

        *ret = s;
        return 0;
}

static bool json_is_scalar(json_object *j) {
        return !json_object_is_type(j, json_type_array) && !json_object_is_type(j, json_type_object);
}

static char *json_scalar_to_human(json_object *j) {
        if (json_object_is_type(j, json_type_boolean))
                return strdup(json_object_get_boolean(j) ? "yes" : "no");
        if (json_object_is_type(j, json_type_string))
                return strdup(json_object_get_string(j));
        return strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

char *json_to_human(json_object *j) {
        size_t n;

        if (json_object_is_type(j, json_type_string) && json_object_get_string_len(j) == 0)
                return strdup("(empty)");
        if (json_is_scalar(j))
                return json_scalar_to_human(j);
        if (json_object_is_type(j, json_type_object))
                return strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

        n = json_object_array_length(j);
        if (n == 0)
                return strdup("(empty)");

        /* One line per element when elements are containers, else a comma
         * list: both keep one value visually together. */
        bool nested = false;
        for (size_t i = 0; i < n; i++)
                if (!json_is_scalar(json_object_array_get_idx(j, i)))
                        nested = true;

        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return NULL;

        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(j, i);

                if (i > 0)
                        fputs(nested ? "\n" : ", ", f);
                if (nested)
                        fputs(json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), f);
                else {
                        _cleanup_free_ char *t = json_scalar_to_human(e);
                        fputs(strempty(t), f);
                }
        }

        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

struct Table {
        size_t n_columns;
        size_t n_rows;          /* including the header row */
        char **cells;           /* row-major */
        size_t shrink_column;   /* SIZE_MAX: none */
        size_t shrink_min;
};

Table *table_new(size_t n_columns, ...) {
        Table *t;
        va_list ap;

        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        t->n_columns = n_columns;
        t->shrink_column = SIZE_MAX;

        t->cells = calloc(n_columns, sizeof(char *));
        if (!t->cells)
                return table_free(t);
        t->n_rows = 1;

        va_start(ap, n_columns);
        for (size_t i = 0; i < n_columns; i++) {
                t->cells[i] = strdup(va_arg(ap, const char *));
                if (!t->cells[i]) {
                        va_end(ap);
                        return table_free(t);
                }
        }
        va_end(ap);

        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        if (t->cells)
                for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                        free(t->cells[i]);
        free(t->cells);
        free(t);
        return NULL;
}

void table_set_shrink_column(Table *t, size_t column, size_t min_width) {
        t->shrink_column = column;
        t->shrink_min = min_width;
}

int table_add_row(Table *t, const char *const *cells) {
        char **n;

        n = reallocarray(t->cells, (t->n_rows + 1) * t->n_columns, sizeof(char *));
        if (!n)
                return -ENOMEM;
        t->cells = n;

        char **row = t->cells + t->n_rows * t->n_columns;
        for (size_t i = 0; i < t->n_columns; i++) {
                row[i] = strdup(cells[i] && cells[i][0] ? cells[i] : "-");
                if (!row[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(row[k]);
                        return -ENOMEM;
                }
        }
        t->n_rows++;
        return 0;
}

size_t table_rows(const Table *t) {
        return t->n_rows - 1;
}

int table_print(const Table *t, FILE *f, bool header) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));
        size_t first = header ? 0 : 1, total = 0, cols;

        if (!width)
                return -ENOMEM;

        for (size_t r = first; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t w = utf8_width(t->cells[r * t->n_columns + c]);
                        if (w > width[c])
                                width[c] = w;
                }

        for (size_t c = 0; c < t->n_columns; c++)
                total += width[c] + (c > 0 ? 1 : 0);

        cols = ctl_columns();
        if (cols > 0 && total > cols && t->shrink_column < t->n_columns) {
                size_t *w = &width[t->shrink_column], excess = total - cols;

                /* Cut only down to the minimum; beyond that the line wraps. */
                if (*w >= t->shrink_min + excess)
                        *w -= excess;
                else if (*w > t->shrink_min)
                        *w = t->shrink_min;
        }

        for (size_t r = first; r < t->n_rows; r++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];
                        _cleanup_free_ char *cut = NULL;
                        size_t w;

                        if (c == t->shrink_column) {
                                cut = utf8_truncate(cell, width[c]);
                                if (!cut)
                                        return -ENOMEM;
                                cell = cut;
                        }

                        w = utf8_width(cell);
                        if (c > 0)
                                fputc(' ', f);
                        fputs(cell, f);
                        if (c + 1 < t->n_columns)
                                fprintf(f, "%*s", (int) (width[c] - w), "");
                }
                fputc('\n', f);
        }

        return 0;
}
