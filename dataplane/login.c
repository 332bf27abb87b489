/* SPDX-License-Identifier: MIT */
#include "login.h"

#include <string.h>

#include "cookie.h"
#include "fanout.h"
#include "limit.h"

/* The control thread is behind on LOGINs (or chat.login_cookie_threshold is 0). */
static bool
under_load(const struct rc_dp *dp)
{
	return rte_ring_count(dp->login_ring) >= dp->login_cookie_threshold;
}

/* COOKIE for m's sender, never larger than m (raw_len bytes): no amplification. */
static void
send_cookie(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	    const struct rc_msg *m, size_t raw_len, uint64_t now)
{
	struct rc_msg c;

	if (!rc_bucket_take(&w->cookies_sent, now, RC_COOKIE_RATE, RC_COOKIE_RATE, 1))
		return;
	memset(&c, 0, sizeof(c));
	c.hdr.type = RC_T_COOKIE;
	c.hdr.request_id = m->hdr.request_id;
	rc_cookie_make(&w->cookie, now, peer->ip, peer->udp_port, &c.u.cookie.slot,
		       &c.u.cookie.mac);
	if (rc_encoded_len(&c) > (ssize_t)raw_len) {
		w->stats.drops[RC_DROP_AMPLIFICATION]++;
		return;
	}
	rc_tx_msg(dp, w, peer, &c);
}

bool
rc_login_admit(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	       const struct rc_msg *m, size_t raw_len, unsigned n_before)
{
	uint64_t now = rc_mono_ms();

	/* a session per LOGIN, and a client needs one session: a second LOGIN in a datagram
	 * only multiplies the MACs one datagram costs */
	if (n_before != 0) {
		w->stats.drops[RC_DROP_LOGIN_BUNDLED]++;
		return false;
	}
	/* the source's bucket first: it also bounds the COOKIEs one address gets (reflected
	 * to it if spoofed), so that a flood from a few addresses leaves the worker's COOKIEs
	 * to everyone else; a genuine client's LOGIN and LOGIN_COOKIE take a token each */
	if (!rc_src_take(&w->login_src, peer->ip, now, dp->login_rate, dp->login_burst)) {
		w->stats.drops[RC_DROP_LOGIN_RATE]++;
		return false;
	}
	if (!under_load(dp) ||
	    (m->hdr.type == RC_T_LOGIN_COOKIE &&
	     rc_cookie_ok(&w->cookie, now, peer->ip, peer->udp_port, m->u.login.cookie_slot,
			  m->u.login.cookie_mac)))
		return true;
	/* a LOGIN, or a cookie from another address or too old: a (new) COOKIE */
	w->stats.drops[RC_DROP_LOGIN_COOKIE]++;
	send_cookie(dp, w, peer, m, raw_len, now);
	return false;
}
