/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

/* Asynchronous polkit checks from sd-bus, without libpolkit, after
 * systemd's src/shared/bus-polkit.c: the first call of a method handler
 * sends org.freedesktop.PolicyKit1.Authority.CheckAuthorization for the
 * caller's bus name (subject "system-bus-name") and returns 0; the method
 * call is kept (referenced) and, when polkit answers or the check times
 * out, re-dispatched to its handler (sd_bus_enqueue_for_read() of the same
 * message), where the second call of bus_verify_polkit_async() with the
 * same action and details finds the answer and returns 1 or an error.
 * The main loop never blocks on polkit (the caller's uid is read from the
 * bus driver, GetConnectionCredentials, a short synchronous round trip to
 * dbus-daemon, as sd-bus and systemd do).
 *
 * Requirements on the caller:
 *  - the bus is attached to an sd-event loop (sd_bus_attach_event) with a
 *    priority above SD_EVENT_PRIORITY_IDLE: answered queries are freed by
 *    an idle event source once the re-dispatched call has been processed;
 *  - call bus_verify_polkit_async() before changing any state, and on the
 *    re-dispatch recompute everything (objects may have gone, owners
 *    changed): the handler runs again from the top;
 *  - when it returns 0, return 1 (NOT 0) from the sd-bus method handler
 *    without replying: for vtable methods, sd-bus answers a handler's 0
 *    with UnknownMethod;
 *  - the method's vtable entry has SD_BUS_VTABLE_UNPRIVILEGED, otherwise
 *    sd-bus refuses non-root callers itself (CAP_SYS_ADMIN check) before
 *    the handler runs;
 *  - polkit_registry_free() at exit, before the bus and event are freed
 *    (it cancels pending checks; their calls are left unanswered). */

typedef struct PolkitRegistry PolkitRegistry;

PolkitRegistry *polkit_registry_free(PolkitRegistry *r);

/* Number of queries held (asked and not yet cleaned up); for tests and
 * debugging.  0 for NULL. */
size_t polkit_registry_size(const PolkitRegistry *r);

/* Settings, set once by the daemon at start-up. */
typedef struct PolkitSettings {
        bool ask_for_root;       /* test switch: ask polkit even for uid 0 */
        uint64_t timeout_usec;   /* CheckAuthorization call timeout; 0 = 25 s */
} PolkitSettings;
extern PolkitSettings polkit_settings;

/* Returns 1 if the caller may do `action` (uid 0 unless ask_for_root, or
 * its uid equals `good_uid` when that is not (uid_t) -1 -- both without
 * asking polkit -- or polkit said yes), 0 if the question is pending (the
 * handler must return 1 without replying, see above), or a negative errno
 * with `error` set: AccessDenied for "no", InteractiveAuthorizationRequired
 * if polkit needs a challenge and the call did not allow interactive
 * authorization, AccessDenied with a clear message if polkit is not
 * running, timed out, failed or answered garbage, or the caller's uid
 * cannot be determined.  The call's ALLOW_INTERACTIVE_AUTHORIZATION flag
 * is passed on to polkit (flags = 1, AllowUserInteraction).  `details` is
 * NULL or a NULL-terminated key, value, ... list passed to polkit; an
 * answer is only reused for the same action and details (a handler that
 * asks for another action on the re-dispatch gets a new question and one
 * more dispatch). */
int bus_verify_polkit_async(sd_bus_message *call, const char *action, const char **details,
                            uid_t good_uid, PolkitRegistry **registry, sd_bus_error *error);
