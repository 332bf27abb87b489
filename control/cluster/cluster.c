/* SPDX-License-Identifier: MIT */
/*
 * The cluster state (cluster.h): names of the enums, the empty state, look-ups, the rules
 * of a whole state (rc_cluster_validate), and which of two states wins (rc_cluster_newer).
 *
 * The rules, in the order they are checked (the first broken one is reported):
 *   - every field's own rule (cluster_json.c tables): names of [A-Za-z0-9._-], addresses,
 *     ranges, enum values, database type postgresql, 1..3 groups per cluster, 1..2 nodes
 *     per group, counts within the table sizes;
 *   - cluster names unique; group names unique over all clusters (`--group G` names one);
 *   - a group with high availability on has two nodes;
 *   - node ids, management addresses and VIPs unique over all clusters;
 *   - database names unique; a database's ports list has one port or one per host;
 *     a node's database is defined; in a group with high availability on both nodes have
 *     the same one (several groups may share a database: rooms differ by their service);
 *   - chat: messages_on_join <= max_archive_query;
 *   - merge jobs: unique ids below next_merge_id, a defined group, two distinct sources and
 *     a different target; an unfinished job's databases are defined.
 *
 * Threads: no shared state (see cluster.h).
 */
#include "cluster_impl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"
#include "secfile.h"

/* ---- names ---- */

static const char *const assign_names[RC_CL_ASSIGN_MAX] = {
	[RC_CL_ASSIGN_BALANCED] = "balanced",
	[RC_CL_ASSIGN_ACTIVE_STANDBY] = "active-standby",
	[RC_CL_ASSIGN_NONE] = "none",
};

static const char *const svc_names[RC_CL_SVC_MAX] = {
	[RC_CL_SVC_STOPPED] = "stopped",
	[RC_CL_SVC_STARTED] = "started",
};

static const char *const merge_state_names[RC_CL_MERGE_STATE_MAX] = {
	[RC_CL_MERGE_CREATED] = "created",
	[RC_CL_MERGE_VALIDATED] = "validated",
	[RC_CL_MERGE_VALIDATION_FAILED] = "validation-failed",
	[RC_CL_MERGE_RUNNING] = "running",
	[RC_CL_MERGE_DONE] = "done",
	[RC_CL_MERGE_FAILED] = "failed",
};

static const char *const table_names[RC_CL_TABLE_MAX] = {
	[RC_CL_TABLE_ROOMS] = "rooms",
	[RC_CL_TABLE_MEMBERS] = "members",
	[RC_CL_TABLE_MESSAGES] = "messages",
	[RC_CL_TABLE_DRAIN_ALARMS] = "drain_alarms",
	[RC_CL_TABLE_DRAIN_STATE] = "drain_state",
};

const char *
rc_cl_assign_name(enum rc_cl_assign a)
{
	return rc_name_of(assign_names, RC_CL_ASSIGN_MAX, a);
}

int
rc_cl_assign_parse(const char *s)
{
	return rc_name_parse(assign_names, RC_CL_ASSIGN_MAX, s);
}

const char *
rc_cl_svc_name(enum rc_cl_svc_state s)
{
	return rc_name_of(svc_names, RC_CL_SVC_MAX, s);
}

int
rc_cl_svc_parse(const char *s)
{
	return rc_name_parse(svc_names, RC_CL_SVC_MAX, s);
}

const char *
rc_cl_merge_state_name(enum rc_cl_merge_state s)
{
	return rc_name_of(merge_state_names, RC_CL_MERGE_STATE_MAX, s);
}

int
rc_cl_merge_state_parse(const char *s)
{
	return rc_name_parse(merge_state_names, RC_CL_MERGE_STATE_MAX, s);
}

const char *
rc_cl_table_name(enum rc_cl_table t)
{
	return rc_name_of(table_names, RC_CL_TABLE_MAX, t);
}

/* ---- small helpers ---- */

int
cl_refuse(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static bool
chars_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr(extra, *s) == NULL)
			return false;
	return true;
}

bool
cl_name_ok(const char *s)
{
	return chars_ok(s, RC_CL_NAME_MAX - 1, "._-");
}

bool
cl_host_ok(const char *s)
{
	return chars_ok(s, 255, "._:/-");
}

int
rc_cluster_list_count(const char *s, bool (*ok)(const char *item))
{
	char item[256];
	int n = 0;

	for (const char *p = s;; n++) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (len == 0 || len >= sizeof(item) || n == RC_CL_DB_MAX_HOSTS)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!ok(item))
			return -1;
		if (comma == NULL)
			return n + 1;
		p = comma + 1;
	}
}

bool
cl_hosts_ok(const char *s)
{
	return strlen(s) <= 255 && rc_cluster_list_count(s, cl_host_ok) > 0;
}

bool
cl_port_ok(const char *s)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	v = strtoul(s, &end, 10);
	return *end == '\0' && v >= 1 && v <= 65535;
}

bool
cl_ident_ok(const char *s)
{
	return chars_ok(s, 63, "._@$-");
}

bool
cl_user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= RC_CL_USER_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ',')
			return false;
	return true;
}

bool
cl_unicast_ok(struct in_addr a)
{
	uint32_t h = ntohl(a.s_addr);

	return h != 0 && h != 0xffffffffu && (h >> 28) != 0xe;
}

const char *
cl_db_type_normalize(const char *type)
{
	static const char *const ok[] = { "postgresql", "postgres", "pg", "pgsql" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcasecmp(type, ok[i]) == 0)
			return "postgresql";
	return NULL;
}

int
cl_db_type_refusal(const char *type, char *buf, size_t len)
{
	return snprintf(buf, len, "database type \"%s\" is not supported: roomcast supports "
			"PostgreSQL only (type postgresql)", type);
}

/* Append " key=value" to buf at len (snprintf-like), quoting the value for libpq when it is
 * empty or holds a space, a quote or a backslash. */
static size_t
conninfo_add(char *buf, size_t cap, size_t len, const char *key, const char *value)
{
	bool quote = value[0] == '\0' || strpbrk(value, " '\\") != NULL;
	char q[2 * 256 + 3], *o = q;
	size_t at = len < cap ? len : cap;

	if (quote)
		*o++ = '\'';
	for (const char *v = value; *v && o < q + sizeof(q) - 3; v++) {
		if (quote && (*v == '\'' || *v == '\\'))
			*o++ = '\\';
		*o++ = *v;
	}
	if (quote)
		*o++ = '\'';
	*o = '\0';
	return len + snprintf(buf + at, cap - at, "%s%s=%s", len ? " " : "", key, q);
}

size_t
rc_cluster_db_conninfo(const struct rc_cl_db *d, char *buf, size_t cap)
{
	char port[8];
	size_t len = 0;

	if (cap > 0)
		buf[0] = '\0';
	snprintf(port, sizeof(port), "%u", (unsigned)d->port);
	len = conninfo_add(buf, cap, len, "host", d->host);
	len = conninfo_add(buf, cap, len, "port", d->ports[0] != '\0' ? d->ports : port);
	len = conninfo_add(buf, cap, len, "dbname", d->dbname);
	len = conninfo_add(buf, cap, len, "user", d->user);
	/* several hosts: the read-write one (also rc_pgdb_connect's default; said here so
	 * that the conninfo shown by db list and db check tells) */
	if (strchr(d->host, ',') != NULL)
		len = conninfo_add(buf, cap, len, "target_session_attrs", "read-write");
	if (d->sslmode[0] != '\0')
		len = conninfo_add(buf, cap, len, "sslmode", d->sslmode);
	if (d->sslrootcert[0] != '\0')
		len = conninfo_add(buf, cap, len, "sslrootcert", d->sslrootcert);
	return len;
}

bool
rc_cluster_sslmode_ok(const char *mode)
{
	static const char *const modes[] = { "disable", "allow", "prefer", "require",
					      "verify-ca", "verify-full" };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (strcmp(mode, modes[i]) == 0)
			return true;
	return false;
}

bool
rc_cluster_parse_mgmt(const char *s, struct sockaddr_in *out)
{
	const char *colon = strrchr(s, ':');
	char ip[INET_ADDRSTRLEN];
	char *end;
	long port;

	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(ip))
		return false;
	memcpy(ip, s, colon - s);
	ip[colon - s] = '\0';
	if (!isdigit((unsigned char)colon[1]))
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 1 || port > 65535)
		return false;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &out->sin_addr) != 1)
		return false;
	return out->sin_addr.s_addr != htonl(0) && out->sin_addr.s_addr != htonl(0xffffffffu);
}

int
rc_cluster_check_password_file(const char *secrets_dir, const char *path, char *err,
			       size_t errlen)
{
	char pw[1024];
	size_t len;
	int rc;

	if (path == NULL || path[0] != '/')
		return cl_refuse(err, errlen, -EINVAL, "password file \"%s\" must be an absolute "
				 "path", path ? path : "");
	rc = rc_secfile_read(secrets_dir, path, (uint8_t *)pw, sizeof(pw), &len,
			     RC_SECFILE_LINE, err, errlen);
	explicit_bzero(pw, sizeof(pw));
	return rc;
}

/* ---- the empty state ---- */

void
cl_chat_defaults(struct rc_cl_chat *chat)
{
	memset(chat, 0, sizeof(*chat));
	chat->enabled = true;
	chat->max_rooms = 10000;
	chat->default_max_occupants = 1000;
	chat->messages_on_join = 20;
	chat->max_archive_query = 200;
}

void
rc_cluster_init_empty(struct rc_cluster *c)
{
	memset(c, 0, sizeof(*c));
	cl_chat_defaults(&c->chat);
	c->next_merge_id = 1;
}

/* ---- look-ups ---- */

const struct rc_cl_node *
rc_cluster_find_node(const struct rc_cluster *c, const char *id, const struct rc_cl_group **group,
		     const struct rc_cl_cluster **cluster)
{
	for (unsigned i = 0; id != NULL && i < c->n_clusters; i++) {
		const struct rc_cl_cluster *cl = &c->clusters[i];

		for (unsigned j = 0; j < cl->n_groups; j++) {
			const struct rc_cl_group *g = &cl->groups[j];

			for (unsigned k = 0; k < g->n_nodes; k++) {
				if (strcmp(g->nodes[k].id, id) != 0)
					continue;
				if (group != NULL)
					*group = g;
				if (cluster != NULL)
					*cluster = cl;
				return &g->nodes[k];
			}
		}
	}
	return NULL;
}

const struct rc_cl_group *
rc_cluster_find_group(const struct rc_cluster *c, const char *name,
		      const struct rc_cl_cluster **cluster)
{
	for (unsigned i = 0; name != NULL && i < c->n_clusters; i++) {
		const struct rc_cl_cluster *cl = &c->clusters[i];

		for (unsigned j = 0; j < cl->n_groups; j++) {
			if (strcmp(cl->groups[j].name, name) != 0)
				continue;
			if (cluster != NULL)
				*cluster = cl;
			return &cl->groups[j];
		}
	}
	return NULL;
}

const struct rc_cl_db *
rc_cluster_find_db(const struct rc_cluster *c, const char *name)
{
	for (unsigned i = 0; name != NULL && i < c->n_dbs; i++)
		if (strcmp(c->dbs[i].name, name) == 0)
			return &c->dbs[i];
	return NULL;
}

const struct rc_cl_merge *
rc_cluster_find_merge(const struct rc_cluster *c, uint32_t id)
{
	for (unsigned i = 0; i < c->n_merges; i++)
		if (c->merges[i].id == id)
			return &c->merges[i];
	return NULL;
}

const struct rc_cl_node *
rc_cluster_peer_of(const struct rc_cluster *c, const char *id)
{
	const struct rc_cl_group *g = NULL;
	const struct rc_cl_node *n = rc_cluster_find_node(c, id, &g, NULL);

	if (n == NULL || g->n_nodes < 2)
		return NULL;
	return n == &g->nodes[0] ? &g->nodes[1] : &g->nodes[0];
}

const char *
rc_cluster_group_db(const struct rc_cl_group *g)
{
	if (g->n_nodes == 2 && strcmp(g->nodes[0].db, g->nodes[1].db) != 0)
		return NULL;
	return g->n_nodes > 0 ? g->nodes[0].db : "";
}

/* ---- the rules over the whole state ---- */

/* Every node with its place, for the pairwise rules. */
struct node_ref {
	const struct rc_cl_node *n;
	const struct rc_cl_group *g;
	char key[96]; /* "clusters[0].groups[1].nodes[0]" */
};

static unsigned
list_nodes(const struct rc_cluster *c, struct node_ref *out)
{
	unsigned n = 0;

	for (unsigned i = 0; i < c->n_clusters; i++)
		for (unsigned j = 0; j < c->clusters[i].n_groups; j++) {
			const struct rc_cl_group *g = &c->clusters[i].groups[j];

			for (unsigned k = 0; k < g->n_nodes; k++, n++) {
				out[n].n = &g->nodes[k];
				out[n].g = g;
				snprintf(out[n].key, sizeof(out[n].key),
					 "clusters[%u].groups[%u].nodes[%u]", i, j, k);
			}
		}
	return n;
}

static int
check_names(const struct rc_cluster *c, struct cl_err *e)
{
	char k[96];

	for (unsigned i = 0; i < c->n_clusters; i++) {
		const struct rc_cl_cluster *cl = &c->clusters[i];

		for (unsigned p = 0; p < i; p++)
			if (strcmp(c->clusters[p].name, cl->name) == 0) {
				snprintf(k, sizeof(k), "clusters[%u].name", i);
				return cl_fail(e, k, "cluster %s is defined twice", cl->name);
			}
		for (unsigned j = 0; j < cl->n_groups; j++) {
			const struct rc_cl_group *g = &cl->groups[j];
			const struct rc_cl_cluster *other = NULL;

			snprintf(k, sizeof(k), "clusters[%u].groups[%u]", i, j);
			if (rc_cluster_find_group(c, g->name, &other) != g)
				return cl_fail(e, k, "group %s is defined twice (in cluster %s)",
					       g->name, other->name);
			if (g->ha && g->n_nodes < 2)
				return cl_fail(e, k, "group %s has high availability on but one node:"
					       " a group with high availability is a pair", g->name);
		}
	}
	return 0;
}

static int
check_nodes(const struct node_ref *r, unsigned n, struct cl_err *e)
{
	char k[128];

	for (unsigned i = 0; i < n; i++)
		for (unsigned p = 0; p < i; p++) {
			const struct rc_cl_node *a = r[p].n, *b = r[i].n;

			if (strcmp(a->id, b->id) == 0) {
				snprintf(k, sizeof(k), "%s.id", r[i].key);
				if (r[p].g == r[i].g)
					return cl_fail(e, k, "node %s is defined twice (in group "
						       "%s)", b->id, r[i].g->name);
				return cl_fail(e, k, "node %s is defined twice (in groups %s and "
					       "%s)", b->id, r[p].g->name, r[i].g->name);
			}
			if (strcmp(a->mgmt, b->mgmt) == 0) {
				snprintf(k, sizeof(k), "%s.mgmt", r[i].key);
				return cl_fail(e, k, "%s is also the management address of node %s",
					       b->mgmt, a->id);
			}
			if (a->vip.s_addr == b->vip.s_addr) {
				char ip[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, &b->vip, ip, sizeof(ip));
				snprintf(k, sizeof(k), "%s.vip", r[i].key);
				return cl_fail(e, k, "%s is also the vip of node %s", ip, a->id);
			}
		}
	return 0;
}

static int
check_dbs(const struct rc_cluster *c, const struct node_ref *r, unsigned n, struct cl_err *e)
{
	char k[128];

	for (unsigned i = 0; i < c->n_dbs; i++) {
		const struct rc_cl_db *d = &c->dbs[i];
		int hosts = rc_cluster_list_count(d->host, cl_host_ok), ports;

		if (rc_cluster_find_db(c, d->name) != d) {
			snprintf(k, sizeof(k), "databases[%u].name", i);
			return cl_fail(e, k, "database %s is defined twice", d->name);
		}
		if (strncmp(d->sslmode, "verify-", 7) == 0 && d->sslrootcert[0] == '\0') {
			snprintf(k, sizeof(k), "databases[%u].sslmode", i);
			return cl_fail(e, k, "%s checks the server's certificate: name the CA that "
				       "signed it in sslrootcert", d->sslmode);
		}
		ports = d->ports[0] != '\0' ? rc_cluster_list_count(d->ports, cl_port_ok) : 0;
		if (ports > 1 && ports != hosts) {
			snprintf(k, sizeof(k), "databases[%u].ports", i);
			return cl_fail(e, k, "%d ports for %d hosts: give one port (of every host) "
				       "or one per host", ports, hosts);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct rc_cl_node *b = r[i].n;

		snprintf(k, sizeof(k), "%s.database", r[i].key);
		if (r[i].g->ha && b == &r[i].g->nodes[1] && rc_cluster_group_db(r[i].g) == NULL)
			return cl_fail(e, k, "nodes %s and %s of group %s are assigned different "
				       "databases (%s, %s): with high availability on, both nodes"
				       " of a group must be assigned the same database",
				       r[i].g->nodes[0].id, b->id, r[i].g->name,
				       r[i].g->nodes[0].db[0] ? r[i].g->nodes[0].db : "none",
				       b->db[0] ? b->db : "none");
		if (b->db[0] == '\0')
			continue;
		if (rc_cluster_find_db(c, b->db) == NULL)
			return cl_fail(e, k, "database %s is not defined (add it: db add %s ...)",
				       b->db, b->db);
	}
	return 0;
}

static bool
merge_finished(enum rc_cl_merge_state s)
{
	return s == RC_CL_MERGE_DONE || s == RC_CL_MERGE_FAILED;
}

static int
check_merge(const struct rc_cluster *c, unsigned i, struct cl_err *e)
{
	const struct rc_cl_merge *m = &c->merges[i];
	const char *const names[3] = { m->sources[0], m->sources[1], m->target };
	char k[64];

	snprintf(k, sizeof(k), "merge_jobs[%u]", i);
	if (rc_cluster_find_merge(c, m->id) != m)
		return cl_fail(e, k, "merge job %u is defined twice", m->id);
	if (m->id >= c->next_merge_id)
		return cl_fail(e, k, "merge job id %u is not below next_merge_id %u", m->id,
			       c->next_merge_id);
	if (rc_cluster_find_group(c, m->group, NULL) == NULL)
		return cl_fail(e, k, "merge job %u: group %s is not defined", m->id, m->group);
	if (strcmp(m->sources[0], m->sources[1]) == 0)
		return cl_fail(e, k, "merge job %u: the two sources are the same database (%s)",
			       m->id, m->sources[0]);
	if (strcmp(m->target, m->sources[0]) == 0 || strcmp(m->target, m->sources[1]) == 0)
		return cl_fail(e, k, "merge job %u: the target %s is also a source", m->id,
			       m->target);
	for (int t = 0; t < 3 && !merge_finished(m->state); t++)
		if (rc_cluster_find_db(c, names[t]) == NULL)
			return cl_fail(e, k, "merge job %u: database %s is not defined", m->id,
				       names[t]);
	return 0;
}

int
cl_validate(const struct rc_cluster *c, struct cl_err *e)
{
	struct node_ref *refs;
	unsigned n;
	int rc;

	rc = cl_check_object(c, &cl_root_json, "", e);
	if (rc < 0)
		return rc;
	refs = calloc(RC_CL_MAX_CLUSTERS * RC_CL_MAX_GROUPS * RC_CL_GROUP_NODES, sizeof(*refs));
	if (refs == NULL) {
		cl_fail(e, "", "out of memory");
		return -ENOMEM;
	}
	n = list_nodes(c, refs);
	rc = check_names(c, e);
	if (rc == 0)
		rc = check_nodes(refs, n, e);
	if (rc == 0)
		rc = check_dbs(c, refs, n, e);
	free(refs);
	if (rc == 0 && c->chat.messages_on_join > c->chat.max_archive_query)
		rc = cl_fail(e, "chat.messages_on_join", "%u exceeds max_archive_query (%u)",
			     c->chat.messages_on_join, c->chat.max_archive_query);
	for (unsigned i = 0; rc == 0 && i < c->n_merges; i++)
		rc = check_merge(c, i, e);
	return rc;
}

int
rc_cluster_validate(const struct rc_cluster *c, char *err, size_t errlen)
{
	struct cl_err e = { "", "" };
	int rc = cl_validate(c, &e);

	if (errlen > 0)
		err[0] = '\0';
	return rc < 0 ? cl_err_out(&e, rc, err, errlen) : 0;
}

/* ---- which state wins ---- */

static char *
canonical(const struct rc_cluster *c)
{
	json_t *j = rc_cluster_to_json(c);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(j);
	return s;
}

bool
rc_cluster_jump_ok(const struct rc_cluster *ours, const struct rc_cluster *theirs, char *err,
		   size_t errlen)
{
	if (theirs->version <= ours->version ||
	    theirs->version - ours->version <= RC_CL_VERSION_JUMP_MAX)
		return true;
	snprintf(err, errlen, "version: %llu is more than %llu ahead of ours (%llu)",
		 (unsigned long long)theirs->version, (unsigned long long)RC_CL_VERSION_JUMP_MAX,
		 (unsigned long long)ours->version);
	return false;
}

bool
rc_cluster_newer(const struct rc_cluster *a, const struct rc_cluster *b)
{
	char *sa, *sb;
	int d;

	if (a->version != b->version)
		return a->version > b->version;
	d = strcmp(a->origin, b->origin);
	if (d != 0)
		return d > 0;
	sa = canonical(a);
	sb = canonical(b);
	d = sa && sb ? strcmp(sa, sb) : 0;
	free(sa);
	free(sb);
	return d > 0;
}
