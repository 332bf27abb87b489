/* SPDX-License-Identifier: MIT */
/*
 * HMAC-SHA256 and lower-case hex, for every MAC the project puts on the wire or on disk:
 * login tokens, management requests, heartbeats, the replication handshake. OpenSSL's
 * EVP_MAC underneath; the algorithm is fetched once per process (pthread_once).
 *
 * Its own library (rc_hmac, libcrypto), beside the codec rather than in it: the codec stays
 * free of dependencies, and storage and every control wing may include this folder.
 *
 * Threads: reentrant; no allocation of ours (OpenSSL allocates its MAC context).
 */
#ifndef RC_HMAC_H
#define RC_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define RC_HMAC_SHA256_LEN 32

/* One piece of the message; the MAC is over the pieces in order, as if concatenated. */
struct rc_hmac_part {
	const void *p; /* may be NULL when len is 0 */
	size_t len;
};

/*
 * mac = HMAC-SHA256(key, parts[0] | ... | parts[n - 1]). 0, or -EIO when OpenSSL fails (mac
 * is then undefined). The caller wipes mac when it is secret.
 */
int rc_hmac_sha256(const void *key, size_t key_len, const struct rc_hmac_part *parts, size_t n,
		   uint8_t mac[RC_HMAC_SHA256_LEN]);

/*
 * A context keyed once, for many MACs with the same key without allocating per MAC (the
 * relay envelopes on the workers). One thread at a time per context. new: NULL on failure.
 */
struct rc_hmac_keyed;
struct rc_hmac_keyed *rc_hmac_keyed_new(const void *key, size_t key_len);
int rc_hmac_keyed_sha256(struct rc_hmac_keyed *k, const struct rc_hmac_part *parts, size_t n,
			 uint8_t mac[RC_HMAC_SHA256_LEN]);
void rc_hmac_keyed_free(struct rc_hmac_keyed *k); /* NULL: nothing */

/* hex = the n bytes at b as 2 * n lower-case hex digits, then a NUL (2 * n + 1 bytes). */
void rc_hex(char *hex, const void *b, size_t n);

#endif /* RC_HMAC_H */
