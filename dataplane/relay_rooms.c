/* SPDX-License-Identifier: MIT */
/*
 * What the relayed messages mean (relay.h, rc_relay_inner): remote rooms, node members,
 * relayed requests. For now each message of a verified bundle is only counted.
 */
#include "dp.h"

void
rc_relay_inner(struct rc_dp *dp, struct rc_worker *w, unsigned idx, const struct rc_peer *from,
	       const uint8_t *bundle, uint16_t len)
{
	size_t off = 0, used;
	struct rc_msg m;

	(void)dp;
	(void)idx;
	(void)from;
	while (off < len) {
		if (rc_decode(bundle + off, len - off, &m, &used) == 0)
			w->relay_stats.msgs_in++;
		if (used == 0)
			break;
		off += used;
	}
}
