/* SPDX-License-Identifier: MIT */
/*
 * Ethernet / ARP / IPv4 / ICMP / UDP for one service address: classify a received frame,
 * answer ARP and ICMP echo in place, and frame outgoing chat datagrams.
 *
 * Pure functions of their arguments; safe on any lcore. Nothing here allocates or logs.
 */
#ifndef RC_PKT_H
#define RC_PKT_H

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
	struct rte_ether_addr mac;
};

/* Our own addresses on one port. */
struct rc_local {
	struct rte_ether_addr mac;
	rte_be32_t ip;
	rte_be16_t udp_port;
	uint16_t port_idx;
};

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

/* Payload bytes already in m, and how many more fit in one datagram of max payload. */
static inline uint16_t
rc_pkt_payload_len(const struct rte_mbuf *m)
{
	return (uint16_t)(rte_pktmbuf_data_len(m) - RC_L2L4_LEN);
}

#endif /* RC_PKT_H */
