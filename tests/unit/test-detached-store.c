/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* detached.json (src/detached-store.c): what Detach remembers across a
 * restart, parsed as strictly as state.json. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "detached-store.h"
#include "macro.h"

static PciAddress addr(const char *s) {
        PciAddress a;

        g_assert_cmpint(pci_address_parse(s, &a), ==, 0);
        return a;
}

static int parse(const char *text, DetachedFunction **ret, size_t *ret_n) {
        return detached_parse(text, strlen(text), ret, ret_n);
}

static void test_round_trip(void) {
        DetachedFunction *l = NULL, *back = NULL;
        size_t n = 0, n_back = 0;
        PciAddress a = addr("0000:03:00.0"), b = addr("0000:04:00.1");
        g_autofree char *text = NULL;

        g_assert_cmpint(detached_add(&l, &n, &a, "e1000e"), ==, 0);
        g_assert_cmpint(detached_add(&l, &n, &b, NULL), ==, 0);
        /* a second record of one function replaces the first */
        g_assert_cmpint(detached_add(&l, &n, &a, "igb"), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpstr(detached_find(l, n, &a)->host_driver, ==, "igb");
        g_assert_null(detached_find(l, n, &b)->host_driver);

        text = detached_format(l, n);
        g_assert_nonnull(text);
        g_assert_cmpint(parse(text, &back, &n_back), ==, 0);
        g_assert_cmpuint(n_back, ==, 2);
        g_assert_cmpstr(detached_find(back, n_back, &a)->host_driver, ==, "igb");
        g_assert_null(detached_find(back, n_back, &b)->host_driver);

        detached_remove(l, &n, &a);
        g_assert_cmpuint(n, ==, 1);
        g_assert_null(detached_find(l, n, &a));
        detached_free(l, n);
        detached_free(back, n_back);
}

static void test_accepts(void) {
        DetachedFunction *l = NULL;
        size_t n = 99;

        g_assert_cmpint(parse("{\"format\": 1, \"functions\": []}", &l, &n), ==, 0);
        g_assert_cmpuint(n, ==, 0);
        detached_free(l, n);
        g_assert_cmpint(parse("{\"format\": 1, \"functions\": [{\"address\": \"0000:00:1f.3\", "
                              "\"host_driver\": \"snd_hda_intel\"}]}", &l, &n), ==, 0);
        g_assert_cmpuint(n, ==, 1);
        g_assert_cmpstr(l[0].host_driver, ==, "snd_hda_intel");
        detached_free(l, n);
}

/* Each of these was read, in part or in whole, before the store moved to
 * the library: now the file is refused as a whole. */
static void test_refuses(void) {
        static const char *const bad[] = {
                "",
                "[]",
                "{\"format\": 1}",
                "{\"functions\": []}",
                "{\"format\": \"1\", \"functions\": []}",
                "{\"format\": 0, \"functions\": []}",
                "{\"format\": 1, \"functions\": {}}",
                "{\"format\": 1, \"functions\": [], \"extra\": true}",
                "{\"format\": 1, \"functions\": [1]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\"}]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": null, \"x\": 1}]}",
                "{\"format\": 1, \"functions\": [{\"address\": 3, \"host_driver\": null}]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"03:00.0\", \"host_driver\": null}]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": 7}]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"../x\"}]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"\"}]}",
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": null}, "
                "{\"address\": \"0000:03:00.0\", \"host_driver\": \"igb\"}]}",
                "{\"format\": 1, \"functions\": []} trailing",
                "{\"format\": 1, \"functions\": [],}",
                "{\"format\": 1, \"functions\": [",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                DetachedFunction *l = NULL;
                size_t n = 0;

                g_test_message("refused: %s", bad[i]);
                g_assert_cmpint(detached_parse(bad[i], strlen(bad[i]), &l, &n), ==, -EBADMSG);
                g_assert_null(l);
        }
}

static void test_newer_format(void) {
        DetachedFunction *l = NULL;
        size_t n = 0;

        /* a newer daemon's file may have any shape: refused as newer, not
         * judged corrupt */
        g_assert_cmpint(parse("{\"format\": 3, \"functions\": \"whatever\", \"more\": 1}", &l, &n), ==,
                        -EPROTONOSUPPORT);
        g_assert_null(l);
}

static void test_files(void) {
        g_autofree char *dir = g_dir_make_tmp("detached-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, DETACHED_FILE_NAME, NULL);
        g_autofree char *missing = g_build_filename(dir, "nonexistent", NULL);
        DetachedFunction *l = NULL, *back = NULL;
        size_t n = 0, n_back = 7;
        PciAddress a = addr("0000:05:00.0");

        g_assert_nonnull(dir);
        /* none, or no directory yet: nothing was detached */
        g_assert_cmpint(detached_load(dir, &back, &n_back), ==, 0);
        g_assert_cmpuint(n_back, ==, 0);
        g_assert_cmpint(detached_load(missing, &back, &n_back), ==, 0);
        g_assert_cmpuint(n_back, ==, 0);

        g_assert_cmpint(detached_add(&l, &n, &a, "nvme"), ==, 0);
        g_assert_cmpint(detached_save(dir, l, n), ==, 0);
        g_assert_cmpint(detached_load(dir, &back, &n_back), ==, 0);
        g_assert_cmpuint(n_back, ==, 1);
        g_assert_cmpstr(back[0].host_driver, ==, "nvme");
        detached_free(back, n_back);
        back = NULL;

        g_assert_true(g_file_set_contents(path, "{\"format\": 1, \"functions\": [], \"x\": 0}", -1, NULL));
        g_assert_cmpint(detached_load(dir, &back, &n_back), ==, -EBADMSG);
        g_assert_cmpint(g_unlink(path), ==, 0);
        g_assert_cmpint(mkdir(path, 0700), ==, 0);
        g_assert_cmpint(detached_load(dir, &back, &n_back), ==, -EISDIR);
        g_assert_cmpint(g_rmdir(path), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
        detached_free(l, n);
}

/* Format 2: a function adopted on the admin's binding (vfio-pci with its
 * driver_override, pci-stub without) round-trips; the writer stays at
 * format 1 without one, and format 1 knows neither key. */
static void test_adopted(void) {
        DetachedFunction *l = NULL, *back = NULL;
        size_t n = 0, n_back = 0;
        PciAddress a = addr("0000:03:00.0"), b = addr("0000:04:00.1"), c = addr("0000:05:00.0");
        g_autofree char *text = NULL, *text2 = NULL, *text1 = NULL;
        static const char *const good[] = {
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"e1000e\"}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"pci-stub\", "
                "\"adopted\": true}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"adopted\": true, \"host_override\": \"vfio-pci\"}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": null, "
                "\"adopted\": false}]}",
        };
        static const char *const bad[] = {
                /* wrong types */
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"adopted\": \"true\"}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"adopted\": null}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"adopted\": true, \"host_override\": 1}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"adopted\": true, \"host_override\": null}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"adopted\": true, \"host_override\": \"a/b\"}]}",
                /* an override only with adoption, adoption only of ours */
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"vfio-pci\", "
                "\"host_override\": \"vfio-pci\"}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"e1000e\", "
                "\"adopted\": true}]}",
                "{\"format\": 2, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": null, "
                "\"adopted\": true}]}",
                /* format 1 does not have them */
                "{\"format\": 1, \"functions\": [{\"address\": \"0000:03:00.0\", \"host_driver\": \"pci-stub\", "
                "\"adopted\": true}]}",
        };

        g_assert_cmpint(detached_adopt(&l, &n, &a, "vfio-pci", "vfio-pci"), ==, 0);
        g_assert_cmpint(detached_adopt(&l, &n, &b, "pci-stub", NULL), ==, 0);
        g_assert_cmpint(detached_add(&l, &n, &c, "nvme"), ==, 0);
        g_assert_cmpint(detached_adopt(&l, &n, &c, "e1000e", NULL), ==, -EINVAL);
        g_assert_cmpint(detached_adopt(&l, &n, &c, "vfio-pci", "../x"), ==, -EINVAL);
        g_assert_cmpuint(n, ==, 3);

        text = detached_format(l, n);
        g_assert_nonnull(strstr(text, "\"format\": 2,"));
        g_assert_cmpint(parse(text, &back, &n_back), ==, 0);
        g_assert_cmpuint(n_back, ==, 3);
        g_assert_true(detached_find(back, n_back, &a)->adopted);
        g_assert_cmpstr(detached_find(back, n_back, &a)->host_driver, ==, "vfio-pci");
        g_assert_cmpstr(detached_find(back, n_back, &a)->host_override, ==, "vfio-pci");
        g_assert_true(detached_find(back, n_back, &b)->adopted);
        g_assert_cmpstr(detached_find(back, n_back, &b)->host_driver, ==, "pci-stub");
        g_assert_null(detached_find(back, n_back, &b)->host_override);
        g_assert_false(detached_find(back, n_back, &c)->adopted);
        text2 = detached_format(back, n_back);
        g_assert_cmpstr(text2, ==, text);
        detached_free(back, n_back);

        /* a plain record replaces an adopted one; none adopted: format 1 */
        g_assert_cmpint(detached_add(&l, &n, &a, "e1000e"), ==, 0);
        detached_remove(l, &n, &b);
        text1 = detached_format(l, n);
        g_assert_nonnull(strstr(text1, "\"format\": 1,"));
        g_assert_null(strstr(text1, "adopted"));
        g_assert_null(strstr(text1, "host_override"));
        detached_free(l, n);

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                g_test_message("accepted: %s", good[i]);
                g_assert_cmpint(parse(good[i], &back, &n_back), ==, 0);
                g_assert_cmpuint(n_back, ==, 1);
                g_assert_cmpint(back[0].adopted, ==, strstr(good[i], "\"adopted\": true") != NULL);
                detached_free(back, n_back);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                back = NULL;
                g_test_message("refused: %s", bad[i]);
                g_assert_cmpint(parse(bad[i], &back, &n_back), ==, -EBADMSG);
                g_assert_null(back);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/detached-store/round-trip", test_round_trip);
        g_test_add_func("/detached-store/accepts", test_accepts);
        g_test_add_func("/detached-store/refuses", test_refuses);
        g_test_add_func("/detached-store/newer-format", test_newer_format);
        g_test_add_func("/detached-store/files", test_files);
        g_test_add_func("/detached-store/adopted", test_adopted);
        return g_test_run();
}
