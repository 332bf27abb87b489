/* SPDX-License-Identifier: MIT */
/*
 * Login tokens: "EXPIRY.MAC" where EXPIRY is the expiry in decimal seconds since the epoch
 * and MAC is 64 lower-case hex digits of HMAC-SHA256(secret, "roomcast-token-v1" NUL user
 * NUL EXPIRY). OpenSSL computes the MAC; comparison is constant-time.
 * Reentrant; no allocation.
 */
#ifndef RC_TOKEN_H
#define RC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define RC_TOKEN_LEN_MAX 96 /* 20 digits + '.' + 64 hex + NUL, rounded up */

/* Write the token for user, valid until expiry (unix seconds), into out. Returns its length
 * or -errno (-EINVAL bad user, -ENOSPC out too small, -EIO crypto failure). */
int rc_token_mint(const uint8_t *secret, size_t secret_len, const char *user, size_t user_len,
		  uint64_t expiry, char *out, size_t cap);

/* 0 if token is valid for user at time now; -EKEYREJECTED bad MAC, -EKEYEXPIRED expired,
 * -EBADMSG malformed. */
int rc_token_verify(const uint8_t *secret, size_t secret_len, const char *user,
		    size_t user_len, const char *token, size_t token_len, uint64_t now);

#endif /* RC_TOKEN_H */
