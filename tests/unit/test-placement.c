/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <glib.h>
#include <json-c/json.h>
#include <libudev.h>
#include <string.h>
#include <umockdev.h>

#include "macro.h"
#include "placement.h"

/* The topology is the recorded q35 guest (tests/data/testbeds), enumerated
 * in-process through umockdev exactly as the daemon does it; group numbers
 * come from q35-vm.truth.json, never hard-coded.  Reservations are built by
 * hand: placement only reads their fields. */

static UMockdevTestbed *testbed;
static json_object *truth;

static gchar *data_path(const char *rel) {
        const char *dir = g_getenv("PCI_ASSIGND_TEST_DATA");

        if (!dir)
                g_error("PCI_ASSIGND_TEST_DATA is not set (meson test sets it to <source>/tests/data)");
        return g_build_filename(dir, rel, NULL);
}

static Topology *load_topology(void) {
        struct udev *udev;
        struct udev_enumerate *e;
        struct udev_list_entry *item;
        Topology *t;

        t = topology_new();
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

        g_assert_cmpuint(t->n_devices, ==, json_object_array_length(json_object_object_get(truth, "devices")));
        return t;
}

static int truth_group(const char *address) {
        json_object *devs = json_object_object_get(truth, "devices");

        for (size_t i = 0; i < json_object_array_length(devs); i++) {
                json_object *d = json_object_array_get_idx(devs, i);

                if (streq(json_object_get_string(json_object_object_get(d, "address")), address))
                        return json_object_get_int(json_object_object_get(d, "iommu_group"));
        }
        g_error("%s is not in the truth file", address);
}

static PciDevice *device(Topology *t, const char *address) {
        PciAddress a;
        PciDevice *d;

        g_assert_cmpint(pci_address_parse(address, &a), ==, 0);
        d = topology_find(t, &a);
        g_assert_nonnull(d);
        return d;
}

/* Hand-made reservations (placement never calls reservation.c). */

static Reservation *res_new(const char *id) {
        Reservation *r = g_new0(Reservation, 1);

        g_strlcpy(r->id, id, sizeof r->id);
        r->owner = g_strdup("guest");
        r->driver = g_strdup("vfio-pci");
        return r;
}

static void res_add(Reservation *r, const char *address, bool assigned) {
        ReservationFunction *f;

        r->functions = g_renew(ReservationFunction, r->functions, r->n_functions + 1);
        f = &r->functions[r->n_functions++];
        memset(f, 0, sizeof *f);
        g_assert_cmpint(pci_address_parse(address, &f->address), ==, 0);
        f->assigned = assigned;
}

static void res_free(Reservation *r) {
        g_free(r->functions);
        g_free(r->owner);
        g_free(r->driver);
        g_free(r);
}

/* Runs placement_suggest() twice (the output must be byte-identical) and
 * parses the result. */
static json_object *suggest(const Topology *t, const Reservation *r, const char *machine) {
        g_autofree char *a = NULL, *b = NULL;
        json_object *root;

        g_assert_cmpint(placement_suggest(t, r, machine, &a), ==, 0);
        g_assert_nonnull(a);
        g_assert_cmpint(placement_suggest(t, r, machine, &b), ==, 0);
        g_assert_cmpstr(a, ==, b);
        g_test_message("%s:\n%s", machine, a);

        root = json_tokener_parse(a);
        g_assert_nonnull(root);
        g_assert_true(json_object_is_type(root, json_type_object));
        g_assert_cmpstr(json_object_get_string(json_object_object_get(root, "machine")), ==, machine);
        g_assert_cmpstr(json_object_get_string(json_object_object_get(root, "reservation")), ==, r->id);
        return root;
}

static json_object *member(json_object *o, const char *key, json_type type) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                g_error("member \"%s\" missing in %s", key, json_object_to_json_string(o));
        g_assert_true(json_object_is_type(v, type));
        return v;
}

static int64_t get_int(json_object *o, const char *key) {
        return json_object_get_int64(member(o, key, json_type_int));
}

static bool get_bool(json_object *o, const char *key) {
        return json_object_get_boolean(member(o, key, json_type_boolean));
}

static const char *get_str(json_object *o, const char *key) {
        return json_object_get_string(member(o, key, json_type_string));
}

static json_object *get_array(json_object *o, const char *key, size_t n) {
        json_object *a = member(o, key, json_type_array);

        g_assert_cmpuint(json_object_array_length(a), ==, n);
        return a;
}

static json_object *idx(json_object *a, size_t i) {
        json_object *v = json_object_array_get_idx(a, i);

        g_assert_nonnull(v);
        return v;
}

static const char *units_key(const char *machine) {
        return streq(machine, "pseries") ? "phbs" : "root_ports";
}

static void assert_function(json_object *f, const char *host, int slot, int function, bool multifunction) {
        g_assert_cmpstr(get_str(f, "host"), ==, host);
        g_assert_cmpint(get_int(f, "guest_slot"), ==, slot);
        g_assert_cmpint(get_int(f, "guest_function"), ==, function);
        g_assert_cmpint(get_bool(f, "multifunction"), ==, multifunction);
}

/* A note that mentions every one of the given strings. */
static bool has_note(json_object *root, const char *a, const char *b, const char *c) {
        json_object *notes = member(root, "notes", json_type_array);

        for (size_t i = 0; i < json_object_array_length(notes); i++) {
                const char *s = json_object_get_string(idx(notes, i));

                if (strstr(s, a) && (!b || strstr(s, b)) && (!c || strstr(s, c)))
                        return true;
        }
        return false;
}

static void assert_unassigned(json_object *root, const char *a, const char *b) {
        json_object *u = get_array(root, "unassigned", (a != NULL) + (b != NULL));

        if (a)
                g_assert_cmpstr(json_object_get_string(idx(u, 0)), ==, a);
        if (b)
                g_assert_cmpstr(json_object_get_string(idx(u, 1)), ==, b);
}

/* 0b:00.0 + 0b:00.1: one multifunction e1000e behind a root port, one group. */
static void test_multifunction(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("mf");
        json_object *root, *units, *u, *fns;
        bool pseries = streq(machine, "pseries");
        int slot = pseries ? 1 : 0;

        res_add(r, "0000:0b:00.1", true);
        res_add(r, "0000:0b:00.0", true);        /* out of order on purpose */
        root = suggest(t, r, machine);

        units = get_array(root, units_key(machine), 1);
        u = idx(units, 0);
        g_assert_cmpint(get_int(u, "index"), ==, pseries ? 1 : 0);
        g_assert_cmpint(get_int(u, "host_group"), ==, truth_group("0000:0b:00.0"));
        g_assert_cmpint(truth_group("0000:0b:00.0"), ==, truth_group("0000:0b:00.1"));
        g_assert_cmpint(get_int(u, "numa_node"), ==, -1);
        g_assert_false(get_bool(u, "numa_mixed"));
        fns = get_array(u, "functions", 2);
        assert_function(idx(fns, 0), "0000:0b:00.0", slot, 0, true);
        assert_function(idx(fns, 1), "0000:0b:00.1", slot, 1, true);
        for (size_t i = 0; i < 2; i++) {
                g_assert_true(get_bool(idx(fns, i), "present"));
                if (pseries)
                        g_assert_true(get_bool(idx(fns, i), "assigned"));
                else
                        g_assert_null(json_object_object_get(idx(fns, i), "assigned"));
        }
        if (pseries) {
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 2);
                g_assert_null(json_object_object_get(u, "pcie_pci_bridge"));
        } else {
                g_assert_false(get_bool(u, "pcie_pci_bridge"));
                g_assert_null(json_object_object_get(root, "spare_phbs"));
        }
        assert_unassigned(root, NULL, NULL);
        get_array(root, "notes", 0);

        json_object_put(root);
        res_free(r);
        topology_free(t);
}

/* Partial assignment: 0b:00.1 detached with its group but not given. */
static void test_partial(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("partial");
        json_object *root, *u, *fns;
        int slot = streq(machine, "pseries") ? 1 : 0;

        res_add(r, "0000:0b:00.0", true);
        res_add(r, "0000:0b:00.1", false);
        root = suggest(t, r, machine);
        u = idx(get_array(root, units_key(machine), 1), 0);
        g_assert_cmpint(get_int(u, "host_group"), ==, truth_group("0000:0b:00.0"));
        fns = get_array(u, "functions", 1);
        assert_function(idx(fns, 0), "0000:0b:00.0", slot, 0, false);
        assert_unassigned(root, "0000:0b:00.1", NULL);
        get_array(root, "notes", 0);
        json_object_put(root);
        res_free(r);

        /* The other way round: without its function 0 the guest would not
         * find the device, so 0b:00.1 becomes guest function 0. */
        r = res_new("partial1");
        res_add(r, "0000:0b:00.0", false);
        res_add(r, "0000:0b:00.1", true);
        root = suggest(t, r, machine);
        u = idx(get_array(root, units_key(machine), 1), 0);
        fns = get_array(u, "functions", 1);
        assert_function(idx(fns, 0), "0000:0b:00.1", slot, 0, false);
        assert_unassigned(root, "0000:0b:00.0", NULL);
        get_array(root, "notes", 1);
        g_assert_true(has_note(root, "0000:0b:00.1", "guest function 0", NULL));
        json_object_put(root);
        res_free(r);

        /* Nothing of the group assigned: no PHB / root port at all. */
        r = res_new("none");
        res_add(r, "0000:0b:00.0", false);
        res_add(r, "0000:0b:00.1", false);
        root = suggest(t, r, machine);
        get_array(root, units_key(machine), 0);
        assert_unassigned(root, "0000:0b:00.0", "0000:0b:00.1");
        if (streq(machine, "pseries"))
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 2);
        json_object_put(root);
        res_free(r);

        topology_free(t);
}

/* Group 17: two conventional e1000 behind the pcie-pci-bridge 04:00.0. */
static void test_bridge_group(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("bridge");
        json_object *root, *u, *fns;
        bool pseries = streq(machine, "pseries");

        g_assert_cmpint(truth_group("0000:05:01.0"), ==, truth_group("0000:05:02.0"));
        res_add(r, "0000:05:02.0", true);
        res_add(r, "0000:05:01.0", true);
        root = suggest(t, r, machine);
        u = idx(get_array(root, units_key(machine), 1), 0);
        g_assert_cmpint(get_int(u, "host_group"), ==, truth_group("0000:05:01.0"));
        if (!pseries)
                g_assert_true(get_bool(u, "pcie_pci_bridge"));
        /* separate host devices, separate slots from 1 (on the PHB's root
         * bus, or on the bridge's bus) */
        fns = get_array(u, "functions", 2);
        assert_function(idx(fns, 0), "0000:05:01.0", 1, 0, false);
        assert_function(idx(fns, 1), "0000:05:02.0", 2, 0, false);
        /* conventional PCI devices: nothing is lost behind the bridge */
        get_array(root, "notes", 0);
        json_object_put(root);

        /* Only one of them assigned: one device, directly behind the root port. */
        r->functions[0].assigned = false;        /* 05:02.0, added first */
        root = suggest(t, r, machine);
        u = idx(get_array(root, units_key(machine), 1), 0);
        if (!pseries)
                g_assert_false(get_bool(u, "pcie_pci_bridge"));
        fns = get_array(u, "functions", 1);
        assert_function(idx(fns, 0), "0000:05:01.0", pseries ? 1 : 0, 0, false);
        assert_unassigned(root, "0000:05:02.0", NULL);
        json_object_put(root);

        res_free(r);
        topology_free(t);
}

/* Two PCI Express endpoints in one group (made up from the recording:
 * 0a:00.0 moved into the group of 02:00.0): behind a pcie-pci-bridge they
 * lose their extended config space, and the notes say so. */
static void test_pcie_group(void) {
        Topology *t = load_topology();
        Reservation *r = res_new("pcie");
        PciDevice *d, *old = NULL;
        PciAddress a;
        json_object *root, *u, *fns;
        int g = truth_group("0000:02:00.0");

        g_assert_cmpint(pci_address_parse("0000:0a:00.0", &a), ==, 0);
        d = topology_take(t, &a);
        g_assert_nonnull(d);
        g_assert_true(d->config_valid && d->config.pcie);
        d->iommu_group = g;
        g_assert_cmpint(topology_add(t, d, &old), ==, 0);
        g_assert_null(old);

        res_add(r, "0000:02:00.0", true);
        res_add(r, "0000:0a:00.0", true);
        root = suggest(t, r, "q35");
        u = idx(get_array(root, "root_ports", 1), 0);
        g_assert_cmpint(get_int(u, "host_group"), ==, g);
        g_assert_true(get_bool(u, "pcie_pci_bridge"));
        fns = get_array(u, "functions", 2);
        assert_function(idx(fns, 0), "0000:02:00.0", 1, 0, false);
        assert_function(idx(fns, 1), "0000:0a:00.0", 2, 0, false);
        get_array(root, "notes", 2);
        g_assert_true(has_note(root, "0000:02:00.0", "pcie-pci-bridge", "conventional PCI"));
        g_assert_true(has_note(root, "0000:0a:00.0", "pcie-pci-bridge", "conventional PCI"));
        json_object_put(root);

        /* pseries has no bridges: both on the PHB, no note */
        root = suggest(t, r, "pseries");
        u = idx(get_array(root, "phbs", 1), 0);
        fns = get_array(u, "functions", 2);
        assert_function(idx(fns, 0), "0000:02:00.0", 1, 0, false);
        assert_function(idx(fns, 1), "0000:0a:00.0", 2, 0, false);
        get_array(root, "notes", 0);
        json_object_put(root);

        res_free(r);
        topology_free(t);
}

/* NVMe VFs 01:00.1 and 01:00.2: one group each, so two root ports / PHBs;
 * each is function 0 of its own guest slot (no note: that is how VFs are
 * always presented). */
static void test_vfs(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("vfs");
        json_object *root, *units, *u;
        bool pseries = streq(machine, "pseries");
        int slot = pseries ? 1 : 0;

        g_assert_true(device(t, "0000:01:00.1")->is_vf);
        g_assert_cmpint(truth_group("0000:01:00.1"), !=, truth_group("0000:01:00.2"));
        res_add(r, "0000:01:00.2", true);
        res_add(r, "0000:01:00.1", true);
        root = suggest(t, r, machine);
        units = get_array(root, units_key(machine), 2);
        for (size_t i = 0; i < 2; i++) {
                const char *host = i == 0 ? "0000:01:00.1" : "0000:01:00.2";
                json_object *fns;

                u = idx(units, i);
                g_assert_cmpint(get_int(u, "index"), ==, (pseries ? 1 : 0) + (int) i);
                g_assert_cmpint(get_int(u, "host_group"), ==, truth_group(host));
                if (!pseries)
                        g_assert_false(get_bool(u, "pcie_pci_bridge"));
                fns = get_array(u, "functions", 1);
                assert_function(idx(fns, 0), host, slot, 0, false);
        }
        get_array(root, "notes", 0);
        if (pseries)
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 2);
        json_object_put(root);

        /* With their PF 01:00.0: three groups, and no "split device" note:
         * VFs share the PF's slot number only by routing-ID arithmetic,
         * they are not functions of a multifunction device. */
        res_add(r, "0000:01:00.0", true);
        root = suggest(t, r, machine);
        units = get_array(root, units_key(machine), 3);
        u = idx(units, 0);
        g_assert_cmpint(get_int(u, "host_group"), ==, truth_group("0000:01:00.0"));
        assert_function(idx(get_array(u, "functions", 1), 0), "0000:01:00.0", slot, 0, false);
        assert_function(idx(get_array(idx(units, 2), "functions", 1), 0), "0000:01:00.2", slot, 0, false);
        get_array(root, "notes", 0);
        if (pseries)
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 3);
        json_object_put(root);

        res_free(r);
        topology_free(t);
}

/* 00:05.0 + 00:05.1: one multifunction device on the root bus, but the
 * (emulated) IOMMU put each function in its own group.  A group never
 * spans two PHBs and gets one root port, so they cannot share a slot: two
 * separate single-function guest devices, 00:05.1 renumbered to function
 * 0, and a note. */
static void test_split_multifunction(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("split");
        json_object *root, *units, *fns;
        bool pseries = streq(machine, "pseries");
        int slot = pseries ? 1 : 0;
        g_autofree char *g0 = NULL, *g1 = NULL;

        g_assert_true(pci_device_is_multifunction(device(t, "0000:00:05.0")));
        g_assert_cmpint(truth_group("0000:00:05.0"), !=, truth_group("0000:00:05.1"));
        res_add(r, "0000:00:05.0", true);
        res_add(r, "0000:00:05.1", true);
        root = suggest(t, r, machine);
        units = get_array(root, units_key(machine), 2);
        g_assert_cmpint(get_int(idx(units, 0), "host_group"), ==, truth_group("0000:00:05.0"));
        g_assert_cmpint(get_int(idx(units, 1), "host_group"), ==, truth_group("0000:00:05.1"));
        fns = get_array(idx(units, 0), "functions", 1);
        assert_function(idx(fns, 0), "0000:00:05.0", slot, 0, false);
        fns = get_array(idx(units, 1), "functions", 1);
        assert_function(idx(fns, 0), "0000:00:05.1", slot, 0, false);

        g0 = g_strdup_printf("0000:00:05.0 (IOMMU group %d)", truth_group("0000:00:05.0"));
        g1 = g_strdup_printf("0000:00:05.1 (IOMMU group %d)", truth_group("0000:00:05.1"));
        get_array(root, "notes", 2);
        g_assert_true(has_note(root, g0, g1, pseries ? "own PHB" : "own root port"));
        g_assert_true(has_note(root, "0000:00:05.1 is guest function 0", NULL, NULL));
        if (pseries)
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 2);
        json_object_put(root);

        /* Only 00:05.0 assigned: nothing is split, nothing to say. */
        r->functions[1].assigned = false;
        root = suggest(t, r, machine);
        units = get_array(root, units_key(machine), 1);
        fns = get_array(idx(units, 0), "functions", 1);
        assert_function(idx(fns, 0), "0000:00:05.0", slot, 0, false);
        get_array(root, "notes", 0);
        assert_unassigned(root, "0000:00:05.1", NULL);
        json_object_put(root);

        res_free(r);
        topology_free(t);
}

/* Several groups on pseries: PHBs 1.. in host address order (not group
 * order), each tagged with its NUMA node; spares max(2, n). */
static void test_pseries_numa(void) {
        Topology *t = load_topology();
        Reservation *r = res_new("numa");
        json_object *root, *phbs, *p;
        /* in host address order, whatever the group numbers */
        static const struct {
                const char *first;
                int numa, n_functions;
                bool mixed;
        } expect[] = {
                { "0000:01:00.1", 0, 1, false },
                { "0000:01:00.2", 1, 1, false },
                { "0000:05:01.0", 1, 2, false },
                { "0000:0a:00.0", -1, 1, false },        /* unknown: -1, not mixed */
                { "0000:0b:00.0", -1, 2, true },         /* nodes 0 and 1 */
        };

        device(t, "0000:01:00.1")->numa_node = 0;
        device(t, "0000:01:00.2")->numa_node = 1;
        device(t, "0000:05:01.0")->numa_node = 1;
        device(t, "0000:05:02.0")->numa_node = 1;
        device(t, "0000:0b:00.0")->numa_node = 0;
        device(t, "0000:0b:00.1")->numa_node = 1;

        res_add(r, "0000:0b:00.1", true);
        res_add(r, "0000:0b:00.0", true);
        res_add(r, "0000:0a:00.0", true);
        res_add(r, "0000:05:02.0", true);
        res_add(r, "0000:05:01.0", true);
        res_add(r, "0000:01:00.2", true);
        res_add(r, "0000:01:00.1", true);
        root = suggest(t, r, "pseries");
        phbs = get_array(root, "phbs", G_N_ELEMENTS(expect));
        for (size_t i = 0; i < G_N_ELEMENTS(expect); i++) {
                json_object *fns;

                p = idx(phbs, i);
                g_assert_cmpint(get_int(p, "index"), ==, (int) i + 1);
                g_assert_cmpint(get_int(p, "host_group"), ==, truth_group(expect[i].first));
                g_assert_cmpint(get_int(p, "numa_node"), ==, expect[i].numa);
                g_assert_cmpint(get_bool(p, "numa_mixed"), ==, expect[i].mixed);
                fns = get_array(p, "functions", expect[i].n_functions);
                g_assert_cmpstr(get_str(idx(fns, 0), "host"), ==, expect[i].first);
        }
        g_assert_cmpint(get_int(root, "spare_phbs"), ==, 5);
        get_array(root, "notes", 0);
        json_object_put(root);

        /* q35 carries the same NUMA information (for a pxb-pcie) */
        root = suggest(t, r, "q35");
        phbs = get_array(root, "root_ports", 5);
        g_assert_cmpint(get_int(idx(phbs, 0), "index"), ==, 0);
        g_assert_cmpint(get_int(idx(phbs, 0), "numa_node"), ==, 0);
        g_assert_cmpint(get_int(idx(phbs, 4), "numa_node"), ==, -1);
        g_assert_true(get_bool(idx(phbs, 4), "numa_mixed"));
        g_assert_false(get_bool(idx(phbs, 3), "numa_mixed"));
        json_object_put(root);

        res_free(r);
        topology_free(t);
}

/* Spare PHBs: max(2, n), within QEMU's 31 PHBs (index 0 being the default
 * one).  Made-up topology: n functions, one group each. */
static void test_pseries_spare(void) {
        static const struct {
                unsigned n, spare;
                bool note;
        } cases[] = {
                { 0, 2, false }, { 1, 2, false }, { 2, 2, false }, { 3, 3, false },
                { 15, 15, false }, { 20, 10, false }, { 29, 1, false }, { 30, 0, false },
                { 31, 0, true }, { 40, 0, true },
        };

        for (size_t c = 0; c < G_N_ELEMENTS(cases); c++) {
                Topology *t = topology_new();
                Reservation *r = res_new("spare");
                json_object *root, *phbs;

                for (unsigned i = 0; i < cases[c].n; i++) {
                        PciDevice *d = g_new0(PciDevice, 1), *old = NULL;
                        char name[PCI_ADDRESS_STRLEN];

                        /* pci_device_free() frees with free(): g_new0 is malloc */
                        d->address = (PciAddress) { .domain = 0, .bus = (uint8_t) (0x10 + i) };
                        pci_address_format(&d->address, d->name);
                        d->iommu_group = 100 + (int) i;
                        d->numa_node = (int) i % 2;
                        d->sriov_totalvfs = d->sriov_numvfs = -1;
                        g_assert_cmpint(topology_add(t, d, &old), ==, 0);
                        res_add(r, pci_address_format(&d->address, name), true);
                }

                root = suggest(t, r, "pseries");
                phbs = get_array(root, "phbs", cases[c].n);
                if (cases[c].n > 0) {
                        json_object *last = idx(phbs, cases[c].n - 1);

                        g_assert_cmpint(get_int(last, "index"), ==, cases[c].n);
                        g_assert_cmpint(get_int(last, "host_group"), ==, 100 + cases[c].n - 1);
                        g_assert_cmpint(get_int(last, "numa_node"), ==, (cases[c].n - 1) % 2);
                }
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, cases[c].spare);
                g_assert_cmpint(has_note(root, "PHBs are needed", NULL, NULL), ==, cases[c].note);
                json_object_put(root);
                res_free(r);
                topology_free(t);
        }
}

/* A reserved function that is gone from the host keeps its address, has
 * no group and a unit of its own. */
static void test_absent(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("absent");
        json_object *root, *units, *u, *fns;
        bool pseries = streq(machine, "pseries");
        int slot = pseries ? 1 : 0;

        res_add(r, "0000:3f:00.1", true);
        res_add(r, "0000:3f:00.0", true);
        res_add(r, "0000:02:00.0", true);
        res_add(r, "0000:3e:00.0", false);
        root = suggest(t, r, machine);
        units = get_array(root, units_key(machine), 3);

        u = idx(units, 0);
        g_assert_cmpint(get_int(u, "host_group"), ==, truth_group("0000:02:00.0"));
        fns = get_array(u, "functions", 1);
        assert_function(idx(fns, 0), "0000:02:00.0", slot, 0, false);
        g_assert_true(get_bool(idx(fns, 0), "present"));

        /* 3f:00.0 and 3f:00.1: no group known, so not even one slot */
        for (size_t i = 1; i < 3; i++) {
                const char *host = i == 1 ? "0000:3f:00.0" : "0000:3f:00.1";

                u = idx(units, i);
                g_assert_cmpint(get_int(u, "index"), ==, (pseries ? 1 : 0) + (int) i);
                g_assert_cmpint(get_int(u, "host_group"), ==, -1);
                g_assert_cmpint(get_int(u, "numa_node"), ==, -1);
                g_assert_false(get_bool(u, "numa_mixed"));
                fns = get_array(u, "functions", 1);
                assert_function(idx(fns, 0), host, slot, 0, false);
                g_assert_false(get_bool(idx(fns, 0), "present"));
                g_assert_true(has_note(root, host, "not present", NULL));
        }
        g_assert_true(has_note(root, "0000:3f:00.1 is guest function 0", NULL, NULL));
        g_assert_true(has_note(root, "0000:3f:00.0 (IOMMU group -1)", "0000:3f:00.1 (IOMMU group -1)", NULL));
        get_array(root, "notes", 4);
        assert_unassigned(root, "0000:3e:00.0", NULL);
        if (pseries)
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 3);
        json_object_put(root);

        /* absent from the topology altogether */
        root = suggest(NULL, r, machine);
        get_array(root, units_key(machine), 3);
        json_object_put(root);

        res_free(r);
        topology_free(t);
}

static void test_unknown_machine(void) {
        Topology *t = load_topology();
        Reservation *r = res_new("x");
        static const char *const bad[] = { "", "i440fx", "Q35", "q35 ", "pseries-9.0", "virt\n", "spapr" };
        char *s = NULL;

        res_add(r, "0000:0b:00.0", true);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_assert_cmpint(placement_suggest(t, r, bad[i], &s), ==, -EINVAL);
                g_assert_null(s);
        }
        g_assert_cmpint(placement_suggest(t, r, NULL, &s), ==, -EINVAL);
        g_assert_cmpint(placement_suggest(t, NULL, "q35", &s), ==, -EINVAL);
        g_assert_null(s);
        res_free(r);
        topology_free(t);
}

static void test_empty(gconstpointer data) {
        const char *machine = data;
        Topology *t = load_topology();
        Reservation *r = res_new("empty");
        json_object *root;

        root = suggest(t, r, machine);
        get_array(root, units_key(machine), 0);
        get_array(root, "unassigned", 0);
        get_array(root, "notes", 0);
        if (streq(machine, "pseries"))
                g_assert_cmpint(get_int(root, "spare_phbs"), ==, 2);
        json_object_put(root);
        res_free(r);
        topology_free(t);
}

/* The output depends on the set of functions, not on their order in the
 * reservation (the store keeps them sorted; don't rely on it). */
static void test_deterministic(void) {
        static const char *const fns[] = {
                "0000:0b:00.1", "0000:01:00.2", "0000:05:02.0", "0000:00:05.1", "0000:4a:00.0",
                "0000:0b:00.0", "0000:05:01.0", "0000:00:05.0", "0000:01:00.1",
        };
        static const char *const machines[] = { "pseries", "q35", "virt" };
        Topology *t = load_topology();
        Reservation *fwd = res_new("order"), *rev = res_new("order");

        for (size_t i = 0; i < G_N_ELEMENTS(fns); i++) {
                res_add(fwd, fns[i], i != 2);
                res_add(rev, fns[G_N_ELEMENTS(fns) - 1 - i], G_N_ELEMENTS(fns) - 1 - i != 2);
        }
        for (size_t m = 0; m < G_N_ELEMENTS(machines); m++) {
                g_autofree char *a = NULL, *b = NULL;

                g_assert_cmpint(placement_suggest(t, fwd, machines[m], &a), ==, 0);
                g_assert_cmpint(placement_suggest(t, rev, machines[m], &b), ==, 0);
                g_assert_cmpstr(a, ==, b);
        }
        res_free(fwd);
        res_free(rev);
        topology_free(t);
}

static void add_per_machine(const char *name, GTestDataFunc f, bool pseries) {
        static const char *const machines[] = { "pseries", "q35", "virt" };

        for (size_t i = 0; i < G_N_ELEMENTS(machines); i++) {
                g_autofree char *path = NULL;

                if (!pseries && streq(machines[i], "pseries"))
                        continue;
                path = g_strdup_printf("/placement/%s/%s", machines[i], name);
                g_test_add_data_func(path, machines[i], f);
        }
}

int main(int argc, char *argv[]) {
        g_autoptr(GError) error = NULL;
        g_autofree char *file = NULL, *truth_file = NULL;
        int r;

        g_test_init(&argc, &argv, NULL);

        testbed = umockdev_testbed_new();
        file = data_path("testbeds/q35-vm.umockdev");
        g_assert_true(umockdev_testbed_add_from_file(testbed, file, &error));
        g_assert_no_error(error);
        truth_file = data_path("testbeds/q35-vm.truth.json");
        truth = json_object_from_file(truth_file);
        g_assert_nonnull(truth);

        add_per_machine("multifunction", test_multifunction, true);
        add_per_machine("partial", test_partial, true);
        add_per_machine("bridge-group", test_bridge_group, true);
        add_per_machine("vfs", test_vfs, true);
        add_per_machine("split-multifunction", test_split_multifunction, true);
        add_per_machine("absent", test_absent, true);
        add_per_machine("empty", test_empty, true);
        g_test_add_func("/placement/q35/pcie-group", test_pcie_group);
        g_test_add_func("/placement/pseries/numa", test_pseries_numa);
        g_test_add_func("/placement/pseries/spare", test_pseries_spare);
        g_test_add_func("/placement/unknown-machine", test_unknown_machine);
        g_test_add_func("/placement/deterministic", test_deterministic);

        r = g_test_run();

        json_object_put(truth);
        g_object_unref(testbed);
        return r;
}
