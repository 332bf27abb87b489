/* SPDX-License-Identifier: MIT */
/*
 * The history thread: serves JOIN back-fill and FETCH from LMDB so that worker lcores never
 * open a transaction.
 *
 * Threads:
 *  - workers (any number) take a request from rc_history_pool(), fill it and enqueue it on
 *    rc_history_ring() (multi-producer); on failure they free it and count a drop.
 *  - the history thread ("rc-hist", a control thread off the worker cores) is the ring's
 *    only consumer. It serves requests one by one in ring order: an LMDB read transaction
 *    (rc_wal_read / rc_wal_read_last_to), ops->emit for every message, ops->end once, then
 *    it frees the request. The callbacks run on this thread; an emit that returns non-zero
 *    has not taken that message: the request ends there, and next_seq points at it.
 *    When the ring is empty it sleeps 100 us.
 *  - rc_history_stop() serves what is queued, then joins. Counters are written by the
 *    history thread only and read relaxed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "history.h"

#define HIST_BURST 16
#define HIST_IDLE_SLEEP_US 100
#define HIST_POOL_SLACK 64 /* requests being filled by workers or served */

struct rc_history {
	struct rc_wal *wal;
	struct rte_ring *ring;
	struct rte_mempool *pool;
	struct rc_history_ops ops;
	void *arg;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
	_Atomic uint64_t requests;
	_Atomic uint64_t messages;
	_Atomic uint64_t errors;
};

/* One request being served: what the emit wrapper needs and what it found. */
struct hist_walk {
	struct rc_history *h;
	const struct rc_hist_req *req;
	unsigned count;
	uint64_t last_seq;
};

static atomic_uint hist_instances;

static void
hist_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static int
hist_emit(void *arg, const struct rc_wal_msg *m)
{
	struct hist_walk *hw = arg;
	int rc = hw->h->ops.emit(hw->h->arg, hw->req, m);

	if (rc != 0)
		return rc;
	hw->count++;
	hw->last_seq = m->seq;
	return 0;
}

static int
hist_read(struct hist_walk *hw)
{
	const struct rc_hist_req *r = hw->req;

	switch (r->kind) {
	case RC_HIST_LATEST:
		return rc_wal_read_last_to(hw->h->wal, r->room_id, r->to_seq, r->max, hist_emit,
					   hw);
	case RC_HIST_RANGE:
		return rc_wal_read(hw->h->wal, r->room_id, r->from_seq, r->to_seq, r->max,
				   hist_emit, hw);
	default:
		return -EINVAL;
	}
}

static void
hist_serve(struct rc_history *h, const struct rc_hist_req *r)
{
	struct hist_walk hw = { .h = h, .req = r };
	int rc = hist_read(&hw);

	hist_count(&h->requests, 1);
	hist_count(&h->messages, hw.count);
	if (rc < 0)
		hist_count(&h->errors, 1);
	h->ops.end(h->arg, r, hw.count, hw.count > 0 ? hw.last_seq + 1 : r->from_seq,
		   rc < 0 ? rc : 0);
}

static void
hist_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)us * 1000 };

	nanosleep(&ts, NULL);
}

static void *
hist_main(void *arg)
{
	struct rc_history *h = arg;
	struct rc_hist_req *reqs[HIST_BURST];

	for (;;) {
		/* the flag first: requests enqueued before the stop are then seen below */
		bool stopping = atomic_load_explicit(&h->stopping, memory_order_acquire);
		unsigned n = rte_ring_dequeue_burst(h->ring, (void **)reqs, HIST_BURST, NULL);

		for (unsigned i = 0; i < n; i++) {
			hist_serve(h, reqs[i]);
			rte_mempool_put(h->pool, reqs[i]);
		}
		if (n == 0 && stopping)
			break;
		if (n == 0)
			hist_sleep_us(HIST_IDLE_SLEEP_US);
	}
	return NULL;
}

static int
hist_queues_create(struct rc_history *h, unsigned ring_size, int socket_id)
{
	unsigned id = atomic_fetch_add(&hist_instances, 1);
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "rc_hist_in%u", id);
	h->ring = rte_ring_create(name, ring_size, socket_id, RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (h->ring == NULL)
		return -rte_errno;
	snprintf(name, sizeof(name), "rc_hist_req%u", id);
	h->pool = rte_mempool_create(name, ring_size + HIST_POOL_SLACK,
				     sizeof(struct rc_hist_req), 0, 0, NULL, NULL, NULL, NULL,
				     socket_id, 0);
	if (h->pool == NULL)
		return -rte_errno;
	return 0;
}

struct rc_history *
rc_history_create(struct rc_wal *w, unsigned ring_size, int socket_id,
		  const struct rc_history_ops *ops, void *arg)
{
	struct rc_history *h;
	int rc;

	if (w == NULL || ring_size == 0 || ops == NULL || ops->emit == NULL ||
	    ops->end == NULL) {
		errno = EINVAL;
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return NULL;
	h->wal = w;
	h->ops = *ops;
	h->arg = arg;
	rc = hist_queues_create(h, ring_size, socket_id);
	if (rc != 0) {
		rc_history_destroy(h);
		errno = -rc;
		return NULL;
	}
	return h;
}

int
rc_history_start(struct rc_history *h)
{
	int rc;

	if (h->running)
		return -EALREADY;
	atomic_store(&h->stopping, false);
	rc = rte_ctrl_thread_create(&h->thread, "rc-hist", NULL, hist_main, h);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	h->running = true;
	return 0;
}

void
rc_history_stop(struct rc_history *h)
{
	if (h == NULL || !h->running)
		return;
	atomic_store_explicit(&h->stopping, true, memory_order_release);
	pthread_join(h->thread, NULL);
	h->running = false;
}

/* Stops the thread; requests still queued (enqueued after the stop) are freed unserved. */
void
rc_history_destroy(struct rc_history *h)
{
	void *req;

	if (h == NULL)
		return;
	rc_history_stop(h);
	while (h->ring != NULL && rte_ring_dequeue(h->ring, &req) == 0)
		rte_mempool_put(h->pool, req);
	rte_ring_free(h->ring);
	rte_mempool_free(h->pool);
	free(h);
}

struct rte_mempool *
rc_history_pool(struct rc_history *h)
{
	return h->pool;
}

struct rte_ring *
rc_history_ring(struct rc_history *h)
{
	return h->ring;
}

void
rc_history_get_stats(struct rc_history *h, struct rc_history_stats *st)
{
	*st = (struct rc_history_stats){
		.requests = atomic_load_explicit(&h->requests, memory_order_relaxed),
		.messages = atomic_load_explicit(&h->messages, memory_order_relaxed),
		.errors = atomic_load_explicit(&h->errors, memory_order_relaxed),
	};
}
