/* SPDX-License-Identifier: MIT */
/*
 * control/node/relay_conf.c: the relay directory a node publishes, from its configuration and
 * the cluster state (rc_node_relay_dir, pure): its services (tc-ID.CLUSTER in a state, tc-ID
 * without), every other node of every cluster with its VIP, chat port and pair key (the relay
 * secret in our cluster, the intercluster secret across, a cluster without one left out and
 * named), the HA peer without a state, our port toward them, and no node at all without a
 * relay secret.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"
#include "config.h"
#include "node.h"
#include "relay.h"

static struct rc_config cfg;
static struct rc_cluster cl;
static struct rc_relay_dir dir;
static struct rc_relay_build b;

static void
secret(struct rc_relay_secret *s, uint8_t fill)
{
	memset(s->key, fill, 32);
	s->len = 32;
}

/* n1 of a pair with n2 (VIP 198.18.0.2), port 6500, key id 3; relay secret 'r'. */
static void
base_config(bool ha, bool relay)
{
	rc_config_defaults(&cfg);
	strcpy(cfg.node_id, "n1");
	inet_pton(AF_INET, "198.18.0.1", &cfg.service_ip);
	cfg.udp_port = 6500;
	cfg.n_ports = 2;
	strcpy(cfg.ports[0].name, "chat0");
	strcpy(cfg.ports[1].name, "chat1");
	cfg.relay.key_id = 3;
	cfg.ha.enabled = ha;
	strcpy(cfg.ha.peer_id, "n2");
	inet_pton(AF_INET, "198.18.0.2", &cfg.ha.peer_service_ip);
	if (relay)
		secret(&cfg.relay.secret, 'r');
}

/* Clusters c1 (g1: n1, n2; g2: n3 on udp port 7000) and c2 (g3: m1, m2). */
static void
base_state(void)
{
	static const char *const names[2][3] = { { "n1", "n2", "n3" }, { "m1", "m2", "" } };

	rc_cluster_init_empty(&cl);
	cl.n_clusters = 2;
	for (unsigned c = 0; c < 2; c++) {
		struct rc_cl_cluster *k = &cl.clusters[c];

		snprintf(k->name, sizeof(k->name), "c%u", c + 1);
		k->n_groups = c == 0 ? 2 : 1;
		for (unsigned i = 0; i < 3 && names[c][i][0]; i++) {
			struct rc_cl_group *g = &k->groups[i / 2];
			struct rc_cl_node *n = &g->nodes[g->n_nodes++];

			snprintf(g->name, sizeof(g->name), "g%u", c * 2 + i / 2 + 1);
			strcpy(n->id, names[c][i]);
			n->vip.s_addr = htonl(0xc6120001 + c * 16 + i);
			strcpy(n->port, "chat0");
			n->udp_port = 6420;
		}
	}
	cl.clusters[0].groups[1].nodes[0].udp_port = 7000;
}

static const struct rc_relay_node *
find(const char *id)
{
	for (unsigned i = 0; i < dir.n_nodes; i++)
		if (strcmp(dir.nodes[i].id, id) == 0)
			return &dir.nodes[i];
	return NULL;
}

static void
expect_key(const struct rc_relay_node *e, uint8_t fill)
{
	uint8_t want[32], s[32];

	memset(s, fill, sizeof(s));
	rc_relay_pair_key(s, sizeof(s), "n1", e->id, want);
	assert_memory_equal(e->key, want, 32);
	assert_int_equal(e->key_id, 3);
}

static void
test_alone(void **state)
{
	(void)state;
	base_config(false, true);
	assert_int_equal(rc_node_relay_dir(&cfg, NULL, &dir, &b), 0);
	assert_string_equal(dir.self_id, "n1");
	assert_string_equal(dir.service[0], "tc-n1");
	assert_string_equal(dir.service[1], "");
	assert_int_equal(dir.n_nodes, 0);
	assert_string_equal(b.skipped, "");
}

/* A pair without a cluster state: the peer's service and the peer itself. */
static void
test_pair_without_state(void **state)
{
	const struct rc_relay_node *e;

	(void)state;
	base_config(true, true);
	rc_cluster_init_empty(&cl);
	assert_int_equal(rc_node_relay_dir(&cfg, &cl, &dir, &b), 0);
	assert_string_equal(dir.service[0], "tc-n1");
	assert_string_equal(dir.service[1], "tc-n2");
	assert_int_equal(dir.n_nodes, 1);
	e = find("n2");
	assert_non_null(e);
	assert_string_equal(e->service, "tc-n2");
	assert_int_equal(e->ip, cfg.ha.peer_service_ip.s_addr);
	assert_int_equal(rte_be_to_cpu_16(e->udp_port), 6500); /* a pair shares its layout */
	assert_int_equal(e->port_idx, 0);
	expect_key(e, 'r');
	/* no relay secret: the services only, no node */
	base_config(true, false);
	assert_int_equal(rc_node_relay_dir(&cfg, NULL, &dir, &b), 0);
	assert_string_equal(dir.service[1], "tc-n2");
	assert_int_equal(dir.n_nodes, 0);
}

/* Every other node of every cluster; the intercluster secret across clusters. */
static void
test_clusters(void **state)
{
	const struct rc_relay_node *e;

	(void)state;
	base_config(true, true);
	base_state();
	strcpy(cfg.relay.intercluster[0].cluster, "c2");
	secret(&cfg.relay.intercluster[0].secret, 'x');
	cfg.relay.n_intercluster = 1;
	strcpy(cl.clusters[0].groups[0].nodes[0].port, "chat1");
	assert_int_equal(rc_node_relay_dir(&cfg, &cl, &dir, &b), 0);
	assert_string_equal(dir.service[0], "tc-n1.c1");
	assert_string_equal(dir.service[1], "tc-n2.c1");
	assert_int_equal(dir.n_nodes, 4);
	assert_null(find("n1"));
	e = find("n2"); /* the HA peer, once, from the state */
	assert_string_equal(e->service, "tc-n2.c1");
	assert_int_equal(e->ip, htonl(0xc6120002));
	assert_int_equal(rte_be_to_cpu_16(e->udp_port), 6420);
	assert_int_equal(e->port_idx, 1); /* our port named in the state */
	expect_key(e, 'r');
	e = find("n3");
	assert_string_equal(e->service, "tc-n3.c1");
	assert_int_equal(rte_be_to_cpu_16(e->udp_port), 7000);
	expect_key(e, 'r');
	e = find("m2");
	assert_string_equal(e->service, "tc-m2.c2");
	assert_int_equal(e->ip, htonl(0xc6120012));
	expect_key(e, 'x');
	assert_string_equal(b.skipped, "");
	/* no secret for c2: its nodes are left out, and said so */
	cfg.relay.n_intercluster = 0;
	assert_int_equal(rc_node_relay_dir(&cfg, &cl, &dir, &b), 0);
	assert_int_equal(dir.n_nodes, 2);
	assert_null(find("m1"));
	assert_string_equal(b.skipped, "cluster c2 (no relay.intercluster secret)");
	/* no relay secret: nothing relayed, whatever the state holds */
	memset(&cfg.relay.secret, 0, sizeof(cfg.relay.secret));
	assert_int_equal(rc_node_relay_dir(&cfg, &cl, &dir, &b), 0);
	assert_int_equal(dir.n_nodes, 0);
	assert_string_equal(dir.service[0], "tc-n1.c1");
}

/* A node whose service name does not fit is left out and named; our own refuses. */
static void
test_long_names(void **state)
{
	char id[64];

	(void)state;
	base_config(false, true);
	base_state();
	memset(id, 'a', 63);
	id[63] = '\0';
	memset(cl.clusters[0].name, 'c', 63); /* "tc-n1.ccc...": 69 bytes, fits */
	strcpy(cl.clusters[0].groups[1].nodes[0].id, id); /* 130 bytes: does not */
	assert_int_equal(rc_node_relay_dir(&cfg, &cl, &dir, &b), 0);
	assert_int_equal(dir.n_nodes, 1);
	assert_non_null(find("n2"));
	assert_string_equal(b.skipped, "node aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
				       "aaaaaaaaaaaaaaaa (service name too long), cluster c2 (no "
				       "relay.intercluster secret)");
	/* our own */
	strcpy(cfg.node_id, id);
	strcpy(cl.clusters[0].groups[0].nodes[0].id, id);
	strcpy(cl.clusters[0].groups[1].nodes[0].id, "n3");
	assert_int_equal(rc_node_relay_dir(&cfg, &cl, &dir, &b), -ENAMETOOLONG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alone),
		cmocka_unit_test(test_pair_without_state),
		cmocka_unit_test(test_clusters),
		cmocka_unit_test(test_long_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
