/* SPDX-License-Identifier: MIT */
/*
 * The relay's shared state behind struct rc_dp.relay, for relay.c and neigh.c only (and the
 * tests).
 *
 * The published directory (struct rc_relay_pub) is replaced whole by the control thread
 * (RCU, under `lock`); workers read it between quiescent states, other threads (history,
 * rc_dp_send_msg) under `lock`. The neighbour entries are written by any worker (relaxed
 * atomics) and re-addressed by the control thread when it publishes.
 */
#ifndef RC_RELAY_PRIV_H
#define RC_RELAY_PRIV_H

#include <pthread.h>

#include <urcu-qsbr.h>

#include "dp.h"

#define RC_NEIGH_KNOWN (1ull << 48) /* in rc_neigh.mac: the 48 bits below are a MAC */

struct rc_neigh {
	rte_be32_t ip;     /* the node's address (0: no node at this index) */
	uint16_t port_idx; /* our port that reaches it */
	uint64_t mac;      /* RC_NEIGH_KNOWN | the MAC's 6 bytes; 0 unknown. Relaxed atomic */
	uint32_t gen;      /* bumped when mac changes (relaxed atomic) */
	uint64_t seen_ms;  /* monotonic time its ARP was last seen (relaxed atomic) */
};

struct rc_relay_pub {
	struct rcu_head rcu;
	struct rc_relay_dir dir;
	uint8_t self_len;
	uint8_t id_len[RC_RELAY_MAX_NODES];
	uint8_t service_len[RC_RELAY_MAX_NODES];
	uint32_t gen[RC_RELAY_MAX_NODES]; /* changes when an index gets another node */
	/* per worker and node: the pair key, keyed once (NULL: sealed by the one-shot MAC) */
	struct rc_hmac_keyed *mac[RC_DP_MAX_WORKERS][RC_RELAY_MAX_NODES];
	/* the same with the peer key, for datagrams to our HA peer's address (NULL: none) */
	struct rc_hmac_keyed *peer_mac[RC_DP_MAX_WORKERS][RC_RELAY_MAX_NODES];
};

struct rc_relay {
	struct rc_relay_pub *pub; /* RCU; replaced under lock */
	pthread_mutex_t lock;
	uint32_t next_gen;        /* control thread */
	bool ever_held[RC_RELAY_MAX_NODES]; /* control thread: an index some node had */
	uint64_t ctrl_counter[RC_RELAY_MAX_NODES]; /* lane RC_RELAY_LANE_CTRL, under lock */
	struct rc_relay_stats ctrl; /* counted outside the workers (relaxed atomics) */
	struct rc_neigh neigh[RC_RELAY_MAX_NODES];
};

static inline struct rc_relay *
rc_relay_of(const struct rc_dp *dp)
{
	return __atomic_load_n(&dp->relay, __ATOMIC_ACQUIRE);
}

/* neigh.c: point entry idx at ip (its MAC forgotten when the address changed). */
void rc_neigh_set(struct rc_relay *r, unsigned idx, rte_be32_t ip, uint16_t port_idx);

/* neigh.c: the MAC of entry idx; false when unknown. */
bool rc_neigh_mac(const struct rc_relay *r, unsigned idx, struct rte_ether_addr *mac);

#endif /* RC_RELAY_PRIV_H */
