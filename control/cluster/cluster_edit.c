/* SPDX-License-Identifier: MIT */
/*
 * The operator's changes to the cluster state (cluster.h, "mutations").
 *
 * Each one copies the state, checks its own preconditions with a message meant for the
 * operator ("group g1 has high availability on: both nodes of a group must be assigned the
 * same database"), applies the change to the copy, validates the whole copy (the same rules as
 * a loaded or received state, as a safety net), and only then replaces the state with
 * version + 1, origin and updated_ms. A change that changes nothing succeeds without a new
 * version, so repeating a command does not make the nodes exchange state.
 *
 * Threads: no shared state (see cluster.h).
 */
#include "cluster_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"

/* ---- the edit cycle ---- */

struct rc_cluster *
cl_edit_begin(const struct rc_cluster *c, const char *origin, char *err, size_t errlen)
{
	struct rc_cluster *n;

	if (errlen > 0)
		err[0] = '\0';
	if (origin == NULL || !cl_name_ok(origin)) {
		cl_refuse(err, errlen, -EINVAL, "origin \"%s\" is not a valid node id",
			  origin ? origin : "");
		errno = EINVAL;
		return NULL;
	}
	n = malloc(sizeof(*n));
	if (n == NULL) {
		cl_refuse(err, errlen, -ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	memcpy(n, c, sizeof(*n));
	return n;
}

/* Validate n and make it the state. Frees n. */
int
cl_edit_commit(struct rc_cluster *c, struct rc_cluster *n, const char *origin, char *err,
	    size_t errlen)
{
	struct cl_err e = { "", "" };
	int rc = cl_validate(n, &e);

	if (rc < 0) {
		cl_err_out(&e, rc, err, errlen);
	} else if (memcmp(n, c, sizeof(*n)) != 0 && c->version >= RC_CL_VERSION_MAX) {
		rc = -EOVERFLOW;
		snprintf(err, errlen, "version: %llu is the last one: no change is possible",
			 (unsigned long long)c->version);
	} else if (memcmp(n, c, sizeof(*n)) != 0) {
		n->version = c->version + 1;
		snprintf(n->origin, sizeof(n->origin), "%s", origin);
		n->updated_ms = rc_wall_ms();
		memcpy(c, n, sizeof(*c));
	}
	free(n);
	return rc;
}

/* Free n and return the refusal already written to err. */
int
cl_edit_abort(struct rc_cluster *n, int rc)
{
	free(n);
	return rc;
}

/* ---- look-ups with messages ---- */

static void
list_append(char *buf, size_t cap, const char *name)
{
	size_t len = strlen(buf);

	snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", name);
}

struct rc_cl_group *
cl_need_group(struct rc_cluster *n, const char *name, char *err, size_t errlen)
{
	struct rc_cl_group *g = (struct rc_cl_group *)rc_cluster_find_group(n, name, NULL);
	char names[256] = "";

	if (g != NULL)
		return g;
	for (unsigned i = 0; i < n->n_clusters; i++)
		for (unsigned j = 0; j < n->clusters[i].n_groups; j++)
			list_append(names, sizeof(names), n->clusters[i].groups[j].name);
	cl_refuse(err, errlen, -ENOENT, "group \"%s\" does not exist (%s%s)", name ? name : "",
		  names[0] ? "groups: " : "no group is defined", names);
	return NULL;
}

static struct rc_cl_node *
need_node(struct rc_cluster *n, const char *id, struct rc_cl_group **g, char *err,
	  size_t errlen)
{
	const struct rc_cl_group *cg = NULL;
	struct rc_cl_node *node = (struct rc_cl_node *)rc_cluster_find_node(n, id, &cg, NULL);
	char names[512] = "";

	if (node != NULL) {
		*g = (struct rc_cl_group *)cg;
		return node;
	}
	for (unsigned i = 0; i < n->n_clusters; i++)
		for (unsigned j = 0; j < n->clusters[i].n_groups; j++)
			for (unsigned k = 0; k < n->clusters[i].groups[j].n_nodes; k++)
				list_append(names, sizeof(names),
					    n->clusters[i].groups[j].nodes[k].id);
	cl_refuse(err, errlen, -ENOENT, "node \"%s\" does not exist (%s%s)", id ? id : "",
		  names[0] ? "nodes: " : "no node is defined", names);
	return NULL;
}

const struct rc_cl_db *
cl_need_db(const struct rc_cluster *n, const char *name, char *err, size_t errlen)
{
	const struct rc_cl_db *d = rc_cluster_find_db(n, name);
	char names[512] = "";

	if (d != NULL)
		return d;
	for (unsigned i = 0; i < n->n_dbs; i++)
		list_append(names, sizeof(names), n->dbs[i].name);
	cl_refuse(err, errlen, -ENOENT, "database \"%s\" does not exist (%s%s)",
		  name ? name : "", names[0] ? "databases: " : "no database is defined", names);
	return NULL;
}

/* The group whose nodes use database db (NULL: none); *node gets the first such node. */
const struct rc_cl_group *
cl_group_serving(const struct rc_cluster *c, const char *db, const struct rc_cl_node **node)
{
	for (unsigned i = 0; db[0] && i < c->n_clusters; i++)
		for (unsigned j = 0; j < c->clusters[i].n_groups; j++) {
			const struct rc_cl_group *g = &c->clusters[i].groups[j];

			for (unsigned k = 0; k < g->n_nodes; k++)
				if (strcmp(g->nodes[k].db, db) == 0) {
					if (node != NULL)
						*node = &g->nodes[k];
					return g;
				}
		}
	return NULL;
}

/* A refusal when database db serves a group other than g (a merge target: it must be empty). */
int
cl_refuse_other_group(const struct rc_cluster *c, const char *db, const struct rc_cl_group *g,
		   char *err, size_t errlen)
{
	const struct rc_cl_group *o = cl_group_serving(c, db, NULL);

	if (o == NULL || o == g || strcmp(o->name, g->name) == 0)
		return 0;
	return cl_refuse(err, errlen, -EBUSY, "database %s serves group %s: a merge target must "
			 "serve no other group", db, o->name);
}

/* -EBUSY with the refusal while a merge job of the group runs. */
int
cl_refuse_running_merge(const struct rc_cluster *c, const char *group, const char *what,
		     char *err, size_t errlen)
{
	for (unsigned i = 0; i < c->n_merges; i++)
		if (c->merges[i].state == RC_CL_MERGE_RUNNING &&
		    strcmp(c->merges[i].group, group) == 0)
			return cl_refuse(err, errlen, -EBUSY, "merge job %u of group %s is "
					 "running: %s waits until it ends", c->merges[i].id,
					 group, what);
	return 0;
}

/* ---- groups ---- */

int
rc_cluster_group_set_ha(struct rc_cluster *c, const char *origin, const char *group, bool on,
			char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_group *g;

	if (n == NULL)
		return -errno;
	g = cl_need_group(n, group, err, errlen);
	if (g == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (on && g->n_nodes < 2)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "group %s has one node (%s): "
					       "high availability needs a pair of nodes",
					       g->name, g->nodes[0].id));
	if (on && rc_cluster_group_db(g) == NULL)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "nodes %s and %s of group %s"
					       " are assigned different databases (%s, %s): both "
					       "nodes of a group must be assigned the same database;"
					       " assign one first (db assign NAME --group %s)",
					       g->nodes[0].id, g->nodes[1].id, g->name,
					       g->nodes[0].db[0] ? g->nodes[0].db : "none",
					       g->nodes[1].db[0] ? g->nodes[1].db : "none", g->name));
	g->ha = on;
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_group_set_assign(struct rc_cluster *c, const char *origin, const char *group,
			    const char *mode, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_group *g;
	int m = rc_cl_assign_parse(mode);

	if (n == NULL)
		return -errno;
	g = cl_need_group(n, group, err, errlen);
	if (g == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (m < 0)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "unknown assignment mode "
					       "\"%s\": expected balanced, active-standby or none",
					       mode ? mode : ""));
	g->assign = m;
	return cl_edit_commit(c, n, origin, err, errlen);
}

/* ---- chat settings ---- */

const char *const rc_cluster_chat_keys[] = {
	"enabled", "max_rooms", "default_max_occupants", "messages_on_join",
	"max_archive_query", "admins_only_create", "admin_users", "members_only_default",
	NULL,
};

static int
parse_bool_word(const char *s)
{
	static const char *const yes[] = { "true", "on", "yes", "1" };
	static const char *const no[] = { "false", "off", "no", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* "a, b,c" -> ["a", "b", "c"] (empty items skipped). */
static json_t *
split_users(const char *s)
{
	json_t *a = json_array();
	char item[256];

	while (a != NULL && *s) {
		size_t len = strcspn(s, ",");
		const char *b = s, *e = s + len;

		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		snprintf(item, sizeof(item), "%.*s", (int)(e - b), b);
		if (item[0] != '\0' && json_array_append_new(a, json_string(item)) < 0) {
			json_decref(a);
			return NULL;
		}
		s += len + (s[len] == ',');
	}
	return a;
}

/* The JSON value for key from the operator's text into *out. 0, or -EINVAL / -ENOMEM with
 * the refusal in err. */
static int
chat_value(const struct cl_field *f, const char *key, const char *value, json_t **out,
	   char *err, size_t errlen)
{
	char *end;
	long long v;
	int b;

	if (strcmp(key, "admin_users") == 0)
		*out = split_users(value);
	else if (f->max == 0) { /* the booleans (the integers all have a maximum) */
		b = parse_bool_word(value);
		if (b < 0)
			return cl_refuse(err, errlen, -EINVAL, "%s: \"%s\" is not a boolean "
					 "(true/false, on/off, yes/no, 1/0)", key, value);
		*out = json_boolean(b);
	} else {
		errno = 0;
		v = strtoll(value, &end, 10);
		if (value[0] == '\0' || *end != '\0' || errno != 0 || v < f->min || v > f->max)
			return cl_refuse(err, errlen, -EINVAL, "%s: \"%s\" is not an integer in "
					 "%lld..%lld", key, value, f->min, f->max);
		*out = json_integer(v);
	}
	return *out ? 0 : cl_refuse(err, errlen, -ENOMEM, "out of memory");
}

static int
refuse_chat_key(const char *key, char *err, size_t errlen)
{
	char keys[256] = "";

	for (size_t i = 0; rc_cluster_chat_keys[i] != NULL; i++)
		list_append(keys, sizeof(keys), rc_cluster_chat_keys[i]);
	return cl_refuse(err, errlen, -EINVAL, "unknown chat setting \"%s\"; settings: %s",
			 key ? key : "", keys);
}

int
rc_cluster_chat_set(struct rc_cluster *c, const char *origin, const char *key,
		    const char *value, char *err, size_t errlen)
{
	const struct cl_field *f = key ? cl_find_field(&cl_chat_obj, key) : NULL;
	struct cl_err e = { "", "" };
	struct rc_cluster *n;
	json_t *obj, *v;
	int rc;

	if (f == NULL)
		return refuse_chat_key(key, err, errlen);
	n = cl_edit_begin(c, origin, err, errlen);
	if (n == NULL)
		return -errno;
	rc = chat_value(f, key, value ? value : "", &v, err, errlen);
	if (rc < 0)
		return cl_edit_abort(n, rc);
	obj = json_object();
	if (obj == NULL || json_object_set_new(obj, key, v) < 0) {
		json_decref(obj);
		return cl_edit_abort(n, cl_refuse(err, errlen, -ENOMEM, "out of memory"));
	}
	rc = cl_parse_object(obj, &cl_chat_obj, &n->chat, "chat", &e);
	json_decref(obj);
	if (rc < 0)
		return cl_edit_abort(n, cl_err_out(&e, rc, err, errlen));
	return cl_edit_commit(c, n, origin, err, errlen);
}

/* ---- databases ---- */

static int
check_db_args(const char *name, const char *host, unsigned port, const char *dbname,
	      const char *user, char *err, size_t errlen)
{
	int hosts = host != NULL ? rc_cluster_list_count(host, cl_host_ok) : -1;

	if (name == NULL || !cl_name_ok(name))
		return cl_refuse(err, errlen, -EINVAL, "database name \"%s\" is not valid (1..63 "
				 "bytes of letters, digits, '-', '_', '.')", name ? name : "");
	if (hosts < 0 || strlen(host) > 255)
		return cl_refuse(err, errlen, -EINVAL, "host \"%s\" is not a host name, IP "
				 "address or socket directory (or a comma-separated list of at "
				 "most %d of them: a replicated database)", host ? host : "",
				 RC_CL_DB_MAX_HOSTS);
	if (port > 65535)
		return cl_refuse(err, errlen, -EINVAL, "port %u is out of range 1..65535", port);
	if (dbname == NULL || !cl_ident_ok(dbname))
		return cl_refuse(err, errlen, -EINVAL, "dbname \"%s\" is not valid (1..63 bytes of"
				 " letters, digits, '_', '.', '-', '@', '$')", dbname ? dbname : "");
	if (user == NULL || !cl_ident_ok(user))
		return cl_refuse(err, errlen, -EINVAL, "user \"%s\" is not valid (1..63 bytes of "
				 "letters, digits, '_', '.', '-', '@', '$')", user ? user : "");
	return 0;
}

int
rc_cluster_db_add(struct rc_cluster *c, const char *origin, const char *name, const char *type,
		  const char *host, unsigned port, const char *dbname, const char *user,
		  const char *password_file, char *err, size_t errlen)
{
	char p[16];

	if (port > 65535)
		return cl_refuse(err, errlen, -EINVAL, "port %u is out of range 1..65535", port);
	snprintf(p, sizeof(p), "%u", port ? port : 5432);
	return rc_cluster_db_add_hosts(c, origin, name, type, host, p, dbname, user,
				       password_file, err, errlen);
}

int
rc_cluster_db_add_hosts(struct rc_cluster *c, const char *origin, const char *name,
			const char *type, const char *host, const char *ports,
			const char *dbname, const char *user, const char *password_file,
			char *err, size_t errlen)
{
	int nports = ports != NULL && ports[0] != '\0' ? rc_cluster_list_count(ports, cl_port_ok)
						      : 0;
	int nhosts = host != NULL ? rc_cluster_list_count(host, cl_host_ok) : -1;
	unsigned port = nports > 0 ? (unsigned)strtoul(ports, NULL, 10) : 5432;
	const char *norm = cl_db_type_normalize(type ? type : "");
	struct rc_cluster *n;
	struct rc_cl_db *d;
	int rc;

	if (norm == NULL) {
		if (errlen > 0)
			cl_db_type_refusal(type ? type : "", err, errlen);
		return -EOPNOTSUPP;
	}
	rc = check_db_args(name, host, port, dbname, user, err, errlen);
	if (rc < 0)
		return rc;
	if (nports < 0 || strlen(ports) >= sizeof(((struct rc_cl_db *)NULL)->ports))
		return cl_refuse(err, errlen, -EINVAL, "port \"%s\" is not a port (1..65535) or "
				 "a comma-separated list of them, one per host", ports);
	if (nports > 1 && nports != nhosts)
		return cl_refuse(err, errlen, -EINVAL, "%d ports for %d hosts: give one port (of "
				 "every host) or one per host", nports, nhosts);
	if (rc_cluster_find_db(c, name) != NULL)
		return cl_refuse(err, errlen, -EEXIST, "database %s already exists", name);
	if (c->n_dbs == RC_CL_MAX_DBS)
		return cl_refuse(err, errlen, -ENOSPC, "%d databases are defined, the most there "
				 "can be: remove one first", RC_CL_MAX_DBS);
	if (password_file != NULL && password_file[0] != '\0' && password_file[0] != '/')
		return cl_refuse(err, errlen, -EINVAL, "password file \"%s\" must be an absolute "
				 "path", password_file);
	n = cl_edit_begin(c, origin, err, errlen);
	if (n == NULL)
		return -errno;
	d = &n->dbs[n->n_dbs++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->type, sizeof(d->type), "%s", norm);
	snprintf(d->host, sizeof(d->host), "%s", host);
	d->port = port ? port : 5432;
	if (nports > 1)
		snprintf(d->ports, sizeof(d->ports), "%s", ports);
	snprintf(d->dbname, sizeof(d->dbname), "%s", dbname);
	snprintf(d->user, sizeof(d->user), "%s", user);
	snprintf(d->password_file, sizeof(d->password_file), "%s",
		 password_file ? password_file : "");
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_db_set_tls(struct rc_cluster *c, const char *origin, const char *name,
		      const char *sslmode, const char *sslrootcert, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_db *d;

	if (n == NULL)
		return -errno;
	d = (struct rc_cl_db *)cl_need_db(n, name, err, errlen);
	if (d == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (strlen(sslmode) >= sizeof(d->sslmode) || strlen(sslrootcert) >= sizeof(d->sslrootcert))
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "sslmode or sslrootcert "
						  "too long"));
	snprintf(d->sslmode, sizeof(d->sslmode), "%s", sslmode);
	snprintf(d->sslrootcert, sizeof(d->sslrootcert), "%s", sslrootcert);
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_db_remove(struct rc_cluster *c, const char *origin, const char *name, char *err,
		     size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	const struct rc_cl_node *node = NULL;
	const struct rc_cl_group *g;
	const struct rc_cl_db *d;

	if (n == NULL)
		return -errno;
	d = cl_need_db(n, name, err, errlen);
	if (d == NULL)
		return cl_edit_abort(n, -ENOENT);
	g = cl_group_serving(n, name, &node);
	if (g != NULL)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EBUSY, "database %s is assigned to "
					       "group %s (node %s): unassign it first", name,
					       g->name, node->id));
	for (unsigned i = 0; i < n->n_merges; i++) {
		const struct rc_cl_merge *m = &n->merges[i];

		if (m->state == RC_CL_MERGE_DONE || m->state == RC_CL_MERGE_FAILED)
			continue;
		if (strcmp(m->sources[0], name) == 0 || strcmp(m->sources[1], name) == 0 ||
		    strcmp(m->target, name) == 0)
			return cl_edit_abort(n, cl_refuse(err, errlen, -EBUSY, "database %s is used "
						       "by merge job %u (%s): remove the job "
						       "first", name, m->id,
						       rc_cl_merge_state_name(m->state)));
	}
	memmove((struct rc_cl_db *)d, d + 1, (char *)&n->dbs[n->n_dbs] - (char *)(d + 1));
	memset(&n->dbs[--n->n_dbs], 0, sizeof(n->dbs[0]));
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_db_assign(struct rc_cluster *c, const char *origin, const char *name,
		     const char *group, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_group *g;
	int rc;

	if (n == NULL)
		return -errno;
	if (cl_need_db(n, name, err, errlen) == NULL)
		return cl_edit_abort(n, -ENOENT);
	g = cl_need_group(n, group, err, errlen);
	if (g == NULL)
		return cl_edit_abort(n, -ENOENT);
	rc = cl_refuse_running_merge(n, g->name, "assigning a database", err, errlen);
	if (rc < 0)
		return cl_edit_abort(n, rc);
	for (unsigned i = 0; i < g->n_nodes; i++)
		snprintf(g->nodes[i].db, sizeof(g->nodes[i].db), "%s", name);
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_db_assign_node(struct rc_cluster *c, const char *origin, const char *name,
			  const char *node, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_group *g = NULL;
	struct rc_cl_node *nd;
	int rc;

	if (n == NULL)
		return -errno;
	if (cl_need_db(n, name, err, errlen) == NULL)
		return cl_edit_abort(n, -ENOENT);
	nd = need_node(n, node, &g, err, errlen);
	if (nd == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (g->ha && g->n_nodes == 2)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "group %s has high "
					       "availability on: both nodes of a group must be "
					       "assigned the same database (db assign %s --group "
					       "%s)", g->name, name, g->name));
	rc = cl_refuse_running_merge(n, g->name, "assigning a database", err, errlen);
	if (rc < 0)
		return cl_edit_abort(n, rc);
	snprintf(nd->db, sizeof(nd->db), "%s", name);
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_db_unassign(struct rc_cluster *c, const char *origin, const char *group,
		       const char *node, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_group *g, *ng = NULL;
	struct rc_cl_node *nd = NULL;
	int rc;

	if (n == NULL)
		return -errno;
	g = cl_need_group(n, group, err, errlen);
	if (g == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (node != NULL && (nd = need_node(n, node, &ng, err, errlen)) == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (nd != NULL && ng != g)
		return cl_edit_abort(n, cl_refuse(err, errlen, -ENOENT, "node %s is not in group %s",
					       node, g->name));
	if (nd != NULL && g->ha && g->n_nodes == 2)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "group %s has high "
					       "availability on: both nodes of a group must be "
					       "assigned the same database (unassign the group)",
					       g->name));
	rc = cl_refuse_running_merge(n, g->name, "unassigning a database", err, errlen);
	if (rc < 0)
		return cl_edit_abort(n, rc);
	for (unsigned i = 0; i < g->n_nodes; i++)
		if (nd == NULL || nd == &g->nodes[i])
			g->nodes[i].db[0] = '\0';
	return cl_edit_commit(c, n, origin, err, errlen);
}

/* ---- services ---- */

int
rc_cluster_service_set(struct rc_cluster *c, const char *origin, const char *node,
		       const char *service, const char *state, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_group *g = NULL;
	struct rc_cl_node *nd;
	int s = rc_cl_svc_parse(state);

	if (n == NULL)
		return -errno;
	if (service == NULL || strcasecmp(service, "tc") != 0)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "unknown service \"%s\": the"
					       " only service is tc (text conference)",
					       service ? service : ""));
	if (s < 0 && state != NULL)
		s = strcmp(state, "start") == 0 ? RC_CL_SVC_STARTED
		    : strcmp(state, "stop") == 0 ? RC_CL_SVC_STOPPED : -1;
	if (s < 0)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "unknown service state "
					       "\"%s\": expected started or stopped",
					       state ? state : ""));
	nd = need_node(n, node, &g, err, errlen);
	if (nd == NULL)
		return cl_edit_abort(n, -ENOENT);
	if (s == RC_CL_SVC_STARTED &&
	    cl_refuse_running_merge(n, g->name, "starting TC", err, errlen) < 0)
		return cl_edit_abort(n, -EBUSY);
	nd->tc = s;
	return cl_edit_commit(c, n, origin, err, errlen);
}

/* ---- seed ---- */

int
rc_cluster_apply_seed(struct rc_cluster *c, const char *origin, const struct rc_cluster *seed,
		      char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);

	if (n == NULL)
		return -errno;
	n->n_clusters = seed->n_clusters;
	memcpy(n->clusters, seed->clusters, sizeof(n->clusters));
	n->chat = seed->chat;
	n->n_dbs = seed->n_dbs;
	memcpy(n->dbs, seed->dbs, sizeof(n->dbs));
	for (unsigned i = 0; i < n->n_clusters; i++)
		for (unsigned j = 0; j < n->clusters[i].n_groups; j++)
			for (unsigned k = 0; k < n->clusters[i].groups[j].n_nodes; k++) {
				struct rc_cl_node *nd = &n->clusters[i].groups[j].nodes[k];
				const struct rc_cl_node *old = rc_cluster_find_node(c, nd->id,
										    NULL, NULL);

				if (old != NULL)
					nd->tc = old->tc;
			}
	return cl_edit_commit(c, n, origin, err, errlen);
}
