/* SPDX-License-Identifier: MIT */
#include "secfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Owned by root or by us: nobody else may have put it there or changed it. */
static bool
trusted_owner(const struct stat *st)
{
	return st->st_uid == 0 || st->st_uid == geteuid();
}

int
rc_secfile_check_dirfd(int fd, const char *name, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s: %s", name, strerror(-rc));
		return rc;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is not a directory", name);
		return -ENOTDIR;
	}
	if (!trusted_owner(&st) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		snprintf(err, errlen, "directory %s must be owned by root (or the daemon's user) "
			 "and writable by nobody else (uid %u, mode %04o)", name,
			 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int
rc_secfile_check_dir(const char *dir, char *err, size_t errlen)
{
	int fd, rc;

	if (dir == NULL || dir[0] != '/') {
		snprintf(err, errlen, "secrets directory \"%s\" must be an absolute path",
			 dir ? dir : "");
		return -EINVAL;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "secrets directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = rc_secfile_check_dirfd(fd, dir, err, errlen);
	close(fd);
	return rc;
}

/* full = dir + "/" + the part of path below dir, into full; *rel points at that part. */
static int
place(const char *dir, const char *path, char *full, size_t cap, const char **rel,
      char *err, size_t errlen)
{
	size_t dlen = strlen(dir);

	while (dlen > 1 && dir[dlen - 1] == '/')
		dlen--;
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "no secret file named");
		return -EINVAL;
	}
	if (path[0] == '/') {
		if (strncmp(path, dir, dlen) != 0 ||
		    (dlen > 1 && path[dlen] != '/' && path[dlen] != '\0')) {
			snprintf(err, errlen, "%s is outside the secrets directory %.*s "
				 "(node.secrets_dir): move it there, mode 0600", path, (int)dlen,
				 dir);
			return -EPERM;
		}
		path += dlen;
		while (*path == '/')
			path++;
	}
	if ((size_t)snprintf(full, cap, "%.*s/%s", (int)dlen, dir, path) >= cap) {
		snprintf(err, errlen, "secret file path too long");
		return -ENAMETOOLONG;
	}
	*rel = path;
	return 0;
}

/* One step below dfd (closed here): the next directory (last false) or the file. */
static int
step(int dfd, const char *name, bool last, const char *full, char *err, size_t errlen)
{
	int fl = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd, rc = 0;

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		snprintf(err, errlen, "%s: \".\" and \"..\" are not allowed in a secret's path",
			 full);
		rc = -EINVAL;
	} else if ((fd = openat(dfd, name, fl | (last ? 0 : O_DIRECTORY))) < 0) {
		rc = -errno;
		if (rc == -ELOOP && last)
			snprintf(err, errlen, "%s is a symbolic link (links are not followed)",
				 full);
		else if (rc == -ELOOP || rc == -ENOTDIR)
			snprintf(err, errlen, "%s: a symbolic link or not a directory on the way "
				 "(links are not followed)", full);
		else
			snprintf(err, errlen, "cannot open %s: %s", full, strerror(-rc));
	} else if (!last && (rc = rc_secfile_check_dirfd(fd, full, err, errlen)) < 0) {
		close(fd);
	}
	close(dfd);
	return rc < 0 ? rc : fd;
}

/* Open the file below dir, one component at a time, none of them a link. fd or -errno. */
static int
open_below(const char *dir, const char *rel, const char *full, char *err, size_t errlen)
{
	char buf[PATH_MAX], *save = NULL, *name, *next;
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fd = -errno;
		snprintf(err, errlen, "secrets directory %s: %s", dir, strerror(-fd));
		return fd;
	}
	snprintf(buf, sizeof(buf), "%s", rel);
	name = strtok_r(buf, "/", &save);
	if (name == NULL) {
		close(fd);
		snprintf(err, errlen, "%s is a directory, not a secret file", full);
		return -EISDIR;
	}
	for (; name != NULL && fd >= 0; name = next) {
		next = strtok_r(NULL, "/", &save);
		fd = step(fd, name, next == NULL, full, err, errlen);
	}
	return fd;
}

/* The file itself, on its descriptor: a regular file, ours, 0600 or 0400, one link. */
static int
check_file(int fd, const char *full, struct stat *st, char *err, size_t errlen)
{
	unsigned mode;

	if (fstat(fd, st) < 0) {
		int rc = -errno;

		snprintf(err, errlen, "%s: %s", full, strerror(-rc));
		return rc;
	}
	mode = (unsigned)(st->st_mode & 07777);
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", full);
		return -EPERM;
	}
	if (!trusted_owner(st) || st->st_nlink != 1) {
		snprintf(err, errlen, "%s must be owned by root (or the daemon's user) and have "
			 "one link (uid %u, %u links)", full, (unsigned)st->st_uid,
			 (unsigned)st->st_nlink);
		return -EPERM;
	}
	if (mode != 0600 && mode != 0400) {
		snprintf(err, errlen, "%s has mode %04o; a secret must be 0600 or 0400 "
			 "(chmod 0600 it)", full, mode);
		return -EPERM;
	}
	return 0;
}

/* Up to cap bytes of fd into out (short reads and EINTR retried). Bytes read or -errno. */
static ssize_t
read_upto(int fd, uint8_t *out, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(fd, out + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* The first line of out[0..n) (n <= cap bytes read) as a C string. 0, -EFBIG (no line end
 * in a full buffer: the line does not fit) or -EINVAL (a NUL inside the line). */
static int
first_line(uint8_t *out, size_t n, size_t cap, size_t *len)
{
	size_t i;

	for (i = 0; i < n && out[i] != '\n' && out[i] != '\r'; i++)
		if (out[i] == '\0')
			return -EINVAL;
	if (i == cap)
		return -EFBIG;
	out[i] = '\0';
	*len = i;
	return 0;
}

static int
read_content(int fd, const char *full, const struct stat *st, uint8_t *out, size_t cap,
	     size_t *len, unsigned flags, char *err, size_t errlen)
{
	bool line = flags & RC_SECFILE_LINE;
	ssize_t n;
	int rc;

	if (!line && st->st_size > (off_t)cap) {
		*len = (size_t)st->st_size;
		snprintf(err, errlen, "%s holds %lld bytes, more than %zu", full,
			 (long long)st->st_size, cap);
		return -EFBIG;
	}
	n = read_upto(fd, out, cap);
	if (n < 0) {
		snprintf(err, errlen, "cannot read %s: %s", full, strerror((int)-n));
		return (int)n;
	}
	*len = (size_t)n;
	if (!line)
		return 0;
	rc = first_line(out, (size_t)n, cap, len);
	if (rc < 0)
		snprintf(err, errlen, rc == -EFBIG ? "%s: its first line is longer than %zu bytes"
			 : "%s: its first line holds a NUL byte", full, cap - 1);
	return rc;
}

int
rc_secfile_read(const char *dir, const char *path, uint8_t *out, size_t cap, size_t *len,
		unsigned flags, char *err, size_t errlen)
{
	char full[PATH_MAX];
	const char *rel;
	struct stat st;
	int fd, rc;

	*len = 0;
	if (cap < 2) {
		snprintf(err, errlen, "no room for a secret");
		return -EINVAL;
	}
	if ((rc = rc_secfile_check_dir(dir, err, errlen)) < 0 ||
	    (rc = place(dir, path, full, sizeof(full), &rel, err, errlen)) < 0)
		return rc;
	fd = open_below(dir, rel, full, err, errlen);
	if (fd < 0)
		return fd;
	rc = check_file(fd, full, &st, err, errlen);
	if (rc == 0)
		rc = read_content(fd, full, &st, out, cap, len, flags, err, errlen);
	close(fd);
	if (rc < 0) {
		explicit_bzero(out, cap);
		if (rc != -EFBIG)
			*len = 0;
	}
	return rc;
}
