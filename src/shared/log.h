/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/uio.h>
#include <syslog.h>

#include "macro.h"

/* The daemon's logging.  Under systemd (stderr is the journal stream that
 * $JOURNAL_STREAM names) every line goes to the journal natively, with
 * structured fields: PRIORITY, CODE_FILE/LINE/FUNC, and for lines about a
 * function or a reservation PCI_ADDRESS= (one per function, so that
 * `journalctl PCI_ADDRESS=0000:03:00.0` finds every line naming it),
 * RESERVATION_ID= and, for the important events, MESSAGE_ID= (the ids
 * below, documented in pci-assignd(8)).  Otherwise: plain lines on
 * stderr.  The library under src/ never logs. */

/* MESSAGE_IDs (sd-id128 style, 32 hex digits) */
#define LOG_MESSAGE_ID_PREPARED        "5a3c1e8f0b2d4c6e9f7a1b3d5e7f9a01"
#define LOG_MESSAGE_ID_GIVEN_BACK      "5a3c1e8f0b2d4c6e9f7a1b3d5e7f9a02"
#define LOG_MESSAGE_ID_CONFLICT        "5a3c1e8f0b2d4c6e9f7a1b3d5e7f9a03"
#define LOG_MESSAGE_ID_TAKEOVER_UNDONE "5a3c1e8f0b2d4c6e9f7a1b3d5e7f9a04"
#define LOG_MESSAGE_ID_RECONCILED      "5a3c1e8f0b2d4c6e9f7a1b3d5e7f9a05"

/* PCI_ADDRESS= fields one line carries at most (more are left out) */
#define LOG_ADDRESSES_MAX 48

/* What a line is about; every member optional. */
typedef struct LogFields {
        const char *reservation_id;
        const char *pci_address;              /* one function */
        const char *const *pci_addresses;     /* or several, NULL-terminated */
        const char *message_id;
} LogFields;

void log_set_max_level(int level);
int log_get_max_level(void);
/* "emerg".."debug" or 0..7; returns the level or -EINVAL */
int log_level_from_string(const char *s);
void log_open(void);

/* Where journal entries go: sd_journal_sendv() unless a test sets another
 * sink (NULL: back to the journal). */
typedef int (*LogJournalSink)(const struct iovec *iov, int n);
void log_set_journal_sink(LogJournalSink sink);

/* Returns -abs(error) (or 0 if error is 0), so one can write
 * `return log_error_errno(r, "...: %m");` with %m meaning strerror(error). */
int log_internal(int level, int error, const LogFields *fields, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(7, 8);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), NULL, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, (e), __VA_ARGS__)
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

/* With fields: log_fields(LOG_INFO, 0, ((LogFields) { .reservation_id = id }), "...", ...) */
#define log_fields(level, error, f, ...) \
        log_internal((level), (error), &(f), __FILE__, __LINE__, __func__, __VA_ARGS__)
