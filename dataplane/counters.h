/* SPDX-License-Identifier: MIT */
/*
 * Per-lcore counters. Each worker writes only its own struct (plain stores, no atomics);
 * the control thread reads them all and sums (a torn read of a 64-bit counter cannot happen
 * on x86-64). Drop reasons are an enum with a name table checked complete by a test.
 */
#ifndef RC_COUNTERS_H
#define RC_COUNTERS_H

#include <stdint.h>

#include <rte_common.h>

#include "proto.h"

enum rc_drop {
	RC_DROP_ETH_SHORT = 0,    /* frame shorter than an Ethernet header */
	RC_DROP_ETH_TYPE,         /* neither IPv4 nor ARP */
	RC_DROP_ETH_DST,          /* unicast to another MAC */
	RC_DROP_ARP_BAD,          /* malformed ARP */
	RC_DROP_ARP_NOT_US,       /* ARP for another address, or not a request */
	RC_DROP_IP_BAD,           /* bad IPv4 header, length or checksum */
	RC_DROP_IP_NOT_US,        /* IPv4 to another address */
	RC_DROP_IP_FRAGMENT,      /* fragments are not reassembled */
	RC_DROP_IP_PROTO,         /* neither UDP nor ICMP */
	RC_DROP_ICMP_OTHER,       /* ICMP other than echo request, or malformed */
	RC_DROP_UDP_BAD,          /* bad UDP length or checksum */
	RC_DROP_UDP_PORT,         /* UDP to a port we do not serve */
	RC_DROP_UDP_OVERSIZE,     /* UDP payload over 1472 bytes (PROTOCOL.md 1) */
	RC_DROP_MSG_MALFORMED,    /* chat message that does not decode, without a session */
	RC_DROP_MSG_NOT_AUTH,     /* no live session and too small to answer */
	RC_DROP_MSG_UNEXPECTED,   /* a server-to-client type sent to the node */
	RC_DROP_AMPLIFICATION,    /* reply withheld: larger than the request before login */
	RC_DROP_RESEND_PENDING,   /* re-sent POST whose first copy is still being stored */
	RC_DROP_RING_CTRL,        /* control thread's ring full (room creation, LOGOUT, ROOMS) */
	RC_DROP_RING_WORKER,      /* another worker's ring full */
	RC_DROP_RING_WAL,         /* WAL ring full (answered BUSY) */
	RC_DROP_RING_HIST,        /* history ring full */
	RC_DROP_NO_MBUF,          /* mbuf or record pool empty */
	RC_DROP_TX_FULL,          /* NIC TX queue full */
	RC_DROP_WINDOW_NOMEM,     /* POST answered BUSY: its room's re-sent POST window could
				   * not grow (out of memory) */
	RC_DROP_LOGIN_RATE,       /* LOGIN over its source address's bucket (chat.login_rate) */
	RC_DROP_LOGIN_BUNDLED,    /* a LOGIN after the first of its datagram */
	RC_DROP_RING_LOGIN,       /* the control thread's LOGIN ring full (answered BUSY) */
	RC_DROP_REQUEST_BUDGET,   /* request over its session's budget (answered ERROR 4) */
	RC_DROP_ICMP_RATE,        /* ICMP echo over the worker's or its source's rate */
	RC_DROP_LOGIN_COOKIE,     /* LOGIN under load without a valid cookie (answered COOKIE) */
	RC_DROP_MAX
};

struct rc_lcore_stats {
	uint64_t rx_pkts;
	uint64_t rx_bytes;
	uint64_t tx_pkts;
	uint64_t tx_bytes;
	uint64_t polls;
	uint64_t idle_sleeps;         /* idle waits (workers.idle_backoff) */
	uint64_t bell_wakes;          /* ... ended early by a producer's doorbell */
	uint64_t msgs_in[RC_T_MAX];   /* decoded requests by type */
	uint64_t msgs_out[RC_T_MAX];  /* messages sent by type */
	uint64_t errors_out[RC_E_MAX]; /* ERROR replies by code */
	uint64_t forwarded;           /* requests handed to the room's home worker */
	uint64_t deliveries;          /* DELIVER messages sent */
	uint64_t fan_datagrams;       /* datagrams of DELIVERs a room's fan-out built */
	uint64_t tx_waited;           /* frames a full TX queue did not take at once (sent later) */
	uint64_t posts_stored;        /* POSTs committed and acknowledged */
	uint64_t resends_acked;       /* re-sent POSTs answered from the room's window */
	uint64_t seqs_handed_back;    /* a record not stored: its seq assigned again (no gap) */
	uint64_t seq_conflicts;       /* records refused as already stored (an alarm) */
	uint64_t logins_busy;         /* LOGINs refused: the control thread's ring was full */
	uint64_t drops[RC_DROP_MAX];
} __rte_cache_aligned;

const char *rc_drop_name(unsigned reason); /* "eth_short", ...; "?" out of range */

#endif /* RC_COUNTERS_H */
