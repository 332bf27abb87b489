/* SPDX-License-Identifier: MIT */
/*
 * The token revocation list: see token_revoke.h. A linear list: it holds the users an
 * operator revoked by hand, a handful; LOGIN checks it once per login.
 *
 * Threads: the control thread only.
 */
#include "token_revoke.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"

static struct rc_revocation *
find(const struct rc_revocations *r, const char *user, size_t len)
{
	for (unsigned i = 0; i < r->n; i++)
		if (strlen(r->v[i].user) == len && memcmp(r->v[i].user, user, len) == 0)
			return &r->v[i];
	return NULL;
}

static bool
user_ok(const char *u, size_t len)
{
	if (len > RC_REVOKE_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
			return false;
	return true;
}

/* The entry for (user, before) in the list, replacing an earlier one. */
static int
put(struct rc_revocations *r, const char *user, size_t len, uint64_t before)
{
	struct rc_revocation *e = find(r, user, len), *v;

	if (e != NULL) {
		if (before > e->before_ms)
			e->before_ms = before;
		return 0;
	}
	if (r->n >= RC_REVOKE_MAX)
		return -ENOSPC;
	v = realloc(r->v, (r->n + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	r->v = v;
	e = &v[r->n++];
	memcpy(e->user, user, len);
	e->user[len] = '\0';
	e->before_ms = before;
	return 0;
}

static int
parse_line(struct rc_revocations *r, char *line)
{
	char *tab = strchr(line, '\t'), *end;
	unsigned long long t;

	if (tab == NULL || !user_ok(line, (size_t)(tab - line)))
		return -EBADMSG;
	errno = 0;
	t = strtoull(tab + 1, &end, 10);
	if (errno != 0 || end == tab + 1 || (*end != '\n' && *end != '\0'))
		return -EBADMSG;
	return put(r, line, (size_t)(tab - line), t);
}

int
rc_revocations_open(struct rc_revocations *r, const char *path)
{
	char line[128];
	FILE *f;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if (snprintf(r->path, sizeof(r->path), "%s", path) >= (int)sizeof(r->path))
		return -ENAMETOOLONG;
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? 0 : -errno;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL)
		rc = parse_line(r, line);
	fclose(f);
	if (rc != 0)
		rc_revocations_close(r);
	return rc;
}

void
rc_revocations_close(struct rc_revocations *r)
{
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* The whole list to path.tmp, synced, renamed over path. */
static int
save(const struct rc_revocations *r)
{
	char tmp[sizeof(r->path) + 8], line[128];
	int fd, rc = 0, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", r->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; rc == 0 && i < r->n; i++) {
		n = snprintf(line, sizeof(line), "%s\t%llu\n", r->v[i].user,
			     (unsigned long long)r->v[i].before_ms);
		rc = rc_write_all(fd, line, (size_t)n);
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, r->path) != 0)
		rc = -errno;
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
rc_revocations_add(struct rc_revocations *r, const char *user, uint64_t before_ms)
{
	size_t len = user != NULL ? strlen(user) : 0;
	struct rc_revocation *old, keep;
	unsigned n = r->n;
	int rc;

	if (!user_ok(user, len))
		return -EINVAL;
	old = find(r, user != NULL ? user : "", len);
	if (old != NULL)
		keep = *old;
	rc = put(r, user != NULL ? user : "", len, before_ms);
	if (rc == 0)
		rc = save(r);
	if (rc != 0 && old != NULL)
		*find(r, keep.user, len) = keep;
	if (rc != 0)
		r->n = n;
	return rc;
}

bool
rc_revoked(const struct rc_revocations *r, const char *user, size_t user_len,
	   uint64_t issued_ms)
{
	const struct rc_revocation *all = find(r, "", 0), *one = find(r, user, user_len);

	return (all != NULL && issued_ms < all->before_ms) ||
	       (one != NULL && user_len > 0 && issued_ms < one->before_ms);
}
