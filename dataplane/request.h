/* SPDX-License-Identifier: MIT */
/*
 * The chat protocol on a worker lcore: requests in, replies and DELIVERs out.
 *
 * One table, one row per message type (struct rc_req_row, rc_req_row()), says how a
 * request is dispatched: whether it needs a session, where its room name is, whether it
 * needs membership or a POST rate token, what it costs its session's request budget
 * (budget.h), and where it runs: on the worker that received
 * it, on its room's home worker, or on the control thread. A new request type is one codec
 * row (wire/proto.c), one row here and one handler.
 *
 * A request is decoded and its session checked on the worker that received it; requests
 * for a room then run on the room's home worker, which alone assigns sequence numbers and
 * changes the members. When that is another worker, the request is forwarded through its
 * `in` ring already decoded (struct rc_work: type, room id, views into a copy of the
 * bytes): the home worker neither decodes nor looks the name up again. POSTs go to the WAL
 * writer; their ACK and DELIVERs leave only from rc_req_committed(), once the record is
 * stored. LOGIN, LOGOUT and room creation go to the control thread, decoded in the same way.
 *
 * Concurrency: every function runs on the worker `w` given, inside its RCU read side;
 * rc_req_row(), rc_req_room() and the table are read-only, from any thread.
 */
#ifndef RC_REQUEST_H
#define RC_REQUEST_H

#include "dp.h"

struct rc_room;
struct rc_wal_rec;

/* Where a request type runs: the table's "runs on" column. */
enum rc_req_run {
	RC_REQ_UNLISTED = 0, /* no row: a gap in the table (its test fails) */
	RC_REQ_REFUSED,      /* a reply type: never accepted (dropped, msg_unexpected) */
	RC_REQ_ON_RX,        /* answered by the worker that received it */
	RC_REQ_ON_HOME,      /* run by its room's home worker (forwarded as `work`) */
	RC_REQ_ON_CONTROL,   /* handed to the control thread as `work` */
	RC_REQ_RUN_MAX
};

/* What a request type needs: the table's flag columns (struct rc_req_row.needs). */
#define RC_REQ_SESSION 0x01  /* a session from this address, else ERROR 5; without: LOGIN */
#define RC_REQ_RATED 0x02    /* a token of the session's POST rate, else ERROR 4 */
#define RC_REQ_CREATES 0x04  /* a missing room is created for it by the control thread */
#define RC_REQ_LIVE 0x08     /* at home, dropped if its session ended meanwhile: it adds the
			      * session to the room, and the session's purge has already run */
#define RC_REQ_GONE_BYE 0x10 /* without its session: answered BYE (ending is idempotent) */

/* A handler: r is the room (ON_HOME, on its home worker) or NULL (ON_RX). */
typedef void rc_req_fn(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
		       const struct rc_who *who, const struct rc_msg *m);

/* How one message type is dispatched. */
struct rc_req_row {
	uint8_t type;  /* enum rc_msg_type: the row's own index */
	uint8_t runs;  /* enum rc_req_run */
	uint8_t needs; /* RC_REQ_* */
	uint8_t work;  /* enum rc_work_kind: ON_CONTROL's hand-off, ON_HOME's forwarding */
	uint8_t cost;  /* enum rc_req_cost (budget.h): what it takes from its session's budget */
	uint16_t room; /* offset of the room name (struct rc_str) in struct rc_msg; 0: none */
	const char *not_member; /* ON_HOME: text of the ERROR 2 for a non-member; NULL: anyone */
	rc_req_fn *fn;          /* ON_RX and ON_HOME */
};

/* The row of `type`, or NULL when type >= RC_T_MAX. */
const struct rc_req_row *rc_req_row(unsigned type);

/* The room name of m by its row's room column (a view into m's bytes), or NULL when its
 * type names no room. */
const struct rc_str *rc_req_room(const struct rc_msg *m);

/* The handlers of the rows that read a room or change its members (request_rooms.c). */
rc_req_fn rc_req_join, rc_req_leave, rc_req_members, rc_req_fetch, rc_req_ping;

/* One received UDP payload (a bundle of messages) from `peer`. */
void rc_req_input(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
		  const uint8_t *p, uint16_t len);

/* A hand-off from the `in` ring (a request forwarded to this home worker, decoded; or a
 * purge). The caller frees it. */
void rc_req_work(struct rc_dp *dp, struct rc_worker *w, struct rc_work *wk);

/* A stored record back from the WAL writer. The caller frees it. */
void rc_req_committed(struct rc_dp *dp, struct rc_worker *w, struct rc_wal_rec *rec);

/* Pack/unpack the reply context carried in WAL records and history requests. */
void rc_reply_ctx_from_who(struct rc_reply_ctx *c, const struct rc_who *who);

/* The room_id a reply carries: the room's id here, or the requesting node's alias for a
 * relayed request (rc_who.alias, rc_reply_ctx.alias: 0 for a client). */
static inline uint32_t
rc_reply_room_id(uint32_t room_id, uint32_t alias)
{
	return alias != 0 ? alias : room_id;
}

/* m emptied, with the header of a message of type for session / request_id. */
void rc_req_hdr(struct rc_msg *m, unsigned type, uint64_t session, uint32_t request_id);

/* An ERROR for the request of who (to its session, or through its relay peer). */
void rc_req_error(struct rc_dp *dp, struct rc_worker *w, const struct rc_who *who,
		  unsigned code, unsigned ref_type, const char *text);

/*
 * A request another node relayed (relay_rooms.c), as the client request it stands for: m
 * is a JOIN (its room name canonical, room_id 0), or a POST, FETCH, LEAVE or MEMBERS of
 * the room with our id room_id; its views point into raw[0..raw_len) (the bytes of the
 * relayed message). who: the client's session at that node (0: the node itself), the
 * request id, the user, peer = the node as a relay peer, alias = its id of the room. It
 * runs as a client's request of the room's home worker, but for the membership (the node
 * must be a node member with that alias) and the rate (checked at that node).
 */
void rc_req_relayed(struct rc_dp *dp, struct rc_worker *w, const struct rc_who *who,
		    const struct rc_msg *m, const uint8_t *raw, size_t raw_len,
		    uint32_t room_id);

#endif /* RC_REQUEST_H */
