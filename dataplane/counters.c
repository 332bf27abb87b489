/* SPDX-License-Identifier: MIT */
#include "counters.h"

static const char *const drop_names[RC_DROP_MAX] = {
	[RC_DROP_ETH_SHORT] = "eth_short",
	[RC_DROP_ETH_TYPE] = "eth_type",
	[RC_DROP_ETH_DST] = "eth_dst",
	[RC_DROP_ARP_BAD] = "arp_bad",
	[RC_DROP_ARP_NOT_US] = "arp_not_us",
	[RC_DROP_IP_BAD] = "ip_bad",
	[RC_DROP_IP_NOT_US] = "ip_not_us",
	[RC_DROP_IP_FRAGMENT] = "ip_fragment",
	[RC_DROP_IP_PROTO] = "ip_proto",
	[RC_DROP_ICMP_OTHER] = "icmp_other",
	[RC_DROP_UDP_BAD] = "udp_bad",
	[RC_DROP_UDP_PORT] = "udp_port",
	[RC_DROP_UDP_OVERSIZE] = "udp_oversize",
	[RC_DROP_MSG_MALFORMED] = "msg_malformed",
	[RC_DROP_MSG_NOT_AUTH] = "msg_not_auth",
	[RC_DROP_MSG_UNEXPECTED] = "msg_unexpected",
	[RC_DROP_AMPLIFICATION] = "amplification",
	[RC_DROP_RESEND_PENDING] = "resend_pending",
	[RC_DROP_RING_CTRL] = "ring_ctrl",
	[RC_DROP_RING_WORKER] = "ring_worker",
	[RC_DROP_RING_WAL] = "ring_wal",
	[RC_DROP_RING_HIST] = "ring_hist",
	[RC_DROP_NO_MBUF] = "no_mbuf",
	[RC_DROP_TX_FULL] = "tx_full",
	[RC_DROP_WINDOW_NOMEM] = "window_nomem",
	[RC_DROP_LOGIN_RATE] = "login_rate",
	[RC_DROP_LOGIN_BUNDLED] = "login_bundled",
	[RC_DROP_RING_LOGIN] = "ring_login",
	[RC_DROP_REQUEST_BUDGET] = "request_budget",
	[RC_DROP_ICMP_RATE] = "icmp_rate",
	[RC_DROP_LOGIN_COOKIE] = "login_cookie",
};

const char *
rc_drop_name(unsigned reason)
{
	if (reason >= RC_DROP_MAX || drop_names[reason] == NULL)
		return "?";
	return drop_names[reason];
}
