/* SPDX-License-Identifier: MIT */
/*
 * Users' home nodes (cluster.h, rc_cluster_home_node): which node of a cluster a user logs in
 * to. The choice reads only the user name and the cluster's groups, so every node of the
 * cluster computes the same home for a user without asking any other.
 *
 * The group is FNV-1a 64 of the name modulo the cluster's groups; inside it, "balanced" takes
 * the node a second hash of the name picks (a 64-bit finaliser of the first: independent of
 * the group's choice), "active-standby" the first node, "none" no node (the user stays where
 * he logs in).
 *
 * Threads: no shared state.
 */
#include "cluster_impl.h"

#include <string.h>

static uint64_t
fnv1a64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A bijective mix (the splitmix64 finaliser): its low bits do not follow h's. */
static uint64_t
mix64(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

const struct rc_cl_node *
rc_cluster_home_node(const struct rc_cluster *c, const char *cluster, const char *user,
		     size_t user_len)
{
	const struct rc_cl_cluster *cl = NULL;
	const struct rc_cl_group *g;
	uint64_t h;

	for (unsigned i = 0; cluster != NULL && i < c->n_clusters; i++)
		if (strcmp(c->clusters[i].name, cluster) == 0)
			cl = &c->clusters[i];
	if (cl == NULL || cl->n_groups == 0 || user_len == 0)
		return NULL;
	h = fnv1a64(user, user_len);
	g = &cl->groups[h % cl->n_groups];
	if (g->n_nodes == 0)
		return NULL;
	switch (g->assign) {
	case RC_CL_ASSIGN_BALANCED:
		return &g->nodes[mix64(h) % g->n_nodes];
	case RC_CL_ASSIGN_ACTIVE_STANDBY:
		return &g->nodes[0];
	default:
		return NULL;
	}
}

const struct rc_cl_node *
rc_cluster_login_redirect(const struct rc_cluster *c, const char *self_id, const char *user,
			  size_t user_len, struct in_addr arrived)
{
	const struct rc_cl_cluster *cl = NULL;
	const struct rc_cl_node *home;

	if (c == NULL || rc_cluster_find_node(c, self_id, NULL, &cl) == NULL)
		return NULL;
	home = rc_cluster_home_node(c, cl->name, user, user_len);
	if (home == NULL || home->vip.s_addr == arrived.s_addr)
		return NULL;
	return home;
}
