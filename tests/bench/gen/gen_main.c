/* SPDX-License-Identifier: MIT */
/*
 * roomcast-gen: options, tokens and the workload set up, then the EAL (the defaults or the
 * arguments after "--", plus the port's device), the port (drivers/port.c, as the node
 * brings up its own), the generator launched on the first worker lcore, a line per second
 * here, the summary at the end. See gen.h for the threads, gen_opts.c for the usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "gen.h"
#include "port.h"

#define NB_MBUFS 16383

static struct rg_gen *the_gen;

static void
on_signal(int sig)
{
	(void)sig;
	if (the_gen)
		the_gen->stop = 1;
}

/* The EAL's arguments: the user's (after "--") or the defaults, then the port's device. */
static int
eal_args(const struct rg_opts *o, const struct rc_port_conf *pc, struct rc_eal_args *a,
	 char *err, size_t errlen)
{
	char prefix[64];
	int i, rc = 0;

	rc_eal_args_init(a, "roomcast-gen");
	if (o->eal_argc > 0) {
		for (i = 0; i < o->eal_argc && rc == 0; i++)
			rc = rc_eal_args_push(a, o->eal_argv[i]);
	} else {
		static const char *const def[] = { "--no-huge", "--no-pci", "-m", "256",
						   "--lcores=0@0,1@0", "--log-level=5" };

		snprintf(prefix, sizeof(prefix), "--file-prefix=rcgen-%d", (int)getpid());
		rc = rc_eal_args_push(a, prefix);
		for (i = 0; i < (int)RTE_DIM(def) && rc == 0; i++)
			rc = rc_eal_args_push(a, def[i]);
	}
	if (rc < 0) {
		snprintf(err, errlen, "too many EAL arguments");
		return rc;
	}
	return rc_port_eal_args(a, pc, 1, err, errlen);
}

static int
port_conf(const struct rg_opts *o, struct rc_port_conf *pc)
{
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	int n;

	memset(pc, 0, sizeof(*pc));
	snprintf(pc->name, sizeof(pc->name), "gen0");
	if (o->memif) {
		rte_ether_format_addr(mac, sizeof(mac), &o->mac);
		snprintf(pc->device, sizeof(pc->device), "net_memif0");
		n = snprintf(pc->args, sizeof(pc->args),
			     "role=client,id=0,socket=%s,socket-abstract=no,mac=%s,rsize=%u", o->memif, mac,
			     o->memif_rsize);
	} else {
		snprintf(pc->device, sizeof(pc->device), "%s", o->device);
		n = snprintf(pc->args, sizeof(pc->args), "%s", o->devargs ? o->devargs : "");
	}
	pc->rx_queues = pc->tx_queues = o->queues;
	pc->rx_desc = pc->tx_desc = 1024;
	pc->mtu = 1500;
	return n < 0 || n >= (int)sizeof(pc->args) ? -ENAMETOOLONG : 0;
}

static void
gen_ids(struct rg_gen *g)
{
	uint32_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)time(NULL) ^ (uint32_t)getpid() << 16;
	g->run = r ? r : 1;
	/* cmids are unique per (user, room) across runs: the node would ACK an old one again */
	g->cmid_base = (uint64_t)g->run << 32 | 1;
}

static int
fail(const char *what, const char *detail)
{
	fprintf(stderr, "roomcast-gen: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	return 2;
}

/* EAL, pool and port; 0 or a message in err. */
static int
dpdk_up(struct rg_gen *g, struct rc_port *port, char *err, size_t errlen)
{
	static struct rc_eal_args a;
	struct rc_port_conf pc;
	int rc;

	if (port_conf(g->o, &pc) < 0)
		return snprintf(err, errlen, "device arguments too long"), -EINVAL;
	rc = eal_args(g->o, &pc, &a, err, errlen);
	if (rc < 0)
		return rc;
	if (rte_eal_init(a.argc, a.argv) < 0)
		return snprintf(err, errlen, "EAL: %s", rte_strerror(rte_errno)), -EINVAL;
	g->mp = rte_pktmbuf_pool_create("rcgen_mbufs", NB_MBUFS, 256, 0,
					RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (g->mp == NULL)
		return snprintf(err, errlen, "mbuf pool: %s", rte_strerror(rte_errno)), -ENOMEM;
	rc = rc_port_setup(port, &pc, g->mp, err, errlen);
	if (rc < 0)
		return rc;
	g->port_id = port->port_id;
	g->mac = port->mac;
	g->hz = rte_get_tsc_hz();
	g->ns_per_cyc = 1e9 / (double)g->hz;
	g->resend_cyc = g->hz / 1000 * g->o->resend_ms;
	return 0;
}

static int
run(struct rg_gen *g)
{
	unsigned lcore = rte_get_next_lcore(-1, 1, 0);
	int rc;

	if (lcore >= RTE_MAX_LCORE)
		return fail("no worker lcore", "give the EAL two lcores (--lcores=0@0,1@0)");
	if (g->o->node_mac_set)
		g->node_mac = g->o->node_mac;
	the_gen = g;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = rte_eal_remote_launch(rg_run_worker, g, lcore);
	if (rc < 0)
		return fail("cannot launch the generator lcore", strerror(-rc));
	rg_report_loop(g, lcore);
	rte_eal_wait_lcore(lcore);
	rg_report_summary(g);
	return rg_exit_status(g);
}

int
main(int argc, char **argv)
{
	static struct rg_opts o;
	static struct rg_gen g;
	struct rc_port port = { .port_id = RTE_MAX_ETHPORTS };
	const char *err;
	char msg[512];
	int rc;

	rc = rg_opts_parse(&o, argc, argv, &err);
	if (rc > 0) {
		rg_usage(stdout);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "roomcast-gen: %s\nusage: roomcast-gen --help\n", err);
		return 2;
	}
	g.o = &o;
	gen_ids(&g);
	rc = rg_req_setup(&g);
	if (rc < 0) {
		rg_req_free(&g);
		return fail("setup (rooms, users, tokens)", strerror(-rc));
	}
	rc = dpdk_up(&g, &port, msg, sizeof(msg));
	if (rc == 0)
		rc = run(&g);
	else
		rc = fail("DPDK", msg);
	if (port.port_id != RTE_MAX_ETHPORTS)
		rc_port_close(&port);
	rg_req_free(&g);
	rte_eal_cleanup();
	return rc;
}
