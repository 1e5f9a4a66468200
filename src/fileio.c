/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

ssize_t read_at(int dirfd, const char *name, void *buf, size_t size) {
        _cleanup_close_ int fd = -1;
        size_t got = 0;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();

        /* A short read is the end: a regular file returns less than asked
         * only at EOF, and sysfs hands out a text attribute whole and a
         * binary one (config) in page-sized pieces.  Not asking again
         * saves a read(2) per attribute: thousands at start-up. */
        while (got < size) {
                size_t want = size - got;
                ssize_t n = read(fd, (char *) buf + got, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                got += (size_t) n;
                if ((size_t) n < want)
                        break;
        }
        return (ssize_t) got;
}

ssize_t read_line_at(int dirfd, const char *name, char *buf, size_t size) {
        ssize_t n;

        if (size < 2)
                return -EINVAL;
        n = read_at(dirfd, name, buf, size);
        if (n < 0)
                return n;
        if ((size_t) n >= size)
                return -EFBIG;
        buf[n] = 0;
        /* an attribute never carries NUL bytes; cut at the first one */
        n = (ssize_t) strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
                buf[--n] = 0;
        return n;
}

int read_hex_at(int dirfd, const char *name, uint32_t *ret) {
        char buf[32], *end;
        unsigned long v;
        ssize_t n;

        n = read_line_at(dirfd, name, buf, sizeof buf);
        if (n < 0)
                return (int) n;
        if (n == 0)
                return -EINVAL;
        errno = 0;
        v = strtoul(buf, &end, 16);
        if (errno != 0 || *end != 0 || v > UINT32_MAX || buf[0] == '-')
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int read_int_at(int dirfd, const char *name, int *ret) {
        char buf[32], *end;
        long v;
        ssize_t n;

        n = read_line_at(dirfd, name, buf, sizeof buf);
        if (n < 0)
                return (int) n;
        if (n == 0)
                return -EINVAL;
        errno = 0;
        v = strtol(buf, &end, 10);
        if (errno != 0 || *end != 0 || v < INT_MIN || v > INT_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

ssize_t readlink_base_at(int dirfd, const char *name, char *buf, size_t size) {
        char target[PATH_MAX];
        const char *base;
        ssize_t n;
        size_t l;

        n = readlinkat(dirfd, name, target, sizeof target - 1);
        if (n < 0)
                return negative_errno();
        target[n] = 0;
        while (n > 0 && target[n - 1] == '/')
                target[--n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        l = strlen(base);
        if (l == 0)
                return -EINVAL;
        if (l >= size)
                return -EFBIG;
        memcpy(buf, base, l + 1);
        return (ssize_t) l;
}

static int write_full(int fd, const char *buf, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, buf, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                buf += k;
                n -= (size_t) k;
        }
        return 0;
}

int write_file_atomic(const char *dir, const char *name, const char *text, size_t n, mode_t mode) {
        _cleanup_free_ char *tmp_path = NULL;
        _cleanup_close_ int dfd = -1, fd = -1;
        const char *tmp_name;
        int r;

        if (!dir || !name || strchr(name, '/'))
                return -EINVAL;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        if (asprintf(&tmp_path, "%s/%s.XXXXXX", dir, name) < 0) {
                tmp_path = NULL;
                return -ENOMEM;
        }
        fd = mkostemp(tmp_path, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        tmp_name = strrchr(tmp_path, '/') + 1;

        /* Mode before data, and both before the fsync, so that the file
         * is complete and private on disk before its name is. */
        if (fchmod(fd, mode) < 0)
                r = negative_errno();
        else
                r = write_full(fd, text, n);
        if (r >= 0 && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && renameat(dfd, tmp_name, dfd, name) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(dfd, tmp_name, 0);
                return r;
        }

        /* Makes the rename itself durable. */
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}

int lock_file_take(const char *dir, const char *name, pid_t *ret_holder) {
        _cleanup_close_ int dfd = -1, fd = -1, wfd = -1;
        char pid[32];
        int n;

        if (!dir || !name || !*name || strchr(name, '/'))
                return -EINVAL;
        if (ret_holder)
                *ret_holder = 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return negative_errno();
        /* flock() on a read-only descriptor: holding a file open for
         * writing would keep the file system from being remounted
         * read-only */
        fd = openat(dfd, name, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                int r = negative_errno();
                long holder;
                char *end;

                if (r != -EWOULDBLOCK)
                        return r;
                /* who holds it: the pid it wrote (not yet, if it has just
                 * taken the lock) */
                n = (int) pread(fd, pid, sizeof pid - 1, 0);
                if (ret_holder && n > 0) {
                        pid[n] = 0;
                        errno = 0;
                        holder = strtol(pid, &end, 10);
                        if (errno == 0 && end != pid && (*end == '\n' || !*end) && holder > 0 && holder <= INT32_MAX)
                                *ret_holder = (pid_t) holder;
                }
                return -EBUSY;
        }
        /* informational only, and best effort (a full disk must not keep
         * the daemon from starting): the lock is what counts.  Closing
         * this second descriptor keeps the lock (flock locks belong to
         * the open file description of fd). */
        wfd = openat(dfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (wfd >= 0) {
                n = snprintf(pid, sizeof pid, "%ld\n", (long) getpid());
                (void) !write(wfd, pid, (size_t) n);
        }
        return TAKE_FD(fd);
}

/* Reads at most max + 1 bytes, so that the caller can tell "too big". */
static int read_full(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        while (size <= max) {
                ssize_t k;

                if (size == alloc) {
                        size_t na = alloc ? alloc * 2 : 64 * 1024;
                        char *nb;

                        if (na > max + 1)
                                na = max + 1;
                        nb = realloc(buf, na);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                        alloc = na;
                }
                k = read(fd, buf + size, alloc - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}


int read_regular_file_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        /* O_NONBLOCK: a FIFO under our name must not hang the start;
         * O_NOFOLLOW: we never wrote a symlink there. */
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        return read_full(fd, max, ret, ret_size);
}
