/* SPDX-License-Identifier: MIT */
/*
 * control/token: mint and verify, every rejection class, the format's limits, and one
 * known-answer vector computed independently (openssl dgst -sha256 -mac HMAC).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "token.h"

static const uint8_t secret[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t other[32] = "0123456789abcdef0123456789abcdeF";
#define NOW 1700000000ULL
#define KAT_MAC "dccd64ee64fafc2c0128fb6aa82a5763c993b4cdbe1c3b85a94a401ab38fb569"

static int
verify(const char *user, const char *tok, uint64_t now)
{
	return rc_token_verify(secret, sizeof(secret), user, strlen(user), tok, strlen(tok), now);
}

static void
test_mint_verify(void **state)
{
	char tok[RC_TOKEN_LEN_MAX];
	int n;

	(void)state;
	n = rc_token_mint(secret, sizeof(secret), "alice", 5, NOW + 60, tok, sizeof(tok));
	assert_int_equal(n, 10 + 1 + 64);
	assert_int_equal(strlen(tok), (size_t)n);
	assert_int_equal(strncmp(tok, "1700000060.", 11), 0);
	for (int i = 11; i < n; i++)
		assert_non_null(strchr("0123456789abcdef", tok[i]));
	assert_int_equal(verify("alice", tok, NOW), 0);
	assert_int_equal(verify("alice", tok, NOW + 59), 0);
	/* Deterministic. */
	{
		char again[RC_TOKEN_LEN_MAX];

		rc_token_mint(secret, sizeof(secret), "alice", 5, NOW + 60, again, sizeof(again));
		assert_string_equal(tok, again);
	}
}

/* HMAC-SHA256(secret, "roomcast-token-v1\0alice\01700000060"), from the openssl CLI:
 * printf 'roomcast-token-v1\0alice\0001700000060' |
 *   openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef0123456789abcdef */
static void
test_known_answer(void **state)
{
	char tok[RC_TOKEN_LEN_MAX];

	(void)state;
	rc_token_mint(secret, sizeof(secret), "alice", 5, 1700000060, tok, sizeof(tok));
	assert_string_equal(tok, "1700000060." KAT_MAC);
}

static void
test_wrong_user_or_secret(void **state)
{
	char tok[RC_TOKEN_LEN_MAX];

	(void)state;
	rc_token_mint(secret, sizeof(secret), "alice", 5, NOW + 60, tok, sizeof(tok));
	assert_int_equal(verify("alicf", tok, NOW), -EKEYREJECTED);
	assert_int_equal(verify("alice2", tok, NOW), -EKEYREJECTED);
	assert_int_equal(rc_token_verify(other, sizeof(other), "alice", 5, tok, strlen(tok), NOW),
			 -EKEYREJECTED);
	assert_int_equal(rc_token_verify(secret, 31, "alice", 5, tok, strlen(tok), NOW),
			 -EKEYREJECTED);
	assert_int_equal(rc_token_verify(NULL, 0, "alice", 5, tok, strlen(tok), NOW),
			 -EKEYREJECTED);
	/* The user is length-delimited: a NUL cannot smuggle a prefix. */
	assert_int_equal(rc_token_verify(secret, sizeof(secret), "alice\0x", 7, tok, strlen(tok),
					 NOW),
			 -EKEYREJECTED);
}

static void
test_expired(void **state)
{
	char tok[RC_TOKEN_LEN_MAX];

	(void)state;
	rc_token_mint(secret, sizeof(secret), "bob", 3, NOW, tok, sizeof(tok));
	assert_int_equal(verify("bob", tok, NOW - 1), 0);
	assert_int_equal(verify("bob", tok, NOW), -EKEYEXPIRED);
	assert_int_equal(verify("bob", tok, NOW + 86400), -EKEYEXPIRED);
	/* Expired and forged: the MAC is checked first. */
	assert_int_equal(verify("eve", tok, NOW + 1), -EKEYREJECTED);
}

static void
test_tampered(void **state)
{
	char tok[RC_TOKEN_LEN_MAX], t2[RC_TOKEN_LEN_MAX];
	size_t len;

	(void)state;
	len = rc_token_mint(secret, sizeof(secret), "carol", 5, NOW + 600, tok, sizeof(tok));
	for (size_t i = 0; i < len; i++) {
		if (tok[i] == '.')
			continue;
		strcpy(t2, tok);
		t2[i] = t2[i] == '9' ? '8' : (t2[i] == 'f' ? 'e' : t2[i] + 1);
		if (i == 0 && t2[0] == '0')
			continue;
		assert_int_not_equal(verify("carol", t2, NOW), 0);
	}
	/* Extending the expiry is the attack that matters. */
	strcpy(t2, tok);
	t2[0] = '2';
	assert_int_equal(verify("carol", t2, NOW), -EKEYREJECTED);
	/* Flipping a MAC digit. */
	strcpy(t2, tok);
	t2[len - 1] = t2[len - 1] == '0' ? '1' : '0';
	assert_int_equal(verify("carol", t2, NOW), -EKEYREJECTED);
}

static void
test_malformed(void **state)
{
	char tok[RC_TOKEN_LEN_MAX], t2[256];
	const char *mac;

	(void)state;
	rc_token_mint(secret, sizeof(secret), "dave", 4, NOW + 600, tok, sizeof(tok));
	mac = strchr(tok, '.') + 1;
	assert_int_equal(verify("dave", "", NOW), -EBADMSG);
	assert_int_equal(verify("dave", ".", NOW), -EBADMSG);
	assert_int_equal(verify("dave", "1700000600", NOW), -EBADMSG);
	assert_int_equal(verify("dave", "1700000600.", NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), ".%s", mac); /* no expiry */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "01700000600.%s", mac); /* leading zero */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "-1700000600.%s", mac);
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "1700000600.%.63s", mac); /* short MAC */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "%s0", tok); /* long MAC */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	strcpy(t2, tok); /* upper case hex */
	for (char *p = strchr(t2, '.'); *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p -= 32;
	if (strcmp(t2, tok) != 0)
		assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "1700000600.%.63sg", mac); /* non-hex */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "1700000600 %s", mac); /* wrong separator */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "99999999999999999999.%s", mac); /* > UINT64_MAX */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "123456789012345678901.%s", mac); /* 21 digits */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	/* Embedded NUL: the length given is what counts. */
	assert_int_equal(rc_token_verify(secret, sizeof(secret), "dave", 4, tok, strlen(tok) + 1,
					 NOW),
			 -EBADMSG);
	assert_int_equal(rc_token_verify(secret, sizeof(secret), "dave", 4, NULL, 0, NOW),
			 -EBADMSG);
}

static void
test_limits(void **state)
{
	char tok[RC_TOKEN_LEN_MAX], user[80];
	int n;

	(void)state;
	memset(user, 'u', sizeof(user));
	/* Users: 1..64 bytes, no control characters. */
	assert_int_equal(rc_token_mint(secret, sizeof(secret), user, 64, NOW, tok, sizeof(tok)),
			 10 + 1 + 64);
	assert_int_equal(rc_token_verify(secret, sizeof(secret), user, 64, tok, strlen(tok), 0),
			 0);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), user, 65, NOW, tok, sizeof(tok)),
			 -EINVAL);
	assert_int_equal(rc_token_verify(secret, sizeof(secret), user, 65, tok, strlen(tok), 0),
			 -EKEYREJECTED);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "", 0, NOW, tok, sizeof(tok)),
			 -EINVAL);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "a\nb", 3, NOW, tok, sizeof(tok)),
			 -EINVAL);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "a\x7f", 2, NOW, tok, sizeof(tok)),
			 -EINVAL);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "a\0b", 3, NOW, tok, sizeof(tok)),
			 -EINVAL);
	assert_int_equal(rc_token_mint(NULL, 0, "a", 1, NOW, tok, sizeof(tok)), -EINVAL);
	/* UTF-8 is bytes to the MAC. */
	assert_true(rc_token_mint(secret, sizeof(secret), "\xc3\xa9t\xc3\xa9", 5, NOW, tok,
				  sizeof(tok)) > 0);
	/* The largest expiry fits RC_TOKEN_LEN_MAX, exactly. */
	n = rc_token_mint(secret, sizeof(secret), "a", 1, UINT64_MAX, tok, 20 + 1 + 64 + 1);
	assert_int_equal(n, 20 + 1 + 64);
	assert_true(n < RC_TOKEN_LEN_MAX);
	assert_int_equal(rc_token_verify(secret, sizeof(secret), "a", 1, tok, n, UINT64_MAX - 1),
			 0);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "a", 1, UINT64_MAX, tok, 85),
			 -ENOSPC);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "a", 1, 0, tok, 1 + 1 + 64),
			 -ENOSPC);
	assert_int_equal(rc_token_mint(secret, sizeof(secret), "a", 1, 0, tok, 1 + 1 + 64 + 1),
			 66);
	assert_int_equal(verify("a", tok, 0), -EKEYEXPIRED);
	/* Longer than RC_TOKEN_LEN_MAX: malformed before anything else. */
	memset(tok, '1', sizeof(tok));
	assert_int_equal(rc_token_verify(secret, sizeof(secret), "a", 1, tok, sizeof(tok), 0),
			 -EBADMSG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mint_verify),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_wrong_user_or_secret),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
