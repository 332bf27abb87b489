/* SPDX-License-Identifier: MIT */
/*
 * The external database commands (cluster_cmds_impl.h):
 *
 *   db add NAME --type T --host H [--port P] --dbname D --user U [--password-file F]
 *          [--sslmode M] [--sslrootcert CA]
 *   db list | db remove NAME
 *   db assign NAME --group G | --node N
 *   db unassign --group G [--node N]
 *
 * and cc_db_conninfo(), which reads a database's password file when a connection is about to
 * be made, through the secure reader (secfile.h) in the node's secrets directory. The password is never part of the state, of a reply, of a log line or of a
 * published document: only the file's path is.
 *
 * Threads: the control thread (cc_db_conninfo: any thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_table.h"
#include "clock.h"
#include "cluster_cmds_impl.h"
#include "secfile.h"

#define PASSWORD_MAX 1024

/* ---- conninfo with the password ---- */

int
cc_db_conninfo(const struct cc_ctx *x, const struct rc_cl_db *d, char *out, size_t cap,
	       char *err, size_t errlen)
{
	char pw[PASSWORD_MAX];
	size_t len;
	int rc = 0;

	if (rc_cluster_db_conninfo(d, out, cap) >= cap) {
		snprintf(err, errlen, "database %s: its connection string is too long", d->name);
		return -ENOSPC;
	}
	if (d->password_file[0] == '\0')
		return 0;
	rc = rc_secfile_read(x->cfg->secrets_dir, d->password_file, (uint8_t *)pw, sizeof(pw),
			     &len, RC_SECFILE_LINE, err, errlen);
	if (rc == 0 && pw[0] != '\0' && rc_cluster_append_password(out, cap, pw) != 0) {
		snprintf(err, errlen, "database %s: the password is too long", d->name);
		rc = -ENOSPC;
	}
	explicit_bzero(pw, sizeof(pw));
	if (rc != 0)
		explicit_bzero(out, cap);
	return rc;
}

/* ---- db add ---- */

struct db_add {
	const char *name, *type, *host, *port, *dbname, *user, *pwfile, *sslmode, *sslrootcert;
	unsigned port_num;
};

static int
mut_db_add(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct db_add *a = arg;
	int rc = rc_cluster_db_add_hosts(c, origin, a->name, a->type, a->host,
					 a->port != NULL ? a->port : "5432", a->dbname, a->user,
					 a->pwfile ? a->pwfile : "", err, errlen);

	if (rc == 0 && (a->sslmode != NULL || a->sslrootcert != NULL))
		rc = rc_cluster_db_set_tls(c, origin, a->name, a->sslmode ? a->sslmode : "",
					   a->sslrootcert ? a->sslrootcert : "", err, errlen);
	return rc;
}

/* Is type one that db add takes? Asked of cluster.h itself, on a scratch state, so that the
 * refusal ("... roomcast supports PostgreSQL only") comes before any missing-option error. */
static int
type_refusal(const char *type, char *err, size_t errlen)
{
	struct rc_cluster *scratch = malloc(sizeof(*scratch));
	int rc;

	if (scratch == NULL)
		return -ENOMEM;
	rc_cluster_init_empty(scratch);
	rc = rc_cluster_db_add(scratch, "probe", "probe", type, "localhost", 0, "probe", "probe",
			       "", err, errlen);
	free(scratch);
	if (rc == -EOPNOTSUPP)
		return rc;
	if (errlen > 0)
		err[0] = '\0';
	return 0;
}

static bool
port_ok(const char *s)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

static int
db_add_args(int argc, char **argv, struct db_add *a, char *err, size_t errlen)
{
	const struct cc_opt opts[] = {
		{ "--type", { &a->type, NULL } },	  { "--host", { &a->host, NULL } },
		{ "--port", { &a->port, NULL } },	  { "--dbname", { &a->dbname, NULL } },
		{ "--user", { &a->user, NULL } },	  { "--password-file", { &a->pwfile, NULL } },
		{ "--sslmode", { &a->sslmode, NULL } },	  { "--sslrootcert", { &a->sslrootcert, NULL } },
	};
	const char *pos[1];
	unsigned n_pos;
	char *end;
	int rc;

	rc = cc_parse(argc, argv, opts, sizeof(opts) / sizeof(opts[0]), pos, 1, &n_pos, err,
		      errlen);
	if (rc != 0)
		return rc;
	a->name = n_pos == 1 ? pos[0] : NULL;
	if (a->type != NULL && (rc = type_refusal(a->type, err, errlen)) != 0)
		return rc;
	if (a->name == NULL || a->host == NULL || a->dbname == NULL || a->user == NULL) {
		snprintf(err, errlen, "db add needs NAME, --host, --dbname and --user");
		return -EINVAL;
	}
	if (a->type == NULL)
		a->type = "postgresql";
	a->port_num = 5432;
	if (a->port != NULL) {
		/* one port, or one per host of a --host list (a replicated database) */
		if (rc_cluster_list_count(a->port, port_ok) < 0) {
			snprintf(err, errlen, "--port \"%s\" is not a port (1..65535) or a "
				 "comma-separated list of them, one per --host", a->port);
			return -EINVAL;
		}
		a->port_num = (unsigned)strtoul(a->port, &end, 10);
	}
	return 0;
}

static RC_ADMIN_HANDLER(cmd_db_add)
{
	struct cc_ctx *x = arg;
	struct db_add a = { 0 };
	json_t *dbs, *d;
	size_t i;
	int rc = db_add_args(argc, argv, &a, err, errlen);

	if (rc != 0)
		return rc;
	/* the file is checked here, in this node's secrets directory, before the state names
	 * it; every node that later connects reads it through the same reader */
	if (a.pwfile != NULL && a.pwfile[0] != '\0' &&
	    (rc = rc_cluster_check_password_file(x->cfg->secrets_dir, a.pwfile, err, errlen)) < 0)
		return rc == -EINVAL ? -EPERM : rc;
	rc = cc_change(x, mut_db_add, &a, err, errlen);
	if (rc != 0)
		return rc;
	dbs = rc_cluster_describe_dbs(rc_cluster_node_state(x->cn));
	json_array_foreach(json_object_get(dbs, "databases"), i, d) {
		if (strcmp(json_string_value(json_object_get(d, "name")), a.name) == 0)
			json_object_update(res, d);
	}
	json_decref(dbs);
	rc_text_printf(t, "database %s added: %s, host %s port %s dbname %s user %s, password "
			  "%s%s\nassign it to a group: roomcastctl db assign %s --group GROUP\n",
		       a.name, json_string_value(json_object_get(res, "type")), a.host,
		       a.port != NULL ? a.port : "5432", a.dbname, a.user,
		       a.pwfile && a.pwfile[0] ? "read from " : "none",
		       a.pwfile && a.pwfile[0] ? a.pwfile : "", a.name);
	return 0;
}

/* ---- db list, db remove ---- */

/* The port, or a replicated database's ports (one per host). */
static void
port_cell(const json_t *d, char *buf, size_t cap)
{
	const char *ports = json_string_value(json_object_get(d, "ports"));

	if (ports != NULL)
		snprintf(buf, cap, "%s", ports);
	else
		snprintf(buf, cap, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(d, "port")));
}

static const struct rc_table_col db_cols[] = {
	{ "NAME", -12, "name" },
	{ "TYPE", -10, "type" },
	{ "HOST", -24, "host" },
	{ "PORT", 5, NULL, port_cell },
	{ "DBNAME", -14, "dbname" },
	{ "USER", -12, "user" },
	{ "GROUP", -8, "group" },
	{ "NODES", -10, "nodes" },
	{ "PASSWORD", 0, "password" },
};

static RC_ADMIN_HANDLER(cmd_db_list)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *dbs;

	dbs = rc_cluster_describe_dbs(c);
	if (dbs == NULL)
		return -ENOMEM;
	rc_table_print(t, RC_TABLE(db_cols), json_object_get(dbs, "databases"));
	if (json_array_size(json_object_get(dbs, "databases")) == 0)
		rc_text_printf(t, "no database is defined (db add)\n");
	json_object_update(res, dbs);
	json_decref(dbs);
	return 0;
}

struct db_mut {
	const char *name, *group, *node;
};

static int
mut_db_remove(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct db_mut *m = arg;

	return rc_cluster_db_remove(c, origin, m->name, err, errlen);
}

static RC_ADMIN_HANDLER(cmd_db_remove)
{
	struct cc_ctx *x = arg;
	struct db_mut m = { argv[0], NULL, NULL };
	int rc;

	if (argv[0][0] == '-')
		return -EINVAL;
	rc = cc_change(x, mut_db_remove, &m, err, errlen);
	if (rc != 0)
		return rc;
	json_object_set_new(res, "removed", json_string(m.name));
	rc_text_printf(t, "database %s removed\n", m.name);
	return 0;
}

/* ---- db assign, db unassign ---- */

static int
mut_db_assign(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct db_mut *m = arg;

	if (m->group != NULL)
		return rc_cluster_db_assign(c, origin, m->name, m->group, err, errlen);
	return rc_cluster_db_assign_node(c, origin, m->name, m->node, err, errlen);
}

static int
mut_db_unassign(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct db_mut *m = arg;

	return rc_cluster_db_unassign(c, origin, m->group, m->node, err, errlen);
}

/* The nodes of the group (or the node) as they stand now, into res and t. */
static void
assignment_result(struct cc_ctx *x, const struct db_mut *m, json_t *res, struct rc_text *t)
{
	const struct rc_cluster *c = rc_cluster_node_state(x->cn);
	const struct rc_cl_group *g = NULL;
	json_t *nodes = json_array();

	if (m->group != NULL)
		g = rc_cluster_find_group(c, m->group, NULL);
	else
		rc_cluster_find_node(c, m->node, &g, NULL);
	for (unsigned i = 0; g != NULL && i < g->n_nodes; i++) {
		const struct rc_cl_node *nd = &g->nodes[i];

		json_array_append_new(nodes, json_pack("{s:s, s:s?}", "node", nd->id, "database",
						       nd->db[0] ? nd->db : NULL));
		rc_text_printf(t, "  node %s: database %s\n", nd->id, nd->db[0] ? nd->db : "none");
	}
	json_object_set_new(res, "group", g ? json_string(g->name) : json_null());
	json_object_set_new(res, "nodes", nodes);
	json_object_set_new(res, "version", json_integer((json_int_t)c->version));
}

static RC_ADMIN_HANDLER(cmd_db_assign)
{
	struct cc_ctx *x = arg;
	struct db_mut m = { 0 };
	const struct cc_opt opts[] = { { "--group", { &m.group, NULL } },
				       { "--node", { &m.node, NULL } } };
	const char *pos[1];
	unsigned n_pos;
	int rc = cc_parse(argc, argv, opts, 2, pos, 1, &n_pos, err, errlen);

	if (rc != 0)
		return rc;
	if (n_pos != 1 || (m.group == NULL) == (m.node == NULL)) {
		snprintf(err, errlen, "db assign needs NAME and one of --group G, --node N");
		return -EINVAL;
	}
	m.name = pos[0];
	rc = cc_change(x, mut_db_assign, &m, err, errlen);
	if (rc != 0)
		return rc;
	json_object_set_new(res, "database", json_string(m.name));
	rc_text_printf(t, "database %s assigned to %s %s\n", m.name, m.group ? "group" : "node",
		       m.group ? m.group : m.node);
	assignment_result(x, &m, res, t);
	return 0;
}

static RC_ADMIN_HANDLER(cmd_db_unassign)
{
	struct cc_ctx *x = arg;
	struct db_mut m = { 0 };
	const struct cc_opt opts[] = { { "--group", { &m.group, NULL } },
				       { "--node", { &m.node, NULL } } };
	const char *pos[1];
	unsigned n_pos;
	int rc = cc_parse(argc, argv, opts, 2, pos, 0, &n_pos, err, errlen);

	if (rc != 0)
		return rc;
	if (m.group == NULL) {
		snprintf(err, errlen, "db unassign needs --group G");
		return -EINVAL;
	}
	rc = cc_change(x, mut_db_unassign, &m, err, errlen);
	if (rc != 0)
		return rc;
	rc_text_printf(t, "database assignment cleared on %s%s\n", m.node ? "node " : "group ",
		       m.node ? m.node : m.group);
	assignment_result(x, &m, res, t);
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "db add",
	  "NAME --type postgresql --host H [--port P] --dbname D --user U [--password-file F] "
	  "[--sslmode M] [--sslrootcert CA]",
	  "define an external database (PostgreSQL); the password stays in F", cmd_db_add, 0,
	  RC_ADMIN_ANY },
	{ "db list", "", "the external databases and where they are assigned (no passwords)",
	  cmd_db_list, 0, 0, RC_ADMIN_NEEDS_STATE },
	{ "db remove", "NAME", "forget a database that no node and no merge job uses",
	  cmd_db_remove, 1, 1 },
	{ "db assign", "NAME --group G | NAME --node N",
	  "assign a database to both nodes of a group (or to one node while ha is off)",
	  cmd_db_assign, 0, RC_ADMIN_ANY },
	{ "db unassign", "--group G [--node N]",
	  "clear the database of a group (or of one node while ha is off)", cmd_db_unassign, 0,
	  RC_ADMIN_ANY },
};

int
cc_register_db(struct cc_ctx *x)
{
	return cc_register(x, cmds, sizeof(cmds) / sizeof(cmds[0]));
}
