/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for HA heartbeats (control/ha/heartbeat.c): the datagrams the HA peer (or
 * anyone who can reach the HA link's UDP port) sends. They go through a real socket, as in
 * the daemon: a fresh rc_hb per input bound on 127.0.0.1, the peer's address being our
 * sending socket's, with a wall clock of the harness's.
 *
 * Input: one control byte, then datagrams, each a 2-byte big-endian length and its bytes (at
 * most 16). Control bits, for each datagram of RC_HB_WIRE_LEN bytes: 0 set the MAC right
 * (with the key its key id byte names; key 1 for another id), 1 set time_ms to the clock, 2
 * write the expected peer's node id; bits 4..7: milliseconds the clock moves per datagram.
 * The keys are id 1 (current) and id 2 (previous, in its grace).
 *
 * Checked: rc_hb_recv returns 1 (and the decoded fields are the datagram's), 0 or -errno;
 * every datagram is either accepted or counted as one drop; the peer is up exactly when one
 * was accepted within dead_ms; a datagram accepted has the peer's node id.
 * Built as fuzz.h says (corpus: tests/fuzz/corpus/heartbeat/). Single-threaded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz.h"
#include "heartbeat.h"
#include "hmac.h"

#define T0 1700000000000ull
#define MAX_DGRAMS 16

static uint64_t clock_ms;
static struct rc_hb_keys keys;

static uint64_t
fake_clock(void *arg)
{
	(void)arg;
	return clock_ms;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	keys.current.id = 1;
	keys.current.len = 32;
	memset(keys.current.key, 0x11, 32);
	keys.previous.id = 2;
	keys.previous.len = 20;
	memset(keys.previous.key, 0x22, 20);
	return 0;
}

/* A UDP socket on 127.0.0.1 (ephemeral port); its address into peer ("IP:PORT"). */
static int
sender_open(char *peer, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	snprintf(peer, cap, "127.0.0.1:%u", ntohs(sa.sin_port));
	return fd;
}

static void
repair(uint8_t *b, uint8_t ctl)
{
	const struct rc_hb_key *k = b[RC_HB_OFF_KEY_ID] == 2 ? &keys.previous : &keys.current;
	struct rc_hmac_part part = { b, RC_HB_OFF_MAC };

	if (ctl & 2)
		rc_put_be64(b + RC_HB_OFF_TIME, clock_ms);
	if (ctl & 4) {
		memset(b + RC_HB_OFF_NODE, 0, RC_HB_NODE_FIELD);
		memcpy(b + RC_HB_OFF_NODE, "n2", 2);
	}
	if (ctl & 1)
		CHECK(rc_hmac_sha256(k->key, k->len, &part, 1, b + RC_HB_OFF_MAC) == 0);
}

/* Send one datagram and receive it; returns whether it was accepted. */
static bool
one(struct rc_hb *hb, int fd, const uint8_t *b, size_t n, struct sockaddr_in *to)
{
	struct rc_hb_status st;
	int rc;

	CHECK(sendto(fd, b, n, 0, (struct sockaddr *)to, sizeof(*to)) == (ssize_t)n);
	memset(&st, 0xa5, sizeof(st));
	rc = rc_hb_recv(hb, clock_ms, &st);
	CHECK(rc == 0 || rc == 1 || (rc < 0 && rc > -4096));
	if (rc == 1) {
		CHECK(n == RC_HB_WIRE_LEN);
		CHECK(strcmp(st.node_id, "n2") == 0);
		CHECK(st.boot_id == rc_get_be64(b + RC_HB_OFF_BOOT) && st.boot_id != 0);
		CHECK(st.seq == rc_get_be64(b + RC_HB_OFF_SEQ));
		CHECK(st.key_id == 1 || st.key_id == 2);
	}
	(void)rc_hb_tick(hb, clock_ms);
	return rc == 1;
}

static uint64_t
counted(const struct rc_hb *hb)
{
	struct rc_hb_stats s;
	uint64_t n;

	rc_hb_get_stats(hb, &s);
	n = s.rx;
	for (unsigned i = 0; i < RC_HB_DROP_MAX; i++)
		n += s.drops[i];
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rc_hb_conf conf = { .node_id = "n1", .peer_id = "n2", .local_addr = "127.0.0.1:0",
				   .boot_id = 0x1234, .wall_clock_ms = fake_clock };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint64_t last_ok = 0, sent = 0;
	bool any_ok = false;
	size_t off = 1;
	char peer[32];
	struct rc_hb *hb;
	int fd;

	if (size < 1)
		return 0;
	clock_ms = T0;
	fd = sender_open(peer, sizeof(peer));
	conf.peer_addr = peer;
	hb = rc_hb_create(&conf, &keys);
	CHECK(hb != NULL);
	to.sin_port = htons(rc_hb_local_port(hb));
	while (off + 2 <= size && sent < MAX_DGRAMS) {
		size_t n = rc_get_be16(data + off);
		uint8_t b[RC_HB_WIRE_LEN + 64];

		off += 2;
		if (n > size - off)
			n = size - off;
		if (n > sizeof(b))
			n = sizeof(b);
		memcpy(b, data + off, n);
		off += n;
		clock_ms += data[0] >> 4;
		if (n == RC_HB_WIRE_LEN)
			repair(b, data[0]);
		if (one(hb, fd, b, n, &to)) {
			any_ok = true;
			last_ok = clock_ms;
		}
		sent++;
		CHECK(counted(hb) == sent);
	}
	if (any_ok)
		CHECK((rc_hb_peer_state(hb) == RC_HB_PEER_IS_UP) ==
		      (clock_ms - last_ok < RC_HB_DEAD_MS));
	rc_hb_destroy(hb);
	close(fd);
	return 0;
}
