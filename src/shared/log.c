/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
/* Without this, sd-journal.h turns sd_journal_sendv() into a macro that adds
 * CODE_FILE=/CODE_LINE=/CODE_FUNC= of this file: every entry would carry two
 * of each, log.c's and the caller's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static int to_journal = 0;
static LogJournalSink journal_sink = NULL;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

int log_level_from_string(const char *s) {
        static const char *const names[] = {
                "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        };

        if (!s)
                return -EINVAL;
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return i;
        if (strcasecmp(s, "error") == 0)
                return LOG_ERR;
        if (strcasecmp(s, "warn") == 0)
                return LOG_WARNING;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

/* $JOURNAL_STREAM is "DEV:INO" of the stream systemd connected stderr to;
 * it is inherited by children whose stderr is elsewhere, so it counts
 * only while it names our stderr (as systemd's own log.c checks). */
static int stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;
        char tail;

        if (!e || sscanf(e, "%llu:%llu%c", &dev, &ino, &tail) != 2)
                return 0;
        if (fstat(STDERR_FILENO, &st) < 0)
                return 0;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_open(void) {
        to_journal = stderr_is_journal();
}

void log_set_journal_sink(LogJournalSink sink) {
        journal_sink = sink;
        to_journal = sink != NULL || stderr_is_journal();
}

#define FIELDS_MAX LOG_ADDRESSES_MAX

static int send_journal(int level, const LogFields *f, const char *file, int line, const char *func,
                        const char *message) {
        char prio[16], code_file[256], code_line[32], code_func[128], msg_id[64];
        char res[sizeof "RESERVATION_ID=" + 64], addrs[FIELDS_MAX][sizeof "PCI_ADDRESS=" + 32];
        struct iovec iov[FIELDS_MAX + 12];
        _cleanup_free_ char *m = NULL;
        int n = 0, k = 0;

#define ADD(s) iov[n++] = (struct iovec) { .iov_base = (char *) (s), .iov_len = strlen(s) }
        if (asprintf(&m, "MESSAGE=%s", message) < 0)
                return -ENOMEM;
        ADD(m);
        snprintf(prio, sizeof prio, "PRIORITY=%d", level);
        ADD(prio);
        ADD("SYSLOG_IDENTIFIER=pci-assignd");
        snprintf(code_file, sizeof code_file, "CODE_FILE=%s", file);
        ADD(code_file);
        snprintf(code_line, sizeof code_line, "CODE_LINE=%d", line);
        ADD(code_line);
        snprintf(code_func, sizeof code_func, "CODE_FUNC=%s", func);
        ADD(code_func);
        if (f && f->message_id) {
                snprintf(msg_id, sizeof msg_id, "MESSAGE_ID=%s", f->message_id);
                ADD(msg_id);
        }
        if (f && f->reservation_id) {
                snprintf(res, sizeof res, "RESERVATION_ID=%s", f->reservation_id);
                ADD(res);
        }
        if (f && f->pci_address) {
                snprintf(addrs[k], sizeof addrs[k], "PCI_ADDRESS=%s", f->pci_address);
                ADD(addrs[k]);
                k++;
        }
        for (size_t i = 0; f && f->pci_addresses && f->pci_addresses[i] && k < FIELDS_MAX; i++, k++) {
                snprintf(addrs[k], sizeof addrs[k], "PCI_ADDRESS=%s", f->pci_addresses[i]);
                ADD(addrs[k]);
        }
#undef ADD
        return journal_sink ? journal_sink(iov, n) : sd_journal_sendv(iov, n);
}

int log_internal(int level, int error, const LogFields *fields, const char *file, int line, const char *func,
                 const char *format, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        /* %m prints the given error, not whatever errno is now */
        errno = error;
        va_start(ap, format);
        vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);

        /* the journal natively; should that fail, the stream with the
         * level as a "<N>" prefix, which journald understands */
        if (to_journal && send_journal(level, fields, file, line, func, buf) >= 0)
                ;
        else if (to_journal)
                fprintf(stderr, "<%d>%s\n", level, buf);
        else if (max_level >= LOG_DEBUG)
                fprintf(stderr, "pci-assignd[%s:%d %s]: %s\n", file, line, func, buf);
        else
                fprintf(stderr, "pci-assignd: %s\n", buf);

        errno = saved;
        return -error;
}
