/* SPDX-License-Identifier: MIT */
/*
 * The handlers of the request table's rows (request.c) that read a room or change its
 * members: JOIN (and its history), LEAVE, MEMBERS, FETCH, and PING. POST, which stores, is
 * request.c's own (do_post). Each runs on the room's home worker (PING on the worker that
 * received it), as request.h's rc_req_fn says.
 */
#include "request.h"

#include <errno.h>
#include <string.h>

#include <rte_mempool.h>

#include "fanout.h"
#include "handoff.h"
#include "relay_rooms.h"
#include "room_table.h"

/* ---- handlers ---- */

static int
ask_history(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
	    const struct rc_who *who, unsigned kind, uint64_t from, unsigned max,
	    unsigned reply_type)
{
	struct rc_hist_req *q;

	if (rte_mempool_get(dp->hist_pool[r->scope], (void **)&q) != 0) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		return -ENOBUFS;
	}
	q->kind = (uint8_t)kind;
	q->reply_type = (uint8_t)reply_type;
	q->max = (uint16_t)max;
	q->room_id = r->id;
	q->from_seq = from;
	q->to_seq = __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED);
	RTE_BUILD_BUG_ON(sizeof(struct rc_reply_ctx) > RC_HIST_CTX_LEN);
	rc_reply_ctx_from_who((struct rc_reply_ctx *)q->ctx, who);
	if (rc_dp_hist_push(dp, r->scope, q) != 0) {
		rte_mempool_put(dp->hist_pool[r->scope], q);
		w->stats.drops[RC_DROP_RING_HIST]++;
		return -ENOBUFS;
	}
	return 0;
}

void
rc_req_join(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	const struct rc_msg *req)
{
	struct rc_member mem = { .session = who->session, .peer = who->peer,
				 .user_len = who->user_len };
	uint64_t since = req->u.join.since_seq;
	struct rc_msg m;
	int rc;

	memcpy(mem.user, who->user, who->user_len);
	rc = who->peer.relay != 0 ? rc_relay_node_join(dp, w, r, who)
				  : rc_room_member_add(r, &mem, dp->max_members);
	if (rc == -ENOSPC || rc == -ENOMEM) {
		rc_req_error(dp, w, who, RC_E_LIMIT_REACHED, RC_T_JOIN, "room is full");
		return;
	}
	rc_req_hdr(&m, RC_T_JOINED, who->session, who->request_id);
	m.u.joined.room.p = r->name;
	m.u.joined.room.len = r->name_len;
	m.u.joined.room_id = rc_reply_room_id(r->id, who->alias);
	m.u.joined.last_seq = __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED);
	m.u.joined.members = r->n_members;
	if (who->session != 0) /* a node's own refresh: RJOINED alone */
		rc_tx_msg(dp, w, &who->peer, &m);
	if (since == 0 && who->session == 0)
		return; /* the node had nothing yet: its live DELIVERs start now */
	if (since == 0) /* FETCH_END.from_seq: the first of the latest history_on_join */
		rc = ask_history(dp, w, r, who, RC_HIST_LATEST,
				 m.u.joined.last_seq >= dp->history_on_join ?
					 m.u.joined.last_seq - dp->history_on_join + 1 : 1,
				 dp->history_on_join, RC_T_JOIN);
	else
		rc = ask_history(dp, w, r, who, RC_HIST_RANGE, since + 1, dp->max_fetch,
				 RC_T_JOIN);
	if (rc != 0)
		rc_req_error(dp, w, who, RC_E_BUSY, RC_T_JOIN, "history busy, FETCH later");
}

void
rc_req_leave(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	 const struct rc_msg *req)
{
	struct rc_msg m;

	(void)req;
	if (who->peer.relay != 0) { /* RLEAVE: the node has no member left */
		rc_room_member_remove_at(r, (unsigned)rc_room_node_find(r, who->peer.relay));
		return;
	}
	if (!rc_room_member_remove(r, who->session)) {
		rc_req_error(dp, w, who, RC_E_NOT_MEMBER, RC_T_LEAVE, "not a member");
		return;
	}
	rc_req_hdr(&m, RC_T_LEFT, who->session, who->request_id);
	m.u.left.room_id = r->id;
	rc_tx_msg(dp, w, &who->peer, &m);
}

void
rc_req_members(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	   const struct rc_msg *req)
{
	struct rc_str users[RC_MAX_DGRAM / 2];
	unsigned i = 0, n;
	size_t size;
	struct rc_msg m;

	(void)req;
	do {
		rc_req_hdr(&m, RC_T_MEMBER_LIST, who->session, who->request_id);
		m.u.member_list.room_id = rc_reply_room_id(r->id, who->alias);
		size = RC_HDR_LEN + 6;
		for (n = 0; i < r->n_members; i++) {
			if (r->members[i].peer.relay != 0)
				continue; /* a node member: its users are listed at that node */
			if (size + 1 + r->members[i].user_len > RC_MAX_DGRAM)
				break;
			users[n].p = r->members[i].user;
			users[n].len = r->members[i].user_len;
			size += 1 + users[n++].len;
		}
		m.u.member_list.count = (uint16_t)n;
		m.u.member_list.users = users;
		m.hdr.flags = i < r->n_members ? RC_F_MORE : 0;
		rc_tx_msg(dp, w, &who->peer, &m);
	} while (i < r->n_members);
}

void
rc_req_fetch(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	 const struct rc_msg *req)
{
	unsigned max = req->u.fetch.max;

	if (max > dp->max_fetch)
		max = dp->max_fetch;
	if (ask_history(dp, w, r, who, RC_HIST_RANGE,
			req->u.fetch.from_seq == 0 ? 1 : req->u.fetch.from_seq, max,
			RC_T_FETCH) != 0)
		rc_req_error(dp, w, who, RC_E_BUSY, RC_T_FETCH, "history busy, retry");
}

void
rc_req_ping(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	const struct rc_msg *req)
{
	struct rc_msg m;

	(void)r;
	rc_req_hdr(&m, RC_T_PONG, who->session, who->request_id);
	m.u.pong.nonce = req->u.ping.nonce;
	rc_tx_msg(dp, w, &who->peer, &m);
}
