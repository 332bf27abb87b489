/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the client-side logic that needs no node: the per-room seqtrack (in-order
 * hand-over, duplicates, gaps, history start, window, give-up) and rcclient's pure helpers
 * (ERROR code to errno, name tables).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
