/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <libudev.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "describe.h"
#include "json-util.h"
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
        m->job_timeout_usec = opts->job_timeout_usec;
        m->sysfs.root_fd = -1;
        m->test_crash_operation = -1;

        r = dir_from_env("STATE_DIRECTORY", STATE_DIR_DEFAULT, &m->state_dir);
        if (r < 0)
                goto fail;
        r = dir_from_env("RUNTIME_DIRECTORY", RUNTIME_DIR_DEFAULT, &m->runtime_dir);
        if (r < 0)
                goto fail;
        m->sysfs_root = strdup(opts->sysfs_root ?: "/sys");
        m->dev_root = strdup(opts->dev_root ?: "/dev");
        if (!m->sysfs_root || !m->dev_root) {
                r = log_oom();
                goto fail;
        }

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
        *ret = m;
        return 0;
fail:
        manager_free(m);
        return r;
}

/* The verdict kind of every function, parallel to the device arrays of
 * m->topology and m->missing, valid while the three generations match.
 * Only the kind: ListDevices and Device.Verdict need nothing else, and the
 * reasons' text of a big host is a MiB that Device.Reasons recomputes in
 * a few microseconds per function. */
#define KIND_UNKNOWN 0xff

struct VerdictCache {
        uint64_t generation, topology_generation, missing_generation;
        uint8_t *present, *missing;   /* VerdictKind or KIND_UNKNOWN */
        size_t n_present, n_missing;
};

static void verdict_cache_free(VerdictCache *c) {
        if (!c)
                return;
        free(c->present);
        free(c->missing);
        free(c);
}

void manager_invalidate_verdicts(Manager *m) {
        m->verdict_generation++;
}

/* Forgets every kind; an array is only reallocated when its topology's
 * size changed, so that a call which computes verdicts (GetManagedObjects)
 * doesn't leave it amid the call's freed memory, pinning that in the heap. */
static int kinds_reset(uint8_t **v, size_t *n, size_t size) {
        if (*n != size) {
                uint8_t *nv = realloc(*v, size ?: 1);
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                *n = size;
        }
        if (size > 0)
                memset(*v, KIND_UNKNOWN, size);
        return 0;
}

/* Makes the cache match the current state; called lazily, and eagerly
 * after enumeration so that its arrays sit below what calls allocate. */
static int verdict_cache_sync(Manager *m) {
        VerdictCache *c = m->verdicts;
        int r;

        if (!c) {
                c = m->verdicts = calloc(1, sizeof(VerdictCache));
                if (!c)
                        return -ENOMEM;
                /* topology generations start at 1: a new cache never matches */
        }
        if (c->generation == m->verdict_generation &&
            c->topology_generation == m->topology->generation &&
            c->missing_generation == m->missing->generation)
                return 0;

        r = kinds_reset(&c->present, &c->n_present, m->topology->n_devices);
        if (r >= 0)
                r = kinds_reset(&c->missing, &c->n_missing, m->missing->n_devices);
        if (r < 0) {
                c->topology_generation = c->missing_generation = 0;
                return r;
        }
        c->generation = m->verdict_generation;
        c->topology_generation = m->topology->generation;
        c->missing_generation = m->missing->generation;
        return 0;
}

/* The slot of d, or NULL with *ret_error set. */
static uint8_t *verdict_cache_slot(Manager *m, const PciDevice *d, int *ret_error) {
        ssize_t i;
        int r;

        r = verdict_cache_sync(m);
        if (r < 0) {
                *ret_error = r;
                return NULL;
        }
        i = topology_index(m->topology, d);
        if (i >= 0)
                return &m->verdicts->present[i];
        i = topology_index(m->missing, d);
        if (i >= 0)
                return &m->verdicts->missing[i];
        *ret_error = -ENOENT;
        return NULL;
}

int manager_device_verdict(Manager *m, const PciDevice *d, Verdict *ret) {
        uint8_t *slot;
        int r;

        slot = verdict_cache_slot(m, d, &r);
        if (!slot)
                return r;
        r = manager_verdict(m, &d->address, "", ret);
        if (r < 0)
                return r;
        *slot = (uint8_t) ret->kind;
        return 0;
}

int manager_device_verdict_kind(Manager *m, const PciDevice *d, VerdictKind *ret) {
        uint8_t *slot;
        int r;

        slot = verdict_cache_slot(m, d, &r);
        if (!slot)
                return r;
        if (*slot == KIND_UNKNOWN) {
                Verdict v;

                r = manager_verdict(m, &d->address, "", &v);
                if (r < 0)
                        return r;
                *slot = (uint8_t) v.kind;
                verdict_done(&v);
        }
        *ret = (VerdictKind) *slot;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* first: the running job ends and every queued one is answered,
         * with the model and the bus still there */
        manager_rebind_stop(m);
        manager_udev_stop(m);
        sd_event_source_disable_unref(m->status_source);
        polkit_registry_free(m->polkit_registry);
        sd_event_source_unref(m->mountinfo_source);
        sd_event_source_unref(m->swaps_source);
        sd_event_source_unref(m->route_source);
        sd_event_source_disable_unref(m->startup_finish);
        manager_free_reservations(m);
        sd_bus_flush_close_unref(m->bus);
        host_usage_done(&m->host_usage);
        free(m->host_usage_unknown);
        verdict_cache_free(m->verdicts);
        topology_free(m->missing);
        topology_free(m->topology);
        udev_unref(m->udev);
        sd_event_unref(m->event);
        free(m->state_dir);
        free(m->runtime_dir);
        free(m->sysfs_root);
        free(m->dev_root);
        free(m);
        return NULL;
}

/* One function found by the scan: where its directory is, and its
 * address as a sort key. */
typedef struct FoundFunction {
        uint64_t key;
        char *path;
} FoundFunction;

static int found_compare(const void *a, const void *b) {
        const FoundFunction *x = a, *y = b;
        return x->key < y->key ? -1 : x->key > y->key;
}

static void found_free(FoundFunction *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].path);
        free(v);
}

typedef struct Scan {
        struct udev *udev;
        FoundFunction *found;
        size_t n_found;
        int error;              /* negative errno; logged */
} Scan;

/* The sysfs paths of the PCI functions, as libudev enumerates subsystem
 * "pci", in address order (so that building the topology only appends).
 * The enumeration is released before any function is read: it holds an
 * sd-device object per function, more memory than the whole model. */
static void *scan_pci(void *userdata) {
        Scan *s = userdata;
        struct udev_enumerate *e;
        struct udev_list_entry *item;
        FoundFunction *v = NULL;
        size_t n = 0, alloc = 0;
        int r;

        e = udev_enumerate_new(s->udev);
        if (!e) {
                s->error = log_oom();
                return NULL;
        }
        r = udev_enumerate_add_match_subsystem(e, "pci");
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        if (r < 0) {
                udev_enumerate_unref(e);
                s->error = log_error_errno(r, "Failed to enumerate PCI devices: %m");
                return NULL;
        }
        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                const char *syspath = udev_list_entry_get_name(item), *base = strrchr(syspath, '/');
                PciAddress a;

                /* a directory not named by an address is no function */
                if (!base || pci_address_parse(base + 1, &a) < 0) {
                        log_debug("Ignoring %s: not a PCI function.", syspath);
                        continue;
                }
                if (GREEDY_REALLOC(v, alloc, n + 1) < 0)
                        goto oom;
                v[n].key = pci_address_key(&a);
                v[n].path = strdup(syspath);
                if (!v[n].path)
                        goto oom;
                n++;
        }
        udev_enumerate_unref(e);

        qsort(v, n, sizeof(*v), found_compare);
        s->found = v;
        s->n_found = n;
        return NULL;
oom:
        udev_enumerate_unref(e);
        found_free(v, n);
        s->error = log_oom();
        return NULL;
}

int manager_enumerate(Manager *m) {
        _cleanup_topology_ Topology *t = NULL;
        _cleanup_(pci_name_cache_freep) PciNameCache *names = NULL;
        struct udev_hwdb *hwdb;
        Scan scan = { .udev = m->udev };
        unsigned skipped = 0;
        pthread_t thread;
        int r;

        /* The hwdb is opened for the scan only: its lookups touch a few MiB
         * of the mapped file, which would otherwise stay resident. */
        hwdb = udev_hwdb_new(m->udev);
        if (!hwdb)
                log_debug("No udev hwdb available: functions will have no names.");
        t = topology_new();
        names = pci_name_cache_new(hwdb);
        udev_hwdb_unref(hwdb);
        if (!t || !names)
                return log_oom();

        /* The scan runs on a thread of its own, and so in a malloc arena of
         * its own: libudev's enumeration allocates several MiB on a big
         * host, all freed right after.  In the main heap that would leave a
         * hole below the model, which GetManagedObjects' temporary memory
         * then faults back in for good (1.5 MiB more RSS after the calls at
         * 4096 functions); a separate arena goes back to the kernel whole
         * at the malloc_trim() below. */
        r = pthread_create(&thread, NULL, scan_pci, &scan);
        if (r != 0) {
                log_debug_errno(r, "Cannot start a thread for the PCI scan, scanning here: %m");
                scan_pci(&scan);
        } else {
                r = pthread_join(thread, NULL);
                if (r != 0)
                        return log_error_errno(r, "Failed to wait for the PCI scan: %m");
        }
        if (scan.error < 0)
                return scan.error;

        for (size_t i = 0; i < scan.n_found; i++) {
                const char *path = scan.found[i].path;
                PciDevice *d = NULL, *old = NULL;

                r = pci_device_read_at(AT_FDCWD, path, NULL, names, &d);
                if (r == -ENOMEM) {
                        found_free(scan.found, scan.n_found);
                        return log_oom();
                }
                if (r == -ENODEV) {
                        /* removed between the scan and now: not an error */
                        log_debug("Device %s vanished during enumeration.", path);
                        skipped++;
                        continue;
                }
                if (r < 0) {
                        log_warning_errno(r, "Skipping %s: cannot read it: %m", path);
                        skipped++;
                        continue;
                }
                r = topology_add(t, d, &old);
                if (r < 0) {
                        pci_device_free(d);
                        found_free(scan.found, scan.n_found);
                        return log_oom();
                }
                pci_device_free(old);
        }
        found_free(scan.found, scan.n_found);

        log_info("Found %zu PCI functions in %zu IOMMU groups%s.",
                 t->n_devices, t->n_groups, skipped ? " (some skipped)" : "");
        topology_free(m->topology);
        m->topology = TAKE_PTR(t);
        r = verdict_cache_sync(m);
        if (r < 0)
                return log_oom();

        /* Give back what the scan and the reading freed: without this the
         * daemon keeps its start-up peak (twice the model) resident. */
        (void) malloc_trim(0);
        return 0;
}

static int on_startup_finish(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        m->startup_finish = sd_event_source_disable_unref(m->startup_finish);
        manager_startup_finish(m);
        return 0;
}

int manager_startup(Manager *m) {
        sd_id128_t bus_id;
        int r;

        r = manager_udev_start(m);
        if (r < 0)
                return r;
        r = manager_enumerate(m);
        if (r < 0)
                return r;
        if (!topology_has_iommu(m->topology))
                /* once, at start-up: every verdict says it again */
                log_warning("The host has no IOMMU groups: no PCI function can be assigned. %s", verdict_no_iommu_hint);
        r = manager_host_usage_start(m);
        if (r < 0)
                return r;
        manager_boot_id_read(m);
        r = manager_load_reservations(m);
        if (r < 0)
                return r;
        manager_sync_missing(m);
        r = manager_rebind_start(m);
        if (r < 0)
                return r;

        /* sd-bus honours DBUS_SYSTEM_BUS_ADDRESS.  Open before
         * reconciliation, which must know whose transient reservations are
         * still connected; nobody can call us before the name is taken. */
        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        (void) sd_bus_set_description(m->bus, "pci-assignd");
        r = sd_bus_get_bus_id(m->bus, &bus_id);
        if (r < 0)
                return log_error_errno(r, "Failed to read the bus ID: %m");
        sd_id128_to_string(bus_id, m->bus_id);
        r = manager_track_owners(m);
        if (r < 0)
                return log_error_errno(r, "Failed to store the reservations in %s: %m", m->state_dir);
        /* restart or reboot: after a reboot no guest runs any more */
        if (!m->read_only)
                for (size_t i = 0; i < m->n_reservations; i++)
                        (void) manager_reservation_apply(m, m->reservations[i],
                                                         m->rebooted ? RESERVATION_EVENT_REBOOT :
                                                                       RESERVATION_EVENT_DAEMON_RESTART,
                                                         LAST_ERROR_KEEP, NULL, 0, NULL);
        /* missing at start-up is degraded, as at run time */
        manager_reservations_check_present(m);

        /* before anyone can see the reservations: finish what a previous
         * instance left half done, bind again what a reboot gave back
         * (queued: the name is taken once those jobs ended) */
        r = manager_reconcile(m);
        if (r < 0)
                return r;
        (void) manager_boot_id_store(m);
        manager_invalidate_verdicts(m);

        r = manager_dbus_export(m);
        if (r < 0)
                return r;

        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        r = manager_udev_attach(m);
        if (r < 0)
                return r;

        if (m->startup_reapplies > 0) {
                log_info("Waiting for %u function(s) to be bound again before taking the bus name.",
                         m->startup_reapplies);
                (void) sd_notifyf(false, "STATUS=Binding %u function(s) of prepared reservations again...",
                                  m->startup_reapplies);
                return 0;
        }
        return manager_startup_ready(m);
}

int manager_startup_ready(Manager *m) {
        char status[256];
        int r;

        m->name_requested = true;
        /* Last: clients that see the name can rely on every object. */
        r = sd_bus_request_name(m->bus, "org.pciassign1", 0);
        if (r < 0) {
                log_error_errno(r, "Failed to acquire bus name org.pciassign1: %m");
                (void) sd_notifyf(false, "STATUS=Failed to start: %s\nERRNO=%i", strerror(-r), -r);
                (void) sd_event_exit(m->event, r);
                return r;
        }

        /* the first thing the loop does, after READY: what may take long
         * (giving orphans back) goes through the job queue */
        r = sd_event_add_defer(m->event, &m->startup_finish, on_startup_finish, m);
        if (r < 0) {
                log_error_errno(r, "Failed to schedule the end of start-up: %m");
                (void) sd_event_exit(m->event, r);
                return r;
        }
        (void) sd_event_source_set_enabled(m->startup_finish, SD_EVENT_ONESHOT);

        manager_status(m, status, sizeof status);
        log_info("Ready: %s.", status);
        (void) manager_status_ready(m, status);
        return 0;
}

void manager_host_binding(Manager *m, const PciDevice *d, HostBinding *ret) {
        ReservationFunction *f = NULL;
        const DetachedFunction *df;

        *ret = (HostBinding) {};
        if (manager_reservation_of(m, &d->address, &f) && f->host_driver) {
                *ret = (HostBinding) { f->host_driver, f->adopted, f->adopted ? f->host_override : NULL };
                return;
        }
        df = manager_find_detached(m, &d->address);
        if (df) {
                *ret = (HostBinding) { df->host_driver, df->adopted, df->adopted ? df->host_override : NULL };
                return;
        }
        if (d->driver && !pci_driver_is_vfio(d->driver) && !streq(d->driver, "pci-stub"))
                ret->driver = d->driver;
}

const char *manager_host_driver(Manager *m, const PciDevice *d) {
        HostBinding hb;

        manager_host_binding(m, d, &hb);
        return hb.driver;
}

/* The device view of describe_device() plus what the daemon knows:
 * verdict, reservation, host driver, presence. */
static json_object *describe_device_full(Manager *m, const PciDevice *d) {
        json_object *o = describe_device(d);
        ReservationFunction *f = NULL;
        ManagedReservation *mr;
        HostBinding hb;
        Verdict v = {};
        bool have_verdict;

        if (!o)
                return NULL;
        mr = manager_reservation_of(m, &d->address, &f);
        have_verdict = manager_verdict(m, &d->address, "", &v) >= 0;
        manager_host_binding(m, d, &hb);
        describe_device_state(o, !d->missing, hb.driver, mr ? mr->data->id : NULL, f && f->assigned,
                              have_verdict ? &v : NULL);
        describe_device_adoption(o, hb.adopted, hb.override);
        if (have_verdict)
                verdict_done(&v);
        return o;
}

const PciDevice *manager_next_device(Manager *m, size_t *i, size_t *j) {
        Topology *t = m->topology, *x = m->missing;

        if (*i >= t->n_devices && *j >= x->n_devices)
                return NULL;
        if (*j >= x->n_devices ||
            (*i < t->n_devices && pci_address_compare(&t->devices[*i]->address, &x->devices[*j]->address) < 0))
                return t->devices[(*i)++];
        return x->devices[(*j)++];
}

int manager_describe(Manager *m, char **ret) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        Topology *t = m->topology, *x = m->missing;
        json_object *devs, *groups, *res;
        size_t i = 0, j = 0;

        root = describe_root(PACKAGE_VERSION, topology_has_iommu(t), m->read_only);
        devs = json_object_new_array_ext((int) (t->n_devices + x->n_devices));
        groups = json_object_new_array_ext((int) t->n_groups);
        res = json_object_new_array();
        if (!root || !devs || !groups || !res) {
                json_object_put(devs);
                json_object_put(groups);
                json_object_put(res);
                return -ENOMEM;
        }
        for (const PciDevice *d; (d = manager_next_device(m, &i, &j));) {
                json_object_array_add(devs, describe_device_full(m, d));
        }
        json_object_object_add(root, "devices", devs);
        for (size_t k = 0; k < t->n_groups; k++) {
                json_object *g = describe_group(t->groups[k]);
                ManagedReservation *mr = NULL;

                for (size_t l = 0; !mr && l < t->groups[k]->n_members; l++)
                        mr = manager_reservation_of(m, &t->groups[k]->members[l]->address, NULL);
                json_object_object_add(g, "reservation", mr ? json_object_new_string(mr->data->id) : NULL);
                json_object_array_add(groups, g);
        }
        json_object_object_add(root, "groups", groups);
        for (size_t k = 0; k < m->n_reservations; k++)
                json_object_array_add(res, describe_reservation(m->reservations[k]->data));
        json_object_object_add(root, "reservations", res);

        *ret = describe_to_string(root);
        return *ret ? 0 : -ENOMEM;
}

static const char *reserved_by_cb(void *userdata, const PciAddress *a, const char **ret_id) {
        Manager *m = userdata;
        ManagedReservation *r = manager_reservation_of(m, a, NULL);

        if (!r)
                return NULL;
        *ret_id = r->data->id;
        return r->data->owner;
}

static const char *host_usage_cb(void *userdata, const PciAddress *a) {
        Manager *m = userdata;
        return host_usage_lookup(&m->host_usage, a);
}

int manager_verdict(Manager *m, const PciAddress *a, const char *owner, Verdict *ret) {
        VerdictContext ctx = {
                .topology = m->topology,
                .page_size = (uint64_t) sysconf(_SC_PAGESIZE),
                .reserved_by = reserved_by_cb,
                .host_usage = host_usage_cb,
                .userdata = m,
                .host_usage_unknown = m->host_usage_unknown,
        };
        return verdict_compute(&ctx, a, owner, ret);
}
