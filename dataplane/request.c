/* SPDX-License-Identifier: MIT */
/*
 * The request path on a worker lcore. What a request type needs and where it runs is one
 * row of `rows` below; the code here reads the row, never the type.
 *
 * A POST's whole way, thread by thread with its hand-offs (rings, the WAL writer, the HA
 * stream, the drainer), is written once: README.md, "The POST path" (tests/doccheck checks
 * that each step it names is a function of the file it names). Here: rc_req_input on the
 * worker that received the datagram, hand_off / rc_req_work when the room's home worker is
 * another one, run_at_home -> do_post -> make_record onto the WAL ring, rc_req_committed
 * when the record comes back stored. The other rows' handlers are in request_rooms.c.
 * LOGINs go to the control thread (login_ring) once login.c admits them; LOGOUT and a JOIN
 * that creates its room go there too (ctrl_ring); JOIN back-fill and FETCH to the history
 * thread (hist_ring). Every request of a session pays its cost first (budget.h).
 */
#include "request.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_mempool.h>

#include "budget.h"
#include "dedup.h"
#include "fanout.h"
#include "handoff.h"
#include "room_table.h"
#include "session.h"
#include "lease_guard.h"
#include "login.h"
#include "relay_rooms.h"

#define ERR_HDR_LEN (RC_HDR_LEN + 4) /* an ERROR with an empty text */

void
rc_reply_ctx_from_who(struct rc_reply_ctx *c, const struct rc_who *who)
{
	memset(c, 0, sizeof(*c));
	c->session = who->session;
	c->request_id = who->request_id;
	c->rx_worker = who->rx_worker;
	c->peer = who->peer;
	c->alias = who->alias;
}

void
rc_req_hdr(struct rc_msg *m, unsigned type, uint64_t session, uint32_t request_id)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = (uint8_t)type;
	m->hdr.session = session;
	m->hdr.request_id = request_id;
}

void
rc_req_error(struct rc_dp *dp, struct rc_worker *w, const struct rc_who *who, unsigned code,
	     unsigned ref_type, const char *text)
{
	struct rc_msg m;

	rc_req_hdr(&m, RC_T_ERROR, who->session, who->request_id);
	m.u.error.code = (uint16_t)code;
	m.u.error.ref_type = (uint8_t)ref_type;
	m.u.error.text.p = text;
	m.u.error.text.len = (uint16_t)strlen(text);
	rc_tx_msg(dp, w, &who->peer, &m);
}

/* An ERROR to a sender without a session: never larger than what it sent. */
static void
send_error_unauth(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
		  const struct rc_hdr *h, size_t req_len, unsigned code, const char *text)
{
	struct rc_msg m;
	size_t tlen = strlen(text);

	if (req_len < ERR_HDR_LEN) {
		w->stats.drops[RC_DROP_AMPLIFICATION]++;
		return;
	}
	if (ERR_HDR_LEN + tlen > req_len)
		tlen = req_len - ERR_HDR_LEN;
	rc_req_hdr(&m, RC_T_ERROR, 0, h->request_id);
	m.u.error.code = (uint16_t)code;
	m.u.error.ref_type = h->type;
	m.u.error.text.p = text;
	m.u.error.text.len = (uint16_t)tlen;
	rc_tx_msg(dp, w, peer, &m);
}

/* ---- handlers ---- */

static void
send_ack(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to, uint64_t session,
	 uint32_t request_id, uint32_t room_id, uint64_t cmid, uint64_t seq)
{
	struct rc_msg m;

	rc_req_hdr(&m, RC_T_ACK, session, request_id);
	m.u.ack.room_id = room_id;
	m.u.ack.cmid = cmid;
	m.u.ack.seq = seq;
	rc_tx_msg(dp, w, to, &m);
}

static struct rc_wal_rec *
make_record(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
	    const struct rc_who *who, const struct rc_msg *req)
{
	struct rc_wal_rec *rec;

	if (rte_mempool_get(dp->wal_pool[r->scope], (void **)&rec) != 0) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		return NULL;
	}
	rec->kind = RC_WAL_MSG;
	rec->status = 0;
	rec->reply_to = (uint16_t)(1 + w->idx);
	rec->room_id = r->id;
	rec->seq = r->next_seq;
	rec->ts_ms = rc_wall_ms();
	rec->cmid = req->u.post.cmid;
	rec->user_len = who->user_len;
	memcpy(rec->user, who->user, who->user_len);
	rec->body_len = req->u.post.body.len;
	memcpy(rec->body, req->u.post.body.p, req->u.post.body.len);
	rec->t = (struct rc_wal_stamps){ .rx = who->rx_ns };
	RTE_BUILD_BUG_ON(sizeof(struct rc_reply_ctx) > RC_WAL_CTX_LEN);
	rc_reply_ctx_from_who((struct rc_reply_ctx *)rec->ctx, who);
	((struct rc_reply_ctx *)rec->ctx)->seq_gen = r->seq_gen;
	((struct rc_reply_ctx *)rec->ctx)->incarnation = r->incarnation;
	return rec;
}

/*
 * A POST at the room's home worker. The seq rule (no gap, ever): a seq is assigned here,
 * in order, when the record is handed to the WAL, and it is entered in the room's re-sent
 * POST window as pending at the same moment. The WAL stores a room's message only right
 * after the room's last stored seq (storage/wal.h, -ESPIPE), so when a record cannot be
 * stored, none of the same room's records queued behind it is stored either; the first
 * failure hands its seq back (rc_req_committed: next_seq goes back to it, the window
 * forgets it and everything after it, seq_gen moves on so that the failures behind it
 * change nothing more) and every refused POST is answered ERROR 9 "not stored, retry".
 * The client's resend then gets the seq again: the room's seqs stay 1, 2, 3, ...
 */
static void
do_post(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	const struct rc_msg *req)
{
	uint64_t cmid = req->u.post.cmid, seq;
	struct rc_wal_rec *rec;
	bool pending;

	if (rc_dedup_find(r->dedup, who->user, who->user_len, cmid, &seq, &pending) == 0) {
		if (pending) {
			w->stats.drops[RC_DROP_RESEND_PENDING]++;
			return;
		}
		w->stats.resends_acked++;
		send_ack(dp, w, &who->peer, who->session, who->request_id,
			 rc_reply_room_id(r->id, who->alias), cmid, seq);
		return;
	}
	if (rc_room_archived(r)) { /* (a resend of a POST stored before still gets its ACK) */
		rc_req_error(dp, w, who, RC_E_ARCHIVED, RC_T_POST, "room archived: read-only");
		return;
	}
	if (dp->storage_full) {
		rc_req_error(dp, w, who, RC_E_STORAGE_FULL, RC_T_POST, "storage full, retry later");
		return;
	}
	if (dp->scope_no_peer[r->scope]) { /* ha.durability "peer-required" */
		__atomic_fetch_add(&dp->peer_busy_refusals, 1, __ATOMIC_RELAXED);
		rc_req_error(dp, w, who, RC_E_BUSY, RC_T_POST, "busy: no HA peer copy, retry");
		return;
	}
	rec = make_record(dp, w, r, who, req);
	if (rec == NULL) {
		rc_req_error(dp, w, who, RC_E_BUSY, RC_T_POST, "busy, retry");
		return;
	}
	if (rc_dedup_put(r->dedup, r->next_seq, who->user, who->user_len, cmid, true) != 0) {
		rte_mempool_put(dp->wal_pool[r->scope], rec);
		w->stats.drops[RC_DROP_WINDOW_NOMEM]++;
		rc_req_error(dp, w, who, RC_E_BUSY, RC_T_POST, "busy, retry");
		return;
	}
	rec->t.enqueued = rc_mono_ns();
	if (rc_dp_wal_push(dp, r->scope, rec) != 0) {
		rte_mempool_put(dp->wal_pool[r->scope], rec);
		rc_dedup_forget_from(r->dedup, r->next_seq);
		w->stats.drops[RC_DROP_RING_WAL]++;
		rc_req_error(dp, w, who, RC_E_BUSY, RC_T_POST, "busy, retry");
		return;
	}
	r->next_seq++;
}

/* ---- the dispatch table ---- */

/* clang-format off */
/* Local short names for the table's columns. */
#define SESSION RC_REQ_SESSION
#define RATED RC_REQ_RATED
#define CREATES RC_REQ_CREATES
#define LIVE RC_REQ_LIVE
#define GONE_BYE RC_REQ_GONE_BYE
#define ROW(t, runs, needs, work, cost, room, not_member, fn) \
	[RC_T_##t] = { RC_T_##t, RC_REQ_##runs, needs, work, RC_COST_##cost, room, not_member, fn }
#define CONTROL(t, needs, work) ROW(t, ON_CONTROL, needs, RC_WORK_##work, ONE, 0, NULL, NULL)
#define RX(t, needs, fn) ROW(t, ON_RX, needs, 0, ONE, 0, NULL, fn)
#define ROOM(body) offsetof(struct rc_msg, u.body.room)
#define HOME(t, needs, body, cost, not_member, fn) \
	ROW(t, ON_HOME, needs, RC_WORK_REQUEST, cost, ROOM(body), not_member, fn)
#define REFUSED(t) ROW(t, REFUSED, 0, 0, ONE, 0, NULL, NULL)

/*
 * One row per message type. Checked in this order (rc_req_input): the session (needs);
 * then, for a request that runs at its room's home worker: the node serves rooms, the
 * room's HA scope is served, the rate token (RATED), the room exists (else CREATES), and
 * at the home worker membership; then the handler. The room column names the member of
 * struct rc_msg's union whose `room` holds the name (its offset is never 0: the header
 * comes first).
 */
static const struct rc_req_row rows[RC_T_MAX] = {
	/*      type    needs              hand-off (enum rc_work_kind) */
	CONTROL(LOGIN,  0,                 LOGIN),
	CONTROL(LOGIN_COOKIE, 0,           LOGIN), /* a LOGIN with its COOKIE (login.h) */
	CONTROL(LOGOUT, SESSION | GONE_BYE, LOGOUT),
	CONTROL(ROOMS,  SESSION,           ROOMS),
	/*      type    needs              handler */
	RX(PING,        SESSION,           rc_req_ping),
	/*   type     needs                     room     cost     non-members refused with */
	HOME(JOIN,    SESSION | CREATES | LIVE, join,    JOIN,    NULL,
	     rc_req_join),
	HOME(LEAVE,   SESSION,                  leave,   ONE,     "not a member",
	     rc_req_leave),
	HOME(MEMBERS, SESSION,                  members, MEMBERS, "not a member",
	     rc_req_members),
	HOME(FETCH,   SESSION,                  fetch,   FETCH,   "not a member",
	     rc_req_fetch),
	HOME(POST,    SESSION | RATED,          post,    ONE,     "join the room first",
	     do_post),
	/* what the node sends: never accepted from a client */
	REFUSED(LOGIN_OK),
	REFUSED(JOINED),
	REFUSED(LEFT),
	REFUSED(ACK),
	REFUSED(DELIVER),
	REFUSED(FETCH_END),
	REFUSED(MEMBER_LIST),
	REFUSED(PONG),
	REFUSED(BYE),
	REFUSED(ERROR),
	REFUSED(RESUME),
	REFUSED(REDIRECT),
	REFUSED(ROOM_LIST),
	REFUSED(COOKIE),
	/* node to node: accepted only inside a relay envelope, never in a client's datagram */
	REFUSED(RJOIN),
	REFUSED(RJOINED),
	REFUSED(RPOST),
	REFUSED(RFETCH),
	REFUSED(RLEAVE),
	REFUSED(RMEMBERS),
};

#undef REFUSED
#undef HOME
#undef ROOM
#undef RX
#undef CONTROL
#undef ROW
#undef GONE_BYE
#undef LIVE
#undef CREATES
#undef RATED
#undef SESSION
/* clang-format on */

const struct rc_req_row *
rc_req_row(unsigned type)
{
	return type < RC_T_MAX ? &rows[type] : NULL;
}

static const struct rc_str *
room_name(const struct rc_req_row *row, const struct rc_msg *m)
{
	return (const struct rc_str *)((const char *)m + row->room);
}

const struct rc_str *
rc_req_room(const struct rc_msg *m)
{
	const struct rc_req_row *row = rc_req_row(m->hdr.type);

	return row == NULL || row->room == 0 ? NULL : room_name(row, m);
}

/* ---- requests at the room's home worker ---- */

static void
run_at_home(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
	    const struct rc_req_row *row, const struct rc_who *who, const struct rc_msg *m)
{
	if (row->not_member != NULL &&
	    (who->peer.relay != 0 ? !rc_relay_node_ok(r, who)
				  : rc_room_member_find(r, who->session) < 0)) {
		rc_req_error(dp, w, who, RC_E_NOT_MEMBER, row->type,
			     who->peer.relay != 0 ? "not a member: JOIN again" : row->not_member);
		return;
	}
	if (r->kind == RC_ROOM_REMOTE)
		rc_relay_at_home(dp, w, r, who, m);
	else
		row->fn(dp, w, r, who, m);
}

static void
purge_session(struct rc_dp *dp, struct rc_worker *w, uint64_t session)
{
	uint32_t id, max = rc_room_max_id(dp->rooms);
	struct rc_room *r;

	for (id = 1; id <= max; id++) {
		r = rc_room_lookup_id(dp->rooms, id);
		if (r != NULL && r->home == w->idx && rc_room_member_remove(r, session) &&
		    r->kind == RC_ROOM_REMOTE && r->n_members == 0)
			rc_relay_home_empty(dp, w, r);
	}
}

void
rc_req_work(struct rc_dp *dp, struct rc_worker *w, struct rc_work *wk)
{
	const struct rc_req_row *row;
	const struct rc_str *name;
	struct rc_room *r;

	if (wk->kind == RC_WORK_PURGE) {
		purge_session(dp, w, wk->who.session);
		return;
	}
	if (wk->kind == RC_WORK_RELAY) {
		rc_relay_work(dp, w, wk);
		return;
	}
	row = rc_req_row(wk->req.hdr.type);
	if (row == NULL || row->runs != RC_REQ_ON_HOME)
		return; /* routed by its row on RX: cannot happen */
	if ((row->needs & RC_REQ_LIVE) && wk->who.peer.relay == 0 &&
	    rc_session_lookup(dp->sessions, wk->who.session) == NULL)
		return; /* the session ended (LOGOUT, expiry) while this waited (for its room) */
	if (wk->room_id != 0) {
		r = rc_room_lookup_id(dp->rooms, wk->room_id);
	} else { /* handed on by the control thread once its room was created */
		name = room_name(row, &wk->req);
		r = rc_room_lookup_name(dp->rooms, name->p, name->len);
	}
	if (r == NULL || r->home != w->idx) {
		rc_req_error(dp, w, &wk->who, RC_E_UNKNOWN_ROOM, row->type, "unknown room");
		return;
	}
	if (r->kind == RC_ROOM_HOSTED && !dp->scope_serving[r->scope]) {
		/* the scope stopped being served while this waited in the ring: nothing of
		 * the room is touched (the control thread may be loading it again) */
		rc_req_error(dp, w, &wk->who, RC_E_NOT_OWNER, row->type,
			   "not the owner: these rooms are being moved between the HA pair");
		return;
	}
	run_at_home(dp, w, r, row, &wk->who, &wk->req);
}

/* ---- requests as received ---- */

/* One request of a datagram, decoded, on the worker that received it. */
struct req {
	const struct rc_req_row *row;
	const struct rc_msg *m;
	const uint8_t *raw; /* its bytes in the datagram */
	size_t raw_len;
	const struct rc_str *canon; /* its room's canonical name when not the one in raw */
	struct rc_who who;
};

/* Hands q to another thread, decoded, on ring (bell: its consumer's doorbell, NULL: none):
 * its bytes are copied into the item (the mbuf is freed after RX) and its views moved onto
 * the copy. */
static int
hand_off(struct rc_dp *dp, struct rc_worker *w, struct rte_ring *ring, struct rc_bell *bell,
	 unsigned kind, const struct req *q, uint32_t room_id, enum rc_drop full)
{
	struct rc_work *wk;

	if (q->raw_len > sizeof(wk->msg))
		return -EMSGSIZE;
	if (rte_mempool_get(dp->work_pool, (void **)&wk) != 0) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		return -ENOBUFS;
	}
	wk->kind = (uint8_t)kind;
	wk->room_id = room_id;
	wk->who = q->who;
	wk->msg_len = (uint16_t)q->raw_len;
	memcpy(wk->msg, q->raw, q->raw_len);
	wk->req = *q->m;
	rc_msg_rebase(&wk->req, q->raw, wk->msg);
	if (q->canon != NULL) {
		struct rc_str *v = (struct rc_str *)room_name(q->row, &wk->req);

		memcpy(wk->room, q->canon->p, q->canon->len);
		v->p = wk->room;
		v->len = q->canon->len;
	}
	if (rte_ring_enqueue(ring, wk) != 0) {
		rte_mempool_put(dp->work_pool, wk);
		w->stats.drops[full]++;
		return -ENOBUFS;
	}
	rc_bell_ring(bell);
	return 0;
}

/*
 * One datagram being read. A JOIN that has to create its room goes to the control thread
 * and runs only once the room is stored; the requests for that room later in the same
 * datagram follow it there, so that they run after it, in order (PROTOCOL.md 3: each is
 * answered as if it had come alone, e.g. JOIN + FETCH + POST for a new room).
 */
#define RC_DGRAM_CREATING (RC_MAX_DGRAM / (RC_HDR_LEN + 10)) /* JOINs a datagram can hold */

struct dgram {
	unsigned n_logins;
	unsigned n_creating;
	uint8_t len[RC_DGRAM_CREATING];
	char creating[RC_DGRAM_CREATING][RC_MAX_ROOM]; /* canonical names */
};

static bool
dgram_creating(const struct dgram *d, const struct rc_str *name)
{
	unsigned i;

	for (i = 0; i < d->n_creating; i++)
		if (d->len[i] == name->len && memcmp(d->creating[i], name->p, name->len) == 0)
			return true;
	return false;
}

/* A request whose room does not exist (yet): one whose row creates its room (JOIN) asks the
 * control thread to; a request after such a one in the same datagram goes to the control
 * thread too, to run after the creation; anything else names an unknown room. */
static void
room_missing(struct rc_dp *dp, struct rc_worker *w, struct dgram *d, const struct req *q,
	     const struct rc_str *name)
{
	bool follows = d != NULL && dgram_creating(d, name);

	unsigned where;

	/* a home node's refresh of its copy (a node-level RJOIN, session 0) keeps an interest
	 * alive: it never creates the room again (the operator deleted it) */
	if ((!(q->row->needs & RC_REQ_CREATES) && !follows) ||
	    (q->who.alias != 0 && q->who.session == 0)) {
		/* a room another node hosts, with no copy here (it has just moved back to its
		 * host, or this session never joined it through us): the session is no member
		 * of it here; ERROR 2 makes the client JOIN again and resend (PROTOCOL.md 6) */
		if (d != NULL && rc_room_resolve(dp, name, &where) == RC_ROOM_REMOTE)
			rc_req_error(dp, w, &q->who, RC_E_NOT_MEMBER, q->row->type,
				     "not a member: JOIN again");
		else
			rc_req_error(dp, w, &q->who, RC_E_UNKNOWN_ROOM, q->row->type,
				     "unknown room");
		return;
	}
	if (hand_off(dp, w, dp->ctrl_ring, dp->ctrl_bell, RC_WORK_CREATE_ROOM, q, 0,
		     RC_DROP_RING_CTRL) != 0) {
		rc_req_error(dp, w, &q->who, RC_E_BUSY, q->row->type, "busy, retry");
		return;
	}
	if (!follows && d != NULL && d->n_creating < RC_DGRAM_CREATING) {
		d->len[d->n_creating] = (uint8_t)name->len;
		memcpy(d->creating[d->n_creating++], name->p, name->len);
	}
}

/* A request for a room hosted here while the node or its scope does not serve rooms:
 * refused (answered), true. */
static bool
hosted_refused(struct rc_dp *dp, struct rc_worker *w, const struct req *q, unsigned scope)
{
	if (dp->rooms_blocked != RC_ROOMS_SERVED) {
		rc_req_error(dp, w, &q->who, RC_E_NOT_OWNER, q->row->type,
			     dp->rooms_blocked == RC_ROOMS_TC_STOPPED ?
				     "text conference service stopped on this node" :
				     "persistent chat is disabled");
		return true;
	}
	if (!dp->scope_serving[scope]) {
		rc_req_error(dp, w, &q->who, RC_E_NOT_OWNER, q->row->type,
			     dp->scope_away[scope] ? dp->scope_away_text[scope] :
			     "not the owner: these rooms are being moved between the HA pair");
		return true;
	}
	return false;
}

/* q for room r (NULL: none yet, `name` canonical) runs on r's home worker, or waits for the
 * room's creation on the control thread. d: the datagram q came in (NULL: relayed). */
static void
room_run(struct rc_dp *dp, struct rc_worker *w, struct dgram *d, const struct req *q,
	 struct rc_room *r, const struct rc_str *name)
{
	if (r == NULL || (d != NULL && d->n_creating != 0 && dgram_creating(d, name))) {
		room_missing(dp, w, d, q, name);
		return;
	}
	if (r->home == w->idx) {
		run_at_home(dp, w, r, q->row, &q->who, q->m);
		return;
	}
	if (hand_off(dp, w, dp->workers[r->home]->in, &dp->workers[r->home]->bell, q->row->work,
		     q, r->id, RC_DROP_RING_WORKER) != 0)
		rc_req_error(dp, w, &q->who, RC_E_BUSY, q->row->type, "busy, retry");
	else
		w->stats.forwarded++;
}

/* Takes q's cost for room r (NULL: none) from session s's budget (budget.h); false when
 * over it: answered ERROR 4, counted. */
static bool
within_budget(struct rc_dp *dp, struct rc_worker *w, struct rc_session *s,
	      const struct req *q, const struct rc_room *r)
{
	if (rc_budget_take(dp, s, rc_budget_cost(dp, q->row->cost, r, q->m)))
		return true;
	w->stats.drops[RC_DROP_REQUEST_BUDGET]++;
	rc_req_error(dp, w, &q->who, RC_E_RATE_LIMITED, q->row->type,
		     "over the request budget, slow down");
	return false;
}

static void
room_request(struct rc_dp *dp, struct rc_worker *w, struct dgram *d, struct rc_session *s,
	     struct req *q)
{
	char buf[RC_MAX_ROOM];
	struct rc_str name;
	struct rc_room *r;
	unsigned where = 0;
	int kind, rc;

	rc = rc_room_canonical(dp, room_name(q->row, q->m), s->peer.vip, buf, &name);
	if (rc != 0) {
		rc_req_error(dp, w, &q->who, rc == -EMSGSIZE ? RC_E_TOO_LARGE : RC_E_UNKNOWN_ROOM,
			     q->row->type, rc == -EMSGSIZE ? "room name too long with its service"
							   : "unknown room: no service here yet");
		return;
	}
	q->canon = &name;
	r = rc_room_lookup_name(dp->rooms, name.p, name.len);
	kind = r != NULL ? r->kind : rc_room_resolve(dp, &name, &where);
	if (kind < 0) {
		rc_relay_no_service(dp, w, &q->who, q->row->type, &name);
		return;
	}
	/* a remote room is its host's to refuse */
	if (kind == RC_ROOM_HOSTED && hosted_refused(dp, w, q, r != NULL ? r->scope : where))
		return;
	if (!within_budget(dp, w, s, q, r))
		return;
	if ((q->row->needs & RC_REQ_RATED) &&
	    !rc_session_take_token(s, rc_mono_ms(), dp->post_rate, dp->post_burst)) {
		rc_req_error(dp, w, &q->who, RC_E_RATE_LIMITED, q->row->type, "slow down");
		return;
	}
	room_run(dp, w, d, q, r, &name);
}

void
rc_req_relayed(struct rc_dp *dp, struct rc_worker *w, const struct rc_who *who,
	       const struct rc_msg *m, const uint8_t *raw, size_t raw_len, uint32_t room_id)
{
	struct req q = { .row = &rows[m->hdr.type], .m = m, .raw = raw, .raw_len = raw_len,
			 .who = *who };
	const struct rc_str *name = room_id == 0 ? room_name(q.row, m) : NULL;
	struct rc_room *r = room_id != 0 ? rc_room_lookup_id(dp->rooms, room_id)
					 : rc_room_lookup_name(dp->rooms, name->p, name->len);
	unsigned where = 0;

	if (r == NULL && room_id != 0) { /* not (or no longer) here: the client re-JOINs */
		rc_req_error(dp, w, who, RC_E_NOT_MEMBER, q.row->type, "not a member: JOIN again");
		return;
	}
	/* a node's own refresh never creates a room: only a user's JOIN does */
	if ((r != NULL && r->kind != RC_ROOM_HOSTED) ||
	    (r == NULL && (who->session == 0 ||
			   rc_room_resolve(dp, name, &where) != RC_ROOM_HOSTED))) {
		rc_req_error(dp, w, who, RC_E_UNKNOWN_ROOM, q.row->type,
			     "unknown room: not hosted by this node");
		return;
	}
	if (!hosted_refused(dp, w, &q, r != NULL ? r->scope : where))
		room_run(dp, w, NULL, &q, r, name);
}

static void
who_from_session(struct rc_who *who, const struct rc_session *s, const struct rc_peer *peer,
		 const struct rc_hdr *h, unsigned rx_worker)
{
	who->session = s->id;
	who->request_id = h->request_id;
	who->user_len = s->user_len;
	who->rx_worker = (uint8_t)rx_worker;
	who->peer = *peer;
	who->rx_ns = 0;
	memcpy(who->user, s->user, s->user_len);
}

static void
session_request(struct rc_dp *dp, struct rc_worker *w, struct dgram *d,
		const struct rc_peer *peer, struct req *q)
{
	struct rc_session *s = rc_session_lookup(dp->sessions, q->m->hdr.session);
	struct rc_msg r;

	if (s == NULL && (q->row->needs & RC_REQ_GONE_BYE)) {
		/* the session is gone already (its BYE was lost, it expired): a BYE is no
		 * larger than the request (PROTOCOL.md 7.10) */
		rc_req_hdr(&r, RC_T_BYE, 0, q->m->hdr.request_id);
		rc_tx_msg(dp, w, peer, &r);
		return;
	}
	if (s == NULL || s->peer.ip != peer->ip || s->peer.udp_port != peer->udp_port) {
		send_error_unauth(dp, w, peer, &q->m->hdr, q->raw_len, RC_E_NOT_AUTH,
				  "not authenticated: LOGIN first");
		return;
	}
	rc_session_touch(s, rc_mono_ms());
	who_from_session(&q->who, s, peer, &q->m->hdr, w->idx);
	q->who.rx_ns = w->rx_ns;
	/* ending a session is never refused; a room's request pays once its room is known */
	if (q->row->runs != RC_REQ_ON_HOME && !(q->row->needs & RC_REQ_GONE_BYE) &&
	    !within_budget(dp, w, s, q, NULL))
		return;
	switch (q->row->runs) {
	case RC_REQ_ON_RX:
		q->row->fn(dp, w, NULL, &q->who, q->m);
		break;
	case RC_REQ_ON_CONTROL:
		if (hand_off(dp, w, dp->ctrl_ring, dp->ctrl_bell, q->row->work, q, 0,
			     RC_DROP_RING_CTRL) != 0)
			rc_req_error(dp, w, &q->who, RC_E_BUSY, q->row->type, "busy, retry");
		break;
	default:
		room_request(dp, w, d, s, q);
	}
}

/* A request without a session: the LOGIN that makes one, verified by the control thread
 * once the worker admits it (login.h). */
static void
sessionless_request(struct rc_dp *dp, struct rc_worker *w, struct dgram *d,
		    const struct rc_peer *peer, struct req *q)
{
	if (!rc_login_admit(dp, w, peer, q->m, q->raw_len, d->n_logins++))
		return;
	q->who = (struct rc_who){ .request_id = q->m->hdr.request_id,
				  .rx_worker = (uint8_t)w->idx, .peer = *peer };
	if (hand_off(dp, w, dp->login_ring, dp->ctrl_bell, q->row->work, q, 0,
		     RC_DROP_RING_LOGIN) != 0) {
		w->stats.logins_busy++;
		send_error_unauth(dp, w, peer, &q->m->hdr, q->raw_len, RC_E_BUSY, "busy, retry");
	}
}

static void
bad_message(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	    const struct rc_msg *m, int rc)
{
	struct rc_session *s;
	struct rc_who who;

	s = rc == -EPROTO ? NULL : rc_session_lookup(dp->sessions, m->hdr.session);
	if (s == NULL || s->peer.ip != peer->ip || s->peer.udp_port != peer->udp_port) {
		w->stats.drops[RC_DROP_MSG_MALFORMED]++;
		return;
	}
	who_from_session(&who, s, peer, &m->hdr, w->idx);
	rc_req_error(dp, w, &who, rc_decode_err_code(rc), m->hdr.type,
		   rc == -EMSGSIZE ? "a field is too large" :
		   rc == -EILSEQ  ? "invalid UTF-8" :
		   rc == -ENOMSG  ? "unknown message type" : "malformed message");
}

static void
dispatch(struct rc_dp *dp, struct rc_worker *w, struct dgram *d, const struct rc_peer *peer,
	 struct req *q)
{
	w->stats.msgs_in[q->m->hdr.type]++;
	if (q->row->runs == RC_REQ_REFUSED || q->row->runs == RC_REQ_UNLISTED)
		w->stats.drops[RC_DROP_MSG_UNEXPECTED]++;
	else if (q->row->needs & RC_REQ_SESSION)
		session_request(dp, w, d, peer, q);
	else
		sessionless_request(dp, w, d, peer, q);
}

void
rc_req_input(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	     const uint8_t *p, uint16_t len)
{
	size_t off = 0, used;
	struct dgram d = { .n_logins = 0, .n_creating = 0 };
	struct rc_msg m;
	struct req q;
	int rc;

	while (off < len) {
		memset(&m.hdr, 0, sizeof(m.hdr));
		rc = rc_decode(p + off, len - off, &m, &used);
		if (used == 0)
			used = len - off;
		if (rc != 0 && (len - off < RC_HDR_LEN ||
				RC_HDR_LEN + (size_t)m.hdr.body_len > len - off)) {
			/* cannot be delimited (PROTOCOL.md 3): fewer than 20 bytes left, or a
			 * body_len past the end: its header is not trusted, nothing is answered,
			 * and it ends the datagram (bad magic / version are -EPROTO: the same) */
			w->stats.drops[RC_DROP_MSG_MALFORMED]++;
			return;
		}
		if (rc != 0) {
			bad_message(dp, w, peer, &m, rc);
		} else {
			q = (struct req){ .row = &rows[m.hdr.type], .m = &m, .raw = p + off,
					  .raw_len = used };
			dispatch(dp, w, &d, peer, &q);
		}
		off += used;
	}
}

static void
send_not_stored(struct rc_dp *dp, struct rc_worker *w, const struct rc_reply_ctx *c,
		const char *text)
{
	struct rc_msg m;

	rc_req_hdr(&m, RC_T_ERROR, c->session, c->request_id);
	m.u.error.code = RC_E_BUSY;
	m.u.error.ref_type = RC_T_POST;
	m.u.error.text.p = text;
	m.u.error.text.len = (uint16_t)strlen(text);
	rc_tx_msg(dp, w, &c->peer, &m);
}

/* A record the WAL did not store (see do_post for the rule). */
static void
post_not_stored(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
		const struct rc_wal_rec *rec, const struct rc_reply_ctx *c)
{
	if (rec->status == -EEXIST) {
		/* the room already has this seq (another record): no gap, but the room's
		 * counter and its storage disagree: an alarm. This POST was not stored. */
		r->seq_conflicts++;
		w->stats.seq_conflicts++;
		rc_dedup_forget_seq(r->dedup, rec->seq);
	} else if (c->seq_gen == r->seq_gen && rec->seq < r->next_seq) {
		/* the first failure of this generation: its seq, and those after it (refused
		 * by the WAL behind it), are handed back */
		r->next_seq = rec->seq;
		r->seq_gen++;
		rc_dedup_forget_from(r->dedup, rec->seq);
		w->stats.seqs_handed_back++;
	}
	send_not_stored(dp, w, c, "not stored, retry");
}

void
rc_req_committed(struct rc_dp *dp, struct rc_worker *w, struct rc_wal_rec *rec)
{
	const struct rc_reply_ctx *c = (const struct rc_reply_ctx *)rec->ctx;
	struct rc_room *r;
	struct rc_msg m;

	if (rec->kind != RC_WAL_MSG)
		return;
	r = rc_room_lookup_id(dp->rooms, rec->room_id);
	if (r == NULL)
		return; /* the room was unloaded meanwhile (HA): its window went with it */
	if (c->incarnation != r->incarnation) {
		/* the room was unloaded and loaded again meanwhile: this record belongs to the
		 * old instance (stored, or truncated away since): it changes nothing of the new
		 * one; the client's resend is answered by whatever the new one holds */
		send_not_stored(dp, w, c, "not confirmed, retry");
		return;
	}
	if (rec->status != 0 && rec->status != -ENOTCONN) {
		post_not_stored(dp, w, r, rec, c);
		return;
	}
	/* stored here: the window keeps it, whatever is answered now */
	__atomic_store_n(&r->last_committed, rec->seq, __ATOMIC_RELEASE);
	rc_dedup_stored(r->dedup, rec->seq, rec->user, rec->user_len, rec->cmid);
	if (rec->status == -ENOTCONN) {
		/* stored, but the HA peer did not confirm it before the WAL stopped: no ACK.
		 * The resend is answered with this seq by whichever node serves the room. */
		send_not_stored(dp, w, c, "not confirmed by the HA peer, retry");
		return;
	}
	if (dp->guard[r->scope] != NULL &&
	    !rc_lease_guard_ok(dp->guard[r->scope], rc_lease_mono_ms())) {
		/* stored, but our lease may be gone: never acknowledge it now. It stays known
		 * as stored: a resend (same cmid) is acknowledged with this seq if we still
		 * serve the room then; a new owner holds the record if it was replicated (same
		 * seq) or stores the resend anew (this copy is then truncated away when this
		 * node rejoins the stream). Members FETCH it like any missed DELIVER. */
		__atomic_fetch_add(&dp->fenced_acks, 1, __ATOMIC_RELAXED);
		return;
	}
	r->posts++;
	w->stats.posts_stored++;
	send_ack(dp, w, &c->peer, c->session, c->request_id, rc_reply_room_id(r->id, c->alias),
		 rec->cmid, rec->seq);

	rc_req_hdr(&m, RC_T_DELIVER, 0, 0);
	m.u.deliver.room_id = r->id;
	m.u.deliver.seq = rec->seq;
	m.u.deliver.ts_ms = rec->ts_ms;
	m.u.deliver.cmid = rec->cmid;
	m.u.deliver.sender.p = rec->user;
	m.u.deliver.sender.len = rec->user_len;
	m.u.deliver.body.p = rec->body;
	m.u.deliver.body.len = rec->body_len;
	if (r->n_node_members != 0)
		rc_relay_prune(dp, r, rc_mono_ms());
	rc_fanout_add(dp, w, r, &m);
}
