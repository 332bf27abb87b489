/* SPDX-License-Identifier: MIT */
/*
 * The control thread's half of the chat protocol, sessions (node.h): LOGIN (the token
 * checked; a user whose home node is another one redirected there, REDIRECT; a repeated
 * LOGIN answered with its session; the caps on sessions per user and per address), LOGOUT,
 * the end of a session (the
 * HA peer told, the workers purge it) and idle expiry; the replies to the workers' hand-offs.
 */
#include "node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ha_node.h"
#include "log.h"
#include "session.h"
#include "token.h"
#include "token_revoke.h"

void
rc_node_reply(struct rc_node *n, const struct rc_who *who, struct rc_msg *m)
{
	m->hdr.session = who->session;
	m->hdr.request_id = who->request_id;
	if (rc_dp_send_msg(&n->dp, who->rx_worker, &who->peer, m) != 0)
		RC_DEBUG("reply dropped: no mbuf or tx ring full");
}

void
rc_node_reply_error(struct rc_node *n, const struct rc_who *who, unsigned code, unsigned ref,
		    const char *text, size_t limit)
{
	struct rc_msg m;
	size_t len = strlen(text);

	if (limit != 0 && limit < RC_HDR_LEN + 4)
		return; /* no amplification before login */
	if (limit != 0 && RC_HDR_LEN + 4 + len > limit)
		len = limit - RC_HDR_LEN - 4;
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_ERROR;
	m.u.error.code = (uint16_t)code;
	m.u.error.ref_type = (uint8_t)ref;
	m.u.error.text.p = text;
	m.u.error.text.len = (uint16_t)len;
	rc_node_reply(n, who, &m);
}

const char *
rc_login_refusal_name(unsigned reason)
{
	static const char *const names[RC_LOGIN_REFUSAL_MAX] = {
		[RC_LOGIN_BAD_TOKEN] = "bad_token",
		[RC_LOGIN_TOKEN_EXPIRED] = "token_expired",
		[RC_LOGIN_TOO_MANY] = "too_many_sessions",
		[RC_LOGIN_BUSY] = "busy",
		[RC_LOGIN_ADDRESS_LIMIT] = "address_limit",
		[RC_LOGIN_TOKEN_REVOKED] = "token_revoked",
		[RC_LOGIN_TOKEN_TOO_LONG] = "token_too_long",
	};

	return reason < RC_LOGIN_REFUSAL_MAX && names[reason] != NULL ? names[reason] : "?";
}

static void
login_refused(struct rc_node *n, unsigned reason)
{
	n->login_refused[reason]++;
	n->logins_failed++;
}

/* The recent LOGIN this one repeats (same user, address and request id, answered less than
 * RC_LOGIN_REPEAT_MS ago, its session still live and bound there), or NULL. */
static struct rc_session *
login_repeated(struct rc_node *n, const struct rc_who *who, const struct rc_str *user)
{
	uint64_t now = rc_mono_ms();
	struct rc_session *s;
	unsigned i;

	for (i = 0; i < RC_RECENT_LOGINS; i++) {
		const struct rc_recent_login *e = &n->recent_logins[i];

		if (e->session == 0 || now - e->at_ms > RC_LOGIN_REPEAT_MS ||
		    e->ip != who->peer.ip || e->port != who->peer.udp_port ||
		    e->request_id != who->request_id || e->user_len != user->len ||
		    memcmp(e->user, user->p, user->len) != 0)
			continue;
		s = rc_session_lookup(n->dp.sessions, e->session);
		if (s != NULL && s->peer.ip == who->peer.ip && s->peer.udp_port == who->peer.udp_port)
			return s;
	}
	return NULL;
}

static void
login_remember(struct rc_node *n, const struct rc_who *who, const struct rc_session *s)
{
	struct rc_recent_login *e = &n->recent_logins[n->recent_login_next];

	n->recent_login_next = (n->recent_login_next + 1) % RC_RECENT_LOGINS;
	e->session = s->id;
	e->at_ms = rc_mono_ms();
	e->ip = who->peer.ip;
	e->port = who->peer.udp_port;
	e->request_id = who->request_id;
	e->user_len = s->user_len;
	memcpy(e->user, s->user, s->user_len);
}

static void
login_ok(struct rc_node *n, struct rc_work *wk, const struct rc_session *s)
{
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_LOGIN_OK;
	m.u.login_ok.session = s->id;
	m.u.login_ok.idle_timeout_s = n->cfg.session_idle_s;
	wk->who.session = s->id;
	rc_node_reply(n, &wk->who, &m);
}

/* The user's home node when it is not the node whose service address (ours, or the HA
 * peer's while we serve it) the LOGIN came to; NULL: served here. */
static const struct rc_cl_node *
home_elsewhere(struct rc_node *n, const struct rc_who *who, const struct rc_str *user)
{
	struct in_addr arrived;

	if (who->peer.port_idx >= n->dp.n_ports)
		return NULL;
	arrived.s_addr = rc_local_ip(&n->dp.ports[who->peer.port_idx].local, who->peer.vip);
	return rc_cluster_login_redirect(rc_cluster_node_state(n->cn), n->cfg.node_id, user->p,
					 user->len, arrived);
}

/* REDIRECT: log in at the home node instead (same token); not a session. */
static void
login_redirect(struct rc_node *n, struct rc_work *wk, const struct rc_cl_node *home)
{
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_REDIRECT;
	m.u.redirect.node.p = home->id;
	m.u.redirect.node.len = (uint8_t)strlen(home->id);
	m.u.redirect.ip = ntohl(home->vip.s_addr);
	m.u.redirect.udp_port = home->udp_port;
	n->logins_redirected++;
	RC_DEBUG("login %.*s redirected to its home node %s", (int)wk->req.u.login.user.len,
		 wk->req.u.login.user.p, home->id);
	rc_node_reply(n, &wk->who, &m);
}

/* The ERROR text of a token refused for reason. */
static const char *
refusal_text(unsigned reason)
{
	switch (reason) {
	case RC_LOGIN_TOKEN_EXPIRED: return "token expired";
	case RC_LOGIN_TOKEN_REVOKED: return "token revoked";
	case RC_LOGIN_TOKEN_TOO_LONG: return "token lifetime above the maximum";
	default: return "bad token";
	}
}

/* The token of a LOGIN lets user in; else *why gets the refusal (enum rc_login_refusal). */
static bool
login_token(struct rc_node *n, const struct rc_str *user, const struct rc_str *token,
	    unsigned *why)
{
	struct rc_token_info ti;
	struct timespec now;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	rc = rc_token_verify(&n->cfg.keys[RC_KEY_TOKENS], user->p, user->len, token->p,
			     token->len, (uint64_t)now.tv_sec, &ti);
	if (rc != 0)
		*why = rc == -EKEYEXPIRED ? RC_LOGIN_TOKEN_EXPIRED : RC_LOGIN_BAD_TOKEN;
	else if (ti.expiry * 1000 > ti.issued_ms + (uint64_t)n->cfg.token_ttl_max_s * 1000)
		*why = RC_LOGIN_TOKEN_TOO_LONG;
	else if (rc_revoked(&n->revoked, user->p, user->len, ti.issued_ms))
		*why = RC_LOGIN_TOKEN_REVOKED;
	else
		return true;
	return false;
}

/* BYE, unasked, to session s that a LOGIN of its user ended. */
static void
bye_evicted(struct rc_node *n, const struct rc_who *who, const struct rc_session *s)
{
	struct rc_who to = *who;
	struct rc_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_BYE;
	to.session = s->id;
	to.request_id = 0;
	to.peer = s->peer;
	rc_node_reply(n, &to, &m);
}

/*
 * Room for a new session of this user from who's address, so that one token cannot fill the
 * table: the user's session bound to the same address and port ends (replaced: the same
 * socket asked again); beyond chat.max_sessions_per_address the LOGIN is refused
 * (-EDQUOT); beyond chat.max_sessions_per_user the user's oldest session ends (BYE to it).
 */
static int
login_make_room(struct rc_node *n, const struct rc_who *who, const struct rc_str *user)
{
	struct rc_session_table *t = n->dp.sessions;
	unsigned per_user = n->cfg.max_sessions_per_user;
	unsigned per_addr = n->cfg.max_sessions_per_address;
	struct rc_session *s = rc_session_user_at(t, user->p, user->len, &who->peer);
	unsigned have;

	if (s != NULL) {
		RC_DEBUG("session *%04x of %.*s replaced by a LOGIN from its address",
			 RC_LOG_SID(s->id), (int)user->len, user->p);
		rc_node_end_session(n, s);
		n->sessions_replaced++;
	}
	if (per_addr != 0 && rc_session_addr_count(t, who->peer.ip) >= per_addr)
		return -EDQUOT;
	have = rc_session_user_count(t, user->p, user->len);
	for (; per_user != 0 && have >= per_user; have--) {
		s = rc_session_user_oldest(t, user->p, user->len);
		RC_DEBUG("session *%04x of %.*s ended: max_sessions_per_user", RC_LOG_SID(s->id),
			 (int)user->len, user->p);
		bye_evicted(n, who, s);
		rc_node_end_session(n, s);
		n->sessions_evicted++;
	}
	return 0;
}

/* A new session for this LOGIN, or NULL once refused (the LOGIN answered). */
static struct rc_session *
login_new_session(struct rc_node *n, struct rc_work *wk)
{
	const struct rc_str *user = &wk->req.u.login.user;
	struct rc_session *s = NULL;

	if (login_make_room(n, &wk->who, user) != 0) {
		login_refused(n, RC_LOGIN_ADDRESS_LIMIT);
		rc_node_reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_LOGIN,
				    "too many sessions from this address", wk->msg_len);
		return NULL;
	}
	s = rc_session_add(n->dp.sessions, user->p, user->len, &wk->who.peer, rc_mono_ms());
	if (s == NULL) {
		login_refused(n, RC_LOGIN_TOO_MANY);
		rc_node_reply_error(n, &wk->who, RC_E_LIMIT_REACHED, RC_T_LOGIN,
				    "too many sessions", wk->msg_len);
	}
	return s;
}

void
rc_node_login(struct rc_node *n, struct rc_work *wk)
{
	const struct rc_msg *m = &wk->req; /* as the RX worker decoded it, views into wk->msg */
	const struct rc_cl_node *home;
	struct rc_session *s;
	unsigned why;

	if (m->hdr.type != RC_T_LOGIN && m->hdr.type != RC_T_LOGIN_COOKIE)
		return; /* only LOGIN's rows hand over RC_WORK_LOGIN (request.c) */
	/* the header session of a LOGIN is ignored (PROTOCOL.md 7.1) */
	if (!login_token(n, &m->u.login.user, &m->u.login.token, &why)) {
		login_refused(n, why);
		rc_node_reply_error(n, &wk->who, RC_E_NOT_AUTH, RC_T_LOGIN, refusal_text(why),
				    wk->msg_len);
		return;
	}
	home = home_elsewhere(n, &wk->who, &m->u.login.user);
	if (home != NULL) {
		login_redirect(n, wk, home);
		return;
	}
	s = login_repeated(n, &wk->who, &m->u.login.user);
	if (s != NULL) {
		n->logins_repeated++;
		rc_session_touch(s, rc_mono_ms());
		login_ok(n, wk, s);
		return;
	}
	s = login_new_session(n, wk);
	if (s == NULL)
		return;
	login_remember(n, &wk->who, s);
	n->logins_ok++;
	RC_DEBUG("login %.*s session *%04x", (int)s->user_len, s->user, RC_LOG_SID(s->id));
	login_ok(n, wk, s);
	rc_ha_node_session(n->ha, s, true);
}

void
rc_node_end_session(struct rc_node *n, struct rc_session *s)
{
	rc_ha_node_session(n->ha, s, false);
	rc_scopes_end_session(&n->scopes, s);
}

void
rc_node_logout(struct rc_node *n, struct rc_work *wk)
{
	struct rc_session *s = rc_session_lookup(n->dp.sessions, wk->who.session);
	struct rc_msg m;

	if (s != NULL)
		rc_node_end_session(n, s);
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_BYE;
	rc_node_reply(n, &wk->who, &m);
}

struct expiry {
	struct rc_node *n;
	uint64_t now;
	unsigned count;
	struct rc_session *victims[256];
};

static int
find_idle(void *arg, struct rc_session *s)
{
	struct expiry *e = arg;
	uint64_t seen = __atomic_load_n(&s->last_seen_ms, __ATOMIC_RELAXED);

	if (e->now > seen && e->now - seen > (uint64_t)e->n->cfg.session_idle_s * 1000)
		e->victims[e->count++] = s;
	return e->count == RTE_DIM(e->victims);
}

void
rc_node_expire_sessions(struct rc_node *n)
{
	struct expiry e = { .n = n, .now = rc_mono_ms() };
	unsigned i;

	rc_session_foreach(n->dp.sessions, find_idle, &e);
	for (i = 0; i < e.count; i++) {
		RC_DEBUG("session *%04x of %.*s expired", RC_LOG_SID(e.victims[i]->id),
			 (int)e.victims[i]->user_len, e.victims[i]->user);
		rc_node_end_session(n, e.victims[i]);
		n->sessions_expired++;
	}
}
