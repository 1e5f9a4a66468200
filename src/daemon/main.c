/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "bus-polkit.h"
#include "config.h"
#include "fileio.h"
#include "log.h"
#include "manager.h"

#define LOCK_FILE_NAME "pci-assignd.lock"

static bool arg_read_only = false;
static uint64_t arg_job_timeout_usec = 60 * USEC_PER_SEC;

static void help(void) {
        printf("%s [OPTIONS...]\n\n"
               "Owns PCI device assignment on this host: exports every PCI function\n"
               "on the system bus as org.pciassign1.\n\n"
               "  -h --help              Show this help\n"
               "     --version           Show package version\n"
               "     --read-only         Export everything, change nothing on the host\n"
               "     --log-level=LEVEL   emerg, alert, crit, err, warning, notice, info, debug\n"
               "     --job-timeout=SEC   Answer a rebind/reset call still running after SEC\n"
               "                         seconds with an error; the job goes on (default 60)\n"
               "\nTesting aids:\n"
               "     --ask-polkit-for-root  Ask polkit even for callers with uid 0\n"
               "     --polkit-timeout=SEC   Give up on polkit after SEC seconds (default 25)\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_READ_ONLY,
                ARG_LOG_LEVEL,
                ARG_ASK_POLKIT_FOR_ROOT,
                ARG_POLKIT_TIMEOUT,
                ARG_JOB_TIMEOUT,
        };
        static const struct option options[] = {
                { "help",      no_argument,       NULL, 'h'           },
                { "version",   no_argument,       NULL, ARG_VERSION   },
                { "read-only", no_argument,       NULL, ARG_READ_ONLY },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "ask-polkit-for-root", no_argument, NULL, ARG_ASK_POLKIT_FOR_ROOT },
                { "polkit-timeout", required_argument, NULL, ARG_POLKIT_TIMEOUT },
                { "job-timeout", required_argument, NULL, ARG_JOB_TIMEOUT },
                {}
        };
        int c, l;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("pci-assignd %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_READ_ONLY:
                        arg_read_only = true;
                        break;
                case ARG_LOG_LEVEL:
                        l = log_level_from_string(optarg);
                        if (l < 0) {
                                fprintf(stderr, "Invalid log level \"%s\".\n", optarg);
                                return -EINVAL;
                        }
                        log_set_max_level(l);
                        break;
                case ARG_ASK_POLKIT_FOR_ROOT:
                        polkit_settings.ask_for_root = true;
                        break;
                case ARG_JOB_TIMEOUT: {
                        char *end;
                        unsigned long sec;

                        errno = 0;
                        sec = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || sec == 0 || sec > 86400) {
                                fprintf(stderr, "Invalid job timeout \"%s\" (1..86400 seconds).\n", optarg);
                                return -EINVAL;
                        }
                        arg_job_timeout_usec = (uint64_t) sec * USEC_PER_SEC;
                        break;
                }
                case ARG_POLKIT_TIMEOUT: {
                        char *end;
                        unsigned long sec;

                        errno = 0;
                        sec = strtoul(optarg, &end, 10);
                        if (errno || *end || end == optarg || sec == 0 || sec > 3600) {
                                fprintf(stderr, "Invalid polkit timeout \"%s\" (1..3600 seconds).\n", optarg);
                                return -EINVAL;
                        }
                        polkit_settings.timeout_usec = (uint64_t) sec * 1000000ULL;
                        break;
                }
                case '?':
                        return -EINVAL;
                default:
                        abort();
                }

        if (optind < argc) {
                fprintf(stderr, "%s takes no arguments.\n", program_invocation_short_name);
                return -EINVAL;
        }
        return 1;
}

/* SIGHUP: what can be read again is read again (the host's mounts, swaps
 * and routes); the model follows udev anyway, and reservations are only
 * changed through the bus, so there is nothing else to reload. */
static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("SIGHUP: reading the host's mounts, swaps and routes again.");
        (void) manager_host_usage_refresh(m);
        return 0;
}

/* One daemon per state directory: a second one must not reconcile,
 * replay journals or rewrite the store under the first. */
static int lock_state_directory(Manager *m) {
        pid_t holder = 0;
        int r;

        r = lock_file_take(m->state_dir, LOCK_FILE_NAME, &holder);
        if (r == -EBUSY) {
                if (holder > 0)
                        log_error("Another pci-assignd is running, pid %ld (it holds %s/%s); not starting. "
                                  "Nothing was read or changed.", (long) holder, m->state_dir, LOCK_FILE_NAME);
                else
                        log_error("Another pci-assignd is running (it holds %s/%s); not starting. "
                                  "Nothing was read or changed.", m->state_dir, LOCK_FILE_NAME);
                (void) sd_notifyf(false, "STATUS=Another pci-assignd is running (pid %ld)\nERRNO=%i",
                                  (long) holder, EBUSY);
                return r;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to lock %s/%s: %m (is the state directory writable?)",
                                       m->state_dir, LOCK_FILE_NAME);
        return r;
}

int main(int argc, char *argv[]) {
        /* declared first, so closed (unlocked) last */
        _cleanup_close_ int lock_fd = -1;
        _cleanup_(manager_freep) Manager *m = NULL;
        ManagerOptions opts = {};
        char status[256];
        sigset_t ss;
        int r;

        /* The model is many small allocations and a GetManagedObjects reply
         * over thousands of functions is a few large transient buffers:
         * serve those from mmap so that they go back to the kernel when the
         * reply is sent, instead of pinning the heap top (RSS). */
        (void) mallopt(M_MMAP_THRESHOLD, 128 * 1024);

        log_open();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        /* SIGTERM/SIGINT are handled by sd-event: the loop exits cleanly */
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0) {
                log_error_errno(errno, "Failed to block signals: %m");
                return EXIT_FAILURE;
        }
        /* a client that goes away mid-reply must not kill us */
        signal(SIGPIPE, SIG_IGN);

        opts.read_only = arg_read_only;
        opts.job_timeout_usec = arg_job_timeout_usec;
        r = manager_new(&opts, &m);
        if (r < 0)
                return EXIT_FAILURE;

        /* a read-only daemon writes nothing: it may run beside the real one */
        if (!m->read_only) {
                lock_fd = lock_state_directory(m);
                if (lock_fd < 0)
                        return EXIT_FAILURE;
        }

        r = sd_event_add_signal(m->event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0) {
                log_error_errno(r, "Failed to install signal handlers: %m");
                return EXIT_FAILURE;
        }

        (void) sd_notify(false, "STATUS=Enumerating PCI functions...");
        r = manager_startup(m);
        if (r < 0) {
                (void) sd_notifyf(false, "STATUS=Failed to start: %s\nERRNO=%i", strerror(-r), -r);
                return EXIT_FAILURE;
        }

        manager_status(m, status, sizeof status);
        log_info("Ready: %s.", status);
        (void) manager_status_ready(m, status);

        r = sd_event_loop(m->event);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Shutting down...");
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                return EXIT_FAILURE;
        }
        log_info("Exiting.");
        return EXIT_SUCCESS;
}
