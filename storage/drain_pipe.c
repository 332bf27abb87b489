/* SPDX-License-Identifier: MIT */
/*
 * Drain method PIPELINE: the whole batch in libpq's pipeline mode on one connection, one
 * prepared INSERT ... ON CONFLICT DO NOTHING per message (DRAIN_STMT_INSERT); then, for
 * every message whose key was taken, its drain_alarms row when the key holds a different
 * message (DRAIN_STMT_ALARM); then the batch's end (drain_pl_finish), waited for: a batch
 * is committed before the next one is read. See drain_impl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drain_impl.h"

#define DRAIN_PL_CHUNK 512 /* pipelined rows between two reads of their results */

/* The batch's pipeline, for any batch up to batch_max records: at most one query per
 * record for the INSERTs and one for their alarms or dead letters, plus the transaction's
 * own statements and sync points. */
static int
pipe_setup(struct rc_drainer *d)
{
	d->pipe.tags = malloc(sizeof(*d->pipe.tags) * (2 * d->conf.batch_max + 24));
	d->pipe.missed = calloc(d->conf.batch_max, sizeof(*d->pipe.missed));
	return d->pipe.tags == NULL || d->pipe.missed == NULL ? -ENOMEM : 0;
}

/* Stage 1: every message's INSERT, in chunks whose results are read back as they go. */
static int
pipe_inserts(struct rc_drainer *d, struct pl *p)
{
	unsigned in_chunk = 0;
	int rc = 0;

	for (unsigned i = 0; i < d->nrecs && rc == 0; i++) {
		char nums[5][24];
		const char *pm[DRAIN_STMT_PARAMS];

		if (d->recs[i].kind != RC_WAL_MSG || d->recs[i].bad != NULL)
			continue;
		drain_stmt_params(d, &d->recs[i], nums, pm);
		rc = drain_pl_send(p, (int)i, DRAIN_STMT_INSERT, NULL, 8, pm);
		if (rc == 0 && ++in_chunk == DRAIN_PL_CHUNK) {
			in_chunk = 0;
			rc = drain_pl_read_back(p);
		}
	}
	return rc;
}

/* Stage 2: an alarm check for every message whose key was taken. */
static int
pipe_alarms(struct rc_drainer *d, struct pl *p, uint64_t *alarms)
{
	unsigned n = 0;
	int rc = 0;

	p->rows = 0;
	for (unsigned i = 0; i < d->nrecs && rc == 0; i++) {
		char nums[5][24];
		const char *pm[DRAIN_STMT_PARAMS];

		if (!p->missed[i])
			continue;
		drain_stmt_params(d, &d->recs[i], nums, pm);
		rc = drain_pl_send(p, PL_OTHER, DRAIN_STMT_ALARM, NULL, DRAIN_STMT_PARAMS, pm);
		n++;
	}
	if (rc == 0 && n > 0)
		rc = drain_pl_sync(p);
	*alarms = p->rows;
	return rc;
}

/* Opens the transaction and writes the messages and their alarms. */
static int
pipe_stream(struct rc_drainer *d, uint64_t *alarms)
{
	struct pl *p = &d->pipe;
	int rc;

	*p = (struct pl){ .db = d->db, .tags = p->tags, .missed = p->missed };
	memset(p->missed, 0, sizeof(*p->missed) * d->nrecs);
	rc = drain_pl_begin(p);
	if (rc == 0)
		rc = drain_pl_send(p, PL_OTHER, NULL, "BEGIN", 0, NULL);
	if (rc == 0)
		rc = drain_pl_send(p, PL_OTHER, NULL, "SET LOCAL synchronous_commit = on", 0, NULL);
	if (rc == 0)
		rc = pipe_inserts(d, p);
	if (rc == 0)
		rc = drain_pl_sync(p);
	if (rc == 0)
		rc = pipe_alarms(d, p, alarms);
	return rc;
}

/* Ends the transaction and waits for its COMMIT: 1, or -errno. */
static int
pipe_finish(struct rc_drainer *d, uint64_t alarms, uint64_t *dead)
{
	struct pl *p = &d->pipe;
	int rc = drain_pl_finish(d, p);

	(void)alarms; /* the caller counts them with the batch */
	if (rc == 0)
		rc = drain_pl_end(p);
	*dead = p->dead;
	if (rc != 0) {
		snprintf(d->failed_state, sizeof(d->failed_state), "%s", d->db->sqlstate);
		return rc;
	}
	return 1;
}

const struct drain_method drain_method_pipeline = {
	.conns = 1,
	.first_read = 0,
	.setup = pipe_setup,
	.stream = pipe_stream,
	.finish = pipe_finish,
};
