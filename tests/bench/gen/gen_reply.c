/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen's side of the replies: a datagram from the node to one of our users, walked
 * message by message with the codec (PROTOCOL.md 3: a bundle), each message by its type.
 * What they mean for the run: sessions (LOGIN_OK, COOKIE, BYE), memberships (JOINED), the
 * POST windows and ACK latency (ACK, ERROR), deliveries, gaps and duplicates and the
 * post-to-deliver latency (DELIVER).
 */
#include <string.h>

#include "gen.h"
#include "gen_body.h"
#include "gen_req.h"

static inline uint64_t
cyc_ns(const struct rg_gen *g, uint64_t cyc)
{
	return (uint64_t)((double)cyc * 1e9 / (double)g->hz);
}

static void
on_login_ok(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m)
{
	if (u->state != RG_U_LOGIN)
		return; /* a retransmitted LOGIN's answer: the same session */
	u->session = m->u.login_ok.session;
	u->state = RG_U_IN;
	u->req_tsc = u->tx_tsc;
	if (g->keepalive_cyc == 0 || m->u.login_ok.idle_timeout_s * g->hz / 3 < g->keepalive_cyc)
		g->keepalive_cyc = m->u.login_ok.idle_timeout_s * g->hz / 3;
	RG_INC(g, logged_in);
}

static void
on_cookie(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m, uint64_t now)
{
	if (u->state != RG_U_LOGIN)
		return;
	u->cookie = true;
	u->cookie_slot = m->u.cookie.slot;
	u->cookie_mac = m->u.cookie.mac;
	RG_INC(g, cookies);
	rg_send_login(g, u, now);
}

static void
on_joined(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m)
{
	uint32_t rid = m->hdr.request_id;
	unsigned slot = rid & RG_RID_ARG, r;
	struct rg_room *rm;

	if ((rid & RG_RID_KIND) != RG_RID_JOIN || slot >= g->o->rooms_per_user) {
		RG_INC(g, rx_bad);
		return;
	}
	if (u->join_tsc[slot] == UINT64_MAX)
		return; /* the answer to a retransmitted JOIN: already a member */
	r = (unsigned)((u - g->users) + slot) % g->o->rooms;
	rm = &g->rooms[r];
	if (!rm->created) {
		rm->id = m->u.joined.room_id;
		rm->created = true;
		rg_room_map_add(g, r);
	}
	rg_seq_init(&u->seq[slot], m->u.joined.last_seq);
	u->join_tsc[slot] = UINT64_MAX;
	RG_INC(g, joined);
}

/* The window index of a POST from the low bits its request id carries. */
static bool
post_k(const struct rg_user *u, uint32_t rid, uint64_t *k)
{
	uint64_t low = rid & RG_RID_ARG;

	*k = u->low_k + ((low - u->low_k) & RG_RID_ARG);
	return (rid & RG_RID_KIND) == RG_RID_POST && *k < u->next_k;
}

/* Free the slots at the bottom of u's window that are done. */
static void
window_advance(struct rg_gen *g, struct rg_user *u)
{
	while (u->low_k < u->next_k) {
		struct rg_slot *s = &u->win[u->low_k & g->win_mask];

		if (s->state != RG_SLOT_ACKED && s->state != RG_SLOT_FAILED)
			break;
		s->state = RG_SLOT_FREE;
		u->low_k++;
	}
}

static void
on_ack(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m, uint64_t now)
{
	uint64_t k = m->u.ack.cmid - g->cmid_base;
	struct rg_slot *s;
	struct rg_room *rm;

	if (m->u.ack.cmid < g->cmid_base || k < u->low_k || k >= u->next_k)
		return; /* a second ACK of a resent POST */
	s = &u->win[k & g->win_mask];
	if (s->state != RG_SLOT_SENT)
		return;
	s->state = RG_SLOT_ACKED;
	rm = &g->rooms[s->room];
	if (m->u.ack.seq > rm->last_acked)
		rm->last_acked = m->u.ack.seq;
	rg_hist_add(&g->ack_lat, cyc_ns(g, now - s->first_tsc));
	RG_ADD(g, deliveries_expected, rm->members);
	RG_INC(g, posts_acked);
	RG_SET(g, t_last_ack, now);
	window_advance(g, u);
}

/* An ERROR: a refused POST is resent (busy, rate limited, storage full, not the owner: the
 * node did nothing) or given up; a refused LOGIN or JOIN ends the run unless it is worth
 * another try. */
static void
on_error(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m, uint64_t now)
{
	uint16_t code = m->u.error.code;
	bool retry = code == RC_E_BUSY || code == RC_E_RATE_LIMITED ||
		     code == RC_E_STORAGE_FULL || code == RC_E_NOT_OWNER;
	uint64_t k;

	if (code < RC_E_MAX)
		RG_INC(g, errors[code]);
	if (m->u.error.ref_type == RC_T_POST && post_k(u, m->hdr.request_id, &k)) {
		struct rg_slot *s = &u->win[k & g->win_mask];

		if (s->state != RG_SLOT_SENT)
			return;
		if (retry) {
			s->last_tsc = now; /* the resend timer starts again */
			return;
		}
		s->state = RG_SLOT_FAILED;
		RG_INC(g, posts_failed);
		window_advance(g, u);
		return;
	}
	if (!retry && (m->u.error.ref_type == RC_T_LOGIN || m->u.error.ref_type == RC_T_JOIN ||
		       m->u.error.ref_type == RC_T_LOGIN_COOKIE)) {
		g->fail_msg = m->u.error.ref_type == RC_T_JOIN ? "a JOIN was refused (ERROR)"
							       : "a LOGIN was refused (ERROR)";
		RG_SET(g, phase, RG_PH_FAILED);
	}
}

static void
on_deliver(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m, uint64_t now)
{
	int r = rg_room_index(g, m->u.deliver.room_id);
	uint64_t ts, idx, holes;
	enum rg_seq_verdict v;
	unsigned slot;

	if (r < 0 || !rg_room_member(g, (unsigned)(u - g->users), (unsigned)r, &slot) ||
	    u->join_tsc[slot] != UINT64_MAX) {
		RG_INC(g, foreign);
		return;
	}
	holes = rg_seq_holes(&u->seq[slot]);
	v = rg_seq_add(&u->seq[slot], m->u.deliver.seq);
	if (rg_seq_holes(&u->seq[slot]) != holes) /* a seq skipped, or one filled in */
		RG_ADD(g, missing, rg_seq_holes(&u->seq[slot]) - holes);
	switch (v) {
	case RG_SEQ_HISTORY:
		RG_INC(g, history);
		return;
	case RG_SEQ_DUP:
		RG_INC(g, duplicates);
		return;
	case RG_SEQ_NEW:
		break;
	}
	RG_INC(g, deliveries);
	RG_SET(g, t_last_deliver, now);
	if (rg_body_parse(m->u.deliver.body.p, m->u.deliver.body.len, g->run, &ts, &idx))
		rg_hist_add(&g->dlv_lat, cyc_ns(g, now - ts));
	else
		RG_INC(g, foreign);
}

static void
dispatch(struct rg_gen *g, struct rg_user *u, const struct rc_msg *m, uint64_t now)
{
	switch (m->hdr.type) {
	case RC_T_DELIVER: on_deliver(g, u, m, now); break;
	case RC_T_ACK: on_ack(g, u, m, now); break;
	case RC_T_LOGIN_OK: on_login_ok(g, u, m); break;
	case RC_T_COOKIE: on_cookie(g, u, m, now); break;
	case RC_T_JOINED: on_joined(g, u, m); break;
	case RC_T_ERROR: on_error(g, u, m, now); break;
	case RC_T_BYE:
		u->state = RG_U_OUT;
		RG_INC(g, byes);
		break;
	case RC_T_RESUME: RG_INC(g, resumes); break;
	case RC_T_FETCH_END: case RC_T_PONG: case RC_T_LEFT: break;
	default: RG_INC(g, rx_bad); break;
	}
}

void
rg_req_rx(struct rg_gen *g, struct rg_user *u, const uint8_t *p, uint16_t len, uint64_t now)
{
	struct rc_msg m;
	size_t off = 0, used;
	int rc;

	while (off < len) {
		rc = rc_decode(p + off, len - off, &m, &used);
		if (rc < 0)
			RG_INC(g, rx_bad);
		else
			dispatch(g, u, &m, now);
		if (used == 0)
			break;
		off += used;
	}
}
