/* SPDX-License-Identifier: MIT */
/*
 * rcclient core: the socket, the table of pending requests (retransmission, completion),
 * the receive path (bundles, replies, DELIVERs through the per-room seqtrack), timers, and
 * session recovery. The public calls that build requests live in rcclient_api.c.
 *
 * Pending requests sit in a fixed table indexed by request_id % PEND_CAP; a request id is
 * only handed out when its slot is free, so a reply finds its request in O(1). Each entry
 * keeps its encoded message; the session field (header offset 8) is rewritten at every
 * transmission, so held requests survive a re-login.
 *
 * Concurrency: one thread per client object (see rcclient.h).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "clock.h"
#include "rcclient_int.h"

static const char *const event_names[RC_EV_MAX] = {
	[RC_EV_SESSION_LOST] = "session-lost", [RC_EV_RELOGGED_IN] = "relogged-in",
	[RC_EV_REJOINED] = "rejoined",	       [RC_EV_RELOGIN_FAILED] = "relogin-failed",
	[RC_EV_AUTH_FAILED] = "auth-failed",   [RC_EV_GAP_SKIPPED] = "gap-skipped",
	[RC_EV_RESUMED] = "resumed",	       [RC_EV_MEMBERSHIP_LOST] = "membership-lost",
	[RC_EV_REDIRECTED] = "redirected",
};

const char *
rc_client_event_name(unsigned ev)
{
	return ev < RC_EV_MAX && event_names[ev] ? event_names[ev] : "?";
}

int
rc_client_errno(uint16_t code)
{
	static const int map[RC_E_MAX] = {
		[RC_E_UNKNOWN_ROOM] = ENOENT, [RC_E_NOT_MEMBER] = EPERM,
		[RC_E_TOO_LARGE] = EMSGSIZE,  [RC_E_RATE_LIMITED] = EAGAIN,
		[RC_E_NOT_AUTH] = EACCES,     [RC_E_BAD_REQUEST] = EBADMSG,
		[RC_E_STORAGE_FULL] = ENOSPC, [RC_E_NOT_OWNER] = EXDEV,
		[RC_E_BUSY] = EBUSY,	      [RC_E_LIMIT_REACHED] = EDQUOT,
		[RC_E_ARCHIVED] = EROFS,
	};

	return code < RC_E_MAX && map[code] ? map[code] : EPROTO;
}

void
rcc_event(struct rc_client *c, enum rc_client_event ev, const char *room, uint64_t value)
{
	if (!c->cur_cb->event)
		return;
	c->cb_depth++;
	c->cur_cb->event(c->cur_cb->arg, ev, room, value);
	c->cb_depth--;
}

/* ---- transmission ---- */

static int
xmit(struct rc_client *c, const uint8_t *buf, size_t len)
{
	ssize_t n = send(c->fd, buf, len, 0);

	memcpy(c->last_dgram, buf, len);
	c->last_len = len;
	if (n < 0)
		return -errno; /* ENOBUFS, ECONNREFUSED...: the retransmission timer copes */
	c->st.dgrams_sent++;
	c->st.bytes_sent += (uint64_t)n;
	return 0;
}

int
rc_client_flush(struct rc_client *c)
{
	int rc = 0;

	c->corked = false;
	if (c->txlen > 0)
		rc = xmit(c, c->txbuf, c->txlen);
	c->txlen = 0;
	return rc;
}

void
rc_client_cork(struct rc_client *c)
{
	c->corked = true;
}

int
rc_client_send_raw(struct rc_client *c, const void *buf, size_t len)
{
	if (len > sizeof(c->last_dgram))
		return -EMSGSIZE;
	c->st.raw_sent++;
	return xmit(c, buf, len);
}

/* Send (or queue, when corked) one pending request with the current session id. */
void
rcc_send_pending(struct rc_client *c, struct rcc_pending *p, uint64_t now)
{
	rc_put_be64(p->msg + 8, c->session);
	p->sent_session = c->session;
	p->sent_gen = c->member_gen;
	c->last_tx_ms = now;
	if (!c->corked) {
		xmit(c, p->msg, p->len);
		return;
	}
	if (c->txlen + p->len > sizeof(c->txbuf)) {
		xmit(c, c->txbuf, c->txlen);
		c->txlen = 0;
	}
	memcpy(c->txbuf + c->txlen, p->msg, p->len);
	c->txlen += p->len;
}

/* ---- pending table ---- */

struct rcc_pending *
rcc_find(struct rc_client *c, uint32_t req_id)
{
	struct rcc_pending *p = &c->pend[req_id % PEND_CAP];

	return req_id != 0 && p->req_id == req_id ? p : NULL;
}

static struct rcc_pending *
alloc_slot(struct rc_client *c)
{
	for (unsigned i = 0; i < PEND_CAP; i++) {
		uint32_t id = c->next_req++;
		struct rcc_pending *p;

		if (id == 0)
			id = c->next_req++;
		p = &c->pend[id % PEND_CAP];
		if (p->req_id == 0) {
			memset(p, 0, sizeof(*p));
			p->req_id = id;
			c->npend++;
			return p;
		}
	}
	return NULL;
}

void
rcc_free_pending(struct rc_client *c, struct rcc_pending *p)
{
	if (p->room && p->room->gap_req == p->req_id)
		p->room->gap_req = 0;
	if (p->room && p->room->tail_req == p->req_id)
		p->room->tail_req = 0;
	if (p->room && p->room->ufetch_req == p->req_id)
		p->room->ufetch_req = 0;
	if (c->ka_req == p->req_id)
		c->ka_req = 0;
	free(p->msg);
	memset(p, 0, sizeof(*p));
	c->npend--;
}

/* While the session is recovered, or its rooms joined again, requests wait (held). */
bool
rcc_must_hold(const struct rc_client *c, uint8_t type, enum rcc_purpose purpose)
{
	if (c->state == RCC_RELOGIN || c->state == RCC_LOST)
		return type != RC_T_LOGIN;
	return c->resuming && purpose != RCC_P_REJOIN && type != RC_T_PING &&
	       type != RC_T_LOGOUT;
}

/*
 * Encode m (session and request id are filled in) into a new pending request and send it,
 * or hold it while the session is being recovered. NULL + errno on failure.
 */
struct rcc_pending *
rcc_issue(struct rc_client *c, struct rc_msg *m, enum rcc_kind kind, enum rcc_purpose purpose,
	  struct rcc_room *room)
{
	uint8_t buf[RC_MAX_DGRAM];
	uint64_t now = rc_mono_ms_precise();
	struct rcc_pending *p = alloc_slot(c);
	ssize_t len;

	if (!p) {
		errno = EAGAIN;
		return NULL;
	}
	m->hdr.session = c->session;
	m->hdr.request_id = p->req_id;
	len = rc_encode(buf, sizeof(buf), m);
	p->msg = len > 0 ? malloc((size_t)len) : NULL;
	if (!p->msg) {
		rcc_free_pending(c, p);
		errno = len < 0 ? (int)-len : ENOMEM;
		return NULL;
	}
	memcpy(p->msg, buf, (size_t)len);
	p->len = (uint16_t)len;
	p->type = m->hdr.type;
	p->kind = kind;
	p->purpose = purpose;
	p->room = room;
	p->tries = 1;
	p->first_ms = now;
	p->due_ms = now + c->rto_ms;
	c->st.sent++;
	if (c->next_due > p->due_ms)
		c->next_due = p->due_ms;
	if (rcc_must_hold(c, p->type, purpose)) {
		p->held = true;
		if (c->state == RCC_LOST)
			rcc_relogin(c, now);
	} else {
		rcc_send_pending(c, p, now);
	}
	return p;
}

/* A request failed (or was cancelled): tell whoever waits for it. */
void
rcc_fail(struct rc_client *c, struct rcc_pending *p, int status, uint16_t code)
{
	struct rcc_wait *w = p->wait;

	if (status == -ETIMEDOUT)
		c->st.timeouts++;
	if (p->kind == RCC_WAIT && w) {
		w->done = true;
		w->status = status;
		w->err_code = code;
	} else if (p->kind == RCC_ASYNC && c->cur_cb->posted) {
		struct rc_post_result r = {
			.cmid = p->cmid,
			.status = status,
			.err_code = code,
			.tag = p->tag,
			.sent_ms = p->first_ms,
		};

		c->cb_depth++;
		c->cur_cb->posted(c->cur_cb->arg, &r);
		c->cb_depth--;
	}
	if (p->kind == RCC_INTERNAL)
		rcc_internal_failed(c, p, status);
	if (p->req_id != 0)
		rcc_free_pending(c, p);
}

/* ---- timers ---- */

/* Wait after transmission number tries: rto_ms, doubling, at most RTO_MAX_MS. */
uint64_t
rcc_rto(const struct rc_client *c, unsigned tries)
{
	uint64_t rto = c->rto_ms;

	for (unsigned i = 1; i < tries && rto < RTO_MAX_MS; i++)
		rto *= 2;
	return rto > RTO_MAX_MS && c->rto_ms <= RTO_MAX_MS ? RTO_MAX_MS : rto;
}

static void
retransmit(struct rc_client *c, struct rcc_pending *p, uint64_t now)
{
	if (p->busy_resend) {
		p->busy_resend = false;
	} else {
		p->tries++;
		if (p->type == RC_T_JOIN && p->room)
			rcc_room_join_resent(c, p->room, now);
	}
	c->st.retransmits++;
	p->due_ms = now + rcc_rto(c, p->tries);
	rcc_send_pending(c, p, now);
}

static void
scan_pending(struct rc_client *c, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	bool corked = c->corked;

	c->next_due = UINT64_MAX; /* requests issued by callbacks during the scan lower it */
	c->corked = true;
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id == 0 || p->held)
			continue;
		if (p->due_ms <= now) {
			if (!p->busy_resend && p->tries >= c->max_tries) {
				rcc_fail(c, p, -ETIMEDOUT, 0);
				continue;
			}
			retransmit(c, p, now);
		}
		if (p->due_ms < next)
			next = p->due_ms;
	}
	if (!corked)
		rc_client_flush(c);
	if (next < c->next_due)
		c->next_due = next;
}

static void
keepalive(struct rc_client *c, uint64_t now)
{
	struct rc_msg m = {.hdr.type = RC_T_PING};
	struct rcc_pending *p;

	if (!c->keepalive || c->state != RCC_LIVE || c->ka_req != 0 ||
	    now < c->last_tx_ms + c->ka_ms)
		return;
	m.u.ping.nonce = now;
	p = rcc_issue(c, &m, RCC_INTERNAL, RCC_P_KEEPALIVE, NULL);
	if (p)
		c->ka_req = p->req_id;
}

void
rcc_run_timers(struct rc_client *c, uint64_t now)
{
	if (now >= c->next_due)
		scan_pending(c, now);
	for (unsigned i = 0; i < c->nrooms; i++)
		rcc_room_tick(c, c->rooms[i], now);
	keepalive(c, now);
	if (c->state == RCC_LOST && now >= c->relogin_at)
		rcc_relogin(c, now);
}

static uint64_t
timers_deadline(const struct rc_client *c)
{
	uint64_t t = c->npend > 0 ? c->next_due : UINT64_MAX;

	for (unsigned i = 0; i < c->nrooms && c->state == RCC_LIVE; i++) {
		uint64_t r = rcc_room_deadline(c->rooms[i]);

		if (r < t)
			t = r;
	}
	if (c->keepalive && c->state == RCC_LIVE && c->ka_req == 0 && c->last_tx_ms + c->ka_ms < t)
		t = c->last_tx_ms + c->ka_ms;
	if (c->state == RCC_LOST && c->relogin_at < t)
		t = c->relogin_at;
	return t;
}

int
rc_client_timeout_ms(const struct rc_client *c)
{
	uint64_t t = timers_deadline(c), now;

	if (t == UINT64_MAX)
		return -1;
	now = rc_mono_ms_precise();
	if (t <= now)
		return 0;
	return t - now > INT_MAX ? INT_MAX : (int)(t - now);
}

/* ---- receive ---- */

static void
on_datagram(struct rc_client *c, const uint8_t *buf, size_t len, uint64_t now)
{
	size_t off = 0;

	while (off < len) {
		struct rc_msg m;
		size_t used = 0;
		int rc = rc_decode(buf + off, len - off, &m, &used);

		if (rc < 0)
			c->st.decode_errors++;
		else
			rcc_dispatch(c, &m, now);
		if (used == 0 || used > len - off || rc == -EPROTO)
			break;
		off += used;
	}
}

static int
rx_burst(struct rc_client *c)
{
	int n = 0;

	for (int i = 0; i < RX_BURST; i++) {
		ssize_t len = recv(c->fd, c->rxbuf, sizeof(c->rxbuf), MSG_TRUNC);

		if (len < 0) {
			if (errno == ECONNREFUSED || errno == EINTR)
				continue; /* ICMP unreachable: the node is not there (yet) */
			break;
		}
		c->st.dgrams_rcvd++;
		c->st.bytes_rcvd += (uint64_t)len;
		if ((size_t)len > sizeof(c->rxbuf)) {
			c->st.decode_errors++;
			continue;
		}
		on_datagram(c, c->rxbuf, (size_t)len, rc_mono_ms_precise());
		n++;
	}
	return n;
}

/* One wait for the socket (bounded by timeout_ms and the next timer), then the timers. */
int
rcc_poll_once(struct rc_client *c, int timeout_ms)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	int t = rc_client_timeout_ms(c), n = 0, rc;

	if (t >= 0 && (timeout_ms < 0 || t < timeout_ms))
		timeout_ms = t;
	rc = poll(&pfd, 1, timeout_ms);
	if (rc < 0)
		return -errno;
	if (rc > 0)
		n = rx_burst(c);
	rcc_run_timers(c, rc_mono_ms_precise());
	return n;
}

int
rc_client_poll(struct rc_client *c, int timeout_ms, const struct rc_client_cb *cb)
{
	const struct rc_client_cb *saved = c->cur_cb;
	int n;

	if (c->cb_depth > 0)
		return -EDEADLK;
	c->cur_cb = cb ? cb : &c->cb;
	n = rcc_poll_once(c, timeout_ms);
	c->cur_cb = saved;
	return n;
}

/* Forget the waiter of an abandoned blocking call; the request completes silently. */
static void
detach(struct rc_client *c, struct rcc_wait *w)
{
	for (unsigned i = 0; i < PEND_CAP; i++) {
		struct rcc_pending *p = &c->pend[i];

		if (p->req_id == 0 || p->wait != w)
			continue;
		if (p->room && p->room->ufetch_req == p->req_id)
			p->room->ufetch_req = 0;
		p->wait = NULL;
		p->kind = RCC_INTERNAL;
		p->purpose = RCC_P_NONE;
	}
}

int
rcc_wait(struct rc_client *c, struct rcc_wait *w)
{
	const struct rc_client_cb *saved = c->cur_cb;
	int rc = 0;

	c->cur_cb = &c->cb;
	while (!w->done) {
		if (c->interrupted) {
			c->interrupted = 0;
			rc = -EINTR;
			break;
		}
		rc = rcc_poll_once(c, 1000);
		if (rc < 0 && rc != -EINTR)
			break;
		rc = 0;
	}
	c->cur_cb = saved;
	if (!w->done) {
		detach(c, w);
		return rc;
	}
	return w->status;
}

void
rc_client_interrupt(struct rc_client *c)
{
	c->interrupted = 1;
}
