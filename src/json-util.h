/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

/* The cleanup helpers of json-c's types, and adders that check every
 * allocation (a failure is -ENOMEM, never a silently missing member). */

void json_object_putp(json_object **o);
void json_tokener_freep(json_tokener **t);

/* json-c's add functions take ownership of the value only on success;
 * these take it always, and turn a NULL from a constructor into -ENOMEM. */
int json_add(json_object *o, const char *key, json_object *v);
int json_add_null(json_object *o, const char *key);
int json_add_string_or_null(json_object *o, const char *key, const char *s);
int json_array_add_take(json_object *a, json_object *v);

/* The text of a file the daemon writes: pretty, spaced, no escaped
 * slashes, newline-terminated (malloc'd); NULL on ENOMEM.  json-c keeps
 * keys in insertion order, so the text is a function of the data alone. */
char *json_file_text(json_object *root);
