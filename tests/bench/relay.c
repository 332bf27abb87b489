/* SPDX-License-Identifier: MIT */
/*
 * bench_relay: what does the relay envelope add to a datagram?
 *
 * One worker's state driven on this thread (no lcores), a net_ring port whose TX ring is
 * drained and freed after every flush, real QSBR. For a bundle of one DELIVER with a body of
 * 64, 200 and 1000 bytes, per datagram:
 *   tx client  rc_tx_append + rc_tx_flush to a client peer: the plain chat path (baseline)
 *   tx relay   the same to a relay peer: envelope header, counter, HMAC tag (keyed context)
 *   rx client  rc_pkt_classify of the client's frame (what precedes rc_req_input)
 *   rx relay   rc_pkt_classify + rc_relay_input of a sealed frame (fresh counters): sender,
 *              key id, replay window, tag; rc_relay_inner as built (relay_rooms.c)
 *   tag keyed  rc_relay_tag_keyed alone over the datagram; tag 1shot: rc_relay_tag (a new
 *              OpenSSL context per call), what the keyed contexts save
 * Figures: ns per datagram (CPU time of this thread, CLOCK_THREAD_CPUTIME_ID), the median of
 * 5 runs of -n datagrams (default 20000). No assertions; a check that every relay datagram
 * was accepted. `bench_relay [-n DATAGRAMS]`.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <urcu-qsbr.h>

#include "dp.h"
#include "fanout.h"
#include "relay.h"
#include "relay_wire.h"

#define RUNS 5

static struct rc_dp dp;
static struct rte_ring *txr;
static struct rc_peer client, relay_peer;
static unsigned n_dgrams = 20000;
static struct rte_mbuf **frames; /* prepared sealed frames (rx relay) */

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_relay: %s\n", what);
	exit(1);
}

static void
setup(void)
{
	static const struct rte_eth_conf conf;
	struct rte_ring *rxr;
	struct rc_relay_dir d = { .self_id = "1a", .n_nodes = 1 };
	struct rc_worker *w;
	int port;

	dp.mbuf_pool = rte_pktmbuf_pool_create("br_mbuf", n_dgrams + 2048, 256, 0,
					       RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	rxr = rte_ring_create("br_rx", 64, 0, 0);
	txr = rte_ring_create("br_tx", 1024, 0, 0);
	if (dp.mbuf_pool == NULL || rxr == NULL || txr == NULL)
		die("pool or rings");
	port = rte_eth_from_rings("br_port", &rxr, 1, &txr, 1, 0);
	if (port < 0 || rte_eth_dev_configure((uint16_t)port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup((uint16_t)port, 0, 64, 0, NULL, dp.mbuf_pool) != 0 ||
	    rte_eth_tx_queue_setup((uint16_t)port, 0, 512, 0, NULL) != 0 ||
	    rte_eth_dev_start((uint16_t)port) != 0)
		die("port");
	dp.n_ports = 1;
	dp.ports[0].port_id = (uint16_t)port;
	dp.ports[0].local = (struct rc_local){ .mac = { { 2, 0, 0, 0, 0, 0xa } },
					       .ip = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 1)),
					       .udp_port = rte_cpu_to_be_16(6420), .ip_on = true };
	dp.n_workers = 1;
	w = rte_zmalloc("br_w", sizeof(*w), RTE_CACHE_LINE_SIZE);
	if (w == NULL)
		die("worker");
	w->tx = rte_ring_create("br_wtx", 64, 0, 0);
	dp.workers[0] = w;
	/* the node talks to itself: its own address is the "other" node's */
	snprintf(d.nodes[0].id, 64, "1a");
	snprintf(d.self_id, 64, "1a");
	d.nodes[0].ip = dp.ports[0].local.ip;
	d.nodes[0].udp_port = dp.ports[0].local.udp_port;
	d.nodes[0].key_id = 1;
	rc_relay_pair_key("secret", 6, "1a", "1a", d.nodes[0].key);
	if (rc_relay_publish(&dp, &d) != 0)
		die("publish");
	relay_peer = (struct rc_peer){ .ip = d.nodes[0].ip, .udp_port = d.nodes[0].udp_port,
				       .mac = dp.ports[0].local.mac, .relay = 1 };
	client = (struct rc_peer){ .ip = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 9)),
				   .udp_port = rte_cpu_to_be_16(40000),
				   .mac = { { 2, 0, 0, 0, 0, 9 } } };
}

static uint16_t
deliver(uint8_t *buf, unsigned body_len)
{
	static char body[RC_MAX_BODY];
	struct rc_msg m = { .hdr = { .type = RC_T_DELIVER } };

	memset(body, 'x', sizeof(body));
	m.u.deliver = (typeof(m.u.deliver)){ .room_id = 7, .seq = 1, .sender = { "alice", 5 },
					     .body = { body, (uint16_t)body_len } };
	return (uint16_t)rc_encode(buf, RC_MAX_DGRAM, &m);
}

/* Sends n datagrams of msg to `to`, one per flush; keeps the frames when keep. ns each. */
static double
tx(const struct rc_peer *to, const uint8_t *msg, uint16_t len, unsigned n, bool keep)
{
	struct rc_worker *w = dp.workers[0];
	struct rte_mbuf *m;
	uint64_t t = 0, t0;

	for (unsigned i = 0; i < n; i++) {
		t0 = cpu_ns();
		rc_tx_append(&dp, w, to, msg, len);
		rc_tx_flush(&dp, w);
		t += cpu_ns() - t0;
		while (rte_ring_dequeue(txr, (void **)&m) == 0)
			if (keep)
				frames[i] = m;
			else
				rte_pktmbuf_free(m);
	}
	return (double)t / n;
}

/* Classifies (and for relay frames verifies) the n kept frames. ns each. */
static double
rx(unsigned n, bool relay, unsigned *accepted)
{
	struct rc_worker *w = dp.workers[0];
	uint64_t before = w->relay_stats.dgrams_in, t0 = cpu_ns();
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	for (unsigned i = 0; i < n; i++)
		if (rc_pkt_classify(frames[i], &dp.ports[0].local, &peer, &payload, &len, &why) ==
			    RC_V_CHAT &&
		    relay)
			rc_relay_input(&dp, w, &peer, payload, len);
	t0 = cpu_ns() - t0;
	*accepted = (unsigned)(w->relay_stats.dgrams_in - before);
	for (unsigned i = 0; i < n; i++)
		rte_pktmbuf_free(frames[i]);
	return (double)t0 / n;
}

static double
tag(const uint8_t *msg, uint16_t len, unsigned n, bool keyed)
{
	static const uint8_t key[32] = { 1 };
	struct rc_hmac_keyed *k = rc_hmac_keyed_new(key, sizeof(key));
	uint8_t out[RC_RELAY_TAG_LEN];
	uint64_t t0 = cpu_ns();

	for (unsigned i = 0; i < n; i++)
		if (keyed)
			rc_relay_tag_keyed(k, msg, len, out);
		else
			rc_relay_tag(key, msg, len, out);
	t0 = cpu_ns() - t0;
	rc_hmac_keyed_free(k);
	return (double)t0 / n;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v)
{
	qsort(v, RUNS, sizeof(*v), cmp_double);
	return v[RUNS / 2];
}

static void
point(unsigned body)
{
	double r[6][RUNS];
	uint8_t msg[RC_MAX_DGRAM];
	uint16_t len = deliver(msg, body);
	unsigned ok = 0, acc;

	for (unsigned k = 0; k < RUNS; k++) {
		r[0][k] = tx(&client, msg, len, n_dgrams, true);
		r[2][k] = rx(n_dgrams, false, &acc);
		r[1][k] = tx(&relay_peer, msg, len, n_dgrams, true);
		r[3][k] = rx(n_dgrams, true, &acc);
		ok += acc;
		r[4][k] = tag(msg, len, n_dgrams, true);
		r[5][k] = tag(msg, len, n_dgrams / 4, false);
	}
	printf("%5u %5u %10.0f %10.0f %10.0f %10.0f %10.0f %10.0f %s\n", body, len, median(r[0]),
	       median(r[1]), median(r[2]), median(r[3]), median(r[4]), median(r[5]),
	       ok == RUNS * n_dgrams ? "ok" : "LOST");
}

int
main(int argc, char **argv)
{
	char *eal[] = { "bench_relay", "--no-huge", "--no-pci", "-m", "256", "-l", "0",
			"--file-prefix=rc-bench-relay", "--log-level=3", NULL };
	int c;

	while ((c = getopt(argc, argv, "n:h")) != -1) {
		if (c != 'n') {
			fprintf(stderr, "usage: bench_relay [-n DATAGRAMS]\n");
			return c == 'h' ? 0 : 2;
		}
		n_dgrams = (unsigned)strtoul(optarg, NULL, 10);
	}
	if (n_dgrams == 0 || n_dgrams > 4000000)
		die("-n: 1..4000000");
	if (rte_eal_init(9, eal) < 0)
		die("EAL init");
	frames = calloc(n_dgrams, sizeof(*frames));
	if (frames == NULL)
		die("frames");
	rcu_register_thread();
	setup();
	printf("ns per datagram (median of %d runs of %u), bundle = one DELIVER\n", RUNS,
	       n_dgrams);
	printf("%5s %5s %10s %10s %10s %10s %10s %10s\n", "body", "bytes", "tx client",
	       "tx relay", "rx client", "rx relay", "tag keyed", "tag 1shot");
	point(64);
	point(200);
	point(1000);
	rcu_unregister_thread();
	return 0;
}
