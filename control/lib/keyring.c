/* SPDX-License-Identifier: MIT */
/*
 * Key rings per purpose: see keyring.h. HKDF and SHA-256 are OpenSSL's (EVP_KDF, EVP_Digest).
 */
#include "keyring.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <string.h>

#include "hmac.h"

static const char *const purpose_names[RC_KEY_PURPOSE_MAX] = {
	[RC_KEY_TOKENS] = "tokens",
	[RC_KEY_HA] = "ha",
	[RC_KEY_CLUSTER] = "cluster",
};

const char *
rc_key_purpose_name(enum rc_key_purpose p)
{
	return (unsigned)p < RC_KEY_PURPOSE_MAX ? purpose_names[p] : NULL;
}

int
rc_key_derive(const uint8_t *secret, size_t len, enum rc_key_purpose p, uint8_t id,
	      struct rc_key *out)
{
	char info[32];
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx;
	OSSL_PARAM prm[4];
	int rc = -EIO;

	if (secret == NULL || len == 0 || rc_key_purpose_name(p) == NULL || id == 0)
		return -EINVAL;
	snprintf(info, sizeof(info), "roomcast %s", purpose_names[p]);
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	prm[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
	prm[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, len);
	prm[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, strlen(info));
	prm[3] = OSSL_PARAM_construct_end();
	memset(out, 0, sizeof(*out));
	if (ctx != NULL && EVP_KDF_derive(ctx, out->key, RC_KEY_DERIVED_LEN, prm) == 1) {
		out->id = id;
		out->len = RC_KEY_DERIVED_LEN;
		rc = 0;
	}
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

const struct rc_key *
rc_keyring_find(const struct rc_keyring *r, unsigned id)
{
	for (unsigned i = 0; r != NULL && i < r->n; i++)
		if (r->k[i].id == id)
			return &r->k[i];
	return NULL;
}

const struct rc_key *
rc_keyring_signer(const struct rc_keyring *r)
{
	return r != NULL && r->n > 0 ? &r->k[0] : NULL;
}

static bool
bytes_equal(const struct rc_key *a, const struct rc_key *b)
{
	return a->len == b->len && CRYPTO_memcmp(a->key, b->key, a->len) == 0;
}

bool
rc_key_equal(const struct rc_key *a, const struct rc_key *b)
{
	return a->id == b->id && bytes_equal(a, b);
}

bool
rc_keyring_overlap(const struct rc_keyring *a, const struct rc_keyring *b)
{
	for (unsigned i = 0; i < a->n; i++)
		for (unsigned j = 0; j < b->n; j++)
			if (bytes_equal(&a->k[i], &b->k[j]))
				return true;
	return false;
}

void
rc_key_fingerprint(const struct rc_key *k, char out[RC_KEY_FPR_HEX + 1])
{
	static const char label[] = "roomcast key fingerprint";
	uint8_t md[32];
	unsigned mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	memset(md, 0, sizeof(md));
	if (ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, label, sizeof(label)) == 1 &&
	    EVP_DigestUpdate(ctx, k->key, k->len) == 1)
		EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	rc_hex(out, md, RC_KEY_FPR_HEX / 2);
}

void
rc_keyring_wipe(struct rc_keyring *r)
{
	OPENSSL_cleanse(r, sizeof(*r));
}
