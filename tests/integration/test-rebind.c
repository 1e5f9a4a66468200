/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Rebinding and resets (issue 4) through the real daemon on a private bus,
 * against the recorded q35 testbed (tests/data/testbeds/q35-vm.truth.json)
 * with the fake kernel (tests/fakekernel) preloaded into the daemon: its
 * driver_override/unbind/drivers_probe/bind/reset writes change the
 * testbed the way the kernel would, can be made to fail or to be slow, and
 * are logged in order.  Every check reads the testbed's sysfs files (and
 * the state file) after the operation, besides what the daemon says.
 *
 * The test runs as root (uid 0), so polkit is not asked.  The contract
 * under test is org.pciassign1(5) / the rebind contract of issue 4:
 * Prepare/Unprepare/SetInUse/Release, Detach/Reattach/Reset, the job
 * queue (serialized, answered when the job ends, --job-timeout), the
 * journal in the state file and its reconciliation at start. */
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/wait.h>

#include "rebind-util.h"


/* ---- pieces used by several tests ---- */

static const char *const mf_both[] = { MF0, MF1, NULL };

static const char *const prepare_mf_log =
        "override 0000:0b:00.0 \"vfio-pci\" ok\n"
        "unbind e1000e \"0000:0b:00.0\" ok\n"
        "probe drivers_probe \"0000:0b:00.0\" ok\n"
        "override 0000:0b:00.1 \"vfio-pci\" ok\n"
        "unbind e1000e \"0000:0b:00.1\" ok\n"
        "probe drivers_probe \"0000:0b:00.1\" ok\n"
        "reset 0000:0b:00.0 \"1\" ok\n"
        "reset 0000:0b:00.1 \"1\" ok\n";

static const char *const unprepare_mf_log =
        "reset 0000:0b:00.0 \"1\" ok\n"
        "reset 0000:0b:00.1 \"1\" ok\n"
        "override 0000:0b:00.0 \"\\n\" ok\n"
        "unbind vfio-pci \"0000:0b:00.0\" ok\n"
        "probe drivers_probe \"0000:0b:00.0\" ok\n"
        "override 0000:0b:00.1 \"\\n\" ok\n"
        "unbind vfio-pci \"0000:0b:00.1\" ok\n"
        "probe drivers_probe \"0000:0b:00.1\" ok\n";

/* group 22 on its host driver, as the reservation r1 left it */
static void assert_mf_reserved(Harness *h, const char *path) {
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        g_assert_false(vfio_node(h, MF_GROUP));
        assert_res_state(h, path, "reserved");
        assert_stored_state(h, "r1", "reserved");
        assert_no_journal(h);
        assert_dev_prop(h, MF0, "Driver", "e1000e");
        assert_dev_prop(h, MF1, "Driver", "e1000e");
}

static void assert_mf_prepared(Harness *h, const char *path) {
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        g_assert_true(vfio_node(h, MF_GROUP));
        assert_res_state(h, path, "prepared");
        assert_stored_state(h, "r1", "prepared");
        assert_no_journal(h);
        assert_dev_prop(h, MF0, "Driver", "vfio-pci");
        assert_dev_prop(h, MF1, "Driver", "vfio-pci");
}

/* ==== 1. Prepare / Unprepare / Release ==== */

static void test_prepare_unprepare(void) {
        Harness *h = new_harness();
        Events ev;
        g_autofree gchar *path = NULL, *path2 = NULL;
        g_autoptr(GError) error = NULL;

        harness_start_daemon(h, no_args);
        events_init(&ev, h);
        assert_log_empty(h);

        /* the multifunction group; function 1 detached with it, not assigned */
        path = reserve(h, "vm1", (const char *const[]) { MF0, NULL }, (const char *const[]) { MF1, NULL });
        g_assert_cmpstr(path, ==, "/org/pciassign1/reservation/r1");
        assert_res_state(h, path, "reserved");
        assert_dev_prop(h, MF0, "HostDriver", "e1000e");
        assert_dev_prop(h, MF1, "HostDriver", "e1000e");
        assert_log_empty(h);    /* Reserve writes nothing to sysfs */
        events_clear(&ev);

        res_ok(h, path, "Prepare", NULL);
        /* the testbed: every function of the group on vfio-pci by
         * driver_override, bound in address order, then reset in order */
        assert_log(h, prepare_mf_log);
        assert_mf_prepared(h, path);
        g_assert_cmpint(reset_count(h, MF0), ==, 1);
        g_assert_cmpint(reset_count(h, MF1), ==, 1);
        g_assert_true(group_viable(h, MF_GROUP));
        assert_dev_prop(h, MF0, "HostDriver", "e1000e");
        events_wait(&ev, "ReservationChanged r1 prepared");
        events_wait(&ev, "State /org/pciassign1/reservation/r1 prepared");

        /* Prepare again: nothing to bind, every function reset again */
        harness_fakekernel_log_clear(h);
        res_ok(h, path, "Prepare", NULL);
        assert_log(h, "reset 0000:0b:00.0 \"1\" ok\n"
                      "reset 0000:0b:00.1 \"1\" ok\n");
        assert_mf_prepared(h, path);

        harness_fakekernel_log_clear(h);
        events_clear(&ev);
        res_ok(h, path, "Unprepare", NULL);
        assert_log(h, unprepare_mf_log);
        assert_mf_reserved(h, path);
        g_assert_cmpint(reset_count(h, MF0), ==, 3);
        g_assert_cmpint(reset_count(h, MF1), ==, 3);
        g_assert_false(group_viable(h, MF_GROUP));
        events_wait(&ev, "ReservationChanged r1 reserved");
        events_wait(&ev, "State /org/pciassign1/reservation/r1 reserved");

        /* Release of a reserved reservation writes nothing */
        harness_fakekernel_log_clear(h);
        res_ok(h, path, "Release", NULL);
        events_wait(&ev, "ReservationRemoved r1");
        assert_log_empty(h);
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        {
                g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetReservation",
                                                     g_variant_new("(s)", "r1"), G_VARIANT_TYPE("(o)"), &error);
                g_assert_null(r);
                assert_remote_error(error, E("NoSuchReservation"));
                g_clear_error(&error);
        }

        /* Release of a prepared reservation gives the functions back first */
        path2 = reserve(h, "vm2", mf_both, NULL);
        g_assert_cmpstr(path2, ==, "/org/pciassign1/reservation/r2");
        res_ok(h, path2, "Prepare", NULL);
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        events_clear(&ev);
        res_ok(h, path2, "Release", NULL);
        events_wait(&ev, "ReservationRemoved r2");
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        g_assert_false(vfio_node(h, MF_GROUP));
        {
                json_object *r = stored_reservation(h, "r2");
                g_assert_null(r);
        }
        assert_dev_prop(h, MF0, "Reservation", "/");
        assert_dev_prop(h, MF0, "Driver", "e1000e");

        events_done(&ev);
        harness_stop_daemon(h);
        harness_free(h);
}

/* A group behind a PCIe-to-PCI bridge: the bridge keeps its (no) driver,
 * the function without a `reset` file is not reset, the bus-reset-only
 * one is (its whole bus is detached), and the group is viable. */
static void test_prepare_bridge_group(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;
        g_autofree gchar *reset_file = NULL;

        reset_file = harness_sys_read(h, NEIGHBOUR, "reset");
        g_assert_null(reset_file);      /* the testbed as described above */
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", (const char *const[]) { BUS_ONLY, NEIGHBOUR, NULL }, NULL);
        res_ok(h, path, "Prepare", NULL);
        assert_vfio(h, BUS_ONLY);
        assert_vfio(h, NEIGHBOUR);
        assert_sys_driver(h, PCI_BRIDGE, "");
        g_assert_cmpint(reset_count(h, BUS_ONLY), ==, 1);
        g_assert_cmpint(reset_count(h, NEIGHBOUR), ==, 0);
        g_assert_true(vfio_node(h, BRIDGE_GROUP));
        g_assert_true(group_viable(h, BRIDGE_GROUP));
        assert_res_state(h, path, "prepared");

        res_ok(h, path, "Unprepare", NULL);
        assert_host(h, BUS_ONLY, "e1000");
        assert_host(h, NEIGHBOUR, "e1000");
        g_assert_false(vfio_node(h, BRIDGE_GROUP));
        assert_res_state(h, path, "reserved");
        harness_free(h);
}

/* ENOTTY from a listed reset method is a warning, not a failure. */
static void test_prepare_reset_enotty(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;

        harness_set_env(h, "FAKEKERNEL_FAIL", "reset:" MF0 ":ENOTTY");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        res_ok(h, path, "Prepare", NULL);
        assert_mf_prepared(h, path);
        g_assert_cmpint(reset_count(h, MF0), ==, 0);
        g_assert_cmpint(reset_count(h, MF1), ==, 1);
        harness_free(h);
}

/* SetInUse and what in-use forbids. */
static void test_set_in_use(void) {
        Harness *h = new_harness();
        Events ev;
        g_autofree gchar *path = NULL, *msg = NULL;

        harness_start_daemon(h, no_args);
        events_init(&ev, h);
        path = reserve(h, "vm1", (const char *const[]) { NIC, NULL }, NULL);

        res_fails(h, path, "SetInUse", g_variant_new("(b)", TRUE), E("InUse"), &msg);
        assert_contains_nocase(msg, "reservation r1 is reserved, not prepared");
        g_clear_pointer(&msg, g_free);
        /* false means "prepared", which it is not either */
        res_fails(h, path, "SetInUse", g_variant_new("(b)", FALSE), E("InUse"), &msg);
        assert_contains(msg, "r1 is reserved");
        g_clear_pointer(&msg, g_free);
        assert_res_state(h, path, "reserved");

        res_ok(h, path, "Prepare", NULL);
        assert_vfio(h, NIC);
        g_assert_true(vfio_node(h, NIC_GROUP));
        events_clear(&ev);
        res_ok(h, path, "SetInUse", g_variant_new("(b)", TRUE));
        assert_res_state(h, path, "in-use");
        assert_stored_state(h, "r1", "in-use");
        events_wait(&ev, "ReservationChanged r1 in-use");
        res_ok(h, path, "SetInUse", g_variant_new("(b)", TRUE));
        assert_res_state(h, path, "in-use");

        harness_fakekernel_log_clear(h);
        res_fails(h, path, "Prepare", NULL, E("InUse"), NULL);
        res_fails(h, path, "Unprepare", NULL, E("InUse"), NULL);
        res_fails(h, path, "Release", NULL, E("InUse"), NULL);
        assert_log_empty(h);
        assert_vfio(h, NIC);
        assert_res_state(h, path, "in-use");

        /* the owner (same uid) may still reset it */
        mgr_ok(h, "Reset", g_variant_new("(s)", NIC));
        assert_log(h, "reset 0000:02:00.0 \"1\" ok\n");
        g_assert_cmpint(reset_count(h, NIC), ==, 2);

        events_clear(&ev);
        res_ok(h, path, "SetInUse", g_variant_new("(b)", FALSE));
        assert_res_state(h, path, "prepared");
        assert_stored_state(h, "r1", "prepared");
        events_wait(&ev, "ReservationChanged r1 prepared");
        res_ok(h, path, "Unprepare", NULL);
        assert_host(h, NIC, "e1000e");
        assert_res_state(h, path, "reserved");
        events_done(&ev);
        harness_free(h);
}

/* ==== 2. failures and rollback ==== */

typedef struct FailCase {
        const char *fail;        /* FAKEKERNEL_FAIL */
        const char *addr;        /* the function (or group) the error must name */
        const char *step;        /* ... the step */
        const char *reason;      /* ... and the kernel's reason */
        gboolean mf1_driverless; /* 0b:00.1 has no driver before (and after) */
} FailCase;

static const FailCase fail_cases[] = {
        { "unbind@e1000e:" MF1 ":EBUSY", MF1, "unbind from e1000e", "Device or resource busy", FALSE },
        /* only the first override write of 0b:00.1 fails: clearing it works */
        { "override@vfio-pci:" MF1 ":ENODEV#1", MF1, "driver_override", "No such device", FALSE },
        { "reset:" MF0 ":EIO", MF0, "reset", "Input/output error", TRUE },
        /* drivers_probe succeeds but binds nothing; there is no errno to
         * show: sysfs-ops says "drivers_probe bound nothing (expected vfio-pci)" */
        { "probe-nothing:" MF1, MF1, "drivers_probe", "bound nothing", FALSE },
        /* the last step, verify: vfio does not make the group's node */
        { "no-vfio-node:22", "group 22", "/dev/vfio/22", "No such file or directory", FALSE },
};

static void test_prepare_rollback(gconstpointer data) {
        const FailCase *c = data;
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *msg = NULL;
        const char *mf1_driver = c->mf1_driverless ? "" : "e1000e";

        if (c->mf1_driverless)
                testbed_bind(h, MF1, "");
        harness_set_env(h, "FAKEKERNEL_FAIL", c->fail);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        assert_dev_prop(h, MF1, "HostDriver", mf1_driver);

        res_fails(h, path, "Prepare", NULL, E("OperationFailed"), &msg);
        note("Prepare failed as it should: %s", msg);
        assert_contains(msg, "r1");
        assert_contains(msg, c->addr);
        assert_contains(msg, c->step);
        assert_contains(msg, c->reason);

        /* all or nothing: every function on exactly the driver it had */
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, mf1_driver);
        g_assert_false(vfio_node(h, MF_GROUP));
        assert_res_state(h, path, "reserved");
        assert_stored_state(h, "r1", "reserved");
        assert_no_journal(h);
        assert_dev_prop(h, MF0, "Driver", "e1000e");
        assert_dev_prop(h, MF1, "Driver", mf1_driver);

        /* and the reservation is usable: without the fault it prepares */
        harness_stop_daemon(h);
        harness_unset_env(h, "FAKEKERNEL_FAIL");
        harness_start_daemon(h, no_args);
        res_ok(h, path, "Prepare", NULL);
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        assert_res_state(h, path, "prepared");
        res_ok(h, path, "Unprepare", NULL);
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, mf1_driver);
        harness_free(h);
}

/* Unprepare fails on the second function: the first is bound to vfio
 * again, the reservation stays prepared. */
static void test_unprepare_rollback(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *msg = NULL;

        harness_set_env(h, "FAKEKERNEL_FAIL", "unbind@vfio-pci:" MF1 ":EBUSY");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        res_ok(h, path, "Prepare", NULL);
        assert_mf_prepared(h, path);

        res_fails(h, path, "Unprepare", NULL, E("OperationFailed"), &msg);
        note("Unprepare failed as it should: %s", msg);
        assert_contains(msg, MF1);
        assert_contains(msg, "unbind from vfio-pci");
        assert_contains(msg, "Device or resource busy");
        /* "every function is back where it was": both on vfio-pci by
         * driver_override, as Prepare left them (0b:00.1's override was
         * cleared by the restore that then failed at the unbind) */
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        g_assert_true(vfio_node(h, MF_GROUP));
        assert_res_state(h, path, "prepared");
        assert_stored_state(h, "r1", "prepared");
        assert_no_journal(h);
        harness_free(h);
}

/* The rollback itself fails: degraded, with LastError; a later Prepare
 * (without the faults) brings it back. */
static void test_prepare_rollback_fails(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *msg = NULL, *last_error = NULL;

        /* 0b:00.1 cannot leave e1000e, and 0b:00.0 cannot leave vfio-pci */
        harness_set_env(h, "FAKEKERNEL_FAIL", "unbind@e1000e:" MF1 ":EBUSY,unbind@vfio-pci:" MF0 ":EBUSY");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        res_fails(h, path, "Prepare", NULL, E("OperationFailed"), &msg);
        note("Prepare: %s", msg);
        assert_contains(msg, MF1);
        assert_contains(msg, "unbind from e1000e");
        assert_contains(msg, MF0);      /* the function that could not be put back */
        assert_res_state(h, path, "degraded");
        assert_stored_state(h, "r1", "degraded");
        last_error = get_prop_s(h, path, RES_IFACE, "LastError");
        note("LastError: %s", last_error);
        g_assert_cmpstr(last_error, !=, "");
        assert_sys_driver(h, MF0, "vfio-pci");
        assert_host(h, MF1, "e1000e");
        {
                g_autofree gchar *st = state_text(h);
                note("state file after the failed rollback:\n%s", st);
        }

        /* Prepare is allowed from degraded */
        harness_stop_daemon(h);
        harness_unset_env(h, "FAKEKERNEL_FAIL");
        harness_start_daemon(h, no_args);
        res_ok(h, path, "Prepare", NULL);
        assert_mf_prepared(h, path);
        harness_free(h);
}

/* The reset in Unprepare is best effort. */
static void test_unprepare_reset_best_effort(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;

        /* the second reset of 0b:00.0: the one of Unprepare */
        harness_set_env(h, "FAKEKERNEL_FAIL", "reset:" MF0 ":EIO#2");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        res_ok(h, path, "Prepare", NULL);
        res_ok(h, path, "Unprepare", NULL);
        assert_mf_reserved(h, path);
        g_assert_cmpint(reset_count(h, MF0), ==, 1);
        g_assert_cmpint(reset_count(h, MF1), ==, 2);
        harness_free(h);
}

/* ==== 3. serialization ==== */

/* the function a fake kernel log line is about */
static gchar *log_line_addr(const char *line) {
        g_auto(GStrv) w = g_strsplit(line, " ", 4);
        const char *q;

        g_assert_cmpuint(g_strv_length(w), >=, 3);
        if (g_str_equal(w[0], "override") || g_str_equal(w[0], "reset"))
                return g_strdup(w[1]);
        /* unbind DRV "ADDR", bind DRV "ADDR", probe drivers_probe "ADDR" */
        q = w[2];
        g_assert_true(q[0] == '"');
        return g_strndup(q + 1, 12);
}

/* Each of the sets of addresses owns one contiguous block of the log. */
static void assert_log_blocks(Harness *h, const char *const *a, const char *const *b) {
        g_autofree gchar *log = harness_fakekernel_log(h);
        g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
        char prev = 0;
        guint switches = 0, na = 0, nb = 0;

        for (gchar **l = lines; *l && **l; l++) {
                g_autofree gchar *addr = log_line_addr(*l);
                char who = g_strv_contains(a, addr) ? 'a' : g_strv_contains(b, addr) ? 'b' : '?';

                if (who == '?')
                        g_error("a write to an unexpected function: %s\n%s", *l, log);
                if (who == 'a')
                        na++;
                else
                        nb++;
                if (prev && who != prev)
                        switches++;
                prev = who;
        }
        note("fake kernel log:\n%s", log);
        g_assert_cmpuint(na, >, 0);
        g_assert_cmpuint(nb, >, 0);
        if (switches != 1)
                g_error("the two jobs' writes are interleaved:\n%s", log);
}

static void test_serialized_two_reservations(void) {
        Harness *h = new_harness();
        g_autofree gchar *p1 = NULL, *p2 = NULL;
        g_autofree gchar *delay = g_strdup_printf("reset:%s:%u", NIC, delay_ms(1500));
        const char *const a[] = { NIC, NULL };
        Pending c1, c2;

        /* the first job is slow in its reset: a second job running
         * alongside would write in the middle of it */
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, no_args);
        p1 = reserve(h, "vm1", a, NULL);
        p2 = reserve(h, "vm2", mf_both, NULL);

        call_async(h, p1, RES_IFACE, "Prepare", NULL, &c1);
        call_async(h, p2, RES_IFACE, "Prepare", NULL, &c2);
        pending_wait(&c1, "Prepare r1");
        pending_wait(&c2, "Prepare r2");
        assert_ok(c1.error, "Prepare r1");
        assert_ok(c2.error, "Prepare r2");
        assert_log_blocks(h, a, mf_both);
        assert_vfio(h, NIC);
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        assert_res_state(h, p1, "prepared");
        assert_res_state(h, p2, "prepared");
        pending_clear(&c1);
        pending_clear(&c2);

        /* and the other way round, Unprepare racing Prepare */
        harness_fakekernel_log_clear(h);
        res_ok(h, p1, "Unprepare", NULL);
        harness_fakekernel_log_clear(h);
        call_async(h, p1, RES_IFACE, "Prepare", NULL, &c1);
        call_async(h, p2, RES_IFACE, "Unprepare", NULL, &c2);
        pending_wait(&c1, "Prepare r1");
        pending_wait(&c2, "Unprepare r2");
        assert_ok(c1.error, "Prepare r1");
        assert_ok(c2.error, "Unprepare r2");
        assert_log_blocks(h, a, mf_both);
        assert_vfio(h, NIC);
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        pending_clear(&c1);
        pending_clear(&c2);
        harness_free(h);
}

static void test_serialized_same_reservation(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *expected = NULL;
        g_autofree gchar *delay = g_strdup_printf("reset:%s:%u", MF0, delay_ms(1000));
        Pending c1, c2;

        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        call_async(h, path, RES_IFACE, "Prepare", NULL, &c1);
        call_async(h, path, RES_IFACE, "Prepare", NULL, &c2);
        pending_wait(&c1, "first Prepare");
        pending_wait(&c2, "second Prepare");
        if (c1.error || c2.error) {
                /* what it left behind, for the report */
                g_autofree gchar *state = res_state(h, path), *d0 = harness_sys_driver(h, MF0);
                g_autofree gchar *d1 = harness_sys_driver(h, MF1), *log = harness_fakekernel_log(h);
                g_autofree gchar *text = state_text(h);
                note("after the two Prepares: State %s, %s on \"%s\", %s on \"%s\"; fake kernel log:\n%s"
                     "state file:\n%s", state, MF0, d0, MF1, d1, log, text);
        }
        assert_ok(c1.error, "first Prepare");
        assert_ok(c2.error, "second Prepare");
        /* one whole Prepare, then the second (nothing left to bind: resets) */
        expected = g_strconcat(prepare_mf_log,
                               "reset 0000:0b:00.0 \"1\" ok\n"
                               "reset 0000:0b:00.1 \"1\" ok\n", NULL);
        assert_log(h, expected);
        assert_mf_prepared(h, path);
        pending_clear(&c1);
        pending_clear(&c2);
        harness_free(h);
}

/* ==== 4. queries stay fast while a job is slow ==== */

static void test_responsive_during_job(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *delay = NULL, *dev = NULL;
        Pending prep;

        delay = g_strdup_printf("reset:%s:%u", NIC, delay_ms(3000));
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", (const char *const[]) { NIC, NULL }, NULL);

        call_async(h, path, RES_IFACE, "Prepare", NULL, &prep);
        wait_delayed_write(h);  /* the job is inside its slow reset now */

        /* every query is answered while the reset still sleeps and before
         * the Prepare reply */
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) r = NULL;

                dev = device_path(h, NIC);
                g_assert_true(delayed_write_sleeping(h));
                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL,
                                 G_VARIANT_TYPE("(a(ssisso))"), &error);
                assert_ok(error, "ListDevices");
                g_assert_true(delayed_write_sleeping(h));
                g_clear_pointer(&r, g_variant_unref);
                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "Describe", NULL, G_VARIANT_TYPE("(s)"), &error);
                assert_ok(error, "Describe");
                g_assert_true(delayed_write_sleeping(h));
                g_clear_pointer(&r, g_variant_unref);
                r = harness_get_all(h, dev, DEV_IFACE);
                g_assert_true(delayed_write_sleeping(h));
                g_clear_pointer(&r, g_variant_unref);
                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                 g_variant_new("(^ass)", (const char *const[]) { NIC, MF0, NULL }, "vm2"),
                                 G_VARIANT_TYPE("(a(ssa(ss)))"), &error);
                assert_ok(error, "CheckAssignable");
                g_assert_true(delayed_write_sleeping(h));
        }
        events_drain();
        g_assert_false(prep.done);
        {
                /* the reset has not happened yet */
                g_autofree gchar *log = harness_fakekernel_log(h);
                g_assert_null(strstr(log, "reset 0000:02:00.0"));
        }

        pending_wait(&prep, "Prepare");
        assert_ok(prep.error, "Prepare");
        g_assert_false(delayed_write_sleeping(h));
        assert_vfio(h, NIC);
        g_assert_cmpint(reset_count(h, NIC), ==, 1);
        assert_res_state(h, path, "prepared");
        pending_clear(&prep);
        harness_free(h);
}

/* ==== 5. --job-timeout ==== */

/* An unbind from vfio-pci that blocks (a VMM holds the device): the
 * caller gets InUse after the timeout, the job goes on, and the state is
 * right when it ends. */
static void test_job_timeout_unbind(void) {
        Harness *h = new_harness();
        g_autofree gchar *arg = job_timeout_arg();
        const char *const args[] = { arg, NULL };
        g_autofree gchar *path = NULL, *delay = NULL;
        Events ev;
        Pending un;
        gint64 t0, elapsed;

        delay = g_strdup_printf("unbind@vfio-pci:%s:%u", NIC, delay_ms(6000));
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, args);
        events_init(&ev, h);
        path = reserve(h, "vm1", (const char *const[]) { NIC, NULL }, NULL);
        res_ok(h, path, "Prepare", NULL);       /* the unbind from e1000e is not slow */
        assert_vfio(h, NIC);
        events_clear(&ev);

        t0 = g_get_monotonic_time();
        call_async(h, path, RES_IFACE, "Unprepare", NULL, &un);
        pending_wait(&un, "Unprepare");
        elapsed = g_get_monotonic_time() - t0;
        /* the reply came while the unbind still blocked */
        g_assert_true(delayed_write_sleeping(h));
        assert_sys_driver(h, NIC, "vfio-pci");
        g_assert_false(events_has(&ev, "ReservationChanged r1 reserved"));
        assert_remote_error(un.error, E("InUse"));
        note("Unprepare after %" G_GINT64_FORMAT " ms: %s", elapsed / 1000, un.error->message);
        /* not before the timeout */
        g_assert_cmpint(elapsed, >=, (gint64) job_timeout_s() * G_USEC_PER_SEC - 100 * 1000);
        pending_clear(&un);

        /* when the unbind ends, the job finishes and says so */
        events_wait(&ev, "ReservationChanged r1 reserved");
        g_assert_false(delayed_write_sleeping(h));
        assert_host(h, NIC, "e1000e");
        g_assert_false(vfio_node(h, NIC_GROUP));
        assert_res_state(h, path, "reserved");
        assert_stored_state(h, "r1", "reserved");
        assert_no_journal(h);
        assert_dev_prop(h, NIC, "Driver", "e1000e");
        events_done(&ev);
        harness_free(h);
}

/* Anything else that is slow: OperationFailed "still running after N s",
 * and the state follows the job. */
static void test_job_timeout_reset(void) {
        Harness *h = new_harness();
        g_autofree gchar *arg = job_timeout_arg();
        g_autofree gchar *still = g_strdup_printf("still running after %u s", job_timeout_s());
        const char *const args[] = { arg, NULL };
        g_autofree gchar *path = NULL, *delay = NULL;
        Events ev;
        Pending prep;

        delay = g_strdup_printf("reset:%s:%u", NIC, delay_ms(6000));
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, args);
        events_init(&ev, h);
        path = reserve(h, "vm1", (const char *const[]) { NIC, NULL }, NULL);

        call_async(h, path, RES_IFACE, "Prepare", NULL, &prep);
        pending_wait(&prep, "Prepare");
        g_assert_true(delayed_write_sleeping(h));
        g_assert_false(events_has(&ev, "ReservationChanged r1 prepared"));
        assert_remote_error(prep.error, E("OperationFailed"));
        assert_contains(prep.error->message, still);
        /* and what it is doing */
        assert_contains(prep.error->message, "reset");
        assert_contains(prep.error->message, NIC);
        note("Prepare: %s", prep.error->message);
        pending_clear(&prep);

        events_wait(&ev, "ReservationChanged r1 prepared");
        assert_vfio(h, NIC);
        g_assert_true(vfio_node(h, NIC_GROUP));
        assert_res_state(h, path, "prepared");
        assert_stored_state(h, "r1", "prepared");
        assert_no_journal(h);
        events_done(&ev);
        harness_free(h);
}

/* ==== 6. crash at every journaled step ==== */

typedef struct CrashCase {
        const char *operation;  /* "prepare", "unprepare" */
        int step;
} CrashCase;

/* 2 functions: Prepare has steps 0..4, Unprepare 0..3 */
static const CrashCase crash_cases[] = {
        { "prepare", 0 }, { "prepare", 1 }, { "prepare", 2 }, { "prepare", 3 }, { "prepare", 4 },
        { "unprepare", 0 }, { "unprepare", 1 }, { "unprepare", 2 }, { "unprepare", 3 },
};

static void test_crash(gconstpointer data) {
        const CrashCase *c = data;
        const int n = 2;
        const char *const fn[] = { MF0, MF1 };
        gboolean prepare = g_str_equal(c->operation, "prepare");
        Harness *h = new_harness();
        g_autofree gchar *hook = g_strdup_printf("%s:%d", c->operation, c->step);
        g_autofree gchar *path = NULL;
        g_autoptr(GError) error = NULL;
        int status;

        harness_set_env(h, "PCI_ASSIGND_TEST_CRASH", hook);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        if (!prepare) {
                res_ok(h, path, "Prepare", NULL);
                assert_mf_prepared(h, path);
        }

        res_call(h, path, prepare ? "Prepare" : "Unprepare", NULL, &error);
        if (!error)
                g_error("the daemon did not die at %s (is the PCI_ASSIGND_TEST_CRASH hook built in?)", hook);
        status = harness_wait_daemon_exit(h, 30000);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                g_error("the daemon did not SIGKILL itself at %s (wait status 0x%x)", hook, status);

        /* it died right after journaling step K, before doing it */
        {
                json_object *r = stored_reservation(h, "r1"), *j, *v;

                g_assert_nonnull(r);
                if (!json_object_object_get_ex(r, "journal", &j) || !j)
                        g_error("no journal in the state file after a crash at %s:\n%s", hook, state_text(h));
                g_assert_true(json_object_object_get_ex(j, "operation", &v));
                g_assert_cmpstr(json_object_get_string(v), ==, c->operation);
                g_assert_true(json_object_object_get_ex(j, "step", &v));
                g_assert_cmpint(json_object_get_int(v), ==, c->step);
                g_assert_true(json_object_object_get_ex(j, "functions", &v));
                g_assert_cmpuint(json_object_array_length(v), ==, (size_t) n);
                json_object_put(r);
        }
        for (int i = 0; i < n; i++) {
                gboolean bound, reset;
                g_autofree gchar *drv = harness_sys_driver(h, fn[i]);

                if (prepare) {
                        /* steps i bind, n+i reset, 2n verify */
                        bound = i < c->step;
                        reset = n + i < c->step;
                        g_assert_cmpint(reset_count(h, fn[i]), ==, reset ? 1 : 0);
                } else {
                        /* steps i reset, n+i give back */
                        bound = !(n + i < c->step);
                        reset = i < c->step;
                        g_assert_cmpint(reset_count(h, fn[i]), ==, reset ? 2 : 1);
                }
                g_assert_cmpstr(drv, ==, bound ? "vfio-pci" : "e1000e");
        }

        /* the next start repairs it before READY */
        harness_unset_env(h, "PCI_ASSIGND_TEST_CRASH");
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        assert_mf_reserved(h, path);
        assert_dev_prop(h, MF0, "Reservation", path);

        /* and everything works as before */
        res_ok(h, path, "Prepare", NULL);
        assert_mf_prepared(h, path);
        res_ok(h, path, "Unprepare", NULL);
        assert_mf_reserved(h, path);
        harness_stop_daemon(h);
        harness_free(h);
}

/* A transient reservation (persistent=false) is released when its bus
 * connection goes away; a prepared one gives its functions back first,
 * as Release does. */
static void test_transient_release(void) {
        Harness *h = new_harness();
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) client = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *path = NULL;
        GVariantBuilder opts;
        Events ev;

        harness_start_daemon(h, no_args);
        events_init(&ev, h);
        client = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                                G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                        NULL, NULL, &error);
        assert_ok(error, "connecting");
        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        g_variant_builder_add(&opts, "{sv}", "persistent", g_variant_new_boolean(FALSE));
        r = g_dbus_connection_call_sync(client, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                        g_variant_new("(s@a(sb)a{sv})", "short-lived", harness_functions_v(mf_both, NULL),
                                                      &opts),
                                        G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", &path);
        g_clear_pointer(&r, g_variant_unref);
        r = g_dbus_connection_call_sync(client, BUS_NAME, path, RES_IFACE, "Prepare", NULL, NULL,
                                        G_DBUS_CALL_FLAGS_NONE, under_wrapper() ? 120000 : 25000, NULL, &error);
        assert_ok(error, "Prepare");
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);

        g_assert_true(g_dbus_connection_close_sync(client, NULL, &error));
        assert_ok(error, "closing");
        events_wait(&ev, "ReservationRemoved r1");
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        g_assert_false(vfio_node(h, MF_GROUP));
        assert_dev_prop(h, MF0, "Reservation", "/");
        assert_dev_prop(h, MF0, "Driver", "e1000e");
        events_done(&ev);
        harness_free(h);
}

/* ==== 7. boot: a prepared reservation whose functions are on the host driver ==== */

static const char *const stored_prepared =
        "{ \"format\": 1, \"next_id\": 3, \"reservations\": [\n"
        " { \"id\": \"r1\", \"owner\": \"vm1\", \"owner_uid\": 0, \"persistent\": true, \"driver\": \"vfio-pci\","
        "   \"state\": \"prepared\", \"created_usec\": 1700000000000000, \"last_error\": null, \"functions\": [\n"
        "   { \"address\": \"0000:0b:00.0\", \"assigned\": true, \"host_driver\": \"e1000e\","
        "     \"vendor_id\": 32902, \"device_id\": 4307 },\n"
        "   { \"address\": \"0000:0b:00.1\", \"assigned\": false, \"host_driver\": \"e1000e\","
        "     \"vendor_id\": 32902, \"device_id\": 4307 } ] },\n"
        " { \"id\": \"r2\", \"owner\": \"vm2\", \"owner_uid\": 0, \"persistent\": true, \"driver\": \"vfio-pci\","
        "   \"state\": \"in-use\", \"created_usec\": 1700000000000001, \"last_error\": null, \"functions\": [\n"
        "   { \"address\": \"0000:02:00.0\", \"assigned\": true, \"host_driver\": \"e1000e\","
        "     \"vendor_id\": 32902, \"device_id\": 4307 } ] } ] }\n";

static void test_boot_reprepare(void) {
        Harness *h = new_harness();
        const char *p1 = "/org/pciassign1/reservation/r1", *p2 = "/org/pciassign1/reservation/r2";

        write_state(h, stored_prepared);
        assert_host(h, MF0, "e1000e");
        assert_host(h, NIC, "e1000e");
        harness_start_daemon(h, no_args);
        /* bound again before READY */
        assert_mf_prepared(h, p1);
        assert_vfio(h, NIC);
        g_assert_true(vfio_node(h, NIC_GROUP));
        assert_res_state(h, p2, "in-use");
        assert_stored_state(h, "r2", "in-use");
        assert_dev_prop(h, MF0, "HostDriver", "e1000e");

        /* and given back to e1000e, which the fake kernel never saw bound
         * before (it learnt it from the unbind) */
        res_ok(h, p1, "Unprepare", NULL);
        assert_mf_reserved(h, p1);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== 8. Detach / Reattach / Reset ==== */

static void test_detach_reattach(void) {
        Harness *h = new_harness();
        g_autofree gchar *msg = NULL;

        harness_start_daemon(h, no_args);

        /* refused before anything is written */
        mgr_fails(h, "Detach", g_variant_new("(ss)", "0000:02:00", ""), E("InvalidAddress"), NULL);
        mgr_fails(h, "Detach", g_variant_new("(ss)", "0000:42:00.0", ""), E("NoSuchDevice"), NULL);
        mgr_fails(h, "Detach", g_variant_new("(ss)", ROOT_PORT, ""), E("NotAssignable"), NULL);
        mgr_fails(h, "Detach", g_variant_new("(ss)", "0000:00:00.0", ""), E("NotAssignable"), NULL);
        mgr_fails(h, "Reattach", g_variant_new("(s)", "0000:02:00.0/../x"), E("InvalidAddress"), NULL);
        mgr_fails(h, "Reset", g_variant_new("(s)", "0000:42:00.0"), E("NoSuchDevice"), NULL);
        /* on its host driver: no reset */
        mgr_fails(h, "Reset", g_variant_new("(s)", NIC), E("InUse"), &msg);
        assert_contains(msg, "bound to host driver e1000e");
        assert_log_empty(h);
        assert_host(h, ROOT_PORT, "pcieport");

        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        assert_vfio(h, NIC);
        g_assert_cmpint(reset_count(h, NIC), ==, 1);
        g_assert_true(vfio_node(h, NIC_GROUP));
        assert_dev_prop(h, NIC, "Driver", "vfio-pci");
        assert_dev_prop(h, NIC, "HostDriver", "e1000e");
        assert_dev_prop(h, NIC, "Reservation", "/");

        /* detached: Reset is allowed */
        harness_fakekernel_log_clear(h);
        mgr_ok(h, "Reset", g_variant_new("(s)", NIC));
        assert_log(h, "reset 0000:02:00.0 \"1\" ok\n");
        g_assert_cmpint(reset_count(h, NIC), ==, 2);

        /* the host driver is remembered across a restart */
        harness_stop_daemon(h);
        harness_start_daemon(h, no_args);
        assert_vfio(h, NIC);
        assert_dev_prop(h, NIC, "HostDriver", "e1000e");
        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC));
        assert_host(h, NIC, "e1000e");
        g_assert_false(vfio_node(h, NIC_GROUP));
        assert_dev_prop(h, NIC, "Driver", "e1000e");

        /* the driver named explicitly */
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC2, "vfio-pci"));
        assert_vfio(h, NIC2);
        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC2));
        assert_host(h, NIC2, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* The host's root disk and default-route NIC (see test-reservations'
 * in-use-by-host) cannot be detached. */
static void test_detach_in_use_by_host(void) {
        Harness *h = new_harness();
        g_autofree gchar *procdir = g_build_filename(h->tmpdir, "proc", NULL);
        g_autofree gchar *mi = g_build_filename(procdir, "mountinfo", NULL);
        g_autofree gchar *rt = g_build_filename(procdir, "route", NULL);
        g_autofree gchar *msg = NULL;

        harness_add_devices(h,
                "P: /devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda\n"
                "E: SUBSYSTEM=block\nE: DEVTYPE=disk\nE: DEVNAME=/dev/sda\nA: dev=8:0\n\n"
                "P: /devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda/sda1\n"
                "E: SUBSYSTEM=block\nE: DEVTYPE=partition\nE: DEVNAME=/dev/sda1\nA: dev=8:1\nA: partition=1\n\n"
                "P: /devices/pci0000:00/0000:00:02.0/net/enp0s2\n"
                "E: SUBSYSTEM=net\nE: INTERFACE=enp0s2\nA: address=52:54:00:00:00:02\n"
                "L: device=../../../0000:00:02.0\n");
        g_assert_cmpint(g_mkdir(procdir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(mi,
                "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                "23 22 0:21 / /proc rw,nosuid - proc proc rw\n", -1, NULL));
        g_assert_true(g_file_set_contents(rt,
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                "enp0s2\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", -1, NULL));
        harness_set_env(h, "PCI_ASSIGND_PROC_DIR", procdir);
        harness_start_daemon(h, no_args);

        mgr_fails(h, "Detach", g_variant_new("(ss)", "0000:00:02.0", ""), E("NotAssignable"), &msg);
        assert_contains(msg, "enp0s2");
        g_clear_pointer(&msg, g_free);
        mgr_fails(h, "Detach", g_variant_new("(ss)", "0000:00:1f.2", ""), E("NotAssignable"), &msg);
        assert_log_empty(h);
        assert_host(h, "0000:00:02.0", "e1000e");
        assert_host(h, "0000:00:1f.2", "ahci");
        harness_free(h);
}

/* A reset of an SR-IOV PF resets its VFs (an FLR of a PF resets every
 * VF): refused with UnsafeReset naming the VFs while one of them is on a
 * vfio driver outside the caller's reservation (a guest may hold it) or
 * on a host driver; with its VFs idle the reset goes ahead.  Detach of a
 * PF with VFs is refused by its verdict (sriov-pf-with-vfs is an error:
 * vfio-pci does not bind such a PF). */
static void test_reset_pf_with_vfs(void) {
        Harness *h = new_harness();
        g_autofree gchar *msg = NULL;

        /* the nvme PF and VF 1 on vfio-pci before the daemon starts (an
         * admin, vfio-pci's enable_sriov) */
        testbed_bind(h, SRIOV_PF, "vfio-pci");
        testbed_bind(h, SRIOV_VF1, "vfio-pci");
        harness_start_daemon(h, no_args);
        assert_dev_prop(h, SRIOV_PF, "Driver", "vfio-pci");

        mgr_fails(h, "Reset", g_variant_new("(s)", SRIOV_PF), E("UnsafeReset"), &msg);
        note("Reset: %s", msg);
        assert_contains(msg, "would also reset its VFs " SRIOV_VF1 " (VF on vfio-pci)");
        g_assert_null(strstr(msg, SRIOV_VF2));
        assert_log_empty(h);
        g_assert_cmpint(reset_count(h, SRIOV_PF), ==, 0);
        harness_stop_daemon(h);

        /* VF 1 back to no driver: nothing else is hit */
        testbed_bind(h, SRIOV_VF1, "");
        harness_start_daemon(h, no_args);
        mgr_ok(h, "Reset", g_variant_new("(s)", SRIOV_PF));
        g_assert_cmpint(reset_count(h, SRIOV_PF), ==, 1);
        harness_stop_daemon(h);

        /* on its host driver, Detach is refused by the verdict */
        testbed_bind(h, SRIOV_PF, "nvme");
        harness_start_daemon(h, no_args);
        g_clear_pointer(&msg, g_free);
        mgr_fails(h, "Detach", g_variant_new("(ss)", SRIOV_PF, ""), E("NotAssignable"), &msg);
        assert_contains(msg, "has 2 SR-IOV VFs enabled");
        assert_sys_driver(h, SRIOV_PF, "nvme");
        harness_free(h);
}

/* A function whose only reset method is a bus reset, with a neighbour
 * on the same bus still on its host driver: UnsafeReset, naming it. */
static void test_reset_unsafe(void) {
        Harness *h = new_harness();
        g_autofree gchar *methods = NULL, *msg = NULL;

        methods = harness_sys_read(h, BUS_ONLY, "reset_method");
        g_assert_cmpstr(methods, ==, "bus\n");
        /* already detached (by someone, before the daemon started) */
        testbed_bind(h, BUS_ONLY, "vfio-pci");
        harness_start_daemon(h, no_args);
        assert_dev_prop(h, BUS_ONLY, "Driver", "vfio-pci");

        mgr_fails(h, "Reset", g_variant_new("(s)", BUS_ONLY), E("UnsafeReset"), &msg);
        note("Reset: %s", msg);
        assert_contains(msg, NEIGHBOUR);
        assert_log_empty(h);
        g_assert_cmpint(reset_count(h, BUS_ONLY), ==, 0);
        assert_sys_driver(h, NEIGHBOUR, "e1000");

        /* a function with its own reset (pm) is reset */
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC3, ""));
        g_assert_cmpint(reset_count(h, NIC3), ==, 1);
        mgr_ok(h, "Reset", g_variant_new("(s)", NIC3));
        g_assert_cmpint(reset_count(h, NIC3), ==, 2);
        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC3));
        assert_host(h, NIC3, "e1000e");
        harness_free(h);
}

/* Functions reserved by another uid: Detach and Reattach are refused,
 * and so is a Reset while that reservation is in use. */
static const char *const stored_other_uid_in_use =
        "{ \"format\": 1, \"next_id\": 2, \"reservations\": [\n"
        " { \"id\": \"r1\", \"owner\": \"someone-elses-vm\", \"owner_uid\": 1000, \"persistent\": true,"
        "   \"driver\": \"vfio-pci\", \"state\": \"in-use\", \"created_usec\": 1700000000000000,"
        "   \"last_error\": null, \"functions\": [\n"
        "   { \"address\": \"0000:00:03.0\", \"assigned\": true, \"host_driver\": \"e1000e\","
        "     \"vendor_id\": 32902, \"device_id\": 4307 } ] } ] }\n";

static void test_reserved_by_other(void) {
        Harness *h = new_harness();
        g_autofree gchar *msg = NULL;

        write_state(h, stored_other_uid_in_use);
        harness_start_daemon(h, no_args);
        assert_vfio(h, NIC2);   /* bound again at start */
        harness_fakekernel_log_clear(h);

        mgr_fails(h, "Reset", g_variant_new("(s)", NIC2), E("InUse"), &msg);
        note("Reset: %s", msg);
        mgr_fails(h, "Reattach", g_variant_new("(s)", NIC2), E("AlreadyReserved"), NULL);
        mgr_fails(h, "Detach", g_variant_new("(ss)", NIC2, ""), E("AlreadyReserved"), NULL);
        assert_log_empty(h);
        assert_vfio(h, NIC2);
        assert_res_state(h, "/org/pciassign1/reservation/r1", "in-use");
        harness_free(h);
}

/* ==== 9. pci-assignctl ==== */

static void ctl_ok(Harness *h, const char *const *argv) {
        g_autofree gchar *out = NULL, *err = NULL;
        int r = harness_run_ctl(h, argv, &out, &err);

        if (r != 0)
                g_error("pci-assignctl %s: exit %d: %s%s", argv[0], r, out, err);
}

static void ctl_fails(Harness *h, const char *const *argv, const char *error_name) {
        g_autofree gchar *out = NULL, *err = NULL;
        int r = harness_run_ctl(h, argv, &out, &err);
        const char *nl;

        if (r != 1)
                g_error("pci-assignctl %s: exit %d (expected 1): %s%s", argv[0], r, out, err);
        assert_contains(err, error_name);
        /* one line */
        nl = strchr(err, '\n');
        g_assert_nonnull(nl);
        g_assert_cmpstr(nl + 1, ==, "");
}

static void test_ctl(void) {
        Harness *h = new_harness();
        const char *path = "/org/pciassign1/reservation/r1";
        g_autofree gchar *p = NULL;

        harness_start_daemon(h, no_args);
        p = reserve(h, "vm1", mf_both, NULL);
        g_assert_cmpstr(p, ==, path);

        ctl_fails(h, (const char *const[]) { "set-in-use", "r1", "yes", NULL }, E("InUse"));
        ctl_ok(h, (const char *const[]) { "prepare", "r1", NULL });
        assert_mf_prepared(h, path);
        ctl_ok(h, (const char *const[]) { "set-in-use", "r1", "yes", NULL });
        assert_res_state(h, path, "in-use");
        ctl_fails(h, (const char *const[]) { "unprepare", "r1", NULL }, E("InUse"));
        ctl_fails(h, (const char *const[]) { "release", "r1", NULL }, E("InUse"));
        ctl_ok(h, (const char *const[]) { "set-in-use", "r1", "no", NULL });
        assert_res_state(h, path, "prepared");
        ctl_ok(h, (const char *const[]) { "unprepare", "r1", NULL });
        assert_mf_reserved(h, path);
        ctl_fails(h, (const char *const[]) { "prepare", "r9", NULL }, E("NoSuchReservation"));

        ctl_fails(h, (const char *const[]) { "reset", NIC, NULL }, E("InUse"));
        ctl_ok(h, (const char *const[]) { "detach", NIC, NULL });
        assert_vfio(h, NIC);
        ctl_ok(h, (const char *const[]) { "reset", NIC, NULL });
        g_assert_cmpint(reset_count(h, NIC), ==, 2);
        ctl_ok(h, (const char *const[]) { "reattach", NIC, NULL });
        assert_host(h, NIC, "e1000e");
        ctl_ok(h, (const char *const[]) { "detach", NIC2, "--driver", "vfio-pci", NULL });
        assert_vfio(h, NIC2);
        ctl_ok(h, (const char *const[]) { "reattach", NIC2, NULL });
        assert_host(h, NIC2, "e1000e");
        ctl_fails(h, (const char *const[]) { "detach", ROOT_PORT, NULL }, E("NotAssignable"));
        ctl_fails(h, (const char *const[]) { "detach", "0000:42:00.0", NULL }, E("NoSuchDevice"));
        ctl_fails(h, (const char *const[]) { "reattach", MF0, NULL }, E("AlreadyReserved"));

        ctl_ok(h, (const char *const[]) { "prepare", "r1", NULL });
        ctl_ok(h, (const char *const[]) { "release", "r1", NULL });
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        ctl_fails(h, (const char *const[]) { "release", "r1", NULL }, E("NoSuchReservation"));
        harness_free(h);
}

/* ==== 10. read-only ==== */

static void test_read_only(void) {
        Harness *h = new_harness();
        const char *const args[] = { "--read-only", NULL };
        const char *path = "/org/pciassign1/reservation/r1";
        g_autofree gchar *before = NULL, *after = NULL;
        g_autofree gchar *runtime_files = NULL;

        /* a "prepared" reservation whose functions are on e1000e: a
         * read-write daemon would bind them at start */
        write_state(h, stored_prepared);
        before = state_text(h);
        harness_start_daemon(h, args);
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");

        res_fails(h, path, "Prepare", NULL, E("ReadOnly"), NULL);
        res_fails(h, path, "Unprepare", NULL, E("ReadOnly"), NULL);
        res_fails(h, path, "SetInUse", g_variant_new("(b)", TRUE), E("ReadOnly"), NULL);
        res_fails(h, path, "Release", NULL, E("ReadOnly"), NULL);
        mgr_fails(h, "Detach", g_variant_new("(ss)", NIC2, ""), E("ReadOnly"), NULL);
        mgr_fails(h, "Reattach", g_variant_new("(s)", NIC2), E("ReadOnly"), NULL);
        mgr_fails(h, "Reset", g_variant_new("(s)", NIC2), E("ReadOnly"), NULL);
        ctl_fails(h, (const char *const[]) { "detach", NIC2, NULL }, E("ReadOnly"));
        ctl_fails(h, (const char *const[]) { "prepare", "r1", NULL }, E("ReadOnly"));
        harness_stop_daemon(h);

        /* nothing written: not the testbed, not the state, not the runtime dir */
        assert_log_empty(h);
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");
        assert_host(h, NIC, "e1000e");
        assert_host(h, NIC2, "e1000e");
        g_assert_false(vfio_node(h, MF_GROUP));
        after = state_text(h);
        g_assert_cmpstr(after, ==, before);
        {
                g_autoptr(GDir) d = g_dir_open(h->runtime_dir, 0, NULL);
                const char *name;
                GString *names = g_string_new(NULL);

                g_assert_nonnull(d);
                while ((name = g_dir_read_name(d)))
                        g_string_append_printf(names, "%s ", name);
                runtime_files = g_string_free(names, FALSE);
                note("runtime dir: %s", runtime_files);
        }
        harness_free(h);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        ADD("/rebind/prepare-unprepare", test_prepare_unprepare);
        ADD("/rebind/prepare/bridge-group", test_prepare_bridge_group);
        ADD("/rebind/prepare/reset-enotty-is-a-warning", test_prepare_reset_enotty);
        ADD("/rebind/set-in-use", test_set_in_use);
        for (size_t i = 0; i < G_N_ELEMENTS(fail_cases); i++) {
                g_autofree gchar *name = g_strdup_printf("/rebind/rollback/prepare/%zu-%s", i, fail_cases[i].fail);
                /* readable GTest paths */
                g_strdelimit(name + strlen("/rebind/rollback/prepare/"), ":@#", '-');
                add_case(name, test_prepare_rollback, &fail_cases[i]);
        }
        ADD("/rebind/rollback/unprepare", test_unprepare_rollback);
        ADD("/rebind/rollback/fails-degraded", test_prepare_rollback_fails);
        ADD("/rebind/unprepare/reset-best-effort", test_unprepare_reset_best_effort);
        ADD("/rebind/transient-release-gives-back", test_transient_release);
        ADD("/rebind/serialized/two-reservations", test_serialized_two_reservations);
        ADD("/rebind/serialized/same-reservation", test_serialized_same_reservation);
        ADD("/rebind/responsive-during-job", test_responsive_during_job);
        ADD("/rebind/job-timeout/unbind-in-use", test_job_timeout_unbind);
        ADD("/rebind/job-timeout/slow-reset", test_job_timeout_reset);
        for (size_t i = 0; i < G_N_ELEMENTS(crash_cases); i++) {
                g_autofree gchar *name = g_strdup_printf("/rebind/crash/%s/%d", crash_cases[i].operation,
                                                         crash_cases[i].step);
                add_case(name, test_crash, &crash_cases[i]);
        }
        ADD("/rebind/boot-reprepare", test_boot_reprepare);
        ADD("/rebind/detach-reattach-reset", test_detach_reattach);
        ADD("/rebind/detach-in-use-by-host", test_detach_in_use_by_host);
        ADD("/rebind/reset-unsafe", test_reset_unsafe);
        ADD("/rebind/reset-pf-with-vfs", test_reset_pf_with_vfs);
        ADD("/rebind/reserved-by-other", test_reserved_by_other);
        ADD("/rebind/ctl", test_ctl);
        ADD("/rebind/read-only", test_read_only);
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
