/* SPDX-License-Identifier: MIT */
/*
 * The IPv4 fragments that a port's device reassembles before the node sees them.
 *
 * PROTOCOL.md section 1: the node drops IP fragments. pkt.c drops every fragment it is
 * given, which holds on devices that hand over the frames as they were on the wire (PCI
 * NICs, net_tap, net_memif, net_ring). DPDK's net_af_packet does not: its sockets join a
 * PACKET_FANOUT group with PACKET_FANOUT_FLAG_DEFRAG set unconditionally (DPDK 22.11,
 * drivers/net/af_packet/rte_eth_af_packet.c; no device argument turns it off, and a fanout
 * cannot be left once joined), so the kernel reassembles the fragments and the node would
 * receive one ordinary-looking datagram.
 *
 * A frag tap is a second AF_PACKET socket on the same interface, with no fanout, a BPF
 * filter that keeps IPv4 fragments only (their first 256 bytes), and a TPACKET_V2 ring read
 * without system calls. Registered after the device's sockets, the kernel hands it every
 * frame before the device's fanout group sees it, so a fragment is in the tap's ring before
 * the datagram reassembled from it is in the device's: a worker that polls its tap right
 * after an RX burst knows the (source, destination, IP id, protocol) of every reassembled
 * datagram in that burst, and drops it.
 *
 * One tap per (port, worker): each worker reads its own ring (single reader, no locks). The
 * socket part is Linux-only and runs on the control thread; polling runs on the worker.
 */
#ifndef RC_FRAG_TAP_H
#define RC_FRAG_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_FRAG_TAP_KEYS    64	 /* recent fragmented datagrams remembered per tap */
#define RC_FRAG_TAP_KEEP_MS 5000 /* a key outlives its last fragment this long */

struct rc_frag_key {
	uint32_t src, dst; /* network order */
	uint16_t id;	   /* network order */
	uint8_t proto;
	uint8_t used;
	uint16_t total;	  /* IP payload bytes of the whole datagram, once its last fragment
			   * (MF clear) was seen; 0 before */
	uint64_t seen_ms; /* when its last fragment was seen */
};

struct rc_frag_tap {
	int fd;
	uint8_t *map;
	unsigned frame_size, frame_nr, next;
	unsigned n_keys; /* live entries in keys[] */
	unsigned key_next;
	struct rc_frag_key keys[RC_FRAG_TAP_KEYS];
};

/* Open a tap on interface ifname (control thread, after the device's port is started).
 * 0, or -errno with a message in err. */
int rc_frag_tap_open(struct rc_frag_tap *t, const char *ifname, char *err, size_t errlen);
void rc_frag_tap_close(struct rc_frag_tap *t);

/*
 * Worker: take the fragments the kernel put in the ring since the last call. Each one whose
 * destination `is_ours` accepts is remembered (and counted in *fragments). now_ms: a
 * monotonic clock.
 */
void rc_frag_tap_poll(struct rc_frag_tap *t, uint64_t now_ms,
		      bool (*is_ours)(const void *arg, uint32_t dst), const void *arg,
		      uint64_t *fragments);

/* Worker: is the IPv4 header ip (at least 20 bytes) that of a datagram whose fragments the
 * tap saw (same source, destination, IP id and protocol; and the same length, once the last
 * fragment told it)? A match is forgotten. Cheap when no fragment was seen (n_keys == 0). */
bool rc_frag_tap_reassembled(struct rc_frag_tap *t, const void *ip, uint64_t now_ms);

/* The interface named by "iface=NAME" in net_af_packet device arguments, into out. */
int rc_frag_tap_iface(const char *devargs, char *out, size_t cap);

#endif /* RC_FRAG_TAP_H */
