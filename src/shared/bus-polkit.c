/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Asynchronous polkit checks for sd-bus method handlers, after the pattern
 * of systemd's src/shared/bus-polkit.c (no libpolkit, no GLib):
 *
 *   handler(m)                        first dispatch
 *     bus_verify_polkit_async(m, a)   -> sends CheckAuthorization, keeps m
 *     <- 0, handler returns 1         (no reply yet)
 *   ...
 *   polkit_reply(q)                   polkit answered, or the call timed out
 *     stores the answer for (m, a), re-enqueues m with
 *     sd_bus_enqueue_for_read(), arms an idle clean-up source
 *   ...
 *   handler(m)                        second dispatch of the same message
 *     bus_verify_polkit_async(m, a)   -> finds the answer: 1 or an error
 *   ...
 *   query_cleanup(q)                  idle: the query is freed
 *
 * One PolkitQuery exists per method call that needed polkit; it holds the
 * answers for every (action, details) asked for that call, and at most one
 * question in flight.  A handler that asks for a second action during the
 * re-dispatch (e.g. "reserve" was answered, now it needs "manage") gets a
 * new question on the same query and a third dispatch; the answers already
 * given stay valid until the query is freed. */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-polkit.h"
#include "log.h"
#include "macro.h"

#define POLKIT_BUS_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"

/* CheckAuthorization flags */
#define POLKIT_CHECK_ALLOW_USER_INTERACTION UINT32_C(1)

#define POLKIT_DEFAULT_TIMEOUT_USEC (UINT64_C(25) * UINT64_C(1000000))

PolkitSettings polkit_settings = {
        .ask_for_root = false,
        .timeout_usec = 0,
};

typedef struct PolkitAnswer PolkitAnswer;
struct PolkitAnswer {
        PolkitAnswer *next;
        char *action;
        char **details;         /* NULL, or key, value, ..., NULL */
        int result;             /* 1: authorized; < 0: not, with `error` */
        sd_bus_error error;
};

typedef struct PolkitQuery PolkitQuery;
struct PolkitQuery {
        PolkitQuery *next, *prev;
        PolkitRegistry *registry;

        sd_bus_message *request;        /* the method call, referenced; also the key */

        /* the question in flight, if slot is set */
        sd_bus_slot *slot;
        char *action;
        char **details;
        bool interactive;

        PolkitAnswer *answers;
        sd_event_source *cleanup;       /* idle source: frees us after the re-dispatch */
};

struct PolkitRegistry {
        PolkitQuery *queries;
        size_t n_queries;
};

/* ---- small string-list helpers (details are short key/value lists) ---- */

static char **details_copy(const char **l) {
        size_t n = 0;
        char **c;

        if (!l)
                return NULL;
        while (l[n])
                n++;
        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i]) {
                        strv_free(c);
                        return NULL;
                }
        }
        return c;
}

/* NULL and the empty list are the same */
static bool details_equal(char * const *a, const char * const *b) {
        size_t i = 0;

        for (;; i++) {
                const char *x = a ? a[i] : NULL;
                const char *y = b ? b[i] : NULL;

                if (!x || !y)
                        return !x && !y;
                if (!streq(x, y))
                        return false;
        }
}

static size_t details_length(const char **l) {
        size_t n = 0;

        if (l)
                while (l[n])
                        n++;
        return n;
}

/* ---- answers and queries ---- */

static PolkitAnswer *answer_free(PolkitAnswer *a) {
        if (!a)
                return NULL;
        free(a->action);
        strv_free(a->details);
        sd_bus_error_free(&a->error);
        free(a);
        return NULL;
}

static PolkitAnswer *query_find_answer(PolkitQuery *q, const char *action, const char **details) {
        for (PolkitAnswer *a = q->answers; a; a = a->next)
                if (streq(a->action, action) && details_equal(a->details, details))
                        return a;
        return NULL;
}

static void query_forget_question(PolkitQuery *q) {
        q->slot = sd_bus_slot_unref(q->slot);
        free(q->action);
        q->action = NULL;
        strv_free(q->details);
        q->details = NULL;
        q->interactive = false;
}

static PolkitQuery *query_free(PolkitQuery *q) {
        if (!q)
                return NULL;

        if (q->registry) {
                if (q->prev)
                        q->prev->next = q->next;
                else
                        q->registry->queries = q->next;
                if (q->next)
                        q->next->prev = q->prev;
                q->registry->n_queries--;
        }

        /* unreferencing the slot cancels a CheckAuthorization still in
         * flight: a late answer is dropped by sd-bus */
        query_forget_question(q);
        sd_event_source_disable_unref(q->cleanup);
        while (q->answers) {
                PolkitAnswer *a = q->answers;
                q->answers = a->next;
                answer_free(a);
        }
        if (q->request) {
                uint64_t cookie = 0;

                (void) sd_bus_message_get_cookie(q->request, &cookie);
                log_debug("polkit: dropping the query for %s.%s() from %s (cookie %" PRIu64 ")",
                          strempty(sd_bus_message_get_interface(q->request)),
                          strempty(sd_bus_message_get_member(q->request)),
                          strempty(sd_bus_message_get_sender(q->request)), cookie);
        }
        sd_bus_message_unref(q->request);
        free(q);
        return NULL;
}

static PolkitQuery *registry_find(PolkitRegistry *r, sd_bus_message *call) {
        if (!r)
                return NULL;
        for (PolkitQuery *q = r->queries; q; q = q->next)
                if (q->request == call)
                        return q;
        return NULL;
}

PolkitRegistry *polkit_registry_free(PolkitRegistry *r) {
        if (!r)
                return NULL;
        /* Pending questions are cancelled; their method calls stay
         * unanswered (the daemon is going away, the bus tells the callers). */
        while (r->queries)
                query_free(r->queries);
        free(r);
        return NULL;
}

size_t polkit_registry_size(const PolkitRegistry *r) {
        return r ? r->n_queries : 0;
}

/* ---- the answer ---- */

static bool error_is_unknown_service(const sd_bus_error *e) {
        return sd_bus_error_has_names(e,
                                      SD_BUS_ERROR_SERVICE_UNKNOWN,
                                      SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                      "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
                                      "org.freedesktop.DBus.Error.Spawn.ChildExited",
                                      "org.freedesktop.DBus.Error.Spawn.Failed",
                                      "org.freedesktop.DBus.Error.Spawn.FailedToSetup",
                                      "org.freedesktop.DBus.Error.Spawn.ExecFailed");
}

/* Turns polkit's reply (or the error sd-bus synthesized for a timeout or
 * a lost connection) into an answer.  Anything but a well-formed "yes"
 * is a "no". */
static int answer_set_from_reply(PolkitAnswer *a, sd_bus_message *reply, bool interactive) {
        int authorized = 0, challenge = 0, r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                if (error_is_unknown_service(e)) {
                        log_debug("polkit: not available for %s: %s: %s", a->action, e->name, strempty(e->message));
                        return sd_bus_error_setf(&a->error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Cannot check authorization for %s: polkit is not running (%.200s).",
                                                 a->action, strempty(e->message));
                }
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_TIMEOUT, SD_BUS_ERROR_NO_REPLY)) {
                        log_debug("polkit: no answer for %s: %s: %s", a->action, e->name, strempty(e->message));
                        return sd_bus_error_setf(&a->error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Cannot check authorization for %s: polkit timed out (%.200s).",
                                                 a->action, strempty(e->message));
                }
                log_debug("polkit: error for %s: %s: %s", a->action, strempty(e ? e->name : NULL),
                          strempty(e ? e->message : NULL));
                return sd_bus_error_setf(&a->error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot check authorization for %s: polkit failed: %.200s (%s).",
                                         a->action, strempty(e ? e->message : NULL), strempty(e ? e->name : NULL));
        }

        r = sd_bus_message_has_signature(reply, "(bba{ss})") ? 0 : -EBADMSG;
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0) {
                log_debug_errno(r, "polkit: invalid reply for %s (signature \"%s\"): %m", a->action,
                                strempty(sd_bus_message_get_signature(reply, true)));
                return sd_bus_error_setf(&a->error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot check authorization for %s: polkit sent an invalid reply (signature \"%.32s\").",
                                         a->action, strempty(sd_bus_message_get_signature(reply, true)));
        }

        log_debug("polkit: %s: authorized=%s challenge=%s", a->action, authorized ? "yes" : "no",
                  challenge ? "yes" : "no");
        if (authorized)
                return 1;
        if (challenge && !interactive)
                return sd_bus_error_setf(&a->error, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                                         "Interactive authentication required for %s.", a->action);
        return sd_bus_error_setf(&a->error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Access denied: not authorized for %s.", a->action);
}

static int query_cleanup(_unused_ sd_event_source *s, void *userdata) {
        PolkitQuery *q = userdata;

        /* Idle priority: runs once the bus has processed the re-enqueued
         * call, so the second bus_verify_polkit_async() found the answer. */
        query_free(q);
        return 0;
}

static int query_arm_cleanup(PolkitQuery *q, sd_bus *bus) {
        sd_event *e;
        int r;

        if (q->cleanup)
                return sd_event_source_set_enabled(q->cleanup, SD_EVENT_ONESHOT);

        e = sd_bus_get_event(bus);
        if (!e)
                return -ENXIO;  /* the bus must be attached to an sd-event loop */
        r = sd_event_add_defer(e, &q->cleanup, query_cleanup, q);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(q->cleanup, SD_EVENT_PRIORITY_IDLE);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(q->cleanup, "polkit-query-cleanup");
        return sd_event_source_set_enabled(q->cleanup, SD_EVENT_ONESHOT);
}

static int polkit_reply(sd_bus_message *reply, void *userdata, _unused_ sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        PolkitAnswer *a;
        sd_bus *bus = sd_bus_message_get_bus(q->request);
        int r;

        /* the slot is being dispatched: sd-bus holds its own reference */
        q->slot = sd_bus_slot_unref(q->slot);

        a = calloc(1, sizeof *a);
        if (!a) {
                r = -ENOMEM;
                goto fail;
        }
        a->action = TAKE_PTR(q->action);
        a->details = TAKE_PTR(q->details);
        a->error = SD_BUS_ERROR_NULL;
        a->result = answer_set_from_reply(a, reply, q->interactive);
        q->interactive = false;
        if (a->result < 0 && !sd_bus_error_is_set(&a->error)) {
                /* could not even store the error (out of memory): deny */
                answer_free(a);
                r = -ENOMEM;
                goto fail;
        }
        a->next = q->answers;
        q->answers = a;

        /* Dispatch the call again: the handler runs once more from the top
         * (so it re-validates everything) and gets the answer. */
        r = query_arm_cleanup(q, bus);
        if (r >= 0)
                r = sd_bus_message_rewind(q->request, true);
        if (r >= 0)
                r = sd_bus_enqueue_for_read(bus, q->request);
        if (r < 0) {
                /* cannot re-dispatch: answer the call here, never with success */
                log_debug_errno(r, "polkit: cannot re-dispatch %s.%s(): %m",
                                strempty(sd_bus_message_get_interface(q->request)),
                                strempty(sd_bus_message_get_member(q->request)));
                if (a->result < 0)
                        (void) sd_bus_reply_method_error(q->request, &a->error);
                else
                        (void) sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_ACCESS_DENIED,
                                                          "Cannot complete authorization for %s: %s.",
                                                          a->action, strerror(-r));
                query_free(q);
        }
        return 1;

fail:
        log_debug_errno(r, "polkit: cannot process the answer: %m");
        (void) sd_bus_reply_method_errorf(q->request, SD_BUS_ERROR_ACCESS_DENIED,
                                          "Cannot check authorization: %s.", strerror(-r));
        query_free(q);
        return 1;
}

/* ---- asking ---- */

static int caller_uid(sd_bus_message *call, uid_t *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r;

        /* On a dbus-daemon bus this asks the bus (GetConnectionCredentials):
         * the uid comes from the bus, not from the caller.  Augmented
         * credentials (read from /proc after the fact, racy) are refused. */
        r = sd_bus_query_sender_creds(call, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        if (sd_bus_creds_get_augmented_mask(creds) & SD_BUS_CREDS_EUID)
                return -EPERM;
        return sd_bus_creds_get_euid(creds, ret);
}

static int polkit_call_new(sd_bus_message *call, const char *action, const char **details,
                           bool interactive, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *c = NULL;
        const char *sender = sd_bus_message_get_sender(call);
        int r;

        r = sd_bus_message_new_method_call(sd_bus_message_get_bus(call), &c, POLKIT_BUS_NAME, POLKIT_PATH,
                                           POLKIT_INTERFACE, "CheckAuthorization");
        if (r < 0)
                return r;
        /* subject: ("system-bus-name", {"name": <sender>}) */
        r = sd_bus_message_append(c, "(sa{sv})s", "system-bus-name", 1U, "name", "s", sender, action);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(c, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; details && details[i]; i += 2) {
                r = sd_bus_message_append(c, "{ss}", details[i], details[i + 1]);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(c);
        if (r < 0)
                return r;
        r = sd_bus_message_append(c, "us", interactive ? POLKIT_CHECK_ALLOW_USER_INTERACTION : UINT32_C(0), "");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int bus_verify_polkit_async(sd_bus_message *call, const char *action, const char **details,
                            uid_t good_uid, PolkitRegistry **registry, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *pk = NULL;
        PolkitQuery *q, *q_new = NULL;
        PolkitAnswer *a;
        const char *sender;
        bool interactive;
        uint64_t timeout;
        uid_t uid;
        int r;

        if (!call || !action || !registry || details_length(details) % 2 != 0)
                return -EINVAL;
        if (!sd_bus_message_is_method_call(call, NULL, NULL))
                return -EINVAL;

        /* uid 0 and good_uid first, on every dispatch: they do not need an
         * answer and may have changed since the question was asked */
        r = caller_uid(call, &uid);
        if (r < 0) {
                log_debug_errno(r, "polkit: cannot determine the uid of %s: %m",
                                strempty(sd_bus_message_get_sender(call)));
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Access denied: cannot determine the caller's user ID (%s).",
                                         strerror(-r));
        }
        if (uid == 0 && !polkit_settings.ask_for_root) {
                log_debug("polkit: %s allowed for uid 0 without asking", action);
                return 1;
        }
        if (good_uid != (uid_t) -1 && uid == good_uid) {
                log_debug("polkit: %s allowed for uid %u (the good uid) without asking", action, (unsigned) uid);
                return 1;
        }

        q = registry_find(*registry, call);
        if (q) {
                /* second dispatch: the answer is here */
                a = query_find_answer(q, action, details);
                if (a) {
                        if (a->result > 0)
                                return 1;
                        return sd_bus_error_copy(error, &a->error);
                }
                if (q->slot) {
                        if (streq_ptr(q->action, action) && details_equal(q->details, details))
                                return 0;  /* still pending (the call was dispatched meanwhile) */
                        /* A handler asking two questions in one dispatch:
                         * a bug.  The call gets this error as its reply, so
                         * the pending question must not re-dispatch it. */
                        log_debug("polkit: %s asked while %s is pending for the same call", action, q->action);
                        query_forget_question(q);
                        if (!q->answers)
                                query_free(q);
                        else if (q->cleanup)
                                (void) sd_event_source_set_enabled(q->cleanup, SD_EVENT_ONESHOT);
                        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                 "Cannot check authorization for %s while another check for this call is pending.",
                                                 action);
                }
        }

        sender = sd_bus_message_get_sender(call);
        if (!sender)
                /* a direct connection: polkit identifies subjects by bus name */
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Access denied: %s needs polkit, which needs a bus name.", action);

        r = sd_bus_message_get_allow_interactive_authorization(call);
        if (r < 0)
                return sd_bus_error_set_errno(error, r);
        interactive = r > 0;

        r = polkit_call_new(call, action, details, interactive, &pk);
        if (r < 0)
                goto fail;

        if (!*registry) {
                *registry = calloc(1, sizeof(PolkitRegistry));
                if (!*registry) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        if (!q) {
                q = q_new = calloc(1, sizeof(PolkitQuery));
                if (!q) {
                        r = -ENOMEM;
                        goto fail;
                }
                q->request = sd_bus_message_ref(call);
        } else if (q->cleanup) {
                /* a new question on a call that was answered before: keep
                 * the query until the new answer has been dispatched */
                r = sd_event_source_set_enabled(q->cleanup, SD_EVENT_OFF);
                if (r < 0)
                        goto fail;
        }

        q->action = strdup(action);
        q->details = details_copy(details);
        if (!q->action || (details && !q->details)) {
                r = -ENOMEM;
                goto fail;
        }
        q->interactive = interactive;

        timeout = polkit_settings.timeout_usec > 0 ? polkit_settings.timeout_usec : POLKIT_DEFAULT_TIMEOUT_USEC;
        r = sd_bus_call_async(sd_bus_message_get_bus(call), &q->slot, pk, polkit_reply, q, timeout);
        if (r < 0)
                goto fail;

        if (q_new) {
                q_new->registry = *registry;
                q_new->next = (*registry)->queries;
                if (q_new->next)
                        q_new->next->prev = q_new;
                (*registry)->queries = q_new;
                (*registry)->n_queries++;
        }

        log_debug("polkit: asking whether %s (uid %u) may do %s%s", sender, (unsigned) uid, action,
                  interactive ? " (interactive)" : "");
        return 0;

fail:
        if (q_new)
                query_free(q_new);
        else if (q) {
                query_forget_question(q);
                if (q->cleanup)
                        (void) sd_event_source_set_enabled(q->cleanup, SD_EVENT_ONESHOT);
        }
        log_debug_errno(r, "polkit: cannot ask about %s: %m", action);
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Cannot check authorization for %s: %s.", action, strerror(-r));
}
