/* SPDX-License-Identifier: MIT */
/*
 * roomcast-chat: chat in one room from a terminal.
 *
 *   roomcast-chat -s IP[:PORT] -u USER -t TOKEN -r ROOM [-b BIND_IP]
 *
 * Logs in, joins ROOM, prints its recent history and then every message as
 *   [ROOM #SEQ HH:MM:SS] USER: BODY
 * on stdout, and posts every line read from stdin. Commands: /members, /rooms [PREFIX],
 * /fetch FROM [MAX], /ping, /stats, /help, /quit; a line starting with "//" posts the text
 * after the first "/". A LOGIN sent to a node that is not the user's home node is followed
 * to the home node, and "[redirected to NODE]" printed.
 * Status and errors go to stderr, prefixed with "* ". EOF on stdin (or /quit) logs out and
 * exits 0; SIGINT/SIGTERM log out and exit 128 + signal.
 *
 * Single-threaded: one poll() on stdin and the client's socket (rcclient.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "display.h"
#include "rcclient.h"

#define LINE_MAX_BYTES 8192
#define FETCH_DEFAULT  50

struct chat {
	struct rc_client *c;
	const char *room;
	char line[LINE_MAX_BYTES];
	size_t len;
	bool overlong;
	bool quit;
};

static volatile sig_atomic_t got_signal;
static struct rc_client *sig_client;

static void
on_signal(int sig)
{
	got_signal = sig;
	if (sig_client)
		rc_client_interrupt(sig_client);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: roomcast-chat -s IP[:PORT] -u USER -t TOKEN -r ROOM [-b BIND_IP]\n"
		"  -s  the node's service address (port %d by default)\n"
		"  -u  user name          -t  login token (\"@FILE\": read it from FILE;\n"
		"  -r  room to join           without -t: $ROOMCAST_TOKEN)\n"
		"  -b  local address to send from\n"
		"stdin lines are posted; commands: /members, /rooms [PREFIX], /fetch FROM [MAX],\n"
		"/ping, /stats, /help, /quit (\"//text\" posts \"/text\"). EOF logs out.\n",
		RC_DEFAULT_UDP_PORT);
}

/* Terminal safety: names on one line, bodies with their newlines indented, and nothing a
 * terminal would act on or reorder (display.h). */
static void
print_text(FILE *f, const char *s, int multiline)
{
	size_t cap = strlen(s) * 8 + 1; /* "<U+XXXX>" is the widest escape of any byte */
	char small[512], *out = cap <= sizeof(small) ? small : malloc(cap);

	if (out == NULL) {
		fputs("<unprintable>", f);
		return;
	}
	rc_display_escape(s, multiline, out, cap);
	fputs(out, f);
	if (out != small)
		free(out);
}

static void
print_clean(FILE *f, const char *s)
{
	print_text(f, s, 0);
}

/* A name or an error text from the node, escaped into buf for a printf (cut if over long). */
#define ESC_CAP 2048
static const char *
esc(const char *s, char *buf)
{
	rc_display_escape(s ? s : "", 0, buf, ESC_CAP);
	return buf;
}

static void
print_msg(const struct rc_delivery *d)
{
	time_t t = (time_t)(d->ts_ms / 1000);
	struct tm tm;
	char hms[16] = "??:??:??";

	if (localtime_r(&t, &tm))
		strftime(hms, sizeof(hms), "%H:%M:%S", &tm);
	printf("[");
	print_clean(stdout, d->room);
	printf(" #%" PRIu64 " %s] ", d->seq, hms);
	print_clean(stdout, d->sender);
	printf(": ");
	print_text(stdout, d->body, 1);
	printf("\n");
}

static void
on_deliver(void *arg, const struct rc_delivery *d)
{
	(void)arg;
	print_msg(d);
}

static void
on_error(void *arg, uint16_t code, uint8_t ref_type, const char *text)
{
	char e[ESC_CAP];

	(void)arg;
	fprintf(stderr, "* error %u (%s) to %s: %s\n", code, rc_err_name(code),
		rc_msg_type_name(ref_type), esc(text, e));
}

static void
on_event(void *arg, enum rc_client_event ev, const char *room, uint64_t value)
{
	char e[ESC_CAP];

	(void)arg;
	switch (ev) {
	case RC_EV_SESSION_LOST:
		fprintf(stderr, "* session lost, logging in again\n");
		break;
	case RC_EV_RELOGGED_IN:
		fprintf(stderr, "* logged in again\n");
		break;
	case RC_EV_REJOINED:
		fprintf(stderr, "* rejoined %s after #%" PRIu64 "\n", esc(room, e), value);
		break;
	case RC_EV_RELOGIN_FAILED:
		fprintf(stderr, "* node not answering, retrying in %" PRIu64 " ms\n", value);
		break;
	case RC_EV_AUTH_FAILED:
		fprintf(stderr, "* token refused: logged out\n");
		break;
	case RC_EV_GAP_SKIPPED:
		fprintf(stderr, "* %" PRIu64 " messages of %s could not be fetched\n", value,
			esc(room, e));
		break;
	case RC_EV_RESUMED:
		if (value == RC_RESUME_OTHER) {
			/* our session stayed where it was: a room of ours moved to or from our
			 * home node (PROTOCOL.md 13.2); the library re-joins it, nothing missed */
			fprintf(stderr, "* rooms re-joined on ");
			print_clean(stderr, room);
			fprintf(stderr, " (a room moved to or from it)\n");
			break;
		}
		printf("[resumed on ");
		print_clean(stdout, room);
		printf(" (%s)]\n", rc_resume_reason_name((unsigned)value));
		fflush(stdout);
		break;
	case RC_EV_MEMBERSHIP_LOST:
		fprintf(stderr, "* no longer a member of %s (takeover?): joining again\n",
			esc(room, e));
		break;
	case RC_EV_REDIRECTED:
		printf("[redirected to ");
		print_clean(stdout, room);
		printf("]\n");
		fflush(stdout);
		break;
	default:
		break;
	}
}

/* Why a call failed: the node's error (its text may be shortened) or the local errno. */
static const char *
why(const struct rc_client *c, int rc)
{
	static char buf[ESC_CAP + 64];
	char e[ESC_CAP];
	const char *text;
	uint16_t code = rc_client_last_error(c, &text);

	if (code == 0 || rc != -rc_client_errno(code))
		return rc == -ETIMEDOUT ? "no answer from the node" : strerror(-rc);
	snprintf(buf, sizeof(buf), "%s%s%s", rc_err_name(code), *text ? ": " : "", esc(text, e));
	return buf;
}

static void
print_member(void *arg, const char *user)
{
	int *n = arg;
	char e[ESC_CAP];

	printf("%s%s", (*n)++ ? ", " : "* members: ", esc(user, e));
}

static void
cmd_members(struct chat *ch)
{
	int n = 0, rc = rc_client_members(ch->c, ch->room, print_member, &n);

	if (n > 0)
		printf("\n");
	if (rc < 0)
		fprintf(stderr, "* members failed: %s\n", why(ch->c, rc));
	else
		printf("* %d member%s in %s\n", rc, rc == 1 ? "" : "s", ch->room);
}

static void
print_room(void *arg, const char *room, uint64_t last_seq)
{
	(void)arg;
	printf("* room ");
	print_clean(stdout, room);
	printf(" (last #%" PRIu64 ")\n", last_seq);
}

static void
cmd_rooms(struct chat *ch, const char *prefix)
{
	int rc;

	while (*prefix == ' ')
		prefix++;
	rc = rc_client_rooms(ch->c, prefix, print_room, NULL);
	if (rc < 0)
		fprintf(stderr, "* rooms failed: %s\n", why(ch->c, rc));
	else
		printf("* %d room%s\n", rc, rc == 1 ? "" : "s");
}

static void
on_fetched(void *arg, const struct rc_delivery *d)
{
	(void)arg;
	print_msg(d);
}

static void
cmd_fetch(struct chat *ch, const char *args)
{
	unsigned long long from = 0, max = FETCH_DEFAULT;
	struct rc_fetch_result res;
	int rc;

	if (sscanf(args, "%llu %llu", &from, &max) < 1 || max == 0 || max > RC_MAX_FETCH) {
		fprintf(stderr, "* usage: /fetch FROM [MAX], MAX 1..%d\n", RC_MAX_FETCH);
		return;
	}
	rc = rc_client_fetch(ch->c, ch->room, from, (uint16_t)max, on_fetched, NULL, &res);
	if (rc < 0)
		fprintf(stderr, "* fetch failed: %s\n", why(ch->c, rc));
	else
		printf("* fetched %u, next #%" PRIu64 ", last #%" PRIu64 "\n", res.count,
		       res.next_seq, res.last_seq);
}

static void
cmd_stats(struct chat *ch)
{
	struct rc_client_stats s;

	rc_client_stats(ch->c, &s);
	printf("* sent %" PRIu64 " retransmits %" PRIu64 " acked %" PRIu64 " delivered %" PRIu64
	       " dups %" PRIu64 " gaps %" PRIu64 " filled %" PRIu64 " relogins %" PRIu64 "\n",
	       s.sent, s.retransmits, s.acked, s.delivered, s.dup_deliveries, s.gaps, s.gaps_filled,
	       s.relogins);
}

static void
command(struct chat *ch, const char *cmd)
{
	uint64_t rtt;
	int rc;

	if (strcmp(cmd, "/quit") == 0) {
		ch->quit = true;
	} else if (strcmp(cmd, "/members") == 0) {
		cmd_members(ch);
	} else if (strncmp(cmd, "/rooms", 6) == 0 && (cmd[6] == ' ' || cmd[6] == '\0')) {
		cmd_rooms(ch, cmd + 6);
	} else if (strncmp(cmd, "/fetch", 6) == 0 && (cmd[6] == ' ' || cmd[6] == '\0')) {
		cmd_fetch(ch, cmd + 6);
	} else if (strcmp(cmd, "/ping") == 0) {
		rc = rc_client_ping(ch->c, &rtt);
		if (rc < 0)
			fprintf(stderr, "* ping failed: %s\n", why(ch->c, rc));
		else
			printf("* pong in %" PRIu64 " us\n", rtt);
	} else if (strcmp(cmd, "/stats") == 0) {
		cmd_stats(ch);
	} else if (strcmp(cmd, "/help") == 0) {
		usage(stdout);
	} else {
		fprintf(stderr, "* unknown command %s (/help)\n", cmd);
	}
}

static void
handle_line(struct chat *ch, char *s, size_t len)
{
	int rc;

	if (len > 0 && s[len - 1] == '\r')
		s[--len] = '\0';
	if (len == 0)
		return;
	if (s[0] == '/' && s[1] != '/') {
		command(ch, s);
		return;
	}
	if (s[0] == '/') {
		s++;
		len--;
	}
	rc = rc_client_post(ch->c, ch->room, s, len, NULL);
	if (rc < 0)
		fprintf(stderr, "* not posted: %s\n", why(ch->c, rc));
}

/* Read what stdin has; false on EOF. Complete lines are handled as they come. */
static bool
read_stdin(struct chat *ch)
{
	ssize_t n = read(STDIN_FILENO, ch->line + ch->len, sizeof(ch->line) - 1 - ch->len);
	char *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0) {
		ch->line[ch->len] = '\0';
		if (ch->len > 0 && !ch->overlong)
			handle_line(ch, ch->line, ch->len);
		return false;
	}
	ch->len += (size_t)n;
	ch->line[ch->len] = '\0';
	while (!ch->quit && (nl = memchr(ch->line, '\n', ch->len)) != NULL) {
		size_t l = (size_t)(nl - ch->line);

		*nl = '\0';
		if (!ch->overlong)
			handle_line(ch, ch->line, l);
		ch->overlong = false;
		memmove(ch->line, nl + 1, ch->len - l - 1);
		ch->len -= l + 1;
	}
	if (ch->len == sizeof(ch->line) - 1) {
		fprintf(stderr, "* line too long, dropped\n");
		ch->overlong = true;
		ch->len = 0;
	}
	return true;
}

static int
run(struct chat *ch)
{
	bool in_open = true;

	while (!ch->quit && !got_signal && in_open) {
		struct pollfd pfd[2] = {
			{.fd = STDIN_FILENO, .events = POLLIN},
			{.fd = rc_client_fd(ch->c), .events = POLLIN},
		};
		int rc = poll(pfd, 2, rc_client_timeout_ms(ch->c));

		if (rc < 0 && errno != EINTR)
			return -errno;
		if (rc > 0 && (pfd[0].revents & (POLLIN | POLLHUP)))
			in_open = read_stdin(ch);
		rc = rc_client_poll(ch->c, 0, NULL);
		if (rc < 0 && rc != -EINTR)
			return rc;
	}
	return 0;
}

static int
split_addr(const char *arg, char *ip, size_t cap, uint16_t *port)
{
	const char *colon = strchr(arg, ':');
	size_t n = colon ? (size_t)(colon - arg) : strlen(arg);
	char *end;
	unsigned long p;

	if (n == 0 || n >= cap)
		return -EINVAL;
	memcpy(ip, arg, n);
	ip[n] = '\0';
	*port = RC_DEFAULT_UDP_PORT;
	if (!colon)
		return 0;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p == 0 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	return 0;
}

static char *
load_token(const char *arg)
{
	char buf[512];
	FILE *f;

	if (!arg)
		arg = getenv("ROOMCAST_TOKEN");
	if (!arg || arg[0] != '@')
		return arg ? strdup(arg) : NULL;
	f = fopen(arg + 1, "r");
	if (!f)
		return NULL;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static int
session(struct chat *ch, const char *user, const char *token)
{
	struct rc_client_cb cb = {
		.deliver = on_deliver,
		.error = on_error,
		.event = on_event,
	};
	uint64_t last;
	uint32_t id;
	char e[ESC_CAP];
	int rc;

	rc_client_set_callbacks(ch->c, &cb);
	rc = rc_client_login(ch->c, user, token);
	if (rc < 0) {
		fprintf(stderr, "roomcast-chat: login as %s failed: %s\n", user, why(ch->c, rc));
		return 1;
	}
	rc = rc_client_join(ch->c, ch->room, 0, &id, &last);
	if (rc < 0) {
		fprintf(stderr, "roomcast-chat: join %s failed: %s\n", ch->room, why(ch->c, rc));
		rc_client_logout(ch->c);
		return 1;
	}
	fprintf(stderr, "* joined %s as %s (room id %" PRIu32 ", last #%" PRIu64 ")\n",
		esc(rc_client_room_name(ch->c, ch->room), e), user, id, last);
	rc = run(ch);
	if (rc < 0)
		fprintf(stderr, "roomcast-chat: %s\n", strerror(-rc));
	rc_client_logout(ch->c);
	if (got_signal)
		return 128 + got_signal;
	return rc < 0 ? 1 : 0;
}

struct args {
	const char *server, *user, *token, *room, *bind_ip;
};

/* 0, or 2 after printing the usage (1 for -h: print it to stdout and exit 0). */
static int
parse_args(int argc, char **argv, struct args *a)
{
	int opt;

	while ((opt = getopt(argc, argv, "s:u:t:r:b:h")) != -1) {
		switch (opt) {
		case 's':
			a->server = optarg;
			break;
		case 'u':
			a->user = optarg;
			break;
		case 't':
			a->token = optarg;
			break;
		case 'r':
			a->room = optarg;
			break;
		case 'b':
			a->bind_ip = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};
	struct args a = {0};
	struct chat ch = {0};
	char ip[64], *token;
	uint16_t port;
	int rc = parse_args(argc, argv, &a);

	if (rc != 0)
		return rc == 1 ? 0 : rc;
	token = load_token(a.token);
	ch.room = a.room;
	if (!a.server || !a.user || !a.room || !token || optind != argc ||
	    split_addr(a.server, ip, sizeof(ip), &port) < 0) {
		usage(stderr);
		free(token);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ch.c = rc_client_new(ip, port, a.bind_ip);
	if (!ch.c) {
		fprintf(stderr, "roomcast-chat: %s: %s\n", a.server, strerror(errno));
		free(token);
		return 1;
	}
	sig_client = ch.c;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = session(&ch, a.user, token);
	sig_client = NULL;
	rc_client_free(ch.c);
	free(token);
	return rc;
}
