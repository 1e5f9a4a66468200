/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GLib helpers for tests that run with libfakekernel.so preloaded: a fresh
 * tree per test in a temporary directory, checked never to be the real
 * sysfs, and readers for what the fake kernel left behind. */

#include <errno.h>
#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "fakekernel-tree.h"
#include "fakekernel.h"

#define FK_SYSFS_MAGIC 0x62656572

/* Aborts unless `root` is an existing directory below the temporary
 * directory and neither in nor on the real sysfs. */
static inline void fk_assert_safe_root(const char *root) {
        char real[PATH_MAX], tmp[PATH_MAX];
        struct statfs sfs;

        g_assert_nonnull(root);
        g_assert_true(g_path_is_absolute(root));
        g_assert_nonnull(realpath(root, real));
        g_assert_nonnull(realpath(g_get_tmp_dir(), tmp));
        g_assert_cmpstr(real, !=, "/");
        g_assert_false(strcmp(real, "/sys") == 0 || g_str_has_prefix(real, "/sys/"));
        g_assert_true(g_str_has_prefix(real, tmp) && real[strlen(tmp)] == '/');
        g_assert_cmpint(statfs(real, &sfs), ==, 0);
        g_assert_cmpuint((unsigned long) sfs.f_type, !=, FK_SYSFS_MAGIC);
}

static inline void fk_reset_env(void) {
        g_unsetenv("FAKEKERNEL_FAIL");
        g_unsetenv("FAKEKERNEL_DELAY_MS");
        g_unsetenv("FAKEKERNEL_UMOCKDEV");
}

/* A new tree built from the q35 truth file; FAKEKERNEL_ROOT points at it. */
static inline char *fk_tree_new(void) {
        const char *data = g_getenv("PCI_ASSIGND_TEST_DATA");
        g_autofree char *truth = NULL;
        g_autoptr(GError) error = NULL;
        char *root, *msg = NULL;
        int r;

        g_assert_true(fakekernel_preloaded());
        g_assert_nonnull(data);
        root = g_dir_make_tmp("fakekernel-XXXXXX", &error);
        g_assert_no_error(error);
        fk_assert_safe_root(root);
        truth = g_build_filename(data, "testbeds", "q35-vm.truth.json", NULL);
        r = fakekernel_tree_build(root, truth, &msg);
        if (r < 0)
                g_error("fakekernel_tree_build: %s", msg);
        fk_reset_env();
        g_setenv("FAKEKERNEL_ROOT", root, TRUE);
        return root;
}

static inline int fk_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static inline void fk_tree_free(char *root) {
        if (!root)
                return;
        fk_reset_env();
        g_unsetenv("FAKEKERNEL_ROOT");
        fk_assert_safe_root(root);
        g_assert_cmpint(nftw(root, fk_rm_one, 16, FTW_DEPTH | FTW_PHYS), ==, 0);
        g_free(root);
}

/* ROOT/bus/pci/devices/ADDR/NAME (through the bus link) */
static inline char *fk_dev_file(const char *root, const char *addr, const char *name) {
        return g_build_filename(root, "bus", "pci", "devices", addr, name, NULL);
}

/* the bound driver, "" for none */
static inline char *fk_driver(const char *root, const char *addr) {
        g_autofree char *p = fk_dev_file(root, addr, "driver");
        g_autofree char *t = g_file_read_link(p, NULL);
        return t ? g_path_get_basename(t) : g_strdup("");
}

static inline char *fk_read(const char *root, const char *addr, const char *name) {
        g_autofree char *p = fk_dev_file(root, addr, name);
        char *s = NULL;

        if (!g_file_get_contents(p, &s, NULL, NULL))
                return NULL;
        return s;
}

/* replaces a file of the tree without the kernel noticing (O_CREAT) */
static inline void fk_put(const char *root, const char *addr, const char *name, const char *content) {
        g_autofree char *p = fk_dev_file(root, addr, name);
        g_autoptr(GError) error = NULL;

        g_file_set_contents(p, content, -1, &error);
        g_assert_no_error(error);
}

static inline gboolean fk_driver_has_link(const char *root, const char *driver, const char *addr) {
        g_autofree char *p = g_build_filename(root, "bus", "pci", "drivers", driver, addr, NULL);
        return g_file_test(p, G_FILE_TEST_IS_SYMLINK);
}

/* what the fake kernel was asked to do, one line per write() */
static inline char *fk_log(const char *root) {
        g_autofree char *p = g_build_filename(root, FAKEKERNEL_LOG_FILE, NULL);
        char *s = NULL;

        if (!g_file_get_contents(p, &s, NULL, NULL))
                return g_strdup("");
        return s;
}

static inline void fk_log_clear(const char *root) {
        g_autofree char *p = g_build_filename(root, FAKEKERNEL_LOG_FILE, NULL);
        (void) g_unlink(p);
}
