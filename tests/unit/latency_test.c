/* SPDX-License-Identifier: MIT */
/*
 * dataplane/latency: the latency budget's histograms (percentiles from known inputs, the
 * bucket precision, sums of several workers' histograms, the max) and its recording points
 * (the stages of a completion from its stamps; what is not a stored chat message, or has no
 * stamps, is not counted; the fan-out of every completion waiting when TX is done).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "latency.h"

static struct rc_lat_hist h, h2, sum;

/* |got - want| within half a bucket (1/32 of want, rounded up) */
static void
assert_near(uint64_t got, uint64_t want)
{
	uint64_t tol = want / 32 + 1;

	if (got + tol < want || got > want + tol)
		fail_msg("got %llu, want %llu (+- %llu)", (unsigned long long)got,
			 (unsigned long long)want, (unsigned long long)tol);
}

static void
test_quantiles_known(void **state)
{
	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(rc_lat_hist_quantile(&h, 0.5), 0); /* empty */
	/* 1..1000 us, once each */
	for (uint64_t us = 1; us <= 1000; us++)
		rc_lat_hist_record(&h, us * 1000, 1);
	assert_int_equal(h.count, 1000);
	assert_int_equal(h.max_ns, 1000000);
	assert_near(rc_lat_hist_quantile(&h, 0.5), 500000);
	assert_near(rc_lat_hist_quantile(&h, 0.99), 990000);
	assert_near(rc_lat_hist_quantile(&h, 0.01), 10000);
	assert_int_equal(rc_lat_hist_quantile(&h, 1.0), 1000000); /* the max, not the bucket's */
	/* quantiles never decrease with q */
	for (double q = 0.01; q < 1.0; q += 0.01)
		assert_true(rc_lat_hist_quantile(&h, q) <= rc_lat_hist_quantile(&h, q + 0.01));
}

static void
test_quantiles_exact(void **state)
{
	(void)state;
	memset(&h, 0, sizeof(h));
	/* below 16 ns every value has its own bucket */
	for (uint64_t v = 0; v < 16; v++)
		rc_lat_hist_record(&h, v, 10);
	assert_int_equal(h.count, 160);
	assert_int_equal(rc_lat_hist_quantile(&h, 0.5), 7);
	assert_int_equal(rc_lat_hist_quantile(&h, 0.0625), 0);
	assert_int_equal(rc_lat_hist_quantile(&h, 1.0), 15);
	/* one value many times: every quantile is that value (capped by the max) */
	memset(&h, 0, sizeof(h));
	rc_lat_hist_record(&h, 123456, 99);
	assert_int_equal(rc_lat_hist_quantile(&h, 0.5), 123456);
	assert_int_equal(rc_lat_hist_quantile(&h, 0.99), 123456);
	/* 99 fast and 1 slow: p50 and p99 fast, p100 slow */
	rc_lat_hist_record(&h, 50000000, 1);
	assert_int_equal(rc_lat_hist_quantile(&h, 0.5), 123456 / 4096 * 4096 + 2047); /* its bucket's middle */
	assert_int_equal(rc_lat_hist_quantile(&h, 0.99), rc_lat_hist_quantile(&h, 0.5));
	assert_int_equal(rc_lat_hist_quantile(&h, 1.0), 50000000);
	/* beyond the last bucket: counted, the max kept */
	rc_lat_hist_record(&h, UINT64_MAX / 2, 1);
	assert_int_equal(h.count, 101);
	assert_int_equal(rc_lat_hist_quantile(&h, 1.0), UINT64_MAX / 2);
}

static void
test_sum(void **state)
{
	(void)state;
	memset(&h, 0, sizeof(h));
	memset(&h2, 0, sizeof(h2));
	memset(&sum, 0, sizeof(sum));
	rc_lat_hist_record(&h, 1000, 90); /* worker 0: 90 at 1 us */
	rc_lat_hist_record(&h2, 100000, 10); /* worker 1: 10 at 100 us */
	rc_lat_hist_add(&sum, &h);
	rc_lat_hist_add(&sum, &h2);
	assert_int_equal(sum.count, 100);
	assert_int_equal(sum.max_ns, 100000);
	assert_int_equal(rc_lat_hist_quantile(&sum, 0.5), 1007); /* 1000's bucket: 992..1023 */
	assert_int_equal(rc_lat_hist_quantile(&sum, 0.9), 1007);
	assert_int_equal(rc_lat_hist_quantile(&sum, 0.91), 100000);
	assert_int_equal(rc_lat_hist_quantile(&sum, 0.99), 100000);
}

static struct rc_wal_rec recs[4];

static void
stamp(struct rc_wal_rec *r, uint64_t base, uint64_t held)
{
	memset(r, 0, sizeof(*r));
	r->kind = RC_WAL_MSG;
	r->t = (struct rc_wal_stamps){ .rx = base, .enqueued = base + 2000,
				       .dequeued = base + 5000, .committed = base + 105000,
				       .completed = base + 105000 + held };
}

static void
test_completions(void **state)
{
	static struct rc_lat_budget lb;
	struct rc_wal_rec *p[4] = { &recs[0], &recs[1], &recs[2], &recs[3] };
	uint64_t base = rc_mono_ns() - 1000000, before, after;

	(void)state;
	memset(&lb, 0, sizeof(lb));
	stamp(&recs[0], base, 0);
	stamp(&recs[1], base, 30000);      /* held 30 us for the HA peer */
	stamp(&recs[2], base, 0);
	recs[2].status = -ESPIPE;          /* not stored: not counted */
	stamp(&recs[3], base, 0);
	recs[3].kind = RC_WAL_ROOM;        /* not a message: not counted */
	before = rc_mono_ns();
	rc_lat_completions(&lb, p, 4);
	after = rc_mono_ns();
	for (unsigned s = 0; s < RC_LAT_FANOUT; s++) /* the five stages before TX */
		assert_int_equal(lb.st[s].count, 2);
	assert_int_equal(lb.st[RC_LAT_FANOUT].count, 0); /* not before TX */
	assert_int_equal(lb.fanout_waiting, 2);
	assert_int_equal(lb.st[RC_LAT_RX_TO_ENQUEUE].max_ns, 2000);
	assert_int_equal(lb.st[RC_LAT_WAL_QUEUE].max_ns, 3000);
	assert_int_equal(lb.st[RC_LAT_COMMIT].max_ns, 100000);
	assert_int_equal(lb.st[RC_LAT_PEER].max_ns, 30000);
	assert_int_equal(rc_lat_hist_quantile(&lb.st[RC_LAT_PEER], 0.5), 0); /* one not held */
	assert_true(lb.st[RC_LAT_COMPLETION_QUEUE].max_ns >= before - (base + 105000));
	assert_true(lb.st[RC_LAT_COMPLETION_QUEUE].max_ns <= after - (base + 105000));
	assert_int_equal(lb.st[RC_LAT_TOTAL].count, 0);
	before = rc_mono_ns();
	rc_lat_flushed(&lb);
	after = rc_mono_ns();
	assert_int_equal(lb.st[RC_LAT_FANOUT].count, 2);
	assert_int_equal(lb.fanout_waiting, 0);
	/* the total: RX burst -> TX, per POST */
	assert_int_equal(lb.st[RC_LAT_TOTAL].count, 2);
	assert_true(lb.st[RC_LAT_TOTAL].max_ns >= before - base);
	assert_true(lb.st[RC_LAT_TOTAL].max_ns <= after - base);
	rc_lat_flushed(&lb); /* nothing waiting: nothing recorded */
	assert_int_equal(lb.st[RC_LAT_FANOUT].count, 2);
	/* a record without its RX stamp (not from an RX burst): the other stages only */
	stamp(&recs[0], base, 0);
	recs[0].t.rx = 0;
	rc_lat_completions(&lb, p, 1);
	assert_int_equal(lb.st[RC_LAT_RX_TO_ENQUEUE].count, 2);
	assert_int_equal(lb.st[RC_LAT_WAL_QUEUE].count, 3);
	rc_lat_flushed(&lb);
	assert_int_equal(lb.st[RC_LAT_FANOUT].count, 3);
	assert_int_equal(lb.st[RC_LAT_TOTAL].count, 2); /* no RX stamp: no total */
	assert_string_equal(rc_lat_stage_name(RC_LAT_COMPLETION_QUEUE), "completion_queue");
	assert_string_equal(rc_lat_stage_name(RC_LAT_MAX), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quantiles_known),
		cmocka_unit_test(test_quantiles_exact),
		cmocka_unit_test(test_sum),
		cmocka_unit_test(test_completions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
