/* SPDX-License-Identifier: MIT */
/*
 * `rcha verify`: what the clients of a run were acknowledged (DIR/acked.tsv) against the
 * messages table of the group's PostgreSQL (room, seq, sender, cmid: storage/schema.c).
 *
 *   lost_acked  acknowledged (room, cmid, user) whose row (room, seq) is missing or holds
 *               another message (other cmid or sender)
 *   duplicates  rows with the same (room, cmid, sender) beyond the first, plus POSTs
 *               acknowledged with two different seqs
 *   gaps        per room of the run, seqs missing in 1..max(seq)
 *   relogins    from DIR/summary.tsv (a client logged in a second time)
 *
 * Rows come through libpq (--conninfo) or from psql (--psql "COMMAND PREFIX": the prefix is
 * run by the shell with -XAtq -f FILE appended). cmid is stored as a two's complement
 * bigint. Single-threaded.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcha.h"

struct row {
	unsigned room; /* index into the run's rooms */
	uint64_t seq, cmid;
	char *sender;
};

struct rows {
	struct row *r;
	size_t n, cap;
};

struct vstate {
	char **room;
	unsigned nrooms;
	struct rows acked; /* sender = the user acknowledged */
	struct rows db;
};

static int
room_index(struct vstate *v, const char *name, bool add)
{
	char **r;

	for (unsigned i = 0; i < v->nrooms; i++)
		if (strcmp(v->room[i], name) == 0)
			return (int)i;
	if (!add)
		return -1;
	r = realloc(v->room, (v->nrooms + 1) * sizeof(*r));

	if (!r || !(r[v->nrooms] = strdup(name)))
		return -1;
	v->room = r;
	return (int)v->nrooms++;
}

static int
rows_add(struct rows *s, unsigned room, uint64_t seq, uint64_t cmid, const char *sender)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct row *r = realloc(s->r, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n] = (struct row){ room, seq, cmid, strdup(sender) };
	return s->r[s->n++].sender ? 0 : -ENOMEM;
}

static int
read_acked(const char *dir, struct vstate *v)
{
	char path[4096], line[2048], user[512], room[512];
	uint64_t cmid, seq;
	FILE *f;

	snprintf(path, sizeof(path), "%s/acked.tsv", dir);
	if (!(f = fopen(path, "r"))) {
		fprintf(stderr, "rcha: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		int r;

		if (line[0] != 'A' && line[0] != 'D')
			continue;
		if (sscanf(line + 2, "%511[^\t]\t%511[^\t]\t%" SCNu64 "\t%" SCNu64, user, room, &cmid,
			   &seq) != 4)
			continue;
		r = room_index(v, room, true);
		if (r < 0 || (line[0] == 'A' && rows_add(&v->acked, (unsigned)r, seq, cmid, user) < 0)) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	return 0;
}

static uint64_t
read_relogins(const char *dir)
{
	char path[4096], key[64];
	uint64_t val, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/summary.tsv", dir);
	if (!(f = fopen(path, "r")))
		return 0;
	while (fscanf(f, "%63s %" SCNu64, key, &val) == 2)
		if (strcmp(key, "relogins") == 0)
			n = val;
	fclose(f);
	return n;
}

/* One "room TAB seq TAB sender TAB cmid" row. */
static int
add_db_row(struct vstate *v, const char *room, const char *seq, const char *sender,
	   const char *cmid)
{
	int r = room_index(v, room, false);

	if (r < 0)
		return 0;
	return rows_add(&v->db, (unsigned)r, strtoull(seq, NULL, 10),
			(uint64_t)strtoll(cmid, NULL, 10), sender);
}

static char *
room_array_literal(const struct vstate *v)
{
	size_t cap = 3;
	char *s, *p;

	for (unsigned i = 0; i < v->nrooms; i++)
		cap += 2 * strlen(v->room[i]) + 3;
	if (!(s = p = malloc(cap)))
		return NULL;
	*p++ = '{';
	for (unsigned i = 0; i < v->nrooms; i++) {
		if (i)
			*p++ = ',';
		*p++ = '"';
		for (const char *c = v->room[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static int
load_libpq(const char *conninfo, struct vstate *v)
{
	PGconn *db = PQconnectdb(conninfo);
	char *rooms = room_array_literal(v);
	const char *params[1] = { rooms };
	PGresult *res = NULL;
	int rc = -EIO;

	if (PQstatus(db) != CONNECTION_OK) {
		fprintf(stderr, "rcha: database: %s", PQerrorMessage(db));
		goto out;
	}
	res = PQexecParams(db,
			   "SELECT room, seq::text, sender, cmid::text FROM messages"
			   " WHERE room = ANY($1::text[])",
			   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "rcha: query: %s", PQerrorMessage(db));
		goto out;
	}
	rc = 0;
	for (int i = 0; i < PQntuples(res) && rc == 0; i++)
		rc = add_db_row(v, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
out:
	PQclear(res);
	PQfinish(db);
	free(rooms);
	return rc;
}

/* psql: the query goes in a file (no shell quoting of room names), one field per line. */
static int
load_psql(const char *prefix, const char *dir, struct vstate *v)
{
	char path[4096], *cmd = NULL, *f[4] = { 0 };
	size_t cap[4] = { 0 };
	int rc = 0, st;
	FILE *q, *p;

	snprintf(path, sizeof(path), "%s/verify.sql", dir);
	if (!(q = fopen(path, "w")))
		return -errno;
	fprintf(q, "SELECT room || E'\\n' || seq || E'\\n' || sender || E'\\n' || cmid\n"
		   "FROM messages WHERE room IN (''");
	for (unsigned i = 0; i < v->nrooms; i++) {
		fputs(", '", q);
		for (const char *c = v->room[i]; *c; c++)
			fputs(*c == '\'' ? "''" : (char[]){ *c, 0 }, q);
		fputc('\'', q);
	}
	fputs(");\n", q);
	fclose(q);
	if (asprintf(&cmd, "%s -XAtq -v ON_ERROR_STOP=1 -f '%s'", prefix, path) < 0)
		return -ENOMEM;
	if (!(p = popen(cmd, "r"))) {
		free(cmd);
		return -errno;
	}
	for (;;) {
		int k;

		for (k = 0; k < 4; k++) {
			ssize_t n = getline(&f[k], &cap[k], p);

			if (n <= 0)
				break;
			f[k][n - 1] = f[k][n - 1] == '\n' ? '\0' : f[k][n - 1];
		}
		if (k < 4 || (rc = add_db_row(v, f[0], f[1], f[2], f[3])) < 0)
			break;
	}
	st = pclose(p);
	if (rc == 0 && st != 0) {
		fprintf(stderr, "rcha: `%s` failed (status %d)\n", cmd, st);
		rc = -EIO;
	}
	for (int k = 0; k < 4; k++)
		free(f[k]);
	free(cmd);
	return rc;
}

static int
by_room_seq(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->room != y->room)
		return x->room < y->room ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
by_room_sender_cmid(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int c;

	if (x->room != y->room)
		return x->room < y->room ? -1 : 1;
	if ((c = strcmp(x->sender, y->sender)) != 0)
		return c;
	if (x->cmid != y->cmid)
		return x->cmid < y->cmid ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool
same_post(const struct row *a, const struct row *b)
{
	return a->room == b->room && a->cmid == b->cmid && strcmp(a->sender, b->sender) == 0;
}

/* Duplicates: the same (room, sender, cmid) at two seqs (rows sorted by that key). */
static uint64_t
count_dups(const struct rows *s)
{
	uint64_t n = 0;

	for (size_t i = 1; i < s->n; i++)
		if (same_post(&s->r[i], &s->r[i - 1]) && s->r[i].seq != s->r[i - 1].seq)
			n++;
	return n;
}

static uint64_t
count_lost(struct vstate *v)
{
	uint64_t lost = 0;

	for (size_t i = 0; i < v->acked.n; i++) {
		const struct row *a = &v->acked.r[i], *d;

		if (i > 0 && same_post(a, &v->acked.r[i - 1]) && a->seq == v->acked.r[i - 1].seq)
			continue; /* the same ACK seen twice */
		d = bsearch(a, v->db.r, v->db.n, sizeof(*d), by_room_seq);
		if (d && d->cmid == a->cmid && strcmp(d->sender, a->sender) == 0)
			continue;
		if (lost++ < 10)
			fprintf(stderr,
				"rcha: lost: %s acked cmid %" PRIu64 " in %s at seq %" PRIu64
				": %s\n",
				a->sender, a->cmid, v->room[a->room], a->seq,
				d ? "another message is there" : "no row");
	}
	return lost;
}

static uint64_t
count_gaps(const struct vstate *v)
{
	uint64_t gaps = 0;
	size_t i = 0;

	for (unsigned r = 0; r < v->nrooms; r++) {
		uint64_t n = 0, max = 0;

		for (; i < v->db.n && v->db.r[i].room == r; i++, n++)
			max = v->db.r[i].seq;
		gaps += max - n;
	}
	return gaps;
}

int
rh_verify(const struct rh_opts *o)
{
	struct vstate v = { 0 };
	uint64_t lost, dups, gaps, relogins;
	int rc;

	if ((rc = read_acked(o->out, &v)) < 0)
		return 1;
	rc = o->conninfo ? load_libpq(o->conninfo, &v) : load_psql(o->psql, o->out, &v);
	if (rc < 0)
		return 1;
	qsort(v.acked.r, v.acked.n, sizeof(struct row), by_room_sender_cmid);
	qsort(v.db.r, v.db.n, sizeof(struct row), by_room_sender_cmid);
	dups = count_dups(&v.db) + count_dups(&v.acked);
	qsort(v.db.r, v.db.n, sizeof(struct row), by_room_seq);
	lost = count_lost(&v);
	gaps = count_gaps(&v);
	relogins = read_relogins(o->out);
	printf("rooms: %u\nrows: %zu\nacked: %zu\n", v.nrooms, v.db.n, v.acked.n);
	printf("lost_acked: %" PRIu64 "\nduplicates: %" PRIu64 "\ngaps: %" PRIu64
	       "\nrelogins: %" PRIu64 "\n",
	       lost, dups, gaps, relogins);
	for (size_t i = 0; i < v.acked.n; i++)
		free(v.acked.r[i].sender);
	for (size_t i = 0; i < v.db.n; i++)
		free(v.db.r[i].sender);
	for (unsigned i = 0; i < v.nrooms; i++)
		free(v.room[i]);
	free(v.acked.r);
	free(v.db.r);
	free(v.room);
	return lost || dups || gaps || relogins ? 1 : 0;
}
