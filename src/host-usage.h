/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pci-address.h"

/* What the host itself depends on: PCI functions that are ancestors of a
 * block device holding a mounted filesystem or active swap, or of a network
 * interface carrying a default route (IPv4 or IPv6, of any routing table:
 * policy rules may pick any), or reaching the server of a mounted network
 * filesystem (nfs, cifs: its addr= option) or of a logged-in iSCSI
 * connection.  Read-only: reads mountinfo, swaps, one rtnetlink route dump
 * (every family and table; /proc/net/route and ipv6_route only when there is
 * no dump), sysfs links, udev's database (ZFS pool members) and the ZFS kstat
 * directory; never writes anything.
 *
 * "Ancestor" means every PCI function in the device's sysfs path: the
 * controller and every bridge or port above it.  Stacked devices are
 * followed: block `slaves/` (dm-crypt, LVM, dm-multipath, md, bcache; also
 * through a partition of such a device), the controllers of an NVMe native
 * multipath head, the file behind a loop device, every device of a mounted
 * btrfs (/sys/fs/btrfs/<fsid>/devices), the members of a mounted or imported
 * ZFS pool (udev's ID_FS_TYPE=zfs_member, ID_FS_LABEL=<pool>), and network
 * `lower_*` links (bridge, bond, team, VLAN, macvlan), up to 8 levels deep.
 * Whatever cannot be followed sets a bit in HostUsage.unreadable: the
 * caller must then treat every function as undetermined (fail closed). */

typedef struct HostUsageEntry {
        PciAddress address;
        /* Why, as UTF-8 text fit for D-Bus (bytes that are not printable
         * UTF-8 are shown as \xNN), at most 3 causes joined with "; " and
         * "and N more", e.g. "mounted filesystem / from /dev/nvme0n1p2
         * (259:2); default route via enp0s2". */
        char *reason;
} HostUsageEntry;

/* Bits of HostUsage.unreadable */
typedef enum HostUsageSource {
        HOST_USAGE_SOURCE_MOUNTINFO  = 1 << 0,
        HOST_USAGE_SOURCE_SWAPS      = 1 << 1,
        HOST_USAGE_SOURCE_ROUTE      = 1 << 2,
        HOST_USAGE_SOURCE_IPV6_ROUTE = 1 << 3,
        /* sysfs could not be read where a stack is described (EACCES,
         * EIO on a slaves/ or lower_ link) */
        HOST_USAGE_SOURCE_SYSFS      = 1 << 4,
        /* a stack that could not be followed to its devices: a loop
         * device whose backing file is gone or on an anonymous device, a
         * btrfs whose devices sysfs does not list, a ZFS pool whose members
         * udev does not know, a stack deeper than 8 levels */
        HOST_USAGE_SOURCE_STACK      = 1 << 5,
        /* the ZFS kstat directory (imported pools) */
        HOST_USAGE_SOURCE_ZFS        = 1 << 6,
        /* the route dump over rtnetlink */
        HOST_USAGE_SOURCE_RTNETLINK  = 1 << 7,
} HostUsageSource;

typedef struct HostUsage {
        HostUsageEntry *entries;   /* sorted by address, one per function */
        size_t n_entries;
        /* Sources that exist but could not be read (or not to the end): the
         * entries they would have added may be missing, so the result must be
         * treated as incomplete: no function may then be called free of
         * host use (fail closed).  A missing file sets no bit: that is "no
         * swap", "no IPv6". */
        unsigned unreadable;
        /* When unreadable is not 0: one sentence naming what could not be
         * read ("the mount table (/proc/self/mountinfo) could not be read"),
         * for the host-usage-unknown reason and the log; else NULL. */
        char *unknown;
} HostUsage;

typedef struct HostUsagePaths {
        const char *mountinfo;     /* default /proc/self/mountinfo */
        const char *swaps;         /* default /proc/swaps */
        const char *route;         /* default /proc/net/route */
        const char *ipv6_route;    /* default /proc/net/ipv6_route */
        const char *sysfs;         /* default /sys; absolute */
        const char *zfs_kstat;     /* default /proc/spl/kstat/zfs: a
                                    * directory per imported pool */
        const char *udev_data;     /* default /run/udev/data: udev's
                                    * database (b<major>:<minor> files) */
        const char *dev;           /* default /dev: where the /dev/NAME of
                                    * mount sources and swaps are stat()ed
                                    * (a name not there is looked up in
                                    * sysfs); tests on recorded trees */
        const char *rtnetlink;     /* default NULL: dump every route table
                                    * over rtnetlink; else a file holding
                                    * such a dump (tests).  Only when there
                                    * is none: route and ipv6_route */
} HostUsagePaths;

/* Fills unset fields with the defaults; if $PCI_ASSIGND_PROC_DIR is set
 * (tests), the four /proc files are taken from that directory instead, as
 * DIR/mountinfo, DIR/swaps, DIR/route, DIR/ipv6_route, DIR/zfs-kstat and
 * DIR/udev-data and DIR/rtnetlink (if that file is missing, the route
 * files).  Those strings live
 * in thread-local storage: valid in the calling thread until its next call. */
void host_usage_paths_default(HostUsagePaths *p);

/* Computes the current usage into *ret (p may be NULL: all defaults).
 * Missing files are not an error (no swap, no IPv6); unreadable sources are
 * skipped and flagged in ret->unreadable; malformed lines, hostile names and
 * devices that vanish while we look are skipped.  Returns 0, -ENOMEM, or
 * -EINVAL for a relative sysfs path; *ret is set only on success. */
int host_usage_compute(const HostUsagePaths *p, HostUsage *ret);
void host_usage_done(HostUsage *u);

/* The reason a function is in use by the host, or NULL. */
const char *host_usage_lookup(const HostUsage *u, const PciAddress *a);

/* Why the host's use of a function is not known (u->unknown), or NULL when
 * everything was read. */
const char *host_usage_unknown(const HostUsage *u);

/* "the mount table (/proc/self/mountinfo)", ...: what one source bit names;
 * NULL for anything but a single known bit. */
const char *host_usage_source_to_string(HostUsageSource s);

/* Same set of functions with the same reasons, and the same sources
 * unreadable? (to emit changes only when something changed) */
bool host_usage_equal(const HostUsage *a, const HostUsage *b);
