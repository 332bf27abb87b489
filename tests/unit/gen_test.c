/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of roomcast-gen's pure parts (tests/bench/gen): the latency histogram (bucket
 * bounds, percentiles against the exact ones of known distributions, interval differences),
 * the per (member, room) seq tracking (in order, reordered, duplicates, history, gaps, a
 * window pushed beyond its width) and the body format (stamped, parsed, another run's
 * refused). Single-threaded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gen_body.h"
#include "gen_hist.h"
#include "gen_seq.h"
#include "proto.h"

static struct rg_hist h, h2, hd;

/* |got - want| <= want / 64 (+1 for the small values). */
static void
assert_near(uint64_t got, uint64_t want)
{
	uint64_t tol = want / 64 + 1;

	if (got + tol < want || got > want + tol)
		fail_msg("got %lu, want %lu (+-%lu)", got, want, tol);
}

static void
test_hist_buckets(void **state)
{
	uint64_t v;
	unsigned b, prev = 0;

	(void)state;
	for (v = 0; v < 128; v++)
		assert_int_equal(rg_hist_bucket(v), v);
	/* every bucket holds what its bounds say, the buckets follow each other */
	for (b = 0; b + 1 < RG_HIST_BUCKETS; b++) {
		assert_int_equal(rg_hist_bucket(rg_hist_bucket_lo(b)), b);
		assert_int_equal(rg_hist_bucket(rg_hist_bucket_hi(b)), b);
		assert_int_equal(rg_hist_bucket_hi(b) + 1, rg_hist_bucket_lo(b + 1));
		/* at most 1/64 of its values wide */
		assert_true(rg_hist_bucket_hi(b) - rg_hist_bucket_lo(b) <=
			    rg_hist_bucket_lo(b) / 64);
	}
	assert_int_equal(rg_hist_bucket(UINT64_MAX), RG_HIST_BUCKETS - 1);
	for (v = 1; v < (1ull << 40); v = v * 3 + 1) {
		b = rg_hist_bucket(v);
		assert_true(b >= prev);
		prev = b;
	}
}

static void
test_hist_quantiles(void **state)
{
	uint64_t v;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(rg_hist_quantile(&h, 0.5), 0);
	/* 1..100000 ns once each: the q-quantile is q * 100000 */
	for (v = 1; v <= 100000; v++)
		rg_hist_add(&h, v);
	assert_int_equal(h.n, 100000);
	assert_int_equal(h.max, 100000);
	assert_near(rg_hist_quantile(&h, 0.5), 50000);
	assert_near(rg_hist_quantile(&h, 0.99), 99000);
	assert_near(rg_hist_quantile(&h, 0.999), 99900);
	assert_near(rg_hist_quantile(&h, 1.0), 100000);
	assert_true(rg_hist_quantile(&h, 1.0) <= h.max);
	assert_true(rg_hist_mean(&h) > 50000.4 && rg_hist_mean(&h) < 50000.6);

	/* 990 fast (10 us) and 10 slow (5 ms): p50 and p99 fast, p99.9 slow */
	memset(&h, 0, sizeof(h));
	for (v = 0; v < 990; v++)
		rg_hist_add(&h, 10000);
	for (v = 0; v < 10; v++)
		rg_hist_add(&h, 5000000);
	assert_near(rg_hist_quantile(&h, 0.5), 10000);
	assert_near(rg_hist_quantile(&h, 0.99), 10000);
	assert_near(rg_hist_quantile(&h, 0.991), 5000000);
	assert_near(rg_hist_quantile(&h, 0.999), 5000000);
	/* a single value: every quantile is near it, never above it */
	memset(&h, 0, sizeof(h));
	rg_hist_add(&h, 123457);
	assert_near(rg_hist_quantile(&h, 0.01), 123457);
	assert_near(rg_hist_quantile(&h, 0.5), 123457);
	assert_true(rg_hist_quantile(&h, 0.999) <= 123457);
}

static void
test_hist_interval(void **state)
{
	unsigned i;

	(void)state;
	memset(&h, 0, sizeof(h));
	for (i = 0; i < 1000; i++)
		rg_hist_add(&h, 1000);
	rg_hist_snapshot(&h2, &h);
	for (i = 0; i < 1000; i++)
		rg_hist_add(&h, 2000000);
	/* the second interval alone: its values only */
	rg_hist_diff(&hd, &h, &h2);
	assert_int_equal(hd.n, 1000);
	assert_near(rg_hist_quantile(&hd, 0.5), 2000000);
	assert_near(rg_hist_quantile(&hd, 0.01), 2000000);
	assert_int_equal(hd.sum, 1000ull * 2000000);
	/* the whole run: half and half */
	assert_near(rg_hist_quantile(&h, 0.5), 1000);
	assert_near(rg_hist_quantile(&h, 0.51), 2000000);
}

static struct rg_seq s;

static void
test_seq_in_order(void **state)
{
	uint64_t q;

	(void)state;
	rg_seq_init(&s, 0);
	for (q = 1; q <= 5000; q++)
		assert_int_equal(rg_seq_add(&s, q), RG_SEQ_NEW);
	assert_int_equal(s.got, 5000);
	assert_int_equal(s.dups, 0);
	assert_int_equal(rg_seq_missing(&s, 5000), 0);
	assert_int_equal(rg_seq_holes(&s), 0);
	/* nothing yet of 5001..5010 */
	assert_int_equal(rg_seq_missing(&s, 5010), 10);
	assert_int_equal(rg_seq_add(&s, 5000), RG_SEQ_DUP);
	assert_int_equal(rg_seq_add(&s, 1), RG_SEQ_DUP);
	assert_int_equal(s.dups, 2);
}

static void
test_seq_history_and_start(void **state)
{
	(void)state;
	/* joined when the room's last seq was 100: the history DELIVERs (<= 100) do not count */
	rg_seq_init(&s, 100);
	assert_int_equal(rg_seq_add(&s, 81), RG_SEQ_HISTORY);
	assert_int_equal(rg_seq_add(&s, 100), RG_SEQ_HISTORY);
	assert_int_equal(rg_seq_add(&s, 101), RG_SEQ_NEW);
	assert_int_equal(s.got, 1);
	assert_int_equal(rg_seq_holes(&s), 0); /* history is no hole */
	assert_int_equal(rg_seq_missing(&s, 50), 0);
	assert_int_equal(rg_seq_missing(&s, 101), 0);
	assert_int_equal(rg_seq_missing(&s, 103), 2);
}

static void
test_seq_reorder_gaps_dups(void **state)
{
	(void)state;
	rg_seq_init(&s, 0);
	assert_int_equal(rg_seq_add(&s, 3), RG_SEQ_NEW);
	assert_int_equal(rg_seq_add(&s, 1), RG_SEQ_NEW);
	assert_int_equal(rg_seq_add(&s, 3), RG_SEQ_DUP);
	assert_int_equal(rg_seq_add(&s, 5), RG_SEQ_NEW);
	/* 2 and 4 missing so far */
	assert_int_equal(rg_seq_missing(&s, 5), 2);
	assert_int_equal(rg_seq_holes(&s), 2);
	assert_int_equal(rg_seq_add(&s, 2), RG_SEQ_NEW);
	assert_int_equal(rg_seq_add(&s, 2), RG_SEQ_DUP);
	assert_int_equal(rg_seq_missing(&s, 5), 1);
	assert_int_equal(rg_seq_holes(&s), 1);
	assert_int_equal(rg_seq_add(&s, 4), RG_SEQ_NEW);
	assert_int_equal(rg_seq_missing(&s, 5), 0);
	assert_int_equal(rg_seq_holes(&s), 0);
	assert_int_equal(s.base, 5); /* the window slid past the run */
	assert_int_equal(s.got, 5);
	assert_int_equal(s.dups, 2);
}

static void
test_seq_beyond_window(void **state)
{
	uint64_t far = 3 * RG_SEQ_WINDOW;

	(void)state;
	rg_seq_init(&s, 0);
	assert_int_equal(rg_seq_add(&s, 1), RG_SEQ_NEW);
	assert_int_equal(rg_seq_add(&s, 3), RG_SEQ_NEW);
	/* far beyond the window: what it leaves behind unseen is given up */
	assert_int_equal(rg_seq_add(&s, far), RG_SEQ_NEW);
	assert_int_equal(s.given_up, far - RG_SEQ_WINDOW - 2);
	/* every seq up to far except 1, 3 and far is missing, however it is counted */
	assert_int_equal(rg_seq_missing(&s, far), far - 3);
	assert_int_equal(rg_seq_holes(&s), far - 3);
	/* a given-up seq arriving late cannot be told from a duplicate */
	assert_int_equal(rg_seq_add(&s, 2), RG_SEQ_DUP);
	/* just beyond the window, one slot: a shift by one keeps the rest */
	rg_seq_init(&s, 0);
	assert_int_equal(rg_seq_add(&s, 2), RG_SEQ_NEW);
	assert_int_equal(rg_seq_add(&s, RG_SEQ_WINDOW + 1), RG_SEQ_NEW);
	assert_int_equal(s.given_up, 1); /* seq 1 */
	assert_int_equal(rg_seq_add(&s, 2), RG_SEQ_DUP);
	assert_int_equal(rg_seq_missing(&s, RG_SEQ_WINDOW + 1), RG_SEQ_WINDOW - 1);
}

static void
test_body(void **state)
{
	char b[RC_MAX_BODY];
	uint64_t ts, idx;

	(void)state;
	rg_body_init(b, 200, 0xdeadbeef);
	rg_body_stamp(b, 0x0123456789abcdefull, 42);
	assert_true(rc_utf8_valid(b, 200, false)); /* a body the node accepts */
	assert_true(rg_body_parse(b, 200, 0xdeadbeef, &ts, &idx));
	assert_int_equal(ts, 0x0123456789abcdefull);
	assert_int_equal(idx, 42);
	assert_false(rg_body_parse(b, 200, 0xdeadbeee, &ts, &idx)); /* another run */
	assert_false(rg_body_parse(b, RG_BODY_MIN - 1, 0xdeadbeef, &ts, &idx));
	assert_false(rg_body_parse("hello, world: not a generated body at all", 41, 1, &ts,
				   &idx));
	/* the smallest body carries the fields and nothing else */
	rg_body_init(b, RG_BODY_MIN, 7);
	rg_body_stamp(b, UINT64_MAX, UINT64_MAX);
	assert_true(rg_body_parse(b, RG_BODY_MIN, 7, &ts, &idx));
	assert_int_equal(ts, UINT64_MAX);
	assert_int_equal(idx, UINT64_MAX);
	b[20] = 'x';
	assert_false(rg_body_parse(b, RG_BODY_MIN, 7, &ts, &idx));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_buckets),
		cmocka_unit_test(test_hist_quantiles),
		cmocka_unit_test(test_hist_interval),
		cmocka_unit_test(test_seq_in_order),
		cmocka_unit_test(test_seq_history_and_start),
		cmocka_unit_test(test_seq_reorder_gaps_dups),
		cmocka_unit_test(test_seq_beyond_window),
		cmocka_unit_test(test_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
