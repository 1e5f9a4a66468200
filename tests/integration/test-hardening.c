/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault and load tests (issue 7) against the real daemon on a private bus,
 * on the recorded q35 testbed (tests/data/testbeds/q35-vm.truth.json):
 *
 *  /hardening/store/...     the state directory fills up, turns read-only,
 *                           or its fsync fails (a thin loop device): every
 *                           mutation fails cleanly, reads go on, what was
 *                           stored survives a restart.  Needs root (mounts,
 *                           in a private mount namespace); skipped otherwise.
 *  /hardening/load          50 clients (own connections, own threads) x 1000
 *                           mixed calls while "change" uevents stream in; no
 *                           unexpected error; latencies printed.
 *  /hardening/malformed     every method of every object kind with wrong
 *                           signatures and hostile values, oversized arrays,
 *                           hostile object paths, and (over a raw socket)
 *                           bytes GDBus refuses to send; every call gets an
 *                           error, the daemon stays as it was.
 *  /hardening/crash-loop    SIGKILL at random times during Prepare/Unprepare
 *                           (fake kernel); the state is consistent after
 *                           every restart.
 *
 * Under $PCI_ASSIGND_TEST_WRAPPER (meson test --setup valgrind) the load,
 * the crash loop and the oversized arrays are scaled down and latencies are
 * not asserted.  Daemon bugs that leave the rest of a case meaningful are
 * collected and fail the case at its end ("PROBLEMS"), so that every check
 * runs; the cases are independent (--keep-going). */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <json-c/json.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"

#define BUS_NAME "org.pciassign1"
#define MANAGER_PATH "/org/pciassign1"
#define MANAGER_IFACE "org.pciassign1.Manager"
#define DEVICE_IFACE "org.pciassign1.Device"
#define GROUP_IFACE "org.pciassign1.Group"
#define RES_IFACE "org.pciassign1.Reservation"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define INTROSPECT_IFACE "org.freedesktop.DBus.Introspectable"
#define ERR(x) "org.pciassign1.Error." x
#define DBUS_ERR(x) "org.freedesktop.DBus.Error." x

#define TESTBED "testbeds/q35-vm.umockdev"
#define MF0 "0000:0b:00.0"  /* e1000e, group 22 with MF1 */
#define MF1 "0000:0b:00.1"
#define NIC "0000:02:00.0"  /* e1000e alone in group 16 */
#define NIC3 "0000:0a:00.0" /* e1000e alone in group 21 */

static const char *const no_args[] = { NULL };

/* set in main(): mounts happen in a private mount namespace, so that
 * nothing is left mounted on the host whatever happens to the test */
static const char *no_mount_reason;

static gboolean under_wrapper(void) {
        return g_getenv("PCI_ASSIGND_TEST_WRAPPER") != NULL;
}

static gint call_timeout_ms(void) {
        return under_wrapper() ? 300000 : 60000;
}

/* ===================================================================== */
/* helpers                                                               */
/* ===================================================================== */

static gchar *error_name(const GError *error) {
        gchar *remote;

        if (!error)
                return g_strdup("(none)");
        remote = g_dbus_error_get_remote_error(error);
        if (remote)
                return remote;
        return g_strdup_printf("(local %s %d)", g_quark_to_string(error->domain), error->code);
}

static void assert_error(GError *error, const char *name, const char *what) {
        g_autofree gchar *got = error_name(error);

        if (!error)
                g_error("%s: succeeded, expected %s", what, name);
        if (!g_str_equal(got, name))
                g_error("%s: expected %s, got %s: %s", what, name, got, error->message);
}

static GVariant *mgr(Harness *h, const char *method, GVariant *args, const char *reply, GError **error) {
        return harness_call(h, MANAGER_PATH, MANAGER_IFACE, method, args, reply ? G_VARIANT_TYPE(reply) : NULL,
                            error);
}

static GVariant *mgr_ok(Harness *h, const char *method, GVariant *args, const char *reply) {
        g_autoptr(GError) error = NULL;
        GVariant *r = mgr(h, method, args, reply, &error);

        if (error)
                g_error("%s failed: %s", method, error->message);
        return r;
}

static GVariant *empty_opts(void) {
        return g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0);
}

/* Reserve; returns the path or NULL with error set */
static gchar *reserve(Harness *h, const char *owner, const char *const *assigned, const char *const *unassigned,
                      GError **error) {
        g_autoptr(GVariant) r = NULL;
        gchar *path = NULL;

        r = mgr(h, "Reserve", g_variant_new("(s@a(sb)@a{sv})", owner, harness_functions_v(assigned, unassigned), empty_opts()),
                "(o)", error);
        if (r)
                g_variant_get(r, "(o)", &path);
        return path;
}

static gchar *reserve_ok(Harness *h, const char *owner, const char *const *assigned,
                         const char *const *unassigned) {
        g_autoptr(GError) error = NULL;
        gchar *path = reserve(h, owner, assigned, unassigned, &error);

        if (!path)
                g_error("Reserve for %s failed: %s", owner, error->message);
        return path;
}

static void res_call(Harness *h, const char *path, const char *method, GVariant *args, GError **error) {
        g_autoptr(GVariant) r = harness_call(h, path, RES_IFACE, method, args, NULL, error);
}

static void res_ok(Harness *h, const char *path, const char *method, GVariant *args) {
        g_autoptr(GError) error = NULL;

        res_call(h, path, method, args, &error);
        if (error)
                g_error("%s on %s failed: %s", method, path, error->message);
}

static gchar *res_state(Harness *h, const char *path) {
        g_autoptr(GVariant) props = harness_get_all(h, path, RES_IFACE);
        gchar *s = NULL;

        g_assert_true(g_variant_lookup(props, "State", "s", &s));
        return s;
}

static gchar *state_path(Harness *h) {
        return g_build_filename(h->state_dir, "state.json", NULL);
}

/* the state file's bytes ("" if missing) */
static GBytes *state_bytes(Harness *h) {
        g_autofree gchar *p = state_path(h), *c = NULL;
        gsize n = 0;

        if (!g_file_get_contents(p, &c, &n, NULL))
                return g_bytes_new(NULL, 0);
        return g_bytes_new_take(g_steal_pointer(&c), n);
}

/* The state file parses; returns its reservations array's length and
 * whether any has a journal.  No file (nothing was ever stored) is no
 * reservation. */
static guint state_check(Harness *h, gboolean *ret_journal) {
        g_autofree gchar *path = state_path(h);
        g_autoptr(GBytes) b = state_bytes(h);
        gsize n;
        const char *text = g_bytes_get_data(b, &n);
        json_tokener *tok = json_tokener_new();
        json_object *doc, *list;
        gboolean journal = FALSE;
        guint count;

        if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                json_tokener_free(tok);
                if (ret_journal)
                        *ret_journal = FALSE;
                return 0;
        }
        g_assert_nonnull(tok);
        doc = n ? json_tokener_parse_ex(tok, text, (int) n) : NULL;
        if (!doc || json_tokener_get_error(tok) != json_tokener_success)
                g_error("state file does not parse (%zu bytes): %.*s", n, (int) MIN(n, 4096), text ?: "");
        json_tokener_free(tok);
        if (!json_object_object_get_ex(doc, "reservations", &list) || !json_object_is_type(list, json_type_array))
                g_error("state file has no reservations array: %.*s", (int) MIN(n, 4096), text);
        count = (guint) json_object_array_length(list);
        for (size_t i = 0; i < count; i++) {
                json_object *r = json_object_array_get_idx(list, i), *j;
                if (json_object_object_get_ex(r, "journal", &j) && j)
                        journal = TRUE;
        }
        json_object_put(doc);
        if (ret_journal)
                *ret_journal = journal;
        return count;
}

static void assert_variant_equal(GVariant *a, GVariant *b, const char *what) {
        if (!g_variant_equal(a, b)) {
                g_autofree gchar *sa = g_variant_print(a, FALSE), *sb = g_variant_print(b, FALSE);
                g_error("%s changed:\nbefore: %s\nafter:  %s", what, sa, sb);
        }
}

static gint cmp_printed(gconstpointer a, gconstpointer b) {
        return g_strcmp0(*(const gchar *const *) a, *(const gchar *const *) b);
}

/* The entries of a reply "(a(...))" printed and sorted: the same set of
 * entries in any order compares equal. */
static gchar *sorted_entries(GVariant *reply) {
        g_autoptr(GVariant) arr = g_variant_get_child_value(reply, 0);
        g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
        GString *out = g_string_new(NULL);

        for (gsize i = 0; i < g_variant_n_children(arr); i++) {
                g_autoptr(GVariant) c = g_variant_get_child_value(arr, i);
                g_ptr_array_add(items, g_variant_print(c, FALSE));
        }
        g_ptr_array_sort(items, cmp_printed);
        for (guint i = 0; i < items->len; i++)
                g_string_append_printf(out, "%s\n", (const char *) items->pdata[i]);
        return g_string_free(out, FALSE);
}

/* The lines of `a` missing from `b` ("- ...") and those of `b` missing
 * from `a` ("+ ..."). */
static gchar *diff_lines(const char *a, const char *b) {
        g_auto(GStrv) la = g_strsplit(a, "\n", -1), lb = g_strsplit(b, "\n", -1);
        GString *out = g_string_new(NULL);

        for (gchar **l = la; *l; l++)
                if (**l && !g_strv_contains((const gchar *const *) lb, *l))
                        g_string_append_printf(out, "- %s\n", *l);
        for (gchar **l = lb; *l; l++)
                if (**l && !g_strv_contains((const gchar *const *) la, *l))
                        g_string_append_printf(out, "+ %s\n", *l);
        return g_string_free(out, FALSE);
}

/* ListReservations before and after: the same reservations (fatal if
 * not); a different order is noted in `problems` (the test fails at its
 * end, after everything else was checked). */
static void compare_reservations(GVariant *before, GVariant *after, const char *what, GString *problems) {
        g_autofree gchar *sb = sorted_entries(before), *sa = sorted_entries(after);

        if (!g_str_equal(sb, sa))
                g_error("%s changed:\nbefore:\n%safter:\n%s", what, sb, sa);
        if (!g_variant_equal(before, after)) {
                g_autofree gchar *pb = g_variant_print(before, FALSE), *pa = g_variant_print(after, FALSE);
                g_string_append_printf(problems,
                                       "%s: the same reservations in another order:\n  before: %s\n  after:  %s\n",
                                       what, pb, pa);
        }
}

/* Failures found after which the test could go on (a daemon bug that does
 * not make the rest meaningless): the test fails at its end, and the next
 * tests still run. */
static void report_problems(GString *problems) {
        if (problems->len == 0)
                return;
        g_test_message("PROBLEMS:\n%s", problems->str);
        g_test_fail();
}

static void assert_bytes_equal(GBytes *a, GBytes *b, const char *what) {
        if (!g_bytes_equal(a, b)) {
                gsize na, nb;
                const char *ta = g_bytes_get_data(a, &na), *tb = g_bytes_get_data(b, &nb);
                g_error("%s changed:\nbefore (%zu bytes):\n%.*s\nafter (%zu bytes):\n%.*s", what, na,
                        (int) MIN(na, 4096), ta ?: "", nb, (int) MIN(nb, 4096), tb ?: "");
        }
}

static gboolean daemon_alive(Harness *h) {
        while (g_main_context_iteration(NULL, FALSE))
                ;
        return h->pid > 0 && !h->exited;
}

/* Describe answers with JSON listing `n_res` reservations */
static void assert_describe(Harness *h, guint n_res) {
        g_autoptr(GVariant) r = mgr_ok(h, "Describe", NULL, "(s)");
        const char *text;
        json_object *doc, *res;

        g_variant_get(r, "(&s)", &text);
        doc = json_tokener_parse(text);
        if (!doc)
                g_error("Describe is not JSON: %.200s", text);
        g_assert_true(json_object_object_get_ex(doc, "reservations", &res));
        g_assert_cmpuint(json_object_array_length(res), ==, n_res);
        json_object_put(doc);
}

static int run_quiet(const char *const *argv, gchar **ret_err) {
        g_autoptr(GError) error = NULL;
        g_autofree gchar *out = NULL, *err = NULL;
        gint status;

        if (!g_spawn_sync(NULL, (gchar **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status,
                          &error)) {
                if (ret_err)
                        *ret_err = g_strdup(error->message);
                return -1;
        }
        if (ret_err)
                *ret_err = g_strdup_printf("%s%s", out ?: "", err ?: "");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The sysfs path of a function as umockdev names it (/sys/devices/...) */
static gchar *function_syspath(Harness *h, const char *addr) {
        g_autofree gchar *sys = harness_sys_path(h, NULL), *link = NULL, *real_sys = NULL, *real = NULL;

        link = g_strdup_printf("%s/bus/pci/devices/%s", sys, addr);
        real_sys = realpath(sys, NULL);
        real = realpath(link, NULL);
        g_assert_nonnull(real_sys);
        g_assert_nonnull(real);
        g_assert_true(g_str_has_prefix(real, real_sys));
        return g_strdup_printf("/sys%s", real + strlen(real_sys));
}

/* ===================================================================== */
/* 1. store faults                                                       */
/* ===================================================================== */

typedef enum {
        FAULT_FULL,      /* a 64 KiB tmpfs, filled up */
        FAULT_READONLY,  /* a tmpfs, remounted read-only */
        FAULT_FSYNC,     /* ext4 on a loop device over a file on a small
                          * tmpfs: write() lands in the page cache, fsync()
                          * must write blocks the full tmpfs cannot hold */
} FaultKind;

static const char *const fault_names[] = { "disk full", "read-only", "fsync error" };

typedef struct {
        Harness *h;
        FaultKind kind;
        gchar *backing;    /* FAULT_FSYNC: the tmpfs holding the image */
        gchar *image;
        gchar *filler;     /* the file that fills a filesystem up */
        gboolean mounted, backing_mounted;
} FaultFs;

/* Writes zeros to `path` until the filesystem is full. */
static void fill_up(const char *path) {
        static const char zeros[4096];
        struct statvfs sv;
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        g_assert_cmpint(fd, >=, 0);
        for (;;) {
                ssize_t k = write(fd, zeros, sizeof zeros);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        g_assert_cmpint(errno, ==, ENOSPC);
                        break;
                }
                if (k == 0)
                        break;
        }
        /* the last partial page too */
        while (write(fd, zeros, 1) == 1)
                ;
        g_assert_cmpint(fsync(fd), ==, 0);
        g_assert_cmpint(close(fd), ==, 0);
        g_assert_cmpint(statvfs(path, &sv), ==, 0);
        g_assert_cmpuint(sv.f_bavail, ==, 0);
}

/* Mounts the faulty filesystem on the state directory (before the daemon
 * starts).  FALSE (test skipped) when this machine cannot. */
static gboolean fault_fs_mount(FaultFs *f) {
        Harness *h = f->h;
        g_autofree gchar *why = NULL;

        if (no_mount_reason) {
                g_autofree gchar *msg = g_strdup_printf("store fault \"%s\" needs mounts: %s", fault_names[f->kind],
                                                        no_mount_reason);
                g_test_skip(msg);
                return FALSE;
        }
        switch (f->kind) {
        case FAULT_FULL:
        case FAULT_READONLY:
                if (mount("tmpfs", h->state_dir, "tmpfs", MS_NOSUID | MS_NODEV,
                          f->kind == FAULT_FULL ? "size=64k,mode=0700" : "size=1m,mode=0700") < 0) {
                        g_autofree gchar *msg = g_strdup_printf("cannot mount a tmpfs on %s: %s", h->state_dir,
                                                                g_strerror(errno));
                        g_test_skip(msg);
                        return FALSE;
                }
                f->mounted = TRUE;
                break;
        case FAULT_FSYNC: {
                int fd;

                f->backing = g_build_filename(h->tmpdir, "backing", NULL);
                f->image = g_build_filename(f->backing, "ext4.img", NULL);
                g_assert_cmpint(g_mkdir(f->backing, 0700), ==, 0);
                if (mount("tmpfs", f->backing, "tmpfs", MS_NOSUID | MS_NODEV, "size=8m,mode=0700") < 0) {
                        g_autofree gchar *msg = g_strdup_printf("cannot mount a tmpfs on %s: %s", f->backing,
                                                                g_strerror(errno));
                        g_test_skip(msg);
                        return FALSE;
                }
                f->backing_mounted = TRUE;
                /* sparse: 32 MiB of filesystem over 8 MiB of memory */
                fd = open(f->image, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                g_assert_cmpint(fd, >=, 0);
                g_assert_cmpint(ftruncate(fd, 32 * 1024 * 1024), ==, 0);
                close(fd);
                {
                        /* 4 KiB blocks: one block, one page of the tmpfs (with
                         * 1 KiB blocks a new block may share a page that is
                         * there already) */
                        const char *argv[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "^has_journal", "-e",
                                               "continue", f->image, NULL };
                        if (run_quiet(argv, &why) != 0) {
                                g_autofree gchar *msg = g_strdup_printf("mkfs.ext4 failed: %s", why);
                                g_test_skip(msg);
                                return FALSE;
                        }
                }
                g_clear_pointer(&why, g_free);
                {
                        /* util-linux sets the loop device up with autoclear:
                         * it goes away with the mount */
                        const char *argv[] = { "mount", "-o", "loop,nosuid,nodev", f->image, h->state_dir, NULL };
                        if (run_quiet(argv, &why) != 0) {
                                g_autofree gchar *msg = g_strdup_printf("cannot mount ext4 on a loop device: %s", why);
                                g_test_skip(msg);
                                return FALSE;
                        }
                }
                f->mounted = TRUE;
                g_assert_cmpint(g_chmod(h->state_dir, 0700), ==, 0);
                break;
        }
        }
        return TRUE;
}

static void fault_inject(FaultFs *f) {
        Harness *h = f->h;
        g_autofree gchar *why = NULL;

        switch (f->kind) {
        case FAULT_FULL:
                f->filler = g_build_filename(h->state_dir, "filler", NULL);
                fill_up(f->filler);
                break;
        case FAULT_READONLY:
                g_assert_cmpint(mount("tmpfs", h->state_dir, "tmpfs", MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
                                      NULL), ==, 0);
                /* even root cannot write now */
                g_assert_cmpint(access(h->state_dir, W_OK), ==, -1);
                g_assert_cmpint(errno, ==, EROFS);
                break;
        case FAULT_FSYNC: {
                /* every free block of the ext4 becomes a hole in the image
                 * (the loop device punches them), then the image's tmpfs is
                 * filled: new data blocks have nowhere to go */
                const char *argv[] = { "fstrim", h->state_dir, NULL };
                if (run_quiet(argv, &why) != 0)
                        g_error("fstrim %s failed: %s", h->state_dir, why);
                f->filler = g_build_filename(f->backing, "filler", NULL);
                fill_up(f->filler);
                break;
        }
        }
}

static void fault_clear(FaultFs *f) {
        switch (f->kind) {
        case FAULT_FULL:
        case FAULT_FSYNC:
                g_assert_cmpint(g_unlink(f->filler), ==, 0);
                break;
        case FAULT_READONLY:
                g_assert_cmpint(mount("tmpfs", f->h->state_dir, "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL),
                                ==, 0);
                break;
        }
}

static void fault_fs_unmount(FaultFs *f) {
        if (f->mounted && umount2(f->h->state_dir, 0) < 0)
                g_assert_cmpint(umount2(f->h->state_dir, MNT_DETACH), ==, 0);
        f->mounted = FALSE;
        if (f->backing_mounted && umount2(f->backing, 0) < 0)
                g_assert_cmpint(umount2(f->backing, MNT_DETACH), ==, 0);
        f->backing_mounted = FALSE;
        g_free(f->backing);
        g_free(f->image);
        g_free(f->filler);
}

/* Files in the state directory other than state.json, the daemon's lock
 * file and the filler: a temp file left behind by a failed write. */
static void assert_no_leftovers(FaultFs *f) {
        g_autoptr(GDir) d = g_dir_open(f->h->state_dir, 0, NULL);
        const char *name;

        g_assert_nonnull(d);
        while ((name = g_dir_read_name(d)))
                if (!g_str_equal(name, "state.json") && !g_str_equal(name, "filler") &&
                    !g_str_equal(name, "pci-assignd.lock") && !g_str_equal(name, "lost+found") &&
                    !g_str_equal(name, "last-boot"))
                        g_error("%s left in the state directory after a failed write", name);
}

/* The message of a failed store write: names the state directory and the
 * cause. */
static void assert_store_error(FaultFs *f, GError *error, const char *what) {
        static const char *const causes[][3] = {
                [FAULT_FULL] = { "No space left on device", NULL },
                [FAULT_READONLY] = { "Read-only file system", NULL },
                /* the loop device reports the full tmpfs as ENOSPC, other
                 * block layers as EIO */
                [FAULT_FSYNC] = { "No space left on device", "Input/output error", NULL },
        };
        gboolean cause = FALSE;

        assert_error(error, ERR("OperationFailed"), what);
        if (!strstr(error->message, f->h->state_dir))
                g_error("%s: the message does not name the state directory %s: %s", what, f->h->state_dir,
                        error->message);
        for (const char *const *c = causes[f->kind]; *c; c++)
                cause = cause || strstr(error->message, *c);
        if (!cause)
                g_error("%s: the message does not give the cause (%s): %s", what, causes[f->kind][0], error->message);
        g_test_message("%s (%s): %s", what, fault_names[f->kind], error->message);
}

static void assert_drivers(Harness *h, const char *const *addrs, const char *driver) {
        for (const char *const *a = addrs; *a; a++) {
                g_autofree gchar *d = harness_sys_driver(h, *a);
                if (!g_str_equal(d, driver))
                        g_error("%s is on \"%s\", expected \"%s\"", *a, d, driver);
        }
}

static void test_store_fault(gconstpointer data) {
        FaultKind kind = GPOINTER_TO_INT(data);
        Harness *h = harness_new(TESTBED);
        FaultFs f = { .h = h, .kind = kind };
        g_autoptr(GString) problems = g_string_new(NULL);
        const char *const mf[] = { MF0, NULL }, *const mf_un[] = { MF1, NULL }, *const mf_all[] = { MF0, MF1, NULL };
        const char *const nic[] = { NIC, NULL }, *const nic3[] = { NIC3, NULL };
        g_autofree gchar *r1 = NULL, *r2 = NULL, *r3 = NULL, *st = NULL, *log = NULL;
        g_autoptr(GVariant) res_before = NULL, dev_before = NULL, res_after = NULL, dev_after = NULL;
        g_autoptr(GBytes) state_before = NULL, state_after = NULL;
        g_autoptr(GError) error = NULL;

        if (!fault_fs_mount(&f)) {
                fault_fs_unmount(&f);
                harness_free(h);
                return;
        }
        harness_use_fakekernel(h);
        harness_start_daemon(h, no_args);

        /* what is stored before the fault: r1 reserved, r2 prepared */
        r1 = reserve_ok(h, "vm1", mf, mf_un);
        r2 = reserve_ok(h, "vm2", nic, NULL);
        res_ok(h, r2, "Prepare", NULL);
        assert_drivers(h, nic, "vfio-pci");
        res_before = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        dev_before = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        state_before = state_bytes(h);
        g_assert_cmpuint(state_check(h, NULL), ==, 2);

        fault_inject(&f);
        harness_fakekernel_log_clear(h);

        /* every mutation fails, names the directory, changes nothing */
        r3 = reserve(h, "vm3", nic3, NULL, &error);
        g_assert_null(r3);
        assert_store_error(&f, error, "Reserve");
        g_clear_error(&error);

        res_call(h, r1, "Prepare", NULL, &error);
        assert_store_error(&f, error, "Prepare");
        g_clear_error(&error);
        log = harness_fakekernel_log(h);
        if (*log)
                g_error("Prepare wrote to sysfs although its journal could not be stored:\n%s", log);
        assert_drivers(h, mf_all, "e1000e");

        res_call(h, r2, "Unprepare", NULL, &error);
        assert_store_error(&f, error, "Unprepare");
        g_clear_error(&error);
        g_clear_pointer(&log, g_free);
        log = harness_fakekernel_log(h);
        if (*log)
                g_error("Unprepare wrote to sysfs although its journal could not be stored:\n%s", log);
        assert_drivers(h, nic, "vfio-pci");

        res_call(h, r2, "SetInUse", g_variant_new("(b)", TRUE), &error);
        assert_store_error(&f, error, "SetInUse");
        g_clear_error(&error);
        st = res_state(h, r2);
        g_assert_cmpstr(st, ==, "prepared");

        res_call(h, r1, "Release", NULL, &error);
        assert_store_error(&f, error, "Release");
        g_clear_error(&error);

        /* the daemon keeps answering reads, with what it had */
        res_after = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        compare_reservations(res_before, res_after, "ListReservations after failed writes", problems);
        g_clear_pointer(&res_after, g_variant_unref);
        dev_after = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        assert_variant_equal(dev_before, dev_after, "ListDevices after failed writes");
        g_clear_pointer(&dev_after, g_variant_unref);
        assert_describe(h, 2);
        g_variant_unref(harness_get_all(h, r1, RES_IFACE));
        assert_no_leftovers(&f);
        state_after = state_bytes(h);
        assert_bytes_equal(state_before, state_after, "state.json after failed writes");
        g_clear_pointer(&state_after, g_bytes_unref);

        /* what was stored is what the next start finds (the fault stays) */
        harness_stop_daemon(h);
        if (kind == FAULT_FSYNC) {
                /* and it is on the disk, not only in the page cache */
                const char *argv[] = { "mount", "-o", "loop,nosuid,nodev", f.image, h->state_dir, NULL };
                g_autofree gchar *why = NULL;

                g_assert_cmpint(umount2(h->state_dir, 0), ==, 0);
                if (run_quiet(argv, &why) != 0)
                        g_error("mounting the ext4 image again failed: %s", why);
        }
        state_after = state_bytes(h);
        assert_bytes_equal(state_before, state_after, "state.json on disk");
        g_clear_pointer(&state_after, g_bytes_unref);
        g_assert_cmpuint(state_check(h, NULL), ==, 2);
        harness_start_daemon(h, no_args);
        res_after = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        compare_reservations(res_before, res_after, "ListReservations after a restart", problems);
        g_clear_pointer(&res_after, g_variant_unref);
        assert_drivers(h, nic, "vfio-pci");
        assert_drivers(h, mf_all, "e1000e");
        state_after = state_bytes(h);
        assert_bytes_equal(state_before, state_after, "state.json after a restart");
        g_clear_pointer(&state_after, g_bytes_unref);

        /* once there is room again, writes work again */
        fault_clear(&f);
        r3 = reserve_ok(h, "vm3", nic3, NULL);
        g_assert_cmpuint(state_check(h, NULL), ==, 3);
        res_ok(h, r3, "Release", NULL);
        res_ok(h, r2, "Unprepare", NULL);
        assert_drivers(h, nic, "e1000e");
        res_ok(h, r2, "Release", NULL);
        res_ok(h, r1, "Release", NULL);
        g_assert_cmpuint(state_check(h, NULL), ==, 0);
        assert_no_leftovers(&f);

        harness_stop_daemon(h);
        fault_fs_unmount(&f);
        harness_free(h);
        report_problems(problems);
}

/* ===================================================================== */
/* 2. load                                                               */
/* ===================================================================== */

enum {
        OP_GET_DEVICE,
        OP_LIST_DEVICES,
        OP_CHECK,
        OP_PROP_GET,
        OP_PROP_GET_ALL,
        OP_DESCRIBE,
        OP_LIST_RES,
        OP_RESERVE,
        OP_RESERVE_PARTIAL,
        OP_RELEASE,
        OP_RES_GET_ALL,
        OP_GET_RESERVATION,
        OP_PLACEMENT,
        OP_GET_GROUP,
        N_OPS,
};

static const char *const op_names[N_OPS] = {
        "GetDevice", "ListDevices", "CheckAssignable", "Properties.Get", "Properties.GetAll", "Describe",
        "ListReservations", "Reserve", "Reserve(partial)", "Release", "Reservation.GetAll", "GetReservation",
        "GetPlacement", "GetGroup",
};

/* the error names each call may legitimately end with (NULL-terminated) */
static const char *const op_expected[N_OPS][3] = {
        [OP_RESERVE] = { ERR("AlreadyReserved"), NULL },
        [OP_RESERVE_PARTIAL] = { ERR("GroupIncomplete"), ERR("AlreadyReserved"), NULL },
        [OP_GET_RESERVATION] = { ERR("NoSuchReservation"), NULL },
};

static const char *const device_props[] = {
        "Address", "VendorId", "DeviceId", "SubsystemVendorId", "SubsystemDeviceId", "Class", "Revision",
        "VendorName", "DeviceName", "Driver", "HostDriver", "IOMMUGroup", "NUMANode", "ResetMethods",
        "Multifunction", "Bridge", "BootVGA", "PhysicalFunction", "VirtualFunctions", "Bars", "Present",
        "Verdict", "Reasons", "ReasonsWithSeverity", "Reservation", "Assigned",
};

typedef struct {
        GPtrArray *addresses;   /* every function */
        GPtrArray *paths;       /* their objects */
        GPtrArray *groups;      /* GStrv: the endpoints of each reservable group */
        GArray *group_ids;      /* every IOMMU group */
} LoadModel;

typedef struct {
        const LoadModel *model;
        const char *bus_address;
        guint index, n_calls, seed;
        gint *done;
        /* results */
        GArray *lat[N_OPS];     /* gint64 µs */
        guint n_calls_done;
        GHashTable *errors;     /* "op: name" -> count (expected ones) */
        GPtrArray *unexpected;
} LoadClient;

static gboolean expected_error(guint op, const char *name) {
        for (const char *const *e = op_expected[op]; *e; e++)
                if (g_str_equal(*e, name))
                        return TRUE;
        return FALSE;
}

/* One call; its latency is recorded; an error is checked against what the
 * call may answer.  Returns the reply (NULL on error). */
static GVariant *load_call(LoadClient *c, GDBusConnection *conn, guint op, const char *path, const char *iface,
                           const char *method, GVariant *args, const char *reply) {
        g_autoptr(GError) error = NULL;
        gint64 t0 = g_get_monotonic_time(), dt;
        GVariant *r;

        r = g_dbus_connection_call_sync(conn, BUS_NAME, path, iface, method, args,
                                        reply ? G_VARIANT_TYPE(reply) : NULL, G_DBUS_CALL_FLAGS_NONE,
                                        call_timeout_ms(), NULL, &error);
        dt = g_get_monotonic_time() - t0;
        g_array_append_val(c->lat[op], dt);
        c->n_calls_done++;
        if (error) {
                g_autofree gchar *name = error_name(error);
                if (expected_error(op, name)) {
                        gchar *key = g_strdup_printf("%s: %s", op_names[op], name);
                        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(c->errors, key));
                        g_hash_table_replace(c->errors, key, GUINT_TO_POINTER(n + 1));
                } else if (c->unexpected->len < 20)
                        g_ptr_array_add(c->unexpected, g_strdup_printf("client %u: %s %s: %s: %s", c->index,
                                                                      op_names[op], path, name, error->message));
                else
                        g_ptr_array_add(c->unexpected, NULL); /* counted */
        }
        return r;
}

static gpointer load_client_thread(gpointer data) {
        LoadClient *c = data;
        const LoadModel *m = c->model;
        g_autoptr(GError) error = NULL;
        g_autoptr(GDBusConnection) conn = NULL;
        g_autoptr(GRand) rand = g_rand_new_with_seed(c->seed);
        g_autofree gchar *owner = g_strdup_printf("load-%u", c->index);
        const char *const *group = m->groups->pdata[c->index % m->groups->len];
        g_autofree gchar *held = NULL;   /* our reservation's path */
        g_autofree gchar *held_id = NULL;

        conn = g_dbus_connection_new_for_address_sync(c->bus_address,
                                                      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                              G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                      NULL, NULL, &error);
        if (!conn) {
                g_ptr_array_add(c->unexpected, g_strdup_printf("client %u: cannot connect: %s", c->index,
                                                               error->message));
                g_atomic_int_inc(c->done);
                return NULL;
        }

        for (guint k = 0; k < c->n_calls; k++) {
                guint pick = (guint) g_rand_int_range(rand, 0, 100);
                guint dev = (guint) g_rand_int_range(rand, 0, (gint32) m->addresses->len);
                g_autoptr(GVariant) r = NULL;

                if (pick < 22) {
                        r = load_call(c, conn, OP_GET_DEVICE, MANAGER_PATH, MANAGER_IFACE, "GetDevice",
                                      g_variant_new("(s)", (const char *) m->addresses->pdata[dev]), "(o)");
                } else if (pick < 30) {
                        r = load_call(c, conn, OP_LIST_DEVICES, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL,
                                      "(a(ssisso))");
                } else if (pick < 42) {
                        GVariantBuilder b;
                        guint n = (guint) g_rand_int_range(rand, 1, 6);

                        g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
                        for (guint i = 0; i < n; i++)
                                g_variant_builder_add(&b, "s", (const char *) m->addresses->pdata[
                                        g_rand_int_range(rand, 0, (gint32) m->addresses->len)]);
                        r = load_call(c, conn, OP_CHECK, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                      g_variant_new("(ass)", &b, g_rand_boolean(rand) ? owner : ""),
                                      "(a(ssa(ss)))");
                } else if (pick < 56) {
                        const char *prop = device_props[g_rand_int_range(rand, 0, G_N_ELEMENTS(device_props))];
                        r = load_call(c, conn, OP_PROP_GET, m->paths->pdata[dev], PROPS_IFACE, "Get",
                                      g_variant_new("(ss)", DEVICE_IFACE, prop), "(v)");
                } else if (pick < 66) {
                        r = load_call(c, conn, OP_PROP_GET_ALL, m->paths->pdata[dev], PROPS_IFACE, "GetAll",
                                      g_variant_new("(s)", DEVICE_IFACE), "(a{sv})");
                } else if (pick < 68) {
                        r = load_call(c, conn, OP_DESCRIBE, MANAGER_PATH, MANAGER_IFACE, "Describe", NULL, "(s)");
                } else if (pick < 74) {
                        r = load_call(c, conn, OP_LIST_RES, MANAGER_PATH, MANAGER_IFACE, "ListReservations", NULL,
                                      "(a(ssso))");
                } else if (pick < 84) {
                        if (!held) {
                                GVariantBuilder fb, ob;

                                g_variant_builder_init(&fb, G_VARIANT_TYPE("a(sb)"));
                                for (const char *const *a = group; *a; a++)
                                        g_variant_builder_add(&fb, "(sb)", *a, a == group);
                                g_variant_builder_init(&ob, G_VARIANT_TYPE("a{sv}"));
                                /* a quarter transient: tied to this connection */
                                if (g_rand_int_range(rand, 0, 4) == 0)
                                        g_variant_builder_add(&ob, "{sv}", "persistent", g_variant_new_boolean(FALSE));
                                r = load_call(c, conn, OP_RESERVE, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                              g_variant_new("(sa(sb)a{sv})", owner, &fb, &ob), "(o)");
                                if (r) {
                                        g_autoptr(GVariant) props = NULL;

                                        g_variant_get(r, "(o)", &held);
                                        props = load_call(c, conn, OP_RES_GET_ALL, held, PROPS_IFACE, "GetAll",
                                                          g_variant_new("(s)", RES_IFACE), "(a{sv})");
                                        if (props) {
                                                g_autoptr(GVariant) dict = g_variant_get_child_value(props, 0);
                                                g_assert_true(g_variant_lookup(dict, "Id", "s", &held_id));
                                        }
                                }
                        } else {
                                r = load_call(c, conn, OP_RELEASE, held, RES_IFACE, "Release", NULL, "()");
                                if (r) {
                                        g_clear_pointer(&held, g_free);
                                        g_clear_pointer(&held_id, g_free);
                                }
                        }
                } else if (pick < 88) {
                        if (held)
                                r = load_call(c, conn, OP_PLACEMENT, held, RES_IFACE, "GetPlacement",
                                              g_variant_new("(s)", g_rand_boolean(rand) ? "q35" : "pseries"), "(s)");
                        else if (group[1]) {
                                /* one member of a multi-member group, alone */
                                GVariantBuilder fb;

                                g_variant_builder_init(&fb, G_VARIANT_TYPE("a(sb)"));
                                g_variant_builder_add(&fb, "(sb)", group[0], TRUE);
                                r = load_call(c, conn, OP_RESERVE_PARTIAL, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                              g_variant_new("(sa(sb)@a{sv})", owner, &fb, empty_opts()), "(o)");
                                if (r)
                                        g_ptr_array_add(c->unexpected,
                                                        g_strdup_printf("client %u: a partial Reserve of %s succeeded",
                                                                        c->index, group[0]));
                        } else
                                r = load_call(c, conn, OP_LIST_RES, MANAGER_PATH, MANAGER_IFACE, "ListReservations",
                                              NULL, "(a(ssso))");
                } else if (pick < 94) {
                        r = load_call(c, conn, OP_GET_RESERVATION, MANAGER_PATH, MANAGER_IFACE, "GetReservation",
                                      g_variant_new("(s)", held_id ?: "r99999999"), "(o)");
                        if (r && !held_id)
                                g_ptr_array_add(c->unexpected,
                                                g_strdup_printf("client %u: GetReservation(r99999999) succeeded",
                                                                c->index));
                } else {
                        guint g = (guint) g_rand_int_range(rand, 0, (gint32) m->group_ids->len);
                        r = load_call(c, conn, OP_GET_GROUP, MANAGER_PATH, MANAGER_IFACE, "GetGroup",
                                      g_variant_new("(u)", g_array_index(m->group_ids, guint32, g)), "(o)");
                }
        }
        if (held) {
                g_autoptr(GVariant) r = load_call(c, conn, OP_RELEASE, held, RES_IFACE, "Release", NULL, "()");
        }
        (void) g_dbus_connection_close_sync(conn, NULL, NULL);
        g_atomic_int_inc(c->done);
        return NULL;
}

/* Functions, their paths, groups; a group is reservable when each of its
 * endpoints (bridges never are listed) is not not-assignable. */
static void load_model_init(Harness *h, LoadModel *m) {
        g_autoptr(GVariant) list = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        g_autoptr(GHashTable) members = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                                              (GDestroyNotify) g_ptr_array_unref);
        g_autoptr(GHashTable) bad = g_hash_table_new(g_direct_hash, g_direct_equal);
        GVariantIter *it;
        const char *addr, *drv, *verdict, *res, *path;
        gint32 group;

        m->addresses = g_ptr_array_new_with_free_func(g_free);
        m->paths = g_ptr_array_new_with_free_func(g_free);
        m->groups = g_ptr_array_new_with_free_func((GDestroyNotify) g_strfreev);
        m->group_ids = g_array_new(FALSE, FALSE, sizeof(guint32));

        g_variant_get(list, "(a(ssisso))", &it);
        while (g_variant_iter_next(it, "(&s&si&s&s&o)", &addr, &drv, &group, &verdict, &res, &path)) {
                g_autoptr(GVariant) props = harness_get_all(h, path, DEVICE_IFACE);
                gboolean bridge = FALSE;
                GPtrArray *g;

                g_ptr_array_add(m->addresses, g_strdup(addr));
                g_ptr_array_add(m->paths, g_strdup(path));
                g_assert_true(g_variant_lookup(props, "Bridge", "b", &bridge));
                if (group < 0 || bridge)
                        continue;
                g = g_hash_table_lookup(members, GINT_TO_POINTER(group));
                if (!g) {
                        guint32 id = (guint32) group;
                        g = g_ptr_array_new_with_free_func(g_free);
                        g_hash_table_insert(members, GINT_TO_POINTER(group), g);
                        g_array_append_val(m->group_ids, id);
                }
                g_ptr_array_add(g, g_strdup(addr));
                if (g_str_equal(verdict, "not-assignable"))
                        g_hash_table_add(bad, GINT_TO_POINTER(group));
        }
        g_variant_iter_free(it);
        for (guint i = 0; i < m->group_ids->len; i++) {
                gint32 id = (gint32) g_array_index(m->group_ids, guint32, i);
                GPtrArray *g = g_hash_table_lookup(members, GINT_TO_POINTER(id));
                GPtrArray *strv;

                if (g_hash_table_contains(bad, GINT_TO_POINTER(id)))
                        continue;
                strv = g_ptr_array_new();
                for (guint k = 0; k < g->len; k++)
                        g_ptr_array_add(strv, g_strdup(g->pdata[k]));
                g_ptr_array_add(strv, NULL);
                g_ptr_array_add(m->groups, g_ptr_array_free(strv, FALSE));
        }
        if (m->groups->len < 4)
                g_error("only %u reservable groups in the testbed", m->groups->len);
}

static void load_model_clear(LoadModel *m) {
        g_ptr_array_unref(m->addresses);
        g_ptr_array_unref(m->paths);
        g_ptr_array_unref(m->groups);
        g_array_unref(m->group_ids);
}

static gint cmp_i64(gconstpointer a, gconstpointer b) {
        gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
        return x < y ? -1 : x > y;
}

static void print_latency(const char *what, GArray *a) {
        gint64 *v = (gint64 *) (void *) a->data;
        guint n = a->len;

        if (n == 0)
                return;
        g_array_sort(a, cmp_i64);
        g_test_message("%-20s n=%6u  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms", what, n, v[n / 2] / 1000.0,
                       v[MIN(n - 1, (guint) ((guint64) n * 99 / 100))] / 1000.0, v[n - 1] / 1000.0);
}

static void on_properties_changed(GDBusConnection *conn, const gchar *sender, const gchar *path,
                                  const gchar *iface, const gchar *signal, GVariant *params, gpointer user_data) {
        guint *n = user_data;
        (*n)++;
}

static void test_load(void) {
        Harness *h = harness_new(TESTBED);
        const guint n_clients = under_wrapper() ? 10 : 50, n_calls = under_wrapper() ? 100 : 1000;
        LoadModel model = {};
        LoadClient *clients = g_new0(LoadClient, n_clients);
        GThread **threads = g_new0(GThread *, n_clients);
        g_autoptr(GVariant) dev_before = NULL, dev_after = NULL, res_after = NULL;
        g_autoptr(GHashTable) errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GPtrArray) syspaths = g_ptr_array_new_with_free_func(g_free);
        GArray *all = g_array_new(FALSE, FALSE, sizeof(gint64));
        guint n_unexpected = 0, n_uevents = 0, n_changed = 0, sub, total = 0;
        gint done = 0;
        gint64 t0, wall;
        guint seed = g_test_rand_int();

        harness_start_daemon(h, no_args);
        load_model_init(h, &model);
        dev_before = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        for (guint i = 0; i < model.addresses->len; i++)
                g_ptr_array_add(syspaths, function_syspath(h, model.addresses->pdata[i]));
        sub = g_dbus_connection_signal_subscribe(h->conn, BUS_NAME, PROPS_IFACE, "PropertiesChanged", NULL,
                                                 DEVICE_IFACE, G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed,
                                                 &n_changed, NULL);
        g_test_message("load: %u clients x %u calls, %u functions, %u reservable groups, seed %u", n_clients,
                       n_calls, model.addresses->len, model.groups->len, seed);

        t0 = g_get_monotonic_time();
        for (guint i = 0; i < n_clients; i++) {
                LoadClient *c = &clients[i];

                c->model = &model;
                c->bus_address = h->bus_address;
                c->index = i;
                c->n_calls = n_calls;
                c->seed = seed + i;
                c->done = &done;
                for (guint o = 0; o < N_OPS; o++)
                        c->lat[o] = g_array_new(FALSE, FALSE, sizeof(gint64));
                c->errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                c->unexpected = g_ptr_array_new_with_free_func(g_free);
                threads[i] = g_thread_new("load-client", load_client_thread, c);
        }
        /* uevents stream in meanwhile: "change" of every function in turn */
        while (g_atomic_int_get(&done) < (gint) n_clients) {
                /* waits while the daemon's queue is full (fails the test
                 * after a minute) */
                if (harness_uevent(h, syspaths->pdata[n_uevents % syspaths->len], "change") == 0)
                        g_error("the daemon does not listen to uevents (no %s/event* socket)", h->testbed_dir);
                n_uevents++;
                while (g_main_context_iteration(NULL, FALSE))
                        ;
                g_usleep(under_wrapper() ? 10000 : 1000);
                if (!daemon_alive(h))
                        g_error("the daemon died under load (wait status %d)", h->exit_status);
        }
        wall = g_get_monotonic_time() - t0;
        for (guint i = 0; i < n_clients; i++)
                g_thread_join(threads[i]);

        for (guint i = 0; i < n_clients; i++) {
                LoadClient *c = &clients[i];
                GHashTableIter hi;
                gpointer k, v;

                total += c->n_calls_done;
                for (guint o = 0; o < N_OPS; o++)
                        g_array_append_vals(all, c->lat[o]->data, c->lat[o]->len);
                for (guint u = 0; u < c->unexpected->len; u++) {
                        if (c->unexpected->pdata[u])
                                g_test_message("UNEXPECTED %s", (const char *) c->unexpected->pdata[u]);
                        n_unexpected++;
                }
                g_hash_table_iter_init(&hi, c->errors);
                while (g_hash_table_iter_next(&hi, &k, &v)) {
                        guint n = GPOINTER_TO_UINT(g_hash_table_lookup(errors, k));
                        g_hash_table_replace(errors, g_strdup(k), GUINT_TO_POINTER(n + GPOINTER_TO_UINT(v)));
                }
        }
        g_test_message("load: %u calls in %.2f s (%.0f calls/s), %u uevents sent, %u PropertiesChanged seen", total,
                       wall / 1e6, total / (wall / 1e6), n_uevents, n_changed);
        for (guint o = 0; o < N_OPS; o++) {
                GArray *merged = g_array_new(FALSE, FALSE, sizeof(gint64));
                for (guint i = 0; i < n_clients; i++)
                        g_array_append_vals(merged, clients[i].lat[o]->data, clients[i].lat[o]->len);
                print_latency(op_names[o], merged);
                g_array_unref(merged);
        }
        print_latency("all calls", all);
        {
                GHashTableIter hi;
                gpointer k, v;
                g_hash_table_iter_init(&hi, errors);
                while (g_hash_table_iter_next(&hi, &k, &v))
                        g_test_message("expected error %s: %u", (const char *) k, GPOINTER_TO_UINT(v));
        }
        if (n_unexpected > 0)
                g_error("%u unexpected errors under load (first ones above)", n_unexpected);
        g_assert_cmpuint(total, >=, n_clients * n_calls);

        /* the uevents reached the daemon and it followed them */
        while (g_main_context_iteration(NULL, FALSE))
                ;
        if (n_changed == 0)
                g_error("%u change uevents, but no PropertiesChanged from the daemon", n_uevents);

        /* and it is the same daemon as before */
        g_assert_true(daemon_alive(h));
        res_after = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        {
                g_autoptr(GVariant) arr = g_variant_get_child_value(res_after, 0);
                g_assert_cmpuint(g_variant_n_children(arr), ==, 0);
        }
        dev_after = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        assert_variant_equal(dev_before, dev_after, "ListDevices after the load");
        {
                gboolean journal;
                g_assert_cmpuint(state_check(h, &journal), ==, 0);
                g_assert_false(journal);
        }
        g_dbus_connection_signal_unsubscribe(h->conn, sub);
        harness_stop_daemon(h);

        for (guint i = 0; i < n_clients; i++) {
                for (guint o = 0; o < N_OPS; o++)
                        g_array_unref(clients[i].lat[o]);
                g_hash_table_unref(clients[i].errors);
                g_ptr_array_unref(clients[i].unexpected);
        }
        g_array_unref(all);
        g_free(clients);
        g_free(threads);
        load_model_clear(&model);
        harness_free(h);
}

/* ===================================================================== */
/* 3. malformed messages                                                 */
/* ===================================================================== */

typedef struct {
        Harness *h;
        GHashTable *seen;       /* "Iface.Method" -> GString of error names */
        guint n_cases, n_failed;
        GPtrArray *failures;
        const char *slow_method;   /* an oversized call of it was slow */
} Sweep;

static gchar *big_string(gsize n, char c) {
        gchar *s = g_malloc(n + 1);
        memset(s, c, n);
        s[n] = 0;
        return s;
}

static void sweep_note(Sweep *s, const char *iface, const char *method, const char *outcome) {
        const char *short_iface = strrchr(iface, '.') ? strrchr(iface, '.') + 1 : iface;
        g_autofree gchar *key = g_strdup_printf("%s.%s", short_iface, method);
        GString *g = g_hash_table_lookup(s->seen, key);

        if (!g) {
                g = g_string_new(NULL);
                g_hash_table_insert(s->seen, g_steal_pointer(&key), g);
        }
        /* each outcome once */
        if (!strstr(g->str, outcome)) {
                if (g->len)
                        g_string_append(g, ", ");
                g_string_append(g, outcome);
        }
}

/* One call that must be answered with an error. */
static void sweep_call(Sweep *s, const char *path, const char *iface, const char *method, GVariant *args,
                       const char *what) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *name = NULL;
        g_autofree gchar *desc = NULL;
        g_autofree gchar *short_path = strlen(path) > 100 ? g_strdup_printf("%.80s...(%zu bytes)", path, strlen(path)) :
                                                            g_strdup(path);

        if (args)
                g_variant_ref_sink(args);
        desc = args ? g_variant_print(args, TRUE) : g_strdup("()");
        if (strlen(desc) > 120)
                strcpy(desc + 100, "...");
        s->n_cases++;
        r = g_dbus_connection_call_sync(s->h->conn, BUS_NAME, path, iface, method, args, NULL,
                                        G_DBUS_CALL_FLAGS_NONE, call_timeout_ms(), NULL, &error);
        if (args)
                g_variant_unref(args);
        if (!error) {
                s->n_failed++;
                g_ptr_array_add(s->failures, g_strdup_printf("%s %s.%s %s [%s]: succeeded", short_path, iface, method,
                                                             desc, what));
                sweep_note(s, iface, method, "SUCCESS");
                return;
        }
        name = error_name(error);
        if (!g_dbus_error_is_remote_error(error) || g_str_equal(name, DBUS_ERR("NoReply")) ||
            g_str_equal(name, DBUS_ERR("ServiceUnknown"))) {
                s->n_failed++;
                g_ptr_array_add(s->failures, g_strdup_printf("%s %s.%s %s [%s]: no error reply: %s: %s", short_path,
                                                             iface, method, desc, what, name, error->message));
        }
        sweep_note(s, iface, method, g_str_has_prefix(name, "org.freedesktop.DBus.Error.") ?
                                             name + strlen("org.freedesktop.DBus.Error.") :
                                             g_str_has_prefix(name, "org.pciassign1.Error.") ?
                                             name + strlen("org.pciassign1.") : name);
        if (!daemon_alive(s->h))
                g_error("the daemon died after %s.%s %s [%s]", iface, method, desc, what);
}

/* A value of each basic kind, and a wrong one for a type */
static GVariant *value_for(const char *type) {
        if (g_str_equal(type, "s"))
                return g_variant_new_string(NIC);
        if (g_str_equal(type, "u"))
                return g_variant_new_uint32(16);
        if (g_str_equal(type, "b"))
                return g_variant_new_boolean(TRUE);
        if (g_str_equal(type, "as")) {
                const char *const a[] = { NIC, NULL };
                return g_variant_new_strv(a, -1);
        }
        if (g_str_equal(type, "a(sb)")) {
                const char *const a[] = { NIC3, NULL };
                return harness_functions_v(a, NULL);
        }
        if (g_str_equal(type, "a{sv}"))
                return empty_opts();
        if (g_str_equal(type, "v"))
                return g_variant_new_variant(g_variant_new_string("x"));
        g_assert_not_reached();
}

static GVariant *wrong_value_for(const char *type) {
        if (g_str_equal(type, "s"))
                return g_variant_new_int32(7);
        if (g_str_equal(type, "u"))
                return g_variant_new_string("16");
        if (g_str_equal(type, "b"))
                return g_variant_new_string("true");
        if (g_str_equal(type, "as"))
                return g_variant_new_string(NIC);
        if (g_str_equal(type, "a(sb)")) {
                const char *const a[] = { NIC3, NULL };
                return g_variant_new_strv(a, -1);
        }
        if (g_str_equal(type, "a{sv}")) {
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
                g_variant_builder_add(&b, "{ss}", "persistent", "false");
                return g_variant_builder_end(&b);
        }
        if (g_str_equal(type, "v"))
                return g_variant_new_string("x");
        g_assert_not_reached();
}

typedef struct {
        const char *iface, *method;
        const char *args[4];    /* argument types, NULL-terminated */
} MethodSig;

/* Every way to call `m` with a signature it does not take. */
static void sweep_signatures(Sweep *s, const char *path, const MethodSig *m) {
        guint n = 0;

        while (m->args[n])
                n++;
        /* no arguments */
        if (n > 0)
                sweep_call(s, path, m->iface, m->method, NULL, "no args");
        /* one extra argument, of each kind */
        {
                const char *extras[] = { "s", "u", "as" };
                for (guint e = 0; e < G_N_ELEMENTS(extras); e++) {
                        GVariantBuilder b;
                        g_variant_builder_init(&b, G_VARIANT_TYPE_TUPLE);
                        for (guint i = 0; i < n; i++)
                                g_variant_builder_add_value(&b, value_for(m->args[i]));
                        g_variant_builder_add_value(&b, value_for(extras[e]));
                        sweep_call(s, path, m->iface, m->method, g_variant_builder_end(&b), "extra arg");
                }
        }
        /* one argument of the wrong type at a time */
        for (guint w = 0; w < n; w++) {
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE_TUPLE);
                for (guint i = 0; i < n; i++)
                        g_variant_builder_add_value(&b, i == w ? wrong_value_for(m->args[i]) : value_for(m->args[i]));
                sweep_call(s, path, m->iface, m->method, g_variant_builder_end(&b), "wrong type");
        }
        /* one argument short */
        if (n > 1) {
                GVariantBuilder b;
                g_variant_builder_init(&b, G_VARIANT_TYPE_TUPLE);
                for (guint i = 0; i + 1 < n; i++)
                        g_variant_builder_add_value(&b, value_for(m->args[i]));
                sweep_call(s, path, m->iface, m->method, g_variant_builder_end(&b), "one short");
        }
        /* everything in a variant, everything in a struct */
        if (n > 0) {
                GVariantBuilder b;
                GVariant *inner;

                g_variant_builder_init(&b, G_VARIANT_TYPE_TUPLE);
                for (guint i = 0; i < n; i++)
                        g_variant_builder_add_value(&b, value_for(m->args[i]));
                inner = g_variant_builder_end(&b);
                g_variant_ref_sink(inner);
                sweep_call(s, path, m->iface, m->method, g_variant_new("(v)", inner), "wrapped in a variant");
                sweep_call(s, path, m->iface, m->method, g_variant_new_tuple(&inner, 1), "wrapped in a struct");
                g_variant_unref(inner);
        } else {
                sweep_call(s, path, m->iface, m->method, g_variant_new("(i)", 1), "an int");
                sweep_call(s, path, m->iface, m->method, g_variant_new("(s)", ""), "a string");
        }
}

static GVariant *strv_of(guint n, const char *item) {
        GVariantBuilder b;

        g_variant_builder_init(&b, G_VARIANT_TYPE("as"));
        for (guint i = 0; i < n; i++)
                g_variant_builder_add(&b, "s", item);
        return g_variant_builder_end(&b);
}

/* ---- raw messages: what GDBus refuses to send ---- */

typedef struct {
        int fd;
        guint32 serial;
} RawConn;

static gboolean raw_read(int fd, void *buf, gsize n, gint64 deadline) {
        gsize got = 0;

        while (got < n) {
                fd_set rs;
                struct timeval tv = { 0, 100000 };
                ssize_t k;

                if (g_get_monotonic_time() > deadline)
                        return FALSE;
                FD_ZERO(&rs);
                FD_SET(fd, &rs);
                if (select(fd + 1, &rs, NULL, NULL, &tv) <= 0)
                        continue;
                k = read(fd, (char *) buf + got, n - got);
                if (k <= 0)
                        return FALSE;
                got += (gsize) k;
        }
        return TRUE;
}

static gboolean raw_write(int fd, const void *buf, gsize n) {
        while (n > 0) {
                ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return FALSE;
                buf = (const char *) buf + k;
                n -= (gsize) k;
        }
        return TRUE;
}

typedef enum { RAW_EOF, RAW_REPLY, RAW_ERROR, RAW_TIMEOUT } RawOutcome;

/* Reads messages until the answer to `serial`, EOF or the deadline. */
static RawOutcome raw_wait(RawConn *c, guint32 serial, gchar **ret_error, gint64 deadline) {
        for (;;) {
                guchar head[16];
                g_autofree guchar *buf = NULL;
                g_autoptr(GDBusMessage) msg = NULL;
                gssize need;

                if (!raw_read(c->fd, head, sizeof head, deadline)) {
                        /* EOF or nothing: tell them apart */
                        char b;
                        ssize_t k = recv(c->fd, &b, 1, MSG_DONTWAIT);
                        return k == 0 || (k < 0 && errno != EAGAIN) ? RAW_EOF : RAW_TIMEOUT;
                }
                need = g_dbus_message_bytes_needed(head, sizeof head, NULL);
                g_assert_cmpint(need, >=, 16);
                buf = g_malloc((gsize) need);
                memcpy(buf, head, sizeof head);
                if (!raw_read(c->fd, buf + 16, (gsize) need - 16, deadline))
                        return RAW_EOF;
                msg = g_dbus_message_new_from_blob(buf, (gsize) need, G_DBUS_CAPABILITY_FLAGS_NONE, NULL);
                g_assert_nonnull(msg);
                if (g_dbus_message_get_reply_serial(msg) != serial)
                        continue;
                if (g_dbus_message_get_message_type(msg) == G_DBUS_MESSAGE_TYPE_ERROR) {
                        if (ret_error)
                                *ret_error = g_strdup(g_dbus_message_get_error_name(msg));
                        return RAW_ERROR;
                }
                return RAW_REPLY;
        }
}

static gboolean raw_send_message(RawConn *c, GDBusMessage *m, const char *placeholder, const char *hostile,
                                 gsize len) {
        g_autoptr(GError) error = NULL;
        g_autofree guchar *blob = NULL;
        gsize n = 0;

        g_dbus_message_set_serial(m, ++c->serial);
        blob = g_dbus_message_to_blob(m, &n, G_DBUS_CAPABILITY_FLAGS_NONE, &error);
        g_assert_no_error(error);
        if (placeholder) {
                guchar *at = memmem(blob, n, placeholder, len);
                g_assert_nonnull(at);
                memcpy(at, hostile, len);
        }
        return raw_write(c->fd, blob, n);
}

static gboolean raw_connect(Harness *h, RawConn *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *p = strstr(h->bus_address, "path=");
        g_autofree gchar *auth = NULL, *uid = g_strdup_printf("%u", (unsigned) getuid());
        g_autoptr(GString) hex = g_string_new(NULL);
        g_autoptr(GDBusMessage) hello = NULL;
        char line[256];
        gsize got = 0;

        g_assert_nonnull(p);
        p += 5;
        g_assert_cmpuint(strcspn(p, ","), <, sizeof sa.sun_path);
        memcpy(sa.sun_path, p, strcspn(p, ","));
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(c->fd, >=, 0);
        g_assert_cmpint(connect(c->fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
        for (const char *u = uid; *u; u++)
                g_string_append_printf(hex, "%02x", (unsigned char) *u);
        auth = g_strdup_printf("%cAUTH EXTERNAL %s\r\n", 0, hex->str);
        g_assert_true(raw_write(c->fd, auth, strlen(hex->str) + 17));
        while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
                ssize_t k = read(c->fd, line + got, sizeof line - 1 - got);
                g_assert_cmpint(k, >, 0);
                got += (gsize) k;
        }
        line[got] = 0;
        g_assert_true(g_str_has_prefix(line, "OK "));
        g_assert_true(raw_write(c->fd, "BEGIN\r\n", 7));
        hello = g_dbus_message_new_method_call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                               "Hello");
        g_assert_true(raw_send_message(c, hello, NULL, NULL, 0));
        return raw_wait(c, c->serial, NULL, g_get_monotonic_time() + 10 * G_USEC_PER_SEC) == RAW_REPLY;
}

/* Sends one message with bytes GDBus will not produce (the first `len`
 * bytes equal to the placeholder are overwritten with `hostile` in the
 * serialized blob) and records what came back. */
static void sweep_raw(Sweep *s, const char *path, const char *iface, const char *method, GVariant *body,
                      const char *placeholder, const char *hostile, gsize len, const char *what) {
        RawConn c = {};
        g_autoptr(GDBusMessage) m = NULL;
        g_autofree gchar *err = NULL;
        RawOutcome o;
        const char *outcome;

        s->n_cases++;
        g_assert_true(raw_connect(s->h, &c));
        m = g_dbus_message_new_method_call(BUS_NAME, path, iface, method);
        if (body)
                g_dbus_message_set_body(m, body);
        g_assert_true(raw_send_message(&c, m, placeholder, hostile, len));
        o = raw_wait(&c, c.serial, &err, g_get_monotonic_time() + (under_wrapper() ? 40 : 10) * G_USEC_PER_SEC);
        close(c.fd);
        switch (o) {
        case RAW_EOF:
                outcome = "bus disconnected the sender";
                break;
        case RAW_ERROR:
                outcome = err;
                break;
        case RAW_REPLY:
                outcome = "SUCCESS";
                s->n_failed++;
                g_ptr_array_add(s->failures, g_strdup_printf("raw %s.%s [%s]: succeeded", iface, method, what));
                break;
        default:
                outcome = "no answer";
                s->n_failed++;
                g_ptr_array_add(s->failures, g_strdup_printf("raw %s.%s [%s]: no answer", iface, method, what));
                break;
        }
        {
                g_autofree gchar *note = g_strdup_printf("raw %s: %s", what, outcome);
                sweep_note(s, iface, method, note);
        }
        if (!daemon_alive(s->h))
                g_error("the daemon died after raw %s.%s [%s]", iface, method, what);
}

#if defined(__SANITIZE_ADDRESS__)
#define SLOWDOWN 4   /* the daemon is built the same way */
#else
#define SLOWDOWN 1
#endif

typedef struct {
        GError *error;
        gboolean done;
} AsyncCall;

static void on_async_call_done(GObject *source, GAsyncResult *res, gpointer user_data) {
        AsyncCall *a = user_data;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &a->error);

        a->done = TRUE;
}

/* An oversized Manager call must be refused, and quickly: the daemon has
 * one thread, and while it reads a message nobody else is answered.  A
 * ListDevices from another connection, sent while the big call is being
 * read, measures that. */
static void sweep_oversized(Sweep *s, const char *method, GVariant *args, const char *what) {
        Harness *h = s->h;
        g_autoptr(GDBusConnection) other = NULL;
        g_autoptr(GError) error = NULL, list_error = NULL;
        g_autoptr(GVariant) r = NULL;
        g_autofree gchar *name = NULL, *note = NULL;
        AsyncCall big = {};
        gint64 t0, t_big, t_list;
        const gint64 limit = 3 * G_USEC_PER_SEC / 2 * SLOWDOWN;  /* reading linearly: 0.1-0.4 s */
        /* long enough for the slow path to end, so that the next cases
         * find the daemon listening again */
        const gint timeout = (under_wrapper() ? 600 : 120 * SLOWDOWN) * 1000;

        g_variant_ref_sink(args);
        if (s->slow_method && g_str_equal(s->slow_method, method)) {
                /* the same slow path again would only cost time */
                g_autofree gchar *skip = g_strdup_printf("%s: skipped (%s was slow already)", what, method);
                sweep_note(s, MANAGER_IFACE, method, skip);
                g_variant_unref(args);
                return;
        }
        other = g_dbus_connection_new_for_address_sync(h->bus_address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                               G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
        g_assert_no_error(error);
        s->n_cases++;
        t0 = g_get_monotonic_time();
        g_dbus_connection_call(h->conn, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, method, args, NULL,
                               G_DBUS_CALL_FLAGS_NONE, timeout, NULL, on_async_call_done, &big);
        g_variant_unref(args);
        /* the big message is on its way (a few MB over a local socket) */
        g_usleep(100 * 1000);
        r = g_dbus_connection_call_sync(other, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListDevices", NULL,
                                        G_VARIANT_TYPE("(a(ssisso))"), G_DBUS_CALL_FLAGS_NONE, timeout, NULL,
                                        &list_error);
        t_list = g_get_monotonic_time() - t0 - 100 * 1000;
        while (!big.done)
                g_main_context_iteration(NULL, TRUE);
        t_big = g_get_monotonic_time() - t0;

        name = error_name(big.error);
        if (!big.error || !g_dbus_error_is_remote_error(big.error)) {
                s->n_failed++;
                g_ptr_array_add(s->failures, g_strdup_printf("%s [%s]: no error reply: %s", method, what, name));
        }
        if (list_error) {
                s->n_failed++;
                g_ptr_array_add(s->failures, g_strdup_printf("ListDevices during %s [%s]: %s", method, what,
                                                             list_error->message));
        }
        note = g_strdup_printf("%s: %s after %.2f s (a ListDevices meanwhile: %.2f s)", what,
                               g_str_has_prefix(name, "org.freedesktop.DBus.Error.") ?
                                       name + strlen("org.freedesktop.DBus.Error.") : name,
                               t_big / 1e6, t_list / 1e6);
        sweep_note(s, MANAGER_IFACE, method, note);
        if (t_big > limit || t_list > limit)
                s->slow_method = method;
        if (!under_wrapper() && (t_big > limit || t_list > limit)) {
                s->n_failed++;
                g_ptr_array_add(s->failures,
                                g_strdup_printf("%s [%s] took %.2f s to refuse, and a ListDevices sent meanwhile "
                                                "waited %.2f s (limit %.1f s): the daemon's only thread is busy "
                                                "reading the array before its size is checked",
                                                method, what, t_big / 1e6, t_list / 1e6, limit / 1e6));
        }
        g_clear_error(&big.error);
        if (!daemon_alive(h))
                g_error("the daemon died after %s [%s]", method, what);
}

static void test_malformed(void) {
        Harness *h = harness_new(TESTBED);
        Sweep s = { .h = h };
        g_autoptr(GString) problems = g_string_new(NULL);
        const char *const nic[] = { NIC, NULL };
        g_autofree gchar *res_path = NULL, *dev_path = NULL, *group_path = NULL;
        g_autofree gchar *mib = big_string(1024 * 1024, 'a'), *mib_addr = NULL, *long_label = NULL;
        g_autoptr(GVariant) dev_before = NULL, dev_after = NULL, res_before = NULL, res_after = NULL, r = NULL;
        g_autoptr(GBytes) state_before = NULL, state_after = NULL;
        GHashTableIter hi;
        gpointer k, v;

        static const MethodSig manager_methods[] = {
                { MANAGER_IFACE, "ListDevices", { NULL } },
                { MANAGER_IFACE, "GetDevice", { "s", NULL } },
                { MANAGER_IFACE, "GetGroup", { "u", NULL } },
                { MANAGER_IFACE, "ListReservations", { NULL } },
                { MANAGER_IFACE, "GetReservation", { "s", NULL } },
                { MANAGER_IFACE, "CheckAssignable", { "as", "s", NULL } },
                { MANAGER_IFACE, "Describe", { NULL } },
                { MANAGER_IFACE, "Reserve", { "s", "a(sb)", "a{sv}", NULL } },
                { MANAGER_IFACE, "Detach", { "s", "s", NULL } },
                { MANAGER_IFACE, "Reattach", { "s", NULL } },
                { MANAGER_IFACE, "Reset", { "s", NULL } },
                { "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", { NULL } },
        };
        static const MethodSig reservation_methods[] = {
                { RES_IFACE, "Prepare", { NULL } },
                { RES_IFACE, "Unprepare", { NULL } },
                { RES_IFACE, "SetInUse", { "b", NULL } },
                { RES_IFACE, "Release", { NULL } },
                { RES_IFACE, "GetPlacement", { "s", NULL } },
        };
        static const MethodSig common_methods[] = {
                { PROPS_IFACE, "Get", { "s", "s", NULL } },
                { PROPS_IFACE, "Set", { "s", "s", "v", NULL } },
                { PROPS_IFACE, "GetAll", { "s", NULL } },
                { INTROSPECT_IFACE, "Introspect", { NULL } },
        };

        s.seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        s.failures = g_ptr_array_new_with_free_func(g_free);

        harness_start_daemon(h, no_args);
        res_path = reserve_ok(h, "vm1", nic, NULL);
        r = mgr_ok(h, "GetDevice", g_variant_new("(s)", NIC), "(o)");
        g_variant_get(r, "(o)", &dev_path);
        g_clear_pointer(&r, g_variant_unref);
        r = mgr_ok(h, "GetGroup", g_variant_new("(u)", 22), "(o)");
        g_variant_get(r, "(o)", &group_path);
        g_clear_pointer(&r, g_variant_unref);
        dev_before = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        res_before = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        state_before = state_bytes(h);
        g_assert_cmpuint(g_bytes_get_size(state_before), >, 0);

        /* ---- wrong signatures, every method of every object kind ---- */
        for (guint i = 0; i < G_N_ELEMENTS(manager_methods); i++)
                sweep_signatures(&s, MANAGER_PATH, &manager_methods[i]);
        for (guint i = 0; i < G_N_ELEMENTS(reservation_methods); i++)
                sweep_signatures(&s, res_path, &reservation_methods[i]);
        {
                const char *const paths[] = { MANAGER_PATH, dev_path, group_path, res_path };
                for (guint p = 0; p < G_N_ELEMENTS(paths); p++)
                        for (guint i = 0; i < G_N_ELEMENTS(common_methods); i++)
                                sweep_signatures(&s, paths[p], &common_methods[i]);
        }

        /* ---- right signatures, hostile values ---- */
        mib_addr = g_strdup_printf("0000:02:00.0%s", mib);
        {
                const char *const bad_addrs[] = { mib, mib_addr, "", "\n", "../../etc/passwd", "0000:02:00.0/../x",
                                                  "0000:02:00.0\n", "0000:02:00.0 ", "2:0.0", "ffffffff:ff:ff.f",
                                                  "0000:02:00.0\x01", "%s%s%n", NULL };
                for (const char *const *a = bad_addrs; *a; a++) {
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "GetDevice", g_variant_new("(s)", *a),
                                   "bad address");
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Detach", g_variant_new("(ss)", *a, ""),
                                   "bad address");
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reattach", g_variant_new("(s)", *a),
                                   "bad address");
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reset", g_variant_new("(s)", *a), "bad address");
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                   g_variant_new("(@ass)", strv_of(1, *a), ""), "bad address");
                        {
                                const char *const one[] = { *a, NULL };
                                sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                           g_variant_new("(s@a(sb)@a{sv})", "vm9", harness_functions_v(one, NULL),
                                                         empty_opts()),
                                           "bad address");
                        }
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "GetReservation", g_variant_new("(s)", *a),
                                   "bad id");
                        sweep_call(&s, res_path, RES_IFACE, "GetPlacement", g_variant_new("(s)", *a), "bad machine");
                }
        }
        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "GetGroup", g_variant_new("(u)", G_MAXUINT32), "no such group");
        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "GetReservation", g_variant_new("(s)", "../r1"), "bad id");
        /* drivers that are not vfio drivers, for a function that exists */
        {
                const char *const bad_drivers[] = { mib, "e1000e", "../../../bus/pci/drivers/e1000e", "vfio-pci/../x",
                                                    "vfio-pci\n", "vfio pci", NULL };
                for (const char *const *d = bad_drivers; *d; d++) {
                        GVariantBuilder ob;
                        const char *const one[] = { NIC3, NULL };

                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Detach", g_variant_new("(ss)", NIC3, *d),
                                   "bad driver");
                        g_variant_builder_init(&ob, G_VARIANT_TYPE("a{sv}"));
                        g_variant_builder_add(&ob, "{sv}", "driver", g_variant_new_string(*d));
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                   g_variant_new("(s@a(sb)a{sv})", "vm9", harness_functions_v(one, NULL), &ob), "bad driver");
                }
        }
        /* Reserve: owners, options, lists */
        {
                const char *const one[] = { NIC3, NULL };
                const char *const bad_owners[] = { mib, "", "vm\n1", "vm\x01", "\x7f", NULL };
                const char *const bad_keys[] = { mib, "", "persistent\n", "Persistent", NULL };
                GVariantBuilder ob;

                for (const char *const *o = bad_owners; *o; o++) {
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                   g_variant_new("(s@a(sb)@a{sv})", *o, harness_functions_v(one, NULL), empty_opts()),
                                   "bad owner");
                        if (**o)
                                sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "CheckAssignable",
                                           g_variant_new("(@ass)", strv_of(1, NIC3), *o), "bad owner");
                }
                for (const char *const *key = bad_keys; *key; key++) {
                        g_variant_builder_init(&ob, G_VARIANT_TYPE("a{sv}"));
                        g_variant_builder_add(&ob, "{sv}", *key, g_variant_new_boolean(TRUE));
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                   g_variant_new("(s@a(sb)a{sv})", "vm9", harness_functions_v(one, NULL), &ob), "bad option");
                }
                g_variant_builder_init(&ob, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&ob, "{sv}", "persistent", g_variant_new_string("yes"));
                sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                           g_variant_new("(s@a(sb)a{sv})", "vm9", harness_functions_v(one, NULL), &ob), "option type");
                g_variant_builder_init(&ob, G_VARIANT_TYPE("a{sv}"));
                g_variant_builder_add(&ob, "{sv}", "complete-group",
                                      g_variant_new_variant(g_variant_new_boolean(TRUE)));
                sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                           g_variant_new("(s@a(sb)a{sv})", "vm9", harness_functions_v(one, NULL), &ob), "option type");
                sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                           g_variant_new("(s@a(sb)@a{sv})", "vm9", harness_functions_v(NULL, NULL), empty_opts()),
                           "no functions");
                {
                        const char *const twice[] = { NIC3, NIC3, NULL };
                        sweep_call(&s, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                   g_variant_new("(s@a(sb)@a{sv})", "vm9", harness_functions_v(twice, NULL), empty_opts()),
                                   "listed twice");
                }
        }
        /* reservation methods with values that must be refused */
        sweep_call(&s, res_path, RES_IFACE, "SetInUse", g_variant_new("(b)", TRUE), "not prepared");
        sweep_call(&s, res_path, RES_IFACE, "GetPlacement", g_variant_new("(s)", "Q35\n"), "bad machine");
        /* properties: unknown, read-only, hostile names */
        {
                const struct { const char *path, *iface, *prop, *type; } objs[] = {
                        { MANAGER_PATH, MANAGER_IFACE, "ReadOnly", "b" },
                        { dev_path, DEVICE_IFACE, "Driver", "s" },
                        { group_path, GROUP_IFACE, "Viable", "b" },
                        { res_path, RES_IFACE, "State", "s" },
                };
                for (guint i = 0; i < G_N_ELEMENTS(objs); i++) {
                        const char *p = objs[i].path, *ifc = objs[i].iface;
                        GVariant *val = g_str_equal(objs[i].type, "b") ? g_variant_new_boolean(FALSE) :
                                                                           g_variant_new_string("vfio-pci");

                        sweep_call(&s, p, PROPS_IFACE, "Set", g_variant_new("(ssv)", ifc, objs[i].prop, val),
                                   "read-only property");
                        sweep_call(&s, p, PROPS_IFACE, "Set",
                                   g_variant_new("(ssv)", ifc, objs[i].prop, g_variant_new_uint64(1)), "wrong type");
                        sweep_call(&s, p, PROPS_IFACE, "Set",
                                   g_variant_new("(ssv)", ifc, "Nope", g_variant_new_boolean(TRUE)),
                                   "unknown property");
                        sweep_call(&s, p, PROPS_IFACE, "Set",
                                   g_variant_new("(ssv)", mib, mib, g_variant_new_string(mib)), "1 MiB names");
                        sweep_call(&s, p, PROPS_IFACE, "Get", g_variant_new("(ss)", ifc, "Nope"), "unknown property");
                        sweep_call(&s, p, PROPS_IFACE, "Get", g_variant_new("(ss)", ifc, mib), "1 MiB property");
                        sweep_call(&s, p, PROPS_IFACE, "Get", g_variant_new("(ss)", mib, objs[i].prop),
                                   "1 MiB interface");
                        sweep_call(&s, p, PROPS_IFACE, "Get", g_variant_new("(ss)", "org.pciassign1.Nope", "Id"),
                                   "unknown interface");
                        sweep_call(&s, p, PROPS_IFACE, "GetAll", g_variant_new("(s)", "org.pciassign1.Nope"),
                                   "unknown interface");
                        sweep_call(&s, p, PROPS_IFACE, "GetAll", g_variant_new("(s)", mib), "1 MiB interface");
                        /* unknown interfaces and methods, and the methods of
                         * other object kinds */
                        sweep_call(&s, p, "org.pciassign1.Nope", "Frobnicate", NULL, "unknown interface");
                        sweep_call(&s, p, ifc, "Frobnicate", NULL, "unknown method");
                        if (i != 3)
                                sweep_call(&s, p, RES_IFACE, "Release", NULL, "method of another kind");
                        if (i != 0)
                                sweep_call(&s, p, MANAGER_IFACE, "ListDevices", NULL, "method of another kind");
                }
        }
        /* objects that do not exist: hostile labels below each prefix (a
         * long one, but below sd-bus' 64 KiB limit for paths: see below) */
        long_label = big_string(60 * 1024, 'a');
        {
                const char *const prefixes[] = { "/org/pciassign1/device", "/org/pciassign1/group",
                                                 "/org/pciassign1/reservation" };
                const char *const labels[] = {
                        "_2e_2e",                                  /* .. */
                        "_2e_2e_2f_2e_2e_2fetc",                   /* ../../etc */
                        "_2e_2e_2f_2e_2e_2f_2e_2e_2fsys_2fbus_2fpci_2fdrivers_2fe1000e_2funbind",
                        "_2f",                                     /* / */
                        "_",                                       /* empty */
                        "_00",                                     /* NUL */
                        "_30000_3a02_3a00_2e0_00x",                /* an address, NUL, junk */
                        "_316_00x",                                /* group 16, NUL, junk */
                        "r1_00x",                                  /* r1, NUL, junk */
                        "_30000_3a02_3a00_2e0_2f_2e_2e",           /* 0000:02:00.0/.. */
                        "_zz",                                     /* an invalid escape */
                        "_3",                                      /* a cut escape */
                        "r1_2f_2e_2e",                             /* r1/.. */
                        "_30000_3a02_3a00_2e0/child",              /* below a real object */
                        "r1/child",
                        "_316/child",
                        long_label,
                };
                for (guint p = 0; p < G_N_ELEMENTS(prefixes); p++)
                        for (guint l = 0; l < G_N_ELEMENTS(labels); l++) {
                                g_autofree gchar *path = g_strdup_printf("%s/%s", prefixes[p], labels[l]);
                                const char *ifc = p == 0 ? DEVICE_IFACE : p == 1 ? GROUP_IFACE : RES_IFACE;

                                sweep_call(&s, path, PROPS_IFACE, "GetAll", g_variant_new("(s)", ifc), "hostile path");
                                sweep_call(&s, path, PROPS_IFACE, "Get", g_variant_new("(ss)", ifc, "Id"),
                                           "hostile path");
                                if (p == 2) {
                                        sweep_call(&s, path, RES_IFACE, "Release", NULL, "hostile path");
                                        sweep_call(&s, path, RES_IFACE, "Prepare", NULL, "hostile path");
                                }
                        }
        }

        /* A path over sd-bus' BUS_PATH_SIZE_MAX (64 KiB; the D-Bus spec
         * has no limit, the bus forwards it): sd-bus drops the message
         * without an answer ("if we receive an invalid dbus message, ignore
         * and proceed"), so the caller can only time out.  Not the daemon's
         * doing; what matters is that it stays alive and answers the next
         * call at once. */
        {
                g_autofree gchar *huge = big_string(100 * 1024, 'a');
                g_autofree gchar *path = g_strdup_printf("/org/pciassign1/device/%s", huge);
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) reply = NULL;
                g_autofree gchar *name = NULL, *note = NULL;
                gint64 t1;

                s.n_cases++;
                reply = g_dbus_connection_call_sync(h->conn, BUS_NAME, path, PROPS_IFACE, "GetAll",
                                                    g_variant_new("(s)", DEVICE_IFACE), NULL, G_DBUS_CALL_FLAGS_NONE,
                                                    under_wrapper() ? 20000 : 3000, NULL, &error);
                if (!error) {
                        s.n_failed++;
                        g_ptr_array_add(s.failures, g_strdup("GetAll on a 100 KiB path succeeded"));
                }
                name = error_name(error);
                note = g_strdup_printf("100 KiB path: %s", g_error_matches(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT) ?
                                                                   "no answer (sd-bus drops paths > 64 KiB)" : name);
                sweep_note(&s, PROPS_IFACE, "GetAll", note);
                g_assert_true(daemon_alive(h));
                t1 = g_get_monotonic_time();
                g_variant_unref(mgr_ok(h, "ListDevices", NULL, "(a(ssisso))"));
                if (!under_wrapper() && g_get_monotonic_time() - t1 > G_USEC_PER_SEC)
                        g_error("the daemon took %.1f s to answer after the 100 KiB path",
                                (g_get_monotonic_time() - t1) / 1e6);
        }

        /* ---- bytes GDBus refuses to send: invalid UTF-8, NULs, invalid
         * object paths, a body that does not match its signature.  Each goes
         * over its own raw connection. ---- */
        {
#define B(x) x, sizeof(x) - 1
                /* same length as the placeholder */
                static const char placeholder[] = "PLACEHOLDER1";
                const struct {
                        const char *iface, *method, *path, *sig;
                        const char *bad;
                        gsize len;
                        const char *what;
                } raw[] = {
                        { MANAGER_IFACE, "GetDevice", MANAGER_PATH, "(s)", B("0000:02:00.\xff"), "invalid UTF-8" },
                        { MANAGER_IFACE, "GetDevice", MANAGER_PATH, "(s)",
                          B("\xc0\xae\xc0\xae\xc0\xaf\xc0\xae\xc0\xae\xc0\xaf"), "overlong ../../" },
                        { MANAGER_IFACE, "GetDevice", MANAGER_PATH, "(s)", B("0000:02" "\0" "00.0"), "embedded NUL" },
                        { MANAGER_IFACE, "GetReservation", MANAGER_PATH, "(s)", B("r\xed\xa0\x80" "11111111"),
                          "UTF-16 surrogate" },
                        { MANAGER_IFACE, "CheckAssignable", MANAGER_PATH, "(ass)", B("0000:02:00.\xfe"),
                          "invalid UTF-8" },
                        { MANAGER_IFACE, "Reserve", MANAGER_PATH, "(sa(sb)a{sv})",
                          B("vm\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6"), "invalid UTF-8 owner" },
                        { MANAGER_IFACE, "Detach", MANAGER_PATH, "(ss)", B("0000:0a:00.\x80"), "invalid UTF-8" },
                        { MANAGER_IFACE, "Reattach", MANAGER_PATH, "(s)", B("0000:0a:00.\x80"), "invalid UTF-8" },
                        { MANAGER_IFACE, "Reset", MANAGER_PATH, "(s)", B("0000:0a:00.\x80"), "invalid UTF-8" },
                        { RES_IFACE, "GetPlacement", NULL, "(s)", B("q35\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
                          "invalid UTF-8" },
                        { PROPS_IFACE, "Get", NULL, "(ss)", B("org.pciassi\xff"), "invalid UTF-8" },
                        { PROPS_IFACE, "GetAll", NULL, "(s)", B("org.pciassi\xff"), "invalid UTF-8" },
                        { PROPS_IFACE, "Set", NULL, "(ssv)", B("org.pciassi\xff"), "invalid UTF-8" },
                };
                /* invalid object paths, of the placeholder path's length */
                static const char ph_path[] = "/org/pciassign1/device/abcdef";
                const struct { const char *bad; gsize len; } bad_paths[] = {
                        { B("/org/pciassign1/device/..abcd") },    /* "." */
                        { B("/org/pciassign1/device//abcde") },    /* an empty element */
                        { B("/org/pciassign1/device/abcde/") },    /* a trailing "/" */
                        { B("/org/pciassign1/device/ab\xc3\xa9" "de") }, /* not ASCII */
                        { B("/org/pciassign1/device/ab" "\0" "def") },   /* a NUL */
                        { B("xorg/pciassign1/device/abcdef") },    /* relative */
                };
#undef B

                for (guint i = 0; i < G_N_ELEMENTS(raw); i++) {
                        GVariant *body;

                        if (g_str_equal(raw[i].sig, "(s)"))
                                body = g_variant_new("(s)", placeholder);
                        else if (g_str_equal(raw[i].sig, "(ss)"))
                                body = g_variant_new("(ss)", placeholder,
                                                     g_str_equal(raw[i].iface, PROPS_IFACE) ? "Id" : "");
                        else if (g_str_equal(raw[i].sig, "(ssv)"))
                                body = g_variant_new("(ssv)", placeholder, "Id", g_variant_new_string("x"));
                        else if (g_str_equal(raw[i].sig, "(ass)"))
                                body = g_variant_new("(@ass)", strv_of(1, placeholder), "");
                        else {
                                const char *const one[] = { NIC3, NULL };
                                body = g_variant_new("(s@a(sb)@a{sv})", placeholder, harness_functions_v(one, NULL),
                                                     empty_opts());
                        }
                        sweep_raw(&s, raw[i].path ?: res_path, raw[i].iface, raw[i].method, body, placeholder,
                                  raw[i].bad, raw[i].len, raw[i].what);
                }
                for (guint i = 0; i < G_N_ELEMENTS(bad_paths); i++)
                        sweep_raw(&s, ph_path, PROPS_IFACE, "GetAll", g_variant_new("(s)", DEVICE_IFACE), ph_path,
                                  bad_paths[i].bad, bad_paths[i].len, "invalid object path");
                /* the SIGNATURE header field (code 8, "g", length 1) says
                 * "u"; the body is a string */
                sweep_raw(&s, MANAGER_PATH, MANAGER_IFACE, "GetGroup", g_variant_new("(s)", "0000:02:00.0"),
                          "\x08\x01g\x00\x01s", "\x08\x01g\x00\x01u", 6, "body does not match the signature");
        }

        /* ---- oversized arrays: refused, and quickly (last: a daemon
         * that is slow here is slow for a while).  Under valgrind just
         * above the daemon's limit of 65536 entries. ---- */
        {
                const guint big = under_wrapper() ? 66000 : 100000;
                g_autofree gchar *n_addresses = g_strdup_printf("%uk addresses", big / 1000);
                g_autofree gchar *n_junk = g_strdup_printf("%uk junk", big / 1000);
                sweep_oversized(&s, "CheckAssignable", g_variant_new("(@ass)", strv_of(big, NIC), ""), n_addresses);
                sweep_oversized(&s, "CheckAssignable", g_variant_new("(@ass)", strv_of(big, "x"), ""), n_junk);
        }
        {
                const guint big = under_wrapper() ? 66000 : 100000;
                g_autofree gchar *l_entries = g_strdup_printf("%uk entries", big / 1000);
                g_autofree gchar *l_distinct = g_strdup_printf("%uk distinct entries", big / 1000);
                g_autofree gchar *l_options = g_strdup_printf("%uk options", big / 1000);
                GVariantBuilder fb;
                g_variant_builder_init(&fb, G_VARIANT_TYPE("a(sb)"));
                for (guint i = 0; i < big; i++)
                        g_variant_builder_add(&fb, "(sb)", NIC3, TRUE);
                sweep_oversized(&s, "Reserve", g_variant_new("(sa(sb)@a{sv})", "vm9", &fb, empty_opts()),
                                l_entries);
                g_variant_builder_init(&fb, G_VARIANT_TYPE("a(sb)"));
                for (guint i = 0; i < big; i++) {
                        g_autofree gchar *a = g_strdup_printf("%04x:%02x:%02x.%x", i >> 16, (i >> 8) & 0xff,
                                                              (i >> 3) & 0x1f, i & 7);
                        g_variant_builder_add(&fb, "(sb)", a, TRUE);
                }
                sweep_oversized(&s, "Reserve", g_variant_new("(sa(sb)@a{sv})", "vm9", &fb, empty_opts()),
                                l_distinct);
                {
                        GVariantBuilder ob;
                        const char *const one[] = { NIC3, NULL };
                        g_variant_builder_init(&ob, G_VARIANT_TYPE("a{sv}"));
                        for (guint i = 0; i < big; i++)
                                g_variant_builder_add(&ob, "{sv}", "persistent", g_variant_new_boolean(TRUE));
                        g_variant_builder_add(&ob, "{sv}", "nope", g_variant_new_boolean(TRUE));
                        sweep_oversized(&s, "Reserve",
                                        g_variant_new("(s@a(sb)a{sv})", "vm9", harness_functions_v(one, NULL), &ob),
                                        l_options);
                }
        }

        /* ---- what was seen ---- */
        g_test_message("malformed: %u cases", s.n_cases);
        {
                g_autoptr(GList) keys = g_hash_table_get_keys(s.seen);
                keys = g_list_sort(keys, (GCompareFunc) g_strcmp0);
                for (GList *l = keys; l; l = l->next)
                        g_test_message("  %-28s %s", (const char *) l->data,
                                       ((GString *) g_hash_table_lookup(s.seen, l->data))->str);
        }
        for (guint i = 0; i < s.failures->len; i++)
                g_test_message("FAILED %s", (const char *) s.failures->pdata[i]);

        /* ---- alive and unchanged (a call that wrongly succeeded above
         * may have changed something: noted, not fatal, so that the other
         * cases still run) ---- */
        g_assert_true(daemon_alive(h));
        dev_after = mgr_ok(h, "ListDevices", NULL, "(a(ssisso))");
        if (!g_variant_equal(dev_before, dev_after)) {
                g_autofree gchar *a = sorted_entries(dev_before), *b = sorted_entries(dev_after);
                g_autofree gchar *d = diff_lines(a, b);
                g_string_append_printf(problems, "ListDevices changed during the sweep:\n%s", d);
        }
        res_after = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        if (!g_variant_equal(res_before, res_after)) {
                g_autofree gchar *a = sorted_entries(res_before), *b = sorted_entries(res_after);
                g_autofree gchar *d = diff_lines(a, b);
                g_string_append_printf(problems, "ListReservations changed during the sweep:\n%s", d);
        }
        state_after = state_bytes(h);
        if (!g_bytes_equal(state_before, state_after)) {
                g_autofree gchar *a = g_strndup(g_bytes_get_data(state_before, NULL), g_bytes_get_size(state_before));
                g_autofree gchar *b = g_strndup(g_bytes_get_data(state_after, NULL), g_bytes_get_size(state_after));
                g_autofree gchar *d = diff_lines(a, b);
                g_string_append_printf(problems, "state.json changed during the sweep:\n%s", d);
        }
        state_check(h, NULL);
        {
                g_autoptr(GVariant) d = mgr_ok(h, "Describe", NULL, "(s)");
                const char *text;
                json_object *doc;

                g_variant_get(d, "(&s)", &text);
                doc = json_tokener_parse(text);
                if (!doc)
                        g_error("Describe is not JSON after the sweep: %.200s", text);
                json_object_put(doc);
        }
        {
                g_autoptr(GError) error = NULL;
                g_autoptr(GVariant) objs = harness_call(h, MANAGER_PATH, "org.freedesktop.DBus.ObjectManager",
                                                        "GetManagedObjects", NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
                                                        &error);
                g_assert_no_error(error);
        }
        if (s.n_failed > 0)
                g_string_append_printf(problems, "%u of %u malformed calls failed their checks (see FAILED above)\n",
                                       s.n_failed, s.n_cases);
        {
                g_autoptr(GError) error = NULL;

                /* still there, unless a call above released it */
                res_call(h, res_path, "Release", NULL, &error);
                if (error && problems->len == 0)
                        g_error("Release of %s after the sweep failed: %s", res_path, error->message);
        }
        harness_stop_daemon(h);

        g_hash_table_iter_init(&hi, s.seen);
        while (g_hash_table_iter_next(&hi, &k, &v))
                g_string_free(v, TRUE);
        g_hash_table_unref(s.seen);
        g_ptr_array_unref(s.failures);
        harness_free(h);
        report_problems(problems);
}

/* ===================================================================== */
/* 4. randomized crash loop                                              */
/* ===================================================================== */

typedef struct {
        gboolean done;
} PendingCall;

static void on_call_done(GObject *source, GAsyncResult *res, gpointer user_data) {
        PendingCall *p = user_data;
        g_autoptr(GVariant) r = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, NULL);

        p->done = TRUE;
}

/* The consistent-state invariant after a start; returns the reservation's
 * state ("" if there is none). */
static gchar *check_invariant(Harness *h, const char *const *fns, const char *const *host_drivers) {
        g_autoptr(GVariant) list = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
        g_autoptr(GVariant) arr = g_variant_get_child_value(list, 0);
        gboolean journal = TRUE;
        const char *want_driver;
        gchar *state = NULL;
        gsize n = g_variant_n_children(arr);

        g_assert_cmpuint(n, <=, 1);
        if (n == 1) {
                const char *id, *owner, *st, *path;
                g_variant_get_child(arr, 0, "(&s&s&s&o)", &id, &owner, &st, &path);
                state = g_strdup(st);
        } else
                state = g_strdup("");
        if (!g_str_equal(state, "") && !g_str_equal(state, "reserved") && !g_str_equal(state, "prepared"))
                g_error("after the restart the reservation is %s:\n%s", state,
                        (const char *) g_bytes_get_data(state_bytes(h), NULL));

        for (guint i = 0; fns[i]; i++) {
                g_autofree gchar *drv = harness_sys_driver(h, fns[i]);
                g_autofree gchar *override = harness_sys_read(h, fns[i], "driver_override");
                g_autoptr(GVariant) r = NULL, v = NULL;
                const char *path, *model_driver;
                g_autoptr(GError) error = NULL;

                want_driver = g_str_equal(state, "prepared") ? "vfio-pci" : host_drivers[i];
                if (!g_str_equal(drv, want_driver))
                        g_error("reservation \"%s\": %s is on \"%s\", expected \"%s\"", state, fns[i], drv,
                                want_driver);
                if (!g_str_equal(state, "prepared") && override && !g_str_equal(override, "(null)\n") &&
                    !g_str_equal(override, ""))
                        g_error("%s is on its host driver with driver_override \"%s\"", fns[i], override);
                /* and the daemon sees it the same way */
                r = mgr_ok(h, "GetDevice", g_variant_new("(s)", fns[i]), "(o)");
                g_variant_get(r, "(&o)", &path);
                v = harness_call(h, path, PROPS_IFACE, "Get", g_variant_new("(ss)", DEVICE_IFACE, "Driver"),
                                 G_VARIANT_TYPE("(v)"), &error);
                g_assert_no_error(error);
                {
                        g_autoptr(GVariant) inner = NULL;
                        g_variant_get(v, "(v)", &inner);
                        model_driver = g_variant_get_string(inner, NULL);
                        if (!g_str_equal(model_driver, drv))
                                g_error("the daemon says %s is on \"%s\", sysfs says \"%s\"", fns[i], model_driver,
                                        drv);
                }
        }
        state_check(h, &journal);
        if (journal)
                g_error("a journal is left in the state file after READY:\n%s",
                        (const char *) g_bytes_get_data(state_bytes(h), NULL));
        return state;
}

static void test_crash_loop(void) {
        Harness *h = harness_new(TESTBED);
        const char *const fns[] = { MF0, MF1, NULL };
        const char *const mf[] = { MF0, NULL }, *const mf_un[] = { MF1, NULL };
        const gint64 budget = (under_wrapper() ? 150 : 60) * G_USEC_PER_SEC;
        const guint max_iterations = under_wrapper() ? 10 : 100000;
        g_autofree gchar *host0 = NULL, *host1 = NULL, *res_path = NULL;
        guint iterations = 0, mid_op = 0, logged = 0, n_ops = 0, n_sent[4] = {};
        guint seed = g_test_rand_int();
        g_autoptr(GRand) rand = g_rand_new_with_seed(seed);
        gint64 t0;
        gsize log_seen = 0;

        harness_use_fakekernel(h);
        harness_capture_daemon_stderr(h);
        /* slow steps, so that a kill lands inside an operation often */
        harness_set_env(h, "FAKEKERNEL_DELAY_MS", "reset:*:40,unbind:*:25,probe:*:10");
        host0 = harness_sys_driver(h, MF0);
        host1 = harness_sys_driver(h, MF1);
        g_assert_cmpstr(host0, ==, "e1000e");
        g_assert_cmpstr(host1, ==, "e1000e");
        g_test_message("crash loop: seed %u", seed);

        t0 = g_get_monotonic_time();
        harness_start_daemon(h, no_args);
        while (g_get_monotonic_time() - t0 < budget && iterations < max_iterations) {
                const char *const host[] = { host0, host1, NULL };
                g_autofree gchar *state = check_invariant(h, fns, host);
                g_autoptr(GVariant) list = NULL;
                PendingCall *pending = g_new0(PendingCall, 1);
                guint ops = (guint) g_rand_int_range(rand, 0, 3), delay_ms, kind;
                gboolean journal = FALSE;
                int status;

                g_clear_pointer(&res_path, g_free);
                list = mgr_ok(h, "ListReservations", NULL, "(a(ssso))");
                {
                        g_autoptr(GVariant) arr = g_variant_get_child_value(list, 0);
                        if (g_variant_n_children(arr) == 1)
                                g_variant_get_child(arr, 0, "(ssso)", NULL, NULL, NULL, &res_path);
                }

                /* a few whole operations... */
                for (guint i = 0; i < ops; i++) {
                        if (!res_path) {
                                res_path = reserve_ok(h, "vm1", mf, mf_un);
                                g_free(state);
                                state = g_strdup("reserved");
                        } else if (g_str_equal(state, "reserved")) {
                                res_ok(h, res_path, "Prepare", NULL);
                                g_free(state);
                                state = g_strdup("prepared");
                        } else {
                                res_ok(h, res_path, "Unprepare", NULL);
                                g_free(state);
                                state = g_strdup("reserved");
                        }
                        n_ops++;
                }
                /* ...and one that the kill may interrupt: Prepare/Unprepare
                 * mostly, Reserve/Release now and then */
                if (!res_path) {
                        kind = 0;
                        g_dbus_connection_call(h->conn, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Reserve",
                                               g_variant_new("(s@a(sb)@a{sv})", "vm1", harness_functions_v(mf, mf_un),
                                                             empty_opts()),
                                               NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_call_done, pending);
                } else {
                        const char *method;

                        if (g_str_equal(state, "reserved"))
                                method = g_rand_int_range(rand, 0, 8) == 0 ? "Release" : "Prepare";
                        else
                                method = "Unprepare";
                        kind = g_str_equal(method, "Prepare") ? 1 : g_str_equal(method, "Unprepare") ? 2 : 3;
                        g_dbus_connection_call(h->conn, BUS_NAME, res_path, RES_IFACE, method, NULL, NULL,
                                               G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_call_done, pending);
                }
                n_sent[kind]++;
                delay_ms = (guint) g_rand_int_range(rand, 0, 301);
                g_usleep(delay_ms * 1000);
                status = harness_kill_daemon(h, SIGKILL);
                if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                        g_error("the daemon exited on its own before the kill (wait status 0x%x):\n%s", status,
                                harness_daemon_stderr(h));
                /* the pending call is answered by the bus (NoReply) */
                while (!pending->done)
                        g_main_context_iteration(NULL, TRUE);
                g_free(pending);

                /* a journal in the file: the kill landed mid-operation */
                state_check(h, &journal);
                if (journal)
                        mid_op++;

                harness_start_daemon(h, no_args);
                {
                        g_autofree gchar *log = harness_daemon_stderr(h);
                        gboolean found = strstr(log + log_seen, "found an interrupted") != NULL;

                        log_seen = strlen(log);
                        if (found)
                                logged++;
                        if (found != journal)
                                g_error("journal in the state file after the kill: %s; \"found an interrupted\" "
                                        "logged at the start: %s\n%s", journal ? "yes" : "no", found ? "yes" : "no",
                                        log);
                }
                iterations++;
        }
        {
                const char *const host[] = { host0, host1, NULL };
                g_autofree gchar *state = check_invariant(h, fns, host);
        }
        g_test_message("crash loop: %u iterations (kills) in %.1f s, %u whole operations between kills; "
                       "interrupted call: Reserve %u, Prepare %u, Unprepare %u, Release %u; "
                       "%u kills landed mid-operation (journal in the state file; %u \"found an interrupted\" "
                       "logged at the next start)",
                       iterations, (g_get_monotonic_time() - t0) / 1e6, n_ops, n_sent[0], n_sent[1], n_sent[2],
                       n_sent[3], mid_op, logged);
        g_assert_cmpuint(iterations, >, 0);
        harness_stop_daemon(h);
        harness_free(h);
}

int main(int argc, char **argv) {
        g_autofree char **args = NULL;

        /* Before any thread exists: a private mount namespace for the store
         * fault tests (every child, the bus and the daemon, shares it; it
         * goes away with them). */
        if (geteuid() != 0)
                no_mount_reason = "not running as root";
        else if (unshare(CLONE_NEWNS) < 0)
                no_mount_reason = "unshare(CLONE_NEWNS) failed";
        else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                no_mount_reason = "cannot make the mount namespace private";

        /* the cases are independent: one that fails does not stop the
         * others (--keep-going) */
        args = g_new0(char *, (gsize) argc + 2);
        for (int i = 0; i < argc; i++)
                args[i] = argv[i];
        args[argc++] = (char *) "--keep-going";
        argv = args;
        g_test_init(&argc, &argv, NULL);
        g_test_add_data_func("/hardening/store/disk-full", GINT_TO_POINTER(FAULT_FULL), test_store_fault);
        g_test_add_data_func("/hardening/store/read-only", GINT_TO_POINTER(FAULT_READONLY), test_store_fault);
        g_test_add_data_func("/hardening/store/fsync-error", GINT_TO_POINTER(FAULT_FSYNC), test_store_fault);
        g_test_add_func("/hardening/load", test_load);
        g_test_add_func("/hardening/malformed", test_malformed);
        g_test_add_func("/hardening/crash-loop", test_crash_loop);
        return g_test_run();
}
