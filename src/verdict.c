/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "verdict.h"

#define DEFAULT_PAGE_SIZE UINT64_C(4096)

/* A parent chain longer than the number of buses in a domain means the
 * model is inconsistent (a loop); stop walking rather than spin. */
#define MAX_PARENT_HOPS 256

/* ---- small list helpers ---- */

/* "a", "a and b", "a, b and c": the lists end up in sentences. */
static char *join_and(const char * const *items, size_t n) {
        size_t len = 1;
        char *s, *p;

        for (size_t i = 0; i < n; i++)
                len += strlen(items[i]) + strlen(" and ");
        s = malloc(len);
        if (!s)
                return NULL;
        p = s;
        *p = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        p = stpcpy(p, i + 1 == n ? " and " : ", ");
                p = stpcpy(p, items[i]);
        }
        return s;
}

static char *join_device_names(PciDevice * const *v, size_t n) {
        _cleanup_free_ const char **names = NULL;

        names = calloc(n ?: 1, sizeof(char *));
        if (!names)
                return NULL;
        for (size_t i = 0; i < n; i++)
                names[i] = v[i]->name;
        return join_and(names, n);
}

static int strv_push_printf(char ***l, size_t *n, const char *fmt, ...) _printf_(3, 4);
static int strv_push_printf(char ***l, size_t *n, const char *fmt, ...) {
        char **nl, *s;
        va_list ap;
        int k;

        nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0) {
                nl[*n] = NULL;
                return -ENOMEM;
        }
        nl[(*n)++] = s;
        nl[*n] = NULL;
        return 0;
}

/* ---- reasons ---- */

/* Reasons are collected as offsets into one text buffer (on the stack for
 * a typical function) and handed out as one allocation: the Reason array
 * followed by the strings.  A verdict costs one malloc, and a cached one
 * no more memory than its text. */
#define REASONS_INLINE 16
#define TEXT_INLINE 1024

typedef struct ReasonEntry {
        size_t code, text;           /* offsets into ReasonList.buf */
        bool error;
} ReasonEntry;

typedef struct ReasonList {
        ReasonEntry *items;
        size_t n, n_alloc;
        char *buf;
        size_t len, size;
        bool any_error;
        ReasonEntry inline_items[REASONS_INLINE];
        char inline_buf[TEXT_INLINE];
} ReasonList;

static void reason_list_init(ReasonList *l) {
        l->items = l->inline_items;
        l->n = 0;
        l->n_alloc = REASONS_INLINE;
        l->buf = l->inline_buf;
        l->len = 0;
        l->size = TEXT_INLINE;
        l->any_error = false;
}

static void reason_list_done(ReasonList *l) {
        if (l->items != l->inline_items)
                free(l->items);
        if (l->buf != l->inline_buf)
                free(l->buf);
}

static int reason_list_reserve(ReasonList *l, size_t need) {
        size_t size = l->size;
        char *nb;

        if (l->len + need <= l->size)
                return 0;
        while (size < l->len + need)
                size *= 2;
        /* all of the old buffer: a code may sit past len while its text
         * is printed */
        if (l->buf == l->inline_buf) {
                nb = malloc(size);
                if (nb)
                        memcpy(nb, l->buf, l->size);
        } else
                nb = realloc(l->buf, size);
        if (!nb)
                return -ENOMEM;
        l->buf = nb;
        l->size = size;
        return 0;
}

static int reason_add(ReasonList *l, bool error, const char *code, const char *fmt, ...) _printf_(4, 5);
static int reason_add(ReasonList *l, bool error, const char *code, const char *fmt, ...) {
        size_t code_len = strlen(code) + 1, code_off, text_off;
        va_list ap;
        int k;

        if (l->n == l->n_alloc) {
                ReasonEntry *ni;

                if (l->items == l->inline_items) {
                        ni = malloc(2 * l->n_alloc * sizeof(ReasonEntry));
                        if (ni)
                                memcpy(ni, l->items, l->n * sizeof(ReasonEntry));
                } else
                        ni = realloc(l->items, 2 * l->n_alloc * sizeof(ReasonEntry));
                if (!ni)
                        return -ENOMEM;
                l->items = ni;
                l->n_alloc *= 2;
        }

        if (reason_list_reserve(l, code_len + 1) < 0)
                return -ENOMEM;
        code_off = l->len;
        memcpy(l->buf + code_off, code, code_len);
        text_off = code_off + code_len;

        /* print where it goes; if it didn't fit, grow and print again */
        va_start(ap, fmt);
        k = vsnprintf(l->buf + text_off, l->size - text_off, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if ((size_t) k >= l->size - text_off) {
                if (reason_list_reserve(l, code_len + (size_t) k + 1) < 0)
                        return -ENOMEM;
                va_start(ap, fmt);
                k = vsnprintf(l->buf + text_off, l->size - text_off, fmt, ap);
                va_end(ap);
                if (k < 0)
                        return -ENOMEM;
        }
        l->len = text_off + (size_t) k + 1;
        l->items[l->n++] = (ReasonEntry) { .code = code_off, .text = text_off, .error = error };
        l->any_error = l->any_error || error;
        return 0;
}

/* The list as a Verdict: one block, the Reason array then the strings. */
static int reason_list_finish(ReasonList *l, Verdict *ret) {
        Reason *reasons = NULL;

        if (l->n > 0) {
                char *text;

                reasons = malloc(l->n * sizeof(Reason) + l->len);
                if (!reasons)
                        return -ENOMEM;
                text = (char *) (reasons + l->n);
                memcpy(text, l->buf, l->len);
                for (size_t i = 0; i < l->n; i++)
                        reasons[i] = (Reason) {
                                .code = text + l->items[i].code,
                                .text = text + l->items[i].text,
                                .error = l->items[i].error,
                        };
        }
        *ret = (Verdict) {
                .kind = l->any_error ? VERDICT_NOT_ASSIGNABLE :
                        l->n > 0 ? VERDICT_ASSIGNABLE_WITH_WARNINGS : VERDICT_ASSIGNABLE,
                .reasons = reasons,
                .n_reasons = l->n,
        };
        return 0;
}

/* ---- topology queries ---- */

/* Whether f sits anywhere below the bridge at address p in the sysfs
 * hierarchy. */
static bool device_below(const Topology *t, const PciDevice *f, const PciAddress *p) {
        for (unsigned hops = 0; f && f->has_parent && hops < MAX_PARENT_HOPS; hops++) {
                if (pci_address_equal(&f->parent, p))
                        return true;
                f = topology_find(t, &f->parent);
        }
        return false;
}

static size_t lower_bound(const Topology *t, uint64_t key) {
        size_t lo = 0, hi = t->n_devices;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (pci_address_key(&t->devices[mid]->address) < key)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int topology_bus_reset_scope(const Topology *t, const PciDevice *d, PciDevice ***ret, size_t *ret_n) {
        _cleanup_free_ PciDevice **v = NULL;
        const PciDevice *p;
        size_t n = 0;

        if (!t || !d || !ret || !ret_n)
                return -EINVAL;

        if (!d->has_parent || t->n_devices == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }

        /* A secondary bus reset asserts reset on the bridge's secondary
         * interface, which propagates to every bus below it: the bus number
         * range [secondary, subordinate] of the bridge is exactly what is
         * hit.  Trust it only when config space was read and is consistent
         * with d's own bus; otherwise fall back to the sysfs hierarchy,
         * which describes the same tree. */
        p = topology_find(t, &d->parent);
        if (p && p->config_valid && p->config.bridge &&
            p->config.secondary_bus != 0 &&
            p->config.secondary_bus <= p->config.subordinate_bus &&
            d->address.bus >= p->config.secondary_bus &&
            d->address.bus <= p->config.subordinate_bus) {
                PciAddress first = {
                        .domain = p->address.domain,
                        .bus = p->config.secondary_bus,
                };
                PciAddress last = {
                        .domain = p->address.domain,
                        .bus = p->config.subordinate_bus,
                        .device = 0x1f,
                        .function = 7,
                };
                size_t lo, hi;

                /* devices are sorted by address: the range is contiguous */
                lo = lower_bound(t, pci_address_key(&first));
                hi = lower_bound(t, pci_address_key(&last) + 1);
                if (hi > lo) {
                        v = malloc((hi - lo) * sizeof(PciDevice *));
                        if (!v)
                                return -ENOMEM;
                }
                for (size_t i = lo; i < hi; i++)
                        if (!pci_address_equal(&t->devices[i]->address, &d->address))
                                v[n++] = t->devices[i];
        } else {
                v = calloc(t->n_devices, sizeof(PciDevice *));
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < t->n_devices; i++) {
                        PciDevice *f = t->devices[i];

                        if (!pci_address_equal(&f->address, &d->address) &&
                            device_below(t, f, &d->parent))
                                v[n++] = f;
                }
        }

        if (n == 0) {
                free(v);
                v = NULL;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int topology_group_peers(const Topology *t, const PciDevice *d, PciDevice ***ret, size_t *ret_n) {
        _cleanup_free_ PciDevice **v = NULL;
        const IommuGroup *g = NULL;
        size_t n = 0;

        if (!t || !d || !ret || !ret_n)
                return -EINVAL;

        if (d->iommu_group >= 0)
                g = topology_find_group(t, (unsigned) d->iommu_group);
        if (g && g->n_members > 0) {
                v = calloc(g->n_members, sizeof(PciDevice *));
                if (!v)
                        return -ENOMEM;
                for (size_t i = 0; i < g->n_members; i++) {
                        PciDevice *m = g->members[i];

                        /* bridges and ports stay on their drivers; the
                         * kernel accepts them in a group opened by vfio */
                        if (pci_address_equal(&m->address, &d->address) ||
                            pci_device_is_bridge(m) || pci_device_is_host_bridge(m))
                                continue;
                        v[n++] = m;
                }
        }

        if (n == 0) {
                free(v);
                v = NULL;
        }
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

/* ---- BARs and pages ---- */

/* First byte of the first page and last byte of the last page the BAR
 * touches.  Saturates instead of wrapping for BARs at the top of the
 * address space (a model built by hand may have those). */
static void bar_page_span(const PciBar *b, uint64_t page_size, uint64_t *ret_first, uint64_t *ret_last) {
        uint64_t end, last;

        end = b->start > UINT64_MAX - (b->size - 1) ? UINT64_MAX : b->start + (b->size - 1);
        last = end - end % page_size;
        *ret_first = b->start - b->start % page_size;
        *ret_last = last > UINT64_MAX - (page_size - 1) ? UINT64_MAX : last + (page_size - 1);
}

static bool bar_overlaps(const PciBar *b, uint64_t first, uint64_t last) {
        uint64_t end;

        end = b->start > UINT64_MAX - (b->size - 1) ? UINT64_MAX : b->start + (b->size - 1);
        return b->start <= last && end >= first;
}

/* The MMIO BARs of other functions that lie in a page touched by `bar`, as
 * "BAR n of DDDD:BB:DD.F" strings.  BARs of d itself don't count: a page
 * holding only d's registers goes to the guest with d.  Only BARs 0-5 are
 * known; functions whose `resource` file was unreadable can't be checked. */
static int bar_page_sharers(const Topology *t, const PciDevice *d, const PciBar *bar,
                            uint64_t page_size, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **l = NULL;
        uint64_t first, last;
        size_t n = 0;
        int r;

        bar_page_span(bar, page_size, &first, &last);
        for (size_t i = 0; i < t->n_devices; i++) {
                const PciDevice *f = t->devices[i];

                if (!f->resources_valid || pci_address_equal(&f->address, &d->address))
                        continue;
                for (size_t j = 0; j < f->resources.n_bars; j++) {
                        const PciBar *o = &f->resources.bars[j];

                        if (!o->mem || o->size == 0 || !bar_overlaps(o, first, last))
                                continue;
                        r = strv_push_printf(&l, &n, "BAR %u of %s", o->index, f->name);
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(l);
        *ret_n = n;
        return 0;
}

/* ---- the verdict ---- */

static bool reset_is_bus_only(char * const *methods) {
        if (strv_length(methods) == 0)
                return false;
        for (char * const *m = methods; *m; m++)
                if (!streq(*m, "bus") && !streq(*m, "cxl_bus"))
                        return false;
        return true;
}

/* The owner of a reservation on `a` if it is not `owner`, else NULL. */
static const char *conflicting_holder(const VerdictContext *ctx, const PciAddress *a, const char *owner,
                                      const char **ret_id) {
        const char *holder, *id = NULL;

        holder = ctx->reserved_by(ctx->userdata, a, &id);
        if (!holder || streq(holder, strempty(owner)))
                return NULL;
        *ret_id = id;
        return holder;
}

static int add_reserved(const VerdictContext *ctx, const PciDevice *d, const PciAddress *a, const char *name,
                        const char *owner, ReasonList *l) {
        _cleanup_free_ PciDevice **peers = NULL;
        const char *holder, *id = NULL;
        size_t n = 0;
        int r;

        if (!ctx->reserved_by)
                return 0;
        holder = conflicting_holder(ctx, a, owner, &id);
        if (holder)
                return id ? reason_add(l, true, "reserved-by-other", "%s is reserved by %s (reservation %s)",
                                       name, holder, id) :
                            reason_add(l, true, "reserved-by-other", "%s is reserved by %s", name, holder);

        /* Reservations cover whole groups, but a function that appeared in
         * a reserved group later (hotplug, VFs) is not listed in it: the
         * group is taken all the same. */
        if (!d)
                return 0;
        r = topology_group_peers(ctx->topology, d, &peers, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                holder = conflicting_holder(ctx, &peers[i]->address, owner, &id);
                if (!holder)
                        continue;
                return id ? reason_add(l, true, "reserved-by-other",
                                       "%s shares IOMMU group %d with %s, which is reserved by %s (reservation %s)",
                                       name, d->iommu_group, peers[i]->name, holder, id) :
                            reason_add(l, true, "reserved-by-other",
                                       "%s shares IOMMU group %d with %s, which is reserved by %s",
                                       name, d->iommu_group, peers[i]->name, holder);
        }
        return 0;
}

static int add_sub_page_errors(const VerdictContext *ctx, const PciDevice *d, uint64_t page_size,
                               ReasonList *l, unsigned *ret_unshared_mask) {
        unsigned unshared = 0;
        int r;

        for (size_t i = 0; d->resources_valid && i < d->resources.n_bars; i++) {
                const PciBar *b = &d->resources.bars[i];
                _cleanup_strv_free_ char **others = NULL;
                _cleanup_free_ char *list = NULL;
                size_t n_others;

                if (b->size == 0 || b->index >= PCI_NUM_BARS || !pci_bar_is_sub_page(b, page_size))
                        continue;
                r = bar_page_sharers(ctx->topology, d, b, page_size, &others, &n_others);
                if (r < 0)
                        return r;
                if (n_others == 0) {
                        unshared |= 1u << b->index;
                        continue;
                }
                list = join_and((const char * const *) others, n_others);
                if (!list)
                        return -ENOMEM;
                r = reason_add(l, true, "sub-page-bar",
                               "BAR %u of %s (%" PRIu64 " bytes at 0x%" PRIx64 ") shares a %" PRIu64 "-byte page with %s",
                               b->index, d->name, b->size, b->start, page_size, list);
                if (r < 0)
                        return r;
        }
        *ret_unshared_mask = unshared;
        return 0;
}

static int add_sub_page_warnings(const PciDevice *d, uint64_t page_size, unsigned unshared_mask, ReasonList *l) {
        int r;

        for (size_t i = 0; i < d->resources.n_bars; i++) {
                const PciBar *b = &d->resources.bars[i];

                if (b->index >= PCI_NUM_BARS || !(unshared_mask & (1u << b->index)))
                        continue;
                r = reason_add(l, false, "sub-page-bar-unshared",
                               "BAR %u of %s (%" PRIu64 " bytes at 0x%" PRIx64 ") does not fill whole %" PRIu64
                               "-byte pages; vfio-pci reserves the rest, so guest access works but is trapped",
                               b->index, d->name, b->size, b->start, page_size);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_bus_reset_only(const VerdictContext *ctx, const PciDevice *d, ReasonList *l) {
        _cleanup_free_ PciDevice **scope = NULL;
        _cleanup_free_ char *list = NULL;
        char parent[PCI_ADDRESS_STRLEN];
        size_t n;
        int r;

        if (!d->has_parent)
                /* the kernel offers "bus" only below a bridge; say what we
                 * know rather than guess a scope */
                return reason_add(l, false, "bus-reset-only",
                                  "%s can only be reset by a secondary bus reset, but has no parent bridge", d->name);

        r = topology_bus_reset_scope(ctx->topology, d, &scope, &n);
        if (r < 0)
                return r;
        pci_address_format(&d->parent, parent);
        if (n == 0)
                return reason_add(l, false, "bus-reset-only",
                                  "Secondary bus reset of %s is the only reset and hits no other function", parent);
        list = join_device_names(scope, n);
        if (!list)
                return -ENOMEM;
        return reason_add(l, false, "bus-reset-only", "Secondary bus reset of %s also resets %s", parent, list);
}

static int add_group_shared(const VerdictContext *ctx, const PciDevice *d, ReasonList *l) {
        _cleanup_free_ PciDevice **peers = NULL;
        _cleanup_free_ char *list = NULL;
        size_t n;
        int r;

        r = topology_group_peers(ctx->topology, d, &peers, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        list = join_device_names(peers, n);
        if (!list)
                return -ENOMEM;
        return reason_add(l, false, "group-shared", "IOMMU group %d also holds %s, which must be detached too",
                          d->iommu_group, list);
}

static char *join_virtfns(const PciDevice *d) {
        _cleanup_free_ const char **names = NULL;
        _cleanup_free_ char *bufs = NULL;

        names = calloc(d->n_virtfns ?: 1, sizeof(char *));
        bufs = calloc(d->n_virtfns ?: 1, PCI_ADDRESS_STRLEN);
        if (!names || !bufs)
                return NULL;
        for (size_t i = 0; i < d->n_virtfns; i++)
                names[i] = pci_address_format(&d->virtfns[i], bufs + i * PCI_ADDRESS_STRLEN);
        return join_and(names, d->n_virtfns);
}

static int add_sriov(const PciDevice *d, ReasonList *l) {
        _cleanup_free_ char *list = NULL;
        size_t count;

        if (d->n_virtfns == 0 && d->sriov_numvfs <= 0)
                return 0;
        /* sriov_numvfs is set before the virtfn links appear: count what
         * the PF says, list what is already visible */
        count = d->sriov_numvfs > 0 && (size_t) d->sriov_numvfs > d->n_virtfns ?
                (size_t) d->sriov_numvfs : d->n_virtfns;
        if (d->n_virtfns == 0)
                return reason_add(l, true, "sriov-pf-with-vfs", "%s has %zu SR-IOV VF%s enabled",
                                  d->name, count, count == 1 ? "" : "s");

        list = join_virtfns(d);
        if (!list)
                return -ENOMEM;
        return reason_add(l, true, "sriov-pf-with-vfs", "%s has %zu SR-IOV VF%s enabled: %s",
                          d->name, count, count == 1 ? "" : "s", list);
}

/* The group is detached whole: a peer the host depends on (the root disk's
 * controller, the uplink NIC) makes this function unassignable too.  One
 * reason naming every such peer; bridges are no peers (they stay on their
 * drivers), and their own host usage is only that of what is below them. */
static int add_group_peer_in_use(const VerdictContext *ctx, const PciDevice *d, ReasonList *l) {
        _cleanup_free_ PciDevice **peers = NULL;
        char list[1024] = "";
        size_t n_peers = 0, n_used = 0;
        int r;

        if (!ctx->host_usage)
                return 0;
        r = topology_group_peers(ctx->topology, d, &peers, &n_peers);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_peers; i++) {
                const char *why = ctx->host_usage(ctx->userdata, &peers[i]->address);
                size_t len = strlen(list);

                if (!why)
                        continue;
                n_used++;
                if (len + 8 >= sizeof list)
                        continue;
                (void) snprintf(list + len, sizeof list - len, "%s%s (%s)", len > 0 ? ", " : "", peers[i]->name, why);
        }
        if (n_used == 0)
                return 0;
        return reason_add(l, true, "group-peer-in-use-by-host",
                          "IOMMU group %d also holds %s, which the host depends on and which would be detached with %s",
                          d->iommu_group, list, d->name);
}

int verdict_compute(const VerdictContext *ctx, const PciAddress *a, const char *owner, Verdict *ret) {
        char buf[PCI_ADDRESS_STRLEN];
        const char *name;
        const PciDevice *d;
        uint64_t page_size;
        unsigned unshared_mask = 0;
        bool infrastructure;
        int r;

        if (!ctx || !ctx->topology || !a || !ret)
                return -EINVAL;

        _cleanup_(reason_list_done) ReasonList l;
        reason_list_init(&l);
        page_size = ctx->page_size ?: DEFAULT_PAGE_SIZE;
        d = topology_find(ctx->topology, a);
        name = d ? d->name : pci_address_format(a, buf);

        /* Errors, in the documented order. */
        if (!d) {
                /* Nothing else can be known about an absent function; a
                 * reservation on it (e.g. a hot-unplugged one) still is. */
                r = reason_add(&l, true, "device-missing", "%s is not present", name);
                if (r < 0)
                        return r;
                r = add_reserved(ctx, NULL, a, name, owner, &l);
                if (r < 0)
                        return r;
                goto finish;
        }

        if (pci_device_is_host_bridge(d)) {
                r = reason_add(&l, true, "host-bridge", "%s is a host bridge, which belongs to the host", name);
                if (r < 0)
                        return r;
        }
        if (pci_device_is_bridge(d)) {
                r = reason_add(&l, true, "bridge", "%s is a bridge or port, which stays on its host driver and is never assigned", name);
                if (r < 0)
                        return r;
        }
        if (d->iommu_group < 0) {
                r = reason_add(&l, true, "no-iommu", "%s is in no IOMMU group, so it cannot be isolated from the host. %s",
                               name, verdict_no_iommu_hint);
                if (r < 0)
                        return r;
        }
        r = add_reserved(ctx, d, a, name, owner, &l);
        if (r < 0)
                return r;
        if (ctx->host_usage) {
                const char *why = ctx->host_usage(ctx->userdata, a);

                if (why) {
                        r = reason_add(&l, true, "in-use-by-host", "The host depends on %s: %s", name, why);
                        if (r < 0)
                                return r;
                }
        }

        infrastructure = pci_device_is_host_bridge(d) || pci_device_is_bridge(d);
        if (!infrastructure) {
                r = add_group_peer_in_use(ctx, d, &l);
                if (r < 0)
                        return r;
                if (ctx->host_usage_unknown) {
                        r = reason_add(&l, true, "host-usage-unknown", "Whether the host depends on %s is not known: %s",
                                       name, ctx->host_usage_unknown);
                        if (r < 0)
                                return r;
                }
        }

        /* Bridges and host bridges are never assigned: BAR, reset, group
         * and driver findings would only describe an assignment that
         * cannot happen (and "pcieport will be unbound" would be false).
         * They get their errors only. */
        if (infrastructure)
                goto finish;

        r = add_sub_page_errors(ctx, d, page_size, &l, &unshared_mask);
        if (r < 0)
                return r;

        /* vfio-pci refuses to bind a PF with VFs enabled (vfio_pci_probe():
         * "Cannot bind to PF with SR-IOV enabled"), and unbinding its host
         * driver destroys the VFs in most PF drivers */
        r = add_sriov(d, &l);
        if (r < 0)
                return r;

        /* Warnings, in the documented order. */
        r = add_sub_page_warnings(d, page_size, unshared_mask, &l);
        if (r < 0)
                return r;

        /* Old kernels have no reset_method but still a `reset` file */
        if (strv_length(d->reset_methods) == 0 && !d->has_reset) {
                r = reason_add(&l, false, "no-reset", "%s has no reset method, so it cannot be reset between guests", name);
                if (r < 0)
                        return r;
        } else if (reset_is_bus_only(d->reset_methods)) {
                r = add_bus_reset_only(ctx, d, &l);
                if (r < 0)
                        return r;
        }

        r = add_group_shared(ctx, d, &l);
        if (r < 0)
                return r;

        if (d->boot_vga) {
                r = reason_add(&l, false, "boot-vga", "%s is the boot VGA device, which the host console may be using", name);
                if (r < 0)
                        return r;
        }

        if (d->driver && !pci_driver_is_vfio(d->driver) && !streq(d->driver, "pci-stub")) {
                r = reason_add(&l, false, "host-driver-bound", "%s is bound to host driver %s, which will be unbound",
                               name, d->driver);
                if (r < 0)
                        return r;
        }

finish:
        return reason_list_finish(&l, ret);
}

void verdict_done(Verdict *v) {
        if (!v)
                return;
        /* the strings live in the same block as the array */
        free(v->reasons);
        *v = (Verdict) {};
}

const char *verdict_kind_to_string(VerdictKind k) {
        switch (k) {
        case VERDICT_ASSIGNABLE:
                return "assignable";
        case VERDICT_ASSIGNABLE_WITH_WARNINGS:
                return "assignable-with-warnings";
        case VERDICT_NOT_ASSIGNABLE:
                return "not-assignable";
        }
        return NULL;
}
