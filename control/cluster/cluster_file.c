/* SPDX-License-Identifier: MIT */
/*
 * The saved cluster state: one JSON file, replaced atomically. rc_cluster_save writes
 * PATH.tmp in the same directory (mode 0640), fsyncs it, renames it over PATH and fsyncs
 * the directory, so after a crash PATH is either the old or the new state, never a mix; a
 * PATH.tmp left by a crash is never read, and the next save replaces it.
 *
 * Threads: no shared state; one writer per path (roomcastd: the control thread).
 */
#include "cluster_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"

/* The directory of path ("." when it has none) into dir. */
static void
dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

static int
fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, rc = 0;

	dir_of(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Write text to tmp (0640), synced. */
static int
write_tmp(const char *tmp, const char *text)
{
	int fd, rc;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	rc = fchmod(fd, 0640) < 0 ? -errno : 0;
	if (rc == 0)
		rc = rc_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = rc_write_all(fd, "\n", 1);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

int
rc_cluster_save(const struct rc_cluster *c, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	json_t *j;
	char *text;
	int rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return cl_refuse(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
	j = rc_cluster_to_json(c);
	text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	json_decref(j);
	if (text == NULL)
		return cl_refuse(err, errlen, -ENOMEM, "%s: out of memory", path);
	rc = write_tmp(tmp, text);
	free(text);
	if (rc < 0) {
		unlink(tmp);
		return cl_refuse(err, errlen, rc, "%s: cannot write: %s", tmp, strerror(-rc));
	}
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		return cl_refuse(err, errlen, rc, "%s: cannot rename %s over it: %s", path, tmp,
				 strerror(-rc));
	}
	rc = fsync_dir(path);
	if (rc < 0)
		return cl_refuse(err, errlen, rc, "%s: cannot sync its directory: %s", path,
				 strerror(-rc));
	return 0;
}

int
rc_cluster_load(const char *path, struct rc_cluster *c, char *err, size_t errlen)
{
	json_error_t je;
	char sub[512];
	json_t *j;
	FILE *f;
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	f = fopen(path, "re");
	if (f == NULL) {
		rc = -errno;
		return cl_refuse(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	j = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	rc = ferror(f) ? -EIO : 0;
	fclose(f);
	if (rc < 0) {
		json_decref(j);
		return cl_refuse(err, errlen, rc, "%s: cannot read: %s", path, strerror(-rc));
	}
	if (j == NULL)
		return cl_refuse(err, errlen, -EINVAL, "%s:%d: syntax error: %s", path, je.line,
				 je.text);
	rc = rc_cluster_from_json(j, c, sub, sizeof(sub));
	json_decref(j);
	if (rc < 0)
		return cl_refuse(err, errlen, rc, "%s: %s", path, sub);
	return 0;
}
