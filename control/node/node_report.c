/* SPDX-License-Identifier: MIT */
/*
 * What this node reports of itself for `verify ha` (node.h rc_node_report; the document's
 * form is cluster.h's rc_cluster_verify_live): what runs here now, not what the cluster
 * state stores. Published on the management endpoint as /v1/ha, where `verify ha` on the
 * other nodes reads it.
 *
 * Threads: the control thread.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "cluster_cmds.h"
#include "cluster_node.h"
#include "ha_node.h"
#include "log.h"
#include "merge.h"
#include "mgmt.h"
#include "node.h"

static const char *
rooms_word(uint8_t blocked)
{
	return blocked == RC_ROOMS_SERVED ? "served" :
	       blocked == RC_ROOMS_TC_STOPPED ? "tc stopped" : "chat disabled";
}

json_t *
rc_node_report(void *arg)
{
	struct rc_node *n = arg;
	const struct rc_cl_node *self = n->cn ? rc_cluster_node_self(n->cn, NULL) : NULL;
	bool stopped = self != NULL && self->tc == RC_CL_SVC_STOPPED;
	char db[600] = "";
	json_t *ha = n->ha != NULL ? rc_ha_node_report(n->ha) : json_null();

	if (n->scopes.db_conninfo[0] != '\0')
		rc_merge_redact(n->scopes.db_conninfo, db, sizeof(db));
	return json_pack("{s:s, s:I, s:s, s:s, s:s, s:o}", "node", n->cfg.node_id,
			 "reported_ms", (json_int_t)rc_wall_ms(), "tc",
			 stopped ? "stopped" : "started", "rooms",
			 rooms_word(__atomic_load_n(&n->dp.rooms_blocked, __ATOMIC_ACQUIRE)),
			 "database", db, "ha", ha ? ha : json_null());
}

void
rc_node_publish_report(struct rc_node *n)
{
	json_t *doc;
	char *s;
	int rc;

	if (n->mgmt == NULL)
		return;
	doc = rc_node_report(n);
	s = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (s == NULL)
		return;
	rc = rc_mgmt_publish(n->mgmt, RC_CLUSTER_REPORT_DOC, s, strlen(s));
	if (rc != 0)
		RC_DEBUG("cannot publish the node's report: %d", rc);
	free(s);
}
