/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the integration tests of rebinding and lifecycle (test-rebind,
 * test-lifecycle) share: calls, properties, signals, the testbed's sysfs
 * and the state file, and one subprocess per case. */
#include <json-c/json.h>

#include "daemon-harness.h"

#define BUS_NAME "org.pciassign1"
#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define RES_IFACE "org.pciassign1.Reservation"
#define DEV_IFACE "org.pciassign1.Device"
#define GROUP_IFACE "org.pciassign1.Group"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define E(name) "org.pciassign1.Error." name

/* the testbed (q35-vm.truth.json) */
#define MF0 "0000:0b:00.0"      /* e1000e, function 0 of a multifunction device behind root port 00:0c.0 */
#define MF1 "0000:0b:00.1"      /* e1000e, function 1; MF0 + MF1 are IOMMU group 22 */
#define MF_GROUP 22
#define NIC "0000:02:00.0"      /* e1000e alone in group 16 behind root port 00:07.0; reset_method "pm bus" */
#define NIC_GROUP 16
#define NIC2 "0000:00:03.0"     /* e1000e on the root bus, group 2 */
#define NIC3 "0000:0a:00.0"     /* e1000e alone in group 21 */
#define PCI_BRIDGE "0000:04:00.0"  /* PCIe-to-PCI bridge, group 17, no driver */
#define BUS_ONLY "0000:05:01.0" /* e1000 behind it, reset_method "bus" only, group 17 */
#define NEIGHBOUR "0000:05:02.0" /* e1000 on the same bus, no reset file, group 17 */
#define BRIDGE_GROUP 17
#define ROOT_PORT "0000:00:06.0"
#define SRIOV_PF "0000:01:00.0"   /* nvme with 2 VFs enabled */
#define SRIOV_VF1 "0000:01:00.1"
#define SRIOV_VF2 "0000:01:00.2"

typedef struct Pending {
        gboolean done;
        guint64 seq;            /* event_counter when the reply came */
        GVariant *reply;
        GError *error;
} Pending;

typedef struct Events {
        Harness *h;
        GPtrArray *seen;        /* "ReservationChanged r1 prepared", "State <path> prepared", ... */
        guint sub_manager, sub_props;
} Events;

typedef struct Case {
        GTestDataFunc func;
        gconstpointer data;
} Case;

#define ADD(path, fn) add_case((path), call_plain, (gconstpointer) (gpointer) (fn))

extern const char *const no_args[];
gboolean under_wrapper(void);
guint delay_ms(guint ms);
guint job_timeout_s(void);
gchar *job_timeout_arg(void);
void note(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
Harness *new_harness(void);
void assert_remote_error(const GError *error, const char *name);
void assert_contains(const char *haystack, const char *needle);
void assert_contains_nocase(const char *haystack, const char *needle);
void assert_ok(const GError *error, const char *what);
gchar *reserve(Harness *h, const char *owner, const char *const *assigned, const char *const *unassigned);
gboolean res_call(Harness *h, const char *path, const char *method, GVariant *args, GError **error);
void res_ok(Harness *h, const char *path, const char *method, GVariant *args);
void res_fails(Harness *h, const char *path, const char *method, GVariant *args, const char *error_name,
              gchar **ret_message);
gboolean mgr_call(Harness *h, const char *method, GVariant *args, GError **error);
void mgr_ok(Harness *h, const char *method, GVariant *args);
void mgr_fails(Harness *h, const char *method, GVariant *args, const char *error_name, gchar **ret_message);
GVariant *get_prop(Harness *h, const char *path, const char *iface, const char *prop);
gchar *get_prop_s(Harness *h, const char *path, const char *iface, const char *prop);
gchar *device_path(Harness *h, const char *addr);
gchar *dev_prop_s(Harness *h, const char *addr, const char *prop);
gchar *res_state(Harness *h, const char *path);
gboolean group_viable(Harness *h, guint32 group);
void assert_res_state(Harness *h, const char *path, const char *state);
void assert_dev_prop(Harness *h, const char *addr, const char *prop, const char *value);
extern guint64 event_counter;
void on_reply(GObject *source, GAsyncResult *result, gpointer user_data);
void call_async(Harness *h, const char *path, const char *iface, const char *method, GVariant *args,
                       Pending *p);
void pending_wait(Pending *p, const char *what);
void pending_clear(Pending *p);
void on_manager_signal(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                              const gchar *signal, GVariant *params, gpointer user_data);
void on_properties_changed(GDBusConnection *c, const gchar *sender, const gchar *path, const gchar *iface,
                                  const gchar *signal, GVariant *params, gpointer user_data);
void events_init(Events *ev, Harness *h);
void events_done(Events *ev);
void events_drain(void);
gboolean events_has(Events *ev, const char *what);
void events_wait(Events *ev, const char *what);
void events_clear(Events *ev);
void assert_sys_driver(Harness *h, const char *addr, const char *driver);
void assert_sys_override(Harness *h, const char *addr, const char *value);
void assert_host(Harness *h, const char *addr, const char *driver);
void assert_vfio(Harness *h, const char *addr);
gboolean vfio_node(Harness *h, int group);
int reset_count(Harness *h, const char *addr);
gboolean delayed_write_sleeping(Harness *h);
void wait_delayed_write(Harness *h);
void assert_log(Harness *h, const char *expected);
void assert_log_empty(Harness *h);
void testbed_bind(Harness *h, const char *addr, const char *driver);
gchar *state_text(Harness *h);
void write_state(Harness *h, const char *text);
json_object *stored_reservation(Harness *h, const char *id);
void assert_no_journal(Harness *h);
void assert_stored_state(Harness *h, const char *id, const char *state);
extern GPtrArray *cases;
void run_case(gconstpointer data);
void add_case(const char *path, GTestDataFunc func, gconstpointer data);
void call_plain(gconstpointer data);
