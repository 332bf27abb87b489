/* SPDX-License-Identifier: MIT */
/*
 * The replication link: streams each WAL scope ("rooms:A", "rooms:B") from the node that
 * writes it to the peer that holds its replica, over plain TCP on the HA link (IPv4).
 * One struct rc_repl per node, one thread ("rc-repl", poll()), one connection per scope,
 * opened by the scope's writer to the peer's listener.
 *
 * Frames (every integer big-endian). The handshake's three frames (HELLO, CHALLENGE, AUTH)
 * are plain:
 *
 *   off len field
 *     0   4 length L of what follows (type and body), 1..RC_REPL_FRAME_MAX
 *     4   1 type (enum rc_repl_type)
 *     5 L-1 body
 *
 * every later frame, in both directions, is sealed (ChaCha20-Poly1305, OpenSSL EVP):
 *
 *     0   4 length L of what follows (type, counter, body, tag), 25..RC_REPL_FRAME_MAX
 *     4   1 type
 *     5   8 counter: 0 for the first sealed frame of the direction, then +1 per frame
 *    13 L-25 body, encrypted
 *   L-12 16 tag over bytes 0..12 (AAD) and the body; nonce = 4 zero bytes | counter
 *
 * Keys: one per direction and connection, HKDF-SHA256(the shared key, salt = nonce_w |
 * nonce_r, info = "rcrp2 stream w2r" (or "r2w") | lp(writer id) | lp(replica id) |
 * lp(scope)), derived by each side once AUTH's MAC is checked (the replica) or sent (the
 * writer). The receiver checks the tag before it reads anything of the frame (-> bad_mac),
 * then the counter: one it has seen (-> replayed: a replay or reordering) or one beyond the
 * next (-> gap: a frame taken out) is refused. Each refusal is counted by reason and closes
 * the connection; the writer reconnects (new nonces, new keys, counters from 0). So
 * nothing on the link can be injected, altered, replayed, reordered, dropped unnoticed or
 * carried over from another connection: records, TRUNCATE, RESET, DRAINED, ROOMS, AUX
 * (admin relays, session hand-overs) and the ACKs that release the peer gate alike.
 *
 * Bodies:
 *
 *   HELLO     W->R  "RCRP", u8 version, u8 key id, nonce_w[32], u8 n, writer id[n],
 *                   u8 m, scope[m]
 *   CHALLENGE R->W  nonce_r[32], u64 replica last_lsn, u64 replica writer_start,
 *                   u8 n, replica id[n], mac_r[32]
 *   AUTH      W->R  u64 writer_start, u64 first available LSN, u64 writer last_lsn,
 *                   mac_w[32]
 *   ACK       R->W  u64 the replica's last_lsn (after applying everything before it)
 *   RECORDS   W->R  u16 count (1..RC_REPL_BATCH_MAX), count times: u64 lsn, u8 kind,
 *                   u32 room_id, u64 seq, u64 ts_ms, u64 cmid, u8 user_len,
 *                   u16 body_len, user, body (a room: seq 0 or its state mark, cmid
 *                   its flags; wal_format.h)
 *   DRAINED   W->R  u64 the writer's drained LSN
 *   TRUNCATE  W->R  u64 lsn: drop every record above it; the rest is the writer's copy
 *                   (rc_wal_truncate_above, which clears the replica's writer_start)
 *   ROOMS     W->R  u16 count (1..RC_REPL_BATCH_MAX), count times: u32 room_id,
 *                   u64 created_ms, u64 last_seq, u8 name_len, u8 creator_len,
 *                   u8 flags (RC_WAL_ROOM_ARCHIVED...), [u64 deleted_lsn: iff flags
 *                   has RC_WAL_ROOM_DELETED], name, creator
 *                   (rc_wal_apply_rooms)
 *   RESET     W->R  u64 lsn: the next record is lsn + 1 (rc_wal_reset_to)
 *   AUX       W->R  1..65535 opaque bytes for the peer's control thread (not stored)
 *   PING      W->R  empty; answered with an ACK. Sent when nothing else was for dead_ms/4.
 *
 * Handshake (mutual HMAC-SHA256 challenge-response with the shared key; lp(s) is a one-byte
 * length then s):
 *   0. R accepts a connection only from the peer's address (rc_repl_set_peer_addr; else
 *      wrong_source, closed at once). At most REPL_PENDING_MAX connections may be
 *      unauthenticated at a time, each for REPL_PREAUTH_MS (1 s) at most (pending_timeouts);
 *      a new connection takes the slot of the least advanced, oldest one (pending_evicted):
 *      idle ones first, then those whose HELLO is not read yet, then those awaiting AUTH.
 *   1. W connects and sends HELLO. R checks the magic, version, that the scope is attached
 *      here with role REPLICA (else: unknown_scope, closed), the key id, and that the
 *      writer id is its configured peer (else: auth failure, closed).
 *   2. R answers CHALLENGE with mac_r = HMAC(key, "rcrp2 replica" | nonce_w | nonce_r |
 *      lp(writer id) | lp(replica id) | lp(scope) | last_lsn | its writer_start).
 *   3. W checks the replica id (its configured peer) and mac_r (constant time); else auth
 *      failure, closed. It sends AUTH with mac_w = HMAC(key, "rcrp2 writer" | nonce_w |
 *      nonce_r | lp(writer id) | lp(replica id) | lp(scope) | replica last_lsn |
 *      replica writer_start | writer_start | first | writer last_lsn).
 *   4. R checks mac_w (else auth failure, closed; nothing of the stream is applied before),
 *      replaces a connection of the scope it may still have, and answers ACK: the link is
 *      up on both sides (an RC_REPL_EV_CONNECTED event on each).
 * Then W decides where the replica continues (R only executes):
 *   - replica last_lsn >= writer_start, and the replica's own writer_start is not 0 (it
 *     wrote records itself since its last truncation): it has records this writer never
 *     had: TRUNCATE to writer_start - 1. (Also to the writer's last_lsn when the replica
 *     is ahead of it: cannot happen while writer_start is right, kept as a guard.) A
 *     replica whose writer_start is not 0 gets a TRUNCATE (to its own last_lsn when
 *     nothing goes) in any case: it clears that writer_start, so that records streamed
 *     from this writer are not taken for its own on the next connection.
 *   - W streams from next = (the replica's last_lsn after that) + 1. When its log no longer
 *     holds `next` (trimmed after the drain, or a drained room's entry), it sends ROOMS
 *     (every room with its last seq) and then RESET to (the first LSN it holds above
 *     next) - 1, and streams from there. Rooms go first so that a RESET applied means the
 *     rooms are there; a link lost between the two repeats both.
 *   - RECORDS frames carry up to RC_REPL_BATCH_MAX records; R applies the records of the
 *     RECORDS frames it has read in one synced transaction (rc_wal_apply), then ACKs its
 *     last_lsn. W reports min(ack, the highest LSN the replica can hold from this writer)
 *     with rc_wal_peer_acked() (an ACK from before the TRUNCATE is not taken for ours).
 *   - DRAINED is sent when the writer's drained LSN moves (never above what was sent);
 *     R calls rc_wal_set_drained() so that it trims too.
 * Anything unexpected (a frame of the wrong direction or state, a bad length, an LSN that
 * does not follow, a failed apply) counts a protocol error on the scope (or in the node's
 * counters when the scope is not known yet), closes the connection, and the writer
 * reconnects after its back-off. A link silent for dead_ms is closed (timeouts).
 *
 * The replica validates what it applies (repl_replica.c): a record's kind, lengths (user
 * 1..RC_MAX_USER, body per kind), UTF-8 user, room name and body, seq in 1..2^63-1, a room
 * id inside the scope's range (rc_repl_set_room_range); else records_invalid, closed.
 *
 * Limits: an on-path attacker can still delay or cut the link (the writer then holds its
 * acknowledgements with durability "peer-required", or acknowledges alone with "peer",
 * counted: control/ha/HA.md). writer_start tells only which records the CURRENT writer did not write: after
 * two failovers in a row with a peer down each time (each node acknowledged records alone
 * while the gate was off), records of the same LSN can differ and stay so.
 *
 * Threads: rc_repl_create/attach/set_peer_addr/start/stop/destroy from one thread (the
 * control thread), attach and set_peer_addr before start. rc_repl_set_role,
 * rc_repl_send_aux (multi-producer), rc_repl_poll_aux and rc_repl_poll_events (one
 * consumer each), rc_repl_get_status and rc_repl_get_stats are safe from any thread but a
 * worker lcore while the thread runs. The rc-repl thread calls rc_wal_apply & co. on
 * replica scopes and rc_wal_log_read, rc_wal_peer_acked & co. on writer scopes, and
 * registers its eventfd with rc_wal_set_notify_fd(): the attached WALs must outlive the
 * rc_repl (destroy it first). Needs an initialised EAL (rings). Nothing here logs.
 */
#ifndef RC_REPL_H
#define RC_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rc_wal;

#define RC_REPL_MAGIC "RCRP"
#define RC_REPL_VERSION 3 /* 2: frames after the handshake are sealed (see above); 3: ROOMS
			   * frames carry each room's flags (and a tombstone's deleted_lsn) */
#define RC_REPL_FRAME_MAX (1u << 20) /* bytes after the length field */
#define RC_REPL_BATCH_MAX 1024u      /* records or rooms per frame */
#define RC_REPL_NONCE_LEN 32
#define RC_REPL_MAC_LEN 32
#define RC_REPL_KEY_MIN 16
#define RC_REPL_KEY_MAX 64
#define RC_REPL_ID_MAX 63    /* node id and scope name bytes */
#define RC_REPL_SCOPES_MAX 8

enum rc_repl_type {
	RC_REPL_T_HELLO = 1,
	RC_REPL_T_CHALLENGE,
	RC_REPL_T_AUTH,
	RC_REPL_T_ACK,
	RC_REPL_T_RECORDS,
	RC_REPL_T_DRAINED,
	RC_REPL_T_TRUNCATE,
	RC_REPL_T_ROOMS,
	RC_REPL_T_RESET,
	RC_REPL_T_AUX,
	RC_REPL_T_PING,
	RC_REPL_T_MAX,
};

enum rc_repl_role {
	RC_REPL_OFF = 0, /* neither streams nor accepts */
	RC_REPL_WRITER,  /* streams this scope to the peer */
	RC_REPL_REPLICA, /* accepts the peer's stream of this scope */
	RC_REPL_ROLE_MAX,
};

/* "off", "writer", "replica"; NULL if out of range. */
const char *rc_repl_role_name(enum rc_repl_role role);

struct rc_repl_key {
	uint8_t id; /* 1..255 */
	size_t len; /* RC_REPL_KEY_MIN..RC_REPL_KEY_MAX */
	uint8_t key[RC_REPL_KEY_MAX];
};

#define RC_REPL_KEYS_MAX 4 /* keys accepted at once (a rotation needs two) */

struct rc_repl_conf {
	const char *node_id;     /* ours, 1..RC_REPL_ID_MAX bytes */
	const char *peer_id;     /* the peer's */
	const char *listen_addr; /* "A.B.C.D:PORT" (port 0: any, see rc_repl_listen_port) */
	const char *peer_addr;   /* "A.B.C.D:PORT" of the peer's listener; NULL: set later */
	struct rc_repl_key key;
	uint32_t reconnect_min_ms; /* 0: 100; doubles per failed attempt up to ... */
	uint32_t reconnect_max_ms; /* 0: 2000 */
	uint32_t dead_ms;          /* 0: 3000; a link silent this long is closed */
	unsigned aux_ring;         /* aux messages queued per direction (0: 1024), power of 2 */
};

struct rc_repl_status {
	enum rc_repl_role role;
	bool connected;          /* handshake done, link up */
	uint64_t sent_lsn;       /* writer: the highest LSN sent on this link */
	uint64_t acked_lsn;      /* writer: the replica's last ack (as taken, see above) */
	uint64_t applied_lsn;    /* replica: our last_lsn after the last apply */
	uint64_t lag;            /* writer: last_lsn - acked_lsn (records) */
	uint64_t bytes_tx;
	uint64_t bytes_rx;
	uint64_t records_tx;
	uint64_t records_rx;     /* applied */
	uint64_t connects;       /* handshakes completed */
	uint64_t reconnects;     /* connection attempts after the first (writer) */
	uint64_t auth_failures;
	uint64_t protocol_errors;
	uint64_t timeouts;       /* handshake or link silent too long */
	uint64_t truncations;    /* TRUNCATE sent (writer) or applied (replica) */
	uint64_t resets;         /* RESET sent or applied */
	uint64_t aux_tx;
	uint64_t aux_rx;
	uint64_t aux_dropped;    /* not connected, ring full, or lost with the link */
	/* sealed frames refused, each closing the connection: */
	uint64_t frames_bad_mac;  /* tag wrong: forged, altered, or not from this connection */
	uint64_t frames_replayed; /* genuine but a counter already seen (replay, reordering) */
	uint64_t frames_gap;      /* genuine but a counter skipped (a frame taken out) */
	uint64_t records_invalid; /* replica: a record or room that fails validation */
};

/* Node-wide counters: connections refused before their scope was known. */
struct rc_repl_stats {
	uint64_t accepted;       /* connections accepted by the listener */
	uint64_t rejected;       /* closed before their HELLO was valid (garbage, timeouts) */
	uint64_t unknown_scope;  /* HELLO for a scope not attached here as REPLICA */
	uint64_t events_dropped; /* connection events lost: nobody polled */
	uint64_t wrong_source;     /* connections from another address than the peer's */
	uint64_t pending_evicted;  /* unauthenticated connections closed for a newer one */
	uint64_t pending_timeouts; /* unauthenticated connections closed after 1 s */
};

enum rc_repl_event_type {
	RC_REPL_EV_CONNECTED = 0, /* a handshake completed: resend session snapshots */
	RC_REPL_EV_DISCONNECTED,
	RC_REPL_EV_MAX,
};

struct rc_repl_event {
	enum rc_repl_event_type type;
	enum rc_repl_role role; /* the scope's role on this node */
	char scope[RC_REPL_ID_MAX + 1];
};

struct rc_repl;

/* Checks conf, binds and listens. NULL with errno: EINVAL (bad conf), an errno of
 * socket/bind/listen (EADDRINUSE, ...), ENOMEM. */
struct rc_repl *rc_repl_create(const struct rc_repl_conf *conf);
/* Stops the thread, closes everything, wipes the key. */
void rc_repl_destroy(struct rc_repl *r);

/* Replace the keys: keys[0] signs new handshakes (as writer), every one of the n (1..
 * RC_REPL_KEYS_MAX, ids distinct) is accepted in a HELLO (as replica). Links already up keep
 * their connection keys. 0 or -EINVAL. Any thread. */
int rc_repl_set_keys(struct rc_repl *r, const struct rc_repl_key *keys, unsigned n);

/* The listener's port (host order). */
uint16_t rc_repl_listen_port(const struct rc_repl *r);

/* Before start: where the peer listens. 0, -EINVAL, -EBUSY (running). */
int rc_repl_set_peer_addr(struct rc_repl *r, const char *peer_addr);

/* Before start: replicate scope (1..RC_REPL_ID_MAX bytes) with wal in role. A WRITER role
 * calls rc_wal_become_writer(wal) (this node writes from its last LSN on). 0, -EINVAL,
 * -EEXIST (scope attached), -ENOSPC (RC_REPL_SCOPES_MAX), -EBUSY (running), -errno. */
int rc_repl_attach(struct rc_repl *r, const char *scope, struct rc_wal *wal,
		   enum rc_repl_role role);

/* Before start: the room ids (lo..hi) a replica of scope accepts in records and rooms;
 * hi 0 (the default): any but 0. 0, -EINVAL, -ENOENT, -EBUSY (running). */
int rc_repl_set_room_range(struct rc_repl *r, const char *scope, uint32_t lo, uint32_t hi);

int rc_repl_start(struct rc_repl *r); /* 0, -EALREADY, -errno */
void rc_repl_stop(struct rc_repl *r);

/* Changes a scope's role; the thread applies it at once but asynchronously: it closes the
 * scope's link, and on becoming WRITER calls rc_wal_become_writer() before connecting.
 * 0, -ENOENT (no such scope), -EINVAL. */
int rc_repl_set_role(struct rc_repl *r, const char *scope, enum rc_repl_role role);

/* Queues len (1..65535) bytes for the peer's control thread on scope's link, sent in
 * order after what is queued before. Not stored: dropped (counted) when the link is not
 * up (-ENOTCONN), the queue is full (-ENOBUFS), or the link goes down before it is sent.
 * 0, -ENOENT, -EINVAL, -ENOMEM. Any thread. */
int rc_repl_send_aux(struct rc_repl *r, const char *scope, const void *buf, uint16_t len);

/* The replica side: calls cb for each aux message received, in order. Returns how many.
 * One consumer. */
int rc_repl_poll_aux(struct rc_repl *r,
		     void (*cb)(void *arg, const char *scope, const void *buf, uint16_t len),
		     void *arg);

/* Connection events since the last call, oldest first, at most max. One consumer. */
unsigned rc_repl_poll_events(struct rc_repl *r, struct rc_repl_event *ev, unsigned max);

/* 0 or -ENOENT. Any thread. */
int rc_repl_get_status(struct rc_repl *r, const char *scope, struct rc_repl_status *st);
void rc_repl_get_stats(struct rc_repl *r, struct rc_repl_stats *st);

#endif /* RC_REPL_H */
