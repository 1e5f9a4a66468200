/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pci-address.h"

/* The journal of the single-function operations (Manager.Detach,
 * Manager.Reattach and the rebind that puts back a reserved function a
 * host driver took, "takeover"), kept in $RUNTIME_DIRECTORY/operations.json.
 * An operation is written there before its first sysfs write and removed
 * once it ended, so that a daemon killed half-way finds at its next start
 * which function was being moved and where from, and leaves no stray
 * driver_override behind (the one that would hand the function to vfio-pci
 * at its next probe).  The runtime directory is right for it: what these
 * operations change lives in the running kernel only (a reboot forgets a
 * driver_override); the boot ID stored with the list says which kernel,
 * and a list from another boot is dropped unapplied.
 *
 * The file, parsed as strictly as state.json (store.h): unknown keys,
 * wrong types, a bad address, driver name or boot ID, two operations on
 * one function or trailing data make it -EBADMSG; a newer "format"
 * -EPROTONOSUPPORT.
 *   {
 *     "format": 1,
 *     "boot_id": "0c4e1f0e-....",
 *     "operations": [ {
 *       "operation": "detach" | "reattach" | "takeover",
 *       "address": "DDDD:BB:DD.F", "vendor_id": 32902, "device_id": 4307,
 *       "driver": "e1000e" | null,           bound when it began
 *       "driver_override": "..." | null,     driver_override when it began
 *       "target": "vfio-pci" | null,         where it was going (null: none)
 *       "reprobe": false,                    true: the kernel's choice
 *                                            (Reattach without a known
 *                                            host driver; target null)
 *       "reservation": "r3" | null           the reserved function's (takeover)
 *     }, ... ]
 *   }
 */

#define OP_JOURNAL_FILE_NAME "operations.json"
#define OP_JOURNAL_FORMAT_VERSION 1
#define OP_JOURNAL_FILE_MAX (1024 * 1024)
#define BOOT_ID_STRLEN 37   /* 36 characters and NUL */

typedef enum FunctionOperationKind {
        FUNCTION_OP_DETACH,
        FUNCTION_OP_REATTACH,
        FUNCTION_OP_TAKEOVER,
        _FUNCTION_OP_MAX,
        _FUNCTION_OP_INVALID = -1,
} FunctionOperationKind;

const char *function_operation_to_string(FunctionOperationKind k);
FunctionOperationKind function_operation_from_string(const char *s);

typedef struct FunctionOperation {
        FunctionOperationKind kind;
        PciAddress address;
        uint16_t vendor_id, device_id;
        char *driver;               /* NULL: none */
        char *driver_override;      /* NULL: none */
        char *target;               /* NULL: none (or reprobe) */
        bool reprobe;               /* let the kernel choose (drivers_probe) */
        char *reservation;          /* NULL: not a reserved function's */
} FunctionOperation;

typedef struct OpJournal {
        char boot_id[BOOT_ID_STRLEN];   /* "" unknown */
        FunctionOperation *ops;
        size_t n_ops;
} OpJournal;

void op_journal_done(OpJournal *j);
const FunctionOperation *op_journal_find(const OpJournal *j, const PciAddress *a);
/* Adds op (copying its strings), replacing an entry of the same address. */
int op_journal_add(OpJournal *j, const FunctionOperation *op);
/* true if there was one */
bool op_journal_remove(OpJournal *j, const PciAddress *a);

int op_journal_parse(const char *text, size_t size, OpJournal *ret);
/* The file's text (malloc'd, newline-terminated), NULL on ENOMEM. */
char *op_journal_format(const OpJournal *j);

/* dir/operations.json: none is an empty journal (0); otherwise as
 * op_journal_parse() or the errno of reading it. */
int op_journal_load(const char *dir, OpJournal *ret);
/* Written atomically, mode 0644; an empty journal removes the file. */
int op_journal_save(const char *dir, const OpJournal *j);

/* The kernel's boot ID (/proc/sys/kernel/random/boot_id, or `path`) into
 * buf: 0, or -errno; -EBADMSG when it is not a UUID. */
int boot_id_read(const char *path, char buf[BOOT_ID_STRLEN]);
bool boot_id_valid(const char *s);
