/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kill -9 at every sysfs write of Detach, Reattach and the takeover rebind
 * (issue 16 item 3): the fake kernel kills the daemon before or right after
 * each write (FAKEKERNEL_KILL); the next start finds the operation in
 * $RUNTIME_DIRECTORY/operations.json and leaves the function where a
 * completed or a rolled-back operation would have, never with a stray
 * driver_override, and never by unbinding a vfio driver (which would wait
 * for a guest).  The real daemon on a private bus against the recorded q35
 * testbed, as test-rebind.c. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "rebind-util.h"

typedef struct KillCase {
        const char *write;      /* FAKEKERNEL_KILL's STEP[@DRIVER] */
        const char *when;       /* before, after */
        const char *expect;     /* "host": rolled back / given back; "vfio": on vfio-pci */
} KillCase;

static gchar *ops_path(Harness *h) {
        return g_build_filename(h->runtime_dir, "operations.json", NULL);
}

static gchar *ops_text(Harness *h) {
        g_autofree gchar *p = ops_path(h);
        gchar *c = NULL;

        if (!g_file_get_contents(p, &c, NULL, NULL))
                return NULL;
        return c;
}

static gchar *syspath_of(Harness *h, const char *addr) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s", addr);
        g_autofree gchar *link = harness_sys_path(h, rel);
        g_autofree gchar *target = g_file_read_link(link, NULL);
        const char *dev;

        g_assert_nonnull(target);
        dev = strstr(target, "/devices/");
        g_assert_nonnull(dev);
        return g_strconcat("/sys", dev, NULL);
}

/* The daemon, started with FAKEKERNEL_KILL=kill, runs `call` and dies of
 * SIGKILL at that write; operations.json then holds the operation. */
static void expect_killed(Harness *h, const char *what, const char *operation) {
        g_autofree gchar *ops = NULL;
        int status = harness_wait_daemon_exit(h, 30000);

        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                g_error("%s: the daemon was not killed (wait status 0x%x)", what, status);
        ops = ops_text(h);
        if (!ops)
                g_error("%s: no operations.json after the kill", what);
        g_test_message("%s: operations.json:\n%s", what, ops);
        assert_contains(ops, operation);
}

/* the next start: the journal is gone, the function in one of the two
 * places, the override matching its driver */
static void restart_and_check(Harness *h, const char *addr, const KillCase *c, const char *what) {
        g_autofree gchar *ops = NULL, *log = NULL;

        harness_unset_env(h, "FAKEKERNEL_KILL");
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        log = harness_fakekernel_log(h);
        g_test_message("%s: the start wrote:\n%s", what, log);
        ops = ops_text(h);
        if (ops)
                g_error("%s: operations.json is still there after the start:\n%s", what, ops);
        /* nothing at start unbinds a vfio driver */
        g_assert_null(strstr(log, "unbind vfio-pci"));
        if (g_str_equal(c->expect, "vfio"))
                assert_vfio(h, addr);
        else
                assert_host(h, addr, "e1000e");
        assert_dev_prop(h, addr, "Driver", g_str_equal(c->expect, "vfio") ? "vfio-pci" : "e1000e");
}

/* ---- Detach of NIC (e1000e): override, unbind@e1000e, probe, reset ---- */

static const KillCase detach_cases[] = {
        { "override", "before", "host" },
        { "override", "after", "host" },     /* the stray override of the issue */
        { "unbind@e1000e", "before", "host" },
        { "unbind@e1000e", "after", "host" }, /* driverless, override set */
        { "probe", "after", "vfio" },         /* bound: completed */
        { "reset", "before", "vfio" },
        { "reset", "after", "vfio" },
};

static void test_detach_killed(gconstpointer data) {
        const KillCase *c = data;
        Harness *h = new_harness();
        g_autofree gchar *kill = g_strdup_printf("%s:" NIC ":%s#1", c->write, c->when);
        g_autoptr(GError) error = NULL;

        harness_set_env(h, "FAKEKERNEL_KILL", kill);
        harness_start_daemon(h, no_args);
        mgr_call(h, "Detach", g_variant_new("(ss)", NIC, ""), &error);
        g_assert_nonnull(error);
        expect_killed(h, kill, "\"detach\"");

        restart_and_check(h, NIC, c, kill);
        if (g_str_equal(c->expect, "vfio")) {
                /* completed: recorded as detached from e1000e */
                assert_dev_prop(h, NIC, "HostDriver", "e1000e");
                mgr_ok(h, "Reattach", g_variant_new("(s)", NIC));
                assert_host(h, NIC, "e1000e");
        } else {
                /* rolled back: Detach works as if nothing happened */
                mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
                assert_vfio(h, NIC);
                mgr_ok(h, "Reattach", g_variant_new("(s)", NIC));
                assert_host(h, NIC, "e1000e");
        }
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- Reattach of NIC: override (cleared), unbind@vfio-pci, probe ---- */

static const KillCase reattach_cases[] = {
        { "override@", "before", "vfio" },
        { "override@", "after", "vfio" },     /* still on vfio-pci: rolled back */
        { "unbind@vfio-pci", "before", "vfio" },
        { "unbind@vfio-pci", "after", "host" }, /* driverless: completed */
        { "probe", "before", "host" },
        { "probe", "after", "host" },
};

static void test_reattach_killed(gconstpointer data) {
        const KillCase *c = data;
        Harness *h = new_harness();
        g_autofree gchar *kill = g_strdup_printf("%s:" NIC ":%s#1", c->write, c->when);
        g_autoptr(GError) error = NULL;

        harness_start_daemon(h, no_args);
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        assert_vfio(h, NIC);
        harness_stop_daemon(h);

        harness_set_env(h, "FAKEKERNEL_KILL", kill);
        harness_start_daemon(h, no_args);
        mgr_call(h, "Reattach", g_variant_new("(s)", NIC), &error);
        g_assert_nonnull(error);
        expect_killed(h, kill, "\"reattach\"");

        restart_and_check(h, NIC, c, kill);
        if (g_str_equal(c->expect, "vfio")) {
                /* as the Detach left it: Reattach can be called again */
                assert_dev_prop(h, NIC, "HostDriver", "e1000e");
                mgr_ok(h, "Reattach", g_variant_new("(s)", NIC));
        }
        assert_host(h, NIC, "e1000e");
        /* and no record is left: a Detach/Reattach pair works */
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        mgr_ok(h, "Reattach", g_variant_new("(s)", NIC));
        assert_host(h, NIC, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* ---- takeover: e1000e bound by someone else to prepared NIC3; the
 * daemon binds it back: override, unbind@e1000e, probe ---- */

static const KillCase takeover_cases[] = {
        { "override", "before", "vfio" },
        { "override", "after", "vfio" },
        { "unbind@e1000e", "after", "vfio" },
        { "probe", "before", "vfio" },
        { "probe", "after", "vfio" },
};

static void test_takeover_killed(gconstpointer data) {
        const KillCase *c = data;
        Harness *h = new_harness();
        /* #2: the first such write is Prepare's */
        g_autofree gchar *kill = g_strdup_printf("%s:" NIC3 ":%s#2", c->write, c->when);
        g_autofree gchar *path = NULL, *syspath = NULL, *le = NULL;
        const char *const nic3[] = { NIC3, NULL };

        harness_set_env(h, "FAKEKERNEL_KILL", kill);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic3, NULL);
        res_ok(h, path, "Prepare", NULL);
        assert_vfio(h, NIC3);

        /* a host driver takes it (as test-hotplug plays it): vfio-pci
         * unbound, e1000e bound, each with its uevent */
        syspath = syspath_of(h, NIC3);
        testbed_bind(h, NIC3, "");
        g_assert_cmpuint(harness_uevent(h, syspath, "unbind"), >=, 1);
        testbed_bind(h, NIC3, "e1000e");
        g_assert_cmpuint(harness_uevent(h, syspath, "bind"), >=, 1);
        expect_killed(h, kill, "\"takeover\"");
        {
                g_autofree gchar *state = state_text(h);
                g_assert_nonnull(strstr(state, "degraded"));
        }

        restart_and_check(h, NIC3, c, kill);
        assert_res_state(h, path, "prepared");
        le = get_prop_s(h, path, RES_IFACE, "LastError");
        g_assert_cmpstr(le, ==, "");
        res_ok(h, path, "Unprepare", NULL);
        assert_host(h, NIC3, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* A journal from another boot: the kernel forgot what it changed; the
 * daemon drops it and writes nothing. */
static void test_other_boot(void) {
        Harness *h = new_harness();
        g_autofree gchar *p = ops_path(h), *err = NULL;

        g_assert_cmpint(g_mkdir_with_parents(h->runtime_dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(p,
                "{\"format\": 1, \"boot_id\": \"00000000-1111-2222-3333-444444444444\", \"operations\": [ {"
                "\"operation\": \"detach\", \"address\": \"" NIC "\", \"vendor_id\": 32902, \"device_id\": 4307, "
                "\"driver\": \"e1000e\", \"driver_override\": null, \"target\": \"vfio-pci\", \"reprobe\": false, "
                "\"reservation\": null } ]}\n", -1, NULL));
        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        assert_log_empty(h);
        g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
        err = harness_daemon_stderr(h);
        assert_contains(err, "from an earlier boot");
        assert_host(h, NIC, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* A journal the daemon cannot read: refused with a warning, not applied,
 * not deleted (an admin may want to look at it). */
static void test_corrupt_journal(void) {
        Harness *h = new_harness();
        g_autofree gchar *p = ops_path(h), *err = NULL, *after = NULL;
        const char *text = "{\"format\": 1, \"operations\": 3}\n";

        g_assert_cmpint(g_mkdir_with_parents(h->runtime_dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(p, text, -1, NULL));
        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        assert_log_empty(h);
        err = harness_daemon_stderr(h);
        assert_contains(err, "operations.json is unreadable");
        g_assert_true(g_file_get_contents(p, &after, NULL, NULL));
        g_assert_cmpstr(after, ==, text);
        /* a Detach still works; its journal replaces the unreadable one */
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        assert_vfio(h, NIC);
        g_assert_false(g_file_test(p, G_FILE_TEST_EXISTS));
        harness_stop_daemon(h);
        harness_free(h);
}

/* Reserve of a function an earlier Detach() moved to vfio-pci records the
 * host driver that Detach recorded, so that Unprepare gives it back there
 * (before: none recorded, and Unprepare left it without a driver). */
static void test_reserve_after_detach(void) {
        Harness *h = new_harness();
        const char *const nic[] = { NIC, NULL };
        g_autofree gchar *path = NULL;
        json_object *r, *fns, *f, *v;

        harness_start_daemon(h, no_args);
        mgr_ok(h, "Detach", g_variant_new("(ss)", NIC, ""));
        assert_vfio(h, NIC);
        path = reserve(h, "vm1", nic, NULL);
        r = stored_reservation(h, "r1");
        g_assert_nonnull(r);
        g_assert_true(json_object_object_get_ex(r, "functions", &fns));
        f = json_object_array_get_idx(fns, 0);
        g_assert_true(json_object_object_get_ex(f, "host_driver", &v));
        g_assert_cmpstr(json_object_get_string(v), ==, "e1000e");
        json_object_put(r);
        res_ok(h, path, "Prepare", NULL);
        assert_vfio(h, NIC);
        res_ok(h, path, "Unprepare", NULL);
        assert_host(h, NIC, "e1000e");
        res_ok(h, path, "Release", NULL);
        harness_stop_daemon(h);
        harness_free(h);
}

static void add_kill_cases(const char *prefix, GTestDataFunc func, const KillCase *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                g_autofree gchar *w = g_strdelimit(g_strdup(l[i].write), "@", '-');
                g_autofree gchar *path = g_strdup_printf("%s/%s%s-%s", prefix, w, g_str_has_suffix(w, "-") ? "none" : "",
                                                         l[i].when);
                add_case(path, func, &l[i]);
        }
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        add_kill_cases("/operations/detach-killed", test_detach_killed, detach_cases, G_N_ELEMENTS(detach_cases));
        add_kill_cases("/operations/reattach-killed", test_reattach_killed, reattach_cases,
                       G_N_ELEMENTS(reattach_cases));
        add_kill_cases("/operations/takeover-killed", test_takeover_killed, takeover_cases,
                       G_N_ELEMENTS(takeover_cases));
        ADD("/operations/other-boot", test_other_boot);
        ADD("/operations/reserve-after-detach", test_reserve_after_detach);
        ADD("/operations/corrupt-journal", test_corrupt_journal);
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
