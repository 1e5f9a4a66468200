/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "reservation-state.h"

/* Where a reservation can be: the four states, degraded split by the
 * state it returns to. */
typedef enum Where {
        W_RESERVED,
        W_PREPARED,
        W_IN_USE,
        W_DEGRADED_RESERVED,
        W_DEGRADED_PREPARED,
        W_DEGRADED_IN_USE,
        _W_MAX,
} Where;

typedef struct Entry {
        bool allowed;
        Where to;
        ReservationAction action;
        const char *why;        /* refused: completes "Reservation ID ..." */
} Entry;

#define GO(w) { .allowed = true, .to = (w) }
#define GO_ACT(w, a) { .allowed = true, .to = (w), .action = (a) }
#define NO(text) { .allowed = false, .why = (text) }

static const char why_in_use[] = "is in use by its guest";
static const char why_degraded_in_use[] =
        "is degraded and was in use by its guest, which may still run";
static const char why_not_prepared[] = "is not prepared";
static const char why_not_in_use[] = "is not in-use";
static const char why_no_operation[] = "had no operation that could fail to roll back";

/* The whole machine.  Rows: where the reservation is; columns: events. */
static const Entry table[_W_MAX][_RESERVATION_EVENT_MAX] = {
        [W_RESERVED] = {
                [RESERVATION_EVENT_PREPARE_DONE]      = GO(W_PREPARED),
                [RESERVATION_EVENT_PREPARE_FAILED]    = GO(W_RESERVED),
                [RESERVATION_EVENT_UNPREPARE_DONE]    = GO(W_RESERVED),
                [RESERVATION_EVENT_UNPREPARE_FAILED]  = GO(W_RESERVED),
                [RESERVATION_EVENT_ROLLBACK_FAILED]   = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_FUNCTION_GONE]     = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_FUNCTION_RETURNED] = GO(W_RESERVED),
                [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = NO(why_not_prepared),
                [RESERVATION_EVENT_TAKEOVER_UNDONE]   = NO(why_not_prepared),
                [RESERVATION_EVENT_IN_USE_ON]         = NO(why_not_prepared),
                [RESERVATION_EVENT_IN_USE_OFF]        = NO(why_not_in_use),
                [RESERVATION_EVENT_RELEASE]           = GO_ACT(W_RESERVED, RESERVATION_ACTION_RELEASE),
                [RESERVATION_EVENT_OWNER_GONE]        = GO_ACT(W_RESERVED, RESERVATION_ACTION_RELEASE),
                [RESERVATION_EVENT_DAEMON_RESTART]    = GO(W_RESERVED),
                [RESERVATION_EVENT_REBOOT]            = GO(W_RESERVED),
        },
        [W_PREPARED] = {
                [RESERVATION_EVENT_PREPARE_DONE]      = GO(W_PREPARED),
                [RESERVATION_EVENT_PREPARE_FAILED]    = GO(W_PREPARED),
                [RESERVATION_EVENT_UNPREPARE_DONE]    = GO(W_RESERVED),
                [RESERVATION_EVENT_UNPREPARE_FAILED]  = GO(W_PREPARED),
                [RESERVATION_EVENT_ROLLBACK_FAILED]   = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_FUNCTION_GONE]     = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_FUNCTION_RETURNED] = GO(W_PREPARED),
                [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_TAKEOVER_UNDONE]   = GO(W_PREPARED),
                [RESERVATION_EVENT_IN_USE_ON]         = GO(W_IN_USE),
                [RESERVATION_EVENT_IN_USE_OFF]        = GO(W_PREPARED),
                [RESERVATION_EVENT_RELEASE]           = GO_ACT(W_PREPARED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_OWNER_GONE]        = GO_ACT(W_PREPARED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_DAEMON_RESTART]    = GO(W_PREPARED),
                [RESERVATION_EVENT_REBOOT]            = GO(W_PREPARED),
        },
        [W_IN_USE] = {
                [RESERVATION_EVENT_PREPARE_DONE]      = NO(why_in_use),
                [RESERVATION_EVENT_PREPARE_FAILED]    = NO(why_in_use),
                [RESERVATION_EVENT_UNPREPARE_DONE]    = NO(why_in_use),
                [RESERVATION_EVENT_UNPREPARE_FAILED]  = NO(why_in_use),
                [RESERVATION_EVENT_ROLLBACK_FAILED]   = NO(why_no_operation),
                [RESERVATION_EVENT_FUNCTION_GONE]     = GO(W_DEGRADED_IN_USE),
                [RESERVATION_EVENT_FUNCTION_RETURNED] = GO(W_IN_USE),
                [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = GO(W_DEGRADED_IN_USE),
                [RESERVATION_EVENT_TAKEOVER_UNDONE]   = GO(W_IN_USE),
                [RESERVATION_EVENT_IN_USE_ON]         = GO(W_IN_USE),
                [RESERVATION_EVENT_IN_USE_OFF]        = GO(W_PREPARED),
                [RESERVATION_EVENT_RELEASE]           = NO(why_in_use),
                /* the guest went with its owner: given back from prepared */
                [RESERVATION_EVENT_OWNER_GONE]        = GO_ACT(W_PREPARED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_DAEMON_RESTART]    = GO(W_IN_USE),
                [RESERVATION_EVENT_REBOOT]            = GO(W_PREPARED),
        },
        [W_DEGRADED_RESERVED] = {
                [RESERVATION_EVENT_PREPARE_DONE]      = GO(W_PREPARED),
                [RESERVATION_EVENT_PREPARE_FAILED]    = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_UNPREPARE_DONE]    = GO(W_RESERVED),
                [RESERVATION_EVENT_UNPREPARE_FAILED]  = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_ROLLBACK_FAILED]   = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_FUNCTION_GONE]     = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_FUNCTION_RETURNED] = GO(W_RESERVED),
                [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = NO(why_not_prepared),
                [RESERVATION_EVENT_TAKEOVER_UNDONE]   = NO(why_not_prepared),
                [RESERVATION_EVENT_IN_USE_ON]         = NO(why_not_prepared),
                [RESERVATION_EVENT_IN_USE_OFF]        = NO(why_not_in_use),
                [RESERVATION_EVENT_RELEASE]           = GO_ACT(W_DEGRADED_RESERVED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_OWNER_GONE]        = GO_ACT(W_DEGRADED_RESERVED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_DAEMON_RESTART]    = GO(W_DEGRADED_RESERVED),
                [RESERVATION_EVENT_REBOOT]            = GO(W_DEGRADED_RESERVED),
        },
        [W_DEGRADED_PREPARED] = {
                [RESERVATION_EVENT_PREPARE_DONE]      = GO(W_PREPARED),
                [RESERVATION_EVENT_PREPARE_FAILED]    = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_UNPREPARE_DONE]    = GO(W_RESERVED),
                [RESERVATION_EVENT_UNPREPARE_FAILED]  = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_ROLLBACK_FAILED]   = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_FUNCTION_GONE]     = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_FUNCTION_RETURNED] = GO(W_PREPARED),
                [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_TAKEOVER_UNDONE]   = GO(W_PREPARED),
                [RESERVATION_EVENT_IN_USE_ON]         = NO(why_not_prepared),
                [RESERVATION_EVENT_IN_USE_OFF]        = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_RELEASE]           = GO_ACT(W_DEGRADED_PREPARED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_OWNER_GONE]        = GO_ACT(W_DEGRADED_PREPARED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_DAEMON_RESTART]    = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_REBOOT]            = GO(W_DEGRADED_PREPARED),
        },
        /* its guest may run: nothing that resets or unbinds the functions
         * that stayed (Prepare, Unprepare, Release) until SetInUse(false) */
        [W_DEGRADED_IN_USE] = {
                [RESERVATION_EVENT_PREPARE_DONE]      = NO(why_degraded_in_use),
                [RESERVATION_EVENT_PREPARE_FAILED]    = NO(why_degraded_in_use),
                [RESERVATION_EVENT_UNPREPARE_DONE]    = NO(why_degraded_in_use),
                [RESERVATION_EVENT_UNPREPARE_FAILED]  = NO(why_degraded_in_use),
                [RESERVATION_EVENT_ROLLBACK_FAILED]   = NO(why_no_operation),
                [RESERVATION_EVENT_FUNCTION_GONE]     = GO(W_DEGRADED_IN_USE),
                [RESERVATION_EVENT_FUNCTION_RETURNED] = GO(W_IN_USE),
                [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = GO(W_DEGRADED_IN_USE),
                [RESERVATION_EVENT_TAKEOVER_UNDONE]   = GO(W_IN_USE),
                [RESERVATION_EVENT_IN_USE_ON]         = GO(W_DEGRADED_IN_USE),
                [RESERVATION_EVENT_IN_USE_OFF]        = GO(W_DEGRADED_PREPARED),
                [RESERVATION_EVENT_RELEASE]           = NO(why_degraded_in_use),
                [RESERVATION_EVENT_OWNER_GONE]        = GO_ACT(W_DEGRADED_PREPARED, RESERVATION_ACTION_GIVE_BACK_RELEASE),
                [RESERVATION_EVENT_DAEMON_RESTART]    = GO(W_DEGRADED_IN_USE),
                [RESERVATION_EVENT_REBOOT]            = GO(W_DEGRADED_PREPARED),
        },
};

static const struct { ReservationState state, return_to; } where_states[_W_MAX] = {
        [W_RESERVED]          = { RESERVATION_RESERVED, _RESERVATION_STATE_INVALID },
        [W_PREPARED]          = { RESERVATION_PREPARED, _RESERVATION_STATE_INVALID },
        [W_IN_USE]            = { RESERVATION_IN_USE,   _RESERVATION_STATE_INVALID },
        [W_DEGRADED_RESERVED] = { RESERVATION_DEGRADED, RESERVATION_RESERVED },
        [W_DEGRADED_PREPARED] = { RESERVATION_DEGRADED, RESERVATION_PREPARED },
        [W_DEGRADED_IN_USE]   = { RESERVATION_DEGRADED, RESERVATION_IN_USE },
};

static int where_of(ReservationState state, ReservationState return_to, Where *ret) {
        for (Where w = 0; w < _W_MAX; w++)
                if (where_states[w].state == state && where_states[w].return_to == return_to) {
                        *ret = w;
                        return 0;
                }
        return -EINVAL;
}

bool reservation_state_pair_is_valid(ReservationState state, ReservationState return_to) {
        Where w;
        return where_of(state, return_to, &w) >= 0;
}

int reservation_transition(ReservationState state, ReservationState return_to, ReservationEvent event,
                           ReservationTransition *ret, const char **ret_why) {
        const Entry *e;
        Where from;

        if (event < 0 || event >= _RESERVATION_EVENT_MAX || where_of(state, return_to, &from) < 0)
                return -EINVAL;
        e = &table[from][event];
        if (!e->allowed) {
                if (ret_why)
                        *ret_why = e->why;
                return -EBUSY;
        }
        if (ret)
                *ret = (ReservationTransition) {
                        .state = where_states[e->to].state,
                        .return_to = where_states[e->to].return_to,
                        .action = e->action,
                        .changed = e->to != from,
                };
        return 0;
}

static const char *const event_names[_RESERVATION_EVENT_MAX] = {
        [RESERVATION_EVENT_PREPARE_DONE]      = "prepare-done",
        [RESERVATION_EVENT_PREPARE_FAILED]    = "prepare-failed",
        [RESERVATION_EVENT_UNPREPARE_DONE]    = "unprepare-done",
        [RESERVATION_EVENT_UNPREPARE_FAILED]  = "unprepare-failed",
        [RESERVATION_EVENT_ROLLBACK_FAILED]   = "rollback-failed",
        [RESERVATION_EVENT_FUNCTION_GONE]     = "function-gone",
        [RESERVATION_EVENT_FUNCTION_RETURNED] = "function-returned",
        [RESERVATION_EVENT_HOST_DRIVER_TOOK]  = "host-driver-took",
        [RESERVATION_EVENT_TAKEOVER_UNDONE]   = "takeover-undone",
        [RESERVATION_EVENT_IN_USE_ON]         = "in-use-on",
        [RESERVATION_EVENT_IN_USE_OFF]        = "in-use-off",
        [RESERVATION_EVENT_RELEASE]           = "release",
        [RESERVATION_EVENT_OWNER_GONE]        = "owner-gone",
        [RESERVATION_EVENT_DAEMON_RESTART]    = "daemon-restart",
        [RESERVATION_EVENT_REBOOT]            = "reboot",
};

const char *reservation_event_to_string(ReservationEvent e) {
        return e >= 0 && e < _RESERVATION_EVENT_MAX ? event_names[e] : NULL;
}

ReservationEvent reservation_event_from_string(const char *s) {
        for (ReservationEvent e = 0; s && e < _RESERVATION_EVENT_MAX; e++)
                if (streq(event_names[e], s))
                        return e;
        return _RESERVATION_EVENT_INVALID;
}

static size_t where_format(Where w, char *buf, size_t size) {
        ReservationState s = where_states[w].state, rt = where_states[w].return_to;

        if (rt == _RESERVATION_STATE_INVALID)
                return (size_t) snprintf(buf, size, "%s", reservation_state_to_string(s));
        return (size_t) snprintf(buf, size, "%s (return to %s)", reservation_state_to_string(s),
                                 reservation_state_to_string(rt));
}

size_t reservation_state_table_format(char *buf, size_t size) {
        static const char *const action_names[] = {
                [RESERVATION_ACTION_NONE] = "",
                [RESERVATION_ACTION_RELEASE] = ", deleted",
                [RESERVATION_ACTION_GIVE_BACK_RELEASE] = ", given back, deleted",
        };
        size_t n = 0;

        for (Where w = 0; w < _W_MAX; w++)
                for (ReservationEvent e = 0; e < _RESERVATION_EVENT_MAX; e++) {
                        const Entry *t = &table[w][e];
                        char from[64], to[64];

                        where_format(w, from, sizeof from);
                        if (t->allowed)
                                where_format(t->to, to, sizeof to);
                        n += (size_t) snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0,
                                               "%-30s %-18s %s%s\n", from, event_names[e],
                                               t->allowed ? to : "refused: ",
                                               t->allowed ? action_names[t->action] : t->why);
                }
        return n;
}
