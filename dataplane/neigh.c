/* SPDX-License-Identifier: MIT */
/*
 * The neighbour table (see relay.h): the MAC of every directory node, by directory index,
 * learned by the workers from the ARP frames they see, asked for by the control thread.
 * Entries are read and written with relaxed atomics: a MAC is one 64-bit word.
 */
#include "relay_priv.h"

#include <string.h>

#include <rte_mempool.h>

static uint64_t
mac_word(const struct rte_ether_addr *mac)
{
	uint64_t v = 0;

	memcpy(&v, mac->addr_bytes, RTE_ETHER_ADDR_LEN);
	return v | RC_NEIGH_KNOWN;
}

void
rc_neigh_set(struct rc_relay *r, unsigned idx, rte_be32_t ip, uint16_t port_idx)
{
	struct rc_neigh *n = &r->neigh[idx];

	if (__atomic_load_n(&n->ip, __ATOMIC_RELAXED) != ip) {
		__atomic_store_n(&n->mac, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&n->seen_ms, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&n->ip, ip, __ATOMIC_RELAXED);
	}
	n->port_idx = port_idx;
}

bool
rc_neigh_mac(const struct rc_relay *r, unsigned idx, struct rte_ether_addr *mac)
{
	uint64_t v;

	if (r == NULL || idx >= RC_RELAY_MAX_NODES)
		return false;
	v = __atomic_load_n(&r->neigh[idx].mac, __ATOMIC_RELAXED);
	if ((v & RC_NEIGH_KNOWN) == 0)
		return false;
	memcpy(mac->addr_bytes, &v, RTE_ETHER_ADDR_LEN);
	return true;
}

uint32_t
rc_neigh_gen(struct rc_dp *dp, unsigned idx)
{
	const struct rc_relay *r = rc_relay_of(dp);

	if (r == NULL || idx >= RC_RELAY_MAX_NODES)
		return 0;
	return __atomic_load_n(&r->neigh[idx].gen, __ATOMIC_RELAXED);
}

/* Entry n saw mac now: a changed MAC bumps its generation (once, whichever worker wins). */
static void
learn(struct rc_worker *w, struct rc_neigh *n, const struct rte_ether_addr *mac, uint64_t now)
{
	uint64_t want = mac_word(mac), old = __atomic_load_n(&n->mac, __ATOMIC_RELAXED);

	__atomic_store_n(&n->seen_ms, now, __ATOMIC_RELAXED);
	if (old == want ||
	    !__atomic_compare_exchange_n(&n->mac, &old, want, false, __ATOMIC_RELAXED,
					 __ATOMIC_RELAXED))
		return;
	__atomic_fetch_add(&n->gen, 1, __ATOMIC_RELEASE);
	w->relay_stats.neigh_learned++;
}

void
rc_neigh_arp(struct rc_dp *dp, struct rc_worker *w, const struct rte_mbuf *m, bool answered)
{
	struct rc_relay *r = rc_relay_of(dp);
	struct rte_ether_addr mac;
	rte_be32_t ip;

	if (r == NULL || !rc_pkt_arp_sender(m, answered, &ip, &mac) || ip == 0 ||
	    !rte_is_unicast_ether_addr(&mac) || rte_is_zero_ether_addr(&mac))
		return;
	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++)
		if (__atomic_load_n(&r->neigh[i].ip, __ATOMIC_RELAXED) == ip)
			learn(w, &r->neigh[i], &mac, rc_mono_ms());
}

/* Whether entry n needs asking: no MAC, or none confirmed for RC_NEIGH_STALE_MS. */
static bool
needs_asking(const struct rc_neigh *n, uint64_t now_ms)
{
	uint64_t seen = __atomic_load_n(&n->seen_ms, __ATOMIC_RELAXED);

	if ((__atomic_load_n(&n->mac, __ATOMIC_RELAXED) & RC_NEIGH_KNOWN) == 0)
		return true;
	return now_ms >= seen && now_ms - seen > RC_NEIGH_STALE_MS;
}

void
rc_neigh_solicit(struct rc_dp *dp, uint64_t now_ms)
{
	struct rc_relay *r = rc_relay_of(dp);

	for (unsigned i = 0; r != NULL && i < RC_RELAY_MAX_NODES; i++) {
		const struct rc_neigh *n = &r->neigh[i];
		rte_be32_t ip = __atomic_load_n(&n->ip, __ATOMIC_RELAXED);
		struct rte_mbuf *m;

		if (ip == 0 || n->port_idx >= dp->n_ports || !needs_asking(n, now_ms))
			continue;
		m = rte_pktmbuf_alloc(dp->mbuf_pool);
		if (m == NULL)
			return;
		if (rc_pkt_arp_request(m, &dp->ports[n->port_idx].local, ip) != 0) {
			rte_pktmbuf_free(m);
			return;
		}
		m->port = n->port_idx;
		if (rc_worker_push(dp->workers[0], dp->workers[0]->tx, m) != 0)
			rte_pktmbuf_free(m);
	}
}
