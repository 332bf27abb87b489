/* SPDX-License-Identifier: MIT */
/*
 * rcclient session recovery. When the node answers "not authenticated" to a request sent
 * with the current session (it expired, or the node restarted), every pending request is
 * held, the client logs in again with the token it kept, joins each room again with
 * since_seq = the last seq handed over (the node replays what was missed), and then sends
 * the held requests with the new session id:
 *
 *   LIVE --ERROR 5--> RELOGIN --LOGIN_OK--> LIVE (re-JOINs in flight, requests held)
 *                        |                    --all JOINED/failed--> held requests sent
 *                        +--LOGIN timeout--> LOST --backoff 1..8 s--> RELOGIN
 *                        +--LOGIN refused--> FAILED (RC_EV_AUTH_FAILED)
 *
 * A LOGIN answered REDIRECT (PROTOCOL.md section 12) goes again, the same request with the
 * same token, to the home node it names; the socket is connected there for good. A LOGIN
 * answered COOKIE (PROTOCOL.md 7.1: the node under a LOGIN flood) goes again at once as a
 * LOGIN_COOKIE, the same request carrying the cookie.
 *
 * After a takeover by the other node of an HA pair (PROTOCOL.md section 10) the session is
 * still valid but in no room, and every room id is void. On RESUME, or on ERROR not a member
 * for a room the client had joined (the RESUME was lost), a re-JOIN round runs: the same
 * re-JOINs with the same holding of requests, without a LOGIN:
 *
 *   LIVE --RESUME / ERROR 2--> LIVE+resuming (ids void, requests held, re-JOINs in flight)
 *                                 --all JOINED/failed--> held requests sent (same cmids)
 *
 * Concurrency: one thread per client object (see rcclient.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "rcclient_int.h"

void
rcc_fail_all(struct rc_client *c, int status, bool held_only)
{
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id != 0 && (!held_only || p->held))
			rcc_fail(c, p, status, 0);
	}
}

static void
relogin_failed(struct rc_client *c, uint64_t now)
{
	c->state = RCC_LOST;
	c->session = 0;
	c->relogin_backoff = c->relogin_backoff ? c->relogin_backoff * 2 : RELOGIN_MIN_MS;
	if (c->relogin_backoff > RELOGIN_MAX_MS)
		c->relogin_backoff = RELOGIN_MAX_MS;
	c->relogin_at = now + c->relogin_backoff;
	rcc_fail_all(c, -ENOTCONN, true);
	rcc_event(c, RC_EV_RELOGIN_FAILED, NULL, c->relogin_backoff);
}

static void
auth_failed(struct rc_client *c)
{
	c->state = RCC_FAILED;
	c->session = 0;
	c->have_creds = false;
	rcc_fail_all(c, -EACCES, true);
	rcc_event(c, RC_EV_AUTH_FAILED, NULL, 0);
}

void
rcc_relogin(struct rc_client *c, uint64_t now)
{
	struct rc_msg m = {.hdr.type = RC_T_LOGIN};

	if (!c->have_creds) {
		c->state = RCC_IDLE;
		rcc_fail_all(c, -ENOTCONN, true);
		return;
	}
	c->state = RCC_RELOGIN;
	c->session = 0;
	m.u.login.user = (struct rc_str){c->user, (uint16_t)strlen(c->user)};
	m.u.login.token = (struct rc_str){c->token, (uint16_t)strlen(c->token)};
	if (!rcc_issue(c, &m, RCC_INTERNAL, RCC_P_RELOGIN, NULL))
		relogin_failed(c, now);
}

void
rcc_session_lost(struct rc_client *c, uint64_t now)
{
	if (c->state != RCC_LIVE)
		return; /* already recovering */
	c->st.relogins++;
	c->resuming = false; /* the re-login joins every room again */
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id == 0)
			continue;
		/* the library's own requests are made again after the re-login */
		if (p->purpose == RCC_P_KEEPALIVE || p->purpose == RCC_P_REJOIN ||
		    p->purpose == RCC_P_GAP_FETCH || p->purpose == RCC_P_TAIL_FETCH)
			rcc_free_pending(c, p);
		else
			p->held = true;
	}
	rcc_event(c, RC_EV_SESSION_LOST, NULL, c->session);
	rcc_relogin(c, now);
}

static void
release_held(struct rc_client *c, uint64_t now)
{
	bool corked = c->corked;

	c->corked = true;
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id == 0 || !p->held)
			continue;
		p->held = false;
		p->tries = 1;
		p->due_ms = now + c->rto_ms;
		if (c->next_due > p->due_ms)
			c->next_due = p->due_ms;
		rcc_send_pending(c, p, now);
	}
	if (!corked)
		rc_client_flush(c);
}

void
rcc_rejoined(struct rc_client *c, uint64_t now)
{
	if (c->rejoins_left > 0 && --c->rejoins_left == 0) {
		c->resuming = false;
		release_held(c, now);
	}
}

/* JOIN every room again, since the last seq handed over; held requests go after. */
static void
rejoin_all(struct rc_client *c, uint64_t now)
{
	c->rejoins_left = 0;
	for (unsigned i = 0; i < c->nrooms; i++) {
		struct rcc_room *r = c->rooms[i];
		uint64_t since = rc_seqtrack_last(&r->trk);

		if (!r->joined && !r->rejoin)
			continue;
		r->trk.gap_tries = 0; /* FETCHes lost with the session were no failed tries */
		if (rc_seqtrack_started(&r->trk))
			rc_seqtrack_asked(&r->trk, since + 1, UINT64_MAX, now, EXPECT_TTL_MS,
					  false);
		if (rcc_room_send_join(c, r, since, RCC_INTERNAL, RCC_P_REJOIN))
			c->rejoins_left++;
	}
	if (c->rejoins_left == 0) {
		c->resuming = false;
		release_held(c, now);
	}
}

/* Hold what waits for an answer (it is sent again after the re-JOINs) and drop the
 * library's own requests (made again afterwards). */
static void
hold_pending(struct rc_client *c)
{
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id == 0)
			continue;
		if (p->purpose == RCC_P_KEEPALIVE || p->purpose == RCC_P_REJOIN ||
		    p->purpose == RCC_P_GAP_FETCH || p->purpose == RCC_P_TAIL_FETCH)
			rcc_free_pending(c, p);
		else
			p->held = true;
	}
}

/* A re-JOIN round: the session is valid but in no room; every room id is void. */
static void
rejoin_round(struct rc_client *c, uint64_t now)
{
	c->st.rejoin_rounds++;
	c->member_gen++;
	c->resuming = true;
	hold_pending(c);
	for (unsigned i = 0; i < c->nrooms; i++) {
		struct rcc_room *r = c->rooms[i];

		if (!r->joined && !r->rejoin)
			continue;
		r->rejoin = true;
		r->joined = false; /* its DELIVERs and ACKs are no longer matched by the old id */
		r->room_id = 0;
		r->hist_wait = false;
		r->start_deadline = 0;
	}
	rejoin_all(c, now);
}

void
rcc_resume(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	(void)m;
	rejoin_round(c, now);
}

/* The room a POST, FETCH or MEMBERS request names (decoded from its datagram). */
static struct rcc_room *
request_room(struct rc_client *c, const struct rcc_pending *p)
{
	char name[RC_MAX_ROOM + 1];
	struct rc_msg m;
	struct rc_str s;
	size_t used;

	if (rc_decode(p->msg, p->len, &m, &used) != 0)
		return NULL;
	switch (m.hdr.type) {
	case RC_T_POST:
		s = m.u.post.room;
		break;
	case RC_T_FETCH:
		s = m.u.fetch.room;
		break;
	case RC_T_MEMBERS:
		s = m.u.members.room;
		break;
	default:
		return NULL;
	}
	memcpy(name, s.p, s.len);
	name[s.len] = '\0';
	return rcc_room_find(c, name);
}

/*
 * ERROR not a member to p. True if it was handled: the request answers a transmission from
 * before the last re-JOIN round (it is, or will be, sent again), or it names a room the
 * client had joined, so the membership was lost in a takeover whose RESUME never arrived:
 * a re-JOIN round runs and p is sent again after it. False: fail p as usual.
 */
bool
rcc_not_member(struct rc_client *c, struct rcc_pending *p, uint64_t now)
{
	struct rcc_room *r;

	if (c->state != RCC_LIVE)
		return false;
	if (p->type != RC_T_POST && p->type != RC_T_FETCH && p->type != RC_T_MEMBERS)
		return false;
	r = request_room(c, p);
	if (!r || (!r->joined && !r->rejoin))
		return false;
	if (p->held || p->sent_gen != c->member_gen)
		return true;
	if (p->nm_rounds >= NM_MAX_ROUNDS)
		return false;
	p->nm_rounds++;
	c->st.membership_lost++;
	rcc_event(c, RC_EV_MEMBERSHIP_LOST, r->name, 0);
	if (c->resuming) {
		p->held = true;
		return true;
	}
	rejoin_round(c, now);
	return true;
}

/* Talk to the home node from now on. 0 or -errno. */
static int
connect_home(struct rc_client *c, uint32_t ip, uint16_t port)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(ip),
	};

	return connect(c->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
}

/*
 * REDIRECT to a LOGIN: send that LOGIN again at once to the home node it names. One per
 * LOGIN: a copy of the REDIRECT followed (the LOGIN went out more than once) changes
 * nothing; one to another address fails the login (-ELOOP: the cluster is changing, a
 * later login starts again from the home node).
 */
void
rcc_redirect(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	struct rcc_pending *p = rcc_find(c, m->hdr.request_id);
	uint32_t ip = m->u.redirect.ip;
	uint16_t port = m->u.redirect.udp_port;
	int rc;

	if (!p || p->type != RC_T_LOGIN) {
		c->st.unmatched++;
		return;
	}
	if (p->redirected) {
		if (ip != c->home_ip || port != c->home_port)
			rcc_fail(c, p, -ELOOP, 0);
		return;
	}
	if ((rc = connect_home(c, ip, port)) < 0) {
		rcc_fail(c, p, rc, 0);
		return;
	}
	p->redirected = true;
	c->home_ip = ip;
	c->home_port = port;
	memcpy(c->home_node, m->u.redirect.node.p, m->u.redirect.node.len);
	c->home_node[m->u.redirect.node.len] = '\0';
	c->st.redirects++;
	p->tries = 1;
	p->due_ms = now + c->rto_ms;
	if (c->next_due > p->due_ms)
		c->next_due = p->due_ms;
	rcc_send_pending(c, p, now);
	rcc_event(c, RC_EV_REDIRECTED, c->home_node, (uint64_t)ip << 16 | port);
}

/*
 * COOKIE to a LOGIN: the node is under a LOGIN flood and verifies only LOGINs that prove
 * their source address (PROTOCOL.md 7.1): the LOGIN goes again at once, the same request
 * id, as a LOGIN_COOKIE carrying the cookie; its retransmissions carry it too, and a later
 * COOKIE (the cookie went stale) replaces it.
 */
void
rcc_cookie(struct rc_client *c, const struct rc_msg *m, uint64_t now)
{
	struct rcc_pending *p = rcc_find(c, m->hdr.request_id);
	uint8_t buf[RC_MAX_DGRAM], *msg;
	struct rc_msg l;
	size_t used;
	ssize_t len;

	if (!p || p->type != RC_T_LOGIN || rc_decode(p->msg, p->len, &l, &used) != 0) {
		c->st.unmatched++;
		return;
	}
	l.hdr.type = RC_T_LOGIN_COOKIE;
	l.u.login.cookie_slot = m->u.cookie.slot;
	l.u.login.cookie_mac = m->u.cookie.mac;
	len = rc_encode(buf, sizeof(buf), &l); /* before p->msg, which l points into, goes */
	msg = len > 0 ? malloc((size_t)len) : NULL;
	if (!msg)
		return; /* the LOGIN's retransmission asks for a cookie again */
	memcpy(msg, buf, (size_t)len);
	free(p->msg);
	p->msg = msg;
	p->len = (uint16_t)len;
	c->st.cookies++;
	rcc_send_pending(c, p, now);
}

void
rcc_logged_in(struct rc_client *c, struct rcc_pending *p, const struct rc_msg *m, uint64_t now)
{
	uint32_t idle = m->u.login_ok.idle_timeout_s;

	c->session = m->u.login_ok.session;
	c->ka_ms = idle ? (uint64_t)idle * 1000 / 3 : KEEPALIVE_DEF_MS;
	if (c->ka_ms < 1000)
		c->ka_ms = 1000;
	c->state = RCC_LIVE;
	c->last_tx_ms = now;
	if (p->purpose != RCC_P_RELOGIN)
		return;
	c->relogin_backoff = 0;
	rcc_event(c, RC_EV_RELOGGED_IN, NULL, c->session);
	rejoin_all(c, now);
}

void
rcc_internal_failed(struct rc_client *c, struct rcc_pending *p, int status)
{
	uint64_t now = rc_mono_ms_precise();

	switch (p->purpose) {
	case RCC_P_RELOGIN:
		if (status == -EACCES)
			auth_failed(c);
		else
			relogin_failed(c, now);
		break;
	case RCC_P_REJOIN:
		rcc_rejoined(c, now);
		break;
	default:
		break;
	}
}
