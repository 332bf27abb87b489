/* SPDX-License-Identifier: MIT */
/*
 * NIC port bring-up: the only place in roomcast that knows about devices.
 *
 * A port is named by the operator ("chat0") and backed by one DPDK device: a PCI address
 * ("0000:01:00.0", "01:00.0") or a virtual device whose name starts with "net_"
 * ("net_af_packet0" with args "iface=veth0", "net_ring0", "net_null0", "net_tap0",
 * "net_memif0").
 *
 * Lifecycle:
 *   1. before rte_eal_init(): rc_port_eal_args() appends the --vdev / -a arguments the
 *      configured ports need to an rc_eal_args vector;
 *   2. after it: rc_port_setup() configures queues and offloads and starts the port;
 *   3. rc_port_link() / rc_port_stats() at any time for the CLI;
 *   4. rc_port_stop(), then rc_port_close() on shutdown.
 *
 * Threading: every function here runs on the control thread (main lcore). Workers use only
 * p->port_id and their own queue ids with rte_eth_rx_burst() / rte_eth_tx_burst(), and read
 * the flags below, which do not change while the port is up. rc_port_link() and
 * rc_port_stats() only read device state and may run while workers poll.
 *
 * Errors are returned as -errno with a message "port NAME (DEVICE): problem" in err.
 */
#ifndef RC_PORT_H
#define RC_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>

#include "port_conf.h"

#define RC_EAL_ARGV_MAX 96   /* arguments in one vector, program name included */
#define RC_EAL_ARGBUF 8192   /* bytes of argument text */

/*
 * An argument vector for rte_eal_init(). The strings live inside the struct: do not copy
 * it by value. rte_eal_init() may permute argv[]; pass it a copy if the order matters.
 */
struct rc_eal_args {
	int argc;
	char *argv[RC_EAL_ARGV_MAX + 1]; /* argv[argc] == NULL */
	size_t used;
	char buf[RC_EAL_ARGBUF];
};

/* Start an empty vector whose argv[0] is prog. */
void rc_eal_args_init(struct rc_eal_args *a, const char *prog);

/* Append one argument (copied). Returns 0, or -E2BIG when the vector is full. */
int rc_eal_args_push(struct rc_eal_args *a, const char *arg);

/*
 * Append what the n ports in pc need: "--vdev=DEVICE[,ARGS]" for a virtual device,
 * "-a" "PCI[,ARGS]" for a PCI address. Call it after the configured eal.args have been
 * pushed: a PCI port together with an earlier "--no-pci" is refused, and so are two ports on
 * one device and a device that is neither a "net_*" name nor a PCI address.
 * Returns 0, or -EINVAL / -E2BIG with a message in err (a is then partly filled).
 */
int rc_port_eal_args(struct rc_eal_args *a, const struct rc_port_conf *pc, unsigned n,
		     char *err, size_t errlen);

struct rc_port {
	uint16_t port_id;
	char name[32];         /* the operator's name, from rc_port_conf.name */
	char device[128];      /* the DPDK device, from rc_port_conf.device */
	struct rte_ether_addr mac;
	uint16_t n_rxq, n_txq;
	uint16_t rx_desc, tx_desc; /* per queue, after the device's limits were applied */
	uint16_t mtu;          /* the MTU DPDK holds for the port */
	bool up;               /* started by rc_port_setup(), not yet stopped */

	/* What was enabled; constant while the port is up. */
	bool mtu_applied;      /* false: the device has no MTU setting (-ENOTSUP, most vdevs) */
	bool rss;              /* RX spread over the queues by RSS (n_rxq > 1 only) */
	uint64_t rss_hf;       /* RTE_ETH_RSS_* in use (IPv4 and IPv4/UDP, as supported) */
	bool tx_multi_seg;     /* RTE_ETH_TX_OFFLOAD_MULTI_SEGS: chained mbufs may be sent */
	bool tx_ipv4_cksum;    /* RTE_ETH_TX_OFFLOAD_IPV4_CKSUM: the device fills the IPv4
				* header checksum of mbufs flagged RTE_MBUF_F_TX_IPV4 |
				* RTE_MBUF_F_TX_IP_CKSUM with l2_len / l3_len set */
	uint64_t tx_offloads;  /* all RTE_ETH_TX_OFFLOAD_* enabled */
	uint64_t rx_offloads;  /* all RTE_ETH_RX_OFFLOAD_* enabled */
};

/*
 * Configure and start the device pc->device as port p: pc->rx_queues RX queues fed from mp,
 * pc->tx_queues TX queues, the given descriptor counts (adjusted to the device's limits;
 * 0 = the device's default), MTU pc->mtu, RSS over IPv4/UDP when there is more than one RX
 * queue and the device can, TX multi-segment and IPv4 checksum offloads when the device can.
 * Promiscuous mode is left off: the node answers for its own MAC address.
 * Returns 0, or -errno with "port NAME (DEVICE): problem" in err; p->up is false then, the
 * device may be left configured but stopped, and rc_port_close(p) releases it (a device that
 * another rc_port runs gives -EBUSY and is not touched).
 */
int rc_port_setup(struct rc_port *p, const struct rc_port_conf *pc, struct rte_mempool *mp,
		  char *err, size_t errlen);

/*
 * Stop the device (idempotent). Workers must no longer poll it. Caveat: net_af_packet closes
 * its sockets when stopped and does not reopen them; such a port can only be closed.
 */
void rc_port_stop(struct rc_port *p);

/* Stop, then release the device; its port id becomes invalid. */
void rc_port_close(struct rc_port *p);

struct rc_port_link {
	bool up;
	bool full_duplex;
	bool autoneg;
	uint32_t speed_mbps; /* 0 or UINT32_MAX (RTE_ETH_SPEED_NUM_UNKNOWN) if not known */
};

/* Current link state, without waiting. Returns 0 or -errno (-ENODEV: no such port). */
int rc_port_link(const struct rc_port *p, struct rc_port_link *out);

/* The device's basic counters (rte_eth_stats_get()). Returns 0 or -errno. */
int rc_port_stats(const struct rc_port *p, struct rte_eth_stats *st);

/* True when device names a virtual device ("net_..."), false for a PCI address. */
bool rc_port_is_vdev(const char *device);

#endif /* RC_PORT_H */
