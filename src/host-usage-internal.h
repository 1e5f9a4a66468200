/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between the parts of host-usage: the sysfs walk from a block or
 * network device to the PCI functions it hangs off (host-usage-walk.c), the
 * stacks that are not sysfs links (host-usage-stacks.c: btrfs, ZFS) and the
 * /proc and netlink parsers (host-usage.c, host-usage-rtnl.c).  Not an API. */

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "host-usage.h"
#include "macro.h"

/* dm on md on a partition is 3 levels; 8 is far beyond any real stack and
 * keeps a looping or hostile sysfs from keeping us busy. */
#define STACK_DEPTH_MAX 8
/* Devices visited for one source (all members of a wide md/LVM/bond). */
#define STACK_NODES_MAX 256
/* A reason names at most this many causes, then "and N more". */
#define REASON_CAUSES_MAX 3
/* Bytes of one name (mount point, source, file) shown in a reason. */
#define REASON_NAME_MAX 200
/* IFNAMSIZ - 1 */
#define IFNAME_MAX 15

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}
#define _cleanup_closedir_ _cleanup_(closedirp)

/* One (function, cause) pair; reasons are interned, so a cause is an index. */
typedef struct Use {
        PciAddress address;
        size_t reason;
} Use;

/* The PCI functions a block device (by dev_t) hangs off, computed once per
 * device: a host with hundreds of bind mounts has a handful of devices. */
typedef struct DevFunctions {
        dev_t dev;
        PciAddress *addrs;
        size_t n_addrs;
} DevFunctions;

/* One route of a rtnetlink dump: what decides which NIC a packet leaves by. */
typedef struct RtnlRoute {
        int family;              /* AF_INET, AF_INET6 */
        unsigned table;          /* RTA_TABLE (or rtm_table) */
        unsigned char dst_len;   /* 0: a default route */
        unsigned char type;      /* RTN_UNICAST, ... */
        uint8_t dst[16];
        int *oifs;               /* RTA_OIF and every RTA_MULTIPATH nexthop */
        size_t n_oifs;
        bool nexthop_object;     /* RTA_NH_ID: devices not in this dump */
} RtnlRoute;

typedef struct Context {
        char *sysfs;             /* normalised, "" for "/" */
        char *devices_prefix;    /* sysfs + "/devices/" */
        Use *uses;
        size_t n_uses, alloc_uses;
        char **reasons;
        size_t n_reasons, alloc_reasons;
        DevFunctions *devs;
        size_t n_devs, alloc_devs;
        const char *udev_data;   /* udev's database directory */
        const char *dev;         /* "/dev", or a test's stand-in */
        struct RtnlRoute *routes; /* every route of every table, when known */
        size_t n_routes;
        bool have_routes;
        unsigned unreadable;
} Context;

/* The set of functions found while walking one device and what it stacks on. */
typedef struct Walk {
        PciAddress *addrs;
        size_t n_addrs, alloc_addrs;
        char **visited;
        size_t n_visited, alloc_visited;
        /* a tunnel found on the way whose underlay the routing table
         * chooses (vxlan without a device, wireguard, gre, tun): "" if none */
        char tunnel[IFNAME_MAX + 1];
} Walk;

int grow_array(void **array, size_t *alloc, size_t need, size_t size);
/* Makes room for `need` elements in a malloc'd array (doubling). */
#define GROW(array, alloc, need) grow_array((void **) &(array), &(alloc), (need), sizeof(*(array)))

void context_done(Context *c);
int path_resolve(const char *dir, const char *target, char **ret);
char *path_join(const char *a, const char *b);

/* The functions behind block device `dev`, from the cache or from sysfs
 * (the array belongs to the cache). */
int block_functions(Context *c, dev_t dev, const PciAddress **ret_addrs, size_t *ret_n);
/* Resolves the sysfs link `dir`/`name` and walks the device it points at;
 * *ret_addrs is malloc'd. */
int walk_from_link(Context *c, const char *dir, const char *name, bool net, PciAddress **ret_addrs, size_t *ret_n);
/* The same for an interface, also returning the name of a routed tunnel
 * found on the way ("" if none) in ret_tunnel. */
/* What a routed tunnel (see Walk) carries for `what` may leave through
 * any interface a route goes out of: each of them is counted ("WHAT via
 * TUNNEL, a tunnel that may be routed over IF"); without the routes, not
 * known. */
int add_tunnel_underlay(Context *c, const char *tunnel, const char *what);
int walk_interface(Context *c, const char *dir, const char *name, PciAddress **ret_addrs, size_t *ret_n,
                   char ret_tunnel[IFNAME_MAX + 1]);

/* Room for one sanitized name: REASON_NAME_MAX bytes, "..." and the NUL. */
#define NAME_BUF (REASON_NAME_MAX + 4)
const char *sanitize(const char *s, char buf[static NAME_BUF]);
_printf_(4, 5)
int add_uses(Context *c, const PciAddress *addrs, size_t n, const char *fmt, ...);
int build_entries(Context *c, HostUsage *u);

int parse_uint(const char *s, unsigned max, unsigned *ret);
int parse_majmin(const char *s, dev_t *ret);
int stat_noautomount(const char *path, struct stat *st);
/* stat_noautomount(), and for a /dev/NAME or /dev/mapper/NAME that cannot be
 * stat()ed, the block device sysfs knows by that name (S_IFBLK, st_rdev
 * only); -ENOMEM, or -ENOENT when neither knows it. */
int source_stat(Context *c, const char *path, struct stat *st);

/* host-usage-stacks.c */
/* Every device of the btrfs that holds dev (dev included): -ENOENT when
 * sysfs lists none, -ENOMEM. */
int btrfs_devices(Context *c, dev_t dev, dev_t **ret, size_t *ret_n);
/* The block devices udev labels as members of ZFS pool `pool`. */
int zfs_pool_devices(Context *c, const char *pool, dev_t **ret, size_t *ret_n);
/* Marks the functions of every member of `pool`, the cause reading
 * "WHY (ZFS pool POOL)"; a pool without known members flags the result. */
int add_zfs_pool(Context *c, const char *pool, const char *why);
/* Every pool imported, from /proc/spl/kstat/zfs/<pool>/. */
int read_zfs_kstat(Context *c, const char *dir);

/* host-usage.c */
/* Marks the functions below interface `ifname`, the cause "WHAT via IF". */
int add_interface(Context *c, const char *ifname, const char *what);

/* host-usage-rtnl.c */
/* Parses a stream of netlink messages (one RTM_GETROUTE dump, ending in
 * NLMSG_DONE; nothing after it is looked at): -EBADMSG for a dump cut
 * short (or larger than 256 MiB), -EIO for NLMSG_ERROR, -ENOMEM; on failure
 * *ret is NULL and *ret_n 0. */
int rtnl_parse_routes(const void *buf, size_t len, RtnlRoute **ret, size_t *ret_n);
void rtnl_routes_free(RtnlRoute *routes, size_t n);
/* Asks the kernel for every route of every table and family. */
int rtnl_dump_routes(void **ret_buf, size_t *ret_len);
/* Fill c->routes: from a recorded dump (-ENOENT if there is none), or from
 * the kernel; what cannot be read sets HOST_USAGE_SOURCE_RTNETLINK. */
int read_routes_file(Context *c, const char *path);
int read_routes_kernel(Context *c);
/* The output interfaces of every default unicast route, every table. */
int add_default_routes(Context *c);
/* The interfaces that reach `address` (numeric IPv4/IPv6): the longest
 * match of every table; cause `why`. */
int add_server_route(Context *c, const char *address, const char *why);
