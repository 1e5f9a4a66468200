/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sd_notify STATUS= kept current (issue 12): the daemon runs with
 * NOTIFY_SOCKET at a datagram socket of the harness, which reads every
 * message it sends.  After READY, each change of what the line counts
 * (reservations by state, jobs running and queued, functions and groups)
 * is one new STATUS=, and a burst of changes (101 calls, 9 uevents)
 * handled in one go is one update, not one per change.  The testbed is the
 * recorded q35 VM with the fake kernel (tests/fakekernel) for Prepare.
 *
 * Runs as root (uid 0): polkit is not asked. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <umockdev.h>
#include <unistd.h>

#include "rebind-util.h"

#define TESTBED "testbeds/q35-vm.umockdev"
#define FREE_FN "0000:00:02.0"  /* e1000e on the root bus, alone in group 1 */

/* ---- the notify socket ---- */

/* The STATUS= text of datagram i, or NULL if it has none. */
static const char *status_of(Harness *h, guint i) {
        const char *m = h->notify_messages->pdata[i], *s;

        if (g_str_has_prefix(m, "STATUS="))
                s = m;
        else if ((s = strstr(m, "\nSTATUS=")))
                s++;
        else
                return NULL;
        return s + strlen("STATUS=");
}

/* Up to the end of the line (STATUS= may be followed by other fields) */
static gchar *status_text(Harness *h, guint i) {
        const char *s = status_of(h, i);

        return s ? g_strndup(s, strcspn(s, "\n")) : NULL;
}

static GPtrArray *statuses_since(Harness *h, guint from) {
        GPtrArray *v = g_ptr_array_new_with_free_func(g_free);

        harness_notify_drain(h);
        for (guint i = from; i < h->notify_messages->len; i++) {
                gchar *s = status_text(h, i);
                if (s)
                        g_ptr_array_add(v, s);
        }
        return v;
}

static gchar *joined(GPtrArray *v) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < v->len; i++)
                g_string_append_printf(s, "\n    \"%s\"", (const char *) v->pdata[i]);
        return g_string_free(s, FALSE);
}

/* Waits for STATUS=expected in the datagrams from *from on; with strict,
 * it must be the first STATUS= there (nothing else was announced before
 * it).  *from: past it. */
static void wait_status(Harness *h, guint *from, const char *expected, gboolean strict) {
        gint64 deadline = g_get_monotonic_time() + (under_wrapper() ? 120 : 30) * G_USEC_PER_SEC;

        for (;;) {
                harness_notify_drain(h);
                for (guint i = *from; i < h->notify_messages->len; i++) {
                        g_autofree gchar *s = status_text(h, i);

                        if (!s)
                                continue;
                        if (g_str_equal(s, expected)) {
                                note("STATUS=%s", s);
                                *from = i + 1;
                                return;
                        }
                        if (strict)
                                g_error("expected STATUS=\"%s\", got \"%s\" first", expected, s);
                }
                if (g_get_monotonic_time() > deadline) {
                        g_autoptr(GPtrArray) v = statuses_since(h, *from);
                        g_autofree gchar *j = joined(v);
                        g_error("no STATUS=\"%s\"; since then:%s", expected, j);
                }
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(2000);
        }
}

/* Nothing was announced since *from (after a round trip to the daemon,
 * and a moment for a datagram on its way). */
static void assert_no_status(Harness *h, guint from) {
        g_autoptr(GVariant) r = NULL;
        g_autoptr(GPtrArray) v = NULL;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL, NULL, NULL);
        g_usleep(200 * 1000);
        v = statuses_since(h, from);
        if (v->len > 0) {
                g_autofree gchar *j = joined(v);
                g_error("unexpected STATUS=:%s", j);
        }
}

/* Every STATUS= from datagram `from` on differs from the one before it. */
static void assert_no_repeats(Harness *h, guint from) {
        g_autoptr(GPtrArray) v = statuses_since(h, from);

        for (guint i = 1; i < v->len; i++)
                if (g_str_equal(v->pdata[i], v->pdata[i - 1]))
                        g_error("STATUS=\"%s\" sent twice in a row", (const char *) v->pdata[i]);
}

/* The READY=1 datagram carries the first STATUS=: "N PCI functions, G
 * IOMMU groups, 0 reservations" for the testbed as ListDevices shows it;
 * returns the index after it, and N and G. */
static guint check_ready(Harness *h, guint *ret_n, guint *ret_g) {
        g_autoptr(GVariant) r = NULL, a = NULL;
        g_autofree gchar *expected = NULL;
        guint n, g;

        harness_notify_drain(h);
        for (guint i = 0; i < h->notify_messages->len; i++) {
                const char *m = h->notify_messages->pdata[i];
                g_autofree gchar *s = NULL;

                if (!strstr(m, "READY=1"))
                        continue;
                s = status_text(h, i);
                g_assert_nonnull(s);
                r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL, G_VARIANT_TYPE("(a(ssisso))"),
                                 NULL);
                g_assert_nonnull(r);
                a = g_variant_get_child_value(r, 0);
                g_assert_cmpint(sscanf(s, "%u PCI functions, %u IOMMU groups,", &n, &g), ==, 2);
                g_assert_cmpuint(n, ==, g_variant_n_children(a));
                g_assert_cmpuint(g, >, 0);
                expected = g_strdup_printf("%u PCI functions, %u IOMMU groups, 0 reservations", n, g);
                g_assert_cmpstr(s, ==, expected);
                note("READY=1 with STATUS=%s", s);
                *ret_n = n;
                *ret_g = g;
                return i + 1;
        }
        g_error("no READY=1 in %s", h->notify_log->str);
}

static gchar *status_line(guint n, guint g, const char *rest) {
        return g_strdup_printf("%u PCI functions, %u IOMMU groups, %s", n, g, rest);
}

/* ---- reservations and jobs ---- */

static void test_reservations_and_jobs(void) {
        Harness *h = new_harness();
        g_autofree gchar *delay = g_strdup_printf("reset:%s:%u", NIC, delay_ms(1500));
        g_autofree gchar *p1 = NULL, *p2 = NULL;
        const char *const nic[] = { NIC, NULL }, *const mf[] = { MF0, MF1, NULL };
        Pending c1, c2;
        guint from, ready, n, g;

        /* Prepare and Unprepare of r1 are slow in the reset of NIC: the
         * job is seen running, and r2's queued behind it */
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", delay);
        harness_start_daemon(h, no_args);
        from = ready = check_ready(h, &n, &g);
#define ST(rest)                                                       \
        ({                                                             \
                g_autofree gchar *_s = status_line(n, g, (rest));       \
                wait_status(h, &from, _s, TRUE);                       \
        })

        p1 = reserve(h, "vm1", nic, NULL);
        ST("1 reservation (1 reserved)");

        call_async(h, p1, RES_IFACE, "Prepare", NULL, &c1);
        ST("1 reservation (1 reserved), 1 job running");
        wait_delayed_write(h);
        p2 = reserve(h, "vm2", mf, NULL);
        ST("2 reservations (2 reserved), 1 job running");
        call_async(h, p2, RES_IFACE, "Prepare", NULL, &c2);
        ST("2 reservations (2 reserved), 1 job running, 1 queued");
        pending_wait(&c1, "Prepare r1");
        pending_wait(&c2, "Prepare r2");
        assert_ok(c1.error, "Prepare r1");
        assert_ok(c2.error, "Prepare r2");
        pending_clear(&c1);
        pending_clear(&c2);
        {
                /* r1's end and then r2's: in between, r2 running */
                g_autofree gchar *s = status_line(n, g, "2 reservations (2 prepared)");
                wait_status(h, &from, s, FALSE);
        }
        assert_res_state(h, p1, "prepared");
        assert_res_state(h, p2, "prepared");

        res_ok(h, p2, "SetInUse", g_variant_new("(b)", TRUE));
        ST("2 reservations (1 prepared, 1 in-use)");

        /* Release of a prepared one: a job gives it back, then it goes */
        call_async(h, p1, RES_IFACE, "Release", NULL, &c1);
        ST("2 reservations (1 prepared, 1 in-use), 1 job running");
        pending_wait(&c1, "Release r1");
        assert_ok(c1.error, "Release r1");
        pending_clear(&c1);
        ST("1 reservation (1 in-use)");

        res_ok(h, p2, "SetInUse", g_variant_new("(b)", FALSE));
        ST("1 reservation (1 prepared)");
        res_ok(h, p2, "Unprepare", NULL);
        ST("1 reservation (1 prepared), 1 job running");
        ST("1 reservation (1 reserved)");
        res_ok(h, p2, "Release", NULL);
        ST("0 reservations");
        assert_no_status(h, from);
        assert_no_repeats(h, ready - 1);
#undef ST
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- hotplug ---- */

static gchar *tb_syspath(Harness *h, const char *addr) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s", addr);
        g_autofree gchar *link = harness_sys_path(h, rel);
        g_autofree gchar *target = g_file_read_link(link, NULL);
        const char *dev;

        if (!target)
                g_error("%s is not in the testbed", addr);
        dev = strstr(target, "/devices/");
        g_assert_nonnull(dev);
        return g_strconcat("/sys", dev, NULL);
}

/* The function's paragraph of the recorded testbed, without a driver (a
 * function comes without one, and the driver's links stay behind when it
 * goes) */
static gchar *unbound_record(const char *addr) {
        g_autofree gchar *file = harness_data_path(TESTBED), *text = NULL;
        g_autofree gchar *first = g_strdup_printf("/%s\n", addr);
        g_auto(GStrv) paras = NULL;

        g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
        paras = g_strsplit(text, "\n\n", -1);
        for (gchar **p = paras; *p; p++) {
                const char *nl = strchr(*p, '\n');
                g_autofree gchar *head = nl ? g_strndup(*p, (gsize) (nl - *p + 1)) : NULL;
                g_auto(GStrv) lines = NULL;
                GString *out;

                if (!head || !g_str_has_prefix(head, "P: ") || !g_str_has_suffix(head, first))
                        continue;
                out = g_string_new(NULL);
                lines = g_strsplit(*p, "\n", -1);
                for (gchar **l = lines; *l; l++)
                        if (**l && !g_str_has_prefix(*l, "E: DRIVER=") && !g_str_has_prefix(*l, "L: driver=") &&
                            !strstr(*l, "bus/pci/drivers/"))
                                g_string_append_printf(out, "%s\n", *l);
                g_string_append_c(out, '\n');
                return g_string_free(out, FALSE);
        }
        g_error("no %s in %s", addr, file);
}

/* The kernel's order: the remove event is made while the device is
 * there, and the directory and its group link are gone when the daemon
 * reads it. */
static void hot_remove(Harness *h, const char *addr) {
        g_autofree gchar *syspath = tb_syspath(h, addr);
        g_autofree gchar *glink = g_build_filename(h->testbed_dir, syspath, "iommu_group", NULL);
        g_autofree gchar *group = g_file_read_link(glink, NULL);
        g_autofree gchar *gname = group ? g_path_get_basename(group) : NULL;
        HarnessUevent *ev = harness_uevent_new(h, syspath, "remove");

        umockdev_testbed_remove_device(h->testbed, syspath);
        if (gname) {
                g_autofree gchar *rel = g_strdup_printf("kernel/iommu_groups/%s", gname);
                g_autofree gchar *gdir = harness_sys_path(h, rel);
                g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", gdir);

                g_assert_cmpint(system(cmd), ==, 0);  /* one member: the group goes */
        }
        g_assert_cmpuint(harness_uevent_send(h, ev), ==, 1);
}

static void hot_add(Harness *h, const char *addr, const char *syspath) {
        g_autofree gchar *record = unbound_record(addr);

        harness_add_devices(h, record);
        g_assert_cmpuint(harness_uevent(h, syspath, "add"), ==, 1);
}

static void test_hotplug(void) {
        Harness *h = harness_new(TESTBED);
        g_autofree gchar *nic3 = NULL, *s0 = NULL, *s1 = NULL;
        g_autoptr(GPtrArray) v = NULL;
        guint from, ready, n, g, burst = 0;

        harness_start_daemon(h, no_args);
        from = ready = check_ready(h, &n, &g);
        nic3 = tb_syspath(h, NIC3);
        s0 = status_line(n, g, "0 reservations");
        s1 = status_line(n - 1, g - 1, "0 reservations");

        /* NIC3 alone in its group: one function and one group fewer */
        hot_remove(h, NIC3);
        wait_status(h, &from, s1, TRUE);
        hot_add(h, NIC3, nic3);
        wait_status(h, &from, s0, TRUE);
        assert_no_status(h, from);

        /* A burst while the daemon is stopped (9 datagrams: the monitor's
         * queue holds 10): NIC3 goes and comes 4 times, then FREE_FN goes.
         * All are read in one go: one STATUS=, of the end */
        g_assert_cmpint(kill(h->pid, SIGSTOP), ==, 0);
        for (guint i = 0; i < 4; i++, burst += 2) {
                hot_remove(h, NIC3);
                hot_add(h, NIC3, nic3);
        }
        hot_remove(h, FREE_FN);
        burst++;
        g_assert_cmpint(kill(h->pid, SIGCONT), ==, 0);
        wait_status(h, &from, s1, TRUE);
        assert_no_status(h, from);
        v = statuses_since(h, ready);
        g_printerr("# status: a burst of %u uevents gave 1 STATUS= (%u in all after READY)\n", burst, v->len);
        assert_no_repeats(h, ready - 1);
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- a burst of calls ---- */

static void on_burst_reply(GObject *source, GAsyncResult *result, gpointer user_data) {
        guint *left = user_data;
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &error);

        assert_ok(error, "a call of the burst");
        (*left)--;
}

/* 101 calls queued while the daemon is stopped: Reserve and Release of
 * NIC in turn (r1 to r50), then one more Reserve.  Handled in one go:
 * one STATUS=, of the end, instead of 101. */
static void test_burst(void) {
        Harness *h = harness_new(TESTBED);
        g_autofree gchar *end = NULL;
        g_autoptr(GPtrArray) v = NULL;
        const guint pairs = 50, calls = 2 * pairs + 1;
        const gint call_timeout_ms = under_wrapper() ? 600000 : 120000;
        guint from, ready, n, g, left = calls;
        gint64 deadline;

        harness_start_daemon(h, no_args);
        from = ready = check_ready(h, &n, &g);
        end = status_line(n, g, "1 reservation (1 reserved)");

        g_assert_cmpint(kill(h->pid, SIGSTOP), ==, 0);
        for (guint i = 1; i <= pairs + 1; i++) {
                const char *const a[] = { NIC, NULL };
                GVariantBuilder opts;

                g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
                g_dbus_connection_call(h->conn, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                       g_variant_new("(s@a(sb)a{sv})", "vm1", harness_functions_v(a, NULL), &opts),
                                       G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE, call_timeout_ms, NULL,
                                       on_burst_reply, &left);
                if (i <= pairs) {
                        g_autofree gchar *path = g_strdup_printf("/org/pciassign1/reservation/r%u", i);

                        g_dbus_connection_call(h->conn, BUS_NAME, path, RES_IFACE, "Release", NULL, NULL,
                                               G_DBUS_CALL_FLAGS_NONE, call_timeout_ms, NULL, on_burst_reply, &left);
                }
        }
        g_assert_true(g_dbus_connection_flush_sync(h->conn, NULL, NULL));
        g_usleep(200 * 1000);  /* the bus passes them on */
        g_assert_cmpint(kill(h->pid, SIGCONT), ==, 0);

        deadline = g_get_monotonic_time() + (under_wrapper() ? 240 : 60) * G_USEC_PER_SEC;
        while (left > 0 && g_get_monotonic_time() < deadline)
                g_main_context_iteration(NULL, TRUE);
        if (left > 0)
                g_error("%u of %u calls not answered", left, calls);
        wait_status(h, &from, end, FALSE);
        assert_no_status(h, from);
        v = statuses_since(h, ready);
        {
                g_autofree gchar *j = joined(v);
                note("STATUS= after READY:%s", j);
        }
        g_printerr("# status: a burst of %u calls (%u reservations made, %u released) gave %u STATUS=\n", calls,
                   pairs + 1, pairs, v->len);
        g_assert_cmpuint(v->len, >=, 1);
        g_assert_cmpuint(v->len, <=, calls / 20);
        assert_no_repeats(h, ready - 1);
        harness_stop_daemon(h);
        harness_free(h);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        ADD("/status/reservations-and-jobs", test_reservations_and_jobs);
        ADD("/status/hotplug", test_hotplug);
        ADD("/status/burst", test_burst);
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
