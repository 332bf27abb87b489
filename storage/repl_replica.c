/* SPDX-License-Identifier: MIT */
/*
 * The replica side of a scope's replication link (repl.h): the listener's connection
 * -> HELLO (identifies the scope) -> CHALLENGE -> AUTH checked -> ACK: up (replaces the
 * scope's older link); then frames are executed on the replica's rc_wal.
 *
 * Threads: the rc-repl thread only (repl_impl.h).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <rte_ring.h>

#include "proto.h"
#include "repl_impl.h"
#include "wal_valid.h"

/* HELLO on an accepted connection: identify the scope, answer CHALLENGE. */
int
rc_repl_replica_on_hello(struct rc_repl *r, struct repl_conn *c, struct rd *b)
{
	char writer[RC_REPL_ID_MAX + 1], scope[RC_REPL_ID_MAX + 1];
	const uint8_t *magic = rc_repl_rd_take(b, 4), *nonce;
	uint8_t version = rc_repl_rd8(b), key_id = rc_repl_rd8(b), mac[RC_REPL_MAC_LEN];
	struct repl_scope *sc;
	uint64_t v[2];
	long off;

	nonce = rc_repl_rd_take(b, RC_REPL_NONCE_LEN);
	rc_repl_rd_name(b, writer);
	rc_repl_rd_name(b, scope);
	if (b->bad || b->left != 0 || memcmp(magic, RC_REPL_MAGIC, 4) != 0 ||
	    version != RC_REPL_VERSION)
		return -EPROTO;
	sc = rc_repl_scope_find(r, scope);
	if (sc == NULL || sc->role != RC_REPL_REPLICA) {
		rc_repl_ctr_add(&r->st.unknown_scope, 1);
		return -ENOENT;
	}
	c->sc = sc;
	if (rc_repl_key_pick(r, key_id, &c->key) != 0 || strcmp(writer, r->peer_id) != 0)
		return -EACCES;
	memcpy(c->nonce_w, nonce, RC_REPL_NONCE_LEN);
	if (getrandom(c->nonce_r, sizeof(c->nonce_r), 0) != sizeof(c->nonce_r))
		return -EIO;
	v[0] = rc_wal_last_lsn(sc->wal);
	v[1] = rc_wal_writer_start(sc->wal);
	if (rc_repl_mac(&c->key, "rcrp2 replica", c, writer, r->node_id, sc->name, v, 2, mac) != 0)
		return -EIO;
	off = rc_repl_frame_begin(c, RC_REPL_T_CHALLENGE, 128);
	if (off < 0 || rc_repl_frame_put(c, c->nonce_r, RC_REPL_NONCE_LEN) != 0 ||
	    rc_repl_frame_put64(c, v[0]) != 0 || rc_repl_frame_put64(c, v[1]) != 0 ||
	    rc_repl_frame_put_name(c, r->node_id) != 0 ||
	    rc_repl_frame_put(c, mac, sizeof(mac)) != 0 || rc_repl_frame_end(c, off) != 0)
		return -ENOMEM;
	c->peer_last = v[0];
	c->peer_ws = v[1];
	c->st = CS_WAIT_AUTH;
	return 0;
}

int
rc_repl_replica_on_auth(struct rc_repl *r, struct repl_conn *c, struct rd *b)
{
	struct repl_scope *sc = c->sc;
	uint64_t u[5] = { c->peer_last, c->peer_ws };
	uint8_t mac[RC_REPL_MAC_LEN];
	const uint8_t *peer_mac;

	u[2] = rc_repl_rd64(b);
	u[3] = rc_repl_rd64(b);
	u[4] = rc_repl_rd64(b);
	peer_mac = rc_repl_rd_take(b, RC_REPL_MAC_LEN);
	if (b->bad || b->left != 0)
		return -EPROTO;
	if (rc_repl_mac(&c->key, "rcrp2 writer", c, r->peer_id, r->node_id, sc->name, u, 5,
		     mac) != 0 ||
	    CRYPTO_memcmp(mac, peer_mac, sizeof(mac)) != 0)
		return -EACCES;
	/* everything after AUTH, both ways, is sealed under this connection's keys */
	if (rc_repl_seal_start(c, &c->key, r->peer_id, r->node_id, sc->name, false) != 0)
		return -EIO;
	return rc_repl_frame_u64(c, RC_REPL_T_ACK, rc_wal_last_lsn(sc->wal));
}

int
rc_repl_batch_flush(struct repl_scope *sc, struct rx_batch *bt)
{
	int rc;

	if (bt->n == 0)
		return 0;
	rc = rc_wal_apply(sc->wal, bt->v, bt->n);
	if (rc == 0) {
		rc_repl_ctr_add(&sc->c.records_rx, bt->n);
		bt->dirty = true;
	}
	bt->n = 0;
	return rc;
}

/* ---- what the replica applies ----
 *
 * A record is stored here only if the request path could have stored it (PROTOCOL.md's
 * limits, dataplane/wire/proto.c's UTF-8 rule), with a seq in 1..2^63-1 and a room id of the
 * scope's range: the stream is authenticated, so a record failing this comes from a writer
 * with a bug, and storing it would hand it to the drain and to clients. It is refused
 * (records_invalid), the connection closed, and the stream stays down until the writer
 * is fixed: visible, never silent. The rules are storage/wal_valid.h's, the same as the
 * request path's codec (dataplane/wire/proto.c), plus the scope's room id range. */

static bool
room_id_ok(const struct repl_scope *sc, uint32_t id)
{
	return id != 0 && (sc->room_hi == 0 || (id >= sc->room_lo && id <= sc->room_hi));
}

static bool
record_valid(const struct repl_scope *sc, const struct rc_wal_logrec *lr)
{
	return room_id_ok(sc, lr->room_id) && rc_wal_rec_valid(lr, NULL);
}

static int
replica_on_records(struct repl_scope *sc, struct rx_batch *bt, struct rd *b)
{
	uint16_t n = rc_repl_rd16(b);

	if (n == 0 || n > RC_REPL_BATCH_MAX)
		return -EPROTO;
	if (bt->n + n > bt->cap) {
		int rc = rc_repl_batch_flush(sc, bt);

		if (rc != 0)
			return rc;
	}
	for (unsigned i = 0; i < n; i++) {
		struct rc_wal_logrec *lr = &bt->v[bt->n];
		uint8_t ul;
		uint16_t bl;

		/* one field per statement: the reads must happen in wire order (the
		 * initialisers of a compound literal are not sequenced) */
		memset(lr, 0, sizeof(*lr));
		lr->lsn = rc_repl_rd64(b);
		lr->kind = rc_repl_rd8(b);
		lr->room_id = rc_repl_rd32(b);
		lr->seq = rc_repl_rd64(b);
		lr->ts_ms = rc_repl_rd64(b);
		lr->cmid = rc_repl_rd64(b);
		ul = rc_repl_rd8(b);
		bl = rc_repl_rd16(b);
		lr->user = (struct rc_str){ .p = (const char *)rc_repl_rd_take(b, ul), .len = ul };
		lr->body = (struct rc_str){ .p = (const char *)rc_repl_rd_take(b, bl), .len = bl };
		if (b->bad)
			return -EPROTO;
		if (!record_valid(sc, lr))
			return -EDOM;
		bt->n++;
	}
	return b->left == 0 ? 0 : -EPROTO;
}

/* One room of a ROOMS frame, with room for its strings. */
struct rx_room {
	char name[256];
	char creator[256];
};

static int
replica_rooms_decode(const struct repl_scope *sc, struct rd *b, unsigned n,
		     struct rc_wal_room *rooms, struct rx_room *s)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t nl, cl, fl;
		const uint8_t *np, *cp;

		memset(&rooms[i], 0, sizeof(rooms[i]));
		rooms[i].room_id = rc_repl_rd32(b); /* in wire order, one per statement */
		rooms[i].created_ms = rc_repl_rd64(b);
		rooms[i].last_seq = rc_repl_rd64(b);
		nl = rc_repl_rd8(b);
		cl = rc_repl_rd8(b);
		fl = rc_repl_rd8(b);
		if (fl & RC_WAL_ROOM_DELETED)
			rooms[i].deleted_lsn = rc_repl_rd64(b);
		np = rc_repl_rd_take(b, nl);
		cp = rc_repl_rd_take(b, cl);
		if (b->bad || memchr(np, '\0', nl) != NULL || memchr(cp, '\0', cl) != NULL ||
		    (fl & ~RC_WAL_ROOM_FLAGS) != 0 ||
		    ((fl & RC_WAL_ROOM_DELETED) && rooms[i].deleted_lsn == 0))
			return -EPROTO;
		rooms[i].flags = fl;
		{
			struct rc_wal_logrec lr = {
				.kind = RC_WAL_ROOM, .room_id = rooms[i].room_id,
				.ts_ms = rooms[i].created_ms,
				.user = { .p = (const char *)cp, .len = cl },
				.body = { .p = (const char *)np, .len = nl },
			};

			if (rooms[i].last_seq > (uint64_t)INT64_MAX || !record_valid(sc, &lr))
				return -EDOM;
		}
		memcpy(s[i].name, np, nl);
		s[i].name[nl] = '\0';
		memcpy(s[i].creator, cp, cl);
		s[i].creator[cl] = '\0';
		rooms[i].name = s[i].name;
		rooms[i].creator = s[i].creator;
	}
	return b->left == 0 ? 0 : -EPROTO;
}

static int
replica_on_rooms(struct repl_scope *sc, struct rd *b)
{
	uint16_t n = rc_repl_rd16(b);
	struct rc_wal_room *rooms;
	struct rx_room *s;
	int rc;

	if (n == 0 || n > RC_REPL_BATCH_MAX)
		return -EPROTO;
	rooms = calloc(n, sizeof(*rooms));
	s = calloc(n, sizeof(*s));
	rc = rooms == NULL || s == NULL ? -ENOMEM : replica_rooms_decode(sc, b, n, rooms, s);
	if (rc == 0 && rc_wal_apply_rooms(sc->wal, rooms, n) != 0)
		rc = -EPROTO;
	free(rooms);
	free(s);
	return rc;
}

static int
replica_on_aux(struct rc_repl *r, struct repl_scope *sc, struct rd *b)
{
	struct repl_aux *a;

	if (b->left == 0 || b->left > UINT16_MAX)
		return -EPROTO;
	a = malloc(sizeof(*a) + b->left);
	if (a == NULL) {
		rc_repl_ctr_add(&sc->c.aux_dropped, 1);
		return 0;
	}
	a->scope = sc->idx;
	a->len = (uint16_t)b->left;
	memcpy(a->data, rc_repl_rd_take(b, b->left), a->len);
	if (rte_ring_enqueue(r->aux_rx, a) != 0) {
		free(a);
		rc_repl_ctr_add(&sc->c.aux_dropped, 1);
		return 0;
	}
	rc_repl_ctr_add(&sc->c.aux_rx, 1);
	return 0;
}

/* A frame on an up replica link. Records are batched; everything else flushes first. */
int
rc_repl_replica_frame_up(struct rc_repl *r, struct repl_scope *sc, uint8_t type, struct rd *b,
		 struct rx_batch *bt)
{
	uint64_t v;
	int rc;

	if (type == RC_REPL_T_RECORDS)
		return replica_on_records(sc, bt, b);
	rc = rc_repl_batch_flush(sc, bt);
	if (rc != 0)
		return rc;
	switch (type) {
	case RC_REPL_T_AUX:
		return replica_on_aux(r, sc, b);
	case RC_REPL_T_ROOMS:
		return replica_on_rooms(sc, b);
	case RC_REPL_T_PING:
		bt->dirty = true;
		return b->left == 0 ? 0 : -EPROTO;
	default:
		break;
	}
	v = rc_repl_rd64(b);
	if (b->bad || b->left != 0)
		return -EPROTO;
	switch (type) {
	case RC_REPL_T_DRAINED:
		rc_wal_set_drained(sc->wal, v);
		return 0;
	case RC_REPL_T_TRUNCATE: {
		uint64_t before = rc_wal_last_lsn(sc->wal);

		rc = rc_wal_truncate_above(sc->wal, v);
		rc_repl_ctr_add(&sc->c.truncations, rc == 0 && v < before);
		break;
	}
	case RC_REPL_T_RESET:
		rc = rc_wal_reset_to(sc->wal, v);
		rc_repl_ctr_add(&sc->c.resets, rc == 0);
		break;
	default:
		return -EPROTO;
	}
	bt->dirty = true;
	return rc;
}

/* Makes c, whose AUTH checked, the scope's link. */
void
rc_repl_replica_up(struct rc_repl *r, struct repl_conn *c)
{
	struct repl_scope *sc = c->sc;

	for (unsigned i = 0; i < REPL_PENDING_MAX; i++)
		if (r->pending[i] == c)
			r->pending[i] = NULL;
	rc_repl_scope_close(r, sc);
	sc->conn = c;
	c->st = CS_UP;
	rc_repl_ctr_add(&sc->c.connects, 1);
	atomic_store(&sc->up, true);
	rc_repl_event_push(r, sc, RC_REPL_EV_CONNECTED);
}
