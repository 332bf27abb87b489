/* SPDX-License-Identifier: MIT */
/*
 * `verify ha` (cluster_cmds_impl.h): the high-availability prerequisites as the nodes
 * report them, live, not as the cluster state stores them:
 *
 *   this node     its own report, made now (rc_cluster_cmds_set_report: the node's running
 *                 TC service, HA state and peer, the database it really uses)
 *   other nodes   the same report, which each node publishes on its management endpoint
 *                 (GET /v1/ha, refreshed every second; 2 s at most, all nodes in parallel)
 *
 * and rc_cluster_verify_live (cluster_live.c) turns them into checks with their fixes.
 * The same reports decide whether `group set GROUP ha off` may go ahead.
 *
 * Threads: the control thread; the GETs run on helper threads, joined before the answer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_cmds.h"
#include "cluster_cmds_impl.h"

#define REPORT_PATH "/v1/" RC_CLUSTER_REPORT_DOC

static rc_cluster_report_fn report_fn;
static void *report_arg;

void
rc_cluster_cmds_set_report(rc_cluster_report_fn fn, void *arg)
{
	report_fn = fn;
	report_arg = arg;
}

/* A node's answer as a report, or {error}. */
static json_t *
peer_report(struct cc_peer *p)
{
	char why[300];
	json_t *doc = NULL;

	cc_peer_join(p);
	if (p->rc != 0)
		snprintf(why, sizeof(why), "unreachable at %s (%s)", p->mgmt, strerror(-p->rc));
	else if (p->reply.status != 200)
		snprintf(why, sizeof(why), "answered HTTP %ld at %s", p->reply.status, p->mgmt);
	else if ((doc = json_loads(p->reply.body ? p->reply.body : "", 0, NULL)) == NULL ||
		 !json_is_object(doc))
		snprintf(why, sizeof(why), "sent a malformed report");
	rc_mgmt_reply_free(&p->reply);
	if (doc != NULL && json_is_object(doc))
		return doc;
	json_decref(doc);
	return json_pack("{s:s}", "error", why);
}

/* Every node's report: {node id: report or {error}}. NULL when out of memory. */
static json_t *
gather(struct cc_ctx *x, const struct rc_cluster *c)
{
	const struct rc_mgmt_cred cred = { x->cfg->keys->k[0].key, x->cfg->keys->k[0].len,
					   x->cfg->node_id, x->cfg->keys };
	json_t *all = json_object(), *self = report_fn ? report_fn(report_arg) : NULL;
	struct cc_peer *peers;
	unsigned n = 0;

	peers = all != NULL ? cc_peers_start(x, c, &cred, REPORT_PATH, &n) : NULL;
	if (peers == NULL) {
		json_decref(all);
		json_decref(self);
		return NULL;
	}
	json_object_set_new(all, cc_self_id(x),
			    self ? self : json_pack("{s:s}", "error", "reports nothing"));
	for (unsigned i = 0; i < n; i++)
		json_object_set_new(all, peers[i].node, peer_report(&peers[i]));
	free(peers);
	return all;
}

static RC_ADMIN_HANDLER(cmd_verify_ha)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *reports = gather(x, c), *v, *ck;
	unsigned failed = 0;
	size_t i;

	v = reports != NULL ? rc_cluster_verify_live(c, reports) : NULL;
	if (v == NULL) {
		json_decref(reports);
		return -ENOMEM;
	}
	json_array_foreach(json_object_get(v, "checks"), i, ck) {
		bool ok = json_is_true(json_object_get(ck, "ok"));
		const char *fix = json_string_value(json_object_get(ck, "fix"));

		failed += !ok;
		rc_text_printf(t, "%s  %s: %s\n", ok ? "PASS" : "FAIL",
			       json_string_value(json_object_get(ck, "check")),
			       json_string_value(json_object_get(ck, "detail")));
		if (!ok && fix != NULL && fix[0] != '\0')
			rc_text_printf(t, "      fix: %s\n", fix);
	}
	if (failed == 0)
		rc_text_printf(t, "high availability, as the nodes report it: all %zu checks "
			       "pass\n", json_array_size(json_object_get(v, "checks")));
	else
		rc_text_printf(t, "high availability, as the nodes report it: %u of %zu checks "
			       "FAIL\n", failed, json_array_size(json_object_get(v, "checks")));
	json_object_set_new(v, "failed", json_integer(failed));
	json_object_set_new(v, "reports", reports);
	json_object_update(res, v);
	json_decref(v);
	return 0; /* "ok": false in the result: roomcastctl exits 1 */
}

/* "n1 Failed Over (Peer Down), n2 Running in Backup Mode (Peer Down)": the nodes of g whose
 * report is not Normal (or Unknown: HA off already) into out; false when none. */
static bool
not_normal(const struct rc_cl_group *g, const json_t *reports, char *out, size_t cap)
{
	size_t len = 0;

	out[0] = '\0';
	for (unsigned k = 0; k < g->n_nodes; k++) {
		const json_t *ha = json_object_get(json_object_get(reports, g->nodes[k].id), "ha");
		const char *st = json_string_value(json_object_get(ha, "state"));

		if (st == NULL || strcmp(st, "Normal") == 0 || strcmp(st, "Unknown") == 0)
			continue;
		len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%snode %s is %s (%s)",
					len ? ", " : "", g->nodes[k].id, st,
					json_string_value(json_object_get(ha, "reason")));
	}
	return out[0] != '\0';
}

int
cc_ha_off_allowed(struct cc_ctx *x, const char *group, char *err, size_t errlen)
{
	const struct rc_cluster *c = cc_state(x, err, errlen);
	const struct rc_cl_group *g = c ? rc_cluster_find_group(c, group, NULL) : NULL;
	char states[400];
	json_t *reports;
	int rc = 0;

	if (g == NULL || !g->ha || g->n_nodes < 2)
		return 0; /* the change itself says what is wrong, or changes nothing */
	reports = gather(x, c);
	if (reports == NULL)
		return -ENOMEM;
	for (unsigned k = 0; k < g->n_nodes && rc == 0; k++) {
		const json_t *r = json_object_get(reports, g->nodes[k].id);

		if (json_object_get(r, "error") == NULL)
			continue;
		snprintf(err, errlen, "cannot turn high availability off on group %s: node %s does "
			 "not answer (%s), so whether its rooms are failed over is unknown; retry "
			 "when it answers", group, g->nodes[k].id,
			 json_string_value(json_object_get(r, "error")));
		rc = -EBUSY;
	}
	if (rc == 0 && not_normal(g, reports, states, sizeof(states))) {
		snprintf(err, errlen, "cannot turn high availability off on group %s: %s; turned "
			 "off now, the rooms served for the other node or being handed over would "
			 "have nobody to serve them. Fall back first (roomcastctl ha fallback %s) "
			 "or wait until both nodes are Normal", group, states, group);
		rc = -EBUSY;
	}
	json_decref(reports);
	return rc;
}

static const struct rc_admin_cmd cmds[] = {
	{ "verify ha", "", "the high availability prerequisites as every node reports them now "
			   "(TC running, HA state, database in use), each failing one with its "
			   "fix (exit 1 when one fails)", cmd_verify_ha, 0, 0,
	  RC_ADMIN_NEEDS_STATE },
};

int
cc_register_verify(struct cc_ctx *x)
{
	return cc_register(x, cmds, sizeof(cmds) / sizeof(cmds[0]));
}
