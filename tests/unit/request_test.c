/* SPDX-License-Identifier: MIT */
/*
 * The request path (dataplane/request.c) on its own: two workers' state driven by hand in this
 * thread (no lcores), a real EAL (--no-huge), real liburcu QSBR tables, a real LMDB WAL with
 * the node's strict seq rule, and a net_ring port whose TX rings this test reads back and
 * decodes. Each request goes in as the worker would hand it (rc_req_input); the test plays
 * the other threads: it runs hand-offs to the room's home worker (rc_req_work), commits the
 * WAL's input ring with rc_wal_commit_now() and hands every record back (rc_req_committed),
 * and looks at what reached the control and history rings.
 *
 * Covered: PING, no session, LOGIN and LOGOUT hand-offs, JOIN (existing room, unknown room),
 * membership (POST, FETCH, MEMBERS, LEAVE refused to non-members), MEMBERS, LEAVE, FETCH,
 * POST + ACK + DELIVER, resends (pending: ignored; stored: the same ACK), the rate limit, the
 * forwarded case (a room homed on the other worker), storage full, a scope not served, the
 * TC service stopped, a malformed message, and the seq rule with injected commit failures:
 * a record the WAL refuses hands its seq back (no gap), and a seq already stored is an
 * alarm (no gap either). The dispatch table is complete (a row per type, the refused ones
 * listed); a forwarded request and a bundle that follows its room's creation reach the
 * home worker decoded (its copy's header scribbled over, it still runs). The control
 * thread's half (control/node: sessions.c, rooms.c, on a node around this dataplane) reads
 * the items as decoded too: LOGIN (the token checked in the item's copy) and room creation
 * (waiting for a creation under way, created, refused, found meanwhile) with the items'
 * headers scribbled over; the caps on sessions per user and per address (one token
 * flooding the table); a JOIN for a missing room reading no WAL (LMDB transactions
 * counted through a linker wrap).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_udp.h>
#include <urcu-qsbr.h>

#include "budget.h"
#include "request.h"
#include "dedup.h"
#include "log.h"
#include "fanout.h"
#include "history.h"
#include "node.h"
#include "relay_rooms.h"
#include "room_table.h"
#include "session.h"
#include "token.h"
#include "wal.h"
#include "wal_fixture.h"

#define NW 2
#define MAX_OUT 512
#define SELF_SERVICE "tc-n1" /* this node's TC service (the directory the test publishes) */
#define PEER_SERVICE "tc-n2" /* the other node's, at directory index 0 */

static struct rc_dp dp;
static struct rc_wal *wal;
static struct rte_ring *txr[NW];
static struct rte_ring *rings[32];
static unsigned n_rings;
static char wal_dir[64];
static unsigned port_seq;

struct out {
	struct rc_msg m;
	uint8_t raw[RC_MAX_DGRAM];
	rte_be32_t to_ip;
	uint16_t to_port;
	bool relayed; /* inside a relay envelope */
};
static struct out outs[MAX_OUT];
static unsigned n_out;

/* ---- the test's side of the threads ---- */

static struct rc_peer
peer_of(unsigned k)
{
	struct rc_peer p = { .ip = rte_cpu_to_be_32(0xc6120000u + 10 + k),
			     .udp_port = rte_cpu_to_be_16((uint16_t)(40000 + k)), .port_idx = 0 };

	p.mac.addr_bytes[5] = (uint8_t)k;
	return p;
}

/* Sends m from peer k to worker wi, as that worker's RX would. */
static void
input(unsigned wi, unsigned k, const struct rc_msg *m)
{
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encode(buf, sizeof(buf), m);
	struct rc_peer p = peer_of(k);

	assert_true(n > 0);
	rc_req_input(&dp, dp.workers[wi], &p, buf, (uint16_t)n);
}

/* Runs what workers handed to each other (RC_WORK_REQUEST), until nothing is left. */
static unsigned
run_handoffs(void)
{
	unsigned done = 0;
	void *obj;

	for (bool more = true; more;) {
		more = false;
		for (unsigned i = 0; i < NW; i++)
			while (rte_ring_dequeue(dp.workers[i]->in, &obj) == 0) {
				rc_req_work(&dp, dp.workers[i], obj);
				rte_mempool_put(dp.work_pool, obj);
				done++;
				more = true;
			}
	}
	return done;
}

/* The WAL writer's part, in this thread: commits everything queued (with `corrupt` applied
 * to one record first, the injected failure), then the completions on their workers. */
static unsigned
commit_queued(uint64_t corrupt_seq)
{
	struct rc_wal_rec *recs[64];
	unsigned n = rte_ring_dequeue_burst(dp.wal_ring[0], (void **)recs, RTE_DIM(recs), NULL);

	if (n == 0)
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (corrupt_seq != 0 && recs[i]->seq == corrupt_seq)
			recs[i]->body_len = RC_MAX_BODY + 1; /* -EINVAL: the record alone */
	assert_int_equal(rc_wal_commit_now(wal, recs, n), 0);
	for (unsigned i = 0; i < n; i++) {
		rc_req_committed(&dp, dp.workers[recs[i]->reply_to - 1], recs[i]);
		rte_mempool_put(dp.wal_pool[0], recs[i]);
	}
	return n;
}

/* Flushes every worker and decodes every message sent since the last call into outs[]. */
static void
collect(void)
{
	struct rte_mbuf *m;

	n_out = 0;
	for (unsigned i = 0; i < NW; i++) {
		while (rte_ring_dequeue(dp.workers[i]->tx, (void **)&m) == 0)
			rc_tx_frame(&dp, dp.workers[i], m); /* the control thread's replies */
		rc_tx_flush(&dp, dp.workers[i]);
		while (rte_ring_dequeue(txr[i], (void **)&m) == 0) {
			const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
			const struct rte_ipv4_hdr *ip = (const void *)(p + 14);
			const struct rte_udp_hdr *udp = (const void *)(p + 14 + 20);
			size_t len = rte_be_to_cpu_16(udp->dgram_len) - 8, off = 0, used;
			bool relayed = p[42] == 0x52 && p[43] == 0x4e; /* "RN" */

			if (relayed) { /* the envelope's header and tag around the bundle */
				off = RC_RELAY_FIXED_LEN + 1 + p[42 + RC_RELAY_FIXED_LEN];
				len -= RC_RELAY_TAG_LEN;
			}
			while (off < len && n_out < MAX_OUT) {
				struct out *o = &outs[n_out];

				memcpy(o->raw, p + 42 + off, len - off);
				assert_int_equal(rc_decode(o->raw, len - off, &o->m, &used), 0);
				o->to_ip = ip->dst_addr;
				o->to_port = rte_be_to_cpu_16(udp->dst_port);
				o->relayed = relayed;
				off += used;
				n_out++;
			}
			rte_pktmbuf_free(m);
		}
	}
}

/* The k-th message of `type` sent to peer k (or anyone: k < 0) since collect(). */
static const struct rc_msg *
sent(unsigned type, int k, unsigned nth)
{
	for (unsigned i = 0; i < n_out; i++) {
		struct rc_peer p = peer_of(k < 0 ? 0 : (unsigned)k);

		if (outs[i].m.hdr.type != type)
			continue;
		if (k >= 0 && (outs[i].to_ip != p.ip ||
			       outs[i].to_port != rte_be_to_cpu_16(p.udp_port)))
			continue;
		if (nth-- == 0)
			return &outs[i].m;
	}
	return NULL;
}

static unsigned
count_sent(unsigned type)
{
	unsigned n = 0;

	for (unsigned i = 0; i < n_out; i++)
		n += outs[i].m.hdr.type == type;
	return n;
}

static void
expect_error(int k, unsigned code, unsigned ref_type)
{
	const struct rc_msg *e = sent(RC_T_ERROR, k, 0);

	assert_non_null(e);
	assert_int_equal(e->u.error.code, code);
	assert_int_equal(e->u.error.ref_type, ref_type);
}

/* ---- requests ---- */

static struct rc_msg
req(unsigned type, uint64_t session, uint32_t request_id)
{
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = (uint8_t)type;
	m.hdr.session = session;
	m.hdr.request_id = request_id;
	return m;
}

static struct rc_str
str(const char *s)
{
	return (struct rc_str){ .p = s, .len = (uint16_t)strlen(s) };
}

static void
post(unsigned wi, unsigned k, uint64_t session, const char *room, uint64_t cmid,
     const char *body)
{
	struct rc_msg m = req(RC_T_POST, session, (uint32_t)cmid);

	m.u.post.room = str(room);
	m.u.post.cmid = cmid;
	m.u.post.body = str(body);
	input(wi, k, &m);
}

static void
join(unsigned wi, unsigned k, uint64_t session, const char *room)
{
	struct rc_msg m = req(RC_T_JOIN, session, 7);

	m.u.join.room = str(room);
	input(wi, k, &m);
}

static struct rc_session *
login_as(const char *user, unsigned k)
{
	struct rc_peer p = peer_of(k);
	struct rc_session *s = rc_session_add(dp.sessions, user, (unsigned)strlen(user), &p,
					      rc_mono_ms());

	assert_non_null(s);
	return s;
}

static unsigned
drain_ring(struct rte_ring *r, struct rte_mempool *pool, unsigned want_kind, bool hist)
{
	unsigned n = 0;
	void *obj;

	while (rte_ring_dequeue(r, &obj) == 0) {
		if (hist)
			assert_int_equal(((struct rc_hist_req *)obj)->kind, want_kind);
		else
			assert_int_equal(((struct rc_work *)obj)->kind, want_kind);
		rte_mempool_put(pool, obj);
		n++;
	}
	return n;
}

/* Reads room_id's stored seqs from the WAL into seqs[] (returns how many). */
struct seqs_got {
	uint64_t seq[256];
	uint64_t cmid[256];
	unsigned n;
};

static int
seq_cb(void *arg, const struct rc_wal_msg *m)
{
	struct seqs_got *g = arg;

	if (g->n < 256) {
		g->seq[g->n] = m->seq;
		g->cmid[g->n++] = m->cmid;
	}
	return 0;
}

static void
expect_stored(uint32_t room_id, uint64_t first, uint64_t last)
{
	struct seqs_got g = { .n = 0 };

	assert_int_equal(rc_wal_read(wal, room_id, 1, UINT64_MAX, 256, seq_cb, &g),
			 (int)(last - first + 1));
	for (unsigned i = 0; i < g.n; i++)
		assert_int_equal(g.seq[i], first + i);
}

static uint64_t
stats_seq_gaps(struct rc_wal *w)
{
	struct rc_wal_stats st;

	rc_wal_get_stats(w, &st);
	return st.seq_gaps_refused;
}

/* ---- fixture ---- */

static struct rte_ring *
ring(const char *what, unsigned i, unsigned flags)
{
	char name[32];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "ct_%s_%u_%u", what, port_seq, i);
	r = rte_ring_create(name, 1024, SOCKET_ID_ANY, flags);
	assert_non_null(r);
	assert_true(n_rings < RTE_DIM(rings));
	rings[n_rings++] = r;
	return r;
}

#define PEER_IP 0xc6120002u /* the other node's service address */

/* The relay directory: this node n1 (service tc-n1), the other node n2 at index 0. */
static void
publish_dir(void)
{
	static struct rc_relay_dir d;

	memset(&d, 0, sizeof(d));
	strcpy(d.self_id, "n1");
	strcpy(d.service[0], SELF_SERVICE);
	d.n_nodes = 1;
	strcpy(d.nodes[0].id, "n2");
	strcpy(d.nodes[0].service, PEER_SERVICE);
	d.nodes[0].ip = rte_cpu_to_be_32(PEER_IP);
	d.nodes[0].udp_port = rte_cpu_to_be_16(RC_DEFAULT_UDP_PORT);
	memset(d.nodes[0].key, 7, sizeof(d.nodes[0].key));
	d.nodes[0].key_id = 1;
	assert_int_equal(rc_relay_publish(&dp, &d), 0);
}

static int
setup(void **state)
{
	static const struct rte_eth_conf conf;
	struct rte_ring *rxr;
	struct rc_wal_conf wc;
	char name[32], err[256];
	int port;

	(void)state;
	port_seq++;
	memset(&dp, 0, sizeof(dp));
	snprintf(wal_dir, sizeof(wal_dir), "/tmp/rc-chat-test-%d-%u", (int)getpid(), port_seq);
	wc = (struct rc_wal_conf){ .dir = wal_dir, .map_size = 32u << 20, .high_water_pct = 90,
				   .batch_max = 64, .ring_size = 1024, .pool_size = 1023,
				   .nosync = true, .socket_id = SOCKET_ID_ANY,
				   .strict_seq = true, .keep_per_room = 4096 };
	wal = rc_wal_open(&wc, err, sizeof(err));
	assert_non_null(wal);
	snprintf(name, sizeof(name), "ctm%u", port_seq);
	dp.mbuf_pool = rte_pktmbuf_pool_create(name, 4095, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	snprintf(name, sizeof(name), "ctw%u", port_seq);
	dp.work_pool = rte_mempool_create(name, 1023, sizeof(struct rc_work), 0, 0, NULL, NULL,
					  NULL, NULL, SOCKET_ID_ANY, 0);
	snprintf(name, sizeof(name), "cth%u", port_seq);
	dp.hist_pool[0] = rte_mempool_create(name, 1023, sizeof(struct rc_hist_req), 0, 0, NULL,
					     NULL, NULL, NULL, SOCKET_ID_ANY, 0);
	assert_non_null(dp.mbuf_pool);
	assert_non_null(dp.work_pool);
	assert_non_null(dp.hist_pool[0]);
	dp.hist_ring[0] = ring("hist", 0, 0);
	dp.ctrl_ring = ring("ctrl", 0, 0);
	dp.login_ring = ring("login", 0, 0);
	dp.wal_ring[0] = rc_wal_ring(wal);
	dp.wal_pool[0] = rc_wal_pool(wal);

	rxr = ring("rx", 0, 0);
	for (unsigned i = 0; i < NW; i++)
		txr[i] = ring("tx", i, 0);
	snprintf(name, sizeof(name), "ct_port%u", port_seq);
	port = rte_eth_from_rings(name, &rxr, 1, txr, NW, SOCKET_ID_ANY);
	assert_true(port >= 0);
	assert_int_equal(rte_eth_dev_configure((uint16_t)port, 1, NW, &conf), 0);
	assert_int_equal(rte_eth_rx_queue_setup((uint16_t)port, 0, 64, SOCKET_ID_ANY, NULL,
						dp.mbuf_pool), 0);
	for (unsigned i = 0; i < NW; i++)
		assert_int_equal(rte_eth_tx_queue_setup((uint16_t)port, (uint16_t)i, 64,
							SOCKET_ID_ANY, NULL), 0);
	assert_int_equal(rte_eth_dev_start((uint16_t)port), 0);
	dp.n_ports = 1;
	dp.ports[0].port_id = (uint16_t)port;
	dp.ports[0].n_rxq = 1;
	dp.ports[0].local.ip = rte_cpu_to_be_32(0xc6120001u);

	dp.n_workers = NW;
	for (unsigned i = 0; i < NW; i++) {
		struct rc_worker *w = rte_zmalloc("ct_w", sizeof(*w), RTE_CACHE_LINE_SIZE);

		assert_non_null(w);
		w->idx = i;
		w->in = ring("in", i, 0);
		w->tx = ring("wtx", i, 0);
		w->done = ring("done", i, 0);
		dp.workers[i] = w;
	}
	dp.rooms = rc_room_table_create(16);
	assert_non_null(dp.rooms);
	rc_room_table_set_dedup_window(dp.rooms, 64);
	dp.sessions = rc_session_table_create(64);
	dp.history_on_join = 20;
	dp.max_fetch = 100;
	dp.max_members = 8;
	dp.post_rate = 1000;
	dp.post_burst = 1000;
	dp.login_rate = 1000;
	dp.login_burst = 1000;
	dp.login_cookie_threshold = 1024; /* not under load */
	dp.request_rate = 100000;
	dp.request_burst = 100000;
	dp.dedup_window = 64;
	dp.scope_serving[0] = true;
	dp.rooms_blocked = RC_ROOMS_SERVED;
	publish_dir();
	n_out = 0;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	rte_eth_dev_stop(dp.ports[0].port_id);
	rte_eth_dev_close(dp.ports[0].port_id);
	rc_wal_close(wal);
	rc_room_table_destroy(dp.rooms);
	rc_session_table_destroy(dp.sessions);
	rc_relay_destroy(&dp);
	for (unsigned i = 0; i < NW; i++)
		rte_free(dp.workers[i]);
	while (n_rings > 0)
		rte_ring_free(rings[--n_rings]);
	rte_mempool_free(dp.mbuf_pool);
	rte_mempool_free(dp.work_pool);
	rte_mempool_free(dp.hist_pool[0]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", wal_dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A room with id `id` homed on worker `home`, and sessions joined to it (no replies kept).
 * A bare name is stored as the node's canonical NAME@SERVICE, as rooms.c stores it (a name
 * too long for that stays as it is). */
static struct rc_room *
room(uint32_t id, const char *name, unsigned home)
{
	char canon[RC_MAX_ROOM + 1];
	struct rc_room *r;

	if (strchr(name, '@') == NULL && strlen(name) + sizeof("@" SELF_SERVICE) <= sizeof(canon))
		name = strcat(strcpy(canon, name), "@" SELF_SERVICE);
	r = rc_room_add(dp.rooms, id, name, (unsigned)strlen(name), "t", 1, (uint16_t)home);

	assert_non_null(r);
	return r;
}

static void
joined(struct rc_session *s, unsigned k, const char *name)
{
	join(0, k, s->id, name);
	run_handoffs();
	drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true);
	collect();
	assert_non_null(sent(RC_T_JOINED, (int)k, 0));
}

/* ---- tests ---- */

static void
test_session_checks(void **state)
{
	struct rc_session *s = login_as("alice", 1);
	struct rc_msg m;

	(void)state;
	m = req(RC_T_PING, s->id, 1);
	m.u.ping.nonce = 42;
	input(0, 1, &m);
	collect();
	assert_non_null(sent(RC_T_PONG, 1, 0));
	assert_int_equal(sent(RC_T_PONG, 1, 0)->u.pong.nonce, 42);

	/* a session id from another address: not authenticated */
	input(0, 2, &m);
	collect();
	expect_error(2, RC_E_NOT_AUTH, RC_T_PING);

	/* LOGIN and LOGOUT go to the control thread */
	m = req(RC_T_LOGIN, 0, 3);
	m.u.login.user = str("bob");
	m.u.login.token = str("t0ken-t0ken-t0ken-t0ken");
	input(0, 3, &m);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 1);
	m = req(RC_T_LOGOUT, s->id, 4);
	input(1, 1, &m);
	assert_int_equal(drain_ring(dp.ctrl_ring, dp.work_pool, RC_WORK_LOGOUT, false), 1);

	/* malformed messages of a known session (PROTOCOL.md 3 and 7.2): one whose length runs
	 * past the datagram cannot be delimited: no answer, counted; a delimited one of an
	 * unknown type is answered with an ERROR, and the message after it still runs */
	{
		uint8_t bad[RC_MAX_DGRAM];
		struct rc_peer p = peer_of(1);
		struct rc_msg pm = req(RC_T_PING, s->id, 9);
		uint64_t malformed = dp.workers[0]->stats.drops[RC_DROP_MSG_MALFORMED];
		ssize_t n = rc_encode(bad, sizeof(bad), &pm);

		assert_true(n > RC_HDR_LEN);
		rc_req_input(&dp, dp.workers[0], &p, bad, (uint16_t)(n - 3));
		collect();
		assert_int_equal(n_out, 0);
		assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_MSG_MALFORMED], malformed + 1);

		memcpy(bad + n, bad, (size_t)n); /* a second, good PING after it */
		bad[3] = 99;                     /* the first: an unknown type */
		rc_req_input(&dp, dp.workers[0], &p, bad, (uint16_t)(2 * n));
		collect();
		assert_int_equal(count_sent(RC_T_ERROR), 1);
		assert_non_null(sent(RC_T_PONG, 1, 0));
	}
}

static void
test_join_members_leave(void **state)
{
	struct rc_session *a = login_as("alice", 1), *b = login_as("bob", 2);
	struct rc_msg m;

	(void)state;
	room(1, "lobby", 0);
	/* not a member: FETCH, MEMBERS, LEAVE, POST refused with ERROR 2 */
	m = req(RC_T_FETCH, a->id, 1);
	m.u.fetch.room = str("lobby");
	m.u.fetch.max = 10;
	input(0, 1, &m);
	m = req(RC_T_MEMBERS, a->id, 2);
	m.u.members.room = str("lobby");
	input(0, 1, &m);
	m = req(RC_T_LEAVE, a->id, 3);
	m.u.leave.room = str("lobby");
	input(0, 1, &m);
	post(0, 1, a->id, "lobby", 1, "hello");
	collect();
	assert_int_equal(count_sent(RC_T_ERROR), 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(sent(RC_T_ERROR, 1, i)->u.error.code, RC_E_NOT_MEMBER);
	assert_int_equal(rte_ring_count(dp.wal_ring[0]), 0);

	/* JOIN: JOINED, and a history request for the latest history_on_join */
	join(0, 1, a->id, "lobby");
	collect();
	assert_non_null(sent(RC_T_JOINED, 1, 0));
	assert_int_equal(sent(RC_T_JOINED, 1, 0)->u.joined.room_id, 1);
	assert_int_equal(drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true), 1);
	joined(b, 2, "lobby");

	m = req(RC_T_MEMBERS, a->id, 4);
	m.u.members.room = str("lobby");
	input(0, 1, &m);
	collect();
	assert_non_null(sent(RC_T_MEMBER_LIST, 1, 0));
	assert_int_equal(sent(RC_T_MEMBER_LIST, 1, 0)->u.member_list.count, 2);

	/* FETCH from 0: a range request from seq 1, max clamped to max_fetch (100 here) */
	m = req(RC_T_FETCH, a->id, 5);
	m.u.fetch.room = str("lobby");
	m.u.fetch.max = RC_MAX_FETCH;
	input(0, 1, &m);
	{
		struct rc_hist_req *q = NULL;

		assert_int_equal(rte_ring_dequeue(dp.hist_ring[0], (void **)&q), 0);
		assert_int_equal(q->kind, RC_HIST_RANGE);
		assert_int_equal(q->from_seq, 1);
		assert_int_equal(q->max, 100);
		rte_mempool_put(dp.hist_pool[0], q);
	}

	m = req(RC_T_LEAVE, a->id, 6);
	m.u.leave.room = str("lobby");
	input(0, 1, &m);
	collect();
	assert_non_null(sent(RC_T_LEFT, 1, 0));
	input(0, 1, &m);
	collect();
	expect_error(1, RC_E_NOT_MEMBER, RC_T_LEAVE);

	/* an unknown room: JOIN goes to the control thread (creation); FETCH: ERROR 1 */
	join(0, 1, a->id, "new-room");
	assert_int_equal(drain_ring(dp.ctrl_ring, dp.work_pool, RC_WORK_CREATE_ROOM, false), 1);
	m = req(RC_T_FETCH, a->id, 8);
	m.u.fetch.room = str("new-room");
	m.u.fetch.max = 10;
	input(0, 1, &m);
	collect();
	expect_error(1, RC_E_UNKNOWN_ROOM, RC_T_FETCH);
}

static void
test_post_ack_deliver_resend(void **state)
{
	struct rc_session *a = login_as("alice", 1), *b = login_as("bob", 2);
	struct rc_room *r;

	(void)state;
	r = room(1, "lobby", 0);
	joined(a, 1, "lobby");
	joined(b, 2, "lobby");

	post(0, 1, a->id, "lobby", 100, "first");
	post(0, 1, a->id, "lobby", 100, "first"); /* resend while pending: ignored */
	assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_RESEND_PENDING], 1);
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_non_null(sent(RC_T_ACK, 1, 0));
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.seq, 1);
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.cmid, 100);
	assert_null(sent(RC_T_ACK, 1, 1));
	assert_non_null(sent(RC_T_DELIVER, 1, 0)); /* the poster too */
	assert_non_null(sent(RC_T_DELIVER, 2, 0));
	assert_int_equal(sent(RC_T_DELIVER, 2, 0)->u.deliver.seq, 1);
	assert_int_equal(r->last_committed, 1);

	post(0, 1, a->id, "lobby", 100, "first"); /* resend once stored: the same ACK */
	assert_int_equal(commit_queued(0), 0);
	collect();
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.seq, 1);
	assert_int_equal(count_sent(RC_T_DELIVER), 0);
	assert_int_equal(dp.workers[0]->stats.resends_acked, 1);

	/* bob's cmid 100 is bob's own message */
	post(0, 2, b->id, "lobby", 100, "bob's");
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(sent(RC_T_ACK, 2, 0)->u.ack.seq, 2);
	expect_stored(1, 1, 2);
}

/* Each member's DELIVERs of seqs first..last, once each and in order; returns how many. */
static unsigned
expect_in_order(unsigned k, uint64_t first, uint64_t last)
{
	struct rc_peer p = peer_of(k);
	uint64_t want = first;

	for (unsigned i = 0; i < n_out; i++)
		if (outs[i].m.hdr.type == RC_T_DELIVER && outs[i].to_ip == p.ip &&
		    outs[i].to_port == rte_be_to_cpu_16(p.udp_port))
			assert_int_equal(outs[i].m.u.deliver.seq, want++);
	assert_int_equal(want, last + 1);
	return (unsigned)(last + 1 - first);
}

/*
 * The messages one commit stored in a room go out together: every member gets them in as few
 * datagrams as fit, in seq order (before, each DELIVER was a datagram of its own as soon as
 * two members' datagrams shared a slot, which members on neighbouring ports did).
 */
static void
test_deliver_batched(void **state)
{
	enum { MEMBERS = 40, POSTS = 10, BIG = 6 };
	struct rc_session *s[MEMBERS];
	struct rc_worker *w = dp.workers[0];
	char body[601], name[16];
	uint64_t dgrams, pkts;
	unsigned k, i, got;

	(void)state;
	dp.max_members = MEMBERS;
	room(1, "lobby", 0);
	for (k = 0; k < MEMBERS; k++) {
		snprintf(name, sizeof(name), "u%u", k);
		s[k] = login_as(name, k + 1);
		joined(s[k], k + 1, "lobby");
	}
	dgrams = w->stats.fan_datagrams;
	pkts = w->stats.tx_pkts;
	for (i = 0; i < POSTS; i++) /* two posters, small bodies: all fit one datagram */
		post(0, 1 + i % 2, s[i % 2]->id, "lobby", 100 + i, "hello");
	assert_int_equal(commit_queued(0), POSTS);
	collect();
	for (k = 0, got = 0; k < MEMBERS; k++)
		got += expect_in_order(k + 1, 1, POSTS);
	assert_int_equal(got, MEMBERS * POSTS);
	assert_int_equal(w->stats.fan_datagrams - dgrams, MEMBERS);
	/* and the two posters' ACKs, one datagram each */
	assert_int_equal(w->stats.tx_pkts - pkts, MEMBERS + 2);
	assert_int_equal(count_sent(RC_T_ACK), POSTS);

	/* 600-byte bodies: two DELIVERs per datagram, cut between messages */
	memset(body, 'x', 600);
	body[600] = '\0';
	dgrams = w->stats.fan_datagrams;
	for (i = 0; i < BIG; i++)
		post(0, 1, s[0]->id, "lobby", 200 + i, body);
	assert_int_equal(commit_queued(0), BIG);
	collect();
	for (k = 0; k < MEMBERS; k++)
		expect_in_order(k + 1, POSTS + 1, POSTS + BIG);
	assert_int_equal(w->stats.fan_datagrams - dgrams, MEMBERS * BIG / 2);
}

/* A frame for peer 1 whose payload is its index i. */
static struct rte_mbuf *
indexed_frame(uint32_t i)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp.mbuf_pool);
	struct rc_peer to = peer_of(1);
	uint8_t *p;

	assert_non_null(m);
	assert_non_null(rc_pkt_init(m));
	p = (uint8_t *)rte_pktmbuf_append(m, 4);
	assert_non_null(p);
	memcpy(p, &i, 4);
	rc_pkt_finish(m, &dp.ports[0].local, &to);
	m->port = 0;
	return m;
}

/* Takes every frame the device sent, checking their indexes follow from *next. */
static unsigned
take_sent(uint32_t *next)
{
	struct rte_mbuf *m;
	unsigned n = 0;
	uint32_t i;

	while (rte_ring_dequeue(txr[0], (void **)&m) == 0) {
		memcpy(&i, rte_pktmbuf_mtod_offset(m, const uint8_t *, RC_L2L4_LEN), 4);
		assert_int_equal(i, (*next)++);
		rte_pktmbuf_free(m);
		n++;
	}
	return n;
}

/*
 * A TX queue that does not take a burst: the rest waits, in order, and goes out with the
 * next flushes; only what does not fit the wait ring is dropped (before, all of it was).
 */
static void
test_tx_full_waits(void **state)
{
	struct rc_worker *w = dp.workers[0];
	uint32_t i, sent_next = 0, total;
	unsigned dev = (unsigned)rte_ring_get_capacity(txr[0]);

	(void)state;
	w->tx_wait_cap = 100;
	total = dev + 80; /* 80 more than the device's ring holds */
	for (i = 0; i < total; i++)
		rc_tx_frame(&dp, w, indexed_frame(i));
	rc_tx_flush(&dp, w);
	assert_int_equal(w->stats.drops[RC_DROP_TX_FULL], 0);
	assert_int_equal(w->tx_wait_n[0], 80);
	assert_int_equal(take_sent(&sent_next), dev);
	rc_tx_flush(&dp, w); /* nothing new: the waiting ones go */
	assert_int_equal(take_sent(&sent_next), 80);
	assert_int_equal(w->tx_wait_n[0], 0);
	assert_int_equal(w->stats.tx_pkts, total);

	/* the device full again: 100 wait, 30 more are dropped, the order is kept */
	for (i = 0; i < dev + 130; i++)
		rc_tx_frame(&dp, w, indexed_frame(total + i));
	rc_tx_flush(&dp, w);
	assert_int_equal(w->stats.drops[RC_DROP_TX_FULL], 30);
	assert_int_equal(take_sent(&sent_next), dev);
	rc_tx_flush(&dp, w);
	assert_int_equal(take_sent(&sent_next), 100);
	assert_int_equal(w->stats.tx_waited, 80 + 100);
}

static void
test_forwarded(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_room *r;

	(void)state;
	r = room(3, "upstairs", 1); /* homed on worker 1; requests arrive on worker 0 */
	join(0, 1, a->id, "upstairs");
	assert_int_equal(dp.workers[0]->stats.forwarded, 1);
	assert_int_equal(r->n_members, 0); /* not before the home worker ran it */
	assert_int_equal(run_handoffs(), 1);
	assert_int_equal(r->n_members, 1);
	drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true);
	post(0, 1, a->id, "upstairs", 5, "via worker 1");
	assert_int_equal(run_handoffs(), 1);
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.seq, 1);
	assert_int_equal(dp.workers[1]->stats.posts_stored, 1);
	assert_int_equal(dp.workers[0]->stats.posts_stored, 0);
}

static void
test_refusals(void **state)
{
	struct rc_session *a = login_as("alice", 1);

	(void)state;
	room(1, "lobby", 0);
	joined(a, 1, "lobby");

	dp.storage_full = true;
	post(0, 1, a->id, "lobby", 1, "x");
	collect();
	expect_error(1, RC_E_STORAGE_FULL, RC_T_POST);
	dp.storage_full = false;

	dp.scope_serving[0] = false;
	post(0, 1, a->id, "lobby", 1, "x");
	collect();
	expect_error(1, RC_E_NOT_OWNER, RC_T_POST);
	dp.scope_serving[0] = true;

	dp.rooms_blocked = RC_ROOMS_TC_STOPPED;
	post(0, 1, a->id, "lobby", 1, "x");
	collect();
	expect_error(1, RC_E_NOT_OWNER, RC_T_POST);
	dp.rooms_blocked = RC_ROOMS_SERVED;

	/* the rate limit: a burst of 3, then ERROR 4; nothing of the refused is stored */
	dp.post_rate = 1;
	dp.post_burst = 3;
	for (uint64_t c = 10; c < 15; c++)
		post(0, 1, a->id, "lobby", c, "burst");
	collect();
	assert_int_equal(count_sent(RC_T_ERROR), 2);
	expect_error(1, RC_E_RATE_LIMITED, RC_T_POST);
	assert_int_equal(commit_queued(0), 3);
	expect_stored(1, 1, 3);
	assert_int_equal(rte_ring_count(dp.wal_ring[0]), 0);
}

/* The seq rule: an injected commit failure of seq 2 among 5 queued POSTs. 1 is stored and
 * acknowledged; 2 is refused (-EINVAL), 3..5 behind it too (-ESPIPE: no gap is stored);
 * all four get ERROR 9 and seq 2 is handed back. The clients' resends (same cmids) get
 * 2..5; the room holds 1..5 with no gap, each message once. */
static void
test_seq_never_skipped(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_room *r;
	struct seqs_got g = { .n = 0 };

	(void)state;
	r = room(1, "lobby", 0);
	joined(a, 1, "lobby");
	for (uint64_t c = 1; c <= 5; c++)
		post(0, 1, a->id, "lobby", 100 + c, "queued");
	assert_int_equal(r->next_seq, 6);
	assert_int_equal(commit_queued(2), 5);
	collect();
	assert_int_equal(count_sent(RC_T_ACK), 1);
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.cmid, 101);
	assert_int_equal(count_sent(RC_T_ERROR), 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(sent(RC_T_ERROR, 1, i)->u.error.code, RC_E_BUSY);
	assert_int_equal(r->next_seq, 2);
	assert_int_equal(dp.workers[0]->stats.seqs_handed_back, 1);
	assert_int_equal(stats_seq_gaps(wal), 3);
	expect_stored(1, 1, 1);

	/* the resends: seqs 2..5 again, and a new POST after them */
	for (uint64_t c = 2; c <= 5; c++)
		post(0, 1, a->id, "lobby", 100 + c, "queued");
	post(0, 1, a->id, "lobby", 200, "new");
	assert_int_equal(commit_queued(0), 5);
	collect();
	assert_int_equal(count_sent(RC_T_ACK), 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(sent(RC_T_ACK, 1, i)->u.ack.seq, 2 + i);
	assert_int_equal(rc_wal_read(wal, 1, 1, UINT64_MAX, 256, seq_cb, &g), 6);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(g.seq[i], i + 1);
		assert_int_equal(g.cmid[i], i < 5 ? 101 + i : 200);
	}
}

/* A seq the room already has (its counter behind its storage): the POST is refused with
 * ERROR 9 and counted as an alarm, nothing is handed back (that seq is stored), and the
 * resend gets the next seq: still no gap. */
static void
test_seq_conflict(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_wal_rec rec, *rp = &rec;
	struct rc_room *r;

	(void)state;
	r = room(1, "lobby", 0);
	joined(a, 1, "lobby");
	fx_msg(&rec, 1, 1, "ghost", "stored behind the room's back");
	assert_int_equal(rc_wal_commit_now(wal, &rp, 1), 0);
	post(0, 1, a->id, "lobby", 7, "mine");
	assert_int_equal(commit_queued(0), 1);
	collect();
	expect_error(1, RC_E_BUSY, RC_T_POST);
	assert_int_equal(r->seq_conflicts, 1);
	assert_int_equal(dp.workers[0]->stats.seq_conflicts, 1);
	assert_int_equal(r->next_seq, 2);
	post(0, 1, a->id, "lobby", 7, "mine");
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.seq, 2);
	expect_stored(1, 1, 2);
}

/* seq_gen: completions of a failed generation that arrive after new POSTs took the
 * handed-back seqs change nothing. POSTs 1..5, seq 2 refused; only 1 and 2 complete; two
 * new POSTs take 2 and 3; then 3..5 complete (refused behind the gap): next_seq stays 4. */
static void
test_seq_gen_interleaved(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_wal_rec *recs[8];
	struct rc_room *r;
	unsigned n;

	(void)state;
	r = room(1, "lobby", 0);
	joined(a, 1, "lobby");
	for (uint64_t c = 1; c <= 5; c++)
		post(0, 1, a->id, "lobby", 100 + c, "queued");
	n = rte_ring_dequeue_burst(dp.wal_ring[0], (void **)recs, RTE_DIM(recs), NULL);
	assert_int_equal(n, 5);
	recs[1]->body_len = RC_MAX_BODY + 1; /* seq 2: refused */
	assert_int_equal(rc_wal_commit_now(wal, recs, n), 0);
	for (unsigned i = 0; i < 2; i++)
		rc_req_committed(&dp, dp.workers[0], recs[i]);
	assert_int_equal(r->next_seq, 2);
	post(0, 1, a->id, "lobby", 200, "new");
	post(0, 1, a->id, "lobby", 201, "new");
	assert_int_equal(r->next_seq, 4);
	for (unsigned i = 2; i < 5; i++)
		rc_req_committed(&dp, dp.workers[0], recs[i]);
	assert_int_equal(r->next_seq, 4);
	assert_int_equal(dp.workers[0]->stats.seqs_handed_back, 1);
	for (unsigned i = 0; i < 5; i++)
		rte_mempool_put(dp.wal_pool[0], recs[i]);
	assert_int_equal(commit_queued(0), 2);
	collect();
	assert_int_equal(r->seq_conflicts, 0);
	expect_stored(1, 1, 3);
}

/* A record completing after its room was unloaded and loaded again (an HA move back and
 * forth) belongs to the old instance: ERROR 9, and the new instance's window, counters and
 * members are untouched. */
static void
test_stale_incarnation(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_room *r1, *r2;

	(void)state;
	r1 = room(1, "lobby", 0);
	joined(a, 1, "lobby");
	post(0, 1, a->id, "lobby", 7, "before the move");
	assert_int_equal(rc_room_del(dp.rooms, r1), 0);
	r2 = room(1, "lobby", 0);
	assert_true(r2->incarnation != r1->incarnation);
	assert_int_equal(commit_queued(0), 1);
	collect();
	expect_error(1, RC_E_BUSY, RC_T_POST);
	assert_null(sent(RC_T_ACK, 1, 0));
	assert_int_equal(rc_dedup_count(r2->dedup), 0);
	assert_int_equal(r2->last_committed, 0);
	assert_int_equal(r2->next_seq, 1);
}

/* A request forwarded to the room's home worker while its scope stops being served (an HA
 * handover) is refused there with ERROR 8: nothing of the room is touched. */
static void
test_forwarded_scope_unserved(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_room *r;

	(void)state;
	r = room(3, "upstairs", 1);
	join(0, 1, a->id, "upstairs");
	run_handoffs();
	drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true);
	collect();
	post(0, 1, a->id, "upstairs", 5, "in the ring");
	dp.scope_serving[0] = false;
	assert_int_equal(run_handoffs(), 1);
	collect();
	expect_error(1, RC_E_NOT_OWNER, RC_T_POST);
	assert_int_equal(rte_ring_count(dp.wal_ring[0]), 0);
	assert_int_equal(r->next_seq, 1);
	assert_int_equal(rc_dedup_count(r->dedup), 0);
}

/* The dispatch table: every type has its row; the requests a client may send are the
 * listed ones, every other type is listed as refused. A new RC_T_* that is in neither list
 * fails here until its row is written and it is listed. */
static void
test_dispatch_table(void **state)
{
	static const unsigned accepted[] = { RC_T_LOGIN, RC_T_LOGOUT, RC_T_PING, RC_T_JOIN,
					     RC_T_LEAVE, RC_T_MEMBERS, RC_T_FETCH, RC_T_POST,
					     RC_T_ROOMS, RC_T_LOGIN_COOKIE };
	static const unsigned refused[] = { RC_T_LOGIN_OK, RC_T_JOINED,    RC_T_LEFT,
					    RC_T_ACK,      RC_T_DELIVER,   RC_T_FETCH_END,
					    RC_T_MEMBER_LIST, RC_T_PONG,   RC_T_BYE,
					    RC_T_ERROR,    RC_T_RESUME,    RC_T_REDIRECT,
					    RC_T_ROOM_LIST, RC_T_RJOIN,    RC_T_RJOINED,
					    RC_T_RPOST,    RC_T_RFETCH,    RC_T_RLEAVE,
					    RC_T_RMEMBERS, RC_T_COOKIE };
	unsigned listed[RC_T_MAX] = { 0 };

	(void)state;
	for (unsigned i = 0; i < RTE_DIM(accepted); i++)
		listed[accepted[i]]++;
	for (unsigned i = 0; i < RTE_DIM(refused); i++)
		listed[refused[i]]++;
	assert_null(rc_req_row(RC_T_MAX));
	assert_int_equal(rc_req_row(RC_T_INVALID)->runs, RC_REQ_UNLISTED);
	for (unsigned t = RC_T_INVALID + 1; t < RC_T_MAX; t++) {
		const struct rc_req_row *row = rc_req_row(t);

		assert_int_equal(listed[t], 1); /* in exactly one of the lists */
		assert_int_equal(row->type, t);
		assert_true(row->runs > RC_REQ_UNLISTED && row->runs < RC_REQ_RUN_MAX);
		assert_true(row->room == 0 || row->room + sizeof(struct rc_str) <=
							sizeof(struct rc_msg));
		switch (row->runs) {
		case RC_REQ_REFUSED:
			assert_int_equal(row->needs, 0);
			assert_int_equal(row->room, 0);
			assert_null(row->fn);
			break;
		case RC_REQ_ON_RX:
			assert_true(row->needs & RC_REQ_SESSION);
			assert_int_equal(row->room, 0);
			assert_non_null(row->fn);
			break;
		case RC_REQ_ON_HOME:
			assert_true(row->needs & RC_REQ_SESSION);
			assert_true(row->room >= offsetof(struct rc_msg, u));
			assert_int_equal(row->work, RC_WORK_REQUEST);
			assert_non_null(row->fn);
			break;
		case RC_REQ_ON_CONTROL:
			assert_int_equal(row->room, 0);
			assert_true(row->work == RC_WORK_LOGIN || row->work == RC_WORK_LOGOUT ||
				    row->work == RC_WORK_ROOMS);
			assert_null(row->fn);
			break;
		}
		if (row->runs != RC_REQ_ON_HOME)
			assert_null(row->not_member);
		for (unsigned i = 0; i < RTE_DIM(refused); i++)
			if (refused[i] == t)
				assert_int_equal(row->runs, RC_REQ_REFUSED);
	}
}

/* A type the node only sends, from a client with a session: dropped, counted, unanswered. */
static void
test_refused_type(void **state)
{
	struct rc_session *s = login_as("alice", 1);
	struct rc_msg m = req(RC_T_PONG, s->id, 1);

	(void)state;
	m.u.pong.nonce = 1;
	input(0, 1, &m);
	collect();
	assert_int_equal(n_out, 0);
	assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_MSG_UNEXPECTED], 1);
	assert_int_equal(dp.workers[0]->stats.msgs_in[RC_T_PONG], 1);
}

/* The node-to-node types in a client's datagram (a relay envelope is not a session's): dropped
 * and counted like the types the node only sends. */
static void
test_refused_relay_types(void **state)
{
	struct rc_session *s = login_as("alice", 1);
	struct rc_msg m = req(RC_T_RJOIN, s->id, 1);

	(void)state;
	room(3, "lobby", 0);
	m.u.rjoin.alias = 3;
	m.u.rjoin.user = str("mallory");
	m.u.rjoin.room = str("lobby");
	input(0, 1, &m);
	m = req(RC_T_RLEAVE, s->id, 2);
	m.u.rleave.room_id = 3;
	input(0, 1, &m);
	m = req(RC_T_REDIRECT, s->id, 3);
	m.u.redirect.node = str("n2");
	input(0, 1, &m);
	collect();
	assert_int_equal(n_out, 0);
	assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_MSG_UNEXPECTED], 3);
	assert_int_equal(dp.workers[0]->stats.msgs_in[RC_T_RJOIN], 1);
	assert_int_equal(rc_room_lookup_id(dp.rooms, 3)->n_members, 0);
}

/* What the home worker receives, before it runs it. */
static struct rc_work *
take_work(struct rte_ring *r)
{
	void *obj = NULL;

	assert_int_equal(rte_ring_dequeue(r, &obj), 0);
	return obj;
}

static bool
inside(const struct rc_work *wk, const struct rc_str *v)
{
	return (const uint8_t *)v->p >= (const uint8_t *)wk &&
	       (const uint8_t *)v->p + v->len <= (const uint8_t *)(wk + 1);
}

/* A request forwarded to its room's home worker travels decoded: the room's id and the
 * message with its views in the item's copy of the bytes. The home worker neither decodes
 * it nor looks the name up again: with the copy's header and room name scribbled over, it
 * still runs, and the body stored is the one sent. */
static void
test_forwarded_decoded(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_work *wk;
	struct rc_str name;

	(void)state;
	room(3, "upstairs", 1);
	joined(a, 1, "upstairs");
	post(0, 1, a->id, "upstairs", 5, "via worker 1");
	assert_int_equal(dp.workers[0]->stats.forwarded, 2);
	wk = take_work(dp.workers[1]->in);
	assert_int_equal(wk->kind, RC_WORK_REQUEST);
	assert_int_equal(wk->room_id, 3);
	assert_int_equal(wk->who.session, a->id);
	assert_int_equal(wk->who.rx_worker, 0);
	assert_int_equal(wk->req.hdr.type, RC_T_POST);
	assert_int_equal(wk->req.u.post.cmid, 5);
	name = wk->req.u.post.room;
	assert_true(inside(wk, &name) && inside(wk, &wk->req.u.post.body));
	assert_memory_equal(wk->req.u.post.body.p, "via worker 1", 12);
	memset(wk->msg, 0, RC_HDR_LEN);
	memset((char *)name.p, 'x', name.len);
	rc_req_work(&dp, dp.workers[1], wk);
	rte_mempool_put(dp.work_pool, wk);
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.seq, 1);
	assert_int_equal(sent(RC_T_DELIVER, 1, 0)->u.deliver.body.len, 12);
	assert_memory_equal(sent(RC_T_DELIVER, 1, 0)->u.deliver.body.p, "via worker 1", 12);
	assert_int_equal(dp.workers[1]->stats.posts_stored, 1);
}

/* A bundle JOIN + FETCH + POST for a room that does not exist yet (PROTOCOL.md 3): all three
 * go to the control thread, in order, decoded; once the room is created (played here) they
 * run on its home worker in that order, by name, without a second decode. */
static void
test_bundle_new_room(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	static const unsigned order[] = { RC_T_JOIN, RC_T_FETCH, RC_T_POST };
	uint8_t buf[RC_MAX_DGRAM];
	struct rc_peer p = peer_of(1);
	struct rc_msg m[3];
	struct rc_hist_req *q = NULL;
	size_t len = 0;

	(void)state;
	m[0] = req(RC_T_JOIN, a->id, 1);
	m[0].u.join.room = str("new-room");
	m[1] = req(RC_T_FETCH, a->id, 2);
	m[1].u.fetch.room = str("new-room");
	m[1].u.fetch.max = 10;
	m[2] = req(RC_T_POST, a->id, 3);
	m[2].u.post.room = str("new-room");
	m[2].u.post.cmid = 9;
	m[2].u.post.body = str("first words");
	for (unsigned i = 0; i < 3; i++) {
		ssize_t n = rc_encode(buf + len, sizeof(buf) - len, &m[i]);

		assert_true(n > 0);
		len += (size_t)n;
	}
	rc_req_input(&dp, dp.workers[0], &p, buf, (uint16_t)len);
	assert_int_equal(rte_ring_count(dp.ctrl_ring), 3);
	room(4, "new-room", 1); /* the control thread created it, homed on worker 1 */
	for (unsigned i = 0; i < 3; i++) {
		struct rc_work *wk = take_work(dp.ctrl_ring);

		assert_int_equal(wk->kind, RC_WORK_CREATE_ROOM);
		assert_int_equal(wk->room_id, 0);
		assert_int_equal(wk->req.hdr.type, order[i]);
		memset(wk->msg, 0, RC_HDR_LEN);
		wk->kind = RC_WORK_REQUEST; /* as the control thread hands it on */
		assert_int_equal(rte_ring_enqueue(dp.workers[1]->in, wk), 0);
	}
	assert_int_equal(run_handoffs(), 3);
	collect();
	assert_non_null(sent(RC_T_JOINED, 1, 0));
	assert_int_equal(count_sent(RC_T_ERROR), 0);
	assert_int_equal(rte_ring_dequeue(dp.hist_ring[0], (void **)&q), 0);
	assert_int_equal(q->kind, RC_HIST_LATEST);
	rte_mempool_put(dp.hist_pool[0], q);
	assert_int_equal(rte_ring_dequeue(dp.hist_ring[0], (void **)&q), 0);
	assert_int_equal(q->kind, RC_HIST_RANGE);
	assert_int_equal(q->max, 10);
	rte_mempool_put(dp.hist_pool[0], q);
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.cmid, 9);
	expect_stored(4, 1, 1);
}

/* ---- the control thread's half (control/node), on this dataplane ---- */

static struct rc_node node;

/* A node around the test's dataplane (the same tables, rings and pools): its tokens key,
 * one scope of room ids 1..100 served. */
static void
node_around_dp(void)
{
	memset(&node, 0, sizeof(node));
	rc_config_defaults(&node.cfg);
	node.dp = dp;
	node.scopes.dp = &node.dp;
	node.cfg.keys[RC_KEY_TOKENS].n = 1;
	node.cfg.keys[RC_KEY_TOKENS].k[0].id = 1;
	node.cfg.keys[RC_KEY_TOKENS].k[0].len = 32;
	memset(node.cfg.keys[RC_KEY_TOKENS].k[0].key, 's', 32);
	node.cfg.session_idle_s = 120;
	node.scopes.n = 1;
	node.scopes.sc[0].room_lo = 1;
	node.scopes.sc[0].room_hi = 100;
}

/* What worker 0 handed to the control thread for m from peer k, its header scribbled over:
 * whoever reads it now can only use what was decoded on RX. */
static struct rc_work *
to_control(unsigned k, const struct rc_msg *m, unsigned kind)
{
	struct rc_work *wk;

	input(0, k, m);
	wk = take_work(kind == RC_WORK_LOGIN ? dp.login_ring : dp.ctrl_ring);
	assert_int_equal(wk->kind, kind);
	assert_int_equal(wk->req.hdr.type, m->hdr.type);
	memset(wk->msg, 0, RC_HDR_LEN);
	return wk;
}

static struct rc_msg
login_msg(const char *user, const char *token, uint32_t request_id)
{
	struct rc_msg m = req(RC_T_LOGIN, 0, request_id);

	m.u.login.user = str(user);
	m.u.login.token = str(token);
	return m;
}

/* The control thread's log (stderr, at DEBUG) while wk's LOGIN runs, into buf. */
static void
login_logged(struct rc_work *wk, char *buf, size_t cap)
{
	FILE *f = tmpfile();
	int saved;
	size_t n;

	assert_non_null(f);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0 && dup2(fileno(f), 2) == 2);
	rc_log_set_level(RC_LOG_DEBUG);
	rc_node_login(&node, wk);
	rc_log_set_level(RC_LOG_INFO);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	rewind(f);
	n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* LOGIN on the control thread: the token is verified against the bytes the RX worker decoded
 * (in the item's copy), without decoding them again. The log names the session by its last
 * 16 bits, never the whole id (a bearer credential; security review S21). */
static void
test_control_login_decoded(void **state)
{
	char token[RC_TOKEN_LEN_MAX], logged[4096], text[32];
	struct rc_msg m;
	struct rc_work *wk;
	struct rc_session *s;

	(void)state;
	node_around_dp();
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], "bob", 3,
				  (uint64_t)time(NULL) * 1000, (uint64_t)time(NULL) + 3600, token,
				  sizeof(token)) > 0);
	m = login_msg("bob", token, 11);
	wk = to_control(3, &m, RC_WORK_LOGIN);
	login_logged(wk, logged, sizeof(logged));
	rte_mempool_put(dp.work_pool, wk);
	collect();
	assert_non_null(sent(RC_T_LOGIN_OK, 3, 0));
	s = rc_session_lookup(dp.sessions, sent(RC_T_LOGIN_OK, 3, 0)->u.login_ok.session);
	assert_non_null(s);
	snprintf(text, sizeof(text), "%016llx", (unsigned long long)s->id);
	assert_null(strstr(logged, text));
	snprintf(text, sizeof(text), "%llx", (unsigned long long)s->id);
	assert_null(strstr(logged, text));
	snprintf(text, sizeof(text), "login bob session *%04x", (unsigned)(s->id & 0xffff));
	assert_non_null(strstr(logged, text));
	assert_int_equal(s->user_len, 3);
	assert_memory_equal(s->user, "bob", 3);
	assert_int_equal(node.logins_ok, 1);

	/* the same token, one byte of it changed in the item's copy only: refused */
	m = login_msg("bob", token, 12);
	wk = to_control(3, &m, RC_WORK_LOGIN);
	assert_true(wk->req.u.login.token.p >= (const char *)wk->msg &&
		    wk->req.u.login.token.p < (const char *)wk->msg + wk->msg_len);
	((char *)wk->req.u.login.token.p)[0] ^= 1;
	rc_node_login(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
	collect();
	expect_error(3, RC_E_NOT_AUTH, RC_T_LOGIN);
	assert_int_equal(node.login_refused[RC_LOGIN_BAD_TOKEN], 1);
	assert_int_equal(node.logins_failed, 1);
	assert_int_equal(node.logins_ok, 1);
}

/* n LOGINs bundled in one datagram from peer k to worker 0. */
static void
input_logins(unsigned k, unsigned n, uint32_t request_id)
{
	uint8_t buf[RC_MAX_DGRAM];
	struct rc_peer p = peer_of(k);
	size_t off = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rc_msg m = login_msg("mallory", "1.bad-token", request_id + i);
		ssize_t len = rc_encode(buf + off, sizeof(buf) - off, &m);

		assert_true(len > 0);
		off += (size_t)len;
	}
	rc_req_input(&dp, dp.workers[0], &p, buf, (uint16_t)off);
}

static void
test_login_bundled(void **state)
{
	uint64_t *drops = dp.workers[0]->stats.drops;

	(void)state;
	input_logins(3, 5, 1);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 1);
	assert_int_equal(drops[RC_DROP_LOGIN_BUNDLED], 4);
	input_logins(3, 1, 10); /* the next datagram has its own first LOGIN */
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 1);
	assert_int_equal(drops[RC_DROP_LOGIN_BUNDLED], 4);
}

/* LOGINs of one source beyond chat.login_burst are dropped on the worker, unanswered;
 * another source has a bucket of its own; the setting moves the limit. */
static void
test_login_rate_per_source(void **state)
{
	uint64_t *drops = dp.workers[0]->stats.drops;

	(void)state;
	dp.login_rate = 1;
	dp.login_burst = 2;
	for (unsigned i = 0; i < 5; i++)
		input_logins(3, 1, 20 + i);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 2);
	assert_int_equal(drops[RC_DROP_LOGIN_RATE], 3);
	collect();
	assert_int_equal(n_out, 0);
	input_logins(4, 1, 30);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 1);

	dp.login_burst = 4; /* a source seen anew (another slot's owner took its place) */
	memset(&dp.workers[0]->login_src, 0, sizeof(dp.workers[0]->login_src));
	for (unsigned i = 0; i < 5; i++)
		input_logins(3, 1, 40 + i);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 4);
	assert_int_equal(drops[RC_DROP_LOGIN_RATE], 4);
}

/* LOGINs have a ring of their own: when it is full, a LOGIN is answered busy, and a JOIN
 * that creates a room still reaches the control thread. */
static void
test_login_ring_apart(void **state)
{
	struct rc_session *s = login_as("alice", 1);
	void *obj;
	unsigned filled = 0;

	(void)state;
	while (rte_ring_enqueue(dp.login_ring, &dp) == 0)
		filled++;
	input_logins(3, 1, 50);
	collect();
	expect_error(3, RC_E_BUSY, RC_T_LOGIN);
	assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_RING_LOGIN], 1);
	join(0, 1, s->id, "made-during-a-flood");
	assert_int_equal(drain_ring(dp.ctrl_ring, dp.work_pool, RC_WORK_CREATE_ROOM, false), 1);
	while (rte_ring_dequeue(dp.login_ring, &obj) == 0)
		filled--;
	assert_int_equal(filled, 0);
}

static void
fetch_from(unsigned k, uint64_t session, const char *name, uint64_t from, unsigned max)
{
	struct rc_msg m = req(RC_T_FETCH, session, 8);

	m.u.fetch.room = str(name);
	m.u.fetch.from_seq = from;
	m.u.fetch.max = (uint16_t)max;
	input(0, k, &m);
}

/* An archived room is read-only: a POST gets ERROR 11 and nothing reaches the WAL ring;
 * JOIN, FETCH and MEMBERS are served as before; unarchived, POSTs are stored again. */
static void
test_archived_room(void **state)
{
	struct rc_session *a = login_as("alice", 1), *b = login_as("bob", 2);
	struct rc_room *r;
	struct rc_msg m;

	(void)state;
	r = room(1, "lobby", 0);
	joined(a, 1, "lobby");
	post(0, 1, a->id, "lobby", 1, "before");
	assert_int_equal(commit_queued(0), 1);
	collect();

	rc_room_set_archived(r, true);
	post(0, 1, a->id, "lobby", 2, "after");
	collect();
	expect_error(1, RC_E_ARCHIVED, RC_T_POST);
	assert_int_equal(rte_ring_count(dp.wal_ring[0]), 0);

	join(0, 2, b->id, "lobby");
	collect();
	assert_non_null(sent(RC_T_JOINED, 2, 0));
	assert_int_equal(drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true), 1);
	fetch_from(2, b->id, "lobby", 1, 10);
	assert_int_equal(drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_RANGE, true), 1);
	m = req(RC_T_MEMBERS, b->id, 9);
	m.u.members.room = str("lobby");
	input(0, 2, &m);
	collect();
	assert_non_null(sent(RC_T_MEMBER_LIST, 2, 0));
	assert_int_equal(count_sent(RC_T_ERROR), 0);

	rc_room_set_archived(r, false);
	post(0, 1, a->id, "lobby", 2, "after");
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(sent(RC_T_ACK, 1, 0)->u.ack.seq, 2);
	expect_stored(1, 1, 2);
}

/* Every request takes from its session's budget by its cost: JOIN and FETCH by the
 * messages they return, MEMBERS by its datagrams, others 1; over it, ERROR 4 and counted,
 * nothing asked of the history thread. chat.request_burst moves the limit. */
static void
test_request_budget(void **state)
{
	struct rc_session *a = login_as("alice", 1), *b = login_as("bob", 2);
	struct rc_room *r = room(1, "busy", 0);
	uint64_t *drops = dp.workers[0]->stats.drops;
	struct rc_msg m;

	(void)state;
	dp.request_rate = 1;
	dp.request_burst = 30;
	__atomic_store_n(&r->last_committed, 50, __ATOMIC_RELAXED);
	joined(a, 1, "busy"); /* 1 + 20 replayed: 9 left */
	fetch_from(1, a->id, "busy", 1, 100); /* 1 + 50 */
	collect();
	expect_error(1, RC_E_RATE_LIMITED, RC_T_FETCH);
	assert_int_equal(drops[RC_DROP_REQUEST_BUDGET], 1);
	assert_int_equal(rte_ring_count(dp.hist_ring[0]), 0);
	fetch_from(1, a->id, "busy", 44, 100); /* 1 + 7: fits */
	assert_int_equal(drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_RANGE, true), 1);
	m = req(RC_T_PING, a->id, 9);
	input(0, 1, &m); /* 1 left */
	input(0, 1, &m);
	collect();
	assert_int_equal(count_sent(RC_T_PONG), 1);
	expect_error(1, RC_E_RATE_LIMITED, RC_T_PING);
	assert_int_equal(drops[RC_DROP_REQUEST_BUDGET], 2);
	m = req(RC_T_LOGOUT, a->id, 10); /* ending a session is never refused */
	input(0, 1, &m);
	assert_int_equal(drain_ring(dp.ctrl_ring, dp.work_pool, RC_WORK_LOGOUT, false), 1);

	dp.request_burst = 100;
	joined(b, 2, "busy");
	fetch_from(2, b->id, "busy", 1, 100);
	assert_int_equal(drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_RANGE, true), 1);
	assert_int_equal(drops[RC_DROP_REQUEST_BUDGET], 2);
}

/* MEMBERS costs the datagrams its answer may take: one per MEMBER_LIST of 64-byte names. */
static void
test_request_budget_members(void **state)
{
	struct rc_room *r = room(1, "crowd", 0);
	struct rc_msg m = req(RC_T_MEMBERS, 1, 1);
	unsigned per_dgram = (RC_MAX_DGRAM - RC_HDR_LEN - 6) / (1 + RC_MAX_USER);

	(void)state;
	assert_int_equal(rc_budget_cost(&dp, RC_COST_MEMBERS, r, &m), 1);
	r->n_members = 1000; /* the cost reads the count alone */
	assert_int_equal(rc_budget_cost(&dp, RC_COST_MEMBERS, r, &m), 1 + 1000 / per_dgram);
	assert_true(rc_budget_cost(&dp, RC_COST_MEMBERS, r, &m) >= 45);
	r->n_members = 0;
}

/* Under load, a LOGIN is answered with a COOKIE for its source address and port, and only a
 * LOGIN_COOKIE carrying it goes on; the control thread logs a LOGIN_COOKIE in like a LOGIN. */
static void
test_login_cookie(void **state)
{
	char token[RC_TOKEN_LEN_MAX];
	struct rc_msg m = login_msg("bob", "1.bad-token", 60), c;
	const struct rc_msg *got;
	struct rc_work *wk;

	(void)state;
	dp.login_cookie_threshold = 0; /* always */
	input(0, 3, &m);
	assert_int_equal(rte_ring_count(dp.login_ring), 0);
	collect();
	got = sent(RC_T_COOKIE, 3, 0);
	assert_non_null(got);
	assert_int_equal(got->hdr.request_id, 60);
	assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_LOGIN_COOKIE], 1);
	c = m;
	c.hdr.type = RC_T_LOGIN_COOKIE;
	c.u.login.cookie_slot = got->u.cookie.slot;
	c.u.login.cookie_mac = got->u.cookie.mac;
	input(0, 4, &c); /* another source: a cookie of its own */
	collect();
	assert_non_null(sent(RC_T_COOKIE, 4, 0));
	c.u.login.cookie_mac ^= 1;
	input(0, 3, &c);
	collect();
	assert_non_null(sent(RC_T_COOKIE, 3, 0));
	assert_int_equal(rte_ring_count(dp.login_ring), 0);
	c.u.login.cookie_mac ^= 1;
	input(0, 3, &c);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 1);
	assert_int_equal(dp.workers[0]->stats.drops[RC_DROP_LOGIN_COOKIE], 3);

	dp.login_cookie_threshold = 1; /* not under load: a LOGIN goes on as it is */
	input(0, 5, &m);
	assert_int_equal(drain_ring(dp.login_ring, dp.work_pool, RC_WORK_LOGIN, false), 1);
	assert_int_equal(rte_ring_enqueue(dp.login_ring, &dp), 0); /* one LOGIN waiting: load */
	input(0, 5, &m);
	collect();
	assert_non_null(sent(RC_T_COOKIE, 5, 0));
	assert_int_equal(rte_ring_count(dp.login_ring), 1);
	assert_int_equal(rte_ring_dequeue(dp.login_ring, (void **)&wk), 0);

	node_around_dp();
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], "bob", 3,
				  (uint64_t)time(NULL) * 1000, (uint64_t)time(NULL) + 3600, token,
				  sizeof(token)) > 0);
	c.u.login.token = str(token);
	wk = to_control(3, &c, RC_WORK_LOGIN);
	rc_node_login(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
	collect();
	assert_non_null(sent(RC_T_LOGIN_OK, 3, 0));
}

/* A cookie is good for its source, in its slot and the next one only. */
static void
test_cookie_slots(void **state)
{
	struct rc_cookie_keys k = { 0 };
	uint64_t t = 1000 * (uint64_t)RC_COOKIE_SLOT_MS, mac;
	uint32_t slot;

	(void)state;
	rc_cookie_make(&k, t, 0x0a000001, 4000, &slot, &mac);
	assert_true(rc_cookie_ok(&k, t, 0x0a000001, 4000, slot, mac));
	assert_false(rc_cookie_ok(&k, t, 0x0a000001, 4001, slot, mac));
	assert_false(rc_cookie_ok(&k, t, 0x0a000002, 4000, slot, mac));
	assert_false(rc_cookie_ok(&k, t, 0x0a000001, 4000, slot + 1, mac));
	assert_true(rc_cookie_ok(&k, t + RC_COOKIE_SLOT_MS, 0x0a000001, 4000, slot, mac));
	assert_false(rc_cookie_ok(&k, t + 2 * RC_COOKIE_SLOT_MS, 0x0a000001, 4000, slot, mac));
}

/* A LOGIN of user with token from peer 3, run by the control thread: the answer's type. */
static unsigned
control_login(const char *user, const char *token, uint32_t request_id)
{
	struct rc_msg m = login_msg(user, token, request_id);
	struct rc_work *wk = to_control(3, &m, RC_WORK_LOGIN);
	const struct rc_msg *r;

	rc_node_login(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
	collect();
	r = n_out > 0 ? &outs[n_out - 1].m : NULL;
	return r != NULL ? r->hdr.type : 0;
}

/* LOGIN refuses (ERROR 5, counted by reason) a token of a key id the tokens ring does not
 * list, one whose lifetime is above auth.token_ttl_max_s, and one issued before a
 * revocation of its user; a token of another user, or issued after, still logs in. */
static void
test_control_login_refusals(void **state)
{
	char path[] = "/tmp/rc-request-revoked.XXXXXX", tok[RC_TOKEN_LEN_MAX];
	struct rc_key other = node.cfg.keys[RC_KEY_TOKENS].k[0];
	uint64_t now = (uint64_t)time(NULL);
	int fd = mkstemp(path);

	(void)state;
	node_around_dp();
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(rc_revocations_open(&node.revoked, path), 0);
	other = node.cfg.keys[RC_KEY_TOKENS].k[0];
	other.id = 2; /* the same bytes under an id the ring does not list */
	assert_true(rc_token_mint(&other, "bob", 3, now * 1000, now + 60, tok, sizeof(tok)) > 0);
	assert_int_equal(control_login("bob", tok, 21), RC_T_ERROR);
	assert_int_equal(node.login_refused[RC_LOGIN_BAD_TOKEN], 1);
	/* a day and a minute: above the maximum */
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], "bob", 3, now * 1000,
				  now + 86460, tok, sizeof(tok)) > 0);
	assert_int_equal(control_login("bob", tok, 22), RC_T_ERROR);
	assert_int_equal(node.login_refused[RC_LOGIN_TOKEN_TOO_LONG], 1);
	/* revoked: bob's tokens issued before now + 1 s */
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], "bob", 3, now * 1000,
				  now + 60, tok, sizeof(tok)) > 0);
	assert_int_equal(control_login("bob", tok, 23), RC_T_LOGIN_OK);
	assert_int_equal(rc_revocations_add(&node.revoked, "bob", now * 1000 + 1000), 0);
	assert_int_equal(control_login("bob", tok, 24), RC_T_ERROR);
	assert_int_equal(node.login_refused[RC_LOGIN_TOKEN_REVOKED], 1);
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], "bob", 3,
				  now * 1000 + 1000, now + 60, tok, sizeof(tok)) > 0);
	assert_int_equal(control_login("bob", tok, 25), RC_T_LOGIN_OK);
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], "carol", 5, now * 1000,
				  now + 60, tok, sizeof(tok)) > 0);
	assert_int_equal(control_login("carol", tok, 26), RC_T_LOGIN_OK);
	rc_revocations_close(&node.revoked);
	unlink(path);
}

/* LOGIN of user with token from ip:port (network order) as worker 0 hands it to the control
 * thread, run there; the purges and replies it caused are carried out and collected. */
static void
login_from(uint32_t ip, uint16_t port, const char *user, const char *token, uint32_t rid)
{
	struct rc_peer p = { .ip = ip, .udp_port = rte_cpu_to_be_16(port), .port_idx = 0 };
	uint8_t buf[RC_MAX_DGRAM];
	struct rc_msg m = login_msg(user, token, rid);
	ssize_t len = rc_encode(buf, sizeof(buf), &m);
	struct rc_work *wk;

	assert_true(len > 0);
	rc_req_input(&dp, dp.workers[0], &p, buf, (uint16_t)len);
	wk = take_work(dp.login_ring);
	assert_int_equal(wk->kind, RC_WORK_LOGIN);
	rc_node_login(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
	run_handoffs();
	collect();
}

static void
mint(const char *user, char *token)
{
	assert_true(rc_token_mint(&node.cfg.keys[RC_KEY_TOKENS].k[0], user, strlen(user),
				  (uint64_t)time(NULL) * 1000, (uint64_t)time(NULL) + 3600, token,
				  RC_TOKEN_LEN_MAX) > 0);
}

/* One token opens thousands of sessions from one address (one socket, then many ports, each
 * LOGIN a new request id) and keeps them: the table must still take another user. */
static void
test_login_one_token_floods(void **state)
{
	char token[RC_TOKEN_LEN_MAX], tb[RC_TOKEN_LEN_MAX];
	uint32_t ip = peer_of(1).ip;

	(void)state;
	dp.login_burst = 4000; /* the per-source LOGIN bucket would stop most: not checked here */
	node_around_dp();
	mint("alice", token);
	for (uint32_t i = 0; i < 3000; i++)
		login_from(ip, (uint16_t)(40000 + (i < 1000 ? 0 : i % 200)), "alice", token,
			   i + 1);
	assert_true(rc_session_count(dp.sessions) <= 8); /* chat.max_sessions_per_user */
	mint("bob", tb);
	login_from(peer_of(5).ip, 40005, "bob", tb, 1);
	assert_non_null(sent(RC_T_LOGIN_OK, 5, 0));
	assert_null(sent(RC_T_ERROR, 5, 0));
}

/* The message of `type` sent to ip:port (network order, host-order port) since collect(). */
static const struct rc_msg *
sent_at(unsigned type, uint32_t ip, uint16_t port)
{
	for (unsigned i = 0; i < n_out; i++)
		if (outs[i].m.hdr.type == type && outs[i].to_ip == ip && outs[i].to_port == port)
			return &outs[i].m;
	return NULL;
}

static uint64_t
login_ok_at(uint32_t ip, uint16_t port)
{
	const struct rc_msg *m = sent_at(RC_T_LOGIN_OK, ip, port);

	assert_non_null(m);
	return m->u.login_ok.session;
}

/* chat.max_sessions_per_user: beyond it the user's oldest session ends, BYE to it; a LOGIN
 * from the address and port of one of its sessions replaces that one (no BYE: that socket
 * asked); a retransmitted LOGIN (same request id) keeps its session. */
static void
test_login_user_cap(void **state)
{
	char token[RC_TOKEN_LEN_MAX];
	uint32_t ip1 = peer_of(1).ip, ip2 = peer_of(2).ip;
	uint64_t s1, s2, s3, s4;
	const struct rc_msg *bye;

	(void)state;
	node_around_dp();
	node.cfg.max_sessions_per_user = 2;
	mint("alice", token);
	login_from(ip1, 41001, "alice", token, 1);
	s1 = login_ok_at(ip1, 41001);
	login_from(ip1, 41002, "alice", token, 2);
	s2 = login_ok_at(ip1, 41002);
	login_from(ip2, 41003, "alice", token, 3);
	s3 = login_ok_at(ip2, 41003);
	bye = sent_at(RC_T_BYE, ip1, 41001);
	assert_non_null(bye);
	assert_int_equal(bye->hdr.session, s1);
	assert_null(rc_session_lookup(dp.sessions, s1));
	assert_non_null(rc_session_lookup(dp.sessions, s2));
	assert_int_equal(rc_session_user_count(dp.sessions, "alice", 5), 2);
	assert_int_equal(node.sessions_evicted, 1);

	login_from(ip2, 41003, "alice", token, 4); /* the same socket again */
	s4 = login_ok_at(ip2, 41003);
	assert_true(s4 != s3);
	assert_null(rc_session_lookup(dp.sessions, s3));
	assert_non_null(rc_session_lookup(dp.sessions, s2));
	assert_null(sent_at(RC_T_BYE, ip2, 41003));
	assert_int_equal(node.sessions_replaced, 1);
	assert_int_equal(node.sessions_evicted, 1);
	login_from(ip2, 41003, "alice", token, 4); /* retransmitted */
	assert_int_equal(login_ok_at(ip2, 41003), s4);
	assert_int_equal(rc_session_count(dp.sessions), 2);

	node.cfg.max_sessions_per_user = 0; /* no cap */
	for (uint16_t i = 0; i < 5; i++)
		login_from(ip2, (uint16_t)(42000 + i), "alice", token, 10 + i);
	assert_int_equal(rc_session_user_count(dp.sessions, "alice", 5), 7);
	assert_int_equal(node.sessions_evicted, 1);
}

/* chat.max_sessions_per_address: beyond it a LOGIN from that address is refused, ERROR 10,
 * whoever the user; other addresses are not affected. */
static void
test_login_address_cap(void **state)
{
	static const char *const users[] = { "u0", "u1", "u2", "u3" };
	char token[RC_TOKEN_LEN_MAX];
	uint32_t ip1 = peer_of(1).ip, ip2 = peer_of(2).ip;
	const struct rc_msg *e;

	(void)state;
	node_around_dp();
	node.cfg.max_sessions_per_address = 3;
	for (uint16_t i = 0; i < 4; i++) {
		mint(users[i], token);
		login_from(ip1, (uint16_t)(41000 + i), users[i], token, 1);
	}
	assert_int_equal(rc_session_addr_count(dp.sessions, ip1), 3);
	e = sent_at(RC_T_ERROR, ip1, 41003);
	assert_non_null(e);
	assert_int_equal(e->u.error.code, RC_E_LIMIT_REACHED);
	assert_int_equal(e->u.error.ref_type, RC_T_LOGIN);
	assert_int_equal(node.login_refused[RC_LOGIN_ADDRESS_LIMIT], 1);
	login_from(ip2, 41003, "u3", token, 2);
	login_ok_at(ip2, 41003);
	node.cfg.max_sessions_per_address = 4;
	login_from(ip1, 41003, "u3", token, 3);
	login_ok_at(ip1, 41003);
}

/* ROOMS(prefix) from session s at peer 1, run by the control thread; its answers collected. */
static void
list_rooms(const struct rc_session *s, const char *prefix, uint32_t request_id)
{
	struct rc_msg m = req(RC_T_ROOMS, s->id, request_id);
	struct rc_work *wk;

	m.u.rooms.prefix = str(prefix);
	wk = to_control(1, &m, RC_WORK_ROOMS);
	rc_node_list_rooms(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
	collect();
}

/* ROOMS on the control thread: the rooms of the table whose name starts with the prefix,
 * sorted, with their last stored seq, over as many ROOM_LISTs as they need (MORE on all but
 * the last); a prefix nothing matches gets one empty ROOM_LIST. */
static void
test_control_rooms(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	char name[RC_MAX_ROOM + 1];
	unsigned total = 0, i;
	const struct rc_msg *l;

	(void)state;
	node_around_dp();
	room(1, "attic", 0);
	room(2, "lounge", 1)->last_committed = 42;
	for (i = 0; i < 9; i++) { /* 209 bytes an entry: 6 fit a datagram */
		memset(name, 'x', RC_MAX_ROOM);
		name[RC_MAX_ROOM] = '\0';
		memcpy(name, "long-", 5);
		name[5] = (char)('0' + i);
		room(3 + i, name, 0);
	}
	list_rooms(a, "lo", 7);
	assert_int_equal(count_sent(RC_T_ROOM_LIST), 2);
	for (unsigned d = 0; d < 2; d++) {
		struct rc_str r;
		uint64_t seq;
		size_t off = 0;

		l = sent(RC_T_ROOM_LIST, 1, d);
		assert_int_equal(l->hdr.request_id, 7);
		assert_int_equal(l->hdr.session, a->id);
		assert_int_equal(l->hdr.flags, d == 0 ? RC_F_MORE : 0);
		for (i = 0; rc_room_list_next(l, &off, &r, &seq); i++, total++) {
			if (total < 9) {
				assert_int_equal(r.len, RC_MAX_ROOM);
				assert_int_equal(r.p[5], '0' + total);
			} else {
				assert_int_equal(r.len, strlen("lounge@" SELF_SERVICE));
				assert_memory_equal(r.p, "lounge@" SELF_SERVICE, r.len);
				assert_int_equal(seq, 42);
			}
		}
		assert_int_equal(i, l->u.room_list.count);
	}
	assert_int_equal(total, 10);

	list_rooms(a, "zz", 8);
	assert_int_equal(count_sent(RC_T_ROOM_LIST), 1);
	assert_int_equal(sent(RC_T_ROOM_LIST, 1, 0)->u.room_list.count, 0);
	assert_int_equal(sent(RC_T_ROOM_LIST, 1, 0)->hdr.flags, 0);
}

/* Two requests for `name` in one datagram from peer k (a JOIN and `then`), on the control
 * thread's ring as room creations. */
static void
join_and(unsigned k, uint64_t session, const char *name, unsigned then)
{
	uint8_t buf[RC_MAX_DGRAM];
	struct rc_peer p = peer_of(k);
	struct rc_msg m[2] = { req(RC_T_JOIN, session, 1), req(then, session, 2) };
	ssize_t n1, n2;

	m[0].u.join.room = str(name);
	if (then == RC_T_FETCH) {
		m[1].u.fetch.room = str(name);
		m[1].u.fetch.max = 10;
	} else {
		m[1].u.post.room = str(name);
		m[1].u.post.cmid = 1;
		m[1].u.post.body = str("hi");
	}
	n1 = rc_encode(buf, sizeof(buf), &m[0]);
	assert_true(n1 > 0);
	n2 = rc_encode(buf + n1, sizeof(buf) - (size_t)n1, &m[1]);
	assert_true(n2 > 0);
	rc_req_input(&dp, dp.workers[0], &p, buf, (uint16_t)(n1 + n2));
	assert_int_equal(rte_ring_count(dp.ctrl_ring), 2);
}

/* The two items join_and() queued, each run by rc_node_create_room with its header
 * scribbled over, and kept by the control thread (waiting, or handed on). */
static void
create_both(void)
{
	for (unsigned i = 0; i < 2; i++) {
		struct rc_work *wk = take_work(dp.ctrl_ring);

		memset(wk->msg, 0, RC_HDR_LEN);
		assert_true(rc_node_create_room(&node, wk));
	}
}

static struct rc_pending_room *
creation_under_way(unsigned slot, uint32_t id, const char *name)
{
	struct rc_pending_room *p = &node.pending[slot];

	p->id = id; /* stored, as every room, under its canonical name */
	p->name_len = (uint8_t)snprintf(p->name, sizeof(p->name), "%s@" SELF_SERVICE, name);
	return p;
}

/* The next request on the history ring is of `kind` (freed). */
static void
take_hist(unsigned kind)
{
	struct rc_hist_req *q = NULL;

	assert_int_equal(rte_ring_dequeue(dp.hist_ring[0], (void **)&q), 0);
	assert_int_equal(q->kind, kind);
	rte_mempool_put(dp.hist_pool[0], q);
}

/* Room creation on the control thread: the room named by the dispatch row's column of the
 * request as decoded on RX; the requests kept while the room is stored (the items
 * themselves: their views still point into them) run at its home worker once it is; a
 * refused creation answers each by its decoded type; a room created meanwhile gets them at
 * once; a request whose JOIN did not start a creation names an unknown room. No item is
 * lost. */
static void
test_control_create_room_decoded(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	unsigned avail = rte_mempool_avail_count(dp.work_pool);
	struct rc_wal_rec rec = { .ts_ms = 1 };
	struct rc_pending_room *p;
	struct rc_work *wk;

	(void)state;
	node_around_dp();
	p = creation_under_way(0, 5, "fresh");
	join_and(1, a->id, "fresh", RC_T_FETCH);
	create_both();
	assert_int_equal(p->n_joins, 2);
	rec.room_id = 5;
	rc_node_room_created(&node, &rec);
	assert_int_equal(node.rooms_created, 1);
	assert_int_equal(run_handoffs(), 2);
	collect();
	assert_non_null(sent(RC_T_JOINED, 1, 0));
	assert_int_equal(sent(RC_T_JOINED, 1, 0)->u.joined.room_id, 5);
	assert_int_equal(count_sent(RC_T_ERROR), 0);
	take_hist(RC_HIST_LATEST);
	take_hist(RC_HIST_RANGE);

	creation_under_way(1, 7, "doomed");
	join_and(1, a->id, "doomed", RC_T_POST);
	create_both();
	rec.room_id = 7;
	rec.status = -EIO;
	rc_node_room_created(&node, &rec);
	collect();
	assert_int_equal(count_sent(RC_T_ERROR), 2);
	expect_error(1, RC_E_BUSY, RC_T_JOIN);
	assert_int_equal(sent(RC_T_ERROR, 1, 1)->u.error.code, RC_E_UNKNOWN_ROOM);
	assert_int_equal(sent(RC_T_ERROR, 1, 1)->u.error.ref_type, RC_T_POST);

	join_and(1, a->id, "later", RC_T_FETCH);
	room(6, "later", 0);
	create_both();
	assert_int_equal(run_handoffs(), 2);
	collect();
	assert_non_null(sent(RC_T_JOINED, 1, 0));
	assert_int_equal(sent(RC_T_JOINED, 1, 0)->u.joined.room_id, 6);
	take_hist(RC_HIST_LATEST);
	take_hist(RC_HIST_RANGE);

	join_and(1, a->id, "nowhere", RC_T_POST);
	rte_mempool_put(dp.work_pool, take_work(dp.ctrl_ring)); /* its JOIN refused */
	wk = take_work(dp.ctrl_ring);
	memset(wk->msg, 0, RC_HDR_LEN);
	assert_false(rc_node_create_room(&node, wk));
	rte_mempool_put(dp.work_pool, wk);
	collect();
	expect_error(1, RC_E_UNKNOWN_ROOM, RC_T_POST);
	assert_int_equal(rte_mempool_avail_count(dp.work_pool), avail);
}

/* LMDB transactions begun (every WAL read and write begins one), counted while armed: the
 * linker sends mdb_txn_begin here (tests/unit/meson.build). */
static unsigned txn_begun;
static bool txn_counting;

int __real_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);
int __wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn);

int
__wrap_mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
	if (txn_counting)
		txn_begun++;
	return __real_mdb_txn_begin(env, parent, flags, txn);
}

/* A WAL in its own directory (removed at close) holding n rooms "pI@" PEER_SERVICE,
 * ids from first: the HA peer's scope as this node keeps it while the peer serves it. */
static struct rc_wal *
peer_wal_with_rooms(char *dir, size_t cap, uint32_t first, unsigned n)
{
	struct rc_wal_conf wc = { .dir = dir, .map_size = 32u << 20, .high_water_pct = 90,
				  .batch_max = 64, .ring_size = 1024, .pool_size = 1023,
				  .nosync = true, .socket_id = SOCKET_ID_ANY };
	struct rc_wal_rec *rec = calloc(1, sizeof(*rec));
	char err[256];
	struct rc_wal *w;

	snprintf(dir, cap, "%s-peer", wal_dir);
	w = rc_wal_open(&wc, err, sizeof(err));
	assert_non_null(w);
	assert_non_null(rec);
	for (unsigned i = 0; i < n; i++) {
		struct rc_wal_rec *one = rec;

		memset(rec, 0, sizeof(*rec));
		rec->kind = RC_WAL_ROOM;
		rec->room_id = first + i;
		rec->ts_ms = 1;
		rec->user_len = 1;
		rec->user[0] = 'p';
		rec->body_len = (uint16_t)snprintf(rec->body, sizeof(rec->body), "p%u@" PEER_SERVICE,
						   i);
		assert_int_equal(rc_wal_commit_now(w, &one, 1), 0);
	}
	free(rec);
	return w;
}

/* A JOIN of room `name` from session s at peer 1, run by the control thread while the
 * LMDB transactions it begins are counted; returns that count. */
static unsigned
join_counting_reads(const struct rc_session *s, const char *name, bool *kept)
{
	struct rc_msg m = req(RC_T_JOIN, s->id, 9);
	struct rc_work *wk;

	m.u.join.room = str(name);
	input(0, 1, &m);
	wk = take_work(dp.ctrl_ring);
	assert_int_equal(wk->kind, RC_WORK_CREATE_ROOM);
	txn_begun = 0;
	txn_counting = true;
	*kept = rc_node_create_room(&node, wk);
	txn_counting = false;
	if (!*kept)
		rte_mempool_put(dp.work_pool, wk);
	collect();
	return txn_begun;
}

/* A JOIN for a room that does not exist reads no WAL on the control thread (which also runs
 * the heartbeats): not the HA peer's, whose 2000 rooms are in its WAL and not loaded, nor
 * ours; the same once max_rooms is reached (refused, ERROR 10, before anything else). */
static void
test_join_miss_reads_no_wal(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_wal_rec *rec = NULL;
	char peer_dir[96], cmd[160];
	struct rc_wal *pw;
	bool kept;

	(void)state;
	node_around_dp();
	pw = peer_wal_with_rooms(peer_dir, sizeof(peer_dir), 101, 2000);
	node.max_rooms = 1; /* per scope */
	node.scopes.n = 2;
	node.scopes.sc[1].idx = 1;
	node.scopes.sc[1].wal = pw;
	node.scopes.sc[1].room_lo = 101;
	node.scopes.sc[1].room_hi = 3000;
	node.scopes.sc[0].next_room_id = 1;
	assert_int_equal(join_counting_reads(a, "p7", &kept), 0); /* created: queued to the WAL */
	assert_true(kept);
	assert_int_equal(rte_ring_dequeue(dp.wal_ring[0], (void **)&rec), 0);
	rte_mempool_put(dp.wal_pool[0], rec);
	rte_mempool_put(dp.work_pool, node.pending[0].joins[0]);
	node.pending[0].id = 0;
	/* a name of the peer's: its host is another node (here no remote id is left) */
	assert_int_equal(join_counting_reads(a, "p7@" PEER_SERVICE, &kept), 0);
	assert_false(kept);
	room(2, "full0", 0);
	room(3, "full1", 0);
	assert_int_equal(join_counting_reads(a, "p8", &kept), 0);
	assert_false(kept);
	expect_error(1, RC_E_LIMIT_REACHED, RC_T_JOIN);
	rc_wal_close(pw);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", peer_dir);
	assert_int_equal(system(cmd), 0);
}

/* The WAL writer's part for room creations: commits what is queued and hands each
 * completion to the control thread; returns how many. */
static unsigned
commit_rooms(void)
{
	struct rc_wal_rec *recs[64];
	unsigned n = rte_ring_dequeue_burst(dp.wal_ring[0], (void **)recs, RTE_DIM(recs), NULL);

	if (n > 0)
		assert_int_equal(rc_wal_commit_now(wal, recs, n), 0);
	for (unsigned i = 0; i < n; i++) {
		rc_node_room_created(&node, recs[i]);
		rte_mempool_put(dp.wal_pool[0], recs[i]);
	}
	run_handoffs();
	drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true);
	return n;
}

/* Session s at peer k JOINs a new room `name`, through the control thread and the WAL; the
 * reply's type (JOINED, or the ERROR's code + 100). */
static unsigned
create_as(const struct rc_session *s, unsigned k, const char *name)
{
	struct rc_msg m = req(RC_T_JOIN, s->id, 11);
	const struct rc_msg *e;
	struct rc_work *wk;

	m.u.join.room = str(name);
	input(0, k, &m);
	wk = take_work(dp.ctrl_ring);
	if (!rc_node_create_room(&node, wk))
		rte_mempool_put(dp.work_pool, wk);
	commit_rooms();
	collect();
	if (sent(RC_T_JOINED, (int)k, 0) != NULL)
		return RC_T_JOINED;
	e = sent(RC_T_ERROR, (int)k, 0);
	assert_non_null(e);
	return 100u + e->u.error.code;
}

/* One user creates rooms until the node's max_rooms is reached: another user must still be
 * able to create one. */
static void
test_rooms_one_user_exhausts(void **state)
{
	struct rc_session *a = login_as("alice", 1), *c = login_as("carol", 3);
	char name[32];
	unsigned i, got;

	(void)state;
	node_around_dp();
	node.max_rooms = 12;
	node.scopes.sc[0].next_room_id = 1;
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "junk%u", i);
		got = create_as(a, 1, name);
		if (got != RC_T_JOINED)
			break;
	}
	assert_int_equal(create_as(c, 3, "carols"), RC_T_JOINED);
}

/* chat.max_rooms_per_user: rooms a user created that exist (a room of the table loaded at
 * start counts: the quota survives a restart); beyond it ERROR 10, others unaffected; 0 no
 * cap. */
static void
test_rooms_user_quota(void **state)
{
	struct rc_session *a = login_as("alice", 1), *c = login_as("carol", 3);

	(void)state;
	node_around_dp();
	node.max_rooms = 14;
	node.cfg.room_create_per_min = 0;
	node.cfg.max_rooms_per_user = 3;
	node.scopes.sc[0].next_room_id = 3;
	/* stored before a restart, loaded with its creator */
	assert_non_null(rc_room_add(dp.rooms, 1, "old@" SELF_SERVICE, 4 + strlen(SELF_SERVICE),
				    "alice", 1, 0));
	assert_int_equal(create_as(a, 1, "a1"), RC_T_JOINED);
	assert_int_equal(create_as(a, 1, "a2"), RC_T_JOINED);
	assert_int_equal(create_as(a, 1, "a3"), 100 + RC_E_LIMIT_REACHED);
	assert_int_equal(node.rooms_refused_quota, 1);
	assert_int_equal(create_as(c, 3, "c1"), RC_T_JOINED);
	node.cfg.max_rooms_per_user = 0;
	assert_int_equal(create_as(a, 1, "a3"), RC_T_JOINED);
}

/* chat.room_create_per_min: a bucket per user as deep as the rate; beyond it ERROR 4,
 * others unaffected; it refills with time (moved back here, not waited for). */
static void
test_rooms_user_rate(void **state)
{
	struct rc_session *a = login_as("alice", 1), *c = login_as("carol", 3);

	(void)state;
	node_around_dp();
	node.max_rooms = 14;
	node.cfg.room_create_per_min = 2;
	node.scopes.sc[0].next_room_id = 1;
	assert_int_equal(create_as(a, 1, "a1"), RC_T_JOINED);
	assert_int_equal(create_as(a, 1, "a2"), RC_T_JOINED);
	assert_int_equal(create_as(a, 1, "a3"), 100 + RC_E_RATE_LIMITED);
	assert_int_equal(node.rooms_refused_rate, 1);
	assert_int_equal(create_as(c, 3, "c1"), RC_T_JOINED);
	for (unsigned i = 0; i < RC_ROOM_RATE_SLOTS; i++)
		if (node.room_rate[i].user_len == 5 && memcmp(node.room_rate[i].user, "alice", 5) == 0)
			node.room_rate[i].stamp_ms -= 30000; /* half a minute: one creation at 2/min */
	assert_int_equal(create_as(a, 1, "a3"), RC_T_JOINED);
	assert_int_equal(create_as(a, 1, "a4"), 100 + RC_E_RATE_LIMITED);
	node.cfg.room_create_per_min = 0;
	assert_int_equal(create_as(a, 1, "a4"), RC_T_JOINED);
}

/* max_rooms counts the rooms we host: our copy of a room another node hosts does not count,
 * nor does it once it left the table (an HA takeover puts the real room in its place). */
static void
test_rooms_count_hosted_only(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_msg m = req(RC_T_JOIN, a->id, 5);
	struct rc_room *far;

	(void)state;
	node_around_dp();
	node.max_rooms = 1;
	node.scopes.sc[0].next_room_id = 1;
	node.next_remote_id = 10;
	node.remote_hi = 16;
	m.u.join.room = str("far@" PEER_SERVICE);
	input(0, 1, &m);
	assert_true(rc_node_create_room(&node, take_work(dp.ctrl_ring)));
	run_handoffs();
	collect();
	far = rc_room_lookup_id(dp.rooms, 10);
	assert_non_null(far);
	assert_int_equal(far->kind, RC_ROOM_REMOTE);
	assert_int_equal(rc_room_del(dp.rooms, far), 0); /* as a scope load replaces it */
	assert_int_equal(create_as(a, 1, "mine"), RC_T_JOINED);
	assert_int_equal(create_as(a, 1, "second"), 100 + RC_E_LIMIT_REACHED);
}

/* ---- the relay: relayed requests at the host, remote rooms at home ---- */

/* The other node's MAC, as the workers learn it from an ARP request it sends. */
static void
learn_peer_mac(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp.mbuf_pool);
	struct rc_local peer = { .ip = rte_cpu_to_be_32(PEER_IP),
				 .mac = { .addr_bytes = { 0x02, 0, 0, 0, 0, 0x22 } } };

	assert_non_null(m);
	assert_int_equal(rc_pkt_arp_request(m, &peer, dp.ports[0].local.ip), 0);
	rc_neigh_arp(&dp, dp.workers[0], m, false);
	rte_pktmbuf_free(m);
}

/* m as the other node (directory index 0) relays it to worker wi, envelope verified. */
static void
relay_in(unsigned wi, const struct rc_msg *m)
{
	uint8_t buf[RC_MAX_DGRAM];
	ssize_t n = rc_encode(buf, sizeof(buf), m);
	struct rc_peer from;

	assert_true(n > 0);
	assert_int_equal(rc_relay_peer_of(&dp, 0, &from), 0);
	rc_relay_inner(&dp, dp.workers[wi], 0, &from, buf, (uint16_t)n);
}

static void
rjoin(uint64_t session, uint32_t alias, const char *user, const char *name, uint64_t since)
{
	struct rc_msg m = req(RC_T_RJOIN, session, 9);

	m.u.rjoin.alias = alias;
	m.u.rjoin.since_seq = since;
	m.u.rjoin.user = str(user);
	m.u.rjoin.room = str(name);
	relay_in(0, &m);
}

static void
rpost(uint64_t session, uint32_t room_id, uint32_t alias, const char *user, uint64_t cmid)
{
	struct rc_msg m = req(RC_T_RPOST, session, (uint32_t)cmid);

	m.u.rpost.room_id = room_id;
	m.u.rpost.alias = alias;
	m.u.rpost.cmid = cmid;
	m.u.rpost.user = str(user);
	m.u.rpost.body = str("from afar");
	relay_in(0, &m);
}

/* The nth message of type sent to the other node (in an envelope). */
static const struct rc_msg *
to_peer(unsigned type, unsigned nth)
{
	for (unsigned i = 0; i < n_out; i++)
		if (outs[i].m.hdr.type == type && outs[i].relayed &&
		    outs[i].to_ip == rte_cpu_to_be_32(PEER_IP) && nth-- == 0)
			return &outs[i].m;
	return NULL;
}

/* A client-level RJOIN: the node becomes one node member (its alias), told our id
 * (RJOINED), and the client gets JOINED with the alias and its history, through the node; a
 * second user of the same node adds no member. A local POST then reaches the node once, with
 * the alias as its room id, and the local member with ours. */
static void
test_relay_host_join(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	struct rc_hist_req *q = NULL;
	struct rc_room *r;
	const struct rc_msg *m;

	(void)state;
	learn_peer_mac();
	r = room(3, "lobby", 1); /* homed on worker 1: the relayed JOIN is handed over */
	rjoin(0x55, 77, "carol", "lobby@" SELF_SERVICE, 0);
	run_handoffs();
	collect();
	assert_int_equal(r->n_members, 1);
	assert_int_equal(r->n_node_members, 1);
	assert_int_equal(r->members[0].alias, 77);
	m = to_peer(RC_T_RJOINED, 0);
	assert_non_null(m);
	assert_int_equal(m->hdr.session, 0);
	assert_int_equal(m->u.rjoined.alias, 77);
	assert_int_equal(m->u.rjoined.room_id, 3);
	m = to_peer(RC_T_JOINED, 0);
	assert_non_null(m);
	assert_int_equal(m->hdr.session, 0x55);
	assert_int_equal(m->u.joined.room_id, 77);
	assert_int_equal(m->u.joined.room.len, strlen("lobby@" SELF_SERVICE));
	assert_int_equal(rte_ring_dequeue(dp.hist_ring[0], (void **)&q), 0);
	assert_int_equal(((struct rc_reply_ctx *)q->ctx)->alias, 77);
	assert_int_equal(((struct rc_reply_ctx *)q->ctx)->session, 0x55);
	rte_mempool_put(dp.hist_pool[0], q);

	rjoin(0x56, 77, "dave", "lobby@" SELF_SERVICE, 0);
	run_handoffs();
	drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true);
	assert_int_equal(r->n_members, 1);

	joined(a, 1, "lobby");
	post(0, 1, a->id, "lobby", 1, "hello");
	run_handoffs();
	assert_int_equal(commit_queued(0), 1);
	collect();
	assert_int_equal(count_sent(RC_T_DELIVER), 2);
	assert_int_equal(sent(RC_T_DELIVER, 1, 0)->u.deliver.room_id, 3);
	m = to_peer(RC_T_DELIVER, 0);
	assert_non_null(m);
	assert_int_equal(m->u.deliver.room_id, 77);
	assert_int_equal(m->hdr.session, 0);
	assert_null(to_peer(RC_T_DELIVER, 1));

	/* not refreshed for three periods: the node member is dropped */
	r->members[rc_room_node_find(r, 1)].refreshed_ms -= 4 * RC_RELAY_REFRESH_MS;
	post(0, 1, a->id, "lobby", 2, "again");
	run_handoffs();
	commit_queued(0);
	collect();
	assert_null(to_peer(RC_T_DELIVER, 0));
	assert_int_equal(r->n_node_members, 0);
}

/* RPOST: stored once per (user, cmid), ACKed with the alias to the client's session; one
 * with another alias, or from a node that never joined, is refused ERROR 2. */
static void
test_relay_host_post(void **state)
{
	const struct rc_msg *m;

	(void)state;
	learn_peer_mac();
	room(3, "lobby", 0);
	rpost(0x55, 3, 77, "carol", 5);
	collect();
	m = to_peer(RC_T_ERROR, 0);
	assert_non_null(m);
	assert_int_equal(m->u.error.code, RC_E_NOT_MEMBER);
	assert_int_equal(m->hdr.session, 0x55);

	rjoin(0x55, 77, "carol", "lobby@" SELF_SERVICE, 0);
	drain_ring(dp.hist_ring[0], dp.hist_pool[0], RC_HIST_LATEST, true);
	rpost(0x55, 3, 77, "carol", 5);
	assert_int_equal(commit_queued(0), 1);
	rpost(0x55, 3, 77, "carol", 5); /* the client's resend, relayed again */
	assert_int_equal(commit_queued(0), 0);
	collect();
	expect_stored(3, 1, 1);
	assert_non_null(to_peer(RC_T_ACK, 1));
	for (unsigned i = 0; i < 2; i++) {
		m = to_peer(RC_T_ACK, i);
		assert_int_equal(m->u.ack.room_id, 77);
		assert_int_equal(m->u.ack.seq, 1);
		assert_int_equal(m->hdr.session, 0x55);
	}

	rpost(0x55, 3, 78, "carol", 6);
	collect();
	m = to_peer(RC_T_ERROR, 0);
	assert_non_null(m);
	assert_int_equal(m->u.error.code, RC_E_NOT_MEMBER);
	assert_int_equal(commit_queued(0), 0);
}

static void
host_deliver(uint32_t alias, uint64_t seq)
{
	struct rc_msg m = req(RC_T_DELIVER, 0, 0);

	m.u.deliver.room_id = alias;
	m.u.deliver.seq = seq;
	m.u.deliver.ts_ms = 1;
	m.u.deliver.cmid = seq;
	m.u.deliver.sender = str("carol");
	m.u.deliver.body = str("from the host");
	relay_in(0, &m);
}

/* The names in the ROOM_LISTs sent to client peer 1, in order, "," separated. */
static const char *
listed_rooms(void)
{
	static char buf[1024];
	const struct rc_msg *l;
	struct rc_str r;
	uint64_t seq;

	buf[0] = '\0';
	for (unsigned d = 0; (l = sent(RC_T_ROOM_LIST, 1, d)) != NULL; d++)
		for (size_t off = 0; rc_room_list_next(l, &off, &r, &seq);)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%.*s:%llu",
				 buf[0] ? "," : "", r.len, r.p, (unsigned long long)seq);
	return buf;
}

/* The other node's ROOM_LIST for our query rid (entries name:last_seq), relayed to us and
 * run by the control thread as it would. */
static void
dir_answer(uint32_t rid, const char *name, uint64_t last_seq, bool more)
{
	struct rc_room_entry e = { str(name), last_seq };
	struct rc_msg l = req(RC_T_ROOM_LIST, 0, rid);
	struct rc_work *wk;

	l.u.room_list.count = 1;
	l.u.room_list.rooms = &e;
	l.hdr.flags = more ? RC_F_MORE : 0;
	relay_in(0, &l);
	wk = take_work(dp.ctrl_ring);
	assert_int_equal(wk->kind, RC_WORK_ROOM_DIR);
	rc_room_dir_heard(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
}

/*
 * The cluster's room directory: another node's ROOMS (over the relay) gets the rooms we host,
 * never our remote copies; we ask the other node (every 2 s) and its answer, once complete
 * (no MORE), joins our rooms in a client's ROOMS, sorted, each once; an answer to a query we
 * did not send changes nothing.
 */
static void
test_room_directory(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	static struct rc_relay_dir d;
	struct rc_msg q = req(RC_T_ROOMS, 0, 41);
	const struct rc_msg *m;
	struct rc_work *wk;
	uint32_t rid;

	(void)state;
	learn_peer_mac();
	node_around_dp();
	room(1, "attic", 0)->last_committed = 3;
	node.next_remote_id = 11;
	node.remote_hi = 16;
	assert_non_null(rc_room_add_remote(dp.rooms, 11, "lobby@" PEER_SERVICE,
					   strlen("lobby@" PEER_SERVICE), "t", 1, 0, 0));

	q.u.rooms.prefix = str("");
	relay_in(0, &q);
	wk = take_work(dp.ctrl_ring);
	assert_int_equal(wk->kind, RC_WORK_ROOMS);
	rc_node_list_rooms(&node, wk);
	rte_mempool_put(dp.work_pool, wk);
	collect();
	m = to_peer(RC_T_ROOM_LIST, 0);
	assert_non_null(m);
	assert_int_equal(m->hdr.request_id, 41);
	assert_int_equal(m->hdr.session, 0);
	assert_int_equal(m->u.room_list.count, 1); /* attic, not our copy of lobby */

	memset(&d, 0, sizeof(d));
	strcpy(d.nodes[0].id, "n2");
	d.n_nodes = 1;
	node.relay_dir = &d;
	rc_room_dir_poll(&node, 10000);
	collect();
	m = to_peer(RC_T_ROOMS, 0);
	assert_non_null(m);
	assert_int_equal(m->hdr.session, 0);
	rid = m->hdr.request_id;
	assert_int_not_equal(rid, 0);

	dir_answer(rid, "lobby@" PEER_SERVICE, 9, true);
	list_rooms(a, "", 7); /* its answer is not complete yet */
	assert_string_equal(listed_rooms(), "attic@" SELF_SERVICE ":3");
	dir_answer(rid, "bar@" PEER_SERVICE, 5, false);
	list_rooms(a, "", 8);
	assert_string_equal(listed_rooms(), "attic@" SELF_SERVICE ":3,bar@" PEER_SERVICE
			    ":5,lobby@" PEER_SERVICE ":9");
	list_rooms(a, "lob", 9);
	assert_string_equal(listed_rooms(), "lobby@" PEER_SERVICE ":9");
	dir_answer(rid + 5, "stray@" PEER_SERVICE, 1, false); /* not asked: ignored */
	list_rooms(a, "", 10);
	assert_string_equal(listed_rooms(), "attic@" SELF_SERVICE ":3,bar@" PEER_SERVICE
			    ":5,lobby@" PEER_SERVICE ":9");
	node.relay_dir = NULL;
	rc_room_dir_free(&node);
}

/* A POST naming a room another node hosts, of which this node holds no copy (it has just
 * moved back to its host: the copy comes with the member's next JOIN): ERROR 2, so that the
 * client JOINs again and resends, as after a takeover. A POST to a room of our own service
 * that does not exist: ERROR 1. Nothing reaches the control thread or the other node. */
static void
test_post_no_copy_not_member(void **state)
{
	struct rc_session *a = login_as("alice", 1);

	(void)state;
	learn_peer_mac();
	node_around_dp();
	post(0, 1, a->id, "lobby@" PEER_SERVICE, 5, "hi");
	run_handoffs();
	collect();
	expect_error(1, RC_E_NOT_MEMBER, RC_T_POST);
	assert_null(to_peer(RC_T_RPOST, 0));
	post(0, 1, a->id, "nowhere@" SELF_SERVICE, 6, "hi");
	run_handoffs();
	collect();
	expect_error(1, RC_E_UNKNOWN_ROOM, RC_T_POST);
	assert_int_equal(rte_ring_count(dp.ctrl_ring), 0);
}

/* Home side (with this node's own TC service stopped: that blocks only rooms hosted here):
 * a JOIN of a room of the other node's service makes a remote room (created by
 * the control thread) and relays RJOIN; the session is a member once the host's JOINED
 * comes back, and one whose JOIN the host refuses is none; a POST before the host's RJOINED is busy, after it
 * relayed as RPOST; the host's DELIVERs are fanned out once each, a gap asks RFETCH, a
 * duplicate is dropped; a reply for a session is forwarded to it byte for byte; the last
 * member's LEAVE is answered here and tells the host (RLEAVE). */
static void
test_relay_home(void **state)
{
	struct rc_session *a = login_as("alice", 1), *b = login_as("bob", 2);
	struct rc_room *r;
	struct rc_work *wk;
	const struct rc_msg *m;
	struct rc_msg rj, ack;

	(void)state;
	learn_peer_mac();
	node_around_dp();
	node.next_remote_id = 11; /* above the scope's ids, within the table */
	node.remote_hi = 16;
	/* our TC service is stopped: it hosts nothing, yet our users reach rooms elsewhere */
	dp.rooms_blocked = RC_ROOMS_TC_STOPPED;
	join(0, 1, a->id, "lobby@" PEER_SERVICE);
	wk = take_work(dp.ctrl_ring);
	assert_int_equal(wk->kind, RC_WORK_CREATE_ROOM);
	assert_true(rc_node_create_room(&node, wk));
	r = rc_room_lookup_name(dp.rooms, "lobby@" PEER_SERVICE, strlen("lobby@" PEER_SERVICE));
	assert_non_null(r);
	assert_int_equal(r->kind, RC_ROOM_REMOTE);
	assert_int_equal(r->id, 11);
	run_handoffs();
	collect();
	assert_int_equal(r->n_members, 0); /* a member once the host has accepted it */
	m = to_peer(RC_T_RJOIN, 0);
	assert_non_null(m);
	assert_int_equal(m->hdr.session, a->id);
	assert_int_equal(m->u.rjoin.alias, 11);
	assert_int_equal(m->u.rjoin.room.len, strlen("lobby@" PEER_SERVICE));

	/* the host refuses bob's JOIN: its ERROR reaches bob, and bob is no member here */
	join(0, 2, b->id, "lobby@" PEER_SERVICE);
	run_handoffs();
	collect();
	assert_non_null(to_peer(RC_T_RJOIN, 0));
	rj = req(RC_T_ERROR, b->id, 7);
	rj.u.error = (typeof(rj.u.error)){ .code = RC_E_LIMIT_REACHED, .ref_type = RC_T_JOIN,
					   .text = str("room is full") };
	relay_in(0, &rj);
	run_handoffs();
	collect();
	expect_error(2, RC_E_LIMIT_REACHED, RC_T_JOIN);
	assert_int_equal(r->n_members, 0);
	/* it accepts alice's: JOINED (with our id) reaches her, and she is a member */
	rj = req(RC_T_JOINED, a->id, 7);
	rj.u.joined = (typeof(rj.u.joined)){ .room = str("lobby@" PEER_SERVICE), .room_id = 11,
					     .last_seq = 10, .members = 2 };
	relay_in(0, &rj);
	run_handoffs();
	collect();
	assert_non_null(sent(RC_T_JOINED, 1, 0));
	assert_int_equal(r->n_members, 1);
	assert_int_equal(r->members[0].session, a->id);

	post(0, 1, a->id, "lobby@" PEER_SERVICE, 1, "early");
	run_handoffs();
	collect();
	expect_error(1, RC_E_BUSY, RC_T_POST);

	rj = req(RC_T_RJOINED, 0, 9);
	rj.u.rjoined = (typeof(rj.u.rjoined)){ .alias = 11, .room_id = 3, .last_seq = 10 };
	relay_in(0, &rj);
	run_handoffs();
	assert_int_equal(r->host_room_id, 3);
	assert_int_equal(r->last_seq, 10);
	post(0, 1, a->id, "lobby@" PEER_SERVICE, 1, "now");
	run_handoffs();
	collect();
	m = to_peer(RC_T_RPOST, 0);
	assert_non_null(m);
	assert_int_equal(m->u.rpost.room_id, 3);
	assert_int_equal(m->u.rpost.alias, 11);
	assert_int_equal(m->hdr.session, a->id);
	assert_int_equal(m->u.rpost.user.len, 5);

	host_deliver(11, 11);
	host_deliver(11, 11);
	run_handoffs();
	collect();
	assert_int_equal(count_sent(RC_T_DELIVER), 1);
	assert_int_equal(sent(RC_T_DELIVER, 1, 0)->u.deliver.seq, 11);
	assert_int_equal(dp.workers[1]->relay_stats.duplicates, 1);
	host_deliver(11, 14);
	run_handoffs();
	collect();
	assert_int_equal(sent(RC_T_DELIVER, 1, 0)->u.deliver.seq, 14);
	m = to_peer(RC_T_RFETCH, 0);
	assert_non_null(m);
	assert_int_equal(m->hdr.session, 0);
	assert_int_equal(m->u.rfetch.from_seq, 12);
	assert_int_equal(m->u.rfetch.max, 2);
	assert_int_equal(dp.workers[1]->relay_stats.gaps, 1);
	host_deliver(11, 12);
	host_deliver(11, 13);
	host_deliver(11, 14);
	run_handoffs();
	collect();
	assert_int_equal(count_sent(RC_T_DELIVER), 2);
	assert_int_equal(r->last_seq, 14);
	{
		/* the room's backup serves it now (a takeover) and sends from its own address:
		 * another node of the directory than the room's service, and still delivered */
		struct rc_msg d = req(RC_T_DELIVER, 0, 0);
		uint8_t buf[RC_MAX_DGRAM];
		struct rc_peer from;
		ssize_t n;

		d.u.deliver = (typeof(d.u.deliver)){ .room_id = 11, .seq = 15, .ts_ms = 1,
						      .cmid = 15, .sender = str("carol"),
						      .body = str("from the backup") };
		n = rc_encode(buf, sizeof(buf), &d);
		assert_int_equal(rc_relay_peer_of(&dp, 0, &from), 0);
		from.relay = 2;
		from.ip = rte_cpu_to_be_32(RTE_IPV4(198u, 18, 0, 9));
		rc_relay_inner(&dp, dp.workers[0], 1, &from, buf, (uint16_t)n);
		run_handoffs();
		collect();
		assert_int_equal(count_sent(RC_T_DELIVER), 1);
		assert_int_equal(sent(RC_T_DELIVER, 1, 0)->u.deliver.seq, 15);
		assert_int_equal(r->last_seq, 15);
	}

	ack = req(RC_T_ACK, a->id, 1);
	ack.u.ack = (typeof(ack.u.ack)){ .room_id = 11, .cmid = 1, .seq = 15 };
	relay_in(0, &ack);
	collect();
	assert_int_equal(n_out, 1);
	assert_non_null(sent(RC_T_ACK, 1, 0));
	{
		uint8_t buf[RC_MAX_DGRAM];
		ssize_t n = rc_encode(buf, sizeof(buf), &ack);

		assert_memory_equal(outs[0].raw, buf, (size_t)n);
	}

	rj = req(RC_T_LEAVE, a->id, 3);
	rj.u.leave.room = str("lobby@" PEER_SERVICE);
	input(0, 1, &rj);
	run_handoffs();
	collect();
	assert_non_null(sent(RC_T_LEFT, 1, 0));
	assert_int_equal(sent(RC_T_LEFT, 1, 0)->u.left.room_id, 11);
	m = to_peer(RC_T_RLEAVE, 0);
	assert_non_null(m);
	assert_int_equal(m->u.rleave.room_id, 3);
	assert_int_equal(m->u.rleave.alias, 11);
}

/* Canonical names: a bare name is the node's own service's; JOINED names the room in full;
 * a service nobody serves is ERROR 1, a canonical form over 200 bytes ERROR 3. */
static void
test_canonical_names(void **state)
{
	struct rc_session *a = login_as("alice", 1);
	char long_name[RC_MAX_ROOM];
	const struct rc_msg *m;

	(void)state;
	room(2, "lobby", 0);
	joined(a, 1, "lobby");
	m = sent(RC_T_JOINED, 1, 0);
	assert_int_equal(m->u.joined.room_id, 2);
	assert_memory_equal(m->u.joined.room.p, "lobby@" SELF_SERVICE, m->u.joined.room.len);
	joined(a, 1, "lobby@" SELF_SERVICE);
	assert_int_equal(sent(RC_T_JOINED, 1, 0)->u.joined.room_id, 2);

	join(0, 1, a->id, "lobby@tc-nowhere");
	collect();
	expect_error(1, RC_E_UNKNOWN_ROOM, RC_T_JOIN);
	assert_non_null(strstr(sent(RC_T_ERROR, 1, 0)->u.error.text.p, "no service tc-nowhere"));

	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	join(0, 1, a->id, long_name);
	collect();
	expect_error(1, RC_E_TOO_LARGE, RC_T_JOIN);
	assert_int_equal(rte_ring_count(dp.ctrl_ring), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_members_leave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_ack_deliver_resend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_full_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forwarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_archived_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_never_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seq_gen_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_incarnation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forwarded_scope_unserved, setup, teardown),
		cmocka_unit_test(test_dispatch_table),
		cmocka_unit_test_setup_teardown(test_refused_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_relay_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_rooms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_host_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_host_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_home, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_no_copy_not_member, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_canonical_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forwarded_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bundle_new_room, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_login_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_bundled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_rate_per_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_ring_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_cookie, setup, teardown),
		cmocka_unit_test(test_cookie_slots),
		cmocka_unit_test_setup_teardown(test_request_budget_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_login_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_one_token_floods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_user_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_login_address_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_create_room_decoded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_miss_reads_no_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rooms_one_user_exhausts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rooms_user_quota, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rooms_user_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rooms_count_hosted_only, setup, teardown),
	};

	if (fx_eal_init("request_test") < 0) {
		fprintf(stderr, "request_test: EAL init failed\n");
		return 1;
	}
	rcu_register_thread();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
