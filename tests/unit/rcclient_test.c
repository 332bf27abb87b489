/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the client-side logic that needs no node: the per-room seqtrack (in-order
 * hand-over, duplicates, gaps, history start, window, give-up) and rcclient's pure helpers
 * (ERROR code to errno, name tables). Then the client against a scripted fake node on a
 * loopback UDP socket (its own thread): an HA takeover with RESUME (re-JOINs with since_seq,
 * held POSTs resent with their cmids after the JOINED, never refused), and without it (ERROR
 * not a member to a POST: re-JOIN, resend); a LOGIN redirected to another fake (the home
 * node), once; JOINED with a room's canonical name; ROOMS answered over several ROOM_LISTs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "display.h"
#include "rcclient.h"
#include "seqtrack.h"

#define DELAY RC_SEQTRACK_GAP_DELAY_MS

static unsigned released;

static void
count_release(void *item, void *arg)
{
	(void)item;
	(void)arg;
	released++;
}

/* Items are the seq itself, cast to a pointer. */
static void *
item(uint64_t seq)
{
	return (void *)(uintptr_t)seq;
}

static struct rc_seqtrack *
new_tracker(void)
{
	static struct rc_seqtrack t;

	rc_seqtrack_init(&t, count_release, NULL);
	released = 0;
	return &t;
}

/* Offer seq; hold it when told to; return the verdict. */
static enum rc_seq_verdict
offer(struct rc_seqtrack *t, uint64_t seq, uint64_t now)
{
	enum rc_seq_verdict v = rc_seqtrack_offer(t, seq, now);

	if (v == RC_SEQ_HOLD)
		rc_seqtrack_hold(t, seq, item(seq));
	return v;
}

/* Pop everything ready; check it comes in order from first; return how many. */
static unsigned
pop_all(struct rc_seqtrack *t, uint64_t first, uint64_t now)
{
	unsigned n = 0;
	uint64_t seq;
	void *p;

	while ((p = rc_seqtrack_pop(t, &seq, now)) != NULL) {
		assert_int_equal(seq, first + n);
		assert_ptr_equal(p, item(seq));
		n++;
	}
	return n;
}

static void
test_in_order(void **state)
{
	struct rc_seqtrack *t = new_tracker();

	(void)state;
	assert_false(rc_seqtrack_started(t));
	rc_seqtrack_start(t, 1, 0);
	for (uint64_t s = 1; s <= 5; s++)
		assert_int_equal(offer(t, s, 0), RC_SEQ_NEXT);
	assert_int_equal(t->st.delivered, 5);
	assert_int_equal(rc_seqtrack_last(t), 5);
	assert_true(rc_seqtrack_synced(t));
	assert_int_equal(t->st.dups + t->st.reordered + t->st.gaps, 0);
}

static void
test_duplicates(void **state)
{
	struct rc_seqtrack *t = new_tracker();

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	offer(t, 1, 0);
	assert_int_equal(offer(t, 1, 0), RC_SEQ_DUP);
	assert_int_equal(offer(t, 3, 0), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 3, 0), RC_SEQ_DUP); /* held already */
	assert_int_equal(t->st.dups, 2);
	assert_int_equal(t->st.expected_dups, 0);
	assert_int_equal(t->st.delivered, 1);
	rc_seqtrack_fini(t);
	assert_int_equal(released, 1);
}

static void
test_gap_hold_and_fill(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	uint64_t from, when;
	uint16_t count;

	(void)state;
	rc_seqtrack_start(t, 1, 1000);
	offer(t, 1, 1000);
	assert_int_equal(offer(t, 3, 1000), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 4, 1001), RC_SEQ_HOLD);
	assert_int_equal(rc_seqtrack_first_held(t), 3);
	assert_true(rc_seqtrack_gap_deadline(t, &when));
	assert_int_equal(when, 1000 + DELAY);
	/* not before the delay: reordering is normal */
	assert_false(rc_seqtrack_gap_due(t, 1000 + DELAY - 1, 100, &from, &count));
	assert_true(rc_seqtrack_gap_due(t, 1000 + DELAY, 100, &from, &count));
	assert_int_equal(from, 2);
	assert_int_equal(count, 1); /* only the missing run before the first held seq */
	rc_seqtrack_asked(t, 2, 2, 1000 + DELAY, 3000, true);
	assert_int_equal(t->st.gaps, 1);
	assert_int_equal(offer(t, 2, 1200), RC_SEQ_NEXT);
	assert_int_equal(pop_all(t, 3, 1200), 2);
	assert_true(rc_seqtrack_synced(t));
	assert_false(rc_seqtrack_gap_deadline(t, &when));
	assert_int_equal(t->st.delivered, 4);
	assert_int_equal(t->st.reordered, 2);
	assert_int_equal(t->st.filled, 1);
	/* the FETCH's copies of 3 and 4 arrive too: expected duplicates */
	assert_int_equal(offer(t, 2, 1300), RC_SEQ_DUP);
	assert_int_equal(t->st.expected_dups, 1);
	assert_int_equal(t->st.dups, 0);
}

static void
test_expected_dups_expire(void **state)
{
	struct rc_seqtrack *t = new_tracker();

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	for (uint64_t s = 1; s <= 10; s++)
		offer(t, s, 0);
	rc_seqtrack_asked(t, 5, 8, 100, 1000, false);
	assert_int_equal(offer(t, 6, 500), RC_SEQ_DUP);
	assert_int_equal(offer(t, 9, 500), RC_SEQ_DUP);	 /* outside the range */
	assert_int_equal(offer(t, 7, 1101), RC_SEQ_DUP); /* after the ttl */
	assert_int_equal(t->st.expected_dups, 1);
	assert_int_equal(t->st.dups, 2);
	assert_int_equal(t->st.gaps, 0); /* not a gap FETCH */
}

static void
test_ranges_merge(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	const uint64_t n = 2 * RC_SEQTRACK_RANGES;

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	for (uint64_t s = 1; s <= 500; s++)
		offer(t, s, 0);
	rc_seqtrack_asked(t, 10, 12, 0, 1000, false); /* a FETCH */
	/* a storm of re-JOINs (since_seq growing): merged into one range, 10..12 stays */
	for (uint64_t since = 20; since < 60; since++)
		rc_seqtrack_asked(t, since + 1, UINT64_MAX, 10, 1000, false);
	assert_int_equal(offer(t, 11, 20), RC_SEQ_DUP);
	assert_int_equal(offer(t, 90, 20), RC_SEQ_DUP);
	assert_int_equal(t->st.expected_dups, 2);
	rc_seqtrack_fini(t);

	/* more distinct ranges than slots: the soonest-expiring go first */
	t = new_tracker();
	rc_seqtrack_start(t, 1, 0);
	for (uint64_t s = 1; s <= 500; s++)
		offer(t, s, 0);
	rc_seqtrack_asked(t, 10, 12, 0, 1000, false);
	for (uint64_t k = 0; k < n; k++) /* 100, 103, ...: none touches another */
		rc_seqtrack_asked(t, 100 + 3 * k, 100 + 3 * k, 0, 100 + k, false);
	assert_int_equal(offer(t, 11, 50), RC_SEQ_DUP);		       /* kept */
	assert_int_equal(offer(t, 100 + 3 * (n - 1), 50), RC_SEQ_DUP); /* newest: kept */
	assert_int_equal(offer(t, 100 + 3 * (n - 7), 50), RC_SEQ_DUP); /* 7 newest kept */
	assert_int_equal(t->st.expected_dups, 3);
	assert_int_equal(offer(t, 100 + 3 * (n - 8), 50), RC_SEQ_DUP); /* evicted */
	assert_int_equal(offer(t, 100, 50), RC_SEQ_DUP);	       /* evicted */
	assert_int_equal(t->st.dups, 2);
	/* ranges expire */
	assert_int_equal(offer(t, 11, 1001), RC_SEQ_DUP);
	assert_int_equal(t->st.dups, 3);
	rc_seqtrack_fini(t);
}

static void
test_tail_gap_from_last_seq(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	uint64_t from;
	uint16_t count;

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	offer(t, 1, 0);
	rc_seqtrack_learn_last(t, 5, 10); /* e.g. FETCH_END.last_seq, an ACK */
	assert_false(rc_seqtrack_synced(t));
	assert_true(rc_seqtrack_gap_due(t, 10 + DELAY, 1000, &from, &count));
	assert_int_equal(from, 2);
	assert_int_equal(count, 4);
	assert_true(rc_seqtrack_gap_due(t, 10 + DELAY, 3, &from, &count));
	assert_int_equal(count, 3);	  /* clipped to max */
	rc_seqtrack_learn_last(t, 3, 20); /* never lowers */
	assert_int_equal(t->known_last, 5);
}

static void
test_unstarted_holds_then_starts(void **state)
{
	struct rc_seqtrack *t = new_tracker();

	(void)state;
	/* live 12 before the history 9..11, and a stray 3 */
	assert_int_equal(offer(t, 12, 0), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 10, 0), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 9, 0), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 3, 0), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 10, 0), RC_SEQ_DUP);
	assert_int_equal(rc_seqtrack_first_held(t), 3);
	assert_int_equal(rc_seqtrack_last(t), 0);
	rc_seqtrack_start(t, 9, 5); /* FETCH_END: next_seq 12 - count 3 */
	assert_int_equal(released, 1);
	assert_int_equal(t->st.old, 1);
	assert_int_equal(pop_all(t, 9, 5), 2);
	assert_int_equal(offer(t, 11, 6), RC_SEQ_NEXT);
	assert_int_equal(pop_all(t, 12, 6), 1);
	assert_true(rc_seqtrack_synced(t));
	assert_int_equal(offer(t, 4, 7), RC_SEQ_OLD);
	rc_seqtrack_start(t, 1, 7); /* no effect once started */
	assert_int_equal(t->start, 9);
}

static void
test_unstarted_span_limited(void **state)
{
	struct rc_seqtrack *t = new_tracker();

	(void)state;
	assert_int_equal(offer(t, 100, 0), RC_SEQ_HOLD);
	assert_int_equal(offer(t, 100 + RC_SEQTRACK_WINDOW, 0), RC_SEQ_FAR);
	assert_int_equal(offer(t, 100 + RC_SEQTRACK_WINDOW - 1, 0), RC_SEQ_HOLD);
	assert_int_equal(t->st.far, 1);
	rc_seqtrack_fini(t);
	assert_int_equal(released, 2);
}

static void
test_far_ahead(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	uint64_t from;
	uint16_t count;

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	assert_int_equal(offer(t, 1 + RC_SEQTRACK_WINDOW, 0), RC_SEQ_FAR);
	assert_int_equal(t->st.far, 1);
	assert_int_equal(t->held, 0);
	/* but it is known to exist: the gap covers it */
	assert_true(rc_seqtrack_gap_due(t, DELAY, 1000, &from, &count));
	assert_int_equal(from, 1);
	assert_int_equal(count, 1000);
}

static void
test_window_wraps(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	uint64_t next = 1000, delivered = 0;

	(void)state;
	rc_seqtrack_start(t, next, 0);
	/* blocks of 700 delivered in reverse order except the first: slots wrap many times */
	for (unsigned round = 0; round < 10; round++) {
		uint64_t base = next;

		for (uint64_t s = base + 699; s > base; s--)
			assert_int_equal(offer(t, s, 0), RC_SEQ_HOLD);
		assert_int_equal(offer(t, base, 0), RC_SEQ_NEXT);
		delivered += 1 + pop_all(t, base + 1, 0);
		next = base + 700;
	}
	assert_int_equal(delivered, 7000);
	assert_int_equal(rc_seqtrack_last(t), 1000 + 7000 - 1);
	assert_true(rc_seqtrack_synced(t));
	assert_int_equal(t->st.dups, 0);
}

static void
test_gap_tries_and_skip(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	uint64_t from;
	uint16_t count;

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	offer(t, 1, 0);
	offer(t, 5, 0);
	rc_seqtrack_asked(t, 2, 4, DELAY, 3000, true);
	assert_int_equal(t->gap_tries, 1);
	/* retries back off: due after 2 x delay */
	rc_seqtrack_asked(t, 2, 4, 2 * DELAY, 3000, true);
	assert_int_equal(t->gap_tries, 2);
	assert_false(rc_seqtrack_gap_due(t, 2 * DELAY + 2 * DELAY - 1, 100, &from, &count));
	assert_true(rc_seqtrack_gap_due(t, 2 * DELAY + 2 * DELAY, 100, &from, &count));
	assert_int_equal(t->st.gaps, 1); /* one episode */
	/* progress resets the tries */
	assert_int_equal(offer(t, 2, 500), RC_SEQ_NEXT);
	rc_seqtrack_asked(t, 3, 4, 600, 3000, true);
	assert_int_equal(t->gap_tries, 1);
	/* give up 3..4 */
	rc_seqtrack_skip(t, rc_seqtrack_first_held(t), 700);
	assert_int_equal(t->st.skipped, 2);
	assert_int_equal(pop_all(t, 5, 700), 1);
	assert_true(rc_seqtrack_synced(t));
	assert_int_equal(t->gap_tries, 0);
	/* a new gap is a new episode */
	offer(t, 7, 800);
	rc_seqtrack_asked(t, 6, 6, 900, 3000, true);
	assert_int_equal(t->st.gaps, 2);
	rc_seqtrack_fini(t);
}

static void
test_kick(void **state)
{
	struct rc_seqtrack *t = new_tracker();
	uint64_t from;
	uint16_t count;

	(void)state;
	rc_seqtrack_start(t, 1, 0);
	rc_seqtrack_learn_last(t, 400, 50);
	assert_false(rc_seqtrack_gap_due(t, 51, 200, &from, &count));
	rc_seqtrack_gap_kick(t);
	assert_true(rc_seqtrack_gap_due(t, 51, 200, &from, &count));
	assert_int_equal(from, 1);
	assert_int_equal(count, 200);
}

static void
test_since_start(void **state)
{
	struct rc_seqtrack *t = new_tracker();

	(void)state;
	/* JOIN since_seq = 41: the stream starts at 42; the history may come after live 50 */
	rc_seqtrack_start(t, 42, 0);
	assert_int_equal(rc_seqtrack_last(t), 41);
	assert_int_equal(offer(t, 50, 0), RC_SEQ_HOLD);
	for (uint64_t s = 42; s < 50; s++)
		assert_int_equal(offer(t, s, 1), RC_SEQ_NEXT);
	assert_int_equal(pop_all(t, 50, 1), 1);
	assert_int_equal(offer(t, 41, 2), RC_SEQ_OLD);
	assert_int_equal(offer(t, 0, 2), RC_SEQ_OLD);
	assert_true(rc_seqtrack_synced(t));
}

static void
test_names_complete(void **state)
{
	(void)state;
	for (unsigned v = 0; v < RC_SEQ_VERDICT_MAX; v++)
		assert_string_not_equal(rc_seq_verdict_name(v), "?");
	assert_string_equal(rc_seq_verdict_name(RC_SEQ_VERDICT_MAX), "?");
	for (unsigned e = 0; e < RC_EV_MAX; e++)
		assert_string_not_equal(rc_client_event_name(e), "?");
	assert_string_equal(rc_client_event_name(RC_EV_MAX), "?");
}

static void
test_errno_map(void **state)
{
	(void)state;
	assert_int_equal(rc_client_errno(RC_E_UNKNOWN_ROOM), ENOENT);
	assert_int_equal(rc_client_errno(RC_E_NOT_MEMBER), EPERM);
	assert_int_equal(rc_client_errno(RC_E_RATE_LIMITED), EAGAIN);
	assert_int_equal(rc_client_errno(RC_E_NOT_AUTH), EACCES);
	assert_int_equal(rc_client_errno(RC_E_STORAGE_FULL), ENOSPC);
	assert_int_equal(rc_client_errno(0), EPROTO);
	assert_int_equal(rc_client_errno(RC_E_MAX), EPROTO);
	/* every code maps to a distinct errno */
	for (unsigned a = 1; a < RC_E_MAX; a++)
		for (unsigned b = a + 1; b < RC_E_MAX; b++)
			assert_int_not_equal(rc_client_errno(a), rc_client_errno(b));
}

static void
test_client_args(void **state)
{
	struct rc_client *c;

	(void)state;
	assert_null(rc_client_new("not-an-ip", 6420, NULL));
	assert_int_equal(errno, EINVAL);
	c = rc_client_new("127.0.0.1", 9, "127.0.0.1");
	assert_non_null(c);
	assert_false(rc_client_logged_in(c));
	assert_int_equal(rc_client_join(c, "room", 0, NULL, NULL), -ENOTCONN);
	assert_int_equal(rc_client_post_async(c, "room", "hi", 2, NULL, NULL), -ENOTCONN);
	assert_int_equal(rc_client_login(c, "", "tok"), -EINVAL);
	assert_int_equal(rc_client_timeout_ms(c), -1);
	assert_int_equal(rc_client_pending(c), 0);
	rc_client_free(c);
}

/* ---- A fake node on 127.0.0.1 (one thread), scripted through a pipe ---- */

#define FK_ROOMS 4
#define FK_LOG	 256

struct fk_entry {
	uint8_t type; /* request type, or RC_T_ERROR for an ERROR 2 sent */
	unsigned room;
	uint64_t arg; /* JOIN: since_seq; POST: cmid */
};

struct fake {
	int fd, cmd[2];
	uint16_t port;
	pthread_t th;
	struct sockaddr_in peer;
	uint64_t session;
	bool paused;
	uint32_t id_base;
	unsigned nrooms;
	struct {
		char name[32];
		uint64_t last;
		bool member;
	} room[FK_ROOMS];
	struct {
		unsigned room;
		uint64_t cmid, seq;
	} stored[64];
	unsigned nstored, nlog, err2_sent, logins, fetches;
	struct fk_entry log[FK_LOG];
	uint16_t redirect_port; /* LOGIN answered REDIRECT to 127.0.0.1 here (0: LOGIN_OK) */
	uint64_t cookie;	/* non-zero: LOGIN answered COOKIE(1, cookie), and only a
				 * LOGIN_COOKIE carrying it is logged in */
	unsigned stale_cookies; /* so many valid LOGIN_COOKIEs answered with a new COOKIE */
	unsigned cookie_logins; /* LOGIN_COOKIEs received */
	const char *service;	/* JOINED names a bare room NAME@service (NULL: as sent) */
};

static void
fk_send(struct fake *f, struct rc_msg *m)
{
	uint8_t b[RC_MAX_DGRAM];
	ssize_t n = rc_encode(b, sizeof(b), m);

	assert_true(n > 0);
	sendto(f->fd, b, (size_t)n, 0, (struct sockaddr *)&f->peer, sizeof(f->peer));
}

static void
fk_reply(struct fake *f, struct rc_msg *m, uint8_t type, uint32_t req)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = type;
	m->hdr.session = f->session;
	m->hdr.request_id = req;
}

static void
fk_log(struct fake *f, uint8_t type, unsigned room, uint64_t arg)
{
	if (f->nlog < FK_LOG)
		f->log[f->nlog++] = (struct fk_entry){ type, room, arg };
}

static int
fk_room(struct fake *f, struct rc_str name)
{
	for (unsigned i = 0; i < f->nrooms; i++)
		if (strlen(f->room[i].name) == name.len &&
		    memcmp(f->room[i].name, name.p, name.len) == 0)
			return (int)i;
	if (f->nrooms == FK_ROOMS || name.len >= sizeof(f->room[0].name))
		return -1;
	memcpy(f->room[f->nrooms].name, name.p, name.len);
	return (int)f->nrooms++;
}

static bool
fk_not_member(struct fake *f, int r, uint8_t type, uint32_t req)
{
	struct rc_msg e;

	if (r >= 0 && f->room[r].member)
		return false;
	fk_reply(f, &e, RC_T_ERROR, req);
	e.u.error.code = RC_E_NOT_MEMBER;
	e.u.error.ref_type = type;
	f->err2_sent++;
	fk_log(f, RC_T_ERROR, (unsigned)r, 0);
	fk_send(f, &e);
	return true;
}

static void
fk_join(struct fake *f, const struct rc_msg *m)
{
	int r = fk_room(f, m->u.join.room);
	char canon[64];
	struct rc_msg o;

	assert_true(r >= 0);
	f->room[r].member = true;
	fk_log(f, RC_T_JOIN, (unsigned)r, m->u.join.since_seq);
	fk_reply(f, &o, RC_T_JOINED, m->hdr.request_id);
	o.u.joined.room = m->u.join.room;
	if (f->service != NULL) { /* the canonical name */
		snprintf(canon, sizeof(canon), "%s@%s", f->room[r].name, f->service);
		o.u.joined.room = (struct rc_str){ canon, (uint16_t)strlen(canon) };
	}
	o.u.joined.room_id = f->id_base + (uint32_t)r;
	o.u.joined.last_seq = f->room[r].last;
	o.u.joined.members = 1;
	fk_send(f, &o);
	/* no history to send in these tests: the client is up to date (or starts afresh) */
	fk_reply(f, &o, RC_T_FETCH_END, m->hdr.request_id);
	o.u.fetch_end.room_id = f->id_base + (uint32_t)r;
	o.u.fetch_end.from_seq = m->u.join.since_seq + 1;
	o.u.fetch_end.next_seq = f->room[r].last + 1;
	o.u.fetch_end.last_seq = f->room[r].last;
	fk_send(f, &o);
}

static void
fk_post(struct fake *f, const struct rc_msg *m)
{
	int r = fk_room(f, m->u.post.room);
	uint64_t seq = 0;
	struct rc_msg o;

	if (fk_not_member(f, r, RC_T_POST, m->hdr.request_id))
		return;
	fk_log(f, RC_T_POST, (unsigned)r, m->u.post.cmid);
	for (unsigned i = 0; i < f->nstored; i++)
		if (f->stored[i].room == (unsigned)r && f->stored[i].cmid == m->u.post.cmid)
			seq = f->stored[i].seq;
	if (seq == 0) {
		assert_true(f->nstored < 64);
		seq = ++f->room[r].last;
		f->stored[f->nstored++] = (typeof(f->stored[0])){ (unsigned)r, m->u.post.cmid, seq };
	}
	fk_reply(f, &o, RC_T_ACK, m->hdr.request_id);
	o.u.ack = (typeof(o.u.ack)){ f->id_base + (uint32_t)r, m->u.post.cmid, seq };
	fk_send(f, &o);
	fk_reply(f, &o, RC_T_DELIVER, 0);
	o.u.deliver.room_id = f->id_base + (uint32_t)r;
	o.u.deliver.seq = seq;
	o.u.deliver.ts_ms = 1;
	o.u.deliver.cmid = m->u.post.cmid;
	o.u.deliver.sender = (struct rc_str){ "alice", 5 };
	o.u.deliver.body = m->u.post.body;
	fk_send(f, &o);
}

/* FETCH: the stored messages of the room from from_seq on, then FETCH_END. */
static void
fk_fetch(struct fake *f, const struct rc_msg *m)
{
	int r = fk_room(f, m->u.fetch.room);
	uint64_t from = m->u.fetch.from_seq ? m->u.fetch.from_seq : 1, next = from;
	struct rc_msg o;
	uint16_t n = 0;

	if (fk_not_member(f, r, RC_T_FETCH, m->hdr.request_id))
		return;
	f->fetches++;
	for (uint64_t seq = from; seq <= f->room[r].last && n < m->u.fetch.max; seq++) {
		for (unsigned i = 0; i < f->nstored; i++) {
			if (f->stored[i].room != (unsigned)r || f->stored[i].seq != seq)
				continue;
			fk_reply(f, &o, RC_T_DELIVER, m->hdr.request_id);
			o.u.deliver = (typeof(o.u.deliver)){ .room_id = f->id_base + (uint32_t)r,
							     .seq = seq, .ts_ms = 1,
							     .cmid = f->stored[i].cmid };
			o.u.deliver.sender = (struct rc_str){ "bob", 3 };
			o.u.deliver.body = (struct rc_str){ "x", 1 };
			fk_send(f, &o);
			n++;
		}
		next = seq + 1;
	}
	fk_reply(f, &o, RC_T_FETCH_END, m->hdr.request_id);
	o.u.fetch_end.room_id = f->id_base + (uint32_t)r;
	o.u.fetch_end.from_seq = from;
	o.u.fetch_end.next_seq = next;
	o.u.fetch_end.last_seq = f->room[r].last;
	o.u.fetch_end.count = n;
	fk_send(f, &o);
}

/* Another user's POST to room 0 is stored, and its live DELIVER to us lost. */
static void
fk_lost_deliver(struct fake *f)
{
	assert_true(f->nstored < 64);
	f->room[0].last++;
	f->stored[f->nstored++] = (typeof(f->stored[0])){ 0, 9000 + f->room[0].last,
							  f->room[0].last };
}

static void
fk_redirect(struct fake *f, const struct rc_msg *m)
{
	struct rc_msg o;

	fk_reply(f, &o, RC_T_REDIRECT, m->hdr.request_id);
	o.hdr.session = 0;
	o.u.redirect.node = (struct rc_str){ "1b", 2 };
	o.u.redirect.ip = INADDR_LOOPBACK;
	o.u.redirect.udp_port = f->redirect_port;
	fk_send(f, &o);
}

/* ROOMS: one ROOM_LIST per matching room, MORE on all but the last. */
static void
fk_rooms(struct fake *f, const struct rc_msg *m)
{
	const struct rc_str *pre = &m->u.rooms.prefix;
	struct rc_room_entry e;
	unsigned match[FK_ROOMS], n = 0;
	struct rc_msg o;

	for (unsigned i = 0; i < f->nrooms; i++)
		if (strncmp(f->room[i].name, pre->p, pre->len) == 0)
			match[n++] = i;
	for (unsigned k = 0; k < n || k == 0; k++) {
		fk_reply(f, &o, RC_T_ROOM_LIST, m->hdr.request_id);
		o.hdr.flags = k + 1 < n ? RC_F_MORE : 0;
		o.u.room_list.count = n > 0 ? 1 : 0;
		if (n > 0) {
			e.room = (struct rc_str){ f->room[match[k]].name,
						  (uint16_t)strlen(f->room[match[k]].name) };
			e.last_seq = f->room[match[k]].last;
			o.u.room_list.rooms = &e;
		}
		fk_send(f, &o);
	}
}

/* A LOGIN (or a LOGIN_COOKIE) without the cookie, or a valid one while stale_cookies
 * last: a COOKIE (a new one for the latter); true when it was sent. */
static bool
fk_cookie(struct fake *f, const struct rc_msg *m)
{
	struct rc_msg o;

	if (m->hdr.type == RC_T_LOGIN_COOKIE) {
		f->cookie_logins++;
		if (m->u.login.cookie_slot == 1 && m->u.login.cookie_mac == f->cookie &&
		    f->stale_cookies == 0)
			return false;
		if (m->u.login.cookie_mac == f->cookie) {
			f->stale_cookies--;
			f->cookie++;
		}
	}
	fk_reply(f, &o, RC_T_COOKIE, m->hdr.request_id);
	o.hdr.session = 0;
	o.u.cookie.slot = 1;
	o.u.cookie.mac = f->cookie;
	fk_send(f, &o);
	return true;
}

static void
fk_request(struct fake *f, const struct rc_msg *m)
{
	struct rc_msg o;

	switch (m->hdr.type) {
	case RC_T_LOGIN:
	case RC_T_LOGIN_COOKIE:
		f->logins += m->hdr.type == RC_T_LOGIN;
		if (f->cookie != 0 && fk_cookie(f, m))
			break;
		if (f->redirect_port != 0) {
			fk_redirect(f, m);
			break;
		}
		fk_reply(f, &o, RC_T_LOGIN_OK, m->hdr.request_id);
		o.u.login_ok.session = f->session;
		o.u.login_ok.idle_timeout_s = 120;
		fk_send(f, &o);
		break;
	case RC_T_JOIN:
		fk_join(f, m);
		break;
	case RC_T_POST:
		fk_post(f, m);
		break;
	case RC_T_ROOMS:
		fk_rooms(f, m);
		break;
	case RC_T_FETCH:
		fk_fetch(f, m);
		break;
	case RC_T_PING:
		fk_reply(f, &o, RC_T_PONG, m->hdr.request_id);
		o.u.pong.nonce = m->u.ping.nonce;
		fk_send(f, &o);
		break;
	default:
		break;
	}
}

/* The peer takes over: memberships are gone, room ids change; RESUME unless it is lost. */
static void
fk_takeover(struct fake *f, bool resume, uint64_t session)
{
	uint8_t b[2048];
	struct rc_msg o;

	while (recv(f->fd, b, sizeof(b), MSG_DONTWAIT) >= 0)
		; /* what the failed node never saw */
	for (unsigned i = 0; i < f->nrooms; i++)
		f->room[i].member = false;
	f->id_base += 100;
	f->paused = false;
	f->nlog = 0;
	if (!resume)
		return;
	fk_reply(f, &o, RC_T_RESUME, 0);
	o.hdr.session = session;
	o.u.resume.node = (struct rc_str){ "n2", 2 };
	o.u.resume.reason = RC_RESUME_FAILOVER;
	fk_send(f, &o);
}

static void *
fk_main(void *arg)
{
	struct fake *f = arg;
	uint8_t b[2048];

	for (;;) {
		struct pollfd pfd[2] = { { .fd = f->fd, .events = POLLIN },
					 { .fd = f->cmd[0], .events = POLLIN } };
		socklen_t alen = sizeof(f->peer);
		size_t off = 0, used;
		struct rc_msg m;
		ssize_t n;
		char cmd;

		if (poll(pfd, 2, 1000) <= 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			if (read(f->cmd[0], &cmd, 1) != 1 || cmd == 'q')
				return NULL;
			if (cmd == 'p')
				f->paused = true;
			else if (cmd == 'x')
				fk_lost_deliver(f);
			else if (cmd == 'w') /* a RESUME for another session: ignored */
				fk_takeover(f, true, f->session + 1);
			else
				fk_takeover(f, cmd == 't', f->session);
			continue;
		}
		n = recvfrom(f->fd, b, sizeof(b), 0, (struct sockaddr *)&f->peer, &alen);
		if (n <= 0 || f->paused)
			continue;
		while ((size_t)n > off && rc_decode(b + off, (size_t)n - off, &m, &used) == 0) {
			fk_request(f, &m);
			off += used;
		}
	}
}

static struct fake *
fk_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct fake *f = calloc(1, sizeof(*f));
	socklen_t alen = sizeof(a);

	assert_non_null(f);
	f->session = 0x5e5510aull;
	f->id_base = 7;
	f->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pipe(f->cmd), 0);
	assert_int_equal(pthread_create(&f->th, NULL, fk_main, f), 0);
	return f;
}

static void
fk_cmd(struct fake *f, char cmd)
{
	assert_int_equal(write(f->cmd[1], &cmd, 1), 1);
	usleep(20000); /* let the fake act before the client goes on */
}

static void
fk_stop(struct fake *f)
{
	char q = 'q';

	assert_int_equal(write(f->cmd[1], &q, 1), 1);
	pthread_join(f->th, NULL);
	close(f->fd);
	close(f->cmd[0]);
	close(f->cmd[1]);
}

/* What the client's callbacks saw. */
struct seen {
	unsigned posted, failed, resumed, lost, redirected, delivered;
	uint64_t seq[8], cmid[8];
	char node[RC_MAX_USER + 1];
	char droom[RC_MAX_ROOM + 1]; /* the room of the last delivery */
	uint64_t reason;
};

static void
seen_deliver(void *arg, const struct rc_delivery *d)
{
	struct seen *s = arg;

	s->delivered++;
	snprintf(s->droom, sizeof(s->droom), "%s", d->room);
}

static void
seen_posted(void *arg, const struct rc_post_result *r)
{
	struct seen *s = arg;

	if (r->late)
		return;
	if (r->status != 0)
		s->failed++;
	if (s->posted < 8) {
		s->seq[s->posted] = r->seq;
		s->cmid[s->posted] = r->cmid;
	}
	s->posted++;
}

static void
seen_event(void *arg, enum rc_client_event ev, const char *room, uint64_t value)
{
	struct seen *s = arg;

	if (ev == RC_EV_RESUMED) {
		s->resumed++;
		snprintf(s->node, sizeof(s->node), "%s", room);
		s->reason = value;
	} else if (ev == RC_EV_MEMBERSHIP_LOST) {
		s->lost++;
	} else if (ev == RC_EV_REDIRECTED) {
		s->redirected++;
		snprintf(s->node, sizeof(s->node), "%s", room);
		s->reason = value;
	}
}

static struct rc_client *
fk_client_new(struct fake *f, struct seen *s)
{
	struct rc_client_cb cb = { .deliver = seen_deliver, .posted = seen_posted,
				   .event = seen_event, .arg = s };
	struct rc_client *c = rc_client_new("127.0.0.1", f->port, "127.0.0.1");

	assert_non_null(c);
	rc_client_set_retry(c, 40, 100);
	rc_client_set_callbacks(c, &cb);
	return c;
}

static struct rc_client *
fk_client(struct fake *f, struct seen *s)
{
	struct rc_client *c = fk_client_new(f, s);

	assert_int_equal(rc_client_login(c, "alice", "1.tok"), 0);
	return c;
}

/* Poll the client until want POSTs completed (or 5 s). */
static void
poll_posted(struct rc_client *c, const struct seen *s, unsigned want)
{
	for (int i = 0; i < 500 && s->posted < want; i++)
		rc_client_poll(c, 10, NULL);
	for (int i = 0; i < 10; i++) /* the DELIVERs after the last ACK */
		rc_client_poll(c, 10, NULL);
}

/* Poll the client for ms milliseconds. */
static void
poll_for(struct rc_client *c, unsigned ms)
{
	uint64_t end = rc_mono_ms_precise() + ms;

	while (rc_mono_ms_precise() < end)
		rc_client_poll(c, 10, NULL);
}

/*
 * The last message of a conversation, its live DELIVER lost: no later seq reveals the gap,
 * so the client FETCHes the room's tail once it has been quiet for the tail check delay,
 * and hands the message over. Then nothing more is asked while the room stays quiet. With
 * the check off, the message stays missing (and the room looks synced: nothing shows it).
 */
static void
test_lost_last_deliver_fetched(void **state)
{
	struct rc_client_stats st;
	struct fake *f = fk_start();
	struct seen s = { 0 };
	struct rc_client *c = fk_client(f, &s);
	uint64_t seq;

	(void)state;
	rc_client_set_tail_check(c, 200);
	assert_int_equal(rc_client_join(c, "lobby", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_post(c, "lobby", "hi", 2, &seq), 0);
	assert_int_equal(seq, 1);
	fk_cmd(f, 'x'); /* bob's seq 2: stored, its DELIVER to us lost */
	poll_for(c, 150);
	assert_int_equal(s.delivered, 1);
	assert_false(rc_client_room_settled(c, "lobby")); /* its tail check is due */
	poll_for(c, 1000);
	assert_int_equal(s.delivered, 2);
	assert_int_equal(rc_client_room_last(c, "lobby"), 2);
	assert_true(rc_client_room_settled(c, "lobby"));
	rc_client_stats(c, &st);
	assert_int_equal(st.tail_found, 1);
	assert_int_equal(st.dup_deliveries, 0);
	assert_int_equal(st.gap_skipped, 0);
	/* one check after seq 1, one after seq 2 came: none while the room stays quiet */
	assert_int_equal(st.tail_checks, 2);
	poll_for(c, 600);
	rc_client_stats(c, &st);
	assert_int_equal(st.tail_checks, 2);
	assert_int_equal(f->fetches, 2);

	/* the check off: bob's seq 3, lost, stays missing */
	rc_client_set_tail_check(c, 0);
	fk_cmd(f, 'x');
	poll_for(c, 600);
	assert_int_equal(s.delivered, 2);
	assert_true(rc_client_room_settled(c, "lobby"));
	assert_int_equal(f->fetches, 2);
	/* the next message shows seq 3 missing (its ACK says 4): a gap, FETCHed as usual */
	rc_client_set_tail_check(c, 200);
	assert_int_equal(rc_client_post(c, "lobby", "again", 5, &seq), 0);
	assert_int_equal(seq, 4);
	poll_for(c, 800);
	assert_int_equal(s.delivered, 4);
	rc_client_stats(c, &st);
	assert_int_equal(st.gap_skipped, 0);
	rc_client_free(c);
	fk_stop(f);
	free(f);
}

static void
test_resume_rejoins_and_resends(void **state)
{
	struct fake *f = fk_start();
	struct seen s = { 0 };
	struct rc_client *c = fk_client(f, &s);
	struct rc_client_stats st;
	uint64_t seq = 0, cmid;
	uint32_t id;
	unsigned joins = 0;

	(void)state;
	assert_int_equal(rc_client_join(c, "r1", 0, &id, NULL), 0);
	assert_int_equal(id, 7);
	assert_int_equal(rc_client_join(c, "r2", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_post(c, "r1", "a", 1, &seq), 0);
	assert_int_equal(rc_client_post(c, "r1", "b", 1, &seq), 0);
	assert_int_equal(seq, 2);
	poll_posted(c, &s, 0);
	assert_int_equal(rc_client_room_last(c, "r1"), 2);

	/* the node fails: three POSTs go unanswered (retransmitted into the void) */
	fk_cmd(f, 'p');
	cmid = rc_client_next_cmid(c);
	assert_int_equal(rc_client_post_async(c, "r1", "c", 1, NULL, NULL), 0);
	assert_int_equal(rc_client_post_async(c, "r2", "d", 1, NULL, NULL), 0);
	assert_int_equal(rc_client_post_async(c, "r1", "e", 1, NULL, NULL), 0);
	for (int i = 0; i < 20; i++)
		rc_client_poll(c, 10, NULL);
	assert_int_equal(s.posted, 0);

	/* the peer takes over and sends RESUME */
	fk_cmd(f, 't');
	poll_posted(c, &s, 3);
	fk_stop(f);

	assert_int_equal(s.resumed, 1);
	assert_string_equal(s.node, "n2");
	assert_int_equal(s.reason, RC_RESUME_FAILOVER);
	assert_string_equal(rc_client_last_resume(c, NULL), "n2");
	assert_int_equal(s.posted, 3);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.cmid[0], cmid); /* the cmids of the first transmissions */
	assert_int_equal(f->err2_sent, 0); /* no POST went out before its room's JOINED */
	assert_int_equal(f->nstored, 5);
	assert_int_equal(f->logins, 1);
	/* after the takeover: the two re-JOINs (since the last seq held) come first */
	for (unsigned i = 0; i < f->nlog; i++) {
		if (f->log[i].type == RC_T_JOIN) {
			joins++;
			assert_int_equal(f->log[i].arg, f->log[i].room == 0 ? 2 : 0);
		} else {
			assert_int_equal(joins, 2);
		}
	}
	assert_int_equal(joins, 2);
	assert_int_equal(rc_client_room_last(c, "r1"), 4);
	assert_int_equal(rc_client_room_last(c, "r2"), 1);
	assert_false(rc_client_resuming(c));
	rc_client_stats(c, &st);
	assert_int_equal(st.resumes, 1);
	assert_int_equal(st.rejoin_rounds, 1);
	assert_int_equal(st.relogins, 0);
	assert_int_equal(st.unknown_room, 0);
	rc_client_free(c);
	free(f);
}

static void
test_lost_resume_not_member(void **state)
{
	struct fake *f = fk_start();
	struct seen s = { 0 };
	struct rc_client *c = fk_client(f, &s);
	struct rc_client_stats st;
	bool rejoined = false;
	uint64_t seq = 0;

	(void)state;
	assert_int_equal(rc_client_join(c, "r1", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_post(c, "r1", "a", 1, &seq), 0);
	poll_posted(c, &s, 0);
	/* a RESUME for somebody else's session changes nothing */
	fk_cmd(f, 'w');
	poll_posted(c, &s, 0);
	assert_int_equal(s.resumed, 0);
	assert_int_equal(f->nlog, 0);
	/* a takeover whose RESUME is lost: the next POST gets ERROR 2 */
	fk_cmd(f, 'l');
	assert_int_equal(rc_client_post_async(c, "r1", "b", 1, NULL, NULL), 0);
	poll_posted(c, &s, 1);
	fk_stop(f);

	assert_int_equal(s.posted, 1);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.seq[0], 2);
	assert_int_equal(s.lost, 1);
	assert_int_equal(f->err2_sent, 1);
	assert_int_equal(f->nstored, 2);
	assert_true(f->nlog >= 3);
	assert_int_equal(f->log[0].type, RC_T_ERROR);
	for (unsigned i = 1; i < f->nlog; i++) {
		if (f->log[i].type == RC_T_JOIN) {
			assert_int_equal(f->log[i].arg, 1);
			rejoined = true;
		}
		if (f->log[i].type == RC_T_POST)
			assert_true(rejoined);
	}
	assert_true(rejoined);
	rc_client_stats(c, &st);
	assert_int_equal(st.membership_lost, 1);
	assert_int_equal(st.resumes, 0);
	assert_int_equal(st.relogins, 0);
	assert_true(st.unmatched >= 1); /* the stray RESUME */
	rc_client_free(c);
	free(f);
}

/* A LOGIN at a node that is not the user's home: REDIRECT; the same LOGIN goes to the home
 * node, and so does everything after it. */
static void
test_redirect_followed(void **state)
{
	struct fake *a = fk_start(), *b = fk_start();
	struct seen s = { 0 };
	struct rc_client *c;
	struct rc_client_stats st;
	uint64_t seq = 0;

	(void)state;
	a->redirect_port = b->port;
	c = fk_client_new(a, &s);
	assert_string_equal(rc_client_home_node(c), "");
	assert_int_equal(rc_client_login(c, "alice", "1.tok"), 0);
	assert_true(rc_client_logged_in(c));
	assert_int_equal(rc_client_session(c), b->session);
	assert_string_equal(rc_client_home_node(c), "1b");
	assert_int_equal(s.redirected, 1);
	assert_string_equal(s.node, "1b");
	assert_int_equal(s.reason, (uint64_t)INADDR_LOOPBACK << 16 | b->port);
	assert_int_equal(rc_client_join(c, "r1", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_post(c, "r1", "hi", 2, &seq), 0);
	assert_int_equal(seq, 1);
	fk_stop(a);
	fk_stop(b);
	assert_int_equal(a->logins, 1);
	assert_int_equal(b->logins, 1);
	assert_int_equal(a->nrooms, 0); /* nothing but the LOGIN went to the first node */
	assert_int_equal(b->nstored, 1);
	rc_client_stats(c, &st);
	assert_int_equal(st.redirects, 1);
	rc_client_free(c);
	free(a);
	free(b);
}

/* A node under a LOGIN flood answers COOKIE: the LOGIN goes again at once as a LOGIN_COOKIE
 * (the same request id) carrying it; a new COOKIE (the first went stale) is followed too. */
static void
test_login_cookie(void **state)
{
	struct fake *f = fk_start();
	struct seen s = { 0 };
	struct rc_client *c;
	struct rc_client_stats st;

	(void)state;
	f->cookie = 0xc0ffee;
	f->stale_cookies = 1;
	c = fk_client_new(f, &s);
	assert_int_equal(rc_client_login(c, "alice", "1.tok"), 0);
	assert_true(rc_client_logged_in(c));
	assert_int_equal(rc_client_session(c), f->session);
	fk_stop(f);
	assert_int_equal(f->logins, 1);
	assert_int_equal(f->cookie_logins, 2);
	assert_int_equal(f->cookie, 0xc0ffee + 1);
	rc_client_stats(c, &st);
	assert_int_equal(st.cookies, 2);
	assert_int_equal(st.retransmits, 0); /* followed at once, not on a timeout */
	rc_client_free(c);
	free(f);
}

/* The home node redirects again: one REDIRECT per LOGIN is followed, the second fails it. */
static void
test_redirect_once(void **state)
{
	struct fake *a = fk_start(), *b = fk_start();
	struct seen s = { 0 };
	struct rc_client *c;

	(void)state;
	a->redirect_port = b->port;
	b->redirect_port = a->port;
	c = fk_client_new(a, &s);
	assert_int_equal(rc_client_login(c, "alice", "1.tok"), -ELOOP);
	assert_false(rc_client_logged_in(c));
	fk_stop(a);
	fk_stop(b);
	assert_int_equal(s.redirected, 1);
	assert_int_equal(a->logins, 1);
	assert_true(b->logins >= 1);
	rc_client_free(c);
	free(a);
	free(b);
}

/* JOINED of a bare name carries the canonical NAME@SERVICE: the application's name stays
 * the key (DELIVERs name it), the canonical one is kept and finds the same room. */
static void
test_joined_canonical(void **state)
{
	struct fake *f = fk_start();
	struct seen s = { 0 };
	struct rc_client *c;
	uint32_t id = 0;
	uint64_t seq = 0;

	(void)state;
	f->service = "tc-1a.cluster1";
	c = fk_client(f, &s);
	assert_null(rc_client_room_name(c, "r1"));
	assert_int_equal(rc_client_join(c, "r1", 0, &id, NULL), 0);
	assert_int_equal(id, 7);
	assert_string_equal(rc_client_room_name(c, "r1"), "r1@tc-1a.cluster1");
	assert_string_equal(rc_client_room_name(c, "r1@tc-1a.cluster1"), "r1@tc-1a.cluster1");
	assert_int_equal(rc_client_post(c, "r1", "hi", 2, &seq), 0);
	poll_posted(c, &s, 0);
	fk_stop(f);
	assert_int_equal(s.delivered, 1);
	assert_string_equal(s.droom, "r1");
	assert_int_equal(rc_client_room_last(c, "r1"), 1);
	assert_int_equal(rc_client_room_last(c, "r1@tc-1a.cluster1"), 1);
	assert_true(rc_client_room_synced(c, "r1@tc-1a.cluster1"));
	rc_client_free(c);
	free(f);
}

struct listed {
	unsigned n;
	char room[4][32];
	uint64_t last[4];
};

static void
list_room(void *arg, const char *room, uint64_t last_seq)
{
	struct listed *l = arg;

	if (l->n < 4) {
		snprintf(l->room[l->n], sizeof(l->room[0]), "%s", room);
		l->last[l->n] = last_seq;
	}
	l->n++;
}

/* ROOMS: the answer spans several ROOM_LISTs (MORE); every room reaches the callback. */
static char big_prefix[RC_MAX_ROOM + 2];

static void
test_rooms_more(void **state)
{
	struct fake *f = fk_start();
	struct seen s = { 0 };
	struct rc_client *c = fk_client(f, &s);
	struct listed l = { 0 };
	uint64_t seq;

	(void)state;
	assert_int_equal(rc_client_join(c, "ra", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_join(c, "rb", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_join(c, "x", 0, NULL, NULL), 0);
	assert_int_equal(rc_client_post(c, "rb", "hi", 2, &seq), 0);
	assert_int_equal(rc_client_rooms(c, NULL, list_room, &l), 3);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.room[0], "ra");
	assert_string_equal(l.room[1], "rb");
	assert_int_equal(l.last[1], 1);
	assert_string_equal(l.room[2], "x");
	memset(&l, 0, sizeof(l));
	assert_int_equal(rc_client_rooms(c, "r", list_room, &l), 2);
	assert_int_equal(l.n, 2);
	memset(&l, 0, sizeof(l));
	assert_int_equal(rc_client_rooms(c, "zz", list_room, &l), 0);
	assert_int_equal(l.n, 0);
	memset(big_prefix, 'p', sizeof(big_prefix) - 1);
	assert_int_equal(rc_client_rooms(c, big_prefix, list_room, &l), -EMSGSIZE);
	fk_stop(f);
	rc_client_free(c);
	free(f);
}

/* What roomcast-chat prints of names and bodies: the controls a terminal acts on (C1, DEL),
 * the bidirectional overrides and isolates and the line separators come out as visible
 * escapes; a body's newline indents the next line; plain text, accents and emoji pass. */
static void
test_display_escape(void **state)
{
	char out[256];

	(void)state;
	/* "alice" followed by RLO + "ecila": would show as "alicealice" */
	assert_int_equal(rc_display_escape("alice\xe2\x80\xae" "ecila", 0, out, sizeof(out)), 1);
	assert_string_equal(out, "alice<U+202E>ecila");
	/* CSI (U+009B) "31m" would turn the rest red; DEL; LRI..PDI; ALM; LRM */
	assert_int_equal(rc_display_escape("a\xc2\x9b" "31mb\x7f", 0, out, sizeof(out)), 2);
	assert_string_equal(out, "a<U+009B>31mb<U+007F>");
	assert_int_equal(rc_display_escape("\xe2\x81\xa6x\xe2\x81\xa9\xd8\x9c\xe2\x80\x8e",
					   0, out, sizeof(out)), 4);
	assert_string_equal(out, "<U+2066>x<U+2069><U+061C><U+200E>");
	/* a line separator would start a fake line */
	rc_display_escape("hi\xe2\x80\xa8[lobby #9] admin: hi", 1, out, sizeof(out));
	assert_string_equal(out, "hi<U+2028>[lobby #9] admin: hi");
	/* a body's newline: kept, the next line indented; in a name: escaped */
	assert_int_equal(rc_display_escape("one\n[lobby #7 10:00:00] admin: two", 1, out,
					   sizeof(out)), 0);
	assert_string_equal(out, "one\n" RC_DISPLAY_INDENT "[lobby #7 10:00:00] admin: two");
	assert_int_equal(rc_display_escape("a\nb\tc", 0, out, sizeof(out)), 2);
	assert_string_equal(out, "a<U+000A>b<U+0009>c");
	/* C0, invalid UTF-8 and a surrogate are escaped; accents and emoji are not */
	assert_int_equal(rc_display_escape("\x1b[2J\xff\xed\xa0\x80", 1, out, sizeof(out)), 5);
	assert_string_equal(out, "<U+001B>[2J<FF><ED><A0><80>");
	assert_int_equal(rc_display_escape("caf\xc3\xa9 \xf0\x9f\x98\x80", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	/* too small: cut at a whole character or escape, always terminated */
	rc_display_escape("ab\xe2\x80\xae" "cd", 0, out, 8);
	assert_string_equal(out, "ab");
	rc_display_escape("caf\xc3\xa9", 0, out, 5);
	assert_string_equal(out, "caf");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_gap_hold_and_fill),
		cmocka_unit_test(test_expected_dups_expire),
		cmocka_unit_test(test_ranges_merge),
		cmocka_unit_test(test_tail_gap_from_last_seq),
		cmocka_unit_test(test_unstarted_holds_then_starts),
		cmocka_unit_test(test_unstarted_span_limited),
		cmocka_unit_test(test_far_ahead),
		cmocka_unit_test(test_window_wraps),
		cmocka_unit_test(test_gap_tries_and_skip),
		cmocka_unit_test(test_kick),
		cmocka_unit_test(test_since_start),
		cmocka_unit_test(test_names_complete),
		cmocka_unit_test(test_errno_map),
		cmocka_unit_test(test_client_args),
		cmocka_unit_test(test_lost_last_deliver_fetched),
		cmocka_unit_test(test_resume_rejoins_and_resends),
		cmocka_unit_test(test_lost_resume_not_member),
		cmocka_unit_test(test_redirect_followed),
		cmocka_unit_test(test_login_cookie),
		cmocka_unit_test(test_redirect_once),
		cmocka_unit_test(test_joined_canonical),
		cmocka_unit_test(test_rooms_more),
		cmocka_unit_test(test_display_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
