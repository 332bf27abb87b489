/* SPDX-License-Identifier: MIT */
/*
 * Ethernet / ARP / IPv4 / ICMP / UDP for one service address: classify a received frame,
 * answer ARP and ICMP echo in place, and frame outgoing chat datagrams.
 *
 * Pure functions of their arguments; safe on any lcore. Nothing here allocates or logs.
 */
#ifndef RC_PKT_H
#define RC_PKT_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "counters.h"

#define RC_L2L4_LEN (RTE_ETHER_HDR_LEN + 20 + 8) /* Ethernet + IPv4 (no options) + UDP */

/* Where a reply goes: the sender of a request, as seen on the wire. */
struct rc_peer {
	rte_be32_t ip;
	rte_be16_t udp_port;
	uint16_t port_idx; /* index of our rc_port it came in on */
	uint8_t vip;       /* which of our service addresses it was sent to: 0 ours, 1 the
			    * HA peer's (while we serve it); replies leave from that address */
	uint8_t relay;     /* 0: a client; else another node, 1 + its directory index
			    * (relay.h): what is sent to it travels in a relay envelope */
	struct rte_ether_addr mac;
};

/* Our own addresses on one port. */
struct rc_local {
	struct rte_ether_addr mac;
	rte_be32_t ip;
	rte_be16_t udp_port;
	uint16_t port_idx;
	/* HA: the peer's service address (0: none configured), answered (ARP, chat) only
	 * while peer_ip_on is set by the control thread (after a takeover). */
	rte_be32_t peer_ip;
	bool peer_ip_on; /* relaxed atomic */
	bool ip_on;      /* our own address is answered (HA: while we serve our rooms) */
};

/* Our address number `vip` (0 ours, 1 the peer's) on this port. */
static inline rte_be32_t
rc_local_ip(const struct rc_local *local, uint8_t vip)
{
	return vip == 0 ? local->ip : local->peer_ip;
}

/* Which of our addresses ip is (0 ours, 1 the peer's while served), or -1. */
static inline int
rc_local_vip_of(const struct rc_local *local, rte_be32_t ip)
{
	if (ip == local->ip && __atomic_load_n(&local->ip_on, __ATOMIC_RELAXED))
		return 0;
	if (local->peer_ip != 0 && ip == local->peer_ip &&
	    __atomic_load_n(&local->peer_ip_on, __ATOMIC_RELAXED))
		return 1;
	return -1;
}

enum rc_verdict {
	RC_V_DROP = 0,  /* free it; *why says why */
	RC_V_REPLY,     /* rewritten in place (ARP reply, ICMP echo reply): transmit it */
	RC_V_CHAT,      /* a datagram for the chat port: *peer, *payload, *len are set */
};

/*
 * Classify frame m received on port local->port_idx. For RC_V_CHAT the payload stays
 * inside m. Malformed frames of every kind are RC_V_DROP with a reason, never a crash.
 */
enum rc_verdict rc_pkt_classify(struct rte_mbuf *m, const struct rc_local *local,
				struct rc_peer *peer, const uint8_t **payload, uint16_t *len,
				enum rc_drop *why);

/* Reserve the Ethernet/IPv4/UDP headers in an empty mbuf; returns where the UDP payload
 * starts (the caller appends with rc_pkt_room / rc_pkt_put). */
uint8_t *rc_pkt_init(struct rte_mbuf *m);

/* Write the headers for a payload of m's current data length minus RC_L2L4_LEN. */
void rc_pkt_finish(struct rte_mbuf *m, const struct rc_local *local, const struct rc_peer *to);

/*
 * A gratuitous ARP for ip from local's MAC into the empty mbuf m (broadcast; a request when
 * reply is false, a reply otherwise): what a node sends when a service address moves to it.
 * 0, or -ENOBUFS when m has no room.
 */
int rc_pkt_garp(struct rte_mbuf *m, const struct rc_local *local, rte_be32_t ip, bool reply);

/* An ARP request (broadcast) from our own service address for tip into the empty mbuf m:
 * how the node resolves another node's MAC. 0, or -ENOBUFS. */
int rc_pkt_arp_request(struct rte_mbuf *m, const struct rc_local *local, rte_be32_t tip);

/*
 * The sender (IP and MAC) of an Ethernet ARP frame m as rc_pkt_classify left it: answered
 * when it was rewritten into our reply (RC_V_REPLY), else untouched. false when m is not
 * such a frame.
 */
bool rc_pkt_arp_sender(const struct rte_mbuf *m, bool answered, rte_be32_t *ip,
		       struct rte_ether_addr *mac);

/* Payload bytes already in m, and how many more fit in one datagram of max payload. */
static inline uint16_t
rc_pkt_payload_len(const struct rte_mbuf *m)
{
	return (uint16_t)(rte_pktmbuf_data_len(m) - RC_L2L4_LEN);
}

#endif /* RC_PKT_H */
