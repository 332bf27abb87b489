/* SPDX-License-Identifier: MIT */
/*
 * Database merge jobs (cluster_cmds_impl.h): the cluster state keeps the jobs and their
 * outcome (cluster.h), storage/merge.h does the database work.
 *
 *   db merge add --source A --source B --target T [--group G]   a job, state "created"
 *   db merge list | db merge show JOB | db merge remove JOB
 *   db merge validate JOB   refused unless TC is stopped on both nodes of the group (the
 *                           refusal of rc_cluster_merge_check, the one text for it); then
 *                           rc_merge_validate() on the control thread (bounded by the
 *                           connect timeouts): validated | validation-failed
 *   db merge run JOB        only a validated job; "running" is recorded and the merge runs on
 *                           a thread of its own; rc_cluster_cmds_poll() records done | failed
 *                           (or validation-failed when its re-check fails). A done job is
 *                           never run again ("already done": nothing changes).
 *
 * Mapping of merge.h onto the state: rows[table][source A, source B, target] -> tables[table]
 * {source_a, source_b, target} (same table order); conflicts = rooms in both sources +
 * members in both + duplicate messages folded; renumbered = merge_seq_map rows (messages
 * given a new seq). The job's uid in the target's merge_jobs table is "rc-ID-CREATEDMS(hex)",
 * the same on every node, so a job done from one node is "already done" from the other.
 *
 * A node that runs a merge writes DATA_DIR/merge-running (the job id) until it ends: after a
 * crash or a stop in between, the next start records the job as failed (interrupted; the
 * target is unchanged: the merge is one transaction).
 *
 * Threads: the control thread; run_main() on the merge thread, with copies only.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_table.h"
#include "clock.h"
#include "cluster_cmds_impl.h"
#include "log.h"
#include "merge.h"

#define CONNINFO_MAX 1536

_Static_assert((int)RC_CL_TABLE_MAX == (int)RC_MERGE_T_MAX, "merge tables differ");

struct cc_run {
	pthread_t th;
	int done; /* atomic */
	uint32_t id;
	char group[RC_CL_NAME_MAX];
	char node[2][RC_CL_NAME_MAX];
	char conninfo[RC_MERGE_DB_MAX][CONNINFO_MAX];
	struct rc_merge_params p;
	struct rc_merge_job job;
	struct rc_dbcheck_report r;
	bool already_done;
	int rc;
};

/* ---- the job as merge.h sees it ---- */

static enum rc_merge_state
merge_state_of(enum rc_cl_merge_state s)
{
	switch (s) {
	case RC_CL_MERGE_VALIDATED:
	case RC_CL_MERGE_RUNNING: return RC_MERGE_VALIDATED;
	case RC_CL_MERGE_VALIDATION_FAILED: return RC_MERGE_INVALID;
	case RC_CL_MERGE_DONE: return RC_MERGE_DONE;
	case RC_CL_MERGE_FAILED: return RC_MERGE_FAILED;
	default: return RC_MERGE_ADDED;
	}
}

static void
job_of(const struct rc_cluster *c, const struct rc_cl_merge *m, struct rc_merge_job *j)
{
	const char *names[RC_MERGE_DB_MAX] = { m->sources[0], m->sources[1], m->target };

	memset(j, 0, sizeof(*j));
	j->id = m->id;
	snprintf(j->uid, sizeof(j->uid), "rc-%" PRIu32 "-%" PRIx64, m->id, m->created_ms);
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++) {
		const struct rc_cl_db *db = rc_cluster_find_db(c, names[d]);
		char ci[300] = "";

		if (db != NULL)
			rc_cluster_db_conninfo(db, ci, sizeof(ci));
		snprintf(j->db[d], sizeof(j->db[d]), "%s%s%.200s%s", names[d], ci[0] ? " (" : "",
			 ci, ci[0] ? ")" : "");
	}
	j->state = merge_state_of(m->state);
	j->created_s = (int64_t)(m->created_ms / 1000);
}

/* The connections and the TC states for p, into the buffers of run. 0 or -errno. */
static int
params_of(const struct cc_ctx *x, const struct rc_cluster *c, const struct rc_cl_merge *m,
	  struct cc_run *run, char *err, size_t errlen)
{
	const char *names[RC_MERGE_DB_MAX] = { m->sources[0], m->sources[1], m->target };
	const struct rc_cl_group *g = rc_cluster_find_group(c, m->group, NULL);
	int rc;

	if (g == NULL || g->n_nodes < 2) {
		snprintf(err, errlen, "group %s no longer has two nodes", m->group);
		return -ENOENT;
	}
	memset(&run->p, 0, sizeof(run->p));
	snprintf(run->group, sizeof(run->group), "%s", g->name);
	for (unsigned i = 0; i < 2; i++) {
		snprintf(run->node[i], sizeof(run->node[i]), "%s", g->nodes[i].id);
		run->p.node[i] = run->node[i];
		run->p.tc_stopped[i] = g->nodes[i].tc == RC_CL_SVC_STOPPED;
	}
	for (unsigned d = 0; d < RC_MERGE_DB_MAX; d++) {
		const struct rc_cl_db *db = rc_cluster_find_db(c, names[d]);

		if (db == NULL) {
			snprintf(err, errlen, "database %s does not exist", names[d]);
			return -ENOENT;
		}
		rc = cc_db_conninfo(x, db, run->conninfo[d], sizeof(run->conninfo[d]), err,
				    errlen);
		if (rc != 0)
			return rc;
		run->p.conninfo[d] = run->conninfo[d];
	}
	return 0;
}

static void
run_wipe(struct cc_run *run)
{
	explicit_bzero(run->conninfo, sizeof(run->conninfo));
}

/* ---- recording the outcome ---- */

struct upd {
	uint32_t id;
	struct rc_cl_merge_progress p;
};

static int
mut_update(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	const struct upd *u = arg;

	return rc_cluster_merge_update(c, origin, u->id, &u->p, err, errlen);
}

/* Record state s for m, keeping its counts; error NULL keeps the text. */
static int
record_keep(struct cc_ctx *x, const struct rc_cl_merge *m, enum rc_cl_merge_state s,
	    const char *error, char *err, size_t errlen)
{
	struct upd u = { m->id, { .state = s, .conflicts = m->conflicts,
				  .renumbered = m->renumbered, .error = error } };

	memcpy(u.p.tables, m->tables, sizeof(u.p.tables));
	return cc_change(x, mut_update, &u, err, errlen);
}

/* Record state s with the counts of a merge. */
static int
record_stats(struct cc_ctx *x, uint32_t id, enum rc_cl_merge_state s,
	     const struct rc_merge_stats *st, const char *error, char *err, size_t errlen)
{
	struct upd u = { id, { .state = s, .error = error } };

	for (unsigned t = 0; t < RC_CL_TABLE_MAX; t++) {
		u.p.tables[t].source_a = st->rows[t][RC_MERGE_SOURCE_A];
		u.p.tables[t].source_b = st->rows[t][RC_MERGE_SOURCE_B];
		u.p.tables[t].target = st->rows[t][RC_MERGE_TARGET];
	}
	u.p.conflicts = st->rooms_in_both + st->members_in_both + st->duplicates_folded;
	u.p.renumbered = st->seq_map_rows;
	return cc_change(x, mut_update, &u, err, errlen);
}

/* ---- the running marker ---- */

static void
marker_path(struct cc_ctx *x, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/merge-running", x->cfg->data_dir);
}

static void
marker_set(struct cc_ctx *x, uint32_t id)
{
	char path[600];
	FILE *f;

	marker_path(x, path, sizeof(path));
	f = fopen(path, "w");
	if (f == NULL || fprintf(f, "%" PRIu32 "\n", id) < 0 || fclose(f) != 0)
		RC_WARN("merge job %" PRIu32 ": cannot write %s: %s (a crash during the merge "
			"would leave the job shown as running)", id, path, strerror(errno));
}

static void
marker_clear(struct cc_ctx *x)
{
	char path[600];

	marker_path(x, path, sizeof(path));
	unlink(path);
}

/* At the first poll: a merge this node ran when it stopped is failed, not running. */
static void
recover_interrupted(struct cc_ctx *x)
{
	const struct rc_cluster *c = rc_cluster_node_state(x->cn);
	const struct rc_cl_merge *m;
	char path[600], err[512], why[256];
	unsigned long id = 0;
	FILE *f;

	marker_path(x, path, sizeof(path));
	f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fscanf(f, "%lu", &id) != 1)
		id = 0;
	fclose(f);
	m = c != NULL ? rc_cluster_find_merge(c, (uint32_t)id) : NULL;
	if (m != NULL && m->state == RC_CL_MERGE_RUNNING) {
		snprintf(why, sizeof(why), "interrupted: roomcastd on node %s stopped while the "
			 "merge ran; the target is unchanged (one transaction): validate and run "
			 "it again", cc_self_id(x));
		if (record_keep(x, m, RC_CL_MERGE_FAILED, why, err, sizeof(err)) == 0)
			RC_WARN("merge job %lu: %s", id, why);
		else
			RC_ERR("merge job %lu was interrupted; cannot record it: %s", id, err);
	}
	marker_clear(x);
}

/* ---- the merge thread ---- */

static void *
run_main(void *arg)
{
	struct cc_run *run = arg;

	run->rc = rc_merge_run(&run->job, &run->p, &run->r, &run->already_done);
	run_wipe(run);
	__atomic_store_n(&run->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void
reminder(const struct rc_cl_merge *m, const struct rc_cluster *c, char *buf, size_t cap)
{
	const struct rc_cl_group *g = rc_cluster_find_group(c, m->group, NULL);
	size_t len;

	len = (size_t)snprintf(buf, cap, "assign the target to the group (roomcastctl db assign "
			       "%s --group %s) and start TC (", m->target, m->group);
	for (unsigned i = 0; g != NULL && i < g->n_nodes && len < cap; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%sroomcastctl service start tc "
					"--node %s", i ? "; " : "", g->nodes[i].id);
	if (len < cap)
		snprintf(buf + len, cap - len, ")");
}

/* The merge thread ended: record what it did. */
static void
run_finished(struct cc_ctx *x, struct cc_run *run)
{
	const struct rc_cluster *c = rc_cluster_node_state(x->cn);
	enum rc_cl_merge_state s;
	char err[512], rem[512];
	const char *why = run->job.error;
	int rc;

	if (run->rc == 0)
		s = RC_CL_MERGE_DONE;
	else if (run->job.state == RC_MERGE_INVALID)
		s = RC_CL_MERGE_VALIDATION_FAILED;
	else
		s = RC_CL_MERGE_FAILED;
	rc = record_stats(x, run->id, s, &run->job.stats, run->rc == 0 ? "" : why, err,
			  sizeof(err));
	json_decref(x->last_run);
	x->last_run = json_pack("{s:I, s:b, s:o*, s:o*}", "id", (json_int_t)run->id,
				"already_done", run->already_done, "checks",
				rc_dbcheck_to_json(&run->r), "job", rc_merge_job_to_json(&run->job));
	if (rc != 0)
		RC_ERR("merge job %" PRIu32 " ended (%s) but cannot be recorded: %s", run->id,
		       rc_cl_merge_state_name(s), err);
	else if (s == RC_CL_MERGE_DONE && c != NULL && rc_cluster_find_merge(c, run->id)) {
		reminder(rc_cluster_find_merge(c, run->id), c, rem, sizeof(rem));
		RC_INFO("merge job %" PRIu32 " done%s: %" PRIu64 " messages in the target; now %s",
			run->id, run->already_done ? " (already done before)" : "",
			run->job.stats.rows[RC_MERGE_T_MESSAGES][RC_MERGE_TARGET], rem);
	} else {
		RC_ERR("merge job %" PRIu32 " %s: %s", run->id, rc_cl_merge_state_name(s), why);
	}
	marker_clear(x);
}

void
cc_merge_poll(struct cc_ctx *x)
{
	struct cc_run *run = x->run;

	if (!x->polled)
		recover_interrupted(x);
	if (run == NULL || !__atomic_load_n(&run->done, __ATOMIC_ACQUIRE))
		return;
	pthread_join(run->th, NULL);
	run_finished(x, run);
	free(run);
	x->run = NULL;
}

void
cc_merge_fini(struct cc_ctx *x)
{
	if (x->run != NULL && __atomic_load_n(&x->run->done, __ATOMIC_ACQUIRE)) {
		cc_merge_poll(x);
	} else if (x->run != NULL) {
		RC_WARN("merge job %" PRIu32 " is still running: abandoned (its target transaction "
			"rolls back; the job is marked failed at the next start)", x->run->id);
		pthread_detach(x->run->th); /* the process exits; run stays allocated */
		x->run = NULL;
	}
	json_decref(x->last_run);
	x->last_run = NULL;
}

/* ---- commands ---- */

/* The job the word JOB names, or NULL with the reason (*rc set). */
static const struct rc_cl_merge *
job_arg(struct cc_ctx *x, const char *job, const struct rc_cluster **c, int *rc, char *err,
	size_t errlen)
{
	uint32_t id;
	const struct rc_cl_merge *m;

	*rc = -EINVAL;
	if (!cc_parse_id(job, &id)) {
		snprintf(err, errlen, "JOB \"%s\" is not a job id (see: db merge list)", job);
		return NULL;
	}
	*c = cc_state(x, err, errlen);
	*rc = -ENODATA;
	if (*c == NULL)
		return NULL;
	m = rc_cluster_find_merge(*c, id);
	*rc = -ENOENT;
	if (m == NULL)
		snprintf(err, errlen, "merge job %" PRIu32 " does not exist (see: db merge list)",
			 id);
	return m;
}

struct add {
	const char *src[2], *target, *group;
	uint32_t id;
};

static int
mut_add(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	struct add *a = arg;

	return rc_cluster_merge_add(c, origin, a->src, a->target, a->group, &a->id, err, errlen);
}

static RC_ADMIN_HANDLER(cmd_merge_add)
{
	struct cc_ctx *x = arg;
	struct add a = { { NULL, NULL }, NULL, NULL, 0 };
	const struct cc_opt opts[] = { { "--source", { &a.src[0], &a.src[1] } },
				       { "--target", { &a.target, NULL } },
				       { "--group", { &a.group, NULL } } };
	const struct rc_cl_merge *m;
	const char *pos[1];
	unsigned n_pos;
	json_t *j;
	int rc = cc_parse(argc, argv, opts, 3, pos, 0, &n_pos, err, errlen);

	if (rc != 0)
		return rc;
	if (a.src[0] == NULL || a.src[1] == NULL || a.target == NULL) {
		snprintf(err, errlen, "a merge job needs two --source databases and a --target");
		return -EINVAL;
	}
	rc = cc_change(x, mut_add, &a, err, errlen);
	if (rc != 0)
		return rc;
	m = rc_cluster_find_merge(rc_cluster_node_state(x->cn), a.id);
	j = rc_cluster_describe_merge(rc_cluster_node_state(x->cn), a.id);
	json_object_update(res, j);
	json_decref(j);
	rc_text_printf(t, "merge job %" PRIu32 " added: group %s, sources %s and %s, target %s\n"
			  "next: stop TC on both nodes of group %s, then roomcastctl db merge "
			  "validate %" PRIu32 "\n",
		       a.id, m ? m->group : "?", a.src[0], a.src[1], a.target, m ? m->group : "?",
		       a.id);
	return 0;
}

static void
sources_cell(const json_t *job, char *buf, size_t cap)
{
	const json_t *src = json_object_get(job, "sources");

	snprintf(buf, cap, "%s + %s", json_string_value(json_array_get(src, 0)),
		 json_string_value(json_array_get(src, 1)));
}

static const struct rc_table_col merge_cols[] = {
	{ "ID", -4, "id" },
	{ "STATE", -18, "state" },
	{ "GROUP", -8, "group" },
	{ "SOURCES", -24, NULL, sources_cell },
	{ "TARGET", 0, "target" },
};

static RC_ADMIN_HANDLER(cmd_merge_list)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = cc_state(x, err, errlen);
	json_t *j;

	j = rc_cluster_describe_merges(c);
	if (j == NULL)
		return -ENOMEM;
	rc_table_print(t, RC_TABLE(merge_cols), json_object_get(j, "merge_jobs"));
	if (c->n_merges == 0)
		rc_text_printf(t, "no merge job (db merge add)\n");
	json_object_update(res, j);
	json_decref(j);
	return 0;
}

static void
merge_text(struct rc_text *t, const struct rc_cluster *c, const struct rc_cl_merge *m,
	   bool running_here)
{
	static const char *const tables[] = { "rooms", "members", "messages", "drain_alarms",
					      "drain_state" };
	char rem[512];

	rc_text_printf(t, "merge job %" PRIu32 ": %s%s (group %s)\n", m->id,
		       rc_cl_merge_state_name(m->state), running_here ? " on this node" : "",
		       m->group);
	rc_text_printf(t, "  source A  %s\n  source B  %s\n  target    %s\n", m->sources[0],
		       m->sources[1], m->target);
	rc_text_printf(t, "  %-14s %10s %10s %10s\n", "TABLE", "SOURCE A", "SOURCE B", "TARGET");
	for (unsigned i = 0; i < RC_CL_TABLE_MAX; i++)
		rc_text_printf(t, "  %-14s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 "\n", tables[i],
			       m->tables[i].source_a, m->tables[i].source_b,
			       m->tables[i].target);
	rc_text_printf(t, "  conflicts %" PRIu64 " (rooms or members in both sources, duplicate "
			  "messages folded), renumbered %" PRIu64 " message(s)\n",
		       m->conflicts, m->renumbered);
	if (m->error[0] != '\0')
		rc_text_printf(t, "  error: %s\n", m->error);
	if (m->state == RC_CL_MERGE_DONE) {
		reminder(m, c, rem, sizeof(rem));
		rc_text_printf(t, "  next: %s\n", rem);
	} else if (m->state == RC_CL_MERGE_CREATED || m->state == RC_CL_MERGE_VALIDATION_FAILED ||
		   m->state == RC_CL_MERGE_FAILED) {
		rc_text_printf(t, "  next: roomcastctl db merge validate %" PRIu32 "\n", m->id);
	} else if (m->state == RC_CL_MERGE_VALIDATED) {
		rc_text_printf(t, "  next: roomcastctl db merge run %" PRIu32 "\n", m->id);
	}
}

static RC_ADMIN_HANDLER(cmd_merge_show)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = NULL;
	int rc;
	const struct rc_cl_merge *m = job_arg(x, argv[0], &c, &rc, err, errlen);
	bool here;
	json_t *j;
	char rem[512];

	if (m == NULL)
		return rc;
	here = x->run != NULL && x->run->id == m->id;
	j = rc_cluster_describe_merge(c, m->id);
	if (j == NULL)
		return -ENOMEM;
	json_object_set_new(j, "running_here", json_boolean(here));
	if (m->state == RC_CL_MERGE_DONE) {
		reminder(m, c, rem, sizeof(rem));
		json_object_set_new(j, "next", json_string(rem));
	}
	if (x->last_run != NULL &&
	    json_integer_value(json_object_get(x->last_run, "id")) == (json_int_t)m->id)
		json_object_set(j, "last_run_here", x->last_run);
	merge_text(t, c, m, here);
	json_object_update(res, j);
	json_decref(j);
	return 0;
}

/* Validates job *m of cluster state c into v and records the verdict (*s); *m becomes the
 * job's row after the record. */
static int
validate_job(struct cc_ctx *x, const struct rc_cluster *c, const struct rc_cl_merge **m,
	     struct cc_run *v, enum rc_cl_merge_state *s, char *err, size_t errlen)
{
	uint32_t id = (*m)->id;
	int rc;

	job_of(c, *m, &v->job);
	rc = params_of(x, c, *m, v, err, errlen);
	if (rc != 0)
		return rc;
	rc_merge_validate(&v->job, &v->p, &v->r); /* the verdict is in v->job and v->r */
	run_wipe(v);
	*s = v->job.state == RC_MERGE_VALIDATED || v->job.state == RC_MERGE_DONE ?
		     RC_CL_MERGE_VALIDATED : RC_CL_MERGE_VALIDATION_FAILED;
	c = rc_cluster_node_state(x->cn);
	*m = rc_cluster_find_merge(c, id);
	rc = *m ? record_keep(x, *m, *s, *s == RC_CL_MERGE_VALIDATED ? "" : v->job.error, err,
			      errlen) : -ENOENT;
	if (rc == 0 && v->job.state == RC_MERGE_DONE) /* done in the target already */
		rc = record_stats(x, id, RC_CL_MERGE_DONE, &v->job.stats, "", err, errlen);
	return rc;
}

/* db merge validate's answer: the checks and the verdict s of job m, validated in v. */
static void
validate_report(const struct cc_run *v, const struct rc_cl_merge *m, enum rc_cl_merge_state s,
		json_t *res, struct rc_text *t)
{
	json_t *checks = rc_dbcheck_to_json(&v->r);
	uint32_t id = m->id;

	json_object_update(res, checks);
	json_decref(checks);
	json_object_set_new(res, "id", json_integer(id));
	json_object_set_new(res, "state",
			    json_string(v->job.state == RC_MERGE_DONE ? "done" :
					rc_cl_merge_state_name(s)));
	json_object_set_new(res, "error", json_string(v->job.error));
	rc_text_printf(t, "merge job %" PRIu32 " (%s + %s -> %s):\n", id, m->sources[0],
		       m->sources[1], m->target);
	cc_checks_text(t, json_object_get(res, "checks"));
	if (v->job.state == RC_MERGE_DONE)
		rc_text_printf(t, "merge job %" PRIu32 " is already done in the target: nothing "
				  "to run\n", id);
	else if (s == RC_CL_MERGE_VALIDATED)
		rc_text_printf(t, "merge job %" PRIu32 " is valid: roomcastctl db merge run %" PRIu32
				  "\n", id, id);
	else
		rc_text_printf(t, "merge job %" PRIu32 " is NOT valid: %s\nfix the FAIL lines above, "
				  "then validate again\n", id, v->job.error);
}

static RC_ADMIN_HANDLER(cmd_merge_validate)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = NULL;
	int rc;
	const struct rc_cl_merge *m = job_arg(x, argv[0], &c, &rc, err, errlen);
	struct cc_run *v;
	enum rc_cl_merge_state s;
	char why[512];
	uint32_t id;

	if (m == NULL)
		return rc;
	id = m->id;
	if (m->state == RC_CL_MERGE_RUNNING) {
		snprintf(err, errlen, "merge job %" PRIu32 " is running: see db merge show %" PRIu32,
			 id, id);
		return -EBUSY;
	}
	if (m->state == RC_CL_MERGE_DONE) {
		json_object_set_new(res, "id", json_integer(id));
		json_object_set_new(res, "state", json_string("done"));
		json_object_set_new(res, "ok", json_true());
		rc_text_printf(t, "merge job %" PRIu32 " is done: nothing to validate\n", id);
		return 0;
	}
	rc = rc_cluster_merge_check(c, id, why, sizeof(why));
	if (rc != 0) {
		/* the job records why; the operator gets the same text */
		if (record_keep(x, m, RC_CL_MERGE_VALIDATION_FAILED, why, err, errlen) != 0)
			RC_WARN("merge job %" PRIu32 ": cannot record the failed validation: %s", id,
				err);
		snprintf(err, errlen, "merge job %" PRIu32 " not valid: %s", id, why);
		return rc == -EINVAL ? -EPERM : rc;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	rc = validate_job(x, c, &m, v, &s, err, errlen);
	if (rc != 0) {
		run_wipe(v);
		free(v);
		return rc;
	}
	validate_report(v, m, s, res, t);
	free(v);
	return 0; /* "ok": false in the result when not valid: roomcastctl exits 1 */
}

/* Why job m (of cluster state c) may not run now: another run, no validation, or a cluster
 * state that no longer allows it; 0 when it may. */
static int
run_refused(const struct cc_ctx *x, const struct rc_cluster *c, const struct rc_cl_merge *m,
	    char *err, size_t errlen)
{
	uint32_t id = m->id;
	char why[512];
	int rc;

	if (m->state == RC_CL_MERGE_RUNNING || x->run != NULL) {
		snprintf(err, errlen, "merge job %" PRIu32 " is running: see db merge show %" PRIu32,
			 x->run ? x->run->id : id, x->run ? x->run->id : id);
		return -EBUSY;
	}
	if (m->state != RC_CL_MERGE_VALIDATED) {
		snprintf(err, errlen, "merge job %" PRIu32 " has not passed validation (it is %s): "
			 "run roomcastctl db merge validate %" PRIu32 " first", id,
			 rc_cl_merge_state_name(m->state), id);
		return -EPERM;
	}
	rc = rc_cluster_merge_check(c, id, why, sizeof(why));
	if (rc != 0) {
		snprintf(err, errlen, "merge job %" PRIu32 " not valid: %s", id, why);
		return rc == -EINVAL ? -EPERM : rc;
	}
	return 0;
}

/* Records job m (of cluster state c) running and starts its thread on run; a thread that
 * cannot start leaves the job failed. */
static int
run_start(struct cc_ctx *x, const struct rc_cluster *c, const struct rc_cl_merge *m,
	  struct cc_run *run, char *err, size_t errlen)
{
	uint32_t id = m->id;
	char scratch[512];
	int rc;

	run->id = id;
	job_of(c, m, &run->job);
	rc = params_of(x, c, m, run, err, errlen);
	if (rc == 0)
		rc = record_keep(x, m, RC_CL_MERGE_RUNNING, "", err, errlen);
	if (rc != 0)
		return rc;
	marker_set(x, id);
	rc = -pthread_create(&run->th, NULL, run_main, run);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the merge thread: %s", strerror(-rc));
		m = rc_cluster_find_merge(rc_cluster_node_state(x->cn), id);
		if (m != NULL)
			record_keep(x, m, RC_CL_MERGE_FAILED, err, scratch, sizeof(scratch));
		marker_clear(x);
	}
	return rc;
}

static RC_ADMIN_HANDLER(cmd_merge_run)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = NULL;
	int rc;
	const struct rc_cl_merge *m = job_arg(x, argv[0], &c, &rc, err, errlen);
	char rem[512];
	struct cc_run *run;
	uint32_t id;

	if (m == NULL)
		return rc;
	id = m->id;
	json_object_set_new(res, "id", json_integer(id));
	if (m->state == RC_CL_MERGE_DONE) {
		reminder(m, c, rem, sizeof(rem));
		json_object_set_new(res, "state", json_string("done"));
		json_object_set_new(res, "already_done", json_true());
		json_object_set_new(res, "next", json_string(rem));
		rc_text_printf(t, "merge job %" PRIu32 " is already done: nothing changed\nnext: "
				  "%s\n", id, rem);
		return 0;
	}
	rc = run_refused(x, c, m, err, errlen);
	if (rc != 0)
		return rc;
	run = calloc(1, sizeof(*run));
	if (run == NULL)
		return -ENOMEM;
	rc = run_start(x, c, m, run, err, errlen);
	if (rc != 0) {
		run_wipe(run);
		free(run);
		return rc;
	}
	x->run = run;
	RC_INFO("merge job %" PRIu32 " started: %s + %s -> %s (group %s)", id, m->sources[0],
		m->sources[1], m->target, m->group);
	json_object_set_new(res, "state", json_string("running"));
	json_object_set_new(res, "started", json_true());
	rc_text_printf(t, "merge job %" PRIu32 " started on node %s: follow it with roomcastctl "
			  "db merge show %" PRIu32 "\n", id, cc_self_id(x), id);
	return 0;
}

static int
mut_remove(struct rc_cluster *c, const char *origin, void *arg, char *err, size_t errlen)
{
	return rc_cluster_merge_remove(c, origin, *(const uint32_t *)arg, err, errlen);
}

static RC_ADMIN_HANDLER(cmd_merge_remove)
{
	struct cc_ctx *x = arg;
	const struct rc_cluster *c = NULL;
	int rc;
	const struct rc_cl_merge *m = job_arg(x, argv[0], &c, &rc, err, errlen);
	uint32_t id;

	if (m == NULL)
		return rc;
	id = m->id;
	rc = cc_change(x, mut_remove, &id, err, errlen);
	if (rc != 0)
		return rc;
	json_object_set_new(res, "removed", json_integer(id));
	rc_text_printf(t, "merge job %" PRIu32 " removed\n", id);
	return 0;
}

static const struct rc_admin_cmd cmds[] = {
	{ "db merge add", "--source A --source B --target T [--group G]",
	  "a job merging the two per-node databases of a group into T", cmd_merge_add, 0,
	  RC_ADMIN_ANY },
	{ "db merge list", "", "the merge jobs and their states", cmd_merge_list, 0, 0,
	  RC_ADMIN_NEEDS_STATE },
	{ "db merge show", "JOB", "a job: state, per-table row counts, conflicts, error",
	  cmd_merge_show, 1, 1 },
	{ "db merge validate", "JOB",
	  "check a job (TC stopped on both nodes, sources, target, privileges, room); exit 1 "
	  "when not valid", cmd_merge_validate, 1, 1 },
	{ "db merge run", "JOB",
	  "run a validated job in the background (see db merge show); a done job is not run "
	  "again", cmd_merge_run, 1, 1 },
	{ "db merge remove", "JOB", "forget a job that is not running", cmd_merge_remove, 1, 1 },
};

int
cc_register_merge(struct cc_ctx *x)
{
	return cc_register(x, cmds, sizeof(cmds) / sizeof(cmds[0]));
}
