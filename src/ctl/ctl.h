/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* Shared state of pci-assignctl: the parsed global options and the verbs.
 * A verb gets argv starting with the verb name itself (like systemd's
 * dispatch_verb()) and returns 0, a negative errno after it has printed its
 * one-line error, or CTL_USAGE_ERROR after a usage hint. */

/* Never an errno value (those stop at 4095), so it can share the return
 * channel with them. */
#define CTL_USAGE_ERROR (-4096)

enum {
        CTL_EXIT_OK = 0,
        CTL_EXIT_FAILURE = 1,
        CTL_EXIT_USAGE = 2,
};

/* "pci-assignctl: <text> See 'pci-assignctl --help'." on stderr; returns
 * CTL_USAGE_ERROR. */
_printf_(1, 2) int usage_error(const char *fmt, ...);

extern bool arg_json;
extern bool arg_legend;
extern bool arg_ask_password;
extern const char *arg_owner;
/* reservations: every --owner (NULL: no filter), --lines */
extern char **arg_owners;
extern bool arg_lines;
/* reserve */
extern char **arg_unassigned;
extern bool arg_complete_group;
extern bool arg_transient;
extern const char *arg_driver;

int verb_list(sd_bus *bus, int argc, char *argv[]);
int verb_show(sd_bus *bus, int argc, char *argv[]);
int verb_check(sd_bus *bus, int argc, char *argv[]);

int verb_reserve(sd_bus *bus, int argc, char *argv[]);
int verb_reservations(sd_bus *bus, int argc, char *argv[]);
int verb_show_reservation(sd_bus *bus, int argc, char *argv[]);
int verb_release(sd_bus *bus, int argc, char *argv[]);
int verb_placement(sd_bus *bus, int argc, char *argv[]);
int verb_prepare(sd_bus *bus, int argc, char *argv[]);
int verb_unprepare(sd_bus *bus, int argc, char *argv[]);
int verb_set_in_use(sd_bus *bus, int argc, char *argv[]);
int verb_detach(sd_bus *bus, int argc, char *argv[]);
int verb_reattach(sd_bus *bus, int argc, char *argv[]);
int verb_reset(sd_bus *bus, int argc, char *argv[]);
int verb_monitor(sd_bus *bus, int argc, char *argv[]);

/* GetReservation(id): the object path (malloc'd) */
int get_reservation(sd_bus *bus, const char *id, char **ret_path);

/* "Out of memory." as a verb's one-line error: -ENOMEM */
int ctl_out_of_memory(void);
static inline const char *ctl_plural(size_t n, const char *one, const char *many) {
        return n == 1 ? one : many;
}
