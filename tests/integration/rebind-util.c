/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "rebind-util.h"

const char *const no_args[] = { NULL };

gboolean under_wrapper(void) {
        return g_getenv("PCI_ASSIGND_TEST_WRAPPER") != NULL;
}

/* delays injected into the fake kernel: long enough that a daemon under
 * valgrind answers queries well within them */
guint delay_ms(guint ms) {
        return under_wrapper() ? ms * 4 : ms;
}

/* --job-timeout for the bounded-wait tests, and its argument */
guint job_timeout_s(void) {
        return under_wrapper() ? 8 : 2;
}

gchar *job_timeout_arg(void) {
        return g_strdup_printf("--job-timeout=%u", job_timeout_s());
}

/* Information for whoever reads a failure: each case runs in a
 * subprocess whose stdout is not shown (see run_case()), stderr is. */
void note(const char *fmt, ...) {
        g_autofree gchar *text = NULL;
        va_list ap;

        va_start(ap, fmt);
        text = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_printerr("# %s\n", text);
}

/* ---- harness ---- */

Harness *new_harness(void) {
        Harness *h = harness_new("testbeds/q35-vm.umockdev");
        harness_use_fakekernel(h);
        return h;
}

void assert_remote_error(const GError *error, const char *name) {
        g_autofree gchar *remote = NULL;

        if (!error)
                g_error("expected %s, but the call succeeded", name);
        remote = g_dbus_error_get_remote_error(error);
        if (g_strcmp0(remote, name) != 0)
                g_error("expected %s, got %s: %s", name, remote, error->message);
}

void assert_contains(const char *haystack, const char *needle) {
        if (!haystack || !strstr(haystack, needle))
                g_error("expected \"%s\" in \"%s\"", needle, haystack ? haystack : "(null)");
}

/* for messages whose wording the contract gives, but not their case */
void assert_contains_nocase(const char *haystack, const char *needle) {
        g_autofree gchar *h = g_ascii_strdown(haystack ? haystack : "(null)", -1);
        g_autofree gchar *n = g_ascii_strdown(needle, -1);

        if (!strstr(h, n))
                g_error("expected \"%s\" in \"%s\"", needle, haystack ? haystack : "(null)");
}

void assert_ok(const GError *error, const char *what) {
        if (error)
                g_error("%s failed: %s", what, error->message);
}

/* ---- calls ---- */

gchar *reserve(Harness *h, const char *owner, const char *const *assigned, const char *const *unassigned) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        GVariantBuilder opts;
        gchar *path = NULL;

        g_variant_builder_init(&opts, G_VARIANT_TYPE("a{sv}"));
        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                         g_variant_new("(s@a(sb)a{sv})", owner, harness_functions_v(assigned, unassigned), &opts),
                         G_VARIANT_TYPE("(o)"), &error);
        assert_ok(error, "Reserve");
        g_variant_get(r, "(o)", &path);
        return path;
}

/* a method of a reservation; FALSE with *error set on failure */
gboolean res_call(Harness *h, const char *path, const char *method, GVariant *args, GError **error) {
        g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, method, args, NULL, error);
        return r != NULL;
}

void res_ok(Harness *h, const char *path, const char *method, GVariant *args) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *what = g_strdup_printf("%s on %s", method, path);

        res_call(h, path, method, args, &error);
        assert_ok(error, what);
}

void res_fails(Harness *h, const char *path, const char *method, GVariant *args, const char *error_name,
                      gchar **ret_message) {
        g_autoptr(GError) error = NULL;

        g_assert_false(res_call(h, path, method, args, &error));
        assert_remote_error(error, error_name);
        if (ret_message)
                *ret_message = g_strdup(error->message);
}

gboolean mgr_call(Harness *h, const char *method, GVariant *args, GError **error) {
        g_autoptr(GVariant) r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, method, args, NULL, error);
        return r != NULL;
}

void mgr_ok(Harness *h, const char *method, GVariant *args) {
        g_autoptr(GError) error = NULL;

        mgr_call(h, method, args, &error);
        assert_ok(error, method);
}

void mgr_fails(Harness *h, const char *method, GVariant *args, const char *error_name, gchar **ret_message) {
        g_autoptr(GError) error = NULL;

        g_assert_false(mgr_call(h, method, args, &error));
        assert_remote_error(error, error_name);
        if (ret_message)
                *ret_message = g_strdup(error->message);
}

GVariant *get_prop(Harness *h, const char *path, const char *iface, const char *prop) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        GVariant *v;

        r = harness_call(h, path, PROPS_IFACE, "Get", g_variant_new("(ss)", iface, prop), G_VARIANT_TYPE("(v)"),
                         &error);
        assert_ok(error, prop);
        g_variant_get(r, "(v)", &v);
        return v;
}

gchar *get_prop_s(Harness *h, const char *path, const char *iface, const char *prop) {
        g_autoptr(GVariant) v = get_prop(h, path, iface, prop);
        return g_variant_dup_string(v, NULL);
}

gchar *device_path(Harness *h, const char *addr) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        gchar *path;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetDevice", g_variant_new("(s)", addr),
                         G_VARIANT_TYPE("(o)"), &error);
        assert_ok(error, "GetDevice");
        g_variant_get(r, "(o)", &path);
        return path;
}

gchar *dev_prop_s(Harness *h, const char *addr, const char *prop) {
        g_autofree gchar *path = device_path(h, addr);
        return get_prop_s(h, path, DEV_IFACE, prop);
}

gchar *res_state(Harness *h, const char *path) {
        return get_prop_s(h, path, RES_IFACE, "State");
}

gboolean group_viable(Harness *h, guint32 group) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL, v = NULL;
        const char *path;

        r = harness_call(h, MANAGER_PATH, MANAGER_IFACE, "GetGroup", g_variant_new("(u)", group),
                         G_VARIANT_TYPE("(o)"), &error);
        assert_ok(error, "GetGroup");
        g_variant_get(r, "(&o)", &path);
        v = get_prop(h, path, GROUP_IFACE, "Viable");
        return g_variant_get_boolean(v);
}

void assert_res_state(Harness *h, const char *path, const char *state) {
        g_autofree gchar *s = res_state(h, path);
        g_assert_cmpstr(s, ==, state);
}

void assert_dev_prop(Harness *h, const char *addr, const char *prop, const char *value) {
        g_autofree gchar *s = dev_prop_s(h, addr, prop);
        if (g_strcmp0(s, value) != 0)
                g_error("%s.%s is \"%s\", expected \"%s\"", addr, prop, s, value);
}

/* ---- asynchronous calls, with the order in which things happened ---- */

guint64 event_counter;


void on_reply(GObject *source, GAsyncResult *result, gpointer user_data) {
        Pending *p = user_data;

        p->reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), result, &p->error);
        p->seq = ++event_counter;
        p->done = TRUE;
}

void call_async(Harness *h, const char *path, const char *iface, const char *method, GVariant *args,
                       Pending *p) {
        memset(p, 0, sizeof *p);
        g_dbus_connection_call(h->conn, BUS_NAME, path, iface, method, args, NULL, G_DBUS_CALL_FLAGS_NONE,
                               under_wrapper() ? 600000 : 120000, NULL, on_reply, p);
}

void pending_wait(Pending *p, const char *what) {
        harness_wait_for(&p->done, 120000);
        if (!p->done)
                g_error("no reply to %s", what);
}

void pending_clear(Pending *p) {
        g_clear_pointer(&p->reply, g_variant_unref);
        g_clear_error(&p->error);
}

/* ---- signals ---- */


void on_manager_signal(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                              const gchar *signal, GVariant *params, gpointer user_data) {
        Events *ev = user_data;
        gchar *s;

        if (g_str_equal(signal, "ReservationChanged") && g_variant_is_of_type(params, G_VARIANT_TYPE("(ss)"))) {
                const char *id, *state;
                g_variant_get(params, "(&s&s)", &id, &state);
                s = g_strdup_printf("ReservationChanged %s %s", id, state);
        } else if ((g_str_equal(signal, "ReservationAdded") || g_str_equal(signal, "ReservationRemoved")) &&
                   g_variant_is_of_type(params, G_VARIANT_TYPE("(so)"))) {
                const char *id, *opath;
                g_variant_get(params, "(&s&o)", &id, &opath);
                s = g_strdup_printf("%s %s", signal, id);
        } else if (g_str_equal(signal, "DriverChanged") && g_variant_is_of_type(params, G_VARIANT_TYPE("(sss)"))) {
                const char *addr, *old, *new;
                g_variant_get(params, "(&s&s&s)", &addr, &old, &new);
                s = g_strdup_printf("DriverChanged %s %s %s", addr, old, new);
        } else
                s = g_strdup(signal);
        event_counter++;
        g_ptr_array_add(ev->seen, s);
}

void on_properties_changed(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                                  const gchar *signal, GVariant *params, gpointer user_data) {
        Events *ev = user_data;
        g_autoptr(GVariant) changed = NULL, state = NULL;
        const char *on_iface;

        if (!g_variant_is_of_type(params, G_VARIANT_TYPE("(sa{sv}as)")))
                return;
        g_variant_get_child(params, 0, "&s", &on_iface);
        if (!g_str_equal(on_iface, RES_IFACE))
                return;
        changed = g_variant_get_child_value(params, 1);
        state = g_variant_lookup_value(changed, "State", G_VARIANT_TYPE_STRING);
        if (state) {
                event_counter++;
                g_ptr_array_add(ev->seen, g_strdup_printf("State %s %s", path, g_variant_get_string(state, NULL)));
        }
}

void events_init(Events *ev, Harness *h) {
        ev->h = h;
        ev->seen = g_ptr_array_new_with_free_func(g_free);
        ev->sub_manager = g_dbus_connection_signal_subscribe(h->conn, NULL, MANAGER_IFACE, NULL, MANAGER_PATH, NULL,
                                                             G_DBUS_SIGNAL_FLAGS_NONE, on_manager_signal, ev, NULL);
        ev->sub_props = g_dbus_connection_signal_subscribe(h->conn, NULL, PROPS_IFACE, "PropertiesChanged", NULL,
                                                           RES_IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
                                                           on_properties_changed, ev, NULL);
}

void events_done(Events *ev) {
        g_dbus_connection_signal_unsubscribe(ev->h->conn, ev->sub_manager);
        g_dbus_connection_signal_unsubscribe(ev->h->conn, ev->sub_props);
        g_ptr_array_free(ev->seen, TRUE);
}

void events_drain(void) {
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

gboolean events_has(Events *ev, const char *what) {
        for (guint i = 0; i < ev->seen->len; i++)
                if (g_str_equal(ev->seen->pdata[i], what))
                        return TRUE;
        return FALSE;
}

void events_wait(Events *ev, const char *what) {
        gint64 deadline = g_get_monotonic_time() + (under_wrapper() ? 240 : 60) * G_USEC_PER_SEC;

        while (!events_has(ev, what)) {
                if (g_get_monotonic_time() > deadline) {
                        GString *all = g_string_new(NULL);
                        guint from = ev->seen->len > 20 ? ev->seen->len - 20 : 0;
                        for (guint i = from; i < ev->seen->len; i++)
                                g_string_append_printf(all, "\n  %s", (const char *) ev->seen->pdata[i]);
                        g_error("signal \"%s\" not received; got %u signals, the last ones:%s", what,
                                ev->seen->len, all->str);
                }
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
}

void events_clear(Events *ev) {
        events_drain();
        g_ptr_array_set_size(ev->seen, 0);
}

/* ---- the testbed ---- */

void assert_sys_driver(Harness *h, const char *addr, const char *driver) {
        g_autofree gchar *d = harness_sys_driver(h, addr);
        if (g_strcmp0(d, driver) != 0)
                g_error("testbed: %s is bound to \"%s\", expected \"%s\"", addr, d, driver);
}

void assert_sys_override(Harness *h, const char *addr, const char *value) {
        g_autofree gchar *o = harness_sys_read(h, addr, "driver_override");
        if (g_strcmp0(o, value) != 0)
                g_error("testbed: %s/driver_override is \"%s\", expected \"%s\"", addr, o, value);
}

/* given back: on `driver` ("" for none), driver_override cleared */
void assert_host(Harness *h, const char *addr, const char *driver) {
        assert_sys_driver(h, addr, driver);
        assert_sys_override(h, addr, "(null)\n");
}

/* detached the way the contract says: driver_override + driver link */
void assert_vfio(Harness *h, const char *addr) {
        g_autofree gchar *rel = g_strdup_printf("bus/pci/drivers/vfio-pci/%s", addr);
        g_autofree gchar *link = harness_sys_path(h, rel);

        assert_sys_driver(h, addr, "vfio-pci");
        assert_sys_override(h, addr, "vfio-pci\n");
        g_assert_true(g_file_test(link, G_FILE_TEST_IS_SYMLINK));
}

gboolean vfio_node(Harness *h, int group) {
        g_autofree gchar *n = g_strdup_printf("%d", group);
        g_autofree gchar *p = g_build_filename(h->testbed_dir, "dev", "vfio", n, NULL);
        return g_file_test(p, G_FILE_TEST_EXISTS);
}

int reset_count(Harness *h, const char *addr) {
        g_autofree gchar *s = harness_sys_read(h, addr, ".fakekernel_reset_count");
        return s ? atoi(s) : 0;
}

gboolean delayed_write_sleeping(Harness *h) {
        g_autofree gchar *p = harness_sys_path(h, ".fakekernel-delayed");
        return g_file_test(p, G_FILE_TEST_EXISTS);
}

void wait_delayed_write(Harness *h) {
        gint64 deadline = g_get_monotonic_time() + (under_wrapper() ? 240 : 60) * G_USEC_PER_SEC;

        while (!delayed_write_sleeping(h)) {
                if (g_get_monotonic_time() > deadline)
                        g_error("the delayed write never began; fake kernel log:\n%s", harness_fakekernel_log(h));
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
}

void assert_log(Harness *h, const char *expected) {
        g_autofree gchar *log = harness_fakekernel_log(h);
        if (g_strcmp0(log, expected) != 0)
                g_error("fake kernel log:\n%s\nexpected:\n%s", log, expected);
}

void assert_log_empty(Harness *h) {
        assert_log(h, "");
}

/* Moves a function onto `driver` ("" for none) in the testbed before the
 * daemon starts, with the kernel's relative links. */
void testbed_bind(Harness *h, const char *addr, const char *driver) {
        g_autofree gchar *bus_link = NULL, *devdir = NULL, *sys = NULL, *real_sys = NULL, *link = NULL;
        g_autofree gchar *old = NULL, *old_link = NULL;
        const char *rel;
        GString *up = g_string_new(NULL);

        sys = harness_sys_path(h, NULL);
        real_sys = realpath(sys, NULL);
        g_assert_nonnull(real_sys);
        bus_link = g_strdup_printf("%s/bus/pci/devices/%s", sys, addr);
        devdir = realpath(bus_link, NULL);
        g_assert_nonnull(devdir);
        g_assert_true(g_str_has_prefix(devdir, real_sys));
        rel = devdir + strlen(real_sys) + 1;       /* devices/pci0000:00/.../ADDR */
        for (const char *c = rel; *c; c++)
                if (*c == '/')
                        g_string_append(up, "../");
        g_string_append(up, "../");                /* from ADDR/ to sys/ */

        old = harness_sys_driver(h, addr);
        link = g_build_filename(devdir, "driver", NULL);
        if (*old) {
                old_link = g_strdup_printf("%s/bus/pci/drivers/%s/%s", sys, old, addr);
                g_assert_cmpint(g_unlink(link), ==, 0);
                (void) g_unlink(old_link);
        }
        if (*driver) {
                g_autofree gchar *target = g_strdup_printf("%sbus/pci/drivers/%s", up->str, driver);
                g_autofree gchar *back = g_strdup_printf("../../../../%s", rel);
                g_autofree gchar *drv_link = g_strdup_printf("%s/bus/pci/drivers/%s/%s", sys, driver, addr);

                g_assert_cmpint(symlink(target, link), ==, 0);
                g_assert_cmpint(symlink(back, drv_link), ==, 0);
        }
        g_string_free(up, TRUE);
}

/* ---- the state file ---- */

gchar *state_text(Harness *h) {
        g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
        gchar *c = NULL;

        if (!g_file_get_contents(p, &c, NULL, NULL))
                return g_strdup("");
        return c;
}

void write_state(Harness *h, const char *text) {
        g_autofree gchar *p = g_build_filename(h->state_dir, "state.json", NULL);
        g_assert_true(g_file_set_contents(p, text, -1, NULL));
        g_assert_cmpint(g_chmod(p, 0600), ==, 0);
}

/* the reservation object `id` of the state file (a new reference), NULL if none */
json_object *stored_reservation(Harness *h, const char *id) {
        g_autofree gchar *text = state_text(h);
        json_object *doc = json_tokener_parse(text), *list, *found = NULL;

        if (!doc)
                g_error("state file does not parse: %s", text);
        g_assert_true(json_object_object_get_ex(doc, "reservations", &list));
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *r = json_object_array_get_idx(list, i), *rid;
                if (json_object_object_get_ex(r, "id", &rid) && g_str_equal(json_object_get_string(rid), id))
                        found = json_object_get(r);
        }
        json_object_put(doc);
        return found;
}

/* no reservation of the state file has a journal */
void assert_no_journal(Harness *h) {
        g_autofree gchar *text = state_text(h);
        json_object *doc = json_tokener_parse(text), *list;

        if (!doc)
                g_error("state file does not parse: %s", text);
        g_assert_true(json_object_object_get_ex(doc, "reservations", &list));
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *r = json_object_array_get_idx(list, i), *j;
                if (json_object_object_get_ex(r, "journal", &j) && j != NULL)
                        g_error("a journal was left in the state file:\n%s", text);
        }
        json_object_put(doc);
}

void assert_stored_state(Harness *h, const char *id, const char *state) {
        json_object *r = stored_reservation(h, id), *s;

        g_assert_nonnull(r);
        g_assert_true(json_object_object_get_ex(r, "state", &s));
        g_assert_cmpstr(json_object_get_string(s), ==, state);
        json_object_put(r);
}


/* Each case runs in its own subprocess (g_test_trap_subprocess), so that a
 * case that fails (a g_error() anywhere in the helpers) is reported and
 * the others still run; the parent's assertions are non-fatal.  The
 * case's stderr (and the daemon's log) is passed through. */

GPtrArray *cases;

void run_case(gconstpointer data) {
        const Case *c = data;

        if (g_test_subprocess()) {
                c->func(c->data);
                return;
        }
        g_test_trap_subprocess(NULL, (guint64) (under_wrapper() ? 2400 : 600) * G_USEC_PER_SEC,
                               G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
}

void add_case(const char *path, GTestDataFunc func, gconstpointer data) {
        Case *c = g_new0(Case, 1);

        c->func = func;
        c->data = data;
        g_ptr_array_add(cases, c);
        g_test_add_data_func(path, c, run_case);
}

void call_plain(gconstpointer data) {
        ((GTestFunc) (gpointer) data)();
}


