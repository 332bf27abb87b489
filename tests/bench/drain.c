/* SPDX-License-Identifier: MIT */
/*
 * bench_drain: how fast the drainer moves the WAL into PostgreSQL, by method, against the
 * ceiling of a plain COPY of the same rows into the same database in the same run; and the
 * WAL's accept rate, alone and while the drainer runs.
 *
 *  1. fill: ROOMS room records and MESSAGES messages (BODY-byte bodies, rooms round-robin)
 *     through the WAL writer thread (nosync unless -s) -> accept rate alone. The filled
 *     WAL is kept aside, undrained; every drain below works on a fresh copy of it.
 *  2. ROUNDS rounds (the machine may be shared: the figures that count come from the median
 *     round, below), each:
 *     a. drain, method COPY, into a fresh database: the drainer thread from its start
 *        until the last LSN is drained (or -t SECONDS passed) -> rows/s
 *     b. the ceiling: the same rows (read back from the log beforehand, not timed) in ONE
 *        COPY into a fresh table shaped like messages (same columns, primary key, index
 *        and the fence trigger: LIKE does not copy triggers, so it is created explicitly),
 *        in that same database, one transaction, synchronous_commit on -> rows/s; for
 *        reference also into a table without indexes or trigger. Every other round runs
 *        b before a. The ceiling commits once; the drainer commits every batch_max rows (a
 *        synced COMMIT each, which it overlaps with the next batch's COPY), and also
 *        upserts rooms.next_seq and drain_state per batch: work the ceiling does not do.
 *     c. drain, method PIPELINE, into another fresh database -> rows/s
 *  3. accept while draining: a fresh WAL filled with MESSAGES / 2 messages while the
 *     drainer (the faster method) runs into a fresh database; the lag at the end.
 * Each database gets CHECKPOINT before its timed phase (when permitted). Prints a table,
 * then ends with exactly three lines:
 *     drain_rows_per_s: N      the faster method's rate in the median round
 *     copy_rows_per_s: N       the ceiling's rate (indexed table) in that round
 *     drain_vs_copy: R         the first over the second
 * The median round is the one whose own drain / ceiling ratio is the median of the rounds'
 * (the lower middle one for an even count): drain and ceiling are compared as measured
 * side by side, under the same load, and neither a lucky nor an unlucky round decides.
 * No assertions on time; exit status 1 if a phase fails or a drain is incomplete.
 *
 *   bench_drain -c CONNINFO [-n MESSAGES] [-r ROOMS] [-B BODY] [-b BATCH_MAX] [-d DIR]
 *               [-t SECONDS] [-R ROUNDS] [-s]
 * Defaults: 200000 messages, 100 rooms, 200-byte bodies, batch_max 10000 (the value this
 * benchmark recommends for db.batch_max: every batch ends with a synced COMMIT, whose wait
 * costs ~13% of the drain at 2000 and ~5% at 10000), WAL under /var/tmp, 120 s at most per
 * drain, 5 rounds.
 * The user of CONNINFO must be allowed to CREATE DATABASE (the databases are dropped at the
 * end). tests/bench/drain runs this against a PostgreSQL of its own.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "../unit/wal_fixture.h"
#include "doorbell.h"
#include "drainer.h"
#include "pgdb.h"
#include "schema.h"

#define BURST 32
#define WINDOW 4096 /* records in flight through the writer */

struct opts {
	const char *conninfo;
	const char *dir;
	uint64_t messages;
	unsigned rooms;
	unsigned body;
	unsigned batch_max;
	double seconds;
	unsigned rounds;
	bool synced;
};

struct drain_result {
	const char *name;
	uint64_t rows;
	uint64_t batches;
	double seconds;
	double cpu_s; /* this process's CPU time meanwhile (the drainer thread, mostly) */
	bool complete;
};

/* A database of this run: created fresh for a phase, dropped after it. */
struct bench_db {
	char name[64];
	char conninfo[700];
};

static struct opts o;
static unsigned ndbs;

static double
secs_since(uint64_t t0)
{
	return (double)(fx_now_us() - t0) / 1e6;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- databases ---- */

static int
admin_exec(const char *conninfo, const char *sql)
{
	struct rc_pgdb db = { 0 };
	int rc = rc_pgdb_connect(&db, conninfo, "bench_drain");

	if (rc == 0)
		rc = rc_pgdb_exec(&db, sql);
	if (rc != 0)
		fprintf(stderr, "bench_drain: %s: %s\n", sql, db.err);
	rc_pgdb_close(&db);
	return rc;
}

static int
db_create(struct bench_db *b)
{
	char sql[128];

	snprintf(b->name, sizeof(b->name), "rc_bench_%d_%u", (int)getpid(), ndbs++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->name);
	if (admin_exec(o.conninfo, sql) != 0)
		return -1;
	snprintf(b->conninfo, sizeof(b->conninfo), "%s dbname=%s", o.conninfo, b->name);
	return 0;
}

static void
db_drop(struct bench_db *b)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", b->name);
	admin_exec(o.conninfo, sql);
}

/* Creates the schema (so that the timed drain does not) and checkpoints. */
static int
prepare_db(const char *conninfo)
{
	struct rc_pgdb db = { 0 };
	char err[256] = "";
	int rc = rc_pgdb_connect(&db, conninfo, "bench_drain");

	if (rc == 0)
		rc = rc_schema_migrate(&db, NULL, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "bench_drain: schema: %s %s\n", db.err, err);
	else
		rc_pgdb_exec(&db, "CHECKPOINT"); /* superuser only: best effort */
	rc_pgdb_close(&db);
	return rc;
}

/* ---- filling the WAL ---- */

static struct rc_wal *
wal_open(const char *dir)
{
	struct rc_wal_conf c = fx_conf(dir);
	char err[256] = "";
	struct rc_wal *w;

	c.map_size = 4ull << 30;
	c.high_water_pct = 99;
	c.batch_max = 512;
	c.ring_size = 8192;
	c.pool_size = 8192;
	c.nosync = !o.synced;
	w = rc_wal_open(&c, err, sizeof(err));
	if (w == NULL)
		fprintf(stderr, "bench_drain: %s\n", err);
	return w;
}

/* Record i of the run: rooms first, then messages round-robin over the rooms. */
static void
fill_rec(struct rc_wal_rec *r, uint64_t i, uint64_t *seqs)
{
	char name[32], user[32], body[RC_MAX_BODY + 1];

	if (i < o.rooms) {
		snprintf(name, sizeof(name), "bench-room-%03" PRIu64, i + 1);
		fx_room(r, (uint32_t)i + 1, 1700000000000ull, "bench", name);
		return;
	}
	i -= o.rooms;
	memset(body, 'a' + (int)(i % 26), o.body);
	snprintf(body, sizeof(body), "message %" PRIu64 " ", i);
	body[strlen(body)] = 'x';
	body[o.body] = '\0';
	snprintf(user, sizeof(user), "user%02" PRIu64, i % 50);
	fx_msg(r, (uint32_t)(i % o.rooms) + 1, ++seqs[i % o.rooms], user, body);
	r->ts_ms = 1700000000000ull + i;
}

static uint64_t
reap(struct rc_wal *w, struct rte_ring *done, uint64_t *bad)
{
	void *objs[BURST];
	unsigned n = rte_ring_dequeue_burst(done, objs, BURST, NULL);

	for (unsigned i = 0; i < n; i++)
		*bad += ((struct rc_wal_rec *)objs[i])->status != 0;
	rte_mempool_put_bulk(rc_wal_pool(w), objs, n);
	return n;
}

/* Pushes n records through the writer; returns the seconds it took, or < 0. */
static double
fill(struct rc_wal *w, struct rte_ring *done, uint64_t first, uint64_t n, uint64_t *seqs)
{
	uint64_t sent = 0, completed = 0, bad = 0, t0 = fx_now_us();
	void *objs[BURST];

	while (sent < n) {
		unsigned k = (unsigned)RTE_MIN((uint64_t)BURST, n - sent);

		completed += reap(w, done, &bad);
		if (sent - completed + k > WINDOW ||
		    rte_mempool_get_bulk(rc_wal_pool(w), objs, k) != 0) {
			usleep(5);
			continue;
		}
		for (unsigned i = 0; i < k; i++) {
			fill_rec(objs[i], first + sent + i, seqs);
			((struct rc_wal_rec *)objs[i])->reply_to = 0;
		}
		while (rte_ring_enqueue_bulk(rc_wal_ring(w), objs, k, NULL) == 0)
			completed += reap(w, done, &bad);
		rc_bell_ring(rc_wal_bell(w));
		sent += k;
	}
	while (completed < sent)
		completed += reap(w, done, &bad);
	if (bad != 0) {
		fprintf(stderr, "bench_drain: %" PRIu64 " records refused by the WAL\n", bad);
		return -1;
	}
	return secs_since(t0);
}

/* Opens a WAL in dir with its writer running; done gets the completion ring. */
static struct rc_wal *
wal_start(const char *dir, struct rte_ring **done, const char *ring_name)
{
	struct rc_wal *w = wal_open(dir);

	if (w == NULL)
		return NULL;
	*done = rte_ring_create(ring_name, 8192, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (*done == NULL || rc_wal_set_completion(w, 0, *done) != 0 || rc_wal_start(w) != 0) {
		fprintf(stderr, "bench_drain: cannot start the WAL writer\n");
		rc_wal_close(w);
		return NULL;
	}
	return w;
}

/* ---- draining ---- */

static struct rc_drainer *
drainer_new(struct rc_wal *w, const char *conninfo, enum rc_drain_method m)
{
	struct rc_drainer_conf c = {
		.conninfo = conninfo,
		.node_id = "bench",
		.batch_max = o.batch_max,
		.method = m,
		.idle_ms = 1,
	};
	struct rc_drainer *d = rc_drainer_create(w, &c);

	if (d == NULL)
		fprintf(stderr, "bench_drain: rc_drainer_create: %s\n", strerror(errno));
	return d;
}

/* Waits until w is drained, or the deadline; true if drained. */
static bool
wait_drained(struct rc_wal *w, uint64_t deadline_us)
{
	while (rc_wal_drained_lsn(w) < rc_wal_last_lsn(w)) {
		if (fx_now_us() > deadline_us)
			return false;
		usleep(1000);
	}
	return true;
}

static int
drain_phase(const char *dir, const char *conninfo, enum rc_drain_method m,
	    struct drain_result *res)
{
	struct rc_drainer_stats st;
	struct rc_drainer *d;
	struct rc_wal *w;
	double c0;
	uint64_t t0;

	if (prepare_db(conninfo) != 0 || (w = wal_open(dir)) == NULL)
		return -1;
	d = drainer_new(w, conninfo, m);
	if (d == NULL || rc_drainer_start(d) != 0) {
		rc_wal_close(w);
		return -1;
	}
	t0 = fx_now_us();
	c0 = cpu_s();
	res->complete = wait_drained(w, t0 + (uint64_t)(o.seconds * 1e6));
	res->seconds = secs_since(t0);
	res->cpu_s = cpu_s() - c0;
	rc_drainer_stop(d);
	rc_drainer_get_stats(d, &st);
	res->rows = st.drained > o.rooms ? st.drained - o.rooms : 0;
	res->batches = st.batches;
	if (st.errors != 0)
		fprintf(stderr, "bench_drain: %s: %" PRIu64 " errors, last: %s\n", res->name,
			st.errors, st.last_error);
	rc_drainer_destroy(d);
	rc_wal_close(w);
	return 0;
}

/* ---- the ceiling ---- */

struct copy_buf {
	char *p;
	size_t len;
	size_t cap;
};

static int
copy_add_rec(void *arg, const struct rc_wal_logrec *r)
{
	struct copy_buf *b = arg;
	size_t need = 3 * (r->user.len + r->body.len) + 256;

	if (r->kind != RC_WAL_MSG)
		return 0;
	if (b->len + need > b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 64u << 20;
		char *p = realloc(b->p, cap);

		if (p == NULL)
			return 1;
		b->p = p;
		b->cap = cap;
	}
	b->len += (size_t)sprintf(b->p + b->len, "bench-room-%03u\t%" PRIu64 "\t", r->room_id,
				  r->seq);
	b->len += rc_pgdb_copy_escape(b->p + b->len, b->cap - b->len, r->user.p, r->user.len);
	b->len += (size_t)sprintf(b->p + b->len, "\t%" PRIu64 "\t", r->ts_ms);
	b->len += rc_pgdb_copy_escape(b->p + b->len, b->cap - b->len, r->body.p, r->body.len);
	b->len += (size_t)sprintf(b->p + b->len, "\t%" PRId64 "\t0\tbench\n", (int64_t)r->cmid);
	return 0;
}

/* The messages of the WAL in dir as COPY text, in LSN order. */
static int
copy_text(const char *dir, struct copy_buf *b)
{
	struct rc_wal *w = wal_open(dir);
	uint64_t lsn = 1;
	int n;

	if (w == NULL)
		return -1;
	do {
		n = rc_wal_log_read(w, lsn, 10000, copy_add_rec, b);
		lsn += n > 0 ? (uint64_t)n : 0;
	} while (n > 0);
	rc_wal_close(w);
	return n;
}

/* One COPY of the buffer into a fresh table (CREATE TABLE table (like)), one transaction;
 * with `fence`, the table gets messages' statement trigger (the stale-write fence, whose
 * transition table captures every row: work that every write into messages pays), which
 * LIKE does not copy. Seconds or < 0. */
static double
copy_into(const char *conninfo, const char *table, const char *like, bool fence,
	  const struct copy_buf *b)
{
	struct rc_pgdb db = { 0 };
	char sql[256];
	uint64_t t0 = 0;
	int rc = rc_pgdb_connect(&db, conninfo, "bench_drain");

	snprintf(sql, sizeof(sql), "CREATE TABLE %s (%s)", table, like);
	if (rc == 0)
		rc = rc_pgdb_exec(&db, sql);
	snprintf(sql, sizeof(sql), "CREATE TRIGGER %s_fence AFTER INSERT ON %s REFERENCING NEW"
		 " TABLE AS rc_new FOR EACH STATEMENT EXECUTE FUNCTION rc_messages_fence()",
		 table, table);
	if (rc == 0 && fence)
		rc = rc_pgdb_exec(&db, sql);
	if (rc == 0) {
		rc_pgdb_exec(&db, "CHECKPOINT");
		t0 = fx_now_us();
		rc = rc_pgdb_exec(&db, "BEGIN; SET LOCAL synchronous_commit = on");
	}
	snprintf(sql, sizeof(sql), "COPY %s (room, seq, sender, ts_ms, body, cmid, epoch, node)"
		 " FROM STDIN", table);
	if (rc == 0)
		rc = rc_pgdb_copy_begin(&db, sql);
	for (size_t off = 0; rc == 0 && off < b->len; off += 1u << 20)
		rc = rc_pgdb_copy_put(&db, b->p + off, RTE_MIN((size_t)1u << 20, b->len - off));
	if (rc == 0)
		rc = rc_pgdb_copy_end(&db);
	if (rc == 0)
		rc = rc_pgdb_exec(&db, "COMMIT");
	if (rc != 0)
		fprintf(stderr, "bench_drain: ceiling COPY: %s\n", db.err);
	rc_pgdb_close(&db);
	return rc == 0 ? secs_since(t0) : -1;
}

/* ---- accept while draining ---- */

static int
live_phase(const char *dir, const char *conninfo, enum rc_drain_method m, double *fill_s,
	   uint64_t *lag, double *catchup_s)
{
	uint64_t *seqs = calloc(o.rooms, sizeof(*seqs)), n = o.rooms + o.messages / 2, t0;
	struct rc_drainer *d = NULL;
	struct rte_ring *done;
	struct rc_wal *w;
	int rc = -1;

	if (seqs == NULL || prepare_db(conninfo) != 0 ||
	    (w = wal_start(dir, &done, "bench_live")) == NULL)
		goto out_free;
	d = drainer_new(w, conninfo, m);
	if (d != NULL && rc_drainer_start(d) == 0) {
		*fill_s = fill(w, done, 0, n, seqs);
		*lag = rc_wal_last_lsn(w) - rc_wal_drained_lsn(w);
		t0 = fx_now_us();
		rc = wait_drained(w, t0 + (uint64_t)(o.seconds * 1e6)) && *fill_s > 0 ? 0 : -1;
		*catchup_s = secs_since(t0);
	}
	rc_drainer_destroy(d);
	rc_wal_stop(w);
	rc_wal_close(w);
	rte_ring_free(done);
out_free:
	free(seqs);
	return rc;
}

/* ---- main ---- */

static int
parse_opts(int argc, char **argv)
{
	int ch;

	o = (struct opts){ .dir = "/var/tmp", .messages = 200000, .rooms = 100, .body = 200,
			   .batch_max = 10000, .seconds = 120, .rounds = 5 };
	while ((ch = getopt(argc, argv, "c:n:r:B:b:d:t:R:sh")) != -1) {
		switch (ch) {
		case 'c': o.conninfo = optarg; break;
		case 'n': o.messages = strtoull(optarg, NULL, 10); break;
		case 'r': o.rooms = (unsigned)atoi(optarg); break;
		case 'B': o.body = (unsigned)atoi(optarg); break;
		case 'b': o.batch_max = (unsigned)atoi(optarg); break;
		case 'd': o.dir = optarg; break;
		case 't': o.seconds = atof(optarg); break;
		case 'R': o.rounds = (unsigned)atoi(optarg); break;
		case 's': o.synced = true; break;
		default:
			fprintf(stderr, "usage: bench_drain -c CONNINFO [-n MESSAGES] [-r ROOMS] "
					"[-B BODY] [-b BATCH_MAX] [-d DIR] [-t SECONDS] "
					"[-R ROUNDS] [-s]\n");
			return ch == 'h' ? 1 : -1;
		}
	}
	if (o.conninfo == NULL || o.messages == 0 || o.rooms == 0 || o.rooms > 999 ||
	    o.body < 32 || o.body > RC_MAX_BODY || o.batch_max == 0 || o.seconds <= 0 ||
	    o.rounds == 0) {
		fprintf(stderr, "bench_drain: bad or missing options (-h)\n");
		return -1;
	}
	return 0;
}

static void
print_drain(const struct drain_result *r)
{
	printf("  %-28s %10" PRIu64 " rows %8.2f s %10.0f rows/s %6" PRIu64
	       " batches, drainer cpu %.2f s%s\n", r->name, r->rows, r->seconds,
	       (double)r->rows / r->seconds, r->batches, r->cpu_s,
	       r->complete ? "" : "  INCOMPLETE");
}

static void
print_copy(const char *name, double s)
{
	printf("  %-28s %10" PRIu64 " rows %8.2f s %10.0f rows/s\n", name, o.messages, s,
	       (double)o.messages / s);
}

static int
remove_dir(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
copy_dir(const char *from, const char *to)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
	return system(cmd) == 0 ? 0 : -1;
}

/* Best (shortest) times over the rounds. */
struct best {
	struct drain_result dr[2];
	double copy_s;
	double noidx_s;
	double ratio[64]; /* per round: the faster drain / the ceiling, same conditions */
	double rate[3][64]; /* per round: drain COPY, drain PIPELINE, ceiling (rows/s) */
	unsigned rounds;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The round whose drain / ceiling ratio is the median (the lower middle one). */
static unsigned
median_round(const struct best *b)
{
	for (unsigned i = 0; i < b->rounds; i++) {
		unsigned below = 0, equal_before = 0;

		for (unsigned j = 0; j < b->rounds; j++) {
			below += b->ratio[j] < b->ratio[i];
			equal_before += j < i && b->ratio[j] == b->ratio[i];
		}
		if (below + equal_before == (b->rounds - 1) / 2)
			return i;
	}
	return 0;
}

/* The median of n values (sorts them). */
static double
median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static void
keep_best(struct drain_result *best, const struct drain_result *r)
{
	if (best->seconds == 0 || (r->complete && r->seconds < best->seconds) ||
	    (r->complete && !best->complete))
		*best = *r;
}

/* The ceiling's two COPYs, in db (which has the schema). */
static int
ceiling_phase(const char *conninfo, const struct copy_buf *b, double *copy_s, double *noidx_s)
{
	*copy_s = copy_into(conninfo, "ceiling", "LIKE messages INCLUDING ALL", true, b);
	*noidx_s = copy_into(conninfo, "ceiling_noidx", "LIKE messages", false, b);
	return *copy_s > 0 && *noidx_s > 0 ? 0 : -1;
}

/* One round: drain COPY and the ceiling in one database (in turns, one first and then the
 * other, so that neither always meets the server's state after the other), then drain
 * PIPELINE in another database. */
static int
round_run(const char *orig, const char *work, const struct copy_buf *b, struct best *best)
{
	struct drain_result dr[2] = { { .name = "drain COPY" }, { .name = "drain PIPELINE" } };
	const enum rc_drain_method m[2] = { RC_DRAIN_COPY, RC_DRAIN_PIPELINE };
	double copy_s = -1, noidx_s = -1, ratio;
	bool ceiling_first = best->rounds % 2 == 1;
	struct bench_db db;
	int rc = 0;

	for (unsigned k = 0; k < 2 && rc == 0; k++) {
		if (copy_dir(orig, work) != 0 || db_create(&db) != 0)
			return -1;
		if (k == 0 && ceiling_first) {
			rc = prepare_db(db.conninfo);
			if (rc == 0)
				rc = ceiling_phase(db.conninfo, b, &copy_s, &noidx_s);
		}
		if (rc == 0)
			rc = drain_phase(work, db.conninfo, m[k], &dr[k]);
		if (rc == 0 && k == 0 && !ceiling_first)
			rc = ceiling_phase(db.conninfo, b, &copy_s, &noidx_s);
		db_drop(&db);
	}
	if (rc != 0)
		return rc;
	print_drain(&dr[0]);
	print_copy("ceiling: COPY, indexed", copy_s);
	print_copy("(COPY, no index)", noidx_s);
	print_drain(&dr[1]);
	fflush(stdout);
	ratio = RTE_MAX(dr[0].rows / dr[0].seconds, dr[1].rows / dr[1].seconds) /
		((double)o.messages / copy_s);
	if (best->rounds < RTE_DIM(best->ratio)) {
		best->rate[0][best->rounds] = dr[0].rows / dr[0].seconds;
		best->rate[1][best->rounds] = dr[1].rows / dr[1].seconds;
		best->rate[2][best->rounds] = (double)o.messages / copy_s;
		best->ratio[best->rounds++] = ratio;
	}
	printf("  %-28s %.2f\n", "this round: drain / ceiling", ratio);
	keep_best(&best->dr[0], &dr[0]);
	keep_best(&best->dr[1], &dr[1]);
	if (best->copy_s == 0 || copy_s < best->copy_s)
		best->copy_s = copy_s;
	if (best->noidx_s == 0 || noidx_s < best->noidx_s)
		best->noidx_s = noidx_s;
	return 0;
}

static int
run(const char *orig, const char *work)
{
	uint64_t *seqs = calloc(o.rooms, sizeof(*seqs)), lag = 0;
	double accept_s, live_s = 0, catchup_s = 0, rate[3];
	struct best best = { 0 };
	struct copy_buf b = { 0 };
	struct rte_ring *done;
	struct bench_db db;
	struct rc_wal *w;
	unsigned mid;
	int fast, rc = 0;

	if (seqs == NULL || (w = wal_start(orig, &done, "bench_fill")) == NULL)
		return -1;
	accept_s = fill(w, done, 0, o.rooms + o.messages, seqs);
	rc_wal_stop(w);
	rc_wal_close(w);
	rte_ring_free(done);
	free(seqs);
	if (accept_s < 0 || copy_text(orig, &b) != 0)
		return -1;
	printf("WAL accept (%s, writer thread, batch_max 512)\n", o.synced ? "synced" : "nosync");
	printf("  %-28s %10" PRIu64 " recs %8.2f s %10.0f recs/s\n", "fill", o.rooms + o.messages,
	       accept_s, (double)(o.rooms + o.messages) / accept_s);
	for (unsigned r = 0; r < o.rounds && rc == 0; r++) {
		printf("round %u/%u (drain batch_max %u: thread start until the last LSN is "
		       "drained; ceiling: one COPY, one transaction, same rows, same database)\n",
		       r + 1, o.rounds, o.batch_max);
		rc = round_run(orig, work, &b, &best);
	}
	free(b.p);
	if (rc != 0)
		return rc;
	for (unsigned k = 0; k < 3; k++) {
		double v[RTE_DIM(best.rate[k])];

		memcpy(v, best.rate[k], sizeof(v));
		rate[k] = median(v, best.rounds);
	}
	fast = rate[1] > rate[0] ? 1 : 0;
	if (remove_dir(work) != 0 || db_create(&db) != 0)
		return -1;
	rc = live_phase(work, db.conninfo, fast ? RC_DRAIN_PIPELINE : RC_DRAIN_COPY, &live_s,
			&lag, &catchup_s);
	db_drop(&db);
	if (rc != 0)
		return -1;
	printf("accept while draining (%s)\n", best.dr[fast].name);
	printf("  %-28s %10" PRIu64 " recs %8.2f s %10.0f recs/s  lag at end %" PRIu64
	       " recs, drained %.2f s later\n", "fill + drain", o.rooms + o.messages / 2, live_s,
	       (double)(o.rooms + o.messages / 2) / live_s, lag, catchup_s);
	printf("best of %u round(s)\n", o.rounds);
	print_drain(&best.dr[0]);
	print_drain(&best.dr[1]);
	print_copy("ceiling: COPY, indexed", best.copy_s);
	print_copy("(COPY, no index)", best.noidx_s);
	printf("median of %u round(s): drain COPY %.0f rows/s, drain PIPELINE %.0f rows/s, "
	       "ceiling %.0f rows/s; the rounds' own drain / ceiling: median %.2f\n", o.rounds,
	       rate[0], rate[1], rate[2], best.ratio[median_round(&best)]);
	mid = median_round(&best);
	printf("median round: %u\n", mid + 1);
	printf("drain_rows_per_s: %.0f\n", best.rate[fast][mid]);
	printf("copy_rows_per_s: %.0f\n", best.rate[2][mid]);
	printf("drain_vs_copy: %.2f\n", best.rate[fast][mid] / best.rate[2][mid]);
	return best.dr[0].complete && best.dr[1].complete ? 0 : -1;
}

int
main(int argc, char **argv)
{
	char dir[256], work[300], cmd[1024];
	int rc;

	if ((rc = parse_opts(argc, argv)) != 0)
		return rc > 0 ? 0 : 2;
	if (fx_eal_init_lcores("bench_drain", sysconf(_SC_NPROCESSORS_ONLN) > 1 ? "1" : "0")
	    < 0) {
		fprintf(stderr, "bench_drain: cannot initialise the EAL\n");
		return 1;
	}
	fx_tmpdir(dir, sizeof(dir), o.dir);
	snprintf(work, sizeof(work), "%s.work", dir);
	printf("bench_drain: %" PRIu64 " messages, %u rooms, %u-byte bodies, WAL in %s\n",
	       o.messages, o.rooms, o.body, dir);
	rc = run(dir, work);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, work);
	if (system(cmd) != 0)
		fprintf(stderr, "bench_drain: cannot remove %s\n", dir);
	rte_eal_cleanup();
	return rc == 0 ? 0 : 1;
}
