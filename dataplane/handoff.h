/* SPDX-License-Identifier: MIT */
/*
 * The items the dataplane hands to the storage threads and gets back, on rte_rings: a
 * record for the WAL writer (struct rc_wal_rec, completed with its status), a request for
 * the history thread (struct rc_hist_req) and the callbacks that thread calls with what it
 * read (struct rc_history_ops, struct rc_wal_msg). Types only: the dataplane includes this
 * and never a storage header; storage/wal.h and storage/history.h build on it.
 */
#ifndef RC_HANDOFF_H
#define RC_HANDOFF_H

#include <stdint.h>

#include "proto.h"

/* ---- to the WAL writer (storage/wal.h) ---- */

enum rc_wal_kind {
	RC_WAL_MSG = 1,  /* a chat message: room_id, seq, ts_ms, cmid, user, body */
	RC_WAL_ROOM = 2, /* a room's creation: room_id, ts_ms, user = creator, body = name,
			  * cmid = its state flags (RC_WAL_ROOM_ARCHIVED...) */
	RC_WAL_ROOM_SET = 3, /* a stored room's new state: room_id, cmid = its flags; the
			      * writer rewrites the room's record and logs it as an RC_WAL_ROOM
			      * entry (wal_format.h: a state change) */
};

/* A room's state flags (the cmid of RC_WAL_ROOM and RC_WAL_ROOM_SET records). */
#define RC_WAL_ROOM_ARCHIVED 0x01u /* read-only: POSTs refused, history served */
#define RC_WAL_ROOM_DELETED 0x02u  /* a tombstone: not a room any more; its id returns once
				    * the WAL has trimmed past the entry that set it */
#define RC_WAL_ROOM_FLAGS 0x03u    /* every flag known */

#define RC_WAL_CTX_LEN 64

/*
 * Where a chat message's time went before its completion (dataplane/latency.h: the latency
 * budget): CLOCK_MONOTONIC ns (rc_mono_ns), 0 when not taken. Not stored.
 */
struct rc_wal_stamps {
	uint64_t rx;        /* the receiving worker: the datagram's RX burst */
	uint64_t enqueued;  /* the home worker: onto the WAL ring */
	uint64_t dequeued;  /* the WAL writer: off the ring */
	uint64_t committed; /* its transaction committed (synced unless nosync) */
	uint64_t completed; /* onto the done ring: = committed, unless the peer gate held it
			     * (HA): then when the peer's ACK released it */
};

struct rc_wal_rec {
	uint8_t kind;      /* enum rc_wal_kind */
	int8_t status;     /* set by the writer before completion: 0, or a negative errno:
			    * -EEXIST (room, seq) or room stored already; -EINVAL malformed;
			    * -ENOENT a state change of a room not stored;
			    * -ESPIPE a message whose seq does not follow its room's last
			    * stored seq (a seq before it was not stored: no gap is ever
			    * stored); -ENOTCONN stored, but the peer did not confirm it */
	uint16_t reply_to; /* index of the completion ring, < RC_WAL_MAX_COMPLETIONS */
	uint32_t room_id;
	uint64_t seq;
	uint64_t ts_ms; /* wall clock, ms since the epoch */
	uint64_t cmid;  /* the poster's client message id */
	uint8_t user_len;
	uint16_t body_len;
	char user[RC_MAX_USER];
	_Alignas(8) uint8_t ctx[RC_WAL_CTX_LEN]; /* the producer's reply context; not stored */
	struct rc_wal_stamps t; /* set by the producer (rx, enqueued; else 0) and the writer */
	char body[RC_MAX_BODY];      /* message body, or the room name for RC_WAL_ROOM */
};

/* ---- read back: by the history thread, the warm-up, the drainer ---- */

/* A stored message, as rc_wal_read() reports it; strings valid during the callback. */
struct rc_wal_msg {
	uint32_t room_id;
	uint64_t seq;
	uint64_t ts_ms;
	uint64_t cmid;
	struct rc_str user;
	struct rc_str body;
};

/* ---- to the history thread (storage/history.h) ---- */

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
	_Alignas(8) uint8_t ctx[RC_HIST_CTX_LEN]; /* the requester's reply context */
};

struct rc_history_ops {
	/* one stored message for request r; non-zero stops this request */
	int (*emit)(void *arg, const struct rc_hist_req *r, const struct rc_wal_msg *m);
	/* the request is done: count messages emitted, next_seq = last emitted + 1 (or
	 * r->from_seq when none), err = 0 or -errno from the read */
	void (*end)(void *arg, const struct rc_hist_req *r, unsigned count, uint64_t next_seq,
		    int err);
};

#endif /* RC_HANDOFF_H */
