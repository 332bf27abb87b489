/* SPDX-License-Identifier: MIT */
/*
 * What the unit tests of the drainer share (drainer_test, lease_test): a PostgreSQL from
 * pg_fixture.h and the EAL from wal_fixture.h, set up in main(); each drainer test run once
 * per drain method (the method travels as cmocka's initial state); a drainer's settings for
 * a test, fast retries. Single-threaded helpers.
 */
#ifndef RC_DRAIN_FIXTURE_H
#define RC_DRAIN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "drainer.h"
#include "pg_fixture.h"
#include "wal_fixture.h"

static const enum rc_drain_method fx_m_copy = RC_DRAIN_COPY;
static const enum rc_drain_method fx_m_pipeline = RC_DRAIN_PIPELINE;

/* Test t once per method, with the test file's setup and teardown; setup reads the method
 * with fx_method(state). */
#define FX_BOTH_METHODS(t, setup, teardown)                                                 \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, (void *)&fx_m_copy),   \
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, (void *)&fx_m_pipeline)

/* The method a setup was given (COPY for a test listed without one). */
static inline enum rc_drain_method
fx_method(void *const *state)
{
	return *state != NULL ? *(const enum rc_drain_method *)*state : RC_DRAIN_COPY;
}

/* A drainer of node "n1" into conninfo by method m, retrying within 50..400 ms; the
 * caller sets batch_max, epoch and the rest. */
static inline struct rc_drainer_conf
fx_drainer_conf(const char *conninfo, enum rc_drain_method m)
{
	return (struct rc_drainer_conf){
		.conninfo = conninfo,
		.node_id = "n1",
		.retry_min_ms = 50,
		.retry_max_ms = 400,
		.method = m,
	};
}

/* main()'s start: RC_TEST_FILTER (a test name pattern) applied, the PostgreSQL found or
 * started (argv[1]: the fixture script), the EAL up. 0, or 1 (the exit status) with a
 * message on stderr. */
static inline int
fx_drain_main_init(const char *name, int argc, char **argv)
{
	if (getenv("RC_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("RC_TEST_FILTER"));
	if (pgfx_init(argc > 1 ? argv[1] : NULL) != 0) {
		fprintf(stderr, "%s: no PostgreSQL\n", name);
		return 1;
	}
	if (fx_eal_init(name) < 0) {
		fprintf(stderr, "%s: cannot initialise the EAL\n", name);
		return 1;
	}
	return 0;
}

#endif /* RC_DRAIN_FIXTURE_H */
