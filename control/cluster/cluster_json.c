/* SPDX-License-Identifier: MIT */
/*
 * The JSON form of the cluster state: the field tables (one per object), the three walkers
 * over them (parse, emit, check), and rc_cluster_to_json / rc_cluster_from_json. The kinds
 * of field are in cluster_kinds.c, the saved file in cluster_file.c.
 *
 * The same tables read the seed file (cluster_seed.c turns libconfig into JSON first) with
 * a smaller root (clusters, chat, databases), so the saved state, the replicated state and
 * the seed share one syntax and one set of messages. Parsing is strict: an unknown key is an
 * error with the nearest known key as a hint; a required key that is missing is an error.
 *
 * Threads: no shared state.
 */
#include "cluster_impl.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* ---- errors ---- */

int
cl_fail(struct cl_err *e, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -EINVAL;
	snprintf(e->key, sizeof(e->key), "%s", key ? key : "");
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
cl_err_out(const struct cl_err *e, int rc, char *err, size_t errlen)
{
	if (err == NULL || errlen == 0)
		return rc;
	if (e->key[0] != '\0')
		snprintf(err, errlen, "%s: %s", e->key, e->msg);
	else
		snprintf(err, errlen, "%s", e->msg);
	return rc;
}

static void
join_key(char *out, size_t cap, const char *parent, const char *name)
{
	if (parent == NULL || parent[0] == '\0')
		snprintf(out, cap, "%s", name);
	else
		snprintf(out, cap, "%s.%s", parent, name);
}

const struct cl_field *
cl_find_field(const struct cl_object *o, const char *name)
{
	for (size_t i = 0; i < o->n_fields; i++)
		if (strcmp(o->fields[i].name, name) == 0)
			return &o->fields[i];
	return NULL;
}

static int
fail_unknown(const struct cl_object *o, const char *name, const char *key, struct cl_err *e)
{
	const char *best = NULL;

	if (o->n_fields > 0)
		best = rc_nearest(name, &o->fields[0].name, o->n_fields, sizeof(o->fields[0]), 0);
	if (best != NULL)
		return cl_fail(e, key, "unknown key (did you mean \"%s\"?)", best);
	return cl_fail(e, key, "unknown key");
}

/* ---- the walkers ---- */

int
cl_parse_object(const json_t *obj, const struct cl_object *o, void *base, const char *key,
		struct cl_err *e)
{
	const char *name;
	const json_t *v;
	char k[160];

	if (!json_is_object(obj))
		return cl_fail_type(obj, "an object", key, e);
	json_object_foreach((json_t *)obj, name, v) {
		if (cl_find_field(o, name) == NULL) {
			join_key(k, sizeof(k), key, name);
			return fail_unknown(o, name, k, e);
		}
	}
	for (size_t i = 0; i < o->n_fields; i++) {
		const struct cl_field *f = &o->fields[i];
		int rc;

		join_key(k, sizeof(k), key, f->name);
		v = json_object_get(obj, f->name);
		if (v == NULL) {
			if (f->required)
				return cl_fail(e, k, "required key is missing");
			continue;
		}
		rc = f->kind->parse(v, (char *)base + f->off, f, k, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

json_t *
cl_emit_object(const void *base, const struct cl_object *o)
{
	json_t *obj = json_object();

	for (size_t i = 0; obj != NULL && i < o->n_fields; i++) {
		const struct cl_field *f = &o->fields[i];
		json_t *v;

		if (f->kind->emit == NULL ||
		    (f->kind->omit != NULL && f->kind->omit((const char *)base + f->off)))
			continue;
		v = f->kind->emit((const char *)base + f->off, f);
		if (v == NULL || json_object_set_new(obj, f->name, v) < 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

int
cl_check_object(const void *base, const struct cl_object *o, const char *key,
		struct cl_err *e)
{
	char k[160];

	for (size_t i = 0; i < o->n_fields; i++) {
		const struct cl_field *f = &o->fields[i];
		int rc;

		if (f->kind->check == NULL)
			continue;
		join_key(k, sizeof(k), key, f->name);
		rc = f->kind->check((const char *)base + f->off, f, k, e);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the tables ---- */

#define FLD(type, f) offsetof(type, f), sizeof(((type *)0)->f)
#define NODE(f) FLD(struct rc_cl_node, f)
#define GROUP(f) FLD(struct rc_cl_group, f)
#define CLUS(f) FLD(struct rc_cl_cluster, f)
#define CHAT(f) FLD(struct rc_cl_chat, f)
#define DB(f) FLD(struct rc_cl_db, f)
#define MERGE(f) FLD(struct rc_cl_merge, f)
#define CNT(f) FLD(struct rc_cl_counts, f)
#define ROOT(f) FLD(struct rc_cluster, f)
#define N_FIELDS(t) (sizeof(t) / sizeof((t)[0]))
#define U64MAX LLONG_MAX

static void
node_init(void *elem)
{
	struct rc_cl_node *n = elem;

	memset(n, 0, sizeof(*n));
	strcpy(n->port, "chat0");
	n->udp_port = 6420;
	n->tc = RC_CL_SVC_STARTED;
}

static void
group_init(void *elem)
{
	struct rc_cl_group *g = elem;

	memset(g, 0, sizeof(*g));
	g->assign = RC_CL_ASSIGN_BALANCED;
}

static void
zero_cluster(void *elem)
{
	memset(elem, 0, sizeof(struct rc_cl_cluster));
}

static void
db_init(void *elem)
{
	struct rc_cl_db *d = elem;

	memset(d, 0, sizeof(*d));
	strcpy(d->type, "postgresql");
	d->port = 5432;
}

static void
zero_merge(void *elem)
{
	memset(elem, 0, sizeof(struct rc_cl_merge));
}

static const struct cl_field node_fields[] = {
	{ "id", &cl_kind_name, NODE(id), 1, 0, true, NULL },
	{ "mgmt", &cl_kind_mgmt, NODE(mgmt), 0, 0, true, NULL },
	{ "vip", &cl_kind_ipv4, NODE(vip), 0, 0, true, NULL },
	{ "port", &cl_kind_name, NODE(port), 1, 0, false, NULL },
	{ "udp_port", &cl_kind_uint, NODE(udp_port), 1, 65535, false, NULL },
	{ "database", &cl_kind_name, NODE(db), 0, 0, false, NULL },
	{ "tc", &cl_kind_svc, NODE(tc), 0, 0, false, NULL },
};
static const struct cl_object node_obj = {
	node_fields, N_FIELDS(node_fields), sizeof(struct rc_cl_node), node_init,
	offsetof(struct rc_cl_group, n_nodes), 1, RC_CL_GROUP_NODES, "node",
	" per group (a presence redundancy group is a pair)",
};

static const struct cl_field group_fields[] = {
	{ "name", &cl_kind_name, GROUP(name), 1, 0, true, NULL },
	{ "ha", &cl_kind_bool, GROUP(ha), 0, 0, false, NULL },
	{ "assignment", &cl_kind_assign, GROUP(assign), 0, 0, false, NULL },
	{ "nodes", &cl_kind_objects, GROUP(nodes), 0, 0, true, &node_obj },
	{ "database", &cl_kind_group_db, 0, sizeof(struct rc_cl_group), 0, 0, false, NULL },
};
static const struct cl_object group_obj = {
	group_fields, N_FIELDS(group_fields), sizeof(struct rc_cl_group), group_init,
	offsetof(struct rc_cl_cluster, n_groups), 1, RC_CL_MAX_GROUPS, "group",
	" per cluster",
};

static const struct cl_field cluster_fields[] = {
	{ "name", &cl_kind_name, CLUS(name), 1, 0, true, NULL },
	{ "groups", &cl_kind_objects, CLUS(groups), 0, 0, true, &group_obj },
};
static const struct cl_object cluster_obj = {
	cluster_fields, N_FIELDS(cluster_fields), sizeof(struct rc_cl_cluster), zero_cluster,
	offsetof(struct rc_cluster, n_clusters), 0, RC_CL_MAX_CLUSTERS, "cluster", NULL,
};

static const struct cl_field chat_fields[] = {
	{ "enabled", &cl_kind_bool, CHAT(enabled), 0, 0, false, NULL },
	{ "max_rooms", &cl_kind_uint, CHAT(max_rooms), 1, 16777216, false, NULL },
	{ "default_max_occupants", &cl_kind_uint, CHAT(default_max_occupants), 1, 65535, false,
	  NULL },
	{ "messages_on_join", &cl_kind_uint, CHAT(messages_on_join), 0, 1000, false, NULL },
	{ "max_archive_query", &cl_kind_uint, CHAT(max_archive_query), 1, 1000, false, NULL },
	{ "admins_only_create", &cl_kind_bool, CHAT(admins_only_create), 0, 0, false, NULL },
	{ "admin_users", &cl_kind_users, 0, sizeof(struct rc_cl_chat), 0, 0, false, NULL },
	{ "members_only_default", &cl_kind_bool, CHAT(members_only_default), 0, 0, false, NULL },
};
const struct cl_object cl_chat_obj = {
	chat_fields, N_FIELDS(chat_fields), sizeof(struct rc_cl_chat), NULL, 0, 0, 0, "chat",
	NULL,
};

static const struct cl_field db_fields[] = {
	{ "name", &cl_kind_name, DB(name), 1, 0, true, NULL },
	{ "type", &cl_kind_dbtype, DB(type), 0, 0, false, NULL },
	{ "host", &cl_kind_host, DB(host), 0, 0, true, NULL },
	{ "port", &cl_kind_uint, DB(port), 1, 65535, false, NULL },
	{ "ports", &cl_kind_ports, DB(ports), 0, 0, false, NULL },
	{ "dbname", &cl_kind_ident, DB(dbname), 0, 0, true, NULL },
	{ "user", &cl_kind_ident, DB(user), 0, 0, true, NULL },
	{ "password_file", &cl_kind_path, DB(password_file), 0, 0, false, NULL },
	{ "sslmode", &cl_kind_sslmode, DB(sslmode), 0, 0, false, NULL },
	{ "sslrootcert", &cl_kind_cafile, DB(sslrootcert), 0, 0, false, NULL },
};
static const struct cl_object db_obj = {
	db_fields, N_FIELDS(db_fields), sizeof(struct rc_cl_db), db_init,
	offsetof(struct rc_cluster, n_dbs), 0, RC_CL_MAX_DBS, "database", NULL,
};

static const struct cl_field counts_fields[] = {
	{ "source_a", &cl_kind_uint, CNT(source_a), 0, U64MAX, false, NULL },
	{ "source_b", &cl_kind_uint, CNT(source_b), 0, U64MAX, false, NULL },
	{ "target", &cl_kind_uint, CNT(target), 0, U64MAX, false, NULL },
};
static const struct cl_object counts_obj = {
	counts_fields, N_FIELDS(counts_fields), sizeof(struct rc_cl_counts), NULL, 0, 0, 0,
	"counts", NULL,
};

static const struct cl_field tables_fields[] = {
	{ "rooms", &cl_kind_sub, MERGE(tables[RC_CL_TABLE_ROOMS]), 0, 0, false, &counts_obj },
	{ "members", &cl_kind_sub, MERGE(tables[RC_CL_TABLE_MEMBERS]), 0, 0, false, &counts_obj },
	{ "messages", &cl_kind_sub, MERGE(tables[RC_CL_TABLE_MESSAGES]), 0, 0, false,
	  &counts_obj },
	{ "drain_alarms", &cl_kind_sub, MERGE(tables[RC_CL_TABLE_DRAIN_ALARMS]), 0, 0, false,
	  &counts_obj },
	{ "drain_state", &cl_kind_sub, MERGE(tables[RC_CL_TABLE_DRAIN_STATE]), 0, 0, false,
	  &counts_obj },
};
/* base of this object is the job itself (offsets above are from struct rc_cl_merge) */
static const struct cl_object tables_obj = {
	tables_fields, N_FIELDS(tables_fields), sizeof(struct rc_cl_merge), NULL, 0, 0, 0,
	"tables", NULL,
};

static const struct cl_field merge_fields[] = {
	{ "id", &cl_kind_uint, MERGE(id), 1, UINT32_MAX, true, NULL },
	{ "group", &cl_kind_name, MERGE(group), 1, 0, true, NULL },
	{ "sources", &cl_kind_pair, MERGE(sources), 0, 0, true, NULL },
	{ "target", &cl_kind_name, MERGE(target), 1, 0, true, NULL },
	{ "state", &cl_kind_mstate, MERGE(state), 0, 0, true, NULL },
	{ "created_ms", &cl_kind_uint, MERGE(created_ms), 0, U64MAX, false, NULL },
	{ "updated_ms", &cl_kind_uint, MERGE(updated_ms), 0, U64MAX, false, NULL },
	{ "tables", &cl_kind_sub, 0, sizeof(struct rc_cl_merge), 0, 0, false, &tables_obj },
	{ "conflicts", &cl_kind_uint, MERGE(conflicts), 0, U64MAX, false, NULL },
	{ "renumbered", &cl_kind_uint, MERGE(renumbered), 0, U64MAX, false, NULL },
	{ "error", &cl_kind_text, MERGE(error), 0, 0, false, NULL },
};
const struct cl_object cl_merge_obj = {
	merge_fields, N_FIELDS(merge_fields), sizeof(struct rc_cl_merge), zero_merge,
	offsetof(struct rc_cluster, n_merges), 0, RC_CL_MAX_MERGES, "merge job", NULL,
};

static const struct cl_field root_json_fields[] = {
	{ "format", &cl_kind_format, 0, 0, 0, 0, true, NULL },
	{ "version", &cl_kind_uint, ROOT(version), 0, RC_CL_VERSION_MAX, true, NULL },
	{ "origin", &cl_kind_name, ROOT(origin), 0, 0, false, NULL },
	{ "updated_ms", &cl_kind_uint, ROOT(updated_ms), 0, U64MAX, false, NULL },
	{ "next_merge_id", &cl_kind_uint, ROOT(next_merge_id), 1, UINT32_MAX, false, NULL },
	{ "clusters", &cl_kind_objects, ROOT(clusters), 0, 0, false, &cluster_obj },
	{ "chat", &cl_kind_sub, ROOT(chat), 0, 0, false, &cl_chat_obj },
	{ "databases", &cl_kind_objects, ROOT(dbs), 0, 0, false, &db_obj },
	{ "merge_jobs", &cl_kind_objects, ROOT(merges), 0, 0, false, &cl_merge_obj },
};
const struct cl_object cl_root_json = {
	root_json_fields, N_FIELDS(root_json_fields), sizeof(struct rc_cluster), NULL, 0, 0, 0,
	"state", NULL,
};

static const struct cl_field root_seed_fields[] = {
	{ "clusters", &cl_kind_objects, ROOT(clusters), 0, 0, false, &cluster_obj },
	{ "chat", &cl_kind_sub, ROOT(chat), 0, 0, false, &cl_chat_obj },
	{ "databases", &cl_kind_objects, ROOT(dbs), 0, 0, false, &db_obj },
};
const struct cl_object cl_root_seed = {
	root_seed_fields, N_FIELDS(root_seed_fields), sizeof(struct rc_cluster), NULL, 0, 0, 0,
	"seed", NULL,
};

/* ---- entry points ---- */

json_t *
rc_cluster_to_json(const struct rc_cluster *c)
{
	json_t *j = cl_emit_object(c, &cl_root_json);

	if (j == NULL)
		errno = ENOMEM;
	return j;
}

int
rc_cluster_from_json(const json_t *j, struct rc_cluster *c, char *err, size_t errlen)
{
	struct rc_cluster *tmp = malloc(sizeof(*tmp));
	struct cl_err e = { "", "" };
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	if (tmp == NULL)
		return cl_refuse(err, errlen, -ENOMEM, "out of memory");
	rc_cluster_init_empty(tmp);
	rc = cl_parse_object(j, &cl_root_json, tmp, "", &e);
	if (rc == 0)
		rc = cl_validate(tmp, &e);
	if (rc == 0)
		memcpy(c, tmp, sizeof(*c));
	else
		cl_err_out(&e, rc, err, errlen);
	free(tmp);
	return rc;
}
