/* SPDX-License-Identifier: MIT */
/*
 * The writer side of a scope's replication link (repl.h): connect (back-off) -> HELLO ->
 * CHALLENGE checked -> AUTH -> first ACK: up; then TRUNCATE / ROOMS+RESET as needed,
 * RECORDS, DRAINED, AUX, PING; ACKs become rc_wal_peer_acked().
 *
 * Threads: the rc-repl thread only (repl_impl.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_ring.h>

#include "bytes.h"
#include "repl_impl.h"

static int
writer_send_hello(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c)
{
	long off;

	if (getrandom(c->nonce_w, sizeof(c->nonce_w), 0) != sizeof(c->nonce_w) ||
	    rc_repl_key_pick(r, 0, &c->key) != 0)
		return -EIO;
	off = rc_repl_frame_begin(c, RC_REPL_T_HELLO, 128);
	if (off < 0 || rc_repl_frame_put(c, RC_REPL_MAGIC, 4) != 0 ||
	    rc_repl_frame_put8(c, RC_REPL_VERSION) != 0 || rc_repl_frame_put8(c, c->key.id) != 0 ||
	    rc_repl_frame_put(c, c->nonce_w, sizeof(c->nonce_w)) != 0 ||
	    rc_repl_frame_put_name(c, r->node_id) != 0 || rc_repl_frame_put_name(c, sc->name) != 0 ||
	    rc_repl_frame_end(c, off) != 0)
		return -ENOMEM;
	c->st = CS_WAIT_CHALLENGE;
	return 0;
}

void
rc_repl_writer_connect(struct rc_repl *r, struct repl_scope *sc, uint64_t now)
{
	int fd, one = 1;

	if (!r->peer_set || now < sc->connect_at_ms)
		return;
	if (sc->tried)
		rc_repl_ctr_add(&sc->c.reconnects, 1);
	sc->tried = true;
	sc->connect_at_ms = now + sc->backoff_ms;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&r->peer, sizeof(r->peer)) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		sc->backoff_ms = RTE_MIN(sc->backoff_ms * 2, r->backoff_max);
		return;
	}
	sc->conn = rc_repl_conn_new(fd, CS_CONNECTING);
	if (sc->conn == NULL)
		close(fd);
	else
		sc->conn->sc = sc;
}

/* connect() finished (POLLOUT): check it, send HELLO. */
int
rc_repl_writer_connected(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0)
		return -err;
	return writer_send_hello(r, sc, c);
}

static int
writer_on_challenge(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c,
		    struct rd *b)
{
	char replica[RC_REPL_ID_MAX + 1];
	uint8_t mac[RC_REPL_MAC_LEN];
	const uint8_t *nonce = rc_repl_rd_take(b, RC_REPL_NONCE_LEN), *peer_mac;
	uint64_t rv[2], first, wlast, ws, u[5];
	long off;

	rv[0] = rc_repl_rd64(b); /* the replica's last_lsn */
	rv[1] = rc_repl_rd64(b); /* its own writer start */

	rc_repl_rd_name(b, replica);
	peer_mac = rc_repl_rd_take(b, RC_REPL_MAC_LEN);
	if (b->bad || b->left != 0)
		return -EPROTO;
	memcpy(c->nonce_r, nonce, RC_REPL_NONCE_LEN);
	if (strcmp(replica, r->peer_id) != 0 ||
	    rc_repl_mac(&c->key, "rcrp2 replica", c, r->node_id, replica, sc->name, rv, 2,
		     mac) != 0 ||
	    CRYPTO_memcmp(mac, peer_mac, sizeof(mac)) != 0)
		return -EACCES;
	wlast = rc_wal_last_lsn(sc->wal);
	ws = rc_wal_writer_start(sc->wal);
	if (rc_wal_first_lsn(sc->wal, &first) != 0)
		first = wlast + 1;
	u[0] = rv[0];
	u[1] = rv[1];
	u[2] = ws;
	u[3] = first;
	u[4] = wlast;
	if (rc_repl_mac(&c->key, "rcrp2 writer", c, r->node_id, replica, sc->name, u, 5, mac) != 0)
		return -EIO;
	off = rc_repl_frame_begin(c, RC_REPL_T_AUTH, 24 + RC_REPL_MAC_LEN);
	if (off < 0 || rc_repl_frame_put64(c, ws) != 0 || rc_repl_frame_put64(c, first) != 0 ||
	    rc_repl_frame_put64(c, wlast) != 0 || rc_repl_frame_put(c, mac, sizeof(mac)) != 0 ||
	    rc_repl_frame_end(c, off) != 0)
		return -ENOMEM;
	/* everything after AUTH, both ways, is sealed under this connection's keys */
	if (rc_repl_seal_start(c, &c->key, r->node_id, replica, sc->name, true) != 0)
		return -EIO;
	c->peer_last = rv[0];
	c->peer_ws = rv[1];
	c->st = CS_WAIT_FIRST_ACK;
	return 0;
}

/* The handshake is done: where the replica continues (repl.h, "Then W decides"). */
static int
writer_up(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c)
{
	uint64_t last = c->peer_last, ws = rc_wal_writer_start(sc->wal);
	uint64_t wlast = rc_wal_last_lsn(sc->wal), to = last;

	/* records the replica wrote itself, at LSNs this writer wrote too */
	if (c->peer_ws > 0 && ws > 0 && last >= ws)
		to = ws - 1;
	if (to > wlast)
		to = wlast;
	/* also when nothing goes: it tells the replica its log is our copy (clears its
	 * writer start) */
	if (to < last || c->peer_ws > 0) {
		if (rc_repl_frame_u64(c, RC_REPL_T_TRUNCATE, to) != 0)
			return -ENOMEM;
		rc_repl_ctr_add(&sc->c.truncations, to < last);
	}
	sc->next_lsn = to + 1;
	sc->ack_cap = to;
	sc->drained_sent = 0;
	rc_repl_ctr_set(&sc->c.sent_lsn, to);
	c->st = CS_UP;
	sc->backoff_ms = r->backoff_min;
	rc_repl_ctr_add(&sc->c.connects, 1);
	atomic_store(&sc->up, true);
	rc_repl_event_push(r, sc, RC_REPL_EV_CONNECTED);
	return 0;
}

static int
writer_on_ack(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c, struct rd *b)
{
	uint64_t lsn = rc_repl_rd64(b);

	if (b->bad || b->left != 0)
		return -EPROTO;
	if (c->st == CS_WAIT_FIRST_ACK) {
		int rc = writer_up(r, sc, c);

		if (rc != 0)
			return rc;
	}
	lsn = RTE_MIN(lsn, sc->ack_cap);
	rc_repl_ctr_set(&sc->c.acked_lsn, lsn);
	rc_wal_peer_acked(sc->wal, lsn);
	return 0;
}

int
rc_repl_writer_frame(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c, uint8_t type,
	     struct rd *b)
{
	if (type == RC_REPL_T_CHALLENGE && c->st == CS_WAIT_CHALLENGE)
		return writer_on_challenge(r, sc, c, b);
	if (type == RC_REPL_T_ACK && (c->st == CS_WAIT_FIRST_ACK || c->st == CS_UP))
		return writer_on_ack(r, sc, c, b);
	return -EPROTO;
}

/* Encodes log records into one RECORDS frame (rc_wal_log_read's callback). */
struct rec_frame {
	struct repl_conn *c;
	uint64_t next;   /* the LSN expected */
	uint64_t hole;   /* set: the log skips from next to this */
	unsigned n;
	size_t bytes;
	bool nomem;
};

static int
rec_frame_add(void *arg, const struct rc_wal_logrec *lr)
{
	struct rec_frame *f = arg;
	struct repl_conn *c = f->c;
	uint8_t h[REPL_REC_FIXED];

	if (lr->lsn != f->next) {
		f->hole = lr->lsn;
		return 1;
	}
	if (f->n == RC_REPL_BATCH_MAX || f->bytes >= REPL_RECS_BYTES)
		return 1;
	rc_put_be64(h, lr->lsn);
	h[8] = lr->kind;
	rc_put_be32(h + 9, lr->room_id);
	rc_put_be64(h + 13, lr->seq);
	rc_put_be64(h + 21, lr->ts_ms);
	rc_put_be64(h + 29, lr->cmid);
	h[37] = (uint8_t)lr->user.len;
	rc_put_be16(h + 38, lr->body.len);
	if (rc_repl_frame_put(c, h, sizeof(h)) != 0 ||
	    rc_repl_frame_put(c, lr->user.p, lr->user.len) != 0 ||
	    rc_repl_frame_put(c, lr->body.p, lr->body.len) != 0) {
		f->nomem = true;
		return 1;
	}
	f->bytes += sizeof(h) + lr->user.len + lr->body.len;
	f->n++;
	f->next++;
	return 0;
}

/* ROOMS frames of every room (rc_wal_load_rooms's callback). */
struct room_frames {
	struct repl_conn *c;
	long off; /* the open frame, -1: none */
	unsigned n;
	size_t count_at;
};

static int
room_frames_close(struct room_frames *f)
{
	long off = f->off;

	if (off < 0)
		return 0;
	f->off = -1;
	rc_put_be16(f->c->tx + f->count_at, (uint16_t)f->n);
	return rc_repl_frame_end(f->c, off) == 0 ? 0 : -ENOMEM;
}

static int
room_frames_add(void *arg, const struct rc_wal_room *room)
{
	struct room_frames *f = arg;
	struct repl_conn *c = f->c;
	size_t nl = strlen(room->name), cl = strlen(room->creator);
	uint8_t h[REPL_ROOM_FIXED + 8]; /* and a tombstone's deleted_lsn */

	if (f->off >= 0 && f->n == RC_REPL_BATCH_MAX && room_frames_close(f) != 0)
		return -ENOMEM;
	if (f->off < 0) {
		uint8_t zero[2] = { 0, 0 };

		f->off = rc_repl_frame_begin(c, RC_REPL_T_ROOMS, 64 << 10);
		if (f->off < 0)
			return -ENOMEM;
		f->count_at = c->tx_len;
		f->n = 0;
		if (rc_repl_frame_put(c, zero, 2) != 0)
			return -ENOMEM;
	}
	rc_put_be32(h, room->room_id);
	rc_put_be64(h + 4, room->created_ms);
	rc_put_be64(h + 12, room->last_seq);
	h[20] = (uint8_t)nl;
	h[21] = (uint8_t)cl;
	h[22] = room->flags;
	rc_put_be64(h + REPL_ROOM_FIXED, room->deleted_lsn); /* sent for a tombstone only */
	if (rc_repl_frame_put(c, h, room->flags & RC_WAL_ROOM_DELETED ? sizeof(h) : REPL_ROOM_FIXED) !=
		    0 ||
	    rc_repl_frame_put(c, room->name, nl) != 0 ||
	    rc_repl_frame_put(c, room->creator, cl) != 0)
		return -ENOMEM;
	f->n++;
	return 0;
}

/* The log no longer holds sc->next_lsn: ROOMS, then RESET to first - 1. */
static int
writer_reset(struct repl_scope *sc, struct repl_conn *c, uint64_t first)
{
	struct room_frames f = { .c = c, .off = -1 };
	int rc = rc_wal_load_rooms(sc->wal, room_frames_add, &f);

	if (rc == 0)
		rc = room_frames_close(&f);
	if (rc != 0)
		return rc < 0 ? rc : -ENOMEM;
	if (rc_repl_frame_u64(c, RC_REPL_T_RESET, first - 1) != 0)
		return -ENOMEM;
	rc_repl_ctr_add(&sc->c.resets, 1);
	sc->next_lsn = first;
	sc->ack_cap = first - 1;
	rc_repl_ctr_set(&sc->c.sent_lsn, first - 1);
	return 0;
}

/* Appends one RECORDS frame from next_lsn, or handles a hole. 1: a frame or reset was
 * queued; 0: nothing to send; -errno. */
static int
writer_records(struct repl_scope *sc, struct repl_conn *c)
{
	uint64_t last = rc_wal_last_lsn(sc->wal), first;
	struct rec_frame f = { .c = c, .next = sc->next_lsn };
	long off;
	size_t count_at;
	int n;

	if (sc->next_lsn > last)
		return 0;
	off = rc_repl_frame_begin(c, RC_REPL_T_RECORDS, 2 + REPL_RECS_BYTES / 4);
	if (off < 0)
		return -ENOMEM;
	count_at = c->tx_len;
	c->tx_len += 2;
	n = rc_wal_log_read(sc->wal, sc->next_lsn, RC_REPL_BATCH_MAX + 1, rec_frame_add, &f);
	if (n < 0 || f.nomem) {
		c->tx_len = (size_t)off;
		return n < 0 ? n : -ENOMEM;
	}
	if (f.n == 0) {
		c->tx_len = (size_t)off; /* drop the empty frame */
		if (f.hole != 0)
			return writer_reset(sc, c, f.hole) == 0 ? 1 : -ENOMEM;
		/* nothing at or above next although last >= next: all trimmed */
		if (rc_wal_first_lsn(sc->wal, &first) != 0 || first <= sc->next_lsn)
			return 0;
		return writer_reset(sc, c, first) == 0 ? 1 : -ENOMEM;
	}
	rc_put_be16(c->tx + count_at, (uint16_t)f.n);
	if (rc_repl_frame_end(c, off) != 0)
		return -ENOMEM;
	sc->next_lsn = f.next;
	sc->ack_cap = f.next - 1;
	rc_repl_ctr_set(&sc->c.sent_lsn, f.next - 1);
	rc_repl_ctr_add(&sc->c.records_tx, f.n);
	return 1;
}

static int
writer_aux(struct repl_scope *sc, struct repl_conn *c)
{
	struct repl_aux *a[REPL_AUX_BURST];
	unsigned n = rte_ring_dequeue_burst(sc->aux_tx, (void **)a, REPL_AUX_BURST, NULL);
	int rc = 0;

	for (unsigned i = 0; i < n; i++) {
		long off = rc == 0 ? rc_repl_frame_begin(c, RC_REPL_T_AUX, a[i]->len) : -1;

		if (off >= 0 && rc_repl_frame_put(c, a[i]->data, a[i]->len) == 0 &&
		    rc_repl_frame_end(c, off) == 0) {
			rc_repl_ctr_add(&sc->c.aux_tx, 1);
		} else {
			rc = -ENOMEM;
			rc_repl_ctr_add(&sc->c.aux_dropped, 1);
		}
		free(a[i]);
	}
	return rc;
}

/* Fills the link: aux messages, the drained marker, records, a keepalive. */
int
rc_repl_writer_pump(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c, uint64_t now)
{
	uint64_t drained;
	int rc = writer_aux(sc, c);

	while (rc == 0 && c->tx_len - c->tx_off < REPL_TX_HIGH) {
		rc = writer_records(sc, c);
		if (rc <= 0)
			break;
		rc = 0;
	}
	if (rc < 0)
		return rc;
	drained = RTE_MIN(rc_wal_drained_lsn(sc->wal), sc->next_lsn - 1);
	if (drained > sc->drained_sent && rc_repl_frame_u64(c, RC_REPL_T_DRAINED, drained) == 0)
		sc->drained_sent = drained;
	if (c->tx_len == c->tx_off && rc_repl_since(now, c->last_tx_ms) >= r->dead_ms / 4) {
		long off = rc_repl_frame_begin(c, RC_REPL_T_PING, 0);

		if (off < 0 || rc_repl_frame_end(c, off) != 0)
			return -ENOMEM;
	}
	return 0;
}
