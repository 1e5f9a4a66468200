/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "pci-address.h"

/* The functions detached by Manager.Detach (no reservation) and the driver
 * to give each back to, kept in $RUNTIME_DIRECTORY/detached.json so that
 * a daemon restart remembers them (a reboot gives every function back).
 *
 * The file, parsed as strictly as state.json (store.h): unknown keys,
 * wrong types, a bad address or driver name, a duplicate address or
 * trailing data make it -EBADMSG; a newer "format" -EPROTONOSUPPORT.
 *   {
 *     "format": 1,
 *     "functions": [ { "address": "DDDD:BB:DD.F", "host_driver": "e1000e" | null }, ... ]
 *   }
 * Format 2 (written only when an entry needs it) adds to an entry
 * "adopted": true (optional; then host_driver is a vfio driver or
 * pci-stub, driver_is_adoptable()) and, only beside it, "host_override":
 * a driver name (optional: the driver_override it had; absent: unset).
 */

#define DETACHED_FILE_NAME "detached.json"
#define DETACHED_FORMAT_VERSION 2
#define DETACHED_FORMAT_MIN 1
#define DETACHED_FILE_MAX (1024 * 1024)

typedef struct DetachedFunction {
        PciAddress address;
        char *host_driver;         /* NULL: none known (let the kernel choose) */
        /* The function was on a vfio driver or pci-stub when it was
         * detached (the admin's binding): host_driver is that driver, and
         * Reattach restores it with host_override (NULL: unset). */
        bool adopted;
        char *host_override;
} DetachedFunction;

const DetachedFunction *detached_find(const DetachedFunction *l, size_t n, const PciAddress *a);
/* Adds a (or replaces its entry); host_driver is copied. */
int detached_add(DetachedFunction **l, size_t *n, const PciAddress *a, const char *host_driver);
/* Adds a as adopted (or replaces its entry): driver must be adoptable
 * (-EINVAL), override (NULL: unset) a valid driver name (-EINVAL). */
int detached_adopt(DetachedFunction **l, size_t *n, const PciAddress *a, const char *driver, const char *override);
void detached_remove(DetachedFunction *l, size_t *n, const PciAddress *a);
void detached_free(DetachedFunction *l, size_t n);

int detached_parse(const char *text, size_t size, DetachedFunction **ret, size_t *ret_n);
/* The file's text (malloc'd, newline-terminated), NULL on ENOMEM. */
char *detached_format(const DetachedFunction *l, size_t n);

/* dir/detached.json: none is an empty list (0); otherwise as
 * detached_parse(), or the errno of reading it. */
int detached_load(const char *dir, DetachedFunction **ret, size_t *ret_n);
/* Written atomically (write_file_atomic()), mode 0644. */
int detached_save(const char *dir, const DetachedFunction *l, size_t n);
