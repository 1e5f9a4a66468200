/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "macro.h"

/* Pretty-printed JSON on stdout, one document. */
int json_print(json_object *j);

/* Typed lookups in a JSON object made by bus_message_read_json(): a property
 * of an unexpected type reads as missing, so it is never misprinted. */
const char *json_get_string(json_object *o, const char *key);
bool json_get_int(json_object *o, const char *key, int64_t *ret);
bool json_get_bool(json_object *o, const char *key, bool *ret);
json_object *json_get_array(json_object *o, const char *key);

/* The "Label: value" block of show and show-reservation: known properties
 * are added in a fixed order and marked used; whatever is left is printed
 * generically under its D-Bus name. */
typedef struct Field {
        const char *label;
        char *value;            /* may span lines */
} Field;

typedef struct Show {
        json_object *props;
        const char **used;      /* property names already printed */
        size_t n_used;
        Field *fields;
        size_t n_fields;
} Show;

void show_done(Show *s);
int show_use(Show *s, const char *name);
bool show_is_used(const Show *s, const char *name);
/* Takes value (which may be NULL after a failed allocation). */
int show_add(Show *s, const char *label, char *value);
_printf_(3, 4) int show_addf(Show *s, const char *label, const char *fmt, ...);
void show_print(const Show *s);

/* Each of these adds its property (and marks it used) only when it has the
 * documented type. */
int show_id(Show *s, const char *label, const char *id_key, const char *name_key);
int show_hex(Show *s, const char *label, const char *key, int digits);
int show_string(Show *s, const char *label, const char *key, const char *empty);
int show_bool(Show *s, const char *label, const char *key);
int show_optional_int(Show *s, const char *label, const char *key);
int show_strings(Show *s, const char *label, const char *key, const char *sep, const char *empty);

/* Adds every property not used yet, in the daemon's order. */
int show_rest(Show *s, const char *skip);
