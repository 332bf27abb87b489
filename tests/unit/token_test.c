/* SPDX-License-Identifier: MIT */
/*
 * control/token: mint and verify ("v2.KID.IAT.EXP.MAC"), every rejection class, a ring of two
 * keys (a rotation), the format's limits, the old format refused, one known-answer vector
 * computed independently (Python's hmac), and the revocation list (by user, for everyone,
 * kept in its file).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "token.h"
#include "token_revoke.h"

#define NOW 1700000000ULL
#define IAT 1700000000123ULL
/* HMAC-SHA256(key, "roomcast-token-v2\0alice\0v2.7.1700000000123.1700000060"):
 * python3 -c 'import hmac,hashlib; print(hmac.new(b"0123456789abcdef0123456789abcdef",
 *   b"roomcast-token-v2\x00alice\x00v2.7.1700000000123.1700000060", hashlib.sha256)
 *   .hexdigest())' */
#define KAT_MAC "c39afe656c684a818fd6bd4fb6150ff453cf77ad5700e9b8553c1480fbdb052f"

static struct rc_keyring ring;  /* key 7, then key 3 */
static struct rc_keyring other; /* key 7 with other bytes */

static int
verify(const char *user, const char *tok, uint64_t now)
{
	return rc_token_verify(&ring, user, strlen(user), tok, strlen(tok), now, NULL);
}

static int
mint(const struct rc_key *k, const char *user, uint64_t exp, char *tok)
{
	return rc_token_mint(k, user, strlen(user), IAT, exp, tok, RC_TOKEN_LEN_MAX);
}

static int
setup(void **state)
{
	(void)state;
	ring.n = 2;
	ring.k[0].id = 7;
	ring.k[0].len = 32;
	memcpy(ring.k[0].key, "0123456789abcdef0123456789abcdef", 32);
	ring.k[1].id = 3;
	ring.k[1].len = 40;
	memset(ring.k[1].key, 'x', 40);
	other = ring;
	other.n = 1;
	other.k[0].key[31] = 'F';
	return 0;
}

static void
test_mint_verify(void **state)
{
	char tok[RC_TOKEN_LEN_MAX];
	struct rc_token_info ti;
	int n;

	(void)state;
	n = mint(&ring.k[0], "alice", NOW + 60, tok);
	assert_int_equal(n, (int)strlen(tok));
	assert_string_equal(tok, "v2.7.1700000000123.1700000060." KAT_MAC);
	assert_int_equal(rc_token_verify(&ring, "alice", 5, tok, n, NOW, &ti), 0);
	assert_int_equal(ti.key_id, 7);
	assert_int_equal(ti.issued_ms, IAT);
	assert_int_equal(ti.expiry, NOW + 60);
	/* the second key of the ring (a rotation): accepted too */
	mint(&ring.k[1], "alice", NOW + 60, tok);
	assert_int_equal(verify("alice", tok, NOW), 0);
	/* ... and refused once the ring no longer lists it */
	ring.n = 1;
	assert_int_equal(verify("alice", tok, NOW), -EKEYREJECTED);
	ring.n = 2;
}

static void
test_rejected(void **state)
{
	char tok[RC_TOKEN_LEN_MAX], t2[RC_TOKEN_LEN_MAX];
	size_t len;

	(void)state;
	len = (size_t)mint(&ring.k[0], "bob", NOW + 60, tok);
	assert_int_equal(verify("bob", tok, NOW + 59), 0);
	assert_int_equal(verify("bob", tok, NOW + 60), -EKEYEXPIRED);
	assert_int_equal(verify("bobb", tok, NOW), -EKEYREJECTED);
	assert_int_equal(rc_token_verify(&other, "bob", 3, tok, len, NOW, NULL), -EKEYREJECTED);
	assert_int_equal(rc_token_verify(NULL, "bob", 3, tok, len, NOW, NULL), -EKEYREJECTED);
	/* every digit of the signed part changed: refused (a later expiry, another key id) */
	for (size_t i = 3; i < len; i++) {
		if (tok[i] == '.')
			continue;
		strcpy(t2, tok);
		t2[i] = t2[i] == '9' ? '8' : (t2[i] == 'f' ? 'e' : t2[i] + 1);
		assert_int_not_equal(verify("bob", t2, NOW), 0);
	}
}

static void
test_malformed(void **state)
{
	char tok[RC_TOKEN_LEN_MAX], t2[256];
	const char *mac;

	(void)state;
	mint(&ring.k[0], "dave", NOW + 600, tok);
	mac = strrchr(tok, '.') + 1;
	assert_int_equal(verify("dave", "", NOW), -EBADMSG);
	/* the format without a key id */
	snprintf(t2, sizeof(t2), "1700000600.%s", mac);
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "v1.7.1.1700000600.%s", mac);
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "v2.0.1.1700000600.%s", mac); /* key id 0 */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "v2.256.1.1700000600.%s", mac);
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "v2.07.1.1700000600.%s", mac); /* leading zero */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "v2.7.1.1700000600%s", mac); /* missing '.' */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "v2.7.1.99999999999999999999.%s", mac); /* > UINT64_MAX */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "%s0", tok); /* long MAC */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	snprintf(t2, sizeof(t2), "%.*sg", (int)strlen(tok) - 1, tok); /* non-hex */
	assert_int_equal(verify("dave", t2, NOW), -EBADMSG);
	assert_int_equal(rc_token_verify(&ring, "dave", 4, tok, strlen(tok) + 1, NOW, NULL),
			 -EBADMSG);
	assert_int_equal(rc_token_verify(&ring, "dave", 4, NULL, 0, NOW, NULL), -EBADMSG);
}

static void
test_users(void **state)
{
	char tok[RC_TOKEN_LEN_MAX], user[66];

	(void)state;
	memset(user, 'u', 65);
	user[65] = '\0';
	assert_true(rc_token_mint(&ring.k[0], user, 64, IAT, NOW, tok, sizeof(tok)) > 0);
	assert_int_equal(rc_token_mint(&ring.k[0], user, 65, IAT, NOW, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(rc_token_mint(&ring.k[0], "", 0, IAT, NOW, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(rc_token_mint(&ring.k[0], "a\nb", 3, IAT, NOW, tok, sizeof(tok)),
			 -EINVAL);
	assert_int_equal(rc_token_mint(NULL, "a", 1, IAT, NOW, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(rc_token_mint(&ring.k[0], "a", 1, UINT64_MAX, UINT64_MAX, tok, 40),
			 -ENOSPC);
	assert_true(rc_token_mint(&ring.k[0], "a", 1, UINT64_MAX, UINT64_MAX, tok,
				  sizeof(tok)) > 0);
}

static void
test_revocations(void **state)
{
	char path[] = "/tmp/rc-revoke-test.XXXXXX";
	struct rc_revocations r;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	assert_int_equal(rc_revocations_open(&r, path), 0); /* no file yet: empty */
	assert_false(rc_revoked(&r, "alice", 5, 1000));
	assert_int_equal(rc_revocations_add(&r, "alice", 2000), 0);
	assert_true(rc_revoked(&r, "alice", 5, 1999));
	assert_false(rc_revoked(&r, "alice", 5, 2000)); /* issued after: valid */
	assert_false(rc_revoked(&r, "bob", 3, 1999));
	assert_int_equal(rc_revocations_add(&r, "alice", 1500), 0); /* never moved back */
	assert_true(rc_revoked(&r, "alice", 5, 1999));
	assert_int_equal(rc_revocations_add(&r, NULL, 3000), 0); /* everyone */
	assert_true(rc_revoked(&r, "bob", 3, 2999));
	assert_false(rc_revoked(&r, "bob", 3, 3000));
	assert_int_equal(rc_revocations_add(&r, "a\nb", 1), -EINVAL);
	rc_revocations_close(&r);
	/* kept in the file */
	assert_int_equal(rc_revocations_open(&r, path), 0);
	assert_int_equal(r.n, 2);
	assert_true(rc_revoked(&r, "alice", 5, 1999));
	assert_true(rc_revoked(&r, "carol", 5, 2999));
	rc_revocations_close(&r);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mint_verify), cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_malformed),   cmocka_unit_test(test_users),
		cmocka_unit_test(test_revocations),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
