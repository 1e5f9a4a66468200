/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libvirt hook (data/libvirt/pci-assignd-hook, as built) invoked the
 * way libvirtd invokes /etc/libvirt/hooks/qemu.d/<script>: argv DOMAIN
 * OPERATION SUB-OPERATION EXTRA, the domain XML on stdin, as root; it calls
 * this build's pci-assignctl ($PCI_ASSIGNCTL) against the real daemon on a
 * private bus, on the recorded q35 testbed with the fake kernel (as in
 * test-rebind), so every bind/unbind/reset it causes is in the fake
 * kernel's log and the testbed's sysfs. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "rebind-util.h"

#define UUID "6f2c1a52-9d1e-4c7b-8e55-3a0d7e2b1c90"

static const char *const mf_both[] = { MF0, MF1, NULL };

/* a domain as libvirt formats it, with one <hostdev managed=MANAGED> per
 * address (NULL-ended), or none */
static gchar *domain_xml(const char *name, const char *uuid, const char *managed, const char *const *addrs) {
        GString *s = g_string_new(NULL);
        unsigned n = 0;

        g_string_append_printf(s, "<domain type='qemu' id='7'>\n  <name>%s</name>\n  <uuid>%s</uuid>\n"
                                  "  <memory unit='KiB'>65536</memory>\n"
                                  "  <os>\n    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>\n  </os>\n"
                                  "  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n",
                               name, uuid);
        for (const char *const *a = addrs; a && *a; a++, n++) {
                unsigned d, b, sl, f;

                g_assert_cmpint(sscanf(*a, "%x:%x:%x.%x", &d, &b, &sl, &f), ==, 4);
                g_string_append_printf(s,
                        "    <hostdev mode='subsystem' type='pci' managed='%s'>\n"
                        "      <driver name='vfio'/>\n"
                        "      <source>\n"
                        "        <address domain='0x%04x' bus='0x%02x' slot='0x%02x' function='0x%x'/>\n"
                        "      </source>\n"
                        "      <alias name='hostdev%u'/>\n"
                        "      <address type='pci' domain='0x0000' bus='0x00' slot='0x%02x' function='0x0'/>\n"
                        "    </hostdev>\n", managed, d, b, sl, f, n, 4 + n);
        }
        g_string_append(s, "    <memballoon model='none'/>\n  </devices>\n</domain>\n");
        return g_string_free(s, FALSE);
}

static gchar *hook_path(void) {
        const char *b = g_getenv("PCI_ASSIGND_BUILD_ROOT");

        g_assert_nonnull(b);
        return g_build_filename(b, "data", "pci-assignd-hook", NULL);
}

/* Runs the hook as libvirtd does; returns its exit status, its stderr in
 * *err (stdout must stay empty: libvirt ignores it, and so do we).
 * bus_address NULL: the harness's bus. */
static int run_hook_on(Harness *h, const char *bus_address, const char *name, const char *op, const char *sub,
                       const char *xml, gchar **err, gint64 *ret_usec) {
        g_autofree gchar *hook = hook_path();
        g_autofree gchar *ctl = g_build_filename(g_getenv("PCI_ASSIGND_BUILD_ROOT"), "src", "ctl",
                                                 "pci-assignctl", NULL);
        g_autofree gchar *in = NULL, *out = NULL, *cmd = NULL;
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) env = g_get_environ();
        gint status;
        gint64 t0;
        int fd;

        /* stdin from a file, as libvirt's pipe would give it; the shell
         * redirect keeps argv exactly "HOOK NAME OP SUB -" */
        fd = g_file_open_tmp("hook-xml-XXXXXX", &in, &error);
        g_assert_no_error(error);
        g_assert_true(g_file_set_contents(in, xml, -1, &error));
        g_assert_no_error(error);
        close(fd);
        cmd = g_strdup_printf("exec \"$0\" \"$1\" \"$2\" \"$3\" - < '%s'", in);
        env = g_environ_setenv(env, "DBUS_SYSTEM_BUS_ADDRESS", bus_address ?: h->bus_address, TRUE);
        env = g_environ_setenv(env, "PCI_ASSIGNCTL", ctl, TRUE);
        env = g_environ_unsetenv(env, "LD_PRELOAD");
        {
                const char *full[] = { "/bin/sh", "-c", cmd, hook, name, op, sub, NULL };

                t0 = g_get_monotonic_time();
                g_assert_true(g_spawn_sync(NULL, (gchar **) full, env, 0, NULL, NULL, &out, err, &status, &error));
                if (ret_usec)
                        *ret_usec = g_get_monotonic_time() - t0;
        }
        g_assert_no_error(error);
        g_unlink(in);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpstr(out, ==, "");
        if (g_test_verbose() || WEXITSTATUS(status) != 0)
                g_test_message("hook %s %s %s -> %d, stderr: %s", name, op, sub, WEXITSTATUS(status), *err);
        return WEXITSTATUS(status);
}

static int run_hook(Harness *h, const char *name, const char *op, const char *sub, const char *xml, gchar **err) {
        return run_hook_on(h, NULL, name, op, sub, xml, err, NULL);
}

static void hook_ok(Harness *h, const char *name, const char *op, const char *sub, const char *xml) {
        g_autofree gchar *err = NULL;

        g_assert_cmpint(run_hook(h, name, op, sub, xml, &err), ==, 0);
        g_assert_cmpstr(err, ==, "");
}

/* ==== the life of a domain ==== */

static void test_lifecycle(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *xml = domain_xml("vm1", UUID, "no", mf_both);

        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        assert_log_empty(h);

        hook_ok(h, "vm1", "prepare", "begin", xml);
        assert_vfio(h, MF0);
        assert_vfio(h, MF1);
        assert_res_state(h, path, "prepared");
        harness_fakekernel_log_clear(h);

        /* start begin, stopped end, and the rest: nothing */
        hook_ok(h, "vm1", "start", "begin", xml);
        assert_log_empty(h);
        hook_ok(h, "vm1", "started", "begin", xml);
        assert_res_state(h, path, "in-use");
        hook_ok(h, "vm1", "reconnect", "begin", xml);
        hook_ok(h, "vm1", "stopped", "end", xml);
        hook_ok(h, "vm1", "migrate", "begin", xml);
        assert_res_state(h, path, "in-use");
        assert_log_empty(h);

        hook_ok(h, "vm1", "release", "end", xml);
        assert_res_state(h, path, "reserved");
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");

        /* release end again (libvirt also runs it after a failed start) */
        harness_fakekernel_log_clear(h);
        hook_ok(h, "vm1", "release", "end", xml);
        assert_log_empty(h);
        assert_res_state(h, path, "reserved");

        /* a domain left "in-use" (its guest is gone: libvirt starts only
         * inactive domains) is prepared again */
        hook_ok(h, "vm1", "prepare", "begin", xml);
        hook_ok(h, "vm1", "started", "begin", xml);
        assert_res_state(h, path, "in-use");
        hook_ok(h, "vm1", "prepare", "begin", xml);
        assert_res_state(h, path, "prepared");
        hook_ok(h, "vm1", "release", "end", xml);
        assert_res_state(h, path, "reserved");

        harness_stop_daemon(h);
        harness_free(h);
}

/* owner = the domain's UUID; owners with blanks and shell characters */
static void test_owner_forms(void) {
        Harness *h = new_harness();
        const char *const nic[] = { NIC, NULL };
        const char *odd = "my vm; $(touch /tmp/pwned-hook) *";
        g_autofree gchar *p1 = NULL, *p2 = NULL;
        g_autofree gchar *xml1 = domain_xml("vm-by-uuid", UUID, "no", mf_both);
        g_autofree gchar *xml2 = domain_xml(odd, "0e7c9a7e-1111-2222-3333-444455556666", "no", nic);

        harness_start_daemon(h, no_args);
        p1 = reserve(h, UUID, mf_both, NULL);
        p2 = reserve(h, odd, nic, NULL);

        hook_ok(h, "vm-by-uuid", "prepare", "begin", xml1);
        assert_res_state(h, p1, "prepared");
        assert_res_state(h, p2, "reserved");
        hook_ok(h, odd, "prepare", "begin", xml2);
        assert_res_state(h, p2, "prepared");
        assert_vfio(h, NIC);
        g_assert_false(g_file_test("/tmp/pwned-hook", G_FILE_TEST_EXISTS));
        hook_ok(h, odd, "started", "begin", xml2);
        assert_res_state(h, p2, "in-use");
        hook_ok(h, odd, "release", "end", xml2);
        hook_ok(h, "vm-by-uuid", "release", "end", xml1);
        assert_res_state(h, p1, "reserved");
        assert_res_state(h, p2, "reserved");
        assert_host(h, NIC, "e1000e");
        assert_host(h, MF0, "e1000e");

        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== a failing Prepare fails the start ==== */

static void test_prepare_fails(void) {
        Harness *h = new_harness();
        const char *const nic[] = { NIC, NULL };
        const char *const all[] = { NIC, MF0, MF1, NULL };
        g_autofree gchar *p1 = NULL, *p2 = NULL, *err = NULL;
        g_autofree gchar *xml = domain_xml("vm1", UUID, "no", all);

        harness_set_env(h, "FAKEKERNEL_FAIL", "unbind@e1000e:" MF1 ":EBUSY");
        harness_start_daemon(h, no_args);
        p1 = reserve(h, "vm1", nic, NULL);      /* r1: prepared first, then given back */
        p2 = reserve(h, "vm1", mf_both, NULL);  /* r2: fails at the unbind of 0b:00.1 */

        g_assert_cmpint(run_hook(h, "vm1", "prepare", "begin", xml, &err), ==, 1);
        assert_contains(err, "org.pciassign1.Error.OperationFailed");
        assert_contains(err, MF1);
        assert_contains(err, "Device or resource busy");
        assert_contains(err, "pci-assignd hook: domain vm1: Prepare of reservation r2 failed (see above); not starting it");
        assert_res_state(h, p1, "reserved");
        assert_res_state(h, p2, "reserved");
        assert_host(h, NIC, "e1000e");
        assert_host(h, MF0, "e1000e");
        assert_host(h, MF1, "e1000e");

        /* libvirt runs "release end" after the failed start: nothing to do */
        hook_ok(h, "vm1", "release", "end", xml);

        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== someone else's functions ==== */

static void test_foreign(void) {
        Harness *h = new_harness();
        const char *const nic[] = { NIC, NULL };
        const char *const mixed[] = { NIC, MF0, NULL };
        g_autofree gchar *p1 = NULL, *p2 = NULL, *err = NULL;
        g_autofree gchar *xml = domain_xml("vm1", UUID, "no", mixed);

        harness_start_daemon(h, no_args);
        p1 = reserve(h, "vm1", nic, NULL);
        p2 = reserve(h, "vm2", mf_both, NULL);

        g_assert_cmpint(run_hook(h, "vm1", "prepare", "begin", xml, &err), ==, 1);
        assert_contains(err, "pci-assignd hook: domain vm1: hostdev " MF0 " is reserved for 'vm2' (reservation r2, reserved), "
                             "not for this domain; not starting it");
        assert_log_empty(h);
        assert_res_state(h, p1, "reserved");

        /* another domain with the same UUID text in a different field is no owner either */
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(run_hook(h, "vm3", "prepare", "begin", xml, &err), ==, 1);
        assert_contains(err, "is reserved for 'vm1' (reservation r1");
        assert_log_empty(h);

        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== nothing to do: silent and fast, without the daemon ==== */

static void test_nothing_to_do(void) {
        Harness *h = new_harness();
        const char *const nic[] = { NIC, NULL };
        const char *const mf0[] = { MF0, NULL };
        g_autofree gchar *plain = domain_xml("vm1", UUID, "no", NULL);
        g_autofree gchar *managed = domain_xml("vm1", UUID, "yes", mf0);
        g_autofree gchar *unreserved = domain_xml("vm1", UUID, "no", nic);
        g_autofree gchar *err = NULL, *path = NULL;
        gint64 usec;

        /* no daemon at all, and not even a bus: a domain without hostdevs
         * does not need either */
        g_assert_cmpint(run_hook_on(h, "unix:path=/nonexistent/bus", "vm1", "prepare", "begin", plain, &err, &usec),
                        ==, 0);
        g_assert_cmpstr(err, ==, "");
        g_test_message("hook prepare begin, no hostdev, no bus: %" G_GINT64_FORMAT " us", usec);
        g_assert_cmpint(usec, <, 2 * G_USEC_PER_SEC);
        g_clear_pointer(&err, g_free);
        g_assert_cmpint(run_hook_on(h, "unix:path=/nonexistent/bus", "vm1", "release", "end", plain, &err, NULL), ==, 0);
        g_assert_cmpstr(err, ==, "");
        g_clear_pointer(&err, g_free);

        /* hostdevs, but the daemon cannot be asked: the start fails */
        g_assert_cmpint(run_hook_on(h, "unix:path=/nonexistent/bus", "vm1", "prepare", "begin", unreserved, &err, NULL),
                        ==, 1);
        assert_contains(err, "pci-assignd hook: domain vm1 (prepare begin): cannot ask pci-assignd whether its PCI hostdevs are reserved");
        g_clear_pointer(&err, g_free);

        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);
        /* managed='yes' is libvirt's own business; an unreserved hostdev too */
        hook_ok(h, "vm1", "prepare", "begin", managed);
        hook_ok(h, "vm1", "prepare", "begin", unreserved);
        hook_ok(h, "vm1", "prepare", "begin", plain);
        assert_log_empty(h);
        assert_res_state(h, path, "reserved");

        harness_stop_daemon(h);
        harness_free(h);
}

/* ==== odd and hostile XML ==== */

static const char *const lookalikes =
        "<?xml version='1.0'?>\n"
        "<domain type='qemu'>\n"
        "  <name>vm1</name>\n"
        "  <uuid>" UUID "</uuid>\n"
        "  <description>&lt;hostdev mode='subsystem' type='pci' managed='no'&gt; $(touch /tmp/pwned-hook) `touch /tmp/pwned-hook`</description>\n"
        "  <metadata>\n"
        "    <x:devices xmlns:x='http://example.org/x'><hostdev mode='subsystem' type='pci' managed='no'>"
        "<source><address domain='0x0000' bus='0x0b' slot='0x00' function='0x0'/></source></hostdev></x:devices>\n"
        "    <devices xmlns='http://example.org/y'><hostdev mode='subsystem' type='pci' managed='no'>"
        "<source><address bus='0x0b' slot='0x00' function='0x1'/></source></hostdev></devices>\n"
        "  </metadata>\n"
        "  <devices>\n"
        "    <!-- <hostdev mode='subsystem' type='pci' managed='no'><source><address bus='0x0b' slot='0x00' function='0x0'/></source></hostdev> -->\n"
        "    <emulator><![CDATA[<hostdev mode='subsystem' type='pci' managed='no'><source><address bus='0x0b' slot='0' function='0'/>]]></emulator>\n"
        "    <hostdev mode='subsystem' type='usb' managed='no'><source><address bus='0x0b' device='2'/></source></hostdev>\n"
        "    <hostdev mode='capabilities' type='storage'><source><block>/dev/sdb</block></source></hostdev>\n"
        "    <interface type='network' title='a > b'><source network='default'/></interface>\n"
        "  </devices>\n"
        "</domain>\n";

static const struct { const char *what, *xml, *message; } broken[] = {
        { "truncated",
          "<domain><name>vm1</name><devices><hostdev mode='subsystem' type='pci' managed='no'><source>"
          "<address bus='0x0b' slot='0x00' function='0x0'/>", "truncated" },
        { "DTD with entities",
          "<!DOCTYPE domain [<!ENTITY no 'no'>]><domain><devices><hostdev mode='subsystem' type='pci' managed='no'>"
          "<source><address bus='0x0b' slot='0' function='0'/></source></hostdev></devices></domain>", "a DOCTYPE" },
        { "unbalanced",
          "<domain><devices><hostdev mode='subsystem' type='pci'></devices></hostdev></domain>", "unbalanced" },
        { "bus out of range",
          "<domain><devices><hostdev mode='subsystem' type='pci' managed='no'><source>"
          "<address domain='0' bus='0x100' slot='0' function='0'/></source></hostdev></devices></domain>",
          "not a PCI address" },
        { "address with junk",
          "<domain><devices><hostdev mode='subsystem' type='pci' managed='no'><source>"
          "<address domain='0' bus='0x0b;rm' slot='0' function='0'/></source></hostdev></devices></domain>",
          "not a PCI address" },
        { "no address",
          "<domain><devices><hostdev mode='subsystem' type='pci' managed='no'><source/></hostdev></devices></domain>",
          "without a source address" },
        { "duplicate attribute",
          "<domain><devices><hostdev mode='subsystem' type='pci' managed='yes' managed='no'><source>"
          "<address bus='0x0b' slot='0' function='0'/></source></hostdev></devices></domain>", "malformed tag" },
        { "unquoted attribute",
          "<domain><devices><hostdev mode=subsystem type='pci'></hostdev></devices></domain>", "malformed tag" },
        { "not a domain",
          "<network><devices><hostdev mode='subsystem' type='pci'/></devices></network>", "not <domain>" },
        { "two roots",
          "<domain/><domain><devices><hostdev mode='subsystem' type='pci'/></devices></domain>", "second root" },
        { "unterminated comment",
          "<domain><devices><hostdev/><!-- </devices></domain>", "unterminated" },
};

static gchar *big_xml(gboolean lt_in_value) {
        GString *s = g_string_new("<domain><name>vm1</name><metadata>");

        for (int i = 0; i < 200; i++)
                g_string_append(s, "<m:x xmlns:m='urn:x'>");
        g_string_append(s, "<m:y v='");
        for (int i = 0; i < 2 * 1024 * 1024 / 64; i++)
                g_string_append(s, lt_in_value ? "<hostdev> &gt; managed=\"no\" bus=0x0b ........................."
                                               : "&lt;hostdev> managed=\"no\" bus=0x0b ..........................");
        g_string_append(s, "'/>");
        for (int i = 0; i < 200; i++)
                g_string_append(s, "</m:x>");
        g_string_append(s, "</metadata><devices><hostdev mode='subsystem' type='pci' managed='no'><source>"
                           "<address domain='0x0000' bus='0x0b' slot='0x00' function='0x1'/></source></hostdev>"
                           "</devices></domain>");
        return g_string_free(s, FALSE);
}

static void test_hostile_xml(void) {
        Harness *h = new_harness();
        g_autofree gchar *path = NULL, *err = NULL, *big = NULL;

        harness_start_daemon(h, no_args);
        path = reserve(h, "vm1", mf_both, NULL);

        /* look-alikes of an unmanaged PCI hostdev of a reserved function,
         * everywhere but /domain/devices/hostdev: nothing happens */
        hook_ok(h, "vm1", "prepare", "begin", lookalikes);
        assert_log_empty(h);
        assert_res_state(h, path, "reserved");
        g_assert_false(g_file_test("/tmp/pwned-hook", G_FILE_TEST_EXISTS));

        for (size_t i = 0; i < G_N_ELEMENTS(broken); i++) {
                g_autofree gchar *e = NULL;

                g_test_message("broken XML: %s", broken[i].what);
                g_assert_cmpint(run_hook(h, "vm1", "prepare", "begin", broken[i].xml, &e), ==, 1);
                assert_contains(e, "pci-assignd hook: domain vm1 (prepare begin): cannot read the domain XML on stdin: ");
                assert_contains(e, broken[i].message);
                g_assert_true(strchr(e, '\n') == e + strlen(e) - 1);   /* one line */
        }
        assert_log_empty(h);
        assert_res_state(h, path, "reserved");

        /* '<' in an attribute value is not well-formed XML: refused */
        big = big_xml(TRUE);
        g_assert_cmpint(run_hook(h, "vm1", "prepare", "begin", big, &err), ==, 1);
        assert_contains(err, "cannot read the domain XML");
        g_clear_pointer(&err, g_free);
        g_clear_pointer(&big, g_free);
        /* a real hostdev after 2 MiB of attribute text and deep nesting in
         * <metadata>: still found, still exact */
        big = big_xml(FALSE);
        hook_ok(h, "vm1", "prepare", "begin", big);
        assert_res_state(h, path, "prepared");
        hook_ok(h, "vm1", "release", "end", big);
        assert_res_state(h, path, "reserved");

        harness_stop_daemon(h);
        harness_free(h);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        if (!g_test_subprocess())
                g_test_set_nonfatal_assertions();
        cases = g_ptr_array_new_with_free_func(g_free);

        ADD("/libvirt-hook/lifecycle", test_lifecycle);
        ADD("/libvirt-hook/owner-forms", test_owner_forms);
        ADD("/libvirt-hook/prepare-fails", test_prepare_fails);
        ADD("/libvirt-hook/foreign", test_foreign);
        ADD("/libvirt-hook/nothing-to-do", test_nothing_to_do);
        ADD("/libvirt-hook/hostile-xml", test_hostile_xml);

        return g_test_run();
}
