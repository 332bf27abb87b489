/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the dataplane's tables and packet handling, with a real EAL (no hugepages)
 * and real liburcu QSBR: the room table, sessions and their rate bucket, the re-sent POST
 * table, and frame classification (ARP, ICMP echo, UDP chat, every drop reason); the HA
 * parts: room removal (call_rcu), sessions with a given id, and the peer's service address
 * (ARP, chat, the reply's source address) served only while peer_ip_on.
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
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "counters.h"
#include "dp.h"
#include "eal_fixture.h"
#include "dedup.h"
#include "frag_tap.h"
#include "pkt.h"
#include "room_table.h"
#include "session.h"

static struct rte_mempool *pool;

/* ---- the worker's idle back-off ---- */

/* The waits of an idle worker from its first one on, n of them, with settings start/max,
 * quiet for quiet_ms (and each wait adding its own length to that). */
static void
idle_waits(unsigned start, unsigned max, unsigned after_ms, uint64_t quiet_us, unsigned *out,
	   unsigned n)
{
	struct rc_dp dp = { .idle_sleep_us = start, .idle_sleep_max_us = max,
			    .idle_backoff_after_ms = after_ms };
	unsigned cur = start;

	for (unsigned i = 0; i < n; i++) {
		out[i] = cur;
		quiet_us += cur;
		cur = rc_worker_idle_next_us(&dp, cur, quiet_us / 1000);
	}
}

/* Once quiet for workers.idle_backoff_after_ms, each empty wake doubles the wait up to
 * workers.idle_sleep_max_us: the setting is what the back-off reaches (1000 and 300 give
 * different waits from the same start); before that the wait stays at idle_sleep_us, and
 * the quiet time setting moves the moment the doubling starts; a maximum below the start
 * keeps the start; a wait is never below the start nor above the maximum. */
static void
test_idle_backoff(void **state)
{
	static const unsigned to_1000[] = { 100, 200, 400, 800, 1000, 1000, 1000 };
	static const unsigned to_300[] = { 100, 200, 300, 300, 300, 300, 300 };
	static const unsigned after_1ms[] = { 100, 100, 100, 100, 100, 100, 100, 100, 100, 100,
					      200, 400 };
	struct rc_dp dp = { .idle_sleep_us = 1, .idle_sleep_max_us = 1000000 };
	unsigned got[12];

	(void)state;
	idle_waits(100, 1000, 0, 0, got, 7);
	assert_memory_equal(got, to_1000, sizeof(to_1000));
	idle_waits(100, 300, 0, 0, got, 7);
	assert_memory_equal(got, to_300, sizeof(to_300));
	idle_waits(100, 1000, 1, 0, got, 12); /* doubling once quiet for 1 ms: 10 waits */
	assert_memory_equal(got, after_1ms, sizeof(after_1ms));
	idle_waits(100, 1000, 1000, 5000000, got, 7); /* quiet for long already */
	assert_memory_equal(got, to_1000, sizeof(to_1000));
	idle_waits(100, 1000, 1000, 0, got, 12); /* recent work: short waits only */
	for (unsigned i = 0; i < 12; i++)
		assert_int_equal(got[i], 100);
	idle_waits(100, 50, 0, 0, got, 3); /* max below start */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(got[i], 100);
	assert_int_equal(rc_worker_idle_next_us(&dp, 900000, 0), 1000000);
	assert_int_equal(rc_worker_idle_next_us(&dp, 4000000000u, 0), 1000000); /* no wrap */
	dp.idle_sleep_us = 100;
	assert_int_equal(rc_worker_idle_next_us(&dp, 7, 0), 100); /* below the start */
}

/* ---- room table ---- */

/* Names of every length class (the hash reads 8, 4, 2 and 1 bytes), stored from one address
 * and looked up from another of every alignment, as names inside datagrams are: found. Under
 * -Dsanitize=true this also checks that the hash makes no misaligned load. */
static void
test_room_lookup_unaligned(void **state)
{
	static const char name[] = "a-room-name-of-23-bytes";
	struct rc_room_table *t = rc_room_table_create(32);
	char buf[64];

	(void)state;
	assert_non_null(t);
	for (unsigned len = 1; len <= 23; len++)
		assert_non_null(rc_room_add(t, len, name, len, "alice", 10, 0));
	for (unsigned off = 0; off < 8; off++)
		for (unsigned len = 1; len <= 23; len++) {
			struct rc_room *r;

			memcpy(buf + off, name, len);
			r = rc_room_lookup_name(t, buf + off, len);
			assert_non_null(r);
			assert_int_equal(r->id, len);
		}
	rc_room_table_destroy(t);
}

static void
test_room_add_lookup(void **state)
{
	struct rc_room_table *t = rc_room_table_create(4);
	struct rc_room *a, *b;

	(void)state;
	assert_non_null(t);
	a = rc_room_add(t, 1, "lobby", 5, "alice", 10, 1);
	assert_non_null(a);
	assert_int_equal(a->next_seq, 1);
	assert_ptr_equal(rc_room_lookup_name(t, "lobby", 5), a);
	assert_ptr_equal(rc_room_lookup_id(t, 1), a);
	assert_null(rc_room_lookup_name(t, "lobb", 4));
	assert_null(rc_room_lookup_id(t, 2));
	assert_null(rc_room_lookup_id(t, 0));
	assert_null(rc_room_lookup_id(t, 99));

	assert_null(rc_room_add(t, 2, "lobby", 5, "bob", 11, 0)); /* name taken */
	assert_int_equal(errno, EEXIST);
	assert_null(rc_room_add(t, 1, "other", 5, "bob", 11, 0)); /* id taken */
	assert_int_equal(errno, EEXIST);
	assert_null(rc_room_add(t, 5, "five", 4, "bob", 11, 0)); /* beyond max_rooms */
	assert_int_equal(errno, ENOSPC);
	assert_null(rc_room_add(t, 3, "", 0, "bob", 11, 0));
	assert_int_equal(errno, EINVAL);

	b = rc_room_add(t, 4, "ü-room", strlen("ü-room"), "bob", 11, 0);
	assert_non_null(b);
	assert_int_equal(rc_room_count(t), 2);
	assert_int_equal(rc_room_max_id(t), 4);
	rc_room_table_destroy(t);
}

static void
test_room_members(void **state)
{
	struct rc_room_table *t = rc_room_table_create(4);
	struct rc_room *r = rc_room_add(t, 1, "lobby", 5, "alice", 10, 0);
	struct rc_member m = { .user_len = 1, .user = "x" };
	unsigned i;

	(void)state;
	for (i = 1; i <= 20; i++) {
		m.session = i;
		assert_int_equal(rc_room_member_add(r, &m, 20), 0);
	}
	m.session = 21;
	assert_int_equal(rc_room_member_add(r, &m, 20), -ENOSPC);
	m.session = 5;
	assert_int_equal(rc_room_member_add(r, &m, 30), -EEXIST);
	assert_int_equal(r->n_members, 20);
	assert_true(rc_room_member_remove(r, 5));
	assert_false(rc_room_member_remove(r, 5));
	assert_int_equal(rc_room_member_find(r, 5), -1);
	assert_true(rc_room_member_find(r, 20) >= 0);
	assert_int_equal(r->n_members, 19);
	rc_room_table_destroy(t);
}

/* rc_room_del: gone by name and id at once, the slot and the name reusable; the removed room
 * stays readable until our next quiescent state (this thread is an online QSBR reader). */
static void
test_room_del(void **state)
{
	struct rc_room_table *t = rc_room_table_create(4);
	struct rc_room *a, *b, *c, *d;

	(void)state;
	assert_non_null(t);
	a = rc_room_add(t, 1, "lobby", 5, "alice", 10, 0);
	b = rc_room_add(t, 2, "other", 5, "bob", 11, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(rc_room_count(t), 2);

	assert_int_equal(rc_room_del(t, a), 0);
	assert_null(rc_room_lookup_name(t, "lobby", 5));
	assert_null(rc_room_lookup_id(t, 1));
	assert_int_equal(rc_room_count(t), 1);
	assert_ptr_equal(rc_room_lookup_id(t, 2), b); /* the other room is untouched */
	assert_ptr_equal(rc_room_lookup_name(t, "other", 5), b);
	/* a is not freed before our next quiescent state: deleting it again is refused */
	assert_int_equal(rc_room_del(t, a), -ENOENT);
	assert_int_equal(rc_room_del(t, NULL), -ENOENT);
	assert_int_equal(rc_room_count(t), 1);

	/* the same id and name again: a new room */
	c = rc_room_add(t, 1, "lobby", 5, "carol", 12, 0);
	assert_non_null(c);
	assert_ptr_equal(rc_room_lookup_id(t, 1), c);
	assert_ptr_equal(rc_room_lookup_name(t, "lobby", 5), c);
	assert_string_equal(c->creator, "carol");
	assert_int_equal(rc_room_count(t), 2);
	/* a remote room counts in the table, not among the hosted ones, also once deleted */
	d = rc_room_add_remote(t, 3, "far@n2", 6, "bob", 13, 0, 0);
	assert_non_null(d);
	assert_int_equal(rc_room_count(t), 3);
	assert_int_equal(rc_room_hosted_count(t), 2);
	assert_int_equal(rc_room_del(t, d), 0);
	assert_int_equal(rc_room_count(t), 2);
	assert_int_equal(rc_room_hosted_count(t), 2);
	assert_int_equal(rc_room_del(t, a), -ENOENT); /* the old pointer is not slot 1's room */
	assert_ptr_equal(rc_room_lookup_id(t, 1), c);

	/* every room, then the table empty */
	assert_int_equal(rc_room_del(t, b), 0);
	assert_int_equal(rc_room_del(t, c), 0);
	assert_int_equal(rc_room_count(t), 0);
	assert_int_equal(rc_room_hosted_count(t), 0);
	assert_null(rc_room_lookup_id(t, 1));
	assert_null(rc_room_lookup_id(t, 2));
	assert_null(rc_room_lookup_name(t, "other", 5));
	rcu_barrier(); /* the call_rcu frees ran (rcu_barrier goes offline itself under QSBR) */
	rc_room_table_destroy(t);
}

/* ---- sessions ---- */

static void
test_sessions(void **state)
{
	struct rc_session_table *t = rc_session_table_create(2);
	struct rc_peer p = { .ip = 1, .udp_port = 2 };
	struct rc_session *a, *b;

	(void)state;
	a = rc_session_add(t, "alice", 5, &p, 1000);
	b = rc_session_add(t, "alice", 5, &p, 1000);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a->id != 0 && b->id != 0 && a->id != b->id);
	assert_null(rc_session_add(t, "carol", 5, &p, 1000));
	assert_int_equal(errno, ENOSPC);
	assert_ptr_equal(rc_session_lookup(t, a->id), a);
	assert_null(rc_session_lookup(t, 0));
	assert_memory_equal(a->user, "alice", 5);
	rc_session_del(t, b);
	assert_int_equal(rc_session_count(t), 1);
	synchronize_rcu();
	rc_session_table_destroy(t);
}

/* rc_session_add_id: an HA takeover keeps the peer's session ids. */
static void
test_session_add_id(void **state)
{
	struct rc_session_table *t = rc_session_table_create(4);
	struct rc_peer p = { .ip = 1, .udp_port = 2, .vip = 1 };
	const uint64_t id = 0x1122334455667788ULL;
	struct rc_session *a, *b;

	(void)state;
	assert_non_null(t);
	a = rc_session_add_id(t, id, "alice", 5, &p, 1000);
	assert_non_null(a);
	assert_true(a->id == id);
	assert_ptr_equal(rc_session_lookup(t, id), a);
	assert_int_equal(a->peer.vip, 1);
	assert_int_equal(rc_session_count(t), 1);

	errno = 0;
	assert_null(rc_session_add_id(t, id, "bob", 3, &p, 1000)); /* that id is live */
	assert_int_equal(errno, EEXIST);
	assert_int_equal(rc_session_count(t), 1);
	assert_ptr_equal(rc_session_lookup(t, id), a); /* still alice's */

	b = rc_session_add_id(t, 0, "bob", 3, &p, 1000); /* 0: a random id */
	assert_non_null(b);
	assert_true(b->id != 0 && b->id != id);
	assert_ptr_equal(rc_session_lookup(t, b->id), b);
	assert_int_equal(rc_session_count(t), 2);

	/* once deleted, the id may be given again */
	rc_session_del(t, a);
	assert_null(rc_session_lookup(t, id));
	a = rc_session_add_id(t, id, "carol", 5, &p, 2000);
	assert_non_null(a);
	assert_true(a->id == id);
	assert_ptr_equal(rc_session_lookup(t, id), a);
	assert_int_equal(rc_session_count(t), 2);
	rc_session_table_destroy(t);
}

/* The caps' index: sessions per user (oldest first) and per address, kept by add and del,
 * a refused add (id live, table full) leaving it as it was. */
static void
test_session_index(void **state)
{
	struct rc_session_table *t = rc_session_table_create(4);
	struct rc_peer p1 = { .ip = 1, .udp_port = 10 }, p2 = { .ip = 2, .udp_port = 20 };
	struct rc_session *a, *b, *c;

	(void)state;
	assert_int_equal(rc_session_user_count(t, "alice", 5), 0);
	assert_null(rc_session_user_oldest(t, "alice", 5));
	a = rc_session_add_id(t, 7, "alice", 5, &p1, 1000);
	b = rc_session_add(t, "alice", 5, &p2, 1001);
	c = rc_session_add(t, "bob", 3, &p1, 1002);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_null(rc_session_add_id(t, 7, "alice", 5, &p2, 1003)); /* EEXIST */
	assert_int_equal(rc_session_user_count(t, "alice", 5), 2);
	assert_int_equal(rc_session_user_count(t, "bob", 3), 1);
	assert_int_equal(rc_session_user_count(t, "alic", 4), 0);
	assert_int_equal(rc_session_addr_count(t, 1), 2);
	assert_int_equal(rc_session_addr_count(t, 2), 1);
	assert_ptr_equal(rc_session_user_oldest(t, "alice", 5), a);
	assert_ptr_equal(rc_session_user_at(t, "alice", 5, &p2), b);
	assert_null(rc_session_user_at(t, "bob", 3, &p2));
	p2.udp_port = 21;
	assert_null(rc_session_user_at(t, "alice", 5, &p2)); /* another port */
	rc_session_del(t, a);
	assert_ptr_equal(rc_session_user_oldest(t, "alice", 5), b);
	assert_int_equal(rc_session_addr_count(t, 1), 1);
	rc_session_del(t, b);
	rc_session_del(t, c);
	assert_int_equal(rc_session_user_count(t, "alice", 5), 0);
	assert_null(rc_session_user_oldest(t, "alice", 5));
	assert_int_equal(rc_session_addr_count(t, 1), 0);
	assert_int_equal(rc_session_addr_count(t, 2), 0);
	a = rc_session_add(t, "alice", 5, &p1, 2000);
	assert_ptr_equal(rc_session_user_oldest(t, "alice", 5), a);
	assert_int_equal(rc_session_addr_count(t, 1), 1);
	synchronize_rcu();
	rc_session_table_destroy(t);
}

static void
test_rate_bucket(void **state)
{
	struct rc_session_table *t = rc_session_table_create(2);
	struct rc_peer p = { 0 };
	struct rc_session *s = rc_session_add(t, "bob", 3, &p, 0);
	unsigned i, ok = 0;

	(void)state;
	for (i = 0; i < 20; i++)
		ok += rc_session_take_token(s, 0, 10, 5);
	assert_int_equal(ok, 5); /* the burst */
	assert_false(rc_session_take_token(s, 50, 10, 5)); /* half a token after 50 ms */
	assert_true(rc_session_take_token(s, 100, 10, 5)); /* one after 100 ms at 10/s */
	assert_false(rc_session_take_token(s, 100, 10, 5));
	for (ok = 0, i = 0; i < 20; i++)
		ok += rc_session_take_token(s, 100000, 10, 5);
	assert_int_equal(ok, 5); /* refill is capped at the burst */
	rc_session_table_destroy(t);
}

/* ---- re-sent POSTs ---- */

static bool
dd_find(const struct rc_dedup *d, const char *user, uint64_t cmid, uint64_t *seq,
	bool *pending)
{
	return rc_dedup_find(d, user, (unsigned)strlen(user), cmid, seq, pending) == 0;
}

static int
dd_put(struct rc_dedup *d, uint64_t seq, const char *user, uint64_t cmid, bool pending)
{
	return rc_dedup_put(d, seq, user, (unsigned)strlen(user), cmid, pending);
}

/* Pending, then stored; the same cmid by another user is another message. */
static void
test_dedup(void **state)
{
	struct rc_dedup *d = rc_dedup_create(4);
	uint64_t seq;
	bool pending;

	(void)state;
	assert_non_null(d);
	assert_int_equal(rc_dedup_window(d), 4);
	assert_false(dd_find(d, "alice", 7, &seq, &pending));
	assert_int_equal(dd_put(d, 1, "alice", 7, true), 0);
	assert_true(dd_find(d, "alice", 7, &seq, &pending));
	assert_int_equal(seq, 1);
	assert_true(pending);
	assert_int_equal(rc_dedup_stored(d, 1, "alice", 5, 7), 0); /* committed: update */
	assert_true(dd_find(d, "alice", 7, &seq, &pending));
	assert_false(pending);
	assert_int_equal(rc_dedup_count(d), 1);
	assert_false(dd_find(d, "bob", 7, &seq, &pending));
	assert_false(dd_find(d, "alic", 7, &seq, &pending));
	assert_false(dd_find(d, "alice", 8, &seq, &pending));
	assert_int_equal(dd_put(d, 0, "alice", 9, false), -EINVAL);
	rc_dedup_destroy(d);
}

/* The window is the room's last `window` seqs: seq 1 is remembered through 63 later seqs of
 * a 64-window, forgotten at the 64th; an older seq is refused. */
static void
test_dedup_window_edge(void **state)
{
	struct rc_dedup *d = rc_dedup_create(64);
	uint64_t seq;
	bool pending;

	(void)state;
	assert_int_equal(dd_put(d, 1, "alice", 1000, false), 0);
	for (uint64_t s = 2; s <= 64; s++)
		assert_int_equal(dd_put(d, s, "bob", s, false), 0);
	assert_true(dd_find(d, "alice", 1000, &seq, &pending));
	assert_int_equal(seq, 1);
	assert_int_equal(dd_put(d, 65, "bob", 65, false), 0);
	assert_false(dd_find(d, "alice", 1000, &seq, &pending));
	assert_int_equal(dd_put(d, 1, "alice", 1000, false), -ERANGE);
	assert_true(rc_dedup_count(d) <= 64);
	rc_dedup_destroy(d);
}

/* S8: "alice" and "nHUp;" had the same 64-bit user hash (two CRC32C halves): with full names
 * as keys, one user's cmid never answers for the other's. */
static void
test_dedup_full_names(void **state)
{
	struct rc_dedup *d = rc_dedup_create(4096);
	uint64_t seq;
	bool pending;

	(void)state;
	assert_int_equal(dd_put(d, 3, "nHUp;", 1001, false), 0);
	assert_false(dd_find(d, "alice", 1001, &seq, &pending));
	assert_int_equal(dd_put(d, 4, "alice", 1001, false), 0);
	assert_true(dd_find(d, "alice", 1001, &seq, &pending));
	assert_int_equal(seq, 4);
	assert_true(dd_find(d, "nHUp;", 1001, &seq, &pending));
	assert_int_equal(seq, 3);
	rc_dedup_destroy(d);
}

/* S7: windows are per room: 10 000 POSTs in another room (another window) leave alice's
 * entry alone, and 4095 later POSTs in her own room too. */
static void
test_dedup_per_room(void **state)
{
	struct rc_dedup *lobby = rc_dedup_create(4096), *other = rc_dedup_create(4096);
	char user[16];
	uint64_t seq;
	bool pending;

	(void)state;
	assert_int_equal(dd_put(lobby, 1, "alice", 1000, false), 0);
	for (uint64_t s = 1; s <= 10000; s++) {
		snprintf(user, sizeof(user), "m%u", (unsigned)(s % 97));
		assert_int_equal(dd_put(other, s, user, s, false), 0);
	}
	assert_true(dd_find(lobby, "alice", 1000, &seq, &pending));
	assert_int_equal(seq, 1);
	assert_int_equal(rc_dedup_count(other), 4096);
	for (uint64_t s = 2; s <= 4096; s++)
		assert_int_equal(dd_put(lobby, s, "mallory", s, false), 0);
	assert_true(dd_find(lobby, "alice", 1000, &seq, &pending));
	assert_int_equal(seq, 1);
	rc_dedup_destroy(lobby);
	rc_dedup_destroy(other);
}

/* Handing seqs back: forget_from(s) drops s and everything after it; s is given again. */
static void
test_dedup_forget(void **state)
{
	struct rc_dedup *d = rc_dedup_create(8);
	uint64_t seq;
	bool pending;

	(void)state;
	for (uint64_t s = 1; s <= 5; s++)
		assert_int_equal(dd_put(d, s, "alice", 100 + s, s >= 3), 0);
	rc_dedup_forget_from(d, 3);
	assert_true(dd_find(d, "alice", 102, &seq, &pending));
	assert_false(dd_find(d, "alice", 103, &seq, &pending));
	assert_false(dd_find(d, "alice", 105, &seq, &pending));
	assert_int_equal(rc_dedup_count(d), 2);
	assert_int_equal(dd_put(d, 3, "alice", 105, true), 0); /* the resend takes seq 3 */
	assert_true(dd_find(d, "alice", 105, &seq, &pending));
	assert_int_equal(seq, 3);
	rc_dedup_forget_seq(d, 3);
	assert_false(dd_find(d, "alice", 105, &seq, &pending));
	assert_true(dd_find(d, "alice", 101, &seq, &pending));
	rc_dedup_destroy(d);
}

/* A warm-up: room made for the room's messages at once (reserve), then its last `window`
 * messages put newest first or oldest first: every one found, nothing beyond the window. */
static void
test_dedup_reserve_warm(void **state)
{
	char user[8];
	uint64_t seq;
	bool pending;

	(void)state;
	for (int order = 0; order < 2; order++) {
		struct rc_dedup *d = rc_dedup_create(100);

		assert_int_equal(rc_dedup_reserve(d, 1000), 0); /* capped at the window */
		for (uint64_t i = 0; i < 100; i++) {
			uint64_t s = order == 0 ? 250 - i : 151 + i;

			snprintf(user, sizeof(user), "u%u", (unsigned)(s % 3));
			assert_int_equal(dd_put(d, s, user, s * 11, false), 0);
		}
		for (uint64_t s = 151; s <= 250; s++) {
			snprintf(user, sizeof(user), "u%u", (unsigned)(s % 3));
			assert_true(dd_find(d, user, s * 11, &seq, &pending));
			assert_int_equal(seq, s);
		}
		assert_int_equal(rc_dedup_count(d), 100);
		assert_int_equal(dd_put(d, 150, "u0", 150 * 11, false), -ERANGE);
		rc_dedup_destroy(d);
	}
	/* on a window already holding entries, reserving keeps every one of them */
	{
		struct rc_dedup *d = rc_dedup_create(100);

		assert_int_equal(dd_put(d, 1, "alice", 1, false), 0);
		assert_int_equal(dd_put(d, 18, "bob", 18, false), 0);
		assert_int_equal(rc_dedup_reserve(d, 17), 0);
		assert_true(dd_find(d, "alice", 1, &seq, &pending));
		assert_true(dd_find(d, "bob", 18, &seq, &pending));
		assert_int_equal(rc_dedup_count(d), 2);
		rc_dedup_destroy(d);
	}
}

/* Against a plain model (the last `window` seqs, each with its key), over random puts in
 * order, out-of-order warm-ups, repeated keys and hand-backs, while the ring grows. */
static void
test_dedup_model(void **state)
{
	enum { W = 200, SEQS = 3000 };
	static struct {
		char user[8];
		uint64_t cmid;
		bool live;
	} model[SEQS + 1];
	struct rc_dedup *d = rc_dedup_create(W);
	uint64_t hi = 0, peak = 0, seq;
	unsigned rnd = 12345;
	bool pending;

	(void)state;
	memset(model, 0, sizeof(model));
	while (hi < SEQS) {
		uint64_t s = hi + 1;

		rnd = rnd * 1103515245 + 12345;
		if ((rnd >> 16) % 50 == 0 && hi > 5) { /* hand back the last few seqs */
			uint64_t from = hi - (rnd >> 8) % 5;

			rc_dedup_forget_from(d, from);
			for (uint64_t x = from; x <= hi; x++)
				model[x].live = false;
			hi = from - 1;
			continue;
		}
		snprintf(model[s].user, sizeof(model[s].user), "u%u", (rnd >> 20) % 7);
		model[s].cmid = (rnd >> 4) % 40; /* keys repeat: the newest seq wins */
		for (uint64_t x = (s > W ? s - W + 1 : 1); x < s; x++)
			if (model[x].live && model[x].cmid == model[s].cmid &&
			    strcmp(model[x].user, model[s].user) == 0)
				model[x].live = false;
		model[s].live = true;
		assert_int_equal(dd_put(d, s, model[s].user, model[s].cmid, false), 0);
		hi = s;
		peak = hi > peak ? hi : peak;
		/* (a seq that left the window at the peak may be gone for good, even if a
		 * hand-back lowered the top since) */
		for (uint64_t x = 1; x <= hi; x++) {
			if (model[x].live && x + W > peak) {
				assert_true(dd_find(d, model[x].user, model[x].cmid, &seq, &pending));
				assert_int_equal(seq, x);
			}
		}
	}
	assert_true(rc_dedup_count(d) <= W);
	rc_dedup_destroy(d);
}

/* ---- frames ---- */

static const struct rte_ether_addr our_mac = { { 0x02, 0, 0, 0, 0, 1 } };
static const struct rte_ether_addr their_mac = { { 0x02, 0, 0, 0, 0, 2 } };

static struct rc_local
local(void)
{
	struct rc_local l = { .ip_on = true, .mac = our_mac, .ip = RTE_IPV4(198u, 18, 0, 1),
			      .udp_port = 6420, .port_idx = 0 };

	l.ip = rte_cpu_to_be_32(l.ip);
	l.udp_port = rte_cpu_to_be_16(6420);
	return l;
}

static struct rte_mbuf *
udp_frame(uint32_t dst_ip, uint16_t dport, const char *payload, uint16_t plen)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rc_local l = local();
	struct rc_peer to = { .ip = l.ip, .udp_port = rte_cpu_to_be_16(dport), .mac = our_mac };
	uint8_t *p = rc_pkt_init(m);
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;

	assert_non_null(p);
	memcpy(rte_pktmbuf_append(m, plen), payload, plen);
	/* frame it as if sent by the client to us: swap the roles */
	l.mac = their_mac;
	l.ip = rte_cpu_to_be_32(RTE_IPV4(198u, 18, 0, 10));
	l.udp_port = rte_cpu_to_be_16(40000);
	to.ip = rte_cpu_to_be_32(dst_ip);
	rc_pkt_finish(m, &l, &to);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	ip = (struct rte_ipv4_hdr *)(eth + 1);
	(void)ip;
	return m;
}

static void
test_classify_udp(void **state)
{
	struct rc_local l = local();
	struct rte_mbuf *m = udp_frame(RTE_IPV4(198u, 18, 0, 1), 6420, "hello", 5);
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	(void)state;
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_CHAT);
	assert_int_equal(len, 5);
	assert_memory_equal(payload, "hello", 5);
	assert_int_equal(peer.ip, rte_cpu_to_be_32(RTE_IPV4(198u, 18, 0, 10)));
	assert_int_equal(peer.udp_port, rte_cpu_to_be_16(40000));
	assert_true(rte_is_same_ether_addr(&peer.mac, &their_mac));
	rte_pktmbuf_free(m);

	m = udp_frame(RTE_IPV4(198u, 18, 0, 9), 6420, "x", 1);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_NOT_US);
	rte_pktmbuf_free(m);

	m = udp_frame(RTE_IPV4(198u, 18, 0, 1), 53, "x", 1);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_UDP_PORT);
	rte_pktmbuf_free(m);
}

static void
test_classify_bad_frames(void **state)
{
	struct rc_local l = local();
	struct rte_mbuf *m = udp_frame(RTE_IPV4(198u, 18, 0, 1), 6420, "hello", 5);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	(void)state;
	ip->hdr_checksum ^= 1; /* bad IPv4 checksum */
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_BAD);
	ip->hdr_checksum ^= 1;

	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_FRAGMENT);
	ip->fragment_offset = 0;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);

	udp->dgram_len = rte_cpu_to_be_16(500); /* longer than the packet */
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_UDP_BAD);
	udp->dgram_len = rte_cpu_to_be_16(8 + 5);

	udp->dgram_cksum = rte_cpu_to_be_16(0x1234); /* wrong, non-zero checksum */
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_UDP_BAD);
	udp->dgram_cksum = 0;
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_CHAT);

	ip->next_proto_id = IPPROTO_TCP;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_PROTO);

	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ETH_TYPE);

	eth->dst_addr = their_mac; /* unicast to someone else */
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ETH_DST);

	rte_pktmbuf_trim(m, rte_pktmbuf_data_len(m) - 10);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ETH_SHORT);
	rte_pktmbuf_free(m);
}

/* PROTOCOL.md 1: a datagram is at most 1472 bytes of UDP payload; larger ones are dropped
 * (counted udp_oversize) even when they arrive whole. */
static void
test_classify_oversize(void **state)
{
	static char big[RC_MAX_DGRAM + 1];
	struct rc_local l = local();
	struct rte_mbuf *m;
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	(void)state;
	memset(big, 'x', sizeof(big));
	m = udp_frame(RTE_IPV4(198u, 18, 0, 1), 6420, big, RC_MAX_DGRAM);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_CHAT);
	assert_int_equal(len, RC_MAX_DGRAM);
	rte_pktmbuf_free(m);
	m = udp_frame(RTE_IPV4(198u, 18, 0, 1), 6420, big, RC_MAX_DGRAM + 1);
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_UDP_OVERSIZE);
	assert_string_equal(rc_drop_name(why), "udp_oversize");
	rte_pktmbuf_free(m);
}

/* The interface of a net_af_packet port, for its fragment tap. */
static void
test_frag_tap_iface(void **state)
{
	char name[16];

	(void)state;
	assert_int_equal(rc_frag_tap_iface("iface=rc1-nd", name, sizeof(name)), 0);
	assert_string_equal(name, "rc1-nd");
	assert_int_equal(rc_frag_tap_iface("qpairs=2,iface=veth0,qdisc_bypass=0", name,
					   sizeof(name)), 0);
	assert_string_equal(name, "veth0");
	assert_int_equal(rc_frag_tap_iface("qpairs=2", name, sizeof(name)), -ENOENT);
	assert_int_equal(rc_frag_tap_iface("", name, sizeof(name)), -ENOENT);
	assert_int_equal(rc_frag_tap_iface("iface=,qpairs=2", name, sizeof(name)), -EINVAL);
	assert_int_equal(rc_frag_tap_iface("iface=a-name-longer-than-ifnamsiz", name,
					   sizeof(name)), -EINVAL);
}

static struct rte_mbuf *
arp_request(uint32_t target)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	struct rte_ether_hdr *eth =
		(struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(struct rte_arp_hdr));
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

	memset(&eth->dst_addr, 0xff, 6);
	eth->src_addr = their_mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = their_mac;
	arp->arp_data.arp_sip = rte_cpu_to_be_32(RTE_IPV4(198u, 18, 0, 10));
	memset(&arp->arp_data.arp_tha, 0, 6);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(target);
	return m;
}

static void
test_arp(void **state)
{
	struct rc_local l = local();
	struct rte_mbuf *m = arp_request(RTE_IPV4(198u, 18, 0, 1));
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	(void)state;
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_REPLY);
	assert_int_equal(arp->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
	assert_true(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &our_mac));
	assert_true(rte_is_same_ether_addr(&eth->dst_addr, &their_mac));
	assert_int_equal(arp->arp_data.arp_sip, l.ip);
	rte_pktmbuf_free(m);

	m = arp_request(RTE_IPV4(198u, 18, 0, 77));
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ARP_NOT_US);
	rte_pktmbuf_free(m);
}

/* A gratuitous ARP, as sent when a service address moves to this node: broadcast from our
 * MAC, sender and target the moved address; the request's target MAC zero, the reply's all
 * ones; and a node that receives another's GARP for an address not its own drops it. */
static void
test_garp(void **state)
{
	struct rc_local l = local();
	rte_be32_t ip = rte_cpu_to_be_32(RTE_IPV4(198u, 18, 0, 2));
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	(void)state;
	for (int reply = 0; reply < 2; reply++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		struct rte_ether_hdr *eth;
		struct rte_arp_hdr *arp;
		uint8_t tha[6];

		assert_int_equal(rc_pkt_garp(m, &l, ip, reply != 0), 0);
		assert_int_equal(rte_pktmbuf_data_len(m),
				 sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
		eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		arp = (struct rte_arp_hdr *)(eth + 1);
		assert_true(rte_is_broadcast_ether_addr(&eth->dst_addr));
		assert_true(rte_is_same_ether_addr(&eth->src_addr, &our_mac));
		assert_int_equal(eth->ether_type, rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP));
		assert_int_equal(arp->arp_opcode, rte_cpu_to_be_16(reply ? RTE_ARP_OP_REPLY :
									       RTE_ARP_OP_REQUEST));
		assert_true(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &our_mac));
		assert_int_equal(arp->arp_data.arp_sip, ip);
		assert_int_equal(arp->arp_data.arp_tip, ip);
		memset(tha, reply ? 0xff : 0, sizeof(tha));
		assert_memory_equal(&arp->arp_data.arp_tha, tha, sizeof(tha));
		l.mac = their_mac; /* another node's view: not its address, dropped */
		assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
		l.mac = our_mac;
		rte_pktmbuf_free(m);
	}
}

/* ---- HA: the peer's service address ---- */

#define PEER_IP RTE_IPV4(198u, 18, 0, 2)
#define CLIENT_IP RTE_IPV4(198u, 18, 0, 10)

static struct rc_local
local_pair(bool peer_on)
{
	struct rc_local l = local();

	l.peer_ip = rte_cpu_to_be_32(PEER_IP);
	l.peer_ip_on = peer_on;
	return l;
}

/* An ARP request for target: its verdict (and *why). The reply stays in *out when asked. */
static enum rc_verdict
arp_verdict(const struct rc_local *l, uint32_t target, enum rc_drop *why, struct rte_mbuf **out)
{
	struct rte_mbuf *m = arp_request(target);
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_verdict v;
	uint16_t len;

	assert_non_null(m);
	v = rc_pkt_classify(m, l, &peer, &payload, &len, why);
	if (out != NULL)
		*out = m;
	else
		rte_pktmbuf_free(m);
	return v;
}

static void
test_peer_ip_arp(void **state)
{
	struct rc_local l = local_pair(false);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rte_mbuf *m;
	enum rc_drop why;

	(void)state;
	/* not serving the peer's rooms: its address is not ours */
	assert_int_equal(arp_verdict(&l, PEER_IP, &why, NULL), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ARP_NOT_US);

	/* after a takeover: answered, from the address asked for, with our MAC */
	l.peer_ip_on = true;
	assert_int_equal(arp_verdict(&l, PEER_IP, &why, &m), RC_V_REPLY);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	assert_int_equal(arp->arp_opcode, rte_cpu_to_be_16(RTE_ARP_OP_REPLY));
	assert_int_equal(arp->arp_data.arp_sip, rte_cpu_to_be_32(PEER_IP));
	assert_true(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &our_mac));
	assert_int_equal(arp->arp_data.arp_tip, rte_cpu_to_be_32(CLIENT_IP));
	assert_true(rte_is_same_ether_addr(&arp->arp_data.arp_tha, &their_mac));
	assert_true(rte_is_same_ether_addr(&eth->src_addr, &our_mac));
	assert_true(rte_is_same_ether_addr(&eth->dst_addr, &their_mac));
	rte_pktmbuf_free(m);

	/* our own address still answers as itself */
	assert_int_equal(arp_verdict(&l, RTE_IPV4(198u, 18, 0, 1), &why, &m), RC_V_REPLY);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	arp = (struct rte_arp_hdr *)(eth + 1);
	assert_int_equal(arp->arp_data.arp_sip, l.ip);
	rte_pktmbuf_free(m);

	/* our own address while we do not serve our rooms (HA: fenced, or handed over) */
	l.ip_on = false;
	assert_int_equal(arp_verdict(&l, RTE_IPV4(198u, 18, 0, 1), &why, NULL), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ARP_NOT_US);
	assert_int_equal(arp_verdict(&l, PEER_IP, &why, NULL), RC_V_REPLY);

	/* no peer address configured: 0.0.0.0 is never ours */
	l = local_pair(true);
	l.peer_ip = 0;
	assert_int_equal(arp_verdict(&l, 0, &why, NULL), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ARP_NOT_US);
	assert_int_equal(arp_verdict(&l, PEER_IP, &why, NULL), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ARP_NOT_US);
}

/* A chat datagram to dst_ip: its verdict; *peer as classified (vip poisoned first). */
static enum rc_verdict
udp_verdict(const struct rc_local *l, uint32_t dst_ip, struct rc_peer *peer, enum rc_drop *why)
{
	struct rte_mbuf *m = udp_frame(dst_ip, 6420, "hello", 5);
	const uint8_t *payload;
	enum rc_verdict v;
	uint16_t len;

	memset(peer, 0, sizeof(*peer));
	peer->vip = 0xff;
	v = rc_pkt_classify(m, l, peer, &payload, &len, why);
	if (v == RC_V_CHAT) {
		assert_int_equal(len, 5);
		assert_memory_equal(payload, "hello", 5);
	}
	rte_pktmbuf_free(m);
	return v;
}

static void
test_peer_ip_udp(void **state)
{
	struct rc_local l = local_pair(false);
	struct rc_peer peer;
	enum rc_drop why;

	(void)state;
	assert_int_equal(udp_verdict(&l, PEER_IP, &peer, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_NOT_US);
	assert_int_equal(udp_verdict(&l, RTE_IPV4(198u, 18, 0, 1), &peer, &why), RC_V_CHAT);
	assert_int_equal(peer.vip, 0);

	l.peer_ip_on = true;
	assert_int_equal(udp_verdict(&l, PEER_IP, &peer, &why), RC_V_CHAT);
	assert_int_equal(peer.vip, 1);
	assert_int_equal(peer.ip, rte_cpu_to_be_32(CLIENT_IP));
	assert_int_equal(peer.udp_port, rte_cpu_to_be_16(40000));
	assert_true(rte_is_same_ether_addr(&peer.mac, &their_mac));
	assert_int_equal(udp_verdict(&l, RTE_IPV4(198u, 18, 0, 1), &peer, &why), RC_V_CHAT);
	assert_int_equal(peer.vip, 0);

	/* our own address off, the peer's on */
	l.ip_on = false;
	assert_int_equal(udp_verdict(&l, RTE_IPV4(198u, 18, 0, 1), &peer, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_NOT_US);
	assert_int_equal(udp_verdict(&l, PEER_IP, &peer, &why), RC_V_CHAT);
	assert_int_equal(peer.vip, 1);

	/* both off: nothing is ours */
	l.peer_ip_on = false;
	assert_int_equal(udp_verdict(&l, PEER_IP, &peer, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_IP_NOT_US);
}

/* A reply leaves from the address the request was sent to. */
static void
test_finish_vip(void **state)
{
	struct rc_local l = local_pair(true);
	struct rc_peer to = { .ip = rte_cpu_to_be_32(CLIENT_IP),
			      .udp_port = rte_cpu_to_be_16(40000), .mac = their_mac, .vip = 1 };
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	struct rte_mbuf *m;
	uint8_t vip;

	(void)state;
	for (vip = 0; vip < 2; vip++) {
		m = rte_pktmbuf_alloc(pool);
		assert_non_null(m);
		assert_non_null(rc_pkt_init(m));
		memcpy(rte_pktmbuf_append(m, 3), "abc", 3);
		to.vip = (uint8_t)(1 - vip); /* 1 first, then 0 */
		rc_pkt_finish(m, &l, &to);
		eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		ip = (struct rte_ipv4_hdr *)(eth + 1);
		udp = (struct rte_udp_hdr *)(ip + 1);
		assert_int_equal(ip->src_addr, to.vip == 1 ? rte_cpu_to_be_32(PEER_IP) : l.ip);
		assert_int_equal(ip->dst_addr, rte_cpu_to_be_32(CLIENT_IP));
		assert_int_equal(rte_raw_cksum(ip, sizeof(*ip)), 0xffff);
		assert_int_equal(udp->src_port, l.udp_port);
		assert_int_equal(udp->dst_port, rte_cpu_to_be_16(40000));
		assert_true(rte_is_same_ether_addr(&eth->src_addr, &our_mac));
		assert_true(rte_is_same_ether_addr(&eth->dst_addr, &their_mac));
		rte_pktmbuf_free(m);
	}
}

/* An ICMP echo request from src to our address (a valid checksum). */
static struct rte_mbuf *
echo_frame(uint32_t src)
{
	struct rte_mbuf *m = udp_frame(RTE_IPV4(198u, 18, 0, 1), 6420, "12345678abcd", 12);
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);

	ip->src_addr = rte_cpu_to_be_32(src);
	ip->next_proto_id = IPPROTO_ICMP;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REQUEST;
	icmp->icmp_code = 0;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, 20);
	return m;
}

static void
test_icmp_echo(void **state)
{
	struct rc_local l = local();
	struct rte_mbuf *m = echo_frame(RTE_IPV4(198u, 18, 0, 10));
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(ip + 1);
	const uint8_t *payload;
	struct rc_peer peer;
	enum rc_drop why;
	uint16_t len;

	(void)state;
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_REPLY);
	assert_int_equal(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	assert_int_equal(rte_raw_cksum(icmp, 20), 0xffff); /* still a valid checksum */
	assert_int_equal(ip->src_addr, l.ip);
	assert_int_equal(rte_raw_cksum(ip, 20), 0xffff);
	assert_true(rte_is_same_ether_addr(&eth->dst_addr, &their_mac));

	icmp->icmp_type = 13; /* timestamp request: not served */
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, 20);
	ip->dst_addr = l.ip;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	eth->dst_addr = our_mac;
	assert_int_equal(rc_pkt_classify(m, &l, &peer, &payload, &len, &why), RC_V_DROP);
	assert_int_equal(why, RC_DROP_ICMP_OTHER);
	rte_pktmbuf_free(m);
}

/* Echo replies leave within the asker's rate, then the worker's; the rest are dropped and
 * counted (icmp_rate); 0 answers none. */
static void
test_icmp_rate(void **state)
{
	static struct rc_dp dp;
	struct rc_worker *w = rte_zmalloc("t_w", sizeof(*w), RTE_CACHE_LINE_SIZE);
	uint32_t a = RTE_IPV4(198u, 18, 0, 10), b = RTE_IPV4(198u, 18, 0, 11);

	(void)state;
	assert_non_null(w);
	memset(&dp, 0, sizeof(dp));
	dp.n_ports = 1;
	dp.ports[0].local = local();
	dp.icmp_source_rate = 3;
	dp.icmp_rate = 5;
	for (unsigned i = 0; i < 4; i++)
		rc_worker_rx_frame(&dp, w, 0, echo_frame(a));
	assert_int_equal(w->txq_n[0], 3);
	assert_int_equal(w->stats.drops[RC_DROP_ICMP_RATE], 1);
	for (unsigned i = 0; i < 4; i++)
		rc_worker_rx_frame(&dp, w, 0, echo_frame(b));
	assert_int_equal(w->txq_n[0], 5); /* the worker's 5 */
	assert_int_equal(w->stats.drops[RC_DROP_ICMP_RATE], 3);

	for (unsigned j = 0; j < w->txq_n[0]; j++)
		rte_pktmbuf_free(w->txq[0][j]);
	memset(w, 0, sizeof(*w));
	dp.icmp_rate = 0;
	rc_worker_rx_frame(&dp, w, 0, echo_frame(a));
	assert_int_equal(w->txq_n[0], 0);
	assert_int_equal(w->stats.drops[RC_DROP_ICMP_RATE], 1);
	rte_free(w);
}

static void
test_drop_names(void **state)
{
	unsigned i;

	(void)state;
	for (i = 0; i < RC_DROP_MAX; i++)
		assert_string_not_equal(rc_drop_name(i), "?");
	assert_string_equal(rc_drop_name(RC_DROP_MAX), "?");
}

int
main(void)
{
	char prefix[64];
	char *eal[] = { "dataplane_test", "--no-huge", "--no-pci", "-m", "128", prefix,
			"--log-level=3", NULL };
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle_backoff),
		cmocka_unit_test(test_room_add_lookup),
		cmocka_unit_test(test_room_lookup_unaligned),
		cmocka_unit_test(test_room_members),
		cmocka_unit_test(test_room_del),
		cmocka_unit_test(test_sessions),
		cmocka_unit_test(test_session_add_id),
		cmocka_unit_test(test_session_index),
		cmocka_unit_test(test_rate_bucket),
		cmocka_unit_test(test_dedup),
		cmocka_unit_test(test_dedup_window_edge),
		cmocka_unit_test(test_dedup_full_names),
		cmocka_unit_test(test_dedup_per_room),
		cmocka_unit_test(test_dedup_forget),
		cmocka_unit_test(test_dedup_reserve_warm),
		cmocka_unit_test(test_dedup_model),
		cmocka_unit_test(test_classify_udp),
		cmocka_unit_test(test_classify_bad_frames),
		cmocka_unit_test(test_classify_oversize),
		cmocka_unit_test(test_frag_tap_iface),
		cmocka_unit_test(test_arp),
		cmocka_unit_test(test_garp),
		cmocka_unit_test(test_peer_ip_arp),
		cmocka_unit_test(test_peer_ip_udp),
		cmocka_unit_test(test_finish_vip),
		cmocka_unit_test(test_icmp_echo),
		cmocka_unit_test(test_icmp_rate),
		cmocka_unit_test(test_drop_names),
	};
	int rc;

	fx_eal_prefix(prefix, sizeof(prefix), "dpt");
	if (fx_eal_start(7, eal) < 0) {
		fprintf(stderr, "EAL init failed\n");
		return 1;
	}
	pool = rte_pktmbuf_pool_create("t_mbuf", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (pool == NULL)
		return 1;
	rcu_register_thread();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rcu_unregister_thread();
	fx_eal_stop();
	return rc;
}
