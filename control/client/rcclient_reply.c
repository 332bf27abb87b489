/* SPDX-License-Identifier: MIT */
/*
 * rcclient replies: match each message from the node to the request it answers (by the
 * echoed request id; ACKs also by cmid) and complete it. ERRORs either complete the
 * request, put it back for a later retry (rate limited, busy, storage full), or hold it
 * while the session is recovered (not authenticated).
 *
 * Concurrency: one thread per client object (see rcclient.h).
 */
#include <errno.h>
#include <string.h>

#include "clock.h"
#include "rcclient_int.h"

static uint8_t
reply_type(uint8_t req_type)
{
	switch (req_type) {
	case RC_T_LOGIN:
		return RC_T_LOGIN_OK;
	case RC_T_JOIN:
		return RC_T_JOINED;
	case RC_T_LEAVE:
		return RC_T_LEFT;
	case RC_T_POST:
		return RC_T_ACK;
	case RC_T_FETCH:
		return RC_T_FETCH_END;
	case RC_T_MEMBERS:
		return RC_T_MEMBER_LIST;
	case RC_T_ROOMS:
		return RC_T_ROOM_LIST;
	case RC_T_PING:
		return RC_T_PONG;
	case RC_T_LOGOUT:
		return RC_T_BYE;
	default:
		return RC_T_INVALID;
	}
}

static void
copy_str(char *dst, size_t cap, struct rc_str s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* The next name of a MEMBER_LIST or ROOM_LIST (*last: a room's last_seq, else 0). */
static bool
list_next(const struct rc_msg *m, size_t *off, struct rc_str *name, uint64_t *last)
{
	*last = 0;
	if (m->hdr.type == RC_T_MEMBER_LIST)
		return rc_member_list_next(m, off, name);
	return rc_room_list_next(m, off, name, last);
}

/* MEMBER_LIST or ROOM_LIST: hand the names over; true while more lists follow. */
static bool
list_part(struct rc_client *c, struct rcc_pending *p, const struct rc_msg *m, uint64_t now)
{
	struct rcc_wait *w = p->kind == RCC_WAIT ? p->wait : NULL;
	struct rc_str s;
	uint64_t last;
	size_t off = 0;

	while (list_next(m, &off, &s, &last)) {
		char name[RC_MAX_ROOM + 1];

		if (!w)
			continue;
		copy_str(name, sizeof(name), s);
		w->count++;
		c->cb_depth++;
		if (w->mfn)
			w->mfn(w->fn_arg, name);
		if (w->rfn)
			w->rfn(w->fn_arg, name, last);
		c->cb_depth--;
	}
	if (!(m->hdr.flags & RC_F_MORE))
		return false;
	p->due_ms = now + c->rto_ms; /* the rest is on its way */
	return true;
}

void
rcc_complete(struct rc_client *c, struct rcc_pending *p, const struct rc_msg *m)
{
	struct rcc_wait *w = p->kind == RCC_WAIT ? p->wait : NULL;
	uint64_t now = rc_mono_ms_precise();

	switch (m->hdr.type) {
	case RC_T_LOGIN_OK:
		rcc_logged_in(c, p, m, now);
		break;
	case RC_T_JOINED:
		if (p->room)
			rcc_room_joined(c, p->room, m, now);
		if (p->purpose == RCC_P_REJOIN) {
			rcc_event(c, RC_EV_REJOINED, p->room ? p->room->name : NULL,
				  p->room ? p->room->since : 0);
			rcc_rejoined(c, now);
		}
		break;
	case RC_T_MEMBER_LIST:
	case RC_T_ROOM_LIST:
		if (list_part(c, p, m, now))
			return;
		break;
	default:
		break;
	}
	if (w) {
		w->done = true;
		w->status = 0;
		w->reply = *m;
	}
	if (p->req_id != 0)
		rcc_free_pending(c, p);
}

static struct rcc_pending *
find_post(struct rc_client *c, uint32_t req_id, uint64_t cmid)
{
	struct rcc_pending *p = rcc_find(c, req_id);

	if (p && p->type == RC_T_POST && p->cmid == cmid)
		return p;
	for (unsigned i = 0; i < PEND_CAP; i++)
		if (c->pend[i].req_id != 0 && c->pend[i].type == RC_T_POST &&
		    c->pend[i].cmid == cmid)
			return &c->pend[i];
	return NULL;
}

static void
posted(struct rc_client *c, const struct rc_post_result *r)
{
	if (!c->cur_cb->posted)
		return;
	c->cb_depth++;
	c->cur_cb->posted(c->cur_cb->arg, r);
	c->cb_depth--;
}

static void
on_ack(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	struct rcc_pending *p = find_post(c, m->hdr.request_id, m->u.ack.cmid);
	struct rcc_room *r = rcc_room_by_id(c, m->u.ack.room_id);
	struct rc_post_result res = {
		.cmid = m->u.ack.cmid,
		.seq = m->u.ack.seq,
		.room_id = m->u.ack.room_id,
	};

	if (r)
		rc_seqtrack_learn_last(&r->trk, m->u.ack.seq, now);
	if (!p) {
		c->st.late_acks++;
		res.late = true;
		posted(c, &res);
		return;
	}
	c->st.acked++;
	if (p->kind == RCC_ASYNC) {
		res.tag = p->tag;
		res.sent_ms = p->first_ms;
		posted(c, &res);
	}
	rcc_complete(c, p, m);
}

static void
on_fetch_end(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	struct rcc_pending *p = rcc_find(c, m->hdr.request_id);
	struct rcc_room *r;

	if (p && p->type == RC_T_FETCH) {
		if (p->room)
			rcc_room_fetch_end(c, p->room, m, false, now);
		rcc_complete(c, p, m);
		return;
	}
	r = rcc_room_by_id(c, m->u.fetch_end.room_id);
	if (!r) {
		c->st.unmatched++;
		return;
	}
	/* the end of a JOIN's history (its request id, or any while we wait for one) */
	rcc_room_fetch_end(c, r, m, r->hist_wait || m->hdr.request_id == r->join_req, now);
}

static void
save_error(struct rc_client *c, const struct rc_msg *m)
{
	c->last_err = m->u.error.code;
	copy_str(c->last_err_text, sizeof(c->last_err_text), m->u.error.text);
}

/* Not authenticated: hold the request and recover the session (or just re-send it when it
 * was sent with a session that has been replaced since). */
static void
not_auth(struct rc_client *c, struct rcc_pending *p, uint64_t now)
{
	if (c->state == RCC_LIVE && p->sent_session != c->session) {
		p->due_ms = now + c->rto_ms;
		rcc_send_pending(c, p, now);
		return;
	}
	if (c->state != RCC_LIVE && c->state != RCC_RELOGIN && c->state != RCC_LOST) {
		rcc_fail(c, p, -ENOTCONN, RC_E_NOT_AUTH);
		return;
	}
	p->held = true;
	rcc_session_lost(c, now);
}

/* Rate limited, busy or storage full (nothing was stored): send it again, same cmid, after
 * a backoff (50 ms doubling up to 800 ms). */
static void
retry_later(struct rc_client *c, struct rcc_pending *p, uint64_t now)
{
	unsigned shift = p->busy_tries < 4 ? p->busy_tries : 4;

	p->busy_tries++;
	p->busy_resend = true;
	p->due_ms = now + (50u << shift);
	if (c->next_due > p->due_ms)
		c->next_due = p->due_ms;
}

static void
on_error(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	uint16_t code = m->u.error.code;
	struct rcc_pending *p = rcc_find(c, m->hdr.request_id);

	c->st.errors[code < RC_E_MAX ? code : 0]++;
	if (!p) {
		char text[RC_MAX_ERRTEXT + 1];

		if (!c->cur_cb->error)
			return;
		copy_str(text, sizeof(text), m->u.error.text);
		c->cb_depth++;
		c->cur_cb->error(c->cur_cb->arg, code, m->u.error.ref_type, text);
		c->cb_depth--;
		return;
	}
	if (code == RC_E_NOT_AUTH && p->type == RC_T_LOGOUT) {
		rcc_complete(c, p, m); /* the BYE was lost: the session is gone all the same */
		return;
	}
	if (code == RC_E_NOT_AUTH && p->type != RC_T_LOGIN) {
		not_auth(c, p, now);
		return;
	}
	/* ERROR 8 too: the room may be moving between the two nodes of an HA pair (a
	 * takeover or fallback under way; PROTOCOL.md section 10) */
	if ((code == RC_E_RATE_LIMITED || code == RC_E_BUSY || code == RC_E_STORAGE_FULL ||
	     code == RC_E_NOT_OWNER) &&
	    p->busy_tries < (code == RC_E_NOT_OWNER ? NOT_OWNER_MAX_RETRIES : BUSY_MAX_RETRIES)) {
		retry_later(c, p, now);
		return;
	}
	if (code == RC_E_NOT_MEMBER && rcc_not_member(c, p, now))
		return;
	save_error(c, m);
	rcc_fail(c, p, -rc_client_errno(code), code);
}

/* RESUME for this session: another node took it over; its rooms must be joined again. */
static void
on_resume(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	if (c->state != RCC_LIVE || c->session == 0 || m->hdr.session != c->session) {
		c->st.unmatched++;
		return;
	}
	c->st.resumes++;
	copy_str(c->resume_node, sizeof(c->resume_node), m->u.resume.node);
	c->resume_reason = m->u.resume.reason;
	rcc_resume(c, m, now);
	rcc_event(c, RC_EV_RESUMED, c->resume_node, c->resume_reason);
}

void
rcc_dispatch(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	struct rcc_pending *p;

	switch (m->hdr.type) {
	case RC_T_DELIVER:
		rcc_room_deliver(c, m, now);
		return;
	case RC_T_ERROR:
		on_error(c, m, now);
		return;
	case RC_T_ACK:
		on_ack(c, m, now);
		return;
	case RC_T_FETCH_END:
		on_fetch_end(c, m, now);
		return;
	case RC_T_RESUME:
		on_resume(c, m, now);
		return;
	case RC_T_REDIRECT:
		rcc_redirect(c, m, now);
		return;
	case RC_T_COOKIE:
		rcc_cookie(c, m, now);
		return;
	default:
		break;
	}
	p = rcc_find(c, m->hdr.request_id);
	if (!p || reply_type(p->type) != m->hdr.type) {
		c->st.unmatched++;
		return;
	}
	rcc_complete(c, p, m);
}
