/* SPDX-License-Identifier: MIT */
/*
 * roomcastctl: the admin CLI of roomcastd (control/admin/CLI.md).
 *
 *   roomcastctl [-s SOCKET] [-c CONFIG] [-j] OBJECT COMMAND [ARGS]
 *
 * Sends {"argv": [OBJECT, COMMAND, ARGS...]} to the admin socket (admin.h) and prints the
 * reply's "text", or its "result" as indented JSON with -j. The socket is -s, else the
 * admin_socket of -c CONFIG, else $ROOMCAST_SOCKET, else /run/roomcast/roomcastd.sock.
 *
 * Exit status: 0 ok; 1 the command failed (or ran and reports "ok": false in its result: a
 * check that found problems); 2 usage error (ours or the daemon's: its reply
 * then carries a "usage"); 3 the daemon is unreachable (no socket, refused, no reply).
 * When the daemon is unreachable, "help" still prints the commands this roomcastctl knows,
 * and "token mint" with -c CONFIG mints with the configuration's tokens key itself.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "config.h"
#include "fdio.h"
#include "token_admin.h"

#define EXIT_OK 0
#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3

#define DEFAULT_SOCKET "/run/roomcast/roomcastd.sock"
#define REPLY_TIMEOUT_MS 30000
#define REPLY_MAX (64u << 20)

struct opts {
	const char *socket;
	const char *config;
	bool json;
	char socket_buf[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
};

/* What this roomcastctl knows without asking the daemon: known[], generated at build time
 * from roomcastd's command rows (rc_cmdlist). The daemon's "help" is the authority: it lists
 * what it actually serves. */
#include "roomcastctl_cmds.h"

static void
print_known(FILE *f, int n, char **words)
{
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		char head[160];
		bool match = true;
		const char *p = known[i].path;

		for (int w = 0; w < n && match; w++) {
			size_t len = strlen(words[w]);

			match = strncmp(p, words[w], len) == 0 && (p[len] == ' ' || !p[len]);
			p += len + (p[len] == ' ');
		}
		if (!match)
			continue;
		snprintf(head, sizeof(head), "%s%s%s", known[i].path, known[i].args[0] ? " " : "",
			 known[i].args);
		fprintf(f, "  %-34s  %s\n", head, known[i].help);
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: roomcastctl [-s SOCKET] [-c CONFIG] [-j] OBJECT COMMAND [ARGS]\n"
		   "  -s SOCKET  the admin socket (default: the config's node.admin_socket,\n"
		   "             else $ROOMCAST_SOCKET, else " DEFAULT_SOCKET ")\n"
		   "  -c CONFIG  roomcastd's configuration file\n"
		   "  -j         print the result as JSON\n"
		   "  -h         this help\n"
		   "exit status: 0 ok, 1 command failed, 2 usage error, 3 daemon unreachable\n"
		   "commands:\n");
	print_known(f, 0, NULL);
}

/* ---- talking to the daemon ---- */

static char *
build_request(int argc, char **argv)
{
	json_t *req = json_object(), *words = json_array();
	char *line;

	for (int i = 0; i < argc; i++)
		if (json_array_append_new(words, json_string(argv[i])) < 0) {
			json_decref(words);
			json_decref(req);
			return NULL; /* not UTF-8 */
		}
	json_object_set_new(req, "argv", words);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return line;
}

/* Read the reply line (until newline or EOF). NULL + errno. */
static char *
recv_reply(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *b;
	int err = buf ? 0 : ENOMEM;

	while (err == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, REPLY_TIMEOUT_MS);
		ssize_t n = ready > 0 ? recv(fd, buf + len, cap - len - 1, 0) : -1;

		if (ready == 0)
			err = ETIMEDOUT;
		else if (n < 0 && errno != EINTR)
			err = errno;
		if (n <= 0) {
			if (n == 0 && len == 0)
				err = ECONNRESET;
			if (n == 0 || err != 0)
				break;
			continue;
		}
		len += n;
		buf[len] = '\0';
		if (memchr(buf + len - n, '\n', n) != NULL)
			break;
		if (len + 1 == cap) {
			if (cap >= REPLY_MAX || (b = realloc(buf, 2 * cap)) == NULL)
				err = EMSGSIZE;
			else
				buf = b, cap *= 2;
		}
	}
	if (err != 0) {
		free(buf);
		errno = err;
		return NULL;
	}
	return buf;
}

/* connect() to path. fd or -errno. */
static int
dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* Connect, send, read the reply into *reply. 0, or -errno (the daemon is unreachable). */
static int
call(const char *path, const char *line, char **reply, const char **stage)
{
	int fd = dial(path), rc;

	*stage = "cannot connect to";
	if (fd < 0)
		return fd;
	*stage = "cannot send to";
	rc = rc_send_all(fd, line, strlen(line));
	if (rc == 0)
		rc = rc_send_all(fd, "\n", 1);
	if (rc == 0) {
		*stage = "no reply from";
		*reply = recv_reply(fd);
		rc = *reply ? 0 : -errno;
	}
	close(fd);
	return rc;
}

/* ---- output ---- */

static void
print_usage_lines(const char *usage)
{
	const char *p = usage;
	bool first = true;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int)(nl - p) : (int)strlen(p);

		fprintf(stderr, "%s roomcastctl %.*s\n", first ? "usage:" : "      ", len, p);
		first = false;
		p = nl ? nl + 1 : NULL;
	}
}

static void
print_text(const char *s)
{
	size_t len = strlen(s);

	fputs(s, stdout);
	if (len > 0 && s[len - 1] != '\n')
		putchar('\n');
}

static int
print_result(json_t *result, const char *text, bool as_json)
{
	if (as_json || text == NULL || text[0] == '\0') {
		if (result == NULL || (json_is_object(result) && json_object_size(result) == 0))
			return EXIT_OK;
		json_dumpf(result, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		print_text(text);
	}
	return EXIT_OK;
}

/* Print the daemon's reply; return the exit status. */
static int
print_reply(const char *s, bool as_json)
{
	json_error_t jerr;
	json_t *r = json_loads(s, 0, &jerr);
	const char *error, *usage;
	int rc;

	if (!json_is_object(r)) {
		fprintf(stderr, "roomcastctl: malformed reply from roomcastd: %s\n", jerr.text);
		json_decref(r);
		return EXIT_FAILED;
	}
	if (json_is_true(json_object_get(r, "ok"))) {
		json_t *result = json_object_get(r, "result");

		rc = print_result(result, json_string_value(json_object_get(r, "text")), as_json);
		/* a command that ran but whose outcome is a failure (verify ha, db check, db
		 * merge validate) says "ok": false in its result: printed, then exit 1 */
		if (json_is_false(json_object_get(result, "ok")))
			rc = EXIT_FAILED;
	} else {
		error = json_string_value(json_object_get(r, "error"));
		usage = json_string_value(json_object_get(r, "usage"));
		fprintf(stderr, "roomcastctl: %s\n", error ? error : "failed (no message)");
		print_usage_lines(usage);
		rc = usage ? EXIT_USAGE : EXIT_FAILED;
	}
	json_decref(r);
	return rc;
}

/* ---- without the daemon ---- */

static bool
is_help(int argc, char **argv)
{
	return strcmp(argv[0], "help") == 0 || strcmp(argv[argc - 1], "help") == 0;
}

static int
local_help(int argc, char **argv)
{
	if (strcmp(argv[0], "help") == 0)
		argc--, argv++;
	else
		argc--;
	fprintf(stderr, "roomcastctl: commands known to this roomcastctl (the daemon may "
			"serve more):\n");
	printf("Commands:\n");
	print_known(stdout, argc, argv);
	return EXIT_UNREACHABLE;
}

/* "token mint USER [--ttl S]" with -c CONFIG's tokens key, with the daemon's own handler. */
static int
local_mint(const struct opts *o, int argc, char **argv)
{
	struct rc_config *cfg = malloc(sizeof(*cfg));
	json_t *result = json_object();
	struct rc_text text = { 0 };
	char err[512] = "";
	int rc;

	if (cfg == NULL || result == NULL)
		return EXIT_FAILED;
	rc = rc_config_load(o->config, cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "roomcastctl: %s\n", err);
		rc = EXIT_FAILED;
		goto out;
	}
	fprintf(stderr, "roomcastctl: minting locally from %s (tokens key %u)\n", o->config,
		cfg->keys[RC_KEY_TOKENS].k[0].id);
	rc = rc_token_admin_mint(cfg, argc - 2, argv + 2, result, &text, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "roomcastctl: %s\n", err[0] ? err : strerror(-rc));
		if (rc == -EINVAL)
			print_usage_lines(RC_TOKEN_ADMIN_PATH " " RC_TOKEN_ADMIN_ARGS);
		rc = rc == -EINVAL ? EXIT_USAGE : EXIT_FAILED;
	} else {
		rc = print_result(result, text.buf, o->json);
	}
out:
	memset(cfg, 0, sizeof(*cfg)); /* the secret */
	free(cfg);
	free(text.buf);
	json_decref(result);
	return rc;
}

static int
unreachable(const struct opts *o, int argc, char **argv, const char *stage, int err)
{
	bool mint = argc >= 2 && strcmp(argv[0], "token") == 0 && strcmp(argv[1], "mint") == 0;

	fprintf(stderr, "roomcastctl: %s roomcastd at %s: %s\n", stage, o->socket, strerror(err));
	if (mint && o->config != NULL)
		return local_mint(o, argc, argv);
	if (is_help(argc, argv))
		return local_help(argc, argv);
	if (mint)
		fprintf(stderr,
			"roomcastctl: with -c CONFIG, token mint works without roomcastd\n");
	return EXIT_UNREACHABLE;
}

/* ---- main ---- */

static int
resolve_socket(struct opts *o)
{
	char err[512];

	if (o->socket != NULL)
		return 0;
	if (o->config != NULL) {
		if (rc_config_admin_socket(o->config, o->socket_buf, sizeof(o->socket_buf), err,
					   sizeof(err)) < 0) {
			fprintf(stderr, "roomcastctl: %s\n", err);
			return -1;
		}
		o->socket = o->socket_buf;
		return 0;
	}
	o->socket = getenv("ROOMCAST_SOCKET");
	if (o->socket == NULL || o->socket[0] == '\0')
		o->socket = DEFAULT_SOCKET;
	return 0;
}

static int
parse_opts(struct opts *o, int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "+s:c:jh")) != -1) {
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'c': o->config = optarg; break;
		case 'j': o->json = true; break;
		case 'h': usage(stdout); exit(EXIT_OK);
		default: usage(stderr); return -1;
		}
	}
	if (optind == argc) {
		fprintf(stderr, "roomcastctl: no command given\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *stage = NULL;
	char *line, *reply = NULL;
	int rc;

	if (parse_opts(&o, argc, argv) < 0)
		return EXIT_USAGE;
	argc -= optind;
	argv += optind;
	if (resolve_socket(&o) < 0)
		return EXIT_USAGE;
	line = build_request(argc, argv);
	if (line == NULL) {
		fprintf(stderr, "roomcastctl: arguments must be UTF-8 text\n");
		return EXIT_USAGE;
	}
	rc = call(o.socket, line, &reply, &stage);
	free(line);
	if (rc < 0)
		return unreachable(&o, argc, argv, stage, -rc);
	rc = print_reply(reply, o.json);
	free(reply);
	return rc;
}
