/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pci-assignctl: the command line client of pci-assignd.  It only talks
 * D-Bus (org.pciassign1 on the system bus, see org.pciassign1(5)); it never
 * looks at sysfs itself, so what it prints is what every other client of the
 * daemon sees. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl-bus.h"
#include "ctl.h"

bool arg_json = false;
bool arg_legend = true;
bool arg_ask_password = true;
const char *arg_owner = NULL;
char **arg_owners = NULL;       /* every --owner, for reservations; points into argv */
bool arg_lines = false;
char **arg_unassigned = NULL;   /* points into argv; only the array is ours */
bool arg_complete_group = false;
bool arg_transient = false;
const char *arg_driver = NULL;

/* The first option seen that only one verb takes, to refuse it elsewhere. */
static const char *arg_owner_option = NULL;
static const char *arg_reserve_option = NULL;
static const char *arg_driver_option = NULL;  /* the first option only some verbs take */
static const char *arg_lines_option = NULL;

#define VERB_ANY ((unsigned) -1)

typedef enum VerbFlags {
        VERB_DEFAULT     = 1 << 0,  /* run when no verb is given */
        VERB_NO_BUS      = 1 << 1,  /* needs no bus connection */
        VERB_OPT_OWNER   = 1 << 2,  /* takes --owner */
        VERB_OPT_RESERVE = 1 << 3,  /* takes --unassigned, --complete-group, --transient, --driver */
        VERB_OPT_DRIVER  = 1 << 4,  /* takes --driver */
        VERB_OPT_LINES   = 1 << 5,  /* takes --lines */
        VERB_OPT_ANY     = VERB_OPT_OWNER | VERB_OPT_RESERVE | VERB_OPT_DRIVER | VERB_OPT_LINES,
} VerbFlags;

typedef struct Verb {
        const char *name;
        unsigned min_args, max_args;    /* counting the verb itself */
        VerbFlags flags;
        int (*dispatch)(sd_bus *bus, int argc, char *argv[]);
} Verb;

static int verb_help(sd_bus *bus, int argc, char *argv[]);

static const Verb verbs[] = {
        { "list",             VERB_ANY, 1,        VERB_DEFAULT,     verb_list             },
        { "show",             2,        2,        0,                verb_show             },
        { "check",            2,        VERB_ANY, VERB_OPT_OWNER,   verb_check            },
        { "reserve",          3,        VERB_ANY, VERB_OPT_RESERVE | VERB_OPT_DRIVER, verb_reserve },
        { "reservations",     VERB_ANY, 1,        VERB_OPT_OWNER | VERB_OPT_LINES, verb_reservations },
        { "show-reservation", 2,        2,        0,                verb_show_reservation },
        { "reservation",      2,        2,        0,                verb_show_reservation },
        { "release",          2,        2,        0,                verb_release          },
        { "placement",        3,        3,        0,                verb_placement        },
        { "prepare",          2,        2,        0,                verb_prepare          },
        { "unprepare",        2,        2,        0,                verb_unprepare        },
        { "set-in-use",       3,        3,        0,                verb_set_in_use       },
        { "detach",           2,        2,        VERB_OPT_DRIVER,  verb_detach           },
        { "reattach",         2,        2,        0,                verb_reattach         },
        { "reset",            2,        2,        0,                verb_reset            },
        { "monitor",          VERB_ANY, 1,        0,                verb_monitor          },
        { "help",             VERB_ANY, VERB_ANY, VERB_NO_BUS | VERB_OPT_ANY, verb_help           },
};

static void help(void) {
        printf("%1$s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Query and control PCI device assignment through pci-assignd.\n"
               "\n"
               "Commands:\n"
               "  list                  List PCI functions (default command)\n"
               "  show ADDRESS          Show all properties of one PCI function\n"
               "  check ADDRESS...      Tell whether functions can be given to a guest,\n"
               "                        and why not\n"
               "  reserve OWNER ADDRESS...\n"
               "                        Reserve functions for the guest OWNER and print\n"
               "                        the reservation id\n"
               "  reservations          List reservations (--owner: only those of NAME)\n"
               "  show-reservation ID   Show all properties of a reservation\n"
               "                        (alias: reservation ID)\n"
               "  prepare ID            Detach every function of the reservation to its\n"
               "                        vfio driver, reset and verify (all or nothing)\n"
               "  unprepare ID          Reset and give the functions back to their host\n"
               "                        drivers; the reservation stays\n"
               "  set-in-use ID yes|no  Tell pci-assignd that the guest started or stopped\n"
               "  release ID            Give the functions back and delete the reservation\n"
               "  placement ID MACHINE  Print a JSON layout suggestion for the guest\n"
               "                        (MACHINE: q35, pseries or virt)\n"
               "  detach ADDRESS        Bind one function to vfio-pci (or --driver)\n"
               "                        without a reservation\n"
               "  reattach ADDRESS      Give a detached function back to its host driver\n"
               "  reset ADDRESS         Reset a function that is not on a host driver\n"
               "  monitor               Print every signal of pci-assignd as it comes, one\n"
               "                        line each (with --json one JSON object per line),\n"
               "                        until interrupted; \"Monitoring org.pciassign1 ...\"\n"
               "                        on stderr means the subscriptions are in place\n"
               "  help                  Show this help\n"
               "\n"
               "Options:\n"
               "  -h --help             Show this help\n"
               "     --version          Show package version\n"
               "     --json             Print machine-readable JSON\n"
               "     --owner=NAME       With check: the would-be owner, whose own\n"
               "                        reservations are no conflict; with reservations:\n"
               "                        only the reservations of NAME (repeatable)\n"
               "     --lines            With reservations: one line per function,\n"
               "                        \"ID STATE ADDRESS ASSIGNED PERSISTENT OWNER\"\n"
               "     --unassigned=ADDRESS\n"
               "                        With reserve: detach ADDRESS with its group but\n"
               "                        do not give it to the guest (repeatable)\n"
               "     --complete-group   With reserve: add the unlisted members of the\n"
               "                        touched groups as unassigned\n"
               "     --transient        With reserve: the reservation lasts only as long\n"
               "                        as this command runs; it stays in the foreground\n"
               "                        until interrupted (Ctrl-C, SIGTERM)\n"
               "     --driver=NAME      With reserve and detach: the vfio driver to bind\n"
               "                        (default: vfio-pci)\n"
               "     --no-legend        Do not print the table header and footer\n"
               "     --no-ask-password  Do not ask for authorization interactively\n"
               "\n"
               "ADDRESS is a full PCI address, DDDD:BB:DD.F (e.g. 0000:03:00.0).\n"
               "ID is a reservation id, as printed by reserve and reservations.\n"
               "Exit status: 0 on success, 1 on failure, 2 on usage errors.\n",
               program_invocation_short_name);
}

static int verb_help(sd_bus *bus, int argc, char *argv[]) {
        help();
        return 0;
}

int usage_error(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_invocation_short_name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " See '%s --help'.\n", program_invocation_short_name);
        return CTL_USAGE_ERROR;
}

/* Returns 1 to go on with a verb, 0 when done (--help, --version), or
 * CTL_USAGE_ERROR. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_JSON,
                ARG_OWNER,
                ARG_UNASSIGNED,
                ARG_COMPLETE_GROUP,
                ARG_TRANSIENT,
                ARG_DRIVER,
                ARG_NO_LEGEND,
                ARG_NO_ASK_PASSWORD,
                ARG_LINES,
        };
        static const struct option options[] = {
                { "help",            no_argument,       NULL, 'h'                 },
                { "version",         no_argument,       NULL, ARG_VERSION         },
                { "json",            no_argument,       NULL, ARG_JSON            },
                { "owner",           required_argument, NULL, ARG_OWNER           },
                { "unassigned",      required_argument, NULL, ARG_UNASSIGNED      },
                { "complete-group",  no_argument,       NULL, ARG_COMPLETE_GROUP  },
                { "transient",       no_argument,       NULL, ARG_TRANSIENT       },
                { "driver",          required_argument, NULL, ARG_DRIVER          },
                { "no-legend",       no_argument,       NULL, ARG_NO_LEGEND       },
                { "no-ask-password", no_argument,       NULL, ARG_NO_ASK_PASSWORD },
                { "lines",           no_argument,       NULL, ARG_LINES           },
                {}
        };
        int c;

        /* We print our own one-line messages; options may follow the verb
         * ("list --json"), as getopt permutes them to the front. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", program_invocation_short_name, PACKAGE_VERSION);
                        return 0;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_OWNER: {
                        size_t n = strv_length(arg_owners);
                        char **l = reallocarray(arg_owners, n + 2, sizeof(char *));

                        if (!l)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        l[n] = optarg;
                        l[n + 1] = NULL;
                        arg_owners = l;
                        arg_owner = optarg;
                        arg_owner_option = arg_owner_option ?: "--owner";
                        break;
                }
                case ARG_LINES:
                        arg_lines = true;
                        arg_lines_option = "--lines";
                        break;
                case ARG_UNASSIGNED: {
                        size_t n = strv_length(arg_unassigned);
                        char **l = reallocarray(arg_unassigned, n + 2, sizeof(char *));

                        if (!l)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        l[n] = optarg;
                        l[n + 1] = NULL;
                        arg_unassigned = l;
                        arg_reserve_option = arg_reserve_option ?: "--unassigned";
                        break;
                }
                case ARG_COMPLETE_GROUP:
                        arg_complete_group = true;
                        arg_reserve_option = arg_reserve_option ?: "--complete-group";
                        break;
                case ARG_TRANSIENT:
                        arg_transient = true;
                        arg_reserve_option = arg_reserve_option ?: "--transient";
                        break;
                case ARG_DRIVER:
                        arg_driver = optarg;
                        arg_driver_option = "--driver";
                        break;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        break;
                case ARG_NO_ASK_PASSWORD:
                        arg_ask_password = false;
                        break;
                case ':':
                        return usage_error("Option '%s' needs an argument.", argv[optind - 1]);
                case '?':
                        if (optopt > 0 && optopt < 0x100) {
                                char s[3] = { '-', (char) optopt, 0 };
                                return usage_error("Unknown option '%s'.", s);
                        }
                        return usage_error("Unknown option '%s'.", argv[optind - 1]);
                default:
                        return usage_error("Unhandled option '%s'.", argv[optind - 1]);
                }
        }

        return 1;
}

static int dispatch_verb(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const Verb *verb = NULL;
        const char *name = argc > 0 ? argv[0] : NULL;
        char *default_argv[] = { NULL, NULL };
        unsigned n;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (name ? streq(name, verbs[i].name) : (verbs[i].flags & VERB_DEFAULT)) {
                        verb = &verbs[i];
                        break;
                }
        if (!verb)
                return usage_error("Unknown command verb '%s'.", name);

        if (!name) {
                default_argv[0] = (char *) verb->name;
                argv = default_argv;
                argc = 1;
        }

        if (arg_owner_option && !(verb->flags & VERB_OPT_OWNER))
                return usage_error("Option '%s' is not valid with '%s'.", arg_owner_option, verb->name);
        if (arg_driver_option && !(verb->flags & VERB_OPT_DRIVER))
                return usage_error("Option '%s' is not valid with '%s'.", arg_driver_option, verb->name);
        if (arg_lines_option && !(verb->flags & VERB_OPT_LINES))
                return usage_error("Option '%s' is not valid with '%s'.", arg_lines_option, verb->name);
        if (arg_lines && arg_json)
                return usage_error("Options '--lines' and '--json' exclude each other.");
        if (arg_reserve_option && !(verb->flags & VERB_OPT_RESERVE))
                return usage_error("Option '%s' is not valid with '%s'.", arg_reserve_option, verb->name);

        n = (unsigned) argc;
        if (verb->min_args != VERB_ANY && n < verb->min_args)
                return usage_error("Too few arguments for '%s'.", verb->name);
        if (verb->max_args != VERB_ANY && n > verb->max_args)
                return usage_error("Too many arguments for '%s'.", verb->name);

        if (!(verb->flags & VERB_NO_BUS)) {
                r = ctl_bus_connect(&bus);
                if (r < 0)
                        return r;
        }

        return verb->dispatch(bus, argc, argv);
}

int main(int argc, char *argv[]) {
        int r;

        setlocale(LC_ALL, "");

        r = parse_argv(argc, argv);
        if (r > 0)
                r = dispatch_verb(argc - optind, argv + optind);

        if (fflush(stdout) != 0 && r >= 0)
                r = log_error_errno(-EIO, "Failed to write output: %s", strerror(errno));

        free(arg_unassigned);
        free(arg_owners);

        if (r == CTL_USAGE_ERROR)
                return CTL_EXIT_USAGE;
        return r < 0 ? CTL_EXIT_FAILURE : CTL_EXIT_OK;
}
