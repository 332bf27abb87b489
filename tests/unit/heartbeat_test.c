/* SPDX-License-Identifier: MIT */
/*
 * control/heartbeat: two endpoints on real UDP sockets (127.0.0.1, ephemeral ports) driven
 * by fake clocks (a monotonic "now" passed in, a wall clock behind the conf hook): PEER_UP,
 * PEER_DEAD after the dead time, every drop reason counted (malformed, unknown and old keys,
 * forged, wrong peer, replayed, stale), key rotation without a gap and after the grace,
 * reboot detection and the replay of an old boot under the skew rule, and the
 * critical-service watcher. Nothing sleeps: a test waits (poll) only for a datagram already
 * sent on the loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "health.h"
#include "heartbeat.h"

#define WALL0 1700000000000ULL /* ms */
#define T0    1000ULL          /* the fake monotonic clock's start */
#define BOOT_A 0xa1a1a1a1a1a1a1a1ULL
#define BOOT_B 0xb2b2b2b2b2b2b2b2ULL

static uint64_t wall_now = WALL0;

static uint64_t
fake_wall(void *arg)
{
	(void)arg;
	return wall_now;
}

static struct rc_hb_keys
mkkeys(uint8_t id, char fill, uint8_t prev_id, char prev_fill)
{
	struct rc_hb_keys k;

	memset(&k, 0, sizeof(k));
	k.current.id = id;
	k.current.len = 32;
	memset(k.current.key, fill, 32);
	if (prev_id != 0) {
		k.previous.id = prev_id;
		k.previous.len = 32;
		memset(k.previous.key, prev_fill, 32);
	}
	return k;
}

static struct rc_hb *
endpoint(const char *id, const char *peer, uint64_t boot, const struct rc_hb_keys *keys,
	 uint32_t grace_ms)
{
	struct rc_hb_conf c = {
		.node_id = id,
		.peer_id = peer,
		.local_addr = "127.0.0.1:0",
		.peer_addr = "127.0.0.1:9",
		.boot_id = boot,
		.key_grace_ms = grace_ms,
		.wall_clock_ms = fake_wall,
	};
	struct rc_hb *hb = rc_hb_create(&c, keys);

	assert_non_null(hb);
	return hb;
}

static void
aim(struct rc_hb *from, uint16_t port)
{
	char addr[32];

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(rc_hb_set_peer_addr(from, addr), 0);
}

static void
pair_link(struct rc_hb *a, struct rc_hb *b)
{
	aim(a, rc_hb_local_port(b));
	aim(b, rc_hb_local_port(a));
}

static void
wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	assert_int_equal(poll(&p, 1, 2000), 1);
}

static struct rc_hb_status
mine_of(uint32_t state)
{
	struct rc_hb_status m = {
		.ha_state = state,
		.ha_reason = 7,
		.epoch = 42,
		.last_lsn = 1000 + state,
		.peer_lsn_acked = 900,
		.health = RC_HEALTH_TC,
	};

	return m;
}

/* from sends one heartbeat; to receives at now. Returns rc_hb_recv's result. */
static int
xfer(struct rc_hb *from, struct rc_hb *to, uint64_t now, struct rc_hb_status *got)
{
	struct rc_hb_status m = mine_of(3);

	assert_int_equal(rc_hb_send(from, now, &m), 0);
	wait_readable(rc_hb_fd(to));
	return rc_hb_recv(to, now, got);
}

/* A plain UDP socket on 127.0.0.1 that captures and injects datagrams. */
static int
tap_open(uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* Make from send one heartbeat to the tap and return it in buf (RC_HB_WIRE_LEN bytes). */
static void
capture(struct rc_hb *from, struct rc_hb *restore_to, uint64_t now, uint8_t *buf)
{
	struct rc_hb_status m = mine_of(5);
	uint16_t port;
	int fd = tap_open(&port);

	aim(from, port);
	assert_int_equal(rc_hb_send(from, now, &m), 0);
	wait_readable(fd);
	assert_int_equal(recv(fd, buf, RC_HB_WIRE_LEN, 0), RC_HB_WIRE_LEN);
	aim(from, rc_hb_local_port(restore_to));
	close(fd);
}

/* Send raw bytes to hb and let it read them at now. Returns rc_hb_recv's result. */
static int
inject(struct rc_hb *to, uint64_t now, const uint8_t *buf, size_t len, struct rc_hb_status *st)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint16_t port;
	int fd = tap_open(&port), rc;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(rc_hb_local_port(to));
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)len);
	wait_readable(rc_hb_fd(to));
	rc = rc_hb_recv(to, now, st);
	close(fd);
	return rc;
}

static uint64_t
drops(const struct rc_hb *hb, enum rc_hb_drop d)
{
	struct rc_hb_stats s;

	rc_hb_get_stats(hb, &s);
	return s.drops[d];
}

static uint64_t
drops_total(const struct rc_hb *hb)
{
	uint64_t n = 0;

	for (int d = 0; d < RC_HB_DROP_MAX; d++)
		n += drops(hb, d);
	return n;
}

static void
test_names(void **state)
{
	(void)state;
	for (int e = 0; e < RC_HB_EVENT_MAX; e++) {
		assert_non_null(rc_hb_event_name(e));
		for (int f = 0; f < e; f++)
			assert_string_not_equal(rc_hb_event_name(e), rc_hb_event_name(f));
	}
	for (int d = 0; d < RC_HB_DROP_MAX; d++) {
		assert_non_null(rc_hb_drop_name(d));
		for (int f = 0; f < d; f++)
			assert_string_not_equal(rc_hb_drop_name(d), rc_hb_drop_name(f));
	}
	for (int p = 0; p < RC_HB_PEER_MAX; p++)
		assert_non_null(rc_hb_peer_name(p));
	for (int b = 0; b < RC_HEALTH_BIT_MAX; b++)
		assert_non_null(rc_health_bit_name(b));
	assert_null(rc_hb_event_name(RC_HB_EVENT_MAX));
	assert_null(rc_hb_drop_name(RC_HB_DROP_MAX));
	assert_null(rc_hb_peer_name(RC_HB_PEER_MAX));
	assert_null(rc_health_bit_name(RC_HEALTH_BIT_MAX));
	assert_string_equal(rc_hb_drop_name(RC_HB_DROP_OLD_KEY), "old_key");
	assert_int_equal(RC_HB_OFF_MAC + RC_HB_MAC_LEN, RC_HB_WIRE_LEN);
	assert_int_equal(RC_HB_OFF_NODE + RC_HB_NODE_FIELD, RC_HB_OFF_BOOT);
}

static void
test_conf_errors(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0), bad;
	struct rc_hb_conf c = {
		.node_id = "node-a",
		.peer_id = "node-b",
		.local_addr = "127.0.0.1:0",
		.peer_addr = "127.0.0.1:9",
	};
	struct rc_hb_conf x;
	struct rc_hb *hb;

	(void)state;
	x = c, x.peer_id = "node-a"; /* ourselves */
	assert_null(rc_hb_create(&x, &k));
	assert_int_equal(errno, EINVAL);
	x = c, x.node_id = "bad id";
	assert_null(rc_hb_create(&x, &k));
	x = c, x.peer_addr = "127.0.0.1";
	assert_null(rc_hb_create(&x, &k));
	x = c, x.local_addr = "localhost:1";
	assert_null(rc_hb_create(&x, &k));
	x = c, x.interval_ms = 500, x.dead_ms = 500;
	assert_null(rc_hb_create(&x, &k));
	bad = k, bad.current.len = RC_HB_KEY_MIN - 1;
	assert_null(rc_hb_create(&c, &bad));
	bad = k, bad.current.id = 0;
	assert_null(rc_hb_create(&c, &bad));
	bad = mkkeys(1, 'a', 1, 'b'); /* previous with the current's id */
	assert_null(rc_hb_create(&c, &bad));
	assert_null(rc_hb_create(NULL, &k));

	hb = rc_hb_create(&c, &k);
	assert_non_null(hb);
	assert_int_not_equal(rc_hb_local_port(hb), 0);
	assert_int_equal(rc_hb_boot_id(hb), rc_hb_process_boot_id());
	assert_int_not_equal(rc_hb_boot_id(hb), 0);
	{
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%u", rc_hb_local_port(hb));
		x = c, x.local_addr = addr;
		assert_null(rc_hb_create(&x, &k));
		assert_int_equal(errno, EADDRINUSE);
	}
	assert_int_equal(rc_hb_set_peer_addr(hb, "127.0.0.1:70000"), -EINVAL);
	rc_hb_destroy(hb);
}

static void
test_up_dead(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct rc_hb_status st;
	uint64_t now = T0, last;
	struct rc_hb_stats s;

	(void)state;
	pair_link(a, b);
	/* Start: a send is due at once; the peer is unknown. */
	assert_int_equal(rc_hb_tick(a, now), RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_tick(b, now), RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_UNKNOWN);

	assert_int_equal(xfer(a, b, now, &st), 1);
	assert_string_equal(st.node_id, "node-a");
	assert_int_equal(st.boot_id, BOOT_A);
	assert_int_equal(st.key_id, 1);
	assert_int_equal(st.time_ms, WALL0);
	assert_int_equal(st.ha_state, 3);
	assert_int_equal(st.ha_reason, 7);
	assert_int_equal(st.epoch, 42);
	assert_int_equal(st.last_lsn, 1003);
	assert_int_equal(st.peer_lsn_acked, 900);
	assert_int_equal(st.health, RC_HEALTH_TC);
	assert_int_equal(rc_hb_tick(b, now), RC_HB_EV(RC_HB_PEER_UP) | RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_IS_UP);
	assert_int_equal(xfer(b, a, now, &st), 1);
	assert_int_equal(rc_hb_tick(a, now), RC_HB_EV(RC_HB_PEER_UP));

	/* The next send is due an interval later; the dead timer is what poll() waits for. */
	assert_int_equal(rc_hb_next_ms(a, now), RC_HB_INTERVAL_MS);
	assert_int_equal(rc_hb_tick(a, now + 99), 0);
	assert_int_equal(rc_hb_tick(a, now + 100), RC_HB_EV(RC_HB_SEND_DUE));

	/* Steady state: heartbeats every interval both ways, no event but SEND_DUE. */
	for (int i = 0; i < 20; i++) {
		now += RC_HB_INTERVAL_MS;
		wall_now += RC_HB_INTERVAL_MS;
		assert_int_equal(xfer(a, b, now, &st), 1);
		assert_int_equal(xfer(b, a, now, &st), 1);
		assert_int_equal(rc_hb_tick(a, now), 0);
		assert_int_equal(rc_hb_tick(b, now), 0);
	}
	last = now;

	/* a stops: b declares it dead after exactly dead_ms, once. */
	assert_int_equal(rc_hb_next_ms(b, now), RC_HB_INTERVAL_MS);
	assert_int_equal(rc_hb_recv(b, last + 400, &st), 0);
	assert_int_equal(rc_hb_tick(b, last + 400), RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_send(b, last + 400, &(struct rc_hb_status){0}), 0);
	assert_int_equal(rc_hb_next_ms(b, last + 450), 50); /* the dead timer */
	assert_int_equal(rc_hb_tick(b, last + RC_HB_DEAD_MS - 1) & RC_HB_EV(RC_HB_PEER_DEAD), 0);
	assert_int_not_equal(rc_hb_tick(b, last + RC_HB_DEAD_MS) & RC_HB_EV(RC_HB_PEER_DEAD), 0);
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_IS_DEAD);
	assert_int_equal(rc_hb_tick(b, last + 5000) & RC_HB_EV(RC_HB_PEER_DEAD), 0);

	/* a comes back (same boot): PEER_UP again, no reboot. */
	now = last + 6000;
	wall_now += 6000;
	assert_int_equal(xfer(a, b, now, &st), 1);
	assert_int_equal(rc_hb_tick(b, now), RC_HB_EV(RC_HB_PEER_UP) | RC_HB_EV(RC_HB_SEND_DUE));
	rc_hb_get_stats(b, &s);
	assert_int_equal(s.peer_up, 2);
	assert_int_equal(s.peer_dead, 1);
	assert_int_equal(s.peer_reboot, 0);
	assert_int_equal(s.rx, 22);
	assert_int_equal(drops_total(b), 0);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

/* A peer never heard from is reported dead once, dead_ms after the first clock sample. */
static void
test_never_seen(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);

	(void)state;
	assert_int_equal(rc_hb_tick(a, T0), RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_tick(a, T0 + RC_HB_DEAD_MS - 1), RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_tick(a, T0 + RC_HB_DEAD_MS),
			 RC_HB_EV(RC_HB_PEER_DEAD) | RC_HB_EV(RC_HB_SEND_DUE));
	assert_int_equal(rc_hb_peer_state(a), RC_HB_PEER_IS_DEAD);
	rc_hb_destroy(a);
}

static void
test_forged(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0), other = mkkeys(1, 'z', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct rc_hb *m = endpoint("node-a", "node-b", BOOT_A + 1, &other, 0);
	uint8_t buf[RC_HB_WIRE_LEN], bad[RC_HB_WIRE_LEN];
	static const size_t flips[] = {
		RC_HB_OFF_KEY_CUR, RC_HB_OFF_NODE + 3, RC_HB_OFF_BOOT + 7, RC_HB_OFF_SEQ + 7,
		RC_HB_OFF_TIME, RC_HB_OFF_STATE + 3, RC_HB_OFF_REASON, RC_HB_OFF_EPOCH + 7,
		RC_HB_OFF_LSN + 1, RC_HB_OFF_ACKED + 2, RC_HB_OFF_HEALTH + 3, RC_HB_OFF_MAC,
		RC_HB_OFF_MAC + 31,
	};
	struct rc_hb_status st;

	(void)state;
	pair_link(a, b);
	capture(a, b, T0, buf);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, buf, sizeof(bad));
		bad[flips[i]] ^= 0x10;
		assert_int_equal(inject(b, T0, bad, sizeof(bad), &st), 0);
		assert_int_equal(drops(b, RC_HB_DROP_FORGED), i + 1);
	}
	/* The right key id with the wrong key: forged too. */
	aim(m, rc_hb_local_port(b));
	assert_int_equal(xfer(m, b, T0, &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_FORGED), sizeof(flips) / sizeof(flips[0]) + 1);
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_UNKNOWN);
	/* The genuine one still goes through. */
	assert_int_equal(inject(b, T0, buf, sizeof(buf), &st), 1);
	assert_int_equal(st.ha_state, 5);
	assert_int_equal(drops_total(b), drops(b, RC_HB_DROP_FORGED));
	rc_hb_destroy(a);
	rc_hb_destroy(b);
	rc_hb_destroy(m);
}

static void
test_replayed(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	uint8_t h1[RC_HB_WIRE_LEN], h2[RC_HB_WIRE_LEN], h3[RC_HB_WIRE_LEN];
	struct rc_hb_status st;

	(void)state;
	pair_link(a, b);
	capture(a, b, T0, h1);
	capture(a, b, T0 + 100, h2);
	capture(a, b, T0 + 200, h3);
	assert_int_equal(inject(b, T0 + 200, h2, sizeof(h2), &st), 1);
	assert_int_equal(inject(b, T0 + 200, h2, sizeof(h2), &st), 0); /* the same again */
	assert_int_equal(drops(b, RC_HB_DROP_REPLAYED), 1);
	assert_int_equal(inject(b, T0 + 200, h1, sizeof(h1), &st), 0); /* an older one */
	assert_int_equal(drops(b, RC_HB_DROP_REPLAYED), 2);
	assert_int_equal(inject(b, T0 + 200, h3, sizeof(h3), &st), 1);
	/* Live heartbeats continue; old ones stay dead, even much later. */
	assert_int_equal(xfer(a, b, T0 + 300, &st), 1);
	wall_now += 1000000;
	assert_int_equal(inject(b, T0 + 400, h3, sizeof(h3), &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_REPLAYED), 3);
	assert_int_equal(drops_total(b), 3);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

static void
test_wrong_peer(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct rc_hb *c = endpoint("node-c", "node-b", BOOT_A, &k, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb_status st;

	(void)state;
	aim(c, rc_hb_local_port(b));
	assert_int_equal(xfer(c, b, T0, &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_WRONG_PEER), 1);
	/* Our own heartbeats (a peer address pointing back at us) are not the peer's. */
	aim(b, rc_hb_local_port(b));
	assert_int_equal(xfer(b, b, T0, &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_WRONG_PEER), 2);
	/* A prefix of the peer's id is another id. */
	{
		struct rc_hb *p = endpoint("node-", "node-b", BOOT_A, &k, 0);

		aim(p, rc_hb_local_port(b));
		assert_int_equal(xfer(p, b, T0, &st), 0);
		rc_hb_destroy(p);
	}
	assert_int_equal(drops(b, RC_HB_DROP_WRONG_PEER), 3);
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_UNKNOWN);
	aim(a, rc_hb_local_port(b));
	assert_int_equal(xfer(a, b, T0, &st), 1);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
	rc_hb_destroy(c);
}

static void
test_malformed(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	uint8_t buf[RC_HB_WIRE_LEN], bad[RC_HB_WIRE_LEN + 100];
	static const size_t flips[] = {
		RC_HB_OFF_MAGIC, RC_HB_OFF_MAGIC + 3, RC_HB_OFF_VERSION, RC_HB_OFF_RSVD1,
		RC_HB_OFF_RSVD2 + 3,
	};
	struct rc_hb_status st;
	uint64_t n = 0;

	(void)state;
	pair_link(a, b);
	capture(a, b, T0, buf);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, buf, sizeof(buf));
		bad[flips[i]] ^= 0x80;
		assert_int_equal(inject(b, T0, bad, sizeof(buf), &st), 0);
		assert_int_equal(drops(b, RC_HB_DROP_MALFORMED), ++n);
	}
	memcpy(bad, buf, sizeof(buf));
	bad[RC_HB_OFF_KEY_ID] = 0;
	assert_int_equal(inject(b, T0, bad, sizeof(buf), &st), 0);
	memcpy(bad, buf, sizeof(buf));
	memset(bad + RC_HB_OFF_BOOT, 0, 8);
	assert_int_equal(inject(b, T0, bad, sizeof(buf), &st), 0);
	n += 2;
	/* Too short (also empty), too long: by size alone. */
	assert_int_equal(inject(b, T0, buf, RC_HB_WIRE_LEN - 1, &st), 0);
	assert_int_equal(inject(b, T0, buf, 4, &st), 0);
	assert_int_equal(inject(b, T0, buf, 0, &st), 0);
	memcpy(bad, buf, sizeof(buf));
	memset(bad + sizeof(buf), 0, sizeof(bad) - sizeof(buf));
	assert_int_equal(inject(b, T0, bad, RC_HB_WIRE_LEN + 1, &st), 0);
	assert_int_equal(inject(b, T0, bad, sizeof(bad), &st), 0);
	n += 5;
	assert_int_equal(drops(b, RC_HB_DROP_MALFORMED), n);
	assert_int_equal(drops_total(b), n);
	/* Unknown key id. */
	memcpy(bad, buf, sizeof(buf));
	bad[RC_HB_OFF_KEY_ID] = 9;
	assert_int_equal(inject(b, T0, bad, sizeof(buf), &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_UNKNOWN_KEY), 1);
	/* Nothing of that made the peer up. */
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_UNKNOWN);
	assert_int_equal(inject(b, T0, buf, sizeof(buf), &st), 1);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

/* Reads what b's socket holds at now, call after call (the control loop's passes), until
 * it is empty; returns 1 if a valid heartbeat was among it. */
static int
recv_all(struct rc_hb *b, uint64_t now, struct rc_hb_status *st)
{
	struct pollfd p = {.fd = rc_hb_fd(b), .events = POLLIN};
	int found = 0;

	while (poll(&p, 1, 0) == 1)
		if (rc_hb_recv(b, now, st) == 1)
			found = 1;
	return found;
}

/* A flood of junk heartbeats (well formed, wrong MAC: each one costs a MAC) from the peer's
 * own address, 1500 between two genuine heartbeats, for 40 heartbeat intervals: every
 * genuine heartbeat is read (none lost in the socket queue or left behind), the peer is
 * never declared dead, and every junk datagram is counted. Needs root (as every test here
 * is run): the 4 MB receive buffer is beyond net.core.rmem_max (SO_RCVBUFFORCE); without it
 * the kernel drops genuine heartbeats and the test fails. */
static void
test_flood(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint8_t junk[RC_HB_WIRE_LEN];
	struct rc_hb_status st;
	uint16_t port;
	int fd = tap_open(&port);
	unsigned sent = 0;

	(void)state;
	pair_link(a, b);
	capture(a, b, T0, junk);
	junk[RC_HB_OFF_MAC] ^= 0x01;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(rc_hb_local_port(b));
	for (uint64_t r = 0; r < 40; r++) {
		uint64_t now = T0 + 100 * r;

		for (int i = 0; i < 1500; i++, sent++)
			assert_int_equal(sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&sa,
						sizeof(sa)),
					 (ssize_t)sizeof(junk));
		assert_int_equal(rc_hb_send(a, now, &(struct rc_hb_status){.ha_state = 1}), 0);
		assert_int_equal(recv_all(b, now, &st), 1);
		assert_int_equal(st.ha_state, 1);
		assert_false(rc_hb_tick(b, now) & RC_HB_EV(RC_HB_PEER_DEAD));
		assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_IS_UP);
	}
	assert_int_equal(drops(b, RC_HB_DROP_FORGED), sent);
	close(fd);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

/* Datagrams from another address than the peer's are dropped before any check (no MAC is
 * computed), even a genuine heartbeat sent again from there. */
static void
test_wrong_source(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET}, me = {.sin_family = AF_INET};
	uint8_t buf[RC_HB_WIRE_LEN];
	struct rc_hb_status st;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	(void)state;
	pair_link(a, b);
	capture(a, b, T0, buf);
	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.2", &me.sin_addr); /* another host, as far as b knows */
	assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(rc_hb_local_port(b));
	assert_int_equal(sendto(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)sizeof(buf));
	wait_readable(rc_hb_fd(b));
	assert_int_equal(rc_hb_recv(b, T0, &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_WRONG_SOURCE), 1);
	assert_int_equal(drops_total(b), 1);
	assert_int_equal(rc_hb_peer_state(b), RC_HB_PEER_UNKNOWN);
	/* the same heartbeat from the peer's address is accepted */
	assert_int_equal(inject(b, T0, buf, sizeof(buf), &st), 1);
	close(fd);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

/* One exchange each way at now; asserts both were accepted and returns the keys used. */
static void
exchange(struct rc_hb *a, struct rc_hb *b, uint64_t now, uint8_t *a_key, uint8_t *b_key)
{
	struct rc_hb_status st;

	assert_int_equal(xfer(a, b, now, &st), 1);
	*a_key = st.key_id;
	assert_int_equal(xfer(b, a, now, &st), 1);
	*b_key = st.key_id;
}

static void
test_rotation(void **state)
{
	struct rc_hb_keys k1 = mkkeys(1, 'a', 0, 0), k2 = mkkeys(2, 'b', 1, 'a');
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k1, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k1, 0);
	uint8_t old[RC_HB_WIRE_LEN], ka, kb;
	uint64_t now = T0;
	uint32_t ev_a = 0, ev_b = 0;
	struct rc_hb_status st;

	(void)state;
	pair_link(a, b);
	exchange(a, b, now, &ka, &kb);
	capture(a, b, now, old); /* signed with key 1 */
	ev_a |= rc_hb_tick(a, now);
	ev_b |= rc_hb_tick(b, now);

	/* a gets key 2 first: it keeps signing with 1 while b says its key is 1. */
	now += 100, wall_now += 100;
	assert_int_equal(rc_hb_set_keys(a, &k2, now), 0);
	exchange(a, b, now, &ka, &kb);
	assert_int_equal(ka, 1);
	assert_int_equal(kb, 1);
	now += 100, wall_now += 100;
	exchange(a, b, now, &ka, &kb);
	assert_int_equal(ka, 1);

	/* b gets key 2: a has said "2", so b signs with 2; a sees it and switches too. */
	now += 100, wall_now += 100;
	assert_int_equal(rc_hb_set_keys(b, &k2, now), 0);
	exchange(b, a, now, &kb, &ka); /* b first */
	assert_int_equal(kb, 2);
	assert_int_equal(ka, 2);
	ev_a |= rc_hb_tick(a, now);
	ev_b |= rc_hb_tick(b, now);
	assert_int_not_equal(ev_a & RC_HB_EV(RC_HB_KEY_RETIRED), 0);
	assert_int_not_equal(ev_b & RC_HB_EV(RC_HB_KEY_RETIRED), 0);
	for (int i = 0; i < 5; i++) {
		now += 100, wall_now += 100;
		exchange(a, b, now, &ka, &kb);
		assert_int_equal(ka, 2);
		assert_int_equal(kb, 2);
		ev_a |= rc_hb_tick(a, now);
		ev_b |= rc_hb_tick(b, now);
	}
	/* No gap: nothing dropped, nobody died. */
	assert_int_equal(drops_total(a), 0);
	assert_int_equal(drops_total(b), 0);
	assert_int_equal(ev_a & RC_HB_EV(RC_HB_PEER_DEAD), 0);
	assert_int_equal(ev_b & RC_HB_EV(RC_HB_PEER_DEAD), 0);

	/* Key 1 is retired now: an old heartbeat signed with it is "old_key", before anything
	 * else; so is a new one from a node that still has only key 1. */
	assert_int_equal(inject(b, now, old, sizeof(old), &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_OLD_KEY), 1);
	{
		struct rc_hb *stale = endpoint("node-a", "node-b", BOOT_A, &k1, 0);

		aim(stale, rc_hb_local_port(b));
		assert_int_equal(xfer(stale, b, now, &st), 0);
		rc_hb_destroy(stale);
	}
	assert_int_equal(drops(b, RC_HB_DROP_OLD_KEY), 2);

	/* Reloading the same configuration (still listing key 1 as previous) changes nothing:
	 * key 1 stays retired. A known id with other bytes is refused. */
	assert_int_equal(rc_hb_set_keys(b, &k2, now), 0);
	assert_int_equal(inject(b, now, old, sizeof(old), &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_OLD_KEY), 3);
	{
		struct rc_hb_keys clash = mkkeys(2, 'c', 0, 0);

		assert_int_equal(rc_hb_set_keys(b, &clash, now), -EINVAL);
	}
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

/* b never gets the new key: a accepts key 1 until the grace ends, then retires it. */
static void
test_rotation_grace(void **state)
{
	struct rc_hb_keys k1 = mkkeys(1, 'a', 0, 0), k2 = mkkeys(2, 'b', 1, 'a');
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k1, 1000);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k1, 1000);
	struct rc_hb_status st;
	uint64_t now = T0;
	uint8_t ka, kb;

	(void)state;
	pair_link(a, b);
	exchange(a, b, now, &ka, &kb);
	rc_hb_tick(a, now);
	assert_int_equal(rc_hb_set_keys(a, &k2, now), 0);
	assert_int_equal(rc_hb_next_ms(a, now), RC_HB_INTERVAL_MS);
	for (int i = 0; i < 9; i++) {
		now += 100, wall_now += 100;
		exchange(a, b, now, &ka, &kb);
		assert_int_equal(ka, 1);
		assert_int_equal(rc_hb_tick(a, now) & RC_HB_EV(RC_HB_KEY_RETIRED), 0);
	}
	now += 100, wall_now += 100;
	assert_int_equal(rc_hb_tick(a, now) & RC_HB_EV(RC_HB_KEY_RETIRED),
			 RC_HB_EV(RC_HB_KEY_RETIRED));
	assert_int_equal(xfer(b, a, now, &st), 0);
	assert_int_equal(drops(a, RC_HB_DROP_OLD_KEY), 1);
	assert_int_equal(xfer(a, b, now, &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_UNKNOWN_KEY), 1);
	/* b gets the key late; ending the rotation by configuration (no previous key) retires
	 * its key 1 at once. Heartbeats flow again, signed with 2 both ways. */
	assert_int_equal(rc_hb_set_keys(b, &k2, now), 0);
	assert_int_equal(rc_hb_tick(b, now) & RC_HB_EV(RC_HB_KEY_RETIRED), 0);
	assert_int_equal(rc_hb_set_keys(b, &(struct rc_hb_keys){.current = k2.current}, now), 0);
	assert_int_not_equal(rc_hb_tick(b, now) & RC_HB_EV(RC_HB_KEY_RETIRED), 0);
	now += 100, wall_now += 100;
	exchange(a, b, now, &ka, &kb);
	assert_int_equal(ka, 2);
	assert_int_equal(kb, 2);

	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

/* The events of a tick but SEND_DUE (the receiver in these tests never sends). */
static uint32_t
events(struct rc_hb *hb, uint64_t now)
{
	return rc_hb_tick(hb, now) & ~RC_HB_EV(RC_HB_SEND_DUE);
}

static void
test_reboot(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct rc_hb *a2, *b2;
	uint8_t old[RC_HB_WIRE_LEN], fresh[RC_HB_WIRE_LEN];
	struct rc_hb_status st;
	struct rc_hb_stats s;
	uint64_t now = T0;

	(void)state;
	pair_link(a, b);
	assert_int_equal(xfer(a, b, now, &st), 1);
	assert_int_equal(events(b, now), RC_HB_EV(RC_HB_PEER_UP));
	now += 100, wall_now += 100;
	capture(a, b, now, old); /* boot A, recorded by an attacker */
	assert_int_equal(inject(b, now, old, sizeof(old), &st), 1);

	/* a restarts quickly (new boot id, seq and all): b sees a reboot, not a death. */
	rc_hb_destroy(a);
	now += 200, wall_now += 200;
	a2 = endpoint("node-a", "node-b", BOOT_A + 1, &k, 0);
	pair_link(a2, b);
	assert_int_equal(xfer(a2, b, now, &st), 1);
	assert_int_equal(st.boot_id, BOOT_A + 1);
	assert_int_equal(events(b, now), RC_HB_EV(RC_HB_PEER_REBOOTED));

	/* The recorded heartbeat of the old boot is within the skew window, but older than
	 * what the new boot has said: replayed, not another reboot. */
	assert_int_equal(inject(b, now, old, sizeof(old), &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_REPLAYED), 1);
	assert_int_equal(events(b, now), 0);

	/* A receiver that just started (no memory) relies on the skew rule alone: the old
	 * boot's heartbeat is refused once it is more than skew_ms old ... */
	now += 100, wall_now += RC_HB_SKEW_MS + 1000;
	b2 = endpoint("node-b", "node-a", BOOT_B + 1, &k, 0);
	assert_int_equal(inject(b2, now, old, sizeof(old), &st), 0);
	assert_int_equal(drops(b2, RC_HB_DROP_STALE), 1);
	assert_int_equal(rc_hb_peer_state(b2), RC_HB_PEER_UNKNOWN);
	rc_hb_destroy(b2);

	/* ... and accepted within it (the documented limitation): the next genuine heartbeat
	 * then shows as a reboot, and the replayed one cannot come back. */
	wall_now -= RC_HB_SKEW_MS;
	b2 = endpoint("node-b", "node-a", BOOT_B + 2, &k, 0);
	assert_int_equal(inject(b2, now, old, sizeof(old), &st), 1);
	assert_int_equal(events(b2, now), RC_HB_EV(RC_HB_PEER_UP));
	aim(a2, rc_hb_local_port(b2));
	assert_int_equal(xfer(a2, b2, now, &st), 1);
	assert_int_equal(events(b2, now), RC_HB_EV(RC_HB_PEER_REBOOTED));
	assert_int_equal(inject(b2, now, old, sizeof(old), &st), 0);
	assert_int_equal(drops(b2, RC_HB_DROP_REPLAYED), 1);
	rc_hb_destroy(b2);

	/* A genuine new boot whose clock is off by more than skew_ms: stale. */
	capture(a2, b, now, fresh);
	a = endpoint("node-a", "node-b", BOOT_A + 3, &k, 0);
	aim(a, rc_hb_local_port(b));
	wall_now += RC_HB_SKEW_MS + 1; /* a's clock is ahead when it sends ... */
	assert_int_equal(rc_hb_send(a, now, &(struct rc_hb_status){0}), 0);
	wall_now -= RC_HB_SKEW_MS + 1; /* ... of b's when it receives */
	wait_readable(rc_hb_fd(b));
	assert_int_equal(rc_hb_recv(b, now, &st), 0);
	assert_int_equal(drops(b, RC_HB_DROP_STALE), 1);
	/* The current boot carries on. */
	assert_int_equal(inject(b, now, fresh, sizeof(fresh), &st), 1);
	rc_hb_get_stats(b, &s);
	assert_int_equal(s.peer_reboot, 1);
	assert_int_equal(s.peer_up, 1);
	rc_hb_destroy(a);
	rc_hb_destroy(a2);
	rc_hb_destroy(b);
}

static void
test_health(void **state)
{
	struct rc_health *h = rc_health_create(3, 1000);
	const uint32_t workers = RC_HEALTH_MASK(RC_HEALTH_WORKERS);
	const uint32_t wal = RC_HEALTH_MASK(RC_HEALTH_WAL_WRITER);
	const uint32_t db = RC_HEALTH_MASK(RC_HEALTH_DATABASE);

	(void)state;
	assert_non_null(h);
	assert_int_equal(rc_health_bits(h), 0); /* nothing known to run yet */
	assert_int_equal(rc_health_set(h, RC_HEALTH_WAL_WRITER, true), 0);
	assert_int_equal(rc_health_set(h, RC_HEALTH_DATABASE, true), 0);
	assert_int_equal(rc_health_set(h, RC_HEALTH_WORKERS, true), -EINVAL);
	assert_int_equal(rc_health_set(h, RC_HEALTH_BIT_MAX, true), -EINVAL);
	assert_int_equal(rc_health_bits(h), wal | db);
	assert_false(rc_health_tc_ok(rc_health_bits(h)));

	/* Two of three workers sampled: not yet. */
	rc_health_worker_progress(h, 0, 10, 0);
	rc_health_worker_progress(h, 1, 20, 0);
	assert_int_equal(rc_health_bits(h), wal | db);
	rc_health_worker_progress(h, 2, 30, 0);
	assert_int_equal(rc_health_bits(h), workers | wal | db);
	assert_true(rc_health_tc_ok(rc_health_bits(h)));
	assert_int_equal(rc_health_worker_progress(h, 3, 0, 0), -EINVAL);

	/* Worker 1 stops; 0 and 2 keep going. Stalled at exactly stall_ms. */
	for (uint64_t t = 100; t < 1000; t += 100) {
		rc_health_worker_progress(h, 0, 10 + t, t);
		rc_health_worker_progress(h, 1, 20, t);
		rc_health_worker_progress(h, 2, 30 + t, t);
		assert_true(rc_health_tc_ok(rc_health_bits(h)));
	}
	rc_health_worker_progress(h, 1, 20, 1000);
	assert_true(rc_health_worker_stalled(h, 1));
	assert_false(rc_health_worker_stalled(h, 0));
	assert_false(rc_health_worker_stalled(h, 7));
	assert_int_equal(rc_health_bits(h), wal | db);
	assert_false(rc_health_tc_ok(rc_health_bits(h)));
	/* It moves again: running at once. */
	rc_health_worker_progress(h, 1, 21, 1100);
	assert_false(rc_health_worker_stalled(h, 1));
	assert_int_equal(rc_health_bits(h), workers | wal | db);
	/* The database goes away: TC is still fine, the database bit is not. */
	rc_health_set(h, RC_HEALTH_DATABASE, false);
	assert_int_equal(rc_health_bits(h), workers | wal);
	assert_true(rc_health_tc_ok(rc_health_bits(h)));
	rc_health_set(h, RC_HEALTH_WAL_WRITER, false);
	assert_false(rc_health_tc_ok(rc_health_bits(h)));
	rc_health_destroy(h);

	/* No workers: the workers bit is vacuously set. Too many: refused. */
	h = rc_health_create(0, 0);
	assert_non_null(h);
	assert_int_equal(rc_health_bits(h), workers);
	rc_health_destroy(h);
	assert_null(rc_health_create(100000, 0));
	assert_int_equal(errno, EINVAL);
}

/* The health bits travel in the heartbeat. */
static void
test_health_carried(void **state)
{
	struct rc_hb_keys k = mkkeys(1, 'a', 0, 0);
	struct rc_hb *a = endpoint("node-a", "node-b", BOOT_A, &k, 0);
	struct rc_hb *b = endpoint("node-b", "node-a", BOOT_B, &k, 0);
	struct rc_health *h = rc_health_create(1, 500);
	struct rc_hb_status mine = {.ha_state = 1}, st;

	(void)state;
	pair_link(a, b);
	rc_health_worker_progress(h, 0, 1, T0);
	rc_health_set(h, RC_HEALTH_WAL_WRITER, true);
	mine.health = rc_health_bits(h);
	assert_int_equal(rc_hb_send(a, T0, &mine), 0);
	wait_readable(rc_hb_fd(b));
	assert_int_equal(rc_hb_recv(b, T0, &st), 1);
	assert_true(rc_health_tc_ok(st.health));
	assert_int_equal(st.health & RC_HEALTH_MASK(RC_HEALTH_DATABASE), 0);
	rc_health_worker_progress(h, 0, 1, T0 + 500);
	mine.health = rc_health_bits(h);
	assert_int_equal(rc_hb_send(a, T0 + 500, &mine), 0);
	wait_readable(rc_hb_fd(b));
	assert_int_equal(rc_hb_recv(b, T0 + 500, &st), 1);
	assert_false(rc_health_tc_ok(st.health));
	rc_health_destroy(h);
	rc_hb_destroy(a);
	rc_hb_destroy(b);
}

static int
reset_clock(void **state)
{
	(void)state;
	wall_now = WALL0;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_names, reset_clock),
		cmocka_unit_test_setup(test_conf_errors, reset_clock),
		cmocka_unit_test_setup(test_up_dead, reset_clock),
		cmocka_unit_test_setup(test_never_seen, reset_clock),
		cmocka_unit_test_setup(test_forged, reset_clock),
		cmocka_unit_test_setup(test_replayed, reset_clock),
		cmocka_unit_test_setup(test_wrong_peer, reset_clock),
		cmocka_unit_test_setup(test_malformed, reset_clock),
		cmocka_unit_test_setup(test_flood, reset_clock),
		cmocka_unit_test_setup(test_wrong_source, reset_clock),
		cmocka_unit_test_setup(test_rotation, reset_clock),
		cmocka_unit_test_setup(test_rotation_grace, reset_clock),
		cmocka_unit_test_setup(test_reboot, reset_clock),
		cmocka_unit_test_setup(test_health, reset_clock),
		cmocka_unit_test_setup(test_health_carried, reset_clock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
