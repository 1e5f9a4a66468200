/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci-assignctl prepare|unprepare|set-in-use ID, detach|reattach|reset
 * ADDRESS: each one call that the daemon answers when its job (driver
 * rebinding or reset, on its one queue) ended. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-bus.h"
#include "ctl.h"

static int reservation_call(sd_bus *bus, const char *id, const char *member, const char *done_text,
                            int in_use) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *path = NULL, *ctx = NULL;
        int r;

        r = get_reservation(bus, id, &path);
        if (r < 0)
                return r;
        if (asprintf(&ctx, "%s() on %s", member, path) < 0) {
                ctx = NULL;
                return ctl_out_of_memory();
        }
        r = ctl_new_call(bus, path, PA_RESERVATION_IFACE, member, &m);
        if (r < 0)
                return r;
        if (in_use >= 0) {
                r = sd_bus_message_append(m, "b", in_use);
                if (r < 0)
                        return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        }
        r = ctl_call_full(bus, m, CTL_MUTATE_TIMEOUT_USEC, ctx, NULL, &reply);
        if (r < 0)
                return r;
        printf("%s %s.\n", done_text, id);
        return 0;
}

int verb_prepare(sd_bus *bus, int argc, char *argv[]) {
        return reservation_call(bus, argv[1], "Prepare", "Prepared", -1);
}

int verb_unprepare(sd_bus *bus, int argc, char *argv[]) {
        return reservation_call(bus, argv[1], "Unprepare", "Gave back the functions of", -1);
}

static int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

int verb_set_in_use(sd_bus *bus, int argc, char *argv[]) {
        int b = parse_boolean(argv[2]);

        if (b < 0)
                return usage_error("Expected yes or no, not '%s'.", argv[2]);
        return reservation_call(bus, argv[1], "SetInUse", b ? "In use:" : "No longer in use:", b);
}

static int function_call(sd_bus *bus, const char *member, const char *address, const char *driver,
                         const char *done_text) {
        _cleanup_bus_message_ sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *ctx = NULL;
        int r;

        if (asprintf(&ctx, "%s(%s)", member, address) < 0) {
                ctx = NULL;
                return ctl_out_of_memory();
        }
        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, member, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", address);
        if (r >= 0 && driver)
                r = sd_bus_message_append(m, "s", driver);
        if (r < 0)
                return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        r = ctl_call_full(bus, m, CTL_MUTATE_TIMEOUT_USEC, ctx, NULL, &reply);
        if (r < 0)
                return r;
        printf("%s %s.\n", done_text, address);
        return 0;
}

int verb_detach(sd_bus *bus, int argc, char *argv[]) {
        return function_call(bus, "Detach", argv[1], arg_driver ?: "", "Detached");
}

int verb_reattach(sd_bus *bus, int argc, char *argv[]) {
        return function_call(bus, "Reattach", argv[1], NULL, "Reattached");
}

int verb_reset(sd_bus *bus, int argc, char *argv[]) {
        return function_call(bus, "Reset", argv[1], NULL, "Reset");
}
