/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Restart vs reboot (issue 16 item 2).  The boot ID comes from a file of
 * the test (PCI_ASSIGND_BOOT_ID_FILE); a "reboot" is another ID plus the
 * testbed as a kernel leaves it at boot: every function on the driver the
 * kernel picks, no driver_override.  The real daemon on a private bus
 * against the recorded q35 testbed with the fake kernel, as test-rebind.c. */
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "rebind-util.h"

#define BOOT1 "11111111-1111-4111-8111-111111111111"
#define BOOT2 "22222222-2222-4222-8222-222222222222"

static const char *const nic[] = { NIC, NULL };

static void set_boot(Harness *h, const char *id) {
        g_autofree gchar *p = g_build_filename(h->tmpdir, "boot_id", NULL);
        g_autofree gchar *text = g_strconcat(id, "\n", NULL);

        g_assert_true(g_file_set_contents(p, text, -1, NULL));
        harness_set_env(h, "PCI_ASSIGND_BOOT_ID_FILE", p);
}

/* What a boot leaves: `driver` bound ("" none), no driver_override */
static void boot_leaves(Harness *h, const char *addr, const char *driver) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s/driver_override", addr);
        g_autofree gchar *p = harness_sys_path(h, rel);
        g_autofree gchar *real = realpath(p, NULL);

        testbed_bind(h, addr, driver);
        g_assert_nonnull(real);
        g_assert_true(g_file_set_contents(real, "(null)\n", -1, NULL));
}

static gchar *last_boot(Harness *h) {
        g_autofree gchar *p = g_build_filename(h->state_dir, "last-boot", NULL);
        gchar *c = NULL;

        if (!g_file_get_contents(p, &c, NULL, NULL))
                return NULL;
        return g_strchomp(c);
}

/* A Prepare of a function that had no driver, killed after its bind;
 * then the host reboots and the kernel binds e1000e at boot.  The journal
 * says "roll back to no driver": after a reboot that would unbind the
 * driver the kernel chose.  It stays; nothing is written. */
static void test_interrupted_prepare_across_reboot(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *err = NULL, *lb = NULL;
        g_autoptr(GError) error = NULL;
        int status;

        set_boot(h, BOOT1);
        testbed_bind(h, NIC, "");
        harness_set_env(h, "PCI_ASSIGND_TEST_CRASH", "prepare:1");
        harness_start_daemon(h, no_args);
        lb = last_boot(h);
        g_assert_cmpstr(lb, ==, BOOT1);
        path = reserve(h, "vm1", nic, NULL);
        res_call(h, path, "Prepare", NULL, &error);
        g_assert_nonnull(error);
        status = harness_wait_daemon_exit(h, 30000);
        g_assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_vfio(h, NIC);

        set_boot(h, BOOT2);
        boot_leaves(h, NIC, "e1000e");
        harness_unset_env(h, "PCI_ASSIGND_TEST_CRASH");
        harness_fakekernel_log_clear(h);
        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        assert_log_empty(h);
        assert_host(h, NIC, "e1000e");
        assert_res_state(h, path, "reserved");
        assert_no_journal(h);
        err = harness_daemon_stderr(h);
        assert_contains(err, "from before a reboot");
        assert_contains(err, NIC " stays on e1000e");
        g_free(lb);
        lb = last_boot(h);
        g_assert_cmpstr(lb, ==, BOOT2);
        harness_stop_daemon(h);
        harness_free(h);
}

/* The same kill without a reboot is rolled back as always: to no driver. */
static void test_interrupted_prepare_restart(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;
        g_autoptr(GError) error = NULL;

        set_boot(h, BOOT1);
        testbed_bind(h, NIC, "");
        harness_set_env(h, "PCI_ASSIGND_TEST_CRASH", "prepare:1");
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic, NULL);
        res_call(h, path, "Prepare", NULL, &error);
        g_assert_nonnull(error);
        (void) harness_wait_daemon_exit(h, 30000);
        harness_unset_env(h, "PCI_ASSIGND_TEST_CRASH");
        harness_start_daemon(h, no_args);
        assert_host(h, NIC, "");
        assert_res_state(h, path, "reserved");
        harness_stop_daemon(h);
        harness_free(h);
}

/* A prepared reservation after a reboot: its function is bound again
 * through the job queue (here slowed down), and the bus name is taken
 * only after that; with the function still on e1000e while it waits. */
static void test_reapply_before_name(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *err = NULL;
        const char *bound, *ready;

        set_boot(h, BOOT1);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic, NULL);
        res_ok(h, path, "Prepare", NULL);
        harness_stop_daemon(h);

        set_boot(h, BOOT2);
        boot_leaves(h, NIC, "e1000e");
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", "probe:" NIC ":1500");
        harness_fakekernel_log_clear(h);
        harness_capture_daemon_stderr(h);
        harness_start_daemon(h, no_args);
        /* READY and the name came after the bind */
        assert_vfio(h, NIC);
        assert_res_state(h, path, "prepared");
        err = harness_daemon_stderr(h);
        g_test_message("%s", err);
        bound = strstr(err, "1 function(s) bound to vfio-pci again (they were not after the reboot)");
        ready = strstr(err, "Ready:");
        g_assert_nonnull(bound);
        g_assert_nonnull(ready);
        g_assert_true(bound < ready);
        assert_contains(err, "Waiting for 1 function(s) to be bound again before taking the bus name");
        harness_stop_daemon(h);
        harness_free(h);
}

/* After the reboot the function is something the host depends on (its
 * NIC carries the default route now): the re-apply makes the checks of
 * Prepare, binds nothing and leaves the reservation degraded, saying why. */
static void test_reapply_refused_host_uses_it(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *le = NULL, *rel = NULL, *link = NULL, *target = NULL, *rec = NULL;
        g_autofree gchar *procdir = g_build_filename(h->tmpdir, "proc", NULL);
        g_autofree gchar *rt = g_build_filename(procdir, "route", NULL);
        const char *dev;

        set_boot(h, BOOT1);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic, NULL);
        res_ok(h, path, "Prepare", NULL);
        harness_stop_daemon(h);

        set_boot(h, BOOT2);
        boot_leaves(h, NIC, "e1000e");
        rel = g_strdup_printf("bus/pci/devices/%s", NIC);
        link = harness_sys_path(h, rel);
        target = g_file_read_link(link, NULL);
        g_assert_nonnull(target);
        dev = strstr(target, "/devices/");
        g_assert_nonnull(dev);
        rec = g_strdup_printf("P: %s/net/enp2s0\nE: SUBSYSTEM=net\nE: INTERFACE=enp2s0\n"
                              "A: address=52:54:00:00:02:00\nL: device=../../../%s\n", dev, NIC);
        harness_add_devices(h, rec);
        g_assert_cmpint(g_mkdir(procdir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(rt,
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                "enp2s0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", -1, NULL));
        harness_set_env(h, "PCI_ASSIGND_PROC_DIR", procdir);
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        assert_log_empty(h);
        assert_host(h, NIC, "e1000e");
        assert_res_state(h, path, "degraded");
        le = get_prop_s(h, path, RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        assert_contains(le, NIC " is not assignable any more");
        assert_contains(le, "enp2s0");
        harness_stop_daemon(h);
        harness_free(h);
}

/* in-use when the host went down: no guest survives a reboot, so it is
 * prepared again (its VM manager can Prepare it as it starts the guest),
 * its function bound again; a restart in the same boot keeps in-use. */
static void test_in_use_across_reboot(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL;

        set_boot(h, BOOT1);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic, NULL);
        res_ok(h, path, "Prepare", NULL);
        res_ok(h, path, "SetInUse", g_variant_new("(b)", TRUE));
        harness_stop_daemon(h);
        /* a restart: still in-use, nothing written */
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        assert_res_state(h, path, "in-use");
        assert_log_empty(h);
        harness_stop_daemon(h);

        set_boot(h, BOOT2);
        boot_leaves(h, NIC, "e1000e");
        harness_start_daemon(h, no_args);
        assert_res_state(h, path, "prepared");
        assert_stored_state(h, "r1", "prepared");
        assert_vfio(h, NIC);
        /* and its manager can go on as at any start of its guest */
        res_ok(h, path, "Prepare", NULL);
        res_ok(h, path, "SetInUse", g_variant_new("(b)", TRUE));
        assert_res_state(h, path, "in-use");
        harness_stop_daemon(h);
        harness_free(h);
}

/* What the kernel shows of a function's identity: the attribute and its
 * uevent file, where the kernel puts the same ids (PCI_ID, PCI_SUBSYS_ID):
 * the line that starts with the key of `uevent_line` is replaced by it. */
static void set_id(Harness *h, const char *addr, const char *attr, const char *value, const char *uevent_line) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/devices/%s/%s", addr, attr);
        g_autofree gchar *file = harness_sys_path(h, rel), *real = realpath(file, NULL);
        g_autofree gchar *dir = NULL, *ue = NULL, *text = NULL, *value_nl = g_strdup_printf("%s\n", value);
        g_autofree gchar *key = g_strndup(uevent_line, strcspn(uevent_line, "=") + 1);
        g_auto(GStrv) lines = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        gboolean replaced = FALSE;

        g_assert_nonnull(real);
        g_assert_true(g_file_set_contents(real, value_nl, -1, NULL));
        dir = g_path_get_dirname(real);
        ue = g_build_filename(dir, "uevent", NULL);
        g_assert_true(g_file_get_contents(ue, &text, NULL, NULL));
        lines = g_strsplit(text, "\n", -1);
        for (gchar **l = lines; *l; l++) {
                if (!**l)
                        continue;
                replaced |= g_str_has_prefix(*l, key);
                g_string_append_printf(out, "%s\n", g_str_has_prefix(*l, key) ? uevent_line : *l);
        }
        g_assert_true(replaced);
        g_assert_true(g_file_set_contents(ue, out->str, -1, NULL));
}

/* After the reboot another device model is at a prepared reservation's
 * address (a card swapped while the host was off): nothing is bound, the
 * reservation is degraded saying what differs, and Release drops it
 * without touching that device (it is not ours: no unbind, no probe). */
static void test_other_device_release(void) {
        Harness *h = new_harness();
        const char *const nic3[] = { NIC3, NULL };
        g_autofree gchar *path = NULL, *le = NULL;

        set_boot(h, BOOT1);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic3, NULL);
        res_ok(h, path, "Prepare", NULL);
        harness_stop_daemon(h);

        set_boot(h, BOOT2);
        boot_leaves(h, NIC3, "e1000e");
        set_id(h, NIC3, "device", "0x100e", "PCI_ID=8086:100E");   /* an e1000 now */
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        assert_res_state(h, path, "degraded");
        le = get_prop_s(h, path, RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        assert_contains(le, "a different device (8086:100e, reserved: 8086:10d3)");
        res_fails(h, path, "Prepare", NULL, E("NoSuchDevice"), NULL);
        res_ok(h, path, "Release", NULL);
        assert_log_empty(h);
        assert_host(h, NIC3, "e1000e");
        harness_stop_daemon(h);
        harness_free(h);
}

/* Two cards of one model swapped slots while the host was off, and they
 * have no serial number: their subsystem ids (recorded at Reserve, store
 * format 4) tell them apart.  Nothing is bound, the reservation is degraded
 * saying what differs, Prepare refuses; with the card of the reserved ids
 * back at the address Prepare works again. */
static void test_other_subsystem(void) {
        Harness *h = new_harness();
        const char *const nic3[] = { NIC3, NULL };
        g_autofree gchar *path = NULL, *le = NULL, *state = NULL;

        set_boot(h, BOOT1);
        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", nic3, NULL);
        res_ok(h, path, "Prepare", NULL);
        harness_stop_daemon(h);
        state = state_text(h);
        assert_contains(state, "\"format\": 4,");
        assert_contains(state, "\"subsystem_vendor_id\": 32902,");

        set_boot(h, BOOT2);
        boot_leaves(h, NIC3, "e1000e");
        set_id(h, NIC3, "subsystem_vendor", "0x1af4", "PCI_SUBSYS_ID=1AF4:1100");
        set_id(h, NIC3, "subsystem_device", "0x1100", "PCI_SUBSYS_ID=1AF4:1100");
        harness_fakekernel_log_clear(h);
        harness_start_daemon(h, no_args);
        assert_res_state(h, path, "degraded");
        le = get_prop_s(h, path, RES_IFACE, "LastError");
        g_test_message("LastError: %s", le);
        assert_contains(le, "a device of other subsystem ids (1af4:1100, reserved: 8086:0000)");
        assert_log_empty(h);
        assert_host(h, NIC3, "e1000e");
        res_fails(h, path, "Prepare", NULL, E("NoSuchDevice"), NULL);
        assert_log_empty(h);
        harness_stop_daemon(h);

        /* the reserved card back in its slot (another boot): a degraded
         * reservation stays so at start (man: AT START), and Prepare now
         * finds the card it reserved */
        set_boot(h, BOOT1);
        set_id(h, NIC3, "subsystem_vendor", "0x8086", "PCI_SUBSYS_ID=8086:0000");
        set_id(h, NIC3, "subsystem_device", "0x0000", "PCI_SUBSYS_ID=8086:0000");
        harness_start_daemon(h, no_args);
        assert_res_state(h, path, "degraded");
        assert_host(h, NIC3, "e1000e");
        res_ok(h, path, "Prepare", NULL);
        assert_res_state(h, path, "prepared");
        assert_vfio(h, NIC3);
        harness_stop_daemon(h);
        harness_free(h);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        ADD("/reboot/interrupted-prepare-keeps-boot-driver", test_interrupted_prepare_across_reboot);
        ADD("/reboot/interrupted-prepare-restart-rolls-back", test_interrupted_prepare_restart);
        ADD("/reboot/reapply-before-name", test_reapply_before_name);
        ADD("/reboot/reapply-refused-host-uses-it", test_reapply_refused_host_uses_it);
        ADD("/reboot/in-use-becomes-prepared", test_in_use_across_reboot);
        ADD("/reboot/other-device-release", test_other_device_release);
        ADD("/reboot/other-subsystem", test_other_subsystem);
        r = g_test_run();
        g_ptr_array_free(cases, TRUE);
        return r;
}
