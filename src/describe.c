/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "describe.h"
#include "macro.h"

static json_object *str(const char *s) {
        return json_object_new_string(strempty(s));
}

static json_object *addr(const PciAddress *a) {
        char buf[PCI_ADDRESS_STRLEN];
        return json_object_new_string(pci_address_format(a, buf));
}

json_object *describe_device(const PciDevice *d) {
        json_object *o = json_object_new_object(), *a;

        if (!o)
                return NULL;
        json_object_object_add(o, "address", json_object_new_string(d->name));
        json_object_object_add(o, "vendor_id", json_object_new_int(d->vendor_id));
        json_object_object_add(o, "device_id", json_object_new_int(d->device_id));
        json_object_object_add(o, "subsystem_vendor_id", json_object_new_int(d->subsystem_vendor_id));
        json_object_object_add(o, "subsystem_device_id", json_object_new_int(d->subsystem_device_id));
        json_object_object_add(o, "class", json_object_new_int((int32_t) d->class_code));
        json_object_object_add(o, "revision", json_object_new_int(d->revision));
        json_object_object_add(o, "vendor_name", str(d->vendor_name));
        json_object_object_add(o, "device_name", str(d->device_name));
        json_object_object_add(o, "driver", str(d->driver));
        json_object_object_add(o, "driver_override", str(d->driver_override));
        json_object_object_add(o, "iommu_group", json_object_new_int(d->iommu_group));
        json_object_object_add(o, "numa_node", json_object_new_int(d->numa_node));

        a = json_object_new_array();
        for (char **m = d->reset_methods; m && *m; m++)
                json_object_array_add(a, json_object_new_string(*m));
        json_object_object_add(o, "reset_methods", a);

        json_object_object_add(o, "multifunction", json_object_new_boolean(pci_device_is_multifunction(d)));
        json_object_object_add(o, "bridge", json_object_new_boolean(pci_device_is_bridge(d)));
        json_object_object_add(o, "host_bridge", json_object_new_boolean(pci_device_is_host_bridge(d)));
        json_object_object_add(o, "boot_vga", json_object_new_boolean(d->boot_vga));
        json_object_object_add(o, "physical_function", d->is_vf ? addr(&d->physfn) : str(""));
        a = json_object_new_array();
        for (size_t i = 0; i < d->n_virtfns; i++)
                json_object_array_add(a, addr(&d->virtfns[i]));
        json_object_object_add(o, "virtual_functions", a);
        if (d->sriov_totalvfs >= 0) {
                json_object_object_add(o, "sriov_totalvfs", json_object_new_int(d->sriov_totalvfs));
                json_object_object_add(o, "sriov_numvfs", json_object_new_int(d->sriov_numvfs));
        }
        json_object_object_add(o, "parent", d->has_parent ? addr(&d->parent) : str(""));

        a = json_object_new_array();
        for (size_t i = 0; i < d->resources.n_bars; i++) {
                const PciBar *b = &d->resources.bars[i];
                json_object *bo;

                if (!b->mem)
                        continue;
                bo = json_object_new_object();
                json_object_object_add(bo, "index", json_object_new_int(b->index));
                json_object_object_add(bo, "start", json_object_new_int64((int64_t) b->start));
                json_object_object_add(bo, "size", json_object_new_int64((int64_t) b->size));
                json_object_object_add(bo, "prefetchable", json_object_new_boolean(b->prefetch));
                json_object_object_add(bo, "mem64", json_object_new_boolean(b->mem64));
                json_object_array_add(a, bo);
        }
        json_object_object_add(o, "bars", a);

        if (d->config_valid) {
                const PciConfigInfo *c = &d->config;
                json_object *co = json_object_new_object();

                json_object_object_add(co, "size", json_object_new_int((int) c->size));
                json_object_object_add(co, "header_type", json_object_new_int(c->header_type));
                if (c->bridge) {
                        json_object_object_add(co, "secondary_bus", json_object_new_int(c->secondary_bus));
                        json_object_object_add(co, "subordinate_bus", json_object_new_int(c->subordinate_bus));
                }
                json_object_object_add(co, "caps_known", json_object_new_boolean(c->caps_known));
                json_object_object_add(co, "flr", json_object_new_boolean(c->flr));
                json_object_object_add(co, "af_flr", json_object_new_boolean(c->af_flr));
                json_object_object_add(co, "pm", json_object_new_boolean(c->pm));
                json_object_object_add(co, "pm_no_soft_reset", json_object_new_boolean(c->pm_no_soft_reset));
                if (c->msix) {
                        json_object *mo = json_object_new_object();
                        json_object_object_add(mo, "table_size", json_object_new_int(c->msix_table_size));
                        json_object_object_add(mo, "table_bir", json_object_new_int(c->msix_table_bir));
                        json_object_object_add(mo, "table_offset", json_object_new_int64(c->msix_table_offset));
                        json_object_object_add(mo, "pba_bir", json_object_new_int(c->msix_pba_bir));
                        json_object_object_add(mo, "pba_offset", json_object_new_int64(c->msix_pba_offset));
                        json_object_object_add(co, "msix", mo);
                }
                json_object_object_add(co, "ext_caps_known", json_object_new_boolean(c->ext_caps_known));
                if (c->acs) {
                        json_object_object_add(co, "acs_cap", json_object_new_int(c->acs_cap));
                        json_object_object_add(co, "acs_ctrl", json_object_new_int(c->acs_ctrl));
                }
                if (c->dsn) {
                        char s[24];
                        snprintf(s, sizeof s, "%016llx", (unsigned long long) c->dsn_value);
                        json_object_object_add(co, "dsn", json_object_new_string(s));
                }
                json_object_object_add(o, "config", co);
        }
        json_object_object_add(o, "pcie_type", str(d->config_valid ? pci_express_type_to_string(d->config.pcie_type) : ""));
        return o;
}

json_object *describe_group(const IommuGroup *g) {
        json_object *o = json_object_new_object(), *a = json_object_new_array();

        json_object_object_add(o, "id", json_object_new_int64(g->id));
        for (size_t i = 0; i < g->n_members; i++)
                json_object_array_add(a, json_object_new_string(g->members[i]->name));
        json_object_object_add(o, "devices", a);
        json_object_object_add(o, "viable", json_object_new_boolean(topology_group_viable(g)));
        return o;
}

void describe_device_state(json_object *o, bool present, const char *host_driver, const char *reservation_id,
                           bool assigned, const Verdict *v) {
        json_object_object_add(o, "present", json_object_new_boolean(present));
        json_object_object_add(o, "host_driver", json_object_new_string(strempty(host_driver)));
        json_object_object_add(o, "reservation", reservation_id ? json_object_new_string(reservation_id) : NULL);
        json_object_object_add(o, "assigned", json_object_new_boolean(assigned));
        if (v) {
                json_object *reasons = json_object_new_array();

                json_object_object_add(o, "verdict", json_object_new_string(verdict_kind_to_string(v->kind)));
                for (size_t k = 0; k < v->n_reasons; k++) {
                        json_object *ro = json_object_new_object();
                        json_object_object_add(ro, "code", json_object_new_string(v->reasons[k].code));
                        json_object_object_add(ro, "text", json_object_new_string(v->reasons[k].text));
                        json_object_object_add(ro, "severity", json_object_new_string(reason_severity(&v->reasons[k])));
                        json_object_array_add(reasons, ro);
                }
                json_object_object_add(o, "reasons", reasons);
        }
}

void describe_device_adoption(json_object *o, bool adopted, const char *override) {
        json_object_object_add(o, "host_driver_adopted", json_object_new_boolean(adopted));
        json_object_object_add(o, "host_driver_override", json_object_new_string(adopted ? strempty(override) : ""));
}

json_object *describe_reservation(const Reservation *r) {
        json_object *o = json_object_new_object(), *fs = json_object_new_array();
        char buf[PCI_ADDRESS_STRLEN];

        json_object_object_add(o, "id", json_object_new_string(r->id));
        json_object_object_add(o, "owner", json_object_new_string(r->owner));
        json_object_object_add(o, "owner_uid", json_object_new_int64(r->owner_uid));
        json_object_object_add(o, "persistent", json_object_new_boolean(r->persistent));
        json_object_object_add(o, "driver", json_object_new_string(strempty(r->driver)));
        json_object_object_add(o, "state", json_object_new_string(reservation_state_to_string(r->state)));
        json_object_object_add(o, "created_usec", json_object_new_int64((int64_t) r->created_usec));
        json_object_object_add(o, "last_error", json_object_new_string(strempty(r->last_error)));
        for (size_t i = 0; i < r->n_functions; i++) {
                json_object *fo = json_object_new_object();
                json_object_object_add(fo, "address",
                                       json_object_new_string(pci_address_format(&r->functions[i].address, buf)));
                json_object_object_add(fo, "assigned", json_object_new_boolean(r->functions[i].assigned));
                json_object_object_add(fo, "host_driver",
                                       json_object_new_string(strempty(r->functions[i].host_driver)));
                json_object_object_add(fo, "host_driver_adopted", json_object_new_boolean(r->functions[i].adopted));
                json_object_object_add(fo, "host_driver_override",
                                       json_object_new_string(r->functions[i].adopted ?
                                                              strempty(r->functions[i].host_override) : ""));
                json_object_array_add(fs, fo);
        }
        json_object_object_add(o, "functions", fs);
        return o;
}

json_object *describe_root(const char *version, bool iommu_present, bool read_only) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_string(version));
        json_object_object_add(o, "iommu_present", json_object_new_boolean(iommu_present));
        json_object_object_add(o, "read_only", json_object_new_boolean(read_only));
        return o;
}

char *describe_to_string(json_object *root) {
        const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        return s ? strdup(s) : NULL;
}
