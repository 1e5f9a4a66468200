/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "topology.h"

/* Assignability of one PCI function: a pure function of the model (the
 * function, its group, the topology), the reservations and what the host
 * depends on.  No I/O, no logging.  Reason codes are those of
 * org.pciassign1(5), in this order (errors first, then warnings):
 *
 *   errors:   device-missing, host-bridge, bridge, no-iommu,
 *             reserved-by-other, in-use-by-host, group-peer-in-use-by-host,
 *             host-usage-unknown, sub-page-bar
 *   warnings: sub-page-bar-unshared, no-reset, bus-reset-only,
 *             group-shared, boot-vga, host-driver-bound, sriov-pf-with-vfs
 *
 * reserved-by-other covers the function and the other (non-bridge)
 * members of its group: a group is only ever reserved whole.
 *
 * Each code appears at most once, except the two sub-page codes: one
 * reason per affected BAR, in BAR index order.  An absent function gets
 * device-missing and, if reserved by someone else, reserved-by-other.  A
 * bridge or host bridge gets its errors only: it is never assigned, so
 * findings about its BARs, resets, group or driver would be noise. */

typedef enum VerdictKind {
        VERDICT_ASSIGNABLE,
        VERDICT_ASSIGNABLE_WITH_WARNINGS,
        VERDICT_NOT_ASSIGNABLE,
} VerdictKind;

typedef struct Reason {
        char *code;        /* "no-iommu", "group-shared", ... */
        char *text;        /* one human-readable sentence */
        bool error;        /* true: makes the verdict not-assignable */
} Reason;

typedef struct Verdict {
        VerdictKind kind;
        Reason *reasons;   /* errors first, then warnings, each in a fixed order */
        size_t n_reasons;
} Verdict;

typedef struct VerdictContext {
        const Topology *topology;
        uint64_t page_size;                 /* the host's page size; 0: use 4096 */

        /* The reservation holding a function, if any: returns its owner and
         * sets *ret_id, or returns NULL.  May be NULL (no reservations). */
        const char *(*reserved_by)(void *userdata, const PciAddress *a, const char **ret_id);
        /* Why the host itself depends on a function ("/ is mounted from
         * nvme0n1p2"), or NULL.  May be NULL (nothing known). */
        const char *(*host_usage)(void *userdata, const PciAddress *a);
        void *userdata;
        /* Set when what the host depends on could not be fully determined
         * (a source unreadable, a stack that could not be followed): why,
         * as one sentence.  Every function that could otherwise be
         * assigned then gets host-usage-unknown (fail closed).  NULL: the
         * host usage is complete. */
        const char *host_usage_unknown;
} VerdictContext;

/* Computes the verdict for address `a` as seen by would-be owner `owner`
 * ("" or NULL: nobody; that owner's own reservations are no conflict;
 * owners compare exactly).  An address not in the topology yields
 * not-assignable/device-missing.  Returns 0, -EINVAL (ctx, its topology,
 * a or ret NULL) or -ENOMEM; *ret is only written on success.  Free the
 * result with verdict_done(). */
int verdict_compute(const VerdictContext *ctx, const PciAddress *a, const char *owner, Verdict *ret);
/* Frees the reasons and zeroes *v; NULL-safe, may be called twice. */
void verdict_done(Verdict *v);

/* Whether a reason code makes a verdict not-assignable ("blocking") or is
 * a warning ("warning"), for every code of org.pciassign1(5); NULL for a
 * code that is not one of them. */
const char *verdict_code_severity(const char *code);
/* The severity of one reason as exported over D-Bus: "blocking" for an
 * error, else "warning". */
const char *reason_severity(const Reason *r);

/* What to do about a missing IOMMU (firmware setting, kernel command
 * line), one paragraph: for the no-iommu reason and the daemon's start-up
 * log. */
extern const char verdict_no_iommu_hint[];

/* "assignable", "assignable-with-warnings", "not-assignable"; NULL for an
 * invalid value. */
const char *verdict_kind_to_string(VerdictKind k);
