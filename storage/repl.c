/* SPDX-License-Identifier: MIT */
/*
 * The replication link (repl.h): the object, the rc-repl thread with its listener and
 * poll loop, connections, reading frames and handing them to their side, connection
 * events, and the public API. The sides of a link are in repl_writer.c and
 * repl_replica.c, the wire encoding and the handshake's HMAC in repl_wire.c, the shared
 * structs in repl_impl.h.
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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "bytes.h"
#include "clock.h"
#include "repl_impl.h"
#include "wal.h"

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
rd(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static void
wake(struct rc_repl *r)
{
	uint64_t one = 1;

	if (write(r->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the thread wakes anyway */
	}
}

/* ---- events ---- */

void
rc_repl_event_push(struct rc_repl *r, struct repl_scope *sc, enum rc_repl_event_type type)
{
	pthread_mutex_lock(&r->ev_lock);
	if (r->ev_count == REPL_EVENTS) {
		rc_repl_ctr_add(&r->st.events_dropped, 1);
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

struct repl_conn *
rc_repl_conn_new(int fd, enum conn_state st)
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
	c->opened_ms = c->last_rx_ms = c->last_tx_ms = rc_mono_ms_precise();
	return c;
}

static void
conn_free(struct repl_conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	rc_repl_seal_free(c);
	OPENSSL_cleanse(&c->key, sizeof(c->key));
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
		rc_repl_ctr_add(&sc->c.aux_dropped, 1);
	}
}

/* Closes the scope's link; the writer reconnects after its back-off. */
void
rc_repl_scope_close(struct rc_repl *r, struct repl_scope *sc)
{
	struct repl_conn *c = sc->conn;
	uint64_t now = rc_mono_ms_precise();

	if (c == NULL)
		return;
	if (c->st == CS_UP)
		rc_repl_event_push(r, sc, RC_REPL_EV_DISCONNECTED);
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
		c->last_tx_ms = rc_mono_ms_precise();
		if (sc != NULL)
			rc_repl_ctr_add(&sc->c.bytes_tx, (uint64_t)n);
	}
	c->tx_off = c->tx_len = 0;
	return 0;
}

/* ---- scopes ---- */

struct repl_scope *
rc_repl_scope_find(struct rc_repl *r, const char *name)
{
	for (unsigned i = 0; i < r->nsc; i++)
		if (strcmp(r->sc[i].name, name) == 0)
			return &r->sc[i];
	return NULL;
}

/* ---- reading frames ---- */

/* The counter a failed frame of c goes to: its scope's, or the node's. */
static void
count_failure(struct rc_repl *r, struct repl_conn *c, int rc)
{
	struct repl_scope *sc = c->sc;

	if (sc == NULL) {
		rc_repl_ctr_add(&r->st.rejected, 1);
		return;
	}
	if (rc == -EACCES)
		rc_repl_ctr_add(&sc->c.auth_failures, 1);
	else if (rc == -EBADMSG)
		rc_repl_ctr_add(&sc->c.frames_bad_mac, 1);
	else if (rc == -EALREADY)
		rc_repl_ctr_add(&sc->c.frames_replayed, 1);
	else if (rc == -EILSEQ)
		rc_repl_ctr_add(&sc->c.frames_gap, 1);
	else if (rc == -EDOM)
		rc_repl_ctr_add(&sc->c.records_invalid, 1);
	else if (rc == -ETIMEDOUT)
		rc_repl_ctr_add(&sc->c.timeouts, 1);
	else if (rc != -ENOENT && rc != -ECONNRESET)
		rc_repl_ctr_add(&sc->c.protocol_errors, 1);
}

static int
conn_frame(struct rc_repl *r, struct repl_conn *c, uint8_t type, struct rd *b,
	   struct rx_batch *bt, bool *upped)
{
	int rc;

	if (c->st != CS_WAIT_HELLO && c->sc != NULL && c->sc->role == RC_REPL_WRITER)
		return rc_repl_writer_frame(r, c->sc, c, type, b);
	switch (c->st) {
	case CS_WAIT_HELLO:
		return type == RC_REPL_T_HELLO ? rc_repl_replica_on_hello(r, c, b) : -EPROTO;
	case CS_WAIT_AUTH:
		if (type != RC_REPL_T_AUTH)
			return -EPROTO;
		rc = rc_repl_replica_on_auth(r, c, b);
		if (rc == 0)
			*upped = true;
		return rc;
	case CS_UP:
		return rc_repl_replica_frame_up(r, c->sc, type, b, bt);
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
	c->last_rx_ms = rc_mono_ms_precise();
	if (c->sc != NULL)
		rc_repl_ctr_add(&c->sc->c.bytes_rx, (uint64_t)n);
	bt->n = 0;
	bt->dirty = false;
	while (rc == 0 && c->rx_len - off >= 4) {
		uint32_t len = rc_get_be32(c->rx + off);
		struct rd b;

		if (len == 0 || len > RC_REPL_FRAME_MAX) {
			rc = -EPROTO;
			break;
		}
		if (c->rx_len - off < 4 + (size_t)len)
			break;
		if (c->seal_rx.ctx != NULL) {
			/* after the handshake: nothing is looked at before its tag and counter
			 * are checked */
			rc = rc_repl_seal_open(c, c->rx + off, 4 + (size_t)len);
			if (rc != 0)
				break;
			b = (struct rd){ .p = c->rx + off + REPL_SEALED_HDR,
					 .left = len - 1 - REPL_SEQ_LEN - REPL_TAG_LEN };
		} else {
			b = (struct rd){ .p = c->rx + off + REPL_HDR, .left = len - 1 };
		}
		rc = conn_frame(r, c, c->rx[off + 4], &b, bt, &upped);
		off += 4 + len;
		if (upped) {
			rc_repl_replica_up(r, c);
			upped = false;
		}
	}
	if (rc == 0 && c->st == CS_UP && c->sc->role == RC_REPL_REPLICA) {
		rc = rc_repl_batch_flush(c->sc, bt);
		if (rc == 0 && bt->dirty) {
			rc_repl_ctr_set(&c->sc->c.applied_lsn, rc_wal_last_lsn(c->sc->wal));
			rc = rc_repl_frame_u64(c, RC_REPL_T_ACK, rc_wal_last_lsn(c->sc->wal));
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

/* How far a pending connection got: an idle one (nothing received) is evicted first, then
 * one that sent bytes not yet read, then one waiting for its AUTH. */
static int
pending_rank(const struct repl_conn *c)
{
	int avail = 0;

	if (c->st != CS_WAIT_HELLO)
		return 2;
	if (c->rx_len > 0 || (ioctl(c->fd, FIONREAD, &avail) == 0 && avail > 0))
		return 1;
	return 0;
}

/* A free pending slot, or the one of the least advanced, oldest connection, evicted. */
static int
pending_slot(struct rc_repl *r)
{
	int victim = -1, vrank = 3;

	for (int i = 0; i < REPL_PENDING_MAX; i++) {
		int rank;

		if (r->pending[i] == NULL)
			return i;
		rank = pending_rank(r->pending[i]);
		if (rank < vrank ||
		    (rank == vrank && r->pending[i]->opened_ms < r->pending[victim]->opened_ms)) {
			victim = i;
			vrank = rank;
		}
	}
	conn_free(r->pending[victim]);
	r->pending[victim] = NULL;
	rc_repl_ctr_add(&r->st.pending_evicted, 1);
	return victim;
}

/* Accepts what the backlog holds: only from the peer's address (when known); a new
 * connection never waits for a slot, it takes the place of the least advanced one. */
static void
listener_accept(struct rc_repl *r)
{
	for (unsigned n = 0; n < 4 * REPL_PENDING_MAX; n++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		int fd = accept4(r->lfd, (struct sockaddr *)&from, &flen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1, i;

		if (fd < 0)
			return;
		rc_repl_ctr_add(&r->st.accepted, 1);
		if (r->peer_set && (flen < sizeof(from) || from.sin_family != AF_INET ||
				    from.sin_addr.s_addr != r->peer.sin_addr.s_addr)) {
			rc_repl_ctr_add(&r->st.wrong_source, 1);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		i = pending_slot(r);
		if ((r->pending[i] = rc_repl_conn_new(fd, CS_WAIT_HELLO)) == NULL) {
			rc_repl_ctr_add(&r->st.rejected, 1);
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
	rc_repl_scope_close(r, sc);
	if (want == RC_REPL_WRITER && rc_wal_become_writer(sc->wal) != 0)
		return; /* retried on the next pass */
	sc->role = want;
	sc->backoff_ms = r->backoff_min;
	sc->connect_at_ms = 0;
	sc->tried = false;
	rc_repl_ctr_set(&sc->c.acked_lsn, 0);
	rc_repl_ctr_set(&sc->c.sent_lsn, 0);
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
		rc_repl_scope_close(r, c->sc);
	}
}

static int
conn_events(struct rc_repl *r, struct repl_conn *c, short revents, struct rx_batch *bt)
{
	int rc = 0;

	if (c->st == CS_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			rc = rc_repl_writer_connected(r, c->sc, c);
		return rc != 0 ? -ECONNRESET : 0;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP))
		rc = conn_read(r, c, bt);
	return rc;
}

/* Deadline checks: handshake time, silence. */
static int
conn_timer(struct rc_repl *r, struct repl_conn *c, uint64_t now, bool pending)
{
	if (pending && rc_repl_since(now, c->opened_ms) >= REPL_PREAUTH_MS) {
		rc_repl_ctr_add(&r->st.pending_timeouts, 1);
		return -ETIMEDOUT;
	}
	if (c->st != CS_UP && rc_repl_since(now, c->opened_ms) >= REPL_HANDSHAKE_MS)
		return -ETIMEDOUT;
	if (c->st == CS_UP && rc_repl_since(now, c->last_rx_ms) >= r->dead_ms)
		return -ETIMEDOUT;
	return 0;
}

static void
conn_service(struct rc_repl *r, struct repl_conn *c, short revents, struct rx_batch *bt,
	     int pending_idx, uint64_t now)
{
	struct repl_scope *sc;
	int rc = conn_events(r, c, revents, bt);

	if (pending_idx >= 0 && r->pending[pending_idx] != c)
		pending_idx = -1; /* became its scope's link */
	if (rc == 0)
		rc = conn_timer(r, c, now, pending_idx >= 0);
	sc = c->sc;
	if (rc == 0 && pending_idx < 0 && sc->role == RC_REPL_WRITER && c->st == CS_UP)
		rc = rc_repl_writer_pump(r, sc, c, now);
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
	uint64_t now = rc_mono_ms_precise(), drain;

	ps.fds[0] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
	ps.fds[1] = (struct pollfd){ .fd = r->efd, .events = POLLIN };
	for (unsigned i = 0; i < r->nsc; i++) {
		struct repl_scope *sc = &r->sc[i];

		scope_role_apply(r, sc);
		if (sc->role == RC_REPL_WRITER && sc->conn == NULL)
			rc_repl_writer_connect(r, sc, now);
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
	now = rc_mono_ms_precise();
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
	pthread_mutex_init(&r->key_lock, NULL);
	r->keys[0] = conf->key;
	r->n_keys = 1;
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
	OPENSSL_cleanse(r->keys, sizeof(r->keys));
	pthread_mutex_destroy(&r->key_lock);
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
	if (rc_repl_scope_find(r, scope) != NULL)
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
rc_repl_set_room_range(struct rc_repl *r, const char *scope, uint32_t lo, uint32_t hi)
{
	struct repl_scope *sc;

	if (scope == NULL || (hi != 0 && (lo == 0 || lo > hi)))
		return -EINVAL;
	if (r->running)
		return -EBUSY;
	sc = rc_repl_scope_find(r, scope);
	if (sc == NULL)
		return -ENOENT;
	sc->room_lo = lo;
	sc->room_hi = hi;
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
		rc_repl_scope_close(r, &r->sc[i]);
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
	sc = rc_repl_scope_find(r, scope);
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
	sc = rc_repl_scope_find(r, scope);
	if (sc == NULL)
		return -ENOENT;
	if (!atomic_load(&sc->up) || atomic_load(&sc->want_role) != RC_REPL_WRITER) {
		rc_repl_ctr_add(&sc->c.aux_dropped, 1);
		return -ENOTCONN;
	}
	a = malloc(sizeof(*a) + len);
	if (a == NULL) {
		rc_repl_ctr_add(&sc->c.aux_dropped, 1);
		return -ENOMEM;
	}
	a->scope = sc->idx;
	a->len = len;
	memcpy(a->data, buf, len);
	if (rte_ring_enqueue(sc->aux_tx, a) != 0) {
		free(a);
		rc_repl_ctr_add(&sc->c.aux_dropped, 1);
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
	struct repl_scope *sc = scope != NULL ? rc_repl_scope_find(r, scope) : NULL;
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
		.frames_bad_mac = rd(&sc->c.frames_bad_mac),
		.frames_replayed = rd(&sc->c.frames_replayed),
		.frames_gap = rd(&sc->c.frames_gap),
		.records_invalid = rd(&sc->c.records_invalid),
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
		.wrong_source = rd(&r->st.wrong_source),
		.pending_evicted = rd(&r->st.pending_evicted),
		.pending_timeouts = rd(&r->st.pending_timeouts),
	};
}
