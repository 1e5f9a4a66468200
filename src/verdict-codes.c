/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reason codes of org.pciassign1(5) with their severities, and the
 * no-IOMMU hint: what clients are told about each code. */
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "verdict.h"

static const struct {
        const char *code;
        bool error;
} reason_codes[] = {
        { "device-missing", true },
        { "host-bridge", true },
        { "bridge", true },
        { "no-iommu", true },
        { "reserved-by-other", true },
        { "in-use-by-host", true },
        { "group-peer-in-use-by-host", true },
        { "host-usage-unknown", true },
        { "sub-page-bar", true },
        { "sriov-pf-with-vfs", true },
        { "sub-page-bar-unshared", false },
        { "no-reset", false },
        { "bus-reset-only", false },
        { "group-shared", false },
        { "boot-vga", false },
        { "host-driver-bound", false },
};

const char *verdict_code_severity(const char *code) {
        if (!code)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(reason_codes); i++)
                if (streq(reason_codes[i].code, code))
                        return reason_codes[i].error ? "blocking" : "warning";
        return NULL;
}

const char *reason_severity(const Reason *r) {
        return r && r->error ? "blocking" : "warning";
}

const char verdict_no_iommu_hint[] =
        "To isolate devices, enable the IOMMU: turn on VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, "
        "boot with intel_iommu=on (Intel; AMD enables its IOMMU by default, amd_iommu=on on old kernels) "
        "and optionally iommu=pt, then reboot.";
