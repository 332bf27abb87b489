/* SPDX-License-Identifier: MIT */
/*
 * bench_fanout_node: the worker's own fan-out code (dataplane/fanout.c: rc_fanout_add,
 * rc_tx_flush) on one thread into net_null, which frees what it is given: the CPU cost of a
 * delivery on the worker lcore with nothing else in the way (no receive, no WAL, no peer to
 * read the frames). A room of R members (client members, each its own address and port) and
 * K stored messages per loop iteration (what a group commit hands back at once: K DELIVERs
 * batched per room, then the iteration's flush), bodies of 64, 200 or 1000 bytes.
 *
 * Figures: CPU time of this thread (CLOCK_THREAD_CPUTIME_ID) per delivery, the median of 5
 * runs of each point, each run about -t seconds (0.2); DELIVERs per datagram; and the
 * deliveries per CPU-second that makes. No assertions.
 *
 *   bench_fanout_node [-t SECONDS]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <urcu-qsbr.h>

#include "dp.h"
#include "fanout.h"
#include "room_table.h"

#define RUNS 5
#define MAX_MEMBERS 1000

static struct rc_dp dp;
static struct rc_worker *wk;

static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_fanout_node: %s: %s\n", what, rte_strerror(rte_errno));
	exit(1);
}

static void
setup(void)
{
	char prefix[64], *argv[8];
	int argc = 0;
	uint16_t port;
	struct rte_eth_conf conf;

	snprintf(prefix, sizeof(prefix), "--file-prefix=rcbfn-%d", (int)getpid());
	argv[argc++] = "bench_fanout_node";
	argv[argc++] = "-l0";
	argv[argc++] = "--no-huge";
	argv[argc++] = "--no-pci";
	argv[argc++] = "-m256";
	argv[argc++] = "--vdev=net_null0";
	argv[argc++] = "--log-level=3";
	argv[argc++] = prefix;
	if (rte_eal_init(argc, argv) < 0)
		die("EAL");
	dp.mbuf_pool = rte_pktmbuf_pool_create("bfn", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					       SOCKET_ID_ANY);
	if (dp.mbuf_pool == NULL || rte_eth_dev_get_port_by_name("net_null0", &port) != 0)
		die("pool or net_null0");
	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(port, 0, 256, SOCKET_ID_ANY, NULL, dp.mbuf_pool) != 0 ||
	    rte_eth_tx_queue_setup(port, 0, 1024, SOCKET_ID_ANY, NULL) != 0 ||
	    rte_eth_dev_start(port) != 0)
		die("net_null0 setup");
	dp.n_ports = 1;
	dp.ports[0].port_id = port;
	dp.ports[0].local.ip = rte_cpu_to_be_32(0xc6120001u); /* 198.18.0.1 */
	dp.ports[0].local.udp_port = rte_cpu_to_be_16(RC_DEFAULT_UDP_PORT);
	dp.n_workers = 1;
	dp.rooms = rc_room_table_create(16);
	wk = rte_zmalloc("bfn_w", sizeof(*wk), RTE_CACHE_LINE_SIZE);
	if (dp.rooms == NULL || wk == NULL)
		die("tables");
	dp.workers[0] = wk;
	rcu_register_thread();
}

/* Room `id` with r client members on distinct addresses and ports. */
static struct rc_room *
room_of(uint32_t id, unsigned r)
{
	char name[32];
	struct rc_room *room;

	snprintf(name, sizeof(name), "bench%u@tc", id);
	room = rc_room_add(dp.rooms, id, name, (unsigned)strlen(name), "bench", 0, 0);
	if (room == NULL)
		die("room");
	for (unsigned i = 0; i < r; i++) {
		struct rc_member m = { .session = i + 1, .user_len = 5 };

		m.peer.ip = rte_cpu_to_be_32(0xc6130002u + i); /* 198.19.x.y */
		m.peer.udp_port = rte_cpu_to_be_16((uint16_t)(40000 + i));
		m.peer.mac.addr_bytes[0] = 0x02;
		m.peer.mac.addr_bytes[5] = (uint8_t)i;
		memcpy(m.user, "bench", 5);
		if (rc_room_member_add(room, &m, MAX_MEMBERS) != 0)
			die("member");
	}
	return room;
}

/* One run: K messages per iteration until `seconds` of CPU; ns per delivery. */
static double
run(const struct rc_room *room, unsigned k, unsigned body, double seconds)
{
	static char text[1000];
	uint64_t t0 = cpu_ns(), t, deliveries0 = wk->stats.deliveries, seq = 1;
	struct rc_msg m;

	memset(text, 'x', sizeof(text));
	memset(&m, 0, sizeof(m));
	m.hdr.type = RC_T_DELIVER;
	m.u.deliver.room_id = room->id;
	m.u.deliver.sender = (struct rc_str){ .p = "bench", .len = 5 };
	m.u.deliver.body = (struct rc_str){ .p = text, .len = (uint16_t)body };
	do {
		for (unsigned i = 0; i < 64; i++) {
			for (unsigned j = 0; j < k; j++) {
				m.u.deliver.seq = seq;
				m.u.deliver.cmid = seq++;
				rc_fanout_add(&dp, wk, room, &m);
			}
			rc_tx_flush(&dp, wk);
		}
		rcu_quiescent_state();
		t = cpu_ns();
	} while ((double)(t - t0) < seconds * 1e9);
	return (double)(t - t0) / (double)(wk->stats.deliveries - deliveries0);
}

int
main(int argc, char **argv)
{
	static const unsigned members[] = { 1, 10, 100, 1000 }, bodies[] = { 64, 200, 1000 },
			      ks[] = { 1, 5, 20 };
	double seconds = 0.2, ns[RUNS];
	uint32_t id = 1;
	int c;

	while ((c = getopt(argc, argv, "t:h")) != -1) {
		if (c == 't' && atof(optarg) > 0)
			seconds = atof(optarg);
		else {
			fprintf(stderr, "usage: bench_fanout_node [-t SECONDS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	setup();
	printf("bench_fanout_node: rc_fanout_add x K + rc_tx_flush per iteration into net_null, "
	       "CPU ns per delivery (median of %d runs of %.2f s)\n", RUNS, seconds);
	printf("%7s %5s %3s %10s %14s %12s\n", "members", "body", "K", "ns/dlv", "M dlv/CPU-s",
	       "dlv/dgram");
	for (unsigned a = 0; a < RTE_DIM(members); a++) {
		const struct rc_room *room = room_of(id++, members[a]);

		for (unsigned b = 0; b < RTE_DIM(bodies); b++)
			for (unsigned x = 0; x < RTE_DIM(ks); x++) {
				uint64_t d0 = wk->stats.deliveries, g0 = wk->stats.fan_datagrams;

				for (unsigned r = 0; r < RUNS; r++)
					ns[r] = run(room, ks[x], bodies[b], seconds);
				qsort(ns, RUNS, sizeof(ns[0]), cmp_d);
				printf("%7u %5u %3u %10.1f %14.2f %12.2f\n", members[a], bodies[b],
				       ks[x], ns[RUNS / 2], 1e3 / ns[RUNS / 2],
				       (double)(wk->stats.deliveries - d0) /
					       (double)(wk->stats.fan_datagrams - g0));
			}
	}
	printf("drops: no_mbuf %lu, tx_full %lu\n",
	       (unsigned long)wk->stats.drops[RC_DROP_NO_MBUF],
	       (unsigned long)wk->stats.drops[RC_DROP_TX_FULL]);
	rte_eal_cleanup();
	return 0;
}
