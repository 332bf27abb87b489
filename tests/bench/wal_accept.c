/* SPDX-License-Identifier: MIT */
/*
 * bench_wal_accept: how many records per second the WAL writer commits, synced, through
 * its ring (the accept rate of POSTs), for several batch_max values. One producer (the main
 * lcore) fills the input ring and frees completions; 200-byte bodies over 64 rooms. At most
 * max(4 * batch_max, 256) records are in flight, so a full batch always waits while the
 * previous one commits. Each point produces for 2 s or 200000 records, whichever comes
 * first, then waits for what is in flight. Every point gets a fresh environment under DIR
 * (default /var/tmp: measure the disk the node will use). Prints a table; no assertions.
 *
 *   bench_wal_accept [-d DIR] [-t SECONDS] [-n RECORDS]
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "../unit/wal_fixture.h"
#include "doorbell.h"

#define ROOMS 64
#define BODY_LEN 200
#define BURST 32

struct point {
	unsigned batch_max;
	uint64_t records;
	uint64_t commits;
	uint64_t max_batch;
	double seconds;
};

struct opts {
	const char *dir;
	double seconds;
	uint64_t max_records;
};

static void
fill(struct rc_wal_rec *r, uint64_t n, uint64_t *seqs)
{
	char body[BODY_LEN + 1];
	uint32_t room = (uint32_t)(n % ROOMS) + 1;

	memset(body, 'a' + (int)(n % 26), BODY_LEN);
	body[BODY_LEN] = '\0';
	fx_msg(r, room, ++seqs[room - 1], "bench", body);
}

/* Frees the completions waiting on done; returns how many, counting failures in *bad. */
static unsigned
drain(struct rc_wal *w, struct rte_ring *done, uint64_t *bad)
{
	void *objs[BURST];
	unsigned n = rte_ring_dequeue_burst(done, objs, BURST, NULL);

	for (unsigned i = 0; i < n; i++)
		*bad += ((struct rc_wal_rec *)objs[i])->status != 0;
	rte_mempool_put_bulk(rc_wal_pool(w), objs, n);
	return n;
}

/* Produces until the time or record budget is spent, then waits for the rest. At most
 * `window` records are in flight, so that the wait at the end stays short. */
static uint64_t
produce(struct rc_wal *w, struct rte_ring *done, const struct opts *o, unsigned window,
	uint64_t *bad)
{
	uint64_t deadline = fx_now_us() + (uint64_t)(o->seconds * 1e6);
	uint64_t sent = 0, completed = 0, seqs[ROOMS] = { 0 };
	void *objs[BURST];

	while (sent < o->max_records && fx_now_us() < deadline) {
		unsigned n = (unsigned)RTE_MIN((uint64_t)BURST, o->max_records - sent);

		completed += drain(w, done, bad);
		if (sent - completed + n > window ||
		    rte_mempool_get_bulk(rc_wal_pool(w), objs, n) != 0) {
			usleep(10);
			continue;
		}
		for (unsigned i = 0; i < n; i++)
			fill(objs[i], sent + i, seqs);
		while (rte_ring_enqueue_bulk(rc_wal_ring(w), objs, n, NULL) == 0)
			completed += drain(w, done, bad);
		rc_bell_ring(rc_wal_bell(w));
		sent += n;
	}
	while (completed < sent)
		completed += drain(w, done, bad);
	return completed;
}

static int
run_point(const struct opts *o, struct point *p)
{
	char dir[256], err[256] = "", name[32];
	struct rc_wal_conf c;
	struct rc_wal_stats st;
	struct rte_ring *done;
	struct rc_wal *w;
	uint64_t t0, bad = 0;

	fx_tmpdir(dir, sizeof(dir), o->dir);
	c = fx_conf(dir);
	c.map_size = 1ull << 30;
	c.high_water_pct = 99;
	c.batch_max = p->batch_max;
	c.ring_size = 4096;
	c.pool_size = 4096;
	c.nosync = false;
	w = rc_wal_open(&c, err, sizeof(err));
	if (w == NULL) {
		fprintf(stderr, "bench_wal_accept: %s\n", err);
		return -1;
	}
	snprintf(name, sizeof(name), "bench_done%u", p->batch_max);
	done = rte_ring_create(name, 8192, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (done == NULL || rc_wal_set_completion(w, 0, done) != 0 || rc_wal_start(w) != 0) {
		fprintf(stderr, "bench_wal_accept: cannot set up the writer\n");
		return -1;
	}
	t0 = fx_now_us();
	p->records = produce(w, done, o, RTE_MAX(4 * p->batch_max, 256u), &bad);
	p->seconds = (double)(fx_now_us() - t0) / 1e6;
	rc_wal_stop(w);
	rc_wal_get_stats(w, &st);
	p->commits = st.commits;
	p->max_batch = st.max_batch;
	if (bad != 0 || st.commit_errors != 0)
		fprintf(stderr, "bench_wal_accept: %llu failed records, %llu failed commits\n",
			(unsigned long long)bad, (unsigned long long)st.commit_errors);
	rc_wal_close(w);
	rte_ring_free(done);
	fx_rmdir(dir);
	return 0;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	int ch;

	*o = (struct opts){ .dir = "/var/tmp", .seconds = 2.0, .max_records = 200000 };
	while ((ch = getopt(argc, argv, "d:t:n:h")) != -1) {
		switch (ch) {
		case 'd':
			o->dir = optarg;
			break;
		case 't':
			o->seconds = atof(optarg);
			break;
		case 'n':
			o->max_records = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_wal_accept [-d DIR] [-t SECONDS] "
					"[-n RECORDS]\n");
			return ch == 'h' ? 1 : -1;
		}
	}
	return o->seconds > 0 && o->max_records > 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const unsigned batches[] = { 1, 16, 128, 512 };
	struct opts o;
	int rc = parse_opts(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	/* the producer on lcore 1 when there is one, so that the writer (a control thread)
	 * gets CPU 0 to itself, as beside a worker lcore in the node */
	if (fx_eal_init_lcores("bench_wal_accept", sysconf(_SC_NPROCESSORS_ONLN) > 1 ? "1" : "0")
	    < 0) {
		fprintf(stderr, "bench_wal_accept: cannot initialise the EAL\n");
		return 1;
	}
	printf("WAL accept rate, synced commits, %d-byte bodies, dir %s, %.1f s or %llu "
	       "records per point\n", BODY_LEN, o.dir, o.seconds,
	       (unsigned long long)o.max_records);
	printf("%9s %10s %9s %9s %9s %12s %10s\n", "batch_max", "records", "seconds", "commits",
	       "avg_batch", "records/s", "commits/s");
	for (unsigned i = 0; i < RTE_DIM(batches); i++) {
		struct point p = { .batch_max = batches[i] };

		if (run_point(&o, &p) != 0)
			return 1;
		printf("%9u %10llu %9.2f %9llu %9.1f %12.0f %10.0f\n", p.batch_max,
		       (unsigned long long)p.records, p.seconds, (unsigned long long)p.commits,
		       p.commits ? (double)p.records / (double)p.commits : 0.0,
		       (double)p.records / p.seconds, (double)p.commits / p.seconds);
		fflush(stdout);
	}
	rte_eal_cleanup();
	return 0;
}
