/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fileio.c: the state directory's lock (lock_file_take). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"

static gchar *tmpdir(void) {
        g_autoptr(GError) error = NULL;
        gchar *d = g_dir_make_tmp("test-fileio-XXXXXX", &error);

        g_assert_no_error(error);
        return d;
}

static void rm_rf(const char *dir) {
        g_autofree gchar *cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_cmpint(system(cmd), ==, 0);
}

/* The first taker gets a read-only fd and its pid in the file; a second
 * open file description (here: a second call in the same process, as
 * flock() locks belong to open file descriptions) is refused with -EBUSY
 * and told the holder's pid; closing the fd frees the lock. */
static void test_lock_take_and_refuse(void) {
        g_autofree gchar *d = tmpdir(), *p = g_build_filename(d, "x.lock", NULL), *text = NULL;
        pid_t holder = -1;
        int fd, fd2, flags;
        struct stat st;

        fd = lock_file_take(d, "x.lock", &holder);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(holder, ==, 0);
        flags = fcntl(fd, F_GETFL);
        g_assert_cmpint(flags & O_ACCMODE, ==, O_RDONLY);
        g_assert_cmpint(fcntl(fd, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
        g_assert_true(g_file_get_contents(p, &text, NULL, NULL));
        g_assert_cmpint(atoi(text), ==, getpid());
        g_assert_cmpint(stat(p, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0600);

        holder = -1;
        g_assert_cmpint(lock_file_take(d, "x.lock", &holder), ==, -EBUSY);
        g_assert_cmpint(holder, ==, getpid());
        /* the refused call left the holder's pid in place */
        g_clear_pointer(&text, g_free);
        g_assert_true(g_file_get_contents(p, &text, NULL, NULL));
        g_assert_cmpint(atoi(text), ==, getpid());

        g_assert_cmpint(close(fd), ==, 0);
        fd2 = lock_file_take(d, "x.lock", NULL);
        g_assert_cmpint(fd2, >=, 0);
        g_assert_cmpint(close(fd2), ==, 0);
        rm_rf(d);
}

/* Another process holding it: its pid is reported. */
static void test_lock_other_process(void) {
        g_autofree gchar *d = tmpdir();
        int pipefd[2], fd;
        pid_t child, holder = 0;
        char c;

        g_assert_cmpint(pipe(pipefd), ==, 0);
        child = fork();
        g_assert_cmpint(child, >=, 0);
        if (child == 0) {
                int cfd = lock_file_take(d, "x.lock", NULL);
                char ok = cfd >= 0 ? 'y' : 'n';

                (void) !write(pipefd[1], &ok, 1);
                pause();
                _exit(0);
        }
        g_assert_cmpint(read(pipefd[0], &c, 1), ==, 1);
        g_assert_cmpint(c, ==, 'y');
        g_assert_cmpint(lock_file_take(d, "x.lock", &holder), ==, -EBUSY);
        g_assert_cmpint(holder, ==, child);
        kill(child, SIGKILL);
        g_assert_cmpint(waitpid(child, NULL, 0), ==, child);
        /* its death released it */
        fd = lock_file_take(d, "x.lock", &holder);
        g_assert_cmpint(fd, >=, 0);
        close(fd);
        close(pipefd[0]);
        close(pipefd[1]);
        rm_rf(d);
}

/* A missing directory is created (0700); a stale pid text, garbage or a
 * missing directory's parent give clear results. */
static void test_lock_edges(void) {
        g_autofree gchar *d = tmpdir(), *sub = g_build_filename(d, "state", NULL);
        g_autofree gchar *p = g_build_filename(sub, "x.lock", NULL), *deep = g_build_filename(d, "a", "b", NULL);
        pid_t holder = -1;
        struct stat st;
        int fd;

        fd = lock_file_take(sub, "x.lock", &holder);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(stat(sub, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, 0700);
        close(fd);

        /* garbage in the file is overwritten by the next holder */
        g_assert_true(g_file_set_contents(p, "not a pid\n", -1, NULL));
        fd = lock_file_take(sub, "x.lock", &holder);
        g_assert_cmpint(fd, >=, 0);
        close(fd);

        g_assert_cmpint(lock_file_take(deep, "x.lock", NULL), ==, -ENOENT);
        g_assert_cmpint(lock_file_take(d, "a/b", NULL), ==, -EINVAL);
        g_assert_cmpint(lock_file_take(d, "", NULL), ==, -EINVAL);
        g_assert_cmpint(lock_file_take(NULL, "x", NULL), ==, -EINVAL);
        rm_rf(d);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/fileio/lock/take-and-refuse", test_lock_take_and_refuse);
        g_test_add_func("/fileio/lock/other-process", test_lock_other_process);
        g_test_add_func("/fileio/lock/edges", test_lock_edges);
        return g_test_run();
}
