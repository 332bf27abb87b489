/* SPDX-License-Identifier: MIT */
/*
 * The cluster state on one node (cluster.h holds the model and its rules).
 *
 * At start the node loads DATA_DIR/cluster.json; without it, the seed file named by
 * node.cluster_file (configs/cluster-example.conf), else an empty state. It then applies
 * the state to itself (its TC service state, the chat settings, its database) and tells the
 * other nodes of the state what it holds; a peer that holds a newer state pushes it back.
 *
 * A change (roomcastctl) runs rc_cluster_node_change(): the mutation works on a copy, which
 * is validated, saved atomically, applied to this node, published on the management endpoint
 * and pushed to every other node by the syncer thread. A state pushed by a peer is taken when
 * it is newer (rc_cluster_newer), saved and applied the same way.
 *
 * What applying means here (the node does the first two: rc_cluster_node_ops.apply):
 *  - TC stopped on this node, or persistent chat disabled: the workers refuse every room
 *    request with ERROR 8 "not the owner" and a text saying why; LOGIN and PING still work.
 *  - chat settings: messages_on_join, max_archive_query, default_max_occupants and
 *    max_rooms (capped by the node's own table size) replace the node config's values;
 *    admins_only_create limits room creation to the listed admin users.
 *  - database: the database assigned to this node (conninfo from the state, password from
 *    its file) replaces node config's db.conninfo; the drainers and the history threads'
 *    connections are restarted on a change (rc_cluster_node_ops.db_switch). No assignment:
 *    the node config's db applies.
 *
 * Threads: the control thread only.
 */
#ifndef RC_CLUSTER_NODE_H
#define RC_CLUSTER_NODE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.h"

struct rc_mgmt;
struct rc_cluster_node;

typedef int (*rc_cluster_mut_fn)(struct rc_cluster *c, const char *origin, void *arg,
				 char *err, size_t errlen);

/* What the cluster wing reads of the node's configuration: the node's identity and keys,
 * where its files are, its service and management addresses, its start-up database. The
 * node fills it; it and the strings it points to outlive the wing. */
struct rc_cluster_settings {
	const char *node_id;
	const char *data_dir;
	const char *cluster_file;     /* the seed file, or "" */
	const char *mgmt_address;     /* "IP:PORT", or "" */
	struct in_addr service_ip;
	uint16_t udp_port;            /* node.udp_port: the state's entry must agree */
	const char *db_conninfo;      /* without the password, or "" */
	const char *db_password;
	const char *db_password_file;
	const char *secrets_dir;      /* node.secrets_dir: every password file is read there */
	const struct rc_keyring *keys; /* the cluster documents' ring (k[0] signs) */
};

/* What applying the state asks of the node. */
struct rc_cluster_node_ops {
	void *arg;
	/* The state's chat settings and services for this node (self: its entry). Not called
	 * while the state is empty and does not name it: the node config rules. */
	void (*apply)(void *arg, const struct rc_cluster *c, const struct rc_cl_node *self);
	/* Drain to (and read history from) conninfo from now on ("" = none). 0 or -errno. */
	int (*db_switch)(void *arg, const char *conninfo);
	/* The conninfo in use now ("" = none). */
	const char *(*db_current)(void *arg);
};

/* Load the state (DATA_DIR/cluster.json, else the seed file, else empty), check the node's
 * entry against cfg, start the syncer (with a management endpoint: mgmt, may be NULL), apply
 * the state and publish it. cfg, mgmt and ops outlive it. 0 with *out set, or -errno with
 * the reason in err. */
int rc_cluster_node_open(const struct rc_cluster_settings *cfg, struct rc_mgmt *mgmt,
			 const struct rc_cluster_node_ops *ops, struct rc_cluster_node **out,
			 char *err, size_t errlen);
/* Stop the syncer and free it. NULL-safe. */
void rc_cluster_node_close(struct rc_cluster_node *cn);

/* The cluster key ring changed (cfg->keys, in place): sign the next pushes with its first
 * key. 0 or -EINVAL. */
int rc_cluster_node_keys_changed(struct rc_cluster_node *cn);

/* Control loop: take the pushes that peers sent. */
void rc_cluster_node_poll(struct rc_cluster_node *cn);

/* Mutate, validate, save, apply, publish, replicate. 0 or -errno with the reason in err. */
int rc_cluster_node_change(struct rc_cluster_node *cn, rc_cluster_mut_fn fn, void *arg,
			   char *err, size_t errlen);

/* The state (updated in place by a change or a push); NULL while cn is NULL. */
const struct rc_cluster *rc_cluster_node_state(const struct rc_cluster_node *cn);

/* This node's entry in the state, or NULL when the state does not name it. */
const struct rc_cl_node *rc_cluster_node_self(const struct rc_cluster_node *cn,
					      const struct rc_cl_group **g);

/* Append " password='...'" to out, quoted for libpq (single quotes, \ and ' escaped).
 * 0 or -ENOSPC. */
int rc_cluster_append_password(char *out, size_t cap, const char *pw);

/* conninfo + " password='...'" (quoted for libpq) into out (out may be conninfo); password
 * may be "" or NULL. 0 or -ENOSPC. */
int rc_cluster_conninfo_password(const char *conninfo, const char *password, char *out,
				 size_t cap);

#endif /* RC_CLUSTER_NODE_H */
