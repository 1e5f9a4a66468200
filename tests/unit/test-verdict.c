/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Assignability verdicts, on the recorded q35 VM (tests/data/testbeds:
 * the umockdev testbed is read in-process exactly as the daemon's
 * manager_enumerate() reads the host, and checked against the truth file
 * written from sysfs in the guest) and on topologies built by hand for
 * what the recording doesn't have (sub-page BARs, boot VGA, no IOMMU,
 * bridges with unreadable config space, deep bridge nesting). */
#include <errno.h>
#include <glib.h>
#include <json-c/json.h>
#include <libudev.h>
#include <stdarg.h>
#include <string.h>
#include <umockdev.h>

#include "macro.h"
#include "topology.h"
#include "verdict.h"

/* ---- the recorded machine ---- */

static Topology *q35;
static json_object *truth;

static char *data_path(const char *name) {
        const char *dir = g_getenv("PCI_ASSIGND_TEST_DATA");

        if (!dir)
                g_error("PCI_ASSIGND_TEST_DATA is not set (meson test sets it to <source>/tests/data)");
        return g_build_filename(dir, name, NULL);
}

/* What src/daemon/manager.c manager_enumerate() does, minus the logging
 * and the hwdb (names don't matter for verdicts). */
static Topology *enumerate_pci(void) {
        Topology *t = topology_new();
        struct udev *udev;
        struct udev_enumerate *e;
        struct udev_list_entry *item;

        g_assert_nonnull(t);
        udev = udev_new();
        g_assert_nonnull(udev);
        e = udev_enumerate_new(udev);
        g_assert_nonnull(e);
        g_assert_cmpint(udev_enumerate_add_match_subsystem(e, "pci"), >=, 0);
        g_assert_cmpint(udev_enumerate_scan_devices(e), >=, 0);
        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                const char *syspath = udev_list_entry_get_name(item);
                struct udev_device *ud;
                PciDevice *d = NULL, *old = NULL;

                ud = udev_device_new_from_syspath(udev, syspath);
                g_assert_nonnull(ud);
                g_assert_cmpint(pci_device_read(syspath, ud, NULL, &d), ==, 0);
                udev_device_unref(ud);
                g_assert_cmpint(topology_add(t, d, &old), ==, 0);
                g_assert_null(old);
        }
        udev_enumerate_unref(e);
        udev_unref(udev);
        return t;
}

static json_object *truth_device(const char *address) {
        json_object *devices, *v;

        g_assert_true(json_object_object_get_ex(truth, "devices", &devices));
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *d = json_object_array_get_idx(devices, i);

                g_assert_true(json_object_object_get_ex(d, "address", &v));
                if (streq(json_object_get_string(v), address))
                        return d;
        }
        g_error("%s is not in the truth file", address);
}

static json_object *jget(json_object *o, const char *k) {
        json_object *v;

        g_assert_true(json_object_object_get_ex(o, k, &v));
        return v;
}

/* Group numbers are whatever the recording kernel assigned: read them. */
static int truth_group(const char *address) {
        return json_object_get_int(jget(truth_device(address), "iommu_group"));
}

static PciDevice *find(const Topology *t, const char *address) {
        PciAddress a;
        PciDevice *d;

        g_assert_cmpint(pci_address_parse(address, &a), ==, 0);
        d = topology_find(t, &a);
        if (!d)
                g_error("%s is not in the topology", address);
        return d;
}

/* ---- verdict helpers ---- */

typedef struct FakeReservation {
        const char *address, *id, *owner;
} FakeReservation;

typedef struct FakeHost {
        const FakeReservation *reservations;
        size_t n_reservations;
        const char *busy_address, *busy_reason;
} FakeHost;

static const char *fake_reserved_by(void *userdata, const PciAddress *a, const char **ret_id) {
        const FakeHost *h = userdata;
        char name[PCI_ADDRESS_STRLEN];

        pci_address_format(a, name);
        for (size_t i = 0; i < h->n_reservations; i++)
                if (streq(h->reservations[i].address, name)) {
                        *ret_id = h->reservations[i].id;
                        return h->reservations[i].owner;
                }
        return NULL;
}

static const char *fake_host_usage(void *userdata, const PciAddress *a) {
        const FakeHost *h = userdata;
        char name[PCI_ADDRESS_STRLEN];

        pci_address_format(a, name);
        return h->busy_address && streq(h->busy_address, name) ? h->busy_reason : NULL;
}

static VerdictContext context(const Topology *t, FakeHost *host) {
        return (VerdictContext) {
                .topology = t,
                .reserved_by = host ? fake_reserved_by : NULL,
                .host_usage = host ? fake_host_usage : NULL,
                .userdata = host,
        };
}

static const char *const error_codes[] = {
        "device-missing", "host-bridge", "bridge", "no-iommu", "reserved-by-other",
        "in-use-by-host", "group-peer-in-use-by-host", "host-usage-unknown", "sub-page-bar", "sriov-pf-with-vfs",
};
static const char *const warning_codes[] = {
        "sub-page-bar-unshared", "no-reset", "bus-reset-only", "group-shared", "boot-vga",
        "host-driver-bound",
};

/* Position of a code in the documented order (errors, then warnings). */
static int code_rank(const char *code, bool *ret_error) {
        for (size_t i = 0; i < ELEMENTSOF(error_codes); i++)
                if (streq(code, error_codes[i])) {
                        *ret_error = true;
                        return (int) i;
                }
        for (size_t i = 0; i < ELEMENTSOF(warning_codes); i++)
                if (streq(code, warning_codes[i])) {
                        *ret_error = false;
                        return (int) (ELEMENTSOF(error_codes) + i);
                }
        g_error("unknown reason code %s", code);
}

/* Invariants every verdict must hold, whatever the device. */
static void check_well_formed(const Verdict *v) {
        bool any_error = false;
        int last = -1;

        for (size_t i = 0; i < v->n_reasons; i++) {
                const Reason *r = &v->reasons[i];
                bool error;
                int rank = code_rank(r->code, &error);

                g_assert_cmpint(rank, >=, last);
                last = rank;
                g_assert_cmpint(r->error, ==, error);
                /* what D-Bus exports per reason is the code's documented severity */
                g_assert_cmpstr(reason_severity(r), ==, verdict_code_severity(r->code));
                any_error = any_error || error;
                g_assert_nonnull(r->text);
                g_assert_cmpuint(strlen(r->text), >, 0);
                g_assert_null(strchr(r->text, '\n'));
        }
        g_assert_cmpint(v->kind, ==,
                        any_error ? VERDICT_NOT_ASSIGNABLE :
                        v->n_reasons > 0 ? VERDICT_ASSIGNABLE_WITH_WARNINGS : VERDICT_ASSIGNABLE);
}

static void compute(const VerdictContext *ctx, const char *address, const char *owner, Verdict *ret) {
        PciAddress a;

        g_assert_cmpint(pci_address_parse(address, &a), ==, 0);
        g_assert_cmpint(verdict_compute(ctx, &a, owner, ret), ==, 0);
        check_well_formed(ret);
}

/* codes: NULL-terminated, exact list in order */
static void assert_codes(const Verdict *v, VerdictKind kind, const char *const *codes) {
        size_t n = 0;

        while (codes[n])
                n++;
        for (size_t i = 0; i < v->n_reasons; i++)
                g_test_message("  %s: %s", v->reasons[i].code, v->reasons[i].text);
        g_assert_cmpuint(v->n_reasons, ==, n);
        for (size_t i = 0; i < n; i++)
                g_assert_cmpstr(v->reasons[i].code, ==, codes[i]);
        g_assert_cmpstr(verdict_kind_to_string(v->kind), ==, verdict_kind_to_string(kind));
}
#define CODES(...) ((const char *const[]) { __VA_ARGS__ __VA_OPT__(,) NULL })

static const char *reason_text(const Verdict *v, const char *code) {
        for (size_t i = 0; i < v->n_reasons; i++)
                if (streq(v->reasons[i].code, code))
                        return v->reasons[i].text;
        g_error("no reason %s", code);
}

static void assert_contains(const char *s, const char *needle) {
        if (!strstr(s, needle))
                g_error("\"%s\" does not contain \"%s\"", s, needle);
}

static void assert_lacks(const char *s, const char *needle) {
        if (strstr(s, needle))
                g_error("\"%s\" contains \"%s\"", s, needle);
}

static void expect(const VerdictContext *ctx, const char *address, const char *owner,
                   VerdictKind kind, const char *const *codes) {
        Verdict v = {};

        g_test_message("%s (owner \"%s\")", address, strempty(owner));
        compute(ctx, address, owner, &v);
        assert_codes(&v, kind, codes);
        verdict_done(&v);
}

static void assert_devices(PciDevice **v, size_t n, const char *const *names) {
        size_t k = 0;

        while (names[k])
                k++;
        for (size_t i = 0; i < n; i++)
                g_test_message("  got %s", v[i]->name);
        g_assert_cmpuint(n, ==, k);
        for (size_t i = 0; i < n; i++)
                g_assert_cmpstr(v[i]->name, ==, names[i]);
}

static void expect_scope(const Topology *t, const char *address, const char *const *names) {
        _cleanup_free_ PciDevice **v = NULL;
        size_t n = 0;

        g_test_message("bus reset scope of %s", address);
        g_assert_cmpint(topology_bus_reset_scope(t, find(t, address), &v, &n), ==, 0);
        assert_devices(v, n, names);
}

static void expect_peers(const Topology *t, const char *address, const char *const *names) {
        _cleanup_free_ PciDevice **v = NULL;
        size_t n = 0;

        g_test_message("group peers of %s", address);
        g_assert_cmpint(topology_group_peers(t, find(t, address), &v, &n), ==, 0);
        assert_devices(v, n, names);
}

/* ---- recorded machine: tests ---- */

static void test_testbed_matches_truth(void) {
        json_object *devices = jget(truth, "devices");

        /* the verdicts below are only as good as the model they are
         * computed on: it must say what the guest's sysfs said */
        g_assert_cmpuint(q35->n_devices, ==, json_object_array_length(devices));
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *td = json_object_array_get_idx(devices, i);
                const char *addr = json_object_get_string(jget(td, "address"));
                const char *driver = json_object_get_string(jget(td, "driver"));
                const char *parent = json_object_get_string(jget(td, "parent"));
                json_object *resets = jget(td, "reset_methods"), *vfs = jget(td, "virtual_functions");
                PciDevice *d = find(q35, addr);

                g_test_message("%s", addr);
                g_assert_cmpint(d->iommu_group, ==, json_object_get_int(jget(td, "iommu_group")));
                g_assert_cmpstr(strempty(d->driver), ==, driver);
                g_assert_cmpint(pci_device_is_bridge(d), ==, json_object_get_boolean(jget(td, "bridge")));
                g_assert_cmphex(d->class_code, ==, json_object_get_int(jget(td, "class")));
                g_assert_cmpint(d->has_reset, ==, json_object_get_boolean(jget(td, "has_reset_file")));
                g_assert_cmpint(d->boot_vga, ==, json_object_get_boolean(jget(td, "boot_vga")));
                g_assert_cmpuint(strv_length(d->reset_methods), ==, json_object_array_length(resets));
                for (size_t k = 0; k < json_object_array_length(resets); k++)
                        g_assert_cmpstr(d->reset_methods[k], ==,
                                        json_object_get_string(json_object_array_get_idx(resets, k)));
                g_assert_cmpint(d->has_parent, ==, *parent != 0);
                if (d->has_parent) {
                        char buf[PCI_ADDRESS_STRLEN];
                        g_assert_cmpstr(pci_address_format(&d->parent, buf), ==, parent);
                }
                g_assert_cmpuint(d->n_virtfns, ==, json_object_array_length(vfs));
                g_assert_true(d->config_valid);
                g_assert_true(d->resources_valid);
        }
}

/* Every recorded function, owner "", nothing reserved, nothing in use by
 * the host: the whole machine's verdicts as a table. */
static void test_testbed_all(void) {
        /* automatic: the compound literals of CODES() are not constants */
        const struct {
                const char *address;
                VerdictKind kind;
                const char *const *codes;
        } table[] = {
                { "0000:00:00.0", VERDICT_NOT_ASSIGNABLE, CODES("host-bridge") },
                /* root-bus RCiEP e1000e, `pm` reset, one per group */
                { "0000:00:02.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:00:03.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:00:05.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:00:05.1", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:00:06.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:00:07.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:00:08.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:00:09.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:00:0a.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:00:0b.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:00:0c.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                /* virtio on the root bus: no reset method at all */
                { "0000:00:1d.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "host-driver-bound") },
                { "0000:00:1e.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "host-driver-bound") },
                /* ICH9: LPC (an ISA bridge, not a PCI bridge), AHCI, SMBus in one group */
                { "0000:00:1f.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "group-shared", "host-driver-bound") },
                { "0000:00:1f.2", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "group-shared", "host-driver-bound") },
                { "0000:00:1f.3", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "group-shared", "host-driver-bound") },
                { "0000:01:00.0", VERDICT_NOT_ASSIGNABLE, CODES("sriov-pf-with-vfs", "host-driver-bound") },
                /* VFs: own groups, no driver, FLR */
                { "0000:01:00.1", VERDICT_ASSIGNABLE, CODES() },
                { "0000:01:00.2", VERDICT_ASSIGNABLE, CODES() },
                { "0000:02:00.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:04:00.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:05:01.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("bus-reset-only", "group-shared", "host-driver-bound") },
                { "0000:05:02.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "group-shared", "host-driver-bound") },
                { "0000:06:00.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:07:00.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                { "0000:07:01.0", VERDICT_NOT_ASSIGNABLE, CODES("bridge") },
                /* behind the switch: the downstream port in the group is
                 * not a peer to detach */
                { "0000:08:00.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:09:00.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:0a:00.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound") },
                { "0000:0b:00.0", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("group-shared", "host-driver-bound") },
                { "0000:0b:00.1", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("group-shared", "host-driver-bound") },
        };
        VerdictContext ctx = context(q35, NULL);

        g_assert_cmpuint(ELEMENTSOF(table), ==, q35->n_devices);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                expect(&ctx, table[i].address, NULL, table[i].kind, table[i].codes);
                /* "" and NULL both mean nobody */
                expect(&ctx, table[i].address, "", table[i].kind, table[i].codes);
        }
}

static void test_testbed_host_bridge(void) {
        VerdictContext ctx = context(q35, NULL);
        Verdict v = {};

        compute(&ctx, "0000:00:00.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("host-bridge"));
        g_assert_true(v.reasons[0].error);
        assert_contains(reason_text(&v, "host-bridge"), "0000:00:00.0");
        verdict_done(&v);
}

static void test_testbed_bridges(void) {
        VerdictContext ctx = context(q35, NULL);
        json_object *devices = jget(truth, "devices");
        unsigned n = 0;

        /* root ports, switch ports, the PCIe-to-PCI bridge: ports stay on
         * pcieport (or no driver), so no host-driver-bound noise either */
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *td = json_object_array_get_idx(devices, i);
                const char *addr = json_object_get_string(jget(td, "address"));
                Verdict v = {};

                if (!json_object_get_boolean(jget(td, "bridge")))
                        continue;
                compute(&ctx, addr, NULL, &v);
                assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("bridge"));
                assert_contains(reason_text(&v, "bridge"), addr);
                verdict_done(&v);
                n++;
        }
        g_assert_cmpuint(n, ==, 11);
}

static void test_testbed_pcie_to_pci_group(void) {
        VerdictContext ctx = context(q35, NULL);
        g_autofree char *g17 = g_strdup_printf("IOMMU group %d", truth_group("0000:05:01.0"));
        g_autofree char *exp = NULL;
        Verdict v = {};

        g_assert_cmpint(truth_group("0000:04:00.0"), ==, truth_group("0000:05:01.0"));
        g_assert_cmpint(truth_group("0000:05:02.0"), ==, truth_group("0000:05:01.0"));

        compute(&ctx, "0000:04:00.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("bridge"));
        verdict_done(&v);

        /* 05:01.0: `bus` only; the bridge's secondary bus also holds 05:02.0 */
        compute(&ctx, "0000:05:01.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS,
                     CODES("bus-reset-only", "group-shared", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "bus-reset-only"), ==,
                        "Secondary bus reset of 0000:04:00.0 also resets 0000:05:02.0");
        exp = g_strdup_printf("%s also holds 0000:05:02.0, which must be detached too", g17);
        g_assert_cmpstr(reason_text(&v, "group-shared"), ==, exp);
        assert_lacks(reason_text(&v, "group-shared"), "0000:04:00.0");
        g_assert_cmpstr(reason_text(&v, "host-driver-bound"), ==,
                        "0000:05:01.0 is bound to host driver e1000, which will be unbound");
        for (size_t i = 0; i < v.n_reasons; i++)
                g_assert_false(v.reasons[i].error);
        verdict_done(&v);

        /* 05:02.0: no reset method and no `reset` file */
        compute(&ctx, "0000:05:02.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS,
                     CODES("no-reset", "group-shared", "host-driver-bound"));
        assert_contains(reason_text(&v, "no-reset"), "0000:05:02.0");
        g_free(exp);
        exp = g_strdup_printf("%s also holds 0000:05:01.0, which must be detached too", g17);
        g_assert_cmpstr(reason_text(&v, "group-shared"), ==, exp);
        verdict_done(&v);

        expect_peers(q35, "0000:05:01.0", CODES("0000:05:02.0"));
        expect_peers(q35, "0000:05:02.0", CODES("0000:05:01.0"));
        /* asked for the bridge itself: both endpoints, not the bridge */
        expect_peers(q35, "0000:04:00.0", CODES("0000:05:01.0", "0000:05:02.0"));
        expect_scope(q35, "0000:05:01.0", CODES("0000:05:02.0"));
        expect_scope(q35, "0000:05:02.0", CODES("0000:05:01.0"));
        /* the root port 00:09.0 covers bus 04 and the bridge's bus 05 */
        expect_scope(q35, "0000:04:00.0", CODES("0000:05:01.0", "0000:05:02.0"));
}

static void test_testbed_multifunction(void) {
        VerdictContext ctx = context(q35, NULL);
        g_autofree char *exp0 = g_strdup_printf("IOMMU group %d also holds 0000:0b:00.1, which must be detached too",
                                                truth_group("0000:0b:00.0"));
        g_autofree char *exp1 = g_strdup_printf("IOMMU group %d also holds 0000:0b:00.0, which must be detached too",
                                                truth_group("0000:0b:00.1"));
        Verdict v = {};

        /* .0 has `pm bus`, .1 `pm`: PM is a real reset, no bus-only warning */
        compute(&ctx, "0000:0b:00.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("group-shared", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "group-shared"), ==, exp0);
        assert_contains(reason_text(&v, "host-driver-bound"), "e1000e");
        verdict_done(&v);

        compute(&ctx, "0000:0b:00.1", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("group-shared", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "group-shared"), ==, exp1);
        g_assert_cmpstr(reason_text(&v, "host-driver-bound"), ==,
                        "0000:0b:00.1 is bound to host driver e1000e, which will be unbound");
        verdict_done(&v);

        /* both functions sit on the root port's secondary bus */
        expect_scope(q35, "0000:0b:00.0", CODES("0000:0b:00.1"));
        expect_peers(q35, "0000:0b:00.0", CODES("0000:0b:00.1"));
}

static void test_testbed_sriov(void) {
        VerdictContext ctx = context(q35, NULL);
        Verdict v = {};

        compute(&ctx, "0000:01:00.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sriov-pf-with-vfs", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "sriov-pf-with-vfs"), ==,
                        "0000:01:00.0 has 2 SR-IOV VFs enabled: 0000:01:00.1 and 0000:01:00.2");
        assert_contains(reason_text(&v, "host-driver-bound"), "nvme");
        verdict_done(&v);

        /* VFs: no driver, FLR, their own groups */
        expect(&ctx, "0000:01:00.1", NULL, VERDICT_ASSIGNABLE, CODES());
        expect(&ctx, "0000:01:00.2", NULL, VERDICT_ASSIGNABLE, CODES());
        expect_peers(q35, "0000:01:00.1", CODES());
        /* VFs hang off the PF's root port in sysfs and sit on its bus */
        expect_scope(q35, "0000:01:00.0", CODES("0000:01:00.1", "0000:01:00.2"));
}

static void test_testbed_root_bus(void) {
        VerdictContext ctx = context(q35, NULL);
        Verdict v = {};

        compute(&ctx, "0000:00:02.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "host-driver-bound"), ==,
                        "0000:00:02.0 is bound to host driver e1000e, which will be unbound");
        verdict_done(&v);
        /* no parent bridge: nothing to reset at the bus level */
        expect_scope(q35, "0000:00:02.0", CODES());
        expect_scope(q35, "0000:00:00.0", CODES());
}

static void test_testbed_switch(void) {
        VerdictContext ctx = context(q35, NULL);

        g_assert_cmpint(truth_group("0000:07:00.0"), ==, truth_group("0000:08:00.0"));
        expect(&ctx, "0000:08:00.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound"));
        expect_peers(q35, "0000:08:00.0", CODES());
        expect_peers(q35, "0000:09:00.0", CODES());

        /* reset at downstream port 07:00.0: bus 08 only, which has nothing
         * but 08:00.0 */
        expect_scope(q35, "0000:08:00.0", CODES());
        expect_scope(q35, "0000:09:00.0", CODES());
        /* one level up, the upstream port 06:00.0 resets the whole switch
         * below it: its other downstream port and both endpoints */
        expect_scope(q35, "0000:07:00.0", CODES("0000:07:01.0", "0000:08:00.0", "0000:09:00.0"));
        /* and the root port above the switch everything from bus 07 to 09 */
        expect_scope(q35, "0000:06:00.0", CODES("0000:07:00.0", "0000:07:01.0", "0000:08:00.0", "0000:09:00.0"));
}

static void test_testbed_reserved(void) {
        static const FakeReservation reservations[] = {
                { "0000:0b:00.0", "web1", "alice" },
                { "0000:0b:00.1", "web1", "alice" },
                { "0000:42:00.0", "gone", "alice" },   /* hot-unplugged */
                { "0000:00:07.0", NULL, "bob" },        /* no id from the callback */
                { "0000:05:02.0", "lab", "carol" },     /* not 05:01.0 of its group */
        };
        FakeHost host = { .reservations = reservations, .n_reservations = ELEMENTSOF(reservations) };
        VerdictContext ctx = context(q35, &host);
        g_autofree char *exp = NULL;
        Verdict v = {};

        compute(&ctx, "0000:0b:00.0", "bob", &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("reserved-by-other", "group-shared", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "reserved-by-other"), ==,
                        "0000:0b:00.0 is reserved by alice (reservation web1)");
        verdict_done(&v);

        /* nobody: still someone else's */
        expect(&ctx, "0000:0b:00.1", NULL, VERDICT_NOT_ASSIGNABLE,
               CODES("reserved-by-other", "group-shared", "host-driver-bound"));
        expect(&ctx, "0000:0b:00.1", "", VERDICT_NOT_ASSIGNABLE,
               CODES("reserved-by-other", "group-shared", "host-driver-bound"));
        /* the owner's own reservation is no conflict */
        expect(&ctx, "0000:0b:00.0", "alice", VERDICT_ASSIGNABLE_WITH_WARNINGS,
               CODES("group-shared", "host-driver-bound"));
        /* owner names compare exactly */
        expect(&ctx, "0000:0b:00.0", "Alice", VERDICT_NOT_ASSIGNABLE,
               CODES("reserved-by-other", "group-shared", "host-driver-bound"));
        /* unreserved functions don't care who asks */
        expect(&ctx, "0000:0a:00.0", "bob", VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound"));

        /* a missing reserved function: missing, and reserved */
        compute(&ctx, "0000:42:00.0", "bob", &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("device-missing", "reserved-by-other"));
        assert_contains(reason_text(&v, "reserved-by-other"), "gone");
        assert_contains(reason_text(&v, "reserved-by-other"), "alice");
        verdict_done(&v);
        expect(&ctx, "0000:42:00.0", "alice", VERDICT_NOT_ASSIGNABLE, CODES("device-missing"));

        /* a group member the reservation does not list (it appeared
         * later): its group is taken all the same */
        compute(&ctx, "0000:05:01.0", "bob", &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE,
                     CODES("reserved-by-other", "bus-reset-only", "group-shared", "host-driver-bound"));
        exp = g_strdup_printf("0000:05:01.0 shares IOMMU group %d with 0000:05:02.0, which is reserved by carol (reservation lab)",
                              truth_group("0000:05:01.0"));
        g_assert_cmpstr(reason_text(&v, "reserved-by-other"), ==, exp);
        verdict_done(&v);
        expect(&ctx, "0000:05:01.0", "carol", VERDICT_ASSIGNABLE_WITH_WARNINGS,
               CODES("bus-reset-only", "group-shared", "host-driver-bound"));
        /* the bridge of that group too (its peers are the endpoints) */
        expect(&ctx, "0000:04:00.0", "bob", VERDICT_NOT_ASSIGNABLE, CODES("bridge", "reserved-by-other"));

        /* a bridge keeps its errors only */
        compute(&ctx, "0000:00:07.0", "alice", &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("bridge", "reserved-by-other"));
        g_assert_cmpstr(reason_text(&v, "reserved-by-other"), ==, "0000:00:07.0 is reserved by bob");
        verdict_done(&v);
}

static void test_testbed_in_use_by_host(void) {
        /* 00:1d.0 is the guest's virtio-9p root filesystem */
        FakeHost host = {
                .busy_address = "0000:00:1d.0",
                .busy_reason = "mounted filesystem / on 9p root",
        };
        VerdictContext ctx = context(q35, &host);
        Verdict v = {};

        compute(&ctx, "0000:00:1d.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("in-use-by-host", "no-reset", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "in-use-by-host"), ==,
                        "The host depends on 0000:00:1d.0: mounted filesystem / on 9p root");
        verdict_done(&v);

        expect(&ctx, "0000:00:1e.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset", "host-driver-bound"));
}

static void test_testbed_missing(void) {
        VerdictContext ctx = context(q35, NULL);
        FakeHost host = { .busy_address = "0000:42:00.0", .busy_reason = "nothing really" };
        VerdictContext ctx2 = context(q35, &host);
        Verdict v = {};

        compute(&ctx, "0000:42:00.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("device-missing"));
        g_assert_cmpstr(reason_text(&v, "device-missing"), ==, "0000:42:00.0 is not present");
        verdict_done(&v);

        /* a different domain with the same bus/devfn as a real function */
        expect(&ctx, "0001:00:02.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("device-missing"));
        /* host usage is not asked about an absent function */
        expect(&ctx2, "0000:42:00.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("device-missing"));
}

/* ---- synthetic topologies ---- */

static PciDevice *dev_new(const char *address, int group) {
        PciDevice *d = calloc(1, sizeof(*d));

        g_assert_nonnull(d);
        g_assert_cmpint(pci_address_parse(address, &d->address), ==, 0);
        pci_address_format(&d->address, d->name);
        d->class_code = 0x020000;             /* Ethernet */
        d->iommu_group = group;
        d->numa_node = -1;
        d->sriov_totalvfs = d->sriov_numvfs = -1;
        d->resources_valid = true;
        /* FLR and nothing else wrong: assignable */
        d->reset_methods = calloc(2, sizeof(char *));
        g_assert_nonnull(d->reset_methods);
        d->reset_methods[0] = strdup("flr");
        g_assert_nonnull(d->reset_methods[0]);
        d->has_reset = true;
        return d;
}

static void dev_set_resets(PciDevice *d, ...) {
        const char *m;
        size_t n = 0;
        va_list ap;

        strv_free(d->reset_methods);
        d->reset_methods = calloc(8, sizeof(char *));
        g_assert_nonnull(d->reset_methods);
        va_start(ap, d);
        while ((m = va_arg(ap, const char *))) {
                g_assert_cmpuint(n, <, 7);
                d->reset_methods[n] = strdup(m);
                g_assert_nonnull(d->reset_methods[n]);
                n++;
        }
        va_end(ap);
        d->has_reset = n > 0;
}

static void dev_set_parent(PciDevice *d, const char *parent) {
        g_assert_cmpint(pci_address_parse(parent, &d->parent), ==, 0);
        d->has_parent = true;
}

static void dev_set_driver(PciDevice *d, const char *driver) {
        free(d->driver);
        d->driver = strdup(driver);
        g_assert_nonnull(d->driver);
}

static void dev_add_bar(PciDevice *d, uint8_t index, uint64_t start, uint64_t size, bool mem) {
        g_assert_cmpuint(d->resources.n_bars, <, PCI_NUM_BARS);
        d->resources.bars[d->resources.n_bars++] = (PciBar) {
                .index = index,
                .start = start,
                .size = size,
                .flags = mem ? PCI_RESOURCE_MEM : PCI_RESOURCE_IO,
                .mem = mem,
        };
}

/* A bridge; sec/sub 0 means its config space could not be read. */
static PciDevice *bridge_new(const char *address, int group, uint8_t sec, uint8_t sub) {
        PciDevice *d = dev_new(address, group);

        d->class_code = 0x060400;
        dev_set_resets(d, NULL);
        dev_set_driver(d, "pcieport");
        if (sec != 0) {
                d->config_valid = true;
                d->config.header_type = 1;
                d->config.bridge = true;
                d->config.secondary_bus = sec;
                d->config.subordinate_bus = sub;
        }
        return d;
}

static PciDevice *add(Topology *t, PciDevice *d) {
        PciDevice *old = NULL;

        g_assert_cmpint(topology_add(t, d, &old), ==, 0);
        g_assert_null(old);
        return d;
}

static void test_synthetic_baseline(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);

        add(t, dev_new("0000:00:01.0", 1));
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE, CODES());
        /* old kernels: a `reset` file but no reset_method */
        dev_set_resets(find(t, "0000:00:01.0"), NULL);
        find(t, "0000:00:01.0")->has_reset = true;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE, CODES());
        find(t, "0000:00:01.0")->has_reset = false;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("no-reset"));
}

static void test_synthetic_sub_page_shared(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *a, *b, *c;
        Verdict v = {};

        /* two functions' 256-byte BARs in one 4 KiB page */
        a = add(t, dev_new("0000:00:01.0", 1));
        dev_add_bar(a, 0, 0xfe000000, 0x100, true);
        dev_add_bar(a, 1, 0xc000, 0x40, false);
        b = add(t, dev_new("0000:00:02.0", 2));
        dev_add_bar(b, 0, 0xfe100000, 0x4000, true);
        dev_add_bar(b, 2, 0xfe000800, 0x100, true);
        /* a page-aligned 4 KiB neighbour right after: not in that page */
        c = add(t, dev_new("0000:00:03.0", 3));
        dev_add_bar(c, 0, 0xfe001000, 0x1000, true);

        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        g_assert_cmpstr(reason_text(&v, "sub-page-bar"), ==,
                        "BAR 0 of 0000:00:01.0 (256 bytes at 0xfe000000) shares a 4096-byte page with BAR 2 of 0000:00:02.0");
        verdict_done(&v);

        compute(&ctx, "0000:00:02.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        g_assert_cmpstr(reason_text(&v, "sub-page-bar"), ==,
                        "BAR 2 of 0000:00:02.0 (256 bytes at 0xfe000800) shares a 4096-byte page with BAR 0 of 0000:00:01.0");
        verdict_done(&v);

        /* c's own BAR fills its page: c is fine */
        expect(&ctx, "0000:00:03.0", NULL, VERDICT_ASSIGNABLE, CODES());

        /* a third sharer is named too, and a function whose resources are
         * unknown is not */
        c = add(t, dev_new("0000:00:04.0", 4));
        dev_add_bar(c, 3, 0xfe000f00, 0x100, true);
        c = add(t, dev_new("0000:00:05.0", 5));
        dev_add_bar(c, 0, 0xfe000c00, 0x100, true);
        c->resources_valid = false;
        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        assert_contains(reason_text(&v, "sub-page-bar"), "with BAR 2 of 0000:00:02.0 and BAR 3 of 0000:00:04.0");
        assert_lacks(reason_text(&v, "sub-page-bar"), "0000:00:05.0");
        verdict_done(&v);
}

static void test_synthetic_sub_page_unshared(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *a, *b;
        Verdict v = {};

        a = add(t, dev_new("0000:00:01.0", 1));
        dev_add_bar(a, 0, 0xfe000000, 0x100, true);
        /* neighbour in the next page */
        b = add(t, dev_new("0000:00:02.0", 2));
        dev_add_bar(b, 0, 0xfe001000, 0x100, true);
        /* small I/O port BARs are never sub-page */
        dev_add_bar(b, 1, 0xc000, 0x20, false);

        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared"));
        g_assert_false(v.reasons[0].error);
        assert_contains(reason_text(&v, "sub-page-bar-unshared"), "BAR 0 of 0000:00:01.0 (256 bytes at 0xfe000000)");
        assert_contains(reason_text(&v, "sub-page-bar-unshared"), "vfio-pci reserves the rest");
        verdict_done(&v);
        expect(&ctx, "0000:00:02.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared"));

        /* two small BARs of the same function in one page: the page is
         * still only that function's; one warning per BAR */
        dev_add_bar(a, 2, 0xfe000100, 0x80, true);
        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared", "sub-page-bar-unshared"));
        assert_contains(v.reasons[0].text, "BAR 0 of");
        assert_contains(v.reasons[1].text, "BAR 2 of");
        verdict_done(&v);
}

static void test_synthetic_unaligned(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *a, *b;
        Verdict v = {};

        /* 8 KiB at 0x...800: big enough but straddles three pages; the
         * last one (0xfe002000) also holds b's BAR */
        a = add(t, dev_new("0000:00:01.0", 1));
        dev_add_bar(a, 0, 0xfe000800, 0x2000, true);
        b = add(t, dev_new("0000:00:02.0", 2));
        dev_add_bar(b, 1, 0xfe002c00, 0x400, true);

        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        assert_contains(reason_text(&v, "sub-page-bar"), "BAR 0 of 0000:00:01.0 (8192 bytes at 0xfe000800)");
        assert_contains(reason_text(&v, "sub-page-bar"), "BAR 1 of 0000:00:02.0");
        verdict_done(&v);

        /* b moved one page further: a's pages hold nothing else */
        b->resources.bars[0].start = 0xfe003000;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared"));
        /* b's BAR starts a page earlier and ends inside a's first page */
        b->resources.bars[0] = (PciBar) { .index = 1, .start = 0xfdfffc00, .size = 0x1000, .mem = true };
        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        assert_contains(reason_text(&v, "sub-page-bar"), "BAR 1 of 0000:00:02.0");
        verdict_done(&v);
        b->resources.bars[0] = (PciBar) { .index = 1, .start = 0xfdfff000, .size = 0x1000, .mem = true };
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared"));
        /* aligned start, size not a page multiple */
        a->resources.bars[0] = (PciBar) { .index = 0, .start = 0xfe000000, .size = 0x1800, .mem = true };
        b->resources.bars[0].start = 0xfe001c00;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
}

static void test_synthetic_page_size(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *a, *b;
        Verdict v = {};

        /* fine with 4 KiB pages, one 64 KiB page on e.g. ppc64le/arm64 */
        a = add(t, dev_new("0000:00:01.0", 1));
        dev_add_bar(a, 0, 0xfe010000, 0x1000, true);
        b = add(t, dev_new("0000:00:02.0", 2));
        dev_add_bar(b, 0, 0xfe014000, 0x4000, true);

        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE, CODES());
        ctx.page_size = 4096;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE, CODES());
        ctx.page_size = 65536;
        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        g_assert_cmpstr(reason_text(&v, "sub-page-bar"), ==,
                        "BAR 0 of 0000:00:01.0 (4096 bytes at 0xfe010000) shares a 65536-byte page with BAR 0 of 0000:00:02.0");
        verdict_done(&v);
}

static void test_synthetic_bar_at_top(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *a, *b;

        /* the last page of the 64-bit space: no wrap-around to page 0 */
        a = add(t, dev_new("0000:00:01.0", 1));
        dev_add_bar(a, 0, UINT64_MAX - 0xff, 0x100, true);
        b = add(t, dev_new("0000:00:02.0", 2));
        dev_add_bar(b, 0, 0x0, 0x100, true);
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared"));
        expect(&ctx, "0000:00:02.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("sub-page-bar-unshared"));
        b->resources.bars[0].start = UINT64_MAX - 0x1ff;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
}

static void test_synthetic_boot_vga(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *g;
        Verdict v = {};

        g = add(t, dev_new("0000:00:02.0", 1));
        g->class_code = 0x030000;
        g->boot_vga = true;
        dev_set_driver(g, "i915");
        compute(&ctx, "0000:00:02.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("boot-vga", "host-driver-bound"));
        g_assert_cmpstr(reason_text(&v, "boot-vga"), ==,
                        "0000:00:02.0 is the boot VGA device, which the host console may be using");
        verdict_done(&v);
}

static void test_synthetic_sriov(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *pf;
        Verdict v = {};

        pf = add(t, dev_new("0000:3b:00.0", 1));
        pf->sriov_totalvfs = 8;
        pf->sriov_numvfs = 0;
        expect(&ctx, "0000:3b:00.0", NULL, VERDICT_ASSIGNABLE, CODES());

        /* just enabled: sriov_numvfs says 4, no virtfn link yet */
        pf->sriov_numvfs = 4;
        compute(&ctx, "0000:3b:00.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sriov-pf-with-vfs"));
        g_assert_cmpstr(reason_text(&v, "sriov-pf-with-vfs"), ==, "0000:3b:00.0 has 4 SR-IOV VFs enabled");
        verdict_done(&v);

        pf->sriov_numvfs = 1;
        compute(&ctx, "0000:3b:00.0", NULL, &v);
        g_assert_cmpstr(reason_text(&v, "sriov-pf-with-vfs"), ==, "0000:3b:00.0 has 1 SR-IOV VF enabled");
        verdict_done(&v);

        /* links present */
        pf->virtfns = calloc(3, sizeof(PciAddress));
        g_assert_nonnull(pf->virtfns);
        g_assert_cmpint(pci_address_parse("0000:3b:02.0", &pf->virtfns[0]), ==, 0);
        g_assert_cmpint(pci_address_parse("0000:3b:02.1", &pf->virtfns[1]), ==, 0);
        g_assert_cmpint(pci_address_parse("0000:3b:02.2", &pf->virtfns[2]), ==, 0);
        pf->n_virtfns = 3;
        pf->sriov_numvfs = 3;
        compute(&ctx, "0000:3b:00.0", NULL, &v);
        g_assert_cmpstr(reason_text(&v, "sriov-pf-with-vfs"), ==,
                        "0000:3b:00.0 has 3 SR-IOV VFs enabled: 0000:3b:02.0, 0000:3b:02.1 and 0000:3b:02.2");
        verdict_done(&v);
}

static void test_synthetic_no_iommu(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        Verdict v = {};

        add(t, dev_new("0000:00:19.0", -1));
        dev_set_driver(find(t, "0000:00:19.0"), "e1000e");
        compute(&ctx, "0000:00:19.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("no-iommu", "host-driver-bound"));
        assert_contains(reason_text(&v, "no-iommu"), "0000:00:19.0");
        /* and what to do about it */
        assert_contains(reason_text(&v, "no-iommu"), "intel_iommu=on");
        assert_contains(reason_text(&v, "no-iommu"), "VT-d");
        assert_contains(reason_text(&v, "no-iommu"), "iommu=pt");
        verdict_done(&v);
        /* no group: no peers, and no crash looking for them */
        expect_peers(t, "0000:00:19.0", CODES());
}

static void test_synthetic_drivers(void) {
        static const struct {
                const char *driver;
                bool warn;
        } table[] = {
                { "vfio-pci", false },
                { "mlx5_vfio_pci", false },
                { "pci-stub", false },
                { "e1000e", true },
                { "pcieport", true },   /* on an endpoint: a host driver like any other */
        };
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *d = add(t, dev_new("0000:00:01.0", 1));

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                dev_set_driver(d, table[i].driver);
                if (table[i].warn)
                        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("host-driver-bound"));
                else
                        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE, CODES());
        }
}

static void test_synthetic_reset_methods(void) {
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, NULL);
        PciDevice *d;
        Verdict v = {};

        add(t, bridge_new("0000:00:1c.0", 1, 0x02, 0x02));
        d = add(t, dev_new("0000:02:00.0", 2));
        dev_set_parent(d, "0000:00:1c.0");

        dev_set_resets(d, "flr", "bus", NULL);
        expect(&ctx, "0000:02:00.0", NULL, VERDICT_ASSIGNABLE, CODES());
        dev_set_resets(d, "pm", NULL);
        expect(&ctx, "0000:02:00.0", NULL, VERDICT_ASSIGNABLE, CODES());

        /* alone behind its port */
        dev_set_resets(d, "bus", NULL);
        compute(&ctx, "0000:02:00.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("bus-reset-only"));
        g_assert_cmpstr(reason_text(&v, "bus-reset-only"), ==,
                        "Secondary bus reset of 0000:00:1c.0 is the only reset and hits no other function");
        verdict_done(&v);

        dev_set_resets(d, "cxl_bus", NULL);
        expect(&ctx, "0000:02:00.0", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("bus-reset-only"));

        /* neighbours in another group: both named */
        add(t, dev_new("0000:02:00.1", 3));
        add(t, dev_new("0000:02:00.2", 4));
        dev_set_resets(d, "bus", "cxl_bus", NULL);
        compute(&ctx, "0000:02:00.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("bus-reset-only"));
        g_assert_cmpstr(reason_text(&v, "bus-reset-only"), ==,
                        "Secondary bus reset of 0000:00:1c.0 also resets 0000:02:00.1 and 0000:02:00.2");
        verdict_done(&v);

        /* a `bus` method with no parent bridge in the model */
        d = add(t, dev_new("0000:00:03.0", 5));
        dev_set_resets(d, "bus", NULL);
        compute(&ctx, "0000:00:03.0", NULL, &v);
        assert_codes(&v, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("bus-reset-only"));
        assert_contains(reason_text(&v, "bus-reset-only"), "0000:00:03.0");
        verdict_done(&v);
}

/* Every code a non-bridge can get at once, to pin down the order. */
static void test_synthetic_order(void) {
        static const FakeReservation reservations[] = {
                { "0000:00:01.0", "r1", "alice" },
                { "0000:02:00.0", "r2", "alice" },
        };
        FakeHost host = {
                .reservations = reservations,
                .n_reservations = ELEMENTSOF(reservations),
                .busy_address = "0000:00:01.0",
                .busy_reason = "it drives the console",
        };
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, &host);
        PciDevice *d, *o;

        d = add(t, dev_new("0000:00:01.0", -1));
        d->class_code = 0x030000;
        d->boot_vga = true;
        dev_set_driver(d, "amdgpu");
        dev_set_resets(d, NULL);
        dev_add_bar(d, 0, 0xfe000000, 0x100, true);   /* shared with o */
        dev_add_bar(d, 2, 0xfe100000, 0x100, true);   /* alone */
        dev_add_bar(d, 4, 0xfe201000, 0x100, true);   /* shared with o */
        d->sriov_totalvfs = 4;
        d->sriov_numvfs = 2;
        o = add(t, dev_new("0000:00:02.0", 7));
        dev_add_bar(o, 0, 0xfe000100, 0x100, true);
        dev_add_bar(o, 1, 0xfe201800, 0x100, true);

        expect(&ctx, "0000:00:01.0", "bob", VERDICT_NOT_ASSIGNABLE,
               CODES("no-iommu", "reserved-by-other", "in-use-by-host", "sub-page-bar", "sub-page-bar",
                     "sriov-pf-with-vfs", "sub-page-bar-unshared", "no-reset", "boot-vga", "host-driver-bound"));

        /* the other reset/group pair, behind a bridge */
        add(t, bridge_new("0000:00:1c.0", 8, 0x02, 0x02));
        d = add(t, dev_new("0000:02:00.0", 9));
        dev_set_parent(d, "0000:00:1c.0");
        dev_set_resets(d, "bus", NULL);
        dev_set_driver(d, "snd_hda_intel");
        dev_add_bar(d, 0, 0xfe300000, 0x100, true);
        d->sriov_numvfs = 1;
        o = add(t, dev_new("0000:02:00.1", 9));
        dev_set_parent(o, "0000:00:1c.0");
        expect(&ctx, "0000:02:00.0", "bob", VERDICT_NOT_ASSIGNABLE,
               CODES("reserved-by-other", "sriov-pf-with-vfs", "sub-page-bar-unshared", "bus-reset-only",
                     "group-shared", "host-driver-bound"));
        expect(&ctx, "0000:02:00.0", "alice", VERDICT_NOT_ASSIGNABLE,
               CODES("sriov-pf-with-vfs", "sub-page-bar-unshared", "bus-reset-only", "group-shared",
                     "host-driver-bound"));
}

/* A bridge or host bridge gets errors only, however much else is wrong. */
/* A group holding the root disk's controller and another endpoint: the
 * other one is detached with it, so it is not assignable either. */
static void test_synthetic_group_peer_in_use(void) {
        _cleanup_topology_ Topology *t = topology_new();
        FakeHost host = { .busy_address = "0000:03:00.0", .busy_reason = "mounted filesystem / from /dev/nvme0n1p2 (259:2)" };
        VerdictContext ctx = context(t, &host);
        Verdict v = {};

        add(t, bridge_new("0000:00:1c.0", 7, 3, 3));
        add(t, dev_new("0000:03:00.0", 7));
        add(t, dev_new("0000:03:00.1", 7));
        add(t, dev_new("0000:04:00.0", 8));
        dev_set_parent(find(t, "0000:03:00.0"), "0000:00:1c.0");
        dev_set_parent(find(t, "0000:03:00.1"), "0000:00:1c.0");

        compute(&ctx, "0000:03:00.1", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("group-peer-in-use-by-host", "group-shared"));
        g_assert_cmpstr(reason_text(&v, "group-peer-in-use-by-host"), ==,
                        "IOMMU group 7 also holds 0000:03:00.0 (mounted filesystem / from /dev/nvme0n1p2 (259:2)), "
                        "which the host depends on and which would be detached with 0000:03:00.1");
        verdict_done(&v);
        /* the busy one itself: its own reason, no peer reason about itself */
        expect(&ctx, "0000:03:00.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("in-use-by-host", "group-shared"));
        /* another group: untouched */
        expect(&ctx, "0000:04:00.0", NULL, VERDICT_ASSIGNABLE, CODES());

        /* a busy bridge in the group is no peer: it stays on its driver */
        host.busy_address = "0000:00:1c.0";
        expect(&ctx, "0000:03:00.1", NULL, VERDICT_ASSIGNABLE_WITH_WARNINGS, CODES("group-shared"));
}

static void test_synthetic_host_usage_unknown(void) {
        _cleanup_topology_ Topology *t = topology_new();
        FakeHost host = {};
        VerdictContext ctx = context(t, &host);
        Verdict v = {};

        add(t, dev_new("0000:00:01.0", 1));
        add(t, bridge_new("0000:00:1c.0", 2, 3, 3));
        ctx.host_usage_unknown = "/proc/self/mountinfo could not be read";
        compute(&ctx, "0000:00:01.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("host-usage-unknown"));
        g_assert_cmpstr(reason_text(&v, "host-usage-unknown"), ==,
                        "Whether the host depends on 0000:00:01.0 is not known: /proc/self/mountinfo could not be read");
        verdict_done(&v);
        /* a bridge keeps its own error only */
        expect(&ctx, "0000:00:1c.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("bridge"));
        ctx.host_usage_unknown = NULL;
        expect(&ctx, "0000:00:01.0", NULL, VERDICT_ASSIGNABLE, CODES());
}

static void test_code_severity(void) {
        for (size_t i = 0; i < ELEMENTSOF(error_codes); i++)
                g_assert_cmpstr(verdict_code_severity(error_codes[i]), ==, "blocking");
        for (size_t i = 0; i < ELEMENTSOF(warning_codes); i++)
                g_assert_cmpstr(verdict_code_severity(warning_codes[i]), ==, "warning");
        g_assert_null(verdict_code_severity("no-such-code"));
        g_assert_null(verdict_code_severity(""));
        g_assert_null(verdict_code_severity(NULL));
}

static void test_synthetic_infrastructure(void) {
        static const FakeReservation reservations[] = {
                { "0000:00:00.0", "r1", "alice" },
        };
        FakeHost host = {
                .reservations = reservations,
                .n_reservations = ELEMENTSOF(reservations),
                .busy_address = "0000:00:00.0",
                .busy_reason = "it is the host bridge",
        };
        _cleanup_topology_ Topology *t = topology_new();
        VerdictContext ctx = context(t, &host);
        PciDevice *h, *b;
        Verdict v = {};

        /* a (nonsensical) host bridge with a type 1 header: both codes */
        h = add(t, bridge_new("0000:00:00.0", -1, 0x01, 0x01));
        h->class_code = 0x060000;
        dev_add_bar(h, 0, 0xfe000000, 0x100, true);
        expect(&ctx, "0000:00:00.0", NULL, VERDICT_NOT_ASSIGNABLE,
               CODES("host-bridge", "bridge", "no-iommu", "reserved-by-other", "in-use-by-host"));

        /* a bridge with a sub-page BAR sharing a page, no reset, a group
         * peer and a host driver: still just `bridge` */
        b = add(t, bridge_new("0000:00:1c.0", 3, 0x02, 0x02));
        dev_add_bar(b, 0, 0xfe000800, 0x100, true);
        add(t, dev_new("0000:00:1f.0", 3));
        expect(&ctx, "0000:00:1c.0", NULL, VERDICT_NOT_ASSIGNABLE, CODES("bridge"));
        /* their BARs are not checked, but they count against an endpoint
         * whose small BAR shares their page */
        b = add(t, dev_new("0000:00:1d.0", 4));
        dev_add_bar(b, 0, 0xfe000c00, 0x100, true);
        compute(&ctx, "0000:00:1d.0", NULL, &v);
        assert_codes(&v, VERDICT_NOT_ASSIGNABLE, CODES("sub-page-bar"));
        assert_contains(reason_text(&v, "sub-page-bar"), "with BAR 0 of 0000:00:00.0 and BAR 0 of 0000:00:1c.0");
        verdict_done(&v);
        /* and the group peer of a bridge excludes it */
        expect_peers(t, "0000:00:1f.0", CODES());
}

/* Bridge config space unknown (an unprivileged read sees no bus numbers,
 * or the read failed): the scope comes from the sysfs parent chain. */
static void test_scope_config_unknown(void) {
        _cleanup_topology_ Topology *t = topology_new();
        PciDevice *d;

        /* 00:1c.0 -> { 01:00.0, 01:00.1 (bridge) -> 02:00.0 }, 00:1d.0 -> 03:00.0 */
        add(t, bridge_new("0000:00:1c.0", 1, 0, 0));
        add(t, bridge_new("0000:00:1d.0", 2, 0, 0));
        d = add(t, dev_new("0000:01:00.0", 3));
        dev_set_parent(d, "0000:00:1c.0");
        d = add(t, bridge_new("0000:01:00.1", 3, 0, 0));
        dev_set_parent(d, "0000:00:1c.0");
        d = add(t, dev_new("0000:02:00.0", 3));
        dev_set_parent(d, "0000:01:00.1");
        d = add(t, dev_new("0000:03:00.0", 4));
        dev_set_parent(d, "0000:00:1d.0");
        /* its parent bridge is not in the model: the chain breaks there */
        d = add(t, dev_new("0000:05:00.0", 5));
        dev_set_parent(d, "0000:04:00.0");

        g_assert_true(pci_device_is_bridge(find(t, "0000:00:1c.0")));
        g_assert_false(find(t, "0000:00:1c.0")->config_valid);
        expect_scope(t, "0000:01:00.0", CODES("0000:01:00.1", "0000:02:00.0"));
        expect_scope(t, "0000:01:00.1", CODES("0000:01:00.0", "0000:02:00.0"));
        expect_scope(t, "0000:02:00.0", CODES());
        expect_scope(t, "0000:03:00.0", CODES());
        /* the parent is gone, its children found by address all the same */
        expect_scope(t, "0000:05:00.0", CODES());
        d = add(t, dev_new("0000:05:00.1", 6));
        dev_set_parent(d, "0000:04:00.0");
        expect_scope(t, "0000:05:00.0", CODES("0000:05:00.1"));
}

/* Config space known: the subordinate range, deeper buses included. */
static void test_scope_nested(void) {
        _cleanup_topology_ Topology *t = topology_new();
        PciDevice *d;

        /* root port 00:1c.0 [01-04] -> upstream 01:00.0 [02-04] ->
         * downstream 02:00.0 [03] -> 03:00.0, 03:00.1
         * downstream 02:01.0 [04] -> 04:00.0
         * root port 00:1d.0 [05] -> 05:00.0
         * and 0001:02:00.0, in the bus range but another domain */
        add(t, bridge_new("0000:00:1c.0", 1, 0x01, 0x04));
        d = add(t, bridge_new("0000:01:00.0", 2, 0x02, 0x04));
        dev_set_parent(d, "0000:00:1c.0");
        d = add(t, bridge_new("0000:02:00.0", 3, 0x03, 0x03));
        dev_set_parent(d, "0000:01:00.0");
        d = add(t, bridge_new("0000:02:01.0", 4, 0x04, 0x04));
        dev_set_parent(d, "0000:01:00.0");
        d = add(t, dev_new("0000:03:00.0", 3));
        dev_set_parent(d, "0000:02:00.0");
        d = add(t, dev_new("0000:03:00.1", 3));
        dev_set_parent(d, "0000:02:00.0");
        d = add(t, dev_new("0000:04:00.0", 4));
        dev_set_parent(d, "0000:02:01.0");
        add(t, bridge_new("0000:00:1d.0", 5, 0x05, 0x05));
        d = add(t, dev_new("0000:05:00.0", 6));
        dev_set_parent(d, "0000:00:1d.0");
        d = add(t, bridge_new("0001:00:00.0", 7, 0x01, 0x04));
        d = add(t, dev_new("0001:02:00.0", 8));
        dev_set_parent(d, "0001:00:00.0");

        expect_scope(t, "0000:01:00.0",
                     CODES("0000:02:00.0", "0000:02:01.0", "0000:03:00.0", "0000:03:00.1", "0000:04:00.0"));
        expect_scope(t, "0000:02:00.0", CODES("0000:02:01.0", "0000:03:00.0", "0000:03:00.1", "0000:04:00.0"));
        expect_scope(t, "0000:03:00.0", CODES("0000:03:00.1"));
        expect_scope(t, "0000:04:00.0", CODES());
        expect_scope(t, "0000:05:00.0", CODES());
        expect_scope(t, "0000:00:1c.0", CODES());
        expect_scope(t, "0001:02:00.0", CODES());

        /* the range is what counts, not the sysfs parent: a function on
         * bus 04 whose parent link is odd is hit all the same */
        d = add(t, dev_new("0000:04:00.1", 4));
        expect_scope(t, "0000:03:00.0", CODES("0000:03:00.1"));
        expect_scope(t, "0000:02:00.0",
                     CODES("0000:02:01.0", "0000:03:00.0", "0000:03:00.1", "0000:04:00.0", "0000:04:00.1"));
}

/* Config readable but not describing d's bus (an unconfigured bridge, bus
 * numbers 0): fall back to the sysfs chain rather than trust it. */
static void test_scope_inconsistent_config(void) {
        _cleanup_topology_ Topology *t = topology_new();
        PciDevice *p, *d;

        p = add(t, bridge_new("0000:00:1c.0", 1, 0x07, 0x07));
        d = add(t, dev_new("0000:02:00.0", 2));
        dev_set_parent(d, "0000:00:1c.0");
        d = add(t, dev_new("0000:02:00.1", 2));
        dev_set_parent(d, "0000:00:1c.0");
        add(t, dev_new("0000:07:00.0", 3));   /* in the claimed range, not below */

        expect_scope(t, "0000:02:00.0", CODES("0000:02:00.1"));
        p->config.secondary_bus = 0;
        p->config.subordinate_bus = 0;
        expect_scope(t, "0000:02:00.0", CODES("0000:02:00.1"));
        p->config.secondary_bus = 0x03;
        p->config.subordinate_bus = 0x02;
        expect_scope(t, "0000:02:00.0", CODES("0000:02:00.1"));
}

static void test_kind_to_string(void) {
        g_assert_cmpstr(verdict_kind_to_string(VERDICT_ASSIGNABLE), ==, "assignable");
        g_assert_cmpstr(verdict_kind_to_string(VERDICT_ASSIGNABLE_WITH_WARNINGS), ==, "assignable-with-warnings");
        g_assert_cmpstr(verdict_kind_to_string(VERDICT_NOT_ASSIGNABLE), ==, "not-assignable");
        g_assert_null(verdict_kind_to_string((VerdictKind) 42));
}

static void test_invalid(void) {
        VerdictContext ctx = {};
        PciAddress a = {};
        Verdict v = { .kind = VERDICT_ASSIGNABLE_WITH_WARNINGS, .n_reasons = 7 };

        /* no topology: refused, the verdict untouched */
        g_assert_cmpint(verdict_compute(&ctx, &a, NULL, &v), ==, -EINVAL);
        g_assert_cmpint(v.kind, ==, VERDICT_ASSIGNABLE_WITH_WARNINGS);
        g_assert_cmpuint(v.n_reasons, ==, 7);
        g_assert_null(v.reasons);
        g_assert_cmpint(verdict_compute(NULL, &a, NULL, &v), ==, -EINVAL);

        /* done is idempotent and NULL-safe */
        v = (Verdict) {};
        verdict_done(&v);
        verdict_done(&v);
        verdict_done(NULL);
}

int main(int argc, char **argv) {
        g_autoptr(GError) error = NULL;
        g_autofree char *testbed_file = NULL, *truth_file = NULL;
        UMockdevTestbed *testbed;
        int r;

        g_test_init(&argc, &argv, NULL);

        /* With libumockdev-preload, /sys of this process is the testbed
         * from here on. */
        testbed = umockdev_testbed_new();
        testbed_file = data_path("testbeds/q35-vm.umockdev");
        if (!umockdev_testbed_add_from_file(testbed, testbed_file, &error))
                g_error("%s: %s", testbed_file, error->message);
        truth_file = data_path("testbeds/q35-vm.truth.json");
        truth = json_object_from_file(truth_file);
        if (!truth)
                g_error("cannot parse %s", truth_file);
        q35 = enumerate_pci();

        g_test_add_func("/verdict/testbed/matches-truth", test_testbed_matches_truth);
        g_test_add_func("/verdict/testbed/all", test_testbed_all);
        g_test_add_func("/verdict/testbed/host-bridge", test_testbed_host_bridge);
        g_test_add_func("/verdict/testbed/bridges", test_testbed_bridges);
        g_test_add_func("/verdict/testbed/pcie-to-pci-group", test_testbed_pcie_to_pci_group);
        g_test_add_func("/verdict/testbed/multifunction", test_testbed_multifunction);
        g_test_add_func("/verdict/testbed/sriov", test_testbed_sriov);
        g_test_add_func("/verdict/testbed/root-bus", test_testbed_root_bus);
        g_test_add_func("/verdict/testbed/switch", test_testbed_switch);
        g_test_add_func("/verdict/testbed/reserved", test_testbed_reserved);
        g_test_add_func("/verdict/testbed/in-use-by-host", test_testbed_in_use_by_host);
        g_test_add_func("/verdict/testbed/missing", test_testbed_missing);
        g_test_add_func("/verdict/synthetic/baseline", test_synthetic_baseline);
        g_test_add_func("/verdict/synthetic/sub-page-shared", test_synthetic_sub_page_shared);
        g_test_add_func("/verdict/synthetic/sub-page-unshared", test_synthetic_sub_page_unshared);
        g_test_add_func("/verdict/synthetic/unaligned", test_synthetic_unaligned);
        g_test_add_func("/verdict/synthetic/page-size", test_synthetic_page_size);
        g_test_add_func("/verdict/synthetic/bar-at-top", test_synthetic_bar_at_top);
        g_test_add_func("/verdict/synthetic/boot-vga", test_synthetic_boot_vga);
        g_test_add_func("/verdict/synthetic/sriov", test_synthetic_sriov);
        g_test_add_func("/verdict/synthetic/no-iommu", test_synthetic_no_iommu);
        g_test_add_func("/verdict/synthetic/group-peer-in-use-by-host", test_synthetic_group_peer_in_use);
        g_test_add_func("/verdict/synthetic/host-usage-unknown", test_synthetic_host_usage_unknown);
        g_test_add_func("/verdict/code-severity", test_code_severity);
        g_test_add_func("/verdict/synthetic/drivers", test_synthetic_drivers);
        g_test_add_func("/verdict/synthetic/reset-methods", test_synthetic_reset_methods);
        g_test_add_func("/verdict/synthetic/order", test_synthetic_order);
        g_test_add_func("/verdict/synthetic/infrastructure", test_synthetic_infrastructure);
        g_test_add_func("/verdict/scope/config-unknown", test_scope_config_unknown);
        g_test_add_func("/verdict/scope/nested", test_scope_nested);
        g_test_add_func("/verdict/scope/inconsistent-config", test_scope_inconsistent_config);
        g_test_add_func("/verdict/kind-to-string", test_kind_to_string);
        g_test_add_func("/verdict/invalid", test_invalid);

        r = g_test_run();

        topology_free(q35);
        json_object_put(truth);
        g_object_unref(testbed);
        return r;
}
