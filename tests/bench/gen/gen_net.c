/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen's Ethernet, ARP, IPv4 and UDP: a header template per user (written once;
 * a frame only gets its lengths, IP id and checksum), ARP requests and replies, and the
 * classification of received frames. The node checks the IPv4 header checksum and a
 * non-zero UDP checksum; we send UDP checksum 0 (optional in IPv4) and check neither: the
 * memif link does not corrupt.
 */
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "gen.h"

void
rg_net_user_hdr(struct rg_gen *g, struct rg_user *u)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)u->hdr;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memset(u->hdr, 0, sizeof(u->hdr));
	rte_ether_addr_copy(&g->node_mac, &eth->dst_addr);
	rte_ether_addr_copy(&g->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(u->ip);
	ip->dst_addr = rte_cpu_to_be_32(g->o->server_ip);
	udp->src_port = rte_cpu_to_be_16(u->port);
	udp->dst_port = rte_cpu_to_be_16(g->o->server_port);
}

void
rg_net_finish(struct rte_mbuf *m, uint16_t plen)
{
	static uint16_t ip_id;
	struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *,
							  RTE_ETHER_HDR_LEN);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	ip->total_length = rte_cpu_to_be_16((uint16_t)(plen + 28));
	ip->packet_id = rte_cpu_to_be_16(ip_id++);
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(plen + 8));
	udp->dgram_cksum = 0;
	m->data_len = (uint16_t)(RG_L2L4 + plen);
	m->pkt_len = m->data_len;
}

struct rte_mbuf *
rg_net_arp(struct rg_gen *g, bool reply, const struct rte_ether_addr *tha, uint32_t sip,
	   uint32_t tip)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->mp);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (m == NULL)
		return NULL;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eth) + sizeof(*arp));
	arp = (struct rte_arp_hdr *)(eth + 1);
	if (reply)
		rte_ether_addr_copy(tha, &eth->dst_addr);
	else
		memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(&g->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(reply ? RTE_ARP_OP_REPLY : RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(&g->mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(sip);
	if (reply)
		rte_ether_addr_copy(tha, &arp->arp_data.arp_tha);
	else
		memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = rte_cpu_to_be_32(tip);
	return m;
}

struct rg_user *
rg_net_user_of(struct rg_gen *g, uint32_t ip, uint16_t port)
{
	const struct rg_opts *o = g->o;
	uint64_t i;

	if (ip < o->client_ip || port < o->client_port ||
	    (unsigned)(port - o->client_port) >= o->users_per_ip)
		return NULL;
	i = (uint64_t)(ip - o->client_ip) * o->users_per_ip + (port - o->client_port);
	return i < o->users ? &g->users[i] : NULL;
}

/* One of our client addresses? */
static bool
our_ip(const struct rg_gen *g, uint32_t ip)
{
	const struct rg_opts *o = g->o;
	uint64_t n_ip = (o->users + o->users_per_ip - 1) / o->users_per_ip;

	return ip >= o->client_ip && (uint64_t)(ip - o->client_ip) < n_ip;
}

static void
arp_rx(struct rg_gen *g, struct rte_mbuf *m)
{
	struct rte_arp_hdr *arp;
	struct rte_mbuf *r;
	uint32_t sip, tip;

	if (rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr) + sizeof(*arp)) {
		RG_INC(g, rx_bad);
		return;
	}
	arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
	if (sip == g->o->server_ip && !g->o->node_mac_set) /* a reply, or the node asking */
		rte_ether_addr_copy(&arp->arp_data.arp_sha, &g->node_mac);
	if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) || !our_ip(g, tip))
		return;
	r = rg_net_arp(g, true, &arp->arp_data.arp_sha, tip, sip);
	if (r != NULL)
		rg_tx(g, 0, r);
}

void
rg_net_rx(struct rg_gen *g, struct rte_mbuf *m, uint64_t now)
{
	const struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	const struct rte_ipv4_hdr *ip;
	const struct rte_udp_hdr *udp;
	struct rg_user *u;
	uint16_t len = rte_pktmbuf_data_len(m), ulen;

	if (len < sizeof(*eth)) {
		RG_INC(g, rx_bad);
		return;
	}
	if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
		arp_rx(g, m);
		return;
	}
	ip = (const struct rte_ipv4_hdr *)(eth + 1);
	udp = (const struct rte_udp_hdr *)(ip + 1);
	if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || len < RG_L2L4 ||
	    ip->version_ihl != RTE_IPV4_VHL_DEF || ip->next_proto_id != IPPROTO_UDP) {
		RG_INC(g, rx_bad);
		return;
	}
	ulen = rte_be_to_cpu_16(udp->dgram_len);
	u = rg_net_user_of(g, rte_be_to_cpu_32(ip->dst_addr), rte_be_to_cpu_16(udp->dst_port));
	if (u == NULL || ulen < 8 || RG_L2L4 + ulen - 8u > len) {
		RG_INC(g, rx_bad);
		return;
	}
	rg_req_rx(g, u, (const uint8_t *)(udp + 1), (uint16_t)(ulen - 8), now);
}
