/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/repl.c and the WAL's replication calls (wal_repl.c): two real LMDB
 * environments of one scope ("rooms:A") in scratch directories, their writer threads, and
 * two rc_repl (nodes A and B) on 127.0.0.1 with ephemeral ports, in one process with a real
 * EAL (--no-huge). Streaming with equal LSNs and contents, the peer gate, a role flip with
 * truncation, a reset after trimming, a wrong key, garbage to the listener, aux messages.
 * cmocka assertions run on the test's main thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "doorbell.h"
#include "repl.h"
#include "wal_fixture.h"
#include "wal_format.h"

#define SCOPE "rooms:A"
#define WAIT_MS 5000

struct fx {
	char dir[128];
	struct rc_wal *wa, *wb;       /* A's and B's environment of SCOPE */
	struct rte_ring *cqa, *cqb;   /* their completion rings */
	struct rc_repl *ra, *rb;
	uint64_t keep;                /* keep_records of both */
	uint64_t keep_b;              /* B's instead (0: keep) */
};

static unsigned ring_id;

static uint64_t
ms_now(void)
{
	return fx_now_us() / 1000;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static struct rc_wal *
wal_open(struct fx *f, const char *sub, struct rte_ring **cq)
{
	char path[256], err[256] = "", name[32];
	struct rc_wal_conf c;
	struct rc_wal *w;

	snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
	c = fx_conf(path);
	c.keep_records = f->keep_b != 0 && strcmp(sub, "b") == 0 ? f->keep_b : f->keep;
	w = rc_wal_open(&c, err, sizeof(err));
	if (w == NULL)
		fail_msg("rc_wal_open: %s", err);
	snprintf(name, sizeof(name), "rt_cq%u", ring_id++);
	*cq = rte_ring_create(name, 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
	assert_non_null(*cq);
	assert_int_equal(rc_wal_set_completion(w, 0, *cq), 0);
	assert_int_equal(rc_wal_start(w), 0);
	return w;
}

static struct rc_repl_conf
repl_conf(const char *me, const char *peer)
{
	struct rc_repl_conf c = {
		.node_id = me,
		.peer_id = peer,
		.listen_addr = "127.0.0.1:0",
		.key = { .id = 1, .len = 32 },
		.reconnect_min_ms = 20,
		.reconnect_max_ms = 200,
		.dead_ms = 1000,
	};

	memset(c.key.key, 0x5a, c.key.len);
	return c;
}

/* A (writer) and B (replica) of SCOPE; B's key bytes may differ (key_byte != 0). */
static void
fx_up(struct fx *f, uint8_t b_key_byte, bool start_b)
{
	struct rc_repl_conf ca = repl_conf("A", "B"), cb = repl_conf("B", "A");
	char addr[64];

	if (b_key_byte != 0)
		memset(cb.key.key, b_key_byte, cb.key.len);
	f->wa = wal_open(f, "a", &f->cqa);
	f->wb = wal_open(f, "b", &f->cqb);
	f->ra = rc_repl_create(&ca);
	f->rb = rc_repl_create(&cb);
	assert_non_null(f->ra);
	assert_non_null(f->rb);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_repl_listen_port(f->rb));
	assert_int_equal(rc_repl_set_peer_addr(f->ra, addr), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_repl_listen_port(f->ra));
	assert_int_equal(rc_repl_set_peer_addr(f->rb, addr), 0);
	assert_int_equal(rc_repl_attach(f->ra, SCOPE, f->wa, RC_REPL_WRITER), 0);
	assert_int_equal(rc_repl_attach(f->rb, SCOPE, f->wb, RC_REPL_REPLICA), 0);
	assert_int_equal(rc_repl_start(f->ra), 0);
	if (start_b)
		assert_int_equal(rc_repl_start(f->rb), 0);
}

static int
setup(void **state)
{
	*state = FX_STATE_NEW(struct fx);
	return 0;
}

static void
drain_cq(struct rte_ring *cq, struct rc_wal *w)
{
	void *p;

	while (cq != NULL && rte_ring_dequeue(cq, &p) == 0)
		rte_mempool_put(rc_wal_pool(w), p);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rc_repl_destroy(f->ra);
	rc_repl_destroy(f->rb);
	if (f->wa != NULL)
		rc_wal_stop(f->wa);
	if (f->wb != NULL)
		rc_wal_stop(f->wb);
	drain_cq(f->cqa, f->wa);
	drain_cq(f->cqb, f->wb);
	rc_wal_close(f->wa);
	rc_wal_close(f->wb);
	rte_ring_free(f->cqa);
	rte_ring_free(f->cqb);
	fx_rmdir(f->dir);
	free(f);
	return 0;
}

/* ---- producing through the writer's ring ---- */

static struct rc_wal_rec *
rec_get(struct rc_wal *w)
{
	void *p = NULL;

	assert_int_equal(rte_mempool_get(rc_wal_pool(w), &p), 0);
	return p;
}

static void
post(struct rc_wal *w, struct rc_wal_rec *r)
{
	r->reply_to = 0;
	assert_int_equal(rte_ring_enqueue(rc_wal_ring(w), r), 0);
	rc_bell_ring(rc_wal_bell(w));
}

static void
post_room(struct rc_wal *w, uint32_t room, const char *name)
{
	struct rc_wal_rec *r = rec_get(w);

	fx_room(r, room, 1700000000000ull + room, "alice", name);
	post(w, r);
}

static void
post_room_state(struct rc_wal *w, uint32_t room, uint8_t flags)
{
	struct rc_wal_rec *r = rec_get(w);

	memset(r, 0, offsetof(struct rc_wal_rec, ctx));
	r->kind = RC_WAL_ROOM_SET;
	r->room_id = room;
	r->cmid = flags;
	post(w, r);
}

static void
post_msg(struct rc_wal *w, uint32_t room, uint64_t seq, const char *tag)
{
	struct rc_wal_rec *r = rec_get(w);
	char body[64];

	snprintf(body, sizeof(body), "%s-r%us%llu", tag, room, (unsigned long long)seq);
	fx_msg(r, room, seq, "bob", body);
	post(w, r);
}

/* Waits up to ms for n completions on cq; returns how many came (each status checked 0). */
static unsigned
completions(struct rc_wal *w, struct rte_ring *cq, unsigned n, unsigned ms)
{
	uint64_t end = ms_now() + ms;
	unsigned got = 0;

	while (got < n && ms_now() < end) {
		void *p;

		if (rte_ring_dequeue(cq, &p) != 0) {
			sleep_ms(1);
			continue;
		}
		assert_int_equal(((struct rc_wal_rec *)p)->status, 0);
		rte_mempool_put(rc_wal_pool(w), p);
		got++;
	}
	return got;
}

static void
write_msgs(struct rc_wal *w, struct rte_ring *cq, uint32_t room, uint64_t first,
	   uint64_t last, const char *tag)
{
	for (uint64_t s = first; s <= last; s++)
		post_msg(w, room, s, tag);
	assert_int_equal(completions(w, cq, (unsigned)(last - first + 1), WAIT_MS),
			 last - first + 1);
}

static bool
wait_lsn(struct rc_wal *w, uint64_t lsn)
{
	uint64_t end = ms_now() + WAIT_MS;

	while (rc_wal_last_lsn(w) != lsn && ms_now() < end)
		sleep_ms(2);
	return rc_wal_last_lsn(w) == lsn;
}

static bool
wait_connected(struct rc_repl *r, bool up)
{
	uint64_t end = ms_now() + WAIT_MS;
	struct rc_repl_status st;

	do {
		assert_int_equal(rc_repl_get_status(r, SCOPE, &st), 0);
		if (st.connected == up)
			return true;
		sleep_ms(2);
	} while (ms_now() < end);
	return false;
}

/* ---- comparing two environments ---- */

struct dump {
	char *buf;
	size_t len, cap;
};

static void
dump_add(struct dump *d, const char *s)
{
	size_t n = strlen(s);

	if (d->len + n + 1 > d->cap) {
		d->cap = (d->len + n + 1) * 2;
		d->buf = realloc(d->buf, d->cap);
		assert_non_null(d->buf);
	}
	memcpy(d->buf + d->len, s, n + 1);
	d->len += n;
}

static int
dump_log_cb(void *arg, const struct rc_wal_logrec *r)
{
	char line[2048];

	snprintf(line, sizeof(line), "%llu %u %u %llu %llu %llu %.*s %.*s %u\n",
		 (unsigned long long)r->lsn, r->kind, r->room_id, (unsigned long long)r->seq,
		 (unsigned long long)r->ts_ms, (unsigned long long)r->cmid, r->user.len,
		 r->user.p, r->body.len, r->body.p, r->value_len);
	dump_add(arg, line);
	return 0;
}

static int
dump_room_cb(void *arg, const struct rc_wal_room *r)
{
	char line[1024];

	char del[32] = "";

	if (r->flags & RC_WAL_ROOM_DELETED)
		snprintf(del, sizeof(del), " deleted@%llu", (unsigned long long)r->deleted_lsn);
	snprintf(line, sizeof(line), "room %u %llu %llu %s %s%s%s\n", r->room_id,
		 (unsigned long long)r->created_ms, (unsigned long long)r->last_seq, r->name,
		 r->creator, r->flags & RC_WAL_ROOM_ARCHIVED ? " archived" : "", del);
	dump_add(arg, line);
	return 0;
}

static int
dump_msg_cb(void *arg, const struct rc_wal_msg *m)
{
	char line[2048];

	snprintf(line, sizeof(line), "msg %u %llu %llu %.*s\n", m->room_id,
		 (unsigned long long)m->seq, (unsigned long long)m->cmid, m->body.len, m->body.p);
	dump_add(arg, line);
	return 0;
}

/* The log from `from`, the rooms and rooms 1..3's messages, as text. */
static char *
dump(struct rc_wal *w, uint64_t from)
{
	struct dump d = { 0 };

	dump_add(&d, "");
	assert_true(rc_wal_log_read(w, from, 100000, dump_log_cb, &d) >= 0);
	assert_int_equal(rc_wal_load_rooms(w, dump_room_cb, &d), 0);
	for (uint32_t room = 1; room <= 3; room++)
		assert_true(rc_wal_read(w, room, 1, UINT64_MAX, 100000, dump_msg_cb, &d) >= 0);
	return d.buf;
}

static void
assert_same(struct rc_wal *a, struct rc_wal *b, uint64_t from)
{
	char *x = dump(a, from), *y = dump(b, from);

	assert_int_equal(rc_wal_last_lsn(a), rc_wal_last_lsn(b));
	assert_string_equal(x, y);
	free(x);
	free(y);
}

/* ---- tests ---- */

static void
test_stream(void **state)
{
	struct fx *f = *state;
	struct rc_repl_event ev[8];
	struct rc_repl_status st;
	bool connected = false;

	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	post_room(f->wa, 2, "dev");
	assert_int_equal(completions(f->wa, f->cqa, 2, WAIT_MS), 2);
	write_msgs(f->wa, f->cqa, 1, 1, 300, "a");
	write_msgs(f->wa, f->cqa, 2, 1, 20, "a");
	assert_true(wait_lsn(f->wb, 322));
	assert_same(f->wa, f->wb, 1);
	assert_true(wait_connected(f->ra, true));
	assert_int_equal(rc_repl_get_status(f->ra, SCOPE, &st), 0);
	assert_int_equal(st.role, RC_REPL_WRITER);
	assert_int_equal(st.sent_lsn, 322);
	assert_int_equal(st.protocol_errors + st.auth_failures + st.timeouts, 0);
	assert_int_equal(st.connects, 1);
	assert_int_equal(st.reconnects, 0);
	for (unsigned i = 0; i < 100 && st.acked_lsn != 322; i++) {
		sleep_ms(5);
		rc_repl_get_status(f->ra, SCOPE, &st);
	}
	assert_int_equal(st.acked_lsn, 322);
	assert_int_equal(st.lag, 0);
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_int_equal(st.role, RC_REPL_REPLICA);
	assert_int_equal(st.applied_lsn, 322);
	assert_int_equal(st.records_rx, 322);
	assert_int_equal(rc_repl_get_status(f->rb, "nope", &st), -ENOENT);
	for (unsigned n = rc_repl_poll_events(f->rb, ev, 8), i = 0; i < n; i++)
		connected |= ev[i].type == RC_REPL_EV_CONNECTED && strcmp(ev[i].scope, SCOPE) == 0;
	assert_true(connected);
	/* the drained marker follows the writer's */
	rc_wal_set_drained(f->wa, 100);
	for (unsigned i = 0; i < 200 && rc_wal_drained_lsn(f->wb) < 100; i++)
		sleep_ms(5);
	assert_int_equal(rc_wal_drained_lsn(f->wb), 100);
}

static void
test_gate(void **state)
{
	struct fx *f = *state;
	struct rc_wal_stats ws;

	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_connected(f->ra, true));
	rc_wal_set_peer_gate(f->wa, true);
	/* B up: completes once B acked */
	write_msgs(f->wa, f->cqa, 1, 1, 10, "a");
	assert_int_equal(rc_wal_last_lsn(f->wb), 11);
	/* B down: committed, not completed */
	rc_repl_stop(f->rb);
	assert_true(wait_connected(f->ra, false));
	post_msg(f->wa, 1, 11, "a");
	assert_int_equal(completions(f->wa, f->cqa, 1, 300), 0);
	assert_int_equal(rc_wal_last_lsn(f->wa), 12);
	rc_wal_get_stats(f->wa, &ws);
	assert_int_equal(ws.holding, 1);
	/* gate off: completed at once */
	rc_wal_set_peer_gate(f->wa, false);
	assert_int_equal(completions(f->wa, f->cqa, 1, 1000), 1);
	/* gate on again, B still down: held; B back: acked, completed */
	rc_wal_set_peer_gate(f->wa, true);
	post_msg(f->wa, 1, 12, "a");
	post_msg(f->wa, 1, 13, "a");
	assert_int_equal(completions(f->wa, f->cqa, 2, 300), 0);
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_int_equal(completions(f->wa, f->cqa, 2, WAIT_MS), 2);
	assert_int_equal(rc_wal_last_lsn(f->wb), 14);
	assert_same(f->wa, f->wb, 1);
	rc_wal_get_stats(f->wa, &ws);
	assert_int_equal(ws.holding, 0);
	assert_true(ws.held_records >= 13);
	assert_true(ws.hold_max_us >= 250000);
	/* stop with a held record: completed with -ENOTCONN, never lost */
	rc_repl_stop(f->rb);
	assert_true(wait_connected(f->ra, false));
	post_msg(f->wa, 1, 14, "a");
	sleep_ms(50);
	rc_wal_stop(f->wa);
	{
		void *p = NULL;

		assert_int_equal(rte_ring_dequeue(f->cqa, &p), 0);
		assert_int_equal(((struct rc_wal_rec *)p)->status, -ENOTCONN);
		rte_mempool_put(rc_wal_pool(f->wa), p);
	}
	rc_wal_get_stats(f->wa, &ws);
	assert_int_equal(ws.unacked_completions, 1);
	assert_int_equal(ws.lost_completions, 0);
}

static void
test_truncate_after_flip(void **state)
{
	struct fx *f = *state;
	struct rc_repl_status st;

	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 10, "a");
	assert_true(wait_lsn(f->wb, 11));
	/* B misses A's last records (12..14) */
	rc_repl_stop(f->rb);
	assert_true(wait_connected(f->ra, false));
	post_room(f->wa, 2, "a-only");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 11, 12, "a");
	assert_int_equal(rc_wal_last_lsn(f->wa), 14);
	/* A dies; B takes over and writes 12..16 itself */
	rc_repl_stop(f->ra);
	assert_int_equal(rc_repl_set_role(f->rb, SCOPE, RC_REPL_WRITER), 0);
	assert_int_equal(rc_repl_set_role(f->ra, SCOPE, RC_REPL_REPLICA), 0);
	assert_int_equal(rc_repl_start(f->rb), 0);
	for (unsigned i = 0; i < 200 && rc_wal_writer_start(f->wb) != 12; i++)
		sleep_ms(5);
	assert_int_equal(rc_wal_writer_start(f->wb), 12);
	write_msgs(f->wb, f->cqb, 1, 11, 15, "b");
	assert_int_equal(rc_wal_last_lsn(f->wb), 16);
	/* A comes back as the replica: truncated to 11, then B's 12..16 */
	assert_int_equal(rc_repl_start(f->ra), 0);
	assert_true(wait_lsn(f->wa, 16));
	for (unsigned i = 0; i < 200; i++) {
		char *x = dump(f->wa, 1), *y = dump(f->wb, 1);
		bool same = strcmp(x, y) == 0;

		free(x);
		free(y);
		if (same)
			break;
		sleep_ms(5);
	}
	assert_same(f->wa, f->wb, 1);
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_int_equal(st.truncations, 1);
	assert_int_equal(rc_repl_get_status(f->ra, SCOPE, &st), 0);
	assert_int_equal(st.truncations, 1);
	assert_int_equal(st.role, RC_REPL_REPLICA);
	{
		char name[64];

		assert_int_equal(rc_wal_room_name(f->wa, 2, name, sizeof(name)), -ENOENT);
	}
}

static void
test_reset_when_trimmed(void **state)
{
	struct fx *f = *state;
	struct rc_repl_status st;
	uint64_t first = 0, last;

	f->keep = 5;
	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 5, "a");
	assert_true(wait_lsn(f->wb, 6));
	rc_repl_stop(f->rb);
	assert_true(wait_connected(f->ra, false));
	post_room(f->wa, 2, "while-away");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	post_room_state(f->wa, 2, RC_WAL_ROOM_ARCHIVED); /* reaches B in the ROOMS frames */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 6, 40, "a");
	write_msgs(f->wa, f->cqa, 2, 1, 3, "a");
	last = rc_wal_last_lsn(f->wa);
	assert_int_equal(last, 46);
	rc_wal_set_drained(f->wa, last);
	for (unsigned i = 0; i < 400 && first <= 7; i++) {
		sleep_ms(5);
		assert_int_equal(rc_wal_first_lsn(f->wa, &first), 0);
	}
	assert_true(first > 7); /* B's next LSN is gone */
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_true(wait_lsn(f->wb, last));
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_true(st.resets >= 1);
	/* the same rooms (with their last seqs) and the same log from A's first LSN on */
	assert_int_equal(rc_wal_first_lsn(f->wa, &first), 0);
	{
		char *x = dump(f->wa, first), *y;
		char *rooms_a = strstr(x, "room "), *rooms_b;

		y = dump(f->wb, first);
		rooms_b = strstr(y, "room ");
		assert_non_null(rooms_a);
		assert_non_null(rooms_b);
		/* B kept its older messages (not yet trimmed): compare log and rooms */
		*strstr(rooms_a, "msg ") = '\0';
		*strstr(rooms_b, "msg ") = '\0';
		assert_string_equal(x, y);
		assert_non_null(strstr(y, " while-away alice archived\n"));
		free(x);
		free(y);
	}
	/* B continues from there */
	write_msgs(f->wa, f->cqa, 1, 41, 45, "a");
	assert_true(wait_lsn(f->wb, 51));
}

/* Wait (5 s at most) until r counts two failed handshakes of SCOPE; its status in *st. */
static void
wait_auth_failures(struct rc_repl *r, struct rc_repl_status *st)
{
	for (unsigned i = 0; i < 1000; i++) {
		rc_repl_get_status(r, SCOPE, st);
		if (st->auth_failures >= 2)
			break;
		sleep_ms(5);
	}
	assert_true(st->auth_failures >= 2);
}

static void
test_wrong_key(void **state)
{
	struct fx *f = *state;
	struct rc_repl_status st;

	fx_up(f, 0x33, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 5, "a");
	wait_auth_failures(f->ra, &st);
	assert_false(st.connected);
	assert_int_equal(rc_wal_last_lsn(f->wb), 0);
	rc_repl_get_status(f->rb, SCOPE, &st);
	assert_false(st.connected);
	assert_int_equal(st.records_rx, 0);
}

static struct rc_repl_key
key_of(uint8_t id, uint8_t byte)
{
	struct rc_repl_key k = { .id = id, .len = 32 };

	memset(k.key, byte, k.len);
	return k;
}

/* Key rings: the writer signs with its first key (2; its ring 2, 1), the replica accepts
 * every key of its ring (3, 2; not 1): the stream comes up (a HELLO with key 1, if one left
 * before the rings were set, is refused and the writer reconnects) and carries everything.
 * Bad rings (duplicate ids, empty) are refused. */
static void
test_key_rotation(void **state)
{
	struct fx *f = *state;
	const struct rc_repl_key wkeys[] = { key_of(2, 0x77), key_of(1, 0x5a) };
	const struct rc_repl_key rkeys[] = { key_of(3, 0x33), key_of(2, 0x77) };
	const struct rc_repl_key dup[] = { key_of(2, 0x77), key_of(2, 0x5a) };
	struct rc_repl_status st;

	fx_up(f, 0, false);
	assert_int_equal(rc_repl_set_keys(f->ra, dup, 2), -EINVAL);
	assert_int_equal(rc_repl_set_keys(f->ra, wkeys, 0), -EINVAL);
	assert_int_equal(rc_repl_set_keys(f->ra, wkeys, 2), 0);
	assert_int_equal(rc_repl_set_keys(f->rb, rkeys, 2), 0);
	assert_int_equal(rc_repl_start(f->rb), 0);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 20, "a");
	assert_true(wait_lsn(f->wb, 21));
	assert_same(f->wa, f->wb, 1);
	rc_repl_get_status(f->rb, SCOPE, &st);
	assert_true(st.connected);
}

/* The writer signs with a key the replica does not list (the replica's ring set before it
 * starts): no handshake succeeds. */
static void
test_key_not_accepted(void **state)
{
	struct fx *f = *state;
	const struct rc_repl_key only2[] = { key_of(2, 0x77) }, only3[] = { key_of(3, 0x33) };
	struct rc_repl_status st;

	fx_up(f, 0, false);
	assert_int_equal(rc_repl_set_keys(f->rb, only3, 1), 0);
	assert_int_equal(rc_repl_set_keys(f->ra, only2, 1), 0);
	assert_int_equal(rc_repl_start(f->rb), 0);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	wait_auth_failures(f->rb, &st); /* the replica refuses each HELLO */
	assert_false(st.connected);
	rc_repl_get_status(f->ra, SCOPE, &st);
	assert_false(st.connected);
	assert_int_equal(rc_wal_last_lsn(f->wb), 0);
}

static void
garbage_send(uint16_t port, const void *buf, size_t len, bool wait_close)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 3 };
	char sink[256];

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (len > 0)
		assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (wait_close && recv(fd, sink, sizeof(sink), 0) > 0)
		;
	close(fd);
}

/* A HELLO frame with the given fields. */
static size_t
hello(uint8_t *b, const char *magic, uint8_t version, const char *node, const char *scope)
{
	size_t n = 4, nl = strlen(node), sl = strlen(scope);

	b[n++] = RC_REPL_T_HELLO;
	memcpy(b + n, magic, 4);
	n += 4;
	b[n++] = version;
	b[n++] = 1;
	memset(b + n, 7, RC_REPL_NONCE_LEN);
	n += RC_REPL_NONCE_LEN;
	b[n++] = (uint8_t)nl;
	memcpy(b + n, node, nl);
	n += nl;
	b[n++] = (uint8_t)sl;
	memcpy(b + n, scope, sl);
	n += sl;
	b[0] = 0;
	b[1] = (uint8_t)((n - 4) >> 16);
	b[2] = (uint8_t)((n - 4) >> 8);
	b[3] = (uint8_t)(n - 4);
	return n;
}

static void
test_garbage(void **state)
{
	struct fx *f = *state;
	uint16_t port;
	struct rc_repl_stats rs;
	struct rc_repl_status st;
	uint8_t b[4096];
	size_t n;
	unsigned seed = 12345;

	fx_up(f, 0, false);
	rc_repl_stop(f->ra); /* only the garbage talks to B */
	assert_int_equal(rc_repl_start(f->rb), 0);
	port = rc_repl_listen_port(f->rb);
	garbage_send(port, "\xff\xff\xff\xff\x01", 5, true);       /* too long */
	garbage_send(port, "\x00\x00\x00\x00", 4, true);           /* empty frame */
	garbage_send(port, "\x00\x00\x00\x01\x05", 5, true);       /* RECORDS before HELLO */
	n = hello(b, "XXXX", RC_REPL_VERSION, "A", SCOPE);
	garbage_send(port, b, n, true);                            /* bad magic */
	n = hello(b, RC_REPL_MAGIC, 99, "A", SCOPE);
	garbage_send(port, b, n, true);                            /* bad version */
	n = hello(b, RC_REPL_MAGIC, RC_REPL_VERSION, "A", "rooms:Z");
	garbage_send(port, b, n, true);                            /* unknown scope */
	n = hello(b, RC_REPL_MAGIC, RC_REPL_VERSION, "A", SCOPE);
	garbage_send(port, b, n - 3, false);                       /* cut short */
	/* random mutations of a valid HELLO, and random bytes */
	for (unsigned i = 0; i < 200; i++) {
		n = hello(b, RC_REPL_MAGIC, RC_REPL_VERSION, "A", SCOPE);
		for (unsigned k = 0; k < 1 + i % 4; k++)
			b[rand_r(&seed) % n] = (uint8_t)rand_r(&seed);
		if (i % 5 == 0) {
			n = 5 + (size_t)rand_r(&seed) % 64;
			for (size_t k = 0; k < n; k++)
				b[k] = (uint8_t)rand_r(&seed);
		}
		garbage_send(port, b, n, false);
	}
	for (unsigned i = 0; i < 600; i++) {
		rc_repl_get_stats(f->rb, &rs);
		if (rs.accepted >= 207 && rs.rejected + rs.unknown_scope >= 6)
			break;
		sleep_ms(5);
	}
	assert_true(rs.accepted >= 207);
	assert_true(rs.rejected >= 5);
	assert_true(rs.unknown_scope >= 1);
	assert_int_equal(rc_wal_last_lsn(f->wb), 0);
	/* B still works: A connects and streams */
	assert_int_equal(rc_repl_start(f->ra), 0);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 3, "a");
	assert_true(wait_lsn(f->wb, 4));
	assert_same(f->wa, f->wb, 1);
	rc_repl_get_status(f->rb, SCOPE, &st);
	assert_true(st.connected);
}

struct aux_got {
	unsigned n;
	bool in_order;
};

static void
aux_cb(void *arg, const char *scope, const void *buf, uint16_t len)
{
	struct aux_got *g = arg;
	char want[32];

	snprintf(want, sizeof(want), "aux-%u", g->n);
	if (strcmp(scope, SCOPE) != 0 || len != strlen(want) || memcmp(buf, want, len) != 0)
		g->in_order = false;
	g->n++;
}

static void
test_aux(void **state)
{
	struct fx *f = *state;
	struct aux_got g = { .in_order = true };
	struct rc_repl_status st;

	fx_up(f, 0, false);
	assert_int_equal(rc_repl_send_aux(f->ra, SCOPE, "x", 1), -ENOTCONN);
	assert_int_equal(rc_repl_send_aux(f->ra, "nope", "x", 1), -ENOENT);
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_true(wait_connected(f->ra, true));
	for (unsigned i = 0; i < 500; i++) {
		char m[32];

		snprintf(m, sizeof(m), "aux-%u", i);
		assert_int_equal(rc_repl_send_aux(f->ra, SCOPE, m, (uint16_t)strlen(m)), 0);
		if (i % 100 == 0)
			sleep_ms(1);
	}
	for (unsigned i = 0; i < 1000 && g.n < 500; i++) {
		rc_repl_poll_aux(f->rb, aux_cb, &g);
		sleep_ms(2);
	}
	assert_int_equal(g.n, 500);
	assert_true(g.in_order);
	rc_repl_get_status(f->ra, SCOPE, &st);
	assert_int_equal(st.aux_tx, 500);
	assert_int_equal(st.aux_dropped, 1);
	assert_int_equal(rc_wal_last_lsn(f->wb), 0); /* not stored */
}

/* The WAL calls alone: apply refuses LSNs that do not follow; reset. */
static void
test_wal_apply_rules(void **state)
{
	struct fx *f = *state;
	struct rc_wal_logrec lr = { .lsn = 2, .kind = RC_WAL_ROOM, .room_id = 1, .ts_ms = 5,
				    .user = { "u", 1 }, .body = { "room", 4 } };
	struct rc_wal_room room = { .room_id = 9, .created_ms = 1, .last_seq = 77,
				    .name = "nine", .creator = "c" };
	char name[32];
	uint64_t first;

	f->wa = wal_open(f, "a", &f->cqa);
	assert_int_equal(rc_wal_apply(f->wa, &lr, 1), -EINVAL);
	lr.lsn = 1;
	assert_int_equal(rc_wal_apply(f->wa, &lr, 1), 0);
	assert_int_equal(rc_wal_last_lsn(f->wa), 1);
	assert_int_equal(rc_wal_room_name(f->wa, 1, name, sizeof(name)), 0);
	assert_string_equal(name, "room");
	lr = (struct rc_wal_logrec){ .lsn = 2, .kind = RC_WAL_MSG, .room_id = 1, .seq = 0,
				     .user = { "u", 1 }, .body = { "b", 1 } };
	assert_int_equal(rc_wal_apply(f->wa, &lr, 1), -EINVAL); /* seq 0 */
	assert_int_equal(rc_wal_apply_rooms(f->wa, &room, 1), 0);
	assert_int_equal(rc_wal_reset_to(f->wa, 100), 0);
	assert_int_equal(rc_wal_last_lsn(f->wa), 100);
	assert_int_equal(rc_wal_drained_lsn(f->wa), 100);
	assert_int_equal(rc_wal_first_lsn(f->wa, &first), 0);
	assert_int_equal(first, 1); /* the room's entry is still there until trimmed */
	assert_int_equal(rc_wal_room_name(f->wa, 9, name, sizeof(name)), 0);
	lr.lsn = 101;
	lr.seq = 78;
	assert_int_equal(rc_wal_apply(f->wa, &lr, 1), 0);
	assert_int_equal(rc_wal_truncate_above(f->wa, 100), 0);
	assert_int_equal(rc_wal_last_lsn(f->wa), 100);
	{
		char *x = dump(f->wa, 1);

		assert_non_null(strstr(x, "room 9 1 77 nine c\n"));
		free(x);
	}
	/* a room's state change: applied, and undone by a truncation; a bad mark refused */
	lr = (struct rc_wal_logrec){ .lsn = 101, .kind = RC_WAL_ROOM, .room_id = 9, .ts_ms = 1,
				     .seq = 5, .cmid = RC_WAL_ROOM_ARCHIVED,
				     .user = { "c", 1 }, .body = { "nine", 4 } };
	assert_int_equal(rc_wal_apply(f->wa, &lr, 1), -EINVAL);
	lr.seq = RC_WAL_STATE_MARK;
	assert_int_equal(rc_wal_apply(f->wa, &lr, 1), 0);
	{
		char *x = dump(f->wa, 101);

		assert_non_null(strstr(x, "room 9 1 77 nine c archived\n"));
		free(x);
	}
	assert_int_equal(rc_wal_truncate_above(f->wa, 100), 0);
	{
		char *x = dump(f->wa, 1);

		assert_non_null(strstr(x, "room 9 1 77 nine c\n"));
		free(x);
	}
}

/* A room archived on the writer: streamed as a room record, the replica's copy archived
 * (what the peer loads on a takeover), its messages kept. */
static void
test_room_state_stream(void **state)
{
	struct fx *f = *state;
	char *x;

	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 3, "a");
	/* (before the change: an entry streamed after it reads the room with its flag, one
	 * byte longer on the replica than the writer's value_len) */
	assert_true(wait_lsn(f->wb, 4));
	post_room_state(f->wa, 1, RC_WAL_ROOM_ARCHIVED);
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_lsn(f->wb, 5));
	assert_same(f->wa, f->wb, 1);
	x = dump(f->wb, 5);
	assert_non_null(strstr(x, "room 1 1700000000001 3 lobby alice archived\n"));
	assert_non_null(strstr(x, "msg 1 3 "));
	free(x);
	post_room_state(f->wa, 1, 0);
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_lsn(f->wb, 6));
	assert_same(f->wa, f->wb, 1);
	x = dump(f->wb, 6);
	assert_non_null(strstr(x, "room 1 1700000000001 3 lobby alice\n"));
	free(x);
}

static void
aux_count(void *arg, const char *scope, const void *buf, uint16_t len)
{
	(void)scope, (void)buf, (void)len;
	(*(unsigned *)arg)++;
}

/* ---- an on-path relay without the key (review S1) ----
 *
 * The writer connects to the relay, the relay to the replica; it forwards whole frames
 * (the length prefix is the same in every frame) and, as the test asks, injects frames of
 * its own or swallows the writer's. The first two writer->replica frames (HELLO, AUTH) and
 * the first replica->writer frame (CHALLENGE) are the handshake; every later frame is
 * sealed (repl.h): length, type, u64 frame counter, body, 16-byte tag. The forgeries come
 * in both shapes: the plain frame of version 1, and a sealed-looking frame at the counter
 * the receiver expects next, with a tag the relay cannot compute. */
#define RELAY_BUF (4u << 20)

enum relay_mode {
	RELAY_PASS = 0,
	RELAY_SWALLOW, /* drop the writer's frames after the handshake, forge ACKs instead */
	RELAY_REPLAY,  /* send the writer's first frame after the handshake twice */
	RELAY_DROP,    /* leave out the writer's first frame after the handshake */
};

struct relay_dir {
	int from, to;
	uint8_t *buf;
	size_t len;
	unsigned frames; /* frames seen in this direction on this connection */
	uint64_t sealed; /* sealed frames forwarded (the receiver's next counter) */
};

struct relay {
	int lfd;
	uint16_t port, to_port;
	enum relay_mode mode;
	struct relay_dir w2r, r2w;
	pthread_t th;
	atomic_bool stop;
	/* a frame body to inject towards the replica (type, u64) in the shape asked for */
	atomic_int inject_type; /* 0: none */
	uint64_t inject_val;
	atomic_bool inject_plain;
	atomic_uint injected, forged_acks, swallowed, replayed, dropped, conns;
	uint64_t forge_ack_lsn;
};

static void
relay_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void
relay_send(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (fd >= 0 && n > 0) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);

		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				sleep_ms(1);
				continue;
			}
			return;
		}
		b += k;
		n -= (size_t)k;
	}
}

/* A forged frame of type with a u64 body: plain (version 1) or sealed-looking at counter
 * seq with a zero tag. Returns its length. */
static size_t
relay_forge(uint8_t *b, bool plain, uint8_t type, uint64_t seq, uint64_t v)
{
	size_t n = 4;

	b[n++] = type;
	if (!plain) {
		relay_put_be64(b + n, seq);
		n += 8;
	}
	relay_put_be64(b + n, v);
	n += 8;
	if (!plain) {
		memset(b + n, 0, 16);
		n += 16;
	}
	b[0] = 0;
	b[1] = (uint8_t)((n - 4) >> 16);
	b[2] = (uint8_t)((n - 4) >> 8);
	b[3] = (uint8_t)(n - 4);
	return n;
}

static void
relay_close_pair(struct relay *r)
{
	if (r->w2r.from >= 0)
		close(r->w2r.from);
	if (r->w2r.to >= 0)
		close(r->w2r.to);
	r->w2r.from = r->w2r.to = r->r2w.from = r->r2w.to = -1;
	r->w2r.len = r->r2w.len = 0;
	r->w2r.frames = r->r2w.frames = 0;
	r->w2r.sealed = r->r2w.sealed = 0;
}

static void
relay_accept(struct relay *r)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(r->to_port) };
	int fd = accept(r->lfd, NULL, NULL), up;

	if (fd < 0)
		return;
	relay_close_pair(r);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	up = socket(AF_INET, SOCK_STREAM, 0);
	if (up < 0 || connect(up, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		if (up >= 0)
			close(up);
		return;
	}
	r->w2r.from = r->r2w.to = fd;
	r->w2r.to = r->r2w.from = up;
	atomic_fetch_add(&r->conns, 1);
}

/* One complete frame f (n bytes) read in direction d: forward, drop, or duplicate it. */
static void
relay_frame(struct relay *r, struct relay_dir *d, const uint8_t *f, size_t n)
{
	bool w2r = d == &r->w2r;
	unsigned idx = d->frames++;
	bool handshake = w2r ? idx < 2 : idx < 1;

	if (w2r && !handshake && r->mode == RELAY_SWALLOW) {
		uint8_t b[64];
		size_t k;

		bool plain = atomic_load(&r->conns) % 2 == 1;

		atomic_fetch_add(&r->swallowed, 1);
		/* "the replica holds everything": on odd connections a plain ACK first, on
		 * even ones a sealed-looking ACK at the writer's next counter first */
		for (int i = 0; i < 2; i++, plain = !plain) {
			k = relay_forge(b, plain, RC_REPL_T_ACK, r->r2w.sealed, r->forge_ack_lsn);
			relay_send(r->r2w.to, b, k);
		}
		atomic_fetch_add(&r->forged_acks, 2);
		return;
	}
	if (w2r && !handshake && r->mode == RELAY_DROP && idx == 2) {
		atomic_fetch_add(&r->dropped, 1); /* genuine, never delivered */
		return;
	}
	relay_send(d->to, f, n);
	if (!handshake)
		d->sealed++;
	if (w2r && !handshake && r->mode == RELAY_REPLAY && idx == 2) {
		relay_send(d->to, f, n); /* a genuine frame, recorded and sent again */
		atomic_fetch_add(&r->replayed, 1);
	}
}

static void
relay_read(struct relay *r, struct relay_dir *d)
{
	ssize_t k = recv(d->from, d->buf + d->len, RELAY_BUF - d->len, 0);
	size_t off = 0;

	if (k <= 0) {
		relay_close_pair(r);
		return;
	}
	d->len += (size_t)k;
	while (d->len - off >= 4) {
		size_t n = 4 + ((size_t)d->buf[off] << 24 | (size_t)d->buf[off + 1] << 16 |
				(size_t)d->buf[off + 2] << 8 | d->buf[off + 3]);

		if (n > RELAY_BUF) {
			relay_close_pair(r);
			return;
		}
		if (d->len - off < n)
			break;
		relay_frame(r, d, d->buf + off, n);
		if (d->from < 0)
			return;
		off += n;
	}
	memmove(d->buf, d->buf + off, d->len - off);
	d->len -= off;
}

static void
relay_inject(struct relay *r)
{
	int type = atomic_load(&r->inject_type);
	uint8_t b[64];
	size_t n;

	/* only once the handshake went through (whole frames are forwarded: the replica's
	 * side is always between two frames) */
	if (type == 0 || r->w2r.to < 0 || r->w2r.frames < 2)
		return;
	n = relay_forge(b, atomic_load(&r->inject_plain), (uint8_t)type, r->w2r.sealed,
			r->inject_val);
	relay_send(r->w2r.to, b, n);
	atomic_store(&r->inject_type, 0);
	atomic_fetch_add(&r->injected, 1);
}

static void *
relay_main(void *arg)
{
	struct relay *r = arg;

	while (!atomic_load(&r->stop)) {
		struct pollfd p[3] = { { .fd = r->lfd, .events = POLLIN },
				       { .fd = r->w2r.from, .events = POLLIN },
				       { .fd = r->r2w.from, .events = POLLIN } };

		if (poll(p, 3, 5) < 0)
			continue;
		if (p[0].revents & POLLIN)
			relay_accept(r);
		else if (p[1].fd >= 0 && p[1].revents & (POLLIN | POLLHUP | POLLERR))
			relay_read(r, &r->w2r);
		else if (p[2].fd >= 0 && p[2].revents & (POLLIN | POLLHUP | POLLERR))
			relay_read(r, &r->r2w);
		relay_inject(r);
	}
	relay_close_pair(r);
	return NULL;
}

static struct relay *
relay_start(uint16_t to_port, enum relay_mode mode)
{
	struct relay *r = calloc(1, sizeof(*r));
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);

	assert_non_null(r);
	r->to_port = to_port;
	r->mode = mode;
	r->w2r.buf = malloc(RELAY_BUF);
	r->r2w.buf = malloc(RELAY_BUF);
	assert_non_null(r->w2r.buf);
	assert_non_null(r->r2w.buf);
	r->w2r.from = r->w2r.to = r->r2w.from = r->r2w.to = -1;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->lfd >= 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->lfd, 4), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&sa, &len), 0);
	r->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&r->th, NULL, relay_main, r), 0);
	return r;
}

static void
relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	close(r->lfd);
	free(r->w2r.buf);
	free(r->r2w.buf);
	free(r);
}

/* A (writer) streams to B (replica) through a relay in mode. */
static struct relay *
fx_up_relayed(struct fx *f, enum relay_mode mode)
{
	struct rc_repl_conf ca = repl_conf("A", "B"), cb = repl_conf("B", "A");
	struct relay *rl;
	char addr[64];

	f->wa = wal_open(f, "a", &f->cqa);
	f->wb = wal_open(f, "b", &f->cqb);
	f->ra = rc_repl_create(&ca);
	f->rb = rc_repl_create(&cb);
	assert_non_null(f->ra);
	assert_non_null(f->rb);
	rl = relay_start(rc_repl_listen_port(f->rb), mode);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", rl->port);
	assert_int_equal(rc_repl_set_peer_addr(f->ra, addr), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_repl_listen_port(f->ra));
	assert_int_equal(rc_repl_set_peer_addr(f->rb, addr), 0);
	assert_int_equal(rc_repl_attach(f->ra, SCOPE, f->wa, RC_REPL_WRITER), 0);
	assert_int_equal(rc_repl_attach(f->rb, SCOPE, f->wb, RC_REPL_REPLICA), 0);
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_int_equal(rc_repl_start(f->ra), 0);
	return rl;
}

/* Waits until cond(status of r) holds; false after WAIT_MS (the test then fails). */
static bool
wait_status(struct rc_repl *r, bool (*cond)(const struct rc_repl_status *, uint64_t),
	    uint64_t arg)
{
	uint64_t end = ms_now() + WAIT_MS;
	struct rc_repl_status st;

	do {
		assert_int_equal(rc_repl_get_status(r, SCOPE, &st), 0);
		if (cond(&st, arg))
			return true;
		sleep_ms(2);
	} while (ms_now() < end);
	return false;
}

static bool
refused_at_least(const struct rc_repl_status *st, uint64_t n)
{
	return st->frames_bad_mac + st->frames_replayed + st->frames_gap +
		       st->protocol_errors >= n;
}

static bool
connects_at_least(const struct rc_repl_status *st, uint64_t n)
{
	return st->connected && st->connects >= n;
}

/* Forged TRUNCATE, RECORDS-free DRAINED / RESET and AUX admin frames, each in both shapes,
 * are refused by the replica: its copy stays whole, nothing reaches its control thread,
 * the connection is reset and counted, and the stream comes back. */
static void
test_relay_injection(void **state)
{
	struct fx *f = *state;
	struct relay *rl = fx_up_relayed(f, RELAY_PASS);
	static const struct {
		int type;
		uint64_t val;
		bool plain;
	} forged[] = {
		{ RC_REPL_T_TRUNCATE, 0, true },  { RC_REPL_T_TRUNCATE, 0, false },
		{ RC_REPL_T_RESET, 5000, true },  { RC_REPL_T_RESET, 5000, false },
		{ RC_REPL_T_DRAINED, 11, true },  { RC_REPL_T_DRAINED, 11, false },
		{ RC_REPL_T_AUX, 0x0410000000000000ull, true },
		{ RC_REPL_T_AUX, 0x0410000000000000ull, false },
	};
	struct rc_repl_status st;
	unsigned got = 0;

	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 10, "a");
	assert_true(wait_lsn(f->wb, 11));
	for (unsigned i = 0; i < RTE_DIM(forged); i++) {
		unsigned before = atomic_load(&rl->injected);

		assert_true(wait_status(f->rb, connects_at_least, i + 1));
		rl->inject_val = forged[i].val;
		atomic_store(&rl->inject_plain, forged[i].plain);
		atomic_store(&rl->inject_type, forged[i].type);
		for (unsigned k = 0; k < 2500 && atomic_load(&rl->injected) == before; k++)
			sleep_ms(2);
		assert_int_equal(atomic_load(&rl->injected), before + 1);
		assert_true(wait_status(f->rb, refused_at_least, i + 1));
	}
	/* the replica's copy is whole and nothing was handed to its control thread */
	assert_int_equal(rc_wal_last_lsn(f->wb), 11);
	assert_int_equal(rc_wal_drained_lsn(f->wb), 0);
	assert_int_equal(rc_repl_poll_aux(f->rb, aux_count, &got), 0);
	assert_int_equal(got, 0);
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_int_equal(st.truncations + st.resets + st.aux_rx, 0);
	assert_true(st.frames_bad_mac >= 4);
	assert_true(st.protocol_errors >= 4); /* the plain ones: too short for a sealed frame */
	/* the stream comes back and goes on */
	write_msgs(f->wa, f->cqa, 1, 11, 15, "a");
	assert_true(wait_lsn(f->wb, 16));
	assert_same(f->wa, f->wb, 1);
	rc_repl_stop(f->ra);
	relay_stop(rl);
}

/* The relay swallows every record and forges ACKs: with the peer gate on nothing is
 * acknowledged (completed) to a client, the writer refuses the ACKs and resets the link. */
static void
test_relay_forged_ack(void **state)
{
	struct fx *f = *state;
	struct relay *rl;
	struct rc_repl_status st;
	struct rc_wal_stats ws;

	rl = fx_up_relayed(f, RELAY_SWALLOW);
	rl->forge_ack_lsn = 1000;
	assert_true(wait_connected(f->ra, true));
	rc_wal_set_peer_gate(f->wa, true);
	post_room(f->wa, 1, "lobby");
	for (uint64_t s = 1; s <= 9; s++)
		post_msg(f->wa, 1, s, "a");
	/* wait until the writer has committed all ten and refused forged ACKs */
	for (unsigned k = 0; k < 2500 && rc_wal_last_lsn(f->wa) < 10; k++)
		sleep_ms(2);
	assert_int_equal(rc_wal_last_lsn(f->wa), 10);
	for (unsigned k = 0; k < 2500 && atomic_load(&rl->forged_acks) < 4; k++)
		sleep_ms(2);
	assert_true(atomic_load(&rl->forged_acks) >= 4);
	assert_true(wait_status(f->ra, refused_at_least, 2));
	/* nothing acknowledged: the peer holds nothing */
	assert_int_equal(rc_wal_last_lsn(f->wb), 0);
	assert_int_equal(rc_wal_peer_acked_lsn(f->wa), 0);
	for (unsigned k = 0; k < 2500; k++) {
		rc_wal_get_stats(f->wa, &ws);
		if (ws.holding == 10)
			break;
		sleep_ms(2);
	}
	assert_int_equal(ws.holding, 10);
	assert_int_equal(rte_ring_count(f->cqa), 0);
	assert_int_equal(rc_repl_get_status(f->ra, SCOPE, &st), 0);
	assert_int_equal(st.acked_lsn, 0);
	assert_true(st.frames_bad_mac >= 1);
	/* the relay gone, the stream runs direct: the peer's copy releases them */
	relay_stop(rl);
	{
		char addr[64];

		rc_repl_stop(f->ra);
		snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_repl_listen_port(f->rb));
		assert_int_equal(rc_repl_set_peer_addr(f->ra, addr), 0);
		assert_int_equal(rc_repl_start(f->ra), 0);
	}
	assert_int_equal(completions(f->wa, f->cqa, 10, WAIT_MS), 10);
	assert_int_equal(rc_wal_last_lsn(f->wb), 10);
	assert_same(f->wa, f->wb, 1);
}

/* A genuine frame sent twice is refused (replay), and counted. */
static void
test_relay_replay(void **state)
{
	struct fx *f = *state;
	struct relay *rl = fx_up_relayed(f, RELAY_REPLAY);
	struct rc_repl_status st;

	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	for (unsigned k = 0; k < 2500 && atomic_load(&rl->replayed) == 0; k++)
		sleep_ms(2);
	assert_true(atomic_load(&rl->replayed) >= 1);
	assert_true(wait_status(f->rb, refused_at_least, 1));
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_true(st.frames_replayed >= 1);
	/* every later connection replays its first frame too: stop that, and go on direct */
	rc_repl_stop(f->ra);
	relay_stop(rl);
	{
		char addr[64];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_repl_listen_port(f->rb));
		assert_int_equal(rc_repl_set_peer_addr(f->ra, addr), 0);
		assert_int_equal(rc_repl_start(f->ra), 0);
	}
	write_msgs(f->wa, f->cqa, 1, 1, 5, "a");
	assert_true(wait_lsn(f->wb, 6));
	assert_same(f->wa, f->wb, 1);
}

/* A genuine frame left out: the next one is refused (gap), and counted. */
static void
test_relay_drop(void **state)
{
	struct fx *f = *state;
	struct relay *rl = fx_up_relayed(f, RELAY_DROP);
	struct rc_repl_status st;

	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 3, "a");
	for (unsigned k = 0; k < 2500 && atomic_load(&rl->dropped) == 0; k++)
		sleep_ms(2);
	assert_true(atomic_load(&rl->dropped) >= 1);
	assert_true(wait_status(f->rb, refused_at_least, 1));
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_true(st.frames_gap >= 1);
	assert_int_equal(st.frames_bad_mac, 0);
	rc_repl_stop(f->ra);
	relay_stop(rl);
}

/* ---- the listener's slots (review S3) ---- */

struct flood {
	uint16_t port;
	int fd[48];
	pthread_t th;
	atomic_bool stop;
	atomic_uint opened;
};

static int
flood_open(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Keeps 48 idle connections open to the listener, reopening each one it closes. */
static void *
flood_main(void *arg)
{
	struct flood *fl = arg;
	char sink[64];

	while (!atomic_load(&fl->stop)) {
		for (unsigned i = 0; i < RTE_DIM(fl->fd); i++) {
			ssize_t k = fl->fd[i] >= 0 ? recv(fl->fd[i], sink, sizeof(sink), 0) : 0;

			if (fl->fd[i] >= 0 && (k > 0 || (k < 0 && errno == EAGAIN)))
				continue;
			if (fl->fd[i] >= 0)
				close(fl->fd[i]);
			fl->fd[i] = flood_open(fl->port);
			atomic_fetch_add(&fl->opened, 1);
		}
		sleep_ms(1);
	}
	for (unsigned i = 0; i < RTE_DIM(fl->fd); i++)
		if (fl->fd[i] >= 0)
			close(fl->fd[i]);
	return NULL;
}

/* Idle connections that fill the replica's pending slots, reopened as soon as they are
 * closed, do not keep the writer out: the stream comes up and streams. */
static void
test_slot_flood(void **state)
{
	struct fx *f = *state;
	struct flood fl = { 0 };
	struct rc_repl_stats rs;

	fx_up(f, 0, false);
	rc_repl_stop(f->ra);
	assert_int_equal(rc_repl_start(f->rb), 0);
	fl.port = rc_repl_listen_port(f->rb);
	for (unsigned i = 0; i < RTE_DIM(fl.fd); i++)
		fl.fd[i] = -1;
	assert_int_equal(pthread_create(&fl.th, NULL, flood_main, &fl), 0);
	for (unsigned k = 0; k < 2500; k++) {
		rc_repl_get_stats(f->rb, &rs);
		if (rs.accepted >= 48)
			break;
		sleep_ms(2);
	}
	assert_true(rs.accepted >= 48);
	assert_int_equal(rc_repl_start(f->ra), 0);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 5, "a");
	assert_true(wait_connected(f->ra, true));
	assert_true(wait_lsn(f->wb, 6));
	atomic_store(&fl.stop, true);
	pthread_join(fl.th, NULL);
	assert_same(f->wa, f->wb, 1);
	rc_repl_get_stats(f->rb, &rs);
	assert_true(rs.pending_evicted > 0);
}

static bool
invalid_at_least(const struct rc_repl_status *st, uint64_t n)
{
	return st->records_invalid >= n;
}

/* The replica applies only what the request path could have stored: a room id outside its
 * scope's range, or a body that is not UTF-8, is refused (counted, connection closed) and
 * nothing of it is stored; the records before it are. */
static void
test_replica_validates(void **state)
{
	struct fx *f = *state;
	struct rc_repl_status st;

	fx_up(f, 0, false);
	assert_int_equal(rc_repl_set_room_range(f->rb, SCOPE, 1, 100), 0);
	assert_int_equal(rc_repl_set_room_range(f->rb, SCOPE, 0, 100), -EINVAL);
	assert_int_equal(rc_repl_set_room_range(f->rb, "nope", 1, 100), -ENOENT);
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_int_equal(rc_repl_set_room_range(f->rb, SCOPE, 1, 100), -EBUSY);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 3, "a");
	assert_true(wait_lsn(f->wb, 4));
	/* a room of the other node's range */
	post_room(f->wa, 500, "elsewhere");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_status(f->rb, invalid_at_least, 1));
	assert_int_equal(rc_wal_last_lsn(f->wb), 4);
	/* the next connection meets the same record: refused again, never stored */
	assert_true(wait_status(f->rb, invalid_at_least, 2));
	assert_int_equal(rc_wal_last_lsn(f->wb), 4);
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_int_equal(st.records_rx, 4);
}

/* A body that is not UTF-8 (as the request path would refuse it) is refused too. */
static void
test_replica_refuses_bad_utf8(void **state)
{
	struct fx *f = *state;
	struct rc_wal_rec *r;

	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_lsn(f->wb, 1));
	r = rec_get(f->wa);
	fx_msg(r, 1, 1, "bob", "caf\xc3 au lait"); /* a lead byte without its continuation */
	post(f->wa, r);
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_status(f->rb, invalid_at_least, 1));
	assert_int_equal(rc_wal_last_lsn(f->wb), 1);
}

/* A backlog of several MB streamed at once (frames built while the socket takes only part
 * of what is queued): every frame arrives intact, the copy is the writer's. */
static void
test_big_backlog(void **state)
{
	struct fx *f = *state;
	char body[1001];
	struct rc_repl_status st;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	fx_up(f, 0, false);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	for (uint64_t s0 = 1; s0 <= 6000; s0 += 500) {
		for (uint64_t s = s0; s < s0 + 500; s++) {
			struct rc_wal_rec *r = rec_get(f->wa);

			body[0] = (char)('a' + s % 26);
			fx_msg(r, 1, s, "bob", body);
			post(f->wa, r);
		}
		assert_int_equal(completions(f->wa, f->cqa, 500, WAIT_MS), 500);
	}
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_true(wait_lsn(f->wb, 6001));
	assert_same(f->wa, f->wb, 1);
	assert_int_equal(rc_repl_get_status(f->rb, SCOPE, &st), 0);
	assert_int_equal(st.frames_bad_mac + st.frames_gap + st.frames_replayed +
				 st.protocol_errors,
			 0);
}

/* ---- deleted rooms (tombstones) ---- */

/* Whether dump(w, from) holds line. */
static bool
dump_has(struct rc_wal *w, uint64_t from, const char *line)
{
	char *x = dump(w, from);
	bool has = strstr(x, line) != NULL;

	free(x);
	return has;
}

static void
post_room_at(struct rc_wal *w, uint32_t room, uint64_t created, const char *name)
{
	struct rc_wal_rec *r = rec_get(w);

	fx_room(r, room, created, "alice", name);
	post(w, r);
}

/* The next completion's status (5 s at most; 1: none came). */
static int
completion_status(struct rc_wal *w, struct rte_ring *cq)
{
	uint64_t end = ms_now() + WAIT_MS;
	void *p;
	int st;

	while (rte_ring_dequeue(cq, &p) != 0)
		if (ms_now() > end)
			return 1;
		else
			sleep_ms(1);
	st = ((struct rc_wal_rec *)p)->status;
	rte_mempool_put(rc_wal_pool(w), p);
	return st;
}

static bool
wait_trimmed(struct rc_wal *w, uint64_t lsn)
{
	uint64_t end = ms_now() + WAIT_MS;

	while (rc_wal_trimmed_lsn(w) < lsn && ms_now() < end)
		sleep_ms(2);
	return rc_wal_trimmed_lsn(w) >= lsn;
}

/* The WAL calls alone: a tombstone applied takes the entry's LSN; the writer's rules hold
 * on the replica (no message, no state change after it); a truncation of the tombstone
 * brings the room back, messages accepted again. */
static void
test_wal_apply_tombstone(void **state)
{
	struct fx *f = *state;
	struct rc_wal_logrec room = { .lsn = 1, .kind = RC_WAL_ROOM, .room_id = 9, .ts_ms = 1,
				      .user = { "c", 1 }, .body = { "nine", 4 } };
	struct rc_wal_logrec msg = { .lsn = 2, .kind = RC_WAL_MSG, .room_id = 9, .seq = 1,
				     .user = { "u", 1 }, .body = { "b", 1 } };
	struct rc_wal_logrec tomb = room;

	f->wa = wal_open(f, "a", &f->cqa);
	assert_int_equal(rc_wal_apply(f->wa, &room, 1), 0);
	assert_int_equal(rc_wal_apply(f->wa, &msg, 1), 0);
	tomb.lsn = 3;
	tomb.seq = RC_WAL_STATE_MARK;
	tomb.cmid = RC_WAL_ROOM_DELETED;
	assert_int_equal(rc_wal_apply(f->wa, &tomb, 1), 0);
	assert_true(dump_has(f->wa, 1, "room 9 1 1 nine c deleted@3\n"));
	msg.lsn = 4;
	msg.seq = 2;
	assert_int_equal(rc_wal_apply(f->wa, &msg, 1), -EINVAL);
	tomb.lsn = 4;
	tomb.seq = RC_WAL_STATE_MARK | RC_WAL_ROOM_DELETED;
	tomb.cmid = 0;
	assert_int_equal(rc_wal_apply(f->wa, &tomb, 1), -EINVAL);
	assert_int_equal(rc_wal_last_lsn(f->wa), 3);
	assert_int_equal(rc_wal_truncate_above(f->wa, 2), 0);
	assert_true(dump_has(f->wa, 1, "room 9 1 1 nine c\n"));
	msg.lsn = 3;
	assert_int_equal(rc_wal_apply(f->wa, &msg, 1), 0);
	assert_true(dump_has(f->wa, 1, "room 9 1 2 nine c\n"));
}

/* A room deleted on the writer: the tombstone streamed (RECORDS) with the same deleted_lsn;
 * once the writer trimmed past it, the id created again reaches the replica as a fresh room:
 * the replica's own old entries of it are gone, its log reads, the old messages are not
 * the new room's. */
static void
test_room_tombstone_stream(void **state)
{
	struct fx *f = *state;
	char *x;

	f->keep = 5;
	f->keep_b = 1000; /* the replica keeps the old room's entries */
	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 3, "a"); /* LSN 2..4 */
	post_room_state(f->wa, 1, RC_WAL_ROOM_DELETED); /* LSN 5 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_lsn(f->wb, 5));
	assert_same(f->wa, f->wb, 1);
	x = dump(f->wb, 1);
	assert_non_null(strstr(x, "room 1 1700000000001 3 lobby alice deleted@5\n"));
	free(x);
	post_msg(f->wa, 1, 4, "late");
	assert_int_equal(completion_status(f->wa, f->cqa), -ENOENT);
	post_room_at(f->wa, 1, 42, "again"); /* not trimmed yet */
	assert_int_equal(completion_status(f->wa, f->cqa), -EEXIST);
	/* push the writer's keep window past the tombstone */
	post_room(f->wa, 2, "dev"); /* LSN 6 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 2, 1, 6, "a"); /* LSN 7..12 */
	rc_wal_set_drained(f->wa, 12);
	assert_true(wait_trimmed(f->wa, 5));
	post_room_at(f->wa, 1, 42, "again"); /* LSN 13 */
	assert_int_equal(completion_status(f->wa, f->cqa), 0);
	write_msgs(f->wa, f->cqa, 1, 1, 2, "n"); /* LSN 14, 15 */
	assert_true(wait_lsn(f->wb, 15));
	x = dump(f->wb, 1);
	assert_non_null(strstr(x, "room 1 42 2 again alice\n"));
	assert_non_null(strstr(x, "msg 1 2 1002 n-r1s2\n"));
	assert_null(strstr(x, "a-r1s"));       /* no old message, in the log or read */
	assert_null(strstr(x, "\n5 "));         /* the replica's old tombstone entry */
	assert_null(strstr(x, "lobby"));
	free(x);
	x = dump(f->wa, 13);
	{
		char *y = dump(f->wb, 13); /* (B keeps more of room 2's messages) */

		*strstr(x, "msg ") = '\0';
		*strstr(y, "msg ") = '\0';
		assert_string_equal(x, y);
		free(y);
	}
	free(x);
}

/* A replica away while rooms are deleted: the reset's ROOMS frames carry each tombstone
 * with its deleted_lsn; a room deleted and created again meanwhile replaces the replica's
 * copy of the old one (its old messages gone). */
static void
test_room_tombstone_reset(void **state)
{
	struct fx *f = *state;
	uint64_t first = 0, last;
	char *x;

	f->keep = 5;
	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	post_room(f->wa, 3, "old");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 3, 1, 3, "o"); /* LSN 3..5 */
	assert_true(wait_lsn(f->wb, 5));
	rc_repl_stop(f->rb);
	assert_true(wait_connected(f->ra, false));
	post_room(f->wa, 2, "gone"); /* LSN 6 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 2, 1, 2, "g"); /* LSN 7, 8 */
	post_room_state(f->wa, 2, RC_WAL_ROOM_DELETED); /* LSN 9 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	post_room_state(f->wa, 3, RC_WAL_ROOM_DELETED); /* LSN 10 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 1, 1, 10, "a"); /* LSN 11..20 */
	rc_wal_set_drained(f->wa, 20);
	assert_true(wait_trimmed(f->wa, 10));
	post_room_at(f->wa, 3, 77, "new"); /* LSN 21 */
	assert_int_equal(completion_status(f->wa, f->cqa), 0);
	write_msgs(f->wa, f->cqa, 3, 1, 1, "n"); /* LSN 22 (trimmed before B is back) */
	write_msgs(f->wa, f->cqa, 1, 11, 15, "a"); /* LSN 23..27 */
	last = rc_wal_last_lsn(f->wa);
	assert_int_equal(last, 27);
	rc_wal_set_drained(f->wa, last);
	for (unsigned i = 0; i < 400 && first <= 6; i++) {
		sleep_ms(5);
		assert_int_equal(rc_wal_first_lsn(f->wa, &first), 0);
	}
	assert_true(first > 6);
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_true(wait_lsn(f->wb, last));
	x = dump(f->wb, first);
	assert_non_null(strstr(x, "room 2 1700000000002 2 gone alice deleted@9\n"));
	assert_non_null(strstr(x, "room 3 77 1 new alice\n"));
	assert_null(strstr(x, "o-r3s"));
	assert_null(strstr(x, "g-r2s")); /* a tombstone's messages are not served */
	free(x);
}

/* A reset whose ROOMS frames bring a tombstone whose own entry (and messages before it)
 * are still to stream: those records are the room's past, applied without undoing the
 * tombstone; the replica catches up. */
static void
test_room_tombstone_reset_before(void **state)
{
	struct fx *f = *state;
	uint64_t first = 0;

	f->keep = 5;
	fx_up(f, 0, true);
	post_room(f->wa, 1, "lobby");
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	assert_true(wait_lsn(f->wb, 1));
	rc_repl_stop(f->rb);
	assert_true(wait_connected(f->ra, false));
	post_room(f->wa, 4, "short"); /* LSN 2 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	write_msgs(f->wa, f->cqa, 4, 1, 14, "s"); /* LSN 3..16 */
	post_room_state(f->wa, 4, RC_WAL_ROOM_DELETED); /* LSN 17 */
	assert_int_equal(completions(f->wa, f->cqa, 1, WAIT_MS), 1);
	rc_wal_set_drained(f->wa, 14); /* trimmed up to 12 (keep 5): 13..17 still to stream */
	for (unsigned i = 0; i < 400 && first <= 2; i++) {
		sleep_ms(5);
		assert_int_equal(rc_wal_first_lsn(f->wa, &first), 0);
	}
	assert_int_equal(first, 13);
	assert_int_equal(rc_repl_start(f->rb), 0);
	assert_true(wait_lsn(f->wb, 17));
	assert_true(dump_has(f->wb, 13, "room 4 1700000000004 14 short alice deleted@17\n"));
	assert_same(f->wa, f->wb, 13);
	/* and it goes on from there */
	write_msgs(f->wa, f->cqa, 1, 1, 2, "a");
	assert_true(wait_lsn(f->wb, 19));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wal_apply_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_state_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_apply_tombstone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_tombstone_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_tombstone_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_tombstone_reset_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_after_flip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_when_trimmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_not_accepted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_injection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_forged_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_drop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replica_validates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replica_refuses_bad_utf8, setup, teardown),
	};

	if (fx_eal_init("repl_test") < 0) {
		fprintf(stderr, "repl_test: EAL init failed\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
