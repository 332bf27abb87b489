/* SPDX-License-Identifier: MIT */
/*
 * Login tokens: "EXPIRY.MAC", MAC = lower-case hex of HMAC-SHA256(secret,
 * "roomcast-token-v1" NUL user NUL EXPIRY), EXPIRY the decimal digits exactly as they appear
 * in the token (canonical: no sign, no leading zero). A token is valid while now < EXPIRY.
 *
 * Verification order: syntax (-EBADMSG), then the MAC (-EKEYREJECTED, compared in constant
 * time), then the expiry (-EKEYEXPIRED): an expired token is only reported as such when it
 * is genuine. User names are 1..64 bytes without NUL or ASCII control characters (the wire
 * limit of LOGIN); a token can never be valid for any other name.
 *
 * Threads: reentrant (hmac.h); no allocation here (OpenSSL allocates its MAC context
 * internally).
 */
#include "token.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "hmac.h"

#define TOKEN_DOMAIN "roomcast-token-v1" /* hashed with its NUL */
#define TOKEN_MAC_HEX 64
#define TOKEN_EXPIRY_DIGITS 20
#define TOKEN_USER_MAX 64

static bool
user_ok(const char *user, size_t len)
{
	if (user == NULL || len == 0 || len > TOKEN_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f)
			return false;
	return true;
}

/* hex = lower-case hex of the MAC over (user, expiry digits). 0 or -EIO. */
static int
token_mac(const uint8_t *secret, size_t secret_len, const char *user, size_t user_len,
	  const char *expiry, size_t expiry_len, char hex[TOKEN_MAC_HEX + 1])
{
	const struct rc_hmac_part parts[] = {
		{ TOKEN_DOMAIN, sizeof(TOKEN_DOMAIN) },
		{ user, user_len },
		{ "", 1 },
		{ expiry, expiry_len },
	};
	uint8_t mac[RC_HMAC_SHA256_LEN];
	int rc = rc_hmac_sha256(secret, secret_len, parts, sizeof(parts) / sizeof(parts[0]), mac);

	if (rc == 0)
		rc_hex(hex, mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int
rc_token_mint(const uint8_t *secret, size_t secret_len, const char *user, size_t user_len,
	      uint64_t expiry, char *out, size_t cap)
{
	char digits[TOKEN_EXPIRY_DIGITS + 1], hex[TOKEN_MAC_HEX + 1];
	int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)expiry);
	int rc;

	if (secret == NULL || secret_len == 0 || !user_ok(user, user_len))
		return -EINVAL;
	if (out == NULL || cap < (size_t)n + 1 + TOKEN_MAC_HEX + 1)
		return -ENOSPC;
	rc = token_mac(secret, secret_len, user, user_len, digits, n, hex);
	if (rc < 0)
		return rc;
	memcpy(out, digits, n);
	out[n] = '.';
	memcpy(out + n + 1, hex, TOKEN_MAC_HEX + 1);
	return n + 1 + TOKEN_MAC_HEX;
}

/* Split token into its expiry digits (value in *expiry) and MAC. 0 or -EBADMSG. */
static int
token_parse(const char *token, size_t len, size_t *digits, uint64_t *expiry)
{
	uint64_t v = 0;
	size_t n = 0;

	if (token == NULL || len > RC_TOKEN_LEN_MAX)
		return -EBADMSG;
	while (n < len && token[n] >= '0' && token[n] <= '9') {
		unsigned d = token[n] - '0';

		if (v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
		n++;
	}
	if (n == 0 || n > TOKEN_EXPIRY_DIGITS || (n > 1 && token[0] == '0'))
		return -EBADMSG;
	if (len != n + 1 + TOKEN_MAC_HEX || token[n] != '.')
		return -EBADMSG;
	for (size_t i = n + 1; i < len; i++)
		if (!((token[i] >= '0' && token[i] <= '9') || (token[i] >= 'a' && token[i] <= 'f')))
			return -EBADMSG;
	*digits = n;
	*expiry = v;
	return 0;
}

int
rc_token_verify(const uint8_t *secret, size_t secret_len, const char *user, size_t user_len,
		const char *token, size_t token_len, uint64_t now)
{
	char hex[TOKEN_MAC_HEX + 1];
	uint64_t expiry;
	size_t n;
	int rc = token_parse(token, token_len, &n, &expiry);

	if (rc < 0)
		return rc;
	if (secret == NULL || secret_len == 0 || !user_ok(user, user_len))
		return -EKEYREJECTED;
	if (token_mac(secret, secret_len, user, user_len, token, n, hex) < 0)
		return -EKEYREJECTED; /* fail closed */
	if (CRYPTO_memcmp(hex, token + n + 1, TOKEN_MAC_HEX) != 0)
		return -EKEYREJECTED;
	if (now >= expiry)
		return -EKEYEXPIRED;
	return 0;
}
