/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "log.h"
#include "manager.h"
#include "bus-polkit.h"
#include "manager-dbus.h"

static int dir_from_env(const char *env, const char *def, char **ret) {
        const char *e = getenv(env);
        size_t n;

        /* systemd may pass several directories separated by ':'; the
         * first is ours */
        if (e && *e) {
                n = strcspn(e, ":");
                if (e[0] != '/')
                        return log_error_errno(-EINVAL, "$%s=%s is not an absolute path.", env, e);
                *ret = strndup(e, n);
        } else
                *ret = strdup(def);
        return *ret ? 0 : log_oom();
}

int manager_new(const ManagerOptions *opts, Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->read_only = opts->read_only;

        r = dir_from_env("STATE_DIRECTORY", STATE_DIR_DEFAULT, &m->state_dir);
        if (r < 0)
                goto fail;
        r = dir_from_env("RUNTIME_DIRECTORY", RUNTIME_DIR_DEFAULT, &m->runtime_dir);
        if (r < 0)
                goto fail;

        m->missing = topology_new();
        if (!m->missing) {
                r = log_oom();
                goto fail;
        }

        r = sd_event_default(&m->event);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate event loop: %m");
                goto fail;
        }
        (void) sd_event_set_watchdog(m->event, true);

        m->udev = udev_new();
        if (!m->udev) {
                r = log_error_errno(errno ?: ENOMEM, "Failed to create udev context: %m");
                goto fail;
        }
        /* optional: names still come from the udev database */
        m->hwdb = udev_hwdb_new(m->udev);
        if (!m->hwdb)
                log_debug("No udev hwdb available, names only from the udev database.");

        *ret = m;
        return 0;
fail:
        manager_free(m);
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        polkit_registry_free(m->polkit_registry);
        sd_event_source_unref(m->mountinfo_source);
        sd_event_source_unref(m->swaps_source);
        sd_event_source_unref(m->route_source);
        manager_free_reservations(m);
        sd_bus_flush_close_unref(m->bus);
        host_usage_done(&m->host_usage);
        topology_free(m->missing);
        topology_free(m->topology);
        udev_hwdb_unref(m->hwdb);
        udev_unref(m->udev);
        sd_event_unref(m->event);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m);
        return NULL;
}

int manager_enumerate(Manager *m) {
        _cleanup_topology_ Topology *t = NULL;
        struct udev_enumerate *e;
        struct udev_list_entry *item;
        unsigned skipped = 0;
        int r;

        t = topology_new();
        if (!t)
                return log_oom();

        e = udev_enumerate_new(m->udev);
        if (!e)
                return log_oom();
        r = udev_enumerate_add_match_subsystem(e, "pci");
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        if (r < 0) {
                udev_enumerate_unref(e);
                return log_error_errno(r, "Failed to enumerate PCI devices: %m");
        }

        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                const char *syspath = udev_list_entry_get_name(item);
                struct udev_device *ud;
                PciDevice *d = NULL, *old = NULL;

                ud = udev_device_new_from_syspath(m->udev, syspath);
                if (!ud) {
                        /* removed between the scan and now: not an error */
                        log_debug("Device %s vanished during enumeration.", syspath);
                        skipped++;
                        continue;
                }
                r = pci_device_read(syspath, ud, m->hwdb, &d);
                udev_device_unref(ud);
                if (r == -ENOMEM) {
                        udev_enumerate_unref(e);
                        return log_oom();
                }
                if (r < 0) {
                        log_warning_errno(r, "Skipping %s: cannot read it: %m", syspath);
                        skipped++;
                        continue;
                }
                r = topology_add(t, d, &old);
                if (r < 0) {
                        pci_device_free(d);
                        udev_enumerate_unref(e);
                        return log_oom();
                }
                pci_device_free(old);
        }
        udev_enumerate_unref(e);

        log_info("Found %zu PCI functions in %zu IOMMU groups%s.",
                 t->n_devices, t->n_groups, skipped ? " (some skipped)" : "");
        topology_free(m->topology);
        m->topology = TAKE_PTR(t);
        return 0;
}

void manager_status(Manager *m, char *buf, size_t size) {
        snprintf(buf, size, "%zu PCI functions, %zu IOMMU groups, %zu reservations%s",
                 m->topology ? m->topology->n_devices : 0,
                 m->topology ? m->topology->n_groups : 0,
                 m->n_reservations,
                 m->read_only ? ", read-only" : "");
}

int manager_startup(Manager *m) {
        int r;

        r = manager_enumerate(m);
        if (r < 0)
                return r;
        r = manager_host_usage_start(m);
        if (r < 0)
                return r;
        r = manager_load_reservations(m);
        if (r < 0)
                return r;
        manager_sync_missing(m);

        /* sd-bus honours DBUS_SYSTEM_BUS_ADDRESS */
        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        (void) sd_bus_set_description(m->bus, "pci-assignd");

        r = manager_dbus_export(m);
        if (r < 0)
                return r;

        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");

        /* Last: clients that see the name can rely on every object. */
        r = sd_bus_request_name(m->bus, "org.pciassign1", 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire bus name org.pciassign1: %m");

        return 0;
}
