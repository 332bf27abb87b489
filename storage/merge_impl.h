/* SPDX-License-Identifier: MIT */
/*
 * Private to storage/merge*.c: the connections of a validation or a run, what the merge
 * (merge.c) takes from validation (merge_validate.c) and from the job's rendering
 * (merge_job.c). The statistics' JSON form is the job store's and the target's
 * merge_jobs.result alike:
 *
 *   {"tables": {"rooms": {"source_a": N, "source_b": N, "target": N}, ...},
 *    "conflicts": {"rooms_copied": N, ...}}
 *
 * Threads: no shared state.
 */
#ifndef RC_MERGE_IMPL_H
#define RC_MERGE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "merge.h"

/* The databases of one validation (and the run that follows it). */
struct merge_ctx {
	struct rc_pgdb db[RC_MERGE_DB_MAX];
	bool usable[RC_MERGE_DB_MAX];   /* connected, schema current */
	char ident[RC_MERGE_DB_MAX][64]; /* which database this is ("" unknown) */
	uint64_t data_bytes[2];          /* the sources' roomcast tables */
	bool target_done;                /* the target's merge_jobs says this job is done */
};

/* ---- merge_validate.c ---- */

void merge_ctx_close(struct merge_ctx *c);

/* One text value of a one-row query into out ("" on failure or NULL). 0 or -errno. */
int merge_query_text(struct rc_pgdb *db, const char *sql, char *out, size_t len);

/* p->node[i], else "1" / "2" in buf. */
const char *merge_node_name(const struct rc_merge_params *p, unsigned i, char *buf, size_t len);

/* Is this job already done in the target? Then c->target_done is set and its record fills
 * job->stats and finished_s. Also lists the jobs done there into others. */
void merge_target_jobs(struct merge_ctx *c, struct rc_merge_job *job, char *others,
		       size_t len);

/* Validates (see rc_merge_validate), leaving the connections of c open (the caller closes
 * them with merge_ctx_close). */
int merge_validate(struct rc_merge_job *job, const struct rc_merge_params *p,
		   struct rc_dbcheck_report *r, struct merge_ctx *c);

/* ---- merge_job.c ---- */

/* st as JSON (above); NULL on allocation failure. */
json_t *merge_stats_to_json(const struct rc_merge_stats *st);

/* st from its JSON form; missing or negative counts read 0 (o may be NULL). */
void merge_stats_from_json(struct rc_merge_stats *st, json_t *o);

#endif /* RC_MERGE_IMPL_H */
