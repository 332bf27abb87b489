/* SPDX-License-Identifier: MIT */
/*
 * rcclient public calls: construction, settings, and one function per request type.
 * Each blocking call issues its request with a waiter on its stack and runs the receive
 * loop (rcc_wait) until the request completes; everything else that arrives meanwhile is
 * processed as usual.
 *
 * Concurrency: one thread per client object (see rcclient.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "rcclient_int.h"

#define RCVBUF_BYTES (4 << 20)

static uint64_t
cmid_seed(void)
{
	struct timespec ts;
	uint16_t rnd = 0;
	uint64_t us, seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint16_t)(getpid() ^ ts.tv_nsec);
	seed = (us << 12) | (rnd & 0xfff);
	return seed ? seed : 1;
}

static int
open_socket(const char *server_ip, uint16_t port, const char *bind_ip)
{
	struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct sockaddr_in me = {.sin_family = AF_INET};
	int fd, size = RCVBUF_BYTES;

	if (inet_pton(AF_INET, server_ip, &srv.sin_addr) != 1 ||
	    (bind_ip && inet_pton(AF_INET, bind_ip, &me.sin_addr) != 1)) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* bursts of DELIVERs: a large receive buffer (FORCE works for root only) */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if ((bind_ip && bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0) ||
	    connect(fd, (struct sockaddr *)&srv, sizeof(srv)) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

struct rc_client *
rc_client_new(const char *server_ip, uint16_t port, const char *bind_ip)
{
	struct rc_client *c;
	uint32_t rnd = 0;

	if (!server_ip) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = open_socket(server_ip, port ? port : RC_DEFAULT_UDP_PORT, bind_ip);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)getpid();
	c->next_req = rnd | 1;
	c->next_cmid = cmid_seed();
	c->rto_ms = DEF_RTO_MS;
	c->max_tries = DEF_TRIES;
	c->gap_delay_ms = RC_SEQTRACK_GAP_DELAY_MS;
	c->tail_check_ms = TAIL_CHECK_DEF_MS;
	c->keepalive = true;
	c->ka_ms = KEEPALIVE_DEF_MS;
	c->next_due = UINT64_MAX;
	c->cur_cb = &c->cb;
	return c;
}

void
rc_client_free(struct rc_client *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < PEND_CAP; i++)
		free(c->pend[i].msg);
	while (c->nrooms > 0)
		rcc_room_remove(c, c->rooms[0]);
	free(c->rooms);
	close(c->fd);
	explicit_bzero(c->token, sizeof(c->token));
	free(c);
}

void
rc_client_set_retry(struct rc_client *c, unsigned rto_ms, unsigned max_tries)
{
	c->rto_ms = rto_ms ? rto_ms : DEF_RTO_MS;
	c->max_tries = max_tries ? max_tries : 1;
}

void
rc_client_set_gap_delay(struct rc_client *c, unsigned ms)
{
	c->gap_delay_ms = ms;
	for (unsigned i = 0; i < c->nrooms; i++)
		c->rooms[i]->trk.gap_delay_ms = ms;
}

void
rc_client_set_tail_check(struct rc_client *c, unsigned ms)
{
	c->tail_check_ms = ms;
	for (unsigned i = 0; i < c->nrooms; i++)
		if (ms == 0 || c->rooms[i]->tail_due != 0)
			c->rooms[i]->tail_due = ms ? rc_mono_ms_precise() + ms : 0;
}

void
rc_client_set_keepalive(struct rc_client *c, bool on)
{
	c->keepalive = on;
}

void
rc_client_set_callbacks(struct rc_client *c, const struct rc_client_cb *cb)
{
	if (cb)
		c->cb = *cb;
	else
		memset(&c->cb, 0, sizeof(c->cb));
}

/* Requests need a session (or one being recovered). */
static int
check_session(const struct rc_client *c)
{
	if (c->state == RCC_LIVE || c->state == RCC_RELOGIN || c->state == RCC_LOST)
		return 0;
	return c->state == RCC_FAILED ? -EACCES : -ENOTCONN;
}

/* Blocking calls also need no callback on the stack. */
static int
check_call(const struct rc_client *c)
{
	return c->cb_depth > 0 ? -EDEADLK : check_session(c);
}

static int
check_name(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0)
		return -EINVAL;
	return n > max ? -EMSGSIZE : 0;
}

static int
issue_wait(struct rc_client *c, struct rc_msg *m, struct rcc_room *r, struct rcc_wait *w)
{
	struct rcc_pending *p = rcc_issue(c, m, RCC_WAIT, RCC_P_NONE, r);

	if (!p)
		return -errno;
	p->wait = w;
	return rcc_wait(c, w);
}

int
rc_client_login(struct rc_client *c, const char *user, const char *token)
{
	struct rc_msg m = {.hdr.type = RC_T_LOGIN};
	struct rcc_wait w = {0};
	int rc;

	if (c->cb_depth > 0)
		return -EDEADLK;
	if (c->state == RCC_LIVE || c->state == RCC_RELOGIN || c->state == RCC_LOST)
		return -EISCONN;
	if ((rc = check_name(user, RC_MAX_USER)) < 0 || (rc = check_name(token, RC_MAX_TOKEN)) < 0)
		return rc;
	snprintf(c->user, sizeof(c->user), "%s", user);
	snprintf(c->token, sizeof(c->token), "%s", token);
	c->have_creds = true;
	c->state = RCC_LOGGING_IN;
	c->session = 0;
	c->last_err = 0;
	m.u.login.user = (struct rc_str){c->user, (uint16_t)strlen(c->user)};
	m.u.login.token = (struct rc_str){c->token, (uint16_t)strlen(c->token)};
	rc = issue_wait(c, &m, NULL, &w);
	if (rc < 0 && c->state == RCC_LOGGING_IN) {
		c->state = RCC_IDLE;
		c->have_creds = false;
	}
	return rc;
}

int
rc_client_join(struct rc_client *c, const char *room, uint64_t since_seq, uint32_t *room_id,
	       uint64_t *last_seq)
{
	struct rcc_wait w = {0};
	struct rcc_room *r;
	struct rcc_pending *p;
	bool created = false;
	int rc;

	if ((rc = check_call(c)) < 0 || (rc = check_name(room, RC_MAX_ROOM)) < 0)
		return rc;
	r = rcc_room_find(c, room);
	if (!r) {
		r = rcc_room_add(c, room);
		if (!r)
			return -ENOMEM;
		created = true;
	} else if (r->joined) {
		rc_seqtrack_asked(&r->trk, since_seq + 1, UINT64_MAX, rc_mono_ms_precise(),
				  EXPECT_TTL_MS, false);
	}
	p = rcc_room_send_join(c, r, since_seq, RCC_WAIT, RCC_P_NONE);
	if (p) {
		p->wait = &w;
		rc = rcc_wait(c, &w);
	} else {
		rc = -errno;
	}
	if (rc < 0) {
		if (created && !r->joined)
			rcc_room_remove(c, r);
		return rc;
	}
	if (room_id)
		*room_id = w.reply.u.joined.room_id;
	if (last_seq)
		*last_seq = w.reply.u.joined.last_seq;
	return 0;
}

int
rc_client_leave(struct rc_client *c, const char *room)
{
	struct rc_msg m = {.hdr.type = RC_T_LEAVE};
	struct rcc_wait w = {0};
	struct rcc_room *r;
	int rc;

	if ((rc = check_call(c)) < 0 || (rc = check_name(room, RC_MAX_ROOM)) < 0)
		return rc;
	m.u.leave.room = (struct rc_str){room, (uint16_t)strlen(room)};
	rc = issue_wait(c, &m, NULL, &w);
	r = rcc_room_find(c, room);
	if (r)
		rcc_room_remove(c, r);
	return rc;
}

static int
make_post(struct rc_client *c, struct rc_msg *m, const char *room, const char *body, size_t len)
{
	int rc;

	if ((rc = check_session(c)) < 0 || (rc = check_name(room, RC_MAX_ROOM)) < 0)
		return rc;
	if (!body || len == 0)
		return -EINVAL;
	if (len > RC_MAX_BODY)
		return -EMSGSIZE;
	if (!rc_utf8_valid(body, len, true))
		return -EILSEQ;
	if (c->next_cmid == 0)
		c->next_cmid = 1;
	m->hdr.type = RC_T_POST;
	m->u.post.room = (struct rc_str){room, (uint16_t)strlen(room)};
	m->u.post.cmid = c->next_cmid++;
	m->u.post.body = (struct rc_str){body, (uint16_t)len};
	return 0;
}

int
rc_client_post(struct rc_client *c, const char *room, const char *body, size_t len, uint64_t *seq)
{
	struct rc_msg m = {0};
	struct rcc_wait w = {0};
	struct rcc_pending *p;
	int rc = c->cb_depth > 0 ? -EDEADLK : make_post(c, &m, room, body, len);

	if (rc < 0)
		return rc;
	p = rcc_issue(c, &m, RCC_WAIT, RCC_P_NONE, NULL);
	if (!p)
		return -errno;
	p->cmid = m.u.post.cmid;
	p->wait = &w;
	rc = rcc_wait(c, &w);
	if (rc == 0 && seq)
		*seq = w.reply.u.ack.seq;
	return rc;
}

int
rc_client_post_async(struct rc_client *c, const char *room, const char *body, size_t len, void *tag,
		     uint64_t *cmid)
{
	struct rc_msg m = {0};
	struct rcc_pending *p;
	int rc;

	if (c->npend >= PEND_CAP - PEND_RESERVE)
		return -EAGAIN;
	rc = make_post(c, &m, room, body, len);
	if (rc < 0)
		return rc;
	p = rcc_issue(c, &m, RCC_ASYNC, RCC_P_NONE, NULL);
	if (!p)
		return -errno;
	p->cmid = m.u.post.cmid;
	p->tag = tag;
	if (cmid)
		*cmid = p->cmid;
	return 0;
}

int
rc_client_fetch(struct rc_client *c, const char *room, uint64_t from_seq, uint16_t max,
		rc_fetch_fn fn, void *arg, struct rc_fetch_result *res)
{
	struct rc_msg m = {.hdr.type = RC_T_FETCH};
	struct rcc_wait w = {.ffn = fn, .fn_arg = arg};
	struct rcc_pending *p;
	struct rcc_room *r;
	int rc;

	if ((rc = check_call(c)) < 0 || (rc = check_name(room, RC_MAX_ROOM)) < 0)
		return rc;
	if (max == 0 || max > RC_MAX_FETCH)
		return -EINVAL;
	r = rcc_room_find(c, room);
	if (!r || !r->joined)
		return -ENOENT;
	if (r->ufetch_req != 0)
		return -EBUSY;
	m.u.fetch.room = (struct rc_str){r->name, (uint16_t)strlen(r->name)};
	m.u.fetch.from_seq = from_seq;
	m.u.fetch.max = max;
	p = rcc_issue(c, &m, RCC_WAIT, RCC_P_NONE, r);
	if (!p)
		return -errno;
	p->wait = &w;
	r->ufetch_req = p->req_id;
	r->ufrom = from_seq;
	r->uto = from_seq + max;
	rc_seqtrack_asked(&r->trk, from_seq, from_seq + max - 1, rc_mono_ms_precise(),
			  EXPECT_TTL_MS, false);
	rc = rcc_wait(c, &w);
	if (rc == 0 && res)
		*res = (struct rc_fetch_result){
			.from_seq = w.reply.u.fetch_end.from_seq,
			.next_seq = w.reply.u.fetch_end.next_seq,
			.last_seq = w.reply.u.fetch_end.last_seq,
			.count = w.reply.u.fetch_end.count,
		};
	return rc;
}

int
rc_client_members(struct rc_client *c, const char *room, rc_member_fn fn, void *arg)
{
	struct rc_msg m = {.hdr.type = RC_T_MEMBERS};
	struct rcc_wait w = {.mfn = fn, .fn_arg = arg};
	int rc;

	if ((rc = check_call(c)) < 0 || (rc = check_name(room, RC_MAX_ROOM)) < 0)
		return rc;
	m.u.members.room = (struct rc_str){room, (uint16_t)strlen(room)};
	rc = issue_wait(c, &m, NULL, &w);
	return rc < 0 ? rc : w.count;
}

int
rc_client_rooms(struct rc_client *c, const char *prefix, rc_room_fn fn, void *arg)
{
	struct rc_msg m = {.hdr.type = RC_T_ROOMS};
	struct rcc_wait w = {.rfn = fn, .fn_arg = arg};
	size_t n = prefix ? strlen(prefix) : 0;
	int rc;

	if ((rc = check_call(c)) < 0)
		return rc;
	if (n > RC_MAX_ROOM)
		return -EMSGSIZE;
	m.u.rooms.prefix = (struct rc_str){prefix ? prefix : "", (uint16_t)n};
	rc = issue_wait(c, &m, NULL, &w);
	return rc < 0 ? rc : w.count;
}

int
rc_client_ping(struct rc_client *c, uint64_t *rtt_us)
{
	struct rc_msg m = {.hdr.type = RC_T_PING};
	struct rcc_wait w = {.t0_us = rc_mono_us()};
	int rc;

	if ((rc = check_call(c)) < 0)
		return rc;
	m.u.ping.nonce = w.t0_us;
	rc = issue_wait(c, &m, NULL, &w);
	if (rc == 0 && rtt_us)
		*rtt_us = rc_mono_us() - w.t0_us;
	return rc;
}

int
rc_client_logout(struct rc_client *c)
{
	struct rc_msg m = {.hdr.type = RC_T_LOGOUT};
	struct rcc_wait w = {0};
	int rc = check_call(c);

	if (rc == -EDEADLK)
		return rc;
	c->interrupted = 0; /* logging out is what one does after an interrupt */
	if (rc == 0 && c->state == RCC_LIVE)
		rc = issue_wait(c, &m, NULL, &w);
	c->state = RCC_IDLE;
	c->session = 0;
	c->have_creds = false;
	explicit_bzero(c->token, sizeof(c->token));
	rcc_fail_all(c, -ENOTCONN, false);
	while (c->nrooms > 0)
		rcc_room_remove(c, c->rooms[0]);
	return rc;
}

int
rc_client_fd(const struct rc_client *c)
{
	return c->fd;
}

const uint8_t *
rc_client_last_datagram(const struct rc_client *c, size_t *len)
{
	*len = c->last_len;
	return c->last_dgram;
}

uint64_t
rc_client_session(const struct rc_client *c)
{
	return c->session;
}

void
rc_client_set_next_cmid(struct rc_client *c, uint64_t cmid)
{
	c->next_cmid = cmid;
}

uint64_t
rc_client_next_cmid(const struct rc_client *c)
{
	return c->next_cmid ? c->next_cmid : 1;
}

const char *
rc_client_home_node(const struct rc_client *c)
{
	return c->home_node;
}

const char *
rc_client_room_name(const struct rc_client *c, const char *room)
{
	const struct rcc_room *r = room ? rcc_room_find(c, room) : NULL;

	return r && r->canon[0] != '\0' ? r->canon : NULL;
}

const char *
rc_client_last_resume(const struct rc_client *c, uint8_t *reason)
{
	if (reason)
		*reason = c->resume_reason;
	return c->resume_node;
}

bool
rc_client_resuming(const struct rc_client *c)
{
	return c->resuming;
}

bool
rc_client_logged_in(const struct rc_client *c)
{
	return c->state == RCC_LIVE;
}

unsigned
rc_client_pending(const struct rc_client *c)
{
	return c->npend;
}

bool
rc_client_room_synced(const struct rc_client *c, const char *room)
{
	const struct rcc_room *r = rcc_room_find(c, room);

	return r && r->joined && rc_seqtrack_synced(&r->trk);
}

bool
rc_client_room_settled(const struct rc_client *c, const char *room)
{
	const struct rcc_room *r = rcc_room_find(c, room);

	return r && rcc_room_settled(r);
}

uint64_t
rc_client_room_last(const struct rc_client *c, const char *room)
{
	const struct rcc_room *r = rcc_room_find(c, room);

	return r ? rc_seqtrack_last(&r->trk) : 0;
}

int
rc_client_catch_up(struct rc_client *c, const char *room, uint64_t last_seq)
{
	struct rcc_room *r = rcc_room_find(c, room);

	if (!r || !r->joined)
		return -ENOENT;
	rc_seqtrack_learn_last(&r->trk, last_seq, rc_mono_ms_precise());
	return 0;
}

void
rc_client_stats(const struct rc_client *c, struct rc_client_stats *out)
{
	struct rc_seqtrack_stats s = c->retired;

	for (unsigned i = 0; i < c->nrooms; i++) {
		const struct rc_seqtrack_stats *t = &c->rooms[i]->trk.st;

		s.dups += t->dups;
		s.expected_dups += t->expected_dups;
		s.reordered += t->reordered;
		s.gaps += t->gaps;
		s.filled += t->filled;
		s.skipped += t->skipped;
		s.far += t->far;
	}
	*out = c->st;
	out->dup_deliveries = s.dups;
	out->fetch_dups = s.expected_dups;
	out->reordered = s.reordered;
	out->gaps = s.gaps;
	out->gaps_filled = s.filled;
	out->gap_skipped = s.skipped;
	out->dropped_far = s.far;
}

uint16_t
rc_client_last_error(const struct rc_client *c, const char **text)
{
	if (text)
		*text = c->last_err_text;
	return c->last_err;
}
