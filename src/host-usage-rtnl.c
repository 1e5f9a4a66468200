/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Routes over rtnetlink: one RTM_GETROUTE dump (every family, every table),
 * parsed into the default routes' output interfaces, and a longest-prefix
 * lookup for the NIC that reaches a network filesystem's or an iSCSI
 * session's server.  The dump comes from the kernel or, in tests, from a
 * file holding the same bytes. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "host-usage-internal.h"

/* A dump larger than this is not a routing table we can trust to hold in
 * memory (a full BGP table is ~100 MiB in netlink form): not known. */
#define RTNL_DUMP_MAX (256u << 20)

static int route_add_oif(RtnlRoute *rt, int oif) {
        int *n;

        if (oif <= 0)
                return 0;
        for (size_t i = 0; i < rt->n_oifs; i++)
                if (rt->oifs[i] == oif)
                        return 0;
        n = realloc(rt->oifs, (rt->n_oifs + 1) * sizeof(int));
        if (!n)
                return -ENOMEM;
        rt->oifs = n;
        rt->oifs[rt->n_oifs++] = oif;
        return 0;
}

void rtnl_routes_free(RtnlRoute *routes, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(routes[i].oifs);
        free(routes);
}

/* The nexthops of an RTA_MULTIPATH attribute. */
static int parse_multipath(RtnlRoute *rt, const void *data, size_t len) {
        const struct rtnexthop *nh = data;

        while (len >= sizeof *nh && nh->rtnh_len >= sizeof *nh && nh->rtnh_len <= len) {
                size_t step = RTNH_ALIGN(nh->rtnh_len);
                int r = route_add_oif(rt, nh->rtnh_ifindex);

                if (r < 0)
                        return r;
                if (step >= len)
                        break;
                len -= step;
                nh = (const struct rtnexthop *) ((const char *) nh + step);
        }
        return 0;
}

static int parse_route(const struct nlmsghdr *h, RtnlRoute *ret) {
        const struct rtmsg *rtm = NLMSG_DATA(h);
        const struct rtattr *a;
        RtnlRoute rt = {};
        /* signed: RTA_NEXT() subtracts the aligned length, which may be
         * more than is left; RTA_OK() then stops at a negative rest */
        ssize_t len;
        int r;

        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *rtm))
                return -EBADMSG;
        if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
                return -EAFNOSUPPORT;
        rt.family = rtm->rtm_family;
        rt.dst_len = rtm->rtm_dst_len;
        rt.type = rtm->rtm_type;
        rt.table = rtm->rtm_table;
        if (rt.dst_len > (rt.family == AF_INET ? 32 : 128))
                return -EBADMSG;

        len = (ssize_t) (h->nlmsg_len - NLMSG_LENGTH(sizeof *rtm));
        for (a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                size_t plen = (size_t) RTA_PAYLOAD(a);

                switch (a->rta_type) {
                case RTA_TABLE:
                        if (plen >= sizeof(uint32_t))
                                memcpy(&rt.table, RTA_DATA(a), sizeof(uint32_t));
                        break;
                case RTA_DST:
                        if (plen > sizeof rt.dst)
                                plen = sizeof rt.dst;
                        memcpy(rt.dst, RTA_DATA(a), plen);
                        break;
                case RTA_OIF:
                        if (plen >= sizeof(int)) {
                                int oif;

                                memcpy(&oif, RTA_DATA(a), sizeof oif);
                                r = route_add_oif(&rt, oif);
                                if (r < 0)
                                        goto fail;
                        }
                        break;
                case RTA_MULTIPATH:
                        r = parse_multipath(&rt, RTA_DATA(a), plen);
                        if (r < 0)
                                goto fail;
                        break;
                case RTA_NH_ID:
                        /* a nexthop object: its devices are in another
                         * dump this reader does not make */
                        rt.nexthop_object = true;
                        break;
                }
        }
        *ret = rt;
        return 0;
fail:
        free(rt.oifs);
        return r;
}

int rtnl_parse_routes(const void *buf, size_t size, RtnlRoute **ret, size_t *ret_n) {
        RtnlRoute *routes = NULL;
        size_t n = 0, alloc = 0;
        const struct nlmsghdr *h;
        /* signed, see parse_route() (NLMSG_NEXT() alike) */
        ssize_t len = (ssize_t) size;
        bool done = false;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (size > RTNL_DUMP_MAX)
                return -EBADMSG;
        for (h = buf; !done && NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
                RtnlRoute rt;

                switch (h->nlmsg_type) {
                case NLMSG_DONE:
                        done = true;
                        continue;
                case NLMSG_ERROR:
                        r = -EIO;
                        goto fail;
                case RTM_NEWROUTE:
                        break;
                default:
                        continue;
                }
                r = parse_route(h, &rt);
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0)
                        /* another family's route (MPLS, IPMR) or a short
                         * one: nothing the host reaches a NIC through */
                        continue;
                if (GROW(routes, alloc, n + 1) < 0) {
                        free(rt.oifs);
                        r = -ENOMEM;
                        goto fail;
                }
                routes[n++] = rt;
        }
        if (!done) {
                /* a dump cut short: the rest of the tables is not known */
                r = -EBADMSG;
                goto fail;
        }
        *ret = routes;
        *ret_n = n;
        return 0;
fail:
        rtnl_routes_free(routes, n);
        return r;
}

int rtnl_dump_routes(void **ret_buf, size_t *ret_len) {
        struct {
                struct nlmsghdr h;
                struct rtmsg rtm;
        } req = {
                .h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
                .h.nlmsg_type = RTM_GETROUTE,
                .h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                /* AF_UNSPEC: IPv4 and IPv6 (and the rest) in one dump;
                 * no table given: every table */
                .rtm.rtm_family = AF_UNSPEC,
        };
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, alloc = 0;
        _cleanup_close_ int fd = -EBADF;
        bool done = false;

        *ret_buf = NULL;
        *ret_len = 0;
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return -errno;
        {
                struct timeval tv = { .tv_sec = 5 };

                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
        req.h.nlmsg_seq = (uint32_t) time(NULL);
        if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;

        while (!done) {
                const struct nlmsghdr *h;
                ssize_t k, left;

                if (GROW(buf, alloc, len + 65536) < 0)
                        return -ENOMEM;
                k = recv(fd, buf + len, 65536, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                left = k;
                for (h = (const struct nlmsghdr *) (buf + len); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
                        if (h->nlmsg_type == NLMSG_DONE)
                                done = true;
                        else if (h->nlmsg_type == NLMSG_ERROR)
                                return -EIO;
                }
                len += (size_t) k;
                if (len > RTNL_DUMP_MAX)
                        return -EFBIG;
        }
        *ret_buf = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* class/net/<name>/ifindex == ifindex */
static int ifindex_to_name(Context *c, int ifindex, char ret[IFNAME_MAX + 1]) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;

        dir = path_join(c->sysfs, "class/net");
        if (!dir)
                return -ENOMEM;
        d = opendir(dir);
        if (!d)
                return errno == ENOMEM ? -ENOMEM : -ENOENT;
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;
                _cleanup_fclose_ FILE *f = NULL;
                int idx;

                if (de->d_name[0] == '.' || strlen(de->d_name) > IFNAME_MAX)
                        continue;
                if (asprintf(&path, "%s/%s/ifindex", dir, de->d_name) < 0) {
                        path = NULL;
                        return -ENOMEM;
                }
                f = fopen(path, "re");
                if (!f || fscanf(f, "%d", &idx) != 1 || idx != ifindex)
                        continue;
                strcpy(ret, de->d_name);
                return 0;
        }
        return -ENOENT;
}

static int add_oifs(Context *c, const RtnlRoute *rt, const char *what) {
        for (size_t i = 0; i < rt->n_oifs; i++) {
                char name[IFNAME_MAX + 1];
                int r;

                r = ifindex_to_name(c, rt->oifs[i], name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        /* an interface that went away between the dump
                         * and now, or that sysfs does not show (another
                         * network namespace's sysfs): not known */
                        c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                        continue;
                }
                r = add_interface(c, name, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool route_usable(const RtnlRoute *rt) {
        /* unreachable, blackhole, prohibit, local, broadcast: no NIC */
        return rt->type == RTN_UNICAST;
}

int add_default_routes(Context *c) {
        for (size_t i = 0; i < c->n_routes; i++) {
                const RtnlRoute *rt = &c->routes[i];
                char what[64];
                int r;

                if (rt->dst_len != 0 || !route_usable(rt))
                        continue;
                if (rt->nexthop_object && rt->n_oifs == 0) {
                        c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                        continue;
                }
                /* the main table keeps the words /proc/net/route gave */
                if (rt->table == RT_TABLE_MAIN)
                        (void) snprintf(what, sizeof what, "%sdefault route", rt->family == AF_INET6 ? "IPv6 " : "");
                else
                        (void) snprintf(what, sizeof what, "%sdefault route (table %u)",
                                        rt->family == AF_INET6 ? "IPv6 " : "", rt->table);
                r = add_oifs(c, rt, what);
                if (r < 0)
                        return r;
        }
        return 0;
}

int add_tunnel_underlay(Context *c, const char *tunnel, const char *what) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_free_ int *seen = NULL;
        size_t n_seen = 0, alloc_seen = 0;
        char tname[NAME_BUF];
        int r;

        if (!c->have_routes) {
                c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                return 0;
        }
        dir = path_join(c->sysfs, "class/net");
        if (!dir)
                return -ENOMEM;
        (void) sanitize(tunnel, tname);
        for (size_t i = 0; i < c->n_routes; i++) {
                const RtnlRoute *rt = &c->routes[i];

                if (!route_usable(rt))
                        continue;
                if (rt->nexthop_object && rt->n_oifs == 0) {
                        c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                        continue;
                }
                for (size_t k = 0; k < rt->n_oifs; k++) {
                        _cleanup_free_ PciAddress *addrs = NULL;
                        char name[IFNAME_MAX + 1], sub[IFNAME_MAX + 1], sname[NAME_BUF];
                        bool dup = false;
                        size_t n;

                        for (size_t j = 0; j < n_seen; j++)
                                dup = dup || seen[j] == rt->oifs[k];
                        if (dup)
                                continue;
                        if (GROW(seen, alloc_seen, n_seen + 1) < 0)
                                return -ENOMEM;
                        seen[n_seen++] = rt->oifs[k];
                        r = ifindex_to_name(c, rt->oifs[k], name);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                                continue;
                        }
                        if (streq(name, tunnel))
                                continue;
                        /* another tunnel's underlay is among these routes
                         * too: nothing more to follow */
                        r = walk_interface(c, dir, name, &addrs, &n, sub);
                        if (r < 0)
                                return r;
                        r = add_uses(c, addrs, n, "%s via %s, a tunnel that may be routed over %s", what, tname,
                                     sanitize(name, sname));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits) {
        unsigned bytes = bits / 8, rest = bits % 8;

        if (memcmp(a, b, bytes) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((a[bytes] ^ b[bytes]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

int add_server_route(Context *c, const char *address, const char *why) {
        uint8_t dst[16] = {};
        int family;

        if (inet_pton(AF_INET, address, dst) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, address, dst) == 1)
                family = AF_INET6;
        else {
                /* a host name, or nothing we can parse: not known */
                c->unreadable |= HOST_USAGE_SOURCE_STACK;
                return 0;
        }
        if (!c->have_routes) {
                c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                return 0;
        }

        /* The longest match per table; rules may pick any table, so every
         * table's best route counts (more NICs, never fewer). */
        for (size_t i = 0; i < c->n_routes; i++) {
                const RtnlRoute *rt = &c->routes[i];
                bool best = true;
                int r;

                if (rt->family != family || !route_usable(rt) || !prefix_match(rt->dst, dst, rt->dst_len))
                        continue;
                for (size_t j = 0; j < c->n_routes && best; j++) {
                        const RtnlRoute *o = &c->routes[j];

                        if (o->family == family && o->table == rt->table && o->dst_len > rt->dst_len &&
                            route_usable(o) && prefix_match(o->dst, dst, o->dst_len))
                                best = false;
                }
                if (!best)
                        continue;
                if (rt->nexthop_object && rt->n_oifs == 0) {
                        c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                        continue;
                }
                r = add_oifs(c, rt, why);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The routes of a dump read with result r (-ENOMEM is passed on; any
 * other failure, or a dump that does not parse, leaves them unknown). */
static int adopt_dump(Context *c, int r, const void *buf, size_t len) {
        if (r >= 0)
                r = rtnl_parse_routes(buf, len, &c->routes, &c->n_routes);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                return 0;
        }
        c->have_routes = true;
        return 0;
}

int read_routes_file(Context *c, const char *path) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t len = 0, alloc = 0;

        f = fopen(path, "re");
        if (!f) {
                if (errno == ENOENT)
                        return -ENOENT;
                c->unreadable |= HOST_USAGE_SOURCE_RTNETLINK;
                return 0;
        }
        for (;;) {
                size_t k;

                if (GROW(buf, alloc, len + 65536) < 0)
                        return -ENOMEM;
                k = fread(buf + len, 1, 65536, f);
                len += k;
                if (k < 65536)
                        break;
                if (len > RTNL_DUMP_MAX)
                        return adopt_dump(c, -EFBIG, NULL, 0);
        }
        return adopt_dump(c, ferror(f) ? -EIO : 0, buf, len);
}

int read_routes_kernel(Context *c) {
        _cleanup_free_ void *buf = NULL;
        size_t len;
        int r;

        r = rtnl_dump_routes(&buf, &len);
        return adopt_dump(c, r, buf, len);
}
