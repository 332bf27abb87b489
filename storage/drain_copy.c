/* SPDX-License-Identifier: MIT */
/*
 * Drain method COPY: a batch's messages are streamed by binary COPY straight into messages
 * inside a savepoint (the usual case: no key is there yet); on a unique violation, back to
 * the savepoint, then COPY (text) into the temp table rc_staging and INSERT ... SELECT ...
 * ON CONFLICT DO NOTHING, with drain_alarms rows for the keys that hold a different message.
 *
 * One batch in flight: the method has two connections and uses them in turns. Batch k's
 * end (rooms, next_seq, drain_state, COMMIT) is sent in one pipeline and not waited for;
 * batch k+1 is read and streamed on the other connection while the server syncs k's
 * commit; only then is k's answer read (drainer.c, drain_pending_end: k marked drained),
 * and only after that is k+1's end sent. So the commits stay in LSN order, each batch
 * commits only after all before it did, a failure anywhere closes both connections (what
 * was in flight is sorted out at the next connection, as after a crash), and the synced
 * COMMIT, which otherwise leaves the server idle at the end of every batch, overlaps the
 * next COPY. See drain_impl.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "drain_impl.h"

#define DRAIN_STREAM_CHUNK 1000 /* records read from LMDB per COPY chunk */
#define DRAIN_STREAM_FIRST 200  /* the first chunk: small, the server idles until it comes */

/* ---- the text format (rc_staging) ---- */

/* Writes v in decimal and then sep at p; returns the end. */
static char *
put_u64(char *p, uint64_t v, char sep)
{
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(p, tmp + n, sizeof(tmp) - n);
	p += sizeof(tmp) - n;
	*p++ = sep;
	return p;
}

static char *
put_i64(char *p, int64_t v, char sep)
{
	if (v < 0)
		*p++ = '-';
	return put_u64(p, v < 0 ? -(uint64_t)v : (uint64_t)v, sep);
}

static char *
put_text(char *p, const char *s, size_t n, char sep)
{
	p += rc_pgdb_copy_escape(p, 2 * n, s, n);
	*p++ = sep;
	return p;
}

/* Appends the messages of recs[first..) as COPY text for rc_staging (.., cmid, lsn), one
 * reservation per row (this runs for every column of every row). */
static int
drain_copy_data(struct rc_drainer *d, unsigned first)
{
	struct sbuf *b = &d->copy;

	for (unsigned i = first; i < d->nrecs; i++) {
		const struct drain_rec *r = &d->recs[i];
		char *p;

		if (r->kind != RC_WAL_MSG || r->bad != NULL)
			continue;
		if (drain_sb_reserve(b, 2 * (RC_MAX_ROOM + RC_MAX_USER + RC_MAX_BODY) + 128) != 0)
			return -ENOMEM;
		p = b->p + b->len;
		p = put_text(p, r->room, r->room_len, '\t');
		p = put_u64(p, r->seq, '\t');
		p = put_text(p, r->user, r->user_len, '\t');
		p = put_u64(p, r->ts_ms, '\t');
		p = put_text(p, r->body, r->body_len, '\t');
		p = put_i64(p, (int64_t)r->cmid, '\t');
		p = put_u64(p, r->lsn, '\n');
		b->len = (size_t)(p - b->p);
	}
	return 0;
}

/* ---- the binary format (messages) ---- */

/* COPY's binary format: the signature, flags and header extension length; a row is a
 * 16-bit field count and each field as a 32-bit length and the bytes (big endian); the
 * end is a field count of -1. The server then neither scans for delimiters and escapes
 * nor parses numbers: about 13 % less of its time per row than the text format, measured
 * with this table, and the server is what a drain waits for. */
static const char copy_bin_header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r',
					  '\n', '\0' };
static const char copy_bin_trailer[2] = { '\377', '\377' };
#define COPY_BIN_FIELDS 8 /* messages (room, seq, sender, ts_ms, body, cmid, epoch, node) */

/* A bigint field. */
static char *
put_bin_i64(char *p, uint64_t v)
{
	rc_put_be32((uint8_t *)p, sizeof(v));
	rc_put_be64((uint8_t *)p + 4, v);
	return p + 4 + sizeof(v);
}

/* A text field: its n bytes as they are (the server checks the encoding, as for text). */
static char *
put_bin_text(char *p, const char *s, size_t n)
{
	rc_put_be32((uint8_t *)p, (uint32_t)n);
	memcpy(p + 4, s, n);
	return p + 4 + n;
}

/* Appends the messages of recs[first..) as binary COPY rows for messages. */
static int
drain_copy_bin(struct rc_drainer *d, unsigned first)
{
	struct sbuf *b = &d->copy;

	for (unsigned i = first; i < d->nrecs; i++) {
		const struct drain_rec *r = &d->recs[i];
		char *p;

		if (r->kind != RC_WAL_MSG || r->bad != NULL)
			continue;
		if (drain_sb_reserve(b, RC_MAX_ROOM + RC_MAX_USER + RC_MAX_BODY + 64 +
					    d->copy_tail_len) != 0)
			return -ENOMEM;
		p = b->p + b->len;
		rc_put_be16((uint8_t *)p, COPY_BIN_FIELDS);
		p += 2;
		p = put_bin_text(p, r->room, r->room_len);
		p = put_bin_i64(p, r->seq);
		p = put_bin_text(p, r->user, r->user_len);
		p = put_bin_i64(p, r->ts_ms);
		p = put_bin_text(p, r->body, r->body_len);
		p = put_bin_i64(p, r->cmid);
		memcpy(p, d->copy_tail, d->copy_tail_len);
		b->len = (size_t)(p + d->copy_tail_len - b->p);
	}
	return 0;
}

/* The last two fields of every binary row, the same for all: epoch and node (its first 64
 * bytes); the pending batch's result tags. */
static int
copy_setup(struct rc_drainer *d)
{
	char node[65];
	char *p;

	snprintf(node, sizeof(node), "%s", d->node_id);
	p = put_bin_i64(d->copy_tail, d->conf.epoch);
	p = put_bin_text(p, node, strlen(node));
	d->copy_tail_len = (size_t)(p - d->copy_tail);
	d->pend.pl.tags = malloc(sizeof(*d->pend.pl.tags) * (d->conf.batch_max + 8));
	return d->pend.pl.tags == NULL ? -ENOMEM : 0;
}

/* ---- the batch ---- */

/* The careful way: staging table, insert-on-conflict, alarms for the rows in the way. */
static int
drain_copy_merge(struct rc_drainer *d, uint64_t *alarms)
{
	uint64_t inserted = 0;
	int rc;

	d->copy.len = 0;
	rc = drain_copy_data(d, 0);
	if (rc == 0)
		rc = rc_pgdb_copy_begin(d->db, drain_sql_copy_staging);
	if (rc == 0)
		rc = rc_pgdb_copy_put(d->db, d->copy.p, d->copy.len);
	if (rc == 0)
		rc = rc_pgdb_copy_end(d->db);
	if (rc == 0)
		rc = drain_db_merge_staged(d, &inserted);
	if (rc != 0 || inserted == d->nmsgs)
		return rc;
	/* some keys were there already: a re-drain, or a conflict */
	return drain_db_alarm_staged(d, alarms);
}

/* Streams the batch into COPY messages: what was read already, then more, chunk by chunk,
 * so that the server inserts one chunk while the next is read from LMDB. */
static int
drain_copy_stream(struct rc_drainer *d)
{
	unsigned first = 0;
	int rc = rc_pgdb_copy_begin(d->db, drain_sql_copy_fast);

	d->copy.len = 0;
	if (rc == 0)
		rc = drain_sb_add(&d->copy, copy_bin_header, sizeof(copy_bin_header));
	while (rc == 0) {
		rc = drain_copy_bin(d, first);
		if (rc == 0)
			rc = rc_pgdb_copy_put(d->db, d->copy.p, d->copy.len);
		first = d->nrecs;
		if (rc == 0)
			rc = drain_read_more(d, DRAIN_STREAM_CHUNK);
		if (rc <= 0)
			break;
		d->copy.len = 0;
		rc = drain_resolve(d, first);
	}
	if (rc == 0)
		rc = rc_pgdb_copy_put(d->db, copy_bin_trailer, sizeof(copy_bin_trailer));
	/* on failure the connection is left mid-COPY: the caller closes it */
	return rc < 0 ? rc : rc_pgdb_copy_end(d->db);
}

/* Opens the batch's transaction and writes its messages; *alarms gets the new alarms.
 * First a plain COPY into messages inside a savepoint, sent with BEGIN in one round trip
 * (the common case: none of the keys is there yet; as fast as COPY gets); a unique
 * violation (a re-drain, a conflict) rolls it back and the batch goes the careful way.
 * Then, while rc_drainer_fault_hold() is on, it waits there: a host frozen inside the
 * transaction, its rows uncommitted. */
static int
copy_stream(struct rc_drainer *d, uint64_t *alarms)
{
	int rc = drain_copy_stream(d);

	if (rc == -EEXIST) {
		rc = rc_pgdb_exec(d->db, drain_sql_copy_undo);
		if (rc == 0)
			rc = drain_copy_merge(d, alarms);
	}
	while (rc == 0 && atomic_load(&d->fault_hold) && !drain_stopping(d))
		drain_sleep_ms(d, DRAIN_SLEEP_SLICE_MS);
	return rc;
}

/* The end of batch, sent without waiting for the answer: the batch becomes the pending one
 * (there is none: drain_pending_end() came first), and the next batch is built on the
 * other connection meanwhile. */
static int
copy_finish(struct rc_drainer *d, uint64_t alarms, uint64_t *dead)
{
	struct drain_pending *q = &d->pend;
	int rc;

	(void)dead; /* counted when the answer comes */
	q->pl = (struct pl){ .db = d->db, .tags = q->pl.tags };
	rc = drain_pl_begin(&q->pl);
	if (rc == 0)
		rc = drain_pl_finish(d, &q->pl);
	if (rc != 0) {
		q->pl.db = NULL;
		return rc;
	}
	q->lsn = d->recs[d->nrecs - 1].lsn;
	q->first = d->recs[0].lsn;
	q->nrecs = d->nrecs;
	q->alarms = alarms;
	d->db = d->db == &d->conns[0] ? &d->conns[1] : &d->conns[0];
	return 0;
}

const struct drain_method drain_method_copy = {
	.conns = 2,
	.first_read = DRAIN_STREAM_FIRST,
	.setup = copy_setup,
	.stream = copy_stream,
	.finish = copy_finish,
};
