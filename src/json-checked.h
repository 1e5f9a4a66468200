/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "pci-address.h"

/* Checked JSON access for the files the daemon reads back (state.json,
 * detached.json): every getter refuses what it does not expect with
 * -EBADMSG, so a file is either exactly what we wrote or refused. */

/* One JSON object of at most max bytes, no NUL, nothing after it, nesting
 * at most depth. */
int json_parse_strict(const char *text, size_t n, size_t max, int depth, json_object **ret);
/* The integer "format" of root in [min, max]: -EPROTONOSUPPORT when newer
 * (a newer daemon wrote it: refused, never judged corrupt), -EBADMSG when
 * missing, not an integer or older. */
int json_get_format(json_object *root, int64_t min, int64_t max, int64_t *ret);

/* Unknown keys are refused: a newer writer bumps "format" instead. */
int json_check_keys(json_object *o, const char *const *allowed, size_t n_allowed);
/* A required member of the given type.  json-c represents null as a NULL
 * object: accepted (as *ret == NULL) only if nullable. */
int json_get_member(json_object *o, const char *key, json_type type, bool nullable, json_object **ret);
/* A string without embedded NUL */
int json_to_string(json_object *v, const char **ret);
int json_get_string(json_object *o, const char *key, bool nullable, const char **ret);
/* An integer in [0, max] */
int json_to_u64(json_object *v, uint64_t max, uint64_t *ret);
int json_get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret);
int json_get_bool(json_object *o, const char *key, bool *ret);
/* A DDDD:BB:DD.F string */
int json_get_address(json_object *o, const char *key, PciAddress *ret);
/* null (if nullable), or a valid driver name */
int json_get_driver(json_object *o, const char *key, bool nullable, const char **ret);
