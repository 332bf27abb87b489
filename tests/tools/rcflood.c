/* SPDX-License-Identifier: MIT */
/*
 * rcflood: floods of the HA link for the integration tests (review S3).
 *
 *   rcflood tcp --to IP:PORT --conns N --seconds S [--bind IP]
 *       keeps N idle TCP connections open to IP:PORT (the WAL stream's listener), opening
 *       a new one as soon as one is closed, for S seconds.
 *   rcflood udp --to IP:PORT --pps R --seconds S [--bind IP]
 *       sends R junk heartbeats a second to IP:PORT for S seconds: 168-byte datagrams
 *       shaped like heartbeats (magic "RCHB", version 1, key id 1, a random boot id, seq
 *       and MAC), which a receiver can refuse only by computing their MAC.
 *
 * --bind IP: the source address (one of this namespace's). Prints "opened: K" (tcp) or
 * "sent: K" (udp) at the end. Exit 0, 1 on a socket error before anything was sent, 2 on
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

#define HB_LEN 168
#define CONNS_MAX 1024

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

static void
usage(void)
{
	fprintf(stderr, "usage: rcflood tcp --to IP:PORT --conns N --seconds S [--bind IP]\n"
			"       rcflood udp --to IP:PORT --pps R --seconds S [--bind IP]\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },	  { "bind", required_argument, NULL, 'b' },
		{ "conns", required_argument, NULL, 'c' }, { "pps", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
	};
	struct sockaddr_in to, from;
	bool have_to = false, have_from = false;
	unsigned long conns = 0, pps = 0, secs = 0;
	int o;

	if (argc < 2 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "udp") != 0)) {
		usage();
		return 2;
	}
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			have_to = parse_addr(optarg, true, &to) == 0;
			break;
		case 'b':
			have_from = parse_addr(optarg, false, &from) == 0;
			if (!have_from)
				goto bad;
			break;
		case 'c':
			conns = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			pps = strtoul(optarg, NULL, 10);
			break;
		case 's':
			secs = strtoul(optarg, NULL, 10);
			break;
		default:
			goto bad;
		}
	}
	if (!have_to || secs == 0 || secs > 3600 || optind != argc)
		goto bad;
	if (argv[1][0] == 't') {
		if (conns == 0 || conns > CONNS_MAX)
			goto bad;
		return tcp_flood(&to, have_from ? &from : NULL, (unsigned)conns,
				 rc_mono_us() + secs * 1000000u);
	}
	if (pps == 0 || pps > 1000000)
		goto bad;
	return udp_flood(&to, have_from ? &from : NULL, (unsigned)pps,
			 rc_mono_us() + secs * 1000000u);
bad:
	usage();
	return 2;
}
