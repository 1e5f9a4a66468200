/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reservation.h"

/* The daemon's persistent state: one json-c file, $STATE_DIRECTORY/state.json
 *   { "format": 1, "next_id": N, "reservations": [ ... ] }
 * written atomically after every change (temp file in the same directory,
 * fsync, rename, fsync of the directory).  Loading never loses data: a
 * corrupt or truncated file is moved aside (state.json.corrupt-<usec>) and
 * reported; a file of a newer format makes loading fail (-EPROTONOSUPPORT)
 * so the daemon refuses to start rather than overwrite it.
 *
 * Formats 1 to 4, every key required unless marked optional:
 *   format        1, or the newest format of a key written (2, 3 or 4)
 *   next_id       >= 1, greater than N of every id of the form "r<N>"
 *   reservations  array, in the order the daemon keeps them
 *     id            reservation_id_is_valid(), unique
 *     owner         reservation_owner_is_valid()
 *     owner_uid     0..4294967294
 *     persistent    bool
 *     driver        driver_name_is_valid()
 *     state         "reserved", "prepared", "in-use", "degraded"
 *     created_usec  CLOCK_REALTIME, integer
 *     last_error    null or reservation_last_error_is_valid()
 *     functions     1..RESERVATION_FUNCTIONS_MAX entries, distinct, and no
 *                   function in two reservations; written sorted
 *       address       "DDDD:BB:DD.F" (pci_address_parse(); written lower-case)
 *       assigned      bool
 *       host_driver   null or driver_name_is_valid()
 *       vendor_id, device_id   0..65535
 *       dsn           optional: exactly 16 hex digits
 *       subsystem_vendor_id, subsystem_device_id
 *                     format 4, optional, both or neither: 0..65535, the
 *                     subsystem ids when reserved (absent: not recorded,
 *                     by a daemon before format 4, and not compared)
 *       adopted       format 3, optional (written only when true): bool;
 *                     true needs host_driver to be a vfio driver or
 *                     pci-stub (driver_is_adoptable()): the admin's
 *                     binding, given back as it was
 *       host_override format 3, optional, only with adopted true:
 *                     driver_name_is_valid(), the function's
 *                     driver_override then (absent: unset)
 *     return_to     format 2, optional, only if state is "degraded":
 *                   "reserved", "prepared" or "in-use" (absent: not known)
 *     owner_bus     format 2, optional, transient reservations only:
 *       name          bus_unique_name_is_valid()
 *       bus_id        bus_id_is_valid()
 *     journal       optional (absent or null: no operation in flight)
 *       operation     "prepare", "unprepare"
 *       step          0..4294967295
 *       functions     distinct functions of this reservation, written sorted
 *         address           as above
 *         original_driver   null or driver_name_is_valid()
 * Integers are JSON integers (no fractions or exponents), below 2^64-1.
 * Unknown keys are refused, not carried along: a writer that needs a new
 * key bumps "format", so an older daemon refuses the file instead of
 * dropping what it does not understand on its next save.  (json-c keeps
 * the last of duplicate keys; a duplicate cannot be detected.)  The text
 * is pretty-printed by json-c in a fixed key order with a final newline,
 * so equal data gives identical bytes. */

/* Written: the oldest format that holds the data (1, or the newest format
 * of a key written: every reservation made since format 4 records its
 * subsystem ids).  Read: 1 to 4. */
#define STORE_FORMAT_VERSION 4
#define STORE_FORMAT_MIN 1
#define STORE_FILE_NAME "state.json"
/* Bigger files are not ours: refused by store_save(), moved aside by
 * store_load() */
#define STORE_FILE_MAX (64u * 1024u * 1024u)

typedef struct StoreData {
        uint64_t next_id;
        Reservation **reservations;
        size_t n_reservations;
} StoreData;

/* Frees the reservations and resets *d to empty (next_id 0).  Usable as a
 * cleanup function. */
void store_data_done(StoreData *d);

/* Loads dir/state.json.  A missing file gives empty data (next_id 1) and
 * returns 0.  Returns 1 if a corrupt file (unparsable, invalid, truncated,
 * empty, or larger than STORE_FILE_MAX) was moved aside to
 * dir/state.json.corrupt-<CLOCK_REALTIME usec> (never over an existing
 * file); the data is then empty and the full path of the moved file is in
 * *ret_moved_to (malloc'd; ret_moved_to may be NULL), which the caller
 * must log.  Negative errno on failure, with the file untouched:
 * -EPROTONOSUPPORT for a newer format, -ELOOP for a symlink, -EISDIR or
 * -EBADFD for something not a regular file, -EIO etc. for I/O errors.
 * *ret and *ret_moved_to are set only on success. */
int store_load(const char *dir, StoreData *ret, char **ret_moved_to);

/* Serialises and writes dir/state.json atomically, mode 0600: a temp file
 * "state.json.XXXXXX" in dir, fsync, rename, fsync of dir.  Data that
 * store_parse() would refuse is not written (-EINVAL), nor is text larger
 * than STORE_FILE_MAX (-EFBIG), so a saved file always loads.  On failure
 * the temp file is removed and the old file is intact; only when the final
 * fsync of the directory fails is the new file in place but perhaps not
 * yet durable (the error is returned all the same).  A crash between
 * creating and renaming the temp file can leave it behind; it is never
 * read. */
int store_save(const char *dir, const StoreData *d);

/* JSON (de)serialisation, exposed for tests and fuzzing.  store_parse()
 * validates every field (addresses through pci_address_parse, ids, owners,
 * states, duplicates across reservations) and returns -EBADMSG for
 * anything malformed, -EPROTONOSUPPORT for a newer format (once the text
 * is a JSON object, decided from an integer "format" alone, before any
 * other key is looked at).  *ret is set only
 * on success; nothing is leaked on failure.  text need not be
 * NUL-terminated; a NUL byte in it is malformed.
 * store_format() returns malloc'd text, NULL only on OOM; it writes what
 * it is given (NULL strings as null) without validating. */
int store_parse(const char *text, size_t n, StoreData *ret);
char *store_format(const StoreData *d);
