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
 * Threads: reentrant. The HMAC algorithm is fetched from OpenSSL once (pthread_once); no
 * allocation here (OpenSSL allocates its MAC context internally).
 */
#include "token.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TOKEN_DOMAIN "roomcast-token-v1" /* hashed with its NUL */
#define TOKEN_MAC_HEX 64
#define TOKEN_EXPIRY_DIGITS 20
#define TOKEN_USER_MAX 64

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

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
	static const char digits[] = "0123456789abcdef";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	uint8_t mac[32];
	size_t mac_len = 0;
	EVP_MAC_CTX *ctx;
	bool ok;

	pthread_once(&hmac_once, hmac_fetch);
	if (hmac_alg == NULL || (ctx = EVP_MAC_CTX_new(hmac_alg)) == NULL)
		return -EIO;
	ok = EVP_MAC_init(ctx, secret, secret_len, params) &&
	     EVP_MAC_update(ctx, (const uint8_t *)TOKEN_DOMAIN, sizeof(TOKEN_DOMAIN)) &&
	     EVP_MAC_update(ctx, (const uint8_t *)user, user_len) &&
	     EVP_MAC_update(ctx, (const uint8_t *)"", 1) &&
	     EVP_MAC_update(ctx, (const uint8_t *)expiry, expiry_len) &&
	     EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) && mac_len == sizeof(mac);
	EVP_MAC_CTX_free(ctx);
	if (!ok)
		return -EIO;
	for (size_t i = 0; i < sizeof(mac); i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	hex[TOKEN_MAC_HEX] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
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
