/* SPDX-License-Identifier: MIT */
/*
 * Login tokens: "v2.KID.IAT.EXP.MAC" where KID is the id (1..255) of the tokens key that
 * signed it, IAT the issue time in decimal milliseconds since the epoch, EXP the expiry in
 * decimal seconds since the epoch, and MAC 64 lower-case hex digits of
 * HMAC-SHA256(key[KID], "roomcast-token-v2" NUL user NUL "v2.KID.IAT.EXP"). The numbers are
 * canonical decimals (no sign, no leading zero). OpenSSL computes the MAC; comparison is
 * constant-time. The key id lets a node accept the keys of a rotation (keyring.h); the issue
 * time lets a revocation name every token issued before a moment (token_revoke.h).
 * The format without a key id ("EXP.MAC") is refused as malformed.
 * Reentrant; no allocation.
 */
#ifndef RC_TOKEN_H
#define RC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "keyring.h"

#define RC_TOKEN_LEN_MAX 128 /* "v2." 3 "." 20 "." 20 "." 64, NUL, rounded up */

/* What a valid token says besides the user. */
struct rc_token_info {
	unsigned key_id;
	uint64_t issued_ms;
	uint64_t expiry; /* unix seconds */
};

/* Write the token for user signed with k, issued at issued_ms, valid until expiry (unix
 * seconds), into out. Returns its length or -errno (-EINVAL bad user or key, -ENOSPC out too
 * small, -EIO crypto failure). */
int rc_token_mint(const struct rc_key *k, const char *user, size_t user_len, uint64_t issued_ms,
		  uint64_t expiry, char *out, size_t cap);

/* 0 if token is valid for user at time now (unix seconds) under a key of ring; info (may be
 * NULL) gets its fields. -EBADMSG malformed, -EKEYREJECTED bad MAC or a key id not in ring,
 * -EKEYEXPIRED expired. */
int rc_token_verify(const struct rc_keyring *ring, const char *user, size_t user_len,
		    const char *token, size_t token_len, uint64_t now, struct rc_token_info *info);

#endif /* RC_TOKEN_H */
