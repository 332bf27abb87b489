/* SPDX-License-Identifier: MIT */
/*
 * What the operator is shown of the cluster state: one JSON document per view (topology,
 * a group, chat settings, databases, merge jobs, the high-availability prerequisites).
 * roomcastctl prints them as text, or as they are with -j. No view ever holds a password:
 * a database shows "password": "from FILE" (or "none").
 *
 * Threads: read-only over a const state (see cluster.h).
 */
#include "cluster_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static json_t *
nomem(json_t *j)
{
	if (j == NULL)
		errno = ENOMEM;
	return j;
}

static json_t *
null_or_string(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

/* Append v (a new reference, NULL = ENOMEM) to a; false when out of memory. */
static bool
append(json_t *a, json_t *v)
{
	return v != NULL && json_array_append_new(a, v) == 0;
}

static json_t *
node_json(const struct rc_cluster *c, const struct rc_cl_cluster *cl,
	  const struct rc_cl_group *g, const struct rc_cl_node *n)
{
	const struct rc_cl_node *peer = rc_cluster_peer_of(c, n->id);
	char vip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &n->vip, vip, sizeof(vip));
	return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:s}", "id",
			 n->id, "cluster", cl->name, "group", g->name, "ha", g->ha, "assignment",
			 rc_cl_assign_name(g->assign), "mgmt", n->mgmt, "vip", vip, "port",
			 n->port, "udp_port", (int)n->udp_port, "peer",
			 null_or_string(peer ? peer->id : NULL), "database",
			 null_or_string(n->db), "tc", rc_cl_svc_name(n->tc));
}

json_t *
rc_cluster_describe_topology(const struct rc_cluster *c)
{
	json_t *nodes = json_array();
	bool ok = nodes != NULL;

	for (unsigned i = 0; ok && i < c->n_clusters; i++)
		for (unsigned j = 0; ok && j < c->clusters[i].n_groups; j++) {
			const struct rc_cl_group *g = &c->clusters[i].groups[j];

			for (unsigned k = 0; ok && k < g->n_nodes; k++)
				ok = append(nodes, node_json(c, &c->clusters[i], g, &g->nodes[k]));
		}
	if (!ok) {
		json_decref(nodes);
		return nomem(NULL);
	}
	return nomem(json_pack("{s:I, s:s, s:I, s:o}", "version", (json_int_t)c->version,
			       "origin", c->origin, "updated_ms", (json_int_t)c->updated_ms,
			       "nodes", nodes));
}

/* The ids of the merge jobs of group (g != NULL) or that use database db. */
static json_t *
merge_ids(const struct rc_cluster *c, const char *group, const char *db)
{
	json_t *a = json_array();

	for (unsigned i = 0; a != NULL && i < c->n_merges; i++) {
		const struct rc_cl_merge *m = &c->merges[i];
		bool hit = group ? strcmp(m->group, group) == 0
				 : strcmp(m->sources[0], db) == 0 ||
					   strcmp(m->sources[1], db) == 0 ||
					   strcmp(m->target, db) == 0;

		if (hit && !append(a, json_integer(m->id))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
rc_cluster_describe_group(const struct rc_cluster *c, const char *group)
{
	const struct rc_cl_cluster *cl = NULL;
	const struct rc_cl_group *g = rc_cluster_find_group(c, group, &cl);
	json_t *nodes;
	bool ok;

	if (g == NULL) {
		errno = ENOENT;
		return NULL;
	}
	nodes = json_array();
	ok = nodes != NULL;
	for (unsigned k = 0; ok && k < g->n_nodes; k++)
		ok = append(nodes, node_json(c, cl, g, &g->nodes[k]));
	if (!ok) {
		json_decref(nodes);
		return nomem(NULL);
	}
	return nomem(json_pack("{s:s, s:s, s:b, s:s, s:o, s:o, s:o*}", "name", g->name,
			       "cluster", cl->name, "ha", g->ha, "assignment",
			       rc_cl_assign_name(g->assign), "database",
			       null_or_string(rc_cluster_group_db(g)), "nodes", nodes,
			       "merge_jobs", merge_ids(c, g->name, NULL)));
}

json_t *
rc_cluster_describe_chat(const struct rc_cluster *c)
{
	return nomem(cl_emit_object(&c->chat, &cl_chat_obj));
}

static json_t *
db_json(const struct rc_cluster *c, const struct rc_cl_db *d)
{
	const struct rc_cl_group *g = cl_group_serving(c, d->name, NULL);
	char password[300];
	json_t *nodes = json_array();

	for (unsigned k = 0; nodes != NULL && g != NULL && k < g->n_nodes; k++)
		if (strcmp(g->nodes[k].db, d->name) == 0 &&
		    !append(nodes, json_string(g->nodes[k].id))) {
			json_decref(nodes);
			return NULL;
		}
	if (d->password_file[0] != '\0')
		snprintf(password, sizeof(password), "from %s", d->password_file);
	else
		snprintf(password, sizeof(password), "none");
	return json_pack("{s:s, s:s, s:s, s:i, s:o*, s:s, s:s, s:s, s:o, s:o*, s:o*}", "name",
			 d->name, "type", d->type, "host", d->host, "port", (int)d->port,
			 "ports", d->ports[0] != '\0' ? json_string(d->ports) : NULL,
			 "dbname", d->dbname, "user", d->user, "password", password, "group",
			 null_or_string(g ? g->name : NULL), "nodes", nodes, "merge_jobs",
			 merge_ids(c, NULL, d->name));
}

json_t *
rc_cluster_describe_dbs(const struct rc_cluster *c)
{
	json_t *a = json_array();
	bool ok = a != NULL;

	for (unsigned i = 0; ok && i < c->n_dbs; i++)
		ok = append(a, db_json(c, &c->dbs[i]));
	if (!ok) {
		json_decref(a);
		return nomem(NULL);
	}
	return nomem(json_pack("{s:o}", "databases", a));
}

json_t *
rc_cluster_describe_merges(const struct rc_cluster *c)
{
	json_t *a = json_array();
	bool ok = a != NULL;

	for (unsigned i = 0; ok && i < c->n_merges; i++) {
		const struct rc_cl_merge *m = &c->merges[i];

		ok = append(a, json_pack("{s:I, s:s, s:[ss], s:s, s:s, s:I}", "id",
					 (json_int_t)m->id, "group", m->group, "sources",
					 m->sources[0], m->sources[1], "target", m->target, "state",
					 rc_cl_merge_state_name(m->state), "updated_ms",
					 (json_int_t)m->updated_ms));
	}
	if (!ok) {
		json_decref(a);
		return nomem(NULL);
	}
	return nomem(json_pack("{s:o}", "merge_jobs", a));
}

json_t *
rc_cluster_describe_merge(const struct rc_cluster *c, uint32_t id)
{
	const struct rc_cl_merge *m = rc_cluster_find_merge(c, id);

	if (m == NULL) {
		errno = ENOENT;
		return NULL;
	}
	return nomem(cl_emit_object(m, &cl_merge_obj));
}

/* ---- the prerequisites ---- */

static bool
add_check(json_t *a, bool *all, bool ok, const char *check, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static bool
add_check(json_t *a, bool *all, bool ok, const char *check, const char *fmt, ...)
{
	char detail[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	*all = *all && ok;
	return append(a, json_pack("{s:s, s:b, s:s}", "check", check, "ok", ok, "detail",
				   detail));
}

static bool
check_group(json_t *a, bool *all, const struct rc_cl_group *g)
{
	const char *db = rc_cluster_group_db(g);
	char what[128];
	bool ok;

	snprintf(what, sizeof(what), "high availability on group %s", g->name);
	ok = add_check(a, all, g->ha, what, "%s", g->ha ? "enabled"
				 : g->n_nodes < 2 ? "off: the group has one node"
						  : "off: enable high availability on the group");
	snprintf(what, sizeof(what), "database of group %s", g->name);
	if (db == NULL)
		return ok && add_check(a, all, false, what, "nodes %s and %s use different "
				       "databases (%s, %s): merge them, then assign the target "
				       "to the group", g->nodes[0].id, g->nodes[1].id,
				       g->nodes[0].db, g->nodes[1].db);
	if (db[0] == '\0')
		return ok && add_check(a, all, false, what, "no database is assigned "
				       "(db assign NAME --group %s)", g->name);
	return ok && add_check(a, all, true, what, "%s, on %s%s%s", db, g->nodes[0].id,
			       g->n_nodes > 1 ? " and " : "", g->n_nodes > 1 ? g->nodes[1].id : "");
}

json_t *
rc_cluster_describe_checks(const struct rc_cluster *c)
{
	json_t *a = json_array();
	bool all = true, ok = a != NULL;
	char what[128];

	if (ok)
		ok = add_check(a, &all, c->chat.enabled, "persistent chat enabled", "%s",
			       c->chat.enabled ? "enabled" : "disabled: enable persistent chat (chat setting enabled)");
	for (unsigned i = 0; ok && i < c->n_clusters; i++)
		for (unsigned j = 0; ok && j < c->clusters[i].n_groups; j++)
			ok = check_group(a, &all, &c->clusters[i].groups[j]);
	for (unsigned i = 0; ok && i < c->n_clusters; i++)
		for (unsigned j = 0; ok && j < c->clusters[i].n_groups; j++) {
			const struct rc_cl_group *g = &c->clusters[i].groups[j];

			for (unsigned k = 0; ok && k < g->n_nodes; k++) {
				bool up = g->nodes[k].tc == RC_CL_SVC_STARTED;

				snprintf(what, sizeof(what), "TC service on node %s",
					 g->nodes[k].id);
				ok = add_check(a, &all, up, what, "%s", up ? "started"
					       : "stopped: start the TC service on this node");
			}
		}
	if (!ok) {
		json_decref(a);
		return nomem(NULL);
	}
	return nomem(json_pack("{s:b, s:o}", "ok", all, "checks", a));
}
