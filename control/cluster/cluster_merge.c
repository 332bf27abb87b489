/* SPDX-License-Identifier: MIT */
/*
 * Database merge jobs in the cluster state: adding one, the configuration side of its
 * validation, recording its progress, forgetting it. The merge itself (dblink, copying the
 * tables, counting conflicts) is storage/merge.c's; this file only keeps the record every
 * node shows, and its life:
 *
 *     created --validate--> validated --merge--> [running] --> done (final)
 *        |                   |    ^                   |
 *        +----------> validation-failed <-------------+--> failed --validate--> ...
 *
 * (validated, validation-failed and failed may be validated again; "running" is optional:
 * a merge that runs in one blocking call may go from validated to done or failed; a run
 * whose re-check fails goes back to validation-failed.)
 *
 * Threads: no shared state (see cluster.h).
 */
#include "cluster_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define S(x) RC_CL_MERGE_##x

static const bool legal[RC_CL_MERGE_STATE_MAX][RC_CL_MERGE_STATE_MAX] = {
	[S(CREATED)] = { [S(VALIDATED)] = true, [S(VALIDATION_FAILED)] = true },
	[S(VALIDATED)] = { [S(VALIDATED)] = true, [S(VALIDATION_FAILED)] = true,
			   [S(RUNNING)] = true, [S(DONE)] = true, [S(FAILED)] = true },
	[S(VALIDATION_FAILED)] = { [S(VALIDATED)] = true, [S(VALIDATION_FAILED)] = true },
	[S(RUNNING)] = { [S(RUNNING)] = true, [S(DONE)] = true, [S(FAILED)] = true,
			 [S(VALIDATION_FAILED)] = true },
	[S(DONE)] = { false },
	[S(FAILED)] = { [S(VALIDATED)] = true, [S(VALIDATION_FAILED)] = true },
};

static bool
unfinished(const struct rc_cl_merge *m)
{
	return m->state != S(DONE) && m->state != S(FAILED);
}

/* The job's group into *out: the one named, else the one whose nodes use a source. */
static int
merge_group(struct rc_cluster *n, const char *const src[2], const char *group,
	    const struct rc_cl_group **out, char *err, size_t errlen)
{
	const struct rc_cl_group *a = cl_group_serving(n, src[0], NULL);
	const struct rc_cl_group *b = cl_group_serving(n, src[1], NULL);
	const struct rc_cl_group *g = a ? a : b;

	if (group != NULL && group[0] != '\0') {
		g = cl_need_group(n, group, err, errlen);
		if (g == NULL)
			return -ENOENT;
	} else if (g == NULL) {
		return cl_refuse(err, errlen, -EINVAL, "cannot tell which group to merge for: "
				 "neither %s nor %s is assigned to a node; name the group",
				 src[0], src[1]);
	}
	for (int i = 0; i < 2; i++) {
		const struct rc_cl_group *o = i == 0 ? a : b;

		if (o != NULL && o != g)
			return cl_refuse(err, errlen, -EINVAL, "source %s is assigned to group %s, "
					 "not %s: a merge combines the two databases of one group",
					 src[i], o->name, g->name);
	}
	*out = g;
	return 0;
}

static int
check_merge_args(const struct rc_cluster *n, const char *const src[2], const char *target,
		 char *err, size_t errlen)
{
	if (src == NULL || src[0] == NULL || src[1] == NULL || target == NULL)
		return cl_refuse(err, errlen, -EINVAL, "a merge needs two sources and a target");
	if (cl_need_db(n, src[0], err, errlen) == NULL ||
	    cl_need_db(n, src[1], err, errlen) == NULL ||
	    cl_need_db(n, target, err, errlen) == NULL)
		return -ENOENT;
	if (strcmp(src[0], src[1]) == 0)
		return cl_refuse(err, errlen, -EINVAL, "the two sources are the same database (%s)",
				 src[0]);
	if (strcmp(target, src[0]) == 0 || strcmp(target, src[1]) == 0)
		return cl_refuse(err, errlen, -EINVAL, "the target %s is also a source: merge "
				 "into another database", target);
	for (unsigned i = 0; i < n->n_merges; i++) {
		const struct rc_cl_merge *m = &n->merges[i];

		if (unfinished(m) && strcmp(m->target, target) == 0 &&
		    ((strcmp(m->sources[0], src[0]) == 0 && strcmp(m->sources[1], src[1]) == 0) ||
		     (strcmp(m->sources[0], src[1]) == 0 && strcmp(m->sources[1], src[0]) == 0)))
			return cl_refuse(err, errlen, -EEXIST, "merge job %u already merges %s and "
					 "%s into %s (%s)", m->id, src[0], src[1], target,
					 rc_cl_merge_state_name(m->state));
	}
	if (n->n_merges == RC_CL_MAX_MERGES)
		return cl_refuse(err, errlen, -ENOSPC, "%d merge jobs are recorded, the most there"
				 " can be: remove finished ones", RC_CL_MAX_MERGES);
	return 0;
}

int
rc_cluster_merge_add(struct rc_cluster *c, const char *origin, const char *const sources[2],
		     const char *target, const char *group, uint32_t *id, char *err,
		     size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	const struct rc_cl_group *g = NULL;
	struct rc_cl_merge *m;
	int rc;

	if (n == NULL)
		return -errno;
	rc = check_merge_args(n, sources, target, err, errlen);
	if (rc < 0)
		return cl_edit_abort(n, rc);
	rc = merge_group(n, sources, group, &g, err, errlen);
	if (rc == 0)
		rc = cl_refuse_other_group(n, target, g, err, errlen);
	if (rc == 0)
		rc = cl_refuse_running_merge(n, g->name, "another merge", err, errlen);
	if (rc < 0)
		return cl_edit_abort(n, rc);
	m = &n->merges[n->n_merges++];
	memset(m, 0, sizeof(*m));
	m->id = n->next_merge_id++;
	snprintf(m->group, sizeof(m->group), "%s", g->name);
	snprintf(m->sources[0], sizeof(m->sources[0]), "%s", sources[0]);
	snprintf(m->sources[1], sizeof(m->sources[1]), "%s", sources[1]);
	snprintf(m->target, sizeof(m->target), "%s", target);
	m->state = S(CREATED);
	m->created_ms = m->updated_ms = rc_wall_ms();
	*id = m->id;
	return cl_edit_commit(c, n, origin, err, errlen);
}

/* Which node of g uses database db; NULL when none. */
static const struct rc_cl_node *
node_using(const struct rc_cl_group *g, const char *db)
{
	for (unsigned i = 0; i < g->n_nodes; i++)
		if (strcmp(g->nodes[i].db, db) == 0)
			return &g->nodes[i];
	return NULL;
}

int
rc_cluster_merge_check(const struct rc_cluster *c, uint32_t id, char *err, size_t errlen)
{
	const struct rc_cl_merge *m = rc_cluster_find_merge(c, id);
	const struct rc_cl_group *g;
	int rc;

	if (m == NULL)
		return cl_refuse(err, errlen, -ENOENT, "merge job %u does not exist", id);
	g = rc_cluster_find_group(c, m->group, NULL);
	if (g == NULL)
		return cl_refuse(err, errlen, -ENOENT, "group %s does not exist", m->group);
	if (g->n_nodes < 2)
		return cl_refuse(err, errlen, -EINVAL, "group %s has one node: a merge combines "
				 "the databases of the two nodes of a group", g->name);
	for (int i = 0; i < 2; i++) {
		if (rc_cluster_find_db(c, m->sources[i]) == NULL)
			return cl_refuse(err, errlen, -ENOENT, "source database %s does not exist",
					 m->sources[i]);
		if (node_using(g, m->sources[i]) == NULL)
			return cl_refuse(err, errlen, -EINVAL, "source database %s is not assigned "
					 "to a node of group %s (each source must be the "
					 "database of one node of the group)", m->sources[i],
					 g->name);
	}
	if (rc_cluster_find_db(c, m->target) == NULL)
		return cl_refuse(err, errlen, -ENOENT, "target database %s does not exist",
				 m->target);
	rc = cl_refuse_other_group(c, m->target, g, err, errlen);
	if (rc < 0)
		return -EINVAL;
	for (unsigned i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].tc != RC_CL_SVC_STOPPED)
			return cl_refuse(err, errlen, -EINVAL, "the TC service is started on node "
					 "%s: stop it on both nodes of group %s (%s, %s) before "
					 "merging", g->nodes[i].id, g->name, g->nodes[0].id,
					 g->nodes[1].id);
	return 0;
}

int
rc_cluster_merge_update(struct rc_cluster *c, const char *origin, uint32_t id,
			const struct rc_cl_merge_progress *p, char *err, size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_merge *m;

	if (n == NULL)
		return -errno;
	m = (struct rc_cl_merge *)rc_cluster_find_merge(n, id);
	if (m == NULL)
		return cl_edit_abort(n, cl_refuse(err, errlen, -ENOENT, "merge job %u does not "
						  "exist", id));
	if ((unsigned)p->state >= RC_CL_MERGE_STATE_MAX)
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "merge job %u: unknown "
						  "state %d", id, (int)p->state));
	if (!legal[m->state][p->state])
		return cl_edit_abort(n, cl_refuse(err, errlen, -EINVAL, "merge job %u cannot go "
						  "from %s to %s", id,
						  rc_cl_merge_state_name(m->state),
						  rc_cl_merge_state_name(p->state)));
	m->state = p->state;
	memcpy(m->tables, p->tables, sizeof(m->tables));
	m->conflicts = p->conflicts;
	m->renumbered = p->renumbered;
	if (p->error != NULL)
		snprintf(m->error, sizeof(m->error), "%s", p->error);
	m->updated_ms = rc_wall_ms();
	return cl_edit_commit(c, n, origin, err, errlen);
}

int
rc_cluster_merge_remove(struct rc_cluster *c, const char *origin, uint32_t id, char *err,
			size_t errlen)
{
	struct rc_cluster *n = cl_edit_begin(c, origin, err, errlen);
	struct rc_cl_merge *m;

	if (n == NULL)
		return -errno;
	m = (struct rc_cl_merge *)rc_cluster_find_merge(n, id);
	if (m == NULL)
		return cl_edit_abort(n, cl_refuse(err, errlen, -ENOENT, "merge job %u does not "
						  "exist", id));
	if (m->state == S(RUNNING))
		return cl_edit_abort(n, cl_refuse(err, errlen, -EBUSY, "merge job %u is running: "
						  "it can be removed when it ends", id));
	memmove(m, m + 1, (char *)&n->merges[n->n_merges] - (char *)(m + 1));
	memset(&n->merges[--n->n_merges], 0, sizeof(n->merges[0]));
	return cl_edit_commit(c, n, origin, err, errlen);
}
