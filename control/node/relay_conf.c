/* SPDX-License-Identifier: MIT */
/*
 * The relay directory from the configuration and the cluster state (node.h,
 * rc_node_relay_dir), published to the dataplane at start and on every change of the state,
 * and the control loop's part of the relay (rc_node_relay_tick): ARP requests for the
 * directory's unresolved nodes, and the remote rooms' interest refresh.
 *
 * Services: a node of the cluster state is `tc-<id>.<cluster>`, any other `tc-<id>`. Our
 * scope 0 serves ours; scope 1 (HA) the peer's. The directory lists every other node of every
 * cluster of the state, and the HA peer even without a state, each with its VIP, chat port
 * and pair key: from relay.secret_file within our cluster, from the intercluster secret of
 * the two clusters across (a cluster without one is left out, and said so). Without
 * relay.secret_file the directory lists no node: only our own services, so that room names
 * still resolve here, and a room hosted elsewhere is an unknown service.
 *
 * Threads: the control thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "node.h"
#include "relay.h"
#include "relay_rooms.h"

/* "tc-ID.CLUSTER" (cluster NULL: "tc-ID") into out (RC_SERVICE_MAX). false when too long. */
static bool
service_name(char *out, const char *id, const char *cluster)
{
	int n = cluster != NULL ? snprintf(out, RC_SERVICE_MAX, "tc-%s.%s", id, cluster) :
				  snprintf(out, RC_SERVICE_MAX, "tc-%s", id);

	return n > 0 && n < RC_SERVICE_MAX;
}

/* The index of our port named name (the one the cluster state says we reach others on), 0
 * when it is not ours. */
static uint16_t
port_index(const struct rc_config *cfg, const char *name)
{
	for (unsigned i = 0; name != NULL && i < cfg->n_ports; i++)
		if (strcmp(cfg->ports[i].name, name) == 0)
			return (uint16_t)i;
	return 0;
}

/* Append a note ("what") to b's text once, comma-separated. */
static void
note(struct rc_relay_build *b, const char *what)
{
	size_t len = strlen(b->skipped);

	if (strstr(b->skipped, what) != NULL)
		return;
	snprintf(b->skipped + len, sizeof(b->skipped) - len, "%s%s", len ? ", " : "", what);
}

/* Add node (id, its cluster or NULL, VIP, chat port) with the pair key of secret. */
static void
add_node(const struct rc_config *cfg, struct rc_relay_dir *dir, struct rc_relay_build *b,
	 const struct rc_relay_secret *secret, const char *id, const char *cluster,
	 struct in_addr vip, uint16_t udp_port)
{
	struct rc_relay_node *e = &dir->nodes[dir->n_nodes];
	char why[160];

	if (dir->n_nodes == RC_RELAY_MAX_NODES) {
		note(b, "more nodes than the directory holds");
		return;
	}
	memset(e, 0, sizeof(*e));
	if (!service_name(e->service, id, cluster)) {
		snprintf(why, sizeof(why), "node %s (service name too long)", id);
		note(b, why);
		return;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->ip = vip.s_addr;
	e->udp_port = rte_cpu_to_be_16(udp_port);
	e->port_idx = b->port_idx;
	e->key_id = (uint8_t)cfg->relay.key_id;
	rc_relay_pair_key(secret->key, secret->len, cfg->node_id, id, e->key);
	if (cfg->ha.enabled && strcmp(id, cfg->ha.peer_id) != 0)
		rc_relay_pair_key(secret->key, secret->len, cfg->ha.peer_id, id, e->peer_key);
	dir->n_nodes++;
}

/* Every other node of the state's clusters: ours with the relay secret, the others with
 * their intercluster secret. */
static void
add_cluster_nodes(const struct rc_config *cfg, const struct rc_cluster *cl, const char *own,
		  struct rc_relay_dir *dir, struct rc_relay_build *b)
{
	for (unsigned i = 0; i < cl->n_clusters; i++) {
		const struct rc_cl_cluster *c = &cl->clusters[i];
		const struct rc_relay_secret *s = &cfg->relay.secret;
		char why[160];

		if (strcmp(c->name, own) != 0)
			s = rc_config_intercluster(cfg, c->name);
		if (s == NULL) {
			snprintf(why, sizeof(why), "cluster %s (no relay.intercluster secret)",
				 c->name);
			note(b, why);
			continue;
		}
		for (unsigned j = 0; j < c->n_groups; j++)
			for (unsigned k = 0; k < c->groups[j].n_nodes; k++) {
				const struct rc_cl_node *o = &c->groups[j].nodes[k];

				if (strcmp(o->id, cfg->node_id) != 0)
					add_node(cfg, dir, b, s, o->id, c->name, o->vip,
						 o->udp_port);
			}
	}
}

static bool
listed(const struct rc_relay_dir *dir, const char *id)
{
	for (unsigned i = 0; i < dir->n_nodes; i++)
		if (strcmp(dir->nodes[i].id, id) == 0)
			return true;
	return false;
}

int
rc_node_relay_dir(const struct rc_config *cfg, const struct rc_cluster *cl,
		  struct rc_relay_dir *dir, struct rc_relay_build *b)
{
	const struct rc_cl_cluster *own = NULL, *peer_cl = NULL;
	const struct rc_cl_node *self = NULL;
	bool relay = cfg->relay.secret.len > 0;

	memset(dir, 0, sizeof(*dir));
	memset(b, 0, sizeof(*b));
	if (cl != NULL)
		self = rc_cluster_find_node(cl, cfg->node_id, NULL, &own);
	b->port_idx = port_index(cfg, self != NULL ? self->port : NULL);
	snprintf(dir->self_id, sizeof(dir->self_id), "%s", cfg->node_id);
	if (!service_name(dir->service[0], cfg->node_id, own != NULL ? own->name : NULL))
		return -ENAMETOOLONG;
	if (cfg->ha.enabled) {
		if (cl != NULL)
			rc_cluster_find_node(cl, cfg->ha.peer_id, NULL, &peer_cl);
		if (!service_name(dir->service[1], cfg->ha.peer_id,
				  peer_cl != NULL ? peer_cl->name : NULL))
			return -ENAMETOOLONG;
	}
	if (relay && own != NULL)
		add_cluster_nodes(cfg, cl, own->name, dir, b);
	if (relay && cfg->ha.enabled && !listed(dir, cfg->ha.peer_id))
		add_node(cfg, dir, b, &cfg->relay.secret, cfg->ha.peer_id,
			 peer_cl != NULL ? peer_cl->name : NULL, cfg->ha.peer_service_ip,
			 cfg->udp_port);
	return 0;
}

/* ---- on the node ---- */

/* Log what a new directory means: relaying off, nodes left out (each once). */
static void
relay_log(struct rc_node *n, const struct rc_relay_build *b)
{
	const struct rc_relay_dir *d = n->relay_dir;

	if (n->cfg.relay.secret.len == 0 && !n->relay_off_logged)
		RC_WARN("relay: no relay.secret_file: this node relays nothing (rooms hosted on "
			"other nodes are unknown services here)");
	n->relay_off_logged = n->cfg.relay.secret.len == 0;
	if (b->skipped[0] != '\0' && strcmp(b->skipped, n->relay_skipped) != 0)
		RC_WARN("relay: not in the directory: %s", b->skipped);
	snprintf(n->relay_skipped, sizeof(n->relay_skipped), "%s", b->skipped);
	RC_INFO("relay: service %s%s%s, %u other node(s) in the directory", d->service[0],
		d->service[1][0] ? ", HA peer's " : "", d->service[1], d->n_nodes);
}

int
rc_node_relay_publish(struct rc_node *n, const struct rc_cluster *cl)
{
	struct rc_relay_dir *dir = malloc(sizeof(*dir));
	struct rc_relay_build b;
	int rc;

	if (dir == NULL)
		return -ENOMEM;
	rc = rc_node_relay_dir(&n->cfg, cl, dir, &b);
	if (rc == 0 && n->relay_dir != NULL && memcmp(dir, n->relay_dir, sizeof(*dir)) == 0) {
		free(dir); /* unchanged: a change of the state elsewhere (chat settings...) */
		return 0;
	}
	if (rc == 0)
		rc = rc_relay_publish(&n->dp, dir);
	if (rc != 0) {
		RC_ERR("relay: cannot publish the directory: %s", strerror(-rc));
		free(dir);
		return rc;
	}
	free(n->relay_dir);
	n->relay_dir = dir;
	relay_log(n, &b);
	return 0;
}

/* The directory nodes whose MAC changed since the last call (bit i: index i). */
static uint64_t
neigh_changes(struct rc_node *n)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < RC_RELAY_MAX_NODES; i++) {
		uint32_t g = rc_neigh_gen(&n->dp, i);

		if (g != n->relay_neigh_gen[i])
			mask |= 1ULL << i;
		n->relay_neigh_gen[i] = g;
	}
	return mask;
}

void
rc_node_relay_tick(struct rc_node *n, uint64_t now_ms)
{
	if (n->relay_dir == NULL || n->relay_dir->n_nodes == 0)
		return;
	if (now_ms - n->relay_solicited_ms >= 1000) {
		rc_neigh_solicit(&n->dp, now_ms);
		n->relay_solicited_ms = now_ms;
	}
	rc_relay_rooms_refresh(&n->dp, now_ms, neigh_changes(n));
	rc_room_dir_poll(n, now_ms);
}
