/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* Text output helpers of pci-assignctl: a small table printer in the style
 * of systemd's, and the human rendering of arbitrary D-Bus values. */

/* Terminal width for tables: $COLUMNS if set, the tty's width if stdout is
 * a terminal, else 0 (no limit: piped output is never truncated). */
size_t ctl_columns(void);

/* Display width of a UTF-8 string, counted in code points. */
size_t utf8_width(const char *s);

/* A copy of s cut to at most width code points, ending in an ellipsis when
 * something was cut.  NULL on allocation failure. */
char *utf8_truncate(const char *s, size_t width);

/* 131072 -> "128K", 1536 -> "1.5K", 100 -> "100B". */
#define FORMAT_BYTES_MAX 24
const char *format_bytes(char buf[static FORMAT_BYTES_MAX], uint64_t n);

/* Joins the strings of a JSON array.  -EBADMSG if j is not an array of
 * strings. */
int json_join_strings(json_object *j, const char *sep, char **ret);

/* Human text for any value read by bus_message_read_json(): booleans as
 * yes/no, arrays of scalars comma-separated, anything deeper as compact
 * JSON, empty strings and arrays as "(empty)".  NULL on allocation failure. */
char *json_to_human(json_object *j);

typedef struct Table Table;

/* A table with n_columns columns; the header names follow as arguments. */
Table *table_new(size_t n_columns, ...);
Table *table_free(Table *t);

/* Column that is cut (with an ellipsis) when the table does not fit. */
void table_set_shrink_column(Table *t, size_t column, size_t min_width);

/* Appends one row of n_columns strings ("" or NULL print as "-"). */
int table_add_row(Table *t, const char *const *cells);
size_t table_rows(const Table *t);
int table_print(const Table *t, FILE *f, bool header);

static inline void table_freep(Table **t) {
        table_free(*t);
}
#define _cleanup_table_ _cleanup_(table_freep)
