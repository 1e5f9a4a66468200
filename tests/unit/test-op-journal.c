/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* operations.json (src/op-journal.c): the journal of Detach, Reattach and
 * takeover rebinds, parsed as strictly as state.json; and the boot ID. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "macro.h"
#include "op-journal.h"

#define BOOT "0c4e1f0e-3c1b-4a55-9a0e-6b1d2e3f4a5b"

static PciAddress addr(const char *s) {
        PciAddress a;

        g_assert_cmpint(pci_address_parse(s, &a), ==, 0);
        return a;
}

static int parse(const char *text, OpJournal *ret) {
        return op_journal_parse(text, strlen(text), ret);
}

static void test_round_trip(void) {
        OpJournal j = {}, back = {};
        FunctionOperation d = { .kind = FUNCTION_OP_DETACH, .address = addr("0000:03:00.0"), .vendor_id = 0x8086,
                                .device_id = 0x10d3, .driver = (char *) "e1000e", .target = (char *) "vfio-pci" };
        FunctionOperation r = { .kind = FUNCTION_OP_REATTACH, .address = addr("0000:04:00.1"), .vendor_id = 0x1b36,
                                .device_id = 0x0010, .driver = (char *) "vfio-pci",
                                .driver_override = (char *) "vfio-pci", .reprobe = true };
        FunctionOperation t = { .kind = FUNCTION_OP_TAKEOVER, .address = addr("0000:0b:00.1"), .vendor_id = 0x8086,
                                .device_id = 0x10d3, .driver = (char *) "e1000e",
                                .driver_override = (char *) "vfio-pci", .target = (char *) "vfio-pci",
                                .reservation = (char *) "r12" };
        g_autofree char *text = NULL;
        const FunctionOperation *f;

        memcpy(j.boot_id, BOOT, BOOT_ID_STRLEN);
        g_assert_cmpint(op_journal_add(&j, &d), ==, 0);
        g_assert_cmpint(op_journal_add(&j, &r), ==, 0);
        g_assert_cmpint(op_journal_add(&j, &t), ==, 0);
        /* one operation per function: a second one replaces the first */
        d.target = (char *) "pci-stub";
        g_assert_cmpint(op_journal_add(&j, &d), ==, 0);
        g_assert_cmpuint(j.n_ops, ==, 3);

        text = op_journal_format(&j);
        g_assert_nonnull(text);
        g_assert_cmpint(parse(text, &back), ==, 0);
        g_assert_cmpstr(back.boot_id, ==, BOOT);
        g_assert_cmpuint(back.n_ops, ==, 3);
        f = op_journal_find(&back, &d.address);
        g_assert_nonnull(f);
        g_assert_cmpint(f->kind, ==, FUNCTION_OP_DETACH);
        g_assert_cmpstr(f->driver, ==, "e1000e");
        g_assert_null(f->driver_override);
        g_assert_cmpstr(f->target, ==, "pci-stub");
        g_assert_false(f->reprobe);
        g_assert_null(f->reservation);
        f = op_journal_find(&back, &r.address);
        g_assert_cmpint(f->kind, ==, FUNCTION_OP_REATTACH);
        g_assert_cmpuint(f->vendor_id, ==, 0x1b36);
        g_assert_cmpuint(f->device_id, ==, 0x0010);
        g_assert_null(f->target);
        g_assert_true(f->reprobe);
        g_assert_cmpstr(f->driver_override, ==, "vfio-pci");
        f = op_journal_find(&back, &t.address);
        g_assert_cmpint(f->kind, ==, FUNCTION_OP_TAKEOVER);
        g_assert_cmpstr(f->reservation, ==, "r12");

        g_assert_true(op_journal_remove(&j, &r.address));
        g_assert_false(op_journal_remove(&j, &r.address));
        g_assert_null(op_journal_find(&j, &r.address));
        g_assert_cmpuint(j.n_ops, ==, 2);
        op_journal_done(&j);
        op_journal_done(&back);
}

#define OP(extra) "{\"operation\": \"detach\", \"address\": \"0000:03:00.0\", \"vendor_id\": 32902, " \
                  "\"device_id\": 4307, \"driver\": \"e1000e\", \"driver_override\": null, " \
                  "\"target\": \"vfio-pci\", \"reprobe\": false, \"reservation\": null" extra "}"
#define FILE_(ops) "{\"format\": 1, \"boot_id\": \"" BOOT "\", \"operations\": [" ops "]}"

static void test_refuses(void) {
        static const struct {
                const char *text;
                int error;
        } cases[] = {
                { FILE_(OP("")), 0 },
                { FILE_(""), 0 },
                /* a newer daemon's: not corrupt, not ours */
                { "{\"format\": 2, \"boot_id\": \"" BOOT "\", \"operations\": []}", -EPROTONOSUPPORT },
                { "{\"format\": 0, \"boot_id\": \"" BOOT "\", \"operations\": []}", -EBADMSG },
                { "{\"boot_id\": \"" BOOT "\", \"operations\": []}", -EBADMSG },
                { "{\"format\": 1, \"operations\": []}", -EBADMSG },
                { "{\"format\": 1, \"boot_id\": \"not-a-boot-id\", \"operations\": []}", -EBADMSG },
                { "{\"format\": 1, \"boot_id\": \"0C4E1F0E-3C1B-4A55-9A0E-6B1D2E3F4A5B\", \"operations\": []}",
                  -EBADMSG },
                { "{\"format\": 1, \"boot_id\": \"" BOOT "\", \"operations\": [], \"x\": 1}", -EBADMSG },
                { FILE_(OP(", \"step\": 2")), -EBADMSG },
                { FILE_(OP("") ", " OP("")), -EBADMSG },   /* two operations on one function */
                { FILE_("{\"operation\": \"move\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": null, "
                        "\"reprobe\": false, \"reservation\": null}"), -EBADMSG },
                { FILE_("{\"operation\": \"detach\", \"address\": \"0000:03:00.0\", \"vendor_id\": 65536, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": null, "
                        "\"reprobe\": false, \"reservation\": null}"), -EBADMSG },
                { FILE_("{\"operation\": \"detach\", \"address\": \"3:0.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": null, "
                        "\"reprobe\": false, \"reservation\": null}"), -EBADMSG },
                { FILE_("{\"operation\": \"detach\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": \"../../x\", \"driver_override\": null, \"target\": null, "
                        "\"reprobe\": false, \"reservation\": null}"), -EBADMSG },
                { FILE_("{\"operation\": \"detach\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": 5, \"target\": null, "
                        "\"reprobe\": false, \"reservation\": null}"), -EBADMSG },
                /* a takeover is a reserved function's; nothing else is */
                { FILE_("{\"operation\": \"takeover\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": \"vfio-pci\", "
                        "\"reprobe\": false, \"reservation\": null}"), -EBADMSG },
                { FILE_(OP("") "x"), -EBADMSG },
                { FILE_("{\"operation\": \"detach\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": null, "
                        "\"reprobe\": false, \"reservation\": \"r1\"}"), -EBADMSG },
                { FILE_("{\"operation\": \"takeover\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": \"vfio-pci\", "
                        "\"reprobe\": false, \"reservation\": \"-r1\"}"), -EBADMSG },
                /* reprobe: only a Reattach lets the kernel choose */
                { FILE_("{\"operation\": \"detach\", \"address\": \"0000:03:00.0\", \"vendor_id\": 1, "
                        "\"device_id\": 2, \"driver\": null, \"driver_override\": null, \"target\": null, "
                        "\"reprobe\": true, \"reservation\": null}"), -EBADMSG },
                { FILE_(OP("")) " trailing", -EBADMSG },
                { "[]", -EBADMSG },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                OpJournal j = {};
                int r = parse(cases[i].text, &j);

                if (r != cases[i].error)
                        g_error("case %zu: %s: got %d, want %d", i, cases[i].text, r, cases[i].error);
                op_journal_done(&j);
        }
}

static void test_load_save(void) {
        g_autofree gchar *dir = g_dir_make_tmp("op-journal-XXXXXX", NULL);
        g_autofree gchar *file = g_build_filename(dir, OP_JOURNAL_FILE_NAME, NULL);
        FunctionOperation d = { .kind = FUNCTION_OP_DETACH, .address = addr("0000:03:00.0"), .vendor_id = 1,
                                .device_id = 2, .target = (char *) "vfio-pci" };
        OpJournal j = {}, back = {};

        g_assert_nonnull(dir);
        /* none: an empty journal */
        g_assert_cmpint(op_journal_load(dir, &back), ==, 0);
        g_assert_cmpuint(back.n_ops, ==, 0);
        /* an operation needs the boot it belongs to */
        g_assert_cmpint(op_journal_add(&j, &d), ==, 0);
        g_assert_cmpint(op_journal_save(dir, &j), ==, -EINVAL);
        g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
        memcpy(j.boot_id, BOOT, BOOT_ID_STRLEN);
        g_assert_cmpint(op_journal_save(dir, &j), ==, 0);
        g_assert_true(g_file_test(file, G_FILE_TEST_EXISTS));
        g_assert_cmpint(op_journal_load(dir, &back), ==, 0);
        g_assert_cmpuint(back.n_ops, ==, 1);
        g_assert_cmpstr(back.boot_id, ==, BOOT);
        op_journal_done(&back);
        /* nothing running: no file */
        g_assert_true(op_journal_remove(&j, &d.address));
        g_assert_cmpint(op_journal_save(dir, &j), ==, 0);
        g_assert_false(g_file_test(file, G_FILE_TEST_EXISTS));
        g_assert_cmpint(op_journal_save(dir, &j), ==, 0);
        /* corrupt: refused, never half read */
        g_assert_true(g_file_set_contents(file, "{\"format\": 1, \"boot_id\": \"" BOOT "\", \"operations\": [1]}",
                                          -1, NULL));
        g_assert_cmpint(op_journal_load(dir, &back), ==, -EBADMSG);
        g_assert_cmpuint(back.n_ops, ==, 0);
        g_assert_cmpint(g_unlink(file), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
        op_journal_done(&j);
}

static void test_boot_id(void) {
        g_autofree gchar *dir = g_dir_make_tmp("boot-id-XXXXXX", NULL);
        g_autofree gchar *file = g_build_filename(dir, "boot_id", NULL);
        char id[BOOT_ID_STRLEN];

        g_assert_true(g_file_set_contents(file, BOOT "\n", -1, NULL));
        g_assert_cmpint(boot_id_read(file, id), ==, 0);
        g_assert_cmpstr(id, ==, BOOT);
        g_assert_true(g_file_set_contents(file, "garbage\n", -1, NULL));
        g_assert_cmpint(boot_id_read(file, id), ==, -EBADMSG);
        g_assert_cmpint(g_unlink(file), ==, 0);
        g_assert_cmpint(boot_id_read(file, id), ==, -ENOENT);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
        /* this machine's, read for real */
        g_assert_cmpint(boot_id_read(NULL, id), ==, 0);
        g_assert_true(boot_id_valid(id));
        g_assert_false(boot_id_valid(""));
        g_assert_false(boot_id_valid(BOOT "0"));
        g_assert_false(boot_id_valid("0c4e1f0e_3c1b-4a55-9a0e-6b1d2e3f4a5b"));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/op-journal/round-trip", test_round_trip);
        g_test_add_func("/op-journal/refuses", test_refuses);
        g_test_add_func("/op-journal/load-save", test_load_save);
        g_test_add_func("/op-journal/boot-id", test_boot_id);
        return g_test_run();
}
