/* SPDX-License-Identifier: MIT */
/*
 * roomcastd: one roomcast node. `roomcastd -c FILE` reads the configuration, initialises
 * DPDK with the configured EAL arguments plus the ports' devices, builds the node and runs
 * its control loop on the main lcore until SIGTERM or SIGINT. `--check` only validates
 * the configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "port.h"

static struct rc_node node;

static void
on_signal(int sig)
{
	(void)sig;
	node.stop = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: roomcastd -c FILE [--check] [-v]\n"
		   "  -c, --config FILE  node configuration (see configs/node-example.conf)\n"
		   "      --check        validate the configuration and exit\n"
		   "  -v, --verbose      debug logging\n");
}

static int
start_eal(const struct rc_config *cfg, char *err, size_t errlen)
{
	static struct rc_eal_args a;
	unsigned i;
	int rc;

	rc_eal_args_init(&a, "roomcastd");
	for (i = 0; i < cfg->eal_argc; i++)
		if (rc_eal_args_push(&a, cfg->eal_argv[i]) != 0) {
			snprintf(err, errlen, "%s: eal.args: too many arguments", cfg->path);
			return -E2BIG;
		}
	rc = rc_port_eal_args(&a, cfg->ports, cfg->n_ports, err, errlen);
	if (rc != 0)
		return rc;
	if (rte_eal_init(a.argc, a.argv) < 0) {
		snprintf(err, errlen, "DPDK EAL initialisation failed: %s",
			 rte_strerror(rte_errno));
		return -rte_errno;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct rc_config cfg;
	const char *path = NULL;
	bool check = false;
	char err[512];
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'k': check = true; break;
		case 'v': rc_log_set_level(RC_LOG_DEBUG); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (rc_config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "roomcastd: %s\n", err);
		return 2;
	}
	if (check) {
		printf("%s: ok\n", path);
		return 0;
	}
	if (start_eal(&cfg, err, sizeof(err)) != 0) {
		RC_ERR("%s", err);
		return 1;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rc = rc_node_init(&node, &cfg, err, sizeof(err));
	if (rc != 0)
		RC_ERR("%s", err);
	else
		rc = rc_node_run(&node);
	rc_node_fini(&node);
	rte_eal_cleanup();
	return rc == 0 ? 0 : 1;
}
