/* SPDX-License-Identifier: MIT */
/*
 * The cluster commands (cluster_cmds.h): registration and poll, the shared helpers of
 * cluster_cmds_impl.h, and the commands about topology and settings:
 *
 *   topology                                     every node: group, TC, HA state and reason
 *   group show [GROUP]                           one group, or all
 *   group set GROUP ha on|off                    "enable high availability"
 *   group set GROUP assignment MODE              balanced | active-standby | none
 *   chat show / chat set KEY VALUE               the persistent chat settings
 *   service start|stop|status tc [--node N]      the text conference service (default: here)
 *   verify ha                                    the HA prerequisites, each with its fix
 *
 * Every change goes through rc_cluster_node_change() with a small adapter calling the
 * cluster.h mutation; nothing here writes the state directly.
 *
 * Threads: the control thread.
 */
#include "cluster_cmds.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_table.h"
#include "clock.h"
#include "cluster_cmds_impl.h"

static struct cc_ctx *cc_the;      /* one node per process */
static rc_cluster_ha_fn cc_ha_fn;
static void *cc_ha_arg;

/* ---- shared helpers ---- */

static const struct cc_opt *
find_opt(const struct cc_opt *opts, unsigned n, const char *word, size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && strncmp(opts[i].name, word, len) == 0)
			return &opts[i];
	return NULL;
}

int
cc_parse(int argc, char **argv, const struct cc_opt *opts, unsigned n_opts, const char **pos,
	 unsigned max_pos, unsigned *n_pos, char *err, size_t errlen)
{
	*n_pos = 0;
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i], *eq = strchr(w, '='), *val;
		const struct cc_opt *o;
		unsigned k;

		if (strncmp(w, "--", 2) != 0) {
			if (*n_pos == max_pos) {
				snprintf(err, errlen, "unexpected argument \"%s\"", w);
				return -EINVAL;
			}
			pos[(*n_pos)++] = w;
			continue;
		}
		o = find_opt(opts, n_opts, w, eq ? (size_t)(eq - w) : strlen(w));
		if (o == NULL) {
			snprintf(err, errlen, "unknown option \"%.*s\"",
				 (int)(eq ? eq - w : (int)strlen(w)), w);
			return -EINVAL;
		}
		if (eq == NULL && i + 1 == argc) {
			snprintf(err, errlen, "option %s needs a value", o->name);
			return -EINVAL;
		}
		val = eq ? eq + 1 : argv[++i];
		for (k = 0; k < 2 && o->val[k] != NULL && *o->val[k] != NULL; k++)
			;
		if (k == 2 || o->val[k] == NULL) {
			snprintf(err, errlen, "option %s is given too often", o->name);
			return -EINVAL;
		}
		*o->val[k] = val;
	}
	return 0;
}

bool
cc_parse_id(const char *s, uint32_t *id)
{
	unsigned long v;
	char *end;

	if (s == NULL || *s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return false;
	*id = (uint32_t)v;
	return true;
}

const struct rc_cluster *
cc_state(struct cc_ctx *x, char *err, size_t errlen)
{
	const struct rc_cluster *c = rc_cluster_node_state(x->cn);

	if (c == NULL)
		snprintf(err, errlen, "this node holds no cluster state (node.cluster_file)");
	return c;
}

const char *
cc_self_id(const struct cc_ctx *x)
{
	return x->cfg->node_id;
}

int
cc_change(struct cc_ctx *x, rc_cluster_mut_fn fn, void *arg, char *err, size_t errlen)
{
	int rc = rc_cluster_node_change(x->cn, fn, arg, err, errlen);

	return rc == -EINVAL ? -EPERM : rc;
}

static int
cc_ready(void *ctx, char *err, size_t errlen)
{
	return cc_state(ctx, err, errlen) != NULL ? 0 : -ENODATA;
}

int
cc_register(struct cc_ctx *x, const struct rc_admin_cmd *cmds, size_t n)
{
	return rc_admin_register_table(x->admin, cmds, n, x, cc_ready);
}

/* The mutation adapters' argument: which fields a command uses is its own business. */
struct mut {
	const char *s[3];
	bool on;
};

/* ---- topology ---- */

void
rc_cluster_cmds_set_ha(rc_cluster_ha_fn fn, void *arg)
{
	cc_ha_fn = fn;
	cc_ha_arg = arg;
}

static void
ha_state(const char *node, bool ha, const char **state, const char **reason)
{
	if (cc_ha_fn != NULL && cc_ha_fn(cc_ha_arg, node, state, reason))
		return;
	*state = "Unknown";
	*reason = ha ? "Not Reported" : "High Availability Not Enabled";
}

static void
ha_state_cell(const json_t *node, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s (%s)", json_string_value(json_object_get(node, "ha_state")),
		 json_string_value(json_object_get(node, "ha_reason")));
}

static void
mgmt_cell(const json_t *node, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s", json_string_value(json_object_get(node, "mgmt")),
		 json_is_true(json_object_get(node, "self")) ? "  (this node)" : "");
}

static const struct rc_table_col topology_cols[] = {
	{ "NODE", -10, "id" },
	{ "CLUSTER", -8, "cluster" },
	{ "GROUP", -8, "group" },
	{ "HA", -3, "ha" },
	{ "TC", -8, "tc" },
	{ "HA STATE (REASON)", -40, NULL, ha_state_cell },
	{ "DATABASE", -12, "database" },
	{ "VIP", -15, "vip" },
	{ "MGMT", 0, NULL, mgmt_cell },
};

static RC_ADMIN_HANDLER(cmd_topology)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *top, *nodes, *node;
	size_t i;

	top = rc_cluster_describe_topology(c);
	if (top == NULL)
		return -errno;
	nodes = json_object_get(top, "nodes");
	rc_text_printf(t, "cluster state version %" PRIu64 " (last change by %s)\n", c->version,
		       c->origin[0] ? c->origin : "the seed");
	json_array_foreach(nodes, i, node) {
		const char *id = json_string_value(json_object_get(node, "id"));
		const char *st, *why;

		ha_state(id, json_is_true(json_object_get(node, "ha")), &st, &why);
		json_object_set_new(node, "ha_state", json_string(st));
		json_object_set_new(node, "ha_reason", json_string(why));
		json_object_set_new(node, "self", json_boolean(strcmp(id, cc_self_id(x)) == 0));
	}
	rc_table_print(t, RC_TABLE(topology_cols), nodes);
	if (json_array_size(nodes) == 0)
		rc_text_printf(t, "no node is defined (node.cluster_file seeds the state)\n");
	json_object_update(res, top);
	json_decref(top);
	return 0;
}

/* ---- group ---- */

static void
group_text(struct rc_text *t, const json_t *g)
{
	const char *db = json_string_value(json_object_get(g, "database"));
	const json_t *nodes = json_object_get(g, "nodes"), *node;
	const json_t *jobs = json_object_get(g, "merge_jobs"), *job;
	bool per_node = false;
	size_t i;

	json_array_foreach(nodes, i, node)
		per_node |= json_is_string(json_object_get(node, "database"));
	rc_text_printf(t, "group %s (cluster %s): high availability %s, assignment %s, "
			  "database %s\n",
		       json_string_value(json_object_get(g, "name")),
		       json_string_value(json_object_get(g, "cluster")),
		       json_is_true(json_object_get(g, "ha")) ? "on" : "off",
		       json_string_value(json_object_get(g, "assignment")),
		       db ? db : per_node ? "per node (see below)" : "none");
	json_array_foreach(nodes, i, node) {
		const char *ndb = json_string_value(json_object_get(node, "database"));

		rc_text_printf(t, "  node %s: vip %s:%" JSON_INTEGER_FORMAT ", mgmt %s, port %s, "
			       "tc %s, database %s\n",
			       json_string_value(json_object_get(node, "id")),
			       json_string_value(json_object_get(node, "vip")),
			       json_integer_value(json_object_get(node, "udp_port")),
			       json_string_value(json_object_get(node, "mgmt")),
			       json_string_value(json_object_get(node, "port")),
			       json_string_value(json_object_get(node, "tc")), ndb ? ndb : "none");
	}
	if (json_array_size(jobs) > 0) {
		rc_text_printf(t, "  merge jobs:");
		json_array_foreach(jobs, i, job)
			rc_text_printf(t, " %" JSON_INTEGER_FORMAT, json_integer_value(job));
		rc_text_printf(t, "\n");
	}
}

static RC_ADMIN_HANDLER(cmd_group_show)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *g, *all;

	if (argc == 1) {
		g = rc_cluster_describe_group(c, argv[0]);
		if (g == NULL && errno == ENOENT) {
			snprintf(err, errlen, "group \"%s\" does not exist (see: topology)",
				 argv[0]);
			return -ENOENT;
		}
		if (g == NULL)
			return -ENOMEM;
		group_text(t, g);
		json_object_update(res, g);
		json_decref(g);
		return 0;
	}
	all = json_array();
	for (unsigned i = 0; i < c->n_clusters; i++)
		for (unsigned j = 0; j < c->clusters[i].n_groups; j++) {
			g = rc_cluster_describe_group(c, c->clusters[i].groups[j].name);
			if (g == NULL)
				continue;
			group_text(t, g);
			json_array_append_new(all, g);
		}
	if (json_array_size(all) == 0)
		rc_text_printf(t, "no group is defined\n");
	json_object_set_new(res, "groups", all);
	return 0;
}

static int
mut_ha(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct mut *m = arg;

	return rc_cluster_group_set_ha(c, origin, m->s[0], m->on, err, errlen);
}

static int
mut_assign_mode(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct mut *m = arg;

	return rc_cluster_group_set_assign(c, origin, m->s[0], m->s[1], err, errlen);
}

/* on/off words: 1, 0, or -1. */
static int
on_off(const char *s)
{
	static const char *const yes[] = { "on", "true", "yes", "1", "enable", "enabled" };
	static const char *const no[] = { "off", "false", "no", "0", "disable", "disabled" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

static RC_ADMIN_HANDLER(cmd_group_set)
{
	struct cc_ctx *x = arg;
	struct mut m = { { argv[0], argv[2], NULL }, false };
	int rc, on;

	if (strcmp(argv[1], "ha") == 0) {
		on = on_off(argv[2]);
		if (on < 0) {
			snprintf(err, errlen, "ha: \"%s\" is neither on nor off", argv[2]);
			return -EINVAL;
		}
		m.on = on;
		rc = cc_change(x, mut_ha, &m, err, errlen);
	} else if (strcmp(argv[1], "assignment") == 0) {
		if (rc_cl_assign_parse(argv[2]) < 0) {
			snprintf(err, errlen, "assignment: \"%s\" is not balanced, active-standby "
					      "or none", argv[2]);
			return -EINVAL;
		}
		rc = cc_change(x, mut_assign_mode, &m, err, errlen);
	} else {
		snprintf(err, errlen, "unknown group setting \"%s\" (settings: ha, assignment)",
			 argv[1]);
		return -EINVAL;
	}
	if (rc != 0)
		return rc;
	json_object_set_new(res, "group", json_string(argv[0]));
	json_object_set_new(res, argv[1], strcmp(argv[1], "ha") == 0 ? json_boolean(m.on)
								     : json_string(argv[2]));
	json_object_set_new(res, "version",
			    json_integer((json_int_t)rc_cluster_node_state(x->cn)->version));
	rc_text_printf(t, "group %s: %s %s\n", argv[0], argv[1],
		       strcmp(argv[1], "ha") == 0 ? (m.on ? "on" : "off") : argv[2]);
	return 0;
}

/* ---- chat ---- */

static void
chat_text(struct rc_text *t, const json_t *chat)
{
	const char *key;
	json_t *v, *u;
	size_t i;

	json_object_foreach((json_t *)chat, key, v) {
		rc_text_printf(t, "%-22s = ", key);
		if (json_is_boolean(v))
			rc_text_printf(t, "%s", json_is_true(v) ? "true" : "false");
		else if (json_is_integer(v))
			rc_text_printf(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		else if (json_is_array(v))
			json_array_foreach(v, i, u)
				rc_text_printf(t, "%s%s", i ? "," : "", json_string_value(u));
		else if (json_is_string(v))
			rc_text_printf(t, "%s", json_string_value(v));
		rc_text_printf(t, "\n");
	}
}

static RC_ADMIN_HANDLER(cmd_chat_show)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *chat;

	chat = rc_cluster_describe_chat(c);
	if (chat == NULL)
		return -ENOMEM;
	chat_text(t, chat);
	json_object_update(res, chat);
	json_decref(chat);
	return 0;
}

static int
mut_chat(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct mut *m = arg;

	return rc_cluster_chat_set(c, origin, m->s[0], m->s[1], err, errlen);
}

static bool
chat_key_known(const char *key)
{
	for (size_t i = 0; rc_cluster_chat_keys[i] != NULL; i++)
		if (strcmp(rc_cluster_chat_keys[i], key) == 0)
			return true;
	return false;
}

static RC_ADMIN_HANDLER(cmd_chat_set)
{
	struct cc_ctx *x = arg;
	struct mut m = { { argv[0], argv[1], NULL }, false };
	json_t *chat;
	int rc;

	if (!chat_key_known(argv[0])) {
		size_t len = (size_t)snprintf(err, errlen, "unknown chat setting \"%s\"; settings:",
					      argv[0]);

		for (size_t i = 0; rc_cluster_chat_keys[i] != NULL && len < errlen; i++)
			len += (size_t)snprintf(err + len, errlen - len, "%s %s", i ? "," : "",
						rc_cluster_chat_keys[i]);
		return -EINVAL;
	}
	rc = cc_change(x, mut_chat, &m, err, errlen);
	if (rc != 0)
		return rc;
	chat = rc_cluster_describe_chat(rc_cluster_node_state(x->cn));
	json_object_set_new(res, "key", json_string(argv[0]));
	json_object_set(res, "value", json_object_get(chat, argv[0]));
	json_object_set_new(res, "version",
			    json_integer((json_int_t)rc_cluster_node_state(x->cn)->version));
	rc_text_printf(t, "chat %s set (cluster state version %" PRIu64 "); now:\n", argv[0],
		       rc_cluster_node_state(x->cn)->version);
	chat_text(t, chat);
	json_decref(chat);
	return 0;
}

/* ---- service ---- */

static int
mut_service(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct mut *m = arg;

	return rc_cluster_service_set(c, origin, m->s[0], "tc", m->s[1], err, errlen);
}

/* "tc [--node N]" into *node (default: this node). -EINVAL with the reason. */
static int
service_args(struct cc_ctx *x, int argc, char **argv, const char **node, char *err,
	     size_t errlen)
{
	const struct cc_opt opts[] = { { "--node", { node, NULL } } };
	const char *pos[1];
	unsigned n_pos;
	int rc;

	*node = NULL;
	rc = cc_parse(argc, argv, opts, 1, pos, 1, &n_pos, err, errlen);
	if (rc != 0)
		return rc;
	if (n_pos != 1) {
		snprintf(err, errlen, "name the service: tc (text conference)");
		return -EINVAL;
	}
	if (strcasecmp(pos[0], "tc") != 0) {
		snprintf(err, errlen, "unknown service \"%s\": the only service is tc (text "
				      "conference)", pos[0]);
		return -EINVAL;
	}
	if (*node == NULL)
		*node = cc_self_id(x);
	return 0;
}

static int
service_set(struct cc_ctx *x, int argc, char **argv, bool start, json_t *res,
	    struct rc_text *t, char *err, size_t errlen)
{
	struct mut m = { { NULL, start ? "started" : "stopped", NULL }, false };
	int rc = service_args(x, argc, argv, &m.s[0], err, errlen);

	if (rc != 0)
		return rc;
	rc = cc_change(x, mut_service, &m, err, errlen);
	if (rc != 0)
		return rc;
	json_object_set_new(res, "node", json_string(m.s[0]));
	json_object_set_new(res, "service", json_string("tc"));
	json_object_set_new(res, "state", json_string(m.s[1]));
	rc_text_printf(t, "TC service %s on node %s%s\n", m.s[1], m.s[0],
		       start ? ": it hosts rooms again"
			     : ": it hosts no rooms; its clients get ERROR 8 until it is started "
			       "again");
	return 0;
}

static RC_ADMIN_HANDLER(cmd_service_start)
{
	return service_set(arg, argc, argv, true, res, t, err, errlen);
}

static RC_ADMIN_HANDLER(cmd_service_stop)
{
	return service_set(arg, argc, argv, false, res, t, err, errlen);
}

static RC_ADMIN_HANDLER(cmd_service_status)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c;
	const struct rc_cl_group *g = NULL;
	const struct rc_cl_node *nd;
	const char *node;
	int rc = service_args(x, argc, argv, &node, err, errlen);

	if (rc != 0)
		return rc;
	c = cc_state(x, err, errlen);
	if (c == NULL)
		return -ENODATA;
	nd = rc_cluster_find_node(c, node, &g, NULL);
	if (nd == NULL) {
		snprintf(err, errlen, "node \"%s\" does not exist (see: topology)", node);
		return -ENOENT;
	}
	json_object_set_new(res, "node", json_string(nd->id));
	json_object_set_new(res, "group", json_string(g->name));
	json_object_set_new(res, "service", json_string("tc"));
	json_object_set_new(res, "state", json_string(rc_cl_svc_name(nd->tc)));
	rc_text_printf(t, "TC service on node %s (group %s): %s\n", nd->id, g->name,
		       rc_cl_svc_name(nd->tc));
	return 0;
}

/* ---- verify ha ---- */

/* A database no group uses (for a fix line), or NULL. */
static const char *
spare_db(const struct rc_cluster *c)
{
	for (unsigned d = 0; d < c->n_dbs; d++) {
		bool used = false;

		for (unsigned i = 0; !used && i < c->n_clusters; i++)
			for (unsigned j = 0; !used && j < c->clusters[i].n_groups; j++)
				for (unsigned k = 0; k < c->clusters[i].groups[j].n_nodes; k++)
					used |= strcmp(c->clusters[i].groups[j].nodes[k].db,
						       c->dbs[d].name) == 0;
		if (!used)
			return c->dbs[d].name;
	}
	return NULL;
}

/* The command that fixes a failing check of rc_cluster_describe_checks. */
static void
ha_fix(const struct rc_cluster *c, const char *check, char *fix, size_t cap)
{
	const struct rc_cl_group *g;
	const char *spare = spare_db(c), *name;

	if (strcmp(check, "persistent chat enabled") == 0) {
		snprintf(fix, cap, "roomcastctl chat set enabled true");
	} else if (strncmp(check, "TC service on node ", 19) == 0) {
		snprintf(fix, cap, "roomcastctl service start tc --node %s", check + 19);
	} else if (strncmp(check, "high availability on group ", 27) == 0) {
		name = check + 27;
		g = rc_cluster_find_group(c, name, NULL);
		if (g != NULL && g->n_nodes < 2)
			snprintf(fix, cap, "add a second node to group %s in the cluster file "
					   "(node.cluster_file), then: roomcastctl group set %s ha on",
				 name, name);
		else if (g != NULL && rc_cluster_group_db(g) == NULL)
			snprintf(fix, cap, "roomcastctl db assign NAME --group %s, then "
					   "roomcastctl group set %s ha on", name, name);
		else
			snprintf(fix, cap, "roomcastctl group set %s ha on", name);
	} else if (strncmp(check, "database of group ", 18) == 0) {
		name = check + 18;
		g = rc_cluster_find_group(c, name, NULL);
		if (g != NULL && rc_cluster_group_db(g) == NULL)
			snprintf(fix, cap, "roomcastctl db merge add --source %s --source %s "
					   "--target %s, then roomcastctl db assign %s --group %s",
				 g->nodes[0].db, g->nodes[1].db, spare ? spare : "NEW",
				 spare ? spare : "NEW", name);
		else
			snprintf(fix, cap, "%sroomcastctl db assign %s --group %s",
				 spare ? "" : "roomcastctl db add NAME --type postgresql --host H "
					      "--port P --dbname D --user U --password-file F, then ",
				 spare ? spare : "NAME", name);
	} else {
		fix[0] = '\0';
	}
}

static RC_ADMIN_HANDLER(cmd_verify_ha)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *v, *checks, *ck;
	unsigned failed = 0;
	char fix[512];
	size_t i;

	v = rc_cluster_describe_checks(c);
	if (v == NULL)
		return -ENOMEM;
	checks = json_object_get(v, "checks");
	json_array_foreach(checks, i, ck) {
		const char *name = json_string_value(json_object_get(ck, "check"));
		bool ok = json_is_true(json_object_get(ck, "ok"));

		fix[0] = '\0';
		if (!ok) {
			failed++;
			ha_fix(c, name, fix, sizeof(fix));
		}
		json_object_set_new(ck, "fix", json_string(fix));
		rc_text_printf(t, "%s  %s: %s\n", ok ? "PASS" : "FAIL", name,
			       json_string_value(json_object_get(ck, "detail")));
		if (fix[0] != '\0')
			rc_text_printf(t, "      fix: %s\n", fix);
	}
	if (failed == 0)
		rc_text_printf(t, "high availability prerequisites: all %zu checks pass\n",
			       json_array_size(checks));
	else
		rc_text_printf(t, "high availability prerequisites: %u of %zu checks FAIL\n",
			       failed, json_array_size(checks));
	json_object_set_new(v, "failed", json_integer(failed));
	json_object_update(res, v);
	json_decref(v);
	return 0; /* "ok": false in the result: roomcastctl exits 1 */
}

/* ---- registration, poll, fini ---- */

static const struct rc_admin_cmd cmds[] = {
	{ "topology", "", "every node: cluster, group, HA, TC service, HA state and reason",
	  cmd_topology, 0, 0, RC_ADMIN_NEEDS_STATE },
	{ "group show", "[GROUP]", "a group (or every group): HA, assignment, nodes, database",
	  cmd_group_show, 0, 1, RC_ADMIN_NEEDS_STATE },
	{ "group set", "GROUP ha on|off | GROUP assignment balanced|active-standby|none",
	  "enable or disable high availability; how users are spread over the pair",
	  cmd_group_set, 3, 3 },
	{ "chat show", "", "the persistent chat settings", cmd_chat_show, 0, 0,
	  RC_ADMIN_NEEDS_STATE },
	{ "chat set", "KEY VALUE", "change a persistent chat setting (see chat show)",
	  cmd_chat_set, 2, 2 },
	{ "service start", "tc [--node N]", "start the text conference service (default: here)",
	  cmd_service_start, 0, RC_ADMIN_ANY },
	{ "service stop", "tc [--node N]",
	  "stop the text conference service: the node hosts no rooms", cmd_service_stop, 0,
	  RC_ADMIN_ANY },
	{ "service status", "tc [--node N]", "the text conference service's state",
	  cmd_service_status, 0, RC_ADMIN_ANY },
	{ "verify ha", "", "the high availability prerequisites, each with the command that "
			   "fixes it (exit 1 when one fails)", cmd_verify_ha, 0, 0,
	  RC_ADMIN_NEEDS_STATE },
};

int
rc_cluster_cmds_register(struct rc_cluster_node *cn, const struct rc_cluster_settings *cfg,
			 struct rc_admin *admin, struct rc_mgmt *mgmt)
{
	struct cc_ctx *x;
	int rc;

	if (cc_the != NULL)
		return -EEXIST;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	*x = (struct cc_ctx){ .cn = cn, .cfg = cfg, .admin = admin, .mgmt = mgmt };
	rc = cc_register(x, cmds, sizeof(cmds) / sizeof(cmds[0]));
	if (rc == 0)
		rc = cc_register_db(x);
	if (rc == 0)
		rc = cc_register_check(x);
	if (rc == 0)
		rc = cc_register_merge(x);
	cc_the = x; /* even on failure: the admin table holds x */
	return rc;
}

void
rc_cluster_cmds_poll(struct rc_cluster_node *cn)
{
	struct cc_ctx *x = cc_the;

	if (x == NULL || x->cn != cn)
		return;
	cc_merge_poll(x);
	cc_check_poll(x);
	x->polled = true;
}

void
rc_cluster_cmds_fini(struct rc_cluster_node *cn)
{
	struct cc_ctx *x = cc_the;

	if (x == NULL || x->cn != cn)
		return;
	cc_check_fini(x);
	cc_merge_fini(x);
	/* x stays: the admin table (closed later or already) may still point at it */
}
