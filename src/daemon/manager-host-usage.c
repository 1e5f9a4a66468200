/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "manager-dbus.h"
#include "manager.h"

/* Recomputes what the host depends on and announces the verdicts that
 * changed: the functions that entered or left the set. */
int manager_host_usage_refresh(Manager *m) {
        HostUsage next = {}, prev;
        size_t i = 0, j = 0;
        int r;

        r = host_usage_compute(&m->host_usage_paths, &next);
        if (r < 0)
                return log_warning_errno(r, "Failed to compute host usage: %m");
        if (next.unreadable) {
                /* failing open would make the root disk look assignable:
                 * keep what we knew */
                log_warning("Some of mountinfo, swaps or the route tables could not be read (0x%x); "
                            "keeping the previous host usage.", next.unreadable);
                host_usage_done(&next);
                return 0;
        }
        if (host_usage_equal(&m->host_usage, &next)) {
                host_usage_done(&next);
                return 0;
        }
        prev = m->host_usage;
        m->host_usage = next;

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
                        manager_dbus_device_verdict_changed(m, &prev.entries[i++].address);
                } else if (c > 0) {
                        char buf[PCI_ADDRESS_STRLEN];
                        log_info("Host depends on %s: %s.", pci_address_format(&next.entries[j].address, buf),
                                 next.entries[j].reason);
                        manager_dbus_device_verdict_changed(m, &next.entries[j++].address);
                } else {
                        if (!streq_ptr(prev.entries[i].reason, next.entries[j].reason))
                                manager_dbus_device_verdict_changed(m, &next.entries[j].address);
                        i++;
                        j++;
                }
        }
        host_usage_done(&prev);
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
        if (r < 0)
                return log_error_errno(r, "Failed to compute host usage: %m");
        if (m->host_usage.unreadable)
                log_warning("Some of mountinfo, swaps or the route tables could not be read (0x%x); "
                            "functions the host depends on through them are not known.",
                            m->host_usage.unreadable);
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
