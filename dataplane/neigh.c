/* SPDX-License-Identifier: MIT */
/* The neighbour table of the directory's nodes (see relay.h). */
#include "dp.h"

void
rc_neigh_solicit(struct rc_dp *dp, uint64_t now_ms)
{
	(void)dp;
	(void)now_ms;
}

uint32_t
rc_neigh_gen(struct rc_dp *dp, unsigned idx)
{
	(void)dp;
	(void)idx;
	return 0;
}

void
rc_neigh_arp(struct rc_dp *dp, struct rc_worker *w, const struct rte_mbuf *m, bool answered)
{
	(void)dp;
	(void)w;
	(void)m;
	(void)answered;
}
