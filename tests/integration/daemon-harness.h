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
        GString *notify_log;     /* every sd_notify datagram */
        GPtrArray *extra_env;    /* KEY=VALUE strings */
        GSocket *notify_socket;
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

/* SIGTERM, waits, asserts a clean exit (status 0). */
void harness_stop_daemon(Harness *h);

/* Synchronous call on org.pciassign1; returns the reply or sets error. */
GVariant *harness_call(Harness *h, const char *path, const char *iface, const char *method,
                       GVariant *args, const GVariantType *reply_type, GError **error);

/* Properties.GetAll on a path for an interface, as a{sv}. */
GVariant *harness_get_all(Harness *h, const char *path, const char *iface);

/* Runs build/src/ctl/pci-assignctl with argv on the test bus. */
int harness_run_ctl(Harness *h, const char *const *argv, gchar **out, gchar **err);
/* The same as an unprivileged user (uid/gid 65534, through setpriv). */
int harness_run_ctl_as_nobody(Harness *h, const char *const *argv, gchar **out, gchar **err);

/* Extra environment for the next daemon start (NULL-terminated KEY, VALUE, ...) */
void harness_set_env(Harness *h, const char *key, const char *value);

/* Iterates the default main context for up to `ms` or until *flag. */
void harness_wait_for(gboolean *flag, guint ms);

/* Adds devices to the testbed (umockdev-record format). */
void harness_add_devices(Harness *h, const char *record);

/* Absolute path of a test data file (source tree). */
gchar *harness_data_path(const char *rel);
