/* SPDX-License-Identifier: MIT */
/*
 * What relayed messages mean (relay_rooms.h): names, remote rooms at the home node, node
 * members and relayed requests at the host.
 */
#include "relay_rooms.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_mempool.h>

#include "fanout.h"
#include "relay.h"
#include "request.h"
#include "session.h"

#define NODE_USER "node" /* the user of a node-level RJOIN (the codec wants one) */

/* ---- names ---- */

int
rc_room_canonical(struct rc_dp *dp, const struct rc_str *in, unsigned vip, char *buf,
		  struct rc_str *out)
{
	const char *svc;
	size_t slen;

	if (memchr(in->p, '@', in->len) != NULL) {
		*out = *in;
		return 0;
	}
	svc = rc_relay_scope_service(dp, vip & 1);
	slen = strlen(svc);
	if (slen == 0)
		return -ENOENT;
	if ((size_t)in->len + 1 + slen > RC_MAX_ROOM)
		return -EMSGSIZE;
	memcpy(buf, in->p, in->len);
	buf[in->len] = '@';
	memcpy(buf + in->len + 1, svc, slen);
	out->p = buf;
	out->len = (uint16_t)(in->len + 1 + slen);
	return 0;
}

static bool
same_service(const char *svc, const char *p, size_t len)
{
	return svc[0] != '\0' && strlen(svc) == len && memcmp(svc, p, len) == 0;
}

int
rc_room_resolve(struct rc_dp *dp, const struct rc_str *name, unsigned *where)
{
	const char *at = memrchr(name->p, '@', name->len);
	const char *svc;
	size_t len;
	int idx;
	unsigned s;

	if (at == NULL)
		return -ENOENT;
	svc = at + 1;
	len = (size_t)(name->p + name->len - svc);
	/* ours, or the HA peer's while we serve it (or answer for it while it is away, HA off:
	 * ERROR 8 "unavailable until it returns"); otherwise the peer is one more host */
	for (s = 0; s < RC_MAX_SCOPES; s++) {
		if (!same_service(rc_relay_scope_service(dp, s), svc, len))
			continue;
		if (s == 0 || dp->scope_serving[s] || dp->scope_away[s]) {
			*where = s;
			return RC_ROOM_HOSTED;
		}
	}
	idx = rc_relay_find_service(dp, svc, (unsigned)len);
	if (idx < 0)
		return -ENOENT;
	*where = (unsigned)idx;
	return RC_ROOM_REMOTE;
}

void
rc_relay_no_service(struct rc_dp *dp, struct rc_worker *w, const struct rc_who *who,
		    unsigned type, const struct rc_str *name)
{
	const char *at = memrchr(name->p, '@', name->len);
	char text[RC_MAX_ERRTEXT + 1];
	int n = at == NULL ? 0 : (int)(name->p + name->len - at - 1);

	snprintf(text, sizeof(text), "unknown room: no service %.*s", n, at == NULL ? "" : at + 1);
	rc_req_error(dp, w, who, RC_E_UNKNOWN_ROOM, type, text);
}

/* ---- sending ---- */

/* m to the host of remote room r. An unreachable host (MAC unknown yet): dropped, counted
 * by rc_relay_peer_of; the client's resend or the next refresh repeats it. */
static int
to_host(struct rc_dp *dp, struct rc_worker *w, const struct rc_room *r,
	const struct rc_msg *m)
{
	struct rc_peer host;
	int rc = rc_relay_peer_of(dp, r->host_node, &host);

	if (rc != 0)
		return rc;
	rc = rc_tx_msg(dp, w, &host, m);
	if (rc == 0)
		w->relay_stats.requests_out[m->hdr.type]++;
	return rc;
}

/* ---- home side: a remote room's requests ---- */

/* A JOIN of remote room r: relayed; the session becomes a member here when the host's
 * JOINED comes back (home_joined), so that a JOIN the host refuses (ERROR) leaves nothing. */
static void
home_join(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who,
	  const struct rc_msg *req)
{
	struct rc_msg m;

	if (r->n_members >= dp->max_members && rc_room_member_find(r, who->session) < 0) {
		rc_req_error(dp, w, who, RC_E_LIMIT_REACHED, RC_T_JOIN, "room is full");
		return;
	}
	/* the host answers the client (JOINED, history, or ERROR) through us */
	rc_req_hdr(&m, RC_T_RJOIN, who->session, who->request_id);
	m.u.rjoin.alias = r->id;
	m.u.rjoin.since_seq = req->u.join.since_seq;
	m.u.rjoin.user.p = who->user;
	m.u.rjoin.user.len = who->user_len;
	m.u.rjoin.room.p = r->name;
	m.u.rjoin.room.len = r->name_len;
	to_host(dp, w, r, &m);
}

static void
home_leave(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_who *who)
{
	struct rc_msg m;

	rc_room_member_remove(r, who->session); /* a member: checked (run_at_home) */
	rc_req_hdr(&m, RC_T_LEFT, who->session, who->request_id);
	m.u.left.room_id = r->id;
	rc_tx_msg(dp, w, &who->peer, &m);
	if (r->n_members == 0)
		rc_relay_home_empty(dp, w, r);
}

void
rc_relay_home_empty(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r)
{
	struct rc_msg m;
	uint32_t host_id = __atomic_load_n(&r->host_room_id, __ATOMIC_RELAXED);

	if (host_id == 0)
		return; /* the host never told its id: its node member expires by itself */
	rc_req_hdr(&m, RC_T_RLEAVE, 0, 0);
	m.u.rleave.room_id = host_id;
	m.u.rleave.alias = r->id;
	to_host(dp, w, r, &m);
}

void
rc_relay_at_home(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
		 const struct rc_who *who, const struct rc_msg *req)
{
	uint32_t host_id = __atomic_load_n(&r->host_room_id, __ATOMIC_RELAXED);
	unsigned type = req->hdr.type;
	struct rc_msg m;

	if (type == RC_T_JOIN) {
		home_join(dp, w, r, who, req);
		return;
	}
	if (type == RC_T_LEAVE) {
		home_leave(dp, w, r, who);
		return;
	}
	if (host_id == 0) { /* no RJOINED yet: the client's resend finds it */
		rc_req_error(dp, w, who, RC_E_BUSY, type, "busy: the room's host has not answered yet, retry");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.hdr.session = who->session;
	m.hdr.request_id = who->request_id;
	if (type == RC_T_POST) {
		m.hdr.type = RC_T_RPOST;
		m.u.rpost = (typeof(m.u.rpost)){ host_id, r->id, req->u.post.cmid,
						 { who->user, who->user_len }, req->u.post.body };
	} else if (type == RC_T_FETCH) {
		m.hdr.type = RC_T_RFETCH;
		m.u.rfetch = (typeof(m.u.rfetch)){ host_id, r->id, req->u.fetch.from_seq,
						   req->u.fetch.max };
	} else if (type == RC_T_MEMBERS) {
		m.hdr.type = RC_T_RMEMBERS;
		m.u.rmembers.room_id = host_id;
		m.u.rmembers.alias = r->id;
	} else {
		return;
	}
	to_host(dp, w, r, &m);
}

/* ---- home side: the host's node-level messages, at the remote room's home worker ---- */

/* A node-level gap fill: seqs [from, to) of remote room r were not seen. */
static void
ask_gap(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, uint64_t from, uint64_t to)
{
	struct rc_msg m;
	uint64_t n = to - from;

	w->relay_stats.gaps++;
	rc_req_hdr(&m, RC_T_RFETCH, 0, 0);
	m.u.rfetch.room_id = __atomic_load_n(&r->host_room_id, __ATOMIC_RELAXED);
	m.u.rfetch.alias = r->id;
	m.u.rfetch.from_seq = from;
	m.u.rfetch.max = (uint16_t)(n > RC_MAX_FETCH ? RC_MAX_FETCH : n);
	if (m.u.rfetch.room_id != 0)
		to_host(dp, w, r, &m);
}

/*
 * Whether the DELIVER of seq is new to remote room r (then it is marked seen). last_seq is
 * the highest seq with nothing missing before it, seen_above the 64 seqs after it; one
 * further ahead moves the window (what falls out of it counts as seen: a late copy of it
 * may reach the members twice, never zero times). A new gap asks the host for it.
 */
static bool
deliver_new(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, uint64_t seq)
{
	uint64_t last = r->last_seq;

	if (last == 0) /* no position yet: the stream starts here */
		last = seq - 1;
	if (seq <= last || (seq - last <= 64 && (r->seen_above >> (seq - last - 1)) & 1)) {
		w->relay_stats.duplicates++;
		return false;
	}
	if (seq > r->top_seq + 1 && r->top_seq >= last && r->last_seq != 0)
		ask_gap(dp, w, r, r->top_seq + 1, seq);
	while (seq - last > 64) { /* out of the window: given up on */
		last++;
		r->seen_above >>= 1;
	}
	r->seen_above |= 1ULL << (seq - last - 1);
	while (r->seen_above & 1) {
		last++;
		r->seen_above >>= 1;
	}
	__atomic_store_n(&r->last_seq, last, __ATOMIC_RELAXED);
	if (seq > r->top_seq)
		r->top_seq = seq;
	return true;
}

/* The host accepted a session's JOIN (its JOINED, already forwarded): a member here. */
static void
home_joined(struct rc_dp *dp, struct rc_room *r, const struct rc_msg *m)
{
	struct rc_session *s = rc_session_lookup(dp->sessions, m->hdr.session);
	struct rc_member mem;

	if (s == NULL)
		return; /* it ended meanwhile */
	mem = (struct rc_member){ .session = s->id, .peer = s->peer, .user_len = s->user_len };
	memcpy(mem.user, s->user, s->user_len);
	(void)rc_room_member_add(r, &mem, dp->max_members); /* a member already: as it was */
}

static void
home_rjoined(struct rc_room *r, const struct rc_msg *m)
{
	__atomic_store_n(&r->host_room_id, m->u.rjoined.room_id, __ATOMIC_RELAXED);
	r->host_last_seq = m->u.rjoined.last_seq;
	if (r->last_seq == 0) { /* our position: what the host had when we first joined */
		__atomic_store_n(&r->last_seq, m->u.rjoined.last_seq, __ATOMIC_RELAXED);
		r->top_seq = m->u.rjoined.last_seq;
		r->seen_above = 0;
	}
}

/*
 * A node-level message m for remote room r, at r's home. Any node
 * of the directory may send it, not only the one whose service hosts the room: after a
 * takeover the room's backup serves it and sends from its own address (relay.h); the alias
 * is ours and seqs are the room's, so a late copy from the former host is a duplicate.
 */
static void
home_node_msg(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r, const struct rc_msg *m)
{
	if (r->kind != RC_ROOM_REMOTE)
		return; /* the room is hosted here now */
	if (m->hdr.type == RC_T_RJOINED) {
		home_rjoined(r, m);
		return;
	}
	if (m->hdr.type == RC_T_JOINED) {
		home_joined(dp, r, m);
		return;
	}
	w->relay_stats.delivers_in++;
	if (deliver_new(dp, w, r, m->u.deliver.seq))
		rc_fanout_room(dp, w, r, m);
}

void
rc_relay_work(struct rc_dp *dp, struct rc_worker *w, struct rc_work *wk)
{
	struct rc_room *r = rc_room_lookup_id(dp->rooms, wk->room_id);

	if (r != NULL && r->home == w->idx)
		home_node_msg(dp, w, r, &wk->req);
}

/* Another node's ROOMS (the rooms we host, for its room directory) or its answer to ours
 * (a node-level ROOM_LIST): to the control thread, decoded, from that node. */
static void
to_control(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *from, unsigned kind,
	   const struct rc_msg *m, const uint8_t *raw, size_t raw_len)
{
	struct rc_work *wk;

	if (raw_len > sizeof(wk->msg) || rte_mempool_get(dp->work_pool, (void **)&wk) != 0) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		return;
	}
	wk->kind = (uint8_t)kind;
	wk->room_id = 0;
	memset(&wk->who, 0, sizeof(wk->who));
	wk->who.session = m->hdr.session;
	wk->who.request_id = m->hdr.request_id;
	wk->who.rx_worker = (uint8_t)w->idx;
	wk->who.peer = *from;
	wk->msg_len = (uint16_t)raw_len;
	memcpy(wk->msg, raw, raw_len);
	wk->req = *m;
	rc_msg_rebase(&wk->req, raw, wk->msg);
	if (rte_ring_enqueue(dp->ctrl_ring, wk) != 0) {
		rte_mempool_put(dp->work_pool, wk);
		w->stats.drops[RC_DROP_RING_CTRL]++;
		return;
	}
	rc_bell_ring(dp->ctrl_bell);
}

/* A host's DELIVER or RJOINED for our remote room `alias`, or its JOINED of one of our
 * sessions: to the room's home worker. */
static void
to_remote_room(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *from, uint32_t alias,
	       const struct rc_msg *m, const uint8_t *raw, size_t raw_len)
{
	struct rc_room *r = rc_room_lookup_id(dp->rooms, alias);
	struct rc_work *wk;

	if (r == NULL || r->kind != RC_ROOM_REMOTE)
		return;
	if (r->home == w->idx) {
		home_node_msg(dp, w, r, m);
		return;
	}
	if (rte_mempool_get(dp->work_pool, (void **)&wk) != 0) {
		w->stats.drops[RC_DROP_NO_MBUF]++;
		return;
	}
	wk->kind = RC_WORK_RELAY;
	wk->room_id = alias;
	memset(&wk->who, 0, sizeof(wk->who));
	wk->who.peer = *from;
	wk->msg_len = (uint16_t)raw_len;
	memcpy(wk->msg, raw, raw_len);
	wk->req = *m;
	rc_msg_rebase(&wk->req, raw, wk->msg);
	if (rc_worker_push(dp->workers[r->home], dp->workers[r->home]->in, wk) != 0) {
		rte_mempool_put(dp->work_pool, wk);
		w->stats.drops[RC_DROP_RING_WORKER]++;
	}
}

/* A host's reply to one of our sessions: forwarded as it is. */
static void
forward_reply(struct rc_dp *dp, struct rc_worker *w, const struct rc_msg *m,
	      const uint8_t *raw, size_t raw_len)
{
	struct rc_session *s = rc_session_lookup(dp->sessions, m->hdr.session);

	if (s == NULL) {
		w->stats.drops[RC_DROP_MSG_UNEXPECTED]++; /* it ended meanwhile */
		return;
	}
	if (rc_tx_append(dp, w, &s->peer, raw, (uint16_t)raw_len) == 0) {
		w->relay_stats.replies_forwarded++;
		w->stats.msgs_out[m->hdr.type]++;
	}
}

/* ---- host side ---- */

int
rc_relay_node_join(struct rc_dp *dp, struct rc_worker *w, struct rc_room *r,
		   const struct rc_who *who)
{
	struct rc_member mem = { .peer = who->peer, .alias = who->alias,
				 .refreshed_ms = rc_mono_ms() };
	struct rc_msg m;
	int rc = rc_room_node_set(r, &mem, dp->max_members);

	if (rc != 0)
		return rc;
	rc_req_hdr(&m, RC_T_RJOINED, 0, who->request_id);
	m.u.rjoined.alias = who->alias;
	m.u.rjoined.room_id = r->id;
	m.u.rjoined.last_seq = __atomic_load_n(&r->last_committed, __ATOMIC_RELAXED);
	rc_tx_msg(dp, w, &who->peer, &m);
	return 0;
}

bool
rc_relay_node_ok(const struct rc_room *r, const struct rc_who *who)
{
	int i = rc_room_node_find(r, who->peer.relay);

	return i >= 0 && r->members[i].alias == who->alias;
}

void
rc_relay_prune(struct rc_dp *dp, struct rc_room *r, uint64_t now_ms)
{
	uint64_t period = dp->relay_refresh_ms != 0 ? dp->relay_refresh_ms : RC_RELAY_REFRESH_MS;
	unsigned i = 0;

	while (i < r->n_members) {
		const struct rc_member *mb = &r->members[i];

		if (mb->peer.relay != 0 &&
		    now_ms - mb->refreshed_ms > RC_RELAY_MISSED_REFRESHES * period)
			rc_room_member_remove_at(r, i); /* the last one moved to i */
		else
			i++;
	}
}

/* A relayed request as the client request it stands for (request.h: rc_req_relayed). */
static void
host_request(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *from,
	     const struct rc_msg *m, const uint8_t *raw, size_t raw_len)
{
	struct rc_who who = { .session = m->hdr.session, .request_id = m->hdr.request_id,
			      .rx_worker = (uint8_t)w->idx, .peer = *from,
			      .rx_ns = w->rx_ns };
	struct rc_msg t;
	uint32_t room_id = 0;
	const struct rc_str *user = NULL;

	rc_req_hdr(&t, 0, m->hdr.session, m->hdr.request_id);
	switch (m->hdr.type) {
	case RC_T_RJOIN:
		t.hdr.type = RC_T_JOIN;
		t.u.join.room = m->u.rjoin.room;
		t.u.join.since_seq = m->u.rjoin.since_seq;
		who.alias = m->u.rjoin.alias;
		user = &m->u.rjoin.user;
		break;
	case RC_T_RPOST:
		t.hdr.type = RC_T_POST;
		t.u.post.cmid = m->u.rpost.cmid;
		t.u.post.body = m->u.rpost.body;
		room_id = m->u.rpost.room_id;
		who.alias = m->u.rpost.alias;
		user = &m->u.rpost.user;
		break;
	case RC_T_RFETCH:
		t.hdr.type = RC_T_FETCH;
		t.u.fetch.from_seq = m->u.rfetch.from_seq;
		t.u.fetch.max = m->u.rfetch.max;
		room_id = m->u.rfetch.room_id;
		who.alias = m->u.rfetch.alias;
		break;
	default: /* RLEAVE, RMEMBERS */
		t.hdr.type = m->hdr.type == RC_T_RLEAVE ? RC_T_LEAVE : RC_T_MEMBERS;
		room_id = m->u.rref.room_id;
		who.alias = m->u.rref.alias;
	}
	if (who.alias == 0 || (m->hdr.type != RC_T_RJOIN && room_id == 0))
		return; /* 0 is no room id: a reply could not name the room */
	if (user != NULL) {
		who.user_len = (uint8_t)user->len;
		memcpy(who.user, user->p, user->len);
	}
	rc_req_relayed(dp, w, &who, &t, raw, raw_len, room_id);
}

/* ---- the relay input ---- */

static bool
is_relayed_request(unsigned type)
{
	return type == RC_T_RJOIN || type == RC_T_RPOST || type == RC_T_RFETCH ||
	       type == RC_T_RLEAVE || type == RC_T_RMEMBERS;
}

static void
relay_msg(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *from, const struct rc_msg *m,
	  const uint8_t *raw, size_t raw_len)
{
	unsigned type = m->hdr.type;

	if (is_relayed_request(type))
		host_request(dp, w, from, m, raw, raw_len);
	else if (type == RC_T_ROOMS)
		to_control(dp, w, from, RC_WORK_ROOMS, m, raw, raw_len);
	else if (type == RC_T_ROOM_LIST && m->hdr.session == 0)
		to_control(dp, w, from, RC_WORK_ROOM_DIR, m, raw, raw_len);
	else if (type == RC_T_RJOINED)
		to_remote_room(dp, w, from, m->u.rjoined.alias, m, raw, raw_len);
	else if (m->hdr.session != 0 && type == RC_T_JOINED) {
		forward_reply(dp, w, m, raw, raw_len);
		to_remote_room(dp, w, from, m->u.joined.room_id, m, raw, raw_len);
	} else if (m->hdr.session != 0)
		forward_reply(dp, w, m, raw, raw_len);
	else if (type == RC_T_DELIVER)
		to_remote_room(dp, w, from, m->u.deliver.room_id, m, raw, raw_len);
	/* else a node-level FETCH_END or ERROR: the next refresh or gap repeats the ask */
}

void
rc_relay_inner(struct rc_dp *dp, struct rc_worker *w, unsigned idx,
	       const struct rc_peer *from, const uint8_t *bundle, uint16_t len)
{
	size_t off = 0, used;
	struct rc_msg m;

	(void)idx; /* `from` names the sender too (rc_relay_idx) */
	while (off < len) {
		if (rc_decode(bundle + off, len - off, &m, &used) != 0 || used == 0) {
			w->stats.drops[RC_DROP_MSG_MALFORMED]++;
			return; /* the sender is trusted: a bad message is a bug, not an attack */
		}
		w->relay_stats.msgs_in++;
		relay_msg(dp, w, from, &m, bundle + off, used);
		off += used;
	}
}

/* ---- control thread: the refresh ---- */

struct refresh {
	struct rc_dp *dp;
	uint64_t mask; /* host nodes whose rooms are refreshed now; ~0: all */
};

static int
refresh_room(void *arg, struct rc_room *r)
{
	const struct refresh *f = arg;
	struct rc_msg m;
	struct rc_peer host;

	if (r->kind != RC_ROOM_REMOTE || __atomic_load_n(&r->n_members, __ATOMIC_RELAXED) == 0 ||
	    !(f->mask >> (r->host_node & 63) & 1) ||
	    rc_relay_peer_of(f->dp, r->host_node, &host) != 0)
		return 0;
	rc_req_hdr(&m, RC_T_RJOIN, 0, 0);
	m.u.rjoin.alias = r->id;
	m.u.rjoin.since_seq = __atomic_load_n(&r->last_seq, __ATOMIC_RELAXED);
	m.u.rjoin.user.p = NODE_USER;
	m.u.rjoin.user.len = sizeof(NODE_USER) - 1;
	m.u.rjoin.room.p = r->name;
	m.u.rjoin.room.len = r->name_len;
	rc_dp_send_msg(f->dp, r->home, &host, &m);
	return 0;
}

void
rc_relay_rooms_refresh(struct rc_dp *dp, uint64_t now_ms, uint64_t force_mask)
{
	uint64_t period = dp->relay_refresh_ms != 0 ? dp->relay_refresh_ms : RC_RELAY_REFRESH_MS;
	struct refresh f = { dp, force_mask };

	if (now_ms - dp->relay_refreshed_ms >= period) {
		f.mask = ~0ULL;
		dp->relay_refreshed_ms = now_ms;
	}
	if (f.mask != 0)
		rc_room_foreach(dp->rooms, refresh_room, &f);
}
