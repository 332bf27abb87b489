/* SPDX-License-Identifier: MIT */
/*
 * Replay: turns stored messages that the history thread reads into DELIVERs (bundled, one
 * recipient at a time) followed by a FETCH_END, and hands the datagrams to a worker's
 * `tx` ring. These are the history thread's callbacks (struct rc_history_ops).
 *
 * Concurrency: the history thread only (one open datagram, kept in struct rc_replay).
 */
#ifndef RC_REPLAY_H
#define RC_REPLAY_H

#include <stdint.h>

#include "dp.h"
#include "handoff.h"

struct rc_replay {
	struct rc_dp *dp;
	struct rte_mbuf *m;       /* the datagram being filled */
	uint64_t sent;            /* datagrams handed to workers */
	uint64_t dropped;         /* datagrams lost: no mbuf, or a worker's tx ring full */
};

extern const struct rc_history_ops rc_replay_ops; /* arg: struct rc_replay * */

#endif /* RC_REPLAY_H */
