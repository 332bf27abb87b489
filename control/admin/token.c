/* SPDX-License-Identifier: MIT */
/*
 * Login tokens: "v2.KID.IAT.EXP.MAC" (token.h). The MAC covers the domain, the user and the
 * token's text before the last '.', exactly as it appears in the token. A token is valid
 * while now < EXP.
 *
 * Verification order: syntax (-EBADMSG), then the key id and the MAC (-EKEYREJECTED, compared
 * in constant time), then the expiry (-EKEYEXPIRED): an expired token is only reported as
 * such when it is genuine. User names are 1..64 bytes without NUL or ASCII control
 * characters (the wire limit of LOGIN); a token can never be valid for any other name.
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

#define TOKEN_DOMAIN "roomcast-token-v2" /* hashed with its NUL */
#define TOKEN_PREFIX "v2."
#define TOKEN_MAC_HEX 64
#define TOKEN_NUM_DIGITS 20
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

/* hex = lower-case hex of the MAC over (user, the signed text). 0 or -EIO. */
static int
token_mac(const struct rc_key *k, const char *user, size_t user_len, const char *text,
	  size_t text_len, char hex[TOKEN_MAC_HEX + 1])
{
	const struct rc_hmac_part parts[] = {
		{ TOKEN_DOMAIN, sizeof(TOKEN_DOMAIN) },
		{ user, user_len },
		{ "", 1 },
		{ text, text_len },
	};
	uint8_t mac[RC_HMAC_SHA256_LEN];
	int rc = rc_hmac_sha256(k->key, k->len, parts, sizeof(parts) / sizeof(parts[0]), mac);

	if (rc == 0)
		rc_hex(hex, mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

int
rc_token_mint(const struct rc_key *k, const char *user, size_t user_len, uint64_t issued_ms,
	      uint64_t expiry, char *out, size_t cap)
{
	char text[RC_TOKEN_LEN_MAX], hex[TOKEN_MAC_HEX + 1];
	int n, rc;

	if (k == NULL || k->id == 0 || k->len == 0 || !user_ok(user, user_len))
		return -EINVAL;
	n = snprintf(text, sizeof(text), TOKEN_PREFIX "%u.%llu.%llu", k->id,
		     (unsigned long long)issued_ms, (unsigned long long)expiry);
	if (out == NULL || cap < (size_t)n + 1 + TOKEN_MAC_HEX + 1)
		return -ENOSPC;
	rc = token_mac(k, user, user_len, text, n, hex);
	if (rc < 0)
		return rc;
	memcpy(out, text, n);
	out[n] = '.';
	memcpy(out + n + 1, hex, TOKEN_MAC_HEX + 1);
	return n + 1 + TOKEN_MAC_HEX;
}

/* A canonical decimal at *pos up to the next '.', into *v; *pos moves past the '.'.
 * 0 or -EBADMSG. */
static int
take_num(const char *t, size_t len, size_t *pos, uint64_t *v)
{
	size_t i = *pos, start = i;

	*v = 0;
	while (i < len && t[i] >= '0' && t[i] <= '9') {
		unsigned d = t[i] - '0';

		if (*v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		*v = *v * 10 + d;
		i++;
	}
	if (i == start || i - start > TOKEN_NUM_DIGITS || (i - start > 1 && t[start] == '0') ||
	    i >= len || t[i] != '.')
		return -EBADMSG;
	*pos = i + 1;
	return 0;
}

/* Split token: its fields into info, *text_len the length of the signed text. */
static int
token_parse(const char *t, size_t len, struct rc_token_info *info, size_t *text_len)
{
	size_t pos = sizeof(TOKEN_PREFIX) - 1;
	uint64_t kid;

	if (t == NULL || len > RC_TOKEN_LEN_MAX || len < pos ||
	    memcmp(t, TOKEN_PREFIX, pos) != 0)
		return -EBADMSG;
	if (take_num(t, len, &pos, &kid) != 0 || kid == 0 || kid > 255 ||
	    take_num(t, len, &pos, &info->issued_ms) != 0 ||
	    take_num(t, len, &pos, &info->expiry) != 0)
		return -EBADMSG;
	if (len != pos + TOKEN_MAC_HEX)
		return -EBADMSG;
	for (size_t i = pos; i < len; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return -EBADMSG;
	info->key_id = (unsigned)kid;
	*text_len = pos - 1;
	return 0;
}

int
rc_token_verify(const struct rc_keyring *ring, const char *user, size_t user_len,
		const char *token, size_t token_len, uint64_t now, struct rc_token_info *info)
{
	char hex[TOKEN_MAC_HEX + 1];
	struct rc_token_info ti;
	const struct rc_key *k;
	size_t n;
	int rc = token_parse(token, token_len, &ti, &n);

	if (rc < 0)
		return rc;
	k = rc_keyring_find(ring, ti.key_id);
	if (k == NULL || !user_ok(user, user_len))
		return -EKEYREJECTED;
	if (token_mac(k, user, user_len, token, n, hex) < 0)
		return -EKEYREJECTED; /* fail closed */
	if (CRYPTO_memcmp(hex, token + n + 1, TOKEN_MAC_HEX) != 0)
		return -EKEYREJECTED;
	if (now >= ti.expiry)
		return -EKEYEXPIRED;
	if (info != NULL)
		*info = ti;
	return 0;
}
