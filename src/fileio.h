/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads at most `size` bytes of the file `name` relative to `dirfd` into
 * buf.  Returns the number of bytes read (>= 0) or a negative errno.  A
 * read(2) that returns less than asked ends it: that is EOF for regular
 * files and for sysfs attributes as long as `size` is at most a page. */
ssize_t read_at(int dirfd, const char *name, void *buf, size_t size);

/* Reads a one-line sysfs attribute, strips the trailing newline and
 * whitespace and NUL-terminates it.  Returns the length or -errno;
 * -EFBIG if it does not fit. */
ssize_t read_line_at(int dirfd, const char *name, char *buf, size_t size);

/* Sysfs numbers: "0x8086\n" (hex with prefix) or "-1\n" (decimal). */
int read_hex_at(int dirfd, const char *name, uint32_t *ret);
int read_int_at(int dirfd, const char *name, int *ret);

/* basename of a symlink's target, relative to dirfd ("driver" ->
 * "e1000e").  Returns length or -errno (-ENOENT when there is no link). */
ssize_t readlink_base_at(int dirfd, const char *name, char *buf, size_t size);

/* Writes dir/name atomically with the given mode: a temp file
 * "name.XXXXXX" in dir, fsync, rename, fsync of dir.  On failure the temp
 * file is removed and the old file is intact; only when the final fsync
 * of the directory fails is the new file in place but perhaps not yet
 * durable (the error is returned all the same). */
int write_file_atomic(const char *dir, const char *name, const char *text, size_t n, mode_t mode);

/* Takes an exclusive flock() on dir/name (created with mode 0600 if
 * missing; dir too, with mode 0700) without blocking, and writes the
 * caller's pid into it for people to read.  Returns the open fd (read-only,
 * so the file system can still be remounted read-only), which holds the
 * lock until the process exits or closes it; -EBUSY when another process
 * holds it, with *ret_holder set to the pid that process wrote (0 if it
 * has not yet); another -errno on failure.  A forked child would share the
 * lock: the descriptor is O_CLOEXEC, and the daemon does not fork. */
int lock_file_take(const char *dir, const char *name, pid_t *ret_holder);

/* Reads the regular file dir/name (dfd: dir): at most max + 1 bytes, so
 * that the caller can tell "too big".  -ENOENT when there is none,
 * -EISDIR/-EBADFD when it is no regular file. */
int read_regular_file_at(int dfd, const char *name, size_t max, char **ret, size_t *ret_size);
