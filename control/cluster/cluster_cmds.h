/* SPDX-License-Identifier: MIT */
/*
 * The operator's cluster commands (control/admin/CLI.md): topology, group, chat, service, db,
 * verify ha, db merge. They read the node's cluster state (cluster_node.h) and change it
 * only through rc_cluster_node_change(), which validates, saves, applies and replicates.
 *
 * Work that may take long never runs on the control thread: a merge runs on its own thread
 * (`db merge run` answers "started"; rc_cluster_cmds_poll() records the outcome), and the
 * node's own database check is refreshed on a helper thread (at start, when the node's
 * database changes, and every RC_CLUSTER_CMDS_CHECK_S) and published on the management
 * endpoint as /v1/dbcheck, where `db check` on the other nodes reads it. `db check` and
 * `db merge validate` do block the control thread, bounded by the connect timeouts (3 s per
 * database, 2 s per peer, peers asked in parallel).
 *
 * Threads: everything here is for the control thread. One node per process (the module
 * keeps its context in a static).
 */
#ifndef RC_CLUSTER_CMDS_H
#define RC_CLUSTER_CMDS_H

#include <jansson.h>
#include <stdbool.h>

#define RC_CLUSTER_CMDS_CHECK_S 300 /* the background database check's period */

struct rc_admin;
struct rc_cluster_node;
struct rc_cluster_settings;
struct rc_mgmt;

/* Register the commands on the admin socket, over the node's cluster state cn (its config
 * cfg; mgmt: its management endpoint, or NULL). All outlive the commands. 0 or -errno. */
int rc_cluster_cmds_register(struct rc_cluster_node *cn, const struct rc_cluster_settings *cfg,
			     struct rc_admin *admin, struct rc_mgmt *mgmt);

/* Control loop, every iteration (never blocks): records a finished merge, publishes a
 * finished background database check, starts the next one when due. */
void rc_cluster_cmds_poll(struct rc_cluster_node *cn);

/* At shutdown (before the cluster state goes): waits for the background
 * database check (a few seconds at most); a merge still running is abandoned (its target
 * transaction is rolled back when the process exits; the job is marked failed at the next
 * start). NULL-safe; a no-op when nothing was registered. */
void rc_cluster_cmds_fini(struct rc_cluster_node *cn);

/* The HA state of a node for `topology`: the HA state machine registers this when it runs.
 * fn returns false when it knows nothing of node; state and reason are static strings
 * ("Normal", "On Admin Request", see MISSION.md). Without it, topology shows "Unknown". */
typedef bool (*rc_cluster_ha_fn)(void *arg, const char *node, const char **state,
				 const char **reason);
void rc_cluster_cmds_set_ha(rc_cluster_ha_fn fn, void *arg);

/* What this node reports of itself for `verify ha` (the document other nodes GET as
 * /v1/ha, cluster.h rc_cluster_verify_live): fn returns a new reference, or NULL. The node
 * registers it; without it, this node reports nothing. */
#define RC_CLUSTER_REPORT_DOC "ha"
typedef json_t *(*rc_cluster_report_fn)(void *arg);
void rc_cluster_cmds_set_report(rc_cluster_report_fn fn, void *arg);

#endif /* RC_CLUSTER_CMDS_H */
