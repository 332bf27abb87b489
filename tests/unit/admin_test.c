/* SPDX-License-Identifier: MIT */
/*
 * control/admin (socket server + command table) driven by the real roomcastctl binary
 * (its path is argv[1], from meson) and by raw requests on the socket: replies, -j, usage
 * errors, help at every level, slow and oversized clients, the peer credential check (as
 * root: children drop to uid 65534 / 1), the socket file's life cycle, and token mint both
 * through the daemon and locally (roomcastctl -c CONFIG without a daemon). The rows' arity
 * and precondition checks, and the table renderer.
 *
 * roomcastd's own commands, as its `help -j` lists them (rc_cmdlist --json, argv[2]): the
 * list roomcastctl prints without a daemon must be exactly that, and control/admin/CLI.md
 * (argv[3]) must have a section for each of them and none for a command that does not exist.
 *
 * The server runs in a thread of this process, polling; roomcastctl runs as a child.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "admin.h"
#include "admin_cmd.h"
#include "admin_table.h"
#include "config.h"
#include "token.h"
#include "token_admin.h"

#define NOBODY 65534

static const char *ctl, *cmdlist, *cli_md;
static char dir[64], sock[128], conf[128], secret_path[128];
static struct rc_admin *srv;
static pthread_t srv_thread;
static int srv_stop;
static struct rc_config cfg;
static char out[1 << 21], errout[16384];

/* ---- commands served in the tests ---- */

static int
cmd_show(void *arg, int argc, char **argv, json_t *res, struct rc_text *t, char *err,
	 size_t errlen)
{
	(void)arg;
	if (argc != 1) {
		snprintf(err, errlen, "ROOM is missing");
		return -EINVAL;
	}
	if (strcmp(argv[0], "missing") == 0) {
		snprintf(err, errlen, "no room named \"%s\"", argv[0]);
		return -ENOENT;
	}
	if (strcmp(argv[0], "silent") == 0)
		return -EIO;
	json_object_set_new(res, "room", json_string(argv[0]));
	json_object_set_new(res, "members", json_integer(3));
	rc_text_printf(t, "room %s: 3 members\n", argv[0]);
	return 0;
}

/* No arguments: the row says so, the dispatcher checks it. */
static RC_ADMIN_HANDLER(cmd_status)
{
	json_object_set_new(res, "state", json_string("normal"));
	rc_text_printf(t, "state normal");
	return 0;
}

/* A reply far larger than a socket buffer. */
static int
cmd_big(void *arg, int argc, char **argv, json_t *res, struct rc_text *t, char *err,
	size_t errlen)
{
	(void)arg, (void)argc, (void)argv, (void)res, (void)err, (void)errlen;
	for (int i = 0; i < 20000; i++)
		rc_text_printf(t, "line %05d of a long listing .................................\n",
			       i);
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "room show", "ROOM", "one room", cmd_show, 0, RC_ADMIN_ANY },
	{ "room list", "", "every room", cmd_status },
	{ "status", "", "the node", cmd_status },
	{ "debug big", "", "a long reply", cmd_big },
};

/* ---- server ---- */

static void *
serve(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&srv_stop, __ATOMIC_ACQUIRE))
		rc_admin_poll(srv, 20);
	return NULL;
}

static void
start_server(const char *group)
{
	char err[256];

	srv = rc_admin_open(sock, group, err, sizeof(err));
	if (srv == NULL)
		fail_msg("rc_admin_open: %s", err);
	assert_int_equal(rc_admin_register_table(srv, cmds, sizeof(cmds) / sizeof(cmds[0]), NULL,
						 NULL),
			 0);
	assert_int_equal(rc_token_admin_register(srv, &cfg), 0);
	srv_stop = 0;
	assert_int_equal(pthread_create(&srv_thread, NULL, serve, NULL), 0);
}

static void
stop_server(void)
{
	__atomic_store_n(&srv_stop, 1, __ATOMIC_RELEASE);
	pthread_join(srv_thread, NULL);
	rc_admin_close(srv);
	srv = NULL;
}

static int
setup_root_only(void **state)
{
	(void)state;
	start_server("");
	return 0;
}

static int
teardown_server(void **state)
{
	(void)state;
	stop_server();
	return 0;
}

/* ---- clients ---- */

static void
drain(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n > 0)
		*len += n;
	buf[*len] = '\0';
}

/* Run roomcastctl with args (NULL-terminated); env: an extra "NAME=value" or NULL.
 * Returns the exit status; stdout in out, stderr in errout. */
static int
run_ctl_env(const char *env, const char *arg0, ...)
{
	const char *argv[32] = { ctl, arg0 };
	int po[2], pe[2], status, argc = 2;
	size_t lo = 0, le = 0;
	va_list ap;
	pid_t pid;

	va_start(ap, arg0);
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	assert_int_equal(pipe(po), 0);
	assert_int_equal(pipe(pe), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		close(po[0]), close(pe[0]), close(po[1]), close(pe[1]);
		if (env != NULL)
			putenv((char *)env);
		else
			unsetenv("ROOMCAST_SOCKET");
		execv(ctl, (char **)argv);
		_exit(127);
	}
	close(po[1]), close(pe[1]);
	for (;;) {
		struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };

		if (poll(p, 2, 10000) <= 0)
			break;
		if (p[0].revents) {
			size_t before = lo;

			drain(po[0], out, sizeof(out), &lo);
			if (lo == before && (p[0].revents & POLLHUP))
				p[0].fd = -1;
		}
		if (p[1].revents) {
			size_t before = le;

			drain(pe[0], errout, sizeof(errout), &le);
			if (le == before && (p[1].revents & POLLHUP))
				p[1].fd = -1;
		}
		if (p[0].fd < 0 && p[1].fd < 0)
			break;
		if (lo == sizeof(out) - 1 || le == sizeof(errout) - 1)
			break;
	}
	close(po[0]), close(pe[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define run_ctl(...) run_ctl_env(NULL, __VA_ARGS__)

static int
dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Read until EOF (or 5 s). */
static size_t
read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	return len;
}

/* One raw request; the reply in buf. Returns -errno of connect, or the reply length. */
static long
raw(const char *req, size_t len, char *buf, size_t cap)
{
	int fd = dial(sock);
	long n;

	if (fd < 0)
		return -errno;
	if (len > 0)
		assert_int_equal(write(fd, req, len), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	n = read_all(fd, buf, cap);
	close(fd);
	return n;
}

static json_t *
raw_json(const char *req)
{
	static char buf[65536];
	json_error_t jerr;
	json_t *r;

	assert_true(raw(req, strlen(req), buf, sizeof(buf)) > 0);
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	r = json_loads(buf, 0, &jerr);
	assert_non_null(r);
	return r;
}

#define assert_contains(hay, needle)                                                        \
	do {                                                                                \
		if (strstr((hay), (needle)) == NULL)                                        \
			fail_msg("\"%s\" not found in:\n%s", (needle), (hay));              \
	} while (0)

/* ---- tests: roomcastctl against the daemon ---- */

static void
test_ok_text(void **state)
{
	(void)state;
	assert_int_equal(run_ctl("-s", sock, "room", "show", "lobby", NULL), 0);
	assert_string_equal(out, "room lobby: 3 members\n");
	assert_string_equal(errout, "");
	/* A text without a trailing newline gets one. */
	assert_int_equal(run_ctl("-s", sock, "status", NULL), 0);
	assert_string_equal(out, "state normal\n");
}

static void
test_json(void **state)
{
	json_error_t jerr;
	json_t *r;

	(void)state;
	assert_int_equal(run_ctl("-s", sock, "-j", "room", "show", "lobby", NULL), 0);
	r = json_loads(out, 0, &jerr);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "room")), "lobby");
	assert_int_equal(json_integer_value(json_object_get(r, "members")), 3);
	json_decref(r);
	assert_non_null(strchr(out, '\n')); /* pretty-printed */
}

static void
test_unknown_command(void **state)
{
	(void)state;
	assert_int_equal(run_ctl("-s", sock, "room", "frob", NULL), 2);
	assert_string_equal(out, "");
	assert_string_equal(errout, "roomcastctl: unknown command \"room frob\"\n"
				    "usage: roomcastctl room list\n"
				    "       roomcastctl room show ROOM\n");
	assert_int_equal(run_ctl("-s", sock, "frob", NULL), 2);
	assert_contains(errout, "roomcastctl: unknown command \"frob\"\n");
	assert_contains(errout, "usage: roomcastctl debug big\n");
	assert_contains(errout, "       roomcastctl token mint USER [--ttl SECONDS]\n");
	assert_contains(errout, "       roomcastctl help [OBJECT [COMMAND]]\n");
}

static void
test_handler_errors(void **state)
{
	(void)state;
	/* -EINVAL: the command's usage, exit 2. */
	assert_int_equal(run_ctl("-s", sock, "room", "show", NULL), 2);
	assert_string_equal(errout, "roomcastctl: ROOM is missing\n"
				    "usage: roomcastctl room show ROOM\n");
	assert_int_equal(run_ctl("-s", sock, "status", "extra", NULL), 2);
	assert_string_equal(errout, "roomcastctl: invalid arguments\n"
				    "usage: roomcastctl status\n");
	/* Another -errno: the message, exit 1, no usage. */
	assert_int_equal(run_ctl("-s", sock, "room", "show", "missing", NULL), 1);
	assert_string_equal(errout, "roomcastctl: no room named \"missing\"\n");
	assert_int_equal(run_ctl("-s", sock, "room", "show", "silent", NULL), 1);
	assert_string_equal(errout, "roomcastctl: Input/output error\n");
}

static void
test_help_levels(void **state)
{
	(void)state;
	assert_int_equal(run_ctl("-s", sock, "help", NULL), 0);
	assert_string_equal(out, "Commands:\n"
				 "  debug big                        a long reply\n"
				 "  room list                        every room\n"
				 "  room show ROOM                   one room\n"
				 "  status                           the node\n"
				 "  token mint USER [--ttl SECONDS]  " RC_TOKEN_ADMIN_HELP "\n"
				 "  help [OBJECT [COMMAND]]          list the commands (under "
				 "OBJECT)\n");
	assert_int_equal(run_ctl("-s", sock, "help", "room", NULL), 0);
	assert_string_equal(out, "Commands:\n"
				 "  room list       every room\n"
				 "  room show ROOM  one room\n");
	assert_int_equal(run_ctl("-s", sock, "room", "help", NULL), 0);
	assert_string_equal(out, "Commands:\n"
				 "  room list       every room\n"
				 "  room show ROOM  one room\n");
	assert_int_equal(run_ctl("-s", sock, "help", "room", "show", NULL), 0);
	assert_string_equal(out, "Commands:\n  room show ROOM  one room\n");
	assert_int_equal(run_ctl("-s", sock, "room", "show", "--help", NULL), 0);
	assert_string_equal(out, "Commands:\n  room show ROOM  one room\n");
	assert_int_equal(run_ctl("-s", sock, "status", "help", NULL), 0);
	assert_string_equal(out, "Commands:\n  status  the node\n");
	/* "room show help" is the room named help. */
	assert_int_equal(run_ctl("-s", sock, "room", "show", "help", NULL), 0);
	assert_string_equal(out, "room help: 3 members\n");
	assert_int_equal(run_ctl("-s", sock, "help", "nosuch", NULL), 2);
	assert_contains(errout, "unknown command \"nosuch\"");
	assert_int_equal(run_ctl("-s", sock, "-j", "help", "token", NULL), 0);
	assert_contains(out, "\"command\": \"token mint\"");
	assert_contains(out, "\"args\": \"USER [--ttl SECONDS]\"");
}

static void
test_ctl_usage(void **state)
{
	(void)state;
	assert_int_equal(run_ctl(NULL), 2);
	assert_contains(errout, "roomcastctl: no command given");
	assert_contains(errout, "usage: roomcastctl [-s SOCKET] [-c CONFIG] [-j] OBJECT COMMAND");
	assert_int_equal(run_ctl("-x", "status", NULL), 2);
	assert_int_equal(run_ctl("-h", NULL), 0);
	assert_contains(out, "exit status: 0 ok, 1 command failed, 2 usage error, 3 daemon "
			     "unreachable");
	assert_int_equal(run_ctl("-s", sock, "room", "show", "\xff", NULL), 2);
	assert_contains(errout, "UTF-8");
}

static void
test_socket_sources(void **state)
{
	char env[160];
	FILE *f;

	(void)state;
	snprintf(env, sizeof(env), "ROOMCAST_SOCKET=%s", sock);
	assert_int_equal(run_ctl_env(env, "status", NULL), 0);
	assert_string_equal(out, "state normal\n");
	/* -c CONFIG: its node.admin_socket; the rest is not validated. */
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "node = { id = \"t\"; admin_socket = \"%s\"; };\n", sock);
	fclose(f);
	assert_int_equal(run_ctl("-c", conf, "status", NULL), 0);
	assert_string_equal(out, "state normal\n");
	/* -s wins. */
	assert_int_equal(run_ctl_env(env, "-s", "/nonexistent/x.sock", "status", NULL), 3);
	assert_string_equal(errout, "roomcastctl: cannot connect to roomcastd at "
				    "/nonexistent/x.sock: No such file or directory\n");
}

static void
test_token_mint_daemon(void **state)
{
	json_error_t jerr;
	json_t *r;
	const char *tok;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(run_ctl("-s", sock, "-j", "token", "mint", "alice", "--ttl", "120", NULL),
			 0);
	r = json_loads(out, 0, &jerr);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "user")), "alice");
	assert_int_equal(json_integer_value(json_object_get(r, "ttl")), 120);
	assert_in_range(json_integer_value(json_object_get(r, "expiry")), now + 119, now + 122);
	tok = json_string_value(json_object_get(r, "token"));
	assert_int_equal(rc_token_verify(&cfg.keys[RC_KEY_TOKENS], "alice", 5, tok, strlen(tok),
					 now, NULL),
			 0);
	json_decref(r);
	/* Text: the token alone. */
	assert_int_equal(run_ctl("-s", sock, "token", "mint", "bob", NULL), 0);
	assert_int_equal(strlen(out), 3 + 2 + 13 + 1 + 10 + 1 + 64 + 1); /* v2.1.IAT.EXP.MAC */
	out[strlen(out) - 1] = '\0';
	assert_int_equal(rc_token_verify(&cfg.keys[RC_KEY_TOKENS], "bob", 3, out, strlen(out),
					 now + 3599, NULL),
			 0);
	assert_int_equal(run_ctl("-s", sock, "token", "mint", "bob", "--ttl", "0", NULL), 2);
	assert_string_equal(errout, "roomcastctl: --ttl: \"0\" is not a number of seconds in "
				    "1..86400 (auth.token_ttl_max_s)\n"
				    "usage: roomcastctl token mint USER [--ttl SECONDS]\n");
	assert_int_equal(run_ctl("-s", sock, "token", "mint", "a\tb", NULL), 2);
	assert_contains(errout, "bad user name");
	assert_int_equal(run_ctl("-s", sock, "token", "mint", NULL), 2);
	assert_int_equal(run_ctl("-s", sock, "token", "mint", "a", "b", NULL), 2);
}

static void
test_big_reply(void **state)
{
	(void)state;
	assert_int_equal(run_ctl("-s", sock, "debug", "big", NULL), 0);
	assert_int_equal(strlen(out), 20000 * 63);
	assert_contains(out, "line 19999 of a long listing");
}

/* ---- tests: raw requests ---- */

static void
test_raw_requests(void **state)
{
	json_t *r;

	(void)state;
	r = raw_json("{\"argv\": [\"room\", \"show\", \"x\"]}\n");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "text")), "room x: 3 members\n");
	json_decref(r);
	/* No trailing newline: EOF ends the request. */
	r = raw_json("{\"argv\": [\"status\"]}");
	assert_true(json_is_true(json_object_get(r, "ok")));
	json_decref(r);
	r = raw_json("{\"argv\": []}\n");
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_string_equal(json_string_value(json_object_get(r, "error")), "no command given");
	assert_non_null(json_object_get(r, "usage"));
	json_decref(r);
	r = raw_json("not json\n");
	assert_true(json_is_false(json_object_get(r, "ok")));
	assert_contains(json_string_value(json_object_get(r, "error")), "bad request: ");
	assert_null(json_object_get(r, "usage"));
	json_decref(r);
	r = raw_json("{\"argv\": [\"status\", 5]}\n");
	assert_string_equal(json_string_value(json_object_get(r, "error")),
			    "bad request: argv[1] is not a string");
	json_decref(r);
	r = raw_json("{\"args\": [\"status\"]}\n");
	assert_contains(json_string_value(json_object_get(r, "error")), "expected {\"argv\"");
	json_decref(r);
}

static void
test_oversized_request(void **state)
{
	static char req[70000], buf[4096];
	int fd = dial(sock);

	(void)state;
	assert_true(fd >= 0);
	memset(req, ' ', sizeof(req));
	/* The server answers after 64 KiB and closes; our write may be cut short. */
	(void)!write(fd, req, sizeof(req));
	read_all(fd, buf, sizeof(buf));
	close(fd);
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"request too large (more than 65536 "
				 "bytes)\"}\n");
}

static void
test_slow_clients(void **state)
{
	int idle[16], slow;
	char buf[4096];
	const char *part1 = "{\"argv\": [\"sta", *part2 = "tus\"]}\n";

	(void)state;
	/* A client that sends half a request, then the rest later, is served. */
	slow = dial(sock);
	assert_true(slow >= 0);
	assert_int_equal(write(slow, part1, strlen(part1)), (ssize_t)strlen(part1));
	/* Meanwhile 16 idle clients fill every slot... */
	for (int i = 0; i < 16; i++) {
		idle[i] = dial(sock);
		assert_true(idle[i] >= 0);
	}
	usleep(200 * 1000);
	assert_int_equal(write(slow, part2, strlen(part2)), (ssize_t)strlen(part2));
	read_all(slow, buf, sizeof(buf));
	close(slow);
	assert_contains(buf, "\"ok\":true");
	/* ...and the next client waits at most until their deadline (2 s), then is served. */
	assert_int_equal(run_ctl("-s", sock, "status", NULL), 0);
	for (int i = 0; i < 16; i++) {
		read_all(idle[i], buf, sizeof(buf));
		close(idle[i]);
	}
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"request timed out\"}\n");
}

/* ---- tests: access ---- */

/* In a child: drop to uid/gid/groups, send one request, write the outcome to fd. */
static void
child_request(int fd, uid_t uid, gid_t gid, gid_t *groups, int ngroups)
{
	char buf[1024];
	int s, n;

	if (setgroups(ngroups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
		_exit(100);
	s = dial(sock);
	if (s < 0) {
		n = snprintf(buf, sizeof(buf), "connect: %s", strerror(errno));
		(void)!write(fd, buf, n);
		_exit(0);
	}
	(void)!write(s, "{\"argv\": [\"status\"]}\n", 21);
	n = read_all(s, buf, sizeof(buf));
	(void)!write(fd, buf, n);
	_exit(0);
}

/* Fork, drop privileges, request; the outcome (reply or connect error) in buf. */
static void
as_user(uid_t uid, gid_t gid, gid_t *groups, int ngroups, char *buf, size_t cap)
{
	int p[2], status;
	size_t len = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		child_request(p[1], uid, gid, groups, ngroups);
	}
	close(p[1]);
	for (ssize_t n; (n = read(p[0], buf + len, cap - 1 - len)) > 0;)
		len += n;
	buf[len] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_peer_root_only(void **state)
{
	char buf[1024];
	struct stat st;

	(void)state;
	if (geteuid() != 0)
		fail_msg("needs root (checks the socket's owner and mode)");
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	/* The file mode already keeps nobody out. */
	as_user(NOBODY, NOBODY, NULL, 0, buf, sizeof(buf));
	assert_string_equal(buf, "connect: Permission denied");
	/* With the mode opened up, the credential check still refuses. */
	assert_int_equal(chmod(sock, 0666), 0);
	as_user(NOBODY, NOBODY, NULL, 0, buf, sizeof(buf));
	assert_string_equal(buf, "{\"ok\":false,\"error\":\"permission denied: uid 65534 is not "
				 "root (no admin_group is configured)\"}\n");
	/* root is served */
	as_user(0, 0, NULL, 0, buf, sizeof(buf));
	assert_contains(buf, "\"ok\":true");
}

static void
test_peer_group(void **state)
{
	struct group *g = getgrgid(NOBODY);
	gid_t sup[1] = { NOBODY };
	char buf[1024];
	struct stat st;

	(void)state;
	if (geteuid() != 0 || g == NULL)
		fail_msg("needs root and the group of user nobody");
	start_server(g->gr_name);
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_gid, NOBODY);
	/* Supplementary group member (uid 1, primary gid 1). */
	as_user(1, 1, sup, 1, buf, sizeof(buf));
	assert_contains(buf, "\"ok\":true");
	/* Primary group member. */
	as_user(NOBODY, NOBODY, NULL, 0, buf, sizeof(buf));
	assert_contains(buf, "\"ok\":true");
	/* Neither: the mode refuses, then the credential check. */
	as_user(1, 1, NULL, 0, buf, sizeof(buf));
	assert_string_equal(buf, "connect: Permission denied");
	assert_int_equal(chmod(sock, 0666), 0);
	as_user(1, 1, NULL, 0, buf, sizeof(buf));
	assert_contains(buf, "permission denied: uid 1 is not root and not in group ");
}

/* An unprivileged peer cannot use the socket: connect() is refused by the socket's mode
 * (0660 root:root), or, if it got through, the server's SO_PEERCRED check answers with a
 * refusal. The child connects itself rather than exec'ing roomcastctl, whose build
 * directory may not be reachable by nobody (a 0700 temporary clone in CI). */
static void
test_ctl_as_nobody(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	if (geteuid() != 0)
		fail_msg("this test needs root (it drops to nobody)");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char reply[512] = "";
		int fd;

		if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(100);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s", (int)sizeof(sa.sun_path) - 1, sock);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0)
			_exit(101);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(errno == EACCES || errno == EPERM ? 3 : 102);
		if (write(fd, "{\"argv\": [\"status\"]}\n", 21) < 0)
			_exit(4);
		if (read(fd, reply, sizeof(reply) - 1) > 0 && strstr(reply, "permission denied"))
			_exit(4);
		_exit(0); /* served: the refusal failed */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(WEXITSTATUS(status) == 3 || WEXITSTATUS(status) == 4);
}

/* ---- tests: without a daemon, and the socket's life cycle ---- */

static void
write_conf(const char *admin_socket)
{
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	fprintf(f,
		"node = { id = \"t1\"; service_ip = \"198.18.0.1\"; admin_socket = \"%s\"; };\n"
		"eal = { args = [\"-l\", \"0-1\"]; };\n"
		"ports = ( { device = \"net_null0\"; } );\n"
		"auth = { secret_file = \"%s\"; };\n",
		admin_socket, secret_path);
	fclose(f);
}

static void
test_local_help_and_mint(void **state)
{
	char path[160];
	time_t now = time(NULL);
	json_t *r;

	(void)state;
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	write_conf(path);
	assert_int_equal(run_ctl("-c", conf, "status", NULL), 3);
	assert_contains(errout, "cannot connect to roomcastd at ");
	assert_contains(errout, "none.sock: No such file or directory");
	/* help: a local summary. */
	assert_int_equal(run_ctl("-c", conf, "help", NULL), 3);
	assert_contains(out, "  room show ROOM");
	assert_contains(out, "  token mint USER [--ttl SECONDS]");
	assert_int_equal(run_ctl("-c", conf, "room", "help", NULL), 3);
	assert_contains(out, "  room list");
	assert_null(strstr(out, "token"));
	/* token mint: from the secret file. */
	assert_int_equal(run_ctl("-c", conf, "-j", "token", "mint", "carol", "--ttl=60", NULL), 0);
	assert_contains(errout, "minting locally from ");
	r = json_loads(out, 0, NULL);
	assert_non_null(r);
	assert_int_equal(rc_token_verify(&cfg.keys[RC_KEY_TOKENS], "carol", 5,
					 json_string_value(json_object_get(r, "token")),
					 strlen(json_string_value(json_object_get(r, "token"))),
					 now, NULL),
			 0);
	json_decref(r);
	assert_int_equal(run_ctl("-c", conf, "token", "mint", NULL), 2);
	assert_contains(errout, "usage: roomcastctl token mint USER [--ttl SECONDS]");
	/* Without -c: a hint. */
	assert_int_equal(run_ctl("-s", path, "token", "mint", "carol", NULL), 3);
	assert_contains(errout, "with -c CONFIG, token mint works without roomcastd");
}

static void
test_socket_lifecycle(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct rc_admin *a, *b;
	char err[256], nested[160];
	struct stat st;
	int fd;

	(void)state;
	/* mkdir -p of the parent; removed on close. */
	snprintf(nested, sizeof(nested), "%s/run/deep/x.sock", dir);
	a = rc_admin_open(nested, NULL, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(stat(nested, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* A live socket is not stolen. */
	b = rc_admin_open(nested, NULL, err, sizeof(err));
	assert_null(b);
	assert_int_equal(errno, EADDRINUSE);
	assert_contains(err, "in use by another process");
	rc_admin_close(a);
	assert_int_equal(stat(nested, &st), -1);
	/* A stale one (bound, nobody listening) is replaced. */
	assert_true(strlen(nested) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, nested, strlen(nested) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	a = rc_admin_open(nested, "", err, sizeof(err));
	assert_non_null(a);
	rc_admin_close(a);
	/* A regular file is left alone. */
	close(open(nested, O_CREAT | O_WRONLY, 0600));
	assert_null(rc_admin_open(nested, NULL, err, sizeof(err)));
	assert_int_equal(errno, EEXIST);
	assert_contains(err, "exists and is not a socket");
	unlink(nested);
	/* Unknown group. */
	assert_null(rc_admin_open(nested, "no-such-group-xyz", err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_string_equal(err, "admin group \"no-such-group-xyz\": no such group");
	snprintf(nested, sizeof(nested), "%s/run/deep", dir);
	rmdir(nested);
	snprintf(nested, sizeof(nested), "%s/run", dir);
	rmdir(nested);
}

/* The socket's directory: only one nobody else can write to (a symlink swapped in there
 * between bind() and a chmod/chown by path would redirect them), whoever asks. The socket
 * is born 0660 in the admin group (umask and fsgid at bind, no chmod/chown by path). */
static void
test_socket_directory(void **state)
{
	static const mode_t bad[] = { 0777, 01777, 0775, 0757 };
	char err[256], d[160], p[200];
	struct rc_admin *a;
	struct stat st;
	mode_t old;

	(void)state;
	snprintf(d, sizeof(d), "%s/shared", dir);
	assert_int_equal(mkdir(d, 0755), 0);
	snprintf(p, sizeof(p), "%s/x.sock", d);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(chmod(d, bad[i]), 0);
		a = rc_admin_open(p, NULL, err, sizeof(err));
		if (a != NULL)
			fail_msg("admin socket accepted in a directory of mode %04o", bad[i]);
		assert_int_equal(errno, EPERM);
		assert_contains(err, "writable by nobody else");
		assert_int_equal(lstat(p, &st), -1); /* nothing created there */
	}
	assert_int_equal(chmod(d, 0755), 0);
	assert_int_equal(chown(d, NOBODY, NOBODY), 0); /* another user's directory */
	assert_null(rc_admin_open(p, NULL, err, sizeof(err)));
	assert_int_equal(errno, EPERM);
	assert_int_equal(chown(d, 0, 0), 0);
	/* born with its mode and group: nothing changed by path after bind() */
	old = umask(022);
	umask(old);
	a = rc_admin_open(p, "nogroup", err, sizeof(err));
	if (a == NULL)
		fail_msg("rc_admin_open: %s", err);
	assert_int_equal(lstat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, NOBODY);
	assert_int_equal(umask(old), old); /* the process umask is back */
	rc_admin_close(a);
	rmdir(d);
}

/* ---- tests: the command table without a socket ---- */

static int
cmd_echo(void *arg, int argc, char **argv, json_t *res, struct rc_text *t, char *err,
	 size_t errlen)
{
	(void)err, (void)errlen;
	json_object_set_new(res, "cmd", json_string(arg));
	json_object_set_new(res, "argc", json_integer(argc));
	rc_text_printf(t, "%s", argc ? argv[0] : "");
	return 0;
}

static void
test_table(void **state)
{
	struct rc_admin_table t = { 0 };
	struct rc_admin_cmd room = { "room", "NAME", "a room", cmd_echo, 0, RC_ADMIN_ANY };
	struct rc_admin_cmd show = { "room  show", "ROOM", "show", cmd_echo, 0, RC_ADMIN_ANY };
	char *argv[] = { "room", "show", "x", "y" };
	json_t *r;

	(void)state;
	assert_int_equal(rc_admin_table_add(&t, &room, "room", NULL), 0);
	assert_int_equal(rc_admin_table_add(&t, &show, "room show", NULL), 0);
	show.path = "room show";
	assert_int_equal(rc_admin_table_add(&t, &show, NULL, NULL), -EEXIST);
	show.path = "help";
	assert_int_equal(rc_admin_table_add(&t, &show, NULL, NULL), -EEXIST);
	show.path = " ";
	assert_int_equal(rc_admin_table_add(&t, &show, NULL, NULL), -EINVAL);
	show.path = "room --x";
	assert_int_equal(rc_admin_table_add(&t, &show, NULL, NULL), -EINVAL);
	show.path = "a b c d e f g h i";
	assert_int_equal(rc_admin_table_add(&t, &show, NULL, NULL), -EINVAL);
	show.path = "x";
	show.fn = NULL;
	assert_int_equal(rc_admin_table_add(&t, &show, NULL, NULL), -EINVAL);
	/* Longest match. */
	r = rc_admin_table_dispatch(&t, 4, argv);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
							      "cmd")),
			    "room show");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"),
							    "argc")),
			 2);
	json_decref(r);
	argv[1] = "lobby";
	r = rc_admin_table_dispatch(&t, 2, argv);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
							      "cmd")),
			    "room");
	assert_string_equal(json_string_value(json_object_get(r, "text")), "lobby");
	json_decref(r);
	rc_admin_table_free(&t);
}

/* The table's precondition for RC_ADMIN_NEEDS_STATE rows: *ctx says whether it holds. */
static int
ready_if(void *ctx, char *err, size_t errlen)
{
	if (*(const int *)ctx)
		return 0;
	snprintf(err, errlen, "no state here");
	return -ENODATA;
}

static RC_ADMIN_HANDLER(cmd_count)
{
	json_object_set_new(res, "argc", json_integer(argc));
	return 0;
}

/* {error, usage or NULL} of a dispatch that must fail; argc of one that must succeed. */
static void
expect_reply(struct rc_admin_table *t, int argc, char **argv, const char *error,
	     const char *usage, int ok_argc)
{
	json_t *r = rc_admin_table_dispatch(t, argc, argv);

	assert_non_null(r);
	if (error == NULL) {
		assert_true(json_is_true(json_object_get(r, "ok")));
		assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"),
								    "argc")),
				 ok_argc);
	} else {
		assert_string_equal(json_string_value(json_object_get(r, "error")), error);
		if (usage == NULL)
			assert_null(json_object_get(r, "usage"));
		else
			assert_string_equal(json_string_value(json_object_get(r, "usage")), usage);
	}
	json_decref(r);
}

static void
test_table_rows(void **state)
{
	static const struct rc_admin_cmd rows[] = {
		{ "node status", "", "no words", cmd_count },
		{ "node show", "NAME [MORE]", "one or two", cmd_count, 1, 2 },
		{ "group list", "", "needs the state", cmd_count, 0, 0, RC_ADMIN_NEEDS_STATE },
		{ "group show", "GROUP", "needs the state", cmd_count, 1, 1, RC_ADMIN_NEEDS_STATE },
	};
	struct rc_admin_cmd bad = { "x", "", "x", cmd_count };
	struct rc_admin_table t = { 0 };
	char *w[] = { "node", "show", "a", "b", "c" };
	char *g[] = { "group", "show", "g1", "g2" };
	int have_state = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(rc_admin_table_add(&t, &rows[i], &have_state, ready_if), 0);
	/* Rows that contradict themselves are refused. */
	bad.min_args = 1; /* min above max */
	assert_int_equal(rc_admin_table_add(&t, &bad, NULL, NULL), -EINVAL);
	bad.max_args = 1; /* words allowed, no usage for them */
	assert_int_equal(rc_admin_table_add(&t, &bad, NULL, NULL), -EINVAL);
	bad.args = "Y", bad.min_args = 0, bad.max_args = 0; /* a usage, no words allowed */
	assert_int_equal(rc_admin_table_add(&t, &bad, NULL, NULL), -EINVAL);
	bad.max_args = 1, bad.flags = RC_ADMIN_NEEDS_STATE; /* a precondition nobody checks */
	assert_int_equal(rc_admin_table_add(&t, &bad, NULL, NULL), -EINVAL);
	assert_int_equal(rc_admin_table_add(&t, &bad, NULL, ready_if), 0);
	/* Arity: outside min..max a usage error, as a handler's -EINVAL. */
	expect_reply(&t, 3, (char *[]){ "node", "status", "x" }, "invalid arguments",
		     "node status", 0);
	expect_reply(&t, 2, w, "invalid arguments", "node show NAME [MORE]", 0);
	expect_reply(&t, 3, w, NULL, NULL, 1);
	expect_reply(&t, 4, w, NULL, NULL, 2);
	expect_reply(&t, 5, w, "invalid arguments", "node show NAME [MORE]", 0);
	/* No state: the precondition's error; with a wrong arity too, still a usage error that
	 * names what is missing. */
	expect_reply(&t, 2, (char *[]){ "group", "list" }, "no state here", NULL, 0);
	expect_reply(&t, 3, g, "no state here", NULL, 0);
	expect_reply(&t, 4, g, "no state here", "group show GROUP", 0);
	/* With the state: the handler, or the plain usage error. */
	have_state = 1;
	expect_reply(&t, 2, (char *[]){ "group", "list" }, NULL, NULL, 0);
	expect_reply(&t, 3, g, NULL, NULL, 1);
	expect_reply(&t, 4, g, "invalid arguments", "group show GROUP", 0);
	rc_admin_table_free(&t);
}

static void
join_cell(const json_t *row, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%" JSON_INTEGER_FORMAT,
		 json_string_value(json_object_get(row, "name")),
		 json_integer_value(json_object_get(row, "n")));
}

static void
test_table_render(void **state)
{
	static const struct rc_table_col cols[] = {
		{ "NAME", -6, "name" }, { "N", 4, "n" },	    { "ON", -3, "on" },
		{ "WHO", -8, "who" },	{ "BOTH", 8, NULL, join_cell }, { "LAST", 0, "last" },
	};
	struct rc_text t = { 0 };
	json_t *arr = json_array();

	(void)state;
	rc_table_head(&t, RC_TABLE(cols));
	assert_int_equal(rc_table_add(&t, RC_TABLE(cols), arr,
				      json_pack("{s:s,s:i,s:b,s:[ss],s:s}", "name", "a", "n", 7,
						"on", 1, "who", "x", "y", "last", "end")),
			 0);
	assert_int_equal(rc_table_add(&t, RC_TABLE(cols), arr,
				      json_pack("{s:s,s:i,s:b,s:[],s:n}", "name", "longer-name",
						"n", -12345, "on", 0, "who", "last")),
			 0);
	assert_int_equal(rc_table_add(&t, RC_TABLE(cols), arr, NULL), -ENOMEM);
	assert_string_equal(t.buf, "NAME      N ON  WHO          BOTH LAST\n"
				   "a         7 on  x,y           a/7 end\n"
				   "longer-name -12345 off -        longer-name/-12345 -\n");
	/* The JSON holds the rows as given; printing them again gives the same lines. */
	assert_int_equal(json_array_size(arr), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "n")),
			 -12345);
	free(t.buf);
	t = (struct rc_text){ 0 };
	rc_table_print(&t, RC_TABLE(cols), arr);
	assert_string_equal(t.buf, "NAME      N ON  WHO          BOTH LAST\n"
				   "a         7 on  x,y           a/7 end\n"
				   "longer-name -12345 off -        longer-name/-12345 -\n");
	free(t.buf);
	json_decref(arr);
}

/* ---- tests: roomcastd's commands, offline and in CLI.md ---- */

/* roomcastd's `help -j` result: its "commands" array (a new reference). */
static json_t *
daemon_commands(void)
{
	char cmd[512];
	json_error_t jerr;
	json_t *r, *cmds;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "'%s' --json", cmdlist);
	p = popen(cmd, "r");
	assert_non_null(p);
	r = json_loadf(p, 0, &jerr);
	assert_int_equal(pclose(p), 0);
	if (r == NULL)
		fail_msg("rc_cmdlist --json: %s", jerr.text);
	cmds = json_incref(json_object_get(r, "commands"));
	json_decref(r);
	assert_true(json_array_size(cmds) > 20);
	return cmds;
}

static void
test_offline_list(void **state)
{
	json_t *cmds = daemon_commands(), *c;
	struct rc_text want = { 0 };
	char path[160], head[256];
	size_t i;

	(void)state;
	rc_text_printf(&want, "Commands:\n");
	json_array_foreach(cmds, i, c) {
		const char *args = json_string_value(json_object_get(c, "args"));

		snprintf(head, sizeof(head), "%s%s%s",
			 json_string_value(json_object_get(c, "command")), args[0] ? " " : "", args);
		rc_text_printf(&want, "  %-34s  %s\n", head,
			       json_string_value(json_object_get(c, "help")));
	}
	snprintf(path, sizeof(path), "%s/nobody-listens.sock", dir);
	assert_int_equal(run_ctl("-s", path, "help", NULL), 3);
	assert_string_equal(out, want.buf);
	/* the HA commands too (an earlier hand-written list lacked them) */
	assert_contains(out, "  ha failover NODE");
	free(want.buf);
	json_decref(cmds);
}

/* Does the CLI.md heading (its words) start with the command path p? A heading word
 * "a|b|c" stands for each of a, b and c ("service start|stop|status tc"). */
static bool
heading_covers(char **words, int n, const char *p)
{
	char buf[128], *save = NULL, *w;
	int k = 0;

	snprintf(buf, sizeof(buf), "%s", p);
	for (w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save), k++) {
		const char *alt = k < n ? words[k] : NULL;
		size_t len = strlen(w);
		bool hit = false;

		while (alt != NULL && !hit) {
			hit = strncmp(alt, w, len) == 0 && (alt[len] == '|' || alt[len] == '\0');
			alt = strchr(alt, '|');
			alt = alt ? alt + 1 : NULL;
		}
		if (!hit)
			return false;
	}
	return true;
}

static void
test_cli_md(void **state)
{
	json_t *cmds = daemon_commands(), *c;
	bool covered[128] = { false };
	char line[512];
	FILE *f = fopen(cli_md, "r");
	size_t i;

	(void)state;
	assert_non_null(f);
	assert_true(json_array_size(cmds) <= sizeof(covered));
	while (fgets(line, sizeof(line), f) != NULL) {
		char *words[16], *save = NULL, *w, heading[512];
		bool any = false;
		int n = 0;

		if (strncmp(line, "### ", 4) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(heading, sizeof(heading), "%s", line);
		for (w = strtok_r(line + 4, " ", &save); w != NULL && n < 16;
		     w = strtok_r(NULL, " ", &save))
			words[n++] = w;
		json_array_foreach(cmds, i, c)
			if (heading_covers(words, n,
					   json_string_value(json_object_get(c, "command"))))
				covered[i] = any = true;
		if (!any)
			fail_msg("CLI.md: \"%s\" is no command roomcastd serves", heading);
	}
	fclose(f);
	json_array_foreach(cmds, i, c)
		if (!covered[i])
			fail_msg("CLI.md has no section for \"%s\"",
				 json_string_value(json_object_get(c, "command")));
	json_decref(cmds);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_text, setup_root_only, teardown_server),
		cmocka_unit_test_setup_teardown(test_json, setup_root_only, teardown_server),
		cmocka_unit_test_setup_teardown(test_unknown_command, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_handler_errors, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_help_levels, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_ctl_usage, setup_root_only, teardown_server),
		cmocka_unit_test_setup_teardown(test_socket_sources, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_token_mint_daemon, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_big_reply, setup_root_only, teardown_server),
		cmocka_unit_test_setup_teardown(test_raw_requests, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_oversized_request, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_slow_clients, setup_root_only,
						teardown_server),
		cmocka_unit_test_setup_teardown(test_peer_root_only, setup_root_only,
						teardown_server),
		cmocka_unit_test_teardown(test_peer_group, teardown_server),
		cmocka_unit_test_setup_teardown(test_ctl_as_nobody, setup_root_only,
						teardown_server),
		cmocka_unit_test(test_local_help_and_mint),
		cmocka_unit_test(test_socket_lifecycle),
		cmocka_unit_test(test_socket_directory),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_rows),
		cmocka_unit_test(test_table_render),
		cmocka_unit_test(test_offline_list),
		cmocka_unit_test(test_cli_md),
	};
	char err[512];
	FILE *f;
	int rc;

	ctl = argc > 1 ? argv[1] : getenv("RC_ROOMCASTCTL");
	cmdlist = argc > 2 ? argv[2] : NULL;
	cli_md = argc > 3 ? argv[3] : NULL;
	if (ctl == NULL || access(ctl, X_OK) != 0 || cmdlist == NULL || access(cmdlist, X_OK) != 0 ||
	    cli_md == NULL) {
		fprintf(stderr, "usage: admin_test ROOMCASTCTL RC_CMDLIST CLI.md\n");
		return 1;
	}
	snprintf(dir, sizeof(dir), "/tmp/rc-admin-test.XXXXXX");
	if (mkdtemp(dir) == NULL || chmod(dir, 0755) < 0)
		return 1;
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	snprintf(conf, sizeof(conf), "%s/node.conf", dir);
	snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
	f = fopen(secret_path, "w");
	fputs("0123456789abcdef0123456789abcdef-test", f);
	fclose(f);
	chmod(secret_path, 0600);
	write_conf(sock);
	if (rc_config_load(conf, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(conf);
	unlink(secret_path);
	unlink(sock);
	rmdir(dir);
	return rc;
}
