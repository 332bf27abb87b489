/* SPDX-License-Identifier: MIT */
/*
 * What a worker lets through of the LOGINs it receives, before the control thread pays for
 * a token's MAC (review S11). In order:
 *  1. one LOGIN per datagram: the others of a bundle are dropped (login_bundled);
 *  2. a token bucket per source address (chat.login_rate, chat.login_burst) on each worker:
 *     over it, dropped unanswered (login_rate);
 *  3. under load (chat.login_cookie_threshold LOGINs waiting on the control thread), a
 *     LOGIN without a valid cookie for its address (cookie.h) is answered with a COOKIE
 *     (RC_COOKIE_RATE a second at most) and goes no further (login_cookie).
 * What passes is handed to the control thread on its LOGIN ring (dp->login_ring), apart
 * from room creation and LOGOUT (dp->ctrl_ring): a full LOGIN ring refuses LOGINs only.
 *
 * Concurrency: worker w only (its source table and counters).
 */
#ifndef RC_LOGIN_H
#define RC_LOGIN_H

#include <stdbool.h>

#include "dp.h"

/* LOGIN m (raw_len bytes on the wire) from peer, the n_before-th LOGIN of its datagram
 * (0: the first): true when it goes on to the control thread; false when it was dropped or
 * answered here (counted). */
bool rc_login_admit(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
		    const struct rc_msg *m, size_t raw_len, unsigned n_before);

#endif /* RC_LOGIN_H */
