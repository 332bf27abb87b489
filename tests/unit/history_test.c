/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/history.c: a real WAL (LMDB in a scratch directory, EAL with
 * --no-huge) and the history thread serving LATEST and RANGE requests. The callbacks run on
 * the history thread and only log; the assertions run on the main thread.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "doorbell.h"
#include "history.h"
#include "wal_fixture.h"

#define MAX_LOG 1024

struct end_seen {
	unsigned id;
	unsigned count;
	uint64_t next_seq;
	int err;
};

/* What the callbacks saw, in order; written by the history thread, read after `ends`. */
struct hist_log {
	unsigned nmsg;
	struct {
		unsigned id;
		uint32_t room_id;
		uint64_t seq;
	} msg[MAX_LOG];
	struct end_seen end[64];
	atomic_uint ends;
};

/* Request context: an id, and how many messages emit takes before refusing (0: all). */
struct req_ctx {
	unsigned id;
	unsigned take;
	unsigned taken;
};

struct fx {
	char dir[128];
	struct rc_wal *w;
	struct rc_history *h;
	struct hist_log log;
};

static int
log_emit(void *arg, const struct rc_hist_req *r, const struct rc_wal_msg *m)
{
	struct hist_log *lg = arg;
	struct req_ctx *c = (struct req_ctx *)r->ctx;

	if ((c->take != 0 && c->taken == c->take) || lg->nmsg == MAX_LOG)
		return 1;
	c->taken++;
	lg->msg[lg->nmsg].id = c->id;
	lg->msg[lg->nmsg].room_id = m->room_id;
	lg->msg[lg->nmsg].seq = m->seq;
	lg->nmsg++;
	return 0;
}

static void
log_end(void *arg, const struct rc_hist_req *r, unsigned count, uint64_t next_seq, int err)
{
	struct hist_log *lg = arg;
	const struct req_ctx *c = (const struct req_ctx *)r->ctx;
	unsigned i = atomic_load_explicit(&lg->ends, memory_order_relaxed);

	if (i < RTE_DIM(lg->end))
		lg->end[i] = (struct end_seen){ c->id, count, next_seq, err };
	atomic_store_explicit(&lg->ends, i + 1, memory_order_release);
}

static const struct rc_history_ops log_ops = { .emit = log_emit, .end = log_end };

static void
commit_range(struct rc_wal *w, uint32_t room_id, uint64_t first, uint64_t last)
{
	for (uint64_t s = first; s <= last; s++) {
		struct rc_wal_rec r, *rp = &r;

		fx_msg(&r, room_id, s, "alice", "hello");
		assert_int_equal(rc_wal_commit_now(w, &rp, 1), 0);
		assert_int_equal(r.status, 0);
	}
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct rc_wal_conf c;
	char err[256] = "";

	assert_non_null(f);
	fx_tmpdir(f->dir, sizeof(f->dir), NULL);
	c = fx_conf(f->dir);
	f->w = rc_wal_open(&c, err, sizeof(err));
	if (f->w == NULL)
		fail_msg("rc_wal_open: %s", err);
	commit_range(f->w, 1, 1, 20);
	commit_range(f->w, 2, 1, 3);
	f->h = rc_history_create(f->w, 64, SOCKET_ID_ANY, &log_ops, &f->log);
	assert_non_null(f->h);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rc_history_destroy(f->h);
	rc_wal_close(f->w);
	fx_rmdir(f->dir);
	free(f);
	return 0;
}

static void
enqueue_req(struct rc_history *h, const struct rc_hist_req *tmpl, unsigned id, unsigned take)
{
	struct req_ctx c = { .id = id, .take = take };
	void *obj;

	assert_int_equal(rte_mempool_get(rc_history_pool(h), &obj), 0);
	memcpy(obj, tmpl, sizeof(*tmpl));
	memcpy(((struct rc_hist_req *)obj)->ctx, &c, sizeof(c));
	assert_int_equal(rte_ring_enqueue(rc_history_ring(h), obj), 0);
	rc_bell_ring(rc_history_bell(h));
}

static void
wait_ends(struct hist_log *lg, unsigned n)
{
	uint64_t deadline = fx_now_us() + 5000000u;

	while (atomic_load_explicit(&lg->ends, memory_order_acquire) < n &&
	       fx_now_us() < deadline)
		usleep(200);
	assert_int_equal(atomic_load_explicit(&lg->ends, memory_order_acquire), n);
}

/* The messages logged for request id, as seqs, checked against first..first+n-1. */
static void
check_msgs(const struct hist_log *lg, unsigned id, uint32_t room_id, uint64_t first, unsigned n)
{
	unsigned k = 0;

	for (unsigned i = 0; i < lg->nmsg; i++) {
		if (lg->msg[i].id != id)
			continue;
		assert_int_equal(lg->msg[i].room_id, room_id);
		assert_int_equal(lg->msg[i].seq, first + k);
		k++;
	}
	assert_int_equal(k, n);
}

static const struct {
	struct rc_hist_req req;
	unsigned take;
	uint32_t room_id;
	uint64_t first;
	unsigned count;
	uint64_t next_seq;
	int err;
} cases[] = {
	/* LATEST bounded by to_seq */
	{ { .kind = RC_HIST_LATEST, .room_id = 1, .max = 5, .to_seq = 12 }, 0, 1, 8, 5, 13, 0 },
	{ { .kind = RC_HIST_LATEST, .room_id = 1, .max = 100, .to_seq = UINT64_MAX },
	  0, 1, 1, 20, 21, 0 },
	{ { .kind = RC_HIST_LATEST, .room_id = 1, .max = 5, .to_seq = 0 }, 0, 1, 0, 0, 0, 0 },
	{ { .kind = RC_HIST_LATEST, .room_id = 2, .max = 10, .to_seq = UINT64_MAX },
	  0, 2, 1, 3, 4, 0 },
	{ { .kind = RC_HIST_LATEST, .room_id = 3, .max = 10, .to_seq = UINT64_MAX,
	    .from_seq = 7 }, 0, 3, 0, 0, 7, 0 },
	/* RANGE bounded by max, by to_seq, by the data */
	{ { .kind = RC_HIST_RANGE, .room_id = 1, .from_seq = 3, .to_seq = UINT64_MAX, .max = 4 },
	  0, 1, 3, 4, 7, 0 },
	{ { .kind = RC_HIST_RANGE, .room_id = 1, .from_seq = 5, .to_seq = 9, .max = 100 },
	  0, 1, 5, 5, 10, 0 },
	{ { .kind = RC_HIST_RANGE, .room_id = 1, .from_seq = 18, .to_seq = UINT64_MAX,
	    .max = 1000 }, 0, 1, 18, 3, 21, 0 },
	{ { .kind = RC_HIST_RANGE, .room_id = 1, .from_seq = 25, .to_seq = UINT64_MAX,
	    .max = 10 }, 0, 1, 0, 0, 25, 0 },
	{ { .kind = RC_HIST_RANGE, .room_id = 1, .from_seq = 1, .to_seq = UINT64_MAX,
	    .max = 0 }, 0, 1, 0, 0, 1, 0 },
	/* emit refuses the third message: the request ends, next_seq points at it */
	{ { .kind = RC_HIST_RANGE, .room_id = 1, .from_seq = 1, .to_seq = 10, .max = 100 },
	  2, 1, 1, 2, 3, 0 },
	/* a malformed request */
	{ { .kind = 9, .room_id = 1, .from_seq = 4, .max = 10 }, 0, 1, 0, 0, 4, -EINVAL },
};

static void
test_served_in_order(void **state)
{
	struct fx *f = *state;
	struct rte_mempool *pool = rc_history_pool(f->h);
	unsigned avail = rte_mempool_avail_count(pool);
	struct rc_history_stats st;
	uint64_t messages = 0;

	assert_int_equal(rc_history_start(f->h), 0);
	assert_int_equal(rc_history_start(f->h), -EALREADY);
	for (unsigned i = 0; i < RTE_DIM(cases); i++)
		enqueue_req(f->h, &cases[i].req, i, cases[i].take);
	wait_ends(&f->log, RTE_DIM(cases));
	for (unsigned i = 0; i < RTE_DIM(cases); i++) {
		const struct end_seen *e = &f->log.end[i];

		assert_int_equal(e->id, i);
		assert_int_equal(e->count, cases[i].count);
		assert_int_equal(e->next_seq, cases[i].next_seq);
		assert_int_equal(e->err, cases[i].err);
		check_msgs(&f->log, i, cases[i].room_id, cases[i].first, cases[i].count);
		messages += cases[i].count;
	}
	rc_history_get_stats(f->h, &st);
	assert_int_equal(st.requests, RTE_DIM(cases));
	assert_int_equal(st.messages, messages);
	assert_int_equal(st.errors, 1);
	rc_history_stop(f->h);
	assert_int_equal(rte_mempool_avail_count(pool), avail);
}

/* Requests queued before rc_history_stop() are all served before it returns. */
static void
test_stop_drains(void **state)
{
	struct fx *f = *state;
	struct rte_mempool *pool = rc_history_pool(f->h);
	unsigned avail = rte_mempool_avail_count(pool);

	for (unsigned i = 0; i < 40; i++)
		enqueue_req(f->h, &cases[0].req, i, 0);
	assert_int_equal(rc_history_start(f->h), 0);
	rc_history_stop(f->h);
	assert_int_equal(atomic_load(&f->log.ends), 40);
	assert_int_equal(f->log.end[39].id, 39);
	assert_int_equal(f->log.end[39].count, 5);
	assert_int_equal(rte_mempool_avail_count(pool), avail);
}

static void
test_create_errors(void **state)
{
	struct fx *f = *state;
	struct rc_history_ops bad = { .emit = log_emit };

	errno = 0;
	assert_null(rc_history_create(f->w, 64, SOCKET_ID_ANY, &bad, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(rc_history_create(f->w, 0, SOCKET_ID_ANY, &log_ops, NULL));
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_served_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	};
	int rc;

	if (fx_eal_init("history_test") < 0) {
		fprintf(stderr, "history_test: cannot initialise the EAL\n");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_eal_stop();
	return rc;
}
