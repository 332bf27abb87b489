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
 * Concurrency: one thread per client object (see rcclient.h).
 */
#include <errno.h>
#include <string.h>

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
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id == 0)
			continue;
		/* the library's own requests are made again after the re-login */
		if (p->purpose == RCC_P_KEEPALIVE || p->purpose == RCC_P_REJOIN ||
		    p->purpose == RCC_P_GAP_FETCH)
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
	if (c->rejoins_left > 0 && --c->rejoins_left == 0)
		release_held(c, now);
}

/* JOIN every room again, since the last seq handed over; held requests go after. */
static void
rejoin_all(struct rc_client *c, uint64_t now)
{
	c->rejoins_left = 0;
	for (unsigned i = 0; i < c->nrooms; i++) {
		struct rcc_room *r = c->rooms[i];
		uint64_t since = rc_seqtrack_last(&r->trk);

		if (!r->joined)
			continue;
		r->trk.gap_tries = 0; /* FETCHes lost with the session were no failed tries */
		if (rc_seqtrack_started(&r->trk))
			rc_seqtrack_asked(&r->trk, since + 1, UINT64_MAX, now, EXPECT_TTL_MS,
					  false);
		if (rcc_room_send_join(c, r, since, RCC_INTERNAL, RCC_P_REJOIN))
			c->rejoins_left++;
	}
	if (c->rejoins_left == 0)
		release_held(c, now);
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
	uint64_t now = rcc_now_ms();

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
