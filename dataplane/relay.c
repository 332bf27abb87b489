/* SPDX-License-Identifier: MIT */
/* The relay directory, envelopes on the workers (see relay.h). */
#include "dp.h"

#include <errno.h>
#include <string.h>

int
rc_relay_publish(struct rc_dp *dp, const struct rc_relay_dir *dir)
{
	(void)dp;
	(void)dir;
	return -ENOSYS;
}

void
rc_relay_destroy(struct rc_dp *dp)
{
	(void)dp;
}

int
rc_relay_find_service(struct rc_dp *dp, const char *name, unsigned len)
{
	(void)dp;
	(void)name;
	(void)len;
	return -1;
}

int
rc_relay_find_node(struct rc_dp *dp, const char *id)
{
	(void)dp;
	(void)id;
	return -1;
}

int
rc_relay_peer_of(struct rc_dp *dp, unsigned idx, struct rc_peer *out)
{
	(void)dp;
	(void)idx;
	(void)out;
	return -ENOENT;
}

const char *
rc_relay_scope_service(struct rc_dp *dp, unsigned scope)
{
	(void)dp;
	(void)scope;
	return "";
}

void
rc_relay_input(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
	       const uint8_t *p, uint16_t len)
{
	(void)dp;
	(void)peer;
	(void)p;
	(void)len;
	w->relay_stats.drops[RC_RELAY_DROP_BAD_SENDER]++;
}

int
rc_relay_open(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to, struct rte_mbuf *m)
{
	(void)dp;
	(void)to;
	(void)m;
	w->relay_stats.drops[RC_RELAY_DROP_NO_NODE]++;
	return -ENOENT;
}

int
rc_relay_seal(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to, struct rte_mbuf *m)
{
	(void)dp;
	(void)to;
	(void)m;
	w->relay_stats.drops[RC_RELAY_DROP_NO_NODE]++;
	return -ENOENT;
}

void
rc_relay_stats_sum(const struct rc_dp *dp, struct rc_relay_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < dp->n_workers; i++) {
		const uint64_t *s = (const uint64_t *)&dp->workers[i]->relay_stats;
		uint64_t *o = (uint64_t *)out;

		for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
			o[k] += s[k];
	}
}
