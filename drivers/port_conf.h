/* SPDX-License-Identifier: MIT */
/*
 * A NIC port's settings, as the node configuration gives them (control/config.h holds an
 * array of them) and as drivers/port.c brings the port up with them. Types only.
 */
#ifndef RC_PORT_CONF_H
#define RC_PORT_CONF_H

#define RC_MAX_PORTS 4

struct rc_port_conf {
	char name[32];      /* operator's name for the port, e.g. "chat0" */
	char device[128];   /* DPDK device: PCI address or vdev name, e.g. "net_af_packet0" */
	char args[256];     /* vdev arguments, e.g. "iface=veth0,qpairs=1" ("" for PCI) */
	unsigned rx_queues; /* default 1 */
	unsigned tx_queues; /* default: workers (one TX queue per worker) */
	unsigned rx_desc;   /* default 1024 */
	unsigned tx_desc;   /* default 1024 */
	unsigned mtu;       /* default 1500 */
};

#endif /* RC_PORT_CONF_H */
