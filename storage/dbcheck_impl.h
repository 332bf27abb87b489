/* SPDX-License-Identifier: MIT */
/*
 * Private to storage/dbcheck*.c: what dbcheck.c's connection check takes from
 * dbcheck_fix.c, the explanation of a refused connection.
 *
 * Threads: no shared state.
 */
#ifndef RC_DBCHECK_IMPL_H
#define RC_DBCHECK_IMPL_H

#include <stdbool.h>

#include "dbcheck.h"

/* A refused connection, explained. */
struct dbcheck_refusal {
	int rc;           /* -ECONNREFUSED (unreachable, starting, read-only), -ENOENT (no such
			   * database), -EAGAIN (no free slot), -EACCES (refused), or the driver's
			   * (other) */
	bool hba_matched; /* a pg_hba.conf line matched: the refusal came after it */
	char fix[512];
	char hba_detail[256]; /* a pg_hba.conf refusal: the pg_hba check's detail; else "" */
};

/* Explains libpq's message msg of a connection to conninfo refused with pgdb_rc
 * (rc_pgdb_connect), naming o's node and address in the fix when the message does not. */
void dbcheck_explain(const char *conninfo, const char *msg, int pgdb_rc,
		     const struct rc_dbcheck_opts *o, struct dbcheck_refusal *out);

#endif /* RC_DBCHECK_IMPL_H */
