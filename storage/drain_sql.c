/* SPDX-License-Identifier: MIT */
/*
 * The drainer's PostgreSQL side: the text and the parameters of every statement it runs,
 * the session setup, and the end of a batch's transaction that both methods send the same
 * way, in pipeline mode:
 *
 *   rooms created in the batch     upsert (blanks filled, nothing overwritten)
 *   records PostgreSQL cannot or   drain_dead_letters rows (exact bytes, why), in place
 *   will not hold                  of messages / rooms rows
 *   rooms.next_seq                 greatest(existing, max seq of the batch + 1), in name
 *                                  order (two drainers lock the rows in the same order)
 *   a room deleted by the batch's  its messages (by name) and its rooms row (that id, or
 *   last record                    none yet: a next_seq row of this node), members by
 *                                  cascade; last: in LSN order with the rest of the batch
 *   drain_state(node)              the batch's last LSN
 *   COMMIT
 *
 * The drain's logic (drainer.c) and its methods (drain_copy.c, drain_pipe.c) hold no SQL
 * of their own but the keywords of a transaction. See drain_impl.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "drain_impl.h"
#include "hmac.h" /* rc_hex */
#include "lease.h"
#include "wal_valid.h"

#define DRAIN_SNDBUF (2 << 20) /* bytes of socket send buffer, local connections */

/* ---- the growable buffer ---- */

int
drain_sb_reserve(struct sbuf *b, size_t more)
{
	size_t cap = b->cap != 0 ? b->cap : 4096;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int
drain_sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (drain_sb_reserve(b, n + 1) != 0)
		return -ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* s (a valid name: no NUL, wal_valid.h) as a quoted element of an array literal ("...",
 * with " and \ escaped), comma first unless it is the first element. */
static int
sb_add_elem(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);

	if (drain_sb_reserve(b, 2 * n + 4) != 0)
		return -ENOMEM;
	if (b->len > 1)
		b->p[b->len++] = ',';
	b->p[b->len++] = '"';
	for (const char *e = s + n; s < e; s++) {
		if (*s == '"' || *s == '\\')
			b->p[b->len++] = '\\';
		b->p[b->len++] = *s;
	}
	b->p[b->len++] = '"';
	b->p[b->len] = '\0';
	return 0;
}

static int
sb_add_num(struct sbuf *b, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return sb_add_elem(b, num);
}

/* Opens (clears) n array literals. */
static int
sb_arrays_open(struct sbuf *a, unsigned n)
{
	int rc = 0;

	for (unsigned k = 0; k < n; k++) {
		a[k].len = 0;
		rc |= drain_sb_add(&a[k], "{", 1);
	}
	return rc;
}

static int
sb_arrays_close(struct sbuf *a, unsigned n)
{
	int rc = 0;

	for (unsigned k = 0; k < n; k++)
		rc |= drain_sb_add(&a[k], "}", 1);
	return rc;
}

void
drain_sb_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ 0 };
}

/* ---- the session and single statements ---- */

static const char *const drain_setup_sql =
	"SET statement_timeout = '60s';"
	"CREATE TEMP TABLE IF NOT EXISTS rc_staging (room text, seq bigint, sender text,"
	" ts_ms bigint, body text, cmid bigint, lsn bigint) ON COMMIT DELETE ROWS;"
	"PREPARE " DRAIN_STMT_INSERT " (text, bigint, text, bigint, text, bigint, bigint, text) AS"
	" INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (room, seq) DO NOTHING;"
	"PREPARE " DRAIN_STMT_ALARM " (text, bigint, text, bigint, text, bigint, bigint, text,"
	" bigint) AS"
	" INSERT INTO drain_alarms (room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
	" new_ts_ms, new_body, new_epoch, node, lsn)"
	" SELECT m.room, m.seq, m.cmid, m.sender, $6, $3, $4, $5, $7, $8, $9 FROM messages m"
	" WHERE m.room = $1 AND m.seq = $2 AND (m.cmid, m.sender) <> ($6, $3)"
	" ON CONFLICT (room, seq, new_cmid, new_sender) DO NOTHING;"
	/* The messages' fence (schema.c, version 2) guards inserts only: deleting a deleted
	 * room's rows is fenced by this check, run first in the same transaction. It refuses
	 * as the fence does (SQLSTATE RC001: the transaction fails, -ESTALE), and holds the
	 * lease row FOR KEY SHARE to the end: a takeover waits for the deletion to commit, a
	 * deletion after it sees the new epoch. A session's own function (pg_temp), so the
	 * schema stays as it is. */
	"CREATE OR REPLACE FUNCTION pg_temp.rc_delete_fence(p_node text, p_epoch bigint)"
	" RETURNS void LANGUAGE plpgsql AS $$"
	" DECLARE l record;"
	" BEGIN"
	"  SELECT h.owner_scope, h.holder, h.epoch INTO l FROM ha_lease h"
	"   WHERE h.owner_scope = 'rooms:' || p_node FOR KEY SHARE;"
	"  IF FOUND AND l.epoch <> p_epoch THEN"
	"   RAISE EXCEPTION 'epoch % of node % is stale: lease % is at epoch % (held by %)',"
	"    p_epoch, p_node, l.owner_scope, l.epoch, l.holder USING ERRCODE = 'RC001',"
	"    HINT = 'another term owns these rooms: a deleted room''s rows are its to delete';"
	"  END IF;"
	" END $$";

void
drain_stmt_params(struct rc_drainer *d, const struct drain_rec *r, char nums[5][24],
		  const char *pm[DRAIN_STMT_PARAMS])
{
	snprintf(nums[0], 24, "%" PRIu64, r->seq);
	snprintf(nums[1], 24, "%" PRIu64, r->ts_ms);
	snprintf(nums[2], 24, "%" PRId64, (int64_t)r->cmid);
	snprintf(nums[3], 24, "%" PRId64, (int64_t)d->conf.epoch);
	snprintf(nums[4], 24, "%" PRIu64, r->lsn);
	pm[0] = r->room;
	pm[1] = nums[0];
	pm[2] = r->user;
	pm[3] = nums[1];
	pm[4] = r->body;
	pm[5] = nums[2];
	pm[6] = nums[3];
	pm[7] = d->node_id;
	pm[8] = nums[4];
}

/* A larger send buffer on a local (unix socket) connection: the COPY stream then keeps
 * the server busy for longer while this thread reads the next chunk from LMDB, or waits for
 * a CPU. (A TCP connection keeps the kernel's autotuning.) */
static void
drain_sndbuf(struct rc_pgdb *db)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int fd = PQsocket(db->conn), size = DRAIN_SNDBUF;

	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
	    sa.ss_family == AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

int
drain_db_open(struct rc_drainer *d, struct rc_pgdb *db)
{
	int rc = rc_pgdb_connect(db, d->conninfo, d->appname);

	if (rc == 0)
		drain_sndbuf(db);
	return rc;
}

int
drain_db_session(struct rc_pgdb *db)
{
	return rc_pgdb_exec(db, drain_setup_sql);
}

void
drain_db_server(const struct rc_pgdb *db, char *out, size_t len)
{
	snprintf(out, len, "%s port %s", PQhost(db->conn), PQport(db->conn));
}

/* Runs a statement with parameters, returning its row count in *n (may be NULL). */
static int
drain_cmd(struct rc_drainer *d, const char *sql, int np, const char *const *pm, uint64_t *n)
{
	PGresult *res;
	int rc = rc_pgdb_query(d->db, sql, np, pm, &res);

	if (rc != 0)
		return rc;
	if (n != NULL)
		*n = strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return 0;
}

/* The first column of the first row of a one-parameter query as a number (*v unchanged
 * when there is no row). */
static int
drain_num(struct rc_drainer *d, const char *sql, const char *param, uint64_t *v)
{
	const char *pm[1] = { param };
	PGresult *res;
	int rc = rc_pgdb_query(d->db, sql, 1, pm, &res);

	if (rc != 0)
		return rc;
	if (PQntuples(res) == 1)
		*v = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int
drain_db_marker(struct rc_drainer *d, uint64_t *lsn)
{
	*lsn = 0;
	return drain_num(d, "SELECT drained_lsn FROM drain_state WHERE node = $1", d->node_id,
			 lsn);
}

int
drain_db_dead_rows(struct rc_drainer *d, uint64_t *rows)
{
	*rows = 0;
	return drain_num(d, "SELECT count(*) FROM drain_dead_letters WHERE node = $1",
			 d->node_id, rows);
}

int
drain_db_holds(struct rc_drainer *d, const struct drain_rec *r)
{
	char seq[24], cmid[24], lsn[24];
	const char *pm[5] = { r->bad != NULL ? "" : r->room, seq, cmid, d->node_id, lsn };
	PGresult *res;
	int rc;

	snprintf(seq, sizeof(seq), "%" PRIu64, r->seq);
	snprintf(cmid, sizeof(cmid), "%" PRId64, (int64_t)r->cmid);
	snprintf(lsn, sizeof(lsn), "%" PRIu64, r->lsn);
	if (r->bad != NULL) /* not valid text: look for its dead letter alone */
		rc = rc_pgdb_query(d->db, "SELECT 1 FROM drain_dead_letters WHERE node = $4"
					   " AND lsn = $5::bigint AND $1::text IS NOT NULL"
					   " AND $2::text IS NOT NULL AND $3::text IS NOT NULL",
				   5, pm, &res);
	else if (r->kind == RC_WAL_MSG)
		rc = rc_pgdb_query(d->db, "SELECT 1 FROM messages WHERE room = $1 AND seq = $2"
					   " AND cmid = $3 UNION ALL SELECT 1 FROM drain_dead_letters"
					   " WHERE node = $4 AND lsn = $5::bigint", 5, pm, &res);
	else
		rc = rc_pgdb_query(d->db, "SELECT 1 FROM rooms WHERE name = $1 AND $2::text IS NOT"
					   " NULL AND $3::text IS NOT NULL UNION ALL SELECT 1 FROM"
					   " drain_dead_letters WHERE node = $4 AND lsn = $5::bigint",
				   5, pm, &res);
	if (rc != 0)
		return rc;
	rc = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

int
drain_db_cleanup(struct rc_drainer *d, uint64_t cutoff_ms, uint64_t *deleted)
{
	char num[24];
	const char *pm[1] = { num };

	snprintf(num, sizeof(num), "%" PRIu64, cutoff_ms);
	return drain_cmd(d, "DELETE FROM messages WHERE ctid = ANY (ARRAY(SELECT ctid FROM"
			    " messages WHERE ts_ms < $1 LIMIT " RTE_STR(DRAIN_CLEANUP_CHUNK) "))",
			 1, pm, deleted);
}

/* ---- method COPY's statements ---- */

const char drain_sql_copy_fast[] = "BEGIN; SET LOCAL synchronous_commit = on;"
				   " SAVEPOINT rc_fast; COPY messages (room, seq, sender,"
				   " ts_ms, body, cmid, epoch, node) FROM STDIN"
				   " (FORMAT binary)";
const char drain_sql_copy_undo[] = "ROLLBACK TO SAVEPOINT rc_fast";
const char drain_sql_copy_staging[] = "COPY rc_staging (room, seq, sender, ts_ms, body, cmid,"
				      " lsn) FROM STDIN";

static const char *const drain_merge_sql =
	"INSERT INTO messages (room, seq, sender, ts_ms, body, cmid, epoch, node)"
	" SELECT room, seq, sender, ts_ms, body, cmid, $1, $2 FROM rc_staging"
	" ON CONFLICT (room, seq) DO NOTHING";

static const char *const drain_alarms_sql =
	"INSERT INTO drain_alarms (room, seq, stored_cmid, stored_sender, new_cmid, new_sender,"
	" new_ts_ms, new_body, new_epoch, node, lsn)"
	" SELECT s.room, s.seq, m.cmid, m.sender, s.cmid, s.sender, s.ts_ms, s.body, $1, $2,"
	" s.lsn FROM rc_staging s JOIN messages m ON m.room = s.room AND m.seq = s.seq"
	" WHERE (m.cmid, m.sender) <> (s.cmid, s.sender)"
	" ON CONFLICT (room, seq, new_cmid, new_sender) DO NOTHING";

/* The staged rows' epoch and node: the parameters of both statements above. */
static int
drain_staged(struct rc_drainer *d, const char *sql, uint64_t *n)
{
	char epoch[24];
	const char *pm[2] = { epoch, d->node_id };

	snprintf(epoch, sizeof(epoch), "%" PRId64, (int64_t)d->conf.epoch);
	return drain_cmd(d, sql, 2, pm, n);
}

int
drain_db_merge_staged(struct rc_drainer *d, uint64_t *inserted)
{
	return drain_staged(d, drain_merge_sql, inserted);
}

int
drain_db_alarm_staged(struct rc_drainer *d, uint64_t *alarms)
{
	/* The staging table has no statistics yet; give the planner some so it probes
	 * messages' key. */
	int rc = rc_pgdb_exec(d->db, "ANALYZE rc_staging");

	return rc != 0 ? rc : drain_staged(d, drain_alarms_sql, alarms);
}

/* ---- the pipeline ---- */

static int
pl_fail(struct rc_pgdb *db, const char *text)
{
	snprintf(db->err, sizeof(db->err), "%s", text != NULL ? text : "pipeline failed");
	for (char *p = db->err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	return rc_pgdb_ok(db) ? -EIO : -ECONNRESET;
}

/* Reads one query's results (or the sync). */
static int
pl_read_one(struct pl *p)
{
	int tag = p->tags[p->got++];
	PGresult *res = PQgetResult(p->db->conn);
	ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = 0;

	if (tag == PL_SYNC) {
		if (st != PGRES_PIPELINE_SYNC)
			rc = pl_fail(p->db, PQerrorMessage(p->db->conn));
		PQclear(res);
		return rc;
	}
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

		rc = pl_fail(p->db, res != NULL ? PQresultErrorMessage(res) :
					      PQerrorMessage(p->db->conn));
		snprintf(p->db->sqlstate, sizeof(p->db->sqlstate), "%s",
			 state != NULL ? state : "");
		if (state != NULL && strcmp(state, RC_LEASE_SQLSTATE_STALE) == 0)
			rc = -ESTALE; /* our epoch is not the lease's (rc_pgdb maps it likewise) */
	} else if (tag >= 0)
		p->missed[tag] = strtoull(PQcmdTuples(res), NULL, 10) == 0;
	else if (tag == PL_OTHER)
		p->rows += strtoull(PQcmdTuples(res), NULL, 10);
	else if (tag == PL_DEAD)
		p->dead += strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	while ((res = PQgetResult(p->db->conn)) != NULL) /* the end of this query */
		PQclear(res);
	return rc;
}

static int
pl_collect(struct pl *p)
{
	int rc = 0;

	if (PQflush(p->db->conn) != 0)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	while (p->got < p->sent && rc == 0)
		rc = pl_read_one(p);
	return rc;
}

int
drain_pl_begin(struct pl *p)
{
	if (PQenterPipelineMode(p->db->conn) != 1)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	return 0;
}

int
drain_pl_send(struct pl *p, int tag, const char *stmt, const char *sql, int np,
	      const char *const *pm)
{
	int ok = stmt != NULL ?
			 PQsendQueryPrepared(p->db->conn, stmt, np, pm, NULL, NULL, 0) :
			 PQsendQueryParams(p->db->conn, sql, np, NULL, pm, NULL, NULL, 0);

	if (ok != 1)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	p->tags[p->sent++] = tag;
	return 0;
}

int
drain_pl_read_back(struct pl *p)
{
	if (PQsendFlushRequest(p->db->conn) != 1)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	return pl_collect(p);
}

/* Ends the pipeline's current batch of queries and sends it; pl_collect() reads the
 * results. */
static int
pl_sync_send(struct pl *p)
{
	if (PQpipelineSync(p->db->conn) != 1 || PQflush(p->db->conn) != 0)
		return pl_fail(p->db, PQerrorMessage(p->db->conn));
	p->tags[p->sent++] = PL_SYNC;
	return 0;
}

int
drain_pl_sync(struct pl *p)
{
	int rc = pl_sync_send(p);

	return rc == 0 ? pl_collect(p) : rc;
}

int
drain_pl_end(struct pl *p)
{
	int rc = pl_collect(p);

	if (rc == 0 && PQexitPipelineMode(p->db->conn) != 1)
		rc = pl_fail(p->db, PQerrorMessage(p->db->conn));
	return rc;
}

/* ---- the end of a batch ---- */

/* Arrays for the rooms created in the batch: names, ids, creators, created_ms. */
static int
drain_room_arrays(struct rc_drainer *d)
{
	int n = 0, rc = sb_arrays_open(d->a, 4);

	for (unsigned i = 0; i < d->nrecs && rc == 0; i++) {
		const struct drain_rec *r = &d->recs[i];
		struct room_slot *s;

		if (r->kind != RC_WAL_ROOM || r->bad != NULL || drain_rec_deletes(r->kind, r->cmid))
			continue; /* a deleted room is not a room: no row */
		s = drain_rooms_find(&d->rooms, r->room_id);
		if (s->rgen == d->gen)
			continue;
		s->rgen = d->gen;
		rc = sb_add_elem(&d->a[0], r->room) | sb_add_num(&d->a[1], r->room_id) |
		     sb_add_elem(&d->a[2], r->user) | sb_add_num(&d->a[3], r->ts_ms);
		n++;
	}
	if (rc == 0)
		rc = sb_arrays_close(d->a, 4);
	return rc != 0 ? -ENOMEM : n;
}

static const char *const drain_rooms_sql =
	"INSERT INTO rooms AS r (name, room_id, hosting_node, creator, created_at)"
	" SELECT n, i, $1, c, to_timestamp(t / 1000.0)"
	" FROM unnest($2::text[], $3::bigint[], $4::text[], $5::bigint[]) AS u(n, i, c, t)"
	" ON CONFLICT (name) DO UPDATE SET"
	" room_id = coalesce(r.room_id, EXCLUDED.room_id),"
	" hosting_node = CASE WHEN r.hosting_node = '' THEN EXCLUDED.hosting_node"
	"  ELSE r.hosting_node END,"
	" creator = CASE WHEN r.creator = '' THEN EXCLUDED.creator ELSE r.creator END,"
	" created_at = least(r.created_at, EXCLUDED.created_at)";

static int
drain_room_cmp(const void *a, const void *b, void *arg)
{
	struct room_cache *c = arg;

	return strcmp(drain_rooms_find(c, *(const uint32_t *)a)->name,
		      drain_rooms_find(c, *(const uint32_t *)b)->name);
}

/* Arrays for rooms.next_seq: names, max seqs; in name order, so that two drainers
 * updating the same rooms take the row locks in the same order (no deadlock). */
static int
drain_seq_arrays(struct rc_drainer *d)
{
	int rc = sb_arrays_open(d->a, 2);

	qsort_r(d->brooms, d->nbrooms, sizeof(*d->brooms), drain_room_cmp, &d->rooms);
	for (unsigned i = 0; i < d->nbrooms && rc == 0; i++) {
		const struct room_slot *s = drain_rooms_find(&d->rooms, d->brooms[i]);

		rc = sb_add_elem(&d->a[0], s->name) | sb_add_num(&d->a[1], s->max_seq);
	}
	if (rc == 0)
		rc = sb_arrays_close(d->a, 2);
	return rc != 0 ? -ENOMEM : 0;
}

static const char *const drain_next_seq_sql =
	"INSERT INTO rooms AS r (name, hosting_node, next_seq)"
	" SELECT n, $1, s + 1 FROM unnest($2::text[], $3::bigint[]) AS u(n, s)"
	" ON CONFLICT (name) DO UPDATE SET next_seq = greatest(r.next_seq, EXCLUDED.next_seq)";

/* A deleted room's rows: its messages, and its rooms row when it is that room's (the id
 * its creation stored, or none yet: the row next_seq added for this node's messages; a row
 * of another room of the name, another id, stays). */
static const char *const drain_delete_sql =
	"WITH m AS (DELETE FROM messages WHERE room = $1)"
	" DELETE FROM rooms WHERE name = $1 AND"
	" (room_id = $2 OR (room_id IS NULL AND hosting_node = $3))";

/* Sends the deletion of the rows of the room the batch's last record deleted, if any,
 * behind the lease check (drain_setup_sql). */
static int
pl_delete_room(struct rc_drainer *d, struct pl *p)
{
	const struct drain_rec *r = &d->recs[d->nrecs - 1];
	char id[24], epoch[24];
	const char *pm[3] = { r->room, id, d->node_id };
	const char *fence[2] = { d->node_id, epoch };
	int rc;

	if (r->bad != NULL || !drain_rec_deletes(r->kind, r->cmid))
		return 0; /* a name the database cannot hold has no rows there */
	snprintf(id, sizeof(id), "%" PRIu32, r->room_id);
	snprintf(epoch, sizeof(epoch), "%" PRId64, (int64_t)d->conf.epoch);
	rc = drain_pl_send(p, PL_OTHER, NULL, "SELECT pg_temp.rc_delete_fence($1, $2)", 2,
			   fence);
	return rc == 0 ? drain_pl_send(p, PL_OTHER, NULL, drain_delete_sql, 3, pm) : rc;
}

static const char *const drain_state_sql =
	"INSERT INTO drain_state (node, drained_lsn) VALUES ($1, $2)"
	" ON CONFLICT (node) DO UPDATE SET drained_lsn = EXCLUDED.drained_lsn,"
	" updated_at = now()";

static const char *const drain_dead_sql =
	"INSERT INTO drain_dead_letters (node, lsn, kind, room, seq, sender, cmid, ts_ms, body,"
	" epoch, error, sqlstate) VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8::numeric,"
	" $9::bytea, $10, $11, $12) ON CONFLICT (node, lsn, room, seq) DO NOTHING";

/* n bytes of s as text any database takes: as they are when they are storable text
 * (rc_wal_text_storable), else printable ASCII kept, a backslash doubled and every other
 * byte as \xNN. out has room for 4 * n + 1 bytes. */
static void
dead_text(char *out, const char *s, size_t n)
{
	if (rc_wal_text_storable(s, n)) {
		memcpy(out, s, n);
		out[n] = '\0';
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			*out++ = '\\';
			*out++ = '\\';
		} else if (c >= 0x20 && c < 0x7f) {
			*out++ = (char)c;
		} else {
			out += sprintf(out, "\\x%02x", c);
		}
	}
	*out = '\0';
}

/* Sends the INSERT of one dead letter into the pipeline. */
static int
pl_dead_letter(struct rc_drainer *d, struct pl *p, const struct drain_rec *r)
{
	char room[4 * 256 + 1], user[4 * 256 + 1], body[2 * RC_MAX_BODY + 3], err[320];
	char nums[5][24];
	const bool msg = r->kind == RC_WAL_MSG;
	const char *pm[12];
	char *b = body;

	if (msg)
		dead_text(room, r->room, RTE_MIN((size_t)r->room_len, (size_t)255));
	else /* a room's name: a u8 length in the log */
		dead_text(room, r->body, RTE_MIN((size_t)r->body_len, (size_t)255));
	dead_text(user, r->user, r->user_len);
	*b++ = '\\';
	*b++ = 'x';
	rc_hex(b, r->body, r->body_len);
	if (r->body_cut != 0)
		snprintf(err, sizeof(err), "%s (body of %u bytes: the first %u kept)", r->bad,
			 (unsigned)r->body_len + r->body_cut, (unsigned)r->body_len);
	else
		snprintf(err, sizeof(err), "%s", r->bad);
	snprintf(nums[0], 24, "%" PRIu64, r->lsn);
	snprintf(nums[1], 24, "%" PRIu64, msg ? r->seq : 0);
	snprintf(nums[2], 24, "%" PRId64, msg ? (int64_t)r->cmid : 0);
	snprintf(nums[3], 24, "%" PRIu64, r->ts_ms);
	snprintf(nums[4], 24, "%" PRId64, (int64_t)d->conf.epoch);
	pm[0] = d->node_id;
	pm[1] = nums[0];
	pm[2] = msg ? "message" : "room";
	pm[3] = room;
	pm[4] = nums[1];
	pm[5] = user;
	pm[6] = nums[2];
	pm[7] = nums[3];
	pm[8] = body;
	pm[9] = nums[4];
	pm[10] = err;
	pm[11] = r->bad_state;
	return drain_pl_send(p, PL_DEAD, NULL, drain_dead_sql, 12, pm);
}

/* Parameters are copied by libpq when sent, so the array buffers are reused. */
int
drain_pl_finish(struct rc_drainer *d, struct pl *p)
{
	char lsn[24];
	const char *pm[5] = { d->node_id };
	int n = drain_room_arrays(d), rc = n < 0 ? n : 0;

	for (unsigned k = 0; k < 4; k++)
		pm[k + 1] = d->a[k].p;
	if (rc == 0 && n > 0)
		rc = drain_pl_send(p, PL_OTHER, NULL, drain_rooms_sql, 5, pm);
	for (unsigned i = 0; i < d->nrecs && rc == 0 && d->nbad > 0; i++)
		if (d->recs[i].bad != NULL)
			rc = pl_dead_letter(d, p, &d->recs[i]);
	if (rc == 0 && d->nbrooms > 0 && (rc = drain_seq_arrays(d)) == 0) {
		pm[1] = d->a[0].p;
		pm[2] = d->a[1].p;
		rc = drain_pl_send(p, PL_OTHER, NULL, drain_next_seq_sql, 3, pm);
	}
	if (rc == 0)
		rc = pl_delete_room(d, p);
	snprintf(lsn, sizeof(lsn), "%" PRIu64, d->recs[d->nrecs - 1].lsn);
	pm[1] = lsn;
	if (rc == 0)
		rc = drain_pl_send(p, PL_OTHER, NULL, drain_state_sql, 2, pm);
	if (rc == 0)
		rc = drain_pl_send(p, PL_OTHER, NULL, "COMMIT", 0, NULL);
	return rc == 0 ? pl_sync_send(p) : rc;
}
