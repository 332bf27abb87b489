/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of storage/drainer.c (with its drain_*.c) and of storage/history.c with a
 * database: a real WAL (LMDB in a scratch directory, EAL with --no-huge) and a real
 * PostgreSQL (tests/unit/pg_fixture.h), each test in a database of its own. The drain tests
 * run once per method (COPY, PIPELINE; tests/unit/drain_fixture.h).
 *
 *   drainer_test [PATH/TO/pg-fixture.sh]
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <rte_mempool.h>
#include <rte_ring.h>

#include "doorbell.h"
#include "drain_fixture.h"
#include "drainer.h"
#include "history.h"
#include "pg_fixture.h"
#include "schema.h"
#include "wal_fixture.h"
#include "wal_format.h" /* RC_WAL_STATE_MARK: a log entry as the stream carries it */

struct fx {
	enum rc_drain_method method;
	char dir[128];
	char conninfo[600];
	struct rc_wal *w;
	struct rc_drainer *d;
	struct rc_history *h;
};

/* ---- helpers ---- */

static struct rc_wal *
wal_open(const char *dir, uint64_t keep_records)
{
	struct rc_wal_conf c = fx_conf(dir);
	char err[256] = "";
	struct rc_wal *w;

	c.keep_records = keep_records;
	w = rc_wal_open(&c, err, sizeof(err));
	if (w == NULL)
		fail_msg("rc_wal_open: %s", err);
	return w;
}

static void
commit_rec(struct rc_wal *w, struct rc_wal_rec *r)
{
	assert_int_equal(rc_wal_commit_now(w, &r, 1), 0);
	assert_int_equal(r->status, 0);
}

static void
commit_room(struct rc_wal *w, uint32_t id, const char *name)
{
	struct rc_wal_rec r;

	fx_room(&r, id, 1700000000000ull, "creator", name);
	commit_rec(w, &r);
}

/* Messages first..last of a room, sender user, body "hello SEQ" (+ extra), in batches. */
static void
commit_msgs_by(struct rc_wal *w, uint32_t room, uint64_t first, uint64_t last,
	       const char *extra, uint64_t ts_ms, const char *user)
{
	static struct rc_wal_rec recs[64];
	struct rc_wal_rec *rp[64];
	unsigned n = 0;

	for (uint64_t s = first; s <= last; s++) {
		char body[256];

		snprintf(body, sizeof(body), "hello %" PRIu64 "%s", s, extra != NULL ? extra : "");
		fx_msg(&recs[n], room, s, user, body);
		if (ts_ms != 0)
			recs[n].ts_ms = ts_ms;
		rp[n] = &recs[n];
		if (++n == 64 || s == last) {
			assert_int_equal(rc_wal_commit_now(w, rp, n), 0);
			for (unsigned i = 0; i < n; i++)
				assert_int_equal(recs[i].status, 0);
			n = 0;
		}
	}
}

/* The same, sender alice. */
static void
commit_msgs(struct rc_wal *w, uint32_t room, uint64_t first, uint64_t last, const char *extra,
	    uint64_t ts_ms)
{
	commit_msgs_by(w, room, first, last, extra, ts_ms, "alice");
}

/* A stored room's new state flags (RC_WAL_ROOM_SET), committed. */
static void
commit_room_state(struct rc_wal *w, uint32_t id, uint8_t flags)
{
	struct rc_wal_rec r;

	memset(&r, 0, sizeof(r));
	r.kind = RC_WAL_ROOM_SET;
	r.room_id = id;
	r.cmid = flags;
	commit_rec(w, &r);
}

static struct rc_drainer *
drainer_new(struct fx *f, unsigned batch_max)
{
	struct rc_drainer_conf c = fx_drainer_conf(f->conninfo, f->method);
	struct rc_drainer *d;

	c.batch_max = batch_max;
	c.idle_ms = 2;
	c.epoch = 7;
	d = rc_drainer_create(f->w, &c);
	assert_non_null(d);
	return d;
}

static long long
num(struct fx *f, const char *sql)
{
	return pgfx_num(f->conninfo, sql);
}

static void
snapshot(const char *dir, const char *suffix)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s%s' && cp -a '%s' '%s%s'", dir, suffix, dir, dir,
		 suffix);
	assert_int_equal(system(cmd), 0);
}

/* Replaces dir by its snapshot (the WAL must be closed). */
static void
restore(const char *dir, const char *suffix)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mv '%s%s' '%s'", dir, dir, suffix, dir);
	assert_int_equal(system(cmd), 0);
}

static int
setup(void **state)
{
	struct fx *f = FX_STATE_NEW(struct fx);

	f->method = fx_method(state);
	assert_int_equal(pgfx_newdb(f->conninfo, sizeof(f->conninfo)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[640];

	rc_history_destroy(f->h);
	rc_drainer_destroy(f->d);
	if (f->w != NULL)
		rc_wal_close(f->w);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'.s1 '%s'.s2 '%s'.s3", f->dir, f->dir, f->dir,
		 f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	/* a test that failed while the server was stopped must not fail the next ones */
	if (pgfx_can_restart() && pgfx_start() != 0)
		fprintf(stderr, "drainer_test: cannot start PostgreSQL again\n");
	return 0;
}

/* ---- drain ---- */

static const char room2[] = "we{ird}, \"room\" \\ name";

static void
test_drain_once(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;
	uint64_t last;
	int n;

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	commit_room(f->w, 2, room2);
	commit_room(f->w, 3, "caf\xc3\xa9");
	commit_msgs(f->w, 1, 1, 1500, NULL, 0);
	commit_msgs(f->w, 2, 1, 700, " tab\there\nnew line\\back\rcr \xe2\x82\xac", 0);
	commit_msgs(f->w, 3, 1, 3, NULL, 0);
	last = rc_wal_last_lsn(f->w);
	assert_int_equal(last, 3 + 2203);
	f->d = drainer_new(f, 1500); /* COPY streams it in chunks of 1000 */
	n = rc_drainer_drain_now(f->d);
	assert_int_equal(n, 3 + 2203);
	assert_int_equal(rc_wal_drained_lsn(f->w), last);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 2203);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'lobby'"), 1500);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'we{ird}, \"room\""
				" \\ name' AND body = 'hello 9 tab' || chr(9) || 'here' ||"
				" chr(10) || 'new line\\back' || chr(13) || 'cr \xe2\x82\xac'"
				" AND seq = 9"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'caf\xc3\xa9'"), 3);
	assert_int_equal(num(f, "SELECT cmid + ts_ms + epoch FROM messages WHERE room = 'lobby'"
				" AND seq = 42 AND sender = 'alice' AND node = 'n1'"),
			 1042 + 1700000000042ll + 7);
	assert_int_equal(num(f, "SELECT sum(next_seq) FROM rooms"), 1501 + 701 + 4);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE creator = 'creator' AND"
				" hosting_node = 'n1' AND room_id IS NOT NULL"), 3);
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state WHERE node = 'n1'"),
			 (long long)last);
	rc_drainer_get_stats(f->d, &st);
	assert_true(st.connected);
	assert_int_equal(st.drained, last);
	assert_int_equal(st.batches, 2);
	assert_int_equal(st.conflicts, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.schema_version, RC_SCHEMA_VERSION);
	assert_true(st.last_batch_ms > 1700000000000ull);
	/* nothing more to do; then only what is new */
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	commit_msgs(f->w, 1, 1501, 1510, NULL, 0);
	assert_int_equal(rc_drainer_drain_now(f->d), 10);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 2213);
	assert_int_equal(num(f, "SELECT next_seq FROM rooms WHERE name = 'lobby'"), 1511);
}

/* A crash between the PostgreSQL COMMIT and the LMDB marker: the database's marker is
 * adopted; without it (row lost) the re-drain inserts nothing twice; a marker that is not
 * ours is ignored. */
static void
test_redrain(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 1000, NULL, 0);
	rc_wal_close(f->w);
	snapshot(f->dir, ".s1");
	snapshot(f->dir, ".s2");
	snapshot(f->dir, ".s3");
	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 300);
	assert_int_equal(rc_drainer_drain_now(f->d), 1001);
	rc_drainer_destroy(f->d);
	rc_wal_close(f->w);

	/* LMDB's marker lost: drain_state says 1001, the record there is in the database */
	restore(f->dir, ".s1");
	f->w = wal_open(f->dir, 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), 0);
	f->d = drainer_new(f, 300);
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), 1001);
	rc_drainer_destroy(f->d);
	rc_wal_close(f->w);

	/* both markers lost: everything again, exactly one row each, no alarm */
	restore(f->dir, ".s2");
	assert_int_equal(pgfx_exec(f->conninfo, "DELETE FROM drain_state"), 0);
	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 300);
	assert_int_equal(rc_drainer_drain_now(f->d), 1001);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.conflicts, 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 1000);
	assert_int_equal(num(f, "SELECT count(DISTINCT (room, seq)) FROM messages"), 1000);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_alarms"), 0);
	assert_int_equal(num(f, "SELECT next_seq FROM rooms"), 1001);
	rc_drainer_destroy(f->d);
	rc_wal_close(f->w);

	/* a marker whose record is not in the database (another WAL's): ignored */
	restore(f->dir, ".s3");
	assert_int_equal(pgfx_exec(f->conninfo, "UPDATE drain_state SET drained_lsn = 500;"
						"DELETE FROM messages WHERE seq = 499"), 0);
	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 300);
	assert_int_equal(rc_drainer_drain_now(f->d), 1001);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 1000);
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state"), 1001);
}

/* ---- hostile contents, byte for byte ---- */

/* What COPY's encodings could get wrong: the text format's delimiters and escapes (tab,
 * newline, CR, backslash, "\N" = NULL, "\." = end of data, and literal "\t" sequences a
 * double unescape would turn into a tab), multi-byte UTF-8 (emoji, CJK), control bytes,
 * empty strings, the largest body, user and room name, cmids above 2^63 - 1 (a bigint as
 * two's complement, schema.c) and large ts_ms. */
#define H_EMOJI "\xf0\x9f\x98\x80"                                   /* U+1F600 */
#define H_PARTY "\xf0\x9f\x8e\x89"                                   /* U+1F389 */
#define H_CJK "\xe4\xb8\xad\xe6\x96\x87\xe5\xad\x97\xe7\xac\xa6"     /* 4 CJK ideographs */
#define H_USER_CJK "\xe7\x94\xa8\xe6\x88\xb7"                        /* 2 CJK ideographs */
#define H_EURO "\xe2\x82\xac"
#define H_NA 10 /* rows of the first drain; as many new ones in the re-drain */

struct hrow {
	uint32_t room_id;
	uint64_t seq;
	uint64_t cmid;
	uint64_t ts_ms;
	const char *user;
	const char *body;
};

static char h_room_max[RC_MAX_ROOM + 1], h_user_max[RC_MAX_USER + 1];
static char h_body_mixed[RC_MAX_BODY + 1], h_body_bs[RC_MAX_BODY + 1];
static char h_body_emoji[RC_MAX_BODY + 1];

static const char h_room2[] = "tab\there nl\nthere cr\r back\\slash \\N \\. \"q\" {a,b} '"
			      H_EMOJI H_CJK;
static const char *const h_rooms[4] = { NULL, "\\N", h_room2, h_room_max };

/* Exactly len bytes of the pieces over and over (valid UTF-8: a piece that does not fit
 * whole is left out, 'x' fills the rest). */
static void
h_fill(char *buf, size_t len, const char *const *pieces, unsigned npieces)
{
	size_t n = 0;

	for (unsigned i = 0; n < len; i++) {
		const char *p = pieces[i % npieces];
		size_t pl = strlen(p);

		if (i >= npieces * (len + 1)) /* nothing fits any more */
			break;
		if (n + pl <= len) {
			memcpy(buf + n, p, pl);
			n += pl;
		}
	}
	memset(buf + n, 'x', len - n);
	buf[len] = '\0';
}

static void
h_init(void)
{
	static const char *const mixed[] = {
		"\t", "\n", "\r", "\\", "\\N", "\\.", H_EMOJI, H_CJK, H_EURO, "\"", "{", "}",
		",", "'", "\x01\x08\x0b\x0c\x1b\x7f", " ", "\\t", "\r\n", H_PARTY, "\\\\",
	};
	static const char *const user[] = { "\\N", "\t", H_EMOJI, "\\", "\n", "\r", H_USER_CJK };
	static const char *const bs[] = { "\\" };
	static const char *const emoji[] = { H_EMOJI, H_PARTY };

	h_fill(h_room_max, RC_MAX_ROOM, mixed, RTE_DIM(mixed));
	h_fill(h_user_max, RC_MAX_USER, user, RTE_DIM(user));
	h_fill(h_body_mixed, RC_MAX_BODY, mixed, RTE_DIM(mixed));
	h_fill(h_body_bs, RC_MAX_BODY, bs, 1);
	h_fill(h_body_emoji, RC_MAX_BODY, emoji, RTE_DIM(emoji));
	assert_int_equal(strlen(h_room_max), RC_MAX_ROOM);
	assert_int_equal(strlen(h_user_max), RC_MAX_USER);
	assert_int_equal(strlen(h_body_mixed), RC_MAX_BODY);
	assert_int_equal(strlen(h_body_emoji), RC_MAX_BODY);
	assert_int_equal(strspn(h_body_bs, "\\"), RC_MAX_BODY);
}

/* The first drain's rows; the re-drain adds each again 100 seqs later, with the cmids
 * and ts_ms of other rows. */
static void
h_rows(struct hrow *r)
{
	const struct hrow a[H_NA] = {
		{ 1, 1, 1, INT64_MAX, "tab\tuser", "a\tb\tc" },
		{ 1, 2, INT64_MAX, (1ull << 53) + 1, "nl\nuser\r", "line1\nline2\r\nline3\r" },
		{ 1, 3, 1ull << 63, 4102444800000ull, "back\\slash\\", "\\N" },
		{ 1, 4, UINT64_MAX, 1ull << 62, "\\N", "\\." },
		{ 1, 5, 0, 0, "", "" },
		{ 2, 1, (1ull << 63) + 1, INT64_MAX - 1, H_EMOJI H_USER_CJK,
		  "emoji " H_EMOJI H_PARTY " CJK " H_CJK " \t\\N\n" H_EURO
		  " \x01\x08\x0b\x0c\x1b\x7f end\\" },
		{ 2, 2, UINT64_MAX - 1, 253402300799999ull, h_user_max, h_body_mixed },
		{ 3, 1, 1, 1ull << 40, "\r", h_body_bs },
		{ 3, 2, 1ull << 63, UINT32_MAX + 1ull, "\\", h_body_emoji },
		{ 3, 7, INT64_MAX, 1700000000000ull, "\\t\\n", "\\\\N \\t \\n \\r \\\\ \\x41 \\101" },
	};

	for (unsigned i = 0; i < H_NA; i++) {
		r[i] = a[i];
		r[H_NA + i] = a[i];
		r[H_NA + i].seq += 100;
		r[H_NA + i].cmid = a[(i + 3) % H_NA].cmid;
		r[H_NA + i].ts_ms = a[(i + 1) % H_NA].ts_ms;
	}
}

static void
h_commit(struct rc_wal *w, const struct hrow *rows, unsigned n)
{
	static struct rc_wal_rec recs[2 * H_NA];
	struct rc_wal_rec *rp[2 * H_NA];

	assert_true(n <= RTE_DIM(recs));
	for (unsigned i = 0; i < n; i++) {
		struct rc_wal_rec *r = &recs[i];

		memset(r, 0, sizeof(*r));
		r->kind = RC_WAL_MSG;
		r->room_id = rows[i].room_id;
		r->seq = rows[i].seq;
		r->ts_ms = rows[i].ts_ms;
		r->cmid = rows[i].cmid;
		r->user_len = (uint8_t)strlen(rows[i].user);
		r->body_len = (uint16_t)strlen(rows[i].body);
		assert_int_equal(r->user_len, strlen(rows[i].user));
		assert_int_equal(r->body_len, strlen(rows[i].body));
		memcpy(r->user, rows[i].user, r->user_len);
		memcpy(r->body, rows[i].body, r->body_len);
		rp[i] = r;
	}
	assert_int_equal(rc_wal_commit_now(w, rp, n), 0);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(recs[i].status, 0);
}

static void
h_hex(char *out, const char *s)
{
	static const char digits[] = "0123456789abcdef";

	for (; *s != '\0'; s++) {
		*out++ = digits[(unsigned char)*s >> 4];
		*out++ = digits[(unsigned char)*s & 15];
	}
	*out = '\0';
}

/* Column col of the only row of res is exactly the bytes of want. */
static void
h_col(const PGresult *res, int col, const char *want, unsigned row, const char *what)
{
	size_t n = strlen(want);

	if (PQgetisnull(res, 0, col))
		fail_msg("row %u: %s is NULL", row, what);
	if ((size_t)PQgetlength(res, 0, col) != n || memcmp(PQgetvalue(res, 0, col), want, n) != 0)
		fail_msg("row %u: %s differs: got %d bytes \"%.80s\", want %zu bytes \"%.80s\"", row,
			 what, PQgetlength(res, 0, col), PQgetvalue(res, 0, col), n, want);
}

static PGconn *
h_connect(struct fx *f)
{
	char ci[700];
	PGconn *c;
	PGresult *res;

	snprintf(ci, sizeof(ci), "%s client_encoding=UTF8", f->conninfo);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	/* so that the server checked the UTF-8 and the text results are the stored bytes */
	res = PQexec(c, "SELECT current_setting('server_encoding'),"
			" current_setting('client_encoding')");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	assert_string_equal(PQgetvalue(res, 0, 0), "UTF8");
	assert_string_equal(PQgetvalue(res, 0, 1), "UTF8");
	PQclear(res);
	return c;
}

/* Every column of every row of messages, byte for byte; nothing else in the table. */
static void
h_check(struct fx *f, const struct hrow *rows, unsigned n)
{
	static char hex[2 * RC_MAX_BODY + 1];
	PGconn *c = h_connect(f);
	PGresult *res;

	for (unsigned i = 0; i < n; i++) {
		const struct hrow *r = &rows[i];
		char seq[24], want[24];
		const char *pm[2] = { h_rooms[r->room_id], seq };

		snprintf(seq, sizeof(seq), "%" PRIu64, r->seq);
		res = PQexecParams(c, "SELECT room, seq::text, sender, ts_ms::text, body, cmid::text,"
				      " (cmid::numeric + CASE WHEN cmid < 0 THEN"
				      " 18446744073709551616 ELSE 0 END)::text, epoch::text, node,"
				      " encode(convert_to(room, 'UTF8'), 'hex'),"
				      " encode(convert_to(sender, 'UTF8'), 'hex'),"
				      " encode(convert_to(body, 'UTF8'), 'hex'), octet_length(body)"
				      " FROM messages WHERE room = $1 AND seq = $2",
				   2, NULL, pm, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			fail_msg("row %u: %s", i, PQerrorMessage(c));
		if (PQntuples(res) != 1)
			fail_msg("row %u (room %u, seq %" PRIu64 "): %d rows", i, r->room_id, r->seq,
				 PQntuples(res));
		h_col(res, 0, h_rooms[r->room_id], i, "room");
		h_col(res, 1, seq, i, "seq");
		h_col(res, 2, r->user, i, "sender");
		snprintf(want, sizeof(want), "%" PRIu64, r->ts_ms);
		h_col(res, 3, want, i, "ts_ms");
		h_col(res, 4, r->body, i, "body");
		snprintf(want, sizeof(want), "%" PRId64, (int64_t)r->cmid);
		h_col(res, 5, want, i, "cmid (bigint)");
		snprintf(want, sizeof(want), "%" PRIu64, r->cmid);
		h_col(res, 6, want, i, "cmid (as u64)");
		h_col(res, 7, "7", i, "epoch");
		h_col(res, 8, "n1", i, "node");
		h_hex(hex, h_rooms[r->room_id]);
		h_col(res, 9, hex, i, "room (hex)");
		h_hex(hex, r->user);
		h_col(res, 10, hex, i, "sender (hex)");
		h_hex(hex, r->body);
		h_col(res, 11, hex, i, "body (hex)");
		snprintf(want, sizeof(want), "%zu", strlen(r->body));
		h_col(res, 12, want, i, "octet_length(body)");
		PQclear(res);
	}
	PQfinish(c);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), n);
	assert_int_equal(num(f, "SELECT count(DISTINCT (room, seq)) FROM messages"), n);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room IS NULL OR"
				" sender IS NULL OR body IS NULL"), 0);
}

/* The rooms by name, with their next_seq. */
static void
h_check_rooms(struct fx *f, const uint64_t next_seq[4])
{
	PGconn *c = h_connect(f);

	for (unsigned k = 1; k < 4; k++) {
		const char *pm[1] = { h_rooms[k] };
		PGresult *res = PQexecParams(c, "SELECT next_seq::text, room_id::text FROM rooms"
						" WHERE name = $1", 1, NULL, pm, NULL, NULL, 0);
		char want[24];

		assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
		if (PQntuples(res) != 1)
			fail_msg("room %u: %d rows", k, PQntuples(res));
		snprintf(want, sizeof(want), "%" PRIu64, next_seq[k]);
		h_col(res, 0, want, k, "rooms.next_seq");
		snprintf(want, sizeof(want), "%u", k);
		h_col(res, 1, want, k, "rooms.room_id");
		PQclear(res);
	}
	PQfinish(c);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms"), 3);
}

/* rc_drainer_drain_now(), which drains want records (the error text when it does not). */
static void
h_drain(struct fx *f, int want)
{
	struct rc_drainer_stats st;
	int n = rc_drainer_drain_now(f->d);

	rc_drainer_get_stats(f->d, &st);
	if (n != want)
		fail_msg("drained %d, want %d: %s", n, want, st.last_error);
}

/* Hostile rows through the WAL: the fast path (COPY: binary, straight into messages) stores
 * them byte for byte; then both markers are lost and the same rows are drained again with
 * new ones in the same batch: the fast COPY meets the existing keys, the batch goes the slow
 * way (COPY: text into rc_staging, insert-on-conflict, the alarm check comparing the staged
 * cmid and sender with the stored ones): one row per key, no alarm, the new rows byte for
 * byte too. (PIPELINE: the same through text parameters.) */
static void
test_hostile_bytes(void **state)
{
	static struct hrow rows[2 * H_NA];
	static const uint64_t next1[4] = { 0, 6, 3, 8 }, next2[4] = { 0, 106, 103, 108 };
	struct fx *f = *state;
	struct rc_drainer_stats st;
	uint64_t last;

	h_init();
	h_rows(rows);
	f->w = wal_open(f->dir, 0);
	for (uint32_t k = 1; k < 4; k++)
		commit_room(f->w, k, h_rooms[k]);
	h_commit(f->w, rows, H_NA);
	rc_wal_close(f->w);
	f->w = NULL;
	snapshot(f->dir, ".s1");

	/* the first drain: nothing there yet, the fast path */
	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 1000);
	h_drain(f, 3 + H_NA);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.conflicts, 0);
	assert_int_equal(st.errors, 0);
	h_check(f, rows, H_NA);
	h_check_rooms(f, next1);
	rc_drainer_destroy(f->d);
	f->d = NULL;
	rc_wal_close(f->w);
	f->w = NULL;

	/* both markers lost, new hostile rows after the old ones: all of it in one batch */
	restore(f->dir, ".s1");
	assert_int_equal(pgfx_exec(f->conninfo, "DELETE FROM drain_state"), 0);
	f->w = wal_open(f->dir, 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), 0);
	h_commit(f->w, rows + H_NA, H_NA);
	last = rc_wal_last_lsn(f->w);
	assert_int_equal(last, 3 + 2 * H_NA);
	f->d = drainer_new(f, 1000);
	h_drain(f, 3 + 2 * H_NA);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.batches, 1); /* old and new keys in one transaction */
	assert_int_equal(st.conflicts, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_alarms"), 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), last);
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state WHERE node = 'n1'"),
			 (long long)last);
	h_check(f, rows, 2 * H_NA);
	h_check_rooms(f, next2);
}

/* A row in the way with a different message: an alarm, the new message kept in it. */
static void
test_conflict_alarm(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;

	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 3000);
	assert_int_equal(rc_drainer_drain_now(f->d), 0); /* creates the schema */
	assert_int_equal(pgfx_exec(f->conninfo,
				   "INSERT INTO messages (room, seq, sender, ts_ms, body, cmid)"
				   " VALUES ('lobby', 5, 'mallory', 1, 'evil', 777),"
				   " ('lobby', 6, 'alice', 1, 'same message', 1006),"
				   " ('lobby', 2500, 'alice', 1, 'other cmid', 1)"), 0);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 2600, NULL, 0);
	assert_int_equal(rc_drainer_drain_now(f->d), 2601);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.conflicts, 2);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 2600);
	assert_int_equal(num(f, "SELECT cmid FROM messages WHERE seq = 5"), 777);
	assert_int_equal(num(f, "SELECT cmid FROM messages WHERE seq = 2500"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_alarms WHERE seq = 2500 AND"
				" stored_cmid = 1 AND new_cmid = 3500 AND lsn = 2501"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_alarms WHERE room = 'lobby' AND"
				" seq = 5 AND stored_cmid = 777 AND stored_sender = 'mallory' AND"
				" new_cmid = 1005 AND new_sender = 'alice' AND new_body = 'hello 5'"
				" AND new_ts_ms = 1700000000005 AND new_epoch = 7 AND node = 'n1'"
				" AND lsn = 6"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_alarms"), 2);
	assert_int_equal(rc_wal_drained_lsn(f->w), 2601);
	assert_int_equal(num(f, "SELECT next_seq FROM rooms"), 2601);
}

/* ---- the drain never wedges (issue 9, S13) ---- */

/* rc_drainer_drain_now() until everything committed is drained (failed batches are tried
 * again: each try narrows a refused record down); fails after `tries`. */
static void
drain_until_done(struct fx *f, unsigned tries)
{
	struct rc_drainer_stats st;
	unsigned t;

	for (t = 0; t < tries && rc_wal_drained_lsn(f->w) < rc_wal_last_lsn(f->w); t++)
		(void)rc_drainer_drain_now(f->d);
	rc_drainer_get_stats(f->d, &st);
	if (rc_wal_drained_lsn(f->w) < rc_wal_last_lsn(f->w))
		fail_msg("drain wedged at LSN %" PRIu64 " of %" PRIu64 " after %u tries: %s",
			 rc_wal_drained_lsn(f->w), rc_wal_last_lsn(f->w), t, st.last_error);
	printf("drained to LSN %" PRIu64 " in %u tries (%" PRIu64 " errors, %" PRIu64
	       " dead letters)\n", rc_wal_last_lsn(f->w), t, st.errors, st.dead_letters);
}

/* Prints drain_dead_letters (what a failure message needs). */
static void
dump_dead_letters(struct fx *f)
{
	PGconn *c = PQconnectdb(f->conninfo);
	PGresult *r = PQexec(c, "SELECT lsn, kind, room, seq, sender, encode(body, 'hex'),"
				" sqlstate, error, node, epoch, cmid, ts_ms FROM drain_dead_letters"
				" ORDER BY lsn");

	for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r); i++)
		printf("dead letter: node %s epoch %s lsn %s %s room %s seq %s sender %s cmid %s"
		       " ts_ms %s body %s [%s] %s\n", PQgetvalue(r, i, 8), PQgetvalue(r, i, 9),
		       PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
		       PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 10),
		       PQgetvalue(r, i, 11), PQgetvalue(r, i, 5), PQgetvalue(r, i, 6),
		       PQgetvalue(r, i, 7));
	PQclear(r);
	PQfinish(c);
}

/* A message with raw body bytes (NUL, bad UTF-8 and all). */
static void
commit_raw(struct rc_wal *w, uint32_t room, uint64_t seq, const char *body, size_t len)
{
	struct rc_wal_rec r;

	fx_msg(&r, room, seq, "alice", "x");
	r.body_len = (uint16_t)len;
	memcpy(r.body, body, len);
	commit_rec(w, &r);
}

/* Records PostgreSQL cannot or will not take, among 600 good ones: a body with a NUL byte
 * (text cannot hold it; strlen would have cut it), a body that is not UTF-8, a seq beyond a
 * bigint, and a row a CHECK constraint refuses. Today's drain retried the batch forever
 * (or cut the NUL body). Now: each lands in drain_dead_letters with its exact bytes and
 * why, everything else is in messages once, in LSN order, and the markers reach the end. */
static void
test_dead_letters(void **state)
{
	static const char nul_body[] = { 'a', '\0', 'b' };
	static const char bad_utf8[] = { 'o', 'k', '\xff', '\xfe' };
	struct fx *f = *state;
	struct rc_drainer_stats st;

	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 64);
	assert_int_equal(rc_drainer_drain_now(f->d), 0); /* creates the schema */
	assert_int_equal(pgfx_exec(f->conninfo, "ALTER TABLE messages ADD CONSTRAINT no_poison"
						 " CHECK (body NOT LIKE '%poison%')"), 0);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 100, NULL, 0);
	commit_raw(f->w, 1, 101, nul_body, sizeof(nul_body));
	commit_raw(f->w, 1, 102, bad_utf8, sizeof(bad_utf8));
	commit_msgs(f->w, 1, 103, 149, NULL, 0);
	commit_msgs(f->w, 1, 150, 150, " poison", 0);
	commit_msgs(f->w, 1, 151, 300, NULL, 0);
	commit_room(f->w, 2, "other");
	commit_msgs(f->w, 2, 1, 5, NULL, 0);
	commit_msgs(f->w, 2, UINT64_C(1) << 63, UINT64_C(1) << 63, NULL, 0);
	commit_msgs(f->w, 2, 6, 305, NULL, 0);
	{ /* a room whose name holds a NUL byte, and its messages: none cut to "ba" */
		struct rc_wal_rec r;

		fx_room(&r, 3, 1700000000000ull, "creator", "x");
		r.body_len = 4;
		memcpy(r.body, "ba\0d", 4);
		commit_rec(f->w, &r);
		commit_msgs(f->w, 3, 1, 2, NULL, 0);
	}
	drain_until_done(f, 60);
	dump_dead_letters(f);

	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.dead_letters, 7);
	assert_int_equal(st.dead_letter_rows, 7);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters"), 7);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters WHERE kind = 'room' AND"
				" room = 'ba\\x00d' AND body = '\\x62610064'::bytea AND seq = 0 AND"
				" error LIKE '%NUL%'"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters WHERE kind = 'message'"
				" AND room = 'ba\\x00d' AND seq IN (1, 2) AND error LIKE"
				" 'the room''s name%'"),
			 2);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'ba'"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'ba'"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'lobby'"), 297);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'other'"), 305);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'lobby' AND seq IN"
				" (101, 102, 150)"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages m WHERE m.body <> 'hello ' ||"
				" m.seq"), 0); /* byte for byte */
	/* the NUL body whole, as bytes; the reasons */
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters WHERE node = 'n1' AND"
				" kind = 'message' AND room = 'lobby' AND seq = 101 AND sender ="
				" 'alice' AND cmid = 1101 AND ts_ms = 1700000000101 AND body ="
				" '\\x610062'::bytea AND epoch = 7 AND error LIKE '%NUL%' AND"
				" sqlstate = '' AND lsn = 102"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters WHERE seq = 102 AND"
				" body = '\\x6f6bfffe'::bytea AND error LIKE '%UTF-8%'"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters WHERE seq = 150 AND"
				" body = convert_to('hello 150 poison', 'UTF8') AND sqlstate = '23514'"
				" AND error LIKE 'refused by the database:%no_poison%'"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters WHERE room = 'other'"
				" AND seq = 9223372036854775808 AND error LIKE 'seq out of range%'"),
			 1);
	/* the rooms' counters come from the stored messages only */
	assert_int_equal(num(f, "SELECT next_seq FROM rooms WHERE name = 'lobby'"), 301);
	assert_int_equal(num(f, "SELECT next_seq FROM rooms WHERE name = 'other'"), 306);
	assert_int_equal(rc_wal_drained_lsn(f->w), rc_wal_last_lsn(f->w));
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state WHERE node = 'n1'"),
			 (long long)rc_wal_last_lsn(f->w));

	/* a new drainer (a restart) counts the alarm's rows from the table */
	rc_drainer_destroy(f->d);
	f->d = drainer_new(f, 64);
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.dead_letters, 0);
	assert_int_equal(st.dead_letter_rows, 7);
}

/* Many dead letters in one batch: a room whose name holds a NUL byte, and 12 messages of
 * it (each a dead letter for its room's name), then good ones: all 13 set aside, in one
 * batch's end, and the drain goes on. */
static void
test_dead_letters_many(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;
	struct rc_wal_rec r;

	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 64);
	fx_room(&r, 3, 1700000000000ull, "creator", "x");
	r.body_len = 4;
	memcpy(r.body, "ba\0d", 4);
	commit_rec(f->w, &r);
	commit_msgs(f->w, 3, 1, 12, NULL, 0);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 20, NULL, 0);
	drain_until_done(f, 20);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.dead_letters, 13);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters"), 13);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'lobby'"), 20);
	assert_int_equal(rc_wal_drained_lsn(f->w), rc_wal_last_lsn(f->w));
}

/* The encoding: a database that is not UTF8 is refused with a clear error (nothing is
 * written into it); a database or role whose client_encoding is set to something else
 * still gets UTF-8 from the drainer (pinned), byte for byte. */
static void
test_encoding(void **state)
{
	static const char body[] = "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x91\x8b"; /* é ✓ 👋 */
	struct fx *f = *state;
	struct rc_drainer_stats st;
	char latin[640], sql[256];
	const char *db = strrchr(f->conninfo, '=') + 1; /* the last: dbname=rc_t... */

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	commit_raw(f->w, 1, 1, body, strlen(body));

	/* a LATIN1 database: refused at connect, the error says why */
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s_latin1 ENCODING 'LATIN1' TEMPLATE"
				   " template0 LC_COLLATE 'C' LC_CTYPE 'C'", db);
	assert_int_equal(pgfx_exec(pgfx.conninfo, sql), 0);
	snprintf(latin, sizeof(latin), "%s_latin1", f->conninfo);
	{
		struct rc_drainer_conf c = { .conninfo = latin, .node_id = "n1", .method = f->method };
		struct rc_drainer *d = rc_drainer_create(f->w, &c);

		assert_non_null(d);
		assert_int_equal(rc_drainer_drain_now(d), -EPROTO);
		rc_drainer_get_stats(d, &st);
		assert_non_null(strstr(st.last_error, "LATIN1"));
		assert_non_null(strstr(st.last_error, "UTF8"));
		assert_false(st.connected);
		rc_drainer_destroy(d);
	}
	assert_int_equal(pgfx_num(latin, "SELECT count(*) FROM pg_tables WHERE tablename ="
					 " 'messages'"), 0);

	/* a UTF8 database whose sessions default to LATIN1: the drainer pins UTF8 */
	snprintf(sql, sizeof(sql), "ALTER DATABASE %s SET client_encoding = 'LATIN1'", db);
	assert_int_equal(pgfx_exec(pgfx.conninfo, sql), 0);
	f->d = drainer_new(f, 64);
	h_drain(f, 2);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE convert_to(body, 'UTF8') ="
				" '\\x68c3a96c6c6f20e29c9320f09f918b'::bytea"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters"), 0);
}

/* The drain ceiling (issue 9): with the peer gate on, only what the peer acknowledged is
 * drained; the rest waits until the ack moves. With the gate off (the node acknowledges
 * alone), everything committed is drained. Today's drain sent every committed LSN. */
static void
test_ceiling(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;

	f->w = wal_open(f->dir, 0);
	f->d = drainer_new(f, 1000);
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	rc_wal_set_peer_gate(f->w, true);
	commit_room(f->w, 1, "lobby");   /* LSN 1 */
	commit_msgs(f->w, 1, 1, 10, NULL, 0); /* LSN 2..11 */
	assert_int_equal(rc_wal_drain_ceiling(f->w), 0);
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), 0);

	rc_wal_peer_acked(f->w, 5); /* the peer holds LSNs 1..5 */
	assert_int_equal(rc_wal_drain_ceiling(f->w), 5);
	assert_int_equal(rc_drainer_drain_now(f->d), 5);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 4);
	assert_int_equal(num(f, "SELECT max(seq) FROM messages"), 4);
	assert_int_equal(rc_wal_drained_lsn(f->w), 5);
	assert_int_equal(rc_drainer_drain_now(f->d), 0); /* nothing more until the ack moves */
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 4);

	rc_wal_peer_acked(f->w, 11);
	assert_int_equal(rc_drainer_drain_now(f->d), 6);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 10);

	/* more records while the peer is away: held above the ceiling */
	commit_msgs(f->w, 1, 11, 12, NULL, 0); /* LSN 12, 13 */
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	/* the stream goes down: the node acknowledges alone; what it commits then is drained
	 * (what it acked), and so are earlier records once completed without the peer */
	rc_wal_set_peer_gate(f->w, false);
	commit_msgs(f->w, 1, 13, 13, NULL, 0); /* LSN 14, committed alone */
	assert_int_equal(rc_wal_drain_ceiling(f->w), 14);
	assert_int_equal(rc_drainer_drain_now(f->d), 3);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 13);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.errors, 0);
}

struct pump {
	struct rc_wal *w;
	uint64_t next_seq;
};

static void
pump(struct pump *p, unsigned n)
{
	commit_msgs(p->w, 1, p->next_seq, p->next_seq + n - 1, NULL, 0);
	p->next_seq += n;
}

static void
pump_for(struct pump *p, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 10) {
		pump(p, 50);
		usleep(10000);
	}
}

static bool
wait_drained(struct rc_wal *w, unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 10) {
		if (rc_wal_drained_lsn(w) == rc_wal_last_lsn(w))
			return true;
		usleep(10000);
	}
	return false;
}

/* PostgreSQL stops while the thread drains a stream of messages: errors are counted, the
 * node keeps accepting, the backlog goes in after the restart, nothing lost or doubled. */
static void
test_outage(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;
	struct pump p = { .next_seq = 1 };

	if (!pgfx_can_restart())
		fail_msg("needs a PostgreSQL this test may stop and start (unset ROOMCAST_TEST_PG)");
	f->w = p.w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	f->d = drainer_new(f, 200);
	assert_int_equal(rc_drainer_start(f->d), 0);
	assert_int_equal(rc_drainer_start(f->d), -EALREADY);
	/* draining while the stream goes on (the first connection creates the schema) */
	for (unsigned t = 0; t < 3000 && rc_wal_drained_lsn(f->w) < 500; t++)
		pump_for(&p, 10);
	assert_true(rc_wal_drained_lsn(f->w) >= 500);
	pump_for(&p, 200);
	assert_int_equal(pgfx_stop(), 0);
	pump_for(&p, 1000);
	rc_drainer_get_stats(f->d, &st);
	assert_false(st.connected);
	assert_true(st.errors > 0);
	assert_true(st.last_error[0] != '\0');
	assert_true(rc_wal_drained_lsn(f->w) < rc_wal_last_lsn(f->w));
	assert_int_equal(pgfx_start(), 0);
	pump_for(&p, 300);
	assert_true(wait_drained(f->w, 20000));
	rc_drainer_stop(f->d);
	rc_drainer_get_stats(f->d, &st);
	assert_true(st.reconnects >= 1);
	assert_int_equal(st.conflicts, 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), (long long)p.next_seq - 1);
	assert_int_equal(num(f, "SELECT max(seq) FROM messages"), (long long)p.next_seq - 1);
	assert_int_equal(num(f, "SELECT next_seq FROM rooms"), (long long)p.next_seq);
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state"),
			 (long long)rc_wal_last_lsn(f->w));
}

static void
test_unreachable_and_newer(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;
	char ci[600];

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	snprintf(ci, sizeof(ci), "%s", f->conninfo);
	snprintf(f->conninfo, sizeof(f->conninfo), "host=127.0.0.1 port=1 user=postgres");
	f->d = drainer_new(f, 100);
	assert_int_equal(rc_drainer_drain_now(f->d), -ECONNREFUSED);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.errors, 1);
	assert_false(st.connected);
	assert_non_null(strstr(st.last_error, "connect: "));
	rc_drainer_destroy(f->d);

	snprintf(f->conninfo, sizeof(f->conninfo), "%s", ci);
	assert_int_equal(pgfx_exec(f->conninfo, "CREATE TABLE roomcast_schema (version int,"
						" applied_at timestamptz); INSERT INTO"
						" roomcast_schema VALUES (99, now())"), 0);
	f->d = drainer_new(f, 100);
	assert_int_equal(rc_drainer_drain_now(f->d), -EPROTO);
	rc_drainer_get_stats(f->d, &st);
	assert_non_null(strstr(st.last_error, "database schema version 99 is newer"));
	assert_int_equal(rc_wal_drained_lsn(f->w), 0);
}

static void
test_cleanup(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 50, NULL, 0); /* November 2023 */
	commit_msgs(f->w, 1, 51, 60, NULL, (uint64_t)now.tv_sec * 1000u);
	f->d = drainer_new(f, 100);
	assert_int_equal(rc_drainer_drain_now(f->d), 61);
	assert_int_equal(pgfx_exec(f->conninfo,
				   "INSERT INTO messages (room, seq, sender, ts_ms, body, cmid)"
				   " SELECT 'old', g, 'bob', 1000 + g, 'x', g"
				   " FROM generate_series(1, 25000) g"), 0);
	rc_drainer_request_cleanup(f->d, 36500); /* a century: nothing that old */
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 25060);
	rc_drainer_request_cleanup(f->d, 30);
	assert_int_equal(rc_drainer_drain_now(f->d), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 10);
	assert_int_equal(num(f, "SELECT min(seq) FROM messages"), 51);
	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.cleanup_deleted, 25050);
	assert_int_equal(st.cleanup_runs, 2);
	/* the thread runs requests too */
	commit_msgs(f->w, 1, 61, 70, NULL, 1000);
	assert_int_equal(rc_drainer_start(f->d), 0);
	rc_drainer_request_cleanup(f->d, 1);
	for (unsigned t = 0; t < 500 && (rc_drainer_get_stats(f->d, &st), st.cleanup_runs < 3);
	     t++)
		usleep(10000);
	rc_drainer_stop(f->d);
	assert_int_equal(st.cleanup_runs, 3);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 10);
}

/* ---- history spanning trimmed LMDB and PostgreSQL ---- */

#define MAX_LOG 1024

struct hlog {
	unsigned nmsg;
	struct {
		unsigned id;
		uint64_t seq;
		char body[32];
	} msg[MAX_LOG];
	struct {
		unsigned id, count;
		uint64_t next_seq;
		int err;
	} end[64];
	atomic_uint ends;
};

struct req_ctx {
	unsigned id;
	unsigned take;
	unsigned taken;
};

static int
hlog_emit(void *arg, const struct rc_hist_req *r, const struct rc_wal_msg *m)
{
	struct hlog *lg = arg;
	struct req_ctx *c = (struct req_ctx *)r->ctx;

	if ((c->take != 0 && c->taken == c->take) || lg->nmsg == MAX_LOG)
		return 1;
	c->taken++;
	lg->msg[lg->nmsg].id = c->id;
	lg->msg[lg->nmsg].seq = m->seq;
	snprintf(lg->msg[lg->nmsg].body, sizeof(lg->msg[0].body), "%.*s", (int)m->body.len,
		 m->body.p);
	lg->nmsg++;
	return 0;
}

static void
hlog_end(void *arg, const struct rc_hist_req *r, unsigned count, uint64_t next_seq, int err)
{
	struct hlog *lg = arg;
	const struct req_ctx *c = (const struct req_ctx *)r->ctx;
	unsigned i = atomic_load(&lg->ends);

	lg->end[i].id = c->id;
	lg->end[i].count = count;
	lg->end[i].next_seq = next_seq;
	lg->end[i].err = err;
	atomic_store(&lg->ends, i + 1);
}

static const struct rc_history_ops hlog_ops = { .emit = hlog_emit, .end = hlog_end };

struct hcase {
	struct rc_hist_req req;
	unsigned take;
	uint64_t first; /* expected: seqs first..first+count-1 */
	unsigned count;
	uint64_t next_seq;
	int err;
};

static void
run_cases(struct rc_history *h, struct hlog *lg, const struct hcase *cs, unsigned n)
{
	memset(lg, 0, sizeof(*lg));
	for (unsigned i = 0; i < n; i++) {
		struct req_ctx c = { .id = i, .take = cs[i].take };
		struct rc_hist_req *q;

		assert_int_equal(rte_mempool_get(rc_history_pool(h), (void **)&q), 0);
		*q = cs[i].req;
		q->room_id = 1;
		memcpy(q->ctx, &c, sizeof(c));
		assert_int_equal(rte_ring_enqueue(rc_history_ring(h), q), 0);
		rc_bell_ring(rc_history_bell(h));
	}
	for (unsigned t = 0; t < 1000 && atomic_load(&lg->ends) < n; t++)
		usleep(10000);
	assert_int_equal(atomic_load(&lg->ends), n);
	for (unsigned i = 0; i < n; i++) {
		unsigned k = 0;

		assert_int_equal(lg->end[i].id, i);
		assert_int_equal(lg->end[i].count, cs[i].count);
		assert_int_equal(lg->end[i].next_seq, cs[i].next_seq);
		assert_int_equal(lg->end[i].err, cs[i].err);
		for (unsigned j = 0; j < lg->nmsg; j++) {
			char want[32];

			if (lg->msg[j].id != i)
				continue;
			assert_int_equal(lg->msg[j].seq, cs[i].first + k);
			snprintf(want, sizeof(want), "hello %" PRIu64, cs[i].first + k);
			assert_string_equal(lg->msg[j].body, want);
			k++;
		}
		assert_int_equal(k, cs[i].count);
	}
}

#define RANGE(f, t, m) { .kind = RC_HIST_RANGE, .from_seq = (f), .to_seq = (t), .max = (m) }
#define LATEST(t, m) { .kind = RC_HIST_LATEST, .from_seq = 1, .to_seq = (t), .max = (m) }

static const struct hcase span_cases[] = {
	{ RANGE(1, 100, 200), 0, 1, 100, 101, 0 },
	{ RANGE(70, 90, 100), 0, 70, 21, 91, 0 },
	{ RANGE(1, UINT64_MAX, 10), 0, 1, 10, 11, 0 },
	{ RANGE(85, 100, 100), 0, 85, 16, 101, 0 },
	{ RANGE(75, 85, 100), 3, 75, 3, 78, 0 },
	{ RANGE(120, UINT64_MAX, 100), 0, 0, 0, 120, 0 },
	{ RANGE(10, 5, 100), 0, 0, 0, 10, 0 },
	{ LATEST(100, 30), 0, 71, 30, 101, 0 },
	{ LATEST(UINT64_MAX, 10), 0, 91, 10, 101, 0 },
	{ LATEST(50, 10), 0, 41, 10, 51, 0 },
	{ LATEST(100, 1000), 0, 1, 100, 101, 0 },
	{ LATEST(0, 10), 0, 0, 0, 1, 0 },
};

/* PostgreSQL down: a range needing it fails (retry), LATEST gives LMDB's part. */
static const struct hcase down_cases[] = {
	{ RANGE(1, 100, 200), 0, 0, 0, 1, -EAGAIN },
	{ RANGE(85, 100, 100), 0, 85, 16, 101, 0 },
	{ LATEST(100, 30), 0, 81, 20, 101, 0 },
};

static void
trim_all(struct rc_wal *w)
{
	struct rc_wal_stats st;
	uint64_t before;

	do {
		rc_wal_get_stats(w, &st);
		before = st.trimmed;
		assert_int_equal(rc_wal_commit_now(w, NULL, 0), 0);
		rc_wal_get_stats(w, &st);
	} while (st.trimmed != before);
}

static int
first_seq(void *arg, const struct rc_wal_msg *m)
{
	*(uint64_t *)arg = m->seq;
	return 1;
}

static void
test_history_spanning(void **state)
{
	struct fx *f = *state;
	struct rc_history_stats hs;
	struct rc_history *h;
	struct hlog *lg = calloc(1, sizeof(*lg));
	uint64_t first = 0;

	assert_non_null(lg);
	f->w = wal_open(f->dir, 20);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 100, NULL, 0);
	f->d = drainer_new(f, 1000);
	assert_int_equal(rc_drainer_drain_now(f->d), 101);
	trim_all(f->w);
	rc_wal_read(f->w, 1, 1, UINT64_MAX, 1, first_seq, &first);
	assert_int_equal(first, 81); /* LMDB keeps the newest 20 */

	h = f->h = rc_history_create(f->w, 64, SOCKET_ID_ANY, &hlog_ops, lg);
	assert_non_null(h);
	assert_int_equal(rc_history_set_db(h, f->conninfo), 0);
	assert_int_equal(rc_history_start(h), 0);
	assert_int_equal(rc_history_set_db(h, NULL), -EBUSY);
	run_cases(h, lg, span_cases, RTE_DIM(span_cases));
	rc_history_get_stats(h, &hs);
	assert_int_equal(hs.db_errors, 0);
	assert_int_equal(hs.db_requests, 8);
	assert_int_equal(hs.db_messages, 80 + 11 + 10 + 6 + 10 + 10 + 80);
	if (pgfx_can_restart()) {
		assert_int_equal(pgfx_stop(), 0);
		run_cases(h, lg, down_cases, RTE_DIM(down_cases));
		assert_int_equal(pgfx_start(), 0);
		usleep(1200 * 1000); /* the back-off after the failure */
		run_cases(h, lg, span_cases, 2);
	}
	rc_history_destroy(h);
	f->h = NULL;
	free(lg);
}

/* The server restarts (or the database fails over) between two requests: the history
 * thread's connection is dead, which only the next request finds out. That request is
 * served from the server that is up now, at once: not answered busy (-EAGAIN). Needs a
 * server this test may restart (the fixture's own, or ROOMCAST_TEST_PG_DIR). */
static void
test_history_server_restart(void **state)
{
	struct fx *f = *state;
	struct rc_history_stats hs;
	struct rc_history *h;
	struct hlog *lg = calloc(1, sizeof(*lg));

	assert_non_null(lg);
	assert_true(pgfx_can_restart());
	f->w = wal_open(f->dir, 20);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 100, NULL, 0);
	f->d = drainer_new(f, 1000);
	assert_int_equal(rc_drainer_drain_now(f->d), 101);
	trim_all(f->w);
	h = f->h = rc_history_create(f->w, 64, SOCKET_ID_ANY, &hlog_ops, lg);
	assert_non_null(h);
	assert_int_equal(rc_history_set_db(h, f->conninfo), 0);
	assert_int_equal(rc_history_start(h), 0);
	run_cases(h, lg, span_cases, 2); /* connected */
	assert_int_equal(pgfx_stop(), 0);
	assert_int_equal(pgfx_start(), 0);
	memset(lg, 0, sizeof(*lg));
	run_cases(h, lg, span_cases, 2); /* the first one finds the old connection dead */
	rc_history_get_stats(h, &hs);
	assert_int_equal(hs.db_requests, 4);
	assert_int_equal(hs.db_errors, 1); /* the dead connection, counted */
	rc_history_destroy(h);
	f->h = NULL;
	free(lg);
}

/* The database away for several tries (each refused at once, as a stopped server or a
 * failover's moment without a read-write server): the back-off stays at its 1 s minimum,
 * so history is served again about a second after the server is back, not after a back-off
 * that doubled with each try (1, 2, 4 s: the third try would have waited until 7 s). */
static void
test_history_outage_backoff(void **state)
{
	static const struct hcase need_db[] = {
		{ RANGE(1, 100, 200), 0, 0, 0, 1, -EAGAIN },
	};
	struct fx *f = *state;
	struct rc_history_stats hs;
	struct rc_history *h;
	struct hlog *lg = calloc(1, sizeof(*lg));

	assert_non_null(lg);
	assert_true(pgfx_can_restart());
	f->w = wal_open(f->dir, 20);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 100, NULL, 0);
	f->d = drainer_new(f, 1000);
	assert_int_equal(rc_drainer_drain_now(f->d), 101);
	trim_all(f->w);
	h = f->h = rc_history_create(f->w, 64, SOCKET_ID_ANY, &hlog_ops, lg);
	assert_non_null(h);
	assert_int_equal(rc_history_set_db(h, f->conninfo), 0);
	assert_int_equal(rc_history_start(h), 0);
	assert_int_equal(pgfx_stop(), 0);
	for (unsigned i = 0; i < 3; i++) { /* three tries, each after the back-off */
		memset(lg, 0, sizeof(*lg));
		run_cases(h, lg, need_db, 1);
		usleep(1100 * 1000);
	}
	rc_history_get_stats(h, &hs);
	assert_int_equal(hs.db_errors, 3);
	assert_int_equal(pgfx_start(), 0);
	usleep(1100 * 1000);
	memset(lg, 0, sizeof(*lg));
	run_cases(h, lg, span_cases, 2);
	rc_history_destroy(h);
	f->h = NULL;
	free(lg);
}

/* Without a database the history thread serves LMDB's part only, as before. */
static void
test_history_no_db(void **state)
{
	static const struct hcase cases[] = {
		{ RANGE(1, 100, 200), 0, 81, 20, 101, 0 },
		{ LATEST(100, 30), 0, 81, 20, 101, 0 },
	};
	struct fx *f = *state;
	struct rc_history_stats hs;
	struct rc_history *h;
	struct hlog *lg = calloc(1, sizeof(*lg));

	assert_non_null(lg);
	f->w = wal_open(f->dir, 20);
	commit_room(f->w, 1, "lobby");
	commit_msgs(f->w, 1, 1, 100, NULL, 0);
	rc_wal_set_drained(f->w, rc_wal_last_lsn(f->w));
	trim_all(f->w);
	h = f->h = rc_history_create(f->w, 64, SOCKET_ID_ANY, &hlog_ops, lg);
	assert_non_null(h);
	assert_int_equal(rc_history_set_db(h, ""), 0);
	assert_int_equal(rc_history_start(h), 0);
	run_cases(h, lg, cases, RTE_DIM(cases));
	rc_history_get_stats(h, &hs);
	assert_int_equal(hs.db_requests, 0);
	rc_history_destroy(h);
	f->h = NULL;
	free(lg);
}

static void
test_create_errors(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_conf c = { .conninfo = "x", .node_id = "n1" };

	f->w = wal_open(f->dir, 0);
	errno = 0;
	assert_null(rc_drainer_create(NULL, &c));
	assert_int_equal(errno, EINVAL);
	c.node_id = NULL;
	assert_null(rc_drainer_create(f->w, &c));
	c.node_id = "n1";
	c.method = 5;
	assert_null(rc_drainer_create(f->w, &c));
	c.method = RC_DRAIN_PIPELINE;
	f->d = rc_drainer_create(f->w, &c);
	assert_non_null(f->d);
	assert_int_equal(rc_drainer_start(f->d), 0);
	assert_int_equal(rc_drainer_drain_now(f->d), -EBUSY);
	rc_drainer_stop(f->d);
}

/* ---- deleted rooms ---- */

/* No alarm, no dead letter, everything drained. */
static void
assert_clean(struct fx *f)
{
	struct rc_drainer_stats st;

	rc_drainer_get_stats(f->d, &st);
	assert_int_equal(st.conflicts, 0);
	assert_int_equal(st.dead_letters, 0);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_alarms"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM drain_dead_letters"), 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), rc_wal_last_lsn(f->w));
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state"), rc_wal_last_lsn(f->w));
}

/* A room deleted after its rows were drained: its tombstone drains, and PostgreSQL loses
 * the room's messages, its rooms row and (by cascade) its members; another room keeps
 * everything. */
static void
test_room_deleted(void **state)
{
	struct fx *f = *state;

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	commit_room(f->w, 2, "gone");
	commit_msgs(f->w, 1, 1, 5, NULL, 0);
	commit_msgs(f->w, 2, 1, 250, NULL, 0);
	f->d = drainer_new(f, 1000);
	assert_int_equal(rc_drainer_drain_now(f->d), 2 + 255);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'gone'"), 250);
	assert_int_equal(pgfx_exec(f->conninfo, "INSERT INTO room_members (room, user_name)"
						" VALUES ('gone', 'alice'), ('lobby', 'alice')"), 0);
	commit_msgs(f->w, 2, 251, 260, NULL, 0);
	commit_room_state(f->w, 2, RC_WAL_ROOM_DELETED);
	assert_int_equal(rc_drainer_drain_now(f->d), 11);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'gone'"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'gone'"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM room_members WHERE room = 'gone'"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'lobby'"), 5);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'lobby' AND"
				" room_id = 1 AND next_seq = 6"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM room_members"), 1);
	assert_clean(f);
}

/* A room archived, deleted and created again under its name (a new id) before any of it
 * drained, with a backlog longer than a batch's first read: the old room's rows land and
 * go in LSN order, so only the new room's rows remain (its seq 1, 2... are no conflict),
 * and a room of another name is untouched. */
static void
test_room_recreated(void **state)
{
	struct fx *f = *state;

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "lobby");
	commit_room(f->w, 2, "again");
	commit_msgs(f->w, 2, 1, 150, NULL, 0);
	commit_room_state(f->w, 2, RC_WAL_ROOM_ARCHIVED);
	commit_msgs(f->w, 1, 1, 3, NULL, 0);
	commit_room_state(f->w, 2, 0);
	commit_msgs(f->w, 2, 151, 300, NULL, 0);
	commit_room_state(f->w, 2, RC_WAL_ROOM_DELETED);
	commit_room(f->w, 3, "again");
	commit_msgs_by(f->w, 3, 1, 120, " again", 0, "bob");
	commit_msgs(f->w, 1, 4, 6, NULL, 0);
	f->d = drainer_new(f, 2000);
	assert_int_equal(rc_drainer_drain_now(f->d), (int)rc_wal_last_lsn(f->w));
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'again'"), 120);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'again' AND"
				" sender = 'bob' AND body = 'hello ' || seq || ' again'"), 120);
	assert_int_equal(num(f, "SELECT max(seq) FROM messages WHERE room = 'again'"), 120);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'again' AND"
				" room_id = 3 AND next_seq = 121"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'lobby'"), 6);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms"), 2);
	assert_clean(f);
}

/* A drainer of an old term (its epoch below the lease's: the scope was taken over) deletes
 * nothing, even in a batch without messages for the fence to refuse: the new term may have
 * drained a room of the same name since. At the lease's epoch the rows go. */
static void
test_room_deleted_fenced(void **state)
{
	struct fx *f = *state;
	struct rc_drainer_stats st;
	uint64_t drained;

	f->w = wal_open(f->dir, 0);
	commit_room(f->w, 1, "gone");
	commit_msgs(f->w, 1, 1, 20, NULL, 0);
	f->d = drainer_new(f, 1000); /* epoch 7 */
	assert_int_equal(rc_drainer_drain_now(f->d), 21);
	drained = rc_wal_drained_lsn(f->w);
	assert_int_equal(pgfx_exec(f->conninfo, "INSERT INTO ha_lease VALUES ('rooms:n1', 'n2',"
						" 8, now() + interval '1 hour', now(), now())"), 0);
	commit_room_state(f->w, 1, RC_WAL_ROOM_DELETED);
	assert_int_equal(rc_drainer_drain_now(f->d), -ESTALE);
	rc_drainer_get_stats(f->d, &st);
	assert_non_null(strstr(st.last_error, "stale epoch: fenced: "));
	assert_int_equal(rc_wal_drained_lsn(f->w), drained);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'gone'"), 20);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'gone'"), 1);
	assert_int_equal(num(f, "SELECT drained_lsn FROM drain_state"), (long long)drained);
	assert_int_equal(pgfx_exec(f->conninfo, "UPDATE ha_lease SET epoch = 7"), 0);
	assert_int_equal(rc_drainer_drain_now(f->d), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'gone'"), 0);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'gone'"), 0);
	assert_int_equal(rc_wal_drained_lsn(f->w), rc_wal_last_lsn(f->w));
}

/* One log entry applied as the HA stream applies the writer's (rc_wal_apply). */
static void
apply_rec(struct rc_wal *w, uint8_t kind, uint32_t id, uint64_t seq, uint64_t cmid,
	  const char *user, const char *body)
{
	struct rc_wal_logrec lr = {
		.lsn = rc_wal_last_lsn(w) + 1, .kind = kind, .room_id = id, .seq = seq,
		.ts_ms = 1700000000000ull + seq, .cmid = cmid,
		.user = { user, (uint16_t)strlen(user) }, .body = { body, (uint16_t)strlen(body) },
	};

	assert_int_equal(rc_wal_apply(w, &lr, 1), 0);
}

/* A deleted room's id used again by a room of another name (a copy of the writer's log,
 * the way a replica gets it, drained after each of two takeovers): the drainer knew the id
 * by the old name, and now files the new room's creation and messages under the new one. */
static void
test_room_id_reused(void **state)
{
	struct fx *f = *state;

	f->w = wal_open(f->dir, 0);
	apply_rec(f->w, RC_WAL_ROOM, 1, 0, 0, "creator", "old");
	apply_rec(f->w, RC_WAL_MSG, 1, 1, 1001, "alice", "hello 1");
	apply_rec(f->w, RC_WAL_ROOM, 1, RC_WAL_STATE_MARK, RC_WAL_ROOM_DELETED, "creator", "old");
	assert_int_equal(rc_wal_become_writer(f->w), 0); /* the drain ceiling: all of it */
	f->d = drainer_new(f, 1000);
	assert_int_equal(rc_drainer_drain_now(f->d), 3);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 0);
	apply_rec(f->w, RC_WAL_ROOM, 1, 0, 0, "creator", "new");
	apply_rec(f->w, RC_WAL_MSG, 1, 1, 2001, "bob", "hello again");
	assert_int_equal(rc_wal_become_writer(f->w), 0);
	assert_int_equal(rc_drainer_drain_now(f->d), 2);
	assert_int_equal(num(f, "SELECT count(*) FROM messages WHERE room = 'new' AND"
				" sender = 'bob' AND cmid = 2001"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM messages"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms WHERE name = 'new' AND"
				" room_id = 1 AND next_seq = 2"), 1);
	assert_int_equal(num(f, "SELECT count(*) FROM rooms"), 1);
	assert_clean(f);
}

#define BOTH(t) FX_BOTH_METHODS(t, setup, teardown)

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_drain_once),
		BOTH(test_redrain),
		BOTH(test_hostile_bytes),
		BOTH(test_conflict_alarm),
		BOTH(test_outage),
		BOTH(test_dead_letters),
		BOTH(test_dead_letters_many),
		BOTH(test_encoding),
		BOTH(test_ceiling),
		BOTH(test_room_deleted),
		BOTH(test_room_recreated),
		BOTH(test_room_deleted_fenced),
		BOTH(test_room_id_reused),
		cmocka_unit_test_setup_teardown(test_unreachable_and_newer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_spanning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_no_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_server_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_outage_backoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
	};
	/* RC_TEST_FILTER=test_dead_letters runs one */
	int rc = fx_drain_main_init("drainer_test", argc, argv);

	if (rc != 0)
		return rc;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fx_eal_stop();
	return rc;
}
