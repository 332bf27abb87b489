/* SPDX-License-Identifier: MIT */
/*
 * The relay envelope (dataplane/wire/relay_wire.c) on its own: the pair key (symmetric, its
 * exact input, another secret another key), header put/get (every field, bad magic,
 * version, short datagrams, sender limits), the tag (a sealed buffer verifies; one flipped
 * byte anywhere, another key, a truncated tag do not; the keyed context agrees with the
 * one-shot MAC), the constant-time compare, and the 64-wide replay window (new, replayed,
 * reordered within the window, too old, far jumps, counter 0).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "hmac.h"
#include "relay_wire.h"

static const char secret[] = "relay-secret-of-cluster1";

static void
test_pair_key(void **state)
{
	static const char input[] = "roomcast-relay-v1\0" "1a\0" "2b";
	struct rc_hmac_part part = { input, sizeof(input) - 1 };
	uint8_t ab[32], ba[32], other[32], want[32];

	(void)state;
	rc_relay_pair_key(secret, strlen(secret), "1a", "2b", ab);
	rc_relay_pair_key(secret, strlen(secret), "2b", "1a", ba);
	assert_memory_equal(ab, ba, 32); /* both ends derive the same key */
	assert_int_equal(rc_hmac_sha256(secret, strlen(secret), &part, 1, want), 0);
	assert_memory_equal(ab, want, 32); /* label NUL lower-id NUL higher-id */
	rc_relay_pair_key("another", 7, "1a", "2b", other);
	assert_memory_not_equal(ab, other, 32);
	rc_relay_pair_key(secret, strlen(secret), "1a", "2a", other);
	assert_memory_not_equal(ab, other, 32);
}

/* An envelope from "1a" with bundle "hello" sealed with key, into buf; its length. */
static size_t
sealed(uint8_t *buf, const uint8_t key[32], uint64_t counter)
{
	ssize_t n = rc_relay_put_hdr(buf, 200, 7, 0, "1a", 2);

	assert_int_equal(n, rc_relay_hdr_len(2));
	memcpy(buf + n, "hello", 5);
	rc_relay_set_counter(buf, counter);
	assert_int_equal(rc_relay_tag(key, buf, (size_t)n + 5, buf + n + 5), 0);
	return (size_t)n + 5 + RC_RELAY_TAG_LEN;
}

static bool
verifies(const uint8_t *buf, size_t len, const uint8_t key[32])
{
	struct rc_relay_env e;
	uint8_t tag[RC_RELAY_TAG_LEN];

	if (rc_relay_get(buf, len, &e) != 0)
		return false;
	assert_int_equal(rc_relay_tag(key, buf, (size_t)(e.tag - buf), tag), 0);
	return rc_relay_tag_equal(tag, e.tag);
}

static void
test_put_get(void **state)
{
	uint8_t key[32], buf[256];
	struct rc_relay_env e;
	size_t len;

	(void)state;
	rc_relay_pair_key(secret, strlen(secret), "1a", "2b", key);
	len = sealed(buf, key, 0x0102030405060708ull);
	assert_int_equal(rc_get_be16(buf), 0x524E);
	assert_int_equal(buf[0], 'R');
	assert_int_equal(buf[1], 'N');
	assert_int_equal(rc_relay_get(buf, len, &e), 0);
	assert_int_equal(e.key_id, 7);
	assert_true(e.counter == 0x0102030405060708ull);
	assert_int_equal(e.sender_len, 2);
	assert_memory_equal(e.sender, "1a", 2);
	assert_int_equal(e.bundle_len, 5);
	assert_memory_equal(e.bundle, "hello", 5);
	assert_ptr_equal(e.tag, buf + len - RC_RELAY_TAG_LEN);

	/* an empty bundle is an envelope too; anything shorter is not */
	assert_int_equal(rc_relay_get(buf, rc_relay_hdr_len(2) + RC_RELAY_TAG_LEN, &e), 0);
	assert_int_equal(e.bundle_len, 0);
	assert_int_equal(rc_relay_get(buf, rc_relay_hdr_len(2) + RC_RELAY_TAG_LEN - 1, &e),
			 -EBADMSG);
	assert_int_equal(rc_relay_get(buf, 5, &e), -EBADMSG);
	assert_int_equal(rc_relay_get(buf, 1, &e), -EPROTO);
	buf[2] = 2;
	assert_int_equal(rc_relay_get(buf, len, &e), -EPROTO); /* version */
	buf[2] = 1;
	buf[1] = 'C';
	assert_int_equal(rc_relay_get(buf, len, &e), -EPROTO); /* a client message */
	buf[1] = 'N';
	buf[12] = 0;
	assert_int_equal(rc_relay_get(buf, len, &e), -EBADMSG); /* empty sender */
	buf[12] = 200;
	assert_int_equal(rc_relay_get(buf, len, &e), -EBADMSG); /* sender past the end */

	assert_int_equal(rc_relay_put_hdr(buf, 200, 1, 1, "", 0), -EMSGSIZE);
	assert_int_equal(rc_relay_put_hdr(buf, 200, 1, 1, (const char *)buf, 64), -EMSGSIZE);
	assert_int_equal(rc_relay_put_hdr(buf, 14, 1, 1, "1a", 2), -ENOSPC);
	assert_int_equal(rc_relay_put_hdr(buf, 15, 1, 1, "1a", 2), 15);
}

static void
test_tag(void **state)
{
	uint8_t key[32], other[32], buf[256], tag[RC_RELAY_TAG_LEN];
	struct rc_hmac_keyed *k;
	size_t len;

	(void)state;
	rc_relay_pair_key(secret, strlen(secret), "1a", "2b", key);
	rc_relay_pair_key(secret, strlen(secret), "1a", "2c", other);
	len = sealed(buf, key, 42);
	assert_true(verifies(buf, len, key));
	assert_false(verifies(buf, len, other));
	for (size_t i = 3; i < len; i++) { /* every byte after the magic and version */
		buf[i] ^= 0x01;
		assert_false(verifies(buf, len, key));
		buf[i] ^= 0x01;
	}
	assert_false(verifies(buf, len - 1, key)); /* a truncated tag */
	assert_true(verifies(buf, len, key));

	k = rc_hmac_keyed_new(key, sizeof(key));
	assert_non_null(k);
	for (int round = 0; round < 3; round++) { /* the context is reused */
		assert_int_equal(rc_relay_tag_keyed(k, buf, len - RC_RELAY_TAG_LEN, tag), 0);
		assert_memory_equal(tag, buf + len - RC_RELAY_TAG_LEN, RC_RELAY_TAG_LEN);
	}
	rc_hmac_keyed_free(k);
	rc_hmac_keyed_free(NULL);

	memcpy(tag, buf + len - RC_RELAY_TAG_LEN, sizeof(tag));
	assert_true(rc_relay_tag_equal(tag, buf + len - RC_RELAY_TAG_LEN));
	tag[15] ^= 0x80;
	assert_false(rc_relay_tag_equal(tag, buf + len - RC_RELAY_TAG_LEN));
}

static bool
take(struct rc_relay_window *w, uint64_t c)
{
	if (!rc_relay_window_fresh(w, c))
		return false;
	rc_relay_window_accept(w, c);
	return true;
}

static void
test_window(void **state)
{
	struct rc_relay_window w = { 0, 0 };

	(void)state;
	assert_false(take(&w, 0));
	assert_true(take(&w, 1000));
	assert_false(take(&w, 1000)); /* replayed */
	assert_true(take(&w, 998));   /* reordered, within the window */
	assert_false(take(&w, 998));
	assert_true(take(&w, 1000 - 63)); /* the oldest the window holds */
	assert_false(take(&w, 1000 - 64)); /* too old to tell: refused */
	assert_true(take(&w, 1001));
	assert_false(take(&w, 998)); /* still remembered after the window moved */
	assert_true(take(&w, 999));
	assert_true(take(&w, 1001 + 64)); /* a jump of exactly the window */
	assert_false(take(&w, 1001));     /* now out of it */
	assert_true(take(&w, 1001 + 2));  /* never seen, inside */
	assert_true(take(&w, 5000));      /* a far jump empties the window */
	assert_false(take(&w, 5000));
	assert_true(take(&w, 4999));
	assert_false(take(&w, 1001 + 64));
	assert_true(take(&w, UINT64_MAX));
	assert_false(take(&w, UINT64_MAX));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_key),
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_tag),
		cmocka_unit_test(test_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
