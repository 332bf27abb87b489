/* SPDX-License-Identifier: MIT */
/*
 * rcflood: floods for the integration tests and the flood benchmark: the HA link's (review
 * S3) and the chat port's LOGINs (review S11).
 *
 *   rcflood tcp --to IP:PORT --conns N --seconds S [--bind IP]
 *       keeps N idle TCP connections open to IP:PORT (the WAL stream's listener), opening
 *       a new one as soon as one is closed, for S seconds.
 *   rcflood udp --to IP:PORT --pps R --seconds S [--bind IP]
 *       sends R junk heartbeats a second to IP:PORT for S seconds: 168-byte datagrams
 *       shaped like heartbeats (magic "RCHB", version 1, key id 1, a random boot id, seq
 *       and MAC), which a receiver can refuse only by computing their MAC.
 *
 *   rcflood login --to IP:PORT --pps R --seconds S --token T [--user U] [--bind IP]...
 *                 [--per-dgram N]
 *       sends R LOGINs a second to the chat port IP:PORT for S seconds, each for user U
 *       (default "mallory") with token T whose last character is changed: well-formed, so
 *       that only the token's MAC refuses it; each with a new request id; N LOGINs bundled
 *       in each datagram (default 1). Several --bind: the datagrams rotate over them.
 *
 * --bind IP: the source address (one of this namespace's). Prints "opened: K" (tcp) or
 * "sent: K" (udp, login: messages) at the end. Exit 0, 1 on a socket error before anything was sent, 2 on
 * usage. Single-threaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "proto.h"

#define HB_LEN 168
#define CONNS_MAX 1024
#define SOURCES_MAX 256

static int
parse_addr(const char *s, bool with_port, struct sockaddr_in *sa)
{
	char host[32];
	const char *colon = with_port ? strrchr(s, ':') : NULL;
	size_t n = colon != NULL ? (size_t)(colon - s) : strlen(s);

	if ((with_port && colon == NULL) || n >= sizeof(host))
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*sa = (struct sockaddr_in){ .sin_family = AF_INET };
	if (with_port) {
		long p = strtol(colon + 1, NULL, 10);

		if (p <= 0 || p > 65535)
			return -1;
		sa->sin_port = htons((uint16_t)p);
	}
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int
sock_open(int type, const struct sockaddr_in *bind_to)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0 && bind_to != NULL &&
	    bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
tcp_flood(const struct sockaddr_in *to, const struct sockaddr_in *from, unsigned conns,
	  uint64_t end)
{
	int fd[CONNS_MAX];
	unsigned long opened = 0;
	char sink[256];

	for (unsigned i = 0; i < conns; i++)
		fd[i] = -1;
	while (rc_mono_us() < end) {
		for (unsigned i = 0; i < conns; i++) {
			ssize_t k = fd[i] >= 0 ? recv(fd[i], sink, sizeof(sink), 0) : 0;

			if (fd[i] >= 0 && (k > 0 || (k < 0 && errno == EAGAIN)))
				continue; /* still open (idle) */
			if (fd[i] >= 0)
				close(fd[i]);
			fd[i] = sock_open(SOCK_STREAM, from);
			if (fd[i] < 0) {
				if (opened == 0) {
					perror("rcflood: socket");
					return 1;
				}
				continue;
			}
			if (connect(fd[i], (const struct sockaddr *)to, sizeof(*to)) != 0 &&
			    errno != EINPROGRESS) {
				close(fd[i]);
				fd[i] = -1;
				continue;
			}
			opened++;
		}
		usleep(2000);
	}
	for (unsigned i = 0; i < conns; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	printf("opened: %lu\n", opened);
	return 0;
}

static int
udp_flood(const struct sockaddr_in *to, const struct sockaddr_in *from, unsigned pps,
	  uint64_t end)
{
	uint8_t b[HB_LEN];
	unsigned long sent = 0;
	uint64_t t0 = rc_mono_us();
	int fd = sock_open(SOCK_DGRAM, from);

	if (fd < 0) {
		perror("rcflood: socket");
		return 1;
	}
	while (rc_mono_us() < end) {
		/* send what the rate allows so far, in bursts, then sleep 1 ms */
		uint64_t due = (rc_mono_us() - t0) * pps / 1000000u;

		while (sent < due) {
			if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
				return 1;
			memcpy(b, "RCHB", 4);
			b[4] = 1; /* version */
			b[5] = b[6] = 1; /* key ids */
			b[7] = 0;
			memset(b + 8, 0, 64);
			memcpy(b + 8, "n2", 2);
			memset(b + 132, 0, 4);
			if (sendto(fd, b, sizeof(b), 0, (const struct sockaddr *)to, sizeof(*to)) < 0 &&
			    errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED)
				break;
			sent++;
		}
		usleep(1000);
	}
	close(fd);
	printf("sent: %lu\n", sent);
	return 0;
}

/* n LOGINs for user with token tok (its last character changed) at b; request ids from
 * *rid on. Returns the datagram's length or -1. */
static ssize_t
bad_logins(uint8_t *b, const char *user, const char *tok, unsigned n, uint32_t *rid)
{
	char bad[RC_MAX_DGRAM];
	size_t tl = strlen(tok), off = 0;
	struct rc_msg m;
	ssize_t k;

	if (tl == 0 || tl >= sizeof(bad))
		return -1;
	memcpy(bad, tok, tl);
	bad[tl - 1] = bad[tl - 1] == '0' ? '1' : '0';
	for (unsigned i = 0; i < n; i++) {
		memset(&m, 0, sizeof(m));
		m.hdr.type = RC_T_LOGIN;
		m.hdr.request_id = ++*rid;
		m.u.login.user = (struct rc_str){ .p = user, .len = (uint16_t)strlen(user) };
		m.u.login.token = (struct rc_str){ .p = bad, .len = (uint16_t)tl };
		k = rc_encode(b + off, RC_MAX_DGRAM - off, &m);
		if (k < 0)
			return off > 0 ? (ssize_t)off : -1;
		off += (size_t)k;
	}
	return (ssize_t)off;
}

struct login_opts {
	const char *user, *token;
	unsigned per_dgram, n_from, pps;
	struct sockaddr_in from[SOURCES_MAX];
};

static int
login_flood(const struct sockaddr_in *to, const struct login_opts *o, uint64_t end)
{
	uint8_t b[RC_MAX_DGRAM];
	int fd[SOURCES_MAX];
	unsigned long sent = 0, dgrams = 0;
	unsigned nfd = o->n_from > 0 ? o->n_from : 1;
	uint64_t t0 = rc_mono_us();
	uint32_t rid = 0;
	ssize_t len;

	for (unsigned i = 0; i < nfd; i++) {
		fd[i] = sock_open(SOCK_DGRAM, o->n_from > 0 ? &o->from[i] : NULL);
		if (fd[i] < 0) {
			perror("rcflood: socket");
			return 1;
		}
	}
	while (rc_mono_us() < end) {
		uint64_t due = (rc_mono_us() - t0) * o->pps / 1000000u;

		while (sent < due) {
			len = bad_logins(b, o->user, o->token, o->per_dgram, &rid);
			if (len < 0)
				return 1;
			if (sendto(fd[dgrams % nfd], b, (size_t)len, 0, (const struct sockaddr *)to,
				   sizeof(*to)) < 0 && errno != EAGAIN && errno != ENOBUFS &&
			    errno != ECONNREFUSED)
				break;
			dgrams++;
			sent += o->per_dgram;
		}
		usleep(1000);
	}
	for (unsigned i = 0; i < nfd; i++)
		close(fd[i]);
	printf("sent: %lu\n", sent);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: rcflood tcp --to IP:PORT --conns N --seconds S [--bind IP]\n"
			"       rcflood udp --to IP:PORT --pps R --seconds S [--bind IP]\n"
			"       rcflood login --to IP:PORT --pps R --seconds S --token T [--user U]\n"
			"                     [--bind IP]... [--per-dgram N]\n");
}

struct opts {
	struct sockaddr_in to;
	bool have_to;
	unsigned long conns, secs;
	struct login_opts l;
};

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },	  { "bind", required_argument, NULL, 'b' },
		{ "conns", required_argument, NULL, 'c' }, { "pps", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' }, { "token", required_argument, NULL, 'k' },
		{ "user", required_argument, NULL, 'u' }, { "per-dgram", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		v = optarg != NULL ? strtoul(optarg, NULL, 10) : 0;
		if (c == 't')
			o->have_to = parse_addr(optarg, true, &o->to) == 0;
		else if (c == 'b' && o->l.n_from < SOURCES_MAX &&
			 parse_addr(optarg, false, &o->l.from[o->l.n_from]) == 0)
			o->l.n_from++;
		else if (c == 'c')
			o->conns = v;
		else if (c == 'p' && v > 0 && v <= 1000000)
			o->l.pps = (unsigned)v;
		else if (c == 's')
			o->secs = v;
		else if (c == 'k')
			o->l.token = optarg;
		else if (c == 'u')
			o->l.user = optarg;
		else if (c == 'n' && v > 0 && v <= 64)
			o->l.per_dgram = (unsigned)v;
		else
			return -1;
	}
	return o->have_to && o->secs > 0 && o->secs <= 3600 && optind == argc ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static struct opts o = { .l = { .user = "mallory", .per_dgram = 1 } };
	const struct sockaddr_in *from;
	uint64_t end;

	if (argc < 2 || parse_opts(argc, argv, &o) != 0)
		goto bad;
	end = rc_mono_us() + o.secs * 1000000u;
	from = o.l.n_from > 0 ? &o.l.from[0] : NULL;
	if (strcmp(argv[1], "tcp") == 0 && o.conns > 0 && o.conns <= CONNS_MAX)
		return tcp_flood(&o.to, from, (unsigned)o.conns, end);
	if (strcmp(argv[1], "udp") == 0 && o.l.pps > 0)
		return udp_flood(&o.to, from, o.l.pps, end);
	if (strcmp(argv[1], "login") == 0 && o.l.pps > 0 && o.l.token != NULL)
		return login_flood(&o.to, &o.l, end);
bad:
	usage();
	return 2;
}
