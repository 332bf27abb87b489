/* SPDX-License-Identifier: MIT */
/*
 * The cluster state on one node (control/cluster.h holds the model and its rules).
 *
 * At start the node loads DATA_DIR/cluster.json; without it, the seed file named by
 * node.cluster_file (configs/cluster-example.conf), else an empty state. It then applies
 * the state to itself (its TC service state, the chat settings, its database) and tells the
 * other nodes of the state what it holds; a peer that holds a newer state pushes it back.
 *
 * A change (roomcastctl) runs rc_node_cluster_change(): the mutation works on a copy, which
 * is validated, saved atomically, applied to this node, published on the management endpoint
 * and pushed to every other node by the syncer thread. A state pushed by a peer is taken when
 * it is newer (rc_cluster_newer), saved and applied the same way.
 *
 * What applying means here:
 *  - TC stopped on this node, or persistent chat disabled: the workers refuse every room
 *    request with ERROR 8 "not the owner" and a text saying why; LOGIN and PING still work.
 *  - chat settings: messages_on_join, max_archive_query, default_max_occupants and
 *    max_rooms (capped by the node's own table size) replace the node config's values;
 *    admins_only_create limits room creation to the listed admin users.
 *  - database: the database assigned to this node (conninfo from the state, password from
 *    its file) replaces node config's db.conninfo; the drainer and the history thread's
 *    connection are restarted on a change. No assignment: the node config's db applies.
 *
 * Threads: the control thread only.
 */
#ifndef RC_CLUSTER_NODE_H
#define RC_CLUSTER_NODE_H

#include <stddef.h>

#include "cluster.h"

struct rc_node;

typedef int (*rc_cluster_mut_fn)(struct rc_cluster *c, const char *origin, void *arg,
				 char *err, size_t errlen);

int rc_node_cluster_init(struct rc_node *n, char *err, size_t errlen);
void rc_node_cluster_fini(struct rc_node *n);

/* Control loop: take the pushes that peers sent. */
void rc_node_cluster_poll(struct rc_node *n);

/* Mutate, validate, save, apply, publish, replicate. 0 or -errno with the reason in err. */
int rc_node_cluster_change(struct rc_node *n, rc_cluster_mut_fn fn, void *arg, char *err,
			   size_t errlen);

const struct rc_cluster *rc_node_cluster(const struct rc_node *n);

/* This node's entry in the state, or NULL when the state does not name it. */
const struct rc_cl_node *rc_node_cluster_self(const struct rc_node *n,
					      const struct rc_cl_group **g);

#endif /* RC_CLUSTER_NODE_H */
