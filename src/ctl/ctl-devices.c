/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The read-only verbs about PCI functions: list, show, check. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-bus.h"
#include "ctl-format.h"
#include "ctl-show.h"
#include "ctl.h"
#include "pci-address.h"

/* "Vendor Device", either may be empty. */
static char *device_name(json_object *props) {
        const char *v = strempty(json_get_string(props, "VendorName"));
        const char *d = strempty(json_get_string(props, "DeviceName"));
        char *s;

        if (asprintf(&s, "%s%s%s", v, *v && *d ? " " : "", d) < 0)
                return NULL;
        return s;
}

/* ---- list ---------------------------------------------------------------- */

typedef struct Row {
        PciAddress addr;
        bool parsed;
        const char *address;
        json_object *props;
} Row;

static int row_compare(const void *a, const void *b) {
        const Row *x = a, *y = b;

        /* Canonical order is numeric (domains may have more than four
         * digits); anything the parser rejects goes last, by string. */
        if (x->parsed != y->parsed)
                return x->parsed ? -1 : 1;
        if (x->parsed) {
                uint64_t kx = pci_address_key(&x->addr), ky = pci_address_key(&y->addr);
                if (kx != ky)
                        return kx < ky ? -1 : 1;
        }
        return strcmp(x->address, y->address);
}

static int list_json(sd_bus *bus) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *s;
        int r;

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, "Describe", &m);
        if (r < 0)
                return r;
        r = ctl_call(bus, m, "Describe()", &reply);
        if (r < 0)
                return r;

        r = sd_bus_message_read(reply, "s", &s);
        if (r <= 0)
                return log_parse_error("Describe()", reply, r < 0 ? r : -EBADMSG);

        /* Verbatim: the daemon's document is the contract, not ours. */
        fputs(s, stdout);
        if (!*s || s[strlen(s) - 1] != '\n')
                fputc('\n', stdout);
        return 0;
}

/* The cells of one row; a table without the VERDICT column reads only the
 * first six. */
static int add_row(Table *t, const Row *row) {
        _cleanup_free_ char *ids = NULL, *name = NULL, *group = NULL, *reset = NULL;
        json_object *p = row->props, *methods;
        int64_t vendor, device, g;
        int r;

        if (json_get_int(p, "VendorId", &vendor) && json_get_int(p, "DeviceId", &device)) {
                /* asprintf() leaves the pointer undefined on failure */
                if (asprintf(&ids, "%04" PRIx64 ":%04" PRIx64, (uint64_t) vendor, (uint64_t) device) < 0) {
                        ids = NULL;
                        return -ENOMEM;
                }
        }

        name = device_name(p);
        if (!name)
                return -ENOMEM;

        if (json_get_int(p, "IOMMUGroup", &g) && g >= 0)
                if (asprintf(&group, "%" PRIi64, g) < 0) {
                        group = NULL;
                        return -ENOMEM;
                }

        methods = json_get_array(p, "ResetMethods");
        if (methods) {
                r = json_join_strings(methods, ",", &reset);
                if (r == -ENOMEM)
                        return r;
        }

        const char *cells[] = {
                row->address,
                ids,
                name,
                json_get_string(p, "Driver"),
                group,
                reset,
                json_get_string(p, "Verdict"),
        };
        return table_add_row(t, cells);
}

int verb_list(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_object *objects = NULL;
        _cleanup_free_ Row *rows = NULL;
        _cleanup_table_ Table *table = NULL;
        bool with_verdict = false;
        size_t n = 0;
        int r;

        if (arg_json)
                return list_json(bus);

        /* One round trip for everything, like machinectl/boltctl list. */
        r = sd_bus_message_new_method_call(bus, &m, PA_BUS_NAME, PA_MANAGER_PATH,
                                           "org.freedesktop.DBus.ObjectManager", "GetManagedObjects");
        if (r < 0)
                return log_error_errno(r, "Failed to create GetManagedObjects call: %s", strerror(-r));
        r = ctl_call(bus, m, "GetManagedObjects()", &reply);
        if (r < 0)
                return r;

        if (!streq_ptr(sd_bus_message_get_signature(reply, true), "a{oa{sa{sv}}}"))
                return log_parse_error("GetManagedObjects()", reply, -EBADMSG);
        r = bus_message_read_json(reply, &objects);
        if (r < 0)
                return log_parse_error("GetManagedObjects()", reply, r);

        rows = calloc((size_t) json_object_object_length(objects) + 1, sizeof(Row));
        if (!rows)
                return log_error_errno(-ENOMEM, "Out of memory.");

        json_object_object_foreach(objects, path, ifaces) {
                json_object *props;
                const char *address, *verdict;

                if (!json_object_object_get_ex(ifaces, PA_DEVICE_IFACE, &props) ||
                    !json_object_is_type(props, json_type_object))
                        continue;

                /* Address is const and always there; an object without one
                 * is listed by its path rather than dropped. */
                address = json_get_string(props, "Address");
                rows[n] = (Row) {
                        .address = address ?: path,
                        .props = props,
                };
                rows[n].parsed = address && pci_address_parse(address, &rows[n].addr) >= 0;

                verdict = json_get_string(props, "Verdict");
                if (verdict && *verdict)
                        with_verdict = true;
                n++;
        }

        qsort(rows, n, sizeof(Row), row_compare);

        if (with_verdict)
                table = table_new(7, "ADDRESS", "ID", "NAME", "DRIVER", "GROUP", "RESET", "VERDICT");
        else
                table = table_new(6, "ADDRESS", "ID", "NAME", "DRIVER", "GROUP", "RESET");
        if (!table)
                return log_error_errno(-ENOMEM, "Out of memory.");
        table_set_shrink_column(table, 2, 12);

        for (size_t i = 0; i < n; i++) {
                r = add_row(table, &rows[i]);
                if (r < 0)
                        return log_error_errno(r, "Out of memory.");
        }

        if (n == 0) {
                if (arg_legend)
                        printf("No functions.\n");
                return 0;
        }

        r = table_print(table, stdout, arg_legend);
        if (r < 0)
                return log_error_errno(r, "Failed to print table: %s", strerror(-r));

        if (arg_legend)
                printf("\n%zu function%s listed.\n", n, n == 1 ? "" : "s");
        return 0;
}

/* ---- show ---------------------------------------------------------------- */

/* Group number, viability and the other members, from the Group object.
 * The lookup is extra information: when it fails only the number shows. */
static int show_group(sd_bus *bus, Show *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_object *group = NULL;
        const char *address = json_get_string(s->props, "Address"), *path;
        json_object *devices;
        bool viable;
        int64_t g;
        int r;

        if (!json_get_int(s->props, "IOMMUGroup", &g) || g < 0 || g > UINT32_MAX)
                return show_optional_int(s, "IOMMU group", "IOMMUGroup");

        r = show_use(s, "IOMMUGroup");
        if (r < 0)
                return r;

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, "GetGroup", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "u", (uint32_t) g);
        if (r < 0 ||
            ctl_call(bus, m, NULL, &reply) < 0 ||
            sd_bus_message_read(reply, "o", &path) <= 0 ||
            ctl_get_all_properties(bus, path, PA_GROUP_IFACE, NULL, &group) < 0)
                return show_addf(s, "IOMMU group", "%" PRIi64, g);

        if (json_get_bool(group, "Viable", &viable))
                r = show_addf(s, "IOMMU group", "%" PRIi64 " (%s)", g, viable ? "viable" : "not viable");
        else
                r = show_addf(s, "IOMMU group", "%" PRIi64, g);
        if (r < 0)
                return r;

        devices = json_get_array(group, "Devices");
        if (!devices)
                return 0;

        _cleanup_free_ char *others = NULL;
        size_t size = 0, n_others = 0;
        FILE *f = open_memstream(&others, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < json_object_array_length(devices); i++) {
                json_object *d = json_object_array_get_idx(devices, i);

                if (!json_object_is_type(d, json_type_string) || streq_ptr(json_object_get_string(d), address))
                        continue;
                fprintf(f, "%s%s", n_others++ > 0 ? ", " : "", json_object_get_string(d));
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        return show_add(s, "Other members", strdup(n_others > 0 ? others : "none"));
}

static int show_bars(Show *s) {
        json_object *bars = json_get_array(s->props, "Bars");
        _cleanup_free_ char *text = NULL;
        size_t size = 0, n;
        FILE *f;
        int r;

        if (!bars)
                return 0;

        /* a(ytt): check the whole shape before printing any of it */
        n = json_object_array_length(bars);
        for (size_t i = 0; i < n; i++) {
                json_object *b = json_object_array_get_idx(bars, i);

                if (!json_object_is_type(b, json_type_array) || json_object_array_length(b) != 3)
                        return 0;
                for (size_t k = 0; k < 3; k++)
                        if (!json_object_is_type(json_object_array_get_idx(b, k), json_type_int))
                                return 0;
        }

        r = show_use(s, "Bars");
        if (r < 0)
                return r;
        if (n == 0)
                return show_add(s, "BARs", strdup("none"));

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *b = json_object_array_get_idx(bars, i);
                char buf[FORMAT_BYTES_MAX];

                fprintf(f, "%sBAR%" PRIu64 " 0x%08" PRIx64 " size %s", i > 0 ? "\n" : "",
                        json_object_get_uint64(json_object_array_get_idx(b, 0)),
                        json_object_get_uint64(json_object_array_get_idx(b, 1)),
                        format_bytes(buf, json_object_get_uint64(json_object_array_get_idx(b, 2))));
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        return show_add(s, "BARs", TAKE_PTR(text));
}

/* Reasons: "code (blocking): text", one per line, from ReasonsWithSeverity
 * a(sss); from Reasons a(ss) as "code: text" when the daemon has no
 * severities; nothing when empty. */
static int show_reasons(Show *s) {
        json_object *reasons = json_get_array(s->props, "ReasonsWithSeverity");
        _cleanup_free_ char *text = NULL;
        size_t size = 0, n, fields = 3;
        FILE *f;
        int r;

        if (!reasons) {
                reasons = json_get_array(s->props, "Reasons");
                fields = 2;
        }
        if (!reasons)
                return 0;

        n = json_object_array_length(reasons);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(reasons, i);

                if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != fields)
                        return 0;
                for (size_t k = 0; k < fields; k++)
                        if (!json_object_is_type(json_object_array_get_idx(e, k), json_type_string))
                                return 0;
        }

        r = show_use(s, "Reasons");
        if (r >= 0 && fields == 3)
                r = show_use(s, "ReasonsWithSeverity");
        if (r < 0)
                return r;
        if (n == 0)
                return 0;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(reasons, i);

                if (fields == 3)
                        fprintf(f, "%s%s (%s): %s", i > 0 ? "\n" : "",
                                json_object_get_string(json_object_array_get_idx(e, 0)),
                                json_object_get_string(json_object_array_get_idx(e, 2)),
                                json_object_get_string(json_object_array_get_idx(e, 1)));
                else
                        fprintf(f, "%s%s: %s", i > 0 ? "\n" : "",
                                json_object_get_string(json_object_array_get_idx(e, 0)),
                                json_object_get_string(json_object_array_get_idx(e, 1)));
        }
        if (fclose(f) != 0)
                return -ENOMEM;

        return show_add(s, "Reasons", TAKE_PTR(text));
}

/* The reservation by id, owner and state rather than by object path; the
 * path stays when the lookup fails. */
static int show_reservation(sd_bus *bus, Show *s) {
        _cleanup_json_ json_object *res = NULL;
        const char *path = json_get_string(s->props, "Reservation"), *id, *owner, *state;
        bool assigned;
        int r;

        if (!path)
                return 0;
        r = show_use(s, "Reservation");
        if (r < 0)
                return r;

        if (streq(path, "/")) {
                /* Assigned means nothing without a reservation. */
                if (json_get_bool(s->props, "Assigned", &assigned)) {
                        r = show_use(s, "Assigned");
                        if (r < 0)
                                return r;
                }
                return show_add(s, "Reservation", strdup("none"));
        }

        if (ctl_get_all_properties(bus, path, PA_RESERVATION_IFACE, NULL, &res) >= 0 &&
            (id = json_get_string(res, "Id"))) {
                owner = json_get_string(res, "Owner");
                state = json_get_string(res, "State");
                r = show_addf(s, "Reservation", "%s (owner %s, state %s)", id,
                              owner && *owner ? owner : "unknown", state && *state ? state : "unknown");
        } else
                r = show_add(s, "Reservation", strdup(path));
        if (r < 0)
                return r;

        return show_bool(s, "Assigned", "Assigned");
}

/* HostDriver, and whether it is the admin's binding that the daemon
 * adopted (HostDriverAdopted, HostDriverOverride): "vfio-pci (the admin's
 * binding, adopted: given back as it was, driver_override vfio-pci)". */
static int show_host_driver(Show *s) {
        const char *host = json_get_string(s->props, "HostDriver"),
                   *ovr = json_get_string(s->props, "HostDriverOverride");
        bool adopted = false;
        int r;

        if (!host)
                return 0;
        /* shown with HostDriver, or not at all (a daemon without them:
         * just HostDriver) */
        if (json_get_bool(s->props, "HostDriverAdopted", &adopted) && (r = show_use(s, "HostDriverAdopted")) < 0)
                return r;
        if (ovr && (r = show_use(s, "HostDriverOverride")) < 0)
                return r;
        if (!adopted || !ovr)
                return show_string(s, "Host driver", "HostDriver", "none");
        r = show_use(s, "HostDriver");
        if (r < 0)
                return r;
        return show_addf(s, "Host driver", "%s (the admin's binding, adopted: given back as it was, "
                         "driver_override %s)", *host ? host : "none", *ovr ? ovr : "unset");
}

static int show_device(sd_bus *bus, Show *s) {
        int r;

        /* Known properties in a fixed, readable order.  Each helper prints
         * and marks its property only if the type is the documented one;
         * whatever is left (new or unexpected) is printed generically. */
        if ((r = show_id(s, "Vendor", "VendorId", "VendorName")) < 0 ||
            (r = show_id(s, "Device", "DeviceId", "DeviceName")) < 0)
                return r;

        int64_t sv, sd;
        if (json_get_int(s->props, "SubsystemVendorId", &sv) &&
            json_get_int(s->props, "SubsystemDeviceId", &sd)) {
                if ((r = show_use(s, "SubsystemVendorId")) < 0 ||
                    (r = show_use(s, "SubsystemDeviceId")) < 0 ||
                    (r = show_addf(s, "Subsystem", "%04" PRIx64 ":%04" PRIx64, (uint64_t) sv, (uint64_t) sd)) < 0)
                        return r;
        }

        if ((r = show_hex(s, "Class", "Class", 6)) < 0 ||
            (r = show_hex(s, "Revision", "Revision", 2)) < 0 ||
            (r = show_string(s, "Driver", "Driver", "none")) < 0 ||
            (r = show_host_driver(s)) < 0 ||
            (r = show_string(s, "Driver override", "DriverOverride", NULL)) < 0 ||
            (r = show_group(bus, s)) < 0 ||
            (r = show_optional_int(s, "NUMA node", "NUMANode")) < 0 ||
            (r = show_strings(s, "Reset methods", "ResetMethods", ", ", "none")) < 0 ||
            (r = show_bool(s, "Multifunction", "Multifunction")) < 0 ||
            (r = show_bool(s, "Bridge", "Bridge")) < 0 ||
            (r = show_string(s, "PCIe type", "PCIeType", NULL)) < 0 ||
            (r = show_string(s, "Parent", "Parent", NULL)) < 0 ||
            (r = show_bool(s, "Boot VGA", "BootVGA")) < 0 ||
            (r = show_string(s, "Physical function", "PhysicalFunction", NULL)) < 0 ||
            (r = show_strings(s, "Virtual functions", "VirtualFunctions", ", ", NULL)) < 0 ||
            (r = show_bars(s)) < 0 ||
            (r = show_bool(s, "Present", "Present")) < 0 ||
            (r = show_string(s, "Verdict", "Verdict", NULL)) < 0 ||
            (r = show_reasons(s)) < 0 ||
            (r = show_reservation(bus, s)) < 0)
                return r;

        return show_rest(s, "Address");
}

int verb_show(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_json_ json_object *props = NULL;
        _cleanup_free_ char *ctx = NULL, *name = NULL;
        const char *address = argv[1], *path, *a;
        Show s = {};
        int r;

        if (asprintf(&ctx, "GetDevice(%s)", address) < 0) {
                ctx = NULL;
                return log_error_errno(-ENOMEM, "Out of memory.");
        }

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, "GetDevice", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", address);
        if (r < 0)
                return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        r = ctl_call(bus, m, ctx, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r <= 0)
                return log_parse_error(ctx, reply, r < 0 ? r : -EBADMSG);

        free(ctx);
        if (asprintf(&ctx, "GetAll(%s) on %s", PA_DEVICE_IFACE, path) < 0) {
                ctx = NULL;
                return log_error_errno(-ENOMEM, "Out of memory.");
        }
        r = ctl_get_all_properties(bus, path, PA_DEVICE_IFACE, ctx, &props);
        if (r < 0)
                return r;

        if (arg_json)
                return json_print(props);

        s.props = props;
        r = show_device(bus, &s);
        if (r < 0) {
                show_done(&s);
                return log_error_errno(r, "Failed to format properties: %s", strerror(-r));
        }

        a = json_get_string(props, "Address");
        name = device_name(props);
        if (name && *name)
                printf("%s - %s\n", a ?: address, name);
        else
                printf("%s\n", a ?: address);
        show_print(&s);
        show_done(&s);
        return 0;
}

/* ---- check --------------------------------------------------------------- */

/* The reply of CheckAssignableWithSeverity (severity true) or of
 * CheckAssignable, into [{address, verdict, reasons: [{code, text,
 * severity?}]}]. */
static int read_check_reply(sd_bus_message *reply, json_object *results, bool severity) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', severity ? "(ssa(sss))" : "(ssa(ss))");
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;

        for (;;) {
                _cleanup_json_ json_object *entry = NULL, *reasons = NULL;
                const char *address, *verdict, *code, *text, *sev = NULL;

                r = sd_bus_message_enter_container(reply, 'r', severity ? "ssa(sss)" : "ssa(ss)");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = sd_bus_message_read(reply, "ss", &address, &verdict);
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;

                reasons = json_object_new_array();
                if (!reasons)
                        return -ENOMEM;
                r = sd_bus_message_enter_container(reply, 'a', severity ? "(sss)" : "(ss)");
                if (r <= 0)
                        return r < 0 ? r : -EBADMSG;
                while ((r = severity ? sd_bus_message_read(reply, "(sss)", &code, &text, &sev)
                                     : sd_bus_message_read(reply, "(ss)", &code, &text)) > 0) {
                        json_object *o = json_object_new_object();

                        if (!o || json_object_array_add(reasons, o) < 0) {
                                json_object_put(o);
                                return -ENOMEM;
                        }
                        if (json_object_object_add(o, "code", json_object_new_string(code)) < 0 ||
                            json_object_object_add(o, "text", json_object_new_string(text)) < 0)
                                return -ENOMEM;
                        if (sev && json_object_object_add(o, "severity", json_object_new_string(sev)) < 0)
                                return -ENOMEM;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;

                entry = json_object_new_object();
                if (!entry ||
                    json_object_object_add(entry, "address", json_object_new_string(address)) < 0 ||
                    json_object_object_add(entry, "verdict", json_object_new_string(verdict)) < 0 ||
                    json_object_object_add(entry, "reasons", TAKE_PTR(reasons)) < 0 ||
                    json_object_array_add(results, entry) < 0)
                        return -ENOMEM;
                TAKE_PTR(entry);
        }

        return sd_bus_message_exit_container(reply);
}

/* A call of `method` (addresses, owner) with the --owner option. */
static int new_check_call(sd_bus *bus, const char *method, char **addresses, sd_bus_message **ret) {
        int r;

        r = ctl_new_call(bus, PA_MANAGER_PATH, PA_MANAGER_IFACE, method, ret);
        if (r < 0)
                return r;
        r = sd_bus_message_append_strv(*ret, addresses);
        if (r >= 0)
                r = sd_bus_message_append(*ret, "s", strempty(arg_owner));
        if (r < 0)
                return log_error_errno(r, "Failed to append arguments: %s", strerror(-r));
        return 0;
}

int verb_check(sd_bus *bus, int argc, char *argv[]) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool severity = true;
        _cleanup_json_ json_object *results = NULL;
        _cleanup_free_ char *ctx = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&ctx, &size);
        if (!f)
                return log_error_errno(-ENOMEM, "Out of memory.");
        fputs("CheckAssignable(", f);
        for (int i = 1; i < argc; i++)
                fprintf(f, "%s%s", i > 1 ? ", " : "", argv[i]);
        fputs(")", f);
        if (fclose(f) != 0)
                return log_error_errno(-ENOMEM, "Out of memory.");

        /* with each reason's severity; a daemon from before that has only
         * CheckAssignable */
        r = new_check_call(bus, "CheckAssignableWithSeverity", argv + 1, &m);
        if (r < 0)
                return r;
        r = ctl_call_full(bus, m, 0, ctx, &error, &reply);
        if (r < 0 && sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_METHOD)) {
                m = sd_bus_message_unref(m);
                severity = false;
                r = new_check_call(bus, "CheckAssignable", argv + 1, &m);
                if (r < 0)
                        return r;
                r = ctl_call(bus, m, ctx, &reply);
                if (r < 0)
                        return r;
        } else if (r < 0)
                return log_bus_error(ctx, &error, r);

        results = json_object_new_array();
        if (!results)
                return log_error_errno(-ENOMEM, "Out of memory.");
        r = read_check_reply(reply, results, severity);
        if (r == -ENOMEM)
                return log_error_errno(r, "Out of memory.");
        if (r < 0)
                return log_parse_error(ctx, reply, r);

        if (arg_json)
                return json_print(results);

        for (size_t i = 0; i < json_object_array_length(results); i++) {
                json_object *e = json_object_array_get_idx(results, i);
                json_object *reasons = json_get_array(e, "reasons");

                printf("%s: %s\n", json_get_string(e, "address"), json_get_string(e, "verdict"));
                for (size_t k = 0; k < json_object_array_length(reasons); k++) {
                        json_object *o = json_object_array_get_idx(reasons, k);
                        const char *sev = json_get_string(o, "severity");

                        if (sev)
                                printf("  %s (%s): %s\n", json_get_string(o, "code"), sev, json_get_string(o, "text"));
                        else
                                printf("  %s: %s\n", json_get_string(o, "code"), json_get_string(o, "text"));
                }
        }
        return 0;
}
