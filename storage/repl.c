/* SPDX-License-Identifier: MIT */
/*
 * The replication link (repl.h): the rc-repl thread, its listener, one connection per
 * scope, the handshake, streaming and applying.
 *
 *   writer side   scope WRITER: connect (back-off) -> HELLO -> CHALLENGE checked -> AUTH
 *                 -> first ACK: up; then TRUNCATE / ROOMS+RESET as needed, RECORDS,
 *                 DRAINED, AUX, PING; ACKs become rc_wal_peer_acked().
 *   replica side  listener: accept -> HELLO (identifies the scope) -> CHALLENGE -> AUTH
 *                 checked -> ACK: up (replaces the scope's older link); then frames are
 *                 executed on the replica's rc_wal.
 *
 * Threads: the rc-repl thread owns the sockets, the connections and the scopes' stream
 * state. Other threads touch only atomics (want_role, counters), the aux rings (MP/SC
 * towards the thread, SP/SC from it), the eventfd that wakes the thread, and the event
 * queue (a mutex).
 */
#include "repl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "wal.h"
#include "wal_format.h"

#define REPL_HANDSHAKE_MS 2000u
#define REPL_POLL_MAX_MS 50
#define REPL_PENDING_MAX 8          /* accepted connections not yet identified */
#define REPL_TX_HIGH (512u << 10)   /* stop building frames above this much queued */
#define REPL_RECS_BYTES (256u << 10) /* a RECORDS frame's body, about */
#define REPL_HDR 5                  /* length + type */
#define REPL_REC_FIXED 40           /* a record's bytes besides user and body */
#define REPL_ROOM_FIXED 22
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
	uint64_t last_rx_ms;
	uint64_t last_tx_ms;
	uint64_t opened_ms;
};

struct repl_ctr {
	_Atomic uint64_t sent_lsn, acked_lsn, applied_lsn;
	_Atomic uint64_t bytes_tx, bytes_rx, records_tx, records_rx;
	_Atomic uint64_t connects, reconnects, auth_failures, protocol_errors, timeouts;
	_Atomic uint64_t truncations, resets, aux_tx, aux_rx, aux_dropped;
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
	struct repl_ctr c;
};

struct rc_repl {
	char node_id[RC_REPL_ID_MAX + 1];
	char peer_id[RC_REPL_ID_MAX + 1];
	struct sockaddr_in peer;
	bool peer_set;
	struct rc_repl_key key;
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
	} st;
};

static atomic_uint repl_instances;

static const char *const role_names[RC_REPL_ROLE_MAX] = {
	[RC_REPL_OFF] = "off",
	[RC_REPL_WRITER] = "writer",
	[RC_REPL_REPLICA] = "replica",
};

const char *
rc_repl_role_name(enum rc_repl_role role)
{
	return (unsigned)role < RC_REPL_ROLE_MAX ? role_names[role] : NULL;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ms from then to now; 0 when then was sampled after now. */
static uint64_t
since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

static void
cnt(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
rd(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void
set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static void
wake(struct rc_repl *r)
{
	uint64_t one = 1;

	if (write(r->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the thread wakes anyway */
	}
}

/* ---- encoding and parsing ---- */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* A bounded reader of a frame's body: any read past the end sets bad. */
struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *
rd_take(struct rd *b, size_t n)
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

static uint8_t
rd8(struct rd *b)
{
	const uint8_t *p = rd_take(b, 1);

	return p != NULL ? p[0] : 0;
}

static uint16_t
rd16(struct rd *b)
{
	const uint8_t *p = rd_take(b, 2);

	return p != NULL ? get16(p) : 0;
}

static uint32_t
rd32(struct rd *b)
{
	const uint8_t *p = rd_take(b, 4);

	return p != NULL ? rc_wal_get_be32(p) : 0;
}

static uint64_t
rd64(struct rd *b)
{
	const uint8_t *p = rd_take(b, 8);

	return p != NULL ? rc_wal_get_be64(p) : 0;
}

/* A one-byte length then 1..RC_REPL_ID_MAX bytes of a name, copied NUL-terminated. */
static void
rd_name(struct rd *b, char out[RC_REPL_ID_MAX + 1])
{
	uint8_t n = rd8(b);
	const uint8_t *p = rd_take(b, n);

	out[0] = '\0';
	if (p == NULL || n == 0 || n > RC_REPL_ID_MAX || memchr(p, '\0', n) != NULL) {
		b->bad = true;
		return;
	}
	memcpy(out, p, n);
	out[n] = '\0';
}

/* The connection's transmit buffer: frames are appended, then written as the socket
 * takes them. */
static int
tx_reserve(struct repl_conn *c, size_t n)
{
	if (c->tx_off > 0 && c->tx_off == c->tx_len)
		c->tx_off = c->tx_len = 0;
	if (c->tx_len + n <= c->tx_cap)
		return 0;
	if (c->tx_off > 0) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
		if (c->tx_len + n <= c->tx_cap)
			return 0;
	}
	size_t cap = RTE_MAX(c->tx_cap * 2, c->tx_len + n + 4096);
	uint8_t *p = realloc(c->tx, cap);

	if (p == NULL)
		return -ENOMEM;
	c->tx = p;
	c->tx_cap = cap;
	return 0;
}

/* Starts a frame of type; returns its offset in tx (for frame_end), or -errno. */
static long
frame_begin(struct repl_conn *c, uint8_t type, size_t body_hint)
{
	long off;

	if (tx_reserve(c, REPL_HDR + body_hint) != 0)
		return -ENOMEM;
	off = (long)c->tx_len;
	c->tx[c->tx_len + 4] = type;
	c->tx_len += REPL_HDR;
	return off;
}

static int
frame_put(struct repl_conn *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (tx_reserve(c, n) != 0)
		return -ENOMEM;
	memcpy(c->tx + c->tx_len, p, n);
	c->tx_len += n;
	return 0;
}

static int
frame_put8(struct repl_conn *c, uint8_t v)
{
	return frame_put(c, &v, 1);
}

static int
frame_put64(struct repl_conn *c, uint64_t v)
{
	uint8_t b[8];

	rc_wal_put_be64(b, v);
	return frame_put(c, b, sizeof(b));
}

static int
frame_put_name(struct repl_conn *c, const char *s)
{
	size_t n = strlen(s);
	int rc = frame_put8(c, (uint8_t)n);

	return rc == 0 ? frame_put(c, s, n) : rc;
}

/* Writes the frame's length; tx may have moved, so off is an offset. */
static void
frame_end(struct repl_conn *c, long off)
{
	rc_wal_put_be32(c->tx + off, (uint32_t)(c->tx_len - (size_t)off - 4));
}

/* A frame with a u64 body (ACK, DRAINED, TRUNCATE, RESET). */
static int
frame_u64(struct repl_conn *c, uint8_t type, uint64_t v)
{
	long off = frame_begin(c, type, 8);

	if (off < 0 || frame_put64(c, v) != 0)
		return -ENOMEM;
	frame_end(c, off);
	return 0;
}

/* ---- HMAC ---- */

static EVP_MAC *repl_hmac;
static pthread_once_t repl_hmac_once = PTHREAD_ONCE_INIT;

static void
repl_hmac_fetch(void)
{
	repl_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static void
mac_lp(EVP_MAC_CTX *ctx, const char *s, int *ok)
{
	uint8_t n = (uint8_t)strlen(s);

	*ok = *ok && EVP_MAC_update(ctx, &n, 1) && EVP_MAC_update(ctx, (const uint8_t *)s, n);
}

/* mac = HMAC-SHA256(key, label | nonce_w | nonce_r | lp(writer) | lp(replica) |
 * lp(scope) | u64s[0..n)). 0 or -EIO. */
static int
repl_mac(const struct rc_repl_key *k, const char *label, const struct repl_conn *c,
	 const char *writer, const char *replica, const char *scope, const uint64_t *u64s,
	 unsigned n, uint8_t mac[RC_REPL_MAC_LEN])
{
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
								 "SHA256", 0),
				OSSL_PARAM_construct_end() };
	size_t mac_len = 0;
	EVP_MAC_CTX *ctx;
	int ok;

	pthread_once(&repl_hmac_once, repl_hmac_fetch);
	if (repl_hmac == NULL || (ctx = EVP_MAC_CTX_new(repl_hmac)) == NULL)
		return -EIO;
	ok = EVP_MAC_init(ctx, k->key, k->len, params) &&
	     EVP_MAC_update(ctx, (const uint8_t *)label, strlen(label)) &&
	     EVP_MAC_update(ctx, c->nonce_w, RC_REPL_NONCE_LEN) &&
	     EVP_MAC_update(ctx, c->nonce_r, RC_REPL_NONCE_LEN);
	mac_lp(ctx, writer, &ok);
	mac_lp(ctx, replica, &ok);
	mac_lp(ctx, scope, &ok);
	for (unsigned i = 0; i < n && ok; i++) {
		uint8_t b[8];

		rc_wal_put_be64(b, u64s[i]);
		ok = EVP_MAC_update(ctx, b, sizeof(b));
	}
	ok = ok && EVP_MAC_final(ctx, mac, &mac_len, RC_REPL_MAC_LEN) &&
	     mac_len == RC_REPL_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* ---- events ---- */

static void
event_push(struct rc_repl *r, struct repl_scope *sc, enum rc_repl_event_type type)
{
	pthread_mutex_lock(&r->ev_lock);
	if (r->ev_count == REPL_EVENTS) {
		cnt(&r->st.events_dropped, 1);
	} else {
		struct rc_repl_event *e = &r->ev[(r->ev_head + r->ev_count++) % REPL_EVENTS];

		*e = (struct rc_repl_event){ .type = type, .role = sc->role };
		snprintf(e->scope, sizeof(e->scope), "%s", sc->name);
	}
	pthread_mutex_unlock(&r->ev_lock);
}

unsigned
rc_repl_poll_events(struct rc_repl *r, struct rc_repl_event *ev, unsigned max)
{
	unsigned n = 0;

	pthread_mutex_lock(&r->ev_lock);
	while (n < max && r->ev_count > 0) {
		ev[n++] = r->ev[r->ev_head];
		r->ev_head = (r->ev_head + 1) % REPL_EVENTS;
		r->ev_count--;
	}
	pthread_mutex_unlock(&r->ev_lock);
	return n;
}

/* ---- connections ---- */

static struct repl_conn *
conn_new(int fd, enum conn_state st)
{
	struct repl_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->rx = malloc(4 + RC_REPL_FRAME_MAX);
	if (c->rx == NULL) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->st = st;
	c->opened_ms = c->last_rx_ms = c->last_tx_ms = now_ms();
	return c;
}

static void
conn_free(struct repl_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->rx);
	free(c->tx);
	free(c);
}

static void
aux_drop_all(struct repl_scope *sc)
{
	void *p;

	while (rte_ring_dequeue(sc->aux_tx, &p) == 0) {
		free(p);
		cnt(&sc->c.aux_dropped, 1);
	}
}

/* Closes the scope's link; the writer reconnects after its back-off. */
static void
scope_close(struct rc_repl *r, struct repl_scope *sc)
{
	struct repl_conn *c = sc->conn;
	uint64_t now = now_ms();

	if (c == NULL)
		return;
	if (c->st == CS_UP)
		event_push(r, sc, RC_REPL_EV_DISCONNECTED);
	atomic_store(&sc->up, false);
	conn_free(c);
	sc->conn = NULL;
	aux_drop_all(sc);
	if (sc->role == RC_REPL_WRITER) {
		sc->connect_at_ms = now + sc->backoff_ms;
		sc->backoff_ms = RTE_MIN(sc->backoff_ms * 2, r->backoff_max);
	}
}

/* Writes what tx holds; 0, or -errno when the link is broken. */
static int
conn_flush(struct repl_conn *c, struct repl_scope *sc)
{
	while (c->tx_off < c->tx_len) {
		ssize_t n = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		c->tx_off += (size_t)n;
		c->last_tx_ms = now_ms();
		if (sc != NULL)
			cnt(&sc->c.bytes_tx, (uint64_t)n);
	}
	c->tx_off = c->tx_len = 0;
	return 0;
}

/* ---- the writer side ---- */

static int
writer_send_hello(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c)
{
	long off;

	if (getrandom(c->nonce_w, sizeof(c->nonce_w), 0) != sizeof(c->nonce_w))
		return -EIO;
	off = frame_begin(c, RC_REPL_T_HELLO, 128);
	if (off < 0 || frame_put(c, RC_REPL_MAGIC, 4) != 0 ||
	    frame_put8(c, RC_REPL_VERSION) != 0 || frame_put8(c, r->key.id) != 0 ||
	    frame_put(c, c->nonce_w, sizeof(c->nonce_w)) != 0 ||
	    frame_put_name(c, r->node_id) != 0 || frame_put_name(c, sc->name) != 0)
		return -ENOMEM;
	frame_end(c, off);
	c->st = CS_WAIT_CHALLENGE;
	return 0;
}

static void
writer_connect(struct rc_repl *r, struct repl_scope *sc, uint64_t now)
{
	int fd, one = 1;

	if (!r->peer_set || now < sc->connect_at_ms)
		return;
	if (sc->tried)
		cnt(&sc->c.reconnects, 1);
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
	sc->conn = conn_new(fd, CS_CONNECTING);
	if (sc->conn == NULL)
		close(fd);
	else
		sc->conn->sc = sc;
}

/* connect() finished (POLLOUT): check it, send HELLO. */
static int
writer_connected(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c)
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
	const uint8_t *nonce = rd_take(b, RC_REPL_NONCE_LEN), *peer_mac;
	uint64_t rv[2], first, wlast, ws, u[5];
	long off;

	rv[0] = rd64(b); /* the replica's last_lsn */
	rv[1] = rd64(b); /* its own writer start */

	rd_name(b, replica);
	peer_mac = rd_take(b, RC_REPL_MAC_LEN);
	if (b->bad || b->left != 0)
		return -EPROTO;
	memcpy(c->nonce_r, nonce, RC_REPL_NONCE_LEN);
	if (strcmp(replica, r->peer_id) != 0 ||
	    repl_mac(&r->key, "rcrp1 replica", c, r->node_id, replica, sc->name, rv, 2,
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
	if (repl_mac(&r->key, "rcrp1 writer", c, r->node_id, replica, sc->name, u, 5, mac) != 0)
		return -EIO;
	off = frame_begin(c, RC_REPL_T_AUTH, 24 + RC_REPL_MAC_LEN);
	if (off < 0 || frame_put64(c, ws) != 0 || frame_put64(c, first) != 0 ||
	    frame_put64(c, wlast) != 0 || frame_put(c, mac, sizeof(mac)) != 0)
		return -ENOMEM;
	frame_end(c, off);
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
		if (frame_u64(c, RC_REPL_T_TRUNCATE, to) != 0)
			return -ENOMEM;
		cnt(&sc->c.truncations, to < last);
	}
	sc->next_lsn = to + 1;
	sc->ack_cap = to;
	sc->drained_sent = 0;
	set(&sc->c.sent_lsn, to);
	c->st = CS_UP;
	sc->backoff_ms = r->backoff_min;
	cnt(&sc->c.connects, 1);
	atomic_store(&sc->up, true);
	event_push(r, sc, RC_REPL_EV_CONNECTED);
	return 0;
}

static int
writer_on_ack(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c, struct rd *b)
{
	uint64_t lsn = rd64(b);

	if (b->bad || b->left != 0)
		return -EPROTO;
	if (c->st == CS_WAIT_FIRST_ACK) {
		int rc = writer_up(r, sc, c);

		if (rc != 0)
			return rc;
	}
	lsn = RTE_MIN(lsn, sc->ack_cap);
	set(&sc->c.acked_lsn, lsn);
	rc_wal_peer_acked(sc->wal, lsn);
	return 0;
}

static int
writer_frame(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c, uint8_t type,
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
	rc_wal_put_be64(h, lr->lsn);
	h[8] = lr->kind;
	rc_wal_put_be32(h + 9, lr->room_id);
	rc_wal_put_be64(h + 13, lr->seq);
	rc_wal_put_be64(h + 21, lr->ts_ms);
	rc_wal_put_be64(h + 29, lr->cmid);
	h[37] = (uint8_t)lr->user.len;
	put16(h + 38, lr->body.len);
	if (frame_put(c, h, sizeof(h)) != 0 || frame_put(c, lr->user.p, lr->user.len) != 0 ||
	    frame_put(c, lr->body.p, lr->body.len) != 0) {
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
	if (f->off < 0)
		return 0;
	put16(f->c->tx + f->count_at, (uint16_t)f->n);
	frame_end(f->c, f->off);
	f->off = -1;
	return 0;
}

static int
room_frames_add(void *arg, const struct rc_wal_room *room)
{
	struct room_frames *f = arg;
	struct repl_conn *c = f->c;
	size_t nl = strlen(room->name), cl = strlen(room->creator);
	uint8_t h[REPL_ROOM_FIXED];

	if (f->off >= 0 && f->n == RC_REPL_BATCH_MAX)
		room_frames_close(f);
	if (f->off < 0) {
		uint8_t zero[2] = { 0, 0 };

		f->off = frame_begin(c, RC_REPL_T_ROOMS, 64 << 10);
		if (f->off < 0)
			return -ENOMEM;
		f->count_at = c->tx_len;
		f->n = 0;
		if (frame_put(c, zero, 2) != 0)
			return -ENOMEM;
	}
	rc_wal_put_be32(h, room->room_id);
	rc_wal_put_be64(h + 4, room->created_ms);
	rc_wal_put_be64(h + 12, room->last_seq);
	h[20] = (uint8_t)nl;
	h[21] = (uint8_t)cl;
	if (frame_put(c, h, sizeof(h)) != 0 || frame_put(c, room->name, nl) != 0 ||
	    frame_put(c, room->creator, cl) != 0)
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

	if (rc != 0)
		return rc < 0 ? rc : -ENOMEM;
	room_frames_close(&f);
	if (frame_u64(c, RC_REPL_T_RESET, first - 1) != 0)
		return -ENOMEM;
	cnt(&sc->c.resets, 1);
	sc->next_lsn = first;
	sc->ack_cap = first - 1;
	set(&sc->c.sent_lsn, first - 1);
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
	off = frame_begin(c, RC_REPL_T_RECORDS, 2 + REPL_RECS_BYTES / 4);
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
	put16(c->tx + count_at, (uint16_t)f.n);
	frame_end(c, off);
	sc->next_lsn = f.next;
	sc->ack_cap = f.next - 1;
	set(&sc->c.sent_lsn, f.next - 1);
	cnt(&sc->c.records_tx, f.n);
	return 1;
}

static int
writer_aux(struct repl_scope *sc, struct repl_conn *c)
{
	struct repl_aux *a[REPL_AUX_BURST];
	unsigned n = rte_ring_dequeue_burst(sc->aux_tx, (void **)a, REPL_AUX_BURST, NULL);
	int rc = 0;

	for (unsigned i = 0; i < n; i++) {
		long off = rc == 0 ? frame_begin(c, RC_REPL_T_AUX, a[i]->len) : -1;

		if (off >= 0 && frame_put(c, a[i]->data, a[i]->len) == 0) {
			frame_end(c, off);
			cnt(&sc->c.aux_tx, 1);
		} else {
			rc = -ENOMEM;
			cnt(&sc->c.aux_dropped, 1);
		}
		free(a[i]);
	}
	return rc;
}

/* Fills the link: aux messages, the drained marker, records, a keepalive. */
static int
writer_pump(struct rc_repl *r, struct repl_scope *sc, struct repl_conn *c, uint64_t now)
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
	if (drained > sc->drained_sent && frame_u64(c, RC_REPL_T_DRAINED, drained) == 0)
		sc->drained_sent = drained;
	if (c->tx_len == c->tx_off && since(now, c->last_tx_ms) >= r->dead_ms / 4) {
		long off = frame_begin(c, RC_REPL_T_PING, 0);

		if (off < 0)
			return -ENOMEM;
		frame_end(c, off);
	}
	return 0;
}

/* ---- the replica side ---- */

static struct repl_scope *
scope_find(struct rc_repl *r, const char *name)
{
	for (unsigned i = 0; i < r->nsc; i++)
		if (strcmp(r->sc[i].name, name) == 0)
			return &r->sc[i];
	return NULL;
}

/* HELLO on an accepted connection: identify the scope, answer CHALLENGE. */
static int
replica_on_hello(struct rc_repl *r, struct repl_conn *c, struct rd *b)
{
	char writer[RC_REPL_ID_MAX + 1], scope[RC_REPL_ID_MAX + 1];
	const uint8_t *magic = rd_take(b, 4), *nonce;
	uint8_t version = rd8(b), key_id = rd8(b), mac[RC_REPL_MAC_LEN];
	struct repl_scope *sc;
	uint64_t v[2];
	long off;

	nonce = rd_take(b, RC_REPL_NONCE_LEN);
	rd_name(b, writer);
	rd_name(b, scope);
	if (b->bad || b->left != 0 || memcmp(magic, RC_REPL_MAGIC, 4) != 0 ||
	    version != RC_REPL_VERSION)
		return -EPROTO;
	sc = scope_find(r, scope);
	if (sc == NULL || sc->role != RC_REPL_REPLICA) {
		cnt(&r->st.unknown_scope, 1);
		return -ENOENT;
	}
	c->sc = sc;
	if (key_id != r->key.id || strcmp(writer, r->peer_id) != 0)
		return -EACCES;
	memcpy(c->nonce_w, nonce, RC_REPL_NONCE_LEN);
	if (getrandom(c->nonce_r, sizeof(c->nonce_r), 0) != sizeof(c->nonce_r))
		return -EIO;
	v[0] = rc_wal_last_lsn(sc->wal);
	v[1] = rc_wal_writer_start(sc->wal);
	if (repl_mac(&r->key, "rcrp1 replica", c, writer, r->node_id, sc->name, v, 2, mac) != 0)
		return -EIO;
	off = frame_begin(c, RC_REPL_T_CHALLENGE, 128);
	if (off < 0 || frame_put(c, c->nonce_r, RC_REPL_NONCE_LEN) != 0 ||
	    frame_put64(c, v[0]) != 0 || frame_put64(c, v[1]) != 0 ||
	    frame_put_name(c, r->node_id) != 0 || frame_put(c, mac, sizeof(mac)) != 0)
		return -ENOMEM;
	frame_end(c, off);
	c->peer_last = v[0];
	c->peer_ws = v[1];
	c->st = CS_WAIT_AUTH;
	return 0;
}

static int
replica_on_auth(struct rc_repl *r, struct repl_conn *c, struct rd *b)
{
	struct repl_scope *sc = c->sc;
	uint64_t u[5] = { c->peer_last, c->peer_ws };
	uint8_t mac[RC_REPL_MAC_LEN];
	const uint8_t *peer_mac;

	u[2] = rd64(b);
	u[3] = rd64(b);
	u[4] = rd64(b);
	peer_mac = rd_take(b, RC_REPL_MAC_LEN);
	if (b->bad || b->left != 0)
		return -EPROTO;
	if (repl_mac(&r->key, "rcrp1 writer", c, r->peer_id, r->node_id, sc->name, u, 5,
		     mac) != 0 ||
	    CRYPTO_memcmp(mac, peer_mac, sizeof(mac)) != 0)
		return -EACCES;
	return frame_u64(c, RC_REPL_T_ACK, rc_wal_last_lsn(sc->wal));
}

/* Records read from RECORDS frames, applied together (strings point into rx). */
struct rx_batch {
	struct rc_wal_logrec *v;
	unsigned n, cap;
	bool dirty; /* something was applied: ACK */
};

static int
batch_flush(struct repl_scope *sc, struct rx_batch *bt)
{
	int rc;

	if (bt->n == 0)
		return 0;
	rc = rc_wal_apply(sc->wal, bt->v, bt->n);
	if (rc == 0) {
		cnt(&sc->c.records_rx, bt->n);
		bt->dirty = true;
	}
	bt->n = 0;
	return rc;
}

static int
replica_on_records(struct repl_scope *sc, struct rx_batch *bt, struct rd *b)
{
	uint16_t n = rd16(b);

	if (n == 0 || n > RC_REPL_BATCH_MAX)
		return -EPROTO;
	if (bt->n + n > bt->cap) {
		int rc = batch_flush(sc, bt);

		if (rc != 0)
			return rc;
	}
	for (unsigned i = 0; i < n; i++) {
		struct rc_wal_logrec *lr = &bt->v[bt->n];
		uint8_t ul;
		uint16_t bl;

		*lr = (struct rc_wal_logrec){ .lsn = rd64(b), .kind = rd8(b), .room_id = rd32(b),
					      .seq = rd64(b), .ts_ms = rd64(b), .cmid = rd64(b) };
		ul = rd8(b);
		bl = rd16(b);
		lr->user = (struct rc_str){ .p = (const char *)rd_take(b, ul), .len = ul };
		lr->body = (struct rc_str){ .p = (const char *)rd_take(b, bl), .len = bl };
		if (b->bad)
			return -EPROTO;
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
replica_rooms_decode(struct rd *b, unsigned n, struct rc_wal_room *rooms, struct rx_room *s)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t nl, cl;
		const uint8_t *np, *cp;

		rooms[i] = (struct rc_wal_room){ .room_id = rd32(b), .created_ms = rd64(b),
						 .last_seq = rd64(b) };
		nl = rd8(b);
		cl = rd8(b);
		np = rd_take(b, nl);
		cp = rd_take(b, cl);
		if (b->bad || memchr(np, '\0', nl) != NULL || memchr(cp, '\0', cl) != NULL)
			return -EPROTO;
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
	uint16_t n = rd16(b);
	struct rc_wal_room *rooms;
	struct rx_room *s;
	int rc;

	if (n == 0 || n > RC_REPL_BATCH_MAX)
		return -EPROTO;
	rooms = calloc(n, sizeof(*rooms));
	s = calloc(n, sizeof(*s));
	rc = rooms == NULL || s == NULL ? -ENOMEM : replica_rooms_decode(b, n, rooms, s);
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
		cnt(&sc->c.aux_dropped, 1);
		return 0;
	}
	a->scope = sc->idx;
	a->len = (uint16_t)b->left;
	memcpy(a->data, rd_take(b, b->left), a->len);
	if (rte_ring_enqueue(r->aux_rx, a) != 0) {
		free(a);
		cnt(&sc->c.aux_dropped, 1);
		return 0;
	}
	cnt(&sc->c.aux_rx, 1);
	return 0;
}

/* A frame on an up replica link. Records are batched; everything else flushes first. */
static int
replica_frame_up(struct rc_repl *r, struct repl_scope *sc, uint8_t type, struct rd *b,
		 struct rx_batch *bt)
{
	uint64_t v;
	int rc;

	if (type == RC_REPL_T_RECORDS)
		return replica_on_records(sc, bt, b);
	rc = batch_flush(sc, bt);
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
	v = rd64(b);
	if (b->bad || b->left != 0)
		return -EPROTO;
	switch (type) {
	case RC_REPL_T_DRAINED:
		rc_wal_set_drained(sc->wal, v);
		return 0;
	case RC_REPL_T_TRUNCATE: {
		uint64_t before = rc_wal_last_lsn(sc->wal);

		rc = rc_wal_truncate_above(sc->wal, v);
		cnt(&sc->c.truncations, rc == 0 && v < before);
		break;
	}
	case RC_REPL_T_RESET:
		rc = rc_wal_reset_to(sc->wal, v);
		cnt(&sc->c.resets, rc == 0);
		break;
	default:
		return -EPROTO;
	}
	bt->dirty = true;
	return rc;
}

/* Makes c, whose AUTH checked, the scope's link. */
static void
replica_up(struct rc_repl *r, struct repl_conn *c)
{
	struct repl_scope *sc = c->sc;

	for (unsigned i = 0; i < REPL_PENDING_MAX; i++)
		if (r->pending[i] == c)
			r->pending[i] = NULL;
	scope_close(r, sc);
	sc->conn = c;
	c->st = CS_UP;
	cnt(&sc->c.connects, 1);
	atomic_store(&sc->up, true);
	event_push(r, sc, RC_REPL_EV_CONNECTED);
}

/* ---- reading frames ---- */

/* The counter a failed frame of c goes to: its scope's, or the node's. */
static void
count_failure(struct rc_repl *r, struct repl_conn *c, int rc)
{
	struct repl_scope *sc = c->sc;

	if (sc == NULL) {
		cnt(&r->st.rejected, 1);
		return;
	}
	if (rc == -EACCES)
		cnt(&sc->c.auth_failures, 1);
	else if (rc == -ETIMEDOUT)
		cnt(&sc->c.timeouts, 1);
	else if (rc != -ENOENT && rc != -ECONNRESET)
		cnt(&sc->c.protocol_errors, 1);
}

static int
conn_frame(struct rc_repl *r, struct repl_conn *c, uint8_t type, struct rd *b,
	   struct rx_batch *bt, bool *upped)
{
	int rc;

	if (c->st != CS_WAIT_HELLO && c->sc != NULL && c->sc->role == RC_REPL_WRITER)
		return writer_frame(r, c->sc, c, type, b);
	switch (c->st) {
	case CS_WAIT_HELLO:
		return type == RC_REPL_T_HELLO ? replica_on_hello(r, c, b) : -EPROTO;
	case CS_WAIT_AUTH:
		if (type != RC_REPL_T_AUTH)
			return -EPROTO;
		rc = replica_on_auth(r, c, b);
		if (rc == 0)
			*upped = true;
		return rc;
	case CS_UP:
		return replica_frame_up(r, c->sc, type, b, bt);
	default:
		return -EPROTO;
	}
}

/* Reads what the socket has and handles every complete frame. 0, or -errno: close. */
static int
conn_read(struct rc_repl *r, struct repl_conn *c, struct rx_batch *bt)
{
	size_t off = 0;
	bool upped = false;
	ssize_t n = recv(c->fd, c->rx + c->rx_len, 4 + RC_REPL_FRAME_MAX - c->rx_len, 0);
	int rc = 0;

	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -ECONNRESET;
	c->rx_len += (size_t)n;
	c->last_rx_ms = now_ms();
	if (c->sc != NULL)
		cnt(&c->sc->c.bytes_rx, (uint64_t)n);
	bt->n = 0;
	bt->dirty = false;
	while (rc == 0 && c->rx_len - off >= 4) {
		uint32_t len = rc_wal_get_be32(c->rx + off);
		struct rd b;

		if (len == 0 || len > RC_REPL_FRAME_MAX) {
			rc = -EPROTO;
			break;
		}
		if (c->rx_len - off < 4 + (size_t)len)
			break;
		b = (struct rd){ .p = c->rx + off + REPL_HDR, .left = len - 1 };
		rc = conn_frame(r, c, c->rx[off + 4], &b, bt, &upped);
		off += 4 + len;
		if (upped) {
			replica_up(r, c);
			upped = false;
		}
	}
	if (rc == 0 && c->st == CS_UP && c->sc->role == RC_REPL_REPLICA) {
		rc = batch_flush(c->sc, bt);
		if (rc == 0 && bt->dirty) {
			set(&c->sc->c.applied_lsn, rc_wal_last_lsn(c->sc->wal));
			rc = frame_u64(c, RC_REPL_T_ACK, rc_wal_last_lsn(c->sc->wal));
		}
	}
	if (rc == -EINVAL) /* an LSN that does not follow, a malformed record */
		rc = -EPROTO;
	if (off > 0) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	return rc;
}

/* ---- the thread ---- */

static void
listener_accept(struct rc_repl *r)
{
	for (;;) {
		int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		unsigned i;

		if (fd < 0)
			return;
		cnt(&r->st.accepted, 1);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (i = 0; i < REPL_PENDING_MAX && r->pending[i] != NULL; i++)
			;
		if (i == REPL_PENDING_MAX || (r->pending[i] = conn_new(fd, CS_WAIT_HELLO)) == NULL) {
			cnt(&r->st.rejected, 1);
			close(fd);
		}
	}
}

/* Applies a role the control thread asked for. */
static void
scope_role_apply(struct rc_repl *r, struct repl_scope *sc)
{
	enum rc_repl_role want = (enum rc_repl_role)atomic_load(&sc->want_role);

	if (want == sc->role)
		return;
	scope_close(r, sc);
	if (want == RC_REPL_WRITER && rc_wal_become_writer(sc->wal) != 0)
		return; /* retried on the next pass */
	sc->role = want;
	sc->backoff_ms = r->backoff_min;
	sc->connect_at_ms = 0;
	sc->tried = false;
	set(&sc->c.acked_lsn, 0);
	set(&sc->c.sent_lsn, 0);
}

/* A failure on a pending or scope connection: count, close. */
static void
conn_fail(struct rc_repl *r, struct repl_conn *c, int rc, int pending_idx)
{
	count_failure(r, c, rc);
	if (pending_idx >= 0) {
		r->pending[pending_idx] = NULL;
		conn_free(c);
	} else {
		scope_close(r, c->sc);
	}
}

static int
conn_events(struct rc_repl *r, struct repl_conn *c, short revents, struct rx_batch *bt)
{
	int rc = 0;

	if (c->st == CS_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			rc = writer_connected(r, c->sc, c);
		return rc != 0 ? -ECONNRESET : 0;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP))
		rc = conn_read(r, c, bt);
	return rc;
}

/* Deadline checks: handshake time, silence. */
static int
conn_timer(struct rc_repl *r, struct repl_conn *c, uint64_t now)
{
	if (c->st != CS_UP && since(now, c->opened_ms) >= REPL_HANDSHAKE_MS)
		return -ETIMEDOUT;
	if (c->st == CS_UP && since(now, c->last_rx_ms) >= r->dead_ms)
		return -ETIMEDOUT;
	return 0;
}

static void
conn_service(struct rc_repl *r, struct repl_conn *c, short revents, struct rx_batch *bt,
	     int pending_idx, uint64_t now)
{
	struct repl_scope *sc;
	int rc = conn_events(r, c, revents, bt);

	if (rc == 0)
		rc = conn_timer(r, c, now);
	if (pending_idx >= 0 && r->pending[pending_idx] != c)
		pending_idx = -1; /* became its scope's link */
	sc = c->sc;
	if (rc == 0 && pending_idx < 0 && sc->role == RC_REPL_WRITER && c->st == CS_UP)
		rc = writer_pump(r, sc, c, now);
	if (rc == 0 && c->st != CS_CONNECTING)
		rc = conn_flush(c, pending_idx < 0 ? sc : NULL);
	if (rc != 0)
		conn_fail(r, c, rc, pending_idx);
}

struct poll_set {
	struct pollfd fds[2 + REPL_PENDING_MAX + RC_REPL_SCOPES_MAX];
	struct repl_conn *conn[2 + REPL_PENDING_MAX + RC_REPL_SCOPES_MAX];
	int pending[2 + REPL_PENDING_MAX + RC_REPL_SCOPES_MAX];
	unsigned n;
};

static void
poll_add(struct poll_set *ps, struct repl_conn *c, int pending_idx)
{
	short ev = POLLIN;

	if (c->st == CS_CONNECTING || c->tx_off < c->tx_len)
		ev |= POLLOUT;
	ps->fds[ps->n] = (struct pollfd){ .fd = c->fd, .events = ev };
	ps->conn[ps->n] = c;
	ps->pending[ps->n++] = pending_idx;
}

static void
repl_loop_once(struct rc_repl *r, struct rx_batch *bt)
{
	struct poll_set ps = { .n = 2 };
	uint64_t now = now_ms(), drain;

	ps.fds[0] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
	ps.fds[1] = (struct pollfd){ .fd = r->efd, .events = POLLIN };
	for (unsigned i = 0; i < r->nsc; i++) {
		struct repl_scope *sc = &r->sc[i];

		scope_role_apply(r, sc);
		if (sc->role == RC_REPL_WRITER && sc->conn == NULL)
			writer_connect(r, sc, now);
		if (sc->conn != NULL)
			poll_add(&ps, sc->conn, -1);
	}
	for (int i = 0; i < REPL_PENDING_MAX; i++)
		if (r->pending[i] != NULL)
			poll_add(&ps, r->pending[i], i);
	if (poll(ps.fds, ps.n, REPL_POLL_MAX_MS) < 0)
		return;
	if (ps.fds[1].revents & POLLIN && read(r->efd, &drain, sizeof(drain)) < 0) {
		/* nothing pending */
	}
	if (ps.fds[0].revents & POLLIN)
		listener_accept(r);
	now = now_ms();
	for (unsigned i = 2; i < ps.n; i++) {
		struct repl_conn *c = ps.conn[i];
		int pi = ps.pending[i];

		/* skip one closed or replaced meanwhile */
		if (pi >= 0 ? r->pending[pi] != c : (c->sc == NULL || c->sc->conn != c))
			continue;
		conn_service(r, c, ps.fds[i].revents, bt, pi, now);
	}
}

static void *
repl_main(void *arg)
{
	struct rc_repl *r = arg;
	struct rx_batch bt = { .cap = 4 * RC_REPL_BATCH_MAX };

	bt.v = calloc(bt.cap, sizeof(*bt.v));
	if (bt.v == NULL)
		return NULL;
	while (!atomic_load_explicit(&r->stop, memory_order_acquire))
		repl_loop_once(r, &bt);
	free(bt.v);
	return NULL;
}

/* ---- the API ---- */

static int
parse_addr(const char *s, struct sockaddr_in *sa)
{
	char host[32];
	const char *colon = s != NULL ? strrchr(s, ':') : NULL;
	char *end;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port > 65535)
		return -EINVAL;
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static bool
id_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= RC_REPL_ID_MAX;
}

static int
conf_check(const struct rc_repl_conf *c)
{
	struct sockaddr_in sa;

	if (c == NULL || !id_ok(c->node_id) || !id_ok(c->peer_id) ||
	    strcmp(c->node_id, c->peer_id) == 0 || parse_addr(c->listen_addr, &sa) != 0 ||
	    (c->peer_addr != NULL && parse_addr(c->peer_addr, &sa) != 0) || c->key.id == 0 ||
	    c->key.len < RC_REPL_KEY_MIN || c->key.len > RC_REPL_KEY_MAX ||
	    (c->aux_ring != 0 && (c->aux_ring & (c->aux_ring - 1)) != 0))
		return -EINVAL;
	return 0;
}

static int
repl_listen(struct rc_repl *r, const char *addr)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1;

	parse_addr(addr, &sa);
	r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->lfd < 0)
		return -errno;
	setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(r->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(r->lfd, 16) != 0 ||
	    getsockname(r->lfd, (struct sockaddr *)&sa, &len) != 0)
		return -errno;
	r->port = ntohs(sa.sin_port);
	return 0;
}

struct rc_repl *
rc_repl_create(const struct rc_repl_conf *conf)
{
	char name[RTE_RING_NAMESIZE];
	struct rc_repl *r;
	int rc = conf_check(conf);

	if (rc != 0) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->lfd = r->efd = -1;
	pthread_mutex_init(&r->ev_lock, NULL);
	snprintf(r->node_id, sizeof(r->node_id), "%s", conf->node_id);
	snprintf(r->peer_id, sizeof(r->peer_id), "%s", conf->peer_id);
	r->key = conf->key;
	r->backoff_min = conf->reconnect_min_ms != 0 ? conf->reconnect_min_ms : 100;
	r->backoff_max = RTE_MAX(conf->reconnect_max_ms != 0 ? conf->reconnect_max_ms : 2000,
				 r->backoff_min);
	r->dead_ms = conf->dead_ms != 0 ? conf->dead_ms : 3000;
	r->aux_ring = conf->aux_ring != 0 ? conf->aux_ring : 1024;
	if (conf->peer_addr != NULL) {
		parse_addr(conf->peer_addr, &r->peer);
		r->peer_set = true;
	}
	snprintf(name, sizeof(name), "rc_repl_rx%u", atomic_fetch_add(&repl_instances, 1));
	r->aux_rx = rte_ring_create(name, r->aux_ring, SOCKET_ID_ANY,
				    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rc = r->aux_rx == NULL ? -ENOMEM : r->efd < 0 ? -errno : repl_listen(r, conf->listen_addr);
	if (rc != 0) {
		rc_repl_destroy(r);
		errno = -rc;
		return NULL;
	}
	return r;
}

void
rc_repl_destroy(struct rc_repl *r)
{
	void *p;

	if (r == NULL)
		return;
	rc_repl_stop(r);
	for (unsigned i = 0; i < r->nsc; i++) {
		struct repl_scope *sc = &r->sc[i];

		rc_wal_set_notify_fd(sc->wal, -1);
		conn_free(sc->conn);
		aux_drop_all(sc);
		rte_ring_free(sc->aux_tx);
	}
	for (unsigned i = 0; i < REPL_PENDING_MAX; i++)
		conn_free(r->pending[i]);
	while (r->aux_rx != NULL && rte_ring_dequeue(r->aux_rx, &p) == 0)
		free(p);
	rte_ring_free(r->aux_rx);
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->efd >= 0)
		close(r->efd);
	pthread_mutex_destroy(&r->ev_lock);
	OPENSSL_cleanse(&r->key, sizeof(r->key));
	free(r);
}

uint16_t
rc_repl_listen_port(const struct rc_repl *r)
{
	return r->port;
}

int
rc_repl_set_peer_addr(struct rc_repl *r, const char *peer_addr)
{
	struct sockaddr_in sa;

	if (r->running)
		return -EBUSY;
	if (parse_addr(peer_addr, &sa) != 0)
		return -EINVAL;
	r->peer = sa;
	r->peer_set = true;
	return 0;
}

int
rc_repl_attach(struct rc_repl *r, const char *scope, struct rc_wal *wal,
	       enum rc_repl_role role)
{
	char name[RTE_RING_NAMESIZE];
	struct repl_scope *sc;
	int rc;

	if (!id_ok(scope) || wal == NULL || (unsigned)role >= RC_REPL_ROLE_MAX)
		return -EINVAL;
	if (r->running)
		return -EBUSY;
	if (scope_find(r, scope) != NULL)
		return -EEXIST;
	if (r->nsc == RC_REPL_SCOPES_MAX)
		return -ENOSPC;
	if (role == RC_REPL_WRITER && (rc = rc_wal_become_writer(wal)) != 0)
		return rc;
	sc = &r->sc[r->nsc];
	*sc = (struct repl_scope){ .idx = r->nsc, .wal = wal, .role = role,
				   .backoff_ms = r->backoff_min };
	snprintf(sc->name, sizeof(sc->name), "%s", scope);
	atomic_init(&sc->want_role, role);
	snprintf(name, sizeof(name), "rc_repl_tx%u", atomic_fetch_add(&repl_instances, 1));
	sc->aux_tx = rte_ring_create(name, r->aux_ring, SOCKET_ID_ANY,
				     RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (sc->aux_tx == NULL)
		return -ENOMEM;
	rc_wal_set_notify_fd(wal, r->efd);
	r->nsc++;
	return 0;
}

int
rc_repl_start(struct rc_repl *r)
{
	int rc;

	if (r->running)
		return -EALREADY;
	atomic_store(&r->stop, false);
	rc = rte_ctrl_thread_create(&r->thread, "rc-repl", NULL, repl_main, r);
	if (rc != 0)
		return rc < 0 ? rc : -rc;
	r->running = true;
	return 0;
}

void
rc_repl_stop(struct rc_repl *r)
{
	if (r == NULL || !r->running)
		return;
	atomic_store_explicit(&r->stop, true, memory_order_release);
	wake(r);
	pthread_join(r->thread, NULL);
	r->running = false;
	/* the links go down with the thread; a restart reconnects */
	for (unsigned i = 0; i < r->nsc; i++)
		scope_close(r, &r->sc[i]);
	for (unsigned i = 0; i < REPL_PENDING_MAX; i++) {
		conn_free(r->pending[i]);
		r->pending[i] = NULL;
	}
}

int
rc_repl_set_role(struct rc_repl *r, const char *scope, enum rc_repl_role role)
{
	struct repl_scope *sc;

	if (scope == NULL || (unsigned)role >= RC_REPL_ROLE_MAX)
		return -EINVAL;
	sc = scope_find(r, scope);
	if (sc == NULL)
		return -ENOENT;
	atomic_store(&sc->want_role, role);
	wake(r);
	return 0;
}

int
rc_repl_send_aux(struct rc_repl *r, const char *scope, const void *buf, uint16_t len)
{
	struct repl_scope *sc;
	struct repl_aux *a;

	if (scope == NULL || buf == NULL || len == 0)
		return -EINVAL;
	sc = scope_find(r, scope);
	if (sc == NULL)
		return -ENOENT;
	if (!atomic_load(&sc->up) || atomic_load(&sc->want_role) != RC_REPL_WRITER) {
		cnt(&sc->c.aux_dropped, 1);
		return -ENOTCONN;
	}
	a = malloc(sizeof(*a) + len);
	if (a == NULL) {
		cnt(&sc->c.aux_dropped, 1);
		return -ENOMEM;
	}
	a->scope = sc->idx;
	a->len = len;
	memcpy(a->data, buf, len);
	if (rte_ring_enqueue(sc->aux_tx, a) != 0) {
		free(a);
		cnt(&sc->c.aux_dropped, 1);
		return -ENOBUFS;
	}
	wake(r);
	return 0;
}

int
rc_repl_poll_aux(struct rc_repl *r,
		 void (*cb)(void *arg, const char *scope, const void *buf, uint16_t len),
		 void *arg)
{
	struct repl_aux *a[REPL_AUX_BURST];
	int total = 0;
	unsigned n;

	do {
		n = rte_ring_dequeue_burst(r->aux_rx, (void **)a, REPL_AUX_BURST, NULL);
		for (unsigned i = 0; i < n; i++) {
			cb(arg, r->sc[a[i]->scope].name, a[i]->data, a[i]->len);
			free(a[i]);
		}
		total += (int)n;
	} while (n == REPL_AUX_BURST);
	return total;
}

int
rc_repl_get_status(struct rc_repl *r, const char *scope, struct rc_repl_status *st)
{
	struct repl_scope *sc = scope != NULL ? scope_find(r, scope) : NULL;
	uint64_t last, acked;

	if (sc == NULL)
		return -ENOENT;
	last = rc_wal_last_lsn(sc->wal);
	acked = rd(&sc->c.acked_lsn);
	*st = (struct rc_repl_status){
		.role = (enum rc_repl_role)atomic_load(&sc->want_role),
		.connected = atomic_load(&sc->up),
		.sent_lsn = rd(&sc->c.sent_lsn),
		.acked_lsn = acked,
		.applied_lsn = rd(&sc->c.applied_lsn),
		.bytes_tx = rd(&sc->c.bytes_tx),
		.bytes_rx = rd(&sc->c.bytes_rx),
		.records_tx = rd(&sc->c.records_tx),
		.records_rx = rd(&sc->c.records_rx),
		.connects = rd(&sc->c.connects),
		.reconnects = rd(&sc->c.reconnects),
		.auth_failures = rd(&sc->c.auth_failures),
		.protocol_errors = rd(&sc->c.protocol_errors),
		.timeouts = rd(&sc->c.timeouts),
		.truncations = rd(&sc->c.truncations),
		.resets = rd(&sc->c.resets),
		.aux_tx = rd(&sc->c.aux_tx),
		.aux_rx = rd(&sc->c.aux_rx),
		.aux_dropped = rd(&sc->c.aux_dropped),
	};
	if (st->role == RC_REPL_WRITER)
		st->lag = last > acked ? last - acked : 0;
	return 0;
}

void
rc_repl_get_stats(struct rc_repl *r, struct rc_repl_stats *st)
{
	*st = (struct rc_repl_stats){
		.accepted = rd(&r->st.accepted),
		.rejected = rd(&r->st.rejected),
		.unknown_scope = rd(&r->st.unknown_scope),
		.events_dropped = rd(&r->st.events_dropped),
	};
}
