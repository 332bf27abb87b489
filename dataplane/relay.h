/* SPDX-License-Identifier: MIT */
/*
 * The relay between nodes on the fast path: the directory of the other nodes (their
 * service, address and pair key), the envelope every node-to-node datagram travels in
 * (wire/relay_wire.h), its verification on RX, and the neighbour table that resolves the
 * other nodes' MACs (neigh.c).
 *
 * A relay peer is a struct rc_peer with relay = 1 + its directory index; the TX slots
 * (fanout.c) and rc_dp_send_msg() wrap everything sent to one in an envelope. A received
 * datagram starting with "RN" goes to rc_relay_input(), never to rc_req_input(); once the
 * envelope is verified, its bundle goes to rc_relay_inner() (relay_rooms.c: what the
 * relayed messages mean).
 *
 * Directory indexes are stable: a node id keeps its index across publications (a node that
 * leaves the directory leaves an empty entry, id ""), so an index stored in a room or a
 * member stays valid; a new node takes an index no node held before while one is left.
 *
 * Concurrency: rc_relay_publish(), rc_neigh_solicit() and rc_relay_destroy(): the control
 * thread. rc_relay_find_service(), rc_relay_find_node(), rc_relay_peer_of(),
 * rc_relay_scope_service(): a registered RCU reader (worker) or the control thread; a
 * returned string stays valid until the reader's next quiescent state (control thread:
 * until its next rc_relay_publish()). rc_relay_input(), rc_relay_seal_slot(): the worker w.
 * struct rc_relay_stats: written by its worker only, read by the control thread.
 */
#ifndef RC_RELAY_H
#define RC_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "lease_guard.h" /* RC_MAX_SCOPES */
#include "pkt.h"
#include "proto.h"
#include "relay_wire.h"

#define RC_RELAY_MAX_NODES 48 /* 8 joined clusters x 6 nodes */
#define RC_SERVICE_MAX 128

struct rc_relay_node {
	char id[64];                  /* node id */
	char service[RC_SERVICE_MAX]; /* its TC service name */
	rte_be32_t ip;                /* its VIP */
	rte_be16_t udp_port;          /* its chat port (network order) */
	uint16_t port_idx;            /* our port that reaches it (0) */
	uint8_t key[32];              /* the pair key (us, it) */
	/* the pair key (our HA peer, it): what it seals a datagram to the peer's address with,
	 * which we receive while we serve that address (a takeover); all zero without a peer */
	uint8_t peer_key[32];
	uint8_t key_id;
};

struct rc_relay_dir {
	char self_id[64];
	char service[RC_MAX_SCOPES][RC_SERVICE_MAX]; /* scope 0 ours; 1 the HA peer's ("" none) */
	unsigned n_nodes;
	struct rc_relay_node nodes[RC_RELAY_MAX_NODES]; /* every other node, HA peer included */
};

/* Why a relay datagram was dropped (struct rc_relay_stats.drops). */
enum rc_relay_drop {
	RC_RELAY_DROP_MALFORMED = 0, /* shorter than an envelope, bad version, bad sender str */
	RC_RELAY_DROP_BAD_SENDER,    /* sender id not in the directory, or not from its IP */
	RC_RELAY_DROP_BAD_KEY,       /* key id other than the pair's */
	RC_RELAY_DROP_BAD_TAG,       /* tag does not verify (or the MAC could not be computed) */
	RC_RELAY_DROP_REPLAY,        /* counter seen already, or older than the window */
	RC_RELAY_DROP_NO_NEIGH,      /* to send: the node's MAC is not known yet */
	RC_RELAY_DROP_NO_NODE,       /* to send: no such directory entry (removed) */
	RC_RELAY_DROP_TOO_BIG,       /* to send: the message does not fit in an envelope */
	RC_RELAY_DROP_MAX
};

/* "relay_malformed", "relay_bad_sender", ... (the counters' names); "?" out of range. */
const char *rc_relay_drop_name(unsigned reason);

/* A worker's relay counters (the control thread sums them: rc_relay_stats_sum). */
struct rc_relay_stats {
	uint64_t dgrams_in;  /* envelopes verified */
	uint64_t bytes_in;   /* their UDP payload bytes */
	uint64_t dgrams_out; /* envelopes sealed */
	uint64_t bytes_out;
	uint64_t msgs_in;             /* messages in verified bundles (rc_relay_inner) */
	uint64_t requests_out[RC_T_MAX]; /* requests relayed to a host, by type (rrooms) */
	uint64_t replies_forwarded;   /* host replies forwarded to a local session (rrooms) */
	uint64_t delivers_in;         /* live DELIVERs received from hosts (rrooms) */
	uint64_t delivers_out;        /* live DELIVERs sent to node members (rrooms) */
	uint64_t duplicates;          /* DELIVERs at or below the remote room's last_seq */
	uint64_t gaps;                /* DELIVERs beyond last_seq + 1 (a gap fill asked) */
	uint64_t neigh_learned;       /* a directory node's MAC learned or changed (ARP seen) */
	uint64_t drops[RC_RELAY_DROP_MAX];
};

/*
 * Counter lanes: the low RC_RELAY_LANE_BITS bits of a counter name who sealed it (lane w:
 * worker w; RC_RELAY_LANE_CTRL: any other thread, rc_dp_send_msg), the bits above count per
 * (lane, receiving node) from the sender's start time in microseconds. A receiver keeps one
 * replay window per (sender, lane): lanes count independently.
 */
#define RC_RELAY_LANE_BITS 5
#define RC_RELAY_LANE_CTRL 16
#define RC_RELAY_LANES 17

/* A worker's own relay state (in struct rc_worker, zeroed at creation). */
struct rc_relay_wstate {
	uint64_t counter[RC_RELAY_MAX_NODES]; /* next counter's upper bits per node (0: unset) */
	/* per address it came to (rc_peer.vip: ours, the HA peer's): a sender counts per
	 * receiving node, and datagrams for our peer's address come from the peer's stream */
	struct rc_relay_window win[2][RC_RELAY_MAX_NODES][RC_RELAY_LANES];
	uint32_t win_gen[RC_RELAY_MAX_NODES]; /* the directory entry the windows belong to */
};

struct rc_dp;
struct rc_worker;

/*
 * Control thread: publish a copy of dir (RCU); the old one is freed after a grace period.
 * Call it once dp->n_workers is set: each worker gets its own keyed MAC context per node
 * (without, a worker seals with a one-shot MAC, slower). Indexes stay stable (see above); the neighbour entry of a node whose IP changed starts
 * unresolved. 0, or -ENOMEM, -EINVAL (n_nodes too large, an id or a service not
 * NUL-terminated, an empty or duplicate id).
 */
int rc_relay_publish(struct rc_dp *dp, const struct rc_relay_dir *dir);

/* Control thread, after the workers stopped: free the directory and the neighbour table. */
void rc_relay_destroy(struct rc_dp *dp);

/* The directory index of the node serving service name[0..len), or -1. */
int rc_relay_find_service(struct rc_dp *dp, const char *name, unsigned len);

/* The directory index of node id (NUL-terminated), or -1. */
int rc_relay_find_node(struct rc_dp *dp, const char *id);

/*
 * The relay peer of directory index idx (relay = 1 + idx, vip 0: relay datagrams leave from
 * our own service address, the one the receiver knows us by). 0; -EHOSTUNREACH when its MAC
 * is not known yet, -ENOENT when idx is no node: both counted (relay_no_neigh,
 * relay_no_node; shared relaxed-atomic counters, summed by rc_relay_stats_sum).
 */
int rc_relay_peer_of(struct rc_dp *dp, unsigned idx, struct rc_peer *out);

/* The TC service of scope (0 ours, 1 the HA peer's), "" when none or out of range. */
const char *rc_relay_scope_service(struct rc_dp *dp, unsigned scope);

/* The directory index of a relay peer (rc_peer.relay - 1). */
static inline unsigned
rc_relay_idx(const struct rc_peer *p)
{
	return (unsigned)p->relay - 1;
}

/*
 * Worker w: a received datagram that starts with "RN". Verified (sender by id and source
 * IP, key id, tag, replay window) then handed to rc_relay_inner(); else dropped and counted
 * by reason.
 */
void rc_relay_input(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *peer,
		    const uint8_t *p, uint16_t len);

/*
 * Implemented in relay_rooms.c: the bundle of a verified envelope from directory index idx,
 * on worker w. from is the sender as a relay peer (relay = 1 + idx, vip 0): replies to it
 * leave from our own service address. bundle[0..len) is a bundle of protocol messages.
 */
void rc_relay_inner(struct rc_dp *dp, struct rc_worker *w, unsigned idx,
		    const struct rc_peer *from, const uint8_t *bundle, uint16_t len);

/*
 * TX slots (fanout.c), worker w: open m (headers reserved by rc_pkt_init) as an envelope
 * for the relay peer `to`: the header is appended. 0, or -ENOENT (no such node, counted).
 */
int rc_relay_open(struct rc_dp *dp, struct rc_worker *w, const struct rc_peer *to,
		  struct rte_mbuf *m);

/*
 * ... and seal it, once its bundle is in: counter, key id and tag; to->mac becomes the
 * node's MAC as last learned (the frame is not finished yet). 0, or -errno (counted; the
 * caller frees m).
 */
int rc_relay_seal(struct rc_dp *dp, struct rc_worker *w, struct rc_peer *to,
		  struct rte_mbuf *m);

/*
 * Any thread but a worker (rc_dp_send_msg: control, history): append the envelope for the
 * relay peer `to` holding bundle[0..len) to m (headers reserved by rc_pkt_init), sealed on
 * the lane RC_RELAY_LANE_CTRL; to->mac as for rc_relay_seal. 0, or -ENOENT (no such node),
 * -EHOSTUNREACH (no MAC), -EMSGSIZE (over one datagram), -ENOBUFS, -EIO: counted.
 */
int rc_relay_wrap(struct rc_dp *dp, struct rc_peer *to, struct rte_mbuf *m,
		  const uint8_t *bundle, uint16_t len);

/* Control thread: the sum of every worker's counters (and the control thread's own). */
void rc_relay_stats_sum(const struct rc_dp *dp, struct rc_relay_stats *out);

/*
 * Neighbours (neigh.c): the MAC of every directory node, learned from the ARP frames the
 * workers see (requests, replies, gratuitous), by directory index.
 *
 * Control thread, about every second (now_ms: rc_mono_ms()): ARP requests (broadcast, on
 * worker 0's tx ring) for the nodes whose MAC is unknown, or was last confirmed over
 * RC_NEIGH_STALE_MS ago (a stale MAC is still used meanwhile).
 */
#define RC_NEIGH_STALE_MS 30000
void rc_neigh_solicit(struct rc_dp *dp, uint64_t now_ms);

/* Changes whenever the MAC of node idx changes (first learned included); 0 before. Any
 * thread. */
uint32_t rc_neigh_gen(struct rc_dp *dp, unsigned idx);

/*
 * Worker w: an ARP frame received on port_idx (m as rc_pkt_classify left it: answered says
 * whether it was rewritten into our reply). Learns its sender's MAC when the sender's IP is
 * a directory node's.
 */
void rc_neigh_arp(struct rc_dp *dp, struct rc_worker *w, const struct rte_mbuf *m,
		  bool answered);

#endif /* RC_RELAY_H */
