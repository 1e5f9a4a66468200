/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reservation state machine (reservation-state.c): the promises it
 * encodes, checked over the whole table, and the manual's copy of it. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "reservation-state.h"

typedef struct Pair {
        ReservationState state, return_to;
} Pair;

static const Pair pairs[] = {
        { RESERVATION_RESERVED, _RESERVATION_STATE_INVALID },
        { RESERVATION_PREPARED, _RESERVATION_STATE_INVALID },
        { RESERVATION_IN_USE, _RESERVATION_STATE_INVALID },
        { RESERVATION_DEGRADED, RESERVATION_RESERVED },
        { RESERVATION_DEGRADED, RESERVATION_PREPARED },
        { RESERVATION_DEGRADED, RESERVATION_IN_USE },
};

/* the guest may run: the functions that are its own */
static gboolean guest_may_run(Pair p) {
        return p.state == RESERVATION_IN_USE ||
               (p.state == RESERVATION_DEGRADED && p.return_to == RESERVATION_IN_USE);
}

/* events that mean a job reset or unbound the functions (or would) */
static gboolean touches_functions(ReservationEvent e) {
        return e == RESERVATION_EVENT_PREPARE_DONE || e == RESERVATION_EVENT_PREPARE_FAILED ||
               e == RESERVATION_EVENT_UNPREPARE_DONE || e == RESERVATION_EVENT_UNPREPARE_FAILED ||
               e == RESERVATION_EVENT_ROLLBACK_FAILED || e == RESERVATION_EVENT_RELEASE;
}

/* Every allowed transition leads to a valid pair; `changed` is exactly
 * "another pair"; refusals say why. */
static void test_closed(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++)
                for (ReservationEvent e = 0; e < _RESERVATION_EVENT_MAX; e++) {
                        ReservationTransition t;
                        const char *why = NULL;
                        int r = reservation_transition(pairs[i].state, pairs[i].return_to, e, &t, &why);

                        if (r == -EBUSY) {
                                g_assert_nonnull(why);
                                g_assert_cmpuint(strlen(why), >, 5);
                                continue;
                        }
                        g_assert_cmpint(r, ==, 0);
                        g_assert_true(reservation_state_pair_is_valid(t.state, t.return_to));
                        g_assert_cmpint(t.changed, ==,
                                        t.state != pairs[i].state || t.return_to != pairs[i].return_to);
                }
}

/* While its guest may run, nothing resets or unbinds a reservation's
 * functions: every such event is refused; only the owner leaving (the
 * guest went with it) gives them back, and then from prepared; only
 * SetInUse(false) and a reboot (no guest survives one) end it. */
static void test_guest_protected(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
                if (!guest_may_run(pairs[i]))
                        continue;
                for (ReservationEvent e = 0; e < _RESERVATION_EVENT_MAX; e++) {
                        ReservationTransition t;
                        int r = reservation_transition(pairs[i].state, pairs[i].return_to, e, &t, NULL);

                        if (touches_functions(e))
                                g_assert_cmpint(r, ==, -EBUSY);
                        else if (r == 0 && e != RESERVATION_EVENT_OWNER_GONE &&
                                 e != RESERVATION_EVENT_IN_USE_OFF && e != RESERVATION_EVENT_REBOOT)
                                /* it stays in the guest's hands (a reboot
                                 * ended the guest: see test_jobs) */
                                g_assert_true(guest_may_run((Pair) { t.state, t.return_to }));
                }
                {
                        ReservationTransition t;
                        g_assert_cmpint(reservation_transition(pairs[i].state, pairs[i].return_to,
                                                               RESERVATION_EVENT_OWNER_GONE, &t, NULL), ==, 0);
                        g_assert_cmpint(t.action, ==, RESERVATION_ACTION_GIVE_BACK_RELEASE);
                        g_assert_false(guest_may_run((Pair) { t.state, t.return_to }));
                }
        }
}

/* Trouble (gone, a host driver) degrades and remembers where it was;
 * its end returns exactly there; more trouble meanwhile keeps it. */
static void test_degrade_and_return(void) {
        const ReservationState states[] = { RESERVATION_RESERVED, RESERVATION_PREPARED, RESERVATION_IN_USE };

        for (size_t i = 0; i < G_N_ELEMENTS(states); i++) {
                ReservationTransition t, u, v;

                g_assert_cmpint(reservation_transition(states[i], _RESERVATION_STATE_INVALID,
                                                       RESERVATION_EVENT_FUNCTION_GONE, &t, NULL), ==, 0);
                g_assert_cmpint(t.state, ==, RESERVATION_DEGRADED);
                g_assert_cmpint(t.return_to, ==, states[i]);
                g_assert_true(t.changed);
                g_assert_cmpint(reservation_transition(t.state, t.return_to, RESERVATION_EVENT_FUNCTION_GONE, &u,
                                                       NULL), ==, 0);
                g_assert_false(u.changed);
                g_assert_cmpint(reservation_transition(u.state, u.return_to, RESERVATION_EVENT_FUNCTION_RETURNED,
                                                       &v, NULL), ==, 0);
                g_assert_cmpint(v.state, ==, states[i]);
                g_assert_cmpint(v.return_to, ==, _RESERVATION_STATE_INVALID);

                if (states[i] == RESERVATION_RESERVED) {
                        /* a reserved function is on its host driver */
                        g_assert_cmpint(reservation_transition(states[i], _RESERVATION_STATE_INVALID,
                                                               RESERVATION_EVENT_HOST_DRIVER_TOOK, &t, NULL), ==,
                                        -EBUSY);
                        continue;
                }
                g_assert_cmpint(reservation_transition(states[i], _RESERVATION_STATE_INVALID,
                                                       RESERVATION_EVENT_HOST_DRIVER_TOOK, &t, NULL), ==, 0);
                g_assert_cmpint(t.state, ==, RESERVATION_DEGRADED);
                g_assert_cmpint(t.return_to, ==, states[i]);
                g_assert_cmpint(reservation_transition(t.state, t.return_to, RESERVATION_EVENT_TAKEOVER_UNDONE, &v,
                                                       NULL), ==, 0);
                g_assert_cmpint(v.state, ==, states[i]);
        }
}

/* SetInUse while degraded from in-use moves where it returns to, so that
 * the guest's end is not lost and Prepare becomes possible again. */
static void test_in_use_while_degraded(void) {
        ReservationTransition t;
        const char *why = NULL;

        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_IN_USE,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, &why), ==, -EBUSY);
        g_assert_nonnull(strstr(why, "may still run"));
        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_IN_USE,
                                               RESERVATION_EVENT_IN_USE_OFF, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_DEGRADED);
        g_assert_cmpint(t.return_to, ==, RESERVATION_PREPARED);
        g_assert_cmpint(reservation_transition(t.state, t.return_to, RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_PREPARED);
        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_PREPARED,
                                               RESERVATION_EVENT_IN_USE_ON, &t, &why), ==, -EBUSY);
}

/* The job events, from the states a job can begin in. */
static void test_jobs(void) {
        ReservationTransition t;

        g_assert_cmpint(reservation_transition(RESERVATION_RESERVED, _RESERVATION_STATE_INVALID,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_PREPARED);
        g_assert_cmpint(reservation_transition(RESERVATION_RESERVED, _RESERVATION_STATE_INVALID,
                                               RESERVATION_EVENT_PREPARE_FAILED, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_RESERVED);
        g_assert_false(t.changed);
        g_assert_cmpint(reservation_transition(RESERVATION_PREPARED, _RESERVATION_STATE_INVALID,
                                               RESERVATION_EVENT_ROLLBACK_FAILED, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_DEGRADED);
        g_assert_cmpint(t.return_to, ==, RESERVATION_PREPARED);
        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_PREPARED,
                                               RESERVATION_EVENT_UNPREPARE_DONE, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_RESERVED);
        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_RESERVED,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, 0);
        g_assert_cmpint(t.state, ==, RESERVATION_PREPARED);
        /* Release: reserved at once; what may be bound is given back first */
        g_assert_cmpint(reservation_transition(RESERVATION_RESERVED, _RESERVATION_STATE_INVALID,
                                               RESERVATION_EVENT_RELEASE, &t, NULL), ==, 0);
        g_assert_cmpint(t.action, ==, RESERVATION_ACTION_RELEASE);
        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_RESERVED,
                                               RESERVATION_EVENT_OWNER_GONE, &t, NULL), ==, 0);
        g_assert_cmpint(t.action, ==, RESERVATION_ACTION_GIVE_BACK_RELEASE);
        /* a restart changes nothing by itself; a reboot ends every guest:
         * in-use (also the one to return to) becomes prepared, nothing else
         * changes */
        for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
                g_assert_cmpint(reservation_transition(pairs[i].state, pairs[i].return_to,
                                                       RESERVATION_EVENT_DAEMON_RESTART, &t, NULL), ==, 0);
                g_assert_false(t.changed);
                g_assert_cmpint(reservation_transition(pairs[i].state, pairs[i].return_to,
                                                       RESERVATION_EVENT_REBOOT, &t, NULL), ==, 0);
                g_assert_true(t.state != RESERVATION_IN_USE && t.return_to != RESERVATION_IN_USE);
                g_assert_cmpint(t.changed, ==, pairs[i].state == RESERVATION_IN_USE ||
                                                       pairs[i].return_to == RESERVATION_IN_USE);
                if (t.changed)
                        g_assert_cmpint(t.state == RESERVATION_DEGRADED ? t.return_to : t.state, ==,
                                        RESERVATION_PREPARED);
        }
}

static void test_invalid(void) {
        ReservationTransition t;

        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, _RESERVATION_STATE_INVALID,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, -EINVAL);
        g_assert_cmpint(reservation_transition(RESERVATION_PREPARED, RESERVATION_RESERVED,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, -EINVAL);
        g_assert_cmpint(reservation_transition(RESERVATION_DEGRADED, RESERVATION_DEGRADED,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, -EINVAL);
        g_assert_cmpint(reservation_transition(RESERVATION_RESERVED, _RESERVATION_STATE_INVALID,
                                               _RESERVATION_EVENT_MAX, &t, NULL), ==, -EINVAL);
        g_assert_cmpint(reservation_transition(RESERVATION_RESERVED, _RESERVATION_STATE_INVALID,
                                               _RESERVATION_EVENT_INVALID, &t, NULL), ==, -EINVAL);
        g_assert_cmpint(reservation_transition(_RESERVATION_STATE_MAX, _RESERVATION_STATE_INVALID,
                                               RESERVATION_EVENT_PREPARE_DONE, &t, NULL), ==, -EINVAL);
        g_assert_false(reservation_state_pair_is_valid(RESERVATION_DEGRADED, _RESERVATION_STATE_INVALID));
        for (ReservationEvent e = 0; e < _RESERVATION_EVENT_MAX; e++)
                g_assert_cmpint(reservation_event_from_string(reservation_event_to_string(e)), ==, e);
        g_assert_cmpint(reservation_event_from_string("prepare"), ==, _RESERVATION_EVENT_INVALID);
        g_assert_cmpint(reservation_event_from_string(NULL), ==, _RESERVATION_EVENT_INVALID);
        g_assert_null(reservation_event_to_string(_RESERVATION_EVENT_MAX));
}

/* org.pciassign1(5) shows the table the daemon runs: the literal block
 * after "## Transitions" must be what reservation_state_table_format()
 * prints. */
static void test_manual(void) {
        const char *root = g_getenv("PCI_ASSIGND_SOURCE_ROOT");
        g_autofree gchar *path = NULL, *text = NULL, *want = NULL;
        const char *sec, *open, *close;
        g_autofree gchar *block = NULL;
        size_t n;

        g_assert_nonnull(root);
        path = g_build_filename(root, "man", "org.pciassign1.5.scd", NULL);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        sec = strstr(text, "\n## Transitions\n");
        g_assert_nonnull(sec);
        open = strstr(sec, "\n```\n");
        g_assert_nonnull(open);
        open += 5;
        close = strstr(open, "```\n");
        g_assert_nonnull(close);
        block = g_strndup(open, (gsize) (close - open));

        n = reservation_state_table_format(NULL, 0);
        want = g_malloc(n + 1);
        g_assert_cmpuint(reservation_state_table_format(want, n + 1), ==, n);
        if (!g_str_equal(block, want))
                g_error("the transition table in %s differs from the daemon's; it should read:\n%s", path, want);
}


int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/reservation-state/closed", test_closed);
        g_test_add_func("/reservation-state/guest-protected", test_guest_protected);
        g_test_add_func("/reservation-state/degrade-and-return", test_degrade_and_return);
        g_test_add_func("/reservation-state/in-use-while-degraded", test_in_use_while_degraded);
        g_test_add_func("/reservation-state/jobs", test_jobs);
        g_test_add_func("/reservation-state/invalid", test_invalid);
        g_test_add_func("/reservation-state/manual", test_manual);
        return g_test_run();
}
