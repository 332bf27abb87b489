/* SPDX-License-Identifier: MIT */
/*
 * Private to storage/repl*.c: the struct rc_repl they share, its scopes and connections,
 * the bounded frame reader, and the helpers each file offers the others.
 *
 *   repl.c          the object, the rc-repl thread and its poll loop, connections, reading
 *                   and dispatching frames, events, the public API
 *   repl_wire.c     frame encoding (the transmit buffer) and names decoding, the HMAC of
 *                   the handshake
 *   repl_writer.c   the writer side of a scope's link: connect, HELLO, CHALLENGE checked,
 *                   AUTH, first ACK; then TRUNCATE / ROOMS+RESET, RECORDS, DRAINED, AUX,
 *                   PING; ACKs become rc_wal_peer_acked()
 *   repl_replica.c  the replica side: HELLO (identifies the scope), CHALLENGE, AUTH
 *                   checked, ACK; then frames executed on the replica's rc_wal
 *
 * Threads and ownership: the rc-repl thread (repl_main) owns the sockets, the pending and
 * scope connections (struct repl_conn, whole), and each scope's stream state (role, conn,
 * next_lsn, ack_cap, drained_sent, connect_at_ms, backoff_ms, tried): every function
 * declared below is for that thread only, unless it says otherwise. Before rc_repl_start()
 * and after rc_repl_stop() the control thread stands in for it (attach, stop, destroy).
 * Other threads touch only: the atomics (want_role, up, the counters of struct repl_ctr
 * and rc_repl.st), the aux rings (sc->aux_tx multi-producer towards the thread, r->aux_rx
 * single-producer from it, one consumer each), the eventfd efd that wakes the thread, and
 * the event queue (under ev_lock). The scope table (sc[], nsc) and the configuration are
 * written before start only, then read by all.
 */
#ifndef RC_REPL_IMPL_H
#define RC_REPL_IMPL_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <rte_ring.h>

#include "bytes.h"
#include "repl.h"
#include "wal.h"
#include "wal_format.h"

#define REPL_HANDSHAKE_MS 2000u     /* the writer's side: connect to first ACK */
#define REPL_PREAUTH_MS 1000u       /* the listener's side: accept to AUTH checked */
#define REPL_POLL_MAX_MS 50
#define REPL_PENDING_MAX 8          /* accepted connections not yet authenticated */
#define REPL_TX_HIGH (512u << 10)   /* stop building frames above this much queued */
#define REPL_RECS_BYTES (256u << 10) /* a RECORDS frame's body, about */
#define REPL_HDR 5                  /* length + type */
#define REPL_SEQ_LEN 8              /* a sealed frame's counter */
#define REPL_TAG_LEN 16             /* a sealed frame's AEAD tag */
#define REPL_SEALED_HDR (REPL_HDR + REPL_SEQ_LEN)
#define REPL_KEY_LEN 32             /* per-direction key (ChaCha20-Poly1305) */
#define REPL_REC_FIXED 40           /* a record's bytes besides user and body */
#define REPL_ROOM_FIXED 23
#define REPL_EVENTS 64
#define REPL_AUX_BURST 32

/* ---- state ---- */

enum conn_state {
	CS_CONNECTING = 0, /* W: connect() in progress */
	CS_WAIT_CHALLENGE, /* W: HELLO sent */
	CS_WAIT_FIRST_ACK, /* W: AUTH sent */
	CS_WAIT_HELLO,     /* R: accepted */
	CS_WAIT_AUTH,      /* R: CHALLENGE sent */
	CS_UP,
};

struct repl_scope;

/* One direction of an authenticated link: its key (derived per connection, repl.h
 * "Frames after the handshake") and the counter of the next frame. */
struct repl_seal {
	EVP_CIPHER_CTX *ctx; /* NULL: frames in this direction are not sealed (handshake) */
	uint64_t seq;
};

struct repl_conn {
	int fd;
	enum conn_state st;
	struct repl_scope *sc; /* NULL until HELLO named it (replica side) */
	uint8_t *rx;
	size_t rx_len;
	uint8_t *tx;
	size_t tx_off, tx_len, tx_cap;
	uint8_t nonce_w[RC_REPL_NONCE_LEN];
	uint8_t nonce_r[RC_REPL_NONCE_LEN];
	uint64_t peer_last;     /* R's last_lsn from CHALLENGE */
	uint64_t peer_ws;       /* R's own writer start from CHALLENGE (W side) */
	struct repl_seal seal_tx, seal_rx;
	struct rc_repl_key key; /* the handshake's key, chosen at HELLO (rc_repl_key_pick) */
	uint64_t last_rx_ms;
	uint64_t last_tx_ms;
	uint64_t opened_ms;
};

struct repl_ctr {
	_Atomic uint64_t sent_lsn, acked_lsn, applied_lsn;
	_Atomic uint64_t bytes_tx, bytes_rx, records_tx, records_rx;
	_Atomic uint64_t connects, reconnects, auth_failures, protocol_errors, timeouts;
	_Atomic uint64_t truncations, resets, aux_tx, aux_rx, aux_dropped;
	_Atomic uint64_t frames_bad_mac, frames_replayed, frames_gap, records_invalid;
};

struct repl_aux {
	unsigned scope; /* index, for the receive ring */
	uint16_t len;
	uint8_t data[];
};

struct repl_scope {
	char name[RC_REPL_ID_MAX + 1];
	unsigned idx;
	struct rc_wal *wal;
	atomic_int want_role;
	atomic_bool up;
	enum rc_repl_role role; /* the thread's */
	struct repl_conn *conn;
	/* writer stream */
	uint64_t next_lsn;     /* the next LSN to send */
	uint64_t ack_cap;      /* an ACK above this is not ours */
	uint64_t drained_sent;
	uint64_t connect_at_ms;
	uint32_t backoff_ms;
	bool tried;            /* a connection was attempted before */
	struct rte_ring *aux_tx;
	uint32_t room_lo, room_hi; /* the replica accepts room ids in lo..hi (hi 0: any) */
	struct repl_ctr c;
};

struct rc_repl {
	char node_id[RC_REPL_ID_MAX + 1];
	char peer_id[RC_REPL_ID_MAX + 1];
	struct sockaddr_in peer;
	bool peer_set;
	pthread_mutex_t key_lock;  /* keys, n_keys: rc_repl_set_keys from another thread */
	struct rc_repl_key keys[RC_REPL_KEYS_MAX]; /* keys[0] signs; all are accepted */
	unsigned n_keys;
	uint32_t backoff_min, backoff_max, dead_ms;
	unsigned aux_ring;
	int lfd, efd;
	uint16_t port;
	struct repl_scope sc[RC_REPL_SCOPES_MAX];
	unsigned nsc;
	struct repl_conn *pending[REPL_PENDING_MAX];
	struct rte_ring *aux_rx;
	pthread_mutex_t ev_lock;
	struct rc_repl_event ev[REPL_EVENTS];
	unsigned ev_head, ev_count;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	struct {
		_Atomic uint64_t accepted, rejected, unknown_scope, events_dropped;
		_Atomic uint64_t wrong_source, pending_evicted, pending_timeouts;
	} st;
};

/* A bounded reader of a frame's body: any read past the end sets bad. */
struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

/* Records read from RECORDS frames, applied together (strings point into rx). */
struct rx_batch {
	struct rc_wal_logrec *v;
	unsigned n, cap;
	bool dirty; /* something was applied: ACK */
};

/* ---- small helpers (any thread) ---- */

/* ms from then to now; 0 when then was sampled after now. */
static inline uint64_t
rc_repl_since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

static inline void
rc_repl_ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void
rc_repl_ctr_set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static inline const uint8_t *
rc_repl_rd_take(struct rd *b, size_t n)
{
	const uint8_t *p = b->p;

	if (b->bad || n > b->left) {
		b->bad = true;
		return NULL;
	}
	b->p += n;
	b->left -= n;
	return p;
}

static inline uint8_t
rc_repl_rd8(struct rd *b)
{
	const uint8_t *p = rc_repl_rd_take(b, 1);

	return p != NULL ? p[0] : 0;
}

static inline uint16_t
rc_repl_rd16(struct rd *b)
{
	const uint8_t *p = rc_repl_rd_take(b, 2);

	return p != NULL ? rc_get_be16(p) : 0;
}

static inline uint32_t
rc_repl_rd32(struct rd *b)
{
	const uint8_t *p = rc_repl_rd_take(b, 4);

	return p != NULL ? rc_get_be32(p) : 0;
}

static inline uint64_t
rc_repl_rd64(struct rd *b)
{
	const uint8_t *p = rc_repl_rd_take(b, 8);

	return p != NULL ? rc_get_be64(p) : 0;
}

/* ---- repl_wire.c: encoding and parsing, the handshake's HMAC ---- */

/* A one-byte length then 1..RC_REPL_ID_MAX bytes of a name, copied NUL-terminated. */
void rc_repl_rd_name(struct rd *b, char out[RC_REPL_ID_MAX + 1]);

/* Frames are appended to c's transmit buffer, then written as the socket takes them.
 * rc_repl_frame_begin starts a frame of type and returns its offset in tx (for
 * rc_repl_frame_end), or -errno; the puts return 0 or -ENOMEM. */
long rc_repl_frame_begin(struct repl_conn *c, uint8_t type, size_t body_hint);
int rc_repl_frame_put(struct repl_conn *c, const void *p, size_t n);
int rc_repl_frame_put8(struct repl_conn *c, uint8_t v);
int rc_repl_frame_put64(struct repl_conn *c, uint64_t v);
int rc_repl_frame_put_name(struct repl_conn *c, const char *s);
/* Writes the frame's length and, on a sealed link, its counter, encrypts the body and
 * appends the tag; tx may have moved, so off is an offset. 0, -ENOMEM or -EIO. */
int rc_repl_frame_end(struct repl_conn *c, long off);
/* A frame with a u64 body (ACK, DRAINED, TRUNCATE, RESET). */
int rc_repl_frame_u64(struct repl_conn *c, uint8_t type, uint64_t v);

/* The key with id (0: the signing key) copied into out, under the key lock. 0 or -ENOKEY. */
int rc_repl_key_pick(struct rc_repl *r, unsigned id, struct rc_repl_key *out);

/* mac = HMAC-SHA256(key, label | nonce_w | nonce_r | lp(writer) | lp(replica) |
 * lp(scope) | u64s[0..n)), n at most RC_REPL_MAC_U64_MAX. 0, -EINVAL or -EIO. Any thread. */
#define RC_REPL_MAC_U64_MAX 8
int rc_repl_mac(const struct rc_repl_key *k, const char *label, const struct repl_conn *c,
		const char *writer, const char *replica, const char *scope, const uint64_t *u64s,
		unsigned n, uint8_t mac[RC_REPL_MAC_LEN]);

/* After the handshake: derives the connection's two keys (HKDF-SHA256 of the shared key,
 * salt nonce_w | nonce_r, info label | lp(writer) | lp(replica) | lp(scope)) and seals both
 * directions from here on; is_writer picks which key sends. 0, -ENOMEM or -EIO. */
int rc_repl_seal_start(struct repl_conn *c, const struct rc_repl_key *k, const char *writer,
		       const char *replica, const char *scope, bool is_writer);
/* Opens the sealed frame f (length field first, flen bytes in all) in place: checks the
 * tag, then the counter. 0 (the body is at f + REPL_SEALED_HDR, flen - REPL_SEALED_HDR -
 * REPL_TAG_LEN bytes), -EPROTO (too short), -EBADMSG (tag), -EALREADY (a counter already
 * seen: replay or reordering), -EILSEQ (a counter skipped: a frame missing). */
int rc_repl_seal_open(struct repl_conn *c, uint8_t *f, size_t flen);
void rc_repl_seal_free(struct repl_conn *c);

/* ---- repl.c: events, connections, scopes ---- */

/* Queues a connection event for rc_repl_poll_events (takes ev_lock). */
void rc_repl_event_push(struct rc_repl *r, struct repl_scope *sc,
			enum rc_repl_event_type type);
/* A connection of fd in state st; NULL when out of memory. */
struct repl_conn *rc_repl_conn_new(int fd, enum conn_state st);
/* Closes the scope's link; the writer reconnects after its back-off. */
void rc_repl_scope_close(struct rc_repl *r, struct repl_scope *sc);
/* The scope attached as name, or NULL. Any thread (the table is fixed once running). */
struct repl_scope *rc_repl_scope_find(struct rc_repl *r, const char *name);

/* ---- repl_writer.c: the writer side ---- */

/* Opens the scope's connection when its back-off allows. */
void rc_repl_writer_connect(struct rc_repl *r, struct repl_scope *sc, uint64_t now);
/* connect() finished (POLLOUT): check it, send HELLO. */
int rc_repl_writer_connected(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c);
/* A frame received on a writer connection. 0 or -errno (close). */
int rc_repl_writer_frame(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c,
			 uint8_t type, struct rd *b);
/* Fills the link: aux messages, the drained marker, records, a keepalive. */
int rc_repl_writer_pump(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c,
			uint64_t now);

/* ---- repl_replica.c: the replica side ---- */

/* HELLO on an accepted connection: identify the scope, answer CHALLENGE. */
int rc_repl_replica_on_hello(struct rc_repl *r, struct repl_conn *c, struct rd *b);
/* AUTH: check the writer's MAC, answer ACK (the caller then calls rc_repl_replica_up). */
int rc_repl_replica_on_auth(struct rc_repl *r, struct repl_conn *c, struct rd *b);
/* A frame on an up replica link. Records are batched; everything else flushes first. */
int rc_repl_replica_frame_up(struct rc_repl *r, struct repl_scope *sc, uint8_t type,
			     struct rd *b, struct rx_batch *bt);
/* Makes c, whose AUTH checked, the scope's link. */
void rc_repl_replica_up(struct rc_repl *r, struct repl_conn *c);
/* Applies the batched records in one transaction (rc_wal_apply). 0 or -errno. */
int rc_repl_batch_flush(struct repl_scope *sc, struct rx_batch *bt);

#endif /* RC_REPL_IMPL_H */
