/* SPDX-License-Identifier: MIT */
/*
 * The one reader of secret and password files (auth and relay secrets, database passwords,
 * the password files a cluster state names). The daemon runs as root: whoever can name a
 * file to it (a configuration, an admin-group user, a peer pushing a cluster state) must
 * not be able to make it read a file they could not read themselves. So a secret is read
 * only from the node's secrets directory (node.secrets_dir), and only when:
 *   - the directory, and every directory between it and the file, is owned by root or by
 *     the daemon's user and writable by nobody else (no group or other write bit);
 *   - the file lies inside it: a relative path is taken below it, an absolute one must
 *     start with it; no "." or ".." component, no symbolic link anywhere below the
 *     directory (each step is opened O_NOFOLLOW);
 *   - the file is a regular file with one link, owned by root or by the daemon's user,
 *     mode 0600 or 0400, checked on the open descriptor (fstat), not by path.
 *
 * Errors: -errno with one line in err (no line end) naming the file and what to do.
 *   -EINVAL  dir not absolute, an empty path, a "." or ".." component, a NUL in a line
 *   -EPERM   outside dir, or a directory or the file with the wrong owner or mode
 *   -ELOOP   a symbolic link
 *   -EFBIG   more than cap bytes (*len gets the file's size)
 *   others   from open/read (-ENOENT, -EACCES, ...)
 *
 * Threads: reentrant (no global state; reads geteuid()).
 */
#ifndef RC_SECFILE_H
#define RC_SECFILE_H

#include <stddef.h>
#include <stdint.h>

/* Keep the first line only, without its line end, NUL-terminated in out (at most cap - 1
 * bytes): passwords. Without it the whole file, raw, at most cap bytes: secrets. */
#define RC_SECFILE_LINE 1u

/* Read the secret at path (absolute, or relative to dir) into out[0..cap): *len gets the
 * length read. 0 or -errno with err set (see above). */
int rc_secfile_read(const char *dir, const char *path, uint8_t *out, size_t cap, size_t *len,
		    unsigned flags, char *err, size_t errlen);

/* The checks of a secrets directory alone (owner root or the daemon's user, not group- or
 * other-writable, absolute): 0 or -errno with err set. For start-up, before any file. */
int rc_secfile_check_dir(const char *dir, char *err, size_t errlen);

/* The same for the open directory fd (name: for the message). Also for any directory the
 * daemon creates files in by name (the admin socket's). 0, -EPERM, -ENOTDIR or -errno. */
int rc_secfile_check_dirfd(int fd, const char *name, char *err, size_t errlen);

#endif /* RC_SECFILE_H */
