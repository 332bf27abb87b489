/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/wal.c against a real LMDB in a scratch directory and a real EAL
 * (--no-huge): reopen, group commit through the writer thread from two producers,
 * duplicates, the high-water mark and a full map, room loading, reads, schema versions and
 * the migration of a version-1 environment; the commit log (LSNs, rc_wal_log_read), the
 * drained marker, trimming, the backlog counters, and a full map freed again by a drain.
 * cmocka assertions run on the test's main thread only; helper threads report counts.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "doorbell.h"
#include "wal_fixture.h"
#include "wal_format.h"

#define BODY_CAP 256

struct fx {
	char dir[128];
	struct rc_wal *w;
};

struct got_msg {
	uint32_t room_id;
	uint64_t seq;
	uint64_t ts_ms;
	uint64_t cmid;
	char user[RC_MAX_USER + 1];
	char body[BODY_CAP];
};

struct got {
	unsigned n;
	unsigned cap;
	unsigned stop_after; /* 0: never stop */
	struct got_msg *m;
};

static int
setup(void **state)
{
	*state = FX_STATE_NEW(struct fx);
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rc_wal_close(f->w);
	fx_rmdir(f->dir);
	free(f);
	return 0;
}

static struct rc_wal *
open_ok(const struct rc_wal_conf *c)
{
	char err[256] = "";
	struct rc_wal *w = rc_wal_open(c, err, sizeof(err));

	if (w == NULL)
		fail_msg("rc_wal_open: %s (errno %d)", err, errno);
	return w;
}

static void
got_init(struct got *g, unsigned cap)
{
	*g = (struct got){ .cap = cap, .m = calloc(cap, sizeof(*g->m)) };
	assert_non_null(g->m);
}

static int
got_cb(void *arg, const struct rc_wal_msg *m)
{
	struct got *g = arg;
	struct got_msg *o;

	if (g->stop_after != 0 && g->n == g->stop_after)
		return 1;
	if (g->n == g->cap)
		return -1;
	o = &g->m[g->n++];
	o->room_id = m->room_id;
	o->seq = m->seq;
	o->ts_ms = m->ts_ms;
	o->cmid = m->cmid;
	snprintf(o->user, sizeof(o->user), "%.*s", m->user.len, m->user.p);
	snprintf(o->body, sizeof(o->body), "%.*s", m->body.len, m->body.p);
	return 0;
}

/* Commits msgs room_id / [first, last] with body "r<room>s<seq>". */
static void
commit_range(struct rc_wal *w, uint32_t room_id, uint64_t first, uint64_t last)
{
	for (uint64_t s = first; s <= last; s++) {
		struct rc_wal_rec r, *rp = &r;
		char body[64];

		snprintf(body, sizeof(body), "r%us%llu", room_id, (unsigned long long)s);
		fx_msg(&r, room_id, s, "alice", body);
		assert_int_equal(rc_wal_commit_now(w, &rp, 1), 0);
		assert_int_equal(r.status, 0);
	}
}

static void
commit_room(struct rc_wal *w, uint32_t room_id, uint64_t created, const char *creator,
	    const char *name)
{
	struct rc_wal_rec r, *rp = &r;

	fx_room(&r, room_id, created, creator, name);
	assert_int_equal(rc_wal_commit_now(w, &rp, 1), 0);
	assert_int_equal(r.status, 0);
}

/* Reads room_id [from, to] (max) and checks it is exactly the seqs expected[0..n). */
static void
check_read(struct rc_wal *w, uint32_t room_id, uint64_t from, uint64_t to, unsigned max,
	   const uint64_t *expected, unsigned n)
{
	struct got g;

	got_init(&g, n + 16);
	assert_int_equal(rc_wal_read(w, room_id, from, to, max, got_cb, &g), (int)n);
	assert_int_equal(g.n, n);
	for (unsigned i = 0; i < n; i++) {
		char body[64];

		snprintf(body, sizeof(body), "r%us%llu", room_id,
			 (unsigned long long)expected[i]);
		assert_int_equal(g.m[i].room_id, room_id);
		assert_int_equal(g.m[i].seq, expected[i]);
		assert_string_equal(g.m[i].body, body);
	}
	free(g.m);
}

static void
check_last(struct rc_wal *w, uint32_t room_id, uint64_t to, unsigned max, uint64_t first,
	   unsigned n)
{
	struct got g;

	got_init(&g, 1024);
	assert_int_equal(rc_wal_read_last_to(w, room_id, to, max, got_cb, &g), (int)n);
	assert_int_equal(g.n, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(g.m[i].seq, first + i);
	free(g.m);
}

/* ---- the commit log: helpers ---- */

struct log_seen {
	uint64_t lsn;
	uint8_t kind;
	uint32_t room_id;
	uint64_t seq;
	uint64_t ts_ms;
	uint64_t cmid;
	uint32_t value_len;
	char user[RC_MAX_USER + 1];
	char body[BODY_CAP];
};

struct log_got {
	unsigned n;
	unsigned cap;
	unsigned stop_after; /* 0: never stop */
	struct log_seen *r;
};

static int
log_cb(void *arg, const struct rc_wal_logrec *r)
{
	struct log_got *g = arg;
	struct log_seen *o;

	if (g->stop_after != 0 && g->n == g->stop_after)
		return 1;
	if (g->n == g->cap)
		return -1;
	o = &g->r[g->n++];
	*o = (struct log_seen){ .lsn = r->lsn, .kind = r->kind, .room_id = r->room_id,
				.seq = r->seq, .ts_ms = r->ts_ms, .cmid = r->cmid,
				.value_len = r->value_len };
	snprintf(o->user, sizeof(o->user), "%.*s", r->user.len, r->user.p);
	snprintf(o->body, sizeof(o->body), "%.*s", r->body.len, r->body.p);
	return 0;
}

/* Reads the log from `from` (at most max) and checks that it reports `expect` records;
 * the caller frees g->r. */
static void
log_read_ok(struct rc_wal *w, uint64_t from, unsigned max, unsigned expect, struct log_got *g)
{
	*g = (struct log_got){ .cap = expect + 16 };
	g->r = calloc(g->cap, sizeof(*g->r));
	assert_non_null(g->r);
	assert_int_equal(rc_wal_log_read(w, from, max, log_cb, g), (int)expect);
	assert_int_equal(g->n, expect);
}

/* The LSNs of the log from `from` on are exactly want[0..n) (NULL: from, from + 1, ...). */
static void
check_log_lsns(struct rc_wal *w, uint64_t from, const uint64_t *want, unsigned n)
{
	struct log_got g;

	log_read_ok(w, from, 1000, n, &g);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(g.r[i].lsn, want != NULL ? want[i] : from + i);
	free(g.r);
}

/* Value bytes of commit_range's message room_id / seq. */
static uint64_t
range_len(uint32_t room_id, uint64_t seq)
{
	char body[64];

	return 19 + strlen("alice") +
	       (uint64_t)snprintf(body, sizeof(body), "r%us%llu", room_id, (unsigned long long)seq);
}

/* One writer iteration's marker-and-trim work, repeated until nothing is left. */
static void
settle(struct rc_wal *w)
{
	for (unsigned i = 0; i < 20; i++)
		assert_int_equal(rc_wal_commit_now(w, NULL, 0), 0);
}

static struct rc_wal_stats
stats(struct rc_wal *w)
{
	struct rc_wal_stats st;

	rc_wal_get_stats(w, &st);
	return st;
}

static void
reopen(struct fx *f, const struct rc_wal_conf *c)
{
	rc_wal_close(f->w);
	f->w = NULL;
	f->w = open_ok(c);
}

/* ---- rooms ---- */

struct room_seen {
	uint32_t room_id;
	uint64_t created_ms;
	uint64_t last_seq;
	uint8_t flags;
	uint64_t deleted_lsn;
	char name[RC_MAX_ROOM + 1];
	char creator[RC_MAX_USER + 1];
};

struct rooms_got {
	unsigned n;
	unsigned stop_at; /* return 42 when reporting this many-th room (1-based); 0 never */
	struct room_seen r[16];
};

static int
rooms_cb(void *arg, const struct rc_wal_room *r)
{
	struct rooms_got *g = arg;
	struct room_seen *s;

	if (g->n == RTE_DIM(g->r))
		return -1;
	s = &g->r[g->n++];
	s->room_id = r->room_id;
	s->created_ms = r->created_ms;
	s->last_seq = r->last_seq;
	s->flags = r->flags;
	s->deleted_lsn = r->deleted_lsn;
	snprintf(s->name, sizeof(s->name), "%s", r->name);
	snprintf(s->creator, sizeof(s->creator), "%s", r->creator);
	return g->stop_at != 0 && g->n == g->stop_at ? 42 : 0;
}

static void
test_reopen_keeps_data(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rooms_got rg = { 0 };
	struct rc_wal_stats st;
	struct got g;

	f->w = open_ok(&c);
	assert_true(stats(f->w).nosync); /* the fixture's default: unsynced, and shown so */
	commit_room(f->w, 1, 1000, "alice", "lobby");
	commit_room(f->w, 2, 2000, "bob", "dev");
	commit_range(f->w, 1, 1, 3);
	rc_wal_close(f->w);
	f->w = NULL;

	f->w = open_ok(&c);
	assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
	assert_int_equal(rg.n, 2);
	assert_int_equal(rg.r[0].room_id, 1);
	assert_int_equal(rg.r[0].created_ms, 1000);
	assert_int_equal(rg.r[0].last_seq, 3);
	assert_string_equal(rg.r[0].name, "lobby");
	assert_string_equal(rg.r[0].creator, "alice");
	assert_int_equal(rg.r[1].room_id, 2);
	assert_int_equal(rg.r[1].last_seq, 0);
	assert_string_equal(rg.r[1].name, "dev");
	assert_string_equal(rg.r[1].creator, "bob");

	got_init(&g, 16);
	assert_int_equal(rc_wal_read(f->w, 1, 1, UINT64_MAX, 100, got_cb, &g), 3);
	assert_int_equal(g.m[1].seq, 2);
	assert_int_equal(g.m[1].ts_ms, 1700000000002ull);
	assert_int_equal(g.m[1].cmid, 1002);
	assert_string_equal(g.m[1].user, "alice");
	assert_string_equal(g.m[1].body, "r1s2");
	free(g.m);

	rc_wal_get_stats(f->w, &st);
	assert_int_equal(st.rooms, 2);
	assert_int_equal(st.messages, 3);
	assert_true(st.map_used > 0 && st.map_used <= st.map_size);
	assert_int_equal(st.map_size, c.map_size);
	assert_false(st.full);
}

/* ---- group commit from two producers ---- */

#define GC_PER_PRODUCER 5000
#define GC_ROOM_BASE 100

struct producer {
	struct rc_wal *w;
	struct rte_ring *done;
	unsigned idx;
	unsigned completed;
	unsigned out_of_order;
	unsigned bad;
	bool timed_out;
};

static void
producer_drain(struct producer *p)
{
	void *objs[64];
	unsigned n = rte_ring_dequeue_burst(p->done, objs, RTE_DIM(objs), NULL);

	for (unsigned i = 0; i < n; i++) {
		struct rc_wal_rec *r = objs[i];
		uint64_t ctx_seq;

		memcpy(&ctx_seq, r->ctx, sizeof(ctx_seq));
		if (r->seq != p->completed + 1u || ctx_seq != r->seq ||
		    r->room_id != GC_ROOM_BASE + p->idx)
			p->out_of_order++;
		if (r->status != 0)
			p->bad++;
		p->completed++;
		rte_mempool_put(rc_wal_pool(p->w), r);
	}
}

static void
producer_fill(struct rc_wal_rec *r, const struct producer *p, uint64_t seq)
{
	char user[16], body[64];

	snprintf(user, sizeof(user), "p%u", p->idx);
	snprintf(body, sizeof(body), "r%us%llu", GC_ROOM_BASE + p->idx,
		 (unsigned long long)seq);
	fx_msg(r, GC_ROOM_BASE + p->idx, seq, user, body);
	r->reply_to = (uint16_t)p->idx;
	memcpy(r->ctx, &seq, sizeof(seq));
}

static void *
producer_main(void *arg)
{
	struct producer *p = arg;
	uint64_t deadline = fx_now_us() + 60u * 1000000u;

	for (uint64_t seq = 1; seq <= GC_PER_PRODUCER; seq++) {
		void *obj;

		while (rte_mempool_get(rc_wal_pool(p->w), &obj) != 0) {
			producer_drain(p);
			usleep(20);
			p->timed_out = fx_now_us() > deadline;
			if (p->timed_out)
				return NULL;
		}
		producer_fill(obj, p, seq);
		while (rte_ring_enqueue(rc_wal_ring(p->w), obj) != 0)
			usleep(10);
		rc_bell_ring(rc_wal_bell(p->w));
		producer_drain(p);
	}
	while (p->completed < GC_PER_PRODUCER && !p->timed_out) {
		producer_drain(p);
		usleep(100);
		p->timed_out = fx_now_us() > deadline;
	}
	return NULL;
}

static struct rte_ring *
completion_ring(struct rc_wal *w, unsigned idx, unsigned size)
{
	char name[32];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "walt_done%u_%p", idx, (void *)w);
	r = rte_ring_create(name, size, SOCKET_ID_ANY,
			    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	assert_non_null(r);
	assert_int_equal(rc_wal_set_completion(w, idx, r), 0);
	return r;
}

/* The log of test_group_commit: LSNs 1..N without a gap, each producer's seqs in order; the
 * next LSN after a reopen is N + 1. */
static void
check_gc_log(struct fx *f)
{
	struct rc_wal_conf c = fx_conf(f->dir);
	uint64_t next[2] = { 1, 1 };
	struct log_got g;

	assert_int_equal(rc_wal_last_lsn(f->w), 2 * GC_PER_PRODUCER);
	log_read_ok(f->w, 0, 3 * GC_PER_PRODUCER, 2 * GC_PER_PRODUCER, &g);
	for (unsigned i = 0; i < g.n; i++) {
		unsigned p = g.r[i].room_id - GC_ROOM_BASE;

		assert_int_equal(g.r[i].lsn, i + 1);
		assert_int_equal(g.r[i].kind, RC_WAL_MSG);
		assert_true(p < 2);
		assert_int_equal(g.r[i].seq, next[p]);
		next[p]++;
	}
	free(g.r);
	reopen(f, &c);
	assert_int_equal(rc_wal_last_lsn(f->w), 2 * GC_PER_PRODUCER);
	commit_range(f->w, GC_ROOM_BASE, GC_PER_PRODUCER + 1, GC_PER_PRODUCER + 1);
	assert_int_equal(rc_wal_last_lsn(f->w), 2 * GC_PER_PRODUCER + 1);
}

static void
test_group_commit(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct producer p[2];
	pthread_t th[2];
	struct rc_wal_stats st;

	c.nosync = false;
	c.batch_max = 128;
	c.pool_size = 1024;
	f->w = open_ok(&c);
	/* what runs, not the setting: synced here, unsynced in the fixture's default */
	assert_false(stats(f->w).nosync);
	for (unsigned i = 0; i < 2; i++)
		p[i] = (struct producer){ .w = f->w, .idx = i,
					  .done = completion_ring(f->w, i, 2048) };
	assert_int_equal(rc_wal_start(f->w), 0);
	assert_int_equal(rc_wal_start(f->w), -EALREADY);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &p[i]), 0);
	for (unsigned i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	rc_wal_stop(f->w);

	for (unsigned i = 0; i < 2; i++) {
		uint64_t *want = malloc(GC_PER_PRODUCER * sizeof(*want));

		assert_false(p[i].timed_out);
		assert_int_equal(p[i].completed, GC_PER_PRODUCER);
		assert_int_equal(p[i].out_of_order, 0);
		assert_int_equal(p[i].bad, 0);
		assert_int_equal(rte_ring_count(p[i].done), 0);
		for (unsigned s = 0; s < GC_PER_PRODUCER; s++)
			want[s] = s + 1;
		check_read(f->w, GC_ROOM_BASE + i, 1, UINT64_MAX, 100000, want,
			   GC_PER_PRODUCER);
		free(want);
	}
	rc_wal_get_stats(f->w, &st);
	print_message("group commit: %llu records in %llu synced commits, largest batch %llu\n",
		      (unsigned long long)st.records, (unsigned long long)st.commits,
		      (unsigned long long)st.max_batch);
	assert_int_equal(st.records, 2 * GC_PER_PRODUCER);
	assert_int_equal(st.messages, 2 * GC_PER_PRODUCER);
	assert_int_equal(st.commit_errors, 0);
	assert_int_equal(st.lost_completions, 0);
	assert_true(st.max_batch > 1 && st.max_batch <= c.batch_max);
	assert_int_equal(rte_mempool_avail_count(rc_wal_pool(f->w)), c.pool_size);
	for (unsigned i = 0; i < 2; i++)
		rte_ring_free(p[i].done);
	check_gc_log(f);
}

/* ---- duplicates and malformed records ---- */

/* Takes n completions from done (timeout_us at most), in order, into out. */
static unsigned
take_completions_for(struct rc_wal *w, struct rte_ring *done, struct rc_wal_rec *out,
		     unsigned n, uint64_t timeout_us)
{
	uint64_t deadline = fx_now_us() + timeout_us;
	unsigned got = 0;

	while (got < n && fx_now_us() < deadline) {
		void *obj;

		if (rte_ring_dequeue(done, &obj) != 0) {
			usleep(100);
			continue;
		}
		memcpy(&out[got++], obj, sizeof(*out));
		rte_mempool_put(rc_wal_pool(w), obj);
	}
	return got;
}

static unsigned
take_completions(struct rc_wal *w, struct rte_ring *done, struct rc_wal_rec *out, unsigned n)
{
	return take_completions_for(w, done, out, n, 5000000u);
}

static void
enqueue_copy(struct rc_wal *w, const struct rc_wal_rec *r)
{
	void *obj;

	assert_int_equal(rte_mempool_get(rc_wal_pool(w), &obj), 0);
	memcpy(obj, r, sizeof(*r));
	assert_int_equal(rte_ring_enqueue(rc_wal_ring(w), obj), 0);
	rc_bell_ring(rc_wal_bell(w));
}

/* The doorbells: the idle writer blocks on its bell; a producer's ring wakes it; a batch
 * completed onto a ring whose consumer sleeps rings that consumer's bell once, not once per
 * record (64 records, one batch, one write). */
static void
test_doorbells(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec out[64];
	void *objs[64];
	struct rte_ring *done;
	struct rc_bell cb;
	uint64_t count = 0;

	f->w = open_ok(&c);
	assert_int_equal(rc_bell_init(&cb), 0);
	done = completion_ring(f->w, 2, 128);
	assert_int_equal(rc_wal_set_completion_bell(f->w, 2, &cb), 0);
	assert_int_equal(rc_wal_set_completion_bell(f->w, RC_WAL_MAX_COMPLETIONS, &cb), -EINVAL);
	assert_int_equal(rc_wal_start(f->w), 0);
	assert_int_equal(rc_wal_set_completion_bell(f->w, 2, &cb), -EBUSY);
	for (unsigned t = 0; t < 5000 && !atomic_load(&rc_wal_bell(f->w)->sleeping); t++)
		usleep(1000);
	assert_true(atomic_load(&rc_wal_bell(f->w)->sleeping)); /* idle: blocked on its bell */
	assert_int_equal(rte_mempool_get_bulk(rc_wal_pool(f->w), objs, 64), 0);
	for (unsigned i = 0; i < 64; i++) {
		fx_msg(objs[i], 1, i + 1, "alice", "hello");
		((struct rc_wal_rec *)objs[i])->reply_to = 2;
	}
	rc_bell_arm(&cb); /* the consumer of ring 2 sleeps from now on */
	assert_int_equal(rte_ring_enqueue_bulk(rc_wal_ring(f->w), objs, 64, NULL), 64);
	rc_bell_ring(rc_wal_bell(f->w));
	assert_true(rc_bell_wait(&cb, 60u * 1000000u)); /* woken by the writer, not the timeout */
	assert_int_equal(take_completions(f->w, done, out, 64), 64);
	assert_int_equal(atomic_load(&cb.rings), 1);
	assert_int_equal(read(cb.fd, &count, sizeof(count)), -1); /* drained by the wait */
	rc_wal_stop(f->w); /* the stop wakes the idle writer */
	rc_bell_fini(&cb);
}

static void
test_duplicate(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec r[4], out[4], *rp[4] = { &r[0], &r[1], &r[2], &r[3] };
	struct rte_ring *done;
	struct got g;

	f->w = open_ok(&c);
	fx_msg(&r[0], 1, 1, "alice", "orig");
	assert_int_equal(rc_wal_commit_now(f->w, rp, 1), 0);
	done = completion_ring(f->w, 3, 64);
	assert_int_equal(rc_wal_start(f->w), 0);
	assert_int_equal(rc_wal_commit_now(f->w, rp, 1), -EBUSY);
	fx_msg(&r[0], 1, 1, "mallory", "dup");
	fx_msg(&r[1], 1, 2, "alice", "next");
	fx_room(&r[2], 5, 77, "alice", "five");
	fx_room(&r[3], 5, 78, "bob", "five again");
	for (unsigned i = 0; i < 4; i++) {
		r[i].reply_to = 3;
		enqueue_copy(f->w, &r[i]);
	}
	assert_int_equal(take_completions(f->w, done, out, 4), 4);
	rc_wal_stop(f->w);
	assert_int_equal(out[0].status, -EEXIST);
	assert_int_equal(out[1].status, 0);
	assert_int_equal(out[2].status, 0);
	assert_int_equal(out[3].status, -EEXIST);

	/* inside one transaction, and malformed records */
	fx_msg(&r[0], 1, 3, "alice", "x");
	fx_msg(&r[1], 1, 3, "alice", "y");
	fx_msg(&r[2], 1, 0, "alice", "seq zero");
	fx_msg(&r[3], 1, 4, "alice", "bad kind");
	r[3].kind = 9;
	assert_int_equal(rc_wal_commit_now(f->w, rp, 4), 0);
	assert_int_equal(r[0].status, 0);
	assert_int_equal(r[1].status, -EEXIST);
	assert_int_equal(r[2].status, -EINVAL);
	assert_int_equal(r[3].status, -EINVAL);

	got_init(&g, 16);
	assert_int_equal(rc_wal_read(f->w, 1, 0, UINT64_MAX, 100, got_cb, &g), 3);
	assert_string_equal(g.m[0].body, "orig");
	assert_string_equal(g.m[0].user, "alice");
	assert_string_equal(g.m[1].body, "next");
	assert_string_equal(g.m[2].body, "x");
	free(g.m);
	rte_ring_free(done);
}

/* ---- high-water mark and a full map ---- */

#define HW_ROOM 7

static void
hw_fill(struct rc_wal_rec *r, uint64_t seq)
{
	char body[201];

	memset(body, 'x', 200);
	body[200] = '\0';
	snprintf(body, 16, "b%llu", (unsigned long long)seq);
	body[strlen(body)] = '-';
	fx_msg(r, HW_ROOM, seq, "filler", body);
	r->reply_to = 0;
}

/* Through the writer, one record at a time from seq first on, until rc_wal_full(); returns
 * the last seq stored. */
static uint64_t
hw_fill_until_full(struct rc_wal *w, struct rte_ring *done, uint64_t first)
{
	uint64_t seq = first;

	for (; seq < first + 20000 && !rc_wal_full(w); seq++) {
		struct rc_wal_rec r, out;

		hw_fill(&r, seq);
		enqueue_copy(w, &r);
		assert_int_equal(take_completions(w, done, &out, 1), 1);
		assert_int_equal(out.status, 0);
	}
	return seq - 1;
}

/* Bursts of batch_max records through the writer until one burst stays incomplete: the
 * map is full and the writer retries. Then stop: it gives up on what is left with -ENOSPC.
 * Returns the records stored so far (they are 1..stored). */
static uint64_t
hw_fill_map(struct rc_wal *w, struct rte_ring *done, unsigned burst, uint64_t stored)
{
	struct rc_wal_rec r, out[64];
	struct rc_wal_stats st0, st1;
	unsigned got;

	assert_true(burst <= RTE_DIM(out));
	assert_int_equal(rc_wal_start(w), 0);
	for (;;) {
		assert_true(stored < 40000);
		for (unsigned i = 0; i < burst; i++) {
			hw_fill(&r, stored + 1 + i);
			enqueue_copy(w, &r);
		}
		rc_wal_get_stats(w, &st0);
		got = take_completions_for(w, done, out, burst, 300000);
		for (unsigned i = 0; i < got; i++) {
			assert_int_equal(out[i].seq, stored + 1);
			assert_int_equal(out[i].status, 0);
			stored++;
		}
		if (got < burst)
			break;
	}
	rc_wal_get_stats(w, &st1);
	assert_true(st1.commit_errors > st0.commit_errors);
	assert_true(st1.full);
	rc_wal_stop(w);
	assert_int_equal(take_completions(w, done, out, burst - got), burst - got);
	for (unsigned i = 0; i < burst - got; i++) {
		assert_int_equal(out[i].seq, stored + 1 + i);
		assert_int_equal(out[i].status, -ENOSPC);
	}
	return stored;
}

static void
test_high_water(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec extra, *extra_p = &extra;
	struct rc_wal_stats st;
	struct rte_ring *done;
	uint64_t stored;
	struct got g;

	c.map_size = 1u << 20;
	c.high_water_pct = 50;
	c.batch_max = 16;
	c.pool_size = 256;
	f->w = open_ok(&c);
	assert_false(rc_wal_full(f->w));
	done = completion_ring(f->w, 0, 512);
	assert_int_equal(rc_wal_start(f->w), 0);
	stored = hw_fill_until_full(f->w, done, 1);
	rc_wal_stop(f->w);
	assert_true(rc_wal_full(f->w));
	rc_wal_get_stats(f->w, &st);
	assert_true(st.full);
	assert_true(st.map_used * 100 > 50ull * st.map_size);
	print_message("high water after %llu records: %llu of %llu bytes\n",
		      (unsigned long long)stored, (unsigned long long)st.map_used,
		      (unsigned long long)st.map_size);

	stored = hw_fill_map(f->w, done, c.batch_max, stored);
	/* the writer halved its batches down to one record: not even one more fits */
	hw_fill(&extra, stored + 1);
	assert_int_equal(rc_wal_commit_now(f->w, &extra_p, 1), -ENOSPC);
	rc_wal_get_stats(f->w, &st);
	assert_int_equal(st.messages, stored);
	assert_int_equal(st.lost_completions, 0);
	rc_wal_close(f->w);
	f->w = NULL;

	f->w = open_ok(&c);
	assert_true(rc_wal_full(f->w));
	got_init(&g, 40000);
	assert_int_equal(rc_wal_read(f->w, HW_ROOM, 0, UINT64_MAX, 40000, got_cb, &g),
			 (int)stored);
	for (unsigned i = 0; i < g.n; i++) {
		char want[16];

		snprintf(want, sizeof(want), "b%u-", i + 1);
		assert_int_equal(g.m[i].seq, i + 1);
		assert_memory_equal(g.m[i].body, want, strlen(want));
		assert_int_equal(strlen(g.m[i].body), 200);
	}
	free(g.m);
	rte_ring_free(done);
}

/* ---- load_rooms and reads ---- */

static void
test_load_rooms(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rooms_got rg = { 0 };
	struct rc_wal_rec r, *rp = &r;
	static const struct {
		uint32_t id;
		uint64_t last;
	} want[] = { { 0, 0 }, { 1, 3 }, { 2, 0 },
		     { 3, 10 }, { 5, 7 }, { UINT32_MAX, UINT64_MAX } };

	f->w = open_ok(&c);
	for (unsigned i = 0; i < RTE_DIM(want); i++)
		commit_room(f->w, want[i].id, 10 + i, "owner", "room");
	commit_range(f->w, 1, 1, 3);
	commit_range(f->w, 3, 1, 10);
	commit_range(f->w, 4, 1, 50); /* messages of a room without a room record */
	commit_range(f->w, 5, 7, 7);
	commit_range(f->w, UINT32_MAX, 1, 2);
	fx_msg(&r, UINT32_MAX, UINT64_MAX, "alice", "last");
	assert_int_equal(rc_wal_commit_now(f->w, &rp, 1), 0);

	assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
	assert_int_equal(rg.n, RTE_DIM(want));
	for (unsigned i = 0; i < RTE_DIM(want); i++) {
		assert_int_equal(rg.r[i].room_id, want[i].id);
		assert_int_equal(rg.r[i].last_seq, want[i].last);
		assert_int_equal(rg.r[i].created_ms, 10 + i);
		assert_string_equal(rg.r[i].creator, "owner");
	}
	rg = (struct rooms_got){ .stop_at = 2 };
	assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 42);
	assert_int_equal(rg.n, 2);
}

/* Commits a state change of room_id (flags); returns the record's status. */
static int
commit_room_state(struct rc_wal *w, uint32_t room_id, uint8_t flags)
{
	struct rc_wal_rec r, *rp = &r;

	memset(&r, 0, sizeof(r));
	r.kind = RC_WAL_ROOM_SET;
	r.room_id = room_id;
	r.cmid = flags;
	assert_int_equal(rc_wal_commit_now(w, &rp, 1), 0);
	return r.status;
}

/* A room archived: its record rewritten with the flag and logged as a room record (what
 * the drainer and the HA stream read), kept across a reopen, its messages untouched; an
 * unknown room or flag refused; unarchived again. */
static void
test_room_archived(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rooms_got rg = { 0 };
	struct log_got g;
	static const uint64_t both[] = { 1, 2 };
	char name[RC_MAX_ROOM + 1];

	f->w = open_ok(&c);
	commit_room(f->w, 1, 10, "carol", "ops"); /* LSN 1 */
	commit_range(f->w, 1, 1, 2);              /* LSN 2, 3 */
	assert_int_equal(commit_room_state(f->w, 1, RC_WAL_ROOM_ARCHIVED), 0); /* LSN 4 */
	assert_int_equal(commit_room_state(f->w, 9, RC_WAL_ROOM_ARCHIVED), -ENOENT);
	assert_int_equal(commit_room_state(f->w, 1, 0x80), -EINVAL);
	assert_int_equal(rc_wal_last_lsn(f->w), 4);

	log_read_ok(f->w, 4, 10, 1, &g);
	assert_int_equal(g.r[0].kind, RC_WAL_ROOM);
	assert_int_equal(g.r[0].room_id, 1);
	assert_int_equal(g.r[0].cmid, RC_WAL_ROOM_ARCHIVED);
	assert_int_equal(g.r[0].ts_ms, 10);
	assert_string_equal(g.r[0].user, "carol");
	assert_string_equal(g.r[0].body, "ops");
	free(g.r);

	reopen(f, &c);
	assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
	assert_int_equal(rg.n, 1);
	assert_int_equal(rg.r[0].flags, RC_WAL_ROOM_ARCHIVED);
	assert_int_equal(rg.r[0].last_seq, 2);
	assert_int_equal(rg.r[0].created_ms, 10);
	assert_string_equal(rg.r[0].name, "ops");
	assert_string_equal(rg.r[0].creator, "carol");
	check_read(f->w, 1, 1, 10, 10, both, 2);
	assert_int_equal(rc_wal_room_name(f->w, 1, name, sizeof(name)), 0);
	assert_string_equal(name, "ops");

	assert_int_equal(commit_room_state(f->w, 1, 0), 0);
	reopen(f, &c);
	rg = (struct rooms_got){ 0 };
	assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
	assert_int_equal(rg.r[0].flags, 0);
	log_read_ok(f->w, 1, 10, 5, &g);
	assert_int_equal(g.r[0].cmid, 0); /* every room entry reads the room as it is now */
	assert_int_equal(g.r[4].cmid, 0);
	free(g.r);
}

static void
test_read_ranges(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	static const uint64_t s5_10[] = { 5, 6, 7, 8, 9, 10 }, s5_7[] = { 5, 6, 7 },
			      gap[] = { 6, 7, 100 };
	uint64_t all[20];
	struct got g;

	f->w = open_ok(&c);
	commit_range(f->w, 1, 1, 5);
	commit_range(f->w, 2, 1, 20);
	commit_range(f->w, 3, 1, 3);
	commit_range(f->w, 9, 5, 7);
	commit_range(f->w, 9, 100, 100);
	for (unsigned i = 0; i < 20; i++)
		all[i] = i + 1;

	check_read(f->w, 2, 5, 10, 100, s5_10, 6);
	check_read(f->w, 2, 5, UINT64_MAX, 3, s5_7, 3);
	check_read(f->w, 2, 0, UINT64_MAX, 1000, all, 20);
	check_read(f->w, 2, 21, UINT64_MAX, 10, NULL, 0);
	check_read(f->w, 2, 10, 5, 10, NULL, 0);
	check_read(f->w, 2, 1, UINT64_MAX, 0, NULL, 0);
	check_read(f->w, 4, 0, UINT64_MAX, 10, NULL, 0);
	check_read(f->w, 9, 6, UINT64_MAX, 10, gap, 3);

	check_last(f->w, 2, UINT64_MAX, 5, 16, 5);
	check_last(f->w, 2, UINT64_MAX, 100, 1, 20);
	check_last(f->w, 2, UINT64_MAX, 0, 0, 0);
	check_last(f->w, 2, 10, 3, 8, 3);
	check_last(f->w, 2, 0, 5, 0, 0);
	check_last(f->w, 3, UINT64_MAX, 10, 1, 3);
	check_last(f->w, 4, UINT64_MAX, 3, 0, 0);
	check_last(f->w, 8, UINT64_MAX, 3, 0, 0);
	check_last(f->w, 10, UINT64_MAX, 3, 0, 0);
	check_last(f->w, 9, 50, 2, 6, 2);
	check_last(f->w, 9, 6, 100, 5, 2);

	got_init(&g, 16);
	assert_int_equal(rc_wal_read_last(f->w, 9, 2, got_cb, &g), 2);
	assert_int_equal(g.m[0].seq, 7);
	assert_int_equal(g.m[1].seq, 100);
	g.n = 0;
	g.stop_after = 2;
	assert_int_equal(rc_wal_read(f->w, 2, 1, UINT64_MAX, 10, got_cb, &g), 2);
	free(g.m);
}

/* ---- open errors and schema versions ---- */

static void
set_schema_version(const char *dir, uint32_t version)
{
	uint8_t v[4] = { version >> 24, version >> 16, version >> 8, version };
	MDB_val key = { strlen("schema_version"), "schema_version" }, val = { 4, v };
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_schema_newer_refused(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	char err[256] = "";

	f->w = open_ok(&c);
	rc_wal_close(f->w);
	f->w = NULL;
	set_schema_version(f->dir, RC_WAL_SCHEMA_VERSION + 1);
	errno = 0;
	assert_null(rc_wal_open(&c, err, sizeof(err)));
	assert_int_equal(errno, ENOTSUP);
	assert_non_null(strstr(err, "schema version 4 is newer"));
	set_schema_version(f->dir, RC_WAL_SCHEMA_VERSION);
	f->w = open_ok(&c);
}

/* Version 2 -> 3 keeps everything: the log, its LSNs, the drained marker (no rebuild). */
static void
test_schema_2_kept(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);

	f->w = open_ok(&c);
	commit_room(f->w, 1, 10, "carol", "ops");
	commit_range(f->w, 1, 1, 4);
	rc_wal_set_drained(f->w, 3);
	settle(f->w);
	rc_wal_close(f->w);
	f->w = NULL;
	set_schema_version(f->dir, 2);
	f->w = open_ok(&c);
	assert_int_equal(rc_wal_last_lsn(f->w), 5);
	assert_int_equal(rc_wal_drained_lsn(f->w), 3);
	rc_wal_close(f->w);
	f->w = NULL;
	set_schema_version(f->dir, RC_WAL_SCHEMA_VERSION + 1); /* 3 was written */
	assert_null(rc_wal_open(&c, NULL, 0));
	assert_int_equal(errno, ENOTSUP);
}

static void
test_open_errors(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	char path[256], err[256] = "";
	FILE *fp;

	c.high_water_pct = 0;
	assert_null(rc_wal_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "high-water"));

	snprintf(path, sizeof(path), "%s/file", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/file/wal", f->dir);
	c = fx_conf(path);
	assert_null(rc_wal_open(&c, err, sizeof(err)));
	assert_int_equal(errno, ENOTDIR);
	assert_non_null(strstr(err, "mkdir"));

	snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
	c = fx_conf(path);
	f->w = open_ok(&c);
	assert_int_equal(rc_wal_set_completion(f->w, RC_WAL_MAX_COMPLETIONS, NULL), -EINVAL);

	/* one owner per directory */
	assert_null(rc_wal_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EBUSY);
	assert_non_null(strstr(err, "in use"));
	rc_wal_close(f->w);
	f->w = open_ok(&c);
}

/* ---- the commit log ---- */

static void
test_log_content(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec r[3], *rp[3] = { &r[0], &r[1], &r[2] };
	struct log_got g;
	char name[8];

	f->w = open_ok(&c);
	assert_int_equal(rc_wal_last_lsn(f->w), 0);
	log_read_ok(f->w, 0, 10, 0, &g);
	free(g.r);
	commit_room(f->w, 7, 5000, "carol", "ops"); /* LSN 1 */
	commit_range(f->w, 7, 1, 3);                 /* LSN 2..4 */
	/* a duplicate and a malformed record get no LSN */
	fx_msg(&r[0], 7, 2, "mallory", "dup");
	fx_msg(&r[1], 7, 0, "mallory", "seq zero");
	fx_msg(&r[2], 7, 4, "dave", "four");
	assert_int_equal(rc_wal_commit_now(f->w, rp, 3), 0);
	assert_int_equal(r[0].status, -EEXIST);
	assert_int_equal(r[1].status, -EINVAL);
	assert_int_equal(r[2].status, 0);
	assert_int_equal(rc_wal_last_lsn(f->w), 5);

	log_read_ok(f->w, 0, 100, 5, &g);
	assert_int_equal(g.r[0].lsn, 1);
	assert_int_equal(g.r[0].kind, RC_WAL_ROOM);
	assert_int_equal(g.r[0].room_id, 7);
	assert_int_equal(g.r[0].seq, 0);
	assert_int_equal(g.r[0].ts_ms, 5000);
	assert_string_equal(g.r[0].user, "carol");
	assert_string_equal(g.r[0].body, "ops");
	assert_int_equal(g.r[0].value_len, 10 + 5 + 3);
	for (unsigned i = 1; i <= 3; i++) {
		char body[16];

		snprintf(body, sizeof(body), "r7s%u", i);
		assert_int_equal(g.r[i].lsn, i + 1);
		assert_int_equal(g.r[i].kind, RC_WAL_MSG);
		assert_int_equal(g.r[i].room_id, 7);
		assert_int_equal(g.r[i].seq, i);
		assert_int_equal(g.r[i].ts_ms, 1700000000000ull + i);
		assert_int_equal(g.r[i].cmid, 1000 + i);
		assert_string_equal(g.r[i].user, "alice");
		assert_string_equal(g.r[i].body, body);
		assert_int_equal(g.r[i].value_len, range_len(7, i));
	}
	assert_int_equal(g.r[4].lsn, 5);
	assert_int_equal(g.r[4].seq, 4);
	assert_string_equal(g.r[4].user, "dave");
	assert_string_equal(g.r[4].body, "four");
	assert_int_equal(g.r[4].value_len, fx_value_len(&r[2]));
	free(g.r);

	/* limits: from, max, past the end, a callback that stops */
	log_read_ok(f->w, 3, 2, 2, &g);
	assert_int_equal(g.r[0].lsn, 3);
	assert_int_equal(g.r[1].lsn, 4);
	free(g.r);
	check_log_lsns(f->w, 3, (const uint64_t[]){ 3, 4, 5 }, 3);
	check_log_lsns(f->w, 6, NULL, 0);
	check_log_lsns(f->w, UINT64_MAX, NULL, 0);
	assert_int_equal(rc_wal_log_read(f->w, 0, 0, log_cb, &g), 0);
	g = (struct log_got){ .cap = 8, .stop_after = 2, .r = calloc(8, sizeof(*g.r)) };
	assert_int_equal(rc_wal_log_read(f->w, 0, 100, log_cb, &g), 2);
	free(g.r);

	/* room names */
	assert_int_equal(rc_wal_room_name(f->w, 7, name, sizeof(name)), 0);
	assert_string_equal(name, "ops");
	assert_int_equal(rc_wal_room_name(f->w, 7, name, 4), 0);
	assert_int_equal(rc_wal_room_name(f->w, 7, name, 3), -ERANGE);
	assert_int_equal(rc_wal_room_name(f->w, 8, name, sizeof(name)), -ENOENT);

	/* LSNs survive a restart and are never reused */
	reopen(f, &c);
	assert_int_equal(rc_wal_last_lsn(f->w), 5);
	commit_range(f->w, 7, 5, 5);
	assert_int_equal(rc_wal_last_lsn(f->w), 6);
	log_read_ok(f->w, 6, 10, 1, &g);
	assert_int_equal(g.r[0].seq, 5);
	free(g.r);
}

/* ---- the drained marker ---- */

static void
wait_backlog_bytes(struct rc_wal *w, uint64_t want)
{
	uint64_t deadline = fx_now_us() + 5000000u;
	struct rc_wal_stats st;

	do {
		st = stats(w);
		if (st.backlog_bytes == want)
			return;
		usleep(1000);
	} while (fx_now_us() < deadline);
	fail_msg("backlog_bytes %llu, want %llu", (unsigned long long)st.backlog_bytes,
		 (unsigned long long)want);
}

static void
test_drained_marker(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rte_ring *done;
	uint64_t bytes = 0;

	f->w = open_ok(&c);
	commit_range(f->w, 1, 1, 10); /* LSN 1..10 */
	assert_int_equal(rc_wal_drained_lsn(f->w), 0);
	rc_wal_set_drained(f->w, 4);
	assert_int_equal(rc_wal_drained_lsn(f->w), 4);
	rc_wal_set_drained(f->w, 2);
	assert_int_equal(rc_wal_drained_lsn(f->w), 4);
	/* beyond what is committed: clamped */
	rc_wal_set_drained(f->w, 1000);
	assert_int_equal(rc_wal_drained_lsn(f->w), 10);

	/* close persists a marker set since the last transaction */
	reopen(f, &c);
	assert_int_equal(rc_wal_drained_lsn(f->w), 10);
	assert_int_equal(rc_wal_last_lsn(f->w), 10);
	rc_wal_set_drained(f->w, 3);
	assert_int_equal(rc_wal_drained_lsn(f->w), 10);

	/* the clamped value never drains a later record */
	rc_wal_set_drained(f->w, 1000);
	commit_range(f->w, 1, 11, 15);
	assert_int_equal(rc_wal_last_lsn(f->w), 15);
	assert_int_equal(rc_wal_drained_lsn(f->w), 10);
	assert_int_equal(stats(f->w).backlog_records, 5);

	/* the idle writer persists it by itself: the backlog bytes follow the persisted one */
	for (uint64_t s = 11; s <= 15; s++)
		bytes += range_len(1, s);
	assert_int_equal(stats(f->w).backlog_bytes, bytes);
	done = completion_ring(f->w, 0, 64);
	assert_int_equal(rc_wal_start(f->w), 0);
	rc_wal_set_drained(f->w, 12);
	wait_backlog_bytes(f->w, range_len(1, 13) + range_len(1, 14) + range_len(1, 15));
	rc_wal_stop(f->w);
	reopen(f, &c);
	assert_int_equal(rc_wal_drained_lsn(f->w), 12);
	assert_int_equal(stats(f->w).backlog_records, 3);
	rte_ring_free(done);
}

/* ---- trimming ---- */

static void
check_rooms_last(struct rc_wal *w, const uint32_t *ids, const uint64_t *last, unsigned n)
{
	struct rooms_got rg = { 0 };

	assert_int_equal(rc_wal_load_rooms(w, rooms_cb, &rg), 0);
	assert_int_equal(rg.n, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(rg.r[i].room_id, ids[i]);
		assert_int_equal(rg.r[i].last_seq, last[i]);
	}
}

static void
test_trim(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	static const uint64_t r1_15_20[] = { 15, 16, 17, 18, 19, 20 };
	static const uint32_t ids[] = { 1, 2 };
	static const uint64_t lasts[] = { 20, 13 };
	struct rc_wal_stats st;

	c.keep_records = 5;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 100, "alice", "one"); /* LSN 1 */
	commit_range(f->w, 1, 1, 20);               /* LSN 2..21 */
	commit_room(f->w, 2, 200, "bob", "two");   /* LSN 22 */
	commit_range(f->w, 2, 1, 3);                /* LSN 23..25 */
	settle(f->w);
	assert_int_equal(stats(f->w).trimmed, 0); /* nothing drained yet */

	/* drained up to 15, window 21..25: LSN <= 15 goes, room 1 stays in "rooms" */
	rc_wal_set_drained(f->w, 15);
	settle(f->w);
	st = stats(f->w);
	assert_int_equal(st.trimmed, 14);
	assert_int_equal(st.messages, 9);
	assert_int_equal(st.rooms, 2);
	check_read(f->w, 1, 0, UINT64_MAX, 100, r1_15_20, 6);
	check_log_lsns(f->w, 0, (const uint64_t[]){ 16, 17, 18, 19, 20, 21, 22, 23, 24, 25 }, 10);

	/* all drained: the keep window (21..25) stays; room 2's log entry goes */
	rc_wal_set_drained(f->w, 25);
	settle(f->w);
	st = stats(f->w);
	assert_int_equal(st.trimmed, 19);
	assert_int_equal(st.messages, 4);
	check_read(f->w, 1, 0, UINT64_MAX, 100, (const uint64_t[]){ 20 }, 1);
	check_log_lsns(f->w, 0, (const uint64_t[]){ 21, 23, 24, 25 }, 4);

	/* new records push the window: the batches' own transactions trim as they go, and
	 * never an undrained record (LSN 26..35) */
	commit_range(f->w, 2, 4, 13); /* LSN 26..35 */
	st = stats(f->w);
	assert_int_equal(st.trimmed, 23);
	assert_int_equal(st.messages, 10);
	assert_int_equal(st.backlog_records, 10);
	rc_wal_set_drained(f->w, 35);
	settle(f->w);
	st = stats(f->w);
	assert_int_equal(st.trimmed, 28);
	assert_int_equal(st.messages, 5);
	check_log_lsns(f->w, 0, (const uint64_t[]){ 31, 32, 33, 34, 35 }, 5);
	check_read(f->w, 1, 0, UINT64_MAX, 100, NULL, 0);
	check_last(f->w, 2, UINT64_MAX, 100, 9, 5);
	check_rooms_last(f->w, ids, lasts, 2);

	/* and after a restart */
	reopen(f, &c);
	check_rooms_last(f->w, ids, lasts, 2);
	assert_int_equal(rc_wal_last_lsn(f->w), 35);
	assert_int_equal(rc_wal_drained_lsn(f->w), 35);
	check_log_lsns(f->w, 0, (const uint64_t[]){ 31, 32, 33, 34, 35 }, 5);
	commit_room(f->w, 3, 300, "carol", "three");
	assert_int_equal(rc_wal_last_lsn(f->w), 36);
	assert_int_equal(rc_wal_room_name(f->w, 1, (char[8]){ 0 }, 8), 0);
}

/* strict_seq (the node's rule): a message is stored only right after its room's last stored
 * seq: a gap is refused with -ESPIPE (counted), in the same batch as in a later one, also
 * after its predecessor was trimmed (the room's last seq in "seqs" then answers). */
static void
test_strict_seq(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec r[4], *rp[4];

	c.strict_seq = true;
	c.keep_records = 2;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 100, "alice", "one");
	commit_range(f->w, 1, 1, 3);
	/* one batch: 4 stored, 6 refused (5 missing), 5 stored; room 2 cannot start at 2 */
	fx_msg(&r[0], 1, 4, "alice", "four");
	fx_msg(&r[1], 1, 6, "alice", "six");
	fx_msg(&r[2], 1, 5, "alice", "five");
	fx_msg(&r[3], 2, 2, "bob", "room 2 starts at 2");
	for (unsigned i = 0; i < 4; i++)
		rp[i] = &r[i];
	assert_int_equal(rc_wal_commit_now(f->w, rp, 4), 0);
	assert_int_equal(r[0].status, 0);
	assert_int_equal(r[1].status, -ESPIPE);
	assert_int_equal(r[2].status, 0);
	assert_int_equal(r[3].status, -ESPIPE);
	assert_int_equal(stats(f->w).seq_gaps_refused, 2);
	check_last(f->w, 1, UINT64_MAX, 1, 5, 1);
	/* everything drained and trimmed but the newest 2 (room 3's): room 1 holds no message
	 * now, and 6 still follows 5 (its last seq in "seqs") */
	commit_room(f->w, 3, 300, "carol", "three");
	commit_range(f->w, 3, 1, 3);
	rc_wal_set_drained(f->w, rc_wal_last_lsn(f->w));
	settle(f->w);
	check_read(f->w, 1, 0, UINT64_MAX, 100, NULL, 0);
	commit_range(f->w, 1, 6, 7);
	fx_msg(&r[0], 1, 9, "alice", "nine");
	assert_int_equal(rc_wal_commit_now(f->w, rp, 1), 0);
	assert_int_equal(r[0].status, -ESPIPE);
	/* a seq the room is past already, its message trimmed: -EEXIST, not a gap */
	fx_msg(&r[0], 1, 3, "alice", "three again");
	assert_int_equal(rc_wal_commit_now(f->w, rp, 1), 0);
	assert_int_equal(r[0].status, -EEXIST);
	fx_msg(&r[0], 1, 1, "alice", "one again");
	assert_int_equal(rc_wal_commit_now(f->w, rp, 1), 0);
	assert_int_equal(r[0].status, -EEXIST);
	/* off (the default for tools that store arbitrary seqs): gaps are stored */
	reopen(f, &(struct rc_wal_conf){ .dir = c.dir, .map_size = c.map_size,
					 .high_water_pct = c.high_water_pct,
					 .batch_max = c.batch_max, .ring_size = c.ring_size,
					 .pool_size = c.pool_size, .nosync = c.nosync,
					 .socket_id = c.socket_id });
	commit_range(f->w, 1, 9, 9);
}

/* keep_per_room: the (cmid, user) of each room's last keep_per_room messages stay in
 * "dkeys" (the re-sent POST windows are rebuilt from them) while the messages themselves are
 * trimmed as before; a truncation takes the keys of what it removes; a restart keeps them;
 * a buffer written without keys gets them filled at open. */
struct dkeys_got {
	uint64_t seq[64], cmid[64];
	char user[64][RC_MAX_USER + 1];
	unsigned n;
};

static int
dkeys_cb(void *arg, uint64_t seq, uint64_t cmid, const char *user, unsigned len)
{
	struct dkeys_got *g = arg;

	if (g->n < 64) {
		g->seq[g->n] = seq;
		g->cmid[g->n] = cmid;
		snprintf(g->user[g->n], sizeof(g->user[0]), "%.*s", (int)len, user);
		g->n++;
	}
	return 0;
}

static void
check_dkeys(struct rc_wal *w, uint32_t room_id, uint64_t first, unsigned n)
{
	struct dkeys_got g = { .n = 0 };

	assert_int_equal(rc_wal_read_dkeys(w, room_id, dkeys_cb, &g), (int)n);
	assert_int_equal(g.n, n);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(g.seq[i], first + i);
		assert_int_equal(g.cmid[i], 1000 + first + i);
		assert_string_equal(g.user[i], "alice");
	}
}

static void
test_dkeys(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);

	c.keep_records = 5;
	c.keep_per_room = 4;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 100, "alice", "quiet");
	commit_range(f->w, 1, 1, 6); /* LSN 2..7 */
	commit_room(f->w, 2, 200, "bob", "busy");
	commit_range(f->w, 2, 1, 30); /* LSN 9..38 */
	rc_wal_set_drained(f->w, rc_wal_last_lsn(f->w));
	settle(f->w);
	/* the messages: the newest 5 only (keep_records); the keys: each room's last 4 */
	check_read(f->w, 1, 0, UINT64_MAX, 100, NULL, 0);
	check_read(f->w, 2, 0, UINT64_MAX, 100, (const uint64_t[]){ 26, 27, 28, 29, 30 }, 5);
	check_dkeys(f->w, 1, 3, 4);
	check_dkeys(f->w, 2, 27, 4);
	assert_int_equal(stats(f->w).dedup_keys, 8);
	/* after a restart */
	reopen(f, &c);
	check_dkeys(f->w, 1, 3, 4);
	/* a truncation takes the keys of the messages it removes */
	commit_range(f->w, 1, 7, 8); /* LSN 39..40 */
	check_dkeys(f->w, 1, 5, 4);
	assert_int_equal(rc_wal_truncate_above(f->w, 39), 0);
	check_dkeys(f->w, 1, 5, 3);
	rc_wal_close(f->w);
	f->w = NULL;

	/* a buffer written without keys (keep_per_room 0) gets them at the next open */
	{
		struct rc_wal_conf c0 = c;
		char dir2[600];

		snprintf(dir2, sizeof(dir2), "%s/nokeys", f->dir);
		c0.dir = dir2;
		c0.keep_per_room = 0;
		c0.keep_records = 0;
		f->w = open_ok(&c0);
		commit_room(f->w, 3, 300, "carol", "old");
		commit_range(f->w, 3, 1, 10);
		check_dkeys(f->w, 3, 1, 0);
		rc_wal_close(f->w);
		c0.keep_per_room = 4;
		f->w = open_ok(&c0);
		check_dkeys(f->w, 3, 7, 4);
	}
}

/* HA (peer_keep_records): while this node writes the log, drained records the peer has not
 * acknowledged are not trimmed (the stream sends them once it is back: the peer's copy then
 * holds every record, and a takeover rebuilds the rooms' windows from it), up to
 * peer_keep_records newer ones; a replica's own copy (no writer start) trims as before. */
static void
test_trim_peer_hold(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_stats st;

	c.keep_records = 2;
	c.peer_keep_records = 20;
	f->w = open_ok(&c);
	assert_int_equal(rc_wal_become_writer(f->w), 0);
	commit_room(f->w, 1, 100, "alice", "one"); /* LSN 1 */
	commit_range(f->w, 1, 1, 9);                /* LSN 2..10 */
	rc_wal_set_drained(f->w, 10);
	settle(f->w);
	/* all drained, none acknowledged by the peer: the whole log stays, the room's too */
	check_log_lsns(f->w, 1, NULL, 10);
	assert_int_equal(stats(f->w).trimmed, 0);
	/* the peer has 1..6: up to 6 goes */
	rc_wal_peer_acked(f->w, 6);
	settle(f->w);
	check_log_lsns(f->w, 7, NULL, 4);
	assert_int_equal(stats(f->w).trimmed, 5);
	assert_int_equal(stats(f->w).peer_trimmed, 0);
	/* the peer stays away: 30 more records; beyond 20 unacknowledged ones the oldest go,
	 * counted */
	commit_range(f->w, 1, 10, 39); /* LSN 11..40 */
	rc_wal_set_drained(f->w, 40);
	settle(f->w);
	st = stats(f->w);
	check_log_lsns(f->w, 21, NULL, 20);
	assert_int_equal(st.peer_trimmed, 14); /* LSN 7..20 */
	/* a replica's copy (the writer start cleared by a truncation) is not held */
	assert_int_equal(rc_wal_truncate_above(f->w, 40), 0);
	assert_int_equal(rc_wal_writer_start(f->w), 0);
	settle(f->w);
	check_log_lsns(f->w, 39, NULL, 2);
}

static void
test_trim_disabled(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_stats st;

	c.keep_records = 0;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 100, "alice", "one");
	commit_range(f->w, 1, 1, 50);
	rc_wal_set_drained(f->w, 51);
	settle(f->w);
	st = stats(f->w);
	assert_int_equal(st.trimmed, 0);
	assert_int_equal(st.messages, 50);
	assert_int_equal(st.backlog_records, 0);
	assert_int_equal(st.backlog_bytes, 0);
	check_log_lsns(f->w, 1, NULL, 51);
}

/* ---- the backlog ---- */

static void
check_backlog(struct rc_wal *w, uint64_t last, uint64_t drained, uint64_t bytes,
	      uint64_t oldest)
{
	struct rc_wal_stats st = stats(w);

	assert_int_equal(st.last_lsn, last);
	assert_int_equal(st.drained_lsn, drained);
	assert_int_equal(st.backlog_records, last - drained);
	assert_int_equal(st.backlog_bytes, bytes);
	assert_int_equal(st.oldest_undrained_ms, oldest);
}

static void
test_backlog(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	uint64_t all = 10 + 4 + 4, rest;

	f->w = open_ok(&c);
	check_backlog(f->w, 0, 0, 0, 0);
	commit_room(f->w, 3, 777, "erin", "news"); /* LSN 1 */
	commit_range(f->w, 3, 1, 4);                /* LSN 2..5 */
	for (uint64_t s = 1; s <= 4; s++)
		all += range_len(3, s);
	check_backlog(f->w, 5, 0, all, 777);

	/* the marker counts at once; the bytes once it is persisted */
	rc_wal_set_drained(f->w, 2);
	assert_int_equal(stats(f->w).backlog_records, 3);
	settle(f->w);
	rest = all - 18 - range_len(3, 1);
	check_backlog(f->w, 5, 2, rest, 1700000000002ull);
	reopen(f, &c);
	check_backlog(f->w, 5, 2, rest, 1700000000002ull);

	rc_wal_set_drained(f->w, 5);
	settle(f->w);
	check_backlog(f->w, 5, 5, 0, 0);
	reopen(f, &c);
	check_backlog(f->w, 5, 5, 0, 0);
	commit_range(f->w, 3, 5, 5);
	check_backlog(f->w, 6, 5, range_len(3, 5), 1700000000005ull);
}

/* ---- a full map freed by a drain ---- */

static void
wait_trimmed(struct rc_wal *w, uint64_t want)
{
	uint64_t deadline = fx_now_us() + 5000000u;

	while (stats(w).trimmed < want && fx_now_us() < deadline)
		usleep(1000);
	assert_int_equal(stats(w).trimmed, want);
}

static void
wait_not_full(struct rc_wal *w)
{
	uint64_t deadline = fx_now_us() + 5000000u;

	while (rc_wal_full(w) && fx_now_us() < deadline)
		usleep(1000);
	assert_false(rc_wal_full(w));
}

/* The high-water mark reached through the writer; a drain lets it trim and POSTs go in
 * again. Nothing undrained is lost. */
static void
test_full_then_drain(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_stats st0, st1;
	struct rte_ring *done;
	uint64_t last, more;
	struct got g;

	c.map_size = 1u << 20;
	c.high_water_pct = 50;
	c.batch_max = 16;
	c.pool_size = 256;
	c.keep_records = 10;
	f->w = open_ok(&c);
	done = completion_ring(f->w, 0, 512);
	assert_int_equal(rc_wal_start(f->w), 0);
	last = hw_fill_until_full(f->w, done, 1);
	st0 = stats(f->w);
	assert_true(st0.full);
	assert_int_equal(st0.last_lsn, last);
	assert_int_equal(st0.backlog_records, last);

	rc_wal_set_drained(f->w, last - 50);
	wait_not_full(f->w);
	wait_trimmed(f->w, last - 50);
	wait_backlog_bytes(f->w, 50 * fx_value_len(&(struct rc_wal_rec){
					  .kind = RC_WAL_MSG, .user_len = 6, .body_len = 200 }));
	st1 = stats(f->w);
	print_message("full after %llu records (%llu bytes used); drained and trimmed: %llu "
		      "used, %llu free\n", (unsigned long long)last,
		      (unsigned long long)st0.map_used, (unsigned long long)st1.map_used,
		      (unsigned long long)st1.map_free);
	assert_int_equal(st1.trimmed, last - 50);
	assert_int_equal(st1.messages, 50);
	assert_int_equal(st1.backlog_records, 50);
	assert_true(st1.map_free > 0);
	assert_true(st1.map_used * 100 < 48ull * st1.map_size);
	got_init(&g, 100);
	assert_int_equal(rc_wal_read(f->w, HW_ROOM, 0, UINT64_MAX, 100, got_cb, &g), 50);
	for (unsigned i = 0; i < g.n; i++)
		assert_int_equal(g.m[i].seq, last - 49 + i);
	free(g.m);

	/* accepted again until the mark, reusing the freed pages */
	more = hw_fill_until_full(f->w, done, last + 1);
	assert_true(more - last > (last - 50) / 2);
	rc_wal_stop(f->w);
	assert_int_equal(stats(f->w).messages, 50 + more - last);
	rte_ring_free(done);
}

/* The map really full (MDB_MAP_FULL, the writer retrying a batch): a drain lets the writer
 * trim in its retry loop and the batch goes in; full clears. */
static void
test_map_full_recovers(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec r, out[16];
	struct rte_ring *done;
	uint64_t stored = 0;
	unsigned got;

	c.map_size = 1u << 20;
	c.high_water_pct = 100;
	c.batch_max = 16;
	c.pool_size = 256;
	c.keep_records = 10;
	f->w = open_ok(&c);
	done = completion_ring(f->w, 0, 512);
	assert_int_equal(rc_wal_start(f->w), 0);
	for (got = 16; got == 16; stored += got) {
		assert_true(stored < 40000);
		for (unsigned i = 0; i < 16; i++) {
			hw_fill(&r, stored + 1 + i);
			enqueue_copy(f->w, &r);
		}
		got = take_completions_for(f->w, done, out, 16, 300000);
		for (unsigned i = 0; i < got; i++)
			assert_int_equal(out[i].status, 0);
	}
	assert_true(rc_wal_full(f->w));
	assert_true(stats(f->w).commit_errors > 0);

	rc_wal_set_drained(f->w, rc_wal_last_lsn(f->w));
	assert_int_equal(take_completions(f->w, done, out, 16 - got), 16 - got);
	for (unsigned i = 0; i < 16 - got; i++) {
		assert_int_equal(out[i].seq, stored + 1 + i);
		assert_int_equal(out[i].status, 0);
	}
	stored += 16 - got;
	wait_not_full(f->w);
	rc_wal_stop(f->w);
	print_message("map full at %llu records; after the drain %llu trimmed\n",
		      (unsigned long long)stored, (unsigned long long)stats(f->w).trimmed);
	check_last(f->w, HW_ROOM, UINT64_MAX, 5, stored - 4, 5);
	rte_ring_free(done);
}

/* ---- draining while the writer writes ---- */

struct drainer_sim {
	struct rc_wal *w;
	uint64_t target;  /* stop once drained this far */
	uint64_t next;    /* the LSN expected next */
	unsigned bad;     /* records out of LSN order or of an unknown room */
	int error;        /* a failed log read */
	bool timed_out;
};

static int
drainer_sim_rec(void *arg, const struct rc_wal_logrec *r)
{
	struct drainer_sim *d = arg;

	if (r->lsn != d->next || r->kind != RC_WAL_MSG || r->room_id < GC_ROOM_BASE ||
	    r->room_id > GC_ROOM_BASE + 1)
		d->bad++;
	d->next = r->lsn + 1;
	return 0;
}

/* Reads the log from the drained marker on and moves the marker after every batch. */
static void *
drainer_sim_main(void *arg)
{
	struct drainer_sim *d = arg;
	uint64_t deadline = fx_now_us() + 60u * 1000000u;

	d->next = 1;
	while (rc_wal_drained_lsn(d->w) < d->target && !d->timed_out) {
		int n = rc_wal_log_read(d->w, rc_wal_drained_lsn(d->w) + 1, 300, drainer_sim_rec, d);

		if (n < 0) {
			d->error = n;
			return NULL;
		}
		if (n > 0)
			rc_wal_set_drained(d->w, d->next - 1);
		else
			usleep(200);
		d->timed_out = fx_now_us() > deadline;
	}
	return NULL;
}

static void
test_drain_while_writing(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct drainer_sim d = { .target = 2 * GC_PER_PRODUCER };
	struct rc_wal_stats st;
	struct log_got g;
	struct producer p[2];
	pthread_t th[3];

	c.batch_max = 128;
	c.pool_size = 1024;
	c.keep_records = 100;
	f->w = open_ok(&c);
	d.w = f->w;
	for (unsigned i = 0; i < 2; i++)
		p[i] = (struct producer){ .w = f->w, .idx = i,
					  .done = completion_ring(f->w, i, 2048) };
	assert_int_equal(rc_wal_start(f->w), 0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &p[i]), 0);
	assert_int_equal(pthread_create(&th[2], NULL, drainer_sim_main, &d), 0);
	for (unsigned i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	wait_trimmed(f->w, 2 * GC_PER_PRODUCER - 100);
	wait_backlog_bytes(f->w, 0);
	rc_wal_stop(f->w);

	assert_false(d.timed_out);
	assert_int_equal(d.error, 0);
	assert_int_equal(d.bad, 0);
	assert_int_equal(d.next, 2 * GC_PER_PRODUCER + 1);
	for (unsigned i = 0; i < 2; i++) {
		assert_false(p[i].timed_out);
		assert_int_equal(p[i].completed, GC_PER_PRODUCER);
		assert_int_equal(p[i].out_of_order + p[i].bad, 0);
		rte_ring_free(p[i].done);
	}
	st = stats(f->w);
	assert_int_equal(st.messages, 100);
	assert_int_equal(st.backlog_records, 0);
	assert_int_equal(st.oldest_undrained_ms, 0);
	assert_int_equal(st.commit_errors, 0);
	check_log_lsns(f->w, 2 * GC_PER_PRODUCER - 99, NULL, 100);
	log_read_ok(f->w, 0, 1, 1, &g); /* the window is all that is left */
	assert_int_equal(g.r[0].lsn, 2 * GC_PER_PRODUCER - 99);
	free(g.r);
}

/* ---- migration of a version-1 environment ---- */

static void
v1_put(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val key = { klen, (void *)k }, val = { vlen, (void *)v };

	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
}

static void
v1_rec(MDB_txn *txn, MDB_dbi rooms, MDB_dbi msgs, const struct rc_wal_rec *r)
{
	uint8_t k[RC_WAL_MSG_KEY_LEN], v[RC_WAL_VAL_MAX];

	if (r->kind == RC_WAL_ROOM)
		v1_put(txn, rooms, k, rc_wal_room_key(k, r->room_id), v, rc_wal_room_val(v, r, 0));
	else
		v1_put(txn, msgs, k, rc_wal_msg_key(k, r->room_id, r->seq), v,
		       rc_wal_msg_val(v, r));
}

/* A version-1 environment: rooms 1 and 2; messages 1..3 of room 1 and 5..6 of room 3 (no
 * room record). Returns the value bytes of all, in *bytes. */
static void
make_v1_env(const char *dir, uint64_t *bytes)
{
	static const uint8_t one[4] = { 0, 0, 0, 1 };
	struct rc_wal_rec recs[7];
	MDB_dbi meta, rooms, msgs;
	MDB_env *env;
	MDB_txn *txn;

	fx_room(&recs[0], 1, 1000, "alice", "lobby");
	fx_msg(&recs[1], 1, 1, "alice", "r1s1");
	fx_msg(&recs[2], 1, 2, "bob", "r1s2");
	fx_msg(&recs[3], 1, 3, "alice", "r1s3");
	fx_room(&recs[4], 2, 2000, "bob", "dev");
	fx_msg(&recs[5], 3, 5, "carol", "r3s5");
	fx_msg(&recs[6], 3, 6, "carol", "r3s6");
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
	assert_int_equal(mdb_dbi_open(txn, "rooms", MDB_CREATE, &rooms), 0);
	assert_int_equal(mdb_dbi_open(txn, "msgs", MDB_CREATE, &msgs), 0);
	v1_put(txn, meta, "schema_version", strlen("schema_version"), one, sizeof(one));
	*bytes = 0;
	for (unsigned i = 0; i < RTE_DIM(recs); i++) {
		v1_rec(txn, rooms, msgs, &recs[i]);
		*bytes += fx_value_len(&recs[i]);
	}
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static void
test_migrate_v1(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	static const struct {
		uint8_t kind;
		uint32_t room;
		uint64_t seq;
		const char *body;
	} want[] = { { RC_WAL_ROOM, 1, 0, "lobby" }, { RC_WAL_MSG, 1, 1, "r1s1" },
		     { RC_WAL_MSG, 1, 2, "r1s2" },   { RC_WAL_MSG, 1, 3, "r1s3" },
		     { RC_WAL_ROOM, 2, 0, "dev" },   { RC_WAL_MSG, 3, 5, "r3s5" },
		     { RC_WAL_MSG, 3, 6, "r3s6" } };
	static const uint32_t ids[] = { 1, 2 };
	static const uint64_t lasts[] = { 3, 0 };
	uint64_t bytes;
	struct log_got g;

	make_v1_env(f->dir, &bytes);
	f->w = open_ok(&c);
	check_backlog(f->w, 7, 0, bytes, 1000);
	log_read_ok(f->w, 0, 100, 7, &g);
	for (unsigned i = 0; i < RTE_DIM(want); i++) {
		assert_int_equal(g.r[i].lsn, i + 1);
		assert_int_equal(g.r[i].kind, want[i].kind);
		assert_int_equal(g.r[i].room_id, want[i].room);
		assert_int_equal(g.r[i].seq, want[i].seq);
		assert_string_equal(g.r[i].body, want[i].body);
	}
	assert_string_equal(g.r[2].user, "bob");
	free(g.r);
	check_rooms_last(f->w, ids, lasts, 2);
	commit_range(f->w, 3, 7, 7);
	assert_int_equal(rc_wal_last_lsn(f->w), 8);

	/* migrated once: a reopen keeps the log as it is */
	reopen(f, &c);
	check_backlog(f->w, 8, 0, bytes + range_len(3, 7), 1000);
	rc_wal_close(f->w);
	f->w = NULL;
	set_schema_version(f->dir, RC_WAL_SCHEMA_VERSION + 1); /* and the version written */
	assert_null(rc_wal_open(&c, NULL, 0));
	assert_int_equal(errno, ENOTSUP);
}

/* Commits message room_id / seq; returns its status. */
static int
commit_msg_status(struct rc_wal *w, uint32_t room_id, uint64_t seq)
{
	struct rc_wal_rec r, *rp = &r;

	fx_msg(&r, room_id, seq, "alice", "late");
	assert_int_equal(rc_wal_commit_now(w, &rp, 1), 0);
	return r.status;
}

/* Commits a room creation; returns its status. */
static int
commit_room_status(struct rc_wal *w, uint32_t room_id, uint64_t created, const char *name)
{
	struct rc_wal_rec r, *rp = &r;

	fx_room(&r, room_id, created, "dave", name);
	assert_int_equal(rc_wal_commit_now(w, &rp, 1), 0);
	return r.status;
}

/* A room deleted: a tombstone that keeps its record (name for the drainer, deleted_lsn the
 * LSN of the entry that set it) across a reopen; a message or a state change after it is
 * refused with -ENOENT and stores nothing; its messages and re-sent POST keys are no longer
 * served; only the tombstone's own log entry reads as deleted. */
static void
test_room_tombstone(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rooms_got rg = { 0 };
	struct log_got g;
	char name[RC_MAX_ROOM + 1];

	c.strict_seq = true;
	c.keep_per_room = 4;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 10, "carol", "ops"); /* LSN 1 */
	commit_range(f->w, 1, 1, 2);              /* LSN 2, 3 */
	commit_room(f->w, 2, 20, "carol", "dev"); /* LSN 4 */
	assert_int_equal(commit_room_state(f->w, 1, RC_WAL_ROOM_ARCHIVED), 0); /* LSN 5 */
	assert_int_equal(commit_room_state(f->w, 1, RC_WAL_ROOM_ARCHIVED | RC_WAL_ROOM_DELETED),
			 0); /* LSN 6 */
	assert_int_equal(rc_wal_last_lsn(f->w), 6);
	for (unsigned round = 0; round < 2; round++) {
		rg = (struct rooms_got){ 0 };
		assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
		assert_int_equal(rg.n, 2);
		assert_int_equal(rg.r[0].flags, RC_WAL_ROOM_ARCHIVED | RC_WAL_ROOM_DELETED);
		assert_int_equal(rg.r[0].deleted_lsn, 6);
		assert_int_equal(rg.r[0].last_seq, 2);
		assert_string_equal(rg.r[0].name, "ops");
		assert_int_equal(rg.r[1].flags, 0);
		assert_int_equal(rg.r[1].deleted_lsn, 0);
		reopen(f, &c);
	}
	/* refused: a message, a state change (no undelete), a creation (not trimmed) */
	assert_int_equal(commit_msg_status(f->w, 1, 3), -ENOENT);
	assert_int_equal(commit_room_state(f->w, 1, 0), -ENOENT);
	assert_int_equal(commit_room_state(f->w, 1, RC_WAL_ROOM_DELETED), -ENOENT);
	assert_int_equal(commit_room_status(f->w, 1, 30, "ops"), -EEXIST);
	{
		struct rc_wal_rec r, *rp = &r; /* a room is deleted by a state change only */

		fx_room(&r, 3, 30, "dave", "born-deleted");
		r.cmid = RC_WAL_ROOM_DELETED;
		assert_int_equal(rc_wal_commit_now(f->w, &rp, 1), 0);
		assert_int_equal(r.status, -EINVAL);
	}
	assert_int_equal(rc_wal_last_lsn(f->w), 6);
	assert_int_equal(stats(f->w).messages, 2);
	/* the other room is untouched */
	assert_int_equal(commit_msg_status(f->w, 2, 1), 0); /* LSN 7 */
	/* not served: messages and keys; the name stays for the log's readers */
	check_read(f->w, 1, 1, 10, 10, NULL, 0);
	check_last(f->w, 1, UINT64_MAX, 10, 1, 0);
	check_dkeys(f->w, 1, 1, 0);
	assert_int_equal(rc_wal_room_name(f->w, 1, name, sizeof(name)), 0);
	assert_string_equal(name, "ops");
	/* the log: only the tombstone's entry says deleted */
	log_read_ok(f->w, 1, 10, 7, &g);
	assert_int_equal(g.r[0].cmid, RC_WAL_ROOM_ARCHIVED);
	assert_int_equal(g.r[4].cmid, RC_WAL_ROOM_ARCHIVED);
	assert_int_equal(g.r[5].lsn, 6);
	assert_int_equal(g.r[5].seq, RC_WAL_STATE_MARK | RC_WAL_ROOM_ARCHIVED);
	assert_int_equal(g.r[5].cmid, RC_WAL_ROOM_ARCHIVED | RC_WAL_ROOM_DELETED);
	assert_string_equal(g.r[5].body, "ops");
	free(g.r);
	/* keep_records 0: nothing is ever trimmed, the id never comes back */
	assert_int_equal(rc_wal_trimmed_lsn(f->w), 0);
	rc_wal_set_drained(f->w, 7);
	settle(f->w);
	assert_int_equal(rc_wal_trimmed_lsn(f->w), 0);
	assert_int_equal(commit_room_status(f->w, 1, 30, "ops"), -EEXIST);
}

/* A message and the tombstone in one batch: the message before it is stored (and counted
 * in the room's last seq), the one after it refused. */
static void
test_room_tombstone_batch(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rc_wal_rec r[3], *rp[3] = { &r[0], &r[1], &r[2] };
	struct rooms_got rg = { 0 };

	c.strict_seq = true;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 10, "carol", "ops");
	commit_range(f->w, 1, 1, 2);
	fx_msg(&r[0], 1, 3, "alice", "r1s3");
	memset(&r[1], 0, offsetof(struct rc_wal_rec, ctx));
	r[1].kind = RC_WAL_ROOM_SET;
	r[1].room_id = 1;
	r[1].cmid = RC_WAL_ROOM_DELETED;
	fx_msg(&r[2], 1, 4, "alice", "r1s4");
	assert_int_equal(rc_wal_commit_now(f->w, rp, 3), 0);
	assert_int_equal(r[0].status, 0);
	assert_int_equal(r[1].status, 0);
	assert_int_equal(r[2].status, -ENOENT);
	assert_int_equal(rc_wal_last_lsn(f->w), 5);
	assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
	assert_int_equal(rg.r[0].last_seq, 3);
	assert_int_equal(rg.r[0].deleted_lsn, 5);
}

/* A room id comes back once the log is trimmed past its tombstone: before, its creation is
 * refused; after, the new room starts fresh (seq 1 again, none of the old keys or
 * messages), the log reads, and a reopen keeps it so. */
static void
test_room_reuse(void **state)
{
	struct fx *f = *state;
	struct rc_wal_conf c = fx_conf(f->dir);
	struct rooms_got rg = { 0 };
	struct log_got g;
	uint64_t last;

	c.strict_seq = true;
	c.keep_records = 3;
	c.keep_per_room = 4;
	f->w = open_ok(&c);
	commit_room(f->w, 1, 10, "carol", "ops"); /* LSN 1 */
	commit_range(f->w, 1, 1, 6);              /* LSN 2..7 */
	assert_int_equal(commit_room_state(f->w, 1, RC_WAL_ROOM_DELETED), 0); /* LSN 8 */
	check_dkeys(f->w, 1, 3, 0);
	assert_int_equal(commit_room_status(f->w, 1, 30, "ops2"), -EEXIST);
	rc_wal_set_drained(f->w, 8);
	settle(f->w);
	assert_int_equal(rc_wal_trimmed_lsn(f->w), 5); /* the newest 3 kept */
	assert_int_equal(commit_room_status(f->w, 1, 30, "ops2"), -EEXIST);
	commit_room(f->w, 2, 20, "carol", "dev"); /* LSN 9 */
	commit_range(f->w, 2, 1, 3);              /* LSN 10..12 */
	rc_wal_set_drained(f->w, 12);
	settle(f->w);
	assert_true(rc_wal_trimmed_lsn(f->w) >= 8);
	assert_int_equal(commit_room_status(f->w, 1, 30, "ops2"), 0); /* LSN 13 */
	assert_int_equal(commit_msg_status(f->w, 1, 2), -ESPIPE);
	assert_int_equal(commit_msg_status(f->w, 1, 1), 0); /* LSN 14 */
	{
		struct got gm;

		got_init(&gm, 8);
		assert_int_equal(rc_wal_read(f->w, 1, 1, 100, 100, got_cb, &gm), 1);
		assert_string_equal(gm.m[0].body, "late");
		free(gm.m);
	}
	for (unsigned round = 0; round < 2; round++) {
		struct dkeys_got dk = { .n = 0 };

		rg = (struct rooms_got){ 0 };
		assert_int_equal(rc_wal_load_rooms(f->w, rooms_cb, &rg), 0);
		assert_int_equal(rg.n, 2);
		assert_int_equal(rg.r[0].room_id, 1);
		assert_int_equal(rg.r[0].flags, 0);
		assert_int_equal(rg.r[0].deleted_lsn, 0);
		assert_int_equal(rg.r[0].last_seq, 1);
		assert_int_equal(rg.r[0].created_ms, 30);
		assert_string_equal(rg.r[0].name, "ops2");
		assert_int_equal(rc_wal_read_dkeys(f->w, 1, dkeys_cb, &dk), 1);
		assert_int_equal(dk.seq[0], 1);
		reopen(f, &c);
	}
	last = rc_wal_last_lsn(f->w);
	assert_int_equal(last, 14);
	g = (struct log_got){ .cap = 32 };
	g.r = calloc(g.cap, sizeof(*g.r));
	assert_non_null(g.r);
	assert_true(rc_wal_log_read(f->w, 0, 100, log_cb, &g) >= 2);
	assert_int_equal(g.r[g.n - 1].lsn, 14);
	assert_int_equal(g.r[g.n - 2].lsn, 13);
	assert_string_equal(g.r[g.n - 2].body, "ops2");
	assert_int_equal(g.r[g.n - 2].cmid, 0);
	free(g.r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbells, setup, teardown),
		cmocka_unit_test_setup_teardown(test_high_water, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_rooms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_2_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_archived, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_tombstone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_tombstone_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_newer_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drained_marker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict_seq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dkeys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_peer_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trim_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_then_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_full_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
	};
	int rc;

	if (fx_eal_init("wal_test") < 0) {
		fprintf(stderr, "wal_test: cannot initialise the EAL\n");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_eal_stop();
	return rc;
}
