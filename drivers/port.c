/* SPDX-License-Identifier: MIT */
/*
 * NIC port bring-up: EAL arguments for the configured devices, then configure, queues,
 * offloads, MTU and start. See port.h for the lifecycle.
 *
 * Threading: control thread only (the ethdev configuration API is not thread-safe).
 * Workers never call into this file; they use the port id and the flags in struct rc_port.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pci.h>

#include "port.h"

/* RSS fields wanted for a UDP service: the UDP 4-tuple, and the addresses for the rest. */
#define RC_RSS_WANT                                                                        \
	(RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_UDP |         \
	 RTE_ETH_RSS_NONFRAG_IPV4_OTHER)

#define RC_TX_WANT (RTE_ETH_TX_OFFLOAD_MULTI_SEGS | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)

/* Ethernet header + CRC: what a frame adds to the MTU when no VLAN tag is used. */
#define RC_L2_OVERHEAD (RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN)

/* Format "port NAME (DEVICE): ..." into err and return rc (a negative errno). */
static int __rte_format_printf(5, 6)
port_fail(const struct rc_port_conf *pc, char *err, size_t errlen, int rc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "port %s (%s): %s", pc->name, pc->device, msg);
	return rc < 0 ? rc : -EIO;
}

void
rc_eal_args_init(struct rc_eal_args *a, const char *prog)
{
	memset(a, 0, sizeof(*a));
	rc_eal_args_push(a, prog);
}

int
rc_eal_args_push(struct rc_eal_args *a, const char *arg)
{
	size_t len = strlen(arg) + 1;

	if (a->argc >= RC_EAL_ARGV_MAX || len > sizeof(a->buf) - a->used)
		return -E2BIG;
	memcpy(a->buf + a->used, arg, len);
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += len;
	return 0;
}

bool
rc_port_is_vdev(const char *device)
{
	return strncmp(device, "net_", 4) == 0;
}

/* "net_" followed by letters, digits and '_', short enough to be an ethdev name. */
static bool
vdev_name_ok(const char *device)
{
	size_t i, len = strlen(device);

	if (len <= 4 || len >= RTE_ETH_NAME_MAX_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)device[i]) && device[i] != '_')
			return false;
	return true;
}

/* Device arguments are "key=value[,key=value]": printable, no blanks. */
static bool
dev_args_ok(const char *args)
{
	for (; *args != '\0'; args++)
		if (!isgraph((unsigned char)*args))
			return false;
	return true;
}

/* Does the vector already hold arg (exactly)? */
static bool
eal_args_has(const struct rc_eal_args *a, const char *arg)
{
	int i;

	for (i = 1; i < a->argc; i++)
		if (strcmp(a->argv[i], arg) == 0)
			return true;
	return false;
}

/* Does the vector already create the virtual device name ("--vdev=NAME[,..]" or
 * "--vdev NAME[,..]")? */
static bool
eal_args_has_vdev(const struct rc_eal_args *a, const char *name)
{
	size_t len = strlen(name);
	const char *v;
	int i;

	for (i = 1; i < a->argc; i++) {
		v = NULL;
		if (strncmp(a->argv[i], "--vdev=", 7) == 0)
			v = a->argv[i] + 7;
		else if (strcmp(a->argv[i], "--vdev") == 0 && i + 1 < a->argc)
			v = a->argv[i + 1];
		if (v != NULL && strncmp(v, name, len) == 0 && (v[len] == '\0' || v[len] == ','))
			return true;
	}
	return false;
}

/* A device's canonical name: the vdev name, or the PCI address as "DDDD:BB:DD.F".
 * Returns false when device is neither. */
static bool
dev_canonical(const char *device, char *out, size_t outlen)
{
	struct rte_pci_addr addr;

	if (rc_port_is_vdev(device)) {
		if (!vdev_name_ok(device))
			return false;
		snprintf(out, outlen, "%s", device);
		return true;
	}
	if (rte_pci_addr_parse(device, &addr) != 0)
		return false;
	rte_pci_device_name(&addr, out, outlen);
	return true;
}

static int
port_eal_args_one(struct rc_eal_args *a, const struct rc_port_conf *pc, char *err, size_t errlen)
{
	char arg[sizeof(pc->device) + sizeof(pc->args) + 8];
	const char *sep = pc->args[0] != '\0' ? "," : "";
	bool vdev = rc_port_is_vdev(pc->device);

	if (!dev_args_ok(pc->args))
		return port_fail(pc, err, errlen, -EINVAL,
				 "device arguments \"%s\" contain blanks or control characters",
				 pc->args);
	if (vdev && eal_args_has_vdev(a, pc->device))
		return port_fail(pc, err, errlen, -EINVAL,
				 "eal.args already creates %s: remove that --vdev (the port "
				 "adds it)", pc->device);
	if (!vdev && eal_args_has(a, "--no-pci"))
		return port_fail(pc, err, errlen, -EINVAL,
				 "a PCI device cannot be used with --no-pci in eal.args: remove "
				 "--no-pci, or use a virtual device (net_af_packet, net_tap, ...)");
	if (vdev) {
		snprintf(arg, sizeof(arg), "--vdev=%s%s%s", pc->device, sep, pc->args);
		return rc_eal_args_push(a, arg);
	}
	snprintf(arg, sizeof(arg), "%s%s%s", pc->device, sep, pc->args);
	if (rc_eal_args_push(a, "-a") < 0)
		return -E2BIG;
	return rc_eal_args_push(a, arg);
}

int
rc_port_eal_args(struct rc_eal_args *a, const struct rc_port_conf *pc, unsigned n, char *err,
		 size_t errlen)
{
	char canon[RC_MAX_PORTS][RTE_ETH_NAME_MAX_LEN];
	unsigned i, j;
	int rc;

	if (n > RC_MAX_PORTS) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%u ports: at most %d", n, RC_MAX_PORTS);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (!dev_canonical(pc[i].device, canon[i], sizeof(canon[i])))
			return port_fail(&pc[i], err, errlen, -EINVAL,
					 "device is neither a virtual device (net_DRIVERn: "
					 "letters, digits and _) nor a PCI address (0000:01:00.0)");
		for (j = 0; j < i; j++)
			if (strcmp(canon[i], canon[j]) == 0)
				return port_fail(&pc[i], err, errlen, -EINVAL,
						 "device already used by port %s", pc[j].name);
		rc = port_eal_args_one(a, &pc[i], err, errlen);
		if (rc == -E2BIG)
			return port_fail(&pc[i], err, errlen, rc, "too many EAL arguments");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Find the ethdev: by its name, then (PCI) by the canonical form of the address. */
static int
port_find(const struct rc_port_conf *pc, uint16_t *port_id)
{
	char canon[RTE_ETH_NAME_MAX_LEN];

	if (rte_eth_dev_get_port_by_name(pc->device, port_id) == 0)
		return 0;
	if (rc_port_is_vdev(pc->device) || !dev_canonical(pc->device, canon, sizeof(canon)))
		return -ENODEV;
	return rte_eth_dev_get_port_by_name(canon, port_id) == 0 ? 0 : -ENODEV;
}

/* The largest MTU the device takes, computed the way rte_ethdev validates it. */
static uint32_t
port_max_mtu(const struct rte_eth_dev_info *info)
{
	uint32_t overhead = RC_L2_OVERHEAD;

	if (info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu)
		overhead = info->max_rx_pktlen - info->max_mtu;
	if (info->max_rx_pktlen < overhead)
		return 0;
	return RTE_MIN((uint32_t)info->max_mtu, info->max_rx_pktlen - overhead);
}

/* Queue counts, descriptor counts, MTU and mbuf size against the device's limits. */
static int
port_check(const struct rc_port_conf *pc, const struct rte_eth_dev_info *info,
	   struct rte_mempool *mp, char *err, size_t errlen)
{
	const char *hint = strncmp(pc->device, "net_af_packet", 13) == 0
				   ? " (net_af_packet: set qpairs=N in the device args)" : "";
	uint32_t room = rte_pktmbuf_data_room_size(mp);
	uint32_t max_mtu = port_max_mtu(info);

	room = room > RTE_PKTMBUF_HEADROOM ? room - RTE_PKTMBUF_HEADROOM : 0;

	if (pc->rx_queues == 0 || pc->rx_queues > info->max_rx_queues)
		return port_fail(pc, err, errlen, -EINVAL,
				 "%u RX queues requested, the device has 1 to %u%s",
				 pc->rx_queues, info->max_rx_queues, hint);
	if (pc->tx_queues == 0 || pc->tx_queues > info->max_tx_queues)
		return port_fail(pc, err, errlen, -EINVAL,
				 "%u TX queues requested, the device has 1 to %u%s",
				 pc->tx_queues, info->max_tx_queues, hint);
	if (pc->rx_desc > UINT16_MAX || pc->tx_desc > UINT16_MAX)
		return port_fail(pc, err, errlen, -EINVAL,
				 "descriptor counts %u/%u: at most %u", pc->rx_desc, pc->tx_desc,
				 UINT16_MAX);
	if (pc->mtu < info->min_mtu || pc->mtu > max_mtu)
		return port_fail(pc, err, errlen, -EINVAL,
				 "MTU %u out of the device's range %u..%u", pc->mtu,
				 info->min_mtu, max_mtu);
	if (room < pc->mtu + RC_L2_OVERHEAD || room < info->min_rx_bufsize)
		return port_fail(pc, err, errlen, -EINVAL,
				 "mbufs of pool %s hold %u bytes: too small for MTU %u (needs %u)",
				 mp->name, room, pc->mtu,
				 RTE_MAX(pc->mtu + RC_L2_OVERHEAD, info->min_rx_bufsize));
	return 0;
}

/* The rte_eth_conf for pc on this device; records the chosen features in p. */
static void
port_conf_build(struct rc_port *p, const struct rc_port_conf *pc,
		const struct rte_eth_dev_info *info, struct rte_eth_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->rxmode.mtu = pc->mtu;
	if (pc->rx_queues > 1) {
		p->rss_hf = RC_RSS_WANT & info->flow_type_rss_offloads;
		if (p->rss_hf != 0) {
			conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			conf->rx_adv_conf.rss_conf.rss_hf = p->rss_hf;
			p->rss = true;
		}
	}
	conf->txmode.offloads = RC_TX_WANT & info->tx_offload_capa;
	p->tx_offloads = conf->txmode.offloads;
	p->rx_offloads = conf->rxmode.offloads;
	p->tx_multi_seg = (p->tx_offloads & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
	p->tx_ipv4_cksum = (p->tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
}

static int
port_queues(struct rc_port *p, const struct rc_port_conf *pc, const struct rte_eth_dev_info *info,
	    struct rte_mempool *mp, char *err, size_t errlen)
{
	struct rte_eth_rxconf rxc = info->default_rxconf;
	struct rte_eth_txconf txc = info->default_txconf;
	int socket = rte_eth_dev_socket_id(p->port_id);
	uint16_t q;
	int rc;

	p->rx_desc = (uint16_t)pc->rx_desc;
	p->tx_desc = (uint16_t)pc->tx_desc;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &p->rx_desc, &p->tx_desc);
	if (rc < 0)
		return port_fail(pc, err, errlen, rc, "descriptor limits: %s", strerror(-rc));
	if (socket < 0)
		socket = SOCKET_ID_ANY;
	rxc.offloads = p->rx_offloads;
	txc.offloads = p->tx_offloads;
	for (q = 0; q < p->n_rxq; q++) {
		rc = rte_eth_rx_queue_setup(p->port_id, q, p->rx_desc, socket, &rxc, mp);
		if (rc < 0)
			return port_fail(pc, err, errlen, rc, "RX queue %u (%u descriptors): %s",
					 q, p->rx_desc, strerror(-rc));
	}
	for (q = 0; q < p->n_txq; q++) {
		rc = rte_eth_tx_queue_setup(p->port_id, q, p->tx_desc, socket, &txc);
		if (rc < 0)
			return port_fail(pc, err, errlen, rc, "TX queue %u (%u descriptors): %s",
					 q, p->tx_desc, strerror(-rc));
	}
	return 0;
}

/* Apply the MTU. Devices without an MTU setting keep their default: fine for virtual devices
 * (recorded in p->mtu_applied), and for a PCI device only when 1500 was asked for. */
static int
port_mtu(struct rc_port *p, const struct rc_port_conf *pc, char *err, size_t errlen)
{
	int rc = rte_eth_dev_set_mtu(p->port_id, (uint16_t)pc->mtu);

	if (rc == 0)
		p->mtu_applied = true;
	else if (rc != -ENOTSUP || (!rc_port_is_vdev(pc->device) && pc->mtu != RTE_ETHER_MTU))
		return port_fail(pc, err, errlen, rc, "cannot set MTU %u: %s", pc->mtu,
				 strerror(-rc));
	if (rte_eth_dev_get_mtu(p->port_id, &p->mtu) != 0)
		p->mtu = (uint16_t)pc->mtu;
	return 0;
}

/* Configure the found device p->port_id; queues, MTU, not yet started. */
static int
port_configure(struct rc_port *p, const struct rc_port_conf *pc, struct rte_mempool *mp,
	       char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int rc;

	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc < 0)
		return port_fail(pc, err, errlen, rc, "device info: %s", strerror(-rc));
	rc = port_check(pc, &info, mp, err, errlen);
	if (rc < 0)
		return rc;
	port_conf_build(p, pc, &info, &conf);
	p->n_rxq = (uint16_t)pc->rx_queues;
	p->n_txq = (uint16_t)pc->tx_queues;
	rc = rte_eth_dev_configure(p->port_id, p->n_rxq, p->n_txq, &conf);
	if (rc == -EBUSY) {
		p->port_id = RTE_MAX_ETHPORTS; /* another rc_port owns it: p must not close it */
		return port_fail(pc, err, errlen, rc, "device is running (set up twice?)");
	}
	if (rc < 0)
		return port_fail(pc, err, errlen, rc, "configure %u RX / %u TX queues: %s",
				 p->n_rxq, p->n_txq, strerror(-rc));
	rc = port_queues(p, pc, &info, mp, err, errlen);
	if (rc < 0)
		return rc;
	return port_mtu(p, pc, err, errlen);
}

int
rc_port_setup(struct rc_port *p, const struct rc_port_conf *pc, struct rte_mempool *mp,
	      char *err, size_t errlen)
{
	int rc;

	memset(p, 0, sizeof(*p));
	p->port_id = RTE_MAX_ETHPORTS;
	snprintf(p->name, sizeof(p->name), "%s", pc->name);
	snprintf(p->device, sizeof(p->device), "%s", pc->device);
	if (mp == NULL)
		return port_fail(pc, err, errlen, -EINVAL, "no mbuf pool for RX");
	if (port_find(pc, &p->port_id) < 0) {
		p->port_id = RTE_MAX_ETHPORTS;
		return port_fail(pc, err, errlen, -ENODEV,
				 "no such DPDK device (a virtual device needs --vdev=%s,ARGS, a "
				 "PCI device -a ADDRESS in the EAL arguments)", pc->device);
	}
	rc = port_configure(p, pc, mp, err, errlen);
	if (rc < 0)
		return rc;
	rc = rte_eth_dev_start(p->port_id);
	if (rc < 0)
		return port_fail(pc, err, errlen, rc, "start: %s", strerror(-rc));
	p->up = true;
	/* Off: the node answers for its own MAC. Devices without the setting are fine. */
	rte_eth_promiscuous_disable(p->port_id);
	rc = rte_eth_macaddr_get(p->port_id, &p->mac);
	if (rc < 0) {
		rc_port_stop(p);
		return port_fail(pc, err, errlen, rc, "MAC address: %s", strerror(-rc));
	}
	return 0;
}

void
rc_port_stop(struct rc_port *p)
{
	if (!p->up)
		return;
	rte_eth_dev_stop(p->port_id);
	p->up = false;
}

void
rc_port_close(struct rc_port *p)
{
	rc_port_stop(p);
	if (rte_eth_dev_is_valid_port(p->port_id))
		rte_eth_dev_close(p->port_id);
	p->port_id = RTE_MAX_ETHPORTS;
}

int
rc_port_link(const struct rc_port *p, struct rc_port_link *out)
{
	struct rte_eth_link link;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&link, 0, sizeof(link));
	if (!rte_eth_dev_is_valid_port(p->port_id))
		return -ENODEV;
	rc = rte_eth_link_get_nowait(p->port_id, &link);
	if (rc < 0)
		return rc;
	out->up = link.link_status == RTE_ETH_LINK_UP;
	out->full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
	out->autoneg = link.link_autoneg == RTE_ETH_LINK_AUTONEG;
	out->speed_mbps = link.link_speed;
	return 0;
}

int
rc_port_stats(const struct rc_port *p, struct rte_eth_stats *st)
{
	if (!rte_eth_dev_is_valid_port(p->port_id))
		return -ENODEV;
	return rte_eth_stats_get(p->port_id, st);
}
