/* SPDX-License-Identifier: MIT */
#include "pkt.h"

#include <string.h>

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

static enum rc_verdict
drop(enum rc_drop *why, enum rc_drop reason)
{
	*why = reason;
	return RC_V_DROP;
}

static enum rc_verdict
arp_input(struct rte_mbuf *m, struct rte_ether_hdr *eth, const struct rc_local *local,
	  enum rc_drop *why)
{
	struct rte_arp_hdr *arp;

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*arp))
		return drop(why, RC_DROP_ARP_BAD);
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != 6 ||
	    arp->arp_plen != 4)
		return drop(why, RC_DROP_ARP_BAD);
	if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
	    rc_local_vip_of(local, arp->arp_data.arp_tip) < 0)
		return drop(why, RC_DROP_ARP_NOT_US);

	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	rte_be32_t asked = arp->arp_data.arp_tip;

	arp->arp_data.arp_tha = arp->arp_data.arp_sha;
	arp->arp_data.arp_tip = arp->arp_data.arp_sip;
	arp->arp_data.arp_sha = local->mac;
	arp->arp_data.arp_sip = asked;
	eth->dst_addr = eth->src_addr;
	eth->src_addr = local->mac;
	return RC_V_REPLY;
}

static enum rc_verdict
icmp_input(struct rte_mbuf *m, struct rte_ether_hdr *eth, struct rte_ipv4_hdr *ip,
	   uint16_t ip_len, enum rc_drop *why)
{
	size_t hl = rte_ipv4_hdr_len(ip);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + hl);
	uint32_t sum;
	rte_be32_t a;

	if (ip_len < hl + sizeof(*icmp) || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST ||
	    icmp->icmp_code != 0)
		return drop(why, RC_DROP_ICMP_OTHER);
	if (rte_raw_cksum(icmp, ip_len - hl) != 0xffff)
		return drop(why, RC_DROP_ICMP_OTHER);

	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	/* incremental update (RFC 1624): the type went from 8 to 0 */
	sum = (uint32_t)(uint16_t)~icmp->icmp_cksum + (uint16_t)~rte_cpu_to_be_16(0x0800);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	icmp->icmp_cksum = (uint16_t)~sum;

	a = ip->src_addr;
	ip->src_addr = ip->dst_addr;
	ip->dst_addr = a;
	ip->time_to_live = 64;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	(void)m;
	return RC_V_REPLY;
}

static enum rc_verdict
udp_input(struct rte_ipv4_hdr *ip, uint16_t ip_len, const struct rc_local *local,
	  struct rc_peer *peer, const uint8_t **payload, uint16_t *len, enum rc_drop *why)
{
	size_t hl = rte_ipv4_hdr_len(ip);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + hl);
	uint16_t ulen;

	if (ip_len < hl + sizeof(*udp))
		return drop(why, RC_DROP_UDP_BAD);
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	if (ulen < sizeof(*udp) || ulen > ip_len - hl)
		return drop(why, RC_DROP_UDP_BAD);
	if (udp->dst_port != local->udp_port)
		return drop(why, RC_DROP_UDP_PORT);
	if (ulen - sizeof(*udp) > RC_MAX_DGRAM)
		return drop(why, RC_DROP_UDP_OVERSIZE); /* larger than any datagram may be */
	if (udp->dgram_cksum != 0 && rte_ipv4_udptcp_cksum_verify(ip, udp) != 0)
		return drop(why, RC_DROP_UDP_BAD);
	peer->ip = ip->src_addr;
	peer->udp_port = udp->src_port;
	*payload = (const uint8_t *)(udp + 1);
	*len = (uint16_t)(ulen - sizeof(*udp));
	return RC_V_CHAT;
}

static enum rc_verdict
ipv4_input(struct rte_mbuf *m, struct rte_ether_hdr *eth, const struct rc_local *local,
	   struct rc_peer *peer, const uint8_t **payload, uint16_t *len, enum rc_drop *why)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint16_t avail = (uint16_t)(rte_pktmbuf_data_len(m) - sizeof(*eth));
	uint16_t ip_len;
	int vip;

	if (avail < sizeof(*ip) || (ip->version_ihl >> 4) != 4 ||
	    rte_ipv4_hdr_len(ip) < sizeof(*ip) || rte_ipv4_hdr_len(ip) > avail)
		return drop(why, RC_DROP_IP_BAD);
	ip_len = rte_be_to_cpu_16(ip->total_length);
	if (ip_len < rte_ipv4_hdr_len(ip) || ip_len > avail ||
	    rte_raw_cksum(ip, rte_ipv4_hdr_len(ip)) != 0xffff)
		return drop(why, RC_DROP_IP_BAD);
	vip = rc_local_vip_of(local, ip->dst_addr);
	if (vip < 0)
		return drop(why, RC_DROP_IP_NOT_US);
	if (ip->fragment_offset &
	    rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return drop(why, RC_DROP_IP_FRAGMENT);
	if (ip->next_proto_id == IPPROTO_ICMP)
		return icmp_input(m, eth, ip, ip_len, why);
	if (ip->next_proto_id != IPPROTO_UDP)
		return drop(why, RC_DROP_IP_PROTO);
	rte_ether_addr_copy(&eth->src_addr, &peer->mac);
	peer->port_idx = local->port_idx;
	peer->vip = (uint8_t)vip;
	peer->relay = 0; /* a relay datagram's sender is named by its envelope */
	return udp_input(ip, ip_len, local, peer, payload, len, why);
}

enum rc_verdict
rc_pkt_classify(struct rte_mbuf *m, const struct rc_local *local, struct rc_peer *peer,
		const uint8_t **payload, uint16_t *len, enum rc_drop *why)
{
	struct rte_ether_hdr *eth;

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) || m->nb_segs != 1)
		return drop(why, RC_DROP_ETH_SHORT);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	if (!rte_is_broadcast_ether_addr(&eth->dst_addr) &&
	    !rte_is_same_ether_addr(&eth->dst_addr, &local->mac))
		return drop(why, RC_DROP_ETH_DST);
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
		return arp_input(m, eth, local, why);
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
		return drop(why, RC_DROP_ETH_TYPE);
	return ipv4_input(m, eth, local, peer, payload, len, why);
}

uint8_t *
rc_pkt_init(struct rte_mbuf *m)
{
	char *p = rte_pktmbuf_append(m, RC_L2L4_LEN);

	return p == NULL ? NULL : (uint8_t *)p + RC_L2L4_LEN;
}

void
rc_pkt_finish(struct rte_mbuf *m, const struct rc_local *local, const struct rc_peer *to)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint16_t plen = rc_pkt_payload_len(m);

	rte_ether_addr_copy(&to->mac, &eth->dst_addr);
	rte_ether_addr_copy(&local->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(plen + 28));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rc_local_ip(local, to->vip);
	ip->dst_addr = to->ip;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = local->udp_port;
	udp->dst_port = to->udp_port;
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(plen + 8));
	udp->dgram_cksum = 0; /* optional in IPv4; see PROTOCOL.md */
}

/* An ARP frame from local's MAC and sender address sip into the empty mbuf m, broadcast. */
static int
arp_frame(struct rte_mbuf *m, const struct rc_local *local, uint16_t op, rte_be32_t sip,
	  rte_be32_t tip, uint8_t tha_fill)
{
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
	if (eth == NULL)
		return -ENOBUFS;
	arp = (struct rte_arp_hdr *)(eth + 1);
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	eth->src_addr = local->mac;
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = local->mac;
	arp->arp_data.arp_sip = sip;
	memset(&arp->arp_data.arp_tha, tha_fill, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = tip;
	return 0;
}

int
rc_pkt_garp(struct rte_mbuf *m, const struct rc_local *local, rte_be32_t ip, bool reply)
{
	return arp_frame(m, local, reply ? RTE_ARP_OP_REPLY : RTE_ARP_OP_REQUEST, ip, ip,
			 reply ? 0xff : 0);
}

int
rc_pkt_arp_request(struct rte_mbuf *m, const struct rc_local *local, rte_be32_t tip)
{
	return arp_frame(m, local, RTE_ARP_OP_REQUEST, local->ip, tip, 0);
}

bool
rc_pkt_arp_sender(const struct rte_mbuf *m, bool answered, rte_be32_t *ip,
		  struct rte_ether_addr *mac)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_arp_hdr *arp = (const struct rte_arp_hdr *)(eth + 1);

	if (rte_pktmbuf_data_len(m) < sizeof(*eth) + sizeof(*arp) ||
	    eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) || arp->arp_hlen != 6 ||
	    arp->arp_plen != 4)
		return false;
	/* our reply swapped them: the asker is now the target */
	*ip = answered ? arp->arp_data.arp_tip : arp->arp_data.arp_sip;
	*mac = answered ? arp->arp_data.arp_tha : arp->arp_data.arp_sha;
	return true;
}
