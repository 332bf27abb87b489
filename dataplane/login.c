/* SPDX-License-Identifier: MIT */
#include "login.h"

#include "limit.h"

bool
rc_login_admit(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	       const struct rc_msg *m, size_t raw_len, unsigned n_before)
{
	(void)m;
	(void)raw_len;
	/* a session per LOGIN, and a client needs one session: a second LOGIN in a datagram
	 * only multiplies the MACs one datagram costs */
	if (n_before != 0) {
		w->stats.drops[RC_DROP_LOGIN_BUNDLED]++;
		return false;
	}
	if (!rc_src_take(&w->login_src, peer->ip, rc_mono_ms(), dp->login_rate,
			 dp->login_burst)) {
		w->stats.drops[RC_DROP_LOGIN_RATE]++;
		return false;
	}
	return true;
}
