/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "reservation.h"

/* The reservation state machine: which events may happen in which state,
 * and where each leads.  Pure data: the daemon's one setter applies a
 * transition (validate here, persist, notify once); nothing else assigns
 * a reservation's state.  org.pciassign1(5) shows the same table (a test
 * compares the two).
 *
 * A degraded reservation remembers the state to return to when what went
 * wrong is over (`return_to`): reserved, prepared or in-use.  In every
 * other state `return_to` is _RESERVATION_STATE_INVALID. */

typedef enum ReservationEvent {
        RESERVATION_EVENT_PREPARE_DONE,      /* every function bound, reset, verified */
        RESERVATION_EVENT_PREPARE_FAILED,    /* failed, and rolled back: as it was */
        RESERVATION_EVENT_UNPREPARE_DONE,    /* every function given back */
        RESERVATION_EVENT_UNPREPARE_FAILED,  /* failed, and rolled back: as it was */
        RESERVATION_EVENT_ROLLBACK_FAILED,   /* an operation failed and so did its rollback:
                                              * functions are not where they were */
        RESERVATION_EVENT_FUNCTION_GONE,     /* a function was removed, or another device is
                                              * at its address (also found at start) */
        RESERVATION_EVENT_FUNCTION_RETURNED, /* whole again, every function where `return_to`
                                              * wants it */
        RESERVATION_EVENT_HOST_DRIVER_TOOK,  /* a function that should be on the vfio driver
                                              * is not: a host driver took it, or binding it
                                              * again at start failed */
        RESERVATION_EVENT_TAKEOVER_UNDONE,   /* every such function is on the vfio driver again */
        RESERVATION_EVENT_IN_USE_ON,         /* SetInUse(true) */
        RESERVATION_EVENT_IN_USE_OFF,        /* SetInUse(false) */
        RESERVATION_EVENT_RELEASE,           /* Release() */
        RESERVATION_EVENT_OWNER_GONE,        /* the owner of a transient reservation left the bus */
        RESERVATION_EVENT_DAEMON_RESTART,    /* loaded from the state file at start, same boot */
        RESERVATION_EVENT_REBOOT,            /* loaded at the first start after a reboot: no
                                              * guest runs any more */
        _RESERVATION_EVENT_MAX,
        _RESERVATION_EVENT_INVALID = -1,
} ReservationEvent;

/* What an allowed event does besides the state. */
typedef enum ReservationAction {
        RESERVATION_ACTION_NONE,
        RESERVATION_ACTION_RELEASE,          /* delete the reservation; its functions stay */
        RESERVATION_ACTION_GIVE_BACK_RELEASE,/* give its functions back (Unprepare), then delete */
} ReservationAction;

typedef struct ReservationTransition {
        ReservationState state;              /* after the event */
        ReservationState return_to;          /* after the event (see above) */
        ReservationAction action;
        bool changed;                        /* state or return_to differ from before */
} ReservationTransition;

/* The transition for `event` in (state, return_to).  0 with *ret set if
 * the event is allowed; -EBUSY if it is refused in this state (e.g.
 * Prepare of an in-use reservation: the guest runs), with *ret_why set to
 * a static phrase for the error message ("is in use by its guest");
 * -EINVAL for an event, state or return_to out of range, or a return_to
 * that does not fit the state. */
int reservation_transition(ReservationState state, ReservationState return_to, ReservationEvent event,
                           ReservationTransition *ret, const char **ret_why);

/* Whether (state, return_to) is a combination the machine can be in. */
bool reservation_state_pair_is_valid(ReservationState state, ReservationState return_to);

const char *reservation_event_to_string(ReservationEvent e);
ReservationEvent reservation_event_from_string(const char *s);

/* The table as text, one line per (state, return_to) and event, in
 * columns of 30 and 18 characters, for the manual and its drift test:
 * "in-use                         function-gone      degraded (return to in-use)",
 * "in-use                         release            refused: is in use by its guest".  Returns the
 * number of bytes written (snprintf-style; the text is complete when it
 * is below size). */
size_t reservation_state_table_format(char *buf, size_t size);
