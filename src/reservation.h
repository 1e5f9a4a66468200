/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pci-address.h"

/* A named claim by an owner on a set of functions covering whole IOMMU
 * groups.  Plain data, shared by the store and the daemon. */

typedef enum ReservationState {
        RESERVATION_RESERVED,
        RESERVATION_PREPARED,
        RESERVATION_IN_USE,
        RESERVATION_DEGRADED,
        _RESERVATION_STATE_MAX,
        _RESERVATION_STATE_INVALID = -1,
} ReservationState;

typedef struct ReservationFunction {
        PciAddress address;
        bool assigned;             /* given to the guest (false: detached only) */
        char *host_driver;         /* driver to restore; NULL if none known */
        /* Adoption: the function was on a vfio driver or pci-stub when it
         * was reserved (an admin's driverctl override, vfio-pci.ids= or
         * pci-stub.ids= at boot): host_driver is that driver, and giving
         * back restores it with driver_override as it was, host_override
         * (NULL: unset), instead of handing the function to a host driver. */
        bool adopted;
        char *host_override;
        uint16_t vendor_id, device_id;  /* identity when reserved */
        /* and the subsystem ids (false in reservations of store formats
         * 1-3, which did not record them: then they are not compared) */
        bool has_subsystem;
        uint16_t subsystem_vendor_id, subsystem_device_id;
        bool has_dsn;
        uint64_t dsn;              /* Device Serial Number, if the device has one */
} ReservationFunction;

/* The intent journal of a driver rebinding in progress (Prepare or
 * Unprepare).  It is written to the store before the first sysfs write
 * and updated after each step, so that a daemon starting after a crash
 * knows which operation was under way, how far it got and which driver
 * each function had when it began, and can finish or roll it back. */
typedef enum JournalOperation {
        JOURNAL_PREPARE,           /* host drivers -> vfio driver */
        JOURNAL_UNPREPARE,         /* vfio driver -> host drivers */
        _JOURNAL_OPERATION_MAX,
        _JOURNAL_OPERATION_INVALID = -1,
} JournalOperation;

typedef struct JournalFunction {
        PciAddress address;        /* always one of the reservation's functions */
        char *original_driver;     /* bound when the operation began; NULL: none */
} JournalFunction;

typedef struct ReservationJournal {
        JournalOperation operation;
        uint32_t step;             /* index of the next step to run (0: none
                                    * done yet); the daemon defines the steps */
        JournalFunction *functions;   /* sorted by address */
        size_t n_functions;
} ReservationJournal;

#define RESERVATION_ID_MAX 32
#define RESERVATION_OWNER_MAX 256
#define RESERVATION_LAST_ERROR_MAX 4096
/* Far more than any IOMMU group set a guest can use (a conventional PCI
 * bus has at most 256 functions); bounds what a hostile state file or
 * caller can make the daemon allocate. */
#define RESERVATION_FUNCTIONS_MAX 1024

typedef struct Reservation {
        char id[RESERVATION_ID_MAX + 1];
        char *owner;
        uid_t owner_uid;
        bool persistent;
        char *driver;              /* vfio driver to bind (Reserve's default: "vfio-pci") */
        ReservationState state;
        ReservationState return_to;   /* degraded: the state to go back to when what
                                       * went wrong is over (reservation-state.h);
                                       * otherwise _RESERVATION_STATE_INVALID */
        /* transient: the owner's connection, so that a restarted daemon can
         * track it again (a unique name is only unique on one bus: a
         * restarted dbus-daemon reuses names); NULL when not known */
        char *owner_bus_name;      /* ":1.42" */
        char *owner_bus_id;        /* 32 hex digits, sd_bus_get_bus_id() */
        uint64_t created_usec;     /* CLOCK_REALTIME */
        char *last_error;          /* NULL if none */
        ReservationFunction *functions;   /* sorted by address */
        size_t n_functions;
        ReservationJournal *journal;      /* NULL: no operation in flight */
} Reservation;

/* A new reservation: state reserved (return_to invalid), persistent, everything else empty
 * (owner and driver NULL: the caller sets both).  NULL on OOM. */
Reservation *reservation_new(void);
Reservation *reservation_free(Reservation *r);
static inline void reservation_freep(Reservation **r) {
        reservation_free(*r);
}
#define _cleanup_reservation_ __attribute__((cleanup(reservation_freep)))

/* Adds a function (keeps the array sorted); -EEXIST if already there,
 * -E2BIG beyond RESERVATION_FUNCTIONS_MAX.  The new entry has no host
 * driver, ids 0 and no DSN: fill them in through the returned pointer of
 * reservation_find_function() (pointers are invalidated by the next add). */
int reservation_add_function(Reservation *r, const PciAddress *a, bool assigned);
ReservationFunction *reservation_find_function(const Reservation *r, const PciAddress *a);

const char *reservation_state_to_string(ReservationState s);
ReservationState reservation_state_from_string(const char *s);

/* Owner strings: 1..RESERVATION_OWNER_MAX bytes of valid UTF-8 (shortest
 * form only, no surrogates, nothing above U+10FFFF) without control
 * characters (C0, DEL, C1 U+0080..U+009F).  They are shown to users and
 * stored, never used in paths. */
bool reservation_owner_is_valid(const char *owner);

/* LastError texts: the same rules as owners, up to
 * RESERVATION_LAST_ERROR_MAX bytes.  "No error" is NULL, never "". */
bool reservation_last_error_is_valid(const char *s);

/* Ids: 1..RESERVATION_ID_MAX of [A-Za-z0-9_-], not starting with '-'. */
bool reservation_id_is_valid(const char *id);

/* Unique bus names as dbus-daemon hands them out: ":" then two or more
 * dot-separated elements of [A-Za-z0-9_-], up to 255 bytes. */
bool bus_unique_name_is_valid(const char *name);

/* Bus ids (the bus's GUID): exactly 32 lower- or upper-case hex digits. */
bool bus_id_is_valid(const char *id);

/* Driver names as the kernel has them: 1..64 of [A-Za-z0-9_-]. */
bool driver_name_is_valid(const char *name);

/* A binding pci-assignd adopts rather than undoes: a vfio driver (a name
 * containing "vfio") or pci-stub.  NULL: false. */
bool driver_is_adoptable(const char *name);

ReservationJournal *reservation_journal_new(JournalOperation operation);
ReservationJournal *reservation_journal_free(ReservationJournal *j);
static inline void reservation_journal_freep(ReservationJournal **j) {
        reservation_journal_free(*j);
}
#define _cleanup_reservation_journal_ __attribute__((cleanup(reservation_journal_freep)))

/* Records the driver a function had when the operation began (NULL: none).
 * Sorted like the functions; -EEXIST if already there, -EINVAL for an
 * invalid driver name, -E2BIG beyond RESERVATION_FUNCTIONS_MAX. */
int reservation_journal_add_function(ReservationJournal *j, const PciAddress *a, const char *original_driver);
JournalFunction *reservation_journal_find_function(const ReservationJournal *j, const PciAddress *a);

/* "prepare", "unprepare" */
const char *journal_operation_to_string(JournalOperation op);
JournalOperation journal_operation_from_string(const char *s);

/* Whether d has the identity f was reserved with: vendor/device ids, the
 * subsystem ids (if recorded) and the serial number (if it had one); if
 * not, what is there instead into `what` ("a different device (...)"). */
struct PciDevice;
bool reservation_function_matches(const ReservationFunction *f, const struct PciDevice *d, char *what, size_t size);
