/* SPDX-License-Identifier: MIT */
/*
 * peerload: the load client of tests/bench/peers/run. One topic (Redis channel, NATS subject,
 * MQTT topic, XMPP MUC room) with N subscribers and P publishers, B-byte bodies carrying their
 * send time; flat out (each publisher keeps at most --window messages ahead of the first
 * subscriber) or at --rate messages/s. It counts every delivery and the post-to-deliver
 * latency, splits the sockets over --procs processes (so the client is not the bottleneck),
 * and reads the server's CPU time (/proc/PID/stat utime+stime) when every subscription is
 * confirmed and when the last delivery is in. One JSON line on stdout.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peer_proto.h"

#define RBUF (256 * 1024)
#define WBUF (256 * 1024)
#define MAX_PUBS 64

struct opts {
	enum pl_peer peer;
	const char *name, *host, *topic, *domain;
	int port, subs, pubs, procs, window, body, server_pid;
	long count;   /* messages in all */
	double rate;  /* messages/s in all; 0 = flat out */
	double timeout, idle;
};

struct conn {
	int fd, pub, xstate; /* pub: publisher number or -1; xstate: XMPP setup step */
	int ready;
	size_t rlen, wlen, woff;
	uint32_t next;       /* publisher: next index to send */
	char rbuf[RBUF];
	char wbuf[WBUF];
};

struct result { /* a process's figures, sent to the parent through a pipe */
	uint64_t deliveries, cpu_ns, bad;
	struct rg_hist h;
};

static struct opts o = { .host = "127.0.0.1", .topic = "room", .domain = "localhost", .subs = 100,
	.pubs = 1, .procs = 1, .window = 64, .body = 200, .count = 20000, .timeout = 60, .idle = 3 };
static struct conn **conns;
static int nconn, epfd, tracker = -1;
static uint32_t acked[MAX_PUBS];
static struct result res;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_self_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* utime + stime of pid in seconds (fields 14 and 15 of /proc/PID/stat), -1 if unreadable. */
static double proc_cpu_s(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static pid_t kids[MAX_PUBS * 4];
static int nkids;

/* Say why and stop; the parent also stops its client processes (they would wait for a start). */
static void die(const char *what)
{
	fprintf(stderr, "peerload %s: %s: %s\n", o.name, what, strerror(errno));
	for (int i = 0; i < nkids; i++)
		kill(kids[i], SIGKILL);
	exit(2);
}

static void queue(struct conn *c, const char *p, int n)
{
	if (n < 0 || c->wlen + (size_t)n > WBUF) {
		errno = ENOSPC;
		die("write buffer");
	}
	memcpy(c->wbuf + c->wlen, p, (size_t)n);
	c->wlen += (size_t)n;
}

/* Write what is queued; EPOLLOUT is asked for only while something is left. */
static void flush(struct conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n < 0)
			die("send");
		c->woff += (size_t)n;
	}
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	struct epoll_event ev = { .events = EPOLLIN | (c->wlen ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void xmpp_stream_open(struct conn *c)
{
	char b[256];
	int n = snprintf(b, sizeof(b), "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
	                 "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", o.domain);
	queue(c, b, n);
}

static void setup_send(struct conn *c, int idx)
{
	char b[512], id[32];
	int n = 0;
	snprintf(id, sizeof(id), "pl%d-%d", getpid(), idx);
	switch (o.peer) {
	case PL_REDIS:
		if (c->pub < 0)
			n = pl_redis_sub(b, sizeof(b), o.topic);
		else
			c->ready = 1;
		break;
	case PL_NATS:
		n = c->pub < 0 ? pl_nats_sub(b, sizeof(b), o.topic, 1)
		               : snprintf(b, sizeof(b), "CONNECT {\"verbose\":false}\r\nPING\r\n");
		break;
	case PL_MQTT:
		n = pl_mqtt_connect(b, sizeof(b), id);
		break;
	case PL_XMPP:
		xmpp_stream_open(c);
		break;
	}
	if (n > 0)
		queue(c, b, n);
}

/* XMPP setup, one step per awaited element: features, SASL ANONYMOUS success, features again,
 * resource bound, the room's self-presence (status 110). Returns the bytes consumed. */
static size_t xmpp_setup(struct conn *c, int idx)
{
	static const char *const want[] = { "</stream:features>", "<success", "</stream:features>",
	                                    "</iq>", "code='110'" };
	char b[512];
	const char *m = memmem(c->rbuf, c->rlen, want[c->xstate], strlen(want[c->xstate]));
	if (!m)
		return 0;
	int n = 0;
	switch (c->xstate++) {
	case 0:
		n = snprintf(b, sizeof(b), "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
		break;
	case 1:
		xmpp_stream_open(c);
		break;
	case 2:
		n = snprintf(b, sizeof(b), "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
		break;
	case 3:
		n = snprintf(b, sizeof(b), "<presence to='%s/n%d-%d'><x xmlns='http://jabber.org/protocol/muc'>"
		             "<history maxstanzas='0'/></x></presence>", o.topic, getpid(), idx);
		break;
	case 4:
		c->ready = 1;
		break;
	}
	if (n > 0)
		queue(c, b, n);
	return (size_t)(m - c->rbuf) + strlen(want[c->xstate - 1]);
}

static void on_msg(struct conn *c, const struct pl_ev *ev, uint64_t t)
{
	uint64_t sent;
	unsigned pub;
	uint32_t idx;
	if (c->pub >= 0) /* a MUC publisher sees its own messages: not a delivery */
		return;
	if (pl_body_parse(ev->body, ev->body_len, &sent, &pub, &idx) || pub >= MAX_PUBS) {
		res.bad++;
		return;
	}
	res.deliveries++;
	rg_hist_add(&res.h, t > sent ? t - sent : 0);
	if (c == conns[tracker < 0 ? 0 : tracker] && idx + 1 > acked[pub])
		acked[pub] = idx + 1;
}

static int parse_one(const char *b, size_t len, struct pl_ev *ev)
{
	switch (o.peer) {
	case PL_REDIS:
		return pl_redis_parse(b, len, ev);
	case PL_NATS:
		return pl_nats_parse(b, len, ev);
	case PL_MQTT:
		return pl_mqtt_parse(b, len, ev);
	default:
		return pl_xmpp_parse(b, len, ev);
	}
}

/* Read what is there and handle every complete frame. */
static void on_readable(struct conn *c, int idx)
{
	ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF - c->rlen, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		errno = n == 0 ? ECONNRESET : errno;
		die("server closed a connection");
	}
	if (n < 0)
		return;
	c->rlen += (size_t)n;
	uint64_t t = now_ns();
	size_t at = 0;
	for (;;) {
		if (o.peer == PL_XMPP && !c->ready) {
			size_t k = xmpp_setup(c, idx);
			if (!k)
				break;
			at += k;
			memmove(c->rbuf, c->rbuf + at, c->rlen - at);
			c->rlen -= at;
			at = 0;
			continue;
		}
		struct pl_ev ev;
		int k = parse_one(c->rbuf + at, c->rlen - at, &ev);
		if (k < 0) {
			errno = EPROTO;
			die("unexpected bytes from the server");
		}
		if (k == 0)
			break;
		at += (size_t)k;
		if (ev.kind == PL_EV_MSG)
			on_msg(c, &ev, t);
		else if (ev.kind == PL_EV_PING)
			queue(c, "PONG\r\n", 6);
		else if (ev.kind == PL_EV_CONNACK && c->pub < 0) {
			char b[128];
			queue(c, b, pl_mqtt_sub(b, sizeof(b), o.topic, 1));
		} else if (ev.kind == PL_EV_READY || ev.kind == PL_EV_CONNACK)
			c->ready = 1;
	}
	memmove(c->rbuf, c->rbuf + at, c->rlen - at);
	c->rlen -= at;
	if (c->rlen == RBUF) {
		errno = EMSGSIZE;
		die("a frame larger than the read buffer");
	}
}

static int tcp_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port) };
	inet_pton(AF_INET, o.host, &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Process k of o.procs: its share of subscribers; process 0 also has every publisher. */
static void open_conns(int k)
{
	int nsub = o.subs / o.procs + (k < o.subs % o.procs);
	int npub = k == 0 ? o.pubs : 0;
	nconn = nsub + npub;
	conns = calloc((size_t)nconn, sizeof(*conns));
	epfd = epoll_create1(0);
	for (int i = 0; i < nconn; i++) {
		struct conn *c = conns[i] = calloc(1, sizeof(struct conn));
		if (!c)
			die("calloc");
		c->fd = tcp_connect();
		c->pub = i < nsub ? -1 : i - nsub;
		if (i == 0 && nsub > 0 && k == 0)
			tracker = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
		setup_send(c, i);
		flush(c);
	}
}

static int conn_index(struct conn *c)
{
	for (int i = 0; i < nconn; i++)
		if (conns[i] == c)
			return i;
	return 0;
}

static void poll_once(int ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(epfd, evs, 64, ms);
	for (int i = 0; i < n; i++) {
		struct conn *c = evs[i].data.ptr;
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			on_readable(c, o.peer == PL_XMPP && !c->ready ? conn_index(c) : 0);
		flush(c);
	}
}

static void wait_ready(void)
{
	uint64_t end = now_ns() + (uint64_t)(o.timeout * 1e9);
	for (;;) {
		int all = 1;
		for (int i = 0; i < nconn; i++)
			all &= conns[i]->ready;
		if (all)
			return;
		if (now_ns() > end) {
			errno = ETIMEDOUT;
			die("setup (subscriptions not confirmed)");
		}
		poll_once(10);
	}
}

static void publish_one(struct conn *c)
{
	char body[65536], frame[65536 + 512];
	int n = 0;
	pl_body_make(body, (size_t)o.body, now_ns(), (unsigned)c->pub, c->next++);
	switch (o.peer) {
	case PL_REDIS:
		n = pl_redis_pub(frame, sizeof(frame), o.topic, body, (size_t)o.body);
		break;
	case PL_NATS:
		n = pl_nats_pub(frame, sizeof(frame), o.topic, body, (size_t)o.body);
		break;
	case PL_MQTT:
		n = pl_mqtt_pub(frame, sizeof(frame), o.topic, body, (size_t)o.body);
		break;
	case PL_XMPP:
		n = pl_xmpp_pub(frame, sizeof(frame), o.topic, body, (size_t)o.body);
		break;
	}
	queue(c, frame, n);
}

/* Publish what is due: flat out up to the window, or at the rate from t0. True once all sent. */
static int publish_due(uint64_t t0)
{
	int done = 1;
	long per = o.count / o.pubs;
	for (int i = 0; i < nconn; i++) {
		struct conn *c = conns[i];
		if (c->pub < 0)
			continue;
		long due = per;
		if (o.rate > 0)
			due = (long)((double)(now_ns() - t0) * 1e-9 * o.rate / o.pubs) + 1;
		if (due > per)
			due = per;
		while ((long)c->next < due && (o.rate > 0 || c->next - acked[c->pub] < (uint32_t)o.window) &&
		       c->wlen + (size_t)o.body + 512 < WBUF)
			publish_one(c);
		flush(c);
		done &= (long)c->next >= per;
	}
	return done;
}

/* Process k: connect, say ready, wait for the start, run, send the result. */
static void child(int k, int ready_fd, int start_fd, int res_fd)
{
	open_conns(k);
	wait_ready();
	char b = 'R';
	if (write(ready_fd, &b, 1) != 1 || read(start_fd, &b, 1) < 0)
		die("pipe");
	uint64_t t0 = now_ns(), cpu0 = cpu_self_ns(), last = t0;
	uint64_t want = (uint64_t)(o.count / o.pubs * o.pubs) * (uint64_t)(nconn - (k ? 0 : o.pubs));
	uint64_t end = t0 + (uint64_t)(o.timeout * 1e9), seen = 0;
	while (res.deliveries < want) {
		int sent = k ? 1 : publish_due(t0);
		poll_once(o.rate > 0 || !sent ? 1 : 50);
		uint64_t t = now_ns();
		if (res.deliveries != seen)
			seen = res.deliveries, last = t;
		if (t > end || (sent && t - last > (uint64_t)(o.idle * 1e9)))
			break; /* lost messages: report what arrived */
	}
	res.cpu_ns = cpu_self_ns() - cpu0;
	if (write(res_fd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		die("result pipe");
	_exit(0);
}

static void usage(void)
{
	fputs("usage: peerload --peer redis|nats|mqtt|xmpp --port PORT [--host A] [--topic T]\n"
	      "  [--subscribers N] [--publishers P] [--count M] [--rate R] [--window W] [--body B]\n"
	      "  [--procs K] [--server-pid PID] [--domain D] [--timeout S] [--idle S]\n"
	      "One topic, N subscribers, P publishers, M messages in all (flat out, each publisher at\n"
	      "most W ahead of the first subscriber, or R messages/s); the subscribers are spread over\n"
	      "K processes. Prints one JSON line: deliveries, rates, the server's CPU seconds\n"
	      "(/proc/PID/stat) and the client's, post-to-deliver p50/p99/p99.9 in us.\n", stderr);
	exit(2);
}

static void parse_opts(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "peer", 1, 0, 'e' }, { "port", 1, 0, 'p' }, { "host", 1, 0, 'H' }, { "topic", 1, 0, 't' },
		{ "subscribers", 1, 0, 'n' }, { "publishers", 1, 0, 'P' }, { "count", 1, 0, 'c' },
		{ "rate", 1, 0, 'r' }, { "window", 1, 0, 'w' }, { "body", 1, 0, 'b' }, { "procs", 1, 0, 'k' },
		{ "server-pid", 1, 0, 's' }, { "domain", 1, 0, 'd' }, { "timeout", 1, 0, 'T' },
		{ "idle", 1, 0, 'i' }, { 0, 0, 0, 0 } };
	static const char *const names[] = { "redis", "nats", "mqtt", "xmpp" };
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'e':
			o.name = optarg;
			for (int i = 0; i < 4; i++)
				if (!strcmp(optarg, names[i]))
					o.peer = (enum pl_peer)i;
			break;
		case 'p': o.port = atoi(optarg); break;
		case 'H': o.host = optarg; break;
		case 't': o.topic = optarg; break;
		case 'n': o.subs = atoi(optarg); break;
		case 'P': o.pubs = atoi(optarg); break;
		case 'c': o.count = atol(optarg); break;
		case 'r': o.rate = atof(optarg); break;
		case 'w': o.window = atoi(optarg); break;
		case 'b': o.body = atoi(optarg); break;
		case 'k': o.procs = atoi(optarg); break;
		case 's': o.server_pid = atoi(optarg); break;
		case 'd': o.domain = optarg; break;
		case 'T': o.timeout = atof(optarg); break;
		case 'i': o.idle = atof(optarg); break;
		default: usage();
		}
	}
	if (!o.name || !o.port || o.subs < 1 || o.pubs < 1 || o.pubs > MAX_PUBS || o.procs < 1 ||
	    o.body < PL_BODY_MIN || o.body > 60000 || o.count < o.pubs || o.window < 1)
		usage();
	if (o.procs > o.subs)
		o.procs = o.subs;
}

static void print_json(const struct result *r, double secs, double srv, double cli, double cli_max)
{
	uint64_t want = (uint64_t)(o.count / o.pubs * o.pubs) * (uint64_t)o.subs;
	printf("{\"peer\":\"%s\",\"mode\":\"%s\",\"subscribers\":%d,\"publishers\":%d,\"body\":%d,"
	       "\"messages\":%ld,\"rate\":%.0f,\"deliveries\":%llu,\"lost\":%lld,\"bad\":%llu,"
	       "\"seconds\":%.3f,\"deliveries_per_s\":%.0f,\"server_cpu_s\":%.3f,"
	       "\"deliveries_per_cpu_s\":%.0f,\"client_procs\":%d,\"client_cpu_s\":%.3f,"
	       "\"client_max_core\":%.2f,\"client_saturated\":%s,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n",
	       o.name, o.rate > 0 ? "rate" : "flat", o.subs, o.pubs, o.body, o.count / o.pubs * o.pubs,
	       o.rate, (unsigned long long)r->deliveries, (long long)(want - r->deliveries),
	       (unsigned long long)r->bad, secs, r->deliveries / secs, srv,
	       srv > 0 ? r->deliveries / srv : 0.0, o.procs, cli, cli_max,
	       cli_max > 0.9 ? "true" : "false", rg_hist_quantile(&r->h, 0.5) / 1e3,
	       rg_hist_quantile(&r->h, 0.99) / 1e3, rg_hist_quantile(&r->h, 0.999) / 1e3);
}

int main(int argc, char **argv)
{
	parse_opts(argc, argv);
	int ready[2], start[2], resfd[MAX_PUBS * 4][2];
	if (o.procs > MAX_PUBS * 4 || pipe(ready) || pipe(start))
		die("pipe");
	for (int k = 0; k < o.procs; k++) {
		if (pipe(resfd[k]))
			die("pipe");
		pid_t pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			nkids = 0;
			close(start[1]);
			child(k, ready[1], start[0], resfd[k][1]);
		}
		kids[nkids++] = pid;
		close(resfd[k][1]);
	}
	close(start[0]);
	close(ready[1]); /* a client process that dies closes its end: the read below sees EOF */
	for (int k = 0; k < o.procs; k++) {
		char b;
		if (read(ready[0], &b, 1) != 1) {
			errno = ECHILD;
			die("a client process failed during setup");
		}
	}
	double srv0 = proc_cpu_s(o.server_pid);
	uint64_t t0 = now_ns();
	close(start[1]);
	static struct result all, r;
	double cli_max = 0, cli = 0;
	for (int k = 0; k < o.procs; k++) {
		size_t got = 0;
		ssize_t n;
		while (got < sizeof(r) && (n = read(resfd[k][0], (char *)&r + got, sizeof(r) - got)) > 0)
			got += (size_t)n;
		if (got != sizeof(r)) {
			errno = ECHILD;
			die("a client process failed");
		}
		all.deliveries += r.deliveries;
		all.bad += r.bad;
		pl_hist_merge(&all.h, &r.h);
		cli += (double)r.cpu_ns * 1e-9;
		if ((double)r.cpu_ns > cli_max)
			cli_max = (double)r.cpu_ns;
	}
	double secs = (double)(now_ns() - t0) * 1e-9;
	double srv = proc_cpu_s(o.server_pid) - srv0;
	while (wait(NULL) > 0)
		;
	print_json(&all, secs, o.server_pid ? srv : 0, cli, cli_max * 1e-9 / secs);
	return all.deliveries ? 0 : 1;
}
