/* SPDX-License-Identifier: MIT */
/* HMAC-SHA256 with OpenSSL's EVP_MAC, and hex (see hmac.h). */
#include "hmac.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void
hmac_fetch(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int
rc_hmac_sha256(const void *key, size_t key_len, const struct rc_hmac_part *parts, size_t n,
	       uint8_t mac[RC_HMAC_SHA256_LEN])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t mac_len = 0;
	EVP_MAC_CTX *ctx;
	bool ok;

	pthread_once(&hmac_once, hmac_fetch);
	if (hmac_alg == NULL || (ctx = EVP_MAC_CTX_new(hmac_alg)) == NULL)
		return -EIO;
	ok = EVP_MAC_init(ctx, key, key_len, params);
	for (size_t i = 0; i < n && ok; i++)
		ok = parts[i].len == 0 || EVP_MAC_update(ctx, parts[i].p, parts[i].len);
	ok = ok && EVP_MAC_final(ctx, mac, &mac_len, RC_HMAC_SHA256_LEN) &&
	     mac_len == RC_HMAC_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

struct rc_hmac_keyed {
	EVP_MAC_CTX *ctx;
};

struct rc_hmac_keyed *
rc_hmac_keyed_new(const void *key, size_t key_len)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	struct rc_hmac_keyed *k;

	pthread_once(&hmac_once, hmac_fetch);
	if (hmac_alg == NULL || (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->ctx = EVP_MAC_CTX_new(hmac_alg);
	if (k->ctx == NULL || !EVP_MAC_init(k->ctx, key, key_len, params)) {
		rc_hmac_keyed_free(k);
		return NULL;
	}
	return k;
}

int
rc_hmac_keyed_sha256(struct rc_hmac_keyed *k, const struct rc_hmac_part *parts, size_t n,
		     uint8_t mac[RC_HMAC_SHA256_LEN])
{
	size_t mac_len = 0;
	bool ok;

	/* a NULL key restarts the MAC with the key already set */
	ok = EVP_MAC_init(k->ctx, NULL, 0, NULL);
	for (size_t i = 0; i < n && ok; i++)
		ok = parts[i].len == 0 || EVP_MAC_update(k->ctx, parts[i].p, parts[i].len);
	ok = ok && EVP_MAC_final(k->ctx, mac, &mac_len, RC_HMAC_SHA256_LEN) &&
	     mac_len == RC_HMAC_SHA256_LEN;
	return ok ? 0 : -EIO;
}

void
rc_hmac_keyed_free(struct rc_hmac_keyed *k)
{
	if (k == NULL)
		return;
	EVP_MAC_CTX_free(k->ctx);
	free(k);
}

void
rc_hex(char *hex, const void *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *p = b;

	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[p[i] >> 4];
		hex[2 * i + 1] = digits[p[i] & 15];
	}
	hex[2 * n] = '\0';
}
