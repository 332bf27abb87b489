/* SPDX-License-Identifier: MIT */
/*
 * The history thread: serves JOIN back-fill and FETCH from the stored messages so that
 * worker lcores never touch LMDB.
 *
 * Workers enqueue struct rc_hist_req pointers (allocated from rc_history_pool()) on the
 * ring from rc_history_ring(); when the enqueue fails they free the request and count a
 * drop. The history thread reads the messages with an LMDB read transaction and hands
 * each one to ops->emit (which builds and queues the DELIVER), then calls ops->end once,
 * then frees the request. The callbacks run on the history thread.
 */
#ifndef RC_HISTORY_H
#define RC_HISTORY_H

#include <stdint.h>

#include "wal.h"

struct rc_history;

enum rc_hist_kind {
	RC_HIST_LATEST = 1, /* the last `max` messages with seq <= to_seq */
	RC_HIST_RANGE = 2,  /* from_seq <= seq <= to_seq, at most `max` */
};

#define RC_HIST_CTX_LEN 64

struct rc_hist_req {
	uint8_t kind;      /* enum rc_hist_kind */
	uint8_t reply_type; /* the request type that asked: RC_T_JOIN or RC_T_FETCH */
	uint16_t max;
	uint32_t room_id;
	uint64_t from_seq;
	uint64_t to_seq;
	uint8_t ctx[RC_HIST_CTX_LEN]; /* the requester's reply context */
};

struct rc_history_ops {
	/* one stored message for request r; non-zero stops this request */
	int (*emit)(void *arg, const struct rc_hist_req *r, const struct rc_wal_msg *m);
	/* the request is done: count messages emitted, next_seq = last emitted + 1 (or
	 * r->from_seq when none), err = 0 or -errno from the read */
	void (*end)(void *arg, const struct rc_hist_req *r, unsigned count, uint64_t next_seq,
		    int err);
};

struct rc_history *rc_history_create(struct rc_wal *w, unsigned ring_size, int socket_id,
				     const struct rc_history_ops *ops, void *arg);
int rc_history_start(struct rc_history *h);
void rc_history_stop(struct rc_history *h);
void rc_history_destroy(struct rc_history *h);

struct rte_mempool *rc_history_pool(struct rc_history *h);
struct rte_ring *rc_history_ring(struct rc_history *h);

struct rc_history_stats {
	uint64_t requests;
	uint64_t messages;
	uint64_t errors;
};
void rc_history_get_stats(struct rc_history *h, struct rc_history_stats *st);

#endif /* RC_HISTORY_H */
