/* SPDX-License-Identifier: MIT */
/*
 * The chat protocol on a worker lcore: requests in, replies and DELIVERs out.
 *
 * A request is decoded and its session checked on the worker that received it; requests
 * for a room then run on the room's home worker (forwarded through its `in` ring when that
 * is another worker), which alone assigns sequence numbers and changes the members. POSTs
 * go to the WAL writer; their ACK and DELIVERs leave only from rc_req_committed(), once
 * the record is stored. LOGIN, LOGOUT and room creation go to the control thread.
 *
 * Concurrency: every function runs on the worker `w` given, inside its RCU read side.
 */
#ifndef RC_CHAT_H
#define RC_CHAT_H

#include "dp.h"

struct rc_wal_rec;

/* One received UDP payload (a bundle of messages) from `peer`. */
void rc_req_input(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
		   const uint8_t *p, uint16_t len);

/* A hand-off from the `in` ring (request forwarded to this home worker, or a purge). The
 * caller frees it. */
void rc_req_work(struct rc_dp *dp, struct rc_worker *w, struct rc_work *wk);

/* A stored record back from the WAL writer. The caller frees it. */
void rc_req_committed(struct rc_dp *dp, struct rc_worker *w, struct rc_wal_rec *rec);

/* Pack/unpack the reply context carried in WAL records and history requests. */
void rc_reply_ctx_from_who(struct rc_reply_ctx *c, const struct rc_who *who);

#endif /* RC_CHAT_H */
