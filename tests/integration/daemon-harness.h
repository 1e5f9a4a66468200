/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <glib.h>

/* Runs the real pci-assignd binary against a umockdev testbed on a private
 * dbus-daemon, the way the system would: it talks to "the system bus"
 * through DBUS_SYSTEM_BUS_ADDRESS, reports READY=1 through NOTIFY_SOCKET,
 * keeps state under a temporary STATE_DIRECTORY, and is stopped with
 * SIGTERM; a non-zero exit (e.g. valgrind's --error-exitcode) fails the
 * test.  $PCI_ASSIGND_TEST_WRAPPER (e.g. "valgrind --error-exitcode=99 ...")
 * is put in front of the daemon's command line. */

struct NotifyReader;

typedef struct Harness {
        GPid bus_pid;            /* our own dbus-daemon (see harness_new) */
        gchar *bus_address;
        GDBusConnection *conn;

        gchar *testbed_dir;      /* UMOCKDEV_DIR */
        gpointer testbed;        /* UMockdevTestbed */
        gchar *tmpdir;           /* state, runtime, notify socket */
        gchar *state_dir;
        gchar *runtime_dir;

        GPid pid;
        gint exit_status;
        gboolean exited;
        GString *notify_log;     /* every sd_notify datagram, each followed by '\n' */
        GPtrArray *notify_messages;  /* the same, one string per datagram */
        GPtrArray *extra_env;    /* KEY=VALUE strings */
        GSocket *notify_socket;
        GThread *notify_thread;  /* reads notify_socket (daemon-harness.c) */
        struct NotifyReader *notify_reader;
        gboolean fakekernel;     /* see harness_use_fakekernel() */
        gchar *daemon_log_path;  /* see harness_capture_daemon_stderr() */
} Harness;

/* Creates the bus and a testbed loaded from tests/data/testbeds/NAME. */
Harness *harness_new(const char *testbed_name);
void harness_free(Harness *h);

/* Starts the daemon with extra arguments (NULL-terminated) and waits for
 * READY=1 and the bus name.  Fails the test on timeout. */
void harness_start_daemon(Harness *h, const char *const *extra_args);

/* Starts the daemon expecting it to refuse to start: returns its exit
 * status (fails the test if it becomes ready instead). */
int harness_start_daemon_expect_failure(Harness *h, const char *const *extra_args);

/* Runs a second daemon with the same environment (bus, testbed, state and
 * runtime directories) while the first may be running; waits for it to
 * exit (it must exit by itself: a test of a refusal) and returns its exit
 * status, with its stderr in *ret_stderr. */
int harness_run_second_daemon(Harness *h, const char *const *extra_args, gchar **ret_stderr);

/* Reads the sd_notify datagrams that arrived since (into notify_log and
 * notify_messages; a start clears both). */
void harness_notify_drain(Harness *h);

/* SIGTERM, waits, asserts a clean exit (status 0). */
void harness_stop_daemon(Harness *h);

/* Synchronous call on org.pciassign1; returns the reply or sets error. */
/* Reserve()'s a(sb): the assigned functions, then the others (NULL-ended
 * lists; either may be NULL). */
GVariant *harness_functions_v(const char *const *assigned, const char *const *unassigned);

GVariant *harness_call(Harness *h, const char *path, const char *iface, const char *method,
                       GVariant *args, const GVariantType *reply_type, GError **error);

/* Properties.GetAll on a path for an interface, as a{sv}. */
GVariant *harness_get_all(Harness *h, const char *path, const char *iface);

/* Runs build/src/ctl/pci-assignctl with argv on the test bus. */
int harness_run_ctl(Harness *h, const char *const *argv, gchar **out, gchar **err);
/* The same as an unprivileged user (uid/gid 65534, through setpriv). */
int harness_run_ctl_as_nobody(Harness *h, const char *const *argv, gchar **out, gchar **err);
/* Starts pci-assignctl with argv on the test bus in the background, its
 * stdout and stderr into output_path. */
GSubprocess *harness_spawn_ctl(Harness *h, const char *const *argv, const char *output_path);

/* Extra environment for the next daemon start (NULL-terminated KEY, VALUE, ...) */
void harness_set_env(Harness *h, const char *key, const char *value);

/* Iterates the default main context for up to `ms` or until *flag. */
void harness_wait_for(gboolean *flag, guint ms);

/* Adds devices to the testbed (umockdev-record format). */
void harness_add_devices(Harness *h, const char *record);

/* Absolute path of a test data file (source tree). */
gchar *harness_data_path(const char *rel);

/* ---- driver binding through tests/fakekernel ----
 *
 * From the next start on, the daemon runs with libfakekernel.so in front of
 * umockdev's preload (LD_PRELOAD="libfakekernel.so libumockdev-preload.so.0"),
 * FAKEKERNEL_ROOT=<testbed>/sys and FAKEKERNEL_UMOCKDEV=1: its writes to
 * driver_override, unbind, bind, drivers_probe and reset change the testbed
 * the way the kernel would (see tests/fakekernel/README.md), and binding a
 * group to vfio-pci makes <testbed>/dev/vfio/N.  Creates the testbed's
 * bus/pci/drivers/vfio-pci/{bind,unbind} (the recording has no vfio-pci).
 * FAKEKERNEL_FAIL / FAKEKERNEL_DELAY_MS go through harness_set_env(). */
void harness_use_fakekernel(Harness *h);

/* <testbed>/sys/REL (REL may be NULL: the sys directory itself) */
gchar *harness_sys_path(Harness *h, const char *rel);

/* The driver bound to a function in the testbed ("" if none), and
 * <testbed>/sys/bus/pci/devices/ADDR/NAME's text (NULL if missing). */
gchar *harness_sys_driver(Harness *h, const char *addr);
gchar *harness_sys_read(Harness *h, const char *addr, const char *name);

/* What the fake kernel was asked to do, one line per write ("" if nothing),
 * and forgetting it. */
gchar *harness_fakekernel_log(Harness *h);
void harness_fakekernel_log_clear(Harness *h);

/* Drops KEY from the extra environment of the next daemon starts. */
void harness_unset_env(Harness *h, const char *key);

/* Waits up to `ms` (longer under a wrapper) for the daemon to exit on its
 * own (e.g. killed by a test hook) and returns its wait status; the test
 * fails if it does not exit. */
int harness_wait_daemon_exit(Harness *h, guint ms);

/* From the next start on, the daemon's stderr (its log, and the wrapper's
 * messages under $PCI_ASSIGND_TEST_WRAPPER) is appended to
 * <tmpdir>/daemon.log instead of going to the test's stderr. */
void harness_capture_daemon_stderr(Harness *h);

/* Everything captured so far ("" if nothing or not capturing). */
gchar *harness_daemon_stderr(Harness *h);

/* Sends `sig` to the running daemon, waits for it to be gone (up to 30 s,
 * longer under a wrapper) and returns its wait status; the test fails if
 * it does not exit.  No exit status is asserted. */
int harness_kill_daemon(Harness *h, int sig);

/* ---- uevents: hotplug as udev passes it on ----
 *
 * umockdev delivers uevents to every process of the testbed that has a
 * libudev monitor (a unix datagram socket $UMOCKDEV_DIR/eventN each), so
 * the daemon's monitor gets what the test sends.  umockdev_testbed_uevent()
 * sends with a non-blocking socket and aborts the process when a
 * listener's queue is full; that queue holds net.unix.max_dgram_qlen
 * datagrams (10 by default), so a burst of events kills the test as soon
 * as the daemon is a little behind.  udevd's monitors have a 128 MiB
 * netlink buffer and lose nothing, so these helpers send the same message
 * (libudev's monitor format, as umockdev's uevent_sender.c builds it)
 * with a blocking socket: the sender waits while a listener's queue is
 * full, up to 60 s (4x under a wrapper), then fails the test.
 *
 * Properties: ACTION, DEVPATH, SUBSYSTEM, SEQNUM, then the device's
 * uevent file (the kernel's PCI_CLASS, PCI_ID, ... and what udev added),
 * without the recorded DRIVER, and DRIVER= from the driver link when there
 * is one, as the kernel does (a "bind" carries DRIVER=, an "unbind" does
 * not).  SYSPATH is "/sys/devices/..." (umockdev's form). */
typedef struct HarnessUevent HarnessUevent;

/* Builds the message now (the device must exist), for sending later: a
 * "remove" is built by the kernel before the directory goes away, and a
 * listener of udev's events receives it after (udevd runs its rules
 * first), so a test removes the device between the two. */
HarnessUevent *harness_uevent_new(Harness *h, const char *syspath, const char *action);
/* Sends it to every listener and frees it; returns the number reached. */
guint harness_uevent_send(Harness *h, HarnessUevent *ev);
void harness_uevent_free(HarnessUevent *ev);
/* Both in one: returns the number of listeners reached. */
guint harness_uevent(Harness *h, const char *syspath, const char *action);
