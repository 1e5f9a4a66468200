/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl-bus.h"
#include "ctl.h"

int log_error_errno(int r, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return r;
}

/* Error messages come from the other side of the bus: fold them into one
 * line (a service may send a multi-line message or a traceback) and drop
 * control characters, so the user always gets exactly one line. */
static char *one_line(const char *s) {
        char *t = strdup(s), *w = t;
        bool space = false;

        if (!t)
                return NULL;
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;

                if (c < 0x20 || c == 0x7f) {
                        space = w > t;
                        continue;
                }
                if (space) {
                        *w++ = ' ';
                        space = false;
                }
                *w++ = (char) c;
        }
        *w = '\0';
        return t;
}

int log_bus_error(const char *ctx, const sd_bus_error *error, int r) {
        if (sd_bus_error_is_set(error)) {
                _cleanup_free_ char *msg = error->message ? one_line(error->message) : NULL;

                if (msg && *msg)
                        (void) log_error_errno(r, "%s: %s: %s", ctx, error->name, msg);
                else
                        (void) log_error_errno(r, "%s: %s", ctx, error->name);
                /* polkit would have asked for a password: say how to get there */
                if (sd_bus_error_has_name(error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                        (void) log_error_errno(r, "%s", "This needs authorization: run the command again "
                                               "without --no-ask-password (polkit asks through an "
                                               "authentication agent of your session), as root, or ask "
                                               "the administrator for a polkit rule (pci-assignd(8), "
                                               "AUTHORIZATION).");
                return r;
        }
        return log_error_errno(r, "%s: %s", ctx, strerror(r < 0 ? -r : r));
}

int log_parse_error(const char *ctx, sd_bus_message *m, int r) {
        const char *sig = m ? sd_bus_message_get_signature(m, true) : NULL;

        /* sd-bus reports a type mismatch as ENXIO, whose text would only
         * confuse; the signature says what went wrong. */
        if (r == -ENXIO || r == -EBADMSG)
                return log_error_errno(r, "%s: unexpected reply signature \"%s\"", ctx, strempty(sig));
        return log_error_errno(r, "%s: failed to read reply (signature \"%s\"): %s",
                               ctx, strempty(sig), strerror(-r));
}

int ctl_bus_connect(sd_bus **ret) {
        _cleanup_bus_ sd_bus *bus = NULL;
        int r;

        /* sd_bus_open_system() honours DBUS_SYSTEM_BUS_ADDRESS, which is how
         * tests point us at a private bus. */
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %s", strerror(-r));

        /* Mutating calls may need polkit to ask the user; read-only calls are
         * not affected by the flag. */
        r = sd_bus_set_allow_interactive_authorization(bus, arg_ask_password);
        if (r < 0)
                return log_error_errno(r, "Failed to set interactive authorization: %s", strerror(-r));

        *ret = TAKE_PTR(bus);
        return 0;
}

int ctl_new_call(sd_bus *bus, const char *path, const char *iface, const char *member, sd_bus_message **ret) {
        int r;

        r = sd_bus_message_new_method_call(bus, ret, PA_BUS_NAME, path, iface, member);
        if (r < 0)
                return log_error_errno(r, "Failed to create %s call: %s", member, strerror(-r));
        return 0;
}

int ctl_call_full(sd_bus *bus, sd_bus_message *m, uint64_t timeout_usec, const char *ctx,
                  sd_bus_error *ret_error, sd_bus_message **ret_reply) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, timeout_usec, &error, ret_reply);
        if (r < 0 && ret_error && sd_bus_error_is_set(&error)) {
                sd_bus_error_move(ret_error, &error);
                return r;
        }
        if (r < 0 && ctx)
                log_bus_error(ctx, &error, r);
        sd_bus_error_free(&error);
        return r < 0 ? r : 0;
}

int ctl_call(sd_bus *bus, sd_bus_message *m, const char *ctx, sd_bus_message **ret_reply) {
        return ctl_call_full(bus, m, 0, ctx, NULL, ret_reply);
}

int ctl_get_all_properties_full(sd_bus *bus, const char *path, const char *iface, const char *ctx,
                                sd_bus_error *ret_error, json_object **ret) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_object *props = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, PA_BUS_NAME, path,
                                           "org.freedesktop.DBus.Properties", "GetAll");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", iface);
        if (r < 0)
                return ctx ? log_error_errno(r, "Failed to create GetAll call: %s", strerror(-r)) : r;

        r = ctl_call_full(bus, m, 0, ctx, ret_error, &reply);
        if (r < 0)
                return r;

        if (!streq_ptr(sd_bus_message_get_signature(reply, true), "a{sv}"))
                return ctx ? log_parse_error(ctx, reply, -EBADMSG) : -EBADMSG;

        r = bus_message_read_json(reply, &props);
        if (r < 0)
                return ctx ? log_parse_error(ctx, reply, r) : r;

        *ret = TAKE_PTR(props);
        return 0;
}

int ctl_get_all_properties(sd_bus *bus, const char *path, const char *iface, const char *ctx, json_object **ret) {
        return ctl_get_all_properties_full(bus, path, iface, ctx, NULL, ret);
}

static int read_basic_json(sd_bus_message *m, char type, json_object **ret) {
        union {
                uint8_t u8;
                int16_t s16;
                uint16_t u16;
                int32_t s32;
                uint32_t u32;
                int64_t s64;
                uint64_t u64;
                double d;
                int b;
                const char *s;
        } v;
        json_object *j;
        int r;

        r = sd_bus_message_read_basic(m, type, &v);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        switch (type) {
        case 'y':
                j = json_object_new_int(v.u8);
                break;
        case 'n':
                j = json_object_new_int(v.s16);
                break;
        case 'q':
                j = json_object_new_int(v.u16);
                break;
        case 'i':
        case 'h':
                j = json_object_new_int(v.s32);
                break;
        case 'u':
                j = json_object_new_int64(v.u32);
                break;
        case 'x':
                j = json_object_new_int64(v.s64);
                break;
        case 't':
                j = json_object_new_uint64(v.u64);
                break;
        case 'd':
                j = json_object_new_double(v.d);
                break;
        case 'b':
                j = json_object_new_boolean(v.b);
                break;
        case 's':
        case 'o':
        case 'g':
                j = json_object_new_string(v.s);
                break;
        default:
                return -EBADMSG;
        }
        if (!j)
                return -ENOMEM;

        *ret = j;
        return 0;
}

/* Dictionary keys are basic types; JSON keys are strings. */
static int json_key_string(json_object *key, char **ret) {
        char *s;

        if (json_object_is_type(key, json_type_string))
                s = strdup(json_object_get_string(key));
        else
                s = strdup(json_object_to_json_string_ext(key, JSON_C_TO_STRING_PLAIN));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int read_dict_json(sd_bus_message *m, const char *contents, json_object **ret) {
        _cleanup_json_ json_object *obj = json_object_new_object();
        _cleanup_free_ char *entry_sig = NULL;
        size_t n;
        int r;

        if (!obj)
                return -ENOMEM;

        /* contents is "{kv}"; entering a dict entry wants "kv". */
        n = strlen(contents);
        if (n < 4 || contents[0] != '{' || contents[n - 1] != '}')
                return -EBADMSG;
        entry_sig = strndup(contents + 1, n - 2);
        if (!entry_sig)
                return -ENOMEM;

        for (;;) {
                _cleanup_json_ json_object *key = NULL, *value = NULL;
                _cleanup_free_ char *k = NULL;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, entry_sig);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = bus_message_read_json(m, &key);
                if (r < 0)
                        return r;
                r = bus_message_read_json(m, &value);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;

                r = json_key_string(key, &k);
                if (r < 0)
                        return r;
                if (json_object_object_add(obj, k, TAKE_PTR(value)) < 0)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(obj);
        return 0;
}

int bus_message_read_json(sd_bus_message *m, json_object **ret) {
        _cleanup_json_ json_object *j = NULL;
        const char *contents = NULL;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        if (!strchr("avr", type))
                return read_basic_json(m, type, ret);

        r = sd_bus_message_enter_container(m, type, contents);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENXIO;

        if (type == 'a' && contents[0] == '{') {
                r = read_dict_json(m, contents, &j);
                if (r < 0)
                        return r;
        } else if (type == 'v') {
                r = bus_message_read_json(m, &j);
                if (r < 0)
                        return r;
        } else {
                j = json_object_new_array();
                if (!j)
                        return -ENOMEM;

                for (;;) {
                        json_object *item = NULL;

                        r = sd_bus_message_at_end(m, false);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                break;

                        r = bus_message_read_json(m, &item);
                        if (r < 0)
                                return r;
                        if (json_object_array_add(j, item) < 0) {
                                json_object_put(item);
                                return -ENOMEM;
                        }
                }
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(j);
        return 0;
}

int ctl_out_of_memory(void) {
        return log_error_errno(-ENOMEM, "Out of memory.");
}
