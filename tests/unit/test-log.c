/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* log.c: the journal entries the daemon sends (fields, priorities), seen
 * through a sink in place of sd_journal_sendv(). */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "log.h"

static GPtrArray *entries;   /* each a GPtrArray of "KEY=value" */

static int sink(const struct iovec *iov, int n) {
        GPtrArray *e = g_ptr_array_new_with_free_func(g_free);

        for (int i = 0; i < n; i++)
                g_ptr_array_add(e, g_strndup(iov[i].iov_base, iov[i].iov_len));
        g_ptr_array_add(entries, e);
        return 0;
}

static int failing_sink(const struct iovec *iov, int n) {
        return -ECONNREFUSED;
}

static GPtrArray *last(void) {
        g_assert_cmpuint(entries->len, >, 0);
        return entries->pdata[entries->len - 1];
}

static guint count(GPtrArray *e, const char *field) {
        guint c = 0;

        for (guint i = 0; i < e->len; i++)
                if (g_str_equal(e->pdata[i], field))
                        c++;
        return c;
}

static guint count_prefix(GPtrArray *e, const char *prefix) {
        guint c = 0;

        for (guint i = 0; i < e->len; i++)
                if (g_str_has_prefix(e->pdata[i], prefix))
                        c++;
        return c;
}

static void setup(void) {
        if (entries)
                g_ptr_array_free(entries, TRUE);
        entries = g_ptr_array_new_with_free_func((GDestroyNotify) g_ptr_array_unref);
        log_set_journal_sink(sink);
        log_set_max_level(LOG_INFO);
}

static void test_plain(void) {
        GPtrArray *e;

        setup();
        g_assert_cmpint(log_error_errno(-EBUSY, "unbind of %s failed: %m", "0000:03:00.0"), ==, -EBUSY);
        e = last();
        g_assert_cmpuint(count(e, "MESSAGE=unbind of 0000:03:00.0 failed: Device or resource busy"), ==, 1);
        g_assert_cmpuint(count(e, "PRIORITY=3"), ==, 1);
        g_assert_cmpuint(count(e, "SYSLOG_IDENTIFIER=pci-assignd"), ==, 1);
        g_assert_cmpuint(count_prefix(e, "CODE_FILE="), ==, 1);
        g_assert_cmpuint(count_prefix(e, "CODE_LINE="), ==, 1);
        g_assert_cmpuint(count(e, "CODE_FUNC=test_plain"), ==, 1);
        /* nothing made up */
        g_assert_cmpuint(count_prefix(e, "PCI_ADDRESS="), ==, 0);
        g_assert_cmpuint(count_prefix(e, "RESERVATION_ID="), ==, 0);
        g_assert_cmpuint(count_prefix(e, "MESSAGE_ID="), ==, 0);

        /* below the level: nothing sent */
        log_debug("not shown");
        g_assert_cmpuint(entries->len, ==, 1);
}

static void test_fields(void) {
        const char *const addrs[] = { "0000:0b:00.0", "0000:0b:00.1", NULL };
        GPtrArray *e;

        setup();
        log_fields(LOG_NOTICE, 0,
                   ((LogFields) { .reservation_id = "r7", .pci_addresses = addrs,
                                  .message_id = LOG_MESSAGE_ID_PREPARED }),
                   "Prepare of reservation %s done.", "r7");
        e = last();
        g_assert_cmpuint(count(e, "MESSAGE=Prepare of reservation r7 done."), ==, 1);
        g_assert_cmpuint(count(e, "PRIORITY=5"), ==, 1);
        g_assert_cmpuint(count(e, "RESERVATION_ID=r7"), ==, 1);
        g_assert_cmpuint(count(e, "PCI_ADDRESS=0000:0b:00.0"), ==, 1);
        g_assert_cmpuint(count(e, "PCI_ADDRESS=0000:0b:00.1"), ==, 1);
        g_assert_cmpuint(count(e, "MESSAGE_ID=" LOG_MESSAGE_ID_PREPARED), ==, 1);

        log_fields(LOG_WARNING, 0, ((LogFields) { .pci_address = "0000:03:00.0" }), "taken");
        e = last();
        g_assert_cmpuint(count(e, "PCI_ADDRESS=0000:03:00.0"), ==, 1);
        g_assert_cmpuint(count_prefix(e, "RESERVATION_ID="), ==, 0);
        g_assert_cmpuint(count(e, "PRIORITY=4"), ==, 1);
}

/* Far more functions than fields: bounded, no overflow. */
static void test_many_addresses(void) {
        g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
        GPtrArray *e;

        setup();
        for (int i = 0; i < 300; i++)
                g_ptr_array_add(a, g_strdup_printf("0000:%02x:%02x.%d", i / 32, i % 32, 0));
        g_ptr_array_add(a, NULL);
        log_fields(LOG_INFO, 0, ((LogFields) { .pci_addresses = (const char *const *) a->pdata }), "many");
        e = last();
        g_assert_cmpuint(count_prefix(e, "PCI_ADDRESS="), ==, 48);
        g_assert_cmpuint(count(e, "PCI_ADDRESS=0000:00:00.0"), ==, 1);
}

/* A journal that refuses the entry: the line still goes out (on the
 * stream); the caller gets its error back, not the journal's. */
static void test_sink_fails(void) {
        setup();
        log_set_journal_sink(failing_sink);
        g_assert_cmpint(log_warning_errno(-ENOENT, "gone: %m"), ==, -ENOENT);
        g_assert_cmpuint(entries->len, ==, 0);
}

/* pci-assignd(8) lists every MESSAGE_ID the daemon sends */
static void test_manual_message_ids(void) {
        static const char *const ids[] = { LOG_MESSAGE_ID_PREPARED, LOG_MESSAGE_ID_GIVEN_BACK,
                                           LOG_MESSAGE_ID_CONFLICT, LOG_MESSAGE_ID_TAKEOVER_UNDONE,
                                           LOG_MESSAGE_ID_RECONCILED };
        const char *root = g_getenv("PCI_ASSIGND_SOURCE_ROOT");
        g_autofree gchar *path = NULL, *text = NULL;

        g_assert_nonnull(root);
        path = g_build_filename(root, "man", "pci-assignd.8.scd", NULL);
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        for (size_t i = 0; i < G_N_ELEMENTS(ids); i++)
                if (!strstr(text, ids[i]))
                        g_error("%s does not list MESSAGE_ID %s", path, ids[i]);
}

int main(int argc, char *argv[]) {
        int r;

        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/log/plain", test_plain);
        g_test_add_func("/log/fields", test_fields);
        g_test_add_func("/log/many-addresses", test_many_addresses);
        g_test_add_func("/log/sink-fails", test_sink_fails);
        g_test_add_func("/log/manual-message-ids", test_manual_message_ids);
        r = g_test_run();
        log_set_journal_sink(NULL);
        g_ptr_array_free(entries, TRUE);
        return r;
}
