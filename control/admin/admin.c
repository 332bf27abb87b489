/* SPDX-License-Identifier: MIT */
/*
 * The admin socket server (admin.h): a UNIX stream socket, one JSON request line per
 * connection, one JSON reply line, then close. The commands live in admin_cmd.c.
 *
 * Nothing here blocks: the listening socket and every connection are non-blocking, each
 * connection keeps its own state (request bytes read so far, then reply bytes left to
 * send) and a deadline, and rc_admin_poll() serves whatever is ready. A client that is slow
 * to send its request or to read its reply holds one of ADMIN_MAX_CONNS slots until its
 * deadline, never the control thread.
 *
 *   accept -> READING --'\n' or EOF--> dispatch -> WRITING --all sent--> close
 *                |  request > 64 KiB: error reply    |
 *                +-- deadline: error reply, close    +-- deadline: close
 *
 * Where: the socket's directory must be owned by root (or the daemon's user) and writable by
 * nobody else (refused otherwise: in a directory others can write to, a name swapped between
 * bind() and a later change by path could redirect that change to any file). The socket is
 * born 0660 in admin_group (umask and fsgid around bind()); nothing is changed by path.
 *
 * Access: the socket file is mode 0660, owner root, group admin_group; on top of that every
 * peer's SO_PEERCRED is checked: uid 0, or a primary or supplementary group (SO_PEERGROUPS)
 * equal to admin_group. Others get {"ok": false, "error": "permission denied: ..."}.
 *
 * Threads: the control thread only.
 */
#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin_cmd.h"
#include "clock.h"
#include "secfile.h"

#define ADMIN_MAX_CONNS 16
#define ADMIN_REQ_MAX (64 * 1024)
#define ADMIN_READ_MS 2000
#define ADMIN_WRITE_MS 5000
#define ADMIN_BACKLOG 16

struct admin_conn {
	int fd; /* -1: free slot */
	bool writing;
	bool allowed;
	char *buf; /* request, then reply */
	size_t len, cap, off;
	int64_t deadline;
	char deny[160];
};

struct rc_admin {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	bool have_group;
	gid_t gid;
	char group[64];
	struct rc_admin_table table;
	struct admin_conn conns[ADMIN_MAX_CONNS];
	unsigned n_conns;
	int wake_fd; /* rc_admin_set_wake_fd (-1: none) */
};

int
rc_admin_register_table(struct rc_admin *a, const struct rc_admin_cmd *rows, size_t n,
			void *ctx, rc_admin_ready_fn ready)
{
	for (size_t i = 0; i < n; i++) {
		int rc = rc_admin_table_add(&a->table, &rows[i], ctx, ready);

		if (rc != 0)
			return rc;
	}
	return 0;
}

json_t *
rc_admin_call(struct rc_admin *a, int argc, char **argv)
{
	return rc_admin_table_dispatch(&a->table, argc, argv);
}

/* ---- opening ---- */

/* mkdir -p of path's parent directory (0755: admin-group members must reach the socket). */
static int
mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Remove a stale socket at path; refuse to touch a live one or a non-socket. */
static int
clear_stale(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "%s is in use by another process", sa->sun_path);
		return -EADDRINUSE;
	}
	return unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

/* Open the directory of path (cut at the last '/' in dir) and check that nobody but root
 * (or us) can write to it: names in it are then ours alone. fd or -errno. */
static int
open_socket_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;
	int fd, rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		snprintf(err, errlen, "admin socket %s: not an absolute path", path);
		return -EINVAL;
	}
	slash[slash == dir ? 1 : 0] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "admin socket directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	rc = rc_secfile_check_dirfd(fd, dir, err, errlen);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

/* bind() with the socket born mode 0660 (umask) and, with an admin group, in that group
 * (the thread's fsgid): nothing is changed by path afterwards. 0 or -errno. */
static int
bind_restricted(struct rc_admin *a, const struct sockaddr_un *sa)
{
	mode_t old_mask = umask(0117);
	int old_gid = a->have_group ? setfsgid(a->gid) : -1;
	int rc = bind(a->lfd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;

	if (a->have_group)
		setfsgid((gid_t)old_gid);
	umask(old_mask);
	return rc;
}

/* The bound socket, seen through the directory (no link followed): a socket, 0660, in the
 * admin group (a set-group-id directory gives its own group: changed here, by the name in
 * a directory nobody else can write to). Its identity goes to a->dev/ino. 0 or -errno. */
static int
check_bound(struct rc_admin *a, int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	if (a->have_group && st.st_gid != a->gid &&
	    (fchownat(dfd, name, (uid_t)-1, a->gid, AT_SYMLINK_NOFOLLOW) < 0 ||
	     fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0))
		return -errno;
	if ((st.st_mode & 07777) != 0660)
		return -EPERM;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	return 0;
}

/* Create, bind and listen, in a directory nobody else can write to. The mode and group are
 * the socket's from its birth, so nobody can connect while they are still the defaults. */
static int
admin_listen(struct rc_admin *a, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int dfd, rc;

	memcpy(sa.sun_path, a->path, sizeof(a->path));
	if ((rc = mkdir_parent(a->path)) < 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s", a->path,
			 strerror(-rc));
		return rc;
	}
	if ((dfd = open_socket_dir(a->path, err, errlen)) < 0)
		return dfd;
	if ((rc = clear_stale(&sa, err, errlen)) < 0)
		goto out;
	a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	rc = a->lfd < 0 ? -errno : bind_restricted(a, &sa);
	if (rc == 0)
		rc = check_bound(a, dfd, strrchr(a->path, '/') + 1);
	if (rc == 0 && listen(a->lfd, ADMIN_BACKLOG) < 0)
		rc = -errno;
	if (rc < 0)
		snprintf(err, errlen, "cannot listen on %s: %s", a->path, strerror(-rc));
out:
	close(dfd);
	return rc;
}

static int
resolve_group(struct rc_admin *a, const char *group, char *err, size_t errlen)
{
	struct group *g;

	if (group == NULL || group[0] == '\0')
		return 0;
	errno = 0;
	g = getgrnam(group);
	if (g == NULL) {
		snprintf(err, errlen, "admin group \"%s\": %s", group,
			 errno ? strerror(errno) : "no such group");
		return errno ? -errno : -ENOENT;
	}
	a->have_group = true;
	a->gid = g->gr_gid;
	snprintf(a->group, sizeof(a->group), "%s", group);
	return 0;
}

struct rc_admin *
rc_admin_new(void)
{
	struct rc_admin *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->lfd = -1;
	a->wake_fd = -1;
	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++)
		a->conns[i].fd = -1;
	return a;
}

struct rc_admin *
rc_admin_open(const char *path, const char *group, char *err, size_t errlen)
{
	struct rc_admin *a;
	int rc;

	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(a->path)) {
		snprintf(err, errlen, "admin socket path \"%s\" is empty or too long",
			 path ? path : "");
		errno = path && path[0] ? ENAMETOOLONG : EINVAL;
		return NULL;
	}
	a = rc_admin_new();
	if (a == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(a->path, sizeof(a->path), "%s", path);
	rc = resolve_group(a, group, err, errlen);
	if (rc == 0)
		rc = admin_listen(a, err, errlen);
	if (rc < 0) {
		if (a->lfd >= 0)
			close(a->lfd);
		free(a);
		errno = -rc;
		return NULL;
	}
	return a;
}

/* ---- access ---- */

/* Is gid among the peer's supplementary groups (as of its connect())? */
static bool
peer_in_group(int fd, uid_t uid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	struct passwd *pw;
	int n = 256;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		for (size_t i = 0; i < len / sizeof(gid_t); i++)
			if (groups[i] == gid)
				return true;
		return false;
	}
	/* Old kernel (or more than 256 groups): the user database's view of uid. */
	pw = getpwuid(uid);
	if (pw == NULL || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static bool
peer_allowed(const struct rc_admin *a, int fd, char *why, size_t cap)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		snprintf(why, cap, "permission denied: cannot identify the peer: %s",
			 strerror(errno));
		return false;
	}
	if (cr.uid == 0)
		return true;
	if (a->have_group && (cr.gid == a->gid || peer_in_group(fd, cr.uid, a->gid)))
		return true;
	if (a->have_group)
		snprintf(why, cap, "permission denied: uid %u is not root and not in group %s",
			 (unsigned)cr.uid, a->group);
	else
		snprintf(why, cap, "permission denied: uid %u is not root (no admin_group is "
				   "configured)", (unsigned)cr.uid);
	return false;
}

/* ---- connections ---- */

static void
conn_close(struct rc_admin *a, struct admin_conn *c)
{
	close(c->fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	a->n_conns--;
}

static int conn_serve(struct rc_admin *a, struct admin_conn *c, short revents);

/* Accept what is pending and serve the requests already sent. Returns requests served. */
static int
accept_ready(struct rc_admin *a)
{
	int served = 0;

	for (unsigned i = 0; i < ADMIN_MAX_CONNS && a->n_conns < ADMIN_MAX_CONNS; i++) {
		struct admin_conn *c = &a->conns[i];
		int fd;

		if (c->fd >= 0)
			continue;
		fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break; /* EAGAIN, or a peer gone before we got to it */
		c->fd = fd;
		c->allowed = peer_allowed(a, fd, c->deny, sizeof(c->deny));
		c->deadline = (int64_t)rc_mono_ms_precise() + ADMIN_READ_MS;
		a->n_conns++;
		served += conn_serve(a, c, POLLIN);
	}
	return served;
}

/* Replace the request by the reply line and start writing it. */
static void
conn_reply(struct admin_conn *c, json_t *reply)
{
	char *s = reply ? json_dumps(reply, JSON_COMPACT) : NULL;

	json_decref(reply);
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = c->off = 0;
	if (s == NULL)
		s = strdup("{\"ok\":false,\"error\":\"out of memory\"}");
	if (s != NULL) {
		c->len = strlen(s);
		c->buf = realloc(s, c->len + 1);
		if (c->buf == NULL)
			c->buf = s;
		c->buf[c->len++] = '\n'; /* replaces the NUL: buf is not a C string now */
	}
	c->writing = true;
	c->deadline = (int64_t)rc_mono_ms_precise() + ADMIN_WRITE_MS;
}

static void
conn_request(struct rc_admin *a, struct admin_conn *c, size_t len)
{
	if (!c->allowed)
		conn_reply(c, rc_admin_reply_error(c->deny, NULL));
	else
		conn_reply(c, rc_admin_table_run(&a->table, c->buf, len));
}

/* Read what is there. Returns 1 when a request was served, 0 otherwise, -1 to close. */
static int
conn_read(struct rc_admin *a, struct admin_conn *c)
{
	for (;;) {
		char *nl;
		ssize_t n;

		if (c->len == c->cap) {
			size_t cap = c->cap ? 2 * c->cap : 1024;
			char *b;

			if (cap > ADMIN_REQ_MAX + 1)
				cap = ADMIN_REQ_MAX + 1;
			if (c->len == cap || (b = realloc(c->buf, cap)) == NULL) {
				conn_reply(c, rc_admin_reply_error(
						      "request too large (more than 65536 bytes)",
						      NULL));
				return 0;
			}
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0 && c->len == 0)
			return -1;
		nl = n > 0 ? memchr(c->buf + c->len, '\n', n) : NULL;
		c->len += n;
		if (nl != NULL || n == 0) {
			conn_request(a, c, nl ? (size_t)(nl - c->buf) : c->len);
			return 1;
		}
	}
}

/* Send what the socket takes. -1 when done (or failed): close. */
static int
conn_write(struct admin_conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->off += n;
	}
	return -1;
}

/* Serve one connection that poll() reported. Returns requests served (0 or 1). */
static int
conn_serve(struct rc_admin *a, struct admin_conn *c, short revents)
{
	int served = 0, rc = 0;

	if (!c->writing && (revents & (POLLIN | POLLHUP | POLLERR))) {
		rc = conn_read(a, c);
		served = rc > 0;
	}
	if (rc >= 0 && c->writing)
		rc = conn_write(c);
	if (rc < 0)
		conn_close(a, c);
	return served;
}

static void
expire(struct rc_admin *a, int64_t now)
{
	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++) {
		struct admin_conn *c = &a->conns[i];
		static const char msg[] = "{\"ok\":false,\"error\":\"request timed out\"}\n";

		if (c->fd < 0 || now < c->deadline)
			continue;
		if (!c->writing) /* best effort: one non-blocking send */
			(void)send(c->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		conn_close(a, c);
	}
}

/* poll() timeout: timeout_ms, shortened to the nearest connection deadline. */
static int
poll_timeout(const struct rc_admin *a, int timeout_ms, int64_t now)
{
	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++) {
		const struct admin_conn *c = &a->conns[i];
		int64_t left;

		if (c->fd < 0)
			continue;
		left = c->deadline > now ? c->deadline - now : 0;
		if (timeout_ms < 0 || left < timeout_ms)
			timeout_ms = (int)left;
	}
	return timeout_ms;
}

int
rc_admin_poll(struct rc_admin *a, int timeout_ms)
{
	struct pollfd pfd[ADMIN_MAX_CONNS + 2];
	struct admin_conn *who[ADMIN_MAX_CONNS + 1];
	int n = 0, served = 0, rc;

	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++) {
		struct admin_conn *c = &a->conns[i];

		if (c->fd < 0)
			continue;
		who[n] = c;
		pfd[n++] = (struct pollfd){ .fd = c->fd, .events = c->writing ? POLLOUT : POLLIN };
	}
	who[n] = NULL;
	pfd[n++] = (struct pollfd){ .fd = a->n_conns < ADMIN_MAX_CONNS ? a->lfd : -1,
				    .events = POLLIN };
	pfd[n] = (struct pollfd){ .fd = a->wake_fd, .events = POLLIN }; /* not served here */
	rc = poll(pfd, n + 1, poll_timeout(a, timeout_ms, (int64_t)rc_mono_ms_precise()));
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n - 1; i++)
		if (pfd[i].revents)
			served += conn_serve(a, who[i], pfd[i].revents);
	if (pfd[n - 1].revents & POLLIN)
		served += accept_ready(a);
	expire(a, (int64_t)rc_mono_ms_precise());
	return served;
}

void
rc_admin_set_wake_fd(struct rc_admin *a, int fd)
{
	a->wake_fd = fd;
}

void
rc_admin_close(struct rc_admin *a)
{
	struct stat st;

	if (a == NULL)
		return;
	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++)
		if (a->conns[i].fd >= 0)
			conn_close(a, &a->conns[i]);
	/* Only remove the socket if it is still ours (not a newer daemon's). */
	if (a->lfd >= 0) {
		close(a->lfd);
		if (lstat(a->path, &st) == 0 && st.st_dev == a->dev && st.st_ino == a->ino)
			unlink(a->path);
	}
	rc_admin_table_free(&a->table);
	free(a);
}
