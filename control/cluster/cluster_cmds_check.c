/* SPDX-License-Identifier: MIT */
/*
 * `db check` (cluster_cmds_impl.h): does every node's database work?
 *
 *   this node     rc_dbcheck_run() now, on the database the state assigns to it (conninfo
 *                 from the state, the password read from its file at this moment); without
 *                 an assignment, the node configuration's db.conninfo; without either, a
 *                 FAIL saying which command assigns one. The result is published on the
 *                 management endpoint as /v1/dbcheck.
 *   other nodes   their last published check (GET /v1/dbcheck, 2 s at most, all peers in
 *                 parallel on helper threads); a node that does not answer is a FAIL.
 *
 * So that a node always has something published, it also checks itself in the background
 * (a helper thread): after start, whenever the database it would check changes, and every
 * RC_CLUSTER_CMDS_CHECK_S seconds.
 *
 * The published document: {node, database, conninfo (no password), checked_ms, ok, passed,
 * failed, info, skipped, checks: [{subject, name, result, detail, fix}]}.
 *
 * Threads: the control thread; check_main() and peer_main() run on helper threads with
 * their own copies of everything they touch.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_cmds.h"
#include "clock.h"
#include "cluster_cmds_impl.h"
#include "dbcheck.h"
#include "log.h"
#include "merge.h"
#include "mgmt.h"

#define CONNINFO_MAX 1536
#define DOC_NAME "dbcheck"
#define DOC_PATH "/v1/dbcheck"

/* What a node checks. */
struct target {
	char database[RC_CL_NAME_MAX]; /* "" when the node configuration's db.conninfo */
	char shown[600];               /* conninfo without the password */
	char conninfo[CONNINFO_MAX];   /* with it: wipe */
	char password_file[256];
};

/* A check on a helper thread. */
struct cc_check {
	pthread_t th;
	int done; /* atomic */
	struct target tg;
	char node[RC_CL_NAME_MAX];
	struct rc_dbcheck_report r;
};

/* ---- text ---- */

void
cc_checks_text(struct rc_text *t, const json_t *checks)
{
	const json_t *c;
	size_t i;

	json_array_foreach(checks, i, c) {
		const char *res = json_string_value(json_object_get(c, "result"));
		const char *subj = json_string_value(json_object_get(c, "subject"));
		const char *fix = json_string_value(json_object_get(c, "fix"));
		char up[8] = "?";

		for (size_t k = 0; res != NULL && k < sizeof(up) - 1 && res[k]; k++)
			up[k] = (char)(res[k] >= 'a' && res[k] <= 'z' ? res[k] - 32 : res[k]),
			up[k + 1] = '\0';
		rc_text_printf(t, "  %-4s %s%s%s: %s\n", up, subj ? subj : "",
			       subj && subj[0] ? " " : "",
			       json_string_value(json_object_get(c, "name")),
			       json_string_value(json_object_get(c, "detail")));
		if (fix != NULL && fix[0] != '\0')
			rc_text_printf(t, "        %s: %s\n",
				       res && (strcmp(res, "fail") == 0 || strcmp(res, "warn") == 0)
					       ? "fix"
					       : "note",
				       fix);
	}
}

/* ---- what this node checks ---- */

/* Into tg; a problem that stops the check goes into r as a FAIL (then returns -errno). */
static int
resolve_target(struct cc_ctx *x, struct target *tg, struct rc_dbcheck_report *r)
{
	const struct rc_cluster *c = rc_cluster_node_state(x->cn);
	const struct rc_cl_group *g = NULL;
	const struct rc_cl_node *self = c ? rc_cluster_node_self(x->cn, &g) : NULL;
	const struct rc_cl_db *d = NULL;
	char err[512], fix[512];
	int rc;

	memset(tg, 0, sizeof(*tg));
	if (self != NULL && self->db[0] != '\0')
		d = rc_cluster_find_db(c, self->db);
	if (d != NULL) {
		snprintf(tg->database, sizeof(tg->database), "%s", d->name);
		snprintf(tg->password_file, sizeof(tg->password_file), "%s", d->password_file);
		rc_cluster_db_conninfo(d, tg->shown, sizeof(tg->shown));
		rc = cc_db_conninfo(x, d, tg->conninfo, sizeof(tg->conninfo), err, sizeof(err));
		if (rc != 0) {
			snprintf(fix, sizeof(fix), "put the password of role %s in %s (in %s, owned "
				 "by root, mode 0600), or define the database again with the right "
				 "--password-file", d->user, d->password_file, x->cfg->secrets_dir);
			rc_dbcheck_add(r, "", "password_file", RC_DBCHECK_FAIL, rc, fix, "%s", err);
		}
		return rc;
	}
	if (x->cfg->db_conninfo[0] != '\0') {
		rc_merge_redact(x->cfg->db_conninfo, tg->shown, sizeof(tg->shown));
		snprintf(tg->password_file, sizeof(tg->password_file), "%s",
			 x->cfg->db_password_file);
		/* a password too long for the buffer: the connection fails and says so */
		(void)rc_cluster_conninfo_password(x->cfg->db_conninfo, x->cfg->db_password,
						   tg->conninfo, sizeof(tg->conninfo));
		return 0;
	}
	snprintf(fix, sizeof(fix), "roomcastctl db assign NAME --group %s",
		 g != NULL ? g->name : "GROUP");
	rc_dbcheck_add(r, "", "database", RC_DBCHECK_FAIL, -ENOENT, fix,
		       "no database is assigned to node %s (and its configuration has no "
		       "db.conninfo)", cc_self_id(x));
	return -ENOENT;
}

/* The published document of a finished check. */
static json_t *
check_doc(const char *node, const struct target *tg, const struct rc_dbcheck_report *r)
{
	json_t *doc = rc_dbcheck_to_json(r);

	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "node", json_string(node));
	json_object_set_new(doc, "database", tg->database[0] ? json_string(tg->database)
							      : json_null());
	json_object_set_new(doc, "conninfo", json_string(tg->shown));
	json_object_set_new(doc, "checked_ms", json_integer((json_int_t)rc_wall_ms()));
	return doc;
}

static void
publish(struct cc_ctx *x, const json_t *doc)
{
	char *s;
	int rc;

	if (x->mgmt == NULL || doc == NULL)
		return;
	s = json_dumps(doc, JSON_COMPACT);
	if (s == NULL)
		return;
	rc = rc_mgmt_publish(x->mgmt, DOC_NAME, s, strlen(s));
	if (rc != 0)
		RC_WARN("db check: cannot publish the result on the management endpoint: %s",
			strerror(-rc));
	free(s);
}

/* What the background check is about: changes when the database to check changes. */
static void
target_key(struct cc_ctx *x, char *key, size_t cap)
{
	const struct rc_cluster *c = rc_cluster_node_state(x->cn);
	const struct rc_cl_node *self = c ? rc_cluster_node_self(x->cn, NULL) : NULL;
	const struct rc_cl_db *d = self && self->db[0] ? rc_cluster_find_db(c, self->db) : NULL;
	char ci[600] = "";

	if (d != NULL)
		rc_cluster_db_conninfo(d, ci, sizeof(ci));
	snprintf(key, cap, "%s|%s|%s|%s", d ? d->name : "", ci, d ? d->password_file : "",
		 d ? "" : x->cfg->db_conninfo);
}

/* ---- the background check ---- */

static void *
check_main(void *arg)
{
	struct cc_check *k = arg;
	const struct rc_dbcheck_opts o = { .node_name = k->node };

	rc_dbcheck_run(k->tg.conninfo, &o, &k->r);
	explicit_bzero(k->tg.conninfo, sizeof(k->tg.conninfo));
	__atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
check_free(struct cc_check *k)
{
	explicit_bzero(k->tg.conninfo, sizeof(k->tg.conninfo));
	free(k);
}

static void
check_start(struct cc_ctx *x)
{
	struct cc_check *k = calloc(1, sizeof(*k));
	json_t *doc;

	if (k == NULL)
		return;
	snprintf(k->node, sizeof(k->node), "%s", cc_self_id(x));
	rc_dbcheck_reset(&k->r);
	if (resolve_target(x, &k->tg, &k->r) != 0) { /* nothing to connect to: publish now */
		doc = check_doc(k->node, &k->tg, &k->r);
		publish(x, doc);
		json_decref(doc);
		check_free(k);
		return;
	}
	if (pthread_create(&k->th, NULL, check_main, k) != 0) {
		RC_WARN("db check: cannot start the background check: %s", strerror(errno));
		check_free(k);
		return;
	}
	x->check = k;
}

void
cc_check_poll(struct cc_ctx *x)
{
	struct cc_check *k = x->check;
	uint64_t now = rc_mono_ms();
	char key[sizeof(x->check_key)];
	json_t *doc;

	if (x->mgmt == NULL)
		return;
	if (k != NULL) {
		if (!__atomic_load_n(&k->done, __ATOMIC_ACQUIRE))
			return;
		pthread_join(k->th, NULL);
		doc = check_doc(k->node, &k->tg, &k->r);
		publish(x, doc);
		if (k->r.failed != 0)
			RC_WARN("db check of %s: %u check(s) failed (roomcastctl db check)",
				k->tg.database[0] ? k->tg.database : "db.conninfo", k->r.failed);
		json_decref(doc);
		check_free(k);
		x->check = NULL;
		return;
	}
	if (rc_cluster_node_state(x->cn) == NULL)
		return;
	/* the key changes only with the state: recompute it when the version moves */
	if (now < x->next_check_ms && x->check_version == rc_cluster_node_state(x->cn)->version)
		return;
	x->check_version = rc_cluster_node_state(x->cn)->version;
	target_key(x, key, sizeof(key));
	if (now < x->next_check_ms && strcmp(key, x->check_key) == 0)
		return;
	snprintf(x->check_key, sizeof(x->check_key), "%s", key);
	x->next_check_ms = now + RC_CLUSTER_CMDS_CHECK_S * 1000ull;
	check_start(x);
}

void
cc_check_fini(struct cc_ctx *x)
{
	if (x->check == NULL)
		return;
	pthread_join(x->check->th, NULL); /* bounded by the connect timeout */
	check_free(x->check);
	x->check = NULL;
}

/* ---- the peers' published checks ---- */

static void *
peer_main(void *arg)
{
	struct cc_peer *p = arg;

	p->rc = rc_mgmt_get(p->cred, p->mgmt, p->path, &p->reply);
	return NULL;
}

struct cc_peer *
cc_peers_start(struct cc_ctx *x, const struct rc_cluster *c, const struct rc_mgmt_cred *cred,
	       const char *path, unsigned *n)
{
	struct cc_peer *p = calloc(RC_CL_MAX_CLUSTERS * RC_CL_MAX_GROUPS * RC_CL_GROUP_NODES,
				   sizeof(*p));

	*n = 0;
	for (unsigned i = 0; p != NULL && i < c->n_clusters; i++)
		for (unsigned j = 0; j < c->clusters[i].n_groups; j++)
			for (unsigned k = 0; k < c->clusters[i].groups[j].n_nodes; k++) {
				const struct rc_cl_node *nd = &c->clusters[i].groups[j].nodes[k];
				struct cc_peer *q = &p[*n];

				if (strcmp(nd->id, cc_self_id(x)) == 0)
					continue;
				q->cred = cred;
				q->path = path;
				snprintf(q->node, sizeof(q->node), "%s", nd->id);
				snprintf(q->mgmt, sizeof(q->mgmt), "%s", nd->mgmt);
				q->threaded = pthread_create(&q->th, NULL, peer_main, q) == 0;
				if (!q->threaded)
					peer_main(q);
				(*n)++;
			}
	return p;
}

void
cc_peer_join(struct cc_peer *p)
{
	if (p->threaded)
		pthread_join(p->th, NULL);
	p->threaded = false;
}

/* One peer's block: its published check, or why there is none. */
static json_t *
peer_block(struct cc_peer *p, struct rc_text *t)
{
	json_t *b = NULL, *doc = NULL;
	char detail[512], fix[256];
	uint64_t now = rc_wall_ms(), at;

	cc_peer_join(p);
	fix[0] = '\0';
	if (p->rc != 0) {
		snprintf(detail, sizeof(detail), "unreachable at %s (%s)", p->mgmt,
			 strerror(-p->rc));
		snprintf(fix, sizeof(fix), "start roomcastd there or check node.mgmt_address");
	} else if (p->reply.status == 404) {
		snprintf(detail, sizeof(detail), "has published no database check yet");
		snprintf(fix, sizeof(fix), "wait for its background check, or run roomcastctl db "
					   "check on node %s", p->node);
	} else if (p->reply.status != 200) {
		snprintf(detail, sizeof(detail), "answered HTTP %ld at %s: %.200s",
			 p->reply.status, p->mgmt, p->reply.body ? p->reply.body : "");
		snprintf(fix, sizeof(fix), "check that both nodes share a cluster key "
					   "(roomcastctl keys show) and run the same version");
	} else if ((doc = json_loads(p->reply.body ? p->reply.body : "", 0, NULL)) == NULL ||
		   !json_is_array(json_object_get(doc, "checks"))) {
		snprintf(detail, sizeof(detail), "published a malformed database check");
		snprintf(fix, sizeof(fix), "run the same roomcastd version on every node");
	}
	if (fix[0] != '\0') {
		json_decref(doc);
		rc_text_printf(t, "node %s: FAIL: %s: %s\n", p->node, detail, fix);
		b = json_pack("{s:s, s:s, s:b, s:b, s:[{s:s, s:s, s:s, s:s, s:s}]}", "node",
			      p->node, "source", "published", "reachable", p->rc == 0, "ok", 0,
			      "checks", "subject", "", "name", "reachable", "result", "fail",
			      "detail", detail, "fix", fix);
		rc_mgmt_reply_free(&p->reply);
		return b;
	}
	rc_mgmt_reply_free(&p->reply);
	at = (uint64_t)json_integer_value(json_object_get(doc, "checked_ms"));
	json_object_set_new(doc, "node", json_string(p->node));
	json_object_set_new(doc, "source", json_string("published"));
	json_object_set_new(doc, "reachable", json_true());
	json_object_set_new(doc, "age_s", json_integer(now > at ? (json_int_t)(now - at) / 1000
								 : 0));
	rc_text_printf(t, "node %s: database %s (%s), checked %" PRIu64 " s ago (published by "
			  "%s)\n",
		       p->node,
		       json_string_value(json_object_get(doc, "database")) ?: "from db.conninfo",
		       json_string_value(json_object_get(doc, "conninfo")) ?: "?",
		       now > at ? (now - at) / 1000 : 0, p->node);
	cc_checks_text(t, json_object_get(doc, "checks"));
	return doc;
}

/* ---- db check ---- */

static bool
block_ok(const json_t *b)
{
	return json_is_true(json_object_get(b, "ok"));
}

static unsigned
block_failed(const json_t *b)
{
	const json_t *c;
	unsigned n = 0;
	size_t i;

	json_array_foreach(json_object_get(b, "checks"), i, c)
		n += strcmp(json_string_value(json_object_get(c, "result")) ?: "", "fail") == 0;
	return n;
}

static RC_ADMIN_HANDLER(cmd_db_check)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	const struct rc_mgmt_cred cred = { x->cfg->keys->k[0].key, x->cfg->keys->k[0].len,
					   x->cfg->node_id, x->cfg->keys };
	const struct rc_dbcheck_opts o = { .node_name = cc_self_id(x) };
	struct rc_dbcheck_report *r;
	struct target *tg;
	struct cc_peer *peers;
	json_t *nodes, *self;
	unsigned n_peers, failed = 0;
	bool ok = true;

	r = malloc(sizeof(*r));
	tg = malloc(sizeof(*tg));
	peers = r && tg ? cc_peers_start(x, c, &cred, DOC_PATH, &n_peers) : NULL;
	if (peers == NULL) {
		free(r);
		free(tg);
		return -ENOMEM;
	}
	rc_dbcheck_reset(r);
	if (resolve_target(x, tg, r) == 0)
		rc_dbcheck_run(tg->conninfo, &o, r);
	explicit_bzero(tg->conninfo, sizeof(tg->conninfo));
	self = check_doc(cc_self_id(x), tg, r);
	publish(x, self);
	target_key(x, x->check_key, sizeof(x->check_key));
	x->next_check_ms = rc_mono_ms() + RC_CLUSTER_CMDS_CHECK_S * 1000ull;
	json_object_set_new(self, "source", json_string("checked here"));
	json_object_set_new(self, "reachable", json_true());
	json_object_set_new(self, "age_s", json_integer(0));
	rc_text_printf(t, "node %s (this node): database %s (%s), checked now\n", cc_self_id(x),
		       tg->database[0] ? tg->database : tg->shown[0] ? "from db.conninfo" : "none",
		       tg->shown[0] ? tg->shown : "-");
	cc_checks_text(t, json_object_get(self, "checks"));
	nodes = json_array();
	ok = block_ok(self);
	failed = block_failed(self);
	json_array_append_new(nodes, self);
	for (unsigned i = 0; i < n_peers; i++) {
		json_t *b = peer_block(&peers[i], t);

		ok = ok && block_ok(b);
		failed += block_failed(b);
		json_array_append_new(nodes, b);
	}
	rc_text_printf(t, "db check: %u node(s), %s\n", 1 + n_peers,
		       ok ? "every check passes" : "FAILED (see the fix lines)");
	json_object_set_new(res, "ok", json_boolean(ok));
	json_object_set_new(res, "failed", json_integer(failed));
	json_object_set_new(res, "nodes", nodes);
	free(peers);
	free(tg);
	free(r);
	return 0; /* "ok": false in the result: roomcastctl exits 1 */
}

static const struct rc_admin_cmd cmds[] = {
	{ "db check", "",
	  "from every node: connection, pg_hba.conf, privileges (also a merge's), schema version"
	  " and room of its database, each with how to fix it (exit 1 when one fails)",
	  cmd_db_check, 0, 0, RC_ADMIN_NEEDS_STATE },
};

int
cc_register_check(struct cc_ctx *x)
{
	return cc_register(x, cmds, sizeof(cmds) / sizeof(cmds[0]));
}
