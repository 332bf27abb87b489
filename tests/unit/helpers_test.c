/* SPDX-License-Identifier: MIT */
/*
 * The small shared helpers: control/lib's names (name tables both ways, "did you mean") and
 * whole writes, and dataplane/wire's text buffer (growable and bounded), HMAC-SHA256 (RFC 4231
 * vectors) and hex, big-endian integers, and the clocks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "bytes.h"
#include "clock.h"
#include "fdio.h"
#include "hmac.h"
#include "names.h"
#include "text.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const colours[] = { "red", "dark-green", NULL, "blue" };

static void
test_name_of(void **state)
{
	(void)state;
	assert_string_equal(rc_name_of(colours, N(colours), 0), "red");
	assert_string_equal(rc_name_of(colours, N(colours), 3), "blue");
	assert_null(rc_name_of(colours, N(colours), 2)); /* a hole in the table */
	assert_null(rc_name_of(colours, N(colours), 4));
	assert_null(rc_name_of(colours, N(colours), -1));
}

static void
test_name_parse(void **state)
{
	(void)state;
	assert_int_equal(rc_name_parse(colours, N(colours), "red"), 0);
	assert_int_equal(rc_name_parse(colours, N(colours), "blue"), 3);
	assert_int_equal(rc_name_parse(colours, N(colours), "dark-green"), 1);
	assert_int_equal(rc_name_parse(colours, N(colours), "dark_green"), 1);
	assert_int_equal(rc_name_parse(colours, N(colours), "dark-gree"), -1);
	assert_int_equal(rc_name_parse(colours, N(colours), "dark-greens"), -1);
	assert_int_equal(rc_name_parse(colours, N(colours), "Red"), -1);
	assert_int_equal(rc_name_parse(colours, N(colours), ""), -1);
	assert_int_equal(rc_name_parse(colours, N(colours), NULL), -1);
}

static void
test_nearest(void **state)
{
	static const char *const keys[] = { "node.port", "node.workers", "node.wal_dir" };
	static const struct row {
		const char *name;
		int value;
	} rows[] = { { "interval_ms", 1 }, { "dead_ms", 2 }, { "skew_ms", 3 } };
	static const char *const tie[] = { "ab", "ac", "ab" };
	char long_name[80];

	(void)state;
	/* an array of names, compared past a common prefix */
	assert_string_equal(rc_nearest("worker", keys, N(keys), sizeof(keys[0]), 5), "workers");
	assert_string_equal(rc_nearest("prot", keys, N(keys), sizeof(keys[0]), 5), "port");
	assert_string_equal(rc_nearest("wal-dr", keys, N(keys), sizeof(keys[0]), 5), "wal_dir");
	assert_null(rc_nearest("database", keys, N(keys), sizeof(keys[0]), 5));
	/* the name field of rows */
	assert_string_equal(rc_nearest("dead_ns", &rows[0].name, N(rows), sizeof(rows[0]), 0),
			    "dead_ms");
	assert_null(rc_nearest("timeout", &rows[0].name, N(rows), sizeof(rows[0]), 0));
	assert_null(rc_nearest("x", keys, 0, sizeof(keys[0]), 0));
	/* equally close: the first */
	assert_string_equal(rc_nearest("ad", tie, N(tie), sizeof(tie[0]), 0), "ab");
	assert_string_equal(rc_nearest("a", tie + 1, 2, sizeof(tie[0]), 0), "ac");
	/* 63 bytes or more: never compared */
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	assert_null(rc_nearest(long_name, keys, N(keys), sizeof(keys[0]), 5));
}

static void
test_text_growable(void **state)
{
	struct rc_text t = { 0 };
	char big[1000];

	(void)state;
	rc_text_printf(&t, "%s", "");
	assert_non_null(t.buf);
	assert_string_equal(t.buf, "");
	rc_text_printf(&t, "%d %s\n", 42, "rooms");
	assert_string_equal(t.buf, "42 rooms\n");
	assert_int_equal(t.len, 9);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rc_text_printf(&t, "%s", big);
	assert_int_equal(t.len, 9 + 999);
	assert_true(t.cap > t.len);
	assert_int_equal(strlen(t.buf), t.len);
	assert_memory_equal(t.buf, "42 rooms\nxxx", 12);
	free(t.buf);
}

static void
test_text_bounded(void **state)
{
	char buf[8];
	struct rc_text t = rc_text_fixed(buf, sizeof(buf));
	struct rc_text none = rc_text_fixed(NULL, 0);

	(void)state;
	assert_string_equal(buf, "");
	rc_text_printf(&t, "abc");
	assert_string_equal(buf, "abc");
	rc_text_printf(&t, "%s", "defghij"); /* cut: 7 bytes and the NUL fit */
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(t.len, 10); /* the whole length, as snprintf counts it */
	rc_text_printf(&t, "klm");
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(t.len, 13);
	rc_text_printf(&none, "measure %d", 1); /* cap 0: measures only */
	assert_int_equal(none.len, 9);
}

static void
check_hmac(const void *key, size_t key_len, const char *data, const char *want)
{
	uint8_t mac[RC_HMAC_SHA256_LEN];
	char hex[2 * RC_HMAC_SHA256_LEN + 1];
	size_t len = strlen(data), cut = len / 3;
	struct rc_hmac_part whole = { data, len };
	/* the same message in three pieces, one of them empty */
	struct rc_hmac_part parts[] = { { data, cut }, { NULL, 0 }, { data + cut, len - cut } };

	assert_int_equal(rc_hmac_sha256(key, key_len, &whole, 1, mac), 0);
	rc_hex(hex, mac, sizeof(mac));
	assert_string_equal(hex, want);
	memset(mac, 0, sizeof(mac));
	assert_int_equal(rc_hmac_sha256(key, key_len, parts, N(parts), mac), 0);
	rc_hex(hex, mac, sizeof(mac));
	assert_string_equal(hex, want);
}

/* RFC 4231 test cases 1, 2 and 6 (a key longer than the block). */
static void
test_hmac_rfc4231(void **state)
{
	uint8_t k1[20], k6[131];

	(void)state;
	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	check_hmac(k1, sizeof(k1), "Hi There",
		   "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	check_hmac("Jefe", 4, "what do ya want for nothing?",
		   "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	check_hmac(k6, sizeof(k6), "Test Using Larger Than Block-Size Key - Hash Key First",
		   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void
test_hex(void **state)
{
	static const uint8_t b[] = { 0x00, 0x0f, 0xa5, 0xff };
	char hex[2 * sizeof(b) + 1];

	(void)state;
	rc_hex(hex, b, sizeof(b));
	assert_string_equal(hex, "000fa5ff");
	rc_hex(hex, b, 0);
	assert_string_equal(hex, "");
}

static void
test_bytes(void **state)
{
	uint8_t b[9] = { 0 };

	(void)state;
	rc_put_be16(b + 1, 0x0102);
	assert_memory_equal(b + 1, "\x01\x02", 2);
	assert_int_equal(rc_get_be16(b + 1), 0x0102);
	rc_put_be32(b + 1, 0x01020304u);
	assert_memory_equal(b + 1, "\x01\x02\x03\x04", 4);
	assert_int_equal(rc_get_be32(b + 1), 0x01020304u);
	rc_put_be64(b + 1, 0x0102030405060708ull);
	assert_memory_equal(b + 1, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_true(rc_get_be64(b + 1) == 0x0102030405060708ull);
	assert_int_equal(b[0], 0);
	for (size_t n = 1; n <= 8; n++) {
		uint64_t v = 0xf1e2d3c4b5a69788ull >> (64 - 8 * n);

		memset(b, 0, sizeof(b));
		rc_put_be(b, n, v);
		assert_int_equal(b[0], (uint8_t)(v >> (8 * (n - 1))));
		assert_int_equal(b[n - 1], (uint8_t)v);
		assert_int_equal(b[n], 0);
		assert_true(rc_get_be(b, n) == v);
	}
}

static void
test_clocks(void **state)
{
	uint64_t ms = rc_mono_ms_precise(), us = rc_mono_us(), ns = rc_mono_ns();
	uint64_t coarse = rc_mono_ms();

	(void)state;
	assert_true(ms <= us / 1000 && us <= ns / 1000);
	assert_true(rc_mono_ns() >= ns && rc_mono_us() >= us && rc_mono_ms_precise() >= ms);
	assert_true(rc_mono_ms() >= coarse);
	/* the coarse clock lags the precise one by at most a few ticks */
	assert_true(coarse <= rc_mono_ms_precise() && rc_mono_ms_precise() - coarse < 1000);
	assert_true(rc_wall_ms() > 1600000000000ull); /* after 2020 */
	assert_true(rc_wall_us() / 1000 >= rc_wall_ms() - 1000);
	assert_true(rc_clock_ns(CLOCK_MONOTONIC) >= ns);
}

static void
test_fdio(void **state)
{
	static char big[200000]; /* more than a pipe holds: written in several pieces */
	char got[sizeof(big)];
	size_t have = 0;
	int p[2], s[2];
	pid_t pid;

	(void)state;
	memset(big, 'z', sizeof(big));
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(rc_write_all(p[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	close(p[1]);
	for (ssize_t n; (n = read(p[0], got + have, sizeof(got) - have)) > 0;)
		have += (size_t)n;
	close(p[0]);
	assert_int_equal(have, sizeof(big));
	assert_memory_equal(got, big, sizeof(big));
	assert_int_equal(rc_write_all(-1, "x", 1), -EBADF);
	/* a socket whose peer is gone: -EPIPE, and no SIGPIPE to kill the test */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	assert_int_equal(rc_send_all(s[0], "ping", 4), 0);
	close(s[1]);
	assert_int_equal(rc_send_all(s[0], "ping", 4), -EPIPE);
	close(s[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_of),	      cmocka_unit_test(test_name_parse),
		cmocka_unit_test(test_nearest),	      cmocka_unit_test(test_text_growable),
		cmocka_unit_test(test_text_bounded),  cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_hex),	      cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_clocks),	      cmocka_unit_test(test_fdio),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
