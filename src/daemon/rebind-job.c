/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rebind job object (rebind-job.h): what the worker and the main loop
 * share about one job. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-errors.h"
#include "rebind-job.h"

const char *const rebind_kind_names[_REBIND_KIND_MAX] = {
        [REBIND_PREPARE] = "Prepare",
        [REBIND_UNPREPARE] = "Unprepare",
        [REBIND_DETACH] = "Detach",
        [REBIND_REATTACH] = "Reattach",
        [REBIND_RESET] = "Reset",
};

RebindJob *rebind_job_free(RebindJob *rj) {
        if (!rj)
                return NULL;
        for (size_t i = 0; i < rj->n; i++) {
                free(rj->functions[i].host_driver);
                free(rj->functions[i].host_override);
        }
        free(rj->functions);
        free(rj->driver);
        sd_event_source_disable_unref(rj->deadline);
        sd_bus_message_unref(rj->reply);
        free(rj);
        return NULL;
}

void rebind_append(char *buf, size_t size, const char *fmt, ...) {
        size_t l = strnlen(buf, size);
        va_list ap;

        if (l + 1 >= size)
                return;
        va_start(ap, fmt);
        vsnprintf(buf + l, size - l, fmt, ap);
        va_end(ap);
}

void rebind_set_error(RebindJob *rj, const char *name, const char *fmt, ...) {
        va_list ap;

        if (rj->error_name)
                return;  /* the first error is the one that counts */
        rj->error_name = name;
        va_start(ap, fmt);
        vsnprintf(rj->message, sizeof rj->message, fmt, ap);
        va_end(ap);
}

void rebind_set_step_error(RebindJob *rj, const SysfsError *err) {
        if (rj->id[0])
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s of reservation %s failed (step %s): %s",
                          rebind_kind_names[rj->kind], rj->id, sysfs_step_to_string(err->step), err->message);
        else
                rebind_set_error(rj, BUS_ERROR_OPERATION_FAILED, "%s failed (step %s): %s", rebind_kind_names[rj->kind],
                          sysfs_step_to_string(err->step), err->message);
}

void rebind_progress(RebindJob *rj, const char *fmt, ...) {
        char buf[JOB_PROGRESS_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        job_set_progress(&rj->job, buf);
}

int rebind_function_init(RebindFunction *f, const PciDevice *d, const char *host_driver, bool reprobe) {
        f->address = d->address;
        memcpy(f->name, d->name, sizeof f->name);
        f->vendor = d->vendor_id;
        f->device = d->device_id;
        f->group = d->iommu_group;
        f->has_reset = d->has_reset;
        f->reprobe = reprobe;
        if (host_driver && !(f->host_driver = strdup(host_driver)))
                return -ENOMEM;
        return 0;
}

int rebind_function_adopt(RebindFunction *f, const HostBinding *hb) {
        if (!hb->adopted || !hb->driver || !streq_ptr(hb->driver, f->host_driver))
                return 0;
        f->adopted = true;
        if (hb->override && !(f->host_override = strdup(hb->override)))
                return -ENOMEM;
        return 0;
}
