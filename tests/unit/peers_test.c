/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of peerload's pure parts (tests/bench/peers/peer_proto.c): the body (stamped,
 * parsed, garbage refused), each peer's framing byte for byte as its protocol defines it
 * (RESP, NATS text, MQTT 3.1.1, XMPP groupchat), each parser on whole frames, frames cut at
 * every byte, and bytes of another protocol; and the latency percentiles of histograms merged
 * from several client processes. Single-threaded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "peer_proto.h"

static char buf[4096];
static char body[200];

static void make_body(void)
{
	assert_int_equal(pl_body_make(body, sizeof(body), 0x123456789abcdefULL, 7, 42), 200);
}

static void test_body(void **state)
{
	(void)state;
	uint64_t t;
	unsigned pub;
	uint32_t idx;
	make_body();
	assert_memory_equal(body, "T0123456789abcdef 0007 0000002a x", 33);
	assert_int_equal(body[199], 'x');
	assert_int_equal(pl_body_parse(body, 200, &t, &pub, &idx), 0);
	assert_true(t == 0x123456789abcdefULL && pub == 7 && idx == 42);
	assert_int_equal(pl_body_make(buf, PL_BODY_MIN - 1, 1, 1, 1), -EINVAL);
	assert_int_equal(pl_body_parse("hello world, this is not a body at all", 38, &t, &pub, &idx), -EPROTO);
	body[5] = 'g';
	assert_int_equal(pl_body_parse(body, 200, &t, &pub, &idx), -EPROTO);
}

/* A frame parsed whole gives want (kind, the body when a message); every strict prefix of it
 * is incomplete (0), never a frame or an error. */
static void check_cuts(int (*parse)(const char *, size_t, struct pl_ev *), const char *f,
                       size_t n, enum pl_ev_kind want)
{
	struct pl_ev ev;
	assert_int_equal(parse(f, n, &ev), (int)n);
	assert_int_equal(ev.kind, want);
	if (want == PL_EV_MSG) {
		assert_int_equal(ev.body_len, 200);
		assert_memory_equal(ev.body, body, 200);
	}
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(parse(f, cut, &ev), 0);
}

static void test_redis(void **state)
{
	(void)state;
	make_body();
	int n = pl_redis_sub(buf, sizeof(buf), "room");
	assert_int_equal(n, 29);
	assert_memory_equal(buf, "*2\r\n$9\r\nSUBSCRIBE\r\n$4\r\nroom\r\n", 29);
	n = pl_redis_pub(buf, sizeof(buf), "room", body, 200);
	assert_memory_equal(buf, "*3\r\n$7\r\nPUBLISH\r\n$4\r\nroom\r\n$200\r\n", 33);
	assert_int_equal(n, 33 + 200 + 2);
	assert_int_equal(pl_redis_pub(buf, 100, "room", body, 200), -ENOSPC);
	/* the server's side */
	static const char sub[] = "*3\r\n$9\r\nsubscribe\r\n$4\r\nroom\r\n:1\r\n";
	check_cuts(pl_redis_parse, sub, sizeof(sub) - 1, PL_EV_READY);
	memcpy(buf, "*3\r\n$7\r\nmessage\r\n$4\r\nroom\r\n$200\r\n", 33);
	memcpy(buf + 33, body, 200);
	memcpy(buf + 233, "\r\n", 2);
	check_cuts(pl_redis_parse, buf, 235, PL_EV_MSG);
	check_cuts(pl_redis_parse, ":100\r\n", 6, PL_EV_OTHER);
	struct pl_ev ev;
	assert_int_equal(pl_redis_parse("MSG room 1 2\r\nhi\r\n", 18, &ev), -EPROTO);
}

static void test_nats(void **state)
{
	(void)state;
	make_body();
	int n = pl_nats_sub(buf, sizeof(buf), "room", 3);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "CONNECT {"));
	assert_non_null(strstr(buf, "\r\nSUB room 3\r\nPING\r\n"));
	n = pl_nats_pub(buf, sizeof(buf), "room", body, 200);
	assert_memory_equal(buf, "PUB room 200\r\n", 14);
	assert_int_equal(n, 14 + 200 + 2);
	memcpy(buf, "MSG room 3 200\r\n", 16);
	memcpy(buf + 16, body, 200);
	memcpy(buf + 216, "\r\n", 2);
	check_cuts(pl_nats_parse, buf, 218, PL_EV_MSG);
	memcpy(buf, "MSG room 3 inbox.9 200\r\n", 24); /* with a reply subject */
	memcpy(buf + 24, body, 200);
	memcpy(buf + 224, "\r\n", 2);
	check_cuts(pl_nats_parse, buf, 226, PL_EV_MSG);
	check_cuts(pl_nats_parse, "PONG\r\n", 6, PL_EV_READY);
	check_cuts(pl_nats_parse, "PING\r\n", 6, PL_EV_PING);
	check_cuts(pl_nats_parse, "INFO {\"server_id\":\"x\"}\r\n", 24, PL_EV_OTHER);
	struct pl_ev ev;
	assert_int_equal(pl_nats_parse("*3\r\n$7\r\n", 8, &ev), -EPROTO);
	assert_int_equal(pl_nats_parse("MSG room 3 x\r\n", 14, &ev), -EPROTO);
}

static void test_mqtt_varint(void **state)
{
	(void)state;
	static const struct { uint32_t v; int n; uint8_t b[4]; } c[] = {
		{ 0, 1, { 0 } }, { 127, 1, { 0x7f } }, { 128, 2, { 0x80, 1 } },
		{ 16383, 2, { 0xff, 0x7f } }, { 16384, 3, { 0x80, 0x80, 1 } },
		{ 268435455, 4, { 0xff, 0xff, 0xff, 0x7f } } };
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		uint8_t b[4];
		uint32_t v;
		assert_int_equal(pl_mqtt_varint_put(b, c[i].v), c[i].n);
		assert_memory_equal(b, c[i].b, (size_t)c[i].n);
		assert_int_equal(pl_mqtt_varint_get(b, (size_t)c[i].n, &v), c[i].n);
		assert_int_equal(v, c[i].v);
		assert_int_equal(pl_mqtt_varint_get(b, (size_t)c[i].n - 1, &v), 0);
	}
	static const uint8_t five[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };
	uint32_t v;
	assert_int_equal(pl_mqtt_varint_get(five, 5, &v), -EPROTO);
}

static void test_mqtt(void **state)
{
	(void)state;
	make_body();
	static const char conn[] = "\x10\x10\0\4MQTT\4\x02\x02\x58\0\4pl-1";
	assert_int_equal(pl_mqtt_connect(buf, sizeof(buf), "pl-1"), 18);
	assert_memory_equal(buf, conn, 18);
	static const char sub[] = "\x82\x09\0\x05\0\4room\0";
	assert_int_equal(pl_mqtt_sub(buf, sizeof(buf), "room", 5), 11);
	assert_memory_equal(buf, sub, 11);
	/* PUBLISH QoS 0: 2 + 4 + 200 = 206 bytes remaining, a two-byte length (0xce 0x01) */
	int n = pl_mqtt_pub(buf, sizeof(buf), "room", body, 200);
	assert_int_equal(n, 3 + 206);
	assert_memory_equal(buf, "\x30\xce\x01\0\4room", 9);
	check_cuts(pl_mqtt_parse, buf, (size_t)n, PL_EV_MSG);
	check_cuts(pl_mqtt_parse, "\x20\x02\0\0", 4, PL_EV_CONNACK);
	check_cuts(pl_mqtt_parse, "\x90\x03\0\x05\0", 5, PL_EV_READY);
	struct pl_ev ev;
	assert_int_equal(pl_mqtt_parse("\x20\x02\0\x05", 4, &ev), -EPROTO);     /* refused */
	assert_int_equal(pl_mqtt_parse("\x90\x03\0\x05\x80", 5, &ev), -EPROTO); /* sub refused */
}

static void test_xmpp(void **state)
{
	(void)state;
	make_body();
	int n = pl_xmpp_pub(buf, sizeof(buf), "room@muc.localhost", body, 200);
	static const char head[] = "<message to='room@muc.localhost' type='groupchat'><body>";
	assert_memory_equal(buf, head, sizeof(head) - 1);
	assert_memory_equal(buf + n - 17, "</body></message>", 17);
	/* a delivery as the server sends it, after other stanzas */
	static const char pre[] = "<presence from='room@muc.localhost/n1'/><message from='room@muc."
	                          "localhost/p' type='groupchat' id='x'><body>";
	size_t at = sizeof(pre) - 1;
	memcpy(buf, pre, at);
	memcpy(buf + at, body, 200);
	memcpy(buf + at + 200, "</body></message>", 17);
	struct pl_ev ev;
	int k = pl_xmpp_parse(buf, at + 217, &ev);
	assert_int_equal(k, (int)at + 207);
	assert_int_equal(ev.kind, PL_EV_MSG);
	assert_int_equal(ev.body_len, 200);
	assert_memory_equal(ev.body, body, 200);
	/* cut inside the body: the bytes before "<body>" are consumed, the rest kept */
	k = pl_xmpp_parse(buf, at + 100, &ev);
	assert_int_equal(k, (int)at - 6);
	assert_int_equal(ev.kind, PL_EV_OTHER);
	/* no "<body>" at all: all but a possible start of one is consumed */
	k = pl_xmpp_parse(pre, 40, &ev);
	assert_int_equal(k, 35);
}

/* Two processes' histograms merged give the percentiles of all the values. */
static void test_percentiles(void **state)
{
	(void)state;
	static struct rg_hist a, b, all;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&all, 0, sizeof(all));
	for (uint64_t v = 1; v <= 1000; v++) /* 1..1000 us in ns, odd ones in a, even in b */
		rg_hist_add(v & 1 ? &a : &b, v * 1000);
	pl_hist_merge(&all, &a);
	pl_hist_merge(&all, &b);
	assert_int_equal(all.n, 1000);
	assert_int_equal(all.max, 1000000);
	static const struct { double q; uint64_t want; } c[] = {
		{ 0.5, 500000 }, { 0.99, 990000 }, { 0.999, 999000 } };
	for (size_t i = 0; i < 3; i++) {
		uint64_t got = rg_hist_quantile(&all, c[i].q);
		uint64_t diff = got > c[i].want ? got - c[i].want : c[i].want - got;
		assert_true(diff <= c[i].want / 64);
	}
	assert_true(rg_hist_quantile(&a, 0.5) < rg_hist_quantile(&all, 0.999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body),        cmocka_unit_test(test_redis),
		cmocka_unit_test(test_nats),        cmocka_unit_test(test_mqtt_varint),
		cmocka_unit_test(test_mqtt),        cmocka_unit_test(test_xmpp),
		cmocka_unit_test(test_percentiles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
