/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rtnl_parse_routes() (src/host-usage-internal.h), the reader of an
 * RTM_GETROUTE dump, on arbitrary bytes:
 *  - only the documented results: 0, -EBADMSG (no NLMSG_DONE), -EIO
 *    (NLMSG_ERROR), -ENOMEM; on failure *ret is NULL and *ret_n 0;
 *  - every route returned is IPv4 or IPv6 with a prefix length that fits
 *    the family, and its output interfaces are positive and distinct;
 *  - the bytes up to and including the first NLMSG_DONE decide: anything
 *    after it changes nothing. */
#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "host-usage-internal.h"

static void check_routes(const RtnlRoute *routes, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const RtnlRoute *rt = &routes[i];

                FUZZ_CHECK(rt->family == AF_INET || rt->family == AF_INET6);
                FUZZ_CHECK(rt->dst_len <= (rt->family == AF_INET ? 32 : 128));
                for (size_t k = 0; k < rt->n_oifs; k++) {
                        FUZZ_CHECK(rt->oifs[k] > 0);
                        for (size_t j = 0; j < k; j++)
                                FUZZ_CHECK(rt->oifs[j] != rt->oifs[k]);
                }
        }
}

static bool routes_equal(const RtnlRoute *a, size_t na, const RtnlRoute *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (a[i].family != b[i].family || a[i].table != b[i].table || a[i].dst_len != b[i].dst_len ||
                    a[i].type != b[i].type || memcmp(a[i].dst, b[i].dst, sizeof a[i].dst) != 0 ||
                    a[i].nexthop_object != b[i].nexthop_object || a[i].n_oifs != b[i].n_oifs ||
                    (a[i].n_oifs && memcmp(a[i].oifs, b[i].oifs, a[i].n_oifs * sizeof(int)) != 0))
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        RtnlRoute *routes = (RtnlRoute *) 1, *again = NULL;
        size_t n = 1, n_again = 0;
        uint8_t *buf, *longer;
        int r, k;

        /* the kernel hands out aligned buffers: so does the daemon */
        buf = malloc(size ?: 1);
        FUZZ_CHECK(buf);
        memcpy(buf, data, size);

        r = rtnl_parse_routes(buf, size, &routes, &n);
        FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EIO || r == -ENOMEM);
        if (r < 0) {
                FUZZ_CHECK(routes == NULL && n == 0);
        } else
                check_routes(routes, n);

        /* trailing garbage after a complete dump is never looked at */
        longer = malloc(size + 64);
        FUZZ_CHECK(longer);
        memcpy(longer, data, size);
        memset(longer + size, 0x5a, 64);
        k = rtnl_parse_routes(longer, size + 64, &again, &n_again);
        if (r == 0) {
                FUZZ_CHECK(k == 0);
                FUZZ_CHECK(routes_equal(routes, n, again, n_again));
        }
        rtnl_routes_free(again, n_again);
        rtnl_routes_free(routes, n);
        free(longer);
        free(buf);
        return 0;
}
