/* SPDX-License-Identifier: MIT */
/*
 * The relay transport on the dataplane (dataplane/relay.c, neigh.c, the TX slots and the
 * worker's per-frame step): two nodes A and B, each a struct rc_dp with two workers' state
 * driven by hand in this thread (no lcores), a net_ring port whose TX rings the test reads
 * back, and real liburcu QSBR. What A sends to B as a relay peer is fed to B's worker as
 * a received frame (rc_worker_rx_frame); rc_relay_inner (relay_rooms.c) is wrapped by the
 * linker (--wrap) so the test sees what the transport hands over.
 *
 * Covered: publication (look-ups, stable indexes across publications, bad directories),
 * rc_relay_peer_of (unresolved: -EHOSTUNREACH and counted), ARP learning (gratuitous
 * request and reply, a reply to us, a request we answer; a MAC change bumps the
 * generation, the same MAC does not; other senders ignored), the ARP requests of
 * rc_neigh_solicit (unresolved and stale entries only), the TX slot wrap (a sealed datagram
 * B accepts and hands over with the right bundle, to the learned MAC; a client's datagram
 * unwrapped in the same flush; many messages: several datagrams within 1472 bytes, all
 * verified, in order), rc_dp_send_msg's wrap, and every drop: a flipped byte, a truncated
 * tag, a wrong key, a wrong key id, a wrong sender (IP or id), a replayed counter, a
 * malformed envelope; the lanes of two workers accepted in any order.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_arp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <urcu-qsbr.h>

#include "dp.h"
#include "eal_fixture.h"
#include "fanout.h"
#include "relay.h"
#include "relay_wire.h"

#define NW 2

struct node {
	struct rc_dp dp;
	struct rte_ring *rxr, *txr[NW];
	struct rte_ring *rings[16];
	unsigned n_rings;
};

static struct rte_mempool *pool;
static struct node A, B;
static unsigned seq;
static uint8_t key_ab[32];

#define IP_A RTE_IPV4(198u, 18, 0, 1)
#define IP_B RTE_IPV4(198u, 18, 0, 2)
#define IP_C RTE_IPV4(198u, 18, 0, 3)
static const struct rte_ether_addr mac_a = { { 0x02, 0, 0, 0, 0, 0x0a } };
static const struct rte_ether_addr mac_b = { { 0x02, 0, 0, 0, 0, 0x0b } };
static const struct rte_ether_addr mac_b2 = { { 0x02, 0, 0, 0, 0, 0xb2 } };

/* What the transport handed to rc_relay_inner. */
static struct {
	unsigned calls;
	struct rc_dp *dp;
	unsigned idx;
	struct rc_peer from;
	uint8_t bundle[64 * RC_MAX_DGRAM];
	unsigned len; /* concatenated over calls */
} inner;

void __wrap_rc_relay_inner(struct rc_dp *dp, struct rc_worker *w, unsigned idx,
			   const struct rc_peer *from, const uint8_t *bundle, uint16_t len);

void
__wrap_rc_relay_inner(struct rc_dp *dp, struct rc_worker *w, unsigned idx,
		      const struct rc_peer *from, const uint8_t *bundle, uint16_t len)
{
	(void)w;
	inner.calls++;
	inner.dp = dp;
	inner.idx = idx;
	inner.from = *from;
	assert_true(inner.len + len <= sizeof(inner.bundle));
	memcpy(inner.bundle + inner.len, bundle, len);
	inner.len += len;
}

static struct rte_ring *
ring(struct node *n, const char *what, unsigned i)
{
	char name[32];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "rt_%s_%u_%u", what, seq, i);
	r = rte_ring_create(name, 1024, SOCKET_ID_ANY, 0);
	assert_non_null(r);
	n->rings[n->n_rings++] = r;
	return r;
}

static void
node_init(struct node *n, uint32_t ip, const struct rte_ether_addr *mac)
{
	static const struct rte_eth_conf conf;
	char name[32];
	int port;

	seq++;
	memset(n, 0, sizeof(*n));
	n->dp.mbuf_pool = pool;
	n->rxr = ring(n, "rx", 0);
	for (unsigned i = 0; i < NW; i++)
		n->txr[i] = ring(n, "tx", i);
	snprintf(name, sizeof(name), "rt_port%u", seq);
	port = rte_eth_from_rings(name, &n->rxr, 1, n->txr, NW, SOCKET_ID_ANY);
	assert_true(port >= 0);
	assert_int_equal(rte_eth_dev_configure((uint16_t)port, 1, NW, &conf), 0);
	assert_int_equal(rte_eth_rx_queue_setup((uint16_t)port, 0, 64, SOCKET_ID_ANY, NULL, pool),
			 0);
	for (unsigned i = 0; i < NW; i++)
		assert_int_equal(rte_eth_tx_queue_setup((uint16_t)port, (uint16_t)i, 64,
							SOCKET_ID_ANY, NULL), 0);
	assert_int_equal(rte_eth_dev_start((uint16_t)port), 0);
	n->dp.n_ports = 1;
	n->dp.ports[0].port_id = (uint16_t)port;
	n->dp.ports[0].n_rxq = 1;
	n->dp.ports[0].local = (struct rc_local){ .mac = *mac, .ip = rte_cpu_to_be_32(ip),
						  .udp_port = rte_cpu_to_be_16(6420),
						  .ip_on = true };
	n->dp.n_workers = NW;
	for (unsigned i = 0; i < NW; i++) {
		struct rc_worker *w = rte_zmalloc("rt_w", sizeof(*w), RTE_CACHE_LINE_SIZE);

		assert_non_null(w);
		w->idx = i;
		w->tx = ring(n, "wtx", i);
		n->dp.workers[i] = w;
	}
}

static void
node_fini(struct node *n)
{
	rc_relay_destroy(&n->dp);
	rte_eth_dev_stop(n->dp.ports[0].port_id);
	rte_eth_dev_close(n->dp.ports[0].port_id);
	for (unsigned i = 0; i < NW; i++)
		rte_free(n->dp.workers[i]);
	while (n->n_rings > 0)
		rte_ring_free(n->rings[--n->n_rings]);
}

/* A directory of `self` whose first node is `other` (at ip, with key and key id). */
static void
dir_of(struct rc_relay_dir *d, const char *self, const char *other, uint32_t ip,
       const uint8_t key[32], uint8_t key_id)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->self_id, sizeof(d->self_id), "%s", self);
	snprintf(d->service[0], RC_SERVICE_MAX, "tc-%s.c1", self);
	d->n_nodes = 1;
	snprintf(d->nodes[0].id, sizeof(d->nodes[0].id), "%s", other);
	snprintf(d->nodes[0].service, RC_SERVICE_MAX, "tc-%s.c1", other);
	d->nodes[0].ip = rte_cpu_to_be_32(ip);
	d->nodes[0].udp_port = rte_cpu_to_be_16(6420);
	memcpy(d->nodes[0].key, key, 32);
	d->nodes[0].key_id = key_id;
}

static void
publish_pair(void)
{
	struct rc_relay_dir d;

	dir_of(&d, "1a", "1b", IP_B, key_ab, 1);
	assert_int_equal(rc_relay_publish(&A.dp, &d), 0);
	dir_of(&d, "1b", "1a", IP_A, key_ab, 1);
	assert_int_equal(rc_relay_publish(&B.dp, &d), 0);
}

/* An ARP frame (op) from ip/mac for tip, as the wire brings it (built as that sender's
 * node would, rc_pkt_arp_request, then given the opcode). */
static struct rte_mbuf *
arp_frame(uint16_t op, uint32_t ip, const struct rte_ether_addr *mac, uint32_t tip)
{
	struct rc_local sender = { .mac = *mac, .ip = rte_cpu_to_be_32(ip) };
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_arp_hdr *arp;

	assert_non_null(m);
	assert_int_equal(rc_pkt_arp_request(m, &sender, rte_cpu_to_be_32(tip)), 0);
	arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	arp->arp_opcode = rte_cpu_to_be_16(op);
	return m;
}

/* Both nodes know each other's MAC (B's gratuitous ARP seen by A, and A's by B). */
static void
resolve_pair(void)
{
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REQUEST, IP_B, &mac_b, IP_B));
	rc_worker_rx_frame(&B.dp, B.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REQUEST, IP_A, &mac_a, IP_A));
}

static int
setup(void **state)
{
	(void)state;
	node_init(&A, IP_A, &mac_a);
	node_init(&B, IP_B, &mac_b);
	rc_relay_pair_key("s3cret", 6, "1a", "1b", key_ab);
	memset(&inner, 0, sizeof(inner));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	node_fini(&A);
	node_fini(&B);
	return 0;
}

static struct rc_relay_stats
stats(struct node *n)
{
	struct rc_relay_stats s;

	rc_relay_stats_sum(&n->dp, &s);
	return s;
}

/* Frames on a ring, in order, into out[]; how many. */
static unsigned
take(struct rte_ring *r, struct rte_mbuf **out, unsigned max)
{
	unsigned n = 0;

	while (n < max && rte_ring_dequeue(r, (void **)&out[n]) == 0)
		n++;
	return n;
}

/* The UDP payload of frame m. */
static const uint8_t *
payload_of(const struct rte_mbuf *m, uint16_t *len)
{
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	const struct rte_udp_hdr *udp = (const void *)(p + 14 + 20);

	*len = (uint16_t)(rte_be_to_cpu_16(udp->dgram_len) - 8);
	return p + RC_L2L4_LEN;
}

/* A DELIVER with body_len bytes of body, encoded into buf; its length. */
static uint16_t
deliver(uint8_t *buf, uint64_t seq_no, unsigned body_len)
{
	static char body[RC_MAX_BODY];
	struct rc_msg m = { .hdr = { .type = RC_T_DELIVER } };
	ssize_t n;

	memset(body, 'x', sizeof(body));
	m.u.deliver.room_id = 7;
	m.u.deliver.seq = seq_no;
	m.u.deliver.sender = (struct rc_str){ "alice", 5 };
	m.u.deliver.body = (struct rc_str){ body, (uint16_t)body_len };
	n = rc_encode(buf, RC_MAX_DGRAM, &m);
	assert_true(n > 0);
	return (uint16_t)n;
}

/* ---- directory ---- */

static void
test_publish_lookup(void **state)
{
	struct rc_relay_dir d;
	uint8_t key[32] = { 1 };
	int x, y, z;

	(void)state;
	assert_int_equal(rc_relay_find_node(&A.dp, "2a"), -1); /* nothing published yet */
	assert_string_equal(rc_relay_scope_service(&A.dp, 0), "");
	dir_of(&d, "1a", "1b", IP_B, key, 1);
	snprintf(d.service[1], RC_SERVICE_MAX, "tc-1b.c1");
	d.n_nodes = 3;
	d.nodes[1] = d.nodes[0];
	snprintf(d.nodes[1].id, 64, "2a");
	snprintf(d.nodes[1].service, RC_SERVICE_MAX, "tc-2a.c1");
	d.nodes[1].ip = rte_cpu_to_be_32(IP_C);
	d.nodes[2] = d.nodes[1];
	snprintf(d.nodes[2].id, 64, "2b");
	snprintf(d.nodes[2].service, RC_SERVICE_MAX, "tc-2b.c1");
	d.nodes[2].ip = rte_cpu_to_be_32(RTE_IPV4(198u, 18, 0, 4));
	assert_int_equal(rc_relay_publish(&A.dp, &d), 0);
	assert_string_equal(rc_relay_scope_service(&A.dp, 0), "tc-1a.c1");
	assert_string_equal(rc_relay_scope_service(&A.dp, 1), "tc-1b.c1");
	assert_string_equal(rc_relay_scope_service(&A.dp, 2), "");
	x = rc_relay_find_node(&A.dp, "2a");
	y = rc_relay_find_node(&A.dp, "2b");
	assert_true(x >= 0 && y >= 0 && x != y);
	assert_int_equal(rc_relay_find_service(&A.dp, "tc-2a.c1", 8), x);
	assert_int_equal(rc_relay_find_service(&A.dp, "tc-2a.c", 7), -1);
	assert_int_equal(rc_relay_find_service(&A.dp, "tc-1a.c1", 8), -1); /* ours: no node */
	assert_int_equal(rc_relay_find_node(&A.dp, ""), -1);

	/* 2a leaves, 2c comes, the order changes: 2b keeps its index, 2c takes a free one */
	d.n_nodes = 2;
	d.nodes[0] = d.nodes[2];
	snprintf(d.nodes[1].id, 64, "2c");
	snprintf(d.nodes[1].service, RC_SERVICE_MAX, "tc-2c.c1");
	assert_int_equal(rc_relay_publish(&A.dp, &d), 0);
	assert_int_equal(rc_relay_find_node(&A.dp, "2b"), y);
	assert_int_equal(rc_relay_find_node(&A.dp, "2a"), -1);
	z = rc_relay_find_node(&A.dp, "2c");
	assert_true(z >= 0 && z != y && z != x);
	assert_int_equal(rc_relay_find_service(&A.dp, "tc-2a.c1", 8), -1);

	d.nodes[1] = d.nodes[0]; /* a duplicate id */
	assert_int_equal(rc_relay_publish(&A.dp, &d), -EINVAL);
	d.n_nodes = RC_RELAY_MAX_NODES + 1;
	assert_int_equal(rc_relay_publish(&A.dp, &d), -EINVAL);
	d.n_nodes = 1;
	d.self_id[0] = '\0';
	assert_int_equal(rc_relay_publish(&A.dp, &d), -EINVAL);
	assert_int_equal(rc_relay_find_node(&A.dp, "2b"), y); /* the last good one stays */
}

/* ---- neighbours ---- */

static void
test_peer_of_unresolved(void **state)
{
	struct rc_peer p;

	(void)state;
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), -ENOENT); /* no directory */
	publish_pair();
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), -EHOSTUNREACH);
	assert_int_equal(stats(&A).drops[RC_RELAY_DROP_NO_NEIGH], 1);
	assert_int_equal(rc_relay_peer_of(&A.dp, 5, &p), -ENOENT);
	assert_int_equal(stats(&A).drops[RC_RELAY_DROP_NO_NODE], 1);
	resolve_pair();
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), 0);
	assert_int_equal(p.relay, 1);
	assert_int_equal(p.ip, rte_cpu_to_be_32(IP_B));
	assert_int_equal(p.udp_port, rte_cpu_to_be_16(6420));
	assert_int_equal(p.vip, 0);
	assert_true(rte_is_same_ether_addr(&p.mac, &mac_b));
}

static void
test_arp_learning(void **state)
{
	struct rte_ether_addr mac_b3 = { { 0x02, 0, 0, 0, 0, 0xb3 } };
	struct rte_mbuf *out[4];
	struct rc_peer p;

	(void)state;
	publish_pair();
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 0);
	/* a gratuitous ARP request */
	rc_worker_rx_frame(&A.dp, A.dp.workers[1], 0,
			   arp_frame(RTE_ARP_OP_REQUEST, IP_B, &mac_b, IP_B));
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 1);
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), 0);
	assert_true(rte_is_same_ether_addr(&p.mac, &mac_b));
	/* the same MAC again, in a reply to our request: confirmed, no new generation */
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REPLY, IP_B, &mac_b, IP_A));
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 1);
	/* the address moved (HA takeover): its gratuitous ARP reply from another MAC */
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REPLY, IP_B, &mac_b2, IP_B));
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 2);
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), 0);
	assert_true(rte_is_same_ether_addr(&p.mac, &mac_b2));
	/* a request for our address, which we answer: its sender learned too */
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REQUEST, IP_B, &mac_b3, IP_A));
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 3);
	rc_tx_flush(&A.dp, A.dp.workers[0]);
	assert_int_equal(take(A.txr[0], out, 4), 1); /* our reply went out */
	rte_pktmbuf_free(out[0]);
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), 0);
	assert_true(rte_is_same_ether_addr(&p.mac, &mac_b3));
	/* a sender that is no directory node: nothing learned */
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REQUEST, IP_C, &mac_b, IP_C));
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 3);
	assert_int_equal(stats(&A).neigh_learned, 3);
	/* republished at another address: unresolved again */
	{
		struct rc_relay_dir d;

		dir_of(&d, "1a", "1b", IP_C, key_ab, 1);
		assert_int_equal(rc_relay_publish(&A.dp, &d), 0);
		assert_int_equal(rc_relay_peer_of(&A.dp, 0, &p), -EHOSTUNREACH);
	}
}

static void
test_solicit(void **state)
{
	struct rte_mbuf *out[4];
	const struct rte_arp_hdr *arp;

	(void)state;
	publish_pair();
	rc_neigh_solicit(&A.dp, rc_mono_ms());
	assert_int_equal(take(A.dp.workers[0]->tx, out, 4), 1);
	arp = rte_pktmbuf_mtod_offset(out[0], const struct rte_arp_hdr *, 14);
	assert_int_equal(arp->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REQUEST));
	assert_int_equal(arp->arp_data.arp_tip, rte_cpu_to_be_32(IP_B));
	assert_int_equal(arp->arp_data.arp_sip, rte_cpu_to_be_32(IP_A));
	assert_true(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &mac_a));
	/* B answers it (B's worker replies; the reply reaches A) */
	rc_worker_rx_frame(&B.dp, B.dp.workers[0], 0, out[0]);
	rc_tx_flush(&B.dp, B.dp.workers[0]);
	assert_int_equal(take(B.txr[0], out, 4), 1);
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0, out[0]);
	assert_int_equal(rc_neigh_gen(&A.dp, 0), 1);
	rc_neigh_solicit(&A.dp, rc_mono_ms());
	assert_int_equal(take(A.dp.workers[0]->tx, out, 4), 0); /* fresh: not asked */
	rc_neigh_solicit(&A.dp, rc_mono_ms() + RC_NEIGH_STALE_MS + 1000);
	assert_int_equal(take(A.dp.workers[0]->tx, out, 4), 1); /* stale: asked again */
	rte_pktmbuf_free(out[0]);
}

/* ---- TX and RX ---- */

static void
test_slot_wrap(void **state)
{
	struct rc_peer to, client = { .ip = rte_cpu_to_be_32(IP_C), .udp_port = 999,
				      .mac = mac_b };
	uint8_t m1[RC_MAX_DGRAM], m2[RC_MAX_DGRAM], want[2 * RC_MAX_DGRAM];
	uint16_t n1 = deliver(m1, 1, 10), n2 = deliver(m2, 2, 20), len;
	struct rc_worker *w = A.dp.workers[1];
	struct rte_mbuf *out[8];
	const struct rte_ether_hdr *eth;
	const uint8_t *p;

	(void)state;
	publish_pair();
	resolve_pair();
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &to), 0);
	to.mac = mac_b2; /* a stale MAC in a stored peer: the learned one wins */
	assert_int_equal(rc_tx_append(&A.dp, w, &to, m1, n1), 0);
	assert_int_equal(rc_tx_append(&A.dp, w, &client, m1, n1), 0);
	assert_int_equal(rc_tx_append(&A.dp, w, &to, m2, n2), 0);
	rc_tx_flush(&A.dp, w);
	assert_int_equal(take(A.txr[1], out, 8), 2);

	eth = rte_pktmbuf_mtod(out[0], const struct rte_ether_hdr *);
	assert_true(rte_is_same_ether_addr(&eth->dst_addr, &mac_b));
	p = payload_of(out[0], &len);
	assert_int_equal(p[0], 'R');
	assert_int_equal(p[1], 'N');
	assert_int_equal(len, rc_relay_hdr_len(2) + n1 + n2 + RC_RELAY_TAG_LEN);
	p = payload_of(out[1], &len); /* the client's: as before, no envelope */
	assert_int_equal(len, n1);
	assert_memory_equal(p, m1, n1);
	rte_pktmbuf_free(out[1]);

	rc_worker_rx_frame(&B.dp, B.dp.workers[0], 0, out[0]);
	assert_int_equal(inner.calls, 1);
	assert_ptr_equal(inner.dp, &B.dp);
	assert_int_equal(inner.idx, 0);
	assert_int_equal(inner.from.relay, 1);
	assert_int_equal(inner.from.ip, rte_cpu_to_be_32(IP_A));
	assert_int_equal(inner.from.udp_port, rte_cpu_to_be_16(6420));
	assert_int_equal(inner.from.vip, 0);
	memcpy(want, m1, n1);
	memcpy(want + n1, m2, n2);
	assert_int_equal(inner.len, n1 + n2);
	assert_memory_equal(inner.bundle, want, n1 + n2);
	assert_int_equal(stats(&A).dgrams_out, 1);
	assert_int_equal(stats(&B).dgrams_in, 1);
	assert_int_equal(B.dp.workers[0]->stats.drops[RC_DROP_MSG_MALFORMED], 0);
}

static void
test_slot_capacity(void **state)
{
	static uint8_t want[64 * RC_MAX_DGRAM];
	struct rc_worker *w = A.dp.workers[0];
	uint8_t m[RC_MAX_DGRAM];
	struct rte_mbuf *out[64];
	size_t total = 0;
	unsigned n, i;
	struct rc_peer to;
	uint16_t len;

	(void)state;
	publish_pair();
	resolve_pair();
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &to), 0);
	for (i = 0; i < 40; i++) {
		uint16_t k = deliver(m, i + 1, 100 + 13 * i);

		assert_int_equal(rc_tx_append(&A.dp, w, &to, m, k), 0);
		memcpy(want + total, m, k);
		total += k;
	}
	/* bytes that fit a plain datagram but not an envelope: refused, counted */
	assert_int_equal(rc_tx_append(&A.dp, w, &to, m, RC_MAX_DGRAM - 20), -ENOBUFS);
	assert_int_equal(stats(&A).drops[RC_RELAY_DROP_TOO_BIG], 1);
	rc_tx_flush(&A.dp, w);
	n = take(A.txr[0], out, 64);
	assert_true(n > 3);
	for (i = 0; i < n; i++) {
		payload_of(out[i], &len);
		assert_true(len <= RC_MAX_DGRAM);
		rc_worker_rx_frame(&B.dp, B.dp.workers[0], 0, out[i]);
	}
	assert_int_equal(inner.calls, n);
	assert_int_equal(inner.len, total);
	assert_memory_equal(inner.bundle, want, total);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_REPLAY], 0);
}

static void
test_send_msg_wrap(void **state)
{
	struct rc_msg msg = { .hdr = { .type = RC_T_PING, .session = 5, .request_id = 9 } };
	uint8_t want[64];
	ssize_t n = rc_encode(want, sizeof(want), &msg);
	struct rte_mbuf *out[4];
	struct rc_relay_env e;
	struct rc_peer to;
	const uint8_t *p;
	uint16_t len;

	(void)state;
	publish_pair();
	resolve_pair();
	assert_int_equal(rc_relay_peer_of(&A.dp, 0, &to), 0);
	assert_int_equal(rc_dp_send_msg(&A.dp, 1, &to, &msg), 0);
	assert_int_equal(take(A.dp.workers[1]->tx, out, 4), 1);
	p = payload_of(out[0], &len);
	assert_int_equal(rc_relay_get(p, len, &e), 0);
	assert_int_equal(e.counter & 31, RC_RELAY_LANE_CTRL);
	rc_worker_rx_frame(&B.dp, B.dp.workers[1], 0, out[0]);
	assert_int_equal(inner.calls, 1);
	assert_int_equal(inner.len, (unsigned)n);
	assert_memory_equal(inner.bundle, want, (size_t)n);

	to.relay = 9; /* no such node */
	assert_int_equal(rc_dp_send_msg(&A.dp, 1, &to, &msg), -ENOENT);
	assert_int_equal(stats(&A).drops[RC_RELAY_DROP_NO_NODE], 1);
}

/* One sealed frame from A's worker wi to A's directory node idx, received by B: its payload
 * copied into buf; the rx peer B sees. */
static uint16_t
sealed_from_a_to(unsigned idx, unsigned wi, uint8_t *buf, struct rc_peer *peer,
		 uint64_t seq_no)
{
	struct rte_mbuf *out[2];
	const uint8_t *pl;
	struct rc_peer to;
	uint8_t m[RC_MAX_DGRAM];
	enum rc_drop why;
	uint16_t len;

	assert_int_equal(rc_relay_peer_of(&A.dp, idx, &to), 0);
	assert_int_equal(rc_tx_append(&A.dp, A.dp.workers[wi], &to, m, deliver(m, seq_no, 8)),
			 0);
	rc_tx_flush(&A.dp, A.dp.workers[wi]);
	assert_int_equal(take(A.txr[wi], out, 2), 1);
	assert_int_equal(rc_pkt_classify(out[0], &B.dp.ports[0].local, peer, &pl, &len, &why),
			 RC_V_CHAT);
	memcpy(buf, pl, len);
	rte_pktmbuf_free(out[0]);
	return len;
}

static uint16_t
sealed_from_a(unsigned wi, uint8_t *buf, struct rc_peer *peer, uint64_t seq_no)
{
	return sealed_from_a_to(0, wi, buf, peer, seq_no);
}

static void
test_rx_drops(void **state)
{
	struct rc_worker *w = B.dp.workers[0];
	uint8_t good[RC_MAX_DGRAM], bad[RC_MAX_DGRAM], other_key[32];
	struct rc_peer peer, wrong;
	struct rc_relay_dir d;
	uint16_t len;

	(void)state;
	publish_pair();
	resolve_pair();
	len = sealed_from_a(0, good, &peer, 1);

	memcpy(bad, good, len);
	bad[len - RC_RELAY_TAG_LEN - 3] ^= 0x10; /* a byte of the bundle */
	rc_relay_input(&B.dp, w, &peer, bad, len);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_TAG], 1);
	rc_relay_input(&B.dp, w, &peer, good, (uint16_t)(len - 1)); /* a truncated tag */
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_TAG], 2);
	wrong = peer;
	wrong.ip = rte_cpu_to_be_32(IP_C); /* from an address the directory does not know */
	rc_relay_input(&B.dp, w, &wrong, good, len);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_SENDER], 1);
	memcpy(bad, good, len);
	bad[RC_RELAY_FIXED_LEN + 2] = 'z'; /* sender "1z" from 1a's address */
	rc_relay_input(&B.dp, w, &peer, bad, len);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_SENDER], 2);
	rc_relay_input(&B.dp, w, &peer, good, 10);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_MALFORMED], 1);
	assert_int_equal(inner.calls, 0);

	rc_relay_input(&B.dp, w, &peer, good, len);
	assert_int_equal(inner.calls, 1);
	rc_relay_input(&B.dp, w, &peer, good, len); /* replayed */
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_REPLAY], 1);
	assert_int_equal(inner.calls, 1);

	/* B holds another key for A (another secret), then another key id */
	rc_relay_pair_key("other", 5, "1a", "1b", other_key);
	dir_of(&d, "1b", "1a", IP_A, other_key, 1);
	assert_int_equal(rc_relay_publish(&B.dp, &d), 0);
	len = sealed_from_a(0, good, &peer, 2);
	rc_relay_input(&B.dp, w, &peer, good, len);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_TAG], 3);
	dir_of(&d, "1b", "1a", IP_A, key_ab, 2);
	assert_int_equal(rc_relay_publish(&B.dp, &d), 0);
	rc_relay_input(&B.dp, w, &peer, good, len);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_KEY], 1);
	dir_of(&d, "1b", "1a", IP_A, key_ab, 1);
	assert_int_equal(rc_relay_publish(&B.dp, &d), 0);
	rc_relay_input(&B.dp, w, &peer, good, len); /* the same datagram, now accepted */
	assert_int_equal(inner.calls, 2);
	assert_int_equal(stats(&B).dgrams_in, 2);
}

/* Two sending workers count on lanes of their own: B accepts each in any order. */
static void
test_lanes(void **state)
{
	uint8_t a0[RC_MAX_DGRAM], a1[RC_MAX_DGRAM], a0b[RC_MAX_DGRAM];
	struct rc_peer p0, p1, p0b;
	uint16_t n0, n1, n0b;

	(void)state;
	publish_pair();
	resolve_pair();
	n0 = sealed_from_a(0, a0, &p0, 1);
	n0b = sealed_from_a(0, a0b, &p0b, 2);
	for (int i = 0; i < 100; i++) /* worker 1 far ahead of worker 0 */
		n1 = sealed_from_a(1, a1, &p1, 3);
	rc_relay_input(&B.dp, B.dp.workers[0], &p1, a1, n1);
	rc_relay_input(&B.dp, B.dp.workers[0], &p0b, a0b, n0b);
	rc_relay_input(&B.dp, B.dp.workers[0], &p0, a0, n0); /* reordered, within its lane */
	assert_int_equal(inner.calls, 3);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_REPLAY], 0);
}

/*
 * B is the HA peer of 1c and serves 1c's address (a takeover). A, which does not know the
 * address moved, seals for 1c with the pair key (1a, 1c): B accepts it on 1c's address with
 * its peer key, never on its own address, and a datagram sealed for B is refused on 1c's
 * address. A's two streams (to 1b, to 1c) count apart and are windowed apart.
 */
static void
test_peer_address(void **state)
{
	uint8_t key_ac[32], to_b[RC_MAX_DGRAM], to_c[RC_MAX_DGRAM];
	struct rc_peer pb, pc, wrong;
	struct rc_relay_dir d;
	uint16_t nb, nc;

	(void)state;
	rc_relay_pair_key("s3cret", 6, "1a", "1c", key_ac);
	dir_of(&d, "1a", "1b", IP_B, key_ab, 1);
	d.n_nodes = 2;
	snprintf(d.nodes[1].id, sizeof(d.nodes[1].id), "1c");
	snprintf(d.nodes[1].service, RC_SERVICE_MAX, "tc-1c.c1");
	d.nodes[1].ip = rte_cpu_to_be_32(IP_C);
	d.nodes[1].udp_port = rte_cpu_to_be_16(6420);
	memcpy(d.nodes[1].key, key_ac, 32);
	d.nodes[1].key_id = 1;
	assert_int_equal(rc_relay_publish(&A.dp, &d), 0);
	dir_of(&d, "1b", "1a", IP_A, key_ab, 1);
	snprintf(d.service[1], RC_SERVICE_MAX, "tc-1c.c1");
	memcpy(d.nodes[0].peer_key, key_ac, 32);
	assert_int_equal(rc_relay_publish(&B.dp, &d), 0);
	B.dp.ports[0].local.peer_ip = rte_cpu_to_be_32(IP_C);
	B.dp.ports[0].local.peer_ip_on = true;
	resolve_pair();
	/* B's gratuitous ARP for 1c's address */
	rc_worker_rx_frame(&A.dp, A.dp.workers[0], 0,
			   arp_frame(RTE_ARP_OP_REQUEST, IP_C, &mac_b, IP_C));

	/* A's stream to 1b far ahead of its stream to 1c */
	A.dp.workers[0]->relay.counter[0] = 1000000;
	A.dp.workers[0]->relay.counter[1] = 1000;
	nb = sealed_from_a_to(0, 0, to_b, &pb, 1);
	nc = sealed_from_a_to(1, 0, to_c, &pc, 2);
	assert_int_equal(pb.vip, 0);
	assert_int_equal(pc.vip, 1);

	wrong = pc;
	wrong.vip = 0; /* sealed for 1c, presented to B's own address */
	rc_relay_input(&B.dp, B.dp.workers[0], &wrong, to_c, nc);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_TAG], 1);
	wrong = pb;
	wrong.vip = 1; /* sealed for B, presented to 1c's address */
	rc_relay_input(&B.dp, B.dp.workers[0], &wrong, to_b, nb);
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_BAD_TAG], 2);
	assert_int_equal(inner.calls, 0);

	rc_relay_input(&B.dp, B.dp.workers[0], &pb, to_b, nb);
	rc_relay_input(&B.dp, B.dp.workers[0], &pc, to_c, nc); /* far behind, its own window */
	assert_int_equal(inner.calls, 2);
	assert_int_equal(inner.from.relay, 1); /* from 1a, whichever address it came to */
	assert_int_equal(stats(&B).drops[RC_RELAY_DROP_REPLAY], 0);
}

static void
test_drop_names(void **state)
{
	(void)state;
	for (unsigned i = 0; i < RC_RELAY_DROP_MAX; i++)
		assert_string_not_equal(rc_relay_drop_name(i), "?");
	assert_string_equal(rc_relay_drop_name(RC_RELAY_DROP_BAD_TAG), "relay_bad_tag");
	assert_string_equal(rc_relay_drop_name(RC_RELAY_DROP_MAX), "?");
}

int
main(void)
{
	char prefix[64];
	char *eal[] = { "relay_transport_test", "--no-huge", "--no-pci", "-m", "128", prefix,
			"--log-level=3", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_publish_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_of_unresolved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_learning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_solicit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_msg_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lanes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_address, setup, teardown),
		cmocka_unit_test(test_drop_names),
	};
	int rc;

	fx_eal_prefix(prefix, sizeof(prefix), "rlt");
	if (fx_eal_start(7, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("rt_mbuf", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (pool == NULL)
		return 1;
	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	fx_eal_stop();
	return rc;
}
