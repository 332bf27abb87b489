/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the frame classifier (dataplane/pkt.c): every frame a port receives goes
 * through rc_pkt_classify before anything else reads it.
 *
 * Input: one control byte, then the Ethernet frame. The control byte says which of our
 * addresses are answered (bit 0 our own, bit 1 the HA peer's) and whether the harness
 * repairs the IPv4 header checksum (bit 2) and the UDP checksum (bit 3) first, so that the
 * fuzzer reaches what lies behind them. The frame sits in a buffer of its own exact size, in
 * an mbuf made by hand (no EAL, no pool).
 *
 * Checked: the verdict is one of three; a drop names a reason; a chat datagram's payload lies
 * inside the frame; a reply keeps the frame's length; rc_pkt_arp_sender stays inside it too.
 * A chat payload is then decoded by the wire codec as a worker would.
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/pkt/). Single-threaded.
 */
#include <string.h>

#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "bundle.h"
#include "fuzz.h"
#include "pkt.h"
#include "proto.h"

#define OUR_IP 0xc6120001u /* 198.18.0.1 (RTE_IPV4 shifts an int: UBSan) */
#define PEER_IP 0xc6120002u /* 198.18.0.2 */
#define CHAT_PORT 6420

static const struct rte_ether_addr our_mac = { { 0x02, 0, 0, 0, 0, 0x01 } };

/* The IPv4 header of a frame, if the frame claims one that fits. */
static struct rte_ipv4_hdr *
ipv4_of(uint8_t *f, size_t n)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + RTE_ETHER_HDR_LEN);

	if (n < RTE_ETHER_HDR_LEN + sizeof(*ip) || f[12] != 0x08 || f[13] != 0x00)
		return NULL;
	if (rte_ipv4_hdr_len(ip) < sizeof(*ip) || (size_t)RTE_ETHER_HDR_LEN + rte_ipv4_hdr_len(ip) > n)
		return NULL;
	return ip;
}

static void
repair(uint8_t *f, size_t n, uint8_t ctl)
{
	struct rte_ipv4_hdr *ip = ipv4_of(f, n);
	size_t hl, tl;

	if (ip == NULL)
		return;
	hl = rte_ipv4_hdr_len(ip);
	tl = rte_be_to_cpu_16(ip->total_length);
	if ((ctl & 8) && ip->next_proto_id == IPPROTO_UDP && tl >= hl + 8 &&
	    RTE_ETHER_HDR_LEN + tl <= n) {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + hl);

		udp->dgram_cksum = 0;
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	}
	if (ctl & 4) {
		ip->hdr_checksum = 0;
		ip->hdr_checksum = (uint16_t)~rte_raw_cksum(ip, hl);
	}
}

static void
check_verdict(const struct rte_mbuf *m, const uint8_t *f, size_t n, enum rc_verdict v,
	      const uint8_t *payload, uint16_t len, enum rc_drop why)
{
	rte_be32_t ip;
	struct rte_ether_addr mac;

	CHECK(v == RC_V_DROP || v == RC_V_REPLY || v == RC_V_CHAT);
	CHECK(rte_pktmbuf_data_len(m) == n);
	if (v == RC_V_DROP)
		CHECK(why < RC_DROP_MAX);
	if (v == RC_V_CHAT) {
		CHECK(payload >= f + RC_L2L4_LEN && payload + len <= f + n);
		CHECK(len <= RC_MAX_DGRAM);
	}
	(void)rc_pkt_arp_sender(m, v == RC_V_REPLY, &ip, &mac);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_local local = { .mac = our_mac, .port_idx = 0 };
	struct rte_mbuf m;
	struct rc_peer peer;
	const uint8_t *payload = NULL;
	enum rc_drop why = RC_DROP_MAX;
	enum rc_verdict v;
	uint16_t len = 0;
	uint8_t *f;
	size_t n;

	if (size < 1 || size - 1 > UINT16_MAX)
		return 0;
	n = size - 1;
	f = fuzz_copy(data + 1, n);
	local.ip = rte_cpu_to_be_32(OUR_IP);
	local.peer_ip = rte_cpu_to_be_32(PEER_IP);
	local.udp_port = rte_cpu_to_be_16(CHAT_PORT);
	local.ip_on = data[0] & 1;
	local.peer_ip_on = data[0] & 2;
	repair(f, n, data[0]);
	memset(&m, 0, sizeof(m));
	m.buf_addr = f;
	m.buf_len = (uint16_t)n;
	m.data_off = 0;
	m.data_len = (uint16_t)n;
	m.pkt_len = (uint32_t)n;
	m.nb_segs = 1;
	v = rc_pkt_classify(&m, &local, &peer, &payload, &len, &why);
	check_verdict(&m, f, n, v, payload, len, why);
	if (v == RC_V_CHAT)
		fuzz_decode_bundle(payload, len);
	free(f);
	return 0;
}
