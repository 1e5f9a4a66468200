/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "device-dbus.h"
#include "manager.h"

/* A function's verdict changed: so did its group peers' (their
 * group-peer-in-use-by-host names it). */
static void verdict_changed_with_peers(Manager *m, const PciAddress *a) {
        _cleanup_free_ PciDevice **peers = NULL;
        size_t n = 0;

        manager_dbus_device_verdict_changed(m, a);
        if (topology_group_peers(m->topology, topology_find(m->topology, a), &peers, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                manager_dbus_device_verdict_changed(m, &peers[i]->address);
}

/* Sets (text) or clears (NULL) "host usage not known", which makes every
 * function unassignable; takes text.  Returns whether it changed. */
static bool set_unknown(Manager *m, char *text) {
        if (streq_ptr(m->host_usage_unknown, text)) {
                free(text);
                return false;
        }
        free(m->host_usage_unknown);
        m->host_usage_unknown = text;
        if (text)
                log_warning("What the host depends on is not fully known (%s): no PCI function is assignable "
                            "until it is.", text);
        else
                log_info("What the host depends on is known again.");
        return true;
}

/* The unknown text for a compute result: fail closed, ENOMEM included. */
static char *unknown_text(int r, const HostUsage *u) {
        char *text = NULL;

        if (r < 0) {
                if (asprintf(&text, "host usage could not be computed: %s", strerror(-r)) < 0)
                        text = NULL;
        } else if (u && u->unreadable)
                text = strdup(host_usage_unknown(u));
        else
                return NULL;
        return text ?: strdup("host usage could not be determined");
}

/* Recomputes what the host depends on and announces the verdicts that
 * changed: the functions that entered or left the set, their group peers,
 * or every function when the result is (or stops being) incomplete. */
int manager_host_usage_refresh(Manager *m) {
        HostUsage next = {}, prev;
        size_t i = 0, j = 0;
        bool unknown_changed;
        int r;

        r = host_usage_compute(&m->host_usage_paths, &next);
        if (r < 0)
                log_warning_errno(r, "Failed to compute host usage: %m");
        unknown_changed = set_unknown(m, unknown_text(r, r < 0 ? NULL : &next));
        if (unknown_changed)
                manager_invalidate_verdicts(m);
        if (r < 0 || next.unreadable) {
                /* keep the previous set: every verdict is blocked by
                 * host-usage-unknown until a complete result comes */
                host_usage_done(&next);
                if (unknown_changed)
                        for (size_t k = 0; k < m->topology->n_devices; k++)
                                manager_dbus_device_verdict_changed(m, &m->topology->devices[k]->address);
                return 0;
        }
        if (host_usage_equal(&m->host_usage, &next)) {
                host_usage_done(&next);
                if (unknown_changed)
                        for (size_t k = 0; k < m->topology->n_devices; k++)
                                manager_dbus_device_verdict_changed(m, &m->topology->devices[k]->address);
                return 0;
        }
        prev = m->host_usage;
        m->host_usage = next;
        manager_invalidate_verdicts(m);

        /* both lists are sorted: walk them together */
        while (i < prev.n_entries || j < next.n_entries) {
                int c;

                if (i >= prev.n_entries)
                        c = 1;
                else if (j >= next.n_entries)
                        c = -1;
                else
                        c = pci_address_compare(&prev.entries[i].address, &next.entries[j].address);
                if (c < 0) {
                        char buf[PCI_ADDRESS_STRLEN];
                        log_info("Host no longer depends on %s.", pci_address_format(&prev.entries[i].address, buf));
                        verdict_changed_with_peers(m, &prev.entries[i++].address);
                } else if (c > 0) {
                        char buf[PCI_ADDRESS_STRLEN];
                        log_info("Host depends on %s: %s.", pci_address_format(&next.entries[j].address, buf),
                                 next.entries[j].reason);
                        verdict_changed_with_peers(m, &next.entries[j++].address);
                } else {
                        if (!streq_ptr(prev.entries[i].reason, next.entries[j].reason))
                                verdict_changed_with_peers(m, &next.entries[j].address);
                        i++;
                        j++;
                }
        }
        host_usage_done(&prev);
        if (unknown_changed)
                for (size_t k = 0; k < m->topology->n_devices; k++)
                        manager_dbus_device_verdict_changed(m, &m->topology->devices[k]->address);
        return 1;
}

static int on_proc_change(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;

        /* /proc/self/mountinfo and /proc/swaps signal changes with
         * EPOLLPRI; reading is not needed to re-arm, a fresh compute is */
        (void) manager_host_usage_refresh(m);
        return 0;
}

static int on_route_change(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        char buf[8192];

        /* drain: we only care that something changed */
        while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
                ;
        (void) manager_host_usage_refresh(m);
        return 0;
}

static int watch_proc_file(Manager *m, const char *path, sd_event_source **ret) {
        int fd, r;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return log_debug_errno(errno, "Cannot watch %s: %m", path);
        r = sd_event_add_io(m->event, ret, fd, EPOLLPRI, on_proc_change, m);
        if (r < 0) {
                close(fd);
                return log_debug_errno(r, "Cannot watch %s: %m", path);
        }
        (void) sd_event_source_set_io_fd_own(*ret, true);
        return 0;
}

int manager_host_usage_start(Manager *m) {
        struct sockaddr_nl sa = {
                .nl_family = AF_NETLINK,
                /* links too: enslaving a NIC into a bridge or bond changes
                 * which PCI function carries the default route */
                .nl_groups = RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_LINK,
        };
        int fd, r;

        host_usage_paths_default(&m->host_usage_paths);
        r = host_usage_compute(&m->host_usage_paths, &m->host_usage);
        if (r == -EINVAL)
                return log_error_errno(r, "Failed to compute host usage: %m");
        if (r < 0)
                log_warning_errno(r, "Failed to compute host usage: %m");
        /* fail closed: what we could not look at may be the root disk */
        (void) set_unknown(m, unknown_text(r, r < 0 ? NULL : &m->host_usage));
        log_debug("The host depends on %zu PCI function(s).", m->host_usage.n_entries);

        /* With test files in place of /proc nothing signals changes. */
        if (getenv("PCI_ASSIGND_PROC_DIR"))
                return 0;

        (void) watch_proc_file(m, m->host_usage_paths.mountinfo, &m->mountinfo_source);
        (void) watch_proc_file(m, m->host_usage_paths.swaps, &m->swaps_source);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (fd < 0)
                return log_warning_errno(errno, "Cannot follow route changes: %m"), 0;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                log_warning_errno(errno, "Cannot follow route changes: %m");
                close(fd);
                return 0;
        }
        r = sd_event_add_io(m->event, &m->route_source, fd, EPOLLIN, on_route_change, m);
        if (r < 0) {
                close(fd);
                return log_warning_errno(r, "Cannot follow route changes: %m"), 0;
        }
        (void) sd_event_source_set_io_fd_own(m->route_source, true);
        return 0;
}
