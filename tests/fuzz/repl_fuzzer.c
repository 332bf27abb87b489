/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the HA stream (storage/repl*.c), the replica's side: what the HA link's TCP
 * port reads, before the handshake from anyone who can connect, after it from the writer.
 * A real rc_repl (its own thread) with a real LMDB WAL attached as REPLICA of scope
 * "rooms:F", in a scratch directory, under an EAL with no huge pages; one connection per
 * input, from 127.0.0.1 (the configured peer's address).
 *
 * Input: one control byte, then bytes. Bit 0 clear: the bytes are sent as they are (HELLO,
 * AUTH and whatever follows, unauthenticated). Bit 0 set: the harness is the writer: it
 * sends HELLO, reads CHALLENGE, answers AUTH with the right MAC, and sends the rest as frames,
 * each [type u8][length u16][body], sealed as the writer seals them (bit 1 clear) or raw
 * (bit 1 set: must be refused). Either way the answer is then read until the replica closes
 * the connection or falls quiet, and the connection is reset.
 *
 * Checked: no crash, leak or hang (libFuzzer's -timeout); raw bytes after the handshake are
 * never applied (the replica's last LSN does not move).
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/repl/). The WAL keeps what earlier inputs
 * applied: a crash is replayed with the inputs before it when it needs them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <rte_ring.h>

#include "../unit/wal_fixture.h"
#include "bytes.h"
#include "fuzz.h"
#include "repl.h"
#include "repl_impl.h"

#define SCOPE "rooms:F"

static char dir[128];
static struct rc_wal *wal;
static struct rc_repl *repl;
static struct rc_repl_key key = { .id = 1, .len = 32 };
static uint16_t port;

static void
stop_all(void)
{
	rc_repl_destroy(repl);
	rc_wal_close(wal);
	fx_rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct rc_repl_conf rc = { .node_id = "B", .peer_id = "A", .listen_addr = "127.0.0.1:0",
				   .peer_addr = "127.0.0.1:1", .dead_ms = 1000 };
	struct rc_wal_conf wc;
	struct rte_ring *cq;
	char err[256] = "";

	(void)argc, (void)argv;
	/* OpenSSL's first use sets up per-thread state that a thread other than the first
	 * never frees; the daemon's main thread uses it (keys, tokens) before rc-repl starts. */
	CHECK(OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) == 1);
	CHECK(fx_eal_init("repl_fuzzer") >= 0);
	fx_tmpdir(dir, sizeof(dir), NULL);
	wc = fx_conf(dir);
	wal = rc_wal_open(&wc, err, sizeof(err));
	if (wal == NULL)
		fprintf(stderr, "rc_wal_open: %s\n", err);
	CHECK(wal != NULL);
	cq = rte_ring_create("fz_cq", 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
	CHECK(cq != NULL && rc_wal_set_completion(wal, 0, cq) == 0 && rc_wal_start(wal) == 0);
	memset(key.key, 0x5a, key.len);
	rc.key = key;
	repl = rc_repl_create(&rc);
	CHECK(repl != NULL);
	CHECK(rc_repl_attach(repl, SCOPE, wal, RC_REPL_REPLICA) == 0);
	CHECK(rc_repl_start(repl) == 0);
	port = rc_repl_listen_port(repl);
	atexit(stop_all); /* before the EAL's own (atexit runs in reverse order) */
	return 0;
}

static int
connect_replica(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send what the writer's connection has built. */
static bool
flush(struct repl_conn *c)
{
	bool ok = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL) ==
		  (ssize_t)(c->tx_len - c->tx_off);

	c->tx_off = c->tx_len = 0;
	return ok;
}

/* Read exactly n bytes (false on EOF, error or timeout). */
static bool
read_n(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = recv(fd, p, n, 0);

		if (r <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static void
hello(struct repl_conn *c)
{
	long off = rc_repl_frame_begin(c, RC_REPL_T_HELLO, 64);

	memset(c->nonce_w, 0x77, RC_REPL_NONCE_LEN);
	rc_repl_frame_put(c, "RCRP", 4);
	rc_repl_frame_put8(c, RC_REPL_VERSION);
	rc_repl_frame_put8(c, key.id);
	rc_repl_frame_put(c, c->nonce_w, RC_REPL_NONCE_LEN);
	rc_repl_frame_put_name(c, "A");
	rc_repl_frame_put_name(c, SCOPE);
	CHECK(off >= 0 && rc_repl_frame_end(c, off) == 0);
}

/* CHALLENGE in, AUTH out, both sides sealed from here; false when the replica refused. */
static bool
handshake(struct repl_conn *c)
{
	uint8_t b[4 + 1 + RC_REPL_NONCE_LEN + 16 + 2 + RC_REPL_MAC_LEN];
	uint8_t mac[RC_REPL_MAC_LEN];
	uint64_t u[5];
	long off;

	hello(c);
	if (!flush(c) || !read_n(c->fd, b, sizeof(b)) || b[4] != RC_REPL_T_CHALLENGE)
		return false;
	memcpy(c->nonce_r, b + 5, RC_REPL_NONCE_LEN);
	u[0] = rc_get_be64(b + 5 + RC_REPL_NONCE_LEN);     /* replica last_lsn */
	u[1] = rc_get_be64(b + 5 + RC_REPL_NONCE_LEN + 8); /* its writer_start */
	u[2] = 1;                                          /* our writer_start */
	u[3] = u[0] + 1;                                   /* first LSN we hold */
	u[4] = u[0] + 1000;                                /* our last LSN */
	CHECK(rc_repl_mac(&key, "rcrp2 writer", c, "A", "B", SCOPE, u, 5, mac) == 0);
	off = rc_repl_frame_begin(c, RC_REPL_T_AUTH, 24 + RC_REPL_MAC_LEN);
	for (unsigned i = 2; i < 5; i++)
		rc_repl_frame_put64(c, u[i]);
	rc_repl_frame_put(c, mac, sizeof(mac));
	CHECK(off >= 0 && rc_repl_frame_end(c, off) == 0);
	if (!flush(c))
		return false;
	CHECK(rc_repl_seal_start(c, &key, "A", "B", SCOPE, true) == 0);
	return true;
}

/* AUX messages go to the control thread's ring: take them as it would. */
static void
on_aux(void *arg, const char *scope, const void *buf, uint16_t len)
{
	(void)arg;
	CHECK(strcmp(scope, SCOPE) == 0 && buf != NULL && len > 0);
}

/* The input's frames, sealed. */
static void
frames(struct repl_conn *c, const uint8_t *p, size_t n)
{
	while (n >= 3) {
		size_t len = rc_get_be16(p + 1);
		long off;

		if (len > n - 3)
			len = n - 3;
		off = rc_repl_frame_begin(c, p[0], len);
		CHECK(off >= 0 && rc_repl_frame_put(c, p + 3, len) == 0);
		CHECK(rc_repl_frame_end(c, off) == 0);
		p += 3 + len;
		n -= 3 + len;
	}
	(void)flush(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct timeval quiet = { .tv_usec = 20000 };
	struct repl_conn *c;
	uint8_t sink[4096];
	uint64_t before = rc_wal_last_lsn(wal);

	if (size < 1)
		return 0;
	c = rc_repl_conn_new(connect_replica(), CS_WAIT_CHALLENGE);
	CHECK(c != NULL);
	if (!(data[0] & 1)) {
		(void)!send(c->fd, data + 1, size - 1, MSG_NOSIGNAL);
	} else if (handshake(c)) {
		if (data[0] & 2)
			(void)!send(c->fd, data + 1, size - 1, MSG_NOSIGNAL);
		else
			frames(c, data + 1, size - 1);
	}
	/* Read what the replica answers until it closes or is quiet for 20 ms, then reset: a FIN
	 * of ours would leave a TIME_WAIT per input, and hundreds of inputs a second use up the
	 * ports within a minute. The replica has read what it was sent by then (or drops it on
	 * the reset: only less is applied). */
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &quiet, sizeof(quiet));
	while (recv(c->fd, sink, sizeof(sink), 0) > 0)
		;
	if ((data[0] & 3) != 1)
		CHECK(rc_wal_last_lsn(wal) == before);
	(void)rc_repl_poll_aux(repl, on_aux, NULL);
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	rc_repl_seal_free(c);
	free(c->rx);
	free(c->tx);
	free(c);
	return 0;
}
