/* SPDX-License-Identifier: MIT */
/*
 * `verify ha` from what the nodes report (cluster.h, rc_cluster_verify_live): each check
 * reads the nodes' own reports (their running TC service, HA state and peer, the database
 * they really use), the state only says which nodes form which group and how to fix a
 * failure.
 *
 * Threads: read-only over a const state and const reports.
 */
#include "cluster_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A check with its fix ("" when it passes). false: out of memory. */
static bool
live_check(json_t *a, bool *all, bool ok, const char *check, const char *fix,
	   const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static bool
live_check(json_t *a, bool *all, bool ok, const char *check, const char *fix, const char *fmt,
	   ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	*all = *all && ok;
	return json_array_append_new(a, json_pack("{s:s, s:b, s:s, s:s}", "check", check, "ok",
						  ok, "detail", detail, "fix",
						  ok ? "" : fix)) == 0;
}

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* A node's report, or NULL with why in why (it did not answer, or sent none). */
static const json_t *
report_of(const json_t *reports, const char *node, char *why, size_t cap)
{
	const json_t *r = json_object_get(reports, node);

	if (r == NULL || !json_is_object(r)) {
		snprintf(why, cap, "node %s sent no report", node);
		return NULL;
	}
	if (json_object_get(r, "error") != NULL) {
		snprintf(why, cap, "node %s does not answer: %s", node, str(r, "error"));
		return NULL;
	}
	return r;
}

/* A database no group uses (for a fix line), or NULL. */
static const char *
spare_db(const struct rc_cluster *c)
{
	for (unsigned d = 0; d < c->n_dbs; d++)
		if (cl_group_serving(c, c->dbs[d].name, NULL) == NULL)
			return c->dbs[d].name;
	return NULL;
}

/* Both nodes of g report high availability on and hear each other. */
static bool
check_pair(json_t *a, bool *all, const struct rc_cl_group *g, const json_t *reports)
{
	char what[128], why[384] = "", fix[256];
	const json_t *r, *ha;

	snprintf(what, sizeof(what), "high availability on group %s", g->name);
	snprintf(fix, sizeof(fix), "roomcastctl group set %s ha on", g->name);
	if (g->n_nodes < 2) {
		snprintf(fix, sizeof(fix), "add a second node to group %s in the cluster file "
			 "(node.cluster_file), then: roomcastctl group set %s ha on", g->name,
			 g->name);
		return live_check(a, all, false, what, fix, "off: the group has one node");
	}
	for (unsigned k = 0; k < g->n_nodes && why[0] == '\0'; k++) {
		const char *id = g->nodes[k].id;

		if ((r = report_of(reports, id, why, sizeof(why))) == NULL) {
			snprintf(fix, sizeof(fix), "start roomcastd on node %s (or check its "
				 "node.mgmt_address)", id);
		} else if (!json_is_object(ha = json_object_get(r, "ha"))) {
			snprintf(why, sizeof(why), "node %s runs without its pair (no ha { } "
				 "section in its configuration)", id);
			snprintf(fix, sizeof(fix), "give node %s an ha { } section (enabled, peer, "
				 "addresses) and restart it", id);
		} else if (!json_is_true(json_object_get(ha, "enabled"))) {
			snprintf(why, sizeof(why), "node %s reports high availability off (%s (%s))",
				 id, str(ha, "state"), str(ha, "reason"));
		} else if (!json_is_true(json_object_get(ha, "peer_heard"))) {
			snprintf(why, sizeof(why), "node %s does not hear its peer %s", id,
				 str(ha, "peer"));
			snprintf(fix, sizeof(fix), "start node %s, or repair the HA link between "
				 "%s and %s", str(ha, "peer"), g->nodes[0].id, g->nodes[1].id);
		}
	}
	if (why[0] != '\0')
		return live_check(a, all, false, what, fix, "%s", why);
	return live_check(a, all, true, what, "", "on: nodes %s and %s report it and hear "
			  "each other", g->nodes[0].id, g->nodes[1].id);
}

/* Both nodes of g really use one database. */
static bool
check_db(json_t *a, bool *all, const struct rc_cluster *c, const struct rc_cl_group *g,
	 const json_t *reports)
{
	const char *spare = spare_db(c), *use[RC_CL_GROUP_NODES] = { "", "" };
	char what[128], why[384] = "", fix[512];

	snprintf(what, sizeof(what), "database of group %s", g->name);
	snprintf(fix, sizeof(fix), "%sroomcastctl db assign %s --group %s",
		 spare ? "" : "roomcastctl db add NAME --type postgresql --host H --port P "
			      "--dbname D --user U --password-file F, then ",
		 spare ? spare : "NAME", g->name);
	for (unsigned k = 0; k < g->n_nodes && why[0] == '\0'; k++) {
		const json_t *r = report_of(reports, g->nodes[k].id, why, sizeof(why));

		use[k] = r != NULL ? str(r, "database") : "";
		if (r == NULL)
			snprintf(fix, sizeof(fix), "start roomcastd on node %s", g->nodes[k].id);
		else if (use[k][0] == '\0')
			snprintf(why, sizeof(why), "node %s uses no database", g->nodes[k].id);
	}
	for (unsigned k = 0; k < g->n_nodes && why[0] == '\0'; k++) {
		const json_t *ha = json_object_get(json_object_get(reports, g->nodes[k].id), "ha");
		const char *lease = str(ha, "lease_database");

		if (!json_is_object(ha) || lease[0] == '\0' || strcmp(lease, use[k]) == 0)
			continue;
		snprintf(why, sizeof(why), "node %s drains to %s but its leases live in %s (the "
			 "database it started with)", g->nodes[k].id, use[k], lease);
		snprintf(fix, sizeof(fix), "restart node %s (its leases follow the database it "
			 "starts with), then node %s", g->nodes[k].id, g->nodes[1 - k].id);
	}
	if (why[0] == '\0' && g->n_nodes == 2 && strcmp(use[0], use[1]) != 0) {
		snprintf(why, sizeof(why), "nodes %s and %s use different databases (%s; %s)",
			 g->nodes[0].id, g->nodes[1].id, use[0], use[1]);
		if (rc_cluster_group_db(g) == NULL)
			snprintf(fix, sizeof(fix), "roomcastctl db merge add --source %s --source "
				 "%s --target %s, then roomcastctl db assign %s --group %s",
				 g->nodes[0].db, g->nodes[1].db, spare ? spare : "NEW",
				 spare ? spare : "NEW", g->name);
	}
	if (why[0] != '\0')
		return live_check(a, all, false, what, fix, "%s", why);
	return live_check(a, all, true, what, "", "%s, used by %s%s%s", use[0], g->nodes[0].id,
			  g->n_nodes > 1 ? " and " : "", g->n_nodes > 1 ? g->nodes[1].id : "");
}

/* The fix of a node whose HA state is not Normal. */
static void
state_fix(const struct rc_cl_group *g, const char *node, const char *state, char *fix,
	  size_t cap)
{
	if (strcmp(state, "Failed Over") == 0 || strcmp(state, "Idle") == 0)
		snprintf(fix, cap, "roomcastctl ha fallback %s", g->name);
	else if (strcmp(state, "Failed Over with Critical Services Not Running") == 0)
		snprintf(fix, cap, "restore its critical services (roomcastctl service start tc "
			 "--node %s), then roomcastctl ha fallback %s", node, g->name);
	else if (strcmp(state, "Running in Failed Mode") == 0)
		snprintf(fix, cap, "roomcastctl ha recover %s", node);
	else if (strcmp(state, "Unknown") == 0)
		snprintf(fix, cap, "roomcastctl group set %s ha on", g->name);
	else if (strcmp(state, "Running in Backup Mode") == 0)
		snprintf(fix, cap, "its peer is failed over: bring it back, then roomcastctl ha "
			 "fallback %s", g->name);
	else
		snprintf(fix, cap, "wait: a transition is under way (roomcastctl ha status)");
}

/* One node: its TC service running, and (in a pair) its HA state Normal. */
static bool
check_node(json_t *a, bool *all, const struct rc_cl_group *g, const char *id,
	   const json_t *reports)
{
	char what[128], why[384] = "", fix[256];
	const json_t *r = report_of(reports, id, why, sizeof(why)), *ha;
	bool ok;

	ha = r != NULL ? json_object_get(r, "ha") : NULL;
	snprintf(what, sizeof(what), "TC service on node %s", id);
	snprintf(fix, sizeof(fix), "roomcastctl service start tc --node %s", id);
	if (r == NULL) {
		snprintf(fix, sizeof(fix), "start roomcastd on node %s", id);
	} else if (strcmp(str(r, "tc"), "started") != 0) {
		snprintf(why, sizeof(why), "stopped by the administrator");
	} else if (json_is_object(ha) && !json_is_true(json_object_get(ha, "critical_services"))) {
		snprintf(why, sizeof(why), "started, but down: a critical service failed "
			 "(workers or WAL writer: see its log)");
		snprintf(fix, sizeof(fix), "restore the failed service on node %s (its log says "
			 "which)", id);
	}
	ok = live_check(a, all, why[0] == '\0', what, fix, "%s", why[0] ? why : "running");
	if (!ok || g->n_nodes < 2 || r == NULL || !json_is_object(ha))
		return ok;
	snprintf(what, sizeof(what), "HA state of node %s", id);
	state_fix(g, id, str(ha, "state"), fix, sizeof(fix));
	return live_check(a, all, strcmp(str(ha, "state"), "Normal") == 0, what, fix, "%s (%s)",
			  str(ha, "state"), str(ha, "reason"));
}

/* Persistent chat: the setting, and no node reporting it off. */
static bool
check_chat(json_t *a, bool *all, const struct rc_cluster *c, const json_t *reports)
{
	const char *node;
	const json_t *r;

	json_object_foreach((json_t *)reports, node, r)
		if (strcmp(str(r, "rooms"), "chat disabled") == 0)
			return live_check(a, all, false, "persistent chat enabled",
					  "roomcastctl chat set enabled true",
					  "node %s reports persistent chat disabled", node);
	return live_check(a, all, c->chat.enabled, "persistent chat enabled",
			  "roomcastctl chat set enabled true", "%s",
			  c->chat.enabled ? "enabled" : "disabled");
}

json_t *
rc_cluster_verify_live(const struct rc_cluster *c, const json_t *reports)
{
	json_t *a = json_array();
	bool all = true, ok = a != NULL && check_chat(a, &all, c, reports);

	for (unsigned i = 0; ok && i < c->n_clusters; i++)
		for (unsigned j = 0; ok && j < c->clusters[i].n_groups; j++) {
			const struct rc_cl_group *g = &c->clusters[i].groups[j];

			ok = check_pair(a, &all, g, reports) && check_db(a, &all, c, g, reports);
			for (unsigned k = 0; ok && k < g->n_nodes; k++)
				ok = check_node(a, &all, g, g->nodes[k].id, reports);
		}
	if (!ok) {
		json_decref(a);
		errno = ENOMEM;
		return NULL;
	}
	return json_pack("{s:b, s:o}", "ok", all, "checks", a);
}
